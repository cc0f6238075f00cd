/**
 * Exponential backoff with full jitter, for the reconnects socket.io-client
 * does not do by itself (after a server-side disconnect or a refused connect).
 * Defaults: 1 s doubling up to 30 s; `reset()` after a success.
 */
export class Backoff {
  constructor({ min = 1000, max = 30000, factor = 2 } = {}) {
    this.min = min;
    this.max = max;
    this.factor = factor;
    this.attempts = 0;
  }

  /** The next delay in ms: random in [ceiling / 2, ceiling], the ceiling growing each call. */
  next() {
    const ceiling = Math.min(this.max, this.min * Math.pow(this.factor, this.attempts));
    this.attempts += 1;
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  }

  reset() {
    this.attempts = 0;
  }
}
