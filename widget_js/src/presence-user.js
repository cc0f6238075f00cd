/**
 * PresenceUser: the app frontend's side of app-user online status (SPEC.md §4, §9),
 * what the offline-users document asked every frontend to paste in.
 *
 *   const presence = PresenceUser.start({ url: 'https://presence.example', token });
 *   presence.on('status', (s) => badge.textContent = s.online ? 'Online' : 'Offline');
 *   logoutButton.onclick = () => presence.logout();
 *
 * Keeps the user online over a Socket.IO socket (`user:heartbeat` every
 * `heartbeatInterval` seconds, default 30 = PRESENCE_WIDGET_HEARTBEAT_INTERVAL),
 * falls back to `POST /api/users/heartbeat/` while the socket cannot connect,
 * and goes back to the socket when it does.
 */
import { io } from 'socket.io-client';
import { createUserPresence } from './lib/user-presence.js';

export { DEFAULT_HEARTBEAT_SECONDS, DEFAULT_CONNECT_TIMEOUT_SECONDS } from './lib/user-presence.js';

/**
 * @param {object} options
 * @param {string} options.url                  the presence server's origin
 * @param {string} options.token                the user's bearer token (role user, agent or admin)
 * @param {number} [options.heartbeatInterval]  seconds between heartbeats (default 30)
 * @param {number} [options.connectTimeout]     seconds without a socket before REST takes over (default 5)
 * @param {boolean} [options.debug]             console logs (also `localStorage.widget_debug = 'true'`)
 * @param {string[]} [options.transports]       default `['websocket', 'polling']`
 * @param {string} [options.path]               Socket.IO path, default `/socket.io`
 * @returns a handle: `{on(event, fn), logout(), stop(), online, lastSeen, transport, stopped, stopReason, status, socket}`;
 *          events: `status` ({online, lastSeen, transport, stopped, stopReason}), `transport` ('socket'|'rest'|null),
 *          `heartbeat` ({transport, lastSeen}), `error` ({kind, message, fatal, status?}),
 *          `stopped` ({reason: 'unauthorized'|'forbidden'|'logout'|'stopped', message}),
 *          `connect`, `disconnect` (reason), `reconnecting` (delay in ms)
 */
export function start(options) {
  return createUserPresence(options, {
    io,
    fetch: (url, init) => fetch(url, init),
    window: typeof window !== 'undefined' ? window : null,
  });
}
