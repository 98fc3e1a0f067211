// FHIR R4 intake mapping, the signature carried by a Bundle, the status table and the resources built
// from a stored prescription. Pure: the catalogue is the demo catalogue's data file.
import type { Bundle, MedicationRequest } from 'fhir/r4';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { mapFhirBundle, catalogueOf, medicationCodings, PathMap, type FhirMapping } from '../../domain/fhir/intake';
import { signBundle, signingInput } from '../../domain/fhir/sign';
import { MODEL_STATUSES } from '../../domain/status-model';
import { FHIR_STATUS, MEDICATION_REQUEST_STATUSES, TASK_STATUSES, TERMINAL_TASK_STATUSES, fhirStatusOf } from '../../domain/fhir/status';
import { operationOutcome, houseErrorOf } from '../../domain/fhir/outcome';
import { parseMedicationRequestId, toMedicationRequests, toTask, type PrescriptionView } from '../../domain/fhir/resources';
import { EXTENSION, SYSTEM } from '../../domain/fhir/systems';
import { PRESCRIPTION_STATUSES, canTransition, isTerminal } from '../../domain/prescription-status';
import { PrescriptionSubmissionSchema } from '../../domain/prescription';
import { canonicalContent } from '../../domain/canonical';
import { generateSigningKey, verifyPrescriptionSignature, type RegisteredKey } from '../../domain/signature';
import { checkIntake } from '../../domain/rules';
import { demoCatalogue, demoFhirBundle, fhirBundleFor } from '../../demo/fhir';
import { demoPrescriptionContent, drugByName } from '../../demo/prescriptions';
import type { Drug } from '../../domain/types';
import drugsJson from '../../catalog/data/drugs.json';

const DRUGS = new Map((drugsJson as Drug[]).map((d) => [d.code, d]));
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v));
const unsigned = (b: Bundle) => mapFhirBundle(b, demoCatalogue, { unsigned: true });
const issuesOf = (m: FhirMapping) => (m.ok ? [] : m.issues);
/** Index of the first entry holding a resource of this type. */
const idx = (b: Bundle, type: string) => b.entry!.findIndex((e) => e.resource?.resourceType === type);
const res = (b: Bundle, type: string, n = 0) => b.entry!.filter((e) => e.resource?.resourceType === type)[n].resource as any;

