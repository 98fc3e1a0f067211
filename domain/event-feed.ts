// The hospital event feed's pure parts: cursors and Server-Sent Events frames (docs/events.md).
// A cursor names a position in ONE tenant's event log: "after sequence n of hospital h". It is opaque to
// clients (base64url), versioned so its form can change without breaking stored cursors, and carries the
// tenant so a cursor can never be replayed against another hospital's feed.
import type { CloudEvent } from './hospital-events';

export const FEED_DEFAULT_LIMIT = 100;
export const FEED_MAX_LIMIT = 500;
export const FEED_MAX_WAIT_S = 30;

export interface FeedPosition { hospitalId: string; sequence: number }

const CURSOR_V1 = /^v1:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}):(0|[1-9][0-9]{0,15})$/;

export function encodeCursor(p: FeedPosition): string {
  return Buffer.from(`v1:${p.hospitalId}:${p.sequence}`, 'utf8').toString('base64url');
}

/** The position a cursor names, or null for anything that is not a cursor we issued (any tenant). */
export function decodeCursor(cursor: string): FeedPosition | null {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) return null;
  const m = CURSOR_V1.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) return null;
  const sequence = Number(m[2]);
  return Number.isSafeInteger(sequence) ? { hospitalId: m[1], sequence } : null;
}

/** One SSE message per event: `id:` is the cursor after it, so a reconnect's Last-Event-ID resumes there. */
export function sseFrame(event: CloudEvent, cursor: string): string {
  // JSON.stringify escapes newlines, so the data is always one line.
  return `id: ${cursor}\ndata: ${JSON.stringify(event)}\n\n`;
}

/** A comment line: keeps proxies from closing an idle stream, ignored by EventSource. */
export const sseHeartbeat = (): string => `: heartbeat\n\n`;

/** Tells EventSource how long to wait before reconnecting. */
export const sseRetry = (ms: number): string => `retry: ${Math.round(ms)}\n\n`;
