-- Channels (1.4): Sellbrite's inventory rules per channel, the quantities
-- to list now, the channel feed (a row only when a listed quantity
-- changes; every sku again when a rule or the warehouses change), and
-- stock alerts.  The feeds are derived by the worker a few milliseconds
-- after each commit: the checks below wait for it (test_feeds) and then
-- compare the feed with the quantities.
\set east 'c1000000-0000-4000-8000-00000000000e'
\set west 'c1000000-0000-4000-8000-00000000000f'
\set north 'c1000000-0000-4000-8000-00000000000a'
\set ebay 'cc000000-0000-4000-8000-0000000000eb'
\set amazon 'cc000000-0000-4000-8000-0000000000a2'
\set VERBOSITY default
\set SHOW_CONTEXT never

-- Warehouses of this test's own (the other tests' skus stay out of it).
INSERT INTO inventory_warehouses (uuid, name) VALUES
    (:'east', 'CH East'), (:'west', 'CH West'), (:'north', 'CH North');

-- Wait until the worker's pass has derived the feeds from every change
-- made so far (inventory_feeds_status: the feeds' cursor is at the
-- ledger's horizon, no channel or warehouse waits to be redone and no
-- threshold to be reported).
CREATE FUNCTION test_feeds() RETURNS boolean LANGUAGE sql AS $$
    SELECT test_poll('(SELECT caught_up FROM inventory.inventory_feeds_status())')
$$;
-- Queue items (sku, warehouse, on_hand), commit, and wait until they are
-- applied and fed.
CREATE PROCEDURE test_stock(VARIADIC items text[]) LANGUAGE plpgsql AS $$
DECLARE
    body jsonb := '[]';
    batch bigint;
    i int;
BEGIN
    FOR i IN 1 .. array_length(items, 1) BY 3 LOOP
        body := body || jsonb_build_object('sku', items[i], 'warehouse_uuid', items[i + 1],
                                           'on_hand', items[i + 2]::int);
    END LOOP;
    batch := inventory_adjust(body);
    COMMIT;
    PERFORM inventory_wait(batch);
    PERFORM test_feeds();
END $$;
-- The feed of a channel after a cursor, one line per row.
CREATE FUNCTION test_feed(channel uuid, after bigint)
RETURNS TABLE (sku text, quantity bigint, quantity_before bigint, available bigint, reason text)
LANGUAGE sql AS $$
    SELECT c.sku, c.quantity, c.quantity_before, c.available, c.reason
      FROM inventory_channel_changes(channel, after) c ORDER BY c.change_id
$$;
-- Every sku's last feed row agrees with the quantity to list now (0 for
-- a sku the view does not list): what a consumer that read the whole
-- feed would have listed.
CREATE VIEW test_feed_agrees AS
    SELECT ch.name, count(*) AS skus,
           count(*) FILTER (WHERE last.quantity IS DISTINCT FROM COALESCE(q.quantity, 0)) AS disagree
      FROM inventory_channels ch
      JOIN LATERAL (SELECT DISTINCT ON (f.sku) f.sku, f.quantity FROM inventory_channel_feed f
                     WHERE f.channel_uuid = ch.uuid ORDER BY f.sku, f.id DESC) last ON true
      LEFT JOIN inventory_channel_quantities q ON q.channel_uuid = ch.uuid AND q.sku = last.sku
     WHERE ch.active
     GROUP BY ch.name;

