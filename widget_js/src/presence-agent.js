/**
 * PresenceAgent: the agent dashboard's side of widget presence (SPEC.md §3, §9).
 *
 *   const agent = PresenceAgent.connect({ url, token, conversationId, element });
 *
 * Joins the conversation's room, keeps the presence snapshot current from the
 * `customer:*` events, and renders the conversation-header indicator into
 * `element`: avatar with a green dot while online, and a status line whose
 * status word ("Online", "Offline", "Away", "typing…") is followed by a detail
 * ("on 2 devices", "· Last seen 5 minutes ago"), so the line reads
 * "Online on 2 devices" or "Offline · Last seen 5 minutes ago".
 *
 * Observable markup, for users' own tests: the indicator carries
 * `data-presence-state="online|offline|away"`, the dot `data-presence-dot`
 * (absent while offline), the status word `data-presence-text` (exactly
 * "Online", "Offline", "Away" or "typing…"), the detail `data-presence-detail`.
 *
 * `describe(snapshot)` and `render(element, snapshot)` are pure helpers for
 * dashboards that keep the snapshot themselves.
 */
import { io } from 'socket.io-client';
import { Backoff } from './lib/backoff.js';
import { Emitter } from './lib/emitter.js';
import { makeLogger, trimUrl } from './lib/log.js';

export const COLORS = {
  online: '#10b981', // dot and text while online (SPEC.md §9)
  offline: '#9ca3af', // text while offline
  away: '#f59e0b', // dot while every tab of the customer is hidden
  awayText: '#d97706',
};
/**
 * A "typing…" with no refresh for this long is dropped: the widget re-sends
 * `isTyping: true` every few seconds while typing goes on, so a lost `false`
 * (a closed tab, a dropped packet) cannot leave it on screen for good.
 */
const TYPING_EXPIRES_MS = 8000;
/** How often "Last seen N minutes ago" is recomputed. */
const RELATIVE_TIME_REFRESH_MS = 15000;
const ACK_TIMEOUT_MS = 10000;

/** The snapshot of a customer never seen (SPEC.md §3), before the server answers. */
export function emptySnapshot(conversationId) {
  return {
    conversationId,
    supported: true,
    isOnline: false,
    lastHeartbeat: null,
    lastSeen: null,
    onlineSince: null,
    devices: 0,
    away: false,
    socketsInRoom: 0,
  };
}

/** "just now", "1 minute ago", "5 minutes ago", "3 hours ago", "2 days ago", or a date. */
export function formatAgo(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return null;
  // A browser clock behind the server's would give a negative age.
  const seconds = Math.max(0, Math.floor((now - t) / 1000));
  const ago = (n, unit) => `${n} ${unit}${n === 1 ? '' : 's'} ago`;
  if (seconds < 60) return 'just now';
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return ago(minutes, 'minute');
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return ago(hours, 'hour');
  const days = Math.floor(hours / 24);
  if (days < 30) return ago(days, 'day');
  return `on ${new Date(t).toLocaleDateString()}`;
}

/**
 * What the indicator shows for a snapshot: a pure function.
 *
 * @param {object|null} snapshot  SPEC.md §3's snapshot
 * @param {{typing?: boolean, now?: number}} [opts]
 * @returns {{state: 'online'|'offline'|'away', text: string, detail: string, color: string, dot: string|null}}
 *          `text` is the status word, `detail` what follows it ('' for none),
 *          `dot` the dot's colour, or null when no dot is shown
 */
export function describe(snapshot, opts = {}) {
  const now = opts.now == null ? Date.now() : opts.now;
  if (!snapshot || snapshot.supported === false) {
    const detail = snapshot ? '· no presence on this channel' : '';
    return { state: 'offline', text: 'Offline', detail, color: COLORS.offline, dot: null };
  }
  if (!snapshot.isOnline) {
    const ago = snapshot.lastSeen ? formatAgo(snapshot.lastSeen, now) : null;
    const detail = ago ? `· Last seen ${ago}` : '';
    return { state: 'offline', text: 'Offline', detail, color: COLORS.offline, dot: null };
  }
  const devices = Number(snapshot.devices) || 0;
  const detail = devices >= 2 ? `on ${devices} devices` : '';
  // Typing needs a focused, visible tab, so it wins over a stale "away".
  if (opts.typing) return { state: 'online', text: 'typing…', detail: '', color: COLORS.online, dot: COLORS.online };
  if (snapshot.away) return { state: 'away', text: 'Away', detail, color: COLORS.awayText, dot: COLORS.away };
  return { state: 'online', text: 'Online', detail, color: COLORS.online, dot: COLORS.online };
}

