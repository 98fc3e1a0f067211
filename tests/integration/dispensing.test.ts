// Check-before-dispense at the pharmacy against the real services: traceability codes, one fill,
// re-sold pack alerts, a short line back to matching, and cancellation until dispensing.
import { actions, actors, approve, closeDb, sql, stockOf } from './helpers';
import { offered, statusIs, waitForPrescription } from '../../demo/actors';
import { demoPrescription } from '../../demo/prescriptions';
import { scanOrder, scanPack } from '../../demo/packs';

afterAll(closeDb);

/** Pushes, approves and waits for the first offer; returns the order as the pharmacy sees it. */
async function offeredOrder(rx = demoPrescription({ patient: { address: { text: '杭州市拱墅区莫干山路 100 号', lat: 30.2935, lng: 120.1420 } } })) {
  const a = actors();
  const id = (await a.hospital.post('/v1/prescriptions', rx)).body.prescription.id as string;
  await waitForPrescription(a.hospital, id, statusIs('in_review'));
  await approve(id);
  const d = await waitForPrescription(a.hospital, id, offered);
  const code = d.workflow.offer.pharmacyCode as string;
  const order = (await a.pharmacy(code).get('/v1/pharmacy/orders')).body.items.find((o: any) => o.prescriptionId === id);
  return { id, code, order, pharmacy: a.pharmacy(code) };
}

async function acceptedOrder() {
  const o = await offeredOrder();
  expect((await o.pharmacy.post(`/v1/pharmacy/orders/${o.order.orderId}/accept`)).status).toBe(202);
  await waitForPrescription(actors().hospital, o.id, (d) => d.workflow.timeline.at(-1)?.event === 'pharmacy_accepted');
  return o;
}

