// A stored prescription as FHIR R4 resources, whichever format it arrived in: one MedicationRequest per
// line and one Task for rxflow's work of filling it, both carrying the current status (./status.ts).
// Id scheme: MedicationRequest `<prescription uuid>-<line no>`, Task `<prescription uuid>`.
import type { Bundle, CodeableConcept, FhirResource, MedicationRequest, Reference, Task } from 'fhir/r4';
import type { PrescriptionStatus } from '../prescription-status';
import { externalStatus, isValidCombination, type Combination } from '../status-model';
import { fhirStatusOf } from './status';
import { EXTENSION_DELIVERY_ETA, EXTENSION_DELIVERY_LATE, EXTENSION_PATIENT_STATUS, SYSTEM } from './systems';

export interface PrescriptionView {
  id: string;
  rxNo: string;
  status: PrescriptionStatus;
  issuedAt: Date;
  expiresAt: Date;
  createdAt: Date;
  updatedAt: Date;
  /** The signed submission as stored (domain/prescription.ts shape). */
  content: Record<string, any>;
  lines: { lineNo: number; drugCode: string; drugName: string; quantity: number; dosage: string; frequency: string; route: string; days: number }[];
  /** The pharmacist's decision, when rejected: reason codes (docs/review.md) and free text. */
  rejection?: { reasons: string[]; comment?: string | null };
  /** Row ids the resources reference (Patient/, Practitioner/, Organization/ resolve through the API). */
  patientId?: string | null;
  doctorId?: string;
  /** Where it stands in the status model (fill and handover included), when the caller read them. */
  combination?: Combination;
  /** The latest delivery's promised window, ETA and late flag (docs/delivery.md), when there is one. */
  delivery?: { promisedBy: Date | null; eta: Date | null; late: boolean } | null;
}

/** The status model's view, when the combination is known and valid; the per-status table otherwise. */
function modelStatus(v: PrescriptionView) {
  return v.combination && isValidCombination(v.combination) ? externalStatus(v.combination) : null;
}
const subjectOf = (v: PrescriptionView): Reference => ({
  ...(v.patientId ? { reference: `Patient/${v.patientId}` } : {}), identifier: { system: SYSTEM.patientRef, value: v.content.patient?.ref },
});
const requesterOf = (v: PrescriptionView): Reference => ({
  ...(v.doctorId ? { reference: `Practitioner/${v.doctorId}` } : {}), identifier: { system: SYSTEM.doctorCode, value: v.content.doctor?.code }, display: v.content.doctor?.name,
});

export const medicationRequestId = (prescriptionId: string, lineNo: number) => `${prescriptionId}-${lineNo}`;

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
/** `<uuid>` (the whole prescription) or `<uuid>-<line no>` (one line); null for anything else. */
export function parseMedicationRequestId(id: string): { prescriptionId: string; lineNo: number | null } | null {
  const m = new RegExp(`^(${UUID})(?:-([1-9][0-9]{0,2}))?$`, 'i').exec(id);
  return m ? { prescriptionId: m[1].toLowerCase(), lineNo: m[2] ? Number(m[2]) : null } : null;
}

const TIMING_CODES = new Set(['QD', 'BID', 'TID', 'QID', 'Q12H', 'Q8H', 'Q6H', 'Q4H', 'AM', 'PM', 'BED']);

/** Why, for the negative outcomes: the pharmacist's reason codes as codings, their comment in the text. */
function statusReason(v: PrescriptionView): CodeableConcept | undefined {
  const base = fhirStatusOf(v.status).reason;
  if (!base) return undefined;
  const r = v.rejection;
  const detail = [r?.reasons.join(', '), r?.comment].filter(Boolean).join(' — ');
  return {
    ...(r?.reasons.length ? { coding: r.reasons.map((code) => ({ system: SYSTEM.reviewReason, code })) } : {}),
    text: detail ? `${base}: ${detail}` : base,
  };
}

