// The parties around rxflow, acting over its HTTP API exactly as their systems would: a hospital, a
// pharmacist, pharmacies and couriers. Used by the demo and by the end-to-end tests.
import { DEMO } from './fixtures';

export interface HttpResult<T = any> { status: number; body: T }

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
    return { status: res.status, body: parsed };
  }
  get<T = any>(path: string) { return this.call<T>('GET', path); }
  post<T = any>(path: string, body?: unknown) { return this.call<T>('POST', path, body ?? {}); }
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
    courier: (code: string) => new ApiClient(baseUrl, DEMO.partners.find((p) => p.code === code)!.key),
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
export const deliveryAssigned = (d: any) => d.workflow?.delivery?.status === 'assigned' && d.prescription.status === 'in_delivery';

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
