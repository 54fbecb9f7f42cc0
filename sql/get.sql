-- Reading stock: inventory_get and inventory_get_json (Sellbrite's GET
-- /inventory).  This file's rows are in two warehouses of its own and were
-- created in 2030 (explicit created_at), so created_at_min => '2030-01-01'
-- selects them among the other files' rows.
\set A '44444444-4444-4444-8444-444444444444'
\set B '55555555-5555-4555-8555-555555555555'
\set VERBOSITY default
\set SHOW_CONTEXT never

INSERT INTO inventory_warehouses (uuid, name) VALUES (:'A', 'Get A'), (:'B', 'Get B');
-- SKUs compare bytewise: GET-10 < GET-9 < GET-B < GET-a
INSERT INTO inventory_levels (sku, warehouse_uuid, on_hand, bin_location, cost, created_at, updated_at) VALUES
    ('GET-10', :'A', 10, 'A-1', 1.50, '2030-01-01 00:00+00', '2030-01-01 00:00+00'),
    ('GET-10', :'B', 11, NULL, NULL,  '2030-01-02 00:00+00', '2030-01-05 00:00+00'),
    ('GET-9',  :'A',  9, 'A-9', 9.99, '2030-01-03 00:00+00', '2030-01-03 00:00+00'),
    ('GET-B',  :'A', 20, NULL, 0,     '2030-01-04 00:00+00', '2030-01-06 00:00+00'),
    ('GET-B',  :'B', 21, NULL, NULL,  '2030-01-04 00:00+00', '2030-01-04 00:00+00'),
    ('GET-a',  :'B', 30, 'B-7', 2.00, '2030-01-05 00:00+00', '2030-01-07 00:00+00');
-- a reservation: reserved 4, available 5 (and updated_at is now, before 2030)
SELECT (inventory_reserve('GET-O1', 'GET-9', :'A', 4)).available;
-- and 120 rows created in 2029, for the limits
INSERT INTO inventory_levels (sku, warehouse_uuid, on_hand, created_at, updated_at)
SELECT 'GET-P-' || lpad(i::text, 3, '0'), :'B', i, '2029-06-01 00:00+00', '2029-06-01 00:00+00'
  FROM generate_series(1, 120) i;

-- What the filters select, shown as sku/warehouse (A or B).
CREATE TEMP VIEW get_wh (uuid, wh) AS
    VALUES ('44444444-4444-4444-8444-444444444444'::uuid, 'A'), ('55555555-5555-4555-8555-555555555555', 'B');
CREATE FUNCTION pg_temp.keys(rows inventory.inventory_stock[]) RETURNS text
    LANGUAGE sql AS $$
    SELECT COALESCE(string_agg(r.sku || '/' || COALESCE(w.wh, '?'), ' ' ORDER BY o), '(none)')
      FROM unnest(rows) WITH ORDINALITY AS r(sku, warehouse_uuid, on_hand, reserved, available,
                                               bin_location, cost, created_at, updated_at, incoming, cursor, o)
      LEFT JOIN get_wh w ON w.uuid = r.warehouse_uuid $$;

-- Every row of this file, in key order, with every column but the cursor.
SELECT g.sku, w.wh, g.on_hand, g.reserved, g.available, g.bin_location, g.cost,
       g.created_at AT TIME ZONE 'UTC' AS created_utc,
       CASE WHEN g.updated_at < '2029-01-01 00:00+00' THEN 'now' ELSE (g.updated_at AT TIME ZONE 'UTC')::text END AS updated_utc
  FROM inventory_get(created_at_min => '2030-01-01 00:00+00') g JOIN get_wh w ON w.uuid = g.warehouse_uuid;

