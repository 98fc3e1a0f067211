// The patient's choice of pickup (到店自取): the pharmacy dispenses and the patient collects there.
import { statusIs, waitForPrescription } from '../../demo/actors';
import { demoPrescriptionContent, signAsDemoHospital } from '../../demo/prescriptions';
import { scanOrder } from '../../demo/packs';
import { actions, actors, approve, closeDb, sql } from './helpers';

afterAll(closeDb);

it('dispenses for pickup, waits for the patient, and records the collection with proof', async () => {
  const a = actors();
  const rx = signAsDemoHospital(demoPrescriptionContent({ extra: { fulfilment: { mode: 'pickup' } } }));
  const id = (await a.hospital.post('/v1/prescriptions', rx)).body.prescription.id;
  await waitForPrescription(a.hospital, id, statusIs('in_review'));
  await approve(id);
  const offered = await waitForPrescription(a.hospital, id, (d) => d.workflow?.offer && d.workflow.timeline.at(-1)?.event === 'pharmacy_offered');
  const code = offered.workflow.offer.pharmacyCode;
  const pharmacy = a.pharmacy(code);
  const order = (await pharmacy.get('/v1/pharmacy/orders')).body.items.find((o: any) => o.prescriptionId === id);
  expect((await pharmacy.post(`/v1/pharmacy/orders/${order.orderId}/collected`, { proof: { kind: 'code', reference: '1' } })).status).toBe(409); // not yet
  await pharmacy.post(`/v1/pharmacy/orders/${order.orderId}/accept`);
  await waitForPrescription(a.hospital, id, (d) => d.workflow.timeline.at(-1)?.event === 'pharmacy_accepted');
  expect((await pharmacy.post(`/v1/pharmacy/orders/${order.orderId}/dispense`, { pharmacistName: '孙药师', lines: scanOrder(order.lines) })).status).toBe(201);
  await waitForPrescription(a.hospital, id, (d) => d.workflow.timeline.at(-1)?.event === 'ready_for_pickup');

  expect((await pharmacy.post(`/v1/pharmacy/orders/${order.orderId}/collected`, {})).status).toBe(400);
  expect((await a.pharmacy(code === 'PH001' ? 'PH002' : 'PH001').post(`/v1/pharmacy/orders/${order.orderId}/collected`, { proof: { kind: 'code', reference: '1' } })).status).toBe(404);
  expect((await pharmacy.post(`/v1/pharmacy/orders/${order.orderId}/collected`, { proof: { kind: 'id_card', reference: '3301********0011', receivedBy: '张建国之女' } })).status).toBe(202);
  await waitForPrescription(a.hospital, id, statusIs('completed'));

  const acts = await actions(id);
  expect(acts).toEqual(expect.arrayContaining(['dispensed', 'hospital_notified', 'collected', 'follow_up_scheduled', 'completed']));
  expect(acts).not.toContain('delivery_assigned');
  expect(await sql(`select 1 from delivery where prescription_id = ?`, [id])).toEqual([]);
  const notices = await sql(`select data->>'event' as event from audit_event where prescription_id = ? and action = 'hospital_notified' order by id`, [id]);
  expect(notices.map((n) => n.event)).toEqual(['ready_for_pickup', 'delivered']);
});
