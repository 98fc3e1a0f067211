// The bulk loader: NDJSON files (catalog/generate.ts, or a supplier's feed in the same shape) into
// PostgreSQL, the source of truth, and PostgreSQL into Elasticsearch. Documents are built by the
// catalogue's own functions (drugDocument, stockDocuments in catalog/ingest.ts), so the loader never
// decides what a document looks like. Usage and measured rates: docs/catalogue-data.md.
//
//   PostgreSQL   batched multi-row upserts (one JSON parameter per batch, one transaction per batch);
//                rows whose content did not change are left alone, updated_at included
//   Elasticsearch keyset pagination over PostgreSQL → the client's bulk helper; documents rejected
//                with 429 / es_rejected_execution_exception are sent again with backoff, other
//                failures are collected with their reasons
//   --incremental only drugs and pharmacies changed since the last successful run of the same target
//                (watermark per alias in catalog_sync_state)
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { Client } from '@elastic/elasticsearch';
import type { EntityManager, Knex, MikroORM } from '@mikro-orm/postgresql';
import type { Drug } from '../domain/types';
import { aliasTargets, drugAlias, ensureCatalogIndices, stockAlias } from './indices';
import { drugDocument, stockDocuments } from './ingest';
import { FILES } from './generate';

// ————————————————————————————————————————————— options ——————————————————————————————————————————————————

export interface LoadOptions {
  orm: MikroORM;
  es: Client;
  /** Index prefix: documents go to drugAlias(prefix) and stockAlias(prefix). */
  prefix: string;
  /** A directory with drugs/pharmacies/stock.ndjson, or 'postgres' to index what PostgreSQL holds. */
  from: string;
  incremental: boolean;
  /** Rows per PostgreSQL statement (and transaction). */
  batchSize?: number;
  /** PostgreSQL statements in flight at once. */
  pgConcurrency?: number;
  /** Pharmacy ids per stockDocuments() call. */
  pharmacyBatch?: number;
  /** Bulk request size and requests in flight. */
  flushBytes?: number;
  esConcurrency?: number;
  /** Rounds of re-sending rejected documents, and the first wait (doubles each round). */
  maxRetries?: number;
  retryBaseMs?: number;
  /** Failures kept with their details (all are counted). */
  keepFailures?: number;
  progress?: ProgressSink;
}

export const LOAD_DEFAULTS = {
  batchSize: 5000, pgConcurrency: 2, pharmacyBatch: 200, flushBytes: 5_000_000, esConcurrency: 2,
  maxRetries: 6, retryBaseMs: 500, keepFailures: 20,
} as const;

export interface TableSummary {
  table: 'drug' | 'pharmacy' | 'stock'; file: string; read: number; inserted: number; updated: number;
  unchanged: number; rejected: number; ms: number; rowsPerSec: number;
}
export interface TargetSummary {
  target: 'drugs' | 'stock'; alias: string; index: string; mode: 'full' | 'incremental'; since: string | null;
  /** Documents Elasticsearch accepted (after retries). */
  indexed: number; failed: number; retried: number; bytes: number; ms: number; docsPerSec: number;
  watermark: string | null;
}
export interface Failure { stage: 'postgres' | 'elasticsearch'; target: string; id: string; reason: string }
export interface LoadSummary {
  ok: boolean; from: string; prefix: string; incremental: boolean;
  postgres: TableSummary[]; elasticsearch: TargetSummary[];
  failureCount: number; failuresByReason: Record<string, number>; failures: Failure[];
  ms: number;
}

// ———————————————————————————————————————————— progress ——————————————————————————————————————————————————

export interface ProgressBar { add(n: number): void; set(done: number): void; done(): void }
export type ProgressSink = (label: string, total: number | null) => ProgressBar;

const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
const fmtSecs = (ms: number) => (ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms < 120_000 ? `${Math.round(ms / 1000)} s` : `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`);

/**
 * A progress bar on a terminal (redrawn at most 10× a second), or a plain line every 10 s when stderr
 * is a file or a pipe; `null` stream: silent.
 */
