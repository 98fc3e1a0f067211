// FHIR R4 through the real API: a signed Bundle becomes a prescription and its workflow through the same
// intake as JSON; a repeated push is a duplicate; MedicationRequest and Task follow the status as the
// pharmacist and the hospital act; errors come back as OperationOutcomes with FHIR paths.
import fs from 'node:fs';
import type { Bundle, MedicationRequest, OperationOutcome, Task } from 'fhir/r4';
import { actions, actors, apiUrl, approve, claimAndReview, closeDb, sql } from './helpers';
import { DEMO } from '../../demo/fixtures';
import { demoCatalogue, demoFhirBundle, fhirBundleFor, signFhirAsDemoHospital } from '../../demo/fhir';
import { demoPrescriptionContent, drugByName, signAsDemoHospital } from '../../demo/prescriptions';
import { statusIs, waitForPrescription } from '../../demo/actors';
import { FHIR_STATUS } from '../../domain/fhir/status';
import { houseErrorOf } from '../../domain/fhir/outcome';
import { signBundle } from '../../domain/fhir/sign';
import { SYSTEM } from '../../domain/fhir/systems';
import { generateSigningKey } from '../../domain/signature';
import { revealContent } from '../../domain/field-crypto';
import { dataKeyRing } from '../../engine/data-keys';

afterAll(closeDb);

