// The patient's side, pure parts: link lifetimes, money in yuan, the plain-words timeline, holder labels,
// and the link token itself (signed, scoped, expiring, tamper-evident).
import { formatYuan, holderLabel, IssueLinkBody, linkExpiry, plainEvent, plainTimeline } from '../../domain/patient-link';
import { linkUrl, looksLikeLinkToken, signLinkToken, verifyLinkToken } from '../../activities/patient-links';

const DAY = 86_400_000;
const secret = 'unit-test-patient-link-secret-0123456789';

describe('link lifetime', () => {
  const now = new Date('2026-11-25T08:00:00Z');
  it('lasts its lifetime', () => {
    expect(linkExpiry(now, 30 * DAY, { issuedAt: now, updatedAt: now }, { prescriptionYears: 5 })).toEqual(new Date(now.getTime() + 30 * DAY));
  });
  it('never outlives the prescription\'s retention', () => {
    const old = new Date('2021-12-01T00:00:00Z');
    expect(linkExpiry(now, 30 * DAY, { issuedAt: old, updatedAt: old }, { prescriptionYears: 5 })).toEqual(new Date('2026-12-01T00:00:00Z'));
  });
  it('is not issued past retention', () => {
    const old = new Date('2020-01-01T00:00:00Z');
    expect(linkExpiry(now, 30 * DAY, { issuedAt: old, updatedAt: old }, { prescriptionYears: 5 })).toBeNull();
  });
});

describe('holders', () => {
  it('accepts the patient, or a named family member with a relation', () => {
    expect(IssueLinkBody.parse({ holder: 'patient' })).toEqual({ holder: 'patient' });
    expect(IssueLinkBody.parse({ holder: 'family', name: ' 李娜 ', relation: '女儿', ttlDays: 7 })).toEqual({ holder: 'family', name: '李娜', relation: '女儿', ttlDays: 7 });
    expect(IssueLinkBody.safeParse({ holder: 'family', name: '李娜' }).success).toBe(false);
    expect(IssueLinkBody.safeParse({ holder: 'neighbour' }).success).toBe(false);
  });
  it('labels what a family member sees', () => {
    expect(holderLabel({ holder: 'patient' })).toEqual({ zh: '患者本人', en: 'The patient' });
    expect(holderLabel({ holder: 'family', name: '李娜', relation: '女儿' })).toEqual({ zh: '家属 李娜（女儿）', en: 'Family member 李娜 (女儿)' });
  });
});

describe('money', () => {
  it.each([[0, '¥0.00'], [5, '¥0.05'], [1234, '¥12.34'], [123456789, '¥1,234,567.89'], [-250, '-¥2.50']])('%i fen is %s', (fen, text) => {
    expect(formatYuan(fen)).toBe(text);
  });
  it('refuses what is not integer fen', () => {
    expect(() => formatYuan(1.5)).toThrow();
  });
});

describe('timeline in plain words', () => {
  it('keeps what the patient cares about, once, in order', () => {
    const at = '2026-11-25T08:00:00.000Z';
    const events = [
      { at, action: 'received' }, { at, action: 'review_queued' }, { at, action: 'review_claimed' }, { at, action: 'review_approved' },
      { at, action: 'stock_reserved' }, { at, action: 'pharmacy_offered' }, { at, action: 'pharmacy_accepted' },
      { at, action: 'delivery_failed' }, { at, action: 'delivery_assigned' }, { at, action: 'delivery_assigned' }, { at, action: 'delivery_delivered' },
      { at, action: 'patient_notified', data: { event: 'received' } },
    ];
    expect(plainTimeline(events).map((e) => e.code)).toEqual(['received', 'in_review', 'approved', 'pharmacy_accepted', 'delivery_failed', 'delivery_assigned', 'delivered']);
    expect(plainEvent('fulfilment_chosen', { mode: 'pickup' })).toMatchObject({ zh: '已选择到店自取', en: 'You chose to collect at the pharmacy' });
    expect(plainEvent('patient_notified', { event: 'ready_for_pickup' })?.code).toBe('ready_for_pickup');
  });
});

describe('link tokens', () => {
  const claims = { jti: '7d0c2f2e-1111-4a4a-9c9c-0123456789ab', prescriptionId: '0b8e3c1d-2222-4b4b-8d8d-0123456789ab', holder: 'family' as const };
  const issuedAt = new Date('2026-11-25T08:00:00Z');
  const expiresAt = new Date('2026-12-25T08:00:00Z');

  it('verifies a link and names its prescription and holder', async () => {
    const token = await signLinkToken(secret, { ...claims, issuedAt, expiresAt });
    expect(looksLikeLinkToken(token)).toBe(true);
    expect(looksLikeLinkToken('demo-hospital-key-0001')).toBe(false);
    expect(await verifyLinkToken(secret, token, new Date('2026-12-01T00:00:00Z'))).toEqual({ ok: true, claims });
    // The same row signs to the same token (a retried notification resends it).
    expect(await signLinkToken(secret, { ...claims, issuedAt, expiresAt })).toBe(token);
    expect(linkUrl('https://rx.example.cn/', token)).toBe(`https://rx.example.cn/p/#${token}`);
  });

  it('refuses an expired, tampered or foreign link', async () => {
    const token = await signLinkToken(secret, { ...claims, issuedAt, expiresAt });
    expect(await verifyLinkToken(secret, token, new Date('2026-12-26T00:00:00Z'))).toEqual({ ok: false, reason: 'expired' });
    const [h, p, s] = token.split('.');
    const other = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: '0b8e3c1d-3333-4b4b-8d8d-0123456789ab' })).toString('base64url');
    expect(await verifyLinkToken(secret, `${h}.${other}.${s}`, issuedAt)).toEqual({ ok: false, reason: 'invalid' });
    expect(await verifyLinkToken('another-secret-another-secret-0123456789', token, issuedAt)).toEqual({ ok: false, reason: 'invalid' });
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${p}.`;
    expect(await verifyLinkToken(secret, none, issuedAt)).toEqual({ ok: false, reason: 'invalid' });
  });
});
