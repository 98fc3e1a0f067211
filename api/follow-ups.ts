// Follow-up over the API (docs/follow-up.md): the plan and its answers, the pharmacists' ADR tasks, and the
// national ADR report export. `answerFollowUp` is the one way an answer comes in, whoever carries it (the
// hospital's patient app through its key, or a patient link): it validates, stores the answer and what
// follows from it in one transaction, then tells the workflow to stop waiting.
import Router from '@koa/router';
import { z } from 'zod';
import { LockMode } from '@mikro-orm/core';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { WorkflowNotFoundError, type Client as TemporalClient } from '@temporalio/client';
import { FollowUpSchema, HospitalSchema, PharmacistSchema, PrescriptionLineSchema, PrescriptionSchema, type FollowUp, type Prescription } from '../db/entities';
import { audit, type AuditOrigin } from '../activities/audit';
import { recordFollowUpEvent } from '../activities/hospital-events';
import {
  answerSchemaFor, isSerious, QUESTIONNAIRE_VERSION, reportedSideEffect, severityRank, wantsRenewal, type FollowUpAnswer, type ReportedSideEffect, type Severity,
} from '../domain/follow-up';
import { adrReportOf, adrReports, adrReportsCsv } from '../reports/adr';
import { followUpAnsweredSignal } from '../workflows/prescription';
import { authorize } from './access';
import type { ApiDeps } from './app';
import type { Principal } from './auth';
import { ApiError, jsonPath, notFound } from './errors';
import { noteAccess } from './access-log';
import { requestOrigin } from './origin';
import { visiblePrescription } from './routes/prescriptions';

const isUuid = (s: string) => z.uuid().safeParse(s).success;
const chinaToday = () => new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10);

function sqlIn(t: EntityManager) {
  return <T = any>(query: string, params: unknown[] = []): Promise<T[]> =>
    t.getConnection().execute(query, params, 'all', t.getTransactionContext()) as Promise<T[]>;
}

export function followUpView(f: FollowUp) {
  return {
    id: f.id, kind: f.kind, status: f.status, dueAt: f.dueAt, why: f.why ?? null, sentAt: f.sentAt, remindedAt: f.remindedAt ?? null,
    answeredAt: f.answeredAt ?? null, answeredBy: f.answeredBy ?? null, closedAt: f.closedAt ?? null,
    questionnaire: answerSchemaFor(f.kind) ? QUESTIONNAIRE_VERSION : null, answer: f.answer ?? null,
  };
}

export async function listFollowUps(orm: MikroORM, prescriptionId: string) {
  const rows = await orm.em.fork().find(FollowUpSchema, { prescriptionId }, { orderBy: { dueAt: 'asc' } });
  return rows.map(followUpView);
}

export interface AnswerDeps { orm: MikroORM; temporal: TemporalClient }
export interface AnswerResult {
  followUp: ReturnType<typeof followUpView>;
  adrTask: { id: string; severity: Severity; serious: boolean } | null;
  renewalRequest: { id: string } | null;
}

/**
 * A patient's answer to a sent follow-up step. 404 for a step not of this prescription; 409 when it is not
 * open (not sent yet, answered, or the plan closed); 422 with JSON paths for an answer the questionnaire
 * does not accept. A late answer (after the step was marked unanswered) is taken while the plan is open.
 * `actor` names who carried it: `hospital:<code>` through the hospital's app, a patient link otherwise.
 */
