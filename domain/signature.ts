// Verifies the prescribing doctor's signature over the canonical content (domain/canonical.ts).
// Two algorithms (docs/signing.md):
// - ES256: ECDSA P-256 with SHA-256 (international CAs), by Node's crypto.
// - SM2-SM3: SM2 signature with SM3 and the Z_A pre-hash over the signer ID (GB/T 32918.2, GB/T 35276;
//   default ID "1234567812345678"), what Chinese CAs issue. Node's crypto cannot do it: it treats an SM2-curve
//   key as a generic EC key and computes ECDSA-with-SM3 without Z_A (checked against the GM/T 0003.5 example),
//   so the curve arithmetic comes from sm-crypto-v2 (on @noble/curves), which reproduces that example exactly.
// The value is base64 of either the DER SEQUENCE { r INTEGER, s INTEGER } (what OpenSSL, GmSSL, BouncyCastle,
// CA middleware and USB keys emit) or raw r||s (32 + 32 bytes, JWS style); both are accepted.
import { createPrivateKey, createPublicKey, createHash, generateKeyPairSync, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { sm2 } from 'sm-crypto-v2';
import { canonicalContent } from './canonical';

export const SIGNATURE_ALGS = ['ES256', 'SM2-SM3'] as const;
export type SignatureAlg = (typeof SIGNATURE_ALGS)[number];
/** GB/T 35276-2017: the signer ID hashed into Z_A when the parties agree on nothing else. */
export const SM2_DEFAULT_SIGNER_ID = '1234567812345678';

export interface RegisteredKey {
  keyId: string; alg: SignatureAlg; publicKeyPem: string; validFrom: string; validTo: string; revoked: boolean;
  /** SM2 only: the signer ID (Z_A); null or absent means SM2_DEFAULT_SIGNER_ID. */
  signerId?: string | null;
}

/** Every code verifyPrescriptionSignature can answer (docs/intake-rules.md lists each). */
export const SIGNATURE_CODES = [
  'SIGNATURE_UNKNOWN_KEY', 'SIGNATURE_KEY_REVOKED', 'SIGNATURE_KEY_NOT_YET_VALID', 'SIGNATURE_KEY_EXPIRED',
  'SIGNATURE_ALG_MISMATCH', 'SIGNATURE_MALFORMED', 'SIGNATURE_INVALID',
] as const;
export type SignatureCode = (typeof SIGNATURE_CODES)[number];

export type SignatureCheck = { ok: true } | { ok: false; code: SignatureCode; message: string };

/**
 * `at` is when the push arrives: a key revoked by then is refused whatever the prescription claims. The key's
 * validity window is checked at the signing time, the prescription's `issuedAt` (falling back to `at`), so a
 * prescription signed just before a rotation's cut-over still verifies; the validity-window rule bounds how
 * old such a prescription can be.
 */
export function verifyPrescriptionSignature(raw: Record<string, unknown>, keys: RegisteredKey[], at: Date): SignatureCheck {
  const sig = raw.signature as { alg: string; keyId: string; value: string };
  const key = keys.find((k) => k.keyId === sig.keyId);
  if (!key) return { ok: false, code: 'SIGNATURE_UNKNOWN_KEY', message: `key ${sig.keyId} is not registered for this hospital` };
  if (key.revoked) return { ok: false, code: 'SIGNATURE_KEY_REVOKED', message: `key ${sig.keyId} has been revoked` };
  if (sig.alg !== key.alg) return { ok: false, code: 'SIGNATURE_ALG_MISMATCH', message: `key ${sig.keyId} is registered for ${key.alg}, the signature says ${sig.alg}` };
  const issued = typeof raw.issuedAt === 'string' ? new Date(raw.issuedAt) : at;
  const signedAt = Number.isNaN(issued.getTime()) ? at : issued;
  if (signedAt < new Date(key.validFrom)) {
    return { ok: false, code: 'SIGNATURE_KEY_NOT_YET_VALID', message: `key ${sig.keyId} is valid from ${key.validFrom}; the prescription was issued ${signedAt.toISOString()}` };
  }
  if (signedAt > new Date(key.validTo)) {
    return { ok: false, code: 'SIGNATURE_KEY_EXPIRED', message: `key ${sig.keyId} expired ${key.validTo}; the prescription was issued ${signedAt.toISOString()}` };
  }
  const bytes = decodeSignatureValue(sig.value);
  if (!bytes) return { ok: false, code: 'SIGNATURE_MALFORMED', message: 'the signature value is not base64 of a DER or r||s signature' };
  const valid = verifyBytes(key.alg, key.publicKeyPem, Buffer.from(canonicalContent(raw), 'utf8'), bytes, key.signerId ?? SM2_DEFAULT_SIGNER_ID);
  return valid ? { ok: true } : { ok: false, code: 'SIGNATURE_INVALID', message: 'the signature does not match the prescription content and key' };
}

// ---- signing (tests, the demo and sdk/sign.ts) ---------------------------------------------------------------

export interface SignOptions { alg?: SignatureAlg; signerId?: string; encoding?: 'der' | 'raw' }

/** Signs a prescription's canonical content; any `signature` member is replaced. ES256 unless opts.alg says otherwise. */
export function signPrescription<T extends Record<string, unknown>>(content: T, keyId: string, privateKey: KeyObject | string, opts: SignOptions = {}):
  T & { signature: { alg: SignatureAlg; keyId: string; value: string } } {
  const { signature: _drop, ...rest } = content as Record<string, unknown>;
  const alg = opts.alg ?? 'ES256';
  const value = signBytes(alg, privateKey, Buffer.from(canonicalContent(rest), 'utf8'), opts).toString('base64');
  return { ...(rest as T), signature: { alg, keyId, value } };
}

export function signBytes(alg: SignatureAlg, privateKey: KeyObject | string, message: Buffer, opts: Pick<SignOptions, 'signerId' | 'encoding'> = {}): Buffer {
  const key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey;
  if (alg === 'ES256') {
    assertCurve(key, 'prime256v1', alg);
    return nodeSign('sha256', message, { key, dsaEncoding: opts.encoding === 'raw' ? 'ieee-p1363' : 'der' });
  }
  assertCurve(key, 'SM2', alg);
  const d = sm2PrivateScalarHex(key);
  const hex = sm2.doSignature(message, d, { hash: true, der: opts.encoding !== 'raw', userId: opts.signerId ?? SM2_DEFAULT_SIGNER_ID, publicKey: sm2.getPublicKeyFromPrivateKey(d) });
  return Buffer.from(hex, 'hex');
}

export function generateSigningKey(alg: SignatureAlg = 'ES256'): { privateKeyPem: string; publicKeyPem: string } {
  // Key generation is plain EC key generation on the named curve; OpenSSL does it for both curves.
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: alg === 'ES256' ? 'P-256' : 'SM2' });
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string,
  };
}

