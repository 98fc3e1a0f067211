// Building blocks of the end-to-end benchmark (bench/e2e.ts) and its integration test: benchmark
// prescriptions, the simulated parties carrying one prescription to `completed` over the HTTP API, the
// same journey through the no-op ceiling workflow, closed- and fixed-rate load loops, engine processes
// (spawn, wait for ready, resident memory), and the statistics.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Client as TemporalClient } from '@temporalio/client';
import { ApiClient, PartnerClient, type HttpResult } from '../../demo/actors';
import { DEMO } from '../../demo/fixtures';
import { demoPrescriptionContent, signAsDemoHospital } from '../../demo/prescriptions';
import { scanOrder } from '../../demo/packs';
import type { WorkflowTimings } from '../../engine/config';
import {
  benchCeilingWorkflow, ceilingDelivery, ceilingDispense, ceilingPharmacyResponse, ceilingReview, type CeilingTimings,
} from '../../workflows/bench-ceiling';
import type { PgQueryable } from '../postgis-baseline';

export const ROOT = path.resolve(__dirname, '..', '..');

// ---------------------------------------------------------------- the workload

/** Baskets the demo catalogue's Hangzhou pharmacies stock (the benchmark tops their stock up first). */
export const BASKETS: { name: string; quantity: number }[][] = [
  [{ name: '苯磺酸氨氯地平片', quantity: 1 }, { name: '二甲双胍', quantity: 1 }],
  [{ name: '苯磺酸氨氯地平片', quantity: 2 }],
  [{ name: '二甲双胍', quantity: 2 }],
];
const HOME = { lat: 30.2788, lng: 120.1325 }; // the demo patient's address; others are spread within ~3 km

/**
 * Prescription i of a run: signed by the demo hospital, its own number and its own patient (so intakes do
 * not queue on one patient row), a home within ~3 km of the demo address, one of BASKETS.
 */
export function benchPrescription(runId: string, i: number): Record<string, any> {
  const basket = BASKETS[i % BASKETS.length];
  // A deterministic scatter (golden angle), not random: the same run id gives the same workload.
  const r = 0.03 * Math.sqrt(((i * 7919) % 1000) / 1000);
  const a = i * 2.399963;
  return signAsDemoHospital(demoPrescriptionContent({
    rxNo: `E2E-${runId}-${i}`,
    drugs: basket.map((b) => ({ name: b.name, quantity: b.quantity, days: 7 })),
    patient: { ref: `PAT-E2E-${runId}-${i}`, address: { text: `杭州市西湖区（基准测试）${i} 号`, lat: HOME.lat + r * Math.sin(a) * 0.9, lng: HOME.lng + r * Math.cos(a) } },
  }));
}

/** Shortened follow-up timers and the rest at their defaults: what the engine and the ceiling both run with. */
export const BENCH_FOLLOWUPS = { RX_FOLLOWUP_ADHERENCE_MS: '100', RX_FOLLOWUP_ADVERSE_MS: '200', RX_FOLLOWUP_REFILL_MS: '300', RX_FOLLOWUP_DAY_MS: '10', RX_FOLLOWUP_RESPONSE_WINDOW_MS: '50' };

/** The ceiling waits with the engine's timings: the same timers are started (and cancelled) in both. */
export function ceilingTimings(t: WorkflowTimings, chronic = true): CeilingTimings {
  return {
    reviewSlaMs: t.reviewSlaMs, pharmacyResponseMs: t.pharmacyResponseMs, dispenseTimeoutMs: t.dispenseTimeoutMs, deliveryTimeoutMs: t.deliveryTimeoutMs,
    followUpDelaysMs: [t.followUpDelaysMs.adherence, t.followUpDelaysMs.adverse_reaction, ...(chronic ? [t.followUpDelaysMs.refill_reminder] : [])],
    // The plan's steps as for the bench baskets (7 days' supply): a check-in, a refill reminder when chronic, the close.
    ...(t.followUp ? { followUpPlan: ceilingFollowUpPlan(t.followUp, chronic) } : {}),
  };
}

