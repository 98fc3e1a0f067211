// The tamper-evident audit trail against real PostgreSQL (docs/audit.md): the chains verify after a journey,
// an event edited or deleted by a superuser behind the trigger is found at its exact link (by the function,
// the operator route and the CLI), concurrent appends keep valid chains, and the regulator export's lines
// carry hashes a receiver can check.
import { execFile } from 'node:child_process';
import path from 'node:path';
import type { EntityManager } from '@mikro-orm/postgresql';
import { actors, approve, closeDb, sql } from './helpers';
import { deliveryAssigned, offered, statusIs, waitForPrescription } from '../../demo/actors';
import { demoPrescription } from '../../demo/prescriptions';
import { scanOrder } from '../../demo/packs';
import { openOrm } from '../../db/orm';
import { verifyAuditTrail, type VerifyResult } from '../../reports/audit-trail';
import { canonicalAuditEvent, linkHash, GENESIS } from '../../domain/audit-chain';

const ROOT = path.resolve(__dirname, '../..');
let orm: Awaited<ReturnType<typeof openOrm>>;
beforeAll(async () => { orm = await openOrm(process.env.DATABASE_URL!); });
afterAll(async () => { await orm.close(); await closeDb(); });

/** Runs fn in a transaction as the superuser with every trigger off (session_replication_role), then rolls back. */
async function tampered<T>(fn: (em: EntityManager, run: (q: string, p?: unknown[]) => Promise<any[]>) => Promise<T>): Promise<T> {
  let out: T;
  const rollback = new Error('rolled back');
  await orm.em.fork().transactional(async (t) => {
    const run = (q: string, p: unknown[] = []) => t.getConnection().execute(q, p, 'all', t.getTransactionContext());
    await run(`set local session_replication_role = replica`);
    out = await fn(t as EntityManager, run);
    throw rollback;
  }).catch((e) => { if (e !== rollback) throw e; });
  return out!;
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'engine/audit-verify.ts', ...args], { cwd: ROOT, env: process.env, timeout: 300_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof (err as any).code === 'number' ? (err as any).code : 99) : 0, stdout, stderr });
    });
  });
}

let journeyId: string;

