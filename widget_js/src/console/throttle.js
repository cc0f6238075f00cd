/**
 * Re-reading from REST when the server nudges, without a request per nudge.
 *
 * `refresher(run, {gapMs})`: `poke()` runs `run` now if it has not run for
 * `gapMs`, else once when the gap is over (however many pokes came meanwhile);
 * never two runs at once. With `confirm: true`, a run started by a poke is
 * followed by one more after `gapMs` (unless a poke already asked for one): the
 * server keeps some figures for up to a second, so the answer read right after
 * a change may predate it, and the confirming read cannot.
 */
import { realTimers } from '../lib/loop.js';

export function refresher(run, { gapMs = 1000, confirm = false, timers = realTimers, onError = null } = {}) {
  let last = -Infinity;
  let timer = null;
  let running = false;
  let queued = false; // a run is wanted once the current one settles
  let stopped = false;

  function schedule(byPoke) {
    if (stopped || timer !== null) return;
    const wait = Math.max(0, last + gapMs - timers.now());
    timer = timers.setTimeout(() => {
      timer = null;
      fire(byPoke);
    }, wait);
  }

  async function fire(byPoke) {
    if (stopped) return;
    if (running) {
      queued = true;
      return;
    }
    running = true;
    last = timers.now();
    try {
      await run();
    } catch (err) {
      if (onError) onError(err);
    } finally {
      running = false;
    }
    if (queued) {
      queued = false;
      schedule(true);
    } else if (byPoke && confirm) {
      schedule(false);
    }
  }

  return {
    /** Something changed on the server: read again (now, or when the gap is over). */
    poke() {
      if (stopped) return;
      if (running) {
        queued = true;
        return;
      }
      if (timer !== null) return;
      if (timers.now() - last >= gapMs) fire(true);
      else schedule(true);
    },
    /**
     * Runs now whatever the gap (the page opening, a reconnect) and resolves
     * once done, rejecting with its error; with `confirm`, one more run follows
     * after the gap. While a run is in flight, one more is queued instead.
     */
    async now() {
      if (stopped) return;
      if (timer !== null) {
        timers.clearTimeout(timer);
        timer = null;
      }
      if (running) {
        queued = true;
        return;
      }
      running = true;
      last = timers.now();
      try {
        await run();
      } finally {
        running = false;
      }
      if (queued) {
        queued = false;
        schedule(true);
      } else if (confirm) {
        schedule(false);
      }
    },
    stop() {
      stopped = true;
      if (timer !== null) timers.clearTimeout(timer);
      timer = null;
    },
  };
}