describe('FHIR intake mapping', () => {
  it('maps a full Bundle to the same prescription the JSON intake takes', () => {
    const { bundle, content } = demoFhirBundle({ patient: { guardian: { name: '张丽', relation: '女儿', phone: '13900000000' }, idNumber: '330106195803140011' } });
    const m = mapFhirBundle(bundle, demoCatalogue);
    if (!m.ok) throw new Error(JSON.stringify(m.issues));
    const { signature, ...mapped } = m.prescription as Record<string, any>;
    expect(mapped).toEqual(content);
    expect(signature).toEqual({ alg: 'ES256', keyId: 'demo-es256-1', value: bundle.signature!.data });
    expect(PrescriptionSubmissionSchema.safeParse(m.prescription).success).toBe(true);
    // Same content, same bytes signed: a JSON push and a FHIR push of one prescription are one prescription.
    expect(canonicalContent(m.prescription)).toBe(canonicalContent(content));
  });

  it('maps each supported Bundle type and drug coding system to the same content', () => {
    const content = demoPrescriptionContent({ drugs: [{ name: '苯磺酸氨氯地平片' }, { name: '二甲双胍' }] });
    for (const type of ['transaction', 'collection', 'document'] as const) {
      for (const coding of ['rxflow', 'insurance', 'approval'] as const) {
        const m = unsigned(fhirBundleFor(content, { type, coding }));
        expect(m).toMatchObject({ ok: true, prescription: content });
      }
    }
  });

  it('reads the visit, diagnoses, patient details and regimen from their FHIR elements', () => {
    const content = demoPrescriptionContent({ patient: { pregnant: true, gender: 'F', allergies: ['青霉素', '磺胺'] }, chronic: false, longTermReason: '' });
    delete content.longTermReason;
    const b = fhirBundleFor(content);
    // A regimen stated as repeat (3 a day), not as a code; supply in weeks; a dose in grams.
    const mr = res(b, 'MedicationRequest') as MedicationRequest;
    mr.dosageInstruction![0].timing = { repeat: { frequency: 1, period: 8, periodUnit: 'h' } };
    mr.dosageInstruction![0].doseAndRate = [{ doseQuantity: { value: 0.5, unit: 'g', system: SYSTEM.ucum, code: 'g' } }];
    mr.dosageInstruction![0].route = { coding: [{ system: SYSTEM.snomed, code: '26643006' }] };
    mr.dispenseRequest!.expectedSupplyDuration = { value: 1, unit: 'wk', system: SYSTEM.ucum, code: 'wk' };
    const m = unsigned(b);
    if (!m.ok) throw new Error(JSON.stringify(m.issues));
    const rx = m.prescription as any;
    expect(rx.visit).toEqual({ type: 'follow_up', priorDiagnosisRef: 'OPD-2025-118204', department: '心血管内科' });
    expect(rx.diagnoses).toEqual([{ code: 'I10', name: '原发性高血压' }, { code: 'E11.9', name: '2型糖尿病' }]);
    expect(rx.patient).toMatchObject({ pregnant: true, gender: 'F', allergies: ['青霉素', '磺胺'] });
    expect(rx.chronic).toBe(false);
    expect(rx.lines[0]).toMatchObject({ timesPerDay: 3, frequency: 'tid', dosage: '0.5g', doseMg: 500, route: '口服', days: 7 });
  });

  it('reads lactation, weight and renal function from Observations, the latest of each kind', () => {
    const clinical = { lactating: true, weightKg: 62.5, renal: { egfr: 48, creatinineUmolL: 120, measuredOn: '2026-11-20' } };
    const content = demoPrescriptionContent({ patient: { gender: 'F', ...clinical } });
    const b = fhirBundleFor(content);
    expect(unsigned(b)).toMatchObject({ ok: true, prescription: content });
    // An older eGFR in another unit system, and a serum creatinine in mg/dL: the latest counts, converted.
    const patientUrl = b.entry![idx(b, 'Patient')].fullUrl!;
    const obs = (code: string, value: number, unit: string, at: string) => ({ resource: { resourceType: 'Observation', status: 'final', subject: { reference: patientUrl },
      code: { coding: [{ system: SYSTEM.loinc, code }] }, effectiveDateTime: at, valueQuantity: { value, unit, system: SYSTEM.ucum, code: unit } } as any });
    b.entry!.push(obs('33914-3', 90, 'mL/min/{1.73_m2}', '2025-01-01'), obs('2160-0', 1.5, 'mg/dL', '2026-11-22'));
    const m = unsigned(b);
    expect(m.ok && (m.prescription as any).patient.renal).toEqual({ egfr: 48, creatinineUmolL: 132.6, measuredOn: '2026-11-22' });
    // A quantity in a unit rxflow cannot convert is named, not guessed.
    b.entry!.push(obs('29463-7', 130, '[lb_av]', '2026-11-23'));
    expect(issuesOf(unsigned(b))).toEqual([{ path: `Bundle.entry[${b.entry!.length - 1}].resource.valueQuantity`, code: 'FHIR_INVALID_VALUE', message: expect.stringMatching(/kg/) }]);
  });

  it('reads an amendment from priorPrescription: the version it replaces, and which prescription', () => {
    const prior = '6f1c2d9e-3b4a-4c5d-8e7f-0123456789ab';
    const b = fhirBundleFor(demoPrescriptionContent({ extra: { amends: { version: 1, prescriptionId: prior } } }));
    const m = unsigned(b);
    expect(m.ok && (m.prescription as any).amends).toEqual({ version: 1, prescriptionId: prior });
    const i = idx(b, 'MedicationRequest');
    const mr = res(b, 'MedicationRequest') as MedicationRequest;
    mr.priorPrescription = { reference: 'Patient/1' };
    expect(issuesOf(unsigned(b)).map((x) => [x.path, x.code])).toEqual([
      [`Bundle.entry[${i + 1}].resource.priorPrescription`, 'FHIR_INCONSISTENT'],
      [`Bundle.entry[${i}].resource.priorPrescription.reference`, 'FHIR_INVALID_VALUE'],
      [`Bundle.entry[${i}].resource.priorPrescription.extension`, 'FHIR_REQUIRED'],
    ]);
  });

  it('lists the medication codings a Bundle asks about, so the API loads only those drugs', () => {
    const b = fhirBundleFor(demoPrescriptionContent(), { coding: 'insurance' });
    expect(medicationCodings(b)).toEqual([
      { system: SYSTEM.insuranceDrugCode, code: drugByName('苯磺酸氨氯地平片').insuranceCode },
      { system: SYSTEM.insuranceDrugCode, code: drugByName('二甲双胍').insuranceCode },
    ]);
    expect(medicationCodings({ nonsense: true })).toEqual([]);
  });

  it('refuses a Bundle without a MedicationRequest', () => {
    const b = fhirBundleFor(demoPrescriptionContent());
    b.entry = b.entry!.filter((e) => e.resource?.resourceType !== 'MedicationRequest');
    const issues = issuesOf(unsigned(b));
    expect(issues).toEqual([{ path: 'Bundle.entry', code: 'FHIR_REQUIRED', message: expect.stringMatching(/MedicationRequest/) }]);
  });

  it('names the dosageInstruction of the line that has none, and nothing else', () => {
    const b = fhirBundleFor(demoPrescriptionContent());
    const i = idx(b, 'MedicationRequest');
    delete (b.entry![i].resource as MedicationRequest).dosageInstruction;
    expect(issuesOf(unsigned(b))).toEqual([{ path: `Bundle.entry[${i}].resource.dosageInstruction[0]`, code: 'FHIR_REQUIRED', message: expect.any(String) }]);
  });

  it('names the dose when the instruction has no doseQuantity', () => {
    const b = fhirBundleFor(demoPrescriptionContent());
    const i = idx(b, 'MedicationRequest') + 1; // the second line
    delete (b.entry![i].resource as MedicationRequest).dosageInstruction![0].doseAndRate;
    expect(issuesOf(unsigned(b))).toEqual([{ path: `Bundle.entry[${i}].resource.dosageInstruction[0].doseAndRate[0].doseQuantity`, code: 'FHIR_REQUIRED', message: expect.any(String) }]);
  });

  it('names the coding of an unknown drug, and a coding system it cannot resolve', () => {
    const b = fhirBundleFor(demoPrescriptionContent());
    const i = idx(b, 'MedicationRequest');
    (b.entry![i].resource as MedicationRequest).medicationCodeableConcept = { coding: [{ system: SYSTEM.insuranceDrugCode, code: 'XNOSUCHCODE' }] };
    (b.entry![i + 1].resource as MedicationRequest).medicationCodeableConcept = { coding: [{ system: 'http://www.whocc.no/atc', code: 'A10BA02' }] };
    expect(issuesOf(unsigned(b))).toEqual([
      { path: `Bundle.entry[${i}].resource.medicationCodeableConcept.coding[0]`, code: 'FHIR_UNKNOWN_DRUG', message: expect.stringMatching(/XNOSUCHCODE/) },
      { path: `Bundle.entry[${i + 1}].resource.medicationCodeableConcept.coding`, code: 'FHIR_UNKNOWN_DRUG_SYSTEM', message: expect.any(String) },
    ]);
  });

  it('refuses an ambiguous coding and codings that name two different drugs', () => {
    const amb = catalogueOf([{ code: 'A1', insuranceCode: 'SAME', approvalNumber: 'X1' }, { code: 'A2', insuranceCode: 'SAME', approvalNumber: 'X2' }]);
    expect(amb.resolve(SYSTEM.insuranceDrugCode, 'SAME')).toEqual(['A1', 'A2']);
    const b = fhirBundleFor(demoPrescriptionContent());
    const i = idx(b, 'MedicationRequest');
    const other = drugByName('二甲双胍');
    (b.entry![i].resource as MedicationRequest).medicationCodeableConcept!.coding!.push({ system: SYSTEM.approvalNumber, code: other.approvalNumber });
    expect(issuesOf(unsigned(b))).toEqual([{ path: `Bundle.entry[${i}].resource.medicationCodeableConcept.coding[1]`, code: 'FHIR_INCONSISTENT', message: expect.any(String) }]);
  });

  it('refuses what is not a Bundle, a resource it does not take, and a reference to the wrong type', () => {
    expect(issuesOf(unsigned({ resourceType: 'MedicationRequest' } as any))).toEqual([{ path: 'Bundle.resourceType', code: 'FHIR_NOT_A_BUNDLE', message: expect.any(String) }]);
    const b = fhirBundleFor(demoPrescriptionContent());
    b.type = 'batch';
    b.entry!.push({ fullUrl: 'urn:uuid:00000000-0000-4000-8000-000000000001', resource: { resourceType: 'MedicationStatement', status: 'active', subject: {}, medicationCodeableConcept: {} } as any });
    const i = idx(b, 'MedicationRequest');
    const practitionerUrl = b.entry![idx(b, 'Practitioner')].fullUrl!;
    (b.entry![i].resource as MedicationRequest).subject = { reference: practitionerUrl };
    expect(issuesOf(unsigned(b))).toEqual([
      { path: 'Bundle.type', code: 'FHIR_BUNDLE_TYPE', message: expect.any(String) },
      { path: `Bundle.entry[${b.entry!.length - 1}].resource.resourceType`, code: 'FHIR_UNSUPPORTED_RESOURCE', message: expect.stringMatching(/MedicationStatement/) },
      // The first line names the Practitioner: that reference is wrong, and the next line disagrees with it.
      { path: `Bundle.entry[${i + 1}].resource.subject`, code: 'FHIR_INCONSISTENT', message: expect.any(String) },
      { path: `Bundle.entry[${i}].resource.subject.reference`, code: 'FHIR_WRONG_REFERENCE_TYPE', message: expect.stringMatching(/Practitioner; expected Patient/) },
    ]);
    // All lines pointing at the Practitioner: the reference itself is the problem.
    for (const e of b.entry!) if (e.resource?.resourceType === 'MedicationRequest') (e.resource as MedicationRequest).subject = { reference: practitionerUrl };
    expect(issuesOf(unsigned(b))).toContainEqual({ path: `Bundle.entry[${i}].resource.subject.reference`, code: 'FHIR_WRONG_REFERENCE_TYPE', message: expect.stringMatching(/Practitioner.*Patient/) });
  });

  it('refuses lines of one Bundle that disagree on the prescription number', () => {
    const b = fhirBundleFor(demoPrescriptionContent());
    const i = idx(b, 'MedicationRequest') + 1;
    (b.entry![i].resource as MedicationRequest).groupIdentifier = { value: 'OTHER-1' };
    expect(issuesOf(unsigned(b))).toEqual([{ path: `Bundle.entry[${i}].resource.groupIdentifier`, code: 'FHIR_INCONSISTENT', message: expect.any(String) }]);
  });

  it('translates the intake schema\'s own errors to FHIR paths', () => {
    const b = fhirBundleFor(demoPrescriptionContent());
    const p = idx(b, 'Patient');
    res(b, 'Patient').birthDate = '1958';         // a FHIR partial date; rxflow needs the day for age rules
    res(b, 'Patient').telecom = [{ system: 'phone', value: 'call me' }];
    const m = unsigned(b);
    expect(issuesOf(m).map((i) => [i.path, i.code])).toEqual([
      [`Bundle.entry[${p}].resource.birthDate`, 'FHIR_SCHEMA'],
      [`Bundle.entry[${p}].resource.telecom[0]`, 'FHIR_SCHEMA'],
    ]);
  });

  it('needs the follow-up Encounter, a department and a visit type', () => {
    const b = fhirBundleFor(demoPrescriptionContent());
    const e = idx(b, 'Encounter');
    res(b, 'Encounter').type = [];
    delete res(b, 'Encounter').serviceType;
    expect(issuesOf(unsigned(b))).toEqual([
      { path: `Bundle.entry[${e}].resource.type`, code: 'FHIR_REQUIRED', message: expect.any(String) },
      { path: `Bundle.entry[${e}].resource.serviceType`, code: 'FHIR_REQUIRED', message: expect.any(String) },
    ]);
    const noEnc = fhirBundleFor(demoPrescriptionContent());
    for (const x of noEnc.entry!) if (x.resource?.resourceType === 'MedicationRequest') delete (x.resource as MedicationRequest).encounter;
    expect(issuesOf(unsigned(noEnc))).toEqual([{ path: `Bundle.entry[${idx(noEnc, 'MedicationRequest')}].resource.encounter`, code: 'FHIR_REQUIRED', message: expect.any(String) }]);
  });

  it('translates intake rule paths to the FHIR element they came from', () => {
    const content = demoPrescriptionContent();
    content.visit = { type: 'first', department: '心血管内科' };
    const b = fhirBundleFor(content);
    const m = unsigned(b);
    if (!m.ok) throw new Error(JSON.stringify(m.issues));
    const v = checkIntake(m.prescription as any, { now: new Date(), doctor: { code: 'D001', licensed: true, authorised: true }, drugs: DRUGS });
    expect(v.map((x) => x.code)).toEqual(['RX_FIRST_VISIT']);
    expect(m.paths.toFhir('$.visit.type')).toBe(`Bundle.entry[${idx(b, 'Encounter')}].resource.type[0]`);
    expect(m.paths.toFhir('$.lines[1].days')).toBe(`Bundle.entry[${idx(b, 'MedicationRequest') + 1}].resource.dispenseRequest.expectedSupplyDuration`);
    expect(m.paths.toFhir('$.patient.guardian')).toBe(`Bundle.entry[${idx(b, 'Patient')}].resource.contact`);
    expect(m.paths.toFhir('$.doctor.code')).toBe(`Bundle.entry[${idx(b, 'Practitioner')}].resource.identifier[0]`);
    expect(m.paths.toFhir('$.nothing.mapped')).toBe('Bundle');
    expect(new PathMap().toFhir(undefined)).toBe('Bundle');
  });
});

