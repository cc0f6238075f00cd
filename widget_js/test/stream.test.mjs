// PresenceStream's logic (SPEC.md §7, §9) with a fake clock, fetch and socket:
// heartbeat pace, credits and the low-credit threshold, other streams' events
// ignored, stopping when the server ends the stream, end(), checkCredits().
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  createStream,
  DEFAULT_STREAM_HEARTBEAT_SECONDS,
  isLowCredits,
  isNotLiveAnswer,
  sameStream,
} from '../src/lib/stream.js';
import { FakeClock, FakeFetch, FakeWindow, answer, deferred, fakeIo, flush } from '../testing/fakes.mjs';

const URL = 'https://presence.example';
const TOKEN = 'seller-token';

function stream(status = 'live', extra = {}) {
  return Object.assign(
    {
      id: 'ls-1',
      title: 'Spring sale',
      status,
      started_at: status === 'scheduled' ? null : '2026-11-23T09:00:00.000Z',
      ended_at: null,
      end_reason: null,
      credits_consumed: status === 'scheduled' ? 0 : 1,
      last_activity: '2026-11-23T09:00:00.000Z',
    },
    extra,
  );
}

function beat(remaining, consumed = 1, extra = {}) {
  return answer(
    200,
    Object.assign(
      {
        message: 'Heartbeat recorded successfully',
        last_activity: '2026-11-23T09:01:00.000Z',
        remaining_credits: remaining,
        credits_consumed: consumed,
        low_credits: remaining <= 2,
      },
      extra,
    ),
  );
}

/** A server: `routes` maps "METHOD /path" to a function of the request (or an answer). */
function setup({ routes = {}, status = 'live', options = {} } = {}) {
  const clock = new FakeClock();
  const io = fakeIo();
  const table = Object.assign(
    {
      'GET /api/livestreams/ls-1/': () => answer(200, stream(status)),
      'GET /api/users/me/credits': () => answer(200, { remaining_credits: 7 }),
      'POST /api/livestreams/ls-1/heartbeat/': () => beat(5),
    },
    routes,
  );
  const http = new FakeFetch((req) => {
    const key = `${req.method} ${req.url.slice(URL.length)}`;
    const route = table[key];
    if (!route) return answer(404, { error: `no fake for ${key}` });
    return typeof route === 'function' ? route(req) : route;
  });
  const win = new FakeWindow();
  const s = createStream(Object.assign({ url: URL, token: TOKEN, livestreamId: 'ls-1' }, options), {
    io,
    fetch: http.fetch,
    timers: clock,
    window: win,
  });
  const socket = io.sockets[0];
  const seen = [];
  for (const name of ['state', 'credits', 'low-credits', 'warning', 'ended', 'error', 'stopped']) {
    s.on(name, (data) => seen.push([name, data]));
  }
  const named = (name) => seen.filter(([n]) => n === name).map(([, d]) => d);
  return { clock, io, http, win, s, socket, seen, named };
}

const heartbeats = (http) => http.to('/api/livestreams/ls-1/heartbeat/', 'POST');

describe('pure helpers', () => {
  it('counts 2 credits or fewer as low', () => {
    assert.equal(isLowCredits(3), false);
    assert.equal(isLowCredits(2), true);
    assert.equal(isLowCredits(0), true);
    assert.equal(isLowCredits(null), false);
  });

  it('knows the "not currently live" answer', () => {
    assert.equal(isNotLiveAnswer({ status: 400, body: { error: 'Livestream is not currently live', reason: 'inactivity' } }), true);
    assert.equal(isNotLiveAnswer({ status: 400, body: { error: 'Bad input', details: {} } }), false);
    assert.equal(isNotLiveAnswer({ status: 404, body: { error: 'Livestream is not currently live' } }), false);
  });

  it('matches stream ids as strings', () => {
    assert.equal(sameStream({ livestream_id: 42 }, '42'), true);
    assert.equal(sameStream({ livestream_id: 'ls-2' }, 'ls-1'), false);
    assert.equal(sameStream({}, 'ls-1'), false);
  });
});

