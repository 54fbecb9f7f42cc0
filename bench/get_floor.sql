-- bench/get_floor.sql: the floor of get_deep (pgbench, bench/run-get): the
-- same page of 100 level rows after the same key, as one plain keyset
-- SELECT on the primary key, with no function, no cursor to decode or
-- encode and no probe for a next page.  The key comes from scalar
-- subqueries, as get_deep's cursor does, so that it is an index condition.
\set i random(1, 1000)
SELECT l.sku, l.warehouse_uuid, l.on_hand, l.reserved, l.available, l.bin_location, l.cost,
       l.created_at, l.updated_at, l.incoming
  FROM inventory_levels l
 WHERE (l.sku, l.warehouse_uuid) > ((SELECT c.fsku FROM bench_get_cursors c WHERE c.id = :i),
                                    (SELECT c.fwh FROM bench_get_cursors c WHERE c.id = :i))
 ORDER BY l.sku, l.warehouse_uuid
 LIMIT 100;
