// Concurrency (issue 6), on the real services: 1,000 simultaneous pushes of one signed prescription make
// one row and one workflow; pharmacists racing for one prescription leave exactly one reviewer; and
// prescriptions racing for a pharmacy's last packs, while the pharmacy rewrites its stock, never oversell.
import { randomUUID } from 'node:crypto';
import { Client as EsClient } from '@elastic/elasticsearch';
import { Client as TemporalClient, Connection } from '@temporalio/client';
import { openOrm } from '../../db/orm';
import { createActivities } from '../../activities';
import { hashKey } from '../../api/auth';
import { loadConfig } from '../../engine/config';
import { ensureSigningKey } from '../../engine/pharmacist-keys';
import { statusIs, waitForPrescription, ApiClient } from '../../demo/actors';
import { demoPrescription } from '../../demo/prescriptions';
import { DEMO } from '../../demo/fixtures';
import { actors, apiUrl, closeDb, matchingPrescription, sql, testPharmacy } from './helpers';

const config = loadConfig();
let acts: ReturnType<typeof createActivities>;
let temporal: TemporalClient;
let orm: Awaited<ReturnType<typeof openOrm>>;
let close: () => Promise<void>;

beforeAll(async () => {
  orm = await openOrm(config.databaseUrl);
  const es = new EsClient({ node: config.elasticsearchUrl });
  const connection = await Connection.connect({ address: config.temporalAddress });
  temporal = new TemporalClient({ connection, namespace: config.temporalNamespace });
  acts = createActivities({ orm, es, temporal, indexPrefix: config.indexPrefix, filesDir: config.filesDir, cjkFont: config.cjkFont });
  close = async () => { await connection.close(); await es.close(); await orm.close(); };
});
afterAll(async () => { await close?.(); await closeDb(); });

const count = (xs: (string | number)[]) => xs.reduce<Record<string, number>>((m, x) => ({ ...m, [x]: (m[x] ?? 0) + 1 }), {});

it('1,000 concurrent pushes of one signed prescription: one row, one workflow, every answer the same id', async () => {
  const rx = demoPrescription();
  const body = JSON.stringify(rx);
  const push = async () => {
    try {
      const res = await fetch(`${apiUrl()}/v1/prescriptions`, { method: 'POST', headers: { authorization: `Bearer ${DEMO.hospital.key}`, 'content-type': 'application/json' }, body });
      return { status: res.status, body: await res.json().catch(() => null) as any };
    } catch (e) {
      // No answer at all (a reset connection) counts as status 0: the server must answer every push.
      return { status: 0, body: { error: String((e as { cause?: unknown }).cause ?? e) } };
    }
  };
  const answers = await Promise.all(Array.from({ length: 1000 }, push));

  const statuses = count(answers.map((a) => a.status));
  if (statuses[0]) console.log(`no answer: ${[...new Set(answers.filter((a) => a.status === 0).map((a) => a.body.error))].join('; ')}`);
  // 201 for the push that stored it, 200 { duplicate: true } for every other (docs: POST /v1/prescriptions).
  expect(statuses).toEqual({ 201: 1, 200: 999 });
  const ids = new Set(answers.map((a) => a.body?.prescription?.id));
  expect(ids.size).toBe(1);
  const [id] = [...ids];
  expect(answers.filter((a) => a.status === 200).every((a) => a.body.duplicate === true)).toBe(true);

  expect(await sql(`select id from prescription where hospital_id = (select id from hospital where code = ?) and rx_no = ?`, [DEMO.hospital.code, rx.rxNo])).toEqual([{ id }]);
  const received = await sql(`select count(*)::int as n from audit_event where prescription_id = ? and action = 'received'`, [id]);
  expect(received[0].n).toBe(1);
  // One callback event for the hospital, not one per push.
  const events = await sql(`select type from hospital_event where prescription_id = ? and type = 'rxflow.prescription.accepted'`, [id]);
  expect(events).toHaveLength(1);

  // Temporal: exactly one execution (one run) under the prescription's workflow id. Visibility lags the
  // start a little, so wait until it lists the run, then count.
  const runs = async () => { const out: string[] = []; for await (const w of temporal.workflow.list({ query: `WorkflowId = 'rx-${id}'` })) out.push(w.runId); return out; };
  let listed: string[] = [];
  for (let i = 0; i < 50 && listed.length === 0; i++) { listed = await runs(); if (!listed.length) await new Promise((r) => setTimeout(r, 200)); }
  expect(listed).toHaveLength(1);
  expect((await temporal.workflow.getHandle(`rx-${id}`).describe()).runId).toBe(listed[0]);

  await waitForPrescription(actors().hospital, id, statusIs('in_review'));
  expect((await actors().hospital.post(`/v1/prescriptions/${id}/cancel`, { reason: 'concurrency test done' })).status).toBe(202);
});

