\set k random(0, 19)
\set o random(1, 1000000000)
SELECT inventory_reserve('B-' || :o, 'SKU-' || :k, '00000000-0000-4000-8000-000000000001', 1);
SELECT inventory_fulfill('B-' || :o, 'SKU-' || :k, '00000000-0000-4000-8000-000000000001');
