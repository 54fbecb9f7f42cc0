-- bench/setup.sql: data for the benchmark (run by bench/run-bench).
-- :keys level rows over 4 warehouses, 20 000 prebuilt 50-item bodies
-- (a quarter of the items set "available"), and the floor's plain tables
-- (the floor's queue has only a primary key and default settings).
\set ON_ERROR_STOP 1
CREATE EXTENSION inventory;
-- Its objects live in the schema "inventory": this database's sessions find
-- them unqualified after public (see README, "Security").
SELECT format('ALTER DATABASE %I SET search_path = "$user", public, inventory',
              current_database()) \gexec
SET search_path = "$user", public, inventory;
INSERT INTO inventory_warehouses (uuid, name)
SELECT ('00000000-0000-4000-8000-00000000000' || i)::uuid, 'W' || i FROM generate_series(1, 4) i;

SELECT setseed(0.42);
-- bodies are kept as text: each call parses its body, as a client's
-- parameter would be, on both sides
CREATE TABLE bench_bodies (id int PRIMARY KEY, body text NOT NULL);
INSERT INTO bench_bodies
SELECT b, jsonb_build_object('inventory', (
         SELECT jsonb_agg(jsonb_build_object(
                  'sku', 'SKU-' || (k % (:keys / 4)),
                  'warehouse_uuid', '00000000-0000-4000-8000-00000000000' || (1 + k / (:keys / 4)),
                  CASE WHEN r < 0.25 THEN 'available' ELSE 'on_hand' END, q))
           FROM (SELECT (random() * (:keys - 1))::int AS k, random() AS r,
                        (random() * 1000)::int AS q
                   FROM generate_series(1, 50) WHERE b IS NOT NULL) s))::text
  FROM generate_series(1, 20000) b;

-- the same bodies cut to their first item, and to their first 10
CREATE TABLE bench_bodies1 (id int PRIMARY KEY, body text NOT NULL);
INSERT INTO bench_bodies1
SELECT id, jsonb_build_object('inventory', jsonb_build_array(body::jsonb -> 'inventory' -> 0))::text
  FROM bench_bodies;
CREATE TABLE bench_bodies10 (id int PRIMARY KEY, body text NOT NULL);
INSERT INTO bench_bodies10
SELECT id, jsonb_build_object('inventory', (SELECT jsonb_agg(e.v ORDER BY e.o)
                                              FROM jsonb_array_elements(body::jsonb -> 'inventory')
                                                   WITH ORDINALITY e(v, o)
                                             WHERE e.o <= 10))::text
  FROM bench_bodies;

-- PgQ, the peer of the enqueue: one queue, its events stored as text
CREATE EXTENSION pgq;
SELECT pgq.create_queue('bench');

-- every key exists before the apply is measured, on both sides
INSERT INTO inventory_levels (sku, warehouse_uuid, on_hand)
SELECT 'SKU-' || (k % (:keys / 4)), ('00000000-0000-4000-8000-00000000000' || (1 + k / (:keys / 4)))::uuid, 0
  FROM generate_series(0, :keys - 1) k;

-- the floor: plain tables with only what the same writes need
CREATE TABLE floor_queue (id bigserial PRIMARY KEY, body jsonb NOT NULL);
CREATE TABLE floor_levels (
    sku text COLLATE "C", warehouse_uuid uuid, on_hand bigint NOT NULL,
    reserved bigint NOT NULL DEFAULT 0, available bigint NOT NULL, updated_at timestamptz,
    PRIMARY KEY (sku, warehouse_uuid)) WITH (fillfactor = 90);
INSERT INTO floor_levels (sku, warehouse_uuid, on_hand, available)
SELECT sku, warehouse_uuid, 0, 0 FROM inventory_levels;
CREATE TABLE floor_ledger (LIKE inventory_ledger);
ALTER TABLE floor_ledger ADD PRIMARY KEY (id);
CREATE SEQUENCE floor_ledger_seq;
-- the same floor on the schema's own tables: copies of inventory_levels
-- (its second index, CHECK constraints and foreign key) and of the ledger
-- (its BRIN indexes), without the extension's triggers: what any apply
-- writing this schema pays
CREATE TABLE floor_schema_levels (LIKE inventory_levels INCLUDING ALL);
ALTER TABLE floor_schema_levels ADD FOREIGN KEY (warehouse_uuid) REFERENCES inventory_warehouses (uuid);
INSERT INTO floor_schema_levels (sku, warehouse_uuid, on_hand, available)
SELECT sku, warehouse_uuid, 0, 0 FROM inventory_levels;
CREATE TABLE floor_schema_ledger (LIKE inventory_ledger INCLUDING ALL);
CREATE TABLE floor_items (batch_id bigint, item int, sku text COLLATE "C", warehouse_uuid uuid,
                          is_available boolean, value bigint, description text);
-- the floor's small-transaction run reads its items by batch
CREATE INDEX floor_items_batch_idx ON floor_items (batch_id);
VACUUM ANALYZE;
