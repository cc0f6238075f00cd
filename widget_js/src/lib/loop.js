/**
 * The heartbeat schedule shared by the user, livestream and tracking clients:
 * run a task now, then again `intervalMs` after each run has settled.
 *
 * - One run at a time: the next is scheduled only once the current one is
 *   over, so a slow server never sees two heartbeats of one page in flight.
 * - A run answers how it went: 'ok' (next one after the interval, backoff
 *   reset), 'retry' (it failed in a way worth retrying: next one after a
 *   jittered backoff, never later than the interval), or 'stop' (the loop ends).
 *   A run that throws counts as 'retry'.
 * - `poke()` runs now (the network is back, the tab is visible again) unless a
 *   run is already in flight, which then stands for it.
 * - `stop()` ends the loop; a run still in flight when it is stopped, or
 *   restarted, cannot schedule anything when it settles.
 *
 * Timers are injected (`timers.setTimeout` / `timers.clearTimeout`), so the
 * tests drive the schedule with a fake clock.
 */
import { Backoff } from './backoff.js';

/** The host's own timers (called through the global, as browsers require). */
export const realTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id),
  now: () => Date.now(),
};

export class HeartbeatLoop {
  /**
   * @param {object} options
   * @param {() => Promise<'ok'|'retry'|'stop'>} options.run  one heartbeat
   * @param {number} options.intervalMs                        pace while things go well
   * @param {{min?: number, max?: number}} [options.backoff]   retry delays (max capped at the interval)
   * @param {object} [options.timers]                          `{setTimeout, clearTimeout}`
   */
  constructor({ run, intervalMs, backoff = {}, timers = realTimers }) {
    this.runTask = run;
    this.intervalMs = intervalMs;
    this.timers = timers;
    this.backoff = new Backoff({ min: backoff.min || 1000, max: backoff.max || 30000 });
    this.timer = null;
    this.inFlight = false;
    this.running = false;
    this.generation = 0; // bumped by start()/stop(): tells a stale run's result from the current one
    this.nextAt = Infinity;
  }

  /**
   * Starts (or restarts) the loop with a run now; if a run of before is still
   * in flight, the fresh one starts as soon as that one settles (never two at once).
   */
  start() {
    this.stop();
    this.running = true;
    this.backoff.reset();
    this.tick();
  }

  stop() {
    this.running = false;
    this.generation += 1;
    this.clear();
  }

  /** Runs now unless a run is in flight; resets the backoff. */
  poke() {
    if (!this.running || this.inFlight) return;
    this.backoff.reset();
    this.tick();
  }

  /** Whether the next run is due (a throttled background tab may have let it slip). */
  overdue(now) {
    return this.running && !this.inFlight && now >= this.nextAt;
  }

  /** Changes the pace from the next scheduled run on. */
  setInterval(ms) {
    this.intervalMs = ms;
  }

  clear() {
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
    this.nextAt = Infinity;
  }

  schedule(ms) {
    this.clear();
    this.nextAt = (this.timers.now ? this.timers.now() : Date.now()) + ms;
    this.timer = this.timers.setTimeout(() => {
      this.timer = null;
      this.tick();
    }, ms);
  }

  async tick() {
    if (!this.running || this.inFlight) return;
    this.clear();
    this.inFlight = true;
    const generation = this.generation;
    let outcome;
    try {
      outcome = await this.runTask();
    } catch (_) {
      outcome = 'retry';
    }
    this.inFlight = false;
    if (generation !== this.generation) {
      // Stopped meanwhile, its result no longer matters; or restarted, and the
      // restart's first run was held back until this one settled: run it now.
      if (this.running && this.timer === null) this.tick();
      return;
    }
    if (outcome === 'stop') {
      this.stop();
    } else if (outcome === 'retry') {
      this.schedule(Math.min(this.backoff.next(), this.intervalMs));
    } else {
      this.backoff.reset();
      this.schedule(this.intervalMs);
    }
  }
}