function ceilingFollowUpPlan(fu: NonNullable<WorkflowTimings['followUp']>, chronic: boolean) {
  const steps = [fu.rules.checkInDays, ...(chronic ? [Math.max(1, 7 - fu.rules.refillLeadDays)] : [])];
  return { stepDueMs: steps.map((d) => d * fu.dayMs), closeDueMs: Math.max(Math.max(...steps) + fu.rules.closeAfterDays, 7) * fu.dayMs, responseWindowMs: fu.responseWindowMs };
}

// ---------------------------------------------------------------- watching PostgreSQL

export interface RxSnapshot {
  id: string;
  status: string;
  orderId: string | null; orderStatus: string | null; pharmacyCode: string | null;
  deliveryId: string | null; deliveryStatus: string | null; partnerCode: string | null;
}
const TERMINAL = new Set(['completed', 'rejected', 'cancelled', 'unfulfillable', 'returned', 'expired']);

/**
 * How the simulated parties learn there is work for them: one query per tick for every prescription in
 * flight, straight from PostgreSQL. A stand-in for their own systems' notifications, cheap enough not to
 * load the engine (polling GET /v1/prescriptions/:id would send a Temporal query per poll).
 */
export class RxWatcher {
  private readonly waiters = new Map<string, { until: (s: RxSnapshot) => boolean; resolve: (s: RxSnapshot) => void; reject: (e: Error) => void; deadline: number }[]>();
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  ticks = 0;

  /** `waitMs`: how long a wait may take by default (crash and fault runs wait out restarts). */
  constructor(private readonly db: PgQueryable, private readonly tickMs = 20, private readonly waitMs = 120_000) {}

  start(): this {
    this.timer = setInterval(() => { void this.tick(); }, this.tickMs);
    return this;
  }
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Resolves with the first snapshot for which `until` holds; a terminal status other than awaited rejects. */
  waitFor(id: string, until: (s: RxSnapshot) => boolean, timeoutMs = this.waitMs): Promise<RxSnapshot> {
    return new Promise((resolve, reject) => {
      const list = this.waiters.get(id) ?? [];
      list.push({ until, resolve, reject, deadline: Date.now() + timeoutMs });
      this.waiters.set(id, list);
    });
  }

  async tick(): Promise<void> {
    if (this.busy || this.waiters.size === 0) return;
    this.busy = true;
    try {
      const ids = [...this.waiters.keys()];
      const { rows } = await this.db.query<RxSnapshot>(
        `select p.id, p.status, o.id as "orderId", o.status as "orderStatus", ph.code as "pharmacyCode",
                d.id as "deliveryId", d.status as "deliveryStatus", dp.code as "partnerCode"
           from prescription p
           left join lateral (select fo.id, fo.status, fo.pharmacy_id from fulfilment_order fo where fo.prescription_id = p.id order by fo.attempt desc limit 1) o on true
           left join pharmacy ph on ph.id = o.pharmacy_id
           left join lateral (select d.id, d.status, d.partner_id from delivery d where d.prescription_id = p.id order by d.attempt desc limit 1) d on true
           left join delivery_partner dp on dp.id = d.partner_id
          where p.id = any($1::uuid[])`, [ids]);
      this.ticks++;
      const now = Date.now();
      const byId = new Map(rows.map((r) => [r.id, r]));
      for (const id of ids) {
        const s = byId.get(id);
        const list = this.waiters.get(id)!;
        const keep = list.filter((w) => {
          if (s && w.until(s)) { w.resolve(s); return false; }
          if (s && TERMINAL.has(s.status)) { w.reject(new Error(`prescription ended ${s.status}`)); return false; }
          if (now > w.deadline) { w.reject(new Error(`timed out waiting (status ${s?.status ?? 'unknown'})`)); return false; }
          return true;
        });
        if (keep.length) this.waiters.set(id, keep); else this.waiters.delete(id);
      }
    } catch (e) {
      console.error(`[watcher] ${(e as Error).message}`);
    } finally {
      this.busy = false;
    }
  }
}

// ---------------------------------------------------------------- the simulated parties (rxflow)

