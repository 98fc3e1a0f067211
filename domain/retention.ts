// What of a patient's data an operator may erase on request (docs/data-protection.md). Retention wins over
// erasure: a prescription and its sale records are kept at least 5 years (《药品网络销售监督管理办法》,
// DOMAIN.md), so they stay, whole, until then; a prescription still being filled or followed up stays
// too. What is past retention loses its personal data; the patient row goes once nothing retained needs it.
// Pure functions: the caller gives the prescriptions, the time and the policy.
import { isTerminal, type PrescriptionStatus } from './prescription-status';

export interface RetentionPolicy {
  /** Years a prescription and its sale records are kept after it was issued or last changed, whichever is later. */
  prescriptionYears: number;
}
export const DEFAULT_RETENTION: RetentionPolicy = { prescriptionYears: 5 };

export interface RetainedRx { id: string; rxNo: string; status: PrescriptionStatus; issuedAt: Date; updatedAt: Date }

export type RxDecision =
  | { prescriptionId: string; rxNo: string; erase: true }
  | { prescriptionId: string; rxNo: string; erase: false; code: 'IN_CARE' | 'UNDER_RETENTION'; reason: string; until: string | null };

export interface ErasurePlan {
  /** Some prescription is still in progress: nothing is erased. */
  inCare: boolean;
  prescriptions: RxDecision[];
  /** The patient row (contact data, lookups) is erased when no prescription still needs it. */
  patientRow: { erase: true } | { erase: false; reason: string; until: string | null };
  /** Anything at all to erase. */
  anything: boolean;
}

/** The day retention of a prescription ends: `years` after the later of issue and last change. */
export function retainedUntil(rx: Pick<RetainedRx, 'issuedAt' | 'updatedAt'>, policy: RetentionPolicy): Date {
  const start = new Date(Math.max(rx.issuedAt.getTime(), rx.updatedAt.getTime()));
  const until = new Date(start);
  until.setUTCFullYear(until.getUTCFullYear() + policy.prescriptionYears);
  return until;
}

export function planErasure(prescriptions: RetainedRx[], now: Date, policy: RetentionPolicy = DEFAULT_RETENTION): ErasurePlan {
  const decisions: RxDecision[] = prescriptions.map((rx) => {
    if (!isTerminal(rx.status)) {
      return { prescriptionId: rx.id, rxNo: rx.rxNo, erase: false, code: 'IN_CARE', until: null,
        reason: `prescription ${rx.rxNo} is ${rx.status}: it is still being filled, delivered or followed up` };
    }
    const until = retainedUntil(rx, policy);
    if (until.getTime() > now.getTime()) {
      return { prescriptionId: rx.id, rxNo: rx.rxNo, erase: false, code: 'UNDER_RETENTION', until: until.toISOString(),
        reason: `prescriptions and sale records are kept ${policy.prescriptionYears} years (药品网络销售监督管理办法): ${rx.rxNo} until ${until.toISOString().slice(0, 10)}` };
    }
    return { prescriptionId: rx.id, rxNo: rx.rxNo, erase: true };
  });
  const inCare = decisions.some((d) => !d.erase && d.code === 'IN_CARE');
  if (inCare) {
    return { inCare, prescriptions: decisions.map((d) => (d.erase ? { ...d, erase: false as const, code: 'IN_CARE' as const, until: null, reason: 'nothing is erased while another prescription of the patient is in progress' } : d)),
      patientRow: { erase: false, reason: 'the patient has a prescription in progress', until: null }, anything: false };
  }
  const kept = decisions.filter((d): d is Extract<RxDecision, { erase: false }> => !d.erase);
  const lastUntil = kept.map((d) => d.until!).sort().at(-1) ?? null;
  const patientRow: ErasurePlan['patientRow'] = kept.length
    ? { erase: false, reason: `${kept.length} prescription(s) of the patient are under retention; the patient's record is kept with them`, until: lastUntil }
    : { erase: true };
  return { inCare, prescriptions: decisions, patientRow, anything: patientRow.erase || decisions.some((d) => d.erase) };
}

type Obj = Record<string, unknown>;
/**
 * A prescription's content past retention: what identifies the patient goes (name, contacts, ID number,
 * address, guardian, the hospital's patient id, health details), what describes the prescribing stays
 * (drugs, doses, diagnoses codes, visit) with the patient's gender and birth year for statistics.
 */
export function erasedContent(content: Obj): Obj {
  const patient = (content.patient ?? {}) as Obj;
  const birthYear = typeof patient.birthDate === 'string' ? Number(patient.birthDate.slice(0, 4)) || null : null;
  const out: Obj = { ...content, patient: { erased: true, gender: patient.gender ?? null, birthYear } };
  // The insurance member id is commonly the resident ID number.
  if (content.insurance && typeof content.insurance === 'object') {
    const { memberId: _dropped, ...insurance } = content.insurance as Obj;
    out.insurance = insurance;
  }
  return out;
}
