-- Merchants and nodes (1.6): warehouses belong to a merchant, one
-- operation names one merchant's warehouses (inventory.merchant's when it
-- is set), idempotency keys are per merchant, ids carry the node id, and a
-- merchant's rows can be exported, forgotten and imported again.
\set VERBOSITY default
\set SHOW_CONTEXT never
\set a1 'aaaa0001-0000-4000-8000-000000000001'
\set a2 'aaaa0002-0000-4000-8000-000000000002'
\set b1 'bbbb0001-0000-4000-8000-000000000001'

-- Every warehouse so far is the default merchant's.
SELECT DISTINCT merchant FROM inventory_warehouses;
INSERT INTO inventory_warehouses (uuid, name, merchant) VALUES
    (:'a1', 'Acme east', 'acme'), (:'a2', 'Acme west', 'acme'), (:'b1', 'Bolt', 'bolt');
-- a merchant is a name of 1 to 255 bytes without control characters
\set VERBOSITY terse
INSERT INTO inventory_warehouses (uuid, name, merchant)
VALUES ('cccc0001-0000-4000-8000-000000000001', 'x', '');
INSERT INTO inventory_warehouses (uuid, name, merchant)
VALUES ('cccc0001-0000-4000-8000-000000000001', 'x', E'a\tb');
\set VERBOSITY default
SET inventory.merchant = E'a\tb';
SET inventory.merchant = 'acme';
RESET inventory.merchant;

-- A batch naming two merchants' warehouses is refused, item by item, and
-- nothing is queued.
SELECT count(*) AS queued_before FROM inventory_queue \gset
SELECT inventory_adjust(format('[{"sku": "MR-1", "warehouse_uuid": "%s", "on_hand": 5},
                                 {"sku": "MR-1", "warehouse_uuid": "%s", "on_hand": 5},
                                 {"sku": "MR-1", "warehouse_uuid": "%s", "on_hand": 5}]',
                               :'a1', :'a2', :'b1')::jsonb);
-- so is one naming another merchant's than the session acts for
SET inventory.merchant = 'bolt';
SELECT inventory_adjust(format('[{"sku": "MR-1", "warehouse_uuid": "%s", "on_hand": 5}]', :'a1')::jsonb);
SELECT count(*) = :queued_before AS nothing_queued FROM inventory_queue;

-- The order and transfer functions too (SQLSTATE IN006), and nothing changes.
\set VERBOSITY verbose
SELECT * FROM inventory_reserve('mr-order', 'MR-1', :'a1', 1);
\set VERBOSITY default
SET inventory.merchant = 'acme';
SELECT * FROM inventory_transfer('MR-1', :'a1', :'b1', 1);
RESET inventory.merchant;
SELECT * FROM inventory_transfer('MR-1', :'a1', :'b1', 1);
SELECT count(*) FROM inventory_reservations WHERE order_ref = 'mr-order';

-- Each merchant's stock, through its own session.
SET inventory.merchant = 'acme';
SELECT inventory_adjust(format('[{"sku": "MR-1", "warehouse_uuid": "%s", "on_hand": 10},
                                 {"sku": "MR-2", "warehouse_uuid": "%s", "on_hand": 4}]', :'a1', :'a2')::jsonb,
                        idempotency_key => 'mr-key') AS acme_batch \gset
SET inventory.merchant = 'bolt';
-- the same key for another merchant is another key
SELECT inventory_adjust(format('[{"sku": "MR-1", "warehouse_uuid": "%s", "on_hand": 7}]', :'b1')::jsonb,
                        idempotency_key => 'mr-key') AS bolt_batch \gset
SELECT :acme_batch <> :bolt_batch AS two_batches;
RESET inventory.merchant;
SELECT inventory_wait(:acme_batch), inventory_wait(:bolt_batch);
SELECT merchant, batch_id = :acme_batch AS acme, batch_id = :bolt_batch AS bolt
  FROM inventory_idempotency_keys WHERE key = 'mr-key' ORDER BY merchant;
