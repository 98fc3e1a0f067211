// Insurance pre-check (医保预结算): what the insurer pays and what the patient pays, per line, in fen,
// with the rule that decided each amount. Plans are data (catalog/data/insurance, loaded into
// PostgreSQL; the built-in defaults in domain/insurance-plans.ts), not code. docs/insurance.md.
import type { Fen, InsuranceClass } from './types';

export interface InsurancePlan {
  id: string;
  name: string;
  region: string;
  effectiveFrom: string;            // ISO date
  deductibleFen: Fen;               // 起付线, per year
  ratioPermille: { outpatient: number; chronic_special: number }; // reimbursement ratio, ‰
  classBSelfPayPermille: number;    // 乙类 self-pay share before the ratio applies, ‰ (a listed drug may set its own)
  annualCapFen: Fen;                // 封顶线
  /** 门诊慢特病 often has its own (lower) deductible; the ordinary one when absent. */
  chronicDeductibleFen?: Fen;
  /** The policy version this plan came from (catalog/data/insurance/<region>.v<N>.json). */
  version?: number;
}

/** An entry of a region's reimbursement list (医保药品目录), by insurance drug code (or SKU). */
export interface ListedDrug { class: InsuranceClass; selfPayPermille?: number }
export type ReimbursementList = Record<string, ListedDrug>;

/** Parts of a patient's share a commercial (second-payer) plan may take on. */
export type CommercialShare = 'not_listed' | 'class_b_self_pay' | 'deductible' | 'copay' | 'over_cap';

/** Commercial insurance as the second payer (商业补充保险): a ratio of the covered parts of what basic insurance left. */
export interface CommercialPlan {
  id: string;
  name: string;
  ratioPermille: number;
  covers: CommercialShare[];
  annualLimitFen: Fen;
}

export interface PricedLineInput {
  lineNo: number;
  drugCode: string;
  /** The national class from the catalogue; the region's list overrides it. */
  insuranceClass: InsuranceClass;
  insuranceCode?: string;
  unitPriceFen: Fen;
  quantity: number;
}

/** Rule codes, one per step that decided an amount (docs/insurance.md). */
export type PricingRule =
  | 'SELF_PAY' | 'INSURER_UNAVAILABLE' | 'NOT_LISTED' | 'CLASS_A' | 'CLASS_B' | 'DEDUCTIBLE' | 'RATIO' | 'ANNUAL_CAP'
  | 'COMMERCIAL' | 'COMMERCIAL_LIMIT';

/** The patient's share before the second payer, split by why the patient owes it. */
export interface PatientShares { notListedFen: Fen; classBSelfPayFen: Fen; deductibleFen: Fen; copayFen: Fen; overCapFen: Fen }

export interface PricedLine {
  lineNo: number;
  drugCode: string;
  amountFen: Fen;
  insurerPaysFen: Fen;
  patientPaysFen: Fen;
  reasons: string[];
  /** Present on results of this engine version (absent on pre-checks stored before it). */
  insuranceClass?: InsuranceClass;
  commercialPaysFen?: Fen;
  rules?: PricingRule[];
  shares?: PatientShares;
}

export interface PrecheckInput {
  plan: InsurancePlan | null;       // null: no insurance on the prescription → self-pay
  visitType: 'outpatient' | 'chronic_special';
  deductibleUsedFen: Fen;
  paidThisYearFen: Fen;
  lines: PricedLineInput[];
  /** The region's reimbursement list in effect; the catalogue's class where it does not name a drug. */
  drugList?: ReimbursementList;
  commercial?: { plan: CommercialPlan; usedFen: Fen } | null;
  /** Why the whole prescription is self-pay (e.g. the insurer did not answer and the patient consented). */
  selfPayRule?: Extract<PricingRule, 'SELF_PAY' | 'INSURER_UNAVAILABLE'>;
}

