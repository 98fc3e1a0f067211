// Authentication: every party presents its API key as a bearer token; only the key's SHA-256 is stored.
// Authorisation per route is by role (requireRole); tenant scoping is done where the resource is loaded.
import { createHash } from 'node:crypto';
import type { Middleware } from 'koa';
import type { MikroORM } from '@mikro-orm/postgresql';
import { ApiClientSchema } from '../db/entities';
import type { Role } from '../domain/types';
import { ApiError } from './errors';

export interface Principal { role: Role; partyId: string; label: string }

export const hashKey = (key: string) => createHash('sha256').update(key, 'utf8').digest('hex');

export function authenticate(orm: MikroORM): Middleware {
  return async (ctx, next) => {
    const header = ctx.get('authorization');
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw new ApiError(401, 'UNAUTHENTICATED', 'send your API key as "Authorization: Bearer <key>"');
    const client = await orm.em.fork().findOne(ApiClientSchema, { keyHash: hashKey(match[1]) });
    if (!client) throw new ApiError(401, 'UNAUTHENTICATED', 'unknown API key');
    ctx.state.principal = { role: client.role, partyId: client.partyId, label: client.label } satisfies Principal;
    await next();
  };
}

export function requireRole(...roles: Role[]): Middleware {
  return async (ctx, next) => {
    const p = ctx.state.principal as Principal;
    if (!roles.includes(p.role)) throw new ApiError(403, 'FORBIDDEN', `this action needs the role ${roles.join(' or ')}; you are ${p.role}`);
    await next();
  };
}
