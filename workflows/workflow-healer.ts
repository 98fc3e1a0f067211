// A durable loop that heals prescription workflows stuck on a nondeterminism error (activities/
// workflow-health.ts, docs/reliability.md): each round looks at the next batch of open prescriptions whose
// status has stood still, and resets the ones whose workflow task keeps failing that way.
import { continueAsNew, proxyActivities, sleep } from '@temporalio/workflow';
import type { HealCursor, WorkflowHealthActivities } from '../activities/workflow-health';

const { healFailingWorkflows } = proxyActivities<WorkflowHealthActivities>({
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '5 seconds', maximumInterval: '5 minutes' },
});

export interface WorkflowHealerInput { intervalMs: number; iterationsBeforeContinue?: number; after?: HealCursor | null }

export async function workflowHealerWorkflow(input: WorkflowHealerInput): Promise<void> {
  // The cursor walks all stale open prescriptions batch by batch, then starts over.
  let after = input.after ?? null;
  for (let i = 0; i < (input.iterationsBeforeContinue ?? 200); i++) {
    after = (await healFailingWorkflows(after)).next;
    await sleep(input.intervalMs);
  }
  await continueAsNew<typeof workflowHealerWorkflow>({ ...input, after });
}
