import { checkIntake, ageInYears, DEFAULT_RULES, INTAKE_RULES, RULE_CODES, resolveLineDrugs, isInjectable } from '../../domain/rules';
import { catalogue, drug } from './drugs';
import { sampleRx } from './rx-sample';
import drugsJson from '../../catalog/data/drugs.json';
import type { Drug } from '../../domain/types';

const now = new Date('2026-11-23T10:00:00+08:00');
const doctor = { code: 'D001', licensed: true, authorised: true };
const drugs = catalogue(
  drug('A', { chronic: true, genericNameZh: '苯磺酸氨氯地平片', genericNameEn: 'Amlodipine Besylate Tablets', spec: '5mg×7片' }),
  drug('A2', { chronic: true, genericNameZh: '苯磺酸氨氯地平片', genericNameEn: 'Amlodipine Besylate Tablets', spec: '5mg×28片' }),
  drug('ACUTE', { genericNameZh: '阿莫西林胶囊', spec: '0.25g×24粒' }),
  drug('MORPHINE', { onlineSaleAllowed: false, bannedReason: 'narcotic', genericNameZh: '盐酸吗啡片' }),
  drug('INSULIN', { chronic: true, genericNameZh: '甘精胰岛素注射液', dosageForm: '注射液', atcCode: 'A10AE04', storage: 'cold' }),
  drug('CEF', { genericNameZh: '注射用头孢曲松钠', dosageForm: '注射液', atcCode: 'J01DD04' }), // flag missing on purpose
);
const codes = (rx = sampleRx(), ctx: Partial<Parameters<typeof checkIntake>[1]> = {}) =>
  checkIntake(rx, { now, doctor, drugs, ...ctx }).map((v) => v.code);
const base = sampleRx().lines[0];
const lineOf = (over: Record<string, unknown>) => {
  const { drugCode: _omit, ...rest } = base;
  return { ...rest, ...over } as typeof base;
};

