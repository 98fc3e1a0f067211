// Demo parties: a hospital with its doctors and signing key, pharmacists, delivery partners, and one API
// key per party. Labelled 演示/demo everywhere; the engine treats them like any onboarded party.
import fs from 'node:fs';
import path from 'node:path';
import type { MikroORM } from '@mikro-orm/postgresql';
import { hashKey, hashPassword } from '../api/auth';
import { inspectPublicKey, type SignatureAlg } from '../domain/signature';
import { ensureAllSigningKeys } from '../engine/pharmacist-keys';
import { rotatePartnerSecrets } from '../engine/partner-config';

const KEYS = path.join(__dirname, 'keys');
export const DEMO_PRIVATE_KEY = fs.readFileSync(path.join(KEYS, 'demo-hospital-es256.pem'), 'utf8');
const DEMO_PUBLIC_KEY = fs.readFileSync(path.join(KEYS, 'demo-hospital-es256.pub.pem'), 'utf8');
/** The demo hospital's SM2 key (SM2-SM3, default signer ID), as a Chinese CA would issue it. */
export const DEMO_SM2_PRIVATE_KEY = fs.readFileSync(path.join(KEYS, 'demo-hospital-sm2.pem'), 'utf8');
const DEMO_SM2_PUBLIC_KEY = fs.readFileSync(path.join(KEYS, 'demo-hospital-sm2.pub.pem'), 'utf8');
export const DEMO_SM2_KEY_ID = 'demo-sm2-1';

export const DEMO = {
  hospital: { code: 'DEMO-HOSP', name: '杭州示范互联网医院（演示）', key: 'demo-hospital-key', signingKeyId: 'demo-es256-1' },
  otherHospital: { code: 'DEMO-HOSP-2', name: '西湖区社区卫生服务中心（演示）', key: 'demo-hospital2-key', signingKeyId: 'demo2-es256-1' },
  doctors: [
    { code: 'D001', name: '王医生（演示）', licenseNo: '110330100000001', licensed: true, authorised: true },
    { code: 'D002', name: '李医生（演示）', licenseNo: '110330100000002', licensed: true, authorised: false },
  ],
  pharmacists: [
    { code: 'P001', name: '陈药师（演示）', licenseNo: 'YS330100001', key: 'demo-pharmacist-key' },
    { code: 'P002', name: '赵药师（演示）', licenseNo: 'YS330100002', key: 'demo-pharmacist2-key' },
    { code: 'P003', name: '孙药师（演示，执业证已过期）', licenseNo: 'YS330100003', key: 'demo-pharmacist3-key' },
  ],
  // Both serve Hangzhou (330100, where the demo hospital is); SF-CITY carries cold chain. Each signs its
  // status updates with its secret (docs/delivery.md); neither has an adapter endpoint (they poll).
  partners: [
    { code: 'SF-CITY', name: '顺丰同城（演示）', coldChain: true, sameDay: true, key: 'demo-courier-sf-key', secret: 'demo-partner-sf-secret',
      serviceArea: { regions: ['330100'] }, capabilities: ['cold_chain', 'same_day', 'express_30min'], promisedMinutes: { standard: 60, cold_chain: 90, same_day: 240, express_30min: 30 } },
    { code: 'DADA', name: '达达快送（演示）', coldChain: false, sameDay: true, key: 'demo-courier-dada-key', secret: 'demo-partner-dada-secret',
      serviceArea: { regions: ['330100'] }, capabilities: ['same_day'], promisedMinutes: { standard: 45, same_day: 180 } },
  ],
  /** Console logins of the demo pharmacists (docs/console.md): code or username, and the password. */
  pharmacistLogins: [
    { code: 'P001', username: 'chen', password: 'demo-pharmacist-pass' },
    { code: 'P002', username: 'zhao', password: 'demo-pharmacist-pass' },
  ],
  operatorKey: 'demo-operator-key',
  /** Issue 6: P002 (the lead) also holds a lead_pharmacist key; the auditor reads records, changes nothing. */
  leadPharmacistKey: 'demo-lead-pharmacist-key',
  auditorKey: 'demo-auditor-key',
  /** Each pharmacy's key is demo-pharmacy-<code>, e.g. demo-pharmacy-PH001. */
  pharmacyKey: (code: string) => `demo-pharmacy-${code}`,
};

