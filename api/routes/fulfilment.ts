// Pharmacies see the orders offered to them and accept or decline; delivery partners see their
// deliveries and post status updates. Each party only ever sees its own.
import Router from '@koa/router';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { DeliveryPartnerSchema, DeliverySchema, DispensingSchema, DrugSchema, FulfilmentOrderSchema, PharmacySchema, PrescriptionLineSchema, PrescriptionSchema, TraceAlertSchema, type DeliveryPartner } from '../../db/entities';
import { collectedUpdate, deliveryUpdate, dispenseUpdate, pharmacyResponseUpdate, remainderUpdate, shortUpdate, workflowIdFor } from '../../workflows/prescription';
import { dispenseView } from '../../domain/partial-fill';
import { canDeliveryTransition, DELIVERY_STATUSES, nextDeliveryStatuses, sameDeliveryContent } from '../../domain/prescription-status';
import { maskPhone } from '../../domain/masking';
import type { Principal } from '../auth';
import { authorize } from '../access';
import { ApiError, notFound, type ErrorDetail } from '../errors';
import { partnerSignature } from '../request-signature';
import { sendUpdate, workflowState } from '../workflows';
import { requestOrigin } from '../origin';
import { assertNoColdChainHold, checkDeliveredProof } from './cold-chain';
import { isLate } from '../../domain/delivery-eta';
import type { ApiDeps } from '../app';

export const DeclineBody = z.object({ reason: z.string().min(1).max(200) });
export const DispenseBody = z.object({
  pharmacistName: z.string().min(1).max(60),
  lines: z.array(z.object({
    lineNo: z.number().int().positive(),
    packs: z.array(z.object({ traceCode: z.string().min(1).max(80), batchNo: z.string().min(1).max(40), expiryDate: z.iso.date() })).min(1).max(100),
  })).min(1).max(10),
  // A partial fill: part of what is left now, the rest later or declared not dispensed (docs/dispensing.md).
  partial: z.boolean().optional(),
});
export const RemainderBody = z.object({ reason: z.string().min(1).max(200) });
export const StockBody = z.object({
  items: z.array(z.object({ drugCode: z.string().min(1).max(40), onHand: z.number().int().min(0).max(1_000_000), priceFen: z.number().int().min(0).max(100_000_000) })).min(1).max(1000),
});
export const CollectedBody = z.object({ proof: z.object({ kind: z.enum(['signature', 'code', 'id_card']), reference: z.string().min(1).max(200), receivedBy: z.string().max(60).optional() }) });
export const ShortBody = z.object({ lines: z.array(z.object({ lineNo: z.number().int().positive(), reason: z.string().min(1).max(200) })).min(1).max(10) });
export const StatusBody = z.object({
  // created is rxflow's own (the delivery registered with the partner); the partner reports the rest.
  status: z.enum(DELIVERY_STATUSES).exclude(['created']),
  note: z.string().max(200).optional(),
  proof: z.object({ kind: z.enum(['signature', 'photo', 'code']), reference: z.string().min(1).max(200), receivedBy: z.string().max(60).optional() }).optional(),
});
const uuidOr404 = (id: string, what: string) => { if (!z.uuid().safeParse(id).success) throw notFound(what); };

