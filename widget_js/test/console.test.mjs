// The admin console's logic (SPEC §9) without a browser: formatting, the
// throttled re-reads, the token from the fragment, the chart's bars, the
// sessions table kept by socket events, the streams board, the socket's states.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError, createApi, query } from '../src/console/api.js';
import { barChart, niceMax } from '../src/console/chart.js';
import { ago, count, countdown, day, hms, minutes, percent, span, thisMonth } from '../src/console/format.js';
import { openLive } from '../src/console/live.js';
import { compareRows, durationSeconds, matches, SessionPage, supersedes } from '../src/console/sessions.js';
import { stateText, StreamBoard } from '../src/console/streams.js';
import { refresher } from '../src/console/throttle.js';
import { takeToken, TOKEN_KEY, tokenExpiry, tokenStore } from '../src/console/token.js';
import { FakeClock, FakeFetch, FakeWindow, answer, deferred, fakeIo, flush } from '../testing/fakes.mjs';

const T0 = Date.parse('2026-11-23T09:00:00.000Z');

describe('format', () => {
  it('writes durations as h:mm:ss and countdowns as m:ss', () => {
    assert.equal(hms(0), '0:00:00');
    assert.equal(hms(59.9), '0:00:59');
    assert.equal(hms(3725), '1:02:05');
    assert.equal(hms(36000 + 61), '10:01:01');
    assert.equal(hms(-5), '0:00:00');
    assert.equal(hms(undefined), '0:00:00');
    assert.equal(countdown(0), '0:00');
    assert.equal(countdown(61.2), '1:02'); // rounded up: never "0:00" before it is due
    assert.equal(countdown(3600), '1:00:00');
    assert.equal(countdown(null), '—');
  });

  it('writes counts, percentages, minutes and days', () => {
    assert.equal(count(0), '0');
    assert.equal(count(1234567), '1,234,567');
    assert.equal(count(null), '—');
    assert.equal(percent(1 / 3), '33.3%');
    assert.equal(percent(0), '0.0%');
    assert.equal(percent(1), '100.0%');
    assert.equal(minutes(45), '45 min');
    assert.equal(minutes(135), '2 h 15 min');
    assert.equal(span(3.5), '4 s');
    assert.equal(span(660), '11 min');
    assert.equal(day('2026-11-03'), '3 Nov');
    assert.deepEqual(thisMonth(Date.parse('2026-12-31T23:59:00Z')), { from: '2026-12-01', to: '2027-01-01' });
  });

  it('says how long ago, shortly', () => {
    const now = T0;
    assert.equal(ago(new Date(now - 2000).toISOString(), now), 'just now');
    assert.equal(ago(new Date(now - 42000).toISOString(), now), '42 s ago');
    assert.equal(ago(new Date(now - 5 * 60000).toISOString(), now), '5 min ago');
    assert.equal(ago(new Date(now - 3 * 3600000).toISOString(), now), '3 h ago');
    assert.equal(ago(new Date(now - 2 * 86400000).toISOString(), now), '2 d ago');
    assert.equal(ago(null, now), '—');
  });
});

