// Stock reservations on real PostgreSQL: racing reservations never oversell, and the sweeper releases
// what a dead workflow left behind while leaving a running workflow's reservation alone.
import { randomUUID } from 'node:crypto';
import { Client as EsClient } from '@elastic/elasticsearch';
import { Client as TemporalClient, Connection } from '@temporalio/client';
import { openOrm } from '../../db/orm';
import { createActivities } from '../../activities';
import { loadConfig } from '../../engine/config';
import { offered, statusIs, waitForPrescription } from '../../demo/actors';
import { demoPrescription } from '../../demo/prescriptions';
import { actors, approve, closeDb, matchingPrescription, sql, stockOf, testPharmacy } from './helpers';

const config = loadConfig();
let acts: ReturnType<typeof createActivities>;
let close: () => Promise<void>;

beforeAll(async () => {
  const orm = await openOrm(config.databaseUrl);
  const es = new EsClient({ node: config.elasticsearchUrl });
  const connection = await Connection.connect({ address: config.temporalAddress });
  const temporal = new TemporalClient({ connection, namespace: config.temporalNamespace });
  acts = createActivities({ orm, es, temporal, indexPrefix: config.indexPrefix, filesDir: config.filesDir, cjkFont: config.cjkFont });
  close = async () => { await connection.close(); await es.close(); await orm.close(); };
});
afterAll(async () => { await close?.(); await closeDb(); });

/** A pharmacy of its own (far from every test patient) with `units` of one drug, and n prescriptions for one pack each. */
async function raceFixture(units: number, n: number) {
  const tag = randomUUID().slice(0, 8);
  const pharmacy = `RACE-${tag}`;
  await testPharmacy(pharmacy, '测试药房（竞争）', { RX0001: units });
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push(await matchingPrescription(`RACE-${tag}-${i}`, [{ drugCode: 'RX0001', drugName: '苯磺酸氨氯地平片', quantity: 1 }]));
  return { pharmacy, ids };
}

describe('stock reservations', () => {
  it('never oversells: 20 prescriptions racing for the last 5 packs get exactly 5 reservations', async () => {
    const { pharmacy, ids } = await raceFixture(5, 20);
    const results = await Promise.all(ids.map((id) => acts.reserveStock(id, pharmacy, 60_000)));
    expect(results.filter(Boolean)).toHaveLength(5);
    expect(await stockOf(pharmacy, 'RX0001')).toEqual({ on_hand: 5, reserved: 5 });
    const held = await sql(`select count(*)::int as n from reservation where prescription_id in (${ids.map(() => '?').join(',')}) and status = 'held'`, ids);
    expect(held[0].n).toBe(5);
    // A retried reservation for a prescription that already holds one takes nothing more.
    const winner = ids[results.indexOf(true)];
    expect(await acts.reserveStock(winner, pharmacy, 60_000)).toBe(true);
    expect((await stockOf(pharmacy, 'RX0001')).reserved).toBe(5);
  });

  it('sweeps expired reservations whose workflow is gone, and leaves a running workflow\'s alone', async () => {
    const { pharmacy, ids } = await raceFixture(3, 3);
    for (const id of ids) expect(await acts.reserveStock(id, pharmacy, 1)).toBe(true); // expire in 1 ms
    await new Promise((r) => setTimeout(r, 20));

    // A live prescription waiting for its pharmacy, with its reservation made to look expired.
    const a = actors();
    const live = (await a.hospital.post('/v1/prescriptions', demoPrescription())).body.prescription.id;
    await waitForPrescription(a.hospital, live, statusIs('in_review'));
    await approve(live);
    await waitForPrescription(a.hospital, live, offered);
    await sql(`update reservation set expires_at = now() - interval '1 minute' where prescription_id = ?`, [live]);

    await acts.sweepExpiredReservations(500);
    // Released by this sweep, or already by the engine's own sweeper loop (workflows/sweeper.ts, the same
    // activity) when the wait above was long: either way they are released now.
    const states = await sql(`select distinct status from reservation where prescription_id in (${ids.map(() => '?').join(',')})`, ids);
    expect(states).toEqual([{ status: 'released' }]);
    expect(await stockOf(pharmacy, 'RX0001')).toEqual({ on_hand: 3, reserved: 0 });
    const actions = await sql(`select data->>'reason' as reason from audit_event where prescription_id = ? and action = 'stock_released'`, [ids[0]]);
    expect(actions).toEqual([{ reason: 'reservation expired; its workflow is no longer running' }]);
    expect(await sql(`select status from reservation where prescription_id = ?`, [live])).toEqual([{ status: 'held' }, { status: 'held' }]);
    expect((await a.hospital.post(`/v1/prescriptions/${live}/cancel`, { reason: 'test done' })).status).toBe(202);
  });
});
