// The intake benchmark (issue 7): hospitals pushing signed prescriptions over HTTP, with autocannon, at
// fixed rates and at saturation. Reports p50/p95/p99/max latency, the highest fixed rate sustained with
// zero errors, and where the server's intake time goes (signature, validation, database, workflow start)
// from the Server-Timing header api/intake.ts sends. A benchmark, not a test: nothing asserts.
//
//   node --import tsx bench/intake.ts [--db postgres://rxflow:rxflow@127.0.0.1:55432/rxflow_e2e] [--prefix rxe2e]
//        [--rates 25,50,100,200] [--connections 8,32] [--duration 20] [--warmup 3] [--runs 1] [--out .stack/bench-results]
//
// Runs the API alone (RX_ROLE=api) on a task queue no worker polls: the workflows it starts wait there
// untouched, so only intake is measured; the benchmark terminates them afterwards. Every request is a new
// prescription (its own number and patient), signed before the step starts so the client's signing is not
// measured. Needs the demo catalogue in the database (bench/e2e.ts leaves it there; seeded if missing).
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../engine/config';
import { openServices } from '../engine/runtime';
import { seedAll } from '../engine/seed';
import { DEMO } from '../demo/fixtures';
import { openPool } from './postgis-baseline';
import { ROOT, benchPrescription, median, rssMiB, startProcess, stopProcess, summarise, ENGINE_READY, apiUrlOf } from './lib/e2e';
import { cliArgs } from './lib/args';