describe('refresher', () => {
  it('runs at once, then at most once per gap however many pokes', async () => {
    const clock = new FakeClock(T0);
    let runs = 0;
    const r = refresher(async () => (runs += 1), { gapMs: 1000, timers: clock });
    r.poke();
    await flush();
    assert.equal(runs, 1);
    for (let i = 0; i < 10; i += 1) r.poke();
    await clock.advance(999);
    assert.equal(runs, 1);
    await clock.advance(1);
    assert.equal(runs, 2); // one trailing run for the ten pokes
    await clock.advance(5000);
    assert.equal(runs, 2);
  });

  it('never runs twice at once: a poke during a run is one run after it', async () => {
    const clock = new FakeClock(T0);
    const pending = [];
    let inFlight = 0;
    let most = 0;
    const r = refresher(
      () => {
        inFlight += 1;
        most = Math.max(most, inFlight);
        const d = deferred();
        pending.push(d);
        return d.promise.then(() => (inFlight -= 1));
      },
      { gapMs: 100, timers: clock },
    );
    r.poke();
    r.poke();
    r.poke();
    await clock.advance(500);
    assert.equal(pending.length, 1);
    pending[0].resolve();
    await clock.advance(500);
    assert.equal(pending.length, 2);
    pending[1].resolve();
    await clock.advance(500);
    assert.equal(pending.length, 2);
    assert.equal(most, 1);
  });

  it('confirms a poked read once more after the gap (the server may answer from a second-old cache)', async () => {
    const clock = new FakeClock(T0);
    let runs = 0;
    const r = refresher(async () => (runs += 1), { gapMs: 1000, confirm: true, settleMs: 250, timers: clock });
    r.poke();
    await clock.advance(1249);
    assert.equal(runs, 1);
    await clock.advance(1);
    assert.equal(runs, 2);
    await clock.advance(10000);
    assert.equal(runs, 2); // the confirming read does not confirm itself
    await r.now();
    assert.equal(runs, 3);
    await clock.advance(1250);
    assert.equal(runs, 4);
  });

  it('a poke while a confirming read is pending makes that read confirmed in turn', async () => {
    const clock = new FakeClock(T0);
    let runs = 0;
    const r = refresher(async () => (runs += 1), { gapMs: 1000, confirm: true, settleMs: 250, timers: clock });
    r.poke(); // run 1 at 0, its confirmation due at 1250
    await clock.advance(1200);
    r.poke(); // absorbed by the pending confirmation, which now needs one of its own
    await clock.advance(50);
    assert.equal(runs, 2);
    await clock.advance(1250);
    assert.equal(runs, 3);
    await clock.advance(10000);
    assert.equal(runs, 3);
  });

  it('now() rejects with the run\'s error; poke() hands errors to onError', async () => {
    const clock = new FakeClock(T0);
    const seen = [];
    const r = refresher(
      async () => {
        throw new Error('boom');
      },
      { timers: clock, onError: (e) => seen.push(e.message) },
    );
    await assert.rejects(r.now(), /boom/);
    await clock.advance(2000);
    r.poke();
    await flush();
    assert.deepEqual(seen, ['boom']);
    r.stop();
    r.poke();
    await clock.advance(5000);
    assert.deepEqual(seen, ['boom']);
  });
});

class FakeStorage {
  constructor() {
    this.map = new Map();
  }
  getItem(k) {
    return this.map.has(k) ? this.map.get(k) : null;
  }
  setItem(k, v) {
    this.map.set(k, String(v));
  }
  removeItem(k) {
    this.map.delete(k);
  }
}

function fakeLocation(hash, pathname = '/admin', search = '') {
  const replaced = [];
  return {
    location: { hash, pathname, search },
    history: { replaceState: (_s, _t, url) => replaced.push(url) },
    replaced,
  };
}

