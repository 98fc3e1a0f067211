// The pharmacist's review against the real engine: claims raced by two pharmacists, decisions that need a
// claim, reason codes, the override rule, the licence check, signed decisions, the SLA (escalation, then
// return as not reviewed, with short timers) and an amended version of a rejected prescription.
import { Client, Connection } from '@temporalio/client';
import type { MikroORM } from '@mikro-orm/postgresql';
import { actions, actors, approve, claimAndReview, closeDb, sql } from './helpers';
import { statusIs, waitForPrescription, type ApiClient } from '../../demo/actors';
import { demoPrescription, demoPrescriptionContent, signAsDemoHospital } from '../../demo/prescriptions';
import { openOrm } from '../../db/orm';
import { loadConfig } from '../../engine/config';
import { intakePrescription } from '../../api/intake';

afterAll(closeDb);

const expectError = (r: { status: number; body: any }, status: number, code: string) => {
  expect({ status: r.status, code: r.body?.error?.code }).toEqual({ status, code });
  expect(typeof r.body.error.message).toBe('string');
};

async function pushed(rx: Record<string, unknown> = demoPrescription()): Promise<string> {
  const a = actors();
  const r = await a.hospital.post('/v1/prescriptions', rx);
  expect(r.status).toBe(201);
  await waitForPrescription(a.hospital, r.body.prescription.id, statusIs('in_review'));
  return r.body.prescription.id;
}
const claim = (p: ApiClient, id: string) => p.post(`/v1/review-queue/${id}/claim`);
const review = (p: ApiClient, id: string, body: Record<string, unknown>) => p.post(`/v1/prescriptions/${id}/review`, body);
const queueItem = async (p: ApiClient, id: string) => (await p.get('/v1/review-queue?limit=200')).body.items.find((i: any) => i.id === id);

describe('claims', () => {
  it('lets exactly one of two pharmacists racing for the same prescription win', async () => {
    const a = actors();
    const ids = await Promise.all([1, 2, 3, 4].map(() => pushed()));
    for (const id of ids) {
      const [r1, r2] = await Promise.all([claim(a.pharmacist, id), claim(a.pharmacist2, id)]);
      const statuses = [r1.status, r2.status].sort();
      expect(statuses).toEqual([200, 409]);
      const [won, lost] = r1.status === 200 ? [r1, r2] : [r2, r1];
      expectError(lost, 409, 'CLAIMED_BY_OTHER');
      expect(lost.body.error.message).toContain(won.body.claim.pharmacistCode);
      expect(lost.body.error.message).toContain(won.body.claim.expiresAt);
      const [row] = await sql(`select count(*)::int as n from review_claim where prescription_id = ?`, [id]);
      expect(row.n).toBe(1);
      expect((await actions(id)).filter((x) => x === 'review_claimed')).toHaveLength(1);
    }
  });

  it('renews the holder\'s lease, shows it in the queue, and frees it on release', async () => {
    const a = actors();
    const id = await pushed();
    const first = await claim(a.pharmacist, id);
    expect(first.status).toBe(200);
    expect(first.body.claim).toMatchObject({ pharmacistCode: 'P001', renewed: false });
    // The lease is RX_REVIEW_CLAIM_MS long (10 minutes by default).
    const leaseMs = new Date(first.body.claim.expiresAt).getTime() - new Date(first.body.claim.claimedAt).getTime();
    expect(leaseMs).toBe(loadConfig().reviewClaimMs);
    const again = await claim(a.pharmacist, id);
    expect(again.body.claim).toMatchObject({ pharmacistCode: 'P001', renewed: true, claimedAt: first.body.claim.claimedAt });
    expect(new Date(again.body.claim.expiresAt).getTime()).toBeGreaterThanOrEqual(new Date(first.body.claim.expiresAt).getTime());

    const item = await queueItem(a.pharmacist2, id);
    expect(item.claim).toMatchObject({ pharmacistCode: 'P001', expiresAt: again.body.claim.expiresAt });
    expect(item.escalations).toBe(0);
    expect((await a.pharmacist2.get(`/v1/review-queue/${id}`)).body.claim.pharmacistCode).toBe('P001');

    expectError(await a.pharmacist2.post(`/v1/review-queue/${id}/release`), 409, 'CLAIMED_BY_OTHER');
    const released = await a.pharmacist.post(`/v1/review-queue/${id}/release`);
    expect(released.status).toBe(200);
    expect((await queueItem(a.pharmacist2, id)).claim).toBeNull();
    expect((await claim(a.pharmacist2, id)).body.claim.pharmacistCode).toBe('P002');
  });

  it('takes over a lease that has expired', async () => {
    const a = actors();
    const id = await pushed();
    expect((await claim(a.pharmacist, id)).status).toBe(200);
    await sql(`update review_claim set expires_at = now() - interval '1 second' where prescription_id = ?`, [id]); // P001 walked away
    expect((await queueItem(a.pharmacist2, id)).claim).toBeNull();
    const taken = await claim(a.pharmacist2, id);
    expect(taken.status).toBe(200);
    expect(taken.body.claim).toMatchObject({ pharmacistCode: 'P002', renewed: false });
    expectError(await review(a.pharmacist, id, { decision: 'approve', reasons: [] }), 409, 'CLAIM_REQUIRED');
  });
});

