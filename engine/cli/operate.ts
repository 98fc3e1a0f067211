// `rxflow cancel` and `rxflow retry`: an operator acting on one prescription. Both go through the
// workflow (cancel as its `cancel` update, retry as a Temporal reset or start) and both are written to the
// audit trail as the operator's action, so the timeline says who did what and why.
import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { temporal as proto } from '@temporalio/proto';
import { audit } from '../../activities/audit';
import { ApiError } from '../../api/errors';
import { sendUpdate, startPrescriptionWorkflow } from '../../api/workflows';
import { isTerminal } from '../../domain/prescription-status';
import { cancelUpdate } from '../../workflows/prescription';
import { chooseResetPoint, type HistoryEvent } from './analysis';
import { CommandError, EXIT, UsageError, operatorName, parse, positiveInt, printJson, str, type Command, type Ctx } from './common';
import { findPrescription, type RxRow } from './lookup';
import { describeRun, temporalUiLink } from './workflow';

async function recordOperatorAction(ctx: Ctx, prescriptionId: string, action: string, operator: string, data: Record<string, unknown>): Promise<void> {
  const em = (await ctx.orm()).em.fork() as EntityManager;
  await em.transactional(async (t) => audit(t as EntityManager, prescriptionId, { action, actor: `operator:${operator}`, data: { ...data, via: 'rxflow cli' } }));
}

async function waitForStatus(ctx: Ctx, id: string, done: (status: string) => boolean, timeoutMs: number): Promise<string> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const [{ status }] = await ctx.sql<{ status: string }>(`select status from prescription where id = ?`, [id]);
    if (done(status) || Date.now() >= until) return status;
    await new Promise((r) => setTimeout(r, 250));
  }
}

const CANCEL_HELP = `usage: rxflow cancel <prescription id | rxNo> --reason "..." [--hospital CODE] [--by NAME] [--wait SECONDS] [--json]

Cancels a prescription through its workflow's \`cancel\` update, exactly as a hospital's cancel would: allowed
until the dispensing is recorded; an open order is closed and its reservation released; the hospital and the
patient are notified. The audit trail records \`operator_cancel\` and the \`cancelled\` transition with the actor
operator:<name>. A prescription that can no longer be cancelled is refused (exit 1) with the workflow's reason.

  --reason TEXT    required, 1–200 characters, kept in the audit trail
  --by NAME        the operator (default: $RX_OPERATOR, else the login name)
  --wait SECONDS   wait up to this long for the status to read cancelled (default 30; 0: do not wait)
  --json           the outcome as JSON

example:
  rxflow cancel RX-20261124-0001 --hospital DEMO-HOSP --reason "patient asked by phone, ticket 4411"`;

export const cancelCommand: Command = {
  name: 'cancel',
  help: CANCEL_HELP,
  async run(args, ctx) {
    const { values: v, positionals: [ref] } = parse(args, {
      reason: { type: 'string' }, hospital: { type: 'string' }, by: { type: 'string' }, wait: { type: 'string' }, json: { type: 'boolean' },
    }, { min: 1, max: 1, names: 'the prescription id or rxNo' });
    const reason = str(v, 'reason')?.trim();
    if (!reason) throw new UsageError('cancel needs --reason "..."');
    if (reason.length > 200) throw new UsageError(`--reason is at most 200 characters (got ${reason.length})`);
    const operator = operatorName(v);
    const waitMs = v.wait === '0' ? 0 : positiveInt(v, 'wait', 30) * 1000;
    const rx = await findPrescription(ctx, ref, str(v, 'hospital'));
    if (isTerminal(rx.status)) throw new CommandError(`prescription ${rx.id} is ${rx.status}: nothing to cancel`);

    const by = `operator:${operator}`;
    try {
      await sendUpdate(await ctx.temporal(), rx.workflow_id, cancelUpdate, { by, reason });
    } catch (e) {
      if (e instanceof ApiError) throw new CommandError(`cancel refused (${e.code}): ${e.message}`);
      throw e;
    }
    await recordOperatorAction(ctx, rx.id, 'operator_cancel', operator, { reason, statusWhenRequested: rx.status });
    const status = waitMs ? await waitForStatus(ctx, rx.id, (s) => s === 'cancelled', waitMs) : rx.status;
    const result = { prescriptionId: rx.id, rxNo: rx.rx_no, hospital: rx.hospital_code, accepted: true, by, reason, status };
    if (v.json) printJson(result);
    else process.stdout.write(status === 'cancelled'
      ? `cancelled ${rx.id} (${rx.rx_no}, ${rx.hospital_code}) as ${by}\n`
      : `cancel accepted for ${rx.id} (${rx.rx_no}); the workflow is closing it (status still ${status})\n`);
    return EXIT.ok;
  },
};

