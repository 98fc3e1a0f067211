// Brand ↔ generic synonyms and Chinese bigrams, computed at ingest. The Elasticsearch distribution we
// run has no analysis-common module (no synonym, shingle or CJK-bigram filters), so what those filters
// would do at index time is done here, once, in one place.
import drugsJson from './data/drugs.json';
import type { Drug } from '../domain/types';

// Longest first, so 缓释胶囊 wins over 胶囊.
const DOSAGE_FORMS = [
  '吸入粉雾剂', '缓释胶囊', '肠溶胶囊', '干混悬剂', '口服溶液', '缓释片', '控释片', '肠溶片', '分散片', '咀嚼片', '口崩片', '泡腾片',
  '软胶囊', '混悬液', '混悬滴剂', '注射液', '滴眼液', '滴鼻液', '喷雾剂', '气雾剂', '吸入剂', '口服液', '乳胶剂', '颗粒', '胶囊',
  '软膏', '乳膏', '凝胶', '眼膏', '滴剂', '滴丸', '糖浆', '贴剂', '贴膏', '片', '丸', '栓', '散', '水',
];

/** The active ingredient(s) of a Chinese generic name: the name without its edition mark and dosage form. */
export function ingredientOf(genericNameZh: string): string {
  let name = genericNameZh.replace(/（[^）]*）$/u, '').replace(/^注射用/u, '');
  for (const form of DOSAGE_FORMS) {
    if (name.length > form.length && name.endsWith(form)) { name = name.slice(0, -form.length); break; }
  }
  return name;
}

/** Overlapping pairs of CJK characters of each name (布洛芬 → 布洛 洛芬), for partial and reordered input. */
export function cjkBigrams(...names: (string | null | undefined)[]): string[] {
  const out = new Set<string>();
  for (const name of names) {
    for (const run of (name ?? '').match(/[\u3400-\u9fff]+/gu) ?? []) {
      if (run.length === 1) out.add(run);
      for (let i = 0; i + 1 < run.length; i++) out.add(run.slice(i, i + 2));
    }
  }
  return [...out];
}

/** Ingredient → every brand name it is sold under in the reference catalogue. */
const BRANDS_BY_INGREDIENT = new Map<string, Set<string>>();
for (const d of drugsJson as Drug[]) {
  if (!d.brandNameZh) continue;
  const key = ingredientOf(d.genericNameZh);
  if (!BRANDS_BY_INGREDIENT.has(key)) BRANDS_BY_INGREDIENT.set(key, new Set());
  BRANDS_BY_INGREDIENT.get(key)!.add(d.brandNameZh);
}

/** What else a drug is called: its ingredient and the brands of that ingredient (芬必得 finds 布洛芬片). */
export function synonymsOf(d: Pick<Drug, 'genericNameZh' | 'brandNameZh'>): string[] {
  const ingredient = ingredientOf(d.genericNameZh);
  return [...new Set([ingredient, ...(BRANDS_BY_INGREDIENT.get(ingredient) ?? []), ...(d.brandNameZh ? [d.brandNameZh] : [])])];
}
