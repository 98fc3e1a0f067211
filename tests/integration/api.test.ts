// The API's edges: authentication, roles, tenant isolation, validation and intake rules, idempotency,
// catalogue search and health, each answered in the one error shape.
import { actions, actors, anonymous, apiUrl, closeDb, sql } from './helpers';
import { demoPrescription, demoPrescriptionContent, drugByName, signAsDemoHospital } from '../../demo/prescriptions';
import { statusIs, waitForPrescription } from '../../demo/actors';

afterAll(closeDb);

const expectError = (r: { status: number; body: any }, status: number, code: string) => {
  expect(r.status).toBe(status);
  expect(r.body.error.code).toBe(code);
  expect(typeof r.body.error.message).toBe('string');
  expect(Array.isArray(r.body.error.details)).toBe(true);
};

describe('authentication and roles', () => {
  it('refuses a missing or unknown key', async () => {
    const r = await fetch(`${apiUrl()}/v1/review-queue`);
    expect(r.status).toBe(401);
    expectError(await anonymous().get('/v1/review-queue'), 401, 'UNAUTHENTICATED');
  });

  it('lets no party act outside its role: a pharmacy cannot approve, a hospital cannot read the queue', async () => {
    const a = actors();
    const pushed = await a.hospital.post('/v1/prescriptions', demoPrescription());
    const id = pushed.body.prescription.id;
    expectError(await a.pharmacy('PH001').post(`/v1/prescriptions/${id}/review`, { decision: 'approve' }), 403, 'FORBIDDEN');
    expectError(await a.courier('SF-CITY').post(`/v1/prescriptions/${id}/review`, { decision: 'approve' }), 403, 'FORBIDDEN');
    expectError(await a.hospital.get('/v1/review-queue'), 403, 'FORBIDDEN');
    expectError(await a.pharmacist.post('/v1/prescriptions', demoPrescription()), 403, 'FORBIDDEN');
  });

  it('hides one hospital\'s prescriptions from another without revealing they exist', async () => {
    const a = actors();
    const id = (await a.hospital.post('/v1/prescriptions', demoPrescription())).body.prescription.id;
    expectError(await a.otherHospital.get(`/v1/prescriptions/${id}`), 404, 'NOT_FOUND');
    expectError(await a.otherHospital.get(`/v1/prescriptions/00000000-0000-4000-8000-000000000000`), 404, 'NOT_FOUND');
    expect((await a.hospital.get(`/v1/prescriptions/${id}`)).status).toBe(200);
  });
});