// ---- retry ------------------------------------------------------------------------------------------

const RETRY_HELP = `usage: rxflow retry <prescription id | rxNo> [--hospital CODE] [--by NAME] [--reason "..."] [--json]

Gets an open prescription moving again when its workflow is not there to move it. What it does depends on
what Temporal says about the workflow (rxflow inspect shows it; rxflow stuck lists candidates):
  closed (failed, terminated, timed out, cancelled in Temporal) while the prescription is still open:
      resets the run — a new run of the same workflow id replays the old history to a reset point and goes
      on from there: to the task that scheduled the activity that failed the run (so it runs again), or
      else to the last completed workflow task (or the task that scheduled an activity still pending then).
      Updates and signals accepted after that point are re-applied. Fix the cause first (a bug deployed,
      a service down), or the new run fails the same way.
  not found, and the prescription is still \`received\` (the start was lost): starts the workflow, as a
      repeated push by the hospital would.
It refuses (exit 1) and says why when it does not apply: the prescription is finished; the workflow is
running (an activity that fails retries by itself — the refusal names it and its last failure); the
workflow is missing although the prescription moved past \`received\` (its history is gone: investigate).
The audit trail records \`operator_retry\` with the operator, the old and new run and the reset point.

  --by NAME        the operator (default: $RX_OPERATOR, else the login name)
  --reason TEXT    why, kept in the audit trail and on the Temporal reset
  --json           the outcome as JSON

example:
  rxflow retry 0b6c4a9e-3f57-4e7b-9d8e-6a1f0c2d9e11 --reason "worker crashed on a bad deploy, fixed in 1.4.2"`;

const EVENT_TYPES = proto.api.enums.v1.EventType;

function historyEvents(raw: proto.api.history.v1.IHistoryEvent[]): HistoryEvent[] {
  return raw.map((e) => {
    const end = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes ?? e.activityTaskCanceledEventAttributes;
    const sched = e.activityTaskScheduledEventAttributes;
    return {
      id: Number(e.eventId),
      type: String(EVENT_TYPES[e.eventType ?? 0]).replace(/^EVENT_TYPE_/, ''),
      scheduledByTask: sched ? Number(sched.workflowTaskCompletedEventId) : undefined,
      scheduledEventId: end ? Number(end.scheduledEventId) : undefined,
      activityType: sched?.activityType?.name ?? undefined,
    };
  });
}