describe('the audit trail after a journey', () => {
  it('chains every event of a prescription carried to delivery, globally and per prescription', async () => {
    const a = actors();
    const pushed = await a.hospital.post('/v1/prescriptions', demoPrescription());
    expect(pushed.status).toBe(201);
    const id = pushed.body.prescription.id as string;
    journeyId = id;
    await waitForPrescription(a.hospital, id, statusIs('in_review'));
    expect((await approve(id)).status).toBe(202);
    const atOffer = await waitForPrescription(a.hospital, id, offered);
    const pharmacyCode = atOffer.workflow.offer.pharmacyCode as string;
    const order = (await a.pharmacy(pharmacyCode).get('/v1/pharmacy/orders')).body.items.find((o: any) => o.prescriptionId === id);
    expect((await a.pharmacy(pharmacyCode).post(`/v1/pharmacy/orders/${order.orderId}/accept`)).status).toBe(202);
    expect((await a.pharmacy(pharmacyCode).post(`/v1/pharmacy/orders/${order.orderId}/dispense`, { pharmacistName: '孙药师', lines: scanOrder(order.lines) })).status).toBe(201);
    const atDelivery = await waitForPrescription(a.hospital, id, deliveryAssigned);
    const { deliveryId, partnerCode } = atDelivery.workflow.delivery;
    const courier = a.courier(partnerCode);
    for (const status of ['assigned', 'picked_up', 'in_transit']) expect((await courier.post(`/v1/deliveries/${deliveryId}/status`, { status })).status).toBe(202);
    expect((await courier.post(`/v1/deliveries/${deliveryId}/status`, { status: 'delivered', proof: { kind: 'signature', reference: 'SIG-1', receivedBy: '张建国' } })).status).toBe(202);
    await waitForPrescription(a.hospital, id, statusIs('completed'));

    const rows = await sql(`select rx_seq, global_seq::text as g, action, actor_ip, actor_agent from audit_event where prescription_id = ? order by rx_seq`, [id]);
    expect(rows.map((r) => r.rx_seq)).toEqual(rows.map((_r, i) => i + 1)); // gapless positions in the prescription's chain
    // From where: intake and the pharmacist's decision came through the API.
    const received = rows.find((r) => r.action === 'received');
    const claimed = rows.find((r) => r.action === 'review_claimed');
    const approved = rows.find((r) => r.action === 'review_approved');
    for (const r of [received, claimed, approved]) {
      expect(r.actor_ip).toMatch(/127\.0\.0\.1|::1/);
      expect(r.actor_agent).toBeTruthy();
    }

    const mine = await verifyAuditTrail(orm.em.fork() as EntityManager, { prescriptionId: id });
    expect(mine).toMatchObject({ intact: true, scope: 'prescription', checked: rows.length, broken: null });
    const all = await verifyAuditTrail(orm.em.fork() as EntityManager);
    expect(all.intact).toBe(true);
    expect(all.prescriptionChains).toBeGreaterThanOrEqual(1);

    const viaRoute = await a.operator.get('/v1/ops/audit/verify');
    expect(viaRoute.status).toBe(200);
    expect(viaRoute.body).toMatchObject({ intact: true, scope: 'all', broken: null });
    const auditor = await a.auditor.get(`/v1/ops/audit/verify?prescription=${id}`);
    expect(auditor.body).toMatchObject({ intact: true, scope: 'prescription', prescriptionId: id });
  });

  it('agrees with the trigger on every stored hash (the canonical form is the same in SQL and TypeScript)', async () => {
    const rows = await sql(`select canonical, hash, rx_hash, prev, prev_rx from (
        select audit_event_canonical(e) as canonical, e.hash, e.rx_hash,
          coalesce((select p.hash from audit_event p where p.global_seq = e.global_seq - 1), ?) as prev,
          coalesce((select p.rx_hash from audit_event p where p.prescription_id = e.prescription_id and p.rx_seq = e.rx_seq - 1), ?) as prev_rx
        from audit_event e where e.prescription_id = ?) x`, [GENESIS, GENESIS, journeyId]);
    expect(rows.length).toBeGreaterThan(10);
    for (const r of rows) {
      expect(linkHash(r.prev.trim(), r.canonical)).toBe(r.hash.trim());
      expect(linkHash(r.prev_rx.trim(), r.canonical)).toBe(r.rx_hash.trim());
      const fields = JSON.parse(r.canonical);
      expect(canonicalAuditEvent(fields)).toBe(r.canonical);
    }
  });

  it('refuses updates, deletes and truncation through the trigger', async () => {
    const [{ id }] = await sql(`select id::text as id from audit_event where prescription_id = ? order by rx_seq limit 1`, [journeyId]);
    await expect(sql(`update audit_event set actor = 'x' where id = ?`, [id])).rejects.toThrow(/append-only/);
    await expect(sql(`update audit_event set data = '{"erased": true}', data_erased_at = now(), actor = 'x' where id = ?`, [id])).rejects.toThrow(/append-only/);
    await expect(sql(`delete from audit_event where id = ?`, [id])).rejects.toThrow(/append-only/);
    await expect(sql(`truncate audit_event`)).rejects.toThrow(/append-only/);
  });
});

