// The audit trail's chain rules without a database: the canonical form, the links, and where a verifier
// stops when an event is edited, deleted, reordered or cut off the end. The same hashes come out of the
// PostgreSQL trigger (tests/integration/audit-trail.test.ts checks that against stored rows).
import { ChainWalker, GENESIS, canonicalAuditEvent, checkData, dataDigest, linkHash, ERASED_DATA_TEXT, type StoredAuditRow } from '../../domain/audit-chain';
import { hasPersonalData, regulatorView } from '../../domain/audit-data';

const RX = '6f1c2a34-0000-4000-8000-000000000001';

/** A chain of n stored events as the trigger would write them. */
function chain(n: number): StoredAuditRow[] {
  let g = GENESIS;
  let r = GENESIS;
  const rows: StoredAuditRow[] = [];
  for (let i = 1; i <= n; i++) {
    const dataText = `{"step": ${i}, "note": "line\\nbreak \\"quoted\\" 中文"}`;
    const row: StoredAuditRow = {
      id: String(100 + i), prescriptionId: RX, globalSeq: String(i), rxSeq: String(i), action: `step_${i}`, actor: 'system:rxflow',
      actorIp: i === 1 ? '10.0.0.1' : null, actorAgent: i === 1 ? 'curl/8 "x"' : null, fromStatus: null, toStatus: i === 1 ? 'received' : null,
      at: `2026-11-23T08:00:0${i % 10}.123456Z`, dataDigest: dataDigest(dataText), dataText, erased: false, hash: '', rxHash: '',
    };
    g = linkHash(g, canonicalAuditEvent(row));
    r = linkHash(r, canonicalAuditEvent(row));
    rows.push({ ...row, hash: g, rxHash: r });
  }
  return rows;
}

function walk(rows: StoredAuditRow[], kind: 'global' | 'prescription' = 'global') {
  const w = new ChainWalker(kind, kind === 'prescription' ? RX : null);
  for (const row of rows) {
    const b = w.push(row);
    if (b) return { broken: b, walker: w };
  }
  return { broken: null, walker: w };
}

describe('canonical form', () => {
  it('is canonical JSON with every key, sorted, values as strings or null', () => {
    const [row] = chain(1);
    expect(canonicalAuditEvent(row)).toBe(
      `{"action":"step_1","actor":"system:rxflow","actorAgent":"curl/8 \\"x\\"","actorIp":"10.0.0.1","at":"2026-11-23T08:00:01.123456Z","dataDigest":"${row.dataDigest}",`
      + `"fromStatus":null,"globalSeq":"1","id":"101","prescriptionId":"${RX}","rxSeq":"1","toStatus":"received"}`);
  });

  it('links by sha256 over the previous hash and the canonical text', () => {
    expect(linkHash(GENESIS, 'x')).toMatch(/^[0-9a-f]{64}$/);
    expect(linkHash(GENESIS, 'x')).not.toBe(linkHash(GENESIS, 'y'));
  });
});

describe('verifying a chain', () => {
  it('accepts an intact chain in both its global and its prescription form, and its head', () => {
    const rows = chain(5);
    for (const kind of ['global', 'prescription'] as const) {
      const { broken, walker } = walk(rows, kind);
      expect(broken).toBeNull();
      expect(walker.count).toBe(5);
      expect(walker.finish({ seq: '5', hash: kind === 'global' ? rows[4].hash : rows[4].rxHash! })).toBeNull();
    }
  });

  it('finds edited data at that event, by its digest', () => {
    const rows = chain(5);
    rows[2] = { ...rows[2], dataText: '{"step": 3, "note": "changed"}' };
    const { broken } = walk(rows);
    expect(broken).toMatchObject({ eventId: '103', field: 'data', expected: rows[2].dataDigest, found: dataDigest('{"step": 3, "note": "changed"}') });
  });

  it('finds an edited field at that event, by its link', () => {
    const rows = chain(5);
    rows[3] = { ...rows[3], actor: 'pharmacist:P999' };
    const { broken } = walk(rows);
    expect(broken).toMatchObject({ eventId: '104', field: 'hash', found: rows[3].hash });
    expect(broken!.expected).not.toBe(rows[3].hash);
  });

  it('finds a deleted event at the one after it', () => {
    const rows = chain(5);
    const { broken } = walk([rows[0], rows[1], rows[3], rows[4]]);
    expect(broken).toMatchObject({ eventId: '104', field: 'seq', expected: '3', found: '4' });
  });

  it('finds a deleted and renumbered event by the broken link', () => {
    const rows = chain(5);
    const { broken } = walk([rows[0], rows[1], { ...rows[3], globalSeq: '3' }, { ...rows[4], globalSeq: '4' }]);
    expect(broken).toMatchObject({ eventId: '104', field: 'hash' });
  });

  it('finds events cut off the end by the head', () => {
    const rows = chain(5);
    const { broken, walker } = walk(rows.slice(0, 4));
    expect(broken).toBeNull();
    expect(walker.finish({ seq: '5', hash: rows[4].hash })).toMatchObject({ field: 'head', expected: `4:${rows[3].hash}`, found: `5:${rows[4].hash}` });
  });

  it('accepts erased data when it is exactly the marker: the digest keeps the links', () => {
    const rows = chain(3);
    rows[1] = { ...rows[1], dataText: ERASED_DATA_TEXT, erased: true };
    expect(walk(rows).broken).toBeNull();
    expect(checkData({ ...rows[1], dataText: '{"erased": true, "x": 1}' })).toMatchObject({ field: 'data', eventId: '102' });
  });
});

describe('personal data in audit events', () => {
  it('knows which data carries personal details', () => {
    expect(hasPersonalData({ orderId: 'o1', proof: { kind: 'signature', reference: 'S1', receivedBy: '张建国' } })).toBe(true);
    expect(hasPersonalData({ event: 'approved', to: '138****0001' })).toBe(true);
    expect(hasPersonalData({ deliveryId: 'd', note: null, proof: null })).toBe(false);
    expect(hasPersonalData({ flags: [{ code: 'X' }], reasons: ['dose'] })).toBe(false);
  });

  it('reduces it for the regulator: proof kind only, names masked, free text redacted', () => {
    expect(regulatorView({ deliveryId: 'd1', note: '放在门卫', proof: { kind: 'photo', reference: 'IMG1', receivedBy: '张建国' }, to: '138****0001' }))
      .toEqual({ deliveryId: 'd1', note: '[redacted]', proof: { kind: 'photo' }, to: '138****0001' });
    expect(regulatorView({ receivedBy: '欧阳建国', to: '13857100001' })).toEqual({ receivedBy: '欧**国', to: '[redacted]' });
  });
});
