// A patient's data for the operator (docs/data-protection.md): everything held about them (export), erasure
// of what retention lets go (erase), lookups by keyed hash, and re-encryption under the current data key
// (rotation). Adapters over PostgreSQL; the rules are domain/retention.ts and domain/field-crypto.ts.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { PatientSchema, PrescriptionSchema } from '../db/entities';
import { audit, type AuditOrigin } from './audit';
import { hasPersonalData } from '../domain/audit-data';
import {
  contentNeedsReencryption, decryptField, encryptField, lookupHash, needsReencryption, reencryptContent, type KeyRing,
} from '../domain/field-crypto';
import { erasedContent, planErasure, type ErasurePlan, type RetentionPolicy } from '../domain/retention';
import type { PrescriptionStatus } from '../domain/prescription-status';
import { dataKeyRing } from '../engine/data-keys';
// The verifier checks that every erased event is listed by an erasure event of this action.
import { ERASURE_ACTION } from '../reports/audit-trail';

type Row = Record<string, any>;
/** A uuid[] parameter as PostgreSQL's array literal (the driver would expand a JS array into a list). */
const uuidArray = (ids: string[]) => `{${ids.map((id) => id.replace(/[^0-9a-fA-F-]/g, '')).join(',')}}`;
const sqlIn = (em: EntityManager) => <T = Row>(query: string, params: unknown[] = []): Promise<T[]> =>
  em.getConnection().execute(query, params, 'all', em.getTransactionContext()) as Promise<T[]>;


// ---- lookups --------------------------------------------------------------------------------------------

/** Patients whose ID number (or phone) is this value, by keyed hash: the encrypted columns are never scanned. */
export async function findPatients(orm: MikroORM, kind: 'idNumber' | 'phone', value: string): Promise<{ id: string; hospitalId: string; ref: string }[]> {
  const hash = lookupHash(dataKeyRing(), kind, value);
  const rows = await orm.em.fork().find(PatientSchema, kind === 'idNumber' ? { idNumberHash: hash } : { phoneHash: hash }, { orderBy: { updatedAt: 'desc' }, limit: 50 });
  return rows.map((p) => ({ id: p.id, hospitalId: p.hospitalId, ref: p.ref }));
}

// ---- export ---------------------------------------------------------------------------------------------

export interface PatientExport {
  exportedAt: string;
  patient: Record<string, unknown>;
  prescriptions: Record<string, unknown>[];
  /** Audit events about the patient without a prescription (exports, erasures). */
  patientEvents: Record<string, unknown>[];
}

/** Everything held about one patient, decrypted; null when there is no such patient. */
export async function exportPatient(orm: MikroORM, patientId: string): Promise<PatientExport | null> {
  const em = orm.em.fork() as EntityManager;
  const patient = await em.findOne(PatientSchema, { id: patientId });
  if (!patient) return null;
  const q = sqlIn(em);
  const [hospital] = await q(`select code, name from hospital where id = ?`, [patient.hospitalId]);
  const rxs = await em.find(PrescriptionSchema, { patientId }, { orderBy: { createdAt: 'asc' } });
  const ids = rxs.map((r) => r.id);
  const by = async (table: string, order: string) => {
    const rows = ids.length ? await q(`select * from ${table} where prescription_id = any(?::uuid[]) order by ${order}`, [uuidArray(ids)]) : [];
    const m = new Map<string, Row[]>();
    for (const r of rows) m.set(r.prescription_id, [...(m.get(r.prescription_id) ?? []), r]);
    return (id: string) => m.get(id) ?? [];
  };
  const [lines, reviews, orders, dispensings, packs, settlements, deliveries, followUps, events] = await Promise.all([
    by('prescription_line', 'line_no'), by('review', 'decided_at'), by('fulfilment_order', 'attempt'), by('dispensing', 'dispensed_at'),
    by('dispensed_pack', 'line_no'), by('settlement', 'created_at'), by('delivery', 'attempt'), by('follow_up', 'due_at'),
    by('audit_event', 'global_seq'),
  ]);
  const patientEvents = await q(`select * from audit_event where prescription_id is null and data->>'patientId' = ? order by global_seq`, [patientId]);
  const address = patient.address ? safeJson(patient.address) : null;
  return {
    exportedAt: new Date().toISOString(),
    patient: {
      id: patient.id, hospital: hospital ? { code: hospital.code, name: hospital.name } : null, ref: patient.ref, name: patient.name, gender: patient.gender,
      birthDate: patient.birthDate, phone: patient.phone, idNumber: patient.idNumber, address, allergies: patient.allergies,
      updatedAt: patient.updatedAt, erasedAt: patient.erasedAt ?? null,
    },
    prescriptions: rxs.map((rx) => ({
      id: rx.id, rxNo: rx.rxNo, status: rx.status, issuedAt: rx.issuedAt, expiresAt: rx.expiresAt, createdAt: rx.createdAt, usedAt: rx.usedAt,
      content: rx.content, flags: rx.flags, pricing: rx.pricing,
      lines: lines(rx.id), reviews: reviews(rx.id), orders: orders(rx.id), dispensings: dispensings(rx.id), dispensedPacks: packs(rx.id),
      settlements: settlements(rx.id), deliveries: deliveries(rx.id), followUps: followUps(rx.id), auditEvents: events(rx.id),
    })),
    patientEvents,
  };
}

