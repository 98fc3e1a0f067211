// Hospitals push, read and cancel their prescriptions; pharmacists and operators may read any.
import Router from '@koa/router';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { AuditEventSchema, PrescriptionLineSchema, PrescriptionSchema, type Prescription } from '../../db/entities';
import { cancelUpdate } from '../../workflows/prescription';
import type { Principal } from '../auth';
import { requireRole } from '../auth';
import { ApiError, notFound } from '../errors';
import { intakePrescription } from '../intake';
import { PhaseTimer } from '../timing';
import { requestOrigin } from '../origin';
import { sendUpdate, workflowState } from '../workflows';
import type { ApiDeps } from '../app';
import { readFindings } from '../../domain/review-checks';

/** Loads a prescription the caller may see; another tenant's prescription is "not found", never "forbidden". */
export async function visiblePrescription(deps: ApiDeps, principal: Principal, id: string): Promise<Prescription> {
  if (!z.uuid().safeParse(id).success) throw notFound('prescription');
  const rx = await deps.orm.em.fork().findOne(PrescriptionSchema, { id });
  if (!rx) throw notFound('prescription');
  if (principal.role === 'hospital' && rx.hospitalId !== principal.partyId) throw notFound('prescription');
  if (principal.role !== 'hospital' && principal.role !== 'pharmacist' && principal.role !== 'operator') throw notFound('prescription');
  return rx;
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

  r.post('/v1/prescriptions', requireRole('hospital'), async (ctx) => {
    const principal = ctx.state.principal as Principal;
    const timer = new PhaseTimer();
    const { prescription, duplicate } = await intakePrescription(
      { orm: deps.orm, temporal: deps.temporal, taskQueue: deps.config.taskQueue, timings: deps.config.timings, rules: deps.config.rules },
      principal.partyId, ctx.request.body, timer, requestOrigin(ctx));
    ctx.set('Server-Timing', timer.header());
    timer.observe();
    ctx.status = duplicate ? 200 : 201;
    ctx.set('Location', `/v1/prescriptions/${prescription.id}`);
    ctx.body = { prescription: summary(prescription), duplicate };
  });

  r.get('/v1/prescriptions/:id', requireRole('hospital', 'pharmacist', 'operator'), async (ctx) => {
    const rx = await visiblePrescription(deps, ctx.state.principal, ctx.params.id);
    const lines = await deps.orm.em.fork().find(PrescriptionLineSchema, { prescriptionId: rx.id }, { orderBy: { lineNo: 'asc' } });
    ctx.body = {
      prescription: { ...summary(rx), usedAt: rx.usedAt, flags: readFindings(rx.flags), pricing: rx.pricing, lines },
      workflow: await workflowState(deps.temporal, rx.workflowId),
      versions: await versionsOf(deps, rx),
    };
  });

  r.get('/v1/prescriptions/:id/timeline', requireRole('hospital', 'pharmacist', 'operator'), async (ctx) => {
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

  r.get('/v1/prescriptions/:id/slip.pdf', requireRole('hospital', 'pharmacist', 'operator'), async (ctx) => {
    const rx = await visiblePrescription(deps, ctx.state.principal, ctx.params.id);
    const file = path.join(deps.config.filesDir, `${rx.id}-slip.pdf`);
    if (!fs.existsSync(file)) throw new ApiError(404, 'SLIP_NOT_READY', 'the slip is rendered once the prescription is approved and priced');
    ctx.type = 'application/pdf';
    ctx.body = fs.createReadStream(file);
  });

  r.post('/v1/prescriptions/:id/cancel', requireRole('hospital'), async (ctx) => {
    const rx = await visiblePrescription(deps, ctx.state.principal, ctx.params.id);
    const body = CancelBody.parse(ctx.request.body ?? {});
    const state = await sendUpdate(deps.temporal, rx.workflowId, cancelUpdate, { by: `hospital:${(ctx.state.principal as Principal).label}`, reason: body.reason });
    ctx.status = 202;
    ctx.body = { prescription: summary(rx), workflow: state };
  });

  return r;
}
