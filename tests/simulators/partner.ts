// A small delivery partner (配送商) simulator speaking rxflow's partner contract (docs/delivery.md): it
// accepts deliveries at POST /deliveries (idempotent by Idempotency-Key, rxflow's signature checked) and
// posts signed status updates back to rxflow's API when scripted to. Switches make it slow, failing or
// refusing, so tests (and demos) can drive the adapter's every branch.
import { startJsonEndpoint, type Answer } from './json-endpoint';
import { randomUUID } from 'node:crypto';
import { verifyWebhook } from '../../sdk/webhook';
import { signPartnerRequest } from '../../sdk/partner';
import type { PartnerDeliveryRequest } from '../../activities/partner';

export interface PartnerSimulator {
  url: string;
  /** Every POST /deliveries received, in order. */
  requests: { idempotencyKey: string | undefined; signatureValid: boolean; body: PartnerDeliveryRequest }[];
  /** Deliveries it holds, by rxflow's delivery id (a repeated key answers the same partnerRef). */
  deliveries: Map<string, { partnerRef: string; request: PartnerDeliveryRequest }>;
  behaviour: {
    delayMs: number;     // wait before answering
    failNext: number;    // answer this many requests with failStatus first
    failStatus: number;
    refuse: boolean;     // answer 422 OUT_OF_AREA (a refusal)
  };
  /** Posts a signed status update for a delivery to rxflow, as the partner's system would. */
  post(deliveryId: string, status: string, extra?: Record<string, unknown>, o?: { updateId?: string; timestamp?: number }): Promise<{ status: number; body: any }>;
  /** Posts several statuses in order; stops at the first answer that is not 2xx and returns every answer. */
  drive(deliveryId: string, statuses: (string | [string, Record<string, unknown>])[]): Promise<{ status: number; body: any }[]>;
  close(): Promise<void>;
}

export async function startPartnerSimulator(o: { apiUrl: string; apiKey: string; secret: string; port?: number }): Promise<PartnerSimulator> {
  const sim: PartnerSimulator = {
    url: '', requests: [], deliveries: new Map(),
    behaviour: { delayMs: 0, failNext: 0, failStatus: 503, refuse: false },
    async post(deliveryId, status, extra = {}, so = {}) {
      const path = `/v1/deliveries/${deliveryId}/status`;
      const raw = JSON.stringify({ status, ...extra });
      const headers = signPartnerRequest(o.secret, { method: 'POST', path, body: raw, ...so });
      const r = await fetch(`${o.apiUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${o.apiKey}`, 'content-type': 'application/json', ...headers }, body: raw });
      const text = await r.text();
      let parsed: any = text;
      try { parsed = JSON.parse(text); } catch { /* not JSON */ }
      return { status: r.status, body: parsed };
    },
    async drive(deliveryId, statuses) {
      const out: { status: number; body: any }[] = [];
      for (const s of statuses) {
        const [status, extra] = Array.isArray(s) ? s : [s, {}];
        const r = await sim.post(deliveryId, status, extra);
        out.push(r);
        if (r.status >= 300) break;
      }
      return out;
    },
    close: () => endpoint.close(),
  };
  const endpoint = await startJsonEndpoint({ path: '/deliveries', port: o.port, handle: async (req, raw): Promise<Answer> => {
    let body: PartnerDeliveryRequest;
    try { body = JSON.parse(raw.toString('utf8')); } catch { return [400, { code: 'BAD_JSON' }]; }
    let signatureValid = true;
    try { verifyWebhook(o.secret, req.headers as Record<string, string>, raw); } catch { signatureValid = false; }
    const key = req.headers['idempotency-key'] as string | undefined;
    sim.requests.push({ idempotencyKey: key, signatureValid, body });
    if (sim.behaviour.delayMs) await endpoint.delay(sim.behaviour.delayMs);
    if (sim.behaviour.failNext > 0) { sim.behaviour.failNext -= 1; return [sim.behaviour.failStatus, { code: 'PARTNER_BUSY' }]; }
    if (!signatureValid) return [401, { code: 'BAD_SIGNATURE' }];
    if (!key) return [400, { code: 'IDEMPOTENCY_KEY_REQUIRED' }];
    if (sim.behaviour.refuse) return [422, { code: 'OUT_OF_AREA', message: 'no courier covers this address' }];
    const known = sim.deliveries.get(key);
    if (known) return [200, { partnerRef: known.partnerRef }];
    const partnerRef = `SIM-${randomUUID().slice(0, 8)}`;
    sim.deliveries.set(key, { partnerRef, request: body });
    return [201, { partnerRef }];
  } });
  sim.url = endpoint.url;
  return sim;
}