---------------------------------------------------------------------------
-- The rule: q = available - buffer; 0 when q <= 0; else floor(q * percent
-- / 100), at most max, at least min
---------------------------------------------------------------------------
SELECT available, percent, max, min, buffer,
       inventory_channel_quantity(available, percent, max, min, buffer) AS quantity
  FROM (VALUES
    -- percent rounds down (Sellbrite's examples)
    (10, 90, NULL, NULL, 0), (1, 90, NULL, NULL, 0), (2, 40, NULL, NULL, 0),
    (3, 50, NULL, NULL, 0), (199, 50, NULL, NULL, 0), (7, 0, NULL, NULL, 0),
    -- max caps; below it the real quantity shows
    (10, 100, 2, NULL, 0), (3, 100, 5, NULL, 0), (100, 50, 20, NULL, 0),
    -- min lists at least min while there is something to sell ...
    (1, 100, NULL, 3, 0), (1, 50, NULL, 3, 0), (7, 0, NULL, 2, 0), (10, 100, NULL, 3, 0),
    -- ... and nothing when there is none
    (0, 100, NULL, 3, 0), (-4, 100, NULL, 3, 0),
    -- the buffer comes off first; min applies only to what is left
    (5, 100, NULL, NULL, 2), (5, 100, NULL, 3, 5), (6, 100, NULL, 3, 5), (12, 50, NULL, NULL, 2),
    -- all together: (40 - 4) * 75% = 27, capped at 20; 5 - 4 = 1, 75% = 0, at least 2
    (40, 75, 20, 2, 4), (5, 75, 20, 2, 4),
    -- min equal to max: a fixed quantity while in stock
    (50, 100, 5, 5, 0), (1, 100, 5, 5, 0),
    -- large values do not overflow
    (9223372036854775807, 99, NULL, NULL, 0), (-9223372036854775807, 100, NULL, NULL, 9223372036854775807)
  ) AS r(available, percent, max, min, buffer);
-- NULLs: no max, no min; NULL percent is 100, NULL buffer 0, NULL available 0
SELECT inventory_channel_quantity(8, NULL, NULL, NULL, NULL) AS all_null,
       inventory_channel_quantity(NULL, 100, NULL, 1, 0) AS no_available;
-- a rule inventory_channels would refuse is refused
SELECT inventory_channel_quantity(10, 101, NULL, NULL, 0);
SELECT inventory_channel_quantity(10, -1, NULL, NULL, 0);
SELECT inventory_channel_quantity(10, 100, -1, NULL, 0);
SELECT inventory_channel_quantity(10, 100, 2, 3, 0);
SELECT inventory_channel_quantity(10, 100, NULL, NULL, -1);
\set VERBOSITY terse
INSERT INTO inventory_channels (name, percent) VALUES ('bad', 101);
INSERT INTO inventory_channels (name, max, min) VALUES ('bad', 2, 3);
INSERT INTO inventory_channels (name, buffer) VALUES ('bad', -1);
\set VERBOSITY default

---------------------------------------------------------------------------
-- Two channels, one adjustment, one order
---------------------------------------------------------------------------
-- eBay lists half of East's available, at most 10; Amazon lists East and
-- West less a buffer of 1, at least 2 while in stock.
INSERT INTO inventory_channels (uuid, name, percent, max) VALUES (:'ebay', 'eBay', 50, 10);
INSERT INTO inventory_channels (uuid, name, min, buffer) VALUES (:'amazon', 'Amazon', 2, 1);
INSERT INTO inventory_channel_warehouses VALUES (:'ebay', :'east'), (:'amazon', :'east'), (:'amazon', :'west');
SELECT test_feeds();
-- no stock yet: nothing to say
SELECT count(*) FROM inventory_channel_feed;
CALL test_stock('CH-A', :'east', '7', 'CH-A', :'west', '4', 'CH-B', :'east', '30', 'CH-C', :'west', '1');
SELECT channel_name, sku, available, quantity FROM inventory_channel_quantities
 WHERE sku LIKE 'CH-%' ORDER BY channel_name, sku;
-- each sku's first row; CH-C (West only) is not eBay's
SELECT * FROM test_feed(:'ebay', 0);
SELECT * FROM test_feed(:'amazon', 0);
SELECT max(change_id) AS cursor FROM inventory_channel_changes(:'ebay', 0) \gset
SELECT max(change_id) AS amazon_cursor FROM inventory_channel_changes(:'amazon', 0) \gset

-- An order for 3 CH-A at East: eBay 7 -> 4 available lists 2; Amazon
-- 11 -> 8 lists 7.
SELECT available FROM inventory_reserve('CH-ORDER-1', 'CH-A', :'east', 3);
SELECT test_feeds();
SELECT * FROM test_feed(:'ebay', :cursor);
SELECT * FROM test_feed(:'amazon', :amazon_cursor);
SELECT max(change_id) AS cursor FROM inventory_channel_changes(:'ebay', 0) \gset

-- A change the rule absorbs says nothing: CH-B above eBay's max (30 -> 40
-- available, still 10), but Amazon's 29 -> 39 is said.
CALL test_stock('CH-B', :'east', '40');
SELECT count(*) AS ebay_rows FROM inventory_channel_changes(:'ebay', :cursor);
SELECT * FROM test_feed(:'amazon', :amazon_cursor) WHERE sku = 'CH-B';
-- Rounding absorbs too: CH-A at East 7 -> 8 on hand, 4 -> 5 available,
-- half is still 2.
CALL test_stock('CH-A', :'east', '8');
SELECT count(*) AS ebay_rows FROM inventory_channel_changes(:'ebay', :cursor);
SELECT * FROM test_feed_agrees ORDER BY name;