describe('FHIR signature carriage', () => {
  const keys: RegisteredKey[] = [{ keyId: 'k1', alg: 'ES256', publicKeyPem: '', validFrom: '2020-01-01T00:00:00Z', validTo: '2099-01-01T00:00:00Z', revoked: false }];
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  keys[0].publicKeyPem = pair.publicKey.export({ type: 'spki', format: 'pem' }) as string;

  it('signs the mapped prescription and verifies with the JSON intake\'s code', () => {
    const b = signBundle(fhirBundleFor(demoPrescriptionContent()), 'k1', pair.privateKey, demoCatalogue);
    expect(b.signature).toMatchObject({
      who: { reference: res(b, 'MedicationRequest').requester.reference },
      extension: [{ url: EXTENSION.signatureAlg, valueCode: 'ES256' }, { url: EXTENSION.signatureKeyId, valueString: 'k1' }],
    });
    const m = mapFhirBundle(b, demoCatalogue);
    if (!m.ok) throw new Error(JSON.stringify(m.issues));
    expect(verifyPrescriptionSignature(m.prescription, keys, new Date())).toEqual({ ok: true });
    expect(signingInput(b, demoCatalogue)).toBe(canonicalContent(m.prescription));
  });

  it('carries an SM2-SM3 signature the same way', () => {
    const sm2 = generateSigningKey('SM2-SM3');
    const smKeys: RegisteredKey[] = [{ ...keys[0], keyId: 'sm1', alg: 'SM2-SM3', publicKeyPem: sm2.publicKeyPem }];
    const b = signBundle(fhirBundleFor(demoPrescriptionContent()), 'sm1', sm2.privateKeyPem, demoCatalogue, new Date(), { alg: 'SM2-SM3' });
    expect(b.signature!.extension![0]).toEqual({ url: EXTENSION.signatureAlg, valueCode: 'SM2-SM3' });
    const m = mapFhirBundle(b, demoCatalogue);
    expect(m.ok && verifyPrescriptionSignature(m.prescription, smKeys, new Date())).toEqual({ ok: true });
  });

  it('fails verification when a signed element is changed, and not when an unmapped one is', () => {
    const b = signBundle(fhirBundleFor(demoPrescriptionContent()), 'k1', pair.privateKey, demoCatalogue);
    const tampered = clone(b);
    (tampered.entry!.find((e) => e.resource?.resourceType === 'MedicationRequest')!.resource as MedicationRequest).dispenseRequest!.quantity!.value = 9;
    const t = mapFhirBundle(tampered, demoCatalogue);
    expect(t.ok && verifyPrescriptionSignature(t.prescription, keys, new Date())).toMatchObject({ ok: false, code: 'SIGNATURE_INVALID' });
    // Bundle metadata is not prescription content: a new timestamp does not break the signature.
    const stamped = { ...clone(b), timestamp: '2030-01-01T00:00:00Z' };
    const s = mapFhirBundle(stamped, demoCatalogue);
    expect(s.ok && verifyPrescriptionSignature(s.prescription, keys, new Date())).toEqual({ ok: true });
  });

  it('requires the signature, its key and alg, and the prescriber as signer', () => {
    const b = signBundle(fhirBundleFor(demoPrescriptionContent()), 'k1', pair.privateKey, demoCatalogue);
    const none = clone(b); delete none.signature;
    expect(issuesOf(mapFhirBundle(none, demoCatalogue))).toEqual([{ path: 'Bundle.signature', code: 'FHIR_REQUIRED', message: expect.any(String) }]);
    const bare = clone(b); bare.signature!.extension = [];
    expect(issuesOf(mapFhirBundle(bare, demoCatalogue)).map((i) => i.path)).toEqual(['Bundle.signature.extension', 'Bundle.signature.extension']);
    const other = clone(b);
    other.entry!.push({ fullUrl: 'urn:uuid:00000000-0000-4000-8000-0000000000aa', resource: { resourceType: 'Practitioner', identifier: [{ value: 'NURSE' }] } });
    other.signature!.who = { reference: 'urn:uuid:00000000-0000-4000-8000-0000000000aa' };
    expect(issuesOf(mapFhirBundle(other, demoCatalogue))).toEqual([{ path: 'Bundle.signature.who.reference', code: 'FHIR_SIGNATURE_SIGNER', message: expect.any(String) }]);
  });
});

