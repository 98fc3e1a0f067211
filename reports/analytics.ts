// Monthly prescription analytics for operators, straight from PostgreSQL (the source of truth): one row
// per hospital, pharmacy or region. Pure SQL plus shaping; no writes, no Elasticsearch.
//
// Every metric describes the prescriptions *pushed* in the month (prescription.created_at inside the
// month in Asia/Shanghai time), whatever month their review, delivery or follow-ups fall in. A month's
// figures can therefore still move while its prescriptions are in flight. Definitions: docs/reports.md.
import type { EntityManager } from '@mikro-orm/postgresql';

export const GROUPINGS = ['hospital', 'pharmacy', 'region'] as const;
export type Grouping = (typeof GROUPINGS)[number];

/** Month boundaries are China Standard Time (UTC+08:00, no daylight saving). */
export const REPORT_TIMEZONE = 'Asia/Shanghai';
const OFFSET = '+08:00';

export interface ReasonCount { reason: string; count: number }

export interface MonthlyRow {
  /** Hospital code, pharmacy code or region code. */
  key: string;
  /** Hospital or pharmacy name; null for a region. */
  name: string | null;
  /** The hospital's region (hospital and region grouping); null for a pharmacy. */
  regionCode: string | null;
  issued: number;
  approved: number;
  rejected: number;
  rejectedByReason: ReasonCount[];
  avgDrugsPerPrescription: number | null;
  avgValueFen: number | null;
  insurerShare: number | null;
  reviewSecondsP50: number | null;
  reviewSecondsP90: number | null;
  deliverySecondsP50: number | null;
  deliverySecondsP90: number | null;
  offersAnswered: number;
  offersAccepted: number;
  pharmacyAcceptanceRate: number | null;
  followUps: number;
  followUpsSent: number;
  followUpCompletionRate: number | null;
  adverseReactions: number;
}

export interface MonthlyReport {
  month: string;
  by: Grouping;
  timezone: typeof REPORT_TIMEZONE;
  /** Inclusive start and exclusive end of the month, as instants with their +08:00 offset. */
  from: string;
  to: string;
  rows: MonthlyRow[];
}

export const MONTH_PATTERN = /^(\d{4})-(0[1-9]|1[0-2])$/;

/** [start, end) of a 'YYYY-MM' month in Asia/Shanghai time, as ISO strings with the offset. */
export function monthBounds(month: string): { from: string; to: string } {
  const m = MONTH_PATTERN.exec(month);
  if (!m) throw new Error(`month must be YYYY-MM, got ${JSON.stringify(month)}`);
  const year = Number(m[1]);
  const mon = Number(m[2]);
  const next = mon === 12 ? { y: year + 1, m: 1 } : { y: year, m: mon + 1 };
  const iso = (y: number, mm: number) => `${String(y).padStart(4, '0')}-${String(mm).padStart(2, '0')}-01T00:00:00${OFFSET}`;
  return { from: iso(year, mon), to: iso(next.y, next.m) };
}

// What differs between the groupings: which group a prescription counts for, which group an offer
// counts for, and how a group is labelled. Everything else is shared.
interface GroupingSql { member: string; offerKey: string; labels: string; labelJoin: string }
const GROUPING_SQL: Record<Grouping, GroupingSql> = {
  hospital: {
    member: `select c.*, c.hospital_id::text as group_key from cohort c`,
    offerKey: `c.hospital_id::text`,
    labels: `h.code as key, h.name as name, h.region_code as region_code`,
    labelJoin: `join hospital h on h.id::text = g.group_key`,
  },
  region: {
    member: `select c.*, c.region_code as group_key from cohort c`,
    offerKey: `c.region_code`,
    labels: `g.group_key as key, null::text as name, g.group_key as region_code`,
    labelJoin: ``,
  },
  // A prescription counts for the pharmacy that took it (its accepted or dispensed order); the
  // acceptance rate counts every offer the pharmacy answered, whoever filled the prescription in the end.
  pharmacy: {
    member: `select c.*, f.pharmacy_id::text as group_key from filled f join cohort c on c.id = f.prescription_id`,
    offerKey: `fo.pharmacy_id::text`,
    labels: `ph.code as key, ph.name as name, null::text as region_code`,
    labelJoin: `join pharmacy ph on ph.id::text = g.group_key`,
  },
};

