// Prescribing rules enforced at intake (see ../shared/DOMAIN.md, "Rules the engine enforces").
// Each rule has a stable code that the API returns and docs/intake-rules.md lists. Limits are configuration
// with the national defaults, so a region can tighten or relax them without a code change.
import type { Drug } from './types';
import type { PrescriptionPush, PrescriptionSubmission } from './prescription';

export interface RulesConfig {
  /** Longest supply for an ordinary (non-chronic) prescription, days (《处方管理办法》: 7). */
  maxDaysOrdinary: number;
  /** Longest supply for an acute condition (急诊处方), days (《处方管理办法》: 3). */
  maxDaysAcute: number;
  /** Chronic prescriptions longer than the ordinary limit need a stated reason, up to this. */
  maxDaysLongTerm: number;
  /** Longest validity the doctor may note, days (《处方管理办法》: 3); a region may tighten it. */
  maxValidDays: number;
  /** Patients younger than this need a guardian on the prescription. */
  guardianUnderAgeYears: number;
  /** Tolerated clock skew for an issue time in the future, minutes. */
  futureSkewMinutes: number;
  /** Injectables may be sold online only in these ATC classes (《药品网络销售禁止清单》: anti-diabetics, A10). */
  injectableAllowedAtcPrefixes: string[];
}

export const DEFAULT_RULES: RulesConfig = {
  maxDaysOrdinary: 7,
  maxDaysAcute: 3,
  maxDaysLongTerm: 84, // 12 weeks, 《长期处方管理规范（试行）》
  maxValidDays: 3,
  guardianUnderAgeYears: 6,
  futureSkewMinutes: 5,
  injectableAllowedAtcPrefixes: ['A10'],
};

export interface Violation {
  code: string;
  message: string;
  path: (string | number)[];
}

export interface DoctorRecord { code: string; licensed: boolean; authorised: boolean }

export interface IntakeContext {
  now: Date;
  doctor: DoctorRecord | null;
  drugs: Map<string, Drug>;
  config?: RulesConfig;
}

export function ageInYears(birthDate: string, at: Date): number {
  const b = new Date(`${birthDate}T00:00:00Z`);
  let age = at.getUTCFullYear() - b.getUTCFullYear();
  const beforeBirthday =
    at.getUTCMonth() < b.getUTCMonth() || (at.getUTCMonth() === b.getUTCMonth() && at.getUTCDate() < b.getUTCDate());
  if (beforeBirthday) age -= 1;
  return age;
}

export function expiresAt(rx: Pick<PrescriptionSubmission, 'issuedAt' | 'validDays'>): Date {
  return new Date(new Date(rx.issuedAt).getTime() + rx.validDays * 24 * 3600 * 1000);
}


// ---- drug resolution: a line names its drug by SKU code, insurance code, approval number or generic name + spec

type LineIdentifier = 'drugCode' | 'insuranceCode' | 'approvalNumber' | 'genericName';

/** Identifiers compare without spaces; codes case-insensitively; "x", "X", "*" in a spec read as "×". */
const normCode = (s: string) => s.replace(/\s+/g, '').toUpperCase();
const normName = (s: string) => s.replace(/\s+/g, ' ').trim().toLowerCase();
const normSpec = (s: string) => s.replace(/\s+/g, '').replace(/[xX*＊]/g, '×').toLowerCase();

/** What intake must load from the catalogue to resolve every line (normalised as the resolver compares). */
export function lineLookupKeys(rx: Pick<PrescriptionPush, 'lines'>): { codes: string[]; insuranceCodes: string[]; approvalNumbers: string[]; genericNames: string[] } {
  const uniq = (xs: (string | undefined)[]) => [...new Set(xs.filter((x): x is string => !!x))];
  return {
    codes: uniq(rx.lines.map((l) => l.drugCode)),
    insuranceCodes: uniq(rx.lines.map((l) => l.insuranceCode && normCode(l.insuranceCode))),
    approvalNumbers: uniq(rx.lines.map((l) => l.approvalNumber && normCode(l.approvalNumber))),
    genericNames: uniq(rx.lines.map((l) => l.genericName?.trim())),
  };
}

