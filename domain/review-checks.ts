// Automated pre-review (智能审方): findings a pharmacist sees before deciding. The pharmacist decides;
// findings never approve or reject on their own. Pure: the clinical knowledge (catalog/data/clinical,
// loaded into PostgreSQL) is an input, so every check is testable against the real files without services.
// Every rule, its severity logic and the data formats: docs/review-checks.md.
import type { Drug } from './types';
import type { PrescriptionSubmission } from './prescription';
import type {
  ClinicalKnowledge, DatasetName, DoseEntry, DrugMatcher, DuplicateEntry, FindingSeverity, ProductEntry,
} from './clinical-knowledge';

export type { FindingSeverity } from './clinical-knowledge';
export type FindingRule =
  | 'INTERACTION' | 'DUPLICATE_THERAPY' | 'DOSE_HIGH' | 'DOSE_LOW' | 'DOSE_FREQUENCY' | 'ALLERGY' | 'AGE'
  | 'PREGNANCY' | 'LACTATION' | 'RENAL' | 'RESTRICTED' | 'KNOWLEDGE_MISSING';

/** Where a finding comes from: the knowledge entry and version, and the values compared. */
export interface FindingEvidence {
  dataset: DatasetName | 'catalogue' | 'legacy';
  version: number | null;
  entryId: string | null;
  [value: string]: unknown;
}

export interface ReviewFinding {
  rule: FindingRule;
  /** The same as `rule`; the name the first stored flags used, kept for their readers. */
  code: FindingRule;
  severity: FindingSeverity;
  /** Indexes into the prescription's `lines` (0-based, as in `$.lines[i]`). */
  lines: number[];
  drugCodes: string[];
  message: string;
  messageEn: string;
  evidence: FindingEvidence;
}
/** What `prescription.flags` stores. */
export type ReviewFlag = ReviewFinding;
export type FlagSeverity = FindingSeverity;

const SEVERITY_RANK: Record<FindingSeverity, number> = { block: 0, warning: 1, info: 2 };
const worst = (a: FindingSeverity, b: FindingSeverity) => (SEVERITY_RANK[a] <= SEVERITY_RANK[b] ? a : b);

/**
 * Reads stored flags of any vintage as findings. The first format had `code`, severity
 * `warning | serious` and no evidence: `serious` is read as `block`, `DOSE` as `DOSE_HIGH`.
 */
export function readFindings(stored: unknown): ReviewFinding[] {
  if (!Array.isArray(stored)) return [];
  return stored.map((raw) => {
    const f = raw as Omit<Partial<ReviewFinding>, 'severity' | 'code' | 'rule'> & { severity?: string; code?: string; rule?: string };
    const named = f.rule ?? f.code ?? 'RESTRICTED';
    const rule = (named === 'DOSE' ? 'DOSE_HIGH' : named) as FindingRule;
    const severity: FindingSeverity = f.severity === 'serious' ? 'block' : (['info', 'warning', 'block'].includes(f.severity as string) ? f.severity as FindingSeverity : 'warning');
    return {
      rule, code: rule, severity, lines: f.lines ?? [], drugCodes: f.drugCodes ?? [],
      message: f.message ?? '', messageEn: f.messageEn ?? f.message ?? '',
      evidence: f.evidence ?? { dataset: 'legacy', version: null, entryId: null },
    };
  });
}

export const countBySeverity = (findings: ReviewFinding[]) => ({
  block: findings.filter((f) => f.severity === 'block').length,
  warning: findings.filter((f) => f.severity === 'warning').length,
  info: findings.filter((f) => f.severity === 'info').length,
});

// ---- how a prescription line looks to the checks ---------------------------------------------------

type Line = PrescriptionSubmission['lines'][number];
interface View {
  i: number;
  line: Line;
  drug: Drug;
  /** The product entry (combination products, TCM with chemical ingredients) or null: a single ingredient. */
  product: ProductEntry | null;
  /** Ingredient ATC codes: the product's listed ones, or the drug's own code. */
  ingredients: string[];
  /** Ingredients plus the drug's own code: what matchers look at. */
  codes: string[];
  /** Names an allergy can name: generic names and listed ingredients. */
  names: string[];
}

