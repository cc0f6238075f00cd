// The indicator's wording and colours (SPEC.md §9), from the pure describe()
// and formatAgo() helpers: `npm test` (no browser, no server).
import { describe as suite, it } from 'node:test';
import assert from 'node:assert/strict';
import { COLORS, describe, emptySnapshot, formatAgo } from '../src/presence-agent.js';

const NOW = Date.parse('2026-11-23T09:30:00.000Z');
const online = (patch) => Object.assign(emptySnapshot('c1'), { isOnline: true, devices: 1 }, patch);

suite('describe()', () => {
  it('shows Online in green with a green dot', () => {
    assert.deepEqual(describe(online(), { now: NOW }), {
      state: 'online', text: 'Online', detail: '', color: COLORS.online, dot: COLORS.online,
    });
    assert.equal(COLORS.online, '#10b981');
  });

  it('counts devices from two on', () => {
    const two = describe(online({ devices: 2 }), { now: NOW });
    assert.equal(`${two.text} ${two.detail}`, 'Online on 2 devices');
    assert.equal(two.text, 'Online');
  });

  it('shows typing… over Away, and Away when every tab is hidden', () => {
    assert.equal(describe(online({ away: true }), { typing: true, now: NOW }).text, 'typing…');
    const away = describe(online({ away: true }), { now: NOW });
    assert.equal(away.state, 'away');
    assert.equal(away.text, 'Away');
  });

  it('shows Offline in gray without a dot, with the last-seen time when known', () => {
    const never = describe(emptySnapshot('c1'), { now: NOW });
    assert.deepEqual(never, { state: 'offline', text: 'Offline', detail: '', color: '#9ca3af', dot: null });
    const gone = describe(Object.assign(emptySnapshot('c1'), { lastSeen: '2026-11-23T09:25:00.000Z' }), { now: NOW });
    assert.equal(gone.text, 'Offline');
    assert.equal(gone.detail, '· Last seen 5 minutes ago');
    assert.equal(describe(online(), { typing: false, now: NOW }).state, 'online');
  });

  it('says so for a conversation without presence (not WIDGET)', () => {
    const view = describe(Object.assign(emptySnapshot('c1'), { supported: false }), { now: NOW });
    assert.equal(view.state, 'offline');
    assert.equal(view.dot, null);
  });
});

suite('formatAgo()', () => {
  const ago = (seconds) => formatAgo(new Date(NOW - seconds * 1000).toISOString(), NOW);
  it('words relative times', () => {
    assert.equal(ago(10), 'just now');
    assert.equal(ago(-30), 'just now'); // browser clock behind the server's
    assert.equal(ago(60), '1 minute ago');
    assert.equal(ago(5 * 60 + 59), '5 minutes ago');
    assert.equal(ago(3600), '1 hour ago');
    assert.equal(ago(3 * 86400), '3 days ago');
    assert.equal(formatAgo('not a time', NOW), null);
  });
});
