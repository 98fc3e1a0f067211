// Dependency faults (issue 6, docs/reliability.md): prescriptions pushed continuously and carried by the
// simulated parties while, one after the other, (a) PostgreSQL is restarted, (b) Elasticsearch is stopped
// for a minute and started again, (c) the Temporal dev server is restarted. Every push must get a 2xx
// (and that prescription then ends as its journey says) or a 503 with Retry-After (and the same push
// later succeeds): never accepted and then lost, never a 500 or no answer. Everything in flight must
// complete after recovery. Prints a table per fault and the end-of-run checks of bench/crash.ts; exits 1
// on any violation.
//
// It stops and starts services: ONLY against a private stack, never the shared one. It drives
// stack/rxstack with the RX_STACK_DIR and RX_*_PORT variables it is given, and refuses the default ports:
//   export RX_STACK_DIR=/work/wt/faults-stack RX_PG_PORT=56432 RX_TEMPORAL_PORT=17333 RX_TEMPORAL_UI_PORT=18333 \
//     RX_ES_PORT=19400 RX_ES_TRANSPORT_PORT=19500
//   stack/rxstack up
//   node --import tsx bench/faults.ts [--rate 2] [--es-down 60] [--settle 30] [--warmup 20] [--seed 1]
//        [--faults pg,es,temporal] [--out .stack/bench-results]
import { execFile } from 'node:child_process';
import { appendFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ApiClient } from '../demo/actors';
import { DEMO } from '../demo/fixtures';
import { loadConfig } from '../engine/config';
import { openServices } from '../engine/runtime';
import { openPool } from './postgis-baseline';
import { BENCH_FOLLOWUPS, ENGINE_READY, ROOT, RxWatcher, benchParties, benchPrescription, startProcess, stopProcess, type CarryContext, type Proc } from './lib/e2e';
import { awaitWorkflows, checkRun, checkStock, freshEngineData, playScenario, scenarioMix, serviceVersions, stockTotals, type Journey } from './lib/reliability';
import { cliArgs } from './lib/args';

const run = promisify(execFile);
const log = (s: string) => console.error(`[faults ${new Date().toISOString().slice(11, 19)}] ${s}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function args() {
  const { get } = cliArgs();
  return {
    rate: Number(get('rate', '2')),
    esDownS: Number(get('es-down', '60')),
    settleS: Number(get('settle', '30')),
    warmupS: Number(get('warmup', '20')),
    seed: Number(get('seed', '1')),
    faults: get('faults', 'pg,es,temporal').split(',') as ('pg' | 'es' | 'temporal')[],
    apiPort: Number(get('api-port', '18591')),
    out: get('out', path.join(ROOT, '.stack', 'bench-results')),
  };
}

/** The private stack, from the environment; the shared stack's default ports are refused. */
function privateStack() {
  const e = process.env;
  const stack = { dir: e.RX_STACK_DIR, pg: e.RX_PG_PORT, temporal: e.RX_TEMPORAL_PORT, es: e.RX_ES_PORT };
  if (!stack.dir || !stack.pg || !stack.temporal || !stack.es || !e.RX_ES_TRANSPORT_PORT || !e.RX_TEMPORAL_UI_PORT) {
    throw new Error('set RX_STACK_DIR, RX_PG_PORT, RX_TEMPORAL_PORT, RX_TEMPORAL_UI_PORT, RX_ES_PORT and RX_ES_TRANSPORT_PORT to a private stack (this run stops and starts its services)');
  }
  if (['55432', '17233', '19200'].some((p) => [stack.pg, stack.temporal, stack.es].includes(p)) || path.resolve(stack.dir) === path.join(ROOT, '.stack')) {
    throw new Error('refusing to stop and start the default stack: point RX_STACK_DIR and the ports at a private one');
  }
  // rxstack leaves a service alone when its URL is in the environment: the engine's variables must not reach it.
  const rxstackEnv: NodeJS.ProcessEnv = { ...e };
  delete rxstackEnv.DATABASE_URL; delete rxstackEnv.TEMPORAL_ADDRESS; delete rxstackEnv.ELASTICSEARCH_URL;
  const rxstack = async (...cmd: string[]) => { await run(path.join(ROOT, 'stack', 'rxstack'), cmd, { env: rxstackEnv, cwd: ROOT }); };
  return {
    db: `postgres://rxflow:rxflow@127.0.0.1:${stack.pg}/rxflow_faults`,
    es: `http://127.0.0.1:${stack.es}`,
    temporal: `127.0.0.1:${stack.temporal}`,
    rxstack,
  };
}