-- Filters: sku is an exact, case-sensitive match (no prefix, no pattern);
-- time bounds are inclusive; NULL means "not given".
SELECT f, pg_temp.keys(r) FROM (VALUES
    ('sku GET-B',        ARRAY(SELECT g FROM inventory_get(sku => 'GET-B') g)),
    ('sku get-b',        ARRAY(SELECT g FROM inventory_get(sku => 'get-b') g)),
    ('sku GET-',         ARRAY(SELECT g FROM inventory_get(sku => 'GET-') g)),
    ('sku GET-%',        ARRAY(SELECT g FROM inventory_get(sku => 'GET-%') g)),
    ('warehouse B',      ARRAY(SELECT g FROM inventory_get(warehouse_uuid => :'B') g)),
    ('sku + warehouse',  ARRAY(SELECT g FROM inventory_get(sku => 'GET-10', warehouse_uuid => :'B') g)),
    ('unknown warehouse', ARRAY(SELECT g FROM inventory_get(warehouse_uuid => '66666666-6666-4666-8666-666666666666') g)),
    ('created 01-02..01-04', ARRAY(SELECT g FROM inventory_get(created_at_min => '2030-01-02 00:00+00', created_at_max => '2030-01-04 00:00+00') g)),
    ('created max 01-01', ARRAY(SELECT g FROM inventory_get(created_at_min => '2030-01-01 00:00+00', created_at_max => '2030-01-01 00:00+00') g)),
    ('updated min 01-05', ARRAY(SELECT g FROM inventory_get(updated_at_min => '2030-01-05 00:00+00') g)),
    ('updated 01-04..01-06', ARRAY(SELECT g FROM inventory_get(updated_at_min => '2030-01-04 00:00+00', updated_at_max => '2030-01-06 00:00+00') g)),
    ('updated max 01-03', ARRAY(SELECT g FROM inventory_get(created_at_min => '2030-01-01 00:00+00', updated_at_max => '2030-01-03 00:00+00') g)),
    ('min after max',    ARRAY(SELECT g FROM inventory_get(created_at_min => '2030-01-05 00:00+00', created_at_max => '2030-01-01 00:00+00') g)),
    ('all NULL but created', ARRAY(SELECT g FROM inventory_get(NULL, NULL, '2030-01-01 00:00+00', NULL, NULL, NULL, NULL, NULL, NULL) g)),
    ('warehouse A, updated min 01-03', ARRAY(SELECT g FROM inventory_get(warehouse_uuid => :'A', updated_at_min => '2030-01-03 00:00+00') g))
  ) AS t(f, r);

-- limit: 1 to 100, default (and NULL) 100; beyond is an error, not a
-- silent cap, so that a client stopping at "fewer rows than asked" never
-- stops early.
SELECT pg_temp.keys(ARRAY(SELECT g FROM inventory_get(created_at_min => '2030-01-01 00:00+00', "limit" => 2) g)) AS limit_2;
SELECT count(*) AS rows_default FROM inventory_get(created_at_min => '2029-01-01 00:00+00', created_at_max => '2029-12-31 00:00+00');
SELECT count(*) AS rows_null FROM inventory_get(created_at_min => '2029-01-01 00:00+00', created_at_max => '2029-12-31 00:00+00', "limit" => NULL);
SELECT count(*) AS rows_1, min(sku) FROM inventory_get(created_at_min => '2029-01-01 00:00+00', created_at_max => '2029-12-31 00:00+00', "limit" => 1);
SELECT * FROM inventory_get("limit" => 101);
SELECT * FROM inventory_get("limit" => 0);
SELECT * FROM inventory_get("limit" => -5);

-- The cursor: a row's own place in key order; pass the last row's to get
-- the rows after it.  Opaque to clients: base64url, without padding, of
-- the jsonb text [1, sku, warehouse_uuid].
SELECT cursor,
       convert_from(decode(translate(cursor, '-_', '+/') || repeat('=', (4 - length(cursor) % 4) % 4), 'base64'), 'UTF8') AS decoded
  FROM inventory_get(sku => 'GET-10', warehouse_uuid => :'A');
-- walking this file's rows two at a time, with and without a warehouse
DO $$
DECLARE
    c text;
    page text;
    n int := 0;
    wh_id uuid;
