// Drug traceability codes (药品追溯码) as a pharmacy scans them. Two formats are in use in China:
//  - the 20-digit NMPA code (7-digit product id, 9-digit serial, 4-digit check field whose algorithm is
//    not public): checked for shape only;
//  - GS1 element strings, "(01)GTIN-14(17)YYMMDD(10)batch(21)serial" or the same without parentheses
//    and with GS (\x1d) separators: the GTIN's mod-10 check digit is verified, and the expiry and batch
//    it carries must agree with what the pharmacist entered.
export type TraceFormat = 'nmpa20' | 'gs1';

export interface ParsedTraceCode {
  format: TraceFormat;
  /** The form we store and compare: digits for NMPA, "01<gtin>21<serial>" for GS1 (one pack, one code). */
  canonical: string;
  gtin?: string;
  expiry?: string; // YYYY-MM-DD
  batch?: string;
  serial?: string;
}

export type TraceCheck = { ok: true; code: ParsedTraceCode } | { ok: false; reason: string };

export function gtinCheckDigitValid(gtin: string): boolean {
  if (!/^\d{14}$/.test(gtin)) return false;
  const digits = [...gtin].map(Number);
  const sum = digits.slice(0, 13).reduce((s, d, i) => s + d * (i % 2 === 0 ? 3 : 1), 0);
  return (10 - (sum % 10)) % 10 === digits[13];
}

const GS = '\x1d';
const FIXED: Record<string, number> = { '01': 14, '17': 6 };

function gs1Fields(raw: string): Map<string, string> | null {
  const fields = new Map<string, string>();
  if (raw.startsWith('(')) {
    const re = /\((\d{2})\)([^(]+)/g;
    let m: RegExpExecArray | null;
    let consumed = 0;
    while ((m = re.exec(raw))) { fields.set(m[1], m[2]); consumed += m[0].length; }
    return consumed === raw.length ? fields : null;
  }
  let i = 0;
  while (i < raw.length) {
    const ai = raw.slice(i, i + 2);
    i += 2;
    const len = FIXED[ai];
    if (len !== undefined) { fields.set(ai, raw.slice(i, i + len)); i += len; continue; }
    if (ai !== '10' && ai !== '21') return null;
    const end = raw.indexOf(GS, i);
    fields.set(ai, raw.slice(i, end === -1 ? raw.length : end));
    i = end === -1 ? raw.length : end + 1;
  }
  return fields;
}

export function parseTraceCode(input: string): TraceCheck {
  const raw = input.trim();
  if (/^\d{20}$/.test(raw)) return { ok: true, code: { format: 'nmpa20', canonical: raw } };
  if (/^\d+$/.test(raw)) return { ok: false, reason: `a numeric traceability code has 20 digits, this one ${raw.length}` };
  const f = gs1Fields(raw);
  if (!f || !f.has('01')) return { ok: false, reason: 'neither a 20-digit NMPA code nor a GS1 code with (01) GTIN' };
  const gtin = f.get('01')!;
  if (!gtinCheckDigitValid(gtin)) return { ok: false, reason: `GTIN ${gtin} fails its check digit` };
  const serial = f.get('21');
  if (!serial || !/^[\x21-\x7e]{1,20}$/.test(serial)) return { ok: false, reason: 'a GS1 pack code needs a serial number (21) of 1–20 characters' };
  let expiry: string | undefined;
  const yymmdd = f.get('17');
  if (yymmdd !== undefined) {
    if (!/^\d{6}$/.test(yymmdd)) return { ok: false, reason: 'expiry (17) must be YYMMDD' };
    const [yy, mm, dd] = [yymmdd.slice(0, 2), yymmdd.slice(2, 4), yymmdd.slice(4, 6)];
    // GS1: DD=00 means the last day of the month.
    const day = dd === '00' ? new Date(Date.UTC(2000 + Number(yy), Number(mm), 0)).getUTCDate() : Number(dd);
    expiry = `20${yy}-${mm}-${String(day).padStart(2, '0')}`;
    if (Number(mm) < 1 || Number(mm) > 12 || Number.isNaN(Date.parse(expiry))) return { ok: false, reason: `expiry (17) ${yymmdd} is not a date` };
  }
  return { ok: true, code: { format: 'gs1', canonical: `01${gtin}21${serial}`, gtin, expiry, batch: f.get('10'), serial } };
}
