// Workflows whose workflow task keeps failing (docs/reliability.md, "Nondeterminism after a crash"):
// recognising a nondeterminism error and choosing where to reset the run so it re-executes from a point
// its history and the code agree on. Pure: the adapter (activities/workflow-health.ts) reads the history
// and calls Temporal.

/** The history events the diagnosis needs: type without the EVENT_TYPE_ prefix, and a task failure's cause and message. */
export interface TaskHistoryEvent {
  id: number;
  type: string;
  /** WORKFLOW_TASK_FAILED: its cause (e.g. WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR); WORKFLOW_TASK_TIMED_OUT: its timeout type. */
  cause?: string;
  /** WORKFLOW_TASK_FAILED: the failure's message. */
  message?: string;
}

export interface TaskFailure {
  /** The WORKFLOW_TASK_FAILED (or TIMED_OUT) event: the first of the run of failures still going on. */
  eventId: number;
  kind: 'failed' | 'timed_out';
  cause: string;
  message: string;
  nondeterminism: boolean;
}

export interface HealingResetPoint {
  /** The WORKFLOW_TASK_COMPLETED event to reset to (Temporal's workflowTaskFinishEventId). */
  eventId: number;
  /** The history event the replay conflicted with, when the message names it. */
  conflictingEventId: number | null;
  why: string;
}

const NDE_CAUSE = 'NON_DETERMINISTIC_ERROR';

/** Temporal's nondeterminism errors: the cause the SDK reports, or the core's TMPRL1100 message. */
export function isNondeterminism(cause: string | undefined, message: string | undefined): boolean {
  if (cause && cause.replace(/^WORKFLOW_TASK_FAILED_CAUSE_/, '') === NDE_CAUSE) return true;
  return /\[TMPRL1100\]|nondeterminism error/i.test(message ?? '');
}

/**
 * The history event a nondeterminism message names, e.g. "Update machine does not handle this event:
 * HistoryEvent(id: 130, ActivityTaskScheduled)" → 130. Null when it names none (e.g. "Activity type of
 * scheduled event 'a' does not match activity type of activity command 'b'").
 */
export function conflictingEventId(message: string | undefined): number | null {
  const m = /HistoryEvent\(id: (\d+)/.exec(message ?? '') ?? /\bevent[ _]id:? (\d+)/i.exec(message ?? '');
  return m ? Number(m[1]) : null;
}

/**
 * The failure a workflow's task is stuck on: the last WORKFLOW_TASK_FAILED or TIMED_OUT with no completed
 * workflow task after it (Temporal writes only the first failure of a series; later attempts are
 * transient). Null when the last workflow task completed.
 */
export function currentTaskFailure(events: TaskHistoryEvent[]): TaskFailure | null {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i];
    if (e.type === 'WORKFLOW_TASK_COMPLETED') return null;
    if (e.type === 'WORKFLOW_TASK_FAILED') {
      const cause = (e.cause ?? 'UNSPECIFIED').replace(/^WORKFLOW_TASK_FAILED_CAUSE_/, '');
      return { eventId: e.id, kind: 'failed', cause, message: e.message ?? '', nondeterminism: isNondeterminism(cause, e.message) };
    }
    if (e.type === 'WORKFLOW_TASK_TIMED_OUT') {
      // A schedule-to-start timeout is a dead sticky worker: the task is rescheduled on the normal queue.
      if (e.cause === 'TIMEOUT_TYPE_SCHEDULE_TO_START') continue;
      return { eventId: e.id, kind: 'timed_out', cause: e.cause ?? 'TIMEOUT', message: 'workflow task timed out (a worker took longer than the task timeout, or died with it)', nondeterminism: false };
    }
  }
  return null;
}

/**
 * Where to reset a run stuck on a nondeterminism error: to the last completed workflow task before the
 * event the replay conflicted with — the new run replays only history before the conflict and executes
 * that task again. Without an event in the message: the last completed task before the failure, or before
 * the point an earlier reset of this workflow went to (`earlierResets`, the events of resets of the last
 * day): a run that fails again after a reset conflicts with history older than that point, so each reset
 * steps further back. Null when there is no completed task to reset to.
 */
export function healingResetPoint(events: TaskHistoryEvent[], failure: TaskFailure, earlierResets: number[] = []): HealingResetPoint | null {
  const conflict = conflictingEventId(failure.message);
  const named = conflict !== null && conflict < failure.eventId;
  const earlier = named ? [] : earlierResets.filter((p) => p < failure.eventId);
  const before = named ? conflict : Math.min(failure.eventId, ...earlier);
  const task = [...events].reverse().find((e) => e.type === 'WORKFLOW_TASK_COMPLETED' && e.id < before);
  if (!task) return null;
  return {
    eventId: task.id,
    conflictingEventId: conflict,
    why: named
      ? `the last workflow task completed before event ${conflict}, which the replay conflicted with`
      : before < failure.eventId
        ? `the last workflow task completed before event ${before}, where an earlier reset went (the failure names no event)`
        : `the last workflow task completed before the failing one (event ${failure.eventId})`,
  };
}

export type HealingDecision =
  | { action: 'reset'; point: HealingResetPoint }
  | { action: 'list'; reason: 'not_nondeterminism' | 'no_reset_point' | 'reset_budget_spent' };

/**
 * Reset only what is safe to re-execute: a nondeterminism error (the code did not change its mind, the
 * SDK did; docs/reliability.md). A bug in our workflow code must stay visible, and a run reset too often
 * within a day is left to a person (a reset that does not help would loop). `earlierResets`: the reset
 * points of this workflow's resets in the last day.
 */
export function decideHealing(events: TaskHistoryEvent[], failure: TaskFailure, earlierResets: number[], maxResetsPerDay: number): HealingDecision {
  if (!failure.nondeterminism) return { action: 'list', reason: 'not_nondeterminism' };
  if (earlierResets.length >= maxResetsPerDay) return { action: 'list', reason: 'reset_budget_spent' };
  const point = healingResetPoint(events, failure, earlierResets);
  return point ? { action: 'reset', point } : { action: 'list', reason: 'no_reset_point' };
}
