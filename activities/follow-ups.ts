// Follow-up (随访) activities: write the plan, send a step (and its reminder) through the hospital's
// channel, mark it unanswered, close the plan. Each is safe to retry: it writes only what is not there yet.
import { randomUUID } from 'node:crypto';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { LockMode } from '@mikro-orm/core';
import { FollowUpSchema, PrescriptionSchema, type FollowUp } from '../db/entities';
import { audit, transition } from './audit';
import { recordFollowUpEvent } from './hospital-events';
import { followUpPlan, QUESTIONNAIRE_VERSION, type PlanLine } from '../domain/follow-up';
import { loadFollowUpTimings, type FollowUpTimings } from '../engine/config';

const SYSTEM = 'system:rxflow';

export interface PlannedStep { followUpId: string; kind: FollowUp['kind']; dueInMs: number }
export interface FollowUpPlan { steps: PlannedStep[]; responseWindowMs: number }

function sqlIn(t: EntityManager) {
  return <T = any>(query: string, params: unknown[] = []): Promise<T[]> =>
    t.getConnection().execute(query, params, 'all', t.getTransactionContext()) as Promise<T[]>;
}

export function createFollowUpActivities(orm: MikroORM) {
  const tx = <T>(fn: (em: EntityManager) => Promise<T>) => orm.em.fork().transactional(fn);

  /** Tells the hospital's patient app a questionnaire is due (again, for a reminder). */
  async function send(prescriptionId: string, followUpId: string, reminder: boolean): Promise<void> {
    await tx(async (t) => {
      const f = await t.findOneOrFail(FollowUpSchema, { id: followUpId, prescriptionId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      // Sent once, reminded once; a retry after the commit, or an answer that came first, writes nothing.
      if (reminder ? f.status !== 'sent' || f.remindedAt : f.status !== 'scheduled') return;
      if (reminder) f.remindedAt = new Date();
      else { f.status = 'sent'; f.sentAt = new Date(); }
      audit(t, prescriptionId, { action: reminder ? 'follow_up_reminded' : 'follow_up_sent', actor: SYSTEM, data: { kind: f.kind, followUpId } });
      const rx = await t.findOneOrFail(PrescriptionSchema, { id: prescriptionId });
      await recordFollowUpEvent(t, rx, 'follow_up_due', { followUpId, kind: f.kind, questionnaire: QUESTIONNAIRE_VERSION, reminder });
    });
  }

  return {
    /**
     * The plan from rules (domain/follow-up.ts) over what was handed out: rows for each step with its due
     * time, the prescription moved to follow_up. `fu` absent (workflows started before): today's settings.
     */
    async planFollowUps(prescriptionId: string, fu?: FollowUpTimings | null): Promise<FollowUpPlan> {
      const timings = fu ?? loadFollowUpTimings();
      return tx(async (t) => {
        const q = sqlIn(t);
        const rx = await t.findOneOrFail(PrescriptionSchema, { id: prescriptionId });
        const content = rx.content as { chronic?: boolean; lines?: { timesPerDay?: number }[] };
        const rows = await q<{ line_no: number; drug_code: string; quantity: number; days: number; dosage: string; dispensed_quantity: number; spec: string; atc: string; earlier: boolean }>(
          `select l.line_no, l.drug_code, l.quantity, l.days, l.dosage, l.dispensed_quantity, d.data->>'spec' as spec, d.data->>'atcCode' as atc,
                  exists (select 1 from prescription p2 join prescription_line l2 on l2.prescription_id = p2.id
                           where p2.patient_id = ? and p2.id <> ? and p2.used_at is not null and l2.drug_code = l.drug_code and l2.dispensed_quantity > 0) as earlier
             from prescription_line l join drug d on d.code = l.drug_code where l.prescription_id = ? order by l.line_no`,
          [rx.patientId, rx.id, rx.id]);
        const lines: PlanLine[] = rows.map((r) => ({
          lineNo: r.line_no, drugCode: r.drug_code, quantity: r.quantity, days: r.days, dosage: r.dosage,
          // Rows dispensed before partial fills counted nothing: those were whole.
          dispensed: r.dispensed_quantity > 0 ? r.dispensed_quantity : rx.partialFill ? 0 : r.quantity,
          timesPerDay: content.lines?.[r.line_no - 1]?.timesPerDay, spec: r.spec, atcCode: r.atc, newTherapy: !r.earlier && rx.patientId !== null,
        }));
        const plan = followUpPlan({ chronic: !!content.chronic, lines }, timings.rules);
        const existing = await t.find(FollowUpSchema, { prescriptionId });
        const now = Date.now();
        const steps: PlannedStep[] = [];
        for (const s of plan) {
          const dueInMs = s.dueDay * timings.dayMs;
          let row = existing.find((f) => f.kind === s.kind);
          row ??= t.create(FollowUpSchema, { id: randomUUID(), prescriptionId, kind: s.kind, dueAt: new Date(now + dueInMs), status: 'scheduled', sentAt: null, why: s.why } as never);
          steps.push({ followUpId: row.id, kind: s.kind, dueInMs: existing.length ? Math.max(0, row.dueAt.getTime() - now) : dueInMs });
        }
        await transition(t, prescriptionId, 'follow_up', {
          action: 'follow_up_scheduled', actor: SYSTEM,
          data: { kinds: plan.map((s) => s.kind), plan: plan.map((s) => ({ kind: s.kind, dueDay: s.dueDay, why: s.why })) },
        });
        await t.flush();
        return { steps, responseWindowMs: timings.responseWindowMs };
      });
    },

    async sendFollowUpStep(prescriptionId: string, followUpId: string): Promise<void> { await send(prescriptionId, followUpId, false); },
    async remindFollowUp(prescriptionId: string, followUpId: string): Promise<void> { await send(prescriptionId, followUpId, true); },

    /** No answer after the reminder either. An answer that arrives later is still taken (api/follow-ups.ts). */
    async markFollowUpUnanswered(prescriptionId: string, followUpId: string): Promise<void> {
      await tx(async (t) => {
        const f = await t.findOneOrFail(FollowUpSchema, { id: followUpId, prescriptionId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
        if (f.status !== 'sent') return;
        f.status = 'unanswered';
        audit(t, prescriptionId, { action: 'follow_up_unanswered', actor: SYSTEM, data: { kind: f.kind, followUpId } });
      });
    },

    /** The plan's end: the close step and anything never sent are closed. */
    async closeFollowUps(prescriptionId: string): Promise<void> {
      await tx(async (t) => {
        const open = await t.find(FollowUpSchema, { prescriptionId, status: 'scheduled' });
        if (!open.length) return;
        for (const f of open) { f.status = 'closed'; f.closedAt = new Date(); }
        audit(t, prescriptionId, { action: 'follow_up_closed', actor: SYSTEM, data: { kinds: open.map((f) => f.kind) } });
      });
    },
  };
}
