// Reads by a person are audit events (docs/audit.md "Access by a person"): when a pharmacist, lead
// pharmacist, operator or auditor reads a prescription through any route — the JSON API, the review
// queue, FHIR, the slip — a `record_accessed` event says who, from where, through which route and action.
// Systems (hospitals, pharmacies, couriers) read their own work all day and are not logged per read.
// The loader every prescription read goes through (visiblePrescription) notes the id in the request's
// async context; authorize() writes the events once the route answered 2xx, before the body leaves. One
// event per person, prescription and route per window (RX_ACCESS_AUDIT_WINDOW_MS, default 5 min) per API
// process, so a console refreshing a page does not flood the trail.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Context } from 'koa';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { audit } from '../activities/audit';
import type { Role } from '../domain/types';
import type { Principal } from './auth';
import { requestOrigin } from './origin';

export const PERSON_ROLES: ReadonlySet<Role> = new Set<Role>(['pharmacist', 'lead_pharmacist', 'operator', 'auditor']);

const accessed = new AsyncLocalStorage<Set<string>>();

/** Called by loaders when a read reached a prescription; outside a logged read it does nothing. */
export function noteAccess(prescriptionId: string): void {
  accessed.getStore()?.add(prescriptionId);
}

export type AccessRecorder = (ctx: Context, action: string, prescriptionIds: string[]) => Promise<void>;

/** Runs `next` with a fresh set of accessed prescriptions and returns them. */
export async function collectAccess(next: () => Promise<unknown>): Promise<string[]> {
  const seen = new Set<string>();
  await accessed.run(seen, next);
  return [...seen];
}

export function accessRecorder(orm: MikroORM, windowMs = Number(process.env.RX_ACCESS_AUDIT_WINDOW_MS ?? 300_000)): AccessRecorder {
  const last = new Map<string, number>();
  return async (ctx, action, ids) => {
    const p = ctx.state.principal as Principal;
    const actor = `${p.role}:${p.label}`;
    const now = Date.now();
    const route = `${ctx.method} ${(ctx as { _matchedRoute?: string })._matchedRoute ?? ctx.path}`;
    const due = ids.filter((id) => {
      const k = `${actor}|${id}|${route}`;
      if (now - (last.get(k) ?? -Infinity) < windowMs) return false;
      last.set(k, now);
      return true;
    });
    if (last.size > 50_000) for (const [k, t] of last) if (now - t >= windowMs) last.delete(k);
    if (!due.length) return;
    await orm.em.fork().transactional(async (t) => {
      for (const id of due) audit(t as EntityManager, id, { action: 'record_accessed', actor, origin: requestOrigin(ctx), data: { action, route, via: p.via ?? 'api_key' } });
    });
  };
}
