// The workflow's own branches — SLA escalation, expiry, cancellation, a failed delivery re-dispatched,
// nobody to fill it — on the real Temporal server, with the activities replaced by recording stubs so
// each branch can be reached in milliseconds. (The journeys with real activities are in journey.test.ts.)
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import type { WorkflowTimings } from '../../engine/config';
import { workflowBundle } from '../../engine/runtime';
import {
  cancelUpdate, collectedUpdate, deliveryUpdate, dispenseUpdate, pharmacyResponseUpdate, shortUpdate, prescriptionWorkflow, reviewUpdate, stateQuery, type PrescriptionWorkflowInput,
} from '../../workflows/prescription';
import { remainderUpdate } from '../../workflows/prescription';
import { coldChainDecisionUpdate, coldChainExcursionUpdate } from '../../workflows/prescription';
import { fulfilmentChoiceUpdate } from '../../workflows/prescription';
import { applyTestEnv } from './env';
import { stubActivities as stubWith, stubTimings, type Call as StubCall, type StubOverrides } from '../support/stub-activities';

applyTestEnv();

const timings = stubTimings;
type Call = StubCall;
const stubActivities = (calls: Call[], over: StubOverrides = {}) => stubWith({ calls, over });

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await TestWorkflowEnvironment.createFromExistingServer({ address: process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:17233', namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' });
});
afterAll(async () => { await env?.teardown(); });

async function withWorker<T>(calls: Call[], over: Parameters<typeof stubActivities>[1], fn: (taskQueue: string) => Promise<T>): Promise<T> {
  const taskQueue = `wf-test-${randomUUID()}`;
  const worker = await Worker.create({ connection: env.nativeConnection, namespace: env.namespace, taskQueue, workflowBundle: await workflowBundle(), activities: stubActivities(calls, over) });
  return worker.runUntil(fn(taskQueue));
}

const input = (t: Partial<WorkflowTimings> = {}, expiresInMs = 3_600_000): PrescriptionWorkflowInput => ({
  prescriptionId: randomUUID(), rxNo: 'T-1', hospitalCode: 'H', expiresAt: new Date(Date.now() + expiresInMs).toISOString(), timings: { ...timings, ...t },
});
const start = (taskQueue: string, i: PrescriptionWorkflowInput) => env.client.workflow.start(prescriptionWorkflow, { taskQueue, workflowId: `wf-${i.prescriptionId}`, args: [i] });
const named = (calls: Call[], name: string) => calls.filter((c) => c[0] === name);
/** An update the workflow's validator refuses, with the reason it gives. */
async function refused(p: Promise<unknown>, reason: RegExp) {
  const e = await p.then(() => { throw new Error('the update was accepted'); }, (err) => err);
  expect(e.cause?.message).toMatch(reason);
}
async function until(cond: () => Promise<boolean>, ms = 20_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (await cond()) return; await new Promise((r) => setTimeout(r, 50)); }
  throw new Error('condition not met in time');
}

