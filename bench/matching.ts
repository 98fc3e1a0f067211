// The catalogue and matching benchmark (issue 4): closed-loop load over a real-sized data set, side by
// side in one run —
//   search     catalog/queries.ts searchDrugs: Chinese name (whole or part), pinyin (initials or full), identifier
//   match-es   catalog/queries.ts matchPharmacies: the Elasticsearch projection + domain/matching.ts ranking
//   match-pg   bench/postgis-baseline.ts: PostGIS + live stock join + the same ranking
// and a check that both matchers find the same pharmacies. A benchmark, not a test: nothing asserts.
//
//   node --import tsx bench/matching.ts --db <url> --prefix <index prefix> [--es http://127.0.0.1:19200]
//        [--duration 20] [--concurrency 1,4,16] [--runs 1] [--seed 1] [--warmup 5] [--agree 200]
//        [--scenarios search,match-es,match-pg] [--requests 2000] [--radius 10] [--out .stack/bench-results]
//
// Prints a table per concurrency (ops/s, p50/p95/p99 ms, errors; the median over --runs runs, which are
// interleaved scenario by scenario) and writes everything, breakdowns included, to <out>/<timestamp>.json.
// Reads only: it writes nothing but the baseline's own table and index (bench/postgis-baseline.ts).
import { Client } from '@elastic/elasticsearch';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { matchPharmacies, searchDrugs, type DrugSearchParams, type MatchRequest } from '../catalog/queries';
import { drugAlias, stockAlias } from '../catalog/indices';
import { pgRunner, shelfReader } from '../catalog/shelf';
import { pinyinOf, prng } from '../catalog/ingest';
import { haversineKm } from '../domain/matching';
import type { Drug } from '../domain/types';
import { explainMatch, matchPharmaciesPostgis, openPool, setupBaseline, type PgPool, type PgQueryable } from './postgis-baseline';
import { cliArgs } from './lib/args';

// ---------------------------------------------------------------- the data set and the workload

interface PharmacyRow { id: string; code: string; city: string; lat: number; lng: number; cold_chain: boolean; delivery_radius_km: number }
export interface Dataset {
  pharmacies: PharmacyRow[];
  cities: { city: string; n: number; minLat: number; maxLat: number; minLng: number; maxLng: number; pharmacies: PharmacyRow[] }[];
  /** Drugs with stock anywhere, weighted by how many pharmacies have them on the shelf. */
  stocked: { code: string; pharmacies: number }[];
  storage: Map<string, string>;
  drugs: number;
  stockRows: number;
}

export async function loadDataset(db: PgQueryable): Promise<Dataset> {
  const pharmacies = (await db.query<PharmacyRow>(`select id, code, city, lat, lng, cold_chain, delivery_radius_km from pharmacy order by code`)).rows;
  const byCity = new Map<string, PharmacyRow[]>();
  for (const p of pharmacies) byCity.set(p.city, [...(byCity.get(p.city) ?? []), p]);
  const cities = [...byCity.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([city, ps]) => ({
    city, n: ps.length, pharmacies: ps,
    minLat: Math.min(...ps.map((p) => p.lat)), maxLat: Math.max(...ps.map((p) => p.lat)),
    minLng: Math.min(...ps.map((p) => p.lng)), maxLng: Math.max(...ps.map((p) => p.lng)),
  }));
  const stocked = (await db.query<{ code: string; n: string }>(
    `select drug_code as code, count(*) as n from stock where on_hand - reserved > 0 group by drug_code order by drug_code`)).rows
    .map((r) => ({ code: r.code, pharmacies: Number(r.n) }));
  const storage = new Map((await db.query<{ code: string; storage: string }>(`select code, data->>'storage' as storage from drug`)).rows.map((r) => [r.code, r.storage]));
  const counts = (await db.query<{ drugs: string; stock: string }>(`select (select count(*) from drug) as drugs, (select count(*) from stock) as stock`)).rows[0];
  return { pharmacies, cities, stocked, storage, drugs: Number(counts.drugs), stockRows: Number(counts.stock) };
}

