/**
 * What every console page shares (SPEC §9): the admin's token (from `#token=`,
 * this tab's sessionStorage, or the sign-in form), the first read that proves
 * it, the socket with its "reconnecting" banner and the re-read after each
 * reconnect, the one-second tick, and the way back to the form when the server
 * refuses the token (a non-admin's, or one that expired while the page was
 * open): always with the server's own sentence, never a blank page.
 *
 * A page is `create(ctx)` → `{sync(), listen(live), tick(now), stop()}`:
 * `sync` reads everything from REST (throwing `ApiError`), `listen` subscribes
 * to the socket's events, `tick` redraws what counts by the second.
 */
import { io } from 'socket.io-client';
import { createApi } from './api.js';
import { $, setText } from './dom.js';
import { openLive } from './live.js';
import { refresher } from './throttle.js';
import { takeToken, tokenExpiry, tokenStore } from './token.js';

const MAX_TIMER_MS = 2147483647;
const FIRST_READ_RETRY_MS = 5000;
const EXPIRED_RECHECK_MS = 2000;
const CONNECTION_TEXT = { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…' };

function sessionStore() {
  try {
    return window.sessionStorage;
  } catch (_) {
    return null;
  }
}

export function startConsole(create) {
  const store = tokenStore(sessionStore());
  const timers = { setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (id) => clearTimeout(id), now: () => Date.now() };
  let run = null; // the running page: {page, live, stopTimers}

  const form = $('token-form');
  const input = $('token-input');
  const content = $('content');
  const banner = $('reconnecting');
  const connection = $('connection');
  const errorBox = $('console-error');
  const formMessage = $('token-message');

  /** The error box; with `retry`, a "Try again" button beside the sentence. */
  function showError(message, retry) {
    errorBox.replaceChildren();
    if (message) errorBox.append(document.createTextNode(message));
    if (message && retry) {
      const again = document.createElement('button');
      again.type = 'button';
      again.className = 'secondary retry';
      again.textContent = 'Try again';
      again.addEventListener('click', retry);
      errorBox.append(' ', again);
    }
    errorBox.hidden = !message;
  }

  function showConnection(state) {
    connection.setAttribute('data-connection', state);
    setText(connection, CONNECTION_TEXT[state] || state);
    banner.hidden = state !== 'reconnecting';
    document.body.toggleAttribute('data-stale', state === 'reconnecting');
  }

  function stop() {
    if (!run) return;
    const r = run;
    run = null;
    r.stopTimers();
    if (r.live) r.live.close();
    r.page.stop();
  }

  /** Back to the form, saying why (the server's sentence), the token forgotten. */
  function askForToken(message) {
    stop();
    store.clear();
    showError('');
    content.hidden = true;
    connection.hidden = true;
    $('sign-out').hidden = true;
    banner.hidden = true;
    setText(formMessage, message || '');
    formMessage.hidden = !message;
    form.hidden = false;
    input.value = '';
    input.focus();
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    store.set(token);
    input.value = '';
    begin(token);
  });
  $('sign-out').addEventListener('click', () => askForToken(''));

  function failed(err) {
    if (err && err.auth) askForToken(err.message);
    else showError(err && err.message ? err.message : String(err));
  }

  async function begin(token) {
    stop();
    form.hidden = true;
    formMessage.hidden = true;
    showError('');
    const api = createApi({ url: location.origin, token, fetch: (u, i) => window.fetch(u, i), timers });
    const pending = [];
    const ctx = {
      api,
      timers,
      /** A throttled re-read (see throttle.js); stopped with the page. */
      refresher(fn, options = {}) {
        const r = refresher(fn, Object.assign({ timers, onError: (err) => mine() && failed(err) }, options));
        pending.push(r);
        return r;
      },
      failed: (err) => mine() && failed(err),
      showError,
    };
    const page = create(ctx);
    const me = { page, live: null, stopTimers: () => {} };
    const mine = () => run === me;
    run = me;

    try {
      await page.sync();
    } catch (err) {
      if (!mine()) return;
      if (err && err.auth) return failed(err);
      // The server is away or failing: say so, and try again by itself.
      const again = () => mine() && begin(token);
      showError(`${err && err.message ? err.message : err} The console tries again in a few seconds.`, again);
      const retry = setTimeout(again, FIRST_READ_RETRY_MS);
      me.stopTimers = () => clearTimeout(retry);
      return;
    }
    if (!mine()) return;
    content.hidden = false;
    connection.hidden = false;
    $('sign-out').hidden = false;

    // The socket: re-read on every (re)connect; say when live updates are paused.
    const live = openLive({ io, url: location.origin, token, timers, window });
    me.live = live;
    showConnection(live.state);
    live.on('state', showConnection);
    live.on('connect', () => {
      showError('');
      page.sync().catch((err) => mine() && failed(err));
    });
    live.on('refused', () => {
      // The REST answer says whether the token is the reason (then: the form).
      page.sync().catch((err) => mine() && failed(err));
    });
    page.listen(live);

    // The second hand, on the second.
    let tickTimer = null;
    const tick = () => {
      if (!mine()) return;
      page.tick(Date.now());
      tickTimer = setTimeout(tick, 1000 - (Date.now() % 1000) + 5);
    };
    tick();

    // An expiring token: when it runs out, the server's answer takes over.
    let expiryTimer = null;
    const expires = tokenExpiry(token);
    const checkExpiry = () => {
      page.sync().then(
        () => {
          // Still accepted: the server allows a few seconds of clock skew. Ask again soon.
          if (mine()) expiryTimer = setTimeout(checkExpiry, EXPIRED_RECHECK_MS);
        },
        (err) => mine() && failed(err),
      );
    };
    if (expires !== null) expiryTimer = setTimeout(checkExpiry, Math.min(MAX_TIMER_MS, Math.max(0, expires - Date.now() + 250)));

    me.stopTimers = () => {
      clearTimeout(tickTimer);
      clearTimeout(expiryTimer);
      for (const r of pending) r.stop();
    };
  }

  const token = takeToken(window, store);
  if (token) begin(token);
  else askForToken('');

  return {
    signOut: () => askForToken(''),
    get running() {
      return run !== null;
    },
  };
}
