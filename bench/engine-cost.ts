// Where the engine's own work goes, per journey (issue 7): the API and one worker in this process, the
// same simulated parties as bench/e2e.ts, and every SQL statement knex sends attributed to the activity
// (or the API) that sent it. Counts do not depend on the machine's load; times and CPU do, less so at a
// low concurrency. A benchmark, not a test: nothing asserts.
//
//   node --import tsx bench/engine-cost.ts [--db postgres://rxflow:rxflow@127.0.0.1:55432/rxflow_cost] [--prefix rxcost]
//        [--journeys 40] [--concurrency 4] [--warmup 4] [--reset] [--sql]
//        [--profile]   a CPU profile of this process's main thread (API, activities, the SDK's bridge) over the
//                      measured journeys only, summarised by package and file (bench/lib/cpuprofile-summary.ts)
//
// Prints per journey: statements and transactions (BEGIN … COMMIT counted once, an autocommit statement
// once) by activity, activity wall time, Elasticsearch requests, PostgreSQL xact_commit of the database,
// and the process's CPU (API + worker + the parties' client, all here).
import os from 'node:os';
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { AsyncLocalStorage } from 'node:async_hooks';
import { Session } from 'node:inspector/promises';
import { summariseProfile, type Profile } from './lib/cpuprofile-summary';
import { Context } from '@temporalio/activity';
import { loadConfig } from '../engine/config';
import { openServices, startApi, startWorker } from '../engine/runtime';
import { seedAll } from '../engine/seed';
import { openOrm } from '../db/orm';
import { openPool } from './postgis-baseline';
import { activityDuration, esDuration } from '../engine/metrics';
import { BENCH_FOLLOWUPS, ROOT, RxWatcher, benchParties, benchPrescription, carryPrescription, type CarryContext } from './lib/e2e';
import { cliArgs } from './lib/args';

function args() {
  const { get, has } = cliArgs();
  return {
    db: get('db', 'postgres://rxflow:rxflow@127.0.0.1:55432/rxflow_cost'),
    prefix: get('prefix', 'rxcost'),
    journeys: Number(get('journeys', '40')),
    concurrency: Number(get('concurrency', '4')),
    warmup: Number(get('warmup', '4')),
    reset: has('reset'),
    sql: has('sql'),
    profile: has('profile'),
  };
}

// Which part of the engine sent a statement: the activity running (Temporal's context), else the API route.
const apiRoute = new AsyncLocalStorage<string>();
function who(): string {
  try { return `activity ${Context.current().info.activityType}`; } catch { /* not in an activity */ }
  return apiRoute.getStore() ?? 'background (sync loop, outbox nudges, sweeper)';
}

