// The parcel side of a delivery against the real engine (docs/delivery.md): cold-chain readings and the
// pharmacist's decision, the proof-of-delivery code, the label's contents, ETAs and the late flag.
import fs from 'node:fs';
import { DEMO } from '../../demo/fixtures';
import { actors, approve, closeDb, deliveryCode, sql, until } from './helpers';
import { deliveryAssigned, offered, statusIs, waitForPrescription, type ApiClient } from '../../demo/actors';
import { demoPrescription } from '../../demo/prescriptions';
import { scanOrder } from '../../demo/packs';
import { qrMatrix, LABEL_QR } from '../../activities/pdf';
import { pdfRects, pdfText } from '../pdf-text';
import { loadDeliveryConfig } from '../../engine/config';
import { transitMs } from '../../domain/delivery-eta';
import { rxflow } from '../support/rxflow-cli';

afterAll(closeDb);

const INSULIN = '甘精胰岛素注射液';
const MIN = 60_000;

/** Pushed, approved, accepted and dispensed: a delivery assigned to a partner. */
async function atDelivery(drugs?: { name: string; quantity?: number }[]) {
  const a = actors();
  const rx = demoPrescription(drugs ? { drugs } : {});
  const pushed = await a.hospital.post('/v1/prescriptions', rx);
  expect(pushed.status).toBe(201);
  const id = pushed.body.prescription.id as string;
  await waitForPrescription(a.hospital, id, statusIs('in_review'));
  await approve(id);
  const atOffer = await waitForPrescription(a.hospital, id, offered);
  const pharmacy = a.pharmacy(atOffer.workflow.offer.pharmacyCode);
  const order = (await pharmacy.get('/v1/pharmacy/orders')).body.items.find((o: any) => o.prescriptionId === id);
  expect((await pharmacy.post(`/v1/pharmacy/orders/${order.orderId}/accept`)).status).toBe(202);
  expect((await pharmacy.post(`/v1/pharmacy/orders/${order.orderId}/dispense`, { pharmacistName: '孙药师', lines: scanOrder(order.lines) })).status).toBe(201);
  const assigned = await waitForPrescription(a.hospital, id, deliveryAssigned);
  const { deliveryId, partnerCode } = assigned.workflow.delivery;
  // Registered with the partner (created); the partner assigns a courier first (docs/delivery.md §5).
  expect((await a.courier(partnerCode).post(`/v1/deliveries/${deliveryId}/status`, { status: 'assigned' })).status).toBe(202);
  return { a, id, rx, orderId: order.orderId as string, pharmacyCode: atOffer.workflow.offer.pharmacyCode as string, deliveryId: deliveryId as string, partnerCode: partnerCode as string, courier: a.courier(partnerCode) };
}

const status = (courier: ApiClient, deliveryId: string, body: Record<string, unknown>) => courier.post(`/v1/deliveries/${deliveryId}/status`, body);
/** One reading a minute, ending `endMinutesAgo` before now. */
function readings(temps: number[], endMinutesAgo = 1, sensorId = 'LOGGER-1') {
  const end = Date.now() - endMinutesAgo * MIN;
  return temps.map((celsius, i) => ({ at: new Date(end - (temps.length - 1 - i) * MIN).toISOString(), celsius, sensorId }));
}
const auditOf = (id: string) => sql(`select action, actor, data from audit_event where prescription_id = ? order by id`, [id]);

