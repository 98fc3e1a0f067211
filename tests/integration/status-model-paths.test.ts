// Every path through the prescription workflow passes only through valid (status, fill, handover)
// combinations of domain/status-model.ts. The workflow runs on the real Temporal server with recording
// stub activities (as in workflow.test.ts); at the end its own timeline is folded with foldTimeline and
// each combination it went through is checked against the model's valid set.
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import type { WorkflowTimings } from '../../engine/config';
import { workflowBundle } from '../../engine/runtime';
import { foldTimeline, isValidCombination, externalStatus, VALID_COMBINATIONS, type Combination } from '../../domain/status-model';
import {
  cancelUpdate, collectedUpdate, deliveryUpdate, dispenseUpdate, pharmacyResponseUpdate, remainderUpdate, shortUpdate, prescriptionWorkflow, reviewUpdate, stateQuery,
  type PrescriptionWorkflowInput, type WorkflowState,
} from '../../workflows/prescription';
import { applyTestEnv } from './env';
import { stubActivities as stubWith, stubTimings, type StubOverrides } from '../support/stub-activities';

applyTestEnv();

const timings = stubTimings;
// These paths offer three pharmacies, register deliveries with the partner first (created), and a partial
// fill's remainder is one line's unit.
const stubActivities = (over: StubOverrides = {}) => stubWith({
  pharmacies: ['PH1', 'PH2', 'PH3'],
  over: {
    dispatchDelivery: (_id: string, _o: string, attempt: number) => ({ deliveryId: `delivery-${attempt}`, partnerCode: attempt === 1 ? 'SF' : 'DADA', labelFile: '/tmp/l.pdf', status: 'created' }),
    releaseRemainder: () => ({ notDispensedLines: [{ lineNo: 1, quantity: 1 }] }),
    scheduleFollowUps: () => [{ kind: 'adherence', dueInMs: 10 }],
    ...over,
  },
});

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await TestWorkflowEnvironment.createFromExistingServer({ address: process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:17233', namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' });
});
afterAll(async () => { await env?.teardown(); });

type Handle = Awaited<ReturnType<typeof env.client.workflow.start<typeof prescriptionWorkflow>>>;
const observed = new Map<string, Combination>();

/** Runs one path to its end and returns the outcome and the combinations its timeline went through. */
async function path(opts: { t?: Partial<WorkflowTimings>; expiresInMs?: number; pickup?: boolean; over?: Parameters<typeof stubActivities>[0] }, drive: (h: Handle) => Promise<void>) {
  const taskQueue = `sm-test-${randomUUID()}`;
  const input: PrescriptionWorkflowInput = {
    prescriptionId: randomUUID(), rxNo: 'T-1', hospitalCode: 'H', expiresAt: new Date(Date.now() + (opts.expiresInMs ?? 3_600_000)).toISOString(),
    timings: { ...timings, ...opts.t }, ...(opts.pickup ? { fulfilment: 'pickup' as const } : {}),
  };
  const worker = await Worker.create({ connection: env.nativeConnection, namespace: env.namespace, taskQueue, workflowBundle: await workflowBundle(), activities: stubActivities(opts.over) });
  return worker.runUntil((async () => {
    const h = await env.client.workflow.start(prescriptionWorkflow, { taskQueue, workflowId: `sm-${input.prescriptionId}`, args: [input] });
    await drive(h);
    const outcome = await h.result();
    const state: WorkflowState = await h.query(stateQuery);
    const combos = foldTimeline(state.timeline);
    for (const c of [{ status: 'received' as const, fill: 'none' as const, handover: 'none' as const }, ...combos]) {
      observed.set(`${c.status}/${c.fill}/${c.handover}`, c);
      // The event that led there is in the message when this fails.
      expect([c, isValidCombination(c)]).toEqual([c, true]);
      expect(() => externalStatus(c)).not.toThrow();
    }
    return { outcome, last: combos.at(-1)!, combos };
  })());
}

