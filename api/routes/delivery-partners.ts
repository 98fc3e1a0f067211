// Operators register delivery partners (docs/delivery.md): service area, capabilities, the adapter's
// endpoint, promised windows; the partner's API key and HMAC secret are shown once, when made. Secrets
// rotate with an overlap (the previous one verifies for RX_PARTNER_SECRET_OVERLAP_MS). Auditors read the
// registry. Every change is an audit event (no secret in it).
import Router from '@koa/router';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { ApiDeps } from '../app';
import type { Principal } from '../auth';
import { authorize } from '../access';
import { ApiError, notFound } from '../errors';
import { requestOrigin } from '../origin';
import { audit } from '../../activities/audit';
import { DeliveryPartnerSchema, type DeliveryPartner } from '../../db/entities';
import { issueKey } from '../api-keys';
import { PARTNER_CAPABILITIES } from '../../domain/delivery';
import { loadPartnerConfig, newPartnerSecret, rotatePartnerSecrets } from '../../engine/partner-config';
import { secretsView } from '../../engine/signing-secrets';

const Minutes = z.number().int().min(1).max(7 * 24 * 60);
const Area = z.object({
  regions: z.array(z.string().regex(/^\d{6}(\d{3}){0,2}$/, 'an administrative division code of 6 digits, e.g. 330100')).max(200).optional(),
  centre: z.object({ lat: z.number().min(-90).max(90), lng: z.number().min(-180).max(180) }).optional(),
  radiusKm: z.number().positive().max(500).optional(),
}).strict().refine((a) => (a.centre === undefined) === (a.radiusKm === undefined), { message: 'a centre needs a radiusKm, and a radiusKm a centre' })
  .refine((a) => (a.regions?.length ?? 0) > 0 || a.centre !== undefined, { message: 'name at least one region or a centre with a radius' });
const Endpoint = z.url({ protocol: /^https?$/ }).max(500).nullable();
const Windows = z.object({ standard: Minutes.optional(), ...Object.fromEntries(PARTNER_CAPABILITIES.map((c) => [c, Minutes.optional()])) as Record<(typeof PARTNER_CAPABILITIES)[number], z.ZodOptional<typeof Minutes>> }).strict();

export const PartnerBody = z.object({
  code: z.string().regex(/^[A-Z0-9][A-Z0-9_-]{1,39}$/, 'upper-case letters, digits, _ and -, 2–40'),
  name: z.string().min(1).max(120),
  serviceArea: Area,
  capabilities: z.array(z.enum(PARTNER_CAPABILITIES)).max(PARTNER_CAPABILITIES.length).default([]),
  endpointUrl: Endpoint.default(null),
  promisedMinutes: Windows,
  fullPhone: z.boolean().default(false),
  active: z.boolean().default(true),
}).refine((b) => b.capabilities.every((c) => b.promisedMinutes[c] !== undefined) && b.promisedMinutes.standard !== undefined,
  { message: 'promise a window (minutes) for standard delivery and for every capability', path: ['promisedMinutes'] });
export const PartnerPatch = z.object({
  name: z.string().min(1).max(120).optional(),
  serviceArea: Area.optional(),
  capabilities: z.array(z.enum(PARTNER_CAPABILITIES)).max(PARTNER_CAPABILITIES.length).optional(),
  endpointUrl: Endpoint.optional(),
  promisedMinutes: Windows.optional(),
  fullPhone: z.boolean().optional(),
  active: z.boolean().optional(),
}).strict();

/** The registry row as operators see it: never a secret, only which secrets are active until when. */
export function partnerView(p: DeliveryPartner) {
  return {
    code: p.code, name: p.name, active: p.active, serviceArea: p.serviceArea, capabilities: p.capabilities, endpointUrl: p.endpointUrl,
    promisedMinutes: p.promisedMinutes, fullPhone: p.fullPhone,
    secrets: secretsView(p.secrets),
    updatedAt: p.updatedAt,
  };
}

