// The patient's side (docs/patient.md). Hospitals issue, list and revoke signed links to one prescription;
// the link's holder (the patient, or a family member acting for them) reads where the prescription is and
// what they pay, chooses delivery or pickup before matching, and confirms receipt. The page is static at
// /p/ (the token stays in the URL fragment; the page sends it as a bearer token).
import Router from '@koa/router';
import { answerFollowUp, listFollowUps } from '../follow-ups';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Context } from 'koa';
import type { Config } from '../../engine/config';
import { PrescriptionSchema, type Prescription } from '../../db/entities';
import { audit } from '../../activities/audit';
import { issueLink, LinkNotIssuable, linkView, type LinkRow, type PatientLinkSettings } from '../../activities/patient-links';
import { canConfirmReceipt, CHOICE_OPEN_STATUSES, formatYuan, holderLabel, IssueLinkBody, plainTimeline } from '../../domain/patient-link';
import { encryptField, decryptField } from '../../domain/field-crypto';
import { dataKeyRing } from '../../engine/data-keys';
import { maskIdNumber, maskPhone } from '../../domain/masking';
import { externalStatus, foldTimeline, type Combination } from '../../domain/status-model';
import type { PrescriptionSubmission } from '../../domain/prescription';
import { fulfilmentChoiceUpdate } from '../../workflows/prescription';
import { authorize } from '../access';
import type { Principal } from '../auth';
import { ApiError, notFound } from '../errors';
import { requestOrigin } from '../origin';
import { sendUpdate, workflowState } from '../workflows';
import { securityHeaders, serveFiles } from './console';
import { retentionPolicy } from './ops';
import { visiblePrescription } from './prescriptions';
import type { ApiDeps } from '../app';

export function patientLinkSettings(config: Config): PatientLinkSettings {
  return { patientLinkSecret: config.patientLinkSecret, patientLinkTtlMs: config.patientLinkTtlMs, publicUrl: config.publicUrl, retention: retentionPolicy() };
}

export const FulfilmentBody = z.object({
  mode: z.enum(['delivery', 'pickup']),
  /** A new address; without coordinates, matching stays near the prescription's (there is no geocoder yet). */
  address: z.object({
    text: z.string().trim().min(4, 'give the full address').max(200),
    lat: z.number().min(-90).max(90).optional(),
    lng: z.number().min(-180).max(180).optional(),
  }).strict().refine((a) => (a.lat === undefined) === (a.lng === undefined), { message: 'give both lat and lng, or neither', path: ['lat'] }).optional(),
}).strict();

const DELIVERY_WORDS: Record<string, { zh: string; en: string }> = {
  created: { zh: '已创建配送单', en: 'Delivery created' },
  assigned: { zh: '已安排骑手', en: 'Courier assigned' },
  picked_up: { zh: '骑手已取药', en: 'Picked up' },
  in_transit: { zh: '配送途中', en: 'On the way' },
  delivered: { zh: '已送达', en: 'Delivered' },
  failed: { zh: '配送未成功', en: 'Delivery failed' },
  returned: { zh: '已退回药店', en: 'Returned to the pharmacy' },
};

const money = (fen: number | null | undefined) => (typeof fen === 'number' && Number.isSafeInteger(fen) ? { fen, text: formatYuan(fen) } : null);

type Row = Record<string, any>;