describe('decisions', () => {
  it('refuses a decision without an active claim by this pharmacist', async () => {
    const a = actors();
    const id = await pushed();
    const none = await review(a.pharmacist, id, { decision: 'approve', reasons: [] });
    expectError(none, 409, 'CLAIM_REQUIRED');
    expect((await claim(a.pharmacist2, id)).status).toBe(200);
    const other = await review(a.pharmacist, id, { decision: 'approve', reasons: [] });
    expectError(other, 409, 'CLAIM_REQUIRED');
    expect(other.body.error.message).toContain('P002');
    expect((await sql(`select status from prescription where id = ?`, [id]))[0].status).toBe('in_review');
  });

  it('rejects with reason codes and a comment, signed, and the signature verifies until the record is altered', async () => {
    const a = actors();
    const codes = (await a.hospital.get('/v1/review/reason-codes')).body.items;
    expect(codes.find((c: any) => c.code === 'DOSE')).toEqual({ code: 'DOSE', category: 'inappropriate', zh: '用法、用量不适宜', en: 'Dose or frequency not appropriate' });

    const id = await pushed();
    expect((await claim(a.pharmacist, id)).status).toBe(200);
    const unknown = await review(a.pharmacist, id, { decision: 'reject', reasons: ['DOSE', '剂量与诊断不符'], comment: '剂量偏大' });
    expectError(unknown, 422, 'UNKNOWN_REASON_CODE');
    expect(unknown.body.error.details).toEqual([expect.objectContaining({ path: '$.reasons[1]', code: 'UNKNOWN_REASON_CODE' })]);
    expectError(await review(a.pharmacist, id, { decision: 'reject', reasons: ['DOSE'] }), 422, 'COMMENT_REQUIRED');

    const done = await review(a.pharmacist, id, { decision: 'reject', reasons: ['DOSE', 'INTERACTION'], comment: '二甲双胍剂量与肾功能不符，请调整' });
    expect(done.status).toBe(202);
    expect(done.body.review.signature).toMatchObject({ alg: 'SM2-SM3' });
    await waitForPrescription(a.hospital, id, statusIs('rejected'));

    const [row] = await sql(`select decision, reasons, comment, signature from review where prescription_id = ?`, [id]);
    expect(row).toMatchObject({ decision: 'rejected', reasons: ['DOSE', 'INTERACTION'], comment: '二甲双胍剂量与肾功能不符，请调整' });
    const [event] = await sql(`select actor, data from audit_event where prescription_id = ? and action = 'review_rejected'`, [id]);
    expect(event.actor).toBe('pharmacist:P001');
    expect(event.data.signature.value).toBe(row.signature.value);
    expect(await sql(`select * from review_claim where prescription_id = ?`, [id])).toEqual([]); // the claim ended with the review

    // The hospital can check who decided what, and that it is what the pharmacist signed.
    const verified = await a.hospital.get(`/v1/prescriptions/${id}/review`);
    expect(verified.body.verification).toEqual({ valid: true });
    expect(verified.body.review).toMatchObject({ decision: 'reject', reasons: ['DOSE', 'INTERACTION'], pharmacist: { code: 'P001', licenseNo: 'YS330100001' } });
    await sql(`update review set reasons = '["DOSE"]'::jsonb where prescription_id = ?`, [id]);
    expect((await a.operator.get(`/v1/prescriptions/${id}/review`)).body.verification).toEqual({ valid: false, reason: 'bad_signature' });
  });

  it('needs an override reason to approve over a blocking finding', async () => {
    const a = actors();
    // The demo patient is allergic to penicillin: amoxicillin is a blocking allergy finding.
    const id = await pushed(demoPrescription({ drugs: [{ name: '阿莫西林' }], chronic: false }));
    const detail = (await a.pharmacist.get(`/v1/review-queue/${id}`)).body;
    expect(detail.findings.map((f: any) => [f.rule ?? f.code, f.severity])).toContainEqual(['ALLERGY', expect.stringMatching(/^(block|serious)$/)]);
    expect(detail.patient).toMatchObject({ allergies: ['青霉素'], sex: 'M', pregnant: false });
    expect(detail.patient.age).toBeGreaterThan(60);

    expect((await claim(a.pharmacist, id)).status).toBe(200);
    const refused = await review(a.pharmacist, id, { decision: 'approve', reasons: [] });
    expectError(refused, 422, 'OVERRIDE_REASON_REQUIRED');
    expect(refused.body.error.details[0].path).toBe('$.overrideReason');
    const ok = await review(a.pharmacist, id, { decision: 'approve', reasons: [], overrideReason: '已电话确认：青霉素皮试阴性，既往阿莫西林无过敏反应' });
    expect(ok.status).toBe(202);
    await waitForPrescription(a.hospital, id, (d) => d.prescription.status !== 'in_review');
    const [row] = await sql(`select decision, override_reason from review where prescription_id = ?`, [id]);
    expect(row).toEqual({ decision: 'approved', override_reason: '已电话确认：青霉素皮试阴性，既往阿莫西林无过敏反应' });
    expect((await a.pharmacist.get(`/v1/prescriptions/${id}/review`)).body.verification).toEqual({ valid: true });
    await a.hospital.post(`/v1/prescriptions/${id}/cancel`, { reason: 'test done' }); // nothing more to see here
  });

  it('refuses a pharmacist whose licence has expired, for claims and decisions alike', async () => {
    const a = actors();
    const id = await pushed();
    const claimed = await claim(a.unlicensedPharmacist, id);
    expectError(claimed, 403, 'PHARMACIST_NOT_LICENSED');
    expect(claimed.body.error.message).toContain('expired');
    expectError(await review(a.unlicensedPharmacist, id, { decision: 'approve', reasons: [] }), 403, 'PHARMACIST_NOT_LICENSED');
    // A licence with no validity on record counts as missing.
    await sql(`update pharmacist set license_valid_to = null where code = 'P003'`);
    expect((await claim(a.unlicensedPharmacist, id)).body.error.details[0].code).toBe('missing');
    await sql(`update pharmacist set license_valid_to = '2025-12-31' where code = 'P003'`);
  });
});

