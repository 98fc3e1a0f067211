// Operator reports: monthly prescription analytics (JSON, CSV) and the operator's report page.
import Router from '@koa/router';
import type { ApiDeps } from '../app';

export function reportRoutes(_deps: ApiDeps): Router {
  return new Router();
}