/** `n` licensed pharmacists of their own (P001's licence), each with a signing key and an API key. */
async function racePharmacists(n: number): Promise<{ code: string; id: string; client: ApiClient }[]> {
  const tag = randomUUID().slice(0, 6);
  const out = [];
  for (let i = 0; i < n; i++) {
    const code = `RACE-${tag}-${i}`;
    const [{ id }] = await sql(`insert into pharmacist (id, code, name, license_no, license_valid_from, license_valid_to, lead)
      select gen_random_uuid(), ?, ?, license_no, license_valid_from, license_valid_to, false from pharmacist where code = 'P001' returning id`, [code, `竞争药师${i}（测试）`]);
    await ensureSigningKey(orm.em.fork(), id, config.reviewKeySecret);
    const key = `race-pharmacist-${tag}-${i}`;
    await sql(`insert into api_client (id, key_hash, role, party_id, label, created_at) values (gen_random_uuid(), ?, 'pharmacist', ?, ?, now())`, [hashKey(key), id, code]);
    out.push({ code, id, client: new ApiClient(apiUrl(), key) });
  }
  return out;
}

it('20 pharmacists claiming one prescription 5 times each at once: exactly one holds it, and only they can decide', async () => {
  const a = actors();
  const id = (await a.hospital.post('/v1/prescriptions', demoPrescription())).body.prescription.id;
  await waitForPrescription(a.hospital, id, statusIs('in_review'));
  const team = await racePharmacists(20);

  const claims = await Promise.all(team.flatMap((p) => Array.from({ length: 5 }, async () => ({ who: p.code, ...(await p.client.post(`/v1/review-queue/${id}/claim`)) }))));
  expect(claims.every((c) => c.status === 200 || c.status === 409)).toBe(true);
  const winners = new Set(claims.filter((c) => c.status === 200).map((c) => c.who));
  expect(winners.size).toBe(1);
  const [winner] = [...winners];
  expect(claims.filter((c) => c.status === 409).every((c) => c.who !== winner && c.body.error.code === 'CLAIMED_BY_OTHER')).toBe(true);
  const holder = team.find((p) => p.code === winner)!;
  expect(await sql(`select pharmacist_id from review_claim where prescription_id = ?`, [id])).toEqual([{ pharmacist_id: holder.id }]);
  // One claim event: the winner's further claims were renewals, everyone else's were refused.
  const claimed = await sql(`select actor from audit_event where prescription_id = ? and action = 'review_claimed'`, [id]);
  expect(claimed).toEqual([{ actor: `pharmacist:${winner}` }]);

  // Everyone decides at once: the holder's decision is the only one taken.
  const decisions = await Promise.all(team.map(async (p) => ({ who: p.code, ...(await p.client.post(`/v1/prescriptions/${id}/review`, { decision: 'reject', reasons: ['MISSING_INFO'], comment: 'concurrency test' })) })));
  expect(decisions.filter((d) => d.status === 202).map((d) => d.who)).toEqual([winner]);
  expect(decisions.filter((d) => d.status !== 202).every((d) => d.status === 409 || d.status === 403)).toBe(true);
  await waitForPrescription(a.hospital, id, statusIs('rejected'));
  expect(await sql(`select pharmacist_id from review where prescription_id = ?`, [id])).toEqual([{ pharmacist_id: holder.id }]);
});

