// The same workflow types after a code change (see v1.ts): a history v1 wrote no longer replays.
import { defineUpdate, setHandler, proxyActivities, sleep } from '@temporalio/workflow';
import type { ProbeActivities, ProbeInput } from './types';

/** A partner's update, as the crash run's deliveryStatus: it must survive a reset. */
export const noteUpdate = defineUpdate<number>('note');

const acts = (input: ProbeInput) => proxyActivities<ProbeActivities>({ taskQueue: input.activityQueue, startToCloseTimeout: '30 seconds' });

export async function ndeActivityProbe(input: ProbeInput): Promise<string> {
  let notes = 0;
  setHandler(noteUpdate, () => ++notes);
  await acts(input).stepB(input.key);
  return `v2:${notes}`;
}

export async function ndeTimerProbe(input: ProbeInput): Promise<string> {
  let notes = 0;
  setHandler(noteUpdate, () => ++notes);
  await sleep(10);
  await acts(input).stepB(input.key);
  return `v2:${notes}`;
}

export async function brokenProbe(_input: ProbeInput): Promise<string> {
  throw new Error('probe: a bug in the workflow code');
}
