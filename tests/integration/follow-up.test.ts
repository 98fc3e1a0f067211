// Follow-up (随访) against the real services (docs/follow-up.md): the plan's durable timers fire in due
// order (a plan day is 100 ms here, a step waits 2 s for its answer), an unanswered step is reminded once
// and marked unanswered, answers come in through the hospital's route, a side effect becomes a
// pharmacist's ADR task and (serious) an ADR report with the dispensed batch, a refill "continue" becomes
// a renewal request to the hospital.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { statusIs, waitForPrescription } from '../../demo/actors';
import { adrExportCommand } from '../../engine/cli/adr';
import { Ctx } from '../../engine/cli/common';
import { demoPrescriptionContent, signAsDemoHospital } from '../../demo/prescriptions';
import { scanOrder } from '../../demo/packs';
import { actions, actors, approve, closeDb, sql, until } from './helpers';

afterAll(closeDb);

/** Pushed, approved, dispensed and collected at the pharmacy: the quickest way to the follow-up. */
async function handedOver(extra: Record<string, unknown> = {}) {
  const a = actors();
  const rx = signAsDemoHospital(demoPrescriptionContent({ extra: { fulfilment: { mode: 'pickup' }, ...extra } }));
  const pushed = await a.hospital.post('/v1/prescriptions', rx);
  expect(pushed.status).toBe(201);
  const id = pushed.body.prescription.id as string;
  await waitForPrescription(a.hospital, id, statusIs('in_review'));
  await approve(id);
  const offered = await waitForPrescription(a.hospital, id, (d) => d.workflow?.offer && d.workflow.timeline.at(-1)?.event === 'pharmacy_offered');
  const pharmacy = a.pharmacy(offered.workflow.offer.pharmacyCode);
  const order = (await pharmacy.get('/v1/pharmacy/orders')).body.items.find((o: any) => o.prescriptionId === id);
  expect((await pharmacy.post(`/v1/pharmacy/orders/${order.orderId}/accept`)).status).toBe(202);
  await waitForPrescription(a.hospital, id, (d) => d.workflow.timeline.at(-1)?.event === 'pharmacy_accepted');
  expect((await pharmacy.post(`/v1/pharmacy/orders/${order.orderId}/dispense`, { pharmacistName: '孙药师', lines: scanOrder(order.lines) })).status).toBe(201);
  await waitForPrescription(a.hospital, id, (d) => d.workflow.timeline.at(-1)?.event === 'ready_for_pickup');
  expect((await pharmacy.post(`/v1/pharmacy/orders/${order.orderId}/collected`, { proof: { kind: 'code', reference: '2468' } })).status).toBe(202);
  return id;
}

const stepSent = (id: string, kind: string) => until(`${kind} sent`, async () =>
  (await sql(`select id, status from follow_up where prescription_id = ? and kind = ? and status = 'sent'`, [id, kind]))[0] as { id: string } | undefined);
const hospitalEvents = async (id: string, type: string) =>
  (await sql(`select envelope from hospital_event where prescription_id = ? and type = ? order by sequence`, [id, `rxflow.prescription.${type}`])).map((r) => r.envelope);

