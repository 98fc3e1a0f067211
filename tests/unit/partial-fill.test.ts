// Partial fills: the quantity arithmetic, the check of a partial dispensing and the per-fill settlement.
import { addQuantities, dispenseView, fillProgress, fillSettlement, notDispensed, quantitiesOf } from '../../domain/partial-fill';
import { checkDispensing } from '../../domain/dispensing';
import { precheck } from '../../domain/insurance';
import { coverageOf } from '../../domain/insurance-plans';
import { scanPack } from '../../demo/packs';

const prescribed = [{ lineNo: 1, quantity: 3 }, { lineNo: 2, quantity: 1 }];

describe('fill quantities', () => {
  it('counts packs per line and adds fills together', () => {
    expect(quantitiesOf([{ lineNo: 2 }, { lineNo: 1 }, { lineNo: 1 }])).toEqual([{ lineNo: 1, quantity: 2 }, { lineNo: 2, quantity: 1 }]);
    expect(addQuantities([{ lineNo: 1, quantity: 2 }], [{ lineNo: 1, quantity: 1 }, { lineNo: 2, quantity: 1 }])).toEqual([{ lineNo: 1, quantity: 3 }, { lineNo: 2, quantity: 1 }]);
  });

  it('knows dispensed vs prescribed per line and when the fill is complete', () => {
    const first = fillProgress(prescribed, [{ lineNo: 1, quantity: 2 }]);
    expect(first).toEqual({
      complete: false, anyDispensed: true,
      lines: [{ lineNo: 1, prescribed: 3, dispensed: 2, remaining: 1 }, { lineNo: 2, prescribed: 1, dispensed: 0, remaining: 1 }],
    });
    expect(notDispensed(first)).toEqual([{ lineNo: 1, quantity: 1 }, { lineNo: 2, quantity: 1 }]);
    const both = fillProgress(prescribed, addQuantities([{ lineNo: 1, quantity: 2 }], [{ lineNo: 1, quantity: 1 }, { lineNo: 2, quantity: 1 }]));
    expect(both.complete).toBe(true);
    expect(notDispensed(both)).toEqual([]);
    expect(fillProgress(prescribed, []).anyDispensed).toBe(false);
  });

  it('never accepts more than prescribed, or a line that is not prescribed', () => {
    expect(() => fillProgress(prescribed, [{ lineNo: 1, quantity: 4 }])).toThrow(/4 dispensed of 3/);
    expect(() => fillProgress(prescribed, [{ lineNo: 9, quantity: 1 }])).toThrow(/not prescribed/);
  });

  it('shows the patient partially dispensed, with the remainder pending or not dispensed', () => {
    const line = (lineNo: number, quantity: number, dispensedQuantity: number, notDispensedQuantity = 0) => ({ lineNo, quantity, dispensedQuantity, notDispensedQuantity });
    expect(dispenseView([line(1, 3, 0), line(2, 1, 0)]).status).toBe('none');
    expect(dispenseView([line(1, 3, 2), line(2, 1, 0)])).toMatchObject({ status: 'partially_dispensed', remainder: 'pending' });
    expect(dispenseView([line(1, 3, 2, 1), line(2, 1, 0, 1)])).toEqual({
      status: 'partially_dispensed', remainder: 'not_dispensed',
      lines: [{ lineNo: 1, prescribed: 3, dispensed: 2, notDispensed: 1, pending: 0 }, { lineNo: 2, prescribed: 1, dispensed: 0, notDispensed: 1, pending: 0 }],
    });
    expect(dispenseView([line(1, 3, 3), line(2, 1, 1)])).toMatchObject({ status: 'dispensed', remainder: null });
  });
});

