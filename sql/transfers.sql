-- Transfers: inventory_transfer (immediate and in transit),
-- inventory_receive_transfer, inventory_cancel_transfer, the level row's
-- incoming, their ledger rows (transfer_id, incoming before/after), the
-- change feed and inventory_verify(); the apply's direct ledger append on
-- the ledger of 1.3.
\set wh '11111111-1111-4111-8111-111111111111'
\set wh2 '22222222-2222-4222-8222-222222222222'
\set closed '33333333-3333-4333-8333-333333333333'
\set unknown '44444444-4444-4444-8444-444444444444'
\set VERBOSITY default
\set SHOW_CONTEXT never

-- This file's level rows, transfers and ledger rows (warehouses shown as
-- main/overflow, transfers by their number in this file).
CREATE TEMP VIEW tr_levels AS
    SELECT sku, CASE warehouse_uuid WHEN '11111111-1111-4111-8111-111111111111' THEN 'main'
                                    WHEN '22222222-2222-4222-8222-222222222222' THEN 'overflow' END AS wh,
           on_hand, reserved, available, incoming
      FROM inventory_levels WHERE sku LIKE 'TR-%';
CREATE TEMP VIEW tr_transfers AS
    SELECT id, sku,
           CASE from_warehouse WHEN '11111111-1111-4111-8111-111111111111' THEN 'main'
                               WHEN '22222222-2222-4222-8222-222222222222' THEN 'overflow' END AS from_wh,
           CASE to_warehouse WHEN '11111111-1111-4111-8111-111111111111' THEN 'main'
                             WHEN '22222222-2222-4222-8222-222222222222' THEN 'overflow' END AS to_wh,
           quantity, received, cancelled, remaining, state, reference,
           created_by = current_user AS by_me
      FROM inventory_transfers WHERE sku LIKE 'TR-%';
CREATE TEMP VIEW tr_led AS
    SELECT id, transfer_id, sku,
           CASE warehouse_uuid WHEN '11111111-1111-4111-8111-111111111111' THEN 'main'
                               WHEN '22222222-2222-4222-8222-222222222222' THEN 'overflow' END AS wh,
           source, description, on_hand_before AS oh_before, on_hand_after AS oh_after,
           reserved_before AS res_before, reserved_after AS res_after,
           available_before AS av_before, available_after AS av_after,
           incoming_before AS in_before, incoming_after AS in_after
      FROM inventory_ledger WHERE sku LIKE 'TR-%';
\set cols 'sku, wh, source, description, oh_before, oh_after, res_before, res_after, av_before, av_after, in_before, in_after'

-- The level row has incoming, the last column, 0 by default.
SELECT attnum = (SELECT max(attnum) FROM pg_attribute
                  WHERE attrelid = 'inventory_levels'::regclass AND attnum > 0) AS incoming_is_last,
       format_type(atttypid, atttypmod), attnotnull,
       pg_get_expr(d.adbin, d.adrelid) AS default
  FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE attrelid = 'inventory_levels'::regclass AND attname = 'incoming';

