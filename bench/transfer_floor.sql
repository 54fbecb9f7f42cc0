-- bench/transfer_floor.sql: the floor of an immediate transfer (pgbench,
-- bench/run-transfers): what a hand-written transfer does on plain tables
-- with no trigger: the two level rows updated in key order (one unit out
-- of one, into the other) and two ledger-shaped rows inserted, in one
-- transaction.  No argument checks, no stock check, no transfer row.
\set k random(0, :keys - 1)
\set a random(1, 4)
\set d random(1, 3)
\set b 1 + (:a - 1 + :d) % 4
\set lo least(:a, :b)
\set hi greatest(:a, :b)
BEGIN;
UPDATE bench_plain_levels SET on_hand = on_hand + CASE WHEN :lo = :a THEN -1 ELSE 1 END, updated_at = now()
 WHERE sku = 'TRB-' || :k AND wh = :lo;
UPDATE bench_plain_levels SET on_hand = on_hand + CASE WHEN :hi = :a THEN -1 ELSE 1 END, updated_at = now()
 WHERE sku = 'TRB-' || :k AND wh = :hi;
INSERT INTO bench_plain_ledger (at, sku, wh, delta) VALUES (now(), 'TRB-' || :k, :a, -1), (now(), 'TRB-' || :k, :b, 1);
END;
