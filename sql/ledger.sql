-- The ledger (one row per change of on_hand or reserved, from every path),
-- its replay and inventory_verify(), PATCH mode and inventory_batch_status,
-- idempotency keys, and the change feed inventory_changes().
\set wh '11111111-1111-4111-8111-111111111111'
\set wh2 '22222222-2222-4222-8222-222222222222'
\set VERBOSITY default
\set SHOW_CONTEXT never

-- This file's ledger rows (warehouse shown as main/overflow); :cols is
-- what the checks print (no ids, times or xids).
CREATE TEMP VIEW led AS
    SELECT id, batch_id, role, sku,
           CASE warehouse_uuid WHEN '11111111-1111-4111-8111-111111111111' THEN 'main'
                               WHEN '22222222-2222-4222-8222-222222222222' THEN 'overflow' END AS wh,
           source, item, order_ref, line_ref, description,
           on_hand_before AS oh_before, on_hand_after AS oh_after,
           reserved_before AS res_before, reserved_after AS res_after,
           available_before AS av_before, available_after AS av_after
      FROM inventory_ledger WHERE sku LIKE 'LED-%';
\set cols 'sku, wh, source, item, order_ref, line_ref, description, oh_before, oh_after, res_before, res_after, av_before, av_after'
-- Rows of a key that do not start where the key's previous row ended.
CREATE TEMP VIEW led_broken_chain AS
    SELECT count(*) AS broken_links
      FROM (SELECT on_hand_before, reserved_before, available_before,
                   lag(on_hand_after, 1, 0::bigint) OVER w AS prev_on_hand,
                   lag(reserved_after, 1, 0::bigint) OVER w AS prev_reserved,
                   lag(available_after, 1, 0::bigint) OVER w AS prev_available
              FROM inventory_ledger WHERE sku LIKE 'LED-%'
            WINDOW w AS (PARTITION BY sku, warehouse_uuid ORDER BY id)) c
     WHERE (on_hand_before, reserved_before, available_before)
           IS DISTINCT FROM (prev_on_hand, prev_reserved, prev_available);
-- Replay: the last ledger row of every key gives the level row.
CREATE TEMP VIEW led_replay AS
    SELECT count(*) AS mismatched_keys
      FROM inventory_levels l
      FULL JOIN (SELECT DISTINCT ON (sku, warehouse_uuid) sku, warehouse_uuid,
                        on_hand_after, reserved_after, available_after
                   FROM inventory_ledger ORDER BY sku, warehouse_uuid, id DESC) g
        ON g.sku = l.sku AND g.warehouse_uuid = l.warehouse_uuid
     WHERE COALESCE(l.sku, g.sku) LIKE 'LED-%'
       AND (COALESCE(l.on_hand, 0), COALESCE(l.reserved, 0), COALESCE(l.available, 0))
           IS DISTINCT FROM (COALESCE(g.on_hand_after, 0), COALESCE(g.reserved_after, 0),
                             COALESCE(g.available_after, 0));

---------------------------------------------------------------------------
-- source 'adjust': one row per item, with batch_id, item and description
---------------------------------------------------------------------------
SELECT COALESCE(max(id), 0) AS m FROM inventory_ledger \gset
SELECT inventory_adjust(format('{"inventory": [
    {"sku": "LED-A", "warehouse_uuid": "%1$s", "on_hand": 10, "description": "initial count"},
    {"sku": "LED-B", "warehouse_uuid": "%1$s", "on_hand": 5},
    {"sku": "LED-A", "warehouse_uuid": "%1$s", "available": 12, "description": "recount"},
    {"sku": "LED-A", "warehouse_uuid": "%1$s", "on_hand": 12, "description": "same again"},
    {"sku": "LED-A", "warehouse_uuid": "%2$s", "on_hand": 1}]}', :'wh', :'wh2')::jsonb) AS b \gset
SELECT inventory_wait(:b);
-- Items of one key: one row each, in item order, each starting where the
-- previous ended; item 4 changes nothing and still has its row.
SELECT :cols FROM led WHERE id > :m ORDER BY id;
SELECT count(*) AS ledger_rows, bool_and(batch_id = :b) AS all_of_the_batch,
       bool_and(role = current_user) AS role_recorded
  FROM inventory_ledger WHERE id > :m;
SELECT * FROM led_broken_chain;

