// `rxflow stuck`: work that is not moving, measured against the same timings the workflow waits with
// (engine/config.ts, so RX_REVIEW_SLA_MS & co. set for the engine apply here too). PostgreSQL says what
// should be happening; Temporal is asked whether a workflow is actually there to make it happen.
import { temporal as proto } from '@temporalio/proto';
import { isTerminal, PRESCRIPTION_STATUSES } from '../../domain/prescription-status';
import { EXIT, UsageError, duration, iso, parse, positiveInt, printJson, str, table, type Command, type Ctx } from './common';
import { tableExists } from './inspect';
import { describeRun } from './workflow';
import { failingTask } from '../../activities/workflow-health';

export const STUCK_KINDS = ['review_past_sla', 'offer_unanswered', 'not_dispensed', 'delivery_silent', 'reservation_overdue', 'workflow_not_running', 'no_worker', 'activity_failing', 'webhook_failing',
  'delivery_late', 'workflow_task_failing'] as const;
export type StuckKind = (typeof STUCK_KINDS)[number];

export interface StuckItem {
  kind: StuckKind;
  prescriptionId: string | null;
  rxNo: string | null;
  hospital: string | null;
  /** When the wait began (entered review, offered, accepted, last delivery update, reservation expiry, …). */
  since: string;
  /** How far past its threshold it is. */
  overdueMs: number;
  detail: string;
}

const TITLES: Record<StuckKind, string> = {
  review_past_sla: 'reviews past the SLA',
  offer_unanswered: 'offers past the pharmacy response time',
  not_dispensed: 'accepted but not dispensed in time',
  delivery_silent: 'deliveries with no update past the delivery timeout',
  reservation_overdue: 'reservations past expiry still held',
  workflow_not_running: 'workflows not running while the prescription is open',
  no_worker: 'task queues with open workflows and no worker polling',
  activity_failing: 'activities failing and retrying',
  webhook_failing: 'hospital webhooks failing',
  delivery_late: 'deliveries past their promised window',
  workflow_task_failing: 'workflows whose workflow task keeps failing',
};

/** Workflow runs younger than this are left alone: intake writes the row a moment before the start. */
const START_GRACE_MS = 30_000;
/** A task queue whose workers last polled longer ago than this has none. */
const POLLER_SILENCE_MS = 3 * 60_000;
/** A pending activity on this attempt or later is reported: the first retries are routine. */
const FAILING_ATTEMPTS = 3;

const ms = `? * interval '1 millisecond'`;
const RX = `p.id as prescription_id, p.rx_no, h.code as hospital`;

