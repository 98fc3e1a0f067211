// Building blocks of the reliability runs (docs/reliability.md): the crash run (bench/crash.ts), the
// dependency-fault run (bench/faults.ts) and their fast versions in the test suite. A mix of journeys with
// several end states played by the simulated parties of bench/lib/e2e.ts, a supervisor that SIGKILLs and
// restarts worker processes, and the end-of-run checks that every prescription ended as its journey
// says, exactly once, counted by natural keys in PostgreSQL and in Temporal.
import type { Client as TemporalClient } from '@temporalio/client';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { Client as EsClient } from '@elastic/elasticsearch';
import { verifyAuditTrail } from '../../reports/audit-trail';
import { loadConfig } from '../../engine/config';
import { openServices, writeWorkflowBundle, type Services } from '../../engine/runtime';
import { seedAll } from '../../engine/seed';
import { openOrm } from '../../db/orm';
import type { PgQueryable } from '../postgis-baseline';
import { prng } from '../../catalog/ingest';

// The same seeded PRNG as the catalogue's stock: the same seed gives the same mix and kill times.
export { prng };
import { rmSync } from 'node:fs';
import path from 'node:path';
import { ENGINE_READY, ROOT, acceptAndDispense, deliverStep, reviewStep, startProcess, until409Clears, type CarryContext, type Proc } from './e2e';

// ---------------------------------------------------------------- the run's own data

/**
 * A run's database and indices from nothing (process.env must already name them): the demo catalogue and
 * parties, every shelf topped up so that no journey's outcome depends on stock running out.
 */
export async function freshEngineData(o: { db: string; es: string; prefix: string }): Promise<Services> {
  await resetEngineData(o);
  const services = await openServices(loadConfig());
  await seedAll(services);
  await services.orm.em.getConnection().execute(`update stock set on_hand = 1000000 where on_hand < 1000000`);
  return services;
}

/** Drops a run's schema and its indices (bench/e2e.ts and the reliability runs). */
export async function resetEngineData(o: { db: string; es: string; prefix: string }): Promise<void> {
  const orm = await openOrm(o.db);
  await orm.em.getConnection().execute('drop schema if exists public cascade; create schema public;');
  await orm.close();
  const es = new EsClient({ node: o.es });
  const existing = Object.keys(await es.indices.get({ index: `${o.prefix}-*`, allow_no_indices: true }));
  if (existing.length) await es.indices.delete({ index: existing });
  await es.close();
}

export async function serviceVersions(db: PgQueryable, s: Services): Promise<Record<string, string | undefined>> {
  return {
    node: process.version,
    postgres: (await db.query<{ v: string }>('select version() v')).rows[0].v,
    elasticsearch: (Object.values((await s.es.nodes.info({ metric: 'jvm' })).nodes)[0] as { version?: string }).version,
    temporal: (await s.temporal.workflowService.getSystemInfo({})).serverVersion ?? undefined,
  };
}

// ---------------------------------------------------------------- the journeys

export type Scenario = 'complete' | 'reject' | 'decline' | 'cancel';
/** Where each journey must end. A decline sends the order to the next pharmacy, which accepts. */
export const EXPECTED_END: Record<Scenario, string> = { complete: 'completed', reject: 'rejected', decline: 'completed', cancel: 'cancelled' };

/** 70 % completed, 10 % each rejected by the pharmacist, declined by the first pharmacy, cancelled by the hospital. */
export function scenarioMix(n: number, seed: number): Scenario[] {
  const rnd = prng(seed);
  return Array.from({ length: n }, () => {
    const x = rnd();
    return x < 0.1 ? 'reject' : x < 0.2 ? 'decline' : x < 0.3 ? 'cancel' : 'complete';
  });
}

export interface PushOutcome { id: string; status: number; unavailable: number }

/**
 * The hospital's push as its integration should do it: a 503 is waited out (Retry-After) and the same
 * prescription pushed again; 201 or 200 (duplicate of the stored one) is success. Anything else throws.
 */
export async function pushDurably(ctx: CarryContext, rx: Record<string, any>): Promise<PushOutcome> {
  let unavailable = 0;
  const probe: CarryContext = { ...ctx, unavailable: { count: 0, maxWaitMs: ctx.unavailable?.maxWaitMs ?? 5000 } };
  const r = await until409Clears(probe, 'push', () => ctx.parties.hospital.post('/v1/prescriptions', rx), [200, 201]);
  unavailable = probe.unavailable!.count;
  if (ctx.unavailable) ctx.unavailable.count += unavailable;
  return { id: r.body.prescription.id as string, status: r.status, unavailable };
}