function initials(name) {
  const words = String(name || '').trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return '?';
  const letters = words.length === 1 ? words[0].slice(0, 2) : words[0][0] + words[words.length - 1][0];
  return letters.toUpperCase();
}

// Styles are set through the CSSOM (element.style), not a style attribute or
// a <style> element, so the indicator works under a strict Content-Security-
// Policy and needs no stylesheet or font from anywhere.
function css(el, styles) {
  Object.assign(el.style, styles);
  return el;
}

function make(tag, styles, attrs) {
  const el = css(document.createElement(tag), styles || {});
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  return el;
}

/** Builds the indicator's markup inside `element` once; later renders only update it. */
function scaffold(element) {
  let root = element.querySelector('[data-presence-indicator]');
  if (root) return root;
  root = make('div', { display: 'flex', alignItems: 'center', gap: '12px' }, { 'data-presence-indicator': '' });
  const avatar = make(
    'div',
    { position: 'relative', width: '40px', height: '40px', flex: '0 0 40px' },
    { 'data-presence-avatar': '' },
  );
  const face = make('div', {
    width: '100%',
    height: '100%',
    borderRadius: '50%',
    background: '#e0e7ff',
    color: '#3730a3',
    display: 'flex',
    alignItems: 'center',
    justifyContent: 'center',
    fontWeight: '600',
    fontSize: '15px',
    userSelect: 'none',
  });
  face.setAttribute('data-presence-initials', '');
  avatar.appendChild(face);
  const meta = make('div', { display: 'flex', flexDirection: 'column', minWidth: '0' });
  const name = make(
    'div',
    { fontWeight: '600', color: '#111827', whiteSpace: 'nowrap', overflow: 'hidden', textOverflow: 'ellipsis' },
    { 'data-presence-name': '' },
  );
  const line = make('div', { display: 'flex', alignItems: 'center', gap: '6px', fontSize: '13px' });
  const icon = make(
    'span',
    { width: '8px', height: '8px', borderRadius: '50%', display: 'inline-block', flex: '0 0 8px' },
    { 'aria-hidden': 'true', 'data-presence-icon': '' },
  );
  const status = make('span', {}, { role: 'status', 'aria-live': 'polite' });
  const text = make('span', {}, { 'data-presence-text': '' });
  const detail = make('span', { color: COLORS.offline }, { 'data-presence-detail': '' });
  // A real space, so the line's text reads "Online on 2 devices" (textContent too).
  status.append(text, document.createTextNode(' '), detail);
  line.append(icon, status);
  meta.append(name, line);
  root.append(avatar, meta);
  element.appendChild(root);
  return root;
}

/**
 * Renders (or updates) the conversation-header indicator inside `element`.
 *
 * @param {Element} element
 * @param {object|null} snapshot  SPEC.md §3's snapshot
 * @param {{typing?: boolean, customerName?: string, stale?: boolean, now?: number}} [opts]
 *        `stale`: the dashboard's own connection is down, so what is shown may be old
 * @returns the description that was rendered (see describe())
 */
export function render(element, snapshot, opts = {}) {
  const view = describe(snapshot, opts);
  const root = scaffold(element);
  root.setAttribute('data-presence-state', view.state);
  root.toggleAttribute('data-presence-stale', Boolean(opts.stale));
  css(root, { opacity: opts.stale ? '0.6' : '1' });
  root.title = opts.stale ? 'Reconnecting… the status shown may be out of date' : '';

  const name = opts.customerName || 'Customer';
  root.querySelector('[data-presence-name]').textContent = name;
  root.querySelector('[data-presence-initials]').textContent = initials(opts.customerName);

  const avatar = root.querySelector('[data-presence-avatar]');
  let dot = avatar.querySelector('[data-presence-dot]');
  if (view.dot && !dot) {
    // 12 px including its 2 px white border (border-box), at the avatar's bottom right.
    dot = make(
      'span',
      {
        position: 'absolute',
        right: '0',
        bottom: '0',
        width: '12px',
        height: '12px',
        boxSizing: 'border-box',
        borderRadius: '50%',
        border: '2px solid #ffffff',
      },
      { 'data-presence-dot': '', 'aria-hidden': 'true' },
    );
    avatar.appendChild(dot);
  } else if (!view.dot && dot) {
    dot.remove();
    dot = null;
  }
  if (dot) css(dot, { background: view.dot });

  const text = root.querySelector('[data-presence-text]');
  text.textContent = view.text;
  css(text, { color: view.color });
  const detail = root.querySelector('[data-presence-detail]');
  detail.textContent = view.detail;
  css(detail, { display: view.detail ? 'inline' : 'none' });
  css(root.querySelector('[data-presence-icon]'), { background: view.color });
  return view;
}

