\set i random(1, 20000)
SELECT inventory_adjust(body::jsonb) AS b FROM bench_bodies WHERE id = :i \gset
SELECT inventory_wait(:b);
