// The patient's side against the real engine (docs/patient.md): links issued by the hospital and at
// intake, scoped to one prescription, revoked / expired / tampered → 401; the patient's view (status,
// pharmacy, money), the fulfilment choice the workflow honours until matching (409 after), receipt.
import fs from 'node:fs';
import path from 'node:path';
import { ApiClient, statusIs, waitForPrescription } from '../../demo/actors';
import { demoPrescription } from '../../demo/prescriptions';
import { scanOrder } from '../../demo/packs';
import { signLinkToken } from '../../activities/patient-links';
import { DEV_PATIENT_LINK_SECRET } from '../../engine/config';
import { formatYuan } from '../../domain/patient-link';
import { actions, actors, apiUrl, approve, closeDb, sql } from './helpers';

afterAll(closeDb);

const asPatient = (token: string) => new ApiClient(apiUrl(), token);

async function pushed(o: Parameters<typeof demoPrescription>[0] = {}) {
  const a = actors();
  const res = await a.hospital.post('/v1/prescriptions', demoPrescription(o));
  expect(res.status).toBe(201);
  const id = res.body.prescription.id as string;
  await waitForPrescription(a.hospital, id, statusIs('in_review'));
  return { a, id };
}

it('sends the patient a link at intake: the audit says so, never with the token', async () => {
  const { id } = await pushed();
  const [link] = await sql(`select id, holder, issued_by from patient_link where prescription_id = ?`, [id]);
  expect(link).toMatchObject({ holder: 'patient', issued_by: 'system:rxflow' });
  const [told] = await sql(`select data from audit_event where prescription_id = ? and action = 'patient_notified'`, [id]);
  expect(told.data).toMatchObject({ event: 'received', channel: 'sms', to: '138****0001', link: { id: link.id, holder: 'patient' } });
  // The SMS (the development outbox) carries the link; the token is in no audit event.
  const outbox = path.join(process.env.RX_FILES_DIR!, 'patient-messages', `${id}-${link.id}.json`);
  const sms = JSON.parse(fs.readFileSync(outbox, 'utf8'));
  const token = sms.url.split('#')[1] as string;
  expect(sms.url).toMatch(/\/p\/#ey/);
  expect(sms.to).toBe('13857100001');
  const audited = await sql(`select data::text as d from audit_event where prescription_id = ?`, [id]);
  expect(audited.filter((e) => e.d.includes(token.split('.')[2]))).toEqual([]);
  const view = await asPatient(token).get('/v1/patient/prescription');
  expect(view.status).toBe(200);
  expect(view.body.prescription.status).toMatchObject({ code: 'in_review', zh: '药师审方中' });
});

it('issues, lists and revokes links; a family member sees the same, labelled, with the ID number masked', async () => {
  const { a, id } = await pushed({ patient: { idNumber: '330106195803140011' } });
  const issued = await a.hospital.post(`/v1/prescriptions/${id}/patient-links`, { holder: 'family', name: '李娜', relation: '女儿', ttlDays: 7 });
  expect(issued.status).toBe(201);
  expect(issued.body.url).toBe(`${issued.body.url.split('/p/#')[0]}/p/#${issued.body.token}`);
  const days = (new Date(issued.body.link.expiresAt).getTime() - Date.now()) / 86_400_000;
  expect(days).toBeGreaterThan(6.9);
  expect(days).toBeLessThanOrEqual(7);
  expect((await a.hospital.post(`/v1/prescriptions/${id}/patient-links`, { holder: 'family', name: '李娜' })).body.error.details[0].path).toBe('$.relation');

  const family = asPatient(issued.body.token);
  const v = (await family.get('/v1/patient/prescription')).body;
  expect(v.holder).toEqual({ kind: 'family', name: '李娜', relation: '女儿', label: { zh: '家属 李娜（女儿）', en: 'Family member 李娜 (女儿)' } });
  expect(v.patient).toEqual({ name: '张建国', idNumber: '330106********0011', phone: '138****0001' });
  expect(JSON.stringify(v)).not.toContain('330106195803140011');
  expect(JSON.stringify(v)).not.toContain(id); // no internal ids

  const list = await a.hospital.get(`/v1/prescriptions/${id}/patient-links`);
  expect(list.body.items.map((l: any) => [l.holder, l.issuedBy, l.state])).toEqual([['patient', 'system:rxflow', 'active'], ['family', expect.stringMatching(/^hospital:/), 'active']]);
  expect(JSON.stringify(list.body)).not.toContain(issued.body.token);
  const [ev] = await sql(`select data from audit_event where prescription_id = ? and action = 'patient_link_issued'`, [id]);
  expect(ev.data).toMatchObject({ linkId: issued.body.link.id, holder: 'family', relation: '女儿' });
  expect(JSON.stringify(ev.data)).not.toContain('李娜');

  const revoked = await a.hospital.call('DELETE', `/v1/prescriptions/${id}/patient-links/${issued.body.link.id}`);
  expect(revoked.body.link.state).toBe('revoked');
  const after = await family.get('/v1/patient/prescription');
  expect(after.status).toBe(401);
  expect(after.body.error.code).toBe('PATIENT_LINK_REVOKED');
  expect(await actions(id)).toEqual(expect.arrayContaining(['patient_link_issued', 'patient_link_revoked']));
});

it('refuses expired and tampered links with 401 and a clear code', async () => {
  const { a, id } = await pushed();
  const issued = (await a.hospital.post(`/v1/prescriptions/${id}/patient-links`, { holder: 'patient' })).body;
  const [h, p, s] = issued.token.split('.');
  const tampered = await asPatient(`${h}.${p}.${s.slice(0, -2)}${s.endsWith('AA') ? 'BB' : 'AA'}`).get('/v1/patient/prescription');
  expect([tampered.status, tampered.body.error.code]).toEqual([401, 'PATIENT_LINK_INVALID']);
  // A token past its expiry (signed for the same row).
  const past = await signLinkToken(DEV_PATIENT_LINK_SECRET, { jti: issued.link.id, prescriptionId: id, holder: 'patient', issuedAt: new Date(Date.now() - 40 * 86_400_000), expiresAt: new Date(Date.now() - 86_400_000) });
  const expired = await asPatient(past).get('/v1/patient/prescription');
  expect([expired.status, expired.body.error.code, expired.body.error.message]).toEqual([401, 'PATIENT_LINK_EXPIRED', 'this link has expired']);
  // The row's expiry wins too (a link shortened by an operator).
  await sql(`update patient_link set expires_at = now() - interval '1 minute' where id = ?`, [issued.link.id]);
  expect((await asPatient(issued.token).get('/v1/patient/prescription')).body.error.code).toBe('PATIENT_LINK_EXPIRED');
});

it('lets the patient choose pickup before matching; the workflow honours it; 409 after; then receipt', async () => {
  const { a, id } = await pushed();
  const patient = asPatient((await a.hospital.post(`/v1/prescriptions/${id}/patient-links`, { holder: 'patient' })).body.token);
  const before = (await patient.get('/v1/patient/prescription')).body;
  expect(before.fulfilment).toEqual({ mode: 'delivery', address: '杭州市西湖区文三路 90 号 东部软件园 3 幢', canChange: true });
  expect((await patient.call('PUT', '/v1/patient/fulfilment', { mode: 'drone' })).status).toBe(400);
  const chose = await patient.call('PUT', '/v1/patient/fulfilment', { mode: 'pickup', address: { text: '杭州市西湖区文二路 100 号', lat: 30.279, lng: 120.13 } });
  expect(chose.status).toBe(200);
  expect(chose.body.fulfilment).toMatchObject({ mode: 'pickup', address: '杭州市西湖区文二路 100 号' });
  // The address is encrypted at rest; the workflow's history never sees it.
  const [row] = await sql(`select address, status, chosen_by from fulfilment_choice where prescription_id = ?`, [id]);
  expect(row.address).toMatch(/^enc:/);
  expect(row).toMatchObject({ status: 'applied', chosen_by: expect.stringMatching(/^patient:/) });
  expect(await actions(id)).toContain('fulfilment_chosen');

  await approve(id);
  const offered = await waitForPrescription(a.hospital, id, (d) => d.workflow?.offer && d.workflow.timeline.at(-1)?.event === 'pharmacy_offered');
  const locked = await patient.call('PUT', '/v1/patient/fulfilment', { mode: 'delivery' });
  expect([locked.status, locked.body.error.code]).toEqual([409, 'FULFILMENT_LOCKED']);
  // Refused before anything is written (the status already says matching); the workflow's own refusal is in workflow.test.ts.
  expect((await sql(`select status from fulfilment_choice where prescription_id = ? order by created_at`, [id])).map((r) => r.status)).toEqual(['applied']);

  // The money before dispensing: the pre-check, in yuan from fen.
  const [{ pricing }] = await sql(`select pricing from prescription where id = ?`, [id]);
  const priced = (await patient.get('/v1/patient/prescription')).body;
  expect(priced.payment.precheck.patientPays).toEqual({ fen: pricing.patientPaysFen, text: formatYuan(pricing.patientPaysFen) });
  expect(priced.payment.precheck.insurerPays.fen).toBe(pricing.insurerPaysFen);
  expect(priced.fulfilment.canChange).toBe(false);

  const code = offered.workflow.offer.pharmacyCode;
  const pharmacy = a.pharmacy(code);
  const order = (await pharmacy.get('/v1/pharmacy/orders')).body.items.find((o: any) => o.prescriptionId === id);
  await pharmacy.post(`/v1/pharmacy/orders/${order.orderId}/accept`);
  await waitForPrescription(a.hospital, id, (d) => d.workflow.timeline.at(-1)?.event === 'pharmacy_accepted');
  expect((await pharmacy.post(`/v1/pharmacy/orders/${order.orderId}/dispense`, { pharmacistName: '孙药师', lines: scanOrder(order.lines) })).status).toBe(201);
  // Pickup, as the patient chose (the hospital's prescription said delivery): no courier, ready to collect.
  await waitForPrescription(a.hospital, id, (d) => d.workflow.timeline.at(-1)?.event === 'ready_for_pickup');
  const ready = (await patient.get('/v1/patient/prescription')).body;
  expect(ready.prescription.status.code).toBe('ready_to_collect');
  expect(ready.pharmacy.name).toEqual(expect.any(String));
  expect(ready.payment.settlement.patientPays.text).toMatch(/^¥[\d,]+\.\d\d$/);
  expect(ready.timeline.map((e: any) => e.code)).toEqual(expect.arrayContaining(['received', 'approved', 'chose_pickup', 'pharmacy_accepted', 'dispensed', 'ready_for_pickup']));
  const early = await patient.post('/v1/patient/receipt');
  expect([early.status, early.body.error.code]).toEqual([409, 'NOT_RECEIVED_YET']);

  expect((await pharmacy.post(`/v1/pharmacy/orders/${order.orderId}/collected`, { proof: { kind: 'code', reference: '482913' } })).status).toBe(202);
  await waitForPrescription(a.hospital, id, statusIs('delivered', 'follow_up', 'completed'));
  expect(await sql(`select 1 from delivery where prescription_id = ?`, [id])).toEqual([]);
  const confirmed = await patient.post('/v1/patient/receipt');
  expect(confirmed.status).toBe(201);
  expect((await patient.post('/v1/patient/receipt')).status).toBe(200); // once
  const receipts = await sql(`select actor, data from audit_event where prescription_id = ? and action = 'receipt_confirmed'`, [id]);
  expect(receipts).toEqual([{ actor: expect.stringMatching(/^patient:/), data: expect.objectContaining({ holder: 'patient' }) }]);
});

it('takes the patient\'s follow-up answer through the link: a side effect reaches a pharmacist, once', async () => {
  const { a, id } = await pushed();
  const patient = asPatient((await a.hospital.post(`/v1/prescriptions/${id}/patient-links`, { holder: 'family', name: '李娜', relation: '女儿' })).body.token);
  expect((await patient.call('PUT', '/v1/patient/fulfilment', { mode: 'pickup' })).status).toBe(200);
  await approve(id);
  const offered = await waitForPrescription(a.hospital, id, (d) => d.workflow?.offer && d.workflow.timeline.at(-1)?.event === 'pharmacy_offered');
  const pharmacy = a.pharmacy(offered.workflow.offer.pharmacyCode);
  const order = (await pharmacy.get('/v1/pharmacy/orders')).body.items.find((o: any) => o.prescriptionId === id);
  await pharmacy.post(`/v1/pharmacy/orders/${order.orderId}/accept`);
  await waitForPrescription(a.hospital, id, (d) => d.workflow.timeline.at(-1)?.event === 'pharmacy_accepted');
  expect((await pharmacy.post(`/v1/pharmacy/orders/${order.orderId}/dispense`, { pharmacistName: '孙药师', lines: scanOrder(order.lines) })).status).toBe(201);
  await waitForPrescription(a.hospital, id, (d) => d.workflow.timeline.at(-1)?.event === 'ready_for_pickup');
  expect((await pharmacy.post(`/v1/pharmacy/orders/${order.orderId}/collected`, { proof: { kind: 'code', reference: '482913' } })).status).toBe(202);

  // The check-in is sent (docs/follow-up.md; days are 100 ms here): the page lists it as open.
  let open: any;
  for (let i = 0; i < 300 && !open; i++) {
    open = (await patient.get('/v1/patient/prescription')).body.followUps?.find((f: any) => f.open);
    if (!open) await new Promise((r) => setTimeout(r, 50));
  }
  expect(open).toMatchObject({ kind: expect.any(String), status: expect.stringMatching(/^(sent|unanswered)$/) });
  const url = `/v1/patient/follow-ups/${open.id}/answers`;
  const bad = await patient.post(url, { adherence: { status: 'sometimes' } });
  expect([bad.status, bad.body.error.code]).toEqual([422, 'ANSWER_INVALID']);
  // Whichever step is open first (a chronic prescription's refill reminder may come before the check-in), with a side effect.
  const sideEffects = { any: true, reaction: '皮疹', description: '服药第三天手臂出现红疹，停药后减轻', onsetDate: new Date(Date.now() - 86_400_000).toISOString().slice(0, 10), severity: 'moderate', serious: ['hospitalisation'] };
  const answer = open.kind === 'refill_reminder'
    ? { respondent: { relation: 'family', name: '李娜' }, refill: { continue: false }, sideEffects }
    : { respondent: { relation: 'family', name: '李娜' }, adherence: { status: 'as_prescribed' }, sideEffects };
  const sent = await patient.post(url, answer);
  expect([sent.status, sent.body.error]).toEqual([201, undefined]);
  expect(sent.body).toMatchObject({ followUp: { id: open.id, status: 'answered' }, sideEffectReported: true, serious: true, renewalRequested: false });
  const again = await patient.post(url, answer);
  expect([again.status, again.body.error.code]).toEqual([409, 'FOLLOW_UP_ANSWERED']);
  const [f] = await sql(`select answered_by from follow_up where id = ?`, [open.id]);
  expect(f.answered_by).toMatch(/^patient:/);
  const tasks = await sql(`select severity, serious from adr_task where prescription_id = ?`, [id]);
  expect(tasks).toEqual([{ severity: 'moderate', serious: true }]);
  // Another prescription's follow-up is not reachable with this link.
  const [other] = await sql(`select id from follow_up where prescription_id <> ? limit 1`, [id]);
  if (other) expect((await patient.post(`/v1/patient/follow-ups/${other.id}/answers`, answer)).status).toBe(404);
});

it('moves the matching to the address the patient gives', async () => {
  // A far-away address with coordinates: no demo pharmacy delivers there, so the search says so.
  const { a, id } = await pushed();
  const patient = asPatient((await a.hospital.post(`/v1/prescriptions/${id}/patient-links`, { holder: 'patient' })).body.token);
  expect((await patient.call('PUT', '/v1/patient/fulfilment', { mode: 'delivery', address: { text: '乌鲁木齐市天山区人民路 1 号', lat: 43.79, lng: 87.62 } })).status).toBe(200);
  await approve(id);
  await waitForPrescription(a.hospital, id, statusIs('unfulfillable'));
  const v = (await patient.get('/v1/patient/prescription')).body;
  expect(v.fulfilment).toEqual({ mode: 'delivery', address: '乌鲁木齐市天山区人民路 1 号', canChange: false });
  expect(v.prescription.status.code).toBe('not_dispensed');
});