describe('FHIR status mapping', () => {
  it('maps every internal status to valid R4 MedicationRequest and Task statuses', () => {
    expect(Object.keys(FHIR_STATUS).sort()).toEqual([...MODEL_STATUSES].sort());
    for (const s of PRESCRIPTION_STATUSES) {
      const f = fhirStatusOf(s);
      expect(MEDICATION_REQUEST_STATUSES).toContain(f.medicationRequest);
      expect(TASK_STATUSES).toContain(f.task);
      expect(f.en.length).toBeGreaterThan(0);
      expect(f.zh.length).toBeGreaterThan(0);
    }
    expect(() => fhirStatusOf('nonsense' as any)).toThrow(/no FHIR status/);
  });

  it('ends the Task when the prescription ends, and never reopens an ended Task or a withdrawn order', () => {
    for (const s of PRESCRIPTION_STATUSES) if (isTerminal(s)) expect(TERMINAL_TASK_STATUSES).toContain(FHIR_STATUS[s].task);
    for (const from of PRESCRIPTION_STATUSES) {
      for (const to of PRESCRIPTION_STATUSES) {
        if (!canTransition(from, to)) continue;
        if (TERMINAL_TASK_STATUSES.includes(FHIR_STATUS[from].task)) expect([from, to, FHIR_STATUS[to].task]).toEqual([from, to, FHIR_STATUS[from].task]);
        if (FHIR_STATUS[from].medicationRequest !== 'active') expect([from, to, FHIR_STATUS[to].medicationRequest]).not.toEqual([from, to, 'active']);
      }
    }
  });

  it('reads the review step as the Task moving from received to accepted', () => {
    expect([FHIR_STATUS.in_review.task, FHIR_STATUS.approved.task, FHIR_STATUS.rejected.task]).toEqual(['received', 'accepted', 'rejected']);
    expect([FHIR_STATUS.in_review.medicationRequest, FHIR_STATUS.dispensed.medicationRequest, FHIR_STATUS.cancelled.medicationRequest]).toEqual(['active', 'completed', 'cancelled']);
  });
});

