// Prescription signatures: both algorithms against the published test vectors and the SM2 standard's example,
// tampering, wrong keys, the key registry's revocation and dates, encodings, and the integrators' CLI.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createPublicKey, generateKeyPairSync, sign as nodeSign } from 'node:crypto';
import { sm2 } from 'sm-crypto-v2';
import vectors from '../../sdk/test-vectors.json';
import { buildTestVectors } from '../../sdk/vectors';
import { digests, generateKeyPair, signPrescription, sm2Digest, verifyPrescription } from '../../sdk/sign';
import { run } from '../../sdk/cli';
import { canonicalContent } from '../../domain/canonical';
import { inspectPublicKey, verifyBytes, verifyPrescriptionSignature, type RegisteredKey, type SignatureAlg } from '../../domain/signature';

const now = new Date('2026-11-23T10:00:00+08:00');
const V = vectors as any;
const registered = (alg: SignatureAlg, over: Partial<RegisteredKey> = {}): RegisteredKey => ({
  keyId: V.keys[alg].keyId, alg, publicKeyPem: V.keys[alg].publicKeyPem,
  validFrom: '2026-01-01T00:00:00Z', validTo: '2027-01-01T00:00:00Z', revoked: false, ...over,
});
const KEYS = [registered('ES256'), registered('SM2-SM3')];
const verify = (signed: Record<string, unknown>, keys = KEYS, at = now) => verifyPrescriptionSignature(signed, keys, at);
const withValue = (signed: any, value: string) => ({ ...signed, signature: { ...signed.signature, value } });

describe('test vectors (sdk/test-vectors.json)', () => {
  it('pins the canonical form and its SHA-256 and SM3 digests', () => {
    expect(canonicalContent(V.prescription)).toBe(V.canonical);
    expect(V.canonical.startsWith('{"chronic":true,"diagnoses":[{"code":"I10","name":"原发性高血压"}')).toBe(true);
    const d = digests(V.prescription);
    expect(d.sha256).toBe(V.sha256);
    expect(d.sm3).toBe(V.sm3);
    // The signature member is never part of what is signed.
    expect(canonicalContent(V.sm2.signed)).toBe(V.canonical);
  });

  it('is exactly what the generator builds (keys, Z_A, e, the SM2 signature with the fixed nonce)', () => {
    expect(buildTestVectors(V.es256.signed.signature.value)).toEqual(V);
  });

  it('the SM2 primitive reproduces the GM/T 0003.5 example (Z_A with the default signer ID, e, r, s)', () => {
    const ex = V.sm2StandardExample;
    expect(sm2.getPublicKeyFromPrivateKey(ex.privateKey)).toBe(ex.publicKey);
    expect(Buffer.from(sm2.getZ(ex.publicKey, ex.signerId)).toString('hex')).toBe(ex.za);
    expect(sm2.getHash(Buffer.from(ex.message), ex.publicKey, ex.signerId)).toBe(ex.e);
    const pem = createPublicKey({ key: Buffer.from(`3059301306072a8648ce3d020106082a811ccf5501822d034200${ex.publicKey}`, 'hex'), format: 'der', type: 'spki' }).export({ type: 'spki', format: 'pem' }) as string;
    const rs = Buffer.from(ex.r + ex.s, 'hex');
    expect(verifyBytes('SM2-SM3', pem, Buffer.from(ex.message), rs)).toBe(true);
    expect(verifyBytes('SM2-SM3', pem, Buffer.from('message digesT'), rs)).toBe(false);
    expect(verifyBytes('SM2-SM3', pem, Buffer.from(ex.message), rs, '1234567812345679')).toBe(false); // another signer ID
  });

  it('the vector key is the standard example key: same Z_A', () => {
    expect(V.sm2.za).toBe(V.sm2StandardExample.za);
    expect(sm2Digest(V.prescription, V.keys['SM2-SM3'].publicKeyPem)).toEqual({ za: V.sm2.za, e: V.sm2.e });
  });
});

