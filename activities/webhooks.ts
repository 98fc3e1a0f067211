// Webhook delivery activities: one signed HTTP POST per attempt, its outcome written to webhook_delivery.
// Temporal retries a failed attempt with exponential backoff (workflows/webhooks.ts); each attempt is
// recorded so the status view shows attempts, the last error and the next attempt.
import type { MikroORM } from '@mikro-orm/postgresql';
import { Context } from '@temporalio/activity';
import { ApplicationFailure, ApplicationFailureCategory } from '@temporalio/common';
import type { Client as TemporalClient } from '@temporalio/client';
import { isAcknowledged, retryDelayMs, type RetrySchedule } from '../domain/hospital-events';
import { openSecret, webhookConfig } from '../engine/webhook-config';
import { signWebhook } from '../sdk/webhook';
import { pokeSignal, webhookDeliveryWorkflow, webhookWorkflowId, type WebhookDeliveryInput } from '../workflows/webhooks';

export interface StoredSecret { id: string; sealed: string; createdAt: string; expiresAt: string | null }

/** Secrets that still sign, newest first. */
export function activeSecrets(secrets: StoredSecret[], now = Date.now()): StoredSecret[] {
  return secrets.filter((s) => !s.expiresAt || Date.parse(s.expiresAt) > now).sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
}

export const USER_AGENT = 'rxflow-webhooks/1';

export interface WebhookActivityDeps { orm: MikroORM; temporal?: TemporalClient; taskQueue: string }

