// The insurer adapter: who answers the pre-check. The built-in rules engine (default) prices from the
// versioned policy tables; the HTTP client asks an insurer's (or a settlement platform's) service, with a
// deadline, retries and an idempotency key. Contract: docs/insurance.md.
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { precheck, type PrecheckInput, type PrecheckResult } from '../domain/insurance';
import type { InsuranceClass } from '../domain/types';

/** What rxflow sends an insurer for a pre-check (POST /v1/precheck). Money in integer fen. */
export interface InsurerPrecheckRequest {
  requestId: string;                 // equals the Idempotency-Key header
  prescriptionId: string;
  rxNo: string;
  region: string;                    // the hospital's region code (行政区划代码)
  prescribedOn: string;              // YYYY-MM-DD, China time: the insurer picks its policy version by it
  member: { planId: string; memberId: string; visitType: 'outpatient' | 'chronic_special'; deductibleUsedFen: number; paidThisYearFen: number };
  commercial?: { planId: string; memberId: string; usedFen: number };
  lines: { lineNo: number; drugCode: string; insuranceCode: string; insuranceClass: InsuranceClass; unitPriceFen: number; quantity: number }[];
}

export type InsurerFailure = 'timeout' | 'unavailable' | 'refused' | 'invalid_response';
/** The insurer could not give an answer: the workflow's fallback (self-pay with consent, or hold) decides what happens. */
export class InsurerUnavailable extends Error {
  constructor(readonly kind: InsurerFailure, message: string, readonly attempts = 1) { super(message); this.name = 'InsurerUnavailable'; }
}

export interface InsurerAdapter {
  readonly engine: 'rules' | 'http';
  /** Prices the request; the rules engine uses `coverage` (policy in effect + the year's usage), an HTTP insurer its own records. */
  precheck(req: InsurerPrecheckRequest, coverage: Omit<PrecheckInput, 'lines'>): Promise<PrecheckResult>;
}

export const rulesInsurer: InsurerAdapter = {
  engine: 'rules',
  async precheck(req, coverage) {
    return { ...precheck({ ...coverage, lines: req.lines }), engine: 'rules' };
  },
};

const fen = z.number().int().min(0);
const ResponseSchema = z.object({
  quoteId: z.string().min(1),
  planId: z.string().nullable(),
  policyVersion: z.number().int().nullable().optional(),
  lines: z.array(z.object({
    lineNo: z.number().int(), amountFen: fen, insurerPaysFen: fen, commercialPaysFen: fen.default(0), patientPaysFen: fen,
    reasons: z.array(z.string()).default([]),
  })),
  totalFen: fen, insurerPaysFen: fen, commercialPaysFen: fen.default(0), patientPaysFen: fen,
});

export interface HttpInsurerOptions {
  baseUrl: string;
  apiKey?: string;
  /** The whole call, retries included, ends by then (RX_INSURER_TIMEOUT_MS). */
  timeoutMs: number;
  /** Further attempts after a timeout, a network error, 408, 429 or 5xx (RX_INSURER_RETRIES). */
  retries: number;
  backoffMs?: number;
}

/**
 * The HTTP insurer client. Every attempt of one pre-check carries the same Idempotency-Key, so an insurer
 * that did answer an attempt we lost returns the same quote instead of pricing (and reserving) twice.
 * An answer whose amounts do not add up is refused, not trusted.
 */
