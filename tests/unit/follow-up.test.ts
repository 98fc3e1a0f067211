// The follow-up plan's rules, days of supply, the questionnaire and the ADR report fields (domain/follow-up.ts).
import {
  adrReport, answerSchemaFor, CheckInAnswerSchema, daysOfSupply, DEFAULT_FOLLOW_UP_RULES, followUpPlan, RefillAnswerSchema, severityRank,
  unitsPerDose, unitsPerPack, type PlanLine,
} from '../../domain/follow-up';

const line = (o: Partial<PlanLine> = {}): PlanLine => ({
  lineNo: 1, drugCode: 'D1', quantity: 2, days: 14, dosage: '1片', timesPerDay: 1, spec: '5mg×7片', atcCode: 'C08CA01', ...o,
});

describe('days of supply', () => {
  it('reads the pack size and the dose when both count the same unit', () => {
    expect(unitsPerPack('0.5g×20片')).toEqual({ count: 20, unit: '片' });
    expect(unitsPerPack('150mg/12.5mg×7片')).toEqual({ count: 7, unit: '片' });
    expect(unitsPerPack('3ml:300U')).toBeNull();
    expect(unitsPerDose('2片', '片')).toBe(2);
    expect(unitsPerDose('0.5g', '片')).toBeNull();
    // 2 packs of 7 tablets, 1 tablet once a day: 14 days; twice a day: 7 days.
    expect(daysOfSupply(line())).toBe(14);
    expect(daysOfSupply(line({ timesPerDay: 2 }))).toBe(7);
    expect(daysOfSupply(line({ dosage: '0.5片', spec: '10mg×28片', quantity: 1 }))).toBe(56);
  });

  it('counts only what a partial fill handed out', () => {
    expect(daysOfSupply(line({ dispensed: 1 }))).toBe(7);
    expect(daysOfSupply(line({ dispensed: 0 }))).toBe(0);
  });

  it('falls back to the prescribed days, prorated, when the dose is not in pack units', () => {
    const insulin = line({ dosage: '10U', spec: '3ml:300U', quantity: 4, days: 28 });
    expect(daysOfSupply(insulin)).toBe(28);
    expect(daysOfSupply({ ...insulin, dispensed: 1 })).toBe(7);
  });
});

describe('the follow-up plan', () => {
  it('checks in after the routine days, reminds before the chronic supply runs out, then closes', () => {
    // Amlodipine 2 × 7 tablets (14 days), metformin 1 × 20 tablets (20 days): the first runs out on day 14.
    const plan = followUpPlan({ chronic: true, lines: [line(), line({ lineNo: 2, spec: '0.5g×20片', quantity: 1, atcCode: 'A10BA02' })] });
    expect(plan.map((s) => [s.kind, s.dueDay])).toEqual([['check_in', 7], ['refill_reminder', 9], ['close', 20]]);
    expect(plan[1].why).toBe('line 1 runs out after 14 day(s)');
  });

  it('checks in sooner for a new therapy or a high-alert drug', () => {
    expect(followUpPlan({ chronic: false, lines: [line({ newTherapy: true })] })[0]).toMatchObject({ kind: 'check_in', dueDay: 3, why: 'line(s) 1: new therapy' });
    expect(followUpPlan({ chronic: false, lines: [line({ atcCode: 'B01AA03' })] })[0]).toMatchObject({ dueDay: 3, why: 'line(s) 1: high-alert drug' });
    expect(followUpPlan({ chronic: false, lines: [line()] }, { ...DEFAULT_FOLLOW_UP_RULES, checkInDays: 10 })[0].dueDay).toBe(10);
  });

  it('has no refill reminder for an acute prescription, and orders the steps by due day', () => {
    expect(followUpPlan({ chronic: false, lines: [line()] }).map((s) => s.kind)).toEqual(['check_in', 'close']);
    // A 7-day chronic supply: the reminder (day 2) comes before the check-in (day 7).
    const short = followUpPlan({ chronic: true, lines: [line({ quantity: 1 })] });
    expect(short.map((s) => [s.kind, s.dueDay])).toEqual([['refill_reminder', 2], ['check_in', 7], ['close', 10]]);
    // Supply shorter than the lead: remind on day 1, never on day 0.
    expect(followUpPlan({ chronic: true, lines: [line({ quantity: 1, spec: '5mg×3片' })] }).find((s) => s.kind === 'refill_reminder')!.dueDay).toBe(1);
  });

  it('plans a partial fill by what was handed out', () => {
    const plan = followUpPlan({ chronic: true, lines: [line({ quantity: 4, dispensed: 2 }), line({ lineNo: 2, dispensed: 0 })] });
    expect(plan.find((s) => s.kind === 'refill_reminder')).toMatchObject({ dueDay: 9, why: 'line 1 runs out after 14 day(s)' });
  });
});

