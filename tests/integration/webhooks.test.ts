// Hospital callbacks against the real engine and a real HTTP receiver started here: registration and
// secrets, signed CloudEvents verified with the hospitals' SDK, retries while the receiver is down (the
// prescription goes on regardless), order per prescription, the status view, redelivery, giving up,
// and the drainer picking up an event nobody started. The second demo hospital is the tenant under test.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { actors, claimAndReview, closeDb, deliveryCode, sql, until } from './helpers';
import { deliveryAssigned, offered, statusIs, waitForPrescription, type ApiClient } from '../../demo/actors';
import { demoPrescriptionContent, signAsDemoHospital } from '../../demo/prescriptions';
import { DEMO } from '../../demo/fixtures';
import { scanOrder } from '../../demo/packs';
import { verifyWebhook, parseSignatureHeader, type RxflowEvent } from '../../sdk/webhook';
import { cloudEvent, orderingKey } from '../../domain/hospital-events';

interface Received { headers: http.IncomingHttpHeaders; raw: string; event: RxflowEvent; answered: number }

/** A hospital's receiver: answers 503 while `down`, or for subjects in `failing`; else 204. */
class Receiver {
  down = false;
  failing = new Set<string>();
  requests: Received[] = [];
  private server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const event = JSON.parse(raw) as RxflowEvent;
      const answered = this.down || this.failing.has(event.subject) ? 503 : 204;
      this.requests.push({ headers: req.headers, raw, event, answered });
      res.statusCode = answered;
      res.end(answered === 503 ? 'receiver unavailable' : undefined);
    });
  });
  url = '';
  async start() {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/rxflow/callbacks`;
  }
  stop() { this.server.closeAllConnections(); return new Promise((r) => this.server.close(r)); }
  of(subject: string) { return this.requests.filter((r) => r.event.subject === subject); }
  acked(subject: string) { return this.of(subject).filter((r) => r.answered < 300); }
}

const receiver = new Receiver();
// Every status change of a delivered prescription is an event (issue 9), in this order.
const JOURNEY_TYPES = [
      'rxflow.prescription.accepted', 'rxflow.prescription.in_review', 'rxflow.prescription.approved', 'rxflow.prescription.priced',
      'rxflow.prescription.matching', 'rxflow.prescription.dispensed', 'rxflow.prescription.out_for_delivery',
      'rxflow.prescription.delivered', 'rxflow.prescription.follow_up',
      // The follow-up plan's two questionnaires, each sent and reminded once (nobody answers; docs/follow-up.md).
      'rxflow.prescription.follow_up_due', 'rxflow.prescription.follow_up_due', 'rxflow.prescription.follow_up_due', 'rxflow.prescription.follow_up_due',
      'rxflow.prescription.completed',
    ];
let hospital: ApiClient;
let secret: string;

const push = (o: Parameters<typeof demoPrescriptionContent>[0] = {}, edit: (c: any) => void = () => {}) => {
  const content = demoPrescriptionContent(o);
  edit(content);
  return hospital.post('/v1/prescriptions', signAsDemoHospital(content, DEMO.otherHospital.signingKeyId));
};
// The one place a pharmacist decides in this file.
// Reviews need a claim first (docs/review.md): claim, then decide.
const review = (id: string, body: { decision: 'approve' | 'reject'; reasons?: string[]; comment?: string }) => claimAndReview(actors().pharmacist, id, body);
const deliveries = async (query: string, client: ApiClient = hospital) => (await client.get(`/v1/webhook/deliveries?${query}`)).body.items as any[];

beforeAll(async () => {
  hospital = actors().otherHospital;
  await receiver.start();
});
afterAll(async () => {
  await hospital.call('DELETE', '/v1/webhook'); // nothing keeps retrying against a closed port
  await receiver.stop();
  await closeDb();
});

describe('hospital callbacks', () => {
  it('a hospital registers its endpoint and gets its secret once; others cannot see it', async () => {
    const a = actors();
    const bad = await hospital.call('PUT', '/v1/webhook', { url: 'ftp://example.com/x' });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 'VALIDATION_FAILED', details: [expect.objectContaining({ path: '$.url' })] });
    expect((await hospital.get('/v1/webhook')).body.error.code).toBe('WEBHOOK_NOT_REGISTERED');

    const first = await hospital.call('PUT', '/v1/webhook', { url: receiver.url });
    expect(first.status).toBe(201);
    secret = first.body.secret;
    expect(secret).toMatch(/^whsec_/);
    expect(first.body.webhook).toMatchObject({ url: receiver.url, secrets: [{ id: expect.stringMatching(/^sec_/), expiresAt: null }] });

    // Changing the URL keeps the secret and never shows it again.
    const again = await hospital.call('PUT', '/v1/webhook', { url: receiver.url });
    expect(again.status).toBe(200);
    expect(again.body.secret).toBeUndefined();
    const shown = await hospital.get('/v1/webhook');
    expect(shown.status).toBe(200);
    expect(JSON.stringify(shown.body)).not.toContain(secret);
    expect(JSON.stringify(await sql(`select secrets from webhook_endpoint`))).not.toContain(secret.slice(6)); // encrypted at rest

    expect((await a.hospital.get('/v1/webhook')).status).toBe(404); // the other hospital has none
    expect((await a.pharmacist.call('PUT', '/v1/webhook', { url: receiver.url })).status).toBe(403);
    const ops = await a.operator.get('/v1/webhooks');
    // (the feed test registers a webhook of its own hospital for a moment: other endpoints may be listed)
    expect(ops.body.items).toEqual(expect.arrayContaining([expect.objectContaining({ hospitalCode: DEMO.otherHospital.code, url: receiver.url })]));
    expect((await a.operator.get(`/v1/webhooks/${DEMO.otherHospital.code}`)).body.webhook.url).toBe(receiver.url);
  });

  it('the prescription goes all the way while the receiver is down; then every callback arrives signed, in order, after retries', async () => {
    const a = actors();
    receiver.down = true;
    const pushed = await push();
    expect(pushed.status).toBe(201);
    const id = pushed.body.prescription.id as string;

    await waitForPrescription(hospital, id, statusIs('in_review'));
    expect((await review(id, { decision: 'approve' })).status).toBe(202);
    const atOffer = await waitForPrescription(hospital, id, offered);
    const pharmacy = a.pharmacy(atOffer.workflow.offer.pharmacyCode);
    const order = (await pharmacy.get('/v1/pharmacy/orders')).body.items.find((o: any) => o.prescriptionId === id);
    expect((await pharmacy.post(`/v1/pharmacy/orders/${order.orderId}/accept`)).status).toBe(202);
    expect((await pharmacy.post(`/v1/pharmacy/orders/${order.orderId}/dispense`, { pharmacistName: '孙药师', lines: scanOrder(order.lines) })).status).toBe(201);
    const atDelivery = await waitForPrescription(hospital, id, deliveryAssigned);
    const { deliveryId, partnerCode } = atDelivery.workflow.delivery;
    for (const status of ['assigned', 'picked_up', 'in_transit']) expect((await a.courier(partnerCode).post(`/v1/deliveries/${deliveryId}/status`, { status })).status).toBe(202);
    expect((await a.courier(partnerCode).post(`/v1/deliveries/${deliveryId}/status`, { status: 'delivered', proof: { kind: 'code', reference: await deliveryCode(deliveryId) } })).status).toBe(202);
    await waitForPrescription(hospital, id, statusIs('completed'));

    // Nothing was acknowledged, and the receiver was asked more than once for the first event.
    await until('a retried first callback', () => receiver.of(id).length >= 3);
    expect(receiver.acked(id)).toEqual([]);
    const pending = await deliveries(`prescriptionId=${id}`);
    expect(pending.map((d) => d.type).reverse()).toEqual(JOURNEY_TYPES);
    expect(pending.every((d) => d.status === 'pending')).toBe(true);
    const head = pending.at(-1);
    expect(head.attempts).toBeGreaterThanOrEqual(2);
    expect(head.lastStatus).toBe(503);
    expect(head.lastError).toMatch(/^HTTP 503: receiver unavailable/);
    expect(head.nextAttemptAt).not.toBeNull();
    // Strictly one at a time: nothing after the first event was tried while it was unacknowledged.
    expect(new Set(receiver.of(id).map((r) => r.event.type))).toEqual(new Set(['rxflow.prescription.accepted']));

    receiver.down = false;
    await until('all callbacks delivered', async () => (await deliveries(`prescriptionId=${id}&status=delivered`)).length === JOURNEY_TYPES.length);
    const acked = receiver.acked(id);
    expect(acked.map((r) => r.event.type)).toEqual(JOURNEY_TYPES);
    // Every request, failed or not, is signed with the hospital's secret and fresh; its id is the header's.
    for (const r of receiver.of(id)) {
      const event = verifyWebhook(secret, r.headers, r.raw, 300);
      expect(r.headers['x-rxflow-event-id']).toBe(event.id);
      expect(r.headers['content-type']).toBe('application/cloudevents+json; charset=utf-8');
      expect(event).toMatchObject({ specversion: '1.0', source: `urn:rxflow:hospital:${DEMO.otherHospital.code}`, subject: id, datacontenttype: 'application/json' });
    }
    // In order: the requests' sequences never go backwards, and each event was delivered once.
    const seqs = receiver.of(id).map((r) => r.event.sequence);
    expect([...seqs].sort()).toEqual(seqs);
    expect(new Set(acked.map((r) => r.event.id)).size).toBe(JOURNEY_TYPES.length);
    expect(acked[0].event.data).toMatchObject({ prescriptionId: id, rxNo: pushed.body.prescription.rxNo, status: 'received', previousStatus: null });
    expect(acked[JOURNEY_TYPES.indexOf('rxflow.prescription.dispensed')].event.data).toMatchObject({ status: 'dispensed', pharmacy: atOffer.workflow.offer.pharmacyCode });
    expect(JSON.stringify(acked.map((r) => r.event))).not.toContain('张建国'); // no personal data in callbacks

    const done = await deliveries(`prescriptionId=${id}`);
    expect(done.at(-1)).toMatchObject({ status: 'delivered', lastStatus: 204, nextAttemptAt: null, lastError: expect.stringMatching(/503/) });
    expect(done.at(-1).attempts).toBe(receiver.of(id).filter((r) => r.event.type === 'rxflow.prescription.accepted').length);
    expect(done.at(-1).attempts).toBeGreaterThanOrEqual(3);
    expect(Number(receiver.of(id).at(-1)!.headers['x-rxflow-delivery-attempt'])).toBe(1);
  });

  it('tells the hospital of a pharmacist\'s rejection with its reasons, and of an intake refusal (subject = rxNo)', async () => {
    const pushed = await push();
    const id = pushed.body.prescription.id as string;
    await waitForPrescription(hospital, id, statusIs('in_review'));
    expect((await review(id, { decision: 'reject', reasons: ['DOSE'], comment: '请核对剂量' })).status).toBe(202);
    const rejected = await until('the rejection callback', () => receiver.acked(id).find((r) => r.event.type === 'rxflow.prescription.rejected'));
    expect(rejected.event.data).toMatchObject({ status: 'rejected', previousStatus: 'in_review', reasons: ['DOSE'], comment: '请核对剂量', pharmacist: DEMO.pharmacists[0].code });

    const rxNo = `REFUSED-${randomUUID().slice(0, 8)}`;
    const refused = await push({ rxNo }, (c) => { c.visit.type = 'first'; });
    expect(refused.status).toBe(422);
    const callback = await until('the refusal callback', () => receiver.acked(rxNo)[0]);
    expect(verifyWebhook(secret, callback.headers, callback.raw).type).toBe('rxflow.prescription.refused');
    expect(callback.event.data).toMatchObject({ rxNo, status: 'refused', code: 'RX_RULES_VIOLATED', details: [expect.objectContaining({ code: 'RX_FIRST_VISIT', path: '$.visit.type' })] });
    expect(await sql(`select 1 from prescription where rx_no = ?`, [rxNo])).toEqual([]);
  });

  it('rotates the secret with an overlap: both secrets verify until the old one expires', async () => {
    const rotated = await hospital.post('/v1/webhook/secret/rotate', { overlapSeconds: 600 });
    expect(rotated.status).toBe(201);
    const newSecret = rotated.body.secret as string;
    expect(newSecret).not.toBe(secret);
    expect(rotated.body.webhook.secrets).toEqual([
      expect.objectContaining({ expiresAt: null }),
      expect.objectContaining({ expiresAt: expect.any(String) }),
    ]);
    const id = (await push()).body.prescription.id as string;
    const r = await until('a callback after rotation', () => receiver.acked(id)[0]);
    expect(parseSignatureHeader(String(r.headers['x-rxflow-signature'])).signatures).toHaveLength(2);
    expect(verifyWebhook(newSecret, r.headers, r.raw).id).toBe(r.event.id);
    expect(verifyWebhook(secret, r.headers, r.raw).id).toBe(r.event.id);

    // Without overlap the old secret stops signing at once.
    const hard = await hospital.post('/v1/webhook/secret/rotate', { overlapSeconds: 0 });
    secret = hard.body.secret;
    const id2 = (await push()).body.prescription.id as string;
    const r2 = await until('a callback after the second rotation', () => receiver.acked(id2)[0]);
    expect(parseSignatureHeader(String(r2.headers['x-rxflow-signature'])).signatures).toHaveLength(1);
    expect(verifyWebhook(secret, r2.headers, r2.raw).id).toBe(r2.event.id);
    expect(() => verifyWebhook(newSecret, r2.headers, r2.raw)).toThrow(/no signature matches/);
    for (const p of [id, id2]) await hospital.post(`/v1/prescriptions/${p}/cancel`, { reason: 'test done' });
  });

  it('gives up after the horizon (failed, visible), redelivers on request, and keeps tenants apart', async () => {
    const a = actors();
    const pushed = await push();
    const id = pushed.body.prescription.id as string;
    receiver.failing.add(id);
    await until('a failed attempt', async () => (await deliveries(`prescriptionId=${id}`)).find((d) => d.attempts >= 1));
    // The horizon comes early for this one delivery (3 days in production).
    await sql(`update webhook_delivery set give_up_at = now() where event_id in (select id from hospital_event where prescription_id = ?)`, [id]);
    // The accepted event is the one under test; the in_review event behind it may have failed or be pending too.
    const failed = await until('the delivery given up', async () => (await deliveries(`prescriptionId=${id}&status=failed`)).find((d) => d.type === 'rxflow.prescription.accepted'));
    expect(failed).toMatchObject({ type: 'rxflow.prescription.accepted', status: 'failed', lastStatus: 503, nextAttemptAt: null, failedAt: expect.any(String) });
    // The prescription did not wait for its callback.
    await waitForPrescription(hospital, id, statusIs('in_review'));

    // Other tenants see nothing of it and cannot redeliver it; the operator sees and can.
    expect((await deliveries(`prescriptionId=${id}`, a.hospital))).toEqual([]);
    expect((await a.hospital.post(`/v1/webhook/deliveries/${failed.eventId}/redeliver`)).status).toBe(404);
    expect((await a.pharmacy('PH001').get('/v1/webhook/deliveries')).status).toBe(403);
    const opsView = await deliveries(`hospital=${DEMO.otherHospital.code}&status=failed`, a.operator);
    expect(opsView).toEqual(expect.arrayContaining([expect.objectContaining({ eventId: failed.eventId, hospitalCode: DEMO.otherHospital.code })]));

    receiver.failing.delete(id);
    const redo = await hospital.post(`/v1/webhook/deliveries/${failed.eventId}/redeliver`);
    expect(redo.status).toBe(202);
    expect(redo.body.delivery).toMatchObject({ status: 'pending', redeliveries: 1 });
    const again = await hospital.post(`/v1/webhook/deliveries/${failed.eventId}/redeliver`);
    if (again.status !== 202) expect(again.body.error.code).toBe('DELIVERY_PENDING'); // unless it was already delivered
    const ackedAccepted = () => receiver.acked(id).filter((r) => r.event.id === failed.eventId);
    await until('the redelivery', () => ackedAccepted().length >= 1);
    const ok = ackedAccepted()[0];
    expect(ok.event.id).toBe(failed.eventId);
    expect(verifyWebhook(secret, ok.headers, ok.raw).type).toBe('rxflow.prescription.accepted');

    // An operator can have a delivered event sent again: same id, so the receiver dedupes it.
    await until('delivered', async () => (await deliveries(`prescriptionId=${id}&status=delivered`)).some((d) => d.eventId === failed.eventId));
    expect((await a.operator.post(`/v1/webhook/deliveries/${failed.eventId}/redeliver`)).status).toBe(202);
    await until('the second delivery', () => ackedAccepted().length >= 2);
    expect(ackedAccepted()[1].event.id).toBe(failed.eventId);
    await hospital.post(`/v1/prescriptions/${id}/cancel`, { reason: 'test done' });
  });

  it('delivers an event whose delivery nobody started (a crash after commit): the drainer finds it', async () => {
    const [h] = await sql(`select id, code from hospital where code = ?`, [DEMO.otherHospital.code]);
    const [{ last_sequence: seq }] = await sql(`update hospital_event_counter set last_sequence = last_sequence + 1 where hospital_id = ? returning last_sequence`, [h.id]);
    const eventId = randomUUID();
    const rxNo = `ORPHAN-${eventId.slice(0, 8)}`;
    const envelope = cloudEvent({ id: eventId, hospitalCode: h.code, type: 'refused', subject: rxNo, time: new Date(), sequence: seq, data: { rxNo, status: 'refused', code: 'TEST' } });
    const key = orderingKey(h.id, rxNo);
    await sql(`insert into hospital_event (id, hospital_id, sequence, type, subject, prescription_id, ordering_key, envelope) values (?, ?, ?, ?, ?, null, ?, ?)`,
      [eventId, h.id, seq, envelope.type, rxNo, key, JSON.stringify(envelope)]);
    await sql(`insert into webhook_delivery (event_id, hospital_id, ordering_key, sequence, status, next_attempt_at, give_up_at) values (?, ?, ?, ?, 'pending', now(), now() + interval '1 day')`,
      [eventId, h.id, key, seq]);
    const got = await until('the orphaned event', () => receiver.acked(rxNo)[0], 30_000);
    expect(verifyWebhook(secret, got.headers, got.raw).id).toBe(eventId);
  });

  it('keeps every event in the hospital\'s log with a gapless sequence, also for hospitals without a webhook', async () => {
    const rows = await sql(`select h.code, e.sequence from hospital_event e join hospital h on h.id = e.hospital_id order by h.code, e.sequence`);
    for (const code of [DEMO.hospital.code, DEMO.otherHospital.code]) {
      const seqs = rows.filter((r) => r.code === code).map((r) => Number(r.sequence));
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    }
    await expect(sql(`update hospital_event set type = 'x'`)).rejects.toThrow(/append-only/);
  });
});
