// The insurance pre-check as a subsystem, against the real services: the policy tables loaded into
// PostgreSQL and chosen by date, every pricing rule through intake → review → pre-check, an insurer that
// does not answer (self-pay with consent, or held and asked again), the settlement at dispensing and its
// reversal when the delivery ends returned. docs/insurance.md.
import { randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { Client as EsClient } from '@elastic/elasticsearch';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { statusIs, waitForPrescription } from '../../demo/actors';
import { demoPrescriptionContent, drugByName, signAsDemoHospital } from '../../demo/prescriptions';
import { scanOrder } from '../../demo/packs';
import { createActivities } from '../../activities';
import { httpInsurer } from '../../activities/insurer';
import { INSURANCE_DIR, loadInsurancePolicies, PolicyFileError, readInsuranceFiles, readPolicies } from '../../catalog/insurance';
import { precheck } from '../../domain/insurance';
import { coverageFrom } from '../../domain/insurance-plans';
import { lookupHash } from '../../domain/field-crypto';
import { maskMemberId } from '../../domain/masking';
import { dataKeyRing } from '../../engine/data-keys';
import { intakePrescription } from '../../api/intake';
import { loadConfig } from '../../engine/config';
import { workflowBundle } from '../../engine/runtime';
import { openOrm } from '../../db/orm';
import { actors, approve, closeDb, sql } from './helpers';
import { startInsurerSimulator, type InsurerSimulator } from '../simulators/insurer';

afterAll(closeDb);

const chinaToday = () => new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10);
const member = () => `M${randomUUID().slice(0, 12)}`;

/** What the pre-check must say, computed from the policy files by the pure engine at list prices. */
function expected(insurance: any, drugs: { name: string; quantity?: number }[]) {
  const coverage = coverageFrom(readInsuranceFiles(), insurance, chinaToday());
  return precheck({ ...coverage, lines: drugs.map((d, i) => { const x = drugByName(d.name); return { lineNo: i + 1, drugCode: x.code, insuranceClass: x.insuranceClass, insuranceCode: x.insuranceCode, unitPriceFen: x.priceFen, quantity: d.quantity ?? 1 }; }) });
}

async function pushApprovedAndPriced(insurance: any, drugs: { name: string; quantity?: number }[]) {
  const a = actors();
  const pushed = await a.hospital.post('/v1/prescriptions', signAsDemoHospital(demoPrescriptionContent({ drugs, insurance })));
  expect(pushed.status).toBe(201);
  const id = pushed.body.prescription.id as string;
  await waitForPrescription(a.hospital, id, statusIs('in_review'));
  await approve(id);
  const priced = await waitForPrescription(a.hospital, id, (d) => Boolean(d.prescription.pricing));
  return { id, pricing: priced.prescription.pricing };
}
/** Ends a test's prescription (nothing left running on a test worker); one that ended on its own is left as it is. */
const cancel = async (id: string) => {
  await actors().hospital.post(`/v1/prescriptions/${id}/cancel`, { reason: '测试结束 / test done' });
  await waitForPrescription(actors().hospital, id, statusIs('cancelled', 'unfulfillable', 'expired', 'returned', 'completed'));
};

describe('policy tables in PostgreSQL', () => {
  it('the seed loaded every version; loading again changes nothing; a changed version is refused', async () => {
    const rows = await sql(`select region, version, to_char(effective_from, 'YYYY-MM-DD') as f, sha256 from insurance_policy where region = '330100' order by version`);
    expect(rows.map((r) => [r.version, r.f])).toEqual([[1, '2025-01-01'], [2, '2026-01-01']]);
    const orm: MikroORM = await openOrm(process.env.DATABASE_URL!);
    try {
      expect(await loadInsurancePolicies(orm.em.fork() as EntityManager)).toEqual([
        { region: '330100', version: 1, action: 'unchanged' }, { region: '330100', version: 2, action: 'unchanged' },
      ]);
      const dir = mkdtempSync(path.join(os.tmpdir(), 'rx-insurance-'));
      cpSync(INSURANCE_DIR, dir, { recursive: true });
      const file = path.join(dir, '330100.v2.json');
      const changed = JSON.parse(readFileSync(file, 'utf8'));
      changed.plans[0].deductibleFen += 1;
      writeFileSync(file, JSON.stringify(changed));
      await expect(loadInsurancePolicies(orm.em.fork() as EntityManager, dir)).rejects.toThrow(PolicyFileError);
      const versions = await readPolicies((q, p) => orm.em.fork().getConnection().execute(q, p ?? []));
      expect(versions.find((v) => v.version === 2)!.plans[0].deductibleFen).toBe(30_000);
    } finally {
      await orm.close();
    }
    const listed = await actors().operator.get('/v1/insurance/policies');
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((p: any) => `${p.region}.v${p.version}`)).toEqual(['330100.v1', '330100.v2']);
    expect((await actors().hospital.get('/v1/insurance/policies')).status).toBe(403);
  });
});

