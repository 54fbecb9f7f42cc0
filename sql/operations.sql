-- Item operations beyond the absolute set: on_hand_delta, and
-- compare-and-set with expect_on_hand / expect_available.  Items that do
-- not apply (conflict, out_of_range) are recorded in the batch's history
-- (inventory_batches.rejected, inventory_batch_status) with no ledger row;
-- the rest of the batch applies and the batch is 'applied'.
\set wh '11111111-1111-4111-8111-111111111111'
\set wh2 '22222222-2222-4222-8222-222222222222'
SELECT COALESCE(max(id), 0) AS m0 FROM inventory_ledger \gset
CREATE TEMP VIEW op_levels AS
  SELECT sku, CASE warehouse_uuid WHEN '11111111-1111-4111-8111-111111111111' THEN 'main'
                                  ELSE 'overflow' END AS wh,
         on_hand, reserved, available
    FROM inventory_levels WHERE sku LIKE 'OP-%';

---------------------------------------------------------------------------
-- Deltas: a missing row starts at 0; deltas add up, in item order
---------------------------------------------------------------------------
SELECT inventory_adjust(format('[
    {"sku": "OP-D", "warehouse_uuid": "%1$s", "on_hand_delta": 24, "description": "received PO-7"},
    {"sku": "OP-D", "warehouse_uuid": "%1$s", "on_hand_delta": -4},
    {"sku": "OP-D2", "warehouse_uuid": "%1$s", "on_hand": 10},
    {"sku": "OP-D2", "warehouse_uuid": "%1$s", "on_hand_delta": 0},
    {"sku": "OP-D2", "warehouse_uuid": "%1$s", "on_hand_delta": -10}]', :'wh')::jsonb) AS b \gset
SELECT inventory_wait(:b);
SELECT * FROM op_levels ORDER BY sku, wh;
SELECT state, item_count, applied_items, skipped_items, item, sku, outcome, reason,
       on_hand_before, on_hand_after
  FROM inventory_batch_status(:b) ORDER BY item;
SELECT item, description, on_hand_before, on_hand_after FROM inventory_ledger
 WHERE batch_id = :b ORDER BY item;
SELECT state, skipped, rejected FROM inventory_batches WHERE batch_id = :b;

-- Two batches, each with a delta on one key: both count (and a set
-- between them is applied at its place in the order).
BEGIN;
SELECT inventory_adjust(format('[{"sku": "OP-D", "warehouse_uuid": "%s", "on_hand_delta": 5}]', :'wh')::jsonb) AS b1 \gset
SELECT inventory_adjust(format('[{"sku": "OP-D", "warehouse_uuid": "%s", "on_hand_delta": 7}]', :'wh')::jsonb) AS b2 \gset
SELECT inventory_adjust(format('[{"sku": "OP-D", "warehouse_uuid": "%s", "on_hand": 100}]', :'wh')::jsonb) AS b3 \gset
SELECT inventory_adjust(format('[{"sku": "OP-D", "warehouse_uuid": "%s", "on_hand_delta": -1}]', :'wh')::jsonb) AS b4 \gset
COMMIT;
SELECT inventory_wait(:b4);
SELECT on_hand FROM op_levels WHERE sku = 'OP-D';
SELECT batch_id - :b1 AS nth, on_hand_before, on_hand_after FROM inventory_ledger
 WHERE batch_id BETWEEN :b1 AND :b4 ORDER BY batch_id;

---------------------------------------------------------------------------
-- out_of_range: a delta may not take on_hand below 0 or above 2147483647;
-- that item is not applied, the rest of the batch is
---------------------------------------------------------------------------
SELECT COALESCE(max(id), 0) AS m FROM inventory_ledger \gset
SELECT inventory_adjust(format('[
    {"sku": "OP-R", "warehouse_uuid": "%1$s", "on_hand": 3},
    {"sku": "OP-R", "warehouse_uuid": "%1$s", "on_hand_delta": -4},
    {"sku": "OP-R", "warehouse_uuid": "%1$s", "on_hand_delta": -3},
    {"sku": "OP-R2", "warehouse_uuid": "%1$s", "on_hand": 2147483640},
    {"sku": "OP-R2", "warehouse_uuid": "%1$s", "on_hand_delta": 8},
    {"sku": "OP-R2", "warehouse_uuid": "%1$s", "on_hand_delta": 7},
    {"sku": "OP-R3", "warehouse_uuid": "%1$s", "on_hand_delta": -1}]', :'wh')::jsonb) AS b \gset
SELECT inventory_wait(:b);
SELECT * FROM op_levels WHERE sku LIKE 'OP-R%' ORDER BY sku;
SELECT state, item_count, applied_items, skipped_items, failed_items, error, item, sku,
       outcome, reason, on_hand_before, on_hand_after
  FROM inventory_batch_status(:b) ORDER BY item;
SELECT jsonb_pretty(rejected) FROM inventory_batches WHERE batch_id = :b;
-- no ledger row for an item that did not apply
SELECT item, on_hand_before, on_hand_after FROM inventory_ledger
 WHERE batch_id = :b ORDER BY item;
-- a delta that raises a negative on_hand (shipped while oversold) applies
-- even though on_hand stays negative; one that lowers it further does not
INSERT INTO inventory_levels (sku, warehouse_uuid, on_hand) VALUES ('OP-R3', :'wh', -5);
SELECT inventory_adjust(format('[
    {"sku": "OP-R3", "warehouse_uuid": "%1$s", "on_hand_delta": 2},
    {"sku": "OP-R3", "warehouse_uuid": "%1$s", "on_hand_delta": -1},
    {"sku": "OP-R3", "warehouse_uuid": "%1$s", "on_hand_delta": 10}]', :'wh')::jsonb) AS b \gset
SELECT inventory_wait(:b);
SELECT item, outcome, reason, on_hand_before, on_hand_after FROM inventory_batch_status(:b) ORDER BY item;
-- an expect may be negative: a row oversold to -4 is set to 0 only if it
-- is still -4 (on_hand -5 is not what it has; available -4 is), and the
-- delta after it sees the 0
INSERT INTO inventory_levels (sku, warehouse_uuid, on_hand) VALUES ('OP-R6', :'wh', -4);
SELECT inventory_adjust(format('[
    {"sku": "OP-R6", "warehouse_uuid": "%1$s", "on_hand": 0, "expect_on_hand": -5},
    {"sku": "OP-R6", "warehouse_uuid": "%1$s", "on_hand": 0, "expect_available": -4},
    {"sku": "OP-R6", "warehouse_uuid": "%1$s", "on_hand_delta": 1, "expect_on_hand": 0}]', :'wh')::jsonb) AS b \gset
SELECT inventory_wait(:b);
SELECT item, outcome, reason, on_hand_before, on_hand_after FROM inventory_batch_status(:b) ORDER BY item;
-- available: on_hand = available + reserved beyond bigint is out_of_range
-- too (no longer an error that fails the whole batch)
ALTER TABLE inventory_levels DISABLE TRIGGER USER;
INSERT INTO inventory_levels (sku, warehouse_uuid, on_hand, reserved, available)
VALUES ('OP-R4', :'wh', 0, 9223372036854775000, -9223372036854775000);
ALTER TABLE inventory_levels ENABLE TRIGGER USER;
SELECT inventory_adjust(format('[
    {"sku": "OP-R4", "warehouse_uuid": "%1$s", "available": 2147483647},
    {"sku": "OP-R5", "warehouse_uuid": "%1$s", "available": 1}]', :'wh')::jsonb) AS b \gset
SELECT inventory_wait(:b);
SELECT item, sku, outcome, reason, on_hand_after FROM inventory_batch_status(:b) ORDER BY item;
SELECT rejected FROM inventory_batches WHERE batch_id = :b;
ALTER TABLE inventory_levels DISABLE TRIGGER USER;
DELETE FROM inventory_levels WHERE sku = 'OP-R4';
ALTER TABLE inventory_levels ENABLE TRIGGER USER;

---------------------------------------------------------------------------
-- Compare-and-set: expect_on_hand / expect_available, checked at the
-- item's place in the key's order; later items see the row as it is
---------------------------------------------------------------------------
SELECT on_hand, reserved, available FROM inventory_reserve('OP-ORDER', 'OP-C2', :'wh', 3);
SELECT inventory_adjust(format('[
    {"sku": "OP-C", "warehouse_uuid": "%1$s", "on_hand": 10},
    {"sku": "OP-C", "warehouse_uuid": "%1$s", "on_hand": 20, "expect_on_hand": 10},
    {"sku": "OP-C", "warehouse_uuid": "%1$s", "on_hand": 30, "expect_on_hand": 10},
    {"sku": "OP-C", "warehouse_uuid": "%1$s", "on_hand_delta": 1, "expect_on_hand": 20},
    {"sku": "OP-C", "warehouse_uuid": "%2$s", "on_hand": 1, "expect_on_hand": 0},
    {"sku": "OP-C2", "warehouse_uuid": "%1$s", "available": 5, "expect_available": 0},
    {"sku": "OP-C2", "warehouse_uuid": "%1$s", "on_hand": 10},
    {"sku": "OP-C2", "warehouse_uuid": "%1$s", "available": 5, "expect_available": 7},
    {"sku": "OP-C2", "warehouse_uuid": "%1$s", "on_hand": 9, "expect_available": 4},
    {"sku": "OP-C2", "warehouse_uuid": "%1$s", "on_hand_delta": -1, "expect_available": 5, "bin_location": "A-1"},
    {"sku": "OP-C2", "warehouse_uuid": "%1$s", "on_hand": 1, "expect_on_hand": 99, "bin_location": "Z-9", "cost": 5}]',
    :'wh', :'wh2')::jsonb) AS b \gset
SELECT inventory_wait(:b);
SELECT * FROM op_levels WHERE sku LIKE 'OP-C%' ORDER BY sku, wh;
-- a rejected item's bin_location and cost are not stored
SELECT bin_location, cost FROM inventory_levels WHERE sku = 'OP-C2';
SELECT state, applied_items, skipped_items, item, sku, outcome, reason,
       on_hand_before, on_hand_after, available_before, available_after
  FROM inventory_batch_status(:b) ORDER BY item;
SELECT r->>'item' AS item, r->>'outcome' AS outcome, r->>'field' AS field,
       r->>'expected' AS expected, r->>'actual' AS actual, r->'result' AS result
  FROM inventory_batches, jsonb_array_elements(rejected) AS r WHERE batch_id = :b;

-- A missing row counts as 0 when the batch creates missing rows: an
-- expect of 0 creates it, any other expect is a conflict and creates
-- nothing; without create_missing the item is skipped, as any other.
SELECT inventory_adjust(format('[
    {"sku": "OP-M1", "warehouse_uuid": "%1$s", "on_hand": 4, "expect_on_hand": 0},
    {"sku": "OP-M2", "warehouse_uuid": "%1$s", "on_hand_delta": 4, "expect_available": 1},
    {"sku": "OP-M3", "warehouse_uuid": "%1$s", "on_hand_delta": 4, "expect_on_hand": 2},
    {"sku": "OP-M3", "warehouse_uuid": "%1$s", "on_hand_delta": 6, "expect_on_hand": 0}]', :'wh')::jsonb) AS b \gset
SELECT inventory_wait(:b);
SELECT * FROM op_levels WHERE sku LIKE 'OP-M%' ORDER BY sku;
SELECT item, sku, outcome, reason, on_hand_before, on_hand_after FROM inventory_batch_status(:b) ORDER BY item;
SELECT inventory_adjust(format('[
    {"sku": "OP-M4", "warehouse_uuid": "%1$s", "on_hand": 4, "expect_on_hand": 0},
    {"sku": "OP-M1", "warehouse_uuid": "%1$s", "on_hand": 5, "expect_on_hand": 3},
    {"sku": "OP-M1", "warehouse_uuid": "%1$s", "on_hand_delta": 2, "expect_on_hand": 4}]', :'wh')::jsonb,
    create_missing => false) AS b \gset
SELECT inventory_wait(:b);
SELECT * FROM op_levels WHERE sku LIKE 'OP-M%' ORDER BY sku;
SELECT create_missing, applied_items, skipped_items, item, sku, outcome, reason
  FROM inventory_batch_status(:b) ORDER BY item;
SELECT skipped, rejected FROM inventory_batches WHERE batch_id = :b;

-- Across batches: an expect sees what the batches before it did.
BEGIN;
SELECT inventory_adjust(format('[{"sku": "OP-X", "warehouse_uuid": "%s", "on_hand": 50}]', :'wh')::jsonb) AS b1 \gset
SELECT inventory_adjust(format('[{"sku": "OP-X", "warehouse_uuid": "%s", "on_hand": 40, "expect_on_hand": 50}]', :'wh')::jsonb) AS b2 \gset
SELECT inventory_adjust(format('[{"sku": "OP-X", "warehouse_uuid": "%s", "on_hand": 30, "expect_on_hand": 50}]', :'wh')::jsonb) AS b3 \gset
COMMIT;
SELECT inventory_wait(:b3);
SELECT on_hand FROM op_levels WHERE sku = 'OP-X';
SELECT batch_id - :b1 AS nth, state, outcome, reason FROM inventory_batch_status(:b2)
UNION ALL
SELECT batch_id - :b1, state, outcome, reason FROM inventory_batch_status(:b3);

-- A queued batch with the new fields shows as queued.
BEGIN;
SELECT inventory_adjust(format('[{"sku": "OP-X", "warehouse_uuid": "%s", "on_hand_delta": 1, "expect_on_hand": 40}]', :'wh')::jsonb) AS q \gset
SELECT s.state, s.item, s.sku, s.outcome, b.state AS view_state, b.skipped, b.rejected
  FROM inventory_batch_status(:q) s, inventory_batches b WHERE b.batch_id = :q;
ROLLBACK;

-- The ledger replays, and everything is consistent.
SELECT count(*) AS ledger_rows_for_rejected FROM inventory_ledger l
  JOIN inventory_batch_history h ON h.batch_id = l.batch_id
  CROSS JOIN jsonb_array_elements(h.rejected) r
 WHERE l.id > :m0 AND l.item = (r->>'item')::int;
SELECT * FROM inventory_verify() WHERE sku LIKE 'OP-%';
SELECT on_hand, reserved, available FROM inventory_release('OP-ORDER', 'OP-C2', :'wh');
