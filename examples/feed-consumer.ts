// A reference consumer of rxflow's events (docs/events.md): it replays the feed from a stored cursor,
// tails it by long-polling, takes webhooks too (verified with sdk/webhook.ts), and hands each event to
// your code ONCE, deduplicated by event id, whichever way it came. Restart it and it carries on from the
// cursor it stored; an event it had already handled before the restart is not handled again.
//
//   RXFLOW_URL=https://rxflow.example RXFLOW_API_KEY=… RXFLOW_STATE=./rxflow-feed.json \
//   RXFLOW_WEBHOOK_SECRET=whsec_… PORT=8080 node --import tsx examples/feed-consumer.ts
//
// It prints one JSON line per event; replace `onEvent` with your own handling (make it idempotent anyway:
// if the process dies after your handling and before the state file is written, the event comes again).
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { EVENT_ID_HEADER, verifyWebhook, WebhookVerificationError, type RxflowEvent } from '../sdk/webhook';

export interface ConsumerOptions {
  baseUrl: string;
  apiKey: string;
  /** JSON file holding the cursor and the ids handled lately; written atomically after every batch. */
  stateFile: string;
  onEvent: (e: RxflowEvent, via: 'feed' | 'webhook') => unknown | Promise<unknown>;
  /** Webhook secrets (two during a rotation); without them webhooks are refused. */
  webhookSecrets?: string[];
  limit?: number;
  /** How many recent ids to remember for deduplication. */
  remember?: number;
}

interface State { cursor: string | null; seen: string[] }

export class FeedConsumer {
  private state: State;
  private seen: Set<string>;
  private queue: Promise<unknown> = Promise.resolve(); // one event at a time, feed and webhooks alike

  constructor(private readonly o: ConsumerOptions) {
    this.state = fs.existsSync(o.stateFile) ? JSON.parse(fs.readFileSync(o.stateFile, 'utf8')) as State : { cursor: null, seen: [] };
    this.seen = new Set(this.state.seen);
  }

  get cursor(): string | null { return this.state.cursor; }

  /** One page of the feed after the stored cursor (waiting up to `waitSeconds` for new events); returns how many were new. */
  async pollOnce(waitSeconds = 0): Promise<{ fresh: number; hasMore: boolean }> {
    const q = new URLSearchParams({ limit: String(this.o.limit ?? 100), ...(waitSeconds ? { wait: String(waitSeconds) } : {}), ...(this.state.cursor ? { after: this.state.cursor } : {}) });
    const res = await fetch(`${this.o.baseUrl}/v1/events?${q}`, { headers: { authorization: `Bearer ${this.o.apiKey}` } });
    if (!res.ok) throw new Error(`feed answered ${res.status}: ${await res.text()}`);
    const page = await res.json() as { items: RxflowEvent[]; next: string; hasMore: boolean };
    return this.serial(async () => {
      let fresh = 0;
      for (const e of page.items) if (await this.handle(e, 'feed', false)) fresh++;
      this.state.cursor = page.next; // only after the whole page is handled
      this.save();
      return { fresh, hasMore: page.hasMore };
    });
  }

  /** Replays everything after the stored cursor, until the feed has nothing more right now. */
  async catchUp(): Promise<number> {
    let total = 0;
    for (;;) {
      const { fresh, hasMore } = await this.pollOnce(0);
      total += fresh;
      if (!hasMore) return total;
    }
  }

  /** Tails the feed by long-polling until `signal` aborts; errors back off and retry (the cursor is safe). */
  async run(signal: AbortSignal, waitSeconds = 25): Promise<void> {
    let backoff = 1000;
    while (!signal.aborted) {
      try { await this.pollOnce(waitSeconds); backoff = 1000; } catch (e) {
        process.stderr.write(`feed: ${(e as Error).message}; retrying in ${backoff} ms\n`);
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 60_000);
      }
    }
  }

  /** A webhook request: verify the signature over the raw body, dedupe, handle. Returns the HTTP status to answer. */
  async webhook(headers: Record<string, string | string[] | undefined>, rawBody: Buffer): Promise<number> {
    let event: RxflowEvent;
    try {
      event = verifyWebhook(this.o.webhookSecrets ?? [], headers, rawBody);
    } catch (e) {
      if (e instanceof WebhookVerificationError) return e.code === 'BODY_NOT_JSON' ? 400 : 401;
      return 401; // no secret configured
    }
    await this.serial(async () => { await this.handle(event, 'webhook', true); });
    return 204; // a duplicate is acknowledged too, or rxflow would keep retrying it
  }

  /** An HTTP server for webhooks (POST any path). */
  listen(port: number, host = '0.0.0.0'): Promise<http.Server> {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.method !== 'POST') { res.statusCode = 405; res.end(); return; }
        this.webhook(req.headers, Buffer.concat(chunks)).then((status) => { res.statusCode = status; res.end(); }, () => { res.statusCode = 500; res.end(); });
      });
    });
    return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
  }

  private async handle(e: RxflowEvent, via: 'feed' | 'webhook', save: boolean): Promise<boolean> {
    if (this.seen.has(e.id)) return false;
    await this.o.onEvent(e, via);
    this.seen.add(e.id);
    this.state.seen.push(e.id);
    const keep = this.o.remember ?? 10_000;
    if (this.state.seen.length > keep) this.state.seen.splice(0, this.state.seen.length - keep).forEach((id) => this.seen.delete(id));
    if (save) this.save();
    return true;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private save(): void {
    const tmp = `${this.o.stateFile}.${process.pid}.tmp`;
    fs.mkdirSync(path.dirname(this.o.stateFile), { recursive: true });
    fs.writeFileSync(tmp, JSON.stringify(this.state));
    fs.renameSync(tmp, this.o.stateFile); // atomic: a crash leaves the old state or the new, never half
  }
}

export { EVENT_ID_HEADER };

if (require.main === module) {
  const env = (k: string) => process.env[k] ?? (() => { throw new Error(`set ${k}`); })();
  const consumer = new FeedConsumer({
    baseUrl: env('RXFLOW_URL'), apiKey: env('RXFLOW_API_KEY'), stateFile: process.env.RXFLOW_STATE ?? './rxflow-feed.json',
    webhookSecrets: process.env.RXFLOW_WEBHOOK_SECRET?.split(',').filter(Boolean),
    onEvent: (e, via) => { process.stdout.write(`${JSON.stringify({ via, id: e.id, sequence: e.sequence, type: e.type, subject: e.subject, status: (e.data as { status?: string }).status })}\n`); },
  });
  const stop = new AbortController();
  process.on('SIGINT', () => stop.abort());
  process.on('SIGTERM', () => stop.abort());
  (async () => {
    if (consumer['o'].webhookSecrets?.length) await consumer.listen(Number(process.env.PORT ?? 8080));
    await consumer.run(stop.signal);
    process.exit(0);
  })().catch((e) => { process.stderr.write(`${e.stack ?? e}\n`); process.exit(1); });
}
