// Signatures and the key registry through the real API: SM2-SM3 pushes, tampering, revocation, a rotation
// without downtime, the registry's tenant scoping, and prescription lines named by other drug identifiers.
import { actors, closeDb, sql } from './helpers';
import { demoPrescriptionContent, drugByName, signAsDemoHospital } from '../../demo/prescriptions';
import { DEMO, DEMO_SM2_KEY_ID, DEMO_SM2_PRIVATE_KEY } from '../../demo/fixtures';
import { generateKeyPair, signPrescription } from '../../sdk/sign';
import type { SignatureAlg } from '../../domain/signature';

afterAll(closeDb);

const expectError = (r: { status: number; body: any }, status: number, code: string) => {
  expect(r.status).toBe(status);
  expect(r.body.error.code).toBe(code);
  expect(typeof r.body.error.message).toBe('string');
  expect(Array.isArray(r.body.error.details)).toBe(true);
};
const signWith = (content: Record<string, unknown>, alg: SignatureAlg, keyId: string, privateKeyPem: string) =>
  signPrescription(content, { alg, keyId, privateKeyPem });
const inAYear = () => new Date(Date.now() + 365 * 24 * 3600 * 1000).toISOString();
const uniq = (p: string) => `${p}-${Math.random().toString(36).slice(2, 10)}`;

describe('SM2-SM3 signatures at intake', () => {
  it('accepts a prescription signed with the demo hospital\'s SM2 key and records the key in the audit trail', async () => {
    const a = actors();
    const content = demoPrescriptionContent();
    const r = await a.hospital.post('/v1/prescriptions', signWith(content, 'SM2-SM3', DEMO_SM2_KEY_ID, DEMO_SM2_PRIVATE_KEY));
    expect(r.status).toBe(201);
    const [received] = await sql(`select data from audit_event where prescription_id = ? and action = 'received'`, [r.body.prescription.id]);
    expect(received.data.keyId).toBe(DEMO_SM2_KEY_ID);
  });

  it('refuses a tampered SM2-signed prescription with 422 SIGNATURE_INVALID at $.signature', async () => {
    const a = actors();
    const signed = signWith(demoPrescriptionContent(), 'SM2-SM3', DEMO_SM2_KEY_ID, DEMO_SM2_PRIVATE_KEY) as any;
    signed.lines[0].quantity += 1;
    const r = await a.hospital.post('/v1/prescriptions', signed);
    expectError(r, 422, 'SIGNATURE_INVALID');
    expect(r.body.error.details[0].path).toBe('$.signature');
    expect((await sql(`select count(*)::int as n from prescription where rx_no = ?`, [signed.rxNo]))[0].n).toBe(0);
  });

  it('refuses an SM2 signature that claims to be ES256', async () => {
    const a = actors();
    const signed = signWith(demoPrescriptionContent(), 'SM2-SM3', DEMO_SM2_KEY_ID, DEMO_SM2_PRIVATE_KEY) as any;
    signed.signature.alg = 'ES256';
    expectError(await a.hospital.post('/v1/prescriptions', signed), 422, 'SIGNATURE_ALG_MISMATCH');
  });
});