/**
 * Follows one conversation's customer presence and renders it.
 *
 * @param {object} options
 * @param {string} options.url             the presence server's origin
 * @param {string} options.token           an agent (or admin) bearer token
 * @param {string} options.conversationId
 * @param {Element} [options.element]      where to render the indicator (none: data only)
 * @param {string} [options.customerName]  shown beside the avatar
 * @param {boolean} [options.debug]
 * @param {string[]} [options.transports]  default `['websocket', 'polling']`
 * @returns a handle: `{socket, snapshot, typing, on(event, fn), refresh(), setCustomerName(name), disconnect()}`;
 *          events: `change` ({snapshot, typing, view}), `error` ({message, kind, fatal, status}),
 *          `connect`, `disconnect` (reason)
 */
export function connect(options) {
  const { url, token, conversationId, element } = options || {};
  if (!url || !token || !conversationId) {
    throw new TypeError('PresenceAgent.connect needs url, token and conversationId');
  }
  const base = trimUrl(url);
  const log = makeLogger('[PresenceAgent]', options.debug);
  const events = new Emitter();
  let customerName = options.customerName || '';
  let snapshot = emptySnapshot(conversationId);
  let typing = false;
  let typingTimer = null;
  let joinedOnce = false;
  let closed = false;
  let reconnectTimer = null;
  // Bumped on every change applied; an answer requested before the latest
  // change (a REST snapshot racing a live event) is dropped, not applied.
  let version = 0;
  const reconnectBackoff = new Backoff({ min: 1000, max: 30000 });

  const socket = io(base, {
    path: options.path || '/socket.io',
    transports: options.transports || ['websocket', 'polling'],
    tryAllTransports: true,
    forceNew: true,
    auth: { token },
  });

  function draw() {
    const view = describe(snapshot, { typing });
    if (element) render(element, snapshot, { typing, customerName, stale: !socket.connected });
    return view;
  }

  function apply(patch) {
    snapshot = Object.assign({}, snapshot, patch);
    if (!snapshot.isOnline) setTyping(false, true);
    version += 1;
    events.emit('change', { snapshot, typing, view: draw() });
  }

  function setTyping(value, quiet) {
    clearTimeout(typingTimer);
    typing = Boolean(value) && snapshot.isOnline;
    if (typing) typingTimer = setTimeout(() => setTyping(false), TYPING_EXPIRES_MS);
    if (!quiet) {
      version += 1;
      events.emit('change', { snapshot, typing, view: draw() });
    }
  }

  /**
   * Reports a problem to the host page. `kind`: 'refused' (the server refused
   * the connection, e.g. a bad or expired token), 'join' (conversation:join
   * refused or unanswered), 'http' (the REST snapshot failed; `status` set).
   * `fatal`: retrying will not help.
   */
  function fail(message, kind, fatal, status) {
    log.warn(message);
    events.emit('error', { message, kind, fatal: Boolean(fatal), status });
  }

  function join() {
    const before = version;
    socket.timeout(ACK_TIMEOUT_MS).emit('conversation:join', { conversationId }, (err, ack) => {
      if (err) return fail(`conversation:join was not answered: ${err.message}`, 'join', false);
      if (!ack || !ack.ok) return fail((ack && ack.error) || 'conversation:join was refused', 'join', true);
      joinedOnce = true;
      apply(ack.presence);
      // An event that overtook this answer may have been overwritten by it:
      // settle with a snapshot taken now.
      if (version !== before + 1) refresh();
    });
  }

  /** Re-reads the snapshot over REST (GET /api/widget/presence). */
  async function refresh() {
    const asked = version;
    try {
      const res = await fetch(`${base}/api/widget/presence?conversationId=${encodeURIComponent(conversationId)}`, {
        headers: { Authorization: `Bearer ${token}` },
        cache: 'no-store',
      });
      const body = await res.json().catch(() => ({}));
      if (!res.ok) {
        const fatal = res.status === 401 || res.status === 403 || res.status === 404;
        return fail(body.error || `presence lookup answered ${res.status}`, 'http', fatal, res.status);
      }
      if (closed) return;
      if (version === asked) apply(body);
      else log('REST snapshot dropped: a newer event arrived meanwhile');
    } catch (err) {
      fail(`presence lookup failed: ${err.message}`, 'http', false);
    }
  }

  const mine = (data) => data && data.conversationId === conversationId;
  const devicesOr = (data, fallback) => (typeof data.devices === 'number' ? data.devices : fallback);

  socket.on('customer:online', (d) => {
    if (!mine(d)) return;
    // Sent on the offline→online change only: a fresh start, visible.
    apply({
      isOnline: true,
      devices: devicesOr(d, Math.max(1, snapshot.devices)),
      onlineSince: d.timestamp,
      lastHeartbeat: d.timestamp,
      away: false,
    });
  });
  socket.on('customer:heartbeat', (d) => {
    if (!mine(d)) return;
    apply({ isOnline: true, lastHeartbeat: d.timestamp, devices: devicesOr(d, Math.max(1, snapshot.devices)) });
  });
  socket.on('customer:offline', (d) => {
    if (!mine(d)) return;
    log('customer offline:', d.reason);
    apply({ isOnline: false, devices: 0, away: false, onlineSince: null, lastSeen: d.lastSeen || d.timestamp });
  });
  socket.on('customer:typing', (d) => {
    if (!mine(d)) return;
    if (typeof d.devices === 'number') snapshot = Object.assign({}, snapshot, { devices: d.devices });
    setTyping(d.isTyping);
  });
  socket.on('customer:visibility', (d) => {
    if (!mine(d)) return;
    const away = typeof d.away === 'boolean' ? d.away : Boolean(d.hidden);
    apply({ away, devices: devicesOr(d, snapshot.devices) });
  });

  socket.on('connect', () => {
    clearTimeout(reconnectTimer);
    reconnectBackoff.reset();
    log('connected', socket.id);
    events.emit('connect');
    // Room membership does not survive a reconnect: join again. After our own
    // outage the events missed meanwhile are gone too, so also re-read the
    // snapshot over REST (the join answer carries one as well; whichever is
    // newer wins, see `version`).
    if (joinedOnce) refresh();
    join();
  });

  socket.on('disconnect', (reason) => {
    log('disconnected:', reason);
    draw(); // shows the indicator as stale
    events.emit('disconnect', reason);
    if (closed) return;
    if (reason === 'io server disconnect') {
      // socket.io-client does not reconnect after a server-side disconnect;
      // a dashboard should, after a backoff. A token that has become invalid
      // then surfaces as a refused connect (below) and ends the retries.
      clearTimeout(reconnectTimer);
      reconnectTimer = setTimeout(() => {
        if (!closed && !socket.connected) socket.connect();
      }, reconnectBackoff.next());
    }
  });

  socket.on('connect_error', (err) => {
    // !socket.active: refused by the server (bad or expired token), which
    // retrying cannot fix; otherwise socket.io-client keeps retrying.
    if (!socket.active) fail(err.message || 'connection refused', 'refused', true);
    else log.warn('connect error:', err.message);
  });

  // The browser says the network is back: reconnect now rather than when
  // socket.io-client's backoff runs out (the indicator is stale meanwhile).
  const onNetworkOnline = () => {
    if (closed || socket.connected) return;
    log('network back: reconnecting now');
    clearTimeout(reconnectTimer);
    reconnectBackoff.reset();
    socket.disconnect(); // not connected: emits nothing, cancels the pending retry
    socket.connect();
  };
  const hasWindow = typeof window !== 'undefined';
  if (hasWindow) window.addEventListener('online', onNetworkOnline);

  // "Last seen 5 minutes ago" has to age on screen without any event.
  const tick = setInterval(() => {
    if (!snapshot.isOnline && snapshot.lastSeen) draw();
  }, RELATIVE_TIME_REFRESH_MS);

  draw();

  return {
    socket,
    on: (event, fn) => events.on(event, fn),
    refresh,
    setCustomerName(name) {
      customerName = name || '';
      draw();
    },
    get snapshot() {
      return snapshot;
    },
    get typing() {
      return typing;
    },
    disconnect() {
      closed = true;
      if (hasWindow) window.removeEventListener('online', onNetworkOnline);
      clearInterval(tick);
      clearTimeout(typingTimer);
      clearTimeout(reconnectTimer);
      socket.disconnect();
      events.clear();
    },
  };
}
