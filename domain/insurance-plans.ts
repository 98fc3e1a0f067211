// Built-in plan tables (the fallback when no policy is loaded, and the tests' reference). Figures are
// illustrative of Hangzhou's plans; a deployment loads its own versioned policies from
// catalog/data/insurance into PostgreSQL (catalog/insurance.ts), chosen here by date (effectivePolicy).
import type { CommercialPlan, InsurancePlan, PrecheckInput, ReimbursementList } from './insurance';

export const INSURANCE_PLANS: InsurancePlan[] = [
  {
    id: 'HZ-EMPLOYEE-2026',
    name: '杭州市职工基本医疗保险（门诊）',
    region: '330100',
    effectiveFrom: '2026-01-01',
    deductibleFen: 30_000,
    ratioPermille: { outpatient: 750, chronic_special: 850 },
    classBSelfPayPermille: 100,
    annualCapFen: 2_000_000,
  },
  {
    id: 'HZ-RESIDENT-2026',
    name: '杭州市城乡居民基本医疗保险（门诊）',
    region: '330100',
    effectiveFrom: '2026-01-01',
    deductibleFen: 50_000,
    ratioPermille: { outpatient: 550, chronic_special: 700 },
    classBSelfPayPermille: 150,
    annualCapFen: 500_000,
  },
];

export function findPlan(id: string): InsurancePlan | null {
  return INSURANCE_PLANS.find((p) => p.id === id) ?? null;
}

/** Everything the pre-check needs from a prescription's insurance block except the lines (self-pay without one). */
export function coverageOf(insurance?: { planId: string; visitType?: 'outpatient' | 'chronic_special'; deductibleUsedFen?: number; paidThisYearFen?: number }): Omit<PrecheckInput, 'lines'> {
  return {
    plan: insurance ? findPlan(insurance.planId) : null,
    visitType: insurance?.visitType ?? 'outpatient',
    deductibleUsedFen: insurance?.deductibleUsedFen ?? 0,
    paidThisYearFen: insurance?.paidThisYearFen ?? 0,
  };
}

// ---- versioned policy tables (catalog/data/insurance/<region>.v<N>.json, loaded into PostgreSQL) ----
/** One region's policy document in one version: its plans, its reimbursement list, the commercial plans sold there. */
export interface PolicyVersion {
  region: string;
  version: number;
  effectiveFrom: string;            // ISO date, inclusive
  effectiveTo: string | null;       // ISO date, exclusive; null: until a later version starts
  plans: Omit<InsurancePlan, 'region' | 'effectiveFrom' | 'version'>[];
  drugList: ReimbursementList;
  commercialPlans: CommercialPlan[];
}

/**
 * The version in effect on a date for a plan: among the versions naming the plan, the one with the latest
 * start on or before the date whose end (if any) is after it. Null when no version covers the date.
 */
export function effectivePolicy(versions: PolicyVersion[], planId: string, onDate: string): { policy: PolicyVersion; plan: InsurancePlan } | null {
  const day = onDate.slice(0, 10);
  const inForce = versions
    .filter((v) => v.plans.some((p) => p.id === planId) && v.effectiveFrom <= day && (v.effectiveTo === null || day < v.effectiveTo))
    .sort((a, b) => (a.effectiveFrom === b.effectiveFrom ? b.version - a.version : b.effectiveFrom.localeCompare(a.effectiveFrom)));
  const policy = inForce[0];
  if (!policy) return null;
  const plan = policy.plans.find((p) => p.id === planId)!;
  return { policy, plan: { ...plan, region: policy.region, effectiveFrom: policy.effectiveFrom, version: policy.version } };
}

/** A prescription's insurance block as pushed (domain/prescription.ts). */
export interface InsuranceBlock {
  planId: string; memberId?: string; visitType?: 'outpatient' | 'chronic_special'; deductibleUsedFen?: number; paidThisYearFen?: number;
  selfPayConsent?: boolean; commercial?: { planId: string; memberId?: string; usedFen?: number };
}

/** What rxflow itself settled (not reversed) for this member in the plan year; the hospital's figures are usage outside rxflow. */
export interface SettledSince { deductibleFen: number; insurerFen: number; commercialFen: number }

/**
 * The pre-check's input without the lines, from the versioned policies: the plan and list in effect on the
 * prescription's date, the year's usage as the hospital declared it plus what rxflow settled, and the
 * commercial plan when the prescription names one the region sells. Self-pay without an insurance block
 * or when no version covers the plan on that date.
 */
export function coverageFrom(versions: PolicyVersion[], insurance: InsuranceBlock | undefined, onDate: string, settled: SettledSince = { deductibleFen: 0, insurerFen: 0, commercialFen: 0 }): Omit<PrecheckInput, 'lines'> {
  const visitType = insurance?.visitType ?? 'outpatient';
  const found = insurance ? effectivePolicy(versions, insurance.planId, onDate) : null;
  if (!insurance || !found) return { plan: null, visitType, deductibleUsedFen: 0, paidThisYearFen: 0 };
  const commercialPlan = insurance.commercial ? found.policy.commercialPlans.find((c) => c.id === insurance.commercial!.planId) ?? null : null;
  return {
    plan: found.plan,
    visitType,
    deductibleUsedFen: (insurance.deductibleUsedFen ?? 0) + settled.deductibleFen,
    paidThisYearFen: (insurance.paidThisYearFen ?? 0) + settled.insurerFen,
    drugList: found.policy.drugList,
    commercial: commercialPlan ? { plan: commercialPlan, usedFen: (insurance.commercial!.usedFen ?? 0) + settled.commercialFen } : null,
  };
}
