/**
 * The console's REST calls: GET with the admin's bearer token, answers as JSON,
 * refusals as an `ApiError` carrying the server's own sentence, so a page can
 * show it as is (a 401 or 403 sends the admin back to the sign-in form).
 */
import { errorMessage, requestJson } from '../lib/http.js';
import { realTimers } from '../lib/loop.js';
import { trimUrl } from '../lib/log.js';

export class ApiError extends Error {
  constructor(message, status, body) {
    super(message);
    this.status = status;
    this.body = body;
  }

  /** The token is missing, bad, expired (401) or not an admin's (403): ask for another. */
  get auth() {
    return this.status === 401 || this.status === 403;
  }
}

/** `?a=1&b=x` from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

export function createApi({ url, token, fetch: fetchFn, timers = realTimers }) {
  const base = trimUrl(url);

  async function get(path, params) {
    let answer;
    try {
      answer = await requestJson(fetchFn, base + path + query(params), { method: 'GET', token, timers });
    } catch (err) {
      throw new ApiError(`The server did not answer (${err.message}).`, 0, null);
    }
    if (!answer.ok) throw new ApiError(errorMessage(answer, `GET ${path}`), answer.status, answer.body);
    return answer.body;
  }

  /** A file the server makes for an admin (the payroll CSV): `{blob, filename}`. */
  async function download(path, params, fallbackName) {
    let res;
    try {
      res = await fetchFn(base + path + query(params), {
        method: 'GET',
        headers: { Authorization: `Bearer ${token}` },
        cache: 'no-store',
        credentials: 'omit',
      });
    } catch (err) {
      throw new ApiError(`The server did not answer (${err.message}).`, 0, null);
    }
    if (res.status < 200 || res.status >= 300) {
      let body = {};
      try {
        body = JSON.parse(await res.text());
      } catch (_) {
        body = {};
      }
      throw new ApiError(errorMessage({ status: res.status, body }, `GET ${path}`), res.status, body);
    }
    const disposition = (res.headers && res.headers.get && res.headers.get('Content-Disposition')) || '';
    const named = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition);
    return { blob: await res.blob(), filename: named ? decodeURIComponent(named[1]) : fallbackName };
  }

  return { get, download, token };
}
