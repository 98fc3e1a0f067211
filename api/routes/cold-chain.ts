// The parcel side of a delivery (docs/delivery.md): the courier's temperature readings for cold-chain
// parcels, the pharmacists' queue of cold-chain excursions and their decision, and the proof-of-delivery
// check the courier's `delivered` update passes through.
import Router from '@koa/router';
import { z } from 'zod';
import type { EntityManager } from '@mikro-orm/postgresql';
import { LockMode } from '@mikro-orm/core';
import { ColdChainExcursionSchema, DeliverySchema, PharmacistSchema, PrescriptionSchema, type Delivery, type DeliveryPartner } from '../../db/entities';
import { coldChainDecisionUpdate, coldChainExcursionUpdate } from '../../workflows/prescription';
import { findExcursion } from '../../domain/cold-chain';
import { checkProofCode, PROOF_CODE_MAX_FAILURES } from '../../domain/proof-code';
import { dataKeyRing } from '../../engine/data-keys';
import { loadDeliveryConfig } from '../../engine/config';
import { audit } from '../../activities/audit';
import { recordHospitalNotice } from '../../activities/hospital-events';
import type { Principal } from '../auth';
import { authorize } from '../access';
import { partnerSignature } from '../request-signature';
import { ApiError, notFound } from '../errors';
import { requestOrigin } from '../origin';
import { sendUpdate } from '../workflows';
import type { ApiDeps } from '../app';

/** Readings a courier (or its logger) posts at once: a few hours of one-minute readings from a couple of sensors. */
export const MAX_READINGS_PER_CALL = 500;
/** A reading stamped further ahead than this is a clock error, not a measurement. */
const FUTURE_SKEW_MS = 5 * 60_000;

export const TemperatureBody = z.object({
  readings: z.array(z.object({
    at: z.iso.datetime({ offset: true }),
    celsius: z.number().min(-50).max(60),
    sensorId: z.string().min(1).max(60).regex(/^[\w.:-]+$/).optional(),
  })).min(1).max(MAX_READINGS_PER_CALL),
});
export const ColdChainDecisionBody = z.object({
  decision: z.enum(['continue', 'return']),
  reason: z.string().trim().min(1).max(300),
  /** The excursion decided; when absent, the delivery's open one. */
  excursionId: z.uuid().optional(),
});

const ACTIVE = new Set(['assigned', 'picked_up', 'in_transit']);
const uuidOr404 = (id: string, what: string) => { if (!z.uuid().safeParse(id).success) throw notFound(what); };
const sqlIn = (t: EntityManager) => <T = any>(q: string, p: unknown[] = []) => t.getConnection().execute(q, p, 'all', t.getTransactionContext()) as Promise<T[]>;

async function openExcursion(em: EntityManager, deliveryId: string) {
  return em.findOne(ColdChainExcursionSchema, { deliveryId, status: 'open' });
}

/** `delivered` is refused while a cold-chain excursion of the delivery waits for a pharmacist. */
export async function assertNoColdChainHold(deps: ApiDeps, d: Delivery): Promise<void> {
  const open = await openExcursion(deps.orm.em.fork(), d.id);
  if (open) {
    throw new ApiError(409, 'COLD_CHAIN_HOLD', 'a cold-chain excursion is waiting for a pharmacist\'s decision; the parcel may not be handed over until then',
      [{ path: '$.status', code: 'COLD_CHAIN_HOLD', message: `excursion ${open.id} (${open.rule}) flagged at ${open.createdAt.toISOString()}` }]);
  }
}

export interface DeliveredProof { kind: 'signature' | 'photo' | 'code'; reference: string; receivedBy?: string }

/**
 * Checks the proof a `delivered` update carries and returns what may be recorded. A code is checked against
 * the delivery's keyed hash; each wrong one counts, and after PROOF_CODE_MAX_FAILURES the code is locked
 * (423): from then on only a signature image is accepted. The code itself is never recorded.
 * Deliveries from before codes existed (no hash) keep the old rule: any proof is recorded as given.
 */
