// OpenTelemetry, on when OTEL_EXPORTER_OTLP_ENDPOINT is set: an engine process started with it exports
// one trace per push — the API's HTTP span, the Temporal client's start, the workflow run and its
// activities — by OTLP/HTTP to a receiver this test runs.
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { ApiClient, statusIs, waitForPrescription } from '../../demo/actors';
import { DEMO } from '../../demo/fixtures';
import { demoPrescription } from '../../demo/prescriptions';
import { DEV_DATA_KEYS, DEV_HMAC_KEY } from '../../engine/data-keys';

interface Span { traceId: string; spanId: string; parentSpanId?: string; name: string }

let receiver: http.Server;
let engine: ChildProcess;
let engineLog = '';
const spans: Span[] = [];

async function freePort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      if (req.url === '/v1/traces') {
        for (const rs of JSON.parse(body).resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) spans.push(...ss.spans);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
}, 30_000);

afterAll(async () => {
  engine?.kill('SIGTERM');
  await new Promise((r) => receiver.close(r));
});

async function waitFor<T>(what: string, fn: () => T | undefined, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; engine log:\n${engineLog.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

it('exports one trace from the HTTP push through the workflow to its activities', async () => {
  const port = await freePort();
  const root = path.resolve(__dirname, '../..');
  engine = spawn(process.execPath, ['--import', 'tsx', 'engine/main.ts'], {
    cwd: root,
    env: {
      ...process.env,
      NODE_ENV: 'production', RX_LOG_FILE: '', RX_LOG_LEVEL: 'info', RX_SESSION_SECRET: 'tracing-test-session-secret-0123456789abcdef', RX_REVIEW_KEY_SECRET: 'tracing-test-review-key-secret', RX_PATIENT_LINK_SECRET: 'tracing-test-patient-link-secret-0123456789',
      // Production requires data keys; the development ring's, so the other tests still read what it writes.
      RX_DATA_KEYS: DEV_DATA_KEYS, RX_DATA_HMAC_KEY: DEV_HMAC_KEY,
      RX_API_PORT: String(port), RX_TASK_QUEUE: `rxflow-tracing-${process.pid}`,
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`, OTEL_SERVICE_NAME: 'rxflow-test',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  engine.stdout!.on('data', (c) => { engineLog += c; });
  engine.stderr!.on('data', (c) => { engineLog += c; });
  await waitFor('the engine to be ready', () => /"msg":"ready"/.test(engineLog), 90_000);

  const hospital = new ApiClient(`http://127.0.0.1:${port}`, DEMO.hospital.key);
  const pushed = await hospital.post('/v1/prescriptions', demoPrescription());
  expect(pushed.status).toBe(201);
  const id = pushed.body.prescription.id as string;
  await waitForPrescription(hospital, id, statusIs('in_review'));

  const push = await waitFor('the API span', () => spans.find((s) => s.name === 'POST /v1/prescriptions'));
  const trace = () => spans.filter((s) => s.traceId === push.traceId);
  await waitFor('the beginReview activity span', () => trace().find((s) => s.name === 'RunActivity:beginReview'));
  const start = trace().find((s) => s.name === 'StartWorkflow:prescriptionWorkflow');
  expect(start?.parentSpanId).toBe(push.spanId); // the client's start is inside the HTTP request
  // The activity ran in the worker, in the same trace: the context crossed Temporal in its headers.
  // (The workflow's own RunWorkflow span is exported when the run ends, long after this test.)
  expect(trace().map((s) => s.name)).toEqual(expect.arrayContaining(['POST /v1/prescriptions', 'StartWorkflow:prescriptionWorkflow', 'RunActivity:beginReview']));
}, 150_000);
