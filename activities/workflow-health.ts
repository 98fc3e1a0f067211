// Finding prescription workflows whose workflow task keeps failing, and healing those stuck on a
// nondeterminism error by a Temporal reset (docs/reliability.md, "Nondeterminism after a crash"). The
// reasoning is in domain/workflow-health.ts; this is the adapter to PostgreSQL and Temporal, shared by the
// durable loop (workflows/workflow-healer.ts), `rxflow stuck` and `rxflow repair`.
import { createHash } from 'node:crypto';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { temporal as proto } from '@temporalio/proto';
import { audit } from './audit';
import { isTerminal, PRESCRIPTION_STATUSES } from '../domain/prescription-status';
import { currentTaskFailure, decideHealing, type HealingResetPoint, type TaskFailure, type TaskHistoryEvent } from '../domain/workflow-health';
import type { WorkflowHealthConfig } from '../engine/config';
import { log } from '../engine/log';

export interface WorkflowHealthDeps { orm: MikroORM; temporal: Client; namespace: string }

/** A prescription whose workflow is running but cannot complete a workflow task. */
export interface FailingWorkflow {
  prescriptionId: string;
  rxNo: string;
  hospital: string;
  status: string;
  /** When the prescription's status last changed. */
  since: string;
  workflowId: string;
  runId: string;
  /** The pending workflow task's attempt (2 and more: it failed before). */
  attempt: number;
  failure: TaskFailure;
}

/** The audit action of a reset; `rxflow repair`, the loop and the tests look for it. */
export const RESET_ACTION = 'workflow_reset';
export const SYSTEM_ACTOR = 'system:rxflow';

export type HealOutcome =
  | { action: 'reset'; prescriptionId: string; workflowId: string; fromRunId: string; runId: string; point: HealingResetPoint; actor: string }
  | { action: 'listed'; prescriptionId: string; workflowId: string; reason: 'not_nondeterminism' | 'no_reset_point' | 'reset_budget_spent'; detail: string };

const EVENT_TYPE = proto.api.enums.v1.EventType;
const TASK_FAILED_CAUSE = proto.api.enums.v1.WorkflowTaskFailedCause;
const TIMEOUT_TYPE = proto.api.enums.v1.TimeoutType;
const OPEN = PRESCRIPTION_STATUSES.filter((s) => !isTerminal(s));

export function taskHistoryEvents(raw: proto.api.history.v1.IHistoryEvent[]): TaskHistoryEvent[] {
  return raw.map((e) => {
    const failed = e.workflowTaskFailedEventAttributes;
    const timedOut = e.workflowTaskTimedOutEventAttributes;
    return {
      id: Number(e.eventId),
      type: String(EVENT_TYPE[e.eventType ?? 0]).replace(/^EVENT_TYPE_/, ''),
      cause: failed ? String(TASK_FAILED_CAUSE[failed.cause ?? 0]) : timedOut ? String(TIMEOUT_TYPE[timedOut.timeoutType ?? 0]) : undefined,
      message: failed?.failure?.message ?? undefined,
    };
  });
}

/**
 * A running workflow whose pending workflow task is on its second attempt or later, with the failure it
 * is stuck on and its history; null when the workflow is healthy, closed or missing.
 */
export async function failingTask(client: Client, workflowId: string): Promise<{ runId: string; attempt: number; failure: TaskFailure; events: TaskHistoryEvent[] } | null> {
  let d;
  try {
    d = await client.workflow.getHandle(workflowId).describe();
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) return null;
    throw e;
  }
  const attempt = d.raw.pendingWorkflowTask?.attempt ?? 0;
  if (d.status.name !== 'RUNNING' || attempt < 2) return null;
  const history = await client.workflow.getHandle(workflowId, d.runId).fetchHistory();
  const events = taskHistoryEvents(history.events ?? []);
  const failure = currentTaskFailure(events);
  return failure ? { runId: d.runId, attempt, failure, events } : null;
}

