// Workflows stuck on a nondeterminism error heal themselves (docs/reliability.md, "Nondeterminism after a
// crash"). A genuine one, on the real Temporal server: test-only workflows (tests/support/nde) start under
// v1 on a private task queue and schedule stepA; that worker stops; a worker with v2 (stepB, or a timer, in
// stepA's place) replays the history and fails the workflow task, on every attempt. The healer resets those
// runs, with an audit event on the prescription, and they complete under v2; a workflow failing for
// another reason (a plain Error thrown by its code) is listed and never reset.
import fs from 'node:fs';
import path from 'node:path';
import type { MikroORM } from '@mikro-orm/postgresql';
import { temporal as proto } from '@temporalio/proto';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker, bundleWorkflowCode, makeTelemetryFilterString } from '@temporalio/worker';
import { openOrm } from '../../db/orm';
import { demoPrescription } from '../../demo/prescriptions';
import { statusIs, waitForPrescription } from '../../demo/actors';
import { failingTask, healFailingWorkflows, RESET_ACTION, SYSTEM_ACTOR, taskHistoryEvents, type WorkflowHealthDeps } from '../../activities/workflow-health';
import { currentTaskFailure, healingResetPoint } from '../../domain/workflow-health';
import { workflowBundle } from '../../engine/runtime';
import { rxflow } from '../support/rxflow-cli';
import type { ProbeInput } from '../support/nde/types';
import { actors, closeDb, sql, until } from './helpers';

jest.setTimeout(240_000);

const namespace = process.env.TEMPORAL_NAMESPACE ?? 'default';
const wfQueue = `nde-probe-wf-${process.pid}`;
const actQueue = `nde-probe-act-${process.pid}`;
const calls: string[] = [];

let connection: Connection;
let client: Client;
let native: NativeConnection;
let orm: MikroORM;
let deps: WorkflowHealthDeps;
const workers: { worker: Worker; running: Promise<void> }[] = [];

async function run(worker: Worker) {
  const w = { worker, running: worker.run() };
  workers.push(w);
  return w;
}
async function stop(w: { worker: Worker; running: Promise<void> }) {
  w.worker.shutdown();
  await w.running;
  workers.splice(workers.indexOf(w), 1);
}

/** An open prescription (in review, as the API made it) whose workflow id now names a probe workflow. */
async function prescriptionFor(kind: string): Promise<{ id: string; workflowId: string }> {
  const a = actors();
  const r = await a.hospital.post('/v1/prescriptions', demoPrescription());
  expect(r.status).toBe(201);
  const id = r.body.prescription.id as string;
  await waitForPrescription(a.operator, id, statusIs('in_review'));
  await client.workflow.getHandle(`rx-${id}`).terminate('workflow-health test: the prescription is driven by a probe workflow');
  const workflowId = `${kind}-${id}`;
  await sql(`update prescription set workflow_id = ? where id = ?`, [workflowId, id]);
  return { id, workflowId };
}

const hasScheduledActivity = async (h: WorkflowHandle) => (await h.fetchHistory()).events?.some((e) => e.activityTaskScheduledEventAttributes) ?? false;

beforeAll(async () => {
  // The probes fail their workflow tasks on purpose, on every attempt: only errors are worth printing.
  Runtime.install({ logger: new DefaultLogger('ERROR'), telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }), forward: {} } } });
  connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:17233' });
  client = new Client({ connection, namespace });
  native = await NativeConnection.connect({ address: process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:17233' });
  orm = await openOrm(process.env.DATABASE_URL!);
  deps = { orm, temporal: client, namespace };
});
afterAll(async () => {
  for (const w of [...workers]) await stop(w);
  await native?.close();
  await connection?.close();
  await orm?.close();
  await closeDb();
});