/** An engine process kept alive like a process manager would; an exit nobody asked for is counted. */
class Kept {
  proc: Proc | null = null;
  readonly exits: { at: number; code: number | null; signal: string | null; lastLog: string }[] = [];
  private stopped = false;
  constructor(readonly name: string, private readonly env: Record<string, string>) {}
  async start(): Promise<void> {
    for (;;) {
      try {
        this.proc = await startProcess(this.name, 'engine/main.ts', this.env, ENGINE_READY);
        break;
      } catch (e) {
        // Starting needs PostgreSQL, Elasticsearch and Temporal: while one is down, try again.
        log(`${this.name} could not start (${(e as Error).message.split('\n')[0]}); again in 2 s`);
        if (this.stopped) return;
        await sleep(2000);
      }
    }
    const p = this.proc;
    // The engine's log, kept for finding the cause of any 500 the run reports.
    const file = path.join(ROOT, '.stack', 'faults-logs', `${this.env.RX_TASK_QUEUE}-${this.name}.log`);
    mkdirSync(path.dirname(file), { recursive: true });
    appendFileSync(file, p.log.join(''));
    for (const stream of [p.child.stdout!, p.child.stderr!]) stream.on('data', (b: Buffer) => appendFileSync(file, b));
    p.child.once('exit', (code, signal) => {
      if (this.stopped || this.proc !== p) return;
      this.exits.push({ at: Date.now(), code, signal, lastLog: p.log.slice(-5).join('').slice(-1500) });
      log(`${this.name} exited (${code ?? signal}); restarting. Last log: ${p.log.slice(-3).join('').slice(-600)}`);
      void sleep(1000).then(() => this.start());
    });
  }
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.proc) await stopProcess(this.proc);
  }
}

interface Attempt { i: number; at: number; status: number; retryAfter?: string; code?: string }
interface Window { fault: string; start: number; recovered: number; end: number; inFlightAtStart: string[] }