function selects(m: DrugMatcher, v: { drug: Drug; codes: string[] }): boolean {
  const byCode = m.atc?.some((p) => v.codes.some((c) => c.startsWith(p))) ?? false;
  const byName = m.names?.some((n) => v.drug.genericNameZh.includes(n)) ?? false;
  if (!byCode && !byName) return false;
  if (m.specHas && !m.specHas.some((s) => v.drug.spec.replace(/\s/g, '').includes(s))) return false;
  if (m.nameHas && !m.nameHas.some((s) => v.drug.genericNameZh.includes(s))) return false;
  return true;
}

function viewOf(i: number, line: Line, drug: Drug, k: ClinicalKnowledge): View {
  const product = k.products.find((p) => selects(p.match, { drug, codes: [drug.atcCode] })) ?? null;
  const ingredients = product
    ? [...new Set(product.ingredients.map((x) => x.atc).filter((x): x is string => !!x))]
    : [drug.atcCode];
  const names = [drug.genericNameZh, drug.genericNameEn.toLowerCase(), ...(product?.ingredients.flatMap((x) => [x.zh, x.en.toLowerCase()]) ?? [])];
  return { i, line, drug, product, ingredients, codes: [...new Set([...ingredients, drug.atcCode])], names };
}

/** Whether a knowledge matcher selects a catalogue drug (through its listed ingredients, if any). */
export function drugMatches(m: DrugMatcher, drug: Drug, k: ClinicalKnowledge): boolean {
  return selects(m, viewOf(-1, {} as Line, drug, k));
}

/** Age in years from whole months, exact at birthdays: "under 18" means before the 18th birthday. */
export function ageYearsExact(birthDate: string, at: Date): number {
  const b = new Date(`${birthDate}T00:00:00Z`);
  let months = (at.getUTCFullYear() - b.getUTCFullYear()) * 12 + (at.getUTCMonth() - b.getUTCMonth());
  if (at.getUTCDate() < b.getUTCDate()) months -= 1;
  return months / 12;
}

/** Cockcroft-Gault creatinine clearance (mL/min) from serum creatinine in µmol/L. */
export function cockcroftGault(ageYears: number, weightKg: number, female: boolean, creatinineUmolL: number): number {
  return ((140 - ageYears) * weightKg * (female ? 0.85 : 1) * 88.4) / (72 * creatinineUmolL);
}

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;
const dailyMg = (line: Line) => (line.doseMg === undefined ? null : round(line.doseMg * line.timesPerDay, 6));
const normFreq = (s: string) => s.toLowerCase().replace(/\s/g, '');

// ---- the checks ----------------------------------------------------------------------------------------

