// The same workflow types after a code change (see v1.ts): a history v1 wrote no longer replays.
import { proxyActivities, sleep } from '@temporalio/workflow';
import type { ProbeActivities, ProbeInput } from './types';

const acts = (input: ProbeInput) => proxyActivities<ProbeActivities>({ taskQueue: input.activityQueue, startToCloseTimeout: '30 seconds' });

export async function ndeActivityProbe(input: ProbeInput): Promise<string> {
  await acts(input).stepB(input.key);
  return 'v2';
}

export async function ndeTimerProbe(input: ProbeInput): Promise<string> {
  await sleep(10);
  await acts(input).stepB(input.key);
  return 'v2';
}

export async function brokenProbe(_input: ProbeInput): Promise<string> {
  throw new Error('probe: a bug in the workflow code');
}