async function until(h: Handle, cond: (s: WorkflowState) => boolean, ms = 30_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (cond(await h.query(stateQuery))) return h.query(stateQuery); await new Promise((r) => setTimeout(r, 50)); }
  throw new Error('condition not met in time');
}
const approve = async (h: Handle) => {
  await until(h, (s) => s.status === 'in_review');
  await h.executeUpdate(reviewUpdate, { args: [{ pharmacistCode: 'P', decision: 'approve', reasons: [] }] });
};
/** Waits for the n-th offer and answers it. */
async function answer(h: Handle, attempt: number, accept: boolean) {
  const { offer } = await until(h, (s) => s.offer?.attempt === attempt);
  await h.executeUpdate(pharmacyResponseUpdate, { args: [{ orderId: offer!.orderId, pharmacyCode: offer!.pharmacyCode, accept, ...(accept ? {} : { reason: '忙' }) }] });
  return offer!;
}
const dispense = (h: Handle, o: { orderId: string; pharmacyCode: string }) =>
  h.executeUpdate(dispenseUpdate, { args: [{ orderId: o.orderId, pharmacyCode: o.pharmacyCode, pharmacistName: '王药师', lines: [] }] });
async function deliver(h: Handle, attempt: number, statuses: ('assigned' | 'picked_up' | 'in_transit' | 'delivered' | 'failed' | 'returned')[]) {
  const { delivery } = await until(h, (s) => s.delivery?.attempt === attempt);
  for (const status of statuses) await h.executeUpdate(deliveryUpdate, { args: [{ deliveryId: delivery!.deliveryId, partnerCode: delivery!.partnerCode, status }] });
}
const cancel = (h: Handle) => h.executeUpdate(cancelUpdate, { args: [{ by: 'hospital:H', reason: '患者取消' }] });