function safeJson(text: string): unknown {
  try { return JSON.parse(text); } catch { return text; }
}

// ---- erase ----------------------------------------------------------------------------------------------

export interface ErasureResult {
  patientId: string;
  plan: ErasurePlan;
  erasedPrescriptionIds: string[];
  erasedAuditEventIds: string[];
  removedFiles: number;
  patientRowErased: boolean;
}

/**
 * Erases what the retention plan lets go, in one transaction: the personal data in the content of
 * prescriptions past retention (and their link to the patient), the proof and notes in their deliveries,
 * the data of their audit events that carry personal data (the events, their digests and the chains
 * stay), their rendered slip and label PDFs, and the patient row's personal data when nothing retained
 * needs it. The erasure itself is an audit event listing what it erased, without the data. Nothing is
 * written when the plan erases nothing (the caller refuses with the plan's reasons).
 */
export async function erasePatient(orm: MikroORM, patientId: string, opts: {
  actor: string; origin?: AuditOrigin; now?: Date; policy?: RetentionPolicy; filesDir?: string;
}): Promise<ErasureResult | null> {
  const now = opts.now ?? new Date();
  const files: string[] = [];
  const result = await orm.em.fork().transactional(async (t) => {
    const em = t as EntityManager;
    const q = sqlIn(em);
    const [patient] = await q(`select id from patient where id = ? for update`, [patientId]);
    if (!patient) return null;
    const rxs = await q<{ id: string; rx_no: string; status: PrescriptionStatus; issued_at: Date; updated_at: Date; content: Record<string, unknown> }>(
      `select id, rx_no, status, issued_at, updated_at, content from prescription where patient_id = ? order by created_at for update`, [patientId]);
    const plan = planErasure(rxs.map((r) => ({ id: r.id, rxNo: r.rx_no, status: r.status, issuedAt: new Date(r.issued_at), updatedAt: new Date(r.updated_at) })), now, opts.policy);
    const out: ErasureResult = { patientId, plan, erasedPrescriptionIds: [], erasedAuditEventIds: [], removedFiles: 0, patientRowErased: false };
    if (!plan.anything) {
      audit(em, null, { action: 'patient_erase_refused', actor: opts.actor, origin: opts.origin,
        data: { patientId, retained: plan.prescriptions.map((d) => ({ prescriptionId: d.prescriptionId, code: d.erase ? null : d.code, until: d.erase ? null : d.until })) } });
      return out;
    }
    const erasable = new Set(plan.prescriptions.filter((d) => d.erase).map((d) => d.prescriptionId));
    for (const rx of rxs.filter((r) => erasable.has(r.id))) {
      // Raw SQL on purpose: the content's remaining fields need no encryption, and the ORM would re-stamp updated_at.
      await q(`update prescription set content = ?::jsonb, patient_id = null, patient_ref = 'erased' where id = ?`, [JSON.stringify(erasedContent(rx.content)), rx.id]);
      // The patient's own choices (docs/patient.md): the address they gave, and family members' names on their links.
      await q(`update fulfilment_choice set address = null where prescription_id = ?`, [rx.id]);
      await q(`update patient_link set holder_name = null, revoked_at = coalesce(revoked_at, now()), revoked_by = coalesce(revoked_by, 'erasure') where prescription_id = ?`, [rx.id]);
      const deliveries = await q<{ id: string; events: { status: string; at: string; proof?: { kind?: string } | null }[] }>(`select id, events from delivery where prescription_id = ?`, [rx.id]);
      for (const d of deliveries) {
        const events = d.events.map((e) => ({ status: e.status, at: e.at, ...(e.proof ? { proof: { kind: e.proof.kind ?? null } } : {}) }));
        await q(`update delivery set events = ?::jsonb where id = ?`, [JSON.stringify(events), d.id]);
        if (opts.filesDir) files.push(path.join(opts.filesDir, `${d.id}-label.pdf`));
      }
      // Follow-up answers carry the patient's own words and a family member's name; the step and its status stay.
      await q(`update follow_up set answer = case when answer is null then null else '{"erased": true}'::jsonb end where prescription_id = ?`, [rx.id]);
      await q(`update renewal_request set note = null where prescription_id = ?`, [rx.id]);
      const events = await q<{ id: string; data: unknown }>(`select id::text as id, data from audit_event where prescription_id = ? and data_erased_at is null order by global_seq`, [rx.id]);
      for (const e of events.filter((ev) => hasPersonalData(ev.data))) {
        // The one change the append-only trigger allows: the digest in the chain keeps the event verifiable.
        await q(`update audit_event set data = '{"erased": true}'::jsonb, data_erased_at = ? where id = ?`, [now, e.id]);
        out.erasedAuditEventIds.push(e.id);
      }
      if (opts.filesDir) files.push(path.join(opts.filesDir, `${rx.id}-slip.pdf`));
      out.erasedPrescriptionIds.push(rx.id);
    }
    if (plan.patientRow.erase) {
      await q(`update patient set name = '[erased]', ref = 'erased-' || id::text, phone = '', id_number = null, address = null, id_number_hash = null,
          phone_hash = null, allergies = '[]'::jsonb, birth_date = date_trunc('year', birth_date)::date, erased_at = ?, updated_at = ? where id = ?`, [now, now, patientId]);
      out.patientRowErased = true;
    }
    audit(em, null, { action: ERASURE_ACTION, actor: opts.actor, origin: opts.origin, data: {
      patientId, prescriptionIds: out.erasedPrescriptionIds, auditEventIds: out.erasedAuditEventIds, patientRow: out.patientRowErased,
      retained: plan.prescriptions.filter((d) => !d.erase).map((d) => ({ prescriptionId: d.prescriptionId, until: d.erase ? null : d.until })),
    } });
    return out;
  });
  if (result) {
    // After the commit: a file that stays behind after a crash is found again by the next erase.
    for (const f of files) {
      try { await fs.unlink(f); result.removedFiles += 1; } catch { /* never rendered, or already gone */ }
    }
  }
  return result;
}