// ---- verification primitives -----------------------------------------------------------------------------------

/** base64 or base64url; null when it is neither or decodes to nothing. */
export function decodeSignatureValue(value: string): Buffer | null {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(value)) return null;
  const b = Buffer.from(value, 'base64');
  return b.length >= 8 ? b : null;
}

/** The (r, s) readings of a signature: its strict DER parse and, for 64 bytes, r||s. */
export function ecdsaSignatureCandidates(sig: Buffer): { r: bigint; s: bigint }[] {
  const out: { r: bigint; s: bigint }[] = [];
  const der = parseDerSignature(sig);
  if (der) out.push(der);
  if (sig.length === 64) out.push({ r: BigInt('0x' + sig.subarray(0, 32).toString('hex')), s: BigInt('0x' + sig.subarray(32).toString('hex')) });
  return out;
}

// Group order of the SM2 recommended curve (GB/T 32918.5): r and s must lie in [1, n-1].
const SM2_N = BigInt('0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123');

export function verifyBytes(alg: SignatureAlg, publicKeyPem: string, message: Buffer, sig: Buffer, signerId = SM2_DEFAULT_SIGNER_ID): boolean {
  try {
    const key = createPublicKey(publicKeyPem);
    if (alg === 'ES256') {
      if (curveOf(key) !== 'prime256v1') return false;
      if (parseDerSignature(sig) && nodeVerify('sha256', message, { key, dsaEncoding: 'der' }, sig)) return true;
      return sig.length === 64 && nodeVerify('sha256', message, { key, dsaEncoding: 'ieee-p1363' }, sig);
    }
    if (curveOf(key) !== 'SM2') return false;
    const point = spkiPointHex(key);
    return ecdsaSignatureCandidates(sig).some(({ r, s }) =>
      r >= 1n && r < SM2_N && s >= 1n && s < SM2_N &&
      sm2.doVerifySignature(message, r.toString(16).padStart(64, '0') + s.toString(16).padStart(64, '0'), point, { hash: true, der: false, userId: signerId }));
  } catch {
    return false;
  }
}

