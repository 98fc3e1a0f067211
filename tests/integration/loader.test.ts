// The bulk loader (catalog/cli.ts load) against the real PostgreSQL and Elasticsearch: a generated set
// into a database and an index prefix of its own (the engine under test must not see it: its outbox
// would index the generated pharmacies), incremental runs, bad input and bad arguments. The demo
// catalogue loaded beside it (RX… drugs, PH… pharmacies) must come out untouched.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@elastic/elasticsearch';
import type { MikroORM, EntityManager } from '@mikro-orm/postgresql';
import { openOrm, migrate } from '../../db/orm';
import { generateStock, loadDemoData, upsertCatalogue } from '../../catalog/ingest';
import { applyTestEnv } from './env';
import { drugAlias, stockAlias } from '../../catalog/indices';
import { bulkWithRetry, type LoadSummary } from '../../catalog/loader';

applyTestEnv();
const ROOT = path.resolve(__dirname, '../..');
/** <test database>_loader, created and migrated here. */
const LOADER_DB = process.env.DATABASE_URL!.replace(/\/([^/?]+)(\?.*)?$/, '/$1_loader$2');
let orm: MikroORM;
const sql = async (q: string, params: unknown[] = []): Promise<any[]> => orm.em.fork().getConnection().execute(q, params);
const PREFIX = 'rxtest-loader';
const SKUS = 2000;
const PHARMACIES = 50;

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'catalog/cli.ts', ...args], { cwd: ROOT, env: { ...process.env, DATABASE_URL: LOADER_DB } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
async function load(...args: string[]): Promise<LoadSummary> {
  const r = await cli(['load', '--index-prefix', PREFIX, '--json', '--quiet', ...args]);
  if (r.code !== 0) throw new Error(`load exited ${r.code}: ${r.stderr}\n${r.stdout}`);
  return JSON.parse(r.stdout);
}
const target = (s: LoadSummary, t: 'drugs' | 'stock') => s.elasticsearch.find((e) => e.target === t)!;
const table = (s: LoadSummary, t: 'drug' | 'pharmacy' | 'stock') => s.postgres.find((p) => p.table === t)!;
const count = async (q: string, params: unknown[] = []) => Number((await sql(q, params))[0].n);

const es = new Client({ node: process.env.ELASTICSEARCH_URL ?? 'http://127.0.0.1:19200' });
const tmp = mkdtempSync(path.join(os.tmpdir(), 'rxflow-loader-'));
const dataDir = path.join(tmp, 'data');

async function dropOwnIndices(): Promise<void> {
  const existing = Object.keys(await es.indices.get({ index: `${PREFIX}-*`, allow_no_indices: true }));
  if (existing.length) await es.indices.delete({ index: existing });
}
const esCount = async (alias: string) => (await es.count({ index: alias })).count;

// What the other tests rely on, before anything is loaded.
let demoBefore: unknown[];
const demoSnapshot = () => sql(`
  select 'drug' as t, code as k, updated_at::text as v from drug where code like 'RX%'
  union all select 'pharmacy', code, md5(row(name, city, district, address, lat, lng, phone, opening_hours, is24h, cold_chain, kind, promised_minutes)::text) from pharmacy where code like 'PH%'
  union all select 'stock', p.code || '/' || s.drug_code, s.on_hand || '/' || s.reserved || '/' || s.price_fen || '/' || s.updated_at::text
    from stock s join pharmacy p on p.id = s.pharmacy_id where p.code like 'PH%'
  order by 1, 2`);

beforeAll(async () => {
  const admin = await openOrm(LOADER_DB.replace(/\/[^/]+$/, '/postgres'));
  const name = new URL(LOADER_DB).pathname.slice(1);
  const [exists] = await admin.em.getConnection().execute(`select 1 as x from pg_database where datname = ?`, [name]);
  if (!exists) await admin.em.getConnection().execute(`create database "${name}"`);
  await admin.close();
  orm = await openOrm(LOADER_DB);
  await orm.em.getConnection().execute('drop schema if exists public cascade; create schema public;');
  await migrate(orm);
  const { drugs, pharmacies } = await loadDemoData();
  await upsertCatalogue(orm.em.fork() as EntityManager, drugs, pharmacies, generateStock(drugs, pharmacies));
  await dropOwnIndices();
  await sql(`delete from catalog_sync_state where name like ?`, [`es:${PREFIX}-%`]);
  demoBefore = await demoSnapshot();
});
afterAll(async () => {
  await dropOwnIndices();
  await es.close();
  await orm.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('catalogue bulk loader', () => {
  let stockLines: number;

  it('generates a small set and prints its counts and checksums', async () => {
    const r = await cli(['generate', '--out', dataDir, '--skus', String(SKUS), '--pharmacies', String(PHARMACIES), '--json', '--quiet']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.files['drugs.ndjson'].rows).toBe(SKUS);
    expect(s.files['pharmacies.ndjson'].rows).toBe(PHARMACIES);
    expect(s.files['stock.ndjson'].sha256).toMatch(/^[0-9a-f]{64}$/);
    stockLines = s.files['stock.ndjson'].rows;
    expect(stockLines).toBeGreaterThan(PHARMACIES * 300);
  });

  it('loads the files into PostgreSQL and everything PostgreSQL holds into Elasticsearch', async () => {
    const s = await load('--from', dataDir);
    expect(s.ok).toBe(true);
    expect(s.failureCount).toBe(0);
    // The demo drugs are in the files unchanged, so their rows are left alone.
    expect(table(s, 'drug')).toMatchObject({ read: SKUS, inserted: SKUS - 269, updated: 0, unchanged: 269, rejected: 0 });
    expect(table(s, 'pharmacy')).toMatchObject({ read: PHARMACIES, inserted: PHARMACIES, rejected: 0 });
    expect(table(s, 'stock')).toMatchObject({ read: stockLines, inserted: stockLines, rejected: 0 });

    expect(await count(`select count(*) as n from drug where code like 'G%'`)).toBe(SKUS - 269);
    expect(await count(`select count(*) as n from pharmacy where code like 'PG%'`)).toBe(PHARMACIES);
    expect(await count(`select count(*) as n from stock s join pharmacy p on p.id = s.pharmacy_id where p.code like 'PG%'`)).toBe(stockLines);

    const drugs = await count(`select count(*) as n from drug`);
    const pharmacies = await count(`select count(*) as n from pharmacy`);
    expect(pharmacies).toBe(PHARMACIES + 60);
    expect(target(s, 'drugs')).toMatchObject({ mode: 'full', indexed: drugs, failed: 0 });
    expect(target(s, 'stock')).toMatchObject({ mode: 'full', indexed: pharmacies, failed: 0 });
    expect(await esCount(drugAlias(PREFIX))).toBe(drugs);
    expect(await esCount(stockAlias(PREFIX))).toBe(pharmacies);

    // A generated pharmacy's document lists what PostgreSQL says it has available.
    const [{ id }] = await sql(`select id from pharmacy where code = 'PG000001'`);
    const available = await count(`select count(*) as n from stock where pharmacy_id = ? and on_hand - reserved > 0`, [id]);
    const doc = (await es.get<{ drugCodes: string[] }>({ index: stockAlias(PREFIX), id: 'PG000001' }))._source!;
    expect(doc.drugCodes).toHaveLength(available);
  });

  it('leaves the demo catalogue as it was', async () => {
    expect(await demoSnapshot()).toEqual(demoBefore);
  });

  it('indexes everything again on a full run from PostgreSQL', async () => {
    const s = await load('--from', 'postgres');
    expect(s.postgres).toEqual([]);
    expect(target(s, 'drugs')).toMatchObject({ mode: 'full', indexed: await count(`select count(*) as n from drug`), failed: 0 });
    expect(target(s, 'stock')).toMatchObject({ mode: 'full', indexed: await count(`select count(*) as n from pharmacy`), failed: 0 });
  });

  it('sends nothing on an incremental run when nothing changed, from the files or from PostgreSQL', async () => {
    const fromFiles = await load('--from', dataDir, '--incremental');
    expect(table(fromFiles, 'stock')).toMatchObject({ inserted: 0, updated: 0, unchanged: stockLines });
    expect(target(fromFiles, 'drugs')).toMatchObject({ mode: 'incremental', indexed: 0 });
    expect(target(fromFiles, 'stock')).toMatchObject({ mode: 'incremental', indexed: 0 });

    const fromPg = await load('--from', 'postgres', '--incremental');
    expect(fromPg.postgres).toEqual([]);
    expect(target(fromPg, 'drugs').indexed).toBe(0);
    expect(target(fromPg, 'stock').indexed).toBe(0);
  });

  it('sends exactly the pharmacy whose stock changed', async () => {
    const [row] = await sql(`select s.pharmacy_id, s.drug_code, s.price_fen from stock s join pharmacy p on p.id = s.pharmacy_id
      where p.code = 'PG000017' and s.on_hand - s.reserved > 0 order by s.drug_code limit 1`);
    await sql(`update stock set on_hand = reserved, updated_at = now() where pharmacy_id = ? and drug_code = ?`, [row.pharmacy_id, row.drug_code]);

    const s = await load('--from', 'postgres', '--incremental');
    expect(target(s, 'drugs').indexed).toBe(0);
    expect(target(s, 'stock')).toMatchObject({ mode: 'incremental', indexed: 1, failed: 0 });
    const doc = (await es.get<{ drugCodes: string[] }>({ index: stockAlias(PREFIX), id: 'PG000017' }))._source!;
    expect(doc.drugCodes).not.toContain(row.drug_code); // sold out: no longer offered for it

    expect(target(await load('--from', 'postgres', '--incremental'), 'stock').indexed).toBe(0);
  });

  it('sends a changed drug and a changed pharmacy row', async () => {
    await sql(`update drug set data = jsonb_set(data, '{priceFen}', '1234'), updated_at = now() where code = 'G000005'`);
    await sql(`update pharmacy set promised_minutes = promised_minutes + 1 where code = 'PG000003'`); // updated_at by the trigger
    const s = await load('--from', 'postgres', '--incremental');
    expect(target(s, 'drugs').indexed).toBe(1);
    expect(target(s, 'stock').indexed).toBe(1);
    expect((await es.get<{ priceFen: number }>({ index: drugAlias(PREFIX), id: 'G000005' }))._source!.priceFen).toBe(1234);
  });

  it('sends everything into an index that was deleted and created again, whatever the watermark', async () => {
    const [index] = Object.keys(await es.indices.getAlias({ name: drugAlias(PREFIX) }));
    await es.indices.delete({ index });
    const s = await load('--from', 'postgres', '--incremental');
    expect(target(s, 'drugs')).toMatchObject({ mode: 'full', indexed: await count(`select count(*) as n from drug`) });
    expect(target(s, 'stock')).toMatchObject({ mode: 'incremental', indexed: 0 });
    expect(await esCount(drugAlias(PREFIX))).toBe(await count(`select count(*) as n from drug`));
  });

  it('loads the good rows of a bad file, rejects the others with their reasons, and exits 1', async () => {
    const bad = path.join(tmp, 'bad');
    mkdirSync(bad);
    const good = readFileSync(path.join(dataDir, 'stock.ndjson'), 'utf8').split('\n')[0];
    writeFileSync(path.join(bad, 'stock.ndjson'), [
      good,
      '{"pharmacyCode":"PG999999","drugCode":"RX0001","onHand":5,"priceFen":100}',
      '{"pharmacyCode":"PG000001","drugCode":"NO-SUCH-DRUG","onHand":5,"priceFen":100}',
      '{"pharmacyCode":"PG000001","drugCode":"RX0001","onHand":-1,"priceFen":100}',
      'not json',
    ].join('\n'));
    const r = await cli(['load', '--from', bad, '--incremental', '--index-prefix', PREFIX, '--json', '--quiet']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/load failed: 4 row/);
    const s: LoadSummary = JSON.parse(r.stdout);
    expect(table(s, 'stock')).toMatchObject({ read: 5, unchanged: 1, rejected: 4 });
    expect(s.failures.map((f) => f.reason).sort()).toEqual([
      'onHand/priceFen not a non-negative integer', 'unknown drug code', 'unknown pharmacy code', expect.stringMatching(/^not JSON/),
    ].sort());
    expect(await count(`select count(*) as n from pharmacy where code = 'PG999999'`)).toBe(0);
  });

  it('refuses bad arguments with exit code 2', async () => {
    for (const args of [
      ['load', '--from', path.join(tmp, 'no-such-dir')],
      ['load'],
      ['load', '--from', 'postgres', '--es-concurrency', 'lots'],
      ['load', '--from', 'postgres', '--no-such-option'],
      ['generate', '--skus', '100'],
      ['generate', '--out', path.join(tmp, 'x'), '--skus', '10'],
      ['frobnicate'],
    ]) {
      const r = await cli(args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toMatch(/usage:/);
    }
    const r = await cli(['load', '--from', path.join(tmp, 'no-such-dir')]);
    expect(r.stderr).toMatch(/is not a directory/);
  });
});

describe('bulk indexing with retries', () => {
  // A stand-in for the client's bulk helper: the first time, ES is "busy" for two documents and
  // refuses one outright; the busy ones go through when sent again.
  function fakeEs() {
    const calls: string[][] = [];
    let busy = new Set(['b', 'd']);
    const bulk = async (o: any) => {
      const ids: string[] = [];
      let ok = 0;
      for await (const doc of o.datasource) {
        const action = o.onDocument(doc);
        ids.push(action.index._id);
        if (busy.has(doc.id)) o.onDrop({ status: 429, error: { type: 'es_rejected_execution_exception', reason: 'rejected execution of coordinating operation' }, document: doc, retried: false });
        else if (doc.id === 'x') o.onDrop({ status: 400, error: { type: 'document_parsing_exception', reason: 'failed to parse field [priceFen]' }, document: doc, retried: false });
        else ok++;
      }
      calls.push(ids);
      busy = new Set();
      return { successful: ok, failed: 0, bytes: ids.length * 10, total: ids.length, retry: 0, noop: 0, time: 0, aborted: false };
    };
    return { es: { helpers: { bulk } } as never, calls };
  }

  it('re-sends documents rejected with 429 after a backoff and reports the others with their reason', async () => {
    const { es: fake, calls } = fakeEs();
    const failures: string[] = [];
    let indexed = 0;
    const docs = ['a', 'b', 'c', 'd', 'x'].map((id) => ({ id }));
    const r = await bulkWithRetry(fake, 'idx', docs, (d) => d.id, {
      flushBytes: 1000, concurrency: 1, maxRetries: 3, retryBaseMs: 10,
      onIndexed: (n) => (indexed += n), onFailure: (id, reason) => failures.push(`${id} ${reason}`),
    });
    expect(calls).toEqual([['a', 'b', 'c', 'd', 'x'], ['b', 'd']]);
    expect(r).toMatchObject({ indexed: 4, failed: 1, retried: 2 });
    expect(indexed).toBe(4);
    expect(failures).toEqual(['x document_parsing_exception: failed to parse field [priceFen]']);
  });

  it('gives up after the last retry and counts what is still rejected', async () => {
    const failures: string[] = [];
    const alwaysBusy = { helpers: { bulk: async (o: any) => {
      for await (const doc of o.datasource) o.onDrop({ status: 429, error: null, document: doc, retried: false });
      return { successful: 0, bytes: 0 };
    } } } as never;
    const r = await bulkWithRetry(alwaysBusy, 'idx', [{ id: 'a' }], (d) => d.id, {
      flushBytes: 1000, concurrency: 1, maxRetries: 2, retryBaseMs: 1, onFailure: (id, reason) => failures.push(`${id} ${reason}`),
    });
    expect(r).toMatchObject({ indexed: 0, failed: 1, retried: 2 });
    expect(failures[0]).toMatch(/^a es_rejected_execution_exception: still rejected after 2 retries/);
  });
});
