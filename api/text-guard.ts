// Text PostgreSQL cannot store, refused at the edge. A NUL character (\u0000) is valid JSON and valid in a
// URL (%00) but PostgreSQL rejects it in text and jsonb, so it surfaced as a 500 deep inside whichever
// query met it first (found by bench/fuzz.ts); a lone surrogate is silently replaced on the way to the
// database, so what is stored would differ from what was signed. Both are the client's error, said once
// here for every route, with the JSON path. Nesting is bounded too: the canonical form, the masking and
// the FHIR mapping walk bodies recursively.
import type { Middleware } from 'koa';
import { ApiError, jsonPath, type ErrorDetail } from './errors';

/** Deeper than any body rxflow accepts (a FHIR Bundle is about 10 levels). */
export const MAX_BODY_DEPTH = 64;

/** The first string (value or key) PostgreSQL could not store faithfully, or the first value nested too deep. */
export function unstorableText(value: unknown, maxDepth = MAX_BODY_DEPTH): (ErrorDetail & { code: string; path: string }) | null {
  // Every request's body passes here and nearly all are fine: a first walk keeps no paths (no array per
  // value); only a body with a problem is walked again to say where.
  return storable(value, maxDepth) ? null : locateUnstorable(value, maxDepth);
}

function storable(value: unknown, maxDepth: number): boolean {
  const values: unknown[] = [value];
  const depths: number[] = [0];
  while (values.length) {
    const v = values.pop();
    const depth = depths.pop()!;
    if (typeof v === 'string') {
      if (badString(v)) return false;
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (depth >= maxDepth) return false;
    if (Array.isArray(v)) {
      for (const x of v) { values.push(x); depths.push(depth + 1); }
      continue;
    }
    for (const k in v) {
      if (!Object.prototype.hasOwnProperty.call(v, k)) continue;
      if (badString(k)) return false;
      values.push((v as Record<string, unknown>)[k]); depths.push(depth + 1);
    }
  }
  return true;
}

function locateUnstorable(value: unknown, maxDepth: number): (ErrorDetail & { code: string; path: string }) | null {
  // Iterative: a body nested 100,000 deep must not overflow the stack of the code meant to refuse it.
  const stack: { v: unknown; path: PropertyKey[] }[] = [{ v: value, path: [] }];
  while (stack.length) {
    const { v, path } = stack.pop()!;
    if (typeof v === 'string') {
      const problem = badString(v);
      if (problem) return { path: jsonPath(path), code: problem.code, message: problem.message };
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (path.length >= maxDepth) return { path: jsonPath(path), code: 'TOO_DEEP', message: `nested deeper than ${maxDepth} levels` };
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], path: [...path, i] });
      continue;
    }
    const entries = Object.entries(v);
    for (const [k] of entries) {
      const problem = badString(k);
      if (problem) return { path: jsonPath([...path, k]), code: problem.code, message: `field name: ${problem.message}` };
    }
    // Reversed onto the stack, so the first problem in document order is the one reported.
    for (let i = entries.length - 1; i >= 0; i--) stack.push({ v: entries[i][1], path: [...path, entries[i][0]] });
  }
  return null;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function badString(s: string): { code: string; message: string } | null {
  if (s.includes('\u0000')) return { code: 'NUL_CHARACTER', message: 'text may not contain the NUL character (\\u0000)' };
  if (LONE_SURROGATE.test(s)) return { code: 'ILL_FORMED_UNICODE', message: 'text must be well-formed Unicode (a lone surrogate was sent)' };
  return null;
}

/** The URL: percent-encoding that decodes, to text that can be stored; checked before routing. */
export const urlTextGuard: Middleware = async (ctx, next) => {
  let path: string;
  try { path = decodeURIComponent(ctx.path); } catch {
    throw new ApiError(400, 'MALFORMED_URL', 'the URL path is not valid percent-encoded UTF-8');
  }
  const inPath = badString(path);
  if (inPath) throw new ApiError(400, 'INVALID_TEXT', 'the URL path holds text that cannot be accepted', [{ path: '$path', code: inPath.code, message: inPath.message }]);
  if (ctx.querystring) {
    // querystring falls back to the raw text for bad escapes; those are refused like the path's.
    for (const part of ctx.querystring.split('&')) {
      try { decodeURIComponent(part.replace(/\+/g, ' ')); } catch {
        throw new ApiError(400, 'MALFORMED_URL', 'the query string is not valid percent-encoded UTF-8', [{ path: `$query.${part.split('=')[0].slice(0, 40)}`, message: 'bad percent-encoding' }]);
      }
    }
    const q = unstorableText(ctx.query, 4);
    if (q) throw new ApiError(400, 'INVALID_TEXT', 'a query parameter holds text that cannot be accepted', [{ ...q, path: q.path.replace(/^\$/, '$query') }]);
  }
  await next();
};

/** The parsed body: after the body parser, before any route reads it. */
export const bodyTextGuard: Middleware = async (ctx, next) => {
  const problem = unstorableText((ctx.request as { body?: unknown }).body);
  if (problem) {
    const deep = problem.code === 'TOO_DEEP';
    throw new ApiError(400, deep ? 'BODY_TOO_DEEP' : 'INVALID_TEXT', deep ? `the body is nested deeper than ${MAX_BODY_DEPTH} levels` : 'the body holds text that cannot be accepted', [problem]);
  }
  await next();
};