describe('PresenceStream heartbeats', () => {
  it('reads the stream, heartbeats a live one at once and then every 60 s, with the bearer token', async () => {
    const { clock, http, s, socket } = setup();
    assert.equal(DEFAULT_STREAM_HEARTBEAT_SECONDS, 60);
    assert.deepEqual(socket.options.auth, { token: TOKEN });
    await flush();
    assert.equal(s.state, 'live');
    assert.equal(heartbeats(http).length, 1);
    const [first] = heartbeats(http);
    assert.equal(first.headers.Authorization, `Bearer ${TOKEN}`);
    assert.deepEqual(first.body, {});
    assert.equal(s.remainingCredits, 5);
    assert.equal(s.creditsConsumed, 1);
    assert.equal(s.lowCredits, false);
    assert.equal(s.lastActivity, '2026-11-23T09:01:00.000Z');
    await clock.advance(59_999);
    assert.equal(heartbeats(http).length, 1);
    await clock.advance(1);
    assert.equal(heartbeats(http).length, 2);
    await clock.advance(240_000);
    assert.equal(heartbeats(http).length, 6);
  });

  it('takes a heartbeatInterval override, in seconds', async () => {
    const { clock, http } = setup({ options: { heartbeatInterval: 10 } });
    await clock.advance(60_000);
    assert.equal(heartbeats(http).length, 7);
  });

  it('retries a failed heartbeat with backoff, never two in flight', async () => {
    let mode = 'down';
    const slow = deferred();
    const { clock, http, s } = setup({
      routes: {
        'POST /api/livestreams/ls-1/heartbeat/': () => {
          if (mode === 'down') return new TypeError('Failed to fetch');
          if (mode === 'busy') return answer(503, { error: 'restarting' });
          return slow.promise;
        },
      },
    });
    await flush();
    assert.equal(heartbeats(http).length, 1);
    await clock.advance(2_000);
    assert.equal(heartbeats(http).length, 2, 'retried within 2 s, not after a minute');
    mode = 'busy';
    await clock.advance(4_000);
    assert.equal(heartbeats(http).length, 3);
    mode = 'slow';
    for (let i = 0; i < 60 && http.inFlight === 0; i += 1) await clock.advance(1_000);
    const n = heartbeats(http).length;
    await clock.advance(10_000);
    assert.equal(heartbeats(http).length, n);
    slow.resolve(beat(4));
    await flush();
    assert.equal(s.remainingCredits, 4);
    assert.equal(http.maxInFlight, 1);
    assert.equal(s.state, 'live');
  });

  it('stops for good on a 401', async () => {
    const { clock, http, s, named } = setup({
      routes: { 'POST /api/livestreams/ls-1/heartbeat/': answer(401, { error: 'The token has expired' }) },
    });
    await flush();
    assert.equal(s.stopped, true);
    assert.equal(s.stopReason, 'unauthorized');
    assert.equal(named('error')[0].fatal, true);
    await clock.advance(600_000);
    assert.equal(heartbeats(http).length, 1);
  });

  it('does not heartbeat a scheduled stream until goLive() starts it', async () => {
    const { clock, http, s } = setup({
      status: 'scheduled',
      routes: { 'PATCH /api/livestreams/start/ls-1/': () => answer(200, stream('live')) },
    });
    await flush();
    assert.equal(s.state, 'scheduled');
    assert.equal(s.remainingCredits, 7, 'the balance, from /api/users/me/credits');
    await clock.advance(120_000);
    assert.equal(heartbeats(http).length, 0);
    await s.goLive();
    await flush();
    assert.equal(s.state, 'live');
    assert.equal(heartbeats(http).length, 1);
  });

  it('goLive() rejects with 402 when credits are short, and stays scheduled', async () => {
    const { s } = setup({
      status: 'scheduled',
      routes: { 'PATCH /api/livestreams/start/ls-1/': answer(402, { error: 'Insufficient credits' }) },
    });
    await flush();
    await assert.rejects(s.goLive(), (err) => err.status === 402 && err.message === 'Insufficient credits');
    assert.equal(s.state, 'scheduled');
  });
});

