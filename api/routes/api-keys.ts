// API keys over HTTP (docs/security.md "API keys"): a hospital, pharmacy or delivery partner lists and
// issues its own keys and rotates or revokes them; the operator lists anyone's, issues a key for a party,
// and rotates or revokes any key. Keys of another party answer 404, as if they did not exist.
import Router from '@koa/router';
import type { Context } from 'koa';
import type { EntityManager } from '@mikro-orm/postgresql';
import { ApiClientSchema } from '../../db/entities';
import type { Principal } from '../auth';
import { authorize, routeScope } from '../access';
import { requestOrigin } from '../origin';
import {
  AdminIssueKeyBody, apiKeyView, issueKey, IssueKeyBody, manageableKey, partyOf, revokeKey, RevokeKeyBody, rotateKey, RotateKeyBody,
} from '../api-keys';
import type { ApiDeps } from '../app';
import { ROLES } from '../../domain/policy';

export function apiKeyRoutes(deps: ApiDeps): Router {
  const r = new Router();
  const principal = (ctx: Context) => ctx.state.principal as Principal;
  const noStore = (ctx: Context) => ctx.set('Cache-Control', 'no-store');

  r.get('/v1/keys', authorize('api_key.manage'), async (ctx) => {
    const p = principal(ctx);
    const keys = await deps.orm.em.fork().find(ApiClientSchema, { partyId: p.partyId, role: p.role }, { orderBy: { createdAt: 'asc' } });
    noStore(ctx);
    ctx.body = { items: keys.map((k) => ({ ...apiKeyView(k), current: k.id === p.clientId })) };
  });

  r.post('/v1/keys', authorize('api_key.manage'), async (ctx) => {
    const p = principal(ctx);
    const body = IssueKeyBody.parse(ctx.request.body ?? {});
    const em = deps.orm.em.fork() as EntityManager;
    const { key, secret } = await em.transactional((t) => issueKey(t as EntityManager, p, requestOrigin(ctx), { ...body, role: p.role, partyId: p.partyId }));
    noStore(ctx);
    ctx.status = 201;
    ctx.body = { key: apiKeyView(key), secret };
  });

  // Load the key (404 if out of reach) before reading the body, as the other resource routes do.
  r.post('/v1/keys/:keyId/rotate', authorize('api_key.rotate'), async (ctx) => {
    const p = principal(ctx);
    const out = await (deps.orm.em.fork() as EntityManager).transactional(async (t) => {
      const old = await manageableKey(t as EntityManager, p, ctx.params.keyId, routeScope(ctx, 'api_key.rotate') === 'any');
      return rotateKey(t as EntityManager, p, requestOrigin(ctx), old, RotateKeyBody.parse(ctx.request.body ?? {}));
    });
    noStore(ctx);
    ctx.status = 201;
    ctx.body = { key: apiKeyView(out.key), secret: out.secret, previous: apiKeyView(out.previous) };
  });

  r.post('/v1/keys/:keyId/revoke', authorize('api_key.rotate'), async (ctx) => {
    const p = principal(ctx);
    const k = await (deps.orm.em.fork() as EntityManager).transactional(async (t) => {
      const key = await manageableKey(t as EntityManager, p, ctx.params.keyId, routeScope(ctx, 'api_key.rotate') === 'any');
      return revokeKey(t as EntityManager, p, requestOrigin(ctx), key, RevokeKeyBody.parse(ctx.request.body ?? {}).reason);
    });
    ctx.body = { key: apiKeyView(k) };
  });

  r.get('/v1/ops/keys', authorize('api_key.admin'), async (ctx) => {
    const role = typeof ctx.query.role === 'string' && (ROLES as readonly string[]).includes(ctx.query.role) ? ctx.query.role : undefined;
    const em = deps.orm.em.fork() as EntityManager;
    const party = role && typeof ctx.query.party === 'string' ? await partyOf(em, role as never, ctx.query.party) : undefined;
    const keys = await em.find(ApiClientSchema, { ...(role ? { role: role as never } : {}), ...(party ? { partyId: party } : {}) }, { orderBy: { createdAt: 'asc' }, limit: 1000 });
    noStore(ctx);
    ctx.body = { items: keys.map((k) => ({ ...apiKeyView(k), partyId: k.partyId })) };
  });

  r.post('/v1/ops/keys', authorize('api_key.admin'), async (ctx) => {
    const p = principal(ctx);
    const body = AdminIssueKeyBody.parse(ctx.request.body ?? {});
    const em = deps.orm.em.fork() as EntityManager;
    const { key, secret } = await em.transactional(async (t) => issueKey(t as EntityManager, p, requestOrigin(ctx), {
      role: body.role, partyId: await partyOf(t as EntityManager, body.role, body.party), label: body.label,
      scopes: body.scopes, expiresInDays: body.expiresInDays, rateLimitPerMinute: body.rateLimitPerMinute ?? null,
    }));
    noStore(ctx);
    ctx.status = 201;
    ctx.body = { key: { ...apiKeyView(key), partyId: key.partyId }, secret };
  });

  return r;
}
