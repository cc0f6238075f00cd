/**
 * One JSON request to the presence server with a bearer token, and the
 * vocabulary the clients use to decide what to do with its answer.
 */
import { realTimers } from './loop.js';

/** A request not answered in this time is abandoned (and counts as a network failure). */
export const REQUEST_TIMEOUT_MS = 15000;

/**
 * Sends `method url` with `Authorization: Bearer token` and a JSON body.
 * Resolves `{status, ok, body}` for any HTTP answer (body `{}` when it is not
 * JSON); rejects only when no answer came (network down, timeout), with an
 * Error whose `network` is true.
 *
 * @param {Function} fetchFn  `fetch` (injected: the tests pass a fake)
 * @param {string} url
 * @param {{method?: string, token?: string, body?: object, timeoutMs?: number, keepalive?: boolean, timers?: object}} [options]
 */
export async function requestJson(fetchFn, url, options = {}) {
  const { method = 'POST', token, body, timeoutMs = REQUEST_TIMEOUT_MS, keepalive = false } = options;
  const timers = options.timers || realTimers;
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, cache: 'no-store', credentials: 'omit' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (keepalive) init.keepalive = true;
  const controller = typeof AbortController === 'function' ? new AbortController() : null;
  if (controller) init.signal = controller.signal;
  let timer = null;
  const timeout = new Promise((_, reject) => {
    timer = timers.setTimeout(() => {
      if (controller) controller.abort();
      reject(networkError(`no answer within ${Math.round(timeoutMs / 1000)} s`));
    }, timeoutMs);
  });
  try {
    const res = await Promise.race([fetchFn(url, init), timeout]);
    let data = {};
    try {
      const text = await res.text();
      data = text ? JSON.parse(text) : {};
    } catch (_) {
      data = {};
    }
    return { status: res.status, ok: res.status >= 200 && res.status < 300, body: data || {} };
  } catch (err) {
    throw err && err.network ? err : networkError((err && err.message) || 'network error');
  } finally {
    timers.clearTimeout(timer);
  }
}

function networkError(message) {
  const err = new Error(message);
  err.network = true;
  return err;
}

/**
 * What a failed answer means for a heartbeat loop: 'auth' (401: the token is
 * missing, expired or forged; retrying cannot help), 'forbidden' (403),
 * 'missing' (404), 'retry' (429, 5xx, 408: the server is busy or restarting),
 * 'refused' (any other 4xx: this request will never be accepted as it is).
 */
export function classify(status) {
  if (status === 401) return 'auth';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'missing';
  if (status === 408 || status === 429 || status >= 500) return 'retry';
  return 'refused';
}

/** The server's sentence from an error body, or a fallback naming the status. */
export function errorMessage(answer, what) {
  const said = answer && answer.body && typeof answer.body.error === 'string' ? answer.body.error : '';
  return said || `${what} answered HTTP ${answer ? answer.status : '?'}`;
}
