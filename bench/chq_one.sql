-- bench/chq_one.sql: one sku of channel C1 (three warehouses) from the
-- view inventory_channel_quantities (pgbench, bench/run-channels)
\set i random(0, :skus - 1)
SELECT * FROM inventory_channel_quantities
 WHERE channel_uuid = '00000000-0000-4000-8000-0000000000c1' AND sku = 'CH-' || :i;
