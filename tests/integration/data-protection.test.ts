// Health data protected at rest and an operator's export and erasure (docs/data-protection.md), against real
// PostgreSQL through the API: the encrypted columns hold no plaintext (read straight from the tables), the
// engine still reads the signed content, lookups work by keyed hash, key rotation re-encrypts and the old
// data still decrypts, and export/erase follow the retention rules while the audit chains stay verifiable.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { actors, closeDb, sql } from './helpers';
import { statusIs, waitForPrescription } from '../../demo/actors';
import { demoPrescriptionContent, signAsDemoHospital } from '../../demo/prescriptions';
import { DEMO } from '../../demo/fixtures';
import { openOrm } from '../../db/orm';
import { PrescriptionSchema } from '../../db/entities';
import { registeredKeys } from '../../api/signing-keys';
import { verifyPrescriptionSignature } from '../../domain/signature';
import { DecryptError, decryptField, parseKeyRing } from '../../domain/field-crypto';
import { DEV_DATA_KEYS, DEV_HMAC_KEY, dataKeyRing } from '../../engine/data-keys';
import { reencryptAll } from '../../activities/patient-data';
import { verifyAuditTrail } from '../../reports/audit-trail';

let orm: Awaited<ReturnType<typeof openOrm>>;
beforeAll(async () => { orm = await openOrm(process.env.DATABASE_URL!); });
afterAll(async () => { await orm.close(); await closeDb(); });

const tag = randomUUID().slice(0, 6).toUpperCase();
const secrets = {
  phone: '13912345678', idNumber: `3301061980010${String(Math.floor(Math.random() * 9000) + 1000)}X`,
  address: { text: '杭州市西湖区保密路 7 号 3 幢', lat: 30.2788, lng: 120.1325 },
};
const isCipher = (v: unknown) => typeof v === 'string' && /^enc:[A-Za-z0-9_-]+:[A-Za-z0-9_-]+$/.test(v);

let pushedId: string;
let patientId: string;