describe('prescription workflow branches', () => {
  it('escalates a review that breaches its SLA and expires it after the last escalation', async () => {
    const calls: Call[] = [];
    const outcome = await withWorker(calls, {}, async (tq) => (await start(tq, input({ reviewSlaMs: 100, reviewMaxEscalations: 3 }))).result());
    expect(outcome).toBe('expired');
    expect(named(calls, 'escalateReview').map((c) => c[2])).toEqual([1, 2, 3]);
    expect(named(calls, 'finish')[0][2]).toBe('expired');
    expect(named(calls, 'priceInsurance')).toHaveLength(0); // nothing proceeds without a pharmacist
  });

  it('escalates on each SLA breach, then returns the prescription as not reviewed at reviewReturnMs', async () => {
    const calls: Call[] = [];
    const outcome = await withWorker(calls, {}, async (tq) => (await start(tq, input({ reviewSlaMs: 300, reviewReturnMs: 3000, reviewMaxEscalations: 100 }))).result());
    expect(outcome).toBe('expired');
    // How many SLA periods fit depends on how fast the worker runs; each is escalated once, in order.
    const escalations = named(calls, 'escalateReview').map((c) => c[2] as number);
    expect(escalations.length).toBeGreaterThanOrEqual(1);
    expect(escalations).toEqual(escalations.map((_, i) => i + 1));
    expect(named(calls, 'finish')[0].slice(2)).toEqual(['expired', 'system:rxflow', { stage: 'review', reason: 'not_reviewed', escalations: escalations.length }]);
    expect(named(calls, 'notifyHospital')[0].slice(2)).toEqual(['expired', { stage: 'review', reason: 'not_reviewed', escalations: escalations.length }]);
    expect(named(calls, 'priceInsurance')).toHaveLength(0);
  });

  it('expires at the end of the prescription\'s validity even while the SLA has not run out', async () => {
    const calls: Call[] = [];
    const outcome = await withWorker(calls, {}, async (tq) => (await start(tq, input({}, 300))).result());
    expect(outcome).toBe('expired');
    expect(named(calls, 'escalateReview')).toHaveLength(0);
  });

  it('is cancelled while in review, and refuses a second cancellation', async () => {
    const calls: Call[] = [];
    const outcome = await withWorker(calls, {}, async (tq) => {
      const h = await start(tq, input());
      await until(async () => (await h.query(stateQuery)).status === 'in_review');
      await h.executeUpdate(cancelUpdate, { args: [{ by: 'hospital:H', reason: '患者取消' }] });
      await refused(h.executeUpdate(cancelUpdate, { args: [{ by: 'hospital:H', reason: 'again' }] }), /can no longer be cancelled/);
      return h.result();
    });
    expect(outcome).toBe('cancelled');
    expect(named(calls, 'finish')[0].slice(2, 4)).toEqual(['cancelled', 'hospital:H']);
  });

  it('ends unfulfillable when no pharmacy can fill it, after trying each once', async () => {
    const calls: Call[] = [];
    const outcome = await withWorker(calls, { reserveStock: () => false }, async (tq) => {
      const h = await start(tq, input());
      await until(async () => (await h.query(stateQuery)).status === 'in_review');
      await h.executeUpdate(reviewUpdate, { args: [{ pharmacistCode: 'P', decision: 'approve', reasons: [] }] });
      return h.result();
    });
    expect(outcome).toBe('unfulfillable');
    expect(named(calls, 'reserveStock').map((c) => c[2])).toEqual(['PH1', 'PH2']);
    expect(named(calls, 'offerToPharmacy')).toHaveLength(0);
  });

  it('re-dispatches a failed delivery to the next partner, and returns the drugs when that one goes silent', async () => {
    const calls: Call[] = [];
    const outcome = await withWorker(calls, {}, async (tq) => {
      const h = await start(tq, input({ deliveryTimeoutMs: 500 }));
      await until(async () => (await h.query(stateQuery)).status === 'in_review');
      await h.executeUpdate(reviewUpdate, { args: [{ pharmacistCode: 'P', decision: 'approve', reasons: [] }] });
      await until(async () => (await h.query(stateQuery)).offer !== null);
      const { offer } = await h.query(stateQuery);
      // Another pharmacy cannot answer this offer.
      await refused(h.executeUpdate(pharmacyResponseUpdate, { args: [{ orderId: offer!.orderId, pharmacyCode: 'PH9', accept: true }] }), /not \(or no longer\) offered/);
      await h.executeUpdate(pharmacyResponseUpdate, { args: [{ orderId: offer!.orderId, pharmacyCode: offer!.pharmacyCode, accept: true }] });
      // Accepted is not dispensed: the hospital may still cancel, but only until the dispensing is recorded.
      await h.executeUpdate(dispenseUpdate, { args: [{ orderId: offer!.orderId, pharmacyCode: offer!.pharmacyCode, pharmacistName: '王药师', lines: [] }] });
      await refused(h.executeUpdate(dispenseUpdate, { args: [{ orderId: offer!.orderId, pharmacyCode: offer!.pharmacyCode, pharmacistName: '王药师', lines: [] }] }), /already dispensed/);
      await until(async () => (await h.query(stateQuery)).delivery?.deliveryId === 'delivery-1');
      await refused(h.executeUpdate(cancelUpdate, { args: [{ by: 'hospital:H', reason: 'too late' }] }), /can no longer be cancelled/);
      await h.executeUpdate(deliveryUpdate, { args: [{ deliveryId: 'delivery-1', partnerCode: 'SF', status: 'picked_up' }] });
      await h.executeUpdate(deliveryUpdate, { args: [{ deliveryId: 'delivery-1', partnerCode: 'SF', status: 'failed', note: '收件人联系不上' }] });
      return h.result();
    });
    expect(outcome).toBe('returned');
    expect(named(calls, 'dispatchDelivery').map((c) => c[3])).toEqual([1, 2]);
    const statuses = named(calls, 'recordDeliveryStatus').map((c) => (c[2] as any).status + '@' + (c[2] as any).deliveryId);
    // The silent partner never reports the parcel back either: after the return window it is taken as back, and restocked.
    expect(statuses).toEqual(['picked_up@delivery-1', 'failed@delivery-1', 'failed@delivery-2', 'returned@delivery-2']);
    expect(named(calls, 'restockReturned')).toHaveLength(1);
    expect(named(calls, 'finish')[0][2]).toBe('returned');
    expect(named(calls, 'scheduleFollowUps')).toHaveLength(0);
  });

  it('tries the next pharmacy when one is short of a line and when one accepts but never dispenses', async () => {
    const calls: Call[] = [];
    const outcome = await withWorker(calls, {}, async (tq) => {
      const h = await start(tq, input({ dispenseTimeoutMs: 400 }));
      await until(async () => (await h.query(stateQuery)).status === 'in_review');
      await h.executeUpdate(reviewUpdate, { args: [{ pharmacistCode: 'P', decision: 'approve', reasons: [] }] });
      await until(async () => (await h.query(stateQuery)).offer?.attempt === 1);
      const first = (await h.query(stateQuery)).offer!;
      await refused(h.executeUpdate(shortUpdate, { args: [{ orderId: first.orderId, pharmacyCode: first.pharmacyCode, lines: [{ lineNo: 1, reason: 'x' }] }] }), /not accepted/);
      await h.executeUpdate(pharmacyResponseUpdate, { args: [{ orderId: first.orderId, pharmacyCode: first.pharmacyCode, accept: true }] });
      await h.executeUpdate(shortUpdate, { args: [{ orderId: first.orderId, pharmacyCode: first.pharmacyCode, lines: [{ lineNo: 1, reason: '缺货' }] }] });
      await until(async () => (await h.query(stateQuery)).offer?.attempt === 2);
      const second = (await h.query(stateQuery)).offer!;
      await h.executeUpdate(pharmacyResponseUpdate, { args: [{ orderId: second.orderId, pharmacyCode: second.pharmacyCode, accept: true }] });
      return h.result(); // the second pharmacy never dispenses; nobody is left
    });
    expect(outcome).toBe('unfulfillable');
    expect(named(calls, 'closeOffer').map((c) => c[2])).toEqual(['accepted', 'short', 'accepted', 'expired']);
    expect(named(calls, 'releaseReservations')).toHaveLength(2);
    expect(named(calls, 'recordDispensing')).toHaveLength(0);
  });

  it('takes a decision that arrives while its stage is still being stored, and refuses one for another order after', async () => {
    // The review queue and the pharmacy's order are in PostgreSQL when their activity commits, a moment
    // before the workflow has the answer: a party acting at once must not be refused for that moment.
    const calls: Call[] = [];
    const gate = () => { let open!: () => void; const p = new Promise<void>((r) => { open = r; }); return { p, open }; };
    const review = gate();
    const offer = gate();
    const stored = { review: false, offer: false };
    const outcome = await withWorker(calls, {
      beginReview: async () => { stored.review = true; await review.p; return { flags: 0, serious: 0 }; },
      offerToPharmacy: async (_id: string, attempt: number) => { stored.offer = true; await offer.p; return `order-${attempt}`; },
    }, async (tq) => {
      const h = await start(tq, input({ dispenseTimeoutMs: 300, pharmacyResponseMs: 1000 }));
      await until(async () => stored.review);
      expect((await h.query(stateQuery)).status).not.toBe('in_review');
      const approve = h.executeUpdate(reviewUpdate, { args: [{ pharmacistCode: 'P', decision: 'approve', reasons: [] }] });
      await new Promise((r) => setTimeout(r, 300)); // the update is waiting in the workflow, not refused
      review.open();
      expect((await approve).status).toBe('in_review'); // answered once the review was open, with the state then
      await until(async () => stored.offer);
      const pharmacyCode = named(calls, 'reserveStock')[0][2] as string;
      const wrong = h.executeUpdate(pharmacyResponseUpdate, { args: [{ orderId: 'order-99', pharmacyCode, accept: true }] });
      const accept = h.executeUpdate(pharmacyResponseUpdate, { args: [{ orderId: 'order-1', pharmacyCode, accept: true }] });
      await new Promise((r) => setTimeout(r, 300));
      offer.open();
      await accept;
      await refused(wrong, /not \(or no longer\) offered/);
      return h.result(); // accepted, never dispensed; the second pharmacy is offered it and does not answer
    });
    expect(outcome).toBe('unfulfillable');
    expect(named(calls, 'recordReview')).toHaveLength(1);
    expect(named(calls, 'closeOffer')[0][2]).toBe('accepted');
  });

  it('answers a refused dispensing to the pharmacy and keeps the order open for a corrected one', async () => {
    const calls: Call[] = [];
    let first = true;
    const recordDispensing = () => {
      if (first) { first = false; return { ok: false, code: 'TRACE_CODE_REUSED', message: 'pack dispensed before', problems: [{ path: '$.lines', code: 'TRACE_CODE_REUSED', message: 'X' }] }; }
      return { ok: true, findings: [] };
    };
    const state = await withWorker(calls, { recordDispensing }, async (tq) => {
      const h = await start(tq, input());
      await until(async () => (await h.query(stateQuery)).status === 'in_review');
      await h.executeUpdate(reviewUpdate, { args: [{ pharmacistCode: 'P', decision: 'approve', reasons: [] }] });
      await until(async () => (await h.query(stateQuery)).offer !== null);
      const o = (await h.query(stateQuery)).offer!;
      await h.executeUpdate(pharmacyResponseUpdate, { args: [{ orderId: o.orderId, pharmacyCode: o.pharmacyCode, accept: true }] });
      const req = { orderId: o.orderId, pharmacyCode: o.pharmacyCode, pharmacistName: '王药师', lines: [] };
      const e = await h.executeUpdate(dispenseUpdate, { args: [req] }).then(() => null, (err) => err);
      expect(e.cause.type).toBe('TRACE_CODE_REUSED');
      expect(e.cause.details[0]).toEqual([{ path: '$.lines', code: 'TRACE_CODE_REUSED', message: 'X' }]);
      const after = await h.executeUpdate(dispenseUpdate, { args: [req] });
      await h.terminate('test done');
      return after;
    });
    expect(state.status).toBe('dispensed');
    expect(named(calls, 'recordDispensing')).toHaveLength(2);
  });

  it('puts an uncollected pickup back on the shelf and ends it returned', async () => {
    const calls: Call[] = [];
    const outcome = await withWorker(calls, {}, async (tq) => {
      const h = await start(tq, { ...input({ pickupTimeoutMs: 300 }), fulfilment: 'pickup' });
      await until(async () => (await h.query(stateQuery)).status === 'in_review');
      await h.executeUpdate(reviewUpdate, { args: [{ pharmacistCode: 'P', decision: 'approve', reasons: [] }] });
      await until(async () => (await h.query(stateQuery)).offer !== null);
      const o = (await h.query(stateQuery)).offer!;
      await refused(h.executeUpdate(collectedUpdate, { args: [{ orderId: o.orderId, pharmacyCode: o.pharmacyCode, proof: { kind: 'code', reference: '1' } }] }), /not waiting to be collected/);
      await h.executeUpdate(pharmacyResponseUpdate, { args: [{ orderId: o.orderId, pharmacyCode: o.pharmacyCode, accept: true }] });
      await h.executeUpdate(dispenseUpdate, { args: [{ orderId: o.orderId, pharmacyCode: o.pharmacyCode, pharmacistName: '王药师', lines: [] }] });
      return h.result();
    });
    expect(outcome).toBe('returned');
    expect(named(calls, 'dispatchDelivery')).toHaveLength(0);
    expect(named(calls, 'restockUncollected')).toHaveLength(1);
    expect(named(calls, 'notifyHospital').map((c) => c[2])).toEqual(['ready_for_pickup', 'returned']);
  });

  it('takes the patient\'s choice of pickup before matching and refuses a change once matching began (docs/patient.md)', async () => {
    const calls: Call[] = [];
    const outcome = await withWorker(calls, {}, async (tq) => {
      const h = await start(tq, input({ pickupTimeoutMs: 300 })); // the hospital said delivery (absent)
      await until(async () => (await h.query(stateQuery)).status === 'in_review');
      await h.executeUpdate(fulfilmentChoiceUpdate, { args: [{ choiceId: 'c-1', mode: 'pickup', by: 'patient:l-1' }] });
      await h.executeUpdate(reviewUpdate, { args: [{ pharmacistCode: 'P', decision: 'approve', reasons: [] }] });
      await until(async () => (await h.query(stateQuery)).offer !== null);
      await refused(h.executeUpdate(fulfilmentChoiceUpdate, { args: [{ choiceId: 'c-2', mode: 'delivery', by: 'patient:l-1' }] }), /can no longer be changed/);
      const o = (await h.query(stateQuery)).offer!;
      await h.executeUpdate(pharmacyResponseUpdate, { args: [{ orderId: o.orderId, pharmacyCode: o.pharmacyCode, accept: true }] });
      await h.executeUpdate(dispenseUpdate, { args: [{ orderId: o.orderId, pharmacyCode: o.pharmacyCode, pharmacistName: '王药师', lines: [] }] });
      return h.result();
    });
    expect(outcome).toBe('returned');
    expect(named(calls, 'sendPatientLink')).toHaveLength(1);
    expect(named(calls, 'applyFulfilmentChoice').map((c) => c[2])).toEqual(['c-1']);
    expect(named(calls, 'dispatchDelivery')).toHaveLength(0); // pickup, as the patient chose
    expect(named(calls, 'notifyHospital').map((c) => c[2])).toEqual(['ready_for_pickup', 'returned']);
  });

  it('after a partial fill, numbers the fills, refuses cancel and short, and releases the remainder when the window closes', async () => {
    const calls: Call[] = [];
    let fill = 0;
    const recordDispensing = () => ({ ok: true, findings: [], fillNo: ++fill, complete: false, lines: [] });
    const outcome = await withWorker(calls, { recordDispensing }, async (tq) => {
      const h = await start(tq, { ...input({ dispenseTimeoutMs: 1500, pickupTimeoutMs: 200 }), fulfilment: 'pickup' });
      await until(async () => (await h.query(stateQuery)).status === 'in_review');
      await h.executeUpdate(reviewUpdate, { args: [{ pharmacistCode: 'P', decision: 'approve', reasons: [] }] });
      await until(async () => (await h.query(stateQuery)).offer !== null);
      const o = (await h.query(stateQuery)).offer!;
      await h.executeUpdate(pharmacyResponseUpdate, { args: [{ orderId: o.orderId, pharmacyCode: o.pharmacyCode, accept: true }] });
      await refused(h.executeUpdate(remainderUpdate, { args: [{ orderId: o.orderId, pharmacyCode: o.pharmacyCode, reason: 'x' }] }), /no partial fill/);
      const req = { orderId: o.orderId, pharmacyCode: o.pharmacyCode, pharmacistName: '王药师', lines: [], partial: true };
      expect((await h.executeUpdate(dispenseUpdate, { args: [req] })).status).toBe('partially_dispensed');
      expect((await h.executeUpdate(dispenseUpdate, { args: [req] })).fills).toEqual({ count: 2, complete: false, remainderNotDispensed: false });
      await refused(h.executeUpdate(cancelUpdate, { args: [{ by: 'hospital:H', reason: 'x' }] }), /can no longer be cancelled/);
      await refused(h.executeUpdate(shortUpdate, { args: [{ orderId: o.orderId, pharmacyCode: o.pharmacyCode, lines: [{ lineNo: 1, reason: 'x' }] }] }), /declare the remainder not dispensed/);
      return h.result(); // nobody declares the rest: the window closes
    });
    expect(named(calls, 'recordDispensing').map((c) => (c[4] as { fillNo?: number }).fillNo)).toEqual([1, 2]);
    expect(named(calls, 'releaseRemainder')).toEqual([['releaseRemainder', expect.any(String), 'order-1', 'system:rxflow', 'remainder not dispensed within the dispense window']]);
    // Used at this pharmacy: never offered to the next one, the stock is released by the remainder alone.
    expect(named(calls, 'offerToPharmacy')).toHaveLength(1);
    expect(named(calls, 'releaseReservations')).toHaveLength(0);
    expect(outcome).toBe('returned'); // the pickup was not collected in time
  });

  it('keeps the full dispensing\'s call as it was (no fill number, no partial flag)', async () => {
    const calls: Call[] = [];
    await withWorker(calls, {}, async (tq) => {
      const h = await start(tq, input());
      await until(async () => (await h.query(stateQuery)).status === 'in_review');
      await h.executeUpdate(reviewUpdate, { args: [{ pharmacistCode: 'P', decision: 'approve', reasons: [] }] });
      await until(async () => (await h.query(stateQuery)).offer !== null);
      const o = (await h.query(stateQuery)).offer!;
      await h.executeUpdate(pharmacyResponseUpdate, { args: [{ orderId: o.orderId, pharmacyCode: o.pharmacyCode, accept: true }] });
      expect((await h.executeUpdate(dispenseUpdate, { args: [{ orderId: o.orderId, pharmacyCode: o.pharmacyCode, pharmacistName: '王药师', lines: [] }] })).status).toBe('dispensed');
      await h.terminate('test done');
    });
    expect(named(calls, 'recordDispensing')[0][4]).toEqual({ pharmacistName: '王药师', lines: [] });
  });
});

