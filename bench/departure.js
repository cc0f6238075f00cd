#!/usr/bin/env node
'use strict';
/*
 * Connect storm, idle memory and mass departure against a presence server
 * (SPEC.md §3), with the npm socket.io-client (websocket only), as
 * bench-peer's loadgen.js does; run with NODE_PATH set to its node_modules.
 *
 *  (a) registers C WIDGET conversations (PUT, service token);
 *  (b) A agent sockets connect, then join C/A conversations each: agents_join_s;
 *  (c) C widget sockets connect and send widget:online: widgets_online_s, p99;
 *      server RSS (process tree) before (b), after (b), and after (c) once idle:
 *      rss_per_idle_widget_kb = (after c - after b) / C;
 *  (d) unless --mode=none: every widget leaves at once (--mode=leave:
 *      socket.disconnect(), the transport closes; --mode=offline: widget:offline
 *      then disconnect), and each customer:offline's arrival at the agents is
 *      timed from that moment: offline_p50_ms, offline_max_ms, and how many
 *      arrived within grace + 2 s (offline_in_deadline, the target is all C).
 * Prints ONE JSON line. Loopback only; every phase is bounded.
 */
const http = require('node:http');
const fs = require('node:fs');
const { performance } = require('node:perf_hooks');
const { io } = require('socket.io-client');