describe('verifyPrescriptionSignature', () => {
  it('accepts the ES256 and SM2-SM3 vector signatures, DER and raw r||s', () => {
    expect(verify(V.es256.signed)).toEqual({ ok: true });
    expect(verify(V.sm2.signed)).toEqual({ ok: true });
    expect(verify(withValue(V.sm2.signed, V.sm2.signatureRaw))).toEqual({ ok: true });
    const esRaw = signPrescription(V.prescription, { alg: 'ES256', keyId: V.keys.ES256.keyId, privateKeyPem: V.keys.ES256.privateKeyPem, encoding: 'raw' });
    expect(Buffer.from(esRaw.signature.value, 'base64')).toHaveLength(64);
    expect(verify(esRaw)).toEqual({ ok: true });
  });

  it('refuses a tampered payload with either algorithm', () => {
    for (const signed of [V.es256.signed, V.sm2.signed]) {
      expect(verify({ ...signed, lines: [{ ...signed.lines[0], quantity: 3 }, signed.lines[1]] })).toMatchObject({ ok: false, code: 'SIGNATURE_INVALID' });
      expect(verify({ ...signed, extra: 'added' })).toMatchObject({ ok: false, code: 'SIGNATURE_INVALID' });
    }
  });

  it('refuses a signature made with another key registered under that key id', () => {
    for (const alg of ['ES256', 'SM2-SM3'] as const) {
      const other = generateKeyPair(alg);
      const signed = signPrescription(V.prescription, { alg, keyId: V.keys[alg].keyId, privateKeyPem: other.privateKeyPem });
      expect(verify(signed)).toMatchObject({ ok: false, code: 'SIGNATURE_INVALID' });
      expect(verify(signed, [registered(alg, { publicKeyPem: other.publicKeyPem })])).toEqual({ ok: true });
    }
  });

  it('refuses an SM2 signature made with another signer ID than the key was registered with', () => {
    const signed = signPrescription(V.prescription, { alg: 'SM2-SM3', keyId: 'vector-sm2', privateKeyPem: V.keys['SM2-SM3'].privateKeyPem, signerId: 'HOSPITAL-0001' });
    expect(verify(signed)).toMatchObject({ ok: false, code: 'SIGNATURE_INVALID' });
    expect(verify(signed, [registered('SM2-SM3', { signerId: 'HOSPITAL-0001' })])).toEqual({ ok: true });
  });

  it('refuses unknown, revoked, not-yet-valid and expired keys, judging validity at the issue time', () => {
    expect(verify(V.sm2.signed, [registered('ES256')])).toMatchObject({ ok: false, code: 'SIGNATURE_UNKNOWN_KEY' });
    expect(verify(V.sm2.signed, [registered('SM2-SM3', { revoked: true })])).toMatchObject({ ok: false, code: 'SIGNATURE_KEY_REVOKED' });
    expect(verify(V.es256.signed, [registered('ES256', { validFrom: '2026-11-23T02:00:00Z' })])).toMatchObject({ ok: false, code: 'SIGNATURE_KEY_NOT_YET_VALID' });
    expect(verify(V.es256.signed, [registered('ES256', { validTo: '2026-11-23T01:00:00Z' })])).toMatchObject({ ok: false, code: 'SIGNATURE_KEY_EXPIRED' });
    // Issued 09:30 (+08) while the key was valid; it ran out at 09:45, the push arrives at 10:00: still valid.
    expect(verify(V.es256.signed, [registered('ES256', { validTo: '2026-11-23T01:45:00Z' })])).toEqual({ ok: true });
  });

  it('refuses an algorithm other than the registered one, and a value that is not a signature', () => {
    const claimed = { ...V.sm2.signed, signature: { ...V.sm2.signed.signature, alg: 'ES256' } };
    expect(verify(claimed)).toMatchObject({ ok: false, code: 'SIGNATURE_ALG_MISMATCH' });
    expect(verify(withValue(V.sm2.signed, 'not base64!'))).toMatchObject({ ok: false, code: 'SIGNATURE_MALFORMED' });
    expect(verify(withValue(V.sm2.signed, Buffer.alloc(71, 1).toString('base64')))).toMatchObject({ ok: false, code: 'SIGNATURE_INVALID' });
    // r or s out of [1, n-1] never verifies.
    expect(verify(withValue(V.sm2.signed, Buffer.alloc(64, 0).toString('base64')))).toMatchObject({ ok: false, code: 'SIGNATURE_INVALID' });
    expect(verify(withValue(V.sm2.signed, Buffer.alloc(64, 0xff).toString('base64')))).toMatchObject({ ok: false, code: 'SIGNATURE_INVALID' });
  });

  it('does not take ECDSA over the SM2 curve (what Node\'s crypto computes) for an SM2 signature', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'SM2' });
    const ecdsa = nodeSign('sm3', Buffer.from(canonicalContent(V.prescription), 'utf8'), privateKey).toString('base64');
    const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
    expect(verify({ ...V.prescription, signature: { alg: 'SM2-SM3', keyId: 'k', value: ecdsa } }, [registered('SM2-SM3', { keyId: 'k', publicKeyPem: pem })]))
      .toMatchObject({ ok: false, code: 'SIGNATURE_INVALID' });
  });
});

