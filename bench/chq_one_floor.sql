-- bench/chq_one_floor.sql: the floor of chq_one.sql (pgbench,
-- bench/run-channels): the same sku's level rows in C1's three warehouses,
-- by primary key, summed, with no channel, rule or archived check
\set i random(0, :skus - 1)
SELECT sku, sum(available) FROM inventory_levels
 WHERE sku = 'CH-' || :i
   AND warehouse_uuid IN ('00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002',
                          '00000000-0000-4000-8000-000000000003')
 GROUP BY sku;