export function deliveryPartnerRoutes(deps: ApiDeps): Router {
  const r = new Router();
  const actorOf = (ctx: { state: { principal: Principal } }) => `${ctx.state.principal.role}:${ctx.state.principal.label}`;
  const record = (t: EntityManager, ctx: any, action: string, data: Record<string, unknown>) =>
    audit(t, null, { action, actor: actorOf(ctx), origin: requestOrigin(ctx), data });
  const byCode = async (t: EntityManager, code: string) => {
    const p = await t.findOne(DeliveryPartnerSchema, { code: String(code) });
    if (!p) throw notFound('delivery partner');
    return p;
  };

  r.get('/v1/ops/delivery-partners', authorize('partner.read'), async (ctx) => {
    const items = await deps.orm.em.fork().find(DeliveryPartnerSchema, {}, { orderBy: { code: 'asc' } });
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { items: items.map(partnerView) };
  });

  // Registration: the partner's API key and signing secret, each shown this once.
  r.post('/v1/ops/delivery-partners', authorize('partner.manage'), async (ctx) => {
    const b = PartnerBody.parse(ctx.request.body ?? {});
    const secret = newPartnerSecret();
    const { p: partner, apiKey } = await deps.orm.em.fork().transactional(async (t) => {
      if (await t.findOne(DeliveryPartnerSchema, { code: b.code })) throw new ApiError(409, 'PARTNER_EXISTS', `a delivery partner ${b.code} is registered already`, [{ path: '$.code', message: b.code }]);
      const p = t.create(DeliveryPartnerSchema, {
        id: randomUUID(), code: b.code, name: b.name, serviceArea: b.serviceArea, capabilities: b.capabilities, endpointUrl: b.endpointUrl, promisedMinutes: b.promisedMinutes,
        fullPhone: b.fullPhone, active: b.active, coldChain: b.capabilities.includes('cold_chain'), sameDay: b.capabilities.includes('same_day'),
        secrets: rotatePartnerSecrets([], secret, 0),
      } as never);
      record(t as EntityManager, ctx, 'partner_registered', { code: b.code, capabilities: b.capabilities, endpoint: b.endpointUrl !== null, fullPhone: b.fullPhone });
      // The partner's first API key, issued like any other (api/api-keys.ts): rotated and revoked the same way.
      const { secret: apiKey } = await issueKey(t as EntityManager, ctx.state.principal as Principal, requestOrigin(ctx), { role: 'courier', partyId: p.id, label: b.code });
      return { p, apiKey };
    });
    ctx.status = 201;
    ctx.body = { partner: partnerView(partner), apiKey, secret };
  });

  r.patch('/v1/ops/delivery-partners/:code', authorize('partner.manage'), async (ctx) => {
    const partner = await deps.orm.em.fork().transactional(async (t) => {
      const p = await byCode(t as EntityManager, ctx.params.code);
      const b = PartnerPatch.parse(ctx.request.body ?? {});
      const caps = b.capabilities ?? p.capabilities;
      const windows = b.promisedMinutes ?? p.promisedMinutes;
      const missing = caps.filter((c) => windows[c] === undefined);
      if (missing.length) throw new ApiError(400, 'VALIDATION_FAILED', 'promise a window (minutes) for every capability', missing.map((c) => ({ path: `$.promisedMinutes.${c}`, message: 'required' })));
      Object.assign(p, b, { coldChain: caps.includes('cold_chain'), sameDay: caps.includes('same_day') });
      record(t as EntityManager, ctx, 'partner_updated', { code: p.code, changed: Object.keys(b) });
      return p;
    });
    ctx.body = { partner: partnerView(partner) };
  });

  // Deactivated partners get no new deliveries; the ones they carry go on (their updates are still taken).
  r.post('/v1/ops/delivery-partners/:code/deactivate', authorize('partner.manage'), async (ctx) => {
    const partner = await deps.orm.em.fork().transactional(async (t) => {
      const p = await byCode(t as EntityManager, ctx.params.code);
      if (p.active) record(t as EntityManager, ctx, 'partner_deactivated', { code: p.code });
      p.active = false;
      return p;
    });
    ctx.body = { partner: partnerView(partner) };
  });

  // A new secret, shown once; the previous one keeps verifying until the overlap ends.
  r.post('/v1/ops/delivery-partners/:code/secret/rotate', authorize('partner.manage'), async (ctx) => {
    const secret = newPartnerSecret();
    const { rotationOverlapMs } = loadPartnerConfig();
    const partner = await deps.orm.em.fork().transactional(async (t) => {
      const p = await byCode(t as EntityManager, ctx.params.code);
      p.secrets = rotatePartnerSecrets(p.secrets, secret, rotationOverlapMs);
      record(t as EntityManager, ctx, 'partner_secret_rotated', { code: p.code, secret: p.secrets[0].id, overlapMs: rotationOverlapMs });
      return p;
    });
    ctx.body = { partner: partnerView(partner), secret };
  });

  return r;
}