// ---- key inspection (registration) ------------------------------------------------------------------------------

export type PublicKeyCheck =
  | { ok: true; publicKeyPem: string; fingerprint: string }
  | { ok: false; code: 'SIGNING_KEY_INVALID' | 'SIGNING_KEY_PRIVATE' | 'SIGNING_KEY_ALG_MISMATCH'; message: string };

/** Checks a PEM a hospital registers: a public key (never a private one) on the algorithm's curve. */
export function inspectPublicKey(pem: string, alg: SignatureAlg): PublicKeyCheck {
  if (/PRIVATE KEY-----/.test(pem)) return { ok: false, code: 'SIGNING_KEY_PRIVATE', message: 'this is a private key: register only the public key and keep the private key with the signer' };
  if (!/-----BEGIN PUBLIC KEY-----/.test(pem)) return { ok: false, code: 'SIGNING_KEY_INVALID', message: 'send the public key as PEM (-----BEGIN PUBLIC KEY-----, SubjectPublicKeyInfo)' };
  let key: KeyObject;
  try { key = createPublicKey(pem); } catch (e) { return { ok: false, code: 'SIGNING_KEY_INVALID', message: `the PEM does not parse as a public key: ${(e as Error).message}` }; }
  const want = alg === 'ES256' ? 'prime256v1' : 'SM2';
  const curve = curveOf(key);
  if (curve !== want) return { ok: false, code: 'SIGNING_KEY_ALG_MISMATCH', message: `${alg} needs an EC key on ${want === 'prime256v1' ? 'P-256' : 'the SM2 curve'}; this key is ${curve ? `on ${curve}` : (key.asymmetricKeyType ?? 'of another kind')}` };
  if (alg === 'SM2-SM3' && !sm2.verifyPublicKey(spkiPointHex(key))) return { ok: false, code: 'SIGNING_KEY_INVALID', message: 'the point is not on the SM2 curve' };
  const der = key.export({ type: 'spki', format: 'der' });
  return { ok: true, publicKeyPem: key.export({ type: 'spki', format: 'pem' }) as string, fingerprint: createHash('sha256').update(der).digest('hex') };
}

// ---- helpers ---------------------------------------------------------------------------------------------------

// Once parsed from PEM, OpenSSL 3 types an SM2-curve key as "SM2", which Node does not name
// (asymmetricKeyType undefined): the curve is read from the key's own AlgorithmIdentifier instead.
const CURVE_OIDS: Record<string, string> = {
  '2a8648ce3d030107': 'prime256v1', // 1.2.840.10045.3.1.7
  '2a811ccf5501822d': 'SM2',        // 1.2.156.10197.1.301
};
const EC_PUBLIC_KEY_OID = '2a8648ce3d0201'; // 1.2.840.10045.2.1

