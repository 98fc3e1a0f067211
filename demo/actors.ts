// The parties around rxflow, acting over its HTTP API exactly as their systems would: a hospital, a
// pharmacist, pharmacies and couriers. Used by the demo and by the end-to-end tests.
import { DEMO } from './fixtures';
import { signPartnerRequest } from '../sdk/partner';

export interface HttpResult<T = any> { status: number; body: T; retryAfter?: string }

export class ApiClient {
  constructor(readonly baseUrl: string, readonly key: string) {}

  async call<T = any>(method: string, path: string, body?: unknown): Promise<HttpResult<T>> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: any = text;
    try { parsed = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
    return { status: res.status, body: parsed, ...(res.headers.has('retry-after') ? { retryAfter: res.headers.get('retry-after')! } : {}) };
  }
  get<T = any>(path: string) { return this.call<T>('GET', path); }
  post<T = any>(path: string, body?: unknown) { return this.call<T>('POST', path, body ?? {}); }
}

/**
 * A delivery partner's system: its key on every call, and every write signed with its secret
 * (sdk/partner.ts), a fresh update id each time — as a partner integrating by docs/delivery.md would.
 */
export class PartnerClient extends ApiClient {
  constructor(baseUrl: string, key: string, readonly secret: string) { super(baseUrl, key); }

  override async call<T = any>(method: string, path: string, body?: unknown, o: { updateId?: string; timestamp?: number } = {}): Promise<HttpResult<T>> {
    if (method === 'GET') return super.call<T>(method, path, body);
    const raw = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
    return this.send<T>(method, path, raw, signPartnerRequest(this.secret, { method, path, body: raw, ...o }));
  }

  /** A request exactly as given: for replays and tampering in tests. */
  async send<T = any>(method: string, path: string, raw: string, headers: Record<string, string>): Promise<HttpResult<T>> {
    const res = await fetch(`${this.baseUrl}${path}`, { method, headers: { authorization: `Bearer ${this.key}`, 'content-type': 'application/json', ...headers }, body: raw || undefined });
    const text = await res.text();
    let parsed: any = text;
    try { parsed = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
    return { status: res.status, body: parsed };
  }
}

export function demoActors(baseUrl: string) {
  return {
    hospital: new ApiClient(baseUrl, DEMO.hospital.key),
    otherHospital: new ApiClient(baseUrl, DEMO.otherHospital.key),
    pharmacist: new ApiClient(baseUrl, DEMO.pharmacists[0].key),
    pharmacist2: new ApiClient(baseUrl, DEMO.pharmacists[1].key), // the lead pharmacist
    unlicensedPharmacist: new ApiClient(baseUrl, DEMO.pharmacists[2].key),
    operator: new ApiClient(baseUrl, DEMO.operatorKey),
    leadPharmacist: new ApiClient(baseUrl, DEMO.leadPharmacistKey), // P002 with the lead_pharmacist role
    auditor: new ApiClient(baseUrl, DEMO.auditorKey),
    pharmacy: (code: string) => new ApiClient(baseUrl, DEMO.pharmacyKey(code)),
    courier: (code: string) => { const p = DEMO.partners.find((x) => x.code === code)!; return new PartnerClient(baseUrl, p.key, p.secret); },
  };
}

/** Polls the prescription until `until` holds for its detail (status + live workflow state). */
export async function waitForPrescription(client: ApiClient, id: string, until: (d: any) => boolean, timeoutMs = 60_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  let last: any;
  while (Date.now() < deadline) {
    const r = await client.get(`/v1/prescriptions/${id}`);
    last = r.body;
    if (r.status === 200 && until(r.body)) return r.body;
    await new Promise((res) => setTimeout(res, 200));
  }
  throw new Error(`prescription ${id} did not reach the expected state in ${timeoutMs} ms; last: ${JSON.stringify(last?.prescription?.status)} ${JSON.stringify(last?.workflow?.timeline?.slice(-3))}`);
}

export const statusIs = (...s: string[]) => (d: any) => s.includes(d.prescription.status);
export const offered = (d: any) => d.workflow?.offer && d.prescription.status === 'matching' && d.workflow.timeline.at(-1)?.event === 'pharmacy_offered';
/** The delivery is dispatched: registered with the partner (created; assigned on workflows from before partners registered deliveries). */
export const deliveryAssigned = (d: any) => ['created', 'assigned'].includes(d.workflow?.delivery?.status) && d.prescription.status === 'in_delivery';

/**
 * A pharmacist's decision the way the console makes it: claim the prescription (a lease), then decide
 * with reason codes. Returns the review call's answer (202 when the workflow took it); a refused claim is
 * returned as is.
 */
export async function claimAndReview(pharmacist: ApiClient, id: string, body: { decision: 'approve' | 'reject'; reasons?: string[]; comment?: string; overrideReason?: string }): Promise<HttpResult> {
  const claim = await pharmacist.post(`/v1/review-queue/${id}/claim`);
  if (claim.status !== 200) return claim;
  return pharmacist.post(`/v1/prescriptions/${id}/review`, { reasons: [], ...body });
}
