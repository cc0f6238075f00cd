/**
 * Re-reading from REST when the server nudges, without a request per nudge.
 *
 * `refresher(run, {gapMs})`: `poke()` runs `run` now if it has not run for
 * `gapMs`, else once when the gap is over (however many pokes came meanwhile);
 * never two runs at once. With `confirm: true`, a run asked for by a poke is
 * followed by one more `gapMs + settleMs` after it: the server keeps some
 * figures for up to a second, so the answer read right after a change may
 * predate it, and the confirming read cannot.
 */
import { realTimers } from '../lib/loop.js';

export function refresher(
  run,
  { gapMs = 1000, confirm = false, settleMs = 250, timers = realTimers, onError = null } = {},
) {
  let last = -Infinity;
  let timer = null;
  let timerPoked = false; // the pending run answers a poke (so it is confirmed too)
  let running = false;
  let queued = false; // a poke came during the run: one more after it
  let stopped = false;

  const gapLeft = () => Math.max(0, last + gapMs - timers.now());

  function schedule(delay, poked) {
    if (stopped) return;
    if (timer !== null) {
      timerPoked = timerPoked || poked;
      return;
    }
    timerPoked = poked;
    timer = timers.setTimeout(() => {
      timer = null;
      const p = timerPoked;
      timerPoked = false;
      fire(p).catch((err) => onError && onError(err));
    }, delay);
  }

  async function fire(poked) {
    if (stopped) return;
    if (running) {
      queued = queued || poked;
      return;
    }
    running = true;
    last = timers.now();
    try {
      await run();
    } finally {
      running = false;
      if (queued) {
        queued = false;
        schedule(gapLeft(), true);
      } else if (poked && confirm) {
        schedule(gapMs + settleMs, false);
      }
    }
  }

  return {
    /** Something changed on the server: read again (now, or when the gap is over). */
    poke() {
      if (stopped) return;
      if (running) {
        queued = true;
      } else if (timer !== null) {
        timerPoked = true;
      } else if (gapLeft() === 0) {
        fire(true).catch((err) => onError && onError(err));
      } else {
        schedule(gapLeft(), true);
      }
    },
    /**
     * Runs now whatever the gap (the page opening, a reconnect) and resolves
     * once done, rejecting with its error; with `confirm`, one more run follows.
     * While a run is in flight, one more is queued after it instead.
     */
    async now() {
      if (stopped) return;
      if (running) {
        queued = true;
        return;
      }
      if (timer !== null) {
        timers.clearTimeout(timer);
        timer = null;
        timerPoked = false;
      }
      await fire(true);
    },
    stop() {
      stopped = true;
      if (timer !== null) timers.clearTimeout(timer);
      timer = null;
    },
  };
}
