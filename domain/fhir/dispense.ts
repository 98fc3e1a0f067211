// A prescription's fills as FHIR R4 MedicationDispense resources, and the parties the FHIR resources
// reference (Patient, Practitioner, Organization), all read from stored rows; pure. Statuses come from
// the status model (../status-model.ts): the latest fill's combination decides its MedicationDispense
// status; an earlier fill the pharmacy could not complete was transferred ('declined').
import type { Extension, MedicationDispense, Organization, Patient, Practitioner } from 'fhir/r4';
import type { DeliveryStatus } from '../prescription-status';
import { externalStatus, isValidCombination, type Combination, type FillState, type HandoverState, type PrescriptionStatus } from '../status-model';
import { medicationRequestId } from './resources';
import { EXTENSION_FILL_STATUS, SYSTEM } from './systems';

/** One fulfilment order (an offer to one pharmacy); `accepted` says whether the pharmacy ever took it. */
export interface OrderRow {
  id: string; attempt: number; pharmacyId: string; accepted: boolean; declineReason: string | null;
  status: 'offered' | 'accepted' | 'declined' | 'expired' | 'cancelled' | 'short' | 'dispensed';
}
export interface FillView {
  prescriptionId: string; status: PrescriptionStatus; patientId: string | null;
  mode: 'delivery' | 'pickup';
  /** Status of the latest delivery attempt, if any. */
  delivery: DeliveryStatus | null;
  orders: OrderRow[];
  lines: { lineNo: number; drugCode: string; drugName: string; quantity: number }[];
  /** A partial fill whose remainder the pharmacy declared (or let lapse) not dispensed (prescription.partial_fill). */
  remainderNotDispensed?: boolean;
  /** Packs handed out per line, and when, for the dispensed fill. */
  dispensed: { orderId: string; at: Date; packsByLine: Record<number, number> } | null;
}

const UNFILLED_END: PrescriptionStatus[] = ['cancelled', 'expired', 'unfulfillable'];

function handoverOf(v: FillView): HandoverState {
  if (v.mode === 'pickup') {
    if (v.status === 'dispensed') return 'ready_for_pickup';
    if (v.status === 'delivered' || v.status === 'follow_up' || v.status === 'completed') return 'collected';
    if (v.status === 'returned') return 'uncollected';
    return 'none';
  }
  return v.delivery ?? 'none';
}

/** The fills (accepted orders, oldest first) with each one's fill state. */
export function fillsOf(v: FillView): { order: OrderRow; fill: FillState }[] {
  const taken = v.orders.filter((o) => o.accepted || o.status === 'dispensed').sort((a, b) => a.attempt - b.attempt);
  return taken.map((order, i) => {
    if (i < taken.length - 1) return { order, fill: 'transferred' as FillState };
    const fill: FillState = order.status === 'dispensed'
      ? (v.status === 'returned' ? 'returned' : v.status === 'partially_dispensed' ? 'partial' : v.remainderNotDispensed ? 'remainder_not_dispensed' : 'dispensed')
      : order.status === 'accepted' ? 'preparing'
        : UNFILLED_END.includes(v.status) ? 'not_dispensed' : 'transferred';
    return { order, fill };
  });
}

/** Where the prescription stands in the status model, from its rows. */
export function combinationOf(v: FillView): Combination {
  const fills = fillsOf(v);
  return { status: v.status, fill: fills.at(-1)?.fill ?? 'none', handover: handoverOf(v) };
}

export const medicationDispenseId = (orderId: string, lineNo: number) => `${orderId}-${lineNo}`;

