// One error shape for every response: { error: { code, message, details } }.
import type { Middleware } from 'koa';
import { ZodError } from 'zod';

export interface ErrorDetail { path?: string; code?: string; message: string }

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly details: ErrorDetail[] = []) {
    super(message);
  }
}

export const notFound = (what: string) => new ApiError(404, 'NOT_FOUND', `${what} not found`);

/** JSON path like $.lines[0].drugCode, so an integrator can find the field. */
export function jsonPath(path: readonly PropertyKey[]): string {
  return '$' + path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
}

export function fromZod(err: ZodError): ApiError {
  return new ApiError(400, 'VALIDATION_FAILED', 'the request does not match the schema',
    err.issues.map((i) => ({ path: jsonPath(i.path), code: i.code, message: i.message })));
}

/** Which service could not be reached, for errors that mean "try again later" rather than "bug". */
export function dependencyDown(err: unknown): string | null {
  const e = err as { name?: string; code?: number | string; message?: string; cause?: unknown };
  if (!e || typeof e !== 'object') return null;
  if (e.name === 'ConnectionError' || e.name === 'NoLivingConnectionsError' || e.name === 'TimeoutError') return 'Elasticsearch';
  // gRPC UNAVAILABLE (14) / DEADLINE_EXCEEDED (4) from the Temporal client.
  if ((e.name === 'ServiceError' || e.name === 'ConnectionError') && /UNAVAILABLE|DEADLINE|connect/i.test(e.message ?? '')) return 'Temporal';
  if (e.code === 14 || e.code === 4) return 'Temporal';
  // RESOURCE_EXHAUSTED (8) and ABORTED (10) under a Temporal call (the client wraps them in "Workflow Update
  // failed"): transient by gRPC's own meaning; a retried decision is safe (its update id is the decision's).
  if (e.code === 8 || e.code === 10) return 'Temporal';
  // An update no worker took in time (the worker is down or restarting): the decision was not applied yet.
  if (e.name === 'WorkflowUpdateRPCTimeoutOrCancelledError') return 'Temporal';
  if (typeof e.code === 'string' && ['ECONNREFUSED', '57P01', '57P03', '08006', '08001'].includes(e.code)) return 'PostgreSQL';
  // A restart or failover of PostgreSQL as the engine sees it: sockets reset, 57P02 (crash shutdown), 53300
  // (the slots taken by the reconnecting pools), and node-postgres's dropped connections, which carry no
  // code, only words; a pool that cannot get a connection in time (knex) says the same.
  if (typeof e.code === 'string' && ['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', '57P02', '53300', '08003', '08004'].includes(e.code)) return 'PostgreSQL';
  if (/^Connection terminated|^Client has encountered a connection error|^Client was closed and is not queryable/.test(e.message ?? '')) return 'PostgreSQL';
  if (e.name === 'KnexTimeoutError') return 'PostgreSQL';
  return e.cause ? dependencyDown(e.cause) : null;
}

/** For the body parser: a body we cannot read is the client's error, said in our shape. */
export function bodyError(err: Error & { type?: string; status?: number }): never {
  if (err.type === 'entity.too.large' || err.status === 413) throw new ApiError(413, 'BODY_TOO_LARGE', 'the request body is too large');
  if (err.type === 'encoding.unsupported') throw new ApiError(415, 'UNSUPPORTED_ENCODING', 'send UTF-8 JSON');
  throw new ApiError(400, 'INVALID_JSON', 'the body is not valid JSON');
}

export const errorHandler: Middleware = async (ctx, next) => {
  try {
    await next();
    if (ctx.status === 404 && ctx.body === undefined) throw new ApiError(404, 'ROUTE_NOT_FOUND', `no route for ${ctx.method} ${ctx.path}`);
    // The routers' allowedMethods answer 405 (known method, other path) or 501 (a method no route has,
    // e.g. PROPFIND) with a bare text body; both are the client asking for what is not there.
    if ((ctx.status === 405 || ctx.status === 501) && ctx.body === undefined) {
      throw new ApiError(405, 'METHOD_NOT_ALLOWED', `${ctx.method} is not allowed on ${ctx.path}`, ctx.response.get('Allow') ? [{ message: `allowed: ${ctx.response.get('Allow')}` }] : []);
    }
  } catch (err) {
    const e = err as Error & { status?: number; type?: string; expose?: boolean };
    let apiErr: ApiError;
    if (err instanceof ApiError) apiErr = err;
    else if (err instanceof ZodError) apiErr = fromZod(err);
    else if (e.status && e.status >= 400 && e.status < 500 && e.expose) apiErr = new ApiError(e.status, 'BAD_REQUEST', e.message);
    else if (dependencyDown(err)) {
      // Nothing half-done is left behind: what was stored stays stored, and repeating the request is safe.
      ctx.set('Retry-After', '5');
      apiErr = new ApiError(503, 'DEPENDENCY_UNAVAILABLE', `${dependencyDown(err)} is unavailable; retry the same request shortly`);
    }
    else {
      ctx.app.emit('error', err, ctx);
      apiErr = new ApiError(500, 'INTERNAL', 'internal error; the request was not applied or can be retried safely');
    }
    ctx.status = apiErr.status;
    ctx.body = { error: { code: apiErr.code, message: apiErr.message, details: apiErr.details } };
  }
};