/** A pharmacy of its own, far from every test patient, with two SKUs, an API key, and n prescriptions of two lines each. */
async function raceFixture(units: [number, number], n: number) {
  const tag = randomUUID().slice(0, 8);
  const pharmacy = `RACE2-${tag}`;
  const skus = ['RX0001', 'RX0002'];
  const pharmacyId = await testPharmacy(pharmacy, '测试药房（并发）', { [skus[0]]: units[0], [skus[1]]: units[1] });
  const key = `race-pharmacy-${tag}`;
  await sql(`insert into api_client (id, key_hash, role, party_id, label, created_at) values (gen_random_uuid(), ?, 'pharmacy', ?, ?, now())`, [hashKey(key), pharmacyId, pharmacy]);
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    // Half list the SKUs one way round, half the other: two reservations locking rows in opposite orders.
    const order = i % 2 ? [...skus].reverse() : skus;
    ids.push(await matchingPrescription(`RACE2-${tag}-${i}`, order.map((drugCode, j) => ({ drugCode, drugName: '测试药', quantity: 1 + ((i + j) % 3) }))));
  }
  return { pharmacy, pharmacyId, ids, skus, client: new ApiClient(apiUrl(), key) };
}

it('60 two-line prescriptions racing for the last packs while the pharmacy rewrites its stock: never oversold, all or nothing', async () => {
  const { pharmacy, pharmacyId, ids, skus, client } = await raceFixture([25, 25], 60);
  const reserved = Promise.all(ids.map((id) => acts.reserveStock(id, pharmacy, 60_000)));
  // Meanwhile the pharmacy's ERP sets on hand (sometimes below what is reserved: refused, all or nothing),
  // and a third of the winners give their packs back.
  const writes = Promise.all([30, 12, 8, 40, 20, 2, 28].map((n) => client.call('PUT', '/v1/pharmacy/stock', { items: skus.map((drugCode) => ({ drugCode, onHand: n, priceFen: 1000 })) })));
  const results = await reserved;
  const releases = Promise.all(ids.filter((id, i) => results[i] && i % 3 === 0).map((id) => acts.releaseReservations(id, 'concurrency test')));
  const [puts] = await Promise.all([writes, releases]);

  expect(puts.every((p) => p.status === 200 || (p.status === 409 && p.body.error.code === 'BELOW_RESERVED'))).toBe(true);
  expect(results.filter(Boolean).length).toBeGreaterThan(0);
  const stock = await sql<{ drug_code: string; on_hand: number; reserved: number }>(`select drug_code, on_hand, reserved from stock where pharmacy_id = ? order by drug_code`, [pharmacyId]);
  const held = await sql<{ prescription_id: string; drug_code: string; quantity: number }>(`select prescription_id, drug_code, quantity from reservation where pharmacy_id = ? and status = 'held'`, [pharmacyId]);
  for (const s of stock) {
    // The stock's reserved count is exactly what the held reservations add up to, and never above on hand.
    const sum = held.filter((h) => h.drug_code === s.drug_code).reduce((t, h) => t + h.quantity, 0);
    expect({ sku: s.drug_code, reserved: s.reserved }).toEqual({ sku: s.drug_code, reserved: sum });
    expect(s.reserved).toBeGreaterThanOrEqual(0);
    expect(s.reserved).toBeLessThanOrEqual(s.on_hand);
  }
  // All or nothing: every prescription holding anything holds both its lines.
  const byRx = count(held.map((h) => h.prescription_id));
  expect(Object.values(byRx).every((n) => n === 2)).toBe(true);
  // Released ones hold nothing; the rest hold exactly what reserveStock said.
  ids.forEach((id, i) => expect([i, byRx[id] ?? 0]).toEqual([i, results[i] && i % 3 !== 0 ? 2 : 0]));
});
