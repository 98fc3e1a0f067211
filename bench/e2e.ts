// The end-to-end benchmark (issue 7): prescriptions carried from push to `completed` by simulated parties
// over the HTTP API, against the orchestration's own ceiling — workflows/bench-ceiling.ts, the same
// activities, updates and timers doing nothing — measured in the same run, with 1, 2, 4… worker processes.
// A benchmark, not a test: nothing asserts.
//
//   node --import tsx bench/e2e.ts [--db postgres://rxflow:rxflow@127.0.0.1:55432/rxflow_e2e] [--prefix rxe2e]
//        [--workers 1,2,4] [--concurrency 32] [--rate <per s>] [--duration 30] [--warmup 5] [--runs 1]
//        [--tuning 'default;<name>:RX_WORKER_MAX_WORKFLOW_TASKS=40,RX_WORKER_MAX_ACTIVITIES=100'] [--ceiling-local]
//        [--keep] [--out .stack/bench-results]
//
// A tuning is a name and RX_* variables for the API and the workers, e.g. 'local:RX_LOCAL_ACTIVITIES=1'.
//
// What it does: resets the benchmark database and indices (unless --keep) and seeds the demo catalogue with
// its stock topped up; then per tuning starts the API (RX_ROLE=api) and for each worker count and run, in
// this order: N engine workers (RX_ROLE=worker) + rxflow load, then N ceiling workers + the same load on the
// ceiling (and with --ceiling-local the ceiling again with local activities). Each phase: start-up timed
// (command → ready line), idle memory, a warm-up, the measured load, peak memory, a drain. Prints the
// table (medians over runs; ratio rxflow ÷ ceiling taken within each run, then the median) and writes
// everything to <out>/e2e-<timestamp>.json.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client as TemporalClient, Connection } from '@temporalio/client';
import { loadConfig, loadTimings } from '../engine/config';
import { openServices } from '../engine/runtime';
import { seedAll } from '../engine/seed';
import { openPool } from './postgis-baseline';
import { resetEngineData } from './lib/reliability';
import {
  BENCH_FOLLOWUPS, ROOT, RxWatcher, benchParties, benchPrescription, carryCeiling, carryPrescription, ceilingTimings, closedLoop, fixedRate,
  cpuMs, historyShape, servicesCpuMs, journeyTimes, median, rssMiB, rssSampler, startProcess, stopProcess, summarise, ENGINE_READY, apiUrlOf, type CarryContext, type LoadResult, type Proc,
} from './lib/e2e';
import { cliArgs } from './lib/args';

