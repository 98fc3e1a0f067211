// The audit trail read back (docs/audit.md): verifying its hash chains, and the regulator's export of a
// date range and a region as JSON lines or CSV. Read-only SQL; the rows are read in batches by position,
// so neither needs memory in proportion to the trail.
import type { EntityManager, Knex } from '@mikro-orm/postgresql';
import { ChainWalker, GENESIS, type BrokenLink, type ChainHead, type StoredAuditRow } from '../domain/audit-chain';
import { regulatorView } from '../domain/audit-data';
import { csvField } from './csv';
import { dayBounds, DATE_PATTERN, isValidDate } from './supervision';

export type AuditDb = EntityManager | Knex;
// Inside a transaction the EntityManager's own connection, so a check sees what that transaction sees.
const knexOf = (db: AuditDb): Knex => ('getKnex' in db && typeof db.getKnex === 'function' ? ((db.getTransactionContext() as Knex | undefined) ?? db.getKnex()) : (db as Knex));

type Row = Record<string, any>;
const AT_TEXT = `to_char(e.at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
const COLUMNS = `e.id::text as id, e.prescription_id::text as prescription_id, e.global_seq::text as global_seq, e.rx_seq::text as rx_seq,
  e.action, e.actor, e.actor_ip, e.actor_agent, e.from_status, e.to_status, ${AT_TEXT} as at_text, e.data::text as data_text,
  e.data_digest, e.hash, e.rx_hash, e.data_erased_at is not null as erased`;

function stored(r: Row): StoredAuditRow {
  return {
    id: r.id, prescriptionId: r.prescription_id ?? null, globalSeq: r.global_seq, rxSeq: r.rx_seq ?? null, action: r.action, actor: r.actor,
    actorIp: r.actor_ip ?? null, actorAgent: r.actor_agent ?? null, fromStatus: r.from_status ?? null, toStatus: r.to_status ?? null,
    at: r.at_text, dataDigest: String(r.data_digest ?? '').trim(), dataText: r.data_text, erased: r.erased === true,
    hash: String(r.hash ?? '').trim(), rxHash: r.rx_hash === null || r.rx_hash === undefined ? null : String(r.rx_hash).trim(),
  };
}

export interface VerifyResult {
  intact: boolean;
  scope: 'all' | 'prescription';
  prescriptionId: string | null;
  /** Events checked before the first broken link (all of them when intact). */
  checked: number;
  /** Prescription chains checked (scope all: every prescription with events). */
  prescriptionChains: number;
  /** The last verified position and hash of the global chain (of the prescription's chain for scope prescription). */
  head: ChainHead;
  broken: BrokenLink | null;
}

const BATCH = 2000;

/**
 * Verifies the trail. Scope all: the global chain in order (every event's data digest and link), the stored
 * global head, then every prescription's chain and head, and that each erased event was erased by a
 * recorded erasure. Scope prescription: that prescription's chain and head. Stops at the first broken link.
 */
export async function verifyAuditTrail(db: AuditDb, opts: { prescriptionId?: string } = {}): Promise<VerifyResult> {
  const knex = knexOf(db);
  const q = async (sql: string, b: unknown[]) => (await knex.raw(sql, b as any[])).rows as Row[];
  const heads = async (id: string) => (await q(`select seq::text as seq, hash from audit_chain_head where chain_id = ?`, [id])).map((h) => ({ seq: h.seq, hash: String(h.hash).trim() }))[0] ?? null;

  if (opts.prescriptionId) {
    const walker = new ChainWalker('prescription', opts.prescriptionId);
    let after = 0;
    for (;;) {
      const rows = await q(`select ${COLUMNS} from audit_event e where e.prescription_id = ? and e.rx_seq > ? order by e.rx_seq limit ${BATCH}`, [opts.prescriptionId, after]);
      for (const r of rows) {
        const row = stored(r);
        const broken = walker.push(row);
        if (broken) return { intact: false, scope: 'prescription', prescriptionId: opts.prescriptionId, checked: walker.count, prescriptionChains: 1, head: walker.head, broken: { ...broken, chain: 'prescription', prescriptionId: opts.prescriptionId } };
      }
      if (rows.length < BATCH) break;
      after = Number(rows[rows.length - 1].rx_seq);
    }
    const broken = walker.finish(await heads(opts.prescriptionId));
    return { intact: !broken, scope: 'prescription', prescriptionId: opts.prescriptionId, checked: walker.count, prescriptionChains: 1, head: walker.head, broken };
  }

  // 1. The global chain, which holds every event.
  const global = new ChainWalker('global');
  const erased: string[] = [];
  const erasedByRecord = new Set<string>();
  let after = '0';
  for (;;) {
    const rows = await q(`select ${COLUMNS} from audit_event e where e.global_seq > ?::bigint order by e.global_seq limit ${BATCH}`, [after]);
    for (const r of rows) {
      const row = stored(r);
      const broken = global.push(row);
      if (broken) return { intact: false, scope: 'all', prescriptionId: null, checked: global.count, prescriptionChains: 0, head: global.head, broken };
      if (row.erased) erased.push(row.id);
      if (row.action === ERASURE_ACTION) for (const id of erasureTargets(row.dataText)) erasedByRecord.add(id);
    }
    if (rows.length < BATCH) break;
    after = rows[rows.length - 1].global_seq;
  }
  const headBroken = global.finish(await heads('global'));
  if (headBroken) return { intact: false, scope: 'all', prescriptionId: null, checked: global.count, prescriptionChains: 0, head: global.head, broken: headBroken };
  const unrecorded = erased.find((id) => !erasedByRecord.has(id));
  if (unrecorded) {
    return { intact: false, scope: 'all', prescriptionId: null, checked: global.count, prescriptionChains: 0, head: global.head,
      broken: { chain: 'global', prescriptionId: null, eventId: unrecorded, seq: null, field: 'erasure', expected: `a ${ERASURE_ACTION} event listing event ${unrecorded}`, found: 'none',
        message: `event ${unrecorded} had its data erased, but no recorded erasure lists it` } };
  }

  // 2. Every prescription's chain, in (prescription, position) order with its stored head alongside.
  let chains = 0;
  let walker: ChainWalker | null = null;
  let walkerHead: ChainHead | null = null;
  const close = () => (walker ? walker.finish(walkerHead) : null);
  let cursor: [string, number] = ['00000000-0000-0000-0000-000000000000', 0];
  for (;;) {
    const rows = await q(`select ${COLUMNS}, h.seq::text as head_seq, h.hash as head_hash from audit_event e
        left join audit_chain_head h on h.chain_id = e.prescription_id::text
       where e.prescription_id is not null and (e.prescription_id, e.rx_seq) > (?::uuid, ?)
       order by e.prescription_id, e.rx_seq limit ${BATCH}`, cursor);
    for (const r of rows) {
      const row = stored(r);
      if (!walker || walker.prescriptionId !== row.prescriptionId) {
        const ended = close();
        if (ended) return { intact: false, scope: 'all', prescriptionId: null, checked: global.count, prescriptionChains: chains, head: global.head, broken: ended };
        walker = new ChainWalker('prescription', row.prescriptionId);
        walkerHead = r.head_seq === null ? null : { seq: r.head_seq, hash: String(r.head_hash).trim() };
        chains += 1;
      }
      const broken = walker.push(row);
      if (broken) return { intact: false, scope: 'all', prescriptionId: null, checked: global.count, prescriptionChains: chains, head: global.head, broken };
    }
    if (rows.length < BATCH) break;
    const last = rows[rows.length - 1];
    cursor = [last.prescription_id, Number(last.rx_seq)];
  }
  const ended = close();
  if (ended) return { intact: false, scope: 'all', prescriptionId: null, checked: global.count, prescriptionChains: chains, head: global.head, broken: ended };
  // A prescription's head with no events left at all: its whole chain was deleted.
  const [orphan] = await q(`select h.chain_id, h.seq::text as seq, h.hash from audit_chain_head h where h.chain_id <> 'global'
      and not exists (select 1 from audit_event e where e.prescription_id = h.chain_id::uuid) limit 1`, []);
  if (orphan) {
    return { intact: false, scope: 'all', prescriptionId: null, checked: global.count, prescriptionChains: chains, head: global.head,
      broken: { chain: 'prescription', prescriptionId: orphan.chain_id, eventId: null, seq: orphan.seq, field: 'head', expected: '0:' + GENESIS, found: `${orphan.seq}:${String(orphan.hash).trim()}`,
        message: `prescription ${orphan.chain_id} has a chain head at position ${orphan.seq} but no events: its events were deleted` } };
  }
  return { intact: true, scope: 'all', prescriptionId: null, checked: global.count, prescriptionChains: chains, head: global.head, broken: null };
}

/** The audit action of an operator's erasure; its data lists the events whose data it erased. */
export const ERASURE_ACTION = 'patient_data_erased';
function erasureTargets(dataText: string): string[] {
  try {
    const ids = (JSON.parse(dataText) as { auditEventIds?: unknown }).auditEventIds;
    return Array.isArray(ids) ? ids.map(String) : [];
  } catch { return []; }
}

/** One line of the verify report, for people: "intact …" or the first broken link. */
export function describeVerify(r: VerifyResult): string {
  const what = r.scope === 'prescription' ? `prescription ${r.prescriptionId}` : 'audit trail';
  if (r.intact) return `${what}: intact, ${r.checked} event(s)${r.scope === 'all' ? ` in ${r.prescriptionChains} prescription chain(s)` : ''}, head ${r.head.seq}:${r.head.hash}`;
  const b = r.broken!;
  return [`${what}: BROKEN at ${b.eventId ? `event ${b.eventId}` : 'the chain head'} (${b.chain} chain${b.prescriptionId && b.chain === 'prescription' ? ` of prescription ${b.prescriptionId}` : ''}, ${b.field})`,
    `  ${b.message}`, `  expected ${b.expected}`, `  found    ${b.found}`, `  ${r.checked} event(s) verified before it`].join('\n');
}

// ---- the regulator's export --------------------------------------------------------------------------------

export interface AuditExportOptions {
  /** [from, to) as instants (ISO with offset), from dates: `from` day's start to the end of `to` day (Asia/Shanghai). */
  from: string;
  to: string;
  regionCode: string;
}

/** A date (YYYY-MM-DD, a day in Asia/Shanghai) or an ISO instant with an offset; null when it is neither. */
export function parseBound(v: string, end: boolean): string | null {
  if (DATE_PATTERN.test(v)) return isValidDate(v) ? (end ? dayBounds(v).to : dayBounds(v).from) : null;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$/.test(v)) return null;
  return Number.isFinite(Date.parse(v)) ? v : null;
}

export interface AuditExportRecord {
  id: string; globalSeq: string; prescriptionId: string | null; rxSeq: string | null; rxNo: string | null; hospitalCode: string | null; regionCode: string | null;
  at: string; action: string; actor: string; actorIp: string | null; actorAgent: string | null; fromStatus: string | null; toStatus: string | null;
  data: unknown; dataErased: boolean; dataDigest: string; prevHash: string; hash: string; prevRxHash: string | null; rxHash: string | null;
}

/** The CSV's columns, in order; `data` is its JSON text. */
export const EXPORT_COLUMNS: (keyof AuditExportRecord)[] = [
  'id', 'globalSeq', 'prescriptionId', 'rxSeq', 'rxNo', 'hospitalCode', 'regionCode', 'at', 'action', 'actor', 'actorIp', 'actorAgent',
  'fromStatus', 'toStatus', 'data', 'dataErased', 'dataDigest', 'prevHash', 'hash', 'prevRxHash', 'rxHash',
];

/**
 * The events of the region's prescriptions in [from, to), in chain order, each with the hashes that let a
 * receiver check its links (prevHash/hash, prevRxHash/rxHash recompute with domain/audit-chain.ts from the
 * other fields). Personal data in `data` is reduced as in the supervision feed (domain/audit-data.ts), so
 * the digest there is of the stored data, not of what the line shows.
 */
export async function* auditExport(db: AuditDb, opts: AuditExportOptions): AsyncGenerator<AuditExportRecord> {
  const knex = knexOf(db);
  let after = '0';
  for (;;) {
    const rows = (await knex.raw(`select ${COLUMNS}, p.rx_no, h.code as hospital_code, h.region_code,
        coalesce((select g.hash from audit_event g where g.global_seq = e.global_seq - 1), ?) as prev_hash,
        case when e.prescription_id is null then null
             else coalesce((select r.rx_hash from audit_event r where r.prescription_id = e.prescription_id and r.rx_seq = e.rx_seq - 1), ?) end as prev_rx_hash
      from audit_event e
      join prescription p on p.id = e.prescription_id
      join hospital h on h.id = p.hospital_id and h.region_code = ?
      where e.at >= ?::timestamptz and e.at < ?::timestamptz and e.global_seq > ?::bigint
      order by e.global_seq limit ${BATCH}`, [GENESIS, GENESIS, opts.regionCode, opts.from, opts.to, after])).rows as Row[];
    for (const r of rows) {
      const s = stored(r);
      yield {
        id: s.id, globalSeq: s.globalSeq, prescriptionId: s.prescriptionId, rxSeq: s.rxSeq, rxNo: r.rx_no ?? null, hospitalCode: r.hospital_code ?? null,
        regionCode: r.region_code ?? null, at: s.at, action: s.action, actor: s.actor, actorIp: s.actorIp, actorAgent: s.actorAgent,
        fromStatus: s.fromStatus, toStatus: s.toStatus, data: s.erased ? { erased: true } : regulatorView(JSON.parse(s.dataText)), dataErased: s.erased,
        dataDigest: s.dataDigest, prevHash: String(r.prev_hash).trim(), hash: s.hash, prevRxHash: r.prev_rx_hash === null ? null : String(r.prev_rx_hash).trim(), rxHash: s.rxHash,
      };
    }
    if (rows.length < BATCH) return;
    after = rows[rows.length - 1].global_seq;
  }
}

export const exportJsonLine = (r: AuditExportRecord) => `${JSON.stringify(r)}\n`;
export const CSV_BOM = '\uFEFF';
export const exportCsvHeader = () => `${CSV_BOM}${EXPORT_COLUMNS.join(',')}\r\n`;
export const exportCsvLine = (r: AuditExportRecord) =>
  `${EXPORT_COLUMNS.map((c) => {
    const v = r[c];
    return csvField(v === null || v === undefined ? null : typeof v === 'object' ? JSON.stringify(v) : typeof v === 'boolean' ? String(v) : (v as string));
  }).join(',')}\r\n`;
