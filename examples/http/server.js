#!/usr/bin/env node
// A Sellbrite-compatible HTTP front for the inventory extension:
//   PUT   /inventory  -> inventory.inventory_adjust(body, true,  Idempotency-Key)
//   PATCH /inventory  -> inventory.inventory_adjust(body, false, Idempotency-Key)
//   GET   /inventory  -> inventory.inventory_get_json(...) (+ a count for Total-Pages)
// (also under /v1/inventory, Sellbrite's path).  HTTP Basic credentials are
// the PostgreSQL role and password of the connection: PostgreSQL checks
// them, the server keeps no users of its own.  Only `pg` and Node's
// standard library; Node 18 or later.  See README.md next to this file.
'use strict';

const http = require('node:http');
const crypto = require('node:crypto');
const { Pool } = require('pg');

const MAX_BODY_BYTES = 1024 * 1024;   // 50 items with 1000-character descriptions fit many times over
const QUEUE_FULL_RETRY_AFTER = 5;     // seconds, for 503 responses
const GET_PARAMS = ['limit', 'page', 'cursor', 'warehouse_uuid', 'sku',
  'created_at_min', 'created_at_max', 'updated_at_min', 'updated_at_max'];
const TIME_PARAMS = ['created_at_min', 'created_at_max', 'updated_at_min', 'updated_at_max'];
const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
// ISO 8601 as Sellbrite writes it (2017-01-06T22:28:42Z), with optional
// seconds, fraction and zone; a time without a zone is UTC (the sessions run
// with TimeZone UTC).  PostgreSQL then checks the fields' ranges.
const TIME_RE = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)?)?$/;

// Settings from the command line (--port N, --listen ADDR) and the
// environment (PORT, LISTEN_ADDRESS, INVENTORY_HTTP_POOL_SIZE,
// INVENTORY_HTTP_MAX_POOLS); the database from PGHOST, PGPORT, PGDATABASE.
function readSettings(argv, env) {
  const opts = {};
  for (let i = 0; i < argv.length; i++) {
    const m = /^--(port|listen)(?:=(.*))?$/.exec(argv[i]);
    if (!m) throw new Error(`unknown argument "${argv[i]}" (use --port N and --listen ADDRESS)`);
    opts[m[1]] = m[2] !== undefined ? m[2] : argv[++i];
    if (opts[m[1]] === undefined) throw new Error(`--${m[1]} needs a value`);
  }
  const int = (name, text, min, max) => {
    if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max)
      throw new Error(`${name} must be a whole number from ${min} to ${max}, not "${text}"`);
    return Number(text);
  };
  if (!env.PGDATABASE)
    throw new Error('set PGDATABASE to the database that has the inventory extension (and PGHOST, PGPORT to reach it)');
  return {
    port: int('the port', opts.port ?? env.PORT ?? '3000', 0, 65535),
    listen: opts.listen ?? env.LISTEN_ADDRESS ?? '127.0.0.1',
    poolSize: int('INVENTORY_HTTP_POOL_SIZE', env.INVENTORY_HTTP_POOL_SIZE ?? '4', 1, 100),
    maxPools: int('INVENTORY_HTTP_MAX_POOLS', env.INVENTORY_HTTP_MAX_POOLS ?? '20', 1, 1000),
  };
}

// One line on stdout (requests) or stderr (errors), with the time.
function log(stream, text) {
  stream.write(`${new Date().toISOString()} ${text}\n`);
}

// An error carrying the HTTP response to send.  Every error body has
// "error" (one line) and "errors" (a list of {message}, with "item" or
// "param" where one is at fault).
class HttpError extends Error {
  constructor(status, body, headers = {}) {
    super(body.error);
    this.status = status;
    this.body = body.errors ? body
      : { error: body.error, errors: [{ message: body.detail ? `${body.error}: ${body.detail}` : body.error }], ...body };
    this.headers = headers;
  }
}

// The pools, one per (role, password), at most maxPools: the least recently
// used is closed to make room.  Keyed by the password too, so that a wrong
// password never reaches a connection opened with the right one; a pool
// whose credentials PostgreSQL refuses is closed.
class Pools {
  constructor(settings) {
    this.settings = settings;
    this.pools = new Map();   // key -> Pool, in order of last use
  }

