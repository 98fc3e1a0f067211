// The partner adapter (docs/delivery.md): creates a delivery in a partner's own system by
// POST {endpoint}/deliveries. The delivery id is the idempotency key, so a retry — ours after a timeout,
// or Temporal's after a worker crash — never creates a second delivery. Requests are signed like
// rxflow's webhooks (sdk/webhook.ts, over the partner's own secret), so the partner can tell it is rxflow.
import { signWebhook } from '../sdk/webhook';
import type { PartnerCapability } from '../domain/delivery';

/** What rxflow sends. Personal data is what a courier needs: a name, an address, a (masked) phone. */
export interface PartnerDeliveryRequest {
  deliveryId: string;
  attempt: number;
  pickup: { name: string; address: string; phone: string };
  dropoff: { name: string; address: string; lat: number | null; lng: number | null; regionCode: string | null; phone: string; phoneMasked: boolean };
  packages: number;
  coldChain: boolean;
  capabilities: PartnerCapability[];
  /** Minutes from now the partner promised for this kind of parcel (its registered window). */
  promisedMinutes: number | null;
  /** Where the partner posts its signed status updates. */
  statusUrl: string;
}

/** What the partner answers (200, 201 or 202): its own id for the delivery. */
export interface PartnerDeliveryResponse { partnerRef: string }

export type PartnerCallResult =
  | { ok: true; partnerRef: string; attempts: number }
  | { ok: false; refused: boolean; reason: string; attempts: number };

export interface PartnerCallOptions { timeoutMs: number; retries: number; secrets: string[]; fetchImpl?: typeof fetch; backoffMs?: number }

/**
 * Creates the delivery; retries timeouts, network errors, 408, 429 and 5xx with the same idempotency key.
 * A 4xx is the partner's refusal (not retried). Never throws: the caller decides what a failure means.
 */
export async function createPartnerDelivery(endpoint: string, req: PartnerDeliveryRequest, o: PartnerCallOptions): Promise<PartnerCallResult> {
  const body = JSON.stringify(req);
  const url = `${endpoint.replace(/\/+$/, '')}/deliveries`;
  const doFetch = o.fetchImpl ?? fetch;
  let reason = '';
  for (let attempt = 1; attempt <= o.retries + 1; attempt++) {
    if (attempt > 1) await new Promise((r) => setTimeout(r, (o.backoffMs ?? 200) * 2 ** (attempt - 2)));
    try {
      const res = await doFetch(url, {
        method: 'POST',
        redirect: 'manual',
        signal: AbortSignal.timeout(o.timeoutMs),
        headers: {
          'content-type': 'application/json', 'idempotency-key': req.deliveryId, 'user-agent': 'rxflow-partner-adapter/1',
          ...(o.secrets.length ? { 'x-rxflow-signature': signWebhook(o.secrets, body) } : {}),
        },
        body,
      });
      const text = await res.text();
      if (res.status >= 200 && res.status < 300) {
        let parsed: Partial<PartnerDeliveryResponse> = {};
        try { parsed = JSON.parse(text); } catch { /* checked below */ }
        if (typeof parsed.partnerRef === 'string' && parsed.partnerRef.length > 0 && parsed.partnerRef.length <= 100) return { ok: true, partnerRef: parsed.partnerRef, attempts: attempt };
        reason = `answered ${res.status} without a partnerRef`;
        continue;
      }
      reason = `answered ${res.status}: ${text.slice(0, 200)}`;
      if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) return { ok: false, refused: true, reason, attempts: attempt };
    } catch (e) {
      reason = (e as Error).name === 'TimeoutError' ? `no answer within ${o.timeoutMs} ms` : `unreachable: ${(e as Error).message}`;
    }
  }
  return { ok: false, refused: false, reason, attempts: o.retries + 1 };
}
