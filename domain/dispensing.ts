// Check-before-dispense (核对): what a pharmacy says it handed out, against the approved prescription.
// Refusals stop the dispensing; findings are recorded with it and shown to the pharmacist.
import { parseTraceCode } from './traceability';

export interface PackInput { traceCode: string; batchNo: string; expiryDate: string }
export interface DispenseLineInput { lineNo: number; packs: PackInput[] }
export interface PrescribedLine {
  lineNo: number; drugCode: string; quantity: number; days: number;
  /** Units handed out by earlier fills of this prescription (partial fills); 0 when absent. */
  dispensed?: number;
}
/** `partial`: the pharmacy dispenses part of the remainder now (lines may be left out, fewer packs than remain). */
export interface DispenseCheckOptions { partial?: boolean }

export interface CheckedPack { lineNo: number; drugCode: string; traceCode: string; batchNo: string; expiryDate: string }
export interface Finding { code: string; lineNo: number; traceCode?: string; message: string }
export type DispenseCheck =
  | { ok: true; packs: CheckedPack[]; findings: Finding[] }
  | { ok: false; problems: { path: string; code: string; message: string }[] };

const addDays = (isoDate: string, days: number) => new Date(Date.parse(`${isoDate}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);

/** `today` is the dispensing date (YYYY-MM-DD, local to the pharmacy). */
export function checkDispensing(prescribed: PrescribedLine[], lines: DispenseLineInput[], today: string, opts: DispenseCheckOptions = {}): DispenseCheck {
  const problems: { path: string; code: string; message: string }[] = [];
  const findings: Finding[] = [];
  const packs: CheckedPack[] = [];
  const seen = new Set<string>();
  const byLine = new Map(lines.map((l) => [l.lineNo, l]));
  const remaining = (p: PrescribedLine) => p.quantity - (p.dispensed ?? 0);

  prescribed.forEach((p) => {
    // A full dispensing covers every line that still has units to hand out; a partial one may leave lines out.
    if (!byLine.has(p.lineNo) && remaining(p) > 0 && !opts.partial) problems.push({ path: `$.lines`, code: 'LINE_MISSING', message: `line ${p.lineNo} (${p.drugCode}) is not dispensed; report it short instead` });
  });
  lines.forEach((l, i) => {
    const p = prescribed.find((x) => x.lineNo === l.lineNo);
    if (!p) { problems.push({ path: `$.lines[${i}].lineNo`, code: 'LINE_UNKNOWN', message: `the prescription has no line ${l.lineNo}` }); return; }
    // The same line twice would let each entry pass the count on its own: an over-dispensing in disguise.
    if (lines.findIndex((x) => x.lineNo === l.lineNo) !== i) { problems.push({ path: `$.lines[${i}].lineNo`, code: 'LINE_REPEATED', message: `line ${l.lineNo} appears more than once` }); return; }
    const left = remaining(p);
    if (left <= 0) {
      problems.push({ path: `$.lines[${i}].packs`, code: 'OVER_DISPENSED', message: `line ${l.lineNo} is already fully dispensed (${p.quantity} pack(s))` });
    } else if (opts.partial) {
      if (l.packs.length > left) problems.push({ path: `$.lines[${i}].packs`, code: 'OVER_DISPENSED', message: `line ${l.lineNo} has ${left} of ${p.quantity} pack(s) left to dispense, ${l.packs.length} scanned` });
    } else if (l.packs.length !== left) {
      problems.push({
        path: `$.lines[${i}].packs`, code: 'PACK_COUNT_MISMATCH',
        message: left === p.quantity ? `line ${l.lineNo} is prescribed ${p.quantity} pack(s), ${l.packs.length} scanned` : `line ${l.lineNo} has ${left} of ${p.quantity} pack(s) left to dispense, ${l.packs.length} scanned`,
      });
    }
    l.packs.forEach((pack, j) => {
      const path = `$.lines[${i}].packs[${j}]`;
      const parsed = parseTraceCode(pack.traceCode);
      if (!parsed.ok) { problems.push({ path: `${path}.traceCode`, code: 'TRACE_CODE_INVALID', message: parsed.reason }); return; }
      const code = parsed.code;
      if (seen.has(code.canonical)) problems.push({ path: `${path}.traceCode`, code: 'TRACE_CODE_REPEATED', message: 'the same pack was scanned twice' });
      seen.add(code.canonical);
      if (code.expiry && code.expiry !== pack.expiryDate) problems.push({ path: `${path}.expiryDate`, code: 'EXPIRY_MISMATCH', message: `the code says ${code.expiry}, entered ${pack.expiryDate}` });
      if (code.batch && code.batch !== pack.batchNo) problems.push({ path: `${path}.batchNo`, code: 'BATCH_MISMATCH', message: `the code says batch ${code.batch}, entered ${pack.batchNo}` });
      if (pack.expiryDate < today) {
        problems.push({ path: `${path}.expiryDate`, code: 'PACK_EXPIRED', message: `the pack expired on ${pack.expiryDate}` });
      } else if (pack.expiryDate < addDays(today, p.days)) {
        findings.push({ code: 'PACK_EXPIRES_DURING_SUPPLY', lineNo: l.lineNo, traceCode: code.canonical, message: `expires ${pack.expiryDate}, before the ${p.days}-day supply ends` });
      }
      packs.push({ lineNo: l.lineNo, drugCode: p.drugCode, traceCode: code.canonical, batchNo: pack.batchNo, expiryDate: pack.expiryDate });
    });
  });
  return problems.length ? { ok: false, problems } : { ok: true, packs, findings };
}
