// The healer's reasoning (domain/workflow-health.ts) on histories shaped like the crash run's stuck
// workflows (docs/reliability.md, "Nondeterminism after a crash").
import { conflictingEventId, currentTaskFailure, decideHealing, healingResetPoint, isNondeterminism, type TaskHistoryEvent } from '../../domain/workflow-health';

const ev = (id: number, type: string, extra: Partial<TaskHistoryEvent> = {}): TaskHistoryEvent => ({ id, type, ...extra });
const CRASH_NDE = '[TMPRL1100] Nondeterminism error: Update machine does not handle this event: HistoryEvent(id: 130, ActivityTaskScheduled)';

// rx-fd0fc927-…, events 116–170 of the crash run (docs/reliability.md), reduced to what the healer reads.
const crashHistory: TaskHistoryEvent[] = [
  ev(116, 'WORKFLOW_TASK_COMPLETED'), ev(117, 'ACTIVITY_TASK_SCHEDULED'), ev(118, 'WORKFLOW_TASK_SCHEDULED'), ev(119, 'WORKFLOW_TASK_STARTED'), ev(120, 'WORKFLOW_TASK_COMPLETED'),
  ev(121, 'WORKFLOW_EXECUTION_UPDATE_ACCEPTED'), ev(122, 'WORKFLOW_EXECUTION_UPDATE_COMPLETED'), ev(123, 'ACTIVITY_TASK_STARTED'), ev(124, 'ACTIVITY_TASK_COMPLETED'),
  ev(125, 'WORKFLOW_TASK_SCHEDULED'), ev(126, 'WORKFLOW_TASK_TIMED_OUT', { cause: 'TIMEOUT_TYPE_SCHEDULE_TO_START' }), ev(127, 'WORKFLOW_TASK_SCHEDULED'), ev(128, 'WORKFLOW_TASK_STARTED'),
  ev(129, 'WORKFLOW_TASK_COMPLETED'), ev(130, 'ACTIVITY_TASK_SCHEDULED'), ev(131, 'WORKFLOW_EXECUTION_UPDATE_ACCEPTED'), ev(132, 'WORKFLOW_EXECUTION_UPDATE_COMPLETED'),
  ev(133, 'ACTIVITY_TASK_STARTED'), ev(134, 'ACTIVITY_TASK_COMPLETED'), ev(135, 'WORKFLOW_TASK_SCHEDULED'), ev(136, 'WORKFLOW_TASK_STARTED'), ev(137, 'WORKFLOW_TASK_COMPLETED'),
  ev(162, 'WORKFLOW_TASK_COMPLETED'), ev(163, 'ACTIVITY_TASK_SCHEDULED'), ev(164, 'ACTIVITY_TASK_STARTED'), ev(165, 'ACTIVITY_TASK_COMPLETED'),
  ev(166, 'WORKFLOW_TASK_SCHEDULED'), ev(167, 'WORKFLOW_TASK_TIMED_OUT', { cause: 'TIMEOUT_TYPE_SCHEDULE_TO_START' }), ev(168, 'WORKFLOW_TASK_SCHEDULED'), ev(169, 'WORKFLOW_TASK_STARTED'),
  ev(170, 'WORKFLOW_TASK_FAILED', { cause: 'WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR', message: CRASH_NDE }),
];

describe('recognising a nondeterminism error', () => {
  it('by the cause Temporal records, or by the core\'s TMPRL1100 message', () => {
    expect(isNondeterminism('WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR', 'whatever')).toBe(true);
    expect(isNondeterminism('NON_DETERMINISTIC_ERROR', undefined)).toBe(true);
    expect(isNondeterminism('WORKFLOW_TASK_FAILED_CAUSE_UNSPECIFIED', CRASH_NDE)).toBe(true);
    expect(isNondeterminism('WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE', 'Cannot read properties of undefined (reading \'lines\')')).toBe(false);
    expect(isNondeterminism(undefined, undefined)).toBe(false);
  });

  it('reads the conflicting event out of the message when it names one', () => {
    expect(conflictingEventId(CRASH_NDE)).toBe(130);
    expect(conflictingEventId('[TMPRL1100] Nondeterminism error: Activity type of scheduled event \'stepA\' does not match activity type of activity command \'stepB\'')).toBeNull();
    expect(conflictingEventId(undefined)).toBeNull();
  });
});

