// Authentication: every party presents its API key as a bearer token; only the key's SHA-256 is stored.
// Pharmacists may instead use the web console (docs/console.md): they log in with their code or username
// and a password (scrypt, per-user salt), and then carry a short-lived JWT in an httpOnly, SameSite=Strict
// cookie. A request with that cookie counts as the pharmacist's; an unsafe one (POST/PUT/PATCH/DELETE)
// must also send the session's CSRF token in X-CSRF-Token. This file is the one home for both.
// Authorisation per route is by action (api/access.ts authorize, policy in domain/policy.ts); tenant scoping
// is done where the resource is loaded. requireRole is kept for code not yet moved to actions.
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import type { Context, Middleware } from 'koa';
import type { MikroORM } from '@mikro-orm/postgresql';
import { ApiClientSchema } from '../db/entities';
import type { Role } from '../domain/types';
import { ApiError } from './errors';
import { checkLink, looksLikeLinkToken, type LinkFailure } from '../activities/patient-links';

const LINK_FAILURES: Record<LinkFailure, string> = {
  PATIENT_LINK_INVALID: 'this link is not valid (altered or unknown)',
  PATIENT_LINK_EXPIRED: 'this link has expired',
  PATIENT_LINK_REVOKED: 'this link was withdrawn',
};

export interface Principal {
  role: Role; partyId: string; label: string; via?: 'api_key' | 'session' | 'patient_link';
  /** A patient link's holder (role patient; partyId is the link's prescription). */
  link?: { id: string; holder: 'patient' | 'family'; name: string | null; relation: string | null };
  /** The API key's row (rate limits count per key); its own requests-per-minute if it has one. */
  clientId?: string; rateLimitPerMinute?: number | null;
  /** The key's scopes: the actions it may take, within its role's (null: all its role's). */
  scopes?: string[] | null;
}

export const hashKey = (key: string) => createHash('sha256').update(key, 'utf8').digest('hex');

/** What authenticate needs to accept console sessions (Config has both fields). */
export interface SessionSettings { sessionSecret: string; sessionTtlMs: number }

export function authenticate(orm: MikroORM, session?: SessionSettings & { patientLinkSecret?: string }): Middleware {
  return async (ctx, next) => {
    const header = ctx.get('authorization');
    if (header || !session || !ctx.cookies.get(SESSION_COOKIE)) {
      // A bearer key wins over a cookie: scripts that send keys never depend on browser state.
      const match = /^Bearer\s+(\S+)$/i.exec(header);
      if (!match) {
        throw new ApiError(401, 'UNAUTHENTICATED', session
          ? 'send your API key as "Authorization: Bearer <key>", or log in to the pharmacist console'
          : 'send your API key as "Authorization: Bearer <key>"');
      }
      // A patient link's token (a JWT; API keys have no dots): the patient role, scoped to its prescription.
      if (session?.patientLinkSecret && looksLikeLinkToken(match[1])) {
        const link = await checkLink(orm, session.patientLinkSecret, match[1]);
        if (!link.ok) throw new ApiError(401, link.code, LINK_FAILURES[link.code], [{ path: '$.headers.Authorization', code: link.code.toLowerCase(), message: 'ask the hospital for a new link' }]);
        const r = link.row;
        ctx.state.principal = {
          role: 'patient', partyId: r.prescription_id, label: `${r.holder}:${r.id}`, via: 'patient_link',
          link: { id: r.id, holder: r.holder, name: r.holder_name, relation: r.relation },
        } satisfies Principal;
        ctx.set('Cache-Control', 'no-store');
        return next();
      }
      const client = await orm.em.fork().findOne(ApiClientSchema, { keyHash: hashKey(match[1]) });
      if (!client) throw new ApiError(401, 'UNAUTHENTICATED', 'unknown API key');
      // A revoked or expired key is refused by name, so its owner knows to switch to the new one.
      if (client.revokedAt) throw new ApiError(401, 'KEY_REVOKED', `this API key (${client.keyPrefix ?? client.label}) was revoked; use its replacement`);
      if (client.expiresAt && client.expiresAt.getTime() <= Date.now()) throw new ApiError(401, 'KEY_EXPIRED', `this API key (${client.keyPrefix ?? client.label}) expired at ${client.expiresAt.toISOString()}; use its replacement`);
      ctx.state.principal = {
        role: client.role, partyId: client.partyId, label: client.label, via: 'api_key', clientId: client.id,
        rateLimitPerMinute: client.rateLimitPerMinute ?? null, scopes: client.scopes ?? null,
      } satisfies Principal;
      return next();
    }
    const { principal, claims } = await sessionFromCookie(ctx, orm, session);
    if (!SAFE_METHODS.has(ctx.method)) requireCsrf(ctx, claims);
    ctx.state.principal = principal;
    // Responses to a logged-in browser carry personal health data: never store them.
    ctx.set('Cache-Control', 'no-store');
    return next();
  };
}

export function requireRole(...roles: Role[]): Middleware {
  return async (ctx, next) => {
    const p = ctx.state.principal as Principal;
    if (!roles.includes(p.role)) throw new ApiError(403, 'FORBIDDEN', `this action needs the role ${roles.join(' or ')}; you are ${p.role}`);
    await next();
  };
}