export interface PrecheckResult {
  planId: string | null;
  lines: PricedLine[];
  totalFen: Fen;
  insurerPaysFen: Fen;
  patientPaysFen: Fen;
  commercialPaysFen?: Fen;
  /** How much of the deductible this prescription used: the next one of the year starts from here. */
  deductibleAppliedFen?: Fen;
  policyVersion?: number | null;
  commercialPlanId?: string | null;
  visitType?: 'outpatient' | 'chronic_special';
  /** Who priced it: the built-in rules, an insurer's HTTP service, or the self-pay fallback. */
  engine?: 'rules' | 'http';
  fallback?: { kind: 'self_pay'; reason: string } | null;
}

const permille = (amount: Fen, pm: number): Fen => Math.floor((amount * pm) / 1000);
const yuan = (fen: Fen) => (fen / 100).toFixed(2);

/** The class a line is reimbursed under: the region's list first, then the national class in the catalogue. */
export function classOf(l: Pick<PricedLineInput, 'drugCode' | 'insuranceCode' | 'insuranceClass'>, list?: ReimbursementList): { cls: InsuranceClass; selfPayPermille?: number } {
  const listed = list && ((l.insuranceCode && list[l.insuranceCode]) || list[l.drugCode]);
  // Not named by the region's list: the national class the catalogue carries decides.
  return listed ? { cls: listed.class, selfPayPermille: listed.selfPayPermille } : { cls: l.insuranceClass };
}

/**
 * Prices the lines in order, each rule in turn: the list class (甲/乙/not listed), the class B self-pay
 * share, the deductible (起付线) left this year, the plan's ratio for the visit type, the annual cap
 * (封顶线) left, then the commercial second payer on the parts of the patient's share it covers.
 * Integer fen throughout: shares round down for the payer, so the patient never pays less than owed
 * by rounding and insurer + commercial + patient = amount on every line.
 */
