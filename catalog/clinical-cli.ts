// `node --import tsx catalog/clinical-cli.ts check|load|status` — the pre-review's clinical knowledge
// (catalog/data/clinical, docs/review-checks.md). Exit codes: 0 done, 1 failed (reason printed), 2 bad arguments.
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { EntityManager } from '@mikro-orm/postgresql';
import { loadConfig } from '../engine/config';
import { migrate, openOrm } from '../db/orm';
import { CLINICAL_DIR, loadClinicalKnowledge, loadedSets, readClinicalFiles } from './clinical';

export const USAGE = `usage:
  node --import tsx catalog/clinical-cli.ts check  [--dir <dir>] [--json]
  node --import tsx catalog/clinical-cli.ts load   [--dir <dir>] [--json]
  node --import tsx catalog/clinical-cli.ts status [--json]

check   validates the newest <dataset>.v<N>.json of each data set in --dir (default ${path.relative(process.cwd(), CLINICAL_DIR) || CLINICAL_DIR}); no database
load    applies pending migrations, then loads every data set whose version is not loaded yet into
        PostgreSQL (DATABASE_URL) in one transaction; loading the same files again changes nothing.
        Refused: changed content under an already loaded version, or an older version than the loaded one.
status  the loaded version, content hash and entry count of each data set`;

export async function main(argv: string[], out = process.stdout, err = process.stderr): Promise<number> {
  const [cmd, ...rest] = argv;
  let v: Record<string, string | boolean | undefined>;
  try {
    v = parseArgs({ args: rest, options: { dir: { type: 'string' }, json: { type: 'boolean' } }, strict: true, allowPositionals: false }).values;
  } catch (e) {
    err.write(`${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (!['check', 'load', 'status'].includes(cmd ?? '') || (cmd === 'status' && v.dir !== undefined)) {
    err.write(`${USAGE}\n`);
    return 2;
  }
  const dir = typeof v.dir === 'string' ? path.resolve(v.dir) : CLINICAL_DIR;
  const print = (data: unknown, text: string) => out.write(v.json ? `${JSON.stringify(data, null, 2)}\n` : `${text}\n`);
  try {
    if (cmd === 'check') {
      const files = readClinicalFiles(dir);
      print(files.map((f) => ({ dataset: f.dataset, version: f.version, entries: f.entries.length, sha256: f.sha256, file: f.file })),
        files.map((f) => `${f.file}: ${f.entries.length} entries, sha256 ${f.sha256.slice(0, 12)}…`).join('\n'));
      return 0;
    }
    const orm = await openOrm(loadConfig().databaseUrl);
    try {
      if (cmd === 'load') {
        await migrate(orm);
        const results = await loadClinicalKnowledge(orm.em.fork() as EntityManager, dir);
        print(results, results.map((r) => `${r.dataset} v${r.version}: ${r.action === 'unchanged' ? 'already loaded' : `loaded ${r.entries} entries${r.previousVersion ? ` (was v${r.previousVersion})` : ''}`}`).join('\n'));
      } else {
        const sets = await loadedSets(orm.em.fork() as EntityManager);
        print(sets, sets.length ? sets.map((s) => `${s.dataset} v${s.version}: ${s.entryCount} entries, sha256 ${s.sha256.slice(0, 12)}…, loaded ${s.loadedAt.toISOString()} from ${s.sourceFile}`).join('\n') : 'no clinical knowledge loaded');
      }
    } finally {
      await orm.close();
    }
    return 0;
  } catch (e) {
    err.write(`clinical knowledge ${cmd} failed: ${(e as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (e) => { console.error(e); process.exit(1); });
}
