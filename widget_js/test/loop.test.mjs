// The heartbeat schedule every client shares (src/lib/loop.js), on a fake clock.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HeartbeatLoop } from '../src/lib/loop.js';
import { FakeClock, deferred, flush } from '../testing/fakes.mjs';

function counting(outcomes) {
  const calls = { n: 0, inFlight: 0, max: 0, pending: [] };
  calls.run = async () => {
    calls.n += 1;
    calls.inFlight += 1;
    calls.max = Math.max(calls.max, calls.inFlight);
    try {
      const o = typeof outcomes === 'function' ? outcomes(calls.n) : outcomes;
      if (o === 'hold') {
        const d = deferred();
        calls.pending.push(d);
        return await d.promise;
      }
      if (o === 'throw') throw new Error('boom');
      return o;
    } finally {
      calls.inFlight -= 1;
    }
  };
  return calls;
}

describe('HeartbeatLoop', () => {
  it('runs now, then once per interval after each run settles', async () => {
    const clock = new FakeClock();
    const c = counting('ok');
    const loop = new HeartbeatLoop({ run: c.run, intervalMs: 1000, timers: clock });
    loop.start();
    await flush();
    assert.equal(c.n, 1);
    await clock.advance(3000);
    assert.equal(c.n, 4);
    loop.stop();
    await clock.advance(5000);
    assert.equal(c.n, 4);
    assert.equal(clock.pending, 0);
  });

  it('backs off after failures, never beyond the interval, and resets after a success', async () => {
    const clock = new FakeClock();
    const c = counting((n) => (n <= 6 ? 'retry' : 'ok'));
    const loop = new HeartbeatLoop({ run: c.run, intervalMs: 10_000, timers: clock, backoff: { min: 1000, max: 60_000 } });
    loop.start();
    await flush();
    await clock.advance(1000); // 1st retry after 0.5..1 s
    assert.equal(c.n, 2);
    await clock.advance(40_000); // then 1..2, 2..4, 4..8, capped at 10 s
    assert.equal(c.n >= 6, true, `${c.n} runs`);
    await clock.advance(20_000);
    const n = c.n;
    await clock.advance(10_000);
    assert.equal(c.n, n + 1);
  });

  it('treats a throw as a retry and "stop" as the end', async () => {
    const clock = new FakeClock();
    const c = counting((n) => (n === 1 ? 'throw' : 'stop'));
    const loop = new HeartbeatLoop({ run: c.run, intervalMs: 1000, timers: clock });
    loop.start();
    await clock.advance(1000);
    assert.equal(c.n, 2);
    assert.equal(loop.running, false);
    await clock.advance(10_000);
    assert.equal(c.n, 2);
  });

  it('poke() runs now, unless a run is in flight', async () => {
    const clock = new FakeClock();
    const c = counting((n) => (n === 2 ? 'hold' : 'ok'));
    const loop = new HeartbeatLoop({ run: c.run, intervalMs: 60_000, timers: clock });
    loop.start();
    await flush();
    loop.poke();
    await flush();
    assert.equal(c.n, 2);
    loop.poke();
    loop.poke();
    await flush();
    assert.equal(c.n, 2);
    c.pending[0].resolve('ok');
    await flush();
    await clock.advance(60_000);
    assert.equal(c.n, 3);
  });

  it('a restart while a run is in flight waits for it: never two at once', async () => {
    const clock = new FakeClock();
    const c = counting((n) => (n === 1 ? 'hold' : 'ok'));
    const loop = new HeartbeatLoop({ run: c.run, intervalMs: 1000, timers: clock });
    loop.start();
    await flush();
    loop.stop();
    loop.start();
    await flush();
    assert.equal(c.n, 1);
    c.pending[0].resolve('ok');
    await flush();
    assert.equal(c.n, 2, 'the restart\'s run, once the old one settled');
    assert.equal(c.max, 1);
    await clock.advance(1000);
    assert.equal(c.n, 3);
  });

  it('a run stopped while in flight schedules nothing when it settles', async () => {
    const clock = new FakeClock();
    const c = counting('hold');
    const loop = new HeartbeatLoop({ run: c.run, intervalMs: 1000, timers: clock });
    loop.start();
    await flush();
    loop.stop();
    c.pending[0].resolve('ok');
    await clock.advance(10_000);
    assert.equal(c.n, 1);
    assert.equal(clock.pending, 0);
  });
});
