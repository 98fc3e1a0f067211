// `node --import tsx engine/export-supervision.ts --date 2026-11-23 --region 330100 [--region 330200 …] [--out .stack/exports]`
// Writes the provincial supervision feed of one day (Asia/Shanghai) per region:
// <out>/<region>/<date>.jsonl and <date>.jsonl.sha256 (docs/supervision-feed.md). Reads DATABASE_URL.
// Exit codes: 0 written, 2 bad arguments, 1 anything else (e.g. the database is unreachable).
import path from 'node:path';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { MikroORM, type EntityManager } from '@mikro-orm/postgresql';
import { loadConfig } from './config';
import { ormOptions } from '../db/orm';
import { isValidDate, isValidRegion, recordFeedExport, RECORD_TYPES, writeSupervisionFeed } from '../reports/supervision';

const ROOT = path.resolve(__dirname, '..');
export const USAGE = 'usage: node --import tsx engine/export-supervision.ts --date YYYY-MM-DD --region 330100 [--region …] [--out .stack/exports]';

export class UsageError extends Error {}

export interface CliArgs { date: string; regions: string[]; out: string }

/** Parses and checks the arguments; throws UsageError with a message a person can act on. */
export function parseCliArgs(argv: string[]): CliArgs {
  let values: { date?: string; region?: string[]; out?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { date: { type: 'string' }, region: { type: 'string', multiple: true }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) throw new UsageError('');
  const problems: string[] = [];
  if (!values.date) problems.push('--date is required');
  else if (!isValidDate(values.date)) problems.push(`--date must be a calendar date YYYY-MM-DD (a day in Asia/Shanghai time), got ${JSON.stringify(values.date)}`);
  const regions = values.region ?? [];
  if (!regions.length) problems.push('--region is required (an administrative division code such as 330100)');
  for (const r of regions) if (!isValidRegion(r)) problems.push(`--region must be a 6-digit division code (9 or 12 for finer levels), got ${JSON.stringify(r)}`);
  if (values.out === '') problems.push('--out must not be empty');
  if (problems.length) throw new UsageError(problems.join('\n'));
  return { date: values.date!, regions: [...new Set(regions)], out: path.resolve(values.out ?? path.join(ROOT, '.stack', 'exports')) };
}

async function main(argv: string[]): Promise<number> {
  let args: CliArgs;
  try {
    args = parseCliArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    if (!e.message) { console.log(USAGE); return 0; } // --help
    console.error(`export-supervision: ${e.message.split('\n').join('\nexport-supervision: ')}`);
    console.error(USAGE);
    return 2;
  }
  // An export reads; it never creates a missing database (MikroORM would by default).
  const orm = await MikroORM.init({ ...ormOptions(loadConfig().databaseUrl), ensureDatabase: false });
  try {
    const em = orm.em.fork() as EntityManager;
    for (const regionCode of args.regions) {
      const feed = await writeSupervisionFeed(em, { date: args.date, regionCode }, args.out);
      await recordFeedExport(em, `cli:${os.userInfo().username}`, feed, 'cli');
      const counts = RECORD_TYPES.map((t) => `${t} ${feed.counts[t]}`).join(', ');
      console.log(`${feed.file}\t${feed.records.length} records (${counts})`);
      console.log(`${feed.checksumFile}\tsha256 ${feed.sha256}`);
    }
  } finally {
    await orm.close();
  }
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (e) => { console.error(`export-supervision: failed: ${(e as Error).message}`); process.exitCode = 1; },
  );
}
