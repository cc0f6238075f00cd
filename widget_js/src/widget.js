/**
 * PresenceWidget: the chat widget's presence client (SPEC.md §3 and §9).
 *
 *   const presence = PresenceWidget.connect({ url, conversationId, sessionId });
 *   presence.attachInput(document.querySelector('textarea'));
 *
 * It says `widget:online` on every (re)connect, heartbeats at the interval the
 * server acks, says `widget:offline` when the page goes away, relays typing and
 * tab visibility, and reconnects by itself, also after the server dropped it.
 * Every emit carries an ack callback; the server answers `{ok, ...}`.
 */
import { io } from 'socket.io-client';
import { Backoff } from './lib/backoff.js';
import { Emitter } from './lib/emitter.js';
import { makeLogger, trimUrl } from './lib/log.js';

/** Used only until the server's `widget:online` ack gives the real interval. */
const DEFAULT_HEARTBEAT_SECONDS = 30;
/** An ack not back in this time counts as lost. */
const ACK_TIMEOUT_MS = 10000;
/** The input helper reports "stopped typing" after this much quiet. */
const TYPING_IDLE_MS = 2000;
/**
 * While typing goes on, `isTyping: true` is re-sent at most this often, so a
 * dashboard that expires a stale "typing…" (a lost `false`) keeps showing it.
 */
const TYPING_REFRESH_MS = 3000;

/**
 * Opens the widget's presence socket.
 *
 * @param {object} options
 * @param {string} options.url             the presence server's origin, e.g. `location.origin`
 * @param {string} options.conversationId  the conversation the host application registered
 * @param {string} options.sessionId       that conversation's widget session
 * @param {boolean} [options.debug]        log to the console (also `localStorage.widget_debug = 'true'`)
 * @param {string[]} [options.transports]  default `['websocket', 'polling']`: WebSocket first
 *                                         (no sticky sessions needed across nodes), long-polling
 *                                         when a proxy blocks WebSocket
 * @param {string} [options.path]          Socket.IO path, default `/socket.io`
 * @returns a handle: `{socket, typing(bool), attachInput(el), setHidden(bool), disconnect(), on(event, fn), online}`;
 *          events: `connect`, `online` (ack), `heartbeat` (ack), `rejected` ({event, error}),
 *          `disconnect` (reason), `reconnecting` (delay in ms)
 */
