#!/usr/bin/env node
// Serves the demo store (www/) on 127.0.0.1, with the headers it is meant to run under:
//
//   Content-Security-Policy: default-src 'self'; script-src 'self' 'wasm-unsafe-eval'
//
// and no cross-origin isolation headers (COOP/COEP): fewclick needs none. /pkg/… is the npm package
// built by scripts/build-wasm.sh: www/pkg/ when scripts/demo.sh has copied it there, else the
// repository's pkg/ (or the folder given with --pkg).
//
//   node scripts/serve-demo.mjs [--port N] [--pkg DIR] [--log]
//
//   --port N   port on 127.0.0.1 (default: $PORT, else 8080; 0 = any free port)
//   --pkg DIR  serve /pkg/ from DIR
//   --log      print every request ("GET /path 200") on stdout
//
// Prints "fewclick demo: http://127.0.0.1:PORT/" once it listens.
import { createServer } from 'node:http';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const WWW = join(ROOT, 'www');

export const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'";

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.wasm': 'application/wasm',
  '.fcm': 'application/octet-stream',
  '.ts': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
};

const HEADERS = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

function usage(message) {
  if (message) console.error(`serve-demo: ${message}`);
  console.error('usage: node scripts/serve-demo.mjs [--port N] [--pkg DIR] [--log]');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { port: process.env.PORT ?? '8080', pkg: undefined, log: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '--port') opts.port = value();
    else if (arg === '--pkg') opts.pkg = resolve(value());
    else if (arg === '--log') opts.log = true;
    else if (arg === '--help' || arg === '-h') usage();
    else usage(`unknown argument ${arg}`);
  }
  const port = Number(opts.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) usage(`port must be an integer in 0..65535, got ${opts.port}`);
  opts.port = port;
  if (opts.pkg === undefined) opts.pkg = existsSync(join(WWW, 'pkg', 'index.js')) ? join(WWW, 'pkg') : join(ROOT, 'pkg');
  return opts;
}

/** The file for a URL path, or undefined when it lies outside the served folders. */
function fileFor(pathname, pkgDir) {
  let base = WWW;
  let rest = pathname;
  if (pathname === '/pkg' || pathname.startsWith('/pkg/')) {
    base = pkgDir;
    rest = pathname.slice('/pkg'.length) || '/';
  }
  if (rest.endsWith('/')) rest += 'index.html';
  const file = normalize(join(base, rest));
  return file.startsWith(normalize(base) + sep) ? file : undefined;
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (!existsSync(join(opts.pkg, 'index.js'))) {
    console.error(`serve-demo: warning: no built package in ${opts.pkg} (run scripts/build-wasm.sh); the page will show the store without personalisation`);
  }
  const server = createServer(async (req, res) => {
    const done = (status, body, headers = {}) => {
      res.writeHead(status, { ...HEADERS, ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
      if (opts.log) console.log(`${req.method} ${req.url} ${status}`);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      done(405, 'method not allowed\n', { 'content-type': 'text/plain; charset=utf-8', allow: 'GET, HEAD' });
      return;
    }
    let pathname;
    try {
      pathname = decodeURIComponent(new URL(req.url, 'http://localhost').pathname);
    } catch {
      done(400, 'bad request\n', { 'content-type': 'text/plain; charset=utf-8' });
      return;
    }
    const file = fileFor(pathname, opts.pkg);
    if (file === undefined || pathname.includes('\0')) {
      done(403, 'forbidden\n', { 'content-type': 'text/plain; charset=utf-8' });
      return;
    }
    try {
      if (!(await stat(file)).isFile()) throw new Error('not a file');
      const body = await readFile(file);
      done(200, body, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': body.length });
    } catch {
      done(404, 'not found\n', { 'content-type': 'text/plain; charset=utf-8' });
    }
  });
  server.on('error', (e) => {
    if (e.code === 'EADDRINUSE') console.error(`serve-demo: port ${opts.port} is in use; choose another with PORT=N or --port N`);
    else console.error(`serve-demo: ${e.message}`);
    process.exit(1);
  });
  server.listen(opts.port, '127.0.0.1', () => {
    const { port } = server.address();
    console.log(`fewclick demo: http://127.0.0.1:${port}/`);
    console.log(`  serving ${WWW} (package: ${opts.pkg}); Ctrl-C stops`);
  });
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main();
