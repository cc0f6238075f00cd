/**
 * The seller's livestream client (SPEC.md §7, §9: the credit guide's
 * `LivestreamComponent`), without its dependencies: `io`, `fetch`, timers and
 * the window are passed in, so node tests drive it with fakes.
 * `src/livestream.js` is the browser entry that passes the real ones.
 *
 * While the stream is live it posts `POST /api/livestreams/{id}/heartbeat/`
 * every interval (one at a time, retried with backoff when the network or the
 * server fails), and listens on a socket (`auth: {token}`; the server puts
 * the seller's sockets in room `user:{sub}`) to `livestream:credits`,
 * `livestream:warning` and `livestream:ended`, ignoring other streams' events.
 * It stops by itself when the server ends the stream (the socket event, a
 * heartbeat answered 400 "not currently live", or check_credits saying so).
 */
import { Backoff } from './backoff.js';
import { createReconnector, openSocket, seconds } from './connection.js';
import { Emitter } from './emitter.js';
import { HeartbeatLoop, realTimers } from './loop.js';
import { classify, errorMessage, requestJson } from './http.js';
import { makeLogger, trimUrl } from './log.js';

/** The guide's heartbeat period was 5 minutes; once a minute keeps far inside the 10-minute warning. */
export const DEFAULT_STREAM_HEARTBEAT_SECONDS = 60;
/** SPEC.md §7: `low_credits` is true at 2 credits or fewer. */
export const LOW_CREDITS_AT = 2;

/** Whether a balance counts as low (the server's `low_credits` wins when it says). */
export function isLowCredits(remaining) {
  return typeof remaining === 'number' && remaining <= LOW_CREDITS_AT;
}

/** A heartbeat answer meaning "this stream is over": 400 `{"error": "Livestream is not currently live", "reason"}`. */
export function isNotLiveAnswer(answer) {
  if (!answer || answer.status !== 400) return false;
  const body = answer.body || {};
  return /not currently live/i.test(String(body.error || '')) || Object.prototype.hasOwnProperty.call(body, 'reason');
}

/** Whether a socket event's `livestream_id` is this stream's (ids compared as strings). */
export function sameStream(data, livestreamId) {
  return Boolean(data) && data.livestream_id != null && String(data.livestream_id) === String(livestreamId);
}

/**
 * @param {object} options  see `PresenceStream.start` in src/livestream.js
 * @param {object} deps     `{io, fetch, timers?, window?}`
 */