describe('every pricing rule through the pre-check', () => {
  it('class A with the deductible partly used, class B at the region\'s own share, a drug not listed', async () => {
    const insurance = { planId: 'HZ-EMPLOYEE', memberId: member(), visitType: 'outpatient', deductibleUsedFen: 29_500, paidThisYearFen: 0 };
    const drugs = [{ name: '二甲双胍', quantity: 1 }, { name: '苯磺酸左旋氨氯地平片', quantity: 1 }, { name: '复方对乙酰氨基酚片（Ⅱ）', quantity: 1 }];
    const { id, pricing } = await pushApprovedAndPriced(insurance, drugs);
    try {
      const want = expected(insurance, drugs);
      expect(pricing).toMatchObject({ planId: 'HZ-EMPLOYEE', policyVersion: 2, engine: 'rules', totalFen: want.totalFen, insurerPaysFen: want.insurerPaysFen, patientPaysFen: want.patientPaysFen });
      expect(pricing.lines.map((l: any) => l.rules)).toEqual([['CLASS_A', 'DEDUCTIBLE', 'RATIO'], ['CLASS_B', 'RATIO'], ['NOT_LISTED']]);
      // 二甲双胍 1,180: 500 left of the deductible, 680 × 75% = 510
      expect(pricing.lines[0]).toMatchObject({ amountFen: 1_180, insurerPaysFen: 510, patientPaysFen: 670 });
      // 苯磺酸左旋氨氯地平片 2,680, class B at Hangzhou's 5% (the national default would be 10%): 134 self-pay, 2,546 × 75% = 1,909
      expect(pricing.lines[1]).toMatchObject({ insurerPaysFen: 1_909, patientPaysFen: 771 });
      expect(pricing.lines[1].reasons[0]).toMatch(/5%/);
      expect(pricing.lines[2]).toMatchObject({ insurerPaysFen: 0, patientPaysFen: 1_390 });
      const [event] = await sql(`select data from audit_event where prescription_id = ? and action = 'insurance_prechecked'`, [id]);
      expect(event.data.totalFen).toBe(want.totalFen);
    } finally {
      await cancel(id);
    }
  });

  it('chronic plan (门诊慢特病), the annual cap reached, and commercial insurance as the second payer', async () => {
    const insurance = {
      planId: 'HZ-EMPLOYEE', memberId: member(), visitType: 'chronic_special', deductibleUsedFen: 0, paidThisYearFen: 1_999_000,
      commercial: { planId: 'XHYLB', memberId: 'XH-1', usedFen: 0 },
    };
    const drugs = [{ name: '苯磺酸氨氯地平片', quantity: 2 }];
    const { id, pricing } = await pushApprovedAndPriced(insurance, drugs);
    try {
      // 5,720: no deductible for chronic care, 85% = 4,862 but only 1,000 left under the cap;
      // 西湖益联保 pays 60% of the copay 858 and of the 3,862 over the cap = 2,832; the patient 1,888
      expect(pricing.lines[0].rules).toEqual(['CLASS_A', 'RATIO', 'ANNUAL_CAP', 'COMMERCIAL']);
      expect(pricing).toMatchObject({ totalFen: 5_720, insurerPaysFen: 1_000, commercialPaysFen: 2_832, patientPaysFen: 1_888, commercialPlanId: 'XHYLB', visitType: 'chronic_special' });
      expect(pricing).toMatchObject({ insurerPaysFen: expected(insurance, drugs).insurerPaysFen });
    } finally {
      await cancel(id);
    }
  });

  it('no insurance block, or a plan with no policy in force: self-pay', async () => {
    const { id, pricing } = await pushApprovedAndPriced({ planId: 'NO-SUCH-PLAN', memberId: member() }, [{ name: '苯磺酸氨氯地平片' }]);
    try {
      expect(pricing).toMatchObject({ planId: null, insurerPaysFen: 0, patientPaysFen: 2_860 });
      expect(pricing.lines[0].rules).toEqual(['SELF_PAY']);
    } finally {
      await cancel(id);
    }
  });
});

