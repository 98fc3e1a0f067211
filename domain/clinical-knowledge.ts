// The clinical knowledge the automated pre-review reads: the shape of the versioned files in
// catalog/data/clinical (docs/review-checks.md) and the one object the pure checks take as input.
// Pure: parsing and validation only; reading files and PostgreSQL is catalog/clinical.ts.
import { z } from 'zod';

export const FindingSeveritySchema = z.enum(['info', 'warning', 'block']);
export type FindingSeverity = z.infer<typeof FindingSeveritySchema>;

/** Selects catalogue drugs: `atc` (a prefix of one of the drug's ingredient codes) or `names` (a
 * substring of the Chinese generic name); `specHas` / `nameHas`, when given, must hold as well. */
export const DrugMatcherSchema = z.object({
  label: z.string().min(1),
  atc: z.array(z.string().min(1)).optional(),
  names: z.array(z.string().min(1)).optional(),
  specHas: z.array(z.string().min(1)).optional(),
  nameHas: z.array(z.string().min(1)).optional(),
}).refine((m) => (m.atc?.length ?? 0) + (m.names?.length ?? 0) > 0, 'a matcher needs atc or names');
export type DrugMatcher = z.infer<typeof DrugMatcherSchema>;

const id = z.string().min(1).max(80);

export const InteractionSchema = z.object({
  id, a: DrugMatcherSchema, b: DrugMatcherSchema, severity: FindingSeveritySchema,
  mechanism: z.string().min(1), effectZh: z.string().min(1), effect: z.string().min(1), recommendation: z.string().min(1),
  refs: z.array(z.string()).min(1),
});
export const ProductSchema = z.object({
  id, match: DrugMatcherSchema, note: z.string().optional(),
  ingredients: z.array(z.object({ atc: z.string().nullable(), zh: z.string().min(1), en: z.string().min(1), mgPerUnit: z.number().positive().optional() })).min(1),
});
export const DuplicateSchema = z.object({
  id, kind: z.enum(['ingredient', 'atc4', 'group', 'exempt']), atc: z.array(z.string()), severity: FindingSeveritySchema,
  label: z.string().min(1), note: z.string().min(1),
});
const range = z.tuple([z.number().nonnegative(), z.number().positive()]).refine(([lo, hi]) => lo <= hi, 'min above max');
export const DoseSchema = z.object({
  id, match: DrugMatcherSchema, note: z.string().optional(), refs: z.array(z.string()).min(1),
  adult: z.object({ minMgPerDay: z.number().nonnegative(), maxMgPerDay: z.number().positive(), maxMgPerKgPerDay: z.number().positive().optional() })
    .refine((a) => a.minMgPerDay <= a.maxMgPerDay, 'min above max').optional(),
  paediatric: z.array(z.object({
    fromYears: z.number().nonnegative(), toYears: z.number().positive(),
    mgPerKgPerDay: range.optional(), mgPerDay: range.optional(), maxMgPerDay: z.number().positive().optional(),
  })).optional(),
  weekly: z.object({ maxMgPerWeek: z.number().positive(), frequencies: z.array(z.string().min(1)).min(1) }).optional(),
});
export const AllergyClassSchema = z.object({
  id, zh: z.string().min(1), en: z.string().min(1), terms: z.array(z.string().min(1)).min(1), members: DrugMatcherSchema, note: z.string(),
  crossReactive: z.array(z.object({ match: DrugMatcherSchema, severity: FindingSeveritySchema, note: z.string().min(1) })),
});
export const ContraindicationSchema = z.object({
  id, kind: z.enum(['age', 'pregnancy', 'lactation']), match: DrugMatcherSchema, severity: FindingSeveritySchema, reason: z.string().min(1),
  belowYears: z.number().positive().optional(), fromYears: z.number().positive().optional(),
}).refine((c) => c.kind !== 'age' || (c.belowYears === undefined) !== (c.fromYears === undefined), 'an age entry has exactly one of belowYears, fromYears');
export const RenalSchema = z.object({
  id, match: DrugMatcherSchema, metric: z.enum(['egfr', 'crcl']), refs: z.array(z.string()).min(1),
  bands: z.array(z.object({ below: z.number().positive(), severity: FindingSeveritySchema, advice: z.string().min(1), maxMgPerDay: z.number().positive().optional() })).min(1),
});

