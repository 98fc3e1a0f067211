// In-flight workflows replay their history against the current code (docs/architecture.md, "Changing
// the workflow"). The fixture is a full-dispense journey — review, accept, dispense, delivery,
// follow-ups, completed — recorded with the workflow as it was before partial fills (main at df4791f),
// stored as the base64 protobuf History. Replaying it proves the happy path's command sequence is unchanged.
import { Worker } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import fs from 'node:fs';
import path from 'node:path';
import { workflowBundle } from '../../engine/runtime';
import { applyTestEnv } from './env';

applyTestEnv();

const load = (name: string) => temporal.api.history.v1.History.decode(Buffer.from(fs.readFileSync(path.join(__dirname, 'fixtures', name), 'utf8').trim(), 'base64'));

describe('workflow replay', () => {
  it('replays a full-dispense history recorded before partial fills', async () => {
    const history = load('full-dispense-history.b64');
    expect(history.events!.length).toBeGreaterThan(50);
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history);
  });
});
