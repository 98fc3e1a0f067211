import { precheck, type InsurancePlan } from '../../domain/insurance';
import { classOf, reversalOf, type CommercialPlan, type PrecheckInput } from '../../domain/insurance';
import { coverageFrom, effectivePolicy, type PolicyVersion } from '../../domain/insurance-plans';
import { readInsuranceFiles } from '../../catalog/insurance';

const plan: InsurancePlan = {
  id: 'T', name: 't', region: 'x', effectiveFrom: '2026-01-01', deductibleFen: 10_000,
  ratioPermille: { outpatient: 700, chronic_special: 850 }, classBSelfPayPermille: 100, annualCapFen: 1_000_000,
};
const line = (lineNo: number, insuranceClass: 'A' | 'B' | 'none', unitPriceFen: number, quantity = 1) => ({ lineNo, drugCode: `D${lineNo}`, insuranceClass, unitPriceFen, quantity });

describe('insurance pre-check', () => {
  it('is all self-pay without insurance', () => {
    const r = precheck({ plan: null, visitType: 'outpatient', deductibleUsedFen: 0, paidThisYearFen: 0, lines: [line(1, 'A', 5000, 2)] });
    expect(r).toMatchObject({ totalFen: 10_000, insurerPaysFen: 0, patientPaysFen: 10_000 });
  });

  it('applies the deductible first, then the ratio, for class A', () => {
    const r = precheck({ plan, visitType: 'outpatient', deductibleUsedFen: 5_000, paidThisYearFen: 0, lines: [line(1, 'A', 20_000)] });
    // 5,000 of deductible left; 15,000 eligible × 70% = 10,500
    expect(r.lines[0]).toMatchObject({ amountFen: 20_000, insurerPaysFen: 10_500, patientPaysFen: 9_500 });
    expect(r.lines[0].reasons.join(' ')).toMatch(/DEDUCTIBLE/);
  });

  it('takes the class B self-pay share before the ratio, and pays nothing for unlisted drugs', () => {
    const r = precheck({ plan, visitType: 'chronic_special', deductibleUsedFen: 10_000, paidThisYearFen: 0, lines: [line(1, 'B', 10_000), line(2, 'none', 3_000)] });
    // class B: 10% self-pay = 1,000; 9,000 × 85% = 7,650
    expect(r.lines[0].insurerPaysFen).toBe(7_650);
    expect(r.lines[1]).toMatchObject({ insurerPaysFen: 0, patientPaysFen: 3_000 });
    expect(r.insurerPaysFen + r.patientPaysFen).toBe(r.totalFen);
  });

  it('stops at the annual cap', () => {
    const r = precheck({ plan, visitType: 'outpatient', deductibleUsedFen: 10_000, paidThisYearFen: 995_000, lines: [line(1, 'A', 100_000)] });
    expect(r.insurerPaysFen).toBe(5_000);
    expect(r.lines[0].reasons.join(' ')).toMatch(/ANNUAL_CAP/);
  });

  it('uses integer fen only', () => {
    const r = precheck({ plan, visitType: 'outpatient', deductibleUsedFen: 10_000, paidThisYearFen: 0, lines: [line(1, 'B', 3_333, 3)] });
    for (const l of r.lines) { expect(Number.isInteger(l.insurerPaysFen)).toBe(true); expect(Number.isInteger(l.patientPaysFen)).toBe(true); }
  });
});

// ---- every rule, one case each, with the arithmetic in the comment (docs/insurance.md has the same) ----

