import { automatedReview } from '../../domain/review-checks';
import { knowledgeFromFiles } from '../../catalog/clinical';
import { chinaMinuteOfDay, haversineKm, isOpenAt, minuteOfDay, scoreCandidates, withinDeliveryRadius, type CandidateFacts } from '../../domain/matching';
import { canonicalContent, canonicalJson, contentHash } from '../../domain/canonical';
import { generateSigningKey, signPrescription, verifyPrescriptionSignature } from '../../domain/signature';
import { catalogue, drug } from './drugs';
import { sampleRx } from './rx-sample';

const now = new Date('2026-11-23T10:00:00+08:00');
const line = (drugCode: string, over = {}) => ({ drugCode, quantity: 1, dosage: '1片', frequency: 'qd', timesPerDay: 1, route: '口服', days: 7, allowSubstitution: false, ...over });

describe('automated review flags', () => {
  const knowledge = knowledgeFromFiles();
  const drugs = catalogue(
    drug('ASP', { atcCode: 'B01AC06', genericNameZh: '阿司匹林肠溶片' }),
    drug('WAR', { atcCode: 'B01AA03', genericNameZh: '华法林钠片' }),
    drug('AML', { atcCode: 'C08CA01', genericNameZh: '苯磺酸氨氯地平片' }),
    drug('NIF', { atcCode: 'C08CA05', genericNameZh: '硝苯地平缓释片' }),
    drug('AMX', { atcCode: 'J01CA04', genericNameZh: '阿莫西林胶囊', maxDailyDoseMg: 4000 }),
    drug('LEV', { atcCode: 'J01MA12', genericNameZh: '左氧氟沙星片', minAgeYears: 18, pregnancyCategory: 'contraindicated' }),
  );
  const flags = (lines: ReturnType<typeof line>[], patient = {}) =>
    automatedReview(sampleRx({ lines, patient: { ...sampleRx().patient, ...patient } }), drugs, now, knowledge);

  it('flags interactions, duplicate therapy, dose, allergy, age and pregnancy', () => {
    expect(flags([line('ASP'), line('WAR')]).map((f) => f.code)).toContain('INTERACTION');
    expect(flags([line('AML'), line('NIF')]).map((f) => f.code)).toEqual(['DUPLICATE_THERAPY']);
    expect(flags([line('AMX', { doseMg: 1500, timesPerDay: 3 })]).map((f) => f.code)).toEqual(['DOSE_HIGH']);
    expect(flags([line('AMX')], { allergies: ['青霉素'] }).map((f) => f.code)).toEqual(['ALLERGY']);
    expect(flags([line('LEV')], { birthDate: '2012-01-01' }).map((f) => f.code)).toEqual(['AGE']);
    expect(flags([line('LEV')], { pregnant: true, gender: 'F' }).map((f) => f.code)).toEqual(['PREGNANCY']);
  });

  it('raises nothing for an unremarkable prescription', () => {
    expect(flags([line('AML')])).toEqual([]);
  });
});