describe('an insurer that does not answer in time', () => {
  let orm: MikroORM;
  let es: EsClient;
  let temporal: Client;
  let sim: InsurerSimulator;
  let worker: Worker;
  let running: Promise<void>;
  const taskQueue = `insurance-test-${randomUUID()}`;
  const config = loadConfig();
  beforeAll(async () => {
    orm = await openOrm(config.databaseUrl);
    es = new EsClient({ node: config.elasticsearchUrl });
    temporal = new Client({ connection: await Connection.connect({ address: config.temporalAddress }), namespace: config.temporalNamespace });
    sim = await startInsurerSimulator({ apiKey: 'sim-key' });
    // This engine's worker asks the simulator, with a short deadline; only these prescriptions run on it.
    const insurer = httpInsurer({ baseUrl: sim.url, apiKey: 'sim-key', timeoutMs: 400, retries: 1, backoffMs: 50 });
    const activities = createActivities({ orm, es, temporal, indexPrefix: config.indexPrefix, filesDir: config.filesDir, cjkFont: config.cjkFont, matchAtMinute: config.matchAtMinute, insurer });
    worker = await Worker.create({ connection: await NativeConnection.connect({ address: config.temporalAddress }), namespace: config.temporalNamespace, taskQueue, workflowBundle: await workflowBundle(), activities });
    running = worker.run();
  });
  afterAll(async () => {
    worker?.shutdown();
    await running?.catch(() => undefined);
    await sim?.close();
    await temporal?.connection.close();
    await es?.close();
    await orm?.close();
  });

  async function start(fallback: 'self_pay' | 'hold', insurance: Record<string, unknown>) {
    const [hospital] = await sql(`select id from hospital where code = 'DEMO-HOSP'`);
    const { prescription } = await intakePrescription(
      { orm, temporal, taskQueue, timings: { ...config.timings, insurerTimeoutMs: 400, insurerFallback: fallback, insurerHoldRetryMs: 1_000 } },
      hospital.id, signAsDemoHospital(demoPrescriptionContent({ drugs: [{ name: '苯磺酸氨氯地平片' }], insurance: { planId: 'HZ-EMPLOYEE', memberId: member(), visitType: 'outpatient', deductibleUsedFen: 30_000, ...insurance } })));
    await waitForPrescription(actors().hospital, prescription.id, statusIs('in_review'));
    await approve(prescription.id);
    return prescription.id;
  }
  const events = async (id: string, action: string) => (await sql(`select data from audit_event where prescription_id = ? and action = ? order by id`, [id, action])).map((r) => r.data);

  it('answers in time: priced by the insurer (same idempotency key on every attempt)', async () => {
    sim.behaviour.delayMs = 0;
    const id = await start('hold', {});
    const d = await waitForPrescription(actors().hospital, id, (x) => Boolean(x.prescription.pricing));
    try {
      expect(d.prescription.pricing).toMatchObject({ engine: 'http', planId: 'HZ-EMPLOYEE', insurerPaysFen: 2_145, patientPaysFen: 715 }); // 2,860 × 75%
      expect(sim.requests.filter((r) => r.body.prescriptionId === id).map((r) => r.idempotencyKey)).toEqual([`rxflow-precheck-${id}`]);
    } finally {
      await cancel(id);
    }
  });

  it('self_pay with the patient\'s consent: proceeds as self-pay after the deadline, saying why', async () => {
    sim.behaviour.delayMs = 30_000;
    const id = await start('self_pay', { selfPayConsent: true });
    const d = await waitForPrescription(actors().hospital, id, (x) => Boolean(x.prescription.pricing));
    try {
      expect(d.prescription.pricing).toMatchObject({ planId: null, insurerPaysFen: 0, patientPaysFen: 2_860, fallback: { kind: 'self_pay' } });
      expect(d.prescription.pricing.lines[0].rules).toEqual(['INSURER_UNAVAILABLE']);
      expect(await events(id, 'insurer_unavailable')).toEqual([expect.objectContaining({ kind: 'timeout', outcome: 'self_pay', engine: 'http' })]);
    } finally {
      await cancel(id);
    }
  });

  it('without consent (or RX_INSURER_FALLBACK=hold): held, hospital and patient told, priced once the insurer answers', async () => {
    sim.behaviour.delayMs = 30_000;
    const id = await start('self_pay', {}); // self_pay configured, but no consent on the prescription
    await waitForPrescription(actors().hospital, id, (x) => x.workflow?.timeline.some((e: any) => e.event === 'insurance_held'));
    try {
      const held = await actors().hospital.get(`/v1/prescriptions/${id}`);
      expect(held.body.prescription.status).toBe('approved'); // not priced, nothing reserved
      expect(held.body.prescription.pricing).toBeNull();
      expect((await events(id, 'insurer_unavailable'))[0]).toMatchObject({ outcome: 'held', why: 'no self-pay consent on the prescription' });
      expect((await events(id, 'hospital_notified')).map((e) => e.event)).toContain('insurance_held');
      expect((await events(id, 'patient_notified')).map((e) => e.event)).toContain('insurance_held');
      expect(await sql(`select 1 from reservation where prescription_id = ?`, [id])).toEqual([]);

      sim.behaviour.delayMs = 0; // the insurer is back: the next retry prices it
      const priced = await waitForPrescription(actors().hospital, id, (x) => Boolean(x.prescription.pricing), 30_000);
      expect(priced.prescription.pricing).toMatchObject({ engine: 'http', insurerPaysFen: 2_145 });
    } finally {
      await cancel(id);
    }
  });

  it('held prescriptions can be cancelled', async () => {
    sim.behaviour.delayMs = 30_000;
    const id = await start('hold', { selfPayConsent: true }); // consent does not matter when the fallback is hold
    await waitForPrescription(actors().hospital, id, (x) => x.workflow?.timeline.some((e: any) => e.event === 'insurance_held'));
    expect((await actors().hospital.post(`/v1/prescriptions/${id}/cancel`, { reason: '患者改为线下购药' })).status).toBe(202);
    await waitForPrescription(actors().hospital, id, statusIs('cancelled'));
    expect((await events(id, 'insurer_unavailable'))[0]).toMatchObject({ outcome: 'held', why: 'RX_INSURER_FALLBACK=hold' });
  });
});