BEGIN
    FOREACH wh_id IN ARRAY ARRAY[NULL, '44444444-4444-4444-8444-444444444444', '55555555-5555-4555-8555-555555555555']::uuid[] LOOP
        c := NULL;
        n := 0;
        LOOP
            n := n + 1;
            SELECT pg_temp.keys(array_agg(ROW(g.sku, g.warehouse_uuid, g.on_hand, g.reserved, g.available, g.bin_location,
                                            g.cost, g.created_at, g.updated_at, g.incoming, g.cursor)::inventory.inventory_stock ORDER BY o)), (array_agg(g.cursor ORDER BY o DESC))[1] INTO page, c
              FROM inventory_get(warehouse_uuid => wh_id, created_at_min => '2030-01-01 00:00+00', "limit" => 2, cursor => c)
                   WITH ORDINALITY AS g(sku, warehouse_uuid, on_hand, reserved, available, bin_location, cost,
                                        created_at, updated_at, incoming, cursor, o);
            RAISE NOTICE 'warehouse %, page %: %', COALESCE((SELECT w.wh FROM get_wh w WHERE w.uuid = wh_id), 'any'), n, page;
            EXIT WHEN c IS NULL;
        END LOOP;
    END LOOP;
END
$$;
-- With a warehouse filter the cursor still means "after this key", even
-- a cursor taken from another warehouse's row: for every row of this file
-- as the cursor and each warehouse, the rows equal those after the key.
SELECT count(*) AS mismatches
  FROM inventory_get(created_at_min => '2030-01-01 00:00+00') c
 CROSS JOIN get_wh w
 WHERE ARRAY(SELECT g.sku || g.warehouse_uuid FROM inventory_get(warehouse_uuid => w.uuid, cursor => c.cursor) g)
       IS DISTINCT FROM
       ARRAY(SELECT l.sku || l.warehouse_uuid FROM inventory_levels l
              WHERE l.warehouse_uuid = w.uuid AND (l.sku, l.warehouse_uuid) > (c.sku COLLATE "C", c.warehouse_uuid)
              ORDER BY l.sku, l.warehouse_uuid LIMIT 100);
-- Walking the whole table 7 rows at a time gives every row once, in the
-- primary key's order (bytewise sku, then warehouse).
CREATE TEMP TABLE get_walk (n serial, sku text, warehouse_uuid uuid);
DO $$
DECLARE
    c text;
    r inventory.inventory_stock;
    got int;
BEGIN
    LOOP
        got := 0;
        FOR r IN SELECT * FROM inventory_get("limit" => 7, cursor => c) LOOP
            INSERT INTO get_walk (sku, warehouse_uuid) VALUES (r.sku, r.warehouse_uuid);
            c := r.cursor;
            got := got + 1;
        END LOOP;
        EXIT WHEN got < 7;
    END LOOP;
END
$$;
SELECT (SELECT count(*) FROM get_walk) = (SELECT count(*) FROM inventory_levels) AS every_row,
       (SELECT count(*) FROM (SELECT sku, warehouse_uuid FROM get_walk GROUP BY 1, 2 HAVING count(*) > 1) d) AS repeated,
       ARRAY(SELECT sku || warehouse_uuid FROM get_walk ORDER BY n)
         = ARRAY(SELECT sku || warehouse_uuid FROM inventory_levels ORDER BY sku COLLATE "C", warehouse_uuid) AS key_order;
-- A cursor is valid on its own: the row it names may be gone.
SELECT pg_temp.keys(ARRAY(SELECT g FROM inventory_get(created_at_min => '2030-01-01 00:00+00',
    cursor => translate(rtrim(encode(convert_to('[1, "GET-5", "00000000-0000-0000-0000-000000000000"]', 'UTF8'), 'base64'), '='), '+/', '-_')) g)) AS after_get_5;

-- Malformed cursors: one error (22023), nothing returned.
SELECT * FROM inventory_get(cursor => 'not a cursor');
SELECT * FROM inventory_get(cursor => '');
SELECT * FROM inventory_get(cursor => 'x');
SELECT * FROM inventory_get(cursor => '_-_-');       -- bytes that are not UTF-8
DO $$
DECLARE
    j text;
    state text;
