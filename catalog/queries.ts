// The catalogue's queries: drug search and pharmacy matching. The one home for what we ask Elasticsearch.
import type { Client } from '@elastic/elasticsearch';
import { drugAlias, stockAlias } from './indices';
import type { Shelf, ShelfReader } from './shelf';
import { cjkBigrams } from './synonyms';
import type { Drug, GeoPoint } from '../domain/types';
import { scoreCandidates, withinDeliveryRadius, type CandidateFacts, type PharmacyCandidate, type ScoreWeights } from '../domain/matching';

export interface DrugSearchParams {
  q: string;
  rxClass?: 'Rx' | 'OTC';
  dosageForm?: string;
  insuranceClass?: string;
  storage?: string;
  onlineOnly?: boolean;
  size?: number;
}

export interface DrugHit { drug: Drug & { pinyin: string; pinyinInitials: string }; score: number; highlight: Record<string, string[]> }

export async function searchDrugs(es: Client, prefix: string, p: DrugSearchParams): Promise<{ total: number; hits: DrugHit[] }> {
  const q = p.q.trim();
  const lower = q.toLowerCase();
  const filter: object[] = [];
  if (p.rxClass) filter.push({ term: { rxClass: p.rxClass } });
  if (p.dosageForm) filter.push({ term: { dosageForm: p.dosageForm } });
  if (p.insuranceClass) filter.push({ term: { insuranceClass: p.insuranceClass } });
  if (p.storage) filter.push({ term: { storage: p.storage } });
  if (p.onlineOnly) filter.push({ term: { onlineSaleAllowed: true } });

  const should = q
    ? [
        // Exact identifiers first: a pharmacist who types a code means that drug.
        { term: { code: { value: q.toUpperCase(), boost: 100 } } },
        { term: { insuranceCode: { value: q.toUpperCase(), boost: 100 } } },
        { term: { approvalNumber: { value: q, boost: 100 } } },
        { term: { atcCode: { value: q.toUpperCase(), boost: 50 } } },
        // Chinese names: phrase over single-character tokens is substring search.
        { match_phrase: { genericNameZh: { query: q, boost: 10 } } },
        { match_phrase: { brandNameZh: { query: q, boost: 8 } } },
        // A brand finds every product of its ingredient; the ingredient finds the brands.
        { term: { 'synonyms.raw': { value: q, boost: 7 } } },
        { match_phrase: { synonyms: { query: q, boost: 4 } } },
        // Bigram overlap: partial, reordered or slightly wrong Chinese still finds the drug.
        ...(cjkBigrams(q).length ? [{ match: { nameBigrams: { query: cjkBigrams(q).join(' '), minimum_should_match: '60%', boost: 2 } } }] : []),
        // Pinyin initials ("blf") and full pinyin ("buluofen"), then English with typos.
        { prefix: { pinyinInitials: { value: lower, boost: 6 } } },
        { prefix: { brandPinyinInitials: { value: lower, boost: 5 } } },
        { prefix: { pinyin: { value: lower.replace(/\s+/g, ''), boost: 5 } } },
        { match: { genericNameEn: { query: q, fuzziness: 'AUTO', boost: 3 } } },
        { match: { 'pinyin.text': { query: lower, fuzziness: 'AUTO', boost: 1 } } },
      ]
    : [];

  const res = await es.search<DrugHit['drug']>({
    index: drugAlias(prefix),
    size: Math.min(p.size ?? 20, 100),
    query: { bool: { filter, ...(q ? { should, minimum_should_match: 1 } : {}) } },
    highlight: { fields: { genericNameZh: {}, brandNameZh: {}, genericNameEn: {}, synonyms: {} } },
    track_total_hits: true,
  });
  const total = typeof res.hits.total === 'number' ? res.hits.total : (res.hits.total?.value ?? 0);
  return {
    total,
    hits: res.hits.hits.map((h) => ({ drug: h._source!, score: h._score ?? 0, highlight: (h.highlight ?? {}) as Record<string, string[]> })),
  };
}

