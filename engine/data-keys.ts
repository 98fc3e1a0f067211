// The data keys of this process (docs/data-protection.md), from configuration:
//   RX_DATA_KEYS      "v2:<base64 32 bytes>,v1:<base64 32 bytes>" — the first encrypts, all decrypt
//   RX_DATA_HMAC_KEY  base64, at least 32 bytes — the keyed hash for lookups (kept apart from the data keys)
// Both are required in production. Elsewhere (development, tests, the demo) a fixed, public development
// ring is used so every process of a local stack reads the same rows; it protects nothing.
import { createHash } from 'node:crypto';
import { KeyConfigError, parseKeyRing, type KeyRing } from '../domain/field-crypto';

const devKey = (label: string) => createHash('sha256').update(`rxflow development ${label} — not a secret`).digest().toString('base64');
export const DEV_DATA_KEYS = `dev:${devKey('data key')}`;
export const DEV_HMAC_KEY = devKey('lookup key');

let ring: KeyRing | undefined;

export function keyRingFromEnv(env: NodeJS.ProcessEnv = process.env): KeyRing {
  const keys = env.RX_DATA_KEYS ?? '';
  const hmac = env.RX_DATA_HMAC_KEY ?? '';
  if (env.NODE_ENV === 'production' && (!keys || !hmac)) throw new KeyConfigError('set RX_DATA_KEYS and RX_DATA_HMAC_KEY in production (docs/data-protection.md)');
  return parseKeyRing(keys || DEV_DATA_KEYS, hmac || DEV_HMAC_KEY);
}

/** The process's key ring, read from the environment on first use (entry points set it after their imports). */
export function dataKeyRing(): KeyRing {
  return (ring ??= keyRingFromEnv());
}

/** Replaces the process's key ring (the rotation command and tests); undefined reads the environment again. */
export function setDataKeyRing(next: KeyRing | undefined): void {
  ring = next;
}
