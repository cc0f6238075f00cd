/**
 * The attendance tracking page's script (SPEC.md §6, §9), served as
 * /static/tracking.js and run by api/templates/tracking.html, which the
 * server answers `GET /t/<token>` with.
 *
 * It reads `<script type="application/json" id="tracking-config">`
 * (`{sessionId, secret, heartbeatInterval, zoomUrl, meetingTitle}`), tries to
 * open the Zoom meeting (and shows an "Open Zoom" button for when the browser
 * blocks that), shows the time since the page loaded in `[data-elapsed]`
 * (h:mm:ss, every second), heartbeats the session, and offers "I have left".
 *
 * Observable state on `#tracking` (for tests): `data-tracking-state="active|ended|invalid"`,
 * `data-connection="connecting|ok|retrying"`, `data-end-status` (the session's status once over);
 * the final duration in `[data-duration-minutes]` (its attribute value is the whole minutes).
 *
 * Global `PresenceTracking`: `{tracker, formatElapsed, formatMinutes}` (`tracker` once the page has started).
 */
import { createTracker, formatElapsed, formatMinutes, parseConfig } from './lib/tracking-session.js';

export { formatElapsed, formatMinutes };
export let tracker = null;

const $ = (id) => document.getElementById(id);

function show(el, visible) {
  if (el) el.hidden = !visible;
}

function text(el, value) {
  if (el) el.textContent = value;
}

function boot() {
  const root = $('tracking');
  if (!root) return;
  let config;
  try {
    config = parseConfig(($('tracking-config') || {}).textContent || '');
  } catch (err) {
    root.setAttribute('data-tracking-state', 'invalid');
    text($('status'), `This page could not start: ${err.message}. Open the link from Telegram again.`);
    show($('leave'), false);
    return;
  }

  if (config.meetingTitle) text($('meeting-title'), config.meetingTitle);

  // ---------------------------------------------------------------- Zoom
  const zoom = $('open-zoom');
  if (config.zoomUrl) {
    zoom.href = config.zoomUrl;
    show(zoom, true);
    // Browsers block a window opened without a click; the button is there for that.
    let opened = null;
    try {
      opened = window.open(config.zoomUrl, '_blank');
      if (opened) opened.opener = null;
    } catch (_) {
      opened = null;
    }
    text(
      $('zoom-note'),
      opened
        ? 'Zoom was opened in a new window. If it did not appear, use the button.'
        : 'Your browser did not let this page open Zoom by itself: use the button.',
    );
  } else {
    show(zoom, false);
    text($('zoom-note'), 'This class has no valid Zoom link: ask your teacher for it.');
  }

  // ---------------------------------------------------------------- elapsed time
  const elapsed = root.querySelector('[data-elapsed]');
  const loadedAt = Date.now();
  let frozenAt = null;
  function tick() {
    const ms = (frozenAt || Date.now()) - loadedAt;
    text(elapsed, formatElapsed(ms));
    if (elapsed) elapsed.setAttribute('datetime', `PT${Math.floor(Math.max(0, ms) / 1000)}S`);
  }
  tick();
  // Computed from the clock each time, so a throttled background tab shows the right time when it wakes.
  const ticker = setInterval(tick, 1000);

  // ---------------------------------------------------------------- session
  tracker = createTracker(config, { fetch: (u, i) => fetch(u, i), window, document });
  const leave = $('leave');
  const status = $('status');

  function render(s) {
    root.setAttribute('data-tracking-state', s.state);
    root.setAttribute('data-connection', s.connection);
    if (s.endStatus) root.setAttribute('data-end-status', s.endStatus);
    status.classList.toggle('warn', s.state === 'active' && s.connection === 'retrying');
    status.classList.toggle('bad', s.state === 'invalid');
    if (s.state === 'active') {
      if (s.connection === 'retrying') {
        text(status, 'Connection lost. Retrying… Keep this page open: your attendance resumes as soon as it is back.');
      } else if (s.connection === 'ok') {
        text(status, 'Your attendance is being recorded. Keep this page open until the class ends.');
      } else {
        text(status, 'Connecting…');
      }
      return;
    }
    clearInterval(ticker);
    const first = frozenAt === null;
    if (first) {
      frozenAt = Date.now();
      tick();
    }
    show(leave, false);
    show(zoom, false);
    text($('zoom-note'), '');
    if (s.state === 'invalid') {
      text(status, `This attendance link cannot be used: ${s.message || 'the session is unknown'}.`);
      return;
    }
    show($('ended'), true);
    const why = {
      completed: 'You said you have left the class.',
      timeout: 'It was closed because this page sent no signal for several minutes.',
    };
    text(status, 'This session has ended.');
    text($('ended-why'), why[s.endStatus] || `Status: ${s.endStatus}.`);
    const duration = $('duration');
    if (typeof s.durationMinutes === 'number') {
      duration.setAttribute('data-duration-minutes', String(s.durationMinutes));
      text(duration, formatMinutes(s.durationMinutes));
      show($('duration-line'), true);
    } else {
      show($('duration-line'), false);
    }
    // Say it to screen readers and keyboard users once: the buttons they were on are gone.
    const title = $('ended-title');
    if (first && title && title.focus) title.focus();
  }

  tracker.on('change', render);
  render(tracker.snapshot);

  leave.addEventListener('click', () => {
    leave.disabled = true;
    text(leave, 'Ending…');
    tracker.end().then(
      () => {},
      () => {
        leave.disabled = false;
        text(leave, 'I have left the class');
        text(status, 'Could not reach the server to end the session. Check your connection and try again.');
        status.classList.add('warn');
      },
    );
  });
}

if (typeof document !== 'undefined') {
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
}
