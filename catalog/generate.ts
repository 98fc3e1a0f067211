// A real-sized catalogue for development and benchmarks, generated deterministically: the same seed and
// sizes always give byte-identical files. What is real and what is made up: docs/catalogue-data.md.
//
//   drugs.ndjson       the 269 demo drugs unchanged, then generated SKUs (G000001…): the demo generics
//                      made by other real Chinese manufacturers, in other pack sizes and strengths
//   pharmacies.ndjson  pharmacies (PG000001…) of real chains on real roads of six cities
//   stock.ndjson       { pharmacyCode, drugCode, onHand, priceFen } per pharmacy and SKU (millions)
//   manifest.json      seed, sizes, and rows, bytes and sha256 of each file
//
// Only the SKU list (tens of thousands) is held in memory; pharmacies and stock rows are streamed out.
// Arithmetic is limited to + − × ÷ and sqrt (exact in IEEE 754), so no Node or CPU gives other bytes.
import { createHash } from 'node:crypto';
import { createWriteStream, mkdirSync, writeFileSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import type { Drug, PharmacyInfo } from '../domain/types';
import demoDrugs from './data/drugs.json';

export const GENERATOR_VERSION = 1;
export const DEFAULT_SEED = 20261123;
export const DEFAULT_SKUS = 20_000;
export const DEFAULT_PHARMACIES = 5_000;
export const STOCK_PER_PHARMACY = { min: 300, max: 800 } as const;
export const FILES = { drugs: 'drugs.ndjson', pharmacies: 'pharmacies.ndjson', stock: 'stock.ndjson', manifest: 'manifest.json' } as const;

// ————————————————————————————————————————————— randomness ——————————————————————————————————————————————

/** 32-bit mix (splitmix32 finaliser). */
function mix32(x: number): number {
  x = (x + 0x9e3779b9) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x21f0aaad) >>> 0;
  x = Math.imul(x ^ (x >>> 15), 0x735a2d97) >>> 0;
  return (x ^ (x >>> 15)) >>> 0;
}

/**
 * An independent random stream (sfc32) per (seed, purpose, index): pharmacy 17 is the same pharmacy
 * whether 50 or 5,000 are generated, and its stock does not depend on the pharmacies before it.
 */
export function rngFor(seed: number, stream: number, index: number): () => number {
  let a = mix32(seed ^ 0x5bd1e995);
  let b = mix32(a ^ Math.imul(stream + 1, 0x27d4eb2f));
  let c = mix32(b ^ Math.imul(index + 1, 0x165667b1));
  let d = mix32(c ^ 0x61c88647);
  const next = () => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t / 4294967296;
  };
  for (let i = 0; i < 12; i++) next();
  return next;
}
const STREAM = { drug: 1, approval: 2, pharmacy: 3, stock: 4 } as const;

