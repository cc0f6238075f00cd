// Small fakes for the unit tests in ../test/: a clock whose timers run only
// when the test advances it, a fetch whose answers the test scripts, a
// socket.io-client socket the test drives, and a window that only dispatches
// events. (Kept outside test/, which `node --test` would run as a test file.)

/** Lets every pending promise callback run (several rounds: chains of awaits). */
export async function flush(rounds = 20) {
  for (let i = 0; i < rounds; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

export class FakeClock {
  constructor(start = Date.parse('2026-11-23T09:00:00.000Z')) {
    this.time = start;
    this.timers = new Map();
    this.nextId = 1;
    this.setTimeout = (fn, ms) => this.add(fn, ms, null);
    this.setInterval = (fn, ms) => this.add(fn, ms, ms);
    this.clearTimeout = (id) => this.timers.delete(id);
    this.clearInterval = (id) => this.timers.delete(id);
    this.now = () => this.time;
  }

  add(fn, ms, repeat) {
    const id = this.nextId;
    this.nextId += 1;
    this.timers.set(id, { fn, at: this.time + Math.max(0, Number(ms) || 0), repeat });
    return id;
  }

  /** How many timers are pending. */
  get pending() {
    return this.timers.size;
  }

  /**
   * Moves time forward by `ms`, firing due timers in order, and letting the
   * promises they start settle before the next one fires.
   */
  async advance(ms) {
    const end = this.time + ms;
    await flush();
    for (;;) {
      let next = null;
      for (const [id, t] of this.timers) {
        if (t.at <= end && (next === null || t.at < next[1].at)) next = [id, t];
      }
      if (next === null) break;
      const [id, t] = next;
      this.time = Math.max(this.time, t.at);
      if (t.repeat) t.at += t.repeat;
      else this.timers.delete(id);
      t.fn();
      await flush();
    }
    this.time = end;
    await flush();
  }
}

/** A Response-like answer. */
export function answer(status, body) {
  const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  return { status, ok: status >= 200 && status < 300, text: async () => text };
}

/**
 * A fetch that records each request and answers with what `respond(request)`
 * returns: an answer(), an Error (a network failure), or a promise of either
 * (a request the test keeps in flight until it resolves it).
 */
export class FakeFetch {
  constructor(respond) {
    this.respond = respond || (() => answer(200, {}));
    this.requests = [];
    this.inFlight = 0;
    this.maxInFlight = 0;
    this.fetch = (url, init = {}) => this.call(url, init);
  }

  async call(url, init) {
    const request = {
      url,
      method: init.method || 'GET',
      headers: init.headers || {},
      body: init.body === undefined ? undefined : JSON.parse(init.body),
      keepalive: Boolean(init.keepalive),
    };
    this.requests.push(request);
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    // An aborted request (the client's own timeout) ends there, as in a browser.
    const aborted = new Promise((_, reject) => {
      if (init.signal) init.signal.addEventListener('abort', () => reject(new Error('The operation was aborted')));
    });
    try {
      const result = await Promise.race([this.respond(request), aborted]);
      if (result instanceof Error) throw result;
      return result;
    } finally {
      this.inFlight -= 1;
    }
  }

  /** The requests whose URL ends with `suffix` (and method, if given). */
  to(suffix, method) {
    return this.requests.filter((r) => r.url.endsWith(suffix) && (!method || r.method === method));
  }
}

/** A promise the test settles by hand: `const d = deferred(); ... d.resolve(x)`. */
export function deferred() {
  let resolve;
  const promise = new Promise((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/**
 * The slice of socket.io-client's Socket the clients use. The test plays the
 * server: `serverConnect()`, `refuse(message)` (a middleware's
 * ConnectionRefusedError: socket.io-client gives up, `active` false),
 * `transportError(message)` (it keeps retrying, `active` true),
 * `drop(reason)`, `push(event, data)`; `acks` answers the client's emits.
 */
export class FakeSocket {
  constructor(url, options) {
    this.url = url;
    this.options = options;
    this.handlers = new Map();
    this.connected = false;
    this.active = true;
    this.id = null;
    this.emits = [];
    this.connectCalls = 0;
    this.disconnectCalls = 0;
    this.ackWith = () => ({ ok: true });
    this.io = { on: () => {} };
  }

  on(event, fn) {
    if (!this.handlers.has(event)) this.handlers.set(event, []);
    this.handlers.get(event).push(fn);
    return this;
  }

  fire(event, ...args) {
    for (const fn of this.handlers.get(event) || []) fn(...args);
  }

  timeout() {
    return { emit: (event, data, cb) => this.emit(event, data, cb) };
  }

  emit(event, data, cb) {
    const record = { event, data, cb };
    this.emits.push(record);
    if (cb) {
      const reply = this.ackWith(event, data);
      if (reply !== undefined) {
        Promise.resolve(reply).then((r) => (r instanceof Error ? cb(r) : cb(null, r)));
      }
    }
    return this;
  }

  emitted(event) {
    return this.emits.filter((e) => e.event === event);
  }

  connect() {
    this.connectCalls += 1;
    this.active = true;
    return this;
  }

  disconnect() {
    this.disconnectCalls += 1;
    const was = this.connected;
    this.connected = false;
    this.active = false;
    if (was) this.fire('disconnect', 'io client disconnect');
    return this;
  }

  serverConnect() {
    this.connected = true;
    this.active = true;
    this.id = `sid-${Math.random().toString(36).slice(2, 8)}`;
    this.fire('connect');
  }

  refuse(message) {
    this.connected = false;
    this.active = false;
    this.fire('connect_error', new Error(message));
  }

  transportError(message = 'websocket error') {
    this.connected = false;
    this.active = true;
    this.fire('connect_error', new Error(message));
  }

  drop(reason = 'transport close') {
    this.connected = false;
    if (reason === 'io server disconnect') this.active = false;
    this.fire('disconnect', reason);
  }

  push(event, data) {
    this.fire(event, data);
  }
}

/** An `io()` that hands out FakeSockets and remembers them. */
export function fakeIo() {
  const sockets = [];
  const io = (url, options) => {
    const socket = new FakeSocket(url, options);
    sockets.push(socket);
    return socket;
  };
  io.sockets = sockets;
  return io;
}

/** A window that only keeps and dispatches event listeners. */
export class FakeWindow {
  constructor() {
    this.listeners = new Map();
  }

  addEventListener(event, fn) {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event).add(fn);
  }

  removeEventListener(event, fn) {
    if (this.listeners.has(event)) this.listeners.get(event).delete(fn);
  }

  dispatch(event, detail = {}) {
    for (const fn of Array.from(this.listeners.get(event) || [])) fn(Object.assign({ type: event }, detail));
  }

  count(event) {
    return (this.listeners.get(event) || new Set()).size;
  }
}
