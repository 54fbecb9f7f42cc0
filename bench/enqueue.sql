\set i random(1, 20000)
SELECT inventory_adjust(body::jsonb) FROM bench_bodies WHERE id = :i;