const int = (r: () => number, min: number, max: number) => min + Math.floor(r() * (max - min + 1));
const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
function pickWeighted<T extends { weight: number }>(r: () => number, xs: readonly T[]): T {
  let total = 0;
  for (const x of xs) total += x.weight;
  let u = r() * total;
  for (const x of xs) if ((u -= x.weight) < 0) return x;
  return xs[xs.length - 1];
}
function shuffle<T>(r: () => number, xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

// ————————————————————————————————————————— manufacturers ———————————————————————————————————————————————

/** Real Chinese pharmaceutical companies, with the province code (GB/T 2260) of their seat. */
export interface Manufacturer { name: string; province: string }
const m = (name: string, province: string): Manufacturer => ({ name, province });

/** Chemical drugs (国药准字H/J): large generic makers. */
export const CHEMICAL_MANUFACTURERS: readonly Manufacturer[] = [
  m('华润双鹤药业股份有限公司', '11'), m('石药集团欧意药业有限公司', '13'), m('齐鲁制药有限公司', '37'),
  m('扬子江药业集团有限公司', '32'), m('江苏恒瑞医药股份有限公司', '32'), m('正大天晴药业集团股份有限公司', '32'),
  m('江苏豪森药业集团有限公司', '32'), m('浙江华海药业股份有限公司', '33'), m('浙江京新药业股份有限公司', '33'),
  m('浙江海正药业股份有限公司', '33'), m('浙江医药股份有限公司新昌制药厂', '33'), m('杭州中美华东制药有限公司', '33'),
  m('浙江永宁药业股份有限公司', '33'), m('上海上药信谊药厂有限公司', '31'), m('上海信谊万象药业股份有限公司', '31'),
  m('重庆药友制药有限责任公司', '50'), m('华北制药股份有限公司', '13'), m('石家庄四药有限公司', '13'),
  m('哈药集团制药总厂', '23'), m('东北制药集团沈阳第一制药有限公司', '21'), m('山东新华制药股份有限公司', '37'),
  m('鲁南制药集团股份有限公司', '37'), m('瑞阳制药股份有限公司', '37'), m('辰欣药业股份有限公司', '37'),
  m('山东罗欣药业集团股份有限公司', '37'), m('四川科伦药业股份有限公司', '51'), m('成都倍特药业股份有限公司', '51'),
  m('丽珠集团丽珠制药厂', '44'), m('广州白云山制药股份有限公司广州白云山制药总厂', '44'), m('珠海联邦制药股份有限公司', '44'),
  m('深圳信立泰药业股份有限公司', '44'), m('国药集团致君（深圳）制药有限公司', '44'), m('海南普利制药股份有限公司', '46'),
  m('宜昌人福药业有限责任公司', '42'), m('湖南千金湘江药业股份有限公司', '43'), m('重庆华邦制药有限公司', '50'),
  m('天津力生制药股份有限公司', '12'), m('常州制药厂有限公司', '32'), m('北京万辉双鹤药业有限责任公司', '11'),
  m('悦康药业集团股份有限公司', '11'), m('江苏正大清江制药有限公司', '32'), m('华润赛科药业有限责任公司', '11'),
];

/** Chinese patent medicines (国药准字Z). */
export const TCM_MANUFACTURERS: readonly Manufacturer[] = [
  m('北京同仁堂股份有限公司同仁堂制药厂', '11'), m('华润三九医药股份有限公司', '44'), m('云南白药集团股份有限公司', '53'),
  m('广州白云山中一药业有限公司', '44'), m('白云山和记黄埔中药有限公司', '44'), m('天士力医药集团股份有限公司', '12'),
  m('石家庄以岭药业股份有限公司', '13'), m('太极集团重庆涪陵制药厂有限公司', '50'), m('江中药业股份有限公司', '36'),
  m('仲景宛西制药股份有限公司', '41'), m('兰州佛慈制药股份有限公司', '62'), m('杭州胡庆余堂药业有限公司', '33'),
  m('浙江康恩贝制药股份有限公司', '33'), m('黑龙江葵花药业股份有限公司', '23'), m('吉林敖东延边药业股份有限公司', '22'),
  m('修正药业集团股份有限公司', '22'), m('九芝堂股份有限公司', '43'), m('漳州片仔癀药业股份有限公司', '35'),
  m('贵州百灵企业集团制药股份有限公司', '52'), m('雷允上药业集团有限公司', '32'), m('天津中新药业集团股份有限公司达仁堂制药厂', '12'),
  m('株洲千金药业股份有限公司', '43'), m('桂林三金药业股份有限公司', '45'), m('济川药业集团有限公司', '32'),
  m('马应龙药业集团股份有限公司', '42'), m('陕西步长制药有限公司', '61'),
];

/** Biologics (国药准字S) and injectables: insulin, blood products, vaccines, antibodies, live bacteria. */
export const BIOLOGIC_MANUFACTURERS: readonly Manufacturer[] = [
  m('通化东宝药业股份有限公司', '22'), m('甘李药业股份有限公司', '11'), m('珠海联邦制药股份有限公司', '44'),
  m('江苏万邦生化医药集团有限责任公司', '32'), m('华兰生物工程股份有限公司', '41'), m('北京天坛生物制品股份有限公司', '11'),
  m('上海莱士血液制品股份有限公司', '31'), m('山东泰邦生物制品有限公司', '37'), m('深圳康泰生物制品股份有限公司', '44'),
  m('北京生物制品研究所有限责任公司', '11'), m('上海生物制品研究所有限责任公司', '31'), m('成都生物制品研究所有限责任公司', '51'),
  m('百奥泰生物制药股份有限公司', '44'), m('信达生物制药（苏州）有限公司', '32'), m('晋城海斯制药有限公司', '14'),
  m('内蒙古双奇药业股份有限公司', '15'), m('上海上药信谊药厂有限公司', '31'),
];

function manufacturersFor(d: Drug): readonly Manufacturer[] {
  const letter = approvalLetter(d);
  if (letter === 'Z') return TCM_MANUFACTURERS;
  if (letter === 'S' || d.dosageForm === '注射液') return BIOLOGIC_MANUFACTURERS;
  return CHEMICAL_MANUFACTURERS;
}
const approvalLetter = (d: Drug) => (/^国药准字([HZSJ])\d{8}$/.exec(d.approvalNumber)?.[1] ?? 'H') as 'H' | 'Z' | 'S' | 'J';

// ————————————————————————————————————————— specifications —————————————————————————————————————————————

/** A specification (规格) and its price relative to the demo drug's. */
export interface SpecVariant { spec: string; priceFactor: number }

const PACK_SIZES: Record<string, readonly number[]> = {
  片: [6, 7, 10, 12, 14, 20, 24, 28, 30, 36, 42, 48, 60, 100],
  粒: [6, 8, 10, 12, 14, 16, 20, 24, 28, 30, 36, 40, 48, 60, 100],
  袋: [6, 8, 9, 10, 12, 15, 18, 20, 24, 30],
  支: [1, 2, 3, 5, 6, 8, 10, 12, 18, 20, 24],
  贴: [2, 4, 5, 6, 8, 10],
  枚: [5, 6, 8, 10, 12],
};
const TUBE_SIZES: Record<string, readonly number[]> = { g: [5, 10, 15, 20, 25, 30, 50, 100], ml: [5, 10, 15, 20, 50, 100, 120, 150, 200, 250] };
const STRENGTH_FORMS = new Set(['片剂', '缓释片', '胶囊', '缓释胶囊']);

/** Bigger packs cost less per unit, smaller ones more. */
const packFactor = (to: number, from: number) => (to / from) * (to > from ? 0.92 : 1.06);
const tubeFactor = (to: number, from: number) => (to / from) * (to > from ? 0.9 : 1.08);

/** Up to `below` sizes below and `above` above the original, nearest first, within a factor of 4. */
function nearSizes(sizes: readonly number[], orig: number, below: number, above: number): number[] {
  const lower = sizes.filter((s) => s < orig && s * 4 >= orig).slice(-below);
  const upper = sizes.filter((s) => s > orig && s <= orig * 4).slice(0, above);
  return [...lower, ...upper];
}

/** "0.15" ⇄ 150 thousandths: strengths are halved and doubled in integers, never in floating point. */
function toThousandths(s: string): number | null {
  const mm = /^(\d+)(?:\.(\d{1,3}))?$/.exec(s);
  return mm ? Number(mm[1]) * 1000 + Number((mm[2] ?? '').padEnd(3, '0')) : null;
}
function fromThousandths(t: number): string {
  const whole = Math.floor(t / 1000);
  const frac = String(t % 1000).padStart(3, '0').replace(/0+$/, '');
  return frac ? `${whole}.${frac}` : String(whole);
}

/**
 * The demo spec first, then other pack sizes of the same strength ("0.3g×20粒" → "0.3g×10粒",
 * "0.3g×24粒", "0.3g×28粒"), then half and double strength for single-ingredient tablets and
 * capsules ("0.15g×20粒", "0.6g×20粒"), or other tube and bottle sizes ("1%:10g" → "1%:5g").
 * Specs it cannot read (inhalers, kits, "85g+30g") stay as they are.
 */
export function specVariants(spec: string, dosageForm: string): SpecVariant[] {
  const out: SpecVariant[] = [{ spec, priceFactor: 1 }];
  const pack = /^(.+)×(\d+)(片|粒|袋|支|贴|枚)$/.exec(spec);
  if (pack) {
    const [, per, countStr, unit] = pack;
    const count = Number(countStr);
    for (const n of nearSizes(PACK_SIZES[unit], count, 1, 2)) out.push({ spec: `${per}×${n}${unit}`, priceFactor: packFactor(n, count) });
    const strength = /^(\d+(?:\.\d+)?)(mg|g|μg)$/.exec(per);
    if (strength && (unit === '片' || unit === '粒') && STRENGTH_FORMS.has(dosageForm)) {
      const t = toThousandths(strength[1]);
      if (t !== null) {
        if (t % 2 === 0) out.push({ spec: `${fromThousandths(t / 2)}${strength[2]}×${count}${unit}`, priceFactor: 0.65 });
        out.push({ spec: `${fromThousandths(t * 2)}${strength[2]}×${count}${unit}`, priceFactor: 1.6 });
      }
    }
    return out;
  }
  const tube = /^((?:\d+(?:\.\d+)?%:)?)(\d+)(g|ml)$/.exec(spec);
  if (tube) {
    const [, conc, sizeStr, unit] = tube;
    const size = Number(sizeStr);
    for (const n of nearSizes(TUBE_SIZES[unit], size, 1, 1)) out.push({ spec: `${conc}${n}${unit}`, priceFactor: tubeFactor(n, size) });
  }
  return out;
}

// ————————————————————————————————————————————— drugs ———————————————————————————————————————————————————

interface Candidate { manufacturer: Manufacturer; variant: SpecVariant; brandOwner: boolean }
interface Generic { demo: Drug; index: number; candidates: Candidate[]; weight: number }

const DEMO: Drug[] = demoDrugs as Drug[];

/** Every (manufacturer, spec) a demo generic could also come as, shuffled by the seed. */
function genericsOf(seed: number): Generic[] {
  return DEMO.map((demo, index) => {
    const variants = specVariants(demo.spec, demo.dosageForm);
    const candidates: Candidate[] = [];
    // The brand owner in its other pack sizes and strengths keeps the brand; everyone else sells the generic.
    const owner: Manufacturer = { name: demo.manufacturer, province: '' };
    for (const v of variants.slice(1)) candidates.push({ manufacturer: owner, variant: v, brandOwner: true });
    for (const mf of manufacturersFor(demo)) {
      if (mf.name === demo.manufacturer) continue;
      for (const v of variants) candidates.push({ manufacturer: mf, variant: v, brandOwner: false });
    }
    // Drugs that may not be sold online, and cold-chain biologics, have fewer makers than everyday generics.
    const weight = !demo.onlineSaleAllowed ? 0.25 : demo.storage === 'cold' ? 0.5 : 1;
    return { demo, index, candidates: shuffle(rngFor(seed, STREAM.drug, index), candidates), weight };
  });
}

/** How many generated SKUs each generic gets: weighted round robin until the total is reached. */
function allocate(generics: Generic[], wanted: number): number[] {
  const capacity = generics.reduce((n, g) => n + g.candidates.length, 0);
  if (wanted > capacity) throw new RangeError(`at most ${capacity} generated SKUs (manufacturer × specification combinations)`);
  const counts = generics.map(() => 0);
  let left = wanted;
  for (let round = 0; left > 0; round++) {
    for (const g of generics) {
      if (left === 0) break;
      // weight 1 takes a SKU every round, 0.5 every other round, 0.25 every fourth; once the
      // everyday generics run out of makers the rarer ones fill up every round.
      const due = Math.floor((round + 1) * g.weight) > Math.floor(round * g.weight) || round >= 4 * capacity / generics.length;
      if (!due || counts[g.index] >= g.candidates.length) continue;
      counts[g.index]++;
      left--;
    }
  }
  return counts;
}

/** The most SKUs `--skus` can ask for (demo drugs included). */
export function maxSkus(): number {
  return DEMO.length + genericsOf(DEFAULT_SEED).reduce((n, g) => n + g.candidates.length, 0);
}

const roundPrice = (fen: number) => Math.max(50, Math.round(fen / 10) * 10);

class ApprovalNumbers {
  private readonly taken = new Set<string>(DEMO.map((d) => d.approvalNumber));
  private readonly rand: () => number;
  constructor(seed: number) { this.rand = rngFor(seed, STREAM.approval, 0); }
  /** 国药准字 + letter + 8 digits: a year and serial (H20031234), or a province code and serial (H33021234). */
  next(letter: string, province: string): string {
    for (;;) {
      const byProvince = province !== '' && letter !== 'J' && this.rand() < 0.4;
      const digits = byProvince
        ? `${province}${String(int(this.rand, 0, 999_999)).padStart(6, '0')}`
        : `${int(this.rand, 1995, 2025)}${String(int(this.rand, 0, 9_999)).padStart(4, '0')}`;
      const n = `国药准字${letter}${digits}`;
      if (!this.taken.has(n)) {
        this.taken.add(n);
        return n;
      }
    }
  }
}

/** Slim facts of every SKU, for the stock generator. */
export interface SkuFacts { code: string; generic: number; cold: boolean; sellable: boolean; tcm: boolean; priceFen: number; demo: boolean }

/** Builds the SKU list: the demo drugs unchanged, then generated SKUs generic by generic. */
export function buildSkus(seed: number, skus: number): { drugs: Drug[]; facts: SkuFacts[] } {
  if (skus < DEMO.length) throw new RangeError(`--skus must be at least ${DEMO.length} (the demo drugs)`);
  const generics = genericsOf(seed);
  const counts = allocate(generics, skus - DEMO.length);
  const approvals = new ApprovalNumbers(seed);
  const drugs: Drug[] = [...DEMO];
  let serial = 0;
  for (const g of generics) {
    const r = rngFor(seed, STREAM.drug, 100_000 + g.index);
    for (const c of g.candidates.slice(0, counts[g.index])) {
      serial++;
      const maker = c.brandOwner ? 0.97 + r() * 0.06 : g.demo.brandNameZh ? 0.3 + r() * 0.55 : 0.8 + r() * 0.4;
      drugs.push({
        ...g.demo,
        code: `G${String(serial).padStart(6, '0')}`,
        brandNameZh: c.brandOwner ? g.demo.brandNameZh : null,
        spec: c.variant.spec,
        insuranceCode: `${g.demo.insuranceCode}${String(serial).padStart(6, '0')}`,
        approvalNumber: approvals.next(approvalLetter(g.demo), c.manufacturer.province),
        manufacturer: c.manufacturer.name,
        priceFen: roundPrice(g.demo.priceFen * c.variant.priceFactor * maker),
      });
    }
  }
  const genericOf = new Map<string, number>();
  DEMO.forEach((d, i) => genericOf.set(d.code, i));
  const facts = drugs.map((d, i): SkuFacts => ({
    code: d.code,
    generic: i < DEMO.length ? i : -1,
    cold: d.storage === 'cold',
    sellable: d.onlineSaleAllowed,
    tcm: approvalLetter(d) === 'Z',
    priceFen: d.priceFen,
    demo: i < DEMO.length,
  }));
  // Generated SKUs follow their generic's demo drug in order; record which generic each belongs to.
  let k = DEMO.length;
  for (const g of generics) for (let j = 0; j < counts[g.index]; j++) facts[k++].generic = g.index;
  return { drugs, facts };
}

// ——————————————————————————————————————————— pharmacies ————————————————————————————————————————————————

interface District { name: string; lat: number; lng: number; radiusKm: number; weight: number; roads: readonly string[] }
interface Chains { retail: readonly string[]; tcm: readonly string[]; dtp: readonly string[] }
export interface City {
  name: string; areaCode: string; weight: number;
  /** The urban area every generated pharmacy lies in. */
  box: { minLat: number; maxLat: number; minLng: number; maxLng: number };
  /** km per degree of longitude at the city's latitude (111.32 × cos φ), written out to stay exact. */
  kmPerDegLng: number;
  districts: readonly District[]; chains: Chains;
}
const dist = (name: string, lat: number, lng: number, radiusKm: number, weight: number, roads: string): District =>
  ({ name, lat, lng, radiusKm, weight, roads: roads.split(' ') });

/** District centres are real; the radius keeps each district's pharmacies within its urban core. */
export const CITIES: readonly City[] = [
  {
    name: '杭州', areaCode: '0571', weight: 14, kmPerDegLng: 96.14,
    box: { minLat: 30.12, maxLat: 30.46, minLng: 119.95, maxLng: 120.40 },
    districts: [
      dist('上城区', 30.255, 120.180, 2.5, 1.2, '解放路 庆春路 延安路 中山中路 清泰街 望江路 秋涛路 富春路 江城路 凤起东路'),
      dist('拱墅区', 30.315, 120.150, 3, 1.2, '莫干山路 湖墅南路 上塘路 大关路 登云路 丽水路 德胜路 石祥路 体育场路 中山北路'),
      dist('西湖区', 30.275, 120.110, 3, 1.1, '文三路 天目山路 教工路 古墩路 学院路 文一路 保俶路 西溪路 文二路 紫金港路'),
      dist('滨江区', 30.205, 120.205, 2.5, 0.9, '江南大道 滨盛路 长河路 江陵路 网商路 西兴路 春波路 东信大道'),
      dist('萧山区', 30.175, 120.265, 3.5, 0.9, '市心中路 市心北路 金城路 人民路 山阴路 体育路 文化路'),
      dist('余杭区', 30.285, 120.015, 3.5, 0.8, '文一西路 五常大道 良睦路 高教路 荆长大道 闲兴路'),
      dist('临平区', 30.415, 120.300, 3, 0.6, '迎宾路 临平大道 人民大道 东湖北路 星桥北路 世纪大道'),
      dist('钱塘区', 30.305, 120.340, 3, 0.6, '学源街 文泽路 下沙路 金沙大道 学林街 文海南路'),
    ],
    chains: {
      retail: ['老百姓大药房', '益丰大药房', '九州大药房', '张同泰大药房', '华东大药房', '海王星辰', '天天好大药房', '英特一洲大药房', '大参林'],
      tcm: ['胡庆余堂国药号', '方回春堂国药馆', '叶种德堂国药馆'],
      dtp: ['英特一洲大药房', '华东大药房'],
    },
  },
  {
    name: '上海', areaCode: '021', weight: 21, kmPerDegLng: 95.19,
    box: { minLat: 31.05, maxLat: 31.42, minLng: 121.30, maxLng: 121.70 },
    districts: [
      dist('黄浦区', 31.228, 121.484, 2, 1.2, '南京东路 淮海中路 西藏南路 复兴东路 河南南路 金陵东路 陆家浜路 瞿溪路'),
      dist('徐汇区', 31.180, 121.437, 3, 1.2, '漕溪北路 肇嘉浜路 天钥桥路 衡山路 龙华中路 宜山路 虹桥路 田林路'),
      dist('长宁区', 31.215, 121.400, 2.5, 1.0, '天山路 延安西路 仙霞路 中山西路 遵义路 愚园路 古北路 娄山关路'),
      dist('静安区', 31.245, 121.450, 2.5, 1.2, '南京西路 延平路 共和新路 大统路 万航渡路 北京西路 西藏北路 灵石路'),
      dist('普陀区', 31.250, 121.398, 3, 1.0, '曹杨路 长寿路 武宁路 真北路 中山北路 铜川路 金沙江路 桃浦路'),
      dist('虹口区', 31.270, 121.497, 2.5, 1.0, '四川北路 曲阳路 西江湾路 广中路 大连西路 海宁路 东长治路'),
      dist('杨浦区', 31.285, 121.525, 3, 1.0, '四平路 国权路 黄兴路 控江路 长阳路 政通路 平凉路 淞沪路'),
      dist('浦东新区', 31.222, 121.560, 6, 2.5, '世纪大道 张杨路 浦东南路 东方路 杨高中路 川沙路 龙阳路 锦绣路 浦建路 金桥路 张江路 峨山路'),
      dist('闵行区', 31.110, 121.385, 4.5, 1.3, '沪闵路 七莘路 都市路 银都路 吴中路 莘松路 虹井路 古美路'),
      dist('宝山区', 31.375, 121.460, 3.5, 0.8, '牡丹江路 友谊路 密山路 淞滨路 同济路 长江西路'),
    ],
    chains: {
      retail: ['华氏大药房', '第一医药商店', '国大药房', '益丰大药房', '复美大药房', '养和堂', '雷允上', '老百姓大药房'],
      tcm: ['童涵春堂', '蔡同德堂', '雷允上国药号'],
      dtp: ['上药云健康益药药房', '国大药房'],
    },
  },
  {
    name: '北京', areaCode: '010', weight: 20, kmPerDegLng: 85.36,
    box: { minLat: 39.78, maxLat: 40.10, minLng: 116.15, maxLng: 116.72 },
    districts: [
      dist('东城区', 39.925, 116.416, 2.5, 1.1, '东直门内大街 王府井大街 崇文门外大街 东四北大街 雍和宫大街 安定门内大街 朝阳门北大街'),
      dist('西城区', 39.912, 116.360, 2.5, 1.1, '西单北大街 阜成门内大街 新街口南大街 广安门内大街 德胜门外大街 月坛南街 西直门南大街 宣武门外大街'),
      dist('朝阳区', 39.945, 116.470, 5.5, 2.3, '建国路 朝阳北路 东三环中路 望京街 安立路 工体北路 劲松路 大望路 亮马桥路 北苑路'),
      dist('海淀区', 39.975, 116.305, 5, 2.0, '中关村大街 学院路 西三环北路 北四环西路 万寿路 上地信息路 成府路 知春路 苏州街 花园北路'),
      dist('丰台区', 39.855, 116.300, 4.5, 1.2, '丰台北路 马家堡东路 南三环西路 丰台南路 蒲黄榆路 万丰路'),
      dist('石景山区', 39.910, 116.220, 2.5, 0.5, '石景山路 鲁谷路 古城大街 阜石路'),
      dist('通州区', 39.905, 116.660, 3.5, 0.8, '新华大街 玉带河大街 运河西大街 通朝大街'),
    ],
    chains: {
      retail: ['金象大药房', '嘉事堂', '医保全新大药房', '京卫大药房', '老百姓大药房', '国大药房', '永安堂'],
      tcm: ['北京同仁堂', '鹤年堂'],
      dtp: ['嘉事堂', '金象大药房'],
    },
  },
  {
    name: '广州', areaCode: '020', weight: 15, kmPerDegLng: 102.37,
    box: { minLat: 22.90, maxLat: 23.25, minLng: 113.18, maxLng: 113.52 },
    districts: [
      dist('越秀区', 23.128, 113.270, 2, 1.2, '北京路 中山五路 东风中路 解放北路 环市东路 农林下路 东湖路 人民北路'),
      dist('荔湾区', 23.115, 113.240, 2.5, 0.9, '上下九路 中山八路 芳村大道 康王中路 龙津西路 花地大道'),
      dist('海珠区', 23.095, 113.310, 3, 1.2, '江南大道中 宝岗大道 新港中路 昌岗中路 工业大道 广州大道南'),
      dist('天河区', 23.135, 113.350, 3.5, 1.5, '天河路 体育西路 天河北路 黄埔大道西 中山大道西 五山路 林和西路 珠江西路'),
      dist('白云区', 23.180, 113.275, 4, 1.3, '白云大道北 广园中路 机场路 增槎路 黄石东路'),
      dist('黄埔区', 23.105, 113.455, 3.5, 0.8, '黄埔东路 大沙地东路 开创大道 科学大道 丰乐北路'),
      dist('番禺区', 22.945, 113.375, 4, 1.1, '清河东路 兴业大道 迎宾路 汉溪大道 番禺大道北'),
    ],
    chains: {
      retail: ['大参林', '健民医药', '采芝林', '老百姓大药房', '海王星辰', '国大药房', '益丰大药房'],
      tcm: ['采芝林', '北京同仁堂'],
      dtp: ['大参林', '国大药房'],
    },
  },
  {
    name: '深圳', areaCode: '0755', weight: 15, kmPerDegLng: 102.81,
    box: { minLat: 22.48, maxLat: 22.76, minLng: 113.80, maxLng: 114.28 },
    districts: [
      dist('福田区', 22.542, 114.055, 3, 1.5, '深南中路 福华路 华强北路 莲花路 益田路 彩田路 红荔路 皇岗路'),
      dist('罗湖区', 22.550, 114.125, 2.5, 1.1, '东门中路 人民南路 深南东路 文锦中路 宝安南路 翠竹路 爱国路'),
      dist('南山区', 22.530, 113.935, 3.5, 1.4, '南海大道 南山大道 科苑路 前海路 桃园路 后海大道 沙河西路'),
      dist('宝安区', 22.570, 113.870, 4, 1.4, '建安一路 宝安大道 创业一路 前进一路 新湖路 宝民一路'),
      dist('龙华区', 22.660, 114.040, 3.5, 1.1, '人民路 民治大道 梅龙路 和平路 东环一路'),
      dist('龙岗区', 22.700, 114.200, 4.5, 1.2, '龙岗大道 龙翔大道 吉华路 坂雪岗大道 黄阁路'),
    ],
    chains: {
      retail: ['海王星辰', '中联大药房', '万泽医药', '大参林', '一致药店', '南北药行', '老百姓大药房'],
      tcm: ['北京同仁堂', '固生堂中医馆'],
      dtp: ['一致药店', '海王星辰'],
    },
  },
  {
    name: '成都', areaCode: '028', weight: 15, kmPerDegLng: 95.76,
    box: { minLat: 30.52, maxLat: 30.78, minLng: 103.95, maxLng: 104.20 },
    districts: [
      dist('锦江区', 30.650, 104.085, 2.5, 1.1, '春熙路 红星路 东大街 总府路 莲桂南路 人民东路'),
      dist('青羊区', 30.672, 104.055, 2.5, 1.1, '人民中路 蜀都大道 长顺上街 西玉龙街 青华路 光华大道'),
      dist('金牛区', 30.705, 104.045, 3, 1.1, '人民北路 解放路 营门口路 蜀汉路 沙湾路 一环路北'),
      dist('武侯区', 30.638, 104.040, 3, 1.2, '人民南路 武侯祠大街 科华北路 玉林路 浆洗街 二环路南'),
      dist('成华区', 30.668, 104.110, 3, 1.0, '建设路 府青路 双林路 二环路东 猛追湾街 杉板桥路'),
      dist('高新区', 30.575, 104.065, 4, 1.2, '天府大道 天府三街 益州大道 锦城大道 剑南大道 府城大道'),
    ],
    chains: {
      retail: ['一心堂', '太极大药房', '桐君阁大药房', '德仁堂', '海王星辰', '老百姓大药房', '泉源堂'],
      tcm: ['德仁堂', '北京同仁堂'],
      dtp: ['一心堂', '泉源堂'],
    },
  },
];

const STORE_NO = ['', '', '二', '三', '四', '五', '六', '七', '八', '九', '十'];
const hhmm = (xs: readonly string[], r: () => number) => pick(r, xs);

/** Pharmacy `index` (0-based); `names` keeps store names unique per city (…路二店). */
export function pharmacyAt(seed: number, index: number, names: Map<string, number>): PharmacyInfo {
  const r = rngFor(seed, STREAM.pharmacy, index);
  const city = pickWeighted(r, CITIES);
  const district = pickWeighted(r, city.districts);
  const u = r();
  const kind: PharmacyInfo['kind'] = u < 0.85 ? 'retail' : u < 0.93 ? 'tcm' : 'dtp';
  const chain = pick(r, city.chains[kind]);
  const road = pick(r, district.roads);

  // Uniform in the district's disc (rejection sampling: no trigonometry), kept inside the city's box.
  let dx: number, dy: number;
  do { dx = r() * 2 - 1; dy = r() * 2 - 1; } while (dx * dx + dy * dy > 1);
  const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
  const lat = Number(clamp(district.lat + (dy * district.radiusKm) / 111.0, city.box.minLat, city.box.maxLat).toFixed(5));
  const lng = Number(clamp(district.lng + (dx * district.radiusKm) / city.kmPerDegLng, city.box.minLng, city.box.maxLng).toFixed(5));

  const is24h = kind === 'retail' && r() < 0.175;
  let openingHours: PharmacyInfo['openingHours'];
  if (is24h) openingHours = { open: '00:00', close: '24:00' };
  else if (kind === 'tcm') openingHours = { open: hhmm(['08:00', '08:30', '09:00'], r), close: hhmm(['17:30', '18:00', '20:00', '20:30'], r) };
  else if (kind === 'dtp') openingHours = { open: hhmm(['08:00', '08:30'], r), close: hhmm(['17:30', '18:00', '18:30'], r) };
  else if (r() < 0.02) openingHours = { open: '08:00', close: '02:00' }; // open past midnight
  else openingHours = { open: hhmm(['07:00', '07:30', '08:00', '08:00', '08:30', '09:00'], r), close: hhmm(['20:00', '20:30', '21:00', '21:30', '22:00', '22:00', '22:30', '23:00'], r) };

  const coldChain = kind === 'dtp' || r() < (kind === 'retail' ? 0.6 : 0.15);
  const promisedMinutes = kind === 'tcm' ? pick(r, [35, 40, 45]) : kind === 'dtp' ? pick(r, [25, 30, 35]) : is24h ? int(r, 10, 15) : int(r, 12, 25);
  const deliveryRadiusKm = kind === 'dtp' ? pick(r, [10, 15]) : kind === 'tcm' ? 5 : pick(r, [3, 5, 5, 5, 8]);
  const houseNo = int(r, 1, 1999);
  const phone = `${city.areaCode}-${int(r, 2, 8)}${String(int(r, 0, 9_999_999)).padStart(7, '0')}`;

  const store = `${road}${kind === 'dtp' ? 'DTP' : ''}`;
  const key = `${city.name}|${chain}|${store}`;
  const nth = (names.get(key) ?? 0) + 1;
  names.set(key, nth);
  const suffix = nth === 1 ? '' : nth < STORE_NO.length ? STORE_NO[nth] : String(nth);

  return {
    code: `PG${String(index + 1).padStart(6, '0')}`,
    name: `${chain}（${store}${suffix}店）`,
    city: city.name,
    district: district.name,
    address: `${city.name}市${district.name}${road}${houseNo}号`,
    lat, lng, phone, openingHours, is24h, coldChain, kind, promisedMinutes, deliveryRadiusKm,
  };
}

// ————————————————————————————————————————————— stock ———————————————————————————————————————————————————

export interface StockLine { pharmacyCode: string; drugCode: string; onHand: number; priceFen: number }

/** Pools of SKU indexes the stock generator draws from. */
export interface StockPools {
  facts: SkuFacts[];
  /** Per demo generic that may be sold online: its demo SKU and its generated SKUs. */
  generics: { cold: boolean; demo: number; variants: number[] }[];
  ambient: number[]; cold: number[]; tcm: number[];
}
export function stockPools(facts: SkuFacts[]): StockPools {
  const byGeneric = new Map<number, { cold: boolean; demo: number; variants: number[] }>();
  const pools: StockPools = { facts, generics: [], ambient: [], cold: [], tcm: [] };
  facts.forEach((f, i) => {
    if (!f.sellable) return;
    (f.cold ? pools.cold : pools.ambient).push(i);
    if (f.tcm && !f.cold) pools.tcm.push(i);
    let g = byGeneric.get(f.generic);
    if (!g) byGeneric.set(f.generic, (g = { cold: f.cold, demo: -1, variants: [] }));
    if (f.demo) g.demo = i;
    else g.variants.push(i);
  });
  pools.generics = [...byGeneric.values()];
  return pools;
}

/**
 * What pharmacy `index` stocks: 300–800 SKUs. Nine in ten carry each online-sellable demo generic
 * (the demo SKU itself most often, and/or the chain's usual maker), then fill up with other SKUs;
 * 国药馆 fill mostly with Chinese patent medicines, DTP pharmacies with cold-chain products. Cold-chain
 * SKUs only where the pharmacy keeps 2–8 ℃. Rows come out in catalogue order.
 */
export function stockOf(seed: number, index: number, ph: PharmacyInfo, pools: StockPools): StockLine[] {
  const r = rngFor(seed, STREAM.stock, index);
  const chainHash = [...ph.name.split('（')[0]].reduce((h, ch) => Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0, 0x811c9dc5);
  const chosen = new Set<number>();
  for (let gi = 0; gi < pools.generics.length; gi++) {
    const g = pools.generics[gi];
    if (g.cold && !ph.coldChain) continue;
    if (r() >= 0.9) continue;
    const withDemo = g.demo >= 0 && r() < 0.7;
    if (withDemo) chosen.add(g.demo);
    if (g.variants.length && (!withDemo || r() < 0.6)) {
      const usual = g.variants[mix32(chainHash ^ gi) % g.variants.length];
      chosen.add(r() < 0.7 ? usual : pick(r, g.variants));
    }
  }
  const fillFrom = [pools.ambient];
  if (ph.coldChain) fillFrom.push(pools.cold);
  const available = pools.ambient.length + (ph.coldChain ? pools.cold.length : 0);
  const target = Math.min(int(r, STOCK_PER_PHARMACY.min, STOCK_PER_PHARMACY.max), Math.floor(available * 0.8));
  const preferred = ph.kind === 'tcm' ? pools.tcm : ph.kind === 'dtp' ? pools.cold : null;
  let guard = 0;
  while (chosen.size < target && guard++ < target * 20) {
    const pool = preferred && preferred.length && r() < 0.6 ? preferred : ph.coldChain && r() < pools.cold.length / available ? pools.cold : pools.ambient;
    chosen.add(pick(r, pool));
  }
  const rows: StockLine[] = [];
  for (const i of [...chosen].sort((a, b) => a - b)) {
    const f = pools.facts[i];
    const u = r();
    const onHand = u < 0.04 ? 0 : u < 0.14 ? int(r, 1, 4) : int(r, 5, 80);
    rows.push({ pharmacyCode: ph.code, drugCode: f.code, onHand, priceFen: Math.max(1, Math.round(f.priceFen * (0.88 + r() * 0.27))) });
  }
  return rows;
}

// ———————————————————————————————————————————— output ———————————————————————————————————————————————————

/** Writes lines to a file in ~1 MB chunks, waiting for the disk, hashing exactly the bytes written. */
class NdjsonWriter {
  private buf: string[] = [];
  private size = 0;
  rows = 0;
  bytes = 0;
  private readonly hash = createHash('sha256');
  private readonly out: WriteStream;
  constructor(file: string) { this.out = createWriteStream(file); }
  async line(json: string): Promise<void> {
    this.buf.push(json, '\n');
    this.size += json.length + 1;
    this.rows++;
    if (this.size >= 1 << 20) await this.flush();
  }
  private async flush(): Promise<void> {
    if (!this.buf.length) return;
    const chunk = Buffer.from(this.buf.join(''), 'utf8');
    this.buf = [];
    this.size = 0;
    this.hash.update(chunk);
    this.bytes += chunk.length;
    if (!this.out.write(chunk)) await new Promise<void>((resolve, reject) => { this.out.once('drain', resolve); this.out.once('error', reject); });
  }
  async close(): Promise<FileSummary> {
    await this.flush();
    await new Promise<void>((resolve, reject) => this.out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    return { rows: this.rows, bytes: this.bytes, sha256: this.hash.digest('hex') };
  }
}

export interface FileSummary { rows: number; bytes: number; sha256: string }
export interface GenerateOptions { out: string; seed?: number; skus?: number; pharmacies?: number; onProgress?: (phase: 'drugs' | 'pharmacies', done: number, total: number) => void }
export interface GenerateSummary {
  generator: number; seed: number; skus: number; pharmacies: number;
  files: { 'drugs.ndjson': FileSummary; 'pharmacies.ndjson': FileSummary; 'stock.ndjson': FileSummary };
}

const drugLine = (d: Drug) => JSON.stringify(d);
const pharmacyLine = (p: PharmacyInfo) => JSON.stringify(p);
// Codes are [A-Z0-9]: no escaping needed, and this is the hot loop (millions of rows).
const stockLine = (s: StockLine) => `{"pharmacyCode":"${s.pharmacyCode}","drugCode":"${s.drugCode}","onHand":${s.onHand},"priceFen":${s.priceFen}}`;

/** Generates the catalogue into `out` (created if missing; existing files are replaced). */
export async function generateCatalogue(o: GenerateOptions): Promise<GenerateSummary> {
  const seed = o.seed ?? DEFAULT_SEED;
  const skus = o.skus ?? DEFAULT_SKUS;
  const pharmacies = o.pharmacies ?? DEFAULT_PHARMACIES;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError('--seed must be an integer from 0 to 4294967295');
  if (!Number.isInteger(pharmacies) || pharmacies < 1 || pharmacies > 999_999) throw new RangeError('--pharmacies must be an integer from 1 to 999999');
  const most = maxSkus();
  if (!Number.isInteger(skus) || skus > most) throw new RangeError(`--skus must be an integer from ${DEMO.length} to ${most}`);
  mkdirSync(o.out, { recursive: true });

  const { drugs, facts } = buildSkus(seed, skus);
  const dw = new NdjsonWriter(path.join(o.out, FILES.drugs));
  for (let i = 0; i < drugs.length; i++) {
    await dw.line(drugLine(drugs[i]));
    if (i % 5000 === 0) o.onProgress?.('drugs', i, drugs.length);
  }
  const drugFile = await dw.close();
  o.onProgress?.('drugs', drugs.length, drugs.length);

  const pools = stockPools(facts);
  const pw = new NdjsonWriter(path.join(o.out, FILES.pharmacies));
  const sw = new NdjsonWriter(path.join(o.out, FILES.stock));
  const names = new Map<string, number>();
  for (let i = 0; i < pharmacies; i++) {
    const ph = pharmacyAt(seed, i, names);
    await pw.line(pharmacyLine(ph));
    for (const row of stockOf(seed, i, ph, pools)) await sw.line(stockLine(row));
    if (i % 50 === 0) o.onProgress?.('pharmacies', i, pharmacies);
  }
  o.onProgress?.('pharmacies', pharmacies, pharmacies);
  const summary: GenerateSummary = {
    generator: GENERATOR_VERSION, seed, skus, pharmacies,
    files: { 'drugs.ndjson': drugFile, 'pharmacies.ndjson': await pw.close(), 'stock.ndjson': await sw.close() },
  };
  writeFileSync(path.join(o.out, FILES.manifest), `${JSON.stringify(summary, null, 2)}\n`);
  return summary;
}
