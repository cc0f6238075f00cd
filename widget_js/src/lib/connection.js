/**
 * The socket side the app user's client (user-presence.js) and the seller's
 * livestream client (stream.js) share: how the socket is opened, and the
 * reconnects socket.io-client does not do by itself (after a server-side
 * disconnect or a refused connect, and at once when the browser says the
 * network is back).
 */
import { Backoff } from './backoff.js';

/** A positive number of seconds from an option, or `fallback`. */
export function seconds(value, fallback) {
  const n = Number(value);
  return value != null && Number.isFinite(n) && n > 0 ? n : fallback;
}

/** The Socket.IO connection to `base` with `auth: {token}` (`options.path`, `options.transports` may override). */
export function openSocket(io, base, token, options) {
  return io(base, {
    path: options.path || '/socket.io',
    transports: options.transports || ['websocket', 'polling'],
    tryAllTransports: true,
    forceNew: true,
    auth: { token },
    reconnectionDelay: 1000,
    reconnectionDelayMax: 30000,
  });
}

/**
 * Reconnects `socket` after a backoff (jittered, doubling from 1 s up to 30 s)
 * and listens to the window's `online`.
 *
 * @param {object} o
 * @param o.socket       the socket to bring back
 * @param o.timers       `{setTimeout, clearTimeout}`
 * @param o.win          the window (or null): its `online` reconnects at once
 * @param o.events       an Emitter: `reconnecting` (the delay in ms) is emitted on it
 * @param o.wanted       () => whether the socket should still be connected
 * @param o.onNetworkBack  called when the network is back (while wanted), before reconnecting
 * @param o.log          optional logger (debug lines)
 */
export function createReconnector({ socket, timers, win, events, wanted, onNetworkBack, log }) {
  const backoff = new Backoff({ min: 1000, max: 30000 });
  let timer = null;

  function schedule() {
    timers.clearTimeout(timer);
    const delay = backoff.next();
    if (log) log('reconnecting in', delay, 'ms');
    events.emit('reconnecting', delay);
    timer = timers.setTimeout(() => {
      if (wanted() && !socket.connected) socket.connect();
    }, delay);
  }

  function onNetworkOnline() {
    if (!wanted()) return;
    if (onNetworkBack) onNetworkBack();
    if (socket.connected) return;
    if (log) log('network back: reconnecting now');
    timers.clearTimeout(timer);
    backoff.reset();
    socket.disconnect(); // not connected: emits nothing, cancels socket.io-client's pending retry
    socket.connect();
  }
  if (win) win.addEventListener('online', onNetworkOnline);

  return {
    schedule,
    /** The socket connected: no pending reconnect, and the next backoff starts small again. */
    connected() {
      timers.clearTimeout(timer);
      backoff.reset();
    },
    /** No more reconnects: the pending one is cancelled and `online` no longer listened to. */
    close() {
      timers.clearTimeout(timer);
      if (win) win.removeEventListener('online', onNetworkOnline);
    },
  };
}