function jwt(claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}.signature`;
}

describe('token', () => {
  it('takes the token from the fragment, keeps it in sessionStorage and drops it from the address bar', () => {
    const storage = new FakeStorage();
    const store = tokenStore(storage);
    const win = fakeLocation('#token=abc.def.ghi', '/admin/sessions', '?x=1');
    assert.equal(takeToken(win, store), 'abc.def.ghi');
    assert.equal(storage.getItem(TOKEN_KEY), 'abc.def.ghi');
    assert.deepEqual(win.replaced, ['/admin/sessions?x=1']);
    // Another page of the console, same tab: no fragment, the stored token.
    const next = fakeLocation('');
    assert.equal(takeToken(next, tokenStore(storage)), 'abc.def.ghi');
    assert.deepEqual(next.replaced, []);
    store.clear();
    assert.equal(takeToken(fakeLocation(''), store), null);
  });

  it('keeps other fragment parts, and works when storage throws', () => {
    const broken = {
      getItem() {
        throw new Error('denied');
      },
      setItem() {
        throw new Error('denied');
      },
      removeItem() {
        throw new Error('denied');
      },
    };
    const store = tokenStore(broken);
    const win = fakeLocation('#token=t1&tab=2');
    assert.equal(takeToken(win, store), 't1');
    assert.deepEqual(win.replaced, ['/admin#tab=2']);
    store.clear();
    assert.equal(store.get(), null);
  });

  it('reads the expiry without checking the signature', () => {
    assert.equal(tokenExpiry(jwt({ sub: 'a', exp: 1800000000 })), 1800000000 * 1000);
    assert.equal(tokenExpiry(jwt({ sub: 'a', name: 'Zoë' })), null);
    assert.equal(tokenExpiry('not a token'), null);
    assert.equal(tokenExpiry(''), null);
  });
});

describe('api', () => {
  it('GETs with the bearer token and turns refusals into the server\'s sentence', async () => {
    const http = new FakeFetch((req) => {
      if (req.url.endsWith('/api/admin/overview?limit=8')) return answer(200, { ok: 1 });
      return answer(403, { error: 'This needs a token with role admin, not agent' });
    });
    const api = createApi({ url: 'https://p.example/', token: 'T', fetch: http.fetch, timers: new FakeClock() });
    assert.deepEqual(await api.get('/api/admin/overview', { limit: 8 }), { ok: 1 });
    assert.equal(http.requests[0].headers.Authorization, 'Bearer T');
    const err = await api.get('/api/admin/sessions').catch((e) => e);
    assert.ok(err instanceof ApiError);
    assert.equal(err.message, 'This needs a token with role admin, not agent');
    assert.equal(err.auth, true);
    assert.equal(query({ status: '', q: 'a b', limit: 50, offset: 0 }), '?q=a+b&limit=50&offset=0');
  });

  it('downloads a file with the token, named by the server or by us', async () => {
    const blob = { size: 3 };
    const http = new FakeFetch(() => ({
      status: 200,
      headers: { get: (h) => (h === 'Content-Disposition' ? 'attachment; filename="payroll.csv"' : null) },
      blob: async () => blob,
    }));
    const api = createApi({ url: 'https://p.example', token: 'T', fetch: http.fetch });
    const file = await api.download('/api/admin/sessions/export.csv', { from: '2026-11-01', to: '2026-12-01' }, 'x.csv');
    assert.equal(file.filename, 'payroll.csv');
    assert.equal(file.blob, blob);
    assert.equal(http.requests[0].url, 'https://p.example/api/admin/sessions/export.csv?from=2026-11-01&to=2026-12-01');
    assert.equal(http.requests[0].headers.Authorization, 'Bearer T');
    const refused = new FakeFetch(() => answer(401, { error: 'Token expired' }));
    const err = await createApi({ url: 'https://p.example', token: 'T', fetch: refused.fetch })
      .download('/x.csv', {}, 'x.csv')
      .catch((e) => e);
    assert.equal(err.message, 'Token expired');
    assert.equal(err.auth, true);
  });
});

describe('chart', () => {
  const daily = Array.from({ length: 30 }, (_, i) => ({
    date: new Date(Date.UTC(2026, 9, 25 + i)).toISOString().slice(0, 10),
    active: i === 29 ? 7 : i % 5,
  }));

  it('has one bar a day, oldest first, heights in proportion', () => {
    const c = barChart(daily, { width: 600, height: 200 });
    assert.equal(c.bars.length, 30);
    assert.deepEqual(
      c.bars.map((b) => [b.date, b.active]),
      daily.map((d) => [d.date, d.active]),
    );
    assert.equal(c.max, 10);
    const last = c.bars[29];
    assert.equal(Math.round(last.h), Math.round(0.7 * c.plot.h));
    assert.equal(c.bars[0].h, 0);
    assert.ok(c.bars.every((b, i) => i === 0 || b.x > c.bars[i - 1].x));
    assert.ok(c.bars.every((b) => b.x + b.w <= 600 && b.y + b.h <= 200));
    assert.equal(last.label, '23 Nov: 7 active users');
    assert.match(c.summary, /today 7, peak 7 on 23 Nov/);
  });

  it('labels a day a week back from today, and whole ticks', () => {
    const c = barChart(daily);
    assert.equal(c.labels[c.labels.length - 1].text, '23 Nov');
    assert.equal(c.labels[c.labels.length - 1].anchor, 'end');
    assert.equal(c.labels[c.labels.length - 1].x, c.plot.x + c.plot.w);
    assert.equal(c.labels.length, 5);
    assert.deepEqual(
      c.ticks.map((t) => t.label),
      ['0', '5', '10'],
    );
    assert.deepEqual(
      barChart([{ date: '2026-11-23', active: 1 }]).ticks.map((t) => t.label),
      ['0', '1'],
    );
    assert.equal(niceMax(0), 1);
    assert.equal(niceMax(3), 5);
    assert.equal(niceMax(101), 200);
    assert.equal(barChart([]).bars.length, 0);
  });
});

function session(id, extra = {}) {
  return Object.assign(
    {
      id,
      meetingId: 'm1',
      meetingTitle: 'Algebra',
      studentId: `st-${id}`,
      studentName: `Student ${id}`,
      teacherId: 't1',
      teacherName: 'Ann Teacher',
      clickedAt: '2026-11-23T09:00:00.000Z',
      lastActivityAt: '2026-11-23T09:00:00.000Z',
      sessionEndedAt: null,
      status: 'active',
      durationMinutes: 0,
    },
    extra,
  );
}

describe('sessions', () => {
  it('filters as the server does: exact status, a case-insensitive literal substring of names', () => {
    const row = session('a', { studentName: 'Zoë Ödön', meetingTitle: '50% off_sale', teacherName: null });
    assert.ok(matches(row, {}));
    assert.ok(matches(row, { q: 'zOË' }));
    assert.ok(matches(row, { q: '50%' }));
    assert.ok(matches(row, { q: 'f_s' }));
    assert.ok(!matches(row, { q: 'f%s' }));
    assert.ok(matches(row, { status: 'active', q: ' ödön ' }));
    assert.ok(!matches(row, { status: 'completed' }));
  });

  it('counts durations from the click: live while active, to the end once ended', () => {
    const active = session('a');
    assert.equal(durationSeconds(active, T0 + 3725000), 3725);
    assert.equal(durationSeconds(active, T0 - 5000), 0);
    const ended = session('b', { status: 'timeout', sessionEndedAt: '2026-11-23T09:30:30.000Z', durationMinutes: 31 });
    assert.equal(durationSeconds(ended, T0 + 99999999), 1830);
    assert.equal(durationSeconds(session('c', { status: 'completed', durationMinutes: 3 }), T0), 180);
  });

  it('never lets a late heartbeat undo an end', () => {
    const ended = session('a', { status: 'completed', lastActivityAt: '2026-11-23T09:10:00.000Z' });
    const beat = session('a', { lastActivityAt: '2026-11-23T09:20:00.000Z' });
    assert.equal(supersedes(beat, ended), false);
    assert.equal(supersedes(ended, beat), true);
    assert.equal(supersedes(session('a', { lastActivityAt: '2026-11-23T09:00:01.000Z' }), session('a')), true);
    assert.equal(supersedes(session('a'), session('a', { lastActivityAt: '2026-11-23T09:00:01.000Z' })), false);
  });

  it('puts new clicks on top of the first page, updates and drops rows as events say', () => {
    const page = new SessionPage({ limit: 3 });
    page.load({ count: 5, results: [session('c', { clickedAt: '2026-11-23T09:03:00.000Z' }), session('b', { clickedAt: '2026-11-23T09:02:00.000Z' }), session('a', { clickedAt: '2026-11-23T09:01:00.000Z' })] });
    assert.equal(page.range(), '1–3 of 5');
    assert.equal(page.apply('started', session('d', { clickedAt: '2026-11-23T09:04:00.000Z' })), 'added');
    assert.deepEqual(page.rows.map((r) => r.id), ['d', 'c', 'b']);
    assert.equal(page.count, 6);
    assert.equal(page.apply('heartbeat', session('c', { clickedAt: '2026-11-23T09:03:00.000Z', lastActivityAt: '2026-11-23T09:05:00.000Z' })), 'updated');
    assert.equal(page.apply('heartbeat', session('zz')), null); // not on this page
    assert.equal(page.apply('ended', session('b', { clickedAt: '2026-11-23T09:02:00.000Z', status: 'completed' })), 'updated');
    assert.equal(page.rows[2].status, 'completed');

    page.filter.status = 'active';
    assert.equal(page.apply('ended', session('c', { clickedAt: '2026-11-23T09:03:00.000Z', status: 'timeout' })), 'removed');
    assert.equal(page.count, 5);
    page.filter.q = 'nobody';
    assert.equal(page.apply('started', session('e')), null); // a click the search would not show
    assert.deepEqual(page.params(), { status: 'active', q: 'nobody', limit: 3, offset: 0 });
  });

  it('keeps later pages as they are, counting the new click', () => {
    const page = new SessionPage({ limit: 2 });
    page.offset = 2;
    page.load({ count: 4, results: [session('b'), session('a')] });
    assert.equal(page.apply('started', session('z', { clickedAt: '2026-11-23T10:00:00.000Z' })), null);
    assert.equal(page.count, 5);
    assert.ok(page.hasPrevious && page.hasNext);
    assert.ok(compareRows(session('x', { clickedAt: '2026-11-23T10:00:00.000Z' }), session('y')) < 0);
  });
});

function stream(id, extra = {}) {
  return Object.assign(
    {
      id,
      title: `Stream ${id}`,
      status: 'live',
      started_at: '2026-11-23T09:00:00.000Z',
      ended_at: null,
      end_reason: null,
      credits_consumed: 1,
      last_activity: '2026-11-23T09:00:00.000Z',
      user_id: 'seller-1',
      remaining_credits: 5,
      time_until_next_deduction_minutes: 1.5,
    },
    extra,
  );
}

describe('streams', () => {
  it('lists the live streams first and counts down to the next block', () => {
    const board = new StreamBoard();
    board.load([stream('b')], [stream('c', { status: 'ended', time_until_next_deduction_minutes: null }), stream('b')], T0);
    assert.deepEqual(board.order, ['b', 'c']);
    assert.equal(board.secondsToNext(board.get('b'), T0 + 30000), 60);
    assert.equal(board.secondsToNext(board.get('b'), T0 + 999999), 0);
    assert.equal(board.secondsToNext(board.get('c'), T0), null);
    assert.equal(board.live.length, 1);
  });

  it('applies charges to every stream of the owner, warnings while live, and ends', () => {
    const board = new StreamBoard();
    board.load([stream('a'), stream('b', { user_id: 'seller-2' })], [stream('old', { status: 'ended' })], T0);
    assert.equal(board.credits({ livestream_id: 'a', remaining_credits: 4, credits_consumed: 2 }), true);
    assert.equal(board.get('a').remaining_credits, 4);
    assert.equal(board.get('old').remaining_credits, 4); // same owner: the same balance
    assert.equal(board.get('b').remaining_credits, 5);
    assert.equal(board.credits({ livestream_id: 'nope', remaining_credits: 1 }), false);

    assert.equal(board.warning({ livestream_id: 'a', reason: 'inactivity', inactive_seconds: 660 }, T0), true);
    assert.equal(stateText(board.get('a')), 'Live · quiet');
    board.load([stream('a', { remaining_credits: 4 })], [], T0 + 1000); // still quiet: the warning stays
    assert.equal(board.get('a').warning.inactiveSeconds, 660);
    board.load([stream('a', { last_activity: '2026-11-23T09:20:00.000Z' })], [], T0 + 2000); // a heartbeat came
    assert.equal(board.get('a').warning, null);

    assert.equal(board.ended({ livestream_id: 'a', reason: 'credits_exhausted' }, T0), true);
    const a = board.get('a');
    assert.equal(a.status, 'ended');
    assert.equal(a.end_reason, 'credits_exhausted');
    assert.equal(board.secondsToNext(a, T0), null);
    assert.equal(board.warning({ livestream_id: 'a', inactive_seconds: 1 }, T0), false);
    assert.equal(stateText(a), 'Ended');
  });
});

describe('live', () => {
  function setup() {
    const io = fakeIo();
    const clock = new FakeClock(T0);
    const win = new FakeWindow();
    const live = openLive({ io, url: 'https://p.example/', token: 'T', timers: clock, window: win });
    const socket = io.sockets[0];
    const seen = [];
    for (const e of ['state', 'connect', 'refused']) live.on(e, (d) => seen.push([e, d]));
    return { io, clock, win, live, socket, seen };
  }

  it('connects with the token and says when it is live, and each (re)connect', () => {
    const { live, socket, seen } = setup();
    assert.equal(socket.url, 'https://p.example');
    assert.deepEqual(socket.options.auth, { token: 'T' });
    assert.equal(live.state, 'connecting');
    socket.serverConnect();
    socket.drop('transport close');
    assert.equal(live.state, 'reconnecting');
    socket.serverConnect();
    assert.deepEqual(seen, [
      ['state', 'live'],
      ['connect', { first: true }],
      ['state', 'reconnecting'],
      ['state', 'live'],
      ['connect', { first: false }],
    ]);
  });

  it('comes back by itself after the server closed it, and at once when the network returns', async () => {
    const { clock, win, socket } = setup();
    socket.serverConnect();
    socket.drop('io server disconnect');
    assert.equal(socket.connectCalls, 0);
    await clock.advance(1100);
    assert.equal(socket.connectCalls, 1);
    socket.transportError();
    win.dispatch('online');
    assert.equal(socket.connectCalls, 2);
  });

  it('reports a refused connection and retries it later', async () => {
    const { clock, socket, seen } = setup();
    socket.refuse('Token expired');
    assert.deepEqual(seen, [['refused', { message: 'Token expired' }]]);
    await clock.advance(1100);
    assert.equal(socket.connectCalls, 1);
  });

  it('passes server events through and stops everything on close', async () => {
    const { clock, live, socket, win } = setup();
    const got = [];
    live.on('overview:changed', (d) => got.push(d));
    socket.push('overview:changed', { customers: { online: 3 } });
    assert.deepEqual(got, [{ customers: { online: 3 } }]);
    socket.serverConnect();
    socket.drop('io server disconnect');
    live.close();
    await clock.advance(60000);
    assert.equal(socket.connectCalls, 0);
    assert.equal(win.count('online'), 0);
  });
});

describe('streams, with what admins hear beyond SPEC §7', () => {
  it('counts down to next_block_at on our clock, new streams on top, grants shown', () => {
    const board = new StreamBoard();
    // The server's clock is 3 s ahead: its next_block_at says 90 s + 3 s from our now.
    board.load([stream('a', { next_block_at: new Date(T0 + 93000).toISOString() })], [], T0);
    assert.equal(board.skew, 3000);
    board.credits({ livestream_id: 'a', remaining_credits: 3, credits_consumed: 2, next_block_at: new Date(T0 + 183000).toISOString() });
    assert.equal(board.secondsToNext(board.get('a'), T0), 180);
    assert.equal(board.started(stream('n', { time_until_next_deduction_minutes: null, next_block_at: new Date(T0 + 33000).toISOString() }), T0), true);
    assert.deepEqual(board.order, ['n', 'a']);
    assert.equal(board.secondsToNext(board.get('n'), T0), 30);
    assert.equal(board.granted({ user_id: 'seller-1', amount: 5, remaining_credits: 8 }), true);
    assert.equal(board.get('a').remaining_credits, 8);
    assert.equal(board.granted({ user_id: 'nobody', remaining_credits: 1 }), false);
  });
});

describe('a list read before the latest events', () => {
  it('never takes a stream back: charges only grow, an end is final', () => {
    const board = new StreamBoard();
    board.load([stream('a', { credits_consumed: 1, remaining_credits: 3 }), stream('b', { credits_consumed: 1, remaining_credits: 3 })], [], T0);
    board.credits({ livestream_id: 'a', remaining_credits: 2, credits_consumed: 2, next_block_at: new Date(T0 + 150000).toISOString() });
    // A re-read answered before that charge: the page keeps what the event said.
    board.load([stream('a', { credits_consumed: 1, remaining_credits: 3 }), stream('b', { credits_consumed: 1, remaining_credits: 3 })], [], T0 + 100);
    assert.equal(board.get('a').credits_consumed, 2);
    assert.equal(board.get('a').remaining_credits, 2);
    assert.equal(board.get('b').remaining_credits, 2); // the same owner's balance
    assert.equal(board.secondsToNext(board.get('a'), T0), 150);
    board.ended({ livestream_id: 'a', reason: 'credits_exhausted' }, T0 + 200);
    board.load([stream('a', { credits_consumed: 2, remaining_credits: 0 })], [], T0 + 300);
    assert.equal(board.get('a').status, 'ended');
    assert.equal(board.get('a').end_reason, 'credits_exhausted');
    // A newer list wins, grants included.
    board.load([], [stream('a', { status: 'ended', end_reason: 'credits_exhausted', credits_consumed: 2, remaining_credits: 10 })], T0 + 400);
    assert.equal(board.get('a').remaining_credits, 10);
  });

  it('never takes a session back to active, nor a heartbeat back', () => {
    const page = new SessionPage();
    page.load({ count: 1, results: [session('a')] });
    page.apply('ended', session('a', { status: 'completed', sessionEndedAt: '2026-11-23T09:05:00.000Z' }));
    page.load({ count: 1, results: [session('a')] });
    assert.equal(page.rows[0].status, 'completed');
    page.load({ count: 2, results: [session('b', { lastActivityAt: '2026-11-23T09:01:00.000Z' })] });
    page.apply('heartbeat', session('b', { lastActivityAt: '2026-11-23T09:02:00.000Z' }));
    page.load({ count: 2, results: [session('b', { lastActivityAt: '2026-11-23T09:01:00.000Z' })] });
    assert.equal(page.rows[0].lastActivityAt, '2026-11-23T09:02:00.000Z');
  });
});
