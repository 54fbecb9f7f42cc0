-- run-demo: Sellbrite's "double deduction" example.
--
-- inventory_adjust only queues the batch; the worker applies it after the
-- calling transaction commits.  So the batch id is kept with \gset and
-- inventory_wait runs in the next statement (psql autocommits each one).

SELECT uuid AS wh FROM inventory_warehouses WHERE name = 'Austin' \gset
\set show 'SELECT l.sku, w.name AS warehouse, l.on_hand, l.reserved, l.available FROM inventory_levels l JOIN inventory_warehouses w ON w.uuid = l.warehouse_uuid WHERE l.sku = ''SB-DEMO-1'' AND l.warehouse_uuid = ' :'wh'

\echo
\echo '--- 1. The client sets on_hand = 3 (nothing reserved yet)'
\set body '{"inventory": [{"sku": "SB-DEMO-1", "warehouse_uuid": "' :wh '", "on_hand": 3}]}'
\echo 'inventory_adjust(' :body ')'
SELECT inventory_adjust(:'body') AS batch \gset
SELECT :batch AS batch, inventory_wait(:batch) AS state;
:show;
SELECT demo_check((on_hand, reserved, available) = (3, 0, 3), 'on_hand 3, reserved 0, available 3')
  FROM inventory_levels WHERE sku = 'SB-DEMO-1' AND warehouse_uuid = :'wh' \gset

\echo '--- 2. An order for 1 arrives: inventory_reserve(''SO-1001'', ''SB-DEMO-1'', Austin, 1)'
SELECT on_hand, reserved, available FROM inventory_reserve('SO-1001', 'SB-DEMO-1', :'wh', 1);
:show;
SELECT demo_check((on_hand, reserved, available) = (3, 1, 2), 'on_hand 3, reserved 1, available 2')
  FROM inventory_levels WHERE sku = 'SB-DEMO-1' AND warehouse_uuid = :'wh' \gset

\echo '--- 3a. WRONG: the client, seeing 2 left to sell, sends on_hand = 2'
\set body '{"inventory": [{"sku": "SB-DEMO-1", "warehouse_uuid": "' :wh '", "on_hand": 2}]}'
\echo 'inventory_adjust(' :body ')'
SELECT inventory_adjust(:'body') AS batch \gset
SELECT :batch AS batch, inventory_wait(:batch) AS state;
:show;
SELECT demo_check((on_hand, reserved, available) = (2, 1, 1),
                  'double deduction: on_hand 2, reserved 1, available 1 (the order counted twice)')
  FROM inventory_levels WHERE sku = 'SB-DEMO-1' AND warehouse_uuid = :'wh' \gset
\echo '    -> double deduction: the reserved unit was taken off again, only 1 is available'

\echo '--- Reset: the client sends on_hand = 3 again (the order is still reserved)'
\set body '{"inventory": [{"sku": "SB-DEMO-1", "warehouse_uuid": "' :wh '", "on_hand": 3}]}'
\echo 'inventory_adjust(' :body ')'
SELECT inventory_adjust(:'body') AS batch \gset
SELECT :batch AS batch, inventory_wait(:batch) AS state;
:show;
SELECT demo_check((on_hand, reserved, available) = (3, 1, 2), 'reset: on_hand 3, reserved 1, available 2')
  FROM inventory_levels WHERE sku = 'SB-DEMO-1' AND warehouse_uuid = :'wh' \gset

\echo '--- 3b. RIGHT: the client sends available = 2 instead'
\set body '{"inventory": [{"sku": "SB-DEMO-1", "warehouse_uuid": "' :wh '", "available": 2}]}'
\echo 'inventory_adjust(' :body ')'
SELECT inventory_adjust(:'body') AS batch \gset
SELECT :batch AS batch, inventory_wait(:batch) AS state;
:show;
SELECT demo_check((on_hand, reserved, available) = (3, 1, 2),
                  'available = 2 keeps on_hand 3, reserved 1, available 2')
  FROM inventory_levels WHERE sku = 'SB-DEMO-1' AND warehouse_uuid = :'wh' \gset
\echo '    -> correct: on_hand = available + reserved = 3, the order is counted once'
