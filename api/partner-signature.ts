// Signed partner updates (docs/delivery.md): every write a delivery partner makes under /v1/deliveries
// carries, besides its API key, an HMAC-SHA256 signature over timestamp, update id, method, path and raw
// body (sdk/partner.ts). Put after authorize() on each such route: a wrong role is 403 before anything
// here runs. Seen update ids and signatures are stored (partner_update, unique), so a replay is refused
// after a restart as well; an update id is spent once it verified, whatever the route then answers.
import type { Middleware } from 'koa';
import type { MikroORM } from '@mikro-orm/postgresql';
import { DeliveryPartnerSchema } from '../db/entities';
import { activePartnerSecrets, loadPartnerConfig, openPartnerSecret } from '../engine/partner-config';
import { checkPartnerSignature, PARTNER_SIGNATURE_HEADER, PARTNER_UPDATE_ID_HEADER, UPDATE_ID_PATTERN } from '../sdk/partner';
import type { Principal } from './auth';
import { ApiError } from './errors';

export function partnerSignature(orm: MikroORM, now: () => number = Date.now): Middleware {
  const { toleranceSeconds } = loadPartnerConfig();
  return async (ctx, next) => {
    const principal = ctx.state.principal as Principal;
    const updateId = ctx.get(PARTNER_UPDATE_ID_HEADER);
    const header = ctx.get(PARTNER_SIGNATURE_HEADER);
    if (!header) {
      throw new ApiError(401, 'SIGNATURE_REQUIRED', `a partner's update must be signed: send ${PARTNER_UPDATE_ID_HEADER} and ${PARTNER_SIGNATURE_HEADER} (docs/delivery.md)`,
        [{ path: `$.headers.${PARTNER_SIGNATURE_HEADER}`, code: 'missing', message: 'required' }]);
    }
    if (!UPDATE_ID_PATTERN.test(updateId)) {
      throw new ApiError(401, 'BAD_SIGNATURE', 'the update id must be 8–100 characters of A–Z, a–z, 0–9, . _ : - (and is part of what is signed)',
        [{ path: `$.headers.${PARTNER_UPDATE_ID_HEADER}`, code: 'invalid', message: updateId ? 'malformed' : 'required' }]);
    }
    const em = orm.em.fork();
    const partner = await em.findOne(DeliveryPartnerSchema, { id: principal.partyId });
    const secrets = activePartnerSecrets(partner?.secrets).map((s) => openPartnerSecret(s.sealed));
    const raw = (ctx.request as { rawBody?: string }).rawBody ?? '';
    const checked = checkPartnerSignature(secrets, { header, updateId, method: ctx.method, path: ctx.originalUrl, body: raw, now: now(), toleranceSeconds });
    if (checked.problem) {
      const message = !secrets.length ? 'this partner has no active signing secret: an operator must rotate one (POST /v1/ops/delivery-partners/:code/secret/rotate)' : checked.message;
      throw new ApiError(401, checked.problem === 'SIGNATURE_MISSING' ? 'SIGNATURE_REQUIRED' : checked.problem, message,
        [{ path: `$.headers.${PARTNER_SIGNATURE_HEADER}`, code: checked.problem.toLowerCase(), message }]);
    }
    // Unique (partner, update id) and unique signature: whichever a replay repeats, it inserts nothing.
    const inserted = await em.getConnection().execute(
      `insert into partner_update (partner_id, update_id, signature, method, path) values (?, ?, ?, ?, ?) on conflict do nothing returning id`,
      [principal.partyId, updateId, checked.signature, ctx.method, ctx.originalUrl.slice(0, 2000)]);
    if (!inserted.length) {
      throw new ApiError(409, 'REPLAYED_UPDATE', `update ${updateId} (or this very signature) was received before; a new update needs a new update id and signature`,
        [{ path: `$.headers.${PARTNER_UPDATE_ID_HEADER}`, code: 'replayed', message: updateId }]);
    }
    ctx.state.partnerUpdateId = updateId;
    await next();
  };
}
