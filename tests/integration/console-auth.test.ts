// Console login over HTTP against the real engine: passwords, the session cookie on the JSON API, CSRF on
// unsafe requests, logout, and the console's security headers. The demo pharmacists' logins are seeded.
import { actors, apiUrl, closeDb, sql } from './helpers';
import { statusIs, waitForPrescription } from '../../demo/actors';
import { demoPrescription } from '../../demo/prescriptions';
import { DEMO } from '../../demo/fixtures';

afterAll(closeDb);

const PASSWORD = DEMO.pharmacistLogins[0].password;

interface Res { status: number; body: any; headers: Headers; cookies: string[] }

async function http(method: string, path: string, opts: { cookie?: string; csrf?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Res> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.cookie) headers.cookie = opts.cookie;
  if (opts.csrf) headers['x-csrf-token'] = opts.csrf;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${apiUrl()}${path}`, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  const text = await res.text();
  let body: any = text;
  try { body = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  return { status: res.status, body, headers: res.headers, cookies: res.headers.getSetCookie() };
}

/** Logs in and returns the cookie header to send back and the session's CSRF token. */
async function loginAs(login: string, password = PASSWORD) {
  const res = await http('POST', '/console/login', { body: { login, password } });
  expect(res.status).toBe(200);
  const setCookie = res.cookies.find((c) => c.startsWith('rx_session='))!;
  return { res, setCookie, cookie: setCookie.split(';')[0], csrf: res.body.csrfToken as string };
}

describe('console login', () => {
  it('refuses a wrong password, an unknown name and an empty body with one answer each, and sets no cookie', async () => {
    const wrong = await http('POST', '/console/login', { body: { login: 'P001', password: 'not-the-password' } });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe('INVALID_CREDENTIALS');
    expect(wrong.cookies).toEqual([]);
    const unknown = await http('POST', '/console/login', { body: { login: 'P999', password: PASSWORD } });
    expect(unknown.status).toBe(401);
    expect(unknown.body.error).toEqual(wrong.body.error); // does not tell who has an account
    const empty = await http('POST', '/console/login', { body: {} });
    expect(empty.status).toBe(400);
    expect(empty.body.error.details.map((d: any) => d.path).sort()).toEqual(['$.login', '$.password']);
  });

  it('logs in by code or by username, with an httpOnly SameSite=Strict cookie and no password hash anywhere', async () => {
    const { res, setCookie } = await loginAs('P001');
    expect(res.body.pharmacist).toMatchObject({ code: 'P001', name: DEMO.pharmacists[0].name, licenseNo: DEMO.pharmacists[0].licenseNo });
    expect(res.body.csrfToken).toMatch(/^[\w-]{32}$/);
    expect(new Date(res.body.expiresAt).getTime()).toBeGreaterThan(Date.now());
    expect(setCookie).toMatch(/; httponly/i);
    expect(setCookie).toMatch(/; samesite=strict/i);
    expect(setCookie).toMatch(/; path=\//i);
    expect(JSON.stringify(res.body)).not.toMatch(/scrypt/);
    expect(res.headers.get('cache-control')).toBe('no-store');

    const byName = await loginAs('CHEN'); // usernames and codes ignore case
    expect(byName.res.body.pharmacist.code).toBe('P001');
    const [row] = await sql(`select password_hash from pharmacist where code = 'P001'`);
    expect(row.password_hash).toMatch(/^scrypt\$32768\$8\$1\$/);
  });

  it('refuses a login posted from another origin', async () => {
    const res = await http('POST', '/console/login', { body: { login: 'P001', password: PASSWORD }, headers: { origin: 'https://evil.example' } });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('ORIGIN_MISMATCH');
    expect(res.cookies).toEqual([]);
  });

  it('slows down guessing: after five failures the name is refused for a while, even with the right password', async () => {
    // P002's own login stays usable for the other tests by guessing at its username's neighbour.
    await sql(`update pharmacist set username = 'zhao-throttle' where code = 'P002'`);
    try {
      for (let i = 0; i < 5; i++) expect((await http('POST', '/console/login', { body: { login: 'zhao-throttle', password: `guess-${i}-guess` } })).status).toBe(401);
      const locked = await http('POST', '/console/login', { body: { login: 'zhao-throttle', password: PASSWORD } });
      expect(locked.status).toBe(429);
      expect(locked.body.error.code).toBe('TOO_MANY_ATTEMPTS');
      expect((await http('POST', '/console/login', { body: { login: 'P002', password: PASSWORD } })).status).toBe(200);
    } finally {
      await sql(`update pharmacist set username = 'zhao' where code = 'P002'`);
    }
  });
});

describe('the session on the JSON API', () => {
  it('reads the review queue and a prescription with the cookie alone, as that pharmacist', async () => {
    const a = actors();
    const pushed = await a.hospital.post('/v1/prescriptions', demoPrescription());
    expect(pushed.status).toBe(201);
    const id = pushed.body.prescription.id;
    await waitForPrescription(a.hospital, id, statusIs('in_review'));

    const { cookie } = await loginAs('P001');
    const queue = await http('GET', '/v1/review-queue?limit=200', { cookie });
    expect(queue.status).toBe(200);
    expect(queue.body.items.map((i: any) => i.id)).toContain(id);
    expect(queue.headers.get('cache-control')).toBe('no-store');
    const one = await http('GET', `/v1/review-queue/${id}`, { cookie });
    expect(one.status).toBe(200);
    expect(one.body.patient.name).toBe('张建国');
    // The session is a pharmacist's, nothing more: the operator's report is forbidden.
    const report = await http('GET', '/v1/reports/monthly?month=2026-11&by=hospital', { cookie });
    expect(report.status).toBe(403);
    expect(report.body.error.code).toBe('FORBIDDEN');
    const session = await http('GET', '/console/session', { cookie });
    expect(session.status).toBe(200);
    expect(session.body.pharmacist.code).toBe('P001');
  });

  it('needs the CSRF token on an unsafe request: missing or foreign is 403, the session\'s own is accepted', async () => {
    const a = actors();
    const pushed = await a.hospital.post('/v1/prescriptions', demoPrescription());
    const id = pushed.body.prescription.id;
    await waitForPrescription(a.hospital, id, statusIs('in_review'));
    const mine = await loginAs('P001');
    const other = await loginAs('P002');

    const missing = await http('POST', `/v1/prescriptions/${id}/review`, { cookie: mine.cookie, body: { decision: 'approve' } });
    expect(missing.status).toBe(403);
    expect(missing.body.error.code).toBe('CSRF_TOKEN_MISSING');
    const foreign = await http('POST', `/v1/prescriptions/${id}/review`, { cookie: mine.cookie, csrf: other.csrf, body: { decision: 'approve' } });
    expect(foreign.status).toBe(403);
    expect(foreign.body.error.code).toBe('CSRF_TOKEN_INVALID');
    expect((await waitForPrescription(a.hospital, id, () => true)).prescription.status).toBe('in_review');

    // The claim (the review contract of issue 3), then the decision, both with the token.
    const claim = await http('POST', `/v1/review-queue/${id}/claim`, { cookie: mine.cookie, csrf: mine.csrf });
    expect(claim.status).toBe(200);
    const ok = await http('POST', `/v1/prescriptions/${id}/review`, { cookie: mine.cookie, csrf: mine.csrf, body: { decision: 'approve' } });
    expect(ok.status).toBe(202);
    await waitForPrescription(a.hospital, id, (d) => d.prescription.status !== 'in_review');
    const [review] = await sql(`select p.code from review r join pharmacist p on p.id = r.pharmacist_id where r.prescription_id = ?`, [id]);
    expect(review.code).toBe('P001');
  });

  it('still takes bearer keys, which need no CSRF token and win over a cookie', async () => {
    const { cookie } = await loginAs('P001');
    const res = await http('GET', '/v1/review-queue', { cookie, headers: { authorization: 'Bearer demo-operator-key' } });
    expect(res.status).toBe(403); // the operator key was used, not the pharmacist's cookie
    expect((await http('GET', '/v1/review-queue', { headers: { authorization: `Bearer ${DEMO.pharmacists[0].key}` } })).status).toBe(200);
    const none = await http('GET', '/v1/review-queue');
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe('UNAUTHENTICATED');
  });

  it('refuses a forged or altered cookie and clears it', async () => {
    const { cookie } = await loginAs('P001');
    const [name, token] = cookie.split('=');
    const [h, p, s] = token.split('.');
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    const altered = `${name}=${h}.${Buffer.from(JSON.stringify({ ...payload, sub: '00000000-0000-0000-0000-000000000000' })).toString('base64url')}.${s}`;
    const res = await http('GET', '/v1/review-queue', { cookie: altered });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('SESSION_EXPIRED');
    expect(res.cookies.some((c) => /^rx_session=;/.test(c) && /expires=Thu, 01 Jan 1970/i.test(c))).toBe(true);
  });

  it('ends every older session when the password changes', async () => {
    const { cookie } = await loginAs('P002');
    expect((await http('GET', '/v1/review-queue', { cookie })).status).toBe(200);
    // A changed password (here: only its timestamp, a second ahead of the session's issue time) ends it.
    await sql(`update pharmacist set password_changed_at = now() + interval '2 seconds' where code = 'P002'`);
    try {
      expect((await http('GET', '/v1/review-queue', { cookie })).status).toBe(401);
    } finally {
      await sql(`update pharmacist set password_changed_at = now() - interval '1 minute' where code = 'P002'`);
    }
  });
});

describe('logout', () => {
  it('needs the CSRF token of a live session, clears the cookie, and the browser is logged out', async () => {
    const { cookie, csrf } = await loginAs('P001');
    const noToken = await http('POST', '/console/logout', { cookie });
    expect(noToken.status).toBe(403);
    expect(noToken.body.error.code).toBe('CSRF_TOKEN_MISSING');
    const out = await http('POST', '/console/logout', { cookie, csrf });
    expect(out.status).toBe(204);
    const cleared = out.cookies.find((c) => c.startsWith('rx_session='))!;
    expect(cleared).toMatch(/^rx_session=;/);
    expect(cleared).toMatch(/expires=Thu, 01 Jan 1970/i);
    // A browser drops the cookie now; without it nothing is readable.
    expect((await http('GET', '/console/session')).status).toBe(401);
    expect((await http('GET', '/v1/review-queue')).status).toBe(401);
    // Logging out without a session is harmless.
    expect((await http('POST', '/console/logout')).status).toBe(204);
  });
});

describe('the console page', () => {
  it('is served with a CSP without inline scripts, no framing and nosniff', async () => {
    for (const path of ['/console', '/console/assets/console.js', '/console/assets/api.js', '/console/assets/i18n.js', '/console/assets/console.css']) {
      const res = await fetch(`${apiUrl()}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      const csp = res.headers.get('content-security-policy')!;
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).toContain("frame-ancestors 'none'");
      expect(res.headers.get('x-frame-options')).toBe('DENY');
    }
    const html = await (await fetch(`${apiUrl()}/console`)).text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // every script has a src
    expect(html).not.toMatch(/\son\w+=/); // no inline event handlers
    expect((await fetch(`${apiUrl()}/console/assets/../../package.json`)).status).toBe(404);
  });
});