async function fromDatabase(ctx: Ctx): Promise<StuckItem[]> {
  const t = ctx.config.timings;
  const items: StuckItem[] = [];
  const add = (kind: StuckKind, rows: any[], detail: (r: any) => string) => {
    for (const r of rows) items.push({ kind, prescriptionId: r.prescription_id ?? null, rxNo: r.rx_no ?? null, hospital: r.hospital ?? null, since: iso(r.since), overdueMs: Number(r.overdue_ms), detail: detail(r) });
  };

  add('review_past_sla', await ctx.sql(`
    select ${RX}, e.since, extract(epoch from now() - e.since) * 1000 - ? as overdue_ms,
           (select count(*) from audit_event a where a.prescription_id = p.id and a.action = 'review_sla_breached') as escalations
    from prescription p join hospital h on h.id = p.hospital_id
    cross join lateral (select max(a.at) as since from audit_event a where a.prescription_id = p.id and a.to_status = 'in_review') e
    where p.status = 'in_review' and e.since < now() - ${ms} order by e.since`, [t.reviewSlaMs, t.reviewSlaMs]),
  (r) => `in review for ${duration(Number(r.overdue_ms) + t.reviewSlaMs)} (SLA ${duration(t.reviewSlaMs)}), ${r.escalations} escalation(s)`);

  add('offer_unanswered', await ctx.sql(`
    select ${RX}, o.offered_at as since, extract(epoch from now() - o.offered_at) * 1000 - ? as overdue_ms, ph.code as pharmacy, o.attempt
    from fulfilment_order o join prescription p on p.id = o.prescription_id join hospital h on h.id = p.hospital_id join pharmacy ph on ph.id = o.pharmacy_id
    where o.status = 'offered' and o.offered_at < now() - ${ms} order by o.offered_at`, [t.pharmacyResponseMs, t.pharmacyResponseMs]),
  (r) => `offered to ${r.pharmacy} (attempt ${r.attempt}), no answer (response time ${duration(t.pharmacyResponseMs)})`);

  add('not_dispensed', await ctx.sql(`
    select ${RX}, coalesce(o.responded_at, o.offered_at) as since, extract(epoch from now() - coalesce(o.responded_at, o.offered_at)) * 1000 - ? as overdue_ms, ph.code as pharmacy
    from fulfilment_order o join prescription p on p.id = o.prescription_id join hospital h on h.id = p.hospital_id join pharmacy ph on ph.id = o.pharmacy_id
    where o.status = 'accepted' and coalesce(o.responded_at, o.offered_at) < now() - ${ms}
      and not exists (select 1 from dispensing d where d.prescription_id = p.id) order by 4`, [t.dispenseTimeoutMs, t.dispenseTimeoutMs]),
  (r) => `accepted by ${r.pharmacy}, not dispensed (dispense timeout ${duration(t.dispenseTimeoutMs)})`);

  add('delivery_silent', await ctx.sql(`
    select ${RX}, d.updated_at as since, extract(epoch from now() - d.updated_at) * 1000 - ? as overdue_ms, dp.code as partner, d.status, d.attempt
    from delivery d join prescription p on p.id = d.prescription_id join hospital h on h.id = p.hospital_id join delivery_partner dp on dp.id = d.partner_id
    where d.status in ('created', 'assigned', 'picked_up', 'in_transit') and d.updated_at < now() - ${ms} order by d.updated_at`, [t.deliveryTimeoutMs, t.deliveryTimeoutMs]),
  (r) => `${r.partner} delivery ${r.status} (attempt ${r.attempt}), no update (delivery timeout ${duration(t.deliveryTimeoutMs)})`);

  add('reservation_overdue', await ctx.sql(`
    select ${RX}, min(r.expires_at) as since, extract(epoch from now() - min(r.expires_at)) * 1000 as overdue_ms, count(*) as lines, sum(r.quantity) as units, max(ph.code) as pharmacy
    from reservation r join prescription p on p.id = r.prescription_id join hospital h on h.id = p.hospital_id join pharmacy ph on ph.id = r.pharmacy_id
    where r.status = 'held' and r.expires_at < now() group by p.id, p.rx_no, h.code order by 4`),
  (r) => `${r.lines} line(s), ${r.units} unit(s) held at ${r.pharmacy} past expiry (the sweeper releases them every ${duration(ctx.config.sweepIntervalMs)})`);

  // Deliveries still under way past their promised window (docs/delivery.md); databases from before the window existed have no column.
  try {
    add('delivery_late', await ctx.sql(`
      select ${RX}, d.promised_by as since, extract(epoch from now() - d.promised_by) * 1000 as overdue_ms, dp.code as partner, d.status, d.attempt, d.late_at, d.eta
      from delivery d join prescription p on p.id = d.prescription_id join hospital h on h.id = p.hospital_id join delivery_partner dp on dp.id = d.partner_id
      where d.status in ('assigned', 'picked_up', 'in_transit') and d.promised_by < now() order by d.promised_by`),
    (r) => `${r.partner} delivery ${r.status} (attempt ${r.attempt}) past its promised window${r.eta ? `, ETA ${iso(r.eta)}` : ''}${r.late_at ? '' : ' (not flagged yet)'}`);
  } catch (e) {
    process.stderr.write(`rxflow stuck: late-delivery check skipped: ${(e as Error).message}\n`);
  }

  // Hospital callbacks (issue 3): only where that table exists; a delivery with a failed attempt is failing.
  if (await tableExists(ctx, 'webhook_delivery')) {
    try {
      add('webhook_failing', await ctx.sql(`
        select e.prescription_id, p.rx_no, h.code as hospital, coalesce(w.last_attempt_at, w.created_at) as since, 0 as overdue_ms,
               w.status, w.attempts, w.last_status, w.last_error, w.next_attempt_at, e.type
        from webhook_delivery w join hospital h on h.id = w.hospital_id
        left join hospital_event e on e.id = w.event_id left join prescription p on p.id = e.prescription_id
        where w.status = 'failed' or (w.status = 'pending' and w.attempts > 0) order by w.created_at`),
      (r) => `${r.type ?? 'event'} to ${r.hospital}: ${r.status} after ${r.attempts} attempt(s)${r.last_status ? `, HTTP ${r.last_status}` : ''}${r.last_error ? `, ${String(r.last_error).slice(0, 80)}` : ''}${r.status === 'pending' && r.next_attempt_at ? `, next ${iso(r.next_attempt_at)}` : ''}`);
    } catch (e) {
      process.stderr.write(`rxflow stuck: webhook check skipped: ${(e as Error).message}\n`);
    }
  }
  return items;
}

const OPEN_STATUSES = PRESCRIPTION_STATUSES.filter((s) => !isTerminal(s));

