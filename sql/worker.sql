-- The background worker: visible, applies without any manual call, can be
-- paused with inventory.enabled and a reload.
\set wh '11111111-1111-4111-8111-111111111111'

SELECT backend_type, application_name FROM pg_stat_activity WHERE backend_type = 'inventory worker';
SELECT enabled, extension_found, pid = (SELECT pid FROM pg_stat_activity WHERE backend_type = 'inventory worker') AS same_pid
  FROM inventory_worker_status();

-- A committed batch is applied by the worker alone: poll the table (no
-- inventory_wait, no inventory_process_queue).
SELECT inventory_adjust(format('[{"sku": "BY-WORKER", "warehouse_uuid": "%s", "on_hand": 42}]', :'wh')::jsonb) AS b \gset
SELECT test_poll($$EXISTS (SELECT 1 FROM inventory_levels WHERE sku = 'BY-WORKER' AND on_hand = 42)$$);
SELECT state FROM inventory_batches WHERE batch_id = :b;

-- Pause: inventory.enabled = off takes effect on reload.
ALTER SYSTEM SET inventory.enabled = off;
SELECT pg_reload_conf();
SELECT test_poll('NOT (SELECT enabled FROM inventory_worker_status())');
SELECT clock_timestamp() AS t0 \gset
SELECT inventory_adjust(format('[{"sku": "BY-WORKER", "warehouse_uuid": "%s", "on_hand": 43}]', :'wh')::jsonb) AS b \gset
-- the commit woke the worker: once it has gone round its loop, the batch is still queued
SELECT test_poll(format('(SELECT last_round_at FROM inventory_worker_status()) > %L', :'t0'));
SELECT state FROM inventory_batches WHERE batch_id = :b;
SELECT on_hand FROM inventory_levels WHERE sku = 'BY-WORKER';
-- ... and sleeps on its latch while paused rather than spinning: between
-- two of its wake-ups (last_round_at moves on each one, a naptime apart),
-- sample its wait event, with a fresh stats snapshot each time.
DO $$
DECLARE
    asleep int := 0;
    samples int := 0;
    wakeups int := 0;
    last timestamptz := (SELECT last_round_at FROM inventory_worker_status());
    cur timestamptz;
    deadline timestamptz := clock_timestamp() + interval '10 s';
BEGIN
    WHILE wakeups < 2 AND clock_timestamp() < deadline LOOP
        PERFORM pg_stat_clear_snapshot();
        cur := (SELECT last_round_at FROM inventory_worker_status());
        IF cur > last THEN
            wakeups := wakeups + 1;
            last := cur;
        ELSIF wakeups = 1 THEN
            samples := samples + 1;
            IF (SELECT wait_event_type FROM pg_stat_activity
                 WHERE backend_type = 'inventory worker') = 'Extension' THEN
                asleep := asleep + 1;
            END IF;
        END IF;
        PERFORM pg_sleep(0.005);
    END LOOP;
    RAISE NOTICE 'paused worker between two wake-ups: %',
        CASE WHEN samples >= 10 AND asleep >= 0.9 * samples THEN 'asleep in at least 90% of 10 or more samples'
             ELSE format('asleep in %s of %s samples, %s wake-ups seen', asleep, samples, wakeups) END;
END $$;
\set VERBOSITY default
SELECT inventory_wait(:b, '0.2 s');
\set VERBOSITY terse

-- Resume: the queued batch is applied.
ALTER SYSTEM RESET inventory.enabled;
SELECT pg_reload_conf();
SELECT inventory_wait(:b);
SELECT on_hand FROM inventory_levels WHERE sku = 'BY-WORKER';
SELECT test_poll('(SELECT enabled FROM inventory_worker_status())');

-- Counters since the worker started.
SELECT batches_applied > 0 AS applied_some, items_applied >= batches_applied AS items_counted,
       waiting_for_pid IS NULL AS not_waiting
  FROM inventory_worker_status();

-- inventory_wait on a batch that does not exist.
\set VERBOSITY default
SELECT inventory_wait(-1);
SELECT inventory_wait(NULL);

-- inventory_wait in the transaction that queued the batch (or in one of its
-- subtransactions) fails at once: the batch is applied only after commit.
BEGIN;
SELECT inventory_adjust(format('[{"sku": "BY-WORKER", "warehouse_uuid": "%s", "on_hand": 44}]', :'wh')::jsonb) AS b \gset
SELECT clock_timestamp() AS t0 \gset
SELECT inventory_wait(:b, '60 s');
ROLLBACK;
SELECT clock_timestamp() - :'t0'::timestamptz < interval '30 s' AS failed_at_once;
BEGIN;
SAVEPOINT s;
SELECT inventory_adjust(format('[{"sku": "BY-WORKER", "warehouse_uuid": "%s", "on_hand": 45}]', :'wh')::jsonb) AS b \gset
RELEASE SAVEPOINT s;
SELECT inventory_wait(:b, '60 s');
ROLLBACK;
-- Once committed, the same call waits and returns the state.
SELECT inventory_adjust(format('[{"sku": "BY-WORKER", "warehouse_uuid": "%s", "on_hand": 46}]', :'wh')::jsonb) AS b \gset
SELECT inventory_wait(:b);
