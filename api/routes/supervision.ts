// The provincial supervision feed: one day's prescriptions, reviews, dispensing and deliveries per region,
// as JSON lines with masked personal data (docs/supervision-feed.md). Operators only; the same bytes as
// the file `engine/export-supervision.ts` writes, with their SHA-256 in a header.
import Router from '@koa/router';
import { z } from 'zod';
import type { EntityManager } from '@mikro-orm/postgresql';
import { isValidDate, recordFeedExport, REGION_PATTERN, supervisionFeed } from '../../reports/supervision';
import type { Principal } from '../auth';
import { authorize } from '../access';
import type { ApiDeps } from '../app';

const FeedQuery = z.object({
  date: z.string().refine(isValidDate, 'date must be a calendar date YYYY-MM-DD (a day in Asia/Shanghai time, e.g. 2026-11-23)'),
  region: z.string().regex(REGION_PATTERN, 'region must be an administrative division code of 6 digits, e.g. 330100 (9 or 12 for finer levels)'),
});

export function supervisionRoutes(deps: ApiDeps): Router {
  const r = new Router();

  r.get('/v1/supervision/feed', authorize('supervision.export'), async (ctx) => {
    const q = FeedQuery.parse(ctx.query);
    const em = deps.orm.em.fork() as EntityManager;
    const feed = await supervisionFeed(em, { date: q.date, regionCode: q.region });
    const principal = ctx.state.principal as Principal;
    await recordFeedExport(em, `${principal.role}:${principal.label}`, feed, 'api');
    ctx.set('Cache-Control', 'no-store');
    ctx.set('X-Content-SHA256', feed.sha256);
    ctx.set('X-Record-Count', String(feed.records.length));
    ctx.set('Content-Disposition', `attachment; filename="${feed.regionCode}-${feed.date}.jsonl"`);
    ctx.type = 'application/x-ndjson; charset=utf-8';
    ctx.body = Buffer.from(feed.text, 'utf8');
  });

  return r;
}