function args() {
  const { get, has } = cliArgs();
  const tuning = get('tuning', 'default').split(';').filter(Boolean).map((t) => {
    const [name, vars = ''] = t.includes(':') ? [t.slice(0, t.indexOf(':')), t.slice(t.indexOf(':') + 1)] : [t, ''];
    return { name, env: Object.fromEntries(vars.split(',').filter(Boolean).map((kv) => kv.split('=') as [string, string])) };
  });
  return {
    // The stack's own PostgreSQL (stack/rxstack env), a database of the benchmark's own.
    db: get('db', process.env.DATABASE_URL ? `${process.env.DATABASE_URL.replace(/\/[^/]*$/, '')}/rxflow_e2e` : 'postgres://rxflow:rxflow@127.0.0.1:55432/rxflow_e2e'),
    prefix: get('prefix', 'rxe2e'),
    es: get('es', process.env.ELASTICSEARCH_URL ?? 'http://127.0.0.1:19200'),
    temporal: get('temporal', process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:17233'),
    workers: get('workers', '1,2,4').split(',').map(Number),
    concurrency: Number(get('concurrency', '32')),
    rate: has('rate') ? Number(get('rate', '0')) : null,
    duration: Number(get('duration', '30')),
    warmup: Number(get('warmup', '5')),
    runs: Number(get('runs', '1')),
    tuning,
    ceilingLocal: has('ceiling-local'),
    keep: has('keep'),
    tick: Number(get('tick', '20')),
    out: get('out', path.join(ROOT, '.stack', 'bench-results')),
  };
}

const log = (s: string) => console.error(`[e2e ${new Date().toISOString().slice(11, 19)}] ${s}`);

interface PhaseRow {
  engine: 'rxflow' | 'ceiling' | 'ceiling-local';
  tuning: string; workers: number; run: number; mode: string;
  completed: number; perSecond: number; errors: number; firstErrors: string[];
  pushMs?: ReturnType<typeof summarise>;
  toMatchedMs: ReturnType<typeof summarise>;
  toCompletedMs: ReturnType<typeof summarise>;
  conflictRetries?: number;
  startupMs: number[]; rssIdleMiB: number[]; rssPeakMiB: number[]; apiRssPeakMiB?: number;
  perPrescription?: Record<string, number>;
  cpuPerJourneyMs: Record<string, number>;
  loadavg: number[];
}

async function main() {
  const o = args();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const runId = stamp.replace(/\D/g, '').slice(2, 14);
  const queue = `rxe2e-${runId}`;
  const ceilingQueue = `rxe2e-ceiling-${runId}`;
  const filesDir = path.join(ROOT, '.stack', 'bench-e2e-files', runId);
  Object.assign(process.env, {
    DATABASE_URL: o.db, RX_INDEX_PREFIX: o.prefix, ELASTICSEARCH_URL: o.es, TEMPORAL_ADDRESS: o.temporal, RX_TASK_QUEUE: queue,
    RX_MATCH_AT: '10:30', RX_FILES_DIR: filesDir, ...BENCH_FOLLOWUPS,
  });
  const config = loadConfig();
  const timings = loadTimings();
  // Whose services' CPU is counted per journey (pid files of stack/rxstack): meaningful on a private stack only.
  const stackDir = process.env.RX_STACK_DIR ?? path.join(ROOT, '.stack');
  const baseEnv: Record<string, string> = {
    DATABASE_URL: o.db, RX_INDEX_PREFIX: o.prefix, ELASTICSEARCH_URL: o.es, TEMPORAL_ADDRESS: o.temporal, RX_TASK_QUEUE: queue,
    RX_MATCH_AT: '10:30', RX_FILES_DIR: filesDir, ...BENCH_FOLLOWUPS,
  };

  // ---- the database and indices, from nothing, with the demo catalogue and its shelves topped up
  if (!o.keep) {
    log(`resetting ${o.db.replace(/\/\/[^@]*@/, '//')} and ${o.prefix}-* …`);
    await resetEngineData(o);
  }
  const services = await openServices(config);
  if (!o.keep) await seedAll(services);
  const pool = openPool(o.db, 4);
  // Stock never runs out during a run (the benchmark measures carrying, not selling out).
  await pool.query(`update stock set on_hand = 1000000 where on_hand < 1000000`);
  const temporal: TemporalClient = services.temporal;
  const env = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memGiB: Math.round(os.totalmem() / 2 ** 30), kernel: os.release(), loadavgBefore: os.loadavg() },
    node: process.version,
    postgres: (await pool.query<{ v: string }>('select version() v')).rows[0].v,
    elasticsearch: (Object.values((await services.es.nodes.info({ metric: 'jvm' })).nodes)[0] as { version?: string }).version,
    temporal: (await temporal.workflowService.getSystemInfo({})).serverVersion,
    timings: { ...timings },
  };

  // ---- the API, once per tuning (RX_LOCAL_ACTIVITIES is read where workflows are started)
  let api!: Proc;
  let apiUrl = '';
  const apiStarts: { tuning: string; startupMs: number; rssIdleMiB: number; rssEndMiB?: number }[] = [];
  async function startApi(tuning: { name: string; env: Record<string, string> }) {
    log(`starting the API (RX_ROLE=api, tuning ${tuning.name}) …`);
    api = await startProcess('api', 'engine/main.ts', { ...baseEnv, ...tuning.env, RX_ROLE: 'api', RX_API_PORT: '0' }, ENGINE_READY);
    apiUrl = apiUrlOf(api.ready);
    await new Promise((r) => setTimeout(r, 2000));
    apiStarts.push({ tuning: tuning.name, startupMs: api.readyMs, rssIdleMiB: rssMiB(api.child.pid) });
    log(`API ${apiUrl} ready in ${api.readyMs} ms, ${apiStarts.at(-1)!.rssIdleMiB} MiB`);
  }
  async function stopApi() {
    if (!api || api.child.exitCode !== null || api.child.signalCode !== null) return;
    apiStarts.at(-1)!.rssEndMiB = rssMiB(api.child.pid);
    await stopProcess(api);
  }

  const watcher = new RxWatcher(pool, o.tick).start();
  const rows: PhaseRow[] = [];
  const shapes: Record<string, Record<string, number>> = {};
  let seq = 0;

  async function footprint(): Promise<Record<string, number>> {
    const pg = (await pool.query<Record<string, string>>(
      `select xact_commit, tup_inserted, tup_updated, tup_deleted, tup_fetched from pg_stat_database where datname = current_database()`)).rows[0];
    const es = (await services.es.indices.stats({ index: `${o.prefix}-*`, metric: ['indexing', 'search'] }))._all.total;
    return {
      // Less the benchmark's own reads (one per watcher tick), so what is left is the engine's.
      pgTransactions: Number(pg.xact_commit) - watcher.ticks, pgRowsInserted: Number(pg.tup_inserted), pgRowsUpdated: Number(pg.tup_updated), pgRowsDeleted: Number(pg.tup_deleted),
      esSearches: es?.search?.query_total ?? 0, esDocsIndexed: es?.indexing?.index_total ?? 0,
    };
  }
  const perPrescription = (a: Record<string, number>, b: Record<string, number>, n: number) =>
    Object.fromEntries(Object.keys(a).map((k) => [k, n ? Math.round(((b[k] - a[k]) / n) * 10) / 10 : NaN]));

  // Closed loop: every lane is busy all the time, so by Little's law throughput = lanes ÷ mean journey time
  // (all journeys started in the window). Counting completions in the window instead is quantised when a
  // journey takes a large part of it: 16 lanes × 13 s journeys in 20 s give 16 or 32, i.e. 0.8 or 1.6/s.
  // Open loop (--rate): completions in the window.
  const throughput = (done: { pushAt: number; doneAt: number }[], inWindow: number) => {
    const mean = done.reduce((s, d) => s + (d.doneAt - d.pushAt), 0) / (done.length || NaN);
    return Math.round((o.rate ? inWindow / o.duration : o.concurrency / (mean / 1000)) * 100) / 100;
  };

  async function phase(engine: PhaseRow['engine'], tuning: { name: string; env: Record<string, string> }, n: number, run: number): Promise<PhaseRow> {
    const script = engine === 'rxflow' ? 'engine/main.ts' : 'bench/lib/ceiling-worker.ts';
    const pattern = engine === 'rxflow' ? ENGINE_READY : /\[ceiling\] ready/;
    const workers: Proc[] = [];
    for (let w = 0; w < n; w++) {
      workers.push(await startProcess(`${engine}-worker-${w}`, script, { ...baseEnv, ...tuning.env, RX_ROLE: 'worker', RX_TASK_QUEUE: engine === 'rxflow' ? queue : ceilingQueue }, pattern));
    }
    await new Promise((r) => setTimeout(r, 2000));
    const rssIdleMiB = workers.map((w) => rssMiB(w.child.pid));
    const ctx: CarryContext = { parties: benchParties(apiUrl), watcher, retries: { conflicts: 0 } };
    type Done = { id: string; pushAt: number; doneAt: number; matchedAt?: number; pushedMs?: number };
    const journey: (i: number) => Promise<Done> = engine === 'rxflow'
      ? (i: number) => carryPrescription(ctx, benchPrescription(runId, seq * 1_000_000 + i))
      : (i: number) => carryCeiling(temporal, ceilingQueue, `ceiling-${runId}-${seq}-${i}`, ceilingTimings(timings), engine === 'ceiling-local');
    const load = <T>(seconds: number, j: (i: number) => Promise<T>): Promise<LoadResult<T>> =>
      o.rate ? fixedRate(o.rate, seconds, o.concurrency * 4, j) : closedLoop(o.concurrency, seconds, j);
    log(`${engine} · ${tuning.name} · ${n} worker(s) · run ${run}: warm-up ${o.warmup} s`);
    seq++;
    if (o.warmup > 0) await load(o.warmup, journey);
    seq++;
    ctx.retries.conflicts = 0;
    const loadavg = os.loadavg();
    const before = engine === 'rxflow' ? await footprint() : null;
    const sampler = rssSampler([...workers, api]);
    const cpu0 = { workers: workers.reduce((x, w) => x + cpuMs(w.child.pid), 0), api: cpuMs(api.child.pid), bench: process.cpuUsage(), services: servicesCpuMs(stackDir) };
    log(`${engine} · ${tuning.name} · ${n} worker(s) · run ${run}: measuring ${o.duration} s ${o.rate ? `at ${o.rate}/s` : `at concurrency ${o.concurrency}`}`);
    const res = await load(o.duration, journey);
    const peak = sampler.stop();
    const journeys = res.done.length + res.errors;
    const benchCpu = process.cpuUsage(cpu0.bench);
    // CPU per journey in each kind of process: the measure least disturbed by a shared machine.
    const cpuPerJourneyMs = {
      workers: Math.round((workers.reduce((x, w) => x + cpuMs(w.child.pid), 0) - cpu0.workers) / journeys),
      ...(engine === 'rxflow' ? { api: Math.round((cpuMs(api.child.pid) - cpu0.api) / journeys) } : {}),
      benchClient: Math.round((benchCpu.user + benchCpu.system) / 1000 / journeys),
      ...Object.fromEntries(Object.entries(servicesCpuMs(stackDir)).filter(([k, v]) => v !== null && cpu0.services[k as keyof typeof cpu0.services] !== null)
        .map(([k, v]) => [k, Math.round((v! - cpu0.services[k as keyof typeof cpu0.services]!) / journeys)])),
    };
    // What one prescription costs the services: PostgreSQL transactions and rows, Elasticsearch searches and re-indexings.
    const perRx = before ? perPrescription(before, await footprint(), res.done.length + res.errors) : undefined;
    const inWindow = res.done.filter((d) => d.doneAt <= res.endedAt);
    let toMatched: number[];
    if (engine === 'rxflow') {
      const times = await journeyTimes(pool, res.done.map((d) => d.id));
      toMatched = res.done.map((d) => (times.get(d.id)?.matchedAt ?? NaN) - d.pushAt);
      if (!shapes.rxflow && res.done.length) shapes.rxflow = await historyShape(temporal, `rx-${res.done[0].id}`);
    } else {
      toMatched = res.done.map((d) => d.matchedAt! - d.pushAt);
      if (!shapes[engine] && res.done.length) shapes[engine] = await historyShape(temporal, res.done[0].id);
    }
    for (const w of workers) await stopProcess(w);
    const row: PhaseRow = {
      engine, tuning: tuning.name, workers: n, run, mode: o.rate ? `rate ${o.rate}/s` : `closed, concurrency ${o.concurrency}`,
      completed: inWindow.length, perSecond: throughput(res.done, inWindow.length), errors: res.errors, firstErrors: res.firstErrors,
      ...(engine === 'rxflow' ? { pushMs: summarise(res.done.map((d) => d.pushedMs!)), conflictRetries: ctx.retries.conflicts } : {}),
      toMatchedMs: summarise(toMatched),
      toCompletedMs: summarise(res.done.map((d) => d.doneAt - d.pushAt)),
      startupMs: workers.map((w) => w.readyMs), rssIdleMiB, rssPeakMiB: workers.map((w) => peak[w.name]),
      ...(engine === 'rxflow' ? { apiRssPeakMiB: peak.api, perPrescription: perRx } : {}),
      cpuPerJourneyMs,
      loadavg,
    };
    log(`  → ${row.perSecond}/s (${row.completed} in window, ${row.errors} errors), matched p50 ${row.toMatchedMs.p50} ms, completed p50 ${row.toCompletedMs.p50} p99 ${row.toCompletedMs.p99} ms${row.firstErrors.length ? `; first error: ${row.firstErrors[0]}` : ''}`);
    return row;
  }

  try {
    for (const tuning of o.tuning) {
      await startApi(tuning);
      for (const n of o.workers) {
        for (let run = 1; run <= o.runs; run++) {
          rows.push(await phase('rxflow', tuning, n, run));
          rows.push(await phase('ceiling', tuning, n, run));
          if (o.ceilingLocal) rows.push(await phase('ceiling-local', tuning, n, run));
        }
      }
      await stopApi();
    }
  } finally {
    watcher.stop();
    // The engine's reservation sweeper runs forever on its task queue: end it with the benchmark.
    await temporal.workflow.getHandle(`rxflow-reservation-sweeper-${queue}`).terminate('benchmark finished').catch(() => {});
    await temporal.workflow.getHandle(`rxflow-workflow-healer-${queue}`).terminate('benchmark finished').catch(() => {});
    await stopApi();
    await pool.end();
    await services.close();
    rmSync(filesDir, { recursive: true, force: true });
  }

  // ---- the table: medians over runs; the ratio within each run, then its median
  const groups = new Map<string, PhaseRow[]>();
  for (const r of rows) groups.set(`${r.tuning}|${r.workers}|${r.engine}`, [...(groups.get(`${r.tuning}|${r.workers}|${r.engine}`) ?? []), r]);
  const summary = [...groups.values()].map((g) => {
    const r0 = g[0];
    const ratiosTo = (ceiling: PhaseRow['engine']) => r0.engine === 'rxflow'
      ? g.map((r) => r.perSecond / (rows.find((c) => c.engine === ceiling && c.tuning === r.tuning && c.workers === r.workers && c.run === r.run)?.perSecond ?? NaN)).filter(Number.isFinite) : [];
    // CPU-bound capacity: everything the engine and its services spend per journey (not the simulated
    // parties' client), the ceiling's total ÷ rxflow's, within each run. What the throughput ratio becomes
    // at saturation, whatever the timers' floor on a journey's time.
    const engineCpu = (r: PhaseRow) => Object.entries(r.cpuPerJourneyMs).filter(([k]) => k !== 'benchClient').reduce((x, [, v]) => x + v, 0);
    const capacityTo = (ceiling: PhaseRow['engine']) => r0.engine === 'rxflow'
      ? g.map((r) => { const c = rows.find((x) => x.engine === ceiling && x.tuning === r.tuning && x.workers === r.workers && x.run === r.run); return c ? engineCpu(c) / engineCpu(r) : NaN; }).filter(Number.isFinite) : [];
    const ratios = ratiosTo('ceiling');
    const ratiosLocal = ratiosTo('ceiling-local');
    return {
      engine: r0.engine, tuning: r0.tuning, workers: r0.workers, runs: g.length,
      perSecond: median(g.map((r) => r.perSecond)), errors: g.reduce((s, r) => s + r.errors, 0),
      matchedP50: median(g.map((r) => r.toMatchedMs.p50)), matchedP99: median(g.map((r) => r.toMatchedMs.p99)),
      completedP50: median(g.map((r) => r.toCompletedMs.p50)), completedP99: median(g.map((r) => r.toCompletedMs.p99)),
      ratioToCeiling: ratios.length ? Math.round(median(ratios) * 100) / 100 : null,
      ratioToCeilingLocal: ratiosLocal.length ? Math.round(median(ratiosLocal) * 100) / 100 : null,
      cpuCapacityRatio: capacityTo('ceiling').length ? Math.round(median(capacityTo('ceiling')) * 100) / 100 : null,
      cpuCapacityRatioLocal: capacityTo('ceiling-local').length ? Math.round(median(capacityTo('ceiling-local')) * 100) / 100 : null,
      startupMs: median(g.flatMap((r) => r.startupMs)), rssIdleMiB: median(g.flatMap((r) => r.rssIdleMiB)), rssPeakMiB: median(g.flatMap((r) => r.rssPeakMiB)),
      apiRssPeakMiB: r0.engine === 'rxflow' ? median(g.map((r) => r.apiRssPeakMiB ?? NaN)) : null,
      cpuPerJourneyMs: Object.fromEntries(Object.keys(r0.cpuPerJourneyMs).map((k) => [k, median(g.map((r) => r.cpuPerJourneyMs[k]))])),
      perPrescription: r0.perPrescription ? Object.fromEntries(Object.keys(r0.perPrescription).map((k) => [k, median(g.map((r) => r.perPrescription![k]))])) : null,
    };
  });
  const pad = (s: unknown, n: number) => String(s).padStart(n);
  console.log(`\nrxflow end to end vs. the orchestration ceiling — ${rows[0]?.mode ?? ''}, ${o.duration} s measured after ${o.warmup} s warm-up, median of ${o.runs} run(s)`);
  console.log(`${'tuning'.padEnd(12)} ${'engine'.padEnd(14)} ${pad('workers', 7)} ${pad('rx/s', 7)} ${pad('ratio', 6)} ${pad('/local', 6)} ${pad('match p50', 9)} ${pad('p99', 6)} ${pad('done p50', 9)} ${pad('p99', 6)} ${pad('errors', 6)} ${pad('start ms', 8)} ${pad('RSS idle', 8)} ${pad('peak', 6)} ${pad('API peak', 8)}`);
  for (const s of summary) {
    console.log(`${s.tuning.padEnd(12)} ${s.engine.padEnd(14)} ${pad(s.workers, 7)} ${pad(s.perSecond, 7)} ${pad(s.ratioToCeiling ?? '', 6)} ${pad(s.ratioToCeilingLocal ?? '', 6)} ${pad(s.matchedP50, 9)} ${pad(s.matchedP99, 6)} ${pad(s.completedP50, 9)} ${pad(s.completedP99, 6)} ${pad(s.errors, 6)} ${pad(s.startupMs, 8)} ${pad(s.rssIdleMiB, 8)} ${pad(s.rssPeakMiB, 6)} ${pad(s.apiRssPeakMiB ?? '', 8)}`);
  }
  console.log(`API: ${apiStarts.map((a) => `${a.tuning}: start-up ${a.startupMs} ms, RSS idle ${a.rssIdleMiB} MiB, at the end ${a.rssEndMiB} MiB`).join(' · ')}`);
  console.log(`CPU capacity ratio (ceiling's engine + services CPU per journey ÷ rxflow's): ${summary.filter((s) => s.cpuCapacityRatio !== null).map((s) => `${s.tuning}×${s.workers} ${s.cpuCapacityRatio} of the ceiling, ${s.cpuCapacityRatioLocal ?? '–'} of the local one`).join(' · ')}`);
  console.log(`CPU ms per journey (median over runs): ${summary.map((s) => `${s.engine}×${s.workers} ${Object.entries(s.cpuPerJourneyMs).map(([k, v]) => `${k} ${v}`).join('/')}`).join(' · ')}`);
  const cost = summary.find((s) => s.perPrescription)?.perPrescription;
  if (cost) console.log(`Per prescription (rxflow; the benchmark's watcher reads subtracted): ${Object.entries(cost).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  console.log(`History per workflow (one sample each): ${Object.entries(shapes).map(([k, v]) => `${k} ${JSON.stringify(v)}`).join(' · ')}`);
  const loadavgAfter = os.loadavg();
  console.log(`Load average before ${env.machine.loadavgBefore.map((x) => x.toFixed(2)).join(' ')}, after ${loadavgAfter.map((x) => x.toFixed(2)).join(' ')}`);

  mkdirSync(o.out, { recursive: true });
  const file = path.join(o.out, `e2e-${stamp}.json`);
  writeFileSync(file, JSON.stringify({ options: { ...o, db: o.db.replace(/\/\/[^@]*@/, '//') }, env: { ...env, loadavgAfter }, api: apiStarts, shapes, summary, rows }, null, 2));
  console.log(`Results: ${path.relative(process.cwd(), file)}`);
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