describe('encrypted at rest', () => {
  it('stores the ID number, phone and address encrypted in the patient row and in the prescription snapshot', async () => {
    const a = actors();
    const content = demoPrescriptionContent({ patient: { ref: `PAT-DP-${tag}`, phone: secrets.phone, idNumber: secrets.idNumber, address: secrets.address } });
    const pushed = await a.hospital.post('/v1/prescriptions', signAsDemoHospital(content));
    expect(pushed.status).toBe(201);
    pushedId = pushed.body.prescription.id;
    await waitForPrescription(a.hospital, pushedId, statusIs('in_review'));

    const [row] = await sql(`select id, phone, id_number, address, id_number_hash, phone_hash from patient where ref = ?`, [`PAT-DP-${tag}`]);
    patientId = row.id;
    for (const col of ['phone', 'id_number', 'address']) expect(isCipher(row[col])).toBe(true);
    const [stored] = await sql(`select content::text as text, content->'patient'->>'phone' as phone, content->'insurance'->>'memberId' as member from prescription where id = ?`, [pushedId]);
    expect(isCipher(stored.phone)).toBe(true);
    expect(isCipher(stored.member)).toBe(true);
    const raw = JSON.stringify(row) + stored.text;
    for (const secret of [secrets.phone, secrets.idNumber, secrets.address.text, '保密路', '330106195803140011']) expect(raw).not.toContain(secret);
    expect(row.id_number_hash).toMatch(/^[0-9a-f]{64}$/);

    // The engine reads the snapshot as the doctor signed it: the signature still verifies.
    const em = orm.em.fork();
    const rx = await em.findOneOrFail(PrescriptionSchema, { id: pushedId });
    expect((rx.content as any).patient).toMatchObject({ phone: secrets.phone, idNumber: secrets.idNumber, address: secrets.address });
    expect(verifyPrescriptionSignature(rx.content, await registeredKeys(em as EntityManager, rx.hospitalId), new Date()).ok).toBe(true);
    // …and the pharmacist's view of it works as before.
    const review = await a.pharmacist.get(`/v1/review-queue/${pushedId}`);
    expect(review.status).toBe(200);
    expect(review.body.patient).toMatchObject({ id: patientId, name: '张建国' });
  });

  it('finds a patient by ID number or phone through the keyed hash, and records the lookup without the value', async () => {
    const a = actors();
    const byId = await a.operator.post('/v1/ops/patients/lookup', { idNumber: secrets.idNumber.toLowerCase() });
    expect(byId.status).toBe(200);
    expect(byId.body.patients.map((p: any) => p.id)).toEqual([patientId]);
    const byPhone = await a.operator.post('/v1/ops/patients/lookup', { phone: `+86 139-1234-5678` });
    expect(byPhone.body.patients.map((p: any) => p.id)).toContain(patientId);
    const [event] = await sql(`select actor, actor_ip, data::text as data from audit_event where action = 'patient_lookup' order by global_seq desc limit 1`);
    expect(event.actor).toBe('operator:operator');
    expect(event.actor_ip).toBeTruthy();
    expect(event.data).toContain(patientId);
    expect(event.data).not.toContain('1234');
    const both = await a.operator.post('/v1/ops/patients/lookup', { idNumber: secrets.idNumber, phone: secrets.phone });
    expect(both.status).toBe(400);
    expect(both.body.error.code).toBe('VALIDATION_FAILED');
    expect((await a.pharmacist.post('/v1/ops/patients/lookup', { idNumber: secrets.idNumber })).status).toBe(403);
  });

  it('re-encrypts under a new key on rotation; the old ciphertexts decrypt with the old key, the new ones only with the new', async () => {
    const dev = dataKeyRing();
    const v2 = `v2:${randomBytes(32).toString('base64')}`;
    const rotated = parseKeyRing(`${v2},${DEV_DATA_KEYS}`, DEV_HMAC_KEY);
    const only = { patientIds: [patientId], prescriptionIds: [pushedId] };
    const [before] = await sql(`select phone from patient where id = ?`, [patientId]);
    expect(decryptField(rotated, before.phone, 'patient.phone')).toBe(secrets.phone); // old data, new ring

    expect(await reencryptAll(orm, rotated, only)).toEqual({ patients: 1, prescriptions: 1 });
    const [after] = await sql(`select phone, id_number, address, id_number_hash from patient where id = ?`, [patientId]);
    const [rx] = await sql(`select content->'patient'->>'idNumber' as id_number from prescription where id = ?`, [pushedId]);
    for (const v of [after.phone, after.id_number, after.address, rx.id_number]) expect(v.startsWith('enc:v2:')).toBe(true);
    expect(decryptField(rotated, after.id_number, 'patient.id_number')).toBe(secrets.idNumber);
    expect(JSON.parse(decryptField(rotated, after.address, 'patient.address'))).toEqual(secrets.address);
    expect(() => decryptField(dev, after.phone, 'patient.phone')).toThrow(DecryptError);
    expect(await reencryptAll(orm, rotated, only)).toEqual({ patients: 0, prescriptions: 0 }); // idempotent
    const lookups = await sql(`select count(*)::int as n from patient where id_number_hash = ?`, [after.id_number_hash]);
    expect(lookups[0].n).toBe(1);

    // Back under the engine's key (it runs with the development ring), so the API reads these rows again.
    expect(await reencryptAll(orm, parseKeyRing(`${DEV_DATA_KEYS},${v2}`, DEV_HMAC_KEY), only)).toEqual({ patients: 1, prescriptions: 1 });
    const [back] = await sql(`select phone from patient where id = ?`, [patientId]);
    expect(back.phone.startsWith('enc:dev:')).toBe(true);
    expect(decryptField(dev, back.phone, 'patient.phone')).toBe(secrets.phone);
  });
});

// ---- export and erase ---------------------------------------------------------------------------------

