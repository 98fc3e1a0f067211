// Monthly analytics against a hand-made month: two hospitals of one region push prescriptions in March
// 2025 (Asia/Shanghai time), with reviews, offers at seeded pharmacies, settlements, deliveries and
// follow-ups written directly in SQL. The expected figures are worked out by hand below.
import { randomUUID } from 'node:crypto';
import { actors, anonymous, apiUrl, closeDb, sql } from './helpers';
import { MONTHLY_CSV_HEADER } from '../../reports/csv';

afterAll(closeDb);

const MONTH = '2025-03';
const REGION = '330282'; // 慈溪市 (Cixi, Ningbo); no other fixture uses it
const HOSP_A = { code: 'RPT-A', name: '宁波报表测试医院甲' };
const HOSP_B = { code: 'RPT-B', name: '慈溪报表测试医院乙' };
const R_DOSE = '剂量超出说明书范围';
const R_DIAG = '诊断与用药不符';

type OrderStatus = 'offered' | 'accepted' | 'declined' | 'expired' | 'cancelled' | 'short' | 'dispensed';
interface RxSpec {
  no: string;
  /** Local time in Asia/Shanghai, e.g. '2025-03-01T00:30:00'. */
  created: string;
  status: string;
  lines: number;
  review?: { decision: 'approved' | 'rejected'; afterS: number; reasons?: string[] };
  pricing?: { totalFen: number; insurerPaysFen: number };
  settlement?: { totalFen: number; insurerPaysFen: number; reversed?: boolean };
  orders?: [pharmacyCode: string, status: OrderStatus][];
  deliveredAfterS?: number;
  adverseReactions?: number;
  followUps?: [kind: 'adherence' | 'adverse_reaction' | 'refill_reminder', status: 'scheduled' | 'sent'][];
}

const at = (local: string, plusS = 0) => new Date(new Date(`${local}+08:00`).getTime() + plusS * 1000);
const json = (v: unknown) => JSON.stringify(v);

async function insertHospital(h: { code: string; name: string }, region: string): Promise<{ id: string; doctorId: string }> {
  const id = randomUUID();
  const doctorId = randomUUID();
  await sql(`insert into hospital (id, code, name, region_code, signing_keys, created_at) values (?, ?, ?, ?, '[]'::jsonb, now())`, [id, h.code, h.name, region]);
  await sql(`insert into doctor (id, hospital_id, code, name, license_no, licensed, authorised) values (?, ?, 'D-RPT', '报表医生（测试）', '110330282000001', true, true)`, [doctorId, id]);
  return { id, doctorId };
}

