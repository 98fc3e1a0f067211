// What operators see of one prescription carried end to end: structured log lines that name it (API,
// activities, the workflow) and never carry the patient's details, and Prometheus series for its
// stages, the pharmacy's answer, the delivery and the engine's own database and search calls.
import fs from 'node:fs';
import { actors, apiUrl, approve, closeDb, deliveryCode } from './helpers';
import { deliveryAssigned, offered, statusIs, waitForPrescription } from '../../demo/actors';
import { demoPrescription } from '../../demo/prescriptions';
import { scanOrder } from '../../demo/packs';

afterAll(closeDb);

const scrape = async () => fetch(`${apiUrl()}/metrics`).then((r) => r.text());
/** Sum of every sample of a series whose labels include all of `labels` (0 when absent). */
function sum(text: string, name: string, labels: Record<string, string> = {}): number {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .filter((l) => Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)))
    .reduce((s, l) => s + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

// Details only this patient has, so any of them in the log is a leak.
const patient = {
  ref: 'PAT-OBS-1', name: '欧阳观测', phone: '13900007777', idNumber: '33010619800101777X',
  address: { text: '杭州市西湖区观测路 77 号', lat: 30.2788, lng: 120.1325 },
};

it('logs every step of a prescription by its id, with no health data, and its metrics move', async () => {
  const before = await scrape();
  const a = actors();
  const pushed = await a.hospital.post('/v1/prescriptions', demoPrescription({ patient }));
  expect(pushed.status).toBe(201);
  const id = pushed.body.prescription.id as string;
  await waitForPrescription(a.hospital, id, statusIs('in_review'));
  expect((await approve(id)).status).toBe(202); // claim, then approve
  const atOffer = await waitForPrescription(a.hospital, id, offered);
  const pharmacy = a.pharmacy(atOffer.workflow.offer.pharmacyCode);
  const order = (await pharmacy.get('/v1/pharmacy/orders')).body.items.find((o: any) => o.prescriptionId === id);
  expect((await pharmacy.post(`/v1/pharmacy/orders/${order.orderId}/accept`)).status).toBe(202);
  expect((await pharmacy.post(`/v1/pharmacy/orders/${order.orderId}/dispense`, { pharmacistName: '孙药师', lines: scanOrder(order.lines) })).status).toBe(201);
  const { deliveryId, partnerCode } = (await waitForPrescription(a.hospital, id, deliveryAssigned)).workflow.delivery;
  const courier = a.courier(partnerCode);
  for (const status of ['assigned', 'picked_up', 'in_transit']) expect((await courier.post(`/v1/deliveries/${deliveryId}/status`, { status })).status).toBe(202);
  expect((await courier.post(`/v1/deliveries/${deliveryId}/status`, { status: 'delivered', proof: { kind: 'code', reference: await deliveryCode(deliveryId) } })).status).toBe(202);
  await waitForPrescription(a.hospital, id, statusIs('completed'));
  const after = await scrape();

  // ---- logs: one JSON object a line; the prescription's lines name it and its workflow ---------------
  // The workflow logs its last status after the activity that wrote it to PostgreSQL: wait for that line.
  const read = () => fs.readFileSync(process.env.RX_LOG_FILE!, 'utf8');
  for (let i = 0; i < 100 && !read().includes(`"prescriptionId":"${id}","status":"completed"`); i++) await new Promise((r) => setTimeout(r, 100));
  const text = read();
  const lines = text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
  const mine = lines.filter((l) => l.prescriptionId === id);
  for (const l of mine) expect(l.workflowId).toBe(`rx-${id}`);
  const has = (pred: (l: Record<string, any>) => boolean) => mine.some(pred);
  expect(has((l) => l.component === 'api' && l.route === '/v1/prescriptions' && l.status === 201 && l.role === 'hospital')).toBe(true);
  expect(has((l) => l.component === 'api' && l.route === '/v1/prescriptions/:id/review' && l.status === 202 && l.role === 'pharmacist')).toBe(true);
  expect(has((l) => l.component === 'activity' && l.activity === 'findPharmacies' && typeof l.ms === 'number')).toBe(true);
  expect(has((l) => l.component === 'temporal' && l.msg === 'status' && l.status === 'completed')).toBe(true);
  // Nothing that identifies the patient or describes their health, anywhere in the log.
  for (const secret of [patient.name, patient.phone, patient.idNumber, patient.address.text, '原发性高血压', '青霉素']) expect(text).not.toContain(secret);

  // ---- metrics ------------------------------------------------------------------------------------
  const grew = (name: string, labels: Record<string, string> = {}) => sum(after, name, labels) - sum(before, name, labels);
  expect(grew('rxflow_stage_duration_seconds_count', { stage: 'in_review' })).toBeGreaterThanOrEqual(1);
  expect(grew('rxflow_prescription_outcomes_total', { outcome: 'completed' })).toBeGreaterThanOrEqual(1);
  expect(grew('rxflow_pharmacy_offers_total', { outcome: 'accepted' })).toBeGreaterThanOrEqual(1);
  expect(grew('rxflow_deliveries_total', { outcome: 'delivered' })).toBeGreaterThanOrEqual(1);
  expect(grew('rxflow_delivery_lateness_seconds_count')).toBeGreaterThanOrEqual(1);
  expect(grew('rxflow_activity_duration_seconds_count', { activity: 'findPharmacies', outcome: 'ok' })).toBeGreaterThanOrEqual(1);
  expect(grew('rxflow_elasticsearch_request_duration_seconds_count', { api: '_search' })).toBeGreaterThanOrEqual(1);
  expect(grew('rxflow_db_query_duration_seconds_count', { kind: 'update' })).toBeGreaterThanOrEqual(1);
  expect(after).not.toContain(id); // bounded labels: no ids
});