export function connect(options) {
  const { url, conversationId, sessionId } = options || {};
  if (!url || !conversationId || !sessionId) {
    throw new TypeError('PresenceWidget.connect needs url, conversationId and sessionId');
  }
  const ids = { conversationId: String(conversationId), sessionId: String(sessionId) };
  const log = makeLogger('[PresenceWidget]', options.debug);
  const events = new Emitter();
  const socket = io(trimUrl(url), {
    path: options.path || '/socket.io',
    transports: options.transports || ['websocket', 'polling'],
    tryAllTransports: true,
    forceNew: true, // this handle owns its connection: disconnect() closes it
    reconnectionDelay: 1000,
    reconnectionDelayMax: 30000,
  });

  let closed = false; // disconnect() was called: no more emits or reconnects
  let bound = false; // the server acked widget:online on this connection
  let departed = false; // widget:offline was sent for the current binding
  let onlineAttempt = 0; // tells a stale ack from the current one
  let onlineTimer = null;
  let heartbeatTimer = null;
  let heartbeatMs = DEFAULT_HEARTBEAT_SECONDS * 1000;
  let nextHeartbeatAt = Infinity;
  let reconnectTimer = null;
  let typingSent = false;
  let typingSentAt = 0;
  let manualHidden = false;
  let hiddenSent = false; // what the server believes about this socket's visibility
  const onlineRetry = new Backoff({ min: 2000, max: 60000 });
  const reconnectBackoff = new Backoff({ min: 1000, max: 30000 });

  /**
   * Emits `event` with the ids plus `extra`, always with an ack callback.
   * Nothing is sent while disconnected: socket.io-client would buffer the
   * packet and deliver it after the reconnect, before our fresh widget:online,
   * where the server would refuse it.
   */
  function send(event, extra, onAck) {
    if (!socket.connected) {
      log('not connected, not sent:', event);
      return false;
    }
    log('→', event, extra || '');
    socket.timeout(ACK_TIMEOUT_MS).emit(event, Object.assign({}, ids, extra), (err, ack) => {
      if (err) {
        log.warn(event, 'not acknowledged:', err.message);
        if (onAck) onAck(null);
        return;
      }
      log('←', event, ack);
      if (!ack || ack.ok !== true) {
        events.emit('rejected', { event, error: ack && ack.error });
      }
      if (onAck) onAck(ack || { ok: false, error: 'empty ack' });
    });
    return true;
  }

  function goOnline() {
    clearTimeout(onlineTimer);
    stopHeartbeat();
    bound = false;
    const attempt = ++onlineAttempt;
    send('widget:online', null, (ack) => {
      if (closed || !socket.connected || attempt !== onlineAttempt) return;
      if (ack && ack.ok) {
        bound = true;
        departed = false;
        onlineRetry.reset();
        reconnectBackoff.reset();
        scheduleHeartbeat(ack.heartbeatInterval);
        // A fresh binding starts visible on the server: say so if it is not.
        hiddenSent = false;
        sendVisibility();
        events.emit('online', ack);
      } else {
        // Refused (e.g. the host application has not registered the
        // conversation yet) or unanswered: try again, more slowly each time.
        onlineTimer = setTimeout(goOnline, onlineRetry.next());
      }
    });
  }

  function scheduleHeartbeat(seconds) {
    const s = Number(seconds);
    heartbeatMs = (s > 0 ? s : DEFAULT_HEARTBEAT_SECONDS) * 1000;
    clearTimeout(heartbeatTimer);
    nextHeartbeatAt = Date.now() + heartbeatMs;
    heartbeatTimer = setTimeout(heartbeat, heartbeatMs);
  }

  function stopHeartbeat() {
    clearTimeout(heartbeatTimer);
    heartbeatTimer = null;
    nextHeartbeatAt = Infinity;
  }

  function heartbeat() {
    stopHeartbeat(); // one in flight at a time; its ack schedules the next
    const attempt = onlineAttempt;
    send('widget:heartbeat', null, (ack) => {
      if (closed || !socket.connected || attempt !== onlineAttempt) return;
      if (ack && ack.ok) {
        scheduleHeartbeat(ack.heartbeatInterval);
        events.emit('heartbeat', ack);
      } else if (ack) {
        // The server no longer holds a lease for this socket (it timed us out
        // but the socket survived, or we said offline and the page stayed,
        // e.g. a cancelled "leave this page?"): bind again.
        goOnline();
      } else {
        // No answer: keep the pace; if the link is dead, the transport's own
        // ping timeout will notice and reconnect.
        scheduleHeartbeat(heartbeatMs / 1000);
      }
    });
  }

  // Browsers throttle timers in background tabs (Chrome: chained timers wake
  // at most once a minute after 5 minutes hidden), which could let the lease
  // lapse while the customer still has the page open. The server's engine.io
  // ping is a network event, delivered promptly even then, so it doubles as a
  // second clock for an overdue heartbeat.
  socket.io.on('ping', () => {
    if (bound && Date.now() >= nextHeartbeatAt) heartbeat();
  });

  function scheduleReconnect() {
    clearTimeout(reconnectTimer);
    const delay = reconnectBackoff.next();
    log('reconnecting in', delay, 'ms');
    events.emit('reconnecting', delay);
    reconnectTimer = setTimeout(() => {
      if (!closed && !socket.connected) socket.connect();
    }, delay);
  }

  socket.on('connect', () => {
    clearTimeout(reconnectTimer);
    log('connected', socket.id);
    events.emit('connect');
    goOnline();
  });

  socket.on('disconnect', (reason) => {
    log('disconnected:', reason);
    bound = false;
    typingSent = false;
    clearTimeout(onlineTimer);
    stopHeartbeat();
    events.emit('disconnect', reason);
    if (closed) return;
    if (reason === 'io server disconnect') {
      // The server closed this socket on purpose, typically because its lease
      // expired (no heartbeat got through: a sleeping laptop, a long network
      // outage). socket.io-client treats a server-side disconnect as final and
      // does not reconnect, but the customer is still on the page, so we
      // reconnect ourselves, after a jittered backoff so that a server that
      // drops many widgets at once is not hit by all of them together.
      scheduleReconnect();
    }
    // Any other reason (transport closed, ping timeout) is retried by
    // socket.io-client's own reconnection loop.
  });

  socket.on('connect_error', (err) => {
    log.warn('connect error:', err && err.message);
    // A refusal by a server middleware stops socket.io-client's retries
    // (socket.active turns false). A widget holds no credentials that could be
    // wrong, so such a refusal is temporary (overload, restart): retry later.
    if (!closed && !socket.active) scheduleReconnect();
  });

  // ---------------------------------------------------------- visibility

  function isHidden() {
    return manualHidden || (typeof document !== 'undefined' && document.visibilityState === 'hidden');
  }

  function sendVisibility() {
    const hidden = isHidden();
    // After widget:offline (the page is going away) the server no longer
    // holds this socket: it would refuse anything but a new widget:online.
    if (!bound || departed || hidden === hiddenSent) return;
    hiddenSent = hidden;
    send('widget:visibility', { hidden });
  }

  /** Reports the widget hidden (e.g. the chat window is minimised) even while the tab is visible. */
  function setHidden(hidden) {
    manualHidden = Boolean(hidden);
    sendVisibility();
  }

  // ---------------------------------------------------------- typing

  /** Reports the customer typing (`true`) or not (`false`); repeated calls are coalesced. */
  function typing(isTyping) {
    const want = Boolean(isTyping);
    const now = Date.now();
    if (want === typingSent && !(want && now - typingSentAt >= TYPING_REFRESH_MS)) return;
    if (!bound || departed) return;
    typingSent = want;
    typingSentAt = now;
    send('widget:typing', { isTyping: want });
  }

  /**
   * Wires an input or textarea to typing: `true` on input, `false` after
   * TYPING_IDLE_MS of quiet, on blur, or when the field is emptied.
   * Returns a function that unwires it.
   */
  function attachInput(el) {
    let idle = null;
    const stop = () => {
      clearTimeout(idle);
      idle = null;
      typing(false);
    };
    const onInput = () => {
      if (el.value === '') return stop();
      typing(true);
      clearTimeout(idle);
      idle = setTimeout(stop, TYPING_IDLE_MS);
    };
    el.addEventListener('input', onInput);
    el.addEventListener('blur', stop);
    return () => {
      el.removeEventListener('input', onInput);
      el.removeEventListener('blur', stop);
      clearTimeout(idle);
    };
  }

  // ---------------------------------------------------------- page lifecycle

  /**
   * Says widget:offline once per binding; the page may be gone before the ack.
   * Returns whether it was sent; `onAck` is called (with the ack or null) if so.
   */
  function depart(onAck) {
    if (closed || !bound || departed) return false;
    departed = true;
    return send('widget:offline', null, typeof onAck === 'function' ? onAck : undefined);
  }

  function onPageShow(event) {
    // Back from the back/forward cache: the binding was given up on pagehide.
    if (!event.persisted || closed) return;
    if (socket.connected) goOnline();
    else if (!socket.active) socket.connect();
  }

  /**
   * The browser says the network is back: reconnect now rather than when a
   * backoff grown during a long outage (up to 30 s) runs out.
   */
  function onNetworkOnline() {
    if (closed || socket.connected) return;
    log('network back: reconnecting now');
    clearTimeout(reconnectTimer);
    reconnectBackoff.reset();
    // Not connected, so this emits nothing: it only cancels socket.io-client's
    // pending retry, and connect() starts afresh.
    socket.disconnect();
    socket.connect();
  }

  const onVisibilityChange = () => sendVisibility();
  const hasWindow = typeof window !== 'undefined';
  if (hasWindow) {
    window.addEventListener('beforeunload', depart);
    window.addEventListener('pagehide', depart);
    window.addEventListener('pageshow', onPageShow);
    window.addEventListener('online', onNetworkOnline);
    document.addEventListener('visibilitychange', onVisibilityChange);
  }

  /**
   * Says offline, closes the socket and stops every timer; the handle is then
   * spent. The returned promise settles once the socket is closed.
   */
  function disconnect() {
    if (closed) return Promise.resolve();
    // Close only once the server has acked widget:offline (or after a short
    // wait): a Socket.IO server may handle the disconnect packet before an
    // event sent just ahead of it, and agents would then be told
    // "disconnected" rather than "closed".
    const acked = new Promise((resolve) => {
      if (!depart(resolve)) resolve();
      setTimeout(resolve, 1000);
    });
    closed = true;
    bound = false;
    clearTimeout(onlineTimer);
    clearTimeout(reconnectTimer);
    stopHeartbeat();
    if (hasWindow) {
      window.removeEventListener('beforeunload', depart);
      window.removeEventListener('pagehide', depart);
      window.removeEventListener('pageshow', onPageShow);
      window.removeEventListener('online', onNetworkOnline);
      document.removeEventListener('visibilitychange', onVisibilityChange);
    }
    return acked.then(() => {
      socket.disconnect();
      events.clear();
    });
  }

  return {
    socket,
    typing,
    attachInput,
    setHidden,
    disconnect,
    on: (event, fn) => events.on(event, fn),
    /** True while the server holds a lease for this socket. */
    get online() {
      return bound;
    },
  };
}