export function createStream(options, deps) {
  const { url, token, livestreamId } = options || {};
  if (!url || !token || livestreamId == null || livestreamId === '') {
    throw new TypeError('PresenceStream.start needs url, token and livestreamId');
  }
  const { io, fetch: fetchFn } = deps;
  const timers = deps.timers || realTimers;
  const win = deps.window || null;
  const base = trimUrl(url);
  const id = encodeURIComponent(String(livestreamId));
  const log = makeLogger('[PresenceStream]', options.debug);
  const events = new Emitter();
  const intervalMs = seconds(options.heartbeatInterval, DEFAULT_STREAM_HEARTBEAT_SECONDS) * 1000;

  const view = {
    state: 'connecting', // connecting | scheduled | live | ended
    endReason: null,
    remainingCredits: null,
    creditsConsumed: null,
    lowCredits: false,
    warning: null, // {reason, inactiveSeconds, at} until a heartbeat gets through again
    lastActivity: null,
    timeUntilNextDeductionMinutes: null,
  };
  let stopped = false;
  let stopReason = null;
  let connectedOnce = false;
  let loadTimer = null;
  const loadBackoff = new Backoff({ min: 1000, max: 30000 });

  const call = (method, path, body) =>
    requestJson(fetchFn, `${base}${path}`, { method, token, body, timers });

  // ------------------------------------------------------------ state

  function snapshot() {
    return Object.assign({ livestreamId: String(livestreamId), stopped, stopReason }, view);
  }

  function changed() {
    events.emit('change', snapshot());
  }

  function applyCredits(remaining, consumed, low) {
    const wasLow = view.lowCredits;
    const before = `${view.remainingCredits}/${view.creditsConsumed}/${view.lowCredits}`;
    if (typeof remaining === 'number') view.remainingCredits = remaining;
    if (typeof consumed === 'number') view.creditsConsumed = consumed;
    view.lowCredits = typeof low === 'boolean' && typeof remaining === 'number' ? low : isLowCredits(view.remainingCredits);
    if (before === `${view.remainingCredits}/${view.creditsConsumed}/${view.lowCredits}`) return false;
    events.emit('credits', {
      remainingCredits: view.remainingCredits,
      creditsConsumed: view.creditsConsumed,
      lowCredits: view.lowCredits,
    });
    if (view.lowCredits && !wasLow) events.emit('low-credits', { remainingCredits: view.remainingCredits });
    return true;
  }

  /** Takes the stream shape of GET /api/livestreams/{id}/ (start and end answer it too). */
  function applyStream(body) {
    if (!body) return;
    if (typeof body.credits_consumed === 'number') applyCredits(undefined, body.credits_consumed);
    if (body.last_activity) view.lastActivity = body.last_activity;
    if (body.status === 'live') goLiveLocally();
    else if (body.status === 'scheduled') setState('scheduled');
    else if (body.status === 'ended') endLocally(body.end_reason, 'server');
  }

  function setState(state) {
    if (view.state === state) return;
    view.state = state;
    events.emit('state', { state, endReason: view.endReason });
  }

  function goLiveLocally() {
    if (stopped || view.state === 'live' || view.state === 'ended') return;
    setState('live');
    loop.start();
  }

  /**
   * The stream is over: stop heartbeating and listening, say why. `source`:
   * 'socket' (livestream:ended), 'heartbeat' (400 not live), 'check' (check_credits),
   * 'end' (our own end()), 'server' (the stream was already ended when read).
   */
  function endLocally(reason, source) {
    if (view.state === 'ended') {
      if (!view.endReason && reason) {
        view.endReason = reason;
        changed();
      }
      return;
    }
    log('stream ended:', reason, 'via', source);
    view.endReason = reason || null;
    view.warning = null;
    view.timeUntilNextDeductionMinutes = null;
    loop.stop();
    setState('ended');
    events.emit('ended', { reason: view.endReason, source });
    closeSocket();
    changed();
  }

  /** A 400 "not live" or check_credits' `livestream_ended` may not say why: read the stream for its end_reason. */
  async function endedWithoutReason(reason, source) {
    if (!reason) {
      try {
        const read = await call('GET', `/api/livestreams/${id}/`);
        if (read.ok && read.body.end_reason) reason = read.body.end_reason;
      } catch (_) {
        // The reason stays unknown; the socket's livestream:ended may still bring it.
      }
    }
    endLocally(reason, source);
  }

  function fatal(kind, status, message) {
    log.warn(message);
    events.emit('error', { kind, status, message, fatal: true });
    finish(kind, message);
  }

  function finish(reason, message) {
    if (stopped) return;
    stopped = true;
    stopReason = reason;
    loop.stop();
    timers.clearTimeout(loadTimer);
    closeSocket();
    events.emit('stopped', { reason, message: message || null });
    changed();
  }

  // ------------------------------------------------------------ heartbeats

  const loop = new HeartbeatLoop({
    intervalMs,
    timers,
    backoff: { min: 2000, max: 30000 },
    run: async () => {
      if (stopped || view.state !== 'live') return 'stop';
      let answer;
      try {
        answer = await call('POST', `/api/livestreams/${id}/heartbeat/`, {});
      } catch (err) {
        if (view.state !== 'live') return 'stop';
        events.emit('error', { kind: 'network', message: `heartbeat failed: ${err.message}`, fatal: false });
        return 'retry';
      }
      if (stopped || view.state !== 'live') return 'stop';
      if (answer.ok) {
        const b = answer.body;
        if (b.last_activity) view.lastActivity = b.last_activity;
        applyCredits(b.remaining_credits, b.credits_consumed, b.low_credits);
        view.warning = null;
        events.emit('heartbeat', b);
        changed();
        return 'ok';
      }
      if (isNotLiveAnswer(answer)) {
        await endedWithoutReason(answer.body.reason, 'heartbeat');
        return 'stop';
      }
      return failed(answer, 'POST heartbeat');
    },
  });

  /** What a refused heartbeat or read means for the loop. */
  function failed(answer, what) {
    const kind = classify(answer.status);
    const message = errorMessage(answer, what);
    if (kind === 'auth' || kind === 'forbidden' || kind === 'missing') {
      fatal(kind === 'auth' ? 'unauthorized' : kind, answer.status, message);
      return 'stop';
    }
    events.emit('error', { kind: 'http', status: answer.status, message, fatal: false });
    return kind === 'retry' ? 'retry' : 'ok';
  }

  // ------------------------------------------------------------ first read

  /** GET /api/livestreams/{id}/ (and the balance when not live), retried until it answers. */
  async function load() {
    let answer;
    try {
      answer = await call('GET', `/api/livestreams/${id}/`);
    } catch (err) {
      if (stopped) return;
      events.emit('error', { kind: 'network', message: `could not read the stream: ${err.message}`, fatal: false });
      loadTimer = timers.setTimeout(load, loadBackoff.next());
      return;
    }
    if (stopped) return;
    if (!answer.ok) {
      if (failed(answer, 'GET livestream') === 'retry') loadTimer = timers.setTimeout(load, loadBackoff.next());
      return;
    }
    applyStream(answer.body);
    if (view.state !== 'live') await readBalance();
    changed();
  }

  /** The seller's balance, for a stream not live (a live one hears it from heartbeats). */
  async function readBalance() {
    try {
      const answer = await call('GET', '/api/users/me/credits');
      if (answer.ok && !stopped) applyCredits(answer.body.remaining_credits);
    } catch (_) {
      // Informational only.
    }
  }

  // ------------------------------------------------------------ socket

  const socket = openSocket(io, base, token, options);
  // The network coming back reconnects at once (and a heartbeat goes now).
  const reconnector = createReconnector({
    socket,
    timers,
    win,
    events,
    wanted: () => !stopped && view.state !== 'ended',
    onNetworkBack: () => loop.poke(),
  });

  function closeSocket() {
    reconnector.close();
    socket.disconnect();
  }

  socket.on('connect', () => {
    reconnector.connected();
    events.emit('connect');
    // Events sent while we were away are lost: a heartbeat now brings the
    // figures up to date (and tells us if the stream ended meanwhile).
    if (connectedOnce) loop.poke();
    connectedOnce = true;
  });

  socket.on('disconnect', (reason) => {
    events.emit('disconnect', reason);
    if (stopped || view.state === 'ended') return;
    if (reason === 'io server disconnect') reconnector.schedule();
  });

  socket.on('connect_error', (err) => {
    const message = (err && err.message) || 'connection failed';
    log.warn('connect error:', message);
    if (stopped || view.state === 'ended' || socket.active) return; // socket.io-client retries by itself
    // Refused: a bad token shows in the REST answers too (401 stops
    // everything); anything else is retried, slowly.
    events.emit('error', { kind: 'refused', message, fatal: false });
    reconnector.schedule();
  });

  socket.on('livestream:credits', (d) => {
    if (!sameStream(d, livestreamId) || stopped) return;
    if (applyCredits(d.remaining_credits, d.credits_consumed)) changed();
  });

  socket.on('livestream:warning', (d) => {
    if (!sameStream(d, livestreamId) || stopped || view.state === 'ended') return;
    view.warning = { reason: d.reason || 'inactivity', inactiveSeconds: d.inactive_seconds, at: timers.now() };
    events.emit('warning', { reason: view.warning.reason, inactiveSeconds: d.inactive_seconds });
    changed();
    // We are here: a heartbeat now (unless one is on its way) clears the inactivity.
    loop.poke();
  });

  socket.on('livestream:ended', (d) => {
    if (!sameStream(d, livestreamId) || stopped) return;
    endLocally(d.reason || null, 'socket');
  });

  load();

  // ------------------------------------------------------------ actions

  function refusal(answer, what) {
    const err = new Error(errorMessage(answer, what));
    err.status = answer.status;
    err.body = answer.body;
    return err;
  }

  /** PATCH /api/livestreams/start/{id}/ (a scheduled stream): live and heartbeating on success. */
  async function goLive() {
    const answer = await call('PATCH', `/api/livestreams/start/${id}/`);
    if (answer.ok) {
      applyStream(answer.body);
      changed();
      return answer.body;
    }
    if (answer.status === 409) await load(); // already live or ended: show what it is
    throw refusal(answer, 'PATCH start');
  }

  /**
   * PATCH /api/livestreams/end/{id}/: heartbeats stop first (as the guide did);
   * if the end does not go through, they resume.
   */
  async function end() {
    loop.stop();
    let answer;
    try {
      answer = await call('PATCH', `/api/livestreams/end/${id}/`);
    } catch (err) {
      if (view.state === 'live' && !stopped) loop.start();
      throw err;
    }
    if (answer.ok) {
      if (typeof answer.body.credits_consumed === 'number') applyCredits(undefined, answer.body.credits_consumed);
      endLocally(answer.body.end_reason || 'manual', 'end');
      return answer.body;
    }
    if (answer.status === 409) {
      // Not live: already ended (by the server, another tab) or never started.
      await load();
      if (view.state === 'ended') return { status: 'ended', end_reason: view.endReason };
    }
    if (view.state === 'live' && !stopped) loop.start();
    throw refusal(answer, 'PATCH end');
  }

  /** POST /api/livestreams/{id}/check_credits/: the figures after charging every block due. */
  async function checkCredits() {
    const answer = await call('POST', `/api/livestreams/${id}/check_credits/`);
    if (!answer.ok) throw refusal(answer, 'POST check_credits');
    const b = answer.body;
    applyCredits(b.remaining_credits, b.credits_consumed);
    view.timeUntilNextDeductionMinutes =
      typeof b.time_until_next_deduction_minutes === 'number' ? b.time_until_next_deduction_minutes : null;
    if (b.livestream_ended) await endedWithoutReason(null, 'check');
    changed();
    return b;
  }

  return {
    socket,
    on: (event, fn) => events.on(event, fn),
    goLive,
    end,
    checkCredits,
    /** Re-reads the stream (GET /api/livestreams/{id}/). */
    refresh: load,
    /** Stops heartbeating and listening; the stream itself stays as it is on the server. */
    stop() {
      finish('stopped');
    },
    get state() {
      return view.state;
    },
    get endReason() {
      return view.endReason;
    },
    get remainingCredits() {
      return view.remainingCredits;
    },
    get creditsConsumed() {
      return view.creditsConsumed;
    },
    get lowCredits() {
      return view.lowCredits;
    },
    get warning() {
      return view.warning;
    },
    get lastActivity() {
      return view.lastActivity;
    },
    get timeUntilNextDeductionMinutes() {
      return view.timeUntilNextDeductionMinutes;
    },
    get stopped() {
      return stopped;
    },
    get stopReason() {
      return stopReason;
    },
    get snapshot() {
      return snapshot();
    },
  };
}