/** The parties' part of one journey, to its scenario's end state. */
export async function playScenario(ctx: CarryContext, id: string, rx: Record<string, any>, scenario: Scenario): Promise<void> {
  const { watcher } = ctx;
  if (scenario === 'reject') {
    await reviewStep(ctx, id, 'reject');
    await watcher.waitFor(id, (s) => s.status === 'rejected');
    return;
  }
  await reviewStep(ctx, id, 'approve');
  let offered = await watcher.waitFor(id, (s) => s.orderStatus === 'offered');
  if (scenario === 'cancel') {
    await until409Clears(ctx, 'cancel', () => ctx.parties.hospital.post(`/v1/prescriptions/${id}/cancel`, { reason: '患者改为线下取药 (simulated)' }), [202]);
    await watcher.waitFor(id, (s) => s.status === 'cancelled');
    return;
  }
  if (scenario === 'decline') {
    const first = offered;
    await until409Clears(ctx, 'decline', () => ctx.parties.pharmacy(first.pharmacyCode!).post(`/v1/pharmacy/orders/${first.orderId}/decline`, { reason: '库存不足 (simulated)' }), [202]);
    offered = await watcher.waitFor(id, (s) => s.orderStatus === 'offered' && s.orderId !== first.orderId);
  }
  await acceptAndDispense(ctx, offered, rx);
  await deliverStep(ctx, id);
  await watcher.waitFor(id, (s) => s.status === 'completed');
}

/** Runs `journey(i)` for i < n, at most `concurrency` at once; collects errors instead of stopping. */
export async function runAll<T>(n: number, concurrency: number, journey: (i: number) => Promise<T>): Promise<{ done: T[]; errors: { i: number; message: string }[] }> {
  let next = 0;
  const done: T[] = [];
  const errors: { i: number; message: string }[] = [];
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, async () => {
    while (next < n) {
      const i = next++;
      try { done.push(await journey(i)); } catch (e) { errors.push({ i, message: String((e as Error)?.message ?? e).slice(0, 400) }); }
    }
  }));
  return { done, errors };
}

// ---------------------------------------------------------------- the supervisor

export interface KillRecord { at: number; pid: number; afterReadyMs: number; restartReadyMs: number }

/**
 * Keeps one engine worker process (RX_ROLE=worker) running and SIGKILLs it at seeded random moments,
 * `minMs`–`maxMs` after it became ready, starting a new one at once; until `stop()`. Only the processes
 * it started are ever signalled.
 */
export class WorkerSupervisor {
  readonly kills: KillRecord[] = [];
  current: Proc | null = null;
  private stopping = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private ownBundle: string | null = null;

  constructor(private env: Record<string, string>, private readonly opts: { seed: number; minMs: number; maxMs: number; maxKills?: number; log?: (s: string) => void }) {}

  async start(): Promise<void> {
    // Workers load a bundle built once, as a deployment would ship it: a restart is not spent bundling.
    if (!this.env.RX_WORKFLOW_BUNDLE) {
      const file = path.join(ROOT, '.stack', 'tmp', `workflow-bundle-${process.pid}.js`);
      await writeWorkflowBundle(file);
      this.env = { ...this.env, RX_WORKFLOW_BUNDLE: file };
      this.ownBundle = file;
    }
    this.current = await startProcess('worker', 'engine/main.ts', { ...this.env, RX_ROLE: 'worker' }, ENGINE_READY);
    const rnd = prng(this.opts.seed);
    this.loop = (async () => {
      while (!this.stopping && (this.opts.maxKills === undefined || this.kills.length < this.opts.maxKills)) {
        const wait = this.opts.minMs + rnd() * (this.opts.maxMs - this.opts.minMs);
        await new Promise<void>((r) => { const t = setTimeout(r, wait); this.wake = () => { clearTimeout(t); r(); }; });
        if (this.stopping) break;
        const victim = this.current!;
        victim.child.removeAllListeners('exit');
        const gone = new Promise<void>((r) => victim.child.once('exit', () => r()));
        victim.child.kill('SIGKILL');
        await gone;
        const t0 = Date.now();
        this.current = await startProcess('worker', 'engine/main.ts', { ...this.env, RX_ROLE: 'worker' }, ENGINE_READY);
        this.kills.push({ at: t0, pid: victim.child.pid!, afterReadyMs: Math.round(wait), restartReadyMs: Date.now() - t0 });
        this.opts.log?.(`kill ${this.kills.length}: SIGKILL worker pid ${victim.child.pid} ${Math.round(wait)} ms after ready; new worker pid ${this.current.child.pid} ready in ${Date.now() - t0} ms`);
      }
    })();
  }

