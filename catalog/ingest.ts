// Loads the catalogue: drug master data and pharmacy stock into PostgreSQL (the source of truth),
// then indexes both into Elasticsearch with the bulk helper. Idempotent: re-running upserts.
import type { Client } from '@elastic/elasticsearch';
import type { EntityManager } from '@mikro-orm/postgresql';
import { pinyin } from 'pinyin-pro';
import type { Drug, PharmacyInfo } from '../domain/types';
import { drugAlias, ensureCatalogIndices, stockAlias } from './indices';
import type { StockDoc } from './queries';
import { minuteOfDay } from '../domain/matching';
import { cjkBigrams, synonymsOf } from './synonyms';

export function pinyinOf(zh: string): { full: string; initials: string } {
  const full = pinyin(zh, { toneType: 'none', type: 'array', nonZh: 'removed' }).join('').toLowerCase();
  const initials = pinyin(zh, { pattern: 'first', toneType: 'none', type: 'array', nonZh: 'removed' }).join('').toLowerCase();
  return { full, initials };
}

export function drugDocument(d: Drug) {
  const generic = pinyinOf(d.genericNameZh);
  return {
    ...d,
    pinyin: generic.full,
    pinyinInitials: generic.initials,
    brandPinyinInitials: d.brandNameZh ? pinyinOf(d.brandNameZh).initials : null,
    nameBigrams: cjkBigrams(d.genericNameZh, d.brandNameZh).join(' '),
    synonyms: synonymsOf(d),
  };
}

/** Deterministic PRNG (mulberry32) so a seed always yields the same stock. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface StockRow { pharmacyCode: string; drugCode: string; onHand: number; priceFen: number }

/** Every pharmacy stocks most sellable drugs; cold-chain drugs only where it can keep them at 2–8℃. */
export function generateStock(drugs: Drug[], pharmacies: PharmacyInfo[], seed = 20261123): StockRow[] {
  const rand = prng(seed);
  const rows: StockRow[] = [];
  for (const ph of pharmacies) {
    for (const d of drugs) {
      if (!d.onlineSaleAllowed) continue;
      if (d.storage === 'cold' && !ph.coldChain) continue;
      if (rand() > 0.8) continue;
      rows.push({
        pharmacyCode: ph.code,
        drugCode: d.code,
        onHand: 5 + Math.floor(rand() * 60),
        priceFen: Math.round(d.priceFen * (0.88 + rand() * 0.27)),
      });
    }
  }
  return rows;
}

export async function upsertCatalogue(em: EntityManager, drugs: Drug[], pharmacies: PharmacyInfo[], stock: StockRow[]): Promise<void> {
  const knex = em.getKnex();
  await knex.transaction(async (trx) => {
    for (let i = 0; i < drugs.length; i += 500) {
      await trx('drug')
        .insert(drugs.slice(i, i + 500).map((d) => ({ code: d.code, generic_name_zh: d.genericNameZh, data: JSON.stringify(d), updated_at: new Date() })))
        .onConflict('code').merge();
    }
    for (const p of pharmacies) {
      await trx('pharmacy')
        .insert({
          id: trx.raw('gen_random_uuid()'), code: p.code, name: p.name, city: p.city, district: p.district, address: p.address,
          lat: p.lat, lng: p.lng, phone: p.phone, opening_hours: JSON.stringify(p.openingHours), is24h: p.is24h,
          cold_chain: p.coldChain, kind: p.kind, promised_minutes: p.promisedMinutes, delivery_radius_km: p.deliveryRadiusKm ?? 5,
        })
        .onConflict('code').merge(['name', 'city', 'district', 'address', 'lat', 'lng', 'phone', 'opening_hours', 'is24h', 'cold_chain', 'kind', 'promised_minutes', 'delivery_radius_km']);
    }
    const ids = new Map<string, string>((await trx('pharmacy').select('id', 'code')).map((r: { id: string; code: string }) => [r.code, r.id]));
    // Existing stock rows keep their quantities: a re-seed must not undo reservations in flight.
    for (let i = 0; i < stock.length; i += 1000) {
      await trx('stock')
        .insert(stock.slice(i, i + 1000).map((s) => ({ pharmacy_id: ids.get(s.pharmacyCode), drug_code: s.drugCode, on_hand: s.onHand, reserved: 0, price_fen: s.priceFen, updated_at: new Date() })))
        .onConflict(['pharmacy_id', 'drug_code']).ignore();
    }
  });
}

