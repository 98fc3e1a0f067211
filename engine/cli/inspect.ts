// `rxflow inspect`: one prescription as an operator needs it — status, stage, who holds it, the audit
// trail next to the workflow's own timeline, and where to look in the Temporal UI. No patient data.
import { EXIT, duration, iso, parse, printJson, str, table, type Command, type Ctx } from './common';
import { findPrescription, type RxRow } from './lookup';
import { position, type HolderFacts } from './analysis';
import { describeRun, queryState, temporalUiLink } from './workflow';

export async function tableExists(ctx: Ctx, name: string): Promise<boolean> {
  const [r] = await ctx.sql<{ t: string | null }>(`select to_regclass(?) as t`, [`public.${name}`]);
  return !!r?.t;
}

export async function gatherHolderFacts(ctx: Ctx, rx: RxRow, now: Date): Promise<HolderFacts> {
  const claimsTracked = await tableExists(ctx, 'review_claim');
  const [claim] = claimsTracked
    ? await ctx.sql(`select ph.code, ph.name, c.claimed_at, c.expires_at from review_claim c join pharmacist ph on ph.id = c.pharmacist_id where c.prescription_id = ?`, [rx.id])
    : [];
  const [order] = await ctx.sql(`select o.status, o.attempt, o.offered_at, o.responded_at, ph.code, ph.name from fulfilment_order o join pharmacy ph on ph.id = o.pharmacy_id
                                  where o.prescription_id = ? order by o.attempt desc limit 1`, [rx.id]);
  const [delivery] = await ctx.sql(`select d.status, d.attempt, d.updated_at, dp.code, dp.name from delivery d join delivery_partner dp on dp.id = d.partner_id
                                     where d.prescription_id = ? order by d.attempt desc limit 1`, [rx.id]);
  return {
    status: rx.status,
    fulfilment: rx.content?.fulfilment?.mode === 'pickup' ? 'pickup' : 'delivery',
    claimsTracked,
    claim: claim ? { pharmacistCode: claim.code, pharmacistName: claim.name, claimedAt: new Date(claim.claimed_at), expiresAt: new Date(claim.expires_at) } : null,
    order: order ? { pharmacyCode: order.code, pharmacyName: order.name, status: order.status, attempt: order.attempt, offeredAt: new Date(order.offered_at), respondedAt: order.responded_at ? new Date(order.responded_at) : null } : null,
    delivery: delivery ? { partnerCode: delivery.code, partnerName: delivery.name, status: delivery.status, attempt: delivery.attempt, updatedAt: new Date(delivery.updated_at) } : null,
    now,
    timings: ctx.config.timings,
  };
}

const HELP = `usage: rxflow inspect <prescription id | rxNo> [--hospital CODE] [--json]

Shows one prescription: its status and current stage, who holds it now (the pharmacist who claimed the
review, the pharmacy the order is offered to or that accepted it, the courier), its audit trail and the
workflow's own timeline (the \`state\` query), the Temporal run (status, pending activities and their
retries) and the link to it in the Temporal UI. Patient data is not shown.

  <id>             the prescription's uuid (or its workflow id rx-<uuid>)
  <rxNo>           the hospital's prescription number; --hospital CODE when several hospitals use it
  --json           everything as one JSON document on stdout

examples:
  rxflow inspect 0b6c4a9e-3f57-4e7b-9d8e-6a1f0c2d9e11
  rxflow inspect RX-20261124-0001 --hospital DEMO-HOSP --json | jq .holder`;

