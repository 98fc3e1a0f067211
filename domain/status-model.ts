// rxflow's one status model (issue 9). A prescription is in one of the workflow's statuses
// (./prescription-status.ts); its latest FILL (the dispensing at the pharmacy that holds it) and its
// HANDOVER (delivery home or pickup) each have a state too. This module says which (prescription, fill,
// handover) combinations are VALID and what every valid one reads as to the outside world: FHIR R4
// MedicationRequest / MedicationDispense / Task status, a patient-facing business status (zh + en) and an
// NCPDP-like fill status. docs/status-model.md is generated from it (domain/status-model-doc.ts).
// domain/fhir/status.ts only re-exports from here: one home.
import type { MedicationDispense, MedicationRequest, Task } from 'fhir/r4';
import { PRESCRIPTION_STATUSES, type PrescriptionStatus as EngineStatus } from './prescription-status';

/**
 * The prescription statuses the model covers: the engine's, plus `partially_dispensed` (part dispensed, the
 * remainder still to come from the same pharmacy), which arrives with partial fills. Once the engine has
 * it the union is simply PrescriptionStatus again; until then the model is ready for it.
 */
export type PrescriptionStatus = EngineStatus | 'partially_dispensed';
export const MODEL_STATUSES: readonly PrescriptionStatus[] = [...new Set<PrescriptionStatus>([...PRESCRIPTION_STATUSES, 'partially_dispensed'])];

export type MedicationRequestStatus = MedicationRequest['status'];
export type MedicationDispenseStatus = MedicationDispense['status'];
export type TaskStatus = Task['status'];

// ---- per prescription status: the order (MedicationRequest) and rxflow's work (Task) ------------------

export interface FhirStatus {
  medicationRequest: MedicationRequestStatus;
  task: TaskStatus;
  /** Task.businessStatus display (English) and text (Chinese). */
  en: string;
  zh: string;
  /** MedicationRequest.statusReason / Task.statusReason text, where the status alone does not say why. */
  reason?: string;
}