export function progressOn(out: NodeJS.WriteStream | null): ProgressSink {
  return (label, total) => {
    let done = 0;
    const started = Date.now();
    const tty = !!out?.isTTY;
    let last = tty ? 0 : started;
    const render = (final: boolean) => {
      if (!out) return;
      const now = Date.now();
      if (!final && now - last < (tty ? 100 : 10_000)) return;
      last = now;
      const secs = Math.max((now - started) / 1000, 0.001);
      const rate = done / secs;
      let line = `${label.padEnd(24)} `;
      if (total) {
        const f = Math.min(done / total, 1);
        const width = 28;
        const full = Math.round(f * width);
        const eta = rate > 0 && !final ? ` eta ${fmtSecs(((total - done) / rate) * 1000)}` : '';
        line += `[${'█'.repeat(full)}${'░'.repeat(width - full)}] ${(f * 100).toFixed(1).padStart(5)}% ${fmtInt(done)}/${fmtInt(total)}`;
        line += ` ${fmtInt(rate)}/s${eta}`;
      } else {
        line += `${fmtInt(done)} ${fmtInt(rate)}/s`;
      }
      if (final) line += ` ${fmtSecs(now - started)}`;
      out.write(tty ? `\r${line}\x1b[K${final ? '\n' : ''}` : `${line}\n`);
    };
    return {
      add(n) { done += n; render(false); },
      set(n) { done = n; render(false); },
      done() { render(true); },
    };
  };
}
const silent: ProgressSink = () => ({ add() {}, set() {}, done() {} });

// ———————————————————————————————————————————— failures ——————————————————————————————————————————————————

class Failures {
  readonly kept: Failure[] = [];
  count = 0;
  readonly byReason: Record<string, number> = {};
  constructor(private readonly keep: number) {}
  add(f: Failure, kind: string): void {
    this.count++;
    this.byReason[kind] = (this.byReason[kind] ?? 0) + 1;
    if (this.kept.length < this.keep) this.kept.push(f);
  }
}

// ———————————————————————————————————————— NDJSON → PostgreSQL ————————————————————————————————————————————

interface Line { no: number; text: string }

/** The file's non-empty lines in batches, read with backpressure (never the whole file in memory). */
async function* lineBatches(file: string, size: number): AsyncGenerator<Line[]> {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  let no = 0;
  let batch: Line[] = [];
  const push = (text: string) => {
    no++;
    if (text.trim() !== '') batch.push({ no, text });
  };
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    const parts = (rest + decoder.write(chunk as Buffer)).split('\n');
    rest = parts.pop()!;
    for (const p of parts) {
      push(p);
      if (batch.length >= size) { yield batch; batch = []; }
    }
  }
  rest += decoder.end();
  if (rest !== '') push(rest);
  if (batch.length) yield batch;
}

