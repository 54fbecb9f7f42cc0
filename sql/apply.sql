-- Apply semantics, through the worker (inventory_wait polls, bounded) and
-- through inventory_process_queue().
\set wh '11111111-1111-4111-8111-111111111111'
\set wh2 '22222222-2222-4222-8222-222222222222'

-- Sellbrite's worked example, verbatim: on_hand 3, reserved 0, available 3.
SELECT inventory_adjust(format('{"inventory": [{"sku": "SEED", "warehouse_uuid": "%s", "on_hand": 3}]}', :'wh')::jsonb) AS b \gset
SELECT inventory_wait(:b);
SELECT sku, on_hand, reserved, available FROM inventory_levels WHERE sku = 'SEED';
-- "When Sellbrite receives an order for 1 pc": reserved 1, available 2.
-- (Reservations come later; an administrator's UPDATE stands in for the order.)
UPDATE inventory_levels SET reserved = 1 WHERE sku = 'SEED';
SELECT sku, on_hand, reserved, available FROM inventory_levels WHERE sku = 'SEED';
-- Sending "available": 2 leaves on_hand 3, reserved 1, available 2.
SELECT inventory_adjust(format('{"inventory": [{"sku": "SEED", "warehouse_uuid": "%s", "available": 2}]}', :'wh')::jsonb) AS b \gset
SELECT inventory_wait(:b);
SELECT sku, on_hand, reserved, available FROM inventory_levels WHERE sku = 'SEED';
-- Sending "on_hand": 2 double-deducts: on_hand 2, reserved 1, available 1.
SELECT inventory_adjust(format('{"inventory": [{"sku": "SEED", "warehouse_uuid": "%s", "on_hand": 2}]}', :'wh')::jsonb) AS b \gset
SELECT inventory_wait(:b);
SELECT sku, on_hand, reserved, available FROM inventory_levels WHERE sku = 'SEED';

-- Missing level rows are created, in any registered warehouse, from either
-- field; bin_location and cost are stored; a bare array works too.
SELECT inventory_adjust(format('[
    {"sku": "NEW-1", "warehouse_uuid": "%1$s", "on_hand": 12, "bin_location": "A-01", "cost": 4.5},
    {"sku": "NEW-1", "warehouse_uuid": "%2$s", "available": 7},
    {"sku": "NEW-2", "warehouse_uuid": "%2$s", "on_hand": 0, "description": "first count"}]', :'wh', :'wh2')::jsonb) AS b \gset
SELECT inventory_wait(:b);
SELECT sku, warehouse_uuid, on_hand, reserved, available, bin_location, cost
  FROM inventory_levels WHERE sku LIKE 'NEW-%' ORDER BY sku, warehouse_uuid;
-- A later item without bin_location/cost keeps the stored ones.
SELECT inventory_adjust(format('[{"sku": "NEW-1", "warehouse_uuid": "%s", "on_hand": 5}]', :'wh')::jsonb) AS b \gset
SELECT inventory_wait(:b);
SELECT on_hand, bin_location, cost FROM inventory_levels WHERE sku = 'NEW-1' AND warehouse_uuid = :'wh';

-- The same key twice in one batch: applied in order, the last wins; the
-- bin_location given earlier in the batch is kept.
SELECT inventory_adjust(format('[
    {"sku": "TWICE", "warehouse_uuid": "%1$s", "on_hand": 10, "bin_location": "B-7"},
    {"sku": "TWICE", "warehouse_uuid": "%1$s", "on_hand": 4}]', :'wh')::jsonb) AS b \gset
SELECT inventory_wait(:b);
SELECT on_hand, available, bin_location FROM inventory_levels WHERE sku = 'TWICE';
-- ... and an "available" item after an "on_hand" item uses reserved at apply time.
UPDATE inventory_levels SET reserved = 3 WHERE sku = 'TWICE';
SELECT inventory_adjust(format('[
    {"sku": "TWICE", "warehouse_uuid": "%1$s", "on_hand": 100},
    {"sku": "TWICE", "warehouse_uuid": "%1$s", "available": 6}]', :'wh')::jsonb) AS b \gset
SELECT inventory_wait(:b);
SELECT on_hand, reserved, available FROM inventory_levels WHERE sku = 'TWICE';

-- Order across batches: batches queued by one transaction, and by
-- successive transactions, are applied in queue order.
BEGIN;
SELECT inventory_adjust(format('[{"sku": "ORDER", "warehouse_uuid": "%s", "on_hand": 1}]', :'wh')::jsonb) AS b1 \gset
SELECT inventory_adjust(format('[{"sku": "ORDER", "warehouse_uuid": "%s", "on_hand": 2}]', :'wh')::jsonb) AS b2 \gset
COMMIT;
SELECT inventory_adjust(format('[{"sku": "ORDER", "warehouse_uuid": "%s", "available": 3}]', :'wh')::jsonb) AS b3 \gset
SELECT inventory_wait(:b3);
SELECT :b1 < :b2 AND :b2 < :b3 AS ids_ascend;
SELECT on_hand, available FROM inventory_levels WHERE sku = 'ORDER';
SELECT count(*) FILTER (WHERE state = 'applied') AS applied
  FROM inventory_batches WHERE batch_id IN (:b1, :b2, :b3);

-- Rollback of the caller: the batch never existed, nothing is applied.
BEGIN;
SELECT inventory_adjust(format('[{"sku": "ROLLBACK", "warehouse_uuid": "%s", "on_hand": 99},
                                 {"sku": "ORDER", "warehouse_uuid": "%1$s", "on_hand": 99}]', :'wh')::jsonb) AS rb \gset
ROLLBACK;
SELECT inventory_adjust(format('[{"sku": "AFTER-ROLLBACK", "warehouse_uuid": "%s", "on_hand": 1}]', :'wh')::jsonb) AS b \gset
SELECT inventory_wait(:b);
SELECT count(*) AS rolled_back_rows FROM inventory_levels WHERE sku = 'ROLLBACK';
SELECT on_hand FROM inventory_levels WHERE sku = 'ORDER';
SELECT count(*) AS rolled_back_batches FROM inventory_batches WHERE batch_id = :rb;
SELECT inventory_wait(:rb);

-- inventory_process_queue() applies in this session: here, in a
-- transaction, it applies the batches this transaction queued.
BEGIN;
SELECT inventory_adjust(format('[{"sku": "MANUAL", "warehouse_uuid": "%s", "on_hand": 8}]', :'wh')::jsonb) AS m1 \gset
SELECT inventory_adjust(format('[{"sku": "MANUAL", "warehouse_uuid": "%s", "available": 9}]', :'wh')::jsonb) AS m2 \gset
SELECT inventory_process_queue();
SELECT on_hand, available FROM inventory_levels WHERE sku = 'MANUAL';
SELECT state, item_count, applied_at IS NOT NULL AS has_applied_at, error
  FROM inventory_batches WHERE batch_id IN (:m1, :m2) ORDER BY batch_id;
SELECT inventory_process_queue();
COMMIT;
SELECT inventory_process_queue(-1);
-- It needs a new snapshot for each step, so not REPEATABLE READ or SERIALIZABLE.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT inventory_process_queue();
ROLLBACK;

-- A batch that fails to apply is recorded as failed with its error, and
-- the batches after it are applied.  Here its warehouse is deleted after
-- the batch was accepted, so the new level row violates the foreign key.
BEGIN;
INSERT INTO inventory_warehouses (uuid, name) VALUES ('44444444-4444-4444-8444-444444444444', 'Short-lived');
SELECT inventory_adjust('[{"sku": "DOOMED", "warehouse_uuid": "44444444-4444-4444-8444-444444444444", "on_hand": 1}]') AS f1 \gset
SELECT inventory_adjust(format('[{"sku": "SURVIVOR", "warehouse_uuid": "%s", "on_hand": 5}]', :'wh')::jsonb) AS f2 \gset
DELETE FROM inventory_warehouses WHERE uuid = '44444444-4444-4444-8444-444444444444';
SELECT inventory_process_queue();
COMMIT;
SELECT batch_id = :f1 AS is_f1, state, error FROM inventory_batches WHERE batch_id IN (:f1, :f2) ORDER BY batch_id;
SELECT sku, on_hand FROM inventory_levels WHERE sku IN ('DOOMED', 'SURVIVOR');
SELECT inventory_wait(:f1);
SELECT jsonb_array_length(items) AS kept_items FROM inventory_batch_history WHERE batch_id = :f1;

-- The queue is empty again and every batch is accounted for.
SELECT test_poll('(SELECT queued_batches FROM inventory_queue_summary) = 0');
SELECT state, count(*) FROM inventory_batches GROUP BY state ORDER BY state;
-- Each history row names the transaction that queued it, and it committed.
SELECT count(*) AS not_committed FROM inventory_batch_history
 WHERE pg_xact_status(queued_xid::text::xid8) IS DISTINCT FROM 'committed';
