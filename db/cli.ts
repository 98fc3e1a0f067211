// `tsx db/cli.ts migrate|create-migration` — applies or generates migrations.
import { openOrm } from './orm';
import { loadConfig } from '../engine/config';

async function main() {
  const orm = await openOrm(loadConfig().databaseUrl);
  try {
    const cmd = process.argv[2];
    if (cmd === 'migrate') {
      const done = await orm.getMigrator().up();
      console.log(`applied ${done.length} migration(s)`);
    } else if (cmd === 'create-migration') {
      const r = await orm.getMigrator().createMigration(undefined, false, process.argv[3] === '--initial');
      console.log(r.fileName || 'no changes');
    } else {
      console.error('usage: db/cli.ts migrate|create-migration [--initial]');
      process.exitCode = 2;
    }
  } finally {
    await orm.close();
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