---------------------------------------------------------------------------
-- Stock to move, by a queued batch; the apply appends its ledger rows
-- straight into the ledger of 1.3 (no "not as installed" message), and
-- leaves transfer_id and incoming NULL.
---------------------------------------------------------------------------
-- (queued and applied in one transaction: the worker cannot take it first)
SELECT COALESCE(max(id), 0) AS m FROM inventory_ledger \gset
BEGIN;
SELECT inventory_adjust(format('[
    {"sku": "TR-A", "warehouse_uuid": "%1$s", "on_hand": 10},
    {"sku": "TR-B", "warehouse_uuid": "%1$s", "on_hand": 5},
    {"sku": "TR-C", "warehouse_uuid": "%2$s", "on_hand": 8}]', :'wh', :'wh2')::jsonb) AS b \gset
SET LOCAL client_min_messages = debug1;
SELECT inventory_process_queue();
COMMIT;
SELECT :cols, transfer_id FROM tr_led WHERE id > :m ORDER BY id;
-- The same with a ledger the owner changed (a CHECK constraint, for this
-- transaction only): the fallback says so, which is what the check above
-- would have shown.
BEGIN;
ALTER TABLE inventory_ledger ADD CONSTRAINT tr_owner_check CHECK (on_hand_after >= 0) NOT VALID;
SELECT inventory_adjust(format('[{"sku": "TR-B", "warehouse_uuid": "%s", "on_hand": 6}]', :'wh')::jsonb) AS b \gset
SET LOCAL client_min_messages = debug1;
SELECT inventory_process_queue();
RESET client_min_messages;
ALTER TABLE inventory_ledger DROP CONSTRAINT tr_owner_check;
COMMIT;
SELECT :cols, transfer_id FROM tr_led WHERE id > :m ORDER BY id;
SELECT * FROM tr_levels ORDER BY sku, wh;

---------------------------------------------------------------------------
-- Immediate: on_hand leaves main and arrives at overflow (a new row), in
-- one transaction; two ledger rows, in key order, with the transfer's id
-- and its reference as description.
---------------------------------------------------------------------------
SELECT COALESCE(max(id), 0) AS m FROM inventory_ledger \gset
SELECT id AS t1
  FROM inventory_transfer('TR-A', :'wh', :'wh2', 4, reference => 'rebalance 1') \gset
SELECT * FROM tr_transfers WHERE id = :t1;
SELECT * FROM tr_levels WHERE sku = 'TR-A' ORDER BY wh;
SELECT :cols, transfer_id = :t1 AS of_t1 FROM tr_led WHERE id > :m ORDER BY id;
-- the other direction, without reference: the level row is not new
SELECT COALESCE(max(id), 0) AS m FROM inventory_ledger \gset
SELECT id AS t2 FROM inventory_transfer('TR-A', :'wh2', :'wh', 1) \gset
SELECT * FROM tr_levels WHERE sku = 'TR-A' ORDER BY wh;
SELECT :cols, transfer_id = :t2 AS of_t2 FROM tr_led WHERE id > :m ORDER BY id;

---------------------------------------------------------------------------
-- In transit: shipping takes on_hand off the source and adds incoming to
-- the destination, whose available does not move.
---------------------------------------------------------------------------
SELECT COALESCE(max(id), 0) AS m FROM inventory_ledger \gset
SELECT id AS t3 FROM inventory_transfer('TR-B', :'wh', :'wh2', 5, 'PO-77', in_transit => true) \gset
SELECT * FROM tr_transfers WHERE id = :t3;
SELECT * FROM tr_levels WHERE sku = 'TR-B' ORDER BY wh;
SELECT :cols, transfer_id = :t3 AS of_t3 FROM tr_led WHERE id > :m ORDER BY id;
-- Received in part (2), then the rest (NULL): incoming turns into on_hand.
SELECT quantity, received, remaining, state FROM inventory_receive_transfer(:t3, 2);
SELECT * FROM tr_levels WHERE sku = 'TR-B' ORDER BY wh;
SELECT quantity, received, remaining, state FROM inventory_receive_transfer(:t3);
SELECT * FROM tr_levels WHERE sku = 'TR-B' ORDER BY wh;
-- every row of the transfer, and only those, carries its id
SELECT :cols FROM tr_led WHERE transfer_id = :t3 ORDER BY id;
SELECT count(*) AS rows_of_t3 FROM inventory_ledger WHERE transfer_id = :t3;

-- Shipped, received in part, then cancelled: the rest goes back.
SELECT COALESCE(max(id), 0) AS m FROM inventory_ledger \gset
SELECT id AS t4 FROM inventory_transfer('TR-C', :'wh2', :'wh', 6, 'PO-78', true) \gset
SELECT remaining, state FROM inventory_receive_transfer(:t4, 1);
SELECT received, cancelled, remaining, state FROM inventory_cancel_transfer(:t4);
SELECT * FROM tr_levels WHERE sku = 'TR-C' ORDER BY wh;
SELECT :cols, transfer_id = :t4 AS of_t4 FROM tr_led WHERE id > :m ORDER BY id;
-- The transfer's id and reference do not outlive its function: a direct
-- change later in the same transaction has neither.
BEGIN;
SELECT state FROM inventory_transfer('TR-C', :'wh2', :'wh', 1, 'PO-79');
UPDATE inventory_levels SET on_hand = on_hand - 1 WHERE sku = 'TR-C' AND warehouse_uuid = :'wh';
SELECT source, description, transfer_id FROM tr_led WHERE id = (SELECT max(id) FROM tr_led);
ROLLBACK;
-- Shipped, then cancelled whole.
SELECT id AS t5 FROM inventory_transfer('TR-C', :'wh2', :'wh', 2, in_transit => true) \gset
SELECT received, cancelled, remaining, state FROM inventory_cancel_transfer(:t5);
SELECT * FROM tr_levels WHERE sku = 'TR-C' ORDER BY wh;

---------------------------------------------------------------------------
-- Not enough stock: refused with IN001, nothing changed.  What counts is
-- available (reserved stock stays), never incoming.
---------------------------------------------------------------------------
SELECT on_hand, reserved, available FROM inventory_reserve('TR-ORD-1', 'TR-A', :'wh', 5);
SELECT id AS t6 FROM inventory_transfer('TR-A', :'wh2', :'wh', 3, in_transit => true) \gset
SELECT * FROM tr_levels WHERE sku = 'TR-A' ORDER BY wh;
SELECT count(*) AS transfers_before FROM inventory_transfers \gset
SELECT COALESCE(max(id), 0) AS m FROM inventory_ledger \gset
-- on_hand 7 and incoming 3 at main, but only 2 available
SELECT * FROM inventory_transfer('TR-A', :'wh', :'wh2', 3);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM tr_levels WHERE sku = 'TR-A' ORDER BY wh;
SELECT count(*) - :transfers_before AS new_transfers,
       (SELECT count(*) FROM inventory_ledger WHERE id > :m) AS new_ledger_rows
  FROM inventory_transfers;
-- allow_oversell => true moves it anyway (available and on_hand go negative
-- at the source, as with an oversold reservation)
SELECT state FROM inventory_transfer('TR-A', :'wh', :'wh2', 3, allow_oversell => true);
SELECT * FROM tr_levels WHERE sku = 'TR-A' ORDER BY wh;
-- a missing source row has nothing available: refused, and not created
SELECT * FROM inventory_transfer('TR-NONE', :'wh', :'wh2', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS rows_of_tr_none FROM inventory_levels WHERE sku = 'TR-NONE';

---------------------------------------------------------------------------
-- Bad arguments: a clear error, nothing changed.
---------------------------------------------------------------------------
SELECT count(*) AS transfers_before FROM inventory_transfers \gset
SELECT COALESCE(max(id), 0) AS m FROM inventory_ledger \gset
SELECT * FROM inventory_transfer(NULL, :'wh', :'wh2', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM inventory_transfer('TR-A', :'wh', NULL, 1);
SELECT * FROM inventory_transfer('TR-A', :'wh', :'wh2', NULL);
SELECT * FROM inventory_transfer('TR-A', :'wh', :'wh2', 1, in_transit => NULL);
SELECT * FROM inventory_transfer('TR-A', :'wh', :'wh2', 1, allow_oversell => NULL);
SELECT * FROM inventory_transfer('TR-A', :'wh', :'wh2', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM inventory_transfer('TR-A', :'wh', :'wh2', 2147483648);
SELECT * FROM inventory_transfer('TR-A', :'wh', :'wh', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM inventory_transfer('TR-A', :'wh', :'unknown', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM inventory_transfer('TR-A', :'closed', :'wh', 1);
SELECT * FROM inventory_transfer(' TR-A', :'wh', :'wh2', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM inventory_transfer('TR-A', :'wh', :'wh2', 1, reference => '');
SELECT * FROM inventory_transfer('TR-A', :'wh', :'wh2', 1, reference => repeat('r', 256));
SELECT * FROM inventory_transfer('TR-A', :'wh', :'wh2', 1, reference => E'line\nbreak');
SELECT count(*) - :transfers_before AS new_transfers,
       (SELECT count(*) FROM inventory_ledger WHERE id > :m) AS new_ledger_rows
  FROM inventory_transfers;

-- Receiving and cancelling: unknown, finished, too much.
SELECT * FROM inventory_receive_transfer(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM inventory_receive_transfer(-1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM inventory_cancel_transfer(-1);
SELECT * FROM inventory_receive_transfer(:t1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM inventory_cancel_transfer(:t3);
SELECT * FROM inventory_receive_transfer(:t4);
SELECT * FROM inventory_cancel_transfer(:t5);
SELECT * FROM inventory_receive_transfer(:t6, 4);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM inventory_receive_transfer(:t6, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM tr_transfers WHERE id = :t6;
SELECT count(*) - :transfers_before AS new_transfers,
       (SELECT count(*) FROM inventory_ledger WHERE id > :m) AS new_ledger_rows
  FROM inventory_transfers;

---------------------------------------------------------------------------
-- The change feed shows incoming (NULL when a change left it as it was)
-- and the changes of incoming alone; inventory_verify() checks incoming
-- against the transfers in transit and the ledger.
---------------------------------------------------------------------------
SELECT COALESCE(max(id), 0) AS m FROM inventory_ledger \gset
SELECT id AS t7 FROM inventory_transfer('TR-C', :'wh2', :'wh', 3, in_transit => true) \gset
SELECT remaining FROM inventory_receive_transfer(:t7, 1);
SELECT sku, CASE warehouse_uuid WHEN :'wh' THEN 'main' ELSE 'overflow' END AS wh,
       available, available_before, on_hand, reserved, source, incoming
  FROM inventory_changes(:m, 100) WHERE sku LIKE 'TR-%' ORDER BY change_id;
SELECT * FROM inventory_verify() WHERE sku LIKE 'TR-%';
-- incoming changed behind the transfers' back (recorded as a direct change
-- of incoming alone): verify names the row, the ledger still replays
BEGIN;
SET LOCAL inventory.change_reason = 'tamper';
UPDATE inventory_levels SET incoming = incoming + 1 WHERE sku = 'TR-C' AND warehouse_uuid = :'wh';
SELECT :cols, transfer_id FROM tr_led WHERE id = (SELECT max(id) FROM tr_led);
SELECT check_name, sku, detail FROM inventory_verify() WHERE sku LIKE 'TR-%';
ROLLBACK;
-- taken below what is in transit: receiving or cancelling it is refused
BEGIN;
UPDATE inventory_levels SET incoming = 0 WHERE sku = 'TR-C' AND warehouse_uuid = :'wh';
SELECT * FROM inventory_receive_transfer(:t7);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
UPDATE inventory_levels SET incoming = 1 WHERE sku = 'TR-C' AND warehouse_uuid = :'wh';
SELECT * FROM inventory_cancel_transfer(:t7);
ROLLBACK;
-- a ledger row that breaks the chain of incoming is found too
BEGIN;
UPDATE inventory_ledger SET incoming_before = incoming_before + 5
 WHERE id = (SELECT max(id) FROM inventory_ledger WHERE transfer_id = :t7);
SELECT check_name, sku, regexp_replace(detail, 'row \d+', 'row N') AS detail FROM inventory_verify() WHERE sku LIKE 'TR-%';
ROLLBACK;
SELECT remaining, state FROM inventory_receive_transfer(:t7);
SELECT * FROM inventory_verify() WHERE sku LIKE 'TR-%';

-- Everything of this file: levels and transfers.
SELECT * FROM tr_levels ORDER BY sku, wh;
SELECT id - :t1 + 1 AS n, sku, from_wh, to_wh, quantity, received, cancelled, remaining, state, reference, by_me
  FROM tr_transfers ORDER BY id;

-- Nothing is granted to PUBLIC.
SELECT p.proname, has_function_privilege('public', p.oid, 'EXECUTE') AS public_may_call
  FROM pg_proc p WHERE p.proname LIKE '%transfer%' ORDER BY 1;
SELECT has_table_privilege('public', 'inventory_transfers', 'SELECT') AS public_may_read;
