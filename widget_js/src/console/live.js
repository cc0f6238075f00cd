/**
 * The console's socket (SPEC §9): an admin's token puts it in room `admins`,
 * where the server sends what the pages show. It reports its state (`connecting`,
 * `live`, `reconnecting`) so a page can say that it is catching up, and every
 * `connect` (the first and each reconnect) so the page re-reads from REST what
 * it may have missed. A connection the server refuses (a bad or expired token)
 * is reported as `refused`; socket.io-client would not retry it by itself, nor
 * after a server-side disconnect, so those are retried here, with a backoff.
 */
import { Backoff } from '../lib/backoff.js';
import { Emitter } from '../lib/emitter.js';
import { trimUrl } from '../lib/log.js';
import { realTimers } from '../lib/loop.js';

const OWN_EVENTS = new Set(['state', 'connect', 'refused']);

export function openLive({ io, url, token, timers = realTimers, window: win = null, backoff = {} }) {
  const events = new Emitter();
  const socket = io(trimUrl(url), {
    path: '/socket.io',
    transports: ['websocket', 'polling'],
    tryAllTransports: true,
    forceNew: true,
    auth: { token },
    reconnectionDelay: 1000,
    reconnectionDelayMax: 10000,
  });
  const retries = new Backoff({ min: backoff.min || 1000, max: backoff.max || 15000 });
  let state = 'connecting';
  let connectedOnce = false;
  let closed = false;
  let timer = null;

  function setState(next) {
    if (state === next) return;
    state = next;
    events.emit('state', next);
  }

  function retryLater() {
    if (closed) return;
    timers.clearTimeout(timer);
    timer = timers.setTimeout(() => {
      timer = null;
      if (!closed && !socket.connected) socket.connect();
    }, retries.next());
  }

  socket.on('connect', () => {
    if (closed) return;
    retries.reset();
    setState('live');
    const first = !connectedOnce;
    connectedOnce = true;
    events.emit('connect', { first });
  });

  socket.on('disconnect', (reason) => {
    if (closed) return;
    setState('reconnecting');
    // socket.io-client reconnects by itself, except after the server closed it.
    if (reason === 'io server disconnect') retryLater();
  });

  socket.on('connect_error', (err) => {
    if (closed) return;
    setState(connectedOnce ? 'reconnecting' : 'connecting');
    if (!socket.active) {
      // Refused by the server: the page checks the token over REST (and asks
      // for another if it is no good), then this retries.
      events.emit('refused', { message: (err && err.message) || 'The server refused the connection' });
      retryLater();
    }
  });

  function onNetworkOnline() {
    if (closed || socket.connected) return;
    timers.clearTimeout(timer);
    retries.reset();
    socket.disconnect(); // not connected: emits nothing, cancels the pending retry
    socket.connect();
  }
  if (win) win.addEventListener('online', onNetworkOnline);

  return {
    socket,
    /** `state`, `connect` ({first}), `refused` ({message}), or any server event. */
    on(event, fn) {
      if (OWN_EVENTS.has(event)) return events.on(event, fn);
      socket.on(event, fn);
      return () => socket.off && socket.off(event, fn);
    },
    get state() {
      return state;
    },
    close() {
      closed = true;
      timers.clearTimeout(timer);
      if (win) win.removeEventListener('online', onNetworkOnline);
      events.clear();
      socket.disconnect();
    },
  };
}
