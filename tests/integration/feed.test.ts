// The event feed against the real engine: replay from a cursor, tenant isolation, commit order with no
// gaps under concurrent writers (and a writer that commits late), long-polling, Server-Sent Events with
// resume by Last-Event-ID, the LISTEN/NOTIFY wake-up and its poll fallback, and the error answers.
// Two hospitals of its own (FEED-A, FEED-B, no other test writes to them) make the assertions exact;
// the concurrency test also runs real prescriptions of the demo hospital.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MikroORM, EntityManager } from '@mikro-orm/postgresql';
import { actors, anonymous, apiUrl, closeDb, sql, until } from './helpers';
import { ApiClient } from '../../demo/actors';
import { DEMO } from '../../demo/fixtures';
import { demoPrescriptionContent, signAsDemoHospital } from '../../demo/prescriptions';
import { hashKey } from '../../api/auth';
import { openOrm } from '../../db/orm';
import { recordHospitalEvent } from '../../activities/hospital-events';
import { FeedHub } from '../../api/feed-hub';
import { decodeCursor, encodeCursor } from '../../domain/event-feed';
import { verifyWebhook } from '../../sdk/webhook';

interface Tenant { id: string; code: string; client: ApiClient }
const run = randomUUID().slice(0, 6);
let A: Tenant;
let B: Tenant;
let orm: MikroORM;

async function tenant(code: string): Promise<Tenant> {
  const id = randomUUID();
  const key = `feed-test-${code}-${randomUUID()}`;
  // A hospital of this test alone (outside the demo's region, so no report counts it).
  await sql(`insert into hospital (id, code, name, region_code, created_at) values (?, ?, ?, '999999', now())`, [id, code, `feed test ${code}`]);
  await sql(`insert into api_client (id, key_hash, role, party_id, label, created_at) values (?, ?, 'hospital', ?, ?, now())`, [randomUUID(), hashKey(key), id, code]);
  return { id, code, client: new ApiClient(apiUrl(), key) };
}

/** An event for the tenant, written by the engine: a push refused by the schema is still the hospital's event. */
async function refusal(t: Tenant, rxNo = `R-${randomUUID().slice(0, 8)}`): Promise<string> {
  const r = await t.client.post('/v1/prescriptions', { rxNo });
  expect(r.status).toBe(400);
  return rxNo;
}

const feed = async (client: ApiClient, query = '') => client.get(`/v1/events${query ? `?${query}` : ''}`);
async function readAll(client: ApiClient, after?: string, extra = '', limit = 200): Promise<{ items: any[]; next: string }> {
  const items: any[] = [];
  let cursor = after;
  for (;;) {
    const r = await feed(client, [cursor ? `after=${cursor}` : '', `limit=${limit}`, extra].filter(Boolean).join('&'));
    expect(r.status).toBe(200);
    items.push(...r.body.items);
    cursor = r.body.next;
    if (!r.body.hasMore) return { items, next: cursor! };
  }
}
const dbLog = (hospitalId: string) => sql<{ id: string; sequence: string }>(`select id, sequence from hospital_event where hospital_id = ? order by sequence`, [hospitalId]);
const seqs = (items: any[]) => items.map((e) => Number(e.sequence));
const consecutive = (ns: number[]) => ns.every((n, i) => i === 0 || n === ns[i - 1] + 1);

/** An event committed by a transaction of this test process (the real outbox writer), or rolled back. */
async function writeEvent(t: Tenant, opts: { rollback?: boolean; holdUntil?: Promise<void>; written?: () => void } = {}): Promise<string> {
  const undo = new Error('rolled back');
  let written = '';
  await orm.em.fork().transactional(async (em) => {
    written = (await recordHospitalEvent(em as EntityManager, { id: randomUUID(), hospitalId: t.id, rxNo: `T-${randomUUID().slice(0, 8)}` },
      { from: null, to: 'received', action: 'received', actor: `hospital:${t.code}` }))!;
    opts.written?.();
    await opts.holdUntil;
    if (opts.rollback) throw undo;
  }).catch((e) => { if (e !== undo) throw e; });
  return written;
}