export interface StockDoc {
  code: string; name: string; city: string; district: string; address: string;
  location: { lat: number; lon: number }; coldChain: boolean; is24h: boolean;
  openingHours: { open: string; close: string }; openMinute: number; closeMinute: number; overnight: boolean;
  deliveryRadiusKm: number; acceptanceRate: number | null; promisedMinutes: number;
  /** SKUs in stock (available > 0) and their substitution keys: searched, never read back. */
  drugCodes: string[]; substituteKeys: string[];
}

export interface MatchRequest {
  /** substitutionKey is set only on lines whose prescription allows generic substitution. */
  lines: { lineNo?: number; drugCode: string; quantity: number; substitutionKey?: string }[];
  near: GeoPoint;
  /** Pickup: the patient comes to the pharmacy, so its delivery radius does not apply. */
  mode?: 'delivery' | 'pickup';
  radiusKm: number;
  needsColdChain: boolean;
  /** Minute of the day (China time) the pharmacy must be open at. */
  openAtMinute: number;
  exclude?: string[];
  /** What the patient pays for these lines at a pharmacy's prices (the insurance pre-check). */
  patientPays?: (unitPrices: Map<string, number>) => number;
  weights?: ScoreWeights;
  size?: number;
}

/** Pharmacies open at the time, stocking every line, cold-chain capable where needed. */
function openAt(minute: number): object {
  return {
    bool: {
      minimum_should_match: 1,
      should: [
        { term: { is24h: true } },
        { bool: { filter: [{ term: { overnight: false } }, { range: { openMinute: { lte: minute } } }, { range: { closeMinute: { gt: minute } } }] } },
        { bool: { filter: [{ term: { overnight: true } }], minimum_should_match: 1, should: [{ range: { openMinute: { lte: minute } } }, { range: { closeMinute: { gt: minute } } }] } },
      ],
    },
  };
}

/** The SKU that fills a line here: the prescribed one when enough is available, else the cheapest allowed substitute. */
function fillLine(shelf: Shelf | undefined, l: MatchRequest['lines'][number]): string | null {
  const enough = (code: string) => (shelf?.available[code] ?? 0) >= l.quantity;
  if (enough(l.drugCode)) return l.drugCode;
  if (!l.substitutionKey) return null;
  const options = (shelf?.skusByKey[l.substitutionKey] ?? []).filter(enough).sort((a, b) => shelf!.prices[a] - shelf!.prices[b] || a.localeCompare(b));
  return options[0] ?? null;
}

const lineFilter = (l: MatchRequest['lines'][number]) =>
  l.substitutionKey ? { term: { substituteKeys: l.substitutionKey } } : { term: { drugCodes: l.drugCode } };

/** The basket's part of some pharmacies' shelves, from PostgreSQL. */
const basketShelves = (shelves: ShelfReader, codes: string[], m: Pick<MatchRequest, 'lines'>) =>
  shelves(codes, m.lines.map((l) => l.drugCode), [...new Set(m.lines.flatMap((l) => (l.substitutionKey ? [l.substitutionKey] : [])))]);

const geoSort = (near: GeoPoint) => ({ _geo_distance: { location: { lat: near.lat, lon: near.lng }, order: 'asc', unit: 'km' } });

/** Pages of nearest pharmacies are read until this many can fill the basket (or the radius runs out). */
const ENOUGH_CANDIDATES = 20;
const PAGE = 50;
const MAX_PAGES = 4;

