// Wakes the event feed's waiters (long-polls and SSE streams) when a hospital's event commits.
// One PostgreSQL connection per process LISTENs on rxflow_hospital_event (the trigger of migration
// 20261124090000 notifies on commit); each waiter is woken when an event of its hospital with a sequence
// beyond its cursor commits. A notification can be missed (the connection broke, a restart), so while
// anyone waits the hub also polls the per-hospital counters every RX_FEED_POLL_MS: slower, never lost.
// Waking is only a hint: waiters re-read the log, which is the truth.
import type { MikroORM } from '@mikro-orm/postgresql';
import { feedConfig, type FeedConfig } from '../engine/feed-config';
import { log } from '../engine/log';

export const FEED_CHANNEL = 'rxflow_hospital_event';

// pg is MikroORM's PostgreSQL driver (a dependency of @mikro-orm/postgresql); it ships no types of its own.
interface PgNotification { channel: string; payload?: string }
interface PgClient {
  connect(): Promise<void>;
  query(sql: string): Promise<unknown>;
  end(): Promise<void>;
  on(event: 'notification', fn: (n: PgNotification) => void): void;
  on(event: 'error' | 'end', fn: (e?: Error) => void): void;
  removeAllListeners(): void;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const pg = require('pg') as { Client: new (opts: { connectionString: string; application_name?: string }) => PgClient };

interface Waiter { afterSequence: number; wake: () => void }

export interface Subscription {
  /** Resolves once an event of the hospital beyond `afterSequence` may have committed (or the hub closes). */
  woken: Promise<void>;
  cancel(): void;
}

export class FeedHub {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private client?: PgClient;
  private connecting?: Promise<void>;
  private reconnectTimer?: NodeJS.Timeout;
  private pollTimer?: NodeJS.Timeout;
  private polling = false;
  private isClosed = false;
  /** After close(): waiters are released at once and streams end. */
  get closed(): boolean { return this.isClosed; }
  /** True while the LISTEN connection is up (for tests and /health-style checks). */
  listening = false;

  constructor(private readonly databaseUrl: string, private readonly orm: MikroORM, private readonly cfg: FeedConfig = feedConfig()) {}

  /** Register before reading the log, then wait on `woken` if the read was empty: nothing slips between. */
  subscribe(hospitalId: string, afterSequence: number): Subscription {
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => { wake = resolve; });
    const w: Waiter = { afterSequence, wake };
    if (this.isClosed) { wake(); return { woken, cancel() {} }; }
    const set = this.waiters.get(hospitalId) ?? new Set<Waiter>();
    set.add(w);
    this.waiters.set(hospitalId, set);
    this.ensureListening();
    this.ensurePolling();
    return {
      woken,
      cancel: () => {
        set.delete(w);
        if (!set.size && this.waiters.get(hospitalId) === set) this.waiters.delete(hospitalId);
        if (!this.waiters.size) this.stopPolling();
      },
    };
  }

  /** Wakes the hospital's waiters whose cursor is below `sequence`. */
  notify(hospitalId: string, sequence: number): void {
    const set = this.waiters.get(hospitalId);
    if (!set) return;
    for (const w of [...set]) if (sequence > w.afterSequence) { set.delete(w); w.wake(); }
    if (!set.size) this.waiters.delete(hospitalId);
  }

  private wakeAll(): void {
    for (const set of this.waiters.values()) for (const w of set) w.wake();
    this.waiters.clear();
  }

  private ensureListening(): void {
    if (this.client || this.connecting || this.reconnectTimer || this.isClosed) return;
    this.connecting = this.connect().finally(() => { this.connecting = undefined; });
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.databaseUrl, application_name: 'rxflow-feed-listener' });
    const broken = (e?: Error) => {
      if (this.client !== client) return;
      this.client = undefined;
      this.listening = false;
      client.removeAllListeners();
      client.on('error', () => {}); // a late error on the dead connection must not crash the process
      void client.end().catch(() => {});
      if (this.isClosed) return;
      log.warn({ component: 'feed', err: e ? { message: e.message } : undefined }, 'event feed listener lost; polling until it is back');
      this.scheduleReconnect();
    };
    try {
      client.on('error', (e) => broken(e));
      client.on('end', () => broken());
      client.on('notification', (n) => {
        if (n.channel !== FEED_CHANNEL || !n.payload) return;
        const i = n.payload.lastIndexOf(':');
        this.notify(n.payload.slice(0, i), Number(n.payload.slice(i + 1)));
      });
      this.client = client;
      await client.connect();
      await client.query(`listen ${FEED_CHANNEL}`);
      if (this.isClosed) { await this.shutdownClient(); return; }
      this.listening = true;
      // Anything committed while nobody listened: let every waiter re-read.
      this.wakeAll();
    } catch (e) {
      broken(e as Error);
    }
  }

  private scheduleReconnect(): void {
    if (this.reconnectTimer || this.isClosed) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.waiters.size) this.ensureListening();
    }, this.cfg.reconnectMs);
    this.reconnectTimer.unref();
  }

  private ensurePolling(): void {
    if (this.pollTimer || this.isClosed) return;
    this.pollTimer = setInterval(() => void this.poll(), this.cfg.pollMs);
    this.pollTimer.unref();
  }

  private stopPolling(): void {
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
  }

  /** The fallback: the committed head of each waited-on hospital's log. */
  async poll(): Promise<void> {
    if (this.polling || !this.waiters.size) return;
    this.polling = true;
    try {
      const ids = [...this.waiters.keys()];
      const rows = await this.orm.em.fork().getConnection().execute<{ hospital_id: string; last_sequence: string }[]>(
        `select hospital_id, last_sequence from hospital_event_counter where hospital_id in (${ids.map(() => '?').join(', ')})`, ids);
      for (const r of rows) this.notify(r.hospital_id, Number(r.last_sequence));
      // While LISTEN is down, keep trying to get it back.
      if (!this.client && !this.connecting) this.ensureListening();
    } catch (e) {
      log.warn({ component: 'feed', err: { message: (e as Error).message } }, 'event feed poll failed');
    } finally {
      this.polling = false;
    }
  }

  private async shutdownClient(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    this.listening = false;
    if (!c) return;
    c.removeAllListeners();
    c.on('error', () => {});
    await c.end().catch(() => {});
  }

  /** Ends the listening connection and releases every waiter (they re-read once and answer). */
  async close(): Promise<void> {
    this.isClosed = true;
    this.stopPolling();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.wakeAll();
    await this.connecting?.catch(() => {});
    await this.shutdownClient();
  }
}

// One hub per process (per ORM, i.e. per database the process serves): the API's routes share it however
// many clients wait. A closed hub stays closed, so requests during shutdown answer at once.
const hubs = new WeakMap<MikroORM, FeedHub>();

export function feedHub(databaseUrl: string, orm: MikroORM): FeedHub {
  let hub = hubs.get(orm);
  if (!hub) { hub = new FeedHub(databaseUrl, orm); hubs.set(orm, hub); }
  return hub;
}

/** Called when the process's services close (engine/runtime.ts), before the ORM closes. */
export async function closeFeedHub(orm: MikroORM): Promise<void> {
  const hub = hubs.get(orm) ?? new FeedHub('', orm);
  hubs.set(orm, hub);
  await hub.close();
}
