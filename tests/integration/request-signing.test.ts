// Request signing of hospital systems (docs/signing.md, "Request signing") against the real engine: a
// hospital of the test's own is switched to `required` by an operator, and every request with its API key —
// pushes, reads, FHIR intake, its own secret rotation — must then carry a valid, fresh, never-seen signature.
// Rotation keeps the previous secret for the overlap; `optional` takes unsigned calls but not bad signatures.
import { randomUUID } from 'node:crypto';
import { openOrm } from '../../db/orm';
import { pruneSignedRequests } from '../../api/request-signature';
import { DEMO } from '../../demo/fixtures';
import { demoPrescription } from '../../demo/prescriptions';
import { demoFhirBundle } from '../../demo/fhir';
import { REQUEST_ID_HEADER, SIGNATURE_HEADER, signedFetch, signRequest, UPDATE_ID_HEADER } from '../../sdk/request-signing';
import { apiUrl, closeDb, newHospital, sql } from './helpers';

interface Answer { status: number; body: any }
let H: Awaited<ReturnType<typeof newHospital>>;

/** One request with the hospital's key; `sign` adds the signature headers made over exactly `raw`. */
async function call(method: string, path: string, o: { body?: unknown; secret?: string; headers?: Record<string, string>; sendBody?: string; contentType?: string; key?: string } = {}): Promise<Answer & { sent: Record<string, string>; raw: string }> {
  const raw = o.body === undefined ? '' : typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
  const signed = o.secret ? signRequest(o.secret, { method, path, body: raw }) : {};
  const headers = { authorization: `Bearer ${o.key ?? H.key}`, ...(raw ? { 'content-type': o.contentType ?? 'application/json' } : {}), ...signed, ...o.headers };
  const res = await fetch(apiUrl() + path, { method, headers, body: (o.sendBody ?? raw) || undefined });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, sent: headers, raw };
}
const codeOf = (a: Answer) => a.body?.error?.code ?? a.body?.issue?.[0]?.details?.coding?.[0]?.code;
const op = (method: string, path: string, body?: unknown) => call(method, path, { body, key: DEMO.operatorKey });
const setMode = (mode: string | null) => op('PUT', `/v1/ops/hospitals/${H.code}/request-signing`, { mode });

beforeAll(async () => {
  H = await newHospital('RS', '请求签名测试医院（测试）');
}, 60_000);
afterAll(() => closeDb());