describe('pricing rules', () => {
  const hz: InsurancePlan = {
    id: 'HZ', name: 'hz', region: '330100', effectiveFrom: '2026-01-01', deductibleFen: 30_000, chronicDeductibleFen: 0,
    ratioPermille: { outpatient: 750, chronic_special: 850 }, classBSelfPayPermille: 100, annualCapFen: 2_000_000,
  };
  const base = (o: Partial<PrecheckInput>): PrecheckInput => ({ plan: hz, visitType: 'outpatient', deductibleUsedFen: 30_000, paidThisYearFen: 0, lines: [], ...o });
  const rulesOf = (r: ReturnType<typeof precheck>, i = 0) => r.lines[i].rules;
  const balanced = (r: ReturnType<typeof precheck>) => {
    for (const l of r.lines) expect(l.insurerPaysFen + (l.commercialPaysFen ?? 0) + l.patientPaysFen).toBe(l.amountFen);
    expect(r.insurerPaysFen + (r.commercialPaysFen ?? 0) + r.patientPaysFen).toBe(r.totalFen);
  };

  it('CLASS_A: the whole amount is eligible, the plan ratio applies', () => {
    const r = precheck(base({ lines: [line(1, 'A', 2_860, 4)] }));
    // 11,440 × 75% = 8,580
    expect(r.lines[0]).toMatchObject({ amountFen: 11_440, insurerPaysFen: 8_580, patientPaysFen: 2_860, insuranceClass: 'A' });
    expect(rulesOf(r)).toEqual(['CLASS_A', 'RATIO']);
    expect(r.lines[0].shares).toEqual({ notListedFen: 0, classBSelfPayFen: 0, deductibleFen: 0, copayFen: 2_860, overCapFen: 0 });
    balanced(r);
  });

  it('CLASS_B: the self-pay share first (the plan\'s, or the list\'s own), then the ratio', () => {
    const r = precheck(base({ lines: [line(1, 'B', 10_000)] }));
    // 10% of 10,000 = 1,000 self-pay; 9,000 × 75% = 6,750
    expect(r.lines[0]).toMatchObject({ insurerPaysFen: 6_750, patientPaysFen: 3_250 });
    expect(r.lines[0].shares).toMatchObject({ classBSelfPayFen: 1_000, copayFen: 2_250 });
    const listed = precheck(base({ drugList: { 'XB-1': { class: 'B', selfPayPermille: 50 } }, lines: [{ ...line(1, 'B', 10_000), insuranceCode: 'XB-1' }] }));
    // the region lists it with 5%: 500 self-pay; 9,500 × 75% = 7,125
    expect(listed.lines[0]).toMatchObject({ insurerPaysFen: 7_125, patientPaysFen: 2_875 });
    expect(listed.lines[0].reasons[0]).toMatch(/CLASS_B: patient first pays 5%/);
    balanced(r);
  });

  it('DEDUCTIBLE partly used: the rest of it comes first, across lines in order', () => {
    const r = precheck(base({ deductibleUsedFen: 25_000, lines: [line(1, 'A', 3_000), line(2, 'A', 4_000)] }));
    // 5,000 left: line 1 takes 3,000 (insurer 0), line 2 takes 2,000 and 2,000 × 75% = 1,500
    expect(r.lines.map((l) => [l.insurerPaysFen, l.shares!.deductibleFen])).toEqual([[0, 3_000], [1_500, 2_000]]);
    expect(r.deductibleAppliedFen).toBe(5_000);
    expect(rulesOf(r, 1)).toEqual(['CLASS_A', 'DEDUCTIBLE', 'RATIO']);
    balanced(r);
  });

  it('ANNUAL_CAP reached: the insurer pays what is left under the cap, then nothing', () => {
    const r = precheck(base({ paidThisYearFen: 1_998_000, lines: [line(1, 'A', 10_000), line(2, 'A', 10_000)] }));
    // 2,000 left: line 1 would be 7,500 → 2,000; line 2 → 0
    expect(r.lines.map((l) => l.insurerPaysFen)).toEqual([2_000, 0]);
    expect(r.lines[0].shares!.overCapFen).toBe(5_500);
    expect(rulesOf(r, 1)).toContain('ANNUAL_CAP');
    balanced(r);
  });

  it('chronic/special disease (门诊慢特病): its own deductible and the higher ratio', () => {
    const ordinary = precheck(base({ deductibleUsedFen: 0, lines: [line(1, 'A', 10_000)] }));
    const chronic = precheck(base({ visitType: 'chronic_special', deductibleUsedFen: 0, lines: [line(1, 'A', 10_000)] }));
    // ordinary: all 10,000 towards the 30,000 deductible; chronic: no deductible, 10,000 × 85% = 8,500
    expect(ordinary.insurerPaysFen).toBe(0);
    expect(chronic.insurerPaysFen).toBe(8_500);
    expect(chronic.lines[0].reasons.join(' ')).toMatch(/RATIO: 85% of 10000 fen \(chronic_special\)/);
  });

  it('COMMERCIAL second payer: a ratio of the parts it covers, within its yearly limit', () => {
    const c: CommercialPlan = { id: 'XHYLB', name: 'x', ratioPermille: 600, covers: ['class_b_self_pay', 'copay'], annualLimitFen: 1_000_000 };
    const r = precheck(base({ commercial: { plan: c, usedFen: 0 }, lines: [line(1, 'B', 10_000), line(2, 'none', 2_000)] }));
    // line 1: basic 6,750; covered = 1,000 self-pay + 2,250 copay = 3,250 × 60% = 1,950; patient 1,300
    expect(r.lines[0]).toMatchObject({ insurerPaysFen: 6_750, commercialPaysFen: 1_950, patientPaysFen: 1_300 });
    // line 2 is not listed, and this plan does not cover not-listed drugs
    expect(r.lines[1]).toMatchObject({ insurerPaysFen: 0, commercialPaysFen: 0, patientPaysFen: 2_000 });
    expect(r.commercialPaysFen).toBe(1_950);
    const limited = precheck(base({ commercial: { plan: c, usedFen: 999_500 }, lines: [line(1, 'B', 10_000)] }));
    expect(limited.lines[0].commercialPaysFen).toBe(500);
    expect(limited.lines[0].rules).toEqual(expect.arrayContaining(['COMMERCIAL_LIMIT', 'COMMERCIAL']));
    balanced(r);
    balanced(limited);
  });

  it('NOT_LISTED: self-pay, nationally or by the region\'s list', () => {
    const r = precheck(base({ drugList: { 'XA-9': { class: 'none' } }, lines: [line(1, 'none', 1_500), { ...line(2, 'A', 2_000), insuranceCode: 'XA-9' }] }));
    expect(r.lines.map((l) => [l.insurerPaysFen, l.patientPaysFen, l.rules])).toEqual([[0, 1_500, ['NOT_LISTED']], [0, 2_000, ['NOT_LISTED']]]);
    expect(classOf({ drugCode: 'D1', insuranceCode: 'OTHER', insuranceClass: 'B' }, { 'XA-9': { class: 'none' } })).toEqual({ cls: 'B' });
  });

  it('INSURER_UNAVAILABLE: the self-pay fallback says why', () => {
    const r = precheck({ plan: null, visitType: 'outpatient', deductibleUsedFen: 0, paidThisYearFen: 0, selfPayRule: 'INSURER_UNAVAILABLE', lines: [line(1, 'A', 5_000)] });
    expect(r.lines[0]).toMatchObject({ insurerPaysFen: 0, patientPaysFen: 5_000, rules: ['INSURER_UNAVAILABLE'] });
  });

  it('keeps integer fen and balanced shares over many random baskets', () => {
    let seed = 7;
    const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
    const c: CommercialPlan = { id: 'C', name: 'c', ratioPermille: 333, covers: ['not_listed', 'class_b_self_pay', 'deductible', 'copay', 'over_cap'], annualLimitFen: 50_000 };
    for (let i = 0; i < 300; i++) {
      const classes = ['A', 'B', 'none'] as const;
      const r = precheck(base({
        visitType: rnd(2) ? 'outpatient' : 'chronic_special', deductibleUsedFen: rnd(40_000), paidThisYearFen: rnd(2_100_000),
        commercial: rnd(2) ? { plan: c, usedFen: rnd(60_000) } : null,
        lines: [1, 2, 3].map((n) => line(n, classes[rnd(3)], 1 + rnd(99_999), 1 + rnd(9))),
      }));
      balanced(r);
      for (const l of r.lines) for (const v of [l.insurerPaysFen, l.patientPaysFen, l.commercialPaysFen ?? 0]) { expect(Number.isInteger(v)).toBe(true); expect(v).toBeGreaterThanOrEqual(0); }
    }
  });
});

