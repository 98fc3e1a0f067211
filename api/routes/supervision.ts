// The provincial supervision feed: one day's prescriptions, reviews, dispensing and deliveries per region.
import Router from '@koa/router';
import type { ApiDeps } from '../app';

export function supervisionRoutes(_deps: ApiDeps): Router {
  return new Router();
}
