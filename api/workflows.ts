// The API's side of the workflow: start it once, ask its state, and deliver people's decisions as
// Temporal updates, so a decision the workflow cannot take (wrong state, wrong party) is refused at once.
import { createHash } from 'node:crypto';
import { WorkflowIdReusePolicy } from '@temporalio/common';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { prescriptionWorkflow, stateQuery, type PrescriptionWorkflowInput, type WorkflowState } from '../workflows/prescription';
import type { UpdateDefinition } from '@temporalio/common';
import { ApiError, type ErrorDetail } from './errors';
import { localActivitiesEnabled } from '../engine/config';

const START_DEADLINE_MS = 5_000;

/**
 * Starts made (or in flight) in this process, by namespace and workflow id. A duplicate push finds the row
 * still `received` until the workflow's first step runs, and starts again in case the first start was
 * lost; 1,000 simultaneous duplicates made 1,000 start calls, and Temporal's answers passed the deadline
 * (503s, tests/integration/concurrency.test.ts). A start that succeeded cannot be lost, so the duplicates
 * share the first call; a failed one is forgotten, so the next push tries again.
 */
const starts = new Map<string, Promise<void>>();
const REMEMBERED_STARTS = 50_000;

export function startPrescriptionWorkflow(client: Client, taskQueue: string, workflowId: string, input: PrescriptionWorkflowInput): Promise<void> {
  const key = `${client.options.namespace}/${workflowId}`;
  const known = starts.get(key);
  if (known) return known;
  const started = startOnce(client, taskQueue, workflowId, input).catch((e) => { starts.delete(key); throw e; });
  if (starts.size >= REMEMBERED_STARTS) starts.delete(starts.keys().next().value!);
  starts.set(key, started);
  return started;
}

async function startOnce(client: Client, taskQueue: string, workflowId: string, input: PrescriptionWorkflowInput): Promise<void> {
  try {
    // A hospital waits at most a few seconds: if Temporal cannot take the start, it hears 503 and pushes
    // again; the stored prescription starts then, under the same workflow id.
    await client.connection.withDeadline(Date.now() + START_DEADLINE_MS, () => client.workflow.start(prescriptionWorkflow, {
      taskQueue,
      workflowId,
      args: [localActivitiesEnabled() ? { ...input, localActivities: true } : input],
      // A workflow id is used once, ever: a repeated push can never start a second workflow.
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
    }));
  } catch (e) {
    if (!(e instanceof WorkflowExecutionAlreadyStartedError)) throw e;
  }
}

export async function workflowState(client: Client, workflowId: string): Promise<WorkflowState | null> {
  try {
    return await client.workflow.getHandle(workflowId).query(stateQuery);
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) return null;
    throw e;
  }
}

const CONFLICT_TYPES = new Set(['NotAwaitingReview', 'NotOffered', 'NotAssigned', 'IllegalDeliveryTransition', 'NotCancellable', 'NotDispensable', 'TRACE_CODE_REUSED', 'ALREADY_FILLED', 'NotAwaitingCollection', 'NotPartiallyDispensed',
  'ColdChainHold', 'NotOnHold', 'FulfilmentLocked']);

/**
 * The update's id: the same decision sent again (a client retrying after a timeout or a 503, when the first
 * call had in fact been applied) carries the same id, so Temporal answers it with the first call's result
 * instead of refusing it as out of turn. A different decision has a different id.
 */
export function updateIdOf(workflowId: string, name: string, arg: unknown): string {
  return `${name}-${createHash('sha256').update(`${workflowId}\n${name}\n${JSON.stringify(arg)}`).digest('hex').slice(0, 40)}`;
}

export async function sendUpdate<Arg>(client: Client, workflowId: string, def: UpdateDefinition<WorkflowState, [Arg]>, arg: Arg): Promise<WorkflowState> {
  try {
    return await client.workflow.getHandle(workflowId).executeUpdate(def, { args: [arg], updateId: updateIdOf(workflowId, def.name, arg) });
  } catch (e) {
    if (e instanceof WorkflowUpdateFailedError && e.cause instanceof ApplicationFailure) {
      const type = e.cause.type ?? 'UPDATE_REFUSED';
      const code = type.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase();
      const details = Array.isArray(e.cause.details?.[0]) ? (e.cause.details[0] as ErrorDetail[]) : [];
      throw new ApiError(CONFLICT_TYPES.has(type) ? 409 : 422, code, e.cause.message, details);
    }
    if (e instanceof WorkflowNotFoundError) throw new ApiError(409, 'WORKFLOW_CLOSED', 'this prescription is no longer in progress');
    // A closed workflow refuses updates with a service error.
    if (e instanceof Error && /workflow execution already completed/i.test(e.message)) throw new ApiError(409, 'WORKFLOW_CLOSED', 'this prescription is no longer in progress');
    throw e;
  }
}
