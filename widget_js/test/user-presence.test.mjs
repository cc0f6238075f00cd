// PresenceUser's logic (SPEC.md §4, §9) with a fake clock, fetch and socket:
// heartbeat pace, falling back to REST and back, refused tokens, logout.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createUserPresence, DEFAULT_HEARTBEAT_SECONDS } from '../src/lib/user-presence.js';
import { FakeClock, FakeFetch, FakeWindow, answer, deferred, fakeIo, flush } from '../testing/fakes.mjs';

const URL = 'https://presence.example/';
const TOKEN = 'tok-123';
const LAST_SEEN = '2026-11-23T09:00:00.000Z';

function setup(options = {}, respond) {
  const clock = new FakeClock();
  const io = fakeIo();
  const http = new FakeFetch(respond || (() => answer(200, { status: 'online', last_seen: LAST_SEEN })));
  const win = new FakeWindow();
  const user = createUserPresence(
    Object.assign({ url: URL, token: TOKEN }, options),
    { io, fetch: http.fetch, timers: clock, window: win },
  );
  const socket = io.sockets[0];
  socket.ackWith = (event) => (event === 'user:heartbeat' ? { ok: true, last_seen: LAST_SEEN } : { ok: false });
  const seen = [];
  for (const name of ['status', 'transport', 'heartbeat', 'error', 'stopped']) {
    user.on(name, (data) => seen.push([name, data]));
  }
  return { clock, io, http, win, user, socket, seen };
}

const heartbeats = (http) => http.to('/api/users/heartbeat/', 'POST');

describe('PresenceUser over the socket', () => {
  it('connects with the token in auth and heartbeats user:heartbeat {} at once, then every 30 s', async () => {
    const { clock, socket, user, http } = setup();
    assert.equal(DEFAULT_HEARTBEAT_SECONDS, 30);
    assert.equal(socket.url, 'https://presence.example');
    assert.deepEqual(socket.options.auth, { token: TOKEN });
    socket.serverConnect();
    await flush();
    assert.equal(socket.emitted('user:heartbeat').length, 1);
    assert.deepEqual(socket.emitted('user:heartbeat')[0].data, {});
    assert.equal(user.online, true);
    assert.equal(user.transport, 'socket');
    assert.equal(user.lastSeen, LAST_SEEN);

    await clock.advance(29_999);
    assert.equal(socket.emitted('user:heartbeat').length, 1);
    await clock.advance(1);
    assert.equal(socket.emitted('user:heartbeat').length, 2);
    await clock.advance(60_000);
    assert.equal(socket.emitted('user:heartbeat').length, 4);
    assert.equal(heartbeats(http).length, 0, 'no REST while the socket works');
  });

  it('takes a heartbeatInterval override, in seconds', async () => {
    const { clock, socket } = setup({ heartbeatInterval: 5 });
    socket.serverConnect();
    await clock.advance(20_000);
    assert.equal(socket.emitted('user:heartbeat').length, 5);
  });

  it('never has two heartbeats waiting for an ack', async () => {
    const { clock, socket } = setup({ heartbeatInterval: 1 });
    const pending = deferred();
    socket.ackWith = () => pending.promise; // the server sits on the first one
    socket.serverConnect();
    await clock.advance(5_000);
    assert.equal(socket.emitted('user:heartbeat').length, 1);
    pending.resolve({ ok: true, last_seen: LAST_SEEN });
    await flush();
    await clock.advance(1_000);
    assert.equal(socket.emitted('user:heartbeat').length, 2);
  });
});

