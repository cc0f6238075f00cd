/**
 * `/admin/streams` (SPEC §7, §9): live and recent livestreams with their owner,
 * remaining credits and the time to the next block, counting down every
 * second; warnings and ends appear as they happen (`livestream:credits`,
 * `livestream:warning`, `livestream:ended`, and `livestream:started`,
 * `credits:granted` in room `admins`), and each stream
 * opens its statement of charges (`GET /api/livestreams/{id}/charges/`).
 *
 * Observable: rows `tr[data-stream-id]` with `data-stream-state`
 * (live|ended|scheduled), credits `[data-credits]`, the countdown
 * `[data-next-block]` (whole seconds, "" when not live), `[data-end-reason]`,
 * `[data-warning]`.
 */
import { $, fill, h, setText, status } from './dom.js';
import { count, countdown, dateTime, span, timeOfDay } from './format.js';
import { END_REASONS, stateText, StreamBoard } from './streams.js';

const BACKSTOP_MS = 30000;
const STATE_KINDS = { live: 'online', ended: 'offline', scheduled: 'offline' };

export function createStreams(ctx) {
  const { api } = ctx;
  const board = new StreamBoard();
  let backstop = null;
  let opener = null; // the button that opened the statement, to give focus back

  async function readLists() {
    const [live, recent] = await Promise.all([
      api.get('/api/admin/livestreams', { status: 'live' }),
      api.get('/api/admin/livestreams'),
    ]);
    board.load(live.results || [], recent.results || [], Date.now());
    draw();
  }

  const listsAgain = ctx.refresher(readLists, { gapMs: 1000 });

  // ------------------------------------------------------------ drawing
  function row(s, now) {
    const seconds = board.secondsToNext(s, now);
    const ended = s.status === 'ended';
    return h(
      'tr',
      { 'data-stream-id': s.id, 'data-stream-state': s.status, class: s.warning ? 'warned' : null },
      h('td', { 'data-label': 'Stream' }, h('div', {}, h('strong', {}, s.title), h('div', { class: 'muted small id' }, s.id))),
      h('td', { 'data-label': 'Owner' }, s.user_id),
      h(
        'td',
        { 'data-label': 'State' },
        h(
          'div',
          {},
          status(s.warning ? 'warn' : STATE_KINDS[s.status] || 'offline', stateText(s)),
          s.warning
            ? h('div', { class: 'small warn-text', 'data-warning': s.warning.reason }, `No heartbeat for ${span(s.warning.inactiveSeconds)}`)
            : null,
          ended ? h('div', { class: 'small muted', 'data-end-reason': s.end_reason || '' }, END_REASONS[s.end_reason] || 'Ended') : null,
        ),
      ),
      h('td', { class: 'num', 'data-label': 'Credits left' }, h('span', { 'data-credits': s.remaining_credits }, count(s.remaining_credits))),
      h('td', { class: 'num', 'data-label': 'Used' }, count(s.credits_consumed)),
      h(
        'td',
        { class: 'num', 'data-label': 'Next credit in' },
        h('span', { 'data-next-block': seconds === null ? '' : Math.ceil(seconds) }, seconds === null ? '—' : countdown(seconds)),
      ),
      h('td', { 'data-label': ended ? 'Ended' : 'Started' }, h('time', {}, dateTime(ended ? s.ended_at : s.started_at))),
      h(
        'td',
        {},
        h('button', { type: 'button', class: 'secondary', 'data-statement': s.id, 'aria-label': `Statement of charges of ${s.title}` }, 'Statement'),
      ),
    );
  }

  function draw() {
    const now = Date.now();
    const live = board.streams.filter((s) => s.status === 'live');
    const others = board.streams.filter((s) => s.status !== 'live');
    fill($('live-rows'), live.length ? live.map((s) => row(s, now)) : h('tr', {}, h('td', { colspan: 8, class: 'empty' }, 'No stream is live.')));
    fill($('recent-rows'), others.length ? others.map((s) => row(s, now)) : h('tr', {}, h('td', { colspan: 8, class: 'empty' }, 'No other stream yet.')));
    const n = document.querySelector('[data-metric="live-streams"]');
    setText(n, count(live.length), live.length);
  }

  function tick(now) {
    for (const el of document.querySelectorAll('#content [data-next-block]')) {
      const s = board.get(el.closest('tr').getAttribute('data-stream-id'));
      const seconds = board.secondsToNext(s, now);
      const whole = seconds === null ? '' : String(Math.ceil(seconds));
      if (el.getAttribute('data-next-block') !== whole) {
        el.setAttribute('data-next-block', whole);
        setText(el, seconds === null ? '—' : seconds <= 0 ? 'due now' : countdown(seconds));
      }
    }
  }

  function log(text, kind) {
    const list = $('stream-log');
    const empty = list.querySelector('.empty');
    if (empty) empty.remove();
    list.prepend(h('li', { class: kind }, h('time', {}, timeOfDay(new Date().toISOString())), ' ', text));
    while (list.children.length > 30) list.lastElementChild.remove();
  }

  function titleOf(id) {
    const s = board.get(id);
    return s ? `“${s.title}”` : `Stream ${id}`;
  }

  // ------------------------------------------------------------ the statement
  const dialog = $('statement');
  async function openStatement(id, button) {
    opener = button;
    const s = board.get(id);
    setText($('statement-title'), s ? `Charges of “${s.title}”` : `Charges of stream ${id}`);
    setText($('statement-summary'), 'Loading…');
    fill($('statement-rows'));
    if (typeof dialog.showModal === 'function') dialog.showModal();
    else dialog.setAttribute('open', '');
    try {
      const body = await api.get(`/api/livestreams/${encodeURIComponent(id)}/charges/`);
      fill(
        $('statement-rows'),
        body.charges.length
          ? body.charges.map((c) =>
              h(
                'tr',
                { 'data-block': c.block },
                h('th', { scope: 'row', class: 'num' }, String(c.block)),
                h('td', {}, dateTime(c.block_starts_at)),
                h('td', {}, dateTime(c.charged_at)),
                h('td', { class: 'num' }, count(c.credits)),
              ),
            )
          : h('tr', {}, h('td', { colspan: 4, class: 'empty' }, 'Nothing charged yet.')),
      );
      setText($('statement-summary'), `${count(body.credits_consumed)} credit${body.credits_consumed === 1 ? '' : 's'} charged for ${count(body.charges.length)} block${body.charges.length === 1 ? '' : 's'}.`);
    } catch (err) {
      setText($('statement-summary'), err.message);
      if (err.auth) {
        closeStatement();
        ctx.failed(err);
      }
    }
  }
  function closeStatement() {
    if (dialog.open) dialog.close();
  }
  dialog.addEventListener('close', () => {
    if (opener && document.contains(opener)) opener.focus();
    else {
      const again = opener && document.querySelector(`[data-statement="${CSS.escape(opener.getAttribute('data-statement'))}"]`);
      if (again) again.focus();
    }
  });
  $('statement-close').addEventListener('click', closeStatement);
  $('content').addEventListener('click', (e) => {
    const button = e.target.closest('[data-statement]');
    if (button) openStatement(button.getAttribute('data-statement'), button);
  });

  return {
    sync: readLists,
    listen(live) {
      live.on('livestream:credits', (d) => {
        if (board.credits(d)) {
          draw();
          log(`${titleOf(d.livestream_id)}: a credit was charged, ${count(d.remaining_credits)} left`, 'charge');
        }
        listsAgain.poke(); // the next block's time, and streams not on the board yet
      });
      live.on('livestream:warning', (d) => {
        if (board.warning(d, Date.now())) draw();
        log(`${titleOf(d.livestream_id)}: no heartbeat for ${span(d.inactive_seconds)}, it will end if this goes on`, 'warning');
        listsAgain.poke();
      });
      live.on('livestream:ended', (d) => {
        if (board.ended(d, Date.now())) draw();
        log(`${titleOf(d.livestream_id)}: ${(END_REASONS[d.reason] || 'Ended').toLowerCase()}`, 'ended');
        listsAgain.poke();
      });
      live.on('livestream:started', (row) => {
        if (board.started(row, Date.now())) draw();
        log(`${titleOf(row && row.id)} went live`, 'started');
        listsAgain.poke();
      });
      live.on('credits:granted', (d) => {
        if (board.granted(d)) draw();
      });
      backstop = setInterval(() => listsAgain.poke(), BACKSTOP_MS);
    },
    tick,
    stop() {
      clearInterval(backstop);
      closeStatement();
    },
  };
}
