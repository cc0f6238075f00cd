/**
 * The attendance tracking page's session client (SPEC.md §6, §9), without the
 * page: `fetch`, timers, window and document are passed in, so node tests
 * drive it with fakes. `src/tracking.js` is the page that uses it.
 *
 * - `POST /api/sessions/{id}/heartbeat` with the session's secret as bearer,
 *   at once and then every `heartbeatInterval` seconds; one at a time; a
 *   failure (network blip, 5xx, 429) is retried with backoff and heartbeats
 *   resume. Only heartbeats are retried: nothing here can open a second session.
 * - 410 (`{"error", "status"}`): the session is over (timed out or ended
 *   elsewhere); 401/403/404: the link's session is not this page's to track.
 *   Both stop everything.
 * - `end()`: `POST /api/sessions/{id}/end` (same bearer), answered with the
 *   session row, whose `durationMinutes` is the final duration.
 */
import { Emitter } from './emitter.js';
import { HeartbeatLoop, realTimers } from './loop.js';
import { classify, errorMessage, requestJson } from './http.js';
import { trimUrl } from './log.js';

/** SPEC.md §1: PRESENCE_SESSION_HEARTBEAT_INTERVAL, used when the page's config lacks one. */
export const DEFAULT_SESSION_HEARTBEAT_SECONDS = 30;