export function createWebhookActivities({ orm, temporal, taskQueue }: WebhookActivityDeps) {
  const sql = <T = any>(query: string, params: unknown[] = []) => orm.em.fork().getConnection().execute(query, params) as Promise<T[]>;

  async function fail(eventId: string, reason: string): Promise<void> {
    await sql(`update webhook_delivery set status = 'failed', failed_at = now(), next_attempt_at = null,
                 last_error = coalesce(last_error, ?) where event_id = ? and status = 'pending'`, [reason.slice(0, 500), eventId]);
  }

  return {
    /** The oldest pending delivery of one ordering key (one prescription number), or null. */
    async nextWebhookDelivery(key: string): Promise<{ eventId: string; giveUpAt: number } | null> {
      const [row] = await sql<{ event_id: string; give_up_at: Date }>(
        `select event_id, give_up_at from webhook_delivery where ordering_key = ? and status = 'pending' order by sequence limit 1`, [key]);
      return row ? { eventId: row.event_id, giveUpAt: new Date(row.give_up_at).getTime() } : null;
    },

    /**
     * One attempt. Answers once the receiver acknowledged (2xx), or when the delivery is no longer
     * pending or past its horizon (then marked failed); otherwise throws, and Temporal tries again later.
     */
    async deliverWebhook(eventId: string, retry: RetrySchedule, requestTimeoutMs: number): Promise<'delivered' | 'failed' | 'skipped'> {
      const [d] = await sql<{ status: string; give_up_at: Date; envelope: unknown; url: string | null; secrets: StoredSecret[] | null }>(
        `select d.status, d.give_up_at, e.envelope, w.url, w.secrets
           from webhook_delivery d join hospital_event e on e.id = d.event_id left join webhook_endpoint w on w.hospital_id = d.hospital_id
          where d.event_id = ?`, [eventId]);
      if (!d || d.status !== 'pending') return 'skipped';
      const secrets = d.secrets ? activeSecrets(d.secrets) : [];
      if (!d.url || !secrets.length) { await fail(eventId, 'the hospital has no webhook registered any more'); return 'failed'; }

      const body = JSON.stringify(d.envelope);
      const attempt = Context.current().info.attempt;
      let status: number | null = null;
      let error: string | null = null;
      try {
        const res = await fetch(d.url, {
          method: 'POST',
          // A redirect is not an acknowledgement, and following one could reach a host nobody registered.
          redirect: 'manual',
          signal: AbortSignal.timeout(requestTimeoutMs),
          headers: {
            'content-type': 'application/cloudevents+json; charset=utf-8',
            'user-agent': USER_AGENT,
            'x-rxflow-event-id': (d.envelope as { id: string }).id,
            'x-rxflow-event-type': (d.envelope as { type: string }).type,
            'x-rxflow-delivery-attempt': String(attempt),
            'x-rxflow-signature': signWebhook(secrets.map((s) => openSecret(s.sealed)), body),
          },
          body,
        });
        status = res.status;
        if (!isAcknowledged(res.status)) error = `HTTP ${res.status}${await snippet(res)}`;
        else await res.body?.cancel();
      } catch (e) {
        const err = e as Error & { cause?: { code?: string; message?: string } };
        error = err.name === 'TimeoutError' ? `no answer within ${requestTimeoutMs} ms` : `${err.cause?.code ?? err.name}: ${err.cause?.message ?? err.message}`;
      }
      const ok = error === null;
      const now = Date.now();
      const giveUpAt = new Date(d.give_up_at).getTime();
      const next = ok || now >= giveUpAt ? null : new Date(Math.min(now + retryDelayMs(retry, attempt), giveUpAt));
      await sql(
        `update webhook_delivery set attempts = attempts + 1, last_attempt_at = now(), last_status = ?, last_error = coalesce(?, last_error),
           status = ?, delivered_at = case when ? then now() else delivered_at end, failed_at = case when ? then now() else failed_at end, next_attempt_at = ?
         where event_id = ? and status = 'pending'`,
        [status, error?.slice(0, 500) ?? null, ok ? 'delivered' : next ? 'pending' : 'failed', ok, !ok && !next, next, eventId]);
      if (ok) return 'delivered';
      if (!next) return 'failed'; // the horizon passed: visible as failed; a redelivery can be requested
      // Benign: a hospital being down is expected, not an engine fault (logged at DEBUG, not WARN per attempt).
      throw ApplicationFailure.create({ message: error!, type: 'WebhookNotAcknowledged', category: ApplicationFailureCategory.BENIGN });
    },

    /** The workflow gave up (its schedule-to-close horizon ran out mid-retry). */
    async markWebhookFailed(eventId: string, reason: string): Promise<void> {
      await fail(eventId, reason);
    },

    /**
     * Safety net for a crash between an event's commit and its delivery workflow's start: nudges every
     * ordering key whose oldest pending delivery is overdue. A nudge to a running workflow is harmless.
     */
    async drainWebhookOutbox(limit: number): Promise<{ kicked: number }> {
      const cfg = webhookConfig();
      const rows = await sql<{ ordering_key: string }>(
        `select ordering_key from (
           select distinct on (ordering_key) ordering_key, coalesce(next_attempt_at, created_at) as due
             from webhook_delivery where status = 'pending' order by ordering_key, sequence) heads
          where due < now() - (? * interval '1 millisecond') order by due limit ?`, [cfg.drainGraceMs, limit]);
      if (rows.length && temporal) await kickWebhookDeliveries(temporal, taskQueue, rows.map((r) => r.ordering_key), true);
      return { kicked: rows.length };
    },
  };
}

async function snippet(res: Response): Promise<string> {
  try {
    const text = (await res.text()).replace(/\s+/g, ' ').trim().slice(0, 200);
    return text ? `: ${text}` : '';
  } catch {
    return '';
  }
}

/**
 * Starts (or nudges) the delivery workflow of each ordering key. Best effort: an error here loses
 * nothing, the drainer finds the pending rows. `wait` makes the drainer see its own errors.
 */
export async function kickWebhookDeliveries(temporal: TemporalClient, taskQueue: string, keys: string[], wait = false): Promise<void> {
  const cfg = webhookConfig();
  const input = (key: string): WebhookDeliveryInput => ({ key, retry: cfg.retry, requestTimeoutMs: cfg.requestTimeoutMs });
  const all = Promise.all(keys.map((key) => temporal.workflow.signalWithStart(webhookDeliveryWorkflow, {
    taskQueue, workflowId: webhookWorkflowId(key), args: [input(key)], signal: pokeSignal, signalArgs: [],
  })));
  if (wait) { await all; return; }
  all.catch(() => { /* the drainer will find them */ });
}

export type WebhookActivities = ReturnType<typeof createWebhookActivities>;
