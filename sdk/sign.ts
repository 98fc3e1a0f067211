// Signing helper for hospital integrators (docs/signing.md): generate a key pair, sign a prescription as
// rxflow verifies it (ES256 or SM2-SM3), verify a signed one, and show the canonical form and its digests;
// and sign the HTTP requests themselves (request signing, re-exported from sdk/request-signing.ts).
// It uses the engine's own canonical form and signature code (domain/canonical.ts, domain/signature.ts: pure,
// node:crypto and sm-crypto-v2 only), so what it signs is what intake checks; sdk/test-vectors.json pins both.
import { createHash, createPublicKey } from 'node:crypto';
import { sm2, sm3 } from 'sm-crypto-v2';
import { canonicalContent, canonicalJson } from '../domain/canonical';
import {
  decodeSignatureValue, generateSigningKey, inspectPublicKey, signPrescription as signContent, spkiPointHex, verifyBytes,
  SIGNATURE_ALGS, SM2_DEFAULT_SIGNER_ID, type SignatureAlg,
} from '../domain/signature';

export { canonicalContent, canonicalJson, SIGNATURE_ALGS, SM2_DEFAULT_SIGNER_ID, type SignatureAlg };
// Request signing (docs/signing.md, "Request signing"): the HMAC every call of a hospital system carries
// besides its API key, where rxflow requires it. sdk/request-signing.ts is self-contained (copy it alone).
export { checkSignature, computeSignature, signedFetch, signingString, signRequest, REQUEST_ID_HEADER, SIGNATURE_HEADER } from './request-signing';

export interface KeyPair { alg: SignatureAlg; privateKeyPem: string; publicKeyPem: string }

/** A new key pair: PKCS#8 private key (keep it with the signer), SPKI public key (register it with rxflow). */
export function generateKeyPair(alg: SignatureAlg): KeyPair {
  return { alg, ...generateSigningKey(alg) };
}

export interface SignInput {
  alg: SignatureAlg;
  /** The key id registered with rxflow (POST /v1/hospital/signing-keys). */
  keyId: string;
  privateKeyPem: string;
  /** SM2 only; default "1234567812345678" (GB/T 35276). Must match what was registered. */
  signerId?: string;
  /** DER (default; what CAs emit) or raw r||s. rxflow accepts both. */
  encoding?: 'der' | 'raw';
}

/** The prescription with `signature: { alg, keyId, value }` over its canonical form; an old signature is replaced. */
export function signPrescription<T extends Record<string, unknown>>(prescription: T, input: SignInput) {
  return signContent(prescription, input.keyId, input.privateKeyPem, { alg: input.alg, signerId: input.signerId, encoding: input.encoding });
}

export type VerifyResult = { ok: true } | { ok: false; reason: string };

/** Checks a signed prescription against a public key, as rxflow does (without the key registry's dates). */
export function verifyPrescription(signed: Record<string, unknown>, publicKeyPem: string, opts: { signerId?: string } = {}): VerifyResult {
  const sig = signed.signature as { alg?: string; keyId?: string; value?: string } | undefined;
  if (!sig || typeof sig !== 'object') return { ok: false, reason: 'no signature member' };
  if (!SIGNATURE_ALGS.includes(sig.alg as SignatureAlg)) return { ok: false, reason: `unknown alg ${sig.alg}; use ${SIGNATURE_ALGS.join(' or ')}` };
  const alg = sig.alg as SignatureAlg;
  const key = inspectPublicKey(publicKeyPem, alg);
  if (!key.ok) return { ok: false, reason: key.message };
  const bytes = decodeSignatureValue(sig.value ?? '');
  if (!bytes) return { ok: false, reason: 'signature.value is not base64 of a DER or r||s signature' };
  const ok = verifyBytes(alg, key.publicKeyPem, Buffer.from(canonicalContent(signed), 'utf8'), bytes, opts.signerId ?? SM2_DEFAULT_SIGNER_ID);
  return ok ? { ok: true } : { ok: false, reason: 'the signature does not match this content and key' };
}

export interface Digests {
  /** The exact UTF-8 text that is signed. */
  canonical: string;
  /** SHA-256 of the canonical form, hex: what ES256 signs (and rxflow's content hash). */
  sha256: string;
  /** Plain SM3 of the canonical form, hex (GB/T 32905). SM2 signs SM3(Z_A || M), see sm2Digest. */
  sm3: string;
}

export function digests(prescription: Record<string, unknown>): Digests {
  const canonical = canonicalContent(prescription);
  const bytes = Buffer.from(canonical, 'utf8');
  return { canonical, sha256: createHash('sha256').update(bytes).digest('hex'), sm3: sm3(bytes) };
}

/** SM2's pre-hash for a public key and signer ID: Z_A = SM3(ENTL || ID || a || b || xG || yG || xA || yA), e = SM3(Z_A || M). */
export function sm2Digest(prescription: Record<string, unknown>, publicKeyPem: string, signerId = SM2_DEFAULT_SIGNER_ID): { za: string; e: string } {
  const point = spkiPointHex(createPublicKey(publicKeyPem));
  const m = Buffer.from(canonicalContent(prescription), 'utf8');
  return { za: Buffer.from(sm2.getZ(point, signerId)).toString('hex'), e: sm2.getHash(m, point, signerId) };
}
