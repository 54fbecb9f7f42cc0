-- Expiring holds: inventory_reserve(..., expires_at), inventory_extend_hold,
-- and their release by the worker (ledger source 'expire').  A hold without
-- expires_at behaves as before 1.3; a hold past its expires_at still holds
-- until the worker releases it.
\set wh '11111111-1111-4111-8111-111111111111'
\set VERBOSITY default
\set SHOW_CONTEXT never

-- How long a hold lasts from its creation, to the minute (the calls below
-- run a few milliseconds apart).
CREATE FUNCTION pg_temp.lasts(r inventory_reservations) RETURNS interval
    LANGUAGE sql AS $$ SELECT date_trunc('minute', r.expires_at - r.created_at + interval '30 s') $$;
CREATE TEMP VIEW hold_res AS
    SELECT order_ref, line_ref, sku, quantity, expires_at IS NOT NULL AS expires,
           pg_temp.lasts(r) AS lasts
      FROM inventory_reservations r WHERE sku LIKE 'HOLD-%';
CREATE TEMP VIEW hold_levels AS
    SELECT sku, on_hand, reserved, available
      FROM inventory_levels WHERE sku LIKE 'HOLD-%';

-- Stock to hold: HOLD-A has on_hand 10.
SELECT inventory_adjust(format('[{"sku": "HOLD-A", "warehouse_uuid": "%s", "on_hand": 10}]', :'wh')::jsonb) AS b \gset
SELECT inventory_wait(:b);

-- The new parameter comes last; the others keep their names and order.
SELECT pg_get_function_identity_arguments('inventory_reserve'::regproc);

---------------------------------------------------------------------------
-- Reserving with and without expires_at
---------------------------------------------------------------------------
-- Without expires_at: as before, it never expires.
SELECT sku, reserved, available FROM inventory_reserve('H-1', 'HOLD-A', :'wh', 1);
-- With expires_at: a hold for an hour.
SELECT sku, reserved, available
  FROM inventory_reserve('H-2', 'HOLD-A', :'wh', 2, expires_at => now() + interval '1 hour');
SELECT * FROM hold_res ORDER BY order_ref;
-- Reserving again on the same line adds the quantity, and its expires_at
-- replaces the line's: here two hours ...
SELECT sku, reserved FROM inventory_reserve('H-2', 'HOLD-A', :'wh', 1, expires_at => now() + interval '2 hours');
SELECT * FROM hold_res WHERE order_ref = 'H-2';
-- ... and NULL (the default) makes it a hold that does not expire.
SELECT sku, reserved FROM inventory_reserve('H-2', 'HOLD-A', :'wh', 1);
SELECT * FROM hold_res WHERE order_ref = 'H-2';

