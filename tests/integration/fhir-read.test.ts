// FHIR read access beyond MedicationRequest and Task: a prescription's fills as MedicationDispense (statuses
// from the status model), and the Patient, Practitioner and Organization the resources reference. Every
// reference resolves through the API; each resource has R4's required elements and status value sets;
// access control is GET /v1/prescriptions/:id's.
import type { Bundle, FhirResource, MedicationDispense, Task } from 'fhir/r4';
import { statusIs, waitForPrescription } from '../../demo/actors';
import { DEMO } from '../../demo/fixtures';
import { scanOrder } from '../../demo/packs';
import { demoPrescriptionContent, signAsDemoHospital } from '../../demo/prescriptions';
import { MEDICATION_DISPENSE_STATUSES, MEDICATION_REQUEST_STATUSES, TASK_STATUSES } from '../../domain/status-model';
import { EXTENSION_PATIENT_STATUS, SYSTEM } from '../../domain/fhir/systems';
import { actors, apiUrl, approve, closeDb } from './helpers';
import { expectValidR4 } from '../support/fhir-r4';

afterAll(closeDb);

async function fhir<T = any>(path: string, key: string): Promise<{ status: number; body: T }> {
  const res = await fetch(path.startsWith('http') ? path : `${apiUrl()}/fhir/R4${path}`, { headers: { authorization: `Bearer ${key}`, accept: 'application/fhir+json' } });
  return { status: res.status, body: await res.json() as T };
}
const H = DEMO.hospital.key;
const dispenses = async (id: string, key = H) => (await fhir<Bundle>(`/MedicationDispense?prescription=${id}`, key)).body.entry?.map((e) => e.resource as MedicationDispense) ?? [];
const task = async (id: string) => (await fhir<Task>(`/Task/${id}`, H)).body;
const patientStatusOf = (t: Task) => t.extension?.find((x) => x.url === EXTENSION_PATIENT_STATUS)?.valueCodeableConcept?.coding?.find((c) => c.system === SYSTEM.patientStatus)?.code;

/** Required R4 elements (cardinality 1..1) and status value sets of what we serve. */
function expectValid(r: FhirResource) {
  expect(typeof r.id).toBe('string');
  expectValidR4(r); // structure against the R4 StructureDefinitions, and the required value sets
  switch (r.resourceType) {
    case 'MedicationRequest':
      expect(MEDICATION_REQUEST_STATUSES).toContain(r.status);
      expect(r.intent).toBe('order');
      expect(r.medicationCodeableConcept ?? r.medicationReference).toBeDefined();
      expect(r.subject).toBeDefined();
      break;
    case 'MedicationDispense':
      expect(MEDICATION_DISPENSE_STATUSES).toContain(r.status);
      expect(r.medicationCodeableConcept ?? r.medicationReference).toBeDefined();
      break;
    case 'Task':
      expect(TASK_STATUSES).toContain(r.status);
      expect(['unknown', 'proposal', 'plan', 'order', 'original-order', 'reflex-order', 'filler-order', 'instance-order', 'option']).toContain(r.intent);
      break;
    case 'Patient':
      expect(['male', 'female', 'other', 'unknown']).toContain(r.gender);
      break;
    case 'Practitioner': case 'Organization':
      expect(r.name).toBeDefined();
      break;
    default: throw new Error(`unexpected ${r.resourceType}`);
  }
}
/** Every relative `reference` anywhere in a resource. */
function referencesIn(x: unknown, out: string[] = []): string[] {
  if (Array.isArray(x)) x.forEach((v) => referencesIn(v, out));
  else if (x && typeof x === 'object') for (const [k, v] of Object.entries(x)) (k === 'reference' && typeof v === 'string' ? out.push(v) : referencesIn(v, out));
  return out;
}