describe('tampering by a superuser behind the trigger', () => {
  const events = async () => sql(`select id::text as id, rx_seq, global_seq::text as g, data::text as data, data_digest from audit_event where prescription_id = ? order by rx_seq`, [journeyId]);

  it('finds edited data at that event: expected digest vs found', async () => {
    const [, second] = await events();
    const r: VerifyResult = await tampered(async (em, run) => {
      await run(`update audit_event set data = data || '{"tampered": true}' where id = ?`, [second.id]);
      return verifyAuditTrail(em);
    });
    expect(r.intact).toBe(false);
    expect(r.broken).toMatchObject({ eventId: second.id, field: 'data', expected: second.data_digest.trim() });
    expect(r.broken!.found).not.toBe(second.data_digest.trim());
  });

  it('finds an edited actor at that event, by its link in the global chain', async () => {
    const [, , third] = await events();
    const r: VerifyResult = await tampered(async (em, run) => {
      await run(`update audit_event set actor = 'pharmacist:P999' where id = ?`, [third.id]);
      return verifyAuditTrail(em);
    });
    expect(r.broken).toMatchObject({ eventId: third.id, chain: 'global', field: 'hash' });
    expect(r.broken!.expected).not.toBe(r.broken!.found);
  });

  it('finds a deleted event at the next one, in both chains', async () => {
    const rows = await events();
    const victim = rows[3];
    const next = await sql(`select id::text as id from audit_event where global_seq = ?::bigint + 1`, [victim.g]);
    const [global, mine]: VerifyResult[] = await tampered(async (em, run) => {
      await run(`delete from audit_event where id = ?`, [victim.id]);
      return [await verifyAuditTrail(em), await verifyAuditTrail(em, { prescriptionId: journeyId })];
    });
    expect(global.broken).toMatchObject({ eventId: next[0].id, field: 'seq', expected: victim.g, chain: 'global' });
    expect(mine.broken).toMatchObject({ eventId: rows[4].id, field: 'seq', expected: String(victim.rx_seq), chain: 'prescription' });
  });

  it('finds the last event of a prescription deleted (nothing after it to break), by the stored head', async () => {
    const rows = await events();
    const last = rows[rows.length - 1];
    const r: VerifyResult = await tampered(async (em, run) => {
      await run(`delete from audit_event where id = ?`, [last.id]);
      return verifyAuditTrail(em, { prescriptionId: journeyId });
    });
    expect(r.broken).toMatchObject({ field: 'head', eventId: null, found: expect.stringMatching(new RegExp(`^${last.rx_seq}:`)) });
  });

  it('is reported by the operator route and the CLI (exit 1, the first broken link) and clean again once restored', async () => {
    const [, second] = await events();
    // Committed this time, so the API and the CLI see it; the original data is put back below.
    await orm.em.fork().transactional(async (t) => {
      const run = (q: string, p: unknown[] = []) => t.getConnection().execute(q, p, 'all', t.getTransactionContext());
      await run(`set local session_replication_role = replica`);
      await run(`update audit_event set data = '{"flags": []}' where id = ?`, [second.id]);
    });
    try {
      const route = await actors().operator.get(`/v1/ops/audit/verify?prescription=${journeyId}`);
      expect(route.body).toMatchObject({ intact: false, broken: { eventId: second.id, field: 'data', expected: second.data_digest.trim() } });
      const broken = await cli(['--prescription', journeyId]);
      expect(broken.code).toBe(1);
      expect(broken.stdout).toContain(`BROKEN at event ${second.id}`);
      expect(broken.stdout).toContain(`expected ${second.data_digest.trim()}`);
    } finally {
      await orm.em.fork().transactional(async (t) => {
        const run = (q: string, p: unknown[] = []) => t.getConnection().execute(q, p, 'all', t.getTransactionContext());
        await run(`set local session_replication_role = replica`);
        await run(`update audit_event set data = ?::jsonb where id = ?`, [second.data, second.id]);
      });
    }
    const ok = await cli(['--prescription', journeyId]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/intact/);
  });
});

