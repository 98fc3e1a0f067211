// Operator reports: monthly prescription analytics (JSON, CSV) and the operator's report page.
// The page and its scripts are static files outside /v1 (no key needed to load them); the page asks for
// the operator key and sends it as a bearer token to /v1/reports/monthly, which requires the operator role.
import Router from '@koa/router';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { EntityManager } from '@mikro-orm/postgresql';
import { GROUPINGS, MONTH_PATTERN, monthlyAnalytics } from '../../reports/analytics';
import { monthlyReportCsv } from '../../reports/csv';
import { authorize } from '../access';
import type { ApiDeps } from '../app';

const MonthlyQuery = z.object({
  month: z.string().regex(MONTH_PATTERN, 'month must be YYYY-MM (e.g. 2026-11)'),
  by: z.enum(GROUPINGS),
  format: z.enum(['json', 'csv']).default('json'),
});

const WEB = path.resolve(__dirname, '../../web');

/** The only files served under /ops: a fixed map, so no request path ever reaches the file system. */
const STATIC: Record<string, { file: () => string; type: string; cache: string }> = {
  '/ops/reports': { file: () => path.join(WEB, 'ops-reports.html'), type: 'text/html; charset=utf-8', cache: 'no-cache' },
  '/ops/assets/ops-reports.js': { file: () => path.join(WEB, 'ops-reports.js'), type: 'text/javascript; charset=utf-8', cache: 'no-cache' },
  '/ops/assets/ops-reports.css': { file: () => path.join(WEB, 'ops-reports.css'), type: 'text/css; charset=utf-8', cache: 'no-cache' },
  '/ops/assets/echarts.min.js': { file: () => require.resolve('echarts/dist/echarts.min.js'), type: 'text/javascript; charset=utf-8', cache: 'public, max-age=86400' },
};

// Scripts only from this origin (no inline script); ECharts' tooltips need inline style attributes.
const CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", "connect-src 'self'",
  "img-src 'self' data: blob:", "font-src 'self'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join('; ');

export function reportRoutes(deps: ApiDeps): Router {
  const r = new Router();

  r.get('/v1/reports/monthly', authorize('reports.read'), async (ctx) => {
    const q = MonthlyQuery.parse(ctx.query);
    const report = await monthlyAnalytics(deps.orm.em.fork() as EntityManager, { month: q.month, by: q.by });
    ctx.set('Cache-Control', 'no-store');
    if (q.format === 'csv') {
      ctx.type = 'text/csv; charset=utf-8';
      ctx.set('Content-Disposition', `attachment; filename="rx-monthly-${q.month}-${q.by}.csv"`);
      ctx.body = monthlyReportCsv(report);
      return;
    }
    ctx.body = report;
  });

  for (const [route, asset] of Object.entries(STATIC)) {
    r.get(route, async (ctx) => {
      const file = asset.file();
      const stat = await fs.promises.stat(file);
      ctx.type = asset.type;
      ctx.length = stat.size;
      ctx.set('Cache-Control', asset.cache);
      ctx.set('X-Content-Type-Options', 'nosniff');
      ctx.set('Referrer-Policy', 'no-referrer');
      if (asset.type.startsWith('text/html')) {
        ctx.set('Content-Security-Policy', CSP);
        ctx.set('X-Frame-Options', 'DENY');
        ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
      }
      ctx.body = fs.createReadStream(file);
    });
  }

  return r;
}
