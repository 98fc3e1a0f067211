// Masking of a patient's personal data for parties that do not need it in full (the provincial
// supervision feed, couriers). Pure functions, no I/O. Each one errs towards hiding: what it cannot
// recognise it hides rather than passes through. Rules and examples: docs/supervision-feed.md.

/** Characters counted as code points, so a rare character outside the BMP (𠮷) is one character. */
const chars = (s: string) => Array.from(s);

/**
 * A name keeps its first and last character; everything between becomes one `*` per character.
 * 张建国 → 张*国, 欧阳建国 → 欧**国; a two-character name keeps the first: 李四 → 李*; one character → *.
 */
export function maskName(name: string | null | undefined): string {
  const c = chars(String(name ?? '').trim());
  if (c.length === 0) return '';
  if (c.length === 1) return '*';
  if (c.length === 2) return `${c[0]}*`;
  return `${c[0]}${'*'.repeat(c.length - 2)}${c[c.length - 1]}`;
}

/**
 * A phone number keeps its first 3 and last 4 digits: 13857100001 → 138****0001. Separators are dropped
 * and a +86 country code is removed first. Shorter numbers (7–10 digits) keep 2 + 2; anything shorter
 * is hidden completely (****). The middle is always exactly four stars, so the length is not revealed.
 */
export function maskPhone(phone: string | null | undefined): string {
  let d = String(phone ?? '').replace(/\D/g, '');
  if (d.length === 0) return '';
  if (d.length === 13 && d.startsWith('86')) d = d.slice(2);
  if (d.length >= 11) return `${d.slice(0, 3)}****${d.slice(-4)}`;
  if (d.length >= 7) return `${d.slice(0, 2)}****${d.slice(-2)}`;
  return '****';
}

/**
 * A resident ID number keeps the first 6 characters (the issuing region) and the last 4:
 * 330302195803140011 → 330302********0011; the birth date in the middle is hidden. A value shorter than
 * 15 characters is not a resident ID number and is hidden completely (********).
 */
export function maskIdNumber(id: string | null | undefined): string {
  const c = chars(String(id ?? '').replace(/\s/g, '').toUpperCase());
  if (c.length === 0) return '';
  if (c.length < 15) return '********';
  return `${c.slice(0, 6).join('')}********${c.slice(-4).join('')}`;
}

/**
 * An insurance member number (医保个人编号, often the resident ID number) keeps its first 2 and last 4
 * characters: 330106195803140011 → 33************0011; one of 8 characters or fewer is hidden completely.
 */
export function maskMemberId(id: string | null | undefined): string {
  const c = chars(String(id ?? '').replace(/\s/g, '').toUpperCase());
  if (c.length === 0) return '';
  if (c.length <= 8) return '********';
  return `${c.slice(0, 2).join('')}${'*'.repeat(c.length - 6)}${c.slice(-4).join('')}`;
}

// One character of an administrative name: a Han character that cannot end an administrative unit and is
// not typical of street-level addresses (road, lane, number, village, town). Excluding them keeps a
// street or a residential compound from ever being taken for a district.
const U = '(?:(?![省市区县旗盟路街巷弄号村镇乡幢栋室])[\\u3400-\\u9fff])';
const PROVINCE = new RegExp(`^(?:北京市|天津市|上海市|重庆市|${U}{2,3}省|${U}{2,8}?自治区|${U}{2,3}特别行政区)`);
const CITY = new RegExp(`^${U}{1,10}?(?:市|自治州|地区|盟)`);
const DISTRICT = new RegExp(`^${U}{1,8}?(?:区|县|旗)`);
const COUNTY_CITY = new RegExp(`^${U}{1,8}?市`); // a county-level city (义乌市) under a prefecture city
/** Units ending in 区 that are places inside a district, not districts. */
const NOT_A_DISTRICT = /(?:小区|社区|园区|校区|景区|厂区|街区|开发区|住宅区|生活区|商业区|工业区)$/;

/**
 * An address keeps its administrative prefix down to the district or county (区/县/旗, or a county-level
 * city under a prefecture city) and drops everything after it:
 * 浙江省温州市鹿城区五马街 1 号 2 单元 → 浙江省温州市鹿城区; 杭州市西湖区文三路 90 号 → 杭州市西湖区.
 * When no district is recognised only the recognised province and city are kept (浙江省台州市…), and when
 * nothing is recognised the result is empty: the street part never passes.
 */
export function maskAddress(text: string | null | undefined): string {
  let rest = String(text ?? '').replace(/\s+/g, '');
  let kept = '';
  const take = (re: RegExp): string | null => {
    const m = re.exec(rest);
    return m ? m[0] : null;
  };
  const province = take(PROVINCE);
  if (province) { kept += province; rest = rest.slice(province.length); }
  const city = take(CITY);
  if (city) { kept += city; rest = rest.slice(city.length); }
  let district = take(DISTRICT);
  if (district && NOT_A_DISTRICT.test(district)) district = null;
  if (!district && city) district = take(COUNTY_CITY);
  return district ? kept + district : kept;
}

/** The birth year of an ISO birth date (1958-03-14 → 1958); null when there is none. */
export function birthYear(birthDate: string | null | undefined): number | null {
  const m = /^(\d{4})-\d{2}-\d{2}/.exec(String(birthDate ?? ''));
  return m ? Number(m[1]) : null;
}
