import type { PrescriptionSubmission } from '../../domain/prescription';

export function sampleRx(over: Partial<PrescriptionSubmission> = {}): PrescriptionSubmission {
  return {
    rxNo: 'RX-1', issuedAt: '2026-11-23T08:00:00+08:00', validDays: 1,
    visit: { type: 'follow_up', priorDiagnosisRef: 'OPD-2026-0001', department: '心内科' },
    doctor: { code: 'D001', name: '王医生' },
    patient: {
      ref: 'P1', name: '张三', gender: 'M', birthDate: '1960-05-01', phone: '13800000000',
      address: { text: '杭州市西湖区文三路1号', lat: 30.28, lng: 120.13 }, allergies: [], pregnant: false,
    },
    diagnoses: [{ code: 'I10', name: '原发性高血压' }],
    lines: [{ drugCode: 'A', quantity: 1, dosage: '5mg', frequency: 'qd', timesPerDay: 1, route: '口服', days: 7, allowSubstitution: false }],
    chronic: false,
    fulfilment: { mode: 'delivery' },
    signature: { alg: 'ES256', keyId: 'k1', value: 'x'.repeat(20) },
    ...over,
  };
}
