// The HTTP insurer client against the insurer simulator (a real HTTP server on a free port): the
// contract's headers, retries with one idempotency key, the deadline, and answers it must not trust.
import { httpInsurer, InsurerUnavailable, rulesInsurer, type InsurerPrecheckRequest } from '../../activities/insurer';
import { coverageFrom } from '../../domain/insurance-plans';
import { readInsuranceFiles } from '../../catalog/insurance';
import { startInsurerSimulator, type InsurerSimulator } from '../simulators/insurer';

const request = (o: Partial<InsurerPrecheckRequest> = {}): InsurerPrecheckRequest => ({
  requestId: `rxflow-precheck-${Math.random().toString(36).slice(2)}`, prescriptionId: '00000000-0000-4000-8000-000000000001', rxNo: 'T-1', region: '330100', prescribedOn: '2026-11-23',
  member: { planId: 'HZ-EMPLOYEE', memberId: 'M1', visitType: 'outpatient', deductibleUsedFen: 30_000, paidThisYearFen: 0 },
  lines: [
    { lineNo: 1, drugCode: 'RX0001', insuranceCode: 'XC08CAB001A001', insuranceClass: 'A', unitPriceFen: 2_860, quantity: 2 },
    { lineNo: 2, drugCode: 'RX0002', insuranceCode: 'XC08CAB002A001', insuranceClass: 'B', unitPriceFen: 2_680, quantity: 1 },
  ],
  ...o,
});

let sim: InsurerSimulator;
beforeEach(async () => { sim = await startInsurerSimulator({ apiKey: 'sim-key' }); });
afterEach(async () => { await sim.close(); });
const client = (timeoutMs = 2_000, retries = 2) => httpInsurer({ baseUrl: sim.url, apiKey: 'sim-key', timeoutMs, retries, backoffMs: 20 });

it('prices as the rules engine does, sending the key and the bearer token', async () => {
  const req = request();
  const quote = await client().precheck(req, null as never);
  const local = await rulesInsurer.precheck(req, coverageFrom(readInsuranceFiles(), req.member, req.prescribedOn));
  expect(quote).toMatchObject({ engine: 'http', totalFen: local.totalFen, insurerPaysFen: local.insurerPaysFen, patientPaysFen: local.patientPaysFen, policyVersion: 2 });
  // the region's list sets RX0002's class B self-pay to 5% (2026): 134 fen self-pay, 2,546 × 75% = 1,909
  expect(quote.lines[1]).toMatchObject({ amountFen: 2_680, insurerPaysFen: 1_909 });
  expect(sim.requests).toHaveLength(1);
  expect(sim.requests[0]).toMatchObject({ idempotencyKey: req.requestId, authorization: 'Bearer sim-key' });
});

it('retries a busy insurer with the same idempotency key, and a replayed key is not priced twice', async () => {
  sim.behaviour.failNext = 2;
  const req = request();
  await client().precheck(req, null as never);
  expect(sim.requests.map((r) => r.idempotencyKey)).toEqual([req.requestId, req.requestId, req.requestId]);
  await client().precheck(req, null as never);
  expect(sim.priced).toBe(1);
});

it('gives up at its deadline with InsurerUnavailable(timeout), however slow the insurer is', async () => {
  sim.behaviour.delayMs = 60_000; // had the client waited, the insurer would have answered (and the test timed out)
  const e = await client(300).precheck(request(), null as never).catch((x) => x);
  expect(e).toBeInstanceOf(InsurerUnavailable);
  expect(e.kind).toBe('timeout');
  expect(sim.priced).toBe(0);
});

it('stops retrying when the insurer stays down, and does not retry a refusal', async () => {
  sim.behaviour.failNext = 10;
  const down = await client(2_000, 2).precheck(request(), null as never).catch((x) => x);
  expect(down).toMatchObject({ kind: 'unavailable', attempts: 3 });
  expect(sim.requests).toHaveLength(3);

  sim.behaviour.failNext = 0;
  const refused = await client().precheck(request({ member: { ...request().member, planId: 'NO-SUCH-PLAN' } }), null as never).catch((x) => x);
  expect(refused).toMatchObject({ kind: 'refused' });
  expect(refused.message).toMatch(/422/);
  expect(sim.requests).toHaveLength(4);

  const wrongKey = await httpInsurer({ baseUrl: sim.url, apiKey: 'wrong', timeoutMs: 1_000, retries: 2 }).precheck(request(), null as never).catch((x) => x);
  expect(wrongKey).toMatchObject({ kind: 'refused' });
});

it('refuses a quote whose amounts do not add up', async () => {
  sim.behaviour.garble = true;
  const e = await client().precheck(request(), null as never).catch((x) => x);
  expect(e).toMatchObject({ kind: 'invalid_response' });
  expect(e.message).toMatch(/do not add up/);
});