BEGIN
    FOREACH j IN ARRAY ARRAY['{"sku": "GET-9"}', '[2, "GET-9", "44444444-4444-4444-8444-444444444444"]',
                             '[1, "GET-9"]', '[1, "GET-9", "not-a-uuid"]',
                             '[1, 9, "44444444-4444-4444-8444-444444444444"]',
                             '[1, "GET-9", "44444444-4444-4444-8444-444444444444", 0]', 'not json', '[1, "a\u0000", "44444444-4444-4444-8444-444444444444"]'] LOOP
        BEGIN
            PERFORM inventory_get(cursor => translate(rtrim(encode(convert_to(j, 'UTF8'), 'base64'), '='), '+/', '-_'));
            state := 'accepted';
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE;
            state := state || ' ' || SQLERRM;
        END;
        RAISE NOTICE '%: %', j, state;
    END LOOP;
END
$$;

-- page: Sellbrite's OFFSET paging, 1-based; not with a cursor.
SELECT p, pg_temp.keys(ARRAY(SELECT g FROM inventory_get(created_at_min => '2030-01-01 00:00+00', "limit" => 4, page => p) g))
  FROM generate_series(1, 3) p;
SELECT * FROM inventory_get(page => 0);
SELECT * FROM inventory_get(page => 1, cursor => (SELECT cursor FROM inventory_get("limit" => 1)));

-- The jsonb form: {"inventory": [rows with Sellbrite's field names],
-- "next_cursor": the cursor for the next page, null after the last one}.
-- Quantities are numbers (Sellbrite documents strings), times are UTC.
SELECT jsonb_pretty(inventory_get_json(created_at_min => '2030-01-01 00:00+00', "limit" => 2));
-- walking by next_cursor; a last page that is exactly full says null
DO $$
DECLARE
    body jsonb;
    c text;
    n int := 0;
BEGIN
    LOOP
        n := n + 1;
        body := inventory_get_json(created_at_min => '2030-01-01 00:00+00', "limit" => 2, cursor => c);
        RAISE NOTICE 'page %: % rows %, next_cursor %', n, jsonb_array_length(body -> 'inventory'),
            (SELECT string_agg(e ->> 'sku', ' ') FROM jsonb_array_elements(body -> 'inventory') e),
            CASE WHEN body -> 'next_cursor' = 'null' THEN 'null' ELSE 'set' END;
        c := body ->> 'next_cursor';
        EXIT WHEN c IS NULL;
    END LOOP;
END
$$;
SELECT inventory_get_json(sku => 'NO-SUCH-SKU');
SELECT inventory_get_json(sku => 'GET-a') -> 'inventory' -> 0 -> 'cost' AS cost,
       jsonb_typeof(inventory_get_json(sku => 'GET-a') -> 'inventory' -> 0 -> 'on_hand') AS on_hand_type;
SELECT inventory_get_json(sku => 'GET-10', page => 1, "limit" => 1) -> 'next_cursor' IS NOT NULL AS page_mode_has_next_cursor;
SELECT inventory_get_json("limit" => 200);
SELECT inventory_get_json(cursor => 'bad!');

-- Indexes.  The statements inventory_get builds, for the key-order page
-- after a cursor and for a warehouse's page after a cursor: the primary
-- key and inventory_levels_warehouse_idx give the rows in order, no sort
-- (at this small scale the planner would rather read the whole table).
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF)
SELECT l.sku FROM inventory_levels l
 WHERE true AND (l.sku, l.warehouse_uuid) OPERATOR(pg_catalog.>) ('GET-10' COLLATE pg_catalog."C", '44444444-4444-4444-8444-444444444444'::uuid)
 ORDER BY l.sku, l.warehouse_uuid LIMIT 100;
EXPLAIN (COSTS OFF)
SELECT l.sku FROM inventory_levels l
 WHERE true AND l.warehouse_uuid OPERATOR(pg_catalog.=) '55555555-5555-4555-8555-555555555555'::uuid
   AND l.sku OPERATOR(pg_catalog.>) ('GET-10' COLLATE pg_catalog."C")
 ORDER BY l.sku, l.warehouse_uuid LIMIT 100;
