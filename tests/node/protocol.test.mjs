// Wire-contract check of SPEC.md §3 (chat-widget presence) with the real npm
// socket.io-client, against any running server: ours or the Node reference.
//
//   PRESENCE_URL=http://127.0.0.1:8000 \
//   PRESENCE_SERVICE_TOKEN=… PRESENCE_AGENT_TOKEN=… PRESENCE_COMPANY=acme \
//   node --test tests/node/
//
// The agent token must be an agent (or admin) token of PRESENCE_COMPANY.
// Optional: PRESENCE_WIDGET_OFFLINE_GRACE (seconds, default 3), the server's
// grace before a closed widget is told offline; PRESENCE_WIDGET_OFFLINE_AFTER
// (seconds), the server's heartbeat timeout: when set, a silent widget is
// checked to be timed out and disconnected (unset: that test is skipped);
// PRESENCE_TRANSPORTS (default "websocket"; e.g. "polling,websocket").
// socket.io-client comes from widget_js/node_modules (`npm ci` there), not
// from our bundle: this tests the server, not the widget.
// Without PRESENCE_URL every test is skipped.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const env = process.env;
const BASE = (env.PRESENCE_URL || '').replace(/\/+$/, '');
const GRACE_S = Number(env.PRESENCE_WIDGET_OFFLINE_GRACE || 3);
const OFFLINE_AFTER_S = env.PRESENCE_WIDGET_OFFLINE_AFTER ? Number(env.PRESENCE_WIDGET_OFFLINE_AFTER) : null;
const TRANSPORTS = (env.PRESENCE_TRANSPORTS || 'websocket').split(',').map((t) => t.trim());
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const skip = BASE ? false : 'PRESENCE_URL is not set';

/** Resolves with the first `event` on `socket` (that `match` accepts), or rejects after `ms`. */
function next(socket, event, ms = 5000, match = () => true) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, on);
      reject(new Error(`no ${event} within ${ms} ms`));
    }, ms);
    const on = (data) => {
      if (!match(data)) return;
      clearTimeout(timer);
      socket.off(event, on);
      resolve(data);
    };
    socket.on(event, on);
  });
}