/** Every open prescription's workflow, asked of Temporal a few at a time. */
async function fromTemporal(ctx: Ctx, limit: number): Promise<{ items: StuckItem[]; checked: number; open: number }> {
  const rows = await ctx.sql(`
    select ${RX}, p.workflow_id, p.status, p.created_at, extract(epoch from now() - p.created_at) * 1000 as age_ms
    from prescription p join hospital h on h.id = p.hospital_id
    where p.status in (${OPEN_STATUSES.map(() => '?').join(', ')}) order by p.created_at limit ?`, [...OPEN_STATUSES, limit]);
  const [{ open }] = await ctx.sql(`select count(*) as open from prescription where status in (${OPEN_STATUSES.map(() => '?').join(', ')})`, OPEN_STATUSES);
  const client = await ctx.temporal();
  const items: StuckItem[] = [];
  const queues = new Map<string, number>(); // task queue → running workflows on it
  let next = 0;
  const worker = async () => {
    while (next < rows.length) {
      const r = rows[next++];
      const run = await describeRun(client, r.workflow_id);
      const base = { prescriptionId: r.prescription_id, rxNo: r.rx_no, hospital: r.hospital };
      if (!run.found) {
        if (Number(r.age_ms) > START_GRACE_MS) items.push({ ...base, kind: 'workflow_not_running', since: iso(r.created_at), overdueMs: Number(r.age_ms) - START_GRACE_MS, detail: `prescription ${r.status}, workflow ${r.workflow_id} not found in Temporal` });
      } else if (run.status !== 'RUNNING') {
        items.push({ ...base, kind: 'workflow_not_running', since: run.closeTime ?? iso(r.created_at), overdueMs: run.closeTime ? Date.now() - Date.parse(run.closeTime) : 0, detail: `prescription ${r.status}, workflow ${run.status} (run ${run.runId})` });
      } else {
        if (run.taskQueue) queues.set(run.taskQueue, (queues.get(run.taskQueue) ?? 0) + 1);
        // The workflow's own code cannot go on: a nondeterminism error (the healer resets it; rxflow repair) or a bug.
        if ((run.workflowTaskAttempt ?? 0) >= 2) {
          const f = await failingTask(client, r.workflow_id);
          if (f) {
            const what = f.failure.nondeterminism ? 'nondeterminism error, resettable (rxflow repair)' : `${f.failure.cause}, not resettable: fix the cause`;
            items.push({ ...base, kind: 'workflow_task_failing', since: iso(r.created_at), overdueMs: 0, detail: `workflow task attempt ${f.attempt}, ${what}: ${f.failure.message.split('\n')[0].slice(0, 160)}` });
          }
        }
        for (const a of run.pendingActivities.filter((x) => x.attempt >= FAILING_ATTEMPTS)) {
          items.push({ ...base, kind: 'activity_failing', since: a.lastStartedAt ?? iso(r.created_at), overdueMs: 0, detail: `${a.activityType} attempt ${a.attempt}${a.lastFailure ? `: ${a.lastFailure.slice(0, 120)}` : ''}` });
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, rows.length) }, worker));
  // Running workflows go nowhere without a worker. Temporal lists a queue's pollers for minutes after they
  // stop; a live worker's long polls (about a minute each) keep its lastAccessTime fresh.
  const T = proto.api.enums.v1.TaskQueueType;
  for (const [name, count] of queues) {
    const pollers = (await Promise.all([T.TASK_QUEUE_TYPE_WORKFLOW, T.TASK_QUEUE_TYPE_ACTIVITY].map(async (taskQueueType) =>
      (await client.workflowService.describeTaskQueue({ namespace: ctx.config.temporalNamespace, taskQueue: { name }, taskQueueType })).pollers ?? []))).flat();
    const last = Math.max(0, ...pollers.map((p) => Number(p.lastAccessTime?.seconds ?? 0) * 1000));
    if (Date.now() - last > POLLER_SILENCE_MS) {
      items.push({
        kind: 'no_worker', prescriptionId: null, rxNo: null, hospital: null, since: last ? iso(new Date(last)) : '', overdueMs: last ? Date.now() - last - POLLER_SILENCE_MS : 0,
        detail: `task queue ${name}: ${count} running workflow(s), ${last ? `no worker has polled it since ${iso(new Date(last))}` : 'no worker polls it'} (is the engine's worker up, with RX_TASK_QUEUE=${name}?)`,
      });
    }
  }
  return { items, checked: rows.length, open: Number(open) };
}