describe('versioned policies', () => {
  const plan = (id: string, deductibleFen: number) => ({ id, name: id, deductibleFen, ratioPermille: { outpatient: 700, chronic_special: 800 }, classBSelfPayPermille: 100, annualCapFen: 1_000_000 });
  const versions: PolicyVersion[] = [
    { region: 'R', version: 1, effectiveFrom: '2025-01-01', effectiveTo: null, plans: [plan('P', 50_000)], drugList: {}, commercialPlans: [] },
    { region: 'R', version: 2, effectiveFrom: '2026-01-01', effectiveTo: '2026-07-01', plans: [plan('P', 30_000)], drugList: { X: { class: 'B', selfPayPermille: 50 } }, commercialPlans: [{ id: 'C', name: 'c', ratioPermille: 500, covers: ['copay'], annualLimitFen: 10_000 }] },
  ];

  it('chooses the version in force on the prescription\'s date', () => {
    expect(effectivePolicy(versions, 'P', '2025-06-30')?.plan).toMatchObject({ deductibleFen: 50_000, version: 1, region: 'R' });
    expect(effectivePolicy(versions, 'P', '2026-01-01')?.plan).toMatchObject({ deductibleFen: 30_000, version: 2 });
    // v2 ends before July: the latest version still in force is v1 again
    expect(effectivePolicy(versions, 'P', '2026-07-01')?.plan.version).toBe(1);
    expect(effectivePolicy(versions, 'P', '2024-12-31')).toBeNull();
    expect(effectivePolicy(versions, 'Q', '2026-03-01')).toBeNull();
  });

  it('adds what rxflow settled since to the hospital\'s figures, and finds the commercial plan', () => {
    const c = coverageFrom(versions, { planId: 'P', memberId: 'M', deductibleUsedFen: 1_000, paidThisYearFen: 2_000, commercial: { planId: 'C', usedFen: 300 } }, '2026-03-01', { deductibleFen: 500, insurerFen: 700, commercialFen: 100 });
    expect(c).toMatchObject({ deductibleUsedFen: 1_500, paidThisYearFen: 2_700, commercial: { usedFen: 400, plan: { id: 'C' } }, drugList: { X: { class: 'B' } } });
    expect(coverageFrom(versions, { planId: 'P' }, '2024-01-01').plan).toBeNull(); // no version in force: self-pay
    expect(coverageFrom(versions, undefined, '2026-03-01').plan).toBeNull();
  });

  it('the repository\'s policy files are valid, and 2026 prices the demo plan as the built-in table does', () => {
    const files = readInsuranceFiles();
    expect(files.map((f) => `${f.region}.v${f.version}`)).toEqual(['330100.v1', '330100.v2']);
    const { plan: p } = effectivePolicy(files, 'HZ-EMPLOYEE-2026', '2026-11-23')!;
    expect(p).toMatchObject({ deductibleFen: 30_000, ratioPermille: { outpatient: 750, chronic_special: 850 }, classBSelfPayPermille: 100, annualCapFen: 2_000_000, version: 2 });
  });
});

describe('settlement reversal', () => {
  it('negates every amount, so settlement + reversal = 0', () => {
    const s = precheck({ plan, visitType: 'outpatient', deductibleUsedFen: 10_000, paidThisYearFen: 0, lines: [line(1, 'A', 5_000, 2), line(2, 'none', 700)] });
    const r = reversalOf(s);
    expect(r.totalFen + s.totalFen).toBe(0);
    expect(r.insurerPaysFen).toBe(-7_000);
    expect(r.lines.map((l) => l.patientPaysFen)).toEqual([-3_000, -700]);
  });
});
