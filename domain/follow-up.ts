// Follow-up (随访) after the hand-over: the plan from rules, the questionnaire, adverse-reaction severity
// and the national ADR report's fields. Pure: the activities read the rows, the workflow keeps the time
// (docs/follow-up.md).
import { z } from 'zod';
import type { PrescribedLine } from './dispensing';

export const QUESTIONNAIRE_VERSION = 'fu-1';

/** Steps of a plan; `adherence` and `adverse_reaction` are the kinds of plans made before this one. */
export type FollowUpKind = 'check_in' | 'refill_reminder' | 'close' | 'adherence' | 'adverse_reaction';
export type FollowUpStatus = 'scheduled' | 'sent' | 'answered' | 'unanswered' | 'closed';

export interface FollowUpRules {
  /** Check-in after this many days; sooner for a new therapy or a high-alert drug. */
  checkInDays: number;
  checkInDaysNewOrHighAlert: number;
  /** The refill reminder comes this many days before the chronic supply runs out. */
  refillLeadDays: number;
  /** The plan closes this many days after its last step, and never before the supply runs out. */
  closeAfterDays: number;
  /** ATC prefixes of high-alert drugs (高警示药品): insulins, sulfonylureas, anticoagulants, digoxin, oral methotrexate, opioids. */
  highAlertAtcPrefixes: string[];
}

export const DEFAULT_FOLLOW_UP_RULES: FollowUpRules = {
  checkInDays: 7,
  checkInDaysNewOrHighAlert: 3,
  refillLeadDays: 5,
  closeAfterDays: 3,
  highAlertAtcPrefixes: ['A10A', 'A10BB', 'B01A', 'C01AA05', 'L01BA01', 'L04AX03', 'N02A'],
};

export interface PlanLine extends PrescribedLine {
  /** From the prescription line and the catalogue: "1片", 1 time a day, "5mg×7片". */
  dosage: string; timesPerDay?: number; spec?: string; atcCode?: string;
  /** The patient had no earlier dispensed prescription of this drug in rxflow. */
  newTherapy?: boolean;
}
export interface PlanInput { chronic: boolean; lines: PlanLine[] }
export interface PlanStep { kind: 'check_in' | 'refill_reminder' | 'close'; dueDay: number; why: string }

/** Units in one pack from the specification's last "×N<unit>" ("0.5g×20片" → 20 片); null when it says none. */
export function unitsPerPack(spec: string | undefined): { count: number; unit: string } | null {
  const m = /[×xX*]\s*(\d+)\s*([^\d\s×xX*/]+)\s*$/.exec(spec ?? '');
  return m ? { count: Number(m[1]), unit: m[2] } : null;
}

/** Units per administration from the dosage ("1片", "2 粒", "0.5片"); null when in mg or another unit. */
export function unitsPerDose(dosage: string, unit: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(\S+)\s*$/.exec(dosage);
  return m && m[2] === unit && Number(m[1]) > 0 ? Number(m[1]) : null;
}

/**
 * Whole days the handed-out packs last. From the pack size and the dose where both speak of the same unit
 * (tablets, capsules); otherwise the prescribed days prorated to what was handed out (a partial fill of
 * 1 of 2 packs lasts half the days). `dispensed` absent: the whole quantity was handed out.
 */
export function daysOfSupply(l: PlanLine): number {
  const packs = l.dispensed ?? l.quantity;
  if (packs <= 0) return 0;
  const pack = unitsPerPack(l.spec);
  const dose = pack ? unitsPerDose(l.dosage, pack.unit) : null;
  if (pack && dose && l.timesPerDay) return Math.floor((packs * pack.count) / (dose * l.timesPerDay));
  return Math.floor((l.days * packs) / l.quantity);
}

export const isHighAlert = (atcCode: string | undefined, rules: FollowUpRules) => !!atcCode && rules.highAlertAtcPrefixes.some((p) => atcCode.startsWith(p));

