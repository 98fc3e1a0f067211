// Crash safety (issue 6, docs/reliability.md): N prescriptions through the whole pipeline — simulated
// pharmacists, pharmacies and couriers over the HTTP API, with rejections, declines and cancellations
// among them — while a supervisor SIGKILLs the worker process at seeded random moments and starts a new
// one. At the end it checks PostgreSQL and Temporal (bench/lib/reliability.ts checkRun): every
// prescription in its expected end state, nothing done twice, the audit chain intact; prints the counts
// and exits 1 on any violation.
//
// Run it against a PRIVATE stack (it resets its database and indices), e.g.:
//   RX_STACK_DIR=/work/wt/faults-stack RX_PG_PORT=56432 RX_TEMPORAL_PORT=17333 RX_TEMPORAL_UI_PORT=18333 \
//     RX_ES_PORT=19400 RX_ES_TRANSPORT_PORT=19500 stack/rxstack up
//   node --import tsx bench/crash.ts --db postgres://rxflow:rxflow@127.0.0.1:56432/rxflow_crash \
//     --es http://127.0.0.1:19400 --temporal 127.0.0.1:17333 [-n 500] [--kills 20] [--seed 42]
//     [--kill-min 4] [--kill-max 16] [--max-kills K] [--concurrency 40] [--out .stack/bench-results]
import { appendFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openPool } from './postgis-baseline';
import { BENCH_FOLLOWUPS, ENGINE_READY, ROOT, RxWatcher, apiUrlOf, benchParties, benchPrescription, startProcess, stopProcess, type CarryContext, type Proc } from './lib/e2e';
import { WorkerSupervisor, awaitWorkflows, freshEngineData, serviceVersions, checkRun, checkStock, playScenario, pushDurably, runAll, scenarioMix, stockTotals, type Journey } from './lib/reliability';
import { cliArgs } from './lib/args';

function args() {
  const { get, has } = cliArgs();
  return {
    db: get('db', 'postgres://rxflow:rxflow@127.0.0.1:56432/rxflow_crash'),
    es: get('es', 'http://127.0.0.1:19400'),
    temporal: get('temporal', '127.0.0.1:17333'),
    prefix: get('prefix', 'rxcrash'),
    n: Number(get('n', '500')),
    kills: Number(get('kills', '20')),
    // After this many kills the last worker is left alone and the run drains on it (default: kill until the end).
    maxKills: has('max-kills') ? Number(get('max-kills', '0')) : undefined,
    seed: Number(get('seed', '42')),
    killMinMs: Number(get('kill-min', '4')) * 1000,
    killMaxMs: Number(get('kill-max', '16')) * 1000,
    concurrency: Number(get('concurrency', '40')),
    out: get('out', path.join(ROOT, '.stack', 'bench-results')),
  };
}

const log = (s: string) => console.error(`[crash ${new Date().toISOString().slice(11, 19)}] ${s}`);