async function insertPrescription(h: { id: string; doctorId: string }, rx: RxSpec): Promise<string> {
  const id = randomUUID();
  const created = at(rx.created);
  const pricing = rx.pricing ? { planId: 'fixture', lines: [], ...rx.pricing, patientPaysFen: rx.pricing.totalFen - rx.pricing.insurerPaysFen } : null;
  await sql(
    `insert into prescription (id, hospital_id, rx_no, content_hash, status, content, doctor_id, patient_ref, issued_at, expires_at, flags, pricing, workflow_id, created_at, updated_at)
     values (?, ?, ?, ?, ?, ?::jsonb, ?, 'patient-rpt', ?, ?, '[]'::jsonb, ?::jsonb, ?, ?, ?)`,
    [id, h.id, rx.no, 'f'.repeat(64), rx.status, json({ rxNo: rx.no, fixture: 'reports' }), h.doctorId, created, at(rx.created, 3 * 86400),
      pricing ? json(pricing) : null, `rx-${id}`, created, created]);
  for (let n = 1; n <= rx.lines; n++) {
    await sql(`insert into prescription_line (id, prescription_id, line_no, drug_code, drug_name, quantity, dosage, frequency, route, days)
               values (?, ?, ?, 'FIXTURE', '测试药品', 1, '1片', 'qd', 'po', 7)`, [randomUUID(), id, n]);
  }
  if (rx.review) {
    await sql(`insert into review (id, prescription_id, pharmacist_id, decision, reasons, comment, decided_at)
               values (?, ?, (select id from pharmacist where code = 'P001'), ?, ?::jsonb, null, ?)`,
      [randomUUID(), id, rx.review.decision, json(rx.review.reasons ?? []), at(rx.created, rx.review.afterS)]);
  }
  for (const [i, [pharmacy, status]] of (rx.orders ?? []).entries()) {
    const offeredAt = at(rx.created, 4000 + i * 600);
    await sql(`insert into fulfilment_order (id, prescription_id, pharmacy_id, attempt, status, total_price_fen, distance_km, decline_reason, offered_at, responded_at)
               values (?, ?, (select id from pharmacy where code = ?), ?, ?, 1000, 1.5, null, ?, ?)`,
      [randomUUID(), id, pharmacy, i + 1, status, offeredAt, status === 'offered' ? null : new Date(offeredAt.getTime() + 60_000)]);
  }
  if (rx.settlement) {
    const s = rx.settlement;
    await sql(`insert into settlement (id, prescription_id, plan_id, total_fen, insurer_pays_fen, patient_pays_fen, lines, created_at, reversed_at)
               values (?, ?, 'fixture', ?, ?, ?, '[]'::jsonb, ?, ?)`,
      [randomUUID(), id, s.totalFen, s.insurerPaysFen, s.totalFen - s.insurerPaysFen, at(rx.created, 5000), s.reversed ? at(rx.created, 9 * 86400) : null]);
  }
  const audit = (action: string, afterS: number, data: unknown = {}) =>
    sql(`insert into audit_event (prescription_id, action, actor, from_status, to_status, data, at) values (?, ?, 'fixture', null, null, ?::jsonb, ?)`,
      [id, action, json(data), at(rx.created, afterS)]);
  await audit('received', 0);
  if (rx.deliveredAfterS !== undefined) await audit('delivery_delivered', rx.deliveredAfterS);
  for (let n = 0; n < (rx.adverseReactions ?? 0); n++) await audit('adverse_reaction_reported', 86400 + n, { symptom: '皮疹' });
  for (const [kind, status] of rx.followUps ?? []) {
    await sql(`insert into follow_up (id, prescription_id, kind, due_at, status, sent_at) values (?, ?, ?, ?, ?, ?)`,
      [randomUUID(), id, kind, at(rx.created, 86400), status, status === 'sent' ? at(rx.created, 86400) : null]);
  }
  return id;
}

beforeAll(async () => {
  const a = await insertHospital(HOSP_A, REGION);
  const b = await insertHospital(HOSP_B, REGION);
  // Hospital A
  await insertPrescription(a, { // 1 s before March in Shanghai (still 28 Feb): February
    no: 'RPT-A0', created: '2025-02-28T23:59:59', status: 'rejected', lines: 1, review: { decision: 'rejected', afterS: 60, reasons: ['不应计入三月'] },
  });
  await insertPrescription(a, { // 2025-02-28T16:30Z: February in UTC, March in Shanghai
    no: 'RPT-A1', created: '2025-03-01T00:30:00', status: 'follow_up', lines: 2, review: { decision: 'approved', afterS: 600 },
    pricing: { totalFen: 10000, insurerPaysFen: 6000 }, settlement: { totalFen: 9000, insurerPaysFen: 5400 },
    orders: [['PH002', 'declined'], ['PH001', 'dispensed']], deliveredAfterS: 7200, adverseReactions: 1,
    followUps: [['adherence', 'sent'], ['adverse_reaction', 'sent'], ['refill_reminder', 'scheduled']],
  });
  await insertPrescription(a, {
    no: 'RPT-A2', created: '2025-03-10T09:00:00', status: 'matching', lines: 3, review: { decision: 'approved', afterS: 1800 },
    pricing: { totalFen: 20000, insurerPaysFen: 0 }, orders: [['PH002', 'expired'], ['PH001', 'accepted']],
  });
  await insertPrescription(a, {
    no: 'RPT-A3', created: '2025-03-15T12:00:00', status: 'rejected', lines: 1, review: { decision: 'rejected', afterS: 300, reasons: [R_DOSE, R_DIAG] },
  });
  await insertPrescription(a, { no: 'RPT-A4', created: '2025-03-31T23:59:00', status: 'in_review', lines: 2 });
  await insertPrescription(a, { // 2025-03-31T16:30Z: March in UTC, April in Shanghai
    no: 'RPT-A5', created: '2025-04-01T00:30:00', status: 'delivered', lines: 5, review: { decision: 'approved', afterS: 60 },
    pricing: { totalFen: 100000, insurerPaysFen: 90000 }, orders: [['PH001', 'dispensed']], deliveredAfterS: 60, adverseReactions: 2,
  });
  // Hospital B
  await insertPrescription(b, {
    no: 'RPT-B1', created: '2025-03-20T10:00:00', status: 'returned', lines: 1, review: { decision: 'approved', afterS: 3600 },
    pricing: { totalFen: 5000, insurerPaysFen: 4000 }, settlement: { totalFen: 5000, insurerPaysFen: 4000, reversed: true },
    orders: [['PH002', 'dispensed']], deliveredAfterS: 3600,
  });
  await insertPrescription(b, {
    no: 'RPT-B2', created: '2025-03-21T10:00:00', status: 'rejected', lines: 2, review: { decision: 'rejected', afterS: 900, reasons: [R_DOSE] },
  });
  await insertPrescription(b, {
    no: 'RPT-B3', created: '2025-03-22T10:00:00', status: 'follow_up', lines: 1, review: { decision: 'approved', afterS: 1200 },
    pricing: { totalFen: 3000, insurerPaysFen: 1500 }, orders: [['PH002', 'short'], ['PH001', 'dispensed']], deliveredAfterS: 5400,
    followUps: [['adherence', 'sent'], ['adverse_reaction', 'scheduled']],
  });
  await insertPrescription(b, {
    no: 'RPT-B4', created: '2025-03-25T10:00:00', status: 'matching', lines: 1, review: { decision: 'approved', afterS: 600 },
    pricing: { totalFen: 2000, insurerPaysFen: 1000 }, orders: [['PH001', 'offered']],
  });
});

