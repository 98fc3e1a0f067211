import { precheck, type InsurancePlan } from '../../domain/insurance';

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
