#!/usr/bin/env node
// The listing-sync consumer: reads inventory_changes() page by page and
// pushes each page of available quantities to a channel (channel.js),
// which keeps the cursor: a push is accepted only after the cursor the
// channel holds, and moves it, in one step.  So a consumer killed at any
// point resumes where the channel says and sends nothing twice.
//
// Connects with the standard PG* environment variables (PGHOST, PGPORT,
// PGDATABASE, PGUSER, PGPASSWORD, ...).  Settings (environment):
//   CHANNEL_URL   the channel (default http://127.0.0.1:8081)
//   PAGE_SIZE     changes per call and push (default 500)
//   IDLE_WAIT_MS  after a short page, longest wait for a notification
//                 before calling again: the safety net (default 1000)
// Exit status: 0 stopped by SIGTERM/SIGINT, 1 unexpected error, 2 bad
// settings or a database error that retrying cannot fix, 3 the channel's
// cursor is beyond the last change of this database (IN003), 4 changes
// after the channel's cursor were pruned by retention (IN005).
'use strict';

const http = require('node:http');
const { Client, DatabaseError } = require('pg');

const EXIT_FATAL = 2;
const EXIT_CURSOR_BEYOND = 3;
const EXIT_CURSOR_PRUNED = 4;
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5000;

// A whole number from the environment, or the default.
function intEnv(name, dflt, min) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) fail(EXIT_FATAL, `${name} must be a whole number of at least ${min}, not "${raw}"`);
  return n;
}

const CHANNEL_URL = new URL(process.env.CHANNEL_URL || 'http://127.0.0.1:8081');
const PAGE_SIZE = intEnv('PAGE_SIZE', 500, 1);
const IDLE_WAIT_MS = intEnv('IDLE_WAIT_MS', 1000, 1);

// Log a line to stdout, prefixed.
function log(msg) {
  console.log(`consumer: ${msg}`);
}

// Log to stderr and exit with `code`.
function fail(code, msg) {
  console.error(`consumer: ${msg}`);
  process.exit(code);
}

// Resolve after `ms` milliseconds, or earlier at wakeAll() (a
// notification, a dropped connection, a stop).
function sleep(ms) {
  return new Promise((resolve) => {
    const early = () => {
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(() => {
      wake = wake.filter((f) => f !== early);
      resolve();
    }, ms);
    wake.push(early);
  });
}

// Sleepers to wake early.
let wake = [];
function wakeAll() {
  const w = wake;
  wake = [];
  for (const f of w) f();
}

let stopping = false;
let notified = 0; // notifications received; only ever a reason to read again

// One HTTP request to the channel with a JSON body; resolves {status, body}.
function channelRequest(method, path, payload) {
  return new Promise((resolve, reject) => {
    const data = payload === undefined ? null : Buffer.from(JSON.stringify(payload));
    const req = http.request(
      new URL(path, CHANNEL_URL),
      {
        method,
        headers: data ? { 'content-type': 'application/json', 'content-length': data.length } : {},
        timeout: 30000,
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
          } catch (err) {
            reject(new Error(`channel answered ${res.statusCode} with a body that is not JSON`));
          }
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('channel did not answer within 30 s')));
    req.on('error', reject);
    req.end(data);
  });
}

// The channel's cursor, retrying with backoff while it cannot be reached.
async function channelCursor() {
  for (let delay = BACKOFF_MIN_MS; !stopping; delay = Math.min(delay * 2, BACKOFF_MAX_MS)) {
    try {
      const { status, body } = await channelRequest('GET', '/cursor');
      if (status === 200 && Number.isSafeInteger(body.cursor)) return body.cursor;
      log(`channel answered GET /cursor with ${status}: ${JSON.stringify(body)}; retrying in ${delay} ms`);
    } catch (err) {
      log(`channel unreachable (${err.message}); retrying in ${delay} ms`);
    }
    await sleep(delay);
  }
  return null;
}

// Whether a database error may pass by reconnecting and trying again:
// connection loss (no SQLSTATE, class 08), shutdown or cancel (57),
// resources (53), serialization or deadlock (40), a lock timeout (55P03).
function transient(err) {
  if (!(err instanceof DatabaseError)) return true; // a socket error: the connection is gone
  return /^(08|57|53|40)/.test(err.code) || err.code === '55P03';
}

// Connect and LISTEN, retrying transient failures with backoff; the
// client, or null when stopping.
async function connect() {
  for (let delay = BACKOFF_MIN_MS; !stopping; delay = Math.min(delay * 2, BACKOFF_MAX_MS)) {
    const client = new Client({ application_name: process.env.PGAPPNAME || 'listing-sync-consumer' });
    client.on('error', (err) => {
      // The connection dropped while idle: the next query fails and
      // reconnects; wake the loop so that it notices now.
      client.broken = err;
      wakeAll();
    });
    client.on('notification', () => {
      notified++;
      wakeAll();
    });
    try {
      await client.connect();
      // inventory_changes() needs READ COMMITTED (each statement its own
      // snapshot), whatever the role's or database's default.
      await client.query('SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED');
      await client.query('LISTEN inventory_changes');
      return client;
    } catch (err) {
      client.end().catch(() => {});
      if (!transient(err) || err.code === '28P01' || err.code === '3D000')
        fail(EXIT_FATAL, `cannot connect to the database: ${err.message}`);
      log(`cannot connect to the database (${err.message}); retrying in ${delay} ms`);
      await sleep(delay);
    }
  }
  return null;
}

