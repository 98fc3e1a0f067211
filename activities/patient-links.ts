// Patient links (docs/patient.md): a JWT (HS256, RX_PATIENT_LINK_SECRET) naming one prescription (sub),
// its row in patient_link (jti) and who holds it. The row decides revocation; the token never leaves the
// response that issued it (or the SMS to the patient) — never stored, audited or logged. Used by the API
// (hospital issues, patient presents) and by the intake notification activity.
import { randomUUID } from 'node:crypto';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { linkExpiry, type IssueLink } from '../domain/patient-link';
import type { RetentionPolicy } from '../domain/retention';

export interface PatientLinkSettings { patientLinkSecret: string; patientLinkTtlMs: number; publicUrl: string; retention: RetentionPolicy }

const ISSUER = 'rxflow';
const AUDIENCE = 'rxflow-patient';

// jose is published as ES modules only; this CommonJS code loads it with import() once (as api/auth.ts).
let josePromise: Promise<typeof import('jose', { with: { 'resolution-mode': 'import' } })> | undefined;
const jose = () => (josePromise ??= import('jose'));
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const key = (secret: string) => new TextEncoder().encode(secret);

export interface LinkClaims { jti: string; prescriptionId: string; holder: 'patient' | 'family' }

/** Deterministic for a row: the same jti, times and holder sign to the same token (an activity retried resends it). */
export async function signLinkToken(secret: string, c: LinkClaims & { issuedAt: Date; expiresAt: Date }): Promise<string> {
  const { SignJWT } = await jose();
  return new SignJWT({ h: c.holder })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setJti(c.jti).setSubject(c.prescriptionId).setIssuer(ISSUER).setAudience(AUDIENCE)
    .setIssuedAt(Math.floor(c.issuedAt.getTime() / 1000)).setExpirationTime(Math.floor(c.expiresAt.getTime() / 1000))
    .sign(key(secret));
}

export type LinkCheck = { ok: true; claims: LinkClaims } | { ok: false; reason: 'expired' | 'invalid' };

/** The claims of a well-signed, unexpired link token; why not otherwise (the row is checked by the caller). */
export async function verifyLinkToken(secret: string, token: string, now: Date = new Date()): Promise<LinkCheck> {
  const { jwtVerify, errors } = await jose();
  try {
    const { payload } = await jwtVerify(token, key(secret), { algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE, currentDate: now, requiredClaims: ['jti', 'sub', 'exp'] });
    if (payload.h !== 'patient' && payload.h !== 'family' || !UUID.test(payload.jti!) || !UUID.test(payload.sub!)) return { ok: false, reason: 'invalid' };
    return { ok: true, claims: { jti: payload.jti!, prescriptionId: payload.sub!, holder: payload.h } };
  } catch (e) {
    return { ok: false, reason: e instanceof errors.JWTExpired ? 'expired' : 'invalid' };
  }
}

/** Three base64url parts: a JWT, never an API key (those have no dots). */
export const looksLikeLinkToken = (t: string) => /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(t);

/** The page's address with the token in the fragment: browsers never send it to a server or in a Referer. */
export const linkUrl = (publicUrl: string, token: string) => `${publicUrl.replace(/\/$/, '')}/p/#${token}`;

export interface LinkRow {
  id: string; prescription_id: string; holder: 'patient' | 'family'; holder_name: string | null; relation: string | null;
  issued_by: string; issued_at: Date; expires_at: Date; revoked_at: Date | null; revoked_by: string | null; last_used_at: Date | null;
}

export class LinkNotIssuable extends Error {}

/**
 * Writes a link's row in the caller's transaction and signs its token. Throws LinkNotIssuable when the
 * prescription is past its retention (nothing left to show for long).
 */
export async function issueLink(em: EntityManager, settings: PatientLinkSettings, rx: { id: string; issuedAt: Date; updatedAt: Date },
  holder: IssueLink, issuedBy: string, now: Date = new Date()): Promise<{ row: LinkRow; token: string; url: string }> {
  const ttl = Math.min(settings.patientLinkTtlMs, holder.ttlDays ? holder.ttlDays * 86_400_000 : Infinity);
  const expiresAt = linkExpiry(now, ttl, rx, settings.retention);
  if (!expiresAt) throw new LinkNotIssuable('the prescription is past its retention period');
  // Kept to the millisecond (the order links were issued in); the token carries whole seconds of the same values.
  const issuedAt = now;
  const expires = expiresAt;
  const row: LinkRow = {
    id: randomUUID(), prescription_id: rx.id, holder: holder.holder,
    holder_name: holder.holder === 'family' ? holder.name : null, relation: holder.holder === 'family' ? holder.relation : null,
    issued_by: issuedBy.slice(0, 120), issued_at: issuedAt, expires_at: expires, revoked_at: null, revoked_by: null, last_used_at: null,
  };
  await em.getConnection().execute(
    `insert into patient_link (id, prescription_id, holder, holder_name, relation, issued_by, issued_at, expires_at) values (?, ?, ?, ?, ?, ?, ?, ?)`,
    [row.id, row.prescription_id, row.holder, row.holder_name, row.relation, row.issued_by, row.issued_at, row.expires_at], 'run', em.getTransactionContext());
  const token = await tokenOf(settings, row);
  return { row, token, url: linkUrl(settings.publicUrl, token) };
}

export const tokenOf = (settings: Pick<PatientLinkSettings, 'patientLinkSecret'>, row: LinkRow) =>
  signLinkToken(settings.patientLinkSecret, { jti: row.id, prescriptionId: row.prescription_id, holder: row.holder, issuedAt: new Date(row.issued_at), expiresAt: new Date(row.expires_at) });

/** A link as listed to the hospital or an operator: never the token. */
export function linkView(row: LinkRow, now: Date = new Date()) {
  const state = row.revoked_at ? 'revoked' : new Date(row.expires_at) <= now ? 'expired' : 'active';
  return {
    id: row.id, holder: row.holder, name: row.holder_name, relation: row.relation, issuedBy: row.issued_by,
    issuedAt: row.issued_at, expiresAt: row.expires_at, revokedAt: row.revoked_at, revokedBy: row.revoked_by, lastUsedAt: row.last_used_at, state,
  };
}

export type LinkFailure = 'PATIENT_LINK_INVALID' | 'PATIENT_LINK_EXPIRED' | 'PATIENT_LINK_REVOKED';

/** The link's row when the token is valid, unexpired and not revoked; else the failure's code. */
export async function checkLink(orm: MikroORM, secret: string, token: string, now: Date = new Date()): Promise<{ ok: true; row: LinkRow } | { ok: false; code: LinkFailure }> {
  const v = await verifyLinkToken(secret, token, now);
  if (!v.ok) return { ok: false, code: v.reason === 'expired' ? 'PATIENT_LINK_EXPIRED' : 'PATIENT_LINK_INVALID' };
  const [row] = await orm.em.fork().getConnection().execute<LinkRow[]>(
    `update patient_link set last_used_at = now() where id = ? and prescription_id = ? returning *`, [v.claims.jti, v.claims.prescriptionId]);
  if (!row) return { ok: false, code: 'PATIENT_LINK_INVALID' }; // signed, but no such link (e.g. another deployment's)
  if (row.revoked_at) return { ok: false, code: 'PATIENT_LINK_REVOKED' };
  if (new Date(row.expires_at) <= now) return { ok: false, code: 'PATIENT_LINK_EXPIRED' };
  return { ok: true, row };
}
