/**
 * How the console writes numbers, durations and times: pure functions, so the
 * unit tests pin them down and every page writes them alike.
 */

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function pad(n) {
  return String(n).padStart(2, '0');
}

/** Whole seconds as `h:mm:ss` (negative and missing values count as 0): 3725 -> "1:02:05". */
export function hms(totalSeconds) {
  const s = Math.max(0, Math.floor(Number(totalSeconds) || 0));
  return `${Math.floor(s / 3600)}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
}

/** A time left: `m:ss` under an hour, `h:mm:ss` from then on; "—" when unknown. */
export function countdown(seconds) {
  if (seconds == null || !Number.isFinite(Number(seconds))) return '—';
  const s = Math.max(0, Math.ceil(Number(seconds)));
  if (s >= 3600) return hms(s);
  return `${Math.floor(s / 60)}:${pad(s % 60)}`;
}

/** 12345 -> "12,345"; anything not a number -> "—". */
export function count(n) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '—';
  return Math.round(n)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** A fraction as a percentage with one decimal: 0.3333 -> "33.3%". */
export function percent(fraction) {
  if (typeof fraction !== 'number' || !Number.isFinite(fraction)) return '—';
  return `${(Math.round(fraction * 1000) / 10).toFixed(1)}%`;
}

/** Minutes as hours and minutes: 135 -> "2 h 15 min", 45 -> "45 min". */
export function minutes(total) {
  const m = Math.max(0, Math.round(Number(total) || 0));
  if (m < 60) return `${m} min`;
  return `${Math.floor(m / 60)} h ${pad(m % 60)} min`;
}

/** A span of seconds, shortly: "42 s", "11 min", "1 h 05 min". */
export function span(seconds) {
  const s = Math.max(0, Math.round(Number(seconds) || 0));
  if (s < 60) return `${s} s`;
  return minutes(Math.floor(s / 60));
}

/** How long ago an ISO time was, shortly: "just now", "42 s ago", "5 min ago", "3 h ago", "2 d ago". */
export function ago(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (!iso || Number.isNaN(t)) return '—';
  const s = Math.max(0, Math.floor((now - t) / 1000));
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** A UTC calendar day "2026-11-23" as "23 Nov". */
export function day(isoDate) {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(String(isoDate || ''));
  if (!m) return String(isoDate || '');
  return `${Number(m[3])} ${MONTHS[Number(m[2]) - 1]}`;
}

/** An ISO time as the reader's local date and time, e.g. "23 Nov 09:30:05". */
export function dateTime(iso) {
  const t = Date.parse(iso);
  if (!iso || Number.isNaN(t)) return '—';
  const d = new Date(t);
  return `${d.getDate()} ${MONTHS[d.getMonth()]} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** An ISO time as the reader's local time of day, "09:30:05". */
export function timeOfDay(iso) {
  const t = Date.parse(iso);
  if (!iso || Number.isNaN(t)) return '—';
  const d = new Date(t);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** "YYYY-MM-DD" of a Date in UTC (the days of SPEC §5 and §6 are UTC days). */
export function utcDate(date) {
  return `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}`;
}

/** The current UTC month as `{from, to}` ISO dates, `to` exclusive (the default payroll period). */
export function thisMonth(now = Date.now()) {
  const d = new Date(now);
  const from = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1));
  const to = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1));
  return { from: utcDate(from), to: utcDate(to) };
}
