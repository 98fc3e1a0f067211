// The console's calls to the engine: same-origin fetch with the session cookie; unsafe methods carry the
// session's CSRF token. Every failure becomes an ApiFailure with the API's code and message, which the
// page shows as they are (including 404s of endpoints this server does not have).
let csrfToken = null;
let csrfHeader = 'x-csrf-token';
let onSessionEnded = () => {};

export function useSession(s) {
  csrfToken = s ? s.csrfToken : null;
  if (s && s.csrfHeader) csrfHeader = s.csrfHeader;
}
export function whenSessionEnds(fn) { onSessionEnded = fn; }

export class ApiFailure extends Error {
  constructor(status, code, message, details = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
  /** "CODE: message (path: detail; …)" for the page. */
  describe() {
    const extra = (this.details || []).map((d) => (d.path ? `${d.path}: ${d.message}` : d.message)).filter(Boolean);
    return `${this.code}: ${this.message}${extra.length ? ` (${extra.join('; ')})` : ''}`;
  }
}

export async function call(method, url, body) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers[csrfHeader] = csrfToken;
  let res;
  try {
    res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin', cache: 'no-store' });
  } catch (e) {
    throw new ApiFailure(0, 'NETWORK', e && e.message ? e.message : String(e));
  }
  if (res.status === 204) return null;
  let data = null;
  try { data = await res.json(); } catch { /* not JSON */ }
  if (res.ok) return data;
  const err = data && data.error ? data.error : {};
  const failure = new ApiFailure(res.status, err.code || `HTTP_${res.status}`, err.message || `HTTP ${res.status}`, err.details || []);
  // A dead session on a data call sends the pharmacist back to the login form.
  if (res.status === 401 && url.startsWith('/v1/')) onSessionEnded(failure);
  throw failure;
}

export const get = (url) => call('GET', url);
export const post = (url, body = {}) => call('POST', url, body);
