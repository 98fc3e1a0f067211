// Signed requests (sdk/request-signing.ts): besides its API key, a caller of a signing party sends an
// HMAC-SHA256 over timestamp, request id, method, path and raw body, made with a secret that never travels
// with the request, so a stolen key alone does not act as the party. One middleware for every party kind:
// - delivery partners sign every write under /v1/deliveries (always required; put after authorize(), so a
//   wrong role is 403 before anything here runs) — docs/delivery.md §4;
// - hospital systems sign every request made with their API keys, reads too, by the hospital's mode
//   (off / optional / required; put right after authentication, on /v1 and /fhir/R4) — docs/signing.md.
// Seen request ids and signatures are stored (signed_request, unique per party and per signature), so a
// replay is refused after a restart as well; an id is spent once it verified, whatever the route answers.
// Rows older than twice the tolerance can never be replayed (their timestamp is stale), so each process
// deletes them opportunistically, at most once a minute per party kind.
import type { Context, Middleware } from 'koa';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { DeliveryPartnerSchema, HospitalSchema } from '../db/entities';
import { activeSigningSecrets, HOSPITAL_SECRETS, loadHospitalSigningConfig, openSigningSecret, PARTNER_SECRETS, type SigningMode } from '../engine/signing-secrets';
import { loadPartnerConfig } from '../engine/partner-config';
import { log } from '../engine/log';
import { checkSignature, REQUEST_ID_HEADER, REQUEST_ID_PATTERN, SIGNATURE_HEADER, UPDATE_ID_HEADER } from '../sdk/request-signing';
import type { Principal } from './auth';
import { ApiError } from './errors';

export type PartyKind = 'partner' | 'hospital';

export interface SignedParty {
  kind: PartyKind;
  /** Whether this caller is one of the party's (anyone else passes untouched). */
  signs(p: Principal): boolean;
  /** The party's row, its mode and its active secrets, opened. */
  load(em: EntityManager, partyId: string, now: number): Promise<{ row: unknown; mode: SigningMode; secrets: string[] }>;
  toleranceSeconds: number;
  /** How the party's contract names the id header and the replay refusal. */
  idHeader: string; idName: string; replayCode: 'REPLAYED_UPDATE' | 'REPLAYED_REQUEST';
  /** Where the party reads about it, and how it gets a secret when it has none. */
  docs: string; noSecret: string; unsigned: string;
}

export const PARTNERS: () => SignedParty = () => ({
  kind: 'partner',
  signs: (p) => p.role === 'courier',
  load: async (em, id, now) => {
    const partner = await em.findOne(DeliveryPartnerSchema, { id });
    return { row: partner, mode: 'required', secrets: activeSigningSecrets(partner?.secrets, now).map((s) => openSigningSecret(PARTNER_SECRETS, s.sealed)) };
  },
  toleranceSeconds: loadPartnerConfig().toleranceSeconds,
  idHeader: UPDATE_ID_HEADER, idName: 'update id', replayCode: 'REPLAYED_UPDATE',
  docs: 'docs/delivery.md',
  noSecret: 'this partner has no active signing secret: an operator must rotate one (POST /v1/ops/delivery-partners/:code/secret/rotate)',
  unsigned: `a partner's update must be signed: send ${UPDATE_ID_HEADER} and ${SIGNATURE_HEADER} (docs/delivery.md)`,
});

export const HOSPITALS: () => SignedParty = () => {
  const cfg = loadHospitalSigningConfig();
  return {
    kind: 'hospital',
    // Only the hospital's API keys: its patients' links and the staff's sessions are other principals.
    signs: (p) => p.role === 'hospital' && p.via === 'api_key',
    load: async (em, id, now) => {
      const h = await em.findOne(HospitalSchema, { id });
      return {
        row: h,
        mode: h?.requestSigning ?? cfg.defaultMode,
        secrets: activeSigningSecrets(h?.requestSecrets, now).map((s) => openSigningSecret(HOSPITAL_SECRETS, s.sealed)),
      };
    },
    toleranceSeconds: cfg.toleranceSeconds,
    idHeader: REQUEST_ID_HEADER, idName: 'request id', replayCode: 'REPLAYED_REQUEST',
    docs: 'docs/signing.md',
    noSecret: 'this hospital has no active request-signing secret: an operator must rotate one (POST /v1/ops/hospitals/:code/request-signing/rotate)',
    unsigned: `this hospital's requests must be signed: send ${REQUEST_ID_HEADER} and ${SIGNATURE_HEADER} (docs/signing.md, "Request signing")`,
  };
};

const PRUNE_EVERY_MS = 60_000;

