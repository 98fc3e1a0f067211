// What an operator's erasure may take: retention of prescriptions wins, a prescription in progress blocks
// everything, the patient row goes only when nothing retained needs it.
import { erasedContent, planErasure, retainedUntil, type RetainedRx } from '../../domain/retention';

const NOW = new Date('2026-11-24T00:00:00Z');
const rx = (id: string, status: RetainedRx['status'], issued: string, updated = issued): RetainedRx =>
  ({ id, rxNo: `RX-${id}`, status, issuedAt: new Date(issued), updatedAt: new Date(updated) });

it('keeps a prescription 5 years after it was issued or last changed, whichever is later', () => {
  expect(retainedUntil(rx('a', 'completed', '2020-01-10T00:00:00Z', '2021-03-01T00:00:00Z'), { prescriptionYears: 5 }).toISOString()).toBe('2026-03-01T00:00:00.000Z');
});

it('erases prescriptions past retention and the patient row when nothing is retained', () => {
  const plan = planErasure([rx('a', 'completed', '2019-01-01T00:00:00Z'), rx('b', 'rejected', '2020-06-01T00:00:00Z')], NOW);
  expect(plan).toMatchObject({ inCare: false, anything: true, patientRow: { erase: true } });
  expect(plan.prescriptions.every((d) => d.erase)).toBe(true);
});

it('limits the erasure to what is past retention, with the reason and the date for the rest', () => {
  const plan = planErasure([rx('old', 'completed', '2019-01-01T00:00:00Z'), rx('new', 'completed', '2026-10-01T00:00:00Z')], NOW);
  expect(plan.anything).toBe(true);
  expect(plan.prescriptions[0]).toEqual({ prescriptionId: 'old', rxNo: 'RX-old', erase: true });
  expect(plan.prescriptions[1]).toMatchObject({ erase: false, code: 'UNDER_RETENTION', until: '2031-10-01T00:00:00.000Z' });
  expect((plan.prescriptions[1] as any).reason).toMatch(/5 years.*RX-new until 2031-10-01/);
  expect(plan.patientRow).toMatchObject({ erase: false, until: '2031-10-01T00:00:00.000Z' });
});

it('erases nothing while a prescription is in progress', () => {
  const plan = planErasure([rx('old', 'completed', '2019-01-01T00:00:00Z'), rx('live', 'in_review', '2026-11-23T00:00:00Z')], NOW);
  expect(plan).toMatchObject({ inCare: true, anything: false, patientRow: { erase: false } });
  expect(plan.prescriptions.every((d) => !d.erase && d.code === 'IN_CARE')).toBe(true);
});

it('refuses when everything is under retention; a shorter configured period is honoured', () => {
  const recent = [rx('r', 'completed', '2024-01-01T00:00:00Z')];
  expect(planErasure(recent, NOW).anything).toBe(false);
  expect(planErasure(recent, NOW, { prescriptionYears: 1 }).anything).toBe(true);
});

it('keeps what describes the prescribing and drops who the patient is', () => {
  const c = { rxNo: 'RX1', diagnoses: [{ code: 'I10', name: '高血压' }], lines: [{ drugCode: 'D1' }],
    patient: { ref: 'P1', name: '张建国', gender: 'M', birthDate: '1958-03-14', phone: 'enc:v1:x', idNumber: 'enc:v1:y', address: 'enc:v1:z', allergies: ['青霉素'] } };
  expect(erasedContent(c)).toEqual({ rxNo: 'RX1', diagnoses: c.diagnoses, lines: c.lines, patient: { erased: true, gender: 'M', birthYear: 1958 } });
});
