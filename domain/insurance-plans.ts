// Default plan tables. Figures are illustrative of a city employee plan (城镇职工医保) in Hangzhou;
// a deployment loads its own. Versioned by id + effectiveFrom.
import type { InsurancePlan, PrecheckInput } from './insurance';

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
