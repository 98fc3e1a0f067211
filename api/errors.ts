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
  } catch (err) {
    const e = err as Error & { status?: number; type?: string; expose?: boolean };
    let apiErr: ApiError;
    if (err instanceof ApiError) apiErr = err;
    else if (err instanceof ZodError) apiErr = fromZod(err);
    else if (e.status && e.status >= 400 && e.status < 500 && e.expose) apiErr = new ApiError(e.status, 'BAD_REQUEST', e.message);
    else {
      ctx.app.emit('error', err, ctx);
      apiErr = new ApiError(500, 'INTERNAL', 'internal error; the request was not applied or can be retried safely');
    }
    ctx.status = apiErr.status;
    ctx.body = { error: { code: apiErr.code, message: apiErr.message, details: apiErr.details } };
  }
};
