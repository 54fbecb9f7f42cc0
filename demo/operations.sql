-- run-demo: operations beyond the absolute set (version 1.3).
--   1. two receipts queued as on_hand_delta: neither loses the other;
--   2. a compare-and-set that lost a race: outcome "conflict", the rest of
--      the batch applies;
--   3. a transfer in transit: on_hand leaves Austin now and shows as
--      incoming in Berlin until it is received.

SELECT uuid AS austin FROM inventory_warehouses WHERE name = 'Austin' \gset
SELECT uuid AS berlin FROM inventory_warehouses WHERE name = 'Berlin' \gset
\set show 'SELECT l.sku, w.name AS warehouse, l.on_hand, l.reserved, l.available, l.incoming FROM inventory_levels l JOIN inventory_warehouses w ON w.uuid = l.warehouse_uuid WHERE l.sku = ''OPS-DEMO'' ORDER BY w.name;'

\echo
\echo '--- 1. Stock count: on_hand 10; then two receipts arrive at once, +24 and +6, as deltas'
\set body '[{"sku": "OPS-DEMO", "warehouse_uuid": "' :austin '", "on_hand": 10}]'
SELECT inventory_adjust(:'body') AS batch \gset
SELECT :batch AS batch, inventory_wait(:batch) AS state;
\set body '[{"sku": "OPS-DEMO", "warehouse_uuid": "' :austin '", "on_hand_delta": 24, "description": "PO-881 received"}]'
\echo 'inventory_adjust(' :body ')'
SELECT inventory_adjust(:'body') AS d1 \gset
\set body '[{"sku": "OPS-DEMO", "warehouse_uuid": "' :austin '", "on_hand_delta": 6, "description": "return RMA-12"}]'
\echo 'inventory_adjust(' :body ')'
SELECT inventory_adjust(:'body') AS d2 \gset
SELECT inventory_wait(:d1) AS first_delta, inventory_wait(:d2) AS second_delta;
:show
SELECT demo_check(on_hand = 40, 'both deltas count: 10 + 24 + 6 = 40')
  FROM inventory_levels WHERE sku = 'OPS-DEMO' AND warehouse_uuid = :'austin' \gset

\echo '--- 2. Compare-and-set: a client read on_hand 34 (stale) and sends on_hand 30 only if it is still 34;'
\echo '       a second item in the same batch, with a matching expectation, applies'
\set body '[{"sku": "OPS-DEMO", "warehouse_uuid": "' :austin '", "on_hand": 30, "expect_on_hand": 34}, {"sku": "OPS-DEMO-2", "warehouse_uuid": "' :austin '", "on_hand": 5, "expect_on_hand": 0}]'
\echo 'inventory_adjust(' :body ')'
SELECT inventory_adjust(:'body') AS batch \gset
SELECT :batch AS batch, inventory_wait(:batch) AS state;
SELECT item, sku, outcome, reason, on_hand_before, on_hand_after FROM inventory_batch_status(:batch) ORDER BY item;
SELECT demo_check(array_agg(outcome ORDER BY item) = '{conflict,applied}', 'item 1 conflicts, item 2 applies')
  FROM inventory_batch_status(:batch) \gset
SELECT demo_check(on_hand = 40, 'the conflicting item changed nothing: on_hand still 40')
  FROM inventory_levels WHERE sku = 'OPS-DEMO' AND warehouse_uuid = :'austin' \gset

\echo '--- 3. A transfer in transit: 15 units leave Austin for Berlin'
SELECT id AS transfer, state, quantity, remaining
  FROM inventory_transfer('OPS-DEMO', :'austin', :'berlin', 15, reference => 'TR-2001', in_transit => true) \gset
SELECT :transfer AS transfer;
:show
SELECT demo_check((SELECT on_hand FROM inventory_levels WHERE sku = 'OPS-DEMO' AND warehouse_uuid = :'austin') = 25
                  AND (SELECT (on_hand, incoming) = (0, 15) FROM inventory_levels WHERE sku = 'OPS-DEMO' AND warehouse_uuid = :'berlin'),
                  'Austin on_hand 25; Berlin incoming 15, not available') \gset
\echo '    Berlin receives 10 of them (partial), then the rest'
SELECT id, state, received, remaining FROM inventory_receive_transfer(:transfer, 10);
:show
SELECT id, state, received, remaining FROM inventory_receive_transfer(:transfer);
:show
SELECT demo_check((on_hand, incoming, available) = (15, 0, 15), 'Berlin: on_hand 15, incoming 0, available 15')
  FROM inventory_levels WHERE sku = 'OPS-DEMO' AND warehouse_uuid = :'berlin' \gset
\echo '    The ledger: one transfer id ties the rows together'
SELECT l.source, w.name AS warehouse, l.on_hand_before, l.on_hand_after, l.incoming_before, l.incoming_after, l.transfer_id
  FROM inventory_ledger l JOIN inventory_warehouses w ON w.uuid = l.warehouse_uuid
 WHERE l.transfer_id = :transfer ORDER BY l.id;
SELECT demo_check(count(*) = 0, 'inventory_verify() finds nothing wrong') FROM inventory_verify() \gset
