// The pharmacist's web console (docs/console.md): a static page with plain ES modules under /console, and
// its login, session and logout calls. Everything else the page does goes through the JSON API under /v1,
// authenticated by the session cookie (api/auth.ts).
import Router from '@koa/router';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { Context, Next } from 'koa';
import { clearSessionCookie, CSRF_HEADER, login, requireCsrf, SESSION_COOKIE, sessionFromCookie, setSessionCookie } from '../auth';
import { ApiError } from '../errors';
import type { ApiDeps } from '../app';

const WEB = path.resolve(__dirname, '../../web/console');

/** The only files served: a fixed map, so no request path ever reaches the file system. */
const STATIC: Record<string, { file: string; type: string }> = {
  '/console': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/console/assets/console.js': { file: 'console.js', type: 'text/javascript; charset=utf-8' },
  '/console/assets/api.js': { file: 'api.js', type: 'text/javascript; charset=utf-8' },
  '/console/assets/i18n.js': { file: 'i18n.js', type: 'text/javascript; charset=utf-8' },
  '/console/assets/console.css': { file: 'console.css', type: 'text/css; charset=utf-8' },
};

// Scripts and styles only from this origin, nothing inline; the page may only talk to this origin and
// may not be framed (clickjacking an approve button).
export const CONSOLE_CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "img-src 'self' data:",
  "font-src 'self'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
].join('; ');

/** Serves a fixed map of route → file under dir (the console, the patient page). */
export function serveFiles(r: Router, dir: string, files: Record<string, { file: string; type: string }>): void {
  for (const [route, asset] of Object.entries(files)) {
    r.get(route, async (ctx) => {
      const file = path.join(dir, asset.file);
      const stat = await fs.promises.stat(file);
      ctx.type = asset.type;
      ctx.length = stat.size;
      ctx.set('Cache-Control', 'no-cache');
      ctx.body = fs.createReadStream(file);
    });
  }
}

export async function securityHeaders(ctx: Context, next: Next): Promise<void> {
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set('Content-Security-Policy', CONSOLE_CSP);
  ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
  ctx.set('Cross-Origin-Resource-Policy', 'same-origin');
  await next();
}

const LoginBody = z.object({
  login: z.string().trim().min(1, 'enter your pharmacist code or username').max(60),
  password: z.string().min(1, 'enter your password').max(200),
});

/** Login from another site's page is refused even before the password is checked (login CSRF). */
function requireSameOrigin(ctx: Context): void {
  const origin = ctx.get('origin');
  // Built from protocol and Host (Koa 3's ctx.origin echoes the Origin header).
  if (origin && origin !== `${ctx.protocol}://${ctx.host}`) throw new ApiError(403, 'ORIGIN_MISMATCH', 'the console accepts logins only from its own pages');
}

export function consoleRoutes(deps: ApiDeps): Router {
  const r = new Router();
  r.use('/console', securityHeaders);

  serveFiles(r, WEB, STATIC);

  r.post('/console/login', async (ctx) => {
    requireSameOrigin(ctx);
    // JSON only (the body parser reads nothing else): a cross-site form cannot send it without a preflight.
    const body = LoginBody.parse(ctx.request.body ?? {});
    const { pharmacist, session } = await login(deps.orm, deps.config, body.login, body.password);
    setSessionCookie(ctx, session);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { pharmacist, csrfToken: session.csrfToken, expiresAt: session.expiresAt, csrfHeader: CSRF_HEADER };
  });

  // Who is logged in: the page asks on load (the cookie is httpOnly, so only the server can tell).
  r.get('/console/session', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    if (!ctx.cookies.get(SESSION_COOKIE)) throw new ApiError(401, 'UNAUTHENTICATED', 'not logged in');
    const s = await sessionFromCookie(ctx, deps.orm, deps.config);
    ctx.body = {
      pharmacist: { id: s.principal.partyId, code: s.claims.code, name: s.claims.name },
      csrfToken: s.csrfToken, expiresAt: s.expiresAt, csrfHeader: CSRF_HEADER,
    };
  });

  // Logging out of a live session needs its CSRF token (another site cannot log the pharmacist out);
  // a dead or missing session is simply cleared.
  r.post('/console/logout', async (ctx) => {
    if (ctx.cookies.get(SESSION_COOKIE)) {
      const s = await sessionFromCookie(ctx, deps.orm, deps.config).catch(() => null);
      if (s) requireCsrf(ctx, s.claims);
    }
    clearSessionCookie(ctx);
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 204;
  });

  return r;
}