// ---- passwords ----------------------------------------------------------------------------------------
// Stored as "scrypt$N$r$p$<salt>$<hash>" (base64url), so the cost can be raised later without breaking
// the hashes already stored. N = 2^15, r = 8 (32 MiB, ~50-100 ms a check on a small server).

export interface ScryptParams { N: number; r: number; p: number }
export const SCRYPT_DEFAULTS: ScryptParams = { N: 1 << 15, r: 8, p: 1 };
const KEY_LEN = 32;
const SALT_LEN = 16;
export const MIN_PASSWORD_LENGTH = 10;

function scryptAsync(password: string, salt: Buffer, keyLen: number, params: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFKC'), salt, keyLen, { ...params, maxmem: 256 * params.N * params.r }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export async function hashPassword(password: string, params: ScryptParams = SCRYPT_DEFAULTS): Promise<string> {
  if (password.length < MIN_PASSWORD_LENGTH) throw new Error(`a password needs at least ${MIN_PASSWORD_LENGTH} characters`);
  const salt = randomBytes(SALT_LEN);
  const key = await scryptAsync(password, salt, KEY_LEN, params);
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/** Constant-time comparison of the derived key; false (never a throw) for a malformed stored value. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  if (![N, r, p].every((n) => Number.isSafeInteger(n) && n > 0) || N > 1 << 20 || r > 32 || p > 16) return false;
  const salt = Buffer.from(parts[4], 'base64url');
  const expected = Buffer.from(parts[5], 'base64url');
  if (salt.length < 8 || expected.length < 16) return false;
  const actual = await scryptAsync(password, salt, expected.length, { N, r, p });
  return timingSafeEqual(actual, expected);
}

// ---- console sessions ---------------------------------------------------------------------------------

export const SESSION_COOKIE = 'rx_session';
export const CSRF_HEADER = 'x-csrf-token';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const ISSUER = 'rxflow';
const AUDIENCE = 'rxflow-console';

export interface SessionClaims { sub: string; code: string; name: string; csrf: string; iat: number; exp: number }
export interface IssuedSession { token: string; csrfToken: string; expiresAt: Date }

// jose is published as ES modules only; this CommonJS code loads it with import() once.
let josePromise: Promise<typeof import('jose', { with: { 'resolution-mode': 'import' } })> | undefined;
const jose = () => (josePromise ??= import('jose'));
const secretKey = (secret: string) => new TextEncoder().encode(secret);

/**
 * A signed session for one pharmacist. The CSRF token is a claim of the signed JWT (a signed double-submit
 * token): the page gets it in the login answer and echoes it in X-CSRF-Token; another site can neither
 * read it nor forge a cookie that carries a matching one.
 */
export async function issueSession(settings: SessionSettings, who: { id: string; code: string; name: string },
  opts: { now?: Date; csrfToken?: string } = {}): Promise<IssuedSession> {
  const { SignJWT } = await jose();
  const now = opts.now ?? new Date();
  const csrfToken = opts.csrfToken ?? randomBytes(24).toString('base64url');
  const iat = Math.floor(now.getTime() / 1000);
  const exp = iat + Math.max(1, Math.floor(settings.sessionTtlMs / 1000));
  const token = await new SignJWT({ code: who.code, name: who.name, csrf: csrfToken })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(who.id).setIssuer(ISSUER).setAudience(AUDIENCE).setIssuedAt(iat).setExpirationTime(exp)
    .sign(secretKey(settings.sessionSecret));
  return { token, csrfToken, expiresAt: new Date(exp * 1000) };
}

/** The claims of a valid, unexpired session token; null for anything else (forged, expired, other audience). */
export async function readSession(settings: SessionSettings, token: string, now: Date = new Date()): Promise<SessionClaims | null> {
  const { jwtVerify } = await jose();
  try {
    const { payload } = await jwtVerify(token, secretKey(settings.sessionSecret), {
      algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE, currentDate: now, requiredClaims: ['sub', 'exp', 'iat'],
    });
    if (typeof payload.code !== 'string' || typeof payload.csrf !== 'string' || typeof payload.name !== 'string') return null;
    return { sub: payload.sub!, code: payload.code, name: payload.name, csrf: payload.csrf, iat: payload.iat!, exp: payload.exp! };
  } catch {
    return null;
  }
}

export function setSessionCookie(ctx: Context, session: IssuedSession): void {
  ctx.cookies.set(SESSION_COOKIE, session.token, {
    httpOnly: true, sameSite: 'strict', path: '/', expires: session.expiresAt, secure: ctx.secure, overwrite: true,
  });
}

export function clearSessionCookie(ctx: Context): void {
  ctx.cookies.set(SESSION_COOKIE, '', { httpOnly: true, sameSite: 'strict', path: '/', expires: new Date(0), secure: ctx.secure, overwrite: true });
}

/** Equal strings in constant time (for tokens of any length). */
function sameToken(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y) && a.length === b.length;
}

