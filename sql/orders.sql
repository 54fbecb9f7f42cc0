-- Orders: inventory_reserve, inventory_release and inventory_fulfill, and the
-- statement triggers on inventory_reservations.  Reservations are the
-- source of inventory_levels.reserved: it is their sum per (sku, warehouse).
\set wh '11111111-1111-4111-8111-111111111111'
\set wh2 '22222222-2222-4222-8222-222222222222'
\set closed '33333333-3333-4333-8333-333333333333'
\set VERBOSITY default
\set SHOW_CONTEXT never

-- This file's level rows and open reservations (warehouse shown as main/overflow).
CREATE TEMP VIEW ord_levels AS
    SELECT sku, CASE warehouse_uuid WHEN '11111111-1111-4111-8111-111111111111' THEN 'main'
                                    WHEN '22222222-2222-4222-8222-222222222222' THEN 'overflow' END AS wh,
           on_hand, reserved, available
      FROM inventory_levels WHERE sku LIKE 'ORD-%';
CREATE TEMP VIEW ord_res AS
    SELECT order_ref, line_ref, sku,
           CASE warehouse_uuid WHEN '11111111-1111-4111-8111-111111111111' THEN 'main'
                               WHEN '22222222-2222-4222-8222-222222222222' THEN 'overflow' END AS wh,
           quantity
      FROM inventory_reservations WHERE sku LIKE 'ORD-%';
-- reserved is the sum of open reservations on every key of this file
CREATE TEMP VIEW ord_mismatch AS
    SELECT count(*) AS mismatched_keys
      FROM inventory_levels l
      FULL JOIN (SELECT sku, warehouse_uuid, sum(quantity) AS total
                   FROM inventory_reservations GROUP BY 1, 2) r
        ON r.sku = l.sku AND r.warehouse_uuid = l.warehouse_uuid
     WHERE COALESCE(l.sku, r.sku) LIKE 'ORD-%'
       AND (l.sku IS NULL OR l.reserved <> COALESCE(r.total, 0));

-- Stock to reserve against: ORD-A has on_hand 10.
SELECT inventory_adjust(format('[{"sku": "ORD-A", "warehouse_uuid": "%s", "on_hand": 10}]', :'wh')::jsonb) AS b \gset
SELECT inventory_wait(:b);

---------------------------------------------------------------------------
-- inventory_reserve
---------------------------------------------------------------------------
-- A reservation is recorded; reserved goes up, available down; the function
-- returns the level row.
SELECT sku, on_hand, reserved, available FROM inventory_reserve('ORD-1001', 'ORD-A', :'wh', 3);
SELECT * FROM ord_res ORDER BY order_ref, line_ref;
SELECT * FROM ord_levels ORDER BY sku, wh;
-- The same order line again adds to its quantity (still one row).
SELECT sku, on_hand, reserved, available FROM inventory_reserve('ORD-1001', 'ORD-A', :'wh', 2);
SELECT * FROM ord_res ORDER BY order_ref, line_ref;
-- A missing level row is created: on_hand 0, available negative (a visible
-- oversell).
SELECT count(*) AS rows_before FROM inventory_levels WHERE sku = 'ORD-NEW';
SELECT sku, on_hand, reserved, available FROM inventory_reserve('ORD-1002', 'ORD-NEW', :'wh2', 4);
SELECT * FROM ord_levels WHERE sku = 'ORD-NEW';

