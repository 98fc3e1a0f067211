// `node --import tsx engine/data-keys-cli.ts rotate|check|generate`
//   rotate    re-encrypts every patient row and prescription snapshot under the first key of RX_DATA_KEYS
//             (plaintext rows from before encryption included) and recomputes the lookup hashes; idempotent
//   check     parses RX_DATA_KEYS / RX_DATA_HMAC_KEY and says which key encrypts (never prints a key)
//   generate  prints a fresh random 32-byte key in base64, for a new version in RX_DATA_KEYS
// Rotation (docs/data-protection.md): put the new key first ("v3:new,v2:old"), restart, run rotate,
// then drop the old key. Reads DATABASE_URL. Exit codes: 0 done, 2 bad arguments or keys, 1 failure.
import { randomBytes } from 'node:crypto';
import { MikroORM } from '@mikro-orm/postgresql';
import { loadConfig } from './config';
import { ormOptions } from '../db/orm';
import { KeyConfigError } from '../domain/field-crypto';
import { dataKeyRing } from './data-keys';
import { reencryptAll } from '../activities/patient-data';

export const USAGE = 'usage: node --import tsx engine/data-keys-cli.ts rotate|check|generate';

async function main(argv: string[]): Promise<number> {
  const cmd = argv[0];
  if (cmd === 'generate') { console.log(randomBytes(32).toString('base64')); return 0; }
  if (cmd !== 'rotate' && cmd !== 'check') { console.error(USAGE); return 2; }
  let ring;
  try {
    ring = dataKeyRing();
  } catch (e) {
    if (e instanceof KeyConfigError) { console.error(`data-keys: ${e.message}`); return 2; }
    throw e;
  }
  const fromEnv = Boolean(process.env.RX_DATA_KEYS);
  console.log(`data keys: ${[...ring.keys.keys()].join(', ')}; ${ring.current} encrypts${fromEnv ? '' : ' (the development ring: RX_DATA_KEYS is not set)'}`);
  if (cmd === 'check') return 0;
  const orm = await MikroORM.init({ ...ormOptions(loadConfig().databaseUrl), ensureDatabase: false });
  try {
    const r = await reencryptAll(orm, ring);
    console.log(`re-encrypted under ${ring.current}: ${r.patients} patient row(s), ${r.prescriptions} prescription snapshot(s)`);
  } finally {
    await orm.close();
  }
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (e) => { console.error(`data-keys: failed: ${(e as Error).message}`); process.exitCode = 1; },
  );
}
