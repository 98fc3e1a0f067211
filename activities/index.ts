// Activities: the workflow's thin adapters to PostgreSQL, Elasticsearch, partners and PDF files.
// Each one is safe to retry: it checks what is already written before writing again.
import type { MikroORM, EntityManager } from '@mikro-orm/postgresql';
import type { Client } from '@elastic/elasticsearch';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowNotFoundError, type Client as TemporalClient } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  DeliveryPartnerSchema, DeliverySchema, DispensedPackSchema, DispensingSchema, DrugSchema, SettlementSchema, TraceAlertSchema, FollowUpSchema, FulfilmentOrderSchema, HospitalSchema,
  PharmacistSchema, PharmacySchema, PrescriptionLineSchema, PrescriptionSchema, ReviewSchema,
  type FollowUp,
} from '../db/entities';
import { audit, transition, type AuditOrigin } from './audit';
import { withResolvedDrugCodes, type PrescriptionSubmission } from '../domain/prescription';
import type { Drug } from '../domain/types';
import { automatedReview, countBySeverity, knowledgeVersions } from '../domain/review-checks';
import { knowledgeReader } from '../catalog/clinical';
import { precheck, type PrecheckResult, type PricedLineInput } from '../domain/insurance';
import { coverageOf } from '../domain/insurance-plans';
import { coverageFrom, type InsuranceBlock } from '../domain/insurance-plans';
import { reversalOf } from '../domain/insurance';
import { readPolicies } from '../catalog/insurance';
import { InsurerUnavailable, rulesInsurer, type InsurerAdapter, type InsurerPrecheckRequest } from './insurer';
import { ageInYears } from '../domain/rules';
import { canDeliveryTransition, type DeliveryStatus } from '../domain/prescription-status';
import { chinaMinuteOfDay, substitutionKey, type LineFill, type PharmacyCandidate } from '../domain/matching';
import { explainCannotFill, matchPharmacies, type CannotFill } from '../catalog/queries';
import { shelfReader } from '../catalog/shelf';
import { deliveries, deliveryLateness, pharmacyResponses, reviewSlaBreaches } from '../engine/metrics';
import { renderLabel, renderSlip } from './pdf';
import { maskPhone } from '../domain/masking';
import { checkDispensing, type DispenseLineInput, type Finding } from '../domain/dispensing';
import { addQuantities, fillProgress, fillSettlement, notDispensed, quantitiesOf, type LineProgress } from '../domain/partial-fill';
import { LockMode } from '@mikro-orm/core';
import { ColdChainExcursionSchema } from '../db/entities';
import { loadDeliveryConfig, type DeliveryConfig } from '../engine/config';
import { etaFor, isLate, promisedBy as promisedWindowEnd } from '../domain/delivery-eta';
import { formatProofCode, proofCodeHash } from '../domain/proof-code';
import { storageLabel } from '../domain/storage-label';
import { randomInt } from 'node:crypto';
import { choosePartner, neededCapabilities, promisedWindow, type PartnerProfile } from '../domain/delivery';
import { createPartnerDelivery } from './partner';
import { activePartnerSecrets, loadPartnerConfig, openPartnerSecret } from '../engine/partner-config';
import type { DeliveryPartner } from '../db/entities';
import type { ReviewSignature } from '../domain/review-signature';
import { lookupHash } from '../domain/field-crypto';
import { dataKeyRing } from '../engine/data-keys';
import { createFollowUpActivities } from './follow-ups';
import { decryptField } from '../domain/field-crypto';
import { issueLink, linkUrl, LinkNotIssuable, tokenOf, type LinkRow, type PatientLinkSettings } from './patient-links';

export interface ActivityDeps {
  orm: MikroORM;
  es: Client;
  /** For the reservation sweeper's "is that workflow still running?"; optional in tests. */
  temporal?: TemporalClient;
  /** Match as if it were this minute of the day (China time); tests and demos pin it, production uses the clock. */
  matchAtMinute?: number;
  indexPrefix: string;
  filesDir: string;
  cjkFont: string;
  /** Who answers the insurance pre-check (activities/insurer.ts); the built-in rules engine when absent. */
  insurer?: InsurerAdapter;
  /** Promised windows, ETA speeds and cold-chain rules; read from the environment when absent. */
  delivery?: DeliveryConfig;
  /** rxflow's public base URL: partners are told where to post their signed status updates. */
  publicUrl?: string;
  /** Patient links (docs/patient.md): without them no link is sent at intake. */
  patientLinks?: PatientLinkSettings;
  /** Sends the patient an SMS; a file outbox in filesDir until a gateway is wired (never the audit trail or logs). */
  patientMessenger?: PatientMessenger;
}

export interface PatientMessage { prescriptionId: string; linkId: string; to: string; text: string; url: string }
export type PatientMessenger = (m: PatientMessage) => Promise<void>;

/** The development stand-in for an SMS gateway: one JSON file per message under <filesDir>/patient-messages. */
export function fileOutbox(filesDir: string): PatientMessenger {
  return async (m) => {
    const dir = path.join(filesDir, 'patient-messages');
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    await fs.writeFile(path.join(dir, `${m.prescriptionId}-${m.linkId}.json`), JSON.stringify(m), { mode: 0o600 });
  };
}

/** The pre-check's answer, or why the prescription is held waiting for the insurer (docs/insurance.md). */
export type PricingOutcome = PrecheckResult & { held?: { kind: string; reason: string } };

export interface ReviewDecision {
  pharmacistCode: string; decision: 'approve' | 'reject'; reasons: string[]; comment?: string;
  /** Approving over a blocking finding (docs/review.md); the signed time and signature made by the API. */
  overrideReason?: string; decidedAt?: string; signature?: ReviewSignature;
  /** From where the pharmacist decided (absent in histories from before it was recorded). */
  origin?: AuditOrigin;
}
export interface DispenseInput {
  pharmacistName: string; lines: DispenseLineInput[];
  /** Partial fills: part of what is left is handed out now; the workflow numbers the fills (absent: 1). */
  partial?: boolean; fillNo?: number;
}
export type DispenseOutcome =
  // fillNo, complete and lines are absent in results recorded before partial fills: those were complete.
  | { ok: true; findings: Finding[]; fillNo?: number; complete?: boolean; lines?: LineProgress[] }
  | { ok: false; code: 'DISPENSE_REFUSED' | 'TRACE_CODE_REUSED' | 'ALREADY_FILLED'; message: string; problems: { path: string; code: string; message: string }[] };
export interface DeliveryUpdate { deliveryId: string; partnerCode: string; status: DeliveryStatus; note?: string; proof?: Record<string, unknown> }
/** A pharmacist's decision on a cold-chain excursion (docs/delivery.md): the drug is still usable, or the parcel goes back. */
export interface ColdChainDecision { excursionId: string; decision: 'continue' | 'return'; pharmacistCode: string; reason: string; decidedAt?: string; origin?: AuditOrigin }

const SYSTEM = 'system:rxflow';
type PatientChoice = { mode: 'delivery' | 'pickup'; address: string | null };

/** The registry row as the pure choice reads it. */
const partnerProfile = (p: DeliveryPartner): PartnerProfile => ({
  code: p.code, active: p.active !== false, area: p.serviceArea ?? {}, capabilities: p.capabilities ?? [], promisedMinutes: p.promisedMinutes ?? {},
});