export interface ResolvedLine {
  drug: Drug | null;
  /** Where a rule about this line's drug points: the identifier the line used (drugCode first). */
  path: (string | number)[];
  violations: Violation[];
}

function candidates(line: PrescriptionPush['lines'][number], drugs: Map<string, Drug>): [LineIdentifier, string, Drug[]][] {
  const all = [...drugs.values()];
  const out: [LineIdentifier, string, Drug[]][] = [];
  if (line.drugCode) out.push(['drugCode', line.drugCode, drugs.has(line.drugCode) ? [drugs.get(line.drugCode)!] : []]);
  if (line.insuranceCode) out.push(['insuranceCode', line.insuranceCode, all.filter((d) => normCode(d.insuranceCode) === normCode(line.insuranceCode!))]);
  if (line.approvalNumber) out.push(['approvalNumber', line.approvalNumber, all.filter((d) => normCode(d.approvalNumber) === normCode(line.approvalNumber!))]);
  if (line.genericName && line.spec) {
    const name = normName(line.genericName);
    const spec = normSpec(line.spec);
    // The full specification ("5mg×7片") or its strength alone ("5mg").
    out.push(['genericName', `${line.genericName} ${line.spec}`, all.filter((d) =>
      (normName(d.genericNameZh) === name || normName(d.genericNameEn) === name) &&
      (normSpec(d.spec) === spec || normSpec(d.spec).split('×')[0] === spec))]);
  }
  return out;
}

/** Resolves each line to exactly one catalogue SKU, or says why it cannot. Pure: `drugs` is what intake loaded. */
export function resolveLineDrugs(rx: Pick<PrescriptionPush, 'lines'>, drugs: Map<string, Drug>): ResolvedLine[] {
  return rx.lines.map((line, i): ResolvedLine => {
    const found = candidates(line, drugs);
    if (!found.length) {
      const path = line.genericName && !line.spec ? ['lines', i, 'spec'] : ['lines', i];
      return { drug: null, path, violations: [{ code: 'RX_DRUG_NOT_IDENTIFIED', path, message: 'name the drug by drugCode, insuranceCode, approvalNumber, or genericName with spec' }] };
    }
    const path: (string | number)[] = ['lines', i, found[0][0]];
    const missing = found.find(([, , c]) => c.length === 0);
    if (missing) {
      const [field, value] = missing;
      return { drug: null, path: ['lines', i, field], violations: [{ code: 'RX_UNKNOWN_DRUG', path: ['lines', i, field], message: `drug ${value} is not in the catalogue` }] };
    }
    let common = found[0][2];
    for (const [, , c] of found.slice(1)) common = common.filter((d) => c.some((x) => x.code === d.code));
    if (common.length === 0) {
      return { drug: null, path: ['lines', i], violations: [{ code: 'RX_DRUG_IDENTIFIERS_DISAGREE', path: ['lines', i], message: `${found.map(([f, v]) => `${f} ${v}`).join(', ')} name different catalogue drugs` }] };
    }
    if (common.length > 1) {
      const codes = common.map((d) => d.code).sort();
      return { drug: null, path, violations: [{ code: 'RX_DRUG_AMBIGUOUS', path, message: `${found[0][1]} matches ${codes.length} catalogue drugs (${codes.slice(0, 5).join(', ')}${codes.length > 5 ? ', …' : ''}); add the approval number or insurance code` }] };
    }
    return { drug: common[0], path, violations: [] };
  });
}

// ---- the rules ---------------------------------------------------------------------------------------------------

type RuleContext = Required<IntakeContext> & { resolved: ResolvedLine[] };
type Rule = (rx: PrescriptionPush, ctx: RuleContext) => Violation[];