-- allow_oversell => false: available (5) would drop below zero, so the call
-- fails with SQLSTATE IN001 and changes nothing.
SELECT inventory_reserve('ORD-1003', 'ORD-A', :'wh', 6, allow_oversell => false);
\echo SQLSTATE :SQLSTATE
-- ... also for an existing order line
SELECT inventory_reserve('ORD-1001', 'ORD-A', :'wh', 6, allow_oversell => false);
\echo SQLSTATE :SQLSTATE
SELECT * FROM ord_levels WHERE sku = 'ORD-A';
SELECT * FROM ord_res WHERE sku = 'ORD-A' ORDER BY order_ref;
-- ... and a strict reservation of a key without a level row leaves no row.
SELECT inventory_reserve('ORD-1003', 'ORD-NONE', :'wh', 1, allow_oversell => false);
\echo SQLSTATE :SQLSTATE
SELECT count(*) AS none_rows FROM inventory_levels WHERE sku = 'ORD-NONE';
SELECT count(*) AS none_reservations FROM inventory_reservations WHERE sku = 'ORD-NONE';
-- Exactly at the limit (available = quantity) succeeds; one more does not.
SELECT sku, on_hand, reserved, available FROM inventory_reserve('ORD-1003', 'ORD-A', :'wh', 5, allow_oversell => false);
SELECT inventory_reserve('ORD-1004', 'ORD-A', :'wh', 1, allow_oversell => false);
\echo SQLSTATE :SQLSTATE
-- allow_oversell defaults to true: the same call without it oversells.
SELECT sku, on_hand, reserved, available FROM inventory_reserve('ORD-1004', 'ORD-A', :'wh', 1);
SELECT * FROM ord_res WHERE sku = 'ORD-A' ORDER BY order_ref;

