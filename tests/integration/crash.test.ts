// Crash safety, the fast version of bench/crash.ts (docs/reliability.md): 20 prescriptions with several
// end states carried by the simulated parties while the worker process is SIGKILLed three times and
// restarted. This test starts its own API and worker processes on its own task queue against the shared
// services and only ever kills those. Afterwards: every prescription in its expected end state, nothing
// done twice by natural key, one workflow run each, the prescriptions' audit chains intact.
import { Client, Connection } from '@temporalio/client';
import { closeDb } from './helpers';
import { openOrm } from '../../db/orm';
import { openPool, type PgPool } from '../../bench/postgis-baseline';
import { ENGINE_READY, RxWatcher, apiUrlOf, benchParties, benchPrescription, startProcess, stopProcess, type CarryContext, type Proc } from '../../bench/lib/e2e';
import { WorkerSupervisor, awaitWorkflows, checkRun, playScenario, pushDurably, runAll, type Journey, type Scenario } from '../../bench/lib/reliability';

jest.setTimeout(600_000);

const queue = `rxcrash-test-${process.pid}`;
// Long human and partner waits so that an outcome never depends on how long a worker was down; the
// processes log to their stdout (the ready line) instead of the suite's log file; their webhook drainer
// stays asleep so it never takes another test's deliveries onto a queue whose workers this test kills.
const env: Record<string, string> = {
  RX_TASK_QUEUE: queue, RX_ROLE: 'worker', NODE_ENV: 'development', RX_LOG_FILE: '', RX_LOG_LEVEL: 'info',
  RX_PHARMACY_RESPONSE_MS: '600000', RX_REVIEW_SLA_MS: '600000', RX_DELIVERY_TIMEOUT_MS: '600000', RX_DISPENSE_TIMEOUT_MS: '600000',
  RX_WEBHOOK_DRAIN_INTERVAL_MS: '3600000',
};

let connection: Connection;
let temporal: Client;
let pool: PgPool;
let api: Proc | undefined;
let supervisor: WorkerSupervisor | undefined;

beforeAll(async () => {
  connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:17233' });
  temporal = new Client({ connection, namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' });
  pool = openPool(process.env.DATABASE_URL!, 3);
});
afterAll(async () => {
  await supervisor?.shutdown();
  if (api) await stopProcess(api);
  for (const wf of [`rxflow-reservation-sweeper-${queue}`, `rxflow-webhook-drainer-${queue}`, `rxflow-workflow-healer-${queue}`]) {
    await temporal.workflow.getHandle(wf).terminate('crash test finished').catch(() => {});
  }
  await pool.end();
  await connection.close();
  await closeDb();
});

it('carries every prescription to its one expected end state while the worker is SIGKILLed and restarted', async () => {
  api = await startProcess('crash-api', 'engine/main.ts', { ...env, RX_ROLE: 'api', RX_API_PORT: '0' }, ENGINE_READY);
  supervisor = new WorkerSupervisor(env, { seed: 7, minMs: 3000, maxMs: 7000, maxKills: 3 });
  await supervisor.start();
  const watcher = new RxWatcher(pool, 100, 600_000).start();
  const ctx: CarryContext = { parties: benchParties(apiUrlOf(api.ready)), watcher, retries: { conflicts: 0 }, unavailable: { count: 0, maxWaitMs: 5000 } };
  const scenarios: Scenario[] = Array.from({ length: 20 }, (_, i) => (['complete', 'reject', 'complete', 'decline', 'complete', 'cancel'] as const)[i % 6]);
  const journeys: Journey[] = [];
  let lastEnded = 0;
  try {
    const run = await runAll(scenarios.length, scenarios.length, async (i) => {
      // A third of the journeys starts after each kill, so every kill lands with work in flight.
      while (supervisor!.kills.length < Math.floor(i / 7)) await new Promise((r) => setTimeout(r, 200));
      const rx = benchPrescription(`CRASH${process.pid}`, i);
      const { id } = await pushDurably(ctx, rx);
      journeys.push({ id, scenario: scenarios[i] });
      await playScenario(ctx, id, rx, scenarios[i]);
      lastEnded = Date.now();
    });
    expect(run.errors).toEqual([]);
    await supervisor.stop();
    expect(supervisor.kills).toHaveLength(3);
    expect(supervisor.kills[2].at).toBeLessThan(lastEnded); // the last kill came before the last journey ended

    await awaitWorkflows(temporal, journeys.map((j) => j.id), 60_000);
    const orm = await openOrm(process.env.DATABASE_URL!);
    try {
      const result = await checkRun(pool, temporal, orm, journeys, { globalChain: false });
      expect(result.violations).toEqual([]);
      expect(result.counts).toMatchObject({
        prescriptions: 20, workflows_completed: 20, workflow_runs: 20,
        status_completed: scenarios.filter((s) => s === 'complete' || s === 'decline').length,
        status_rejected: scenarios.filter((s) => s === 'reject').length,
        status_cancelled: scenarios.filter((s) => s === 'cancel').length,
        duplicate_hospital_events: 0, duplicate_status_transitions: 0, duplicate_audit_actions: 0,
      });
    } finally {
      await orm.close();
    }
  } finally {
    watcher.stop();
  }
});
