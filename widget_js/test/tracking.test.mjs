// The tracking page's session logic (SPEC.md §6, §9) with a fake clock and
// fetch: heartbeat pace, surviving a blip without a second session, 410,
// "I have left", and the page's formatting helpers.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  createTracker,
  formatElapsed,
  formatMinutes,
  parseConfig,
  safeMeetingUrl,
} from '../src/lib/tracking-session.js';
import { FakeClock, FakeFetch, FakeWindow, answer, deferred, flush } from '../testing/fakes.mjs';

const CONFIG = {
  sessionId: 'sess-1',
  secret: 's3cret',
  heartbeatInterval: 30,
  zoomUrl: 'https://zoom.us/j/123',
  meetingTitle: 'Algebra',
};
const OK = () =>
  answer(200, { status: 'active', lastActivityAt: '2026-11-23T09:00:30.000Z', elapsedMinutes: 1 });

function setup(respond = OK, config = CONFIG) {
  const clock = new FakeClock();
  const http = new FakeFetch(respond);
  const win = new FakeWindow();
  const doc = Object.assign(new FakeWindow(), { visibilityState: 'visible' });
  const tracker = createTracker(parseConfig(JSON.stringify(config)), {
    fetch: http.fetch,
    timers: clock,
    window: win,
    document: doc,
  });
  const ended = [];
  tracker.on('ended', (e) => ended.push(e));
  return { clock, http, win, doc, tracker, ended };
}

const beats = (http) => http.to('/api/sessions/sess-1/heartbeat', 'POST');

describe('formatting', () => {
  it('formats elapsed time as h:mm:ss', () => {
    assert.equal(formatElapsed(0), '0:00:00');
    assert.equal(formatElapsed(999), '0:00:00');
    assert.equal(formatElapsed(61_000), '0:01:01');
    assert.equal(formatElapsed(3_599_000), '0:59:59');
    assert.equal(formatElapsed(3_600_000 + 5 * 60_000 + 9_000), '1:05:09');
    assert.equal(formatElapsed(12 * 3_600_000), '12:00:00');
    assert.equal(formatElapsed(-5000), '0:00:00');
  });

  it('words a duration in minutes', () => {
    assert.equal(formatMinutes(0), '0 minutes');
    assert.equal(formatMinutes(1), '1 minute');
    assert.equal(formatMinutes(45), '45 minutes');
    assert.equal(formatMinutes(60), '1 h');
    assert.equal(formatMinutes(65), '1 h 5 min');
  });
});

describe('parseConfig()', () => {
  it('reads the server\'s config and defaults the interval', () => {
    const c = parseConfig(JSON.stringify(Object.assign({}, CONFIG, { heartbeatInterval: undefined })));
    assert.equal(c.sessionId, 'sess-1');
    assert.equal(c.heartbeatInterval, 30);
    assert.equal(parseConfig(JSON.stringify(Object.assign({}, CONFIG, { heartbeatInterval: 0.5 }))).heartbeatInterval, 0.5);
  });

  it('reads the escapes the server writes into the script block', () => {
    const text = '{"sessionId":"s","secret":"x","meetingTitle":"\\u003c/script\\u003e \\u0026 co"}';
    assert.equal(parseConfig(text).meetingTitle, '</script> & co');
  });

  it('refuses a config without session or secret, or not JSON', () => {
    assert.throws(() => parseConfig('{{CONFIG_JSON}}'), /not valid JSON/);
    assert.throws(() => parseConfig('{"secret": "x"}'), /sessionId/);
    assert.throws(() => parseConfig('{"sessionId": "x"}'), /secret/);
  });

  it('keeps only meeting URLs a page may open', () => {
    assert.equal(safeMeetingUrl('https://zoom.us/j/1?pwd=a'), 'https://zoom.us/j/1?pwd=a');
    assert.equal(safeMeetingUrl('zoommtg://zoom.us/join?confno=1'), 'zoommtg://zoom.us/join?confno=1');
    assert.equal(safeMeetingUrl('javascript:alert(1)'), null);
    assert.equal(safeMeetingUrl(' JavaScript:alert(1)'), null);
    assert.equal(safeMeetingUrl('data:text/html,hi'), null);
    assert.equal(safeMeetingUrl('/relative'), null);
    assert.equal(safeMeetingUrl(null), null);
  });
});