describe('settlement at dispensing, reversal at return', () => {
  it('settles what was handed out by the same rules, counts it towards the member\'s year, and reverses it when the delivery ends returned', async () => {
    const a = actors();
    const memberId = member();
    const insurance = { planId: 'HZ-EMPLOYEE', memberId, visitType: 'outpatient', deductibleUsedFen: 29_000, paidThisYearFen: 0 };
    const { id } = await pushApprovedAndPriced(insurance, [{ name: '苯磺酸氨氯地平片' }, { name: '二甲双胍' }]);
    const offered = await waitForPrescription(a.hospital, id, (d) => d.workflow?.offer && d.workflow.timeline.at(-1)?.event === 'pharmacy_offered');
    const code = offered.workflow.offer.pharmacyCode;
    const order = (await a.pharmacy(code).get('/v1/pharmacy/orders')).body.items.find((o: any) => o.prescriptionId === id);
    expect((await a.hospital.get(`/v1/prescriptions/${id}/settlement`)).body.error.code).toBe('NOT_SETTLED');
    await a.pharmacy(code).post(`/v1/pharmacy/orders/${order.orderId}/accept`);
    await waitForPrescription(a.hospital, id, (d) => d.workflow.timeline.at(-1)?.event === 'pharmacy_accepted');
    expect((await a.pharmacy(code).post(`/v1/pharmacy/orders/${order.orderId}/dispense`, { pharmacistName: '孙药师', lines: scanOrder(order.lines) })).status).toBe(201);

    // The pharmacy's own prices, the same rules: reproduce it from the policy files.
    const prices = await sql(`select s.drug_code, s.price_fen from stock s join pharmacy p on p.id = s.pharmacy_id where p.code = ?`, [code]);
    const price = new Map(prices.map((p) => [p.drug_code, p.price_fen]));
    const lines = order.lines.map((l: any, i: number) => {
      const drug = [drugByName('苯磺酸氨氯地平片'), drugByName('二甲双胍')].find((x) => x.code === l.drugCode)!;
      return { lineNo: l.lineNo ?? i + 1, drugCode: drug.code, insuranceClass: drug.insuranceClass, insuranceCode: drug.insuranceCode, unitPriceFen: price.get(drug.code) ?? drug.priceFen, quantity: 1 };
    });
    const want = precheck({ ...coverageFrom(readInsuranceFiles(), insurance as any, chinaToday()), lines });
    const settled = (await a.hospital.get(`/v1/prescriptions/${id}/settlement`)).body;
    expect(settled.settlement).toMatchObject({
      planId: 'HZ-EMPLOYEE', memberId: maskMemberId(memberId), policyVersion: 2, planYear: Number(chinaToday().slice(0, 4)), engine: 'rules',
      totalFen: want.totalFen, insurerPaysFen: want.insurerPaysFen, patientPaysFen: want.patientPaysFen, deductibleAppliedFen: 1_000, reversedAt: null,
    });
    expect(settled.reversal).toBeNull();

    // The member's next prescription starts from what this one used: the deductible is now met.
    const next = await pushApprovedAndPriced({ ...insurance }, [{ name: '苯磺酸氨氯地平片' }]);
    try {
      expect(next.pricing.lines[0].rules).toEqual(['CLASS_A', 'RATIO']);
      expect(next.pricing.insurerPaysFen).toBe(2_145);
    } finally {
      await cancel(next.id);
    }

    // Both delivery attempts fail: returned, and the settlement is reversed by its own record.
    for (let attempt = 1; attempt <= 2; attempt++) {
      const d = await waitForPrescription(a.hospital, id, (x) => x.workflow?.delivery?.attempt === attempt && x.workflow.delivery.status === 'created');
      const { deliveryId, partnerCode } = d.workflow.delivery;
      expect((await a.courier(partnerCode).post(`/v1/deliveries/${deliveryId}/status`, { status: 'failed', note: '无人签收 / nobody home' })).status).toBe(202);
      // The last attempt's parcel is brought back to the pharmacy (docs/delivery.md).
      if (attempt === 2) {
        await waitForPrescription(a.hospital, id, (x) => x.workflow.delivery.status === 'failed');
        expect((await a.courier(partnerCode).post(`/v1/deliveries/${deliveryId}/status`, { status: 'returned' })).status).toBe(202);
      }
    }
    await waitForPrescription(a.hospital, id, statusIs('returned'));
    const after = (await a.hospital.get(`/v1/prescriptions/${id}/settlement`)).body;
    expect(after.settlement.reversedAt).toBeTruthy();
    expect(after.reversal).toMatchObject({ reason: 'returned', totalFen: -want.totalFen, insurerPaysFen: -want.insurerPaysFen, patientPaysFen: -want.patientPaysFen, commercialPaysFen: 0 });
    expect(after.reversal.lines.map((l: any) => l.amountFen)).toEqual(after.settlement.lines.map((l: any) => -l.amountFen));
    const [audit] = await sql(`select data from audit_event where prescription_id = ? and action = 'settlement_reversed'`, [id]);
    expect(audit.data).toMatchObject({ reason: 'returned', insurerPaysFen: want.insurerPaysFen });
    // Reversed: it no longer counts towards the member's year.
    const [{ n }] = await sql(`select count(*)::int as n from settlement where member_hash = ? and reversed_at is null`, [lookupHash(dataKeyRing(), 'insuranceMember', memberId)]);
    expect(n).toBe(0);
  });
});