describe('FHIR resources of a stored prescription', () => {
  const id = '6f1c2d9e-3b4a-4c5d-8e7f-0123456789ab';
  const content = demoPrescriptionContent({ rxNo: 'RX-FHIR-1' });
  const view: PrescriptionView = {
    id, rxNo: 'RX-FHIR-1', status: 'rejected', issuedAt: new Date(content.issuedAt), expiresAt: new Date(Date.parse(content.issuedAt) + 86_400_000),
    createdAt: new Date(), updatedAt: new Date(), content, rejection: { reasons: ['EXCESS_QUANTITY'], comment: '剂量过大' },
    lines: content.lines.map((l: any, i: number) => ({ lineNo: i + 1, drugCode: l.drugCode, drugName: DRUGS.get(l.drugCode)!.genericNameZh, quantity: l.quantity, dosage: l.dosage, frequency: l.frequency, route: l.route, days: l.days })),
  };

  it('builds one MedicationRequest per line and one Task, ids by the documented scheme', () => {
    const mrs = toMedicationRequests(view);
    expect(mrs.map((m) => m.id)).toEqual([`${id}-1`, `${id}-2`]);
    expect(mrs[0]).toMatchObject({
      status: 'cancelled', statusReason: { coding: [{ system: SYSTEM.reviewReason, code: 'EXCESS_QUANTITY' }], text: expect.stringMatching(/EXCESS_QUANTITY — 剂量过大/) }, intent: 'order',
      groupIdentifier: { value: 'RX-FHIR-1' }, medicationCodeableConcept: { coding: [{ system: SYSTEM.drugCode, code: content.lines[0].drugCode }] },
      dispenseRequest: { quantity: { value: 1 }, expectedSupplyDuration: { value: 7, code: 'd' } },
      dosageInstruction: [{ timing: { code: { coding: [{ code: 'QD' }] }, repeat: { frequency: 1, period: 1, periodUnit: 'd' } }, route: { text: '口服' } }],
    });
    const task = toTask(view);
    expect(task).toMatchObject({
      id, status: 'rejected', focus: { reference: `MedicationRequest/${id}-1` }, basedOn: [{ reference: `MedicationRequest/${id}-1` }, { reference: `MedicationRequest/${id}-2` }],
      businessStatus: { coding: [{ system: SYSTEM.prescriptionStatus, code: 'rejected' }], text: '审方驳回' },
    });
  });

  it('parses MedicationRequest ids: the prescription, or one line of it', () => {
    expect(parseMedicationRequestId(`${id}-2`)).toEqual({ prescriptionId: id, lineNo: 2 });
    expect(parseMedicationRequestId(id.toUpperCase())).toEqual({ prescriptionId: id, lineNo: null });
    for (const bad of [`${id}-0`, `${id}-x`, 'RX0001', `${id}-1-1`]) expect(parseMedicationRequestId(bad)).toBeNull();
  });
});