/** One MedicationDispense per line of each fill (R4 gives a dispense one medication). */
export function toMedicationDispenses(v: FillView): MedicationDispense[] {
  const combo = combinationOf(v);
  // Rows read mid-change can disagree for a moment; say "unknown" rather than a status the model forbids.
  const latest = isValidCombination(combo) ? externalStatus(combo) : null;
  const fills = fillsOf(v);
  return fills.flatMap(({ order, fill }, i) => {
    const isLatest = i === fills.length - 1;
    const status = isLatest ? latest?.medicationDispense ?? 'unknown' : 'declined';
    const ncpdp = isLatest ? latest?.ncpdp : 'Transferred';
    const ext: Extension[] = [
      { url: EXTENSION_FILL_STATUS, valueCoding: { system: SYSTEM.fillState, code: fill } },
      ...(ncpdp ? [{ url: `${EXTENSION_FILL_STATUS}-ncpdp`, valueString: ncpdp }] : []),
    ];
    const d = v.dispensed?.orderId === order.id ? v.dispensed : null;
    return v.lines.map((l): MedicationDispense => ({
      resourceType: 'MedicationDispense',
      id: medicationDispenseId(order.id, l.lineNo),
      extension: ext,
      identifier: [{ system: SYSTEM.fillId, value: order.id }],
      status,
      ...(status === 'declined' && order.declineReason ? { statusReasonCodeableConcept: { text: order.declineReason } } : {}),
      medicationCodeableConcept: { coding: [{ system: SYSTEM.drugCode, code: l.drugCode, display: l.drugName }], text: l.drugName },
      ...(v.patientId ? { subject: { reference: `Patient/${v.patientId}` } } : {}),
      performer: [{ actor: { reference: `Organization/${order.pharmacyId}` } }],
      authorizingPrescription: [{ reference: `MedicationRequest/${medicationRequestId(v.prescriptionId, l.lineNo)}` }],
      ...(d ? { quantity: { value: d.packsByLine[l.lineNo] ?? 0 }, whenPrepared: d.at.toISOString() } : {}),
      ...(status === 'completed' && d ? { whenHandedOver: d.at.toISOString() } : {}),
    }));
  });
}

// ---- the referenced parties: what the caller already knows, no more (no phone, no ID number) ---------

export function toPatient(p: { id: string; hospitalId: string; ref: string; name: string; gender: 'M' | 'F'; birthDate: string }): Patient {
  return {
    resourceType: 'Patient', id: p.id,
    identifier: [{ system: SYSTEM.patientRef, value: p.ref }],
    name: [{ text: p.name }],
    gender: p.gender === 'M' ? 'male' : 'female',
    birthDate: p.birthDate,
    managingOrganization: { reference: `Organization/${p.hospitalId}` },
  };
}

export function toPractitioner(d: { id: string; code: string; name: string; licenseNo: string; licensed: boolean; authorised: boolean }): Practitioner {
  return {
    resourceType: 'Practitioner', id: d.id,
    identifier: [{ system: SYSTEM.doctorCode, value: d.code }],
    active: d.licensed && d.authorised,
    name: [{ text: d.name }],
    qualification: [{ identifier: [{ system: SYSTEM.doctorLicence, value: d.licenseNo }], code: { text: '医师执业证书' } }],
  };
}

const ORG_TYPE = 'http://terminology.hl7.org/CodeSystem/organization-type';
export function toHospitalOrganization(h: { id: string; code: string; name: string }): Organization {
  return {
    resourceType: 'Organization', id: h.id, active: true,
    identifier: [{ system: SYSTEM.hospitalCode, value: h.code }],
    type: [{ coding: [{ system: ORG_TYPE, code: 'prov', display: 'Healthcare Provider' }] }],
    name: h.name,
  };
}
export function toPharmacyOrganization(p: { id: string; code: string; name: string; city: string; district: string; address: string; phone: string }): Organization {
  return {
    resourceType: 'Organization', id: p.id, active: true,
    identifier: [{ system: SYSTEM.pharmacyCode, value: p.code }],
    type: [{ coding: [{ system: ORG_TYPE, code: 'prov', display: 'Healthcare Provider' }], text: 'pharmacy' }],
    name: p.name,
    telecom: [{ system: 'phone', value: p.phone }],
    address: [{ text: `${p.city}${p.district}${p.address}`, city: p.city, district: p.district, line: [p.address] }],
  };
}
