// `node --import tsx engine/audit-verify.ts [--prescription ID] [--json]`
// Verifies the audit trail's hash chains (docs/audit.md): every event's data against its digest, every
// link of the global chain and of each prescription's chain, and the stored chain heads. Reads DATABASE_URL.
// Exit codes: 0 intact, 1 broken (the first broken link is printed: event id, expected vs found),
// 2 bad arguments, 3 could not check (e.g. the database is unreachable).
import { parseArgs } from 'node:util';
import { MikroORM, type EntityManager } from '@mikro-orm/postgresql';
import { loadConfig } from './config';
import { ormOptions } from '../db/orm';
import { describeVerify, verifyAuditTrail } from '../reports/audit-trail';

export const USAGE = 'usage: node --import tsx engine/audit-verify.ts [--prescription <uuid>] [--json]';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function main(argv: string[]): Promise<number> {
  let values: { prescription?: string; json?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({ args: argv, options: { prescription: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false }));
  } catch (e) {
    console.error(`audit-verify: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) { console.log(USAGE); return 0; }
  if (values.prescription !== undefined && !UUID.test(values.prescription)) {
    console.error(`audit-verify: --prescription must be a prescription id (uuid)\n${USAGE}`);
    return 2;
  }
  const orm = await MikroORM.init({ ...ormOptions(loadConfig().databaseUrl), ensureDatabase: false });
  try {
    const result = await verifyAuditTrail(orm.em.fork() as EntityManager, { prescriptionId: values.prescription?.toLowerCase() });
    console.log(values.json ? JSON.stringify(result) : describeVerify(result));
    return result.intact ? 0 : 1;
  } finally {
    await orm.close();
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (e) => { console.error(`audit-verify: could not verify: ${(e as Error).message}`); process.exitCode = 3; },
  );
}
