// `node --import tsx catalog/cli.ts generate|load …` — the catalogue's data set and bulk loader.
// Exit codes: 0 done, 1 the run failed (the reason is printed), 2 bad arguments.
import { statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client } from '@elastic/elasticsearch';
import { loadConfig } from '../engine/config';
import { openOrm } from '../db/orm';
import { DEFAULT_PHARMACIES, DEFAULT_SEED, DEFAULT_SKUS, FILES, generateCatalogue } from './generate';
import { LOAD_DEFAULTS, formatSummary, progressOn, runLoad } from './loader';

export const USAGE = `usage:
  node --import tsx catalog/cli.ts generate --out <dir> [--seed ${DEFAULT_SEED}] [--skus ${DEFAULT_SKUS}] [--pharmacies ${DEFAULT_PHARMACIES}] [--json] [--quiet]
  node --import tsx catalog/cli.ts load --from <dir>|postgres [--incremental] [--index-prefix <prefix>] [--json] [--quiet]
        [--batch-size ${LOAD_DEFAULTS.batchSize}] [--pg-concurrency ${LOAD_DEFAULTS.pgConcurrency}] [--pharmacy-batch ${LOAD_DEFAULTS.pharmacyBatch}]
        [--flush-bytes ${LOAD_DEFAULTS.flushBytes}] [--es-concurrency ${LOAD_DEFAULTS.esConcurrency}] [--max-retries ${LOAD_DEFAULTS.maxRetries}]

generate  writes drugs.ndjson, pharmacies.ndjson, stock.ndjson and manifest.json to <dir>; same seed and
          sizes → byte-identical files
load      --from <dir>: upserts the files into PostgreSQL (DATABASE_URL), then indexes PostgreSQL into
          Elasticsearch (ELASTICSEARCH_URL); --from postgres: only the indexing
          --incremental: only drugs and pharmacies changed since the last successful run
          --index-prefix: default RX_INDEX_PREFIX (${process.env.RX_INDEX_PREFIX ?? 'rxflow'})
          --json: the summary as JSON on stdout; progress goes to stderr (--quiet: none)`;

export class UsageError extends Error {}