async function main(): Promise<number> {
  const o = args();
  const stack = privateStack();
  const started = Date.now();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const runId = stamp.replace(/\D/g, '').slice(2, 14);
  const queue = `rxfaults-${runId}`;
  const prefix = 'rxfaults';
  const filesDir = path.join(ROOT, '.stack', 'faults-files', runId);
  const env: Record<string, string> = {
    DATABASE_URL: stack.db, RX_INDEX_PREFIX: prefix, ELASTICSEARCH_URL: stack.es, TEMPORAL_ADDRESS: stack.temporal, RX_TASK_QUEUE: queue,
    RX_MATCH_AT: '10:30', RX_FILES_DIR: filesDir, ...BENCH_FOLLOWUPS,
  };
  Object.assign(process.env, env);
  log(`resetting ${stack.db.replace(/\/\/[^@]*@/, '//')} and ${prefix}-* …`);
  const services = await freshEngineData({ db: stack.db, es: stack.es, prefix });
  const pool = openPool(stack.db, 4);
  // A restarted PostgreSQL ends the pool's idle connections: the pool drops them and opens new ones.
  (pool as unknown as { on(e: string, f: (err: Error) => void): void }).on('error', (err) => log(`bench pool: ${err.message}`));
  const stockBefore = await stockTotals(pool);
  const versions = await serviceVersions(pool, services);
  // The checks at the end read through their own connections, opened after recovery.
  await services.close();

  const api = new Kept('api', { ...env, RX_ROLE: 'api', RX_API_PORT: String(o.apiPort) });
  const worker = new Kept('worker', { ...env, RX_ROLE: 'worker' });
  await api.start();
  await worker.start();
  const apiUrl = `http://127.0.0.1:${o.apiPort}`;
  const watcher = new RxWatcher(pool, 100, 600_000).start();
  const ctx: CarryContext = { parties: benchParties(apiUrl), watcher, retries: { conflicts: 0 }, unavailable: { count: 0, maxWaitMs: 5000 } };
  const hospital = new ApiClient(apiUrl, DEMO.hospital.key);

  const attempts: Attempt[] = [];
  const noAnswer: { at: number; what: string; message: string }[] = [];
  const journeys: (Journey & { i: number; pushedAt: number; endedAt?: number; error?: string })[] = [];
  const scenarios = scenarioMix(100_000, o.seed);
  const inFlight = new Set<Promise<void>>();
  let pushing = true;

  // Calls of the parties after a push: a refused connection (the API restarting) is retried and counted.
  const realCall = ApiClient.prototype.call;
  ApiClient.prototype.call = async function patched(this: ApiClient, method: string, p: string, body?: unknown) {
    for (let k = 0; ; k++) {
      try {
        return await realCall.call(this, method, p, body) as never;
      } catch (e) {
        noAnswer.push({ at: Date.now(), what: `${method} ${p}`, message: String((e as Error).message) });
        if (k > 120) throw e;
        await sleep(1000);
      }
    }
  };

  async function journey(i: number): Promise<void> {
    const rx = benchPrescription(runId, i);
    const pushedAt = Date.now();
    let id: string | null = null;
    for (;;) {
      const r = await hospital.post('/v1/prescriptions', rx);
      attempts.push({ i, at: Date.now(), status: r.status, retryAfter: r.retryAfter, code: r.body?.error?.code });
      if (r.status === 201 || r.status === 200) { id = r.body.prescription.id; break; }
      if (r.status === 503) { await sleep(1000 * Math.min(Number(r.retryAfter ?? 1), 5)); continue; }
      // Anything else is a finding (counted above); the hospital would try again later.
      await sleep(2000);
    }
    const j = { id: id!, scenario: scenarios[i], i, pushedAt } as (typeof journeys)[number];
    journeys.push(j);
    try {
      await playScenario(ctx, j.id, rx, j.scenario);
      j.endedAt = Date.now();
    } catch (e) {
      j.error = String((e as Error).message).slice(0, 300);
    }
  }

  const pusher = (async () => {
    for (let i = 0; pushing; i++) {
      const p: Promise<void> = journey(i).finally(() => inFlight.delete(p));
      inFlight.add(p);
      await sleep(1000 / o.rate);
    }
  })();

  const windows: Window[] = [];
  const inFlightIds = () => journeys.filter((j) => j.endedAt === undefined && !j.error).map((j) => j.id);
  try {
    log(`load at ${o.rate}/s; warm-up ${o.warmupS} s`);
    await sleep(o.warmupS * 1000);
    for (const fault of o.faults) {
      const w: Window = { fault, start: Date.now(), recovered: 0, end: 0, inFlightAtStart: inFlightIds() };
      windows.push(w);
      if (fault === 'pg') {
        log('fault: PostgreSQL restart (pg_ctl stop -m fast, start)');
        await stack.rxstack('down', 'pg');
        await stack.rxstack('up', 'pg');
      } else if (fault === 'es') {
        log(`fault: Elasticsearch stopped for ${o.esDownS} s`);
        await stack.rxstack('down', 'es');
        await sleep(o.esDownS * 1000);
        await stack.rxstack('up', 'es');
      } else {
        log('fault: Temporal dev server restart (its SQLite file keeps the state)');
        await stack.rxstack('down', 'temporal');
        await stack.rxstack('up', 'temporal');
      }
      w.recovered = Date.now();
      log(`  ${fault} back after ${Math.round((w.recovered - w.start) / 1000)} s; ${w.inFlightAtStart.length} journeys were in flight; settling ${o.settleS} s`);
      await sleep(o.settleS * 1000);
      w.end = Date.now();
    }
  } finally {
    pushing = false;
    await pusher;
  }
  log(`pushing stopped (${journeys.length + inFlight.size} journeys started); draining ${inFlight.size} in flight …`);
  const drainDeadline = Date.now() + 15 * 60_000;
  while (inFlight.size && Date.now() < drainDeadline) await sleep(1000);
  watcher.stop();

  // The end-of-run checks, with fresh connections.
  const checkServices = await openServices(loadConfig());
  const all: Journey[] = journeys.map((j) => ({ id: j.id, scenario: j.scenario }));
  await awaitWorkflows(checkServices.temporal, all.map((j) => j.id), 180_000);
  const checked = await checkRun(pool, checkServices.temporal, checkServices.orm, all, { globalChain: true });
  const stock = await checkStock(pool, stockBefore, all);

  const violations: string[] = [];
  for (const a of attempts) {
    if (a.status === 503 && !a.retryAfter) violations.push(`push ${a.i}: 503 without Retry-After`);
    else if (a.status >= 500 && a.status !== 503) violations.push(`push ${a.i}: HTTP ${a.status} ${a.code ?? ''}`);
    else if (a.status >= 400 && a.status < 500) violations.push(`push ${a.i}: HTTP ${a.status} ${a.code ?? ''}`);
  }
  for (const n of noAnswer) violations.push(`no answer: ${n.what} at +${Math.round((n.at - started) / 1000)} s: ${n.message}`);
  for (const j of journeys) if (j.error) violations.push(`journey ${j.i} (${j.scenario}) ${j.id}: ${j.error}`);
  if (inFlight.size) violations.push(`${inFlight.size} journeys still in flight after the drain`);
  for (const k of [api, worker]) for (const x of k.exits) violations.push(`${k.name} process exited (${x.code ?? x.signal}): ${x.lastLog.replace(/\s+/g, ' ').slice(-400)}`);
  violations.push(...checked.violations, ...stock.violations);
  await api.stop();
  await worker.stop();

  // The table per fault: what the pushes during the fault and its settling heard, and what became of
  // the journeys that were in flight when it struck.
  const rows = windows.map((w) => {
    const inW = attempts.filter((a) => a.at >= w.start && a.at <= w.end);
    const refusedIs = new Set(inW.filter((a) => a.status === 503).map((a) => a.i));
    const laterOk = [...refusedIs].filter((i) => attempts.some((a) => a.i === i && (a.status === 200 || a.status === 201)));
    const endState = new Map(journeys.map((j) => [j.id, j]));
    const flightDone = w.inFlightAtStart.filter((id) => endState.get(id)?.endedAt !== undefined);
    const firstOk = inW.filter((a) => a.at >= w.start && (a.status === 201 || a.status === 200)).map((a) => a.at).sort((x, y) => x - y);
    return {
      fault: w.fault, downS: Math.round((w.recovered - w.start) / 1000),
      pushes: inW.length, accepted: inW.filter((a) => a.status === 201 || a.status === 200).length,
      refused503: inW.filter((a) => a.status === 503 && a.retryAfter).length,
      refusedThenAccepted: `${laterOk.length}/${refusedIs.size}`,
      other: inW.filter((a) => a.status !== 503 && (a.status < 200 || a.status >= 300)).length,
      noAnswer: noAnswer.filter((n) => n.at >= w.start && n.at <= w.end).length,
      inFlightCompleted: `${flightDone.length}/${w.inFlightAtStart.length}`,
      firstAcceptS: firstOk.length ? Math.round((firstOk[0] - w.start) / 100) / 10 : null,
    };
  });
  const pad = (s: unknown, n: number) => String(s).padStart(n);
  const durationS = Math.round((Date.now() - started) / 1000);
  console.log(`\nDependency faults: ${journeys.length} journeys pushed at ${o.rate}/s, total ${durationS} s`);
  console.log(`${'fault'.padEnd(9)} ${pad('down s', 6)} ${pad('pushes', 6)} ${pad('2xx', 5)} ${pad('503+RA', 6)} ${pad('503→ok', 7)} ${pad('other', 5)} ${pad('no ans', 6)} ${pad('in flight→done', 14)}`);
  for (const r of rows) console.log(`${r.fault.padEnd(9)} ${pad(r.downS, 6)} ${pad(r.pushes, 6)} ${pad(r.accepted, 5)} ${pad(r.refused503, 6)} ${pad(r.refusedThenAccepted, 7)} ${pad(r.other, 5)} ${pad(r.noAnswer, 6)} ${pad(r.inFlightCompleted, 14)}`);
  const counts = { ...checked.counts, ...stock.counts, push_attempts: attempts.length, conflict_retries: ctx.retries.conflicts, unavailable_retries: ctx.unavailable!.count, no_answer: noAnswer.length };
  for (const [k, val] of Object.entries(counts)) console.log(`  ${k.padEnd(32)} ${val}`);
  console.log(violations.length ? `\nVIOLATIONS (${violations.length}):\n${violations.slice(0, 60).map((x) => `  ${x}`).join('\n')}` : '\nno violations');
  mkdirSync(o.out, { recursive: true });
  const file = path.join(o.out, `faults-${stamp}.json`);
  writeFileSync(file, JSON.stringify({
    options: o, date: new Date(started).toISOString(), durationS,
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memGiB: Math.round(os.totalmem() / 2 ** 30), kernel: os.release(), loadavg: os.loadavg() },
    versions, rows, counts, violations, attempts, noAnswer,
  }, null, 2));
  console.log(`Results: ${path.relative(process.cwd(), file)}`);
  await checkServices.temporal.workflow.getHandle(`rxflow-reservation-sweeper-${queue}`).terminate('faults run finished').catch(() => {});
  await checkServices.temporal.workflow.getHandle(`rxflow-webhook-drainer-${queue}`).terminate('faults run finished').catch(() => {});
  await checkServices.temporal.workflow.getHandle(`rxflow-workflow-healer-${queue}`).terminate('faults run finished').catch(() => {});
  await checkServices.close();
  await pool.end();
  rmSync(filesDir, { recursive: true, force: true });
  return violations.length ? 1 : 0;
}

main().then((code) => process.exit(code), (e) => { console.error(e); process.exit(2); });
