// Partial fills against the real services (docs/dispensing.md): part of a line now and the rest later,
// or the rest declared not dispensed — stock, reservations, settlements, the views and the hospital's events.
import { actors, apiUrl, approve, closeDb, deliveryCode, sql, stockOf } from './helpers';
import { deliveryAssigned, offered, statusIs, waitForPrescription } from '../../demo/actors';
import { demoPrescription } from '../../demo/prescriptions';
import { scanPack } from '../../demo/packs';
import { DEMO } from '../../demo/fixtures';
import { expectValidR4 } from '../support/fhir-r4';

afterAll(closeDb);

// Three units of the first line, one of the second.
const rx = () => demoPrescription({
  drugs: [{ name: '苯磺酸氨氯地平片', quantity: 3 }, { name: '二甲双胍', quantity: 1 }],
  patient: { address: { text: '杭州市拱墅区莫干山路 100 号', lat: 30.2935, lng: 120.1420 } },
});

async function acceptedOrder() {
  const a = actors();
  const id = (await a.hospital.post('/v1/prescriptions', rx())).body.prescription.id as string;
  await waitForPrescription(a.hospital, id, statusIs('in_review'));
  await approve(id);
  const d = await waitForPrescription(a.hospital, id, offered);
  const code = d.workflow.offer.pharmacyCode as string;
  const pharmacy = a.pharmacy(code);
  const order = (await pharmacy.get('/v1/pharmacy/orders')).body.items.find((o: any) => o.prescriptionId === id);
  expect((await pharmacy.post(`/v1/pharmacy/orders/${order.orderId}/accept`)).status).toBe(202);
  await waitForPrescription(a.hospital, id, (x) => x.workflow.timeline.at(-1)?.event === 'pharmacy_accepted');
  const [three, one] = order.lines as { lineNo: number; drugCode: string; quantity: number }[];
  expect([three.quantity, one.quantity]).toEqual([3, 1]);
  const dispense = (body: Record<string, unknown>) => pharmacy.post(`/v1/pharmacy/orders/${order.orderId}/dispense`, { pharmacistName: '孙药师', ...body });
  const packs = (l: { lineNo: number; drugCode: string }, n: number) => ({ lineNo: l.lineNo, packs: Array.from({ length: n }, () => scanPack(l.drugCode)) });
  return { id, code, pharmacy, order, three, one, dispense, packs };
}

/** What a FHIR client reads: the dispenses and the Task, each valid R4, with the NCPDP fill status. */
async function fhirView(id: string) {
  const get = async (p: string) => (await fetch(`${apiUrl()}/fhir/R4${p}`, { headers: { authorization: `Bearer ${DEMO.hospital.key}` } })).json() as Promise<any>;
  const dispenses = (await get(`/MedicationDispense?prescription=${id}`)).entry.map((e: any) => e.resource);
  const task = await get(`/Task/${id}`);
  for (const r of [...dispenses, task]) expectValidR4(r);
  const ncpdp = (d: any) => d.extension.find((x: any) => x.url.endsWith('fill-status-ncpdp'))?.valueString;
  return { dispenses: dispenses.map((d: any) => ({ status: d.status, quantity: d.quantity?.value, ncpdp: ncpdp(d) })), task: task.status as string };
}

const events = async (id: string) => (await sql(`select envelope from hospital_event where prescription_id = ? order by sequence`, [id])).map((r) => (typeof r.envelope === 'string' ? JSON.parse(r.envelope) : r.envelope));
const reservations = (id: string, drugCode: string) => sql(`select status, sum(quantity)::int as units from reservation where prescription_id = ? and drug_code = ? group by status order by status`, [id, drugCode]);
const settlements = (id: string) => sql(`select fill_no, total_fen, insurer_pays_fen, patient_pays_fen from settlement where prescription_id = ? order by fill_no`, [id]);
const priceAt = async (code: string, drugCode: string) => (await sql(`select s.price_fen from stock s join pharmacy p on p.id = s.pharmacy_id where p.code = ? and s.drug_code = ?`, [code, drugCode]))[0].price_fen as number;

