-- pgbench script for test/t/013_stress.pl (see that file for the setup):
-- a stock count of 1 to 3 hot keys (20 SKUs in warehouse 1111...), as
-- on_hand or as available (then on_hand = available + reserved at apply).
\set k1 random(1, 20)
\set k2 random(1, 20)
\set k3 random(1, 20)
\set n random(1, 3)
\set q1 random(0, 400)
\set q2 random(0, 400)
\set q3 random(0, 400)
\set f1 random(0, 1)
\set f2 random(0, 1)
SELECT inventory_adjust((
    SELECT jsonb_build_object('inventory', jsonb_agg(jsonb_build_object(
               'sku', 'HOT-' || lpad(k::text, 2, '0'),
               'warehouse_uuid', '11111111-1111-4111-8111-111111111111',
               CASE WHEN f = 0 THEN 'on_hand' ELSE 'available' END, q,
               'description', 'stress count') ORDER BY i))
      FROM (VALUES (1, :k1, :q1, :f1), (2, :k2, :q2, :f2), (3, :k3, :q3, 1 - :f1)) v(i, k, q, f)
     WHERE i <= :n));