describe('FHIR OperationOutcome', () => {
  it('keeps the house code, message and every detail with its FHIR path', () => {
    const err = { code: 'RX_RULES_VIOLATED', message: 'the prescription breaks 1 prescribing rule(s): RX_FIRST_VISIT', details: [{ path: 'Bundle.entry[3].resource.type[0]', code: 'RX_FIRST_VISIT', message: 'follow-up visits only' }] };
    const oo = operationOutcome(422, err);
    expect(oo.issue).toEqual([
      { severity: 'error', code: 'business-rule', details: { coding: [{ system: SYSTEM.errorCode, code: 'RX_RULES_VIOLATED' }], text: err.message }, diagnostics: err.message },
      { severity: 'error', code: 'business-rule', details: { coding: [{ system: SYSTEM.errorCode, code: 'RX_FIRST_VISIT' }], text: 'follow-up visits only' }, diagnostics: 'follow-up visits only', expression: ['Bundle.entry[3].resource.type[0]'] },
    ]);
    expect(houseErrorOf(oo)).toEqual(err);
    expect(operationOutcome(400, { code: 'FHIR_BUNDLE_INVALID', message: 'x', details: [{ path: 'Bundle.entry', code: 'FHIR_REQUIRED', message: 'y' }] }).issue[1].code).toBe('required');
    expect(operationOutcome(422, { code: 'SIGNATURE_INVALID', message: 'x' }).issue[0].code).toBe('security');
    expect(operationOutcome(503, { code: 'DEPENDENCY_UNAVAILABLE', message: 'x' }).issue[0]).toMatchObject({ severity: 'fatal', code: 'transient' });
  });
});