-- Argument errors: each one is a clean error and changes nothing.
SELECT count(*) AS nres, sum(quantity) AS qres FROM inventory_reservations \gset
SELECT count(*) AS nlev, sum(reserved) AS rlev FROM inventory_levels \gset
-- NULL order_ref, sku, warehouse_uuid or quantity: SQLSTATE 22004
-- (null_value_not_allowed).
DO $$
DECLARE
    args text[] := ARRAY[
        'NULL, ''ORD-A'', ''11111111-1111-4111-8111-111111111111'', 1',
        '''ORD-1005'', NULL, ''11111111-1111-4111-8111-111111111111'', 1',
        '''ORD-1005'', ''ORD-A'', NULL, 1',
        '''ORD-1005'', ''ORD-A'', ''11111111-1111-4111-8111-111111111111'', NULL'];
    a text;
BEGIN
    FOREACH a IN ARRAY args LOOP
        BEGIN
            EXECUTE 'SELECT inventory_reserve(' || a || ')';
            RAISE NOTICE 'inventory_reserve(%): accepted', a;
        EXCEPTION WHEN null_value_not_allowed THEN
            RAISE NOTICE 'inventory_reserve(%): rejected as null', a;
        END;
    END LOOP;
END $$;
SELECT inventory_reserve('ORD-1005', 'ORD-A', :'wh', 1, allow_oversell => NULL);
\echo SQLSTATE :SQLSTATE
SELECT inventory_reserve('', 'ORD-A', :'wh', 1);
\echo SQLSTATE :SQLSTATE
SELECT inventory_reserve(repeat('o', 256), 'ORD-A', :'wh', 1);
SELECT inventory_reserve('ORD-1005', '', :'wh', 1);
SELECT inventory_reserve('ORD-1005', 'ORD-A', :'wh', 0);
\echo SQLSTATE :SQLSTATE
SELECT inventory_reserve('ORD-1005', 'ORD-A', :'wh', -1);
SELECT inventory_reserve('ORD-1005', 'ORD-A', :'wh', 2147483648);
SELECT inventory_reserve('ORD-1005', 'ORD-UNREG', '99999999-9999-4999-8999-999999999999', 1);
\echo SQLSTATE :SQLSTATE
SELECT inventory_reserve('ORD-1005', 'ORD-CLOSED', :'closed', 1);
\echo SQLSTATE :SQLSTATE
-- sku, order_ref and line_ref obey inventory_adjust's rules (one validator,
-- in C): SQLSTATE 22023 and, in the DETAIL, the sentence adjust's DETAIL
-- gives for the same value.  sku: 1 to 255 characters, no control
-- characters, no leading or trailing space; order_ref and line_ref: 1 to
-- 255 characters, no control characters.
SELECT inventory_reserve('ORD-1005', ' ORD-A', :'wh', 1);
\echo SQLSTATE :SQLSTATE
SELECT inventory_reserve('ORD-1005', 'ORD-A ', :'wh', 1);
SELECT inventory_reserve('ORD-1005', E'ORD\tA', :'wh', 1);
SELECT inventory_reserve('ORD-1005', E'ORD-A\x7f', :'wh', 1);
SELECT inventory_reserve('ORD-1005', repeat('s', 256), :'wh', 1);
SELECT inventory_reserve(E'ORD\n1005', 'ORD-A', :'wh', 1);
SELECT inventory_reserve('ORD-1005', 'ORD-A', :'wh', 1, '');
SELECT inventory_reserve('ORD-1005', 'ORD-A', :'wh', 1, repeat('l', 256));
SELECT inventory_reserve('ORD-1005', 'ORD-A', :'wh', 1, E'L\x01');
SELECT inventory_release('ORD-1001', ' ORD-A', :'wh');
SELECT inventory_release('ORD-1001', 'ORD-A', :'wh', NULL, E'L\r');
SELECT inventory_fulfill(repeat('o', 256), 'ORD-A', :'wh');
SELECT inventory_fulfill('ORD-1001', E'ORD-A\n', :'wh', 1);
-- inventory_adjust says the same of the same sku
SELECT inventory_adjust(format('[{"sku": " ORD-A", "warehouse_uuid": "%s", "on_hand": 1}]', :'wh')::jsonb);
SELECT inventory_adjust(format('[{"sku": "ORD-A\u007f", "warehouse_uuid": "%s", "on_hand": 1}]', :'wh')::jsonb);
SELECT (SELECT count(*) FROM inventory_reservations) = :nres AS reservations_unchanged,
       (SELECT sum(quantity) FROM inventory_reservations) = :qres AS quantities_unchanged,
       (SELECT count(*) FROM inventory_levels) = :nlev AS level_rows_unchanged,
       (SELECT sum(reserved) FROM inventory_levels) = :rlev AS reserved_unchanged;
-- The largest quantity is accepted (checked, then rolled back), and so are
-- 255-character refs and skus, and refs with spaces around.
BEGIN;
SELECT sku, on_hand, reserved, available FROM inventory_reserve('ORD-1005', 'ORD-NEW', :'wh2', 2147483647);
SELECT sku = repeat('s', 255) AS long_sku, reserved
  FROM inventory_reserve(repeat('o', 255), repeat('s', 255), :'wh', 1, repeat('l', 255));
SELECT sku, reserved FROM inventory_reserve(' ORD-1006 ', 'ORD-NEW', :'wh2', 1, ' L1 ');
SELECT sku, reserved FROM inventory_release(' ORD-1006 ', 'ORD-NEW', :'wh2', NULL, ' L1 ');
ROLLBACK;
SELECT * FROM ord_levels WHERE sku = 'ORD-NEW';

---------------------------------------------------------------------------
-- inventory_release
---------------------------------------------------------------------------
SELECT inventory_adjust(format('[{"sku": "ORD-B", "warehouse_uuid": "%s", "on_hand": 10}]', :'wh')::jsonb) AS b \gset
SELECT inventory_wait(:b);
SELECT sku, on_hand, reserved, available FROM inventory_reserve('ORD-2001', 'ORD-B', :'wh', 6);
-- Partial: the reservation shrinks, available goes back up.
SELECT sku, on_hand, reserved, available FROM inventory_release('ORD-2001', 'ORD-B', :'wh', 2);
SELECT * FROM ord_res WHERE sku = 'ORD-B';
-- More than reserved: SQLSTATE IN002, nothing changes.
SELECT inventory_release('ORD-2001', 'ORD-B', :'wh', 5);
\echo SQLSTATE :SQLSTATE
SELECT * FROM ord_res WHERE sku = 'ORD-B';
SELECT * FROM ord_levels WHERE sku = 'ORD-B';
-- Full (quantity NULL, the default): the reservation is gone.
SELECT sku, on_hand, reserved, available FROM inventory_release('ORD-2001', 'ORD-B', :'wh');
SELECT count(*) AS open_lines FROM inventory_reservations WHERE order_ref = 'ORD-2001';
-- Exactly what is reserved is a full release too.
SELECT sku, on_hand, reserved, available FROM inventory_reserve('ORD-2002', 'ORD-B', :'wh', 4);
SELECT sku, on_hand, reserved, available FROM inventory_release('ORD-2002', 'ORD-B', :'wh', 4);
SELECT count(*) AS open_lines FROM inventory_reservations WHERE order_ref = 'ORD-2002';
-- An order without a reservation (unknown, already released, another sku or
-- warehouse): SQLSTATE IN002.
SELECT inventory_release('ORD-NOPE', 'ORD-B', :'wh');
\echo SQLSTATE :SQLSTATE
SELECT inventory_release('ORD-2001', 'ORD-B', :'wh', 1);
\echo SQLSTATE :SQLSTATE
SELECT inventory_release('ORD-1001', 'ORD-A', :'wh2');
\echo SQLSTATE :SQLSTATE
-- Argument errors (quantity may be NULL here, but not 0 or negative).
SELECT inventory_release(NULL, 'ORD-A', :'wh');
SELECT inventory_release('ORD-1001', 'ORD-A', :'wh', 0);
SELECT inventory_release('ORD-1001', 'ORD-A', :'wh', -2);
SELECT inventory_release('', 'ORD-A', :'wh');
SELECT * FROM ord_res WHERE sku = 'ORD-A' ORDER BY order_ref;
SELECT * FROM ord_levels WHERE sku = 'ORD-A';

---------------------------------------------------------------------------
-- inventory_fulfill
---------------------------------------------------------------------------
SELECT inventory_adjust(format('[{"sku": "ORD-C", "warehouse_uuid": "%s", "on_hand": 10}]', :'wh')::jsonb) AS b \gset
SELECT inventory_wait(:b);
SELECT sku, on_hand, reserved, available FROM inventory_reserve('ORD-3001', 'ORD-C', :'wh', 4);
-- Shipping 1: on_hand and reserved both drop by 1, available stays.
SELECT sku, on_hand, reserved, available FROM inventory_fulfill('ORD-3001', 'ORD-C', :'wh', 1);
SELECT * FROM ord_res WHERE sku = 'ORD-C';
-- More than reserved: an error, nothing changes.
SELECT inventory_fulfill('ORD-3001', 'ORD-C', :'wh', 4);
\echo SQLSTATE :SQLSTATE
SELECT * FROM ord_res WHERE sku = 'ORD-C';
SELECT * FROM ord_levels WHERE sku = 'ORD-C';
SELECT inventory_fulfill('ORD-NOPE', 'ORD-C', :'wh');
\echo SQLSTATE :SQLSTATE
-- The rest (quantity NULL): the reservation disappears.
SELECT sku, on_hand, reserved, available FROM inventory_fulfill('ORD-3001', 'ORD-C', :'wh');
SELECT count(*) AS open_lines FROM inventory_reservations WHERE order_ref = 'ORD-3001';

---------------------------------------------------------------------------
-- An order with two lines of the same sku
---------------------------------------------------------------------------
SELECT inventory_adjust(format('[{"sku": "ORD-D", "warehouse_uuid": "%s", "on_hand": 20}]', :'wh')::jsonb) AS b \gset
SELECT inventory_wait(:b);
SELECT sku, on_hand, reserved, available FROM inventory_reserve('ORD-4001', 'ORD-D', :'wh', 2, 'L1');
SELECT sku, on_hand, reserved, available FROM inventory_reserve('ORD-4001', 'ORD-D', :'wh', 3, 'L2');
SELECT sku, on_hand, reserved, available FROM inventory_reserve('ORD-4001', 'ORD-D', :'wh', 1, 'L1');
SELECT * FROM ord_res WHERE order_ref = 'ORD-4001' ORDER BY line_ref;
-- Without line_ref the oldest line gives first.
SELECT sku, on_hand, reserved, available FROM inventory_release('ORD-4001', 'ORD-D', :'wh', 1);
SELECT * FROM ord_res WHERE order_ref = 'ORD-4001' ORDER BY line_ref;
-- With line_ref only that line, though L1 is older.
SELECT sku, on_hand, reserved, available FROM inventory_release('ORD-4001', 'ORD-D', :'wh', 1, 'L2');
SELECT * FROM ord_res WHERE order_ref = 'ORD-4001' ORDER BY line_ref;
-- More than the line holds is an error even though the order holds enough.
SELECT inventory_release('ORD-4001', 'ORD-D', :'wh', 3, 'L2');
\echo SQLSTATE :SQLSTATE
-- Across lines: L1 is used up (deleted) and L2 gives the rest.
SELECT sku, on_hand, reserved, available FROM inventory_fulfill('ORD-4001', 'ORD-D', :'wh', 3);
SELECT * FROM ord_res WHERE order_ref = 'ORD-4001' ORDER BY line_ref;
-- A line that is gone, or never existed.
SELECT inventory_fulfill('ORD-4001', 'ORD-D', :'wh', NULL, 'L1');
\echo SQLSTATE :SQLSTATE
SELECT inventory_release('ORD-4001', 'ORD-D', :'wh', NULL, 'L9');
\echo SQLSTATE :SQLSTATE
-- The whole of line L2.
SELECT sku, on_hand, reserved, available FROM inventory_fulfill('ORD-4001', 'ORD-D', :'wh', NULL, 'L2');
SELECT count(*) AS open_lines FROM inventory_reservations WHERE order_ref = 'ORD-4001';
-- The line without line_ref and a named line are different lines.
SELECT sku, on_hand, reserved, available FROM inventory_reserve('ORD-4002', 'ORD-D', :'wh', 1);
SELECT sku, on_hand, reserved, available FROM inventory_reserve('ORD-4002', 'ORD-D', :'wh', 2, 'L1');
SELECT * FROM ord_res WHERE order_ref = 'ORD-4002' ORDER BY line_ref NULLS FIRST;
SELECT sku, on_hand, reserved, available FROM inventory_release('ORD-4002', 'ORD-D', :'wh', NULL, 'L1');
SELECT * FROM ord_res WHERE order_ref = 'ORD-4002' ORDER BY line_ref NULLS FIRST;
SELECT sku, on_hand, reserved, available FROM inventory_release('ORD-4002', 'ORD-D', :'wh');
SELECT count(*) AS open_lines FROM inventory_reservations WHERE order_ref = 'ORD-4002';

---------------------------------------------------------------------------
-- Sellbrite's example, end to end, with a real reservation
---------------------------------------------------------------------------
-- on_hand 3, reserved 0, available 3
SELECT inventory_adjust(format('{"inventory": [{"sku": "ORD-SEED", "warehouse_uuid": "%s", "on_hand": 3}]}', :'wh')::jsonb) AS b \gset
SELECT inventory_wait(:b);
SELECT * FROM ord_levels WHERE sku = 'ORD-SEED';
-- an order for 1 pc: reserved 1, available 2
SELECT sku, on_hand, reserved, available FROM inventory_reserve('ORD-5001', 'ORD-SEED', :'wh', 1);
-- "available": 2 leaves on_hand 3
SELECT inventory_adjust(format('{"inventory": [{"sku": "ORD-SEED", "warehouse_uuid": "%s", "available": 2}]}', :'wh')::jsonb) AS b \gset
SELECT inventory_wait(:b);
SELECT * FROM ord_levels WHERE sku = 'ORD-SEED';
-- "on_hand": 2 double-deducts: available 1
SELECT inventory_adjust(format('{"inventory": [{"sku": "ORD-SEED", "warehouse_uuid": "%s", "on_hand": 2}]}', :'wh')::jsonb) AS b \gset
SELECT inventory_wait(:b);
SELECT * FROM ord_levels WHERE sku = 'ORD-SEED';
-- the adjustments did not touch the reservation
SELECT * FROM ord_res WHERE sku = 'ORD-SEED';

---------------------------------------------------------------------------
-- The statement triggers on inventory_reservations
---------------------------------------------------------------------------
-- One of the bulk keys has stock already; the other five have no level row.
SELECT inventory_adjust(format('[{"sku": "ORD-BULK-0", "warehouse_uuid": "%s", "on_hand": 100000}]', :'wh')::jsonb) AS b \gset
SELECT inventory_wait(:b);
-- 10 000 rows in one INSERT over 6 keys: missing level rows are created.
INSERT INTO inventory_reservations (order_ref, line_ref, sku, warehouse_uuid, quantity)
SELECT 'ORD-BULK-' || i, NULL, 'ORD-BULK-' || (i % 3),
       CASE WHEN i % 2 = 0 THEN :'wh'::uuid ELSE :'wh2'::uuid END, 1 + i % 5
  FROM generate_series(1, 10000) i;
SELECT * FROM ord_levels WHERE sku LIKE 'ORD-BULK-%' ORDER BY sku, wh;
SELECT * FROM ord_mismatch;
-- A bulk UPDATE: some quantities up, some down, some moved to another
-- existing key.
UPDATE inventory_reservations SET quantity = quantity + 2
 WHERE sku LIKE 'ORD-BULK-%' AND order_ref LIKE '%7';
UPDATE inventory_reservations SET quantity = 1
 WHERE sku LIKE 'ORD-BULK-%' AND order_ref LIKE '%3' AND quantity > 1;
UPDATE inventory_reservations SET sku = 'ORD-BULK-0'
 WHERE sku = 'ORD-BULK-1' AND order_ref LIKE '%1';
SELECT * FROM ord_levels WHERE sku LIKE 'ORD-BULK-%' ORDER BY sku, wh;
SELECT * FROM ord_mismatch;
-- An UPDATE that changes no quantity changes no level row.
SELECT count(*) AS ledger_rows FROM inventory_ledger \gset
UPDATE inventory_reservations SET line_ref = 'moved' WHERE sku LIKE 'ORD-BULK-%' AND order_ref LIKE '%9';
SELECT (SELECT count(*) FROM inventory_ledger) = :ledger_rows AS no_level_change;
-- A bulk DELETE.
DELETE FROM inventory_reservations WHERE sku LIKE 'ORD-BULK-%' AND order_ref LIKE '%5';
SELECT * FROM ord_levels WHERE sku LIKE 'ORD-BULK-%' ORDER BY sku, wh;
SELECT * FROM ord_mismatch;
DELETE FROM inventory_reservations WHERE sku LIKE 'ORD-BULK-%';
SELECT * FROM ord_levels WHERE sku LIKE 'ORD-BULK-%' ORDER BY sku, wh;
SELECT * FROM ord_mismatch;
-- A direct single-row INSERT for a missing key creates the level row.
INSERT INTO inventory_reservations (order_ref, sku, warehouse_uuid, quantity)
VALUES ('ORD-6001', 'ORD-DIRECT', :'wh2', 5);
SELECT * FROM ord_levels WHERE sku = 'ORD-DIRECT';
-- A direct write that breaks a constraint changes nothing.
\set VERBOSITY terse
UPDATE inventory_reservations SET quantity = 0 WHERE sku = 'ORD-DIRECT';
\set VERBOSITY default
SELECT * FROM ord_levels WHERE sku = 'ORD-DIRECT';
SELECT * FROM ord_mismatch;
-- Moving a reservation to a key that has no level row creates the row.
UPDATE inventory_reservations SET sku = 'ORD-MOVED' WHERE sku = 'ORD-DIRECT';
SELECT * FROM ord_levels WHERE sku IN ('ORD-DIRECT', 'ORD-MOVED') ORDER BY sku;
SELECT * FROM ord_mismatch;

-- Direct writes obey the same rules (C row triggers): no level row or
-- reservation that the API could not address.
INSERT INTO inventory_levels (sku, warehouse_uuid, on_hand) VALUES ('ORD-X ', :'wh', 1);
\echo SQLSTATE :SQLSTATE
UPDATE inventory_levels SET sku = E'ORD-\tMOVED' WHERE sku = 'ORD-MOVED';
INSERT INTO inventory_reservations (order_ref, sku, warehouse_uuid, quantity)
VALUES ('', 'ORD-DIRECT', :'wh', 1);
INSERT INTO inventory_reservations (order_ref, line_ref, sku, warehouse_uuid, quantity)
VALUES ('ORD-6002', E'a\nb', 'ORD-DIRECT', :'wh', 1);
INSERT INTO inventory_reservations (order_ref, sku, warehouse_uuid, quantity)
VALUES ('ORD-6002', repeat('s', 256), :'wh', 1);
UPDATE inventory_reservations SET sku = ' ORD-MOVED' WHERE sku = 'ORD-MOVED';
SELECT * FROM ord_levels WHERE sku LIKE 'ORD-%MOVED' OR sku LIKE 'ORD-X%' ORDER BY sku;
SELECT * FROM ord_res WHERE sku LIKE '%ORD-MOVED' OR sku = 'ORD-DIRECT' ORDER BY sku;
-- A restore brings rows back as they were (inventory.restoring, superuser).
BEGIN;
SET LOCAL inventory.restoring = on;
INSERT INTO inventory_levels (sku, warehouse_uuid, on_hand) VALUES ('ORD-X ', :'wh', 1);
SELECT count(*) AS restored FROM inventory_levels WHERE sku = 'ORD-X ';
ROLLBACK;

-- The reservations trigger locks the level rows in key order: its locking
-- statement (the same text, with arrays for its variables) is planned with
-- LockRows on top, so rows are locked in the order the plan below returns
-- them, which ORDER BY k.ord fixes (the planner sorts, or keeps the order
-- of the arrays), whatever the join.
CREATE TEMP TABLE lock_plan (n serial, line text);
DO $$
DECLARE
    line text;
BEGIN
    FOR line IN EXECUTE $q$
        EXPLAIN (COSTS OFF)
        SELECT FROM inventory_levels l
          JOIN ROWS FROM (pg_catalog.unnest('{ORD-B,ORD-A}'::text[]),
                          pg_catalog.unnest('{11111111-1111-4111-8111-111111111111,11111111-1111-4111-8111-111111111111}'::uuid[]))
               WITH ORDINALITY AS k(sku, wh, ord)
            ON l.sku OPERATOR(pg_catalog.=) k.sku
           AND l.warehouse_uuid OPERATOR(pg_catalog.=) k.wh
         ORDER BY k.ord
           FOR NO KEY UPDATE OF l $q$
    LOOP
        INSERT INTO lock_plan (line) VALUES (line);
    END LOOP;
END $$;
SELECT btrim(line) AS top_of_plan FROM lock_plan WHERE n = 1;
SELECT count(*) AS lock_rows_nodes FROM lock_plan WHERE line LIKE '%LockRows%';

-- Everything is consistent.
SELECT * FROM inventory_verify() WHERE sku LIKE 'ORD-%';