describe('the key registry', () => {
  it('rotates without downtime: register a new SM2 key, push with it, revoke the old one, which is then refused', async () => {
    const a = actors();
    // The other demo hospital, so the demo hospital's keys stay as every other test expects them.
    const h = a.otherHospital;
    const old = generateKeyPair('SM2-SM3');
    const oldId = uniq('rot-old');
    expect((await h.post('/v1/hospital/signing-keys', { keyId: oldId, alg: 'SM2-SM3', publicKeyPem: old.publicKeyPem, validTo: inAYear() })).status).toBe(201);
    const next = generateKeyPair('SM2-SM3');
    const nextId = uniq('rot-new');
    const reg = await h.post('/v1/hospital/signing-keys', { keyId: nextId, alg: 'SM2-SM3', publicKeyPem: next.publicKeyPem, validTo: inAYear() });
    expect(reg.status).toBe(201);
    expect(reg.body.key).toMatchObject({ keyId: nextId, alg: 'SM2-SM3', status: 'active', signerId: '1234567812345678', revokedAt: null });
    expect(reg.body.key.fingerprint).toMatch(/^[0-9a-f]{64}$/);

    // Both keys verify during the overlap.
    expect((await h.post('/v1/prescriptions', signWith(demoPrescriptionContent(), 'SM2-SM3', oldId, old.privateKeyPem))).status).toBe(201);
    expect((await h.post('/v1/prescriptions', signWith(demoPrescriptionContent(), 'SM2-SM3', nextId, next.privateKeyPem))).status).toBe(201);

    const revoked = await h.post(`/v1/hospital/signing-keys/${oldId}/revoke`, { reason: 'rotated' });
    expect(revoked.status).toBe(200);
    expect(revoked.body.key).toMatchObject({ keyId: oldId, status: 'revoked', revokedReason: 'rotated', revokedBy: `hospital:${DEMO.otherHospital.code}` });
    const again = await h.post(`/v1/hospital/signing-keys/${oldId}/revoke`, { reason: 'second time' });
    expect(again.body.key.revokedReason).toBe('rotated'); // idempotent: the first revocation stands

    const refused = await h.post('/v1/prescriptions', signWith(demoPrescriptionContent(), 'SM2-SM3', oldId, old.privateKeyPem));
    expectError(refused, 422, 'SIGNATURE_KEY_REVOKED');
    expect((await h.post('/v1/prescriptions', signWith(demoPrescriptionContent(), 'SM2-SM3', nextId, next.privateKeyPem))).status).toBe(201);

    const list = await h.get('/v1/hospital/signing-keys');
    expect(list.status).toBe(200);
    expect(list.body.hospital.code).toBe(DEMO.otherHospital.code);
    const byId = new Map(list.body.items.map((k: any) => [k.keyId, k.status]));
    expect(byId.get(oldId)).toBe('revoked');
    expect(byId.get(nextId)).toBe('active');
    const events = await sql(`select action, data from audit_event where prescription_id is null and data->>'keyId' in (?, ?) order by id`, [oldId, nextId]);
    expect(events.map((e) => `${e.action}:${e.data.keyId}`)).toEqual([`signing_key_registered:${oldId}`, `signing_key_registered:${nextId}`, `signing_key_revoked:${oldId}`]);
  });

  it('refuses a key not yet valid at the prescription\'s issue time', async () => {
    const a = actors();
    const k = generateKeyPair('ES256');
    const keyId = uniq('future');
    const validFrom = new Date(Date.now() + 24 * 3600 * 1000).toISOString();
    expect((await a.otherHospital.post('/v1/hospital/signing-keys', { keyId, alg: 'ES256', publicKeyPem: k.publicKeyPem, validFrom, validTo: inAYear() })).body.key.status).toBe('scheduled');
    expectError(await a.otherHospital.post('/v1/prescriptions', signWith(demoPrescriptionContent(), 'ES256', keyId, k.privateKeyPem)), 422, 'SIGNATURE_KEY_NOT_YET_VALID');
  });

  it('validates registrations in the house error shape', async () => {
    const a = actors();
    const h = a.otherHospital;
    const sm = generateKeyPair('SM2-SM3');
    const es = generateKeyPair('ES256');
    const mismatch = await h.post('/v1/hospital/signing-keys', { alg: 'ES256', publicKeyPem: sm.publicKeyPem, validTo: inAYear() });
    expectError(mismatch, 422, 'SIGNING_KEY_ALG_MISMATCH');
    expect(mismatch.body.error.details[0].path).toBe('$.publicKeyPem');
    expectError(await h.post('/v1/hospital/signing-keys', { alg: 'ES256', publicKeyPem: es.privateKeyPem, validTo: inAYear() }), 422, 'SIGNING_KEY_PRIVATE');
    const badAlg = await h.post('/v1/hospital/signing-keys', { alg: 'RSA', publicKeyPem: es.publicKeyPem, validTo: inAYear() });
    expectError(badAlg, 400, 'VALIDATION_FAILED');
    expect(badAlg.body.error.details.map((d: any) => d.path)).toEqual(['$.alg']);
    const past = await h.post('/v1/hospital/signing-keys', { alg: 'ES256', publicKeyPem: es.publicKeyPem, validTo: '2020-01-01T00:00:00Z' });
    expectError(past, 400, 'VALIDATION_FAILED');
    expect(past.body.error.details.map((d: any) => d.path)).toEqual(['$.validTo']);
    const signerIdOnEs = await h.post('/v1/hospital/signing-keys', { alg: 'ES256', publicKeyPem: es.publicKeyPem, validTo: inAYear(), signerId: 'X' });
    expect(signerIdOnEs.body.error.details.map((d: any) => d.path)).toEqual(['$.signerId']);

    const first = await h.post('/v1/hospital/signing-keys', { alg: 'ES256', publicKeyPem: es.publicKeyPem, validTo: inAYear() });
    expect(first.status).toBe(201);
    expect(first.body.key.keyId).toMatch(/^es256-[0-9a-f]{16}$/); // derived from the fingerprint when not given
    expectError(await h.post('/v1/hospital/signing-keys', { keyId: uniq('dup'), alg: 'ES256', publicKeyPem: es.publicKeyPem, validTo: inAYear() }), 409, 'SIGNING_KEY_DUPLICATE');
    expectError(await h.post('/v1/hospital/signing-keys', { keyId: first.body.key.keyId, alg: 'ES256', publicKeyPem: generateKeyPair('ES256').publicKeyPem, validTo: inAYear() }), 409, 'SIGNING_KEY_EXISTS');
    expectError(await h.post('/v1/hospital/signing-keys/no-such-key/revoke', { reason: 'x' }), 404, 'NOT_FOUND');
    expectError(await h.post(`/v1/hospital/signing-keys/${first.body.key.keyId}/revoke`, {}), 400, 'VALIDATION_FAILED');
  });

  it('scopes keys to their hospital: a hospital sees and revokes only its own; the operator manages any', async () => {
    const a = actors();
    const k = generateKeyPair('SM2-SM3');
    const keyId = uniq('scoped');
    expect((await a.otherHospital.post('/v1/hospital/signing-keys', { keyId, alg: 'SM2-SM3', publicKeyPem: k.publicKeyPem, validTo: inAYear() })).status).toBe(201);

    const mine = await a.hospital.get('/v1/hospital/signing-keys');
    expect(mine.body.hospital.code).toBe(DEMO.hospital.code);
    expect(mine.body.items.map((x: any) => x.keyId)).toEqual(expect.arrayContaining([DEMO.hospital.signingKeyId, DEMO_SM2_KEY_ID]));
    expect(mine.body.items.map((x: any) => x.keyId)).not.toContain(keyId);
    // Another hospital's key id is simply not found, and the operator's routes are not for hospitals.
    expectError(await a.hospital.post(`/v1/hospital/signing-keys/${keyId}/revoke`, { reason: 'not mine' }), 404, 'NOT_FOUND');
    expectError(await a.hospital.get(`/v1/hospitals/${DEMO.otherHospital.code}/signing-keys`), 403, 'FORBIDDEN');
    expectError(await a.pharmacist.get('/v1/hospital/signing-keys'), 403, 'FORBIDDEN');
    // A key of one hospital does not verify another's prescriptions.
    expectError(await a.hospital.post('/v1/prescriptions', signWith(demoPrescriptionContent(), 'SM2-SM3', keyId, k.privateKeyPem)), 422, 'SIGNATURE_UNKNOWN_KEY');

    const seen = await a.operator.get(`/v1/hospitals/${DEMO.otherHospital.code}/signing-keys`);
    expect(seen.status).toBe(200);
    expect(seen.body.items.find((x: any) => x.keyId === keyId).status).toBe('active');
    const revoked = await a.operator.post(`/v1/hospitals/${DEMO.otherHospital.code}/signing-keys/${keyId}/revoke`, { reason: 'reported compromised' });
    expect(revoked.body.key).toMatchObject({ status: 'revoked', revokedBy: 'operator:operator' });
    expectError(await a.operator.get('/v1/hospitals/NO-SUCH-HOSPITAL/signing-keys'), 404, 'NOT_FOUND');
    const byOperator = generateKeyPair('ES256');
    const reg = await a.operator.post(`/v1/hospitals/${DEMO.otherHospital.code}/signing-keys`, { keyId: uniq('op'), alg: 'ES256', publicKeyPem: byOperator.publicKeyPem, validTo: inAYear() });
    expect(reg.status).toBe(201);
    expect(reg.body.key.registeredBy).toBe('operator:operator');
  });
});