async function main(): Promise<number> {
  const o = args();
  const started = Date.now();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const runId = stamp.replace(/\D/g, '').slice(2, 14);
  const queue = `rxcrash-${runId}`;
  const filesDir = path.join(ROOT, '.stack', 'crash-files', runId);
  const env: Record<string, string> = {
    DATABASE_URL: o.db, RX_INDEX_PREFIX: o.prefix, ELASTICSEARCH_URL: o.es, TEMPORAL_ADDRESS: o.temporal, RX_TASK_QUEUE: queue,
    RX_MATCH_AT: '10:30', RX_FILES_DIR: filesDir, ...BENCH_FOLLOWUPS,
    // Human and partner waits stay long (their defaults): an outcome must not depend on how long a worker was down.
    // The workflow healer looks every 15 s at prescriptions standing still for 30 s, so a workflow stuck on a
    // nondeterminism error after a kill (docs/reliability.md) is reset within the run, not ten minutes later.
    RX_HEAL_INTERVAL_MS: '15000', RX_HEAL_STALE_MS: '30000',
  };
  Object.assign(process.env, env);

  log(`resetting ${o.db.replace(/\/\/[^@]*@/, '//')} and ${o.prefix}-* …`);
  const services = await freshEngineData(o);
  const pool = openPool(o.db, 4);
  const stockBefore = await stockTotals(pool);
  const versions = await serviceVersions(pool, services);

  let api: Proc | null = null;
  const supervisor = new WorkerSupervisor(env, { seed: o.seed, minMs: o.killMinMs, maxMs: o.killMaxMs, maxKills: o.maxKills, log });
  const watcher = new RxWatcher(pool, 100, 600_000).start();
  let exitCode = 1;
  try {
    api = await startProcess('api', 'engine/main.ts', { ...env, RX_ROLE: 'api', RX_API_PORT: '0' }, ENGINE_READY);
    const apiUrl = apiUrlOf(api.ready);
    // The API's log, kept for finding the cause of any 500 the parties hear.
    const apiLog = path.join(ROOT, '.stack', 'crash-logs', `${queue}-api.log`);
    mkdirSync(path.dirname(apiLog), { recursive: true });
    appendFileSync(apiLog, api.log.join(''));
    for (const stream of [api.child.stdout!, api.child.stderr!]) stream.on('data', (b: Buffer) => appendFileSync(apiLog, b));
    log(`API ${apiUrl}; starting the worker and the supervisor (kill ${o.killMinMs / 1000}–${o.killMaxMs / 1000} s after ready, seed ${o.seed})`);
    await supervisor.start();

    const scenarios = scenarioMix(o.n, o.seed);
    const ctx: CarryContext = { parties: benchParties(apiUrl), watcher, retries: { conflicts: 0 }, unavailable: { count: 0, maxWaitMs: 5000 } };
    const journeys: Journey[] = [];
    let finished = 0;
    const t0 = Date.now();
    const run = await runAll(o.n, o.concurrency, async (i) => {
      const rx = benchPrescription(runId, i);
      const pushed = await pushDurably(ctx, rx);
      journeys.push({ id: pushed.id, scenario: scenarios[i] });
      await playScenario(ctx, pushed.id, rx, scenarios[i]);
      if (++finished % 50 === 0) log(`${finished}/${o.n} journeys ended; ${supervisor.kills.length} kills so far`);
    });
    const loadMs = Date.now() - t0;
    await supervisor.stop();
    log(`journeys: ${run.done.length} ended as played, ${run.errors.length} failed; ${supervisor.kills.length} kills in ${Math.round(loadMs / 1000)} s`);
    for (const e of run.errors.slice(0, 10)) log(`  journey ${e.i} (${scenarios[e.i]}): ${e.message}`);

    await awaitWorkflows(services.temporal, journeys.map((j) => j.id), 120_000);
    const checked = await checkRun(pool, services.temporal, services.orm, journeys, { globalChain: true });
    const stock = await checkStock(pool, stockBefore, journeys);
    const violations = [
      ...run.errors.map((e) => `journey ${e.i} (${scenarios[e.i]}): ${e.message}`),
      ...(supervisor.kills.length < o.kills ? [`only ${supervisor.kills.length} kills, ${o.kills} wanted (raise -n or lower --kill-max)`] : []),
      ...checked.violations, ...stock.violations,
    ];
    const counts = {
      ...Object.fromEntries(['complete', 'reject', 'decline', 'cancel'].map((s) => [`journeys_${s}`, scenarios.filter((x) => x === s).length])),
      ...checked.counts, ...stock.counts,
      kills: supervisor.kills.length, conflict_retries: ctx.retries.conflicts, unavailable_retries: ctx.unavailable!.count,
    };
    const durationS = Math.round((Date.now() - started) / 1000);
    console.log(`\nCrash safety: ${o.n} prescriptions, ${supervisor.kills.length} SIGKILLs of the worker (seed ${o.seed}), load ${Math.round(loadMs / 1000)} s, total ${durationS} s`);
    for (const [k, val] of Object.entries(counts)) console.log(`  ${k.padEnd(32)} ${val}`);
    const restart = supervisor.kills.map((k) => k.restartReadyMs).sort((a, b) => a - b);
    console.log(`  worker restart to ready (ms)     median ${restart[restart.length >> 1] ?? '-'}, max ${restart.at(-1) ?? '-'}`);
    console.log(violations.length ? `\nVIOLATIONS (${violations.length}):\n${violations.slice(0, 50).map((x) => `  ${x}`).join('\n')}` : '\nno violations');
    mkdirSync(o.out, { recursive: true });
    const file = path.join(o.out, `crash-${stamp}.json`);
    writeFileSync(file, JSON.stringify({
      options: { ...o, db: o.db.replace(/\/\/[^@]*@/, '//') }, date: new Date(started).toISOString(), durationS, loadMs,
      machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memGiB: Math.round(os.totalmem() / 2 ** 30), kernel: os.release(), loadavg: os.loadavg() },
      versions, counts, kills: supervisor.kills, violations,
    }, null, 2));
    console.log(`Results: ${path.relative(process.cwd(), file)}`);
    exitCode = violations.length ? 1 : 0;
  } finally {
    watcher.stop();
    await supervisor.shutdown().catch(() => {});
    if (api) await stopProcess(api);
    for (const wf of [`rxflow-reservation-sweeper-${queue}`, `rxflow-webhook-drainer-${queue}`, `rxflow-workflow-healer-${queue}`]) {
      await services.temporal.workflow.getHandle(wf).terminate('crash run finished').catch(() => {});
    }
    await pool.end();
    await services.close();
    rmSync(filesDir, { recursive: true, force: true });
  }
  return exitCode;
}

main().then((code) => process.exit(code), (e) => { console.error(e); process.exit(2); });