export function automatedReview(rx: PrescriptionSubmission, drugs: Map<string, Drug>, now: Date, k: ClinicalKnowledge): ReviewFinding[] {
  const out: ReviewFinding[] = [];
  const ver = (d: DatasetName) => k.versions[d]?.version ?? null;
  const push = (f: Omit<ReviewFinding, 'code' | 'drugCodes'>, views: View[]) =>
    out.push({ ...f, code: f.rule, drugCodes: views.map((v) => v.drug.code) });

  const views = rx.lines.flatMap((l, i) => {
    const drug = drugs.get(l.drugCode);
    return drug ? [viewOf(i, l, drug, k)] : [];
  });
  const patient = rx.patient as PrescriptionSubmission['patient'];
  const age = ageYearsExact(patient.birthDate, now);

  if (k.missing.length) {
    out.push({
      rule: 'KNOWLEDGE_MISSING', code: 'KNOWLEDGE_MISSING', severity: 'warning', lines: [], drugCodes: [],
      message: `临床知识库未加载：${k.missing.join('、')}，相应检查未执行`,
      messageEn: `clinical knowledge not loaded (${k.missing.join(', ')}): those checks did not run`,
      evidence: { dataset: 'catalogue', version: null, entryId: null, missing: k.missing },
    });
  }

  // Pairs: interactions and duplicate therapy.
  for (let x = 0; x < views.length; x++) {
    for (let y = x + 1; y < views.length; y++) {
      const [p, q] = [views[x], views[y]];
      for (const e of k.interactions) {
        const forward = selects(e.a, p) && selects(e.b, q);
        if (!forward && !(selects(e.a, q) && selects(e.b, p))) continue;
        const [lp, lq] = forward ? [e.a.label, e.b.label] : [e.b.label, e.a.label];
        push({
          rule: 'INTERACTION', severity: e.severity, lines: [p.i, q.i],
          message: `${p.drug.genericNameZh} + ${q.drug.genericNameZh}：${e.effectZh}（${lp} × ${lq}）`,
          messageEn: `${p.drug.genericNameEn} + ${q.drug.genericNameEn}: ${e.effect}. ${e.recommendation}`,
          evidence: { dataset: 'interactions', version: ver('interactions'), entryId: e.id, a: e.a.label, b: e.b.label, mechanism: e.mechanism, recommendation: e.recommendation, refs: e.refs },
        }, [p, q]);
      }
      const dup = duplicateOf(p, q, k.duplicates);
      if (dup) {
        push({
          rule: 'DUPLICATE_THERAPY', severity: dup.entry.severity, lines: [p.i, q.i],
          message: `${p.drug.genericNameZh} 与 ${q.drug.genericNameZh} 重复用药（${dup.entry.label}，${dup.shared}）`,
          messageEn: `${p.drug.genericNameEn} and ${q.drug.genericNameEn}: duplicate therapy (${dup.basis} ${dup.shared}): ${dup.entry.note}`,
          evidence: { dataset: 'duplicate-therapy', version: ver('duplicate-therapy'), entryId: dup.entry.id, basis: dup.basis, shared: dup.shared, atc: [p.drug.atcCode, q.drug.atcCode] },
        }, [p, q]);
      }
    }
  }

  for (const v of views) {
    doseChecks(v, age, patient.weightKg, k, ver('doses'), push);
    allergyChecks(v, patient.allergies ?? [], k, ver('allergy-classes'), push);
    contraindicationChecks(v, age, patient, k, ver('contraindications'), push);
    renalChecks(v, age, patient, k, ver('renal'), push);
    if (v.drug.rxClass === 'Rx' && v.drug.storage === 'cold') {
      push({
        rule: 'RESTRICTED', severity: 'info', lines: [v.i],
        message: `${v.drug.genericNameZh} 需冷链（2–8℃）配送`, messageEn: `${v.drug.genericNameEn} needs cold-chain (2-8 °C) handling`,
        evidence: { dataset: 'catalogue', version: null, entryId: v.drug.code, storage: v.drug.storage },
      }, [v]);
    }
    if (!v.drug.onlineSaleAllowed) {
      push({
        rule: 'RESTRICTED', severity: 'block', lines: [v.i],
        message: `${v.drug.genericNameZh} 不得网络销售（${v.drug.bannedReason ?? '禁止清单'}）`, messageEn: `${v.drug.genericNameEn} may not be sold online (${v.drug.bannedReason ?? 'banned list'})`,
        evidence: { dataset: 'catalogue', version: null, entryId: v.drug.code, bannedReason: v.drug.bannedReason },
      }, [v]);
    }
  }

  return out.sort((a, b) => SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] || a.rule.localeCompare(b.rule) || (a.lines[0] ?? -1) - (b.lines[0] ?? -1) || (a.lines[1] ?? -1) - (b.lines[1] ?? -1));
}

type Push = (f: Omit<ReviewFinding, 'code' | 'drugCodes'>, views: View[]) => void;

