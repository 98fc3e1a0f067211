// The status model (domain/status-model.ts): its table is total and within the R4 value sets, the
// generated docs/status-model.md is current, and the fold of a workflow timeline lands only on valid
// combinations (the partial-fill timelines here use the events the partial-fill workflow notes).
import fs from 'node:fs';
import path from 'node:path';
import {
  FILL_STATES, HANDOVER_STATES, MEDICATION_DISPENSE_STATUSES, MEDICATION_REQUEST_STATUSES, MODEL_STATUSES, TASK_STATUSES, VALID_COMBINATIONS,
  externalStatus, foldTimeline, isValidCombination, type Combination,
} from '../../domain/status-model';
import { statusModelDoc } from '../../domain/status-model-doc';
import { combinationOf, toMedicationDispenses } from '../../domain/fhir/dispense';
import { PRESCRIPTION_STATUSES } from '../../domain/prescription-status';

const ev = (...names: (string | [string, Record<string, unknown>])[]) => names.map((n) => (typeof n === 'string' ? { event: n } : { event: n[0], detail: n[1] }));

describe('status model', () => {
  it('docs/status-model.md is what domain/status-model-doc.ts generates (regenerate: node --import tsx domain/status-model-doc.ts > docs/status-model.md)', () => {
    const doc = fs.readFileSync(path.resolve(__dirname, '../../docs/status-model.md'), 'utf8');
    expect(doc).toBe(statusModelDoc());
  });

  it('covers every engine status, and every prescription status admits at least one combination', () => {
    for (const s of PRESCRIPTION_STATUSES) expect(MODEL_STATUSES).toContain(s);
    for (const s of MODEL_STATUSES) expect(VALID_COMBINATIONS.some((c) => c.status === s)).toBe(true);
    for (const f of FILL_STATES) expect(VALID_COMBINATIONS.some((c) => c.fill === f)).toBe(true);
    for (const h of HANDOVER_STATES) expect(VALID_COMBINATIONS.some((c) => c.handover === h)).toBe(true);
  });

  it('maps every valid combination into the R4 value sets, both languages and the NCPDP fill statuses', () => {
    for (const c of VALID_COMBINATIONS) {
      const x = externalStatus(c);
      expect(MEDICATION_REQUEST_STATUSES).toContain(x.medicationRequest);
      expect(TASK_STATUSES).toContain(x.task);
      if (c.fill === 'none') expect(x.medicationDispense).toBeNull();
      else expect(MEDICATION_DISPENSE_STATUSES).toContain(x.medicationDispense);
      expect([null, 'Dispensed', 'Partially Dispensed', 'Not Dispensed', 'Transferred']).toContain(x.ncpdp);
      expect(x.patient.code).toMatch(/^[a-z_]+(\.[a-z_]+)?$/);
      expect(x.patient.en.length).toBeGreaterThan(0);
      expect(x.patient.zh).toMatch(/[\u4e00-\u9fff]/);
    }
  });

  it('refuses combinations the engine cannot be in', () => {
    const bad: Combination[] = [
      { status: 'in_review', fill: 'preparing', handover: 'none' },         // nothing before approval
      { status: 'matching', fill: 'dispensed', handover: 'none' },
      { status: 'in_delivery', fill: 'partial', handover: 'assigned' },      // nothing leaves before the fill is settled
      { status: 'delivered', fill: 'dispensed', handover: 'ready_for_pickup' },
      { status: 'cancelled', fill: 'dispensed', handover: 'none' },          // cancel only before dispensing
      { status: 'returned', fill: 'dispensed', handover: 'delivered' },
    ];
    for (const c of bad) {
      expect(isValidCombination(c)).toBe(false);
      expect(() => externalStatus(c)).toThrow(/invalid status combination/);
    }
  });

  it('reads the partial variants as the issue asks: remainder to follow keeps the order active, abandoned halts it', () => {
    const toFollow = externalStatus({ status: 'partially_dispensed', fill: 'partial', handover: 'none' });
    expect(toFollow).toMatchObject({ medicationRequest: 'active', medicationDispense: 'in-progress', task: 'in-progress', ncpdp: 'Partially Dispensed' });
    expect(toFollow.patient.code).toBe('partially_dispensed.remainder_to_follow');
    const abandoned = externalStatus({ status: 'delivered', fill: 'remainder_not_dispensed', handover: 'delivered' });
    expect(abandoned).toMatchObject({ medicationRequest: 'stopped', medicationDispense: 'completed', task: 'completed', ncpdp: 'Partially Dispensed' });
    expect(abandoned.patient.zh).toContain('余量不再配');
    expect(externalStatus({ status: 'matching', fill: 'transferred', handover: 'none' }).ncpdp).toBe('Transferred');
    expect(externalStatus({ status: 'unfulfillable', fill: 'not_dispensed', handover: 'none' }).ncpdp).toBe('Not Dispensed');
    expect(externalStatus({ status: 'returned', fill: 'returned', handover: 'uncollected' }).ncpdp).toBe('Not Dispensed');
  });

  it('folds partial-fill timelines (two fills in full; the remainder declared not dispensed) through valid combinations only', () => {
    const upToAccept = ev('in_review', 'approved', 'priced', 'slip_rendered', 'pharmacy_offered', 'pharmacy_accepted');
    const inTwo = foldTimeline([...upToAccept, ...ev('partially_dispensed', 'dispensed', 'ready_for_pickup', 'delivered', 'follow_up', 'completed')]);
    const rest = foldTimeline([...upToAccept, ...ev('partially_dispensed', ['dispensed', { partial: true }], 'delivery_assigned', 'delivery_delivered', 'follow_up', 'completed')]);
    for (const c of [...inTwo, ...rest]) expect([c, isValidCombination(c)]).toEqual([c, true]);
    expect(inTwo.at(-1)).toEqual({ status: 'completed', fill: 'dispensed', handover: 'collected' });
    expect(rest.at(-1)).toEqual({ status: 'completed', fill: 'remainder_not_dispensed', handover: 'delivered' });
  });
});

