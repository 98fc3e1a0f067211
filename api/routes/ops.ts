// Operator and auditor routes for the audit trail and for a patient's data (docs/audit.md,
// docs/data-protection.md). Verifying and exporting the trail: operator or auditor. A patient's data
// (lookup, export, erase): operator only, and every such access is itself an audit event (who, from
// where, which patient; never the data).
import Router from '@koa/router';
import { Readable } from 'node:stream';
import { z } from 'zod';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { ApiDeps } from '../app';
import type { Principal } from '../auth';
import { authorize } from '../access';
import { ApiError, notFound } from '../errors';
import { requestOrigin } from '../origin';
import { audit } from '../../activities/audit';
import { erasePatient, exportPatient, findPatients } from '../../activities/patient-data';
import {
  auditExport, exportCsvHeader, exportCsvLine, exportJsonLine, parseBound, verifyAuditTrail,
} from '../../reports/audit-trail';
import { REGION_PATTERN } from '../../reports/supervision';
import { DEFAULT_RETENTION, type RetentionPolicy } from '../../domain/retention';

const isUuid = (v: string) => z.uuid().safeParse(v).success;
const MAX_EXPORT_DAYS = 366;

const VerifyQuery = z.object({ prescription: z.uuid('prescription must be a prescription id (uuid)').optional() });
const ExportQuery = z.object({
  from: z.string().refine((v) => parseBound(v, false) !== null, 'from must be a date YYYY-MM-DD (Asia/Shanghai) or an ISO instant with an offset'),
  to: z.string().refine((v) => parseBound(v, true) !== null, 'to must be a date YYYY-MM-DD (inclusive, Asia/Shanghai) or an ISO instant with an offset (exclusive)'),
  region: z.string().regex(REGION_PATTERN, 'region must be an administrative division code of 6 digits, e.g. 330100 (9 or 12 for finer levels)'),
  format: z.enum(['jsonl', 'csv']).default('jsonl'),
});
export const LookupBody = z.object({
  idNumber: z.string().regex(/^[0-9]{17}[0-9Xx]$/, 'a resident ID number: 17 digits and a digit or X').optional(),
  phone: z.string().regex(/^[0-9+\- ]{6,20}$/).optional(),
}).refine((b) => (b.idNumber === undefined) !== (b.phone === undefined), { message: 'send exactly one of idNumber and phone' });
export const EraseBody = z.object({
  /** The request this erasure answers (a ticket or case reference; no personal data). */
  ticket: z.string().min(1).max(64).regex(/^[A-Za-z0-9_.:/-]+$/, 'letters, digits and _ . : / - only'),
});

export function retentionPolicy(env: NodeJS.ProcessEnv = process.env): RetentionPolicy {
  const v = env.RX_RETENTION_PRESCRIPTION_YEARS;
  if (v === undefined || v === '') return DEFAULT_RETENTION;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`RX_RETENTION_PRESCRIPTION_YEARS must be a whole number of years, got ${v}`);
  return { prescriptionYears: n };
}