/** Records every event `socket` receives, for asserting what did not happen. */
function record(socket) {
  const seen = [];
  socket.onAny((event, data) => seen.push({ event, data }));
  return seen;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

describe('widget presence over Socket.IO (SPEC.md §3)', { skip }, () => {
  const conversationId = `node-test-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const sessionId = `session-${Math.random().toString(36).slice(2, 10)}`;
  const ids = { conversationId, sessionId };
  const sockets = [];
  let io;
  let agent;
  let widget;
  let stopHeartbeats = () => {};

  /** Heartbeats `socket` at the acked interval, as a real widget does, so its lease lasts across tests. */
  function heartbeats(socket, seconds) {
    const timer = setInterval(() => socket.emit('widget:heartbeat', ids, () => {}), seconds * 1000);
    return () => clearInterval(timer);
  }

  function open(auth) {
    const socket = io(BASE, { transports: TRANSPORTS, forceNew: true, reconnection: false, auth });
    sockets.push(socket);
    return new Promise((resolve, reject) => {
      socket.once('connect', () => resolve(socket));
      socket.once('connect_error', (err) => reject(new Error(`connect refused: ${err.message}`)));
    });
  }

  const ack = (socket, event, payload) => socket.timeout(5000).emitWithAck(event, payload);

  before(async () => {
    const missing = ['PRESENCE_SERVICE_TOKEN', 'PRESENCE_AGENT_TOKEN', 'PRESENCE_COMPANY'].filter((k) => !env[k]);
    assert.deepEqual(missing, [], `set ${missing.join(', ')} as well as PRESENCE_URL`);
    // The client lives in widget_js/node_modules; resolve it from there.
    const require = createRequire(new URL('../../widget_js/package.json', import.meta.url));
    try {
      ({ io } = require('socket.io-client'));
    } catch (err) {
      throw new Error(`socket.io-client not found: run \`npm ci\` in widget_js/ first (${err.message})`);
    }
  });

  after(() => {
    stopHeartbeats();
    for (const s of sockets) s.disconnect();
  });

  it('registers a WIDGET conversation with PUT /api/conversations/{id}', async () => {
    const res = await fetch(`${BASE}/api/conversations/${encodeURIComponent(conversationId)}`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${env.PRESENCE_SERVICE_TOKEN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ companyId: env.PRESENCE_COMPANY, platform: 'WIDGET', sessionId }),
    });
    const body = await res.json();
    assert.equal(res.status, 201, JSON.stringify(body));
    assert.equal(body.id, conversationId);
    assert.equal(body.companyId, env.PRESENCE_COMPANY);
    assert.equal(body.platform, 'WIDGET');
    assert.equal(body.sessionId, sessionId);
  });

  it('lets an agent join and answers a snapshot of a customer never seen', async () => {
    agent = await open({ token: env.PRESENCE_AGENT_TOKEN });
    const answer = await ack(agent, 'conversation:join', { conversationId });
    assert.equal(answer.ok, true, JSON.stringify(answer));
    const p = answer.presence;
    assert.equal(p.conversationId, conversationId);
    assert.equal(p.supported, true);
    assert.equal(p.isOnline, false);
    assert.equal(p.devices, 0);
    assert.equal(p.away, false);
    assert.equal(p.lastHeartbeat, null);
    assert.equal(p.onlineSince, null);
  });

  it('refuses a widget that is not bound yet, or names the wrong session', async () => {
    widget = await open(undefined);
    const early = await ack(widget, 'widget:heartbeat', ids);
    assert.equal(early.ok, false);
    assert.equal(typeof early.error, 'string');
    const wrong = await ack(widget, 'widget:online', { conversationId, sessionId: `${sessionId}-not` });
    assert.equal(wrong.ok, false);
    assert.equal(typeof wrong.error, 'string');
  });

  it('binds a widget: ack with heartbeatInterval, customer:online at the agent with devices 1', async () => {
    const seen = next(agent, 'customer:online');
    const answer = await ack(widget, 'widget:online', ids);
    assert.equal(answer.ok, true, JSON.stringify(answer));
    assert.ok(typeof answer.heartbeatInterval === 'number' && answer.heartbeatInterval > 0, JSON.stringify(answer));
    stopHeartbeats = heartbeats(widget, answer.heartbeatInterval);
    const event = await seen;
    assert.equal(event.conversationId, conversationId);
    assert.equal(event.sessionId, sessionId);
    assert.match(event.timestamp, ISO_UTC);
    assert.equal(event.devices, 1);
  });

  it('acks a heartbeat with the heartbeat interval and tells the agent customer:heartbeat with devices', async () => {
    const seen = next(agent, 'customer:heartbeat');
    const answer = await ack(widget, 'widget:heartbeat', ids);
    assert.equal(answer.ok, true, JSON.stringify(answer));
    assert.ok(typeof answer.heartbeatInterval === 'number' && answer.heartbeatInterval > 0, JSON.stringify(answer));
    const event = await seen;
    assert.equal(event.conversationId, conversationId);
    assert.equal(event.sessionId, sessionId);
    assert.match(event.timestamp, ISO_UTC);
    assert.equal(event.devices, 1);
  });

  it('counts a second tab in devices without a second customer:online, and stays online when it closes', async () => {
    const events = record(agent);
    const tab = await open(undefined);
    const arrived = next(agent, 'customer:heartbeat', 5000, (d) => d.devices === 2);
    assert.equal((await ack(tab, 'widget:online', ids)).ok, true);
    await arrived;
    const left = next(agent, 'customer:heartbeat', 5000, (d) => d.devices === 1);
    assert.deepEqual(await ack(tab, 'widget:offline', ids), { ok: true });
    await left;
    await sleep(GRACE_S * 1000 + 300); // past the grace: still no offline
    tab.disconnect();
    const names = events.map((e) => e.event);
    assert.ok(!names.includes('customer:online'), names.join(', '));
    assert.ok(!names.includes('customer:offline'), names.join(', '));
  });

  it('relays typing with isTyping and devices', async () => {
    const seen = next(agent, 'customer:typing');
    assert.deepEqual(await ack(widget, 'widget:typing', { ...ids, isTyping: true }), { ok: true });
    const event = await seen;
    assert.equal(event.conversationId, conversationId);
    assert.equal(event.isTyping, true);
    assert.equal(event.devices, 1);
    assert.match(event.timestamp, ISO_UTC);
    const stopped = next(agent, 'customer:typing');
    assert.equal((await ack(widget, 'widget:typing', { ...ids, isTyping: false })).ok, true);
    assert.equal((await stopped).isTyping, false);
  });

  it('reports a hidden tab as away, and visible again', async () => {
    const hidden = next(agent, 'customer:visibility');
    const answer = await ack(widget, 'widget:visibility', { ...ids, hidden: true });
    assert.equal(answer.ok, true, JSON.stringify(answer));
    let event = await hidden;
    assert.equal(event.hidden, true);
    assert.equal(event.away, true);
    assert.equal(event.devices, 1);
    const shown = next(agent, 'customer:visibility');
    assert.equal((await ack(widget, 'widget:visibility', { ...ids, hidden: false })).ok, true);
    event = await shown;
    assert.equal(event.hidden, false);
    assert.equal(event.away, false);
  });

  it('tells the agent customer:offline with reason "closed" after widget:offline (past the grace)', async () => {
    stopHeartbeats();
    const seen = next(agent, 'customer:offline', (GRACE_S + 5) * 1000);
    const started = Date.now();
    const answer = await ack(widget, 'widget:offline', ids);
    assert.equal(answer.ok, true, JSON.stringify(answer));
    const event = await seen;
    assert.equal(event.conversationId, conversationId);
    assert.equal(event.sessionId, sessionId);
    assert.equal(event.reason, 'closed');
    assert.equal(event.devices, 0);
    assert.match(event.timestamp, ISO_UTC);
    assert.match(event.lastSeen, ISO_UTC);
    // Not before the grace: a reload must not flicker (small slack for clocks).
    assert.ok(Date.now() - started >= GRACE_S * 1000 - 250, `offline came after ${Date.now() - started} ms`);
    widget.disconnect();
  });

  it('tells the agent reason "disconnected" when the transport closes without widget:offline', async () => {
    const tab = await open(undefined);
    const online = next(agent, 'customer:online');
    assert.equal((await ack(tab, 'widget:online', ids)).ok, true);
    assert.equal((await online).devices, 1);
    const seen = next(agent, 'customer:offline', (GRACE_S + 5) * 1000);
    tab.disconnect();
    const event = await seen;
    assert.equal(event.reason, 'disconnected');
    assert.equal(event.devices, 0);
  });

  it(
    'times out a silent widget: customer:offline with reason "timeout", and the server disconnects it',
    { skip: OFFLINE_AFTER_S == null ? 'PRESENCE_WIDGET_OFFLINE_AFTER is not set' : false },
    async () => {
      const tab = await open(undefined);
      const online = next(agent, 'customer:online');
      assert.equal((await ack(tab, 'widget:online', ids)).ok, true);
      await online;
      const ms = (OFFLINE_AFTER_S + 5) * 1000;
      const dropped = next(tab, 'disconnect', ms);
      const event = await next(agent, 'customer:offline', ms);
      assert.equal(event.reason, 'timeout');
      assert.equal(event.devices, 0);
      assert.match(event.lastSeen, ISO_UTC);
      // socket.io-client does not reconnect after this by itself: the widget must.
      assert.equal(await dropped, 'io server disconnect');
    },
  );
});
