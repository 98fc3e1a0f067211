// The audit trail's hash chains (docs/audit.md), as pure functions: the canonical form of an event, the
// link hash, and a verifier fed with stored rows in chain order. PostgreSQL computes the same hashes when
// an event is appended (trigger audit_event_chain, migration 20261124100000); this file recomputes them
// independently, so a row edited or deleted behind the trigger's back is found at its link.
import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical';

/** The "previous hash" of the first event of a chain. */
export const GENESIS = '0'.repeat(64);

/** What an event's hash covers, as read back from PostgreSQL (ids and positions as text, `at` in UTC with microseconds). */
export interface ChainedFields {
  id: string;
  prescriptionId: string | null;
  globalSeq: string;
  rxSeq: string | null;
  action: string;
  actor: string;
  actorIp: string | null;
  actorAgent: string | null;
  fromStatus: string | null;
  toStatus: string | null;
  /** YYYY-MM-DDTHH:MM:SS.ffffffZ */
  at: string;
  dataDigest: string;
}

/** A stored row: the chained fields, the data as PostgreSQL renders it, and the stored hashes. */
export interface StoredAuditRow extends ChainedFields {
  dataText: string;
  erased: boolean;
  hash: string;
  rxHash: string | null;
}

export const sha256Hex = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** canonicalJson of the chained fields: keys sorted, every key present, values strings or null. */
export function canonicalAuditEvent(e: ChainedFields): string {
  return canonicalJson({
    action: e.action, actor: e.actor, actorAgent: e.actorAgent ?? null, actorIp: e.actorIp ?? null, at: e.at,
    dataDigest: e.dataDigest, fromStatus: e.fromStatus ?? null, globalSeq: e.globalSeq, id: e.id,
    prescriptionId: e.prescriptionId ?? null, rxSeq: e.rxSeq ?? null, toStatus: e.toStatus ?? null,
  });
}

/** hash = sha256(previous hash (hex) || canonical event), over the UTF-8 bytes. */
export const linkHash = (previous: string, canonical: string) => sha256Hex(previous + canonical);

/** The digest of an event's data: sha256 of jsonb's text rendering (`data::text`). */
export const dataDigest = (dataText: string) => sha256Hex(dataText);

/** The one value an erased event's data may hold (jsonb's rendering of it). */
export const ERASED_DATA_TEXT = '{"erased": true}';

export type BrokenField = 'seq' | 'data' | 'hash' | 'rx_hash' | 'head' | 'erasure';
export interface BrokenLink {
  chain: 'global' | 'prescription';
  prescriptionId: string | null;
  /** The event where the chain stops verifying (null when the head points past the last event). */
  eventId: string | null;
  seq: string | null;
  field: BrokenField;
  expected: string;
  found: string;
  message: string;
}

export interface ChainHead { seq: string; hash: string }

/** The event's data against the digest its hashes cover; an erased event must hold exactly the erasure marker. */
export function checkData(row: StoredAuditRow): BrokenLink | null {
  const broken = (expected: string, found: string, message: string): BrokenLink =>
    ({ chain: 'global', prescriptionId: row.prescriptionId, eventId: row.id, seq: row.globalSeq, field: 'data', expected, found, message });
  if (row.erased) {
    return row.dataText === ERASED_DATA_TEXT ? null : broken(ERASED_DATA_TEXT, row.dataText, `event ${row.id} is marked erased but its data is not the erasure marker`);
  }
  const digest = dataDigest(row.dataText);
  return digest === row.dataDigest ? null : broken(row.dataDigest, digest, `event ${row.id}: its data does not match the digest in the chain (edited)`);
}

/**
 * Walks one chain in order. `push` returns the first problem of that row, or null; once broken, the chain
 * stays broken (the caller stops at the first link reported).
 */
export class ChainWalker {
  private prevHash = GENESIS;
  private prevSeq = 0n;
  count = 0;
  constructor(readonly chain: 'global' | 'prescription', readonly prescriptionId: string | null = null) {}

  push(row: StoredAuditRow): BrokenLink | null {
    const seqText = this.chain === 'global' ? row.globalSeq : row.rxSeq;
    const stored = this.chain === 'global' ? row.hash : row.rxHash;
    const broken = (field: BrokenField, expected: string, found: string, message: string): BrokenLink =>
      ({ chain: this.chain, prescriptionId: this.prescriptionId ?? row.prescriptionId, eventId: row.id, seq: seqText, field, expected, found, message });
    const seq = BigInt(seqText ?? '0');
    if (seq !== this.prevSeq + 1n) {
      return broken('seq', String(this.prevSeq + 1n), String(seqText),
        seq > this.prevSeq + 1n ? `event ${row.id} follows position ${this.prevSeq}: ${seq - this.prevSeq - 1n} event(s) missing before it` : `event ${row.id} repeats or reorders position ${seqText}`);
    }
    // Data first: an edited payload is the most likely tampering, and the digest says so precisely.
    const data = checkData(row);
    if (data) return { ...data, chain: this.chain, prescriptionId: this.prescriptionId ?? row.prescriptionId, seq: seqText };
    const expected = linkHash(this.prevHash, canonicalAuditEvent(row));
    if (expected !== stored) {
      return broken(this.chain === 'global' ? 'hash' : 'rx_hash', expected, String(stored),
        `event ${row.id}: the ${this.chain === 'global' ? 'global' : 'prescription'} chain does not link (the event or one before it was edited, inserted or deleted)`);
    }
    this.prevHash = stored;
    this.prevSeq = seq;
    this.count += 1;
    return null;
  }

  /** The stored head must be the last event: anything else means events were cut off the end (or added by hand). */
  finish(head: ChainHead | null): BrokenLink | null {
    const found = head ? `${head.seq}:${head.hash}` : 'no head';
    const expected = `${this.prevSeq}:${this.prevHash}`;
    if (this.prevSeq === 0n && !head) return null;
    if (!head || BigInt(head.seq) !== this.prevSeq || head.hash !== this.prevHash) {
      return { chain: this.chain, prescriptionId: this.prescriptionId, eventId: null, seq: head?.seq ?? null, field: 'head', expected, found,
        message: `the ${this.chain} chain's head is at position ${head?.seq ?? 'none'}, its last event at ${this.prevSeq}: events were removed from the end (or the head was altered)` };
    }
    return null;
  }

  get head(): ChainHead { return { seq: String(this.prevSeq), hash: this.prevHash }; }
}