---------------------------------------------------------------------------
-- A rule change says every sku of the channel again
---------------------------------------------------------------------------
SELECT max(change_id) AS cursor FROM inventory_channel_changes(:'ebay', 0) \gset
SELECT max(change_id) AS amazon_cursor FROM inventory_channel_changes(:'amazon', 0) \gset
UPDATE inventory_channels SET max = 3 WHERE uuid = :'ebay';
SELECT test_feeds();
-- every sku, changed or not (CH-A stays 2), with reason rule
SELECT * FROM test_feed(:'ebay', :cursor);
-- the other channel says nothing
SELECT count(*) FROM inventory_channel_changes(:'amazon', :amazon_cursor);
-- renaming a channel is no rule change
SELECT max(change_id) AS cursor FROM inventory_channel_changes(:'ebay', 0) \gset
UPDATE inventory_channels SET name = 'eBay US' WHERE uuid = :'ebay';
SELECT test_feeds();
SELECT count(*) FROM inventory_channel_changes(:'ebay', :cursor);

---------------------------------------------------------------------------
-- Warehouses joining, leaving, archived
---------------------------------------------------------------------------
-- West joins eBay: CH-A 5 + 4 = 9 available lists 3 (max), CH-C 1 lists 0
CALL test_stock('CH-D', :'north', '9');
INSERT INTO inventory_channel_warehouses VALUES (:'ebay', :'west');
SELECT test_feeds();
SELECT * FROM test_feed(:'ebay', :cursor);
SELECT max(change_id) AS cursor FROM inventory_channel_changes(:'ebay', 0) \gset
-- East leaves eBay: CH-B (East only) goes to 0, said once more
DELETE FROM inventory_channel_warehouses WHERE channel_uuid = :'ebay' AND warehouse_uuid = :'east';
SELECT test_feeds();
SELECT * FROM test_feed(:'ebay', :cursor);
SELECT max(change_id) AS amazon_cursor FROM inventory_channel_changes(:'amazon', 0) \gset
-- West archived: it feeds no channel, so Amazon lists East alone and
-- eBay nothing; per-sku alerts would count it no more either
UPDATE inventory_warehouses SET archived = true WHERE uuid = :'west';
SELECT test_feeds();
SELECT * FROM test_feed(:'amazon', :amazon_cursor);
SELECT channel_name, sku, quantity FROM inventory_channel_quantities
 WHERE sku LIKE 'CH-%' ORDER BY 1, 2;
SELECT max(change_id) AS amazon_cursor FROM inventory_channel_changes(:'amazon', 0) \gset
UPDATE inventory_warehouses SET archived = false WHERE uuid = :'west';
SELECT test_feeds();
SELECT * FROM test_feed(:'amazon', :amazon_cursor);
SELECT * FROM test_feed_agrees ORDER BY name;

