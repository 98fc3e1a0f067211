// The event feed (docs/events.md): a hospital replays its own event log from a cursor, in sequence
// order, and tails it live by long-polling or Server-Sent Events. Operators read any hospital's feed.
// The log is hospital_event, the same outbox the webhooks deliver from: the feed and the callbacks
// carry the same events with the same ids and sequences.
import Router from '@koa/router';
import { PassThrough } from 'node:stream';
import type { Context } from 'koa';
import { z } from 'zod';
import {
  decodeCursor, encodeCursor, FEED_DEFAULT_LIMIT, FEED_MAX_LIMIT, FEED_MAX_WAIT_S, sseFrame, sseHeartbeat, sseRetry,
} from '../../domain/event-feed';
import type { CloudEvent } from '../../domain/hospital-events';
import { feedConfig } from '../../engine/feed-config';
import { log } from '../../engine/log';
import type { Principal } from '../auth';
import { authorize } from '../access';
import { ApiError } from '../errors';
import type { ApiDeps } from '../app';
import { feedHub } from '../feed-hub';

const FeedQuery = z.object({
  after: z.string().min(1).max(200).optional(),
  limit: z.coerce.number().int().min(1).max(FEED_MAX_LIMIT).default(FEED_DEFAULT_LIMIT),
  wait: z.coerce.number().min(0).max(FEED_MAX_WAIT_S).default(0),
  hospital: z.string().min(1).max(40).optional(),
});
const StreamQuery = FeedQuery.pick({ after: true, hospital: true });

const invalidCursor = (path: string) =>
  // The same answer for garbage and for another tenant's cursor: nothing about other tenants leaks.
  new ApiError(400, 'INVALID_CURSOR', 'the cursor is not one this feed issued; use the `next` of a previous answer, or omit it to start from the beginning',
    [{ path, code: 'INVALID_CURSOR', message: 'not a cursor of this feed' }]);

interface Page { items: CloudEvent[]; last: number; hasMore: boolean }

