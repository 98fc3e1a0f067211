// Hospital callbacks, delivered apart from the prescription workflow so a hospital that is down never
// delays review, matching or delivery. One delivery workflow per ordering key (hospital + prescription
// number) sends that key's events one at a time in sequence order, each retried by Temporal with
// exponential backoff until acknowledged or past its horizon. A drainer restarts what nobody started.
import {
  ActivityFailure, continueAsNew, defineSignal, proxyActivities, setHandler, sleep,
} from '@temporalio/workflow';
import type { WebhookActivities } from '../activities/webhooks';
import type { RetrySchedule } from '../domain/hospital-events';

export interface WebhookDeliveryInput { key: string; retry: RetrySchedule; requestTimeoutMs: number }

/** "There may be something new for you": sent with signalWithStart after an event commits. */
export const pokeSignal = defineSignal<[]>('poke');

export const webhookWorkflowId = (key: string) => `webhooks-${key}`;

const store = proxyActivities<WebhookActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

export async function webhookDeliveryWorkflow(input: WebhookDeliveryInput): Promise<number> {
  let pokes = 0;
  setHandler(pokeSignal, () => { pokes += 1; });
  const r = input.retry;
  // Continue-as-new now and then keeps a busy prescription's history short.
  for (let handled = 0; handled < 100; handled++) {
    const seen = pokes;
    const next = await store.nextWebhookDelivery(input.key);
    if (!next) {
      // Nothing pending. A poke that arrived while we looked may be for an event we did not see yet.
      if (pokes === seen) return handled;
      continue;
    }
    const horizonMs = next.giveUpAt - Date.now();
    if (horizonMs <= 0) {
      await store.markWebhookFailed(next.eventId, 'gave up: the retry horizon passed before an attempt');
      continue;
    }
    const send = proxyActivities<WebhookActivities>({
      startToCloseTimeout: input.requestTimeoutMs + 15_000,
      scheduleToCloseTimeout: horizonMs,
      retry: { initialInterval: r.initialMs, backoffCoefficient: r.coefficient, maximumInterval: r.maxMs },
    });
    try {
      await send.deliverWebhook(next.eventId, r, input.requestTimeoutMs);
    } catch (e) {
      if (!(e instanceof ActivityFailure)) throw e;
      await store.markWebhookFailed(next.eventId, 'gave up: the retry horizon passed');
    }
  }
  await continueAsNew<typeof webhookDeliveryWorkflow>(input);
  return 0;
}

export interface WebhookDrainerInput { intervalMs: number; iterationsBeforeContinue?: number }

/** Finds pending deliveries nobody is working on (a crash between commit and start) and restarts them. */
export async function webhookDrainerWorkflow(input: WebhookDrainerInput): Promise<void> {
  for (let i = 0; i < (input.iterationsBeforeContinue ?? 500); i++) {
    await store.drainWebhookOutbox(200);
    await sleep(input.intervalMs);
  }
  await continueAsNew<typeof webhookDrainerWorkflow>(input);
}
