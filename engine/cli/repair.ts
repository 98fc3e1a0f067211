// `rxflow repair`: heals, now, what the engine's workflow healer would heal on its next rounds — open
// prescriptions whose workflow is stuck on a nondeterminism error — recorded as the operator's action.
// The finding, the decision and the reset are the healer's own (activities/workflow-health.ts).
import { findFailingWorkflows, healWorkflow, RESET_ACTION, type HealOutcome } from '../../activities/workflow-health';
import { isTerminal } from '../../domain/prescription-status';
import { loadWorkflowHealthConfig } from '../config';
import { CommandError, EXIT, UsageError, operatorName, parse, positiveInt, printJson, str, table, type Command, type Ctx } from './common';
import { findPrescription } from './lookup';
import { temporalUiLink } from './workflow';

const HELP = `usage: rxflow repair <prescription id | rxNo> [--hospital CODE] | --all [--limit N]
                     [--by NAME] [--reason "..."] [--force] [--json]

Resets an open prescription's workflow whose workflow task keeps failing with a Temporal nondeterminism
error (rxflow stuck lists it as workflow_task_failing) to the last completed workflow task before the event
the replay conflicted with; the new run executes from there (activities are idempotent), updates and
signals after that point are re-applied. The engine does the same by itself every RX_HEAL_INTERVAL_MS for
prescriptions whose status stood still for RX_HEAL_STALE_MS (docs/reliability.md); this is the
operator's way to do it now. The audit trail records \`${RESET_ACTION}\` with the operator, the failure,
the reset point, and the old and new run.
A workflow failing for any other reason (a bug in the workflow code, a timeout) is never reset: it is
refused (exit 1) with its cause. Neither is one reset RX_HEAL_MAX_RESETS_PER_DAY times in the last day,
unless --force.

  --all            every open prescription whose workflow is failing that way (oldest first, at most --limit
                   asked of Temporal, default 1000); exit 1 if any failing workflow was left as it was
  --by NAME        the operator (default: $RX_OPERATOR, else the login name)
  --reason TEXT    why, kept in the audit trail and on the Temporal reset
  --force          reset even past the daily budget (a reset that did not help once may again: look first)
  --json           the outcome as JSON

examples:
  rxflow repair 0b6c4a9e-3f57-4e7b-9d8e-6a1f0c2d9e11 --reason "stuck after the worker crash at 03:10"
  rxflow repair --all --json`;

function deps(ctx: Ctx) {
  return Promise.all([ctx.orm(), ctx.temporal()]).then(([orm, temporal]) => ({ orm, temporal, namespace: ctx.config.temporalNamespace }));
}

const line = (o: HealOutcome) => (o.action === 'reset'
  ? `reset ${o.workflowId} run ${o.fromRunId} to event ${o.point.eventId} (${o.point.why}); new run ${o.runId}`
  : `left ${o.workflowId} as it is: ${o.detail}`);

export const repairCommand: Command = {
  name: 'repair',
  help: HELP,
  async run(args, ctx) {
    const { values: v, positionals } = parse(args, {
      all: { type: 'boolean' }, limit: { type: 'string' }, hospital: { type: 'string' }, by: { type: 'string' }, reason: { type: 'string' }, force: { type: 'boolean' }, json: { type: 'boolean' },
    }, { min: 0, max: 1, names: 'the prescription id or rxNo (or --all)' });
    if (!v.all === !positionals[0]) throw new UsageError('name one prescription, or --all');
    const operator = operatorName(v);
    const reason = str(v, 'reason')?.trim() || undefined;
    if (reason && reason.length > 200) throw new UsageError(`--reason is at most 200 characters (got ${reason.length})`);
    const opts = { actor: `operator:${operator}`, reason, maxResetsPerDay: loadWorkflowHealthConfig().maxResetsPerDay, force: !!v.force };
    const d = await deps(ctx);

    if (!v.all) {
      const rx = await findPrescription(ctx, positionals[0], str(v, 'hospital'));
      if (isTerminal(rx.status)) throw new CommandError(`prescription ${rx.id} is ${rx.status}: finished, nothing to repair`);
      const out = await healWorkflow(d, rx.id, rx.workflow_id, opts);
      if (!out) throw new CommandError(`workflow ${rx.workflow_id} is not failing its workflow tasks: nothing to repair (rxflow inspect shows what it waits for; rxflow retry restarts a closed one)`);
      if (out.action === 'listed') throw new CommandError(`not reset: ${out.detail}`);
      const link = temporalUiLink(ctx.config, rx.workflow_id, out.runId);
      if (v.json) printJson({ rxNo: rx.rx_no, ...out, link });
      else process.stdout.write(`${line(out)}\n${link}\n`);
      return EXIT.ok;
    }

    const found = await findFailingWorkflows(d, { staleMs: 0, limit: positiveInt(v, 'limit', 1000) });
    const outcomes: (HealOutcome & { rxNo: string })[] = [];
    for (const item of found.items) {
      const out = await healWorkflow(d, item.prescriptionId, item.workflowId, opts);
      if (out) outcomes.push({ ...out, rxNo: item.rxNo });
    }
    const left = outcomes.filter((o) => o.action !== 'reset').length;
    if (v.json) printJson({ checked: found.checked, outcomes });
    else if (!outcomes.length) process.stdout.write(`no workflow is failing its workflow tasks (${found.checked} open prescription(s) checked)\n`);
    else process.stdout.write(`${table(['prescription', 'rxNo', 'outcome'], outcomes.map((o) => [o.prescriptionId, o.rxNo, line(o)]))}\n`);
    return left ? EXIT.failed : EXIT.ok;
  },
};
