// CSV export of the monthly analytics: RFC 4180 (CRLF, quoted where needed), UTF-8 with a byte-order mark
// so Excel opens the Chinese names correctly, and headers in Chinese with the English key in parentheses.
import type { MonthlyReport, MonthlyRow } from './analytics';

export type Cell = string | number | null | undefined;

const BOM = '\uFEFF';

/**
 * One CSV field. Text that a spreadsheet would run as a formula (=, +, -, @, tab, CR first) gets a leading
 * apostrophe; a hospital's or pharmacy's name is data, never a formula. Numbers are written as they are.
 */
export function csvField(v: Cell): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  let s = v;
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(header: string[], rows: Cell[][]): string {
  return BOM + [header, ...rows].map((r) => r.map(csvField).join(',')).join('\r\n') + '\r\n';
}

const COLUMNS: { header: string; value: (r: MonthlyRow, report: MonthlyReport) => Cell }[] = [
  { header: '月份 (month)', value: (_r, rep) => rep.month },
  { header: '分组 (group)', value: (_r, rep) => rep.by },
  { header: '代码 (key)', value: (r) => r.key },
  { header: '名称 (name)', value: (r) => r.name },
  { header: '地区代码 (region_code)', value: (r) => r.regionCode },
  { header: '开方数 (issued)', value: (r) => r.issued },
  { header: '审核通过 (approved)', value: (r) => r.approved },
  { header: '审核驳回 (rejected)', value: (r) => r.rejected },
  { header: '驳回原因 (rejected_by_reason)', value: (r) => r.rejectedByReason.map((x) => `${x.reason}: ${x.count}`).join('; ') },
  { header: '平均药品数 (avg_drugs_per_prescription)', value: (r) => r.avgDrugsPerPrescription },
  { header: '平均金额分 (avg_value_fen)', value: (r) => r.avgValueFen },
  { header: '医保支付占比 (insurer_share)', value: (r) => r.insurerShare },
  { header: '审方时长P50秒 (review_seconds_p50)', value: (r) => r.reviewSecondsP50 },
  { header: '审方时长P90秒 (review_seconds_p90)', value: (r) => r.reviewSecondsP90 },
  { header: '推送至送达P50秒 (delivery_seconds_p50)', value: (r) => r.deliverySecondsP50 },
  { header: '推送至送达P90秒 (delivery_seconds_p90)', value: (r) => r.deliverySecondsP90 },
  { header: '药店应答订单 (offers_answered)', value: (r) => r.offersAnswered },
  { header: '药店接单 (offers_accepted)', value: (r) => r.offersAccepted },
  { header: '药店接单率 (pharmacy_acceptance_rate)', value: (r) => r.pharmacyAcceptanceRate },
  { header: '随访总数 (follow_ups)', value: (r) => r.followUps },
  { header: '随访已发送 (follow_ups_sent)', value: (r) => r.followUpsSent },
  { header: '随访完成率 (follow_up_completion_rate)', value: (r) => r.followUpCompletionRate },
  { header: '不良反应报告 (adverse_reactions)', value: (r) => r.adverseReactions },
];

export const MONTHLY_CSV_HEADER = COLUMNS.map((c) => c.header);

export function monthlyReportCsv(report: MonthlyReport): string {
  return toCsv(MONTHLY_CSV_HEADER, report.rows.map((r) => COLUMNS.map((c) => c.value(r, report))));
}
