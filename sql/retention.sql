-- Retention (1.5): inventory_prune() deletes the ledger and the applied
-- batches older than a horizon, keeping where each key's ledger ended;
-- inventory_verify() chains the kept rows from there, inventory_changes()
-- refuses a cursor whose next changes were pruned, and
-- inventory_batch_status() and inventory_wait() say a batch was pruned.
-- It runs last: it prunes the history of every test before it.
\set wh '11111111-1111-4111-8111-111111111111'
\set VERBOSITY default
\set SHOW_CONTEXT never

-- Off by default: without a horizon, or with a bad one, nothing is pruned.
SHOW inventory.retention;
SELECT * FROM inventory_prune();
SELECT * FROM inventory_prune('-1 s');
SELECT * FROM inventory_prune('1 s', 0);

-- Some history: RT-A set, reserved, then set by available; RT-B set.
SELECT inventory_adjust(format('[{"sku": "RT-A", "warehouse_uuid": "%s", "on_hand": 10},
                                 {"sku": "RT-B", "warehouse_uuid": "%1$s", "on_hand": 5}]', :'wh')::jsonb) AS b1 \gset
SELECT inventory_wait(:b1);
SELECT (inventory_reserve('rt-order', 'RT-A', :'wh', 3)).available;
SELECT inventory_adjust(format('[{"sku": "RT-A", "warehouse_uuid": "%s", "available": 20}]', :'wh')::jsonb) AS b2 \gset
SELECT inventory_wait(:b2);
-- what the channel feed and the alerts still have to read is never pruned:
-- let them catch up first
SELECT test_poll('(SELECT caught_up FROM inventory.inventory_feeds_status())');

-- Nothing is an hour old.
SELECT ledger_rows, batches, more FROM inventory_prune('1 hour');
SELECT count(*) FROM inventory_ledger WHERE sku LIKE 'RT-%';

-- Everything before now, five ledger ids and five batches per call: each
-- call but the last says there is more.
SELECT ledger_rows <= 5 AND batches <= 5 AS bounded, more FROM inventory_prune('1 microsecond', 5);
DO $$
DECLARE
    calls integer := 1;
BEGIN
    WHILE (SELECT p.more FROM inventory.inventory_prune('1 microsecond', 5) p) LOOP
        calls := calls + 1;
    END LOOP;
    RAISE NOTICE 'done after more than one call: %', calls > 1;
END
$$;
SELECT count(*) FROM inventory_ledger WHERE sku LIKE 'RT-%';
SELECT count(*) FROM inventory_batch_history WHERE state = 'applied';
-- failed batches stay, with their items, to be queued again
SELECT count(*) > 0 AS failed_kept, bool_and(items IS NOT NULL) AS with_items
  FROM inventory_batch_history WHERE state = 'failed';
SELECT ledger_pruned_through = (SELECT last_value FROM inventory_ledger_id_seq) AS whole_ledger,
       batches_pruned_through >= :b2 AS past_b2, pruned_before <= now() AS before_now
  FROM inventory_retention_state;

-- Where each key's ledger ended, and every level row still proven by it
-- (earlier tests left two reserved counts drifting on purpose).
SELECT sku, on_hand, reserved, available, incoming FROM inventory_ledger_checkpoints
 WHERE sku LIKE 'RT-%' ORDER BY sku;
SELECT count(*) > 10 AS many_keys FROM inventory_ledger_checkpoints;
SELECT * FROM inventory_verify() WHERE check_name <> 'reserved' OR sku LIKE 'RT-%';

-- A pruned batch: one row that says so; inventory_wait() returns.
SELECT batch_id = :b1 AS b1, state, item, outcome, reason FROM inventory_batch_status(:b1);
SELECT inventory_wait(:b2);
SELECT * FROM inventory_batch_status(9000000000);

-- A cursor whose next changes were pruned is refused; from the kept
-- cursor the feed goes on.
\set VERBOSITY terse
SELECT * FROM inventory_changes(0);
\set VERBOSITY default
DO $$
DECLARE
    detail text;
    hint text;
BEGIN
    PERFORM inventory.inventory_changes(0);
EXCEPTION WHEN SQLSTATE 'IN005' THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
    RAISE NOTICE 'IN005: %', regexp_replace(detail || ' ' || hint, '[0-9]{3,}', 'N', 'g');
END
$$;
SELECT count(*) FROM inventory_changes((SELECT ledger_pruned_through FROM inventory_retention_state));

-- New changes chain from the checkpoint.
SELECT inventory_adjust(format('[{"sku": "RT-A", "warehouse_uuid": "%s", "on_hand_delta": 2}]', :'wh')::jsonb) AS b3 \gset
SELECT inventory_wait(:b3);
SELECT source, on_hand_before, on_hand_after, reserved_before FROM inventory_ledger WHERE sku = 'RT-A';
SELECT sku, available, available_before, source
  FROM inventory_changes((SELECT ledger_pruned_through FROM inventory_retention_state))
 WHERE sku LIKE 'RT-%';
SELECT * FROM inventory_verify() WHERE check_name <> 'reserved' OR sku LIKE 'RT-%';
SELECT outcome, on_hand_before, on_hand_after FROM inventory_batch_status(:b3);

-- A checkpoint that does not match is found: the kept chain of RT-A, and
-- RT-B, which has no kept row.
BEGIN;
UPDATE inventory_ledger_checkpoints SET on_hand = on_hand + 1 WHERE sku IN ('RT-A', 'RT-B');
SELECT check_name, sku, regexp_replace(detail, '[0-9]{3,}', 'N') AS detail
  FROM inventory_verify() WHERE check_name <> 'reserved' ORDER BY 1, 2;
ROLLBACK;

-- Drift that pruning would erase is logged as it goes: a ledger row of
-- RT-A that does not chain, found by inventory_verify() before the prune,
-- is named in a WARNING by the pass that deletes it.
UPDATE inventory_ledger SET on_hand_before = 21 WHERE sku = 'RT-A';
SELECT check_name, sku FROM inventory_verify() WHERE sku LIKE 'RT-%';
SELECT test_poll('(SELECT caught_up FROM inventory.inventory_feeds_status())');
\set VERBOSITY terse
SELECT ledger_rows > 0 AS pruned FROM inventory_prune('1 microsecond');
\set VERBOSITY default
SELECT check_name, sku FROM inventory_verify() WHERE sku LIKE 'RT-%';

-- Only superusers and roles granted it may prune.
CREATE ROLE rt_app;
GRANT USAGE ON SCHEMA inventory TO rt_app;
SET ROLE rt_app;
SELECT * FROM inventory_prune('1 microsecond');
RESET ROLE;
REVOKE USAGE ON SCHEMA inventory FROM rt_app;
DROP ROLE rt_app;