describe('cold chain', () => {
  it('flags an excursion, holds delivered with COLD_CHAIN_HOLD, and goes on to delivered when the pharmacist says continue', async () => {
    const { a, id, deliveryId, courier } = await atDelivery([{ name: INSULIN }]);
    const [row] = await sql(`select cold_chain from delivery where id = ?`, [deliveryId]);
    expect(row.cold_chain).toBe(true);
    expect((await status(courier, deliveryId, { status: 'picked_up' })).status).toBe(202);

    // In range: stored, nothing flagged. Validation: a bad batch stores nothing.
    const fine = await courier.post(`/v1/deliveries/${deliveryId}/temperature`, { readings: readings([4, 5, 5.5, 6], 50) });
    expect(fine.status).toBe(201);
    expect(fine.body).toMatchObject({ stored: 4, duplicates: 0, excursion: null });
    const bad = await courier.post(`/v1/deliveries/${deliveryId}/temperature`, { readings: [{ at: 'yesterday', celsius: 5 }, { at: new Date().toISOString(), celsius: 500 }] });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((d: any) => d.path)).toEqual(expect.arrayContaining(['$.readings[0].at', '$.readings[1].celsius']));
    const future = await courier.post(`/v1/deliveries/${deliveryId}/temperature`, { readings: [{ at: new Date(Date.now() + 3_600_000).toISOString(), celsius: 5 }] });
    expect(future.status).toBe(422);
    expect(future.body.error).toMatchObject({ code: 'READING_IN_FUTURE', details: [{ path: '$.readings[0].at' }] });
    expect((await courier.post(`/v1/deliveries/${deliveryId}/temperature`, { readings: Array(501).fill({ at: new Date().toISOString(), celsius: 5 }) })).status).toBe(400);

    // 10 ℃ for 35 minutes: longer than the 30-minute tolerance.
    const warm = readings([...Array(36).fill(10), 6], 2);
    const flagged = await courier.post(`/v1/deliveries/${deliveryId}/temperature`, { readings: warm });
    expect(flagged.status).toBe(201);
    expect(flagged.body).toMatchObject({ stored: 37, excursion: { rule: 'duration', status: 'open', new: true, held: true } });
    // The same batch again (a courier's retry): nothing stored twice, the same excursion.
    const again = await courier.post(`/v1/deliveries/${deliveryId}/temperature`, { readings: warm });
    expect(again.body).toMatchObject({ stored: 0, duplicates: 37, excursion: { id: flagged.body.excursion.id, new: false } });
    expect((await sql(`select count(*)::int as n from delivery_temperature where delivery_id = ?`, [deliveryId]))[0].n).toBe(41);

    // Held: the courier may go on, not hand over; the reader sees the hold.
    expect((await status(courier, deliveryId, { status: 'in_transit' })).status).toBe(202);
    const code = await deliveryCode(deliveryId);
    const held = await status(courier, deliveryId, { status: 'delivered', proof: { kind: 'code', reference: code } });
    expect(held.status).toBe(409);
    expect(held.body.error.code).toBe('COLD_CHAIN_HOLD');
    const read = await a.hospital.get(`/v1/prescriptions/${id}`);
    expect(read.body.delivery).toMatchObject({ deliveryId, coldChain: true, coldChainHold: { excursionId: flagged.body.excursion.id, rule: 'duration' } });
    expect(read.body.workflow.delivery.hold).toMatchObject({ excursionId: flagged.body.excursion.id });

    // The pharmacists' task: the excursion with its readings. Couriers and hospitals do not see the list.
    const list = await a.pharmacist.get('/v1/cold-chain/excursions');
    const task = list.body.items.find((x: any) => x.deliveryId === deliveryId);
    expect(task).toMatchObject({ status: 'open', rule: 'duration', prescriptionId: id, decision: null });
    expect(task.readings).toHaveLength(41);
    expect(task.detail).toMatchObject({ rule: 'duration', maxC: 10, readings: 36 });
    expect((await courier.get('/v1/cold-chain/excursions')).status).toBe(403);
    expect((await a.hospital.get('/v1/cold-chain/excursions')).status).toBe(403);
    expect((await courier.post(`/v1/deliveries/${deliveryId}/cold-chain-decision`, { decision: 'continue', reason: 'x' })).status).toBe(403);

    const noReason = await a.pharmacist.post(`/v1/deliveries/${deliveryId}/cold-chain-decision`, { decision: 'continue' });
    expect(noReason.status).toBe(400);
    const decided = await a.pharmacist.post(`/v1/deliveries/${deliveryId}/cold-chain-decision`, { decision: 'continue', reason: '10 ℃ 35 分钟，在说明书稳定性范围内' });
    expect(decided.status).toBe(202);
    await until('the decision recorded', async () => (await sql(`select status from cold_chain_excursion where id = ?`, [flagged.body.excursion.id]))[0].status === 'continue');
    await until('the hold lifted', async () => (await a.hospital.get(`/v1/prescriptions/${id}`)).body.workflow.delivery.hold === null);
    expect((await a.pharmacist.post(`/v1/deliveries/${deliveryId}/cold-chain-decision`, { decision: 'return', reason: 'again' })).body.error.code).toBe('NO_OPEN_EXCURSION');

    expect((await status(courier, deliveryId, { status: 'delivered', proof: { kind: 'code', reference: code } })).status).toBe(202);
    await waitForPrescription(a.hospital, id, statusIs('delivered', 'follow_up', 'completed'));

    const trail = await auditOf(id);
    expect(trail.find((e) => e.action === 'cold_chain_excursion')).toMatchObject({ actor: expect.stringMatching(/^courier:/), data: { deliveryId, rule: 'duration' } });
    expect(trail.find((e) => e.action === 'cold_chain_decided')).toMatchObject({ actor: 'pharmacist:P001', data: { decision: 'continue', reason: '10 ℃ 35 分钟，在说明书稳定性范围内' } });
    const [event] = await sql(`select envelope from hospital_event where prescription_id = ? and type = 'rxflow.prescription.cold_chain_excursion'`, [id]);
    expect(event.envelope.data).toMatchObject({ deliveryId, rule: 'duration', held: true });
  });

  it('returns the parcel when the pharmacist decides so: the prescription ends returned; the lead is told while it waits', async () => {
    const { a, id, deliveryId, courier } = await atDelivery([{ name: INSULIN }]);
    expect((await status(courier, deliveryId, { status: 'picked_up' })).status).toBe(202);
    expect((await status(courier, deliveryId, { status: 'in_transit' })).status).toBe(202);
    // One reading at -1 ℃: frozen, however short.
    const frozen = await courier.post(`/v1/deliveries/${deliveryId}/temperature`, { readings: readings([5, -1, 5], 1, 'CORE') });
    expect(frozen.body.excursion).toMatchObject({ rule: 'frozen', held: true });
    // Undecided past RX_COLD_CHAIN_DECISION_MS (short in tests): escalated to the lead pharmacist.
    await until('the escalation', async () => (await auditOf(id)).some((e) => e.action === 'cold_chain_escalated'));
    expect((await auditOf(id)).find((e) => e.action === 'lead_pharmacist_notified' && e.data.about === 'cold_chain_excursion')?.data.leads).toEqual(['P002']);

    const decided = await a.leadPharmacist.post(`/v1/deliveries/${deliveryId}/cold-chain-decision`, { decision: 'return', reason: '胰岛素冻结后不可使用', excursionId: frozen.body.excursion.id });
    expect(decided.status).toBe(202);
    await waitForPrescription(a.hospital, id, statusIs('returned'));
    const [d] = await sql(`select status from delivery where id = ?`, [deliveryId]);
    expect(d.status).toBe('failed');
    const trail = await auditOf(id);
    expect(trail.find((e) => e.action === 'returned')?.data).toMatchObject({ reason: 'cold_chain_excursion' });
    expect(trail.filter((e) => e.action === 'delivery_assigned')).toHaveLength(1); // not re-dispatched
    const after = await status(courier, deliveryId, { status: 'in_transit' });
    expect(after.status).toBe(409);
  });
});