export interface Parties {
  hospital: ApiClient;
  pharmacist: ApiClient;
  pharmacy(code: string): ApiClient;
  courier(code: string): ApiClient;
}
export function benchParties(apiUrl: string): Parties {
  const cache = new Map<string, ApiClient>();
  const client = (key: string) => cache.get(key) ?? cache.set(key, new ApiClient(apiUrl, key)).get(key)!;
  return {
    hospital: client(DEMO.hospital.key),
    pharmacist: client(DEMO.pharmacists[0].key),
    pharmacy: (code) => client(DEMO.pharmacyKey(code)),
    courier: (code) => { const partner = DEMO.partners.find((x) => x.code === code)!; return new PartnerClient(apiUrl, partner.key, partner.secret); },
  };
}

export interface CarryContext {
  parties: Parties;
  watcher: RxWatcher;
  /** Whether the API has pharmacist claims (issue 3); learned from the first claim's answer. */
  claims?: boolean;
  /** Updates refused with 409 because the workflow had not yet taken in the step the database already showed. */
  retries: { conflicts: number };
  /** When set, 503 answers are waited out and counted instead of failing the journey. */
  unavailable?: { count: number; maxWaitMs: number };
}

export interface Carried { id: string; pushAt: number; pushedMs: number; doneAt: number }

/**
 * Sends a call, again after a short pause while it is refused with 409 (the workflow catching up with
 * PostgreSQL); with `ctx.unavailable` set, also again after a 503 (a dependency down: the crash and fault
 * runs, bench/lib/reliability.ts), waiting what Retry-After says.
 */