describe('insurance pre-check held for an insurer that does not answer (docs/insurance.md)', () => {
  const held = { planId: 'P', lines: [], totalFen: 0, insurerPaysFen: 0, patientPaysFen: 0, held: { kind: 'timeout', reason: 'no answer in 400 ms' } };
  const approveWhenInReview = async (h: Awaited<ReturnType<typeof start>>) => {
    await until(async () => (await h.query(stateQuery)).status === 'in_review');
    await h.executeUpdate(reviewUpdate, { args: [{ pharmacistCode: 'P', decision: 'approve', reasons: [] }] });
  };

  it('tells the hospital and patient once, asks again on a timer, and proceeds when the insurer answers', async () => {
    const calls: Call[] = [];
    let asked = 0;
    const outcome = await withWorker(calls, { priceInsurance: () => (++asked < 3 ? held : { planId: 'P', lines: [], totalFen: 100, insurerPaysFen: 70, patientPaysFen: 30 }) }, async (tq) => {
      const h = await start(tq, input({ insurerTimeoutMs: 400, insurerFallback: 'hold', insurerHoldRetryMs: 100 }));
      await approveWhenInReview(h);
      await until(async () => (await h.query(stateQuery)).status === 'matching', 60_000); // three asks and their timers first: generous under load
      await h.executeUpdate(cancelUpdate, { args: [{ by: 'hospital:H', reason: 'test done' }] });
      return h.result();
    });
    expect(outcome).toBe('cancelled');
    expect(named(calls, 'priceInsurance').map((c) => c[2])).toEqual([{ fallback: 'hold' }, { fallback: 'hold' }, { fallback: 'hold' }]);
    expect(named(calls, 'notifyHospital').map((c) => c[2])).toEqual(['insurance_held', 'cancelled']);
    expect(named(calls, 'notifyPatient').map((c) => c[2])).toEqual(['insurance_held', 'cancelled']);
    expect(named(calls, 'findPharmacies').length).toBeGreaterThanOrEqual(1); // priced at the third ask, then matching
  });

  it('expires at the end of the prescription\'s validity while still held', async () => {
    const calls: Call[] = [];
    const outcome = await withWorker(calls, { priceInsurance: () => held }, async (tq) => {
      const h = await start(tq, input({ insurerTimeoutMs: 400, insurerFallback: 'hold', insurerHoldRetryMs: 60_000, reviewSlaMs: 60_000 }, 15_000)); // room to approve under load before validity ends
      await approveWhenInReview(h);
      return h.result();
    });
    expect(outcome).toBe('expired');
    expect(named(calls, 'finish')[0].slice(2)).toEqual(['expired', 'system:rxflow', { stage: 'insurance', reason: 'insurer_unavailable' }]);
    expect(named(calls, 'findPharmacies')).toHaveLength(0);
    expect(named(calls, 'renderPrescriptionSlip')).toHaveLength(0);
  });

  it('a workflow without insurer timings asks once, as before (no fallback option sent)', async () => {
    const calls: Call[] = [];
    await withWorker(calls, {}, async (tq) => {
      const h = await start(tq, input());
      await approveWhenInReview(h);
      await until(async () => (await h.query(stateQuery)).status === 'matching', 60_000);
      await h.executeUpdate(cancelUpdate, { args: [{ by: 'hospital:H', reason: 'test done' }] });
      return h.result();
    });
    expect(named(calls, 'priceInsurance')).toEqual([['priceInsurance', expect.any(String), undefined]]);
  });

  // Cold chain, lateness (docs/delivery.md): the two clocks beside the partner's silence.
  async function toDelivery(h: Awaited<ReturnType<typeof start>>) {
    await until(async () => (await h.query(stateQuery)).status === 'in_review');
    await h.executeUpdate(reviewUpdate, { args: [{ pharmacistCode: 'P', decision: 'approve', reasons: [] }] });
    await until(async () => (await h.query(stateQuery)).offer !== null);
    const { offer } = await h.query(stateQuery);
    await h.executeUpdate(pharmacyResponseUpdate, { args: [{ orderId: offer!.orderId, pharmacyCode: offer!.pharmacyCode, accept: true }] });
    await h.executeUpdate(dispenseUpdate, { args: [{ orderId: offer!.orderId, pharmacyCode: offer!.pharmacyCode, pharmacistName: '王药师', lines: [] }] });
    await until(async () => (await h.query(stateQuery)).delivery?.deliveryId === 'delivery-1');
  }
  const promisedIn = (ms: number) => ({
    dispatchDelivery: (_id: string, _o: string, attempt: number) => ({ deliveryId: `delivery-${attempt}`, partnerCode: 'SF', labelFile: '/tmp/l.pdf', promisedBy: new Date(Date.now() + ms).toISOString() }),
  });

  it('flags a delivery late once when its promised window passes, without failing the attempt', async () => {
    const calls: Call[] = [];
    const outcome = await withWorker(calls, promisedIn(300), async (tq) => {
      const h = await start(tq, input({ deliveryTimeoutMs: 60_000 }));
      await toDelivery(h);
      await until(async () => (await h.query(stateQuery)).delivery?.late === true);
      await h.executeUpdate(deliveryUpdate, { args: [{ deliveryId: 'delivery-1', partnerCode: 'SF', status: 'picked_up' }] });
      await h.executeUpdate(deliveryUpdate, { args: [{ deliveryId: 'delivery-1', partnerCode: 'SF', status: 'in_transit' }] });
      await h.executeUpdate(deliveryUpdate, { args: [{ deliveryId: 'delivery-1', partnerCode: 'SF', status: 'delivered', proof: { kind: 'signature', reference: 's.png' } }] });
      return h.result();
    });
    expect(outcome).toBe('completed');
    expect(named(calls, 'flagDeliveryLate')).toEqual([['flagDeliveryLate', expect.any(String), 'delivery-1']]);
    expect(named(calls, 'dispatchDelivery')).toHaveLength(1);
  });

  it('holds a cold-chain parcel: delivered refused, the lead pharmacist told each period, then returned on the pharmacist\'s decision', async () => {
    const calls: Call[] = [];
    const outcome = await withWorker(calls, {}, async (tq) => {
      // The partner's silence (300 ms) does not fail a held parcel; the decision time (200 ms) escalates.
      const h = await start(tq, input({ deliveryTimeoutMs: 300, coldChainDecisionMs: 200 }));
      await toDelivery(h);
      await h.executeUpdate(deliveryUpdate, { args: [{ deliveryId: 'delivery-1', partnerCode: 'SF', status: 'picked_up' }] });
      await h.executeUpdate(deliveryUpdate, { args: [{ deliveryId: 'delivery-1', partnerCode: 'SF', status: 'in_transit' }] });
      await refused(h.executeUpdate(coldChainExcursionUpdate, { args: [{ deliveryId: 'delivery-9', excursionId: 'x-1', rule: 'frozen' }] }), /not under way/);
      await h.executeUpdate(coldChainExcursionUpdate, { args: [{ deliveryId: 'delivery-1', excursionId: 'x-1', rule: 'frozen' }] });
      await h.executeUpdate(coldChainExcursionUpdate, { args: [{ deliveryId: 'delivery-1', excursionId: 'x-1', rule: 'frozen' }] }); // told again: the same hold
      await refused(h.executeUpdate(deliveryUpdate, { args: [{ deliveryId: 'delivery-1', partnerCode: 'SF', status: 'delivered', proof: { kind: 'signature', reference: 's.png' } }] }), /waiting for a pharmacist/);
      await h.executeUpdate(deliveryUpdate, { args: [{ deliveryId: 'delivery-1', partnerCode: 'SF', status: 'in_transit' }] }); // it may go on
      await until(async () => calls.filter((c) => c[0] === 'escalateColdChain').length >= 2);
      await refused(h.executeUpdate(coldChainDecisionUpdate, { args: [{ excursionId: 'x-2', decision: 'return', pharmacistCode: 'P', reason: '冻结' }] }), /not waiting for a decision/);
      await h.executeUpdate(coldChainDecisionUpdate, { args: [{ excursionId: 'x-1', decision: 'return', pharmacistCode: 'P', reason: '胰岛素已冻结，不可使用' }] });
      return h.result();
    });
    expect(outcome).toBe('returned');
    const escalations = named(calls, 'escalateColdChain').map((c) => c[3] as number);
    expect(escalations).toEqual(escalations.map((_, i) => i + 1));
    expect(named(calls, 'recordColdChainDecision')).toEqual([['recordColdChainDecision', expect.any(String), 'delivery-1', expect.objectContaining({ excursionId: 'x-1', decision: 'return' })]]);
    const statuses = named(calls, 'recordDeliveryStatus').map((c) => (c[2] as any).status);
    expect(statuses).toEqual(['picked_up', 'in_transit', 'failed']); // no silence timeout while held; stopped on the decision
    expect(named(calls, 'dispatchDelivery')).toHaveLength(1); // returned, not re-dispatched
    expect(named(calls, 'finish')[0].slice(2)).toEqual(['returned', 'system:rxflow', { reason: 'cold_chain_excursion', stage: 'delivery', attempt: 1, pharmacist: 'P' }]);
  });

  it('lets a cold-chain parcel go on when the pharmacist says the drug is usable', async () => {
    const calls: Call[] = [];
    const outcome = await withWorker(calls, {}, async (tq) => {
      const h = await start(tq, input());
      await toDelivery(h);
      await h.executeUpdate(coldChainExcursionUpdate, { args: [{ deliveryId: 'delivery-1', excursionId: 'x-1', rule: 'duration' }] });
      await until(async () => (await h.query(stateQuery)).timeline.some((e) => e.event === 'cold_chain_hold'));
      await h.executeUpdate(coldChainDecisionUpdate, { args: [{ excursionId: 'x-1', decision: 'continue', pharmacistCode: 'P', reason: '9 ℃ 40 分钟，在稳定性数据范围内' }] });
      await until(async () => (await h.query(stateQuery)).delivery?.hold === null);
      await h.executeUpdate(deliveryUpdate, { args: [{ deliveryId: 'delivery-1', partnerCode: 'SF', status: 'picked_up' }] });
      await h.executeUpdate(deliveryUpdate, { args: [{ deliveryId: 'delivery-1', partnerCode: 'SF', status: 'in_transit' }] });
      await h.executeUpdate(deliveryUpdate, { args: [{ deliveryId: 'delivery-1', partnerCode: 'SF', status: 'delivered', proof: { kind: 'code', verified: true } }] });
      return h.result();
    });
    expect(outcome).toBe('completed');
    expect(named(calls, 'escalateColdChain')).toHaveLength(0);
  });
});
