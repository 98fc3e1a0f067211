// Elasticsearch index definitions. Versioned concrete indices sit behind an alias so a re-index can
// swap atomically. Only analysis built into the integ-test distribution is used (standard analyzer:
// CJK text becomes single characters, so phrase queries give substring search over Chinese names).
import type { Client } from '@elastic/elasticsearch';

export const DRUG_INDEX_VERSION = 1;
export const STOCK_INDEX_VERSION = 1;

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
    promisedMinutes: { type: 'integer' },
    /** Drugs with available stock (on hand − reserved > 0) at the last sync. */
    drugCodes: kw,
    /** drugCode → unit price in fen; returned, never searched. */
    prices: { type: 'object', enabled: false },
  },
} as const;

/** Creates the versioned index and points the alias at it, if the alias does not exist yet. */
export async function ensureIndex(es: Client, alias: string, version: number, mappings: object): Promise<string> {
  const index = `${alias}-v${version}`;
  if (await es.indices.existsAlias({ name: alias })) return index;
  if (!(await es.indices.exists({ index }))) {
    await es.indices.create({
      index,
      settings: { number_of_shards: 1, number_of_replicas: 0 },
      mappings: mappings as never,
    });
  }
  await es.indices.putAlias({ index, name: alias });
  return index;
}

export async function ensureCatalogIndices(es: Client, prefix: string): Promise<void> {
  await ensureIndex(es, drugAlias(prefix), DRUG_INDEX_VERSION, DRUG_MAPPINGS);
  await ensureIndex(es, stockAlias(prefix), STOCK_INDEX_VERSION, STOCK_MAPPINGS);
}
