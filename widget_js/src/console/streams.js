/**
 * The livestreams of `/admin/streams` (SPEC §7) as data: the live ones and the
 * recent ones from `GET /api/admin/livestreams`, with each live stream's next
 * block as a deadline (so the page can count down every second), changed by the
 * `livestream:credits`, `livestream:warning` and `livestream:ended` events
 * without a reload. Pure: no DOM; times are ms passed in.
 */

export class StreamBoard {
  constructor() {
    this.byId = new Map();
    this.order = [];
    /** How far the server's clock is ahead of ours (ms), estimated from the lists. */
    this.skew = 0;
  }

  /** When (our clock, ms) the stream's next block is due, from a list row read at `now`. */
  nextAtOf(s, now) {
    if (s.status !== 'live') return null;
    const minutes = s.time_until_next_deduction_minutes;
    if (typeof minutes === 'number') return now + minutes * 60000; // relative: no clock to trust
    const at = Date.parse(s.next_block_at);
    return Number.isNaN(at) ? null : at - this.skew;
  }

  /**
   * The server's lists, read at `now`: the live streams first, then the recent
   * ones (each in the server's order, newest first). A warning heard on the
   * socket stays while the stream is live and quiet since (the list does not carry it).
   */
  load(live, recent, now) {
    const next = new Map();
    const order = [];
    const skews = [];
    const newerBalance = new Map(); // owner -> balance heard on the socket after this list was read
    for (const s of [...(live || []), ...(recent || [])]) {
      if (!s || !s.id || next.has(s.id)) continue;
      const before = this.byId.get(s.id);
      const row = Object.assign({}, s, { nextAt: this.nextAtOf(s, now), warning: null });
      const absolute = Date.parse(s.next_block_at);
      if (row.nextAt !== null && typeof s.time_until_next_deduction_minutes === 'number' && !Number.isNaN(absolute)) {
        skews.push(absolute - row.nextAt);
      }
      if (before) keepNewer(row, before, newerBalance);
      if (before && before.warning && row.status === 'live' && before.warning.lastActivity === row.last_activity) {
        row.warning = before.warning;
      }
      next.set(s.id, row);
      order.push(s.id);
    }
    for (const row of next.values()) {
      if (newerBalance.has(row.user_id)) row.remaining_credits = newerBalance.get(row.user_id);
    }
    this.byId = next;
    this.order = order;
    if (skews.length) {
      skews.sort((a, b) => a - b);
      this.skew = skews[Math.floor(skews.length / 2)];
    }
  }

  /** `livestream:started` (admins): a row of the admin list, put first. */
  started(row, now) {
    if (!row || !row.id) return false;
    const before = this.byId.get(row.id);
    this.byId.set(row.id, Object.assign({}, before || {}, row, { nextAt: this.nextAtOf(row, now), warning: null }));
    this.order = [row.id, ...this.order.filter((id) => id !== row.id)];
    return true;
  }

  /** `credits:granted {user_id, amount, remaining_credits}`: the owner's streams show the new balance. */
  granted(d) {
    let found = false;
    for (const s of this.byId.values()) {
      if (d && s.user_id === d.user_id && typeof d.remaining_credits === 'number') {
        s.remaining_credits = d.remaining_credits;
        found = true;
      }
    }
    return found;
  }

  get streams() {
    return this.order.map((id) => this.byId.get(id));
  }

  get(id) {
    return this.byId.get(String(id));
  }

  /** Live now. */
  get live() {
    return this.streams.filter((s) => s.status === 'live');
  }

  /** Seconds until the stream's next block is charged (0 when due), or null when not live. */
  secondsToNext(s, now) {
    if (!s || s.status !== 'live' || s.nextAt == null) return null;
    return Math.max(0, (s.nextAt - now) / 1000);
  }

  /**
   * `livestream:credits {livestream_id, remaining_credits, credits_consumed}`
   * (admins also get `next_block_at`): the balance is the owner's, so every
   * stream of theirs shows it. False when the stream is not on the board (the
   * page re-reads the lists).
   */
  credits(d) {
    const s = this.get(d && d.livestream_id);
    if (!s) return false;
    if (typeof d.credits_consumed === 'number') s.credits_consumed = d.credits_consumed;
    if (s.status === 'live' && d.next_block_at) {
      const at = Date.parse(d.next_block_at);
      if (!Number.isNaN(at)) s.nextAt = at - this.skew;
    }
    if (typeof d.remaining_credits === 'number') {
      for (const other of this.byId.values()) {
        if (other.user_id === s.user_id) other.remaining_credits = d.remaining_credits;
      }
    }
    return true;
  }

  /** `livestream:warning {livestream_id, reason, inactive_seconds}` heard at `now`. */
  warning(d, now) {
    const s = this.get(d && d.livestream_id);
    if (!s || s.status !== 'live') return false;
    s.warning = {
      reason: d.reason || 'inactivity',
      inactiveSeconds: Number(d.inactive_seconds) || 0,
      at: now,
      lastActivity: s.last_activity,
    };
    return true;
  }

  /** `livestream:ended {livestream_id, reason}`. */
  ended(d, now) {
    const s = this.get(d && d.livestream_id);
    if (!s) return false;
    s.status = 'ended';
    s.end_reason = d.reason || s.end_reason || null;
    s.ended_at = s.ended_at || new Date(now).toISOString();
    s.nextAt = null;
    s.time_until_next_deduction_minutes = null;
    s.warning = null;
    return true;
  }
}

/**
 * A list read while events were arriving may be older than what the events
 * said: a stream's charges only grow and an end is final, so the row keeps the
 * newer of the two (and the owner's balance that came with it).
 */
function keepNewer(row, before, newerBalance) {
  if (before.status === 'ended' && row.status !== 'ended') {
    Object.assign(row, {
      status: 'ended',
      end_reason: before.end_reason,
      ended_at: before.ended_at,
      nextAt: null,
      time_until_next_deduction_minutes: null,
    });
  }
  if ((Number(before.credits_consumed) || 0) > (Number(row.credits_consumed) || 0)) {
    row.credits_consumed = before.credits_consumed;
    if (row.status === 'live') row.nextAt = before.nextAt;
    newerBalance.set(row.user_id, before.remaining_credits);
  }
}

export const END_REASONS = {
  manual: 'Ended by the seller',
  inactivity: 'Ended: no heartbeat for too long',
  credits_exhausted: 'Ended: credits ran out',
};

/** What a stream's state reads as, for the badge. */
export function stateText(s) {
  if (!s) return '';
  if (s.status === 'live') return s.warning ? 'Live · quiet' : 'Live';
  if (s.status === 'ended') return 'Ended';
  if (s.status === 'scheduled') return 'Scheduled';
  return String(s.status || '');
}
