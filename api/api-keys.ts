// API keys with a lifecycle (docs/security.md "API keys"). A key is shown once, when issued; rxflow keeps
// its SHA-256 and a short public prefix. A party rotates without downtime: the new key works at once, the
// old one for an overlap it chooses (0–168 h), then stops; either can be revoked at any time. A key may be
// scoped to some of its role's actions; a scoped key can only issue keys within its own scopes. Every
// issue, rotation and revocation is an audit event (who, from where; never the secret).
import { randomBytes, randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { LockMode } from '@mikro-orm/core';
import { z } from 'zod';
import { ApiClientSchema, DeliveryPartnerSchema, HospitalSchema, PharmacistSchema, PharmacySchema, type ApiClient } from '../db/entities';
import { actionsOf, ACTIONS, ROLES } from '../domain/policy';
import type { Role } from '../domain/types';
import { audit, type AuditOrigin } from '../activities/audit';
import { hashKey, type Principal } from './auth';
import { ApiError, notFound } from './errors';

/** Parties without a row of their own (the platform's staff). */
export const PLATFORM_PARTY = '00000000-0000-0000-0000-000000000000';

export type KeyStatus = 'active' | 'expiring' | 'expired' | 'revoked';

export function keyStatus(k: Pick<ApiClient, 'expiresAt' | 'revokedAt'>, at = new Date()): KeyStatus {
  if (k.revokedAt) return 'revoked';
  if (!k.expiresAt) return 'active';
  return k.expiresAt <= at ? 'expired' : 'expiring';
}

export function apiKeyView(k: ApiClient, at = new Date()) {
  return {
    id: k.id, prefix: k.keyPrefix ?? null, label: k.label, role: k.role, status: keyStatus(k, at), scopes: k.scopes ?? null,
    rateLimitPerMinute: k.rateLimitPerMinute ?? null, createdAt: k.createdAt, createdBy: k.createdBy ?? null,
    expiresAt: k.expiresAt ?? null, revokedAt: k.revokedAt ?? null, revokedReason: k.revokedReason ?? null, rotatedFrom: k.rotatedFrom ?? null,
  };
}

const scopesField = z.array(z.string().min(1).max(60)).min(1).max(Object.keys(ACTIONS).length).optional();
export const IssueKeyBody = z.object({
  label: z.string().trim().min(1).max(120),
  scopes: scopesField,
  expiresInDays: z.number().int().min(1).max(730).optional(),
});
export const AdminIssueKeyBody = IssueKeyBody.extend({
  role: z.enum(ROLES),
  /** The party's code (hospital, pharmacy, delivery partner, pharmacist); none for operator and auditor keys. */
  party: z.string().min(1).max(60).optional(),
  rateLimitPerMinute: z.number().int().min(0).max(1_000_000).optional(),
});
export const RotateKeyBody = z.object({
  /** How long the old key keeps working, so every system can switch to the new one. */
  overlapHours: z.number().min(0).max(168),
  expiresInDays: z.number().int().min(1).max(730).optional(),
});
export const RevokeKeyBody = z.object({ reason: z.string().trim().min(1).max(300) });

/** Scopes a key may carry: actions of its role, and within the issuer's own scopes when the issuer is scoped. */
function checkScopes(role: Role, scopes: string[] | undefined, issuer: Principal): string[] | null {
  if (!scopes) return issuer.scopes ?? null; // a scoped key cannot issue a broader one by omitting scopes
  const allowed = new Set<string>(actionsOf(role));
  const problems = scopes.flatMap((s, i) => {
    if (!allowed.has(s)) return [{ path: `$.scopes[${i}]`, code: 'not_an_action_of_the_role', message: `${s} is not an action the role ${role} may take` }];
    if (issuer.scopes && !issuer.scopes.includes(s)) return [{ path: `$.scopes[${i}]`, code: 'beyond_issuer_scopes', message: `${s} is beyond the scopes of the key issuing it` }];
    return [];
  });
  if (problems.length) throw new ApiError(422, 'SCOPE_NOT_PERMITTED', 'a key can only be scoped to actions its role may take, within the issuing key\'s scopes', problems);
  return [...new Set(scopes)].sort();
}

/** The party a role's key belongs to, by its code. */
export async function partyOf(em: EntityManager, role: Role, code: string | undefined): Promise<string> {
  if (role === 'operator' || role === 'auditor') return PLATFORM_PARTY;
  if (!code) throw new ApiError(422, 'PARTY_REQUIRED', `a ${role} key belongs to a party: name it by code`, [{ path: '$.party', code: 'required', message: 'the party\'s code' }]);
  const row = role === 'hospital' ? await em.findOne(HospitalSchema, { code })
    : role === 'pharmacy' ? await em.findOne(PharmacySchema, { code })
      : role === 'courier' ? await em.findOne(DeliveryPartnerSchema, { code })
        : await em.findOne(PharmacistSchema, { code });
  if (!row) throw new ApiError(422, 'PARTY_UNKNOWN', `no ${role} with the code ${code}`, [{ path: '$.party', code: 'unknown', message: code }]);
  return row.id;
}

const daysFromNow = (days: number | undefined) => (days ? new Date(Date.now() + days * 86_400_000) : null);
const actorOf = (p: Principal) => `${p.role}:${p.label}`;

/** Issues a key; the secret is returned here and never again. */
export async function issueKey(
  em: EntityManager, issuer: Principal, origin: AuditOrigin,
  k: { role: Role; partyId: string; label: string; scopes?: string[]; expiresInDays?: number; rateLimitPerMinute?: number | null; rotatedFrom?: string | null },
): Promise<{ key: ApiClient; secret: string }> {
  const scopes = checkScopes(k.role, k.scopes, issuer);
  const prefix = `rxk_${randomBytes(4).toString('hex')}`;
  const secret = `${prefix}_${randomBytes(32).toString('base64url')}`;
  const key = em.create(ApiClientSchema, {
    id: randomUUID(), keyHash: hashKey(secret), role: k.role, partyId: k.partyId, label: k.label, scopes, keyPrefix: prefix,
    expiresAt: daysFromNow(k.expiresInDays), revokedAt: null, revokedReason: null, createdBy: actorOf(issuer), rotatedFrom: k.rotatedFrom ?? null,
    rateLimitPerMinute: k.rateLimitPerMinute ?? null,
  } as never);
  audit(em, null, { action: k.rotatedFrom ? 'api_key_rotated' : 'api_key_issued', actor: actorOf(issuer), origin, data: { keyId: key.id, prefix, role: k.role, partyId: k.partyId, label: k.label, scopes, expiresAt: key.expiresAt ?? null, rotatedFrom: k.rotatedFrom ?? null } });
  await em.flush();
  return { key, secret };
}

/** A key the caller may rotate or revoke: its own party's (scope own), or any (the operator); else 404. */
export async function manageableKey(em: EntityManager, caller: Principal, id: string, anyParty: boolean): Promise<ApiClient> {
  if (!z.uuid().safeParse(id).success) throw notFound('API key');
  const k = await em.findOne(ApiClientSchema, { id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
  if (!k || (!anyParty && (k.partyId !== caller.partyId || k.role !== caller.role))) throw notFound('API key');
  return k;
}

export async function rotateKey(em: EntityManager, caller: Principal, origin: AuditOrigin, old: ApiClient, body: z.infer<typeof RotateKeyBody>) {
  const status = keyStatus(old);
  if (status === 'revoked' || status === 'expired') throw new ApiError(409, 'KEY_NOT_ACTIVE', `this key is ${status}: issue a new one instead of rotating it`);
  const overlapEnds = new Date(Date.now() + body.overlapHours * 3_600_000);
  // The old key stops at the end of the overlap, or earlier if it was going to anyway.
  if (!old.expiresAt || old.expiresAt > overlapEnds) old.expiresAt = overlapEnds;
  const { key, secret } = await issueKey(em, { ...caller, scopes: null }, origin, {
    role: old.role, partyId: old.partyId, label: old.label, scopes: old.scopes ?? undefined, expiresInDays: body.expiresInDays,
    rateLimitPerMinute: old.rateLimitPerMinute ?? null, rotatedFrom: old.id,
  });
  return { key, secret, previous: old };
}

export async function revokeKey(em: EntityManager, caller: Principal, origin: AuditOrigin, k: ApiClient, reason: string) {
  if (k.revokedAt) return k; // revoking twice changes nothing and says so by the unchanged revokedAt
  k.revokedAt = new Date();
  k.revokedReason = reason;
  audit(em, null, { action: 'api_key_revoked', actor: actorOf(caller), origin, data: { keyId: k.id, prefix: k.keyPrefix ?? null, role: k.role, partyId: k.partyId, reason } });
  await em.flush();
  return k;
}