export interface SearchRequest { kind: 'zh-name' | 'zh-part' | 'brand' | 'pinyin-initials' | 'pinyin-full' | 'identifier'; params: DrugSearchParams }
export interface Workload { matches: (MatchRequest & { tag: string })[]; searches: SearchRequest[] }

/** Opening times the matching requests ask about: most in the day, some in the night. */
export const DAY_MINUTE = 10 * 60 + 30;   // 10:30
export const NIGHT_MINUTE = 3 * 60;       // 03:00

/**
 * Deterministic for a seed and a data set. Matching: a city (weighted by its pharmacies), a uniform point
 * in its box, 1–5 distinct lines, 10:30 (four in five) or 03:00. Four in five baskets come from the shelf
 * of one pharmacy that delivers to the point (a prescription someone nearby can fill, though maybe not
 * at that hour); the rest, and those whose point no pharmacy reaches, are drawn from all stocked drugs
 * weighted by how many pharmacies stock them (often unfillable). Quantities 1–3, at most what the
 * anchor has. Cold chain when a line is stored cold.
 */
export async function generateWorkload(db: PgQueryable, data: Dataset, o: { seed: number; matchCount: number; searchCount: number; radiusKm: number }): Promise<Workload> {
  const rand = prng(o.seed * 7919 + 17);
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
  const cityWeights = cumulative(data.cities.map((c) => c.n));
  const drugWeights = cumulative(data.stocked.map((d) => d.pharmacies));
  const matches: Workload['matches'] = [];
  for (let i = 0; i < o.matchCount; i++) {
    const city = data.cities[weighted(cityWeights, rand())];
    const near = { lat: city.minLat + rand() * (city.maxLat - city.minLat), lng: city.minLng + rand() * (city.maxLng - city.minLng) };
    const lineCount = 1 + Math.floor(rand() * 5);
    const openAtMinute = i % 5 === 4 ? NIGHT_MINUTE : DAY_MINUTE;
    const anchored = rand() < 0.8;
    const inRange = anchored ? city.pharmacies.filter((p) => haversineKm(near, p) <= Math.min(o.radiusKm, p.delivery_radius_km)) : [];
    let lines: { drugCode: string; quantity: number }[] = [];
    if (inRange.length) {
      const anchor = pick(inRange);
      const shelf = (await db.query<{ drug_code: string; avail: number }>(
        `select drug_code, on_hand - reserved as avail from stock where pharmacy_id = $1 and on_hand - reserved > 0 order by drug_code`, [anchor.id])).rows;
      for (const s of shuffle(shelf, rand).slice(0, lineCount)) lines.push({ drugCode: s.drug_code, quantity: Math.min(s.avail, 1 + Math.floor(rand() * 3)) });
    }
    if (!lines.length) {
      const codes = new Set<string>();
      for (let tries = 0; codes.size < Math.min(lineCount, data.stocked.length) && tries < 100; tries++) codes.add(data.stocked[weighted(drugWeights, rand())].code);
      lines = [...codes].map((drugCode) => ({ drugCode, quantity: 1 + Math.floor(rand() * 3) }));
    }
    matches.push({
      lines, near, radiusKm: o.radiusKm, openAtMinute,
      needsColdChain: lines.some((l) => data.storage.get(l.drugCode) === 'cold'),
      tag: `${lines.length}L ${openAtMinute === NIGHT_MINUTE ? '03:00' : '10:30'}${inRange.length ? '' : ' unanchored'}`,
    });
  }

  const searches: SearchRequest[] = [];
  if (o.searchCount > 0) {
    const drugs = (await db.query<{ data: Drug }>(`select data from drug order by code`)).rows.map((r) => r.data);
    const kinds: SearchRequest['kind'][] = ['zh-name', 'zh-part', 'brand', 'pinyin-initials', 'pinyin-full', 'identifier'];
    for (let i = 0; searches.length < o.searchCount && i < o.searchCount * 3; i++) {
      const d = pick(drugs);
      const kind = kinds[i % kinds.length];
      const name = d.genericNameZh;
      let q: string | null = null;
      if (kind === 'zh-name') q = name;
      else if (kind === 'zh-part') {
        const len = Math.min(name.length, 2 + Math.floor(rand() * 3));
        const at = Math.floor(rand() * (name.length - len + 1));
        q = name.slice(at, at + len);
      } else if (kind === 'brand') q = d.brandNameZh;
      else if (kind === 'pinyin-initials') q = pinyinOf(name).initials.slice(0, 2 + Math.floor(rand() * 4)) || null;
      else if (kind === 'pinyin-full') q = pinyinOf(name).full.slice(0, 4 + Math.floor(rand() * 8)) || null;
      else q = pick([d.code, d.approvalNumber, d.insuranceCode].filter(Boolean));
      if (q) searches.push({ kind, params: { q, size: 20 } });
    }
  }
  return { matches, searches };
}

