// The CLI's reasoning, kept pure so it is unit-tested without services: which stage a prescription is
// in and who holds it now (inspect), and where a closed workflow run is reset to so it continues (retry).
import { isTerminal, type PrescriptionStatus } from '../../domain/prescription-status';
import type { WorkflowTimings } from '../config';

export interface HolderFacts {
  status: PrescriptionStatus;
  fulfilment: 'delivery' | 'pickup';
  /** Whether review claims exist in this deployment (the review_claim table). */
  claimsTracked: boolean;
  claim: { pharmacistCode: string; pharmacistName: string; claimedAt: Date; expiresAt: Date } | null;
  order: { pharmacyCode: string; pharmacyName: string; status: string; attempt: number; offeredAt: Date; respondedAt: Date | null } | null;
  delivery: { partnerCode: string; partnerName: string; status: string; attempt: number; updatedAt: Date } | null;
  now: Date;
  timings: Pick<WorkflowTimings, 'pharmacyResponseMs' | 'dispenseTimeoutMs' | 'deliveryTimeoutMs' | 'pickupTimeoutMs'>;
}

export type HolderKind = 'pharmacist' | 'pharmacists_queue' | 'pharmacy' | 'courier' | 'rxflow' | 'nobody';
export interface Holder { kind: HolderKind; code?: string; name?: string; since?: Date; dueBy?: Date; note: string }
export interface Position { stage: string; holder: Holder }

const plus = (d: Date, ms: number) => new Date(d.getTime() + ms);

/** Stage of the process (docs/architecture.md's table) and the party the next step waits for. */
export function position(f: HolderFacts): Position {
  const rxflow = (note: string): Holder => ({ kind: 'rxflow', note });
  if (isTerminal(f.status)) return { stage: 'done', holder: { kind: 'nobody', note: `finished as ${f.status}` } };
  switch (f.status) {
    case 'received':
      return { stage: 'intake', holder: rxflow('starting the workflow') };
    case 'in_review': {
      const c = f.claim;
      if (c && c.expiresAt > f.now) {
        return { stage: 'review', holder: { kind: 'pharmacist', code: c.pharmacistCode, name: c.pharmacistName, since: c.claimedAt, dueBy: c.expiresAt, note: 'claimed for review' } };
      }
      const note = !f.claimsTracked ? 'waiting in the pharmacists\' queue' : c ? `unclaimed (the claim of ${c.pharmacistCode} lapsed)` : 'unclaimed, in the pharmacists\' queue';
      return { stage: 'review', holder: { kind: 'pharmacists_queue', note } };
    }
    case 'approved':
      return { stage: 'insurance pre-check', holder: rxflow('pricing the insurance share and rendering the slip') };
    case 'priced':
      return { stage: 'matching', holder: rxflow('searching for a pharmacy') };
    case 'matching': {
      const o = f.order;
      if (o?.status === 'offered') {
        return { stage: 'matching', holder: { kind: 'pharmacy', code: o.pharmacyCode, name: o.pharmacyName, since: o.offeredAt, dueBy: plus(o.offeredAt, f.timings.pharmacyResponseMs), note: `offered (attempt ${o.attempt}), waiting for accept or decline` } };
      }
      if (o?.status === 'accepted') {
        const since = o.respondedAt ?? o.offeredAt;
        return { stage: 'dispensing', holder: { kind: 'pharmacy', code: o.pharmacyCode, name: o.pharmacyName, since, dueBy: plus(since, f.timings.dispenseTimeoutMs), note: 'accepted, checking and dispensing' } };
      }
      return { stage: 'matching', holder: rxflow('searching for the next pharmacy') };
    }
    case 'partially_dispensed': {
      // Part handed out; the same pharmacy owes the rest (or its declaration) within the dispense window.
      const o = f.order;
      if (!o) return { stage: 'dispensing', holder: rxflow('partially dispensed') };
      const since = o.respondedAt ?? o.offeredAt;
      return { stage: 'dispensing', holder: { kind: 'pharmacy', code: o.pharmacyCode, name: o.pharmacyName, since, dueBy: plus(since, f.timings.dispenseTimeoutMs), note: 'partially dispensed, the rest to dispense or declare not dispensed' } };
    }
    case 'dispensed': {
      const o = f.order;
      if (f.fulfilment === 'pickup' && o) {
        const since = o.respondedAt ?? o.offeredAt;
        return { stage: 'pickup', holder: { kind: 'pharmacy', code: o.pharmacyCode, name: o.pharmacyName, since, note: 'dispensed, waiting for the patient to collect' } };
      }
      return { stage: 'delivery', holder: rxflow('dispatching to a delivery partner') };
    }
    case 'in_delivery': {
      const d = f.delivery;
      if (!d) return { stage: 'delivery', holder: rxflow('dispatching to a delivery partner') };
      return { stage: 'delivery', holder: { kind: 'courier', code: d.partnerCode, name: d.partnerName, since: d.updatedAt, dueBy: plus(d.updatedAt, f.timings.deliveryTimeoutMs), note: `delivery ${d.status} (attempt ${d.attempt})` } };
    }
    case 'delivered':
    case 'follow_up':
      return { stage: 'follow-up', holder: rxflow('follow-up check-ins on durable timers') };
    default:
      return { stage: f.status, holder: rxflow('') };
  }
}