export async function until409Clears(ctx: CarryContext, what: string, call: () => Promise<HttpResult>, expected: number[]): Promise<HttpResult> {
  for (let attempt = 0; ; attempt++) {
    const r = await call();
    if (expected.includes(r.status)) return r;
    if (r.status === 409 && attempt < 100 && !['WORKFLOW_CLOSED', 'ALREADY_FILLED', 'CLAIMED_BY_OTHER'].includes(r.body?.error?.code)) {
      ctx.retries.conflicts++;
      await new Promise((res) => setTimeout(res, 10 + 5 * attempt));
      continue;
    }
    if (r.status === 503 && ctx.unavailable && attempt < 1000) {
      ctx.unavailable.count++;
      await new Promise((res) => setTimeout(res, Math.min(1000 * Number(r.retryAfter ?? 1), ctx.unavailable!.maxWaitMs)));
      continue;
    }
    throw new Error(`${what}: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
  }
}

/**
 * One prescription from push to `completed`, every party reacting as soon as its work shows: the
 * pharmacist claims (where the API has claims) and approves, the matched pharmacy accepts and dispenses
 * every pack by traceability code, the courier posts assigned, picked_up, in_transit and delivered with proof.
 */
export async function carryPrescription(ctx: CarryContext, rx: Record<string, any>): Promise<Carried> {
  const p = ctx.parties;
  const pushAt = Date.now();
  const pushed = await p.hospital.post('/v1/prescriptions', rx);
  if (pushed.status !== 201) throw new Error(`push: HTTP ${pushed.status} ${JSON.stringify(pushed.body).slice(0, 300)}`);
  const pushedMs = Date.now() - pushAt;
  const id = pushed.body.prescription.id as string;
  await playParties(ctx, id, rx);
  return { id, pushAt, pushedMs, doneAt: Date.now() };
}

/** The parties' part of the journey, for a prescription already pushed; resolves when it is completed. */
export async function playParties(ctx: CarryContext, id: string, rx: Record<string, any>): Promise<void> {
  await reviewStep(ctx, id, 'approve');
  const offered = await ctx.watcher.waitFor(id, (s) => s.orderStatus === 'offered');
  await acceptAndDispense(ctx, offered, rx);
  await deliverStep(ctx, id);
  await ctx.watcher.waitFor(id, (s) => s.status === 'completed');
}

/** Pharmacist: once the prescription is in review, claim it where claims exist (404 → this API has none), then decide. */
export async function reviewStep(ctx: CarryContext, id: string, decision: 'approve' | 'reject'): Promise<void> {
  const { parties: p, watcher } = ctx;
  await watcher.waitFor(id, (s) => s.status === 'in_review');
  if (ctx.claims !== false) {
    const c = await until409Clears(ctx, 'claim', () => p.pharmacist.post(`/v1/review-queue/${id}/claim`), [200, 201, 404]);
    if (c.status === 404 && c.body?.error?.code === 'ROUTE_NOT_FOUND') ctx.claims = false;
    else if (c.status >= 200 && c.status < 300) ctx.claims = true;
    else throw new Error(`claim: HTTP ${c.status} ${JSON.stringify(c.body).slice(0, 300)}`);
  }
  if (decision === 'reject') {
    await until409Clears(ctx, 'reject', () => p.pharmacist.post(`/v1/prescriptions/${id}/review`, { decision: 'reject', reasons: ['DOSE'], comment: '模拟药师：剂量与诊断不符 (simulated)' }), [202]);
    return;
  }
  let approve = { decision: 'approve' } as Record<string, unknown>;
  const review = () => p.pharmacist.post(`/v1/prescriptions/${id}/review`, approve);
  const r = await until409Clears(ctx, 'approve', review, [202, 422]);
  if (r.status === 422 && r.body?.error?.code === 'OVERRIDE_REASON_REQUIRED') {
    approve = { ...approve, overrideReason: '基准测试：模拟药师确认用药合理 (benchmark)' };
    await until409Clears(ctx, 'approve', review, [202]);
  } else if (r.status !== 202) throw new Error(`approve: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
}

/** Pharmacy: accept the offer and dispense what was prescribed (the benchmark baskets allow no substitution). */
export async function acceptAndDispense(ctx: CarryContext, offered: RxSnapshot, rx: Record<string, any>): Promise<void> {
  const pharmacy = ctx.parties.pharmacy(offered.pharmacyCode!);
  await until409Clears(ctx, 'accept', () => pharmacy.post(`/v1/pharmacy/orders/${offered.orderId}/accept`), [202]);
  const lines = (rx.lines as { drugCode: string; quantity: number }[]).map((l, i) => ({ lineNo: i + 1, drugCode: l.drugCode, quantity: l.quantity }));
  // Scanned once: a retried call sends the same packs, as a pharmacy's system would.
  const packs = scanOrder(lines);
  await until409Clears(ctx, 'dispense', () => pharmacy.post(`/v1/pharmacy/orders/${offered.orderId}/dispense`, { pharmacistName: '基准药师', lines: packs }), [201]);
}

/** Courier: takes the job, picks up, in transit, delivered with proof. */
export async function deliverStep(ctx: CarryContext, id: string): Promise<void> {
  const assigned = await ctx.watcher.waitFor(id, (s) => s.deliveryStatus === 'created');
  const courier = ctx.parties.courier(assigned.partnerCode!);
  for (const status of ['assigned', 'picked_up', 'in_transit', 'delivered'] as const) {
    const body = status === 'delivered' ? { status, proof: { kind: 'signature', reference: 'sig/e2e-0000.png' } } : { status };
    await until409Clears(ctx, status, () => courier.post(`/v1/deliveries/${assigned.deliveryId}/status`, body), [202]);
  }
}

/** Database times of the moments reported, for carried prescriptions (same host clock as the driver). */
export async function journeyTimes(db: PgQueryable, ids: string[]): Promise<Map<string, { matchedAt: number | null; completedAt: number | null }>> {
  const out = new Map<string, { matchedAt: number | null; completedAt: number | null }>();
  for (let i = 0; i < ids.length; i += 1000) {
    const { rows } = await db.query<{ id: string; matched: Date | null; completed: Date | null }>(
      `select prescription_id as id, min(at) filter (where action = 'pharmacy_offered') as matched, min(at) filter (where action = 'completed') as completed
         from audit_event where prescription_id = any($1::uuid[]) and action in ('pharmacy_offered', 'completed') group by prescription_id`, [ids.slice(i, i + 1000)]);
    for (const r of rows) out.set(r.id, { matchedAt: r.matched ? new Date(r.matched).getTime() : null, completedAt: r.completed ? new Date(r.completed).getTime() : null });
  }
  return out;
}

// ---------------------------------------------------------------- the same journey through the ceiling

export interface CeilingCarried { id: string; pushAt: number; matchedAt: number; doneAt: number }

/** Start + the same seven updates as rxflow's parties send (four delivery statuses since partners assign), then the result. */
export async function carryCeiling(client: TemporalClient, taskQueue: string, workflowId: string, timings: CeilingTimings, localActivities = false): Promise<CeilingCarried> {
  const pushAt = Date.now();
  const h = await client.workflow.start(benchCeilingWorkflow, { taskQueue, workflowId, args: [{ timings, localActivities }] });
  await h.executeUpdate(ceilingReview, { args: [{ decision: 'approve' }] });
  await h.executeUpdate(ceilingPharmacyResponse, { args: [{ accept: true }] });
  await h.executeUpdate(ceilingDispense, { args: [{ lines: [{ lineNo: 1, packs: 1 }] }] });
  for (const status of ['assigned', 'picked_up', 'in_transit', 'delivered']) await h.executeUpdate(ceilingDelivery, { args: [{ status }] });
  const r = await h.result();
  return { id: workflowId, pushAt, matchedAt: r.offeredAt, doneAt: Date.now() };
}

/** What one workflow's history holds: the shape rxflow and the ceiling are compared on. */
export async function historyShape(client: TemporalClient, workflowId: string): Promise<Record<string, number>> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const count: Record<string, number> = { events: history.events?.length ?? 0, activities: 0, localActivities: 0, timers: 0, updates: 0, workflowTasks: 0 };
  for (const e of history.events ?? []) {
    if (e.activityTaskScheduledEventAttributes) count.activities++;
    // Local activities' markers only: a patched() marker (workflow versioning) is not a step.
    if (e.markerRecordedEventAttributes && e.markerRecordedEventAttributes.markerName === 'core_local_activity') count.localActivities++;
    if (e.timerStartedEventAttributes) count.timers++;
    if (e.workflowExecutionUpdateAcceptedEventAttributes) count.updates++;
    if (e.workflowTaskCompletedEventAttributes) count.workflowTasks++;
  }
  return count;
}

// ---------------------------------------------------------------- load

export interface LoadResult<T> { done: T[]; errors: number; firstErrors: string[]; startedAt: number; endedAt: number; drainedAt: number }

/**
 * Closed loop: `concurrency` journeys in flight, each replaced when it ends, new ones started until
 * `seconds` are up; then the ones in flight are awaited (drain), so nothing spills into the next phase.
 */
export async function closedLoop<T>(concurrency: number, seconds: number, journey: (i: number) => Promise<T>): Promise<LoadResult<T>> {
  let next = 0;
  const res: LoadResult<T> = { done: [], errors: 0, firstErrors: [], startedAt: Date.now(), endedAt: 0, drainedAt: 0 };
  const end = res.startedAt + seconds * 1000;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (Date.now() < end) {
      const i = next++;
      try {
        res.done.push(await journey(i));
      } catch (e) {
        res.errors++;
        if (res.firstErrors.length < 5) res.firstErrors.push(String((e as Error)?.message ?? e).slice(0, 300));
      }
    }
  }));
  res.endedAt = end;
  res.drainedAt = Date.now();
  return res;
}