async function fhir<T = any>(method: string, path: string, key: string | null, body?: unknown, contentType = 'application/fhir+json'): Promise<{ status: number; type: string; location: string | null; body: T }> {
  const res = await fetch(`${apiUrl()}/fhir/R4${path}`, {
    method,
    headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body !== undefined ? { 'content-type': contentType } : {}), accept: 'application/fhir+json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type') ?? '', location: res.headers.get('location'), body: text ? JSON.parse(text) : null };
}
const H = DEMO.hospital.key;
const push = (bundle: unknown, key = H) => fhir<Bundle & { issue: OperationOutcome['issue'] }>('POST', '/Bundle', key, bundle);
const mr = (id: string, key = H) => fhir<any>('GET', `/MedicationRequest/${id}`, key);
const taskOf = async (id: string, key = H) => {
  const r = await fhir<Bundle>('GET', `/Task?focus=${encodeURIComponent(`MedicationRequest/${id}-1`)}`, key);
  return { ...r, task: r.body?.entry?.[0]?.resource as Task | undefined };
};
/** Polls the FHIR Task until its business status is one of `codes` (no timing assertion: it waits for the state). */
async function waitForTask(id: string, codes: string[], timeoutMs = 60_000): Promise<Task> {
  const deadline = Date.now() + timeoutMs;
  let last: Task | undefined;
  while (Date.now() < deadline) {
    last = (await taskOf(id)).task;
    if (last && codes.includes(last.businessStatus!.coding![0].code!)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`Task of ${id} did not reach ${codes}; last ${last?.businessStatus?.coding?.[0]?.code}`);
}
const expectOutcome = (r: { status: number; type: string; body: any }, status: number, code: string) => {
  expect(r.status).toBe(status);
  expect(r.type).toMatch(/^application\/fhir\+json/);
  expect(r.body.resourceType).toBe('OperationOutcome');
  expect(r.body.issue[0].details.coding).toEqual([{ system: SYSTEM.errorCode, code }]);
  return houseErrorOf(r.body as OperationOutcome);
};
const prescriptionIdOf = (b: Bundle) => b.identifier!.value!;

describe('FHIR intake', () => {
  it('creates the prescription and its workflow from a signed Bundle, and a repeated push is a duplicate', async () => {
    const a = actors();
    const { bundle, content } = demoFhirBundle();
    const first = await push(bundle);
    expect(first.status).toBe(201);
    expect(first.type).toMatch(/^application\/fhir\+json/);
    expect(first.body).toMatchObject({ resourceType: 'Bundle', type: 'collection', meta: { tag: [{ code: 'created' }] } });
    const id = prescriptionIdOf(first.body);
    expect(first.location).toBe(`/fhir/R4/Task/${id}`);
    expect(first.body.entry!.map((e) => e.resource!.resourceType)).toEqual(['Task', 'MedicationRequest', 'MedicationRequest']);

    // The same intake as JSON: the row, the stored content (the mapped prescription), the workflow.
    const [row] = await sql(`select rx_no, content from prescription where id = ?`, [id]);
    expect(row.rx_no).toBe(content.rxNo);
    // Stored with the patient's ID number, phone and address encrypted (docs/data-protection.md); revealed, the mapped prescription.
    expect(revealContent(dataKeyRing(), row.content)).toMatchObject({ ...content, signature: { alg: 'ES256', keyId: DEMO.hospital.signingKeyId } });
    const detail = await waitForPrescription(a.hospital, id, statusIs('in_review'));
    expect(detail.workflow).toMatchObject({ status: 'in_review' });

    const again = await Promise.all([push(bundle), push(bundle)]);
    for (const r of again) {
      expect(r.status).toBe(200);
      expect(r.body.meta!.tag![0].code).toBe('duplicate');
      expect(prescriptionIdOf(r.body)).toBe(id);
    }
    expect((await sql(`select count(*)::int as n from prescription where rx_no = ?`, [content.rxNo]))[0].n).toBe(1);
    expect((await actions(id)).filter((x) => x === 'received')).toHaveLength(1);

    // Operators find FHIR requests by prescription as they find JSON ones (engine/log.ts).
    await mr(`${id}-1`);
    const logged = fs.readFileSync(process.env.RX_LOG_FILE!, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.prescriptionId === id && l.component === 'api');
    expect(logged.map((l) => [l.route, l.status])).toEqual(expect.arrayContaining([['/fhir/R4/Bundle', 201], ['/fhir/R4/Bundle', 200], ['/fhir/R4/MedicationRequest/:id', 200]]));
  });

  it('takes a transaction at the base URL and drugs coded by insurance code or approval number', async () => {
    // Drugs no other test copies: a copy shares the original's codes and would make them ambiguous.
    const drugs = [{ name: '氯沙坦钾片' }, { name: '二甲双胍' }];
    for (const coding of ['insurance', 'approval'] as const) {
      const { bundle, content } = demoFhirBundle({ drugs, coding, type: coding === 'insurance' ? 'transaction' : 'document' });
      const r = await fhir<Bundle>('POST', '', H, bundle);
      expect(r.status).toBe(201);
      const lines = await sql(`select drug_code from prescription_line where prescription_id = ? order by line_no`, [prescriptionIdOf(r.body)]);
      expect(lines.map((l) => l.drug_code)).toEqual(content.lines.map((l: any) => l.drugCode));
    }
  });

  it('refuses an approval number two catalogue SKUs share, and takes the rxflow code for it', async () => {
    // Another pack size under the same approval number (国药准字 is per product, not per pack).
    const irbesartan = drugByName('厄贝沙坦片');
    await sql(`insert into drug (code, generic_name_zh, data, updated_at)
      select 'RXT-FHIR-IRB28', generic_name_zh, data || '{"code":"RXT-FHIR-IRB28","spec":"0.15g×28片","insuranceCode":"XTFHIR28"}'::jsonb, now()
      from drug where code = ? on conflict do nothing`, [irbesartan.code]);
    const drugs = [{ name: '厄贝沙坦片' }];
    const content = demoPrescriptionContent({ drugs });
    const ambiguous = signFhirAsDemoHospital(fhirBundleFor(content, { coding: 'rxflow' }));
    const line = ambiguous.entry!.findIndex((e) => e.resource?.resourceType === 'MedicationRequest');
    (ambiguous.entry![line].resource as MedicationRequest).medicationCodeableConcept = { coding: [{ system: SYSTEM.approvalNumber, code: irbesartan.approvalNumber }] };
    const refused = expectOutcome(await push(ambiguous), 400, 'FHIR_BUNDLE_INVALID');
    expect(refused.details).toContainEqual({ path: `Bundle.entry[${line}].resource.medicationCodeableConcept.coding[0]`, code: 'FHIR_AMBIGUOUS_DRUG', message: expect.stringMatching(/RXT-FHIR-IRB28/) });
    expect((await push(signFhirAsDemoHospital(fhirBundleFor(content, { coding: 'rxflow' })))).status).toBe(201);
  });

  it('treats a FHIR push of a prescription already pushed as JSON as the same prescription', async () => {
    const a = actors();
    const content = demoPrescriptionContent();
    const json = await a.hospital.post('/v1/prescriptions', signAsDemoHospital(content));
    expect(json.status).toBe(201);
    const r = await push(signFhirAsDemoHospital(fhirBundleFor(content)));
    expect(r.status).toBe(200);
    expect(r.body.meta!.tag![0].code).toBe('duplicate');
    expect(prescriptionIdOf(r.body)).toBe(json.body.prescription.id);
  });

  it('names the FHIR path of what is missing, wrong or refused, in an OperationOutcome with the house codes', async () => {
    // A line without dosage: refused by the mapping, before any key is looked at.
    const b = fhirBundleFor(demoPrescriptionContent());
    const i = b.entry!.findIndex((e) => e.resource?.resourceType === 'MedicationRequest');
    delete (b.entry![i].resource as MedicationRequest).dosageInstruction;
    const noDose = expectOutcome(await push(b), 400, 'FHIR_BUNDLE_INVALID');
    // (It cannot be signed either: the signing helper signs only what maps; both are said at once.)
    expect(noDose.details).toEqual([
      { path: `Bundle.entry[${i}].resource.dosageInstruction[0]`, code: 'FHIR_REQUIRED', message: expect.any(String) },
      { path: 'Bundle.signature', code: 'FHIR_REQUIRED', message: expect.any(String) },
    ]);

    // A first visit: the prescribing rules refuse it, and the path is the Encounter's type.
    const first = demoPrescriptionContent();
    first.visit = { type: 'first', department: '心血管内科' };
    const fb = signFhirAsDemoHospital(fhirBundleFor(first));
    const e = fb.entry!.findIndex((x) => x.resource?.resourceType === 'Encounter');
    const rules = expectOutcome(await push(fb), 422, 'RX_RULES_VIOLATED');
    expect(rules.details).toEqual([{ path: `Bundle.entry[${e}].resource.type[0]`, code: 'RX_FIRST_VISIT', message: expect.any(String) }]);

    // A tampered Bundle: the JSON intake's signature check, pointing at Bundle.signature.
    const { bundle } = demoFhirBundle();
    const t = JSON.parse(JSON.stringify(bundle)) as Bundle;
    (t.entry!.find((x) => x.resource?.resourceType === 'MedicationRequest')!.resource as MedicationRequest).dispenseRequest!.quantity!.value = 5;
    const tampered = await push(t);
    const errorLine = fs.readFileSync(process.env.RX_LOG_FILE!, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.route === '/fhir/R4/Bundle' && l.status === 422).at(-1);
    expect(errorLine.error).toBe('SIGNATURE_INVALID');
    expect(expectOutcome(tampered, 422, 'SIGNATURE_INVALID').details).toEqual([{ path: 'Bundle.signature', message: expect.any(String) }]);
    expect(tampered.body.issue[0].code).toBe('security');

    // Signed with a key the hospital never registered.
    const stranger = generateSigningKey();
    const unknownKey = signBundle(fhirBundleFor(demoPrescriptionContent()), 'not-registered', stranger.privateKeyPem, demoCatalogue);
    expectOutcome(await push(unknownKey), 422, 'SIGNATURE_UNKNOWN_KEY');

    // Same number, different content.
    const c = demoPrescriptionContent();
    expect((await push(signFhirAsDemoHospital(fhirBundleFor(c)))).status).toBe(201);
    const changed = signFhirAsDemoHospital(fhirBundleFor({ ...c, lines: [{ ...c.lines[0], quantity: 2 }] }));
    expect(expectOutcome(await push(changed), 409, 'RX_CONFLICT').details![0].path).toMatch(/^Bundle\.entry\[\d+\]\.resource\.groupIdentifier$/);

    // Not JSON, not authenticated, not a hospital, not a route.
    expectOutcome(await push('{"resourceType": '), 400, 'INVALID_JSON');
    expect((await push(bundle, null as never)).body.issue[0].code).toBe('login');
    expectOutcome(await push(bundle, DEMO.pharmacists[0].key), 403, 'FORBIDDEN');
    expectOutcome(await fhir('GET', '/Encounter/1', H), 404, 'ROUTE_NOT_FOUND'); // Patient/<id> is served since issue 9
    expectOutcome(await push({ resourceType: 'Patient' }), 400, 'FHIR_BUNDLE_INVALID');
  });

  it('accepts plain application/json too, and answers metadata without a key', async () => {
    const { bundle } = demoFhirBundle();
    const plain = await fhir('POST', '/Bundle', H, bundle, 'application/json');
    expect([plain.status, plain.body.issue]).toEqual([201, undefined]);
    // Listed in the API's description, with the FHIR media type.
    const openapi = await (await fetch(`${apiUrl()}/openapi.json`)).json() as any;
    expect(Object.keys(openapi.paths)).toEqual(expect.arrayContaining(['/fhir/R4/Bundle', '/fhir/R4/MedicationRequest/{id}', '/fhir/R4/Task', '/fhir/R4/Task/{id}']));
    expect(Object.keys(openapi.paths['/fhir/R4/Bundle'].post.requestBody.content)).toEqual(['application/fhir+json']);
    const meta = await fhir('GET', '/metadata', null);
    expect(meta.status).toBe(200);
    expect(meta.body as unknown).toMatchObject({ resourceType: 'CapabilityStatement', fhirVersion: '4.0.1' });
  });
});

describe('FHIR status', () => {
  it('follows the prescription through review, matching and cancellation as MedicationRequest and Task', async () => {
    const a = actors();
    const pushed = await push(demoFhirBundle().bundle);
    const id = prescriptionIdOf(pushed.body);
    await waitForPrescription(a.hospital, id, statusIs('in_review'));

    const lines = await mr(id);
    expect(lines.status).toBe(200);
    expect(lines.body).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 2 });
    const one = await mr(`${id}-1`);
    expect(one.body).toMatchObject({ resourceType: 'MedicationRequest', id: `${id}-1`, status: 'active', intent: 'order' });
    const inReview = await taskOf(id);
    expect(inReview.task).toMatchObject({ id, status: 'received', businessStatus: { coding: [{ code: 'in_review' }], text: '审方中' }, focus: { reference: `MedicationRequest/${id}-1` } });

    // The pharmacist claims and approves through the review API; the Task moves on with the workflow.
    await approve(id);
    const after = await waitForTask(id, ['approved', 'priced', 'matching']);
    const code = after.businessStatus!.coding![0].code as keyof typeof FHIR_STATUS;
    expect(after.status).toBe(FHIR_STATUS[code].task);
    expect(['accepted', 'in-progress']).toContain(after.status);
    expect((await mr(`${id}-2`)).body.status).toBe('active');

    // The hospital cancels while a pharmacy is being found: order withdrawn, Task cancelled.
    await waitForPrescription(a.hospital, id, statusIs('matching'));
    expect((await a.hospital.post(`/v1/prescriptions/${id}/cancel`, { reason: '患者改为线下取药' })).status).toBe(202);
    const cancelled = await waitForTask(id, ['cancelled']);
    expect(cancelled).toMatchObject({ status: 'cancelled', statusReason: { text: expect.any(String) } });
    expect((await mr(`${id}-1`)).body).toMatchObject({ status: 'cancelled' });
    expect((await fhir<Task>('GET', `/Task/${id}`, H)).body.status).toBe('cancelled');
  });

  it('shows a pharmacist\'s rejection with its reasons, and takes the amended version as a new one', async () => {
    const a = actors();
    const { bundle, content } = demoFhirBundle();
    const id = prescriptionIdOf((await push(bundle)).body);
    await waitForPrescription(a.hospital, id, statusIs('in_review'));
    expect((await claimAndReview(a.pharmacist, id, { decision: 'reject', reasons: ['EXCESS_QUANTITY'], comment: '剂量与诊断不符' })).status).toBe(202);
    const task = await waitForTask(id, ['rejected']);
    const why = { coding: [{ system: SYSTEM.reviewReason, code: 'EXCESS_QUANTITY' }], text: expect.stringMatching(/EXCESS_QUANTITY — 剂量与诊断不符/) };
    expect(task).toMatchObject({ status: 'rejected', statusReason: why });
    expect((await mr(`${id}-1`)).body).toMatchObject({ status: 'cancelled', statusReason: why });

    // Amend -> resubmit: same number, fewer days, priorPrescription naming version 1 (docs/review.md).
    const amended = { ...content, lines: content.lines.map((l: any) => ({ ...l, days: 5 })), amends: { version: 1, prescriptionId: id } };
    const again = await push(signFhirAsDemoHospital(fhirBundleFor(amended)));
    expect(again.status).toBe(201);
    const v2 = prescriptionIdOf(again.body);
    expect(v2).not.toBe(id);
    expect(await sql(`select version, amends_id from prescription where id = ?`, [v2])).toEqual([{ version: 2, amends_id: id }]);
    expect((await waitForTask(v2, ['in_review'])).status).toBe('received');
  });

  it('shows a hospital only its own prescriptions; other parties as GET /v1/prescriptions/:id does', async () => {
    const a = actors();
    const id = prescriptionIdOf((await push(demoFhirBundle().bundle)).body);
    // Also a JSON-pushed prescription reads as FHIR: the resources are built from the internal prescription.
    const jsonId = (await a.hospital.post('/v1/prescriptions', signAsDemoHospital(demoPrescriptionContent()))).body.prescription.id;
    expect((await mr(`${jsonId}-1`)).body.resourceType).toBe('MedicationRequest');

    const other = DEMO.otherHospital.key;
    expectOutcome(await mr(`${id}-1`, other), 404, 'NOT_FOUND');
    expectOutcome(await mr(id, other), 404, 'NOT_FOUND');
    expectOutcome((await taskOf(id, other)), 404, 'NOT_FOUND');
    expectOutcome(await fhir('GET', `/Task/${id}`, other), 404, 'NOT_FOUND');
    expectOutcome(await mr('00000000-0000-4000-8000-000000000000-1'), 404, 'NOT_FOUND');
    expectOutcome(await mr(`${id}-9`), 404, 'NOT_FOUND');
    expectOutcome(await mr('RX0001'), 404, 'NOT_FOUND');
    expectOutcome(await fhir('GET', '/Task', H), 400, 'FHIR_SEARCH_UNSUPPORTED');
    expectOutcome(await mr(`${id}-1`, DEMO.pharmacyKey('PH001')), 403, 'FORBIDDEN');
    // A pharmacist reads what the review queue gives them (docs/security.md): once it is in review.
    await waitForTask(id, ['in_review']);
    expect((await mr(`${id}-1`, DEMO.pharmacists[0].key)).status).toBe(200);
    expect((await taskOf(id, DEMO.operatorKey)).task!.id).toBe(id);
  });
});