export interface HealCursor { since: string; id: string }
interface Candidate { id: string; rx_no: string; hospital: string; workflow_id: string; status: string; since: Date; since_text: string }

/**
 * Open prescriptions whose status has stood still for `staleMs` (or the ones named), oldest first from
 * `after`, each asked of Temporal; `next` continues the walk, null when it reached the end.
 */
export async function findFailingWorkflows(deps: WorkflowHealthDeps, opts: { staleMs: number; limit: number; prescriptionIds?: string[]; after?: HealCursor | null }): Promise<{ items: FailingWorkflow[]; checked: number; next: HealCursor | null }> {
  const since = `coalesce(p.status_changed_at, p.created_at)`;
  const params: unknown[] = [...OPEN, opts.staleMs];
  let where = `p.status in (${OPEN.map(() => '?').join(', ')}) and ${since} <= now() - ? * interval '1 millisecond'`;
  if (opts.prescriptionIds) {
    if (!opts.prescriptionIds.length) return { items: [], checked: 0, next: null };
    where += ` and p.id in (${opts.prescriptionIds.map(() => '?').join(', ')})`;
    params.push(...opts.prescriptionIds);
  }
  if (opts.after) {
    where += ` and (${since}, p.id) > (?::timestamptz, ?::uuid)`;
    params.push(opts.after.since, opts.after.id);
  }
  const rows: Candidate[] = await deps.orm.em.fork().getConnection().execute(`
    select p.id, p.rx_no, h.code as hospital, p.workflow_id, p.status, ${since} as since, ${since}::text as since_text
    from prescription p join hospital h on h.id = p.hospital_id
    where ${where} order by ${since}, p.id limit ?`, [...params, opts.limit]);
  const found: (FailingWorkflow & { events: TaskHistoryEvent[] })[] = [];
  let next = 0;
  const ask = async () => {
    while (next < rows.length) {
      const r = rows[next++];
      const f = await failingTask(deps.temporal, r.workflow_id);
      if (f) found.push({ prescriptionId: r.id, rxNo: r.rx_no, hospital: r.hospital, status: r.status, since: new Date(r.since).toISOString(), workflowId: r.workflow_id, runId: f.runId, attempt: f.attempt, failure: f.failure, events: f.events });
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, rows.length) }, ask));
  const last = rows[rows.length - 1];
  return {
    items: found.sort((a, b) => a.since.localeCompare(b.since)).map(({ events: _, ...item }) => item),
    checked: rows.length,
    next: rows.length === opts.limit && last ? { since: last.since_text, id: last.id } : null,
  };
}

/**
 * Resets one failing workflow when the domain says it is safe (a nondeterminism error, within the daily
 * budget unless `force`), and records the reset on the prescription's audit trail; otherwise says why not.
 * The workflow is read again first: what was listed a moment ago may have moved on.
 */