export function toMedicationRequests(v: PrescriptionView): MedicationRequest[] {
  const s = fhirStatusOf(v.status);
  const m = modelStatus(v);
  const c = v.content;
  const why = statusReason(v);
  return v.lines.map((l): MedicationRequest => {
    const cl = (c.lines?.[l.lineNo - 1] ?? {}) as Record<string, any>;
    const id = medicationRequestId(v.id, l.lineNo);
    const freq = String(l.frequency).toUpperCase();
    return {
      resourceType: 'MedicationRequest',
      id,
      meta: { lastUpdated: v.updatedAt.toISOString() },
      identifier: [{ system: SYSTEM.prescriptionLineId, value: id }],
      groupIdentifier: { system: SYSTEM.rxNo, value: v.rxNo },
      status: m?.medicationRequest ?? s.medicationRequest,
      ...(why ? { statusReason: why } : {}),
      intent: 'order',
      medicationCodeableConcept: { coding: [{ system: SYSTEM.drugCode, code: l.drugCode, display: l.drugName }], text: l.drugName },
      // The hospital's own patient id only: the FHIR face repeats no personal data the caller did not send.
      subject: subjectOf(v),
      authoredOn: c.issuedAt ?? v.issuedAt.toISOString(),
      requester: requesterOf(v),
      reasonCode: (c.diagnoses ?? []).map((d: { code: string; name: string }) => ({ coding: [{ system: SYSTEM.icd10, code: d.code, display: d.name }], text: d.name })),
      ...(c.chronic ? { courseOfTherapyType: { coding: [{ system: SYSTEM.courseOfTherapy, code: 'continuous' }] } } : {}),
      dosageInstruction: [{
        sequence: 1,
        text: `${l.dosage} ${l.frequency} ${l.route}`,
        timing: {
          ...(TIMING_CODES.has(freq) ? { code: { coding: [{ system: SYSTEM.timingAbbreviation, code: freq }] } } : {}),
          ...(cl.timesPerDay ? { repeat: { frequency: cl.timesPerDay, period: 1, periodUnit: 'd' as const } } : {}),
        },
        route: { text: l.route },
        ...(cl.doseMg ? { doseAndRate: [{ doseQuantity: { value: cl.doseMg, unit: 'mg', system: SYSTEM.ucum, code: 'mg' } }] } : {}),
      }],
      dispenseRequest: {
        validityPeriod: { start: v.issuedAt.toISOString(), end: v.expiresAt.toISOString() },
        quantity: { value: l.quantity },
        expectedSupplyDuration: { value: l.days, unit: 'd', system: SYSTEM.ucum, code: 'd' },
      },
      substitution: { allowedBoolean: cl.allowSubstitution === true },
    };
  });
}

export function toTask(v: PrescriptionView): Task {
  const s = fhirStatusOf(v.status);
  const m = modelStatus(v);
  const why = statusReason(v);
  return {
    resourceType: 'Task',
    id: v.id,
    meta: { lastUpdated: v.updatedAt.toISOString() },
    identifier: [{ system: SYSTEM.prescriptionId, value: v.id }],
    groupIdentifier: { system: SYSTEM.rxNo, value: v.rxNo },
    basedOn: v.lines.map((l) => ({ reference: `MedicationRequest/${medicationRequestId(v.id, l.lineNo)}` })),
    // A Task has one focus: the first line stands for the prescription; basedOn lists every line.
    focus: { reference: `MedicationRequest/${medicationRequestId(v.id, v.lines[0]?.lineNo ?? 1)}` },
    status: m?.task ?? s.task,
    ...(why ? { statusReason: why } : {}),
    businessStatus: { coding: [{ system: SYSTEM.prescriptionStatus, code: v.status, display: s.en }], text: s.zh },
    // What the patient is told (docs/status-model.md), beside the internal status integrators already read.
    ...(m || v.delivery ? { extension: [
      ...(m ? [{ url: EXTENSION_PATIENT_STATUS, valueCodeableConcept: { coding: [{ system: SYSTEM.patientStatus, code: m.patient.code, display: m.patient.en }], text: m.patient.zh } }] : []),
      // The parcel's ETA and whether it is late against its promised window (docs/delivery.md).
      ...(v.delivery?.eta ? [{ url: EXTENSION_DELIVERY_ETA, valueDateTime: v.delivery.eta.toISOString() }] : []),
      ...(v.delivery ? [{ url: EXTENSION_DELIVERY_LATE, valueBoolean: v.delivery.late }] : []),
    ] } : {}),
    // The promised delivery window: the Task is to be fulfilled by its end.
    ...(v.delivery?.promisedBy ? { restriction: { period: { end: v.delivery.promisedBy.toISOString() } } } : {}),
    intent: 'order',
    code: { coding: [{ system: SYSTEM.taskCode, code: 'fulfill' }], text: 'Fill the prescription' },
    for: subjectOf(v),
    requester: requesterOf(v),
    authoredOn: v.createdAt.toISOString(),
    lastModified: v.updatedAt.toISOString(),
  };
}

/** A searchset Bundle, as FHIR search answers. */
export function searchSet(resources: FhirResource[], baseUrl: string, selfUrl: string): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: resources.length,
    link: [{ relation: 'self', url: selfUrl }],
    entry: resources.map((r) => ({ fullUrl: `${baseUrl}/${r.resourceType}/${r.id}`, resource: r, search: { mode: 'match' as const } })),
  };
}