export function requireCsrf(ctx: Context, claims: SessionClaims): void {
  const sent = ctx.get(CSRF_HEADER);
  if (!sent) throw new ApiError(403, 'CSRF_TOKEN_MISSING', `send the console session's CSRF token in the ${CSRF_HEADER} header`);
  if (!sameToken(sent, claims.csrf)) throw new ApiError(403, 'CSRF_TOKEN_INVALID', 'the CSRF token does not belong to this session; reload the console');
}

/**
 * The pharmacist behind the session cookie, or 401. The pharmacist must still exist and not have changed
 * the password since the session began (that ends every older session). A session past half its life is
 * renewed with the same CSRF token, so a pharmacist at work is not logged out mid-review.
 */
export async function sessionFromCookie(ctx: Context, orm: MikroORM, settings: SessionSettings): Promise<{ principal: Principal; claims: SessionClaims; csrfToken: string; expiresAt: Date }> {
  const token = ctx.cookies.get(SESSION_COOKIE);
  const claims = token ? await readSession(settings, token) : null;
  const ended = () => {
    clearSessionCookie(ctx);
    return new ApiError(401, 'SESSION_EXPIRED', 'your console session has ended; log in again');
  };
  if (!claims) throw ended();
  const [row] = await orm.em.fork().getConnection().execute<{ id: string; code: string; name: string; password_changed_at: Date | null }[]>(
    `select id, code, name, password_changed_at from pharmacist where id = ? and password_hash is not null`, [claims.sub]);
  if (!row || (row.password_changed_at && Math.floor(new Date(row.password_changed_at).getTime() / 1000) > claims.iat)) throw ended();
  let expiresAt = new Date(claims.exp * 1000);
  if (expiresAt.getTime() - Date.now() < settings.sessionTtlMs / 2) {
    const renewed = await issueSession(settings, row, { csrfToken: claims.csrf });
    setSessionCookie(ctx, renewed);
    expiresAt = renewed.expiresAt;
  }
  return {
    principal: { role: 'pharmacist', partyId: row.id, label: row.code, via: 'session' },
    claims, csrfToken: claims.csrf, expiresAt,
  };
}

// ---- console login ------------------------------------------------------------------------------------

export interface LoginResult { pharmacist: { id: string; code: string; name: string; licenseNo: string }; session: IssuedSession }

// Failed attempts per login name, kept in this process: after MAX_FAILURES within the window the name is
// refused (429) until the window has passed. Slows password guessing; a multi-process deployment would
// keep this in a shared store.
const MAX_FAILURES = 5;
const FAILURE_WINDOW_MS = 15 * 60 * 1000;
const failures = new Map<string, { count: number; since: number }>();
let dummyHash: Promise<string> | undefined;

export async function login(orm: MikroORM, settings: SessionSettings, loginName: string, password: string): Promise<LoginResult> {
  const name = loginName.trim();
  const key = name.toLowerCase();
  const now = Date.now();
  const f = failures.get(key);
  if (f && now - f.since > FAILURE_WINDOW_MS) failures.delete(key);
  const recent = failures.get(key);
  if (recent && recent.count >= MAX_FAILURES) {
    const retryAfterS = Math.ceil((recent.since + FAILURE_WINDOW_MS - now) / 1000);
    throw new ApiError(429, 'TOO_MANY_ATTEMPTS', `too many failed logins for this name; try again in ${Math.ceil(retryAfterS / 60)} minutes`,
      [{ path: '$.login', message: `retry after ${retryAfterS} s` }]);
  }
  // By code (P001, any case) or by username (any case); an exact code match comes first.
  const [row] = await orm.em.fork().getConnection().execute<{ id: string; code: string; name: string; license_no: string; password_hash: string | null }[]>(
    `select id, code, name, license_no, password_hash from pharmacist
      where upper(code) = upper(?) or lower(username) = lower(?)
      order by (upper(code) = upper(?)) desc limit 1`, [name, name, name]);
  // Someone unknown costs as much time as a wrong password, so timing does not reveal who has an account.
  let ok = false;
  if (row?.password_hash) ok = await verifyPassword(password, row.password_hash);
  else await verifyPassword(password, await (dummyHash ??= hashPassword(randomBytes(16).toString('hex'))));
  if (!row || !ok) {
    const cur = failures.get(key) ?? { count: 0, since: now };
    cur.count += 1;
    failures.set(key, cur);
    // Bounded: names nobody has are counted too, so forget the oldest entries first.
    if (failures.size > 10_000) failures.delete(failures.keys().next().value!);
    throw new ApiError(401, 'INVALID_CREDENTIALS', 'the code/username or the password is wrong');
  }
  failures.delete(key);
  const session = await issueSession(settings, row);
  return { pharmacist: { id: row.id, code: row.code, name: row.name, licenseNo: row.license_no }, session };
}

/** Sets (or replaces) a pharmacist's console password; every session begun before now ends. */
export async function setPharmacistPassword(orm: MikroORM, code: string, password: string): Promise<boolean> {
  const hash = await hashPassword(password);
  const res = await orm.em.fork().getConnection().execute(
    `update pharmacist set password_hash = ?, password_changed_at = now() where code = ? returning id`, [hash, code]);
  return (res as unknown[]).length === 1;
}
