// Webhook signing and verification (sdk/webhook.ts), the replay window, and which state changes become
// hospital events with what in them (domain/hospital-events.ts).
import { createHmac } from 'node:crypto';
import { computeSignature, parseSignatureHeader, signWebhook, verifyWebhook, WebhookVerificationError } from '../../sdk/webhook';
import {
  attemptTimesMs, cloudEvent, eventData, formatSequence, HOSPITAL_EVENT_TYPES, hospitalEventFor, retryDelayMs, type StatusChange,
} from '../../domain/hospital-events';
import { PRESCRIPTION_STATUSES } from '../../domain/prescription-status';
import { openSecret, sealSecret, newSecret } from '../../engine/webhook-config';
import { activeSecrets } from '../../activities/webhooks';

const secret = 'whsec_test_secret';
const body = JSON.stringify({ specversion: '1.0', id: 'e1', type: 'rxflow.prescription.approved', data: { rxNo: 'RX-1' } });
const t = 1_800_000_000;
const at = (seconds: number) => seconds * 1000;

function codeOf(fn: () => unknown): string {
  try { fn(); } catch (e) { if (e instanceof WebhookVerificationError) return e.code; throw e; }
  return 'OK';
}

describe('webhook signature', () => {
  it('is HMAC-SHA256 over "timestamp.body", hex, in t=…,v1=…', () => {
    const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
    expect(computeSignature(secret, t, body)).toBe(expected);
    expect(signWebhook(secret, body, t)).toBe(`t=${t},v1=${expected}`);
  });

  it('verifies a genuine callback and returns the event, from a plain header object or Fetch Headers', () => {
    const headers = { 'X-Rxflow-Signature': signWebhook(secret, body, t) };
    expect(verifyWebhook(secret, headers, body, 300, at(t + 10)).id).toBe('e1');
    expect(verifyWebhook(secret, new Headers(headers), Buffer.from(body), 300, at(t)).type).toBe('rxflow.prescription.approved');
  });

  it('rejects a wrong secret, a tampered body, a missing or malformed header', () => {
    const headers = { 'x-rxflow-signature': signWebhook(secret, body, t) };
    expect(codeOf(() => verifyWebhook('whsec_other', headers, body, 300, at(t)))).toBe('SIGNATURE_MISMATCH');
    expect(codeOf(() => verifyWebhook(secret, headers, body.replace('RX-1', 'RX-2'), 300, at(t)))).toBe('SIGNATURE_MISMATCH');
    expect(codeOf(() => verifyWebhook(secret, {}, body, 300, at(t)))).toBe('SIGNATURE_MISSING');
    expect(codeOf(() => verifyWebhook(secret, { 'x-rxflow-signature': 'v1=abc' }, body, 300, at(t)))).toBe('SIGNATURE_MALFORMED');
    expect(codeOf(() => verifyWebhook(secret, { 'x-rxflow-signature': `t=${t}` }, body, 300, at(t)))).toBe('SIGNATURE_MALFORMED');
  });

  it('refuses a replay: a timestamp outside the tolerance, either way, even with a valid signature', () => {
    const headers = { 'x-rxflow-signature': signWebhook(secret, body, t) };
    expect(codeOf(() => verifyWebhook(secret, headers, body, 300, at(t + 300)))).toBe('OK');
    expect(codeOf(() => verifyWebhook(secret, headers, body, 300, at(t + 301)))).toBe('TIMESTAMP_OUT_OF_TOLERANCE');
    expect(codeOf(() => verifyWebhook(secret, headers, body, 300, at(t - 301)))).toBe('TIMESTAMP_OUT_OF_TOLERANCE');
    expect(codeOf(() => verifyWebhook(secret, headers, body, 60, at(t + 61)))).toBe('TIMESTAMP_OUT_OF_TOLERANCE');
    // Moving the timestamp forward to get past the window breaks the signature.
    const moved = signWebhook(secret, body, t).replace(`t=${t}`, `t=${t + 1000}`);
    expect(codeOf(() => verifyWebhook(secret, { 'x-rxflow-signature': moved }, body, 300, at(t + 1000)))).toBe('SIGNATURE_MISMATCH');
  });

  it('during a rotation carries one signature per secret, so the old and the new secret both verify', () => {
    const header = signWebhook(['whsec_new', 'whsec_old'], body, t);
    expect(parseSignatureHeader(header).signatures).toHaveLength(2);
    expect(verifyWebhook('whsec_new', { 'x-rxflow-signature': header }, body, 300, at(t)).id).toBe('e1');
    expect(verifyWebhook('whsec_old', { 'x-rxflow-signature': header }, body, 300, at(t)).id).toBe('e1');
    // A receiver rolling its own configuration can hold both.
    expect(verifyWebhook(['whsec_x', 'whsec_old'], { 'x-rxflow-signature': signWebhook('whsec_old', body, t) }, body, 300, at(t)).id).toBe('e1');
    expect(codeOf(() => verifyWebhook('whsec_x', { 'x-rxflow-signature': header }, body, 300, at(t)))).toBe('SIGNATURE_MISMATCH');
  });

  it('ignores signature schemes it does not know, so a v2 can be added later', () => {
    const header = `${signWebhook(secret, body, t)},v2=zzz`;
    expect(verifyWebhook(secret, { 'x-rxflow-signature': header }, body, 300, at(t)).id).toBe('e1');
  });
});