// ---- key rotation ---------------------------------------------------------------------------------------

export interface ReencryptResult { patients: number; prescriptions: number }

/**
 * Brings every encrypted value under the ring's current key: plaintext from before encryption is
 * encrypted, values under older keys are re-encrypted, and the lookup hashes are recomputed (so the lookup
 * key can rotate too). Idempotent; rows already current are left alone. `only` limits it to some rows.
 */
export async function reencryptAll(orm: MikroORM, ring: KeyRing, only: { patientIds?: string[]; prescriptionIds?: string[] } = {}): Promise<ReencryptResult> {
  const out: ReencryptResult = { patients: 0, prescriptions: 0 };
  const BATCH = 500;
  const limitTo = (ids: string[] | undefined) => (ids ? ` and id = any(?::uuid[])` : '');
  let after = '00000000-0000-0000-0000-000000000000';
  for (;;) {
    const done = await orm.em.fork().transactional(async (t) => {
      const q = sqlIn(t as EntityManager);
      const rows = await q<{ id: string; phone: string; id_number: string | null; address: string | null; id_number_hash: string | null; phone_hash: string | null }>(
        `select id, phone, id_number, address, id_number_hash, phone_hash from patient where id > ?${limitTo(only.patientIds)} order by id limit ${BATCH} for update`,
        only.patientIds ? [after, uuidArray(only.patientIds)] : [after]);
      for (const r of rows) {
        const plain = {
          phone: decryptField(ring, r.phone, 'patient.phone'),
          idNumber: r.id_number === null ? null : decryptField(ring, r.id_number, 'patient.id_number'),
          address: r.address === null ? null : decryptField(ring, r.address, 'patient.address'),
        };
        const idHash = plain.idNumber ? lookupHash(ring, 'idNumber', plain.idNumber) : null;
        const phoneHash = plain.phone ? lookupHash(ring, 'phone', plain.phone) : null;
        if (!needsReencryption(ring, r.phone) && !needsReencryption(ring, r.id_number) && !needsReencryption(ring, r.address)
          && idHash === r.id_number_hash && phoneHash === r.phone_hash) continue;
        await q(`update patient set phone = ?, id_number = ?, address = ?, id_number_hash = ?, phone_hash = ? where id = ?`, [
          plain.phone ? encryptField(ring, plain.phone, 'patient.phone') : plain.phone,
          plain.idNumber === null ? null : encryptField(ring, plain.idNumber, 'patient.id_number'),
          plain.address === null ? null : encryptField(ring, plain.address, 'patient.address'),
          idHash, phoneHash, r.id]);
        out.patients += 1;
      }
      return rows.length ? rows[rows.length - 1].id : null;
    });
    if (!done) break;
    after = done;
  }
  after = '00000000-0000-0000-0000-000000000000';
  for (;;) {
    const done = await orm.em.fork().transactional(async (t) => {
      const q = sqlIn(t as EntityManager);
      const rows = await q<{ id: string; content: Record<string, unknown> }>(
        `select id, content from prescription where id > ?${limitTo(only.prescriptionIds)} order by id limit ${BATCH} for update`,
        only.prescriptionIds ? [after, uuidArray(only.prescriptionIds)] : [after]);
      for (const r of rows) {
        if (!contentNeedsReencryption(ring, r.content)) continue;
        await q(`update prescription set content = ?::jsonb where id = ?`, [JSON.stringify(reencryptContent(ring, r.content)), r.id]);
        out.prescriptions += 1;
      }
      return rows.length ? rows[rows.length - 1].id : null;
    });
    if (!done) break;
    after = done;
  }
  return out;
}