describe('FHIR intake robustness', () => {
  it('agrees that a fullUrl and a Type/id naming one resource are the same reference', () => {
    const b = fhirBundleFor(demoPrescriptionContent());
    const p = b.entry![idx(b, 'Patient')];
    (p.resource as any).id = 'p1';
    (b.entry!.filter((e) => e.resource?.resourceType === 'MedicationRequest')[1].resource as MedicationRequest).subject = { reference: 'Patient/p1' };
    expect(unsigned(b).ok).toBe(true);
  });

  it('answers issues, never throws, for malformed Bundles', () => {
    // Deterministic mutations of valid signed Bundles: every element replaced by each odd value in turn.
    const odd: unknown[] = [null, 'x', 7, [], {}, [null], { reference: 7 }, true, [7], ['x'], { coding: 'x' }, { coding: [7] }];
    let n = 0;
    for (const type of ['document', 'transaction'] as const) {
      const patient = { guardian: { name: '张丽', relation: '女儿', phone: '13900000000' }, pregnant: true, lactating: false, weightKg: 60, renal: { egfr: 50, crcl: 55, creatinineUmolL: 110, measuredOn: '2026-11-01' } };
      const base = signBundle(fhirBundleFor(demoPrescriptionContent({ patient }), { type }),
        'k', generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, demoCatalogue);
      const paths: (string | number)[][] = [];
      const walk = (v: unknown, at: (string | number)[]) => {
        if (at.length) paths.push(at);
        if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...at, Array.isArray(v) ? Number(k) : k]);
      };
      walk(base, []);
      for (const path of paths) {
        for (const value of odd) {
          const b = clone(base) as any;
          let o = b;
          for (const k of path.slice(0, -1)) o = o[k];
          o[path.at(-1)!] = value;
          expect(() => mapFhirBundle(b, demoCatalogue)).not.toThrow();
          n++;
        }
      }
    }
    expect(n).toBeGreaterThan(5000);
  });
});

describe('docs/fhir.md', () => {
  const doc = fs.readFileSync(path.resolve(__dirname, '../../docs/fhir.md'), 'utf8');
  it('lists every mapping issue code and every code the FHIR routes answer', () => {
    const src = (f: string) => fs.readFileSync(path.resolve(__dirname, '../..', f), 'utf8');
    const issueCodes = [...src('domain/fhir/intake.ts').matchAll(/\| '(FHIR_[A-Z_]+)'/g)].map((m) => m[1]);
    const routeCodes = [...src('api/routes/fhir.ts').matchAll(/ApiError\(\s*\d{3},\s*'([A-Z_]+)'/g)].map((m) => m[1]);
    expect(issueCodes.length).toBeGreaterThan(10);
    expect([...issueCodes, ...routeCodes].filter((c) => !doc.includes(`\`${c}\``))).toEqual([]);
  });

  it('shows the status table exactly as domain/fhir/status.ts maps it', () => {
    for (const s of PRESCRIPTION_STATUSES) {
      const f = FHIR_STATUS[s];
      expect(doc).toContain(`| \`${s}\` | ${f.medicationRequest} | ${f.task} | ${f.en} / ${f.zh} |`);
    }
  });
});