  /** Stops killing; the last worker keeps running (the run drains on it) until `shutdown()`. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.loop;
  }

  async shutdown(): Promise<void> {
    await this.stop();
    const p = this.current;
    if (p && p.child.exitCode === null && p.child.signalCode === null) {
      p.child.removeAllListeners('exit');
      const gone = new Promise<void>((r) => p.child.once('exit', () => r()));
      p.child.kill('SIGTERM');
      const t = setTimeout(() => p.child.kill('SIGKILL'), 20_000);
      await gone;
      clearTimeout(t);
    }
    if (this.ownBundle) rmSync(this.ownBundle, { force: true });
  }
}

// ---------------------------------------------------------------- the checks

export interface Journey { id: string; scenario: Scenario }
export interface CheckResult { counts: Record<string, number>; violations: string[] }

const one = <T>(rows: T[]) => rows[0];

/**
 * After the run, from the source of truth: every prescription in its scenario's end state, and no effect
 * twice — per prescription the orders, reservations, fills, settlements (and reversals), deliveries,
 * follow-ups, hospital events and audit events counted by their natural keys against what the journey
 * must have produced; the workflow closed, exactly one run per workflow id (besides runs ended by a reset); the audit chains intact.
 */
export async function checkRun(db: PgQueryable, temporal: TemporalClient, orm: MikroORM, journeys: Journey[], opts: { globalChain: boolean }): Promise<CheckResult> {
  const ids = journeys.map((j) => j.id);
  const scenarioOf = new Map(journeys.map((j) => [j.id, j.scenario]));
  const violations: string[] = [];
  const v = (s: string) => { if (violations.length < 200) violations.push(s); };
  const counts: Record<string, number> = { prescriptions: ids.length };

  // End states.
  const { rows: statuses } = await db.query<{ id: string; status: string; lines: number; used: boolean }>(
    `select p.id, p.status, (select count(*)::int from prescription_line l where l.prescription_id = p.id) as lines, p.used_at is not null as used
       from prescription p where p.id = any($1::uuid[])`, [ids]);
  const byId = new Map(statuses.map((r) => [r.id, r]));
  for (const j of journeys) {
    const r = byId.get(j.id);
    if (!r) { v(`${j.id}: no prescription row`); continue; }
    if (r.status !== EXPECTED_END[j.scenario]) v(`${j.id} (${j.scenario}): status ${r.status}, expected ${EXPECTED_END[j.scenario]}`);
    counts[`status_${r.status}`] = (counts[`status_${r.status}`] ?? 0) + 1;
  }

  // What each journey must have produced, per prescription.
  const perRx = async (name: string, query: string) => {
    const { rows } = await db.query<{ id: string; n: number }>(query, [ids]);
    const m = new Map(rows.map((r) => [r.id, Number(r.n)]));
    counts[name] = rows.reduce((s, r) => s + Number(r.n), 0);
    return (id: string) => m.get(id) ?? 0;
  };
  const orders = await perRx('orders', `select prescription_id as id, count(*) n from fulfilment_order where prescription_id = any($1::uuid[]) group by 1`);
  const declined = await perRx('orders_declined', `select prescription_id as id, count(*) n from fulfilment_order where prescription_id = any($1::uuid[]) and status = 'declined' group by 1`);
  const reservations = await perRx('reservations', `select prescription_id as id, count(*) n from reservation where prescription_id = any($1::uuid[]) group by 1`);
  const committed = await perRx('reservations_committed', `select prescription_id as id, count(*) n from reservation where prescription_id = any($1::uuid[]) and status = 'committed' group by 1`);
  const held = await perRx('reservations_held', `select prescription_id as id, count(*) n from reservation where prescription_id = any($1::uuid[]) and status = 'held' group by 1`);
  const dispensings = await perRx('dispensings', `select prescription_id as id, count(*) n from dispensing where prescription_id = any($1::uuid[]) group by 1`);
  const settlements = await perRx('settlements', `select prescription_id as id, count(*) n from settlement where prescription_id = any($1::uuid[]) group by 1`);
  const reversals = await perRx('settlement_reversals', `select prescription_id as id, count(*) n from settlement_reversal where prescription_id = any($1::uuid[]) group by 1`);
  const deliveries = await perRx('deliveries', `select prescription_id as id, count(*) n from delivery where prescription_id = any($1::uuid[]) group by 1`);
  const delivered = await perRx('deliveries_delivered', `select prescription_id as id, count(*) n from delivery where prescription_id = any($1::uuid[]) and status = 'delivered' group by 1`);
  // The follow-up plan (docs/follow-up.md): each step but the close sent once (answered or not), the close closed.
  const followUpSteps = await perRx('follow_up_steps', `select prescription_id as id, count(*) n from follow_up where prescription_id = any($1::uuid[]) and kind <> 'close' group by 1`);
  const followUps = await perRx('follow_ups_sent', `select prescription_id as id, count(*) n from follow_up where prescription_id = any($1::uuid[]) and kind <> 'close' and sent_at is not null group by 1`);
  const followUpsClosed = await perRx('follow_ups_closed', `select prescription_id as id, count(*) n from follow_up where prescription_id = any($1::uuid[]) and kind = 'close' and status = 'closed' group by 1`);
  await perRx('hospital_events', `select prescription_id as id, count(*) n from hospital_event where prescription_id = any($1::uuid[]) group by 1`);
  await perRx('audit_events', `select prescription_id as id, count(*) n from audit_event where prescription_id = any($1::uuid[]) group by 1`);

  for (const j of journeys) {
    const r = byId.get(j.id);
    if (!r) continue;
    const id = j.id;
    const want = (what: string, got: number, expected: number) => { if (got !== expected) v(`${id} (${j.scenario}): ${what} ${got}, expected ${expected}`); };
    const filled = j.scenario === 'complete' || j.scenario === 'decline';
    want('orders', orders(id), j.scenario === 'reject' ? 0 : j.scenario === 'decline' ? 2 : 1);
    want('declined orders', declined(id), j.scenario === 'decline' ? 1 : 0);
    // One reservation per line per pharmacy offered; the filled ones committed, none left held.
    want('reservations', reservations(id), r.lines * orders(id));
    want('committed reservations', committed(id), filled ? r.lines : 0);
    want('held reservations', held(id), 0);
    want('dispensings', dispensings(id), filled ? 1 : 0);
    want('settlements', settlements(id), filled ? 1 : 0);
    want('settlement reversals', reversals(id), 0);
    want('deliveries', deliveries(id), filled ? 1 : 0);
    want('delivered deliveries', delivered(id), filled ? 1 : 0);
    if (filled && followUpSteps(id) === 0) v(`${id} (${j.scenario}): no follow-up plan`);
    want('follow-up steps sent', followUps(id), followUpSteps(id));
    want('follow-up plans closed', followUpsClosed(id), filled ? 1 : 0);
    if (filled !== r.used) v(`${id} (${j.scenario}): prescription used_at ${r.used ? 'set' : 'not set'}`);
  }

  // Duplicates by natural key: a hospital event per (prescription, new status, previous status); an audit
  // event per status transition, and per one-off action and its key.
  const dup = async (name: string, query: string) => {
    const { rows } = await db.query<{ id: string; k: string; n: number }>(query, [ids]);
    counts[name] = rows.length;
    for (const r of rows) v(`${r.id}: ${name} ${r.k} × ${r.n}`);
  };
  // Follow-up notices are per step and per reminder, not per status.
  await dup('duplicate_hospital_events', `select prescription_id as id, type || ' from ' || coalesce(envelope->'data'->>'previousStatus', '-')
        || coalesce(' step ' || (envelope->'data'->>'followUpId') || ' reminder ' || coalesce(envelope->'data'->>'reminder', 'false'), '') as k, count(*) n
      from hospital_event where prescription_id = any($1::uuid[]) group by 1, 2 having count(*) > 1`);
  await dup('duplicate_status_transitions', `select prescription_id as id, coalesce(from_status, '-') || '→' || to_status as k, count(*) n
      from audit_event where prescription_id = any($1::uuid[]) and to_status is not null group by 1, 2 having count(*) > 1`);
  await dup('duplicate_audit_actions', `select prescription_id as id, action || ' ' || coalesce(data->>'fillNo', data->>'followUpId', data->>'kind', data->>'pharmacy', data->>'attempt', '') as k, count(*) n
      from audit_event where prescription_id = any($1::uuid[])
        and action in ('received', 'review_approved', 'review_rejected', 'pharmacy_accepted', 'pharmacy_declined', 'stock_reserved', 'dispensed',
                       'settlement_recorded', 'settlement_reversed', 'delivery_assigned', 'delivery_picked_up', 'delivery_in_transit', 'delivery_delivered',
                       'follow_up_sent', 'follow_up_scheduled', 'completed', 'cancelled', 'rejected')
      group by 1, 2 having count(*) > 1`);

  // Temporal: the workflow of each prescription closed as completed, one run per workflow id (resets aside).
  let closed = 0;
  let runs = 0;
  let resets = 0;
  for (let i = 0; i < ids.length; i += 20) {
    await Promise.all(ids.slice(i, i + 20).map(async (id) => {
      const wid = `rx-${id}`;
      try {
        const d = await temporal.workflow.getHandle(wid).describe();
        if (d.status.name === 'COMPLETED') closed++;
        else v(`${wid} (${scenarioOf.get(id)}): workflow ${d.status.name}`);
      } catch (e) {
        v(`${wid}: ${(e as Error).message}`);
      }
      // A run the healer reset (docs/reliability.md, "Nondeterminism after a crash") ends TERMINATED and names
      // the run that replaced it: that is one workflow continued, not a second one.
      let n = 0;
      let reset = 0;
      for await (const run of temporal.workflow.list({ query: `WorkflowId = '${wid}'` })) {
        n++;
        if (run.status.name === 'TERMINATED' && (await temporal.workflow.getHandle(wid, run.runId).describe()).raw.workflowExtendedInfo?.resetRunId) reset++;
      }
      runs += n;
      resets += reset;
      if (n - reset !== 1) v(`${wid}: ${n} workflow runs${reset ? ` (${reset} of them reset)` : ''}`);
    }));
  }
  counts.workflows_completed = closed;
  counts.workflow_runs = runs;
  counts.workflow_resets = resets;

  // The audit chains: globally (a run's own database) or per prescription (a shared database).
  if (opts.globalChain) {
    const r = await verifyAuditTrail(orm.em.fork() as EntityManager);
    counts.audit_events_verified = r.checked;
    if (!r.intact) v(`audit chain broken: ${JSON.stringify(r.broken)}`);
  } else {
    let checked = 0;
    for (const id of ids) {
      const r = await verifyAuditTrail(orm.em.fork() as EntityManager, { prescriptionId: id });
      checked += r.checked;
      if (!r.intact) v(`${id}: audit chain broken: ${JSON.stringify(r.broken)}`);
    }
    counts.audit_events_verified = checked;
  }
  return { counts, violations };
}

/** Stock after the run against before: nothing left reserved, on hand down by exactly what was dispensed. */
export async function checkStock(db: PgQueryable, before: { onHand: number; reserved: number }, journeys: Journey[]): Promise<CheckResult> {
  const violations: string[] = [];
  const after = one((await db.query<{ on_hand: string; reserved: string }>(`select sum(on_hand) on_hand, sum(reserved) reserved from stock`)).rows);
  const dispensed = one((await db.query<{ q: string }>(
    `select coalesce(sum(l.quantity), 0) q from prescription_line l join prescription p on p.id = l.prescription_id where p.id = any($1::uuid[]) and p.used_at is not null`,
    [journeys.map((j) => j.id)])).rows);
  const counts = { stock_units_dispensed: Number(before.onHand) - Number(after.on_hand), stock_units_prescribed_filled: Number(dispensed.q), stock_units_reserved_after: Number(after.reserved) };
  if (counts.stock_units_dispensed !== counts.stock_units_prescribed_filled) violations.push(`stock: on hand fell by ${counts.stock_units_dispensed}, the filled prescriptions hold ${counts.stock_units_prescribed_filled} units`);
  if (Number(after.reserved) !== Number(before.reserved)) violations.push(`stock: ${after.reserved} units reserved after the run, ${before.reserved} before`);
  return { counts, violations };
}

export async function stockTotals(db: PgQueryable): Promise<{ onHand: number; reserved: number }> {
  const r = one((await db.query<{ on_hand: string; reserved: string }>(`select sum(on_hand) on_hand, sum(reserved) reserved from stock`)).rows);
  return { onHand: Number(r.on_hand), reserved: Number(r.reserved) };
}

/** Waits until every workflow of the run has closed (the database may say completed a moment before). */
export async function awaitWorkflows(temporal: TemporalClient, ids: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const id of ids) {
    const h = temporal.workflow.getHandle(`rx-${id}`);
    while (Date.now() < deadline) {
      const d = await h.describe().catch(() => null);
      if (d && d.status.name !== 'RUNNING') break;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
