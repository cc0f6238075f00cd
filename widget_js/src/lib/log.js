/**
 * A console logger that is silent unless asked: `debug: true` in the options,
 * or `localStorage.widget_debug === 'true'` (settable from the console on a
 * page the developer does not control, e.g. a customer's site).
 */
export function makeLogger(prefix, debug) {
  let on = Boolean(debug);
  if (!on) {
    try {
      on = window.localStorage.getItem('widget_debug') === 'true';
    } catch (_) {
      // localStorage can throw (sandboxed iframes, blocked storage): stay quiet.
    }
  }
  const log = (...args) => {
    if (on) console.log(prefix, ...args);
  };
  log.warn = (...args) => {
    if (on) console.warn(prefix, ...args);
  };
  return log;
}

/** `url` without trailing slashes, so `${base}/api/...` is well formed. */
export function trimUrl(url) {
  return String(url).replace(/\/+$/, '');
}
