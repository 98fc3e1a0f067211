// A push while Temporal cannot be reached: the hospital gets 503 with Retry-After, the prescription is
// stored (never accepted and then lost), and the same push repeated later starts its one workflow.
import http from 'node:http';
import { Client as EsClient } from '@elastic/elasticsearch';
import { Client as TemporalClient, Connection } from '@temporalio/client';
import { openOrm } from '../../db/orm';
import { createApp } from '../../api/app';
import { loadConfig } from '../../engine/config';
import { ApiClient, statusIs, waitForPrescription } from '../../demo/actors';
import { DEMO } from '../../demo/fixtures';
import { demoPrescription } from '../../demo/prescriptions';
import { actors, closeDb, sql } from './helpers';

afterAll(closeDb);

it('answers 503 with Retry-After when Temporal is down, keeps the prescription, and starts it on the retry', async () => {
  const config = loadConfig();
  const orm = await openOrm(config.databaseUrl);
  const es = new EsClient({ node: config.elasticsearchUrl });
  const unreachable = Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 500 });
  const app = createApp({ orm, es, temporal: new TemporalClient({ connection: unreachable, namespace: config.temporalNamespace }), config });
  const server = http.createServer(app.callback());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const port = (server.address() as { port: number }).port;
    const rx = demoPrescription();
    const down = await new ApiClient(`http://127.0.0.1:${port}`, DEMO.hospital.key).post('/v1/prescriptions', rx);
    expect(down.status).toBe(503);
    expect(down.body.error.code).toBe('DEPENDENCY_UNAVAILABLE');
    const [row] = await sql(`select id, status from prescription where rx_no = ?`, [rx.rxNo]);
    expect(row.status).toBe('received'); // stored, waiting for its workflow

    const again = await actors().hospital.post('/v1/prescriptions', rx); // the engine with Temporal up
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ duplicate: true, prescription: { id: row.id } });
    await waitForPrescription(actors().hospital, row.id, statusIs('in_review'));
  } finally {
    server.close();
    await es.close();
    await orm.close();
  }
});