describe('concurrent appends', () => {
  it('serialise per chain without deadlocks and leave valid chains', async () => {
    const rxs = (await sql(`select id from prescription order by created_at desc limit 3`)).map((r) => r.id as string);
    expect(rxs.length).toBeGreaterThan(0);
    const before = await sql(`select count(*)::int as n from audit_event`);
    // 24 transactions, each appending 3 events in its own order across 3 prescriptions and the global chain.
    const targets = [...rxs, null];
    await Promise.all(Array.from({ length: 24 }, (_v, i) => orm.em.fork().transactional(async (t) => {
      const run = (q: string, p: unknown[] = []) => t.getConnection().execute(q, p, 'all', t.getTransactionContext());
      for (let j = 0; j < 3; j++) {
        const rx = targets[(i + j * (i % 2 ? 1 : 3)) % targets.length];
        await run(`insert into audit_event (prescription_id, action, actor, data, at) values (?, 'concurrency_probe', 'test', ?::jsonb, now())`, [rx, JSON.stringify({ i, j })]);
      }
    })));
    const after = await sql(`select count(*)::int as n from audit_event`);
    expect(after[0].n - before[0].n).toBeGreaterThanOrEqual(72); // the engine may append its own meanwhile
    const r = await verifyAuditTrail(orm.em.fork() as EntityManager);
    expect(r).toMatchObject({ intact: true, broken: null });
    for (const rx of rxs) expect((await verifyAuditTrail(orm.em.fork() as EntityManager, { prescriptionId: rx })).intact).toBe(true);
  });

  it('an audit-only transaction and a status change of the same prescription do not deadlock', async () => {
    // A: like transition(), locks the prescription row, then writes its event. B: like `rxflow cancel`'s
    // operator_cancel, writes only an event for it. B starts while A holds the row; A writes once B waits.
    const id = journeyId;
    let releaseA!: () => void;
    const aMayWrite = new Promise<void>((r) => { releaseA = r; });
    let aLocked!: () => void;
    const aHasRow = new Promise<void>((r) => { aLocked = r; });
    const a = orm.em.fork().transactional(async (t) => {
      const run = (q: string, p: unknown[] = []) => t.getConnection().execute(q, p, 'all', t.getTransactionContext());
      await run(`select id from prescription where id = ? for update`, [id]);
      aLocked();
      await aMayWrite;
      await run(`insert into audit_event (prescription_id, action, actor, data, at) values (?, 'deadlock_probe_a', 'test', '{}', now())`, [id]);
    });
    await aHasRow;
    let bPid = 0;
    const b = orm.em.fork().transactional(async (t) => {
      const run = (q: string, p: unknown[] = []) => t.getConnection().execute(q, p, 'all', t.getTransactionContext());
      bPid = (await run(`select pg_backend_pid() as pid`))[0].pid;
      await run(`insert into audit_event (prescription_id, action, actor, data, at) values (?, 'deadlock_probe_b', 'test', '{}', now())`, [id]);
    });
    // Until B is blocked behind A's row lock (at its insert, or at its commit's foreign-key check).
    for (;;) {
      const [s] = bPid ? await sql(`select wait_event_type from pg_stat_activity where pid = ?`, [bPid]) : [];
      if (s?.wait_event_type === 'Lock') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    releaseA();
    await expect(Promise.all([a, b])).resolves.toBeDefined();
    expect((await verifyAuditTrail(orm.em.fork() as EntityManager, { prescriptionId: id })).intact).toBe(true);
  });
});

describe('the regulator export', () => {
  const today = () => new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10); // Asia/Shanghai

  it('streams the region\'s events as JSON lines whose hashes link', async () => {
    const res = await actors().auditor.call('GET', `/v1/ops/audit/export?from=${today()}&to=${today()}&region=330100&format=jsonl`);
    expect(res.status).toBe(200);
    const lines = (res.body as string).trim().split('\n').map((l) => JSON.parse(l));
    const mine = lines.filter((l) => l.prescriptionId === journeyId);
    expect(mine.length).toBeGreaterThan(10);
    expect(mine[0]).toMatchObject({ rxSeq: '1', action: 'received', regionCode: '330100', hospitalCode: expect.any(String), prevRxHash: GENESIS });
    for (const l of mine) {
      const canonical = canonicalAuditEvent(l);
      expect(linkHash(l.prevRxHash, canonical)).toBe(l.rxHash);
      expect(linkHash(l.prevHash, canonical)).toBe(l.hash);
    }
    // The courier's proof reaches the regulator as its kind only, the receiver's name masked.
    const delivered = mine.find((l) => l.action === 'delivery_delivered');
    expect(delivered.data.proof).toEqual({ kind: 'signature' });
    expect(JSON.stringify(lines)).not.toContain('张建国');
    const exported = await sql(`select actor, actor_ip, data from audit_event where action = 'audit_trail_exported' order by global_seq desc limit 1`);
    expect(exported[0]).toMatchObject({ actor: 'auditor:auditor', data: { regionCode: '330100', format: 'jsonl' } });
  });

  it('streams CSV with a header, one row per event', async () => {
    const res = await fetch(`${process.env.RX_TEST_API_URL}/v1/ops/audit/export?from=${today()}&to=${today()}&region=330100&format=csv`, { headers: { authorization: 'Bearer demo-operator-key' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(res.headers.get('content-disposition')).toMatch(/attachment; filename="audit-330100-/);
    const text = await res.text();
    const [header, ...rows] = text.replace(/^\uFEFF/, '').trim().split('\r\n');
    expect(header).toBe('id,globalSeq,prescriptionId,rxSeq,rxNo,hospitalCode,regionCode,at,action,actor,actorIp,actorAgent,fromStatus,toStatus,data,dataErased,dataDigest,prevHash,hash,prevRxHash,rxHash');
    expect(rows.filter((r) => r.includes(journeyId)).length).toBeGreaterThan(10);
  });

  it('refuses bad ranges and regions in the standard error shape, and other roles', async () => {
    const a = actors();
    const bad = await a.operator.get('/v1/ops/audit/export?from=2026-02-30&to=2026-03-01&region=33');
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('VALIDATION_FAILED');
    expect(bad.body.error.details.map((d: any) => d.path).sort()).toEqual(['$.from', '$.region']);
    const backwards = await a.operator.get('/v1/ops/audit/export?from=2026-03-02&to=2026-03-01&region=330100');
    expect(backwards.body.error).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ path: '$.to' }] });
    expect((await a.operator.get('/v1/ops/audit/export?from=2025-01-01&to=2026-06-01&region=330100')).body.error.code).toBe('RANGE_TOO_LARGE');
    expect((await a.hospital.get(`/v1/ops/audit/export?from=${today()}&to=${today()}&region=330100`)).status).toBe(403);
    expect((await a.pharmacist.get('/v1/ops/audit/verify')).status).toBe(403);
    expect((await a.operator.get('/v1/ops/audit/verify?prescription=nope')).status).toBe(400);
  });
});
