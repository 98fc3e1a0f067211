// Delivery partners as a subsystem (docs/delivery.md), against the real services and two partner
// simulators: registration by an operator, the choice by area and capability (cold chain), the adapter
// creating the delivery in the partner's system, signed updates (bad, stale, replayed, rotated), every
// legal and illegal transition through the API, idempotent repeats, and a failed-then-retried-then-
// returned delivery that restores the stock and reverses the insurance settlement.
// The test partners serve only region 330199, the region of this file's own hospital, so no other test's
// delivery is ever given to them (and theirs win here: shorter promised windows than the demo partners').
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ApiClient, PartnerClient, statusIs, waitForPrescription } from '../../demo/actors';
import { DEMO } from '../../demo/fixtures';
import { demoPrescriptionContent, signAsDemoHospital, type DemoRxOptions } from '../../demo/prescriptions';
import { scanOrder } from '../../demo/packs';
import { hashKey } from '../../api/auth';
import { DELIVERY_STATUSES, type DeliveryStatus } from '../../domain/prescription-status';
import { signPartnerRequest } from '../../sdk/partner';
import { actors, apiUrl, approve, closeDb, sql, stockOf, until } from './helpers';
import { startPartnerSimulator, type PartnerSimulator } from '../simulators/partner';

const REGION = '330199';
const tag = randomBytes(3).toString('hex').toUpperCase();
let hospital: ApiClient;
const partners: Record<'fast' | 'cold', { code: string; apiKey: string; secret: string; sim: PartnerSimulator }> = {} as never;

