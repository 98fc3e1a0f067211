// Verifies the prescribing doctor's signature over the canonical content (domain/canonical.ts).
// ES256 = ECDSA P-256 with SHA-256, DER-encoded, base64. SM2/SM3 is added beside it (issue 3).
import { createPublicKey, createVerify, createSign, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { canonicalContent } from './canonical';

export interface RegisteredKey { keyId: string; alg: 'ES256'; publicKeyPem: string; validFrom: string; validTo: string; revoked: boolean }

export type SignatureCheck =
  | { ok: true }
  | { ok: false; code: 'SIGNATURE_UNKNOWN_KEY' | 'SIGNATURE_KEY_REVOKED' | 'SIGNATURE_KEY_NOT_VALID' | 'SIGNATURE_INVALID'; message: string };

export function verifyPrescriptionSignature(raw: Record<string, unknown>, keys: RegisteredKey[], at: Date): SignatureCheck {
  const sig = raw.signature as { alg: string; keyId: string; value: string };
  const key = keys.find((k) => k.keyId === sig.keyId);
  if (!key) return { ok: false, code: 'SIGNATURE_UNKNOWN_KEY', message: `key ${sig.keyId} is not registered for this hospital` };
  if (key.revoked) return { ok: false, code: 'SIGNATURE_KEY_REVOKED', message: `key ${sig.keyId} has been revoked` };
  if (at < new Date(key.validFrom) || at > new Date(key.validTo)) {
    return { ok: false, code: 'SIGNATURE_KEY_NOT_VALID', message: `key ${sig.keyId} is valid ${key.validFrom} to ${key.validTo}` };
  }
  let valid = false;
  try {
    valid = createVerify('SHA256').update(canonicalContent(raw), 'utf8').verify(createPublicKey(key.publicKeyPem), Buffer.from(sig.value, 'base64'));
  } catch {
    valid = false;
  }
  return valid ? { ok: true } : { ok: false, code: 'SIGNATURE_INVALID', message: 'the signature does not match the prescription content' };
}

/** For hospital integrators and tests: sign a prescription's canonical content. */
export function signPrescription<T extends Record<string, unknown>>(content: T, keyId: string, privateKey: KeyObject | string): T & { signature: { alg: 'ES256'; keyId: string; value: string } } {
  const { signature: _drop, ...rest } = content as Record<string, unknown>;
  const value = createSign('SHA256').update(canonicalContent(rest), 'utf8').sign(privateKey).toString('base64');
  return { ...(rest as T), signature: { alg: 'ES256', keyId, value } };
}

export function generateSigningKey(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string,
  };
}