describe('tracking heartbeats', () => {
  it('heartbeats at once, then every heartbeatInterval, with the secret as bearer', async () => {
    const { clock, http, tracker } = setup();
    await flush();
    assert.equal(beats(http).length, 1);
    const [first] = beats(http);
    assert.equal(first.url, '/api/sessions/sess-1/heartbeat');
    assert.equal(first.headers.Authorization, 'Bearer s3cret');
    assert.equal(tracker.snapshot.connection, 'ok');
    assert.equal(tracker.snapshot.elapsedMinutes, 1);
    await clock.advance(29_999);
    assert.equal(beats(http).length, 1);
    await clock.advance(1);
    assert.equal(beats(http).length, 2);
    await clock.advance(300_000);
    assert.equal(beats(http).length, 12);
  });

  it('survives a network blip: retries with backoff, one request at a time, then resumes the pace', async () => {
    let down = false;
    const { clock, http, tracker } = setup(() => (down ? new TypeError('Failed to fetch') : OK()));
    await flush();
    down = true;
    await clock.advance(30_000);
    assert.equal(tracker.snapshot.connection, 'retrying');
    assert.equal(tracker.state, 'active');
    await clock.advance(1_000);
    assert.equal(beats(http).length, 3, 'first retry within a second');
    await clock.advance(60_000);
    const during = beats(http).length;
    assert.ok(during >= 6 && during <= 10, `${during} heartbeats in the outage`);
    down = false;
    await clock.advance(30_000);
    assert.equal(tracker.snapshot.connection, 'ok');
    const back = beats(http).length;
    await clock.advance(60_000);
    assert.equal(beats(http).length, back + 2, 'back to one per interval');
    assert.equal(http.maxInFlight, 1);
    assert.equal(http.requests.every((r) => r.url.startsWith('/api/sessions/sess-1/')), true, 'only this session');
  });

  it('the browser\'s online event retries at once, without a second request in flight', async () => {
    const slow = deferred();
    let mode = 'down';
    const { clock, http, win } = setup(() => (mode === 'down' ? new TypeError('Failed to fetch') : slow.promise));
    await flush();
    await clock.advance(1_000);
    assert.equal(beats(http).length, 2);
    mode = 'slow';
    win.dispatch('online');
    await flush();
    assert.equal(beats(http).length, 3);
    win.dispatch('online'); // one is in flight: it stands for this one too
    await flush();
    assert.equal(beats(http).length, 3);
    slow.resolve(OK());
    await flush();
    assert.equal(http.maxInFlight, 1);
  });

  it('heartbeats at once when the tab is visible again after its timers were held back', async () => {
    const { clock, http, doc } = setup();
    await flush();
    // A phone holds a background tab's timers: the clock moves, the timer does not fire.
    clock.time += 45_000;
    doc.dispatch('visibilitychange');
    await flush();
    assert.equal(beats(http).length, 2);
  });

  it('stops on 410 and reports the status from the body', async () => {
    let gone = false;
    const { clock, http, tracker, ended } = setup(() =>
      gone ? answer(410, { error: 'This session has ended', status: 'timeout' }) : OK(),
    );
    await flush();
    gone = true;
    await clock.advance(30_000);
    assert.equal(tracker.state, 'ended');
    assert.equal(tracker.snapshot.endStatus, 'timeout');
    assert.deepEqual(ended, [{ status: 'timeout', durationMinutes: null, message: 'This session has ended' }]);
    await clock.advance(600_000);
    assert.equal(beats(http).length, 2);
    assert.equal(clock.pending, 0);
  });

  it('stops on 401/403/404: the link is not valid for this session', async () => {
    for (const status of [401, 403, 404]) {
      const { clock, http, tracker } = setup(() => answer(status, { error: 'nope' }));
      await flush();
      assert.equal(tracker.state, 'invalid');
      await clock.advance(600_000);
      assert.equal(beats(http).length, 1, `${status} is not retried`);
    }
  });

  it('retries 429 and 5xx', async () => {
    let status = 503;
    const { clock, http, tracker } = setup(() => (status === 200 ? OK() : answer(status, { error: 'busy' })));
    await flush();
    status = 429;
    await clock.advance(1_000);
    status = 200;
    await clock.advance(2_000);
    assert.equal(beats(http).length, 3);
    assert.equal(tracker.snapshot.connection, 'ok');
  });
});

describe('"I have left"', () => {
  it('POSTs end with the secret, shows the final duration and stops heartbeating', async () => {
    const { clock, http, tracker, ended } = setup((req) =>
      req.url.endsWith('/end')
        ? answer(200, { id: 'sess-1', status: 'completed', durationMinutes: 47 })
        : OK(),
    );
    await flush();
    const result = await tracker.end();
    assert.equal(result.state, 'ended');
    assert.equal(result.durationMinutes, 47);
    const [end] = http.to('/api/sessions/sess-1/end', 'POST');
    assert.equal(end.headers.Authorization, 'Bearer s3cret');
    assert.deepEqual(ended, [{ status: 'completed', durationMinutes: 47, message: null }]);
    await clock.advance(600_000);
    assert.equal(beats(http).length, 1);
  });

  it('a double click sends one end', async () => {
    const slow = deferred();
    const { http, tracker } = setup((req) => (req.url.endsWith('/end') ? slow.promise : OK()));
    await flush();
    const a = tracker.end();
    const b = tracker.end();
    assert.equal(a, b);
    slow.resolve(answer(200, { status: 'completed', durationMinutes: 3 }));
    await a;
    assert.equal(http.to('/end').length, 1);
  });

  it('410 on end: already over, with its status', async () => {
    const { tracker } = setup((req) =>
      req.url.endsWith('/end') ? answer(410, { error: 'This session has already ended', status: 'timeout' }) : OK(),
    );
    await flush();
    const result = await tracker.end();
    assert.equal(result.state, 'ended');
    assert.equal(result.endStatus, 'timeout');
    assert.equal(result.durationMinutes, null);
  });

  it('an end that does not get through rejects and heartbeats resume', async () => {
    const { clock, http, tracker } = setup((req) => (req.url.endsWith('/end') ? new TypeError('Failed to fetch') : OK()));
    await flush();
    await assert.rejects(tracker.end());
    assert.equal(tracker.state, 'active');
    await flush();
    assert.equal(beats(http).length, 2);
    await clock.advance(30_000);
    assert.equal(beats(http).length, 3);
  });
});