function cumulative(ws: number[]): number[] {
  let s = 0;
  return ws.map((w) => (s += w));
}
function weighted(cum: number[], r: number): number {
  const x = r * cum[cum.length - 1];
  let lo = 0;
  let hi = cum.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cum[mid] > x) hi = mid; else lo = mid + 1;
  }
  return lo;
}
function shuffle<T>(xs: T[], rand: () => number): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

// ---------------------------------------------------------------- load and statistics

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

interface Stats { ops: number; opsPerSec: number; p50: number; p95: number; p99: number; max: number; errors: number; firstError?: string }
function stats(lat: number[], elapsedMs: number, errors: number, firstError?: string): Stats {
  const s = [...lat].sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 100) / 100;
  return { ops: s.length, opsPerSec: r(s.length / (elapsedMs / 1000)), p50: r(percentile(s, 0.5)), p95: r(percentile(s, 0.95)), p99: r(percentile(s, 0.99)), max: r(s[s.length - 1] ?? NaN), errors, ...(firstError ? { firstError } : {}) };
}

interface Scenario { name: string; size: number; tag(i: number): string; run(i: number): Promise<unknown> }

interface RunResult { stats: Stats; samples: { tag: string; ms: number }[]; esTookMs: number[] }

/** Closed loop: `concurrency` workers, each sends its next request as soon as the last one answered. */
async function closedLoop(sc: Scenario, concurrency: number, seconds: number, start: number, took: number[]): Promise<RunResult> {
  let next = start;
  let errors = 0;
  let firstError: string | undefined;
  const samples: { tag: string; ms: number }[] = [];
  took.length = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      const i = next++ % sc.size;
      const s = performance.now();
      try {
        await sc.run(i);
      } catch (e) {
        errors++;
        firstError ??= String((e as Error)?.message ?? e).slice(0, 300);
      }
      samples.push({ tag: sc.tag(i), ms: performance.now() - s });
    }
  }));
  const elapsed = performance.now() - t0;
  return { stats: stats(samples.map((x) => x.ms), elapsed, errors, firstError), samples, esTookMs: [...took] };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// ---------------------------------------------------------------- main

function args() {
  const { get } = cliArgs();
  return {
    db: get('db', process.env.DATABASE_URL ?? 'postgres://rxflow:rxflow@127.0.0.1:55432/rxflow_bench'),
    prefix: get('prefix', process.env.RX_INDEX_PREFIX ?? 'rxbench'),
    es: get('es', process.env.ELASTICSEARCH_URL ?? 'http://127.0.0.1:19200'),
    duration: Number(get('duration', '20')),
    warmup: Number(get('warmup', '5')),
    concurrency: get('concurrency', '1,4,16').split(',').map(Number),
    runs: Number(get('runs', '1')),
    seed: Number(get('seed', '1')),
    agree: Number(get('agree', '200')),
    requests: Number(get('requests', '2000')),
    radiusKm: Number(get('radius', '10')),
    scenarios: get('scenarios', 'search,match-es,match-pg').split(','),
    out: get('out', path.resolve(__dirname, '..', '.stack', 'bench-results')),
  };
}

const setEq = (a: Set<string>, b: Set<string>) => a.size === b.size && [...a].every((x) => b.has(x));

