/**
 * The app user's online status client (SPEC.md §4, §9), without its
 * dependencies: `io` (socket.io-client), `fetch`, timers and the window are
 * passed in, so node tests drive it with fakes. `src/presence-user.js` is the
 * browser entry that passes the real ones.
 *
 * Transports:
 * - socket: a Socket.IO connection with `auth: {token}`; `user:heartbeat` `{}`
 *   every interval, acked `{"ok": true, "last_seen"}`;
 * - rest: `POST /api/users/heartbeat/` with the bearer token, answered
 *   `{"status": "online", "last_seen"}`, used while the socket cannot connect
 *   (a refused or failing connect, or none within `connectTimeout`), until it does.
 *
 * A token the server turns down (401, or 403: a service token is never a
 * person) stops everything and says why; it is not retried.
 */
import { createReconnector, openSocket, seconds } from './connection.js';
import { Emitter } from './emitter.js';
import { HeartbeatLoop, realTimers } from './loop.js';
import { classify, errorMessage, requestJson } from './http.js';
import { makeLogger, trimUrl } from './log.js';

/** SPEC.md §1: PRESENCE_WIDGET_HEARTBEAT_INTERVAL, the period §9 gives this client. */
export const DEFAULT_HEARTBEAT_SECONDS = 30;
/** Not connected this long after starting (or after losing the socket): heartbeat over REST meanwhile. */
export const DEFAULT_CONNECT_TIMEOUT_SECONDS = 5;
const ACK_TIMEOUT_MS = 10000;

/**
 * @param {object} options  see `PresenceUser.start` in src/presence-user.js
 * @param {object} deps     `{io, fetch, timers?, window?}`
 */