/** Builds the search document of each pharmacy from PostgreSQL stock (available > 0). */
export async function stockDocuments(em: EntityManager, pharmacyIds?: string[]): Promise<StockDoc[]> {
  const knex = em.getKnex();
  const q = knex('pharmacy as p')
    .leftJoin('stock as s', 's.pharmacy_id', 'p.id')
    .leftJoin('drug as d', 'd.code', 's.drug_code')
    .select('p.*',
      knex.raw(`coalesce(array_agg(s.drug_code order by s.drug_code) filter (where s.on_hand - s.reserved > 0), '{}') as drug_codes`),
      // The same key as domain/matching.ts substitutionKey, computed where the drug rows are.
      knex.raw(`coalesce(array_agg(distinct drug_substitution_key(d.data)) filter (where s.on_hand - s.reserved > 0), '{}') as substitute_keys`),
      knex.raw(`(select avg(case when fo.status in ('accepted', 'dispensed') then 1.0 else 0.0 end) from fulfilment_order fo
                  where fo.pharmacy_id = p.id and fo.status in ('accepted', 'dispensed', 'declined', 'expired', 'short')
                    and fo.offered_at > now() - interval '30 days') as acceptance_rate`))
    .groupBy('p.id');
  if (pharmacyIds) q.whereIn('p.id', pharmacyIds);
  const rows: Record<string, any>[] = await q;
  return rows.map((r) => ({
    code: r.code, name: r.name, city: r.city, district: r.district, address: r.address,
    location: { lat: r.lat, lon: r.lng }, coldChain: r.cold_chain, is24h: r.is24h, openingHours: r.opening_hours,
    openMinute: minuteOfDay(r.opening_hours.open), closeMinute: minuteOfDay(r.opening_hours.close),
    overnight: minuteOfDay(r.opening_hours.close) <= minuteOfDay(r.opening_hours.open) && !r.is24h,
    deliveryRadiusKm: r.delivery_radius_km, acceptanceRate: r.acceptance_rate === null ? null : Number(r.acceptance_rate),
    promisedMinutes: r.promised_minutes, drugCodes: r.drug_codes, substituteKeys: r.substitute_keys,
  }));
}

/** Bulk-indexes into an index or alias and refreshes it; any failed document fails the call. */
export async function indexInto<T extends object>(es: Client, index: string, docs: T[], id: (d: T) => string): Promise<void> {
  let firstFailure = '';
  const result = await es.helpers.bulk({
    datasource: docs,
    onDocument: (d) => ({ index: { _index: index, _id: id(d) } }),
    onDrop: (drop) => { firstFailure ||= `${drop.error?.type}: ${drop.error?.reason}`; },
    refreshOnCompletion: index,
  });
  if (result.failed > 0) throw new Error(`bulk indexing into ${index}: ${result.failed} of ${result.total} documents failed (first: ${firstFailure})`);
}

export async function indexDrugs(es: Client, prefix: string, drugs: Drug[]): Promise<void> {
  await indexInto(es, drugAlias(prefix), drugs.map(drugDocument), (d) => d.code);
}

export async function indexStock(es: Client, prefix: string, docs: StockDoc[]): Promise<void> {
  await indexInto(es, stockAlias(prefix), docs, (d) => d.code);
}

export async function loadDemoData(): Promise<{ drugs: Drug[]; pharmacies: PharmacyInfo[] }> {
  const drugs = (await import('./data/drugs.json')).default as Drug[];
  const pharmacies = (await import('./data/pharmacies.json')).default as PharmacyInfo[];
  return { drugs, pharmacies };
}

/** Seeds PostgreSQL and Elasticsearch with the demo catalogue. */
export async function seedCatalogue(em: EntityManager, es: Client, prefix: string): Promise<{ drugs: number; pharmacies: number; stockRows: number }> {
  const { drugs, pharmacies } = await loadDemoData();
  const stock = generateStock(drugs, pharmacies);
  await upsertCatalogue(em, drugs, pharmacies, stock);
  await ensureCatalogIndices(es, prefix);
  await indexDrugs(es, prefix, drugs);
  await indexStock(es, prefix, await stockDocuments(em));
  return { drugs: drugs.length, pharmacies: pharmacies.length, stockRows: stock.length };
}