/** Per hit, only these small doc-value columns are read: no stored `_source` is loaded at all. */
const HIT_FIELDS = ['code', 'name.raw', 'deliveryRadiusKm', 'promisedMinutes', 'acceptanceRate'];
interface HitFacts { code: string; name: string; deliveryRadiusKm: number; promisedMinutes: number; acceptanceRate: number | null; distanceKm: number }
function hitFacts(h: { fields?: Record<string, unknown[]>; sort?: unknown[] }): HitFacts {
  const f = (k: string) => h.fields?.[k]?.[0];
  return {
    code: f('code') as string, name: f('name.raw') as string, deliveryRadiusKm: Number(f('deliveryRadiusKm')),
    promisedMinutes: Number(f('promisedMinutes')), acceptanceRate: f('acceptanceRate') === undefined ? null : Number(f('acceptanceRate')),
    distanceKm: Number(h.sort?.[0]),
  };
}

/**
 * Candidates that can fill the whole basket, best first, each with its score breakdown
 * (domain/matching.ts): within the search radius and their own delivery radius, open, cold chain
 * where a line needs it. Elasticsearch picks the nearest pharmacies with every line in stock; their
 * prices and quantities are read from PostgreSQL (`shelves`), so a pharmacy short of a quantity is
 * dropped with live numbers, and the next page is read while too few can fill it.
 */
export async function matchPharmacies(es: Client, prefix: string, m: MatchRequest, shelves: ShelfReader): Promise<PharmacyCandidate[]> {
  const filter: object[] = [
    ...m.lines.map(lineFilter),
    { geo_distance: { distance: `${m.radiusKm}km`, location: { lat: m.near.lat, lon: m.near.lng } } },
    openAt(m.openAtMinute),
  ];
  if (m.needsColdChain) filter.push({ term: { coldChain: true } });
  const facts: CandidateFacts[] = [];
  let after: unknown[] | undefined;
  for (let page = 0; page < MAX_PAGES && facts.length < ENOUGH_CANDIDATES; page++) {
    const res = await es.search({
      index: stockAlias(prefix),
      size: PAGE,
      query: { bool: { filter, must_not: m.exclude?.length ? [{ terms: { code: m.exclude } }] : [] } },
      sort: [geoSort(m.near), { code: 'asc' }] as never,
      _source: false,
      docvalue_fields: HIT_FIELDS,
      track_total_hits: false,
      // Only what is read back crosses the wire and is parsed: the hits' columns and sort values.
      filter_path: ['took', 'hits.hits.fields', 'hits.hits.sort'],
      ...(after ? { search_after: after as never } : {}),
    });
    const found = res.hits?.hits ?? []; // filter_path drops `hits` altogether when nothing matched
    const hits = found.map(hitFacts);
    const shelf = await basketShelves(shelves, hits.map((h) => h.code), m);
    for (const h of hits) {
      const fact = candidateFacts(h, shelf.get(h.code), m);
      if (fact) facts.push(fact);
    }
    if (hits.length < PAGE) break;
    after = found[hits.length - 1].sort as unknown[];
  }
  return scoreCandidates(m.mode === 'pickup' ? facts : facts.filter(withinDeliveryRadius), m.radiusKm, m.weights);
}

function candidateFacts(hit: HitFacts, shelf: Shelf | undefined, m: MatchRequest): CandidateFacts | null {
  const fills = m.lines.map((l, i) => ({ lineNo: l.lineNo ?? i + 1, prescribed: l.drugCode, drugCode: fillLine(shelf, l) }));
  if (!shelf || fills.some((f) => f.drugCode === null)) return null; // sold out since indexed, or short of the quantity
  const sku = new Map(fills.map((f) => [f.prescribed, f.drugCode!]));
  const unitPrices = new Map(m.lines.map((l) => [l.drugCode, shelf.prices[sku.get(l.drugCode)!]]));
  const totalPriceFen = m.lines.reduce((sum, l) => sum + unitPrices.get(l.drugCode)! * l.quantity, 0);
  return {
    pharmacyCode: hit.code,
    name: hit.name,
    distanceKm: Math.round(hit.distanceKm * 1000) / 1000,
    deliveryRadiusKm: hit.deliveryRadiusKm,
    totalPriceFen,
    patientPaysFen: m.patientPays ? m.patientPays(unitPrices) : totalPriceFen,
    promisedMinutes: hit.promisedMinutes,
    stockMargin: Math.min(...m.lines.map((l) => shelf.available[sku.get(l.drugCode)!] / l.quantity)),
    acceptanceRate: hit.acceptanceRate,
    fills: fills as CandidateFacts['fills'],
  };
}

