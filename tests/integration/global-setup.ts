// Starts a fresh engine against the real services: clean test database and indices, the demo
// catalogue and parties, a Temporal worker and the HTTP API on a free port.
import { applyTestEnv } from './env';
import { installTemporalRuntime } from '../../engine/log';
import { rmSync } from 'node:fs';
import { loadConfig } from '../../engine/config';
import { openServices, startApi, startWorker } from '../../engine/runtime';
import { seedAll } from '../../engine/seed';
import { openOrm } from '../../db/orm';
import { Client as EsClient } from '@elastic/elasticsearch';

export default async function globalSetup(): Promise<void> {
  applyTestEnv();
  const config = loadConfig();
  rmSync(process.env.RX_LOG_FILE!, { force: true });
  rmSync(process.env.RX_SMS_OUTBOX!, { force: true });
  installTemporalRuntime('INFO');

  // Start from nothing: the schema is rebuilt by the migrations, the indices by the seed.
  const orm = await openOrm(config.databaseUrl);
  await orm.em.getConnection().execute('drop schema if exists public cascade; create schema public;');
  await orm.close();
  const es = new EsClient({ node: config.elasticsearchUrl });
  // Wildcard deletes are refused by default (action.destructive_requires_name): name each index.
  const existing = Object.keys(await es.indices.get({ index: `${config.indexPrefix}-*`, allow_no_indices: true }));
  if (existing.length) await es.indices.delete({ index: existing });
  await es.close();

  const services = await openServices(config);
  await seedAll(services);
  const worker = await startWorker(services);
  const api = await startApi(services);
  process.env.RX_TEST_API_URL = api.url;
  (globalThis as any).__rx = { services, worker, api };
}
