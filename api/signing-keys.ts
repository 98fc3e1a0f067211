// The hospital key registry (docs/signing.md): which public keys verify a hospital's prescriptions. Intake
// reads it; the routes in routes/signing-keys.ts let a hospital (its own keys) and the operator (any
// hospital's) list, register and revoke keys. Registration and revocation leave an audit event.
import type { EntityManager } from '@mikro-orm/postgresql';
import { LockMode, UniqueConstraintViolationException } from '@mikro-orm/core';
import { z } from 'zod';
import { HospitalSigningKeySchema, type HospitalSigningKey } from '../db/entities';
import { inspectPublicKey, SIGNATURE_ALGS, SM2_DEFAULT_SIGNER_ID, type RegisteredKey, type SignatureAlg } from '../domain/signature';
import { audit } from '../activities/audit';
import { ApiError } from './errors';

/** The keys intake verifies against; revoked ones included, so a push with one is told it was revoked. */
export async function registeredKeys(em: EntityManager, hospitalId: string, at = new Date()): Promise<RegisteredKey[]> {
  const rows = await em.find(HospitalSigningKeySchema, { hospitalId });
  return rows.map((k) => ({
    keyId: k.keyId, alg: k.alg, publicKeyPem: k.publicKeyPem, signerId: k.signerId,
    validFrom: k.validFrom.toISOString(), validTo: k.validTo.toISOString(),
    revoked: k.revokedAt !== null && k.revokedAt <= at,
  }));
}

export type KeyStatus = 'active' | 'scheduled' | 'expired' | 'revoked';

export function keyStatus(k: Pick<HospitalSigningKey, 'validFrom' | 'validTo' | 'revokedAt'>, at = new Date()): KeyStatus {
  if (k.revokedAt) return 'revoked';
  if (at < k.validFrom) return 'scheduled';
  if (at > k.validTo) return 'expired';
  return 'active';
}

export function keyView(k: HospitalSigningKey, at = new Date()) {
  return {
    keyId: k.keyId, alg: k.alg, status: keyStatus(k, at), fingerprint: k.fingerprint,
    signerId: k.alg === 'SM2-SM3' ? (k.signerId ?? SM2_DEFAULT_SIGNER_ID) : null,
    validFrom: k.validFrom, validTo: k.validTo,
    revokedAt: k.revokedAt, revokedReason: k.revokedReason, revokedBy: k.revokedBy,
    registeredBy: k.registeredBy, createdAt: k.createdAt, publicKeyPem: k.publicKeyPem,
  };
}

const isoDateTime = z.iso.datetime({ offset: true });

export const RegisterKeyBody = z.object({
  /** What the HIS puts in signature.keyId; derived from the fingerprint when omitted. */
  keyId: z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/, 'letters, digits and . _ : - only, at most 64').optional(),
  alg: z.enum(SIGNATURE_ALGS),
  publicKeyPem: z.string().min(40).max(8000),
  validFrom: isoDateTime.optional(),
  validTo: isoDateTime,
  signerId: z.string().min(1).max(64).optional(),
}).superRefine((b, ctx) => {
  const from = b.validFrom ? new Date(b.validFrom) : new Date();
  if (new Date(b.validTo) <= new Date()) ctx.addIssue({ code: 'custom', path: ['validTo'], message: 'validTo is in the past: the key could never be used' });
  else if (new Date(b.validTo) <= from) ctx.addIssue({ code: 'custom', path: ['validTo'], message: 'validTo must be after validFrom' });
  if (b.signerId !== undefined && b.alg !== 'SM2-SM3') ctx.addIssue({ code: 'custom', path: ['signerId'], message: 'a signer ID belongs to SM2 keys only' });
});
export type RegisterKey = z.infer<typeof RegisterKeyBody>;

export const RevokeKeyBody = z.object({ reason: z.string().min(1).max(200) });

export async function registerKey(em: EntityManager, hospitalId: string, body: RegisterKey, actor: string): Promise<HospitalSigningKey> {
  const checked = inspectPublicKey(body.publicKeyPem, body.alg as SignatureAlg);
  if (!checked.ok) throw new ApiError(422, checked.code, checked.message, [{ path: '$.publicKeyPem', code: checked.code, message: checked.message }]);
  const keyId = body.keyId ?? `${body.alg === 'ES256' ? 'es256' : 'sm2'}-${checked.fingerprint.slice(0, 16)}`;

  const existing = await em.find(HospitalSigningKeySchema, { hospitalId, $or: [{ keyId }, { fingerprint: checked.fingerprint }] });
  const conflict = () => {
    const same = existing.find((k) => k.keyId === keyId);
    if (same) return new ApiError(409, 'SIGNING_KEY_EXISTS', `key id ${keyId} is already registered${same.revokedAt ? ' (revoked; key ids are never reused)' : ''}`, [{ path: '$.keyId', message: 'choose another key id' }]);
    const dup = existing.find((k) => k.fingerprint === checked.fingerprint)!;
    return new ApiError(409, 'SIGNING_KEY_DUPLICATE', `this public key is already registered as ${dup.keyId}${dup.revokedAt ? ' and was revoked; generate a new key pair' : ''}`, [{ path: '$.publicKeyPem', message: 'register a new key pair instead' }]);
  };
  if (existing.length) throw conflict();

  try {
    return await em.transactional(async (t) => {
      const row = t.create(HospitalSigningKeySchema, {
        hospitalId, keyId, alg: body.alg, publicKeyPem: checked.publicKeyPem, fingerprint: checked.fingerprint,
        signerId: body.alg === 'SM2-SM3' && body.signerId && body.signerId !== SM2_DEFAULT_SIGNER_ID ? body.signerId : null,
        validFrom: body.validFrom ? new Date(body.validFrom) : new Date(), validTo: new Date(body.validTo),
        revokedAt: null, revokedReason: null, revokedBy: null, registeredBy: actor,
      } as never);
      audit(t, null, { action: 'signing_key_registered', actor, data: { hospitalId, keyId, alg: body.alg, fingerprint: checked.fingerprint, validFrom: row.validFrom, validTo: row.validTo } });
      return row;
    });
  } catch (e) {
    // A concurrent registration of the same id or key won the race: answer as if it had been first.
    if (e instanceof UniqueConstraintViolationException) {
      existing.push(...await em.fork().find(HospitalSigningKeySchema, { hospitalId, $or: [{ keyId }, { fingerprint: checked.fingerprint }] }));
      throw conflict();
    }
    throw e;
  }
}

/** Revokes at once; revoking a revoked key answers the first revocation unchanged. */
export async function revokeKey(em: EntityManager, hospitalId: string, keyId: string, reason: string, actor: string): Promise<HospitalSigningKey> {
  return em.transactional(async (t) => {
    const key = await t.findOne(HospitalSigningKeySchema, { hospitalId, keyId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
    if (!key) throw new ApiError(404, 'NOT_FOUND', `signing key ${keyId} not found`);
    if (key.revokedAt) return key;
    key.revokedAt = new Date();
    key.revokedReason = reason;
    key.revokedBy = actor;
    audit(t, null, { action: 'signing_key_revoked', actor, data: { hospitalId, keyId, alg: key.alg, fingerprint: key.fingerprint, reason } });
    return key;
  });
}