describe('intake', () => {
  it('returns the same prescription for a repeated push and never starts a second workflow', async () => {
    const a = actors();
    const rx = demoPrescription();
    const first = await a.hospital.post('/v1/prescriptions', rx);
    expect(first.status).toBe(201);
    expect(first.body.duplicate).toBe(false);
    const pushes = await Promise.all([1, 2, 3].map(() => a.hospital.post('/v1/prescriptions', rx)));
    for (const p of pushes) {
      expect(p.status).toBe(200);
      expect(p.body).toMatchObject({ duplicate: true, prescription: { id: first.body.prescription.id } });
    }
    const rows = await sql(`select count(*)::int as n from prescription where rx_no = ?`, [rx.rxNo]);
    expect(rows[0].n).toBe(1);
    expect((await actions(first.body.prescription.id)).filter((x) => x === 'received')).toHaveLength(1);
  });

  it('refuses different content under an existing prescription number', async () => {
    const a = actors();
    const content = demoPrescriptionContent();
    await a.hospital.post('/v1/prescriptions', signAsDemoHospital(content));
    const changed = signAsDemoHospital({ ...content, lines: [{ ...content.lines[0], quantity: 3 }] });
    expectError(await a.hospital.post('/v1/prescriptions', changed), 409, 'RX_CONFLICT');
  });

  it('names the field and the rule for schema errors and invalid JSON', async () => {
    const a = actors();
    const content = demoPrescriptionContent();
    delete content.patient.birthDate;
    content.lines[0].quantity = -1;
    const r = await a.hospital.post('/v1/prescriptions', signAsDemoHospital(content));
    expectError(r, 400, 'VALIDATION_FAILED');
    expect(r.body.error.details.map((d: any) => d.path).sort()).toEqual(['$.lines[0].quantity', '$.patient.birthDate']);
    expectError(await a.hospital.call('POST', '/v1/prescriptions', '{"rxNo": '), 400, 'INVALID_JSON');
  });

  it('rejects a tampered signature and a key it does not know', async () => {
    const a = actors();
    const rx = demoPrescription();
    expectError(await a.hospital.post('/v1/prescriptions', { ...rx, patient: { ...rx.patient, name: '李四' } }), 422, 'SIGNATURE_INVALID');
    expectError(await a.hospital.post('/v1/prescriptions', signAsDemoHospital(demoPrescriptionContent(), 'nope')), 422, 'SIGNATURE_UNKNOWN_KEY');
  });

  it('applies the prescribing rules: first visits, banned drugs, unauthorised doctors', async () => {
    const a = actors();
    const banned = (await sql(`select code from drug where (data->>'onlineSaleAllowed')::boolean = false limit 1`))[0].code;
    const content = demoPrescriptionContent({ extra: { visit: { type: 'first', department: '内科' }, doctor: { code: 'D002', name: '李医生（演示）' } } });
    content.lines.push({ ...content.lines[0], drugCode: banned });
    const r = await a.hospital.post('/v1/prescriptions', signAsDemoHospital(content));
    expectError(r, 422, 'RX_RULES_VIOLATED');
    expect(r.body.error.details.map((d: any) => d.code).sort()).toEqual(['RX_BANNED_ONLINE', 'RX_FIRST_VISIT', 'RX_PRESCRIBER_NOT_AUTHORISED']);
    expect(r.body.error.details.find((d: any) => d.code === 'RX_BANNED_ONLINE').path).toBe('$.lines[2].drugCode');
    const n = await sql(`select count(*)::int as n from prescription where rx_no = ?`, [content.rxNo]);
    expect(n[0].n).toBe(0); // nothing half-written
  });

  it('shows the pharmacist the queue with automated flags and the patient context', async () => {
    const a = actors();
    // The demo patient is allergic to penicillin; amoxicillin must be flagged.
    const rx = demoPrescription({ drugs: [{ name: '阿莫西林' }], chronic: false });
    const id = (await a.hospital.post('/v1/prescriptions', rx)).body.prescription.id;
    await waitForPrescription(a.hospital, id, statusIs('in_review'));
    const item = (await a.pharmacist.get('/v1/review-queue?limit=200')).body.items.find((i: any) => i.id === id);
    expect(item.flags.map((f: any) => f.code)).toContain('ALLERGY');
    const detail = await a.pharmacist.get(`/v1/review-queue/${id}`);
    expect(detail.body.patient.allergies).toEqual(['青霉素']);
    // The patient is one row per hospital and patient id; other prescriptions of theirs are the history.
    const [patient] = await sql(`select ref, name, allergies from patient where id = ?`, [detail.body.patient.id]);
    expect(patient).toEqual({ ref: 'PAT-0001', name: '张建国', allergies: ['青霉素'] });
    expect(detail.body.history.length).toBeGreaterThan(0);
    const linked = await sql(`select count(distinct patient_id)::int as n from prescription p join hospital h on h.id = p.hospital_id where h.code = 'DEMO-HOSP' and p.patient_ref = 'PAT-0001'`);
    expect(linked[0].n).toBe(1);
    expect(detail.body.prescription.lines[0].drugCode).toBe(drugByName('阿莫西林').code);
  });
});

describe('catalogue and health', () => {
  it('finds drugs by Chinese name, pinyin initials and insurance code', async () => {
    const a = actors();
    const byName = await a.pharmacist.get(`/v1/drugs?q=${encodeURIComponent('布洛芬')}`);
    expect(byName.status).toBe(200);
    expect(byName.body.hits[0].drug.genericNameZh).toContain('布洛芬');
    const byInitials = await a.pharmacist.get('/v1/drugs?q=blf');
    expect(byInitials.body.hits[0].drug.genericNameZh).toContain('布洛芬');
    const target = drugByName('苯磺酸氨氯地平片');
    const byCode = await a.pharmacist.get(`/v1/drugs?q=${encodeURIComponent(target.insuranceCode)}`);
    expect(byCode.body.hits[0].drug.code).toBe(target.code);
    expectError(await a.pharmacist.get('/v1/drugs?rxClass=maybe'), 400, 'VALIDATION_FAILED');
  });

  it('lists pharmacies nearest first', async () => {
    const r = await actors().hospital.get('/v1/pharmacies?lat=30.2788&lng=120.1325&radiusKm=5');
    expect(r.status).toBe(200);
    const d = r.body.items.map((p: any) => p.distanceKm);
    expect(d.length).toBeGreaterThan(0);
    expect([...d].sort((x: number, y: number) => x - y)).toEqual(d);
    // A listing shows the pharmacy, not its shelf.
    for (const field of ['prices', 'available', 'drugCodes', 'substituteKeys', 'skusByKey']) expect(r.body.items[0]).not.toHaveProperty(field);
  });

  it('reports each dependency', async () => {
    const r: any = await fetch(`${apiUrl()}/health`).then((x) => x.json());
    expect(r.status).toBe('ok');
    expect(Object.keys(r.dependencies).sort()).toEqual(['elasticsearch', 'postgres', 'temporal']);
  });

  it('keeps the audit trail append-only in the database itself', async () => {
    await sql(`insert into audit_event (action, actor, data, at) values ('test_probe', 'test', '{}', now())`);
    await expect(sql(`update audit_event set actor = 'x' where action = 'test_probe'`)).rejects.toThrow(/append-only/);
    await expect(sql(`delete from audit_event where action = 'test_probe'`)).rejects.toThrow(/append-only/);
    expect(await sql(`select actor from audit_event where action = 'test_probe'`)).toEqual([{ actor: 'test' }]);
  });
});
