// The operator CLI's reasoning without services: stage and holder, the reset point of a closed run,
// durations, and how the bench scripts document themselves.
import { chooseResetPoint, position, type HistoryEvent, type HolderFacts } from '../../engine/cli/analysis';
import { duration, table } from '../../engine/cli/common';
import { benchScripts } from '../../engine/cli/delegate';

const now = new Date('2026-11-24T10:00:00Z');
const ago = (ms: number) => new Date(now.getTime() - ms);
const facts = (o: Partial<HolderFacts>): HolderFacts => ({
  status: 'in_review', fulfilment: 'delivery', claimsTracked: false, claim: null, order: null, delivery: null, now,
  timings: { pharmacyResponseMs: 600_000, dispenseTimeoutMs: 7_200_000, deliveryTimeoutMs: 172_800_000, pickupTimeoutMs: 259_200_000 },
  ...o,
});

describe('position: stage and who holds the prescription', () => {
  it('review: the pharmacist holding a live claim, else the queue', () => {
    const claim = { pharmacistCode: 'P001', pharmacistName: '陈药师', claimedAt: ago(60_000), expiresAt: new Date(now.getTime() + 540_000) };
    expect(position(facts({ claimsTracked: true, claim }))).toEqual({ stage: 'review', holder: expect.objectContaining({ kind: 'pharmacist', code: 'P001', dueBy: claim.expiresAt }) });
    expect(position(facts({ claimsTracked: true, claim: { ...claim, expiresAt: ago(1) } })).holder).toMatchObject({ kind: 'pharmacists_queue', note: expect.stringContaining('lapsed') });
    expect(position(facts({})).holder.kind).toBe('pharmacists_queue');
  });

  it('matching and dispensing: the pharmacy offered or accepted, with its deadline', () => {
    const order = { pharmacyCode: 'PH001', pharmacyName: 'x', status: 'offered', attempt: 2, offeredAt: ago(60_000), respondedAt: null };
    const offered = position(facts({ status: 'matching', order }));
    expect(offered).toMatchObject({ stage: 'matching', holder: { kind: 'pharmacy', code: 'PH001', dueBy: new Date(ago(60_000).getTime() + 600_000) } });
    const accepted = position(facts({ status: 'matching', order: { ...order, status: 'accepted', respondedAt: ago(1000) } }));
    expect(accepted).toMatchObject({ stage: 'dispensing', holder: { kind: 'pharmacy', since: ago(1000) } });
    expect(position(facts({ status: 'matching', order: { ...order, status: 'declined' } })).holder.kind).toBe('rxflow');
  });

  it('delivery: the courier; pickup: the pharmacy; finished: nobody', () => {
    const delivery = { partnerCode: 'SF-CITY', partnerName: '顺丰', status: 'in_transit', attempt: 1, updatedAt: ago(5000) };
    expect(position(facts({ status: 'in_delivery', delivery }))).toMatchObject({ stage: 'delivery', holder: { kind: 'courier', code: 'SF-CITY' } });
    const order = { pharmacyCode: 'PH002', pharmacyName: 'y', status: 'dispensed', attempt: 1, offeredAt: ago(9000), respondedAt: ago(8000) };
    expect(position(facts({ status: 'dispensed', fulfilment: 'pickup', order }))).toMatchObject({ stage: 'pickup', holder: { kind: 'pharmacy', code: 'PH002' } });
    expect(position(facts({ status: 'cancelled' }))).toMatchObject({ stage: 'done', holder: { kind: 'nobody' } });
  });
});

describe('chooseResetPoint', () => {
  const ev = (id: number, type: string, extra: Partial<HistoryEvent> = {}): HistoryEvent => ({ id, type, ...extra });
  const start = [ev(1, 'WORKFLOW_EXECUTION_STARTED'), ev(2, 'WORKFLOW_TASK_SCHEDULED'), ev(3, 'WORKFLOW_TASK_STARTED'), ev(4, 'WORKFLOW_TASK_COMPLETED'),
    ev(5, 'ACTIVITY_TASK_SCHEDULED', { scheduledByTask: 4, activityType: 'beginReview' }), ev(6, 'ACTIVITY_TASK_STARTED'), ev(7, 'ACTIVITY_TASK_COMPLETED', { scheduledEventId: 5 }),
    ev(8, 'WORKFLOW_TASK_SCHEDULED'), ev(9, 'WORKFLOW_TASK_STARTED'), ev(10, 'WORKFLOW_TASK_COMPLETED'), ev(11, 'TIMER_STARTED')];

  it('a terminated run waiting on a timer continues from its last completed task', () => {
    expect(chooseResetPoint([...start, ev(12, 'WORKFLOW_EXECUTION_TERMINATED')])).toEqual({ eventId: 10, why: expect.stringContaining('last completed') });
  });

  it('a run failed by an activity out of attempts is reset to the task that scheduled it', () => {
    const failed = [...start.slice(0, 10), ev(11, 'ACTIVITY_TASK_SCHEDULED', { scheduledByTask: 10, activityType: 'renderPrescriptionSlip' }), ev(12, 'ACTIVITY_TASK_STARTED'),
      ev(13, 'ACTIVITY_TASK_FAILED', { scheduledEventId: 11 }), ev(14, 'WORKFLOW_TASK_SCHEDULED'), ev(15, 'WORKFLOW_TASK_STARTED'), ev(16, 'WORKFLOW_TASK_COMPLETED'), ev(17, 'WORKFLOW_EXECUTION_FAILED')];
    expect(chooseResetPoint(failed)).toEqual({ eventId: 10, why: expect.stringContaining('renderPrescriptionSlip') });
  });

  it('an activity still running when the run was terminated is scheduled again', () => {
    const pending = [...start.slice(0, 10), ev(11, 'ACTIVITY_TASK_SCHEDULED', { scheduledByTask: 10, activityType: 'priceInsurance' }), ev(12, 'WORKFLOW_EXECUTION_TERMINATED')];
    expect(chooseResetPoint(pending)).toEqual({ eventId: 10, why: expect.stringContaining('priceInsurance') });
  });

  it('a run that never completed a task has no reset point', () => {
    expect(chooseResetPoint([ev(1, 'WORKFLOW_EXECUTION_STARTED'), ev(2, 'WORKFLOW_TASK_SCHEDULED'), ev(3, 'WORKFLOW_EXECUTION_TERMINATED')])).toBeNull();
  });
});

describe('formatting', () => {
  it('durations read at a glance', () => {
    expect(duration(800)).toBe('800ms');
    expect(duration(65_000)).toBe('1m 5s');
    expect(duration(3_600_000)).toBe('1h');
    expect(duration(90_061_000)).toBe('1d 1h');
    expect(duration(-30_000)).toBe('-30s');
  });

  it('tables align Chinese text by display width', () => {
    expect(table(['a', 'b'], [['陈药师', 'x'], ['P1', 'y']])).toBe('a       b\n陈药师  x\nP1      y');
  });

  it('every bench script documents itself in its header', () => {
    const scripts = benchScripts();
    expect(scripts.map((s) => s.name)).toEqual(expect.arrayContaining(['matching', 'sync-lag']));
    for (const s of scripts) expect(s.summary.length).toBeGreaterThan(10);
  });
});