/** A Server-Sent Events client over fetch: its messages (id, data) and comments, as they arrive. */
class SseClient {
  messages: { id: string; event: any }[] = [];
  comments: string[] = [];
  retry?: number;
  status = 0;
  private abort = new AbortController();
  private done?: Promise<void>;
  constructor(private key: string, private query = '', private lastEventId?: string) {}
  async open(): Promise<void> {
    const res = await fetch(`${apiUrl()}/v1/events/stream${this.query ? `?${this.query}` : ''}`, {
      headers: { authorization: `Bearer ${this.key}`, accept: 'text/event-stream', ...(this.lastEventId ? { 'last-event-id': this.lastEventId } : {}) },
      signal: this.abort.signal,
    });
    this.status = res.status;
    if (res.status !== 200) { await res.text(); return; }
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    this.done = (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          buf += decoder.decode(value, { stream: true });
          let i: number;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            let id = '';
            let data = '';
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) this.comments.push(line.slice(1).trim());
              else if (line.startsWith('id: ')) id = line.slice(4);
              else if (line.startsWith('data: ')) data += line.slice(6);
              else if (line.startsWith('retry: ')) this.retry = Number(line.slice(7));
            }
            if (data) this.messages.push({ id, event: JSON.parse(data) });
          }
        }
      } catch { /* aborted */ }
    })();
  }
  async close(): Promise<void> {
    this.abort.abort();
    await this.done;
  }
}

beforeAll(async () => {
  A = await tenant(`FEED-A-${run}`);
  B = await tenant(`FEED-B-${run}`);
  orm = await openOrm(process.env.DATABASE_URL!);
});
afterAll(async () => {
  await orm.close();
  await closeDb();
});

