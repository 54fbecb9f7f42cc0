-- bench/get_updated.sql: the first page of the rows changed since a moment
-- (1 in 1000 rows match: the scan in key order reads about 100 000 rows)
-- (pgbench, bench/run-get)
SELECT * FROM inventory_get(updated_at_min => (SELECT since FROM bench_get_marks));