  // The pool of these credentials, moved to the end of the LRU order.
  get(user, password) {
    const key = crypto.createHash('sha256').update(user).update('\0').update(password).digest('hex');
    let pool = this.pools.get(key);
    if (pool) {
      this.pools.delete(key);
      this.pools.set(key, pool);
      return { key, pool };
    }
    while (this.pools.size >= this.settings.maxPools) {
      // the least recently used pool that no request is using, else the least recently used
      let victim = this.pools.keys().next().value;
      for (const [k, p] of this.pools) {
        if (p.totalCount === p.idleCount && p.waitingCount === 0) { victim = k; break; }
      }
      this.drop(victim);
    }
    pool = new Pool({
      user, password,                       // host, port, database: PGHOST, PGPORT, PGDATABASE
      max: this.settings.poolSize,
      idleTimeoutMillis: 10000,
      maxLifetimeSeconds: 300,              // a changed password or dropped role takes effect within this
      connectionTimeoutMillis: 10000,
      application_name: 'inventory-http',
      options: '-c TimeZone=UTC',
    });
    pool.on('error', (err) => log(process.stderr, `idle connection of role ${JSON.stringify(user)} lost: ${err.message}`));
    this.pools.set(key, pool);
    return { key, pool };
  }

  // Close and forget the pool of key (its credentials were refused).
  drop(key) {
    const pool = this.pools.get(key);
    if (pool) {
      this.pools.delete(key);
      pool.end().catch(() => {});
    }
  }

  // Close every pool (shutdown).
  async endAll() {
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.allSettled(all.map((p) => p.end()));
  }
}

// The Basic credentials of a request, or a 401.
function credentials(req) {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(req.headers.authorization || '');
  const text = m ? Buffer.from(m[1], 'base64').toString('utf8') : '';
  const colon = text.indexOf(':');
  const user = colon > 0 ? text.slice(0, colon) : '';
  const password = colon > 0 ? text.slice(colon + 1) : '';
  // pg takes an empty user or password from PGUSER/PGPASSWORD: never let it
  if (user === '' || password === '')
    throw unauthorized('HTTP Basic: Access denied. Give a database role and its password.');
  return { user, password };
}

// A 401 that asks for Basic credentials.
function unauthorized(message) {
  return new HttpError(401, { error: message }, { 'WWW-Authenticate': 'Basic realm="inventory", charset="UTF-8"' });
}

// The request body as text: at most MAX_BODY_BYTES, valid UTF-8.
async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES)
      throw new HttpError(413, { error: `the body is larger than ${MAX_BODY_BYTES} bytes; send at most 50 items a request` },
        { Connection: 'close' });
    chunks.push(chunk);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch (e) {
    throw badRequest('the body is not valid UTF-8');
  }
}

// A 400 with one message.
function badRequest(message) {
  return new HttpError(400, { error: message });
}

// A PostgreSQL error from inventory_adjust's validation (SQLSTATE 22023,
// 54000, ...) as a 400: each "Item N: ..." line of the DETAIL becomes one
// entry {item, message}; other errors one entry with message and detail.
function validationError(err) {
  const lines = (err.detail || '').split('\n');
  const items = [];
  for (const line of lines) {
    const m = /^Item (\d+): (.*)$/.exec(line);
    if (m) items.push({ item: Number(m[1]), message: m[2] });
    else if (items.length && line !== '') items[items.length - 1].message += ' ' + line;
  }
  const body = { error: err.message };
  if (items.length) body.errors = items;
  else if (err.detail) body.detail = err.detail;
  if (err.hint) body.hint = err.hint;
  return new HttpError(400, body);
}

// Map an error of pg (a PostgreSQL error with its SQLSTATE, or a network
// error) to the HTTP response; unexpected ones become a 500 without detail.
function fromDatabase(err, context) {
  const code = err.code || '';
  if (code === '28P01' || code === '28000')
    return unauthorized('HTTP Basic: Access denied. The database refused this role or password.');
  if (code === '42501')
    return new HttpError(403, { error: err.message,
      hint: err.hint || 'The role needs the grants of "Privileges" in the inventory README.' });
  if (context === 'adjust' && code === '22P02' && /json/i.test(err.message))
    return badRequest(`the body is not valid JSON: ${err.detail || err.message}`);
  if (code === '23505' && /idempotency key/.test(err.message))
    return new HttpError(422, { error: err.message, detail: err.detail, hint: err.hint });
  if (code === '53400')
    return new HttpError(503, { error: err.message, detail: err.detail, hint: err.hint },
      { 'Retry-After': String(QUEUE_FULL_RETRY_AFTER) });
  if (code.startsWith('22') || code === '54000' || code === '0A000')
    return validationError(err);
  // busy or going away: try again soon
  if (['53300', '57P01', '57P03', '55P03', '40001', '40P01', '57014'].includes(code)
      || ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN'].includes(code)
      || /timeout exceeded when trying to connect|Connection terminated/.test(err.message))
    return new HttpError(503, { error: 'the database is not available right now; try again shortly' },
      { 'Retry-After': '1' });
  return null;
}