describe('proof of delivery', () => {
  it('sends a six-digit code to the patient, keeps only its keyed hash, counts wrong codes and locks at five; a signature still delivers', async () => {
    const { a, id, deliveryId, courier } = await atDelivery();
    const code = await deliveryCode(deliveryId);
    expect(code).toMatch(/^\d{6}$/);
    const [row] = await sql(`select proof_code_hash, proof_code_failures from delivery where id = ?`, [deliveryId]);
    expect(row.proof_code_hash).toMatch(/^[0-9a-f]{64}$/);
    const sent = (await auditOf(id)).find((e) => e.action === 'patient_notified' && e.data.event === 'delivery_code');
    expect(sent?.data).toMatchObject({ codeSent: true, to: '138****0001', deliveryId });

    expect((await status(courier, deliveryId, { status: 'picked_up' })).status).toBe(202);
    expect((await status(courier, deliveryId, { status: 'in_transit' })).status).toBe(202);
    expect((await status(courier, deliveryId, { status: 'delivered' })).body.error.code).toBe('PROOF_REQUIRED');
    const wrong = code === '000000' ? '111111' : '000000';
    for (let i = 1; i <= 4; i++) {
      const r = await status(courier, deliveryId, { status: 'delivered', proof: { kind: 'code', reference: wrong } });
      expect(r.status).toBe(422);
      expect(r.body.error).toMatchObject({ code: 'PROOF_CODE_INVALID', details: [{ path: '$.proof.reference' }] });
      expect(r.body.error.message).toContain(`${5 - i} tr`);
    }
    const fifth = await status(courier, deliveryId, { status: 'delivered', proof: { kind: 'code', reference: wrong } });
    expect(fifth.status).toBe(423);
    expect(fifth.body.error.code).toBe('PROOF_CODE_LOCKED');
    expect(fifth.body.error.message).toMatch(/signature/);
    // Locked: even the right code, or a photo, is refused; a signature image is accepted.
    expect((await status(courier, deliveryId, { status: 'delivered', proof: { kind: 'code', reference: code } })).status).toBe(423);
    expect((await status(courier, deliveryId, { status: 'delivered', proof: { kind: 'photo', reference: 'img/door.jpg' } })).status).toBe(423);
    expect((await status(courier, deliveryId, { status: 'delivered', proof: { kind: 'signature', reference: 'sig/2026/abc.png', receivedBy: '张建国' } })).status).toBe(202);
    await waitForPrescription(a.hospital, id, statusIs('delivered', 'follow_up', 'completed'));

    const trail = await auditOf(id);
    expect(trail.filter((e) => e.action === 'proof_code_rejected').map((e) => e.data.failures)).toEqual([1, 2, 3, 4, 5]);
    expect(trail.filter((e) => e.action === 'proof_code_locked')).toHaveLength(1);
    // The code is in no record: not the trail, not the delivery's events, not the engine's log.
    expect(JSON.stringify(trail)).not.toContain(code);
    const [d] = await sql(`select events from delivery where id = ?`, [deliveryId]);
    expect(JSON.stringify(d.events)).not.toContain(code);
    expect(fs.readFileSync(process.env.RX_LOG_FILE!, 'utf8')).not.toContain(code);
  });

  it('accepts the right code and records it as verified, never the code itself', async () => {
    const { a, id, deliveryId, courier } = await atDelivery();
    const code = await deliveryCode(deliveryId);
    expect((await status(courier, deliveryId, { status: 'picked_up' })).status).toBe(202);
    expect((await status(courier, deliveryId, { status: 'in_transit' })).status).toBe(202);
    expect((await status(courier, deliveryId, { status: 'delivered', proof: { kind: 'code', reference: code, receivedBy: '张建国' } })).status).toBe(202);
    await waitForPrescription(a.hospital, id, statusIs('delivered', 'follow_up', 'completed'));
    const [d] = await sql(`select events, proof_code_failures from delivery where id = ?`, [deliveryId]);
    expect(d.events.at(-1)).toMatchObject({ status: 'delivered', proof: { kind: 'code', verified: true, receivedBy: '张建国' } });
    expect(d.proof_code_failures).toBe(0);
  });
});

