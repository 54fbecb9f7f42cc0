\set k random(0, 24999)
\set w random(1, 4)
\set o random(1, 1000000000)
SELECT inventory_reserve('B-' || :o, 'SKU-' || :k, ('00000000-0000-4000-8000-00000000000' || :w)::uuid, 1);
SELECT inventory_fulfill('B-' || :o, 'SKU-' || :k, ('00000000-0000-4000-8000-00000000000' || :w)::uuid);
