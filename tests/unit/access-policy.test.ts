// The policy table (domain/policy.ts) against the routes the app really serves, against docs/security.md,
// and the rate limiter's token bucket. No services: the app is built with stand-in dependencies only to
// read its routers.
import fs from 'node:fs';
import path from 'node:path';
import { createApp } from '../../api/app';
import { listRoutes, type RouteInfo } from '../../api/access';
import { DEFAULT_RATE_LIMITS, RateLimiter, rateLimitConfig } from '../../api/rate-limit';
import { loadConfig } from '../../engine/config';
import { ACTIONS, POLICY, PUBLIC_ROUTES, ROLES, policyMarkdown, scopeFor, type Action } from '../../domain/policy';

export function appRoutes(): RouteInfo[] {
  return listRoutes(createApp({ orm: {} as never, es: {} as never, temporal: {} as never, config: loadConfig() }));
}

/** The route table docs/security.md carries: every route, its action, and who may call it. */
export function routesMarkdown(routes: RouteInfo[]): string {
  return [
    '| route | action | roles (scope) |',
    '|---|---|---|',
    ...routes.map((r) => {
      const who = r.action ? ROLES.filter((role) => scopeFor(role, r.action!)).map((role) => `${role} (${scopeFor(role, r.action!)})`).join(', ') : `public: ${PUBLIC_ROUTES[r.key] ?? 'UNCLASSIFIED'}`;
      return `| \`${r.key}\` | ${r.action ? `\`${r.action}\`` : '—'} | ${who} |`;
    }),
  ].join('\n');
}

const DOC = path.resolve(__dirname, '../../docs/security.md');
function section(doc: string, name: string): string | null {
  const m = new RegExp(`<!-- ${name}:begin[^>]*-->\\n([\\s\\S]*?)\\n<!-- ${name}:end -->`).exec(doc);
  return m ? m[1] : null;
}

describe('every route is classified', () => {
  const routes = appRoutes();

  it('declares an action in the policy table, or is a listed public route', () => {
    // A route added without authorize(action) (or a listing in PUBLIC_ROUTES) fails here, by name:
    // classify it in domain/policy.ts.
    const unclassified = routes.filter((r) => !r.action && !(r.key in PUBLIC_ROUTES)).map((r) => r.key);
    expect(unclassified).toEqual([]);
    const publicUnderV1 = routes.filter((r) => !r.action && r.path.startsWith('/v1')).map((r) => r.key);
    expect(publicUnderV1).toEqual([]);
  });

  it('lists no public route the app does not serve, and no action without a route (bar capabilities)', () => {
    const keys = new Set(routes.map((r) => r.key));
    expect(Object.keys(PUBLIC_ROUTES).filter((k) => !keys.has(k))).toEqual([]);
    const used = new Set(routes.map((r) => r.action));
    // review.reassign is a capability inside POST /v1/review-queue/:id/release, not a route of its own.
    expect((Object.keys(ACTIONS) as Action[]).filter((a) => !used.has(a) && a !== 'review.reassign')).toEqual([]);
  });
});

describe('the policy table', () => {
  it('has one row per role and action, for known roles and actions only', () => {
    const seen = new Set<string>();
    for (const r of POLICY) {
      expect(ROLES).toContain(r.role);
      expect(Object.keys(ACTIONS)).toContain(r.action);
      expect(seen.has(`${r.role} ${r.action}`)).toBe(false);
      seen.add(`${r.role} ${r.action}`);
    }
  });

  it('lets the auditor change nothing, and keeps tenants to own or assigned scope', () => {
    expect(POLICY.filter((r) => r.role === 'auditor' && ACTIONS[r.action].writes)).toEqual([]);
    // Parties that are tenants never reach another tenant's resources (catalogue data belongs to nobody).
    for (const role of ['hospital', 'pharmacy', 'courier'] as const) {
      expect(POLICY.filter((r) => r.role === role && r.scope === 'any' && ACTIONS[r.action].resource !== 'platform')).toEqual([]);
    }
    expect(scopeFor('hospital', 'review.decide')).toBeNull();
    expect(scopeFor('pharmacy', 'prescription.read')).toBeNull();
  });
});

describe('docs/security.md', () => {
  const doc = fs.readFileSync(DOC, 'utf8');
  // To regenerate after changing the table or the routes: RX_UPDATE_DOCS=1 npx jest tests/unit/access-policy.test.ts
  const want = { policy: policyMarkdown(), routes: routesMarkdown(appRoutes()) };
  if (process.env.RX_UPDATE_DOCS === '1') {
    let next = doc;
    for (const [name, text] of Object.entries(want)) next = next.replace(new RegExp(`(<!-- ${name}:begin[^>]*-->\\n)[\\s\\S]*?(\\n<!-- ${name}:end -->)`), `$1${text}$2`);
    fs.writeFileSync(DOC, next);
  }

  it('prints the policy table as it is', () => {
    expect(section(fs.readFileSync(DOC, 'utf8'), 'policy')).toBe(want.policy);
  });
  it('prints every route with its action as it is', () => {
    expect(section(fs.readFileSync(DOC, 'utf8'), 'routes')).toBe(want.routes);
  });
});

describe('rate limits', () => {
  it('lets a burst of one minute\'s worth pass, then refills at the limit\'s pace', () => {
    const l = new RateLimiter();
    const t0 = 1_000_000;
    for (let i = 0; i < 3; i++) expect(l.take('k', 3, t0).ok).toBe(true);
    const refused = l.take('k', 3, t0);
    expect(refused).toEqual({ ok: false, retryAfterMs: 20_000 });
    expect(l.take('k', 3, t0 + 19_999).ok).toBe(false);
    // 40 s after it ran dry the bucket holds two tokens again (3 a minute).
    expect(l.take('k', 3, t0 + 40_000)).toEqual({ ok: true, remaining: 1 });
    // Keys are counted apart; a changed limit starts a fresh bucket.
    expect(l.take('other', 3, t0).ok).toBe(true);
    expect(l.take('k', 10, t0 + 40_000)).toEqual({ ok: true, remaining: 9 });
  });

  it('forgets the least recently used keys beyond its bound', () => {
    const l = new RateLimiter(2);
    expect(l.take('a', 1, 0).ok).toBe(true);
    expect(l.take('b', 1, 0).ok).toBe(true);
    expect(l.take('c', 1, 0).ok).toBe(true); // a is forgotten
    expect(l.take('a', 1, 0).ok).toBe(true);
    expect(l.take('c', 1, 0).ok).toBe(false);
  });

  it('reads RX_RATE_LIMIT_<ROLE> per role, 0 for no limit, and refuses nonsense', () => {
    expect(rateLimitConfig({})).toEqual(DEFAULT_RATE_LIMITS);
    const c = rateLimitConfig({ RX_RATE_LIMIT_HOSPITAL: '120', RX_RATE_LIMIT_LEAD_PHARMACIST: '0' });
    expect(c.hospital).toBe(120);
    expect(c.lead_pharmacist).toBe(0);
    expect(c.courier).toBe(DEFAULT_RATE_LIMITS.courier);
    expect(() => rateLimitConfig({ RX_RATE_LIMIT_COURIER: 'lots' })).toThrow(/RX_RATE_LIMIT_COURIER/);
    expect(Object.keys(DEFAULT_RATE_LIMITS).sort()).toEqual([...ROLES].sort());
  });
});
