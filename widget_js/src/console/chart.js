/**
 * The 30-day chart of daily active users, as geometry: a pure function of
 * `daily` ([{date, active}], oldest first, SPEC §5's `?detailed=1`), so the
 * tests check every bar without a browser. The page draws it as inline SVG.
 */
import { count, day } from './format.js';

/** A "nice" axis maximum at or above `max`: 1, 2, 5 × 10^k (at least 1). */
export function niceMax(max) {
  if (!(max > 0)) return 1;
  const power = Math.pow(10, Math.floor(Math.log10(max)));
  for (const step of [1, 2, 5, 10]) {
    if (step * power >= max) return step * power;
  }
  return 10 * power;
}

/**
 * @param {{date: string, active: number}[]} daily
 * @param {{width?: number, height?: number, left?: number, bottom?: number, top?: number, gap?: number}} [box]
 * @returns {{width, height, max, plot: {x, y, w, h}, bars: {date, active, x, y, w, h, label}[],
 *            ticks: {value, y, label}[], labels: {x, text, anchor}[], summary: string}}
 */
export function barChart(daily, box = {}) {
  const width = box.width || 720;
  const height = box.height || 220;
  const left = box.left == null ? 44 : box.left;
  const bottom = box.bottom == null ? 26 : box.bottom;
  const top = box.top == null ? 10 : box.top;
  const right = 8;
  const days = Array.isArray(daily) ? daily : [];
  const peak = days.reduce((m, d) => Math.max(m, Number(d.active) || 0), 0);
  const max = niceMax(peak);
  const plot = { x: left, y: top, w: width - left - right, h: height - top - bottom };
  const slot = days.length ? plot.w / days.length : plot.w;
  const gap = Math.min(box.gap == null ? 4 : box.gap, slot / 3);
  const bars = days.map((d, i) => {
    const active = Number(d.active) || 0;
    const h = (active / max) * plot.h;
    return {
      date: d.date,
      active,
      x: round(plot.x + i * slot + gap / 2),
      y: round(plot.y + plot.h - h),
      w: round(Math.max(1, slot - gap)),
      h: round(h),
      label: `${day(d.date)}: ${count(active)} active user${active === 1 ? '' : 's'}`,
    };
  });
  const values = Number.isInteger(max / 2) ? [0, max / 2, max] : [0, max];
  const ticks = values.map((value) => ({
    value,
    y: round(plot.y + plot.h - (value / max) * plot.h),
    label: count(value),
  }));
  // A label a week, counted back from today's bar (so today always has one),
  // today's ending at the plot's right edge so it is never cut off.
  const labels = [];
  for (let i = days.length - 1; i >= 0; i -= 7) {
    const last = i === days.length - 1;
    labels.unshift({
      x: round(last ? plot.x + plot.w : plot.x + i * slot + slot / 2),
      text: day(days[i].date),
      anchor: last ? 'end' : 'middle',
    });
  }
  let summary = 'No activity recorded yet.';
  if (days.length) {
    const best = days.reduce((b, d) => ((Number(d.active) || 0) > (Number(b.active) || 0) ? d : b), days[0]);
    summary =
      `Daily active users from ${day(days[0].date)} to ${day(days[days.length - 1].date)}: ` +
      `today ${count(Number(days[days.length - 1].active) || 0)}, peak ${count(Number(best.active) || 0)} on ${day(best.date)}.`;
  }
  return { width, height, max, plot, bars, ticks, labels, summary };
}

function round(n) {
  return Math.round(n * 100) / 100;
}