export async function checkDeliveredProof(deps: ApiDeps, d: Delivery, proof: DeliveredProof, actor: string, origin: ReturnType<typeof requestOrigin>): Promise<Record<string, unknown>> {
  if (!d.proofCodeHash) return proof as unknown as Record<string, unknown>;
  const locked = () => new ApiError(423, 'PROOF_CODE_LOCKED',
    `the delivery code was entered wrongly ${PROOF_CODE_MAX_FAILURES} times and is locked: deliver with a signature (proof.kind "signature", the reference of the signature image)`,
    [{ path: '$.proof.kind', code: 'PROOF_CODE_LOCKED', message: 'only "signature" is accepted now' }]);
  if (proof.kind !== 'code') {
    if (proof.kind === 'photo' && (d.proofCodeFailures ?? 0) >= PROOF_CODE_MAX_FAILURES) throw locked();
    return { ...proof };
  }
  const outcome = await deps.orm.em.fork().transactional(async (t) => {
    const row = await t.findOneOrFail(DeliverySchema, { id: d.id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
    const result = checkProofCode(dataKeyRing().hmacKey, row.id, row.proofCodeHash!, row.proofCodeFailures ?? 0, proof.reference);
    if (result !== 'invalid') return { result, failures: row.proofCodeFailures ?? 0 };
    row.proofCodeFailures = (row.proofCodeFailures ?? 0) + 1;
    // The attempt is recorded, never the code that was tried.
    audit(t, row.prescriptionId, { action: 'proof_code_rejected', actor, origin, data: { deliveryId: row.id, failures: row.proofCodeFailures } });
    if (row.proofCodeFailures >= PROOF_CODE_MAX_FAILURES) audit(t, row.prescriptionId, { action: 'proof_code_locked', actor, origin, data: { deliveryId: row.id } });
    return { result: row.proofCodeFailures >= PROOF_CODE_MAX_FAILURES ? 'locked' as const : 'invalid' as const, failures: row.proofCodeFailures };
  });
  if (outcome.result === 'locked') throw locked();
  if (outcome.result === 'invalid') {
    const left = PROOF_CODE_MAX_FAILURES - outcome.failures;
    throw new ApiError(422, 'PROOF_CODE_INVALID', `the delivery code is not the one sent to the patient; ${left} ${left === 1 ? 'try' : 'tries'} left before it locks`,
      [{ path: '$.proof.reference', code: 'PROOF_CODE_INVALID', message: `${left} left` }]);
  }
  return { kind: 'code', verified: true, ...(proof.receivedBy ? { receivedBy: proof.receivedBy } : {}) };
}

export function coldChainRoutes(deps: ApiDeps): Router {
  const r = new Router();
  const rules = () => (deps.config.delivery ?? loadDeliveryConfig()).coldChain;

  async function ownDelivery(principal: Principal, id: string) {
    uuidOr404(id, 'delivery');
    const d = await deps.orm.em.fork().findOne(DeliverySchema, { id, partnerId: principal.partyId });
    if (!d) throw notFound('delivery');
    return d;
  }

  // Temperature readings from the parcel's logger, idempotent per (delivery, sensor, time): a courier
  // retrying a batch stores nothing twice. Judged against the cold-chain rules as they arrive.
  r.post('/v1/deliveries/:id/temperature', authorize('delivery.temperature'), partnerSignature(deps.orm), async (ctx) => {
    const principal = ctx.state.principal as Principal;
    const d = await ownDelivery(principal, ctx.params.id);
    const { readings } = TemperatureBody.parse(ctx.request.body ?? {});
    const future = readings.map((x, i) => ({ x, i })).filter(({ x }) => Date.parse(x.at) > Date.now() + FUTURE_SKEW_MS);
    if (future.length) throw new ApiError(422, 'READING_IN_FUTURE', 'readings cannot be stamped in the future (check the logger\'s clock)', future.map(({ i }) => ({ path: `$.readings[${i}].at`, message: 'in the future' })));
    const partner = ctx.state.signingParty as DeliveryPartner; // loaded by partnerSignature, which verified with its secret
    const actor = `courier:${partner.code}`;
    const origin = requestOrigin(ctx);
    const result = await deps.orm.em.fork().transactional(async (t) => {
      const sql = sqlIn(t);
      const inserted = await sql(
        `insert into delivery_temperature (delivery_id, sensor_id, at, celsius)
         select ?, x.sensor_id, x.at::timestamptz, x.celsius from jsonb_to_recordset(?::jsonb) as x(sensor_id text, at text, celsius numeric)
         on conflict do nothing returning 1`,
        [d.id, JSON.stringify(readings.map((x) => ({ sensor_id: x.sensorId ?? '', at: x.at, celsius: x.celsius })))]);
      // Only cold-chain parcels still under way are judged; a reading after handover is kept, not acted on.
      if (!d.coldChain || !ACTIVE.has(d.status)) return { stored: inserted.length, excursion: null, created: false };
      let open = await openExcursion(t, d.id);
      if (!open) {
        // After a pharmacist let the parcel go on, only what came after the decided run is judged again.
        const [last] = await sql<{ last_at: Date | null }>(`select max(last_at) as last_at from cold_chain_excursion where delivery_id = ? and status <> 'open'`, [d.id]);
        const rows = await sql<{ at: Date; celsius: string; sensor_id: string }>(
          `select at, celsius, sensor_id from delivery_temperature where delivery_id = ? and (?::timestamptz is null or at > ?::timestamptz) order by at`,
          [d.id, last?.last_at ?? null, last?.last_at ?? null]);
        const e = findExcursion(rows.map((x) => ({ at: x.at, celsius: Number(x.celsius), sensorId: x.sensor_id })), rules());
        if (e) {
          const id = (await sql<{ id: string }>(
            `insert into cold_chain_excursion (id, delivery_id, prescription_id, rule, detail, first_at, last_at) values (gen_random_uuid(), ?, ?, ?, ?::jsonb, ?, ?)
             on conflict (delivery_id) where status = 'open' do nothing returning id`,
            [d.id, d.prescriptionId, e.rule, JSON.stringify(e), e.firstAt, e.lastAt]))[0]?.id;
          if (id) {
            audit(t, d.prescriptionId, { action: 'cold_chain_excursion', actor, origin, data: { deliveryId: d.id, excursionId: id, rule: e.rule, why: e.why, sensorId: e.sensorId, minC: e.minC, maxC: e.maxC, outOfRangeMs: e.outOfRangeMs } });
            const rx = await t.findOneOrFail(PrescriptionSchema, { id: d.prescriptionId });
            await recordHospitalNotice(t, rx, 'cold_chain_excursion', { deliveryId: d.id, excursionId: id, rule: e.rule, held: true, partner: partner.code });
            await t.flush();
            open = await openExcursion(t, d.id);
            return { stored: inserted.length, excursion: open, created: true };
          }
          open = await openExcursion(t, d.id);
        }
      }
      return { stored: inserted.length, excursion: open, created: false };
    });
    // The workflow holds the parcel; told again on every post while undecided, so a lost notice is repaired by the next batch.
    let workflowHeld = false;
    if (result.excursion) {
      const rx = await deps.orm.em.fork().findOneOrFail(PrescriptionSchema, { id: d.prescriptionId });
      try {
        await sendUpdate(deps.temporal, rx.workflowId, coldChainExcursionUpdate, { deliveryId: d.id, excursionId: result.excursion.id, rule: result.excursion.rule });
        workflowHeld = true;
      } catch (e) {
        if (!(e instanceof ApiError)) throw e; // Temporal down: the readings are stored; the courier posts again
      }
    }
    ctx.status = 201;
    ctx.body = {
      deliveryId: d.id, received: readings.length, stored: result.stored, duplicates: readings.length - result.stored,
      excursion: result.excursion ? { id: result.excursion.id, rule: result.excursion.rule, status: result.excursion.status, new: result.created, held: workflowHeld, detail: result.excursion.detail } : null,
    };
  });

  // The pharmacists' task list: excursions (open by default) with the readings that made them.
  r.get('/v1/cold-chain/excursions', authorize('coldchain.queue'), async (ctx) => {
    const status = typeof ctx.query.status === 'string' ? ctx.query.status : 'open';
    if (!['open', 'continue', 'return', 'all'].includes(status)) throw new ApiError(400, 'VALIDATION_FAILED', 'status is open, continue, return or all', [{ path: '$.query.status', message: status }]);
    const em = deps.orm.em.fork();
    const sql = (q: string, p: unknown[] = []) => em.getConnection().execute(q, p);
    const rows = await sql(
      `select x.*, p.rx_no, d.status as delivery_status, d.attempt, dp.code as partner
       from cold_chain_excursion x join prescription p on p.id = x.prescription_id join delivery d on d.id = x.delivery_id join delivery_partner dp on dp.id = d.partner_id
       where (? = 'all' or x.status = ?) order by x.created_at limit 200`, [status, status]);
    const items = [];
    for (const x of rows) {
      const readings = await sql(`select at, celsius, nullif(sensor_id, '') as sensor_id from delivery_temperature where delivery_id = ? order by at limit 1000`, [x.delivery_id]);
      items.push({
        id: x.id, status: x.status, rule: x.rule, detail: x.detail, flaggedAt: x.created_at, escalations: x.escalations,
        prescriptionId: x.prescription_id, rxNo: x.rx_no, deliveryId: x.delivery_id, deliveryStatus: x.delivery_status, attempt: x.attempt, partner: x.partner,
        decision: x.status === 'open' ? null : { decision: x.status, by: x.decided_by, at: x.decided_at, reason: x.reason },
        readings: readings.map((t: any) => ({ at: new Date(t.at).toISOString(), celsius: Number(t.celsius), ...(t.sensor_id ? { sensorId: t.sensor_id } : {}) })),
      });
    }
    ctx.body = { items };
  });

  // The pharmacist's decision: the drug is still usable (continue), or the parcel goes back (return; the
  // prescription ends returned). Signed off by name in the audit trail, with the reason.
  r.post('/v1/deliveries/:id/cold-chain-decision', authorize('coldchain.decide'), async (ctx) => {
    uuidOr404(ctx.params.id, 'delivery');
    const em = deps.orm.em.fork();
    const d = await em.findOne(DeliverySchema, { id: ctx.params.id });
    if (!d) throw notFound('delivery');
    const body = ColdChainDecisionBody.parse(ctx.request.body ?? {});
    const open = await openExcursion(em, d.id);
    if (!open || (body.excursionId && body.excursionId !== open.id)) throw new ApiError(409, 'NO_OPEN_EXCURSION', 'this delivery has no cold-chain excursion waiting for a decision');
    const pharmacist = await em.findOneOrFail(PharmacistSchema, { id: (ctx.state.principal as Principal).partyId });
    const rx = await em.findOneOrFail(PrescriptionSchema, { id: d.prescriptionId });
    const state = await sendUpdate(deps.temporal, rx.workflowId, coldChainDecisionUpdate, {
      excursionId: open.id, decision: body.decision, pharmacistCode: pharmacist.code, reason: body.reason, decidedAt: new Date().toISOString(), origin: requestOrigin(ctx),
    });
    ctx.status = 202;
    ctx.body = { deliveryId: d.id, excursionId: open.id, decision: body.decision, prescriptionStatus: state.status };
  });

  return r;
}
