// rxflow webhooks for hospital integrators: verify that a callback came from rxflow and is fresh.
// Self-contained (node:crypto only) so a hospital can copy this one file; rxflow signs with the same code.
//
//   X-Rxflow-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + rawBody)>[,v1=<hex>…]
//
// During a secret rotation rxflow sends one v1 per active secret, so either the old or the new secret
// verifies. Always verify the RAW body bytes as received, before any JSON parsing.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-rxflow-signature';
export const EVENT_ID_HEADER = 'x-rxflow-event-id';
export const DEFAULT_TOLERANCE_SECONDS = 300;

export type WebhookErrorCode = 'SIGNATURE_MISSING' | 'SIGNATURE_MALFORMED' | 'TIMESTAMP_OUT_OF_TOLERANCE' | 'SIGNATURE_MISMATCH' | 'BODY_NOT_JSON';

export class WebhookVerificationError extends Error {
  constructor(readonly code: WebhookErrorCode, message: string) {
    super(message);
    this.name = 'WebhookVerificationError';
  }
}

/** A CloudEvents 1.0 event as rxflow sends it (structured mode, application/cloudevents+json). */
export interface RxflowEvent<D = Record<string, unknown>> {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  /** Per-hospital position, zero-padded so it orders as a string and as a number. */
  sequence: string;
  data: D;
}

type HeaderBag = Headers | Record<string, string | string[] | undefined>;

function header(headers: HeaderBag, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const bag = headers as Record<string, string | string[] | undefined>;
  const key = Object.keys(bag).find((k) => k.toLowerCase() === name);
  const v = key === undefined ? undefined : bag[key];
  return Array.isArray(v) ? v.join(',') : v;
}

const toBuffer = (body: string | Uint8Array) => (typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body));

export function computeSignature(secret: string, timestamp: number, rawBody: string | Uint8Array): string {
  return createHmac('sha256', secret).update(`${timestamp}.`, 'utf8').update(toBuffer(rawBody)).digest('hex');
}

/** The signature header value for a body: one v1 per secret (the newest first). */
export function signWebhook(secrets: string | string[], rawBody: string | Uint8Array, timestamp = Math.floor(Date.now() / 1000)): string {
  const list = Array.isArray(secrets) ? secrets : [secrets];
  if (!list.length) throw new Error('signWebhook needs at least one secret');
  return [`t=${timestamp}`, ...list.map((s) => `v1=${computeSignature(s, timestamp, rawBody)}`)].join(',');
}

export function parseSignatureHeader(value: string): { timestamp: number; signatures: string[] } {
  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const part of value.split(',')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    const k = part.slice(0, i).trim();
    const v = part.slice(i + 1).trim();
    if (k === 't' && /^\d{1,12}$/.test(v)) timestamp = Number(v);
    else if (k === 'v1' && /^[0-9a-f]{64}$/i.test(v)) signatures.push(v.toLowerCase());
    // Unknown schemes (a future v2) are ignored, so rxflow can add one without breaking receivers.
  }
  if (timestamp === undefined || !signatures.length) throw new WebhookVerificationError('SIGNATURE_MALFORMED', 'the signature header needs t=<unix seconds> and at least one v1=<hex>');
  return { timestamp, signatures };
}

/**
 * Verifies a callback and returns its event. Throws WebhookVerificationError when the signature is
 * missing, malformed or wrong, or when its timestamp is more than `toleranceSeconds` from now (a replay).
 * `secret` may be a list: your current and your previous secret while you roll yours over.
 * Deliveries are at least once: dedupe by the event's `id` (also sent as X-Rxflow-Event-Id).
 */
export function verifyWebhook<D = Record<string, unknown>>(
  secret: string | string[],
  headers: HeaderBag,
  rawBody: string | Uint8Array,
  toleranceSeconds = DEFAULT_TOLERANCE_SECONDS,
  now: number = Date.now(),
): RxflowEvent<D> {
  const value = header(headers, SIGNATURE_HEADER);
  if (!value) throw new WebhookVerificationError('SIGNATURE_MISSING', `no ${SIGNATURE_HEADER} header`);
  const { timestamp, signatures } = parseSignatureHeader(value);
  if (Math.abs(now / 1000 - timestamp) > toleranceSeconds) {
    throw new WebhookVerificationError('TIMESTAMP_OUT_OF_TOLERANCE', `signed at ${timestamp}, more than ${toleranceSeconds} s from now: refused as a possible replay`);
  }
  const secrets = (Array.isArray(secret) ? secret : [secret]).filter(Boolean);
  if (!secrets.length) throw new Error('verifyWebhook needs a secret');
  const matches = secrets.some((s) => {
    const expected = Buffer.from(computeSignature(s, timestamp, rawBody), 'hex');
    return signatures.some((sig) => timingSafeEqual(expected, Buffer.from(sig, 'hex')));
  });
  if (!matches) throw new WebhookVerificationError('SIGNATURE_MISMATCH', 'no signature matches: wrong secret, or the body was altered');
  try {
    return JSON.parse(toBuffer(rawBody).toString('utf8')) as RxflowEvent<D>;
  } catch {
    throw new WebhookVerificationError('BODY_NOT_JSON', 'the signed body is not JSON');
  }
}
