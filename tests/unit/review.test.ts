// The pharmacist's review as pure rules: reason codes, blocking findings, licences, what a decision needs,
// the queue order, amendments, and the signature on a decision.
import fs from 'node:fs';
import path from 'node:path';
import {
  REASON_CODES, byUrgency, checkDecision, checkLicence, chinaDate, classifyPush, isBlockingFinding, isReasonCode, type StoredVersion,
} from '../../domain/review';
import {
  canonicalDecision, decryptPrivateKey, generateReviewSigningKey, keyIdOf, signDecision, verifyDecision, type DecisionStatement,
} from '../../domain/review-signature';

describe('reason codes', () => {
  it('are unique, bilingual, in the three categories of the prescription-review rules (plus other)', () => {
    const codes = REASON_CODES.map((r) => r.code);
    expect(new Set(codes).size).toBe(codes.length);
    for (const r of REASON_CODES) {
      expect(r.code).toMatch(/^[A-Z][A-Z_]+$/);
      expect(r.zh.length).toBeGreaterThan(1);
      expect(r.en.length).toBeGreaterThan(1);
    }
    expect(new Set(REASON_CODES.map((r) => r.category))).toEqual(new Set(['irregular', 'inappropriate', 'excessive', 'other']));
    for (const c of ['MISSING_INFO', 'INTERACTION', 'ALLERGY', 'DOSE', 'INDICATION', 'DUPLICATE_THERAPY']) expect(isReasonCode(c)).toBe(true);
    expect(isReasonCode('剂量与诊断不符')).toBe(false);
  });

  it('are every one listed in docs/review.md', () => {
    const doc = fs.readFileSync(path.join(__dirname, '../../docs/review.md'), 'utf8');
    for (const r of REASON_CODES) expect(doc).toContain(`\`${r.code}\``);
  });
});

describe('blocking findings', () => {
  it('treats the new "block" and the legacy "serious" as blocking, nothing else', () => {
    expect(isBlockingFinding({ severity: 'block' })).toBe(true);
    expect(isBlockingFinding({ severity: 'serious' })).toBe(true);
    for (const s of ['warning', 'info', undefined, null]) expect(isBlockingFinding({ severity: s as any })).toBe(false);
  });
});

describe('pharmacist licence', () => {
  const valid = { licenseNo: 'YS1', licenseValidFrom: '2024-01-01', licenseValidTo: '2026-12-31' };
  it('accepts a licence on every day of its validity, both ends included (China time)', () => {
    expect(checkLicence(valid, new Date('2026-12-31T15:59:59Z'))).toEqual({ ok: true }); // 23:59:59 in Beijing
    expect(checkLicence(valid, new Date('2023-12-31T16:00:00Z'))).toEqual({ ok: true }); // 00:00 on the first day
  });
  it('refuses an expired, a not yet valid and a missing licence', () => {
    expect(checkLicence(valid, new Date('2026-12-31T16:00:00Z'))).toMatchObject({ ok: false, reason: 'expired' });
    expect(checkLicence(valid, new Date('2023-12-31T15:59:59Z'))).toMatchObject({ ok: false, reason: 'not_yet_valid' });
    expect(checkLicence({ ...valid, licenseNo: '' }, new Date('2025-06-01'))).toMatchObject({ ok: false, reason: 'missing' });
    expect(checkLicence({ ...valid, licenseValidTo: null }, new Date('2025-06-01'))).toMatchObject({ ok: false, reason: 'missing' });
  });
  it('counts days in China Standard Time', () => {
    expect(chinaDate(new Date('2026-11-23T16:30:00Z'))).toBe('2026-11-24');
  });
});

