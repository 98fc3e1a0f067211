// The provincial supervision feed (统一接入省监管平台): one day's prescriptions, reviews, dispensings and
// deliveries of one region, as JSON lines with masked personal data, plus its SHA-256. Read-only SQL
// against PostgreSQL (the source of truth) and shaping; the file format is docs/supervision-feed.md.
//
// Idempotent by construction: every value in the file comes from the database as of the end of the day
// (status from the audit trail, delivery timeline cut at midnight), records and nested lists have a fixed
// order, objects are built with a fixed key order, and nothing depends on the export time or randomness.
// Exporting a past day again gives the same bytes.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { EntityManager, Knex } from '@mikro-orm/postgresql';
import { birthYear, maskAddress, maskIdNumber, maskName, maskPhone } from '../domain/masking';
import { revealContent } from '../domain/field-crypto';
import { dataKeyRing } from '../engine/data-keys';

/** Days are China Standard Time (UTC+08:00, no daylight saving). */
export const FEED_TIMEZONE = 'Asia/Shanghai';
const OFFSET = '+08:00';

export const RECORD_TYPES = ['prescription', 'review', 'dispensing', 'delivery'] as const;
export type RecordType = (typeof RECORD_TYPES)[number];

export const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;
/** An administrative division code: 6 digits (county level), or 9 / 12 for finer levels. Digits only. */
export const REGION_PATTERN = /^\d{6}(?:\d{3}){0,2}$/;

/** True for a real calendar date written YYYY-MM-DD (2025-02-30 is not one). */
export function isValidDate(date: string): boolean {
  const m = DATE_PATTERN.exec(date);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.getUTCFullYear() === Number(m[1]) && d.getUTCMonth() === Number(m[2]) - 1 && d.getUTCDate() === Number(m[3]);
}

export function isValidRegion(region: string): boolean {
  return REGION_PATTERN.test(region);
}

/** [start, end) of a 'YYYY-MM-DD' day in Asia/Shanghai time, as ISO strings with the +08:00 offset. */
export function dayBounds(date: string): { from: string; to: string } {
  if (!isValidDate(date)) throw new Error(`date must be a calendar date YYYY-MM-DD, got ${JSON.stringify(date)}`);
  const [y, m, d] = date.split('-').map(Number);
  const next = new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
  return { from: `${date}T00:00:00${OFFSET}`, to: `${next}T00:00:00${OFFSET}` };
}

export interface FeedOptions { date: string; regionCode: string }

// ---- the records, with their key order as written ------------------------------------------------------

export interface MaskedPatient {
  name: string; gender: string | null; birthYear: number | null; phone: string | null; idNumber: string | null; address: string | null;
}
export interface PrescriptionRecord {
  type: 'prescription'; id: string; at: string; regionCode: string; hospitalCode: string; rxNo: string;
  issuedAt: string; expiresAt: string; status: string; visitType: string | null; department: string | null; chronic: boolean;
  doctorCode: string | null; diagnoses: { code: string; name: string }[]; patient: MaskedPatient;
  lines: { lineNo: number; drugCode: string; genericName: string; quantity: number; dosage: string; frequency: string; route: string; days: number }[];
  pricing: { planId: string | null; totalFen: number; insurerPaysFen: number; patientPaysFen: number } | null;
}
export interface ReviewRecord {
  type: 'review'; id: string; at: string; regionCode: string; hospitalCode: string; rxNo: string; prescriptionId: string;
  pharmacistCode: string | null; decision: string; reasons: string[]; decidedAt: string;
}
export interface DispensingRecord {
  type: 'dispensing'; id: string; at: string; regionCode: string; hospitalCode: string; rxNo: string; prescriptionId: string;
  pharmacyCode: string | null; dispensedAt: string;
  packs: { lineNo: number; drugCode: string; traceCode: string; batchNo: string; expiryDate: string }[];
}
export interface DeliveryRecord {
  type: 'delivery'; id: string; at: string; regionCode: string; hospitalCode: string; rxNo: string; prescriptionId: string;
  partnerCode: string | null; attempt: number; coldChain: boolean; status: string;
  events: { status: string; at: string; proofKind: string | null }[];
}
export type FeedRecord = PrescriptionRecord | ReviewRecord | DispensingRecord | DeliveryRecord;