/** One duplicate per pair, by the most specific basis: the same ingredient, a group, then ATC level 4. */
function duplicateOf(p: View, q: View, entries: DuplicateEntry[]): { entry: DuplicateEntry; basis: 'ingredient' | 'group' | 'atc4'; shared: string } | null {
  // Substances are full ATC level-5 codes; shorter ones (e.g. "calcium" A12AA) are only classes.
  const same = p.ingredients.find((c) => c.length >= 7 && q.ingredients.includes(c));
  if (same) {
    const entry = entries.find((e) => e.kind === 'ingredient' && e.atc.includes(same)) ?? entries.find((e) => e.kind === 'ingredient' && e.atc.length === 0);
    if (entry) return { entry, basis: 'ingredient', shared: same };
  }
  for (const e of entries.filter((x) => x.kind === 'group')) {
    const pc = p.codes.find((c) => e.atc.some((a) => c.startsWith(a)));
    const qc = q.codes.find((c) => e.atc.some((a) => c.startsWith(a)));
    if (pc && qc) return { entry: e, basis: 'group', shared: `${pc}/${qc}` };
  }
  const level4 = (v: View) => v.ingredients.filter((c) => c.length >= 5).map((c) => c.slice(0, 5));
  const l4 = level4(p).find((c) => level4(q).includes(c));
  if (l4) {
    const entry = entries.find((e) => e.kind === 'atc4' && e.atc.includes(l4))
      ?? entries.find((e) => e.kind === 'exempt' && e.atc.some((a) => l4.startsWith(a)))
      ?? entries.find((e) => e.kind === 'atc4' && e.atc.length === 0);
    if (entry) return { entry, basis: 'atc4', shared: l4 };
  }
  return null;
}

