// Property-based fuzzing of the public API, driven by its own OpenAPI document (GET /openapi.json): for
// every operation, requests built from the body schemas (valid, almost valid, garbage) and hostile forms
// (oversized, deeply nested, invalid UTF-8, wrong content types, duplicate keys, injection strings), sent
// with every kind of credential. Shared by tests/integration/fuzz.test.ts (fast, in the suite) and
// bench/fuzz.ts (long). The oracle: no 5xx, the server answers, every 4xx is in the house error shape.
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { demoPrescription } from '../../demo/prescriptions';
import { DEMO } from '../../demo/fixtures';
import { ApiClient, claimAndReview, offered, statusIs, waitForPrescription } from '../../demo/actors';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Schema = Record<string, any>;

export interface Operation { method: string; path: string; params: string[]; body?: Schema; bodyType?: string }

/** Every path × method in the document, with its body schema when it has one. */
export function operationsOf(doc: any): Operation[] {
  const out: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
    for (const [m, op] of Object.entries(methods)) {
      const content = op.requestBody?.content ?? {};
      const bodyType = Object.keys(content)[0];
      out.push({
        method: m.toUpperCase(), path, params: (op.parameters ?? []).filter((p: any) => p.in === 'path').map((p: any) => p.name),
        body: bodyType ? content[bodyType].schema : undefined, bodyType,
      });
    }
  }
  return out;
}

export const opName = (op: Pick<Operation, 'method' | 'path'>) => `${op.method} ${op.path}`;

// ---- hostile strings ----------------------------------------------------------------------------------

/** What attackers and broken clients put in text fields and query parameters. */
export const NASTY_STRINGS: string[] = [
  `<script>alert('xss')</script>`, `"><img src=x onerror=alert(1)>`, `<svg onload=alert(1)>`, `javascript:alert(1)`,
  `'; DROP TABLE prescription; --`, `' OR '1'='1`, `1; select pg_sleep(5)`, `%' union select password_hash from pharmacist --`,
  `{{7*7}}`, '${7*7}', `../../../../etc/passwd`, `\\x00`, '\u0000', 'a\u0000b', '\ud800', '\udfff\ud800', '\uffff', '\ufeff',
  '\u202e\u0645\u0631\u062d\u0628\u0627', '👨‍👩‍👧‍👦'.repeat(50), 'Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇', '\r\n\r\nHTTP/1.1 200 OK', 'NaN', 'Infinity', '-Infinity',
  '-0', '1e999', '0x10', '9007199254740993', '-9223372036854775809', 'null', 'undefined', 'true', '[]', '{}', '',
  ' ', '\t', 'x'.repeat(10_000), '%00', '%ff', '%', '?', '#', '/', '..', '😀', '张建国', '2026-13-45T25:61:00Z', '0000-00-00',
];

/** Numbers that break naive code: out of range, not integers, beyond 64 bits, not finite once parsed. */
export const NASTY_NUMBERS = ['0', '-1', '-0', '1.5', '1e308', '1e309', '-1e309', '4294967296', '9007199254740993', '123456789012345678901234567890', '1e-400', '0.1e-7'];

const nastyString = fc.constantFrom(...NASTY_STRINGS);

/** Percent-encodes, lone surrogates included (as the bytes of an invalid UTF-8 sequence). */
export function enc(s: string): string {
  try { return encodeURIComponent(s); } catch { return [...s].map((c) => { try { return encodeURIComponent(c); } catch { return '%ED%A0%80'; } }).join(''); }
}

// ---- JSON Schema → fast-check ------------------------------------------------------------------------

