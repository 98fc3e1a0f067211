// Hospital callbacks: a hospital registers its endpoint and rotates its signing secret; hospitals see
// their own deliveries and ask for redelivery; operators see every endpoint and delivery.
import Router from '@koa/router';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { EntityManager } from '@mikro-orm/postgresql';
import { HospitalSchema } from '../../db/entities';
import { markForDelivery } from '../../activities/hospital-events';
import { activeSecrets, type StoredSecret } from '../../activities/webhooks';
import { newSecret, sealSecret, webhookConfig } from '../../engine/webhook-config';
import { attemptTimesMs } from '../../domain/hospital-events';
import type { Principal } from '../auth';
import { authorize, inScope } from '../access';
import { ApiError } from '../errors';
import type { ApiDeps } from '../app';

const MAX_OVERLAP_S = 7 * 24 * 3600;

const UrlBody = z.object({
  url: z.string().max(500).refine((u) => {
    try {
      const p = new URL(u);
      return (p.protocol === 'https:' || (p.protocol === 'http:' && !webhookConfig().httpsOnly)) && !p.username && !p.password && !p.hash;
    } catch { return false; }
  }, { message: 'an absolute https URL (http only where RX_WEBHOOK_HTTPS_ONLY is off), without credentials or fragment' }),
});
const RotateBody = z.object({ overlapSeconds: z.number().int().min(0).max(MAX_OVERLAP_S).optional() });
const ListQuery = z.object({
  status: z.enum(['pending', 'delivered', 'failed']).optional(),
  prescriptionId: z.uuid().optional(),
  subject: z.string().max(64).optional(),
  hospital: z.string().max(40).optional(),
  /** Page backwards: deliveries with a sequence below this. */
  before: z.coerce.number().int().positive().optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

interface EndpointRow { hospital_id: string; url: string; secrets: StoredSecret[]; created_at: Date; updated_at: Date }

function endpointView(row: EndpointRow, hospitalCode?: string) {
  return {
    ...(hospitalCode ? { hospitalCode } : {}),
    url: row.url,
    // Never the secret itself: it was shown once, when it was made.
    secrets: activeSecrets(row.secrets).map((s) => ({ id: s.id, createdAt: s.createdAt, expiresAt: s.expiresAt })),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function deliveryView(r: any) {
  return {
    eventId: r.event_id,
    type: r.type,
    subject: r.subject,
    prescriptionId: r.prescription_id,
    sequence: Number(r.sequence),
    ...(r.hospital_code ? { hospitalCode: r.hospital_code } : {}),
    status: r.status,
    attempts: r.attempts,
    redeliveries: r.redeliveries,
    lastAttemptAt: r.last_attempt_at,
    lastStatus: r.last_status,
    lastError: r.last_error,
    nextAttemptAt: r.status === 'pending' ? r.next_attempt_at : null,
    giveUpAt: r.give_up_at,
    deliveredAt: r.delivered_at,
    failedAt: r.failed_at,
    createdAt: r.created_at,
  };
}

export function webhookRoutes(deps: ApiDeps): Router {
  const r = new Router();
  const em = () => deps.orm.em.fork() as EntityManager;
  const sql = <T = any>(q: string, p: unknown[] = []) => em().getConnection().execute(q, p) as Promise<T[]>;
  const principal = (ctx: { state: any }) => ctx.state.principal as Principal;
  const endpointOf = async (hospitalId: string) => (await sql<EndpointRow>(`select * from webhook_endpoint where hospital_id = ?`, [hospitalId]))[0];
  const freshSecret = () => {
    const secret = newSecret();
    return { secret, stored: { id: `sec_${randomBytes(6).toString('hex')}`, sealed: sealSecret(secret), createdAt: new Date().toISOString(), expiresAt: null } as StoredSecret };
  };

  // ---- the hospital's own endpoint -------------------------------------------------------------------
  r.get('/v1/webhook', authorize('webhook.manage'), async (ctx) => {
    const row = await endpointOf(principal(ctx).partyId);
    if (!row) throw new ApiError(404, 'WEBHOOK_NOT_REGISTERED', 'no webhook is registered: PUT /v1/webhook with { url }');
    const cfg = webhookConfig();
    ctx.body = { webhook: endpointView(row), retrySchedule: { ...cfg.retry, giveUpMs: cfg.giveUpMs, attemptsWithinHorizon: attemptTimesMs(cfg.retry, cfg.giveUpMs).length } };
  });

  /** First registration answers 201 with the secret (shown once); later calls change the URL only. */
  r.put('/v1/webhook', authorize('webhook.manage'), async (ctx) => {
    const { url } = UrlBody.parse(ctx.request.body ?? {});
    const hospitalId = principal(ctx).partyId;
    const { secret, stored } = freshSecret();
    const [row] = await sql<EndpointRow & { inserted: boolean }>(
      `insert into webhook_endpoint (hospital_id, url, secrets) values (?, ?, ?)
       on conflict (hospital_id) do update set url = excluded.url, updated_at = now()
       returning *, (xmax = 0) as inserted`, [hospitalId, url, JSON.stringify([stored])]);
    ctx.status = row.inserted ? 201 : 200;
    ctx.body = { webhook: endpointView(row), ...(row.inserted ? { secret } : {}) };
  });

  /**
   * A new secret, shown once. The previous ones keep signing (every request carries one signature per
   * active secret) until the overlap ends, so the hospital can switch its receiver whenever it likes.
   */
  r.post('/v1/webhook/secret/rotate', authorize('webhook.manage'), async (ctx) => {
    const body = RotateBody.parse(ctx.request.body ?? {});
    const hospitalId = principal(ctx).partyId;
    const overlapMs = body.overlapSeconds !== undefined ? body.overlapSeconds * 1000 : webhookConfig().rotationOverlapMs;
    const { secret, stored } = freshSecret();
    const row = await em().transactional(async (t) => {
      const conn = t.getConnection();
      const [cur] = await conn.execute(`select * from webhook_endpoint where hospital_id = ? for update`, [hospitalId], 'all', t.getTransactionContext()) as EndpointRow[];
      if (!cur) throw new ApiError(404, 'WEBHOOK_NOT_REGISTERED', 'no webhook is registered: PUT /v1/webhook with { url }');
      const until = new Date(Date.now() + overlapMs).toISOString();
      const kept = activeSecrets(cur.secrets).map((s) => ({ ...s, expiresAt: s.expiresAt && s.expiresAt < until ? s.expiresAt : until }));
      const [updated] = await conn.execute(`update webhook_endpoint set secrets = ?, updated_at = now() where hospital_id = ? returning *`,
        [JSON.stringify([stored, ...kept]), hospitalId], 'all', t.getTransactionContext()) as EndpointRow[];
      return updated;
    });
    ctx.status = 201;
    ctx.body = { webhook: endpointView(row), secret };
  });

  /** Stops callbacks: what is still pending is marked failed (and can be redelivered after re-registering). */
  r.delete('/v1/webhook', authorize('webhook.manage'), async (ctx) => {
    const hospitalId = principal(ctx).partyId;
    await em().transactional(async (t) => {
      const exec = (q: string, p: unknown[]) => t.getConnection().execute(q, p, 'all', t.getTransactionContext());
      const gone = await exec(`delete from webhook_endpoint where hospital_id = ? returning hospital_id`, [hospitalId]);
      if (!gone.length) throw new ApiError(404, 'WEBHOOK_NOT_REGISTERED', 'no webhook is registered');
      await exec(`update webhook_delivery set status = 'failed', failed_at = now(), next_attempt_at = null, last_error = coalesce(last_error, 'webhook removed')
                  where hospital_id = ? and status = 'pending'`, [hospitalId]);
    });
    ctx.status = 204;
  });

  // ---- deliveries: the hospital's own, or (operator) everyone's --------------------------------------
  r.get('/v1/webhook/deliveries', authorize('webhook.deliveries'), async (ctx) => {
    const q = ListQuery.parse(ctx.query);
    // Own scope (a hospital) reads its own deliveries only; any scope (platform staff) reads everyone's.
    const p = ctx.state.scope === 'any' ? { ...principal(ctx), role: 'operator' as const } : { ...principal(ctx), role: 'hospital' as const };
    const where: string[] = [];
    const params: unknown[] = [];
    if (p.role === 'hospital') { where.push('d.hospital_id = ?'); params.push(p.partyId); }
    else if (q.hospital) { where.push('h.code = ?'); params.push(q.hospital); }
    if (q.status) { where.push('d.status = ?'); params.push(q.status); }
    if (q.prescriptionId) { where.push('e.prescription_id = ?'); params.push(q.prescriptionId); }
    if (q.subject) { where.push('e.subject = ?'); params.push(q.subject); }
    if (q.before) { where.push('d.sequence < ?'); params.push(q.before); }
    const rows = await sql(
      `select d.*, e.type, e.subject, e.prescription_id${p.role === 'operator' ? ', h.code as hospital_code' : ''}
         from webhook_delivery d join hospital_event e on e.id = d.event_id join hospital h on h.id = d.hospital_id
        ${where.length ? `where ${where.join(' and ')}` : ''}
        order by ${p.role === 'hospital' ? 'd.sequence desc' : 'd.created_at desc, d.sequence desc'} limit ?`, [...params, q.limit]);
    const items = rows.map(deliveryView);
    ctx.body = { items, nextBefore: items.length === q.limit && p.role === 'hospital' ? items.at(-1)!.sequence : null };
  });

  /**
   * Delivers an event again (the receiver lost it, or it failed for good). Works for any of the
   * hospital's events, also ones from before it registered; a pending one is already on its way.
   */
  r.post('/v1/webhook/deliveries/:eventId/redeliver', authorize('webhook.redeliver'), async (ctx) => {
    const p = principal(ctx);
    if (!z.uuid().safeParse(ctx.params.eventId).success) throw new ApiError(404, 'NOT_FOUND', 'event not found');
    const row = await em().transactional(async (t) => {
      const exec = (q: string, params: unknown[]) => t.getConnection().execute(q, params, 'all', t.getTransactionContext());
      const [ev] = await exec(`select id, hospital_id, ordering_key, sequence from hospital_event where id = ?`, [ctx.params.eventId]);
      if (!ev || !inScope(p, 'webhook.redeliver', ev.hospital_id)) throw new ApiError(404, 'NOT_FOUND', 'event not found');
      const [endpoint] = await exec(`select 1 from webhook_endpoint where hospital_id = ?`, [ev.hospital_id]);
      if (!endpoint) throw new ApiError(409, 'WEBHOOK_NOT_REGISTERED', 'the hospital has no webhook registered to deliver to');
      const giveUpMs = webhookConfig().giveUpMs;
      const [d] = await exec(
        `insert into webhook_delivery (event_id, hospital_id, ordering_key, sequence, status, next_attempt_at, give_up_at)
         values (?, ?, ?, ?, 'pending', now(), now() + (? * interval '1 millisecond'))
         on conflict (event_id) do update set status = 'pending', next_attempt_at = now(), give_up_at = excluded.give_up_at,
           failed_at = null, redeliveries = webhook_delivery.redeliveries + 1
         where webhook_delivery.status <> 'pending'
         returning *`, [ev.id, ev.hospital_id, ev.ordering_key, ev.sequence, giveUpMs]);
      if (!d) throw new ApiError(409, 'DELIVERY_PENDING', 'this event is still being delivered; it is retried until acknowledged');
      markForDelivery(t as EntityManager, ev.ordering_key);
      return d;
    });
    const [full] = await sql(`select d.*, e.type, e.subject, e.prescription_id from webhook_delivery d join hospital_event e on e.id = d.event_id where d.event_id = ?`, [row.event_id]);
    ctx.status = 202;
    ctx.body = { delivery: deliveryView(full) };
  });

  // ---- operators: every endpoint -----------------------------------------------------------------------
  r.get('/v1/webhooks', authorize('webhook.admin'), async (ctx) => {
    const rows = await sql<EndpointRow & { code: string; name: string }>(
      `select w.*, h.code, h.name from webhook_endpoint w join hospital h on h.id = w.hospital_id order by h.code`);
    const counts = await sql<{ hospital_id: string; status: string; n: string; oldest: Date | null }>(
      `select hospital_id, status, count(*) as n, min(created_at) filter (where status = 'pending') as oldest from webhook_delivery group by hospital_id, status`);
    ctx.body = {
      items: rows.map((w) => {
        const mine = counts.filter((c) => c.hospital_id === w.hospital_id);
        const n = (s: string) => Number(mine.find((c) => c.status === s)?.n ?? 0);
        return {
          ...endpointView(w, w.code), hospitalName: w.name,
          deliveries: { pending: n('pending'), delivered: n('delivered'), failed: n('failed'), oldestPendingAt: mine.find((c) => c.status === 'pending')?.oldest ?? null },
        };
      }),
    };
  });

  r.get('/v1/webhooks/:hospitalCode', authorize('webhook.admin'), async (ctx) => {
    const hospital = await em().findOne(HospitalSchema, { code: ctx.params.hospitalCode });
    const row = hospital ? await endpointOf(hospital.id) : undefined;
    if (!hospital || !row) throw new ApiError(404, 'WEBHOOK_NOT_REGISTERED', `no webhook is registered for ${ctx.params.hospitalCode}`);
    ctx.body = { webhook: endpointView(row, hospital.code) };
  });

  return r;
}