describe('the follow-up plan', () => {
  it('fires its timers in due order, reminds an unanswered step once, marks it unanswered, and closes', async () => {
    const a = actors();
    const id = await handedOver();
    await waitForPrescription(a.hospital, id, statusIs('completed'));

    const plan = await sql(`select kind, status, due_at, sent_at, reminded_at, closed_at from follow_up where prescription_id = ? order by due_at, kind`, [id]);
    // Chronic, two lines: a check-in, a refill reminder before the first line runs out, the close.
    expect(plan.map((f) => f.kind).sort()).toEqual(['check_in', 'close', 'refill_reminder']);
    expect(plan.at(-1)).toMatchObject({ kind: 'close', status: 'closed', sent_at: null });
    const steps = plan.filter((f) => f.kind !== 'close');
    for (const f of steps) {
      expect(f.status).toBe('unanswered');
      expect(f.reminded_at).toBeTruthy();
      expect(new Date(f.sent_at).getTime()).toBeGreaterThanOrEqual(new Date(f.due_at).getTime());
    }
    // Sent in the order they fell due.
    const bySent = [...steps].sort((x, y) => new Date(x.sent_at).getTime() - new Date(y.sent_at).getTime()).map((f) => f.kind);
    expect(bySent).toEqual(steps.map((f) => f.kind));

    const trail = (await actions(id)).filter((x) => x.startsWith('follow_up') || x === 'completed');
    expect(trail).toEqual([
      'follow_up_scheduled',
      'follow_up_sent', 'follow_up_reminded', 'follow_up_unanswered',
      'follow_up_sent', 'follow_up_reminded', 'follow_up_unanswered',
      'follow_up_closed', 'completed',
    ]);
    // The hospital's patient app heard of each questionnaire, and of its reminder.
    const due = await hospitalEvents(id, 'follow_up_due');
    expect(due.map((e: any) => [e.data.kind, e.data.reminder])).toEqual(steps.flatMap((f) => [[f.kind, false], [f.kind, true]]));
    expect(due[0].data).toMatchObject({ prescriptionId: id, questionnaire: 'fu-1' });

    const listed = await a.hospital.get(`/v1/prescriptions/${id}/follow-ups`);
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((f: any) => f.status)).toEqual(plan.map((f) => f.status));
    // The plan is over: a late answer is refused; the close step asks nothing.
    const refill = listed.body.items.find((f: any) => f.kind === 'refill_reminder');
    const late = await a.hospital.post(`/v1/prescriptions/${id}/follow-ups/${refill.id}/answers`, { refill: { continue: true } });
    expect([late.status, late.body.error.code]).toEqual([409, 'FOLLOW_UP_CLOSED']);
    const close = listed.body.items.find((f: any) => f.kind === 'close');
    expect((await a.hospital.post(`/v1/prescriptions/${id}/follow-ups/${close.id}/answers`, {})).body.error.code).toBe('FOLLOW_UP_NOT_ANSWERABLE');
  });

  it('takes answers: a refill "continue" asks the hospital for a renewal, a side effect reaches a pharmacist and the ADR export', async () => {
    const a = actors();
    const id = await handedOver();
    const refill = await stepSent(id, 'refill_reminder');
    const url = (f: { id: string }) => `/v1/prescriptions/${id}/follow-ups/${f.id}/answers`;

    // Bad answers: 422 with the paths of what is wrong.
    const bad = await a.hospital.post(url(refill), { refill: { continue: 'yes' }, sideEffects: { any: true, severity: 'fatal' } });
    expect(bad.status).toBe(422);
    expect(bad.body.error.code).toBe('ANSWER_INVALID');
    expect(bad.body.error.details.map((d: any) => d.path)).toEqual(expect.arrayContaining(['$.refill.continue', '$.sideEffects.severity', '$.sideEffects.reaction']));
    const wrongLine = await a.hospital.post(url(refill), { refill: { continue: true }, sideEffects: { any: true, reaction: '恶心', description: '饭后恶心', onsetDate: '2026-01-02', severity: 'mild', suspectedLineNos: [4] } });
    expect(wrongLine.status).toBe(422);
    expect(wrongLine.body.error.details).toEqual([expect.objectContaining({ path: '$.sideEffects.suspectedLineNos[0]', code: 'LINE_UNKNOWN' })]);
    // Another hospital does not see it at all.
    expect((await a.otherHospital.post(url(refill), { refill: { continue: true } })).status).toBe(404);

    const mildOnset = new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10);
    const r1 = await a.hospital.post(url(refill), {
      respondent: { relation: 'family', name: '张建国之女' }, refill: { continue: true, note: '血压平稳，希望续方' },
      sideEffects: { any: true, reaction: '恶心', description: '饭后轻微恶心', onsetDate: mildOnset, severity: 'mild', suspectedLineNos: [2] },
    });
    expect(r1.status).toBe(201);
    expect(r1.body.followUp).toMatchObject({ kind: 'refill_reminder', status: 'answered', answeredBy: expect.stringMatching(/^hospital:/) });
    expect(r1.body.renewalRequest.id).toEqual(expect.any(String));
    expect(r1.body.adrTask).toMatchObject({ severity: 'mild', serious: false });
    expect((await a.hospital.post(url(refill), { refill: { continue: true } })).body.error.code).toBe('FOLLOW_UP_ANSWERED');

    // The renewal request is the hospital's to act on: an event in its feed and webhooks, never a prescription.
    const [renewal] = await hospitalEvents(id, 'renewal_requested');
    expect(renewal.data).toMatchObject({ prescriptionId: id, renewalRequestId: r1.body.renewalRequest.id, followUpId: refill.id, lines: [expect.objectContaining({ lineNo: 1 }), expect.objectContaining({ lineNo: 2 })] });
    expect(await sql(`select status, renewed_by_id from renewal_request where id = ?`, [r1.body.renewalRequest.id])).toEqual([{ status: 'requested', renewed_by_id: null }]);
    // The doctor renews: a new signed prescription naming the request links it (and is an ordinary prescription).
    const renewed = await a.hospital.post('/v1/prescriptions', signAsDemoHospital(demoPrescriptionContent({ extra: { renewalOf: { renewalRequestId: r1.body.renewalRequest.id } } })));
    expect(renewed.status).toBe(201);
    expect(await sql(`select status, renewed_by_id from renewal_request where id = ?`, [r1.body.renewalRequest.id])).toEqual([{ status: 'renewed', renewed_by_id: renewed.body.prescription.id }]);
    await waitForPrescription(a.hospital, renewed.body.prescription.id, statusIs('in_review'));
    expect((await a.hospital.post(`/v1/prescriptions/${renewed.body.prescription.id}/cancel`, { reason: '测试续方 / renewal test' })).status).toBe(202);

    // The check-in: a serious reaction.
    const checkIn = await stepSent(id, 'check_in');
    const r2 = await a.hospital.post(url(checkIn), {
      adherence: { status: 'stopped', stoppedOn: mildOnset, reason: 'side_effect' },
      sideEffects: { any: true, reaction: '血管性水肿', description: '服药第二天出现面部及口唇肿胀，急诊住院治疗', onsetDate: mildOnset, severity: 'severe', serious: ['hospitalisation'], outcome: 'recovering', suspectedLineNos: [1] },
    });
    expect(r2.status).toBe(201);
    expect(r2.body.adrTask).toMatchObject({ severity: 'severe', serious: true });
    const serious = r2.body.adrTask.id as string;

    // The workflow stopped waiting for both answers, reminded nobody, and closed the plan.
    const done = await waitForPrescription(a.hospital, id, statusIs('completed'));
    expect(done.workflow.timeline.filter((e: any) => e.event === 'follow_up_answered').map((e: any) => e.detail.kind).sort()).toEqual(['check_in', 'refill_reminder']);
    const trail = await actions(id);
    expect(trail.filter((x) => x === 'adverse_reaction_reported')).toHaveLength(2);
    expect(trail).toContain('renewal_requested');
    expect(trail).not.toContain('follow_up_unanswered');
    const adrEvents = await hospitalEvents(id, 'adverse_reaction_reported');
    expect(adrEvents.map((e: any) => [e.data.severity, e.data.serious])).toEqual([['mild', false], ['severe', true]]);
    expect(JSON.stringify(adrEvents)).not.toContain('急诊住院治疗'); // the patient's own words stay in rxflow

    // The pharmacists' queue: serious first.
    const queue = await a.pharmacist.get('/v1/adr-tasks');
    expect(queue.status).toBe(200);
    const mine = queue.body.items.filter((t: any) => t.prescriptionId === id);
    expect(mine.map((t: any) => t.severity)).toEqual(['severe', 'mild']);
    const ranks = queue.body.items.map((t: any) => (t.serious ? 10 : 0) + ({ severe: 3, moderate: 2, mild: 1 } as any)[t.severity]);
    expect(ranks).toEqual([...ranks].sort((x, y) => y - x));
    expect((await a.hospital.get('/v1/adr-tasks')).status).toBe(403);

    // Claimed by one pharmacist, closed with a note; the other cannot take it over.
    expect((await a.pharmacist.post(`/v1/adr-tasks/${serious}/close`, { note: '未认领' })).body.error.code).toBe('NOT_CLAIMED');
    expect((await a.pharmacist.post(`/v1/adr-tasks/${serious}/claim`, {})).status).toBe(200);
    expect((await a.pharmacist2.post(`/v1/adr-tasks/${serious}/claim`, {})).body.error.code).toBe('CLAIMED_BY_OTHER');
    expect((await a.pharmacist.post(`/v1/adr-tasks/${serious}/close`, {})).status).toBe(422);
    const closed = await a.pharmacist.post(`/v1/adr-tasks/${serious}/close`, { note: '已电话随访，建议停用并就医；上报国家ADR监测系统', newReaction: true });
    expect(closed.status).toBe(200);
    expect(closed.body.task).toMatchObject({ status: 'closed', closedBy: expect.any(String), newReaction: true });

    // The ADR report: the serious one only, with the batch the pharmacy scanned.
    const [pack] = await sql(`select batch_no, drug_code from dispensed_pack where prescription_id = ? and line_no = 1`, [id]);
    const report = await a.operator.get(`/v1/adr-reports/${serious}`);
    expect(report.status).toBe(200);
    expect(report.body).toMatchObject({
      reportType: { new: true, serious: true, label: '新的严重' },
      patient: { name: '张*国', sex: '男' },
      reaction: { name: '血管性水肿', severity: '重度', serious: ['导致住院或住院时间延长'], outcome: '好转' },
    });
    expect(report.body.suspectedDrugs).toEqual([expect.objectContaining({ batchNumbers: [pack.batch_no], route: '口服', dose: '1片 qd', stopDate: mildOnset, approvalNumber: expect.stringMatching(/^国药准字/) })]);
    expect(report.body.reporter.pharmacist).toEqual(expect.any(String));
    // An operator's read of it is recorded, as for any read of a prescription by a person.
    const reads = await sql(`select actor, data from audit_event where prescription_id = ? and action = 'record_accessed'`, [id]);
    expect(reads).toContainEqual(expect.objectContaining({ actor: expect.stringMatching(/^operator:/), data: expect.objectContaining({ action: 'adr.export', route: 'GET /v1/adr-reports/:taskId' }) }));
    const list = await a.operator.get(`/v1/adr-reports?from=${mildOnset}`);
    expect(list.body.items.map((r: any) => r.reportId)).toContain(serious);
    expect(list.body.items.map((r: any) => r.reportId)).not.toContain(r1.body.adrTask.id);
    const csv = await fetch(`${process.env.RX_TEST_API_URL}/v1/adr-reports?format=csv&from=${mildOnset}`, { headers: { authorization: 'Bearer demo-operator-key' } });
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    const text = await csv.text();
    expect(text).toContain('批准文号 (approval_number)');
    expect(text).toContain(pack.batch_no);
    expect(text).toContain('血管性水肿');
    expect((await a.operator.get('/v1/adr-reports?from=yesterday')).status).toBe(422);

    // The same export from the operator's CLI.
    const file = path.join(os.tmpdir(), `adr-${serious}.csv`);
    const cli = new Ctx();
    try {
      expect(await adrExportCommand.run(['--from', mildOnset, '--csv', '--out', file], cli)).toBe(0);
    } finally {
      await cli.close();
    }
    const written = fs.readFileSync(file, 'utf8');
    expect(written).toContain(pack.batch_no);
    expect(written).toContain(serious);
    fs.rmSync(file);
  });
});
