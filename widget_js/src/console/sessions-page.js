/**
 * `/admin/sessions` (SPEC §6, §9): attendance sessions, newest click first,
 * whose durations tick every second (`h:mm:ss`) while active; new clicks and
 * ends appear without a reload (`session:started`, `session:heartbeat`,
 * `session:ended` in room `admins`, each carrying a row of
 * `GET /api/admin/sessions`); a search box and a status filter; minutes per
 * teacher (and meeting) for a period; the payroll CSV, fetched with the bearer
 * token and saved from a Blob.
 *
 * Observable: rows `tr[data-session-id]` with `data-status`, duration cells
 * `td[data-duration]` (whole seconds; the text is `h:mm:ss`).
 */
import { $, fill, h, setText, status } from './dom.js';
import { count, dateTime, hms, minutes, thisMonth } from './format.js';
import { durationSeconds, SessionPage, STATUSES } from './sessions.js';

const STATUS_WORDS = { active: 'Active', completed: 'Completed', timeout: 'Timed out' };
const STATUS_KINDS = { active: 'online', completed: 'offline', timeout: 'warn' };
const SEARCH_DEBOUNCE_MS = 250;
const BACKSTOP_MS = 60000;

export function createSessions(ctx) {
  const { api } = ctx;
  const table = new SessionPage();
  const period = thisMonth();
  let searchTimer = null;
  let backstop = null;
  let readSeq = 0;

  const from = $('from');
  const to = $('to');
  if (!from.value) from.value = period.from;
  if (!to.value) to.value = period.to;

  // ------------------------------------------------------------ reading
  async function readTable() {
    const seq = ++readSeq;
    const body = await api.get('/api/admin/sessions', table.params());
    if (seq !== readSeq) return; // a newer search went out meanwhile
    table.load(body);
    drawTable();
  }

  async function readSummary() {
    if (!from.value || !to.value) return;
    const body = await api.get('/api/admin/sessions/summary', { from: from.value, to: to.value });
    drawSummary(body);
  }

  const tableAgain = ctx.refresher(readTable, { gapMs: 2000 });
  const summaryAgain = ctx.refresher(readSummary, { gapMs: 2000 });

  // ------------------------------------------------------------ drawing
  function row(r) {
    const seconds = Math.floor(durationSeconds(r, Date.now()));
    const billed = r.status !== 'active' && typeof r.durationMinutes === 'number' ? `${r.durationMinutes} min billed` : null;
    return h(
      'tr',
      { 'data-session-id': r.id, 'data-status': r.status },
      h('td', { 'data-label': 'Student' }, h('strong', {}, r.studentName || r.studentId)),
      h('td', { 'data-label': 'Meeting' }, r.meetingTitle),
      h('td', { 'data-label': 'Teacher' }, r.teacherName || r.teacherId),
      h('td', { 'data-label': 'Clicked' }, h('time', { datetime: r.clickedAt }, dateTime(r.clickedAt))),
      h('td', { 'data-label': 'Status' }, status(STATUS_KINDS[r.status] || 'offline', STATUS_WORDS[r.status] || r.status)),
      h(
        'td',
        { class: 'num', 'data-label': 'Duration', 'data-duration': seconds, title: billed },
        h('span', {}, h('span', { class: 'duration' }, hms(seconds)), billed ? h('span', { class: 'muted small' }, ` · ${billed}`) : null),
      ),
    );
  }

  function drawTable() {
    const body = $('sessions-rows');
    fill(
      body,
      table.rows.length
        ? table.rows.map(row)
        : h('tr', {}, h('td', { colspan: 6, class: 'empty' }, table.filter.q || table.filter.status ? 'No session matches.' : 'No session yet.')),
    );
    setText($('range'), table.range());
    $('prev').disabled = !table.hasPrevious;
    $('next').disabled = !table.hasNext;
    const live = table.rows.filter((r) => r.status === 'active').length;
    setText($('live-count'), `${count(live)} active on this page`);
  }

  function drawSummary(body) {
    fill(
      $('teacher-rows'),
      body.teachers.length
        ? body.teachers.map((t) =>
            h(
              'tr',
              { 'data-teacher-id': t.teacherId },
              h('th', { scope: 'row' }, t.teacherName || t.teacherId),
              h('td', { class: 'num' }, count(t.sessions)),
              h('td', { class: 'num', 'data-minutes': t.minutes }, count(t.minutes)),
              h('td', { class: 'num muted wide-only' }, minutes(t.minutes)),
            ),
          )
        : h('tr', {}, h('td', { colspan: 4, class: 'empty' }, 'No ended session in this period.')),
    );
    fill(
      $('meeting-rows'),
      body.meetings.map((m) =>
        h(
          'tr',
          { 'data-meeting-id': m.meetingId },
          h('th', { scope: 'row' }, m.meetingTitle),
          h('td', { class: 'num' }, count(m.sessions)),
          h('td', { class: 'num', 'data-minutes': m.minutes }, count(m.minutes)),
        ),
      ),
    );
    const total = body.teachers.reduce((n, t) => n + t.minutes, 0);
    setText($('period-total'), `${minutes(total)} in ${count(body.teachers.reduce((n, t) => n + t.sessions, 0))} sessions`);
  }

  function tick(now) {
    for (const tr of document.querySelectorAll('#sessions-rows tr[data-status="active"]')) {
      const r = table.rows.find((x) => x.id === tr.getAttribute('data-session-id'));
      if (!r) continue;
      const cell = tr.querySelector('[data-duration]');
      const seconds = Math.floor(durationSeconds(r, now));
      if (cell.getAttribute('data-duration') !== String(seconds)) {
        cell.setAttribute('data-duration', String(seconds));
        setText(cell.querySelector('.duration'), hms(seconds));
      }
    }
  }

  function flash(id) {
    const tr = document.querySelector(`#sessions-rows tr[data-session-id="${CSS.escape(id)}"]`);
    if (tr) tr.classList.add('fresh');
  }

  // ------------------------------------------------------------ controls
  $('q').addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      table.filter.q = $('q').value;
      table.offset = 0;
      readTable().catch(ctx.failed);
    }, SEARCH_DEBOUNCE_MS);
  });
  $('filters').addEventListener('submit', (e) => {
    e.preventDefault();
    clearTimeout(searchTimer);
    table.filter.q = $('q').value;
    table.offset = 0;
    readTable().catch(ctx.failed);
  });
  $('status').addEventListener('change', () => {
    table.filter.status = STATUSES.includes($('status').value) ? $('status').value : '';
    table.offset = 0;
    readTable().catch(ctx.failed);
  });
  $('prev').addEventListener('click', () => {
    table.offset = Math.max(0, table.offset - table.limit);
    readTable().catch(ctx.failed);
  });
  $('next').addEventListener('click', () => {
    table.offset += table.limit;
    readTable().catch(ctx.failed);
  });
  $('period').addEventListener('submit', (e) => {
    e.preventDefault();
    readSummary().catch(ctx.failed);
  });
  $('download').addEventListener('click', async (e) => {
    const button = e.currentTarget;
    const note = $('download-status');
    if (!from.value || !to.value) {
      setText(note, 'Choose the period first.');
      return;
    }
    button.disabled = true;
    setText(note, 'Preparing the file…');
    try {
      const file = await api.download(
        '/api/admin/sessions/export.csv',
        { from: from.value, to: to.value },
        `sessions-${from.value}-to-${to.value}.csv`,
      );
      const url = URL.createObjectURL(file.blob);
      const a = h('a', { href: url, download: file.filename, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      setText(note, `Downloaded ${file.filename}.`);
    } catch (err) {
      setText(note, '');
      ctx.failed(err);
    } finally {
      button.disabled = false;
    }
  });

  return {
    async sync() {
      await Promise.all([readTable(), readSummary()]);
    },
    listen(live) {
      const on = (kind) => (row) => {
        const changed = table.apply(kind, row);
        if (changed) {
          drawTable();
          if (changed === 'added') flash(row.id);
        }
        if (kind !== 'heartbeat') {
          tableAgain.poke(); // counts and pages as the server sees them
          if (kind === 'ended') summaryAgain.poke();
        }
      };
      live.on('session:started', on('started'));
      live.on('session:heartbeat', on('heartbeat'));
      live.on('session:ended', on('ended'));
      backstop = setInterval(() => tableAgain.poke(), BACKSTOP_MS);
    },
    tick,
    stop() {
      clearTimeout(searchTimer);
      clearInterval(backstop);
    },
  };
}
