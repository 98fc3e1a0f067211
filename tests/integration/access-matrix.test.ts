// The access matrix (issue 6): every route the Koa routers serve — read from the routers at run time, so a
// route added later is walked too, or fails here by name until it is classified in domain/policy.ts —
// × every role × own / other tenant, against the real engine. Expected answers come from the policy table:
// - no key, or an unknown key: 401;
// - a role with no row for the route's action: 403 FORBIDDEN;
// - scope `any`: allowed for both tenants;
// - scope `own` / `assigned`: allowed for the caller's resource; for another tenant's, an answer identical
//   (status, code, message, details) to the one for a resource that does not exist — existence never leaks.
// "Allowed" means past authorisation: no 401/403, no 5xx, and not that not-found answer. The requests are
// made harmless where they are allowed (empty bodies fail validation; the orders and deliveries belong to a
// cancelled prescription), so the walk changes nothing another test relies on.
// Also here: 429 with Retry-After per key, 413 on every route that takes a body, the HTML pages' headers.
import { randomUUID } from 'node:crypto';
import { createApp } from '../../api/app';
import { listRoutes, type RouteInfo } from '../../api/access';
import { hashKey } from '../../api/auth';
import { HTML_SECURITY_HEADERS } from '../../api/security-headers';
import { ACTIONS, PUBLIC_ROUTES, ROLES, scopeFor, type ResourceKind } from '../../domain/policy';
import type { Role } from '../../domain/types';
import { waitForPrescription } from '../../demo/actors';
import { DEMO } from '../../demo/fixtures';
import { signPartnerRequest } from '../../sdk/partner';
import { demoPrescription } from '../../demo/prescriptions';
import { loadConfig } from '../../engine/config';
import { apiUrl, closeDb, newHospital, sql } from './helpers';

const ROUTES: RouteInfo[] = listRoutes(createApp({ orm: {} as never, es: {} as never, temporal: {} as never, config: loadConfig() }));
const API_ROUTES = ROUTES.filter((r) => !(r.key in PUBLIC_ROUTES));
const PUBLIC = ROUTES.filter((r) => r.key in PUBLIC_ROUTES);

interface Answer { status: number; code?: string; message?: string; details?: unknown; headers: Headers; text: string }

/** One request; an event stream is cut off after its headers (it never ends by itself). */
async function send(method: string, url: string, key: string | null, body?: string, extraHeaders: Record<string, string> = {}): Promise<Answer> {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), 60_000);
  try {
    const res = await fetch(`${apiUrl()}${url}`, {
      method, signal: ctrl.signal,
      headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...extraHeaders },
      body,
    });
    let text = '';
    if ((res.headers.get('content-type') ?? '').includes('text/event-stream')) ctrl.abort();
    else text = await res.text();
    let parsed: any = null;
    try { parsed = JSON.parse(text); } catch { /* not JSON */ }
    // FHIR routes answer errors as an OperationOutcome carrying the house code (domain/fhir/outcome.ts).
    if (parsed?.resourceType === 'OperationOutcome') {
      const [top, ...rest] = parsed.issue ?? [];
      return { status: res.status, code: top?.details?.coding?.[0]?.code, message: top?.diagnostics, details: rest, headers: res.headers, text };
    }
    return { status: res.status, code: parsed?.error?.code, message: parsed?.error?.message, details: parsed?.error?.details, headers: res.headers, text };
  } finally {
    clearTimeout(timer);
  }
}

const same = (a: Answer, b: Answer) => a.status === b.status && a.code === b.code && a.message === b.message && JSON.stringify(a.details) === JSON.stringify(b.details);
const show = (a: Answer) => `${a.status} ${a.code ?? ''} ${a.message ?? a.text.slice(0, 80)}`.trim();

/** Which path parameter names the resource of each kind; other parameters get a placeholder. */
const RESOURCE_PARAMS: Record<ResourceKind, string[]> = {
  prescription: ['id'], order: ['orderId'], delivery: ['id'], event: ['eventId'], hospital: ['code', 'hospitalCode'], api_key: ['keyId'], tenant: [], platform: [],
};
type Tenant = 'own' | 'other' | 'missing';

// ---- the parties and their resources ----------------------------------------------------------------------

interface World {
  keys: Record<Role, string>;
  /** Per resource kind and role: the id (or code) of the caller's own one and of another tenant's. */
  resource: (kind: ResourceKind, role: Role, tenant: Tenant) => string;
  hospitalA: { id: string; code: string; key: string };
  hospitalB: { id: string; code: string; key: string };
}
let world: World;

const makeHospital = (tag: string) => newHospital(`MX${tag}`, `访问矩阵测试医院 ${tag}（测试）`);