---------------------------------------------------------------------------
-- An inactive channel: no quantities, its feed stands still; made active
-- again, it says every sku again
---------------------------------------------------------------------------
SELECT max(change_id) AS cursor FROM inventory_channel_changes(:'ebay', 0) \gset
UPDATE inventory_channels SET active = false WHERE uuid = :'ebay';
CALL test_stock('CH-A', :'west', '10');
SELECT count(*) FROM inventory_channel_quantities WHERE channel_uuid = :'ebay';
SELECT count(*) FROM inventory_channel_changes(:'ebay', :cursor);
UPDATE inventory_channels SET active = true WHERE uuid = :'ebay';
SELECT test_feeds();
SELECT * FROM test_feed(:'ebay', :cursor);

---------------------------------------------------------------------------
-- Reading the feed: arguments, an unknown channel, a cursor from elsewhere
---------------------------------------------------------------------------
-- pages in order
SELECT string_agg(sku, ' ' ORDER BY change_id) FROM inventory_channel_changes(:'amazon', 0, 3);
SELECT string_agg(c.sku, ' ' ORDER BY c.change_id)
  FROM inventory_channel_changes(:'amazon',
        (SELECT max(change_id) FROM inventory_channel_changes(:'amazon', 0, 3)), 3) c;
SELECT * FROM inventory_channel_changes(NULL, 0);
SELECT * FROM inventory_channel_changes(:'amazon', 0, 0);
SELECT * FROM inventory_channel_changes('cc000000-0000-4000-8000-000000000000', 0);
\set VERBOSITY verbose
SELECT * FROM inventory_channel_changes(:'amazon', 1000000);
\set VERBOSITY default
-- a deleted channel takes its feed and listings with it
INSERT INTO inventory_channels (uuid, name) VALUES ('cc000000-0000-4000-8000-0000000000dd', 'Gone');
INSERT INTO inventory_channel_warehouses VALUES ('cc000000-0000-4000-8000-0000000000dd', :'east');
SELECT test_feeds();
SELECT count(*) > 0 AS said FROM inventory_channel_feed WHERE channel_uuid = 'cc000000-0000-4000-8000-0000000000dd';
DELETE FROM inventory_channels WHERE uuid = 'cc000000-0000-4000-8000-0000000000dd';
SELECT (SELECT count(*) FROM inventory_channel_feed WHERE channel_uuid = 'cc000000-0000-4000-8000-0000000000dd') AS feed,
       (SELECT count(*) FROM inventory_channel_listings WHERE channel_uuid = 'cc000000-0000-4000-8000-0000000000dd') AS listings;

---------------------------------------------------------------------------
-- Stock alerts
---------------------------------------------------------------------------
SELECT COALESCE(max(alert_id), 0) AS alerts FROM inventory_alerts() \gset
-- CH-A at East (available 5 of on_hand 8, 3 reserved) with threshold 5:
-- low at once; CH-A over every warehouse (5 + 10) with threshold 12: in
-- stock; CH-Z, which has no row: out of stock
INSERT INTO inventory_stock_alerts (sku, warehouse_uuid, threshold) VALUES
    ('CH-A', :'east', 5), ('CH-A', NULL, 12), ('CH-Z', NULL, 0);
SELECT test_feeds();
SELECT sku, warehouse_uuid IS NULL AS per_sku, state, state_before, available, threshold
  FROM inventory_alerts(:alerts) ORDER BY alert_id;
SELECT max(alert_id) AS alerts FROM inventory_alerts() \gset
SELECT sku, warehouse_uuid IS NULL AS per_sku, threshold, available, state
  FROM inventory_low_stock WHERE sku LIKE 'CH-%' ORDER BY 1, 2;
-- one key twice is refused (NULL is one key: the sku over every warehouse)
INSERT INTO inventory_stock_alerts (sku, warehouse_uuid, threshold) VALUES ('CH-A', NULL, 3);
-- An order takes East to 0 available and the sum to 10: East goes out of
-- stock, the sum goes low; a change inside a state says nothing.
SELECT available FROM inventory_reserve('CH-ORDER-2', 'CH-A', :'east', 5);
SELECT test_feeds();
CALL test_stock('CH-A', :'west', '9');
SELECT sku, warehouse_uuid IS NULL AS per_sku, state, state_before, available
  FROM inventory_alerts(:alerts) ORDER BY alert_id;
