-- bench/get_first.sql: the first page of 100 (pgbench, bench/run-get)
SELECT * FROM inventory_get();