describe('pharmacy ranking', () => {
  const fact = (code: string, over: Partial<CandidateFacts> = {}): CandidateFacts => ({
    pharmacyCode: code, name: code, distanceKm: 1, deliveryRadiusKm: 5, totalPriceFen: 1000, patientPaysFen: 1000,
    promisedMinutes: 30, stockMargin: 5, acceptanceRate: 1, fills: [], ...over,
  });

  it('scores distance, what the patient pays, stock margin and reliability, and shows the breakdown', () => {
    const [best, ...rest] = scoreCandidates([
      fact('far-cheap', { distanceKm: 8, patientPaysFen: 500 }),
      fact('near-dear', { distanceKm: 0.5, patientPaysFen: 1000 }),
      fact('near-cheap', { distanceKm: 1, patientPaysFen: 500 }),
      fact('near-cheap-flaky', { distanceKm: 1, patientPaysFen: 500, acceptanceRate: 0.5 }), // 0.865: flaky beats dear (0.8075)
    ], 10);
    expect(best.pharmacyCode).toBe('near-cheap');
    expect(best.score).toEqual({ distance: 0.9, price: 1, margin: 1, reliability: 1, total: 0.965 });
    expect(rest.map((c) => c.pharmacyCode)).toEqual(['near-cheap-flaky', 'near-dear', 'far-cheap']);
    expect(rest[0].score.reliability).toBe(0.5);
  });

  it('gives a pharmacy without history a neutral reliability and a thin shelf a lower margin score', () => {
    const [c] = scoreCandidates([fact('new', { acceptanceRate: null, stockMargin: 1 })], 10);
    expect(c.score).toMatchObject({ reliability: 0.8, margin: 0.2 });
  });

  it('keeps deliveries within the pharmacy\'s own radius', () => {
    expect(withinDeliveryRadius({ distanceKm: 4.9, deliveryRadiusKm: 5 })).toBe(true);
    expect(withinDeliveryRadius({ distanceKm: 5.1, deliveryRadiusKm: 5 })).toBe(false);
  });

  it('knows opening hours, including overnight ones and 24-hour stores', () => {
    const day = { open: '08:00', close: '22:00' };
    expect(isOpenAt(day, false, minuteOfDay('07:59'))).toBe(false);
    expect(isOpenAt(day, false, minuteOfDay('08:00'))).toBe(true);
    expect(isOpenAt(day, false, minuteOfDay('22:00'))).toBe(false);
    const night = { open: '20:00', close: '02:00' };
    expect(isOpenAt(night, false, minuteOfDay('01:00'))).toBe(true);
    expect(isOpenAt(night, false, minuteOfDay('12:00'))).toBe(false);
    expect(isOpenAt(day, true, minuteOfDay('03:00'))).toBe(true);
    expect(chinaMinuteOfDay(new Date('2026-11-23T02:30:00Z'))).toBe(minuteOfDay('10:30'));
  });

  it('measures great-circle distance', () => {
    // West Lake to Hangzhou East railway station, about 8 km
    expect(haversineKm({ lat: 30.2425, lng: 120.1505 }, { lat: 30.2908, lng: 120.2133 })).toBeCloseTo(8.0, 0);
  });
});

describe('canonical form and signatures', () => {
  it('sorts keys at every level and drops the signature', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: '中' }], c: null } })).toBe('{"a":{"c":null,"d":[2,{"y":"中","z":1}]},"b":1}');
    expect(canonicalContent({ b: 1, signature: { value: 'x' }, a: 2 })).toBe('{"a":2,"b":1}');
    expect(contentHash({ a: 1, b: 2 })).toBe(contentHash({ b: 2, a: 1, signature: { other: true } }));
  });

  it('verifies ES256 signatures and refuses tampering, unknown, revoked and out-of-date keys', () => {
    const { privateKeyPem, publicKeyPem } = generateSigningKey();
    const key = { keyId: 'k1', alg: 'ES256' as const, publicKeyPem, validFrom: '2026-01-01T00:00:00Z', validTo: '2027-01-01T00:00:00Z', revoked: false };
    const signed = signPrescription({ rxNo: 'A1', lines: [{ drugCode: 'X', quantity: 1 }] }, 'k1', privateKeyPem) as Record<string, any>;
    expect(verifyPrescriptionSignature(signed, [key], now)).toEqual({ ok: true });
    expect(verifyPrescriptionSignature({ ...signed, lines: [{ drugCode: 'X', quantity: 9 }] }, [key], now)).toMatchObject({ ok: false, code: 'SIGNATURE_INVALID' });
    expect(verifyPrescriptionSignature(signed, [], now)).toMatchObject({ ok: false, code: 'SIGNATURE_UNKNOWN_KEY' });
    expect(verifyPrescriptionSignature(signed, [{ ...key, revoked: true }], now)).toMatchObject({ ok: false, code: 'SIGNATURE_KEY_REVOKED' });
    expect(verifyPrescriptionSignature(signed, [key], new Date('2027-06-01'))).toMatchObject({ ok: false, code: 'SIGNATURE_KEY_EXPIRED' });
  });
});