export function createActivities({ orm, es, temporal, matchAtMinute, indexPrefix, filesDir, cjkFont, insurer = rulesInsurer, delivery: deliveryConfig = loadDeliveryConfig(), publicUrl, patientLinks, patientMessenger = fileOutbox(filesDir) }: ActivityDeps) {
  const tx = <T>(fn: (em: EntityManager) => Promise<T>) => orm.em.fork().transactional(fn);
  const em = () => orm.em.fork();
  const shelves = shelfReader((sql, params) => orm.em.fork().getConnection().execute(sql, params));
  const readKnowledge = knowledgeReader();

  // Eight steps load a prescription with its lines, their catalogue entries and the patient's choice: the
  // row through the ORM (its content is decrypted there), the rest in one round trip instead of three.
  async function loadRx(id: string) {
    const e = em();
    const rx = await e.findOneOrFail(PrescriptionSchema, { id });
    const [rest] = await e.getConnection().execute<{ lines: Record<string, unknown>[]; drugs: { code: string; data: Drug }[]; choice: PatientChoice | null }[]>(
      `select (select coalesce(json_agg(l order by l.line_no), '[]') from prescription_line l where l.prescription_id = ?) as lines,
              (select coalesce(json_agg(json_build_object('code', d.code, 'data', d.data)), '[]') from drug d
                where d.code in (select drug_code from prescription_line where prescription_id = ?)) as drugs,
              (select json_build_object('mode', c.mode, 'address', c.address) from fulfilment_choice c where c.prescription_id = ? and c.status = 'applied'
                order by c.applied_at desc, c.created_at desc limit 1) as choice`, [id, id, id]);
    const lines = rest.lines.map((l) => e.map(PrescriptionLineSchema, l));
    const drugs = new Map(rest.drugs.map((d) => [d.code, d.data]));
    // Lines that named their drug by another identifier get the SKU intake resolved.
    const content = withResolvedDrugCodes(rx.content, lines) as PrescriptionSubmission;
    return { rx, content: withPatientChoice(content, rest.choice), lines, drugs };
  }

  /** The patient's accepted choice (docs/patient.md) overrides the hospital's fulfilment mode and address. */
  function withPatientChoice(content: PrescriptionSubmission, choice: PatientChoice | null): PrescriptionSubmission {
    if (!choice) return content;
    const address = choice.address ? JSON.parse(decryptField(dataKeyRing(), choice.address, 'address')) as PrescriptionSubmission['patient']['address'] : content.patient.address;
    return { ...content, fulfilment: { mode: choice.mode }, patient: { ...content.patient, address } };
  }

  /** The prescription row and its signed content only (no lines, no catalogue): one query instead of three. */
  async function loadContent(id: string) {
    const rx = await em().findOneOrFail(PrescriptionSchema, { id });
    return { rx, content: rx.content as Omit<PrescriptionSubmission, 'lines'> }; // lines unresolved: not for line work
  }

  /** A partner's update (or rxflow's timeout) on the delivery row; a repeat of its status writes nothing. */
  async function recordStatus(prescriptionId: string, u: DeliveryUpdate): Promise<void> {
    const ended = await tx(async (t) => {
      const d = await t.findOneOrFail(DeliverySchema, { id: u.deliveryId });
      if (d.status === u.status) return null;
      if (!canDeliveryTransition(d.status, u.status)) throw ApplicationFailure.nonRetryable(`delivery cannot move from ${d.status} to ${u.status}`, 'IllegalDeliveryTransition');
      const now = new Date();
      d.status = u.status;
      d.events = [...d.events, { status: u.status, at: now.toISOString(), note: u.note, proof: u.proof }];
      d.eta = etaFor(u.status, now, d.distanceKm, deliveryConfig.eta);
      const data = { deliveryId: d.id, attempt: d.attempt, note: u.note ?? null, proof: u.proof ?? null };
      if (u.status === 'delivered') await transition(t, prescriptionId, 'delivered', { action: 'delivery_delivered', actor: `courier:${u.partnerCode}`, data });
      else audit(t, prescriptionId, { action: `delivery_${u.status}`, actor: `courier:${u.partnerCode}`, data });
      // An update that arrives past the window flags it, if the workflow's timer has not already.
      if (u.status !== 'failed' && u.status !== 'returned' && !d.lateAt && isLate(d.promisedBy, now)) markLate(t, prescriptionId, d, now);
      if (u.status !== 'delivered' && u.status !== 'failed') return null;
      const order = await t.findOneOrFail(FulfilmentOrderSchema, { id: d.orderId });
      const pharmacy = await t.findOneOrFail(PharmacySchema, { id: order.pharmacyId });
      // Lateness against the promised window; deliveries from before windows existed use the pharmacy's promise.
      const promised = d.promisedBy ? new Date(d.promisedBy).getTime() : d.createdAt.getTime() + pharmacy.promisedMinutes * 60_000;
      return { status: u.status, lateS: (now.getTime() - promised) / 1000 };
    });
    if (ended) deliveries.inc({ outcome: ended.status });
    if (ended?.status === 'delivered') deliveryLateness.observe(Math.max(0, ended.lateS));
  }

  async function writeFile(name: string, data: Buffer): Promise<string> {
    await fs.mkdir(filesDir, { recursive: true });
    const file = path.join(filesDir, name);
    await fs.writeFile(file, data);
    return file;
  }

  /**
   * The pre-check's input without the lines: the policy version in effect on the prescription's date (China
   * time) and the year's usage — the hospital's figures (usage settled outside rxflow) plus every unreversed
   * settlement rxflow wrote for the member in that plan year. The built-in plans when no policy is loaded.
   */
  async function coverageFor(rx: { id: string; issuedAt: Date }, insurance: InsuranceBlock | undefined) {
    const run = (q: string, params: unknown[] = []) => orm.em.fork().getConnection().execute(q, params);
    const versions = await readPolicies(run);
    if (!versions.length) return coverageOf(insurance);
    const onDate = chinaDate(rx.issuedAt);
    if (!insurance?.memberId) return coverageFrom(versions, insurance, onDate);
    const [settled] = await run(
      `select coalesce(sum(deductible_applied_fen), 0)::int as deductible, coalesce(sum(insurer_pays_fen), 0)::int as insurer,
              coalesce(sum(commercial_pays_fen) filter (where commercial_plan_id = ?), 0)::int as commercial
         from settlement where plan_id = ? and member_hash = ? and plan_year = ? and reversed_at is null and prescription_id <> ?`,
      [insurance.commercial?.planId ?? null, insurance.planId, lookupHash(dataKeyRing(), 'insuranceMember', insurance.memberId), Number(onDate.slice(0, 4)), rx.id]);
    return coverageFrom(versions, insurance, onDate, { deductibleFen: settled.deductible, insurerFen: settled.insurer, commercialFen: settled.commercial });
  }

  /** Flags a delivery late (once): the column, an audit event. */
  function markLate(t: EntityManager, prescriptionId: string, d: { id: string; attempt: number; promisedBy?: Date | null; lateAt?: Date | null }, now: Date) {
    d.lateAt = now;
    audit(t, prescriptionId, { action: 'delivery_late', actor: SYSTEM, data: { deliveryId: d.id, attempt: d.attempt, promisedBy: d.promisedBy ? new Date(d.promisedBy).toISOString() : null } });
  }

  /**
   * The proof-of-delivery code to the patient by SMS. The code is in the message only: the audit trail says a
   * code was sent (to the masked number), never the code. Until an SMS gateway is wired, RX_SMS_OUTBOX names
   * a file the messages are appended to (JSON lines; development and tests read it there).
   */
  async function sendProofCode(prescriptionId: string, deliveryId: string, attempt: number, phone: string, code: string) {
    const outbox = process.env.RX_SMS_OUTBOX;
    if (outbox) {
      await fs.mkdir(path.dirname(outbox), { recursive: true });
      const text = `【rxflow】您的药品正在配送，签收码 ${code}，请在收货时告知配送员。Your delivery code is ${code}.`;
      await fs.appendFile(outbox, `${JSON.stringify({ at: new Date().toISOString(), to: phone, prescriptionId, deliveryId, kind: 'delivery_code', text })}\n`, { mode: 0o600 });
    }
    await tx(async (t) => audit(t, prescriptionId, {
      action: 'patient_notified', actor: SYSTEM, data: { event: 'delivery_code', channel: 'sms', to: maskPhone(phone), deliveryId, attempt, codeSent: true },
    }));
  }

  /** Releases every held reservation of a prescription and gives the units back to available stock. */
  async function release(prescriptionId: string, reason: string): Promise<number> {
    // The search projection follows by the outbox (catalog/sync.ts): stock triggers queue the pharmacy.
    const pharmacyIds = await tx(async (t) => {
      const conn = sqlIn(t);
      // The stock rows first, in the order reservations lock them (by SKU), so a release never deadlocks one.
      await conn(`select 1 from stock where (pharmacy_id, drug_code) in (select pharmacy_id, drug_code from reservation where prescription_id = ? and status = 'held') order by pharmacy_id, drug_code for update`, [prescriptionId]);
      const rows: { pharmacy_id: string }[] = await conn(
        `with released as (
           update reservation set status = 'released' where prescription_id = ? and status = 'held'
           returning pharmacy_id, drug_code, quantity)
         update stock s set reserved = s.reserved - r.quantity, updated_at = now()
           from released r where s.pharmacy_id = r.pharmacy_id and s.drug_code = r.drug_code
         returning s.pharmacy_id`, [prescriptionId]);
      if (rows.length) audit(t, prescriptionId, { action: 'stock_released', actor: SYSTEM, data: { reason, lines: rows.length } });
      return [...new Set(rows.map((r) => r.pharmacy_id))];
    });
    return pharmacyIds.length;
  }

  return {
    // Follow-up as a process (activities/follow-ups.ts, docs/follow-up.md).
    ...createFollowUpActivities(orm),

    /** Runs the automated pre-review and puts the prescription in the pharmacists' queue. */
    async beginReview(prescriptionId: string): Promise<{ flags: number; serious: number; block: number; warning: number; info: number }> {
      const { rx, content, drugs } = await loadRx(prescriptionId);
      // The clinical knowledge loaded in PostgreSQL (catalog/clinical.ts); the checks themselves are pure.
      const knowledge = await readKnowledge(em() as EntityManager);
      const flags = automatedReview(content, drugs, rx.createdAt, knowledge);
      await tx(async (t) => {
        const locked = await transition(t, prescriptionId, 'in_review', { action: 'review_queued', actor: SYSTEM, data: { flags, knowledge: knowledgeVersions(knowledge) } });
        locked.flags = flags;
      });
      const counts = countBySeverity(flags);
      // `serious` is the first name of the blocking count, kept for histories that read it.
      return { flags: flags.length, serious: counts.block, ...counts };
    },

    /**
     * SLA breached: the prescription moves up the queue (its escalation level) and the lead pharmacists are
     * told. A claim held now is kept; the event names its holder so the lead can step in.
     */
    async escalateReview(prescriptionId: string, escalation: number): Promise<void> {
      await tx(async (t) => {
        const conn = sqlIn(t);
        const done: unknown[] = await conn(`select 1 from audit_event where prescription_id = ? and action = 'review_sla_breached' and (data->>'escalation')::int = ?`, [prescriptionId, escalation]);
        if (done.length) return; // a retry after the first attempt committed
        await conn(`update prescription set review_escalations = greatest(review_escalations, ?) where id = ?`, [escalation, prescriptionId], 'run');
        const [claim]: { code: string; expires_at: Date | string }[] = await conn(
          `select ph.code, c.expires_at from review_claim c join pharmacist ph on ph.id = c.pharmacist_id where c.prescription_id = ? and c.expires_at > now()`, [prescriptionId]);
        const leads = await t.find(PharmacistSchema, { lead: true }, { orderBy: { code: 'asc' } });
        const claimedBy = claim ? { pharmacistCode: claim.code, expiresAt: new Date(claim.expires_at).toISOString() } : null;
        audit(t, prescriptionId, { action: 'review_sla_breached', actor: SYSTEM, data: { escalation, claimedBy } });
        // No pharmacist messaging channel exists yet: the notification is this event (the outbox a gateway would read).
        audit(t, prescriptionId, { action: 'lead_pharmacist_notified', actor: SYSTEM, data: { escalation, leads: leads.map((l) => l.code), channel: 'audit', claimedBy } });
      });
      reviewSlaBreaches.inc();
    },

    async recordReview(prescriptionId: string, d: ReviewDecision): Promise<void> {
      await tx(async (t) => {
        const pharmacist = await t.findOneOrFail(PharmacistSchema, { code: d.pharmacistCode });
        const existing = await t.findOne(ReviewSchema, { prescriptionId });
        if (!existing) {
          t.create(ReviewSchema, {
            prescriptionId, pharmacistId: pharmacist.id, decision: d.decision === 'approve' ? 'approved' : 'rejected',
            reasons: d.reasons, comment: d.comment ?? null, decidedAt: d.decidedAt ? new Date(d.decidedAt) : new Date(),
            overrideReason: d.overrideReason ?? null, signature: d.signature ?? null,
          } as never);
        }
        await transition(t, prescriptionId, d.decision === 'approve' ? 'approved' : 'rejected', {
          action: d.decision === 'approve' ? 'review_approved' : 'review_rejected',
          actor: `pharmacist:${d.pharmacistCode}`,
          data: {
            reasons: d.reasons, comment: d.comment ?? null,
            ...(d.overrideReason ? { overrideReason: d.overrideReason } : {}),
            ...(d.signature ? { decidedAt: d.decidedAt, signature: d.signature } : {}),
          },
          origin: d.origin,
        });
        // The review is over: the claim has done its job.
        await sqlIn(t)(`delete from review_claim where prescription_id = ?`, [prescriptionId], 'run');
      });
    },

    /** Records in the audit trail that the hospital was told. The callback itself is the status change's outbox event (activities/hospital-events.ts). */
    async notifyHospital(prescriptionId: string, event: string, detail: Record<string, unknown> = {}): Promise<void> {
      await tx(async (t) => audit(t, prescriptionId, { action: 'hospital_notified', actor: SYSTEM, data: { event, ...detail } }));
    },

    /** Tells the patient (SMS to the number on the prescription; the outbox is the audit trail until a gateway is wired). */
    async notifyPatient(prescriptionId: string, event: string, detail: Record<string, unknown> = {}): Promise<void> {
      const { content } = await loadContent(prescriptionId);
      await tx(async (t) => audit(t, prescriptionId, { action: 'patient_notified', actor: SYSTEM, data: { event, channel: 'sms', to: maskPhone(content.patient.phone), ...detail } }));
    },

    /**
     * At intake: a link for the patient (docs/patient.md), sent by SMS. One per prescription: a retry finds
     * the row and sends the same token again (it re-signs identically). The audit says a link was sent and
     * which one — never the token.
     */
    async sendPatientLink(prescriptionId: string): Promise<{ linkId: string | null }> {
      if (!patientLinks) return { linkId: null };
      const { rx, content } = await loadRx(prescriptionId);
      const run = (q: string, params: unknown[]) => em().getConnection().execute(q, params);
      let [row] = await run(`select * from patient_link where prescription_id = ? and issued_by = ? order by issued_at limit 1`, [prescriptionId, SYSTEM]) as LinkRow[];
      if (!row) {
        try {
          row = await tx(async (t) => (await issueLink(t, patientLinks, rx, { holder: 'patient' }, SYSTEM)).row);
        } catch (e) {
          if (e instanceof LinkNotIssuable) return { linkId: null };
          throw e;
        }
      }
      const token = await tokenOf(patientLinks, row);
      const url = linkUrl(patientLinks.publicUrl, token);
      await patientMessenger({ prescriptionId, linkId: row.id, to: content.patient.phone, url,
        text: `【rxflow】您的处方 ${rx.rxNo} 已收到，可在此查看进度、选择配送或自取：${url}` });
      const [told] = await run(`select 1 from audit_event where prescription_id = ? and action = 'patient_notified' and data->'link'->>'id' = ?`, [prescriptionId, row.id]);
      if (!told) {
        await tx(async (t) => audit(t, prescriptionId, { action: 'patient_notified', actor: SYSTEM, data: {
          event: 'received', channel: 'sms', to: maskPhone(content.patient.phone), link: { id: row.id, holder: 'patient', expiresAt: new Date(row.expires_at).toISOString() },
        } }));
      }
      return { linkId: row.id };
    },

    /** The patient's choice the workflow accepted: applied (matching and the label read it through loadRx). */
    async applyFulfilmentChoice(prescriptionId: string, choiceId: string): Promise<void> {
      await tx(async (t) => {
        const run = (q: string, params: unknown[]) => t.getConnection().execute(q, params, 'all', t.getTransactionContext());
        const [c] = await run(`select id, mode, address is not null as address_given, chosen_by, status from fulfilment_choice where id = ? and prescription_id = ? for update`, [choiceId, prescriptionId]);
        if (!c) throw ApplicationFailure.nonRetryable(`no fulfilment choice ${choiceId} for this prescription`, 'UnknownChoice');
        if (c.status === 'applied') return;
        await run(`update fulfilment_choice set status = 'applied', applied_at = clock_timestamp() where id = ?`, [choiceId]);
        audit(t, prescriptionId, { action: 'fulfilment_chosen', actor: c.chosen_by, data: { choiceId, mode: c.mode, addressChanged: c.address_given } });
      });
    },

    async renderPrescriptionSlip(prescriptionId: string): Promise<string> {
      const { rx, content, lines, drugs } = await loadRx(prescriptionId);
      const e = em();
      const hospital = await e.findOneOrFail(HospitalSchema, { id: rx.hospitalId });
      const review = await e.findOne(ReviewSchema, { prescriptionId });
      const pharmacist = review ? await e.findOne(PharmacistSchema, { id: review.pharmacistId }) : null;
      const pdf = await renderSlip(cjkFont, {
        hospitalName: hospital.name,
        rxNo: rx.rxNo,
        issuedAt: rx.issuedAt.toISOString(),
        department: content.visit.department,
        patient: { name: content.patient.name, gender: content.patient.gender, age: ageInYears(content.patient.birthDate, rx.issuedAt), ref: content.patient.ref },
        diagnoses: content.diagnoses,
        lines: lines.map((l) => {
          const d = drugs.get(l.drugCode)!;
          return { name: d.genericNameZh, spec: d.spec, quantity: l.quantity, unit: d.unit, usage: `${l.dosage} ${l.frequency} ${l.route} ${l.days}天` };
        }),
        doctor: { name: content.doctor.name, code: content.doctor.code },
        pharmacist: pharmacist && review ? { name: pharmacist.name, decidedAt: review.decidedAt.toISOString() } : null,
        pricing: rx.pricing,
        signatureKeyId: content.signature.keyId,
        contentHash: rx.contentHash,
      });
      const file = await writeFile(`${prescriptionId}-slip.pdf`, pdf);
      await tx(async (t) => audit(t, prescriptionId, { action: 'slip_rendered', actor: SYSTEM, data: { file: path.basename(file), bytes: pdf.length } }));
      return file;
    },

    /**
     * Insurance pre-check before anything is dispensed: insurer and patient shares per line, in fen, from
     * the insurer adapter. An insurer that cannot answer (its deadline, retries and errors are the adapter's)
     * is not waited on: with `fallback: 'self_pay'` and the patient's consent on the prescription the
     * prescription is priced as self-pay; otherwise it is held (not priced) and the workflow decides.
     */
    async priceInsurance(prescriptionId: string, opts?: { fallback?: 'self_pay' | 'hold' } | null): Promise<PricingOutcome> {
      const { rx, content, lines, drugs } = await loadRx(prescriptionId);
      if (rx.pricing && rx.status !== 'approved') return rx.pricing as PricingOutcome; // a retry after it was written
      const insurance = content.insurance as InsuranceBlock | undefined;
      const coverage = await coverageFor(rx, insurance);
      const request = (region: string): InsurerPrecheckRequest => ({
        requestId: `rxflow-precheck-${prescriptionId}`, prescriptionId, rxNo: rx.rxNo, region, prescribedOn: chinaDate(rx.issuedAt),
        member: { planId: insurance!.planId, memberId: insurance!.memberId ?? '', visitType: coverage.visitType, deductibleUsedFen: insurance!.deductibleUsedFen ?? 0, paidThisYearFen: insurance!.paidThisYearFen ?? 0 },
        ...(insurance?.commercial ? { commercial: { planId: insurance.commercial.planId, memberId: insurance.commercial.memberId ?? '', usedFen: insurance.commercial.usedFen ?? 0 } } : {}),
        lines: lines.map((l) => {
          const d = drugs.get(l.drugCode)!;
          return { lineNo: l.lineNo, drugCode: l.drugCode, insuranceCode: d.insuranceCode, insuranceClass: d.insuranceClass, unitPriceFen: d.priceFen, quantity: l.quantity };
        }),
      });
      let result: PrecheckResult;
      if (!insurance) {
        result = { ...precheck({ ...coverage, lines: request('').lines }), engine: 'rules' }; // self-pay: nobody to ask
      } else {
        const hospital = await em().findOneOrFail(HospitalSchema, { id: rx.hospitalId });
        try {
          result = await insurer.precheck(request(hospital.regionCode), coverage);
        } catch (e) {
          if (!(e instanceof InsurerUnavailable)) throw e;
          const failure = { kind: e.kind, reason: e.message, attempts: e.attempts, engine: insurer.engine };
          if (opts?.fallback === 'self_pay' && insurance.selfPayConsent) {
            result = { ...precheck({ ...coverage, plan: null, selfPayRule: 'INSURER_UNAVAILABLE', lines: request('').lines }), engine: insurer.engine, fallback: { kind: 'self_pay', reason: e.message } };
            await tx(async (t) => audit(t, prescriptionId, { action: 'insurer_unavailable', actor: SYSTEM, data: { ...failure, outcome: 'self_pay' } }));
          } else {
            const why = opts?.fallback === 'self_pay' ? 'no self-pay consent on the prescription' : 'RX_INSURER_FALLBACK=hold';
            await tx(async (t) => audit(t, prescriptionId, { action: 'insurer_unavailable', actor: SYSTEM, data: { ...failure, outcome: 'held', why } }));
            return { planId: insurance.planId, lines: [], totalFen: 0, insurerPaysFen: 0, patientPaysFen: 0, held: { kind: e.kind, reason: `${e.message}; held (${why})` } };
          }
        }
      }
      await tx(async (t) => {
        const locked = await transition(t, prescriptionId, 'priced', { action: 'insurance_prechecked', actor: SYSTEM, data: { ...result } });
        locked.pricing = result;
      });
      return result;
    },

    /**
     * Candidates from Elasticsearch, with the basket's prices and quantities read from `stock`, scored
     * (domain/matching.ts) on what the patient would pay there after insurance. When nobody can fill the basket, says which lines nobody in range has, or the split that would.
     */
    async findPharmacies(prescriptionId: string, radiusKm: number, exclude: string[]): Promise<{ candidates: PharmacyCandidate[]; cannotFill: CannotFill | null }> {
      const { rx, content, lines, drugs } = await loadRx(prescriptionId);
      await tx(async (t) => { await transition(t, prescriptionId, 'matching', { action: 'matching_started', actor: SYSTEM, data: { radiusKm } }); });
      const coverage = await coverageFor(rx, content.insurance as InsuranceBlock | undefined);
      const request = {
        mode: content.fulfilment?.mode ?? 'delivery',
        lines: lines.map((l, i) => ({
          lineNo: l.lineNo, drugCode: l.drugCode, quantity: l.quantity,
          substitutionKey: content.lines[i]?.allowSubstitution ? substitutionKey(drugs.get(l.drugCode)!) : undefined,
        })),
        near: { lat: content.patient.address.lat, lng: content.patient.address.lng },
        radiusKm,
        needsColdChain: lines.some((l) => drugs.get(l.drugCode)?.storage === 'cold'),
        openAtMinute: matchAtMinute ?? chinaMinuteOfDay(new Date()),
      };
      const candidates = await matchPharmacies(es, indexPrefix, {
        ...request,
        exclude,
        patientPays: (unitPrices) => precheck({
          ...coverage,
          lines: lines.map((l) => ({ lineNo: l.lineNo, drugCode: l.drugCode, insuranceClass: drugs.get(l.drugCode)!.insuranceClass, insuranceCode: drugs.get(l.drugCode)!.insuranceCode, unitPriceFen: unitPrices.get(l.drugCode)!, quantity: l.quantity })),
        }).patientPaysFen,
      }, shelves);
      // Nobody at all on the first search: say why, so the hospital and patient can act on it.
      const cannotFill = candidates.length === 0 && exclude.length === 0 ? await explainCannotFill(es, indexPrefix, request, shelves) : null;
      return { candidates, cannotFill };
    },

    /**
     * Reserves every line at one pharmacy, all or nothing. Each line is a single conditional UPDATE, so
     * available (on hand − reserved) can never go below zero however many workflows race for it.
     */
    async reserveStock(prescriptionId: string, pharmacyCode: string, holdMs: number, fills: LineFill[] = []): Promise<boolean> {
      const { lines: prescribed } = await loadRx(prescriptionId);
      // Reserve the SKU that fills each line: the prescribed one unless matching chose an allowed substitute.
      const lines = prescribed.map((l) => ({ ...l, drugCode: fills.find((f) => f.lineNo === l.lineNo)?.drugCode ?? l.drugCode }));
      const ok = await tx(async (t) => {
        const pharmacy = await t.findOneOrFail(PharmacySchema, { code: pharmacyCode });
        const conn = sqlIn(t);
        // Serialise reservations of one prescription (an activity retried while its first run is still going).
        await conn(`select 1 from prescription where id = ? for update`, [prescriptionId]);
        const held = await conn(`select 1 from reservation where prescription_id = ? and pharmacy_id = ? and status = 'held'`, [prescriptionId, pharmacy.id]);
        if (held.length > 0) return true;
        // Stock rows locked in one order (by SKU) by every reservation: two prescriptions listing the same
        // SKUs the other way round deadlocked (tests/integration/concurrency.test.ts).
        for (const l of [...lines].sort((a, b) => (a.drugCode < b.drugCode ? -1 : a.drugCode > b.drugCode ? 1 : 0))) {
          const res = await conn(
            `update stock set reserved = reserved + ?, updated_at = now() where pharmacy_id = ? and drug_code = ? and on_hand - reserved >= ?`,
            [l.quantity, pharmacy.id, l.drugCode, l.quantity], 'run');
          if ((res as unknown as { affectedRows: number }).affectedRows !== 1) {
            throw new StockShortage(l.drugCode);
          }
          await conn(
            `insert into reservation (id, prescription_id, pharmacy_id, drug_code, quantity, status, expires_at, created_at)
             values (gen_random_uuid(), ?, ?, ?, ?, 'held', now() + (? || ' milliseconds')::interval, now())`,
            [prescriptionId, pharmacy.id, l.drugCode, l.quantity, String(holdMs)]);
        }
        audit(t, prescriptionId, { action: 'stock_reserved', actor: SYSTEM, data: { pharmacy: pharmacyCode, lines: lines.map((l) => ({ drugCode: l.drugCode, quantity: l.quantity })) } });
        return true;
      }).catch((e) => {
        if (e instanceof StockShortage) return false;
        throw e;
      });
      return ok;
    },

    releaseReservations: release,

    /** After a pharmacy accepts, its reservation must outlive the wait for the dispensing. */
    async extendReservations(prescriptionId: string, holdMs: number): Promise<void> {
      await orm.em.fork().getConnection().execute(
        `update reservation set expires_at = now() + (? || ' milliseconds')::interval where prescription_id = ? and status = 'held'`, [String(holdMs), prescriptionId]);
    },

    /**
     * Safety net behind the workflows' own timers: a held reservation past its expiry whose workflow is
     * no longer running (terminated by an operator, say) is released. A running workflow keeps its own.
     */
    async sweepExpiredReservations(limit = 200): Promise<{ expired: number; released: number }> {
      const stale: { prescription_id: string; workflow_id: string }[] = await orm.em.fork().getConnection().execute(
        `select distinct r.prescription_id, p.workflow_id from reservation r join prescription p on p.id = r.prescription_id
          where r.status = 'held' and r.expires_at < now() limit ?`, [limit]);
      let released = 0;
      for (const s of stale) {
        if (temporal && (await workflowRunning(temporal, s.workflow_id))) continue;
        await release(s.prescription_id, 'reservation expired; its workflow is no longer running');
        released += 1;
      }
      return { expired: stale.length, released };
    },

    async offerToPharmacy(prescriptionId: string, attempt: number, c: PharmacyCandidate): Promise<string> {
      return tx(async (t) => {
        const existing = await t.findOne(FulfilmentOrderSchema, { prescriptionId, attempt });
        if (existing) return existing.id;
        const pharmacy = await t.findOneOrFail(PharmacySchema, { code: c.pharmacyCode });
        const order = t.create(FulfilmentOrderSchema, {
          id: randomUUID(), prescriptionId, pharmacyId: pharmacy.id, attempt, status: 'offered', totalPriceFen: c.totalPriceFen,
          distanceKm: c.distanceKm, declineReason: null, offeredAt: new Date(), respondedAt: null, fills: c.fills,
        } as never);
        audit(t, prescriptionId, { action: 'pharmacy_offered', actor: SYSTEM, data: { pharmacy: c.pharmacyCode, attempt, distanceKm: c.distanceKm, totalPriceFen: c.totalPriceFen, patientPaysFen: c.patientPaysFen, score: c.score, substitutions: c.fills.filter((f) => f.drugCode !== f.prescribed) } });
        return order.id;
      });
    },

    /** Closes an order that is still open (offered, or accepted but not yet dispensed). */
    async closeOffer(orderId: string, status: 'declined' | 'expired' | 'cancelled' | 'accepted' | 'short', actor: string, reason?: string): Promise<void> {
      const closed = await tx(async (t) => {
        const order = await t.findOneOrFail(FulfilmentOrderSchema, { id: orderId });
        if (order.status !== 'offered' && !(order.status === 'accepted' && status !== 'accepted')) return false;
        order.status = status;
        order.respondedAt = new Date();
        order.declineReason = reason ?? null;
        audit(t, order.prescriptionId, { action: `pharmacy_${status}`, actor, data: { orderId, reason: reason ?? null } });
        return true;
      });
      if (closed) pharmacyResponses.inc({ outcome: status });
    },

    /**
     * Check-before-dispense and dispensing, in one transaction: the packs are checked against the approved
     * prescription, every traceability code must be new (ever), reserved stock leaves the shelf, the
     * prescription is marked used (one prescription, one fill) and the final settlement is written from
     * what was actually handed out. A reused code is refused and raised as a re-sold pack alert.
     * Partial fills (`input.partial`): this fill may hand out part of what is left; it is fill number
     * `input.fillNo` (the workflow counts them), with its own dispensing row, stock movement and
     * settlement; only the units handed out leave the reservation.
     */
    async recordDispensing(prescriptionId: string, orderId: string, pharmacyCode: string, input: DispenseInput): Promise<DispenseOutcome> {
      const { rx: loaded, content, lines, drugs } = await loadRx(prescriptionId);
      const today = new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10); // dispensing date in China
      // The SKUs matching chose per line, from the order read in the transaction below (once, not twice).
      let fills: LineFill[] = [];
      const fillOf = (l: { lineNo: number; drugCode: string }) => fills.find((f) => f.lineNo === l.lineNo)?.drugCode ?? l.drugCode;
      const fillNo = input.fillNo ?? 1;
      const actor = `pharmacy:${pharmacyCode}/${input.pharmacistName}`;
      // The settlement follows the pre-check's basis: a self-pay fallback (the insurer did not answer, the
      // patient consented) is settled as self-pay; otherwise the policy in effect and the year's usage.
      const insurance = content.insurance as InsuranceBlock | undefined;
      const selfPayFallback = (loaded.pricing as PrecheckResult | null)?.fallback?.kind === 'self_pay';
      const coverage = selfPayFallback
        ? { ...coverageOf(undefined), selfPayRule: 'INSURER_UNAVAILABLE' as const }
        : await coverageFor(loaded, insurance);

      return tx(async (t): Promise<DispenseOutcome> => {
        const order = await t.findOneOrFail(FulfilmentOrderSchema, { id: orderId });
        fills = order.fills ?? [];
        const conn = sqlIn(t);
        const progressNow = async () => {
          const rows: { line_no: number; quantity: number; dispensed_quantity: number }[] = await conn(
            `select line_no, quantity, dispensed_quantity from prescription_line where prescription_id = ? order by line_no`, [prescriptionId]);
          return fillProgress(rows.map((r) => ({ lineNo: r.line_no, quantity: r.quantity })), rows.map((r) => ({ lineNo: r.line_no, quantity: r.dispensed_quantity })));
        };
        const earlier = await t.find(DispensingSchema, { prescriptionId }, { orderBy: { fillNo: 'asc' } });
        const same = earlier.find((d) => d.fillNo === fillNo);
        if (same) {
          if (same.orderId !== orderId) return { ok: false, code: 'ALREADY_FILLED', message: `prescription ${loaded.rxNo} was already filled`, problems: [] };
          // A retry of the fill that already happened.
          const p = await progressNow();
          return { ok: true, findings: same.findings, fillNo, complete: p.complete, lines: p.lines };
        }
        if (earlier.some((d) => d.orderId !== orderId)) return { ok: false, code: 'ALREADY_FILLED', message: `prescription ${loaded.rxNo} was already filled`, problems: [] };

        const rx = await t.findOneOrFail(PrescriptionSchema, { id: prescriptionId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
        const before = await progressNow();
        if ((rx.usedAt && earlier.length === 0) || rx.partialFill || before.complete) {
          return { ok: false, code: 'ALREADY_FILLED', message: `prescription ${rx.rxNo} was already filled${rx.usedAt ? ` at ${rx.usedAt.toISOString()}` : ''}`, problems: [] };
        }
        const dispensedBefore = new Map(before.lines.map((l) => [l.lineNo, l.dispensed]));
        const check = checkDispensing(
          lines.map((l) => ({ lineNo: l.lineNo, drugCode: fillOf(l), quantity: l.quantity, days: l.days, dispensed: dispensedBefore.get(l.lineNo) ?? 0 })),
          input.lines, today, { partial: input.partial });
        if (!check.ok) return { ok: false, code: 'DISPENSE_REFUSED', message: 'the dispensing does not match the approved prescription', problems: check.problems };

        const reused: { trace_code: string; prescription_id: string }[] = await conn(
          `select trace_code, prescription_id from dispensed_pack where trace_code in (${check.packs.map(() => '?').join(',')})`, check.packs.map((p) => p.traceCode));
        if (reused.length) {
          for (const r of reused) {
            t.create(TraceAlertSchema, {
              traceCode: r.trace_code, prescriptionId, pharmacyId: order.pharmacyId, firstPrescriptionId: r.prescription_id,
              kind: 'resold_pack', insured: Boolean(content.insurance), acknowledgedAt: null,
            } as never);
          }
          const codes = reused.map((r) => r.trace_code);
          audit(t, prescriptionId, { action: 'resold_pack_alert', actor, data: { traceCodes: codes } });
          // The insurer adapter (issue 5) reads these events; until then the alert stands in the audit trail.
          if (content.insurance) audit(t, prescriptionId, { action: 'insurer_notified', actor: SYSTEM, data: { event: 'resold_pack', traceCodes: codes, planId: content.insurance.planId } });
          return { ok: false, code: 'TRACE_CODE_REUSED', message: `${codes.length} pack(s) were dispensed before: possible re-sold packs (回流药); operators have been alerted`, problems: codes.map((c) => ({ path: '$.lines', code: 'TRACE_CODE_REUSED', message: c })) };
        }

        const handedOut = quantitiesOf(check.packs);
        const after = fillProgress(before.lines.map((l) => ({ lineNo: l.lineNo, quantity: l.prescribed })), addQuantities(before.lines.map((l) => ({ lineNo: l.lineNo, quantity: l.dispensed })), handedOut));
        const dispensing = t.create(DispensingSchema, { id: randomUUID(), prescriptionId, orderId, pharmacyId: order.pharmacyId, pharmacistName: input.pharmacistName, findings: check.findings, dispensedAt: new Date(), fillNo, lines: handedOut } as never);
        for (const p of check.packs) t.create(DispensedPackSchema, { dispensingId: dispensing.id, prescriptionId, ...p } as never);
        // This pharmacy's stock rows for the held SKUs, locked in the reservations' order (by SKU) before the lines' own.
        await conn(`select 1 from stock where (pharmacy_id, drug_code) in (select pharmacy_id, drug_code from reservation where prescription_id = ? and pharmacy_id = ? and status = 'held') order by pharmacy_id, drug_code for update`, [prescriptionId, order.pharmacyId]);
        for (const l of handedOut) {
          const drugCode = fillOf(lines.find((x) => x.lineNo === l.lineNo)!);
          await conn(`update prescription_line set dispensed_quantity = dispensed_quantity + ? where prescription_id = ? and line_no = ?`, [l.quantity, prescriptionId, l.lineNo], 'run');
          // Only the units handed out leave the reservation: a held row that is handed out whole becomes
          // committed (the full fill, as before); otherwise it is split into a committed part and the held rest.
          const [held]: { id: string; quantity: number }[] = await conn(
            `select id, quantity from reservation where prescription_id = ? and pharmacy_id = ? and drug_code = ? and status = 'held' order by created_at limit 1 for update`,
            [prescriptionId, order.pharmacyId, drugCode]);
          if (!held) continue; // nothing held (as before: the stock is not touched)
          const n = Math.min(l.quantity, held.quantity);
          if (n === held.quantity) {
            await conn(`update reservation set status = 'committed' where id = ?`, [held.id], 'run');
          } else {
            await conn(`update reservation set quantity = quantity - ? where id = ?`, [n, held.id], 'run');
            await conn(
              `insert into reservation (id, prescription_id, pharmacy_id, drug_code, quantity, status, expires_at, created_at)
               select gen_random_uuid(), prescription_id, pharmacy_id, drug_code, ?, 'committed', expires_at, now() from reservation where id = ?`, [n, held.id], 'run');
          }
          await conn(`update stock set on_hand = on_hand - ?, reserved = reserved - ?, updated_at = now() where pharmacy_id = ? and drug_code = ?`, [n, n, order.pharmacyId, drugCode], 'run');
        }
        order.status = 'dispensed';
        const packs = check.packs.map((p) => ({ lineNo: p.lineNo, traceCode: p.traceCode, batchNo: p.batchNo, expiryDate: p.expiryDate }));
        const dispensedLines = after.lines.map((l) => ({ lineNo: l.lineNo, prescribed: l.prescribed, dispensed: l.dispensed }));
        const data = { orderId, pharmacist: input.pharmacistName, packs, findings: check.findings, fillNo, dispensedLines };
        if (after.complete) {
          await transition(t, prescriptionId, 'dispensed', { action: 'dispensed', actor, data });
        } else if (rx.status === 'partially_dispensed') {
          audit(t, prescriptionId, { action: 'dispensed_partially', actor, data }); // a further part: no status change
        } else {
          await transition(t, prescriptionId, 'partially_dispensed', { action: 'dispensed_partially', actor, data });
        }
        rx.usedAt ??= new Date();

        // The settlement prices what this fill handed out at this pharmacy's price (the pre-check used the
        // list price); a later fill pays the cumulative difference (domain/partial-fill.ts).
        // Only this prescription's SKUs (as filled), not the pharmacy's whole shelf.
        const prices: { drug_code: string; price_fen: number }[] = await conn(`select drug_code, price_fen from stock where pharmacy_id = ? and drug_code in (${lines.map(() => '?').join(',')})`,
          [order.pharmacyId, ...lines.map(fillOf)]);
        const price = new Map(prices.map((p) => [p.drug_code, p.price_fen]));
        // A substitute SKU is reimbursed under its own list entry (its insurance code), at the prescribed line's class when the list does not name it.
        const sku = async (code: string) => drugs.get(code) ?? ((await t.findOne(DrugSchema, { code }))?.data as Drug | undefined);
        const pricedLines: Omit<PricedLineInput, 'quantity'>[] = [];
        for (const l of lines) {
          const filled = await sku(fillOf(l));
          pricedLines.push({ lineNo: l.lineNo, drugCode: fillOf(l), insuranceClass: filled?.insuranceClass ?? drugs.get(l.drugCode)!.insuranceClass, insuranceCode: filled?.insuranceCode ?? drugs.get(l.drugCode)!.insuranceCode, unitPriceFen: price.get(fillOf(l)) ?? drugs.get(l.drugCode)!.priceFen });
        }
        // Partial fills: this fill pays the cumulative difference (domain/partial-fill.ts); the first is priced as a full fill was.
        const priced = (quantity: (lineNo: number) => number) => pricedLines.map((l) => ({ ...l, quantity: quantity(l.lineNo) }));
        const settled = fillSettlement(coverage, priced((n) => dispensedBefore.get(n) ?? 0), priced((n) => after.lines.find((x) => x.lineNo === n)!.dispensed));
        t.create(SettlementSchema, {
          prescriptionId, planId: settled.planId, totalFen: settled.totalFen, insurerPaysFen: settled.insurerPaysFen, patientPaysFen: settled.patientPaysFen, lines: settled.lines, reversedAt: null,
          memberHash: settled.planId && insurance?.memberId ? lookupHash(dataKeyRing(), 'insuranceMember', insurance.memberId) : null, planYear: Number(chinaDate(loaded.issuedAt).slice(0, 4)), policyVersion: settled.policyVersion ?? null,
          visitType: settled.visitType ?? null, commercialPlanId: settled.commercialPlanId ?? null, commercialPaysFen: settled.commercialPaysFen ?? 0,
          deductibleAppliedFen: settled.deductibleAppliedFen ?? 0, engine: 'rules', fillNo, dispensingId: dispensing.id,
        } as never);
        audit(t, prescriptionId, { action: 'settlement_recorded', actor: SYSTEM, data: { totalFen: settled.totalFen, insurerPaysFen: settled.insurerPaysFen, commercialPaysFen: settled.commercialPaysFen ?? 0, patientPaysFen: settled.patientPaysFen, policyVersion: settled.policyVersion ?? null, ...(selfPayFallback ? { fallback: 'self_pay' } : {}), fillNo } });
        return { ok: true, findings: check.findings, fillNo, complete: after.complete, lines: after.lines };
      });
    },

    /**
     * The pharmacy declared the rest of a partial fill not dispensed (or the dispense window closed after a
     * partial fill): the undispensed units are released back to available stock, written on the lines as
     * not dispensed (never billed), and the prescription moves on to delivery or pickup as a partial fill.
     */
    async releaseRemainder(prescriptionId: string, orderId: string, actor: string, reason: string): Promise<{ notDispensedLines: { lineNo: number; quantity: number }[] }> {
      return tx(async (t) => {
        const conn = sqlIn(t);
        const rx = await t.findOneOrFail(PrescriptionSchema, { id: prescriptionId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
        const rows: { line_no: number; quantity: number; dispensed_quantity: number }[] = await conn(
          `select line_no, quantity, dispensed_quantity from prescription_line where prescription_id = ? order by line_no`, [prescriptionId]);
        const progress = fillProgress(rows.map((r) => ({ lineNo: r.line_no, quantity: r.quantity })), rows.map((r) => ({ lineNo: r.line_no, quantity: r.dispensed_quantity })));
        const remainder = notDispensed(progress);
        if (rx.partialFill || rx.status !== 'partially_dispensed') return { notDispensedLines: remainder }; // a retry after the commit
        await conn(`select 1 from stock where (pharmacy_id, drug_code) in (select pharmacy_id, drug_code from reservation where prescription_id = ? and status = 'held') order by pharmacy_id, drug_code for update`, [prescriptionId]);
        const released: { drug_code: string; quantity: number }[] = await conn(
          `with released as (
             update reservation set status = 'released' where prescription_id = ? and status = 'held'
             returning pharmacy_id, drug_code, quantity)
           update stock s set reserved = s.reserved - r.quantity, updated_at = now()
             from released r where s.pharmacy_id = r.pharmacy_id and s.drug_code = r.drug_code
           returning s.drug_code, r.quantity`, [prescriptionId]);
        await conn(`update prescription_line set not_dispensed_quantity = quantity - dispensed_quantity where prescription_id = ?`, [prescriptionId], 'run');
        audit(t, prescriptionId, { action: 'stock_released', actor: SYSTEM, data: { reason: `remainder not dispensed: ${reason}`, lines: released.length, units: released.reduce((s, r) => s + r.quantity, 0) } });
        const dispensedLines = progress.lines.map((l) => ({ lineNo: l.lineNo, prescribed: l.prescribed, dispensed: l.dispensed }));
        await transition(t, prescriptionId, 'dispensed', { action: 'remainder_not_dispensed', actor, data: { orderId, reason, partial: true, dispensedLines, notDispensedLines: remainder } });
        rx.partialFill = true;
        return { notDispensedLines: remainder };
      });
    },

    /**
     * Chooses a partner (domain/delivery.ts: area, capabilities, not the one that just failed) and creates
     * the delivery with it: the row — with the promised window, the first ETA and the proof-of-delivery code
     * (sent to the patient once the partner has the parcel's job, kept only as a keyed hash) — and the label,
     * then, for a partner with an adapter endpoint, its own system (activities/partner.ts). A partner that
     * refuses or cannot be reached fails this attempt at once. No eligible partner at all: `noPartner`, and
     * the parcel never leaves the pharmacy.
     */
    async dispatchDelivery(prescriptionId: string, orderId: string, attempt: number): Promise<{ deliveryId: string; partnerCode: string; labelFile: string; status?: DeliveryStatus; noPartner?: string; promisedBy?: string }> {
      const { rx, content, lines, drugs } = await loadRx(prescriptionId);
      const coldChain = lines.some((l) => drugs.get(l.drugCode)?.storage === 'cold');
      const needs = neededCapabilities({ coldChain });
      let code: string | undefined; // only when this attempt's delivery is created now: a retry does not send a second code
      const picked = await tx(async (t) => {
        const order = await t.findOneOrFail(FulfilmentOrderSchema, { id: orderId });
        const pharmacy = await t.findOneOrFail(PharmacySchema, { id: order.pharmacyId });
        const partners = await t.find(DeliveryPartnerSchema, {}, { orderBy: { code: 'asc' } });
        let delivery = await t.findOne(DeliverySchema, { prescriptionId, attempt });
        if (delivery) return { delivery, partner: partners.find((p) => p.id === delivery!.partnerId)!, pharmacy, order };
        const hospital = await t.findOne(HospitalSchema, { id: rx.hospitalId });
        const previous = attempt > 1 ? await t.findOne(DeliverySchema, { prescriptionId, attempt: attempt - 1 }) : null;
        const choice = choosePartner(partners.map(partnerProfile), {
          to: { regionCode: hospital?.regionCode ?? null, point: { lat: content.patient.address.lat, lng: content.patient.address.lng } },
          needs, lastFailed: previous ? partners.find((p) => p.id === previous.partnerId)?.code ?? null : null,
        });
        if (!choice.chosen) {
          audit(t, prescriptionId, { action: 'delivery_no_partner', actor: SYSTEM, data: { attempt, needs, excluded: choice.excluded } });
          return null;
        }
        const partner = partners.find((p) => p.code === choice.chosen!.code)!;
        const id = randomUUID();
        const now = new Date();
        code = formatProofCode(randomInt(0, 1_000_000));
        const distanceKm = order.distanceKm ?? null;
        // The partner's own promise for what the parcel needs; the configured windows for a partner without one.
        const windowMin = choice.ranked[0].promisedMinutes;
        const promised = Number.isFinite(windowMin) ? new Date(now.getTime() + windowMin * 60_000) : promisedWindowEnd(now, partner, deliveryConfig.eta);
        delivery = t.create(DeliverySchema, {
          id, prescriptionId, orderId, partnerId: partner.id, attempt, status: 'created', coldChain, partnerRef: null,
          events: [{ status: 'created', at: now.toISOString() }],
          proofCodeHash: proofCodeHash(dataKeyRing().hmacKey, id, code), proofCodeFailures: 0,
          promisedBy: promised, eta: etaFor('assigned', now, distanceKm, deliveryConfig.eta), distanceKm, lateAt: null,
        } as never);
        const data = { partner: partner.code, attempt, coldChain, needs, promisedMinutes: choice.ranked[0].promisedMinutes, excluded: choice.excluded.map((e) => e.code) };
        if (attempt === 1) await transition(t, prescriptionId, 'in_delivery', { action: 'delivery_created', actor: SYSTEM, data });
        else audit(t, prescriptionId, { action: 'delivery_created', actor: SYSTEM, data });
        return { delivery, partner, pharmacy, order };
      });
      if (!picked) return { deliveryId: '', partnerCode: '', labelFile: '', noPartner: `no active delivery partner serves this address with ${needs.join(', ') || 'standard delivery'}` };
      const { delivery, partner, pharmacy, order } = picked;
      const sendCode = async () => { if (code) await sendProofCode(prescriptionId, delivery.id, attempt, content.patient.phone, code); };
      const packages = rx.partialFill ? lines.reduce((s, l) => s + l.dispensedQuantity, 0) : lines.reduce((s, l) => s + l.quantity, 0);
      const label = await renderLabel(cjkFont, {
        deliveryId: delivery.id, rxNo: rx.rxNo, partner: partner.name, coldChain,
        // A partial fill carries what was handed out, not what was prescribed.
        packages,
        pharmacy: { name: pharmacy.name, address: pharmacy.address, phone: pharmacy.phone },
        recipient: { name: content.patient.name, maskedPhone: maskPhone(content.patient.phone), address: content.patient.address.text },
        orderNo: order.id, attempt,
        storage: storageLabel(lines.map((l) => drugs.get(l.drugCode)?.storage ?? 'normal')),
        // Drug names only where the operator chose to print them (RX_LABEL_SHOW_DRUGS=1): a label is seen by anyone handling the parcel.
        drugs: process.env.RX_LABEL_SHOW_DRUGS === '1' ? lines.map((l) => `${drugs.get(l.drugCode)?.genericNameZh ?? l.drugName} ×${rx.partialFill ? l.dispensedQuantity : l.quantity}`) : undefined,
      });
      const labelFile = await writeFile(`${delivery.id}-label.pdf`, label);
      const done = { deliveryId: delivery.id, partnerCode: partner.code, labelFile, ...(delivery.promisedBy ? { promisedBy: new Date(delivery.promisedBy).toISOString() } : {}) };
      // A partner that only polls rxflow, or one that already has it: nothing to call.
      if (delivery.status !== 'created' || delivery.partnerRef || !partner.endpointUrl) {
        await sendCode();
        return { ...done, status: delivery.status };
      }
      const hospital = await em().findOne(HospitalSchema, { id: rx.hospitalId });
      const cfg = loadPartnerConfig();
      const called = await createPartnerDelivery(partner.endpointUrl, {
        deliveryId: delivery.id, attempt,
        pickup: { name: pharmacy.name, address: pharmacy.address, phone: pharmacy.phone },
        dropoff: {
          name: content.patient.name, address: content.patient.address.text, lat: content.patient.address.lat, lng: content.patient.address.lng,
          regionCode: hospital?.regionCode ?? null,
          phone: partner.fullPhone ? content.patient.phone : maskPhone(content.patient.phone), phoneMasked: !partner.fullPhone,
        },
        packages, coldChain, capabilities: needs,
        promisedMinutes: Number.isFinite(promisedWindow(partnerProfile(partner), needs)) ? promisedWindow(partnerProfile(partner), needs) : null,
        statusUrl: `${publicUrl ?? ''}/v1/deliveries/${delivery.id}/status`,
      }, { timeoutMs: cfg.requestTimeoutMs, retries: cfg.retries, secrets: activePartnerSecrets(partner.secrets).map((x) => openPartnerSecret(x.sealed)) });
      if (called.ok) {
        await tx(async (t) => {
          const d = await t.findOneOrFail(DeliverySchema, { id: delivery.id });
          d.partnerRef = called.partnerRef;
          audit(t, prescriptionId, { action: 'delivery_registered', actor: `courier:${partner.code}`, data: { deliveryId: delivery.id, attempt, partnerRef: called.partnerRef, calls: called.attempts } });
        });
        await sendCode();
        return { ...done, status: 'created' };
      }
      await recordStatus(prescriptionId, { deliveryId: delivery.id, partnerCode: partner.code, status: 'failed', note: `partner ${called.refused ? 'refused the delivery' : 'unreachable'}: ${called.reason}`.slice(0, 200) });
      return { ...done, status: 'failed' };
    },

    recordDeliveryStatus: (prescriptionId: string, u: DeliveryUpdate): Promise<void> => recordStatus(prescriptionId, u),

    /** The promised window passed with the parcel still under way: flagged once (column and audit event). */
    async flagDeliveryLate(prescriptionId: string, deliveryId: string): Promise<void> {
      await tx(async (t) => {
        const d = await t.findOneOrFail(DeliverySchema, { id: deliveryId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
        if (d.lateAt || d.status === 'delivered' || d.status === 'failed') return;
        markLate(t, prescriptionId, d, new Date());
      });
    },

    /** A pharmacist decided a cold-chain excursion: recorded once, with who, why and from where. */
    async recordColdChainDecision(prescriptionId: string, deliveryId: string, c: ColdChainDecision): Promise<void> {
      await tx(async (t) => {
        const x = await t.findOneOrFail(ColdChainExcursionSchema, { id: c.excursionId, deliveryId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
        if (x.status !== 'open') return; // a retry after the first attempt committed
        x.status = c.decision;
        x.decidedBy = `pharmacist:${c.pharmacistCode}`;
        x.decidedAt = c.decidedAt ? new Date(c.decidedAt) : new Date();
        x.reason = c.reason;
        audit(t, prescriptionId, {
          action: 'cold_chain_decided', actor: `pharmacist:${c.pharmacistCode}`, origin: c.origin,
          data: { deliveryId, excursionId: x.id, rule: x.rule, decision: c.decision, reason: c.reason },
        });
      });
    },

    /** An excursion undecided past RX_COLD_CHAIN_DECISION_MS: the lead pharmacists are told (again each period). */
    async escalateColdChain(prescriptionId: string, excursionId: string, escalation: number): Promise<void> {
      await tx(async (t) => {
        const x = await t.findOneOrFail(ColdChainExcursionSchema, { id: excursionId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
        if (x.escalations >= escalation || x.status !== 'open') return;
        x.escalations = escalation;
        const leads = await t.find(PharmacistSchema, { lead: true }, { orderBy: { code: 'asc' } });
        audit(t, prescriptionId, { action: 'cold_chain_escalated', actor: SYSTEM, data: { excursionId, deliveryId: x.deliveryId, rule: x.rule, escalation } });
        // No pharmacist messaging channel exists yet: the notification is this event (the outbox a gateway would read).
        audit(t, prescriptionId, { action: 'lead_pharmacist_notified', actor: SYSTEM, data: { excursionId, escalation, leads: leads.map((l) => l.code), channel: 'audit', about: 'cold_chain_excursion' } });
      });
    },

    /** The patient collected at the pharmacy: the handover is recorded like a delivery, with its proof. */
    async recordCollection(prescriptionId: string, c: { orderId: string; pharmacyCode: string; proof: Record<string, unknown> }): Promise<void> {
      await tx(async (t) => {
        await transition(t, prescriptionId, 'delivered', { action: 'collected', actor: `pharmacy:${c.pharmacyCode}`, data: { orderId: c.orderId, proof: c.proof } });
      });
    },

    /** Not collected in time: the packs go back on the pharmacy's shelf (the settlement is reversed on return). */
    async restockUncollected(prescriptionId: string, orderId: string): Promise<void> {
      await tx(async (t) => {
        const conn = sqlIn(t);
        const rows = await conn(
          `with back as (update reservation set status = 'returned' where prescription_id = ? and status = 'committed' returning pharmacy_id, drug_code, quantity)
           update stock s set on_hand = s.on_hand + b.quantity, updated_at = now() from back b where s.pharmacy_id = b.pharmacy_id and s.drug_code = b.drug_code
           returning s.drug_code`, [prescriptionId]);
        audit(t, prescriptionId, { action: 'restocked_uncollected', actor: SYSTEM, data: { orderId, lines: (rows as unknown[]).length } });
      });
    },

    /** Every delivery attempt failed and the parcel is back (or presumed back): the packs go on the shelf again. */
    async restockReturned(prescriptionId: string, orderId: string, data: Record<string, unknown> = {}): Promise<void> {
      await tx(async (t) => {
        const rows = await sqlIn(t)(
          `with back as (update reservation set status = 'returned' where prescription_id = ? and status = 'committed' returning pharmacy_id, drug_code, quantity)
           update stock s set on_hand = s.on_hand + b.quantity, updated_at = now() from back b where s.pharmacy_id = b.pharmacy_id and s.drug_code = b.drug_code
           returning s.drug_code`, [prescriptionId]);
        // A retry after the commit finds nothing committed any more: one restock, one event.
        if ((rows as unknown[]).length) audit(t, prescriptionId, { action: 'restocked_returned', actor: SYSTEM, data: { orderId, lines: (rows as unknown[]).length, ...data } });
      });
    },

    /** Post-delivery check-ins (随访): adherence, adverse reactions, and a refill reminder for chronic drugs. */
    async scheduleFollowUps(prescriptionId: string, delaysMs: Record<'adherence' | 'adverse_reaction' | 'refill_reminder', number>): Promise<{ kind: FollowUp['kind']; dueInMs: number }[]> {
      const { content } = await loadContent(prescriptionId);
      const kinds: ('adherence' | 'adverse_reaction' | 'refill_reminder')[] = ['adherence', 'adverse_reaction', ...(content.chronic ? (['refill_reminder'] as const) : [])];
      await tx(async (t) => {
        const now = Date.now();
        const scheduled = new Set((await t.find(FollowUpSchema, { prescriptionId, kind: { $in: kinds } })).map((f) => f.kind));
        for (const kind of kinds) {
          if (scheduled.has(kind)) continue;
          t.create(FollowUpSchema, { prescriptionId, kind, dueAt: new Date(now + delaysMs[kind]), status: 'scheduled', sentAt: null } as never);
        }
        await transition(t, prescriptionId, 'follow_up', { action: 'follow_up_scheduled', actor: SYSTEM, data: { kinds } });
      });
      return kinds.map((kind) => ({ kind, dueInMs: delaysMs[kind] }));
    },

    async sendFollowUp(prescriptionId: string, kind: FollowUp['kind']): Promise<void> {
      await tx(async (t) => {
        const f = await t.findOneOrFail(FollowUpSchema, { prescriptionId, kind });
        if (f.status !== 'scheduled') return; // sent (a retry), or answered since
        f.status = 'sent';
        f.sentAt = new Date();
        audit(t, prescriptionId, { action: 'follow_up_sent', actor: SYSTEM, data: { kind } });
      });
    },

    /** Terminal moves that need nothing but the state change and its audit event. */
    async finish(prescriptionId: string, to: 'completed' | 'cancelled' | 'unfulfillable' | 'returned' | 'expired', actor: string, data: Record<string, unknown> = {}): Promise<void> {
      await tx(async (t) => {
        await transition(t, prescriptionId, to, { action: to, actor, data });
        // Any end but completion after a settlement (returned today; a cancellation or expiry should a
        // later rule allow one after dispensing) reverses it: a reversal record, the settlement marked.
        if (to !== 'completed') {
          // Every fill's settlement (one for a prescription filled at once).
          for (const settlement of await t.find(SettlementSchema, { prescriptionId, reversedAt: null }, { orderBy: { fillNo: 'asc' } })) {
            settlement.reversedAt = new Date();
            const r = reversalOf(settlement);
            await sqlIn(t)(
              `insert into settlement_reversal (settlement_id, prescription_id, reason, actor, total_fen, insurer_pays_fen, commercial_pays_fen, patient_pays_fen, lines)
               values (?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb) on conflict (settlement_id) do nothing`,
              [settlement.id, prescriptionId, to, actor, r.totalFen, r.insurerPaysFen, r.commercialPaysFen, r.patientPaysFen, JSON.stringify(r.lines)], 'run');
            audit(t, prescriptionId, { action: 'settlement_reversed', actor, data: { totalFen: settlement.totalFen, insurerPaysFen: settlement.insurerPaysFen, commercialPaysFen: settlement.commercialPaysFen ?? 0, reason: to, ...(settlement.fillNo > 1 ? { fillNo: settlement.fillNo } : {}) } });
          }
        }
      });
    },
  };
}

async function workflowRunning(client: TemporalClient, workflowId: string): Promise<boolean> {
  try {
    const d = await client.workflow.getHandle(workflowId).describe();
    return d.status.name === 'RUNNING';
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) return false;
    throw e;
  }
}

/**
 * Raw SQL inside the caller's transaction. MikroORM's Connection.execute runs on a fresh pool connection,
 * outside any transaction, unless it is handed the transaction context: this hands it over.
 */
function sqlIn(t: EntityManager) {
  return <T = any>(query: string, params: unknown[] = [], method: 'all' | 'run' = 'all'): Promise<T> =>
    t.getConnection().execute(query, params, method, t.getTransactionContext()) as Promise<T>;
}

/** A date as the prescription's region reads it (China time, UTC+8): which policy version and which year. */
function chinaDate(d: Date): string {
  return new Date(d.getTime() + 8 * 3600_000).toISOString().slice(0, 10);
}

class StockShortage extends Error {
  constructor(readonly drugCode: string) { super(`not enough ${drugCode}`); }
}

export type Activities = ReturnType<typeof createActivities>;