describe('a hospital in required mode', () => {
  let secret: string;
  let rxId: string;

  it('cannot be switched to required before it has a secret; the operator rotates one, shown once and audited without it', async () => {
    const early = await setMode('required');
    expect({ status: early.status, code: codeOf(early) }).toEqual({ status: 409, code: 'REQUEST_SECRET_MISSING' });
    const rotated = await op('POST', `/v1/ops/hospitals/${H.code}/request-signing/rotate`, {});
    expect(rotated.status).toBe(201);
    secret = rotated.body.secret;
    expect(secret).toMatch(/^hsk_[A-Za-z0-9_-]{32}$/);
    expect(rotated.body).toMatchObject({ hospital: { code: H.code }, mode: null, effectiveMode: 'optional', secrets: [{ id: rotated.body.secretId, expiresAt: null }] });
    const set = await setMode('required');
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ mode: 'required', effectiveMode: 'required', defaultMode: 'optional' });
    // The stored secret is sealed; the audit trail names the change, never the secret.
    const [row] = await sql(`select request_signing, request_secrets::text as secrets from hospital where id = ?`, [H.id]);
    expect(row.request_signing).toBe('required');
    expect(row.secrets).not.toContain(secret);
    const events = await sql(`select action, data::text as data from audit_event where action in ('hospital_request_secret_rotated', 'hospital_request_signing_set') and data->>'hospital' = ? order by id`, [H.code]);
    expect(events.map((e) => e.action)).toEqual(['hospital_request_secret_rotated', 'hospital_request_signing_set']);
    for (const e of events) expect(e.data).not.toContain(secret);
    expect(JSON.parse(events[1].data)).toMatchObject({ from: null, to: 'required' });
  });

  it('refuses an unsigned push, accepts a signed one once, refuses a replay, a stale one and an altered body', async () => {
    const rx = demoPrescription();
    const unsigned = await call('POST', '/v1/prescriptions', { body: rx });
    expect({ status: unsigned.status, code: codeOf(unsigned) }).toEqual({ status: 401, code: 'SIGNATURE_REQUIRED' });
    expect(unsigned.body.error.details).toEqual([expect.objectContaining({ path: `$.headers.${SIGNATURE_HEADER}` })]);

    const first = await call('POST', '/v1/prescriptions', { body: rx, secret });
    expect(first.status).toBe(201);
    rxId = first.body.prescription.id;
    // The very same request again: refused, and its id was stored once.
    const replay = await call('POST', '/v1/prescriptions', { body: rx, headers: { [REQUEST_ID_HEADER]: first.sent[REQUEST_ID_HEADER], [SIGNATURE_HEADER]: first.sent[SIGNATURE_HEADER] } });
    expect({ status: replay.status, code: codeOf(replay) }).toEqual({ status: 409, code: 'REPLAYED_REQUEST' });
    expect((await sql(`select count(*)::int as n from signed_request where party_kind = 'hospital' and party_id = ? and request_id = ?`, [H.id, first.sent[REQUEST_ID_HEADER]]))[0].n).toBe(1);

    const raw = JSON.stringify(rx);
    const stale = signRequest(secret, { method: 'POST', path: '/v1/prescriptions', body: raw, timestamp: Math.floor(Date.now() / 1000) - 600 });
    const staleAnswer = await call('POST', '/v1/prescriptions', { body: raw, headers: stale });
    expect({ status: staleAnswer.status, code: codeOf(staleAnswer) }).toEqual({ status: 401, code: 'STALE_REQUEST' });
    // Signed for one body, sent with another (the number changed on the way).
    const altered = await call('POST', '/v1/prescriptions', { body: rx, secret, sendBody: raw.replace(rx.rxNo, `${rx.rxNo}9`) });
    expect({ status: altered.status, code: codeOf(altered) }).toEqual({ status: 401, code: 'BAD_SIGNATURE' });
    // Another hospital's secret does not make this hospital's signature.
    const wrong = await call('POST', '/v1/prescriptions', { body: rx, secret: 'hsk_not-this-hospitals-secret' });
    expect({ status: wrong.status, code: codeOf(wrong) }).toEqual({ status: 401, code: 'BAD_SIGNATURE' });
    expect((await sql(`select count(*)::int as n from prescription where rx_no = ?`, [rx.rxNo]))[0].n).toBe(1);
  });

  it('takes a retry after a timeout as a new signed request: intake answers the same prescription', async () => {
    const rx = demoPrescription();
    const first = await call('POST', '/v1/prescriptions', { body: rx, secret });
    expect(first.status).toBe(201);
    // The client never saw that answer; it signs the same body again with a new request id.
    const retry = await call('POST', '/v1/prescriptions', { body: rx, secret });
    expect(retry.sent[REQUEST_ID_HEADER]).not.toBe(first.sent[REQUEST_ID_HEADER]);
    expect(retry.status).toBe(200);
    expect(retry.body).toMatchObject({ duplicate: true, prescription: { id: first.body.prescription.id } });
    // The partners' name for the id header is the same header.
    const raw = JSON.stringify(rx);
    const h = signRequest(secret, { method: 'POST', path: '/v1/prescriptions', body: raw }, UPDATE_ID_HEADER);
    const alias = await call('POST', '/v1/prescriptions', { body: raw, headers: h });
    expect(alias.body).toMatchObject({ duplicate: true, prescription: { id: first.body.prescription.id } });
    const both = await call('POST', '/v1/prescriptions', { body: raw, headers: { ...h, [REQUEST_ID_HEADER]: `other-${randomUUID()}` } });
    expect({ status: both.status, code: codeOf(both) }).toEqual({ status: 401, code: 'BAD_SIGNATURE' });
    expect((await sql(`select count(*)::int as n from prescription where rx_no = ?`, [rx.rxNo]))[0].n).toBe(1);
  });

  it('signs reads too: a signed GET (query included) works, an unsigned one is refused', async () => {
    const read = await call('GET', `/v1/prescriptions/${rxId}`, { secret });
    expect(read.status).toBe(200);
    expect(read.body.prescription.id).toBe(rxId);
    expect(codeOf(await call('GET', `/v1/prescriptions/${rxId}`))).toBe('SIGNATURE_REQUIRED');
    const feed = await call('GET', '/v1/events?limit=5', { secret });
    expect(feed.status).toBe(200);
    // The query is part of what is signed.
    const h = signRequest(secret, { method: 'GET', path: '/v1/events?limit=5', body: '' });
    expect(codeOf(await call('GET', '/v1/events?limit=50', { headers: h }))).toBe('BAD_SIGNATURE');
    // The SDK's fetch signs each call itself.
    const sdk = signedFetch({ baseUrl: apiUrl(), apiKey: H.key, secret });
    const own = await sdk('/v1/hospital/request-signing');
    expect(own.status).toBe(200);
    const view = await own.json();
    expect(view).toMatchObject({ hospital: { code: H.code }, mode: 'required', effectiveMode: 'required' });
    expect(JSON.stringify(view)).not.toContain(secret);
  });

  it('signs FHIR intake: POST /fhir/R4/Bundle unsigned is refused, signed creates the prescription', async () => {
    const { bundle } = demoFhirBundle();
    const unsigned = await call('POST', '/fhir/R4/Bundle', { body: bundle, contentType: 'application/fhir+json' });
    expect(unsigned.status).toBe(401);
    expect(unsigned.body.resourceType).toBe('OperationOutcome');
    expect(codeOf(unsigned)).toBe('SIGNATURE_REQUIRED');
    const signed = await call('POST', '/fhir/R4/Bundle', { body: bundle, secret, contentType: 'application/fhir+json' });
    expect(signed.status).toBe(201);
    expect(signed.body.resourceType).toBe('Bundle');
    const altered = await call('POST', '/fhir/R4/Bundle', { body: bundle, secret, contentType: 'application/fhir+json', sendBody: JSON.stringify({ ...bundle, id: 'x' }) });
    expect(codeOf(altered)).toBe('BAD_SIGNATURE');
  });

  it('leaves the hospital\'s patient links alone: the patient reads unsigned', async () => {
    const link = await call('POST', `/v1/prescriptions/${rxId}/patient-links`, { body: { holder: 'patient' }, secret });
    expect(link.status).toBe(201);
    const res = await fetch(`${apiUrl()}/v1/patient/prescription`, { headers: { authorization: `Bearer ${link.body.token}` } });
    expect(res.status).toBe(200);
  });

  it('rotates with an overlap: old and new secret both verify, the old one fails once the overlap is over', async () => {
    // Unsigned, the hospital's own key cannot mint itself a secret (a stolen key would).
    expect(codeOf(await call('POST', '/v1/hospital/request-signing/rotate', { body: {} }))).toBe('SIGNATURE_REQUIRED');
    const rotated = await call('POST', '/v1/hospital/request-signing/rotate', { body: {}, secret });
    expect(rotated.status).toBe(201);
    const next = rotated.body.secret as string;
    expect(next).not.toBe(secret);
    expect(rotated.body.secrets).toHaveLength(2);
    expect(rotated.body.secrets[1].expiresAt).toEqual(expect.any(String));
    expect((await call('GET', `/v1/prescriptions/${rxId}`, { secret })).status).toBe(200);
    expect((await call('GET', `/v1/prescriptions/${rxId}`, { secret: next })).status).toBe(200);
    // The overlap ends (its end moved to the past: the clock is the data's).
    await sql(`update hospital set request_secrets = jsonb_set(request_secrets, '{1,expiresAt}', to_jsonb(?::text)) where id = ?`, [new Date(Date.now() - 1000).toISOString(), H.id]);
    const old = await call('GET', `/v1/prescriptions/${rxId}`, { secret });
    expect({ status: old.status, code: codeOf(old) }).toEqual({ status: 401, code: 'BAD_SIGNATURE' });
    expect((await call('GET', `/v1/prescriptions/${rxId}`, { secret: next })).status).toBe(200);
    // A leaked secret: the operator rotates with no overlap, and it stops at once.
    const cut = await op('POST', `/v1/ops/hospitals/${H.code}/request-signing/rotate`, { overlapSeconds: 0 });
    expect(cut.status).toBe(201);
    expect(cut.body.secrets).toHaveLength(1);
    expect(codeOf(await call('GET', `/v1/prescriptions/${rxId}`, { secret: next }))).toBe('BAD_SIGNATURE');
    secret = cut.body.secret;
    expect((await call('GET', `/v1/prescriptions/${rxId}`, { secret })).status).toBe(200);
  });

  it('in optional mode takes unsigned requests but refuses a bad signature; off ignores signatures', async () => {
    expect((await setMode('optional')).body).toMatchObject({ mode: 'optional', effectiveMode: 'optional' });
    expect((await call('GET', `/v1/prescriptions/${rxId}`)).status).toBe(200);
    expect((await call('GET', `/v1/prescriptions/${rxId}`, { secret })).status).toBe(200);
    const bad = await call('GET', `/v1/prescriptions/${rxId}`, { secret: 'hsk_wrong' });
    expect({ status: bad.status, code: codeOf(bad) }).toEqual({ status: 401, code: 'BAD_SIGNATURE' });
    expect((await setMode('off')).status).toBe(200);
    expect((await call('GET', `/v1/prescriptions/${rxId}`, { secret: 'hsk_wrong' })).status).toBe(200);
    // Back to the engine's default.
    expect((await setMode(null)).body).toMatchObject({ mode: null, effectiveMode: 'optional' });
  });
});

