-- bench/get_setup.sql: data for the inventory_get benchmark (run by
-- bench/run-get): :levels level rows (default 1 000 000) over 4 warehouses,
-- written as ordinary inserts (triggers and ledger as in production), then
-- 1 in 1000 of them changed again a little later, so that updated_at_min
-- can ask for "what changed since" and match few rows; and the cursors
-- the deep-page scripts start from.
\set ON_ERROR_STOP 1
\if :{?levels}
\else
\set levels 1000000
\endif
CREATE EXTENSION inventory;
SELECT format('ALTER DATABASE %I SET search_path = "$user", public, inventory',
              current_database()) \gexec
SET search_path = "$user", public, inventory;
INSERT INTO inventory_warehouses (uuid, name)
SELECT ('00000000-0000-4000-8000-00000000000' || i)::uuid, 'W' || i FROM generate_series(1, 4) i;

INSERT INTO inventory_levels (sku, warehouse_uuid, on_hand, bin_location, cost)
SELECT 'SKU-' || (k / 4), ('00000000-0000-4000-8000-00000000000' || (1 + k % 4))::uuid,
       (k::bigint * 7919) % 500, 'A-' || (k % 97), ((k % 1000) / 10.0)::numeric(10,2)
  FROM generate_series(0, :levels - 1) k;

-- the moment between the load and the later changes
CREATE TABLE bench_get_marks (since timestamptz NOT NULL);
SELECT pg_sleep(0.01) \gset
INSERT INTO bench_get_marks VALUES (clock_timestamp());
SELECT pg_sleep(0.01) \gset
UPDATE inventory_levels SET on_hand = on_hand + 1
 WHERE sku IN (SELECT 'SKU-' || (k * 1000) FROM generate_series(0, :levels / 4000) k);

-- 1000 cursors spread over the key space (the deep pages start after
-- them), and the same for warehouse 2 alone
-- (fsku, fwh: the same place as a key, for the plain-SQL floor, get_floor)
CREATE TABLE bench_get_cursors (id int PRIMARY KEY, cursor text NOT NULL, wh_cursor text NOT NULL,
                                fsku text COLLATE "C" NOT NULL, fwh uuid NOT NULL);
INSERT INTO bench_get_cursors
SELECT i,
       (SELECT g.cursor FROM inventory_get(sku => 'SKU-' || ((i - 1) * (:levels / 4000)),
                                           warehouse_uuid => '00000000-0000-4000-8000-000000000001') g),
       (SELECT g.cursor FROM inventory_get(sku => 'SKU-' || ((i - 1) * (:levels / 4000)),
                                           warehouse_uuid => '00000000-0000-4000-8000-000000000002') g),
       'SKU-' || ((i - 1) * (:levels / 4000)), '00000000-0000-4000-8000-000000000001'
  FROM generate_series(1, 1000) i;
VACUUM ANALYZE;
SELECT count(*) AS level_rows,
       (SELECT count(*) FROM inventory_levels WHERE updated_at >= (SELECT since FROM bench_get_marks)) AS changed_rows,
       (SELECT count(*) FROM bench_get_cursors WHERE cursor IS NULL OR wh_cursor IS NULL) AS missing_cursors
  FROM inventory_levels;