/** Offers that got an answer (accept, decline, short after accepting) or ran out of time. */
const ANSWERED = `('accepted', 'dispensed', 'declined', 'expired', 'short')`;
const ACCEPTED = `('accepted', 'dispensed')`;

function monthlySql(by: Grouping): string {
  const g = GROUPING_SQL[by];
  const secs = (col: string, p: number) => `round((percentile_cont(${p}) within group (order by ${col}))::numeric)`;
  // Per-prescription facts are looked up per prescription of the month (index lookups by prescription id),
  // so the cost follows the month's size, not the size of audit_event or prescription_line.
  return `
with cohort as (
  select p.id, p.created_at, p.pricing, p.hospital_id, h.region_code
  from prescription p
  join hospital h on h.id = p.hospital_id
  where p.created_at >= ?::timestamptz and p.created_at < ?::timestamptz
),
filled as (
  select distinct on (fo.prescription_id) fo.prescription_id, fo.pharmacy_id
  from fulfilment_order fo
  join cohort c on c.id = fo.prescription_id
  where fo.status in ${ACCEPTED}
  order by fo.prescription_id, fo.attempt desc
),
member as (${g.member}),
per_rx as (
  select m.group_key,
    r.decision,
    extract(epoch from r.decided_at - m.created_at)::float8 as review_s,
    (select count(*) from prescription_line l where l.prescription_id = m.id) as lines,
    (m.pricing ->> 'totalFen')::numeric as value_fen,
    -- insurer share: the settlement when there is one (a reversed one pays nothing and is left out),
    -- else the pre-check pricing
    -- (partial fills: one settlement per fill, summed; a reversal reverses them all)
    case when s.n = 0 then (m.pricing ->> 'insurerPaysFen')::numeric
         when s.live > 0 then s.insurer_pays_fen::numeric end as share_insurer_fen,
    case when s.n = 0 then (m.pricing ->> 'totalFen')::numeric
         when s.live > 0 then s.total_fen::numeric end as share_total_fen,
    extract(epoch from ev.delivered_at - m.created_at)::float8 as delivery_s,
    ev.adverse,
    fu.follow_ups,
    fu.follow_ups_sent
  from member m
  left join review r on r.prescription_id = m.id
  cross join lateral (
    select count(*) as n, count(*) filter (where x.reversed_at is null) as live,
           sum(x.insurer_pays_fen) filter (where x.reversed_at is null) as insurer_pays_fen,
           sum(x.total_fen) filter (where x.reversed_at is null) as total_fen
    from settlement x where x.prescription_id = m.id
  ) s
  cross join lateral (
    select min(e.at) filter (where e.action = 'delivery_delivered') as delivered_at,
           count(*) filter (where e.action = 'adverse_reaction_reported') as adverse
    from audit_event e
    where e.prescription_id = m.id and e.action in ('delivery_delivered', 'adverse_reaction_reported')
  ) ev
  cross join lateral (
    -- The close step asks the patient nothing; a sent step stays sent once answered or left unanswered.
    select count(*) as follow_ups, count(*) filter (where f.status in ('sent', 'answered', 'unanswered')) as follow_ups_sent
    from follow_up f where f.prescription_id = m.id and f.kind <> 'close'
  ) fu
),
rx as (
  select group_key,
    count(*)::int as issued,
    (count(*) filter (where decision = 'approved'))::int as approved,
    (count(*) filter (where decision = 'rejected'))::int as rejected,
    round(sum(lines)::numeric / count(*), 2) as avg_drugs,
    round(avg(value_fen)) as avg_value_fen,
    round((sum(share_insurer_fen) filter (where share_insurer_fen is not null and share_total_fen is not null))
      / nullif(sum(share_total_fen) filter (where share_insurer_fen is not null and share_total_fen is not null), 0), 4) as insurer_share,
    ${secs('review_s', 0.5)} as review_p50,
    ${secs('review_s', 0.9)} as review_p90,
    ${secs('delivery_s', 0.5)} as delivery_p50,
    ${secs('delivery_s', 0.9)} as delivery_p90,
    sum(follow_ups)::int as follow_ups,
    sum(follow_ups_sent)::int as follow_ups_sent,
    sum(adverse)::int as adverse
  from per_rx
  group by group_key
),
offers as (
  select ${g.offerKey} as group_key,
    (count(*) filter (where fo.status in ${ANSWERED}))::int as answered,
    (count(*) filter (where fo.status in ${ACCEPTED}))::int as accepted
  from fulfilment_order fo
  join cohort c on c.id = fo.prescription_id
  group by 1
),
reasons as (
  select m.group_key, reason, count(*)::int as n
  from member m
  join review r on r.prescription_id = m.id and r.decision = 'rejected'
  cross join lateral jsonb_array_elements_text(case when jsonb_typeof(r.reasons) = 'array' then r.reasons else '[]'::jsonb end) as reason
  group by 1, 2
),
reason_lists as (
  select group_key, json_agg(json_build_object('reason', reason, 'count', n)) as reasons
  from reasons group by 1
),
groups as (select group_key from rx union select group_key from offers)
select ${g.labels},
  rx.issued, rx.approved, rx.rejected, rx.avg_drugs, rx.avg_value_fen, rx.insurer_share,
  rx.review_p50, rx.review_p90, rx.delivery_p50, rx.delivery_p90,
  rx.follow_ups, rx.follow_ups_sent, rx.adverse,
  o.answered, o.accepted,
  coalesce(rl.reasons, '[]'::json) as reasons
from groups g
${g.labelJoin}
left join rx on rx.group_key = g.group_key
left join offers o on o.group_key = g.group_key
left join reason_lists rl on rl.group_key = g.group_key`;
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const int = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
const ratio = (n: number, d: number): number | null => (d === 0 ? null : Math.round((n / d) * 10000) / 10000);
const byCode = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function shapeRow(r: Record<string, any>): MonthlyRow {
  const followUps = int(r.follow_ups);
  const followUpsSent = int(r.follow_ups_sent);
  const offersAnswered = int(r.answered);
  const offersAccepted = int(r.accepted);
  const reasons = (r.reasons as { reason: string; count: number }[])
    .map((x) => ({ reason: String(x.reason), count: Number(x.count) }))
    .sort((a, b) => b.count - a.count || byCode(a.reason, b.reason));
  return {
    key: String(r.key),
    name: r.name ?? null,
    regionCode: r.region_code ?? null,
    issued: int(r.issued),
    approved: int(r.approved),
    rejected: int(r.rejected),
    rejectedByReason: reasons,
    avgDrugsPerPrescription: num(r.avg_drugs),
    avgValueFen: num(r.avg_value_fen),
    insurerShare: num(r.insurer_share),
    reviewSecondsP50: num(r.review_p50),
    reviewSecondsP90: num(r.review_p90),
    deliverySecondsP50: num(r.delivery_p50),
    deliverySecondsP90: num(r.delivery_p90),
    offersAnswered,
    offersAccepted,
    pharmacyAcceptanceRate: ratio(offersAccepted, offersAnswered),
    followUps,
    followUpsSent,
    followUpCompletionRate: ratio(followUpsSent, followUps),
    adverseReactions: int(r.adverse),
  };
}

/**
 * The month's analytics, one row per group, busiest group first (then by key).
 * `em` is any MikroORM PostgreSQL entity manager; the query is read-only.
 */
export async function monthlyAnalytics(em: EntityManager, opts: { month: string; by: Grouping }): Promise<MonthlyReport> {
  if (!GROUPINGS.includes(opts.by)) throw new Error(`by must be one of ${GROUPINGS.join(', ')}, got ${JSON.stringify(opts.by)}`);
  const { from, to } = monthBounds(opts.month);
  // One read-only transaction; JIT off for it: the planner's cost estimate for this shape of query
  // crosses jit_above_cost early, and compiling costs far more than the query itself (~1 s vs ~80 ms for
  // a month of 8,000 prescriptions, measured).
  const raw = await em.transactional(async (t) => {
    const conn = t.getConnection();
    const ctx = t.getTransactionContext();
    await conn.execute('set local jit = off', [], 'run', ctx);
    return conn.execute<Record<string, any>[]>(monthlySql(opts.by), [from, to], 'all', ctx);
  }, { readOnly: true });
  const rows = raw.map(shapeRow).sort((a, b) => b.issued - a.issued || byCode(a.key, b.key));
  return { month: opts.month, by: opts.by, timezone: REPORT_TIMEZONE, from, to, rows };
}