/** A patient with prescriptions stored as plaintext (as before encryption), then encrypted by the rotation. */
async function fixturePatient(name: string, prescriptions: { issuedAt: string; status: string }[]) {
  const [h] = await sql(`select id from hospital where code = ?`, [DEMO.hospital.code]);
  const [d] = await sql(`select id from doctor where hospital_id = ? and code = ?`, [h.id, DEMO.doctors[0].code]);
  const pid = randomUUID();
  const ref = `PAT-ER-${name}-${tag}`;
  const phone = `1370000${String(Math.floor(Math.random() * 9000) + 1000)}`;
  const idNumber = `33030219580314${String(Math.floor(Math.random() * 9000) + 1000)}`;
  await sql(`insert into patient (id, hospital_id, ref, name, gender, birth_date, phone, id_number, allergies, updated_at, address)
    values (?, ?, ?, ?, 'M', '1958-03-14', ?, ?, '["青霉素"]', now(), ?)`, [pid, h.id, ref, `患者${name}`, phone, idNumber, JSON.stringify(secrets.address)]);
  const ids: string[] = [];
  for (const [i, p] of prescriptions.entries()) {
    const id = randomUUID();
    const content = demoPrescriptionContent({ rxNo: `ER-${name}-${tag}-${i}`, issuedAt: p.issuedAt, patient: { ref, name: `患者${name}`, phone, idNumber, address: secrets.address } });
    await sql(`insert into prescription (id, hospital_id, rx_no, content_hash, status, content, doctor_id, patient_id, patient_ref, issued_at, expires_at, flags, workflow_id, created_at, updated_at)
      values (?, ?, ?, ?, ?, ?::jsonb, ?, ?, ?, ?, ?, '[]', ?, ?, ?)`,
      [id, h.id, content.rxNo, 'e'.repeat(64), p.status, JSON.stringify(content), d.id, pid, ref, p.issuedAt, p.issuedAt, `rx-${id}`, p.issuedAt, p.issuedAt]);
    // Its trail: a fact without personal data, an SMS to a masked phone, a delivery with proof.
    await sql(`insert into audit_event (prescription_id, action, actor, to_status, data, at) values (?, 'received', 'hospital:H', 'received', '{"rxNo": "x"}', ?)`, [id, p.issuedAt]);
    await sql(`insert into audit_event (prescription_id, action, actor, data, at) values (?, 'patient_notified', 'system:rxflow', ?::jsonb, ?)`, [id, JSON.stringify({ event: 'approved', to: '137****0001' }), p.issuedAt]);
    await sql(`insert into audit_event (prescription_id, action, actor, data, at) values (?, 'delivery_delivered', 'courier:SF', ?::jsonb, ?)`,
      [id, JSON.stringify({ deliveryId: 'd', note: '放在门卫', proof: { kind: 'signature', reference: 'SIG', receivedBy: `患者${name}` } }), p.issuedAt]);
    ids.push(id);
  }
  expect(await reencryptAll(orm, dataKeyRing(), { patientIds: [pid], prescriptionIds: ids })).toEqual({ patients: 1, prescriptions: ids.length });
  return { pid, ids, phone, idNumber };
}

const OLD = '2019-05-01T02:00:00Z';
const RECENT = new Date(Date.now() - 30 * 86_400_000).toISOString();