const FORMATS: Record<string, fc.Arbitrary<string>> = {
  'date-time': fc.date({ min: new Date('2000-01-01'), max: new Date('2040-01-01'), noInvalidDate: true }).map((d) => d.toISOString()),
  date: fc.date({ min: new Date('2000-01-01'), max: new Date('2040-01-01'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10)),
  uuid: fc.uuid(),
  uri: fc.webUrl(),
  email: fc.emailAddress(),
};

/** Values that conform to the schema (as far as JSON Schema says; refinements in code may still refuse). */
export function valid(s: Schema | undefined, depth = 0): fc.Arbitrary<Json> {
  if (!s || depth > 6) return fc.constant(null);
  if (s.const !== undefined) return fc.constant(s.const);
  if (s.enum) return fc.constantFrom(...(s.enum as Json[]));
  const alts = s.anyOf ?? s.oneOf;
  if (alts) return fc.oneof(...(alts as Schema[]).map((a) => valid(a, depth + 1)));
  if (s.allOf) return valid(Object.assign({}, ...s.allOf), depth + 1);
  const base = validOfType(s, depth);
  return s.nullable ? fc.oneof(base, fc.constant(null)) : base;
}

function validOfType(s: Schema, depth: number): fc.Arbitrary<Json> {
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  switch (type) {
    case 'string': {
      if (s.format && FORMATS[s.format]) return FORMATS[s.format];
      const min = s.minLength ?? 0;
      const max = Math.max(min, Math.min(s.maxLength ?? 40, min + 40));
      return fc.oneof({ weight: 4, arbitrary: fc.string({ minLength: min, maxLength: max, unit: 'grapheme' }) },
        { weight: 1, arbitrary: nastyString.filter((x) => x.length >= min && x.length <= (s.maxLength ?? Infinity)) });
    }
    case 'integer': return fc.integer({ min: s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + 1 : -1000), max: s.maximum ?? (s.exclusiveMaximum !== undefined ? s.exclusiveMaximum - 1 : 100_000) });
    case 'number': return fc.double({ min: s.minimum ?? -1000, max: s.maximum ?? 100_000, noNaN: true, noDefaultInfinity: true });
    case 'boolean': return fc.boolean();
    case 'null': return fc.constant(null);
    case 'array': return fc.array(valid(s.items, depth + 1), { minLength: s.minItems ?? 0, maxLength: Math.max(s.minItems ?? 0, Math.min(s.maxItems ?? 3, 3)) });
    case 'object': case undefined: {
      const props: Record<string, Schema> = s.properties ?? {};
      if (!Object.keys(props).length) return type === 'object' ? fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }) as fc.Arbitrary<Json> : fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>;
      const required = new Set<string>(s.required ?? []);
      const rec: Record<string, fc.Arbitrary<Json>> = {};
      for (const [k, v] of Object.entries(props)) rec[k] = valid(v, depth + 1);
      return fc.record(rec, { requiredKeys: [...required].filter((k) => k in rec) }) as fc.Arbitrary<Json>;
    }
    default: return fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>;
  }
}

/** Wrong for a value of this schema: another type, out of range, too long, a nasty string. */
function wrongFor(s: Schema | undefined): fc.Arbitrary<Json> {
  const type = Array.isArray(s?.type) ? s!.type[0] : s?.type;
  const options: fc.Arbitrary<Json>[] = [fc.constantFrom<Json>(null, true, 0, -1, 1.5, '', [], {}, 'NaN', 1e308, -1e308, 2 ** 53 + 2), nastyString];
  if (type === 'integer' || type === 'number') {
    options.push(fc.constantFrom<Json>((s!.maximum ?? 1e9) + 1, (s!.minimum ?? -1e9) - 1, 0.5, '1', 'one', Number.MAX_VALUE, -Number.MAX_VALUE));
  }
  if (type === 'string') options.push(fc.constant('x'.repeat((s!.maxLength ?? 5000) + 1)), fc.integer(), fc.constant(['a']));
  if (type === 'array') options.push(fc.constant(Array.from({ length: Math.max(200, (s!.maxItems ?? 100) + 1) }, () => 'x')), fc.constant('not-an-array'));
  if (s?.enum) options.push(fc.constant('NOT_A_VALUE'));
  return fc.oneof(...options);
}

/** One field of a valid value made wrong (type, range, missing, unexpected extra), at any depth. */
export function almostValid(s: Schema | undefined): fc.Arbitrary<Json> {
  return fc.tuple(valid(s), fc.nat(), fc.nat(), fc.integer({ min: 0, max: 3 })).chain(([v, pick, key, how]) => {
    const slots: { parent: any; key: string | number; schema: Schema | undefined }[] = [];
    const walk = (node: any, schema: Schema | undefined, d: number) => {
      if (d > 6 || node === null || typeof node !== 'object') return;
      const sch = schema?.anyOf?.[0] ?? schema;
      if (Array.isArray(node)) node.forEach((x, i) => { slots.push({ parent: node, key: i, schema: sch?.items }); walk(x, sch?.items, d + 1); });
      else for (const k of Object.keys(node)) { slots.push({ parent: node, key: k, schema: sch?.properties?.[k] }); walk(node[k], sch?.properties?.[k], d + 1); }
    };
    const copy = structuredClone(v);
    walk(copy, s, 0);
    if (!slots.length) return wrongFor(s);
    const slot = slots[pick % slots.length];
    if (how === 0 && !Array.isArray(slot.parent)) { delete slot.parent[slot.key]; return fc.constant(copy as Json); }
    if (how === 1 && !Array.isArray(slot.parent)) { slot.parent[`extra${key % 5}`] = 'unexpected'; return fc.constant(copy as Json); }
    return wrongFor(slot.schema).map((w) => { slot.parent[slot.key] = w; return structuredClone(copy) as Json; });
  });
}