// March cohort, hospital A = A1..A4 (A0 is February, A5 April).
const EXPECTED_A = {
  key: 'RPT-A', name: HOSP_A.name, regionCode: REGION,
  issued: 4, approved: 2, rejected: 1,                                // A1, A2 approved; A3 rejected; A4 not reviewed
  rejectedByReason: [{ reason: R_DOSE, count: 1 }, { reason: R_DIAG, count: 1 }],
  avgDrugsPerPrescription: 2,                                         // (2 + 3 + 1 + 2) / 4
  avgValueFen: 15000,                                                 // priced A1, A2: (10000 + 20000) / 2
  insurerShare: 0.1862,                                               // A1 settlement 5400/9000, A2 pricing 0/20000: 5400 / 29000 = 0.18620…
  reviewSecondsP50: 600, reviewSecondsP90: 1560,                      // [300, 600, 1800]: p90 at 1.8 → 600 + 0.8 × 1200
  deliverySecondsP50: 7200, deliverySecondsP90: 7200,                 // A1 only
  offersAnswered: 4, offersAccepted: 2, pharmacyAcceptanceRate: 0.5,  // declined, dispensed, expired, accepted
  followUps: 3, followUpsSent: 2, followUpCompletionRate: 0.6667,     // A1: 2 of 3 sent
  adverseReactions: 1,                                                // A1 (A5's two are April's)
};
const EXPECTED_B = {
  key: 'RPT-B', name: HOSP_B.name, regionCode: REGION,
  issued: 4, approved: 3, rejected: 1,                                // B1, B3, B4 approved; B2 rejected
  rejectedByReason: [{ reason: R_DOSE, count: 1 }],
  avgDrugsPerPrescription: 1.25,                                      // (1 + 2 + 1 + 1) / 4
  avgValueFen: 3333,                                                  // (5000 + 3000 + 2000) / 3 = 3333.3
  insurerShare: 0.5,                                                  // B1's settlement is reversed: left out; B3 1500/3000, B4 1000/2000 → 2500 / 5000
  reviewSecondsP50: 1050, reviewSecondsP90: 2880,                     // [600, 900, 1200, 3600]: p50 at 1.5 → 900 + 0.5 × 300; p90 at 2.7 → 1200 + 0.7 × 2400
  deliverySecondsP50: 4500, deliverySecondsP90: 5220,                 // [3600, 5400]: p90 at 0.9 → 3600 + 0.9 × 1800
  offersAnswered: 3, offersAccepted: 2, pharmacyAcceptanceRate: 0.6667, // B1 dispensed; B3 short, dispensed; B4's pending offer not counted
  followUps: 2, followUpsSent: 1, followUpCompletionRate: 0.5,        // B3
  adverseReactions: 0,
};
const EXPECTED_REGION = {
  key: REGION, name: null, regionCode: REGION,
  issued: 8, approved: 5, rejected: 2,
  rejectedByReason: [{ reason: R_DOSE, count: 2 }, { reason: R_DIAG, count: 1 }],
  avgDrugsPerPrescription: 1.63,                                      // (8 + 5) / 8 = 1.625, rounded half up
  avgValueFen: 8000,                                                  // (10000 + 20000 + 5000 + 3000 + 2000) / 5
  insurerShare: 0.2324,                                               // (5400 + 0 + 1500 + 1000) / (9000 + 20000 + 3000 + 2000) = 7900 / 34000 = 0.23235…
  reviewSecondsP50: 900, reviewSecondsP90: 2520,                      // [300, 600, 600, 900, 1200, 1800, 3600]: p50 at 3; p90 at 5.4 → 1800 + 0.4 × 1800
  deliverySecondsP50: 5400, deliverySecondsP90: 6840,                 // [3600, 5400, 7200]: p90 at 1.8 → 5400 + 0.8 × 1800
  offersAnswered: 7, offersAccepted: 4, pharmacyAcceptanceRate: 0.5714, // 4 / 7
  followUps: 5, followUpsSent: 3, followUpCompletionRate: 0.6,
  adverseReactions: 1,
};