// Run fn(client) on a connection of the request's role.  A pool is kept
// only once PostgreSQL accepted its credentials.
async function withClient(pools, creds, context, fn) {
  const { key, pool } = pools.get(creds.user, creds.password);
  let client;
  try {
    client = await pool.connect();
  } catch (err) {
    if (err.code === '28P01' || err.code === '28000') pools.drop(key);
    throw fromDatabase(err, context) || err;
  }
  let broken;
  try {
    return await fn(client);
  } catch (err) {
    if (!err.code || err.code.startsWith('08') || err.code.startsWith('57P')) broken = err;
    throw fromDatabase(err, context) || err;
  } finally {
    client.release(broken);
  }
}

// PUT or PATCH /inventory: queue the body with inventory_adjust; 200 with
// the batch id.  The body goes to PostgreSQL as text cast to jsonb, so the
// extension alone decides what is valid.
async function adjust(req, pools, createMissing) {
  const creds = credentials(req);
  const body = await readBody(req);
  if (body.trim() === '')
    throw badRequest('the body is empty; send {"inventory": [ {"sku", "warehouse_uuid", "on_hand" or "available"}, ... ]}');
  const key = req.headers['idempotency-key'];
  const id = await withClient(pools, creds, 'adjust', async (client) => {
    const r = await client.query(
      'SELECT inventory.inventory_adjust($1::text::jsonb, $2, $3)::text AS id',
      [body, createMissing, key === undefined ? null : key]);
    return r.rows[0].id;
  });
  // the id as PostgreSQL wrote it (a bigint), not through a JS number
  return { status: 200, text: `{"message":"Request received","batch_id":${id}}` };
}

// The query parameters of GET /inventory, checked; all problems at once.
function getParams(url) {
  const errors = [];
  const p = {};
  for (const name of new Set(url.searchParams.keys())) {
    const values = url.searchParams.getAll(name);
    if (!GET_PARAMS.includes(name))
      errors.push({ param: name, message: `unknown parameter "${name}"; known: ${GET_PARAMS.join(', ')}` });
    else if (values.length > 1)
      errors.push({ param: name, message: `"${name}" is given ${values.length} times; give it once` });
    else if (values[0] === '')
      errors.push({ param: name, message: `"${name}" is empty; give a value or leave it out` });
    else p[name] = values[0];
  }
  for (const name of ['limit', 'page']) {
    if (p[name] !== undefined && !/^[0-9]{1,9}$/.test(p[name]))
      errors.push({ param: name, message: `"${name}" must be a whole number${name === 'limit' ? ' from 1 to 100' : ' from 1'}, not "${p[name]}"` });
  }
  if (p.warehouse_uuid !== undefined && !UUID_RE.test(p.warehouse_uuid))
    errors.push({ param: 'warehouse_uuid', message: `"warehouse_uuid" must be a UUID like "5b1e7a9c-0d2f-4e6a-9b3c-1f2e3d4c5b6a", not "${p.warehouse_uuid}"` });
  for (const name of TIME_PARAMS) {
    // a "+02:00" zone sent unencoded arrives as " 02:00"
    if (p[name] !== undefined) p[name] = p[name].replace(/(:\d{2}(?:\.\d+)?) (\d{2}(?::?\d{2})?)$/, '$1+$2');
    if (p[name] !== undefined && !TIME_RE.test(p[name]))
      errors.push({ param: name, message: `"${name}" must be an ISO 8601 time like 2017-01-06T22:28:42Z, not "${p[name]}"` });
  }
  if (errors.length)
    throw new HttpError(400, { error: `invalid query: ${errors.map((e) => e.message).join('; ')}`, errors });
  return p;
}

// GET /inventory: one page of inventory_get_json, as Sellbrite's bare array;
// Total-Pages (a count of the matching rows, in the page's snapshot) when
// paging by page, Next-Cursor when another row follows.
async function getInventory(req, url, pools) {
  const creds = credentials(req);
  const p = getParams(url);
  const limit = p.limit !== undefined ? Number(p.limit) : 100;
  const args = [p.sku ?? null, p.warehouse_uuid ?? null,
    p.created_at_min ?? null, p.created_at_max ?? null, p.updated_at_min ?? null, p.updated_at_max ?? null,
    limit, p.cursor ?? null, p.page !== undefined ? Number(p.page) : null];
  return withClient(pools, creds, 'get', async (client) => {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      const page = await client.query(
        `SELECT (j -> 'inventory')::text AS rows, j ->> 'next_cursor' AS next_cursor
           FROM inventory.inventory_get_json($1::text, $2::uuid, $3::timestamptz, $4::timestamptz,
                                             $5::timestamptz, $6::timestamptz, $7::integer, $8::text, $9::integer) AS j`,
        args);
      const headers = {};
      if (page.rows[0].next_cursor !== null) headers['Next-Cursor'] = page.rows[0].next_cursor;
      if (p.cursor === undefined) {
        // the filters of inventory_get, for its rows' count
        const conds = [];
        const vals = [];
        const add = (sql, v) => { vals.push(v); conds.push(sql.replace('?', `$${vals.length}`)); };
        if (p.sku !== undefined) add('sku = ?::text', p.sku);
        if (p.warehouse_uuid !== undefined) add('warehouse_uuid = ?::uuid', p.warehouse_uuid);
        if (p.created_at_min !== undefined) add('created_at >= ?::timestamptz', p.created_at_min);
        if (p.created_at_max !== undefined) add('created_at <= ?::timestamptz', p.created_at_max);
        if (p.updated_at_min !== undefined) add('updated_at >= ?::timestamptz', p.updated_at_min);
        if (p.updated_at_max !== undefined) add('updated_at <= ?::timestamptz', p.updated_at_max);
        const count = await client.query(
          `SELECT count(*)::text AS n FROM inventory.inventory_levels${conds.length ? ' WHERE ' + conds.join(' AND ') : ''}`,
          vals);
        headers['Total-Pages'] = String((BigInt(count.rows[0].n) + BigInt(limit) - 1n) / BigInt(limit));
      }
      await client.query('COMMIT');
      return { status: 200, text: page.rows[0].rows, headers };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
  });
}