export function fulfilmentRoutes(deps: ApiDeps): Router {
  const r = new Router();

  async function ownOrder(principal: Principal, orderId: string) {
    uuidOr404(orderId, 'order');
    const order = await deps.orm.em.fork().findOne(FulfilmentOrderSchema, { id: orderId, pharmacyId: principal.partyId });
    if (!order) throw notFound('order');
    return order;
  }

  r.get('/v1/pharmacy/orders', authorize('order.list'), async (ctx) => {
    const principal = ctx.state.principal as Principal;
    const status = typeof ctx.query.status === 'string' ? ctx.query.status : 'offered';
    const em = deps.orm.em.fork();
    const orders = await em.find(FulfilmentOrderSchema, { pharmacyId: principal.partyId, status: status as never }, { orderBy: { offeredAt: 'asc' }, limit: 100 });
    const items = [];
    for (const o of orders) {
      const rx = await em.findOneOrFail(PrescriptionSchema, { id: o.prescriptionId });
      const lines = await em.find(PrescriptionLineSchema, { prescriptionId: o.prescriptionId }, { orderBy: { lineNo: 'asc' } });
      items.push({
        orderId: o.id, prescriptionId: o.prescriptionId, rxNo: rx.rxNo, status: o.status, attempt: o.attempt, offeredAt: o.offeredAt,
        totalPriceFen: o.totalPriceFen, distanceKm: o.distanceKm,
        // The SKU to dispense: a substitute where matching chose one (the prescription allowed it).
        lines: lines.map((l) => {
          const fill = o.fills?.find((f) => f.lineNo === l.lineNo && f.drugCode !== f.prescribed);
          return {
            lineNo: l.lineNo, drugCode: fill?.drugCode ?? l.drugCode, drugName: l.drugName, quantity: l.quantity, usage: `${l.dosage} ${l.frequency} ${l.route} ${l.days}天`, ...(fill ? { substitutedFor: l.drugCode } : {}),
            // Partial fills: what is handed out already and what is left to dispense.
            dispensed: l.dispensedQuantity, remaining: l.quantity - l.dispensedQuantity - l.notDispensedQuantity,
          };
        }),
      });
    }
    ctx.body = { items };
  });

  /** The order in the path, if it is this pharmacy's, with the pharmacy and the prescription. */
  async function orderContext(ctx: any) {
    const principal = ctx.state.principal as Principal;
    const order = await ownOrder(principal, ctx.params.orderId);
    const em = deps.orm.em.fork();
    const pharmacy = await em.findOneOrFail(PharmacySchema, { id: principal.partyId });
    const rx = await em.findOneOrFail(PrescriptionSchema, { id: order.prescriptionId });
    return { order, pharmacy, rx };
  }

  async function respond(ctx: any, accept: boolean, reason?: () => string) {
    const { order, pharmacy, rx } = await orderContext(ctx);
    // The reason is read after the order is found: another pharmacy's order is 404 whatever the body says.
    const why = reason?.();
    const state = await sendUpdate(deps.temporal, rx.workflowId, pharmacyResponseUpdate, { orderId: order.id, pharmacyCode: pharmacy.code, accept, reason: why });
    ctx.status = 202;
    ctx.body = { orderId: order.id, accepted: accept, prescriptionStatus: state.status };
  }
  r.post('/v1/pharmacy/orders/:orderId/accept', authorize('order.respond'), (ctx) => respond(ctx, true));

  // Check-before-dispense: the pharmacist scans every pack; the answer says whether it was recorded.
  r.post('/v1/pharmacy/orders/:orderId/dispense', authorize('order.fulfil'), async (ctx) => {
    // The order first: another pharmacy's order is not found, whatever the body says.
    const { order, pharmacy, rx } = await orderContext(ctx);
    const body = DispenseBody.parse(ctx.request.body ?? {});
    if (rx.usedAt && order.status !== 'dispensed') throw new ApiError(409, 'ALREADY_FILLED', `prescription ${rx.rxNo} was already filled`);
    const state = await sendUpdate(deps.temporal, rx.workflowId, dispenseUpdate, { orderId: order.id, pharmacyCode: pharmacy.code, ...body });
    const em = deps.orm.em.fork();
    // The fill just recorded is the latest (the workflow records one at a time).
    const [dispensing] = await em.find(DispensingSchema, { prescriptionId: rx.id }, { orderBy: { fillNo: 'desc' }, limit: 1 });
    const view = dispenseView(await em.find(PrescriptionLineSchema, { prescriptionId: rx.id }, { orderBy: { lineNo: 'asc' } }));
    ctx.status = 201;
    ctx.body = {
      orderId: order.id, prescriptionStatus: state.status, dispensedAt: dispensing?.dispensedAt, findings: dispensing?.findings ?? [],
      fillNo: dispensing?.fillNo ?? 1, dispenseStatus: view.status, lines: view.lines,
    };
  });

  // After a partial fill: the rest will not be dispensed here. The remainder is released and the
  // prescription goes on to the patient with what was handed out (docs/dispensing.md).
  r.post('/v1/pharmacy/orders/:orderId/not-dispensed', authorize('order.fulfil'), async (ctx) => {
    const { order, pharmacy, rx } = await orderContext(ctx); // someone else's order is 404 whatever the body says
    const body = RemainderBody.parse(ctx.request.body ?? {});
    const state = await sendUpdate(deps.temporal, rx.workflowId, remainderUpdate, { orderId: order.id, pharmacyCode: pharmacy.code, reason: body.reason });
    ctx.status = 202;
    ctx.body = { orderId: order.id, prescriptionStatus: state.status, remainderNotDispensed: true };
  });

  // A line that cannot be dispensed as prescribed sends the order back to matching; the drug is never swapped here.
  r.post('/v1/pharmacy/orders/:orderId/short', authorize('order.fulfil'), async (ctx) => {
    const { order, pharmacy, rx } = await orderContext(ctx);
    const body = ShortBody.parse(ctx.request.body ?? {});
    await sendUpdate(deps.temporal, rx.workflowId, shortUpdate, { orderId: order.id, pharmacyCode: pharmacy.code, lines: body.lines });
    ctx.status = 202;
    ctx.body = { orderId: order.id, returnedToMatching: true };
  });

  // Pickup: the pharmacy confirms the patient (or family) collected the order, with proof.
  r.post('/v1/pharmacy/orders/:orderId/collected', authorize('order.fulfil'), async (ctx) => {
    const { order, pharmacy, rx } = await orderContext(ctx);
    const body = CollectedBody.parse(ctx.request.body ?? {});
    const state = await sendUpdate(deps.temporal, rx.workflowId, collectedUpdate, { orderId: order.id, pharmacyCode: pharmacy.code, proof: body.proof });
    ctx.status = 202;
    ctx.body = { orderId: order.id, prescriptionStatus: state.status };
  });

  // A pharmacy (or its ERP) sets its stock and prices by SKU, up to 1,000 lines at once, all or nothing.
  // On hand can never drop below what is reserved for orders in flight.
  r.put('/v1/pharmacy/stock', authorize('stock.write'), async (ctx) => {
    const pharmacyId = (ctx.state.principal as Principal).partyId;
    const { items } = StockBody.parse(ctx.request.body ?? {});
    const codes = [...new Set(items.map((i) => i.drugCode))];
    if (codes.length !== items.length) throw new ApiError(400, 'VALIDATION_FAILED', 'each drugCode may appear once', [{ path: '$.items', message: 'duplicate drugCode' }]);
    const em = deps.orm.em.fork();
    const known = new Set((await em.find(DrugSchema, { code: { $in: codes } })).map((d) => d.code));
    const unknown = items.map((it, i) => ({ it, i })).filter(({ it }) => !known.has(it.drugCode));
    if (unknown.length) throw new ApiError(422, 'UNKNOWN_DRUG', 'some drugs are not in the catalogue', unknown.map(({ it, i }) => ({ path: `$.items[${i}].drugCode`, message: it.drugCode })));
    const updated = await em.transactional(async (t) => {
      const rows: { drug_code: string }[] = await t.getConnection().execute(
        `insert into stock (pharmacy_id, drug_code, on_hand, reserved, price_fen, updated_at)
         select ?, x.drug_code, x.on_hand, 0, x.price_fen, now() from jsonb_to_recordset(?::jsonb) as x(drug_code text, on_hand int, price_fen int)
         on conflict (pharmacy_id, drug_code) do update set on_hand = excluded.on_hand, price_fen = excluded.price_fen, updated_at = now()
           where stock.reserved <= excluded.on_hand
         returning drug_code`,
        [pharmacyId, JSON.stringify(items.map((i) => ({ drug_code: i.drugCode, on_hand: i.onHand, price_fen: i.priceFen })))], 'all', t.getTransactionContext());
      const done = new Set(rows.map((r) => r.drug_code));
      const refused = items.map((it, i) => ({ it, i })).filter(({ it }) => !done.has(it.drugCode));
      if (refused.length) {
        throw new ApiError(409, 'BELOW_RESERVED', 'on hand cannot be set below what is reserved for orders in flight; nothing was changed',
          refused.map(({ it, i }) => ({ path: `$.items[${i}].onHand`, message: it.drugCode })));
      }
      return rows.length;
    });
    ctx.body = { updated };
  });

  // Operators: re-sold pack alerts (a traceability code dispensed twice).
  r.get('/v1/alerts/trace', authorize('alerts.read'), async (ctx) => {
    const em = deps.orm.em.fork();
    const alerts = await em.find(TraceAlertSchema, {}, { orderBy: { createdAt: 'desc' }, limit: 200 });
    const pharmacies = new Map((await em.find(PharmacySchema, { id: { $in: alerts.map((a) => a.pharmacyId) } })).map((p) => [p.id, p.code]));
    ctx.body = { items: alerts.map((a) => ({ ...a, pharmacyCode: pharmacies.get(a.pharmacyId) })) };
  });
  r.post('/v1/pharmacy/orders/:orderId/decline', authorize('order.respond'), (ctx) => respond(ctx, false, () => DeclineBody.parse(ctx.request.body ?? {}).reason));

  r.get('/v1/courier/deliveries', authorize('delivery.list'), async (ctx) => {
    const principal = ctx.state.principal as Principal;
    const em = deps.orm.em.fork();
    const active = await em.find(DeliverySchema, { partnerId: principal.partyId, status: { $nin: ['delivered', 'failed', 'returned'] } }, { orderBy: { createdAt: 'asc' }, limit: 100 });
    const partner = await em.findOne(DeliveryPartnerSchema, { id: principal.partyId });
    const items = [];
    for (const d of active) {
      const order = await em.findOneOrFail(FulfilmentOrderSchema, { id: d.orderId });
      const pharmacy = await em.findOneOrFail(PharmacySchema, { id: order.pharmacyId });
      const rx = await em.findOneOrFail(PrescriptionSchema, { id: d.prescriptionId });
      const content = rx.content as any;
      const lines = await em.find(PrescriptionLineSchema, { prescriptionId: d.prescriptionId });
      // A courier needs an address and a masked phone, not a diagnosis.
      items.push({
        deliveryId: d.id, status: d.status, attempt: d.attempt, coldChain: d.coldChain,
        pickup: { pharmacy: pharmacy.name, address: pharmacy.address, phone: pharmacy.phone },
        // The full phone only for a partner contracted to see it (docs/delivery.md).
        dropoff: { name: content.patient.name, address: content.patient.address.text, phone: partner?.fullPhone ? content.patient.phone : maskPhone(content.patient.phone) },
        ...(d.partnerRef ? { partnerRef: d.partnerRef } : {}),
        labelUrl: `/v1/deliveries/${d.id}/label.pdf`,
        // A partial fill carries fewer packs than prescribed; the courier hands over what is in the parcel.
        partial: rx.partialFill, packages: lines.reduce((s, l) => s + (rx.partialFill ? l.dispensedQuantity : l.quantity), 0),
        // docs/delivery.md: the promised window, the latest ETA, late once the window passed.
        promisedBy: d.promisedBy ?? null, eta: d.eta ?? null, late: !!d.lateAt || isLate(d.promisedBy, new Date()),
      });
    }
    ctx.body = { items };
  });

  async function ownDelivery(principal: Principal, id: string) {
    uuidOr404(id, 'delivery');
    const d = await deps.orm.em.fork().findOne(DeliverySchema, { id, partnerId: principal.partyId });
    if (!d) throw notFound('delivery');
    return d;
  }

  // A partner's status update: key, then signature (api/partner-signature.ts), then its own delivery. The
  // workflow is the authority on the order of statuses; a repeat of the current status with the same
  // content is answered 200 with the state and changes nothing (docs/delivery.md).
  r.post('/v1/deliveries/:id/status', authorize('delivery.update'), partnerSignature(deps.orm), async (ctx) => {
    const principal = ctx.state.principal as Principal;
    const d = await ownDelivery(principal, ctx.params.id);
    const body = StatusBody.parse(ctx.request.body ?? {});
    // Held by a cold-chain excursion first: no proof is asked for (or a code spent) on a parcel that may not be handed over.
    if (body.status === 'delivered') await assertNoColdChainHold(deps, d);
    if (body.status === 'delivered' && !body.proof) throw new ApiError(422, 'PROOF_REQUIRED', 'a delivered status needs proof of delivery (signature, photo or code)', [{ path: '$.proof', message: 'required when status is delivered' }]);
    const partner = ctx.state.signingParty as DeliveryPartner; // loaded by partnerSignature, which verified with its secret
    const update = { deliveryId: d.id, partnerCode: partner.code, status: body.status, note: body.note, proof: body.proof };
    // The usual case, a new status and no code to check, goes straight to the workflow, whose validator
    // decides legality (a Temporal query first cost a worker round trip on every update, docs/benchmarks-e2e.md).
    // A status this delivery already had (a repeat: its update id is the first call's, which Temporal would
    // answer with that call's result even after the workflow moved on), a code proof (a refused update must
    // spend no try) or a refusal asks the workflow's state first and answers from it as below. The row can lag
    // the workflow by a moment: a repeat sent in that moment is answered as the first call was.
    const seen = d.status === body.status || d.events.some((e) => e.status === body.status);
    if (!seen && !(body.status === 'delivered' && body.proof?.kind === 'code' && d.proofCodeHash)) {
      const proof = body.status === 'delivered' && body.proof ? await checkDeliveredProof(deps, d, body.proof, `courier:${partner.code}`, requestOrigin(ctx)) : body.proof;
      try {
        const state = await sendUpdate(deps.temporal, workflowIdFor(d.prescriptionId), deliveryUpdate, { ...update, proof });
        ctx.status = 202;
        ctx.body = { deliveryId: d.id, status: body.status, prescriptionStatus: state.status };
        return;
      } catch (e) {
        if (!(e instanceof ApiError && ['NOT_ASSIGNED', 'ILLEGAL_DELIVERY_TRANSITION', 'WORKFLOW_CLOSED'].includes(e.code))) throw e;
      }
    }
    const rx = await deps.orm.em.fork().findOneOrFail(PrescriptionSchema, { id: d.prescriptionId });
    const live = await workflowState(deps.temporal, rx.workflowId);
    // The workflow's view for its current delivery; the row for one it has moved past (or a closed workflow).
    const current = live?.delivery?.deliveryId === d.id ? live.delivery : null;
    const status = current?.status ?? d.status;
    if (status === body.status) {
      // A delivered repeat carries the code again; what was kept is only that a code was verified.
      const said = body.status === 'delivered' && body.proof?.kind === 'code'
        ? { ...update, proof: { kind: 'code', verified: true, ...(body.proof.receivedBy ? { receivedBy: body.proof.receivedBy } : {}) } } : update;
      const last = current ? current.last : (() => { const e = [...d.events].reverse().find((x) => x.status === d.status); return e ? { note: e.note, proof: e.proof } : undefined; })();
      if (!last || !sameDeliveryContent(last, said)) {
        throw new ApiError(409, 'CONFLICTING_REPEAT', `the delivery is already ${status} with other details; a status is reported once`,
          [{ path: '$.status', code: 'conflicting_repeat', message: `already ${status}` }]);
      }
      ctx.status = 200;
      ctx.body = { deliveryId: d.id, status, repeated: true, prescriptionStatus: live?.status ?? rx.status };
      return;
    }
    // Dispatch stored this delivery and told the partner a moment before the workflow took its answer: a
    // partner acting at once is asked to repeat shortly, not told that its brand-new delivery is closed.
    if (!current && live && d.attempt > (live.delivery?.attempt ?? 0) && (d.status === 'created' || d.status === 'assigned')) {
      ctx.set('Retry-After', '1');
      throw new ApiError(409, 'DELIVERY_NOT_READY', 'this delivery is being handed over to you right now; send the same update again in a moment',
        [{ path: '$.status', code: 'not_ready', message: `delivery ${d.id} is not yet the prescription's current one` }]);
    }
    if (!canDeliveryTransition(status, body.status) || !current) {
      const allowed = current ? nextDeliveryStatuses(status) : [];
      throw new ApiError(409, 'ILLEGAL_DELIVERY_TRANSITION',
        `delivery cannot move from ${status} to ${body.status}; allowed next: ${allowed.length ? allowed.join(', ') : 'none'}${current ? '' : ' (this delivery is closed)'}`,
        [{ path: '$.status', code: 'illegal_transition', message: `from ${status} to ${body.status}`, from: status, to: body.status, allowed } as ErrorDetail]);
    }
    // The code is checked here, after the transition is known to be legal (a refused update spends no try),
    // and never travels further: the workflow and the trail get "verified".
    const proof = body.status === 'delivered' && body.proof ? await checkDeliveredProof(deps, d, body.proof, `courier:${partner.code}`, requestOrigin(ctx)) : body.proof;
    const state = await sendUpdate(deps.temporal, rx.workflowId, deliveryUpdate, { ...update, proof });
    ctx.status = 202;
    ctx.body = { deliveryId: d.id, status: body.status, prescriptionStatus: state.status };
  });

  r.get('/v1/deliveries/:id/label.pdf', authorize('delivery.read'), async (ctx) => {
    const d = await ownDelivery(ctx.state.principal, ctx.params.id);
    const file = path.join(deps.config.filesDir, `${d.id}-label.pdf`);
    if (!fs.existsSync(file)) throw notFound('label');
    ctx.type = 'application/pdf';
    ctx.body = fs.createReadStream(file);
  });

  return r;
}

