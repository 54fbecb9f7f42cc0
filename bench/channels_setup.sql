-- bench/channels_setup.sql: one database of bench/run-channels.
-- Three warehouses that the backlog fills, a fourth (W4) that only the
-- batch starting the worker touches and no channel reads; with
-- :channels = 1, three channels with different rules, fed by two or three
-- of the warehouses (made before any stock, so their first "say every sku"
-- finds none); and :items / 50 prebuilt 50-item bodies over :skus skus in
-- the three warehouses (the drain creates the level rows: none exist yet).
\set ON_ERROR_STOP 1
CREATE EXTENSION inventory;
SELECT format('ALTER DATABASE %I SET search_path = "$user", public, inventory',
              current_database()) \gexec
SET search_path = "$user", public, inventory;
INSERT INTO inventory_warehouses (uuid, name)
SELECT ('00000000-0000-4000-8000-00000000000' || i)::uuid, 'W' || i FROM generate_series(1, 4) i;

\if :channels
-- C1: everything, three warehouses; C2: half, at most 50, two warehouses;
-- C3: 80% of what is left after a buffer of 5, at least 1, two warehouses
INSERT INTO inventory_channels (uuid, name, percent, max, min, buffer) VALUES
    ('00000000-0000-4000-8000-0000000000c1', 'C1 all', 100, NULL, NULL, 0),
    ('00000000-0000-4000-8000-0000000000c2', 'C2 half, max 50', 50, 50, NULL, 0),
    ('00000000-0000-4000-8000-0000000000c3', 'C3 80% less 5, min 1', 80, NULL, 1, 5);
INSERT INTO inventory_channel_warehouses (channel_uuid, warehouse_uuid) VALUES
    ('00000000-0000-4000-8000-0000000000c1', '00000000-0000-4000-8000-000000000001'),
    ('00000000-0000-4000-8000-0000000000c1', '00000000-0000-4000-8000-000000000002'),
    ('00000000-0000-4000-8000-0000000000c1', '00000000-0000-4000-8000-000000000003'),
    ('00000000-0000-4000-8000-0000000000c2', '00000000-0000-4000-8000-000000000001'),
    ('00000000-0000-4000-8000-0000000000c2', '00000000-0000-4000-8000-000000000002'),
    ('00000000-0000-4000-8000-0000000000c3', '00000000-0000-4000-8000-000000000002'),
    ('00000000-0000-4000-8000-0000000000c3', '00000000-0000-4000-8000-000000000003');
\endif

SELECT setseed(0.42);
-- bodies are kept as text: each call parses its body, as a client's
-- parameter would be; a key is a random sku in a random warehouse of the
-- three, on_hand 0 to 100 (so most items change a channel's quantity)
CREATE TABLE bench_bodies (id int PRIMARY KEY, body text NOT NULL);
INSERT INTO bench_bodies
SELECT b, jsonb_build_object('inventory', (
         SELECT jsonb_agg(jsonb_build_object(
                  'sku', 'CH-' || k,
                  'warehouse_uuid', '00000000-0000-4000-8000-00000000000' || w,
                  'on_hand', q))
           FROM (SELECT (random() * (:skus - 1))::int AS k, 1 + floor(random() * 3)::int AS w,
                        (random() * 100)::int AS q
                   FROM generate_series(1, 50) WHERE b IS NOT NULL) s))::text
  FROM generate_series(1, :items / 50) b;
VACUUM ANALYZE;