function args() {
  const { get } = cliArgs();
  return {
    db: get('db', 'postgres://rxflow:rxflow@127.0.0.1:55432/rxflow_e2e'),
    prefix: get('prefix', 'rxe2e'),
    es: get('es', process.env.ELASTICSEARCH_URL ?? 'http://127.0.0.1:19200'),
    temporal: get('temporal', process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:17233'),
    rates: get('rates', '25,50,100,200').split(',').filter(Boolean).map(Number),
    connections: get('connections', '8,32').split(',').filter(Boolean).map(Number),
    duration: Number(get('duration', '20')),
    warmup: Number(get('warmup', '3')),
    runs: Number(get('runs', '1')),
    /** Bodies signed per second of a saturation step (more than the API can take on this machine). */
    saturationBodies: Number(get('saturation-bodies', '400')),
    out: get('out', path.join(ROOT, '.stack', 'bench-results')),
  };
}

// No type declarations ship with autocannon; its options and results are used as documented in its README.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon = require('autocannon') as (opts: Record<string, unknown>) => NodeJS.EventEmitter;

const log = (s: string) => console.error(`[intake ${new Date().toISOString().slice(11, 19)}] ${s}`);
const PHASES = ['signature', 'validation', 'database', 'workflow_start'] as const;

interface StepResult {
  step: string; run: number; target: number | null; connections: number;
  sent: number; ok: number; non2xx: number; errors: number; timeouts: number; perSecond: number;
  latencyMs: ReturnType<typeof summarise>;
  serverMs: Record<string, number>; // mean per request, by phase, plus intake (the whole) and http (client latency − intake)
  loadavg: number[];
}

async function main() {
  const o = args();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const runId = `I${stamp.replace(/\D/g, '').slice(2, 14)}`;
  const queue = `rxe2e-intake-${runId}`;
  Object.assign(process.env, { DATABASE_URL: o.db, RX_INDEX_PREFIX: o.prefix, ELASTICSEARCH_URL: o.es, TEMPORAL_ADDRESS: o.temporal, RX_TASK_QUEUE: queue });
  const services = await openServices(loadConfig());
  const pool = openPool(o.db, 2);
  if (Number((await pool.query<{ n: string }>('select count(*) n from drug')).rows[0].n) === 0) {
    log('seeding the demo catalogue …');
    await seedAll(services);
  }
  const env = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memGiB: Math.round(os.totalmem() / 2 ** 30), kernel: os.release(), loadavgBefore: os.loadavg() },
    node: process.version,
    postgres: (await pool.query<{ v: string }>('select version() v')).rows[0].v,
    temporal: (await services.temporal.workflowService.getSystemInfo({})).serverVersion,
    autocannon: require('autocannon/package.json').version as string,
  };

  log('starting the API (RX_ROLE=api, no worker on its task queue) …');
  const api = await startProcess('api', 'engine/main.ts', { DATABASE_URL: o.db, RX_INDEX_PREFIX: o.prefix, ELASTICSEARCH_URL: o.es, TEMPORAL_ADDRESS: o.temporal, RX_TASK_QUEUE: queue, RX_ROLE: 'api', RX_API_PORT: '0' }, ENGINE_READY);
  const apiUrl = apiUrlOf(api.ready);
  await new Promise((r) => setTimeout(r, 2000));
  const apiIdle = rssMiB(api.child.pid);
  log(`API ${apiUrl} ready in ${api.readyMs} ms, ${apiIdle} MiB`);

  let seq = 0;
  const bodies = (n: number) => Array.from({ length: n }, () => JSON.stringify(benchPrescription(runId, seq++)));

  async function step(name: string, run: number, seconds: number, o2: { rate?: number; connections: number }): Promise<StepResult> {
    const pool2 = bodies(Math.ceil((o2.rate ?? o.saturationBodies) * seconds * 1.1) + 50);
    let next = 0;
    const lat: number[] = [];
    const server: Record<string, number[]> = {};
    let ok = 0;
    const loadavg = os.loadavg();
    let peakRss = 0;
    const rssTimer = setInterval(() => { peakRss = Math.max(peakRss, rssMiB(api.child.pid) || 0); }, 1000);
    const instance = autocannon({
      url: `${apiUrl}/v1/prescriptions`,
      connections: o2.connections,
      duration: seconds,
      ...(o2.rate ? { overallRate: o2.rate } : {}),
      timeout: 30,
      headers: { authorization: `Bearer ${DEMO.hospital.key}`, 'content-type': 'application/json' },
      requests: [{
        method: 'POST',
        // Every request a new prescription; if a saturation step outruns its bodies they repeat (answered 200, counted).
        setupRequest: (req: any) => ({ ...req, body: pool2[next++ % pool2.length] }),
        onResponse: (status: number, _body: string, _ctx: unknown, headers: Record<string, string>) => {
          if (status === 201) ok++;
          const st = Object.entries(headers ?? {}).find(([k]) => k.toLowerCase() === 'server-timing')?.[1]; // raw header case
          if (st) for (const part of st.split(',')) {
            const m = /^\s*([\w-]+);dur=([\d.]+)/.exec(part);
            if (m) (server[m[1]] ??= []).push(Number(m[2]));
          }
        },
      }],
    });
    instance.on('response', (_c: unknown, _status: number, _bytes: number, ms: number) => { lat.push(ms); });
    const res: any = await new Promise((resolve, reject) => instance.once('done', resolve).once('error', reject));
    clearInterval(rssTimer);
    const mean = (xs: number[] = []) => (xs.length ? Math.round((xs.reduce((s, x) => s + x, 0) / xs.length) * 100) / 100 : NaN);
    const serverMs: Record<string, number> = Object.fromEntries([...PHASES, 'intake'].map((p) => [p, mean(server[p])]));
    serverMs.http = Math.round((mean(lat) - serverMs.intake) * 100) / 100; // outside intake: HTTP, auth, body parsing, queueing
    const r: StepResult = {
      step: name, run, target: o2.rate ?? null, connections: o2.connections,
      sent: res.requests.sent, ok, non2xx: res.non2xx, errors: res.errors, timeouts: res.timeouts,
      perSecond: Math.round((ok / seconds) * 10) / 10,
      latencyMs: summarise(lat), serverMs, loadavg,
    };
    (r as any).apiRssPeakMiB = peakRss;
    return r;
  }

  const results: StepResult[] = [];
  try {
    if (o.warmup > 0) { log(`warm-up ${o.warmup} s`); await step('warmup', 0, o.warmup, { rate: 10, connections: 4 }); }
    for (let run = 1; run <= o.runs; run++) {
      for (const rate of o.rates) {
        log(`run ${run}: fixed rate ${rate}/s for ${o.duration} s`);
        const r = await step(`rate ${rate}/s`, run, o.duration, { rate, connections: Math.min(64, Math.max(4, rate)) });
        log(`  → ${r.perSecond}/s ok, p50 ${r.latencyMs.p50} p99 ${r.latencyMs.p99} ms, non-2xx ${r.non2xx}, errors ${r.errors + r.timeouts}`);
        results.push(r);
      }
      for (const c of o.connections) {
        log(`run ${run}: saturation with ${c} connections for ${o.duration} s`);
        const r = await step(`saturation c=${c}`, run, o.duration, { connections: c });
        log(`  → ${r.perSecond}/s ok, p50 ${r.latencyMs.p50} p99 ${r.latencyMs.p99} ms, non-2xx ${r.non2xx}, errors ${r.errors + r.timeouts}`);
        results.push(r);
      }
    }
  } finally {
    await stopProcess(api);
  }

  // The workflows intake started (no worker ever ran them) are ended, not left on the server.
  const { rows } = await pool.query<{ workflow_id: string }>(`select workflow_id from prescription where rx_no like $1`, [`E2E-${runId}-%`]);
  log(`terminating ${rows.length} workflows started by the benchmark …`);
  for (let i = 0; i < rows.length; i += 32) {
    await Promise.all(rows.slice(i, i + 32).map((r) => services.temporal.workflow.getHandle(r.workflow_id).terminate('intake benchmark').catch(() => {})));
  }
  await pool.end();
  await services.close();

  // ---- the table (medians over runs)
  const measured = results.filter((r) => r.step !== 'warmup');
  const byStep = new Map<string, StepResult[]>();
  for (const r of measured) byStep.set(r.step, [...(byStep.get(r.step) ?? []), r]);
  const pct = (part: number, whole: number) => `${Math.round((part / whole) * 100)}%`;
  const summary = [...byStep.entries()].map(([stepName, g]) => {
    const m = (f: (r: StepResult) => number) => median(g.map(f));
    const s = {
      step: stepName, runs: g.length, perSecond: m((r) => r.perSecond), p50: m((r) => r.latencyMs.p50), p95: m((r) => r.latencyMs.p95), p99: m((r) => r.latencyMs.p99), max: m((r) => r.latencyMs.max),
      failed: g.reduce((x, r) => x + r.non2xx + r.errors + r.timeouts, 0),
      server: Object.fromEntries([...PHASES, 'intake', 'http'].map((p) => [p, m((r) => r.serverMs[p])])),
      // Sustained: the client got the rate out (a connection waits for its answer, so a slow server holds the
      // rate down) and every request was answered 201.
      sustained: g.every((r) => r.target !== null && r.non2xx + r.errors + r.timeouts === 0 && r.sent >= 0.95 * r.target * o.duration),
    };
    return s;
  });
  const maxSustained = Math.max(0, ...summary.filter((s) => s.sustained).map((s) => Number(/\d+/.exec(s.step)![0])));
  const pad = (s: unknown, n: number) => String(s).padStart(n);
  console.log(`\nrxflow intake: POST /v1/prescriptions, ${o.duration} s per step, median of ${o.runs} run(s); server time = mean ms per request from Server-Timing`);
  console.log(`${'step'.padEnd(18)} ${pad('ok/s', 7)} ${pad('p50', 6)} ${pad('p95', 6)} ${pad('p99', 6)} ${pad('max', 6)} ${pad('failed', 6)} | ${pad('sig', 5)} ${pad('valid', 5)} ${pad('db', 6)} ${pad('wf', 6)} ${pad('intake', 6)} ${pad('other', 6)} | shares of intake: sig/valid/db/wf`);
  for (const s of summary) {
    const v = s.server;
    console.log(`${s.step.padEnd(18)} ${pad(s.perSecond, 7)} ${pad(s.p50, 6)} ${pad(s.p95, 6)} ${pad(s.p99, 6)} ${pad(s.max, 6)} ${pad(s.failed, 6)} | ${pad(v.signature, 5)} ${pad(v.validation, 5)} ${pad(v.database, 6)} ${pad(v.workflow_start, 6)} ${pad(v.intake, 6)} ${pad(v.http, 6)} | ${PHASES.map((p) => pct(v[p], v.intake)).join(' / ')}`);
  }
  console.log(`Max sustained fixed rate with zero errors: ${maxSustained || 'none of the rates tried'}${maxSustained ? '/s' : ''} (of ${o.rates.join(', ')})`);
  console.log(`API: start-up ${api.readyMs} ms, RSS idle ${apiIdle} MiB, peak ${Math.max(...measured.map((r: any) => r.apiRssPeakMiB))} MiB`);
  const loadavgAfter = os.loadavg();
  console.log(`Load average before ${env.machine.loadavgBefore.map((x) => x.toFixed(2)).join(' ')}, after ${loadavgAfter.map((x) => x.toFixed(2)).join(' ')}`);
  mkdirSync(o.out, { recursive: true });
  const file = path.join(o.out, `intake-${stamp}.json`);
  writeFileSync(file, JSON.stringify({ options: { ...o, db: o.db.replace(/\/\/[^@]*@/, '//') }, env: { ...env, loadavgAfter }, api: { startupMs: api.readyMs, rssIdleMiB: apiIdle }, maxSustained, summary, results }, null, 2));
  console.log(`Results: ${path.relative(process.cwd(), file)}`);
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
