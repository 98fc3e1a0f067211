// Request signing of hospital systems over HTTP (docs/signing.md, "Request signing"): a hospital reads its
// mode and secret ids and rotates its own secret under /v1/hospital/request-signing; an operator does the
// same for any hospital by code under /v1/ops/hospitals/:code/request-signing, and alone sets the mode.
// A new secret is answered once; rxflow keeps it sealed. Every rotation and mode change is an audit event
// without the secret.
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { LockMode, type EntityManager } from '@mikro-orm/postgresql';
import { HospitalSchema, type Hospital } from '../../db/entities';
import { audit } from '../../activities/audit';
import {
  activeSigningSecrets, HOSPITAL_SECRETS, loadHospitalSigningConfig, newSigningSecret, rotateSigningSecrets, secretsView, SIGNING_MODES,
} from '../../engine/signing-secrets';
import type { Principal } from '../auth';
import { authorize } from '../access';
import { ApiError, notFound } from '../errors';
import { requestOrigin } from '../origin';
import type { ApiDeps } from '../app';

export const RotateRequestSecretBody = z.object({
  /** How long the previous secret keeps verifying; 0 drops it at once (it leaked). Default RX_HOSPITAL_SECRET_OVERLAP_MS. */
  overlapSeconds: z.number().int().min(0).max(7 * 24 * 3600).optional(),
}).strict();
export const RequestSigningModeBody = z.object({
  /** null: back to the engine's default (RX_HOSPITAL_REQUEST_SIGNING). */
  mode: z.enum(SIGNING_MODES).nullable(),
}).strict();

export function requestSigningView(h: Hospital, now = Date.now()) {
  const cfg = loadHospitalSigningConfig();
  return {
    hospital: { code: h.code }, mode: h.requestSigning ?? null, effectiveMode: h.requestSigning ?? cfg.defaultMode, defaultMode: cfg.defaultMode,
    toleranceSeconds: cfg.toleranceSeconds, secrets: secretsView(h.requestSecrets, now),
  };
}

export function requestSigningRoutes(deps: ApiDeps): Router {
  const r = new Router();
  const actor = (ctx: Context) => `${(ctx.state.principal as Principal).role}:${(ctx.state.principal as Principal).label}`;

  /** The hospital the request is about, locked for a change: the caller itself, or the one the operator names. */
  async function hospitalOf(ctx: Context, t: EntityManager, lock = false): Promise<Hospital> {
    const where = ctx.params.code === undefined ? { id: (ctx.state.principal as Principal).partyId } : { code: String(ctx.params.code) };
    const h = await t.findOne(HospitalSchema, where, lock ? { lockMode: LockMode.PESSIMISTIC_WRITE } : {});
    if (!h) throw notFound('hospital');
    return h;
  }

  const read = async (ctx: Context) => {
    const h = await hospitalOf(ctx, deps.orm.em.fork() as EntityManager);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = requestSigningView(h);
  };

  // A new secret, shown this once; the previous one keeps verifying until the overlap ends.
  const rotate = async (ctx: Context) => {
    const secret = newSigningSecret(HOSPITAL_SECRETS);
    const h = await (deps.orm.em.fork() as EntityManager).transactional(async (t) => {
      const h = await hospitalOf(ctx, t, true);
      const b = RotateRequestSecretBody.parse(ctx.request.body ?? {});
      const overlapMs = b.overlapSeconds !== undefined ? b.overlapSeconds * 1000 : loadHospitalSigningConfig().rotationOverlapMs;
      h.requestSecrets = rotateSigningSecrets(HOSPITAL_SECRETS, h.requestSecrets, secret, overlapMs);
      audit(t, null, {
        action: 'hospital_request_secret_rotated', actor: actor(ctx), origin: requestOrigin(ctx),
        data: { hospital: h.code, secret: h.requestSecrets[0].id, previous: h.requestSecrets[1]?.id ?? null, previousUntil: h.requestSecrets[1]?.expiresAt ?? null },
      });
      return h;
    });
    ctx.status = 201;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { ...requestSigningView(h), secret, secretId: h.requestSecrets![0].id };
  };

  const setMode = async (ctx: Context) => {
    const h = await (deps.orm.em.fork() as EntityManager).transactional(async (t) => {
      const h = await hospitalOf(ctx, t, true);
      const { mode } = RequestSigningModeBody.parse(ctx.request.body ?? {});
      // Required without a secret would refuse every request of the hospital, its own rotation included.
      const effective = mode ?? loadHospitalSigningConfig().defaultMode;
      if (effective === 'required' && !activeSigningSecrets(h.requestSecrets).length) {
        throw new ApiError(409, 'REQUEST_SECRET_MISSING', `hospital ${h.code} has no active request-signing secret: rotate one (and give it to the hospital) before requiring signatures`,
          [{ path: '$.mode', code: 'no_secret', message: 'POST /v1/ops/hospitals/:code/request-signing/rotate first' }]);
      }
      if ((h.requestSigning ?? null) !== mode) {
        audit(t, null, { action: 'hospital_request_signing_set', actor: actor(ctx), origin: requestOrigin(ctx), data: { hospital: h.code, from: h.requestSigning ?? null, to: mode } });
      }
      h.requestSigning = mode;
      return h;
    });
    ctx.body = requestSigningView(h);
  };

  r.get('/v1/hospital/request-signing', authorize('request_signing.manage'), read);
  r.post('/v1/hospital/request-signing/rotate', authorize('request_signing.manage'), rotate);

  r.get('/v1/ops/hospitals/:code/request-signing', authorize('request_signing.admin'), read);
  r.put('/v1/ops/hospitals/:code/request-signing', authorize('request_signing.admin'), setMode);
  r.post('/v1/ops/hospitals/:code/request-signing/rotate', authorize('request_signing.admin'), rotate);

  return r;
}