describe('PresenceUser falling back to REST', () => {
  it('heartbeats over REST when no connection comes within the connect timeout, and back on the socket when it does', async () => {
    const { clock, socket, user, http, seen } = setup();
    await clock.advance(4_999);
    assert.equal(heartbeats(http).length, 0);
    await clock.advance(1);
    assert.equal(heartbeats(http).length, 1);
    const req = heartbeats(http)[0];
    assert.equal(req.url, 'https://presence.example/api/users/heartbeat/');
    assert.equal(req.headers.Authorization, `Bearer ${TOKEN}`);
    assert.equal(user.transport, 'rest');
    assert.equal(user.online, true);
    await clock.advance(30_000);
    assert.equal(heartbeats(http).length, 2);

    socket.serverConnect();
    await flush();
    assert.equal(user.transport, 'socket');
    await clock.advance(90_000);
    assert.equal(heartbeats(http).length, 2, 'REST stopped once the socket connected');
    assert.equal(socket.emitted('user:heartbeat').length, 4);
    assert.deepEqual(
      seen.filter(([n]) => n === 'transport').map(([, t]) => t),
      ['rest', 'socket'],
    );
  });

  it('falls back at once on a transport connect_error, and the browser\'s online event reconnects now', async () => {
    const { clock, socket, user, http, win } = setup();
    socket.transportError('websocket error');
    await flush();
    assert.equal(heartbeats(http).length, 1);
    assert.equal(user.transport, 'rest');
    assert.equal(socket.connectCalls, 0, 'socket.io-client retries a transport error by itself');

    win.dispatch('online');
    await flush();
    assert.equal(socket.connectCalls, 1);
    assert.equal(heartbeats(http).length, 2, 'a REST heartbeat at once too');
    await clock.advance(1_000);
    assert.equal(heartbeats(http).length, 2);
  });

  it('falls back when the socket drops and does not come back within the timeout', async () => {
    const { clock, socket, user, http } = setup();
    socket.serverConnect();
    await flush();
    socket.drop('transport close');
    assert.equal(user.transport, null);
    await clock.advance(2_000);
    socket.serverConnect(); // a blip: back before the timeout
    await clock.advance(10_000);
    assert.equal(heartbeats(http).length, 0);

    socket.drop('transport close');
    await clock.advance(5_000);
    assert.equal(heartbeats(http).length, 1);
    assert.equal(user.transport, 'rest');
  });

  it('reconnects by itself after a server-side disconnect, with backoff', async () => {
    const { clock, socket } = setup();
    socket.serverConnect();
    await flush();
    socket.drop('io server disconnect');
    assert.equal(socket.connectCalls, 0);
    await clock.advance(1_000); // the first delay is within [0.5, 1] s
    assert.equal(socket.connectCalls, 1);
  });

  it('retries a failing REST heartbeat with backoff, one request at a time, never later than the interval', async () => {
    let fail = true;
    const pending = [];
    const { clock, http, user } = setup({}, () => {
      if (fail) return new TypeError('Failed to fetch');
      const d = deferred();
      pending.push(d);
      return d.promise;
    });
    await clock.advance(5_000);
    assert.equal(heartbeats(http).length, 1);
    assert.equal(user.online, false);
    await clock.advance(2_000);
    assert.equal(heartbeats(http).length, 2, 'first retry within 2 s');
    await clock.advance(60_000);
    const failed = heartbeats(http).length;
    assert.ok(failed >= 5 && failed <= 8, `${failed} attempts in a minute of outage`);

    fail = false; // the network is back, but the server is slow to answer
    for (let i = 0; i < 30 && http.inFlight === 0; i += 1) await clock.advance(1_000);
    const n = heartbeats(http).length;
    assert.equal(http.inFlight, 1);
    await clock.advance(14_000);
    assert.equal(heartbeats(http).length, n, 'nothing new while one is in flight');
    pending.at(-1).resolve(answer(200, { status: 'online', last_seen: LAST_SEEN }));
    await flush();
    assert.equal(user.online, true);
    assert.equal(user.transport, 'rest');
    assert.equal(http.maxInFlight, 1);
  });

  it('abandons a request unanswered for 15 s, then tries again', async () => {
    const pending = [];
    const { clock, http } = setup({}, () => {
      const d = deferred();
      pending.push(d);
      return d.promise;
    });
    await clock.advance(5_000);
    assert.equal(heartbeats(http).length, 1);
    await clock.advance(15_000);
    assert.equal(http.inFlight, 0, 'aborted');
    await clock.advance(2_000);
    assert.equal(heartbeats(http).length, 2);
    assert.equal(http.maxInFlight, 1);
  });
});