async function main() {
  const o = args();
  const maxC = Math.max(...o.concurrency);
  const pool: PgPool = openPool(o.db, maxC + 2);
  const es = new Client({ node: o.es });
  const log = (s: string) => console.error(`[bench] ${s}`);
  // Elasticsearch's own time per request (the `took` of each search), to tell server time from the wire.
  const took: number[] = [];
  let bytes: number[] | null = null;
  es.diagnostic.on('response', (_err, res) => {
    const t = (res?.body as { took?: number } | undefined)?.took;
    if (typeof t === 'number') took.push(t);
    if (bytes && res?.body) bytes.push(Buffer.byteLength(JSON.stringify(res.body)));
  });

  try {
    // What is measured, and on what.
    const pgVersion = (await pool.query<{ v: string }>(`select version() v`)).rows[0].v;
    const pgSettings = Object.fromEntries((await pool.query<{ name: string; setting: string; unit: string | null }>(
      `select name, setting, unit from pg_settings where name in ('shared_buffers','work_mem','effective_cache_size','random_page_cost','jit','max_parallel_workers_per_gather','plan_cache_mode')`)).rows
      .map((r) => [r.name, r.unit ? `${r.setting} ${r.unit}` : r.setting]));
    // (The integ-test distribution answers no GET /, so the version comes from the node info.)
    const esNode = Object.values((await es.nodes.info({ metric: 'jvm' })).nodes)[0] as { version?: string; jvm?: { version?: string; mem?: { heap_max_in_bytes?: number } } };
    const esCount = async (alias: string) => (await es.count({ index: alias })).count;
    const esStats = async () => (await es.indices.stats({ index: stockAlias(o.prefix), metric: 'indexing' }))._all.total?.indexing?.index_total ?? null;
    const pgWrites = async () => (await pool.query<{ q: string; s: Date | null; p: string }>(
      `select (select count(*) from search_sync_queue) q, (select max(updated_at) from stock) s, (select count(*) from pharmacy) p`)).rows[0];

    log('setting up the PostGIS baseline (pharmacy_geo, GiST, covering stock index) …');
    const setup = await setupBaseline(pool);
    log(`baseline ready in ${setup.seconds.toFixed(1)} s (${setup.pharmacies} pharmacies${setup.stockIndexCreated ? ', stock index created' : ''})`);
    const data = await loadDataset(pool);
    const env = {
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memGiB: Math.round(os.totalmem() / 2 ** 30), loadavg: os.loadavg(), kernel: os.release() },
      node: process.version,
      postgres: pgVersion, postgis: setup.postgis, pgSettings,
      elasticsearch: esNode.version, esJvm: esNode.jvm?.version, esHeapMiB: (esNode.jvm?.mem?.heap_max_in_bytes ?? 0) / 2 ** 20,
    };
    const dataset = {
      db: o.db.replace(/\/\/[^@]*@/, '//'), prefix: o.prefix,
      drugs: data.drugs, pharmacies: data.pharmacies.length, stockRows: data.stockRows, stockedDrugs: data.stocked.length,
      cities: data.cities.map((c) => ({ city: c.city, pharmacies: c.n, box: [c.minLat, c.minLng, c.maxLat, c.maxLng].map((x) => Math.round(x * 1e4) / 1e4) })),
      esDrugDocs: await esCount(drugAlias(o.prefix)), esStockDocs: await esCount(stockAlias(o.prefix)),
    };
    log(`data: ${dataset.drugs} drugs, ${dataset.pharmacies} pharmacies in ${dataset.cities.length} cities, ${dataset.stockRows} stock rows; ES ${dataset.esDrugDocs} drug docs, ${dataset.esStockDocs} stock docs`);

    const w = await generateWorkload(pool, data, { seed: o.seed, matchCount: o.requests, searchCount: o.requests, radiusKm: o.radiusKm });
    log(`workload: ${w.matches.length} matching requests, ${w.searches.length} searches (seed ${o.seed})`);
    const before = { pg: await pgWrites(), esIndexTotal: await esStats() };

    // Do the two matchers agree? Same requests, one at a time, nothing writing.
    const agreeN = Math.min(o.agree, w.matches.length);
    const shelves = shelfReader(pgRunner(pool));
    let sameQty = 0, samePos = 0, sameTop = 0, nonEmpty = 0, esShort = 0, esTotal = 0, pgTotal = 0;
    const differences: object[] = [];
    const esBytes: number[] = [];
    bytes = esBytes;   // sizes of the matching responses (what crosses the wire and is parsed per request)
    for (let i = 0; i < agreeN; i++) {
      const m = w.matches[i];
      const esC = await matchPharmacies(es, o.prefix, m, shelves);
      const pgC = await matchPharmaciesPostgis(pool, m, 'quantity');
      const pgP = await matchPharmaciesPostgis(pool, m, 'positive');
      const a = new Set(esC.map((c) => c.pharmacyCode));
      const b = new Set(pgC.map((c) => c.pharmacyCode));
      const c = new Set(pgP.map((c) => c.pharmacyCode));
      if (setEq(a, b)) sameQty++;
      if (setEq(a, c)) samePos++;
      if ((esC[0]?.pharmacyCode ?? null) === (pgC[0]?.pharmacyCode ?? null)) sameTop++;
      if (esC.length) nonEmpty++;
      esShort += esC.filter((x) => x.stockMargin < 1).length;
      esTotal += esC.length;
      pgTotal += pgC.length;
      if (!setEq(a, b) && differences.length < 10) {
        differences.push({
          request: { lines: m.lines, near: m.near, openAtMinute: m.openAtMinute, needsColdChain: m.needsColdChain },
          onlyEs: esC.filter((x) => !b.has(x.pharmacyCode)).map((x) => ({ code: x.pharmacyCode, distanceKm: x.distanceKm, stockMargin: x.stockMargin })),
          onlyPg: pgC.filter((x) => !a.has(x.pharmacyCode)).map((x) => ({ code: x.pharmacyCode, distanceKm: x.distanceKm, stockMargin: x.stockMargin })),
        });
      }
    }
    bytes = null;
    const agreement = {
      requests: agreeN,
      sameSetRate: agreeN ? sameQty / agreeN : null,
      sameSetRateMirroringEs: agreeN ? samePos / agreeN : null,
      sameTopRate: agreeN ? sameTop / agreeN : null,
      nonEmptyRate: agreeN ? nonEmpty / agreeN : null,
      meanCandidatesEs: agreeN ? esTotal / agreeN : null,
      meanCandidatesPg: agreeN ? pgTotal / agreeN : null,
      esCandidatesShortOfQuantity: esShort,
      esMatchResponseBytes: esBytes.length ? { p50: percentile([...esBytes].sort((x, y) => x - y), 0.5), max: Math.max(...esBytes) } : null,
      differences,
    };
    log(`agreement over ${agreeN} requests: same candidate set ${(100 * sameQty / Math.max(1, agreeN)).toFixed(1)}% ` +
      `(${(100 * samePos / Math.max(1, agreeN)).toFixed(1)}% when PostgreSQL cuts at the nearest 50 before the quantity check, as matchPharmacies does); ` +
      `same first choice ${(100 * sameTop / Math.max(1, agreeN)).toFixed(1)}%; non-empty ${(100 * nonEmpty / Math.max(1, agreeN)).toFixed(1)}%; ` +
      `mean candidates ES ${(esTotal / Math.max(1, agreeN)).toFixed(1)}, PostgreSQL ${(pgTotal / Math.max(1, agreeN)).toFixed(1)}`);

    // Where matchPharmacies' time goes, one request at a time: its Elasticsearch searches (wall and
    // `took`) and its PostgreSQL shelf reads, summed per request.
    const part = { es: 0, took: 0, shelf: 0, searches: 0 };
    const timedEs = new Proxy(es, {
      get(target, prop, receiver) {
        if (prop !== 'search') return Reflect.get(target, prop, receiver);
        return async (params: unknown, options?: unknown) => {
          const t0 = performance.now();
          const res = await (target.search as (p: unknown, o?: unknown) => Promise<{ took: number }>).call(target, params, options);
          part.es += performance.now() - t0;
          part.took += res.took;
          part.searches += 1;
          return res;
        };
      },
    });
    const timedShelves: typeof shelves = async (...args) => {
      const t0 = performance.now();
      try { return await shelves(...args); } finally { part.shelf += performance.now() - t0; }
    };
    const anatomy = { esWall: [] as number[], esTook: [] as number[], shelf: [] as number[], total: [] as number[], searches: [] as number[] };
    for (const m of w.matches.slice(0, agreeN)) {
      part.es = part.took = part.shelf = part.searches = 0;
      const t0 = performance.now();
      await matchPharmacies(timedEs, o.prefix, m, timedShelves);
      anatomy.total.push(performance.now() - t0);
      anatomy.esWall.push(part.es);
      anatomy.esTook.push(part.took);
      anatomy.shelf.push(part.shelf);
      anatomy.searches.push(part.searches);
    }
    const q = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return { p50: Math.round(percentile(s, 0.5) * 100) / 100, p99: Math.round(percentile(s, 0.99) * 100) / 100 }; };
    const esAnatomy = Object.fromEntries(Object.entries(anatomy).map(([k, v]) => [k, q(v)]));
    log(`matchPharmacies one at a time, p50/p99 ms: total ${esAnatomy.total.p50}/${esAnatomy.total.p99}; ES searches ${esAnatomy.esWall.p50}/${esAnatomy.esWall.p99} ` +
      `(took ${esAnatomy.esTook.p50}/${esAnatomy.esTook.p99}); PostgreSQL shelf reads ${esAnatomy.shelf.p50}/${esAnatomy.shelf.p99}; ` +
      `pages read p50/p99 ${esAnatomy.searches.p50}/${esAnatomy.searches.p99}`);

    // A few query plans and server-side execution times of the baseline, for the write-up.
    const plans: { request: object; executionMs: number | null; planningMs: number | null; plan?: string }[] = [];
    for (const [k, m] of w.matches.slice(0, 20).entries()) {
      const plan = await explainMatch(pool, m);
      plans.push({
        request: { lines: m.lines.length, openAtMinute: m.openAtMinute, needsColdChain: m.needsColdChain },
        executionMs: Number(/Execution Time: ([\d.]+)/.exec(plan)?.[1] ?? NaN), planningMs: Number(/Planning Time: ([\d.]+)/.exec(plan)?.[1] ?? NaN),
        ...(k < 3 ? { plan } : {}),
      });
    }

    const scenarios: Record<string, Scenario> = {
      search: { name: 'search', size: w.searches.length, tag: (i) => w.searches[i].kind, run: (i) => searchDrugs(es, o.prefix, w.searches[i].params) },
      'match-es': { name: 'match-es', size: w.matches.length, tag: (i) => w.matches[i].tag, run: (i) => matchPharmacies(es, o.prefix, w.matches[i], shelves) },
      'match-pg': { name: 'match-pg', size: w.matches.length, tag: (i) => w.matches[i].tag, run: (i) => matchPharmaciesPostgis(pool, w.matches[i]) },
    };
    const chosen = o.scenarios.map((s) => scenarios[s] ?? (() => { throw new Error(`unknown scenario ${s}`); })());

    for (const sc of chosen) {
      log(`warm-up ${sc.name} ${o.warmup} s`);
      await closedLoop(sc, Math.min(4, maxC), o.warmup, 0, took);
    }

    // Interleaved: at each concurrency, run 1 of every scenario, then run 2 of every scenario, …
    const results: { scenario: string; concurrency: number; runs: Stats[]; median: Omit<Stats, 'firstError' | 'max' | 'ops'>; byTag: Record<string, object>; esTookMs?: object }[] = [];
    let offset = 0;
    for (const c of o.concurrency) {
      const per = new Map<string, RunResult[]>();
      for (let r = 0; r < o.runs; r++) {
        for (const sc of chosen) {
          const res = await closedLoop(sc, c, o.duration, offset, took);
          offset += 997;   // each run starts elsewhere in the request list
          per.set(sc.name, [...(per.get(sc.name) ?? []), res]);
          log(`${sc.name.padEnd(9)} c=${String(c).padStart(2)} run ${r + 1}: ${res.stats.opsPerSec} ops/s  p50 ${res.stats.p50}  p95 ${res.stats.p95}  p99 ${res.stats.p99} ms  errors ${res.stats.errors}`);
        }
      }
      for (const sc of chosen) {
        const runs = per.get(sc.name)!;
        const byTagSamples = new Map<string, number[]>();
        for (const s of runs.flatMap((x) => x.samples)) {
          const key = sc.name === 'search' ? s.tag : s.tag.replace(' unanchored', '');
          byTagSamples.set(key, [...(byTagSamples.get(key) ?? []), s.ms]);
          if (sc.name !== 'search') {
            const t = s.tag.endsWith('03:00') || s.tag.includes('03:00') ? 'at 03:00' : 'at 10:30';
            byTagSamples.set(t, [...(byTagSamples.get(t) ?? []), s.ms]);
          }
        }
        const byTag = Object.fromEntries([...byTagSamples.entries()].sort(([a], [b]) => a.localeCompare(b))
          .map(([k, v]) => { const st = stats(v, 1000, 0); return [k, { n: st.ops, p50: st.p50, p95: st.p95, p99: st.p99 }]; }));
        const allTook = runs.flatMap((x) => x.esTookMs).sort((a, b) => a - b);
        results.push({
          scenario: sc.name, concurrency: c, runs: runs.map((x) => x.stats),
          median: {
            opsPerSec: median(runs.map((x) => x.stats.opsPerSec)), p50: median(runs.map((x) => x.stats.p50)),
            p95: median(runs.map((x) => x.stats.p95)), p99: median(runs.map((x) => x.stats.p99)), errors: runs.reduce((s, x) => s + x.stats.errors, 0),
          },
          byTag,
          ...(sc.name.endsWith('-pg') || !allTook.length ? {} :  { esTookMs: { p50: percentile(allTook, 0.5), p95: percentile(allTook, 0.95), p99: percentile(allTook, 0.99) } }),
        });
      }
    }
    const after = { pg: await pgWrites(), esIndexTotal: await esStats() };
    const quiet = Number(after.pg.q) === Number(before.pg.q) && String(after.pg.s) === String(before.pg.s) && after.esIndexTotal === before.esIndexTotal;

    // The table.
    const pad = (s: string | number, n: number) => String(s).padStart(n);
    console.log(`\nrxflow matching benchmark — ${env.date}, ${dataset.pharmacies} pharmacies, ${dataset.drugs} drugs, ${dataset.stockRows} stock rows; ` +
      `${o.duration} s per run, median of ${o.runs} run(s)`);
    console.log(`${'scenario'.padEnd(14)}${pad('conc', 5)}${pad('ops/s', 9)}${pad('p50 ms', 9)}${pad('p95 ms', 9)}${pad('p99 ms', 9)}${pad('errors', 8)}${pad('ES took p50/p99', 17)}`);
    for (const r of results) {
      const t = r.esTookMs as { p50: number; p99: number } | undefined;
      console.log(`${r.scenario.padEnd(14)}${pad(r.concurrency, 5)}${pad(r.median.opsPerSec, 9)}${pad(r.median.p50, 9)}${pad(r.median.p95, 9)}${pad(r.median.p99, 9)}${pad(r.median.errors, 8)}${pad(t ? `${t.p50}/${t.p99}` : '', 17)}`);
    }
    console.log(`agreement (${agreeN} requests): same candidate set ${(100 * (agreement.sameSetRate ?? 0)).toFixed(1)}%, ` +
      `mirroring the ES cut ${(100 * (agreement.sameSetRateMirroringEs ?? 0)).toFixed(1)}%, same first choice ${(100 * (agreement.sameTopRate ?? 0)).toFixed(1)}%`);
    console.log(`writes during the run: ${quiet ? 'none (sync queue, stock and the ES index unchanged)' : 'YES — results may mix projection lag'}`);

    mkdirSync(o.out, { recursive: true });
    const file = path.join(o.out, `${env.date.replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, JSON.stringify({ options: { ...o, db: dataset.db }, env, dataset, setup, agreement, esAnatomy, baselinePlans: plans, quiet, before, after, results }, null, 2));
    console.log(`results: ${path.relative(process.cwd(), file)}`);
  } finally {
    await pool.end();
    await es.close();
  }
}

if (require.main === module) main().catch((e) => { console.error(e); process.exit(1); });
