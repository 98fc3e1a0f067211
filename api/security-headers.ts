// Headers every response carries, whatever route (or error) answers: no MIME sniffing, no referrer to
// other sites, never framed. HTML pages add their own Content-Security-Policy (console, /ops/reports);
// the access matrix test checks every HTML page the routers serve has the full set.
import type { Middleware } from 'koa';

export const baseSecurityHeaders: Middleware = async (ctx, next) => {
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.set('X-Frame-Options', 'DENY');
  await next();
};

/** What an HTML page must send (asserted by tests/integration/access-matrix.test.ts). */
export const HTML_SECURITY_HEADERS = ['content-security-policy', 'x-frame-options', 'x-content-type-options', 'referrer-policy', 'cross-origin-opener-policy'] as const;
