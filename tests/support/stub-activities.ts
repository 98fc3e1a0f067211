// Recording stand-ins for every activity, for the tests that run the prescription workflow on the real
// Temporal server without the database (workflow.test.ts, status-model-paths.test.ts). Each answers as
// the real activity would on a happy path; a test overrides what its path needs.
import type { Activities } from '../../activities';
import type { WorkflowTimings } from '../../engine/config';

export type StubOverrides = Partial<Record<keyof Activities, (...a: any[]) => unknown>>;
export type Call = [string, ...unknown[]];

/** Timings long enough that nothing times out unless a test shortens it. */
export const stubTimings: WorkflowTimings = {
  reviewSlaMs: 60_000, reviewMaxEscalations: 3, pharmacyResponseMs: 60_000, dispenseTimeoutMs: 60_000, maxPharmacyAttempts: 3, reservationHoldMs: 60_000,
  deliveryTimeoutMs: 60_000, maxDeliveryAttempts: 2, pickupTimeoutMs: 60_000, followUpDelaysMs: { adherence: 10, adverse_reaction: 20, refill_reminder: 30 }, searchRadiusKm: 10,
};

/** Every activity, each call recorded in `calls` (when given); `pharmacies` are what the search finds, in order. */
export function stubActivities(o: { calls?: Call[]; pharmacies?: string[]; over?: StubOverrides } = {}): Activities {
  const pharmacies = o.pharmacies ?? ['PH1', 'PH2'];
  const candidate = (code: string) => ({
    pharmacyCode: code, name: code, distanceKm: 1, deliveryRadiusKm: 5, totalPriceFen: 100, patientPaysFen: 100, promisedMinutes: 20, stockMargin: 3, acceptanceRate: null,
    score: { distance: 0.9, price: 1, margin: 0.6, reliability: 0.8, total: 0.8 },
  });
  const base: Record<keyof Activities, (...a: any[]) => unknown> = {
    beginReview: () => ({ flags: 0, serious: 0 }),
    escalateReview: () => undefined,
    recordReview: () => undefined,
    notifyHospital: () => undefined,
    notifyPatient: () => undefined,
    renderPrescriptionSlip: () => '/tmp/slip.pdf',
    priceInsurance: () => ({ planId: null, lines: [], totalFen: 100, insurerPaysFen: 0, patientPaysFen: 100 }),
    findPharmacies: (_id: string, _r: number, exclude: string[]) => ({ candidates: pharmacies.filter((c) => !exclude.includes(c)).map(candidate), cannotFill: null }),
    reserveStock: () => true,
    releaseReservations: () => 1,
    extendReservations: () => undefined,
    sweepExpiredReservations: () => ({ expired: 0, released: 0 }),
    offerToPharmacy: (_id: string, attempt: number) => `order-${attempt}`,
    closeOffer: () => undefined,
    recordDispensing: () => ({ ok: true, findings: [] }),
    releaseRemainder: () => ({ notDispensedLines: [] }),
    dispatchDelivery: (_id: string, _o: string, attempt: number) => ({ deliveryId: `delivery-${attempt}`, partnerCode: attempt === 1 ? 'SF' : 'DADA', labelFile: '/tmp/l.pdf' }),
    recordDeliveryStatus: () => undefined,
    flagDeliveryLate: () => undefined,
    recordColdChainDecision: () => undefined,
    escalateColdChain: () => undefined,
    recordCollection: () => undefined,
    restockUncollected: () => undefined,
    restockReturned: () => undefined,
    scheduleFollowUps: () => [{ kind: 'adherence', dueInMs: 10 }, { kind: 'adverse_reaction', dueInMs: 20 }],
    sendFollowUp: () => undefined,
    // The follow-up plan (activities/follow-ups.ts): a check-in nobody answers, then the close.
    planFollowUps: () => ({ steps: [{ followUpId: 'fu-check-in', kind: 'check_in', dueInMs: 10 }, { followUpId: 'fu-close', kind: 'close', dueInMs: 20 }], responseWindowMs: 10 }),
    sendFollowUpStep: () => undefined,
    remindFollowUp: () => undefined,
    markFollowUpUnanswered: () => undefined,
    closeFollowUps: () => undefined,
    finish: () => undefined,
    sendPatientLink: () => ({ linkId: null }),
    applyFulfilmentChoice: () => undefined,
    ...o.over,
  } as Record<keyof Activities, (...a: any[]) => unknown>;
  return Object.fromEntries(Object.entries(base).map(([name, fn]) => [name, async (...args: unknown[]) => { o.calls?.push([name, ...args]); return fn(...args); }])) as unknown as Activities;
}
