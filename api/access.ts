// Authorisation: a route declares its action with `authorize(action)`; the policy table (domain/policy.ts)
// says whether the caller's role may take it at all (else 403) and with which scope; the resource loaders
// (visiblePrescription, the order/delivery/hospital loaders) apply that scope and answer 404 for what is
// out of reach, exactly as for what does not exist, so another tenant's ids leak nothing.
import type { Context, Middleware } from 'koa';
import { ACTIONS, scopeFor, withinScope, type Action, type Scope } from '../domain/policy';
import type { Principal } from './auth';
import { ApiError } from './errors';
import { collectAccess, PERSON_ROLES, type AccessRecorder } from './access-log';

/** The middleware carries its action, so the access matrix test can read which action a route declares. */
export type AuthorizeMiddleware = Middleware & { action: Action };

export function authorize(action: Action): AuthorizeMiddleware {
  if (!(action in ACTIONS)) throw new Error(`unknown action ${action}: add it to domain/policy.ts`);
  const mw = (async (ctx, next) => {
    const p = ctx.state.principal as Principal | undefined;
    if (!p) throw new ApiError(401, 'UNAUTHENTICATED', 'send your API key as "Authorization: Bearer <key>"');
    const scope = scopeFor(p.role, action);
    if (!scope) {
      throw new ApiError(403, 'FORBIDDEN', `the role ${p.role} may not ${ACTIONS[action].description} (${action})`,
        [{ path: '$.action', code: 'not_permitted', message: action }]);
    }
    // A scoped key takes only the actions it was issued for, whatever its role may do.
    if (p.scopes && !p.scopes.includes(action)) {
      throw new ApiError(403, 'SCOPE_MISSING', `this API key is not scoped for ${action} (${ACTIONS[action].description}); its scopes: ${p.scopes.join(', ')}`,
        [{ path: '$.headers.Authorization', code: 'scope_missing', message: action }]);
    }
    ctx.state.action = action;
    ctx.state.scope = scope;
    const record = (ctx as { recordAccess?: AccessRecorder }).recordAccess;
    if (ACTIONS[action].writes || !PERSON_ROLES.has(p.role) || !record) return next();
    // A person's read: the prescriptions it reached are audit events (api/access-log.ts).
    const ids = await collectAccess(next);
    if (ids.length && ctx.status >= 200 && ctx.status < 300) await record(ctx, action, ids);
  }) as AuthorizeMiddleware;
  mw.action = action;
  return mw;
}

/** The scope of the caller for an action (null: never). */
export const scopeOf = (principal: Principal, action: Action): Scope | null => scopeFor(principal.role, action);

/** Whether the caller may take an action at all (for capabilities inside a route, e.g. review.reassign). */
export const can = (principal: Principal, action: Action): boolean => scopeOf(principal, action) !== null && (!principal.scopes || principal.scopes.includes(action));

/** The scope the route's authorize() settled, or the one for `action` when a loader is called elsewhere. */
export function routeScope(ctx: Context, fallback: Action): Scope | null {
  return (ctx.state.scope as Scope | undefined) ?? scopeOf(ctx.state.principal as Principal, fallback);
}

/** For loaders of resources owned by one party (order → pharmacy, delivery → courier, event → hospital). */
export function inScope(principal: Principal, action: Action, ownerId: string | null | undefined): boolean {
  return withinScope(scopeOf(principal, action), principal.partyId, ownerId);
}

export interface RouteInfo { method: string; path: string; key: string; action: Action | null }

/**
 * Every route the app's routers serve, with the action it declares (null: none). Read from the routers
 * themselves, so a route added anywhere shows up here; the access matrix test and docs use it.
 */
export function listRoutes(app: { middleware: unknown[] }): RouteInfo[] {
  const out: RouteInfo[] = [];
  for (const mw of app.middleware as { router?: { stack: { methods: string[]; path: string | RegExp; stack: ((...a: unknown[]) => unknown)[] }[] } }[]) {
    for (const layer of mw.router?.stack ?? []) {
      const action = (layer.stack.find((f) => typeof (f as Partial<AuthorizeMiddleware>).action === 'string') as AuthorizeMiddleware | undefined)?.action ?? null;
      for (const method of layer.methods.filter((m) => m !== 'HEAD')) {
        const path = String(layer.path);
        out.push({ method, path, key: `${method} ${path}`, action });
      }
    }
  }
  return out;
}