-- and the calls themselves: the index each one scanned, and no scan of
-- the table (this transaction's statistics)
CREATE TEMP VIEW get_scans AS
    SELECT pg_stat_get_xact_numscans('inventory.inventory_levels_pkey'::regclass) AS pkey,
           pg_stat_get_xact_numscans('inventory.inventory_levels_warehouse_idx'::regclass) AS warehouse_idx,
           pg_stat_get_xact_numscans('inventory.inventory_levels'::regclass) AS seq;
SELECT cursor AS c10a FROM inventory_get(sku => 'GET-10', warehouse_uuid => :'A') \gset
BEGIN;
SELECT pkey AS pkey0, warehouse_idx AS warehouse_idx0, seq AS seq0 FROM get_scans \gset
SELECT pg_temp.keys(ARRAY(SELECT g FROM inventory_get(cursor => :'c10a', "limit" => 3) g)) AS key_order_page;
SELECT pkey - :pkey0 AS pkey_scans, warehouse_idx - :warehouse_idx0 AS warehouse_idx_scans, seq - :seq0 AS seq_scans FROM get_scans;
SELECT pkey AS pkey0, warehouse_idx AS warehouse_idx0, seq AS seq0 FROM get_scans \gset
SELECT pg_temp.keys(ARRAY(SELECT g FROM inventory_get(warehouse_uuid => :'B', cursor => :'c10a', "limit" => 3) g)) AS warehouse_page;
SELECT pkey - :pkey0 AS pkey_scans, warehouse_idx - :warehouse_idx0 AS warehouse_idx_scans, seq - :seq0 AS seq_scans FROM get_scans;
ROLLBACK;
RESET enable_seqscan;
RESET enable_bitmapscan;

-- Privileges: SECURITY INVOKER.  The caller reads inventory_levels with its
-- own SELECT privilege (the README's recipe grants it), and row-level
-- security on the table applies to inventory_get as to a SELECT.
CREATE ROLE inventory_get_reader;
GRANT USAGE ON SCHEMA inventory TO inventory_get_reader;
GRANT EXECUTE ON FUNCTION
    inventory_get(text, uuid, timestamptz, timestamptz, timestamptz, timestamptz, integer, text, integer),
    inventory_get_json(text, uuid, timestamptz, timestamptz, timestamptz, timestamptz, integer, text, integer)
    TO inventory_get_reader;
SELECT p.proname, p.prosecdef, p.provolatile, p.proconfig,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute
  FROM pg_proc p WHERE p.pronamespace = 'inventory'::regnamespace AND p.proname LIKE 'inventory_get%' ORDER BY 1;
SET ROLE inventory_get_reader;
SELECT count(*) FROM inventory_get(sku => 'GET-B');
RESET ROLE;
GRANT SELECT ON inventory_levels, get_wh TO inventory_get_reader;
BEGIN;
ALTER TABLE inventory_levels ENABLE ROW LEVEL SECURITY;
CREATE POLICY get_only_a ON inventory_levels FOR SELECT TO inventory_get_reader
    USING (warehouse_uuid = '44444444-4444-4444-8444-444444444444');
SET ROLE inventory_get_reader;
SELECT pg_temp.keys(ARRAY(SELECT g FROM inventory_get(created_at_min => '2030-01-01 00:00+00') g)) AS reader_sees;
SELECT jsonb_array_length(inventory_get_json(created_at_min => '2030-01-01 00:00+00') -> 'inventory') AS reader_json_rows;
RESET ROLE;
ROLLBACK;
SET ROLE inventory_get_reader;
SELECT pg_temp.keys(ARRAY(SELECT g FROM inventory_get(created_at_min => '2030-01-01 00:00+00') g)) AS reader_sees_without_policy;
RESET ROLE;
REVOKE ALL ON inventory_levels, get_wh FROM inventory_get_reader;
REVOKE ALL ON FUNCTION
    inventory_get(text, uuid, timestamptz, timestamptz, timestamptz, timestamptz, integer, text, integer),
    inventory_get_json(text, uuid, timestamptz, timestamptz, timestamptz, timestamptz, integer, text, integer)
    FROM inventory_get_reader;
REVOKE ALL ON SCHEMA inventory FROM inventory_get_reader;
DROP ROLE inventory_get_reader;
