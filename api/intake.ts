// Intake: a hospital pushes a signed prescription. Schema, signature and prescribing rules are checked
// before anything is stored; the prescription row and its first audit event are written in one
// transaction; the workflow id is derived from the row, so a repeated push finds the same prescription.
import { randomUUID } from 'node:crypto';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { Client } from '@temporalio/client';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { DoctorSchema, DrugSchema, HospitalSchema, PatientSchema, PrescriptionLineSchema, PrescriptionSchema, type Prescription } from '../db/entities';
import { PrescriptionSubmissionSchema, type PrescriptionPush, type PrescriptionSubmission } from '../domain/prescription';
import { contentHash } from '../domain/canonical';
import { verifyPrescriptionSignature } from '../domain/signature';
import { registeredKeys } from './signing-keys';
import { checkIntake, expiresAt, lineLookupKeys, resolveLineDrugs, type RulesConfig } from '../domain/rules';
import { classifyPush } from '../domain/review';
import type { Drug } from '../domain/types';
import type { WorkflowTimings } from '../engine/config';
import { audit, type AuditOrigin } from '../activities/audit';
import { lookupHash } from '../domain/field-crypto';
import { dataKeyRing } from '../engine/data-keys';
import { recordHospitalEvent, recordIntakeRefusal } from '../activities/hospital-events';
import { workflowIdFor } from '../workflows/prescription';
import { ApiError, fromZod, jsonPath } from './errors';
import { startPrescriptionWorkflow } from './workflows';
import { PhaseTimer } from './timing';

export interface IntakeDeps { orm: MikroORM; temporal: Client; taskQueue: string; timings: WorkflowTimings; rules?: RulesConfig }
export interface IntakeResult { prescription: Prescription; duplicate: boolean }

/** The pushing hospital's row when the request's signature check already loaded it (api/request-signature.ts). */
export type KnownHospital = { id: string; code: string } | null | undefined;