describe('the review SLA, with short timers', () => {
  let orm: MikroORM;
  let temporal: Client;
  beforeAll(async () => {
    orm = await openOrm(process.env.DATABASE_URL!);
    temporal = new Client({ connection: await Connection.connect({ address: loadConfig().temporalAddress }), namespace: loadConfig().temporalNamespace });
  });
  afterAll(async () => { await orm?.close(); await temporal?.connection.close(); });

  it('escalates (up the queue, lead told, claim kept), then returns the prescription to the hospital as not reviewed', async () => {
    const a = actors();
    const config = loadConfig();
    const [hospital] = await sql(`select id from hospital where code = 'DEMO-HOSP'`);
    // The engine under test runs this workflow; only this prescription's timers are short.
    const { prescription } = await intakePrescription(
      { orm, temporal, taskQueue: config.taskQueue, timings: { ...config.timings, reviewSlaMs: 1500, reviewReturnMs: 9000, reviewMaxEscalations: 100 } },
      hospital.id, demoPrescription());
    const id = prescription.id;
    await waitForPrescription(a.hospital, id, statusIs('in_review'));
    expect((await claim(a.pharmacist, id)).status).toBe(200);

    // Escalated: ahead of every prescription with fewer escalations, its claim still shown.
    const deadline = Date.now() + 8000;
    let queue: any[] = [];
    let item: any;
    while (Date.now() < deadline) {
      queue = (await a.pharmacist2.get('/v1/review-queue?limit=200')).body.items;
      item = queue.find((i) => i.id === id);
      if (!item || item.escalations >= 1) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(item?.escalations).toBeGreaterThanOrEqual(1);
    expect(item.claim.pharmacistCode).toBe('P001');
    const at = queue.indexOf(item);
    expect(queue.slice(0, at).every((i) => i.escalations >= item.escalations)).toBe(true);
    expect(queue.slice(at + 1).every((i) => i.escalations <= item.escalations)).toBe(true);

    const done = await waitForPrescription(a.hospital, id, statusIs('expired'), 30_000);
    expect(await temporal.workflow.getHandle(done.prescription.workflowId).result()).toBe('expired');
    const events = await sql(`select action, data from audit_event where prescription_id = ? order by id`, [id]);
    const named = (action: string) => events.filter((e) => e.action === action).map((e) => e.data);
    expect(named('review_sla_breached')[0]).toMatchObject({ escalation: 1, claimedBy: { pharmacistCode: 'P001' } });
    expect(named('lead_pharmacist_notified')[0]).toMatchObject({ escalation: 1, leads: ['P002'] });
    expect(named('expired')).toEqual([expect.objectContaining({ stage: 'review', reason: 'not_reviewed' })]);
    expect(named('hospital_notified')).toEqual([expect.objectContaining({ event: 'expired', reason: 'not_reviewed' })]);
    const [row] = await sql(`select review_escalations from prescription where id = ?`, [id]);
    expect(row.review_escalations).toBe(named('review_sla_breached').length);
    expectError(await review(a.pharmacist, id, { decision: 'approve', reasons: [] }), 409, 'WORKFLOW_CLOSED');
  });
});

describe('reject → amend → resubmit', () => {
  it('links the amended version to the rejected one, reviews it again, and shows both', async () => {
    const a = actors();
    const content = demoPrescriptionContent();
    const v1 = await pushed(signAsDemoHospital(content));
    expect((await claimAndReview(a.pharmacist, v1, { decision: 'reject', reasons: ['EXCESS_QUANTITY'], comment: '请注明长期用药理由并减少数量' })).status).toBe(202);
    await waitForPrescription(a.hospital, v1, statusIs('rejected'));

    // Different content under the number without saying it amends: still a conflict.
    const changed = { ...content, lines: content.lines.map((l: any) => ({ ...l, days: 5 })) };
    expectError(await a.hospital.post('/v1/prescriptions', signAsDemoHospital(changed)), 409, 'RX_CONFLICT');

    const amendment = signAsDemoHospital({ ...changed, amends: { version: 1, prescriptionId: v1 } });
    const r = await a.hospital.post('/v1/prescriptions', amendment);
    expect(r.status).toBe(201);
    const v2 = r.body.prescription.id;
    expect(v2).not.toBe(v1);
    const again = await a.hospital.post('/v1/prescriptions', amendment);
    expect({ status: again.status, duplicate: again.body.duplicate, id: again.body.prescription.id }).toEqual({ status: 200, duplicate: true, id: v2 });

    await waitForPrescription(a.hospital, v2, statusIs('in_review'));
    const inQueue = (await a.pharmacist.get(`/v1/review-queue/${v2}`)).body;
    expect(inQueue.prescription).toMatchObject({ version: 2, amendsId: v1 });
    expect(inQueue.history.find((h: any) => h.id === v1)).toMatchObject({ version: 1, review: { decision: 'rejected', reasons: ['EXCESS_QUANTITY'] } });

    // Either version shows both, and the timeline tells the number's whole story.
    for (const id of [v1, v2]) {
      const got = (await a.hospital.get(`/v1/prescriptions/${id}`)).body;
      expect(got.versions.map((v: any) => [v.id, v.version, v.amendsId])).toEqual([[v1, 1, null], [v2, 2, v1]]);
      const tl = (await a.hospital.get(`/v1/prescriptions/${id}/timeline`)).body.timeline;
      expect(tl.filter((e: any) => e.action === 'received').map((e: any) => e.version)).toEqual([1, 2]);
      expect(tl.find((e: any) => e.action === 'review_rejected').version).toBe(1);
      expect(tl.find((e: any) => e.action === 'amended')).toMatchObject({ version: 1, data: { by: v2, version: 2 } });
    }

    // Only the latest version, and only a rejected one, can be amended.
    const third = { ...changed, lines: changed.lines.map((l: any) => ({ ...l, days: 3 })) };
    expectError(await a.hospital.post('/v1/prescriptions', signAsDemoHospital({ ...third, amends: { version: 1 } })), 409, 'AMENDMENT_NOT_LATEST');
    expectError(await a.hospital.post('/v1/prescriptions', signAsDemoHospital({ ...third, amends: { version: 2 } })), 409, 'AMENDMENT_NOT_REJECTED');
    expectError(await a.hospital.post('/v1/prescriptions', signAsDemoHospital({ ...third, amends: { version: 7 } })), 422, 'AMENDMENT_TARGET_NOT_FOUND');

    await approve(v2);
    await waitForPrescription(a.hospital, v2, (d) => d.prescription.status !== 'in_review');
    await a.hospital.post(`/v1/prescriptions/${v2}/cancel`, { reason: 'test done' });
  });
});