/** Fixed rate (open loop): one journey started every 1/rate s for `seconds`, at most `maxInFlight` at once. */
export async function fixedRate<T>(rate: number, seconds: number, maxInFlight: number, journey: (i: number) => Promise<T>): Promise<LoadResult<T> & { skipped: number }> {
  const res: LoadResult<T> & { skipped: number } = { done: [], errors: 0, firstErrors: [], startedAt: Date.now(), endedAt: 0, drainedAt: 0, skipped: 0 };
  const inFlight = new Set<Promise<void>>();
  const total = Math.round(rate * seconds);
  for (let i = 0; i < total; i++) {
    const due = res.startedAt + (i * 1000) / rate;
    if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    if (inFlight.size >= maxInFlight) { res.skipped++; continue; } // the engine is behind: counted, not queued
    const p: Promise<void> = journey(i).then((x) => { res.done.push(x); }, (e) => {
      res.errors++;
      if (res.firstErrors.length < 5) res.firstErrors.push(String((e as Error)?.message ?? e).slice(0, 300));
    }).finally(() => inFlight.delete(p));
    inFlight.add(p);
  }
  res.endedAt = Date.now();
  await Promise.all(inFlight);
  res.drainedAt = Date.now();
  return res;
}

// ---------------------------------------------------------------- statistics

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}
export const median = (xs: number[]) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
export function summarise(ms: number[]): { n: number; p50: number; p95: number; p99: number; max: number } {
  const s = ms.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  const r = (x: number) => Math.round(x);
  return { n: s.length, p50: r(percentile(s, 0.5)), p95: r(percentile(s, 0.95)), p99: r(percentile(s, 0.99)), max: r(s[s.length - 1] ?? NaN) };
}