function doseChecks(v: View, age: number, weightKg: number | undefined, k: ClinicalKnowledge, version: number | null, push: Push): void {
  // Dose ranges are per ingredient; a combination product's doseMg is not one ingredient's dose.
  if (v.product && v.product.ingredients.length > 1) return;
  const e: DoseEntry | undefined = k.doses.find((d) => selects(d.match, v));
  if (!e) return;
  const daily = dailyMg(v.line);
  const ev = (extra: Record<string, unknown>) => ({ dataset: 'doses' as const, version, entryId: e.id, doseMg: v.line.doseMg ?? null, timesPerDay: v.line.timesPerDay, frequency: v.line.frequency, ...extra });
  const name = v.drug.genericNameZh;

  if (e.weekly) {
    if (!e.weekly.frequencies.map(normFreq).includes(normFreq(v.line.frequency))) {
      push({
        rule: 'DOSE_FREQUENCY', severity: 'block', lines: [v.i],
        message: `${name} 为每周一次给药，处方频次为 ${v.line.frequency}（每日${v.line.timesPerDay}次）`,
        messageEn: `${v.drug.genericNameEn} is taken once a week; the line says ${v.line.frequency} (${v.line.timesPerDay}x a day)`,
        evidence: ev({ expected: 'once weekly', allowed: e.weekly.frequencies }),
      }, [v]);
    } else if (daily !== null && daily > e.weekly.maxMgPerWeek) {
      push({
        rule: 'DOSE_HIGH', severity: 'block', lines: [v.i],
        message: `${name} 每周 ${daily} mg，超过最大 ${e.weekly.maxMgPerWeek} mg/周`, messageEn: `${v.drug.genericNameEn}: ${daily} mg a week exceeds ${e.weekly.maxMgPerWeek} mg/week`,
        evidence: ev({ weeklyMg: daily, maxMgPerWeek: e.weekly.maxMgPerWeek }),
      }, [v]);
    }
    return;
  }
  if (daily === null) return;

  let range: [number, number] | null = null;
  let basis = 'adult';
  let perKg: { lo: number; hi: number } | null = null;
  let cap: number | undefined;
  const band = age < 18 ? e.paediatric?.find((b) => age >= b.fromYears && age < b.toYears) : undefined;
  if (band) {
    basis = `paediatric ${band.fromYears}-${band.toYears}y`;
    cap = band.maxMgPerDay;
    if (band.mgPerDay) range = band.mgPerDay;
    else if (band.mgPerKgPerDay && weightKg) perKg = { lo: band.mgPerKgPerDay[0], hi: band.mgPerKgPerDay[1] };
  } else if (e.adult && age >= 12) {
    // Most labels give children from 12 the adult dose; younger children only where a band covers them.
    range = [e.adult.minMgPerDay, e.adult.maxMgPerDay];
    if (e.adult.maxMgPerKgPerDay && weightKg && daily / weightKg > e.adult.maxMgPerKgPerDay + 1e-9) {
      push({
        rule: 'DOSE_HIGH', severity: 'warning', lines: [v.i],
        message: `${name} ${round(daily / weightKg)} mg/kg/日，超过 ${e.adult.maxMgPerKgPerDay} mg/kg/日`,
        messageEn: `${v.drug.genericNameEn}: ${round(daily / weightKg)} mg/kg/day exceeds ${e.adult.maxMgPerKgPerDay} mg/kg/day`,
        evidence: ev({ dailyMg: daily, weightKg, mgPerKgPerDay: round(daily / weightKg, 3), maxMgPerKgPerDay: e.adult.maxMgPerKgPerDay, basis }),
      }, [v]);
    }
  } else {
    return;
  }

  const tooHigh = (value: number, max: number) => value > max + 1e-9;
  if (perKg && weightKg) {
    const value = round(daily / weightKg, 3);
    if (tooHigh(value, perKg.hi)) {
      push({
        rule: 'DOSE_HIGH', severity: 'block', lines: [v.i],
        message: `${name} ${value} mg/kg/日，超过儿童最大 ${perKg.hi} mg/kg/日（${weightKg} kg）`,
        messageEn: `${v.drug.genericNameEn}: ${value} mg/kg/day exceeds the paediatric maximum ${perKg.hi} mg/kg/day (${weightKg} kg)`,
        evidence: ev({ dailyMg: daily, weightKg, mgPerKgPerDay: value, range: [perKg.lo, perKg.hi], basis }),
      }, [v]);
      return;
    }
    if (value < perKg.lo - 1e-9) {
      push({
        rule: 'DOSE_LOW', severity: 'info', lines: [v.i],
        message: `${name} ${value} mg/kg/日，低于儿童常用 ${perKg.lo} mg/kg/日`, messageEn: `${v.drug.genericNameEn}: ${value} mg/kg/day is below the usual paediatric ${perKg.lo} mg/kg/day`,
        evidence: ev({ dailyMg: daily, weightKg, mgPerKgPerDay: value, range: [perKg.lo, perKg.hi], basis }),
      }, [v]);
    }
  }
  if (cap !== undefined && tooHigh(daily, cap)) {
    push({
      rule: 'DOSE_HIGH', severity: 'block', lines: [v.i],
      message: `${name} ${daily} mg/日，超过儿童每日上限 ${cap} mg`, messageEn: `${v.drug.genericNameEn}: ${daily} mg/day exceeds the paediatric cap of ${cap} mg/day`,
      evidence: ev({ dailyMg: daily, maxMgPerDay: cap, basis }),
    }, [v]);
    return;
  }
  if (!range) return;
  if (tooHigh(daily, range[1])) {
    push({
      rule: 'DOSE_HIGH', severity: 'block', lines: [v.i],
      message: `${name} ${daily} mg/日，超过最大日剂量 ${range[1]} mg（${basis === 'adult' ? '成人' : basis}）`,
      messageEn: `${v.drug.genericNameEn}: ${daily} mg/day exceeds the maximum ${range[1]} mg/day (${basis})`,
      evidence: ev({ dailyMg: daily, range, basis }),
    }, [v]);
  } else if (daily < range[0] - 1e-9) {
    push({
      rule: 'DOSE_LOW', severity: 'info', lines: [v.i],
      message: `${name} ${daily} mg/日，低于常用最低日剂量 ${range[0]} mg`, messageEn: `${v.drug.genericNameEn}: ${daily} mg/day is below the usual minimum ${range[0]} mg/day (${basis})`,
      evidence: ev({ dailyMg: daily, range, basis }),
    }, [v]);
  }
}

const normAllergy = (s: string) => s.toLowerCase().replace(/过敏史|过敏|allergic|allergy|类|\s/g, '');
function allergyTermHit(allergy: string, term: string): boolean {
  const t = normAllergy(term);
  return t.length > 0 && (allergy === t || (t.length >= 2 && allergy.includes(t)));
}