export type InteractionEntry = z.infer<typeof InteractionSchema>;
export type ProductEntry = z.infer<typeof ProductSchema>;
export type DuplicateEntry = z.infer<typeof DuplicateSchema>;
export type DoseEntry = z.infer<typeof DoseSchema>;
export type AllergyClass = z.infer<typeof AllergyClassSchema>;
export type ContraindicationEntry = z.infer<typeof ContraindicationSchema>;
export type RenalEntry = z.infer<typeof RenalSchema>;

/** Each data set, its file name stem and the schema of one entry. */
export const DATASETS = {
  'interactions': InteractionSchema,
  'ingredients': ProductSchema,
  'duplicate-therapy': DuplicateSchema,
  'doses': DoseSchema,
  'allergy-classes': AllergyClassSchema,
  'contraindications': ContraindicationSchema,
  'renal': RenalSchema,
} as const;
export type DatasetName = keyof typeof DATASETS;
export const DATASET_NAMES = Object.keys(DATASETS) as DatasetName[];

/** One file (`<dataset>.v<version>.json`): a header and its entries. */
export interface KnowledgeSet {
  dataset: DatasetName;
  version: number;
  /** SHA-256 of the file's canonical JSON: the same version must always mean the same content. */
  sha256: string;
  /** Everything in the file besides `entries` (description, released, refKeys). */
  meta: Record<string, unknown>;
  entries: unknown[];
}

export interface ClinicalKnowledge {
  versions: Partial<Record<DatasetName, { version: number; sha256: string }>>;
  /** Data sets that were not loaded: their checks did not run. */
  missing: DatasetName[];
  interactions: InteractionEntry[];
  products: ProductEntry[];
  duplicates: DuplicateEntry[];
  doses: DoseEntry[];
  allergies: AllergyClass[];
  contraindications: ContraindicationEntry[];
  renal: RenalEntry[];
}

const HeaderSchema = z.object({
  dataset: z.enum(DATASET_NAMES as [DatasetName, ...DatasetName[]]),
  version: z.number().int().positive(),
  released: z.iso.date(),
  description: z.string().min(1),
  entries: z.array(z.unknown()),
}).loose();

export class KnowledgeFileError extends Error {}

/** Validates one parsed file against its data set's schema; `expected` is what the file name says. */
export function parseKnowledgeFile(raw: unknown, sha256: string, expected?: { dataset: string; version: number }): KnowledgeSet {
  const head = HeaderSchema.safeParse(raw);
  if (!head.success) throw new KnowledgeFileError(`not a clinical knowledge file: ${head.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const { dataset, version, entries, ...meta } = head.data;
  if (expected && (expected.dataset !== dataset || expected.version !== version)) {
    throw new KnowledgeFileError(`file is named ${expected.dataset}.v${expected.version} but holds ${dataset} version ${version}`);
  }
  const schema = DATASETS[dataset];
  const parsed = entries.map((e, i) => {
    const r = schema.safeParse(e);
    if (!r.success) throw new KnowledgeFileError(`${dataset} entry ${i} (${(e as any)?.id ?? '?'}): ${r.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`);
    return r.data as { id: string };
  });
  const ids = new Set<string>();
  for (const e of parsed) {
    if (ids.has(e.id)) throw new KnowledgeFileError(`${dataset}: duplicate entry id ${e.id}`);
    ids.add(e.id);
  }
  return { dataset, version, sha256, meta, entries: parsed };
}

/** Puts loaded sets together as the checks' input; a data set not given is listed as missing. */
export function assembleKnowledge(sets: KnowledgeSet[]): ClinicalKnowledge {
  const by = new Map(sets.map((s) => [s.dataset, s]));
  const entries = <T>(name: DatasetName) => (by.get(name)?.entries ?? []) as T[];
  return {
    versions: Object.fromEntries(sets.map((s) => [s.dataset, { version: s.version, sha256: s.sha256 }])),
    missing: DATASET_NAMES.filter((n) => !by.has(n)),
    interactions: entries('interactions'),
    products: entries('ingredients'),
    duplicates: entries('duplicate-therapy'),
    doses: entries('doses'),
    allergies: entries('allergy-classes'),
    contraindications: entries('contraindications'),
    renal: entries('renal'),
  };
}
