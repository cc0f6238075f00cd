/**
 * PresenceConsole: the admin console's pages (SPEC §9), one bundle for the three:
 *
 *   PresenceConsole.start('overview' | 'sessions' | 'streams')
 *
 * on a page built from api/templates/console/ (the shell's elements: the
 * sign-in form, the connection state, the reconnecting banner; and the page's
 * own). The logic worth testing without a browser lives in `console/*.js`
 * modules of data (sessions.js, streams.js, chart.js, format.js, throttle.js,
 * token.js, live.js).
 */
import { createOverview } from './console/overview-page.js';
import { createSessions } from './console/sessions-page.js';
import { startConsole } from './console/shell.js';
import { createStreams } from './console/streams-page.js';

const PAGES = { overview: createOverview, sessions: createSessions, streams: createStreams };

export function start(name) {
  const create = PAGES[name];
  if (!create) throw new Error(`unknown console page ${name}`);
  return startConsole(create);
}
