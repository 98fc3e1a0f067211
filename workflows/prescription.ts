// One workflow per prescription: review → insurance pre-check → pharmacy matching → dispensing →
// delivery → follow-up. Deterministic orchestration only; every side effect is an activity, every wait
// for a person or partner is a condition with a timeout whose branch is handled where it is written.
import {
  ApplicationFailure, condition, defineQuery, defineSignal, defineUpdate, log, patched, proxyActivities, proxyLocalActivities, setHandler, sleep,
} from '@temporalio/workflow';
import type { Activities, ColdChainDecision, DeliveryUpdate, DispenseInput, ReviewDecision } from '../activities';
import type { WorkflowTimings } from '../engine/config';
import { canDeliveryTransition, isCancellable, nextDeliveryStatuses, sameDeliveryContent, type DeliveryStatus, type PrescriptionStatus } from '../domain/prescription-status';

export interface PrescriptionWorkflowInput {
  prescriptionId: string;
  rxNo: string;
  hospitalCode: string;
  expiresAt: string; // ISO; nothing is dispensed after it
  fulfilment?: 'delivery' | 'pickup'; // absent on workflows started before pickup existed: delivery
  timings: WorkflowTimings;
  /** RX_LOCAL_ACTIVITIES=1 at start: the database steps run as local activities (fixed per workflow, so replay-safe). */
  localActivities?: boolean;
}

export interface PharmacyResponse { orderId: string; pharmacyCode: string; accept: boolean; reason?: string }
export interface CancelRequest { by: string; reason: string }
export interface DispenseRequest extends DispenseInput { orderId: string; pharmacyCode: string }
export interface Collection { orderId: string; pharmacyCode: string; proof: { kind: 'signature' | 'code' | 'id_card'; reference: string; receivedBy?: string } }
export interface ShortReport { orderId: string; pharmacyCode: string; lines: { lineNo: number; reason: string }[] }
/** The API found a cold-chain excursion in the active delivery's readings (docs/delivery.md); the delivery is held until a pharmacist decides. */
export interface ColdChainFlag { deliveryId: string; excursionId: string; rule: string }
/** The patient's choice before matching (docs/patient.md); the address is in the choice's row, never in the history. */
export interface FulfilmentChoice { choiceId: string; mode: 'delivery' | 'pickup'; by: string }
/** After a partial fill: the pharmacy will not dispense the rest (docs/dispensing.md). */
export interface RemainderDeclaration { orderId: string; pharmacyCode: string; reason: string }

export interface TimelineEntry { at: string; event: string; detail?: Record<string, unknown> }
export interface WorkflowState {
  prescriptionId: string;
  status: PrescriptionStatus;
  offer: { orderId: string; pharmacyCode: string; attempt: number; distanceKm: number } | null;
  delivery: {
    deliveryId: string; partnerCode: string; attempt: number; status: DeliveryStatus;
    /** What the partner's latest update said (absent before it was kept), so a repeat is recognised. */
    last?: { note?: string; proof?: Record<string, unknown> };
    /** End of the promised window, and whether it passed (absent on workflows from before ETAs). */
    promisedBy?: string; late?: boolean;
    /** An undecided cold-chain excursion: `delivered` is refused until a pharmacist decides. */
    hold?: { excursionId: string; rule: string; since: string; escalations: number } | null;
  } | null;
  timeline: TimelineEntry[];
  /** Partial fills: fills recorded so far, and whether the rest was declared not dispensed (absent before any fill). */
  fills?: { count: number; complete: boolean; remainderNotDispensed: boolean };
}

export type Outcome = Extract<PrescriptionStatus, 'completed' | 'rejected' | 'cancelled' | 'unfulfillable' | 'returned' | 'expired'>;

// ---- the workflow's public interface -------------------------------------------------------------
export const stateQuery = defineQuery<WorkflowState>('state');
export const reviewUpdate = defineUpdate<WorkflowState, [ReviewDecision]>('review');
export const pharmacyResponseUpdate = defineUpdate<WorkflowState, [PharmacyResponse]>('pharmacyResponse');
export const dispenseUpdate = defineUpdate<WorkflowState, [DispenseRequest]>('dispense');
export const shortUpdate = defineUpdate<WorkflowState, [ShortReport]>('short');
export const collectedUpdate = defineUpdate<WorkflowState, [Collection]>('collected');
export const deliveryUpdate = defineUpdate<WorkflowState, [DeliveryUpdate]>('deliveryStatus');
export const cancelUpdate = defineUpdate<WorkflowState, [CancelRequest]>('cancel');
export const remainderUpdate = defineUpdate<WorkflowState, [RemainderDeclaration]>('remainderNotDispensed');
export const coldChainExcursionUpdate = defineUpdate<WorkflowState, [ColdChainFlag]>('coldChainExcursion');
export const coldChainDecisionUpdate = defineUpdate<WorkflowState, [ColdChainDecision]>('coldChainDecision');
/** A follow-up step was answered (the answer is already stored by the API): the workflow stops waiting for it. */
export interface FollowUpAnswered { followUpId: string }
export const followUpAnsweredSignal = defineSignal<[FollowUpAnswered]>('followUpAnswered');
export const fulfilmentChoiceUpdate = defineUpdate<WorkflowState, [FulfilmentChoice]>('fulfilmentChoice');