describe('intake rules: each with an accepting and a rejecting case', () => {
  it('accepts a valid follow-up prescription', () => {
    expect(codes()).toEqual([]);
  });

  it('followUpOnly: rejects a first visit and a follow-up without the prior diagnosis', () => {
    expect(codes(sampleRx({ visit: { type: 'follow_up', priorDiagnosisRef: 'OPD-1', department: '心内科' } }))).toEqual([]);
    expect(codes(sampleRx({ visit: { type: 'first', department: '心内科' } }))).toEqual(['RX_FIRST_VISIT']);
    expect(codes(sampleRx({ visit: { type: 'follow_up', department: '心内科' } }))).toEqual(['RX_NO_PRIOR_DIAGNOSIS']);
  });

  it('validityWindow: expired, future-dated and over-long validity rejected; up to 3 noted days honoured', () => {
    expect(codes(sampleRx({ issuedAt: '2026-11-21T08:00:00+08:00' }))).toEqual(['RX_EXPIRED']);
    expect(codes(sampleRx({ issuedAt: '2026-11-21T08:00:00+08:00', validDays: 3 }))).toEqual([]);
    expect(codes(sampleRx({ issuedAt: '2026-11-23T11:00:00+08:00' }))).toEqual(['RX_FUTURE_DATED']);
    expect(codes(sampleRx({ issuedAt: '2026-11-23T10:04:00+08:00' }))).toEqual([]); // within clock skew
    // A region that allows only the day of issue.
    const strict = { ...DEFAULT_RULES, maxValidDays: 1 };
    expect(codes(sampleRx({ validDays: 1 }), { config: strict })).toEqual([]);
    expect(codes(sampleRx({ validDays: 2 }), { config: strict })).toEqual(['RX_VALIDITY_TOO_LONG']);
  });

  it('supplyLimits: 7 days ordinary, 3 acute, longer only for chronic with a reason, never beyond 12 weeks', () => {
    const line = (days: number) => [{ ...base, days }];
    expect(codes(sampleRx({ lines: line(7) }))).toEqual([]);
    expect(codes(sampleRx({ lines: line(8) }))).toEqual(['RX_SUPPLY_NEEDS_REASON']);
    expect(codes(sampleRx({ lines: line(28), chronic: true }))).toEqual(['RX_SUPPLY_NEEDS_REASON']);
    expect(codes(sampleRx({ lines: line(84), chronic: true, longTermReason: '高血压病情稳定' }))).toEqual([]);
    expect(codes(sampleRx({ lines: line(85), chronic: true, longTermReason: '高血压病情稳定' }))).toEqual(['RX_SUPPLY_TOO_LONG']);
    expect(codes(sampleRx({ lines: line(3), acute: true }))).toEqual([]);
    expect(codes(sampleRx({ lines: line(4), acute: true }))).toEqual(['RX_SUPPLY_ACUTE_TOO_LONG']);
    // Limits are configuration: a region allowing 5 days for acute prescriptions.
    expect(codes(sampleRx({ lines: line(5), acute: true }), { config: { ...DEFAULT_RULES, maxDaysAcute: 5 } })).toEqual([]);
  });

  it('longTermChronicDrugs: a long-term line must be a chronic-use drug', () => {
    const long = { chronic: true, longTermReason: '病情稳定' };
    expect(codes(sampleRx({ ...long, lines: [{ ...base, drugCode: 'A', days: 56 }] }))).toEqual([]);
    expect(codes(sampleRx({ ...long, lines: [{ ...base, drugCode: 'ACUTE', days: 56 }] }))).toEqual(['RX_LONG_TERM_DRUG_NOT_CHRONIC']);
    expect(codes(sampleRx({ lines: [{ ...base, drugCode: 'ACUTE', days: 7 }] }))).toEqual([]);
  });

  it('catalogueDrugs: banned from online sale, unknown drugs and duplicated lines are rejected', () => {
    expect(codes(sampleRx({ lines: [{ ...base, drugCode: 'MORPHINE' }] }))).toEqual(['RX_BANNED_ONLINE']);
    expect(codes(sampleRx({ lines: [{ ...base, drugCode: 'NOPE' }] }))).toEqual(['RX_UNKNOWN_DRUG']);
    expect(codes(sampleRx({ lines: [base, base] }))).toEqual(['RX_DUPLICATE_LINE']);
    expect(codes(sampleRx({ lines: [base, { ...base, drugCode: 'ACUTE' }] }))).toEqual([]);
  });

  it('catalogueDrugs: lines resolve by insurance code, approval number, or generic name + spec', () => {
    const a = drugs.get('A')!;
    const resolve = (over: Record<string, unknown>) => resolveLineDrugs(sampleRx({ lines: [lineOf(over)] }), drugs)[0];
    expect(resolve({ insuranceCode: a.insuranceCode }).drug?.code).toBe('A');
    expect(resolve({ insuranceCode: ` ${a.insuranceCode.toLowerCase()} ` }).drug?.code).toBe('A');
    expect(resolve({ approvalNumber: a.approvalNumber }).drug?.code).toBe('A');
    expect(resolve({ genericName: '苯磺酸氨氯地平片', spec: '5mg×7片' }).drug?.code).toBe('A');
    expect(resolve({ genericName: 'amlodipine besylate tablets', spec: '5mg x 28片' }).drug?.code).toBe('A2');
    // Identifiers given together must name the same drug.
    expect(resolve({ drugCode: 'A', approvalNumber: a.approvalNumber, genericName: '苯磺酸氨氯地平片', spec: '5mg×7片' }).drug?.code).toBe('A');

    expect(codes(sampleRx({ lines: [lineOf({ approvalNumber: a.approvalNumber })] }))).toEqual([]);
    expect(codes(sampleRx({ lines: [lineOf({})] }))).toEqual(['RX_DRUG_NOT_IDENTIFIED']);
    expect(codes(sampleRx({ lines: [lineOf({ genericName: '苯磺酸氨氯地平片' })] }))).toEqual(['RX_DRUG_NOT_IDENTIFIED']); // no spec
    expect(codes(sampleRx({ lines: [lineOf({ insuranceCode: 'XNOPE' })] }))).toEqual(['RX_UNKNOWN_DRUG']);
    expect(codes(sampleRx({ lines: [lineOf({ drugCode: 'A', insuranceCode: drugs.get('ACUTE')!.insuranceCode })] }))).toEqual(['RX_DRUG_IDENTIFIERS_DISAGREE']);
    // The strength alone matches both pack sizes: the hospital must say which.
    const ambiguous = checkIntake(sampleRx({ lines: [lineOf({ genericName: '苯磺酸氨氯地平片', spec: '5mg' })] }), { now, doctor, drugs });
    expect(ambiguous.map((v) => v.code)).toEqual(['RX_DRUG_AMBIGUOUS']);
    expect(ambiguous[0].path).toEqual(['lines', 0, 'genericName']);
    expect(ambiguous[0].message).toContain('A, A2');
    // A banned drug named by its approval number points at that field.
    const banned = checkIntake(sampleRx({ lines: [lineOf({ approvalNumber: drugs.get('MORPHINE')!.approvalNumber })] }), { now, doctor, drugs });
    expect(banned.map((v) => [v.code, v.path.join('.')])).toEqual([['RX_BANNED_ONLINE', 'lines.0.approvalNumber']]);
  });

  it('injectablesOnlyAntidiabetic: insulin may be sold online, other injectables may not, even unflagged', () => {
    expect(codes(sampleRx({ lines: [{ ...base, drugCode: 'INSULIN', route: '皮下注射' }] }))).toEqual([]);
    expect(codes(sampleRx({ lines: [{ ...base, drugCode: 'CEF', route: '静脉滴注' }] }))).toEqual(['RX_INJECTABLE_NOT_ALLOWED']);
    expect(codes(sampleRx({ lines: [{ ...base, drugCode: 'INSULIN' }] }), { config: { ...DEFAULT_RULES, injectableAllowedAtcPrefixes: [] } })).toEqual(['RX_INJECTABLE_NOT_ALLOWED']);
  });

  it('prescriberAuthorised: a registered, licensed and authorised prescriber', () => {
    expect(codes(sampleRx(), { doctor })).toEqual([]);
    expect(codes(sampleRx(), { doctor: null })).toEqual(['RX_UNKNOWN_PRESCRIBER']);
    expect(codes(sampleRx(), { doctor: { ...doctor, authorised: false } })).toEqual(['RX_PRESCRIBER_NOT_AUTHORISED']);
    expect(codes(sampleRx(), { doctor: { ...doctor, licensed: false } })).toEqual(['RX_PRESCRIBER_NOT_AUTHORISED']);
  });

  it('guardianForYoungChildren: a child under 6 needs a guardian', () => {
    const child = { ...sampleRx().patient, birthDate: '2022-01-01' };
    expect(codes(sampleRx({ patient: child }))).toEqual(['RX_GUARDIAN_REQUIRED']);
    expect(codes(sampleRx({ patient: { ...child, guardian: { name: '张母', relation: '母亲', phone: '13900000000' } } }))).toEqual([]);
    expect(codes(sampleRx({ patient: { ...child, birthDate: '2020-11-23' } }))).toEqual([]); // 6 today
  });

  it('reports every broken rule at once, with a path', () => {
    const v = checkIntake(sampleRx({ visit: { type: 'first', department: 'x' }, issuedAt: '2026-11-01T00:00:00Z' }), { now, doctor: null, drugs });
    expect(v.map((x) => x.code).sort()).toEqual(['RX_EXPIRED', 'RX_FIRST_VISIT', 'RX_UNKNOWN_PRESCRIBER']);
    expect(v.find((x) => x.code === 'RX_FIRST_VISIT')!.path).toEqual(['visit', 'type']);
  });

  it('lists the codes of every rule', () => {
    expect(Object.keys(RULE_CODES).sort()).toEqual(Object.keys(INTAKE_RULES).sort());
  });

  it('computes age on birthdays correctly', () => {
    expect(ageInYears('2020-11-24', now)).toBe(5);
    expect(ageInYears('2020-11-23', now)).toBe(6);
    expect(DEFAULT_RULES.maxDaysLongTerm).toBe(84);
  });
});

describe('the demo catalogue and the injectable rule agree', () => {
  it('every injectable the catalogue allows online is an anti-diabetic (A10)', () => {
    const allowed = (drugsJson as Drug[]).filter((d) => d.onlineSaleAllowed && isInjectable(d));
    expect(allowed.length).toBeGreaterThan(0);
    for (const d of allowed) expect(d.atcCode.startsWith('A10')).toBe(true);
  });
});