export function httpInsurer(o: HttpInsurerOptions): InsurerAdapter {
  const url = new URL('v1/precheck', o.baseUrl.endsWith('/') ? o.baseUrl : `${o.baseUrl}/`).toString();
  return {
    engine: 'http',
    async precheck(req) {
      const deadline = Date.now() + o.timeoutMs;
      let last: InsurerUnavailable = new InsurerUnavailable('timeout', `the insurer did not answer within ${o.timeoutMs} ms`);
      for (let attempt = 1; attempt <= o.retries + 1; attempt++) {
        const left = deadline - Date.now();
        if (left <= 0) break;
        let res: Response;
        try {
          res = await fetch(url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'idempotency-key': req.requestId, ...(o.apiKey ? { authorization: `Bearer ${o.apiKey}` } : {}) },
            body: JSON.stringify(req),
            signal: AbortSignal.timeout(left),
          });
        } catch (e) {
          const timedOut = (e as Error).name === 'TimeoutError' || (e as Error).name === 'AbortError';
          last = new InsurerUnavailable(timedOut ? 'timeout' : 'unavailable', timedOut ? `the insurer did not answer within ${o.timeoutMs} ms` : `the insurer could not be reached: ${(e as Error).message}`, attempt);
          if (timedOut) break; // the deadline is spent
          await pause(o, attempt, deadline);
          continue;
        }
        const text = await res.text().catch(() => '');
        if (res.status === 408 || res.status === 429 || res.status >= 500) {
          last = new InsurerUnavailable('unavailable', `the insurer answered HTTP ${res.status}`, attempt);
          await pause(o, attempt, deadline);
          continue;
        }
        if (res.status !== 200) throw new InsurerUnavailable('refused', `the insurer refused the pre-check: HTTP ${res.status} ${text.slice(0, 200)}`, attempt);
        let body: unknown;
        try { body = JSON.parse(text); } catch { throw new InsurerUnavailable('invalid_response', 'the insurer answered something that is not JSON', attempt); }
        return checkedQuote(req, body, attempt);
      }
      throw new InsurerUnavailable(last.kind, last.message, last.attempts);
    },
  };
}

async function pause(o: HttpInsurerOptions, attempt: number, deadline: number): Promise<void> {
  const wait = Math.min((o.backoffMs ?? 200) * 2 ** (attempt - 1), Math.max(0, deadline - Date.now()));
  if (wait > 0) await sleep(wait);
}

function checkedQuote(req: InsurerPrecheckRequest, body: unknown, attempt: number): PrecheckResult {
  const parsed = ResponseSchema.safeParse(body);
  const bad = (why: string) => new InsurerUnavailable('invalid_response', `the insurer's quote is not usable: ${why}`, attempt);
  if (!parsed.success) throw bad(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  const q = parsed.data;
  const asked = new Map(req.lines.map((l) => [l.lineNo, l.unitPriceFen * l.quantity]));
  if (q.lines.length !== req.lines.length || q.lines.some((l) => asked.get(l.lineNo) !== l.amountFen)) throw bad('its lines are not the lines asked about');
  if (q.lines.some((l) => l.insurerPaysFen + l.commercialPaysFen + l.patientPaysFen !== l.amountFen)) throw bad('a line\'s shares do not add up to its amount');
  const sum = (f: (l: (typeof q.lines)[number]) => number) => q.lines.reduce((s, l) => s + f(l), 0);
  if (sum((l) => l.amountFen) !== q.totalFen || sum((l) => l.insurerPaysFen) !== q.insurerPaysFen || sum((l) => l.patientPaysFen) !== q.patientPaysFen || sum((l) => l.commercialPaysFen) !== q.commercialPaysFen) throw bad('its totals are not the sum of its lines');
  const drug = new Map(req.lines.map((l) => [l.lineNo, l.drugCode]));
  return {
    planId: q.planId,
    lines: q.lines.map((l) => ({ lineNo: l.lineNo, drugCode: drug.get(l.lineNo)!, amountFen: l.amountFen, insurerPaysFen: l.insurerPaysFen, commercialPaysFen: l.commercialPaysFen, patientPaysFen: l.patientPaysFen, reasons: l.reasons })),
    totalFen: q.totalFen, insurerPaysFen: q.insurerPaysFen, commercialPaysFen: q.commercialPaysFen, patientPaysFen: q.patientPaysFen,
    policyVersion: q.policyVersion ?? null, engine: 'http',
  };
}

export interface InsurerConfig {
  kind: 'rules' | 'http';
  url?: string;
  apiKey?: string;
  timeoutMs: number;
  retries: number;
  fallback: 'self_pay' | 'hold';
  holdRetryMs: number;
}

export function insurerFromConfig(c: InsurerConfig): InsurerAdapter {
  if (c.kind === 'rules') return rulesInsurer;
  if (!c.url) throw new Error('RX_INSURER=http needs RX_INSURER_URL');
  return httpInsurer({ baseUrl: c.url, apiKey: c.apiKey, timeoutMs: c.timeoutMs, retries: c.retries });
}
