// How an internal prescription status (domain/prescription-status.ts) reads in FHIR R4: the
// MedicationRequest's status (the doctor's order: in force, used, or withdrawn) and the Task's status
// (rxflow's work of filling it) with the internal status kept verbatim as Task.businessStatus.
// One table, typed by PrescriptionStatus, so a new internal status does not compile until it is
// mapped here (issue 9 extends this table into the full status model).
import type { MedicationRequest, Task } from 'fhir/r4';
import { PRESCRIPTION_STATUSES, type PrescriptionStatus } from '../prescription-status';

export type MedicationRequestStatus = MedicationRequest['status'];
export type TaskStatus = Task['status'];

export interface FhirStatus {
  medicationRequest: MedicationRequestStatus;
  task: TaskStatus;
  /** Task.businessStatus display (English) and text (Chinese). */
  en: string;
  zh: string;
  /** MedicationRequest.statusReason / Task.statusReason text, where the status alone does not say why. */
  reason?: string;
}

export const FHIR_STATUS: Record<PrescriptionStatus, FhirStatus> = {
  // Signed and stored; rxflow has taken the order and is evaluating it.
  received: { medicationRequest: 'active', task: 'requested', en: 'Received', zh: '已接收' },
  in_review: { medicationRequest: 'active', task: 'received', en: 'In pharmacist review', zh: '审方中' },
  approved: { medicationRequest: 'active', task: 'accepted', en: 'Approved by a pharmacist', zh: '审方通过' },
  priced: { medicationRequest: 'active', task: 'accepted', en: 'Insurance pre-check done', zh: '医保预结算完成' },
  matching: { medicationRequest: 'active', task: 'in-progress', en: 'Finding a pharmacy', zh: '匹配药店中' },
  // One prescription, one fill: once dispensed the order is used, whatever happens to the parcel.
  dispensed: { medicationRequest: 'completed', task: 'in-progress', en: 'Dispensed', zh: '已配药' },
  in_delivery: { medicationRequest: 'completed', task: 'in-progress', en: 'In delivery', zh: '配送中' },
  delivered: { medicationRequest: 'completed', task: 'completed', en: 'Delivered or collected', zh: '已送达' },
  follow_up: { medicationRequest: 'completed', task: 'completed', en: 'Follow-up in progress', zh: '随访中' },
  completed: { medicationRequest: 'completed', task: 'completed', en: 'Completed', zh: '已完成' },
  // Ended before any drug left a pharmacy: the order is withdrawn ("cancelled" in R4's sense).
  rejected: { medicationRequest: 'cancelled', task: 'rejected', en: 'Rejected by a pharmacist', zh: '审方驳回', reason: 'rejected by the reviewing pharmacist' },
  cancelled: { medicationRequest: 'cancelled', task: 'cancelled', en: 'Cancelled by the hospital', zh: '已撤销', reason: 'cancelled by the hospital' },
  unfulfillable: { medicationRequest: 'cancelled', task: 'failed', en: 'No pharmacy could fill it', zh: '无药店可配', reason: 'no pharmacy could fill every line' },
  expired: { medicationRequest: 'cancelled', task: 'failed', en: 'Expired', zh: '已过期', reason: 'the prescription expired before it was filled' },
  // Dispensed, then the delivery failed for good and the drugs went back: halted after dispensing.
  returned: { medicationRequest: 'stopped', task: 'failed', en: 'Returned to the pharmacy', zh: '已退回', reason: 'delivery failed; the drugs were returned to the pharmacy' },
};

export function fhirStatusOf(status: PrescriptionStatus): FhirStatus {
  const s = FHIR_STATUS[status];
  // The table is total by type; a status read from the database that is not in it is a bug, said loudly.
  if (!s) throw new Error(`no FHIR status for prescription status ${status}`);
  return s;
}

/** R4 value sets, for the totality tests and for anyone validating our output. */
export const MEDICATION_REQUEST_STATUSES: readonly MedicationRequestStatus[] = ['active', 'on-hold', 'cancelled', 'completed', 'entered-in-error', 'stopped', 'draft', 'unknown'];
export const TASK_STATUSES: readonly TaskStatus[] = ['draft', 'requested', 'received', 'accepted', 'rejected', 'ready', 'cancelled', 'in-progress', 'on-hold', 'failed', 'completed', 'entered-in-error'];
/** Task statuses after which nothing more happens to the Task (R4 task state machine). */
export const TERMINAL_TASK_STATUSES: readonly TaskStatus[] = ['rejected', 'cancelled', 'failed', 'completed', 'entered-in-error'];

export { PRESCRIPTION_STATUSES };