describe("an operator's export and erasure", () => {
  it('exports everything held about a patient, decrypted, and records who took it', async () => {
    const a = actors();
    const res = await a.operator.get(`/v1/ops/patients/${patientId}/export`);
    expect(res.status).toBe(200);
    expect(res.body.patient).toMatchObject({ id: patientId, phone: secrets.phone, idNumber: secrets.idNumber, address: secrets.address, name: '张建国' });
    const rx = res.body.prescriptions.find((p: any) => p.id === pushedId);
    expect(rx.content.patient.phone).toBe(secrets.phone);
    expect(rx.lines.length).toBeGreaterThan(0);
    expect(rx.auditEvents.map((e: any) => e.action)).toContain('received');
    const [event] = await sql(`select actor, data::text as data from audit_event where action = 'patient_data_exported' and data->>'patientId' = ?`, [patientId]);
    expect(event.actor).toBe('operator:operator');
    expect(event.data).not.toContain(secrets.phone);
    for (const who of [a.hospital, a.pharmacist, a.auditor]) expect((await who.get(`/v1/ops/patients/${patientId}/export`)).status).toBe(403);
    expect((await a.operator.get(`/v1/ops/patients/${randomUUID()}/export`)).status).toBe(404);
    expect((await a.operator.get(`/v1/ops/patients/not-a-uuid/export`)).status).toBe(404);
  });

  it('erases nothing while a prescription is in progress', async () => {
    const res = await actors().operator.post(`/v1/ops/patients/${patientId}/erase`, { ticket: `DSR-${tag}-1` });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('PATIENT_IN_CARE');
    expect(res.body.error.details[0]).toMatchObject({ path: '$.retained[0]', code: 'IN_CARE' });
    const [row] = await sql(`select erased_at, id_number from patient where id = ?`, [patientId]);
    expect(row.erased_at).toBeNull();
    expect(isCipher(row.id_number)).toBe(true);
    const [refused] = await sql(`select actor from audit_event where action = 'patient_erase_refused' and data->>'patientId' = ?`, [patientId]);
    expect(refused.actor).toBe(`operator:operator ticket:DSR-${tag}-1`);
  });

  it('refuses when everything is under retention, with the reason and until when', async () => {
    const { pid } = await fixturePatient('C', [{ issuedAt: RECENT, status: 'completed' }]);
    const res = await actors().operator.post(`/v1/ops/patients/${pid}/erase`, { ticket: `DSR-${tag}-C` });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('ERASE_RETAINED');
    expect(res.body.error.details[0]).toMatchObject({ path: '$.retained[0]', code: 'UNDER_RETENTION', message: expect.stringMatching(/kept 5 years.*until 20\d\d-/) });
    const bad = await actors().operator.post(`/v1/ops/patients/${pid}/erase`, {});
    expect(bad.body.error).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ path: '$.ticket' }] });
  });

  it('limits the erasure to what is past retention; the audit keeps the fact and every chain still verifies', async () => {
    const { pid, ids: [oldRx, recentRx] } = await fixturePatient('A', [{ issuedAt: OLD, status: 'completed' }, { issuedAt: RECENT, status: 'completed' }]);
    const slip = path.join(process.env.RX_FILES_DIR!, `${oldRx}-slip.pdf`);
    fs.mkdirSync(path.dirname(slip), { recursive: true });
    fs.writeFileSync(slip, '%PDF-1.4 test slip');
    const orderId = randomUUID();
    await sql(`insert into fulfilment_order (id, prescription_id, pharmacy_id, attempt, status, total_price_fen, distance_km, offered_at)
      values (?, ?, (select id from pharmacy order by code limit 1), 1, 'dispensed', 0, 1, ?)`, [orderId, oldRx, OLD]);
    await sql(`insert into delivery (id, prescription_id, order_id, partner_id, attempt, status, cold_chain, events, created_at, updated_at)
      values (?, ?, ?, (select id from delivery_partner order by code limit 1), 1, 'delivered', false, ?::jsonb, now(), now())`,
      [randomUUID(), oldRx, orderId, JSON.stringify([{ status: 'delivered', at: OLD, note: '放在门卫', proof: { kind: 'photo', reference: 'IMG', receivedBy: '患者A' } }])]);
    const [personal, plain] = await sql(`select id::text as id, action from audit_event where prescription_id = ? and action in ('patient_notified', 'received') order by action`, [oldRx]);

    const res = await actors().operator.post(`/v1/ops/patients/${pid}/erase`, { ticket: `DSR-${tag}-A` });
    expect(res.status).toBe(200);
    expect(res.body.erased).toMatchObject({ patientRow: false, prescriptions: [oldRx], auditEventData: 2, files: 1 });
    expect(res.body.retained).toEqual([expect.objectContaining({ prescriptionId: recentRx, code: 'UNDER_RETENTION', until: expect.any(String) })]);
    expect(res.body.patientRow.reason).toMatch(/under retention/);
    expect(fs.existsSync(slip)).toBe(false);

    const [old] = await sql(`select content, content::text as text, patient_id, patient_ref from prescription where id = ?`, [oldRx]);
    expect(old.content.patient).toEqual({ erased: true, gender: 'M', birthYear: 1958 });
    expect(old.content.insurance.memberId).toBeUndefined();
    expect(old.content.lines.length).toBeGreaterThan(0); // what was prescribed stays
    expect(old).toMatchObject({ patient_id: null, patient_ref: 'erased' });
    expect(old.text).not.toMatch(/enc:|患者A|PAT-ER/);
    const [delivery] = await sql(`select events from delivery where prescription_id = ?`, [oldRx]);
    expect(delivery.events).toEqual([{ status: 'delivered', at: OLD, proof: { kind: 'photo' } }]);
    const events = await sql(`select id::text as id, action, data, data_erased_at from audit_event where prescription_id = ? order by rx_seq`, [oldRx]);
    expect(events.find((e) => e.id === personal.id)).toMatchObject({ data: { erased: true }, data_erased_at: expect.anything() });
    expect(events.find((e) => e.id === plain.id)).toMatchObject({ data: { rxNo: 'x' }, data_erased_at: null });
    const [recent] = await sql(`select content->'patient'->>'phone' as phone, patient_id from prescription where id = ?`, [recentRx]);
    expect(isCipher(recent.phone)).toBe(true);
    expect(recent.patient_id).toBe(pid);

    // The fact of the erasure, listing what it erased, without the data; the chains verify around the erased data.
    const [erasure] = await sql(`select actor, data from audit_event where action = 'patient_data_erased' and data->>'patientId' = ?`, [pid]);
    expect(erasure.actor).toBe(`operator:operator ticket:DSR-${tag}-A`);
    expect(erasure.data).toMatchObject({ prescriptionIds: [oldRx], patientRow: false });
    expect(erasure.data.auditEventIds).toHaveLength(2);
    expect(JSON.stringify(erasure.data)).not.toContain('患者A');
    expect((await verifyAuditTrail(orm.em.fork() as EntityManager, { prescriptionId: oldRx })).intact).toBe(true);
    const all = await actors().auditor.get('/v1/ops/audit/verify');
    expect(all.body).toMatchObject({ intact: true, broken: null });
  });

  it('erases the patient row too when nothing retained needs it; lookups no longer find them', async () => {
    const { pid, idNumber } = await fixturePatient('B', [{ issuedAt: OLD, status: 'rejected' }]);
    const a = actors();
    expect((await a.operator.post('/v1/ops/patients/lookup', { idNumber })).body.patients).toEqual([expect.objectContaining({ id: pid })]);
    const res = await a.operator.post(`/v1/ops/patients/${pid}/erase`, { ticket: `DSR-${tag}-B` });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ erased: { patientRow: true }, retained: [], patientRow: null });
    const [row] = await sql(`select name, ref, phone, id_number, address, id_number_hash, phone_hash, allergies, birth_date::text as birth, erased_at from patient where id = ?`, [pid]);
    expect(row).toMatchObject({ name: '[erased]', ref: `erased-${pid}`, phone: '', id_number: null, address: null, id_number_hash: null, phone_hash: null, allergies: [], birth: '1958-01-01' });
    expect(row.erased_at).not.toBeNull();
    expect((await a.operator.post('/v1/ops/patients/lookup', { idNumber })).body.patients).toEqual([]);
    const exported = await a.operator.get(`/v1/ops/patients/${pid}/export`);
    expect(exported.body.patient).toMatchObject({ name: '[erased]', idNumber: null, erasedAt: expect.any(String) });
    expect(exported.body.prescriptions).toEqual([]); // unlinked: nothing of theirs is held any more
    // A second request finds nothing left to erase.
    expect((await a.operator.post(`/v1/ops/patients/${pid}/erase`, { ticket: `DSR-${tag}-B2` })).status).toBe(200);
    expect((await verifyAuditTrail(orm.em.fork() as EntityManager)).intact).toBe(true);
  });
});
