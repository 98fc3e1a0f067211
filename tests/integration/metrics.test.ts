// GET /metrics: Prometheus series that move when a prescription moves, with bounded labels.
import { actors, apiUrl, closeDb } from './helpers';
import { statusIs, waitForPrescription } from '../../demo/actors';
import { demoPrescription } from '../../demo/prescriptions';

afterAll(closeDb);

const scrape = async () => fetch(`${apiUrl()}/metrics`).then((r) => r.text());
/** The value of one series (0 when absent). */
function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

it('counts requests by route pattern and status, and prescription status changes', async () => {
  const pushes = 'rxflow_http_requests_total{method="POST",route="/v1/prescriptions",status="201"}';
  const queued = 'rxflow_prescription_transitions_total{to="in_review"}';
  const before = await scrape();
  const a = actors();
  const id = (await a.hospital.post('/v1/prescriptions', demoPrescription())).body.prescription.id;
  await waitForPrescription(a.hospital, id, statusIs('in_review'));
  await a.hospital.get(`/v1/prescriptions/${id}`);
  const after = await scrape();
  expect(value(after, pushes)).toBe(value(before, pushes) + 1);
  expect(value(after, queued)).toBeGreaterThanOrEqual(value(before, queued) + 1);
  // One series for every prescription read, not one per id.
  expect(after).toContain('route="/v1/prescriptions/:id"');
  expect(after).not.toContain(id);
  expect(after).toMatch(/^rxflow_search_sync_queued \d+/m);
  expect(after).toMatch(/^rxflow_webhook_deliveries_pending \d+/m);
  expect(after).toMatch(/^rxflow_http_request_duration_seconds_bucket\{/m);
});