describe('what a decision must carry', () => {
  const block = [{ code: 'ALLERGY', severity: 'block' }];
  const warn = [{ code: 'DUPLICATE_THERAPY', severity: 'warning' }];
  const codes = (ps: { code: string }[]) => ps.map((p) => p.code);

  it('approves without reasons when nothing blocks', () => {
    expect(checkDecision({ decision: 'approve', reasons: [] }, warn)).toEqual([]);
  });
  it('needs an override reason to approve over a blocking finding (legacy serious too)', () => {
    expect(codes(checkDecision({ decision: 'approve', reasons: [] }, block))).toEqual(['OVERRIDE_REASON_REQUIRED']);
    expect(codes(checkDecision({ decision: 'approve', reasons: [], overrideReason: '  ' }, [{ code: 'DOSE', severity: 'serious' }]))).toEqual(['OVERRIDE_REASON_REQUIRED']);
    expect(checkDecision({ decision: 'approve', reasons: [], overrideReason: '皮试阴性，既往使用无反应' }, block)).toEqual([]);
  });
  it('needs at least one known reason code and a comment to reject', () => {
    expect(codes(checkDecision({ decision: 'reject', reasons: [] }, []))).toEqual(['REASON_REQUIRED', 'COMMENT_REQUIRED']);
    expect(codes(checkDecision({ decision: 'reject', reasons: ['DOSE'] }, []))).toEqual(['COMMENT_REQUIRED']);
    expect(checkDecision({ decision: 'reject', reasons: ['DOSE', 'INTERACTION'], comment: '剂量过大' }, block)).toEqual([]);
  });
  it('names an unknown reason code by its JSON path', () => {
    expect(checkDecision({ decision: 'reject', reasons: ['DOSE', 'TOO_EXPENSIVE'], comment: 'x' }, [])).toEqual([
      expect.objectContaining({ code: 'UNKNOWN_REASON_CODE', path: '$.reasons[1]' }),
    ]);
  });
});

describe('queue order', () => {
  it('puts the most escalated first, then blocking findings, then the oldest', () => {
    const at = (m: number) => new Date(Date.UTC(2026, 10, 23, 10, m));
    const items = [
      { name: 'new-plain', escalations: 0, flags: [], createdAt: at(30) },
      { name: 'old-plain', escalations: 0, flags: [], createdAt: at(0) },
      { name: 'blocking', escalations: 0, flags: [{ severity: 'serious' }], createdAt: at(40) },
      { name: 'escalated', escalations: 1, flags: [{ severity: 'warning' }], createdAt: at(50) },
      { name: 'escalated-twice', escalations: 2, flags: [], createdAt: at(55) },
    ];
    expect([...items].sort(byUrgency).map((i) => i.name)).toEqual(['escalated-twice', 'escalated', 'blocking', 'old-plain', 'new-plain']);
  });
});

describe('a push under an existing number', () => {
  const v = (version: number, status: string, contentHash = `h${version}`): StoredVersion => ({ id: `id-${version}`, version, status, contentHash });

  it('is new when nothing is stored, and a duplicate when the content is the same', () => {
    expect(classifyPush('RX1', 'h1', undefined, [])).toEqual({ kind: 'new' });
    expect(classifyPush('RX1', 'h1', undefined, [v(1, 'in_review')])).toMatchObject({ kind: 'duplicate', of: { id: 'id-1' } });
    // Re-sending an amendment that was already stored is a duplicate of it, not a second amendment.
    expect(classifyPush('RX1', 'h2', { version: 1 }, [v(1, 'rejected'), v(2, 'in_review')])).toMatchObject({ kind: 'duplicate', of: { id: 'id-2' } });
  });
  it('is a conflict when the content differs and it does not amend', () => {
    expect(classifyPush('RX1', 'hX', undefined, [v(1, 'rejected')])).toMatchObject({ kind: 'refused', status: 409, code: 'RX_CONFLICT' });
  });
  it('is version n+1 when it amends the latest version and that one was rejected', () => {
    expect(classifyPush('RX1', 'hX', { version: 1 }, [v(1, 'rejected')])).toMatchObject({ kind: 'amendment', of: { id: 'id-1' }, version: 2 });
    expect(classifyPush('RX1', 'hX', { version: 2, prescriptionId: 'id-2' }, [v(1, 'rejected'), v(2, 'rejected')])).toMatchObject({ kind: 'amendment', version: 3 });
  });
  it('refuses amending a prescription that was not rejected, an older version, or one that does not exist', () => {
    expect(classifyPush('RX1', 'hX', { version: 1 }, [v(1, 'in_review')])).toMatchObject({ kind: 'refused', status: 409, code: 'AMENDMENT_NOT_REJECTED' });
    expect(classifyPush('RX1', 'hX', { version: 1 }, [v(1, 'approved')])).toMatchObject({ code: 'AMENDMENT_NOT_REJECTED' });
    expect(classifyPush('RX1', 'hX', { version: 1 }, [v(1, 'rejected'), v(2, 'rejected')])).toMatchObject({ kind: 'refused', status: 409, code: 'AMENDMENT_NOT_LATEST' });
    expect(classifyPush('RX1', 'hX', { version: 3 }, [v(1, 'rejected')])).toMatchObject({ kind: 'refused', status: 422, code: 'AMENDMENT_TARGET_NOT_FOUND' });
    expect(classifyPush('RX1', 'hX', { version: 1, prescriptionId: 'other' }, [v(1, 'rejected')])).toMatchObject({ code: 'AMENDMENT_TARGET_NOT_FOUND' });
    expect(classifyPush('RX1', 'hX', { version: 1 }, [])).toMatchObject({ code: 'AMENDMENT_TARGET_NOT_FOUND' });
  });
});