describe('stored webhook secrets', () => {
  it('are sealed with AES-GCM and open to the same secret; tampering is detected', () => {
    const s = newSecret();
    expect(s).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    const sealed = sealSecret(s);
    expect(sealed).not.toContain(s.slice(6));
    expect(openSecret(sealed)).toBe(s);
    const parts = sealed.split(':');
    parts[3] = Buffer.from('x' + Buffer.from(parts[3], 'base64').toString('latin1'), 'latin1').toString('base64');
    expect(() => openSecret(parts.join(':'))).toThrow();
  });

  it('sign with the active ones only, newest first', () => {
    const now = Date.parse('2026-11-24T10:00:00Z');
    const list = [
      { id: 'a', sealed: '', createdAt: '2026-11-01T00:00:00Z', expiresAt: '2026-11-24T09:00:00Z' },
      { id: 'b', sealed: '', createdAt: '2026-11-20T00:00:00Z', expiresAt: '2026-11-25T00:00:00Z' },
      { id: 'c', sealed: '', createdAt: '2026-11-24T00:00:00Z', expiresAt: null },
    ];
    expect(activeSecrets(list, now).map((s) => s.id)).toEqual(['c', 'b']);
  });
});

describe('hospital events', () => {
  const change = (to: StatusChange['to'], over: Partial<StatusChange> = {}): StatusChange => ({ from: null, to, action: to, actor: 'system:rxflow', ...over });

  it('name every state change of the prescription (issue 9: every state change is an event)', () => {
    const mapped = Object.fromEntries(PRESCRIPTION_STATUSES.map((s) => [s, hospitalEventFor(change(s))]));
    expect(mapped).toEqual({
      received: 'accepted', in_review: 'in_review', rejected: 'rejected', approved: 'approved', priced: 'priced', matching: 'matching',
      dispensed: 'dispensed', in_delivery: 'out_for_delivery', delivered: 'delivered', follow_up: 'follow_up', completed: 'completed',
      cancelled: 'cancelled', unfulfillable: 'unfulfillable', returned: 'returned', expired: 'expired',
      partially_dispensed: 'partially_dispensed',
    });
    expect(hospitalEventFor(change('delivered', { action: 'collected' }))).toBe('collected');
    expect(hospitalEventFor(change('expired', { data: { stage: 'review', escalations: 8 } }))).toBe('not_reviewed');
    expect(hospitalEventFor(change('returned', { data: { reason: 'not_reviewed' } }))).toBe('not_reviewed');
    expect(hospitalEventFor(change('expired', { data: { stage: 'matching' } }))).toBe('expired');
    for (const s of PRESCRIPTION_STATUSES) expect(HOSPITAL_EVENT_TYPES).toContain(hospitalEventFor(change(s)));
  });

  it('carry what happened and why, not the prescription\'s personal data', () => {
    const rejected = eventData({ ...change('rejected', { from: 'in_review', actor: 'pharmacist:P001', data: { reasons: ['剂量与诊断不符'], comment: '请核对剂量', patient: { name: '张建国' } } }), prescriptionId: 'p1', rxNo: 'RX-1' });
    expect(rejected).toEqual({ prescriptionId: 'p1', rxNo: 'RX-1', status: 'rejected', previousStatus: 'in_review', reasons: ['剂量与诊断不符'], comment: '请核对剂量', pharmacist: 'P001' });
    const dispensed = eventData({ ...change('dispensed', { from: 'matching', actor: 'pharmacy:PH001/孙药师', data: { packs: [{ traceCode: 'x' }] } }), prescriptionId: 'p1', rxNo: 'RX-1' });
    expect(dispensed).toEqual({ prescriptionId: 'p1', rxNo: 'RX-1', status: 'dispensed', previousStatus: 'matching', pharmacy: 'PH001' });
    // The internal steps say that they happened, not the pre-review's findings or the insurance amounts.
    const queued = eventData({ ...change('in_review', { from: 'received', data: { flags: 2, knowledge: { interactions: 'v1' } } }), prescriptionId: 'p1', rxNo: 'RX-1' });
    expect(queued).toEqual({ prescriptionId: 'p1', rxNo: 'RX-1', status: 'in_review', previousStatus: 'received' });
    const priced = eventData({ ...change('priced', { from: 'approved', data: { totalFen: 4200, insurerPaysFen: 3000, patientPaysFen: 1200, lines: [] } }), prescriptionId: 'p1', rxNo: 'RX-1' });
    expect(priced).toEqual({ prescriptionId: 'p1', rxNo: 'RX-1', status: 'priced', previousStatus: 'approved' });
  });

  it('are CloudEvents 1.0 with a per-tenant source and a sequence that orders as text and as a number', () => {
    const e = cloudEvent({ id: 'id-1', hospitalCode: 'H1', type: 'approved', subject: 'p1', time: new Date('2026-11-24T02:00:00Z'), sequence: '42', data: {} });
    expect(e).toEqual({
      specversion: '1.0', id: 'id-1', source: 'urn:rxflow:hospital:H1', type: 'rxflow.prescription.approved', subject: 'p1',
      time: '2026-11-24T02:00:00.000Z', datacontenttype: 'application/json', sequence: '0000000000000042', data: {},
    });
    expect([formatSequence(9), formatSequence(10), formatSequence(100)].sort()).toEqual([formatSequence(9), formatSequence(10), formatSequence(100)]);
  });

  it('retry with exponential backoff, capped, until the horizon', () => {
    const s = { initialMs: 10_000, maxMs: 3_600_000, coefficient: 2 };
    expect([1, 2, 3, 4].map((n) => retryDelayMs(s, n))).toEqual([10_000, 20_000, 40_000, 80_000]);
    expect(retryDelayMs(s, 30)).toBe(3_600_000);
    const times = attemptTimesMs(s, 3 * 24 * 3_600_000);
    expect(times[0]).toBe(0);
    expect(times.at(-1)!).toBeLessThanOrEqual(3 * 24 * 3_600_000);
    expect(times.length).toBe(80); // 10 s, 20 s … ~1 h, then hourly for three days
  });
});