export function opsRoutes(deps: ApiDeps): Router {
  const r = new Router();
  const actorOf = (ctx: { state: { principal: Principal } }) => `${ctx.state.principal.role}:${ctx.state.principal.label}`;
  const record = (ctx: any, action: string, data: Record<string, unknown>) =>
    deps.orm.em.fork().transactional(async (t) => audit(t as EntityManager, null, { action, actor: actorOf(ctx), origin: requestOrigin(ctx), data }));

  r.get('/v1/ops/audit/verify', authorize('audit.verify'), async (ctx) => {
    const q = VerifyQuery.parse(ctx.query);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await verifyAuditTrail(deps.orm.em.fork() as EntityManager, { prescriptionId: q.prescription?.toLowerCase() });
  });

  r.get('/v1/ops/audit/export', authorize('audit.export'), async (ctx) => {
    const q = ExportQuery.parse(ctx.query);
    const from = parseBound(q.from, false)!;
    const to = parseBound(q.to, true)!;
    if (Date.parse(to) <= Date.parse(from)) throw new ApiError(400, 'VALIDATION_FAILED', 'to must be after from', [{ path: '$.to', message: 'must be after from' }]);
    if (Date.parse(to) - Date.parse(from) > MAX_EXPORT_DAYS * 86_400_000) {
      throw new ApiError(400, 'RANGE_TOO_LARGE', `export at most ${MAX_EXPORT_DAYS} days at a time`, [{ path: '$.to', message: `at most ${MAX_EXPORT_DAYS} days after from` }]);
    }
    // Who took which part of the trail: recorded before the first byte leaves.
    await record(ctx, 'audit_trail_exported', { from, to, regionCode: q.region, format: q.format });
    const rows = auditExport(deps.orm.em.fork() as EntityManager, { from, to, regionCode: q.region });
    const lines = async function* () {
      if (q.format === 'csv') yield exportCsvHeader();
      for await (const rec of rows) yield q.format === 'csv' ? exportCsvLine(rec) : exportJsonLine(rec);
    };
    const name = `audit-${q.region}-${q.from.slice(0, 10)}-${q.to.slice(0, 10)}.${q.format}`;
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Content-Disposition', `attachment; filename="${name}"`);
    ctx.type = q.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8';
    ctx.body = Readable.from(lines());
  });

  r.post('/v1/ops/patients/lookup', authorize('patient.lookup'), async (ctx) => {
    const body = LookupBody.parse(ctx.request.body ?? {});
    const kind = body.idNumber !== undefined ? 'idNumber' : 'phone';
    const patients = await findPatients(deps.orm, kind, (body.idNumber ?? body.phone)!);
    await record(ctx, 'patient_lookup', { by: kind, matches: patients.map((p) => p.id) });
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { patients };
  });

  r.get('/v1/ops/patients/:id/export', authorize('patient.export'), async (ctx) => {
    if (!isUuid(ctx.params.id)) throw notFound('patient');
    const data = await exportPatient(deps.orm, ctx.params.id);
    if (!data) throw notFound('patient');
    await record(ctx, 'patient_data_exported', { patientId: ctx.params.id, prescriptions: data.prescriptions.length });
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Content-Disposition', `attachment; filename="patient-${ctx.params.id}.json"`);
    ctx.body = data;
  });

  r.post('/v1/ops/patients/:id/erase', authorize('patient.erase'), async (ctx) => {
    if (!isUuid(ctx.params.id)) throw notFound('patient');
    const body = EraseBody.parse(ctx.request.body ?? {});
    const result = await erasePatient(deps.orm, ctx.params.id, {
      actor: `${actorOf(ctx)} ticket:${body.ticket}`.slice(0, 120), origin: requestOrigin(ctx), policy: retentionPolicy(), filesDir: deps.config.filesDir,
    });
    if (!result) throw notFound('patient');
    const retained = result.plan.prescriptions.filter((d) => !d.erase).map((d) => (d.erase ? null : { prescriptionId: d.prescriptionId, rxNo: d.rxNo, code: d.code, reason: d.reason, until: d.until }))
      .filter((d) => d !== null);
    const details = retained.map((d, i) => ({ path: `$.retained[${i}]`, code: d.code, message: d.reason }));
    if (result.plan.inCare) throw new ApiError(409, 'PATIENT_IN_CARE', 'the patient has a prescription in progress; nothing was erased', details);
    if (!result.plan.anything) {
      throw new ApiError(409, 'ERASE_RETAINED', 'everything held about the patient is under legal retention; nothing was erased',
        [...details, { path: '$.patient', code: 'UNDER_RETENTION', message: result.plan.patientRow.erase ? 'erasable' : result.plan.patientRow.reason }]);
    }
    ctx.body = {
      patientId: result.patientId,
      erased: {
        patientRow: result.patientRowErased, prescriptions: result.erasedPrescriptionIds, auditEventData: result.erasedAuditEventIds.length, files: result.removedFiles,
      },
      retained,
      patientRow: result.plan.patientRow.erase ? null : { reason: result.plan.patientRow.reason, until: result.plan.patientRow.until },
    };
  });

  return r;
}