export async function healWorkflow(deps: WorkflowHealthDeps, prescriptionId: string, workflowId: string, opts: { actor: string; reason?: string; maxResetsPerDay: number; force?: boolean }): Promise<HealOutcome | null> {
  const f = await failingTask(deps.temporal, workflowId);
  if (!f) return null;
  const earlier: { event: number }[] = await deps.orm.em.fork().getConnection().execute(
    `select (data->>'resetToEvent')::int as event from audit_event where prescription_id = ? and action = ? and at > now() - interval '1 day' and data->>'workflowId' = ?`,
    [prescriptionId, RESET_ACTION, workflowId]);
  const n = earlier.length;
  const decision = decideHealing(f.events, f.failure, earlier.map((e) => Number(e.event)), opts.force ? Infinity : opts.maxResetsPerDay);
  if (decision.action === 'list') {
    const detail = decision.reason === 'not_nondeterminism'
      ? `workflow task ${f.failure.kind} (${f.failure.cause}), not a nondeterminism error: not reset, the cause must be fixed`
      : decision.reason === 'reset_budget_spent'
        ? `reset ${n} time(s) in the last day (at most ${opts.maxResetsPerDay}): left to an operator`
        : 'no completed workflow task before the conflict to reset to';
    return { action: 'listed', prescriptionId, workflowId, reason: decision.reason, detail };
  }
  const { point } = decision;
  const res = await deps.temporal.workflowService.resetWorkflowExecution({
    namespace: deps.namespace,
    workflowExecution: { workflowId, runId: f.runId },
    reason: `rxflow workflow health (${opts.actor}): nondeterminism error at event ${f.failure.eventId}${opts.reason ? `: ${opts.reason}` : ''}`.slice(0, 1000),
    workflowTaskFinishEventId: point.eventId as never, // int64: protobufjs encodes a number
    // The same failing run and reset point give the same request: a retried activity does not reset twice.
    requestId: createHash('sha256').update(`${workflowId}/${f.runId}/${point.eventId}`).digest('hex').slice(0, 36),
    resetReapplyType: proto.api.enums.v1.ResetReapplyType.RESET_REAPPLY_TYPE_ALL_ELIGIBLE,
  });
  const runId = res.runId ?? '';
  const em = deps.orm.em.fork() as EntityManager;
  await em.transactional(async (t) => {
    const [seen] = await t.getConnection().execute(`select 1 from audit_event where prescription_id = ? and action = ? and data->>'fromRunId' = ?`, [prescriptionId, RESET_ACTION, f.runId], 'all', t.getTransactionContext());
    if (seen) return;
    audit(t as EntityManager, prescriptionId, {
      action: RESET_ACTION, actor: opts.actor,
      data: {
        cause: 'nondeterminism', failure: f.failure.message.slice(0, 300), failedEventId: f.failure.eventId, attempt: f.attempt,
        resetToEvent: point.eventId, conflictingEventId: point.conflictingEventId, why: point.why, fromRunId: f.runId, runId, workflowId,
        ...(opts.reason ? { reason: opts.reason } : {}),
      },
    });
  });
  log.warn({ component: 'workflow-health', prescriptionId, workflowId, fromRunId: f.runId, runId, resetToEvent: point.eventId, actor: opts.actor }, 'workflow reset after a nondeterminism error');
  return { action: 'reset', prescriptionId, workflowId, fromRunId: f.runId, runId, point, actor: opts.actor };
}

export interface HealRound { checked: number; failing: number; reset: number; listed: number; next: HealCursor | null }

/** One round of the durable loop: the next batch of stale open prescriptions, healed as system:rxflow. */
export async function healFailingWorkflows(deps: WorkflowHealthDeps, config: WorkflowHealthConfig, after: HealCursor | null): Promise<HealRound> {
  const found = await findFailingWorkflows(deps, { staleMs: config.staleMs, limit: config.batch, after });
  let reset = 0;
  let listed = 0;
  for (const item of found.items) {
    const r = await healWorkflow(deps, item.prescriptionId, item.workflowId, { actor: SYSTEM_ACTOR, maxResetsPerDay: config.maxResetsPerDay });
    if (r?.action === 'reset') reset++;
    else if (r?.action === 'listed') {
      listed++;
      log.error({ component: 'workflow-health', prescriptionId: item.prescriptionId, workflowId: item.workflowId, cause: item.failure.cause, reason: r.reason }, 'workflow task failing and not reset');
    }
  }
  return { checked: found.checked, failing: found.items.length, reset, listed, next: found.next };
}

export function createWorkflowHealthActivities(deps: WorkflowHealthDeps, config: WorkflowHealthConfig) {
  return {
    healFailingWorkflows: (after: HealCursor | null) => healFailingWorkflows(deps, config, after),
  };
}
export type WorkflowHealthActivities = ReturnType<typeof createWorkflowHealthActivities>;
