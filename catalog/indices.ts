// Elasticsearch index definitions. Versioned concrete indices sit behind an alias so a re-index can
// swap atomically. Only analysis built into the integ-test distribution is used (standard analyzer:
// CJK text becomes single characters, so phrase queries give substring search over Chinese names).
import type { Client } from '@elastic/elasticsearch';
import { createHash } from 'node:crypto';

export const drugAlias = (prefix: string) => `${prefix}-drugs`;
export const stockAlias = (prefix: string) => `${prefix}-pharmacy-stock`;

const text = { type: 'text', analyzer: 'standard' } as const;
const kw = { type: 'keyword' } as const;

export const DRUG_MAPPINGS = {
  dynamic: 'strict',
  properties: {
    code: kw,
    genericNameZh: { ...text, fields: { raw: kw } },
    genericNameEn: text,
    brandNameZh: { ...text, fields: { raw: kw } },
    pinyin: { ...kw, fields: { text } },
    pinyinInitials: kw,
    brandPinyinInitials: kw,
    /** Overlapping CJK character pairs of the names (catalog/synonyms.ts), space-separated. */
    nameBigrams: { type: 'text', analyzer: 'whitespace' },
    /** The ingredient and every brand it is sold under: brand ↔ generic search. */
    synonyms: { type: 'text', analyzer: 'standard', fields: { raw: kw } },
    atcCode: kw,
    category: kw,
    dosageForm: kw,
    spec: { type: 'keyword', index: false },
    unit: { type: 'keyword', index: false },
    rxClass: kw,
    insuranceClass: kw,
    insuranceCode: kw,
    approvalNumber: kw,
    manufacturer: text,
    storage: kw,
    onlineSaleAllowed: { type: 'boolean' },
    bannedReason: kw,
    priceFen: { type: 'integer' },
    chronic: { type: 'boolean' },
    maxDailyDoseMg: { type: 'float', index: false },
    pregnancyCategory: kw,
    minAgeYears: { type: 'integer' },
  },
} as const;

export const STOCK_MAPPINGS = {
  dynamic: 'strict',
  properties: {
    code: kw,
    name: { ...text, fields: { raw: kw } },
    city: kw,
    district: kw,
    address: { type: 'keyword', index: false },
    location: { type: 'geo_point' },
    coldChain: { type: 'boolean' },
    is24h: { type: 'boolean' },
    openingHours: { type: 'object', enabled: false },
    /** Opening hours as minutes of the day (China time); overnight when it closes after midnight. */
    openMinute: { type: 'integer' },
    closeMinute: { type: 'integer' },
    overnight: { type: 'boolean' },
    deliveryRadiusKm: { type: 'float' },
    /** Share of recent offers accepted (30 days); null without history. */
    acceptanceRate: { type: 'float' },
    promisedMinutes: { type: 'integer' },
    /** Drugs with available stock (on hand − reserved > 0) at the last sync. Prices and quantities are
     *  not projected: matching reads them from PostgreSQL (catalog/shelf.ts). */
    drugCodes: kw,
    /** Their substitution keys (domain/matching.ts substitutionKey), for lines that allow substitution. */
    substituteKeys: kw,
  },
} as const;

/** Identifies a mapping: stored in the index's _meta, so a changed mapping is noticed at start-up. */
export function mappingHash(mappings: object): string {
  return createHash('sha256').update(JSON.stringify(mappings)).digest('hex').slice(0, 12);
}

/** The concrete indices behind an alias (normally one). */
export async function aliasTargets(es: Client, alias: string): Promise<string[]> {
  if (!(await es.indices.existsAlias({ name: alias }))) return [];
  return Object.keys(await es.indices.getAlias({ name: alias }));
}

/** The next versioned name for an alias: `<alias>-v<n>`, one above any that exists. */
export async function nextIndexName(es: Client, alias: string): Promise<string> {
  const existing = Object.keys(await es.indices.get({ index: `${alias}-v*`, allow_no_indices: true, expand_wildcards: 'all' }));
  const versions = existing.map((i) => Number(/-v(\d+)$/.exec(i)?.[1] ?? 0));
  return `${alias}-v${Math.max(0, ...versions) + 1}`;
}

export async function createVersionedIndex(es: Client, alias: string, mappings: object): Promise<string> {
  const index = await nextIndexName(es, alias);
  await es.indices.create({
    index,
    settings: { number_of_shards: 1, number_of_replicas: 0 },
    mappings: { ...(mappings as object), _meta: { mappingHash: mappingHash(mappings) } } as never,
  });
  return index;
}

/** Whether the index behind the alias was built with these mappings. */
export async function aliasIsCurrent(es: Client, alias: string, mappings: object): Promise<boolean> {
  const [index] = await aliasTargets(es, alias);
  if (!index) return false;
  const m = await es.indices.getMapping({ index });
  return (m[index]?.mappings?._meta as { mappingHash?: string } | undefined)?.mappingHash === mappingHash(mappings);
}

/**
 * Creates the alias and its first versioned index when missing. An alias built with older mappings is
 * left serving; catalog/reindex.ts rebuilds it behind the alias (engine start-up does that).
 */
export async function ensureIndex(es: Client, alias: string, mappings: object): Promise<string> {
  const [current] = await aliasTargets(es, alias);
  if (current) return current;
  const index = await createVersionedIndex(es, alias, mappings);
  await es.indices.putAlias({ index, name: alias });
  return index;
}

export async function ensureCatalogIndices(es: Client, prefix: string): Promise<void> {
  await ensureIndex(es, drugAlias(prefix), DRUG_MAPPINGS);
  await ensureIndex(es, stockAlias(prefix), STOCK_MAPPINGS);
}
