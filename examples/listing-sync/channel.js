#!/usr/bin/env node
// A stand-in marketplace channel for the listing-sync consumer: an HTTP
// server that accepts pushes of available quantities and keeps, with them,
// the consumer's cursor (the last change id it accepted), as a
// transactional sink would.
//
//   GET  /cursor  -> 200 {"cursor": N}
//   POST /push    {"after": N, "changes": [{change_id, sku, warehouse_uuid, available}, ...]}
//                 -> 200 {"cursor": M}  accepted: logged, fsynced, cursor moved to the last change_id
//                 -> 409 {"error", "cursor": N'}  "after" is not the current cursor (nothing logged)
//                 -> 400 {"error"}  malformed push (nothing logged)
//   POST /hold    {"ms": T}  test hook: the reply to the next accepted push
//                 is held for T ms after it is logged (a push "in flight")
//
// Every accepted change is one JSON line of the log file.  The log is the
// only state: the cursor is the change_id of its last complete line, so
// the cursor and what was accepted cannot disagree, whenever this process
// dies.  On start a torn last line (a crash in the middle of a write) is
// cut off; the lines before it were fsynced, the cursor is theirs.
//
// Usage: node channel.js [--port N] [--log FILE]
//        (or CHANNEL_PORT, CHANNEL_LOG; defaults 8081 and ./channel-log.jsonl;
//        port 0 picks a free one).  Prints "channel listening on
//        http://HOST:PORT ..." once it accepts requests.
'use strict';

const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const MAX_BODY = 16 * 1024 * 1024;

// Parse --port and --log (and --host), falling back to the environment.
function parseArgs(argv) {
  const opts = {
    port: process.env.CHANNEL_PORT ?? '8081',
    log: process.env.CHANNEL_LOG ?? 'channel-log.jsonl',
    host: process.env.CHANNEL_HOST ?? '127.0.0.1',
  };
  for (let i = 0; i < argv.length; i++) {
    const m = /^--(port|log|host)(?:=(.*))?$/.exec(argv[i]);
    if (!m) usage(`unknown argument ${argv[i]}`);
    opts[m[1]] = m[2] ?? argv[++i];
    if (opts[m[1]] === undefined) usage(`--${m[1]} needs a value`);
  }
  const port = Number(opts.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) usage(`bad port ${opts.port}`);
  return { port, log: path.resolve(opts.log), host: opts.host };
}

// Print how to call this and exit with status 2.
function usage(problem) {
  console.error(`channel: ${problem}\nusage: node channel.js [--port N] [--log FILE] [--host ADDR]`);
  process.exit(2);
}

// Open the log, cut a torn last line off and return {fd, cursor, lines}:
// the cursor is the change_id of the last complete line (0 for none).
function openLog(file) {
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_APPEND, 0o644);
  const text = fs.readFileSync(file, 'utf8');
  // Complete lines end with a newline; what follows the last one is torn.
  const lines = text.slice(0, text.lastIndexOf('\n') + 1).split('\n');
  lines.pop();
  // A write torn by a crash leaves a partial last line, never a partial
  // middle one; a last line that does not parse is cut off too.
  while (lines.length > 0 && !parseLine(lines[lines.length - 1])) {
    lines.pop();
  }
  const keep = Buffer.byteLength(lines.map((l) => l + '\n').join(''));
  const size = fs.fstatSync(fd).size;
  if (keep < size) {
    console.log(`channel: cutting a torn end off ${file} (${size - keep} bytes after the last complete line)`);
    fs.ftruncateSync(fd, keep);
    fs.fsyncSync(fd);
  }
  fsyncDir(path.dirname(file));
  const last = lines.length ? parseLine(lines[lines.length - 1]) : null;
  return { fd, cursor: last ? last.change_id : 0, lines: lines.length };
}

// One log line as an object, or null when it is not a complete change.
function parseLine(line) {
  try {
    const c = JSON.parse(line);
    return Number.isSafeInteger(c.change_id) ? c : null;
  } catch {
    return null;
  }
}

// fsync a directory, so that a file just created in it survives a crash.
function fsyncDir(dir) {
  const dfd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(dfd);
  } finally {
    fs.closeSync(dfd);
  }
}

// Write a whole buffer (a write may be short), at the end (O_APPEND).
function writeAll(fd, buf) {
  for (let off = 0; off < buf.length; ) {
    off += fs.writeSync(fd, buf, off, buf.length - off);
  }
}