export function eventRoutes(deps: ApiDeps): Router {
  const r = new Router();
  const sql = <T = any>(q: string, p: unknown[] = []) => deps.orm.em.fork().getConnection().execute(q, p) as Promise<T[]>;
  const hub = () => feedHub(deps.config.databaseUrl, deps.orm);

  /**
   * Whose feed and from where. A hospital reads its own; an operator names the hospital (or passes a
   * cursor, which carries it). A cursor must belong to that tenant.
   */
  async function position(ctx: Context, q: { after?: string; hospital?: string }, cursor: { value?: string; path: string }) {
    const p = ctx.state.principal as Principal;
    let hospitalId: string | undefined;
    // Own scope (a hospital) reads its own feed; any scope (platform staff) names the hospital.
    const own = ctx.state.scope !== 'any';
    if (own) {
      hospitalId = p.partyId;
    } else if (q.hospital) {
      const [h] = await sql<{ id: string }>(`select id from hospital where code = ?`, [q.hospital]);
      if (!h) throw new ApiError(404, 'NOT_FOUND', `hospital ${q.hospital} not found`, [{ path: '$.hospital', message: 'no hospital with this code' }]);
      hospitalId = h.id;
    }
    let after = 0;
    if (cursor.value !== undefined) {
      const pos = decodeCursor(cursor.value);
      if (!pos) throw invalidCursor(cursor.path);
      if (hospitalId && pos.hospitalId !== hospitalId) {
        if (own) throw invalidCursor(cursor.path);
        throw new ApiError(400, 'CURSOR_MISMATCH', `the cursor belongs to another hospital's feed than ${q.hospital}`, [{ path: cursor.path, message: 'cursor of another hospital' }]);
      }
      if (!hospitalId) {
        const [h] = await sql(`select 1 from hospital where id = ?`, [pos.hospitalId]);
        if (!h) throw invalidCursor(cursor.path);
        hospitalId = pos.hospitalId;
      }
      after = pos.sequence;
    }
    if (!hospitalId) throw new ApiError(400, 'VALIDATION_FAILED', 'operators name the hospital whose feed they read: ?hospital=<code>', [{ path: '$.hospital', code: 'required', message: 'required for operators (or pass a cursor)' }]);
    return { hospitalId, after };
  }

  async function page(hospitalId: string, after: number, limit: number): Promise<Page> {
    // Sequence order is commit order, and a higher sequence is never visible before a lower one commits
    // (the counter row is locked to commit): reading "after n" can never skip an event.
    const rows = await sql<{ envelope: CloudEvent; sequence: string }>(
      `select envelope, sequence from hospital_event where hospital_id = ? and sequence > ? order by sequence limit ?`, [hospitalId, after, limit + 1]);
    const items = rows.slice(0, limit);
    return { items: items.map((row) => row.envelope), last: items.length ? Number(items.at(-1)!.sequence) : after, hasMore: rows.length > limit };
  }

  /** A cursor past the head of the log means the log lost events (restored from an older backup): say so. */
  async function assertNotAhead(hospitalId: string, after: number, path: string) {
    if (after === 0) return;
    const [c] = await sql<{ last_sequence: string }>(`select last_sequence from hospital_event_counter where hospital_id = ?`, [hospitalId]);
    if (after > Number(c?.last_sequence ?? 0)) {
      throw new ApiError(409, 'CURSOR_AHEAD', 'the cursor is beyond the newest event of this feed; resume from the last cursor you stored before it, or from the beginning',
        [{ path, message: `the feed's newest sequence is ${Number(c?.last_sequence ?? 0)}` }]);
    }
  }

  /** Resolves when the client has gone away. */
  const gone = (ctx: Context) => new Promise<void>((resolve) => {
    if (ctx.res.destroyed || ctx.res.writableEnded) return resolve();
    ctx.res.once('close', () => resolve());
  });
  const sleep = (ms: number) => {
    let timer!: NodeJS.Timeout;
    const done = new Promise<void>((resolve) => { timer = setTimeout(resolve, ms); });
    return { done, cancel: () => clearTimeout(timer) };
  };

  // ---- replay, and long-polling with &wait=<seconds> --------------------------------------------------
  r.get('/v1/events', authorize('events.read'), async (ctx) => {
    const q = FeedQuery.parse(ctx.query);
    const { hospitalId, after } = await position(ctx, q, { value: q.after, path: '$.after' });
    await assertNotAhead(hospitalId, after, '$.after');
    const deadline = Date.now() + q.wait * 1000;
    const left = gone(ctx);
    let closed = false;
    void left.then(() => { closed = true; });
    let result: Page;
    for (;;) {
      // Subscribe before reading: an event committing between the read and the wait still wakes us.
      const sub = q.wait > 0 ? hub().subscribe(hospitalId, after) : undefined;
      result = await page(hospitalId, after, q.limit);
      const remaining = deadline - Date.now();
      if (result.items.length || remaining <= 0 || closed || hub().closed) { sub?.cancel(); break; }
      const timer = sleep(remaining);
      await Promise.race([sub!.woken, timer.done, left]);
      timer.cancel();
      sub!.cancel();
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { items: result.items, next: encodeCursor({ hospitalId, sequence: result.last }), hasMore: result.hasMore };
  });

  // ---- Server-Sent Events -------------------------------------------------------------------------------
  r.get('/v1/events/stream', authorize('events.read'), async (ctx) => {
    const q = StreamQuery.parse(ctx.query);
    // A reconnecting EventSource sends the id of the last message it got: it wins over the URL's `after`.
    const lastEventId = ctx.get('last-event-id') || undefined;
    const cursor = lastEventId !== undefined ? { value: lastEventId, path: '$.headers["Last-Event-ID"]' } : { value: q.after, path: '$.after' };
    const start = await position(ctx, q, cursor);
    await assertNotAhead(start.hospitalId, start.after, cursor.path);
    const cfg = feedConfig();

    ctx.req.socket.setTimeout(0);
    ctx.req.socket.setNoDelay(true);
    ctx.req.socket.setKeepAlive(true);
    ctx.status = 200;
    ctx.type = 'text/event-stream';
    ctx.set('Cache-Control', 'no-store');
    ctx.set('X-Accel-Buffering', 'no'); // nginx: pass events through at once
    const stream = new PassThrough();
    ctx.body = stream;

    const left = gone(ctx);
    let closed = false;
    void left.then(() => { closed = true; stream.end(); });
    const write = async (chunk: string) => {
      if (closed) return;
      if (!stream.write(chunk)) await Promise.race([new Promise((r) => stream.once('drain', r)), left]);
    };

    void (async () => {
      let after = start.after;
      await write(sseRetry(cfg.sseRetryMs));
      while (!closed && !hub().closed) {
        const sub = hub().subscribe(start.hospitalId, after);
        const got = await page(start.hospitalId, after, FEED_DEFAULT_LIMIT);
        if (got.items.length) {
          sub.cancel();
          for (const e of got.items) await write(sseFrame(e, encodeCursor({ hospitalId: start.hospitalId, sequence: Number(e.sequence) })));
          after = got.last;
          continue;
        }
        const timer = sleep(cfg.heartbeatMs);
        const woke = await Promise.race([sub.woken.then(() => true), timer.done.then(() => false), left.then(() => true)]);
        timer.cancel();
        sub.cancel();
        if (!woke) await write(sseHeartbeat());
      }
      stream.end();
    })().catch((e) => {
      // The database went away mid-stream: end it; the client reconnects with its Last-Event-ID.
      log.warn({ component: 'feed', err: { message: (e as Error).message } }, 'event stream ended by an error');
      stream.end();
    });
  });

  return r;
}