beforeAll(async () => {
  const A = await makeHospital('A');
  const B = await makeHospital('B');
  // A's prescription waits in the review queue (assigned to every pharmacist); B's is cancelled before
  // any pharmacist touched it (assigned to nobody), and carries the orders and deliveries below.
  const pushA = await A.client.post('/v1/prescriptions', demoPrescription());
  const pushB = await B.client.post('/v1/prescriptions', demoPrescription());
  if (pushA.status !== 201 || pushB.status !== 201) throw new Error(`pushes: ${pushA.status} ${JSON.stringify(pushA.body)} / ${pushB.status} ${JSON.stringify(pushB.body)}`);
  const rxA = pushA.body.prescription.id as string;
  const rxB = pushB.body.prescription.id as string;
  // The patient's key is a link to A's prescription (docs/patient.md): its tenant is that one prescription.
  const linkA = await A.client.post(`/v1/prescriptions/${rxA}/patient-links`, { holder: 'patient' });
  if (linkA.status !== 201) throw new Error(`patient link: ${linkA.status} ${JSON.stringify(linkA.body)}`);
  await waitForPrescription(A.client, rxA, (d) => d.prescription.status === 'in_review');
  await waitForPrescription(B.client, rxB, (d) => d.prescription.status === 'in_review');
  const cancel = await B.client.post(`/v1/prescriptions/${rxB}/cancel`, { reason: '访问矩阵测试 / access matrix test' });
  if (cancel.status !== 202) throw new Error(`cancel: ${cancel.status} ${JSON.stringify(cancel.body)}`);
  await waitForPrescription(B.client, rxB, (d) => d.prescription.status === 'cancelled');

  // Two demo pharmacies and the two demo couriers; an order for each pharmacy and a delivery for each
  // courier, all of the cancelled prescription and closed (declined, failed): no list shows them, and a
  // workflow update for them is refused as closed.
  const [phA, phB] = await sql(`select id, code from pharmacy order by code limit 2`);
  const [sf] = await sql(`select id from delivery_partner where code = ?`, [DEMO.partners[0].code]);
  const [dada] = await sql(`select id from delivery_partner where code = ?`, [DEMO.partners[1].code]);
  const order = async (pharmacyId: string, attempt: number) => (await sql(
    `insert into fulfilment_order (id, prescription_id, pharmacy_id, attempt, status, total_price_fen, distance_km, decline_reason, offered_at, responded_at)
     values (gen_random_uuid(), ?, ?, ?, 'declined', 100, 1.0, 'access matrix test', now(), now()) returning id`, [rxB, pharmacyId, 100 + attempt]))[0].id as string;
  const orderA = await order(phA.id, 1);
  const orderB = await order(phB.id, 2);
  const delivery = async (partnerId: string, attempt: number) => (await sql(
    `insert into delivery (id, prescription_id, order_id, partner_id, attempt, status, cold_chain, events, created_at, updated_at)
     values (gen_random_uuid(), ?, ?, ?, ?, 'failed', false, '[]'::jsonb, now(), now()) returning id`, [rxB, orderA, partnerId, 100 + attempt]))[0].id as string;
  const deliveryA = await delivery(sf.id, 1);
  const deliveryB = await delivery(dada.id, 2);
  const event = async (hospitalId: string) => (await sql(`select id from hospital_event where hospital_id = ? order by sequence limit 1`, [hospitalId]))[0].id as string;
  const eventA = await event(A.id);
  const eventB = await event(B.id);

  const ids: Record<ResourceKind, Record<Tenant, string>> = {
    prescription: { own: rxA, other: rxB, missing: randomUUID() },
    order: { own: orderA, other: orderB, missing: randomUUID() },
    delivery: { own: deliveryA, other: deliveryB, missing: randomUUID() },
    event: { own: eventA, other: eventB, missing: randomUUID() },
    hospital: { own: A.code, other: B.code, missing: 'MX-NO-SUCH-HOSPITAL' },
    api_key: { own: 'per role', other: await clientId(B.key), missing: randomUUID() },
    tenant: { own: 'x', other: 'x', missing: 'x' },
    platform: { own: 'x', other: 'x', missing: 'x' },
  };
  const keys: Record<Role, string> = {
    hospital: A.key,
    pharmacist: DEMO.pharmacists[0].key,
    lead_pharmacist: DEMO.leadPharmacistKey,
    pharmacy: DEMO.pharmacyKey(phA.code),
    courier: DEMO.partners[0].key,
    operator: DEMO.operatorKey,
    auditor: DEMO.auditorKey,
    patient: linkA.body.token,
  };
  // A patient link is no API key: the patient has no key row of its own.
  const ownKeys = Object.fromEntries(await Promise.all(ROLES.map(async (r) => [r, r === 'patient' ? randomUUID() : await clientId(keys[r])]))) as Record<Role, string>;
  world = {
    keys,
    // A key's own API key is its own row; every other kind's own resource is the same for all roles.
    resource: (kind, role, tenant) => (kind === 'api_key' && tenant === 'own' ? ownKeys[role] : ids[kind][tenant]),
    hospitalA: A, hospitalB: B,
  };
}, 240_000);