export interface SupervisionFeed {
  date: string;
  regionCode: string;
  /** The day as [from, to) instants with their +08:00 offset. */
  from: string;
  to: string;
  records: FeedRecord[];
  counts: Record<RecordType, number>;
  /** The file: one JSON object per line, each followed by "\n"; empty when the day has no records. */
  text: string;
  /** Lower-case hex SHA-256 of the UTF-8 bytes of `text`. */
  sha256: string;
}

// ---- SQL ----------------------------------------------------------------------------------------------

/** A timestamptz as an ISO instant in UTC with milliseconds, formatted by PostgreSQL (driver-independent). */
const iso = (col: string) => `to_char(${col} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

// Every query takes the same bindings: [regionCode, from, to].
const IN_REGION = `join hospital h on h.id = p.hospital_id and h.region_code = ?`;

const PRESCRIPTIONS_SQL = `
select p.id, p.rx_no, h.code as hospital_code, h.region_code, d.code as doctor_code, p.status, p.content, p.pricing,
  ${iso('p.created_at')} as at, ${iso('p.issued_at')} as issued_at, ${iso('p.expires_at')} as expires_at,
  (select e.to_status from audit_event e
    where e.prescription_id = p.id and e.to_status is not null and e.at < ?::timestamptz
    order by e.at desc, e.id desc limit 1) as status_at_end,
  exists (select 1 from audit_event e
    where e.prescription_id = p.id and e.to_status = 'priced' and e.at < ?::timestamptz) as priced_by_end
from prescription p
${IN_REGION}
left join doctor d on d.id = p.doctor_id
where p.created_at >= ?::timestamptz and p.created_at < ?::timestamptz`;

const LINES_SQL = `
select l.prescription_id, l.line_no, l.drug_code, l.drug_name, l.quantity, l.dosage, l.frequency, l.route, l.days
from prescription_line l
join prescription p on p.id = l.prescription_id
${IN_REGION}
where p.created_at >= ?::timestamptz and p.created_at < ?::timestamptz
order by l.prescription_id, l.line_no`;

const REVIEWS_SQL = `
select r.id, r.prescription_id, p.rx_no, h.code as hospital_code, h.region_code, ph.code as pharmacist_code,
  r.decision, r.reasons, ${iso('r.decided_at')} as decided_at
from review r
join prescription p on p.id = r.prescription_id
${IN_REGION}
left join pharmacist ph on ph.id = r.pharmacist_id
where r.decided_at >= ?::timestamptz and r.decided_at < ?::timestamptz`;

const DISPENSINGS_SQL = `
select ds.id, ds.prescription_id, p.rx_no, h.code as hospital_code, h.region_code, ph.code as pharmacy_code,
  ${iso('ds.dispensed_at')} as dispensed_at
from dispensing ds
join prescription p on p.id = ds.prescription_id
${IN_REGION}
left join pharmacy ph on ph.id = ds.pharmacy_id
where ds.dispensed_at >= ?::timestamptz and ds.dispensed_at < ?::timestamptz`;

const PACKS_SQL = `
select pk.dispensing_id, pk.line_no, pk.drug_code, pk.trace_code, pk.batch_no, to_char(pk.expiry_date, 'YYYY-MM-DD') as expiry_date
from dispensed_pack pk
join dispensing ds on ds.id = pk.dispensing_id
join prescription p on p.id = ds.prescription_id
${IN_REGION}
where ds.dispensed_at >= ?::timestamptz and ds.dispensed_at < ?::timestamptz
order by pk.dispensing_id, pk.line_no, pk.trace_code`;

// Candidates: deliveries with at least one timeline event inside the day; the exact cut is made in code.
const DELIVERIES_SQL = `
select dl.id, dl.prescription_id, p.rx_no, h.code as hospital_code, h.region_code, dp.code as partner_code,
  dl.attempt, dl.cold_chain, dl.status, dl.events