const mine = (rows: any[], keys: string[]) => rows.filter((r) => keys.includes(r.key));

describe('GET /v1/reports/monthly', () => {
  it('reports per hospital: counts, reasons, averages, insurer share, percentiles, acceptance, follow-ups', async () => {
    const r = await actors().operator.get(`/v1/reports/monthly?month=${MONTH}&by=hospital`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ month: MONTH, by: 'hospital', timezone: 'Asia/Shanghai', from: '2025-03-01T00:00:00+08:00', to: '2025-04-01T00:00:00+08:00' });
    // Equal issued counts: ordered by key.
    expect(mine(r.body.rows, ['RPT-A', 'RPT-B'])).toEqual([EXPECTED_A, EXPECTED_B]);
  });

  it('reports per region over all its hospitals', async () => {
    const r = await actors().operator.get(`/v1/reports/monthly?month=${MONTH}&by=region`);
    expect(r.status).toBe(200);
    expect(mine(r.body.rows, [REGION])).toEqual([EXPECTED_REGION]);
  });

  it('reports per pharmacy: the prescriptions it took, and every offer it answered', async () => {
    const names = Object.fromEntries((await sql(`select code, name from pharmacy where code in ('PH001', 'PH002')`)).map((p) => [p.code, p.name]));
    const r = await actors().operator.get(`/v1/reports/monthly?month=${MONTH}&by=pharmacy`);
    expect(r.status).toBe(200);
    expect(mine(r.body.rows, ['PH001', 'PH002'])).toEqual([
      {
        key: 'PH001', name: names.PH001, regionCode: null,
        issued: 3, approved: 3, rejected: 0, rejectedByReason: [],        // took A1 (dispensed), A2 (accepted), B3 (dispensed)
        avgDrugsPerPrescription: 2,                                       // (2 + 3 + 1) / 3
        avgValueFen: 11000,                                               // (10000 + 20000 + 3000) / 3
        insurerShare: 0.2156,                                             // (5400 + 0 + 1500) / (9000 + 20000 + 3000) = 6900 / 32000 = 0.215625
        reviewSecondsP50: 1200, reviewSecondsP90: 1680,                   // [600, 1200, 1800]: p90 at 1.8 → 1200 + 0.8 × 600
        deliverySecondsP50: 6300, deliverySecondsP90: 7020,               // [5400, 7200]: p50 midpoint; p90 → 5400 + 0.9 × 1800
        offersAnswered: 3, offersAccepted: 3, pharmacyAcceptanceRate: 1,  // A1, A2, B3 accepted; B4 still pending
        followUps: 5, followUpsSent: 3, followUpCompletionRate: 0.6,      // A1 2/3 + B3 1/2
        adverseReactions: 1,
      },
      {
        key: 'PH002', name: names.PH002, regionCode: null,
        issued: 1, approved: 1, rejected: 0, rejectedByReason: [],        // took B1
        avgDrugsPerPrescription: 1, avgValueFen: 5000,
        insurerShare: null,                                               // B1's only settlement was reversed
        reviewSecondsP50: 3600, reviewSecondsP90: 3600,
        deliverySecondsP50: 3600, deliverySecondsP90: 3600,
        offersAnswered: 4, offersAccepted: 1, pharmacyAcceptanceRate: 0.25, // A1 declined, A2 expired, B1 dispensed, B3 short
        followUps: 0, followUpsSent: 0, followUpCompletionRate: null,
        adverseReactions: 0,
      },
    ]);
  });

  it('draws month boundaries in Asia/Shanghai time', async () => {
    const op = actors().operator;
    const feb = mine((await op.get('/v1/reports/monthly?month=2025-02&by=hospital')).body.rows, ['RPT-A', 'RPT-B']);
    expect(feb).toMatchObject([{ key: 'RPT-A', issued: 1, rejected: 1, rejectedByReason: [{ reason: '不应计入三月', count: 1 }] }]);
    const apr = mine((await op.get('/v1/reports/monthly?month=2025-04&by=hospital')).body.rows, ['RPT-A', 'RPT-B']);
    expect(apr).toMatchObject([{ key: 'RPT-A', issued: 1, approved: 1, avgDrugsPerPrescription: 5, adverseReactions: 2 }]);
    const empty = await op.get('/v1/reports/monthly?month=2019-01&by=region');
    expect(empty.status).toBe(200);
    expect(empty.body.rows).toEqual([]);
  });

  it('exports CSV: UTF-8 with a BOM, a bilingual header, one line per group', async () => {
    const res = await fetch(`${apiUrl()}/v1/reports/monthly?month=${MONTH}&by=hospital&format=csv`, { headers: { authorization: 'Bearer demo-operator-key' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="rx-monthly-${MONTH}-hospital.csv"`);
    const bytes = Buffer.from(await res.arrayBuffer());
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const lines = bytes.subarray(3).toString('utf8').split('\r\n');
    expect(lines.at(-1)).toBe(''); // ends with CRLF
    expect(lines[0]).toBe(MONTHLY_CSV_HEADER.join(','));
    expect(lines[0].startsWith('月份 (month),分组 (group),代码 (key),名称 (name),地区代码 (region_code),开方数 (issued),审核通过 (approved),审核驳回 (rejected)')).toBe(true);
    expect(lines).toContain(`${MONTH},hospital,RPT-A,${HOSP_A.name},${REGION},4,2,1,${R_DOSE}: 1; ${R_DIAG}: 1,2,15000,0.1862,600,1560,7200,7200,4,2,0.5,3,2,0.6667,1`);
    expect(lines).toContain(`${MONTH},hospital,RPT-B,${HOSP_B.name},${REGION},4,3,1,${R_DOSE}: 1,1.25,3333,0.5,1050,2880,4500,5220,3,2,0.6667,2,1,0.5,0`);
  });

  it('is for operators only', async () => {
    const a = actors();
    const forbidden = await a.hospital.get(`/v1/reports/monthly?month=${MONTH}&by=hospital`);
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.error.code).toBe('FORBIDDEN');
    expect((await a.pharmacist.get(`/v1/reports/monthly?month=${MONTH}&by=hospital`)).status).toBe(403);
    expect((await a.pharmacy('PH001').get(`/v1/reports/monthly?month=${MONTH}&by=pharmacy&format=csv`)).status).toBe(403);
    expect((await anonymous().get(`/v1/reports/monthly?month=${MONTH}&by=hospital`)).status).toBe(401);
  });

  it('refuses a bad month, grouping or format with VALIDATION_FAILED', async () => {
    const op = actors().operator;
    for (const [query, path] of [
      ['month=2025-13&by=hospital', '$.month'],
      ['month=2025-3&by=hospital', '$.month'],
      ['by=hospital', '$.month'],
      ['month=2025-03&by=city', '$.by'],
      ['month=2025-03&by=hospital&format=xlsx', '$.format'],
      ['month=2025-03&month=2025-04&by=hospital', '$.month'],
    ]) {
      const r = await op.get(`/v1/reports/monthly?${query}`);
      expect({ query, status: r.status, code: r.body.error?.code }).toEqual({ query, status: 400, code: 'VALIDATION_FAILED' });
      expect(r.body.error.details.map((d: any) => d.path)).toEqual([path]);
    }
  });
});

describe('the operator report page', () => {
  it('is served outside /v1 without a key, with its scripts and a strict content security policy', async () => {
    const page = await fetch(`${apiUrl()}/ops/reports`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await page.text();
    expect(html).toContain('处方月度分析');
    expect(html).toContain('/ops/assets/echarts.min.js');
    for (const asset of ['/ops/assets/echarts.min.js', '/ops/assets/ops-reports.js']) {
      const r = await fetch(`${apiUrl()}${asset}`);
      expect({ asset, status: r.status, type: r.headers.get('content-type') }).toEqual({ asset, status: 200, type: 'text/javascript; charset=utf-8' });
    }
    expect((await fetch(`${apiUrl()}/ops/assets/..%2F..%2Fpackage.json`)).status).toBe(404);
  });
});
