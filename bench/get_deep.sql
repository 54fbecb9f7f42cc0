-- bench/get_deep.sql: a page of 100 deep in key order, after a cursor
-- (pgbench, bench/run-get)
\set i random(1, 1000)
SELECT * FROM inventory_get(cursor => (SELECT cursor FROM bench_get_cursors WHERE id = :i));