async function register(o: Record<string, unknown>) {
  const r = await actors().operator.post('/v1/ops/delivery-partners', o);
  if (r.status !== 201) throw new Error(`register: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as { apiKey: string; secret: string; partner: any };
}

beforeAll(async () => {
  const code = `DP-${tag}`;
  const key = `dp-hospital-${randomUUID()}`;
  const [h] = await sql(`insert into hospital (id, code, name, region_code, created_at) values (gen_random_uuid(), ?, ?, ?, now()) returning id`, [code, `配送测试医院 ${tag}（测试）`, REGION]);
  await sql(`insert into api_client (id, key_hash, role, party_id, label, created_at) values (gen_random_uuid(), ?, 'hospital', ?, ?, now())`, [hashKey(key), h.id, code]);
  for (const d of DEMO.doctors) {
    await sql(`insert into doctor (id, hospital_id, code, name, license_no, licensed, authorised) values (gen_random_uuid(), ?, ?, ?, ?, ?, ?)`, [h.id, d.code, d.name, d.licenseNo, d.licensed, d.authorised]);
  }
  hospital = new ApiClient(apiUrl(), key);
  const reg = await hospital.post('/v1/hospital/signing-keys', {
    keyId: DEMO.hospital.signingKeyId, alg: 'ES256', validTo: '2030-12-31T23:59:59Z',
    publicKeyPem: fs.readFileSync(path.resolve(__dirname, '../../demo/keys/demo-hospital-es256.pub.pem'), 'utf8'),
  });
  if (reg.status !== 201) throw new Error(`signing key: ${reg.status} ${JSON.stringify(reg.body)}`);

  // Two partners with adapters: a fast one without cold chain, and a cold-chain one.
  for (const [which, body] of [
    ['fast', { capabilities: ['same_day'], promisedMinutes: { standard: 15, same_day: 15 } }],
    ['cold', { capabilities: ['cold_chain'], promisedMinutes: { standard: 30, cold_chain: 30 } }],
  ] as const) {
    const partnerCode = `TP-${which.toUpperCase()}-${tag}`;
    // Registered without an endpoint first: the simulator needs the key and secret it is given.
    const r = await register({ code: partnerCode, name: `测试配送 ${which}`, serviceArea: { regions: [REGION] }, endpointUrl: null, ...body });
    const sim = await startPartnerSimulator({ apiUrl: apiUrl(), apiKey: r.apiKey, secret: r.secret });
    const patched = await actors().operator.call('PATCH', `/v1/ops/delivery-partners/${partnerCode}`, { endpointUrl: sim.url });
    expect(patched.status).toBe(200);
    partners[which] = { code: partnerCode, apiKey: r.apiKey, secret: r.secret, sim };
  }
}, 120_000);

afterAll(async () => {
  for (const p of Object.values(partners)) await p.sim.close();
  await closeDb();
});

const simOf = (code: string) => Object.values(partners).find((p) => p.code === code)!.sim;

/** Pushed by this file's hospital, approved, accepted and dispensed: waiting for its first delivery. */
async function toDelivery(o: DemoRxOptions = {}, waitForFirst = true) {
  const a = actors();
  const pushed = await hospital.post('/v1/prescriptions', signAsDemoHospital(demoPrescriptionContent(o)));
  expect(pushed.status).toBe(201);
  const id = pushed.body.prescription.id as string;
  await waitForPrescription(hospital, id, statusIs('in_review'));
  await approve(id);
  const offered = await waitForPrescription(hospital, id, (d) => d.workflow?.offer && d.workflow.timeline.at(-1)?.event === 'pharmacy_offered');
  const pharmacyCode = offered.workflow.offer.pharmacyCode as string;
  const order = (await a.pharmacy(pharmacyCode).get('/v1/pharmacy/orders')).body.items.find((x: any) => x.prescriptionId === id);
  expect((await a.pharmacy(pharmacyCode).post(`/v1/pharmacy/orders/${order.orderId}/accept`)).status).toBe(202);
  expect((await a.pharmacy(pharmacyCode).post(`/v1/pharmacy/orders/${order.orderId}/dispense`, { pharmacistName: '孙药师', lines: scanOrder(order.lines) })).status).toBe(201);
  const d = waitForFirst ? await attempt(id, 1) : { deliveryId: '', partnerCode: '' };
  return { id, pharmacyCode, order, ...d };
}

async function attempt(id: string, n: number) {
  const d = await waitForPrescription(hospital, id, (x) => x.workflow?.delivery?.attempt === n && x.prescription.status === 'in_delivery');
  return { deliveryId: d.workflow.delivery.deliveryId as string, partnerCode: d.workflow.delivery.partnerCode as string };
}

const body = (status: string, note?: string) => ({ ...(note ? { note } : {}), ...(status === 'delivered' ? { proof: { kind: 'signature', reference: 'sig/4321.png' } } : {}) });

/** The spec's machine, written out again here so the test does not just read the code back. */
const LEGAL: Record<DeliveryStatus, DeliveryStatus[]> = {
  created: ['assigned', 'failed'], assigned: ['picked_up', 'failed'], picked_up: ['in_transit', 'failed'],
  in_transit: ['delivered', 'failed'], delivered: [], failed: ['returned'], returned: [],
};
const POSTABLE = DELIVERY_STATUSES.filter((s) => s !== 'created');

/** At `from`: every illegal status is 409 naming from, to and the allowed next ones; a repeat is 200 and writes nothing. */
async function checkAt(sim: PartnerSimulator, id: string, deliveryId: string, from: DeliveryStatus, open = true) {
  // The workflow records a status after answering: wait until the row (and its audit event, same transaction) has it.
  await until(`delivery ${deliveryId} at ${from}`, async () => (await sql(`select status from delivery where id = ?`, [deliveryId]))[0].status === from);
  const deliveryEvents = async () => (await sql(`select count(*)::int as n from audit_event where prescription_id = ? and action like 'delivery%'`, [id]))[0].n;
  const auditBefore = await deliveryEvents();
  for (const to of POSTABLE) {
    if (open && LEGAL[from].includes(to)) continue;
    if (to === from) continue;
    const r = await sim.post(deliveryId, to, body(to));
    expect({ to, status: r.status, code: r.body?.error?.code }).toEqual({ to, status: 409, code: 'ILLEGAL_DELIVERY_TRANSITION' });
    expect(r.body.error.message).toContain(`from ${from} to ${to}`);
    expect(r.body.error.details[0]).toMatchObject({ path: '$.status', from, to, allowed: open ? LEGAL[from] : [] });
  }
  if (from !== 'created') {
    // The same status with the same content again: the current state, nothing new recorded.
    const again = await sim.post(deliveryId, from, body(from, `note ${from}`));
    expect({ status: again.status, repeated: again.body.repeated, current: again.body.status }).toEqual({ status: 200, repeated: true, current: from });
    // The same status saying something else is not a repeat.
    const other = await sim.post(deliveryId, from, body(from, 'something else'));
    expect({ status: other.status, code: other.body?.error?.code }).toEqual({ status: 409, code: 'CONFLICTING_REPEAT' });
  }
  // 'created' is rxflow's own status: a partner cannot post it.
  expect((await sim.post(deliveryId, 'created')).status).toBe(400);
  expect(await deliveryEvents()).toBe(auditBefore);
}

async function move(sim: PartnerSimulator, deliveryId: string, to: DeliveryStatus) {
  const r = await sim.post(deliveryId, to, body(to, `note ${to}`));
  expect({ to, status: r.status, body: r.status === 202 ? 'ok' : r.body }).toEqual({ to, status: 202, body: 'ok' });
  return r;
}

describe('the partner registry', () => {
  it('lists partners without secrets; auditors read it, couriers cannot; a bad registration is a 400 in the house shape', async () => {
    const a = actors();
    for (const reader of [a.operator, a.auditor]) {
      const list = await reader.get('/v1/ops/delivery-partners');
      expect(list.status).toBe(200);
      const mine = list.body.items.find((p: any) => p.code === partners.cold.code);
      expect(mine).toMatchObject({ active: true, capabilities: ['cold_chain'], serviceArea: { regions: [REGION] }, endpointUrl: partners.cold.sim.url, fullPhone: false });
      expect(mine.secrets).toHaveLength(1);
      expect(JSON.stringify(list.body)).not.toContain(partners.cold.secret);
    }
    expect((await a.courier('SF-CITY').get('/v1/ops/delivery-partners')).status).toBe(403);
    const bad = await a.operator.post('/v1/ops/delivery-partners', { code: 'x', name: '', serviceArea: {}, promisedMinutes: {} });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('VALIDATION_FAILED');
    expect(bad.body.error.details.map((d: any) => d.path)).toEqual(expect.arrayContaining(['$.code', '$.name']));
    // Stored encrypted with the data keys, never in clear.
    const [row] = await sql(`select secrets::text as s from delivery_partner where code = ?`, [partners.cold.code]);
    expect(row.s).toContain('enc:');
    expect(row.s).not.toContain(partners.cold.secret);
  });
});

describe('choosing a partner and creating the delivery through its adapter', () => {
  it('sends an ordinary parcel to the fastest partner serving the area, and a cold-chain one to a cold-chain partner', async () => {
    const plain = await toDelivery();
    expect(plain.partnerCode).toBe(partners.fast.code);
    const cold = await toDelivery({ drugs: [{ name: '甘精胰岛素' }] });
    expect(cold.partnerCode).toBe(partners.cold.code);

    // The adapter's request: idempotency key = delivery id, rxflow's signature, a masked phone, the cold-chain flag.
    const req = partners.cold.sim.requests.find((r) => r.body.deliveryId === cold.deliveryId)!;
    expect(req).toMatchObject({ idempotencyKey: cold.deliveryId, signatureValid: true });
    expect(req.body).toMatchObject({
      attempt: 1, coldChain: true, capabilities: ['cold_chain'], promisedMinutes: 30, packages: 1,
      dropoff: { phone: '138****0001', phoneMasked: true, regionCode: REGION, name: '张建国' },
      statusUrl: expect.stringMatching(new RegExp(`/v1/deliveries/${cold.deliveryId}/status$`)),
    });
    expect(JSON.stringify(req.body)).not.toContain('13857100001');
    expect(JSON.stringify(req.body)).not.toContain('原发性高血压');
    const [row] = await sql(`select status, partner_ref from delivery where id = ?`, [cold.deliveryId]);
    expect(row).toEqual({ status: 'created', partner_ref: partners.cold.sim.deliveries.get(cold.deliveryId)!.partnerRef });
    const [ev] = await sql(`select data from audit_event where prescription_id = ? and action = 'delivery_created'`, [cold.id]);
    expect(ev.data).toMatchObject({ partner: partners.cold.code, needs: ['cold_chain'], coldChain: true });
    // Every partner without cold chain was passed over for it.
    expect(ev.data.excluded).toEqual(expect.arrayContaining([partners.fast.code, 'DADA']));
  });
});

describe('signed partner updates', () => {
  it('refuses a missing, bad or stale signature and a replay; accepts the previous secret during a rotation', async () => {
    const { id, deliveryId } = await toDelivery();
    const p = partners.fast;
    const client = new PartnerClient(apiUrl(), p.apiKey, p.secret);
    const path = `/v1/deliveries/${deliveryId}/status`;
    const raw = JSON.stringify({ status: 'assigned', note: 'courier 王师傅' });

    const unsigned = await new ApiClient(apiUrl(), p.apiKey).post(path, { status: 'assigned' });
    expect({ status: unsigned.status, code: unsigned.body.error.code }).toEqual({ status: 401, code: 'SIGNATURE_REQUIRED' });
    const wrong = await client.send('POST', path, raw, signPartnerRequest('not-the-secret', { method: 'POST', path, body: raw }));
    expect({ status: wrong.status, code: wrong.body.error.code }).toEqual({ status: 401, code: 'BAD_SIGNATURE' });
    // Signed for one body, sent with another.
    const swapped = await client.send('POST', path, JSON.stringify({ status: 'failed' }), signPartnerRequest(p.secret, { method: 'POST', path, body: raw }));
    expect({ status: swapped.status, code: swapped.body.error.code }).toEqual({ status: 401, code: 'BAD_SIGNATURE' });
    const stale = await client.send('POST', path, raw, signPartnerRequest(p.secret, { method: 'POST', path, body: raw, timestamp: Math.floor(Date.now() / 1000) - 600 }));
    expect({ status: stale.status, code: stale.body.error.code }).toEqual({ status: 401, code: 'STALE_REQUEST' });
    // Another partner's key with this partner's signature: its own secret does not make it.
    const other = await new PartnerClient(apiUrl(), partners.cold.apiKey, p.secret).send('POST', path, raw, signPartnerRequest(p.secret, { method: 'POST', path, body: raw }));
    expect({ status: other.status, code: other.body.error.code }).toEqual({ status: 401, code: 'BAD_SIGNATURE' });

    const headers = signPartnerRequest(p.secret, { method: 'POST', path, body: raw });
    expect((await client.send('POST', path, raw, headers)).status).toBe(202);
    // The very same request again (same update id and signature): refused, and nothing recorded twice.
    const replay = await client.send('POST', path, raw, headers);
    expect({ status: replay.status, code: replay.body.error.code }).toEqual({ status: 409, code: 'REPLAYED_UPDATE' });
    // The same update id re-signed a second later is a replay too.
    const sameId = await client.send('POST', path, raw, signPartnerRequest(p.secret, { method: 'POST', path, body: raw, updateId: headers['x-rxflow-update-id'], timestamp: Math.floor(Date.now() / 1000) + 1 }));
    expect(sameId.body.error.code).toBe('REPLAYED_UPDATE');
    const assignedEvents = async () => (await sql(`select count(*)::int as n from audit_event where prescription_id = ? and action = 'delivery_assigned'`, [id]))[0].n;
    await until('one assigned event', async () => (await assignedEvents()) === 1);
    expect(await assignedEvents()).toBe(1);
    // Seen ids are kept in PostgreSQL (unique), so a restart does not forget them.
    expect((await sql(`select count(*)::int as n from signed_request where party_kind = 'partner' and request_id = ?`, [headers['x-rxflow-update-id']]))[0].n).toBe(1);

    // Rotation: the new secret signs; the previous one still verifies during the overlap.
    const rotated = await actors().operator.post(`/v1/ops/delivery-partners/${p.code}/secret/rotate`);
    expect(rotated.status).toBe(200);
    expect(rotated.body.partner.secrets).toHaveLength(2);
    const withNew = new PartnerClient(apiUrl(), p.apiKey, rotated.body.secret);
    expect((await withNew.post(path, { status: 'picked_up' })).status).toBe(202);
    expect((await client.post(path, { status: 'in_transit' })).status).toBe(202);
    expect((await withNew.post(path, { status: 'delivered', proof: { kind: 'signature', reference: 'sig/4321.png' } })).status).toBe(202);
    await waitForPrescription(hospital, id, statusIs('follow_up', 'completed'));
  });
});

describe('the delivery state machine through the API', () => {
  it('walks created → assigned → picked_up → in_transit → delivered, refusing every illegal status on the way', async () => {
    const { id, deliveryId, partnerCode } = await toDelivery();
    const sim = simOf(partnerCode);
    for (const [from, to] of [['created', 'assigned'], ['assigned', 'picked_up'], ['picked_up', 'in_transit'], ['in_transit', 'delivered']] as const) {
      await checkAt(sim, id, deliveryId, from);
      await move(sim, deliveryId, to);
    }
    await waitForPrescription(hospital, id, statusIs('delivered', 'follow_up', 'completed'));
    await checkAt(sim, id, deliveryId, 'delivered');
    expect((await sql(`select status from delivery where id = ?`, [deliveryId]))[0].status).toBe('delivered');
  });

  it('takes an update from a partner that posts while its delivery is still being handed over, once the hand-over is done', async () => {
    // The partner hears of the delivery inside the dispatch, before the workflow has the dispatch's answer.
    const sims = Object.values(partners).map((p) => p.sim);
    for (const sim of sims) sim.behaviour.delayMs = 2500;
    try {
      const { id } = await toDelivery({}, false);
      const row = await until('the first delivery stored', async () => (await sql(`select d.id, p.code from delivery d join delivery_partner p on p.id = d.partner_id where d.prescription_id = ? and d.attempt = 1`, [id]))[0] ?? null);
      // Posted while the partner's adapter has not answered yet: it waits in the workflow, then is taken.
      const early = await move(simOf(row.code), row.id, 'assigned');
      expect(early.body).toMatchObject({ deliveryId: row.id, status: 'assigned' });
      const { deliveryId } = await attempt(id, 1);
      expect(deliveryId).toBe(row.id);
      await until('assigned recorded', async () => (await sql(`select status from delivery where id = ?`, [row.id]))[0].status === 'assigned');
      const [{ events }] = await sql(`select events from delivery where id = ?`, [row.id]);
      expect(events.filter((e: { status: string }) => e.status === 'assigned')).toHaveLength(1); // taken once
      await move(simOf(row.code), row.id, 'picked_up');
    } finally {
      for (const sim of sims) sim.behaviour.delayMs = 0;
    }
  });

  it('fails from every state, dispatches again to another partner, and takes the parcel back: stock restored, insurance reversed, hospital and patient told', async () => {
    const { id, deliveryId, partnerCode, pharmacyCode, order } = await toDelivery();
    const first = simOf(partnerCode);
    // Attempt 1 fails in transit.
    for (const s of ['assigned', 'picked_up', 'in_transit'] as const) await move(first, deliveryId, s);
    await move(first, deliveryId, 'failed');
    // Attempt 2 goes to another partner, never the one that just failed.
    const second = await attempt(id, 2);
    expect(second.partnerCode).not.toBe(partnerCode);
    expect(second.partnerCode).toBe(partners.cold.code);
    // The first delivery is closed now: nothing more is taken for it.
    await checkAt(first, id, deliveryId, 'failed', false);
    const sim2 = simOf(second.partnerCode);
    await checkAt(sim2, id, second.deliveryId, 'created');
    await move(sim2, second.deliveryId, 'assigned');
    await move(sim2, second.deliveryId, 'picked_up');
    await move(sim2, second.deliveryId, 'failed');
    // Out of attempts: waiting for the parcel to come back.
    await waitForPrescription(hospital, id, (d) => d.workflow?.delivery?.status === 'failed' && d.workflow.delivery.attempt === 2);
    await checkAt(sim2, id, second.deliveryId, 'failed');
    const before = await Promise.all(order.lines.map((l: any) => stockOf(pharmacyCode, l.drugCode)));
    await move(sim2, second.deliveryId, 'returned');
    await waitForPrescription(hospital, id, statusIs('returned'));
    await checkAt(sim2, id, second.deliveryId, 'returned');

    // The packs are back on the shelf, once.
    const after = await Promise.all(order.lines.map((l: any) => stockOf(pharmacyCode, l.drugCode)));
    order.lines.forEach((l: any, i: number) => expect(after[i].on_hand - before[i].on_hand).toBe(l.quantity));
    expect((await sql(`select distinct status from reservation where prescription_id = ?`, [id])).map((r) => r.status)).toEqual(['returned']);
    const acts = (await sql(`select action, data from audit_event where prescription_id = ? order by id`, [id]));
    const names = acts.map((x) => x.action);
    expect(names.filter((n) => n === 'restocked_returned')).toHaveLength(1);
    expect(names.indexOf('delivery_returned')).toBeLessThan(names.indexOf('restocked_returned'));
    // The settlement is reversed by its own record.
    const settlement = (await hospital.get(`/v1/prescriptions/${id}/settlement`)).body;
    expect(settlement.settlement.reversedAt).toBeTruthy();
    expect(settlement.reversal).toMatchObject({ reason: 'returned', totalFen: -settlement.settlement.totalFen });
    // Hospital and patient told, and the hospital's event feed says returned.
    const told = acts.filter((x) => x.action === 'hospital_notified' || x.action === 'patient_notified').map((x) => `${x.action}:${x.data.event}`);
    expect(told).toEqual(expect.arrayContaining(['hospital_notified:returned', 'patient_notified:returned']));
    const events = await sql(`select type from hospital_event where prescription_id = ? order by sequence`, [id]);
    expect(events.map((e) => e.type)).toContain('rxflow.prescription.returned');
    expect((await sql(`select status from delivery where prescription_id = ? order by attempt`, [id])).map((r) => r.status)).toEqual(['failed', 'returned']);
  });

  it('fails at created and at assigned: a partner that refuses at dispatch fails the attempt at once', async () => {
    partners.fast.sim.behaviour.refuse = true;
    let rx: Awaited<ReturnType<typeof toDelivery>>;
    try {
      rx = await toDelivery({}, false);
      await until('a second attempt dispatched', async () => (await sql(`select 1 from delivery where prescription_id = ? and attempt = 2`, [rx.id])).length > 0);
    } finally {
      partners.fast.sim.behaviour.refuse = false;
    }
    const { id } = rx;
    // The fast partner refused attempt 1 (created → failed, by the adapter); attempt 2 went to the cold-chain one.
    const rows = await until('the rows', async () => {
      const r = await sql(`select attempt, status, p.code from delivery d join delivery_partner p on p.id = d.partner_id where d.prescription_id = ? order by attempt`, [id]);
      return r.length === 2 ? r : null;
    });
    expect(rows).toEqual([{ attempt: 1, status: 'failed', code: partners.fast.code }, { attempt: 2, status: 'created', code: partners.cold.code }]);
    const second = await attempt(id, 2);
    const sim2 = simOf(second.partnerCode);
    await move(sim2, second.deliveryId, 'assigned');
    await move(sim2, second.deliveryId, 'failed');
    await move(sim2, second.deliveryId, 'returned');
    await waitForPrescription(hospital, id, statusIs('returned'));
  });
});

