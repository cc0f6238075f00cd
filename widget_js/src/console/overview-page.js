/**
 * `/admin`, the overview (SPEC §9): customers and users online now with who,
 * DAU / WAU / MAU and stickiness, the 30-day chart drawn here as SVG, live
 * sessions and streams, and the health of the database, Redis and the jobs.
 *
 * Sources: `GET /api/admin/overview`, `GET /api/admin/activity/metrics?detailed=1`,
 * `GET /api/health`. Moved without a reload by the admins' room:
 * `overview:changed` (customers), `user:online` / `user:offline`,
 * `activity:recorded`, `session:started` / `session:ended`, `livestream:*` and
 * `credits:granted`;
 * each nudge re-reads its source, at most once a second.
 */
import { barChart } from './chart.js';
import { $, fill, h, setText, status, svg } from './dom.js';
import { ago, count, day, hms, percent, timeOfDay } from './format.js';

const HEALTH_EVERY_MS = 15000;
const BACKSTOP_MS = 60000; // a re-read now and then, whatever the socket said
const CHART_GAP_MS = 10000; // the 30 days are re-read at most this often

export function createOverview(ctx) {
  const { api } = ctx;
  let overview = null;
  let metrics = null;
  let health = null;
  let healthTimer = null;
  let backstop = null;

  const metric = (name) => document.querySelector(`[data-metric="${name}"]`);

  async function readOverview() {
    overview = await api.get('/api/admin/overview', { limit: 8 });
    drawOverview();
  }

  /** The figures and the 30 days (the days cost a range of the per-day record: not every second). */
  async function readMetrics() {
    metrics = await api.get('/api/admin/activity/metrics', { detailed: 1 });
    drawMetrics();
  }

  /** DAU, WAU, MAU, stickiness alone (ranges of one index). */
  async function readFigures() {
    const figures = await api.get('/api/admin/activity/metrics');
    metrics = Object.assign({}, figures, { daily: metrics ? metrics.daily : [] });
    drawFigures();
  }

  async function readHealth() {
    try {
      health = await api.get('/api/health');
    } catch (err) {
      // 503 answers the same body (degraded); anything else: the server is away.
      health = err.body && err.body.status ? err.body : { status: 'unreachable', database: 'error', redis: 'error', jobs: {} };
    }
    drawHealth();
  }

  const overviewAgain = ctx.refresher(readOverview, { gapMs: 1000, confirm: true });
  const figuresAgain = ctx.refresher(readFigures, { gapMs: 1000 });
  const chartAgain = ctx.refresher(readMetrics, { gapMs: CHART_GAP_MS });

  // ------------------------------------------------------------ drawing
  function drawOverview() {
    const o = overview;
    setText(metric('online-customers'), count(o.customers.online), o.customers.online);
    setText(metric('online-users'), count(o.users.online), o.users.online);
    setText(metric('live-sessions'), count(o.sessions.live), o.sessions.live);
    setText(metric('live-streams'), count(o.streams.live), o.streams.live);
    const asOf = $('as-of');
    asOf.setAttribute('datetime', o.as_of);
    setText(asOf, timeOfDay(o.as_of));

    list(
      $('customers-list'),
      o.customers.recent,
      (c) => [
        status('online', c.customerName || c.conversationId),
        h('span', { class: 'muted' }, c.companyId ? `${c.companyId} · ` : '', 'online ', h('time', { datetime: c.onlineSince, 'data-ago': c.onlineSince }, ago(c.onlineSince))),
      ],
      'No customer is online.',
      o.customers.online,
    );
    list(
      $('users-list'),
      o.users.recent,
      (u) => [
        status('online', u.name || u.user_id),
        h('span', { class: 'muted' }, 'seen ', h('time', { datetime: u.last_seen, 'data-ago': u.last_seen }, ago(u.last_seen))),
      ],
      'No user is online.',
      o.users.online,
    );
    list(
      $('sessions-list'),
      o.sessions.recent,
      (s) => [
        h('span', {}, h('strong', {}, s.studentName || s.studentId), ' in ', s.meetingTitle),
        h('span', { class: 'muted num', 'data-since': s.clickedAt }, ''),
      ],
      'No attendance session is live.',
      o.sessions.live,
    );
    list(
      $('streams-list'),
      o.streams.recent,
      (s) => [
        h('span', {}, h('strong', {}, s.title), ' by ', s.owner_name || s.user_id),
        h('span', { class: 'muted num' }, `${count(s.remaining_credits)} credits left`),
      ],
      'No stream is live.',
      o.streams.live,
    );
    tick(Date.now());
  }

  function list(el, items, row, empty, total) {
    if (!items.length) {
      fill(el, h('li', { class: 'empty' }, empty));
      return;
    }
    const more = total > items.length ? h('li', { class: 'more muted' }, `and ${count(total - items.length)} more`) : null;
    fill(el, items.map((item) => h('li', {}, row(item))), more);
  }

  function drawMetrics() {
    drawFigures();
    drawChart(metrics.daily || []);
  }

  function drawFigures() {
    const m = metrics;
    setText(metric('dau'), count(m.dau), m.dau);
    setText(metric('wau'), count(m.wau), m.wau);
    setText(metric('mau'), count(m.mau), m.mau);
    setText(metric('stickiness'), percent(m.stickiness), m.stickiness);
    setText($('total-users'), `${count(m.total_users)} users known, ${count(m.never_active)} never active`);
  }

  let chartWidth = 0;
  function drawChart(daily) {
    // Drawn at the width it is shown at, so its text is never stretched.
    const box = $('chart');
    chartWidth = Math.max(280, Math.round(box.clientWidth || 720));
    const c = barChart(daily, { width: chartWidth, height: 220, gap: chartWidth < 500 ? 2 : 4 });
    const title = svg('title', { id: 'chart-title' }, c.summary);
    const grid = c.ticks.map((t) => [
      svg('line', { x1: c.plot.x, x2: c.plot.x + c.plot.w, y1: t.y, y2: t.y, class: 'grid' }),
      svg('text', { x: c.plot.x - 6, y: t.y + 4, class: 'tick', 'text-anchor': 'end' }, t.label),
    ]);
    const bars = c.bars.map((b) =>
      svg(
        'rect',
        { x: b.x, y: b.y, width: b.w, height: b.h, rx: 2, class: 'bar', 'data-chart-bar': '', 'data-date': b.date, 'data-active': b.active },
        svg('title', {}, b.label),
      ),
    );
    const labels = c.labels.map((l) => svg('text', { x: l.x, y: c.height - 6, class: 'tick', 'text-anchor': l.anchor }, l.text));
    const chart = svg(
      'svg',
      { viewBox: `0 0 ${c.width} ${c.height}`, role: 'img', 'aria-labelledby': 'chart-title', 'data-chart': 'daily' },
      title,
      grid,
      svg('g', { class: 'bars' }, bars),
      labels,
    );
    fill($('chart'), chart);
    fill(
      $('chart-rows'),
      daily
        .slice()
        .reverse()
        .map((d) => h('tr', {}, h('th', { scope: 'row' }, day(d.date)), h('td', { class: 'num' }, count(d.active)))),
    );
  }

  function drawHealth() {
    const hl = health;
    const state = (v) => (v === 'ok' ? status('online', 'OK') : v === 'disabled' ? status('offline', 'Not used') : status('error', 'Error'));
    const overall = $('health-status');
    overall.setAttribute('data-health', hl.status);
    fill(overall, hl.status === 'ok' ? status('online', 'All systems working') : status('error', hl.status === 'unreachable' ? 'Server unreachable' : 'Degraded'));
    fill($('health-database'), state(hl.database));
    fill($('health-redis'), state(hl.redis));
    const jobs = Object.entries(hl.jobs || {});
    fill(
      $('jobs'),
      jobs.length
        ? jobs.map(([name, j]) =>
            h(
              'tr',
              { 'data-job': name },
              h('th', { scope: 'row' }, name.replace(/_/g, ' ')),
              h('td', {}, j.last_run ? h('time', { datetime: j.last_run, 'data-ago': j.last_run }, ago(j.last_run)) : 'not yet'),
              h('td', {}, result(j.last_result)),
            ),
          )
        : h('tr', {}, h('td', { colspan: 3, class: 'empty' }, 'No job reported.')),
    );
  }

  function result(r) {
    if (r === null || r === undefined) return '—';
    if (typeof r === 'object' && r.error) return status('error', `Failed: ${r.error}`);
    if (typeof r === 'object') {
      const parts = Object.entries(r).map(([k, v]) => `${k.replace(/_/g, ' ')} ${typeof v === 'object' ? JSON.stringify(v) : v}`);
      return status('online', parts.length ? `OK: ${parts.join(', ')}` : 'OK');
    }
    return status('online', `OK: ${r}`);
  }

  function redrawChartIfResized() {
    const box = $('chart');
    if (metrics && box && Math.abs(Math.max(280, Math.round(box.clientWidth || 720)) - chartWidth) > 8) drawChart(metrics.daily || []);
  }

  // ------------------------------------------------------------ the page's life
  function tick(now) {
    for (const t of document.querySelectorAll('#content time[data-ago]')) setText(t, ago(t.getAttribute('data-ago'), now));
    for (const el of document.querySelectorAll('#sessions-list [data-since]')) {
      const since = Date.parse(el.getAttribute('data-since'));
      setText(el, Number.isNaN(since) ? '' : hms((now - since) / 1000));
    }
  }

  return {
    async sync() {
      await Promise.all([overviewAgain.now(), readMetrics(), readHealth()]);
    },
    listen(live) {
      live.on('overview:changed', (d) => {
        if (overview && d && d.customers && typeof d.customers.online === 'number') {
          overview.customers.online = d.customers.online;
          setText(metric('online-customers'), count(d.customers.online), d.customers.online);
        }
        overviewAgain.poke();
      });
      const moves = ['user:online', 'user:offline', 'session:started', 'session:ended'];
      moves.push('livestream:started', 'livestream:ended', 'livestream:credits', 'credits:granted');
      for (const event of moves) {
        live.on(event, () => overviewAgain.poke());
      }
      live.on('activity:recorded', () => {
        figuresAgain.poke();
        chartAgain.poke();
      });
      healthTimer = setInterval(readHealth, HEALTH_EVERY_MS);
      window.addEventListener('resize', redrawChartIfResized);
      redrawChartIfResized(); // first drawn while the page was still hidden
      backstop = setInterval(() => {
        overviewAgain.poke();
        chartAgain.poke();
      }, BACKSTOP_MS);
    },
    tick,
    stop() {
      clearInterval(healthTimer);
      clearInterval(backstop);
      window.removeEventListener('resize', redrawChartIfResized);
    },
  };
}
