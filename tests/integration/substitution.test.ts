// Generic substitution end to end: only where the prescription allows it, only with the same generic,
// strength and form, and the substitute is what gets reserved, offered, dispensed and settled.
import { hashKey } from '../../api/auth';
import { ApiClient, statusIs, waitForPrescription } from '../../demo/actors';
import { demoPrescriptionContent, drugByName, signAsDemoHospital } from '../../demo/prescriptions';
import { scanOrder } from '../../demo/packs';
import { substitutionKey } from '../../domain/matching';
import type { Drug } from '../../domain/types';
import { actors, apiUrl, approve, closeDb, sql, stockOf } from './helpers';

afterAll(closeDb);

// A pharmacy alone in the countryside west of Hangzhou: nobody else is within 10 km of its patients.
const HOME = { text: '杭州市临安区於潜镇 1 号', lat: 30.2060, lng: 119.4060 };
const amlodipine = drugByName('苯磺酸氨氯地平片');
const metformin = drugByName('盐酸二甲双胍片');

beforeAll(async () => {
  await sql(`insert into drug (code, generic_name_zh, data, updated_at)
    select 'RXT-AML-GENERIC', generic_name_zh, data || '{"code":"RXT-AML-GENERIC","manufacturer":"测试制药（仿制）","brandNameZh":null}'::jsonb, now()
    from drug where code = ? on conflict do nothing`, [amlodipine.code]);
  await sql(`insert into pharmacy (id, code, name, city, district, address, lat, lng, phone, opening_hours, is24h, cold_chain, kind, promised_minutes, delivery_radius_km)
    values (gen_random_uuid(), 'PHT-SUB', '於潜镇测试药房', '杭州', '临安区', ?, ?, ?, '0571-0', '{"open":"00:00","close":"24:00"}', true, false, 'retail', 20, 8)
    on conflict (code) do nothing`, [HOME.text, HOME.lat, HOME.lng]);
  await sql(`insert into stock (pharmacy_id, drug_code, on_hand, reserved, price_fen, updated_at)
    select id, x.code, 30, 0, 1500, now() from pharmacy, (values ('RXT-AML-GENERIC'), (?)) as x(code) where pharmacy.code = 'PHT-SUB'
    on conflict do nothing`, [metformin.code]);
  await sql(`insert into api_client (id, key_hash, role, party_id, label, created_at) select gen_random_uuid(), ?, 'pharmacy', id, 'PHT-SUB', now() from pharmacy where code = 'PHT-SUB' on conflict do nothing`, [hashKey('test-pharmacy-sub-key')]);
  // Wait for the outbox to carry the new pharmacy into the search projection.
  for (let i = 0; i < 100; i++) {
    const [q] = await sql(`select count(*)::int as n from search_sync_queue q join pharmacy p on p.id = q.pharmacy_id where p.code = 'PHT-SUB'`);
    if (q.n === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
});

function prescription(allowSubstitution: boolean) {
  const content = demoPrescriptionContent({ patient: { address: HOME } });
  content.lines[0].allowSubstitution = allowSubstitution;
  return signAsDemoHospital(content);
}

async function approved(rx: Record<string, any>) {
  const a = actors();
  const id = (await a.hospital.post('/v1/prescriptions', rx)).body.prescription.id as string;
  await waitForPrescription(a.hospital, id, statusIs('in_review'));
  await approve(id);
  return id;
}

describe('generic substitution', () => {
  it('keys every catalogue drug the same way in SQL (the shelf read) as in the domain', async () => {
    const rows: { data: Drug; key: string }[] = await sql(`select data, drug_substitution_key(data) as key from drug`);
    expect(rows.length).toBeGreaterThan(200);
    expect(rows.filter((r) => r.key !== substitutionKey(r.data)).map((r) => [r.data.code, r.key, substitutionKey(r.data)])).toEqual([]);
  });

  it('is not done unless the prescription allows it', async () => {
    const id = await approved(prescription(false));
    await waitForPrescription(actors().hospital, id, statusIs('unfulfillable'));
    const [ended] = await sql(`select data from audit_event where prescription_id = ? and action = 'unfulfillable'`, [id]);
    expect(ended.data.missingLines).toEqual([amlodipine.code]);
  });

  it('fills an allowed line with the same generic, strength and form, and that is what is reserved and dispensed', async () => {
    const a = actors();
    const id = await approved(prescription(true));
    const offered = await waitForPrescription(a.hospital, id, (d) => d.workflow?.offer?.pharmacyCode === 'PHT-SUB');
    expect(offered.workflow.offer.pharmacyCode).toBe('PHT-SUB');
    const [offerEvent] = await sql(`select data from audit_event where prescription_id = ? and action = 'pharmacy_offered'`, [id]);
    expect(offerEvent.data.substitutions).toEqual([{ lineNo: 1, prescribed: amlodipine.code, drugCode: 'RXT-AML-GENERIC' }]);
    expect(await sql(`select drug_code from reservation where prescription_id = ? order by drug_code`, [id])).toEqual(
      [{ drug_code: metformin.code }, { drug_code: 'RXT-AML-GENERIC' }].sort((x, y) => x.drug_code.localeCompare(y.drug_code)));

    const pharmacy = new ApiClient(apiUrl(), 'test-pharmacy-sub-key');
    const order = (await pharmacy.get('/v1/pharmacy/orders')).body.items.find((o: any) => o.prescriptionId === id);
    expect(order.lines[0]).toMatchObject({ drugCode: 'RXT-AML-GENERIC', substitutedFor: amlodipine.code });
    const before = await stockOf('PHT-SUB', 'RXT-AML-GENERIC');
    expect((await pharmacy.post(`/v1/pharmacy/orders/${order.orderId}/accept`)).status).toBe(202);
    await waitForPrescription(a.hospital, id, (d) => d.workflow.timeline.at(-1)?.event === 'pharmacy_accepted');
    expect((await pharmacy.post(`/v1/pharmacy/orders/${order.orderId}/dispense`, { pharmacistName: '测试药师', lines: scanOrder(order.lines) })).status).toBe(201);
    expect(await sql(`select distinct drug_code from dispensed_pack where prescription_id = ? and line_no = 1`, [id])).toEqual([{ drug_code: 'RXT-AML-GENERIC' }]);
    expect((await stockOf('PHT-SUB', 'RXT-AML-GENERIC')).on_hand).toBe(before.on_hand - 1);
    const [settlement] = await sql(`select lines from settlement where prescription_id = ?`, [id]);
    expect(settlement.lines[0]).toMatchObject({ drugCode: 'RXT-AML-GENERIC', amountFen: 1500 });
  });
});
