// Partial fills (issue 9): a pharmacy may dispense part of a line now and the remainder later, or
// declare the remainder not dispensed. The quantity arithmetic and the per-fill settlement live here,
// pure; activities/index.ts applies them in the dispensing transaction (docs/dispensing.md).
import { precheck, type PatientShares, type PrecheckInput, type PrecheckResult, type PricedLineInput } from './insurance';

export interface LineQuantity { lineNo: number; quantity: number }
export interface LineProgress { lineNo: number; prescribed: number; dispensed: number; remaining: number }
export interface FillProgress { lines: LineProgress[]; complete: boolean; anyDispensed: boolean }

/** Units per line: how many packs of each line a fill (or several) handed out. */
export function quantitiesOf(packs: { lineNo: number }[]): LineQuantity[] {
  const by = new Map<number, number>();
  for (const p of packs) by.set(p.lineNo, (by.get(p.lineNo) ?? 0) + 1);
  return [...by].map(([lineNo, quantity]) => ({ lineNo, quantity })).sort((a, b) => a.lineNo - b.lineNo);
}

/** Adds fills together, line by line. */
export function addQuantities(...fills: LineQuantity[][]): LineQuantity[] {
  const by = new Map<number, number>();
  for (const fill of fills) for (const l of fill) by.set(l.lineNo, (by.get(l.lineNo) ?? 0) + l.quantity);
  return [...by].map(([lineNo, quantity]) => ({ lineNo, quantity })).sort((a, b) => a.lineNo - b.lineNo);
}

/**
 * Prescribed vs dispensed per line. Dispensing more than prescribed is a programming error here: the
 * check-before-dispense refuses it first (OVER_DISPENSED), so it throws rather than clamping.
 */
export function fillProgress(prescribed: LineQuantity[], dispensed: LineQuantity[]): FillProgress {
  const done = new Map(addQuantities(dispensed).map((l) => [l.lineNo, l.quantity]));
  for (const lineNo of done.keys()) if (!prescribed.some((p) => p.lineNo === lineNo)) throw new Error(`line ${lineNo} is not prescribed`);
  const lines = prescribed.map((p) => {
    const d = done.get(p.lineNo) ?? 0;
    if (d > p.quantity) throw new Error(`line ${p.lineNo}: ${d} dispensed of ${p.quantity} prescribed`);
    return { lineNo: p.lineNo, prescribed: p.quantity, dispensed: d, remaining: p.quantity - d };
  });
  return { lines, complete: lines.every((l) => l.remaining === 0), anyDispensed: lines.some((l) => l.dispensed > 0) };
}

/** What is released when the remainder is declared not dispensed: the undispensed units, per line. */
export function notDispensed(progress: FillProgress): LineQuantity[] {
  return progress.lines.filter((l) => l.remaining > 0).map((l) => ({ lineNo: l.lineNo, quantity: l.remaining }));
}

/**
 * The settlement of one fill. The whole dispensed quantity is priced cumulatively (before this fill and
 * after it) and the fill pays the difference, so the deductible and the annual cap are applied once per
 * prescription however many fills there are, the fills add up to exactly the price of everything handed
 * out, and a remainder never dispensed is never billed. The first fill is priced exactly as a full fill.
 * `before` and `after` carry the unit price to use (this pharmacy's, at this fill) and the quantities.
 */
export function fillSettlement(coverage: Omit<PrecheckInput, 'lines'>, before: PricedLineInput[], after: PricedLineInput[]): PrecheckResult {
  const now = precheck({ ...coverage, lines: after });
  if (before.every((l) => l.quantity === 0)) return now;
  const was = precheck({ ...coverage, lines: before });
  const minus = (a: number | undefined, b: number | undefined) => (a === undefined && b === undefined ? undefined : (a ?? 0) - (b ?? 0));
  const diffShares = (a?: PatientShares, b?: PatientShares): PatientShares | undefined => (a && b
    ? { notListedFen: a.notListedFen - b.notListedFen, classBSelfPayFen: a.classBSelfPayFen - b.classBSelfPayFen, deductibleFen: a.deductibleFen - b.deductibleFen, copayFen: a.copayFen - b.copayFen, overCapFen: a.overCapFen - b.overCapFen }
    : a);
  const lines = now.lines.map((l) => {
    const w = was.lines.find((x) => x.lineNo === l.lineNo);
    const commercial = minus(l.commercialPaysFen, w?.commercialPaysFen);
    const shares = diffShares(l.shares, w?.shares);
    return {
      ...l,
      amountFen: l.amountFen - (w?.amountFen ?? 0),
      insurerPaysFen: l.insurerPaysFen - (w?.insurerPaysFen ?? 0),
      patientPaysFen: l.patientPaysFen - (w?.patientPaysFen ?? 0),
      ...(commercial !== undefined ? { commercialPaysFen: commercial } : {}),
      ...(shares ? { shares } : {}),
    };
  });
  const commercialPaysFen = minus(now.commercialPaysFen, was.commercialPaysFen);
  const deductibleAppliedFen = minus(now.deductibleAppliedFen, was.deductibleAppliedFen);
  return {
    ...now,
    lines,
    totalFen: now.totalFen - was.totalFen,
    insurerPaysFen: now.insurerPaysFen - was.insurerPaysFen,
    patientPaysFen: now.patientPaysFen - was.patientPaysFen,
    ...(commercialPaysFen !== undefined ? { commercialPaysFen } : {}),
    ...(deductibleAppliedFen !== undefined ? { deductibleAppliedFen } : {}),
  };
}

export interface LineFillState { lineNo: number; quantity: number; dispensedQuantity: number; notDispensedQuantity: number }
export interface DispenseView {
  /** none: nothing handed out yet; partially_dispensed: some but not all (see `remainder`); dispensed: everything. */
  status: 'none' | 'partially_dispensed' | 'dispensed';
  /** pending: the pharmacy may still hand out the rest; not_dispensed: the rest was declared not dispensed (released, not billed). */
  remainder: 'pending' | 'not_dispensed' | null;
  lines: { lineNo: number; prescribed: number; dispensed: number; notDispensed: number; pending: number }[];
}

/** What the patient, the hospital and the courier are shown: dispensed vs prescribed, per line. */
export function dispenseView(lines: LineFillState[]): DispenseView {
  const out = lines.map((l) => ({
    lineNo: l.lineNo, prescribed: l.quantity, dispensed: l.dispensedQuantity, notDispensed: l.notDispensedQuantity,
    pending: l.quantity - l.dispensedQuantity - l.notDispensedQuantity,
  }));
  const any = out.some((l) => l.dispensed > 0);
  const all = out.every((l) => l.dispensed === l.prescribed);
  const status = !any ? 'none' : all ? 'dispensed' : 'partially_dispensed';
  const remainder = status !== 'partially_dispensed' ? null : out.some((l) => l.pending > 0) ? 'pending' : 'not_dispensed';
  return { status, remainder, lines: out };
}