// The page of changes after `cursor`, as the channel takes them.
async function readPage(client, cursor) {
  const res = await client.query(
    `SELECT change_id::text AS change_id, sku, warehouse_uuid::text AS warehouse_uuid, available::text AS available
       FROM inventory.inventory_changes($1::bigint, $2::integer)`,
    [String(cursor), PAGE_SIZE],
  );
  return res.rows.map((r) => ({
    change_id: safeInt(r.change_id, 'change_id'),
    sku: r.sku,
    warehouse_uuid: r.warehouse_uuid,
    available: safeInt(r.available, 'available'),
  }));
}

// A bigint column as a JavaScript number, refusing one JSON cannot carry exactly.
function safeInt(text, what) {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) fail(1, `${what} ${text} is beyond what JSON numbers carry exactly`);
  return n;
}

// Push a page to the channel after `cursor`; the cursor to go on from:
// the channel's answer (accepted or not), or null when the channel could
// not be reached (then ask it again: the push may have landed).
async function push(cursor, changes) {
  let res;
  try {
    res = await channelRequest('POST', '/push', { after: cursor, changes });
  } catch (err) {
    log(`push after ${cursor} failed (${err.message}); asking the channel for its cursor`);
    return null;
  }
  const { status, body } = res;
  const first = changes[0].change_id;
  const last = changes[changes.length - 1].change_id;
  if (status === 200 && body.cursor === last) {
    log(`pushed ${changes.length} changes (ids ${first}..${last}), cursor ${last}`);
    return last;
  }
  if (status === 409 && Number.isSafeInteger(body.cursor)) {
    log(`push after ${cursor} refused: the channel's cursor is ${body.cursor}; going on from there`);
    return body.cursor;
  }
  fail(1, `channel answered the push after ${cursor} with ${status}: ${JSON.stringify(body)}`);
}

// Wait until a notification came after `seen`, `ms` passed, or a stop.
async function waitForChanges(seen, ms) {
  if (notified !== seen || stopping) return;
  await sleep(ms);
}

// The loop: read a page after the channel's cursor, push it, go on from
// what the channel acknowledged; after a short page wait for a
// notification (a hint only) or the safety-net timeout.
async function main() {
  log(`channel ${CHANNEL_URL.origin}, pages of ${PAGE_SIZE}, idle wait ${IDLE_WAIT_MS} ms`);
  let cursor = await channelCursor();
  if (cursor === null) return;
  log(`starting from the channel's cursor ${cursor}`);
  let client = null;
  for (let delay = BACKOFF_MIN_MS; !stopping; ) {
    if (client === null) {
      client = await connect();
      if (client === null) break;
      log('connected, listening on inventory_changes');
    }
    const seen = notified;
    let changes;
    try {
      if (client.broken) throw client.broken;
      changes = await readPage(client, cursor);
      delay = BACKOFF_MIN_MS;
    } catch (err) {
      if (err.code === 'IN003') {
        fail(EXIT_CURSOR_BEYOND,
          `the channel's cursor ${cursor} is beyond the last change of this database: ${err.message}\n` +
          `${err.detail ?? ''}\n` +
          'The cursor belongs to another database or to an earlier installation of the extension. ' +
          'To send every change again from cursor 0, start the channel with a new, empty log ' +
          '(move the old one aside); keep one channel log per database.');
      }
      if (err.code === 'IN005') {
        fail(EXIT_CURSOR_PRUNED,
          `the channel's cursor ${cursor} is older than the retention horizon: ${err.message}\n` +
          `${err.detail ?? ''}\n${err.hint ?? ''}\n` +
          'The consumer was stopped longer than inventory.retention. Send every listing its current ' +
          'quantity again, then start the channel with a log whose last line carries the cursor the hint gives.');
      }
      if (!transient(err)) fail(EXIT_FATAL, `reading inventory_changes failed: ${err.message} (SQLSTATE ${err.code})`);
      log(`database connection lost (${err.message}); reconnecting in ${delay} ms`);
      client.end().catch(() => {});
      client = null;
      await sleep(delay);
      delay = Math.min(delay * 2, BACKOFF_MAX_MS);
      continue;
    }
    if (changes.length > 0) {
      const next = await push(cursor, changes);
      cursor = next ?? (await channelCursor()) ?? cursor;
      if (next === null || next !== changes[changes.length - 1].change_id) continue;
    }
    if (changes.length < PAGE_SIZE) await waitForChanges(seen, IDLE_WAIT_MS);
  }
  if (client) await client.end().catch(() => {});
  log(`stopped at cursor ${cursor}`);
  process.exit(0);
}

// Stop after the page in hand (a push is never cut short: the channel
// would take it either way, and the next start asks it for the cursor).
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    log(`${sig}: stopping`);
    stopping = true;
    wakeAll();
  });
}

main().catch((err) => fail(1, `unexpected error: ${err.stack || err}`));
