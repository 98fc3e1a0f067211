// Delivery partners (docs/delivery.md): the adapter's timeouts and retries, the signature tolerance, and
// the partners' HMAC secrets, which rxflow must read back (it verifies with them), so they are encrypted
// with the data keys (domain/field-crypto.ts, RX_DATA_KEYS), never hashed. Production defaults.
import { randomBytes } from 'node:crypto';
import { decryptField, encryptField } from '../domain/field-crypto';
import { dataKeyRing } from './data-keys';
import type { PartnerSecret } from '../db/entities';
import { envNumber } from './env';

const num = (name: string, fallback: number) => envNumber(name, fallback, 0);

export interface PartnerConfig {
  /** One HTTP call to a partner's adapter may take this long… */
  requestTimeoutMs: number;
  /** …and is retried this many times (same idempotency key) before the attempt counts as failed. */
  retries: number;
  /** A signed update is accepted this many seconds either side of rxflow's clock. */
  toleranceSeconds: number;
  /** After a rotation the previous secret still verifies for this long. */
  rotationOverlapMs: number;
}

export function loadPartnerConfig(): PartnerConfig {
  return {
    requestTimeoutMs: num('RX_PARTNER_TIMEOUT_MS', 5_000),
    retries: num('RX_PARTNER_RETRIES', 2),
    toleranceSeconds: num('RX_PARTNER_SIGNATURE_TOLERANCE_S', 300),
    rotationOverlapMs: num('RX_PARTNER_SECRET_OVERLAP_MS', 24 * 3_600_000),
  };
}

const FIELD = 'delivery_partner.secret';

export const newPartnerSecret = () => `psk_${randomBytes(24).toString('base64url')}`;
export const sealPartnerSecret = (secret: string) => encryptField(dataKeyRing(), secret, FIELD);
export const openPartnerSecret = (sealed: string) => decryptField(dataKeyRing(), sealed, FIELD);

/** The secrets that still verify, newest first: the current one and, during a rotation, the previous one. */
export function activePartnerSecrets(secrets: PartnerSecret[] | null | undefined, now = Date.now()): PartnerSecret[] {
  return (secrets ?? []).filter((s) => !s.expiresAt || Date.parse(s.expiresAt) > now).sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
}

/**
 * A rotation: the new secret first; the newest of the old ones keeps verifying until `overlapMs` from now
 * (or its own earlier expiry); older ones are dropped, so at most two are ever active.
 */
export function rotatePartnerSecrets(secrets: PartnerSecret[] | null | undefined, secret: string, overlapMs: number, now = Date.now()): PartnerSecret[] {
  const until = new Date(now + overlapMs).toISOString();
  const [previous] = activePartnerSecrets(secrets, now);
  const fresh: PartnerSecret = { id: `psec_${randomBytes(6).toString('hex')}`, sealed: sealPartnerSecret(secret), createdAt: new Date(now).toISOString(), expiresAt: null };
  return [fresh, ...(previous && overlapMs > 0 ? [{ ...previous, expiresAt: previous.expiresAt && previous.expiresAt < until ? previous.expiresAt : until }] : [])];
}
