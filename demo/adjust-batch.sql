-- pgbench script for run-demo: one transaction = one inventory_adjust call
-- with a batch of :nitems random items.  SKUs are SKU-00000 .. SKU-04999,
-- the warehouse is one of the registered ones, and about a quarter of the
-- items set "available" instead of "on_hand".
\set nskus 5000
\set nitems 50
SELECT inventory_adjust(jsonb_build_object('inventory', jsonb_agg(item)))
  FROM (SELECT jsonb_build_object(
                   'sku', 'SKU-' || lpad(floor(random() * :nskus)::int::text, 5, '0'),
                   'warehouse_uuid', w.uuids[1 + floor(random() * cardinality(w.uuids))::int],
                   CASE WHEN random() < 0.25 THEN 'available' ELSE 'on_hand' END,
                   floor(random() * 101)::int) AS item
          FROM generate_series(1, :nitems),
               (SELECT array_agg(uuid ORDER BY name) AS uuids
                  FROM inventory_warehouses) AS w) AS items;
