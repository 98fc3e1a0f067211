// rxflow for delivery partners: sign a status update to rxflow's API (docs/delivery.md).
// Self-contained (node:crypto only) so a partner can copy this one file; rxflow verifies with the same code.
//
//   Authorization:        Bearer <the partner's API key>
//   X-Rxflow-Update-Id:   <unique id of this update, 8–100 of [A-Za-z0-9._:-]; never reused>
//   X-Rxflow-Signature:   t=<unix seconds>,v1=<hex HMAC-SHA256(secret, signing string)>
//
//   signing string = t + "\n" + updateId + "\n" + METHOD + "\n" + path (with query) + "\n" + raw body
//
// rxflow refuses a timestamp more than 5 minutes from its clock (STALE_REQUEST), a signature that no
// active secret of the partner makes (BAD_SIGNATURE), and an update id or signature it has seen before
// (REPLAYED_UPDATE). During a secret rotation either the new or the previous secret verifies.
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';

export const PARTNER_SIGNATURE_HEADER = 'x-rxflow-signature';
export const PARTNER_UPDATE_ID_HEADER = 'x-rxflow-update-id';
export const PARTNER_TOLERANCE_SECONDS = 300;
export const UPDATE_ID_PATTERN = /^[A-Za-z0-9._:-]{8,100}$/;

export interface PartnerRequest { method: string; path: string; body: string; updateId?: string; timestamp?: number }

export function partnerSigningString(timestamp: number, updateId: string, method: string, path: string, body: string | Uint8Array): Buffer {
  const head = Buffer.from(`${timestamp}\n${updateId}\n${method.toUpperCase()}\n${path}\n`, 'utf8');
  return Buffer.concat([head, typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body)]);
}

export function computePartnerSignature(secret: string, timestamp: number, updateId: string, method: string, path: string, body: string | Uint8Array): string {
  return createHmac('sha256', secret).update(partnerSigningString(timestamp, updateId, method, path, body)).digest('hex');
}

/**
 * The headers that make a partner's request verifiable: add them to the Authorization header you send.
 * `body` must be exactly the bytes you send (sign the JSON string, then send that string).
 */
export function signPartnerRequest(secret: string, req: PartnerRequest): Record<string, string> {
  const timestamp = req.timestamp ?? Math.floor(Date.now() / 1000);
  const updateId = req.updateId ?? randomUUID();
  if (!UPDATE_ID_PATTERN.test(updateId)) throw new Error('an update id is 8–100 characters of A–Z, a–z, 0–9, . _ : -');
  const v1 = computePartnerSignature(secret, timestamp, updateId, req.method, req.path, req.body);
  return { [PARTNER_UPDATE_ID_HEADER]: updateId, [PARTNER_SIGNATURE_HEADER]: `t=${timestamp},v1=${v1}` };
}

export type PartnerSignatureProblem = 'SIGNATURE_MISSING' | 'STALE_REQUEST' | 'BAD_SIGNATURE';

/** rxflow's check (exported so a partner can test its signer against it): null when it verifies. */
export function checkPartnerSignature(secrets: string[], o: { header: string | undefined; updateId: string; method: string; path: string; body: string | Uint8Array; now?: number; toleranceSeconds?: number }):
  { problem: PartnerSignatureProblem; message: string } | { problem: null; timestamp: number; signature: string } {
  if (!o.header) return { problem: 'SIGNATURE_MISSING', message: `no ${PARTNER_SIGNATURE_HEADER} header` };
  let timestamp: number | undefined;
  const sigs: string[] = [];
  for (const part of o.header.split(',')) {
    const i = part.indexOf('=');
    const k = part.slice(0, i).trim();
    const v = part.slice(i + 1).trim();
    if (k === 't' && /^\d{1,12}$/.test(v)) timestamp = Number(v);
    else if (k === 'v1' && /^[0-9a-f]{64}$/i.test(v)) sigs.push(v.toLowerCase());
  }
  if (timestamp === undefined || !sigs.length) return { problem: 'BAD_SIGNATURE', message: 'the signature header needs t=<unix seconds> and v1=<hex HMAC-SHA256>' };
  const tolerance = o.toleranceSeconds ?? PARTNER_TOLERANCE_SECONDS;
  if (Math.abs((o.now ?? Date.now()) / 1000 - timestamp) > tolerance) {
    return { problem: 'STALE_REQUEST', message: `signed at ${timestamp}, more than ${tolerance} s from rxflow's clock` };
  }
  for (const secret of secrets) {
    const expected = Buffer.from(computePartnerSignature(secret, timestamp, o.updateId, o.method, o.path, o.body), 'hex');
    const hit = sigs.find((s) => timingSafeEqual(expected, Buffer.from(s, 'hex')));
    if (hit) return { problem: null, timestamp, signature: hit };
  }
  return { problem: 'BAD_SIGNATURE', message: 'the signature does not match: wrong secret, or the method, path, update id or body differ from what was signed' };
}