describe('the questionnaire', () => {
  it('accepts a check-in answer and fills the defaults', () => {
    const a = CheckInAnswerSchema.parse({ adherence: { status: 'missed_doses', missedDoses: 2 }, sideEffects: { any: true, reaction: '干咳', description: '夜间干咳', onsetDate: '2026-11-20', severity: 'mild' } });
    expect(a).toMatchObject({ questionnaire: 'fu-1', respondent: { relation: 'self' }, sideEffects: { serious: [], outcome: 'unknown' } });
  });

  it('names each bad field by its path', () => {
    const r = CheckInAnswerSchema.safeParse({ adherence: { status: 'missed_doses' }, sideEffects: { any: true, reaction: '', description: 'x', onsetDate: '20-11-2026', severity: 'fatal', serious: ['bad_luck'] } });
    expect(r.success).toBe(false);
    const paths = r.error!.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['adherence.missedDoses', 'sideEffects.reaction', 'sideEffects.onsetDate', 'sideEffects.severity', 'sideEffects.serious.0']));
    expect(RefillAnswerSchema.safeParse({ refill: {} }).error!.issues.map((i) => i.path.join('.'))).toEqual(['refill.continue']);
    expect(answerSchemaFor('close')).toBeNull();
    expect(answerSchemaFor('adherence')).toBe(CheckInAnswerSchema);
  });

  it('ranks serious above severe above mild', () => {
    expect(severityRank('mild', true)).toBeGreaterThan(severityRank('severe', false));
    expect(severityRank('severe', false)).toBeGreaterThan(severityRank('moderate', false));
  });
});

describe('the national ADR report', () => {
  it('maps a serious reaction to the form\'s fields', () => {
    const r = adrReport({
      taskId: 't1', prescriptionId: 'p1', reportedAt: '2026-11-23T02:00:00Z', newReaction: true,
      reporter: { organisation: '杭州某某大药房', pharmacist: '王药师', note: '已建议停药就医' },
      patient: { maskedName: '张*国', sex: 'M', ageYears: 68, ref: 'PAT-0001' }, hospital: { code: 'H', name: '某互联网医院' },
      rxNo: 'RX-1', diagnoses: [{ code: 'I10', name: '原发性高血压' }],
      sideEffect: { any: true, reaction: '血管性水肿', description: '服药后面部肿胀', onsetDate: '2026-11-20', severity: 'severe', serious: ['hospitalisation'], outcome: 'recovering' },
      startDate: '2026-11-18', stopDate: '2026-11-20',
      drugs: [{ lineNo: 1, genericName: '苯磺酸氨氯地平片', brandName: '络活喜', approvalNumber: '国药准字H10950224', manufacturer: '辉瑞', batchNumbers: ['B2811'], route: '口服', dosage: '1片', frequency: 'qd' }],
    });
    expect(r.reportType).toEqual({ new: true, serious: true, label: '新的严重' });
    expect(r.reaction).toMatchObject({ name: '血管性水肿', severity: '重度', serious: ['导致住院或住院时间延长'], outcome: '好转' });
    expect(r.patient).toMatchObject({ name: '张*国', sex: '男', ageYears: 68 });
    expect(r.suspectedDrugs[0]).toMatchObject({ approvalNumber: '国药准字H10950224', batchNumbers: ['B2811'], dose: '1片 qd', reasonForUse: '原发性高血压', startDate: '2026-11-18', stopDate: '2026-11-20' });
  });
});