export const inspectCommand: Command = {
  name: 'inspect',
  help: HELP,
  async run(args, ctx) {
    const { values: v, positionals: [ref] } = parse(args, { hospital: { type: 'string' }, json: { type: 'boolean' } }, { min: 1, max: 1, names: 'the prescription id or rxNo' });
    const rx = await findPrescription(ctx, ref, str(v, 'hospital'));
    const [{ now }] = await ctx.sql<{ now: Date }>(`select now() as now`);
    const facts = await gatherHolderFacts(ctx, rx, new Date(now));
    const pos = position(facts);
    const audit = await ctx.sql(`select at, action, actor, from_status, to_status, data from audit_event where prescription_id = ? order by id`, [rx.id]);
    const temporal = await ctx.temporal();
    const run = await describeRun(temporal, rx.workflow_id);
    const q = run.status === 'RUNNING' ? await queryState(temporal, rx.workflow_id) : { state: null, error: run.found ? `the run is ${run.status}; its history is in the Temporal UI` : 'no workflow' };
    const held = await ctx.sql<{ n: string }>(`select count(*) as n from reservation where prescription_id = ? and status = 'held'`, [rx.id]);
    const report = {
      prescription: {
        id: rx.id, rxNo: rx.rx_no, hospital: rx.hospital_code, status: rx.status, version: rx.version ?? 1, fulfilment: facts.fulfilment,
        issuedAt: iso(rx.issued_at), expiresAt: iso(rx.expires_at), usedAt: rx.used_at ? iso(rx.used_at) : null, createdAt: iso(rx.created_at), updatedAt: iso(rx.updated_at),
        reservationsHeld: Number(held[0]?.n ?? 0),
      },
      stage: pos.stage,
      holder: { ...pos.holder, since: pos.holder.since ? iso(pos.holder.since) : undefined, dueBy: pos.holder.dueBy ? iso(pos.holder.dueBy) : undefined },
      workflow: { id: rx.workflow_id, ...run, link: temporalUiLink(ctx.config, rx.workflow_id, run.runId), state: q.state, stateError: q.error },
      timeline: audit.map((e) => ({ at: iso(e.at), action: e.action, actor: e.actor, from: e.from_status, to: e.to_status, data: e.data })),
    };
    if (v.json) { printJson(report); return EXIT.ok; }

    const p = report.prescription;
    const h = pos.holder;
    const out: string[] = [];
    out.push(`prescription ${p.id}  ${p.rxNo} (${p.hospital}${p.version > 1 ? `, version ${p.version}` : ''})`);
    out.push(`status       ${p.status}`);
    out.push(`stage        ${pos.stage}`);
    const who = h.code ? `${h.kind} ${h.code}${h.name ? ` ${h.name}` : ''}` : h.kind.replace('_', ' ');
    const since = h.since ? `, since ${iso(h.since)} (${duration(facts.now.getTime() - h.since.getTime())} ago)` : '';
    const due = h.dueBy ? `, due by ${iso(h.dueBy)}${h.dueBy < facts.now ? ` — OVERDUE by ${duration(facts.now.getTime() - h.dueBy.getTime())}` : ''}` : '';
    out.push(`held by      ${who}: ${h.note}${since}${due}`);
    out.push(`fulfilment   ${p.fulfilment}; issued ${p.issuedAt}, expires ${p.expiresAt}${p.usedAt ? `, filled ${p.usedAt}` : ''}; ${p.reservationsHeld} reservation line(s) held`);
    out.push(`workflow     ${rx.workflow_id}  ${run.found ? `${run.status}, run ${run.runId}, ${run.historyLength} events, task queue ${run.taskQueue}` : 'NOT FOUND in Temporal'}`);
    for (const a of run.pendingActivities) {
      out.push(`  pending    ${a.activityType} ${a.state.toLowerCase()} attempt ${a.attempt}${a.lastFailure ? ` — last failure: ${a.lastFailure}` : ''}`);
    }
    out.push(`temporal ui  ${report.workflow.link}`);
    out.push('', `audit trail (${audit.length} events)`);
    out.push(table(['at', 'action', 'actor', 'status'], report.timeline.map((e) => [e.at, e.action, e.actor, e.to ? `${e.from ?? ''} → ${e.to}` : ''])));
    out.push('', 'workflow timeline (state query)');
    if (q.state) out.push(table(['at', 'event', 'detail'], q.state.timeline.map((t) => [t.at, t.event, t.detail ? JSON.stringify(t.detail) : ''])));
    else out.push(`  (${q.error})`);
    process.stdout.write(`${out.join('\n')}\n`);
    return EXIT.ok;
  },
};