describe('MedicationDispense from the status model', () => {
  const base = {
    prescriptionId: '11111111-1111-4111-8111-111111111111', patientId: '22222222-2222-4222-8222-222222222222', mode: 'delivery' as const, delivery: null,
    lines: [{ lineNo: 1, drugCode: 'RX0001', drugName: '布洛芬缓释胶囊', quantity: 2 }],
  };
  const order = (attempt: number, status: any, accepted = true) => ({ id: `0000000${attempt}-0000-4000-8000-000000000000`, attempt, pharmacyId: `PH${attempt}`, accepted, declineReason: status === 'short' ? 'line 1: 缺货' : null, status });

  it('one per line of each accepted order: a short one transferred (declined, with the reason), the next one preparing', () => {
    const v = { ...base, status: 'matching' as const, dispensed: null, orders: [order(1, 'declined', false), order(2, 'short'), order(3, 'accepted')] };
    expect(combinationOf(v)).toEqual({ status: 'matching', fill: 'preparing', handover: 'none' });
    const mds = toMedicationDispenses(v);
    expect(mds.map((m) => [m.id, m.status])).toEqual([[`${order(2, 'short').id}-1`, 'declined'], [`${order(3, 'accepted').id}-1`, 'preparation']]);
    expect(mds[0].statusReasonCodeableConcept).toEqual({ text: 'line 1: 缺货' });
    expect(mds[1]).toMatchObject({ subject: { reference: `Patient/${base.patientId}` }, performer: [{ actor: { reference: 'Organization/PH3' } }], authorizingPrescription: [{ reference: `MedicationRequest/${base.prescriptionId}-1` }] });
  });

  it('completed when delivered, stopped when returned, and "unknown" for rows that disagree for a moment', () => {
    const dispensed = { orderId: order(1, 'dispensed').id, at: new Date('2026-11-24T02:00:00Z'), packsByLine: { 1: 2 } };
    const delivered = toMedicationDispenses({ ...base, status: 'delivered', delivery: 'delivered', dispensed, orders: [order(1, 'dispensed')] });
    expect(delivered[0]).toMatchObject({ status: 'completed', quantity: { value: 2 }, whenHandedOver: '2026-11-24T02:00:00.000Z' });
    expect(toMedicationDispenses({ ...base, status: 'returned', delivery: 'failed', dispensed, orders: [order(1, 'dispensed')] })[0].status).toBe('stopped');
    expect(toMedicationDispenses({ ...base, status: 'in_delivery', delivery: null, dispensed, orders: [order(1, 'dispensed')] })[0].status).toBe('unknown');
  });
});
