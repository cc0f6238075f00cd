#!/usr/bin/env node
'use strict';
/*
 * Soak load for presence (issue 12), driven by bench/soak.py; run with NODE_PATH set to
 * bench-peer's node_modules (socket.io-client). Loopback only; bounded in time.
 *
 * C conversations; each starts with one or two widget tabs (W sockets in all), and A
 * agents that join every conversation between them. For --duration seconds every tab
 * heartbeats every --hb seconds, and every --churn seconds a random share of tabs
 * reloads (disconnects, a new socket comes online within the grace), drops (disconnects;
 * back after the grace, or never), or says widget:offline and closes. Then the load stops,
 * the grace passes, and for every conversation the agents' last word (online or offline,
 * and the device count of their last customer event) is compared with the snapshot
 * (POST /api/widget/presence/batch... via GET per id) and with the tabs the soak holds.
 * Prints ONE JSON line.
 */
const http = require('node:http');
const { performance } = require('node:perf_hooks');
const { io } = require('socket.io-client');

function opt(name, fallback) {
  for (const a of process.argv.slice(2)) if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  return fallback;
}
const URL_ = opt('url', null);
const C = Number(opt('conversations', 2000));
const A = Number(opt('agents', 20));
const DURATION = Number(opt('duration', 120));
const HB = Number(opt('hb', 5));
const CHURN = Number(opt('churn', 1));
const CHURN_SHARE = Number(opt('churn-share', 0.01));
const GRACE = Number(opt('grace', 1));
const COMPANY = opt('company', 'soak-co');
const SERVICE_TOKEN = process.env.PERF_SERVICE_TOKEN;
const AGENT_TOKEN = process.env.PERF_AGENT_TOKEN;
const target = new URL(URL_);
if (!/^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(target.hostname)) {
  console.error('soak: loopback targets only');
  process.exit(2);
}
const PREFIX = `soak${Math.random().toString(36).slice(2, 7)}`;
const conv = (i) => `${PREFIX}-c${i}`;
const sess = (i) => `${PREFIX}-s${i}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const out = { ok: false, conversations: C, agents: A, duration_s: DURATION, counts: {} };
const count = (k, n = 1) => { out.counts[k] = (out.counts[k] || 0) + n; };
function finish(code, error) {
  if (error) out.error = String(error && error.message ? error.message : error);
  out.ok = code === 0 && !out.error;
  process.stdout.write(JSON.stringify(out) + '\n', () => process.exit(code));
}
setTimeout(() => finish(3, 'hard deadline reached'), (DURATION + 300 + C / 20) * 1000);

const agentHttp = new http.Agent({ keepAlive: true, maxSockets: 16 });
function request(method, path, token, body) {
  return new Promise((resolve) => {
    const data = body ? Buffer.from(JSON.stringify(body)) : null;
    const headers = { authorization: `Bearer ${token}` };
    if (data) Object.assign(headers, { 'content-type': 'application/json', 'content-length': data.length });
    const req = http.request({ host: target.hostname, port: target.port, method, path, agent: agentHttp, timeout: 15000, headers },
      (res) => { let b = ''; res.on('data', (d) => { b += d; }); res.on('end', () => resolve({ status: res.statusCode, body: b })); });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, body: '' }));
    if (data) req.end(data); else req.end();
  });
}
let nextSource = 0; // widgets from 127.0.0.2-33 in turn: ephemeral ports of one address run out under churn
function connect(auth) {
  return new Promise((resolve) => {
    const localAddress = auth ? undefined : `127.0.0.${2 + (nextSource++ % 32)}`;
    const s = io(URL_, { transports: ['websocket'], forceNew: true, reconnection: false, timeout: 30000, auth: auth || undefined, localAddress });
    s.once('connect', () => resolve(s));
    s.once('connect_error', () => { count('connect_errors'); resolve(null); });
  });
}
async function pool(n, conc, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(conc, n) }, async () => { while (next < n) await fn(next++); }));
}

// tabs[i]: the sockets the soak holds bound (online acked) for conversation i
const tabs = Array.from({ length: C }, () => new Set());
const view = new Map(); // conversation -> {last: 'online'|'offline', devices}
let stopping = false;

async function openTab(i) {
  const s = await connect(null);
  if (!s) return null;
  try {
    const ack = await s.timeout(30000).emitWithAck('widget:online', { conversationId: conv(i), sessionId: sess(i) });
    if (!ack || ack.ok !== true) { count('online_refused'); s.disconnect(); return null; }
  } catch { count('online_timeouts'); s.disconnect(); return null; }
  tabs[i].add(s);
  s.on('disconnect', (reason) => { if (tabs[i].delete(s) && !stopping) count(`server_closed_${reason}`); });
  count('tabs_opened');
  return s;
}
function closeTab(i, s) { tabs[i].delete(s); s.disconnect(); }

async function main() {
  let bad = 0;
  await pool(C, 16, async (i) => {
    const r = await request('PUT', `/api/conversations/${conv(i)}`, SERVICE_TOKEN, { companyId: COMPANY, platform: 'WIDGET', sessionId: sess(i) });
    if (r.status !== 200 && r.status !== 201) bad++;
  });
  if (bad) return finish(1, `${bad} registrations failed`);
  const agents = [];
  for (let a = 0; a < A; a++) {
    const s = await connect({ token: AGENT_TOKEN });
    if (!s) return finish(1, 'an agent could not connect');
    agents.push(s);
    s.on('disconnect', (reason) => { if (!stopping) count(`agent_closed_${reason}`); });
    for (const kind of ['online', 'offline', 'heartbeat', 'visibility']) {
      s.on(`customer:${kind}`, (d) => {
        const v = view.get(d.conversationId) || {};
        if (kind === 'online' || kind === 'offline') v.last = kind;
        v.devices = d.devices;
        v.seen = (v.seen || 0) + 1;
        view.set(d.conversationId, v);
        count(`agent_events_${kind}`);
      });
    }
  }
  // every conversation is watched by one agent (round robin)
  await pool(C, 64, async (i) => {
    const r = await agents[i % A].timeout(30000).emitWithAck('conversation:join', { conversationId: conv(i) });
    if (!r || r.ok !== true) bad++;
  });
  if (bad) return finish(1, `${bad} joins failed`);
  const t0 = performance.now();
  await pool(C, 100, async (i) => { await openTab(i); if (i % 3 === 0) await openTab(i); });
  out.connect_s = Math.round((performance.now() - t0) / 10) / 100;
  out.tabs_at_start = tabs.reduce((n, t) => n + t.size, 0);

  const end = performance.now() + DURATION * 1000;
  // heartbeats: each tab every HB seconds, spread out
  const hbTimer = setInterval(() => {
    for (let i = 0; i < C; i++) {
      for (const s of tabs[i]) {
        if (Math.random() < 0.1) {
          s.timeout(30000).emitWithAck('widget:heartbeat', { conversationId: conv(i), sessionId: sess(i) })
            .then((ack) => count(ack && ack.ok ? 'heartbeats_acked' : 'heartbeats_refused'))
            .catch(() => count('heartbeat_timeouts'));
        }
      }
    }
  }, HB * 100);
  const pending = new Set();
  const later = (ms, fn) => { const p = sleep(ms).then(fn).finally(() => pending.delete(p)); pending.add(p); };
  while (performance.now() < end) {
    const n = Math.max(1, Math.round(C * CHURN_SHARE));
    for (let k = 0; k < n; k++) {
      const i = Math.floor(Math.random() * C);
      const s = [...tabs[i]][0];
      const roll = Math.random();
      if (!s) { later(0, () => openTab(i)); count('returns'); continue; }
      if (roll < 0.5) { // reload: gone, and a new tab online within the grace
        closeTab(i, s); count('reloads');
        later(Math.random() * GRACE * 500, () => openTab(i));
      } else if (roll < 0.75) { // drop: back after the grace
        closeTab(i, s); count('drops');
        later(GRACE * 1000 + 200 + Math.random() * 2000, () => openTab(i));
      } else if (roll < 0.9) { // says offline and closes
        s.emit('widget:offline', { conversationId: conv(i), sessionId: sess(i) }); count('offlines');
        later(50, () => closeTab(i, s));
      } else { // a second tab
        later(0, () => openTab(i)); count('second_tabs');
      }
    }
    await sleep(CHURN * 1000);
  }
  clearInterval(hbTimer);
  await Promise.all([...pending]);
  out.tabs_at_end = tabs.reduce((n, t) => n + t.size, 0);
  // quiet: every departure's grace ends and is told
  await sleep((GRACE + 1.5) * 1000);
  const mismatches = [];
  await pool(C, 16, async (i) => {
    const r = await request('GET', `/api/widget/presence?conversationId=${encodeURIComponent(conv(i))}`, AGENT_TOKEN);
    if (r.status !== 200) { mismatches.push([conv(i), 'snapshot', r.status]); return; }
    const snap = JSON.parse(r.body);
    const held = tabs[i].size;
    const v = view.get(conv(i)) || {};
    const agentOnline = v.last === 'online';
    if (snap.devices !== held) mismatches.push([conv(i), 'devices', snap.devices, 'held', held]);
    if (snap.isOnline !== (held > 0)) mismatches.push([conv(i), 'isOnline', snap.isOnline, 'held', held]);
    if (agentOnline !== snap.isOnline) mismatches.push([conv(i), 'agent last', v.last || null, 'snapshot', snap.isOnline]);
    if (snap.isOnline && v.devices !== snap.devices) mismatches.push([conv(i), 'agent devices', v.devices, 'snapshot', snap.devices]);
  });
  out.mismatches = mismatches.length;
  out.mismatch_examples = mismatches.slice(0, 10);
  stopping = true;
  for (const t of tabs) for (const s of t) s.disconnect();
  for (const s of agents) s.disconnect();
  agentHttp.destroy();
  finish(mismatches.length ? 1 : 0);
}
main().catch((e) => finish(1, e));