describe('the event feed', () => {
  it('replays from a cursor exactly the events after it, in sequence order, page by page', async () => {
    const empty = await feed(A.client);
    expect(empty.status).toBe(200);
    expect(empty.body).toEqual({ items: [], next: expect.any(String), hasMore: false });
    const start = empty.body.next;
    // Nothing new: the same position again (a cursor is stable).
    expect((await feed(A.client, `after=${start}`)).body).toEqual({ items: [], next: start, hasMore: false });

    const rxNos: string[] = [];
    for (let i = 0; i < 5; i++) rxNos.push(await refusal(A));
    const log = await dbLog(A.id);
    expect(seqs(log)).toEqual([1, 2, 3, 4, 5]);

    // Pages of two: 2 + 2 + 1, hasMore until the last.
    const p1 = await feed(A.client, `after=${start}&limit=2`);
    const p2 = await feed(A.client, `after=${p1.body.next}&limit=2`);
    const p3 = await feed(A.client, `after=${p2.body.next}&limit=2`);
    expect([p1.body.hasMore, p2.body.hasMore, p3.body.hasMore]).toEqual([true, true, false]);
    const all = [...p1.body.items, ...p2.body.items, ...p3.body.items];
    expect(all.map((e) => e.id)).toEqual(log.map((r) => r.id));
    expect(all.map((e) => e.subject)).toEqual(rxNos);
    expect(all[0]).toMatchObject({
      specversion: '1.0', source: `urn:rxflow:hospital:${A.code}`, type: 'rxflow.prescription.refused', subject: rxNos[0],
      datacontenttype: 'application/json', sequence: '0000000000000001', data: { rxNo: rxNos[0], status: 'refused', code: 'VALIDATION_FAILED' },
    });
    // From the middle: exactly what follows.
    const fromTwo = await feed(A.client, `after=${p1.body.next}`);
    expect(fromTwo.body.items.map((e: any) => e.id)).toEqual(log.slice(2).map((r) => r.id));
    // The last page's cursor is the head: nothing after it.
    expect((await feed(A.client, `after=${p3.body.next}`)).body).toEqual({ items: [], next: p3.body.next, hasMore: false });
  });

  it('keeps tenants apart: each hospital reads its own log; a cursor of another tenant is refused like garbage', async () => {
    await refusal(B);
    const a = await readAll(A.client);
    const b = await readAll(B.client);
    expect(a.items.length).toBeGreaterThan(0);
    expect(b.items.length).toBeGreaterThan(0);
    expect(new Set(a.items.map((e) => e.source))).toEqual(new Set([`urn:rxflow:hospital:${A.code}`]));
    expect(new Set(b.items.map((e) => e.source))).toEqual(new Set([`urn:rxflow:hospital:${B.code}`]));
    expect(a.items.map((e) => e.id).filter((id) => b.items.some((x) => x.id === id))).toEqual([]);

    const foreign = await feed(A.client, `after=${b.next}`);
    const garbage = await feed(A.client, `after=bm90LWEtY3Vyc29y`);
    expect(foreign.status).toBe(400);
    expect(foreign.body).toEqual(garbage.body); // nothing tells A that the cursor is B's
    expect(foreign.body.error).toMatchObject({ code: 'INVALID_CURSOR', details: [expect.objectContaining({ path: '$.after' })] });
    expect(JSON.stringify(foreign.body)).not.toContain(B.id);
    expect(JSON.stringify(foreign.body)).not.toContain(B.code);

    // Operators read any hospital's feed: the same events; the cursor carries the tenant.
    const op = actors().operator;
    expect((await readAll(op, undefined, `hospital=${A.code}`)).items).toEqual(a.items);
    expect((await feed(op, `after=${encodeCursor({ hospitalId: B.id, sequence: 0 })}`)).body.items).toEqual(b.items);
    const mismatch = await feed(op, `hospital=${A.code}&after=${b.next}`);
    expect(mismatch.status).toBe(400);
    expect(mismatch.body.error.code).toBe('CURSOR_MISMATCH');
    const unnamed = await feed(op);
    expect(unnamed.status).toBe(400);
    expect(unnamed.body.error.details).toEqual([expect.objectContaining({ path: '$.hospital' })]);
    expect((await feed(op, 'hospital=NO-SUCH-HOSPITAL')).status).toBe(404);
    // Other parties have no feed; nobody reads without a key.
    expect((await feed(actors().pharmacist)).status).toBe(403);
    expect((await feed(actors().pharmacy('PH001'))).status).toBe(403);
    expect((await feed(anonymous())).status).toBe(401);
  });

  it('answers bad cursors, limits and waits with 400 in the house error shape, and a cursor beyond the log with 409', async () => {
    for (const [query, path, code] of [
      ['after=%25%25%25', '$.after', 'INVALID_CURSOR'],
      [`after=${Buffer.from('v1:not-a-uuid:3').toString('base64url')}`, '$.after', 'INVALID_CURSOR'],
      [`after=${encodeCursor({ hospitalId: randomUUID(), sequence: 1 })}`, '$.after', 'INVALID_CURSOR'],
      ['limit=0', '$.limit', 'VALIDATION_FAILED'],
      ['limit=501', '$.limit', 'VALIDATION_FAILED'],
      ['limit=ten', '$.limit', 'VALIDATION_FAILED'],
      ['wait=31', '$.wait', 'VALIDATION_FAILED'],
      ['wait=-1', '$.wait', 'VALIDATION_FAILED'],
    ] as const) {
      const r = await feed(A.client, query);
      expect({ query, status: r.status }).toEqual({ query, status: 400 });
      expect(r.body).toEqual({ error: { code, message: expect.any(String), details: [expect.objectContaining({ path, message: expect.any(String) })] } });
    }
    const ahead = await feed(A.client, `after=${encodeCursor({ hospitalId: A.id, sequence: 1_000_000 })}`);
    expect(ahead.status).toBe(409);
    expect(ahead.body.error.code).toBe('CURSOR_AHEAD');
    // The stream validates before it starts: a JSON error, not an event stream.
    const sse = new SseClient(A.client.key, '', 'garbage');
    await sse.open();
    expect(sse.status).toBe(400);
  });

  it('never skips an event that commits late: the feed holds back until the lower sequence has committed', async () => {
    const { next: head } = await readAll(A.client);
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    // Writer 1 takes the next sequence and holds its transaction open.
    let holding!: () => void;
    const held = new Promise<void>((r) => { holding = r; });
    const slow = writeEvent(A, { holdUntil: gate, written: holding });
    await held;
    // Writer 2 (the engine, a refused push) must wait for the counter row.
    const fast = refusal(A);
    await until('writer 2 blocked on the counter', async () => (await sql(
      `select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query ilike '%hospital_event_counter%'`)).length > 0);
    // Neither is readable yet, so a reader cannot move past writer 1's sequence; a long-poll waits.
    expect((await feed(A.client, `after=${head}`)).body.items).toEqual([]);
    const polled = feed(A.client, `after=${head}&wait=30`);
    release();
    const [slowId] = await Promise.all([slow, fast]);
    const woke = await polled;
    expect(woke.status).toBe(200);
    expect(woke.body.items[0].id).toBe(slowId); // the first to commit comes first
    const after = await readAll(A.client, head);
    expect(after.items.map((e) => e.type)).toEqual(['rxflow.prescription.accepted', 'rxflow.prescription.refused']);
    expect(after.items[0].id).toBe(slowId);
    expect(consecutive(seqs(after.items))).toBe(true);
    expect(seqs(after.items)[0]).toBe(decodeCursor(head)!.sequence + 1);
  });

  it('concurrent prescriptions and refusals give a gap-free, strictly increasing sequence; a live tailer sees each event once', async () => {
    const hospital = actors().hospital;
    const [{ id: demoId }] = await sql(`select id from hospital where code = ?`, [DEMO.hospital.code]);
    const { next: head } = await readAll(hospital);
    // A tailer follows the feed by long-polling while the writers run.
    const seen: any[] = [];
    let stop = false;
    const tailer = (async () => {
      let cursor = head;
      while (!stop) {
        const r = await feed(hospital, `after=${cursor}&limit=7&wait=2`);
        expect(r.status).toBe(200);
        seen.push(...r.body.items);
        cursor = r.body.next;
      }
      return cursor;
    })();
    const pushes = Array.from({ length: 6 }, async () => {
      const r = await hospital.post('/v1/prescriptions', signAsDemoHospital(demoPrescriptionContent({}), DEMO.hospital.signingKeyId));
      expect(r.status).toBe(201);
      const id = r.body.prescription.id as string;
      await until('in review', async () => ((await hospital.get(`/v1/prescriptions/${id}`)).body.prescription.status === 'in_review'));
      await hospital.post(`/v1/prescriptions/${id}/cancel`, { reason: 'feed concurrency test' });
      return id;
    });
    const refusals = Array.from({ length: 12 }, async () => { await refusal({ id: demoId, code: DEMO.hospital.code, client: hospital }); });
    const ids = await Promise.all([...pushes, ...refusals]).then((r) => r.filter(Boolean) as string[]);
    await until('every cancellation in the log', async () => (await sql(
      `select count(*)::int as n from hospital_event where type = 'rxflow.prescription.cancelled' and prescription_id in (${ids.map(() => '?').join(',')})`, ids))[0].n === ids.length);
    // The whole log of the hospital (other test files write to it too) is 1, 2, 3 … with no gap.
    const log = await dbLog(demoId);
    expect(seqs(log)).toEqual(log.map((_, i) => i + 1));
    // Let the tailer catch up with everything committed, then stop it.
    const target = Number(log.at(-1)!.sequence);
    await until('the tailer caught up', () => seen.length && Number(seen.at(-1).sequence) >= target);
    stop = true;
    await tailer;
    const fromHead = log.filter((r) => Number(r.sequence) > decodeCursor(head)!.sequence);
    expect(seen.slice(0, fromHead.length).map((e) => e.id)).toEqual(fromHead.map((r) => r.id));
    expect(new Set(seen.map((e) => e.id)).size).toBe(seen.length); // each once
    expect(consecutive(seqs(seen))).toBe(true);
    for (const id of ids) {
      const mine = seen.filter((e) => e.subject === id).map((e) => e.type.replace('rxflow.prescription.', ''));
      expect(mine).toEqual(['accepted', 'in_review', 'cancelled']);
    }
  });

  it('long-polling returns when an event commits, and times out empty otherwise', async () => {
    const { next: head } = await readAll(B.client);
    const quiet = await feed(B.client, `after=${head}&wait=1`);
    expect(quiet.status).toBe(200);
    expect(quiet.body).toEqual({ items: [], next: head, hasMore: false });

    const polled = feed(B.client, `after=${head}&wait=30`);
    const rxNo = await refusal(B);
    const woke = await polled;
    expect(woke.status).toBe(200);
    expect(woke.body.items.map((e: any) => e.subject)).toEqual([rxNo]);
    expect(decodeCursor(woke.body.next)!.sequence).toBe(decodeCursor(head)!.sequence + 1);
  });

  it('streams events live over SSE, with heartbeats, and resumes after a reconnect from Last-Event-ID', async () => {
    const before = await readAll(B.client);
    const first = new SseClient(B.client.key);
    await first.open();
    expect(first.status).toBe(200);
    // History first: everything since the beginning, each message's id the cursor after it.
    await until('the history', () => first.messages.length === before.items.length);
    expect(first.messages.map((m) => m.event.id)).toEqual(before.items.map((e) => e.id));
    expect(first.messages.at(-1)!.id).toBe(before.next);
    expect(first.retry).toBeGreaterThan(0);
    // Live.
    const live = await refusal(B);
    await until('the live event', () => first.messages.some((m) => m.event.subject === live));
    await until('a heartbeat while idle', () => first.comments.includes('heartbeat'));
    const lastId = first.messages.at(-1)!.id;
    await first.close();

    // Missed while disconnected…
    const missed = [await refusal(B), await refusal(B)];
    // …and delivered after the reconnect, exactly those, from Last-Event-ID (which wins over ?after=).
    const second = new SseClient(B.client.key, `after=${encodeCursor({ hospitalId: B.id, sequence: 0 })}`, lastId);
    await second.open();
    await until('the missed events', () => second.messages.length >= 2);
    const live2 = await refusal(B);
    await until('a live event after resuming', () => second.messages.some((m) => m.event.subject === live2));
    expect(second.messages.map((m) => m.event.subject)).toEqual([...missed, live2]);
    expect(consecutive(seqs(second.messages.map((m) => m.event)))).toBe(true);
    await second.close();
  });

  it('wakes waiters by LISTEN/NOTIFY on commit (not on rollback, not for other hospitals), and by polling when LISTEN is down', async () => {
    const hub = new FeedHub(process.env.DATABASE_URL!, orm, { pollMs: 3_600_000, heartbeatMs: 1000, sseRetryMs: 1000, reconnectMs: 3_600_000 });
    try {
      const [{ last_sequence: headB }] = await sql(`select last_sequence from hospital_event_counter where hospital_id = ?`, [B.id]);
      const warm = hub.subscribe(B.id, Number.MAX_SAFE_INTEGER);
      await until('the hub listening', () => hub.listening);
      warm.cancel();
      let bWoken = false;
      const subB = hub.subscribe(B.id, Number(headB));
      void subB.woken.then(() => { bWoken = true; });
      await writeEvent(B, { rollback: true });
      // Notifications arrive in commit order: once A's has, a (wrong) one from B's rollback would have too.
      const [{ last_sequence: headA }] = await sql(`select last_sequence from hospital_event_counter where hospital_id = ?`, [A.id]);
      const subA = hub.subscribe(A.id, Number(headA));
      await writeEvent(A);
      await subA.woken;
      expect(bWoken).toBe(false);
      await writeEvent(B);
      await subB.woken; // the poll is an hour away: this was the notification
    } finally {
      await hub.close();
    }

    // The fallback: no listener can connect, the poll still wakes the waiter.
    const blind = new FeedHub('postgres://nobody:nothing@127.0.0.1:1/none', orm, { pollMs: 100, heartbeatMs: 1000, sseRetryMs: 1000, reconnectMs: 3_600_000 });
    try {
      const [{ last_sequence: head }] = await sql(`select last_sequence from hospital_event_counter where hospital_id = ?`, [B.id]);
      const sub = blind.subscribe(B.id, Number(head));
      await writeEvent(B);
      await sub.woken;
      expect(blind.listening).toBe(false);
    } finally {
      await blind.close();
    }
  });

  it('replaying the feed gives the same events as the webhooks, once duplicates are dropped by id', async () => {
    const C = await tenant(`FEED-C-${run}`);
    const got: any[] = [];
    let secret = '';
    // The hospital's receiver: the first attempt of every event fails, so each arrives more than once.
    const seenOnce = new Set<string>();
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const event = verifyWebhook(secret, req.headers, Buffer.concat(chunks).toString('utf8'));
        if (!seenOnce.has(event.id)) { seenOnce.add(event.id); res.statusCode = 503; return res.end(); }
        got.push(event);
        res.statusCode = 204;
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const reg = await C.client.call('PUT', '/v1/webhook', { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook` });
      expect(reg.status).toBe(201);
      secret = reg.body.secret;
      for (let i = 0; i < 4; i++) await refusal(C);
      const fed = await readAll(C.client);
      expect(fed.items).toHaveLength(4);
      await until('every callback acknowledged', async () => (await C.client.get('/v1/webhook/deliveries?status=delivered')).body.items.length === 4);
      const deduped = [...new Map(got.map((e) => [e.id, e])).values()].sort((x, y) => x.sequence.localeCompare(y.sequence));
      expect(deduped).toEqual(fed.items);
    } finally {
      await C.client.call('DELETE', '/v1/webhook');
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