afterAll(async () => {
  await closeDb();
});

async function clientId(key: string): Promise<string> {
  return (await sql(`select id from api_client where key_hash = ?`, [hashKey(key)]))[0].id as string;
}

function urlFor(route: RouteInfo, tenant: Tenant, role: Role): string {
  const kind = ACTIONS[route.action!].resource;
  return route.path.replace(/:([A-Za-z0-9_]+)/g, (_, name: string) =>
    encodeURIComponent(RESOURCE_PARAMS[kind].includes(name) ? world.resource(kind, role, tenant) : `matrix-${name}`));
}
const takesBody = (m: string) => m === 'POST' || m === 'PUT' || m === 'PATCH' || m === 'DELETE';
const hasResourceParam = (route: RouteInfo) =>
  RESOURCE_PARAMS[ACTIONS[route.action!].resource].some((p) => route.path.includes(`:${p}`));

describe('the access matrix: every route × every role × own/other tenant', () => {
  it('classifies every route (declares an action in domain/policy.ts, or is a listed public route)', () => {
    expect(ROUTES.filter((r) => !r.action && !(r.key in PUBLIC_ROUTES)).map((r) => `${r.key}: unclassified — add authorize(<action>) and policy rows in domain/policy.ts`)).toEqual([]);
  });

  it.each(API_ROUTES.map((r) => [r.key, r] as const))('%s', async (_key, route) => {
    if (!route.action) throw new Error(`${route.key} is unclassified: add authorize(<action>) to it and rows for the action in domain/policy.ts`);
    const problems: string[] = [];
    const body = takesBody(route.method) ? '{}' : undefined;

    // No key, and a key nobody has: 401 in the house shape.
    for (const key of [null, 'matrix-no-such-key']) {
      const a = await send(route.method, urlFor(route, 'own', 'operator'), key, body);
      if (a.status !== 401 || !a.code) problems.push(`${key ? 'unknown key' : 'no key'}: expected 401, got ${show(a)}`);
    }

    await Promise.all(ROLES.map(async (role) => {
      const scope = scopeFor(role, route.action!);
      const key = world.keys[role];
      // A partner's writes are signed as well as keyed (docs/delivery.md): the courier signs each one.
      const ask = (tenant: Tenant) => {
        const url = urlFor(route, tenant, role);
        const signed = role === 'courier' && body !== undefined ? signPartnerRequest(DEMO.partners[0].secret, { method: route.method, path: url, body }) : {};
        return send(route.method, url, key, body, signed);
      };
      const allowed = (a: Answer, missing: Answer | null) =>
        a.status !== 401 && !(a.status === 403 && a.code === 'FORBIDDEN') && a.status < 500 && !(missing && same(a, missing));
      if (!hasResourceParam(route)) {
        // The tenant is the caller's own (or the route reaches no tenant's data): one request tells.
        const a = await ask('own');
        if (scope === null && !(a.status === 403 && a.code === 'FORBIDDEN')) problems.push(`${role}: expected 403 FORBIDDEN, got ${show(a)}`);
        if (scope !== null && !allowed(a, null)) problems.push(`${role} (${scope}): expected allowed, got ${show(a)}`);
        return;
      }
      // Sequentially: a claim by one request must not race the next one for the same role.
      const missing = await ask('missing');
      const own = await ask('own');
      const other = await ask('other');
      if (scope === null) {
        for (const [t, a] of [['own', own], ['other', other], ['missing', missing]] as const) {
          if (!(a.status === 403 && a.code === 'FORBIDDEN')) problems.push(`${role} ${t}: expected 403 FORBIDDEN, got ${show(a)}`);
        }
        return;
      }
      if (!allowed(own, missing)) problems.push(`${role} own (${scope}): expected allowed, got ${show(own)} (missing: ${show(missing)})`);
      if (scope === 'any' && !allowed(other, missing)) problems.push(`${role} other (any): expected allowed, got ${show(other)} (missing: ${show(missing)})`);
      if (scope !== 'any' && !same(other, missing)) problems.push(`${role} other (${scope}): expected the not-found answer ${show(missing)}, got ${show(other)}`);
      if (scope !== 'any' && missing.status !== 404) problems.push(`${role} missing: expected 404, got ${show(missing)}`);
    }));
    expect(problems).toEqual([]);
  });

  it('keeps lists and feeds to the caller\'s tenant, whatever the query names', async () => {
    const { hospitalA: A, hospitalB: B } = world;
    const eventsOfA = await send('GET', `/v1/events?hospital=${B.code}&limit=500`, A.key);
    expect(eventsOfA.status).toBe(200);
    const feed = JSON.parse(eventsOfA.text).items as { id: string }[];
    expect(feed.length).toBeGreaterThan(0);
    const bIds = new Set((await sql(`select id from hospital_event where hospital_id = ?`, [B.id])).map((r) => r.id));
    expect(feed.filter((e: any) => bIds.has(e.id))).toEqual([]);
    const deliveries = await send('GET', `/v1/webhook/deliveries?hospital=${B.code}`, A.key);
    expect(deliveries.status).toBe(200);
    expect(JSON.parse(deliveries.text).items.filter((d: any) => bIds.has(d.eventId))).toEqual([]);
    // A's signing keys only, whichever hospital's keys exist.
    const keys = await send('GET', '/v1/hospital/signing-keys', A.key);
    expect(JSON.parse(keys.text).hospital.code).toBe(A.code);
  });

  it('keeps a patient link to its one prescription', async () => {
    const { hospitalA: A, hospitalB: B } = world;
    const rxA = world.resource('prescription', 'patient', 'own');
    const rxB = world.resource('prescription', 'patient', 'other');
    const [a, b] = await sql(`select id, rx_no from prescription where id in (?, ?) order by (id = ?) desc`, [rxA, rxB, rxA]);
    const linkB = await send('POST', `/v1/prescriptions/${rxB}/patient-links`, B.key, JSON.stringify({ holder: 'family', name: '李娜', relation: '女儿' }));
    expect(linkB.status).toBe(201);
    const tokenB = JSON.parse(linkB.text).token as string;
    const viewA = JSON.parse((await send('GET', '/v1/patient/prescription', world.keys.patient)).text);
    const viewB = JSON.parse((await send('GET', '/v1/patient/prescription', tokenB)).text);
    expect(viewA.prescription.rxNo).toBe(a.rx_no);
    expect(viewB.prescription.rxNo).toBe(b.rx_no);
    expect(viewB.holder).toMatchObject({ kind: 'family', name: '李娜', relation: '女儿' });
    // Neither link reaches the prescriptions' own routes, whichever id it names.
    for (const [token, id] of [[world.keys.patient, rxA], [tokenB, rxA], [tokenB, rxB]]) {
      expect((await send('GET', `/v1/prescriptions/${id}`, token)).code).toBe('FORBIDDEN');
    }
    // Another hospital can neither list nor revoke A's links: not found, like a prescription that does not exist.
    expect((await send('GET', `/v1/prescriptions/${rxA}/patient-links`, B.key)).status).toBe(404);
    expect((await send('GET', `/v1/prescriptions/${rxA}/patient-links`, A.key)).status).toBe(200);
  });

  it('lets the lead pharmacist release another pharmacist\'s claim; a pharmacist cannot', async () => {
    const rx = world.resource('prescription', 'pharmacist', 'own');
    const p1 = DEMO.pharmacists[0].key;
    const p2 = DEMO.pharmacists[1].key;
    await send('POST', `/v1/review-queue/${rx}/release`, DEMO.leadPharmacistKey, '{}');
    expect((await send('POST', `/v1/review-queue/${rx}/claim`, p1, '{}')).status).toBe(200);
    expect((await send('POST', `/v1/review-queue/${rx}/release`, p2, '{}')).code).toBe('CLAIMED_BY_OTHER');
    const byLead = await send('POST', `/v1/review-queue/${rx}/release`, DEMO.leadPharmacistKey, '{}');
    expect(byLead.status).toBe(200);
    expect(JSON.parse(byLead.text).released).toBe(true);
    const [ev] = await sql(`select actor, data from audit_event where prescription_id = ? and action = 'review_released' order by id desc limit 1`, [rx]);
    expect(ev.actor).toBe(`pharmacist:${DEMO.pharmacists[1].code}`);
    expect(ev.data.by).toBe('lead_pharmacist');
  });
});