const isStr = (v: unknown, max = 200) => typeof v === 'string' && v.length > 0 && v.length <= max;
const isInt = (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 2_147_483_647;
const isNum = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
const isBool = (v: unknown) => typeof v === 'boolean';
const isTime = (v: unknown) => typeof v === 'string' && /^([01]\d|2[0-4]):[0-5]\d$/.test(v);

interface TableSpec {
  table: TableSummary['table'];
  file: string;
  /** Why the row cannot be loaded, or null. */
  invalid(o: any): string | null;
  key(o: any): string;
  /** One statement: `?` is the batch as a JSON array; returns total, inserted, updated, rejected, unmatched. */
  sql: string;
}

const DRUG_SQL = `
with r as (select value as data from jsonb_array_elements(?::jsonb)),
u as (
  insert into drug (code, generic_name_zh, data, updated_at)
  select data->>'code', data->>'genericNameZh', data, now() from r
  on conflict (code) do update set generic_name_zh = excluded.generic_name_zh, data = excluded.data, updated_at = now()
  where drug.data is distinct from excluded.data
  returning (xmax = 0) as inserted)
select (select count(*) from r)::int as total,
       (select count(*) from u where inserted)::int as inserted,
       (select count(*) from u where not inserted)::int as updated,
       0 as rejected, null::json as unmatched`;

const PHARMACY_COLUMNS = ['name', 'city', 'district', 'address', 'lat', 'lng', 'phone', 'opening_hours', 'is24h', 'cold_chain', 'kind', 'promised_minutes', 'delivery_radius_km'];
const PHARMACY_SQL = `
with r as (
  select * from json_to_recordset(?::json) as r(code text, name text, city text, district text, address text, lat float8, lng float8,
    phone text, "openingHours" jsonb, "is24h" boolean, "coldChain" boolean, kind text, "promisedMinutes" int, "deliveryRadiusKm" float8)),
u as (
  insert into pharmacy (id, code, ${PHARMACY_COLUMNS.join(', ')}, updated_at)
  select gen_random_uuid(), code, name, city, district, address, lat, lng, phone, "openingHours", "is24h", "coldChain", kind,
         "promisedMinutes", coalesce("deliveryRadiusKm", 5), now() from r
  on conflict (code) do update set ${PHARMACY_COLUMNS.map((c) => `${c} = excluded.${c}`).join(', ')}, updated_at = now()
  where (${PHARMACY_COLUMNS.map((c) => `pharmacy.${c}`).join(', ')}) is distinct from (${PHARMACY_COLUMNS.map((c) => `excluded.${c}`).join(', ')})
  returning (xmax = 0) as inserted)
select (select count(*) from r)::int as total,
       (select count(*) from u where inserted)::int as inserted,
       (select count(*) from u where not inserted)::int as updated,
       0 as rejected, null::json as unmatched`;

// A stock row never drops below what is reserved (the check constraint): a feed that reports fewer
// units than orders in flight keeps the reserved ones on the shelf until they are released.
const STOCK_SQL = `
with r as (
  select * from json_to_recordset(?::json) as r("pharmacyCode" text, "drugCode" text, "onHand" int, "priceFen" int)),
m as (
  select r.*, p.id as pharmacy_id, d.code as drug_code from r
  left join pharmacy p on p.code = r."pharmacyCode" left join drug d on d.code = r."drugCode"),
u as (
  insert into stock (pharmacy_id, drug_code, on_hand, reserved, price_fen, updated_at)
  select pharmacy_id, drug_code, "onHand", 0, "priceFen", now() from m where pharmacy_id is not null and drug_code is not null
  on conflict (pharmacy_id, drug_code) do update
    set on_hand = greatest(excluded.on_hand, stock.reserved), price_fen = excluded.price_fen, updated_at = now()
  where stock.on_hand is distinct from greatest(excluded.on_hand, stock.reserved) or stock.price_fen is distinct from excluded.price_fen
  returning (xmax = 0) as inserted)
select (select count(*) from r)::int as total,
       (select count(*) from u where inserted)::int as inserted,
       (select count(*) from u where not inserted)::int as updated,
       (select count(*) from m where pharmacy_id is null or drug_code is null)::int as rejected,
       (select json_agg(x) from (select "pharmacyCode", "drugCode", pharmacy_id is null as "noPharmacy" from m
          where pharmacy_id is null or drug_code is null limit 5) x) as unmatched`;

const TABLES: TableSpec[] = [
  {
    table: 'drug', file: FILES.drugs, sql: DRUG_SQL,
    key: (o) => o.code,
    invalid: (o) => (!isStr(o?.code, 40) ? 'code missing or longer than 40' : !isStr(o.genericNameZh, 120) ? 'genericNameZh missing or longer than 120' : null),
  },
  {
    table: 'pharmacy', file: FILES.pharmacies, sql: PHARMACY_SQL,
    key: (o) => o.code,
    invalid: (o) =>
      !isStr(o?.code, 40) ? 'code missing or longer than 40'
      : !isStr(o.name, 120) || !isStr(o.city, 40) || !isStr(o.district, 40) || !isStr(o.address, 200) || !isStr(o.phone, 40) ? 'name, city, district, address or phone missing or too long'
      : !isNum(o.lat) || !isNum(o.lng) || Math.abs(o.lat) > 90 || Math.abs(o.lng) > 180 ? 'lat/lng not a coordinate'
      : !isTime(o.openingHours?.open) || !isTime(o.openingHours?.close) ? 'openingHours not HH:MM'
      : !isBool(o.is24h) || !isBool(o.coldChain) ? 'is24h/coldChain not boolean'
      : !['retail', 'tcm', 'dtp'].includes(o.kind) ? 'kind not retail/tcm/dtp'
      : !isInt(o.promisedMinutes) ? 'promisedMinutes not an integer'
      : o.deliveryRadiusKm !== undefined && !(isNum(o.deliveryRadiusKm) && o.deliveryRadiusKm > 0) ? 'deliveryRadiusKm not positive'
      : null,
  },
  {
    table: 'stock', file: FILES.stock, sql: STOCK_SQL,
    key: (o) => `${o.pharmacyCode}\u0000${o.drugCode}`,
    invalid: (o) =>
      !isStr(o?.pharmacyCode, 40) || !isStr(o.drugCode, 40) ? 'pharmacyCode/drugCode missing'
      : !isInt(o.onHand) || !isInt(o.priceFen) ? 'onHand/priceFen not a non-negative integer'
      : null,
  },
];

/** Runs at most `max` tasks at once; the first error stops further submissions and is rethrown. */
class Limiter {
  private readonly running = new Set<Promise<void>>();
  private error: unknown = null;
  constructor(private readonly max: number) {}
  async run(task: () => Promise<void>): Promise<void> {
    if (this.error) throw this.error;
    const p: Promise<void> = task()
      .catch((e) => { this.error ??= e; })
      .finally(() => { this.running.delete(p); });
    this.running.add(p);
    while (this.running.size >= this.max) await Promise.race(this.running);
    if (this.error) throw this.error;
  }
  async drain(): Promise<void> {
    await Promise.all([...this.running]);
    if (this.error) throw this.error;
  }
}

/** Expected rows per file, from the generator's manifest (for the progress bar), when there is one. */
function manifestRows(dir: string): Record<string, number> {
  try {
    const m = JSON.parse(readFileSync(path.join(dir, FILES.manifest), 'utf8'));
    return Object.fromEntries(Object.entries(m.files ?? {}).map(([f, s]) => [f, (s as { rows: number }).rows]));
  } catch {
    return {};
  }
}

async function loadTable(knex: Knex, dir: string, spec: TableSpec, o: Required<Omit<LoadOptions, 'orm' | 'es' | 'progress'>> & { progress: ProgressSink }, failures: Failures, expected?: number): Promise<TableSummary> {
  const file = path.join(dir, spec.file);
  const started = Date.now();
  const s: TableSummary = { table: spec.table, file, read: 0, inserted: 0, updated: 0, unchanged: 0, rejected: 0, ms: 0, rowsPerSec: 0 };
  const bar = o.progress(`postgres ${spec.table}`, expected ?? null);
  const limiter = new Limiter(o.pgConcurrency);
  for await (const lines of lineBatches(file, o.batchSize)) {
    // Validate here so one bad line costs itself, not its batch; the last duplicate of a key wins.
    const rows = new Map<string, string>();
    for (const l of lines) {
      let obj: unknown;
      let reason: string | null;
      try {
        obj = JSON.parse(l.text);
        reason = spec.invalid(obj);
      } catch (e) {
        reason = `not JSON: ${(e as Error).message}`;
      }
      if (reason) {
        s.rejected++;
        failures.add({ stage: 'postgres', target: spec.table, id: `${spec.file}:${l.no}`, reason }, `${spec.table}: invalid row`);
      } else {
        rows.set(spec.key(obj), l.text);
      }
    }
    s.read += lines.length;
    if (!rows.size) { bar.add(lines.length); continue; }
    const json = `[${[...rows.values()].join(',')}]`;
    const n = lines.length;
    await limiter.run(async () => {
      const r = await knex.transaction(async (trx) => (await trx.raw(spec.sql, [json])).rows[0]);
      s.inserted += r.inserted;
      s.updated += r.updated;
      s.unchanged += r.total - r.inserted - r.updated - r.rejected;
      s.rejected += r.rejected;
      for (const u of r.unmatched ?? []) {
        failures.add({ stage: 'postgres', target: spec.table, id: `${u.pharmacyCode}/${u.drugCode}`, reason: u.noPharmacy ? 'unknown pharmacy code' : 'unknown drug code' },
          `stock: unknown ${u.noPharmacy ? 'pharmacy' : 'drug'}`);
      }
      // Unmatched rows beyond the first five per batch are counted without details.
      const untold = r.rejected - (r.unmatched?.length ?? 0);
      for (let i = 0; i < untold; i++) failures.add({ stage: 'postgres', target: spec.table, id: '?', reason: 'unknown pharmacy or drug code' }, 'stock: unknown pharmacy or drug');
      bar.add(n);
    });
  }
  await limiter.drain();
  bar.done();
  s.ms = Date.now() - started;
  s.rowsPerSec = s.read / Math.max(s.ms / 1000, 0.001);
  return s;
}

// ———————————————————————————————————————— PostgreSQL → Elasticsearch ————————————————————————————————————

/**
 * The time an incremental sync starts from: now, or the start of the oldest transaction still open
 * in this database, whichever is earlier. A transaction that began before this run and commits after
 * it has read stamps its rows with its own start time, so the next run still finds them.
 */
async function syncStartTime(knex: Knex): Promise<string> {
  const { rows } = await knex.raw(`
    select least(now(), coalesce((select min(xact_start) from pg_stat_activity
      where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend' and xact_start is not null), now()))::text as t`);
  return rows[0].t;
}
async function readWatermark(knex: Knex, name: string): Promise<string | null> {
  const { rows } = await knex.raw(`select watermark::text as watermark from catalog_sync_state where name = ?`, [name]);
  return rows[0]?.watermark ?? null;
}
async function writeWatermark(knex: Knex, name: string, at: string): Promise<void> {
  await knex.raw(`insert into catalog_sync_state (name, watermark, updated_at) values (?, ?::timestamptz, now())
    on conflict (name) do update set watermark = excluded.watermark, updated_at = now()`, [name, at]);
}

/** Pages of a keyset-paginated query, the next page fetched while the current one is consumed. */
async function* keysetPages<R, K>(fetch: (after: K | null) => Promise<R[]>, keyOf: (r: R) => K): AsyncGenerator<R[]> {
  let page = await fetch(null);
  while (page.length) {
    const next = fetch(keyOf(page[page.length - 1]));
    next.catch(() => {}); // rethrown when awaited below
    yield page;
    page = await next;
  }
}

const isRetryable = (status: number, type?: string) => status === 429 || type === 'es_rejected_execution_exception';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface BulkResult { indexed: number; failed: number; retried: number; bytes: number }

/**
 * Indexes `source` through the bulk helper. Documents Elasticsearch rejects for load (429,
 * es_rejected_execution_exception) are collected and sent again after 0.5 s, 1 s, 2 s, … (with
 * jitter); anything else is a failure with its reason. `es` only needs `helpers.bulk`.
 */
export async function bulkWithRetry<T extends object>(
  es: Pick<Client, 'helpers'>, index: string, source: AsyncIterable<T> | T[], idOf: (d: T) => string,
  o: { flushBytes: number; concurrency: number; maxRetries: number; retryBaseMs: number; onIndexed?: (n: number) => void; onFailure: (id: string, reason: string, kind: string) => void },
): Promise<BulkResult> {
  const result: BulkResult = { indexed: 0, failed: 0, retried: 0, bytes: 0 };
  let rejected: T[] = [];
  const send = async (datasource: AsyncIterable<T> | T[]) => {
    let reported = 0;
    const stats = await es.helpers.bulk<T>({
      datasource: datasource as never,
      onDocument: (d) => ({ index: { _index: index, _id: idOf(d) } }),
      flushBytes: o.flushBytes,
      concurrency: o.concurrency,
      retries: 0, // rejected documents come back through onDrop; retried below with backoff
      onDrop: (drop) => {
        if (isRetryable(drop.status, drop.error?.type)) {
          rejected.push(drop.document);
        } else {
          result.failed++;
          const type = drop.error?.type ?? `HTTP ${drop.status}`;
          o.onFailure(idOf(drop.document), `${type}: ${drop.error?.reason ?? ''}`.trim(), type);
        }
      },
      onFlush: (st) => {
        o.onIndexed?.(st.successful - reported);
        reported = st.successful;
      },
    });
    result.indexed += stats.successful;
    result.bytes += stats.bytes;
    o.onIndexed?.(stats.successful - reported);
  };
  await send(source);
  for (let attempt = 1; rejected.length && attempt <= o.maxRetries; attempt++) {
    const again = rejected;
    rejected = [];
    result.retried += again.length;
    const backoff = o.retryBaseMs * 2 ** (attempt - 1);
    await sleep(backoff + Math.random() * backoff * 0.2);
    await send(again);
  }
  for (const d of rejected) {
    result.failed++;
    o.onFailure(idOf(d), `es_rejected_execution_exception: still rejected after ${o.maxRetries} retries`, 'es_rejected_execution_exception');
  }
  return result;
}

type Resolved = Required<Omit<LoadOptions, 'progress'>> & { progress: ProgressSink };

async function syncTarget(
  o: Resolved, failures: Failures, target: TargetSummary['target'],
  docs: (since: string | null) => AsyncIterable<object>, count: (since: string | null) => Promise<number>, idOf: (d: any) => string,
): Promise<TargetSummary> {
  const knex = o.orm.em.getKnex();
  const alias = target === 'drugs' ? drugAlias(o.prefix) : stockAlias(o.prefix);
  const started = Date.now();
  const startAt = await syncStartTime(knex);
  // The watermark belongs to the concrete index behind the alias, by name and uuid (es:<index>/<uuid>):
  // an index deleted and created again, or rebuilt behind the alias (catalog/reindex.ts), has none
  // and gets everything.
  const [index] = await aliasTargets(o.es, alias);
  if (!index) throw new Error(`no index behind the alias ${alias}`);
  const settings = await o.es.indices.getSettings({ index, name: 'index.uuid', flat_settings: true });
  const name = `es:${index}/${(settings[index]?.settings as Record<string, string> | undefined)?.['index.uuid']}`;
  const since = o.incremental ? await readWatermark(knex, name) : null;
  const bar = o.progress(`elasticsearch ${target}`, await count(since));
  const r = await bulkWithRetry(o.es, alias, docs(since), idOf, {
    flushBytes: o.flushBytes, concurrency: o.esConcurrency, maxRetries: o.maxRetries, retryBaseMs: o.retryBaseMs,
    onIndexed: (n) => bar.add(n),
    onFailure: (id, reason, kind) => failures.add({ stage: 'elasticsearch', target: alias, id, reason }, `${target}: ${kind}`),
  });
  await o.es.indices.refresh({ index: alias });
  bar.done();
  // The watermark moves only when every document made it; otherwise the next run sends them again.
  if (r.failed === 0) await writeWatermark(knex, name, startAt);
  const ms = Date.now() - started;
  return {
    target, alias, index, mode: since ? 'incremental' : 'full', since,
    indexed: r.indexed, failed: r.failed, retried: r.retried, bytes: r.bytes, ms, docsPerSec: r.indexed / Math.max(ms / 1000, 0.001),
    watermark: r.failed === 0 ? startAt : null,
  };
}

function drugSource(knex: Knex, since: string | null, pageSize: number): AsyncIterable<object> {
  const pages = keysetPages<{ code: string; data: Drug }, string>(async (after) => {
    const where: string[] = [];
    const params: unknown[] = [];
    if (after !== null) { where.push('code > ?'); params.push(after); }
    if (since) { where.push('updated_at > ?::timestamptz'); params.push(since); }
    const { rows } = await knex.raw(`select code, data from drug ${where.length ? `where ${where.join(' and ')}` : ''} order by code limit ?`, [...params, pageSize]);
    return rows;
  }, (r) => r.code);
  return (async function* () {
    for await (const page of pages) for (const r of page) yield drugDocument(r.data);
  })();
}

/** Pharmacies changed since `since`: the row itself, or any of its stock rows. */
function changedPharmacies(since: string | null): { sql: string; params: unknown[] } {
  return since
    ? { sql: '(p.updated_at > ?::timestamptz or p.id in (select s.pharmacy_id from stock s where s.updated_at > ?::timestamptz))', params: [since, since] }
    : { sql: 'true', params: [] };
}

// ————————————————————————————————————————————— the run ——————————————————————————————————————————————————

export class LoadInputError extends Error {}

export async function runLoad(opts: LoadOptions): Promise<LoadSummary> {
  const o: Resolved = {
    ...LOAD_DEFAULTS,
    ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)),
    progress: opts.progress ?? silent,
  } as Resolved;
  const started = Date.now();
  const knex = o.orm.em.getKnex();
  const failures = new Failures(o.keepFailures);

  const { rows: [state] } = await knex.raw(`select to_regclass('catalog_sync_state') as t`);
  if (!state.t) throw new Error('the database has no catalog_sync_state table: run `node --import tsx db/cli.ts migrate` against it first');

  const postgres: TableSummary[] = [];
  if (o.from !== 'postgres') {
    const expected = manifestRows(o.from);
    for (const spec of TABLES) {
      if (!existsSync(path.join(o.from, spec.file))) continue;
      postgres.push(await loadTable(knex, o.from, spec, o, failures, expected[spec.file]));
    }
  }

  await ensureCatalogIndices(o.es, o.prefix);

  const countDrugs = async (since: string | null) =>
    Number((await knex.raw(`select count(*) as n from drug ${since ? 'where updated_at > ?::timestamptz' : ''}`, since ? [since] : [])).rows[0].n);
  const countPharmacies = async (since: string | null) => {
    const c = changedPharmacies(since);
    return Number((await knex.raw(`select count(*) as n from pharmacy p where ${c.sql}`, c.params)).rows[0].n);
  };
  const elasticsearch: TargetSummary[] = [
    await syncTarget(o, failures, 'drugs', (since) => drugSource(knex, since, 2000), countDrugs, (d) => d.code),
    await syncTarget(o, failures, 'stock', (since) => stockDocs(o, since), countPharmacies, (d) => d.code),
  ];

  return {
    ok: failures.count === 0, from: o.from, prefix: o.prefix, incremental: o.incremental,
    postgres, elasticsearch,
    failureCount: failures.count, failuresByReason: failures.byReason, failures: failures.kept,
    ms: Date.now() - started,
  };
}

