// The CLI's view of a prescription's Temporal workflow: its run, pending activities, state query and UI link.
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { stateQuery, type WorkflowState } from '../../workflows/prescription';
import type { Config } from '../config';

export interface PendingActivity { activityType: string; attempt: number; state: string; lastFailure: string | null; lastStartedAt: string | null }
export interface RunInfo {
  found: boolean;
  status?: string;      // RUNNING, COMPLETED, FAILED, TERMINATED, TIMED_OUT, CANCELLED, CONTINUED_AS_NEW
  runId?: string;
  taskQueue?: string;
  startTime?: string;
  closeTime?: string | null;
  historyLength?: number;
  pendingActivities: PendingActivity[];
  /** The pending workflow task's attempt: 2 or more means it failed (or timed out) before. */
  workflowTaskAttempt?: number;
}

const QUERY_DEADLINE_MS = 5_000;

export async function describeRun(client: Client, workflowId: string): Promise<RunInfo> {
  try {
    const d = await client.workflow.getHandle(workflowId).describe();
    const pending = (d.raw.pendingActivities ?? []).map((a) => ({
      activityType: a.activityType?.name ?? '?',
      attempt: a.attempt ?? 0,
      state: String(temporal.api.enums.v1.PendingActivityState[a.state ?? 0] ?? a.state).replace(/^PENDING_ACTIVITY_STATE_/, ''),
      lastFailure: a.lastFailure?.message ?? null,
      lastStartedAt: a.lastStartedTime?.seconds ? new Date(Number(a.lastStartedTime.seconds) * 1000).toISOString() : null,
    }));
    return {
      found: true, status: d.status.name, runId: d.runId, taskQueue: d.taskQueue, startTime: d.startTime.toISOString(),
      closeTime: d.closeTime ? d.closeTime.toISOString() : null, historyLength: d.historyLength, pendingActivities: pending,
      workflowTaskAttempt: d.raw.pendingWorkflowTask?.attempt ?? 0,
    };
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) return { found: false, pendingActivities: [] };
    throw e;
  }
}

/** The workflow's own `state` query; only a running workflow with a worker answers, within a few seconds. */
export async function queryState(client: Client, workflowId: string): Promise<{ state: WorkflowState | null; error?: string }> {
  try {
    const state = await client.connection.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => client.workflow.getHandle(workflowId).query(stateQuery));
    return { state };
  } catch (e) {
    const msg = (e as Error).message ?? String(e);
    return { state: null, error: `${/deadline/i.test(msg) ? `no answer within ${QUERY_DEADLINE_MS / 1000}s` : msg} (is a worker polling the task queue?)` };
  }
}

export function temporalUiLink(config: Config, workflowId: string, runId?: string): string {
  const base = `${config.temporalUiUrl.replace(/\/$/, '')}/namespaces/${encodeURIComponent(config.temporalNamespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return runId ? `${base}/${runId}/history` : base;
}
