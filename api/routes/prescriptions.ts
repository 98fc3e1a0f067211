// Hospitals push, read and cancel their prescriptions; pharmacists and operators may read any.
import Router from '@koa/router';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { noteAccess } from '../access-log';
import { AuditEventSchema, PrescriptionLineSchema, PrescriptionSchema, type Prescription } from '../../db/entities';
import { cancelUpdate } from '../../workflows/prescription';
import type { Principal } from '../auth';
import { authorize, scopeOf } from '../access';
import type { Action } from '../../domain/policy';
import { ApiError, notFound } from '../errors';
import { intakePrescription } from '../intake';
import { PhaseTimer } from '../timing';
import { requestOrigin } from '../origin';
import { sendUpdate, workflowState } from '../workflows';
import type { ApiDeps } from '../app';
import { readFindings } from '../../domain/review-checks';
import { DispensingSchema, SettlementSchema } from '../../db/entities';
import { dispenseView } from '../../domain/partial-fill';
import { DeliverySchema, ColdChainExcursionSchema } from '../../db/entities';
import { isLate } from '../../domain/delivery-eta';

/** The latest delivery attempt as the prescription's readers see it: where it is, when it is expected, whether it is late or held (docs/delivery.md). */
async function deliveryOf(deps: ApiDeps, prescriptionId: string) {
  const em = deps.orm.em.fork();
  const [d] = await em.find(DeliverySchema, { prescriptionId }, { orderBy: { attempt: 'desc' }, limit: 1 });
  if (!d) return null;
  const hold = await em.findOne(ColdChainExcursionSchema, { deliveryId: d.id, status: 'open' });
  const done = d.status === 'delivered' || d.status === 'failed';
  return {
    deliveryId: d.id, attempt: d.attempt, status: d.status, coldChain: d.coldChain, promisedBy: d.promisedBy ?? null, eta: d.eta ?? null,
    late: !!d.lateAt || (!done && isLate(d.promisedBy, new Date())), lateAt: d.lateAt ?? null,
    coldChainHold: hold ? { excursionId: hold.id, rule: hold.rule, since: hold.createdAt } : null,
  };
}

/** Dispensed vs prescribed per line, each fill and its settlement (partial fills, docs/dispensing.md). */
async function dispensingOf(deps: ApiDeps, rx: Prescription, lines: Parameters<typeof dispenseView>[0]) {
  const em = deps.orm.em.fork();
  const fills = await em.find(DispensingSchema, { prescriptionId: rx.id }, { orderBy: { fillNo: 'asc' } });
  const settlements = await em.find(SettlementSchema, { prescriptionId: rx.id }, { orderBy: { fillNo: 'asc' } });
  return {
    ...dispenseView(lines),
    fills: fills.map((f) => {
      const s = settlements.find((x) => x.fillNo === f.fillNo);
      return {
        fillNo: f.fillNo, dispensedAt: f.dispensedAt, lines: f.lines ?? [],
        settlement: s ? { totalFen: s.totalFen, insurerPaysFen: s.insurerPaysFen, patientPaysFen: s.patientPaysFen, reversed: s.reversedAt !== null } : null,
      };
    }),
  };
}

/**
 * Loads a prescription the caller may see with `action` (domain/policy.ts): own for a hospital, assigned
 * for a pharmacist (in the review queue, or claimed or decided by them), any for platform staff. Out of
 * reach is "not found", never "forbidden", so ids of other tenants leak nothing.
 */
export async function visiblePrescription(deps: ApiDeps, principal: Principal, id: string, action: Action = 'prescription.read'): Promise<Prescription> {
  if (!z.uuid().safeParse(id).success) throw notFound('prescription');
  const em = deps.orm.em.fork();
  const rx = await em.findOne(PrescriptionSchema, { id });
  if (!rx) throw notFound('prescription');
  const scope = scopeOf(principal, action);
  const reached = () => { noteAccess(rx.id); return rx; }; // a person's read of it is audited (api/access-log.ts)
  if (scope === 'any') return reached();
  if (scope === 'own' && principal.role === 'hospital' && rx.hospitalId === principal.partyId) return reached();
  if (scope === 'assigned' && (principal.role === 'pharmacist' || principal.role === 'lead_pharmacist')) {
    if (rx.status === 'in_review') return reached();
    const [mine] = await em.getConnection().execute(
      `select 1 from review_claim where prescription_id = ? and pharmacist_id = ?
       union all select 1 from review where prescription_id = ? and pharmacist_id = ? limit 1`, [rx.id, principal.partyId, rx.id, principal.partyId]);
    if (mine) return reached();
  }
  throw notFound('prescription');
}

