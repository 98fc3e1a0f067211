// Insurance pre-check (医保预结算): what the insurer pays and what the patient pays, per line, in fen,
// with the rule that decided each amount. Plans are data (domain/insurance-plans.ts), not code.
import type { Fen, InsuranceClass } from './types';

export interface InsurancePlan {
  id: string;
  name: string;
  region: string;
  effectiveFrom: string;            // ISO date
  deductibleFen: Fen;               // 起付线, per year
  ratioPermille: { outpatient: number; chronic_special: number }; // reimbursement ratio, ‰
  classBSelfPayPermille: number;    // 乙类 self-pay share before the ratio applies, ‰
  annualCapFen: Fen;                // 封顶线
}

export interface PricedLineInput {
  lineNo: number;
  drugCode: string;
  insuranceClass: InsuranceClass;
  unitPriceFen: Fen;
  quantity: number;
}

export interface PricedLine {
  lineNo: number;
  drugCode: string;
  amountFen: Fen;
  insurerPaysFen: Fen;
  patientPaysFen: Fen;
  reasons: string[];
}

export interface PrecheckInput {
  plan: InsurancePlan | null;       // null: no insurance on the prescription → self-pay
  visitType: 'outpatient' | 'chronic_special';
  deductibleUsedFen: Fen;
  paidThisYearFen: Fen;
  lines: PricedLineInput[];
}

export interface PrecheckResult {
  planId: string | null;
  lines: PricedLine[];
  totalFen: Fen;
  insurerPaysFen: Fen;
  patientPaysFen: Fen;
}

const permille = (amount: Fen, pm: number): Fen => Math.floor((amount * pm) / 1000);

export function precheck(input: PrecheckInput): PrecheckResult {
  const { plan } = input;
  let deductibleLeft = plan ? Math.max(0, plan.deductibleFen - input.deductibleUsedFen) : 0;
  let capLeft = plan ? Math.max(0, plan.annualCapFen - input.paidThisYearFen) : 0;

  const lines = input.lines.map((l): PricedLine => {
    const amountFen = l.unitPriceFen * l.quantity;
    const reasons: string[] = [];
    if (!plan) return { lineNo: l.lineNo, drugCode: l.drugCode, amountFen, insurerPaysFen: 0, patientPaysFen: amountFen, reasons: ['SELF_PAY: no insurance on the prescription'] };
    if (l.insuranceClass === 'none') {
      return { lineNo: l.lineNo, drugCode: l.drugCode, amountFen, insurerPaysFen: 0, patientPaysFen: amountFen, reasons: ['NOT_LISTED: not on the reimbursement list'] };
    }
    let eligible = amountFen;
    if (l.insuranceClass === 'B') {
      const selfPay = amountFen - permille(amountFen, 1000 - plan.classBSelfPayPermille);
      eligible -= selfPay;
      reasons.push(`CLASS_B: patient first pays ${plan.classBSelfPayPermille / 10}% (${selfPay} fen)`);
    } else {
      reasons.push('CLASS_A: fully eligible');
    }
    const towardsDeductible = Math.min(deductibleLeft, eligible);
    if (towardsDeductible > 0) {
      deductibleLeft -= towardsDeductible;
      eligible -= towardsDeductible;
      reasons.push(`DEDUCTIBLE: ${towardsDeductible} fen towards the deductible`);
    }
    const ratio = plan.ratioPermille[input.visitType];
    let insurer = permille(eligible, ratio);
    reasons.push(`RATIO: ${ratio / 10}% of ${eligible} fen (${input.visitType})`);
    if (insurer > capLeft) {
      reasons.push(`ANNUAL_CAP: insurer share limited to the ${capLeft} fen left under the cap`);
      insurer = capLeft;
    }
    capLeft -= insurer;
    return { lineNo: l.lineNo, drugCode: l.drugCode, amountFen, insurerPaysFen: insurer, patientPaysFen: amountFen - insurer, reasons };
  });

  const sum = (f: (l: PricedLine) => Fen) => lines.reduce((s, l) => s + f(l), 0);
  return {
    planId: plan?.id ?? null,
    lines,
    totalFen: sum((l) => l.amountFen),
    insurerPaysFen: sum((l) => l.insurerPaysFen),
    patientPaysFen: sum((l) => l.patientPaysFen),
  };
}
