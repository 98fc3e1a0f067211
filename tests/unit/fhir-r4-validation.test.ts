// The FHIR resources rxflow serves are valid R4: every status-model combination's MedicationRequest and
// Task, every kind of fill's MedicationDispense, the referenced parties, search Bundles, OperationOutcomes
// and the demo intake Bundle, checked by Medplum's validator against the R4 StructureDefinitions
// (tests/support/fhir-r4.ts). Pure: resources built from hand-made rows.
import type { MedicationDispense } from 'fhir/r4';
import { demoFhirBundle } from '../../demo/fhir';
import { demoPrescriptionContent } from '../../demo/prescriptions';
import { combinationOf, toHospitalOrganization, toMedicationDispenses, toPatient, toPharmacyOrganization, toPractitioner, type FillView, type OrderRow } from '../../domain/fhir/dispense';
import { operationOutcome } from '../../domain/fhir/outcome';
import { searchSet, toMedicationRequests, toTask, type PrescriptionView } from '../../domain/fhir/resources';
import { externalStatus, VALID_COMBINATIONS } from '../../domain/status-model';
import { expectValidR4, r4Issues } from '../support/fhir-r4';

const id = '6f1c2d9e-3b4a-4c5d-8e7f-0123456789ab';
const content = demoPrescriptionContent({ rxNo: 'RX-R4-1' });
const lines = content.lines.map((l: any, i: number) => ({ lineNo: i + 1, drugCode: l.drugCode, drugName: `药品${i + 1}`, quantity: l.quantity, dosage: l.dosage, frequency: l.frequency, route: l.route, days: l.days }));
const view = (over: Partial<PrescriptionView> = {}): PrescriptionView => ({
  id, rxNo: 'RX-R4-1', status: 'in_review', issuedAt: new Date(content.issuedAt), expiresAt: new Date(Date.parse(content.issuedAt) + 86_400_000),
  createdAt: new Date(), updatedAt: new Date(), content, lines, patientId: '11111111-2222-4333-8444-555555555555', doctorId: '21111111-2222-4333-8444-555555555555', ...over,
});

describe('FHIR R4 validity', () => {
  it('the validator bites: a wrong type, an unknown element, a missing required element and a status outside its value set', () => {
    const mr = toMedicationRequests(view())[0];
    expect(r4Issues({ ...mr, intent: undefined } as never).join()).toMatch(/intent|required/i);
    expect(r4Issues({ ...mr, dosage: 'x' } as never).join()).toMatch(/dosage/);
    expect(r4Issues({ ...mr, status: 'done' } as never).join()).toMatch(/required value set/);
    expect(r4Issues({ ...mr, dispenseRequest: { quantity: { value: '1' } } } as never).join()).toMatch(/number/);
  });

  it('MedicationRequests and the Task of every valid status combination', () => {
    expect(VALID_COMBINATIONS.length).toBeGreaterThan(30);
    for (const combination of VALID_COMBINATIONS) {
      const v = view({ status: combination.status, combination, ...(combination.status === 'rejected' ? { rejection: { reasons: ['EXCESS_QUANTITY'], comment: '剂量过大' } } : {}) });
      for (const r of [...toMedicationRequests(v), toTask(v)]) expectValidR4(r);
    }
  });

  it('MedicationDispenses of every kind of fill, with the status the model gives them', () => {
    const order = (attempt: number, status: OrderRow['status'], accepted = true): OrderRow => ({ id: `0000000${attempt}-aaaa-4bbb-8ccc-dddddddddddd`, attempt, pharmacyId: `p${attempt}`, accepted, declineReason: status === 'short' ? '缺货' : null, status });
    const fill = (o: OrderRow) => ({ orderId: o.id, at: new Date('2026-11-20T08:00:00Z'), packsByLine: { 1: 1 } });
    const base = { prescriptionId: id, patientId: '11111111-2222-4333-8444-555555555555', mode: 'delivery' as const, delivery: null, lines: lines.map(({ lineNo, drugCode, drugName, quantity }: any) => ({ lineNo, drugCode, drugName, quantity })), dispensed: null };
    const views: FillView[] = [
      { ...base, status: 'matching', orders: [order(1, 'accepted')] },
      { ...base, status: 'matching', orders: [order(1, 'short'), order(2, 'offered', false)] },
      { ...base, status: 'cancelled', orders: [order(1, 'cancelled')] },
      { ...base, status: 'partially_dispensed', orders: [order(1, 'dispensed')], dispensed: fill(order(1, 'dispensed')) },
      { ...base, status: 'in_delivery', delivery: 'in_transit', orders: [order(1, 'dispensed')], dispensed: fill(order(1, 'dispensed')) },
      { ...base, status: 'completed', delivery: 'delivered', orders: [order(1, 'dispensed')], dispensed: fill(order(1, 'dispensed')), remainderNotDispensed: true },
      { ...base, status: 'completed', mode: 'pickup', orders: [order(1, 'short'), order(2, 'dispensed')], dispensed: fill(order(2, 'dispensed')) },
      { ...base, status: 'returned', delivery: 'failed', orders: [order(1, 'dispensed')], dispensed: fill(order(1, 'dispensed')) },
    ];
    const seen = new Set<string>();
    for (const v of views) {
      const dispenses: MedicationDispense[] = toMedicationDispenses(v);
      expect(dispenses.length).toBeGreaterThan(0);
      const latest = externalStatus(combinationOf(v));
      expect(dispenses.at(-1)!.status).toBe(latest.medicationDispense);
      for (const d of dispenses) { expectValidR4(d); seen.add(d.status); }
    }
    // A partial fill whose remainder will not come is Partially Dispensed, not Dispensed.
    expect(combinationOf(views[5]).fill).toBe('remainder_not_dispensed');
    expect(externalStatus(combinationOf(views[5])).ncpdp).toBe('Partially Dispensed');
    expect([...seen].sort()).toEqual(expect.arrayContaining(['completed', 'declined', 'in-progress', 'preparation']));
  });

  it('the referenced parties, a search Bundle, OperationOutcomes and the demo intake Bundle', () => {
    const patient = toPatient({ id: '11111111-2222-4333-8444-555555555555', hospitalId: 'h1', ref: 'P-1', name: '张三', gender: 'M', birthDate: '1958-03-14' });
    const doctor = toPractitioner({ id: 'd1', code: 'D001', name: '李医生', licenseNo: '110330000000001', licensed: true, authorised: true });
    const orgs = [toHospitalOrganization({ id: 'h1', code: 'H001', name: '互联网医院' }), toPharmacyOrganization({ id: 'p1', code: 'PH001', name: '药房', city: '杭州市', district: '西湖区', address: '文三路 1 号', phone: '0571-88880000' })];
    for (const r of [patient, doctor, ...orgs]) expectValidR4(r);
    expectValidR4(searchSet([toTask(view()), ...toMedicationRequests(view())], 'http://x/fhir/R4', 'http://x/fhir/R4/Task?focus=1'));
    expectValidR4(operationOutcome(422, { code: 'RX_RULES_VIOLATED', message: 'x', details: [{ path: 'Bundle.entry[3]', code: 'RX_FIRST_VISIT', message: 'y' }] }));
    expectValidR4(operationOutcome(503, { code: 'DEPENDENCY_UNAVAILABLE', message: 'x' }));
    expectValidR4(demoFhirBundle().bundle);
  });
});