/** `h:mm:ss` for a duration in milliseconds (negative counts as 0). */
export function formatElapsed(ms) {
  const total = Math.max(0, Math.floor((Number(ms) || 0) / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return `${h}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
}

/** "1 minute", "45 minutes", "1 h 5 min" for a whole number of minutes. */
export function formatMinutes(minutes) {
  const n = Math.max(0, Math.round(Number(minutes) || 0));
  if (n < 60) return `${n} minute${n === 1 ? '' : 's'}`;
  const h = Math.floor(n / 60);
  const m = n % 60;
  return m ? `${h} h ${m} min` : `${h} h`;
}

/**
 * The config the server put in `<script type="application/json" id="tracking-config">`,
 * checked: `{sessionId, secret, heartbeatInterval, zoomUrl, meetingTitle}`.
 * Throws a TypeError naming what is missing.
 */
export function parseConfig(text) {
  let config;
  try {
    config = JSON.parse(text);
  } catch (_) {
    throw new TypeError('the tracking config is not valid JSON');
  }
  if (!config || typeof config !== 'object') throw new TypeError('the tracking config is not an object');
  for (const key of ['sessionId', 'secret']) {
    if (config[key] == null || config[key] === '') throw new TypeError(`the tracking config has no ${key}`);
  }
  const interval = Number(config.heartbeatInterval);
  return {
    sessionId: String(config.sessionId),
    secret: String(config.secret),
    heartbeatInterval: Number.isFinite(interval) && interval > 0 ? interval : DEFAULT_SESSION_HEARTBEAT_SECONDS,
    zoomUrl: safeMeetingUrl(config.zoomUrl),
    meetingTitle: typeof config.meetingTitle === 'string' ? config.meetingTitle : '',
  };
}

/**
 * The meeting URL if it is one a page may open (http, https, or Zoom's own
 * zoommtg:/zoomus: schemes), else null: a `javascript:` URL must never reach
 * an href or window.open.
 */
export function safeMeetingUrl(url) {
  if (typeof url !== 'string' || !url.trim()) return null;
  const match = /^\s*([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(url);
  if (!match) return null;
  return ['http', 'https', 'zoommtg', 'zoomus'].includes(match[1].toLowerCase()) ? url.trim() : null;
}

/**
 * @param {object} config  parseConfig()'s answer
 * @param {object} deps    `{fetch, timers?, window?, document?, url?}` (`url`: the server's origin, default same origin)
 * @returns a handle: `{on(event, fn), end(), stop(), state, snapshot}`;
 *          events: `change` (snapshot), `heartbeat` (the answer), `ended` ({status, durationMinutes, message}),
 *          `error` ({kind, message, fatal, status?})
 */
export function createTracker(config, deps) {
  const { fetch: fetchFn } = deps;
  const timers = deps.timers || realTimers;
  const win = deps.window || null;
  const doc = deps.document || null;
  const base = deps.url ? trimUrl(deps.url) : '';
  const path = `/api/sessions/${encodeURIComponent(config.sessionId)}`;
  const events = new Emitter();

  const view = {
    state: 'active', // active | ended | invalid
    connection: 'connecting', // connecting | ok | retrying
    lastActivityAt: null,
    elapsedMinutes: null,
    endStatus: null, // the session's status once over: completed, timeout, ...
    durationMinutes: null, // from end()'s answer
    message: null, // why the session ended or is invalid, in the server's words
    failures: 0, // heartbeats failed in a row
  };
  let ending = null; // the end() in progress

  const snapshot = () => Object.assign({}, view);
  const changed = () => events.emit('change', snapshot());

  const call = (suffix, keepalive) =>
    requestJson(fetchFn, `${base}${path}/${suffix}`, { token: config.secret, body: {}, keepalive, timers });

  function over(status, message, durationMinutes) {
    loop.stop();
    detach();
    view.state = 'ended';
    view.endStatus = status || 'ended';
    view.message = message || null;
    if (typeof durationMinutes === 'number') view.durationMinutes = durationMinutes;
    events.emit('ended', { status: view.endStatus, durationMinutes: view.durationMinutes, message: view.message });
    changed();
  }

  function invalid(status, message) {
    loop.stop();
    detach();
    view.state = 'invalid';
    view.message = message;
    events.emit('error', { kind: 'invalid', status, message, fatal: true });
    changed();
  }

  const loop = new HeartbeatLoop({
    intervalMs: config.heartbeatInterval * 1000,
    timers,
    backoff: { min: 1000, max: 30000 },
    run: async () => {
      if (view.state !== 'active') return 'stop';
      let answer;
      try {
        answer = await call('heartbeat');
      } catch (err) {
        return retrying(err.message);
      }
      if (view.state !== 'active') return 'stop';
      if (answer.ok) {
        view.connection = 'ok';
        view.failures = 0;
        view.lastActivityAt = answer.body.lastActivityAt || view.lastActivityAt;
        if (typeof answer.body.elapsedMinutes === 'number') view.elapsedMinutes = answer.body.elapsedMinutes;
        events.emit('heartbeat', answer.body);
        changed();
        return 'ok';
      }
      if (answer.status === 410) {
        over(answer.body.status, errorMessage(answer, 'heartbeat'));
        return 'stop';
      }
      const kind = classify(answer.status);
      if (kind === 'auth' || kind === 'forbidden' || kind === 'missing') {
        invalid(answer.status, errorMessage(answer, 'heartbeat'));
        return 'stop';
      }
      return retrying(errorMessage(answer, 'heartbeat'), answer.status);
    },
  });

  function retrying(message, status) {
    view.connection = 'retrying';
    view.failures += 1;
    events.emit('error', { kind: status ? 'http' : 'network', status, message, fatal: false });
    changed();
    return 'retry';
  }

  // A blip is over, or the page is in front again after the browser held its
  // timers back (a phone's background tab): heartbeat now rather than later.
  const onOnline = () => loop.poke();
  const onVisible = () => {
    if (doc && doc.visibilityState === 'visible' && loop.overdue(timers.now())) loop.poke();
  };
  const onPageShow = (event) => {
    if (event && event.persisted) loop.poke();
  };
  if (win) {
    win.addEventListener('online', onOnline);
    win.addEventListener('pageshow', onPageShow);
  }
  if (doc) doc.addEventListener('visibilitychange', onVisible);

  function detach() {
    if (win) {
      win.removeEventListener('online', onOnline);
      win.removeEventListener('pageshow', onPageShow);
    }
    if (doc) doc.removeEventListener('visibilitychange', onVisible);
  }

  loop.start();

  /**
   * "I have left": `POST /api/sessions/{id}/end`. Resolves the snapshot once the
   * session is over (with `durationMinutes` from the answer; a 410 means it was
   * already over). Rejects, heartbeats resuming, if the end did not get through.
   * Calling it again while it runs returns the same promise.
   */
  function end() {
    if (ending) return ending;
    if (view.state !== 'active') return Promise.resolve(snapshot());
    loop.stop();
    ending = (async () => {
      let answer;
      try {
        answer = await call('end', true);
      } catch (err) {
        if (view.state === 'active') loop.start();
        throw err;
      }
      if (answer.ok) {
        over(answer.body.status || 'completed', null, answer.body.durationMinutes);
        return snapshot();
      }
      if (answer.status === 410) {
        over(answer.body.status, errorMessage(answer, 'end'));
        return snapshot();
      }
      const kind = classify(answer.status);
      if (kind === 'auth' || kind === 'forbidden' || kind === 'missing') {
        invalid(answer.status, errorMessage(answer, 'end'));
        return snapshot();
      }
      if (view.state === 'active') loop.start();
      const err = new Error(errorMessage(answer, 'end'));
      err.status = answer.status;
      throw err;
    })().finally(() => {
      ending = null;
    });
    return ending;
  }

  return {
    on: (event, fn) => events.on(event, fn),
    end,
    /** Stops heartbeating without ending the session (it times out on the server). */
    stop() {
      loop.stop();
      detach();
    },
    get state() {
      return view.state;
    },
    get snapshot() {
      return snapshot();
    },
  };
}
