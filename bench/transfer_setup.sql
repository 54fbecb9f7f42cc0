-- bench/transfer_setup.sql: data for bench/transfer.sql.  :keys skus
-- (psql -v keys=N, default 10000), each with a level row in 4 warehouses
-- holding so much that random transfers never run out of stock.  Works in
-- a fresh database or in one that bench/setup.sql prepared (its
-- warehouses are the same).
\set ON_ERROR_STOP 1
\if :{?keys}
\else
\set keys 10000
\endif
CREATE EXTENSION IF NOT EXISTS inventory;
SELECT format('ALTER DATABASE %I SET search_path = "$user", public, inventory',
              current_database()) \gexec
SET search_path = "$user", public, inventory;
INSERT INTO inventory_warehouses (uuid, name)
SELECT ('00000000-0000-4000-8000-00000000000' || i)::uuid, 'W' || i FROM generate_series(1, 4) i
ON CONFLICT DO NOTHING;
INSERT INTO inventory_levels (sku, warehouse_uuid, on_hand)
SELECT 'TRB-' || k, ('00000000-0000-4000-8000-00000000000' || w)::uuid, 1000000000
  FROM generate_series(0, :keys - 1) k, generate_series(1, 4) w
ON CONFLICT (sku, warehouse_uuid) DO UPDATE SET on_hand = 1000000000, incoming = 0;
VACUUM ANALYZE inventory_levels;