// Write a JSON response (text already JSON, or an object).
function send(res, status, payload, headers = {}) {
  const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(text);
}

// Route one request; every error becomes a JSON response, never a trace.
async function handle(req, res, pools, state) {
  const started = Date.now();
  let status = 500;
  let user = '-';
  try {
    const url = new URL(req.url, 'http://localhost');
    const path = url.pathname.replace(/\/+$/, '');
    if (path !== '/inventory' && path !== '/v1/inventory')
      throw new HttpError(404, { error: `no such resource: ${url.pathname} (this server has /inventory)` });
    const m = /^Basic\s+(\S+)/i.exec(req.headers.authorization || '');
    if (m) user = Buffer.from(m[1], 'base64').toString('utf8').split(':')[0] || '-';
    let result;
    if (req.method === 'PUT') result = await adjust(req, pools, true);
    else if (req.method === 'PATCH') result = await adjust(req, pools, false);
    else if (req.method === 'GET' || req.method === 'HEAD') result = await getInventory(req, url, pools);
    else
      throw new HttpError(405, { error: `method ${req.method} is not allowed on /inventory; use GET, PUT or PATCH` },
        { Allow: 'GET, HEAD, PUT, PATCH' });
    status = result.status;
    send(res, status, result.text, { ...result.headers, ...(state.closing ? { Connection: 'close' } : {}) });
  } catch (err) {
    if (err instanceof HttpError) {
      status = err.status;
      if (status >= 500) log(process.stderr, `${req.method} ${req.url}: ${status} ${err.message}`);
      send(res, status, err.body, { ...err.headers, ...(state.closing ? { Connection: 'close' } : {}) });
    } else {
      status = 500;
      log(process.stderr, `${req.method} ${req.url}: unexpected error: ${err.stack || err}`);
      if (!res.headersSent) send(res, 500, { error: 'internal server error; the server log has the details' });
      else res.destroy();
    }
  } finally {
    log(process.stdout, `${req.method} ${req.url} ${status} ${Date.now() - started}ms user=${JSON.stringify(user)}`);
  }
}

// Start the server; stop it gracefully on SIGTERM or SIGINT: no new
// connections, requests in progress finish, then the pools close.
function main() {
  let settings;
  try {
    settings = readSettings(process.argv.slice(2), process.env);
  } catch (e) {
    log(process.stderr, `inventory http: ${e.message}`);
    process.exit(2);
  }
  const pools = new Pools(settings);
  const state = { closing: false };
  const server = http.createServer((req, res) => { handle(req, res, pools, state); });
  server.on('clientError', (err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  server.on('error', (err) => {
    log(process.stderr, `inventory http: cannot listen on ${settings.listen}:${settings.port}: ${err.message}`);
    process.exit(1);
  });
  server.listen(settings.port, settings.listen, () => {
    const a = server.address();
    log(process.stdout, `inventory http: listening on http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`
      + ` (database ${process.env.PGDATABASE} at ${process.env.PGHOST || 'localhost'}:${process.env.PGPORT || 5432})`);
  });

  const stop = (signal) => {
    if (state.closing) {
      log(process.stderr, `inventory http: ${signal} again, exiting now`);
      process.exit(1);
    }
    state.closing = true;
    log(process.stdout, `inventory http: ${signal}, finishing requests in progress`);
    setTimeout(() => {
      log(process.stderr, 'inventory http: requests still running after 10 s, exiting');
      process.exit(1);
    }, 10000).unref();
    server.close(async () => {
      await pools.endAll();
      log(process.stdout, 'inventory http: shut down');
      process.exit(0);
    });
    if (server.closeIdleConnections) server.closeIdleConnections();   // Node 18.2+
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main();