/**
 * The plan for one prescription, in days after the hand-over: a check-in, a refill reminder when the
 * prescription is for a chronic condition (before the first line runs out), and the close.
 */
export function followUpPlan(input: PlanInput, rules: FollowUpRules = DEFAULT_FOLLOW_UP_RULES): PlanStep[] {
  const handedOut = input.lines.filter((l) => (l.dispensed ?? l.quantity) > 0);
  const soon = handedOut.filter((l) => l.newTherapy || isHighAlert(l.atcCode, rules));
  const steps: PlanStep[] = [{
    kind: 'check_in',
    dueDay: soon.length ? rules.checkInDaysNewOrHighAlert : rules.checkInDays,
    why: soon.length ? `line(s) ${soon.map((l) => l.lineNo).join(', ')}: ${soon.some((l) => isHighAlert(l.atcCode, rules)) ? 'high-alert drug' : 'new therapy'}` : 'routine check-in',
  }];
  const supply = handedOut.map((l) => ({ lineNo: l.lineNo, days: daysOfSupply(l) }));
  const firstOut = supply.length ? supply.reduce((a, b) => (b.days < a.days ? b : a)) : null;
  if (input.chronic && firstOut) {
    steps.push({ kind: 'refill_reminder', dueDay: Math.max(1, firstOut.days - rules.refillLeadDays), why: `line ${firstOut.lineNo} runs out after ${firstOut.days} day(s)` });
  }
  const last = Math.max(...steps.map((s) => s.dueDay));
  const longest = supply.length ? Math.max(...supply.map((s) => s.days)) : 0;
  steps.push({ kind: 'close', dueDay: Math.max(last + rules.closeAfterDays, longest), why: 'end of follow-up' });
  // Stable by due day: the check-in comes first when both fall on the same day.
  return steps.map((s, i) => ({ s, i })).sort((a, b) => a.s.dueDay - b.s.dueDay || a.i - b.i).map(({ s }) => s);
}

// ---- the questionnaire (fu-1) -----------------------------------------------------------------------