const followUpOnly: Rule = (rx) => {
  if (rx.visit.type === 'first') {
    return [{ code: 'RX_FIRST_VISIT', path: ['visit', 'type'], message: 'online prescribing is for follow-up visits only; the first diagnosis must be made offline' }];
  }
  if (!rx.visit.priorDiagnosisRef) {
    return [{ code: 'RX_NO_PRIOR_DIAGNOSIS', path: ['visit', 'priorDiagnosisRef'], message: 'a follow-up visit must reference the prior offline diagnosis' }];
  }
  return [];
};

const validityWindow: Rule = (rx, { now, config }) => {
  const issued = new Date(rx.issuedAt);
  if (rx.validDays > config.maxValidDays) {
    return [{ code: 'RX_VALIDITY_TOO_LONG', path: ['validDays'], message: `a prescription is valid at most ${config.maxValidDays} day(s) from issue` }];
  }
  if (issued.getTime() > now.getTime() + config.futureSkewMinutes * 60_000) {
    return [{ code: 'RX_FUTURE_DATED', path: ['issuedAt'], message: 'the prescription is dated in the future' }];
  }
  if (expiresAt(rx).getTime() <= now.getTime()) {
    return [{ code: 'RX_EXPIRED', path: ['issuedAt'], message: `the prescription expired ${expiresAt(rx).toISOString()} (valid ${rx.validDays} day(s) from issue)` }];
  }
  return [];
};

const supplyLimits: Rule = (rx, { config }) =>
  rx.lines.flatMap((line, i): Violation[] => {
    if (line.days > config.maxDaysLongTerm) {
      return [{ code: 'RX_SUPPLY_TOO_LONG', path: ['lines', i, 'days'], message: `at most ${config.maxDaysLongTerm} days' supply, even for a long-term prescription` }];
    }
    if (rx.acute && line.days > config.maxDaysAcute) {
      return [{ code: 'RX_SUPPLY_ACUTE_TOO_LONG', path: ['lines', i, 'days'], message: `an acute prescription supplies at most ${config.maxDaysAcute} days` }];
    }
    if (line.days > config.maxDaysOrdinary && !(rx.chronic && rx.longTermReason)) {
      return [{ code: 'RX_SUPPLY_NEEDS_REASON', path: ['lines', i, 'days'], message: `more than ${config.maxDaysOrdinary} days' supply needs a chronic prescription with a stated reason` }];
    }
    return [];
  });

/** A long-term prescription is for stable chronic disease: each line beyond the ordinary limit is a chronic-use drug. */
const longTermChronicDrugs: Rule = (rx, { config, resolved }) =>
  rx.lines.flatMap((line, i): Violation[] => {
    const drug = resolved[i].drug;
    if (!drug || line.days <= config.maxDaysOrdinary || drug.chronic) return [];
    return [{ code: 'RX_LONG_TERM_DRUG_NOT_CHRONIC', path: ['lines', i, 'days'], message: `${drug.genericNameZh} is not a chronic-use drug: at most ${config.maxDaysOrdinary} days' supply` }];
  });

const catalogueDrugs: Rule = (rx, { resolved }) => {
  const seen = new Set<string>();
  return resolved.flatMap(({ drug, path, violations }): Violation[] => {
    if (!drug) return violations;
    const out: Violation[] = [];
    if (seen.has(drug.code)) out.push({ code: 'RX_DUPLICATE_LINE', path, message: `${drug.genericNameZh} appears twice` });
    seen.add(drug.code);
    if (!drug.onlineSaleAllowed) {
      out.push({ code: 'RX_BANNED_ONLINE', path, message: `${drug.genericNameZh} may not be prescribed or sold online (${drug.bannedReason})` });
    }
    return out;
  });
};

/**
 * Injectables may not be sold online except anti-diabetics (《药品网络销售禁止清单（第一版）》). The catalogue's
 * flag normally says so (RX_BANNED_ONLINE); this rule holds even where a catalogue entry lacks the flag.
 */