// Typed by PrescriptionStatus, so a new internal status does not compile until it is mapped here.
export const FHIR_STATUS: Record<PrescriptionStatus, FhirStatus> = {
  // Signed and stored; rxflow has taken the order and is evaluating it.
  received: { medicationRequest: 'active', task: 'requested', en: 'Received', zh: '已接收' },
  in_review: { medicationRequest: 'active', task: 'received', en: 'In pharmacist review', zh: '审方中' },
  approved: { medicationRequest: 'active', task: 'accepted', en: 'Approved by a pharmacist', zh: '审方通过' },
  priced: { medicationRequest: 'active', task: 'accepted', en: 'Insurance pre-check done', zh: '医保预结算完成' },
  matching: { medicationRequest: 'active', task: 'in-progress', en: 'Finding a pharmacy', zh: '匹配药店中' },
  // Part handed out, the rest to come from the same pharmacy: the order is still in force.
  partially_dispensed: { medicationRequest: 'active', task: 'in-progress', en: 'Partially dispensed', zh: '部分配药' },
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
export const MEDICATION_DISPENSE_STATUSES: readonly MedicationDispenseStatus[] = ['preparation', 'in-progress', 'cancelled', 'on-hold', 'completed', 'entered-in-error', 'stopped', 'declined', 'unknown'];
export const TASK_STATUSES: readonly TaskStatus[] = ['draft', 'requested', 'received', 'accepted', 'rejected', 'ready', 'cancelled', 'in-progress', 'on-hold', 'failed', 'completed', 'entered-in-error'];
/** Task statuses after which nothing more happens to the Task (R4 task state machine). */
export const TERMINAL_TASK_STATUSES: readonly TaskStatus[] = ['rejected', 'cancelled', 'failed', 'completed', 'entered-in-error'];

// ---- the fill and the handover ------------------------------------------------------------------------

/**
 * The latest fill: the dispensing by the pharmacy that accepted the order. An offer no pharmacy accepted
 * is not a fill. A partial fill (docs/dispensing.md) is `partial` until its remainder is settled.
 */
export const FILL_STATES = [
  'none',                    // no pharmacy has taken it (yet)
  'preparing',               // a pharmacy accepted and is checking and dispensing (核对 → 配药)
  'transferred',             // the pharmacy that accepted could not fill it (short, too slow); moved to the next one
  'not_dispensed',           // it ended (cancelled, expired, unfulfillable) with nothing dispensed
  'dispensed',               // every line dispensed in full
  'partial',                 // part dispensed now, the remainder to follow
  'remainder_not_dispensed', // part dispensed; the remainder will not be
  'returned',                // dispensed, then back on the pharmacy's shelf (delivery failed, not collected)
] as const;
export type FillState = (typeof FILL_STATES)[number];

/** Delivery home (a partner's statuses, ./prescription-status.ts DELIVERY_STATUSES) or pickup at the pharmacy. */
export const HANDOVER_STATES = [
  'none',             // nothing to hand over yet
  'ready_for_pickup', // pickup: dispensed and waiting at the pharmacy
  'collected',        // pickup: collected with proof
  'uncollected',      // pickup: not collected in time, back on the shelf
  'created',          // delivery: registered with a partner (docs/delivery.md)
  'assigned',         // delivery: the partner put a courier on it
  'picked_up',
  'in_transit',
  'delivered',        // delivery: with proof of delivery
  'failed',           // delivery: this attempt failed (or went silent); another follows or the drugs go back
  'returned',         // delivery: every attempt failed and the parcel is back at the pharmacy
] as const;
export type HandoverState = (typeof HANDOVER_STATES)[number];

export interface Combination { status: PrescriptionStatus; fill: FillState; handover: HandoverState }

// A remainder still to come exists only while partially_dispensed: the engine hands nothing over before
// the fill is settled (whole, or the rest declared not dispensed).
const FILLED: FillState[] = ['dispensed', 'remainder_not_dispensed'];
const BEFORE_FILL = { fill: ['none'] as FillState[], handover: ['none'] as HandoverState[] };
const UNFILLED_END = { fill: ['none', 'not_dispensed'] as FillState[], handover: ['none'] as HandoverState[] };
const HANDED_OVER = { fill: FILLED, handover: ['delivered', 'collected'] as HandoverState[] };

/** Which fills and handovers each prescription status admits; every pairing of the two lists is valid. */
const ADMITS: Record<PrescriptionStatus, { fill: FillState[]; handover: HandoverState[] }> = {
  received: BEFORE_FILL,
  in_review: BEFORE_FILL,
  rejected: BEFORE_FILL,
  approved: BEFORE_FILL,
  priced: BEFORE_FILL,
  matching: { fill: ['none', 'preparing', 'transferred'], handover: ['none'] },
  partially_dispensed: { fill: ['partial'], handover: ['none'] },
  dispensed: { fill: FILLED, handover: ['none', 'ready_for_pickup'] },
  in_delivery: { fill: FILLED, handover: ['created', 'assigned', 'picked_up', 'in_transit', 'failed', 'returned'] },
  delivered: HANDED_OVER,
  follow_up: HANDED_OVER,
  completed: HANDED_OVER,
  cancelled: UNFILLED_END,
  unfulfillable: UNFILLED_END,
  expired: UNFILLED_END,
  // none: no partner could carry it at all, the parcel never left the pharmacy.
  returned: { fill: ['returned'], handover: ['none', 'failed', 'returned', 'uncollected'] },
};

export const VALID_COMBINATIONS: readonly Combination[] = MODEL_STATUSES.flatMap((status) =>
  ADMITS[status].fill.flatMap((fill) => ADMITS[status].handover.map((handover) => ({ status, fill, handover }))));

const key = (c: Combination) => `${c.status}/${c.fill}/${c.handover}`;
const VALID = new Set(VALID_COMBINATIONS.map(key));
export function isValidCombination(c: Combination): boolean {
  return VALID.has(key(c));
}

// ---- what a combination reads as ---------------------------------------------------------------------

export type NcpdpFillStatus = 'Dispensed' | 'Partially Dispensed' | 'Not Dispensed' | 'Transferred';
export interface BusinessStatus { code: string; en: string; zh: string }

export interface ExternalStatus {
  medicationRequest: MedicationRequestStatus;
  /** The latest fill's MedicationDispense.status; null when there is no fill. */
  medicationDispense: MedicationDispenseStatus | null;
  task: TaskStatus;
  /** Task.businessStatus: the internal status (as before). */
  taskBusinessStatus: { code: PrescriptionStatus; en: string; zh: string };
  /** What the patient is told. */
  patient: BusinessStatus;
  /** NCPDP RxFill-like fill status; null while no fill has an outcome. */
  ncpdp: NcpdpFillStatus | null;
}

const B = (code: string, en: string, zh: string): BusinessStatus => ({ code, en, zh });

function patientStatus(c: Combination): BusinessStatus {
  const base = ((): BusinessStatus => {
    switch (c.status) {
      case 'received': case 'in_review': return B('in_review', 'With the pharmacist for review', '药师审方中');
      case 'approved': case 'priced': return B('approved', 'Approved, finding a pharmacy', '审方通过，正在安排药店');
      case 'partially_dispensed': return B('partially_dispensed', 'Partially dispensed', '部分已配');
      case 'matching': return c.fill === 'preparing' ? B('with_pharmacy', 'With the pharmacy', '药店配药中') : B('finding_pharmacy', 'Finding a pharmacy', '正在匹配药店');
      case 'dispensed': return c.handover === 'ready_for_pickup' ? B('ready_to_collect', 'Ready to collect', '待取药') : B('dispensed', 'Dispensed, waiting for the courier', '已配药，待配送');
      case 'in_delivery':
        if (c.handover === 'returned') return B('returning', 'Delivery failed; the parcel is back at the pharmacy', '配送失败，药品已退回药店');
        return c.handover === 'failed' ? B('redelivery', 'Delivery failed, sending again', '配送失败，重新配送中') : B('dispatched', 'Dispatched', '配送中');
      case 'delivered': case 'follow_up': case 'completed':
        return c.handover === 'collected' ? B('collected', 'Collected', '已取药') : B('delivered', 'Delivered', '已送达');
      case 'rejected': return B('rejected', 'Not approved by the pharmacist', '审方未通过');
      case 'cancelled': return B('cancelled', 'Cancelled by the hospital', '医院已撤销');
      case 'expired': return B('not_dispensed', 'Not dispensed: the prescription expired', '未配药：处方已过期');
      case 'unfulfillable': return B('not_dispensed', 'Not dispensed: no pharmacy could fill it', '未配药：无药店可配');
      case 'returned': return c.handover === 'uncollected'
        ? B('returned', 'Not collected; returned to the pharmacy', '未取药，已退回药店')
        : B('returned', 'Delivery failed; returned to the pharmacy', '配送失败，已退回药店');
    }
  })();
  if (c.fill === 'partial') return B(`${base.code}.remainder_to_follow`, `${base.en} (partially dispensed, remainder to follow)`, `${base.zh}（部分配药，余量待配）`);
  if (c.fill === 'remainder_not_dispensed') return B(`${base.code}.remainder_not_dispensed`, `${base.en} (partially dispensed, remainder not dispensed)`, `${base.zh}（部分配药，余量不再配）`);
  return base;
}

function dispenseStatus(c: Combination): MedicationDispenseStatus | null {
  switch (c.fill) {
    case 'none': return null;
    case 'preparing': return 'preparation';
    case 'transferred': return 'declined';
    case 'not_dispensed': return c.status === 'cancelled' ? 'cancelled' : 'declined';
    case 'returned': return 'stopped';
    // R4: in-progress = dispensed and on its way to the patient; completed = in the patient's hands.
    default: return c.handover === 'delivered' || c.handover === 'collected' ? 'completed' : 'in-progress';
  }
}

const NCPDP: Record<FillState, NcpdpFillStatus | null> = {
  none: null, preparing: null, transferred: 'Transferred', not_dispensed: 'Not Dispensed', dispensed: 'Dispensed',
  partial: 'Partially Dispensed', remainder_not_dispensed: 'Partially Dispensed', returned: 'Not Dispensed',
};

/** The outside world's view of a valid combination; an invalid one is a bug and throws. */
export function externalStatus(c: Combination): ExternalStatus {
  if (!isValidCombination(c)) throw new Error(`invalid status combination ${key(c)}`);
  const f = fhirStatusOf(c.status);
  // A remainder to follow keeps the order in force and the work open; a remainder abandoned halts the order.
  const medicationRequest = c.fill === 'partial' ? 'active' : c.fill === 'remainder_not_dispensed' ? 'stopped' : f.medicationRequest;
  const task = c.fill === 'partial' ? 'in-progress' : f.task;
  return {
    medicationRequest, medicationDispense: dispenseStatus(c), task,
    taskBusinessStatus: { code: c.status, en: f.en, zh: f.zh },
    patient: patientStatus(c), ncpdp: NCPDP[c.fill],
  };
}

// ---- the workflow's own record, folded into combinations -----------------------------------------------

/**
 * Replays the prescription workflow's timeline (WorkflowState.timeline: the statuses it moved to and the
 * events it noted) into the combination after each entry. Used to prove every workflow path passes only
 * through valid combinations, and by anyone who has the timeline and wants the model's view of it.
 */
export function foldTimeline(events: { event: string; detail?: Record<string, unknown> }[], start: Combination = { status: 'received', fill: 'none', handover: 'none' }): Combination[] {
  let c = start;
  const out: Combination[] = [];
  for (const { event, detail } of events) {
    c = step(c, event, detail ?? {});
    out.push(c);
  }
  return out;
}

function step(c: Combination, event: string, detail: Record<string, unknown>): Combination {
  switch (event) {
    case 'in_review': case 'approved': case 'priced': case 'rejected': case 'follow_up': case 'completed':
      return { ...c, status: event };
    case 'pharmacy_offered': return { ...c, status: 'matching' };
    // The workflow notes the acceptance after its activities, so a quick pharmacy's dispensing can be
    // noted first: an acceptance never takes back a fill that is already further on.
    case 'pharmacy_accepted': return c.fill === 'none' || c.fill === 'transferred' ? { ...c, fill: 'preparing' } : c;
    case 'pharmacy_short': case 'dispense_timed_out': return { ...c, fill: 'transferred' };
    case 'partially_dispensed': return { ...c, status: 'partially_dispensed', fill: 'partial' };
    // Settled: in full (at once, or the remainder later), or partial with the rest declared not dispensed.
    case 'dispensed': return { ...c, status: 'dispensed', fill: detail.partial === true ? 'remainder_not_dispensed' : 'dispensed' };
    case 'cancelled': case 'expired': case 'unfulfillable':
      return { status: event, fill: c.fill === 'none' ? 'none' : 'not_dispensed', handover: 'none' };
    case 'ready_for_pickup': return { ...c, handover: 'ready_for_pickup' };
    case 'delivery_created': return { ...c, status: 'in_delivery', handover: 'created' };
    // Dispatch itself was noted delivery_assigned before partners registered deliveries (created).
    case 'delivery_assigned': return { ...c, status: 'in_delivery', handover: 'assigned' };
    // Only the partner says the parcel is back; a return taken as done after the wait stays failed.
    case 'delivery_returned': return { ...c, handover: 'returned' };
    case 'delivery_picked_up': return { ...c, handover: 'picked_up' };
    case 'delivery_in_transit': return { ...c, handover: 'in_transit' };
    case 'delivery_failed': case 'delivery_timed_out': return { ...c, handover: 'failed' };
    case 'delivery_delivered': return { ...c, status: 'delivered', handover: 'delivered' };
    // The collection moves the prescription to delivered with the pickup's proof.
    case 'delivered': return { ...c, status: 'delivered', handover: c.handover === 'ready_for_pickup' ? 'collected' : c.handover };
    case 'returned': return { status: 'returned', fill: 'returned', handover: c.handover === 'ready_for_pickup' ? 'uncollected' : c.handover };
    default: return c; // notes that change nothing the model tracks (escalations, slips, declines, follow-ups sent)
  }
}