const isoDate = z.iso.date();
/** Serious criteria of an adverse reaction (《药品不良反应报告和监测管理办法》, 2011, art. 63). */
export const SERIOUS_CRITERIA = ['death', 'life_threatening', 'hospitalisation', 'disability', 'congenital_anomaly', 'other_important'] as const;
export const SEVERITIES = ['mild', 'moderate', 'severe'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const SideEffectsSchema = z.discriminatedUnion('any', [
  z.object({ any: z.literal(false) }).strict(),
  z.object({
    any: z.literal(true),
    /** The reaction's name, e.g. "皮疹", "干咳". */
    reaction: z.string().trim().min(1).max(60),
    /** What happened, in the patient's words: the ADR report's process description. */
    description: z.string().trim().min(1).max(2000),
    onsetDate: isoDate,
    severity: z.enum(SEVERITIES),
    serious: z.array(z.enum(SERIOUS_CRITERIA)).max(SERIOUS_CRITERIA.length).default([]),
    outcome: z.enum(['recovered', 'recovering', 'not_recovered', 'sequelae', 'death', 'unknown']).default('unknown'),
    /** Which lines the patient suspects; absent: every line handed out. */
    suspectedLineNos: z.array(z.number().int().min(1).max(5)).max(5).optional(),
  }).strict(),
]);

export const AdherenceSchema = z.discriminatedUnion('status', [
  z.object({ status: z.literal('as_prescribed') }).strict(),
  z.object({ status: z.literal('missed_doses'), missedDoses: z.number().int().min(1).max(500) }).strict(),
  z.object({
    status: z.literal('stopped'),
    stoppedOn: isoDate.optional(),
    reason: z.enum(['side_effect', 'felt_better', 'not_working', 'cost', 'doctor_advice', 'other']),
    note: z.string().trim().max(500).optional(),
  }).strict(),
]);

const Respondent = z.object({ relation: z.enum(['self', 'family', 'carer']), name: z.string().trim().min(1).max(60).optional() }).strict();

export const CheckInAnswerSchema = z.object({
  questionnaire: z.literal(QUESTIONNAIRE_VERSION).default(QUESTIONNAIRE_VERSION),
  respondent: Respondent.default({ relation: 'self' }),
  adherence: AdherenceSchema,
  sideEffects: SideEffectsSchema,
}).strict();

export const RefillAnswerSchema = z.object({
  questionnaire: z.literal(QUESTIONNAIRE_VERSION).default(QUESTIONNAIRE_VERSION),
  respondent: Respondent.default({ relation: 'self' }),
  /** "I want to continue": rxflow asks the hospital for a renewal; the doctor decides. */
  refill: z.object({ continue: z.boolean(), note: z.string().trim().max(500).optional() }).strict(),
  sideEffects: SideEffectsSchema.optional(),
}).strict();

export type CheckInAnswer = z.infer<typeof CheckInAnswerSchema>;
export type RefillAnswer = z.infer<typeof RefillAnswerSchema>;
export type FollowUpAnswer = CheckInAnswer | RefillAnswer;
export type ReportedSideEffect = Extract<z.infer<typeof SideEffectsSchema>, { any: true }>;

/** The answer schema of a step; null for steps nobody answers (the close). Older kinds ask the check-in's questions. */
export function answerSchemaFor(kind: string) {
  if (kind === 'refill_reminder') return RefillAnswerSchema;
  if (kind === 'check_in' || kind === 'adherence' || kind === 'adverse_reaction') return CheckInAnswerSchema;
  return null;
}

export const reportedSideEffect = (a: FollowUpAnswer): ReportedSideEffect | null => (a.sideEffects?.any ? a.sideEffects : null);
export const wantsRenewal = (a: FollowUpAnswer): boolean => 'refill' in a && a.refill.continue;

/** Serious by the ADR rules when any criterion is met; severity alone (a severe rash) does not make it serious. */
export const isSerious = (s: ReportedSideEffect) => s.serious.length > 0;

/** The pharmacists' queue order: serious first, then severe → mild, then oldest first. */
export function severityRank(severity: Severity, serious: boolean): number {
  return (serious ? 10 : 0) + { severe: 3, moderate: 2, mild: 1 }[severity];
}

// ---- the national ADR report (国家药品不良反应/事件报告表) -------------------------------------------------

export interface AdrSource {
  taskId: string;
  prescriptionId: string;
  reportedAt: string;           // when the patient's answer arrived
  newReaction: boolean;         // the pharmacist judged it not in the label (新的)
  reporter: { organisation: string; pharmacist: string | null; note: string | null };
  patient: { maskedName: string; sex: 'M' | 'F'; ageYears: number; ref: string };
  hospital: { code: string; name: string };
  rxNo: string;
  diagnoses: { code: string; name: string }[];
  sideEffect: ReportedSideEffect;
  startDate: string;            // the first day of use: the hand-over date
  stopDate: string | null;      // from the adherence answer, when the patient stopped
  drugs: {
    lineNo: number; genericName: string; brandName: string | null; approvalNumber: string; manufacturer: string;
    batchNumbers: string[]; route: string; dosage: string; frequency: string;
  }[];
}

const OUTCOME_ZH: Record<ReportedSideEffect['outcome'], string> = {
  recovered: '痊愈', recovering: '好转', not_recovered: '未好转', sequelae: '有后遗症', death: '死亡', unknown: '不详',
};
const SERIOUS_ZH: Record<(typeof SERIOUS_CRITERIA)[number], string> = {
  death: '导致死亡', life_threatening: '危及生命', hospitalisation: '导致住院或住院时间延长', disability: '导致永久或显著的人体伤残或器官功能损伤',
  congenital_anomaly: '导致先天异常或出生缺陷', other_important: '导致其他重要医学事件',
};
const SEVERITY_ZH: Record<Severity, string> = { mild: '轻度', moderate: '中度', severe: '重度' };

/** One report in the national form's fields (docs/follow-up.md has the mapping). */
export function adrReport(s: AdrSource) {
  const e = s.sideEffect;
  return {
    reportId: s.taskId,
    prescriptionId: s.prescriptionId,
    reportType: { new: s.newReaction, serious: isSerious(e), label: `${s.newReaction ? '新的' : ''}${isSerious(e) ? '严重' : '一般'}` },
    reporter: { type: '经营企业', organisation: s.reporter.organisation, pharmacist: s.reporter.pharmacist, reportedAt: s.reportedAt },
    patient: { name: s.patient.maskedName, sex: s.patient.sex === 'M' ? '男' : '女', ageYears: s.patient.ageYears, hospitalPatientRef: s.patient.ref, hospital: s.hospital.name },
    reaction: {
      name: e.reaction, onsetDate: e.onsetDate, description: e.description,
      severity: SEVERITY_ZH[e.severity], serious: e.serious.map((c) => SERIOUS_ZH[c]), outcome: OUTCOME_ZH[e.outcome],
    },
    suspectedDrugs: s.drugs.map((d) => ({
      genericName: d.genericName, brandName: d.brandName, approvalNumber: d.approvalNumber, manufacturer: d.manufacturer,
      batchNumbers: d.batchNumbers, route: d.route, dose: `${d.dosage} ${d.frequency}`, startDate: s.startDate, stopDate: s.stopDate,
      reasonForUse: s.diagnoses.map((x) => x.name).join('；'),
    })),
    rxNo: s.rxNo,
    pharmacistNote: s.reporter.note,
  };
}
export type AdrReport = ReturnType<typeof adrReport>;

/** The CSV columns (reports/csv.ts writes them): one row per suspected drug, as the form lists drugs under one reaction. */
export const ADR_CSV_COLUMNS: [header: string, value: (r: AdrReport, d: AdrReport['suspectedDrugs'][number]) => string | number | null][] = [
  ['报告编号 (report_id)', (r) => r.reportId],
  ['报告类型 (report_type)', (r) => r.reportType.label],
  ['报告单位 (reporter)', (r) => r.reporter.organisation],
  ['报告人 (pharmacist)', (r) => r.reporter.pharmacist],
  ['报告日期 (reported_at)', (r) => r.reporter.reportedAt],
  ['患者姓名 (patient_name)', (r) => r.patient.name],
  ['性别 (sex)', (r) => r.patient.sex],
  ['年龄 (age)', (r) => r.patient.ageYears],
  ['医院 (hospital)', (r) => r.patient.hospital],
  ['不良反应名称 (reaction)', (r) => r.reaction.name],
  ['发生时间 (onset)', (r) => r.reaction.onsetDate],
  ['过程描述 (description)', (r) => r.reaction.description],
  ['严重程度 (severity)', (r) => r.reaction.severity],
  ['严重标准 (serious_criteria)', (r) => r.reaction.serious.join('；')],
  ['结果 (outcome)', (r) => r.reaction.outcome],
  ['通用名称 (generic_name)', (_r, d) => d.genericName],
  ['商品名称 (brand_name)', (_r, d) => d.brandName],
  ['批准文号 (approval_number)', (_r, d) => d.approvalNumber],
  ['生产厂家 (manufacturer)', (_r, d) => d.manufacturer],
  ['生产批号 (batch)', (_r, d) => d.batchNumbers.join('；')],
  ['用法 (route)', (_r, d) => d.route],
  ['用量 (dose)', (_r, d) => d.dose],
  ['用药起始时间 (start)', (_r, d) => d.startDate],
  ['用药终止时间 (stop)', (_r, d) => d.stopDate],
  ['用药原因 (reason_for_use)', (_r, d) => d.reasonForUse],
];
