// Pharmacists: the review queue, one prescription with the patient's context, approve or reject.
import Router from '@koa/router';
import { z } from 'zod';
import { PatientSchema, PharmacistSchema, PrescriptionLineSchema, PrescriptionSchema } from '../../db/entities';
import { reviewUpdate } from '../../workflows/prescription';
import { requireRole, type Principal } from '../auth';
import { sendUpdate } from '../workflows';
import { summary, visiblePrescription } from './prescriptions';
import { countBySeverity, readFindings } from '../../domain/review-checks';
import type { ApiDeps } from '../app';

const ReviewBody = z.discriminatedUnion('decision', [
  z.object({ decision: z.literal('approve'), reasons: z.array(z.string().min(1).max(200)).max(10).default([]), comment: z.string().max(500).optional() }),
  z.object({ decision: z.literal('reject'), reasons: z.array(z.string().min(1).max(200)).min(1).max(10), comment: z.string().max(500).optional() }),
]);

export function reviewRoutes(deps: ApiDeps): Router {
  const r = new Router();
  r.use('/v1/review-queue', requireRole('pharmacist'));

  r.get('/v1/review-queue', async (ctx) => {
    const limit = Math.min(Number(ctx.query.limit ?? 50) || 50, 200);
    const items = await deps.orm.em.fork().find(PrescriptionSchema, { status: 'in_review' }, { orderBy: { createdAt: 'asc' }, limit });
    ctx.body = {
      items: items.map((rx) => ({
        ...summary(rx),
        department: (rx.content as any).visit?.department,
        flags: readFindings(rx.flags),
        // Flags stored before findings had severity 'serious'; readFindings reads it as 'block'.
        seriousFlags: countBySeverity(readFindings(rx.flags)).block,
        findingCounts: countBySeverity(readFindings(rx.flags)),
      })),
    };
  });

  r.get('/v1/review-queue/:id', async (ctx) => {
    const rx = await visiblePrescription(deps, ctx.state.principal, ctx.params.id);
    const em = deps.orm.em.fork();
    const lines = await em.find(PrescriptionLineSchema, { prescriptionId: rx.id }, { orderBy: { lineNo: 'asc' } });
    const history = await em.find(PrescriptionSchema, { hospitalId: rx.hospitalId, patientRef: rx.patientRef, id: { $ne: rx.id } }, { orderBy: { createdAt: 'desc' }, limit: 20 });
    const patient = rx.patientId ? await em.findOne(PatientSchema, { id: rx.patientId }) : null;
    const content = rx.content as any;
    ctx.body = {
      prescription: { ...summary(rx), flags: readFindings(rx.flags), lines, visit: content.visit, diagnoses: content.diagnoses, doctor: content.doctor },
      patient: {
        id: patient?.id ?? null,
        name: content.patient.name, gender: content.patient.gender, birthDate: content.patient.birthDate,
        allergies: content.patient.allergies ?? [], pregnant: content.patient.pregnant ?? false, guardian: content.patient.guardian ?? null,
        lactating: content.patient.lactating ?? null, weightKg: content.patient.weightKg ?? null, renal: content.patient.renal ?? null,
      },
      findingCounts: countBySeverity(readFindings(rx.flags)),
      history: history.map(summary),
    };
  });

  r.post('/v1/prescriptions/:id/review', requireRole('pharmacist'), async (ctx) => {
    const rx = await visiblePrescription(deps, ctx.state.principal, ctx.params.id);
    const body = ReviewBody.parse(ctx.request.body ?? {});
    const pharmacist = await deps.orm.em.fork().findOneOrFail(PharmacistSchema, { id: (ctx.state.principal as Principal).partyId });
    const state = await sendUpdate(deps.temporal, rx.workflowId, reviewUpdate, { pharmacistCode: pharmacist.code, ...body });
    ctx.status = 202;
    ctx.body = { prescription: summary(rx), workflow: state };
  });

  return r;
}
