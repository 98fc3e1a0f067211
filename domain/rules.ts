// Prescribing rules enforced at intake (see ../shared/DOMAIN.md, "Rules the engine enforces").
// Each rule has a stable code that the API returns and docs/rules.md lists. Limits are configuration
// with the national defaults, so a region can tighten or relax them without a code change.
import type { Drug } from './types';
import type { PrescriptionSubmission } from './prescription';

export interface RulesConfig {
  /** Longest supply for an ordinary (non-chronic) prescription, days. */
  maxDaysOrdinary: number;
  /** Chronic prescriptions longer than the ordinary limit need a stated reason, up to this. */
  maxDaysLongTerm: number;
  /** Patients younger than this need a guardian on the prescription. */
  guardianUnderAgeYears: number;
  /** Tolerated clock skew for an issue time in the future, minutes. */
  futureSkewMinutes: number;
}

export const DEFAULT_RULES: RulesConfig = {
  maxDaysOrdinary: 7,
  maxDaysLongTerm: 84, // 12 weeks, 《长期处方管理规范（试行）》
  guardianUnderAgeYears: 6,
  futureSkewMinutes: 5,
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

type Rule = (rx: PrescriptionSubmission, ctx: Required<IntakeContext>) => Violation[];

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
    if (line.days > config.maxDaysOrdinary && !(rx.chronic && rx.longTermReason)) {
      return [{ code: 'RX_SUPPLY_NEEDS_REASON', path: ['lines', i, 'days'], message: `more than ${config.maxDaysOrdinary} days' supply needs a chronic prescription with a stated reason` }];
    }
    return [];
  });

const catalogueDrugs: Rule = (rx, { drugs }) => {
  const seen = new Set<string>();
  return rx.lines.flatMap((line, i): Violation[] => {
    const drug = drugs.get(line.drugCode);
    if (!drug) return [{ code: 'RX_UNKNOWN_DRUG', path: ['lines', i, 'drugCode'], message: `drug ${line.drugCode} is not in the catalogue` }];
    const out: Violation[] = [];
    if (seen.has(line.drugCode)) out.push({ code: 'RX_DUPLICATE_LINE', path: ['lines', i, 'drugCode'], message: `${drug.genericNameZh} appears twice` });
    seen.add(line.drugCode);
    if (!drug.onlineSaleAllowed) {
      out.push({ code: 'RX_BANNED_ONLINE', path: ['lines', i, 'drugCode'], message: `${drug.genericNameZh} may not be prescribed or sold online (${drug.bannedReason})` });
    }
    return out;
  });
};

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
  catalogueDrugs,
  prescriberAuthorised,
  guardianForYoungChildren,
};

/** All violations of all intake rules; empty means the prescription may be accepted. */
export function checkIntake(rx: PrescriptionSubmission, ctx: IntakeContext): Violation[] {
  const full: Required<IntakeContext> = { ...ctx, config: ctx.config ?? DEFAULT_RULES };
  return Object.values(INTAKE_RULES).flatMap((rule) => rule(rx, full));
}
