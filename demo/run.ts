// The demo: every party plays its part over rxflow's HTTP API while the engine carries one prescription
// from the hospital to the patient's follow-up. The actors are demo stand-ins; the engine is the real one.
import { loadConfig } from '../engine/config';
import { demoActors, deliveryAssigned, offered, statusIs, waitForPrescription } from './actors';
import { demoPrescription } from './prescriptions';
import { scanOrder } from './packs';

const config = loadConfig();
const api = process.env.RX_API_URL ?? config.publicUrl;
const a = demoActors(api);
const step = (who: string, what: string) => console.log(`  [demo ${who.padEnd(10)}] ${what}`);
const yuan = (fen: number) => `¥${(fen / 100).toFixed(2)}`;

function must<T>(r: { status: number; body: T }, expected: number[], what: string): T {
  if (!expected.includes(r.status)) throw new Error(`${what}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

async function main() {
  console.log(`\nrxflow demo against ${api}\n`);
  const health: any = await fetch(`${api}/health`).then((r) => r.json());
  step('operator', `health: ${health.status} (postgres ${health.dependencies.postgres.ok}, elasticsearch ${health.dependencies.elasticsearch.ok}, temporal ${health.dependencies.temporal.ok})`);

  const search = must(await a.pharmacist.get('/v1/drugs?q=blf&size=3'), [200], 'search');
  step('pharmacist', `catalogue search "blf" → ${search.hits.map((h: any) => h.drug.genericNameZh).join('、')}`);

  // 1. The hospital pushes a signed prescription, twice: the second push finds the same one.
  const rx = demoPrescription();
  const pushed = must(await a.hospital.post('/v1/prescriptions', rx), [201], 'push');
  const id = pushed.prescription.id;
  step('hospital', `pushed signed prescription ${rx.rxNo} → ${id} (HTTP 201)`);
  const again = await a.hospital.post('/v1/prescriptions', rx);
  step('hospital', `pushed it again → HTTP ${again.status}, duplicate=${again.body.duplicate}, same id=${again.body.prescription.id === id}`);

  // 2. A licensed pharmacist reviews it from the queue.
  await waitForPrescription(a.hospital, id, statusIs('in_review'));
  const queue = must(await a.pharmacist.get('/v1/review-queue'), [200], 'queue');
  const item = queue.items.find((i: any) => i.id === id);
  step('pharmacist', `review queue has ${queue.items.length} item(s); this one with ${item.flags.length} automated flag(s)${item.flags.length ? ': ' + item.flags.map((f: any) => f.code).join(', ') : ''}`);
  const claim = must(await a.pharmacist.post(`/v1/review-queue/${id}/claim`), [200], 'claim').claim;
  step('pharmacist', `claimed it until ${claim.expiresAt} (no other pharmacist can decide meanwhile)`);
  // Approving over a blocking finding needs an override reason; the demo prescription has none.
  const decided = must(await a.pharmacist.post(`/v1/prescriptions/${id}/review`, { decision: 'approve', reasons: [], comment: '用药合理，同意调配' }), [202], 'approve');
  step('pharmacist', `approved, signed ${decided.review.signature.alg} (key ${decided.review.signature.keyId})`);

  // 3–4. Insurance pre-check and matching happen in the engine; the matched pharmacy accepts.
  const atOffer = await waitForPrescription(a.hospital, id, offered);
  const p = atOffer.prescription.pricing;
  step('engine', `insurance pre-check: total ${yuan(p.totalFen)}, insurer pays ${yuan(p.insurerPaysFen)}, patient pays ${yuan(p.patientPaysFen)}`);
  const pharmacyCode = atOffer.workflow.offer.pharmacyCode;
  const pharmacy = a.pharmacy(pharmacyCode);
  const orders = must(await pharmacy.get('/v1/pharmacy/orders'), [200], 'orders');
  const order = orders.items.find((o: any) => o.prescriptionId === id);
  const score = atOffer.workflow.timeline.at(-1).detail.score;
  step('engine', `matched ${pharmacyCode} from Elasticsearch: score ${score.total} (distance ${score.distance}, price ${score.price}, stock ${score.margin}, reliability ${score.reliability})`);
  step('pharmacy', `${pharmacyCode} (${atOffer.workflow.offer.distanceKm} km away) sees order ${order.orderId.slice(0, 8)}…, accepts`);
  must(await pharmacy.post(`/v1/pharmacy/orders/${order.orderId}/accept`), [202], 'accept');
  const dispensed = must(await pharmacy.post(`/v1/pharmacy/orders/${order.orderId}/dispense`, { pharmacistName: '孙药师（演示）', lines: scanOrder(order.lines) }), [201], 'dispense');
  step('pharmacy', `checked and dispensed ${order.lines.reduce((n: number, l: any) => n + l.quantity, 0)} pack(s) by traceability code${dispensed.findings.length ? `; findings: ${dispensed.findings.map((f: any) => f.code).join(', ')}` : ''}`);

  // 5. The delivery partner picks up, travels and delivers with proof.
  const atDelivery = await waitForPrescription(a.hospital, id, deliveryAssigned);
  const partner = atDelivery.workflow.delivery.partnerCode;
  const courier = a.courier(partner);
  const deliveries = must(await courier.get('/v1/courier/deliveries'), [200], 'deliveries');
  const delivery = deliveries.items.find((d: any) => d.deliveryId === atDelivery.workflow.delivery.deliveryId);
  step('courier', `${partner} assigned delivery to ${delivery.dropoff.name} ${delivery.dropoff.phone}${delivery.coldChain ? ' (cold chain)' : ''}`);
  for (const status of ['assigned', 'picked_up', 'in_transit'] as const) {
    must(await courier.post(`/v1/deliveries/${delivery.deliveryId}/status`, { status }), [202], status);
    step('courier', status);
  }
  must(await courier.post(`/v1/deliveries/${delivery.deliveryId}/status`, { status: 'delivered', proof: { kind: 'signature', reference: 'SIG-DEMO-0001', receivedBy: '张建国' } }), [202], 'delivered');
  step('courier', 'delivered, signed for by the patient');

  // 6. Follow-up timers run (seconds locally, days in production).
  const done = await waitForPrescription(a.hospital, id, statusIs('completed'), 120_000);
  step('engine', `follow-up check-ins sent; prescription ${done.prescription.status}`);

  // The patient's own view of it (docs/patient.md): a signed, expiring link the hospital sends.
  const link = must(await a.hospital.post(`/v1/prescriptions/${id}/patient-links`, { holder: 'patient', ttlDays: 7 }), [201], 'patient link');

  const timeline = must(await a.hospital.get(`/v1/prescriptions/${id}/timeline`), [200], 'timeline').timeline;
  console.log(`\nTimeline of ${rx.rxNo} (audit trail, ${timeline.length} events):`);
  for (const e of timeline) {
    const t = new Date(e.at).toISOString().slice(11, 23);
    console.log(`  ${t}  ${e.action.padEnd(22)} ${(e.to ?? '').padEnd(12)} ${e.actor}`);
  }
  const ui = `${config.temporalUiUrl}/namespaces/${config.temporalNamespace}/workflows/${done.prescription.workflowId}`;
  console.log(`
Where to look:
  API                 ${api}   (health: ${api}/health)
  This prescription   curl -H 'Authorization: Bearer demo-hospital-key' ${api}/v1/prescriptions/${id}
  Temporal web UI     ${ui}
  Pharmacist console  ${api}/console   (log in as P001 or chen, password demo-pharmacist-pass; docs/console.md)
  Patient's page      ${link.url}   (status, what they pay, follow-up questions; valid 7 days)
  Delivery label      ${config.filesDir}/${delivery.deliveryId}-label.pdf
  Prescription slip   ${config.filesDir}/${id}-slip.pdf
                      (or ${api}/v1/prescriptions/${id}/slip.pdf with the hospital key)
  Operator's view     ./rxflow inspect ${id}   (./rxflow stuck, ./rxflow help; docs/operations.md)
  Hospital's events   curl -H 'Authorization: Bearer demo-hospital-key' '${api}/v1/events?limit=20'   (docs/events.md)
  Metrics             ${api}/metrics   (Grafana: docs/grafana/rxflow-dashboard.json; docs/observability.md)
  Logs                ./rx logs engine (JSON lines; jq 'select(.prescriptionId == "${id}")') | ./rx logs temporal | pg | es
The stack stays up: push your own prescriptions with the curl examples in the README; ./rx down stops it.
`);
}

main().catch((e) => { console.error(`\ndemo failed: ${e.message}`); process.exit(1); });
