// Proof of delivery by a one-time code (docs/delivery.md): six digits made at dispatch, sent to the
// patient, stored only as a keyed hash (HMAC-SHA256 under the data-protection lookup key, bound to the
// delivery so a hash cannot be replayed on another). Pure given its inputs; the random draw is the caller's.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const PROOF_CODE_DIGITS = 6;
/** Wrong codes a delivery tolerates; the next try is refused as locked, and only a signature is accepted. */
export const PROOF_CODE_MAX_FAILURES = 5;

/** Six digits from a random integer in [0, 10^6). */
export const formatProofCode = (n: number) => String(Math.trunc(n) % 10 ** PROOF_CODE_DIGITS).padStart(PROOF_CODE_DIGITS, '0');

export function proofCodeHash(hmacKey: Buffer, deliveryId: string, code: string): string {
  return createHmac('sha256', hmacKey).update(`rxflow proof-of-delivery\0${deliveryId}\0${code}`).digest('hex');
}

export function proofCodeMatches(hmacKey: Buffer, deliveryId: string, storedHash: string, code: string): boolean {
  if (!/^\d{6}$/.test(code)) return false;
  const a = Buffer.from(proofCodeHash(hmacKey, deliveryId, code), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

export type ProofCheck = 'ok' | 'invalid' | 'locked';

/** What a code offered for a delivery with `failures` wrong tries so far means. */
export function checkProofCode(hmacKey: Buffer, deliveryId: string, storedHash: string, failures: number, code: string): ProofCheck {
  if (failures >= PROOF_CODE_MAX_FAILURES) return 'locked';
  return proofCodeMatches(hmacKey, deliveryId, storedHash, code) ? 'ok' : 'invalid';
}
