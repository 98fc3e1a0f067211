// Rate limits per API key: a token bucket per key, kept in this process. A key may make its role's
// requests per minute (RX_RATE_LIMIT_<ROLE>, e.g. RX_RATE_LIMIT_HOSPITAL=60000; 0 switches the limit off
// for that role), or its own (api_client.rate_limit_per_minute). The bucket holds one minute's worth, so a
// burst up to the limit passes and then requests flow at the limit's pace. Beyond it: 429 RATE_LIMITED in
// the house shape, with Retry-After. A console session counts as its pharmacist. Several API processes
// each keep their own buckets (a key gets the limit per process): a shared store would be the next step.
import type { Middleware } from 'koa';
import { ROLES } from '../domain/policy';
import type { Role } from '../domain/types';
import type { Principal } from './auth';
import { ApiError } from './errors';

/**
 * Defaults per role, in requests per minute: far above what an honest integration sends (a hospital at a
 * platform's peak pushes hundreds a second), low enough that a leaked key cannot flood the engine.
 */
export const DEFAULT_RATE_LIMITS: Record<Role, number> = {
  hospital: 60_000,
  pharmacist: 12_000,
  lead_pharmacist: 12_000,
  pharmacy: 12_000,
  courier: 12_000,
  operator: 12_000,
  auditor: 6_000,
  // Per link: a person reading their own prescription.
  patient: 600,
};

export type RateLimitConfig = Record<Role, number>;

export function rateLimitConfig(env: NodeJS.ProcessEnv = process.env): RateLimitConfig {
  const out = { ...DEFAULT_RATE_LIMITS };
  for (const role of ROLES) {
    const name = `RX_RATE_LIMIT_${role.toUpperCase()}`;
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a whole number of requests per minute (0 = no limit), not ${raw}`);
    out[role] = n;
  }
  return out;
}

interface Bucket { tokens: number; capacity: number; at: number }

/** A token bucket per key; pure apart from the map it keeps, with the clock passed in (unit-testable). */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  constructor(private readonly maxKeys = 100_000) {}

  /** Takes one token; answers how many are left, or how many ms until the next one. */
  take(key: string, perMinute: number, now: number): { ok: true; remaining: number } | { ok: false; retryAfterMs: number } {
    const rate = perMinute / 60_000; // tokens per ms
    let b = this.buckets.get(key);
    if (!b || b.capacity !== perMinute) {
      b = { tokens: perMinute, capacity: perMinute, at: now };
      this.buckets.delete(key);
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
    } else {
      b.tokens = Math.min(b.capacity, b.tokens + Math.max(0, now - b.at) * rate);
      b.at = now;
      this.buckets.delete(key); // re-inserted below: the map's order is least recently used first
    }
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true, remaining: Math.floor(b.tokens) };
    }
    return { ok: false, retryAfterMs: Math.ceil((1 - b.tokens) / rate) };
  }
}

/** One set of buckets per process: /v1 and /fhir/R4 count against the same key. */
const SHARED = new RateLimiter();

export function rateLimit(config: RateLimitConfig = rateLimitConfig(), limiter = SHARED): Middleware {
  return async (ctx, next) => {
    const p = ctx.state.principal as Principal | undefined;
    if (!p) return next();
    const perMinute = p.rateLimitPerMinute ?? config[p.role] ?? 0;
    if (perMinute > 0) {
      const key = p.clientId ? `key:${p.clientId}` : `${p.via ?? 'party'}:${p.role}:${p.partyId}`;
      const got = limiter.take(key, perMinute, Date.now());
      ctx.set('RateLimit-Limit', String(perMinute));
      if (!got.ok) {
        const retryAfterS = Math.max(1, Math.ceil(got.retryAfterMs / 1000));
        ctx.set('RateLimit-Remaining', '0');
        ctx.set('Retry-After', String(retryAfterS));
        throw new ApiError(429, 'RATE_LIMITED', `this key may make ${perMinute} requests a minute; retry after ${retryAfterS} s`,
          [{ path: '$.headers.Authorization', code: 'rate_limited', message: `retry after ${retryAfterS} s` }]);
      }
      ctx.set('RateLimit-Remaining', String(got.remaining));
    }
    await next();
  };
}
