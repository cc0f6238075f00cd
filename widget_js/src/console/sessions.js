/**
 * The attendance table of `/admin/sessions` (SPEC §6) as data: one page of
 * `GET /api/admin/sessions` rows, kept current by the admins' socket events
 * (`session:started`, `session:heartbeat`, `session:ended`, each carrying a
 * row) without a reload. Pure: no DOM, no clock of its own.
 */

export const STATUSES = ['active', 'completed', 'timeout'];
export const PAGE_SIZE = 50;

/** Whether a row passes the filter as the server would: exact status; `q` a
 * case-insensitive literal substring of the student's, meeting's or teacher's name. */
export function matches(row, filter = {}) {
  if (filter.status && row.status !== filter.status) return false;
  const q = String(filter.q || '').trim().toLowerCase();
  if (!q) return true;
  return [row.studentName, row.meetingTitle, row.teacherName].some(
    (v) => v != null && String(v).toLowerCase().includes(q),
  );
}

/**
 * How long the session has lasted, in seconds at `now` (ms): from the click to
 * now while active (so it ticks), from the click to its end once ended; the
 * stored minutes when the times are missing.
 */
export function durationSeconds(row, now) {
  const clicked = Date.parse(row.clickedAt);
  if (row.status === 'active') return Number.isNaN(clicked) ? 0 : Math.max(0, (now - clicked) / 1000);
  const ended = Date.parse(row.sessionEndedAt);
  if (!Number.isNaN(clicked) && !Number.isNaN(ended)) return Math.max(0, (ended - clicked) / 1000);
  return (Number(row.durationMinutes) || 0) * 60;
}

/** Newest click first, as the server orders them (then id, descending). */
export function compareRows(a, b) {
  const ta = Date.parse(a.clickedAt) || 0;
  const tb = Date.parse(b.clickedAt) || 0;
  if (ta !== tb) return tb - ta;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** Whether `incoming` may replace `current` (events can cross: an end is never undone). */
export function supersedes(incoming, current) {
  if (current.status !== 'active') return incoming.status !== 'active' ? true : false;
  if (incoming.status !== 'active') return true;
  return (Date.parse(incoming.lastActivityAt) || 0) >= (Date.parse(current.lastActivityAt) || 0);
}

export class SessionPage {
  constructor({ limit = PAGE_SIZE } = {}) {
    this.limit = limit;
    this.offset = 0;
    this.filter = { status: '', q: '' };
    this.rows = [];
    this.count = 0;
    this.loaded = false;
  }

  /** The query of `GET /api/admin/sessions` for this page and filter. */
  params() {
    return { status: this.filter.status, q: this.filter.q.trim(), limit: this.limit, offset: this.offset };
  }

  /**
   * The server's answer for `params()`: replaces what is shown, except that a
   * row an event has already moved further (ended, or a later heartbeat) than
   * this answer, read before it, keeps the event's version.
   */
  load(body) {
    const shown = new Map(this.rows.map((r) => [r.id, r]));
    this.rows = (Array.isArray(body.results) ? body.results : []).map((r) => {
      const before = shown.get(r.id);
      return before && !supersedes(r, before) ? before : r;
    });
    this.count = Number(body.count) || 0;
    this.loaded = true;
  }

  /**
   * A row from a socket event (`kind`: started, heartbeat, ended). Answers what
   * changed on screen: 'added', 'updated', 'removed' or null (not on this page).
   */
  apply(kind, row) {
    if (!row || !row.id) return null;
    const i = this.rows.findIndex((r) => r.id === row.id);
    const fits = matches(row, this.filter);
    if (i >= 0) {
      if (!supersedes(row, this.rows[i])) return null;
      if (fits) {
        this.rows[i] = Object.assign({}, this.rows[i], row);
        return 'updated';
      }
      this.rows.splice(i, 1);
      this.count = Math.max(0, this.count - 1);
      return 'removed';
    }
    if (!fits || !this.loaded) return null;
    // Newly matching: a new click, or an end that now fits an "ended" filter.
    const isNew = kind === 'started' || (kind === 'ended' && this.filter.status && this.filter.status !== 'active');
    if (!isNew) return null;
    this.count += 1;
    if (this.offset !== 0) return null; // later pages shift; the re-read shows it
    const last = this.rows[this.rows.length - 1];
    if (this.rows.length >= this.limit && last && compareRows(row, last) > 0) return null;
    this.rows.push(Object.assign({}, row));
    this.rows.sort(compareRows);
    if (this.rows.length > this.limit) this.rows.length = this.limit;
    return 'added';
  }

  /** "1–50 of 123" */
  range() {
    if (this.count === 0 || this.rows.length === 0) return `0 of ${this.count}`;
    return `${this.offset + 1}–${this.offset + this.rows.length} of ${this.count}`;
  }

  get hasPrevious() {
    return this.offset > 0;
  }

  get hasNext() {
    return this.offset + this.rows.length < this.count;
  }
}
