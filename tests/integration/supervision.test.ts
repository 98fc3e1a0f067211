// The provincial supervision feed against the real database: fixture rows for a past day under a
// fixture region, then the export, its masking, its order, its idempotency, its file and checksum, the
// API and the CLI.
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { actors, apiUrl, closeDb, sql } from './helpers';
import { openOrm } from '../../db/orm';
import { DEMO } from '../../demo/fixtures';
import { supervisionFeed, writeSupervisionFeed, type SupervisionFeed } from '../../reports/supervision';

const DAY = '2025-04-02';
const NEXT_DAY = '2025-04-03';
const REGION = '330300';
const OTHER_REGION = '330400';

// Fixed ids: the schema is rebuilt by global-setup, and fixed ids make the expectations readable.
const id = (n: number) => `5e5e0000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const H1 = id(1), H2 = id(2), DOC1 = id(3), DOC2 = id(4), PHARMACIST = id(5), PHARMACY = id(6), PARTNER = id(7);
const RX_A = id(11), RX_B = id(12), RX_C = id(13), RX_E = id(14), RX_O = id(15);
const REV_A = id(21), REV_E = id(22), REV_O = id(23);
const ORDER_A = id(31), ORDER_O = id(32), DISP_A = id(41), DISP_O = id(42), DELIV_A = id(51), DELIV_O = id(52);

/** Everything that must never appear in the feed's bytes. */
const SECRETS = [
  '张建国', '建国', '13857100001', '5710', '330302195803140011', '19580314', '1958-03-14', '五马街', '1 号', '2 单元',
  'PAT-SUPV', '青霉素', '王某某', '陈药师', '孙药师', 'PROOF-REF-9876', '张师傅', '13811112222', '李四', '13900002222', '娄桥',
  '28.0', '120.6', 'MEMBER-SUPV', '王五', '赵六', '钱七',
];

async function insert(table: string, row: Record<string, unknown>): Promise<void> {
  const cols = Object.keys(row);
  const values = cols.map((c) => {
    const v = row[c];
    return v !== null && typeof v === 'object' && !(v instanceof Date) ? JSON.stringify(v) : v;
  });
  await sql(`insert into "${table}" (${cols.map((c) => `"${c}"`).join(', ')}) values (${cols.map(() => '?').join(', ')})`, values);
}

function content(rxNo: string, patient: Record<string, unknown>, issuedAt: string) {
  return {
    rxNo, issuedAt, validDays: 1,
    visit: { type: 'follow_up', priorDiagnosisRef: 'OPD-2024-0001', department: '心血管内科' },
    doctor: { code: 'SUPV-D01', name: '王某某' },
    patient: { ref: 'PAT-SUPV-1', gender: 'M', birthDate: '1958-03-14', allergies: ['青霉素'], pregnant: false, ...patient },
    diagnoses: [{ code: 'I10', name: '原发性高血压' }, { code: 'E11.9', name: '2型糖尿病' }],
    lines: [{ drugCode: 'SUPV-DRUG-1', quantity: 2, dosage: '1片', frequency: 'qd', timesPerDay: 1, route: '口服', days: 14 }],
    chronic: true,
    insurance: { planId: 'WZ-EMPLOYEE', memberId: 'MEMBER-SUPV-330302195803140011' },
    signature: { alg: 'ES256', keyId: 'supv-key', value: 'MEUCIQDfakefakefakefakefakefake' },
  };
}

async function prescription(o: { id: string; hospital: string; doctor: string; rxNo: string; createdAt: string; status: string; patient: Record<string, unknown>; pricing?: unknown }) {
  await insert('prescription', {
    id: o.id, hospital_id: o.hospital, rx_no: o.rxNo, content_hash: 'a'.repeat(64), status: o.status,
    content: content(o.rxNo, o.patient, o.createdAt), doctor_id: o.doctor, patient_ref: 'PAT-SUPV-1',
    issued_at: o.createdAt, expires_at: '2025-04-05T00:00:00+08:00', flags: [], pricing: o.pricing ?? null,
    workflow_id: `rx-${o.id}`, used_at: null, created_at: o.createdAt, updated_at: o.createdAt,
  });
  await insert('prescription_line', { id: o.id.replace('5e5e', '1111'), prescription_id: o.id, line_no: 1, drug_code: 'SUPV-DRUG-1', drug_name: '苯磺酸氨氯地平片', quantity: 2, dosage: '1片', frequency: 'qd', route: '口服', days: 14 });
  await insert('prescription_line', { id: o.id.replace('5e5e', '2222'), prescription_id: o.id, line_no: 2, drug_code: 'SUPV-DRUG-2', drug_name: '盐酸二甲双胍片', quantity: 1, dosage: '0.5g', frequency: 'bid', route: '口服', days: 14 });
}

/** Status changes in the (append-only) audit trail: [to, at] in order. */
async function trail(rx: string, steps: [string, string][]) {
  let from: string | null = null;
  for (const [to, at] of steps) {
    await insert('audit_event', { prescription_id: rx, action: to === 'received' ? 'received' : `status_${to}`, actor: 'test', from_status: from, to_status: to, data: {}, at });
    from = to;
  }
}

async function insertFixtures() {
  await insert('hospital', { id: H1, code: 'SUPV-HOSP-WZ', name: '温州监管测试互联网医院', region_code: REGION, signing_keys: [], created_at: '2025-01-01T00:00:00Z' });
  await insert('hospital', { id: H2, code: 'SUPV-HOSP-JX', name: '嘉兴监管测试互联网医院', region_code: OTHER_REGION, signing_keys: [], created_at: '2025-01-01T00:00:00Z' });
  await insert('doctor', { id: DOC1, hospital_id: H1, code: 'SUPV-D01', name: '王某某', license_no: 'L-SUPV-1', licensed: true, authorised: true });
  await insert('doctor', { id: DOC2, hospital_id: H2, code: 'SUPV-D02', name: '王某某', license_no: 'L-SUPV-2', licensed: true, authorised: true });
  await insert('pharmacist', { id: PHARMACIST, code: 'SUPV-P01', name: '陈药师', license_no: 'YS-SUPV-1' });
  await insert('pharmacy', {
    id: PHARMACY, code: 'SUPV-PH01', name: '监管测试大药房', city: '温州市', district: '鹿城区', address: '监管测试路 1 号', lat: 28.0, lng: 120.6,
    phone: '0577-00000000', opening_hours: { open: '08:00', close: '22:00' }, is24h: false, cold_chain: false, kind: 'retail', promised_minutes: 60,
  });
  await insert('delivery_partner', { id: PARTNER, code: 'SUPV-COURIER', name: '监管测试快送', cold_chain: false, same_day: true });

  const zhang = { name: '张建国', phone: '13857100001', idNumber: '330302195803140011', address: { text: '浙江省温州市鹿城区五马街 1 号 2 单元', lat: 28.0, lng: 120.6 } };
  // A: created on the day, reviewed, dispensed and handed to the courier on the day, delivered the next day.
  await prescription({
    id: RX_A, hospital: H1, doctor: DOC1, rxNo: 'SUPV-A', createdAt: '2025-04-02T09:15:00.123+08:00', status: 'delivered', patient: zhang,
    pricing: { planId: 'WZ-EMPLOYEE', lines: [], totalFen: 5230, insurerPaysFen: 3661, patientPaysFen: 1569 },
  });
  await trail(RX_A, [['received', '2025-04-02T09:15:00.123+08:00'], ['in_review', '2025-04-02T09:15:01+08:00'], ['approved', '2025-04-02T09:40:00.5+08:00'],
    ['priced', '2025-04-02T09:41:00+08:00'], ['matching', '2025-04-02T09:42:00+08:00'], ['dispensed', '2025-04-02T11:00:00+08:00'],
    ['in_delivery', '2025-04-02T11:30:00+08:00'], ['delivered', '2025-04-03T10:00:00+08:00']]);
  await insert('review', { id: REV_A, prescription_id: RX_A, pharmacist_id: PHARMACIST, decision: 'approved', reasons: [], comment: '患者张建国青霉素过敏，已核对', decided_at: '2025-04-02T09:40:00.5+08:00' });
  await insert('fulfilment_order', { id: ORDER_A, prescription_id: RX_A, pharmacy_id: PHARMACY, attempt: 1, status: 'dispensed', total_price_fen: 5230, distance_km: 1.2, decline_reason: null, offered_at: '2025-04-02T09:42:00+08:00', responded_at: '2025-04-02T09:50:00+08:00' });
  await insert('dispensing', { id: DISP_A, prescription_id: RX_A, order_id: ORDER_A, pharmacy_id: PHARMACY, pharmacist_name: '孙药师', findings: [], dispensed_at: '2025-04-02T11:00:00+08:00' });
  // Inserted out of order on purpose: the feed orders packs by line, then trace code.
  for (const [n, line, drug, serial] of [[63, 2, 'SUPV-DRUG-2', 'SUPV0003'], [62, 1, 'SUPV-DRUG-1', 'SUPV0002'], [61, 1, 'SUPV-DRUG-1', 'SUPV0001']] as const) {
    await insert('dispensed_pack', { id: id(n), dispensing_id: DISP_A, prescription_id: RX_A, line_no: line, drug_code: drug, trace_code: `0106930000000011${'21'}${serial}`, batch_no: 'B2712', expiry_date: '2027-12-31', created_at: '2025-04-02T11:00:00+08:00' });
  }
  await insert('delivery', {
    id: DELIV_A, prescription_id: RX_A, order_id: ORDER_A, partner_id: PARTNER, attempt: 1, status: 'delivered', cold_chain: false,
    events: [
      { status: 'assigned', at: '2025-04-02T03:30:00.000Z' },
      { status: 'picked_up', at: '2025-04-02T04:00:00.000Z', note: '骑手张师傅 13811112222' },
      { status: 'delivered', at: '2025-04-03T02:00:00.000Z', proof: { kind: 'code', reference: 'PROOF-REF-9876', receivedBy: '张建国' } },
    ],
    created_at: '2025-04-02T11:30:00+08:00', updated_at: '2025-04-03T10:00:00+08:00',
  });

  // B: created at 07:30 in China, which is still the previous day in UTC; two-character name, no ID number.
  await prescription({ id: RX_B, hospital: H1, doctor: DOC1, rxNo: 'SUPV-B', createdAt: '2025-04-02T07:30:00+08:00', status: 'in_review',
    patient: { name: '李四', gender: 'F', phone: '13900002222', address: { text: '浙江省温州市瓯海区娄桥街道 8 号', lat: 28.0, lng: 120.6 } } });
  await trail(RX_B, [['received', '2025-04-02T07:30:00+08:00'], ['in_review', '2025-04-02T07:30:01+08:00']]);

  // C: 00:30 on the next day in China (still the day in UTC): not in the day's feed.
  await prescription({ id: RX_C, hospital: H1, doctor: DOC1, rxNo: 'SUPV-C', createdAt: '2025-04-03T00:30:00+08:00', status: 'received',
    patient: { name: '王五', phone: '13700003333', address: { text: '浙江省温州市龙湾区某路 3 号', lat: 28.0, lng: 120.6 } } });
  await trail(RX_C, [['received', '2025-04-03T00:30:00+08:00']]);

  // E: created the day before, rejected on the day: only its review is in the day's feed.
  await prescription({ id: RX_E, hospital: H1, doctor: DOC1, rxNo: 'SUPV-E', createdAt: '2025-04-01T20:00:00+08:00', status: 'rejected',
    patient: { name: '赵六', phone: '13600004444', address: { text: '浙江省温州市鹿城区某街 4 号', lat: 28.0, lng: 120.6 } } });
  await trail(RX_E, [['received', '2025-04-01T20:00:00+08:00'], ['in_review', '2025-04-01T20:00:01+08:00'], ['rejected', '2025-04-02T08:00:00+08:00']]);
  await insert('review', { id: REV_E, prescription_id: RX_E, pharmacist_id: PHARMACIST, decision: 'rejected', reasons: ['DOSE_TOO_HIGH', '剂量超出说明书范围'], comment: null, decided_at: '2025-04-02T08:00:00+08:00' });

  // O: another region, everything on the day: nothing of it is in the feed.
  await prescription({ id: RX_O, hospital: H2, doctor: DOC2, rxNo: 'SUPV-O', createdAt: '2025-04-02T10:00:00+08:00', status: 'in_delivery',
    patient: { name: '钱七', phone: '13500005555', address: { text: '浙江省嘉兴市南湖区某路 5 号', lat: 30.7, lng: 120.7 } } });
  await trail(RX_O, [['received', '2025-04-02T10:00:00+08:00']]);
  await insert('review', { id: REV_O, prescription_id: RX_O, pharmacist_id: PHARMACIST, decision: 'approved', reasons: [], comment: null, decided_at: '2025-04-02T10:20:00+08:00' });
  await insert('fulfilment_order', { id: ORDER_O, prescription_id: RX_O, pharmacy_id: PHARMACY, attempt: 1, status: 'dispensed', total_price_fen: 100, distance_km: 1, decline_reason: null, offered_at: '2025-04-02T10:30:00+08:00', responded_at: '2025-04-02T10:31:00+08:00' });
  await insert('dispensing', { id: DISP_O, prescription_id: RX_O, order_id: ORDER_O, pharmacy_id: PHARMACY, pharmacist_name: '孙药师', findings: [], dispensed_at: '2025-04-02T11:00:00+08:00' });
  await insert('dispensed_pack', { id: id(64), dispensing_id: DISP_O, prescription_id: RX_O, line_no: 1, drug_code: 'SUPV-DRUG-1', trace_code: '010693000000001121SUPV0099', batch_no: 'B2712', expiry_date: '2027-12-31', created_at: '2025-04-02T11:00:00+08:00' });
  await insert('delivery', { id: DELIV_O, prescription_id: RX_O, order_id: ORDER_O, partner_id: PARTNER, attempt: 1, status: 'assigned', cold_chain: false,
    events: [{ status: 'assigned', at: '2025-04-02T04:00:00.000Z' }], created_at: '2025-04-02T12:00:00+08:00', updated_at: '2025-04-02T12:00:00+08:00' });
}

let orm: MikroORM;
const em = () => orm.em.fork() as EntityManager;
const feedOf = (date: string, regionCode = REGION) => supervisionFeed(em(), { date, regionCode });
const parse = (text: string) => text.split('\n').slice(0, -1).map((l) => JSON.parse(l));
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
let tmp: string;

beforeAll(async () => {
  orm = await openOrm(process.env.DATABASE_URL!);
  await insertFixtures();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rx-supervision-'));
});
afterAll(async () => {
  await orm?.close();
  await closeDb();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('the day\'s feed of a region', () => {
  let feed: SupervisionFeed;
  beforeAll(async () => { feed = await feedOf(DAY); });

  it('has the day\'s prescriptions and the day\'s events of the region, ordered by (at, type, id)', () => {
    const records = parse(feed.text);
    expect(records.map((r) => [r.type, r.id, r.at])).toEqual([
      ['prescription', RX_B, '2025-04-01T23:30:00.000Z'],
      ['review', REV_E, '2025-04-02T00:00:00.000Z'],
      ['prescription', RX_A, '2025-04-02T01:15:00.123Z'],
      ['review', REV_A, '2025-04-02T01:40:00.500Z'],
      ['dispensing', DISP_A, '2025-04-02T03:00:00.000Z'],
      ['delivery', DELIV_A, '2025-04-02T04:00:00.000Z'],
    ]);
    expect(feed.counts).toEqual({ prescription: 2, review: 2, dispensing: 1, delivery: 1 });
    expect(feed.text).not.toContain(RX_C);
    expect(feed.text).not.toContain(RX_O);
    expect(feed.text).not.toContain('SUPV-HOSP-JX');
  });

  it('writes one compact JSON object per line, each with a trailing newline', () => {
    expect(feed.text.endsWith('\n')).toBe(true);
    const lines = feed.text.split('\n');
    expect(lines.pop()).toBe('');
    for (const l of lines) expect(JSON.stringify(JSON.parse(l))).toBe(l);
    expect(feed.sha256).toBe(sha(Buffer.from(feed.text, 'utf8')));
  });

  it('writes a prescription with its fields in a fixed order, its patient masked, status and pricing as of the day\'s end', () => {
    const a = parse(feed.text).find((r) => r.id === RX_A);
    expect(Object.keys(a)).toEqual(['type', 'id', 'at', 'regionCode', 'hospitalCode', 'rxNo', 'issuedAt', 'expiresAt', 'status', 'visitType', 'department', 'chronic', 'doctorCode', 'diagnoses', 'patient', 'lines', 'pricing']);
    expect(a).toMatchObject({
      regionCode: REGION, hospitalCode: 'SUPV-HOSP-WZ', rxNo: 'SUPV-A', issuedAt: '2025-04-02T01:15:00.123Z', expiresAt: '2025-04-04T16:00:00.000Z',
      status: 'in_delivery', // delivered only on the next day
      visitType: 'follow_up', department: '心血管内科', chronic: true, doctorCode: 'SUPV-D01',
      diagnoses: [{ code: 'I10', name: '原发性高血压' }, { code: 'E11.9', name: '2型糖尿病' }],
      pricing: { planId: 'WZ-EMPLOYEE', totalFen: 5230, insurerPaysFen: 3661, patientPaysFen: 1569 },
    });
    expect(a.patient).toEqual({ name: '张*国', gender: 'M', birthYear: 1958, phone: '138****0001', idNumber: '330302********0011', address: '浙江省温州市鹿城区' });
    expect(Object.keys(a.patient)).toEqual(['name', 'gender', 'birthYear', 'phone', 'idNumber', 'address']);
    expect(a.lines).toEqual([
      { lineNo: 1, drugCode: 'SUPV-DRUG-1', genericName: '苯磺酸氨氯地平片', quantity: 2, dosage: '1片', frequency: 'qd', route: '口服', days: 14 },
      { lineNo: 2, drugCode: 'SUPV-DRUG-2', genericName: '盐酸二甲双胍片', quantity: 1, dosage: '0.5g', frequency: 'bid', route: '口服', days: 14 },
    ]);
    const b = parse(feed.text).find((r) => r.id === RX_B);
    expect(b.status).toBe('in_review');
    expect(b.pricing).toBeNull();
    expect(b.patient).toEqual({ name: '李*', gender: 'F', birthYear: 1958, phone: '139****2222', idNumber: null, address: '浙江省温州市瓯海区' });
  });

  it('writes reviews with the pharmacist\'s code, dispensing with its packs, deliveries up to the day\'s end with the proof\'s kind only', () => {
    const records = parse(feed.text);
    expect(records.find((r) => r.id === REV_E)).toEqual({
      type: 'review', id: REV_E, at: '2025-04-02T00:00:00.000Z', regionCode: REGION, hospitalCode: 'SUPV-HOSP-WZ', rxNo: 'SUPV-E', prescriptionId: RX_E,
      pharmacistCode: 'SUPV-P01', decision: 'rejected', reasons: ['DOSE_TOO_HIGH', '剂量超出说明书范围'], decidedAt: '2025-04-02T00:00:00.000Z',
    });
    const disp = records.find((r) => r.type === 'dispensing');
    expect(disp).toMatchObject({ prescriptionId: RX_A, pharmacyCode: 'SUPV-PH01', dispensedAt: '2025-04-02T03:00:00.000Z' });
    expect(disp.packs).toEqual([
      { lineNo: 1, drugCode: 'SUPV-DRUG-1', traceCode: '010693000000001121SUPV0001', batchNo: 'B2712', expiryDate: '2027-12-31' },
      { lineNo: 1, drugCode: 'SUPV-DRUG-1', traceCode: '010693000000001121SUPV0002', batchNo: 'B2712', expiryDate: '2027-12-31' },
      { lineNo: 2, drugCode: 'SUPV-DRUG-2', traceCode: '010693000000001121SUPV0003', batchNo: 'B2712', expiryDate: '2027-12-31' },
    ]);
    expect(records.find((r) => r.type === 'delivery')).toEqual({
      type: 'delivery', id: DELIV_A, at: '2025-04-02T04:00:00.000Z', regionCode: REGION, hospitalCode: 'SUPV-HOSP-WZ', rxNo: 'SUPV-A', prescriptionId: RX_A,
      partnerCode: 'SUPV-COURIER', attempt: 1, coldChain: false, status: 'picked_up',
      events: [{ status: 'assigned', at: '2025-04-02T03:30:00.000Z', proofKind: null }, { status: 'picked_up', at: '2025-04-02T04:00:00.000Z', proofKind: null }],
    });
  });

  it('shows the next day only its own records: the delivery delivered, with the proof\'s kind', async () => {
    const next = await feedOf(NEXT_DAY);
    expect(parse(next.text).map((r) => [r.type, r.id])).toEqual([['prescription', RX_C], ['delivery', DELIV_A]]);
    const d = parse(next.text)[1];
    expect(d.status).toBe('delivered');
    expect(d.events.at(-1)).toEqual({ status: 'delivered', at: '2025-04-03T02:00:00.000Z', proofKind: 'code' });
  });

  it('never lets a name, phone, ID number, street, allergy or proof reference through', async () => {
    const next = await feedOf(NEXT_DAY);
    const other = await feedOf(DAY, OTHER_REGION);
    for (const text of [feed.text, next.text, other.text]) {
      const bytes = Buffer.from(text, 'utf8');
      for (const secret of SECRETS) expect({ secret, found: bytes.includes(Buffer.from(secret, 'utf8')) }).toEqual({ secret, found: false });
    }
    expect(other.counts).toEqual({ prescription: 1, review: 1, dispensing: 1, delivery: 1 }); // the other region has its own feed
  });

  it('is empty, with the empty checksum, for a day without records', async () => {
    const empty = await feedOf('2025-04-10');
    expect(empty.text).toBe('');
    expect(empty.sha256).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });
});

describe('idempotency, files and checksum', () => {
  it('gives identical bytes and checksum when a day is exported again, also after later changes', async () => {
    const first = await feedOf(DAY);
    const second = await feedOf(DAY);
    expect(second.text).toBe(first.text);
    expect(second.sha256).toBe(first.sha256);
    // Later events on the day's prescriptions do not change the past day.
    await trail(RX_A, [['follow_up', '2025-04-05T09:00:00+08:00']]);
    await sql(`update prescription set status = 'follow_up', updated_at = now() where id = ?`, [RX_A]);
    const later = await feedOf(DAY);
    expect(later.sha256).toBe(first.sha256);
    expect(later.text).toBe(first.text);
  });

  it('writes <dir>/<region>/<date>.jsonl and a checksum file that sha256sum accepts, byte-identical when written again', async () => {
    const a = await writeSupervisionFeed(em(), { date: DAY, regionCode: REGION }, tmp);
    expect(a.file).toBe(path.join(tmp, REGION, `${DAY}.jsonl`));
    expect(a.checksumFile).toBe(path.join(tmp, REGION, `${DAY}.jsonl.sha256`));
    const bytes1 = fs.readFileSync(a.file);
    const sum1 = fs.readFileSync(a.checksumFile, 'utf8');
    expect(sha(bytes1)).toBe(a.sha256);
    expect(sum1).toBe(`${a.sha256}  ${DAY}.jsonl\n`);
    expect(sum1).toMatch(/^[0-9a-f]{64} {2}\d{4}-\d{2}-\d{2}\.jsonl\n$/);
    expect(execFileSync('sha256sum', ['-c', `${DAY}.jsonl.sha256`], { cwd: path.dirname(a.file) }).toString()).toBe(`${DAY}.jsonl: OK\n`);

    const b = await writeSupervisionFeed(em(), { date: DAY, regionCode: REGION }, tmp);
    expect(fs.readFileSync(b.file).equals(bytes1)).toBe(true);
    expect(fs.readFileSync(b.checksumFile, 'utf8')).toBe(sum1);
    expect(fs.readdirSync(path.dirname(a.file)).sort()).toEqual([`${DAY}.jsonl`, `${DAY}.jsonl.sha256`]); // no temporary files left
  });
});

describe('GET /v1/supervision/feed', () => {
  const get = (query: string, key: string) => fetch(`${apiUrl()}/v1/supervision/feed${query}`, { headers: { authorization: `Bearer ${key}` } });

  it('returns the same bytes and checksum to the operator, and records who took it', async () => {
    const feed = await feedOf(DAY);
    const r = await get(`?date=${DAY}&region=${REGION}`, DEMO.operatorKey);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    expect(r.headers.get('x-content-sha256')).toBe(feed.sha256);
    const body = Buffer.from(await r.arrayBuffer());
    expect(body.equals(Buffer.from(feed.text, 'utf8'))).toBe(true);
    expect(sha(body)).toBe(feed.sha256);
    const again = await get(`?date=${DAY}&region=${REGION}`, DEMO.operatorKey);
    expect(Buffer.from(await again.arrayBuffer()).equals(body)).toBe(true);
    const audit = await sql(`select actor, data from audit_event where action = 'supervision_feed_exported' and data->>'sha256' = ? and data->>'via' = 'api'`, [feed.sha256]);
    expect(audit.length).toBe(2);
    expect(audit[0]).toMatchObject({ actor: 'operator:operator', data: { date: DAY, regionCode: REGION } });
  });

  it('refuses every other role', async () => {
    const a = actors();
    for (const client of [a.hospital, a.pharmacist, a.pharmacy('PH001'), a.courier('DADA')]) {
      const r = await client.get(`/v1/supervision/feed?date=${DAY}&region=${REGION}`);
      expect(r.status).toBe(403);
      expect(r.body.error.code).toBe('FORBIDDEN');
    }
    expect((await get(`?date=${DAY}&region=${REGION}`, 'no-such-key')).status).toBe(401);
  });

  it('names the bad parameter', async () => {
    const cases: [string, string][] = [
      [`?date=2025-02-30&region=${REGION}`, '$.date'],
      [`?date=2025-4-2&region=${REGION}`, '$.date'],
      [`?region=${REGION}`, '$.date'],
      [`?date=${DAY}&region=33`, '$.region'],
      [`?date=${DAY}&region=../330300`, '$.region'],
      [`?date=${DAY}`, '$.region'],
    ];
    for (const [query, field] of cases) {
      const r = await actors().operator.get(`/v1/supervision/feed${query}`);
      expect({ query, status: r.status, code: r.body.error.code }).toEqual({ query, status: 400, code: 'VALIDATION_FAILED' });
      expect(r.body.error.details.map((d: any) => d.path)).toContain(field);
    }
  });
});

describe('the CLI engine/export-supervision.ts', () => {
  const run = promisify(execFile);
  const cli = (args: string[]) => run(process.execPath, ['--import', 'tsx', 'engine/export-supervision.ts', ...args], { cwd: path.resolve(__dirname, '../..'), env: process.env });

  it('writes the same file as the export and prints the paths and counts', async () => {
    const out = path.join(tmp, 'cli');
    const { stdout } = await cli(['--date', DAY, '--region', REGION, '--out', out]);
    const feed = await feedOf(DAY);
    const file = path.join(out, REGION, `${DAY}.jsonl`);
    expect(fs.readFileSync(file).equals(Buffer.from(feed.text, 'utf8'))).toBe(true);
    expect(fs.readFileSync(`${file}.sha256`, 'utf8')).toBe(`${feed.sha256}  ${DAY}.jsonl\n`);
    expect(stdout).toContain(`${file}\t6 records (prescription 2, review 2, dispensing 1, delivery 1)`);
    expect(stdout).toContain(`${file}.sha256\tsha256 ${feed.sha256}`);
  });

  it('explains bad arguments and exits non-zero', async () => {
    for (const args of [['--date', '2025-02-30', '--region', REGION], ['--date', DAY], ['--date', DAY, '--region', 'x/../../etc'], ['--bogus']]) {
      const err: any = await cli(args).then(() => null, (e) => e);
      expect(err).not.toBeNull();
      expect(err.code).toBe(2);
      expect(err.stderr).toMatch(/export-supervision: .+\nusage: /);
    }
  });
});