export async function seedDemoParties(orm: MikroORM): Promise<void> {
  const knex = orm.em.fork().getKnex();
  await knex.transaction(async (trx) => {
    const upsert = async (table: string, row: Record<string, unknown>, conflict: string[]) => {
      const [r] = await trx(table).insert({ id: trx.raw('gen_random_uuid()'), ...row }).onConflict(conflict).merge(Object.keys(row).filter((k) => !conflict.includes(k))).returning('id');
      return r.id as string;
    };
    const key = async (apiKey: string, role: string, partyId: string, label: string) => {
      await trx('api_client').insert({ id: trx.raw('gen_random_uuid()'), key_hash: hashKey(apiKey), role, party_id: partyId, label, created_at: new Date() }).onConflict('key_hash').merge(['role', 'party_id', 'label']);
    };
    // The demo state is asserted on every seed: the demo keys are registered, valid and not revoked.
    const signingKey = async (hospitalId: string, keyId: string, alg: SignatureAlg, pem: string) => {
      const checked = inspectPublicKey(pem, alg);
      if (!checked.ok) throw new Error(`demo key ${keyId}: ${checked.message}`);
      const row = { alg, public_key_pem: checked.publicKeyPem, fingerprint: checked.fingerprint, valid_from: '2026-01-01T00:00:00Z', valid_to: '2030-12-31T23:59:59Z', revoked_at: null, revoked_reason: null, revoked_by: null };
      await trx('hospital_signing_key').insert({ id: trx.raw('gen_random_uuid()'), hospital_id: hospitalId, key_id: keyId, registered_by: 'demo-seed', created_at: new Date(), ...row })
        .onConflict(['hospital_id', 'key_id']).merge(Object.keys(row));
    };

    for (const h of [DEMO.hospital, DEMO.otherHospital]) {
      const id = await upsert('hospital', { code: h.code, name: h.name, created_at: new Date() }, ['code']);
      await signingKey(id, h.signingKeyId, 'ES256', DEMO_PUBLIC_KEY);
      if (h === DEMO.hospital) await signingKey(id, DEMO_SM2_KEY_ID, 'SM2-SM3', DEMO_SM2_PUBLIC_KEY);
      await key(h.key, 'hospital', id, h.code);
      for (const d of DEMO.doctors) {
        await upsert('doctor', { hospital_id: id, code: d.code, name: d.name, license_no: d.licenseNo, licensed: d.licensed, authorised: d.authorised }, ['hospital_id', 'code']);
      }
    }
    for (const p of DEMO.pharmacists) {
      const id = await upsert('pharmacist', { code: p.code, name: p.name, license_no: p.licenseNo }, ['code']);
      await key(p.key, 'pharmacist', id, p.code);
    }
    const [lead] = await trx('pharmacist').select('id').where({ code: DEMO.pharmacists[1].code });
    await key(DEMO.leadPharmacistKey, 'lead_pharmacist', lead.id, `${DEMO.pharmacists[1].code}-lead`);
    // A demo password is set only where none is: a pharmacist who changed theirs keeps it on re-seeding.
    for (const l of DEMO.pharmacistLogins) {
      await trx('pharmacist').where({ code: l.code }).update({ username: l.username });
      await trx('pharmacist').where({ code: l.code }).whereNull('password_hash').update({ password_hash: await hashPassword(l.password), password_changed_at: new Date() });
    }
    for (const p of DEMO.partners) {
      const id = await upsert('delivery_partner', {
        code: p.code, name: p.name, cold_chain: p.coldChain, same_day: p.sameDay, active: true, endpoint_url: null,
        service_area: JSON.stringify(p.serviceArea), capabilities: JSON.stringify(p.capabilities), promised_minutes: JSON.stringify(p.promisedMinutes),
        secrets: JSON.stringify(rotatePartnerSecrets([], p.secret, 0)),
      }, ['code']);
      await key(p.key, 'courier', id, p.code);
    }
    for (const ph of await trx('pharmacy').select('id', 'code')) await key(DEMO.pharmacyKey(ph.code), 'pharmacy', ph.id, ph.code);
    // The operator is not a party row of its own; its key is scoped to the platform.
    await key(DEMO.operatorKey, 'operator', '00000000-0000-0000-0000-000000000000', 'operator');
    await key(DEMO.auditorKey, 'auditor', '00000000-0000-0000-0000-000000000000', 'auditor');
  });
}

/** Licence validity and the lead role of the demo pharmacists: P002 leads (hears of SLA breaches), P003's licence has expired. */
export const DEMO_PHARMACIST_REVIEW: Record<string, { validFrom: string; validTo: string; lead: boolean }> = {
  P001: { validFrom: '2024-01-01', validTo: '2030-12-31', lead: false },
  P002: { validFrom: '2024-01-01', validTo: '2030-12-31', lead: true },
  P003: { validFrom: '2020-01-01', validTo: '2025-12-31', lead: false },
};

/** Registers the demo pharmacists for review: licence validity, lead flag, and each one's signing key. */
export async function seedDemoPharmacistReview(orm: MikroORM, keySecret: string): Promise<void> {
  const conn = orm.em.fork().getConnection();
  for (const [code, r] of Object.entries(DEMO_PHARMACIST_REVIEW)) {
    await conn.execute(`update pharmacist set license_valid_from = ?, license_valid_to = ?, lead = ? where code = ?`, [r.validFrom, r.validTo, r.lead, code]);
  }
  await ensureAllSigningKeys(orm, keySecret);
}