describe('FHIR read: MedicationDispense and the referenced parties', () => {
  it('follows a pickup fill from preparation to completed, and every reference resolves to a valid resource', async () => {
    const a = actors();
    const rx = signAsDemoHospital(demoPrescriptionContent({ extra: { fulfilment: { mode: 'pickup' } } }));
    const id = (await a.hospital.post('/v1/prescriptions', rx)).body.prescription.id as string;
    await waitForPrescription(a.hospital, id, statusIs('in_review'));
    expect(await dispenses(id)).toEqual([]); // no pharmacy has taken it: no fill
    await approve(id);
    const offered = await waitForPrescription(a.hospital, id, (d) => d.workflow?.offer && d.workflow.timeline.at(-1)?.event === 'pharmacy_offered');
    const pharmacy = a.pharmacy(offered.workflow.offer.pharmacyCode);
    const order = (await pharmacy.get('/v1/pharmacy/orders')).body.items.find((o: any) => o.prescriptionId === id);
    expect(await dispenses(id)).toEqual([]); // offered is not a fill

    await pharmacy.post(`/v1/pharmacy/orders/${order.orderId}/accept`);
    await waitForPrescription(a.hospital, id, (d) => d.workflow.timeline.some((e: any) => e.event === 'pharmacy_accepted'));
    const preparing = await dispenses(id);
    expect(preparing.map((d) => d.id)).toEqual(order.lines.map((l: any) => `${order.orderId}-${l.lineNo}`));
    expect(preparing.map((d) => d.status)).toEqual(preparing.map(() => 'preparation'));
    expect(patientStatusOf(await task(id))).toBe('with_pharmacy');

    expect((await pharmacy.post(`/v1/pharmacy/orders/${order.orderId}/dispense`, { pharmacistName: '孙药师', lines: scanOrder(order.lines) })).status).toBe(201);
    await waitForPrescription(a.hospital, id, (d) => d.workflow.timeline.at(-1)?.event === 'ready_for_pickup');
    const ready = await dispenses(id);
    expect(ready[0]).toMatchObject({ status: 'in-progress', quantity: { value: order.lines[0].quantity }, authorizingPrescription: [{ reference: `MedicationRequest/${id}-1` }] });
    expect(ready[0].extension).toEqual(expect.arrayContaining([{ url: expect.stringMatching(/fill-status-ncpdp$/), valueString: 'Dispensed' }]));
    expect(patientStatusOf(await task(id))).toBe('ready_to_collect');

    expect((await pharmacy.post(`/v1/pharmacy/orders/${order.orderId}/collected`, { proof: { kind: 'code', reference: '1' } })).status).toBe(202);
    await waitForPrescription(a.hospital, id, statusIs('follow_up', 'completed'));
    const done = await dispenses(id);
    expect(done.map((d) => d.status)).toEqual(done.map(() => 'completed'));
    expect(patientStatusOf(await task(id))).toBe('collected');

    // Every resource is valid R4, and every reference resolves.
    const mrs = (await fhir<Bundle>(`/MedicationRequest/${id}`, H)).body.entry!.map((e) => e.resource!);
    const served: FhirResource[] = [await task(id), ...mrs, ...done];
    const refs = [...new Set(served.flatMap((r) => referencesIn(r)))];
    expect(refs.map((r) => r.split('/')[0]).sort()).toEqual(expect.arrayContaining(['MedicationRequest', 'Organization', 'Patient', 'Practitioner']));
    for (const ref of refs) {
      const got = await fhir<FhirResource>(`/${ref}`, H);
      expect([ref, got.status]).toEqual([ref, 200]);
      const body = got.body.resourceType === 'Bundle' ? (got.body as Bundle).entry![0].resource! : got.body;
      expect(`${body.resourceType}/${body.id}`.startsWith(ref)).toBe(true);
      served.push(body);
      // One level further: the patient's managing organization (the hospital).
      for (const deeper of referencesIn(body)) expect([deeper, (await fhir(`/${deeper}`, H)).status]).toEqual([deeper, 200]);
    }
    for (const r of served) expectValid(r);
    const patient = served.find((r) => r.resourceType === 'Patient')!;
    expect(JSON.stringify(patient)).not.toMatch(/phone|idNumber|\d{17}[\dX]/); // only what the hospital sent, minus contact and ID number

    // The same access control as GET /v1/prescriptions/:id: another hospital sees nothing, a pharmacist and an operator see it.
    const other = DEMO.otherHospital.key;
    expect((await fhir(`/MedicationDispense?prescription=${id}`, other)).status).toBe(404);
    // (The pharmacy is left out for the other hospital: it may have been offered that hospital's prescriptions too.)
    const pharmacyRef = done[0].performer![0].actor.reference;
    for (const ref of refs.filter((r) => !r.startsWith('MedicationRequest/'))) {
      if (ref !== pharmacyRef) expect([ref, (await fhir(`/${ref}`, other)).status]).toEqual([ref, 404]);
      expect([ref, (await fhir(`/${ref}`, DEMO.leadPharmacistKey)).status]).toEqual([ref, 200]);
      expect([ref, (await fhir(`/${ref}`, DEMO.operatorKey)).status]).toEqual([ref, 200]);
    }
    expect((await fhir(`/MedicationDispense?prescription=${id}`, DEMO.pharmacyKey('PH001'))).status).toBe(403);
    expect((await fhir(`/MedicationDispense/${done[0].id}`, H)).body).toEqual(done[0]);
    expect((await fhir('/MedicationDispense', H)).status).toBe(400);
    expect((await fhir('/Patient/not-a-uuid', H)).status).toBe(404);
  });
});
