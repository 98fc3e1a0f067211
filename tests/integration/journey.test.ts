// The whole journey over HTTP against real PostgreSQL, Temporal and Elasticsearch.
import fs from 'node:fs';
import path from 'node:path';
import { actors, actions, approve, claimAndReview, closeDb, deliveryCode, sql, stockOf } from './helpers';
import { deliveryAssigned, offered, statusIs, waitForPrescription } from '../../demo/actors';
import { demoPrescription } from '../../demo/prescriptions';
import { scanOrder } from '../../demo/packs';

afterAll(closeDb);

async function pushAndApprove(rx = demoPrescription()) {
  const a = actors();
  const pushed = await a.hospital.post('/v1/prescriptions', rx);
  expect(pushed.status).toBe(201);
  const id = pushed.body.prescription.id as string;
  await waitForPrescription(a.hospital, id, statusIs('in_review'));
  const approved = await approve(id);
  expect(approved.status).toBe(202);
  return { id, rx };
}

describe('a prescription carried end to end', () => {
  it('goes from push to completed follow-up, dispensing from reserved stock exactly once', async () => {
    const a = actors();
    const { id, rx } = await pushAndApprove();

    const atOffer = await waitForPrescription(a.hospital, id, offered);
    expect(atOffer.prescription.pricing.totalFen).toBe(atOffer.prescription.pricing.insurerPaysFen + atOffer.prescription.pricing.patientPaysFen);
    expect(atOffer.prescription.pricing.insurerPaysFen).toBeGreaterThan(0);
    const pharmacyCode = atOffer.workflow.offer.pharmacyCode as string;
    const lines = atOffer.prescription.lines as { drugCode: string; quantity: number }[];
    const before = await Promise.all(lines.map((l) => stockOf(pharmacyCode, l.drugCode)));
    for (const b of before) expect(b.reserved).toBeGreaterThanOrEqual(1); // held while the pharmacy decides

    const orders = await a.pharmacy(pharmacyCode).get('/v1/pharmacy/orders');
    const order = orders.body.items.find((o: any) => o.prescriptionId === id);
    expect(order.lines).toHaveLength(rx.lines.length);
    expect((await a.pharmacy(pharmacyCode).post(`/v1/pharmacy/orders/${order.orderId}/accept`)).status).toBe(202);
    const dispensed = await a.pharmacy(pharmacyCode).post(`/v1/pharmacy/orders/${order.orderId}/dispense`, { pharmacistName: '孙药师', lines: scanOrder(order.lines) });
    expect(dispensed.status).toBe(201);

    const atDelivery = await waitForPrescription(a.hospital, id, deliveryAssigned);
    const after = await Promise.all(lines.map((l) => stockOf(pharmacyCode, l.drugCode)));
    lines.forEach((l, i) => {
      expect(after[i].on_hand).toBe(before[i].on_hand - l.quantity);
      expect(after[i].reserved).toBe(before[i].reserved - l.quantity);
    });

    const { deliveryId, partnerCode } = atDelivery.workflow.delivery;
    const courier = a.courier(partnerCode);
    const mine = await courier.get('/v1/courier/deliveries');
    const d = mine.body.items.find((x: any) => x.deliveryId === deliveryId);
    expect(d.dropoff.phone).toMatch(/^\d{3}\*{4}\d{4}$/); // masked for the courier
    expect(JSON.stringify(d)).not.toContain('原发性高血压'); // no diagnosis for the courier

    // Out of order is refused; in order is accepted; delivered needs proof.
    expect((await courier.post(`/v1/deliveries/${deliveryId}/status`, { status: 'in_transit' })).status).toBe(409);
    expect((await courier.post(`/v1/deliveries/${deliveryId}/status`, { status: 'assigned' })).status).toBe(202);
    expect((await courier.post(`/v1/deliveries/${deliveryId}/status`, { status: 'picked_up' })).status).toBe(202);
    expect((await courier.post(`/v1/deliveries/${deliveryId}/status`, { status: 'in_transit' })).status).toBe(202);
    const noProof = await courier.post(`/v1/deliveries/${deliveryId}/status`, { status: 'delivered' });
    expect(noProof.status).toBe(422);
    expect(noProof.body.error.code).toBe('PROOF_REQUIRED');
    expect((await courier.post(`/v1/deliveries/${deliveryId}/status`, { status: 'delivered', proof: { kind: 'code', reference: await deliveryCode(deliveryId) } })).status).toBe(202);

    const done = await waitForPrescription(a.hospital, id, statusIs('completed'));
    expect(done.prescription.usedAt).toBeTruthy();
    expect(await actions(id)).toEqual([
      // record_accessed: the pharmacist opened it in the review queue (a person's read is audited; docs/audit.md).
      // patient_notified after received: the patient's link, sent at intake (docs/patient.md).
      'received', 'patient_notified', 'review_queued', 'record_accessed', 'review_claimed', 'review_approved', 'insurance_prechecked', 'slip_rendered', 'matching_started', 'stock_reserved',
      'pharmacy_offered', 'pharmacy_accepted', 'dispensed', 'settlement_recorded', 'delivery_created', 'patient_notified', 'delivery_assigned', 'delivery_picked_up', 'delivery_in_transit',
      // The follow-up plan (docs/follow-up.md): nobody answers here, so each step is reminded once and left unanswered.
      'delivery_delivered', 'hospital_notified', 'follow_up_scheduled',
      'follow_up_sent', 'follow_up_reminded', 'follow_up_unanswered', 'follow_up_sent', 'follow_up_reminded', 'follow_up_unanswered',
      'follow_up_closed', 'completed',
    ]);
    const followUps = await sql(`select kind, status from follow_up where prescription_id = ? order by kind`, [id]);
    expect(followUps).toEqual([
      { kind: 'check_in', status: 'unanswered' }, { kind: 'close', status: 'closed' }, { kind: 'refill_reminder', status: 'unanswered' },
    ]);

    const slip = path.join(process.env.RX_FILES_DIR!, `${id}-slip.pdf`);
    expect(fs.readFileSync(slip).subarray(0, 5).toString()).toBe('%PDF-');
    const viaApi = await fetch(`${process.env.RX_TEST_API_URL}/v1/prescriptions/${id}/slip.pdf`, { headers: { authorization: 'Bearer demo-hospital-key' } });
    expect(viaApi.headers.get('content-type')).toBe('application/pdf');
  });

  it('ends at the pharmacist\'s rejection, tells the hospital, and reserves nothing', async () => {
    const a = actors();
    const pushed = await a.hospital.post('/v1/prescriptions', demoPrescription());
    const id = pushed.body.prescription.id;
    await waitForPrescription(a.hospital, id, statusIs('in_review'));
    const noReason = await claimAndReview(a.pharmacist, id, { decision: 'reject', reasons: [], comment: '剂量与诊断不符' });
    expect(noReason.status).toBe(422);
    expect(noReason.body.error.code).toBe('REASON_REQUIRED');
    expect((await a.pharmacist.post(`/v1/prescriptions/${id}/review`, { decision: 'reject', reasons: ['DOSE'], comment: '剂量与诊断不符' })).status).toBe(202);
    await waitForPrescription(a.hospital, id, statusIs('rejected'));
    // A second decision is refused: the review is over.
    const again = await claimAndReview(a.pharmacist, id, { decision: 'approve' });
    expect(again.status).toBe(409);
    // The hospital is told right after the rejection is recorded: wait for that step, then read the trail.
    for (let i = 0; i < 100 && !(await actions(id)).includes('hospital_notified'); i++) await new Promise((r) => setTimeout(r, 200));
    const acts = await actions(id);
    expect(acts).toEqual(['received', 'patient_notified', 'review_queued', 'review_claimed', 'review_rejected', 'hospital_notified']);
    expect(await sql(`select * from reservation where prescription_id = ?`, [id])).toEqual([]);
    const [review] = await sql(`select decision, reasons from review where prescription_id = ?`, [id]);
    expect(review).toEqual({ decision: 'rejected', reasons: ['DOSE'] });
  });

  it('falls through to the next pharmacy when one declines, releasing the first reservation', async () => {
    const a = actors();
    const { id } = await pushAndApprove();
    const first = await waitForPrescription(a.hospital, id, offered);
    const firstCode = first.workflow.offer.pharmacyCode;
    const drug = first.prescription.lines[0].drugCode;
    const heldAtFirst = await stockOf(firstCode, drug);
    const order = (await a.pharmacy(firstCode).get('/v1/pharmacy/orders')).body.items.find((o: any) => o.prescriptionId === id);
    expect((await a.pharmacy(firstCode).post(`/v1/pharmacy/orders/${order.orderId}/decline`, { reason: '库存不足' })).status).toBe(202);

    const second = await waitForPrescription(a.hospital, id, (d) => offered(d) && d.workflow.offer.attempt === 2);
    expect(second.workflow.offer.pharmacyCode).not.toBe(firstCode);
    expect((await stockOf(firstCode, drug)).reserved).toBe(heldAtFirst.reserved - first.prescription.lines[0].quantity);
    // The first pharmacy can no longer act on the order it declined.
    expect((await a.pharmacy(firstCode).post(`/v1/pharmacy/orders/${order.orderId}/accept`)).status).toBe(409);

    const orders = await sql(`select attempt, status, decline_reason from fulfilment_order where prescription_id = ? order by attempt`, [id]);
    expect(orders).toEqual([
      { attempt: 1, status: 'declined', decline_reason: '库存不足' },
      { attempt: 2, status: 'offered', decline_reason: null },
    ]);
    expect((await a.hospital.post(`/v1/prescriptions/${id}/cancel`, { reason: 'test done' })).status).toBe(202);
  });

  it('offers the next pharmacy when one does not answer in time', async () => {
    const a = actors();
    const { id } = await pushAndApprove();
    const first = await waitForPrescription(a.hospital, id, offered);
    const second = await waitForPrescription(a.hospital, id, (d) => offered(d) && d.workflow.offer.attempt === 2, 30_000);
    expect(second.workflow.offer.pharmacyCode).not.toBe(first.workflow.offer.pharmacyCode);
    const [o] = await sql(`select status from fulfilment_order where prescription_id = ? and attempt = 1`, [id]);
    expect(o.status).toBe('expired');
    expect((await a.hospital.post(`/v1/prescriptions/${id}/cancel`, { reason: 'test done' })).status).toBe(202);
  });

  it('is cancelled by the hospital before dispensing and releases what was reserved', async () => {
    const a = actors();
    const { id } = await pushAndApprove();
    const atOffer = await waitForPrescription(a.hospital, id, offered);
    const code = atOffer.workflow.offer.pharmacyCode;
    const lines = atOffer.prescription.lines as { drugCode: string; quantity: number }[];
    const held = await Promise.all(lines.map((l) => stockOf(code, l.drugCode)));

    expect((await a.otherHospital.post(`/v1/prescriptions/${id}/cancel`, { reason: 'x' })).status).toBe(404);
    const cancelled = await a.hospital.post(`/v1/prescriptions/${id}/cancel`, { reason: '患者改为线下取药' });
    expect(cancelled.status).toBe(202);
    await waitForPrescription(a.hospital, id, statusIs('cancelled'));

    const released = await Promise.all(lines.map((l) => stockOf(code, l.drugCode)));
    lines.forEach((l, i) => {
      expect(released[i].reserved).toBe(held[i].reserved - l.quantity);
      expect(released[i].on_hand).toBe(held[i].on_hand);
    });
    expect(await sql(`select status from reservation where prescription_id = ?`, [id])).toEqual(lines.map(() => ({ status: 'released' })));
    expect((await a.hospital.post(`/v1/prescriptions/${id}/cancel`, { reason: 'again' })).status).toBe(409);
  });
});