async function retry(ctx: Ctx, rx: RxRow, operator: string, reason: string) {
  if (isTerminal(rx.status)) throw new CommandError(`prescription ${rx.id} is ${rx.status}: finished, nothing to retry`);
  const client = await ctx.temporal();
  const run = await describeRun(client, rx.workflow_id);

  if (!run.found) {
    if (rx.status !== 'received') {
      throw new CommandError(`workflow ${rx.workflow_id} is not in Temporal although the prescription is ${rx.status}: its history is gone (retention?), so it cannot be resumed safely; investigate`);
    }
    await startPrescriptionWorkflow(client, ctx.config.taskQueue, rx.workflow_id, {
      prescriptionId: rx.id, rxNo: rx.rx_no, hospitalCode: rx.hospital_code, expiresAt: new Date(rx.expires_at).toISOString(), timings: ctx.config.timings,
      fulfilment: rx.content?.fulfilment?.mode ?? 'delivery',
    });
    const started = await describeRun(client, rx.workflow_id);
    await recordOperatorAction(ctx, rx.id, 'operator_retry', operator, { reason, action: 'started', runId: started.runId, taskQueue: ctx.config.taskQueue });
    return { action: 'started' as const, runId: started.runId, detail: `started workflow ${rx.workflow_id} on task queue ${ctx.config.taskQueue}` };
  }

  if (run.status === 'RUNNING') {
    const failing = run.pendingActivities.filter((a) => a.lastFailure);
    const why = (run.workflowTaskAttempt ?? 0) >= 2
      ? `its workflow task keeps failing (rxflow stuck says why; a nondeterminism error is healed by rxflow repair)`
      : failing.length
      ? `its activity ${failing.map((a) => `${a.activityType} (attempt ${a.attempt}, last failure: ${a.lastFailure})`).join(', ')} retries by itself: fix the cause and it continues`
      : 'nothing to retry (rxflow inspect shows what it waits for)';
    throw new CommandError(`workflow ${rx.workflow_id} is running: ${why}`);
  }
  if (run.status === 'COMPLETED' || run.status === 'CONTINUED_AS_NEW') {
    throw new CommandError(`workflow ${rx.workflow_id} is ${run.status} but the prescription is ${rx.status}: the two disagree; investigate before acting (rxflow inspect ${rx.id})`);
  }

  const history = await client.workflow.getHandle(rx.workflow_id, run.runId).fetchHistory();
  const point = chooseResetPoint(historyEvents(history.events ?? []));
  if (!point) throw new CommandError(`run ${run.runId} never completed a workflow task; there is nothing to reset to`);
  const res = await client.workflowService.resetWorkflowExecution({
    namespace: ctx.config.temporalNamespace,
    workflowExecution: { workflowId: rx.workflow_id, runId: run.runId },
    reason: `rxflow retry by operator:${operator}${reason ? `: ${reason}` : ''}`.slice(0, 1000),
    workflowTaskFinishEventId: point.eventId as never, // int64: protobufjs encodes a number
    requestId: randomUUID(),
    resetReapplyType: proto.api.enums.v1.ResetReapplyType.RESET_REAPPLY_TYPE_ALL_ELIGIBLE,
  });
  await recordOperatorAction(ctx, rx.id, 'operator_retry', operator, {
    reason, action: 'reset', closedAs: run.status, fromRunId: run.runId, runId: res.runId, resetToEvent: point.eventId, why: point.why,
  });
  return { action: 'reset' as const, runId: res.runId, fromRunId: run.runId, closedAs: run.status, resetToEvent: point.eventId, detail: `reset the ${run.status} run ${run.runId} to event ${point.eventId}: ${point.why}` };
}

export const retryCommand: Command = {
  name: 'retry',
  help: RETRY_HELP,
  async run(args, ctx) {
    const { values: v, positionals: [ref] } = parse(args, {
      hospital: { type: 'string' }, by: { type: 'string' }, reason: { type: 'string' }, json: { type: 'boolean' },
    }, { min: 1, max: 1, names: 'the prescription id or rxNo' });
    const operator = operatorName(v);
    const reason = str(v, 'reason')?.trim() ?? '';
    if (reason.length > 200) throw new UsageError(`--reason is at most 200 characters (got ${reason.length})`);
    const rx = await findPrescription(ctx, ref, str(v, 'hospital'));
    const r = await retry(ctx, rx, operator, reason);
    const link = temporalUiLink(ctx.config, rx.workflow_id, r.runId);
    if (v.json) printJson({ prescriptionId: rx.id, rxNo: rx.rx_no, workflowId: rx.workflow_id, by: `operator:${operator}`, ...r, link });
    else process.stdout.write(`${r.detail}\nnew run ${r.runId}: ${link}\n`);
    return EXIT.ok;
  },
};
