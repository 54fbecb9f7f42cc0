-- run-demo: orders reserve and ship stock; the ledger tells who did what.

SELECT uuid AS wh FROM inventory_warehouses WHERE name = 'Berlin' \gset
\set show 'SELECT l.sku, l.on_hand, l.reserved, l.available FROM inventory_levels l WHERE l.sku = ''ORD-DEMO-MUG'' AND l.warehouse_uuid = ' :'wh'

\echo '--- Stock: 5 mugs in Berlin'
SELECT inventory_adjust(format('[{"sku": "ORD-DEMO-MUG", "warehouse_uuid": "%s", "on_hand": 5, "description": "goods received"}]', :'wh')::jsonb) AS batch \gset
SELECT inventory_wait(:batch) AS state;
:show;

\echo '--- Three orders reserve 2 + 2 + 1 (the last one strictly: allow_oversell => false)'
SELECT 'SO-2001' AS order_ref, available FROM inventory_reserve('SO-2001', 'ORD-DEMO-MUG', :'wh', 2);
SELECT 'SO-2002' AS order_ref, available FROM inventory_reserve('SO-2002', 'ORD-DEMO-MUG', :'wh', 2);
SELECT 'SO-2003' AS order_ref, available FROM inventory_reserve('SO-2003', 'ORD-DEMO-MUG', :'wh', 1, allow_oversell => false);
:show;

\echo '--- A fourth strict order finds nothing left and is refused (SQLSTATE IN001); nothing changes'
\set ON_ERROR_STOP 0
SELECT available FROM inventory_reserve('SO-2004', 'ORD-DEMO-MUG', :'wh', 1, allow_oversell => false);
\set ON_ERROR_STOP 1
:show;
SELECT demo_check((on_hand, reserved, available) = (5, 5, 0), 'on_hand 5, reserved 5, available 0')
  FROM inventory_levels WHERE sku = 'ORD-DEMO-MUG' AND warehouse_uuid = :'wh' \gset

\echo '--- SO-2001 ships (inventory_fulfill): on_hand and reserved both drop by 2'
SELECT on_hand, reserved, available FROM inventory_fulfill('SO-2001', 'ORD-DEMO-MUG', :'wh');
\echo '--- SO-2002 is cancelled (inventory_release): its 2 are available again'
SELECT on_hand, reserved, available FROM inventory_release('SO-2002', 'ORD-DEMO-MUG', :'wh');
SELECT demo_check((on_hand, reserved, available) = (3, 1, 2), 'on_hand 3, reserved 1, available 2')
  FROM inventory_levels WHERE sku = 'ORD-DEMO-MUG' AND warehouse_uuid = :'wh' \gset

\echo '--- The ledger of this mug: every change, its source, order and before/after'
SELECT id, source, batch_id, order_ref, description, on_hand_before AS oh_before, on_hand_after AS oh_after,
       reserved_before AS res_before, reserved_after AS res_after, available_after AS avail
  FROM inventory_ledger WHERE sku = 'ORD-DEMO-MUG' ORDER BY id;

\echo '--- inventory_verify(): levels = ledger replay, reserved = open reservations (no rows = consistent)'
SELECT * FROM inventory_verify();
SELECT demo_check(count(*) = 0, 'inventory_verify() is clean') FROM inventory_verify() \gset
