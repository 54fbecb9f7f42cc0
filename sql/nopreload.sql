-- Without shared_preload_libraries: no worker, but inventory_adjust still
-- queues and inventory_process_queue() applies.  Run by test/run-tests on a
-- server that does not preload the library.
-- Settings left in the server's configuration (test/run-tests sets an
-- old inventory.database and inventory.idle_timeout) are known to the
-- library when it loads: no "invalid configuration parameter name"
-- warning, and their values stay.
CREATE EXTENSION inventory;
SHOW inventory.database;
SHOW inventory.idle_timeout;
INSERT INTO inventory_warehouses (uuid, name) VALUES ('11111111-1111-4111-8111-111111111111', 'Main');

SELECT count(*) AS workers FROM pg_stat_activity WHERE backend_type = 'inventory worker';
SELECT count(*) AS worker_rows FROM inventory_worker_status();

SELECT inventory_adjust('[{"sku": "NP-1", "warehouse_uuid": "11111111-1111-4111-8111-111111111111", "on_hand": 5},
                          {"sku": "NP-2", "warehouse_uuid": "11111111-1111-4111-8111-111111111111", "available": 2}]') AS b1 \gset
SELECT inventory_adjust('[{"sku": "NP-1", "warehouse_uuid": "11111111-1111-4111-8111-111111111111", "on_hand": 6}]') AS b2 \gset
SELECT state, item_count FROM inventory_batches ORDER BY batch_id;
SELECT count(*) AS levels_before FROM inventory_levels;

-- Nobody applies them until asked.
SELECT inventory_wait(:b2, '0.1 s');

SELECT inventory_process_queue(1);
SELECT state FROM inventory_batches ORDER BY batch_id;
SELECT inventory_process_queue();
SELECT inventory_wait(:b2);
SELECT sku, on_hand, reserved, available FROM inventory_levels ORDER BY sku;
SELECT inventory_process_queue();

-- Channels and thresholds can be written without the preload (their
-- triggers' wake-up finds no shared memory and does nothing); the views
-- answer from the level rows; the feeds wait for a worker.
INSERT INTO inventory_channels (uuid, name, percent)
    VALUES ('cc000000-0000-4000-8000-00000000000a', 'NP channel', 50);
INSERT INTO inventory_channel_warehouses VALUES
    ('cc000000-0000-4000-8000-00000000000a', '11111111-1111-4111-8111-111111111111');
INSERT INTO inventory_stock_alerts (sku, threshold) VALUES ('NP-2', 5);
SELECT channel_name, sku, available, quantity FROM inventory_channel_quantities ORDER BY sku;
SELECT sku, available, state FROM inventory_low_stock;
SELECT count(*) AS feed_rows FROM inventory_channel_changes('cc000000-0000-4000-8000-00000000000a');

-- DROP EXTENSION says how many queued batches it discards (this session
-- has loaded the library, which the warning needs without the preload).
SELECT inventory_adjust('[{"sku": "NP-1", "warehouse_uuid": "11111111-1111-4111-8111-111111111111", "on_hand": 7},
                          {"sku": "NP-3", "warehouse_uuid": "11111111-1111-4111-8111-111111111111", "on_hand": 1}]') > 0 AS queued;
SELECT inventory_adjust('[{"sku": "NP-2", "warehouse_uuid": "11111111-1111-4111-8111-111111111111", "on_hand": 3}]') > 0 AS queued;
BEGIN;
DROP EXTENSION inventory;
ROLLBACK;
SELECT queued_batches, queued_items FROM inventory_queue_summary;
DROP EXTENSION inventory;