function opt(name, fallback) {
  for (const a of process.argv.slice(2)) if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  return fallback;
}
const URL_ = opt('url', null);
const C = Number(opt('conversations', 1000));
const A = Math.max(1, Math.min(Number(opt('agents', 50)), C));
const CONC = Number(opt('connect-concurrency', 100));
const GRACE = Number(opt('grace', 0.5));
const COMPANY = opt('company', 'perf-co');
const MODE = opt('mode', 'leave');
const SERVER_PID = opt('server-pid', null);
const SNAPSHOTS = opt('snapshots', '0') === '1'; // SIGUSR1 the server (tracemalloc dumps) where RSS is read
const SERVICE_TOKEN = process.env.PERF_SERVICE_TOKEN;
const AGENT_TOKEN = process.env.PERF_AGENT_TOKEN;
const PREFIX = `dep${Math.random().toString(36).slice(2, 8)}`;
const target = new URL(URL_);
if (!/^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(target.hostname)) {
  console.error('departure: loopback targets only');
  process.exit(2);
}
const out = { ok: false, conversations: C, agents: A, mode: MODE, grace_s: GRACE };
const T0 = performance.now();
function finish(code, error) {
  if (error) out.error = String(error && error.message ? error.message : error);
  out.ok = code === 0 && !out.error;
  out.total_s = round((performance.now() - T0) / 1000, 2);
  process.stdout.write(JSON.stringify(out) + '\n', () => process.exit(code));
}
setTimeout(() => finish(3, 'hard deadline reached'), (120 + C / 40 + GRACE) * 1000);
const round = (x, d = 1) => (x == null || !Number.isFinite(x) ? null : Math.round(x * 10 ** d) / 10 ** d);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (s, p) => (s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : null);
async function pool(n, conc, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(conc, n) }, async () => { while (next < n) await fn(next++); }));
}
async function waitFor(cond, ms) {
  const end = performance.now() + ms;
  while (!cond() && performance.now() < end) await sleep(10);
  return cond();
}
function treePids(pid) {
  const pids = [String(pid)];
  for (let i = 0; i < pids.length; i++) {
    try {
      for (const tid of fs.readdirSync(`/proc/${pids[i]}/task`)) {
        const kids = fs.readFileSync(`/proc/${pids[i]}/task/${tid}/children`, 'utf8').trim();
        if (kids) for (const k of kids.split(/\s+/)) if (!pids.includes(k)) pids.push(k);
      }
    } catch {}
  }
  return pids;
}
function rssKb() {
  if (!SERVER_PID) return null;
  let total = 0;
  for (const p of treePids(SERVER_PID)) {
    try {
      const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) total += Number(m[1]);
    } catch {}
  }
  return total || null;
}
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
function put(path, body) {
  return new Promise((resolve) => {
    const data = Buffer.from(JSON.stringify(body));
    const req = http.request({ host: target.hostname, port: target.port, method: 'PUT', path, agent, timeout: 15000,
      headers: { 'content-type': 'application/json', 'content-length': data.length, authorization: `Bearer ${SERVICE_TOKEN}` } },
    (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
    req.end(data);
  });
}
// Widgets connect from 127.0.0.2-33 in turn: one source address has ~28k ephemeral ports, and
// the TIME_WAIT sockets of a previous 10k run would leave too few of them for 20k more.
let nextSource = 0;
function connect(auth) {
  return new Promise((resolve) => {
    const localAddress = auth ? undefined : `127.0.0.${2 + (nextSource++ % 32)}`;
    const s = io(URL_, { transports: ['websocket'], forceNew: true, reconnection: false, timeout: 30000, auth: auth || undefined, localAddress });
    s.once('connect', () => resolve({ socket: s, ok: true }));
    s.once('connect_error', (e) => resolve({ socket: s, ok: false, err: e && e.message }));
  });
}
async function snapshot(n) {
  const dir = process.env.PRESENCE_PERF_TRACEMALLOC_DIR;
  process.kill(Number(SERVER_PID), 'SIGUSR1');
  await waitFor(() => fs.existsSync(`${dir}/snap-${n}.done`), 120000 + C * 20);
}
const conv = (i) => `${PREFIX}-conv-${i}`;
const sess = (i) => `${PREFIX}-sess-${i}`;

async function main() {
  let t = performance.now();
  let bad = 0;
  await pool(C, 16, async (i) => {
    const code = await put(`/api/conversations/${conv(i)}`, { companyId: COMPANY, platform: 'WIDGET', sessionId: sess(i) });
    if (code !== 200 && code !== 201) { bad++; out.register_status = code; }
  });
  out.register_s = round((performance.now() - t) / 1000, 2);
  if (bad) return finish(1, `${bad} registrations failed (HTTP ${out.register_status})`);
  agent.destroy();
  // prime: one agent and one widget through every event, so one-time costs are not counted per socket
  {
    await put(`/api/conversations/${PREFIX}-prime`, { companyId: COMPANY, platform: 'WIDGET', sessionId: `${PREFIX}-ps` });
    const ag = await connect({ token: AGENT_TOKEN });
    const w = await connect(null);
    const p = { conversationId: `${PREFIX}-prime`, sessionId: `${PREFIX}-ps` };
    await ag.socket.timeout(10000).emitWithAck('conversation:join', { conversationId: p.conversationId });
    await w.socket.timeout(10000).emitWithAck('widget:online', p);
    await w.socket.timeout(10000).emitWithAck('widget:heartbeat', p);
    w.socket.disconnect();
    ag.socket.disconnect();
  }
  await sleep(1500);
  out.rss_before_kb = rssKb();

  const offlineAt = new Map();
  const reasons = {};
  let onlineEvents = 0;
  let tLeave = null;
  t = performance.now();
  const agents = [];
  await pool(A, CONC, async (a) => {
    const r = await connect({ token: AGENT_TOKEN });
    if (!r.ok) bad++;
    agents[a] = r.socket;
  });
  if (bad) return finish(1, `${bad} agents failed to connect`);
  out.agents_connect_s = round((performance.now() - t) / 1000, 2);
  for (const s of agents) {
    s.on('customer:online', () => onlineEvents++);
    s.on('customer:offline', (d) => {
      if (tLeave !== null && d && !offlineAt.has(d.conversationId)) {
        offlineAt.set(d.conversationId, performance.now() - tLeave);
        reasons[d.reason] = (reasons[d.reason] || 0) + 1;
      }
    });
  }
  await pool(C, CONC * 4, async (i) => {
    try {
      const r = await agents[i % A].timeout(30000).emitWithAck('conversation:join', { conversationId: conv(i) });
      if (!r || r.ok !== true) bad++;
    } catch { bad++; }
  });
  out.agents_join_s = round((performance.now() - t) / 1000, 2);
  if (bad) return finish(1, `${bad} joins failed`);
  await sleep(1000);
  out.rss_agents_kb = rssKb();
  if (SNAPSHOTS) await snapshot(0);

  t = performance.now();
  const widgets = new Array(C);
  const ms = new Float64Array(C);
  await pool(C, CONC, async (i) => {
    const t1 = performance.now();
    const r = await connect(null);
    widgets[i] = r.socket;
    if (!r.ok) { bad++; out.connect_error = r.err; return; }
    try {
      const ack = await r.socket.timeout(30000).emitWithAck('widget:online', { conversationId: conv(i), sessionId: sess(i) });
      if (!ack || ack.ok !== true) bad++;
    } catch { bad++; }
    ms[i] = performance.now() - t1;
  });
  out.widgets_online_s = round((performance.now() - t) / 1000, 2);
  const sorted = Float64Array.from(ms).sort();
  out.widget_online_p50_ms = round(pct(sorted, 50));
  out.widget_online_p99_ms = round(pct(sorted, 99));
  if (bad) return finish(1, `${bad} widgets failed to connect or go online (${out.connect_error || ''})`);
  await waitFor(() => onlineEvents >= C, 20000);
  out.online_events = onlineEvents;
  await sleep(2000);
  out.rss_connected_kb = rssKb();
  if (SNAPSHOTS) await snapshot(1);
  if (out.rss_before_kb && out.rss_connected_kb) {
    out.rss_per_1k_mb = round(((out.rss_connected_kb - out.rss_before_kb) / 1024 / (C + A)) * 1000, 2);
    out.rss_per_idle_widget_kb = round((out.rss_connected_kb - out.rss_agents_kb) / C, 2);
  }

  if (MODE !== 'none') {
    tLeave = performance.now();
    if (MODE === 'offline') {
      for (let i = 0; i < C; i++) widgets[i].emit('widget:offline', { conversationId: conv(i), sessionId: sess(i) });
    }
    for (const w of widgets) w.disconnect();
    const deadline = (GRACE + 2) * 1000;
    await waitFor(() => offlineAt.size >= C, deadline + 30000 + C);
    const lat = Float64Array.from(offlineAt.values()).sort();
    out.offline_events = offlineAt.size;
    out.offline_reasons = reasons;
    out.offline_p50_ms = round(pct(lat, 50));
    out.offline_p99_ms = round(pct(lat, 99));
    out.offline_max_ms = round(lat.length ? lat[lat.length - 1] : null);
    out.offline_in_deadline = lat.filter((x) => x <= deadline).length;
    out.offline_deadline_ms = deadline;
  } else {
    for (const w of widgets) w.disconnect();
  }
  for (const s of agents) s.disconnect();
  finish(0);
}
main().catch((e) => finish(1, e));