from delivery dl
join prescription p on p.id = dl.prescription_id
${IN_REGION}
left join delivery_partner dp on dp.id = dl.partner_id
where jsonb_typeof(dl.events) = 'array' and exists (
  select 1 from jsonb_array_elements(dl.events) ev
  where jsonb_typeof(ev) = 'object'
    and ev ->> 'at' ~ '^\\d{4}-\\d{2}-\\d{2}T'
    and (ev ->> 'at')::timestamptz >= ?::timestamptz and (ev ->> 'at')::timestamptz < ?::timestamptz)`;

// ---- shaping --------------------------------------------------------------------------------------------

type Row = Record<string, any>;
const str = (v: unknown): string | null => (v === null || v === undefined || v === '' ? null : String(v));
const obj = (v: unknown): Row => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Row) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const int = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
/** Code-point order, the same on every machine (never locale-dependent). */
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function maskPatient(patient: unknown): MaskedPatient {
  const p = obj(patient);
  const address = obj(p.address);
  return {
    name: maskName(str(p.name)),
    gender: p.gender === 'M' || p.gender === 'F' ? p.gender : null,
    birthYear: birthYear(str(p.birthDate)),
    phone: str(p.phone) ? maskPhone(String(p.phone)) : null,
    idNumber: str(p.idNumber) ? maskIdNumber(String(p.idNumber)) : null,
    address: str(address.text) ? maskAddress(String(address.text)) : null,
  };
}

function prescriptionRecord(r: Row, lines: Row[]): PrescriptionRecord {
  // The stored content has the patient's ID number, phone and address encrypted (docs/data-protection.md).
  const content = revealContent(dataKeyRing(), obj(r.content));
  const visit = obj(content.visit);
  // Status and pricing as they stood at the end of the day, read from the append-only audit trail; a
  // prescription without any status change in the trail falls back to its current row.
  const fromTrail = r.status_at_end !== null && r.status_at_end !== undefined;
  const pricing = fromTrail && !r.priced_by_end ? null : r.pricing ? obj(r.pricing) : null;
  return {
    type: 'prescription',
    id: String(r.id),
    at: String(r.at),
    regionCode: String(r.region_code),
    hospitalCode: String(r.hospital_code),
    rxNo: String(r.rx_no),
    issuedAt: String(r.issued_at),
    expiresAt: String(r.expires_at),
    status: String(fromTrail ? r.status_at_end : r.status),
    visitType: str(visit.type),
    department: str(visit.department),
    chronic: content.chronic === true,
    doctorCode: str(r.doctor_code) ?? str(obj(content.doctor).code),
    diagnoses: arr(content.diagnoses).map((d) => ({ code: String(obj(d).code ?? ''), name: String(obj(d).name ?? '') })),
    patient: maskPatient(content.patient),
    lines: lines.map((l) => ({
      lineNo: int(l.line_no), drugCode: String(l.drug_code), genericName: String(l.drug_name), quantity: int(l.quantity),
      dosage: String(l.dosage), frequency: String(l.frequency), route: String(l.route), days: int(l.days),
    })),
    pricing: pricing
      ? { planId: str(pricing.planId), totalFen: int(pricing.totalFen), insurerPaysFen: int(pricing.insurerPaysFen), patientPaysFen: int(pricing.patientPaysFen) }
      : null,
  };
}

function reviewRecord(r: Row): ReviewRecord {
  return {
    type: 'review',
    id: String(r.id),
    at: String(r.decided_at),
    regionCode: String(r.region_code),
    hospitalCode: String(r.hospital_code),
    rxNo: String(r.rx_no),
    prescriptionId: String(r.prescription_id),
    pharmacistCode: str(r.pharmacist_code),
    decision: String(r.decision),
    reasons: arr(r.reasons).map((x) => String(x)),
    decidedAt: String(r.decided_at),
  };
}

function dispensingRecord(r: Row, packs: Row[]): DispensingRecord {
  return {
    type: 'dispensing',
    id: String(r.id),
    at: String(r.dispensed_at),
    regionCode: String(r.region_code),
    hospitalCode: String(r.hospital_code),
    rxNo: String(r.rx_no),
    prescriptionId: String(r.prescription_id),
    pharmacyCode: str(r.pharmacy_code),
    dispensedAt: String(r.dispensed_at),
    packs: packs.map((k) => ({
      lineNo: int(k.line_no), drugCode: String(k.drug_code), traceCode: String(k.trace_code), batchNo: String(k.batch_no), expiryDate: String(k.expiry_date),
    })),
  };
}

/** The delivery as it stood at the end of the day: its timeline up to then, its status the last event's. */
function deliveryRecord(r: Row, from: number, to: number): DeliveryRecord | null {
  const events: DeliveryRecord['events'] = [];
  for (const raw of arr(r.events)) {
    const e = obj(raw);
    const t = typeof e.at === 'string' ? Date.parse(e.at) : NaN;
    if (!Number.isFinite(t) || t >= to) continue;
    // Only the kind of proof: its reference, photo or the name of who received it stay with the partner.
    events.push({ status: String(e.status), at: new Date(t).toISOString(), proofKind: str(obj(e.proof).kind) });
  }
  const onDay = events.filter((e) => Date.parse(e.at) >= from);
  if (!onDay.length) return null;
  const at = onDay.map((e) => e.at).reduce((a, b) => (cmp(a, b) >= 0 ? a : b));
  return {
    type: 'delivery',
    id: String(r.id),
    at,
    regionCode: String(r.region_code),
    hospitalCode: String(r.hospital_code),
    rxNo: String(r.rx_no),
    prescriptionId: String(r.prescription_id),
    partnerCode: str(r.partner_code),
    attempt: int(r.attempt),
    coldChain: r.cold_chain === true,
    status: events[events.length - 1].status,
    events,
  };
}

const TYPE_ORDER: Record<RecordType, number> = { prescription: 0, review: 1, dispensing: 2, delivery: 3 };

/** Records in file order: by `at`, then type (prescription, review, dispensing, delivery), then id. */
export function compareRecords(a: FeedRecord, b: FeedRecord): number {
  return cmp(a.at, b.at) || TYPE_ORDER[a.type] - TYPE_ORDER[b.type] || cmp(a.id, b.id);
}

/** The file's bytes as text: one compact JSON object per line, every line ending in "\n". */
export function toJsonLines(records: FeedRecord[]): string {
  return records.map((r) => `${JSON.stringify(r)}\n`).join('');
}

export const sha256Hex = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

function groupBy(rows: Row[], key: string): Map<string, Row[]> {
  const m = new Map<string, Row[]>();
  for (const r of rows) {
    const k = String(r[key]);
    const list = m.get(k);
    if (list) list.push(r); else m.set(k, [r]);
  }
  return m;
}

/** What the export reads with: a MikroORM PostgreSQL entity manager or a knex instance. */
export type FeedDb = EntityManager | Knex;
const knexOf = (db: FeedDb): Knex => ('getKnex' in db && typeof db.getKnex === 'function' ? db.getKnex() : (db as Knex));

/**
 * One day's feed for one region. Read-only. The queries run in one repeatable-read, read-only
 * transaction, so the four record types describe one snapshot of the database.
 */
export async function supervisionFeed(db: FeedDb, opts: FeedOptions): Promise<SupervisionFeed> {
  if (!isValidRegion(opts.regionCode)) throw new Error(`regionCode must be a 6-, 9- or 12-digit division code, got ${JSON.stringify(opts.regionCode)}`);
  const { from, to } = dayBounds(opts.date);
  const region = opts.regionCode;

  const rows = await knexOf(db).transaction(async (trx) => {
    await trx.raw('set transaction isolation level repeatable read, read only');
    const q = async (sql: string, bindings: unknown[]) => (await trx.raw(sql, bindings as any[])).rows as Row[];
    return {
      prescriptions: await q(PRESCRIPTIONS_SQL, [to, to, region, from, to]),
      lines: await q(LINES_SQL, [region, from, to]),
      reviews: await q(REVIEWS_SQL, [region, from, to]),
      dispensings: await q(DISPENSINGS_SQL, [region, from, to]),
      packs: await q(PACKS_SQL, [region, from, to]),
      deliveries: await q(DELIVERIES_SQL, [region, from, to]),
    };
  });

  const fromMs = Date.parse(from);
  const toMs = Date.parse(to);
  const lines = groupBy(rows.lines, 'prescription_id');
  const packs = groupBy(rows.packs, 'dispensing_id');
  const records: FeedRecord[] = [
    ...rows.prescriptions.map((r) => prescriptionRecord(r, lines.get(String(r.id)) ?? [])),
    ...rows.reviews.map(reviewRecord),
    ...rows.dispensings.map((r) => dispensingRecord(r, packs.get(String(r.id)) ?? [])),
    ...rows.deliveries.map((r) => deliveryRecord(r, fromMs, toMs)).filter((r): r is DeliveryRecord => r !== null),
  ].sort(compareRecords);

  const counts = { prescription: 0, review: 0, dispensing: 0, delivery: 0 } as Record<RecordType, number>;
  for (const r of records) counts[r.type]++;
  const text = toJsonLines(records);
  return { date: opts.date, regionCode: region, from, to, records, counts, text, sha256: sha256Hex(text) };
}

export interface WrittenFeed extends SupervisionFeed { file: string; checksumFile: string }

/** The checksum file's content, as `sha256sum` writes it: `<hex>␠␠<file name>\n` (verify with `sha256sum -c`). */
export const checksumLine = (sha256: string, fileName: string) => `${sha256}  ${fileName}\n`;

/**
 * Exports the day and writes `<dir>/<regionCode>/<date>.jsonl` and `<date>.jsonl.sha256`. Each file is
 * written to a temporary name and renamed, so a reader never sees half a file; writing a day again
 * replaces both with the same bytes.
 */
export async function writeSupervisionFeed(db: FeedDb, opts: FeedOptions, dir: string): Promise<WrittenFeed> {
  const feed = await supervisionFeed(db, opts);
  const folder = path.join(path.resolve(dir), feed.regionCode);
  await fs.promises.mkdir(folder, { recursive: true });
  const name = `${feed.date}.jsonl`;
  const file = path.join(folder, name);
  const checksumFile = `${file}.sha256`;
  const write = async (target: string, content: string) => {
    const tmp = `${target}.tmp-${process.pid}`;
    await fs.promises.writeFile(tmp, content, 'utf8');
    await fs.promises.rename(tmp, target);
  };
  await write(file, feed.text);
  await write(checksumFile, checksumLine(feed.sha256, name));
  return { ...feed, file, checksumFile };
}

/**
 * Leaves a trace of who took the feed (it carries personal data, even masked): one `audit_event` row
 * without a prescription, action `supervision_feed_exported`. Written outside the file, so the file
 * itself stays the same however often it is exported.
 */
export async function recordFeedExport(db: FeedDb, actor: string, feed: SupervisionFeed, via: 'api' | 'cli'): Promise<void> {
  await knexOf(db).raw(
    `insert into audit_event (prescription_id, action, actor, from_status, to_status, data, at) values (null, 'supervision_feed_exported', ?, null, null, ?::jsonb, now())`,
    [actor.slice(0, 120), JSON.stringify({ via, date: feed.date, regionCode: feed.regionCode, sha256: feed.sha256, counts: feed.counts })],
  );
}