// ---- activities ------------------------------------------------------------------------------------
// Database and search adapters retry until the service is back: a prescription waits, it is never lost.
const acts = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', nonRetryableErrorTypes: ['NoPartner', 'IllegalDeliveryTransition'] },
});
// The same steps as local activities: run in the worker inside the workflow task, recorded as markers,
// no round trip through the server per step (docs/benchmarks-e2e.md). A local activity runs again when its
// workflow task is lost, so only steps that decide nothing new when re-run may be local: the search for a
// pharmacy (a decision on live stock) and the PDFs (slow) stay remote activities, as does the insurer's
// pre-check (its own proxy below, with the insurer's deadline).
const remoteActs = acts;
const ALWAYS_REMOTE = new Set<string>(['findPharmacies', 'dispatchDelivery']);
const localActs = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  localRetryThreshold: '10 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', nonRetryableErrorTypes: ['NoPartner', 'IllegalDeliveryTransition'] },
});
const documents = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '2 seconds', maximumInterval: '5 minutes', maximumAttempts: 20 },
});

export async function prescriptionWorkflow(input: PrescriptionWorkflowInput): Promise<Outcome> {
  const acts: typeof remoteActs = input.localActivities
    ? new Proxy(remoteActs, { get: (_t, name) => (ALWAYS_REMOTE.has(String(name)) ? remoteActs : localActs)[name as keyof Activities] })
    : remoteActs;
  const t = input.timings;
  const id = input.prescriptionId;
  const expiresAt = new Date(input.expiresAt).getTime();
  const state: WorkflowState = { prescriptionId: id, status: 'received', offer: null, delivery: null, timeline: [] };
  const note = (event: string, detail?: Record<string, unknown>) => state.timeline.push({ at: new Date().toISOString(), event, detail });
  const moved = (status: PrescriptionStatus, detail?: Record<string, unknown>) => {
    state.status = status;
    note(status, detail);
    log.info('status', { prescriptionId: id, status }); // replay-safe; the workflow id is added by the SDK
  };

  let decision: ReviewDecision | undefined;
  let response: PharmacyResponse | undefined;
  let cancellation: CancelRequest | undefined;
  // Read through a function: the handler sets it between awaits, which TypeScript's narrowing cannot see.
  const cancelled = (): CancelRequest | undefined => cancellation;
  let accepted = false;
  let shortage: ShortReport | undefined;
  const shortReported = (): ShortReport | undefined => shortage;
  let dispensing = false; // a dispense update is being recorded
  let dispensed = false;
  // Partial fills: fills recorded at the accepting pharmacy, and its declaration that the rest will not come.
  let fills = 0;
  let remainder: RemainderDeclaration | undefined;
  const deliveryQueue: DeliveryUpdate[] = [];
  let awaitingCollection = false; // pickup: dispensed and waiting at the pharmacy
  let collection: Collection | undefined;
  // Cold chain: a flag from the API wakes the delivery loop; a pharmacist's decision ends the hold.
  let coldFlags = 0;
  let coldDecision: ColdChainDecision | undefined;
  let returnDetail: Record<string, unknown> | undefined;
  const isOpenOrder = (orderId: string, pharmacyCode: string) => state.offer?.orderId === orderId && state.offer.pharmacyCode === pharmacyCode;
  // The patient may choose delivery or pickup (and the address) until the pharmacy search begins.
  let fulfilment = input.fulfilment;
  let choosing = false;
  let matchingBegun = false;

  setHandler(stateQuery, () => state);
  // A stage is in PostgreSQL (the review queue, the pharmacy's order) as soon as its activity commits, a
  // moment before the workflow has the activity's answer. A pharmacist or pharmacy that acts at once is not
  // refused for that moment: while the stage is opening, the decision is taken and waits in its handler.
  let reviewOpening = false;
  let offering = false;
  let dispatching = false;
  const notAwaitingReview = () => ApplicationFailure.nonRetryable(`prescription is ${state.status}, not awaiting review`, 'NotAwaitingReview');
  const notOffered = () => ApplicationFailure.nonRetryable('this order is not (or no longer) offered to this pharmacy', 'NotOffered');
  setHandler(reviewUpdate, async (d) => {
    await condition(() => !reviewOpening);
    if (state.status !== 'in_review' || decision) throw notAwaitingReview();
    decision = d;
    return state;
  }, {
    validator: (d) => {
      if (!(reviewOpening && !decision) && (state.status !== 'in_review' || decision)) throw notAwaitingReview();
      if (d.decision === 'reject' && d.reasons.length === 0) throw ApplicationFailure.nonRetryable('a rejection needs at least one reason', 'ReasonRequired');
    },
  });
  setHandler(pharmacyResponseUpdate, async (r) => {
    await condition(() => !offering);
    if (!isOpenOrder(r.orderId, r.pharmacyCode) || response || accepted) throw notOffered();
    response = r;
    return state;
  }, {
    validator: (r) => {
      if (!(offering && !response && !accepted) && (!isOpenOrder(r.orderId, r.pharmacyCode) || response || accepted)) throw notOffered();
    },
  });
  setHandler(dispenseUpdate, async (d) => {
    dispensing = true;
    try {
      const r = await acts.recordDispensing(id, d.orderId, d.pharmacyCode, {
        pharmacistName: d.pharmacistName, lines: d.lines, ...(d.partial ? { partial: true } : {}), ...(fills > 0 || d.partial ? { fillNo: fills + 1 } : {}),
      });
      if (!r.ok) throw ApplicationFailure.nonRetryable(r.message, r.code, r.problems);
      fills += 1;
      // Results recorded before partial fills existed have no `complete`: every dispensing was whole then.
      const complete = r.complete !== false;
      state.fills = { count: fills, complete, remainderNotDispensed: false };
      if (!complete) {
        moved('partially_dispensed', { pharmacy: d.pharmacyCode, fillNo: fills, findings: r.findings.length });
        return state;
      }
      dispensed = true;
      moved('dispensed', { pharmacy: d.pharmacyCode, findings: r.findings.length, ...(fills > 1 ? { fillNo: fills } : {}) });
      return state;
    } finally {
      dispensing = false;
    }
  }, {
    validator: (d) => {
      if (!accepted || dispensed || dispensing || shortage || remainder || cancelled() || !isOpenOrder(d.orderId, d.pharmacyCode)) {
        throw ApplicationFailure.nonRetryable('this order is not accepted by this pharmacy, or is already dispensed', 'NotDispensable');
      }
    },
  });
  setHandler(shortUpdate, (r) => { shortage = r; return state; }, {
    validator: (r) => {
      if (!accepted || dispensed || dispensing || shortage || !isOpenOrder(r.orderId, r.pharmacyCode)) {
        throw ApplicationFailure.nonRetryable('this order is not accepted by this pharmacy, or is already dispensed', 'NotDispensable');
      }
      // Part of it is handed out: the prescription is used here, so the rest is declared not dispensed instead.
      if (fills > 0) throw ApplicationFailure.nonRetryable('part of this order is dispensed: declare the remainder not dispensed instead of short', 'NotDispensable');
    },
  });
  setHandler(remainderUpdate, (r) => { remainder = r; return state; }, {
    validator: (r) => {
      if (fills === 0 || dispensed || dispensing || remainder || !isOpenOrder(r.orderId, r.pharmacyCode)) {
        throw ApplicationFailure.nonRetryable('this order has no partial fill with a remainder open at this pharmacy', 'NotPartiallyDispensed');
      }
    },
  });
  setHandler(collectedUpdate, (c) => { collection = c; return state; }, {
    validator: (c) => {
      if (!awaitingCollection || collection || !isOpenOrder(c.orderId, c.pharmacyCode)) throw ApplicationFailure.nonRetryable('this order is not waiting to be collected at this pharmacy', 'NotAwaitingCollection');
    },
  });
  // The same status with the same content again is a repeat: answered with the state, nothing queued.
  const isRepeat = (u: DeliveryUpdate) => state.delivery?.deliveryId === u.deliveryId && state.delivery.status === u.status && sameDeliveryContent(state.delivery.last, u);
  // On replay (after a worker restart) an update can be handed to the workflow before the dispatch that
  // created its delivery resolves, in the same activation, and validators do not run on replay: an update
  // (or a cold-chain flag) is applied to the delivery's state once that delivery is the current one.
  const pendingFlags: ColdChainFlag[] = [];
  const applyDeliveryUpdate = (u: DeliveryUpdate) => {
    const d = state.delivery;
    if (!d || d.deliveryId !== u.deliveryId) return;
    d.status = u.status;
    d.last = { ...(u.note !== undefined ? { note: u.note } : {}), ...(u.proof !== undefined ? { proof: u.proof } : {}) };
  };
  const applyColdChainFlag = (f: ColdChainFlag) => {
    const d = state.delivery;
    if (!d || d.deliveryId !== f.deliveryId) { pendingFlags.push(f); return; }
    if (d.hold?.excursionId !== f.excursionId) {
      d.hold = { excursionId: f.excursionId, rule: f.rule, since: new Date().toISOString(), escalations: 0 };
      coldFlags += 1;
    }
  };
  const checkDeliveryUpdate = (u: DeliveryUpdate) => {
    const d = state.delivery;
    if (!d || d.deliveryId !== u.deliveryId || d.partnerCode !== u.partnerCode) throw ApplicationFailure.nonRetryable('no such active delivery for this partner', 'NotAssigned');
    if (isRepeat(u)) return;
    if (!canDeliveryTransition(d.status, u.status)) {
      const next = nextDeliveryStatuses(d.status);
      throw ApplicationFailure.nonRetryable(`delivery cannot move from ${d.status} to ${u.status}; allowed next: ${next.length ? next.join(', ') : 'none'}`, 'IllegalDeliveryTransition',
        [{ path: '$.status', code: 'illegal_transition', message: `from ${d.status} to ${u.status}`, from: d.status, to: u.status, allowed: next }]);
    }
    if (coldDecision?.decision === 'return') throw ApplicationFailure.nonRetryable('a pharmacist stopped this delivery: the parcel goes back to the pharmacy', 'NotAssigned');
    if (u.status === 'delivered' && d.hold) {
      throw ApplicationFailure.nonRetryable('a cold-chain excursion is waiting for a pharmacist\'s decision; the parcel may not be handed over until then', 'ColdChainHold');
    }
  };
  // The partner has its job as soon as dispatch stored it, a moment before the workflow has dispatch's
  // answer (like a review or an offer above): an update for a delivery still being handed over waits here
  // and is checked once that delivery is current, instead of a refusal and a retry.
  const handingOver = (u: DeliveryUpdate) => dispatching && state.delivery?.deliveryId !== u.deliveryId;
  setHandler(deliveryUpdate, async (u) => {
    if (handingOver(u)) {
      await condition(() => !dispatching);
      checkDeliveryUpdate(u);
    }
    if (isRepeat(u)) return state;
    applyDeliveryUpdate(u);
    deliveryQueue.push(u);
    return state;
  }, {
    validator: (u) => { if (!handingOver(u)) checkDeliveryUpdate(u); },
  });
  setHandler(coldChainExcursionUpdate, (f) => { applyColdChainFlag(f); return state; }, {
    validator: (f) => {
      const d = state.delivery;
      if (!d || d.deliveryId !== f.deliveryId || d.status === 'delivered' || d.status === 'failed' || d.status === 'returned') throw ApplicationFailure.nonRetryable('this delivery is not under way', 'NotAssigned');
      if (d.hold && d.hold.excursionId !== f.excursionId) throw ApplicationFailure.nonRetryable('another excursion of this delivery is still undecided', 'ColdChainHold');
    },
  });
  setHandler(coldChainDecisionUpdate, (c) => { coldDecision = c; return state; }, {
    validator: (c) => {
      if (!state.delivery?.hold || state.delivery.hold.excursionId !== c.excursionId || coldDecision) throw ApplicationFailure.nonRetryable('this excursion is not waiting for a decision', 'NotOnHold');
      if (!c.reason.trim()) throw ApplicationFailure.nonRetryable('a decision needs a reason', 'ReasonRequired');
    },
  });
  const answeredFollowUps = new Set<string>();
  setHandler(followUpAnsweredSignal, (a) => { answeredFollowUps.add(a.followUpId); });
  setHandler(fulfilmentChoiceUpdate, async (c) => {
    choosing = true;
    try {
      await acts.applyFulfilmentChoice(id, c.choiceId);
      fulfilment = c.mode;
      note('fulfilment_chosen', { mode: c.mode, by: c.by });
      return state;
    } finally {
      choosing = false;
    }
  }, {
    validator: (_c) => {
      if (matchingBegun || choosing || cancelled()) throw ApplicationFailure.nonRetryable(`prescription is ${state.status}: a pharmacy is already being matched, so delivery or pickup can no longer be changed`, 'FulfilmentLocked');
    },
  });
  setHandler(cancelUpdate, (c) => { cancellation = c; return state; }, {
    validator: (_request) => {
      if (cancellation || dispensed || dispensing || fills > 0 || !isCancellable(state.status)) throw ApplicationFailure.nonRetryable(`prescription is ${state.status} and can no longer be cancelled`, 'NotCancellable');
    },
  });

  const expired = () => Date.now() >= expiresAt;
  const untilExpiry = () => Math.max(0, expiresAt - Date.now());

  async function end(outcome: Exclude<Outcome, 'rejected'>, actor: string, detail: Record<string, unknown> = {}): Promise<Outcome> {
    await acts.finish(id, outcome, actor, detail);
    moved(outcome, detail);
    if (outcome !== 'completed') {
      await acts.notifyHospital(id, outcome, detail);
      await acts.notifyPatient(id, outcome, detail);
    }
    return outcome;
  }
  const endCancelled = () => end('cancelled', cancelled()!.by, { reason: cancelled()!.reason });
  const cancelOpenOrder = async (orderId: string) => {
    await acts.closeOffer(orderId, 'cancelled', cancelled()!.by, cancelled()!.reason);
    await acts.releaseReservations(id, 'cancelled');
    return endCancelled();
  };

  /**
   * A delivery partner's updates drive it; a failed, refused or silent attempt is dispatched again (another
   * partner where one fits). Out of attempts, or no partner at all: the parcel goes back to the pharmacy —
   * the partner posts `returned`, or after deliveryReturnMs it is taken as back — and the stock is restored.
   * Two more clocks run beside the partner's silence: the promised window (passing it flags the delivery
   * late, once) and, while a cold-chain excursion holds the parcel, the pharmacist's decision time (passing
   * it escalates to the lead pharmacist, again each period; the partner's silence does not fail a held parcel).
   */
  async function deliverHome(): Promise<boolean> {
    const offer = state.offer!;
    const decisionMs = t.coldChainDecisionMs ?? 30 * 60_000;
    let lastAttempt = 0;
    let neverLeft = false; // the last partner refused it at dispatch: the parcel is still at the pharmacy
    for (let attempt = 1; attempt <= t.maxDeliveryAttempts; attempt++) {
      dispatching = true;
      const d = await acts.dispatchDelivery(id, offer.orderId, attempt).catch((e) => { dispatching = false; throw e; });
      if (d.noPartner) { dispatching = false; note('delivery_no_partner', { attempt, reason: d.noPartner }); break; }
      lastAttempt = attempt;
      // Dispatch answered no status before partners registered deliveries: the partner had it (assigned).
      const initial: DeliveryStatus = d.status ?? 'assigned';
      state.delivery = { deliveryId: d.deliveryId, partnerCode: d.partnerCode, attempt, status: initial, ...(d.promisedBy ? { promisedBy: d.promisedBy, late: false } : {}) };
      // What a replay handed over before this point (see applyDeliveryUpdate); nothing on a first run.
      for (const u of deliveryQueue) applyDeliveryUpdate(u);
      dispatching = false; // after the delivery's state: an update waiting in its handler now sees this delivery
      if (attempt === 1) state.status = 'in_delivery';
      note(initial === 'assigned' ? 'delivery_assigned' : 'delivery_created', { partner: d.partnerCode, attempt, label: d.labelFile });
      neverLeft = initial === 'failed';
      if (neverLeft) { note('delivery_failed', { attempt, note: 'the partner refused or could not be reached' }); continue; }
      const promised = d.promisedBy ? new Date(d.promisedBy).getTime() : undefined;
      let lastHeard = Date.now();
      let flagsSeen = coldFlags;
      let nextEscalation = Infinity;
      for (const f of pendingFlags.splice(0)) applyColdChainFlag(f); // after flagsSeen: the loop below notices them as it would have
      for (;;) {
        const cur = state.delivery!;
        const untilLate = promised !== undefined && !cur.late ? Math.max(0, promised - Date.now()) : Infinity;
        const untilSilent = cur.hold ? Infinity : Math.max(0, lastHeard + t.deliveryTimeoutMs - Date.now());
        const untilEscalation = cur.hold ? Math.max(0, nextEscalation - Date.now()) : Infinity;
        const wait = Math.min(untilLate, untilSilent, untilEscalation);
        const woken = () => deliveryQueue.length > 0 || coldDecision !== undefined || coldFlags !== flagsSeen;
        const updated = wait === Infinity ? await condition(woken).then(() => true) : await condition(woken, wait);
        if (coldFlags !== flagsSeen) {
          flagsSeen = coldFlags;
          nextEscalation = Date.now() + decisionMs;
          note('cold_chain_hold', { excursionId: cur.hold!.excursionId, rule: cur.hold!.rule, attempt });
          continue;
        }
        if (coldDecision) {
          const c = coldDecision;
          await acts.recordColdChainDecision(id, d.deliveryId, c);
          note('cold_chain_decided', { excursionId: c.excursionId, decision: c.decision, by: c.pharmacistCode });
          cur.hold = null;
          coldDecision = undefined;
          if (c.decision === 'return') {
            cur.status = 'failed'; // no courier update is taken for it from now on
            await acts.recordDeliveryStatus(id, { deliveryId: d.deliveryId, partnerCode: d.partnerCode, status: 'failed', note: `cold-chain excursion: returned to the pharmacy (${c.pharmacistCode})` });
            returnDetail = { reason: 'cold_chain_excursion', stage: 'delivery', attempt, pharmacist: c.pharmacistCode };
            return false;
          }
          continue;
        }
        if (!updated) {
          if (cur.hold && Date.now() >= nextEscalation) {
            cur.hold.escalations += 1;
            await acts.escalateColdChain(id, cur.hold.excursionId, cur.hold.escalations);
            note('cold_chain_escalated', { excursionId: cur.hold.excursionId, escalations: cur.hold.escalations });
            nextEscalation = Date.now() + decisionMs;
            continue;
          }
          if (promised !== undefined && !cur.late && Date.now() >= promised) {
            await acts.flagDeliveryLate(id, d.deliveryId);
            cur.late = true;
            note('delivery_late', { attempt, promisedBy: d.promisedBy });
            continue;
          }
          await acts.recordDeliveryStatus(id, { deliveryId: d.deliveryId, partnerCode: d.partnerCode, status: 'failed', note: 'no update from the partner in time' });
          if (state.delivery.status !== 'failed') state.delivery = { ...state.delivery, status: 'failed', last: { note: 'no update from the partner in time' } };
          note('delivery_timed_out', { attempt });
          break;
        }
        const u = deliveryQueue.shift()!;
        await acts.recordDeliveryStatus(id, u);
        lastHeard = Date.now();
        note(`delivery_${u.status}`, { attempt, ...(u.note ? { note: u.note } : {}) });
        if (u.status === 'delivered') { state.status = 'delivered'; return true; }
        if (u.status === 'failed') break;
      }
    }
    // Workflows that passed here before returns were tracked went straight to `returned`.
    if (patched('delivery-return-restock')) {
      const d = state.delivery;
      // The handler already shows `returned` when the partner reported it before this point was reached.
      if (d && lastAttempt > 0 && (d.status === 'failed' || d.status === 'returned')) {
        const back = neverLeft || await condition(() => deliveryQueue.some((u) => u.status === 'returned'), t.deliveryReturnMs ?? t.deliveryTimeoutMs);
        const u = neverLeft ? { deliveryId: d.deliveryId, partnerCode: d.partnerCode, status: 'returned' as const, note: 'never left the pharmacy: the partner refused it' }
          : back ? deliveryQueue.find((x) => x.status === 'returned')!
            : { deliveryId: d.deliveryId, partnerCode: d.partnerCode, status: 'returned' as const, note: 'no return reported in time: taken as back at the pharmacy' };
        deliveryQueue.length = 0;
        await acts.recordDeliveryStatus(id, u);
        state.delivery = { ...d, status: 'returned', last: { ...(u.note !== undefined ? { note: u.note } : {}) } };
        note(back ? 'delivery_returned' : 'delivery_return_timed_out', { attempt: d.attempt, ...(u.note ? { note: u.note } : {}) });
      }
      await acts.restockReturned(id, offer.orderId, { attempts: lastAttempt });
    }
    return false;
  }

  /** The patient (or family) collects at the pharmacy, which confirms it with proof. */
  async function collectAtPharmacy(): Promise<boolean> {
    awaitingCollection = true;
    await acts.notifyHospital(id, 'ready_for_pickup', { pharmacy: state.offer!.pharmacyCode });
    await acts.notifyPatient(id, 'ready_for_pickup', { pharmacy: state.offer!.pharmacyCode });
    note('ready_for_pickup', { pharmacy: state.offer!.pharmacyCode });
    const collected = await condition(() => collection !== undefined, t.pickupTimeoutMs);
    awaitingCollection = false;
    if (!collected) {
      await acts.restockUncollected(id, state.offer!.orderId);
      return false;
    }
    await acts.recordCollection(id, collection!);
    moved('delivered', { collectedAt: collection!.pharmacyCode });
    return true;
  }

  // The patient's link, sent at intake (docs/patient.md); workflows started before it existed skip it.
  if (patched('patient-link-at-intake')) await acts.sendPatientLink(id);

  // ---- 1. pharmacist review (审方) ----------------------------------------------------------------
  reviewOpening = true;
  const pre = await acts.beginReview(id).catch((e) => { reviewOpening = false; throw e; });
  moved('in_review', pre);
  reviewOpening = false; // after the status: a decision waiting in its handler now sees the review open
  // Not decided within reviewReturnMs: returned to the hospital as not reviewed (status expired, reason
  // not_reviewed; docs/review.md). Workflows started without it keep the old rule (expire after N escalations).
  const reviewFrom = Date.now();
  const untilReturn = () => (t.reviewReturnMs === undefined ? Infinity : Math.max(0, reviewFrom + t.reviewReturnMs - Date.now()));
  for (let escalations = 0; ; ) {
    const decided = await condition(() => decision !== undefined || cancelled() !== undefined, Math.min(t.reviewSlaMs, untilExpiry(), untilReturn()));
    if (cancelled()) return endCancelled();
    if (decided) break;
    if (expired()) return end('expired', 'system:rxflow', { stage: 'review' });
    if (untilReturn() === 0) return end('expired', 'system:rxflow', { stage: 'review', reason: 'not_reviewed', escalations });
    escalations += 1;
    await acts.escalateReview(id, escalations);
    note('review_sla_breached', { escalations });
    if (escalations >= t.reviewMaxEscalations) return end('expired', 'system:rxflow', { stage: 'review', escalations });
  }
  await acts.recordReview(id, decision!);
  if (decision!.decision === 'reject') {
    moved('rejected', { by: decision!.pharmacistCode, reasons: decision!.reasons });
    await acts.notifyHospital(id, 'rejected', { reasons: decision!.reasons });
    return 'rejected';
  }
  moved('approved', { by: decision!.pharmacistCode });

  // ---- 2. insurance pre-check (医保) ---------------------------------------------------------------
  // The insurer adapter has its own deadline (RX_INSURER_TIMEOUT_MS); the activity's timeout bounds an
  // attempt that hangs anyway. Without an answer: self-pay with the patient's consent (decided in the
  // activity), or held — the hospital and patient told, the insurer asked again until it answers, the
  // prescription expires or is cancelled (docs/insurance.md). Workflows started before have no fallback.
  const pricer = t.insurerTimeoutMs === undefined ? acts : proxyActivities<Activities>({
    startToCloseTimeout: t.insurerTimeoutMs + 30_000,
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
  });
  let pricing = await pricer.priceInsurance(id, t.insurerFallback ? { fallback: t.insurerFallback } : undefined);
  if (pricing.held) {
    await acts.notifyHospital(id, 'insurance_held', { reason: pricing.held.reason });
    await acts.notifyPatient(id, 'insurance_held', { reason: pricing.held.reason });
    note('insurance_held', { reason: pricing.held.reason });
    while (pricing.held) {
      await condition(() => cancelled() !== undefined, Math.min(t.insurerHoldRetryMs ?? 600_000, untilExpiry()));
      if (cancelled()) return endCancelled();
      if (expired()) return end('expired', 'system:rxflow', { stage: 'insurance', reason: 'insurer_unavailable' });
      pricing = await pricer.priceInsurance(id, { fallback: t.insurerFallback });
    }
  }
  moved('priced', { totalFen: pricing.totalFen, insurerPaysFen: pricing.insurerPaysFen, patientPaysFen: pricing.patientPaysFen });
  const slip = await documents.renderPrescriptionSlip(id);
  note('slip_rendered', { file: slip });
  if (cancelled()) return endCancelled();

  // ---- 3–4. matching, then check-before-dispense (核对 → 配药) at the pharmacy that accepted ---------
  // Any open order that does not end in dispensing — declined, silent, short of a line, accepted but
  // never dispensed — is closed, its reservation released, and the next pharmacy is tried.
  const tried: string[] = [];
  // From here the search reads the patient's choice: no change after it; one being recorded finishes first.
  matchingBegun = true;
  if (choosing) await condition(() => !choosing);
  const giveUp = async (orderId: string, status: 'declined' | 'expired' | 'short', actor: string, reason: string | undefined, event: string) => {
    await acts.closeOffer(orderId, status, actor, reason);
    await acts.releaseReservations(id, `${event}${reason ? `: ${reason}` : ''}`);
    note(event, { pharmacy: state.offer!.pharmacyCode, reason });
  };
  for (let attempt = 1; attempt <= t.maxPharmacyAttempts && !dispensed; attempt++) {
    if (expired()) return end('expired', 'system:rxflow', { stage: 'matching' });
    const { candidates: [candidate], cannotFill } = await acts.findPharmacies(id, t.searchRadiusKm, tried);
    state.status = 'matching';
    if (cannotFill?.missingLines.length) return end('unfulfillable', 'system:rxflow', { reason: 'no pharmacy in range stocks these lines', missingLines: cannotFill.missingLines });
    if (cannotFill) return end('unfulfillable', 'system:rxflow', { reason: 'no single pharmacy stocks every line', split: cannotFill.split });
    if (!candidate) break;
    tried.push(candidate.pharmacyCode);
    if (!(await acts.reserveStock(id, candidate.pharmacyCode, t.reservationHoldMs, candidate.fills))) {
      note('stock_gone', { pharmacy: candidate.pharmacyCode }); // sold since it was indexed; try the next
      continue;
    }
    // The previous pharmacy's answer is spent; this one's may arrive while its order is being stored.
    response = undefined;
    shortage = undefined;
    accepted = false;
    offering = true;
    const orderId = await acts.offerToPharmacy(id, attempt, candidate).catch((e) => { offering = false; throw e; });
    const actor = `pharmacy:${candidate.pharmacyCode}`;
    state.offer = { orderId, pharmacyCode: candidate.pharmacyCode, attempt, distanceKm: candidate.distanceKm };
    offering = false; // after the offer's state: an answer waiting in its handler now sees this order
    note('pharmacy_offered', { pharmacy: candidate.pharmacyCode, attempt, distanceKm: candidate.distanceKm, totalPriceFen: candidate.totalPriceFen, score: candidate.score });

    const answered = await condition(() => response !== undefined || cancelled() !== undefined, Math.min(t.pharmacyResponseMs, untilExpiry()));
    if (cancelled()) return cancelOpenOrder(orderId);
    if (!answered) { await giveUp(orderId, 'expired', 'system:rxflow', 'no answer in time', 'pharmacy_timed_out'); continue; }
    if (!response!.accept) { await giveUp(orderId, 'declined', actor, response!.reason, 'pharmacy_declined'); continue; }
    accepted = true;
    await acts.closeOffer(orderId, 'accepted', actor);
    await acts.extendReservations(id, t.dispenseTimeoutMs + t.reservationHoldMs);
    note('pharmacy_accepted', { pharmacy: candidate.pharmacyCode });

    // The dispense update records the dispensing itself (it answers the pharmacy synchronously).
    const settled = () => dispensed || shortage !== undefined || cancelled() !== undefined || remainder !== undefined;
    const inTime = await condition(settled, Math.min(t.dispenseTimeoutMs, untilExpiry()));
    // A dispensing being recorded when the time runs out is let finish (and a refused one corrected).
    if (!inTime && dispensing) await condition(() => !dispensing && settled(), t.dispenseTimeoutMs);
    if (dispensed) break;
    // Partly dispensed, and the rest declared not dispensed or not handed out within the window: the
    // prescription is used here, so the remainder is released and it goes on as a partial fill (never
    // to another pharmacy; docs/dispensing.md). A full dispensing never reaches this branch.
    if (fills > 0) {
      const why = remainder ? { actor: `${actor}`, reason: remainder.reason } : { actor: 'system:rxflow', reason: 'remainder not dispensed within the dispense window' };
      const { notDispensedLines } = await acts.releaseRemainder(id, orderId, why.actor, why.reason);
      dispensed = true;
      state.fills = { count: fills, complete: false, remainderNotDispensed: true };
      moved('dispensed', { pharmacy: candidate.pharmacyCode, partial: true, reason: why.reason, notDispensedLines });
      break;
    }
    if (cancelled()) return cancelOpenOrder(orderId);
    const short = shortReported();
    if (short) { await giveUp(orderId, 'short', actor, short.lines.map((l) => `line ${l.lineNo}: ${l.reason}`).join('; '), 'pharmacy_short'); continue; }
    await giveUp(orderId, 'expired', 'system:rxflow', 'accepted but not dispensed in time', 'dispense_timed_out');
    if (expired()) return end('expired', 'system:rxflow', { stage: 'dispensing' });
  }
  if (!dispensed) return end('unfulfillable', 'system:rxflow', { tried });

  // ---- 5. to the patient: delivered home, or collected at the pharmacy (the patient's choice) -----
  const handedOver = fulfilment === 'pickup' ? await collectAtPharmacy() : await deliverHome();
  if (!handedOver) return end('returned', 'system:rxflow', fulfilment === 'pickup' ? { reason: 'not collected in time' } : returnDetail ?? { attempts: t.maxDeliveryAttempts });
  await acts.notifyHospital(id, 'delivered');

  // ---- 6. follow-up (随访): durable timers, days in production --------------------------------------
  // The plan from rules (docs/follow-up.md): a check-in, a refill reminder before a chronic supply runs
  // out, the close. Each step: sleep until due, send it to the hospital's patient app, wait for the answer;
  // no answer in the window → one reminder, then unanswered. Workflows already in this section when the
  // plan arrived keep the fixed check-ins they started with.
  if (patched('follow-up-plan')) {
    const plan = await acts.planFollowUps(id, t.followUp ?? null);
    moved('follow_up', { kinds: plan.steps.map((f) => f.kind) });
    const planned = Date.now();
    for (const step of plan.steps) {
      await sleep(Math.max(0, planned + step.dueInMs - Date.now()));
      if (step.kind === 'close') break;
      await acts.sendFollowUpStep(id, step.followUpId);
      note('follow_up_sent', { kind: step.kind });
      const answered = () => answeredFollowUps.has(step.followUpId);
      if (!(await condition(answered, plan.responseWindowMs))) {
        await acts.remindFollowUp(id, step.followUpId);
        note('follow_up_reminded', { kind: step.kind });
        if (!(await condition(answered, plan.responseWindowMs))) {
          await acts.markFollowUpUnanswered(id, step.followUpId);
          note('follow_up_unanswered', { kind: step.kind });
          continue;
        }
      }
      note('follow_up_answered', { kind: step.kind });
    }
    await acts.closeFollowUps(id);
    note('follow_up_closed');
    return end('completed', 'system:rxflow');
  }
  const followUps = await acts.scheduleFollowUps(id, t.followUpDelaysMs);
  moved('follow_up', { kinds: followUps.map((f) => f.kind) });
  let waited = 0;
  for (const f of [...followUps].sort((a, b) => a.dueInMs - b.dueInMs)) {
    await sleep(f.dueInMs - waited);
    waited = f.dueInMs;
    await acts.sendFollowUp(id, f.kind);
    note('follow_up_sent', { kind: f.kind });
  }
  return end('completed', 'system:rxflow');
}

export const workflowIdFor = (prescriptionId: string) => `rx-${prescriptionId}`;

