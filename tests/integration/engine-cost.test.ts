// What the cheaper status writer (issue 7, docs/benchmarks-e2e.md) must keep: the stage's start on the
// prescription row matches its audit trail (and the migration derives it from the trail for rows written
// before it), and the outbox's single statement writes the same CloudEvent envelope cloudEvent() builds,
// numbered gaplessly per hospital.
import { actors, approve, closeDb, rolledBack, sql } from './helpers';
import { statusIs, waitForPrescription } from '../../demo/actors';
import { demoPrescription } from '../../demo/prescriptions';
import { EVENT_TYPE_PREFIX, cloudEvent, formatSequence } from '../../domain/hospital-events';
import { openOrm } from '../../db/orm';
import { Migration20261125070000_status_changed_at } from '../../db/migrations/Migration20261125070000_status_changed_at';

afterAll(async () => { await closeDb(); });

let id: string;
const lastStatusChange = async (rxId: string) =>
  (await sql<{ at: Date }>(`select max(at) as at from audit_event where prescription_id = ? and to_status is not null`, [rxId]))[0].at;
const changedAt = async (rxId: string) => (await sql<{ t: Date }>(`select status_changed_at as t from prescription where id = ?`, [rxId]))[0].t;

describe('the status writer with fewer statements', () => {
  it('keeps the time of the last status change on the row, equal to its audit event, at every step', async () => {
    const a = actors();
    const pushed = await a.hospital.post('/v1/prescriptions', demoPrescription());
    expect(pushed.status).toBe(201);
    id = pushed.body.prescription.id;
    expect(await changedAt(id)).toBeTruthy(); // intake: the column's default
    await waitForPrescription(a.hospital, id, statusIs('in_review'));
    expect(new Date(await changedAt(id)).toISOString()).toBe(new Date(await lastStatusChange(id)).toISOString());
    expect((await approve(id)).status).toBe(202);
    await waitForPrescription(a.hospital, id, statusIs('matching'));
    const [{ n }] = await sql(`select count(*)::int as n from audit_event where prescription_id = ? and to_status in ('approved', 'priced', 'matching')`, [id]);
    expect(n).toBe(3);
    expect(new Date(await changedAt(id)).toISOString()).toBe(new Date(await lastStatusChange(id)).toISOString());
  });

  it('derives it from the audit trail for rows from before the migration', async () => {
    const orm = await openOrm(process.env.DATABASE_URL!);
    try {
      const m = new Migration20261125070000_status_changed_at(orm.em.getDriver(), orm.config);
      await m.up();
      const backfill = m.getQueries().map(String).filter((q) => /^\s*update/i.test(q));
      expect(backfill).toHaveLength(1);
      await rolledBack(async (run) => {
        await run(`update prescription set status_changed_at = null where id = ?`, [id]);
        await run(backfill[0]);
        const [row] = await run<{ t: Date; last: Date }>(
          `select p.status_changed_at as t, (select max(at) from audit_event a where a.prescription_id = p.id and a.to_status is not null) as last from prescription p where p.id = ?`, [id]);
        expect(new Date(row.t).toISOString()).toBe(new Date(row.last).toISOString());
      });
    } finally {
      await orm.close();
    }
  });

  it('writes the envelope cloudEvent() builds, with the hospital code and a gapless per-hospital sequence', async () => {
    const events = await sql<{ id: string; sequence: string; type: string; subject: string; envelope: any; code: string }>(
      `select e.id, e.sequence::text as sequence, e.type, e.subject, e.envelope, h.code from hospital_event e join hospital h on h.id = e.hospital_id
        where e.prescription_id = ? order by e.sequence`, [id]);
    expect(events.length).toBeGreaterThanOrEqual(3);
    for (const e of events) {
      const expected = cloudEvent({
        id: e.id, hospitalCode: e.code, type: e.envelope.type.slice(EVENT_TYPE_PREFIX.length), subject: e.subject, time: new Date(e.envelope.time),
        sequence: e.sequence, data: e.envelope.data,
      });
      expect(e.envelope).toEqual(expected);
      expect(e.envelope.sequence).toBe(formatSequence(e.sequence));
      expect(e.envelope.source).toBe(`urn:rxflow:hospital:${e.code}`);
    }
    const [{ gaps }] = await sql(`select count(*)::int as gaps from (
        select sequence - lag(sequence) over (partition by hospital_id order by sequence) as step from hospital_event) s where step <> 1`);
    expect(gaps).toBe(0);
  });
});