describe('the label', () => {
  it('carries the order, pharmacy, patient address and masked phone, storage, attempt and the QR code of the delivery id; no diagnosis, no drug names', async () => {
    const { rx, orderId, pharmacyCode, deliveryId, courier } = await atDelivery([{ name: INSULIN }]);
    const res = await fetch(`${process.env.RX_TEST_API_URL}/v1/deliveries/${deliveryId}/label.pdf`, { headers: { authorization: `Bearer ${courier.key}` } });
    expect(res.status).toBe(200);
    const pdf = Buffer.from(await res.arrayBuffer());
    const text = pdfText(pdf);
    const [pharmacy] = await sql(`select name, address from pharmacy where code = ?`, [pharmacyCode]);
    for (const expected of [rx.rxNo, orderId, deliveryId, pharmacy.name, pharmacy.address, '张建国', rx.patient.address.text, '138****0001', '冷藏 2–8 ℃', '避光', '请勿冷冻', '第 1 次配送']) {
      expect(text.replace(/\n/g, '')).toContain(expected);
    }
    for (const absent of ['13857100001', '原发性高血压', '2型糖尿病', 'I10', INSULIN, '胰岛素']) expect(text).not.toContain(absent);

    // The QR code drawn is the delivery id's: the same modules, where the label puts them.
    const drawn = new Set(pdfRects(pdf).filter(([, , w, h]) => w === LABEL_QR.module && h === LABEL_QR.module)
      .map(([x, y]) => `${Math.round((y - LABEL_QR.y) / LABEL_QR.module)},${Math.round((x - LABEL_QR.x) / LABEL_QR.module)}`));
    const expected = new Set(qrMatrix(deliveryId).flatMap((row, r) => row.flatMap((dark, c) => (dark ? [`${r},${c}`] : []))));
    expect(drawn.size).toBeGreaterThan(100);
    expect(drawn).toEqual(expected);
    expect(qrMatrix(`${deliveryId}x`)).not.toEqual(qrMatrix(deliveryId));
  });
});

