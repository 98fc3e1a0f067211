// The reference consumer (examples/feed-consumer.ts) against the test engine: it replays the feed from a
// stored cursor, survives a restart without handling an event twice, takes signed webhooks (sdk/webhook.ts)
// deduplicated against the feed, and runs as a program.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { statusIs, waitForPrescription } from '../../demo/actors';
import { DEMO } from '../../demo/fixtures';
import { demoPrescription } from '../../demo/prescriptions';
import { FeedConsumer } from '../../examples/feed-consumer';
import { signWebhook, SIGNATURE_HEADER, type RxflowEvent } from '../../sdk/webhook';
import { actors, apiUrl } from './helpers';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rxflow-consumer-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function consumer(stateFile: string, secrets: string[] = []) {
  const got: { e: RxflowEvent; via: string }[] = [];
  const c = new FeedConsumer({ baseUrl: apiUrl(), apiKey: DEMO.hospital.key, stateFile, webhookSecrets: secrets, limit: 50, onEvent: (e, via) => { got.push({ e, via }); } });
  return { c, got, of: (id: string) => got.filter((g) => g.e.data.prescriptionId === id).map((g) => g.e.type.replace('rxflow.prescription.', '')) };
}

describe('reference feed consumer', () => {
  it('replays from its stored cursor across a restart, each event once, and dedupes webhooks against the feed', async () => {
    const a = actors();
    const id = (await a.hospital.post('/v1/prescriptions', demoPrescription())).body.prescription.id as string;
    await waitForPrescription(a.hospital, id, statusIs('in_review'));
    const stateFile = path.join(dir, 'state.json');

    const first = consumer(stateFile);
    await first.c.catchUp();
    expect(first.of(id)).toEqual(['accepted', 'in_review']);
    const ids = first.got.map((g) => g.e.id);
    expect(new Set(ids).size).toBe(ids.length);
    const seqs = first.got.map((g) => Number(g.e.sequence));
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(JSON.parse(fs.readFileSync(stateFile, 'utf8')).cursor).toBe(first.c.cursor);

    // A new event while "down"; the restarted consumer picks up only what it has not handled.
    expect((await a.hospital.post(`/v1/prescriptions/${id}/cancel`, { reason: '患者取消' })).status).toBe(202);
    await waitForPrescription(a.hospital, id, statusIs('cancelled'));
    const restarted = consumer(stateFile, ['whsec_test_secret']);
    await restarted.c.catchUp();
    expect(restarted.of(id)).toEqual(['cancelled']);
    expect(restarted.got.filter((g) => ids.includes(g.e.id))).toEqual([]);

    // The same event pushed as a webhook (as rxflow would, at least once): verified, acknowledged, not handled again.
    const server = await restarted.c.listen(0, '127.0.0.1');
    try {
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/rxflow`;
      const post = (body: string, secret = 'whsec_test_secret') => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signWebhook(secret, body) }, body });
      const cancelled = restarted.got.find((g) => g.e.data.prescriptionId === id)!.e;
      expect((await post(JSON.stringify(cancelled))).status).toBe(204);
      expect((await post(JSON.stringify(cancelled), 'whsec_wrong')).status).toBe(401);
      expect(restarted.of(id)).toEqual(['cancelled']);

      // A consumer that hears the webhook first does not handle the same event again from the feed.
      const fresh = consumer(path.join(dir, 'fresh.json'), ['whsec_test_secret']);
      expect(await fresh.c.webhook({ [SIGNATURE_HEADER]: signWebhook('whsec_test_secret', JSON.stringify(cancelled)) }, Buffer.from(JSON.stringify(cancelled)))).toBe(204);
      await fresh.c.catchUp();
      expect(fresh.of(id)).toEqual(['cancelled', 'accepted', 'in_review']);
      expect(fresh.got.filter((g) => g.e.id === cancelled.id).map((g) => g.via)).toEqual(['webhook']);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('runs as a program and prints the events after its stored cursor', async () => {
    const a = actors();
    const stateFile = path.join(dir, 'program.json');
    // Start from the current end of the feed, so the program only has the new prescription's events to print.
    const warm = consumer(stateFile);
    await warm.c.catchUp();
    const id = (await a.hospital.post('/v1/prescriptions', demoPrescription())).body.prescription.id as string;
    await waitForPrescription(a.hospital, id, statusIs('in_review'));

    const child = spawn(process.execPath, ['--import', 'tsx', 'examples/feed-consumer.ts'], {
      cwd: path.resolve(__dirname, '../..'),
      env: { ...process.env, RXFLOW_URL: apiUrl(), RXFLOW_API_KEY: DEMO.hospital.key, RXFLOW_STATE: stateFile },
    });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    try {
      const deadline = Date.now() + 90_000;
      const lines = () => out.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((l) => l.subject === id);
      while (lines().length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      expect(lines().map((l) => [l.via, l.type])).toEqual([['feed', 'rxflow.prescription.accepted'], ['feed', 'rxflow.prescription.in_review']]);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });
});