export interface CannotFill {
  /** Lines that no open pharmacy in range stocks at all. */
  missingLines: string[];
  /** When every line is stocked somewhere: the fewest pharmacies that together cover the basket. */
  split: { pharmacyCode: string; drugCodes: string[] }[];
}

/**
 * Why a basket cannot be filled by one pharmacy: which lines nobody in range has, or else the smallest
 * split that would cover it (greedy set cover over the nearest 200 pharmacies stocking any line). The
 * engine does not split orders by default; the split is reported so the hospital and patient can decide.
 */
export async function explainCannotFill(es: Client, prefix: string, m: Pick<MatchRequest, 'lines' | 'near' | 'radiusKm' | 'needsColdChain' | 'openAtMinute'>, shelves: ShelfReader): Promise<CannotFill> {
  const codes = m.lines.map((l) => l.drugCode);
  const filter: object[] = [
    { bool: { minimum_should_match: 1, should: m.lines.map(lineFilter) } },
    { geo_distance: { distance: `${m.radiusKm}km`, location: { lat: m.near.lat, lon: m.near.lng } } },
    openAt(m.openAtMinute),
  ];
  if (m.needsColdChain) filter.push({ term: { coldChain: true } });
  const res = await es.search({
    index: stockAlias(prefix), size: 200, query: { bool: { filter } }, _source: false, docvalue_fields: ['code'], track_total_hits: false,
    sort: [geoSort(m.near)] as never,
  });
  const near = res.hits.hits.map((h) => (h.fields as Record<string, string[]>).code[0]);
  const shelf = await basketShelves(shelves, near, m);
  const has = near.map((code) => ({ code, lines: new Set(m.lines.filter((l) => fillLine(shelf.get(code), l) !== null).map((l) => l.drugCode)) }));
  const stocked = new Set(has.flatMap((p) => [...p.lines]));
  const missingLines = codes.filter((c) => !stocked.has(c));
  if (missingLines.length) return { missingLines, split: [] };
  const left = new Set(codes);
  const split: CannotFill['split'] = [];
  while (left.size) {
    const best = has.reduce((a, b) => ([...b.lines].filter((c) => left.has(c)).length > [...a.lines].filter((c) => left.has(c)).length ? b : a));
    const covers = [...best.lines].filter((c) => left.has(c));
    split.push({ pharmacyCode: best.code, drugCodes: covers });
    covers.forEach((c) => left.delete(c));
  }
  return { missingLines, split };
}

/** A pharmacy's shelf in its search document: what it stocks, never a listing's business. */
const SHELF_FIELDS = ['drugCodes', 'substituteKeys'] as const;
type Listed = Omit<StockDoc, (typeof SHELF_FIELDS)[number]>;

export async function listPharmacies(es: Client, prefix: string, p: { city?: string; near?: GeoPoint; radiusKm?: number; size?: number }) {
  const filter: object[] = [];
  if (p.city) filter.push({ term: { city: p.city } });
  if (p.near) filter.push({ geo_distance: { distance: `${p.radiusKm ?? 10}km`, location: { lat: p.near.lat, lon: p.near.lng } } });
  const res = await es.search<StockDoc>({
    index: stockAlias(prefix),
    size: Math.min(p.size ?? 50, 200),
    query: { bool: { filter } },
    sort: p.near ? [{ _geo_distance: { location: { lat: p.near.lat, lon: p.near.lng }, order: 'asc', unit: 'km' } }] : [{ code: 'asc' }],
    _source: { excludes: [...SHELF_FIELDS] },
  });
  return res.hits.hits.map((h) => ({ ...(h._source as Listed), distanceKm: p.near ? Number(h.sort?.[0]) : undefined }));
}