// ---- retry: where to reset a closed run ------------------------------------------------------------

/** A history event, reduced to what the choice of reset point needs. */
export interface HistoryEvent {
  id: number;
  /** EventType name without the prefix, e.g. WORKFLOW_TASK_COMPLETED, ACTIVITY_TASK_FAILED. */
  type: string;
  /** ACTIVITY_TASK_SCHEDULED: the workflow task that scheduled it. */
  scheduledByTask?: number;
  /** ACTIVITY_TASK_COMPLETED/FAILED/TIMED_OUT/CANCELED: the ACTIVITY_TASK_SCHEDULED event. */
  scheduledEventId?: number;
  activityType?: string;
}

export interface ResetPoint { eventId: number; why: string }

const ACTIVITY_END = new Set(['ACTIVITY_TASK_COMPLETED', 'ACTIVITY_TASK_FAILED', 'ACTIVITY_TASK_TIMED_OUT', 'ACTIVITY_TASK_CANCELED']);
const CLOSING = new Set([
  'WORKFLOW_EXECUTION_FAILED', 'WORKFLOW_EXECUTION_TERMINATED', 'WORKFLOW_EXECUTION_TIMED_OUT', 'WORKFLOW_EXECUTION_CANCELED',
  'WORKFLOW_EXECUTION_CANCEL_REQUESTED', 'WORKFLOW_EXECUTION_COMPLETED', 'WORKFLOW_EXECUTION_CONTINUED_AS_NEW',
]);

/**
 * The workflow task to reset a closed run to, so that the new run continues where the old one stopped:
 * - the run failed because an activity ran out of attempts: the task that scheduled that activity, so the
 *   activity runs again (activities are idempotent);
 * - otherwise (terminated, timed out, cancelled, or failed in workflow code): the last workflow task
 *   completed before the run was closed — or, if an activity was still pending then, the task that scheduled
 *   it, so it is scheduled again. Updates and signals accepted after the point are re-applied by the reset.
 * Null when the run never completed a workflow task (start it again instead).
 */
export function chooseResetPoint(events: HistoryEvent[]): ResetPoint | null {
  const closeIdx = events.findIndex((e) => CLOSING.has(e.type));
  const before = closeIdx < 0 ? events : events.slice(0, closeIdx);
  const tasks = before.filter((e) => e.type === 'WORKFLOW_TASK_COMPLETED');
  if (!tasks.length) return null;
  const scheduled = new Map(before.filter((e) => e.type === 'ACTIVITY_TASK_SCHEDULED').map((e) => [e.id, e]));

  if (events[closeIdx]?.type === 'WORKFLOW_EXECUTION_FAILED') {
    const lastActivityEnd = [...before].reverse().find((e) => ACTIVITY_END.has(e.type));
    const lastTask = tasks[tasks.length - 1];
    // The failure followed the activity's failure: nothing but the closing task came after it.
    if (lastActivityEnd && (lastActivityEnd.type === 'ACTIVITY_TASK_FAILED' || lastActivityEnd.type === 'ACTIVITY_TASK_TIMED_OUT') && lastActivityEnd.id < lastTask.id) {
      const s = scheduled.get(lastActivityEnd.scheduledEventId ?? -1);
      const later = tasks.filter((t) => t.id > lastActivityEnd.id);
      if (s?.scheduledByTask && later.length <= 1) {
        return { eventId: s.scheduledByTask, why: `re-runs activity ${s.activityType ?? '?'}, which failed and failed the run` };
      }
    }
  }
  const ended = new Set(before.filter((e) => ACTIVITY_END.has(e.type)).map((e) => e.scheduledEventId));
  const pending = [...scheduled.values()].filter((s) => !ended.has(s.id) && s.scheduledByTask);
  if (pending.length) {
    const first = pending.reduce((a, b) => (a.scheduledByTask! <= b.scheduledByTask! ? a : b));
    return { eventId: first.scheduledByTask!, why: `schedules activity ${first.activityType ?? '?'} again (it was running when the run closed)` };
  }
  return { eventId: tasks[tasks.length - 1].id, why: 'continues from the last completed workflow task' };
}