function integer(name: string, v: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got "${v}"`);
  return Number(v);
}

function parse(args: string[], options: NonNullable<Parameters<typeof parseArgs>[0]>['options']): Record<string, string | boolean | undefined> {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values as Record<string, string | boolean | undefined>;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

async function generate(args: string[]): Promise<number> {
  const v = parse(args, {
    out: { type: 'string' }, seed: { type: 'string' }, skus: { type: 'string' }, pharmacies: { type: 'string' },
    json: { type: 'boolean' }, quiet: { type: 'boolean' },
  });
  if (typeof v.out !== 'string' || v.out === '') throw new UsageError('generate needs --out <dir>');
  const progress = progressOn(v.quiet ? null : process.stderr);
  const bars: Partial<Record<'drugs' | 'pharmacies', ReturnType<typeof progress>>> = {};
  const state: { phase: 'drugs' | 'pharmacies' | null } = { phase: null };
  const started = Date.now();
  let summary;
  try {
    summary = await generateCatalogue({
      out: path.resolve(v.out as string),
      seed: integer('seed', v.seed as string | undefined, 0, 0xffffffff),
      skus: integer('skus', v.skus as string | undefined, 1),
      pharmacies: integer('pharmacies', v.pharmacies as string | undefined, 1, 999_999),
      onProgress: (p, done, total) => {
        if (state.phase && state.phase !== p) bars[state.phase]!.done();
        state.phase = p;
        (bars[p] ??= progress(`generate ${p}`, total)).set(done);
      },
    });
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(e.message);
    throw e;
  }
  if (state.phase) bars[state.phase]!.done();
  const ms = Date.now() - started;
  if (v.json) {
    process.stdout.write(`${JSON.stringify({ ...summary, out: path.resolve(v.out as string), ms })}\n`);
  } else {
    process.stdout.write(`generated ${path.resolve(v.out as string)} (seed ${summary.seed}) in ${(ms / 1000).toFixed(1)} s\n`);
    for (const [file, f] of Object.entries(summary.files)) {
      process.stdout.write(`  ${file.padEnd(18)} ${f.rows.toLocaleString('en-US').padStart(10)} rows ${(f.bytes / 1e6).toFixed(1).padStart(7)} MB  sha256 ${f.sha256}\n`);
    }
  }
  return 0;
}

async function load(args: string[]): Promise<number> {
  const v = parse(args, {
    from: { type: 'string' }, incremental: { type: 'boolean' }, 'index-prefix': { type: 'string' },
    'batch-size': { type: 'string' }, 'pg-concurrency': { type: 'string' }, 'pharmacy-batch': { type: 'string' },
    'flush-bytes': { type: 'string' }, 'es-concurrency': { type: 'string' }, 'max-retries': { type: 'string' },
    json: { type: 'boolean' }, quiet: { type: 'boolean' },
  });
  const from = v.from as string | undefined;
  if (!from) throw new UsageError('load needs --from <dir>|postgres');
  let source = from;
  if (from !== 'postgres') {
    source = path.resolve(from);
    let isDir = false;
    try { isDir = statSync(source).isDirectory(); } catch { /* reported below */ }
    if (!isDir) throw new UsageError(`--from must be a directory with ${FILES.drugs}, ${FILES.pharmacies}, ${FILES.stock} (catalog/cli.ts generate) or "postgres"; ${source} is not a directory`);
    const present = [FILES.drugs, FILES.pharmacies, FILES.stock].filter((f) => { try { return statSync(path.join(source, f)).isFile(); } catch { return false; } });
    if (!present.length) throw new UsageError(`--from ${source} has none of ${FILES.drugs}, ${FILES.pharmacies}, ${FILES.stock}`);
  }
  const prefix = (v['index-prefix'] as string | undefined) ?? loadConfig().indexPrefix;
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(prefix)) throw new UsageError(`--index-prefix must be lower-case letters, digits, - and _, got "${prefix}"`);
  const num = (name: string, min: number, max?: number) => integer(name, v[name] as string | undefined, min, max);
  const tuning = {
    batchSize: num('batch-size', 1, 50_000), pgConcurrency: num('pg-concurrency', 1, 16), pharmacyBatch: num('pharmacy-batch', 1, 5000),
    flushBytes: num('flush-bytes', 1000, 100_000_000), esConcurrency: num('es-concurrency', 1, 16), maxRetries: num('max-retries', 0, 20),
  };

  const config = loadConfig();
  const orm = await openOrm(config.databaseUrl);
  const es = new Client({ node: config.elasticsearchUrl, requestTimeout: 120_000, maxRetries: 3 });
  try {
    const summary = await runLoad({
      orm, es, prefix, from: source, incremental: !!v.incremental, ...tuning,
      progress: progressOn(v.quiet ? null : process.stderr),
    });
    process.stdout.write(v.json ? `${JSON.stringify(summary)}\n` : `${formatSummary(summary)}\n`);
    if (!summary.ok) process.stderr.write(`load failed: ${summary.failureCount} row(s)/document(s) could not be loaded (see the summary)\n`);
    return summary.ok ? 0 : 1;
  } finally {
    await es.close();
    await orm.close();
  }
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    if (cmd === 'generate') return await generate(rest);
    if (cmd === 'load') return await load(rest);
    if (cmd === '--help' || cmd === '-h' || cmd === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    throw new UsageError(cmd ? `unknown command "${cmd}"` : 'no command');
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`catalog/cli.ts: ${e.message}\n\n${USAGE}\n`);
      return 2;
    }
    process.stderr.write(`catalog/cli.ts ${cmd}: failed: ${e instanceof Error ? e.message : String(e)}\n`);
    if (process.env.RX_DEBUG) console.error(e);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
