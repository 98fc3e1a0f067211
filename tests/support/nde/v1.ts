// Test-only workflows, as first deployed (tests/integration/workflow-health.test.ts): v2.ts is the "new
// code" a restarted worker brings, which replays v1's histories differently — a genuine nondeterminism
// error, the way a worker crash made one in the crash run (docs/reliability.md).
import { defineUpdate, setHandler, proxyActivities } from '@temporalio/workflow';
import type { ProbeActivities, ProbeInput } from './types';

/** A partner's update, as the crash run's deliveryStatus: it must survive a reset. */
export const noteUpdate = defineUpdate<number>('note');

const acts = (input: ProbeInput) => proxyActivities<ProbeActivities>({ taskQueue: input.activityQueue, startToCloseTimeout: '30 seconds' });

/** Schedules stepA (v2 schedules stepB in its place). */
export async function ndeActivityProbe(input: ProbeInput): Promise<string> {
  let notes = 0;
  setHandler(noteUpdate, () => ++notes);
  await acts(input).stepA(input.key);
  return `v1:${notes}`;
}

/** Schedules stepA (v2 starts a timer in its place). */
export async function ndeTimerProbe(input: ProbeInput): Promise<string> {
  let notes = 0;
  setHandler(noteUpdate, () => ++notes);
  await acts(input).stepA(input.key);
  return `v1:${notes}`;
}

/** A bug: a plain Error fails the workflow task (not the workflow), on every attempt. */
export async function brokenProbe(_input: ProbeInput): Promise<string> {
  throw new Error('probe: a bug in the workflow code');
}
