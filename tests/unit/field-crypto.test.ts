// Field-level encryption of the patient's ID number, phone and address, without a database: AES-256-GCM
// under versioned keys, the field bound as associated data, rotation, keyed lookup hashes, and the
// prescription snapshot's protected fields.
import { randomBytes } from 'node:crypto';
import {
  DecryptError, KeyConfigError, contentNeedsReencryption, decryptField, encryptField, keyVersionOf, lookupHash, needsReencryption,
  parseKeyRing, protectContent, reencryptContent, revealContent,
} from '../../domain/field-crypto';
import { keyRingFromEnv } from '../../engine/data-keys';

const k = () => randomBytes(32).toString('base64');
const HMAC = k();
const V1 = `v1:${k()}`;
const V2 = `v2:${k()}`;
const ringV1 = parseKeyRing(V1, HMAC);
const ringV2 = parseKeyRing(`${V2},${V1}`, HMAC);

it('encrypts with the first key, decrypts with any, and never stores the plaintext', () => {
  const c = encryptField(ringV1, '13857100001', 'patient.phone');
  expect(c).toMatch(/^enc:v1:[A-Za-z0-9_-]+$/);
  expect(c).not.toContain('13857100001');
  expect(encryptField(ringV1, '13857100001', 'patient.phone')).not.toBe(c); // a fresh IV each time
  expect(decryptField(ringV1, c, 'patient.phone')).toBe('13857100001');
  expect(decryptField(ringV2, c, 'patient.phone')).toBe('13857100001');
  expect(keyVersionOf(encryptField(ringV2, 'x', 'f'))).toBe('v2');
});

it('refuses a ciphertext moved to another field, altered, or under a key that is not configured', () => {
  const c = encryptField(ringV2, '330302195803140011', 'patient.id_number');
  expect(() => decryptField(ringV2, c, 'patient.phone')).toThrow(DecryptError);
  const flipped = c.slice(0, -2) + (c.at(-2) === 'A' ? 'B' : 'A') + c.at(-1);
  expect(() => decryptField(ringV2, flipped, 'patient.id_number')).toThrow(DecryptError);
  expect(() => decryptField(ringV1, c, 'patient.id_number')).toThrow(/data key v2, which is not configured/);
});

it('reads a value stored before encryption as it is, and marks it for the rotation', () => {
  expect(decryptField(ringV1, '13857100001', 'patient.phone')).toBe('13857100001');
  expect(needsReencryption(ringV1, '13857100001')).toBe(true);
  expect(needsReencryption(ringV2, encryptField(ringV1, 'x', 'f'))).toBe(true);
  expect(needsReencryption(ringV2, encryptField(ringV2, 'x', 'f'))).toBe(false);
  expect(needsReencryption(ringV2, null)).toBe(false);
});

it('checks the configured keys and never echoes them', () => {
  expect(() => parseKeyRing('v1:c2hvcnQ=', HMAC)).toThrow(KeyConfigError);
  expect(() => parseKeyRing(`${V1},${V1}`, HMAC)).toThrow(/twice/);
  expect(() => parseKeyRing(`bad version:${k()}`, HMAC)).toThrow(KeyConfigError);
  expect(() => parseKeyRing(V1, V1.slice(3))).toThrow(/must differ/);
  try { parseKeyRing('v1:c2hvcnQ=', HMAC); } catch (e) { expect((e as Error).message).not.toContain('c2hvcnQ'); }
  expect(() => keyRingFromEnv({ NODE_ENV: 'production' } as NodeJS.ProcessEnv)).toThrow(/RX_DATA_KEYS/);
  expect(keyRingFromEnv({ NODE_ENV: 'production', RX_DATA_KEYS: `${V2},${V1}`, RX_DATA_HMAC_KEY: HMAC } as NodeJS.ProcessEnv).current).toBe('v2');
});

it('hashes lookups with its own key, after normalising', () => {
  expect(lookupHash(ringV1, 'idNumber', '33010619800101777x')).toBe(lookupHash(ringV2, 'idNumber', '33010619800101777X'));
  expect(lookupHash(ringV1, 'phone', '+86 138-5710-0001')).toBe(lookupHash(ringV1, 'phone', '13857100001'));
  expect(lookupHash(ringV1, 'phone', '13857100001')).not.toBe(lookupHash(ringV1, 'idNumber', '13857100001'));
  expect(lookupHash(parseKeyRing(V1, k()), 'phone', '13857100001')).not.toBe(lookupHash(ringV1, 'phone', '13857100001'));
  // An insurance member number: the same number however it is spaced or cased, apart from an ID number lookup.
  expect(lookupHash(ringV1, 'insuranceMember', ' hz 0012 ')).toBe(lookupHash(ringV1, 'insuranceMember', 'HZ0012'));
  expect(lookupHash(ringV1, 'insuranceMember', '330106195803140011')).not.toBe(lookupHash(ringV1, 'idNumber', '330106195803140011'));
});

describe('the prescription snapshot', () => {
  const content = {
    rxNo: 'RX1', patient: { ref: 'P1', name: '张建国', phone: '13857100001', idNumber: '330302195803140011',
      address: { text: '浙江省温州市鹿城区五马街 1 号', lat: 28, lng: 120.6 }, guardian: { name: '张父', relation: 'father', phone: '13900000000' }, allergies: ['青霉素'] },
    lines: [{ drugCode: 'D1' }], insurance: { planId: 'HZ', memberId: '330106195803140011', commercial: { planId: 'XHYLB', memberId: 'XH-77001234' } },
  };

  it('encrypts the ID number, phone, address and guardian phone; revealing gives back the signed content', () => {
    const stored = protectContent(ringV1, content);
    const text = JSON.stringify(stored);
    for (const secret of ['13857100001', '330302195803140011', '五马街', '13900000000', '330106195803140011', 'XH-77001234']) expect(text).not.toContain(secret);
    expect((stored.patient as any).name).toBe('张建国'); // the name is not one of the protected fields
    expect(revealContent(ringV2, stored)).toEqual(content);
    expect(protectContent(ringV1, stored)).toEqual(stored); // already encrypted values stay
    expect(revealContent(ringV1, content)).toEqual(content); // plaintext snapshots pass through
  });

  it('rotates: re-encrypted under the current key, the same content', () => {
    const old = protectContent(ringV1, content);
    expect(contentNeedsReencryption(ringV2, old)).toBe(true);
    expect(contentNeedsReencryption(ringV2, content)).toBe(true);
    const rotated = reencryptContent(ringV2, old);
    expect(contentNeedsReencryption(ringV2, rotated)).toBe(false);
    expect(keyVersionOf((rotated.patient as any).phone)).toBe('v2');
    expect(revealContent(parseKeyRing(V2, HMAC), rotated)).toEqual(content);
  });
});
