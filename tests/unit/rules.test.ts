import { checkIntake, ageInYears, DEFAULT_RULES } from '../../domain/rules';
import { catalogue, drug } from './drugs';
import { sampleRx } from './rx-sample';

const now = new Date('2026-11-23T10:00:00+08:00');
const doctor = { code: 'D001', licensed: true, authorised: true };
const drugs = catalogue(drug('A'), drug('MORPHINE', { onlineSaleAllowed: false, bannedReason: 'narcotic', genericNameZh: '盐酸吗啡片' }));
const codes = (rx = sampleRx(), ctx: Partial<Parameters<typeof checkIntake>[1]> = {}) =>
  checkIntake(rx, { now, doctor, drugs, ...ctx }).map((v) => v.code);

describe('intake rules', () => {
  it('accepts a valid follow-up prescription', () => {
    expect(codes()).toEqual([]);
  });

  it('rejects a first-visit prescription and a follow-up without the prior diagnosis', () => {
    expect(codes(sampleRx({ visit: { type: 'first', department: '心内科' } }))).toEqual(['RX_FIRST_VISIT']);
    expect(codes(sampleRx({ visit: { type: 'follow_up', department: '心内科' } }))).toEqual(['RX_NO_PRIOR_DIAGNOSIS']);
  });

  it('rejects expired and future-dated prescriptions, honouring the noted validity of up to 3 days', () => {
    expect(codes(sampleRx({ issuedAt: '2026-11-21T08:00:00+08:00' }))).toEqual(['RX_EXPIRED']);
    expect(codes(sampleRx({ issuedAt: '2026-11-21T08:00:00+08:00', validDays: 3 }))).toEqual([]);
    expect(codes(sampleRx({ issuedAt: '2026-11-23T11:00:00+08:00' }))).toEqual(['RX_FUTURE_DATED']);
    expect(codes(sampleRx({ issuedAt: '2026-11-23T10:04:00+08:00' }))).toEqual([]); // within clock skew
  });

  it('limits days of supply: 7 ordinary, longer only for chronic with a reason, never beyond 12 weeks', () => {
    const line = (days: number) => [{ ...sampleRx().lines[0], days }];
    expect(codes(sampleRx({ lines: line(8) }))).toEqual(['RX_SUPPLY_NEEDS_REASON']);
    expect(codes(sampleRx({ lines: line(28), chronic: true }))).toEqual(['RX_SUPPLY_NEEDS_REASON']);
    expect(codes(sampleRx({ lines: line(84), chronic: true, longTermReason: '高血压病情稳定' }))).toEqual([]);
    expect(codes(sampleRx({ lines: line(85), chronic: true, longTermReason: '高血压病情稳定' }))).toEqual(['RX_SUPPLY_TOO_LONG']);
  });

  it('rejects drugs banned from online sale, unknown drugs and duplicated lines', () => {
    const base = sampleRx().lines[0];
    expect(codes(sampleRx({ lines: [{ ...base, drugCode: 'MORPHINE' }] }))).toEqual(['RX_BANNED_ONLINE']);
    expect(codes(sampleRx({ lines: [{ ...base, drugCode: 'NOPE' }] }))).toEqual(['RX_UNKNOWN_DRUG']);
    expect(codes(sampleRx({ lines: [base, base] }))).toEqual(['RX_DUPLICATE_LINE']);
  });

  it('requires a registered, licensed and authorised prescriber', () => {
    expect(codes(sampleRx(), { doctor: null })).toEqual(['RX_UNKNOWN_PRESCRIBER']);
    expect(codes(sampleRx(), { doctor: { ...doctor, authorised: false } })).toEqual(['RX_PRESCRIBER_NOT_AUTHORISED']);
  });

  it('requires a guardian for a child under 6', () => {
    const child = { ...sampleRx().patient, birthDate: '2022-01-01' };
    expect(codes(sampleRx({ patient: child }))).toEqual(['RX_GUARDIAN_REQUIRED']);
    expect(codes(sampleRx({ patient: { ...child, guardian: { name: '张母', relation: '母亲', phone: '13900000000' } } }))).toEqual([]);
  });

  it('reports every broken rule at once, with a path', () => {
    const v = checkIntake(sampleRx({ visit: { type: 'first', department: 'x' }, issuedAt: '2026-11-01T00:00:00Z' }), { now, doctor: null, drugs });
    expect(v.map((x) => x.code).sort()).toEqual(['RX_EXPIRED', 'RX_FIRST_VISIT', 'RX_UNKNOWN_PRESCRIBER']);
    expect(v.find((x) => x.code === 'RX_FIRST_VISIT')!.path).toEqual(['visit', 'type']);
  });

  it('computes age on birthdays correctly', () => {
    expect(ageInYears('2020-11-24', now)).toBe(5);
    expect(ageInYears('2020-11-23', now)).toBe(6);
    expect(DEFAULT_RULES.maxDaysLongTerm).toBe(84);
  });
});
