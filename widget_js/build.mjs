// Builds the browser bundles served at /static/ (SPEC.md §9):
//   src/widget.js          -> dist/widget.js          (global PresenceWidget)
//   src/presence-agent.js  -> dist/presence-agent.js  (global PresenceAgent)
//   src/presence-user.js   -> dist/presence-user.js   (global PresenceUser)
//   src/livestream.js      -> dist/livestream.js      (global PresenceStream)
//   src/tracking.js        -> dist/tracking.js        (global PresenceTracking: the attendance page)
//   src/console.js         -> dist/console.js         (global PresenceConsole: the admin console's pages)
// Each bundle that opens a socket carries its own copy of socket.io-client, so
// a page needs nothing but the one script from our server (no CDN, nothing
// fetched later).
//
// Usage: npm run build            (minified, the served form)
//        npm run build -- --dev   (readable, with inline source maps)
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const pkg = (path) => JSON.parse(readFileSync(join(here, path), 'utf8'));
const dev = process.argv.includes('--dev');
const clientVersion = pkg('node_modules/socket.io-client/package.json').version;

const bundles = [
  { entry: 'src/widget.js', out: 'dist/widget.js', globalName: 'PresenceWidget' },
  { entry: 'src/presence-agent.js', out: 'dist/presence-agent.js', globalName: 'PresenceAgent' },
  { entry: 'src/presence-user.js', out: 'dist/presence-user.js', globalName: 'PresenceUser' },
  { entry: 'src/livestream.js', out: 'dist/livestream.js', globalName: 'PresenceStream' },
  { entry: 'src/tracking.js', out: 'dist/tracking.js', globalName: 'PresenceTracking', socket: false },
  { entry: 'src/console.js', out: 'dist/console.js', globalName: 'PresenceConsole' },
];

for (const b of bundles) {
  const banner =
    `/*! ${b.globalName} ${pkg('package.json').version} (presence server, SPEC.md section 9)` +
    (b.socket === false ? ' */' : ` | bundles socket.io-client ${clientVersion} (MIT) */`);
  await build({
    entryPoints: [join(here, b.entry)],
    outfile: join(here, b.out),
    bundle: true,
    format: 'iife',
    globalName: b.globalName,
    platform: 'browser', // honours socket.io-client's "browser" field: no `ws`, no Node XHR shim
    target: 'es2018',
    minify: !dev,
    sourcemap: dev ? 'inline' : false,
    legalComments: 'none',
    banner: { js: banner },
    define: { 'process.env.NODE_ENV': dev ? '"development"' : '"production"' },
    logLevel: 'info',
  });
}