// ---------------------------------------------------------------- processes

/** The engine's ready line (engine/main.ts logs it as JSON through pino), and the API's address in it. */
export const ENGINE_READY = /"msg":"ready"|\[rxflow\] ready/;
export function apiUrlOf(readyLine: string): string {
  const m = /"api":"(http[^"]+)"/.exec(readyLine) ?? /API (http:\/\/\S+?);/.exec(readyLine);
  if (!m) throw new Error(`no API address in the ready line: ${readyLine}`);
  return m[1];
}

export interface Proc { name: string; child: ChildProcess; readyMs: number; ready: string; log: string[] }

/** Starts `node --import tsx <script>` with env and waits for its ready line; start-up is command → ready. */
export function startProcess(name: string, script: string, env: Record<string, string>, readyPattern: RegExp, timeoutMs = 180_000): Promise<Proc> {
  const t0 = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const log: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${name} not ready in ${timeoutMs} ms:\n${log.slice(-20).join('')}`)); }, timeoutMs);
    const onData = (b: Buffer) => {
      const text = b.toString();
      log.push(text);
      if (log.length > 200) log.splice(0, log.length - 200);
      const line = text.split('\n').find((l) => readyPattern.test(l));
      if (line) { clearTimeout(timer); resolve({ name, child, readyMs: Math.round(performance.now() - t0), ready: line.trim(), log }); }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${name} exited (${code}) before ready:\n${log.slice(-20).join('')}`)); });
  });
}

export async function stopProcess(p: Proc, timeoutMs = 20_000): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.removeAllListeners('exit');
  const exited = new Promise<void>((r) => p.child.once('exit', () => r()));
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}

/** Resident set size of a process in MiB (Linux /proc), NaN once it is gone. */
export function rssMiB(pid: number | undefined): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : NaN;
  } catch {
    return NaN;
  }
}

/** CPU time (user + system) a process has used so far, in ms (Linux /proc; clock ticks of 10 ms). */
export function cpuMs(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10; // utime, stime (fields 14 and 15 of stat)
  } catch {
    return NaN;
  }
}

/** CPU time of a process and of its children, the ones it has waited for and the live ones, in ms. */
function treeCpuMs(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
    let ms = (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * 10; // utime, stime, cutime, cstime
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      for (const child of readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean)) ms += treeCpuMs(Number(child));
    }
    return ms;
  } catch {
    return 0; // gone between the listing and the read: its time is in the parent's cutime once reaped
  }
}

/**
 * The services' CPU so far (PostgreSQL's postmaster and its backends, the Temporal server, Elasticsearch),
 * found through the pid files of a stack directory (stack/rxstack). Only meaningful on a private stack:
 * on a shared one other users' work is counted too. Null where a pid file is missing (an external service).
 */
export function servicesCpuMs(stackDir: string): Record<'postgres' | 'temporal' | 'elasticsearch', number | null> {
  const pidOf = (file: string) => { try { return Number(readFileSync(path.join(stackDir, file), 'utf8').split('\n')[0].trim()) || null; } catch { return null; } };
  const cpu = (pid: number | null) => (pid ? treeCpuMs(pid) : null);
  return { postgres: cpu(pidOf('data/pg/postmaster.pid')), temporal: cpu(pidOf('run/temporal.pid')), elasticsearch: cpu(pidOf('run/es/es.pid')) };
}

/** Samples the peak RSS of some processes once a second until stopped. */
export function rssSampler(procs: Proc[]) {
  const peak = new Map<string, number>();
  const sample = () => { for (const p of procs) peak.set(p.name, Math.max(peak.get(p.name) ?? 0, rssMiB(p.child.pid) || 0)); };
  sample();
  const timer = setInterval(sample, 1000);
  return { stop: () => { clearInterval(timer); sample(); return Object.fromEntries(peak); } };
}
