// Delivery partners (docs/delivery.md): the adapter's timeouts and retries, the signature tolerance, and
// the partners' HMAC secrets (sealed with the data keys, rotated with an overlap: engine/signing-secrets.ts).
// Production defaults.
import type { PartnerSecret } from '../db/entities';
import { activeSigningSecrets, newSigningSecret, openSigningSecret, PARTNER_SECRETS, rotateSigningSecrets, sealSigningSecret } from './signing-secrets';
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

// The partners' secrets are the request-signing secrets of engine/signing-secrets.ts, under their names.
export const newPartnerSecret = () => newSigningSecret(PARTNER_SECRETS);
export const sealPartnerSecret = (secret: string) => sealSigningSecret(PARTNER_SECRETS, secret);
export const openPartnerSecret = (sealed: string) => openSigningSecret(PARTNER_SECRETS, sealed);
export const activePartnerSecrets = (secrets: PartnerSecret[] | null | undefined, now = Date.now()): PartnerSecret[] => activeSigningSecrets(secrets, now);
export const rotatePartnerSecrets = (secrets: PartnerSecret[] | null | undefined, secret: string, overlapMs: number, now = Date.now()): PartnerSecret[] =>
  rotateSigningSecrets(PARTNER_SECRETS, secrets, secret, overlapMs, now);