describe('every workflow path passes only through valid status combinations', () => {
  it('delivery home, then follow-up, to completed', async () => {
    const r = await path({}, async (h) => {
      await approve(h);
      await dispense(h, await answer(h, 1, true));
      await deliver(h, 1, ['assigned', 'picked_up', 'in_transit', 'delivered']);
    });
    expect(r.outcome).toBe('completed');
    expect(r.combos.map((c) => c.handover)).toEqual(expect.arrayContaining(['created', 'assigned', 'picked_up', 'in_transit', 'delivered']));
    expect(r.last).toEqual({ status: 'completed', fill: 'dispensed', handover: 'delivered' });
  });

  it('pickup collected at the pharmacy', async () => {
    const r = await path({ pickup: true }, async (h) => {
      await approve(h);
      const o = await answer(h, 1, true);
      await dispense(h, o);
      await until(h, (s) => s.timeline.some((e) => e.event === 'ready_for_pickup'));
      await h.executeUpdate(collectedUpdate, { args: [{ orderId: o.orderId, pharmacyCode: o.pharmacyCode, proof: { kind: 'code', reference: '123456' } }] });
    });
    expect(r.outcome).toBe('completed');
    expect(r.combos).toContainEqual({ status: 'dispensed', fill: 'dispensed', handover: 'ready_for_pickup' });
    expect(r.last).toEqual({ status: 'completed', fill: 'dispensed', handover: 'collected' });
  });

  it('rejection by the pharmacist', async () => {
    const r = await path({}, async (h) => {
      await until(h, (s) => s.status === 'in_review');
      await h.executeUpdate(reviewUpdate, { args: [{ pharmacistCode: 'P', decision: 'reject', reasons: ['DOSE'] }] });
    });
    expect(r.outcome).toBe('rejected');
    expect(r.last).toEqual({ status: 'rejected', fill: 'none', handover: 'none' });
  });

  it('cancellation in review, while an offer is open, and after a pharmacy accepted', async () => {
    const inReview = await path({}, async (h) => { await until(h, (s) => s.status === 'in_review'); await cancel(h); });
    const offered = await path({}, async (h) => { await approve(h); await until(h, (s) => s.offer !== null); await cancel(h); });
    const accepted = await path({}, async (h) => { await approve(h); await answer(h, 1, true); await cancel(h); });
    expect([inReview.outcome, offered.outcome, accepted.outcome]).toEqual(['cancelled', 'cancelled', 'cancelled']);
    expect(inReview.last).toEqual({ status: 'cancelled', fill: 'none', handover: 'none' });
    expect(offered.last).toEqual({ status: 'cancelled', fill: 'none', handover: 'none' });
    expect(accepted.combos).toContainEqual({ status: 'matching', fill: 'preparing', handover: 'none' });
    expect(accepted.last).toEqual({ status: 'cancelled', fill: 'not_dispensed', handover: 'none' });
  });

  it('a decline, then the next pharmacy; a failed delivery re-dispatched and delivered', async () => {
    const r = await path({}, async (h) => {
      await approve(h);
      await answer(h, 1, false);
      await dispense(h, await answer(h, 2, true));
      await deliver(h, 1, ['assigned', 'picked_up', 'failed']);
      await deliver(h, 2, ['assigned', 'picked_up', 'in_transit', 'delivered']);
    });
    expect(r.outcome).toBe('completed');
    expect(r.combos).toContainEqual({ status: 'in_delivery', fill: 'dispensed', handover: 'failed' });
    expect(r.last).toEqual({ status: 'completed', fill: 'dispensed', handover: 'delivered' });
  });

  it('short at one pharmacy (transferred), never dispensed at the next: unfulfillable', async () => {
    const r = await path({ t: { dispenseTimeoutMs: 400, maxPharmacyAttempts: 2 } }, async (h) => {
      await approve(h);
      const o = await answer(h, 1, true);
      await h.executeUpdate(shortUpdate, { args: [{ orderId: o.orderId, pharmacyCode: o.pharmacyCode, lines: [{ lineNo: 1, reason: '缺货' }] }] });
      await answer(h, 2, true);
    });
    expect(r.outcome).toBe('unfulfillable');
    expect(r.combos).toContainEqual({ status: 'matching', fill: 'transferred', handover: 'none' });
    expect(r.last).toEqual({ status: 'unfulfillable', fill: 'not_dispensed', handover: 'none' });
  });

  it('no pharmacy answers in time: each offer times out, then unfulfillable', async () => {
    const r = await path({ t: { pharmacyResponseMs: 300 } }, approve);
    expect(r.outcome).toBe('unfulfillable');
    expect(r.last).toEqual({ status: 'unfulfillable', fill: 'none', handover: 'none' });
  });

  it('no pharmacy can reserve it: unfulfillable with no fill', async () => {
    const r = await path({ over: { reserveStock: () => false } }, approve);
    expect(r.last).toEqual({ status: 'unfulfillable', fill: 'none', handover: 'none' });
  });

  it('every delivery attempt fails: returned', async () => {
    const r = await path({ t: { deliveryTimeoutMs: 400 } }, async (h) => {
      await approve(h);
      await dispense(h, await answer(h, 1, true));
      await deliver(h, 1, ['failed']); // the second partner goes silent, and never reports the parcel back
    });
    expect(r.outcome).toBe('returned');
    expect(r.combos).toContainEqual({ status: 'in_delivery', fill: 'dispensed', handover: 'failed' });
    // Taken as back after the return window: the partner never said so, the handover stays failed.
    expect(r.last).toEqual({ status: 'returned', fill: 'returned', handover: 'failed' });
  });

  it('no partner can carry it at all: returned without leaving the pharmacy', async () => {
    const r = await path({ over: { dispatchDelivery: () => ({ deliveryId: '', partnerCode: '', labelFile: '', noPartner: 'no partner serves this address' }) } }, async (h) => {
      await approve(h);
      await dispense(h, await answer(h, 1, true));
    });
    expect(r.outcome).toBe('returned');
    expect(r.last).toEqual({ status: 'returned', fill: 'returned', handover: 'none' });
  });

  it('the last attempt fails and the partner brings the parcel back: returned', async () => {
    const r = await path({}, async (h) => {
      await approve(h);
      await dispense(h, await answer(h, 1, true));
      await deliver(h, 1, ['assigned', 'failed']);
      await deliver(h, 2, ['assigned', 'picked_up', 'failed', 'returned']);
    });
    expect(r.outcome).toBe('returned');
    expect(r.combos).toContainEqual({ status: 'in_delivery', fill: 'dispensed', handover: 'returned' });
    expect(r.last).toEqual({ status: 'returned', fill: 'returned', handover: 'returned' });
  });

  it('a pickup nobody collects: returned', async () => {
    const r = await path({ pickup: true, t: { pickupTimeoutMs: 400 } }, async (h) => {
      await approve(h);
      await dispense(h, await answer(h, 1, true));
    });
    expect(r.outcome).toBe('returned');
    expect(r.last).toEqual({ status: 'returned', fill: 'returned', handover: 'uncollected' });
  });

  it('an insurer that holds the pre-check: cancelled while held, and expired while held', async () => {
    const held = () => ({ planId: null, lines: [], totalFen: 100, insurerPaysFen: 0, patientPaysFen: 100, held: { reason: 'insurer unavailable' } });
    const over = { priceInsurance: held };
    const cancelled = await path({ t: { insurerHoldRetryMs: 60_000 }, over }, async (h) => {
      await approve(h);
      await until(h, (s) => s.timeline.some((e) => e.event === 'insurance_held'));
      await cancel(h);
    });
    const expired = await path({ t: { insurerHoldRetryMs: 200 }, over, expiresInMs: 8_000 }, approve);
    expect([cancelled.outcome, expired.outcome]).toEqual(['cancelled', 'expired']);
    expect(cancelled.combos).toContainEqual({ status: 'approved', fill: 'none', handover: 'none' });
    expect(expired.last).toEqual({ status: 'expired', fill: 'none', handover: 'none' });
  });

  it('expiry in review (SLA escalations) and at the end of validity during matching', async () => {
    const review = await path({ t: { reviewSlaMs: 100, reviewMaxEscalations: 2 } }, async () => undefined);
    const matching = await path({ expiresInMs: 8_000 }, approve); // nobody answers the offer
    expect([review.outcome, matching.outcome]).toEqual(['expired', 'expired']);
    expect(review.last).toEqual({ status: 'expired', fill: 'none', handover: 'none' });
    expect(matching.last).toEqual({ status: 'expired', fill: 'none', handover: 'none' });
  });

  it('expiry while an accepting pharmacy is still dispensing: expired, not dispensed', async () => {
    const r = await path({ expiresInMs: 8_000 }, async (h) => { await approve(h); await answer(h, 1, true); });
    expect(r.outcome).toBe('expired');
    expect(r.last).toEqual({ status: 'expired', fill: 'not_dispensed', handover: 'none' });
  });

});

