-- bench/get_json.sql: the jsonb form of a deep page (pgbench, bench/run-get)
\set i random(1, 1000)
SELECT inventory_get_json(cursor => (SELECT cursor FROM bench_get_cursors WHERE id = :i));