export function patientRoutes(deps: ApiDeps): Router {
  const r = new Router();
  const run = (q: string, params: unknown[] = []) => deps.orm.em.fork().getConnection().execute<Row[]>(q, params);
  const settings = () => patientLinkSettings(deps.config);

  // ---- the hospital's side: issue, list, revoke ---------------------------------------------------------

  r.post('/v1/prescriptions/:id/patient-links', authorize('patient_link.issue'), async (ctx) => {
    const p = ctx.state.principal as Principal;
    const rx = await visiblePrescription(deps, p, ctx.params.id, 'patient_link.issue');
    const body = IssueLinkBody.parse(ctx.request.body ?? {});
    const issuedBy = `${p.role}:${p.label}`;
    let issued: Awaited<ReturnType<typeof issueLink>>;
    try {
      issued = await deps.orm.em.fork().transactional(async (t) => {
        const out = await issueLink(t, settings(), rx, body, issuedBy);
        // The fact and the holder's relation; never the token, nor the family member's name.
        audit(t, rx.id, { action: 'patient_link_issued', actor: issuedBy, origin: requestOrigin(ctx),
          data: { linkId: out.row.id, holder: out.row.holder, relation: out.row.relation, expiresAt: out.row.expires_at.toISOString() } });
        return out;
      });
    } catch (e) {
      if (e instanceof LinkNotIssuable) throw new ApiError(409, 'PATIENT_LINK_NOT_ISSUABLE', `no link can be issued for prescription ${rx.rxNo}: ${e.message}`);
      throw e;
    }
    ctx.status = 201;
    ctx.set('Cache-Control', 'no-store');
    // The only time the token is shown: the hospital hands it (or the url) to the patient.
    ctx.body = { link: linkView(issued.row), token: issued.token, url: issued.url };
  });

  r.get('/v1/prescriptions/:id/patient-links', authorize('patient_link.list'), async (ctx) => {
    const rx = await visiblePrescription(deps, ctx.state.principal, ctx.params.id, 'patient_link.list');
    const rows = await run(`select * from patient_link where prescription_id = ? order by issued_at, id`, [rx.id]) as LinkRow[];
    ctx.body = { items: rows.map((row) => linkView(row)) };
  });

  r.delete('/v1/prescriptions/:id/patient-links/:linkId', authorize('patient_link.revoke'), async (ctx) => {
    const p = ctx.state.principal as Principal;
    const rx = await visiblePrescription(deps, p, ctx.params.id, 'patient_link.revoke');
    if (!z.uuid().safeParse(ctx.params.linkId).success) throw notFound('patient link');
    const by = `${p.role}:${p.label}`;
    const row = await deps.orm.em.fork().transactional(async (t) => {
      const [l] = await t.getConnection().execute<LinkRow[]>(`select * from patient_link where id = ? and prescription_id = ? for update`, [ctx.params.linkId, rx.id], 'all', t.getTransactionContext());
      if (!l) throw notFound('patient link');
      if (l.revoked_at) return l;
      const [u] = await t.getConnection().execute<LinkRow[]>(`update patient_link set revoked_at = now(), revoked_by = ? where id = ? returning *`, [by.slice(0, 120), l.id], 'all', t.getTransactionContext());
      audit(t, rx.id, { action: 'patient_link_revoked', actor: by, origin: requestOrigin(ctx), data: { linkId: l.id, holder: l.holder } });
      return u;
    });
    ctx.body = { link: linkView(row) };
  });

  // ---- the patient's side: the one prescription of their link ---------------------------------------------

  async function linkedPrescription(ctx: Context): Promise<Prescription> {
    const p = ctx.state.principal as Principal;
    if (p.role !== 'patient') throw notFound('prescription'); // the policy already refused everyone else
    const rx = await deps.orm.em.fork().findOne(PrescriptionSchema, { id: p.partyId });
    if (!rx) throw notFound('prescription');
    return rx;
  }

  r.get('/v1/patient/prescription', authorize('patient_portal.read'), async (ctx) => {
    const p = ctx.state.principal as Principal;
    const rx = await linkedPrescription(ctx);
    ctx.body = await patientView(rx, p);
  });

  r.put('/v1/patient/fulfilment', authorize('patient_portal.choose'), async (ctx) => {
    const p = ctx.state.principal as Principal;
    const rx = await linkedPrescription(ctx);
    const body = FulfilmentBody.parse(ctx.request.body ?? {});
    const locked = () => new ApiError(409, 'FULFILMENT_LOCKED',
      `a pharmacy is already being arranged for prescription ${rx.rxNo} (${rx.status}): delivery or pickup and the address can no longer be changed here; please contact the pharmacy`);
    if (!(CHOICE_OPEN_STATUSES as readonly string[]).includes(rx.status)) throw locked();
    const content = rx.content as PrescriptionSubmission;
    const address = body.address
      ? { text: body.address.text, lat: body.address.lat ?? content.patient.address.lat, lng: body.address.lng ?? content.patient.address.lng }
      : null;
    const choiceId = randomUUID();
    await run(`insert into fulfilment_choice (id, prescription_id, mode, address, chosen_by) values (?, ?, ?, ?, ?)`,
      [choiceId, rx.id, body.mode, address ? encryptField(dataKeyRing(), JSON.stringify(address), 'address') : null, p.label]);
    try {
      // The workflow decides (it refuses once matching began); the address never enters its history.
      await sendUpdate(deps.temporal, rx.workflowId, fulfilmentChoiceUpdate, { choiceId, mode: body.mode, by: p.label });
    } catch (e) {
      await run(`update fulfilment_choice set status = 'refused' where id = ?`, [choiceId]);
      if (e instanceof ApiError && (e.code === 'FULFILMENT_LOCKED' || e.code === 'WORKFLOW_CLOSED')) throw locked();
      throw e;
    }
    ctx.body = await patientView(rx, p);
  });

  r.post('/v1/patient/receipt', authorize('patient_portal.confirm'), async (ctx) => {
    const p = ctx.state.principal as Principal;
    const rx = await linkedPrescription(ctx);
    const result = await deps.orm.em.fork().transactional(async (t) => {
      const exec = (q: string, params: unknown[]) => t.getConnection().execute<Row[]>(q, params, 'all', t.getTransactionContext());
      // Under the prescription's row lock: two taps give one confirmation.
      const [row] = await exec(`select status from prescription where id = ? for update`, [rx.id]);
      if (!canConfirmReceipt(row.status)) {
        throw new ApiError(409, 'NOT_RECEIVED_YET', `prescription ${rx.rxNo} has not been delivered or collected yet (${row.status}); confirm once you have the drugs`);
      }
      const [done] = await exec(`select at from audit_event where prescription_id = ? and action = 'receipt_confirmed' order by id limit 1`, [rx.id]);
      if (done) return { confirmedAt: done.at, already: true };
      audit(t, rx.id, { action: 'receipt_confirmed', actor: p.label, origin: requestOrigin(ctx), data: { linkId: p.link?.id ?? null, holder: p.link?.holder ?? null } });
      return { confirmedAt: new Date(), already: false };
    });
    ctx.status = result.already ? 200 : 201;
    ctx.body = { receipt: result };
  });

  // Follow-up answers through the link: the same service as the hospital's app (api/follow-ups.ts), the
  // patient or family member as the one who answered.
  r.post('/v1/patient/follow-ups/:followUpId/answers', authorize('patient_portal.answer'), async (ctx) => {
    const p = ctx.state.principal as Principal;
    const rx = await linkedPrescription(ctx);
    const result = await answerFollowUp({ orm: deps.orm, temporal: deps.temporal }, rx.id, ctx.params.followUpId, ctx.request.body ?? {},
      { actor: `patient:${p.label}`.slice(0, 120), origin: requestOrigin(ctx) });
    ctx.status = 201;
    // What the patient needs to hear back: answered, a pharmacist will look at the side effect, the doctor is asked.
    ctx.body = {
      followUp: { id: result.followUp.id, kind: result.followUp.kind, status: result.followUp.status, answeredAt: result.followUp.answeredAt },
      sideEffectReported: result.adrTask !== null, serious: result.adrTask?.serious ?? false, renewalRequested: result.renewalRequest !== null,
    };
  });

  /** What the page shows: the same for patient and family (labelled), the ID number masked, no internal ids. */
  async function patientView(rxIn: Prescription, p: Principal) {
    const rx = (await deps.orm.em.fork().findOne(PrescriptionSchema, { id: rxIn.id }))!;
    const content = rx.content as PrescriptionSubmission;
    const [events, [choice], [order], [delivery], fills, [receipt], hospital] = await Promise.all([
      run(`select at, action, data from audit_event where prescription_id = ? order by id`, [rx.id]),
      run(`select mode, address from fulfilment_choice where prescription_id = ? and status = 'applied' order by applied_at desc, created_at desc limit 1`, [rx.id]),
      run(`select ph.name, ph.address, ph.phone, o.status from fulfilment_order o join pharmacy ph on ph.id = o.pharmacy_id
            where o.prescription_id = ? and o.status not in ('offered', 'declined', 'expired', 'short', 'cancelled') order by o.attempt desc limit 1`, [rx.id]),
      run(`select d.status, d.attempt, d.updated_at, to_jsonb(d) as row, dp.name as partner from delivery d join delivery_partner dp on dp.id = d.partner_id
            where d.prescription_id = ? order by d.attempt desc limit 1`, [rx.id]),
      run(`select total_fen, insurer_pays_fen, commercial_pays_fen, patient_pays_fen, reversed_at from settlement where prescription_id = ? order by fill_no`, [rx.id]),
      run(`select at from audit_event where prescription_id = ? and action = 'receipt_confirmed' order by id limit 1`, [rx.id]),
      run(`select name from hospital where id = ?`, [rx.hospitalId]),
    ]);
    const wf = await workflowState(deps.temporal, rx.workflowId).catch(() => null);
    const combination: Combination = wf ? (foldTimeline(wf.timeline).at(-1) ?? { status: 'received', fill: 'none', handover: 'none' }) : { status: rx.status, fill: 'none', handover: 'none' };
    let status: { code: string; zh: string; en: string };
    try {
      status = externalStatus(combination).patient;
    } catch {
      status = externalStatus({ status: 'received', fill: 'none', handover: 'none' }).patient; // an older record the model does not know
    }
    const address = choice?.address ? JSON.parse(decryptField(dataKeyRing(), choice.address, 'address')) as { text: string } : content.patient.address;
    const mode = (choice?.mode ?? content.fulfilment?.mode ?? 'delivery') as 'delivery' | 'pickup';
    const pricing = rx.pricing as { totalFen?: number; insurerPaysFen?: number; commercialPaysFen?: number; patientPaysFen?: number; fallback?: unknown } | null;
    const live = fills.filter((f) => !f.reversed_at);
    const sum = (k: string) => live.reduce((s, f) => s + Number(f[k] ?? 0), 0);
    const etaRaw = delivery ? (delivery.row.eta_at ?? delivery.row.eta ?? delivery.row.promised_by ?? null) : null;
    const open = wf !== null && (CHOICE_OPEN_STATUSES as readonly string[]).includes(rx.status) && !wf.offer;
    return {
      holder: { kind: p.link?.holder ?? 'patient', name: p.link?.name ?? null, relation: p.link?.relation ?? null, label: holderLabel({ holder: p.link?.holder ?? 'patient', name: p.link?.name, relation: p.link?.relation }) },
      prescription: { rxNo: rx.rxNo, hospital: hospital[0]?.name ?? null, issuedAt: rx.issuedAt, expiresAt: rx.expiresAt, status },
      patient: { name: content.patient.name, idNumber: content.patient.idNumber ? maskIdNumber(content.patient.idNumber) : null, phone: maskPhone(content.patient.phone) },
      timeline: plainTimeline(events as { at: Date; action: string; data: Record<string, unknown> }[]),
      fulfilment: { mode, address: address.text, canChange: open },
      pharmacy: order ? { name: order.name, address: order.address, phone: order.phone } : null,
      delivery: delivery ? {
        status: delivery.status, words: DELIVERY_WORDS[delivery.status] ?? { zh: delivery.status, en: delivery.status },
        partner: delivery.partner, updatedAt: delivery.updated_at, eta: etaRaw,
      } : null,
      payment: {
        precheck: pricing && typeof pricing.totalFen === 'number' ? {
          total: money(pricing.totalFen), insurerPays: money(pricing.insurerPaysFen), commercialPays: money(pricing.commercialPaysFen ?? 0),
          patientPays: money(pricing.patientPaysFen), selfPayFallback: Boolean(pricing.fallback),
        } : null,
        settlement: live.length ? { total: money(sum('total_fen')), insurerPays: money(sum('insurer_pays_fen')), commercialPays: money(sum('commercial_pays_fen')), patientPays: money(sum('patient_pays_fen')) } : null,
        reversed: fills.length > 0 && live.length === 0,
      },
      receipt: { canConfirm: canConfirmReceipt(rx.status) && !receipt, confirmedAt: receipt?.at ?? null },
      // The follow-up plan (docs/follow-up.md): what is open can be answered here (POST …/follow-ups/:id/answers).
      followUps: (await listFollowUps(deps.orm, rx.id)).map((f) => ({
        id: f.id, kind: f.kind, status: f.status, dueAt: f.dueAt, answeredAt: f.answeredAt,
        open: rx.status === 'follow_up' && f.questionnaire !== null && (f.status === 'sent' || f.status === 'unanswered'),
      })),
    };
  }

  return r;
}

// ---- the page -----------------------------------------------------------------------------------------

const WEB = path.resolve(__dirname, '../../web/patient');
const STATIC: Record<string, { file: string; type: string }> = {
  '/p/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/p/assets/patient.js': { file: 'patient.js', type: 'text/javascript; charset=utf-8' },
  '/p/assets/i18n.js': { file: 'i18n.js', type: 'text/javascript; charset=utf-8' },
  '/p/assets/patient.css': { file: 'patient.css', type: 'text/css; charset=utf-8' },
};

/** The patient page: a fixed map of files (no request path reaches the file system); the console's headers and CSP. */
export function patientPages(): Router {
  const r = new Router();
  r.use('/p', securityHeaders);
  serveFiles(r, WEB, STATIC);
  return r;
}
