// Console login without services: scrypt password hashes and the signed session JWT with its CSRF token.
import { hashPassword, issueSession, readSession, verifyPassword, type SessionSettings } from '../../api/auth';

// Cheap parameters keep the unit tests fast; the format and the comparison are the same as production's.
const FAST = { N: 1 << 10, r: 8, p: 1 };
const settings: SessionSettings = { sessionSecret: 'unit-test-secret-unit-test-secret-0123', sessionTtlMs: 30 * 60_000 };
const who = { id: '2f1d1a8e-6a55-4b1e-9a55-0c6ad0e0b001', code: 'P001', name: '陈药师（演示）' };

describe('password hashes', () => {
  it('verifies the right password and refuses a wrong one', async () => {
    const stored = await hashPassword('correct horse battery', FAST);
    expect(stored).toMatch(/^scrypt\$1024\$8\$1\$[\w-]{22}\$[\w-]{43}$/);
    await expect(verifyPassword('correct horse battery', stored)).resolves.toBe(true);
    await expect(verifyPassword('correct horse batterY', stored)).resolves.toBe(false);
    await expect(verifyPassword('', stored)).resolves.toBe(false);
  });

  it('salts each hash, so equal passwords do not give equal hashes', async () => {
    const [a, b] = await Promise.all([hashPassword('same password 123', FAST), hashPassword('same password 123', FAST)]);
    expect(a).not.toBe(b);
    await expect(verifyPassword('same password 123', a)).resolves.toBe(true);
    await expect(verifyPassword('same password 123', b)).resolves.toBe(true);
  });

  it('uses the production cost by default and keeps the parameters with the hash', async () => {
    const stored = await hashPassword('demo-pharmacist-pass');
    expect(stored.startsWith('scrypt$32768$8$1$')).toBe(true);
    await expect(verifyPassword('demo-pharmacist-pass', stored)).resolves.toBe(true);
  });

  it('treats the same text in another Unicode form as the same password', async () => {
    const stored = await hashPassword('ｐａｓｓｗｏｒｄ１２３４', FAST); // full-width, as some Chinese IMEs type it
    await expect(verifyPassword('password1234', stored)).resolves.toBe(true);
  });

  it('refuses a malformed or tampered stored value instead of throwing', async () => {
    const stored = await hashPassword('correct horse battery', FAST);
    const parts = stored.split('$');
    for (const bad of ['', 'plain-text', 'bcrypt$x', ['scrypt', '0', '8', '1', parts[4], parts[5]].join('$'),
      ['scrypt', String(1 << 30), '8', '1', parts[4], parts[5]].join('$'), [...parts.slice(0, 5), 'AAAA'].join('$')]) {
      await expect(verifyPassword('correct horse battery', bad)).resolves.toBe(false);
    }
  });

  it('will not hash a password that is too short', async () => {
    await expect(hashPassword('short', FAST)).rejects.toThrow(/at least 10/);
  });
});

describe('session tokens', () => {
  it('carries the pharmacist and a CSRF token, valid until it expires', async () => {
    const now = new Date('2026-11-24T08:00:00Z');
    const s = await issueSession(settings, who, { now });
    expect(s.expiresAt.toISOString()).toBe('2026-11-24T08:30:00.000Z');
    expect(s.csrfToken).toMatch(/^[\w-]{32}$/);
    const claims = await readSession(settings, s.token, new Date('2026-11-24T08:29:00Z'));
    expect(claims).toMatchObject({ sub: who.id, code: 'P001', name: who.name, csrf: s.csrfToken });
    expect(await readSession(settings, s.token, new Date('2026-11-24T08:30:01Z'))).toBeNull();
  });

  it('gives each session its own CSRF token, and keeps one on renewal when asked', async () => {
    const a = await issueSession(settings, who);
    const b = await issueSession(settings, who);
    expect(a.csrfToken).not.toBe(b.csrfToken);
    const renewed = await issueSession(settings, who, { csrfToken: a.csrfToken });
    expect((await readSession(settings, renewed.token))!.csrf).toBe(a.csrfToken);
  });

  it('refuses a token signed with another secret, altered, or unsigned', async () => {
    const s = await issueSession(settings, who);
    expect(await readSession({ ...settings, sessionSecret: 'another-secret-another-secret-012345' }, s.token)).toBeNull();
    const [h, p, sig] = s.token.split('.');
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    const forged = Buffer.from(JSON.stringify({ ...payload, code: 'P002' })).toString('base64url');
    expect(await readSession(settings, `${h}.${forged}.${sig}`)).toBeNull();
    const none = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    expect(await readSession(settings, `${none}.${p}.`)).toBeNull();
    expect(await readSession(settings, 'not-a-jwt')).toBeNull();
  });
});