describe('prescription lines named by other drug identifiers', () => {
  // Drugs no other test clones (matching and substitution tests copy amlodipine and metformin rows, with their
  // approval numbers, and the loader adds generated SKUs of the same generic and spec, which rightly makes those
  // identifiers ambiguous). The generic name + spec alone is unit-tested; here it comes with a code.
  it('resolves a line by approval number, insurance code or generic name + spec to the catalogue SKU', async () => {
    const a = actors();
    const valsartan = drugByName('缬沙坦胶囊');
    const atorvastatin = drugByName('阿托伐他汀钙片');
    const glimepiride = drugByName('格列美脲片');
    const content = demoPrescriptionContent();
    const { drugCode: _a, ...line } = content.lines[0];
    content.lines = [
      { ...line, approvalNumber: valsartan.approvalNumber },
      { ...line, insuranceCode: atorvastatin.insuranceCode },
      { ...line, genericName: glimepiride.genericNameZh, spec: glimepiride.spec, insuranceCode: glimepiride.insuranceCode },
    ];
    const r = await a.hospital.post('/v1/prescriptions', signAsDemoHospital(content));
    expect({ status: r.status, error: r.body.error }).toEqual({ status: 201, error: undefined });
    const lines = await sql(`select line_no, drug_code from prescription_line where prescription_id = ? order by line_no`, [r.body.prescription.id]);
    expect(lines.map((l) => l.drug_code)).toEqual([valsartan.code, atorvastatin.code, glimepiride.code]);
  });

  it('names the field when a line cannot be resolved', async () => {
    const a = actors();
    const content = demoPrescriptionContent();
    const { drugCode: _a, ...first } = content.lines[0];
    content.lines[0] = { ...first, insuranceCode: 'XNOSUCHCODE000' };
    const r = await a.hospital.post('/v1/prescriptions', signAsDemoHospital(content));
    expectError(r, 422, 'RX_RULES_VIOLATED');
    expect(r.body.error.details).toEqual([expect.objectContaining({ code: 'RX_UNKNOWN_DRUG', path: '$.lines[0].insuranceCode' })]);
  });
});