describe('the operator routes', () => {
  it('validate the mode, answer 404 for an unknown hospital, and refuse other roles', async () => {
    const bad = await setMode('sometimes' as never);
    expect({ status: bad.status, code: codeOf(bad) }).toEqual({ status: 400, code: 'VALIDATION_FAILED' });
    expect((await op('PUT', '/v1/ops/hospitals/NO-SUCH-HOSP/request-signing', { mode: 'off' })).status).toBe(404);
    expect((await op('GET', `/v1/ops/hospitals/${H.code}/request-signing`)).body).toMatchObject({ hospital: { code: H.code } });
    // A hospital may not set its own mode (nor any other's).
    expect(codeOf(await call('PUT', `/v1/ops/hospitals/${H.code}/request-signing`, { body: { mode: 'off' } }))).toBe('FORBIDDEN');
  });
});

describe('the replay store', () => {
  it('prunes rows older than twice the tolerance, and only of the kind asked for', async () => {
    const orm = await openOrm(process.env.DATABASE_URL!);
    try {
      const ids = { oldH: `prune-${randomUUID()}`, newH: `prune-${randomUUID()}`, oldP: `prune-${randomUUID()}` };
      const [partner] = await sql(`select id from delivery_partner limit 1`);
      const insert = (kind: string, party: string, id: string, ageS: number) => sql(
        `insert into signed_request (party_kind, party_id, request_id, signature, method, path, received_at) values (?, ?, ?, ?, 'GET', '/x', now() - make_interval(secs => ?))`,
        [kind, party, id, randomUUID().replace(/-/g, '').repeat(2), ageS]);
      await insert('hospital', H.id, ids.oldH, 601);
      await insert('hospital', H.id, ids.newH, 10);
      await insert('partner', partner.id, ids.oldP, 601);
      expect(await pruneSignedRequests(orm.em.fork(), 'hospital', 300)).toBeGreaterThanOrEqual(1);
      const left = (await sql(`select request_id from signed_request where request_id in (?, ?, ?)`, [ids.oldH, ids.newH, ids.oldP])).map((r) => r.request_id).sort();
      expect(left).toEqual([ids.newH, ids.oldP].sort());
    } finally {
      await orm.close();
    }
  });
});