/** Anything JSON, and nasty strings in place of every string a valid body has. */
export function garbage(s: Schema | undefined): fc.Arbitrary<Json> {
  const injected = valid(s).chain((v) => nastyString.map((n) => replaceStrings(v, n)));
  return fc.oneof(fc.jsonValue({ maxDepth: 4 }) as fc.Arbitrary<Json>, injected, fc.constantFrom<Json>(null, 0, '', [], {}, 'x'));
}

function replaceStrings(v: Json, n: string): Json {
  if (typeof v === 'string') return n;
  if (Array.isArray(v)) return v.map((x) => replaceStrings(x, n));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, replaceStrings(x, n)]));
  return v;
}

// ---- the requests -------------------------------------------------------------------------------------

export type CredentialName = 'none' | 'wrong' | 'hospital' | 'pharmacist-session' | 'pharmacy' | 'courier' | 'operator';
export const CREDENTIALS: CredentialName[] = ['none', 'wrong', 'hospital', 'pharmacist-session', 'pharmacy', 'courier', 'operator'];

export interface Session { cookie: string; csrf: string }

/** Logs the demo pharmacist into the console: the session credential (cookie + CSRF token). */
export async function consoleSession(baseUrl: string): Promise<Session> {
  const login = DEMO.pharmacistLogins[0];
  const res = await fetch(`${baseUrl}/console/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ login: login.username, password: login.password }) });
  if (res.status !== 200) throw new Error(`console login failed: ${res.status} ${await res.text()}`);
  const cookie = res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  return { cookie, csrf: ((await res.json()) as { csrfToken: string }).csrfToken };
}

export function credentialHeaders(name: CredentialName, session: Session): Record<string, string> {
  switch (name) {
    case 'none': return {};
    case 'wrong': return { authorization: 'Bearer fuzz-no-such-key' };
    case 'hospital': return { authorization: `Bearer ${DEMO.hospital.key}` };
    case 'pharmacist-session': return { cookie: session.cookie, 'x-csrf-token': session.csrf };
    case 'pharmacy': return { authorization: `Bearer ${DEMO.pharmacyKey('PH001')}` };
    case 'courier': return { authorization: `Bearer ${DEMO.partners[0].key}` };
    case 'operator': return { authorization: `Bearer ${DEMO.operatorKey}` };
  }
}

export interface FuzzRequest { op: string; kind: string; cred: CredentialName; method: string; path: string; headers: Record<string, string>; body?: string | Uint8Array }

/**
 * Path parameters that exist (a prescription, an order, a delivery, the hospital's code, …) so the
 * handlers behind the 404 run too; and random ones.
 */
export type RealParams = Record<string, string[]>;

/**
 * Operations that change shared state other tests rely on (revoke the demo hospital's signing keys,
 * replace its webhook, erase a patient, set a pharmacy's stock, log out): in the shared test engine they
 * get random path parameters and never a body that could pass. The long run on its own engine sends all.
 */
export const SHARED_STATE_OPS = new Set([
  'POST /v1/hospital/signing-keys', 'POST /v1/hospital/signing-keys/{keyId}/revoke', 'POST /v1/hospitals/{code}/signing-keys',
  'POST /v1/hospitals/{code}/signing-keys/{keyId}/revoke', 'PUT /v1/webhook', 'DELETE /v1/webhook', 'POST /v1/webhook/secret/rotate',
  'POST /v1/ops/patients/{id}/erase', 'PUT /v1/pharmacy/stock', 'POST /console/logout', 'POST /v1/webhook/deliveries/{eventId}/redeliver',
  'POST /v1/keys', 'POST /v1/keys/{keyId}/rotate', 'POST /v1/keys/{keyId}/revoke', 'POST /v1/ops/keys',
  // Requiring signatures of a demo hospital would refuse every later test's unsigned calls.
  'POST /v1/hospital/request-signing/rotate', 'PUT /v1/ops/hospitals/{code}/request-signing', 'POST /v1/ops/hospitals/{code}/request-signing/rotate',
]);

const randomParam = fc.oneof(
  fc.uuid(), nastyString.map(enc), fc.string({ maxLength: 30 }).map(enc),
  fc.constantFrom('0', '-1', '1e999', 'null', '%00', '%ff%fe', '..%2F..%2Fetc', 'DEMO-HOSP', 'PH001', 'demo-es256-1', '99999999999999999999', 'a'.repeat(2000)),
);

// For the guarded operations in the shared engine: nothing that names a real party or key ('demo-es256-1'
// with an almost-valid body that still passes would revoke the demo hospital's key for every later test).
const unrealParam = fc.oneof(fc.uuid(), nastyString.map(enc), fc.string({ maxLength: 30 }).map(enc).filter((v) => !/demo|DEMO|PH0|HOSP/.test(v)));

const QUERY_KEYS = ['after', 'limit', 'wait', 'status', 'focus', 'prescription', 'prescriptionId', 'from', 'to', 'region', 'month', 'q', 'lat', 'lng', 'city', 'format', 'by', 'rxClass', 'date', 'subject', 'dosageForm'];
const queryValue = fc.oneof(nastyString, fc.constantFrom(...NASTY_NUMBERS), fc.string({ maxLength: 12 }), fc.uuid(), fc.constantFrom('2026-11', '2026-11-23', 'ZJ-HZ', 'in_review', 'csv', 'json'));
const query = fc.array(fc.tuple(fc.constantFrom(...QUERY_KEYS), queryValue), { maxLength: 4 })
  .map((pairs) => pairs.length ? '?' + pairs.map(([k, v]) => `${k}=${enc(v)}`.replace(/wait=[^&]*/, (w) => (/^wait=\d{2,}/.test(w) ? 'wait=1' : w))).join('&') : '');

export function pathFor(op: Operation, values: Record<string, string>): string {
  return op.path.replace(/\{([A-Za-z0-9_]+)\}/g, (_, name) => values[name]);
}

/** The hostile forms of a body, as raw bytes: each is a client error, never a crash. */
export const HOSTILE_BODIES: { kind: string; contentType?: string; body: () => string | Uint8Array }[] = [
  { kind: 'oversized', body: () => JSON.stringify({ rxNo: 'x', pad: 'x'.repeat(300 * 1024) }) },
  { kind: 'deep-array', body: () => '['.repeat(10_000) + ']'.repeat(10_000) },
  { kind: 'deep-object', body: () => '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000) },
  { kind: 'deep-unclosed', body: () => '['.repeat(100_000) },
  { kind: 'invalid-utf8', body: () => new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80, 0x22, 0x7d]) },
  { kind: 'truncated', body: () => '{"rxNo": "A1", "lines": [' },
  { kind: 'duplicate-keys', body: () => '{"decision":"approve","decision":"reject","rxNo":"a","rxNo":{"x":1},"login":"a","login":"b"}' },
  { kind: 'huge-numbers', body: () => '{"quantity": 1e999, "limit": 123456789012345678901234567890, "lat": -1e309, "n": 1e-400}' },
  { kind: 'nul-bytes', body: () => '{"reason":"a\\u0000b","comment":"\\u0000","login":"\\u0000"}' },
  { kind: 'lone-surrogates', body: () => '{"reason":"\\ud800","comment":"\\udfff\\ud800","login":"\\ud83d"}' },
  { kind: 'bom', body: () => '\ufeff{"a":1}' },
  { kind: 'not-json', body: () => 'rxNo=1&decision=approve' },
  { kind: 'empty', body: () => '' },
  { kind: 'proto-pollution', body: () => '{"__proto__":{"admin":true,"role":"operator"},"constructor":{"prototype":{"x":1}}}' },
  { kind: 'text-plain', contentType: 'text/plain', body: () => '{"decision":"approve"}' },
  { kind: 'xml', contentType: 'application/xml', body: () => '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>' },
  { kind: 'form', contentType: 'application/x-www-form-urlencoded', body: () => 'decision=approve&reasons=' },
  { kind: 'multipart', contentType: 'multipart/form-data; boundary=xyz', body: () => '--xyz\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--xyz--' },
  { kind: 'charset-latin1', contentType: 'application/json; charset=latin1', body: () => '{"a":"\u00e9"}' },
  { kind: 'charset-bogus', contentType: 'application/json; charset=utf-999', body: () => '{"a":1}' },
  { kind: 'gzip-claimed', contentType: 'application/json', body: () => new Uint8Array([0x1f, 0x8b, 0x08, 0x00, 0x00]) },
  { kind: 'no-content-type', contentType: '', body: () => '{"a":1}' },
];

/**
 * A signed prescription altered after signing (or with a signature that is not one): intake must answer
 * with a SIGNATURE_* error, never accept it and never crash.
 */
export const brokenSignature = fc.tuple(fc.integer({ min: 0, max: 6 }), nastyString).map(([how, s]) => {
  const rx: any = demoPrescription();
  switch (how) {
    case 0: rx.patient.name = s; break;
    case 1: rx.lines[0].quantity = 99; break;
    case 2: rx.signature.value = rx.signature.value.slice(0, -4) + 'AAAA'; break;
    case 3: rx.signature.value = s; break;
    case 4: rx.signature.value = Buffer.from(s).toString('base64'); break;
    case 5: rx.diagnoses[0].name = s; break;
    default: rx.signature.value = ''; break;
  }
  return rx;
});

/**
 * The party an operation is meant for, guessed from its path, so that half the requests get past
 * authorisation and reach the handler's own checks (the other half try every credential).
 */
export function fittingCredential(op: Operation): CredentialName {
  const p = op.path;
  if (p.startsWith('/v1/pharmacy/')) return 'pharmacy';
  if (p.startsWith('/v1/courier/') || p.startsWith('/v1/deliveries/')) return 'courier';
  if (p.startsWith('/v1/review') || p.endsWith('/review') || p.startsWith('/console')) return 'pharmacist-session';
  if (/^\/v1\/(ops|hospitals|webhooks|supervision|reports|alerts|insurance)\b/.test(p) || p.includes('/settlement')) return 'operator';
  return 'hospital';
}

/** One request: an operation, a credential, path parameters (real or random), a query and a body of some kind. */
export function requestArb(ops: Operation[], real: RealParams, session: Session, shared: boolean): fc.Arbitrary<FuzzRequest> {
  return fc.tuple(fc.constantFrom(...ops), fc.constantFrom(...CREDENTIALS), fc.boolean(), fc.nat(), fc.nat(), query).chain(([op, anyCred, fit, kindPick, realPick, q]) => {
    const cred = fit ? fittingCredential(op) : anyCred;
    const name = opName(op);
    const guarded = shared && SHARED_STATE_OPS.has(name);
    const params = fc.record(Object.fromEntries(op.params.map((p) => {
      const reals = guarded ? [] : (real[p] ?? []);
      return [p, reals.length && realPick % 3 !== 0 ? fc.constantFrom(...reals) : guarded ? unrealParam : randomParam];
    }))) as fc.Arbitrary<Record<string, string>>;
    const headers = credentialHeaders(cred, session);
    const withBody = op.method !== 'GET' && op.method !== 'DELETE';
    const kinds = withBody
      ? [...(guarded ? [] : ['valid']), 'almost-valid', 'garbage', 'hostile', ...(name === 'POST /v1/prescriptions' || name === 'POST /fhir/R4/Bundle' ? ['broken-signature'] : [])]
      : ['no-body'];
    // One request in twelve tries a method the path does not serve.
    const kind = kindPick % 12 === 0 ? 'other-method' : kinds[Math.floor(kindPick / 12) % kinds.length];
    const ct = op.bodyType ?? 'application/json';
    const json = (arb: fc.Arbitrary<unknown>) => arb.map((b) => ({ body: JSON.stringify(b) as string | Uint8Array, contentType: ct }));
    const body: fc.Arbitrary<{ body?: string | Uint8Array; contentType?: string }> =
      kind === 'valid' ? json(valid(op.body))
      : kind === 'almost-valid' ? json(almostValid(op.body))
      : kind === 'garbage' ? json(garbage(op.body))
      : kind === 'broken-signature' ? json(brokenSignature)
      : kind === 'hostile' ? fc.constantFrom(...HOSTILE_BODIES).map((h) => ({ body: h.body(), contentType: h.contentType ?? ct, hostile: h.kind }))
      : fc.constant({});
    return fc.tuple(params, body, fc.constantFrom('PATCH', 'PROPFIND', 'DELETE', 'PUT', 'POST', 'GET', 'OPTIONS')).map(([values, b, otherMethod]) => {
      const h: Record<string, string> = { ...headers };
      if (b.contentType) h['content-type'] = b.contentType;
      const hostile = (b as { hostile?: string }).hostile;
      return { op: name, kind: hostile ? `hostile:${hostile}` : kind, cred, method: kind === 'other-method' ? otherMethod : op.method, path: pathFor(op, values) + q, headers: h, body: b.body };
    });
  });
}

// ---- the oracle ---------------------------------------------------------------------------------------

export interface Outcome { status: number; problem?: string }

const CODE = /^[A-Z][A-Z0-9_]*$/;

/** Sends one request and judges the answer: a problem is a 5xx, no answer, or an error not in the house shape. */
export async function send(baseUrl: string, r: FuzzRequest, timeoutMs = 20_000): Promise<Outcome> {
  let res: Response;
  const abort = AbortSignal.timeout(timeoutMs);
  try {
    res = await fetch(baseUrl + r.path, { method: r.method, headers: r.headers, body: r.body as string | undefined, signal: abort, redirect: 'manual' });
  } catch (e) {
    return { status: 0, problem: `no answer: ${(e as Error).cause ? String((e as any).cause?.code ?? (e as any).cause) : (e as Error).message}` };
  }
  const type = res.headers.get('content-type') ?? '';
  if (type.startsWith('text/event-stream')) { await res.body?.cancel(); return { status: res.status }; }
  let text: string;
  try { text = await res.text(); } catch (e) { return { status: res.status, problem: `body not readable: ${(e as Error).message}` }; }
  if (res.status >= 500) return { status: res.status, problem: `${res.status}: ${text.slice(0, 300)}` };
  if (res.status < 400) return { status: res.status };
  let body: any;
  try { body = JSON.parse(text); } catch { return { status: res.status, problem: `error body is not JSON: ${text.slice(0, 200)}` }; }
  if (r.path.startsWith('/fhir/')) {
    const code = body?.issue?.[0]?.details?.coding?.[0]?.code;
    if (body?.resourceType !== 'OperationOutcome' || typeof code !== 'string' || !CODE.test(code)) return { status: res.status, problem: `not an OperationOutcome with a house code: ${text.slice(0, 200)}` };
    return { status: res.status };
  }
  const err = body?.error;
  const shaped = err && typeof err.code === 'string' && CODE.test(err.code) && typeof err.message === 'string' && err.message.length > 0
    && (err.details === undefined || (Array.isArray(err.details) && err.details.every((d: any) => typeof d?.message === 'string' && (d.path === undefined || typeof d.path === 'string'))))
    && Object.keys(body).length === 1;
  if (!shaped) return { status: res.status, problem: `not the house error shape: ${text.slice(0, 200)}` };
  if (r.kind === 'broken-signature' && res.status < 500 && !/^SIGNATURE_|^VALIDATION_FAILED$|^INVALID_TEXT$|^MALFORMED_URL$|^FORBIDDEN$|^UNAUTHENTICATED$|^RATE_LIMITED$/.test(err.code) && r.cred === 'hospital') {
    return { status: res.status, problem: `a broken signature answered ${err.code}, not a signature error` };
  }
  return { status: res.status };
}

/** Counts per status and per operation, and the problems with the request that showed each. */
export class Tally {
  readonly byStatus = new Map<number, number>();
  readonly byOp = new Map<string, Map<number, number>>();
  readonly byKind = new Map<string, number>();
  readonly problems: { request: FuzzRequest; outcome: Outcome }[] = [];
  /** The first request that got each status, per operation: what a 2xx to a generated body was. */
  readonly examples = new Map<string, FuzzRequest>();
  total = 0;
  add(r: FuzzRequest, o: Outcome): void {
    this.total++;
    this.byStatus.set(o.status, (this.byStatus.get(o.status) ?? 0) + 1);
    const op = this.byOp.get(r.op) ?? new Map<number, number>();
    op.set(o.status, (op.get(o.status) ?? 0) + 1);
    this.byOp.set(r.op, op);
    const kind = r.kind.split(':')[0];
    this.byKind.set(kind, (this.byKind.get(kind) ?? 0) + 1);
    if (o.problem) this.problems.push({ request: r, outcome: o });
    if (!this.examples.has(`${r.op} ${o.status}`)) this.examples.set(`${r.op} ${o.status}`, r);
  }
  report(): string {
    const statuses = [...this.byStatus.entries()].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}: ${n}`).join(', ');
    const ops = [...this.byOp.entries()].sort((a, b) => a[0].localeCompare(b[0]))
      .map(([op, m]) => `  ${op.padEnd(58)} ${[...m.values()].reduce((a, b) => a + b, 0).toString().padStart(5)}  ${[...m.entries()].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}×${n}`).join(' ')}`);
    const kinds = [...this.byKind.entries()].map(([k, n]) => `${k}: ${n}`).join(', ');
    return [`requests: ${this.total}`, `by status: ${statuses}`, `by kind: ${kinds}`, `problems: ${this.problems.length}`, 'by operation:', ...ops].join('\n');
  }
}

/** Generates `count` requests from `seed` and sends them `concurrency` at a time. */
export async function fuzz(opts: { baseUrl: string; ops: Operation[]; real: RealParams; session: Session; seed: number; count: number; shared: boolean; concurrency?: number; onProgress?: (n: number) => void }): Promise<Tally> {
  const requests = fc.sample(requestArb(opts.ops, opts.real, opts.session, opts.shared), { seed: opts.seed, numRuns: opts.count });
  const tally = new Tally();
  let next = 0;
  const worker = async () => {
    while (next < requests.length) {
      const r = requests[next++];
      tally.add(r, await send(opts.baseUrl, r));
      if (tally.total % 500 === 0) opts.onProgress?.(tally.total);
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 8 }, worker));
  return tally;
}

/**
 * Ids that exist, for the operations' path parameters: a prescription pushed now (and its patient), and
 * whatever orders, deliveries and events the demo parties can list.
 */
export async function realParams(baseUrl: string, sql: (q: string, params?: unknown[]) => Promise<any[]>, opts: { onlyOwn?: boolean } = {}): Promise<RealParams> {
  const call = async (key: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(baseUrl + path, { method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return res.json().catch(() => null) as Promise<any>;
  };
  const pushed = await call(DEMO.hospital.key, 'POST', '/v1/prescriptions', demoPrescription());
  const rxId: string | undefined = pushed?.prescription?.id;
  // Carried on to an offer, so an order exists for the pharmacy routes (best effort: the fuzz runs anyway).
  if (rxId) {
    const pharmacist = new ApiClient(baseUrl, DEMO.pharmacists[0].key);
    await waitForPrescription(pharmacist, rxId, statusIs('in_review'), 20_000).catch(() => undefined);
    await claimAndReview(pharmacist, rxId, { decision: 'approve', overrideReason: 'fuzz: risk assessed' }).catch(() => undefined);
    await waitForPrescription(pharmacist, rxId, offered, 20_000).catch(() => undefined);
  }
  const col = async (q: string, params: unknown[] = []) => (await sql(q, params)).map((r) => String(Object.values(r)[0]));
  // In the shared test engine only what this run created is "real": other tests' prescriptions are left alone.
  const own = opts.onlyOwn;
  const mine = rxId ? [rxId] : [];
  const ids = {
    rx: own ? mine : [...mine, ...await col(`select id from prescription order by created_at desc limit 3`)],
    order: await col(own ? `select id from fulfilment_order where prescription_id = ? limit 3` : `select id from fulfilment_order limit 3`, own ? [rxId ?? randomUUID()] : []),
    delivery: own ? [] : await col(`select id from delivery limit 3`),
    patient: await col(`select pt.id from patient pt join hospital h on h.id = pt.hospital_id where h.code = ? limit 1`, [DEMO.hospital.code]),
    event: await col(own ? `select id from hospital_event where prescription_id = ? limit 2` : `select id from hospital_event order by sequence desc limit 2`, own ? [rxId ?? randomUUID()] : []),
    dispense: own ? [] : await col(`select id from dispensing limit 2`),
    doctor: await col(`select id from doctor limit 1`),
    hospital: await col(`select id from hospital limit 1`),
  };
  return {
    id: [...ids.rx, ...ids.delivery, ...ids.patient], orderId: ids.order, code: [DEMO.hospital.code, DEMO.otherHospital.code], hospitalCode: [DEMO.hospital.code],
    keyId: [DEMO.hospital.signingKeyId, 'demo-sm2-1'], eventId: ids.event, dispenseId: ids.dispense, patientId: ids.patient,
    practitionerId: ids.doctor, organizationId: ids.hospital,
  };
}
