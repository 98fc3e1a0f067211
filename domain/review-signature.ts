// The pharmacist's signature on a review decision. Each pharmacist has an SM2 key pair (SM3 digest with
// the GB/T 35276 default signer id, what Chinese CAs issue) generated when they are registered; the
// server holds the private key encrypted under a key-encryption key from configuration and signs on
// their behalf once the API has authenticated them and checked their licence (docs/review.md says why).
// The signature covers a canonical form of what was decided, so any later change to the stored review
// (decision, reasons, comment, time, who) or to the prescription it refers to fails verification.
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { sm2 } from 'sm-crypto-v2';
import { canonicalJson } from './canonical';

export const REVIEW_SIGNATURE_ALG = 'SM2-SM3' as const;
const SIGNER_ID = '1234567812345678'; // GB/T 35276 default user id (Z_A)

export interface ReviewSigningKey { keyId: string; publicKey: string; privateKeyEnc: string }
export interface ReviewSignature {
  alg: typeof REVIEW_SIGNATURE_ALG; keyId: string; publicKey: string; value: string;
  /** The licence number the statement was signed under (stored beside it; the signature covers it). */
  licenseNo?: string;
}

/** Everything a decision says, and nothing else, in the form that is signed. */
export interface DecisionStatement {
  prescriptionId: string;
  rxNo: string;
  version: number;
  contentHash: string;            // the prescription's content as the hospital signed it
  decision: 'approve' | 'reject';
  reasons: string[];
  comment: string | null;
  overrideReason: string | null;
  decidedAt: string;              // ISO 8601, UTC
  pharmacist: { code: string; licenseNo: string };
}

/** RFC 8785-style canonical JSON (domain/canonical.ts) of the statement with a type tag, UTF-8. */
export function canonicalDecision(s: DecisionStatement): string {
  return canonicalJson({ type: 'rxflow.review-decision.v1', ...s });
}

export const keyIdOf = (publicKeyHex: string) => createHash('sha256').update(publicKeyHex, 'utf8').digest('hex').slice(0, 16);

function kek(secret: string): Buffer {
  if (!secret) throw new Error('no key-encryption secret configured for pharmacist signing keys (RX_REVIEW_KEY_SECRET)');
  return Buffer.from(hkdfSync('sha256', secret, 'rxflow-pharmacist-signing-keys', 'v1', 32));
}

/** AES-256-GCM; the pharmacist's id is bound as associated data, so a blob cannot be moved to someone else. */
export function encryptPrivateKey(privateKeyHex: string, pharmacistId: string, secret: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', kek(secret), iv);
  c.setAAD(Buffer.from(pharmacistId, 'utf8'));
  const ct = Buffer.concat([c.update(privateKeyHex, 'utf8'), c.final()]);
  return ['v1', iv.toString('base64url'), c.getAuthTag().toString('base64url'), ct.toString('base64url')].join('.');
}

export function decryptPrivateKey(blob: string, pharmacistId: string, secret: string): string {
  const [v, iv, tag, ct] = blob.split('.');
  if (v !== 'v1' || !iv || !tag || !ct) throw new Error('unknown private key format');
  const d = createDecipheriv('aes-256-gcm', kek(secret), Buffer.from(iv, 'base64url'));
  d.setAAD(Buffer.from(pharmacistId, 'utf8'));
  d.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([d.update(Buffer.from(ct, 'base64url')), d.final()]).toString('utf8');
}

/** At registration: a fresh SM2 key pair, the private half encrypted for storage. */
export function generateReviewSigningKey(pharmacistId: string, secret: string): ReviewSigningKey {
  const { privateKey, publicKey } = sm2.generateKeyPairHex();
  return { keyId: keyIdOf(publicKey), publicKey, privateKeyEnc: encryptPrivateKey(privateKey, pharmacistId, secret) };
}

export function signDecision(s: DecisionStatement, key: ReviewSigningKey, pharmacistId: string, secret: string): ReviewSignature {
  const privateKey = decryptPrivateKey(key.privateKeyEnc, pharmacistId, secret);
  const der = sm2.doSignature(canonicalDecision(s), privateKey, { hash: true, der: true, publicKey: key.publicKey, userId: SIGNER_ID });
  return { alg: REVIEW_SIGNATURE_ALG, keyId: key.keyId, publicKey: key.publicKey, value: Buffer.from(der, 'hex').toString('base64') };
}

export type DecisionVerification = { valid: true } | { valid: false; reason: 'unknown_key' | 'bad_signature' | 'unsupported_alg' };

/** `publicKey` is the key on the pharmacist's record: the signature must be by that key and match the statement. */
export function verifyDecision(s: DecisionStatement, sig: ReviewSignature, publicKey: string | null): DecisionVerification {
  if (sig.alg !== REVIEW_SIGNATURE_ALG) return { valid: false, reason: 'unsupported_alg' };
  if (!publicKey || publicKey !== sig.publicKey || keyIdOf(publicKey) !== sig.keyId) return { valid: false, reason: 'unknown_key' };
  let ok = false;
  try {
    ok = sm2.doVerifySignature(canonicalDecision(s), Buffer.from(sig.value, 'base64').toString('hex'), publicKey, { hash: true, der: true, userId: SIGNER_ID });
  } catch {
    ok = false;
  }
  return ok ? { valid: true } : { valid: false, reason: 'bad_signature' };
}