describe('workflows stuck on a nondeterminism error', () => {
  it('are reset by the healer (as system:rxflow) and by rxflow repair (as the operator), audited, and complete under the new code; a workflow task failing on a bug is listed, never reset', async () => {
    const [bundleV1, bundleV2] = await Promise.all(['v1', 'v2'].map((v) => bundleWorkflowCode({ workflowsPath: require.resolve(`../support/nde/${v}`), logger: new DefaultLogger('ERROR') })));
    const byHealer = await prescriptionFor('nde-activity-probe');
    const byOperator = await prescriptionFor('nde-timer-probe');
    const broken = await prescriptionFor('broken-probe');
    const input = (key: string): ProbeInput => ({ activityQueue: actQueue, key });

    // v1: each probe schedules stepA (no activity worker yet, so v1 never sees it complete).
    const v1 = await run(await Worker.create({ connection: native, namespace, taskQueue: wfQueue, workflowBundle: { code: bundleV1.code }, maxCachedWorkflows: 0 }));
    const healerProbe = await client.workflow.start('ndeActivityProbe', { taskQueue: wfQueue, workflowId: byHealer.workflowId, args: [input(byHealer.id)] });
    const operatorProbe = await client.workflow.start('ndeTimerProbe', { taskQueue: wfQueue, workflowId: byOperator.workflowId, args: [input(byOperator.id)] });
    const brokenProbe = await client.workflow.start('brokenProbe', { taskQueue: wfQueue, workflowId: broken.workflowId, args: [input(broken.id)] });
    await until('v1 to schedule stepA', async () => (await hasScheduledActivity(healerProbe)) && (await hasScheduledActivity(operatorProbe)));
    // A partner's update accepted after stepA was scheduled (as the crash run's deliveryStatus): a reset must keep it.
    expect(await healerProbe.executeUpdate('note', { args: [] })).toBe(1);
    await stop(v1);

    // v2 and the activities: stepA completes, v2 replays v1's history and cannot.
    const activities = { stepA: async (key: string) => { calls.push(`A:${key}`); }, stepB: async (key: string) => { calls.push(`B:${key}`); } };
    await run(await Worker.create({ connection: native, namespace, taskQueue: actQueue, activities }));
    await run(await Worker.create({ connection: native, namespace, taskQueue: wfQueue, workflowBundle: { code: bundleV2.code }, maxCachedWorkflows: 0 }));
    const failing = await until('the three workflow tasks to fail again', async () => {
      const f = await Promise.all([byHealer, byOperator, broken].map((p) => failingTask(client, p.workflowId)));
      return f.every(Boolean) ? f : null;
    });
    expect(failing[0]!.failure).toMatchObject({ cause: 'NON_DETERMINISTIC_ERROR', nondeterminism: true });
    expect(failing[1]!.failure).toMatchObject({ cause: 'NON_DETERMINISTIC_ERROR', nondeterminism: true });
    expect(failing[2]!.failure).toMatchObject({ cause: 'WORKFLOW_WORKER_UNHANDLED_FAILURE', nondeterminism: false, message: expect.stringContaining('a bug in the workflow code') });
    expect(calls).toEqual(expect.arrayContaining([`A:${byHealer.id}`, `A:${byOperator.id}`]));

    // rxflow stuck lists all three, with their causes.
    const stuck = await rxflow(['stuck', '--kind', 'workflow_task_failing', '--json']);
    expect(stuck.code).toBe(0);
    const listed = JSON.parse(stuck.stdout).items as { prescriptionId: string; kind: string; detail: string }[];
    expect(listed.find((i) => i.prescriptionId === byHealer.id)?.detail).toMatch(/nondeterminism error, resettable/);
    expect(listed.find((i) => i.prescriptionId === byOperator.id)?.detail).toMatch(/nondeterminism error, resettable/);
    expect(listed.find((i) => i.prescriptionId === broken.id)?.detail).toMatch(/WORKFLOW_WORKER_UNHANDLED_FAILURE, not resettable/);

    // An operator's repair within a spent budget is refused (the loop guard), and so is a bug.
    const noBudget = await rxflow(['repair', byOperator.id, '--by', 'ops-ann'], { RX_HEAL_MAX_RESETS_PER_DAY: '0' });
    expect(noBudget).toMatchObject({ code: 1, stderr: expect.stringMatching(/not reset: reset 0 time\(s\) in the last day \(at most 0\)/) });
    const bug = await rxflow(['repair', broken.id, '--by', 'ops-ann']);
    expect(bug).toMatchObject({ code: 1, stderr: expect.stringMatching(/not a nondeterminism error: not reset/) });

    // The operator repairs one now.
    const repaired = await rxflow(['repair', byOperator.id, '--by', 'ops-ann', '--reason', 'stuck after a deploy', '--json']);
    expect(repaired.stderr).toBe('');
    expect(repaired.code).toBe(0);
    expect(JSON.parse(repaired.stdout)).toMatchObject({ action: 'reset', prescriptionId: byOperator.id, fromRunId: operatorProbe.firstExecutionRunId, actor: 'operator:ops-ann', point: { eventId: 4 } });

    // One round of the healer's loop over every open prescription whose status stood still (here: any).
    const cfg = { intervalMs: 0, staleMs: 0, batch: 10_000, maxResetsPerDay: 3 };
    const round = await healFailingWorkflows(deps, cfg, null);
    expect(round).toMatchObject({ reset: 1, next: null });
    expect(round.listed).toBeGreaterThanOrEqual(1); // the bug
    // The activity probe's failure names no event: the first reset goes to the task before the failed one,
    // which came after stepA was scheduled, so the new run fails the same way; the next round steps back
    // before that point, to event 4, the task that scheduled stepA.
    await until('the reset run to fail again', async () => {
      const f = await failingTask(client, byHealer.workflowId);
      return f && f.runId !== healerProbe.firstExecutionRunId ? f : null;
    });
    expect(await healFailingWorkflows(deps, cfg, null)).toMatchObject({ reset: 1 });
    await expect(client.workflow.getHandle(byHealer.workflowId).result()).resolves.toBe('v2:1'); // the update survived both resets
    await expect(client.workflow.getHandle(byOperator.workflowId).result()).resolves.toBe('v2:0');
    const again = await rxflow(['repair', byHealer.id]);
    expect(again).toMatchObject({ code: 1, stderr: expect.stringMatching(/is finished|is not failing its workflow tasks: nothing to repair/) });

    // The audit events a regulator sees: who, the cause, the reset point, the old and new run. Each old run
    // ended as reset and names the run that replaced it (what the crash checker counts as one workflow).
    const resets = async (id: string) => (await sql(`select actor, data from audit_event where prescription_id = ? and action = ? order by id`, [id, RESET_ACTION]));
    const [first, second] = await resets(byHealer.id);
    expect(first).toEqual({ actor: SYSTEM_ACTOR, data: expect.objectContaining({ cause: 'nondeterminism', conflictingEventId: null, fromRunId: healerProbe.firstExecutionRunId, workflowId: byHealer.workflowId }) });
    expect(first.data.resetToEvent).toBeGreaterThan(4);
    expect(second).toEqual({ actor: SYSTEM_ACTOR, data: expect.objectContaining({ resetToEvent: 4, fromRunId: first.data.runId, why: expect.stringContaining('earlier reset') }) });
    expect(first.data.failure).toMatch(/TMPRL1100/);
    // The timer probe's message names event 5, the scheduled stepA: reset before it, at once.
    expect(await resets(byOperator.id)).toEqual([{ actor: 'operator:ops-ann', data: expect.objectContaining({ resetToEvent: 4, conflictingEventId: 5, fromRunId: operatorProbe.firstExecutionRunId, reason: 'stuck after a deploy' }) }]);
    for (const [workflowId, fromRunId, runId] of [[byHealer.workflowId, healerProbe.firstExecutionRunId, first.data.runId], [byHealer.workflowId, first.data.runId, second.data.runId],
      [byOperator.workflowId, operatorProbe.firstExecutionRunId, JSON.parse(repaired.stdout).runId]]) {
      const old = await client.workflow.getHandle(workflowId, fromRunId).describe();
      expect({ status: old.status.name, resetRunId: old.raw.workflowExtendedInfo?.resetRunId }).toEqual({ status: 'TERMINATED', resetRunId: runId });
    }
    // stepB ran once, in the run that completed; stepA ran in the first run, and again in a reset run
    // whose history still had it scheduled — activities are idempotent for this reason.
    expect(calls.filter((c) => c === `B:${byHealer.id}`)).toHaveLength(1);
    expect(calls.filter((c) => c === `B:${byOperator.id}`)).toHaveLength(1);
    expect(calls.filter((c) => c === `A:${byOperator.id}`)).toHaveLength(1);

    // The bug is still there, on its first run, unreset and listed.
    expect((await client.workflow.getHandle(broken.workflowId).describe()).runId).toBe(brokenProbe.firstExecutionRunId);
    expect(await sql(`select 1 from audit_event where prescription_id = ? and action = ?`, [broken.id, RESET_ACTION])).toEqual([]);
    expect(await failingTask(client, broken.workflowId)).toMatchObject({ failure: { nondeterminism: false } });
    await client.workflow.getHandle(broken.workflowId).terminate('workflow-health test finished');
  });
});

describe('the crash run\'s stuck workflow (rx-fd0fc927-…, docs/reliability.md)', () => {
  it('replays into the same nondeterminism error with today\'s code, and is reset to the task before event 130', async () => {
    const b64 = fs.readFileSync(path.join(__dirname, 'fixtures', 'nde-after-crash-history.b64'), 'utf8').trim();
    const history = proto.api.history.v1.History.decode(Buffer.from(b64, 'base64'));
    const events = taskHistoryEvents(history.events ?? []);
    const failure = currentTaskFailure(events)!;
    expect(failure).toMatchObject({ eventId: 170, cause: 'NON_DETERMINISTIC_ERROR', nondeterminism: true });
    expect(healingResetPoint(events, failure)).toMatchObject({ eventId: 129, conflictingEventId: 130 });
    // The same code that wrote [ScheduleActivity(130), UpdateAccepted(131)] replays them in the other order.
    await expect(Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history)).rejects.toThrow(/HistoryEvent\(id: 130, ActivityTaskScheduled\)/);
  });
});