-- A batch whose only item changes nothing: the row is not rewritten, the
-- item still gets its ledger row (before = after).
SELECT xmin AS xmin_b FROM inventory_levels WHERE sku = 'LED-B' AND warehouse_uuid = :'wh' \gset
SELECT COALESCE(max(id), 0) AS m FROM inventory_ledger \gset
SELECT inventory_adjust(format('[{"sku": "LED-B", "warehouse_uuid": "%s", "on_hand": 5, "description": "no change"}]', :'wh')::jsonb) AS b \gset
SELECT inventory_wait(:b);
SELECT :cols FROM led WHERE id > :m ORDER BY id;
SELECT xmin = :'xmin_b'::xid AS row_not_rewritten FROM inventory_levels WHERE sku = 'LED-B' AND warehouse_uuid = :'wh';

-- The same item in a batch whose other rows change: the apply's UPDATE
-- gives the unchanged row its own values, which inventory_levels_maintain
-- turns into no write (the row stays locked until the round commits).
SELECT inventory_adjust(format('[{"sku": "LED-C", "warehouse_uuid": "%1$s", "on_hand": 1},
                                 {"sku": "LED-D", "warehouse_uuid": "%1$s", "on_hand": 1}]', :'wh')::jsonb) AS b \gset
SELECT inventory_wait(:b);
SELECT xmin AS xmin_b FROM inventory_levels WHERE sku = 'LED-B' AND warehouse_uuid = :'wh' \gset
SELECT COALESCE(max(id), 0) AS m FROM inventory_ledger \gset
SELECT inventory_adjust(format('[{"sku": "LED-B", "warehouse_uuid": "%1$s", "on_hand": 5},
                                 {"sku": "LED-C", "warehouse_uuid": "%1$s", "on_hand": 2},
                                 {"sku": "LED-D", "warehouse_uuid": "%1$s", "on_hand": 3}]', :'wh')::jsonb) AS b \gset
SELECT inventory_wait(:b);
SELECT :cols FROM led WHERE id > :m ORDER BY id;
SELECT sku, on_hand, (sku = 'LED-B') = (xmin = :'xmin_b'::xid) AS rewritten_only_if_changed
  FROM inventory_levels WHERE sku IN ('LED-B', 'LED-C', 'LED-D') AND warehouse_uuid = :'wh' ORDER BY sku;

---------------------------------------------------------------------------
-- sources 'reserve', 'release', 'fulfill': with order_ref and line_ref
---------------------------------------------------------------------------
SELECT COALESCE(max(id), 0) AS m FROM inventory_ledger \gset
SELECT on_hand, reserved, available FROM inventory_reserve('LED-ORD-1', 'LED-A', :'wh', 3, 'line-1');
SELECT on_hand, reserved, available FROM inventory_reserve('LED-ORD-2', 'LED-A', :'wh', 2);
SELECT on_hand, reserved, available FROM inventory_release('LED-ORD-1', 'LED-A', :'wh', 1, 'line-1');
SELECT on_hand, reserved, available FROM inventory_fulfill('LED-ORD-1', 'LED-A', :'wh', 2);
SELECT on_hand, reserved, available FROM inventory_fulfill('LED-ORD-2', 'LED-A', :'wh', 1);
SELECT on_hand, reserved, available FROM inventory_release('LED-ORD-2', 'LED-A', :'wh');
-- a reservation of a key without a level row: the row starts from zero
SELECT on_hand, reserved, available FROM inventory_reserve('LED-ORD-3', 'LED-R', :'wh2', 4, 'line-9');
SELECT :cols FROM led WHERE id > :m ORDER BY id;
-- Calls that fail write nothing.
SELECT count(*) AS n FROM inventory_ledger \gset
SELECT inventory_release('LED-ORD-1', 'LED-A', :'wh', 1);
SELECT inventory_fulfill('LED-ORD-3', 'LED-R', :'wh2', 5);
SELECT inventory_reserve('LED-ORD-4', 'LED-A', :'wh', 100, allow_oversell => false);
SELECT (SELECT count(*) FROM inventory_ledger) = :n AS nothing_written;
SELECT on_hand, reserved, available FROM inventory_release('LED-ORD-3', 'LED-R', :'wh2');

---------------------------------------------------------------------------
-- source 'direct': any other write to inventory_levels; the description
-- comes from inventory.change_reason
---------------------------------------------------------------------------
SELECT COALESCE(max(id), 0) AS m FROM inventory_ledger \gset
BEGIN;
SET LOCAL inventory.change_reason = 'damaged in storage';
UPDATE inventory_levels SET on_hand = on_hand - 2 WHERE sku = 'LED-B' AND warehouse_uuid = :'wh';
COMMIT;
-- SET LOCAL ended with the transaction: no description now.
UPDATE inventory_levels SET available = available + 1 WHERE sku = 'LED-B' AND warehouse_uuid = :'wh';
-- Neither on_hand nor reserved changes: no ledger row.
UPDATE inventory_levels SET bin_location = 'Z-9' WHERE sku = 'LED-B' AND warehouse_uuid = :'wh';
-- A direct INSERT, a multi-row UPDATE (rows in key order), a DELETE.
INSERT INTO inventory_levels (sku, warehouse_uuid, on_hand) VALUES ('LED-INS', :'wh', 4);
UPDATE inventory_levels SET on_hand = on_hand + 1 WHERE sku IN ('LED-INS', 'LED-B') AND warehouse_uuid = :'wh';
DELETE FROM inventory_levels WHERE sku = 'LED-INS';
SELECT :cols FROM led WHERE id > :m ORDER BY id;
SELECT bool_and(role = current_user) AS role_recorded FROM inventory_ledger WHERE id > :m;

---------------------------------------------------------------------------
-- source 'reservations': a direct write to inventory_reservations
---------------------------------------------------------------------------
SELECT COALESCE(max(id), 0) AS m FROM inventory_ledger \gset
INSERT INTO inventory_reservations (order_ref, line_ref, sku, warehouse_uuid, quantity)
VALUES ('LED-ORD-5', 'x', 'LED-B', :'wh', 2), ('LED-ORD-6', NULL, 'LED-B', :'wh', 1);
BEGIN;
SET LOCAL inventory.change_reason = 'manual hold';
UPDATE inventory_reservations SET quantity = 4 WHERE order_ref = 'LED-ORD-5';
COMMIT;
DELETE FROM inventory_reservations WHERE order_ref IN ('LED-ORD-5', 'LED-ORD-6');
SELECT :cols FROM led WHERE id > :m ORDER BY id;

---------------------------------------------------------------------------
-- Replay and inventory_verify()
---------------------------------------------------------------------------
SELECT * FROM led_broken_chain;
SELECT * FROM led_replay;
SELECT * FROM inventory_verify() WHERE sku LIKE 'LED-%';
-- Corrupt a level row behind the triggers' back (consistently with the
-- CHECK constraint): only the ledger can tell.
SELECT count(*) AS n FROM inventory_ledger \gset
BEGIN;
ALTER TABLE inventory_levels DISABLE TRIGGER USER;
UPDATE inventory_levels SET on_hand = on_hand + 5, available = available + 5
 WHERE sku = 'LED-B' AND warehouse_uuid = :'wh';
ALTER TABLE inventory_levels ENABLE TRIGGER USER;
COMMIT;
SELECT (SELECT count(*) FROM inventory_ledger) = :n AS no_ledger_row;
SELECT * FROM led_replay;
SELECT check_name, sku, detail FROM inventory_verify() WHERE sku LIKE 'LED-%';
-- Repair it the same way.
BEGIN;
ALTER TABLE inventory_levels DISABLE TRIGGER USER;
UPDATE inventory_levels SET on_hand = on_hand - 5, available = available - 5
 WHERE sku = 'LED-B' AND warehouse_uuid = :'wh';
ALTER TABLE inventory_levels ENABLE TRIGGER USER;
COMMIT;
SELECT count(*) AS disabled_triggers FROM pg_trigger
 WHERE tgrelid = 'inventory_levels'::regclass AND NOT tgisinternal AND tgenabled = 'D';
SELECT * FROM led_replay;
SELECT * FROM inventory_verify() WHERE sku LIKE 'LED-%';

---------------------------------------------------------------------------
-- PATCH mode (create_missing => false) and inventory_batch_status
---------------------------------------------------------------------------
SELECT COALESCE(max(id), 0) AS m FROM inventory_ledger \gset
SELECT inventory_adjust(format('[
    {"sku": "LED-A", "warehouse_uuid": "%1$s", "on_hand": 20},
    {"sku": "LED-MISSING", "warehouse_uuid": "%1$s", "on_hand": 5},
    {"sku": "LED-B", "warehouse_uuid": "%1$s", "available": 3},
    {"sku": "LED-MISSING", "warehouse_uuid": "%2$s", "available": 1}]', :'wh', :'wh2')::jsonb,
    create_missing => false) AS b \gset
SELECT inventory_wait(:b);
-- the missing rows were not created, the existing ones were updated
SELECT count(*) AS missing_rows FROM inventory_levels WHERE sku = 'LED-MISSING';
SELECT sku, on_hand, reserved, available FROM inventory_levels
 WHERE sku IN ('LED-A', 'LED-B') AND warehouse_uuid = :'wh' ORDER BY sku;
SELECT batch_id = :b AS this_batch, state, create_missing, item_count, applied_items, skipped_items,
       failed_items, applied_at IS NOT NULL AS has_applied_at, error
  FROM inventory_batch_status(:b) LIMIT 1;
SELECT item, sku, warehouse_uuid = :'wh' AS main, outcome, reason,
       on_hand_before, on_hand_after, reserved_before, reserved_after, available_before, available_after
  FROM inventory_batch_status(:b) ORDER BY item;
-- skipped items have no ledger row
SELECT :cols FROM led WHERE id > :m ORDER BY id;
SELECT state, item_count, create_missing FROM inventory_batches WHERE batch_id = :b;
-- PUT (the default) creates the missing row.
SELECT inventory_adjust(format('[{"sku": "LED-MISSING", "warehouse_uuid": "%s", "on_hand": 5}]', :'wh')::jsonb) AS b \gset
SELECT inventory_wait(:b);
SELECT item, sku, outcome, on_hand_before, on_hand_after, create_missing, applied_items, skipped_items
  FROM inventory_batch_status(:b);
-- ... and then PATCH applies to it.
SELECT inventory_adjust(format('[{"sku": "LED-MISSING", "warehouse_uuid": "%s", "on_hand": 6}]', :'wh')::jsonb,
                        create_missing => false) AS b \gset
SELECT inventory_wait(:b);
SELECT item, sku, outcome, on_hand_before, on_hand_after, create_missing, applied_items, skipped_items
  FROM inventory_batch_status(:b);
SELECT inventory_adjust('[{"sku": "LED-X", "warehouse_uuid": "11111111-1111-4111-8111-111111111111", "on_hand": 1}]', create_missing => NULL);

-- A queued batch: visible to its own transaction before COMMIT.
BEGIN;
SELECT inventory_adjust(format('[{"sku": "LED-Q", "warehouse_uuid": "%1$s", "on_hand": 2},
                                 {"sku": "LED-B", "warehouse_uuid": "%1$s", "on_hand": 4}]', :'wh')::jsonb) AS q \gset
SELECT batch_id = :q AS this_batch, state, create_missing, item_count, applied_items, skipped_items,
       failed_items, applied_at IS NULL AS no_applied_at, error, item, sku, outcome, reason,
       on_hand_before, on_hand_after, available_after
  FROM inventory_batch_status(:q) ORDER BY item;
COMMIT;
SELECT inventory_wait(:q);
SELECT state, applied_items, item, sku, outcome, on_hand_before, on_hand_after
  FROM inventory_batch_status(:q) ORDER BY item;

-- A failed batch: its warehouse is deleted after it was accepted.
BEGIN;
INSERT INTO inventory_warehouses (uuid, name) VALUES ('55555555-5555-4555-8555-555555555555', 'Gone soon');
SELECT inventory_adjust('[{"sku": "LED-DOOMED", "warehouse_uuid": "55555555-5555-4555-8555-555555555555", "on_hand": 1},
                          {"sku": "LED-DOOMED-2", "warehouse_uuid": "55555555-5555-4555-8555-555555555555", "available": 2}]') AS f1 \gset
SELECT inventory_adjust(format('[{"sku": "LED-SURVIVOR", "warehouse_uuid": "%s", "on_hand": 7}]', :'wh')::jsonb) AS f2 \gset
DELETE FROM inventory_warehouses WHERE uuid = '55555555-5555-4555-8555-555555555555';
-- (its WARNING names the batch id, which depends on the tests before)
SET LOCAL client_min_messages = error;
SELECT inventory_process_queue();
COMMIT;
SELECT state, create_missing, item_count, applied_items, skipped_items, failed_items,
       applied_at IS NOT NULL AS has_applied_at, error
  FROM inventory_batch_status(:f1) LIMIT 1;
SELECT item, sku, outcome, reason = error AS reason_is_error, on_hand_before, on_hand_after
  FROM inventory_batch_status(:f1) ORDER BY item;
SELECT state, applied_items, failed_items, item, sku, outcome, on_hand_before, on_hand_after
  FROM inventory_batch_status(:f2) ORDER BY item;
SELECT count(*) AS doomed_ledger_rows FROM inventory_ledger WHERE sku LIKE 'LED-DOOMED%';
-- A batch that does not exist.
SELECT * FROM inventory_batch_status(-1);
\echo SQLSTATE :SQLSTATE

---------------------------------------------------------------------------
-- Idempotency keys
---------------------------------------------------------------------------
\set body '{"inventory": [{"sku": "LED-IDEM", "warehouse_uuid": "11111111-1111-4111-8111-111111111111", "on_hand": 9}]}'
SELECT count(*) AS nb FROM inventory_batches \gset
SELECT inventory_adjust(:'body', idempotency_key => 'led-key-1') AS k1 \gset
SELECT inventory_wait(:k1);
-- The same key and body: the first batch id, nothing queued (also after
-- the first batch was applied).
SELECT inventory_adjust(:'body', idempotency_key => 'led-key-1') AS k2 \gset
SELECT :k2 = :k1 AS same_batch, (SELECT count(*) FROM inventory_batches) = :nb + 1 AS one_batch;
-- The same request written differently (key order, spacing) is the same request.
SELECT inventory_adjust('{"inventory":[{"on_hand":9,"warehouse_uuid":"11111111-1111-4111-8111-111111111111","sku":"LED-IDEM"}]}',
                        idempotency_key => 'led-key-1') = :k1 AS same_batch;
-- ... also inside an explicit transaction.
BEGIN;
SELECT inventory_adjust(:'body', true, 'led-key-1') = :k1 AS same_batch;
COMMIT;
SELECT (SELECT count(*) FROM inventory_batches) = :nb + 1 AS still_one_batch;
-- The same key for a different body: SQLSTATE 23505 (terse: the DETAIL
-- names the first batch's id).
\set VERBOSITY terse
SELECT inventory_adjust('{"inventory": [{"sku": "LED-IDEM", "warehouse_uuid": "11111111-1111-4111-8111-111111111111", "on_hand": 10}]}',
                        idempotency_key => 'led-key-1');
\echo SQLSTATE :SQLSTATE
-- The same key and body with create_missing => false is another request.
SELECT inventory_adjust(:'body', create_missing => false, idempotency_key => 'led-key-1');
\echo SQLSTATE :SQLSTATE
\set VERBOSITY default
-- The same items bare instead of wrapped in {"inventory": ...}, or 9.0 for
-- 9, make another body; the error says what counts as the same one.
DO $$
DECLARE
    body text;
    msg text;
    det text;
    hnt text;
BEGIN
    FOREACH body IN ARRAY ARRAY[
        '[{"sku": "LED-IDEM", "warehouse_uuid": "11111111-1111-4111-8111-111111111111", "on_hand": 9}]',
        '{"inventory": [{"sku": "LED-IDEM", "warehouse_uuid": "11111111-1111-4111-8111-111111111111", "on_hand": 9.0}]}']
    LOOP
        BEGIN
            PERFORM inventory_adjust(body::jsonb, idempotency_key => 'led-key-1');
            RAISE NOTICE 'accepted: %', body;
        EXCEPTION WHEN unique_violation THEN
            GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
            RAISE NOTICE '%', msg;
        END;
    END LOOP;
    RAISE NOTICE 'DETAIL: %', regexp_replace(det, 'batch \d+', 'batch N');
    RAISE NOTICE 'HINT: %', hnt;
END $$;
SELECT (SELECT count(*) FROM inventory_batches) = :nb + 1 AS still_one_batch;
SELECT on_hand FROM inventory_levels WHERE sku = 'LED-IDEM';
-- A different key is a different batch.
SELECT inventory_adjust(:'body', idempotency_key => 'led-key-2') AS k3 \gset
SELECT :k3 <> :k1 AS new_batch, (SELECT count(*) FROM inventory_batches) = :nb + 2 AS two_batches;
-- A key claimed by a transaction that rolled back is free again.
BEGIN;
SELECT inventory_adjust(:'body', idempotency_key => 'led-key-3') AS k4 \gset
ROLLBACK;
SELECT inventory_adjust(:'body', idempotency_key => 'led-key-3') AS k5 \gset
SELECT :k5 <> :k4 AS new_batch, (SELECT count(*) FROM inventory_batches) = :nb + 3 AS three_batches;
-- An empty key is an error; a NULL key means no idempotency.
SELECT inventory_adjust(:'body', idempotency_key => '');
\echo SQLSTATE :SQLSTATE
SELECT inventory_adjust(:'body', idempotency_key => NULL) AS k6 \gset
SELECT inventory_adjust(:'body', idempotency_key => NULL) AS k7 \gset
SELECT :k6 <> :k7 AS distinct_batches, (SELECT count(*) FROM inventory_batches) = :nb + 5 AS five_batches;
SELECT inventory_wait(:k7);
SELECT count(*) AS idem_ledger_rows FROM inventory_ledger WHERE sku = 'LED-IDEM';

---------------------------------------------------------------------------
-- The change feed: inventory_changes(after, max_rows)
---------------------------------------------------------------------------
SELECT max(id) AS cur FROM inventory_ledger \gset
-- available 0 -> 7 (adjust)
SELECT inventory_adjust(format('[{"sku": "LED-FEED", "warehouse_uuid": "%s", "on_hand": 7}]', :'wh')::jsonb) AS b \gset
SELECT inventory_wait(:b);
-- 7 -> 5 (reserve)
SELECT on_hand, reserved, available FROM inventory_reserve('LED-ORD-7', 'LED-FEED', :'wh', 2);
-- on_hand and reserved up by 3: available stays 5, not a change
UPDATE inventory_levels SET on_hand = on_hand + 3, reserved = reserved + 3 WHERE sku = 'LED-FEED';
-- an item that changes nothing: not a change
SELECT inventory_adjust(format('[{"sku": "LED-FEED", "warehouse_uuid": "%s", "on_hand": 10}]', :'wh')::jsonb) AS b \gset
SELECT inventory_wait(:b);
-- 5 -> 1 (adjust: on_hand becomes 1 + reserved 5)
SELECT inventory_adjust(format('[{"sku": "LED-FEED", "warehouse_uuid": "%s", "available": 1}]', :'wh')::jsonb) AS b \gset
SELECT inventory_wait(:b);
-- on_hand and reserved back down by 3: available stays 1
UPDATE inventory_levels SET on_hand = on_hand - 3, reserved = reserved - 3 WHERE sku = 'LED-FEED';
SELECT sku, on_hand, reserved, available FROM inventory_levels WHERE sku = 'LED-FEED';
SELECT count(*) AS ledger_rows FROM inventory_ledger WHERE id > :cur;
SELECT sku, available, available_before, source FROM inventory_changes(:cur) ORDER BY change_id;
SELECT bool_and(on_hand - reserved = available) AS consistent,
       bool_and(warehouse_uuid = :'wh') AS main
  FROM inventory_changes(:cur);
-- One at a time: the cursor moves on.
SELECT count(*) AS one_row FROM inventory_changes(:cur, 1);
SELECT change_id AS c1, available AS c1_available FROM inventory_changes(:cur, 1) \gset
SELECT :c1_available AS first_available;
SELECT sku, available, available_before, source FROM inventory_changes(:c1) ORDER BY change_id;
SELECT count(*) AS nothing_new FROM inventory_changes((SELECT max(id) FROM inventory_ledger));
-- Errors: NULL cursor, max_rows below 1, REPEATABLE READ.
SELECT * FROM inventory_changes(NULL);
\echo SQLSTATE :SQLSTATE
SELECT * FROM inventory_changes(:cur, 0);
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT * FROM inventory_changes(:cur);
\echo SQLSTATE :SQLSTATE
ROLLBACK;
-- A cursor beyond every change id issued here (read from another
-- database, or before the extension was dropped and created again, when
-- ids start at 1 again) is an error, not an empty answer that lasts until
-- ids pass it; the last id issued is a cursor like any other.
DO $$
DECLARE
    issued bigint := (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM inventory_ledger_id_seq);
    st text;
    msg text;
    det text;
    hnt text;
BEGIN
    PERFORM count(*) FROM inventory_changes(issued);
    RAISE NOTICE 'the last id issued is a valid cursor';
    PERFORM * FROM inventory_changes(issued + 1);
    RAISE NOTICE 'a cursor beyond it was accepted';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    RAISE NOTICE 'SQLSTATE %: %', st, replace(msg, (issued + 1)::text, 'N+1');
    RAISE NOTICE 'DETAIL: %', replace(det, issued::text, 'N');
    RAISE NOTICE 'HINT: %', hnt;
END $$;
-- The id sequences must keep CACHE 1; the HINT names the sequence with its
-- schema.
BEGIN;
ALTER SEQUENCE inventory_ledger_id_seq CACHE 5;
SELECT count(*) FROM inventory_changes(:cur);
ROLLBACK;

-- Everything this file did replays and verifies.
SELECT * FROM led_broken_chain;
SELECT * FROM led_replay;
SELECT * FROM inventory_verify() WHERE sku LIKE 'LED-%';
