// The operator's CLI as an operator runs it: ./rxflow spawned as a process against the test engine's
// database, Temporal and Elasticsearch (the environment global-setup and env.ts set up).
import { Client as EsClient } from '@elastic/elasticsearch';
import { Client as TemporalClient, Connection } from '@temporalio/client';
import { aliasTargets, stockAlias } from '../../catalog/indices';
import { demoPrescription } from '../../demo/prescriptions';
import { statusIs, waitForPrescription } from '../../demo/actors';
import { DEMO } from '../../demo/fixtures';
import { actors, closeDb, sql } from './helpers';
import { rxflow } from '../support/rxflow-cli';

const COMMANDS = ['stack', 'seed', 'reindex', 'inspect', 'stuck', 'cancel', 'retry', 'bench', 'verify', 'adr-export', 'repair'];

let temporalConnection: Connection;
let temporal: TemporalClient;
const created: string[] = [];

beforeAll(async () => {
  temporalConnection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:17233' });
  temporal = new TemporalClient({ connection: temporalConnection, namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' });
});
afterAll(async () => {
  // Leave no workflow waiting for a review that will never come (cancelled while the test worker runs).
  const a = actors();
  const open = created.length ? (await sql(`select id from prescription where status = 'in_review' and id in (${created.map(() => '?').join(', ')})`, created)).map((r) => r.id as string) : [];
  await Promise.all(open.map(async (id) => {
    await a.hospital.post(`/v1/prescriptions/${id}/cancel`, { reason: 'cli test cleanup' });
    await waitForPrescription(a.operator, id, statusIs('cancelled')).catch(() => undefined);
  }));
  await temporalConnection?.close();
  await closeDb();
});

/** Pushes a demo prescription and waits until it sits in the pharmacists' queue. */
async function pushedInReview(): Promise<{ id: string; rxNo: string }> {
  const a = actors();
  const body = demoPrescription();
  const r = await a.hospital.post('/v1/prescriptions', body);
  expect(r.status).toBe(201);
  const id = r.body.prescription.id as string;
  created.push(id);
  await waitForPrescription(a.operator, id, statusIs('in_review'));
  return { id, rxNo: body.rxNo as string };
}

describe('help and usage', () => {
  it('has help for every command, through --help and through help <command>', async () => {
    const top = await rxflow(['help']);
    expect(top.code).toBe(0);
    for (const c of COMMANDS) expect(top.stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
    const runs = await Promise.all(COMMANDS.flatMap((c) => [rxflow([c, '--help']), rxflow(['help', c])]));
    runs.forEach((r, i) => {
      const c = COMMANDS[Math.floor(i / 2)];
      expect({ c, code: r.code }).toEqual({ c, code: 0 });
      expect(r.stdout).toMatch(new RegExp(`^usage: rxflow ${c}`));
      expect(r.stdout.split('\n').length).toBeGreaterThan(3);
    });
  });

  it('exits non-zero with a one-line reason on an unknown command, bad arguments, or what does not apply', async () => {
    const [unknown, none, noArg, badKind, noReason, badIndex, extra, missing, verify, benchNone] = await Promise.all([
      rxflow(['frobnicate']),
      rxflow([]),
      rxflow(['inspect']),
      rxflow(['stuck', '--kind', 'sleepy']),
      rxflow(['cancel', '00000000-0000-4000-8000-000000000000']),
      rxflow(['reindex', 'everything']),
      rxflow(['inspect', 'a', 'b']),
      rxflow(['inspect', '00000000-0000-4000-8000-000000000000']),
      rxflow(['verify', '--bogus']),
      rxflow(['bench', 'no-such-bench']),
    ]);
    expect(unknown).toMatchObject({ code: 2, stdout: '' });
    expect(unknown.stderr).toMatch(/^rxflow: unknown command "frobnicate"/);
    expect(none.code).toBe(2);
    expect(noArg.code).toBe(2);
    expect(noArg.stderr).toMatch(/^rxflow inspect: missing the prescription id or rxNo\n/);
    expect(badKind.code).toBe(2);
    expect(badKind.stderr).toMatch(/^rxflow stuck: unknown --kind "sleepy"/);
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toMatch(/^rxflow cancel: cancel needs --reason/);
    expect(badIndex.code).toBe(2);
    expect(badIndex.stderr).toMatch(/^rxflow reindex: reindex takes drugs or stock, not "everything"/);
    expect(extra.code).toBe(2);
    expect(extra.stderr).toMatch(/unexpected argument "b"/);
    expect(missing).toMatchObject({ code: 1, stdout: '', stderr: 'rxflow inspect: no prescription with id 00000000-0000-4000-8000-000000000000\n' });
    expect(verify.code).toBe(2);
    expect(verify.stderr).toMatch(/usage: node --import tsx engine\/audit-verify\.ts/);
    expect(benchNone.code).toBe(2);
    expect(benchNone.stderr).toMatch(/no benchmark "no-such-bench" \(one of .*matching.*sync-lag/);
  });
});

describe('inspect', () => {
  it('shows a pushed prescription\'s status, stage, holder, timeline and Temporal link; --json parses', async () => {
    const { id, rxNo } = await pushedInReview();
    const text = await rxflow(['inspect', id]);
    expect(text.stderr).toBe('');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^status\s+in_review$/m);
    expect(text.stdout).toMatch(/^stage\s+review$/m);
    expect(text.stdout).toMatch(/^held by\s+pharmacists queue: /m);
    expect(text.stdout).toMatch(/^workflow\s+rx-\S+\s+RUNNING/m);
    expect(text.stdout).toContain(`/workflows/rx-${id}/`);
    expect(text.stdout).toMatch(/review_queued\s+system:rxflow\s+received → in_review/);
    expect(text.stdout).toMatch(/workflow timeline \(state query\)\n.*\n.*in_review/);
    // No patient data on an operator's screen.
    expect(text.stdout).not.toContain('张建国');

    const json = await rxflow(['inspect', rxNo, '--hospital', DEMO.hospital.code, '--json']);
    expect(json.code).toBe(0);
    const r = JSON.parse(json.stdout);
    expect(r.prescription).toMatchObject({ id, rxNo, hospital: DEMO.hospital.code, status: 'in_review' });
    expect(r.stage).toBe('review');
    expect(r.holder.kind).toBe('pharmacists_queue');
    expect(r.workflow).toMatchObject({ id: `rx-${id}`, found: true, status: 'RUNNING' });
    expect(r.workflow.state.status).toBe('in_review');
    expect(r.workflow.state.timeline.map((t: any) => t.event)).toContain('in_review');
    expect(r.timeline.map((e: any) => e.action)).toEqual(expect.arrayContaining(['received', 'review_queued']));
    expect(r.timeline.find((e: any) => e.action === 'review_queued')).toMatchObject({ from: 'received', to: 'in_review' });
  });
});

describe('stuck', () => {
  const SLA_MS = 15_000;
  it('lists a review past the SLA (the CLI given a short RX_REVIEW_SLA_MS) and not a fresh one', async () => {
    const old = await pushedInReview();
    // Wait until the first review is older than the SLA by the database's clock.
    for (;;) {
      const [{ age }] = await sql(`select extract(epoch from now() - max(at)) * 1000 as age from audit_event where prescription_id = ? and to_status = 'in_review'`, [old.id]);
      if (Number(age) > SLA_MS) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const fresh = await pushedInReview();
    const env = { RX_REVIEW_SLA_MS: String(SLA_MS) };
    const json = await rxflow(['stuck', '--kind', 'review_past_sla', '--json'], env);
    expect(json.code).toBe(0);
    const r = JSON.parse(json.stdout);
    expect(r.thresholds.reviewSlaMs).toBe(SLA_MS);
    const ids = r.items.map((i: any) => i.prescriptionId);
    expect(ids).toContain(old.id);
    expect(ids).not.toContain(fresh.id);
    expect(r.items.find((i: any) => i.prescriptionId === old.id)).toMatchObject({ kind: 'review_past_sla', rxNo: old.rxNo, hospital: DEMO.hospital.code });

    const text = await rxflow(['stuck', '--no-temporal', '--check'], env);
    expect(text.code).toBe(1); // --check: something is stuck
    expect(text.stdout).toMatch(/^reviews past the SLA: \d+$/m);
    expect(text.stdout).toContain(old.id);
    expect(text.stdout).not.toContain(fresh.id);
  });
});

describe('cancel and retry', () => {
  it('cancels a prescription in review through the workflow, with the operator in the audit trail', async () => {
    const { id } = await pushedInReview();
    const r = await rxflow(['cancel', id, '--reason', 'patient asked by phone, ticket 4411', '--by', 'ops-alice']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^cancelled /);
    const [{ status }] = await sql(`select status from prescription where id = ?`, [id]);
    expect(status).toBe('cancelled');
    const trail = await sql(`select action, actor, to_status, data from audit_event where prescription_id = ? order by id`, [id]);
    expect(trail).toEqual(expect.arrayContaining([
      expect.objectContaining({ action: 'operator_cancel', actor: 'operator:ops-alice', data: expect.objectContaining({ reason: 'patient asked by phone, ticket 4411' }) }),
      expect.objectContaining({ action: 'cancelled', actor: 'operator:ops-alice', to_status: 'cancelled' }),
    ]));
    // Once cancelled there is nothing to cancel or retry.
    const again = await rxflow(['cancel', id, '--reason', 'twice']);
    expect(again).toMatchObject({ code: 1, stderr: `rxflow cancel: prescription ${id} is cancelled: nothing to cancel\n` });
    const retry = await rxflow(['retry', id]);
    expect(retry.code).toBe(1);
    expect(retry.stderr).toMatch(/is cancelled: finished, nothing to retry/);
  });

  it('retry resets a terminated workflow so the prescription continues; a running one is refused', async () => {
    const { id } = await pushedInReview();
    await temporal.workflow.getHandle(`rx-${id}`).terminate('cli test: a lost worker');
    const stuck = await rxflow(['stuck', '--kind', 'workflow_not_running', '--json']);
    expect(stuck.code).toBe(0);
    expect(JSON.parse(stuck.stdout).items).toEqual(expect.arrayContaining([expect.objectContaining({ prescriptionId: id, kind: 'workflow_not_running' })]));

    const before = await temporal.workflow.getHandle(`rx-${id}`).describe();
    expect(before.status.name).toBe('TERMINATED');
    const r = await rxflow(['retry', id, '--by', 'ops-bob', '--reason', 'worker lost', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ action: 'reset', closedAs: 'TERMINATED', fromRunId: before.runId, by: 'operator:ops-bob' });
    const after = await temporal.workflow.getHandle(`rx-${id}`).describe();
    expect(after.status.name).toBe('RUNNING');
    expect(after.runId).toBe(out.runId);
    // The new run is where the old one was: in review, and it still takes decisions.
    const state = await waitForPrescription(actors().operator, id, (d) => d.workflow?.status === 'in_review');
    expect(state.prescription.status).toBe('in_review');
    const [retryEvent] = await sql(`select actor, data from audit_event where prescription_id = ? and action = 'operator_retry'`, [id]);
    expect(retryEvent).toMatchObject({ actor: 'operator:ops-bob', data: expect.objectContaining({ action: 'reset', fromRunId: before.runId, runId: out.runId, reason: 'worker lost' }) });

    const refused = await rxflow(['retry', id]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^rxflow retry: workflow rx-\S+ is running: /);

    const cancel = await rxflow(['cancel', id, '--reason', 'done testing retry', '--by', 'ops-bob']);
    expect(cancel.code).toBe(0);
  });
});

describe('reindex', () => {
  it('rebuilds the stock index behind its alias while searches keep being answered', async () => {
    const es = new EsClient({ node: process.env.ELASTICSEARCH_URL ?? 'http://127.0.0.1:19200' });
    const alias = stockAlias(process.env.RX_INDEX_PREFIX!);
    try {
      const before = await aliasTargets(es, alias);
      const [{ n: pharmacies }] = await sql(`select count(*)::int as n from pharmacy`);
      let running = true;
      const outcomes: { ok: boolean; hits: number; error?: string }[] = [];
      const searcher = (async () => {
        while (running) {
          try {
            const r = await es.search({ index: alias, size: 0, track_total_hits: true, query: { match_all: {} } });
            outcomes.push({ ok: true, hits: typeof r.hits.total === 'number' ? r.hits.total : r.hits.total!.value });
          } catch (e) {
            outcomes.push({ ok: false, hits: 0, error: (e as Error).message });
          }
        }
      })();
      const r = await rxflow(['reindex', 'stock', '--json']).finally(() => { running = false; });
      await searcher;
      expect(r.code).toBe(0);
      const summary = JSON.parse(r.stdout);
      expect(summary.indices).toHaveLength(1);
      expect(summary.indices[0]).toMatchObject({ index: 'stock', alias, from: before, documents: pharmacies });
      const after = await aliasTargets(es, alias);
      expect(after).toEqual([summary.indices[0].to]);
      expect(after[0]).not.toBe(before[0]);
      expect(outcomes.length).toBeGreaterThan(10);
      expect(outcomes.filter((o) => !o.ok)).toEqual([]);
      expect(outcomes.filter((o) => o.hits !== pharmacies)).toEqual([]);
      expect(await es.indices.exists({ index: before })).toBe(false);
    } finally {
      await es.close();
    }
  });
});