/** The named curve of an EC key, from the AlgorithmIdentifier of its SPKI (public) or PKCS#8 (private) encoding. */
function curveOf(key: KeyObject): string | undefined {
  try {
    const der = key.type === 'private' ? key.export({ type: 'pkcs8', format: 'der' }) : key.export({ type: 'spki', format: 'der' });
    const outer = tlv(der, 0)!;
    let at = outer.start;
    if (key.type === 'private') at = tlv(der, at)!.end; // skip the version
    const algId = tlv(der, at)!;
    const oid = tlv(der, algId.start)!;
    const param = tlv(der, oid.end)!;
    if (oid.tag !== 0x06 || der.subarray(oid.start, oid.end).toString('hex') !== EC_PUBLIC_KEY_OID || param.tag !== 0x06) return undefined;
    return CURVE_OIDS[der.subarray(param.start, param.end).toString('hex')];
  } catch {
    return undefined;
  }
}

function assertCurve(key: KeyObject, curve: string, alg: SignatureAlg): void {
  if (curveOf(key) !== curve) throw new Error(`${alg} needs a private key on ${curve}; got ${curveOf(key) ?? key.asymmetricKeyType ?? 'another kind of key'}`);
}

interface Tlv { tag: number; start: number; end: number }
/** One DER TLV at `at`; null when the buffer is too short or the length is not minimally encoded. */
function tlv(b: Buffer, at: number): Tlv | null {
  if (at + 2 > b.length) return null;
  const tag = b[at];
  let len = b[at + 1];
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 2 || start + n > b.length) return null;
    len = 0;
    for (let i = 0; i < n; i++) len = (len << 8) | b[start + i];
    if (len < 0x80) return null;
    start += n;
  }
  return start + len <= b.length ? { tag, start, end: start + len } : null;
}

/** Strict DER ECDSA-Sig-Value / SM2Signature: SEQUENCE of two positive INTEGERs and nothing after it. */
function parseDerSignature(b: Buffer): { r: bigint; s: bigint } | null {
  const seq = tlv(b, 0);
  if (!seq || seq.tag !== 0x30 || seq.end !== b.length) return null;
  const r = tlv(b, seq.start);
  if (!r || r.tag !== 0x02) return null;
  const s = tlv(b, r.end);
  if (!s || s.tag !== 0x02 || s.end !== seq.end) return null;
  const int = (t: Tlv) => {
    const v = b.subarray(t.start, t.end);
    if (v.length === 0 || v[0] & 0x80 || (v.length > 1 && v[0] === 0 && !(v[1] & 0x80))) return null; // negative or padded
    return BigInt('0x' + v.toString('hex'));
  };
  const [ri, si] = [int(r), int(s)];
  return ri === null || si === null ? null : { r: ri, s: si };
}

/** The EC point of a public key, hex (04||X||Y or compressed), from its SubjectPublicKeyInfo's BIT STRING. */
export function spkiPointHex(key: KeyObject): string {
  const der = key.export({ type: 'spki', format: 'der' });
  const spki = tlv(der, 0)!;
  const algId = tlv(der, spki.start)!;
  const bits = tlv(der, algId.end)!;
  if (bits.tag !== 0x03 || der[bits.start] !== 0) throw new Error('unexpected SubjectPublicKeyInfo');
  return der.subarray(bits.start + 1, bits.end).toString('hex');
}

/** The private scalar d of an EC private key, hex: PKCS#8 PrivateKeyInfo → OCTET STRING → SEC1 ECPrivateKey. */
export function sm2PrivateScalarHex(key: KeyObject): string {
  const der = key.export({ type: 'pkcs8', format: 'der' });
  const info = tlv(der, 0)!;
  const algId = tlv(der, tlv(der, info.start)!.end)!;
  const wrapped = tlv(der, algId.end)!;
  if (wrapped.tag !== 0x04) throw new Error('unexpected PrivateKeyInfo');
  const ecKey = tlv(der, wrapped.start)!;
  const d = tlv(der, tlv(der, ecKey.start)!.end)!;
  if (d.tag !== 0x04) throw new Error('unexpected ECPrivateKey');
  return der.subarray(d.start, d.end).toString('hex').padStart(64, '0');
}
