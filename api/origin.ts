// From where a request came, for the audit trail: the client address as Koa sees it (the socket's, or
// X-Forwarded-For's first hop when the app runs behind a proxy with `app.proxy = true`) and the
// User-Agent, both cut to the column sizes. Not personal health data; still never logged with a body.
import type { Context } from 'koa';
import type { AuditOrigin } from '../activities/audit';

export function requestOrigin(ctx: Context): AuditOrigin {
  const ua = ctx.get('user-agent');
  return { ip: ctx.ip ? ctx.ip.slice(0, 64) : null, userAgent: ua ? ua.slice(0, 300) : null };
}