SELECT max(alert_id) AS alerts FROM inventory_alerts() \gset
-- back in stock when the order is cancelled
SELECT available FROM inventory_release('CH-ORDER-2', 'CH-A', :'east');
SELECT test_feeds();
SELECT sku, warehouse_uuid IS NULL AS per_sku, state, state_before, available
  FROM inventory_alerts(:alerts) ORDER BY alert_id;
SELECT max(alert_id) AS alerts FROM inventory_alerts() \gset
-- a threshold raised past the stock reports the new state
UPDATE inventory_stock_alerts SET threshold = 20 WHERE sku = 'CH-A' AND warehouse_uuid IS NULL;
SELECT test_feeds();
SELECT sku, state, state_before, available, threshold FROM inventory_alerts(:alerts);
SELECT sku, warehouse_uuid IS NULL AS per_sku, state, available, pending
  FROM inventory_stock_alerts ORDER BY 1, 2;
SELECT * FROM inventory_alerts(-1, 0);
-- where the feeds are
SELECT caught_up, ledger_cursor = ledger_horizon AS at_horizon, channels_waiting,
       warehouses_waiting, alerts_waiting
  FROM inventory_feeds_status();
-- A change of a rule or a threshold cannot be prepared (COMMIT PREPARED
-- would tell the worker nothing)
BEGIN;
UPDATE inventory_channels SET percent = 60 WHERE uuid = :'amazon';
PREPARE TRANSACTION 'ch-rule';
BEGIN;
UPDATE inventory_stock_alerts SET threshold = 1 WHERE sku = 'CH-Z';
PREPARE TRANSACTION 'ch-alert';
SELECT percent FROM inventory_channels WHERE uuid = :'amazon';
-- one that changes neither (a rename) can be
BEGIN;
UPDATE inventory_channels SET name = 'Amazon EU' WHERE uuid = :'amazon';
PREPARE TRANSACTION 'ch-name';
COMMIT PREPARED 'ch-name';
SELECT name FROM inventory_channels WHERE uuid = :'amazon';

---------------------------------------------------------------------------
-- Who may do what: the tables the pass keeps are the extension's; an
-- application role granted the reading functions reads the feeds
---------------------------------------------------------------------------
CREATE ROLE ch_reader;
GRANT USAGE ON SCHEMA inventory TO ch_reader;
GRANT EXECUTE ON FUNCTION inventory_channel_changes(uuid, bigint, integer),
                          inventory_alerts(bigint, integer) TO ch_reader;
SET ROLE ch_reader;
SELECT count(*) > 0 AS reads FROM inventory_channel_changes(:'amazon', 0);
SELECT count(*) > 0 AS reads FROM inventory_alerts(0);
SELECT count(*) FROM inventory_channel_feed;
INSERT INTO inventory_channels (name) VALUES ('mine');
SELECT inventory_internal.inventory_feeds_catch_up(10);
-- the views read with the reader's rights: SELECT on the view alone is
-- not enough (row-level security on the level rows would apply)
RESET ROLE;
GRANT SELECT ON inventory_channel_quantities, inventory_low_stock TO ch_reader;
SET ROLE ch_reader;
SELECT count(*) FROM inventory_channel_quantities;
RESET ROLE;
GRANT SELECT ON inventory_channels, inventory_channel_warehouses, inventory_warehouses,
                inventory_levels, inventory_stock_alerts TO ch_reader;
SET ROLE ch_reader;
SELECT count(*) > 0 AS reads FROM inventory_channel_quantities;
SELECT count(*) > 0 AS reads FROM inventory_low_stock;
RESET ROLE;
REVOKE ALL ON inventory_channel_quantities, inventory_low_stock, inventory_channels,
              inventory_channel_warehouses, inventory_warehouses, inventory_levels,
              inventory_stock_alerts FROM ch_reader;
REVOKE ALL ON SCHEMA inventory FROM ch_reader;
REVOKE ALL ON FUNCTION inventory_channel_changes(uuid, bigint, integer),
                       inventory_alerts(bigint, integer) FROM ch_reader;
DROP ROLE ch_reader;