describe('PresenceUser and a refused token', () => {
  it('stops for good when the server refuses the connection and REST answers 401', async () => {
    const { clock, socket, user, http, seen } = setup({}, () => answer(401, { error: 'The token has expired' }));
    socket.refuse('The token has expired');
    await flush();
    assert.equal(user.stopped, true);
    assert.equal(user.stopReason, 'unauthorized');
    assert.equal(user.online, false);
    const stopped = seen.find(([n]) => n === 'stopped')[1];
    assert.deepEqual(stopped, { reason: 'unauthorized', message: 'The token has expired' });
    const error = seen.find(([n]) => n === 'error')[1];
    assert.equal(error.fatal, true);
    assert.equal(error.status, 401);
    await clock.advance(600_000);
    assert.equal(heartbeats(http).length, 1, 'not retried forever');
    assert.equal(socket.connectCalls, 0);
  });

  it('stops on a 403 (a service token is never a person)', async () => {
    const { socket, user } = setup({}, () => answer(403, { error: 'This needs a token with role admin, agent or user' }));
    socket.transportError();
    await flush();
    assert.equal(user.stopReason, 'forbidden');
  });

  it('keeps trying the socket when the server refused it for another reason but the token is good', async () => {
    const { clock, socket, user } = setup();
    socket.refuse('The server could not accept the connection');
    await flush();
    assert.equal(user.stopped, false);
    assert.equal(user.transport, 'rest');
    await clock.advance(1_000);
    assert.equal(socket.connectCalls, 1);
    socket.serverConnect();
    await flush();
    assert.equal(user.transport, 'socket');
  });

  it('asks REST when the socket refuses user:heartbeat, and stops if the token is refused there', async () => {
    const { socket, user, http } = setup({}, () => answer(403, { error: 'This needs a person token' }));
    socket.ackWith = () => ({ ok: false, error: 'This needs a token with role admin, agent or user' });
    socket.serverConnect();
    await flush();
    assert.equal(heartbeats(http).length, 1);
    assert.equal(user.stopped, true);
    assert.equal(user.stopReason, 'forbidden');
  });
});

describe('PresenceUser.logout() and stop()', () => {
  it('logout stops heartbeats, closes the socket, then POSTs /api/users/logout/', async () => {
    const { clock, socket, user, http, win } = setup({}, (req) =>
      req.url.endsWith('/logout/')
        ? answer(200, { status: 'offline', last_seen: '2026-11-23T09:01:00.000Z' })
        : answer(200, { status: 'online', last_seen: LAST_SEEN }),
    );
    socket.serverConnect();
    await flush();
    const body = await user.logout();
    assert.deepEqual(body, { status: 'offline', last_seen: '2026-11-23T09:01:00.000Z' });
    const [logout] = http.to('/api/users/logout/', 'POST');
    assert.equal(logout.headers.Authorization, `Bearer ${TOKEN}`);
    assert.equal(logout.keepalive, true);
    assert.equal(socket.connected, false);
    assert.equal(user.online, false);
    assert.equal(user.stopReason, 'logout');
    assert.equal(user.lastSeen, '2026-11-23T09:01:00.000Z');
    assert.equal(win.count('online'), 0);
    const sent = socket.emitted('user:heartbeat').length;
    await clock.advance(300_000);
    assert.equal(socket.emitted('user:heartbeat').length, sent);
    assert.equal(heartbeats(http).length, 0);
    assert.equal(clock.pending, 0, 'no timer left behind');
  });

  it('logout rejects with the status when the server refuses it', async () => {
    const { user } = setup({}, () => answer(401, { error: 'The token has expired' }));
    await assert.rejects(user.logout(), (err) => err.status === 401 && /expired/.test(err.message));
  });

  it('stop() leaves nothing running and tells the page', async () => {
    const { clock, socket, user, http, seen } = setup();
    user.stop();
    assert.deepEqual(seen.find(([n]) => n === 'stopped')[1], { reason: 'stopped', message: null });
    socket.serverConnect(); // a late connect changes nothing
    await clock.advance(60_000);
    assert.equal(socket.emitted('user:heartbeat').length, 0);
    assert.equal(heartbeats(http).length, 0);
    assert.equal(clock.pending, 0);
  });
});