export function createUserPresence(options, deps) {
  const { url, token } = options || {};
  if (!url || !token) throw new TypeError('PresenceUser.start needs url and token');
  const { io, fetch: fetchFn } = deps;
  const timers = deps.timers || realTimers;
  const win = deps.window || null;
  const base = trimUrl(url);
  const log = makeLogger('[PresenceUser]', options.debug);
  const events = new Emitter();
  const intervalMs = seconds(options.heartbeatInterval, DEFAULT_HEARTBEAT_SECONDS) * 1000;
  const connectTimeoutMs = seconds(options.connectTimeout, DEFAULT_CONNECT_TIMEOUT_SECONDS) * 1000;

  const status = { online: false, lastSeen: null, transport: null };
  let stopped = false;
  let stopReason = null;
  let fallbackTimer = null;

  const socket = openSocket(io, base, token, options);
  // Like widget.js: jittered, doubling from 1 s up to 30 s; the network coming
  // back reconnects at once.
  const reconnector = createReconnector({
    socket,
    timers,
    win,
    events,
    log,
    wanted: () => !stopped,
    onNetworkBack: () => restLoop.poke(),
  });

  // ------------------------------------------------------------ status

  function setStatus(patch) {
    const before = Object.assign({}, status);
    Object.assign(status, patch);
    if (before.online !== status.online || before.lastSeen !== status.lastSeen || before.transport !== status.transport) {
      events.emit('status', snapshot());
    }
    if (before.transport !== status.transport) events.emit('transport', status.transport);
  }

  function snapshot() {
    return { online: status.online, lastSeen: status.lastSeen, transport: status.transport, stopped, stopReason };
  }

  function beat(transport, lastSeen) {
    setStatus({ online: true, lastSeen: lastSeen || status.lastSeen, transport });
    events.emit('heartbeat', { transport, lastSeen: status.lastSeen });
  }

  /** Ends everything for good (a refused token, logout, stop()); idempotent. */
  function finish(reason, message) {
    if (stopped) return false;
    stopped = true;
    stopReason = reason;
    socketLoop.stop();
    restLoop.stop();
    timers.clearTimeout(fallbackTimer);
    reconnector.close();
    socket.disconnect();
    setStatus({ online: false, transport: null });
    events.emit('stopped', { reason, message: message || null });
    return true;
  }

  function refuse(kind, status_, message) {
    log.warn('token refused:', message);
    events.emit('error', { kind, status: status_, message, fatal: true });
    finish(kind === 'forbidden' ? 'forbidden' : 'unauthorized', message);
  }

  // ------------------------------------------------------------ socket heartbeats

  const socketLoop = new HeartbeatLoop({
    intervalMs,
    timers,
    run: () =>
      new Promise((resolve) => {
        if (!socket.connected) return resolve('stop'); // the disconnect handler takes over
        socket.timeout(ACK_TIMEOUT_MS).emit('user:heartbeat', {}, (err, ack) => {
          if (stopped) return resolve('stop');
          if (err) {
            // No ack: keep the pace; a dead link is noticed by the transport's ping.
            log.warn('user:heartbeat not acknowledged:', err.message);
            return resolve('ok');
          }
          if (ack && ack.ok) {
            beat('socket', ack.last_seen);
            return resolve('ok');
          }
          // Refused (rate limited, or a role that has no user status): the REST
          // answer says which, with a status code to go by.
          log.warn('user:heartbeat refused:', ack && ack.error);
          restOnce().then(() => resolve('ok'));
        });
      }),
  });

  // ------------------------------------------------------------ REST heartbeats

  /** One REST heartbeat: 'ok', 'retry' or 'stop' (the token was refused). */
  async function restOnce() {
    let answer;
    try {
      answer = await requestJson(fetchFn, `${base}/api/users/heartbeat/`, { token, body: {}, timers });
    } catch (err) {
      if (stopped) return 'stop';
      log.warn('REST heartbeat failed:', err.message);
      if (!socket.connected) setStatus({ online: false, transport: null });
      events.emit('error', { kind: 'network', message: err.message, fatal: false });
      return 'retry';
    }
    if (stopped) return 'stop';
    if (answer.ok) {
      if (!socket.connected) beat('rest', answer.body.last_seen);
      else setStatus({ lastSeen: answer.body.last_seen || status.lastSeen });
      return 'ok';
    }
    const kind = classify(answer.status);
    const message = errorMessage(answer, 'POST /api/users/heartbeat/');
    if (kind === 'auth' || kind === 'forbidden') {
      refuse(kind, answer.status, message);
      return 'stop';
    }
    events.emit('error', { kind: 'http', status: answer.status, message, fatal: false });
    return 'retry';
  }

  const restLoop = new HeartbeatLoop({
    intervalMs,
    timers,
    backoff: { min: 2000, max: 30000 },
    run: async () => {
      if (socket.connected) return 'stop'; // back on the socket
      return restOnce();
    },
  });

  function fallBackToRest(why) {
    timers.clearTimeout(fallbackTimer);
    fallbackTimer = null;
    if (stopped || socket.connected || restLoop.running) return;
    log('socket not connected (' + why + '): heartbeats over REST meanwhile');
    restLoop.start();
  }

  function armFallback() {
    timers.clearTimeout(fallbackTimer);
    fallbackTimer = timers.setTimeout(() => fallBackToRest('no connection within the timeout'), connectTimeoutMs);
  }

  // ------------------------------------------------------------ socket lifecycle

  socket.on('connect', () => {
    if (stopped) return;
    log('connected', socket.id);
    timers.clearTimeout(fallbackTimer);
    reconnector.connected();
    restLoop.stop();
    events.emit('connect');
    socketLoop.start(); // a heartbeat at once gives the page its last_seen
  });

  socket.on('disconnect', (reason) => {
    log('disconnected:', reason);
    socketLoop.stop();
    events.emit('disconnect', reason);
    if (stopped) return;
    setStatus({ transport: null });
    if (reason === 'io server disconnect') {
      // socket.io-client does not come back by itself after a server-side
      // disconnect; we do, after a backoff (a token that went bad meanwhile
      // then shows up as a refused connect, below).
      reconnector.schedule();
    }
    // A blip or a reload of the server usually reconnects within a second or
    // two; REST takes over only if it does not.
    armFallback();
  });

  socket.on('connect_error', (err) => {
    if (stopped) return;
    const message = (err && err.message) || 'connection failed';
    log.warn('connect error:', message);
    if (socket.active) {
      // A transport failure: socket.io-client retries by itself, with backoff.
      fallBackToRest(message);
      return;
    }
    // Refused by the server (socket.io-client gives up on its own): a bad or
    // expired token, or a temporary refusal. A REST heartbeat tells which, with
    // a status code; a 401/403 stops everything there.
    fallBackToRest(message);
    if (!stopped) reconnector.schedule();
  });

  armFallback();

  return {
    socket,
    on: (event, fn) => events.on(event, fn),
    /** Stops heartbeats and closes the socket; the user goes offline when §4's sweep says so. */
    stop() {
      finish('stopped');
    },
    /**
     * Stops everything first (no heartbeat can follow), then `POST
     * /api/users/logout/`: the user is offline at once. Resolves the server's
     * `{status: "offline", last_seen}`; rejects with an Error (`status` set for
     * an HTTP refusal) if the logout did not go through.
     */
    async logout() {
      finish('logout');
      const answer = await requestJson(fetchFn, `${base}/api/users/logout/`, {
        token,
        body: {},
        keepalive: true,
        timers,
      });
      if (!answer.ok) {
        const err = new Error(errorMessage(answer, 'POST /api/users/logout/'));
        err.status = answer.status;
        throw err;
      }
      status.lastSeen = answer.body.last_seen || status.lastSeen;
      events.emit('status', snapshot());
      return answer.body;
    },
    get online() {
      return status.online;
    },
    get lastSeen() {
      return status.lastSeen;
    },
    get transport() {
      return status.transport;
    },
    get stopped() {
      return stopped;
    },
    get stopReason() {
      return stopReason;
    },
    get status() {
      return snapshot();
    },
  };
}
