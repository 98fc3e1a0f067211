import { gtinCheckDigitValid, parseTraceCode } from '../../domain/traceability';
import { checkDispensing } from '../../domain/dispensing';
import { gtinFor, scanPack } from '../../demo/packs';

describe('traceability codes', () => {
  it('accepts the 20-digit NMPA code by shape', () => {
    expect(parseTraceCode('81234567890123456789')).toEqual({ ok: true, code: { format: 'nmpa20', canonical: '81234567890123456789' } });
    expect(parseTraceCode('8123456789012345678')).toMatchObject({ ok: false });
  });

  it('checks the GTIN check digit of GS1 codes, with and without parentheses', () => {
    expect(gtinCheckDigitValid('06901234567892')).toBe(true);
    expect(gtinCheckDigitValid('06901234567893')).toBe(false);
    const ok = parseTraceCode('(01)06901234567892(17)281231(10)B2812(21)SN0001');
    expect(ok).toEqual({ ok: true, code: { format: 'gs1', canonical: '0106901234567892' + '21SN0001', gtin: '06901234567892', expiry: '2028-12-31', batch: 'B2812', serial: 'SN0001' } });
    const raw = parseTraceCode('0106901234567892172812311' + '0B2812\x1d21SN0001');
    expect(raw).toMatchObject({ ok: true, code: { canonical: '0106901234567892' + '21SN0001', batch: 'B2812' } });
    expect(parseTraceCode('(01)06901234567893(21)X')).toMatchObject({ ok: false, reason: expect.stringMatching(/check digit/) });
    expect(parseTraceCode('(01)06901234567892')).toMatchObject({ ok: false, reason: expect.stringMatching(/serial/) });
    expect(parseTraceCode('(01)06901234567892(17)281300(21)X')).toMatchObject({ ok: false });
    expect(parseTraceCode('hello')).toMatchObject({ ok: false });
  });

  it('reads DD=00 as the last day of the month', () => {
    expect(parseTraceCode('(01)06901234567892(17)280200(21)X')).toMatchObject({ ok: true, code: { expiry: '2028-02-29' } });
  });

  it('makes valid demo pack codes', () => {
    expect(gtinCheckDigitValid(gtinFor('RX0042'))).toBe(true);
    expect(parseTraceCode(scanPack('RX0042').traceCode).ok).toBe(true);
  });
});

describe('check-before-dispense', () => {
  const prescribed = [{ lineNo: 1, drugCode: 'RX0001', quantity: 2, days: 28 }, { lineNo: 2, drugCode: 'RX0002', quantity: 1, days: 7 }];
  const today = '2026-11-23';
  const pack = (code: string, expiryDate = '2028-01-31', serial?: string) => scanPack(code, { expiryDate, serial });

  it('accepts packs that match the prescription and flags one that expires during the supply', () => {
    const r = checkDispensing(prescribed, [
      { lineNo: 1, packs: [pack('RX0001'), pack('RX0001', '2026-12-10')] },
      { lineNo: 2, packs: [pack('RX0002')] },
    ], today);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.packs).toHaveLength(3);
    expect(r.findings.map((f) => [f.code, f.lineNo])).toEqual([['PACK_EXPIRES_DURING_SUPPLY', 1]]);
  });

  it('refuses missing lines, wrong counts, repeated and malformed codes, expired packs and mismatched batch or expiry', () => {
    const same = pack('RX0001', '2028-01-31', 'DUP');
    const r = checkDispensing(prescribed, [
      { lineNo: 1, packs: [same, same, { traceCode: '123', batchNo: 'x', expiryDate: '2028-01-01' }] },
      { lineNo: 3, packs: [pack('RX0003')] },
    ], today);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.map((p) => p.code).sort()).toEqual(['LINE_MISSING', 'LINE_UNKNOWN', 'PACK_COUNT_MISMATCH', 'TRACE_CODE_INVALID', 'TRACE_CODE_REPEATED']);
    const stale = checkDispensing([prescribed[1]], [{ lineNo: 2, packs: [pack('RX0002', '2026-11-01')] }], today);
    expect(stale.ok ? [] : stale.problems.map((p) => p.code)).toEqual(['PACK_EXPIRED']);
    const lied = checkDispensing([prescribed[1]], [{ lineNo: 2, packs: [{ ...pack('RX0002'), batchNo: 'OTHER', expiryDate: '2029-01-01' }] }], today);
    expect(lied.ok ? [] : lied.problems.map((p) => p.code).sort()).toEqual(['BATCH_MISMATCH', 'EXPIRY_MISMATCH']);
  });
});