function allergyChecks(v: View, allergies: string[], k: ClinicalKnowledge, version: number | null, push: Push): void {
  for (const recorded of allergies) {
    const a = normAllergy(recorded);
    if (!a) continue;
    // One finding per line and recorded allergy: the most severe basis.
    let best: { severity: FindingSeverity; zh: string; en: string; evidence: FindingEvidence } | null = null;
    const consider = (c: NonNullable<typeof best>) => { if (!best || SEVERITY_RANK[c.severity] < SEVERITY_RANK[best.severity]) best = c; };

    const named = a.length >= 2 ? v.names.find((n) => n.toLowerCase().includes(a)) : undefined;
    if (named) {
      consider({
        severity: 'block', zh: `含过敏成分（${named}）`, en: `contains the allergen (${named})`,
        evidence: { dataset: v.product ? 'ingredients' : 'catalogue', version: v.product ? k.versions.ingredients?.version ?? null : null, entryId: v.product?.id ?? v.drug.code, allergy: recorded, basis: 'ingredient', matched: named },
      });
    }
    for (const c of k.allergies) {
      if (!c.terms.some((t) => allergyTermHit(a, t))) continue;
      if (selects(c.members, v)) {
        consider({
          severity: 'block', zh: `属${c.zh}`, en: `belongs to the ${c.en} class`,
          evidence: { dataset: 'allergy-classes', version, entryId: c.id, allergy: recorded, basis: 'class', class: c.members.label, atc: v.drug.atcCode },
        });
        continue;
      }
      const cross = c.crossReactive.find((x) => selects(x.match, v));
      if (cross) {
        consider({
          severity: cross.severity, zh: `与${c.zh}可能交叉过敏（${cross.match.label}）`, en: `possible cross-reactivity with ${c.en}: ${cross.note}`,
          evidence: { dataset: 'allergy-classes', version, entryId: c.id, allergy: recorded, basis: 'cross-reactivity', class: cross.match.label, note: cross.note, atc: v.drug.atcCode },
        });
      }
    }
    const found = best as { severity: FindingSeverity; zh: string; en: string; evidence: FindingEvidence } | null;
    if (found) {
      push({
        rule: 'ALLERGY', severity: found.severity, lines: [v.i],
        message: `患者对“${recorded}”过敏；${v.drug.genericNameZh} ${found.zh}`,
        messageEn: `patient reports an allergy to "${recorded}"; ${v.drug.genericNameEn} ${found.en}`,
        evidence: found.evidence,
      }, [v]);
    }
  }
}

function contraindicationChecks(v: View, age: number, patient: PrescriptionSubmission['patient'], k: ClinicalKnowledge, version: number | null, push: Push): void {
  const years = round(age, 1);
  let ageFound = false;
  for (const c of k.contraindications) {
    if (!selects(c.match, v)) continue;
    if (c.kind === 'age') {
      const under = c.belowYears !== undefined && age < c.belowYears;
      const over = c.fromYears !== undefined && age >= c.fromYears;
      if (!under && !over) continue;
      ageFound = true;
      push({
        rule: 'AGE', severity: c.severity, lines: [v.i],
        message: `${v.drug.genericNameZh}：${c.reason.split(';')[0]}（患者 ${years} 岁）`,
        messageEn: `${v.drug.genericNameEn}: ${(c.reason.split(';')[1] ?? c.reason).trim()} (patient is ${years})`,
        evidence: { dataset: 'contraindications', version, entryId: c.id, ageYears: years, ...(under ? { belowYears: c.belowYears } : { fromYears: c.fromYears }) },
      }, [v]);
    } else if ((c.kind === 'pregnancy' && patient.pregnant) || (c.kind === 'lactation' && patient.lactating)) {
      push({
        rule: c.kind === 'pregnancy' ? 'PREGNANCY' : 'LACTATION', severity: c.severity, lines: [v.i],
        message: `${v.drug.genericNameZh}：${c.reason.split(';')[0]}`,
        messageEn: `${v.drug.genericNameEn}: ${(c.reason.split(';')[1] ?? c.reason).trim()}`,
        evidence: { dataset: 'contraindications', version, entryId: c.id, kind: c.kind },
      }, [v]);
    }
  }
  // The catalogue's own hints cover what the knowledge files do not (formulation ages, TCM labels).
  if (!ageFound && v.drug.minAgeYears !== null && age < v.drug.minAgeYears) {
    push({
      rule: 'AGE', severity: 'warning', lines: [v.i],
      message: `${v.drug.genericNameZh} 不适用于 ${v.drug.minAgeYears} 岁以下（患者 ${years} 岁）`,
      messageEn: `${v.drug.genericNameEn} is not for patients under ${v.drug.minAgeYears} (patient is ${years})`,
      evidence: { dataset: 'catalogue', version: null, entryId: v.drug.code, ageYears: years, minAgeYears: v.drug.minAgeYears },
    }, [v]);
  }
  if (patient.pregnant && !k.contraindications.some((c) => c.kind === 'pregnancy' && selects(c.match, v)) && v.drug.pregnancyCategory !== 'safe') {
    const contraindicated = v.drug.pregnancyCategory === 'contraindicated';
    push({
      rule: 'PREGNANCY', severity: contraindicated ? 'warning' : 'info', lines: [v.i],
      message: `${v.drug.genericNameZh}：孕妇${contraindicated ? '禁用' : '慎用'}（目录提示）`,
      messageEn: `${v.drug.genericNameEn} is ${v.drug.pregnancyCategory} in pregnancy (catalogue hint)`,
      evidence: { dataset: 'catalogue', version: null, entryId: v.drug.code, pregnancyCategory: v.drug.pregnancyCategory },
    }, [v]);
  }
}

