// The long fuzzing run (issue 6, "Bad input"): requests generated from the OpenAPI document by
// bench/lib/fuzz.ts against an engine of its own, counts per status and per operation at the end.
// The fast version runs in the suite (tests/integration/fuzz.test.ts). Exit code 1 on any problem.
//
//   DATABASE_URL=postgres://rxflow:rxflow@127.0.0.1:55432/rxflow_fuzz RX_INDEX_PREFIX=rxfuzz \
//     node --import tsx bench/fuzz.ts --requests 10000 --seed 42 [--concurrency 8] [--url http://127.0.0.1:PORT]
//
// Without --url it resets DATABASE_URL's database and RX_INDEX_PREFIX's indices, seeds the demo data and
// starts a worker + API in this process (as the test suite does), so every operation may be sent a valid
// body, the destructive ones included. With --url it fuzzes a running engine, leaving shared state alone.
import os from 'node:os';
import { openOrm } from '../db/orm';
import globalSetup from '../tests/integration/global-setup';
import globalTeardown from '../tests/integration/global-teardown';
import { consoleSession, fuzz, operationsOf, realParams } from './lib/fuzz';
import { cliArgs } from './lib/args';

const { get: arg, has } = cliArgs();

async function main() {
  const count = Number(arg('requests', '10000'));
  const seed = Number(arg('seed', String(Date.now() % 1_000_000)));
  const concurrency = Number(arg('concurrency', '8'));
  let url = arg('url', '');
  const own = !url;
  if (own) {
    process.env.RX_TASK_QUEUE ??= `rxflow-fuzz-${process.pid}`;
    await globalSetup();
    url = process.env.RX_TEST_API_URL!;
  }
  const orm = await openOrm(process.env.DATABASE_URL!);
  const sql = (q: string, params: unknown[] = []) => orm.em.fork().getConnection().execute(q, params);
  const doc = await (await fetch(`${url}/openapi.json`)).json();
  const ops = operationsOf(doc);
  const session = await consoleSession(url);
  const real = await realParams(url, sql);
  console.error(`fuzzing ${ops.length} operations at ${url}: ${count} requests, seed ${seed}, concurrency ${concurrency}`);
  const t0 = Date.now();
  const tally = await fuzz({ baseUrl: url, ops, real, session, seed, count, shared: !own, concurrency, onProgress: (n) => console.error(`  ${n} sent`) });
  const alive = await fetch(`${url}/health`).then((r) => r.status).catch((e) => `no answer (${(e as Error).message})`);
  console.log(`rxflow fuzz — ${new Date().toISOString()} — ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}`);
  console.log(`command: node --import tsx bench/fuzz.ts --requests ${count} --seed ${seed} --concurrency ${concurrency}${own ? '' : ` --url ${url}`}`);
  console.log(`operations: ${ops.length}; took ${((Date.now() - t0) / 1000).toFixed(0)} s; /health afterwards: ${alive}`);
  console.log(tally.report());
  for (const p of tally.problems.slice(0, 30)) {
    const body = p.request.body === undefined ? '' : typeof p.request.body === 'string' ? p.request.body.slice(0, 200) : `<${p.request.body.length} bytes>`;
    console.log(`PROBLEM ${p.request.op} [${p.request.kind}, ${p.request.cred}] ${p.request.method} ${p.request.path.slice(0, 200)} ${body}\n   → ${p.outcome.problem}`);
  }
  // What the generated requests that succeeded on an unsafe method were (--examples): a 2xx to a body
  // nobody meant to be valid deserves a look.
  if (has('examples')) {
    for (const [k, r] of tally.examples) if (/^(POST|PUT|DELETE) .* 2\d\d$/.test(k)) console.log(`EXAMPLE ${k} [${r.kind}, ${r.cred}] ${r.method} ${r.path.slice(0, 160)} ${typeof r.body === 'string' ? r.body.slice(0, 400) : ''}`);
  }
  await orm.close();
  if (own) await globalTeardown();
  process.exit(tally.problems.length || alive !== 200 ? 1 : 0);
}

main().catch((e) => { console.error(e); process.exit(2); });