export async function answerFollowUp(
  deps: AnswerDeps, prescriptionId: string, followUpId: string, body: unknown, actor: { actor: string; origin?: AuditOrigin },
): Promise<AnswerResult> {
  if (!isUuid(prescriptionId) || !isUuid(followUpId)) throw notFound('follow-up');
  const peek = await deps.orm.em.fork().findOne(FollowUpSchema, { id: followUpId, prescriptionId });
  if (!peek) throw notFound('follow-up');
  const schema = answerSchemaFor(peek.kind);
  if (!schema) throw new ApiError(409, 'FOLLOW_UP_NOT_ANSWERABLE', `a ${peek.kind} step asks nothing`);
  // What cannot be answered is said before what is wrong with the answer.
  const notOpen = (f: FollowUp) => {
    if (f.status === 'answered') return new ApiError(409, 'FOLLOW_UP_ANSWERED', 'this follow-up is already answered');
    if (f.status !== 'sent' && f.status !== 'unanswered') return new ApiError(409, 'FOLLOW_UP_NOT_OPEN', `this follow-up is ${f.status}, not waiting for an answer`);
    return null;
  };
  const early = notOpen(peek);
  if (early) throw early;
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    throw new ApiError(422, 'ANSWER_INVALID', `the answer does not match questionnaire ${QUESTIONNAIRE_VERSION} for a ${peek.kind} step`,
      parsed.error.issues.map((i) => ({ path: jsonPath(i.path), code: i.code, message: i.message })));
  }
  const answer = parsed.data as FollowUpAnswer;
  const effect = reportedSideEffect(answer);

  const result = await deps.orm.em.fork().transactional(async (t) => {
    const rx = await t.findOneOrFail(PrescriptionSchema, { id: prescriptionId });
    const f = await t.findOneOrFail(FollowUpSchema, { id: followUpId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
    const raced = notOpen(f);
    if (raced) throw raced;
    if (rx.status !== 'follow_up') throw new ApiError(409, 'FOLLOW_UP_CLOSED', `the follow-up of this prescription is over (${rx.status})`);
    if (effect) await checkSideEffect(t, rx, effect);

    const late = f.status === 'unanswered';
    f.status = 'answered';
    f.answeredAt = new Date();
    f.answeredBy = actor.actor.slice(0, 80);
    f.questionnaire = QUESTIONNAIRE_VERSION;
    f.answer = answer as unknown as Record<string, unknown>;
    audit(t, rx.id, {
      action: 'follow_up_answered', actor: actor.actor, origin: actor.origin,
      // The answer itself stays on the follow-up row: health data is not copied into the trail.
      data: { followUpId, kind: f.kind, questionnaire: QUESTIONNAIRE_VERSION, sideEffect: !!effect, ...(late ? { late: true } : {}), ...('refill' in answer ? { continue: answer.refill.continue } : {}) },
    });
    const q = sqlIn(t);
    let adrTask: AnswerResult['adrTask'] = null;
    if (effect) {
      const serious = isSerious(effect);
      const [task] = await q<{ id: string }>(
        `insert into adr_task (prescription_id, follow_up_id, severity, serious, serious_criteria, rank, reaction, onset_date) values (?, ?, ?, ?, ?::jsonb, ?, ?, ?) returning id`,
        [rx.id, followUpId, effect.severity, serious, JSON.stringify(effect.serious), severityRank(effect.severity, serious), effect.reaction, effect.onsetDate]);
      adrTask = { id: task.id, severity: effect.severity, serious };
      // Counted by the monthly analytics (reports/analytics.ts).
      audit(t, rx.id, { action: 'adverse_reaction_reported', actor: actor.actor, origin: actor.origin, data: { followUpId, adrTaskId: task.id, severity: effect.severity, serious, criteria: effect.serious } });
      await recordFollowUpEvent(t, rx, 'adverse_reaction_reported', { followUpId, adrTaskId: task.id, reaction: effect.reaction, severity: effect.severity, serious, onsetDate: effect.onsetDate });
    }
    let renewalRequest: AnswerResult['renewalRequest'] = null;
    if (wantsRenewal(answer)) {
      const note = 'refill' in answer ? answer.refill.note ?? null : null;
      const [req] = await q<{ id: string }>(`insert into renewal_request (prescription_id, follow_up_id, note) values (?, ?, ?) returning id`, [rx.id, followUpId, note]);
      renewalRequest = { id: req.id };
      // A request, never a renewal: the doctor issues a new prescription (or not).
      audit(t, rx.id, { action: 'renewal_requested', actor: actor.actor, origin: actor.origin, data: { followUpId, renewalRequestId: req.id } });
      await recordFollowUpEvent(t, rx, 'renewal_requested', { followUpId, renewalRequestId: req.id, lines: await renewalLines(t, rx.id) });
    }
    return { followUp: followUpView(f), adrTask, renewalRequest, workflowId: rx.workflowId };
  });
  // After the commit: the workflow waits on the signal, the answer is already safe in PostgreSQL.
  try {
    await deps.temporal.workflow.getHandle(result.workflowId).signal(followUpAnsweredSignal, { followUpId });
  } catch (e) {
    // Finished meanwhile (the plan closed), or started before follow-up answers: the stored answer stands.
    if (!(e instanceof WorkflowNotFoundError) && !/already completed|not found/i.test((e as Error).message)) throw e;
  }
  const { workflowId: _w, ...out } = result;
  return out;
}

async function checkSideEffect(t: EntityManager, rx: Prescription, effect: ReportedSideEffect) {
  const problems: { path: string; code: string; message: string }[] = [];
  const base = ['sideEffects'];
  if (effect.onsetDate > chinaToday()) problems.push({ path: jsonPath([...base, 'onsetDate']), code: 'ONSET_IN_FUTURE', message: `${effect.onsetDate} is after today` });
  const lineNos = new Set((await t.find(PrescriptionLineSchema, { prescriptionId: rx.id })).map((l) => l.lineNo));
  (effect.suspectedLineNos ?? []).forEach((n, i) => {
    if (!lineNos.has(n)) problems.push({ path: jsonPath([...base, 'suspectedLineNos', i]), code: 'LINE_UNKNOWN', message: `the prescription has no line ${n}` });
  });
  if (problems.length) throw new ApiError(422, 'ANSWER_INVALID', 'the side-effect report does not fit this prescription', problems);
}

/** What the doctor would renew: drug and quantity per line, what the hospital's own prescription already says. */
async function renewalLines(t: EntityManager, prescriptionId: string) {
  const lines = await t.find(PrescriptionLineSchema, { prescriptionId }, { orderBy: { lineNo: 'asc' } });
  return lines.map((l) => ({ lineNo: l.lineNo, drugCode: l.drugCode, quantity: l.quantity, days: l.days }));
}

// ---- ADR tasks and reports --------------------------------------------------------------------------

interface TaskRow {
  id: string; prescription_id: string; follow_up_id: string; severity: Severity; serious: boolean; serious_criteria: string[]; reaction: string;
  onset_date: string | Date; status: 'open' | 'claimed' | 'closed'; claimed_by: string | null; claimed_at: Date | null; closed_by: string | null;
  closed_at: Date | null; note: string | null; new_reaction: boolean; created_at: Date; rx_no: string; hospital_code: string;
}
const TASK_SELECT = `select a.*, to_char(a.onset_date, 'YYYY-MM-DD') as onset_date, p.rx_no, h.code as hospital_code
  from adr_task a join prescription p on p.id = a.prescription_id join hospital h on h.id = p.hospital_id`;

function taskView(r: TaskRow) {
  return {
    id: r.id, prescriptionId: r.prescription_id, rxNo: r.rx_no, hospital: r.hospital_code, followUpId: r.follow_up_id,
    severity: r.severity, serious: r.serious, seriousCriteria: r.serious_criteria, reaction: r.reaction, onsetDate: String(r.onset_date),
    status: r.status, claimedBy: r.claimed_by, claimedAt: r.claimed_at, closedBy: r.closed_by, closedAt: r.closed_at, note: r.note,
    newReaction: r.new_reaction, createdAt: r.created_at, reportable: r.serious,
  };
}

export const AdrCloseBody = z.object({
  note: z.string().trim().min(1).max(2000),
  /** Not in the drug's label: the report is "new" (新的). */
  newReaction: z.boolean().default(false),
}).strict();

async function pharmacistOf(em: EntityManager, principal: Principal) {
  const p = await em.findOne(PharmacistSchema, { id: principal.partyId });
  if (!p) throw new ApiError(403, 'FORBIDDEN', 'only a pharmacist works ADR tasks');
  return p;
}

const ExportQuery = z.object({
  from: z.iso.date().optional(),
  to: z.iso.date().optional(),
  format: z.enum(['json', 'csv']).default('json'),
  /** Every reported reaction, not only the serious ones flagged for reporting. */
  all: z.enum(['true', 'false']).default('false'),
});

export function followUpRoutes(deps: ApiDeps): Router {
  const r = new Router();

  r.get('/v1/prescriptions/:id/follow-ups', authorize('follow_up.read'), async (ctx) => {
    const rx = await visiblePrescription(deps, ctx.state.principal, ctx.params.id, 'follow_up.read');
    ctx.body = { prescriptionId: rx.id, status: rx.status, questionnaire: QUESTIONNAIRE_VERSION, items: await listFollowUps(deps.orm, rx.id) };
  });

  r.post('/v1/prescriptions/:id/follow-ups/:followUpId/answers', authorize('follow_up.answer'), async (ctx) => {
    const rx = await visiblePrescription(deps, ctx.state.principal, ctx.params.id, 'follow_up.answer');
    const principal = ctx.state.principal as Principal;
    const hospital = await deps.orm.em.fork().findOneOrFail(HospitalSchema, { id: rx.hospitalId });
    const who = principal.role === 'hospital' ? `hospital:${hospital.code}` : `${principal.role}:${principal.label}`;
    ctx.status = 201;
    ctx.body = await answerFollowUp(deps, rx.id, ctx.params.followUpId, ctx.request.body, { actor: who, origin: requestOrigin(ctx) });
  });

  // The pharmacists' ADR queue: serious first, then by severity, oldest first.
  r.get('/v1/adr-tasks', authorize('adr.queue'), async (ctx) => {
    const status = z.enum(['open', 'claimed', 'closed', 'active', 'all']).default('active').safeParse(ctx.query.status ?? undefined);
    if (!status.success) throw new ApiError(422, 'INVALID_QUERY', 'status is open, claimed, closed, active (open or claimed) or all', [{ path: '$.query.status', code: 'invalid_value', message: String(ctx.query.status) }]);
    const where = { open: `a.status = 'open'`, claimed: `a.status = 'claimed'`, closed: `a.status = 'closed'`, active: `a.status <> 'closed'`, all: 'true' }[status.data];
    const rows: TaskRow[] = await deps.orm.em.fork().getConnection().execute(`${TASK_SELECT} where ${where} order by a.rank desc, a.created_at, a.id limit 500`);
    // A person's read of these prescriptions' health data is recorded like any other (api/access-log.ts).
    for (const row of rows) noteAccess(row.prescription_id);
    ctx.body = { items: rows.map(taskView) };
  });

  const loadTask = async (t: EntityManager, id: string) => {
    if (!isUuid(id)) throw notFound('ADR task');
    const [row] = await sqlIn(t)<TaskRow>(`${TASK_SELECT} where a.id = ? for update of a`, [id]);
    if (!row) throw notFound('ADR task');
    return row;
  };

  r.post('/v1/adr-tasks/:taskId/claim', authorize('adr.work'), async (ctx) => {
    const em = deps.orm.em.fork();
    const out = await em.transactional(async (t) => {
      const task = await loadTask(t, ctx.params.taskId);
      const me = await pharmacistOf(t, ctx.state.principal);
      if (task.status === 'closed') throw new ApiError(409, 'ADR_TASK_CLOSED', 'this ADR task is closed');
      if (task.status === 'claimed' && task.claimed_by !== me.code) throw new ApiError(409, 'CLAIMED_BY_OTHER', `claimed by ${task.claimed_by}`, [{ path: '$.claimedBy', code: 'claimed', message: task.claimed_by ?? '' }]);
      if (task.status === 'open') {
        await sqlIn(t)(`update adr_task set status = 'claimed', claimed_by = ?, claimed_at = now() where id = ?`, [me.code, task.id]);
        audit(t, task.prescription_id, { action: 'adr_task_claimed', actor: `pharmacist:${me.code}`, origin: requestOrigin(ctx), data: { adrTaskId: task.id } });
      }
      return task.id;
    });
    const [row] = await em.getConnection().execute<TaskRow[]>(`${TASK_SELECT} where a.id = ?`, [out]);
    ctx.body = { task: taskView(row) };
  });

  r.post('/v1/adr-tasks/:taskId/close', authorize('adr.work'), async (ctx) => {
    const em = deps.orm.em.fork();
    const out = await em.transactional(async (t) => {
      const task = await loadTask(t, ctx.params.taskId);
      const me = await pharmacistOf(t, ctx.state.principal);
      const body = AdrCloseBody.safeParse(ctx.request.body ?? {});
      if (!body.success) throw new ApiError(422, 'VALIDATION_FAILED', 'closing an ADR task needs a note', body.error.issues.map((i) => ({ path: jsonPath(i.path), code: i.code, message: i.message })));
      if (task.status === 'closed') throw new ApiError(409, 'ADR_TASK_CLOSED', 'this ADR task is closed');
      if (task.status !== 'claimed' || task.claimed_by !== me.code) throw new ApiError(409, 'NOT_CLAIMED', 'claim the task before closing it', [{ path: '$.claimedBy', code: 'not_claimed', message: task.claimed_by ?? 'nobody' }]);
      await sqlIn(t)(`update adr_task set status = 'closed', closed_by = ?, closed_at = now(), note = ?, new_reaction = ? where id = ?`, [me.code, body.data.note, body.data.newReaction, task.id]);
      audit(t, task.prescription_id, { action: 'adr_task_closed', actor: `pharmacist:${me.code}`, origin: requestOrigin(ctx), data: { adrTaskId: task.id, newReaction: body.data.newReaction, serious: task.serious } });
      return task.id;
    });
    const [row] = await em.getConnection().execute<TaskRow[]>(`${TASK_SELECT} where a.id = ?`, [out]);
    ctx.body = { task: taskView(row) };
  });

  // The national ADR report (国家药品不良反应/事件报告表) for the serious ones (all=true: every report).
  r.get('/v1/adr-reports', authorize('adr.export'), async (ctx) => {
    const q = ExportQuery.safeParse(ctx.query);
    if (!q.success) throw new ApiError(422, 'INVALID_QUERY', 'from/to are YYYY-MM-DD, format json or csv, all true or false', q.error.issues.map((i) => ({ path: jsonPath(['query', ...i.path]), code: i.code, message: i.message })));
    const reports = await adrReports(deps.orm, { from: q.data.from, to: q.data.to, all: q.data.all === 'true' });
    for (const r of reports) noteAccess(r.prescriptionId);
    if (q.data.format === 'csv') {
      ctx.type = 'text/csv; charset=utf-8';
      ctx.set('Content-Disposition', 'attachment; filename="adr-reports.csv"');
      ctx.body = adrReportsCsv(reports);
      return;
    }
    ctx.body = { items: reports };
  });

  r.get('/v1/adr-reports/:taskId', authorize('adr.export'), async (ctx) => {
    if (!isUuid(ctx.params.taskId)) throw notFound('ADR report');
    const report = await adrReportOf(deps.orm, ctx.params.taskId);
    if (!report) throw notFound('ADR report');
    noteAccess(report.prescriptionId);
    ctx.body = report;
  });

  return r;
}
