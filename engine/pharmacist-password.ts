// `node --import tsx engine/pharmacist-password.ts P001 < password.txt` — sets a pharmacist's console
// password (docs/console.md). The password is read from stdin (first line), never from the command line,
// so it stays out of shell history and the process list. Every session begun before ends. Reads DATABASE_URL.
// Exit codes: 0 set, 2 bad input, 1 anything else (e.g. the database is unreachable).
import { loadConfig } from './config';
import { openOrm } from '../db/orm';
import { MIN_PASSWORD_LENGTH, setPharmacistPassword } from '../api/auth';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
}

if (require.main === module) {
  (async () => {
    const code = process.argv[2];
    if (!code || process.argv.length > 3) {
      console.error('usage: node --import tsx engine/pharmacist-password.ts <pharmacist code> < file-with-the-password');
      process.exit(2);
    }
    const password = await readStdin();
    if (password.length < MIN_PASSWORD_LENGTH) {
      console.error(`the password (first line of stdin) needs at least ${MIN_PASSWORD_LENGTH} characters`);
      process.exit(2);
    }
    const orm = await openOrm(loadConfig().databaseUrl);
    try {
      if (!(await setPharmacistPassword(orm, code, password))) {
        console.error(`no pharmacist with the code ${code}`);
        process.exitCode = 2;
      } else {
        console.log(`[rxflow] console password of ${code} set; older sessions ended`);
      }
    } finally {
      await orm.close();
    }
  })().catch((e) => { console.error(e); process.exit(1); });
}
