// A decision sent twice — a pharmacy's client retrying after a timeout or a 503, when the first call had
// in fact been applied — is answered like the first, not refused as out of turn, and takes effect once
// (the update id is derived from the decision: api/workflows.ts updateIdOf). A different decision for the
// same order is still refused.
import { offered, waitForPrescription, statusIs } from '../../demo/actors';
import { demoPrescription } from '../../demo/prescriptions';
import { actors, approve, closeDb, sql } from './helpers';

afterAll(closeDb);

it('answers a repeated accept like the first and records one acceptance; a decline after it is refused', async () => {
  const a = actors();
  const id = (await a.hospital.post('/v1/prescriptions', demoPrescription())).body.prescription.id as string;
  await waitForPrescription(a.hospital, id, statusIs('in_review'));
  await approve(id);
  const d = await waitForPrescription(a.hospital, id, offered);
  const pharmacy = a.pharmacy(d.workflow.offer.pharmacyCode);
  const orderId = d.workflow.offer.orderId as string;
  const first = await pharmacy.post(`/v1/pharmacy/orders/${orderId}/accept`);
  const again = await pharmacy.post(`/v1/pharmacy/orders/${orderId}/accept`);
  expect([first.status, again.status]).toEqual([202, 202]);
  await waitForPrescription(a.hospital, id, (x) => x.workflow.timeline.some((e: any) => e.event === 'pharmacy_accepted'));
  const declined = await pharmacy.post(`/v1/pharmacy/orders/${orderId}/decline`, { reason: '改主意了' });
  expect([declined.status, declined.body.error.code]).toEqual([409, 'NOT_OFFERED']);
  const accepted = await sql(`select count(*)::int as n from audit_event where prescription_id = ? and action = 'pharmacy_accepted'`, [id]);
  expect(accepted[0].n).toBe(1);
  await a.hospital.post(`/v1/prescriptions/${id}/cancel`, { reason: 'test over' });
});
