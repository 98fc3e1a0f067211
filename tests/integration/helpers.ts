// Shared by the integration tests: the parties as HTTP clients of the engine started by global-setup,
// and direct SQL to check what the engine wrote.
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { MikroORM } from '@mikro-orm/postgresql';
import { openOrm } from '../../db/orm';
import { demoActors, ApiClient, claimAndReview, type HttpResult } from '../../demo/actors';
import { isBlockingFinding } from '../../domain/review';
import { applyTestEnv } from './env';
import { hashKey } from '../../api/auth';
import { DEMO } from '../../demo/fixtures';

applyTestEnv();

export const apiUrl = () => {
  const url = process.env.RX_TEST_API_URL;
  if (!url) throw new Error('RX_TEST_API_URL is not set: run the integration project through jest (global-setup starts the engine)');
  return url;
};
export const actors = () => demoActors(apiUrl());
export const anonymous = () => new ApiClient(apiUrl(), 'no-such-key');

let orm: MikroORM | undefined;
export async function sql<T = any>(query: string, params: unknown[] = []): Promise<T[]> {
  orm ??= await openOrm(process.env.DATABASE_URL!);
  return orm.em.fork().getConnection().execute(query, params);
}
/** Runs statements in one transaction that is rolled back: to see what a change does before it commits. */
export async function rolledBack(fn: (run: <T = any>(query: string, params?: unknown[]) => Promise<T[]>) => Promise<void>): Promise<void> {
  orm ??= await openOrm(process.env.DATABASE_URL!);
  const rollback = new Error('rolled back');
  await orm.em.fork().transactional(async (t) => {
    await fn((query, params = []) => t.getConnection().execute(query, params, 'all', t.getTransactionContext()));
    throw rollback;
  }).catch((e) => { if (e !== rollback) throw e; });
}

export async function closeDb(): Promise<void> {
  await orm?.close();
  orm = undefined;
}

export async function stockOf(pharmacyCode: string, drugCode: string): Promise<{ on_hand: number; reserved: number }> {
  const [row] = await sql(`select s.on_hand, s.reserved from stock s join pharmacy p on p.id = s.pharmacy_id where p.code = ? and s.drug_code = ?`, [pharmacyCode, drugCode]);
  return row;
}

export async function actions(prescriptionId: string): Promise<string[]> {
  return (await sql(`select action from audit_event where prescription_id = ? order by id`, [prescriptionId])).map((r) => r.action);
}

export { claimAndReview } from '../../demo/actors';

/**
 * How every journey approves since reviews need a claim: claim, then approve (with an override reason
 * only when a finding blocks). Throws with the engine's answer when it refuses.
 */
