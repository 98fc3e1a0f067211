// Builds signed prescriptions as the demo hospital's HIS would: real catalogue drugs, a patient in
// Hangzhou, signed with the demo hospital's published key.
import { randomUUID } from 'node:crypto';
import drugsJson from '../catalog/data/drugs.json';
import type { Drug } from '../domain/types';
import { signPrescription } from '../domain/signature';
import { DEMO, DEMO_PRIVATE_KEY } from './fixtures';

const DRUGS = drugsJson as Drug[];

export function drugByName(name: string): Drug {
  const d = DRUGS.find((x) => x.genericNameZh === name) ?? DRUGS.find((x) => x.genericNameZh.includes(name));
  if (!d) throw new Error(`no demo drug named ${name}`);
  return d;
}

export interface DemoRxOptions {
  rxNo?: string;
  drugs?: { name: string; quantity?: number; days?: number }[];
  patient?: Record<string, unknown>;
  chronic?: boolean;
  longTermReason?: string;
  insurance?: Record<string, unknown> | null;
  issuedAt?: string;
  extra?: Record<string, unknown>;
}

/** The unsigned content; tests alter it before signing. */
export function demoPrescriptionContent(o: DemoRxOptions = {}): Record<string, any> {
  const lines = (o.drugs ?? [{ name: '苯磺酸氨氯地平片' }, { name: '二甲双胍' }]).map((l) => ({
    drugCode: drugByName(l.name).code, quantity: l.quantity ?? 1, dosage: '1片', frequency: 'qd', timesPerDay: 1, route: '口服', days: l.days ?? 7,
  }));
  return {
    rxNo: o.rxNo ?? `DEMO-${randomUUID().slice(0, 8).toUpperCase()}`,
    issuedAt: o.issuedAt ?? new Date().toISOString(),
    validDays: 1,
    visit: { type: 'follow_up', priorDiagnosisRef: 'OPD-2025-118204', department: '心血管内科' },
    doctor: { code: DEMO.doctors[0].code, name: DEMO.doctors[0].name },
    patient: {
      ref: 'PAT-0001', name: '张建国', gender: 'M', birthDate: '1958-03-14', phone: '13857100001',
      address: { text: '杭州市西湖区文三路 90 号 东部软件园 3 幢', lat: 30.2788, lng: 120.1325 },
      allergies: ['青霉素'], pregnant: false,
      ...(o.patient ?? {}),
    },
    diagnoses: [{ code: 'I10', name: '原发性高血压' }, { code: 'E11.9', name: '2型糖尿病' }],
    lines,
    chronic: o.chronic ?? true,
    longTermReason: o.longTermReason ?? '高血压、糖尿病病情稳定，长期用药',
    ...(o.insurance === null ? {} : { insurance: o.insurance ?? { planId: 'HZ-EMPLOYEE-2026', memberId: '330106195803140011', visitType: 'chronic_special', deductibleUsedFen: 30000, paidThisYearFen: 120000 } }),
    ...(o.extra ?? {}),
  };
}

export function signAsDemoHospital(content: Record<string, unknown>, keyId = DEMO.hospital.signingKeyId): Record<string, any> {
  return signPrescription(content, keyId, DEMO_PRIVATE_KEY);
}

export const demoPrescription = (o: DemoRxOptions = {}) => signAsDemoHospital(demoPrescriptionContent(o));