/** Stock documents of the (changed) pharmacies, `pharmacyBatch` ids per stockDocuments() call. */
function stockDocs(o: Resolved, since: string | null): AsyncIterable<object> {
  const knex = o.orm.em.getKnex();
  const changed = changedPharmacies(since);
  const pages = keysetPages<{ lastId: string; docs: object[] }, string>(async (after) => {
    const { rows } = await knex.raw(
      `select p.id from pharmacy p where ${changed.sql} ${after !== null ? 'and p.id > ?' : ''} order by p.id limit ?`,
      [...changed.params, ...(after !== null ? [after] : []), o.pharmacyBatch]);
    if (!rows.length) return [];
    const ids: string[] = rows.map((r: { id: string }) => r.id);
    return [{ lastId: ids[ids.length - 1], docs: await stockDocuments(o.orm.em.fork() as EntityManager, ids) }];
  }, (page) => page.lastId);
  return (async function* () {
    for await (const [page] of pages) yield* page.docs;
  })();
}

// ———————————————————————————————————————————— the report ————————————————————————————————————————————————

export function formatSummary(s: LoadSummary): string {
  const out: string[] = [];
  out.push(`load from ${s.from} → index prefix ${s.prefix}${s.incremental ? ' (incremental)' : ''}: ${s.ok ? 'ok' : 'FAILED'} in ${fmtSecs(s.ms)}`);
  if (s.postgres.length) {
    out.push('PostgreSQL');
    for (const t of s.postgres) {
      out.push(`  ${t.table.padEnd(9)} ${fmtInt(t.read).padStart(10)} rows read   ${fmtInt(t.inserted).padStart(10)} inserted ${fmtInt(t.updated).padStart(9)} updated ${fmtInt(t.unchanged).padStart(10)} unchanged ${fmtInt(t.rejected).padStart(6)} rejected   ${fmtSecs(t.ms).padStart(8)}  ${fmtInt(t.rowsPerSec).padStart(8)} rows/s`);
    }
  }
  out.push('Elasticsearch');
  for (const t of s.elasticsearch) {
    const since = t.mode === 'incremental' ? ` since ${t.since}` : '';
    out.push(`  ${`${t.alias} (${t.index})`.padEnd(48)} ${t.mode}${since}: ${fmtInt(t.indexed)} documents, ${fmtInt(t.failed)} failed, ${fmtInt(t.retried)} retried, ${(t.bytes / 1e6).toFixed(1)} MB, ${fmtSecs(t.ms)}, ${fmtInt(t.docsPerSec)} docs/s`);
  }
  if (s.failureCount) {
    out.push(`failures: ${fmtInt(s.failureCount)}`);
    for (const [kind, n] of Object.entries(s.failuresByReason)) out.push(`  ${fmtInt(n).padStart(8)}  ${kind}`);
    out.push(`first ${s.failures.length}:`);
    for (const f of s.failures) out.push(`  ${f.stage} ${f.target} ${f.id}: ${f.reason}`);
  }
  return out.join('\n');
}