describe('partial fills pass only through valid combinations too', () => {
  // recordDispensing answers as the activity does: the first fill leaves a remainder, a later one completes it.
  const fills = (...complete: boolean[]) => { let n = 0; return { recordDispensing: () => ({ ok: true, findings: [], complete: complete[n++] ?? true }) }; };
  const partial = (h: Handle, o: { orderId: string; pharmacyCode: string }) =>
    h.executeUpdate(dispenseUpdate, { args: [{ orderId: o.orderId, pharmacyCode: o.pharmacyCode, pharmacistName: '王药师', lines: [], partial: true }] });

  it('part now and the remainder later: partially dispensed, then dispensed, delivered, completed', async () => {
    const r = await path({ over: fills(false, true) }, async (h) => {
      await approve(h);
      const o = await answer(h, 1, true);
      expect((await partial(h, o)).status).toBe('partially_dispensed');
      expect((await dispense(h, o)).status).toBe('dispensed');
      await deliver(h, 1, ['assigned', 'picked_up', 'in_transit', 'delivered']);
    });
    expect(r.outcome).toBe('completed');
    expect(r.combos).toContainEqual({ status: 'partially_dispensed', fill: 'partial', handover: 'none' });
    expect(r.combos).toContainEqual({ status: 'dispensed', fill: 'dispensed', handover: 'none' });
    expect(r.last).toEqual({ status: 'completed', fill: 'dispensed', handover: 'delivered' });
  });

  it('part now and the rest declared not dispensed: delivered as a partial fill', async () => {
    const r = await path({ over: fills(false) }, async (h) => {
      await approve(h);
      const o = await answer(h, 1, true);
      await partial(h, o);
      await h.executeUpdate(remainderUpdate, { args: [{ orderId: o.orderId, pharmacyCode: o.pharmacyCode, reason: '缺货，患者同意' }] });
      await deliver(h, 1, ['assigned', 'picked_up', 'in_transit', 'delivered']);
    });
    expect(r.outcome).toBe('completed');
    expect(r.combos).toContainEqual({ status: 'dispensed', fill: 'remainder_not_dispensed', handover: 'none' });
    expect(r.combos).toContainEqual({ status: 'in_delivery', fill: 'remainder_not_dispensed', handover: 'in_transit' });
    expect(r.last).toEqual({ status: 'completed', fill: 'remainder_not_dispensed', handover: 'delivered' });
  });

  it('part now, the window lapses, collected at the pharmacy as a partial fill', async () => {
    const r = await path({ pickup: true, t: { dispenseTimeoutMs: 400 }, over: fills(false) }, async (h) => {
      await approve(h);
      const o = await answer(h, 1, true);
      await partial(h, o);
      await until(h, (s) => s.timeline.some((e) => e.event === 'ready_for_pickup'));
      await h.executeUpdate(collectedUpdate, { args: [{ orderId: o.orderId, pharmacyCode: o.pharmacyCode, proof: { kind: 'code', reference: '123456' } }] });
    });
    expect(r.outcome).toBe('completed');
    expect(r.combos).toContainEqual({ status: 'dispensed', fill: 'remainder_not_dispensed', handover: 'ready_for_pickup' });
    expect(r.last).toEqual({ status: 'completed', fill: 'remainder_not_dispensed', handover: 'collected' });
  });

  it('a partial fill whose every delivery fails: returned', async () => {
    const r = await path({ t: { deliveryTimeoutMs: 400 }, over: fills(false) }, async (h) => {
      await approve(h);
      const o = await answer(h, 1, true);
      await partial(h, o);
      await h.executeUpdate(remainderUpdate, { args: [{ orderId: o.orderId, pharmacyCode: o.pharmacyCode, reason: '缺货' }] });
      await deliver(h, 1, ['failed']);
      await deliver(h, 2, ['assigned', 'failed', 'returned']); // the second partner brings it back
    });
    expect(r.outcome).toBe('returned');
    expect(r.combos).toContainEqual({ status: 'in_delivery', fill: 'remainder_not_dispensed', handover: 'failed' });
    expect(r.combos).toContainEqual({ status: 'in_delivery', fill: 'remainder_not_dispensed', handover: 'returned' });
    expect(r.last).toEqual({ status: 'returned', fill: 'returned', handover: 'returned' });
  });
});

describe('coverage of the model', () => {
  it('the paths above reach every valid combination: the model holds no state the engine never takes', () => {
    const key = (c: Combination) => `${c.status}/${c.fill}/${c.handover}`;
    expect(VALID_COMBINATIONS.map(key).filter((k) => !observed.has(k))).toEqual([]);
  });
});