describe('the signing helper (sdk/sign.ts)', () => {
  it('signs and verifies with fresh keys of both algorithms, and notices tampering', () => {
    for (const alg of ['ES256', 'SM2-SM3'] as const) {
      for (const encoding of ['der', 'raw'] as const) {
        const k = generateKeyPair(alg);
        const signed = signPrescription(V.prescription, { alg, keyId: 'k1', privateKeyPem: k.privateKeyPem, encoding });
        expect(signed.signature.alg).toBe(alg);
        expect(verifyPrescription(signed, k.publicKeyPem)).toEqual({ ok: true });
        expect(verifyPrescription({ ...signed, rxNo: 'OTHER' }, k.publicKeyPem)).toMatchObject({ ok: false });
        expect(verifyPrescription(signed, generateKeyPair(alg).publicKeyPem)).toMatchObject({ ok: false });
      }
    }
  });

  it('checks a key before registration: public, parseable, on the algorithm\'s curve', () => {
    expect(inspectPublicKey(V.keys.ES256.publicKeyPem, 'ES256')).toMatchObject({ ok: true });
    expect(inspectPublicKey(V.keys['SM2-SM3'].publicKeyPem, 'SM2-SM3')).toMatchObject({ ok: true });
    expect(inspectPublicKey(V.keys.ES256.publicKeyPem, 'SM2-SM3')).toMatchObject({ ok: false, code: 'SIGNING_KEY_ALG_MISMATCH' });
    expect(inspectPublicKey(V.keys['SM2-SM3'].publicKeyPem, 'ES256')).toMatchObject({ ok: false, code: 'SIGNING_KEY_ALG_MISMATCH' });
    expect(inspectPublicKey(V.keys.ES256.privateKeyPem, 'ES256')).toMatchObject({ ok: false, code: 'SIGNING_KEY_PRIVATE' });
    expect(inspectPublicKey('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----', 'ES256')).toMatchObject({ ok: false, code: 'SIGNING_KEY_INVALID' });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    expect(inspectPublicKey(rsa, 'ES256')).toMatchObject({ ok: false, code: 'SIGNING_KEY_ALG_MISMATCH' });
  });

  it('CLI: keygen, sign, verify, canonical', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rx-sdk-'));
    const out: string[] = [];
    const cli = (...args: string[]) => run(args, (s) => out.push(s));
    const rxFile = path.join(dir, 'rx.json');
    fs.writeFileSync(rxFile, JSON.stringify(V.prescription));
    expect(cli('keygen', '--alg', 'SM2-SM3', '--out', path.join(dir, 'doctor'))).toBe(0);
    expect((fs.statSync(path.join(dir, 'doctor.pem')).mode & 0o777).toString(8)).toBe('600');
    expect(cli('sign', '--alg', 'SM2-SM3', '--key', path.join(dir, 'doctor.pem'), '--key-id', 'doc-1', '--out', path.join(dir, 'signed.json'), rxFile)).toBe(0);
    expect(cli('verify', '--pub', path.join(dir, 'doctor.pub.pem'), path.join(dir, 'signed.json'))).toBe(0);
    expect(out.at(-1)).toBe('valid');
    const tampered = JSON.parse(fs.readFileSync(path.join(dir, 'signed.json'), 'utf8'));
    tampered.patient.name = '李四';
    fs.writeFileSync(path.join(dir, 'tampered.json'), JSON.stringify(tampered));
    expect(cli('verify', '--pub', path.join(dir, 'doctor.pub.pem'), path.join(dir, 'tampered.json'))).toBe(1);
    out.length = 0;
    expect(cli('canonical', rxFile)).toBe(0);
    expect(out).toEqual([V.canonical, `sha256 ${V.sha256}`, `sm3    ${V.sm3}`]);
    expect(() => cli('sign', '--alg', 'RSA', rxFile)).toThrow(/--alg/);
    fs.rmSync(dir, { recursive: true });
  });
});
