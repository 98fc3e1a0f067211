// The national ADR report (国家药品不良反应/事件报告表) from what rxflow holds: the ADR task, the patient's
// answer, the prescription, the catalogue and the packs the pharmacy scanned. Read-only (docs/follow-up.md §5).
import type { MikroORM } from '@mikro-orm/postgresql';
import { DispensingSchema, DrugSchema, FollowUpSchema, HospitalSchema, PharmacistSchema, PharmacySchema, PrescriptionLineSchema, PrescriptionSchema } from '../db/entities';
import { adrReport, ADR_CSV_COLUMNS, reportedSideEffect, type AdrReport, type FollowUpAnswer, type ReportedSideEffect } from '../domain/follow-up';
import { maskName } from '../domain/masking';
import { ageInYears } from '../domain/rules';
import type { Drug } from '../domain/types';
import { toCsv } from './csv';

/** Everything the national form asks, from the task, the answer, the prescription and the dispensed packs. */
export async function adrReportOf(orm: MikroORM, taskId: string): Promise<AdrReport | null> {
  const em = orm.em.fork();
  const [task]: {
    id: string; prescription_id: string; follow_up_id: string; new_reaction: boolean; note: string | null; claimed_by: string | null; closed_by: string | null; created_at: Date;
    reaction: string; onset_date: string; severity: ReportedSideEffect['severity']; serious_criteria: ReportedSideEffect['serious'];
  }[] = await em.getConnection().execute(`select *, to_char(onset_date, 'YYYY-MM-DD') as onset_date from adr_task where id = ?`, [taskId]);
  if (!task) return null;
  const f = await em.findOneOrFail(FollowUpSchema, { id: task.follow_up_id });
  const answer = f.answer as unknown as FollowUpAnswer;
  // An erased answer (docs/data-protection.md) leaves what the task itself recorded.
  const effect: ReportedSideEffect = reportedSideEffect(answer) ?? {
    any: true, reaction: task.reaction, description: '[erased]', onsetDate: task.onset_date, severity: task.severity, serious: task.serious_criteria, outcome: 'unknown',
  };
  const rx = await em.findOneOrFail(PrescriptionSchema, { id: task.prescription_id });
  const content = rx.content as any;
  const hospital = await em.findOneOrFail(HospitalSchema, { id: rx.hospitalId });
  const lines = await em.find(PrescriptionLineSchema, { prescriptionId: rx.id }, { orderBy: { lineNo: 'asc' } });
  const suspected = effect.suspectedLineNos?.length ? lines.filter((l) => effect.suspectedLineNos!.includes(l.lineNo)) : lines.filter((l) => l.dispensedQuantity > 0 || !rx.partialFill);
  const conn = em.getConnection();
  const packs: { line_no: number; drug_code: string; batch_no: string }[] = await conn.execute(
    `select line_no, drug_code, batch_no from dispensed_pack where prescription_id = ? order by line_no, batch_no`, [rx.id]);
  const drugCodes = [...new Set([...lines.map((l) => l.drugCode), ...packs.map((p) => p.drug_code)])];
  const drugs = new Map((await em.find(DrugSchema, { code: { $in: drugCodes } })).map((d) => [d.code, d.data as Drug]));
  const dispensing = await em.findOne(DispensingSchema, { prescriptionId: rx.id }, { orderBy: { fillNo: 'asc' } });
  const pharmacy = dispensing ? await em.findOne(PharmacySchema, { id: dispensing.pharmacyId }) : null;
  const [handover] = await conn.execute(`select min(at) as at from audit_event where prescription_id = ? and to_status = 'delivered'`, [rx.id]);
  const pharmacistCode = task.closed_by ?? task.claimed_by;
  const pharmacist = pharmacistCode ? await em.findOne(PharmacistSchema, { code: pharmacistCode }) : null;
  const day = (d: Date | string | null | undefined) => (d ? new Date(new Date(d).getTime() + 8 * 3600_000).toISOString().slice(0, 10) : null);
  const stopDate = 'adherence' in answer && answer.adherence.status === 'stopped' ? answer.adherence.stoppedOn ?? null : null;
  return adrReport({
    taskId: task.id, prescriptionId: rx.id, reportedAt: (f.answeredAt ?? task.created_at).toISOString(), newReaction: task.new_reaction,
    reporter: { organisation: pharmacy?.name ?? 'rxflow', pharmacist: pharmacist?.name ?? null, note: task.note },
    patient: { maskedName: maskName(content.patient?.name), sex: content.patient?.gender, ageYears: ageInYears(content.patient?.birthDate, rx.issuedAt), ref: rx.patientRef },
    hospital: { code: hospital.code, name: hospital.name },
    rxNo: rx.rxNo, diagnoses: content.diagnoses ?? [], sideEffect: effect,
    startDate: day(handover?.at) ?? day(dispensing?.dispensedAt) ?? '', stopDate,
    drugs: suspected.map((l) => {
      // The SKU handed out (a substitute, if matching chose one) is the suspected product.
      const linePacks = packs.filter((p) => p.line_no === l.lineNo);
      const d = drugs.get(linePacks[0]?.drug_code ?? l.drugCode) ?? drugs.get(l.drugCode)!;
      const src = content.lines?.[l.lineNo - 1] ?? {};
      return {
        lineNo: l.lineNo, genericName: d.genericNameZh, brandName: d.brandNameZh, approvalNumber: d.approvalNumber, manufacturer: d.manufacturer,
        batchNumbers: [...new Set(linePacks.map((p) => p.batch_no))], route: l.route, dosage: l.dosage, frequency: src.frequency ?? l.frequency,
      };
    }),
  });
}

/** The reports flagged for ADR reporting (serious), or all, whose answer arrived in [from, to] (China dates). */
export async function adrReports(orm: MikroORM, opts: { from?: string; to?: string; all?: boolean }): Promise<AdrReport[]> {
  const rows: { id: string }[] = await orm.em.fork().getConnection().execute(
    `select id from adr_task where (serious or ?::boolean)
        and (?::date is null or (created_at at time zone 'Asia/Shanghai')::date >= ?::date)
        and (?::date is null or (created_at at time zone 'Asia/Shanghai')::date <= ?::date)
      order by created_at, id`, [!!opts.all, opts.from ?? null, opts.from ?? null, opts.to ?? null, opts.to ?? null]);
  const out: AdrReport[] = [];
  for (const r of rows) out.push((await adrReportOf(orm, r.id))!);
  return out;
}

export const adrReportsCsv = (reports: AdrReport[]) =>
  toCsv(ADR_CSV_COLUMNS.map(([h]) => h), reports.flatMap((r) => r.suspectedDrugs.map((d) => ADR_CSV_COLUMNS.map(([, f]) => f(r, d)))));

