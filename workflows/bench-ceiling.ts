// BENCHMARK ONLY — not part of the engine and not exported from workflows/index.ts; bench/lib/ceiling-worker.ts
// bundles this file on its own task queue. The orchestration ceiling for bench/e2e.ts: the same Temporal
// work as one prescription's happy path in workflows/prescription.ts (delivery), with every activity a
// no-op — 24 activities, 1 start + 6 updates, the same condition timers and follow-up sleeps and waits, in the same
// order — so rxflow's throughput can be read as a fraction of what Temporal itself carries on this setup.
import { condition, defineUpdate, proxyActivities, proxyLocalActivities, setHandler, sleep } from '@temporalio/workflow';

export interface CeilingTimings {
  reviewSlaMs: number;
  pharmacyResponseMs: number;
  dispenseTimeoutMs: number;
  deliveryTimeoutMs: number;
  followUpDelaysMs: number[]; // as rxflow's scheduleFollowUps returns them (chronic: three)
  /** rxflow's follow-up plan (docs/follow-up.md), nobody answering: each step sent, reminded, unanswered; then closed. */
  followUpPlan?: { stepDueMs: number[]; closeDueMs: number; responseWindowMs: number };
}
export interface CeilingInput {
  timings: CeilingTimings;
  /** Run the cheap steps as local activities (one of the variants the benchmark measures). */
  localActivities?: boolean;
}
/** Workflow-clock times (ms since epoch) of the moments the benchmark reports. */
export interface CeilingResult { startedAt: number; offeredAt: number; completedAt: number }

export const ceilingReview = defineUpdate<string, [unknown]>('review');
export const ceilingPharmacyResponse = defineUpdate<string, [unknown]>('pharmacyResponse');
export const ceilingDispense = defineUpdate<string, [unknown]>('dispense');
export const ceilingDelivery = defineUpdate<string, [{ status: string }]>('deliveryStatus');

/** Every activity of the ceiling: takes a payload and does nothing (bench/lib/ceiling-worker.ts). */
export interface CeilingActivities { step(name: string, payload?: unknown): Promise<string> }

// The same options as the engine's `acts` proxy; the slip has its own proxy there as here.
const remote = proxyActivities<CeilingActivities>({ startToCloseTimeout: '30 seconds', retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' } });
const documents = proxyActivities<CeilingActivities>({ startToCloseTimeout: '2 minutes', retry: { initialInterval: '2 seconds', maximumInterval: '5 minutes', maximumAttempts: 20 } });
const local = proxyLocalActivities<CeilingActivities>({ startToCloseTimeout: '30 seconds' });

type Stage = 'start' | 'review' | 'offer' | 'accepted' | 'delivery' | 'done';

export async function benchCeilingWorkflow(input: CeilingInput): Promise<CeilingResult> {
  const t = input.timings;
  const acts = input.localActivities ? local : remote;
  // As in rxflow (workflows/prescription.ts): the insurer's pre-check (its own proxy there), the pharmacy
  // search and the delivery (label PDF) stay remote.
  const decisive = remote;
  const startedAt = Date.now();
  let offeredAt = 0;
  let stage: Stage = 'start';
  let decision: unknown;
  let response: unknown;
  let dispensed = false;
  let delivery = 0;
  const deliveryQueue: string[] = [];

  // The benchmark's actors react at once: an update arriving before its stage waits for it, where
  // rxflow's actors wait for the stage to show in PostgreSQL before they send it.
  setHandler(ceilingReview, async (d) => { await condition(() => stage === 'review'); decision = d; return stage; });
  setHandler(ceilingPharmacyResponse, async (r) => { await condition(() => stage === 'offer'); response = r; return stage; });
  setHandler(ceilingDispense, async (d) => {
    await condition(() => stage === 'accepted');
    await acts.step('recordDispensing', d); // rxflow's dispense handler records the dispensing itself
    dispensed = true;
    return stage;
  });
  setHandler(ceilingDelivery, async (u) => { await condition(() => stage === 'delivery'); deliveryQueue.push(u.status); return stage; });

  await acts.step('sendPatientLink'); // rxflow sends the patient's link at intake (docs/patient.md)
  await acts.step('beginReview');
  stage = 'review';
  await condition(() => decision !== undefined, t.reviewSlaMs);
  await acts.step('recordReview', decision);
  await decisive.step('priceInsurance');
  await documents.step('renderPrescriptionSlip');
  await decisive.step('findPharmacies');
  await acts.step('reserveStock');
  await acts.step('offerToPharmacy');
  stage = 'offer';
  offeredAt = Date.now();
  await condition(() => response !== undefined, t.pharmacyResponseMs);
  await acts.step('closeOffer');
  await acts.step('extendReservations');
  stage = 'accepted';
  await condition(() => dispensed, t.dispenseTimeoutMs);
  await decisive.step('dispatchDelivery');
  stage = 'delivery';
  for (;;) {
    await condition(() => deliveryQueue.length > 0, t.deliveryTimeoutMs);
    const status = deliveryQueue.shift();
    await acts.step('recordDeliveryStatus', status);
    if (status === 'delivered' || ++delivery > 10) break;
  }
  await acts.step('notifyHospital');
  if (t.followUpPlan) {
    const plan = t.followUpPlan;
    await acts.step('planFollowUps');
    const planned = Date.now();
    for (const due of [...plan.stepDueMs].sort((a, b) => a - b)) {
      await sleep(Math.max(0, planned + due - Date.now()));
      await acts.step('sendFollowUpStep');
      await condition(() => false, plan.responseWindowMs);
      await acts.step('remindFollowUp');
      await condition(() => false, plan.responseWindowMs);
      await acts.step('markFollowUpUnanswered');
    }
    await sleep(Math.max(0, planned + plan.closeDueMs - Date.now()));
    await acts.step('closeFollowUps');
    await acts.step('finish');
    stage = 'done';
    return { startedAt, offeredAt, completedAt: Date.now() };
  }
  await acts.step('scheduleFollowUps');
  let waited = 0;
  for (const due of [...t.followUpDelaysMs].sort((a, b) => a - b)) {
    await sleep(due - waited);
    waited = due;
    await acts.step('sendFollowUp');
  }
  await acts.step('finish');
  stage = 'done';
  return { startedAt, offeredAt, completedAt: Date.now() };
}
