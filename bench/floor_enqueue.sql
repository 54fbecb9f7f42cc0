\set i random(1, 20000)
INSERT INTO floor_queue (body) SELECT body::jsonb FROM bench_bodies WHERE id = :i;