async function intakeChecked(deps: IntakeDeps, hospitalId: string, raw: unknown, timer: PhaseTimer, origin?: AuditOrigin, known?: KnownHospital): Promise<IntakeResult> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ApiError(400, 'VALIDATION_FAILED', 'the body must be a JSON object');
  const parsed = timer.time('validation', () => PrescriptionSubmissionSchema.safeParse(raw));
  if (!parsed.success) throw fromZod(parsed.error);
  const rx = parsed.data;
  const body = raw as Record<string, unknown>;
  const now = new Date();
  const em = deps.orm.em.fork();

  const hospital = known?.id === hospitalId ? known : await timer.time('database', () => em.findOneOrFail(HospitalSchema, { id: hospitalId }));
  const keys = await timer.time('database', () => registeredKeys(em, hospitalId, now));
  const sig = timer.time('signature', () => verifyPrescriptionSignature(body, keys, now));
  if (!sig.ok) throw new ApiError(422, sig.code, sig.message, [{ path: '$.signature', message: sig.message }]);

  const hash = contentHash(body);
  // Same number: a duplicate, an amendment of the rejected latest version, or a conflict (domain/review.ts).
  const verdict = classifyPush(rx.rxNo, hash, rx.amends, await timer.time('database', () => em.find(PrescriptionSchema, { hospitalId, rxNo: rx.rxNo }, { orderBy: { version: 'asc' } })));
  if (verdict.kind === 'duplicate') return duplicateOf(deps, hospital.code, verdict.of as Prescription, hash);
  if (verdict.kind === 'refused') throw new ApiError(verdict.status, verdict.code, verdict.message, [{ path: verdict.code === 'RX_CONFLICT' ? '$.rxNo' : '$.amends', message: verdict.message }]);
  const amended = verdict.kind === 'amendment' ? verdict.of : null;

  const doctor = await timer.time('database', () => em.findOne(DoctorSchema, { hospitalId, code: rx.doctor.code }));
  const drugs = await timer.time('database', () => catalogueCandidates(em, rx));
  const violations = timer.time('validation', () => checkIntake(rx, { now, doctor, drugs, config: deps.rules }));
  if (violations.length) {
    throw new ApiError(422, 'RX_RULES_VIOLATED', `the prescription breaks ${violations.length} prescribing rule(s): ${violations.map((v) => v.code).join(', ')}`,
      violations.map((v) => ({ path: jsonPath(v.path), code: v.code, message: v.message })));
  }

  let created: Prescription;
  try {
    created = await timer.time('database', () => em.transactional(async (t) => {
      const patientId = await upsertPatient(t, hospitalId, rx.patient);
      const p = t.create(PrescriptionSchema, {
        id: randomUUID(), hospitalId, rxNo: rx.rxNo, contentHash: hash, status: 'received', content: body, doctorId: doctor!.id,
        patientId, patientRef: rx.patient.ref, issuedAt: new Date(rx.issuedAt), expiresAt: expiresAt(rx), flags: [], pricing: null,
        workflowId: '', usedAt: null,
        version: amended ? amended.version + 1 : 1, amendsId: amended?.id ?? null, reviewEscalations: 0,
      } as never);
      p.workflowId = workflowIdFor(p.id);
      if (amended) audit(t, amended.id, { action: 'amended', actor: `hospital:${hospital.code}`, data: { by: p.id, version: amended.version + 1 } });
      // No violations means every line resolved to exactly one catalogue SKU.
      const resolved = resolveLineDrugs(rx, drugs);
      rx.lines.forEach((l, i) => t.create(PrescriptionLineSchema, {
        prescriptionId: p.id, lineNo: i + 1, drugCode: resolved[i].drug!.code, drugName: resolved[i].drug!.genericNameZh,
        quantity: l.quantity, dosage: l.dosage, frequency: l.frequency, route: l.route, days: l.days,
      } as never));
      audit(t, p.id, { action: 'received', actor: `hospital:${hospital.code}`, toStatus: 'received', data: { rxNo: rx.rxNo, contentHash: hash, keyId: rx.signature.keyId, ...(amended ? { version: amended.version + 1, amends: amended.id } : {}) }, origin });
      await recordHospitalEvent(t, p, { from: null, to: 'received', action: 'received', actor: `hospital:${hospital.code}` });
      if (rx.renewalOf) await linkRenewal(t, hospitalId, rx.renewalOf.renewalRequestId, p.id, `hospital:${hospital.code}`);
      return p;
    }));
  } catch (e) {
    // Two pushes of the same prescription raced; the loser answers like any duplicate.
    if (e instanceof UniqueConstraintViolationException) {
      const versions = await deps.orm.em.fork().find(PrescriptionSchema, { hospitalId, rxNo: rx.rxNo }, { orderBy: { version: 'asc' } });
      const again = classifyPush(rx.rxNo, hash, rx.amends, versions);
      if (again.kind === 'duplicate') return duplicateOf(deps, hospital.code, again.of as Prescription, hash);
      const message = again.kind === 'refused' ? again.message : `prescription ${rx.rxNo} changed while this push was stored; push again`;
      throw new ApiError(409, again.kind === 'refused' ? again.code : 'RX_CONFLICT', message, [{ path: '$.rxNo', message }]);
    }
    throw e;
  }
  await timer.time('workflow_start', () => start(deps, hospital.code, created));
  return { prescription: created, duplicate: false };
}

/**
 * A renewal the follow-up asked for (docs/follow-up.md §6): the request, if it is this hospital's and still
 * open, is marked renewed by the new prescription. A request that does not match links nothing: the
 * prescription itself is valid either way.
 */
async function linkRenewal(t: EntityManager, hospitalId: string, requestId: string, prescriptionId: string, actor: string): Promise<void> {
  const rows: { prescription_id: string }[] = await t.getConnection().execute(
    `update renewal_request r set status = 'renewed', renewed_by_id = ? from prescription p
      where r.id = ? and r.status = 'requested' and p.id = r.prescription_id and p.hospital_id = ? returning r.prescription_id`,
    [prescriptionId, requestId, hospitalId], 'all', t.getTransactionContext());
  if (rows.length) audit(t, rows[0].prescription_id, { action: 'renewal_issued', actor, data: { renewalRequestId: requestId, prescriptionId } });
}