describe('the failure a workflow task is stuck on', () => {
  it('is the last task failure with no completed task after it; a dead sticky worker\'s timeout is not one', () => {
    expect(currentTaskFailure(crashHistory)).toEqual({ eventId: 170, kind: 'failed', cause: 'NON_DETERMINISTIC_ERROR', message: CRASH_NDE, nondeterminism: true });
    expect(currentTaskFailure(crashHistory.slice(0, 28))).toBeNull(); // up to 167: only a sticky timeout
    const recovered = [...crashHistory, ev(171, 'WORKFLOW_TASK_SCHEDULED'), ev(172, 'WORKFLOW_TASK_STARTED'), ev(173, 'WORKFLOW_TASK_COMPLETED')];
    expect(currentTaskFailure(recovered)).toBeNull();
  });

  it('a start-to-close timeout counts as failing, but not as nondeterminism', () => {
    const timedOut = [...crashHistory.slice(0, 29), ev(169, 'WORKFLOW_TASK_STARTED'), ev(170, 'WORKFLOW_TASK_TIMED_OUT', { cause: 'TIMEOUT_TYPE_START_TO_CLOSE' })];
    expect(currentTaskFailure(timedOut)).toMatchObject({ eventId: 170, kind: 'timed_out', nondeterminism: false });
  });
});

describe('where to reset', () => {
  const failure = currentTaskFailure(crashHistory)!;

  it('to the last completed workflow task before the event the replay conflicted with (the crash run: 129, before 130)', () => {
    expect(healingResetPoint(crashHistory, failure)).toEqual({ eventId: 129, conflictingEventId: 130, why: expect.stringContaining('event 130') });
  });

  it('without an event in the message: to the last completed task before the failure', () => {
    const other = { ...failure, message: '[TMPRL1100] Nondeterminism error: Activity type of scheduled event \'stepA\' does not match activity type of activity command \'stepB\'' };
    expect(healingResetPoint(crashHistory, other)).toEqual({ eventId: 162, conflictingEventId: null, why: expect.stringContaining('event 170') });
  });

  it('a run that fails again after a reset, on a failure naming no event, steps back before where the reset went', () => {
    const other = { ...failure, message: '[TMPRL1100] Nondeterminism error: Activity type of scheduled event \'stepA\' does not match activity type of activity command \'stepB\'' };
    expect(healingResetPoint(crashHistory, other, [137])).toEqual({ eventId: 129, conflictingEventId: null, why: expect.stringContaining('before event 137, where an earlier reset went') });
    expect(healingResetPoint(crashHistory, other, [137, 129])).toMatchObject({ eventId: 120 });
    // A named event is where the conflict is, whatever earlier resets did.
    expect(healingResetPoint(crashHistory, failure, [120])).toMatchObject({ eventId: 129, conflictingEventId: 130 });
  });

  it('nowhere when no workflow task completed before the conflict', () => {
    const early = [ev(1, 'WORKFLOW_EXECUTION_STARTED'), ev(2, 'WORKFLOW_TASK_SCHEDULED'), ev(3, 'WORKFLOW_TASK_STARTED'),
      ev(4, 'WORKFLOW_TASK_FAILED', { cause: 'NON_DETERMINISTIC_ERROR', message: '[TMPRL1100] Nondeterminism error: HistoryEvent(id: 3, WorkflowTaskStarted)' })];
    const f = currentTaskFailure(early)!;
    expect(healingResetPoint(early, f)).toBeNull();
    expect(decideHealing(early, f, [], 3)).toEqual({ action: 'list', reason: 'no_reset_point' });
  });
});

describe('whether to reset', () => {
  const nde = currentTaskFailure(crashHistory)!;

  it('resets a nondeterminism error within the day\'s budget', () => {
    expect(decideHealing(crashHistory, nde, [], 3)).toEqual({ action: 'reset', point: expect.objectContaining({ eventId: 129 }) });
    expect(decideHealing(crashHistory, nde, [129, 129], 3).action).toBe('reset');
  });

  it('only lists one reset as often as the budget allows in a day: a reset that does not help must not loop', () => {
    expect(decideHealing(crashHistory, nde, [129, 129, 129], 3)).toEqual({ action: 'list', reason: 'reset_budget_spent' });
  });

  it('never resets a failure that is not a nondeterminism error: a bug in the workflow code stays visible', () => {
    const bug = [...crashHistory.slice(0, -1), ev(170, 'WORKFLOW_TASK_FAILED', { cause: 'WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE', message: 'TypeError: x is not a function' })];
    const f = currentTaskFailure(bug)!;
    expect(f).toMatchObject({ cause: 'WORKFLOW_WORKER_UNHANDLED_FAILURE', nondeterminism: false });
    expect(decideHealing(bug, f, [], 3)).toEqual({ action: 'list', reason: 'not_nondeterminism' });
  });
});