export async function approve(id: string, pharmacist = actors().pharmacist): Promise<HttpResult> {
  const detail = await pharmacist.get(`/v1/review-queue/${id}`);
  const blocking = (detail.body?.findings ?? []).some(isBlockingFinding);
  const r = await claimAndReview(pharmacist, id, { decision: 'approve', ...(blocking ? { overrideReason: '测试：药师已评估风险 / test: risk assessed' } : {}) });
  if (r.status !== 202) throw new Error(`approval of ${id} refused: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  return r;
}

/** The proof-of-delivery code the patient was sent for a delivery (the test SMS outbox, RX_SMS_OUTBOX). */
export async function deliveryCode(deliveryId: string): Promise<string> {
  const fs = await import('node:fs');
  for (let i = 0; i < 100; i++) {
    const text = fs.existsSync(process.env.RX_SMS_OUTBOX!) ? fs.readFileSync(process.env.RX_SMS_OUTBOX!, 'utf8') : '';
    const msg = text.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((m) => m.deliveryId === deliveryId);
    if (msg) return /签收码 (\d{6})/.exec(msg.text)![1];
    await new Promise((r) => setTimeout(r, 100)); // the activity sends it right after the delivery row commits
  }
  throw new Error(`no delivery code was sent for ${deliveryId}`);
}

/** A pharmacy of the test's own, far from every test patient and open all day, with on-hand packs per SKU. */
export async function testPharmacy(code: string, name: string, onHand: Record<string, number>): Promise<string> {
  const [{ id }] = await sql(`insert into pharmacy (id, code, name, city, district, address, lat, lng, phone, opening_hours, is24h, cold_chain, kind, promised_minutes)
    values (gen_random_uuid(), ?, ?, '测试', '测试区', '测试路 1 号', 0.5, 0.5, '0', '{"open":"00:00","close":"24:00"}', true, false, 'retail', 10) returning id`, [code, name]);
  for (const [drugCode, units] of Object.entries(onHand)) {
    await sql(`insert into stock (pharmacy_id, drug_code, on_hand, reserved, price_fen, updated_at) values (?, ?, ?, 0, 1000, now())`, [id, drugCode, units]);
  }
  return id;
}

/** A bare prescription of the demo hospital, in `matching` with no workflow behind it: for racing the activities directly. */
export async function matchingPrescription(rxNo: string, lines: { drugCode: string; drugName: string; quantity: number }[]): Promise<string> {
  const [{ hid, did }] = await sql(`select h.id as hid, d.id as did from hospital h join doctor d on d.hospital_id = h.id where h.code = 'DEMO-HOSP' and d.code = 'D001'`);
  const id = randomUUID();
  await sql(`insert into prescription (id, hospital_id, rx_no, content_hash, status, content, doctor_id, patient_ref, issued_at, expires_at, flags, workflow_id, created_at, updated_at)
    values (?, ?, ?, 'x', 'matching', '{}', ?, 'P', now(), now() + interval '1 day', '[]', ?, now(), now())`, [id, hid, rxNo, did, `rx-${id}`]);
  for (const [i, l] of lines.entries()) {
    await sql(`insert into prescription_line (id, prescription_id, line_no, drug_code, drug_name, quantity, dosage, frequency, route, days)
      values (gen_random_uuid(), ?, ?, ?, ?, ?, '5mg', 'qd', '口服', 7)`, [id, i + 1, l.drugCode, l.drugName, l.quantity]);
  }
  return id;
}

/**
 * A hospital of the test's own (code `<prefix>-<6 hex>`): an API key, the demo doctors, and the demo HIS
 * signing key registered through its own key registry route, so demo prescriptions push as its own.
 */
export async function newHospital(prefix: string, name: string): Promise<{ id: string; code: string; key: string; client: ApiClient }> {
  const code = `${prefix}-${randomBytes(3).toString('hex').toUpperCase()}`;
  const key = `test-${randomUUID()}`;
  const [h] = await sql(`insert into hospital (id, code, name, created_at) values (gen_random_uuid(), ?, ?, now()) returning id`, [code, name]);
  await sql(`insert into api_client (id, key_hash, role, party_id, label, created_at) values (gen_random_uuid(), ?, 'hospital', ?, ?, now())`, [hashKey(key), h.id, code]);
  for (const d of DEMO.doctors) {
    await sql(`insert into doctor (id, hospital_id, code, name, license_no, licensed, authorised) values (gen_random_uuid(), ?, ?, ?, ?, ?, ?)`,
      [h.id, d.code, d.name, d.licenseNo, d.licensed, d.authorised]);
  }
  const client = new ApiClient(apiUrl(), key);
  const reg = await client.post('/v1/hospital/signing-keys', {
    keyId: DEMO.hospital.signingKeyId, alg: 'ES256', validTo: '2030-12-31T23:59:59Z',
    publicKeyPem: fs.readFileSync(path.resolve(__dirname, '../../demo/keys/demo-hospital-es256.pub.pem'), 'utf8'),
  });
  if (reg.status !== 201) throw new Error(`registering ${code}'s key: ${reg.status} ${JSON.stringify(reg.body)}`);
  return { id: h.id as string, code, key, client };
}

/** Polls `probe` until it returns something truthy (returned), or throws after `timeoutMs` naming `what`. */
export async function until<T>(what: string, probe: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
