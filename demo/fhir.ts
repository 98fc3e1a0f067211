// The demo hospital's HIS speaking FHIR R4: the same prescriptions as demo/prescriptions.ts, as a
// Bundle of MedicationRequest lines with their Patient, Practitioner, Encounter and Conditions, signed
// with the demo hospital's key. The test helper for FHIR intake and an example for integrators.
import { randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, FhirResource, MedicationRequest } from 'fhir/r4';
import drugsJson from '../catalog/data/drugs.json';
import type { Drug } from '../domain/types';
import { catalogueOf } from '../domain/fhir/intake';
import { signBundle } from '../domain/fhir/sign';
import { EXTENSION, LACTATION, PREGNANCY, SYSTEM } from '../domain/fhir/systems';
import { DEMO, DEMO_PRIVATE_KEY } from './fixtures';
import { demoPrescriptionContent, type DemoRxOptions } from './prescriptions';

const DRUGS = drugsJson as Drug[];
export const demoCatalogue = catalogueOf(DRUGS);

export type DrugCodingStyle = 'rxflow' | 'insurance' | 'approval';
export interface FhirBundleOptions { type?: 'transaction' | 'collection' | 'document'; coding?: DrugCodingStyle }

const TIMING = new Set(['qd', 'bid', 'tid', 'qid']);

