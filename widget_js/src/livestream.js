/**
 * PresenceStream: the seller's side of livestream credit metering (SPEC.md §7, §9),
 * the credit guide's `LivestreamComponent` as a bundle.
 *
 *   const stream = PresenceStream.start({ url: location.origin, token, livestreamId });
 *   stream.on('change', (s) => render(s));   // s.remainingCredits, s.lowCredits, s.state, s.endReason
 *   stream.on('ended', ({ reason }) => alert(`Stream ended: ${reason}`));
 *   endButton.onclick = () => stream.end();
 *
 * Reads the stream first (GET /api/livestreams/{id}/): a live one is
 * heartbeated at once and then every `heartbeatInterval` seconds (default 60);
 * a scheduled one waits for `goLive()`; an ended one reports its end.
 */
import { io } from 'socket.io-client';
import { createStream } from './lib/stream.js';

export { DEFAULT_STREAM_HEARTBEAT_SECONDS, LOW_CREDITS_AT, isLowCredits } from './lib/stream.js';

/**
 * @param {object} options
 * @param {string} options.url                  the presence server's origin
 * @param {string} options.token                the seller's bearer token
 * @param {string|number} options.livestreamId
 * @param {number} [options.heartbeatInterval]  seconds between heartbeats while live (default 60)
 * @param {boolean} [options.debug]
 * @param {string[]} [options.transports]       default `['websocket', 'polling']`
 * @param {string} [options.path]               Socket.IO path, default `/socket.io`
 * @returns a handle: `{on(event, fn), goLive(), end(), checkCredits(), refresh(), stop(), state, endReason,
 *          remainingCredits, creditsConsumed, lowCredits, warning, lastActivity,
 *          timeUntilNextDeductionMinutes, stopped, stopReason, snapshot, socket}`;
 *          events: `change` (snapshot), `state` ({state, endReason}), `credits` ({remainingCredits,
 *          creditsConsumed, lowCredits}), `low-credits` ({remainingCredits}), `warning` ({reason,
 *          inactiveSeconds}), `ended` ({reason, source}), `heartbeat` (the answer), `error` ({kind,
 *          message, fatal, status?}), `stopped` ({reason, message}), `connect`, `disconnect`, `reconnecting`
 */
export function start(options) {
  return createStream(options, {
    io,
    fetch: (url, init) => fetch(url, init),
    window: typeof window !== 'undefined' ? window : null,
  });
}
