-- bench/get_warehouse.sql: a page of 100 of one warehouse, deep in, after
-- a cursor (pgbench, bench/run-get)
\set i random(1, 1000)
SELECT * FROM inventory_get(warehouse_uuid => '00000000-0000-4000-8000-000000000002',
                            cursor => (SELECT wh_cursor FROM bench_get_cursors WHERE id = :i));
