// A small insurer (医保结算平台) simulator speaking rxflow's HTTP insurer contract (docs/insurance.md):
// POST /v1/precheck priced by the same policy files, with switches to be slow, to fail, or to answer
// nonsense, so tests (and demos) can drive every branch of the client and the workflow's fallback.
import { randomUUID } from 'node:crypto';
import { precheck } from '../../domain/insurance';
import { coverageFrom, type PolicyVersion } from '../../domain/insurance-plans';
import { readInsuranceFiles } from '../../catalog/insurance';
import type { InsurerPrecheckRequest } from '../../activities/insurer';
import { startJsonEndpoint, type Answer } from './json-endpoint';

export interface InsurerSimulator {
  url: string;
  /** Every request received, in order (headers lower-cased). */
  requests: { idempotencyKey: string | undefined; authorization: string | undefined; body: InsurerPrecheckRequest }[];
  /** How many quotes were computed (a replayed idempotency key is answered from memory, not priced again). */
  priced: number;
  behaviour: {
    delayMs: number;            // wait before answering
    failNext: number;           // answer this many requests with `failStatus` first
    failStatus: number;
    garble: boolean;            // answer amounts that do not add up
  };
  close(): Promise<void>;
}

export async function startInsurerSimulator(o: { apiKey?: string; policies?: PolicyVersion[]; port?: number } = {}): Promise<InsurerSimulator> {
  const policies = o.policies ?? readInsuranceFiles();
  const quotes = new Map<string, unknown>();
  const sim: InsurerSimulator = {
    url: '', requests: [], priced: 0,
    behaviour: { delayMs: 0, failNext: 0, failStatus: 503, garble: false },
    close: () => endpoint.close(),
  };
  const endpoint = await startJsonEndpoint({ path: '/v1/precheck', port: o.port, handle: async (req, raw): Promise<Answer> => {
    if (o.apiKey && req.headers.authorization !== `Bearer ${o.apiKey}`) return [401, { code: 'UNAUTHORIZED' }];
    let body: InsurerPrecheckRequest;
    try { body = JSON.parse(raw.toString('utf8')); } catch { return [400, { code: 'BAD_JSON' }]; }
    const key = req.headers['idempotency-key'] as string | undefined;
    sim.requests.push({ idempotencyKey: key, authorization: req.headers.authorization, body });
    if (sim.behaviour.delayMs) await endpoint.delay(sim.behaviour.delayMs);
    if (sim.behaviour.failNext > 0) { sim.behaviour.failNext -= 1; return [sim.behaviour.failStatus, { code: 'INSURER_BUSY' }]; }
    if (!key) return [400, { code: 'IDEMPOTENCY_KEY_REQUIRED' }];
    if (quotes.has(key)) return [200, quotes.get(key)];
    const coverage = coverageFrom(policies, { ...body.member, ...(body.commercial ? { commercial: body.commercial } : {}) }, body.prescribedOn);
    if (!coverage.plan) return [422, { code: 'PLAN_UNKNOWN', message: `no plan ${body.member.planId} in force on ${body.prescribedOn}` }];
    const r = precheck({ ...coverage, lines: body.lines });
    sim.priced += 1;
    const quote = {
      quoteId: randomUUID(), planId: r.planId, policyVersion: r.policyVersion,
      lines: r.lines.map((l) => ({ lineNo: l.lineNo, amountFen: l.amountFen, insurerPaysFen: l.insurerPaysFen, commercialPaysFen: l.commercialPaysFen ?? 0, patientPaysFen: sim.behaviour.garble ? l.patientPaysFen + 1 : l.patientPaysFen, reasons: l.reasons })),
      totalFen: r.totalFen, insurerPaysFen: r.insurerPaysFen, commercialPaysFen: r.commercialPaysFen ?? 0, patientPaysFen: r.patientPaysFen,
    };
    if (!sim.behaviour.garble) quotes.set(key, quote);
    return [200, quote];
  } });
  sim.url = endpoint.url;
  return sim;
}