describe('rate limits per key', () => {
  it('answers 429 RATE_LIMITED with Retry-After in the house shape once a key is over its limit', async () => {
    const key = `matrix-limited-${randomUUID()}`;
    await sql(`insert into api_client (id, key_hash, role, party_id, label, created_at, rate_limit_per_minute) values (gen_random_uuid(), ?, 'hospital', ?, 'matrix-limited', now(), 1)`,
      [hashKey(key), world.hospitalA.id]);
    const first = await send('GET', '/v1/drugs?q=BLF', key);
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit-limit')).toBe('1');
    const second = await send('GET', '/v1/drugs?q=BLF', key);
    expect(second.status).toBe(429);
    expect(second.code).toBe('RATE_LIMITED');
    expect(second.message).toMatch(/1 requests a minute/);
    expect(second.details).toEqual([expect.objectContaining({ path: '$.headers.Authorization' })]);
    const retryAfter = Number(second.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60).toBe(true);
    // Another key of the same hospital is counted apart.
    expect((await send('GET', '/v1/drugs?q=BLF', world.hospitalA.key)).status).toBe(200);
  });
});

describe('request size limits', () => {
  const big = JSON.stringify({ pad: 'x'.repeat(300 * 1024) });
  // The body parser reads POST, PUT and PATCH bodies; a DELETE's body is never read (checked below).
  const bodyRoutes = ROUTES.filter((r) => ['POST', 'PUT', 'PATCH'].includes(r.method));

  it.each(bodyRoutes.map((r) => [r.key, r] as const))('%s refuses a body over 256 kB with 413 BODY_TOO_LARGE', async (_k, route) => {
    const url = route.path.replace(/:([A-Za-z0-9_]+)/g, () => randomUUID());
    // With a key that may call it, and without one: the body is refused before anything reads it.
    const role = ROLES.find((r) => route.action && scopeFor(r, route.action)) ?? 'operator';
    for (const key of [world.keys[role], null]) {
      const a = await send(route.method, url, key, big);
      expect({ status: a.status, code: a.code }).toEqual({ status: 413, code: 'BODY_TOO_LARGE' });
      expect(typeof a.message).toBe('string');
      expect(Array.isArray(a.details)).toBe(true);
    }
  });

  it.each(ROUTES.filter((r) => r.method === 'DELETE').map((r) => [r.key, r] as const))('%s never reads a body', async (_k, route) => {
    const url = route.path.replace(/:([A-Za-z0-9_]+)/g, () => randomUUID());
    const a = await send(route.method, url, null, big);
    // Refused for want of a key, not for the body it ignores.
    expect({ status: a.status, code: a.code }).toEqual({ status: 401, code: 'UNAUTHENTICATED' });
  });

  it('fits the largest bulk stock update (1,000 lines) under the limit', async () => {
    const items = Array.from({ length: 1000 }, (_, i) => ({ drugCode: `MX-NO-SUCH-DRUG-${String(i).padStart(24, '0')}`, onHand: 1_000_000, priceFen: 100_000_000 }));
    const body = JSON.stringify({ items });
    expect(Buffer.byteLength(body)).toBeLessThan(256 * 1024);
    const a = await send('PUT', '/v1/pharmacy/stock', world.keys.pharmacy, body);
    // Read whole and validated: every line is named as unknown, nothing changed.
    expect({ status: a.status, code: a.code }).toEqual({ status: 422, code: 'UNKNOWN_DRUG' });
    expect((a.details as unknown[]).length).toBe(1000);
  });
});

