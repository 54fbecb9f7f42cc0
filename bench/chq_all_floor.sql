-- bench/chq_all_floor.sql: the floor of chq_all.sql (pgbench,
-- bench/run-channels): the available of C1's three warehouses summed per
-- sku by one plain GROUP BY, with no channel, rule or archived check
SELECT sku, sum(available) FROM inventory_levels
 WHERE warehouse_uuid IN ('00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002',
                          '00000000-0000-4000-8000-000000000003')
 GROUP BY sku;
