// The hospital key registry over HTTP: a hospital manages its own keys under /v1/hospital/signing-keys;
// the operator manages any hospital's under /v1/hospitals/:code/signing-keys. A hospital never sees another
// hospital's keys (it has no route that names one).
import Router from '@koa/router';
import type { Context } from 'koa';
import type { EntityManager } from '@mikro-orm/postgresql';
import { HospitalSchema, HospitalSigningKeySchema } from '../../db/entities';
import type { Principal } from '../auth';
import { authorize } from '../access';
import { notFound } from '../errors';
import { keyView, registerKey, RegisterKeyBody, revokeKey, RevokeKeyBody } from '../signing-keys';
import type { ApiDeps } from '../app';

export function signingKeyRoutes(deps: ApiDeps): Router {
  const r = new Router();
  const em = () => deps.orm.em.fork() as EntityManager;
  const actor = (ctx: Context) => {
    const p = ctx.state.principal as Principal;
    return `${p.role}:${p.label}`;
  };

  /** The hospital the request is about: the caller itself, or the one the operator names by code. */
  async function hospitalOf(ctx: Context): Promise<{ id: string; code: string }> {
    const p = ctx.state.principal as Principal;
    // /v1/hospital/... is the caller's own (signing_key.manage); /v1/hospitals/:code/... names any (signing_key.admin).
    const h = ctx.params.code === undefined
      ? await em().findOne(HospitalSchema, { id: p.partyId })
      : await em().findOne(HospitalSchema, { code: String(ctx.params.code) });
    if (!h) throw notFound('hospital');
    return { id: h.id, code: h.code };
  }

  const list = async (ctx: Context) => {
    const h = await hospitalOf(ctx);
    const keys = await em().find(HospitalSigningKeySchema, { hospitalId: h.id }, { orderBy: { createdAt: 'asc', keyId: 'asc' } });
    const now = new Date();
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { hospital: { code: h.code }, items: keys.map((k) => keyView(k, now)) };
  };
  const register = async (ctx: Context) => {
    const h = await hospitalOf(ctx);
    const body = RegisterKeyBody.parse(ctx.request.body ?? {});
    const key = await registerKey(em(), h.id, body, actor(ctx));
    ctx.status = 201;
    ctx.body = { hospital: { code: h.code }, key: keyView(key) };
  };
  const revoke = async (ctx: Context) => {
    const h = await hospitalOf(ctx);
    const body = RevokeKeyBody.parse(ctx.request.body ?? {});
    const key = await revokeKey(em(), h.id, String(ctx.params.keyId), body.reason, actor(ctx));
    ctx.body = { hospital: { code: h.code }, key: keyView(key) };
  };

  r.get('/v1/hospital/signing-keys', authorize('signing_key.manage'), list);
  r.post('/v1/hospital/signing-keys', authorize('signing_key.manage'), register);
  r.post('/v1/hospital/signing-keys/:keyId/revoke', authorize('signing_key.manage'), revoke);

  r.get('/v1/hospitals/:code/signing-keys', authorize('signing_key.admin'), list);
  r.post('/v1/hospitals/:code/signing-keys', authorize('signing_key.admin'), register);
  r.post('/v1/hospitals/:code/signing-keys/:keyId/revoke', authorize('signing_key.admin'), revoke);

  return r;
}
