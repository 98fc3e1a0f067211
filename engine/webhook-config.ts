// Hospital callbacks (webhooks): retry schedule, horizon, and the key that encrypts stored secrets.
// Kept apart from engine/config.ts so the webhook settings have one home. Production defaults.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { RetrySchedule } from '../domain/hospital-events';
import { envNumber } from './env';

const num = (name: string, fallback: number) => envNumber(name, fallback, 0);

export interface WebhookConfig {
  retry: RetrySchedule;
  /** Give up (status failed, visible in the status view) this long after the event was written. */
  giveUpMs: number;
  /** One HTTP attempt may take this long. */
  requestTimeoutMs: number;
  /** After a rotation the previous secret keeps signing for this long (default overlap). */
  rotationOverlapMs: number;
  /** The drainer looks for outbox rows nobody is delivering this often… */
  drainIntervalMs: number;
  /** …and treats a pending delivery as orphaned once it is this much overdue. */
  drainGraceMs: number;
  httpsOnly: boolean;
}

export function loadWebhookConfig(): WebhookConfig {
  return {
    retry: {
      initialMs: num('RX_WEBHOOK_INITIAL_RETRY_MS', 10_000),
      maxMs: num('RX_WEBHOOK_MAX_RETRY_MS', 3_600_000),
      coefficient: num('RX_WEBHOOK_BACKOFF', 2),
    },
    giveUpMs: num('RX_WEBHOOK_GIVE_UP_MS', 3 * 24 * 3_600_000),
    requestTimeoutMs: num('RX_WEBHOOK_TIMEOUT_MS', 10_000),
    rotationOverlapMs: num('RX_WEBHOOK_ROTATION_OVERLAP_MS', 24 * 3_600_000),
    drainIntervalMs: num('RX_WEBHOOK_DRAIN_INTERVAL_MS', 60_000),
    drainGraceMs: num('RX_WEBHOOK_DRAIN_GRACE_MS', 60_000),
    httpsOnly: process.env.RX_WEBHOOK_HTTPS_ONLY === '1' || process.env.RX_WEBHOOK_HTTPS_ONLY === 'true',
  };
}

let cached: WebhookConfig | undefined;
export const webhookConfig = () => (cached ??= loadWebhookConfig());

// Secrets must be readable by rxflow (it signs with them), so they are encrypted, not hashed:
// AES-256-GCM under RX_WEBHOOK_KEY. A database dump alone does not reveal them.
const DEV_KEY = 'rxflow-dev-webhook-key: set RX_WEBHOOK_KEY in production';
const boxKey = () => createHash('sha256').update(process.env.RX_WEBHOOK_KEY || DEV_KEY, 'utf8').digest();

export function sealSecret(secret: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', boxKey(), iv);
  const ct = Buffer.concat([c.update(secret, 'utf8'), c.final()]);
  return `v1:${iv.toString('base64')}:${c.getAuthTag().toString('base64')}:${ct.toString('base64')}`;
}

export function openSecret(sealed: string): string {
  const [v, iv, tag, ct] = sealed.split(':');
  if (v !== 'v1' || !iv || !tag || !ct) throw new Error('unknown sealed secret format');
  const d = createDecipheriv('aes-256-gcm', boxKey(), Buffer.from(iv, 'base64'));
  d.setAuthTag(Buffer.from(tag, 'base64'));
  return Buffer.concat([d.update(Buffer.from(ct, 'base64')), d.final()]).toString('utf8');
}

/** whsec_ + 32 random bytes: what a hospital stores and gives to verifyWebhook. */
export const newSecret = () => `whsec_${randomBytes(32).toString('base64url')}`;
