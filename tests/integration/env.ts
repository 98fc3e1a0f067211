// Configuration of the engine under test: its own database, index prefix and task queue, and timers
// short enough to exercise every timeout branch in seconds.
import path from 'node:path';

export function applyTestEnv(): void {
  const base = process.env.DATABASE_URL ?? 'postgres://rxflow:rxflow@127.0.0.1:55432/rxflow_test';
  process.env.DATABASE_URL = base;
  process.env.RX_INDEX_PREFIX ??= 'rxtest';
  process.env.RX_TASK_QUEUE ??= `rxflow-test-${process.pid}`;
  process.env.RX_FILES_DIR ??= path.resolve(__dirname, '../../.stack/test-files');
  // The engine's structured log, read by tests/integration/logging.test.ts.
  process.env.RX_LOG_FILE ??= path.resolve(__dirname, `../../.stack/test-artifacts/engine-${process.env.RX_INDEX_PREFIX}.log`);
  process.env.RX_API_PORT = '0';
  process.env.RX_REVIEW_SLA_MS ??= '60000';
  process.env.RX_PHARMACY_RESPONSE_MS ??= '4000';
  process.env.RX_DELIVERY_TIMEOUT_MS ??= '60000';
  process.env.RX_DELIVERY_RETURN_MS ??= '60000';
  process.env.RX_FOLLOWUP_ADHERENCE_MS ??= '300';
  process.env.RX_FOLLOWUP_ADVERSE_MS ??= '600';
  process.env.RX_FOLLOWUP_REFILL_MS ??= '900';
  // The follow-up plan (docs/follow-up.md): a plan day lasts 100 ms, a step waits 2 s for its answer (and
  // 2 s more after the reminder), so a test can answer in time and an unanswered plan ends in seconds.
  process.env.RX_FOLLOWUP_DAY_MS ??= '100';
  process.env.RX_FOLLOWUP_RESPONSE_WINDOW_MS ??= '2000';
  // Opening hours are checked at a fixed time of day, so the journeys do not depend on when CI runs.
  process.env.RX_MATCH_AT ??= '10:30';
  // Hospital callbacks retry within seconds and the drainer looks often, so the webhook tests take seconds.
  process.env.RX_WEBHOOK_INITIAL_RETRY_MS ??= '200';
  process.env.RX_WEBHOOK_MAX_RETRY_MS ??= '1000';
  process.env.RX_WEBHOOK_DRAIN_INTERVAL_MS ??= '1000';
  process.env.RX_WEBHOOK_DRAIN_GRACE_MS ??= '2000';
  process.env.RX_WEBHOOK_TIMEOUT_MS ??= '3000';
  // The event feed's SSE heartbeat comes within a second, so the feed test sees one without waiting long.
  process.env.RX_FEED_HEARTBEAT_MS ??= '1000';
  // No SMS gateway: the proof-of-delivery codes sent to patients land in this file (docs/delivery.md).
  process.env.RX_SMS_OUTBOX ??= path.resolve(__dirname, `../../.stack/test-artifacts/sms-${process.env.RX_INDEX_PREFIX}.jsonl`);
  // An undecided cold-chain excursion is escalated within a couple of seconds, so the escalation is seen.
  process.env.RX_COLD_CHAIN_DECISION_MS ??= '1500';
  process.env.NODE_ENV = 'test';
}
