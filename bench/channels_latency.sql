-- run-channels, 3: the time from an order's commit to its row in a
-- channel's feed, with no backlog.  :n reservations of 1 unit in W1, each
-- of a sku with more than 10 available there (so that channel C1, which
-- lists all of it, lists one less), one at a time, 50 ms apart;
-- for each, the clock starts just before COMMIT and stops when a new feed
-- row is visible (polled every 0.5 ms, at most 5 s).
CREATE TEMP TABLE feed_latency (i int, ms float8);
CREATE PROCEDURE pg_temp.measure(n int) LANGUAGE plpgsql AS $$
DECLARE
    before bigint;
    seen bigint;
    t0 timestamptz;
    skus text[];
BEGIN
    SELECT array_agg(l.sku) INTO skus
      FROM (SELECT sku FROM inventory.inventory_levels
             WHERE warehouse_uuid = '00000000-0000-4000-8000-000000000001' AND available > 10
             ORDER BY sku LIMIT n) l;
    IF cardinality(skus) IS DISTINCT FROM n THEN
        RAISE EXCEPTION 'fewer than % skus with more than 10 available in W1', n;
    END IF;
    FOR i IN 1 .. n LOOP
        SELECT COALESCE(max(id), 0) INTO before FROM inventory.inventory_channel_feed;
        PERFORM inventory.inventory_reserve('LATENCY-' || i, skus[i], '00000000-0000-4000-8000-000000000001', 1);
        t0 := clock_timestamp();
        COMMIT;
        LOOP
            SELECT COALESCE(max(id), 0) INTO seen FROM inventory.inventory_channel_feed;
            EXIT WHEN seen > before;
            IF clock_timestamp() > t0 + interval '5 s' THEN
                RAISE EXCEPTION 'no feed row 5 s after reservation %', i;
            END IF;
            PERFORM pg_sleep(0.0005);
        END LOOP;
        INSERT INTO feed_latency VALUES (i, extract(epoch FROM clock_timestamp() - t0) * 1000);
        COMMIT;
        PERFORM pg_sleep(0.05);
    END LOOP;
END $$;
CALL pg_temp.measure(:n);
SELECT count(*) AS reservations,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2) AS p50_ms,
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 2) AS p99_ms,
       round(max(ms)::numeric, 2) AS max_ms
  FROM feed_latency;