describe('security headers', () => {
  it.each(PUBLIC.filter((r) => r.method === 'GET').map((r) => [r.key, r] as const))('%s', async (_k, route) => {
    const a = await send('GET', route.path, null);
    expect(a.headers.get('x-content-type-options')).toBe('nosniff');
    if ((a.headers.get('content-type') ?? '').startsWith('text/html')) {
      for (const h of HTML_SECURITY_HEADERS) expect([h, a.headers.get(h)]).toEqual([h, expect.any(String)]);
      expect(a.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      expect(a.headers.get('content-security-policy')).not.toContain("script-src 'self' 'unsafe-inline'");
      expect(a.headers.get('x-frame-options')).toBe('DENY');
    }
  });

  it('serves at least the console and the report page as HTML', async () => {
    for (const p of ['/console', '/ops/reports']) expect((await send('GET', p, null)).headers.get('content-type')).toMatch(/^text\/html/);
  });

  it('sends the base headers on API answers and errors too', async () => {
    for (const a of [await send('GET', '/v1/drugs', world.keys.courier), await send('GET', '/v1/drugs', null), await send('GET', '/v1/no-such-route', world.keys.courier)]) {
      expect(a.headers.get('x-content-type-options')).toBe('nosniff');
      expect(a.headers.get('x-frame-options')).toBe('DENY');
    }
  });
});
