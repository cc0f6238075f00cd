/**
 * The admin's bearer token (SPEC §9): taken from the URL fragment `#token=…`
 * (which browsers never send to the server), then dropped from the address bar
 * and kept in this tab's `sessionStorage`, shared by the console's pages; or
 * typed into the sign-in form. Storage that throws (blocked cookies, sandboxed
 * frames) falls back to this page's memory.
 */

export const TOKEN_KEY = 'presence.adminToken';

export function tokenStore(storage) {
  let memory = null;
  return {
    get() {
      try {
        const t = storage && storage.getItem(TOKEN_KEY);
        if (t) return t;
      } catch (_) {
        // blocked storage: memory only
      }
      return memory;
    },
    set(token) {
      memory = token;
      try {
        if (storage) storage.setItem(TOKEN_KEY, token);
      } catch (_) {
        // kept in memory
      }
    },
    clear() {
      memory = null;
      try {
        if (storage) storage.removeItem(TOKEN_KEY);
      } catch (_) {
        // nothing kept
      }
    },
  };
}

/**
 * Takes a token from `location.hash` into the store and removes it from the
 * address bar and history; answers the token to use (the fragment's, else the
 * stored one), or null.
 */
export function takeToken(win, store) {
  const hash = String(win.location.hash || '').replace(/^#/, '');
  if (hash) {
    const fragment = new URLSearchParams(hash);
    const token = (fragment.get('token') || '').trim();
    if (token) {
      store.set(token);
      fragment.delete('token');
      const rest = fragment.toString();
      win.history.replaceState(null, '', win.location.pathname + win.location.search + (rest ? `#${rest}` : ''));
    }
  }
  return store.get();
}

/**
 * When the token expires (its `exp`, in ms since the epoch), read without
 * checking the signature (the server does that); null when it says nothing.
 */
export function tokenExpiry(token) {
  try {
    const part = String(token).split('.')[1];
    if (!part) return null;
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return typeof claims.exp === 'number' ? claims.exp * 1000 : null;
  } catch (_) {
    return null;
  }
}