/** The catalogue drugs any line might name: by SKU code, insurance code, approval number or generic name. */
async function catalogueCandidates(em: EntityManager, rx: PrescriptionPush): Promise<Map<string, Drug>> {
  const k = lineLookupKeys(rx);
  const list = (xs: string[]) => JSON.stringify(xs);
  const rows: { code: string; data: Drug }[] = await em.getConnection().execute(
    `select code, data from drug
      where code in (select jsonb_array_elements_text(?::jsonb))
         or data->>'insuranceCode' in (select jsonb_array_elements_text(?::jsonb))
         or data->>'approvalNumber' in (select jsonb_array_elements_text(?::jsonb))
         or generic_name_zh in (select jsonb_array_elements_text(?::jsonb))
         or lower(data->>'genericNameEn') in (select jsonb_array_elements_text(?::jsonb))`,
    [list(k.codes), list(k.insuranceCodes), list(k.approvalNumbers), list(k.genericNames), list(k.genericNames.map((n) => n.toLowerCase()))]);
  return new Map(rows.map((r) => [r.code, (typeof r.data === 'string' ? JSON.parse(r.data) : r.data) as Drug]));
}

/** The hospital's patient row, refreshed from the newest prescription (the prescription keeps its snapshot). */
async function upsertPatient(em: EntityManager, hospitalId: string, p: PrescriptionSubmission['patient']): Promise<string> {
  const patient = await em.upsert(PatientSchema, {
    id: randomUUID(), hospitalId, ref: p.ref, name: p.name, gender: p.gender, birthDate: p.birthDate, phone: p.phone,
    idNumber: p.idNumber ?? null, allergies: p.allergies, updatedAt: new Date(),
    // Encrypted at rest by the column types (db/protected-types.ts); the keyed hashes are for lookups.
    address: JSON.stringify(p.address), idNumberHash: p.idNumber ? lookupHash(dataKeyRing(), 'idNumber', p.idNumber) : null,
    phoneHash: lookupHash(dataKeyRing(), 'phone', p.phone), erasedAt: null,
  }, {
    onConflictFields: ['hospitalId', 'ref'], onConflictAction: 'merge',
    onConflictMergeFields: ['name', 'gender', 'birthDate', 'phone', 'idNumber', 'allergies', 'updatedAt', 'address', 'idNumberHash', 'phoneHash', 'erasedAt'],
  });
  return patient.id;
}

async function duplicateOf(deps: IntakeDeps, hospitalCode: string, existing: Prescription, hash: string): Promise<IntakeResult> {
  if (existing.contentHash !== hash) {
    throw new ApiError(409, 'RX_CONFLICT', `prescription ${existing.rxNo} already exists with different content`, [{ path: '$.rxNo', message: 'same number, different content' }]);
  }
  // The first push may have stored the row and then lost the workflow start (crash, Temporal down):
  // starting again is safe because the workflow id is fixed.
  if (existing.status === 'received') await start(deps, hospitalCode, existing);
  return { prescription: existing, duplicate: true };
}

async function start(deps: IntakeDeps, hospitalCode: string, p: Prescription): Promise<void> {
  await startPrescriptionWorkflow(deps.temporal, deps.taskQueue, p.workflowId, {
    prescriptionId: p.id, rxNo: p.rxNo, hospitalCode, expiresAt: p.expiresAt.toISOString(), timings: deps.timings,
    fulfilment: (p.content as { fulfilment?: { mode: 'delivery' | 'pickup' } }).fulfilment?.mode ?? 'delivery',
  });
}

/**
 * Intake, and a refusal the hospital's systems hear about by callback too (the push may have come from
 * a batch job nobody watches). Refusals with no prescription number cannot be matched by the hospital.
 */
export async function intakePrescription(deps: IntakeDeps, hospitalId: string, raw: unknown, timer = new PhaseTimer(), origin?: AuditOrigin, known?: KnownHospital): Promise<IntakeResult> {
  try {
    return await intakeChecked(deps, hospitalId, raw, timer, origin, known);
  } catch (e) {
    const rxNo = (raw as { rxNo?: unknown } | null)?.rxNo;
    if (e instanceof ApiError && (e.status === 422 || e.status === 400) && typeof rxNo === 'string' && rxNo.length > 0 && rxNo.length <= 64) {
      try {
        await recordIntakeRefusal(deps.orm, hospitalId, rxNo, e);
      } catch { /* the hospital has its answer; a lost refusal event must not turn a 422 into a 500 */ }
    }
    throw e;
  }
}