export function summary(rx: Prescription) {
  return { id: rx.id, rxNo: rx.rxNo, status: rx.status, workflowId: rx.workflowId, issuedAt: rx.issuedAt, expiresAt: rx.expiresAt, createdAt: rx.createdAt };
}

export const CancelBody = z.object({ reason: z.string().min(1).max(200) });

/** Every version pushed under this prescription's number (an amendment of a rejected one is the next version). */
async function versionsOf(deps: ApiDeps, rx: Prescription) {
  const all = await deps.orm.em.fork().find(PrescriptionSchema, { hospitalId: rx.hospitalId, rxNo: rx.rxNo }, { orderBy: { version: 'asc' } });
  return all.map((v) => ({ id: v.id, version: v.version, status: v.status, amendsId: v.amendsId, createdAt: v.createdAt }));
}

export function prescriptionRoutes(deps: ApiDeps): Router {
  const r = new Router();

  r.post('/v1/prescriptions', authorize('prescription.push'), async (ctx) => {
    const principal = ctx.state.principal as Principal;
    const timer = new PhaseTimer();
    const { prescription, duplicate } = await intakePrescription(
      { orm: deps.orm, temporal: deps.temporal, taskQueue: deps.config.taskQueue, timings: deps.config.timings, rules: deps.config.rules },
      principal.partyId, ctx.request.body, timer, requestOrigin(ctx), ctx.state.signingParty);
    ctx.set('Server-Timing', timer.header());
    timer.observe();
    ctx.status = duplicate ? 200 : 201;
    ctx.set('Location', `/v1/prescriptions/${prescription.id}`);
    ctx.body = { prescription: summary(prescription), duplicate };
  });

  r.get('/v1/prescriptions/:id', authorize('prescription.read'), async (ctx) => {
    const rx = await visiblePrescription(deps, ctx.state.principal, ctx.params.id);
    const lines = await deps.orm.em.fork().find(PrescriptionLineSchema, { prescriptionId: rx.id }, { orderBy: { lineNo: 'asc' } });
    ctx.body = {
      prescription: { ...summary(rx), usedAt: rx.usedAt, flags: readFindings(rx.flags), pricing: rx.pricing, lines, dispensing: await dispensingOf(deps, rx, lines) },
      workflow: await workflowState(deps.temporal, rx.workflowId),
      versions: await versionsOf(deps, rx),
      delivery: await deliveryOf(deps, rx.id),
    };
  });

  r.get('/v1/prescriptions/:id/timeline', authorize('prescription.read'), async (ctx) => {
    const rx = await visiblePrescription(deps, ctx.state.principal, ctx.params.id);
    // The story of the number: every version's events in order, each saying which version it belongs to.
    const versions = await versionsOf(deps, rx);
    const versionOf = new Map(versions.map((v) => [v.id, v.version]));
    const events = await deps.orm.em.fork().find(AuditEventSchema, { prescriptionId: { $in: versions.map((v) => v.id) } }, { orderBy: { id: 'asc' } });
    ctx.body = {
      prescription: summary(rx),
      timeline: events.map((e) => ({ at: e.at, action: e.action, actor: e.actor, from: e.fromStatus, to: e.toStatus, data: e.data, prescriptionId: e.prescriptionId, version: versionOf.get(e.prescriptionId!) })),
      versions,
    };
  });

  r.get('/v1/prescriptions/:id/slip.pdf', authorize('prescription.read'), async (ctx) => {
    const rx = await visiblePrescription(deps, ctx.state.principal, ctx.params.id);
    const file = path.join(deps.config.filesDir, `${rx.id}-slip.pdf`);
    if (!fs.existsSync(file)) throw new ApiError(404, 'SLIP_NOT_READY', 'the slip is rendered once the prescription is approved and priced');
    ctx.type = 'application/pdf';
    ctx.body = fs.createReadStream(file);
  });

  r.post('/v1/prescriptions/:id/cancel', authorize('prescription.cancel'), async (ctx) => {
    const rx = await visiblePrescription(deps, ctx.state.principal, ctx.params.id, 'prescription.cancel');
    const body = CancelBody.parse(ctx.request.body ?? {});
    const state = await sendUpdate(deps.temporal, rx.workflowId, cancelUpdate, { by: `hospital:${(ctx.state.principal as Principal).label}`, reason: body.reason });
    ctx.status = 202;
    ctx.body = { prescription: summary(rx), workflow: state };
  });

  return r;
}