export function isInjectable(drug: Pick<Drug, 'dosageForm' | 'genericNameZh'>): boolean {
  return /注射/.test(drug.dosageForm) || drug.genericNameZh.startsWith('注射用') || /inject/i.test(drug.dosageForm);
}
const injectablesOnlyAntidiabetic: Rule = (_rx, { resolved, config }) =>
  resolved.flatMap(({ drug, path }): Violation[] => {
    if (!drug || !drug.onlineSaleAllowed || !isInjectable(drug)) return [];
    if (config.injectableAllowedAtcPrefixes.some((p) => drug.atcCode.startsWith(p))) return [];
    return [{ code: 'RX_INJECTABLE_NOT_ALLOWED', path, message: `${drug.genericNameZh} is an injectable; online only anti-diabetic injectables (ATC ${config.injectableAllowedAtcPrefixes.join(', ')}) may be sold` }];
  });

const prescriberAuthorised: Rule = (rx, { doctor }) => {
  if (!doctor) return [{ code: 'RX_UNKNOWN_PRESCRIBER', path: ['doctor', 'code'], message: `doctor ${rx.doctor.code} is not registered by this hospital` }];
  if (!doctor.licensed || !doctor.authorised) {
    return [{ code: 'RX_PRESCRIBER_NOT_AUTHORISED', path: ['doctor', 'code'], message: 'the prescriber is not licensed or not authorised by the hospital to prescribe online' }];
  }
  return [];
};

const guardianForYoungChildren: Rule = (rx, { now, config }) =>
  ageInYears(rx.patient.birthDate, now) < config.guardianUnderAgeYears && !rx.patient.guardian
    ? [{ code: 'RX_GUARDIAN_REQUIRED', path: ['patient', 'guardian'], message: `a patient under ${config.guardianUnderAgeYears} needs a guardian on the prescription` }]
    : [];

export const INTAKE_RULES: Record<string, Rule> = {
  followUpOnly,
  validityWindow,
  supplyLimits,
  longTermChronicDrugs,
  catalogueDrugs,
  injectablesOnlyAntidiabetic,
  prescriberAuthorised,
  guardianForYoungChildren,
};

/** Every code the intake rules can answer, by rule (docs/intake-rules.md lists each; a unit test keeps them in step). */
export const RULE_CODES: Record<keyof typeof INTAKE_RULES, string[]> = {
  followUpOnly: ['RX_FIRST_VISIT', 'RX_NO_PRIOR_DIAGNOSIS'],
  validityWindow: ['RX_VALIDITY_TOO_LONG', 'RX_FUTURE_DATED', 'RX_EXPIRED'],
  supplyLimits: ['RX_SUPPLY_TOO_LONG', 'RX_SUPPLY_ACUTE_TOO_LONG', 'RX_SUPPLY_NEEDS_REASON'],
  longTermChronicDrugs: ['RX_LONG_TERM_DRUG_NOT_CHRONIC'],
  catalogueDrugs: ['RX_DRUG_NOT_IDENTIFIED', 'RX_UNKNOWN_DRUG', 'RX_DRUG_IDENTIFIERS_DISAGREE', 'RX_DRUG_AMBIGUOUS', 'RX_DUPLICATE_LINE', 'RX_BANNED_ONLINE'],
  injectablesOnlyAntidiabetic: ['RX_INJECTABLE_NOT_ALLOWED'],
  prescriberAuthorised: ['RX_UNKNOWN_PRESCRIBER', 'RX_PRESCRIBER_NOT_AUTHORISED'],
  guardianForYoungChildren: ['RX_GUARDIAN_REQUIRED'],
};

/** All violations of all intake rules; empty means the prescription may be accepted. */
export function checkIntake(rx: PrescriptionPush, ctx: IntakeContext): Violation[] {
  const full: RuleContext = { ...ctx, config: ctx.config ?? DEFAULT_RULES, resolved: resolveLineDrugs(rx, ctx.drugs) };
  return Object.values(INTAKE_RULES).flatMap((rule) => rule(rx, full));
}