-- a retry (without the setting: the batch's warehouses say whose key it is)
SELECT inventory_adjust(format('[{"sku": "MR-1", "warehouse_uuid": "%s", "on_hand": 10},
                                 {"sku": "MR-2", "warehouse_uuid": "%s", "on_hand": 4}]', :'a1', :'a2')::jsonb,
                        idempotency_key => 'mr-key') = :acme_batch AS same_batch;
SELECT sku, on_hand, reserved, available
  FROM inventory_reserve('mr-order', 'MR-1', :'a1', 3, expires_at => now() + interval '1 day');
SELECT id AS transfer_id FROM inventory_transfer('MR-2', :'a2', :'a1', 1, in_transit => true) \gset

-- Reads show the merchant's rows only.
SET inventory.merchant = 'bolt';
SELECT sku, warehouse_uuid = :'b1' AS bolt, on_hand FROM inventory_get() ORDER BY 1, 2;
SELECT sku, warehouse_uuid = :'b1' AS bolt, available FROM inventory_changes() WHERE sku LIKE 'MR-%';
-- a transfer is opened for its merchant only
SELECT * FROM inventory_cancel_transfer(:transfer_id);
SET inventory.merchant = 'acme';
SELECT sku, on_hand, reserved, incoming FROM inventory_get() WHERE sku LIKE 'MR-%' ORDER BY 1, 2;
RESET inventory.merchant;

-- This node: 0 until set; ids issued here are node 0's, so no other id.
SELECT inventory_node_id();
SELECT inventory_set_node_id(5);
SELECT inventory_set_node_id(-1);
SELECT inventory_set_node_id(0), inventory_node_id();

-- Moving a merchant: queued batches first, then exported, forgotten here
-- and imported (on another node; here, back into this one).
SELECT inventory_merchant_queued('acme');
BEGIN;
SELECT inventory_adjust(format('[{"sku": "MR-1", "warehouse_uuid": "%s", "on_hand_delta": 1}]', :'a1')::jsonb) AS queued_batch \gset
SELECT inventory_merchant_queued('acme'), inventory_merchant_queued('bolt');
SELECT inventory_export_merchant('acme');
ROLLBACK;
SELECT inventory_export_merchant('acme') AS acme_rows \gset
SELECT jsonb_array_length(:'acme_rows'::jsonb -> 'warehouses') AS warehouses,
       jsonb_array_length(:'acme_rows'::jsonb -> 'levels') AS levels,
       jsonb_array_length(:'acme_rows'::jsonb -> 'reservations') AS reservations,
       jsonb_array_length(:'acme_rows'::jsonb -> 'transfers') AS transfers,
       jsonb_array_length(:'acme_rows'::jsonb -> 'ledger') AS ledger_rows,
       jsonb_array_length(:'acme_rows'::jsonb -> 'idempotency_keys') AS keys;
SELECT max(id) AS last_change, count(*) AS ledger_rows FROM inventory_ledger \gset
-- importing what is here already is refused
SELECT inventory_import_merchant('acme', :'acme_rows');
SELECT inventory_import_merchant('bolt', :'acme_rows');
SELECT inventory_forget_merchant('acme');
SELECT count(*) FROM inventory_warehouses WHERE merchant = 'acme';
-- its batches' history stays, and says where their items went
SELECT state, item_count, item, outcome, reason LIKE 'its merchant "acme" moved to another node at %' AS reason
  FROM inventory_batch_status(:acme_batch);
SELECT count(*) FROM inventory_ledger WHERE warehouse_uuid IN (:'a1', :'a2');
-- its 5 ledger rows went with it, and forgetting wrote none
SELECT count(*) = :ledger_rows - 5 AS its_rows_gone, max(id) <= :last_change AS nothing_written
  FROM inventory_ledger;
SELECT inventory_import_merchant('acme', :'acme_rows') > :last_change AS import_cursor_after_the_last;
SELECT sku, on_hand, reserved, available, incoming
  FROM inventory_levels WHERE warehouse_uuid IN (:'a1', :'a2') ORDER BY 1, warehouse_uuid;
-- the ledger came back in its order, under new ids; nothing drifts
SELECT count(*), min(id) > :last_change AS new_ids FROM inventory_ledger WHERE warehouse_uuid IN (:'a1', :'a2');
SELECT * FROM inventory_verify() WHERE sku LIKE 'MR-%';
-- and its key still returns its batch
SELECT inventory_adjust(format('[{"sku": "MR-1", "warehouse_uuid": "%s", "on_hand": 10},
                                 {"sku": "MR-2", "warehouse_uuid": "%s", "on_hand": 4}]', :'a1', :'a2')::jsonb,
                        idempotency_key => 'mr-key') = :acme_batch AS same_batch;
SELECT state FROM inventory_receive_transfer(:transfer_id);
-- back here, the batch's items are too
SELECT state, item, sku, outcome FROM inventory_batch_status(:acme_batch);

-- Channels and stock alerts naming its warehouses keep a merchant here.
INSERT INTO inventory_stock_alerts (sku, warehouse_uuid, threshold) VALUES ('MR-1', :'b1', 1);
SELECT inventory_forget_merchant('bolt');
DELETE FROM inventory_stock_alerts WHERE sku = 'MR-1';

-- Expired idempotency keys are purged one by one: another role's fresh
-- key of the same text stays.
INSERT INTO inventory_idempotency_keys (key, request_hash, batch_id, role, merchant, created_at) VALUES
    ('mr-purge', '\x00', 1, 'mr_old_role', 'acme', now() - interval '2 days'),
    ('mr-purge', '\x00', 2, 'mr_new_role', 'acme', now());
SELECT count(pg_terminate_backend(pid)) AS terminated FROM pg_stat_activity
 WHERE backend_type = 'inventory worker' AND datname = current_database();
-- the worker started again purges the expired keys at once
SELECT inventory_adjust(format('[{"sku": "MR-1", "warehouse_uuid": "%s", "on_hand": 1}]', :'b1')::jsonb) AS wake \gset
SELECT inventory_wait(:wake);
SELECT test_poll($$NOT EXISTS (SELECT FROM inventory.inventory_idempotency_keys WHERE role = 'mr_old_role')$$);
SELECT role FROM inventory_idempotency_keys WHERE key = 'mr-purge';
DELETE FROM inventory_idempotency_keys WHERE key = 'mr-purge';
