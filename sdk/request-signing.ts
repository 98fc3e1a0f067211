// rxflow's request signing: one scheme for every party that signs its calls to rxflow's API — hospital
// systems (docs/signing.md "Request signing") and delivery partners (docs/delivery.md §4). A stolen API key
// alone is then not enough: each request also carries an HMAC made with a secret that never travels.
// Self-contained (node:crypto only) so an integrator can copy this one file; rxflow verifies with the same code.
//
//   Authorization:        Bearer <API key>
//   X-Rxflow-Request-Id:  <unique id of this request, 8–100 of [A-Za-z0-9._:-]; never reused>
//                         (X-Rxflow-Update-Id is the same header under the delivery partners' name; send one)
//   X-Rxflow-Signature:   t=<unix seconds>,v1=<hex HMAC-SHA256(secret, signing string)>
//
//   signing string = t + "\n" + requestId + "\n" + METHOD + "\n" + path (with query) + "\n" + raw body
//
// rxflow refuses a timestamp more than 5 minutes from its clock (STALE_REQUEST), a signature that no
// active secret of the caller makes (BAD_SIGNATURE), and a request id or signature it has seen before
// (409). During a secret rotation either the new or the previous secret verifies. A retry is a new
// request: sign it again, with a new id.
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-rxflow-signature';
export const REQUEST_ID_HEADER = 'x-rxflow-request-id';
/** The delivery partners' name for the request id header (their contract predates hospital signing). */
export const UPDATE_ID_HEADER = 'x-rxflow-update-id';
export const TOLERANCE_SECONDS = 300;
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{8,100}$/;

export interface SignableRequest { method: string; path: string; body: string | Uint8Array; requestId?: string; timestamp?: number }

export function signingString(timestamp: number, requestId: string, method: string, path: string, body: string | Uint8Array): Buffer {
  const head = Buffer.from(`${timestamp}\n${requestId}\n${method.toUpperCase()}\n${path}\n`, 'utf8');
  return Buffer.concat([head, typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body)]);
}

export function computeSignature(secret: string, timestamp: number, requestId: string, method: string, path: string, body: string | Uint8Array): string {
  return createHmac('sha256', secret).update(signingString(timestamp, requestId, method, path, body)).digest('hex');
}

/**
 * The headers that make a request verifiable: add them to the Authorization header you send. `body` must
 * be exactly the bytes you send (sign the JSON string, then send that string; '' for a GET).
 */
export function signRequest(secret: string, req: SignableRequest, idHeader: string = REQUEST_ID_HEADER): Record<string, string> {
  const timestamp = req.timestamp ?? Math.floor(Date.now() / 1000);
  const requestId = req.requestId ?? randomUUID();
  if (!REQUEST_ID_PATTERN.test(requestId)) throw new Error('a request id is 8–100 characters of A–Z, a–z, 0–9, . _ : -');
  const v1 = computeSignature(secret, timestamp, requestId, req.method, req.path, req.body);
  return { [idHeader]: requestId, [SIGNATURE_HEADER]: `t=${timestamp},v1=${v1}` };
}

export type SignatureProblem = 'SIGNATURE_MISSING' | 'STALE_REQUEST' | 'BAD_SIGNATURE';

export interface SignatureCheck {
  header: string | undefined; requestId: string; method: string; path: string; body: string | Uint8Array;
  now?: number; toleranceSeconds?: number;
}

/** rxflow's check (exported so an integrator can test its signer against it): null when it verifies. */
export function checkSignature(secrets: string[], o: SignatureCheck):
  { problem: SignatureProblem; message: string } | { problem: null; timestamp: number; signature: string } {
  if (!o.header) return { problem: 'SIGNATURE_MISSING', message: `no ${SIGNATURE_HEADER} header` };
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
  const tolerance = o.toleranceSeconds ?? TOLERANCE_SECONDS;
  if (Math.abs((o.now ?? Date.now()) / 1000 - timestamp) > tolerance) {
    return { problem: 'STALE_REQUEST', message: `signed at ${timestamp}, more than ${tolerance} s from rxflow's clock` };
  }
  for (const secret of secrets) {
    const expected = Buffer.from(computeSignature(secret, timestamp, o.requestId, o.method, o.path, o.body), 'hex');
    const hit = sigs.find((s) => timingSafeEqual(expected, Buffer.from(s, 'hex')));
    if (hit) return { problem: null, timestamp, signature: hit };
  }
  return { problem: 'BAD_SIGNATURE', message: 'the signature does not match: wrong secret, or the method, path, request id or body differ from what was signed' };
}

export interface SignedFetchOptions {
  /** rxflow's base URL, e.g. https://rxflow.example.cn */
  baseUrl: string;
  apiKey: string;
  /** The current signing secret (shown once by POST /v1/hospital/request-signing/rotate). */
  secret: string;
  fetch?: typeof fetch;
}

/**
 * fetch for rxflow's API with every request signed: a JSON body is serialised once and that very string is
 * signed and sent; each call gets a fresh timestamp and request id, so a retry after a timeout is simply
 * another call (intake answers the same prescription for the same push).
 */
export function signedFetch(o: SignedFetchOptions) {
  const send = o.fetch ?? fetch;
  return (path: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Response> => {
    const method = (init.method ?? (init.body === undefined ? 'GET' : 'POST')).toUpperCase();
    const body = init.body === undefined ? '' : typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
    const headers: Record<string, string> = {
      authorization: `Bearer ${o.apiKey}`, ...(body ? { 'content-type': 'application/json' } : {}), ...init.headers,
      ...signRequest(o.secret, { method, path, body }),
    };
    return send(o.baseUrl.replace(/\/$/, '') + path, { method, headers, body: body || undefined });
  };
}