describe('check of a partial dispensing', () => {
  const today = '2026-11-23';
  const lines = [{ lineNo: 1, drugCode: 'RX0001', quantity: 3, days: 28 }, { lineNo: 2, drugCode: 'RX0002', quantity: 1, days: 7 }];
  const packs = (code: string, n: number) => Array.from({ length: n }, () => scanPack(code, { expiryDate: '2028-01-31' }));

  it('lets a partial fill leave lines out and scan fewer packs than remain', () => {
    const r = checkDispensing(lines, [{ lineNo: 1, packs: packs('RX0001', 2) }], today, { partial: true });
    expect(r).toMatchObject({ ok: true });
    if (r.ok) expect(r.packs).toHaveLength(2);
  });

  it('without the partial flag, a short count is still a mismatch and a missing line still missing', () => {
    const r = checkDispensing(lines, [{ lineNo: 1, packs: packs('RX0001', 2) }], today);
    expect(r.ok ? [] : r.problems.map((p) => p.code)).toEqual(['LINE_MISSING', 'PACK_COUNT_MISMATCH']);
  });

  it('refuses over-dispensing: more than remains, a line already dispensed, or a line entered twice', () => {
    const after2 = lines.map((l) => ({ ...l, dispensed: l.lineNo === 1 ? 2 : 1 }));
    const over = checkDispensing(after2, [{ lineNo: 1, packs: packs('RX0001', 2) }], today, { partial: true });
    expect(over.ok ? [] : over.problems).toEqual([{ path: '$.lines[0].packs', code: 'OVER_DISPENSED', message: 'line 1 has 1 of 3 pack(s) left to dispense, 2 scanned' }]);
    const done = checkDispensing(after2, [{ lineNo: 2, packs: packs('RX0002', 1) }, { lineNo: 1, packs: packs('RX0001', 1) }], today);
    expect(done.ok ? [] : done.problems.map((p) => [p.code, p.path])).toEqual([['OVER_DISPENSED', '$.lines[0].packs']]);
    const twice = checkDispensing(lines, [{ lineNo: 1, packs: packs('RX0001', 2) }, { lineNo: 1, packs: packs('RX0001', 2) }], today, { partial: true });
    expect(twice.ok ? [] : twice.problems.map((p) => p.code)).toEqual(['LINE_REPEATED']);
    const fullOver = checkDispensing(lines, [{ lineNo: 1, packs: packs('RX0001', 4) }, { lineNo: 2, packs: packs('RX0002', 1) }], today, { partial: true });
    expect(fullOver.ok).toBe(false);
  });

  it('checks the remainder of a full dispensing after a partial one against what is left', () => {
    const after2 = lines.map((l) => ({ ...l, dispensed: l.lineNo === 1 ? 2 : 0 }));
    expect(checkDispensing(after2, [{ lineNo: 1, packs: packs('RX0001', 1) }, { lineNo: 2, packs: packs('RX0002', 1) }], today).ok).toBe(true);
    const short = checkDispensing(after2, [{ lineNo: 2, packs: packs('RX0002', 1) }], today);
    expect(short.ok ? [] : short.problems.map((p) => p.code)).toEqual(['LINE_MISSING']);
  });
});

describe('settlement per fill', () => {
  // Class A at the employee plan: deductible 300 yuan, 75 %; a price that crosses the deductible mid-way.
  const coverage = coverageOf({ planId: 'HZ-EMPLOYEE-2026', deductibleUsedFen: 20_000 });
  const line = (quantity: number) => [{ lineNo: 1, drugCode: 'RX0001', insuranceClass: 'A' as const, unitPriceFen: 6_000, quantity }];

  it('prices the first fill like a full fill of what it handed out', () => {
    expect(fillSettlement(coverage, line(0), line(2))).toEqual(precheck({ ...coverage, lines: line(2) }));
  });

  it('makes the fills add up to the price of everything dispensed, the deductible applied once', () => {
    const first = fillSettlement(coverage, line(0), line(2));
    const second = fillSettlement(coverage, line(2), line(3));
    const whole = precheck({ ...coverage, lines: line(3) });
    expect(first.totalFen + second.totalFen).toBe(whole.totalFen);
    expect(first.insurerPaysFen + second.insurerPaysFen).toBe(whole.insurerPaysFen);
    expect(first.patientPaysFen + second.patientPaysFen).toBe(whole.patientPaysFen);
    // 12,000 fen, 10,000 of it towards the rest of the deductible; the 1 unit later is all eligible.
    expect(first).toMatchObject({ totalFen: 12_000, insurerPaysFen: 1_500, patientPaysFen: 10_500 });
    expect(second).toMatchObject({ totalFen: 6_000, insurerPaysFen: 4_500, patientPaysFen: 1_500 });
    expect(second.lines).toEqual([expect.objectContaining({ lineNo: 1, amountFen: 6_000, insurerPaysFen: 4_500, patientPaysFen: 1_500 })]);
  });

  it('never bills a remainder that was not dispensed', () => {
    const only = fillSettlement(coverage, line(0), line(2));
    expect(only.totalFen).toBe(12_000); // 2 of 3 units
  });
});
