// The event feed's settings (docs/events.md §7), apart from engine/config.ts like the webhook settings.
import { envNumber } from './env';
const num = (name: string, fallback: number, min = 0) => envNumber(name, fallback, min);

export interface FeedConfig {
  /** Waiters also re-check the log this often: the fallback when a notification was missed or LISTEN is down. */
  pollMs: number;
  /** An SSE stream with nothing to say sends a comment this often, so proxies keep it open. */
  heartbeatMs: number;
  /** The `retry:` an SSE client is told to wait before reconnecting. */
  sseRetryMs: number;
  /** After the listening connection broke, the next attempt comes this much later. */
  reconnectMs: number;
}

export function loadFeedConfig(): FeedConfig {
  return {
    pollMs: num('RX_FEED_POLL_MS', 5_000, 50),
    heartbeatMs: num('RX_FEED_HEARTBEAT_MS', 15_000, 100),
    sseRetryMs: num('RX_FEED_SSE_RETRY_MS', 3_000),
    reconnectMs: num('RX_FEED_RECONNECT_MS', 2_000, 10),
  };
}

let cached: FeedConfig | undefined;
export const feedConfig = () => (cached ??= loadFeedConfig());
