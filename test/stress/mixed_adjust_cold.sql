-- pgbench script for test/t/013_stress.pl: a batch of 10 cold keys (5000
-- SKUs in two warehouses), with costs and bin locations, creating rows.
SELECT inventory_adjust((
    SELECT jsonb_agg(jsonb_build_object(
               'sku', 'COLD-' || lpad(floor(random() * 5000)::int::text, 4, '0'),
               'warehouse_uuid', CASE WHEN random() < 0.5 THEN '11111111-1111-4111-8111-111111111111'
                                      ELSE '22222222-2222-4222-8222-222222222222' END,
               CASE WHEN random() < 0.7 THEN 'on_hand' ELSE 'available' END, floor(random() * 1000)::int,
               'cost', round((random() * 100)::numeric, 2),
               'bin_location', 'BIN-' || floor(random() * 50)::int))
      FROM generate_series(1, 10)));