describe('partial fills', () => {
  it('dispenses 2 of 3 now and the rest later: a full fill in two fills, each settled', async () => {
    const a = actors();
    const o = await acceptedOrder();
    const held = await stockOf(o.code, o.three.drugCode);

    const first = await o.dispense({ partial: true, lines: [o.packs(o.three, 2)] });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ prescriptionStatus: 'partially_dispensed', fillNo: 1, dispenseStatus: 'partially_dispensed' });
    expect(first.body.lines).toEqual([
      { lineNo: o.three.lineNo, prescribed: 3, dispensed: 2, notDispensed: 0, pending: 1 },
      { lineNo: o.one.lineNo, prescribed: 1, dispensed: 0, notDispensed: 0, pending: 1 },
    ]);
    // Only the 2 handed out left the shelf and the reservation; 1 stays held for the rest.
    expect(await stockOf(o.code, o.three.drugCode)).toEqual({ on_hand: held.on_hand - 2, reserved: held.reserved - 2 });
    expect(await reservations(o.id, o.three.drugCode)).toEqual([{ status: 'committed', units: 2 }, { status: 'held', units: 1 }]);
    const mid = await a.hospital.get(`/v1/prescriptions/${o.id}`);
    expect(mid.body.prescription.status).toBe('partially_dispensed');
    expect(mid.body.prescription.dispensing).toMatchObject({ status: 'partially_dispensed', remainder: 'pending' });
    expect(await fhirView(o.id)).toEqual({
      dispenses: [{ status: 'in-progress', quantity: 2, ncpdp: 'Partially Dispensed' }, { status: 'in-progress', quantity: 0, ncpdp: 'Partially Dispensed' }], task: 'in-progress',
    });
    // The pharmacy sees what is left; the hospital can no longer cancel, nor the pharmacy report it short.
    const listed = (await o.pharmacy.get('/v1/pharmacy/orders?status=dispensed')).body.items.find((x: any) => x.orderId === o.order.orderId);
    expect(listed.lines.map((l: any) => [l.dispensed, l.remaining])).toEqual([[2, 1], [0, 1]]);
    expect((await a.hospital.post(`/v1/prescriptions/${o.id}/cancel`, { reason: 'x' })).status).toBe(409);
    expect((await o.pharmacy.post(`/v1/pharmacy/orders/${o.order.orderId}/short`, { lines: [{ lineNo: o.one.lineNo, reason: 'x' }] })).status).toBe(409);

    const second = await o.dispense({ lines: [o.packs(o.three, 1), o.packs(o.one, 1)] });
    expect(second.status).toBe(201);
    expect(second.body).toMatchObject({ prescriptionStatus: 'dispensed', fillNo: 2, dispenseStatus: 'dispensed' });

    const fills = await sql(`select d.fill_no, d.lines, (select count(*)::int from dispensed_pack p where p.dispensing_id = d.id) as packs from dispensing d where prescription_id = ? order by fill_no`, [o.id]);
    expect(fills).toEqual([
      { fill_no: 1, lines: [{ lineNo: o.three.lineNo, quantity: 2 }], packs: 2 },
      { fill_no: 2, lines: [{ lineNo: o.three.lineNo, quantity: 1 }, { lineNo: o.one.lineNo, quantity: 1 }], packs: 2 },
    ]);
    const [s1, s2] = await settlements(o.id);
    const p3 = await priceAt(o.code, o.three.drugCode);
    const p1 = await priceAt(o.code, o.one.drugCode);
    expect(s1).toMatchObject({ fill_no: 1, total_fen: 2 * p3 });
    expect(s2).toMatchObject({ fill_no: 2, total_fen: p3 + p1 });
    for (const s of [s1, s2]) expect(s.total_fen).toBe(s.insurer_pays_fen + s.patient_pays_fen);
    const money = (await a.hospital.get(`/v1/prescriptions/${o.id}/settlement`)).body;
    expect(money.settlement.totalFen).toBe(s1.total_fen);
    expect(money.fills.map((f: any) => [f.fillNo, f.totalFen])).toEqual([[1, s1.total_fen], [2, s2.total_fen]]);
    expect(await stockOf(o.code, o.three.drugCode)).toEqual({ on_hand: held.on_hand - 3, reserved: held.reserved - 3 });
    expect(await reservations(o.id, o.three.drugCode)).toEqual([{ status: 'committed', units: 3 }]);
    const [{ partial_fill }] = await sql(`select partial_fill from prescription where id = ?`, [o.id]);
    expect(partial_fill).toBe(false);
    expect((await events(o.id)).map((e) => e.type)).toEqual(expect.arrayContaining(['rxflow.prescription.partially_dispensed', 'rxflow.prescription.dispensed']));
    const done = (await events(o.id)).find((e) => e.type === 'rxflow.prescription.dispensed');
    expect(done.data).toMatchObject({ previousStatus: 'partially_dispensed', fillNo: 2 });
    expect(done.data.partial).toBeUndefined();

    // It goes on as any full fill: out for delivery with every pack.
    const atDelivery = await waitForPrescription(a.hospital, o.id, deliveryAssigned);
    const parcel = (await a.courier(atDelivery.workflow.delivery.partnerCode).get('/v1/courier/deliveries')).body.items.find((d: any) => d.deliveryId === atDelivery.workflow.delivery.deliveryId);
    expect(parcel).toMatchObject({ partial: false, packages: 4 });
  });

  it('dispenses 2 of 3 and declares the rest not dispensed: released, settled for 2, delivered as partial', async () => {
    const a = actors();
    const o = await acceptedOrder();
    const held3 = await stockOf(o.code, o.three.drugCode);
    const held1 = await stockOf(o.code, o.one.drugCode);
    expect((await o.dispense({ partial: true, lines: [o.packs(o.three, 2)] })).status).toBe(201);
    const r = await o.pharmacy.post(`/v1/pharmacy/orders/${o.order.orderId}/not-dispensed`, { reason: '缺货，患者同意先取两盒' });
    expect(r.status).toBe(202);
    expect((await o.pharmacy.post(`/v1/pharmacy/orders/${o.order.orderId}/not-dispensed`, { reason: 'again' })).status).toBe(409);

    const atDelivery = await waitForPrescription(a.hospital, o.id, deliveryAssigned);
    // The remainder is released, in PostgreSQL: 1 + 1 units back to available, only 2 left the shelf.
    expect(await stockOf(o.code, o.three.drugCode)).toEqual({ on_hand: held3.on_hand - 2, reserved: held3.reserved - 3 });
    expect(await stockOf(o.code, o.one.drugCode)).toEqual({ on_hand: held1.on_hand, reserved: held1.reserved - 1 });
    expect(await reservations(o.id, o.three.drugCode)).toEqual([{ status: 'committed', units: 2 }, { status: 'released', units: 1 }]);
    expect(await reservations(o.id, o.one.drugCode)).toEqual([{ status: 'released', units: 1 }]);
    const lines = await sql(`select line_no, quantity, dispensed_quantity, not_dispensed_quantity from prescription_line where prescription_id = ? order by line_no`, [o.id]);
    expect(lines.map((l) => [l.quantity, l.dispensed_quantity, l.not_dispensed_quantity])).toEqual([[3, 2, 1], [1, 0, 1]]);
    // Settled for the 2 handed out, never for the remainder.
    const all = await settlements(o.id);
    expect(all).toHaveLength(1);
    expect(all[0].total_fen).toBe(2 * (await priceAt(o.code, o.three.drugCode)));

    // The views say partial.
    const view = (await a.hospital.get(`/v1/prescriptions/${o.id}`)).body.prescription;
    expect(view.dispensing).toMatchObject({ status: 'partially_dispensed', remainder: 'not_dispensed' });
    expect(view.dispensing.fills).toHaveLength(1);
    const courier = a.courier(atDelivery.workflow.delivery.partnerCode);
    const parcel = (await courier.get('/v1/courier/deliveries')).body.items.find((d: any) => d.deliveryId === atDelivery.workflow.delivery.deliveryId);
    expect(parcel).toMatchObject({ partial: true, packages: 2 });

    const deliveryId = atDelivery.workflow.delivery.deliveryId;
    for (const status of ['assigned', 'picked_up', 'in_transit']) expect((await courier.post(`/v1/deliveries/${deliveryId}/status`, { status })).status).toBe(202);
    expect((await courier.post(`/v1/deliveries/${deliveryId}/status`, { status: 'delivered', proof: { kind: 'code', reference: await deliveryCode(deliveryId) } })).status).toBe(202);
    await waitForPrescription(a.hospital, o.id, statusIs('follow_up', 'completed'));
    // Handed over, but only part of it: FHIR says completed dispenses of 2 and 0 packs, Partially Dispensed.
    const seen = await fhirView(o.id);
    expect(seen.dispenses).toEqual([{ status: 'completed', quantity: 2, ncpdp: 'Partially Dispensed' }, { status: 'completed', quantity: 0, ncpdp: 'Partially Dispensed' }]);

    // The hospital's events: partially dispensed, then dispensed as partial, and every event after says partial.
    const evs = await events(o.id);
    const types = evs.map((e) => e.type.replace('rxflow.prescription.', ''));
    expect(types.slice(types.indexOf('partially_dispensed'))).toEqual(expect.arrayContaining(['partially_dispensed', 'dispensed', 'out_for_delivery', 'delivered']));
    const dispensed = evs.find((e) => e.type === 'rxflow.prescription.dispensed');
    expect(dispensed.data).toMatchObject({
      status: 'dispensed', previousStatus: 'partially_dispensed', partial: true, reason: '缺货，患者同意先取两盒', pharmacy: o.code,
      notDispensedLines: [{ lineNo: o.three.lineNo, quantity: 1 }, { lineNo: o.one.lineNo, quantity: 1 }],
    });
    for (const t of ['out_for_delivery', 'delivered']) expect(evs.find((e) => e.type === `rxflow.prescription.${t}`).data.partial).toBe(true);
  });

  it('refuses over-dispensing and a remainder declaration without a partial fill', async () => {
    const o = await acceptedOrder();
    expect((await o.pharmacy.post(`/v1/pharmacy/orders/${o.order.orderId}/not-dispensed`, { reason: 'x' })).body.error.code).toBe('NOT_PARTIALLY_DISPENSED');
    const four = await o.dispense({ partial: true, lines: [o.packs(o.three, 4)] });
    expect(four.status).toBe(422);
    expect(four.body.error.code).toBe('DISPENSE_REFUSED');
    expect(four.body.error.details).toEqual([expect.objectContaining({ code: 'OVER_DISPENSED', path: '$.lines[0].packs' })]);
    expect(await sql(`select 1 from dispensing where prescription_id = ?`, [o.id])).toEqual([]);

    expect((await o.dispense({ partial: true, lines: [o.packs(o.three, 2)] })).status).toBe(201);
    const more = await o.dispense({ partial: true, lines: [o.packs(o.three, 2)] });
    expect(more.status).toBe(422);
    expect(more.body.error.details.map((d: any) => d.code)).toEqual(['OVER_DISPENSED']);
    const twice = await o.dispense({ partial: true, lines: [o.packs(o.three, 1), o.packs(o.three, 1)] });
    expect(twice.body.error.details.map((d: any) => d.code)).toEqual(['LINE_REPEATED']);
    const [{ n }] = await sql(`select count(*)::int as n from dispensed_pack where prescription_id = ?`, [o.id]);
    expect(n).toBe(2);
    // Finish it: the rest is not coming.
    expect((await o.pharmacy.post(`/v1/pharmacy/orders/${o.order.orderId}/not-dispensed`, { reason: 'test done' })).status).toBe(202);
    await waitForPrescription(actors().hospital, o.id, statusIs('in_delivery'));
  });
});