function renalChecks(v: View, age: number, patient: PrescriptionSubmission['patient'], k: ClinicalKnowledge, version: number | null, push: Push): void {
  const r = patient.renal;
  if (!r) return;
  const crcl = r.crcl ?? (r.creatinineUmolL && patient.weightKg ? round(cockcroftGault(age, patient.weightKg, patient.gender === 'F', r.creatinineUmolL), 1) : undefined);
  const crclFrom = r.crcl !== undefined ? 'crcl' : crcl !== undefined ? 'cockcroft-gault' : null;
  for (const e of k.renal) {
    if (!selects(e.match, v)) continue;
    const own = e.metric === 'egfr' ? r.egfr : crcl;
    const value = own ?? (e.metric === 'egfr' ? crcl : r.egfr);
    if (value === undefined) continue;
    const used = own !== undefined ? (e.metric === 'egfr' ? 'egfr' : crclFrom) : (e.metric === 'egfr' ? crclFrom : 'egfr');
    const band = [...e.bands].sort((a, b) => a.below - b.below).find((b) => value < b.below);
    if (!band) continue;
    const daily = dailyMg(v.line);
    const adjusted = band.maxMgPerDay !== undefined && daily !== null && daily <= band.maxMgPerDay + 1e-9;
    const label = e.metric === 'egfr' ? 'eGFR' : 'CrCl';
    push({
      rule: 'RENAL', severity: adjusted ? 'info' : band.severity, lines: [v.i],
      message: `${v.drug.genericNameZh}：${label} ${value} < ${band.below}，${band.advice}${adjusted ? `（当前 ${daily} mg/日，已在范围内）` : ''}`,
      messageEn: `${v.drug.genericNameEn}: ${label} ${value} < ${band.below}: ${band.advice}${adjusted ? ` (the line's ${daily} mg/day is within it)` : ''}`,
      evidence: {
        dataset: 'renal', version, entryId: e.id, metric: e.metric, value, measuredAs: used, approximated: own === undefined,
        below: band.below, maxMgPerDay: band.maxMgPerDay ?? null, dailyMg: daily, bandSeverity: band.severity,
      },
    }, [v]);
  }
}

/** The data sets a finding set drew on, for the audit trail. */
export function knowledgeVersions(k: ClinicalKnowledge): Record<string, number> {
  return Object.fromEntries(Object.entries(k.versions).map(([d, x]) => [d, x!.version]));
}

/** Worst severity of a list (null for none). */
export function worstSeverity(findings: ReviewFinding[]): FindingSeverity | null {
  return findings.reduce<FindingSeverity | null>((w, f) => (w ? worst(w, f.severity) : f.severity), null);
}