describe('dispensing', () => {
  it('records every pack by traceability code, marks the prescription used and refuses a second fill', async () => {
    const a = actors();
    const o = await acceptedOrder();
    const before = await stockOf(o.code, o.order.lines[0].drugCode);
    const lines = scanOrder(o.order.lines);
    const r = await o.pharmacy.post(`/v1/pharmacy/orders/${o.order.orderId}/dispense`, { pharmacistName: '孙药师', lines });
    expect(r.status).toBe(201);
    expect(r.body.prescriptionStatus).toBe('dispensed');

    const packs = await sql(`select line_no, trace_code from dispensed_pack where prescription_id = ? order by line_no`, [o.id]);
    expect(packs).toHaveLength(o.order.lines.reduce((n: number, l: any) => n + l.quantity, 0));
    expect(packs[0].trace_code).toMatch(/^01\d{14}21[0-9A-F]{12}$/); // stored in canonical form
    const after = await stockOf(o.code, o.order.lines[0].drugCode);
    expect(after.on_hand).toBe(before.on_hand - o.order.lines[0].quantity);
    const [settlement] = await sql(`select total_fen, insurer_pays_fen, patient_pays_fen from settlement where prescription_id = ?`, [o.id]);
    expect(settlement.total_fen).toBe(settlement.insurer_pays_fen + settlement.patient_pays_fen);
    const [{ used_at }] = await sql(`select used_at from prescription where id = ?`, [o.id]);
    expect(used_at).not.toBeNull();

    // A second fill of the same order, and another pharmacy trying the same order, are refused.
    const again = await o.pharmacy.post(`/v1/pharmacy/orders/${o.order.orderId}/dispense`, { pharmacistName: '孙药师', lines: scanOrder(o.order.lines) });
    expect(again.status).toBe(409);
    const other = o.code === 'PH001' ? 'PH002' : 'PH001';
    expect((await a.pharmacy(other).post(`/v1/pharmacy/orders/${o.order.orderId}/dispense`, { pharmacistName: 'x', lines })).status).toBe(404);
    // The hospital can no longer cancel once dispensed.
    expect((await a.hospital.post(`/v1/prescriptions/${o.id}/cancel`, { reason: 'late' })).status).toBe(409);
    expect((await actions(o.id)).filter((x) => x === 'dispensed')).toHaveLength(1);
  });

  it('refuses a pack whose code was dispensed before and raises a re-sold pack alert', async () => {
    const a = actors();
    const first = await acceptedOrder();
    const firstLines = scanOrder(first.order.lines);
    expect((await first.pharmacy.post(`/v1/pharmacy/orders/${first.order.orderId}/dispense`, { pharmacistName: '孙药师', lines: firstLines })).status).toBe(201);

    const second = await acceptedOrder();
    const lines = scanOrder(second.order.lines);
    lines[0].packs[0] = firstLines[0].packs[0]; // the same physical pack, back on a shelf
    const r = await second.pharmacy.post(`/v1/pharmacy/orders/${second.order.orderId}/dispense`, { pharmacistName: '钱药师', lines });
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe('TRACE_CODE_REUSED');

    const [alert] = await sql(`select prescription_id, first_prescription_id, kind, insured from trace_alert where prescription_id = ?`, [second.id]);
    expect(alert).toEqual({ prescription_id: second.id, first_prescription_id: first.id, kind: 'resold_pack', insured: true });
    expect(await actions(second.id)).toEqual(expect.arrayContaining(['resold_pack_alert', 'insurer_notified']));
    const listed = await a.operator.get('/v1/alerts/trace');
    expect(listed.body.items.some((x: any) => x.prescriptionId === second.id && x.pharmacyCode === second.code)).toBe(true);
    expect((await a.hospital.get('/v1/alerts/trace')).status).toBe(403);

    // Nothing was dispensed; with genuine packs it goes through.
    expect(await sql(`select 1 from dispensing where prescription_id = ?`, [second.id])).toEqual([]);
    expect((await second.pharmacy.post(`/v1/pharmacy/orders/${second.order.orderId}/dispense`, { pharmacistName: '钱药师', lines: scanOrder(second.order.lines) })).status).toBe(201);
  });

  it('names each problem of a dispensing that does not match the prescription', async () => {
    const o = await acceptedOrder();
    const lines = scanOrder(o.order.lines);
    lines[0].packs[0] = { ...lines[0].packs[0], traceCode: '(01)06930000000001(21)X' }; // bad check digit
    lines[1].packs.push(scanPack(o.order.lines[1].drugCode));                          // one pack too many
    const r = await o.pharmacy.post(`/v1/pharmacy/orders/${o.order.orderId}/dispense`, { pharmacistName: '孙药师', lines });
    expect(r.status).toBe(422);
    expect(r.body.error.code).toBe('DISPENSE_REFUSED');
    expect(r.body.error.details.map((d: any) => [d.code, d.path])).toEqual([
      ['TRACE_CODE_INVALID', '$.lines[0].packs[0].traceCode'],
      ['PACK_COUNT_MISMATCH', '$.lines[1].packs'],
    ]);
    const expired = scanOrder(o.order.lines);
    expired[0].packs[0] = scanPack(o.order.lines[0].drugCode, { expiryDate: '2026-01-31' });
    const r2 = await o.pharmacy.post(`/v1/pharmacy/orders/${o.order.orderId}/dispense`, { pharmacistName: '孙药师', lines: expired });
    expect(r2.body.error.details.map((d: any) => d.code)).toEqual(['PACK_EXPIRED']);
    // A pack that runs out during the supply is dispensed but flagged.
    const soon = scanOrder(o.order.lines);
    const nearExpiry = new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 10);
    soon[0].packs[0] = scanPack(o.order.lines[0].drugCode, { expiryDate: nearExpiry });
    const r3 = await o.pharmacy.post(`/v1/pharmacy/orders/${o.order.orderId}/dispense`, { pharmacistName: '孙药师', lines: soon });
    expect(r3.status).toBe(201);
    expect(r3.body.findings.map((f: any) => f.code)).toEqual(['PACK_EXPIRES_DURING_SUPPLY']);
  });

  it('sends the order back to matching when a line cannot be dispensed as prescribed', async () => {
    const a = actors();
    const o = await acceptedOrder();
    const line = o.order.lines[0];
    const held = await stockOf(o.code, line.drugCode);
    const r = await o.pharmacy.post(`/v1/pharmacy/orders/${o.order.orderId}/short`, { lines: [{ lineNo: line.lineNo, reason: '外包装破损' }] });
    expect(r.status).toBe(202);
    const next = await waitForPrescription(a.hospital, o.id, (d) => offered(d) && d.workflow.offer.attempt === 2);
    expect(next.workflow.offer.pharmacyCode).not.toBe(o.code);
    expect((await stockOf(o.code, line.drugCode)).reserved).toBe(held.reserved - line.quantity);
    const [order] = await sql(`select status, decline_reason from fulfilment_order where id = ?`, [o.order.orderId]);
    expect(order).toEqual({ status: 'short', decline_reason: `line ${line.lineNo}: 外包装破损` });
    expect((await a.hospital.post(`/v1/prescriptions/${o.id}/cancel`, { reason: 'test done' })).status).toBe(202);
  });

  it('lets the hospital cancel after the pharmacy accepted but before it dispensed, releasing the stock', async () => {
    const a = actors();
    const o = await acceptedOrder();
    const line = o.order.lines[0];
    const held = await stockOf(o.code, line.drugCode);
    expect((await a.hospital.post(`/v1/prescriptions/${o.id}/cancel`, { reason: '患者改为线下取药' })).status).toBe(202);
    await waitForPrescription(a.hospital, o.id, statusIs('cancelled'));
    expect((await stockOf(o.code, line.drugCode)).reserved).toBe(held.reserved - line.quantity);
    const [order] = await sql(`select status from fulfilment_order where id = ?`, [o.order.orderId]);
    expect(order.status).toBe('cancelled');
    expect((await o.pharmacy.post(`/v1/pharmacy/orders/${o.order.orderId}/dispense`, { pharmacistName: 'x', lines: scanOrder(o.order.lines) })).status).toBe(409);
  });
});