describe('ETA and lateness', () => {
  it('shows the promised window and the ETA per status; past the window the delivery is flagged late once, everywhere', async () => {
    const { a, id, deliveryId, courier, partnerCode } = await atDelivery();
    const eta = loadDeliveryConfig().eta;
    const listed = async () => (await courier.get('/v1/courier/deliveries')).body.items.find((x: any) => x.deliveryId === deliveryId);
    const [d0] = await sql(`select created_at, promised_by, eta, distance_km from delivery where id = ?`, [deliveryId]);
    // The partner's own promise for a parcel with nothing special (its registry's standard window), from dispatch.
    const windowMs = DEMO.partners.find((p) => p.code === partnerCode)!.promisedMinutes.standard * MIN;
    expect(new Date(d0.promised_by).getTime() - new Date(d0.created_at).getTime()).toBeLessThanOrEqual(windowMs);
    expect(new Date(d0.promised_by).getTime() - new Date(d0.created_at).getTime()).toBeGreaterThan(windowMs - 5_000);
    expect(await listed()).toMatchObject({ promisedBy: new Date(d0.promised_by).toISOString(), eta: new Date(d0.eta).toISOString(), late: false });

    // The window is driven by data, not by waiting: it ended a minute ago.
    await sql(`update delivery set promised_by = now() - interval '1 minute' where id = ?`, [deliveryId]);
    expect((await status(courier, deliveryId, { status: 'picked_up' })).status).toBe(202);
    const picked = await until('picked_up recorded', async () => (await sql(`select eta, late_at, events, distance_km from delivery where id = ? and status = 'picked_up'`, [deliveryId]))[0]);
    const pickedAt = new Date(picked.events.at(-1).at).getTime();
    expect(new Date(picked.eta).getTime() - pickedAt).toBe(transitMs(picked.distance_km, eta));
    expect(picked.late_at).not.toBeNull();
    expect((await status(courier, deliveryId, { status: 'in_transit' })).status).toBe(202);
    const moving = await until('in_transit recorded', async () => (await sql(`select eta, events from delivery where id = ? and status = 'in_transit'`, [deliveryId]))[0]);
    expect(new Date(moving.eta).getTime() - new Date(moving.events.at(-1).at).getTime()).toBe(Math.round(transitMs(picked.distance_km, eta) / 2));
    expect((await auditOf(id)).filter((e) => e.action === 'delivery_late')).toHaveLength(1);

    expect(await listed()).toMatchObject({ late: true, eta: new Date(moving.eta).toISOString() });
    expect((await a.hospital.get(`/v1/prescriptions/${id}`)).body.delivery).toMatchObject({ deliveryId, status: 'in_transit', late: true, eta: new Date(moving.eta).toISOString() });
    const task = (await a.hospital.get(`/fhir/R4/Task/${id}`)).body;
    expect(task.extension).toEqual(expect.arrayContaining([
      { url: expect.stringMatching(/delivery-eta$/), valueDateTime: new Date(moving.eta).toISOString() },
      { url: expect.stringMatching(/delivery-late$/), valueBoolean: true },
    ]));
    expect(new Date(task.restriction.period.end).getTime()).toBeLessThan(Date.now());

    const stuck = await rxflow(['stuck', '--kind', 'delivery_late', '--no-temporal', '--json']);
    expect(stuck.code).toBe(0);
    const item = JSON.parse(stuck.stdout).items.find((i: any) => i.prescriptionId === id);
    expect(item).toMatchObject({ kind: 'delivery_late' });
    expect(item.overdueMs).toBeGreaterThanOrEqual(60_000);

    expect((await status(courier, deliveryId, { status: 'delivered', proof: { kind: 'code', reference: await deliveryCode(deliveryId) } })).status).toBe(202);
    await waitForPrescription(a.hospital, id, statusIs('delivered', 'follow_up', 'completed'));
    expect((await auditOf(id)).filter((e) => e.action === 'delivery_late')).toHaveLength(1);
    const after = await rxflow(['stuck', '--kind', 'delivery_late', '--no-temporal', '--json']);
    expect(JSON.parse(after.stdout).items.map((i: any) => i.prescriptionId)).not.toContain(id);
  });
});