describe('PresenceStream credits', () => {
  it('keeps credits current from livestream:credits and marks 2 or fewer as low, once', async () => {
    const { s, socket, named } = setup();
    await flush();
    socket.serverConnect();
    socket.push('livestream:credits', { livestream_id: 'ls-1', remaining_credits: 3, credits_consumed: 3 });
    assert.equal(s.remainingCredits, 3);
    assert.equal(s.creditsConsumed, 3);
    assert.equal(s.lowCredits, false);
    socket.push('livestream:credits', { livestream_id: 'ls-1', remaining_credits: 2, credits_consumed: 4 });
    assert.equal(s.lowCredits, true);
    socket.push('livestream:credits', { livestream_id: 'ls-1', remaining_credits: 1, credits_consumed: 5 });
    assert.equal(named('low-credits').length, 1);
    assert.deepEqual(named('credits').at(-1), { remainingCredits: 1, creditsConsumed: 5, lowCredits: true });
  });

  it('takes low_credits from a heartbeat answer', async () => {
    const { s } = setup({ routes: { 'POST /api/livestreams/ls-1/heartbeat/': beat(2, 3) } });
    await flush();
    assert.equal(s.remainingCredits, 2);
    assert.equal(s.lowCredits, true);
  });

  it('ignores every livestream:* event of another stream', async () => {
    const { s, socket, named, http, clock } = setup();
    await flush();
    socket.serverConnect();
    socket.push('livestream:credits', { livestream_id: 'ls-2', remaining_credits: 0, credits_consumed: 9 });
    socket.push('livestream:warning', { livestream_id: 'ls-2', reason: 'inactivity', inactive_seconds: 700 });
    socket.push('livestream:ended', { livestream_id: 'ls-2', reason: 'credits_exhausted' });
    assert.equal(s.remainingCredits, 5);
    assert.equal(s.warning, null);
    assert.equal(s.state, 'live');
    assert.equal(named('ended').length, 0);
    await clock.advance(60_000);
    assert.equal(heartbeats(http).length, 2);
  });

  it('checkCredits() POSTs check_credits and keeps the figures', async () => {
    const { s, http } = setup({
      routes: {
        'POST /api/livestreams/ls-1/check_credits/': answer(200, {
          message: 'Credits checked successfully',
          livestream_ended: false,
          remaining_credits: 4,
          credits_consumed: 2,
          time_until_next_deduction_minutes: 12.5,
        }),
      },
    });
    await flush();
    const body = await s.checkCredits();
    assert.equal(body.remaining_credits, 4);
    assert.equal(http.to('/check_credits/', 'POST')[0].headers.Authorization, `Bearer ${TOKEN}`);
    assert.equal(s.remainingCredits, 4);
    assert.equal(s.creditsConsumed, 2);
    assert.equal(s.timeUntilNextDeductionMinutes, 12.5);
    assert.equal(s.state, 'live');
  });
});

