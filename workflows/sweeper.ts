// A durable loop that releases reservations left behind by workflows that no longer run. The
// prescription workflows release their own; this is the safety net, on Temporal timers rather than cron.
import { continueAsNew, proxyActivities, sleep } from '@temporalio/workflow';
import type { Activities } from '../activities';

const { sweepExpiredReservations } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '5 seconds', maximumInterval: '5 minutes' },
});

export interface SweeperInput { intervalMs: number; iterationsBeforeContinue?: number }

export async function reservationSweeperWorkflow(input: SweeperInput): Promise<void> {
  // Continue-as-new keeps the history short however long the engine runs.
  for (let i = 0; i < (input.iterationsBeforeContinue ?? 500); i++) {
    await sweepExpiredReservations(200);
    await sleep(input.intervalMs);
  }
  await continueAsNew<typeof reservationSweeperWorkflow>(input);
}