/** The FHIR Bundle for an internal prescription's content (docs/fhir.md's mapping table, backwards). */
export function fhirBundleFor(c: Record<string, any>, o: FhirBundleOptions = {}): Bundle {
  const url = () => `urn:uuid:${randomUUID()}`;
  const [patientUrl, doctorUrl, encounterUrl, coverageUrl] = [url(), url(), url(), url()];
  const p = c.patient;
  const entries: { fullUrl: string; resource: FhirResource }[] = [];
  const add = (fullUrl: string, resource: FhirResource) => { entries.push({ fullUrl, resource }); return fullUrl; };

  add(patientUrl, {
    resourceType: 'Patient',
    identifier: [
      { type: { coding: [{ system: SYSTEM.v2IdentifierType, code: 'MR' }] }, system: SYSTEM.patientRef, value: p.ref },
      ...(p.idNumber ? [{ type: { coding: [{ system: SYSTEM.v2IdentifierType, code: 'NNCHN' }] }, value: p.idNumber }] : []),
    ],
    name: [{ text: p.name }],
    gender: p.gender === 'M' ? 'male' : 'female',
    birthDate: p.birthDate,
    telecom: [{ system: 'phone', use: 'mobile', value: p.phone }],
    address: [{
      text: p.address.text,
      extension: [{ url: EXTENSION.geolocation, extension: [{ url: 'latitude', valueDecimal: p.address.lat }, { url: 'longitude', valueDecimal: p.address.lng }] }],
    }],
    ...(p.guardian ? {
      contact: [{
        relationship: [{ coding: [{ system: SYSTEM.v3RoleCode, code: 'GUARD' }], text: p.guardian.relation }],
        name: { text: p.guardian.name },
        telecom: [{ system: 'phone', value: p.guardian.phone }],
      }],
    } : {}),
  });
  add(doctorUrl, { resourceType: 'Practitioner', identifier: [{ system: SYSTEM.doctorCode, value: c.doctor.code }], name: [{ text: c.doctor.name }] });
  const conditionUrls = (c.diagnoses as { code: string; name: string }[]).map((d, i) => add(url(), {
    resourceType: 'Condition',
    // The first diagnosis was made offline; its record number is the "prior diagnosis" the follow-up continues.
    ...(i === 0 && c.visit.priorDiagnosisRef ? { identifier: [{ value: c.visit.priorDiagnosisRef }] } : {}),
    code: { coding: [{ system: SYSTEM.icd10, code: d.code, display: d.name }] },
    subject: { reference: patientUrl },
  }));
  add(encounterUrl, {
    resourceType: 'Encounter',
    status: 'finished',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'VR', display: 'virtual' },
    type: [{ coding: [{ system: SYSTEM.visitType, code: c.visit.type === 'first' ? 'first' : 'follow-up' }] }],
    serviceType: { text: c.visit.department },
    subject: { reference: patientUrl },
    diagnosis: conditionUrls.map((reference) => ({ condition: { reference } })),
  });
  for (const a of p.allergies ?? []) {
    add(url(), {
      resourceType: 'AllergyIntolerance', patient: { reference: patientUrl }, code: { text: a },
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }] }, // R4 invariant ait-1
    });
  }
  if (p.pregnant) {
    add(url(), {
      resourceType: 'Observation', status: 'final', subject: { reference: patientUrl },
      code: { coding: [{ system: SYSTEM.loinc, code: PREGNANCY.observation }] },
      valueCodeableConcept: { coding: [{ system: SYSTEM.snomed, code: PREGNANCY.pregnant }] },
    });
  }
  if (p.lactating !== undefined) {
    add(url(), {
      resourceType: 'Observation', status: 'final', subject: { reference: patientUrl },
      code: { coding: [{ system: SYSTEM.loinc, code: LACTATION.observation, display: 'Breastfeeding status' }] },
      valueCodeableConcept: { coding: [{ system: SYSTEM.loinc, code: p.lactating ? LACTATION.yes : LACTATION.no }] },
    });
  }
  const measured = (code: string, value: number, unit: string, at?: string) => add(url(), {
    resourceType: 'Observation', status: 'final', subject: { reference: patientUrl },
    code: { coding: [{ system: SYSTEM.loinc, code }] },
    ...(at ? { effectiveDateTime: at } : {}),
    valueQuantity: { value, unit, system: SYSTEM.ucum, code: unit },
  });
  if (p.weightKg !== undefined) measured('29463-7', p.weightKg, 'kg');
  const at = p.renal?.measuredOn;
  if (p.renal?.egfr !== undefined) measured('62238-1', p.renal.egfr, 'mL/min/{1.73_m2}', at);
  if (p.renal?.crcl !== undefined) measured('2164-2', p.renal.crcl, 'mL/min', at);
  if (p.renal?.creatinineUmolL !== undefined) measured('14682-9', p.renal.creatinineUmolL, 'umol/L', at);
  if (c.insurance) {
    const ins = c.insurance;
    const money = (url: string, fen: number | undefined) => (fen === undefined ? [] : [{ url, valueMoney: { value: fen / 100, currency: 'CNY' } }]);
    add(coverageUrl, {
      resourceType: 'Coverage', status: 'active', beneficiary: { reference: patientUrl }, payor: [{ display: ins.planId }],
      subscriberId: ins.memberId,
      class: [{ type: { coding: [{ system: SYSTEM.coverageClass, code: 'plan' }] }, value: ins.planId }],
      extension: [
        ...(ins.visitType ? [{ url: EXTENSION.insuranceVisitType, valueCode: ins.visitType }] : []),
        ...money(EXTENSION.deductibleUsed, ins.deductibleUsedFen),
        ...money(EXTENSION.paidThisYear, ins.paidThisYearFen),
      ],
    });
  }
  const requestUrls = (c.lines as any[]).map((l) => {
    const drug = DRUGS.find((d) => d.code === l.drugCode);
    const coding = o.coding === 'insurance' ? { system: SYSTEM.insuranceDrugCode, code: drug?.insuranceCode }
      : o.coding === 'approval' ? { system: SYSTEM.approvalNumber, code: drug?.approvalNumber }
      : { system: SYSTEM.drugCode, code: l.drugCode };
    const mr: MedicationRequest = {
      resourceType: 'MedicationRequest',
      status: 'active',
      intent: 'order',
      groupIdentifier: { system: SYSTEM.rxNo, value: c.rxNo },
      medicationCodeableConcept: { coding: [{ ...coding, display: drug?.genericNameZh }] },
      subject: { reference: patientUrl },
      encounter: { reference: encounterUrl },
      authoredOn: c.issuedAt,
      requester: { reference: doctorUrl },
      ...(c.chronic !== undefined ? { courseOfTherapyType: { coding: [{ system: SYSTEM.courseOfTherapy, code: c.chronic ? 'continuous' : 'acute' }] } } : {}),
      extension: [
        ...(c.longTermReason ? [{ url: EXTENSION.longTermReason, valueString: c.longTermReason }] : []),
        ...(c.fulfilment ? [{ url: EXTENSION.fulfilmentMode, valueCode: c.fulfilment.mode }] : []),
      ],
      ...(c.insurance ? { insurance: [{ reference: coverageUrl }] } : {}),
      ...(c.amends ? {
        priorPrescription: {
          ...(c.amends.prescriptionId ? { reference: `MedicationRequest/${c.amends.prescriptionId}-1` } : {}),
          extension: [{ url: EXTENSION.amendsVersion, valueInteger: c.amends.version }],
        },
      } : {}),
      dosageInstruction: [{
        text: `${l.dosage} ${l.frequency} ${l.route}`,
        timing: {
          ...(TIMING.has(l.frequency) ? { code: { coding: [{ system: SYSTEM.timingAbbreviation, code: l.frequency.toUpperCase() }] } } : {}),
          repeat: { frequency: l.timesPerDay, period: 1, periodUnit: 'd' },
        },
        route: { text: l.route },
        doseAndRate: [{ doseQuantity: doseQuantityOf(l) }],
      }],
      dispenseRequest: {
        validityPeriod: { start: c.issuedAt, end: new Date(Date.parse(c.issuedAt) + (c.validDays ?? 1) * 86_400_000).toISOString() },
        quantity: { value: l.quantity },
        expectedSupplyDuration: { value: l.days, unit: 'd', system: SYSTEM.ucum, code: 'd' },
      },
      ...(l.allowSubstitution !== undefined ? { substitution: { allowedBoolean: l.allowSubstitution } } : {}),
    };
    if (!mr.extension!.length) delete mr.extension;
    return add(url(), mr);
  });

  const type = o.type ?? 'transaction';
  if (type === 'document') {
    entries.unshift({
      fullUrl: url(),
      resource: {
        resourceType: 'Composition', status: 'final', date: c.issuedAt, title: `处方 ${c.rxNo}`,
        type: { coding: [{ system: SYSTEM.loinc, code: '57833-6', display: 'Prescription for medication' }] },
        subject: { reference: patientUrl }, author: [{ reference: doctorUrl }],
        section: [{ title: '药品', entry: requestUrls.map((reference) => ({ reference })) }],
      },
    });
  }
  return {
    resourceType: 'Bundle',
    type,
    identifier: { system: `${SYSTEM.rxNo}/bundle`, value: `${c.rxNo}-${randomUUID().slice(0, 8)}` },
    timestamp: new Date().toISOString(),
    entry: entries.map((e): BundleEntry => ({ ...e, ...(type === 'transaction' ? { request: { method: 'POST', url: e.resource.resourceType } } : {}) })),
  };
}

/** "1片" stays a count of 片; "0.5g" / "10mg" become UCUM quantities. */
function doseQuantityOf(l: { dosage: string; doseMg?: number }) {
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*(.*)$/.exec(l.dosage);
  const value = m ? Number(m[1]) : 1;
  const unit = m ? m[2] : l.dosage;
  return ['mg', 'g'].includes(unit) ? { value, unit, system: SYSTEM.ucum, code: unit } : { value, unit };
}

export function signFhirAsDemoHospital(bundle: Bundle, keyId = DEMO.hospital.signingKeyId): Bundle {
  return signBundle(bundle, keyId, DEMO_PRIVATE_KEY, demoCatalogue);
}

/** A signed demo Bundle; the same prescription as demoPrescriptionContent(o) would be as JSON. */
export function demoFhirBundle(o: DemoRxOptions & FhirBundleOptions = {}): { bundle: Bundle; content: Record<string, any> } {
  const content = demoPrescriptionContent(o);
  return { bundle: signFhirAsDemoHospital(fhirBundleFor(content, o)), content };
}