async function main() {
  const o = args();
  const runId = `cost${Date.now().toString(36)}`;
  Object.assign(process.env, {
    DATABASE_URL: o.db, RX_INDEX_PREFIX: o.prefix, RX_TASK_QUEUE: `rxcost-${runId}`, RX_MATCH_AT: '10:30',
    RX_FILES_DIR: path.join(ROOT, '.stack', 'bench-cost-files'), ...BENCH_FOLLOWUPS,
  });
  if (o.reset) {
    const orm = await openOrm(o.db);
    await orm.em.getConnection().execute('drop schema if exists public cascade; create schema public;');
    await orm.close();
  }
  const config = loadConfig();
  const services = await openServices(config);
  if (o.reset) await seedAll(services);
  const pool = openPool(o.db, 2);
  await pool.query(`update stock set on_hand = 1000000 where on_hand < 1000000`);

  // Every statement, by sender; a transaction is counted at its BEGIN, an autocommit statement alone.
  type Tally = { statements: number; transactions: number; kinds: Record<string, number> };
  const tally = new Map<string, Tally>();
  const sqlSeen = new Map<string, number>();
  let counting = false;
  const knex = services.orm.em.getConnection().getKnex();
  const inTx = new Map<string, boolean>(); // per pooled connection: between BEGIN and COMMIT/ROLLBACK
  knex.on('query', (q: { sql: string; __knexUid?: string }) => {
    const uid = q.__knexUid ?? '';
    const head = q.sql.trim().slice(0, 9).toLowerCase();
    if (head.startsWith('begin')) inTx.set(uid, true);
    else if (head.startsWith('commit') || head.startsWith('rollback')) inTx.set(uid, false);
    if (!counting) return;
    const key = who();
    const t = tally.get(key) ?? { statements: 0, transactions: 0, kinds: {} };
    const sql = q.sql.trim();
    const kind = /^(begin|commit|rollback|savepoint|release)/i.test(sql) ? sql.split(/\s|;/)[0].toLowerCase() : (/^\s*(\w+)/.exec(sql)?.[1] ?? 'other').toLowerCase();
    t.kinds[kind] = (t.kinds[kind] ?? 0) + 1;
    if (kind === 'begin') t.transactions++;
    else if (!['commit', 'rollback', 'savepoint', 'release'].includes(kind)) {
      t.statements++;
      // A statement outside BEGIN … COMMIT is its own (autocommit) transaction.
      if (!inTx.get(uid)) t.transactions++;
    }
    tally.set(key, t);
    if (o.sql) {
      const k = `${key} | ${sql.replace(/'[^']*'/g, "'…'").replace(/\s+/g, ' ').slice(0, 160)}`; // MikroORM inlines the values
      sqlSeen.set(k, (sqlSeen.get(k) ?? 0) + 1);
    }
  });

  const worker = await startWorker(services);
  // The API's statements under its route: a tiny middleware in front of the app's own.
  const { server, url } = await startApi(services, 0);
  const handler = server.listeners('request')[0] as (req: any, res: any) => void;
  server.removeAllListeners('request');
  server.on('request', (req, res) => apiRoute.run(`api ${req.method} ${String(req.url).replace(/[0-9a-f-]{36}/g, ':id').split('?')[0]}`, () => handler(req, res)));

  const watcher = new RxWatcher(pool, 20).start();
  const ctx: CarryContext = { parties: benchParties(url), watcher, retries: { conflicts: 0 } };
  let seq = 0;
  const runJourneys = async (n: number) => {
    let started = 0;
    const lane = async () => { while (started < n) { started++; await carryPrescription(ctx, benchPrescription(runId, seq++)); } };
    await Promise.all(Array.from({ length: Math.min(o.concurrency, n) }, lane));
  };
  console.error(`[cost] warm-up: ${o.warmup} journeys`);
  await runJourneys(o.warmup);

  const xact = async () => Number((await pool.query<{ x: string }>(`select xact_commit x from pg_stat_database where datname = current_database()`)).rows[0].x);
  const histo = async (h: typeof activityDuration) => {
    const m = await h.get();
    const out = new Map<string, { count: number; sum: number }>();
    for (const v of m.values) {
      const labels = v.labels as Record<string, string | number | undefined>;
      const label = String(labels.activity ?? labels.api ?? '');
      const e = out.get(label) ?? { count: 0, sum: 0 };
      if (v.metricName?.endsWith('_count')) e.count += v.value;
      if (v.metricName?.endsWith('_sum')) e.sum += v.value;
      out.set(label, e);
    }
    return out;
  };
  const act0 = await histo(activityDuration);
  const es0 = await histo(esDuration as never);
  const x0 = await xact();
  const ticks0 = watcher.ticks;
  const inspector = o.profile ? new Session() : null;
  if (inspector) {
    inspector.connect();
    await inspector.post('Profiler.enable');
    await inspector.post('Profiler.setSamplingInterval', { interval: 500 });
    await inspector.post('Profiler.start');
  }
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  counting = true;
  console.error(`[cost] measuring: ${o.journeys} journeys at concurrency ${o.concurrency}`);
  await runJourneys(o.journeys);
  counting = false;
  const wall = Date.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const profile = inspector ? ((await inspector.post('Profiler.stop')) as { profile: Profile }).profile : null;
  // Less the watcher's own reads (one autocommit per tick) and this script's xact reads.
  const xacts = (await xact()) - x0 - (watcher.ticks - ticks0) - 1;
  const act1 = await histo(activityDuration);
  const es1 = await histo(esDuration as never);
  watcher.stop();

  const n = o.journeys;
  const r1 = (x: number) => Math.round(x * 10) / 10;
  console.log(`\nengine cost per journey — ${n} journeys at concurrency ${o.concurrency}, ${new Date().toISOString()}, load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  console.log(`wall ${r1(wall / 1000)} s; CPU of this process (API + worker + the parties' client) ${r1((cpu.user + cpu.system) / 1000 / n)} ms per journey`);
  console.log(`PostgreSQL xact_commit per journey (the watcher's reads subtracted): ${r1(xacts / n)}`);
  const rows = [...tally.entries()].sort((a, b) => b[1].statements - a[1].statements);
  const tot = rows.reduce((s, [, t]) => ({ statements: s.statements + t.statements, transactions: s.transactions + t.transactions }), { statements: 0, transactions: 0 });
  console.log(`statements per journey ${r1(tot.statements / n)}, transactions (knex) per journey ${r1(tot.transactions / n)}`);
  console.log(`${'sender'.padEnd(62)} ${'stmts'.padStart(6)} ${'xacts'.padStart(6)}  ${'calls'.padStart(5)} ${'ms each'.padStart(8)}  kinds`);
  for (const [k, t] of rows) {
    const a = k.startsWith('activity ') ? k.slice(9) : null;
    const d = a ? { count: (act1.get(a)?.count ?? 0) - (act0.get(a)?.count ?? 0), sum: (act1.get(a)?.sum ?? 0) - (act0.get(a)?.sum ?? 0) } : null;
    console.log(`${k.slice(0, 62).padEnd(62)} ${String(r1(t.statements / n)).padStart(6)} ${String(r1(t.transactions / n)).padStart(6)}  ${d ? String(r1(d.count / n)).padStart(5) : ''.padStart(5)} ${d && d.count ? String(r1((d.sum / d.count) * 1000)).padStart(8) : ''.padStart(8)}  ${Object.entries(t.kinds).map(([kk, v]) => `${kk} ${r1(v / n)}`).join(', ')}`);
  }
  const actMs = [...act1.entries()].reduce((s, [k, v]) => s + v.sum - (act0.get(k)?.sum ?? 0), 0);
  console.log(`activity wall time per journey ${r1((actMs * 1000) / n)} ms (all activities)`);
  const esCalls = [...es1.entries()].map(([k, v]) => `${k} ${r1((v.count - (es0.get(k)?.count ?? 0)) / n)} × ${r1(((v.sum - (es0.get(k)?.sum ?? 0)) / Math.max(1, v.count - (es0.get(k)?.count ?? 0))) * 1000)} ms`);
  console.log(`Elasticsearch per journey: ${esCalls.join(', ') || 'none'}`);
  if (profile) {
    const file = path.join(os.tmpdir(), `engine-cost-${runId}.cpuprofile`);
    await writeFile(file, JSON.stringify(profile));
    console.log(`[cost] CPU profile written to ${file} (open in Chrome DevTools, or bench/lib/cpuprofile-summary.ts)`);
    console.log(summariseProfile(profile, { title: 'CPU profile of the main thread over the measured journeys', perJourneys: n, top: 40 }));
  }
  if (o.sql) for (const [k, v] of [...sqlSeen.entries()].sort((a, b) => b[1] - a[1])) console.log(`${r1(v / n).toString().padStart(5)}  ${k}`);

  await new Promise<void>((r) => server.close(() => r()));
  worker.worker.shutdown();
  await worker.running;
  await worker.sync.stop();
  await pool.end();
  await services.temporal.workflow.getHandle(`rxflow-reservation-sweeper-rxcost-${runId}`).terminate('benchmark finished').catch(() => {});
  await services.temporal.workflow.getHandle(`rxflow-webhook-drainer-rxcost-${runId}`).terminate('benchmark finished').catch(() => {});
  await services.temporal.workflow.getHandle(`rxflow-workflow-healer-rxcost-${runId}`).terminate('benchmark finished').catch(() => {});
  await services.close();
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
