// The catalogue's queries: drug search and pharmacy matching. The one home for what we ask Elasticsearch.
import type { Client } from '@elastic/elasticsearch';
import { drugAlias, stockAlias } from './indices';
import type { Drug, GeoPoint } from '../domain/types';
import { rankCandidates, type PharmacyCandidate } from '../domain/matching';

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
    highlight: { fields: { genericNameZh: {}, brandNameZh: {}, genericNameEn: {} } },
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
  openingHours: { open: string; close: string }; promisedMinutes: number;
  drugCodes: string[]; prices: Record<string, number>;
}

export interface MatchRequest {
  lines: { drugCode: string; quantity: number }[];
  near: GeoPoint;
  radiusKm: number;
  needsColdChain: boolean;
  exclude?: string[];
  size?: number;
}

/** Pharmacies that stock every line within the radius, ranked by domain/matching. */
export async function matchPharmacies(es: Client, prefix: string, m: MatchRequest): Promise<PharmacyCandidate[]> {
  const filter: object[] = [
    ...m.lines.map((l) => ({ term: { drugCodes: l.drugCode } })),
    { geo_distance: { distance: `${m.radiusKm}km`, location: { lat: m.near.lat, lon: m.near.lng } } },
  ];
  if (m.needsColdChain) filter.push({ term: { coldChain: true } });
  const res = await es.search<StockDoc>({
    index: stockAlias(prefix),
    size: m.size ?? 20,
    query: { bool: { filter, must_not: m.exclude?.length ? [{ terms: { code: m.exclude } }] : [] } },
    sort: [{ _geo_distance: { location: { lat: m.near.lat, lon: m.near.lng }, order: 'asc', unit: 'km' } }],
  });
  return rankCandidates(
    res.hits.hits.map((h) => {
      const doc = h._source!;
      return {
        pharmacyCode: doc.code,
        name: doc.name,
        distanceKm: Math.round(Number(h.sort?.[0]) * 1000) / 1000,
        totalPriceFen: m.lines.reduce((sum, l) => sum + (doc.prices[l.drugCode] ?? 0) * l.quantity, 0),
        promisedMinutes: doc.promisedMinutes,
      };
    }),
  );
}

export async function listPharmacies(es: Client, prefix: string, p: { city?: string; near?: GeoPoint; radiusKm?: number; size?: number }) {
  const filter: object[] = [];
  if (p.city) filter.push({ term: { city: p.city } });
  if (p.near) filter.push({ geo_distance: { distance: `${p.radiusKm ?? 10}km`, location: { lat: p.near.lat, lon: p.near.lng } } });
  const res = await es.search<StockDoc>({
    index: stockAlias(prefix),
    size: Math.min(p.size ?? 50, 200),
    query: { bool: { filter } },
    sort: p.near ? [{ _geo_distance: { location: { lat: p.near.lat, lon: p.near.lng }, order: 'asc', unit: 'km' } }] : [{ code: 'asc' }],
    _source: { excludes: ['prices', 'drugCodes'] },
  });
  return res.hits.hits.map((h) => ({ ...(h._source as Omit<StockDoc, 'prices' | 'drugCodes'>), distanceKm: p.near ? Number(h.sort?.[0]) : undefined }));
}