export function precheck(input: PrecheckInput): PrecheckResult {
  const { plan } = input;
  const deductible = plan ? (input.visitType === 'chronic_special' ? plan.chronicDeductibleFen ?? plan.deductibleFen : plan.deductibleFen) : 0;
  let deductibleLeft = plan ? Math.max(0, deductible - input.deductibleUsedFen) : 0;
  let capLeft = plan ? Math.max(0, plan.annualCapFen - input.paidThisYearFen) : 0;
  const commercial = plan ? input.commercial ?? null : null;
  let commercialLeft = commercial ? Math.max(0, commercial.plan.annualLimitFen - commercial.usedFen) : 0;
  let deductibleApplied = 0;

  const lines = input.lines.map((l): PricedLine => {
    const amountFen = l.unitPriceFen * l.quantity;
    const base = { lineNo: l.lineNo, drugCode: l.drugCode, amountFen };
    const none: PatientShares = { notListedFen: 0, classBSelfPayFen: 0, deductibleFen: 0, copayFen: 0, overCapFen: 0 };
    if (!plan) {
      const rule = input.selfPayRule ?? 'SELF_PAY';
      const why = rule === 'INSURER_UNAVAILABLE' ? 'the insurer did not answer in time; self-pay with the patient\'s consent' : 'no insurance on the prescription';
      return { ...base, insurerPaysFen: 0, commercialPaysFen: 0, patientPaysFen: amountFen, reasons: [`${rule}: ${why}`], rules: [rule], insuranceClass: l.insuranceClass, shares: { ...none, notListedFen: amountFen } };
    }
    const { cls, selfPayPermille } = classOf(l, input.drugList);
    const reasons: string[] = [];
    const rules: PricingRule[] = [];
    const shares = { ...none };
    let insurer = 0;
    if (cls === 'none') {
      shares.notListedFen = amountFen;
      rules.push('NOT_LISTED');
      reasons.push('NOT_LISTED: not on the reimbursement list, self-pay');
    } else {
      let eligible = amountFen;
      if (cls === 'B') {
        const pm = selfPayPermille ?? plan.classBSelfPayPermille;
        const selfPay = amountFen - permille(amountFen, 1000 - pm);
        eligible -= selfPay;
        shares.classBSelfPayFen = selfPay;
        rules.push('CLASS_B');
        reasons.push(`CLASS_B: patient first pays ${pm / 10}% (${selfPay} fen)`);
      } else {
        rules.push('CLASS_A');
        reasons.push('CLASS_A: fully eligible');
      }
      const towardsDeductible = Math.min(deductibleLeft, eligible);
      if (towardsDeductible > 0) {
        deductibleLeft -= towardsDeductible;
        deductibleApplied += towardsDeductible;
        eligible -= towardsDeductible;
        shares.deductibleFen = towardsDeductible;
        rules.push('DEDUCTIBLE');
        reasons.push(`DEDUCTIBLE: ${towardsDeductible} fen towards the deductible`);
      }
      const ratio = plan.ratioPermille[input.visitType];
      insurer = permille(eligible, ratio);
      shares.copayFen = eligible - insurer;
      rules.push('RATIO');
      reasons.push(`RATIO: ${ratio / 10}% of ${eligible} fen (${input.visitType})`);
      if (insurer > capLeft) {
        shares.overCapFen = insurer - capLeft;
        rules.push('ANNUAL_CAP');
        reasons.push(`ANNUAL_CAP: insurer share limited to the ${capLeft} fen left under the cap`);
        insurer = capLeft;
      }
      capLeft -= insurer;
    }
    let commercialPays = 0;
    if (commercial) {
      const covered = commercial.plan.covers.reduce((s, c) => s + shares[SHARE_FIELD[c]], 0);
      commercialPays = permille(covered, commercial.plan.ratioPermille);
      if (commercialPays > commercialLeft) {
        rules.push('COMMERCIAL_LIMIT');
        reasons.push(`COMMERCIAL_LIMIT: ${commercial.plan.id} limited to the ${commercialLeft} fen left this year`);
        commercialPays = commercialLeft;
      }
      commercialLeft -= commercialPays;
      if (commercialPays > 0) {
        rules.push('COMMERCIAL');
        reasons.push(`COMMERCIAL: ${commercial.plan.id} pays ${commercial.plan.ratioPermille / 10}% of ${covered} fen (${commercial.plan.covers.join(', ')}): ¥${yuan(commercialPays)}`);
      }
    }
    return { ...base, insurerPaysFen: insurer, commercialPaysFen: commercialPays, patientPaysFen: amountFen - insurer - commercialPays, reasons, rules, insuranceClass: cls, shares };
  });

  const sum = (f: (l: PricedLine) => Fen) => lines.reduce((s, l) => s + f(l), 0);
  return {
    planId: plan?.id ?? null,
    lines,
    totalFen: sum((l) => l.amountFen),
    insurerPaysFen: sum((l) => l.insurerPaysFen),
    patientPaysFen: sum((l) => l.patientPaysFen),
    commercialPaysFen: sum((l) => l.commercialPaysFen ?? 0),
    deductibleAppliedFen: deductibleApplied,
    policyVersion: plan?.version ?? null,
    commercialPlanId: commercial?.plan.id ?? null,
    visitType: input.visitType,
  };
}

const SHARE_FIELD: Record<CommercialShare, keyof PatientShares> = {
  not_listed: 'notListedFen', class_b_self_pay: 'classBSelfPayFen', deductible: 'deductibleFen', copay: 'copayFen', over_cap: 'overCapFen',
};

/** The reversal of a settlement: every amount negated, so a settlement and its reversal sum to zero. */
export function reversalOf<T extends { totalFen: Fen; insurerPaysFen: Fen; patientPaysFen: Fen; commercialPaysFen?: Fen | null; lines: unknown[] }>(s: T) {
  const neg = (n: unknown) => (typeof n === 'number' && n !== 0 ? -n : 0);
  return {
    totalFen: neg(s.totalFen),
    insurerPaysFen: neg(s.insurerPaysFen),
    patientPaysFen: neg(s.patientPaysFen),
    commercialPaysFen: neg(s.commercialPaysFen ?? 0),
    lines: (s.lines as Partial<PricedLine>[]).map((l) => ({
      lineNo: l.lineNo, drugCode: l.drugCode, amountFen: neg(l.amountFen), insurerPaysFen: neg(l.insurerPaysFen),
      commercialPaysFen: neg(l.commercialPaysFen ?? 0), patientPaysFen: neg(l.patientPaysFen),
    })),
  };
}