describe('signed decisions', () => {
  const secret = 'unit-test-secret';
  const statement: DecisionStatement = {
    prescriptionId: '5f0c6a57-5a3c-4c39-9d0e-0a3f5d1f2b11', rxNo: 'RX-1', version: 1, contentHash: 'ab'.repeat(32),
    decision: 'reject', reasons: ['DOSE', 'INTERACTION'], comment: '剂量过大', overrideReason: null,
    decidedAt: '2026-11-24T02:00:00.000Z', pharmacist: { code: 'P001', licenseNo: 'YS330100001' },
  };

  it('has a canonical form with sorted keys and a type tag', () => {
    const c = canonicalDecision(statement);
    expect(c.startsWith('{"comment":"剂量过大","contentHash":"')).toBe(true);
    expect(c).toContain('"type":"rxflow.review-decision.v1"');
    expect(c).toContain('"pharmacist":{"code":"P001","licenseNo":"YS330100001"}');
    expect(canonicalDecision({ ...statement })).toBe(c);
  });

  it('stores the private key only encrypted, bound to its pharmacist', () => {
    const key = generateReviewSigningKey('pharmacist-1', secret);
    expect(key.privateKeyEnc.startsWith('v1.')).toBe(true);
    expect(key.keyId).toBe(keyIdOf(key.publicKey));
    expect(decryptPrivateKey(key.privateKeyEnc, 'pharmacist-1', secret)).toMatch(/^[0-9a-f]{64}$/);
    expect(() => decryptPrivateKey(key.privateKeyEnc, 'pharmacist-2', secret)).toThrow();
    expect(() => decryptPrivateKey(key.privateKeyEnc, 'pharmacist-1', 'another secret')).toThrow();
  });

  it('verifies with the pharmacist\'s key and fails on any change to what was decided', () => {
    const key = generateReviewSigningKey('pharmacist-1', secret);
    const sig = signDecision(statement, key, 'pharmacist-1', secret);
    expect(sig).toMatchObject({ alg: 'SM2-SM3', keyId: key.keyId, publicKey: key.publicKey });
    expect(verifyDecision(statement, sig, key.publicKey)).toEqual({ valid: true });
    for (const tampered of [
      { ...statement, decision: 'approve' as const },
      { ...statement, reasons: ['DOSE'] },
      { ...statement, comment: '同意' },
      { ...statement, decidedAt: '2026-11-24T02:00:01.000Z' },
      { ...statement, contentHash: 'cd'.repeat(32) },
      { ...statement, pharmacist: { code: 'P002', licenseNo: 'YS330100001' } },
    ]) expect(verifyDecision(tampered, sig, key.publicKey)).toEqual({ valid: false, reason: 'bad_signature' });
    const other = generateReviewSigningKey('pharmacist-2', secret);
    expect(verifyDecision(statement, sig, other.publicKey)).toEqual({ valid: false, reason: 'unknown_key' });
    expect(verifyDecision(statement, { ...sig, publicKey: other.publicKey, keyId: other.keyId }, other.publicKey)).toEqual({ valid: false, reason: 'bad_signature' });
  });
});