const HELP = `usage: rxflow stuck [--kind KIND[,KIND…]] [--limit N] [--no-temporal] [--check] [--json]

Lists work that is not moving, against the timings the engine runs with (engine/config.ts; set
RX_REVIEW_SLA_MS, RX_PHARMACY_RESPONSE_MS, RX_DISPENSE_TIMEOUT_MS, RX_DELIVERY_TIMEOUT_MS as the engine has them):
  review_past_sla        in review longer than RX_REVIEW_SLA_MS
  offer_unanswered       offered to a pharmacy longer than RX_PHARMACY_RESPONSE_MS without an answer
  not_dispensed          accepted longer than RX_DISPENSE_TIMEOUT_MS ago and not dispensed
  delivery_silent        a delivery with no partner update for longer than RX_DELIVERY_TIMEOUT_MS
  reservation_overdue    stock reservations past their expiry and still held
  workflow_not_running   open in PostgreSQL, but its workflow failed, was terminated, timed out or is missing
                         in Temporal (runs younger than ${START_GRACE_MS / 1000}s are left alone) — see \`rxflow retry\`
  no_worker              a task queue with running workflows that no worker has polled for minutes
  activity_failing       a running workflow's activity on attempt ${FAILING_ATTEMPTS} or later (retrying on its own)
  webhook_failing        hospital callbacks that failed or are being retried (once that feature is installed)
  workflow_task_failing  a running workflow whose workflow task keeps failing, with the cause: a nondeterminism
                         error (the engine's healer resets it; \`rxflow repair\` now) or anything else (a bug:
                         never reset, fix it)
Each wait that the workflow times out itself (review, offer, dispensing, delivery) lists here only when
it is overdue, i.e. the workflow did not act on it: a sign the worker is down or behind.

  --kind K1,K2     only these kinds
  --limit N        ask Temporal about at most N open prescriptions, oldest first (default 1000)
  --no-temporal    PostgreSQL only (skips workflow_not_running, no_worker, activity_failing and workflow_task_failing)
  --check          exit 1 when anything is listed (for monitoring)
  --json           {"items": [...], "thresholds": {...}} on stdout

examples:
  rxflow stuck
  rxflow stuck --kind review_past_sla,offer_unanswered --json | jq '.items[].prescriptionId'`;

export const stuckCommand: Command = {
  name: 'stuck',
  help: HELP,
  async run(args, ctx) {
    const { values: v } = parse(args, {
      kind: { type: 'string' }, limit: { type: 'string' }, 'no-temporal': { type: 'boolean' }, check: { type: 'boolean' }, json: { type: 'boolean' },
    }, { min: 0, max: 0, names: '' });
    const kinds = str(v, 'kind')?.split(',').map((k) => k.trim()).filter(Boolean);
    for (const k of kinds ?? []) if (!(STUCK_KINDS as readonly string[]).includes(k)) throw new UsageError(`unknown --kind "${k}" (one of ${STUCK_KINDS.join(', ')})`);
    const limit = positiveInt(v, 'limit', 1000);

    let items = await fromDatabase(ctx);
    let temporal: { checked: number; open: number } | null = null;
    if (!v['no-temporal'] && (!kinds || kinds.some((k) => k === 'workflow_not_running' || k === 'no_worker' || k === 'activity_failing' || k === 'workflow_task_failing'))) {
      const r = await fromTemporal(ctx, limit);
      items.push(...r.items);
      temporal = { checked: r.checked, open: r.open };
    }
    if (kinds) items = items.filter((i) => kinds.includes(i.kind));
    items.sort((a, b) => STUCK_KINDS.indexOf(a.kind) - STUCK_KINDS.indexOf(b.kind) || a.since.localeCompare(b.since));
    const t = ctx.config.timings;
    const thresholds = { reviewSlaMs: t.reviewSlaMs, pharmacyResponseMs: t.pharmacyResponseMs, dispenseTimeoutMs: t.dispenseTimeoutMs, deliveryTimeoutMs: t.deliveryTimeoutMs };

    if (v.json) {
      printJson({ items, thresholds, temporal });
    } else if (!items.length) {
      process.stdout.write(`nothing stuck${temporal ? ` (${temporal.checked} open workflow(s) checked in Temporal)` : ''}\n`);
    } else {
      const out: string[] = [];
      for (const kind of STUCK_KINDS) {
        const group = items.filter((i) => i.kind === kind);
        if (!group.length) continue;
        out.push(`${TITLES[kind]}: ${group.length}`);
        if (kind === 'no_worker') { out.push(...group.map((i) => `  ${i.detail}`), ''); continue; }
        out.push(table(['  prescription', 'rxNo', 'hospital', 'since', 'overdue', 'detail'], group.map((i) => [
          `  ${i.prescriptionId ?? '-'}`, i.rxNo ?? '-', i.hospital ?? '-', i.since, i.overdueMs > 0 ? duration(i.overdueMs) : '', i.detail,
        ])), '');
      }
      if (temporal && temporal.open > temporal.checked) out.push(`(Temporal checked for the ${temporal.checked} oldest of ${temporal.open} open prescriptions: --limit)`);
      process.stdout.write(`${out.join('\n').trimEnd()}\n`);
    }
    return v.check && items.length ? EXIT.failed : EXIT.ok;
  },
};