// Why a push's changes are not acceptable after cursor `after`, or null.
function checkChanges(after, changes) {
  if (!Array.isArray(changes) || changes.length === 0) return '"changes" must be a non-empty array';
  let prev = after;
  for (const [i, c] of changes.entries()) {
    if (c === null || typeof c !== 'object') return `change ${i + 1} is not an object`;
    if (!Number.isSafeInteger(c.change_id) || c.change_id <= prev)
      return `change ${i + 1}: change_id must be an integer above ${prev}, got ${JSON.stringify(c.change_id)}`;
    if (typeof c.sku !== 'string' || c.sku === '') return `change ${i + 1}: "sku" must be a non-empty string`;
    if (typeof c.warehouse_uuid !== 'string') return `change ${i + 1}: "warehouse_uuid" must be a string`;
    if (!Number.isSafeInteger(c.available)) return `change ${i + 1}: "available" must be an integer`;
    prev = c.change_id;
  }
  return null;
}

// Send a JSON reply.
function reply(res, status, body) {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

// Read a request's whole body as JSON (null when it is not JSON or too big).
function readJson(req) {
  return new Promise((resolve) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > MAX_BODY) return resolve(null);
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        resolve(null);
      }
    });
    req.on('error', () => resolve(null));
  });
}

// Serve until SIGTERM/SIGINT.
function main() {
  const opts = parseArgs(process.argv.slice(2));
  const log = openLog(opts.log);
  let holdNextMs = 0;

  // Accept a push if it starts at the cursor: one write of all its lines,
  // fsync, then the cursor moves.  Synchronous from the check to the
  // fsync, so two pushes never interleave.
  function accept(body) {
    if (body === null || typeof body !== 'object') return [400, { error: 'the body must be a JSON object' }];
    if (!Number.isSafeInteger(body.after)) return [400, { error: '"after" must be an integer (the cursor the changes follow)' }];
    if (body.after !== log.cursor) {
      return [409, { error: `push after ${body.after} refused: the channel's cursor is ${log.cursor}`, cursor: log.cursor }];
    }
    const problem = checkChanges(body.after, body.changes);
    if (problem) return [400, { error: problem }];
    const text = body.changes
      .map((c) => JSON.stringify({ change_id: c.change_id, sku: c.sku, warehouse_uuid: c.warehouse_uuid, available: c.available }) + '\n')
      .join('');
    writeAll(log.fd, Buffer.from(text, 'utf8'));
    fs.fsyncSync(log.fd);
    log.cursor = body.changes[body.changes.length - 1].change_id;
    log.lines += body.changes.length;
    return [200, { cursor: log.cursor, accepted: body.changes.length }];
  }

  const server = http.createServer(async (req, res) => {
    const url = req.url.split('?')[0];
    if (req.method === 'GET' && url === '/cursor') return reply(res, 200, { cursor: log.cursor });
    if (req.method === 'POST' && url === '/push') {
      const body = await readJson(req);
      let status, answer;
      try {
        [status, answer] = accept(body);
      } catch (err) {
        // The log may hold part of this push: only a restart, which reads
        // the cursor back from the log, knows where it stands.
        console.error(`channel: writing the log failed (${err.message}); exiting`);
        process.exit(1);
      }
      if (status === 200 && holdNextMs > 0) {
        const ms = holdNextMs;
        holdNextMs = 0;
        console.log(`channel: holding the reply to the push after ${body.after} (ids ${body.changes[0].change_id}..${log.cursor}, logged) for ${ms} ms`);
        await new Promise((r) => setTimeout(r, ms));
      }
      if (status !== 200) console.log(`channel: ${status} ${answer.error}`);
      return reply(res, status, answer);
    }
    if (req.method === 'POST' && url === '/hold') {
      const body = await readJson(req);
      const ms = body && Number.isSafeInteger(body.ms) && body.ms >= 0 ? body.ms : null;
      if (ms === null) return reply(res, 400, { error: '"ms" must be a non-negative integer' });
      holdNextMs = ms;
      return reply(res, 200, { hold_ms: ms });
    }
    return reply(res, 404, { error: `no ${req.method} ${url}; try GET /cursor or POST /push` });
  });

  server.listen(opts.port, opts.host, () => {
    const { port } = server.address();
    console.log(`channel listening on http://${opts.host}:${port} (log ${opts.log}, ${log.lines} changes, cursor ${log.cursor})`);
  });
  server.on('error', (err) => {
    console.error(`channel: ${err.message}`);
    process.exit(1);
  });
  const stop = (sig) => {
    console.log(`channel: ${sig}, stopping at cursor ${log.cursor}`);
    server.close(() => process.exit(0));
    server.closeAllConnections?.();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main();