/** Deletes the seen requests of a party kind that can no longer be replayed (older than twice the tolerance). */
export async function pruneSignedRequests(em: EntityManager, kind: PartyKind, toleranceSeconds: number, now = Date.now()): Promise<number> {
  const cutoff = new Date(now - 2 * toleranceSeconds * 1000);
  const rows = await em.getConnection().execute(`delete from signed_request where party_kind = ? and received_at < ? returning id`, [kind, cutoff]);
  return rows.length;
}

/** The request id: X-Rxflow-Request-Id, or its partner name X-Rxflow-Update-Id (one id; two that differ are refused). */
function requestIdOf(ctx: Context, party: SignedParty): string {
  const ids = [...new Set([ctx.get(REQUEST_ID_HEADER), ctx.get(UPDATE_ID_HEADER)].filter(Boolean))];
  if (ids.length === 1 && REQUEST_ID_PATTERN.test(ids[0])) return ids[0];
  const message = ids.length > 1
    ? `${REQUEST_ID_HEADER} and ${UPDATE_ID_HEADER} are the same header under two names: send one`
    : `the ${party.idName} must be 8–100 characters of A–Z, a–z, 0–9, . _ : - (and is part of what is signed)`;
  throw new ApiError(401, 'BAD_SIGNATURE', message, [{ path: `$.headers.${party.idHeader}`, code: 'invalid', message: ids.length > 1 ? 'two ids' : ids[0] ? 'malformed' : 'required' }]);
}

export function requestSignature(orm: MikroORM, party: SignedParty, now: () => number = Date.now): Middleware {
  let lastPrune = 0;
  return async (ctx, next) => {
    const principal = ctx.state.principal as Principal | undefined;
    if (!principal || !party.signs(principal)) return next();
    const em = orm.em.fork();
    const at = now();
    const { row, mode, secrets } = await party.load(em, principal.partyId, at);
    // The routes behind read the party from here rather than loading it a second time.
    ctx.state.signingParty = row;
    const header = ctx.get(SIGNATURE_HEADER);
    // Optional: an unsigned request passes, but a signature that is there must hold.
    if (mode === 'off' || (mode === 'optional' && !header)) return next();
    if (!header) {
      throw new ApiError(401, 'SIGNATURE_REQUIRED', party.unsigned, [{ path: `$.headers.${SIGNATURE_HEADER}`, code: 'missing', message: 'required' }]);
    }
    const requestId = requestIdOf(ctx, party);
    const raw = (ctx.request as { rawBody?: string }).rawBody ?? '';
    const checked = checkSignature(secrets, { header, requestId, method: ctx.method, path: ctx.originalUrl, body: raw, now: at, toleranceSeconds: party.toleranceSeconds });
    if (checked.problem) {
      const message = !secrets.length ? party.noSecret : checked.message;
      throw new ApiError(401, checked.problem === 'SIGNATURE_MISSING' ? 'SIGNATURE_REQUIRED' : checked.problem, message,
        [{ path: `$.headers.${SIGNATURE_HEADER}`, code: checked.problem.toLowerCase(), message }]);
    }
    if (at - lastPrune > PRUNE_EVERY_MS) {
      lastPrune = at;
      await pruneSignedRequests(em, party.kind, party.toleranceSeconds, at).catch((err: Error) =>
        log.warn({ component: 'api', err: { type: err.name, message: err.message } }, 'pruning signed requests failed'));
    }
    // Unique (kind, party, id) and unique signature: whichever a replay repeats, it inserts nothing.
    const inserted = await em.getConnection().execute(
      `insert into signed_request (party_kind, party_id, request_id, signature, method, path) values (?, ?, ?, ?, ?, ?) on conflict do nothing returning id`,
      [party.kind, principal.partyId, requestId, checked.signature, ctx.method, ctx.originalUrl.slice(0, 2000)]);
    if (!inserted.length) {
      throw new ApiError(409, party.replayCode, `${party.idName} ${requestId} (or this very signature) was received before; a new request needs a new ${party.idName} and signature`,
        [{ path: `$.headers.${party.idHeader}`, code: 'replayed', message: requestId }]);
    }
    ctx.state.signedRequestId = requestId;
    await next();
  };
}

/** A delivery partner's signed write (on each partner write route, after authorize()). */
export const partnerSignature = (orm: MikroORM, now?: () => number) => requestSignature(orm, PARTNERS(), now);
/** Every request with a hospital's API key, by the hospital's mode (after authentication). */
export const hospitalSignature = (orm: MikroORM, now?: () => number) => requestSignature(orm, HOSPITALS(), now);
