// The end-to-end benchmark's building blocks work against the real services (bench/e2e.ts, bench/intake.ts):
// the simulated parties carry a prescription to completed, the no-op ceiling workflow completes with the
// same activities and updates as that prescription's history, and intake reports its phases. Outcomes
// only; the benchmark measures time, the tests never do.
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { apiUrl, closeDb, sql } from './helpers';
import { RxWatcher, benchParties, benchPrescription, carryCeiling, carryPrescription, ceilingTimings, historyShape, playParties, type CarryContext } from '../../bench/lib/e2e';
import { intakePrescription } from '../../api/intake';
import { openOrm } from '../../db/orm';
import { createActivities } from '../../activities';
import { DEMO } from '../../demo/fixtures';
import { startCeilingWorker } from '../../bench/lib/ceiling-worker';
import { openPool, type PgPool } from '../../bench/postgis-baseline';
import { loadTimings } from '../../engine/config';

let connection: Connection;
let temporal: Client;
let pool: PgPool;
let rxflowShape: Record<string, number> | undefined;

beforeAll(async () => {
  // This test process runs a worker of its own (the ceiling's): keep its logging to warnings.
  try { Runtime.install({ logger: new DefaultLogger('WARN') }); } catch { /* already installed */ }
  connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:17233' });
  temporal = new Client({ connection, namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' });
  pool = openPool(process.env.DATABASE_URL!, 2);
});
afterAll(async () => {
  await pool.end();
  await connection.close();
  await closeDb();
});

describe('the benchmark building blocks', () => {
  it('carry one prescription from push to completed with the simulated parties', async () => {
    const watcher = new RxWatcher(pool, 50).start();
    const ctx: CarryContext = { parties: benchParties(apiUrl()), watcher, retries: { conflicts: 0 } };
    try {
      const rx = benchPrescription(`T${process.pid}`, 0);
      const carried = await carryPrescription(ctx, rx);
      const [row] = await sql(`select status, used_at from prescription where id = ?`, [carried.id]);
      expect(row.status).toBe('completed');
      expect(row.used_at).toBeTruthy();
      const actions = (await sql(`select action from audit_event where prescription_id = ? order by id`, [carried.id])).map((r) => r.action);
      expect(actions).toEqual(expect.arrayContaining(['review_approved', 'pharmacy_accepted', 'dispensed', 'delivery_delivered', 'completed']));
      // The follow-up plan of a chronic prescription: a check-in and a refill reminder (nobody answers), then the close.
      expect(actions.filter((a) => a === 'follow_up_sent')).toHaveLength(2);
      // The pharmacist claimed first exactly when the API has claims (issue 3), and learned which.
      expect(typeof ctx.claims).toBe('boolean');
      expect(actions.includes('review_claimed')).toBe(ctx.claims);
      await temporal.workflow.getHandle(`rx-${carried.id}`).result();
      rxflowShape = await historyShape(temporal, `rx-${carried.id}`);
      expect(rxflowShape.updates).toBe(7); // review, pharmacy response, dispense, four delivery statuses (assigned … delivered)
    } finally {
      watcher.stop();
    }
  });

  it('carry a prescription whose workflow runs its database steps as local activities (RX_LOCAL_ACTIVITIES=1)', async () => {
    // Started here (the API under test runs in another process without the variable), on the engine's task queue.
    const orm = await openOrm(process.env.DATABASE_URL!);
    const watcher = new RxWatcher(pool, 50).start();
    process.env.RX_LOCAL_ACTIVITIES = '1';
    try {
      const [hospital] = await sql(`select id from hospital where code = ?`, [DEMO.hospital.code]);
      const rx = benchPrescription(`T${process.pid}`, 2);
      const { prescription } = await intakePrescription({ orm, temporal, taskQueue: process.env.RX_TASK_QUEUE!, timings: loadTimings() }, hospital.id, rx);
      await playParties({ parties: benchParties(apiUrl()), watcher, retries: { conflicts: 0 } }, prescription.id, rx);
      const [row] = await sql(`select status from prescription where id = ?`, [prescription.id]);
      expect(row.status).toBe('completed');
      // The database says completed once `finish` commits; the workflow records it a moment later.
      await temporal.workflow.getHandle(prescription.workflowId).result();
      const shape = await historyShape(temporal, prescription.workflowId);
      expect(shape.activities).toBe(4); // the insurer's pre-check, the slip, the pharmacy search and the delivery stay remote
      expect(shape.localActivities).toBe(22);
      expect(shape.updates).toBe(7);

      // A lost workflow task re-runs its local activities after later steps: they find their work done.
      const acts = createActivities({ orm, es: {} as never, indexPrefix: 'unused', filesDir: '/tmp', cjkFont: 'unused' });
      const events = async () => (await sql(`select count(*)::int as n from audit_event where prescription_id = ?`, [prescription.id]))[0].n;
      const before = await events();
      await acts.beginReview(prescription.id);
      await acts.recordReview(prescription.id, { pharmacistCode: DEMO.pharmacists[0].code, decision: 'approve', reasons: [] });
      await acts.priceInsurance(prescription.id);
      expect(await events()).toBe(before);
      expect((await sql(`select status from prescription where id = ?`, [prescription.id]))[0].status).toBe('completed');
    } finally {
      delete process.env.RX_LOCAL_ACTIVITIES;
      watcher.stop();
      await orm.close();
    }
  });

  it('run the no-op ceiling workflow to completion with the same activities and updates as that prescription', async () => {
    const taskQueue = `rxtest-ceiling-${process.pid}`;
    const w = await startCeilingWorker({ address: process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:17233', namespace: 'default', taskQueue });
    try {
      const timings = ceilingTimings(loadTimings());
      const done = await carryCeiling(temporal, taskQueue, `ceiling-test-${process.pid}-${Date.now()}`, timings);
      expect(done.matchedAt).toBeGreaterThan(0);
      const shape = await historyShape(temporal, done.id);
      expect(shape.activities).toBe(26);
      expect(shape.updates).toBe(7);
      // The ceiling stands for rxflow's happy path: same activity and update counts (rxflowShape from the test above).
      if (rxflowShape) {
        expect(shape.activities).toBe(rxflowShape.activities);
        expect(shape.updates).toBe(rxflowShape.updates);
      }
      // And with local activities, the cheap steps leave markers instead (as in rxflow, four stay remote).
      const local = await carryCeiling(temporal, taskQueue, `ceiling-test-local-${process.pid}-${Date.now()}`, timings, true);
      const localShape = await historyShape(temporal, local.id);
      expect(localShape.activities).toBe(4);
      expect(localShape.localActivities).toBe(22);
    } finally {
      w.worker.shutdown();
      await w.running;
      await w.connection.close();
    }
  });

  it('intake tells where its time went (Server-Timing) and counts it in /metrics', async () => {
    const res = await fetch(`${apiUrl()}/v1/prescriptions`, {
      method: 'POST', headers: { authorization: 'Bearer demo-hospital-key', 'content-type': 'application/json' },
      body: JSON.stringify(benchPrescription(`T${process.pid}`, 1)),
    });
    expect(res.status).toBe(201);
    const timing = res.headers.get('server-timing') ?? '';
    for (const phase of ['signature', 'validation', 'database', 'workflow_start', 'intake']) expect(timing).toMatch(new RegExp(`${phase};dur=\\d+(\\.\\d+)?`));
    const metrics = await (await fetch(`${apiUrl()}/metrics`)).text();
    expect(metrics).toMatch(/rxflow_intake_phase_seconds_count\{phase="workflow_start"\} [1-9]/);
  });
});
