// Dependency faults, the fast version of bench/faults.ts (docs/reliability.md) without touching the shared
// services: an API whose PostgreSQL cannot be reached, hangs up, or is starting up after a restart answers
// 503 with Retry-After in the house error shape — never a 500, never a 401 for a key it could not check.
// (A Temporal outage is tests/integration/outage.test.ts.)
import http from 'node:http';
import net from 'node:net';
import { MikroORM } from '@mikro-orm/postgresql';
import { Client as EsClient } from '@elastic/elasticsearch';
import { Client as TemporalClient, Connection } from '@temporalio/client';
import { ormOptions } from '../../db/orm';
import { createApp } from '../../api/app';
import { loadConfig } from '../../engine/config';
import { ApiClient } from '../../demo/actors';
import { DEMO } from '../../demo/fixtures';
import { demoPrescription } from '../../demo/prescriptions';

/** A TCP server standing in for PostgreSQL in trouble; `mode` says how it treats each connection. */
async function fakePostgres(mode: 'hang-up' | 'starting-up' | 'shutting-down'): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    if (mode === 'hang-up') { s.destroy(); return; }
    // After the startup message, PostgreSQL's ErrorResponse: FATAL 57P03 while it starts, 57P01 when an administrator stops it.
    s.once('data', () => {
      const [code, message] = mode === 'starting-up' ? ['57P03', 'the database system is starting up'] : ['57P01', 'terminating connection due to administrator command'];
      const fields = Buffer.concat([Buffer.from(`SFATAL\0VFATAL\0C${code}\0M${message}\0`), Buffer.from([0])]);
      const head = Buffer.alloc(5);
      head.write('E', 0);
      head.writeInt32BE(fields.length + 4, 1);
      s.end(Buffer.concat([head, fields]));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

async function apiAgainst(databaseUrl: string) {
  const config = loadConfig();
  // Not connected at start: the API process outlives its database.
  const orm = await MikroORM.init({ ...ormOptions(databaseUrl), connect: false, ensureDatabase: false, pool: { min: 0, max: 2, acquireTimeoutMillis: 3000 } as never });
  const es = new EsClient({ node: 'http://127.0.0.1:1', requestTimeout: 1000, maxRetries: 0 });
  const temporal = new TemporalClient({ connection: Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 500 }), namespace: config.temporalNamespace });
  const app = createApp({ orm, es, temporal, config });
  const server = http.createServer(app.callback());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return {
    hospital: new ApiClient(url, DEMO.hospital.key),
    async close() { server.closeAllConnections(); server.close(); await es.close(); await orm.close(true).catch(() => {}); },
  };
}

const cases: [string, () => Promise<{ url: string; close(): Promise<void> }>][] = [
  ['cannot be reached', async () => ({ url: 'postgres://rxflow:rxflow@127.0.0.1:1/rxflow', close: async () => {} })],
  ...(['hang-up', 'starting-up', 'shutting-down'] as const).map((mode) => [
    mode === 'hang-up' ? 'hangs up' : `is ${mode.replace('-', ' ')}`,
    async () => { const pg = await fakePostgres(mode); return { url: `postgres://rxflow:rxflow@127.0.0.1:${pg.port}/rxflow`, close: pg.close }; },
  ] as [string, () => Promise<{ url: string; close(): Promise<void> }>]),
];

describe.each(cases)('an API whose PostgreSQL %s', (_name, makeDb) => {
  it('answers a push and a read with 503, Retry-After and the standard error shape', async () => {
    const db = await makeDb();
    const api = await apiAgainst(db.url);
    try {
      for (const call of [() => api.hospital.post('/v1/prescriptions', demoPrescription()), () => api.hospital.get('/v1/prescriptions/00000000-0000-4000-8000-000000000000')]) {
        const r = await call();
        expect({ status: r.status, code: r.body?.error?.code }).toEqual({ status: 503, code: 'DEPENDENCY_UNAVAILABLE' });
        expect(r.body.error.message).toMatch(/PostgreSQL is unavailable/);
        expect(Number(r.retryAfter)).toBeGreaterThan(0);
      }
    } finally {
      await api.close();
      await db.close();
    }
  });
});
