/** The few lines of listener bookkeeping the public handles need for `on(event, fn)`. */
export class Emitter {
  constructor() {
    this.listeners = new Map();
  }

  /** Adds a listener; returns a function that removes it. */
  on(event, fn) {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event).add(fn);
    return () => this.listeners.get(event).delete(fn);
  }

  emit(event, ...args) {
    const fns = this.listeners.get(event);
    if (!fns) return;
    for (const fn of Array.from(fns)) {
      try {
        fn(...args);
      } catch (err) {
        // A host page's listener must not break presence.
        setTimeout(() => {
          throw err;
        });
      }
    }
  }

  clear() {
    this.listeners.clear();
  }
}
