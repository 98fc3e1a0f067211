// The HMAC secrets of the parties that sign their requests (sdk/request-signing.ts): delivery partners and
// hospital systems. rxflow must read them back (it verifies with them), so they are sealed with the data
// keys (domain/field-crypto.ts, RX_DATA_KEYS), never hashed; the party kind's field name is the cipher's
// associated data, so a sealed secret copied to another kind's column does not open. Rotation keeps the
// previous secret for an overlap: at most two are ever active.
import { randomBytes } from 'node:crypto';
import { decryptField, encryptField } from '../domain/field-crypto';
import { dataKeyRing } from './data-keys';
import type { SigningSecret } from '../db/entities';
import { envNumber } from './env';

export interface SecretKind {
  /** The encryption context (associated data). */
  field: string;
  /** What the secret and its id start with, so a leaked one can be recognised. */
  secretPrefix: string; idPrefix: string;
}
export const PARTNER_SECRETS: SecretKind = { field: 'delivery_partner.secret', secretPrefix: 'psk', idPrefix: 'psec' };
export const HOSPITAL_SECRETS: SecretKind = { field: 'hospital.request_secret', secretPrefix: 'hsk', idPrefix: 'hsec' };

export const newSigningSecret = (kind: SecretKind) => `${kind.secretPrefix}_${randomBytes(24).toString('base64url')}`;
export const sealSigningSecret = (kind: SecretKind, secret: string) => encryptField(dataKeyRing(), secret, kind.field);
export const openSigningSecret = (kind: SecretKind, sealed: string) => decryptField(dataKeyRing(), sealed, kind.field);

/** The secrets that still verify, newest first: the current one and, during a rotation, the previous one. */
export function activeSigningSecrets(secrets: SigningSecret[] | null | undefined, now = Date.now()): SigningSecret[] {
  return (secrets ?? []).filter((s) => !s.expiresAt || Date.parse(s.expiresAt) > now).sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
}

/**
 * A rotation: the new secret first; the newest of the old ones keeps verifying until `overlapMs` from now
 * (or its own earlier expiry); older ones are dropped, so at most two are ever active. An overlap of 0
 * drops the previous one at once (a leaked secret).
 */
export function rotateSigningSecrets(kind: SecretKind, secrets: SigningSecret[] | null | undefined, secret: string, overlapMs: number, now = Date.now()): SigningSecret[] {
  const until = new Date(now + overlapMs).toISOString();
  const [previous] = activeSigningSecrets(secrets, now);
  const fresh: SigningSecret = { id: `${kind.idPrefix}_${randomBytes(6).toString('hex')}`, sealed: sealSigningSecret(kind, secret), createdAt: new Date(now).toISOString(), expiresAt: null };
  return [fresh, ...(previous && overlapMs > 0 ? [{ ...previous, expiresAt: previous.expiresAt && previous.expiresAt < until ? previous.expiresAt : until }] : [])];
}

/** What operators see of a party's secrets: ids and dates, never a secret. */
export const secretsView = (secrets: SigningSecret[] | null | undefined, now = Date.now()) =>
  activeSigningSecrets(secrets, now).map((s) => ({ id: s.id, createdAt: s.createdAt, expiresAt: s.expiresAt }));

// ---- hospitals ------------------------------------------------------------------------------------------

export const SIGNING_MODES = ['off', 'optional', 'required'] as const;
export type SigningMode = (typeof SIGNING_MODES)[number];

export interface HospitalSigningConfig {
  /** The mode of a hospital that has none of its own. Production sets `required`. */
  defaultMode: SigningMode;
  /** A signed request is accepted this many seconds either side of rxflow's clock. */
  toleranceSeconds: number;
  /** After a rotation the previous secret still verifies for this long (unless the rotation says less). */
  rotationOverlapMs: number;
}

export function loadHospitalSigningConfig(): HospitalSigningConfig {
  const mode = process.env.RX_HOSPITAL_REQUEST_SIGNING || 'optional';
  if (!SIGNING_MODES.includes(mode as SigningMode)) throw new Error(`RX_HOSPITAL_REQUEST_SIGNING must be ${SIGNING_MODES.join(', ')}; got ${mode}`);
  return {
    defaultMode: mode as SigningMode,
    toleranceSeconds: envNumber('RX_HOSPITAL_SIGNATURE_TOLERANCE_S', 300, 1),
    rotationOverlapMs: envNumber('RX_HOSPITAL_SECRET_OVERLAP_MS', 24 * 3_600_000, 0),
  };
}
