-- run-demo: channels with Sellbrite's inventory rules (version 1.4).
--   Two channels with different rules react to one adjustment and one
--   order: each lists its own quantity, and its feed gets a row only when
--   that quantity changes.

SELECT uuid AS austin FROM inventory_warehouses WHERE name = 'Austin' \gset
SELECT uuid AS berlin FROM inventory_warehouses WHERE name = 'Berlin' \gset

-- A demo-only helper: wait (at most 10 s) until the worker has brought the
-- channel feeds up to every change made so far.
CREATE FUNCTION demo_wait_feeds() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    deadline timestamptz := clock_timestamp() + interval '10 s';
BEGIN
    LOOP
        IF (SELECT caught_up FROM inventory_feeds_status()) THEN
            RETURN 'feeds up to date';
        END IF;
        IF clock_timestamp() > deadline THEN
            RAISE EXCEPTION 'demo check failed: the channel feeds did not catch up within 10 s';
        END IF;
        PERFORM pg_sleep(0.01);
    END LOOP;
END $$;
\set feeds 'SELECT c.name AS channel, f.change_id, f.sku, f.quantity_before, f.quantity, f.available, f.reason FROM inventory_channels c CROSS JOIN LATERAL inventory_channel_changes(c.uuid, :cursor) f WHERE f.sku = ''CH-DEMO'' ORDER BY f.change_id;'

\echo
\echo '--- Two channels: eBay lists 50% of Austin''s available, at most 5;'
\echo '    Amazon lists Austin + Berlin less a buffer of 2, at least 1 while in stock'
INSERT INTO inventory_channels (uuid, name, percent, max)
    VALUES ('e0000000-0000-4000-8000-0000000000eb', 'eBay', 50, 5);
INSERT INTO inventory_channels (uuid, name, min, buffer)
    VALUES ('a0000000-0000-4000-8000-0000000000a2', 'Amazon', 1, 2);
INSERT INTO inventory_channel_warehouses VALUES
    ('e0000000-0000-4000-8000-0000000000eb', :'austin'),
    ('a0000000-0000-4000-8000-0000000000a2', :'austin'),
    ('a0000000-0000-4000-8000-0000000000a2', :'berlin');
SELECT name, percent, max, min, buffer FROM inventory_channels ORDER BY name;
SELECT demo_wait_feeds();
SELECT COALESCE(max(id), 0) AS cursor FROM inventory_channel_feed \gset

\echo '--- One adjustment: CH-DEMO on_hand 8 in Austin and 3 in Berlin'
\set body '[{"sku": "CH-DEMO", "warehouse_uuid": "' :austin '", "on_hand": 8}, {"sku": "CH-DEMO", "warehouse_uuid": "' :berlin '", "on_hand": 3}]'
SELECT inventory_adjust(:'body') AS batch \gset
SELECT inventory_wait(:batch) AS state;
SELECT demo_wait_feeds();
SELECT channel_name, sku, available, quantity FROM inventory_channel_quantities WHERE sku = 'CH-DEMO' ORDER BY 1;
:feeds
SELECT demo_check(array_agg(quantity ORDER BY channel_name) = '{9,4}',
                  'Amazon lists 8 + 3 - 2 = 9, eBay half of 8 = 4')
  FROM inventory_channel_quantities WHERE sku = 'CH-DEMO' \gset
SELECT max(id) AS cursor FROM inventory_channel_feed \gset

\echo '--- One order: 3 CH-DEMO reserved in Austin (available 8 -> 5)'
SELECT sku, on_hand, reserved, available FROM inventory_reserve('SO-CH-1', 'CH-DEMO', :'austin', 3);
SELECT demo_wait_feeds();
:feeds
SELECT demo_check(array_agg(f.quantity ORDER BY c.name) = '{6,2}',
                  'the order moves both: Amazon 9 -> 6, eBay 4 -> 2 (half of 5, rounded down)')
  FROM inventory_channels c CROSS JOIN LATERAL inventory_channel_changes(c.uuid, :cursor) f \gset
SELECT max(id) AS cursor FROM inventory_channel_feed \gset

\echo '--- One more unit in Berlin: Amazon lists 7; eBay (Austin only) writes nothing'
\set body '[{"sku": "CH-DEMO", "warehouse_uuid": "' :berlin '", "on_hand_delta": 1}]'
SELECT inventory_adjust(:'body') AS batch \gset
SELECT inventory_wait(:batch) AS state;
SELECT demo_wait_feeds();
:feeds
SELECT demo_check(count(*) = 1 AND min(c.name) = 'Amazon', 'only Amazon''s quantity changed, so only Amazon''s feed has a row')
  FROM inventory_channels c CROSS JOIN LATERAL inventory_channel_changes(c.uuid, :cursor) f \gset