describe('PresenceStream ending', () => {
  it('stops by itself on livestream:ended, saying why', async () => {
    const { clock, http, s, socket, named } = setup();
    await flush();
    socket.serverConnect();
    socket.push('livestream:ended', { livestream_id: 'ls-1', reason: 'credits_exhausted' });
    assert.equal(s.state, 'ended');
    assert.equal(s.endReason, 'credits_exhausted');
    assert.deepEqual(named('ended'), [{ reason: 'credits_exhausted', source: 'socket' }]);
    assert.equal(socket.connected, false, 'stopped listening');
    await clock.advance(600_000);
    assert.equal(heartbeats(http).length, 1);
    assert.equal(clock.pending, 0);
  });

  it('stops when a heartbeat answers 400 "not currently live", with the reason it gives', async () => {
    let ended = false;
    const { clock, http, s, named } = setup({
      routes: {
        'POST /api/livestreams/ls-1/heartbeat/': () =>
          ended ? answer(400, { error: 'Livestream is not currently live', reason: 'inactivity' }) : beat(5),
      },
    });
    await flush();
    ended = true;
    await clock.advance(60_000);
    assert.equal(s.state, 'ended');
    assert.equal(s.endReason, 'inactivity');
    assert.deepEqual(named('ended'), [{ reason: 'inactivity', source: 'heartbeat' }]);
    await clock.advance(600_000);
    assert.equal(heartbeats(http).length, 2);
  });

  it('reads the end reason when the 400 does not carry one', async () => {
    const { s } = setup({
      routes: {
        'POST /api/livestreams/ls-1/heartbeat/': answer(400, { error: 'Livestream is not currently live' }),
        'GET /api/livestreams/ls-1/': (() => {
          let reads = 0;
          return () => {
            reads += 1;
            return answer(200, reads === 1 ? stream('live') : stream('ended', { end_reason: 'credits_exhausted' }));
          };
        })(),
      },
    });
    await flush();
    assert.equal(s.state, 'ended');
    assert.equal(s.endReason, 'credits_exhausted');
  });

  it('an inactivity warning is shown, answered with a heartbeat at once, and cleared by its success', async () => {
    const { http, s, socket, named } = setup();
    await flush();
    socket.serverConnect();
    socket.push('livestream:warning', { livestream_id: 'ls-1', reason: 'inactivity', inactive_seconds: 610 });
    assert.deepEqual(named('warning'), [{ reason: 'inactivity', inactiveSeconds: 610 }]);
    assert.equal(s.warning.inactiveSeconds, 610);
    await flush();
    assert.equal(heartbeats(http).length, 2);
    assert.equal(s.warning, null);
  });

  it('end() PATCHes end, stops heartbeats and reports manual', async () => {
    const { clock, http, s, named } = setup({
      routes: {
        'PATCH /api/livestreams/end/ls-1/': answer(200, stream('ended', { end_reason: 'manual', credits_consumed: 2 })),
      },
    });
    await flush();
    const body = await s.end();
    assert.equal(body.end_reason, 'manual');
    assert.equal(http.to('/api/livestreams/end/ls-1/', 'PATCH').length, 1);
    assert.equal(s.state, 'ended');
    assert.equal(s.endReason, 'manual');
    assert.equal(s.creditsConsumed, 2);
    assert.deepEqual(named('ended'), [{ reason: 'manual', source: 'end' }]);
    await clock.advance(600_000);
    assert.equal(heartbeats(http).length, 1);
  });

  it('end() that fails leaves the stream live and heartbeating', async () => {
    const { clock, http, s } = setup({
      routes: { 'PATCH /api/livestreams/end/ls-1/': () => new TypeError('Failed to fetch') },
    });
    await flush();
    await assert.rejects(s.end());
    assert.equal(s.state, 'live');
    await flush();
    assert.equal(heartbeats(http).length, 2, 'resumed');
    await clock.advance(60_000);
    assert.equal(heartbeats(http).length, 3);
  });

  it('check_credits saying the stream ended stops it too', async () => {
    const { s } = setup({
      routes: {
        'POST /api/livestreams/ls-1/check_credits/': answer(200, {
          message: 'Credits checked successfully',
          livestream_ended: true,
          remaining_credits: 0,
          credits_consumed: 3,
          time_until_next_deduction_minutes: null,
        }),
        'GET /api/livestreams/ls-1/': (() => {
          let reads = 0;
          return () => {
            reads += 1;
            return answer(200, reads === 1 ? stream('live') : stream('ended', { end_reason: 'credits_exhausted' }));
          };
        })(),
      },
    });
    await flush();
    await s.checkCredits();
    assert.equal(s.state, 'ended');
    assert.equal(s.endReason, 'credits_exhausted');
    assert.equal(s.remainingCredits, 0);
    assert.equal(s.lowCredits, true);
  });

  it('an already ended stream is reported as such and never heartbeated', async () => {
    const { http, s, named } = setup({ status: 'ended' });
    await flush();
    assert.equal(s.state, 'ended');
    assert.equal(heartbeats(http).length, 0);
    assert.equal(named('ended').length, 1);
  });
});

describe('PresenceStream reconnecting', () => {
  it('heartbeats at once after a reconnect (events may have been missed) and on the browser\'s online event', async () => {
    const { http, socket, win } = setup();
    await flush();
    socket.serverConnect();
    await flush();
    assert.equal(heartbeats(http).length, 1, 'no extra heartbeat on the first connect');
    socket.drop('transport close');
    socket.serverConnect();
    await flush();
    assert.equal(heartbeats(http).length, 2);
    socket.drop('transport close');
    win.dispatch('online');
    await flush();
    assert.equal(socket.connectCalls, 1);
    assert.equal(heartbeats(http).length, 3);
  });

  it('reconnects after a server-side disconnect, with backoff', async () => {
    const { clock, socket } = setup();
    await flush();
    socket.serverConnect();
    socket.drop('io server disconnect');
    await clock.advance(1_000);
    assert.equal(socket.connectCalls, 1);
  });
});