-- expires_at must be in the future (after the transaction's start) and
-- finite; nothing changes.  (The DETAIL shows the times: terse.)
\set VERBOSITY terse
SELECT inventory_reserve('H-3', 'HOLD-A', :'wh', 1, expires_at => now());
\echo SQLSTATE :SQLSTATE
SELECT inventory_reserve('H-3', 'HOLD-A', :'wh', 1, expires_at => now() - interval '1 minute');
\echo SQLSTATE :SQLSTATE
SELECT inventory_reserve('H-3', 'HOLD-A', :'wh', 1, expires_at => 'infinity');
\echo SQLSTATE :SQLSTATE
SELECT inventory_reserve('H-2', 'HOLD-A', :'wh', 1, expires_at => '-infinity');
\echo SQLSTATE :SQLSTATE
\set VERBOSITY default
SELECT * FROM hold_res ORDER BY order_ref;
SELECT * FROM hold_levels;

---------------------------------------------------------------------------
-- inventory_extend_hold
---------------------------------------------------------------------------
SELECT sku, reserved FROM inventory_reserve('H-4', 'HOLD-A', :'wh', 1, 'L1', expires_at => now() + interval '1 minute');
SELECT sku, reserved FROM inventory_reserve('H-4', 'HOLD-A', :'wh', 2, 'L2', expires_at => now() + interval '1 minute');
-- One line: it returns the reservation it changed.
SELECT order_ref, line_ref, quantity, pg_temp.lasts(h) AS lasts
  FROM inventory_extend_hold('H-4', 'HOLD-A', :'wh', now() + interval '30 minutes', 'L2') h;
-- Without line_ref: every line of the order for that sku and warehouse.
SELECT order_ref, line_ref, quantity, pg_temp.lasts(h) AS lasts
  FROM inventory_extend_hold('H-4', 'HOLD-A', :'wh', now() + interval '45 minutes') h;
-- NULL: the line no longer expires.
SELECT order_ref, line_ref, expires_at
  FROM inventory_extend_hold('H-4', 'HOLD-A', :'wh', NULL, 'L1') h;
-- A hold that never expired can be given an expiry.
SELECT order_ref, line_ref, pg_temp.lasts(h) AS lasts
  FROM inventory_extend_hold('H-1', 'HOLD-A', :'wh', now() + interval '1 day') h;
-- Errors: no such hold (IN002), a time in the past, a bad argument.
SELECT * FROM inventory_extend_hold('H-404', 'HOLD-A', :'wh', now() + interval '1 hour') h;
\echo SQLSTATE :SQLSTATE
SELECT * FROM inventory_extend_hold('H-4', 'HOLD-A', :'wh', now() + interval '1 hour', 'L9') h;
\echo SQLSTATE :SQLSTATE
\set VERBOSITY terse
SELECT * FROM inventory_extend_hold('H-4', 'HOLD-A', :'wh', now() - interval '1 hour') h;
\echo SQLSTATE :SQLSTATE
\set VERBOSITY default
SELECT * FROM inventory_extend_hold(NULL, 'HOLD-A', :'wh', now() + interval '1 hour') h;
\echo SQLSTATE :SQLSTATE
SELECT * FROM inventory_extend_hold('H-4', 'HOLD-A ', :'wh', now() + interval '1 hour') h;
\echo SQLSTATE :SQLSTATE
-- Extending changes no quantity: no ledger row.
SELECT count(*) AS ledger_rows_of_h4, sum(reserved_after - reserved_before) AS reserved_added
  FROM inventory_ledger WHERE order_ref = 'H-4';
SELECT * FROM hold_res ORDER BY order_ref, line_ref;

---------------------------------------------------------------------------
-- A hold past its expires_at still holds until the worker releases it:
-- fulfilling or releasing it works as before (in one transaction, so that
-- the worker cannot release it first).
---------------------------------------------------------------------------
BEGIN;
SELECT sku, reserved FROM inventory_reserve('H-5', 'HOLD-A', :'wh', 1, expires_at => now() + interval '1 ms');
SELECT sku, reserved FROM inventory_reserve('H-6', 'HOLD-A', :'wh', 1, expires_at => now() + interval '1 ms');
UPDATE inventory_reservations SET expires_at = now() WHERE order_ref IN ('H-5', 'H-6');
SELECT sku, on_hand, reserved FROM inventory_fulfill('H-5', 'HOLD-A', :'wh');
SELECT sku, on_hand, reserved FROM inventory_release('H-6', 'HOLD-A', :'wh');
COMMIT;
SELECT order_ref, source, on_hand_after - on_hand_before AS on_hand, reserved_after - reserved_before AS reserved
  FROM inventory_ledger WHERE order_ref IN ('H-5', 'H-6') ORDER BY id;

---------------------------------------------------------------------------
-- One expiry pass from a session (inventory_internal.inventory_expire_holds,
-- as the worker runs it): each expired hold is released with the ledger
-- source 'expire' and its order and line; holds not yet due stay.
---------------------------------------------------------------------------
BEGIN;
SELECT sku, reserved FROM inventory_reserve('H-7', 'HOLD-A', :'wh', 2, 'a', expires_at => now() + interval '1 ms');
SELECT sku, reserved FROM inventory_reserve('H-7', 'HOLD-A', :'wh', 3, 'b', expires_at => now() + interval '1 ms');
UPDATE inventory_reservations SET expires_at = now() WHERE order_ref = 'H-7';
SELECT inventory_internal.inventory_expire_holds() AS released;
SELECT inventory_internal.inventory_expire_holds() AS released_again;
SELECT * FROM hold_res WHERE order_ref = 'H-7';
COMMIT;
SELECT order_ref, line_ref, source, reserved_after - reserved_before AS reserved, role = current_user AS by_me
  FROM inventory_ledger WHERE order_ref = 'H-7' ORDER BY id;
SELECT inventory_internal.inventory_expire_holds(0);
\echo SQLSTATE :SQLSTATE
-- inventory.change_source is back to what it was after the pass
SELECT current_setting('inventory.change_source') = '' AS source_restored;

---------------------------------------------------------------------------
-- The worker releases an expired hold by itself, promptly: the commit
-- tells the worker the expiry, which it sleeps no longer than.
---------------------------------------------------------------------------
SELECT reserved AS reserved_before FROM hold_levels \gset
SELECT sku, reserved FROM inventory_reserve('H-8', 'HOLD-A', :'wh', 4, 'x',
       expires_at => clock_timestamp() + interval '300 ms');
SELECT expires_at AS h8_expires FROM inventory_reservations WHERE order_ref = 'H-8' \gset
SELECT reserved - :reserved_before AS held FROM hold_levels;
SELECT test_poll($$NOT EXISTS (SELECT FROM inventory_reservations WHERE order_ref = 'H-8')$$, '30 s');
SELECT order_ref, line_ref, source, reserved_after - reserved_before AS reserved,
       at >= :'h8_expires'::timestamptz AS not_early,
       at < :'h8_expires'::timestamptz + interval '3 s' AS prompt
  FROM inventory_ledger WHERE order_ref = 'H-8' AND source = 'expire';
-- ... and the change feed shows it.
SELECT source, reserved FROM inventory_changes((SELECT max(id) - 1 FROM inventory_ledger))
 WHERE sku = 'HOLD-A' AND source = 'expire';
SELECT reserved - :reserved_before AS held FROM hold_levels;

-- Holds without expires_at, and those not yet due, are still there.
SELECT * FROM hold_res ORDER BY order_ref, line_ref;

-- Everything is consistent.
SELECT * FROM inventory_verify() WHERE sku LIKE 'HOLD-%';
