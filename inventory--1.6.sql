/* inventory--1.6.sql: install script for the inventory extension, version 1.6 */

\echo Use "CREATE EXTENSION inventory" to load this file. \quit

/*
 * Contents
 *
 *   1. Trust: the schema is superusers' alone (checked before anything
 *      in it is used); the internal schema, inventory_internal
 *   2. Tables and sequences: warehouses, level rows, the queue, batch
 *      history, reservations, transfers, the ledger, idempotency keys;
 *      what pg_dump keeps
 *   3. Views: inventory_batches, inventory_queue_summary
 *   4. Level row triggers: available = on_hand - reserved, updated_at
 *   5. Ledger: who made a change, the ledger ids a transaction may write,
 *      the apply's own statements, the ledger trigger
 *   6. Reservations and order functions: reserved = sum of reservations,
 *      the argument checks, inventory_reserve, inventory_extend_hold,
 *      the expiry of holds, inventory_release, inventory_fulfill;
 *      transfers: inventory_transfer, inventory_receive_transfer,
 *      inventory_cancel_transfer
 *   7. Queue API: inventory_adjust, inventory_process_queue,
 *      inventory_wait
 *   8. Change feed: inventory_changes
 *   9. Status and checks: inventory_batch_status, inventory_verify,
 *      inventory_worker_status
 *  10. Reading stock: the row type inventory_stock, inventory_get,
 *      inventory_get_json
 *  11. Channels and stock alerts (1.4): channels, their warehouses, the
 *      listings and the channel feed, thresholds and alert events, the
 *      feeds' cursor; the rule inventory_channel_quantity, the views
 *      inventory_channel_quantities and inventory_low_stock, the triggers
 *      that ask for a channel to be said again, the pass that derives the
 *      feeds, inventory_channel_changes, inventory_alerts
 *  12. Retention (1.5): inventory_prune (its two tables, each key's
 *      checkpoint of its pruned ledger and how far retention has pruned,
 *      are in section 2)
 *  13. Scaling out (1.6): this node's id, a merchant's rows leaving one
 *      node for another (the merchant of each warehouse, and this node's
 *      id, are in section 2; the merchant check is in section 6)
 *
 * Conventions.  Every name is qualified: the extension's by @extschema@
 * (tables, views, sequences and the API's functions) or by
 * inventory_internal (trigger functions and helpers that only the
 * extension's own functions and C code call: out of the API's way in
 * \df inventory.*, and callable by no one else), PostgreSQL's by
 * pg_catalog (operators as OPERATOR(pg_catalog.=)), and every function
 * pins search_path to pg_catalog, pg_temp, so nothing resolves in a
 * schema others may create objects in.  Nothing is granted
 * to PUBLIC: each table, view, sequence, type and function is revoked
 * from PUBLIC right after it is made (the README's role recipe grants what
 * applications need).  Each function is followed by its comment and its
 * REVOKE, then by the triggers that call it.
 */

/* ------------------------------------------------------------------------
 * 1. Trust: the schema is superusers' alone; the internal schema
 * ------------------------------------------------------------------------
 */

/*
 * Trust.  The extension's code runs as a superuser (the worker, SECURITY
 * DEFINER functions, triggers) and names its objects by schema, so the
 * schema must be one that only superusers can own, rename or create
 * objects in.  The control file pins it to "inventory", which CREATE
 * EXTENSION creates, owned by the superuser running it; a schema of that
 * name made earlier by someone else is refused here, before anything in
 * it is used.  Only pg_catalog objects are used in this check.
 */
DO $$
DECLARE
    problems text;
BEGIN
    SELECT pg_catalog.string_agg(p.problem, ' ' ORDER BY p.ord) INTO problems
      FROM (SELECT 1 AS ord,
                   CASE WHEN r.rolname OPERATOR(pg_catalog.=) 'pg_database_owner'
                        THEN 'It is owned by pg_database_owner, that is by whoever owns the database.'
                        ELSE pg_catalog.format('It is owned by role %I, which is not a superuser.', r.rolname)
                   END AS problem
              FROM pg_catalog.pg_namespace n
              JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
             WHERE n.oid OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
               AND NOT r.rolsuper
            UNION ALL
            SELECT 2, pg_catalog.format('Role %s may create objects in it.',
                                        COALESCE(pg_catalog.quote_ident(r.rolname), 'PUBLIC'))
              FROM pg_catalog.pg_namespace n
             CROSS JOIN LATERAL pg_catalog.aclexplode(n.nspacl) a
              LEFT JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) a.grantee
             WHERE n.oid OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
               AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
               AND NOT COALESCE(r.rolsuper, false)
            UNION ALL
            -- what someone else made there (while they could) stays there
            SELECT 3, pg_catalog.format('%s %I in it is owned by role %I, which is not a superuser.',
                                        o.kind, o.name, r.rolname)
              FROM (SELECT 'Relation' AS kind, c.relname AS name, c.relowner AS owner
                      FROM pg_catalog.pg_class c WHERE c.relnamespace OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
                    UNION ALL
                    SELECT 'Function', f.proname, f.proowner
                      FROM pg_catalog.pg_proc f WHERE f.pronamespace OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
                    UNION ALL
                    SELECT 'Type', t.typname, t.typowner
                      FROM pg_catalog.pg_type t WHERE t.typnamespace OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
                    UNION ALL
                    SELECT 'Operator', op.oprname, op.oprowner
                      FROM pg_catalog.pg_operator op WHERE op.oprnamespace OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace) o
              JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) o.owner
             WHERE NOT r.rolsuper) p;
    IF problems IS NOT NULL THEN
        RAISE EXCEPTION 'schema "%" cannot hold the inventory extension', '@extschema@'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = problems,
                  HINT = 'The extension runs as a superuser and names its objects by schema, so only superusers may own that schema or create objects in it. Drop or rename that schema and let CREATE EXTENSION make its own, then try again.';
    END IF;
END
$$;

/*
 * The internal schema.  Trigger functions and the helpers that only the
 * extension's own functions and C code call live in inventory_internal,
 * named by that fixed name wherever they are used.  This script creates
 * it, so it is a member of the extension, owned by the superuser running
 * it; no one else needs any privilege on it (SECURITY DEFINER functions
 * run as their owner, and a trigger's function is not looked up by name
 * when it fires).  A schema of that name that already exists was made by
 * someone else (perhaps a role that is not a superuser, to have the
 * extension's code find objects of theirs there): refused, as above.
 */
DO $$
DECLARE
    owner name;
BEGIN
    SELECT r.rolname INTO owner
      FROM pg_catalog.pg_namespace n
      JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
     WHERE n.nspname OPERATOR(pg_catalog.=) 'inventory_internal';
    IF FOUND THEN
        RAISE EXCEPTION 'schema "inventory_internal" already exists'
            USING ERRCODE = 'duplicate_schema',
                  DETAIL = pg_catalog.format('The inventory extension creates that schema for its internal functions; the existing one is owned by role %I.', owner),
                  HINT = 'Drop or rename that schema, then try again.';
    END IF;
END
$$;
CREATE SCHEMA inventory_internal;
COMMENT ON SCHEMA inventory_internal IS
    'Internal functions of the inventory extension (trigger functions and helpers); not an API';
REVOKE ALL ON SCHEMA inventory_internal FROM PUBLIC;

/* ------------------------------------------------------------------------
 * 2. Tables and sequences
 * ------------------------------------------------------------------------
 */

/*
 * Warehouses.  Every level row and every queued item names one of these.
 */
CREATE TABLE @extschema@.inventory_warehouses (
    uuid        uuid        NOT NULL PRIMARY KEY,
    name        text        NOT NULL,
    archived    boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    -- 1.6: the last column, as the update from 1.5 adds it
    merchant    text        NOT NULL DEFAULT 'default',
    CONSTRAINT inventory_warehouses_merchant_check
        CHECK (pg_catalog.octet_length(merchant) OPERATOR(pg_catalog.>=) 1
               AND pg_catalog.octet_length(merchant) OPERATOR(pg_catalog.<=) 255
               AND merchant OPERATOR(pg_catalog.!~) '[\x01-\x1f\x7f]')
);
CREATE INDEX inventory_warehouses_merchant_idx
    ON @extschema@.inventory_warehouses (merchant);
COMMENT ON TABLE @extschema@.inventory_warehouses IS
    'Registry of warehouses; inventory_adjust accepts only registered, non-archived ones';
COMMENT ON COLUMN @extschema@.inventory_warehouses.merchant IS
    'The merchant the warehouse belongs to (''default'' on a single node): one operation names one merchant''s warehouses, and a router sends it to that merchant''s node';
REVOKE ALL ON TABLE @extschema@.inventory_warehouses FROM PUBLIC;

/*
 * Stock per (sku, warehouse).  available = on_hand - reserved is kept by the
 * C trigger inventory_levels_maintain.  incoming is what transfers in
 * transit carry to the row (never part of available; the last column, as
 * the update from 1.2 adds it).  Quantities are bigint so that
 * available + reserved can never overflow; the API accepts 0..2147483647.
 * SKUs are identifiers: they compare bytewise (collation "C"), which is
 * also what makes key lookups cheap.
 * fillfactor leaves room for HOT updates: no quantity column is indexed.
 */
CREATE TABLE @extschema@.inventory_levels (
    sku             text          COLLATE "C" NOT NULL,
    warehouse_uuid  uuid          NOT NULL
                    REFERENCES @extschema@.inventory_warehouses (uuid),
    on_hand         bigint        NOT NULL,
    reserved        bigint        NOT NULL DEFAULT 0,
    available       bigint        NOT NULL,
    bin_location    text,
    cost            numeric(10,2),
    created_at      timestamptz   NOT NULL DEFAULT pg_catalog.now(),
    updated_at      timestamptz   NOT NULL DEFAULT pg_catalog.now(),
    incoming        bigint        NOT NULL DEFAULT 0,
    PRIMARY KEY (sku, warehouse_uuid),
    CONSTRAINT inventory_levels_reserved_check CHECK (reserved OPERATOR(pg_catalog.>=) 0),
    CONSTRAINT inventory_levels_available_check
        CHECK (available OPERATOR(pg_catalog.=) (on_hand OPERATOR(pg_catalog.-) reserved)),
    CONSTRAINT inventory_levels_cost_check CHECK (cost OPERATOR(pg_catalog.>=) 0),
    CONSTRAINT inventory_levels_incoming_check CHECK (incoming OPERATOR(pg_catalog.>=) 0)
) WITH (fillfactor = 90);
CREATE INDEX inventory_levels_warehouse_idx
    ON @extschema@.inventory_levels (warehouse_uuid, sku);
COMMENT ON TABLE @extschema@.inventory_levels IS
    'Stock per (sku, warehouse_uuid); available is always on_hand - reserved';
COMMENT ON COLUMN @extschema@.inventory_levels.incoming IS
    'Stock on its way to this row: what transfers in transit still carry here; not part of available';
REVOKE ALL ON TABLE @extschema@.inventory_levels FROM PUBLIC;

/*
 * The queue: one row per accepted batch that is not applied yet.  Rows are
 * deleted when applied (and recorded in inventory_batch_history in the same
 * transaction), so the table stays small; autovacuum is tuned for churn.
 */
CREATE SEQUENCE @extschema@.inventory_batch_id_seq AS bigint;
REVOKE ALL ON SEQUENCE @extschema@.inventory_batch_id_seq FROM PUBLIC;

CREATE TABLE @extschema@.inventory_queue (
    batch_id    bigint      NOT NULL PRIMARY KEY,
    -- lz4: a 50-item batch compresses to fit in the row several times
    -- faster than with the default pglz
    items       jsonb       COMPRESSION lz4 NOT NULL,
    item_count  integer     NOT NULL,
    create_missing boolean  NOT NULL DEFAULT true,
    queued_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    queued_by   name        NOT NULL
) WITH (autovacuum_vacuum_scale_factor = 0.01,
        autovacuum_vacuum_threshold = 100,
        autovacuum_vacuum_cost_delay = 0,
        autovacuum_analyze_scale_factor = 0.05);
COMMENT ON TABLE @extschema@.inventory_queue IS
    'Accepted batches not yet applied, in batch_id order (internal; see inventory_batches)';
REVOKE ALL ON TABLE @extschema@.inventory_queue FROM PUBLIC;

/*
 * Outcome of every batch that left the queue.  items is kept only for failed
 * batches, so that they can be inspected and queued again.
 */
CREATE TABLE @extschema@.inventory_batch_history (
    batch_id    bigint      NOT NULL PRIMARY KEY,
    state       text        NOT NULL,
    item_count  integer     NOT NULL,
    create_missing boolean  NOT NULL DEFAULT true,
    skipped     jsonb,
    queued_at   timestamptz NOT NULL,
    queued_by   name        NOT NULL,
    queued_xid  xid         NOT NULL,
    applied_at  timestamptz NOT NULL,
    error       text,
    items       jsonb       COMPRESSION lz4,
    -- last: 1.3 added it (ALTER TABLE ... ADD COLUMN appends)
    rejected    jsonb,
    CONSTRAINT inventory_batch_history_state_check
        CHECK (state OPERATOR(pg_catalog.=) 'applied'
               OR (state OPERATOR(pg_catalog.=) 'failed' AND error IS NOT NULL))
);
COMMENT ON TABLE @extschema@.inventory_batch_history IS
    'Applied and failed batches (internal; see inventory_batches)';
COMMENT ON COLUMN @extschema@.inventory_batch_history.skipped IS
    'Items not applied because their level row did not exist (create_missing false): [{"item", "sku", "warehouse_uuid"}]';
COMMENT ON COLUMN @extschema@.inventory_batch_history.rejected IS
    'Items not applied because their expect_on_hand or expect_available differed from the row (outcome conflict) or their on_hand would be out of range (outcome out_of_range): [{"item", "sku", "warehouse_uuid", "outcome", "field", "expected", "actual", "result"}], in item order';
COMMENT ON COLUMN @extschema@.inventory_batch_history.queued_xid IS
    'Transaction that queued the batch; with track_commit_timestamp, pg_xact_commit_timestamp(queued_xid) and pg_xact_commit_timestamp(xmin) give the commit-to-applied delay';
REVOKE ALL ON TABLE @extschema@.inventory_batch_history FROM PUBLIC;

/*
 * Reservations: one row per open order line.  Statement triggers keep
 * inventory_levels.reserved equal to the sum of these per (sku, warehouse).
 */
CREATE SEQUENCE @extschema@.inventory_reservations_id_seq AS bigint;
REVOKE ALL ON SEQUENCE @extschema@.inventory_reservations_id_seq FROM PUBLIC;

CREATE TABLE @extschema@.inventory_reservations (
    id              bigint      NOT NULL PRIMARY KEY
                    DEFAULT pg_catalog.nextval('@extschema@.inventory_reservations_id_seq'::pg_catalog.regclass),
    order_ref       text        NOT NULL,
    line_ref        text,
    sku             text        COLLATE "C" NOT NULL,
    warehouse_uuid  uuid        NOT NULL REFERENCES @extschema@.inventory_warehouses (uuid),
    quantity        bigint      NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    -- 1.3; last, where ALTER TABLE ADD COLUMN puts it in an update
    expires_at      timestamptz,
    CONSTRAINT inventory_reservations_quantity_check CHECK (quantity OPERATOR(pg_catalog.>) 0),
    CONSTRAINT inventory_reservations_order_line_key
        UNIQUE NULLS NOT DISTINCT (order_ref, sku, warehouse_uuid, line_ref)
);
CREATE INDEX inventory_reservations_key_idx
    ON @extschema@.inventory_reservations (sku, warehouse_uuid);
-- the worker's next expiry and the holds due: only holds that expire
CREATE INDEX inventory_reservations_expires_idx
    ON @extschema@.inventory_reservations (expires_at)
    WHERE expires_at IS NOT NULL;
COMMENT ON TABLE @extschema@.inventory_reservations IS
    'Open order lines holding stock; inventory_levels.reserved is their sum per (sku, warehouse_uuid)';
COMMENT ON COLUMN @extschema@.inventory_reservations.expires_at IS
    'When the worker releases this hold (ledger source expire); NULL: it holds until released or fulfilled';
REVOKE ALL ON TABLE @extschema@.inventory_reservations FROM PUBLIC;

/*
 * Transfers: one row per call of inventory_transfer.  An immediate one is
 * done at once (state 'done'); one in transit stays 'in_transit' while
 * part of it is on its way (remaining > 0), and ends 'received' or
 * 'cancelled'.  The incoming of each level row is the sum of remaining
 * over the transfers in transit to it.
 */
CREATE SEQUENCE @extschema@.inventory_transfers_id_seq AS bigint;
REVOKE ALL ON SEQUENCE @extschema@.inventory_transfers_id_seq FROM PUBLIC;

CREATE TABLE @extschema@.inventory_transfers (
    id              bigint      NOT NULL PRIMARY KEY
                    DEFAULT pg_catalog.nextval('@extschema@.inventory_transfers_id_seq'::pg_catalog.regclass),
    sku             text        COLLATE "C" NOT NULL,
    from_warehouse  uuid        NOT NULL REFERENCES @extschema@.inventory_warehouses (uuid),
    to_warehouse    uuid        NOT NULL REFERENCES @extschema@.inventory_warehouses (uuid),
    quantity        bigint      NOT NULL,
    received        bigint      NOT NULL DEFAULT 0,
    cancelled       bigint      NOT NULL DEFAULT 0,
    remaining       bigint      NOT NULL
                    GENERATED ALWAYS AS (quantity OPERATOR(pg_catalog.-) received
                                         OPERATOR(pg_catalog.-) cancelled) STORED,
    state           text        NOT NULL,
    reference       text,
    created_by      name        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT inventory_transfers_quantity_check CHECK (quantity OPERATOR(pg_catalog.>) 0),
    CONSTRAINT inventory_transfers_warehouses_check
        CHECK (from_warehouse OPERATOR(pg_catalog.<>) to_warehouse),
    CONSTRAINT inventory_transfers_progress_check
        CHECK (received OPERATOR(pg_catalog.>=) 0 AND cancelled OPERATOR(pg_catalog.>=) 0
               AND received OPERATOR(pg_catalog.+) cancelled OPERATOR(pg_catalog.<=) quantity),
    CONSTRAINT inventory_transfers_state_check
        CHECK (CASE state
                   WHEN 'done' THEN received OPERATOR(pg_catalog.=) quantity
                   WHEN 'in_transit' THEN received OPERATOR(pg_catalog.+) cancelled OPERATOR(pg_catalog.<) quantity
                   WHEN 'received' THEN received OPERATOR(pg_catalog.=) quantity
                   WHEN 'cancelled' THEN cancelled OPERATOR(pg_catalog.>) 0
                        AND received OPERATOR(pg_catalog.+) cancelled OPERATOR(pg_catalog.=) quantity
                   ELSE false END)
);
CREATE INDEX inventory_transfers_in_transit_idx
    ON @extschema@.inventory_transfers (sku, to_warehouse) WHERE state OPERATOR(pg_catalog.=) 'in_transit';
COMMENT ON TABLE @extschema@.inventory_transfers IS
    'Stock moved between warehouses by inventory_transfer: at once (done) or in transit until received or cancelled';
COMMENT ON COLUMN @extschema@.inventory_transfers.state IS
    'done (moved at once), in_transit (remaining > 0 on its way), received (all of it arrived), cancelled (the rest went back to from_warehouse)';
COMMENT ON COLUMN @extschema@.inventory_transfers.created_by IS
    'The role that called inventory_transfer (the outer role, as inventory_outer_role() reports it)';
REVOKE ALL ON TABLE @extschema@.inventory_transfers FROM PUBLIC;

/*
 * The ledger: one row for every change of on_hand, reserved or incoming
 * of a level row, from every path.  Append-only.  Rows of one key are numbered in the
 * order their changes were made (they are written under the row's lock).
 */
CREATE SEQUENCE @extschema@.inventory_ledger_id_seq AS bigint;
REVOKE ALL ON SEQUENCE @extschema@.inventory_ledger_id_seq FROM PUBLIC;

CREATE TABLE @extschema@.inventory_ledger (
    id                bigint      NOT NULL PRIMARY KEY,
    at                timestamptz NOT NULL,
    sku               text        COLLATE "C" NOT NULL,
    warehouse_uuid    uuid        NOT NULL,
    source            text        NOT NULL,
    batch_id          bigint,
    item              integer,
    order_ref         text,
    line_ref          text,
    description       text,
    role              name        NOT NULL,
    xid               xid8        NOT NULL,
    on_hand_before    bigint      NOT NULL,
    on_hand_after     bigint      NOT NULL,
    reserved_before   bigint      NOT NULL,
    reserved_after    bigint      NOT NULL,
    available_before  bigint      NOT NULL,
    available_after   bigint      NOT NULL,
    -- 1.3: the last columns, as the update from 1.2 adds them
    transfer_id       bigint,
    incoming_before   bigint,
    incoming_after    bigint
);
-- Only indexes that cost next to nothing on an append-only table: BRIN on
-- batch_id (rows are written in batch order) and on the time.  A per-sku
-- index costs the apply about a fifth of its speed; add one yourself if
-- you look up one sku's history often (see README).
CREATE INDEX inventory_ledger_batch_idx
    ON @extschema@.inventory_ledger USING brin (batch_id) WITH (autosummarize = on);
CREATE INDEX inventory_ledger_at_idx
    ON @extschema@.inventory_ledger USING brin (at) WITH (autosummarize = on);
COMMENT ON TABLE @extschema@.inventory_ledger IS
    'Append-only history of every change of on_hand, reserved or incoming: who, when, why, before and after';
COMMENT ON COLUMN @extschema@.inventory_ledger.source IS
    'adjust (a queued item), reserve, release, fulfill (order functions), transfer, transfer_receive, transfer_cancel (transfer functions), expire (a hold released by the worker at its expires_at), reservations (a direct change of inventory_reservations), direct (any other write to inventory_levels)';
COMMENT ON COLUMN @extschema@.inventory_ledger.transfer_id IS
    'The transfer (inventory_transfers.id) whose shipping, receiving or cancelling made the change; NULL for other changes';
COMMENT ON COLUMN @extschema@.inventory_ledger.incoming_before IS
    'incoming before the change; NULL when the change left incoming as it was';
COMMENT ON COLUMN @extschema@.inventory_ledger.incoming_after IS
    'incoming after the change; NULL when the change left incoming as it was';
REVOKE ALL ON TABLE @extschema@.inventory_ledger FROM PUBLIC;

/*
 * Idempotency keys of inventory_adjust: the first batch queued under each
 * key, and a hash of the request, kept for inventory.idempotency_retention.
 * Keys are per calling role and merchant (the merchant of the batch's
 * warehouses): two roles, or one role for two merchants, may use the same
 * key.
 */
CREATE TABLE @extschema@.inventory_idempotency_keys (
    key             text        NOT NULL,
    request_hash    bytea       NOT NULL,
    batch_id        bigint      NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    role            name        NOT NULL,
    -- 1.6: the last column, as the update from 1.5 adds it
    merchant        text        NOT NULL DEFAULT '',
    CONSTRAINT inventory_idempotency_keys_pkey PRIMARY KEY (role, merchant, key)
);
COMMENT ON TABLE @extschema@.inventory_idempotency_keys IS
    'Idempotency keys of inventory_adjust and the batch each one queued (internal)';
COMMENT ON COLUMN @extschema@.inventory_idempotency_keys.role IS
    'The role that called inventory_adjust (the outer role, as inventory_outer_role() reports it); each role has its own keys';
COMMENT ON COLUMN @extschema@.inventory_idempotency_keys.merchant IS
    'The merchant of the batch''s warehouses; each merchant has its own keys, which move with it';
REVOKE ALL ON TABLE @extschema@.inventory_idempotency_keys FROM PUBLIC;

/* pg_dump keeps the data of these tables (their definitions come from the extension). */
SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_warehouses', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_levels', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_queue', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_batch_history', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_batch_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_reservations', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_reservations_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_ledger', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_ledger_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_idempotency_keys', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_transfers', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_transfers_id_seq', '');

/*
 * Where each key's pruned ledger ended: the after values of the last row
 * of the key that retention deleted.  inventory_verify() chains the kept
 * rows from here, so it still proves every level row.
 */
CREATE TABLE @extschema@.inventory_ledger_checkpoints (
    sku             text        COLLATE "C" NOT NULL,
    warehouse_uuid  uuid        NOT NULL,
    ledger_id       bigint      NOT NULL,
    at              timestamptz NOT NULL,
    on_hand         bigint      NOT NULL,
    reserved        bigint      NOT NULL,
    available       bigint      NOT NULL,
    incoming        bigint      NOT NULL,
    CONSTRAINT inventory_ledger_checkpoints_pkey PRIMARY KEY (sku, warehouse_uuid)
);
COMMENT ON TABLE @extschema@.inventory_ledger_checkpoints IS
    'Per key, the values after its last ledger row that retention pruned (the start of its kept ledger)';
COMMENT ON COLUMN @extschema@.inventory_ledger_checkpoints.ledger_id IS
    'Id of the last pruned ledger row of the key';
COMMENT ON COLUMN @extschema@.inventory_ledger_checkpoints.incoming IS
    'incoming after the last pruned row of the key that changed it (0 when none did)';
REVOKE ALL ON TABLE @extschema@.inventory_ledger_checkpoints FROM PUBLIC;

/*
 * How far retention has pruned: one row, made by the first pass.
 */
CREATE TABLE @extschema@.inventory_retention_state (
    ledger_pruned_through  bigint      NOT NULL DEFAULT 0,
    changes_pruned_through bigint      NOT NULL DEFAULT 0,
    batches_pruned_through bigint      NOT NULL DEFAULT 0,
    pruned_before          timestamptz,
    pruned_at              timestamptz,
    single                 boolean     NOT NULL DEFAULT true PRIMARY KEY,
    CONSTRAINT inventory_retention_state_single_check CHECK (single)
);
COMMENT ON TABLE @extschema@.inventory_retention_state IS
    'How far retention pruned the ledger and the batch history (internal; one row)';
COMMENT ON COLUMN @extschema@.inventory_retention_state.ledger_pruned_through IS
    'Every ledger row with an id up to this one is gone';
COMMENT ON COLUMN @extschema@.inventory_retention_state.changes_pruned_through IS
    'Largest change id (a row inventory_changes returns) that was pruned: an older cursor is refused';
COMMENT ON COLUMN @extschema@.inventory_retention_state.batches_pruned_through IS
    'Largest batch id whose history was pruned: a smaller id not found was pruned';
COMMENT ON COLUMN @extschema@.inventory_retention_state.pruned_before IS
    'The latest cutoff a pass used';
REVOKE ALL ON TABLE @extschema@.inventory_retention_state FROM PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_ledger_checkpoints', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_retention_state', '');


/*
 * This node's id in a cluster of nodes (1.6): one row, made by
 * inventory_set_node_id().  Batch, ledger and change ids (and reservation,
 * transfer, channel feed and alert event ids) carry it in their top bits,
 * id = node_id * 2^48 + n, so that ids are unique across nodes and a batch
 * id tells a router where the batch is.  No row: node 0.
 */
CREATE TABLE @extschema@.inventory_node (
    node_id     integer     NOT NULL,
    set_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    single      boolean     NOT NULL DEFAULT true PRIMARY KEY,
    CONSTRAINT inventory_node_single_check CHECK (single),
    CONSTRAINT inventory_node_node_id_check
        CHECK (node_id OPERATOR(pg_catalog.>=) 0 AND node_id OPERATOR(pg_catalog.<=) 32767)
);
COMMENT ON TABLE @extschema@.inventory_node IS
    'This node''s id in a cluster (one row; see inventory_set_node_id)';
REVOKE ALL ON TABLE @extschema@.inventory_node FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_node', '');

/*
 * Batches whose ledger rows left this node with their merchant (1.6): the
 * batch history stays here (a batch id names the node that applied it),
 * and inventory_batch_status says where its items went.
 */
CREATE TABLE @extschema@.inventory_moved_batches (
    batch_id    bigint      NOT NULL PRIMARY KEY,
    merchant    text        NOT NULL,
    moved_at    timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.inventory_moved_batches IS
    'Applied batches whose items'' ledger rows left with their merchant (inventory_forget_merchant)';
REVOKE ALL ON TABLE @extschema@.inventory_moved_batches FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_moved_batches', '');

/* ------------------------------------------------------------------------
 * 3. Views
 * ------------------------------------------------------------------------
 */

/*
 * Every batch, queued or done, for psql: the view users read.
 */
CREATE VIEW @extschema@.inventory_batches AS
    SELECT q.batch_id, 'queued'::text AS state, q.item_count, q.create_missing,
           q.queued_at, q.queued_by, NULL::timestamptz AS applied_at, NULL::text AS error,
           NULL::jsonb AS skipped, NULL::jsonb AS rejected
      FROM @extschema@.inventory_queue q
    UNION ALL
    SELECT h.batch_id, h.state, h.item_count, h.create_missing,
           h.queued_at, h.queued_by, h.applied_at, h.error,
           h.skipped, h.rejected
      FROM @extschema@.inventory_batch_history h;
COMMENT ON VIEW @extschema@.inventory_batches IS
    'Every batch with its state (queued, applied, failed), item count, times, error, and the items not applied (skipped, rejected)';
REVOKE ALL ON TABLE @extschema@.inventory_batches FROM PUBLIC;

/*
 * Queue depth at a glance.
 */
CREATE VIEW @extschema@.inventory_queue_summary AS
    SELECT pg_catalog.count(*)                          AS queued_batches,
           COALESCE(pg_catalog.sum(q.item_count), 0)    AS queued_items,
           pg_catalog.min(q.queued_at)                  AS oldest_queued_at,
           pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.min(q.queued_at)
                                                        AS oldest_age
      FROM @extschema@.inventory_queue q;
COMMENT ON VIEW @extschema@.inventory_queue_summary IS
    'Number of queued batches and items, and the age of the oldest';
REVOKE ALL ON TABLE @extschema@.inventory_queue_summary FROM PUBLIC;

/* ------------------------------------------------------------------------
 * 4. Level row triggers
 * ------------------------------------------------------------------------
 */

/*
 * The trigger that keeps available = on_hand - reserved (C).
 */
CREATE FUNCTION inventory_internal.inventory_levels_maintain()
    RETURNS trigger
    LANGUAGE c
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_levels_maintain';
COMMENT ON FUNCTION inventory_internal.inventory_levels_maintain() IS
    'BEFORE INSERT OR UPDATE trigger: available = on_hand - reserved; writing available sets on_hand; a new sku must obey inventory_adjust''s rules';
REVOKE ALL ON FUNCTION inventory_internal.inventory_levels_maintain() FROM PUBLIC;

CREATE TRIGGER inventory_levels_maintain
    BEFORE INSERT OR UPDATE ON @extschema@.inventory_levels
    FOR EACH ROW EXECUTE FUNCTION inventory_internal.inventory_levels_maintain();

/*
 * Stamp updated_at on warehouse changes.
 */
CREATE FUNCTION inventory_internal.inventory_touch_updated_at()
    RETURNS trigger
    LANGUAGE c
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_touch_updated_at';
COMMENT ON FUNCTION inventory_internal.inventory_touch_updated_at() IS
    'BEFORE UPDATE trigger: sets updated_at to the transaction time';
REVOKE ALL ON FUNCTION inventory_internal.inventory_touch_updated_at() FROM PUBLIC;

CREATE TRIGGER inventory_warehouses_touch
    BEFORE UPDATE ON @extschema@.inventory_warehouses
    FOR EACH ROW EXECUTE FUNCTION inventory_internal.inventory_touch_updated_at();

/* ------------------------------------------------------------------------
 * 5. Ledger
 * ------------------------------------------------------------------------
 */

/*
 * Who made a change: the role in effect outside SECURITY DEFINER functions.
 */
CREATE FUNCTION inventory_internal.inventory_outer_role()
    RETURNS name
    LANGUAGE c
    STABLE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_outer_role';
COMMENT ON FUNCTION inventory_internal.inventory_outer_role() IS
    'The current role as set by SET ROLE, unaffected by SECURITY DEFINER (internal)';
REVOKE ALL ON FUNCTION inventory_internal.inventory_outer_role() FROM PUBLIC;

/*
 * Announce that this transaction is about to write ledger rows, so that
 * inventory_changes() never reads past a change that may still commit
 * with a smaller id (see shmem.c).
 */
CREATE FUNCTION inventory_internal.inventory_ledger_reserve_ids()
    RETURNS void
    LANGUAGE c
    VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_ledger_reserve_ids';
COMMENT ON FUNCTION inventory_internal.inventory_ledger_reserve_ids() IS
    'Publishes the lowest ledger id this transaction may write (internal)';
REVOKE ALL ON FUNCTION inventory_internal.inventory_ledger_reserve_ids() FROM PUBLIC;

/*
 * Whether the statement firing the ledger trigger is the apply's own (C;
 * see statement_origin.c).
 */
CREATE FUNCTION inventory_internal.inventory_apply_statement()
    RETURNS boolean
    LANGUAGE c
    VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_apply_statement';
COMMENT ON FUNCTION inventory_internal.inventory_apply_statement() IS
    'True while a statement the apply runs itself fires its triggers (internal)';
REVOKE ALL ON FUNCTION inventory_internal.inventory_apply_statement() FROM PUBLIC;

/*
 * Ledger rows for writes to inventory_levels.  The worker and
 * inventory_process_queue write the rows of queued items themselves (one
 * per item), so their own statements are skipped here; a write that a
 * trigger added by the owner makes while they apply is recorded like any
 * direct write.  The source and order come from
 * inventory.change_source/_order/_line, set by the order functions, and
 * the transfer from inventory.change_transfer, set by the transfer
 * functions; inventory.change_reason is the description.  incoming_before
 * and incoming_after are NULL when a change leaves incoming as it was.
 */
CREATE FUNCTION inventory_internal.inventory_levels_ledger()
    RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    src text;
    ord text;
    line text;
    reason text;
    transfer bigint;
    rows_before @extschema@.inventory_levels[];
    rows_after @extschema@.inventory_levels[];
BEGIN
    -- Load the library first: until it is loaded, inventory.* settings are
    -- placeholders that any role could have set; loading it checks them.
    PERFORM inventory_internal.inventory_outer_role();
    src := COALESCE(NULLIF(pg_catalog.current_setting('inventory.change_source', true), ''),
                    NULLIF(pg_catalog.current_setting('inventory.change_via', true), ''),
                    'direct');
    ord := NULLIF(pg_catalog.current_setting('inventory.change_order', true), '');
    line := NULLIF(pg_catalog.current_setting('inventory.change_line', true), '');
    reason := NULLIF(pg_catalog.current_setting('inventory.change_reason', true), '');
    transfer := NULLIF(pg_catalog.current_setting('inventory.change_transfer', true), '')::bigint;
    -- the apply's own writes, and rows being restored, are already recorded
    IF inventory_internal.inventory_apply_statement()
       OR pg_catalog.current_setting('inventory.restoring', true) OPERATOR(pg_catalog.=) 'on' THEN
        RETURN NULL;
    END IF;
    -- a write made while the apply runs (by a trigger the owner added) is
    -- recorded as if made outside it
    IF src OPERATOR(pg_catalog.=) 'adjust' THEN
        src := COALESCE(NULLIF(pg_catalog.current_setting('inventory.change_via', true), ''),
                        'direct');
    END IF;
    PERFORM inventory_internal.inventory_ledger_reserve_ids();
    -- The three events differ only in where the rows come from (a
    -- trigger sees only its own event's transition tables): the level rows
    -- before and after the statement, pairwise, an UPDATE's paired by key.
    -- An INSERT has no rows before, a DELETE none after.
    IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
        SELECT pg_catalog.array_agg(n::@extschema@.inventory_levels) INTO rows_after
          FROM new_rows n;
    ELSIF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
        SELECT pg_catalog.array_agg(o::@extschema@.inventory_levels) INTO rows_before
          FROM old_rows o;
    ELSE
        SELECT pg_catalog.array_agg(o::@extschema@.inventory_levels),
               pg_catalog.array_agg(n::@extschema@.inventory_levels)
          INTO rows_before, rows_after
          FROM new_rows n
          JOIN old_rows o ON o.sku OPERATOR(pg_catalog.=) n.sku
                         AND o.warehouse_uuid OPERATOR(pg_catalog.=) n.warehouse_uuid;
    END IF;
    -- One ledger row for each pair whose on_hand, reserved or incoming
    -- differs, in key order.  The two unnest() run in lockstep, the shorter padded
    -- with NULLs: a row that is not there counts as zeros.
    INSERT INTO @extschema@.inventory_ledger
    SELECT pg_catalog.nextval('@extschema@.inventory_ledger_id_seq'::pg_catalog.regclass),
           pg_catalog.now(), COALESCE((c.a).sku, (c.b).sku) AS sku,
           COALESCE((c.a).warehouse_uuid, (c.b).warehouse_uuid) AS warehouse_uuid,
           src, NULL, NULL, ord, line, reason,
           inventory_internal.inventory_outer_role(), pg_catalog.pg_current_xact_id(),
           COALESCE((c.b).on_hand, 0), COALESCE((c.a).on_hand, 0),
           COALESCE((c.b).reserved, 0), COALESCE((c.a).reserved, 0),
           COALESCE((c.b).available, 0), COALESCE((c.a).available, 0),
           transfer,
           CASE WHEN c.incoming_changed THEN COALESCE((c.b).incoming, 0) END,
           CASE WHEN c.incoming_changed THEN COALESCE((c.a).incoming, 0) END
      FROM (SELECT u.b, u.a,
                   COALESCE((u.b).incoming, 0) OPERATOR(pg_catalog.<>) COALESCE((u.a).incoming, 0)
                       AS incoming_changed
              FROM (SELECT pg_catalog.unnest(rows_before) AS b, pg_catalog.unnest(rows_after) AS a) u) c
     WHERE COALESCE((c.b).on_hand, 0) OPERATOR(pg_catalog.<>) COALESCE((c.a).on_hand, 0)
        OR COALESCE((c.b).reserved, 0) OPERATOR(pg_catalog.<>) COALESCE((c.a).reserved, 0)
        OR c.incoming_changed
     ORDER BY sku, warehouse_uuid;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION inventory_internal.inventory_levels_ledger() IS
    'AFTER statement trigger: a ledger row for every level row whose on_hand, reserved or incoming changed';
REVOKE ALL ON FUNCTION inventory_internal.inventory_levels_ledger() FROM PUBLIC;

CREATE TRIGGER inventory_levels_ledger_insert
    AFTER INSERT ON @extschema@.inventory_levels
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION inventory_internal.inventory_levels_ledger();
CREATE TRIGGER inventory_levels_ledger_update
    AFTER UPDATE ON @extschema@.inventory_levels
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION inventory_internal.inventory_levels_ledger();
CREATE TRIGGER inventory_levels_ledger_delete
    AFTER DELETE ON @extschema@.inventory_levels
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION inventory_internal.inventory_levels_ledger();

/* ------------------------------------------------------------------------
 * 6. Reservations and order functions
 * ------------------------------------------------------------------------
 */

/*
 * Keep inventory_levels.reserved = sum of reservations, per statement:
 * the changes of a whole statement are summed per key, and the level rows
 * are locked in key order (sku COLLATE "C", warehouse_uuid, as the apply
 * and the order functions lock them) before they change.  Fulfilling
 * (inventory.change_source = 'fulfill') takes the quantity off on_hand as
 * well.
 */
CREATE FUNCTION inventory_internal.inventory_reservations_sync()
    RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    -- the ledger rows of the level changes made here say 'reservations'
    -- unless an order function set inventory.change_source
    SET inventory.change_via = 'reservations'
    AS $$
DECLARE
    ship boolean;
    skus text[];
    whs uuid[];
    deltas bigint[];
BEGIN
    -- Load the library first (see inventory_levels_ledger).
    PERFORM inventory_internal.inventory_outer_role();
    ship := COALESCE(pg_catalog.current_setting('inventory.change_source', true)
                     OPERATOR(pg_catalog.=) 'fulfill', false);
    -- restored reservations come with their level rows and sums
    IF pg_catalog.current_setting('inventory.restoring', true) OPERATOR(pg_catalog.=) 'on' THEN
        RETURN NULL;
    END IF;
    -- The change of reserved per key: what the new rows add and the old
    -- rows take away (a trigger sees only its own event's transition
    -- tables), then one delta per key, in key order, zeros dropped.
    IF TG_OP OPERATOR(pg_catalog.<>) 'DELETE' THEN
        SELECT pg_catalog.array_agg(c.sku), pg_catalog.array_agg(c.wh), pg_catalog.array_agg(c.q)
          INTO skus, whs, deltas
          FROM (SELECT n.sku, n.warehouse_uuid AS wh, pg_catalog.sum(n.quantity)::bigint AS q
                  FROM new_rows n GROUP BY 1, 2) c;
    END IF;
    IF TG_OP OPERATOR(pg_catalog.<>) 'INSERT' THEN
        SELECT skus OPERATOR(pg_catalog.||) pg_catalog.array_agg(c.sku),
               whs OPERATOR(pg_catalog.||) pg_catalog.array_agg(c.wh),
               deltas OPERATOR(pg_catalog.||) pg_catalog.array_agg(OPERATOR(pg_catalog.-) c.q)
          INTO skus, whs, deltas
          FROM (SELECT o.sku, o.warehouse_uuid AS wh, pg_catalog.sum(o.quantity)::bigint AS q
                  FROM old_rows o GROUP BY 1, 2) c;
    END IF;
    SELECT pg_catalog.array_agg(d.sku ORDER BY d.sku, d.wh),
           pg_catalog.array_agg(d.wh ORDER BY d.sku, d.wh),
           pg_catalog.array_agg(d.delta ORDER BY d.sku, d.wh)
      INTO skus, whs, deltas
      FROM (SELECT k.sku COLLATE "C" AS sku, k.wh, pg_catalog.sum(k.q)::bigint AS delta
              FROM ROWS FROM (pg_catalog.unnest(skus), pg_catalog.unnest(whs),
                              pg_catalog.unnest(deltas)) AS k(sku, wh, q)
             GROUP BY 1, 2
            HAVING pg_catalog.sum(k.q) OPERATOR(pg_catalog.<>) 0) d;
    IF skus IS NULL THEN
        RETURN NULL;
    END IF;
    -- Keys that gain reservations and have no level row get one.
    INSERT INTO @extschema@.inventory_levels (sku, warehouse_uuid, on_hand)
    SELECT k.sku, k.wh, 0
      FROM ROWS FROM (pg_catalog.unnest(skus), pg_catalog.unnest(whs),
                      pg_catalog.unnest(deltas)) WITH ORDINALITY AS k(sku, wh, delta, ord)
     WHERE k.delta OPERATOR(pg_catalog.>) 0
     ORDER BY k.ord
    ON CONFLICT (sku, warehouse_uuid) DO NOTHING;
    -- Lock the level rows in key order: LockRows is the plan's top node,
    -- so rows are locked as they come out ordered by k.ord (sorted below
    -- it, or kept in the order of the arrays), whatever the join ...
    PERFORM FROM @extschema@.inventory_levels l
              JOIN ROWS FROM (pg_catalog.unnest(skus), pg_catalog.unnest(whs))
                   WITH ORDINALITY AS k(sku, wh, ord)
                ON l.sku OPERATOR(pg_catalog.=) k.sku
               AND l.warehouse_uuid OPERATOR(pg_catalog.=) k.wh
     ORDER BY k.ord
       FOR NO KEY UPDATE OF l;
    -- ... then change them; they are ours already, so this order is free.
    UPDATE @extschema@.inventory_levels AS l
       SET reserved = l.reserved OPERATOR(pg_catalog.+) k.delta,
           on_hand = CASE WHEN ship THEN l.on_hand OPERATOR(pg_catalog.+) k.delta ELSE l.on_hand END
      FROM ROWS FROM (pg_catalog.unnest(skus), pg_catalog.unnest(whs),
                      pg_catalog.unnest(deltas)) AS k(sku, wh, delta)
     WHERE l.sku OPERATOR(pg_catalog.=) k.sku
       AND l.warehouse_uuid OPERATOR(pg_catalog.=) k.wh;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION inventory_internal.inventory_reservations_sync() IS
    'AFTER statement trigger: adds the change of reserved quantities, summed per key, to inventory_levels.reserved';
REVOKE ALL ON FUNCTION inventory_internal.inventory_reservations_sync() FROM PUBLIC;

CREATE TRIGGER inventory_reservations_sync_insert
    AFTER INSERT ON @extschema@.inventory_reservations
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION inventory_internal.inventory_reservations_sync();
CREATE TRIGGER inventory_reservations_sync_update
    AFTER UPDATE ON @extschema@.inventory_reservations
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION inventory_internal.inventory_reservations_sync();
CREATE TRIGGER inventory_reservations_sync_delete
    AFTER DELETE ON @extschema@.inventory_reservations
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION inventory_internal.inventory_reservations_sync();

/*
 * The text arguments of the order functions, by the rules inventory_adjust
 * applies to its items (C, shared with it): sku 1 to 255 characters, no
 * control characters, no leading or trailing space; order_ref and line_ref
 * 1 to 255 characters, no control characters.
 */
CREATE FUNCTION inventory_internal.inventory_check_order_refs(order_ref text, line_ref text, sku text)
    RETURNS void
    LANGUAGE c
    STABLE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_check_order_refs';
COMMENT ON FUNCTION inventory_internal.inventory_check_order_refs(text, text, text) IS
    'Raises the error of an order function''s sku, order_ref or line_ref that inventory_adjust''s rules reject (internal)';
REVOKE ALL ON FUNCTION inventory_internal.inventory_check_order_refs(text, text, text) FROM PUBLIC;

/*
 * Rows written directly into inventory_reservations (bulk imports, repairs)
 * obey the rules of the order functions' arguments (C, validate.c).
 */
CREATE FUNCTION inventory_internal.inventory_reservations_check()
    RETURNS trigger
    LANGUAGE c
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_reservations_check';
COMMENT ON FUNCTION inventory_internal.inventory_reservations_check() IS
    'BEFORE INSERT OR UPDATE trigger: sku, order_ref and line_ref obey the rules of the order functions';
REVOKE ALL ON FUNCTION inventory_internal.inventory_reservations_check() FROM PUBLIC;

CREATE TRIGGER inventory_reservations_check
    BEFORE INSERT OR UPDATE OF order_ref, line_ref, sku ON @extschema@.inventory_reservations
    FOR EACH ROW EXECUTE FUNCTION inventory_internal.inventory_reservations_check();

/*
 * The merchant of warehouses (1.6): the warehouses one operation names must
 * belong to one merchant, and to inventory.merchant's when the session set
 * it (a router sets it for every call it sends).  Warehouses that are not
 * registered are left to the caller's own check.
 */
CREATE FUNCTION inventory_internal.inventory_check_merchant(warehouses uuid[])
    RETURNS void
    LANGUAGE plpgsql
    STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    wanted text := NULLIF(pg_catalog.current_setting('inventory.merchant', true), '');
    first_wh uuid;
    first_m text;
    wh uuid;
    m text;
BEGIN
    FOR wh, m IN
        SELECT w.uuid, w.merchant FROM @extschema@.inventory_warehouses w
         WHERE w.uuid OPERATOR(pg_catalog.=) ANY (warehouses)
         ORDER BY pg_catalog.array_position(warehouses, w.uuid)
    LOOP
        IF wanted IS NOT NULL AND m OPERATOR(pg_catalog.<>) wanted THEN
            RAISE EXCEPTION 'warehouse "%" belongs to merchant "%", not to "%"', wh, m, wanted
                USING ERRCODE = 'IN006',
                      DETAIL = 'This session acts for the merchant in inventory.merchant, and the warehouse is another''s.',
                      HINT = 'Nothing was changed. Send the call for the warehouse''s merchant (through the router: with that merchant).';
        END IF;
        IF first_m IS NULL THEN
            first_wh := wh;
            first_m := m;
        ELSIF m OPERATOR(pg_catalog.<>) first_m THEN
            RAISE EXCEPTION 'warehouses "%" and "%" belong to two merchants, "%" and "%"', first_wh, wh, first_m, m
                USING ERRCODE = 'IN006',
                      DETAIL = 'One operation names the warehouses of one merchant.',
                      HINT = 'Nothing was changed.';
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION inventory_internal.inventory_check_merchant(uuid[]) IS
    'Error IN006 when the warehouses belong to two merchants, or to another than inventory.merchant (internal)';
REVOKE ALL ON FUNCTION inventory_internal.inventory_check_merchant(uuid[]) FROM PUBLIC;

/*
 * Check the arguments shared by the order functions (internal).
 */
CREATE FUNCTION inventory_internal.inventory_check_order_args(
    order_ref text, sku text, warehouse_uuid uuid, quantity bigint, quantity_required boolean)
    RETURNS void
    LANGUAGE plpgsql
    STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF order_ref IS NULL OR sku IS NULL OR warehouse_uuid IS NULL
       OR (quantity_required AND quantity IS NULL) THEN
        IF quantity_required THEN
            RAISE EXCEPTION 'order_ref, sku, warehouse_uuid and quantity must not be null'
                USING ERRCODE = 'null_value_not_allowed',
                      DETAIL = 'One of the arguments is NULL.';
        END IF;
        RAISE EXCEPTION 'order_ref, sku and warehouse_uuid must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  DETAIL = 'One of the arguments is NULL.',
                  HINT = 'Leave quantity out (or NULL) to take the whole reservation.';
    END IF;
    -- order_ref and sku: see inventory_check_order_refs
    IF quantity OPERATOR(pg_catalog.<=) 0 OR quantity OPERATOR(pg_catalog.>) 2147483647 THEN
        RAISE EXCEPTION 'quantity must be between 1 and 2147483647, not %', quantity
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM inventory_internal.inventory_check_merchant(ARRAY[warehouse_uuid]);
END
$$;
REVOKE ALL ON FUNCTION inventory_internal.inventory_check_order_args(text, text, uuid, bigint, boolean) FROM PUBLIC;

/*
 * The worker's next expiry of holds (C, expiry.c): a hold expiring at
 * expires_at was made or moved; at commit the database's worker (or the
 * launcher, which starts one when it is due) learns of it, when it is
 * earlier than the expiry it knows.
 */
CREATE FUNCTION inventory_internal.inventory_note_expiry(expires_at timestamptz)
    RETURNS void
    LANGUAGE c
    VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_note_expiry';
COMMENT ON FUNCTION inventory_internal.inventory_note_expiry(timestamptz) IS
    'Tells the worker at commit that a hold expires at expires_at (internal)';
REVOKE ALL ON FUNCTION inventory_internal.inventory_note_expiry(timestamptz) FROM PUBLIC;

/*
 * The expiry time of a hold: NULL (never), or a finite time after the
 * transaction's start (now()).
 */
CREATE FUNCTION inventory_internal.inventory_check_expires_at(expires_at timestamptz)
    RETURNS void
    LANGUAGE plpgsql
    STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF expires_at IS NOT NULL
       AND (NOT pg_catalog.isfinite(expires_at) OR expires_at OPERATOR(pg_catalog.<=) pg_catalog.now()) THEN
        RAISE EXCEPTION 'expires_at must be a finite time after the start of the transaction'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('expires_at is %s; the transaction started at %s.',
                                             expires_at, pg_catalog.now()),
                  HINT = 'Pass NULL for a hold that does not expire.';
    END IF;
END
$$;
COMMENT ON FUNCTION inventory_internal.inventory_check_expires_at(timestamptz) IS
    'Raises the error of a hold''s expires_at that is not NULL, finite and after now() (internal)';
REVOKE ALL ON FUNCTION inventory_internal.inventory_check_expires_at(timestamptz) FROM PUBLIC;

/*
 * inventory_reserve: record an open order line against stock; with
 * expires_at, a hold the worker releases then (ledger source expire).
 * Reserving again on the same line adds the quantity, and expires_at
 * replaces the line's (NULL: it no longer expires).
 */
CREATE FUNCTION @extschema@.inventory_reserve(
    order_ref text, sku text, warehouse_uuid uuid, quantity bigint,
    line_ref text DEFAULT NULL, allow_oversell boolean DEFAULT true,
    expires_at timestamptz DEFAULT NULL)
    RETURNS @extschema@.inventory_levels
    LANGUAGE plpgsql
    VOLATILE CALLED ON NULL INPUT
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET inventory.change_source = 'reserve'
    -- the ledger rows of an order function carry no session's change_reason
    SET inventory.change_reason = ''
    SET inventory.change_order = ''
    SET inventory.change_line = ''
    AS $$
DECLARE
    lvl @extschema@.inventory_levels;
    archived boolean;
BEGIN
    PERFORM inventory_internal.inventory_check_order_args(order_ref, sku, warehouse_uuid, quantity, true);
    PERFORM inventory_internal.inventory_check_order_refs(order_ref, line_ref, sku);
    IF allow_oversell IS NULL THEN
        RAISE EXCEPTION 'allow_oversell must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM inventory_internal.inventory_check_expires_at(expires_at);
    SELECT w.archived INTO archived FROM @extschema@.inventory_warehouses w
     WHERE w.uuid OPERATOR(pg_catalog.=) inventory_reserve.warehouse_uuid;
    IF NOT FOUND OR archived THEN
        RAISE EXCEPTION 'warehouse "%" is %', warehouse_uuid,
                        CASE WHEN archived THEN 'archived' ELSE 'not registered in inventory_warehouses' END
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM pg_catalog.set_config('inventory.change_order', order_ref, true);
    PERFORM pg_catalog.set_config('inventory.change_line', COALESCE(line_ref, ''), true);

    -- Lock the level row (creating it if missing): reservations of one key
    -- are serialized here, so the check below holds until commit.
    INSERT INTO @extschema@.inventory_levels AS l (sku, warehouse_uuid, on_hand)
    VALUES (inventory_reserve.sku, inventory_reserve.warehouse_uuid, 0)
    ON CONFLICT ON CONSTRAINT inventory_levels_pkey DO NOTHING;
    SELECT * INTO lvl FROM @extschema@.inventory_levels l
     WHERE l.sku OPERATOR(pg_catalog.=) inventory_reserve.sku
       AND l.warehouse_uuid OPERATOR(pg_catalog.=) inventory_reserve.warehouse_uuid
       FOR NO KEY UPDATE;
    IF NOT allow_oversell AND lvl.available OPERATOR(pg_catalog.<) quantity THEN
        RAISE EXCEPTION 'insufficient stock to reserve % of sku "%" in warehouse %', quantity, sku, warehouse_uuid
            USING ERRCODE = 'IN001',
                  DETAIL = pg_catalog.format('Available is %s (on_hand %s, reserved %s).',
                                             lvl.available, lvl.on_hand, lvl.reserved),
                  HINT = 'Nothing was reserved. Pass allow_oversell => true to record the order anyway.';
    END IF;

    INSERT INTO @extschema@.inventory_reservations AS r
           (order_ref, line_ref, sku, warehouse_uuid, quantity, expires_at)
    VALUES (inventory_reserve.order_ref, inventory_reserve.line_ref, inventory_reserve.sku,
            inventory_reserve.warehouse_uuid, inventory_reserve.quantity, inventory_reserve.expires_at)
    ON CONFLICT ON CONSTRAINT inventory_reservations_order_line_key
    DO UPDATE SET quantity = r.quantity OPERATOR(pg_catalog.+) excluded.quantity,
                  expires_at = excluded.expires_at;
    IF expires_at IS NOT NULL THEN
        PERFORM inventory_internal.inventory_note_expiry(expires_at);
    END IF;

    SELECT * INTO lvl FROM @extschema@.inventory_levels l
     WHERE l.sku OPERATOR(pg_catalog.=) inventory_reserve.sku
       AND l.warehouse_uuid OPERATOR(pg_catalog.=) inventory_reserve.warehouse_uuid;
    RETURN lvl;
END
$$;
COMMENT ON FUNCTION @extschema@.inventory_reserve(text, text, uuid, bigint, text, boolean, timestamptz) IS
    'Reserve stock for an order line; with allow_oversell => false, fail (SQLSTATE IN001) rather than let available drop below zero; with expires_at, the worker releases the hold then';
REVOKE ALL ON FUNCTION @extschema@.inventory_reserve(text, text, uuid, bigint, text, boolean, timestamptz) FROM PUBLIC;

/*
 * inventory_extend_hold: set when an order's holds of one key expire (all
 * its lines of the key, or line_ref's): a later or earlier time, or NULL
 * for never.  A hold past its expires_at that the worker has not released
 * yet still holds, and can be extended.  Quantities do not change, so no
 * ledger row is written.
 */
CREATE FUNCTION @extschema@.inventory_extend_hold(
    order_ref text, sku text, warehouse_uuid uuid, expires_at timestamptz,
    line_ref text DEFAULT NULL)
    RETURNS SETOF @extschema@.inventory_reservations
    LANGUAGE plpgsql
    VOLATILE CALLED ON NULL INPUT
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM inventory_internal.inventory_check_order_args(order_ref, sku, warehouse_uuid, NULL, false);
    PERFORM inventory_internal.inventory_check_order_refs(order_ref, line_ref, sku);
    PERFORM inventory_internal.inventory_check_expires_at(expires_at);
    -- The level row's lock first, as the order functions and the expiry
    -- take it before a reservation: a transaction that extends a hold and
    -- then reserves or fulfills another key can never wait in a cycle with
    -- the expiry (which skips a level row someone holds).
    PERFORM FROM @extschema@.inventory_levels l
     WHERE l.sku OPERATOR(pg_catalog.=) inventory_extend_hold.sku
       AND l.warehouse_uuid OPERATOR(pg_catalog.=) inventory_extend_hold.warehouse_uuid
       FOR NO KEY UPDATE;
    RETURN QUERY
    WITH changed AS (
        UPDATE @extschema@.inventory_reservations r
           SET expires_at = inventory_extend_hold.expires_at
         WHERE r.order_ref OPERATOR(pg_catalog.=) inventory_extend_hold.order_ref
           AND r.sku OPERATOR(pg_catalog.=) inventory_extend_hold.sku
           AND r.warehouse_uuid OPERATOR(pg_catalog.=) inventory_extend_hold.warehouse_uuid
           AND (inventory_extend_hold.line_ref IS NULL
                OR r.line_ref OPERATOR(pg_catalog.=) inventory_extend_hold.line_ref)
        RETURNING r.*)
    SELECT * FROM changed c ORDER BY c.created_at, c.id;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n OPERATOR(pg_catalog.=) 0 THEN
        RAISE EXCEPTION '%', pg_catalog.format('order "%s" has no reservation of sku "%s" in warehouse %s%s',
                        order_ref, sku, warehouse_uuid,
                        CASE WHEN line_ref IS NULL THEN '' ELSE pg_catalog.format(' on line "%s"', line_ref) END)
            USING ERRCODE = 'IN002',
                  DETAIL = 'Nothing was extended: it was never reserved, or was released, fulfilled or expired.';
    END IF;
    IF expires_at IS NOT NULL THEN
        PERFORM inventory_internal.inventory_note_expiry(expires_at);
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.inventory_extend_hold(text, text, uuid, timestamptz, text) IS
    'Set when an order''s holds of one key (or one line) expire, NULL for never; returns the reservations changed';
REVOKE ALL ON FUNCTION @extschema@.inventory_extend_hold(text, text, uuid, timestamptz, text) FROM PUBLIC;

/*
 * One pass of the worker's expiry, from a session (C, expiry.c): release
 * up to max_holds holds whose expires_at has passed, as the worker does.
 * For tests that interleave an expiry with other sessions.
 */
CREATE FUNCTION inventory_internal.inventory_expire_holds(max_holds integer DEFAULT 1000)
    RETURNS integer
    LANGUAGE c
    VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_expire_holds';
COMMENT ON FUNCTION inventory_internal.inventory_expire_holds(integer) IS
    'Releases up to max_holds expired holds now, as the worker does; returns how many (internal)';
REVOKE ALL ON FUNCTION inventory_internal.inventory_expire_holds(integer) FROM PUBLIC;

/*
 * Take quantity (NULL: all) off an order's reservations of one key, in
 * line order; shared by inventory_release and inventory_fulfill, whose
 * inventory.change_source tells the reservations trigger what it means.
 */
CREATE FUNCTION inventory_internal.inventory_take_reservation(
    order_ref text, sku text, warehouse_uuid uuid, quantity bigint, line_ref text, verb text)
    RETURNS @extschema@.inventory_levels
    LANGUAGE plpgsql
    VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    lvl @extschema@.inventory_levels;
    ids bigint[];
    quantities bigint[];
    total bigint;
    left_to_take bigint;
BEGIN
    PERFORM inventory_internal.inventory_check_order_args(order_ref, sku, warehouse_uuid, quantity, false);
    PERFORM inventory_internal.inventory_check_order_refs(order_ref, line_ref, sku);
    PERFORM pg_catalog.set_config('inventory.change_order', order_ref, true);
    PERFORM pg_catalog.set_config('inventory.change_line', COALESCE(line_ref, ''), true);

    -- The level row first, then the reservations: the order every
    -- function here locks in, so two of them never deadlock.
    SELECT * INTO lvl FROM @extschema@.inventory_levels l
     WHERE l.sku OPERATOR(pg_catalog.=) inventory_take_reservation.sku
       AND l.warehouse_uuid OPERATOR(pg_catalog.=) inventory_take_reservation.warehouse_uuid
       FOR NO KEY UPDATE;
    -- The order's lines of this key (only line_ref's when given), locked,
    -- oldest first: the rows taken from below, and nothing else.
    SELECT pg_catalog.array_agg(r.id ORDER BY r.created_at, r.id),
           pg_catalog.array_agg(r.quantity ORDER BY r.created_at, r.id),
           pg_catalog.sum(r.quantity)
      INTO ids, quantities, total
      FROM (SELECT x.id, x.quantity, x.created_at FROM @extschema@.inventory_reservations x
             WHERE x.order_ref OPERATOR(pg_catalog.=) inventory_take_reservation.order_ref
               AND x.sku OPERATOR(pg_catalog.=) inventory_take_reservation.sku
               AND x.warehouse_uuid OPERATOR(pg_catalog.=) inventory_take_reservation.warehouse_uuid
               AND (inventory_take_reservation.line_ref IS NULL
                    OR x.line_ref OPERATOR(pg_catalog.=) inventory_take_reservation.line_ref)
               FOR UPDATE) r;
    IF total IS NULL THEN
        RAISE EXCEPTION '%', pg_catalog.format('order "%s" has no reservation of sku "%s" in warehouse %s%s',
                        order_ref, sku, warehouse_uuid,
                        CASE WHEN line_ref IS NULL THEN '' ELSE pg_catalog.format(' on line "%s"', line_ref) END)
            USING ERRCODE = 'IN002',
                  DETAIL = pg_catalog.format('Nothing was %s.', CASE verb WHEN 'fulfill' THEN 'fulfilled' ELSE 'released' END);
    END IF;
    IF quantity OPERATOR(pg_catalog.>) total THEN
        RAISE EXCEPTION 'cannot % % of sku "%" for order "%": only % reserved', verb, quantity, sku, order_ref, total
            USING ERRCODE = 'IN002',
                  DETAIL = pg_catalog.format('Nothing was %s.', CASE verb WHEN 'fulfill' THEN 'fulfilled' ELSE 'released' END),
                  HINT = 'Leave quantity out (or NULL) to take the whole reservation.';
    END IF;

    IF quantity IS NULL OR quantity OPERATOR(pg_catalog.=) total THEN
        DELETE FROM @extschema@.inventory_reservations r
         WHERE r.id OPERATOR(pg_catalog.=) ANY (ids);
    ELSE
        left_to_take := quantity;
        FOR i IN 1 .. pg_catalog.array_length(ids, 1) LOOP
            EXIT WHEN left_to_take OPERATOR(pg_catalog.=) 0;
            IF quantities[i] OPERATOR(pg_catalog.<=) left_to_take THEN
                DELETE FROM @extschema@.inventory_reservations r
                 WHERE r.id OPERATOR(pg_catalog.=) ids[i];
                left_to_take := left_to_take OPERATOR(pg_catalog.-) quantities[i];
            ELSE
                UPDATE @extschema@.inventory_reservations r
                   SET quantity = r.quantity OPERATOR(pg_catalog.-) left_to_take
                 WHERE r.id OPERATOR(pg_catalog.=) ids[i];
                left_to_take := 0;
            END IF;
        END LOOP;
    END IF;

    SELECT * INTO lvl FROM @extschema@.inventory_levels l
     WHERE l.sku OPERATOR(pg_catalog.=) inventory_take_reservation.sku
       AND l.warehouse_uuid OPERATOR(pg_catalog.=) inventory_take_reservation.warehouse_uuid;
    RETURN lvl;
END
$$;
COMMENT ON FUNCTION inventory_internal.inventory_take_reservation(text, text, uuid, bigint, text, text) IS
    'Shared body of inventory_release and inventory_fulfill (internal)';
REVOKE ALL ON FUNCTION inventory_internal.inventory_take_reservation(text, text, uuid, bigint, text, text) FROM PUBLIC;

/*
 * inventory_release: cancel (part of) an order's reservation.
 */
CREATE FUNCTION @extschema@.inventory_release(
    order_ref text, sku text, warehouse_uuid uuid, quantity bigint DEFAULT NULL,
    line_ref text DEFAULT NULL)
    RETURNS @extschema@.inventory_levels
    LANGUAGE sql
    VOLATILE CALLED ON NULL INPUT
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET inventory.change_source = 'release'
    -- the ledger rows of an order function carry no session's change_reason
    SET inventory.change_reason = ''
    SET inventory.change_order = ''
    SET inventory.change_line = ''
    AS $$
    SELECT * FROM inventory_internal.inventory_take_reservation($1, $2, $3, $4, $5, 'release')
$$;
COMMENT ON FUNCTION @extschema@.inventory_release(text, text, uuid, bigint, text) IS
    'Cancel quantity (NULL: all) of an order''s reservation; available goes back up';
REVOKE ALL ON FUNCTION @extschema@.inventory_release(text, text, uuid, bigint, text) FROM PUBLIC;

/*
 * inventory_fulfill: ship (part of) an order's reservation.
 */
CREATE FUNCTION @extschema@.inventory_fulfill(
    order_ref text, sku text, warehouse_uuid uuid, quantity bigint DEFAULT NULL,
    line_ref text DEFAULT NULL)
    RETURNS @extschema@.inventory_levels
    LANGUAGE sql
    VOLATILE CALLED ON NULL INPUT
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET inventory.change_source = 'fulfill'
    -- the ledger rows of an order function carry no session's change_reason
    SET inventory.change_reason = ''
    SET inventory.change_order = ''
    SET inventory.change_line = ''
    AS $$
    SELECT * FROM inventory_internal.inventory_take_reservation($1, $2, $3, $4, $5, 'fulfill')
$$;
COMMENT ON FUNCTION @extschema@.inventory_fulfill(text, text, uuid, bigint, text) IS
    'Ship quantity (NULL: all) of an order''s reservation: on_hand and reserved both drop by it';
REVOKE ALL ON FUNCTION @extschema@.inventory_fulfill(text, text, uuid, bigint, text) FROM PUBLIC;

/*
 * Transfers.  inventory_transfer moves stock of one sku between two
 * warehouses: at once (on_hand leaves one level row and arrives at the
 * other), or in transit (on_hand leaves the source, the destination's
 * incoming rises until inventory_receive_transfer turns it into on_hand or
 * inventory_cancel_transfer sends it back).  Level rows are locked in key
 * order (sku, warehouse_uuid), as everywhere, then the transfer row; the
 * ledger rows of one transfer carry its id (inventory.change_transfer)
 * and its reference as their description.
 */

/*
 * Check inventory_transfer's arguments (internal): not null, quantity in
 * bounds, sku and reference by the rules of the order functions, two
 * different registered warehouses that are not archived, of one merchant.
 */
CREATE FUNCTION inventory_internal.inventory_check_transfer_args(
    sku text, from_warehouse uuid, to_warehouse uuid, quantity bigint, reference text,
    in_transit boolean, allow_oversell boolean)
    RETURNS void
    LANGUAGE plpgsql
    STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    wh uuid;
    archived boolean;
BEGIN
    IF sku IS NULL OR from_warehouse IS NULL OR to_warehouse IS NULL OR quantity IS NULL
       OR in_transit IS NULL OR allow_oversell IS NULL THEN
        RAISE EXCEPTION 'sku, from_warehouse, to_warehouse, quantity, in_transit and allow_oversell must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  DETAIL = 'One of the arguments is NULL.',
                  HINT = 'Only reference may be NULL.';
    END IF;
    IF quantity OPERATOR(pg_catalog.<=) 0 OR quantity OPERATOR(pg_catalog.>) 2147483647 THEN
        RAISE EXCEPTION 'quantity must be between 1 and 2147483647, not %', quantity
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM inventory_internal.inventory_check_order_refs(NULL, NULL, sku);
    IF reference IS NOT NULL THEN
        IF pg_catalog.length(reference) OPERATOR(pg_catalog.=) 0
           OR pg_catalog.length(reference) OPERATOR(pg_catalog.>) 255
           OR reference OPERATOR(pg_catalog.~) '[\x01-\x1f\x7f]' THEN
            RAISE EXCEPTION 'invalid reference'
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = CASE WHEN pg_catalog.length(reference) OPERATOR(pg_catalog.=) 0
                                    THEN '"reference" must not be empty.'
                                    WHEN pg_catalog.length(reference) OPERATOR(pg_catalog.>) 255
                                    THEN '"reference" must be at most 255 characters long.'
                                    ELSE '"reference" must not contain control characters.' END,
                      HINT = 'Nothing was changed.';
        END IF;
    END IF;
    IF from_warehouse OPERATOR(pg_catalog.=) to_warehouse THEN
        RAISE EXCEPTION 'cannot transfer from warehouse % to itself', from_warehouse
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'from_warehouse and to_warehouse are the same warehouse.',
                  HINT = 'Nothing was changed. To correct a count, use inventory_adjust.';
    END IF;
    FOREACH wh IN ARRAY ARRAY[from_warehouse, to_warehouse] LOOP
        SELECT w.archived INTO archived FROM @extschema@.inventory_warehouses w
         WHERE w.uuid OPERATOR(pg_catalog.=) wh;
        IF NOT FOUND OR archived THEN
            RAISE EXCEPTION 'warehouse "%" is %', wh,
                            CASE WHEN archived THEN 'archived' ELSE 'not registered in inventory_warehouses' END
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = pg_catalog.format('It is the %s warehouse of the transfer.',
                                                 CASE WHEN wh OPERATOR(pg_catalog.=) from_warehouse
                                                      THEN 'source' ELSE 'destination' END),
                      HINT = 'Nothing was changed.';
        END IF;
    END LOOP;
    PERFORM inventory_internal.inventory_check_merchant(ARRAY[from_warehouse, to_warehouse]);
END
$$;
COMMENT ON FUNCTION inventory_internal.inventory_check_transfer_args(text, uuid, uuid, bigint, text, boolean, boolean) IS
    'Raises the error of inventory_transfer''s arguments that are null, out of bounds or name an unusable warehouse (internal)';
REVOKE ALL ON FUNCTION inventory_internal.inventory_check_transfer_args(text, uuid, uuid, bigint, text, boolean, boolean) FROM PUBLIC;

/*
 * Lock the level rows of a transfer (internal): both warehouses' rows of
 * the sku, in key order, each created first if missing (an empty row, which
 * writes no ledger row).  Returns them as [source, destination].
 *
 * The apply locks a chunk's existing rows before it inserts the missing
 * ones, so it can lock (sku, w1) and then insert (sku, w0) while this
 * creates (sku, w0) and waits for (sku, w1): a deadlock, which PostgreSQL
 * breaks by failing the one that waited last, usually the apply (its round
 * is rolled back and retried).  Should this side be chosen, its locking is
 * rolled back (which lets the apply finish) and tried again, up to three
 * times.
 */
CREATE FUNCTION inventory_internal.inventory_lock_transfer_rows(
    sku text, from_warehouse uuid, to_warehouse uuid)
    RETURNS @extschema@.inventory_levels[]
    LANGUAGE plpgsql
    VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    wh uuid;
    lvl @extschema@.inventory_levels;
    src @extschema@.inventory_levels;
    dst @extschema@.inventory_levels;
BEGIN
    FOR attempt IN 1..3 LOOP
        BEGIN
            FOREACH wh IN ARRAY CASE WHEN from_warehouse OPERATOR(pg_catalog.<) to_warehouse
                                     THEN ARRAY[from_warehouse, to_warehouse]
                                     ELSE ARRAY[to_warehouse, from_warehouse] END LOOP
                INSERT INTO @extschema@.inventory_levels AS l (sku, warehouse_uuid, on_hand)
                VALUES (inventory_lock_transfer_rows.sku, wh, 0)
                ON CONFLICT ON CONSTRAINT inventory_levels_pkey DO NOTHING;
                SELECT * INTO lvl FROM @extschema@.inventory_levels l
                 WHERE l.sku OPERATOR(pg_catalog.=) inventory_lock_transfer_rows.sku
                   AND l.warehouse_uuid OPERATOR(pg_catalog.=) wh
                   FOR NO KEY UPDATE;
                IF wh OPERATOR(pg_catalog.=) from_warehouse THEN
                    src := lvl;
                ELSE
                    dst := lvl;
                END IF;
            END LOOP;
            RETURN ARRAY[src, dst];
        EXCEPTION WHEN deadlock_detected THEN
            IF attempt OPERATOR(pg_catalog.=) 3 THEN
                RAISE;
            END IF;
        END;
    END LOOP;
    RETURN NULL;    -- not reached
END
$$;
COMMENT ON FUNCTION inventory_internal.inventory_lock_transfer_rows(text, uuid, uuid) IS
    'Creates if missing and locks, in key order, the two level rows of a transfer; returns [source, destination] (internal)';
REVOKE ALL ON FUNCTION inventory_internal.inventory_lock_transfer_rows(text, uuid, uuid) FROM PUBLIC;

/*
 * The transfer to receive or cancel, locked after its level rows
 * (internal): raises the error of an unknown one, or of one no longer in
 * transit.
 */
CREATE FUNCTION inventory_internal.inventory_open_transfer(transfer_id bigint, verb text)
    RETURNS @extschema@.inventory_transfers
    LANGUAGE plpgsql
    VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    t @extschema@.inventory_transfers;
BEGIN
    IF transfer_id IS NULL THEN
        RAISE EXCEPTION 'transfer_id must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- its keys never change: read them unlocked, lock the level rows in
    -- key order, then the transfer row, and look at its state again
    SELECT * INTO t FROM @extschema@.inventory_transfers x
     WHERE x.id OPERATOR(pg_catalog.=) transfer_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'inventory transfer % does not exist', transfer_id
            USING ERRCODE = 'undefined_object',
                  DETAIL = pg_catalog.format('No transfer has this id. Nothing was %s.', verb);
    END IF;
    PERFORM inventory_internal.inventory_check_merchant(ARRAY[t.from_warehouse, t.to_warehouse]);
    PERFORM inventory_internal.inventory_lock_transfer_rows(t.sku, t.from_warehouse, t.to_warehouse);
    SELECT * INTO t FROM @extschema@.inventory_transfers x
     WHERE x.id OPERATOR(pg_catalog.=) transfer_id
       FOR UPDATE;
    IF t.state OPERATOR(pg_catalog.<>) 'in_transit' THEN
        RAISE EXCEPTION 'inventory transfer % is not in transit', transfer_id
            USING ERRCODE = 'IN004',
                  DETAIL = pg_catalog.format('%s Nothing was %s.',
                                             CASE t.state
                                                 WHEN 'done' THEN 'It was an immediate transfer, done when it was made.'
                                                 WHEN 'received' THEN 'All of it was received.'
                                                 ELSE pg_catalog.format('It was cancelled (%s of %s received).', t.received, t.quantity)
                                             END, verb);
    END IF;
    PERFORM pg_catalog.set_config('inventory.change_transfer', t.id::text, true);
    PERFORM pg_catalog.set_config('inventory.change_reason', COALESCE(t.reference, ''), true);
    RETURN t;
END
$$;
COMMENT ON FUNCTION inventory_internal.inventory_open_transfer(bigint, text) IS
    'Locks the level rows and the row of a transfer in transit, for inventory_receive_transfer and inventory_cancel_transfer (internal)';
REVOKE ALL ON FUNCTION inventory_internal.inventory_open_transfer(bigint, text) FROM PUBLIC;

/*
 * inventory_transfer: move stock of a sku from one warehouse to another,
 * at once or in transit.
 */
CREATE FUNCTION @extschema@.inventory_transfer(
    sku text, from_warehouse uuid, to_warehouse uuid, quantity bigint,
    reference text DEFAULT NULL, in_transit boolean DEFAULT false,
    allow_oversell boolean DEFAULT false)
    RETURNS @extschema@.inventory_transfers
    LANGUAGE plpgsql
    VOLATILE CALLED ON NULL INPUT
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET inventory.change_source = 'transfer'
    SET inventory.change_reason = ''
    SET inventory.change_order = ''
    SET inventory.change_line = ''
    SET inventory.change_transfer = ''
    AS $$
DECLARE
    rows @extschema@.inventory_levels[];
    src @extschema@.inventory_levels;
    t @extschema@.inventory_transfers;
BEGIN
    PERFORM inventory_internal.inventory_check_transfer_args(sku, from_warehouse, to_warehouse, quantity,
                                                             reference, in_transit, allow_oversell);
    rows := inventory_internal.inventory_lock_transfer_rows(sku, from_warehouse, to_warehouse);
    src := rows[1];
    IF NOT allow_oversell AND src.available OPERATOR(pg_catalog.<) quantity THEN
        RAISE EXCEPTION 'insufficient stock to transfer % of sku "%" from warehouse %', quantity, sku, from_warehouse
            USING ERRCODE = 'IN001',
                  DETAIL = pg_catalog.format('Available is %s (on_hand %s, reserved %s).',
                                             src.available, src.on_hand, src.reserved),
                  HINT = 'Nothing was transferred. Pass allow_oversell => true to move the stock anyway.';
    END IF;

    t.id := pg_catalog.nextval('@extschema@.inventory_transfers_id_seq'::pg_catalog.regclass);
    PERFORM pg_catalog.set_config('inventory.change_transfer', t.id::text, true);
    PERFORM pg_catalog.set_config('inventory.change_reason', COALESCE(reference, ''), true);
    -- one statement, so the ledger trigger writes both rows in key order
    UPDATE @extschema@.inventory_levels AS l
       SET on_hand = l.on_hand OPERATOR(pg_catalog.+)
                     CASE WHEN l.warehouse_uuid OPERATOR(pg_catalog.=) inventory_transfer.from_warehouse
                          THEN OPERATOR(pg_catalog.-) quantity
                          WHEN in_transit THEN 0
                          ELSE quantity END,
           incoming = l.incoming OPERATOR(pg_catalog.+)
                      CASE WHEN l.warehouse_uuid OPERATOR(pg_catalog.=) inventory_transfer.to_warehouse
                                AND in_transit
                           THEN quantity ELSE 0 END
     WHERE l.sku OPERATOR(pg_catalog.=) inventory_transfer.sku
       AND l.warehouse_uuid OPERATOR(pg_catalog.=) ANY (ARRAY[from_warehouse, to_warehouse]);

    INSERT INTO @extschema@.inventory_transfers AS x
           (id, sku, from_warehouse, to_warehouse, quantity, received, state, reference, created_by)
    VALUES (t.id, inventory_transfer.sku, from_warehouse, to_warehouse, quantity,
            CASE WHEN in_transit THEN 0 ELSE quantity END,
            CASE WHEN in_transit THEN 'in_transit' ELSE 'done' END,
            reference, inventory_internal.inventory_outer_role())
    RETURNING * INTO t;
    RETURN t;
END
$$;
COMMENT ON FUNCTION @extschema@.inventory_transfer(text, uuid, uuid, bigint, text, boolean, boolean) IS
    'Move stock between warehouses: at once, or in transit (on_hand leaves now, arrives as incoming); fails (SQLSTATE IN001) when the source has less available unless allow_oversell => true; returns the transfer';
REVOKE ALL ON FUNCTION @extschema@.inventory_transfer(text, uuid, uuid, bigint, text, boolean, boolean) FROM PUBLIC;

/*
 * inventory_receive_transfer: (part of) a transfer in transit arrives.
 */
CREATE FUNCTION @extschema@.inventory_receive_transfer(transfer_id bigint, quantity bigint DEFAULT NULL)
    RETURNS @extschema@.inventory_transfers
    LANGUAGE plpgsql
    VOLATILE CALLED ON NULL INPUT
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET inventory.change_source = 'transfer_receive'
    SET inventory.change_reason = ''
    SET inventory.change_order = ''
    SET inventory.change_line = ''
    SET inventory.change_transfer = ''
    AS $$
DECLARE
    t @extschema@.inventory_transfers;
    dst @extschema@.inventory_levels;
    q bigint;
BEGIN
    IF quantity OPERATOR(pg_catalog.<=) 0 OR quantity OPERATOR(pg_catalog.>) 2147483647 THEN
        RAISE EXCEPTION 'quantity must be between 1 and 2147483647, not %', quantity
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Leave quantity out (or NULL) to receive all that is still in transit.';
    END IF;
    t := inventory_internal.inventory_open_transfer(transfer_id, 'received');
    q := COALESCE(quantity, t.remaining);
    IF q OPERATOR(pg_catalog.>) t.remaining THEN
        RAISE EXCEPTION 'cannot receive % of inventory transfer %: only % in transit', q, t.id, t.remaining
            USING ERRCODE = 'IN004',
                  DETAIL = pg_catalog.format('Of %s shipped, %s was received and %s is still in transit. Nothing was received.',
                                             t.quantity, t.received, t.remaining),
                  HINT = 'Leave quantity out (or NULL) to receive all that is still in transit.';
    END IF;
    SELECT * INTO dst FROM @extschema@.inventory_levels l
     WHERE l.sku OPERATOR(pg_catalog.=) t.sku
       AND l.warehouse_uuid OPERATOR(pg_catalog.=) t.to_warehouse;
    IF dst.incoming OPERATOR(pg_catalog.<) q THEN
        RAISE EXCEPTION 'cannot receive % of inventory transfer %: the destination''s incoming is only %', q, t.id, dst.incoming
            USING ERRCODE = 'IN004',
                  DETAIL = 'The level row''s incoming was changed by other means than the transfer functions. Nothing was received.',
                  HINT = 'SELECT * FROM inventory_verify() lists the rows whose incoming differs from what their transfers carry.';
    END IF;
    UPDATE @extschema@.inventory_levels AS l
       SET on_hand = l.on_hand OPERATOR(pg_catalog.+) q,
           incoming = l.incoming OPERATOR(pg_catalog.-) q
     WHERE l.sku OPERATOR(pg_catalog.=) t.sku
       AND l.warehouse_uuid OPERATOR(pg_catalog.=) t.to_warehouse;
    UPDATE @extschema@.inventory_transfers AS x
       SET received = x.received OPERATOR(pg_catalog.+) q,
           state = CASE WHEN x.remaining OPERATOR(pg_catalog.=) q THEN 'received' ELSE 'in_transit' END,
           updated_at = pg_catalog.now()
     WHERE x.id OPERATOR(pg_catalog.=) t.id
    RETURNING * INTO t;
    RETURN t;
END
$$;
COMMENT ON FUNCTION @extschema@.inventory_receive_transfer(bigint, bigint) IS
    'Receive quantity (NULL: all still in transit) of a transfer: the destination''s incoming turns into on_hand; returns the transfer';
REVOKE ALL ON FUNCTION @extschema@.inventory_receive_transfer(bigint, bigint) FROM PUBLIC;

/*
 * inventory_cancel_transfer: what is still in transit goes back.
 */
CREATE FUNCTION @extschema@.inventory_cancel_transfer(transfer_id bigint)
    RETURNS @extschema@.inventory_transfers
    LANGUAGE plpgsql
    VOLATILE CALLED ON NULL INPUT
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET inventory.change_source = 'transfer_cancel'
    SET inventory.change_reason = ''
    SET inventory.change_order = ''
    SET inventory.change_line = ''
    SET inventory.change_transfer = ''
    AS $$
DECLARE
    t @extschema@.inventory_transfers;
    dst @extschema@.inventory_levels;
BEGIN
    t := inventory_internal.inventory_open_transfer(transfer_id, 'cancelled');
    SELECT * INTO dst FROM @extschema@.inventory_levels l
     WHERE l.sku OPERATOR(pg_catalog.=) t.sku
       AND l.warehouse_uuid OPERATOR(pg_catalog.=) t.to_warehouse;
    IF dst.incoming OPERATOR(pg_catalog.<) t.remaining THEN
        RAISE EXCEPTION 'cannot cancel inventory transfer %: the destination''s incoming is only %', t.id, dst.incoming
            USING ERRCODE = 'IN004',
                  DETAIL = pg_catalog.format('%s is still in transit, but the level row''s incoming was changed by other means than the transfer functions. Nothing was cancelled.', t.remaining),
                  HINT = 'SELECT * FROM inventory_verify() lists the rows whose incoming differs from what their transfers carry.';
    END IF;
    UPDATE @extschema@.inventory_levels AS l
       SET on_hand = l.on_hand OPERATOR(pg_catalog.+)
                     CASE WHEN l.warehouse_uuid OPERATOR(pg_catalog.=) t.from_warehouse
                          THEN t.remaining ELSE 0 END,
           incoming = l.incoming OPERATOR(pg_catalog.-)
                      CASE WHEN l.warehouse_uuid OPERATOR(pg_catalog.=) t.to_warehouse
                           THEN t.remaining ELSE 0 END
     WHERE l.sku OPERATOR(pg_catalog.=) t.sku
       AND l.warehouse_uuid OPERATOR(pg_catalog.=) ANY (ARRAY[t.from_warehouse, t.to_warehouse]);
    UPDATE @extschema@.inventory_transfers AS x
       SET cancelled = x.cancelled OPERATOR(pg_catalog.+) x.remaining,
           state = 'cancelled',
           updated_at = pg_catalog.now()
     WHERE x.id OPERATOR(pg_catalog.=) t.id
    RETURNING * INTO t;
    RETURN t;
END
$$;
COMMENT ON FUNCTION @extschema@.inventory_cancel_transfer(bigint) IS
    'Cancel what is still in transit of a transfer: it goes back to the source''s on_hand and off the destination''s incoming; returns the transfer';
REVOKE ALL ON FUNCTION @extschema@.inventory_cancel_transfer(bigint) FROM PUBLIC;

/* ------------------------------------------------------------------------
 * 7. Queue API
 * ------------------------------------------------------------------------
 */

CREATE FUNCTION @extschema@.inventory_adjust(
    body jsonb, create_missing boolean DEFAULT true, idempotency_key text DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c
    VOLATILE CALLED ON NULL INPUT
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_adjust';
COMMENT ON FUNCTION @extschema@.inventory_adjust(jsonb, boolean, text) IS
    'Validate a batch of adjustments ({"inventory": [...]} or an array) and queue it; returns the batch id. create_missing => false skips items without a level row (PATCH); idempotency_key makes retries safe';
REVOKE ALL ON FUNCTION @extschema@.inventory_adjust(jsonb, boolean, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.inventory_process_queue(max_batches integer DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c
    VOLATILE CALLED ON NULL INPUT
    -- applies as the owner, like the worker: a role granted EXECUTE needs
    -- no rights on the tables
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    -- key lookups are index probes whatever the table sizes (see worker.c)
    SET enable_seqscan = off
    SET enable_hashjoin = off
    SET enable_mergejoin = off
    SET jit = off
    -- the apply writes one ledger row per item itself
    SET inventory.change_source = 'adjust'
    AS 'MODULE_PATHNAME', 'inventory_process_queue';
COMMENT ON FUNCTION @extschema@.inventory_process_queue(integer) IS
    'Apply queued batches now, in this session; returns the number of batches applied or failed';
REVOKE ALL ON FUNCTION @extschema@.inventory_process_queue(integer) FROM PUBLIC;

/*
 * Whether a row's xmin is this transaction's (or a subtransaction's): a
 * batch queued by the transaction that waits for it (C).
 */
CREATE FUNCTION inventory_internal.inventory_xid_is_current(row_xmin xid)
    RETURNS boolean
    LANGUAGE c
    STABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_xid_is_current';
COMMENT ON FUNCTION inventory_internal.inventory_xid_is_current(xid) IS
    'True when the transaction id is the calling transaction''s or one of its subtransactions'' (internal)';
REVOKE ALL ON FUNCTION inventory_internal.inventory_xid_is_current(xid) FROM PUBLIC;

/*
 * Whether a batch id that is neither queued nor in the history was pruned
 * by retention (or never committed: below the pruned ids, the two cannot
 * be told apart).  Every batch id still in flight is above every applied
 * one, since the apply never passes an id that may still commit.
 */
CREATE FUNCTION inventory_internal.inventory_batch_pruned(batch bigint)
    RETURNS boolean
    LANGUAGE sql
    STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT COALESCE(batch OPERATOR(pg_catalog.>) 0
                    AND batch OPERATOR(pg_catalog.<=) (SELECT s.batches_pruned_through
                                                       FROM @extschema@.inventory_retention_state s),
                    false)
$$;
COMMENT ON FUNCTION inventory_internal.inventory_batch_pruned(bigint) IS
    'Whether retention pruned the history of a batch that is neither queued nor recorded (internal)';
REVOKE ALL ON FUNCTION inventory_internal.inventory_batch_pruned(bigint) FROM PUBLIC;

CREATE FUNCTION @extschema@.inventory_wait(batch bigint, timeout interval DEFAULT '30 s')
    RETURNS text
    LANGUAGE plpgsql
    VOLATILE CALLED ON NULL INPUT
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    deadline  timestamptz;
    st        text;
    pause     double precision := 0.001;
    queued_by_xid xid;
BEGIN
    IF batch IS NULL OR timeout IS NULL THEN
        RAISE EXCEPTION 'batch and timeout must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- A batch is applied only once the transaction that queued it commits:
    -- waiting for it in that very transaction could only time out.
    SELECT q.xmin INTO queued_by_xid FROM @extschema@.inventory_queue q
     WHERE q.batch_id OPERATOR(pg_catalog.=) batch;
    IF FOUND AND inventory_internal.inventory_xid_is_current(queued_by_xid) THEN
        RAISE EXCEPTION 'inventory batch % is not committed yet', batch
            USING ERRCODE = 'invalid_transaction_state',
                  DETAIL = 'This transaction queued it, and a batch is applied only after the transaction that queued it commits.',
                  HINT = 'Commit first, then call inventory_wait() from a new transaction.';
    END IF;
    deadline := pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) timeout;
    LOOP
        SELECT h.state INTO st
          FROM @extschema@.inventory_batch_history h
         WHERE h.batch_id OPERATOR(pg_catalog.=) batch;
        IF FOUND THEN
            RETURN st;
        END IF;
        PERFORM FROM @extschema@.inventory_queue q
          WHERE q.batch_id OPERATOR(pg_catalog.=) batch;
        IF NOT FOUND THEN
            -- Neither queued nor done: check history again, the batch may
            -- have moved between the two reads.
            SELECT h.state INTO st
              FROM @extschema@.inventory_batch_history h
             WHERE h.batch_id OPERATOR(pg_catalog.=) batch;
            IF FOUND THEN
                RETURN st;
            END IF;
            IF inventory_internal.inventory_batch_pruned(batch) THEN
                RETURN 'pruned';
            END IF;
            RAISE EXCEPTION 'inventory batch % does not exist', batch
                USING ERRCODE = 'undefined_object',
                      DETAIL = 'No queued, applied or failed batch has this id.',
                      HINT = 'A batch queued by a transaction that has not committed yet, or that rolled back, is not visible.';
        END IF;
        IF pg_catalog.clock_timestamp() OPERATOR(pg_catalog.>=) deadline THEN
            RAISE EXCEPTION 'timed out waiting for inventory batch %', batch
                USING ERRCODE = 'lock_not_available',
                      DETAIL = pg_catalog.format('The batch is still queued after %s.', timeout),
                      HINT = 'SELECT * FROM inventory_worker_status() says what this database''s worker is doing (paused, waiting for a free worker, held back by an open transaction that queued an earlier batch), or shows no row when the library is not preloaded; inventory_process_queue() applies the queue in this session.';
        END IF;
        PERFORM pg_catalog.pg_sleep(pause);
        pause := LEAST(pause OPERATOR(pg_catalog.*) 2, 0.05::double precision);
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.inventory_wait(bigint, interval) IS
    'Wait until a batch is applied or failed and return its state (pruned: applied, and its history removed by retention); error on timeout';
REVOKE ALL ON FUNCTION @extschema@.inventory_wait(bigint, interval) FROM PUBLIC;

/* ------------------------------------------------------------------------
 * 8. Change feed
 * ------------------------------------------------------------------------
 */

CREATE FUNCTION inventory_internal.inventory_ledger_horizon()
    RETURNS bigint
    LANGUAGE c
    VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_ledger_horizon';
COMMENT ON FUNCTION inventory_internal.inventory_ledger_horizon() IS
    'Ledger id up to which no change can still appear (internal; see inventory_changes)';
REVOKE ALL ON FUNCTION inventory_internal.inventory_ledger_horizon() FROM PUBLIC;

/*
 * Refuse a change cursor below a change that retention pruned: reading on
 * from it would skip that change silently.
 */
CREATE FUNCTION inventory_internal.inventory_check_change_cursor(after bigint)
    RETURNS void
    LANGUAGE plpgsql
    VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    pruned bigint;
    kept bigint;
BEGIN
    SELECT s.changes_pruned_through, s.ledger_pruned_through INTO pruned, kept
      FROM @extschema@.inventory_retention_state s;
    IF after OPERATOR(pg_catalog.<) pruned THEN
        RAISE EXCEPTION 'change cursor % is older than the retention horizon', after
            USING ERRCODE = 'IN005',
                  DETAIL = pg_catalog.format('Retention (inventory.retention) pruned the changes up to id %s, some of them after this cursor.', pruned),
                  HINT = pg_catalog.format('Send every listing its current quantity again (inventory_get() reads them), then continue from cursor %s: every change after it is still kept.', kept);
    END IF;
END
$$;
COMMENT ON FUNCTION inventory_internal.inventory_check_change_cursor(bigint) IS
    'Error IN005 when retention pruned changes after the cursor (internal; see inventory_changes)';
REVOKE ALL ON FUNCTION inventory_internal.inventory_check_change_cursor(bigint) FROM PUBLIC;

CREATE FUNCTION @extschema@.inventory_changes(after bigint DEFAULT 0, max_rows integer DEFAULT 1000)
    RETURNS TABLE (change_id bigint, at timestamptz, sku text, warehouse_uuid uuid,
                   available bigint, available_before bigint, on_hand bigint, reserved bigint,
                   source text, incoming bigint)
    LANGUAGE plpgsql
    VOLATILE CALLED ON NULL INPUT
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    horizon bigint;
    issued bigint;
    for_merchant text := NULLIF(pg_catalog.current_setting('inventory.merchant', true), '');
BEGIN
    IF after IS NULL OR max_rows IS NULL OR max_rows OPERATOR(pg_catalog.<) 1 THEN
        RAISE EXCEPTION 'after must not be null and max_rows must be at least 1'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- first the horizon, then (a new statement, a new snapshot) the rows
    horizon := inventory_internal.inventory_ledger_horizon();
    -- A cursor above every ledger id issued here was not read here: it
    -- would wait, silently, until ids pass it.
    SELECT CASE WHEN s.is_called THEN s.last_value ELSE 0 END INTO issued
      FROM @extschema@.inventory_ledger_id_seq s;
    IF after OPERATOR(pg_catalog.>) issued THEN
        RAISE EXCEPTION 'change cursor % is beyond the last change of this database', after
            USING ERRCODE = 'IN003',
                  DETAIL = pg_catalog.format('The largest change id issued here is %s. The cursor was read from another database, or before the extension was dropped and created again (change ids then start again at 1), or from a primary whose last changes were lost in a failover.', issued),
                  HINT = 'Start the consumer again from cursor 0, sending every change it reads to the listings again; keep one cursor per database.';
    END IF;
    PERFORM inventory_internal.inventory_check_change_cursor(after);
    RETURN QUERY
        SELECT l.id, l.at, l.sku::text, l.warehouse_uuid, l.available_after, l.available_before,
               l.on_hand_after, l.reserved_after, l.source, l.incoming_after
          FROM @extschema@.inventory_ledger l
         WHERE l.id OPERATOR(pg_catalog.>) after
           AND l.id OPERATOR(pg_catalog.<=) horizon
           AND (l.available_before OPERATOR(pg_catalog.<>) l.available_after
                OR l.incoming_before IS DISTINCT FROM l.incoming_after)
           -- with inventory.merchant, that merchant's changes
           AND (for_merchant IS NULL
                OR l.warehouse_uuid OPERATOR(pg_catalog.=) ANY (ARRAY(
                       SELECT w.uuid FROM @extschema@.inventory_warehouses w
                        WHERE w.merchant OPERATOR(pg_catalog.=) for_merchant)))
         ORDER BY l.id
         LIMIT max_rows;
    -- again after the read: a pass of retention that committed before the
    -- read's snapshot took rows after the cursor, which the read missed
    PERFORM inventory_internal.inventory_check_change_cursor(after);
END
$$;
COMMENT ON FUNCTION @extschema@.inventory_changes(bigint, integer) IS
    'Changes of available or incoming after a cursor (the last change_id seen), in order, none ever skipped (incoming is NULL when the change left it as it was; a cursor older than what retention pruned is refused; with inventory.merchant set, that merchant''s); LISTEN inventory_changes to be woken';
REVOKE ALL ON FUNCTION @extschema@.inventory_changes(bigint, integer) FROM PUBLIC;

/* ------------------------------------------------------------------------
 * 9. Status and checks
 * ------------------------------------------------------------------------
 */

/*
 * Outcome of a batch and of each of its items.
 */
CREATE FUNCTION @extschema@.inventory_batch_status(batch bigint)
    RETURNS TABLE (batch_id bigint, state text, create_missing boolean, item_count integer,
                   applied_items integer, skipped_items integer, failed_items integer,
                   queued_at timestamptz, applied_at timestamptz, error text,
                   item integer, sku text, warehouse_uuid uuid, outcome text, reason text,
                   on_hand_before bigint, on_hand_after bigint,
                   reserved_before bigint, reserved_after bigint,
                   available_before bigint, available_after bigint)
    LANGUAGE plpgsql
    STABLE CALLED ON NULL INPUT
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    q @extschema@.inventory_queue;
    h @extschema@.inventory_batch_history;
    mv @extschema@.inventory_moved_batches;
BEGIN
    SELECT * INTO q FROM @extschema@.inventory_queue x WHERE x.batch_id OPERATOR(pg_catalog.=) batch;
    IF FOUND THEN
        RETURN QUERY
            SELECT q.batch_id, 'queued'::text, q.create_missing, q.item_count, 0, 0, 0,
                   q.queued_at, NULL::timestamptz, NULL::text,
                   e.ord::integer, e.v OPERATOR(pg_catalog.->>) 'sku', (e.v OPERATOR(pg_catalog.->>) 'warehouse_uuid')::uuid, 'queued'::text, NULL::text,
                   NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint
              FROM pg_catalog.jsonb_array_elements(q.items) WITH ORDINALITY AS e(v, ord)
             ORDER BY e.ord;
        RETURN;
    END IF;
    SELECT * INTO h FROM @extschema@.inventory_batch_history x WHERE x.batch_id OPERATOR(pg_catalog.=) batch;
    IF NOT FOUND AND NOT inventory_internal.inventory_batch_pruned(batch) THEN
        RAISE EXCEPTION 'inventory batch % does not exist', batch
            USING ERRCODE = 'undefined_object',
                  DETAIL = 'No queued, applied or failed batch has this id.';
    END IF;
    -- pruned by retention: one row, without items
    IF NOT FOUND THEN
        RETURN QUERY
            SELECT batch, 'pruned'::text, NULL::boolean, NULL::integer, NULL::integer, NULL::integer, NULL::integer,
                   NULL::timestamptz, NULL::timestamptz, NULL::text,
                   NULL::integer, NULL::text, NULL::uuid, 'pruned'::text,
                   'the batch left the queue before the retention horizon (inventory.retention), and its history was pruned'::text,
                   NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint;
        RETURN;
    END IF;
    IF h.state OPERATOR(pg_catalog.=) 'failed' THEN
        RETURN QUERY
            SELECT h.batch_id, h.state, h.create_missing, h.item_count, 0, 0, h.item_count,
                   h.queued_at, h.applied_at, h.error,
                   e.ord::integer, e.v OPERATOR(pg_catalog.->>) 'sku', (e.v OPERATOR(pg_catalog.->>) 'warehouse_uuid')::uuid, 'failed'::text, h.error,
                   NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint
              FROM pg_catalog.jsonb_array_elements(h.items) WITH ORDINALITY AS e(v, ord)
             ORDER BY e.ord;
        RETURN;
    END IF;
    -- its merchant moved to another node, with its items' ledger rows
    SELECT * INTO mv FROM @extschema@.inventory_moved_batches x WHERE x.batch_id OPERATOR(pg_catalog.=) batch;
    IF FOUND THEN
        RETURN QUERY
            SELECT h.batch_id, h.state, h.create_missing, h.item_count, NULL::integer, NULL::integer, 0,
                   h.queued_at, h.applied_at, h.error,
                   NULL::integer, NULL::text, NULL::uuid, 'moved'::text,
                   pg_catalog.format('its merchant "%s" moved to another node at %s, with the ledger rows of its items',
                                     mv.merchant, mv.moved_at),
                   NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint;
        RETURN;
    END IF;
    RETURN QUERY
        WITH outcomes AS (
            SELECT l.item, l.sku::text AS sku, l.warehouse_uuid, 'applied'::text AS outcome, NULL::text AS reason,
                   l.on_hand_before, l.on_hand_after, l.reserved_before, l.reserved_after,
                   l.available_before, l.available_after
              FROM @extschema@.inventory_ledger l
             WHERE l.batch_id OPERATOR(pg_catalog.=) batch
            UNION ALL
            SELECT (s.v OPERATOR(pg_catalog.->>) 'item')::integer, s.v OPERATOR(pg_catalog.->>) 'sku', (s.v OPERATOR(pg_catalog.->>) 'warehouse_uuid')::uuid,
                   'skipped_missing', 'no level row exists and the batch was queued with create_missing => false',
                   NULL, NULL, NULL, NULL, NULL, NULL
              FROM pg_catalog.jsonb_array_elements(COALESCE(h.skipped, '[]'::jsonb)) AS s(v)
            UNION ALL
            SELECT (r.v OPERATOR(pg_catalog.->>) 'item')::integer, r.v OPERATOR(pg_catalog.->>) 'sku', (r.v OPERATOR(pg_catalog.->>) 'warehouse_uuid')::uuid,
                   r.v OPERATOR(pg_catalog.->>) 'outcome',
                   CASE r.v OPERATOR(pg_catalog.->>) 'outcome'
                   WHEN 'conflict' THEN
                       pg_catalog.format('expected %s %s, the row had %s',
                                         r.v OPERATOR(pg_catalog.->>) 'field',
                                         r.v OPERATOR(pg_catalog.->>) 'expected',
                                         r.v OPERATOR(pg_catalog.->>) 'actual')
                   ELSE
                       pg_catalog.format(CASE WHEN r.v OPERATOR(pg_catalog.->>) 'result' IS NULL
                                              THEN 'on_hand would go from %s beyond the range of bigint'
                                              ELSE 'on_hand would go from %s to %s, outside 0 to 2147483647' END,
                                         r.v OPERATOR(pg_catalog.->>) 'actual',
                                         r.v OPERATOR(pg_catalog.->>) 'result')
                   END,
                   NULL, NULL, NULL, NULL, NULL, NULL
              -- the column is NULL where nothing was rejected
              FROM pg_catalog.jsonb_array_elements(COALESCE(h.rejected, '[]'::jsonb)) AS r(v))
        SELECT h.batch_id, h.state, h.create_missing, h.item_count,
               (pg_catalog.count(*) FILTER (WHERE o.outcome OPERATOR(pg_catalog.=) 'applied') OVER ())::integer,
               (pg_catalog.count(*) FILTER (WHERE o.outcome OPERATOR(pg_catalog.<>) 'applied') OVER ())::integer,
               0, h.queued_at, h.applied_at, h.error,
               o.item, o.sku, o.warehouse_uuid, o.outcome, o.reason,
               o.on_hand_before, o.on_hand_after, o.reserved_before, o.reserved_after,
               o.available_before, o.available_after
          FROM outcomes o
         ORDER BY o.item;
END
$$;
COMMENT ON FUNCTION @extschema@.inventory_batch_status(bigint) IS
    'State, counts and times of a batch, and each item''s outcome (queued, applied, skipped_missing, conflict, out_of_range, failed) with before/after values of the applied ones; one row with state pruned for a batch retention pruned, one with outcome moved for a batch whose merchant moved to another node';
REVOKE ALL ON FUNCTION @extschema@.inventory_batch_status(bigint) FROM PUBLIC;

/*
 * Consistency check for psql administration.
 */
CREATE FUNCTION @extschema@.inventory_verify()
    RETURNS TABLE (check_name text, sku text, warehouse_uuid uuid, detail text)
    LANGUAGE sql
    STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    -- available = on_hand - reserved on every row
    SELECT 'available'::text, l.sku::text, l.warehouse_uuid,
           pg_catalog.format('available is %s, on_hand - reserved is %s', l.available,
                             l.on_hand OPERATOR(pg_catalog.-) l.reserved)
      FROM @extschema@.inventory_levels l
     WHERE l.available OPERATOR(pg_catalog.<>) (l.on_hand OPERATOR(pg_catalog.-) l.reserved)
    UNION ALL
    -- reserved = sum of open reservations
    SELECT 'reserved', COALESCE(l.sku, r.sku)::text, COALESCE(l.warehouse_uuid, r.warehouse_uuid),
           pg_catalog.format('reserved is %s, open reservations sum to %s',
                             COALESCE(l.reserved, 0), COALESCE(r.total, 0))
      FROM @extschema@.inventory_levels l
      FULL JOIN (SELECT x.sku, x.warehouse_uuid, pg_catalog.sum(x.quantity) AS total
                   FROM @extschema@.inventory_reservations x GROUP BY 1, 2) r
        ON r.sku OPERATOR(pg_catalog.=) l.sku AND r.warehouse_uuid OPERATOR(pg_catalog.=) l.warehouse_uuid
     WHERE COALESCE(l.reserved, 0) OPERATOR(pg_catalog.<>) COALESCE(r.total, 0)
    UNION ALL
    -- incoming = what the transfers in transit to the row still carry
    SELECT 'incoming', COALESCE(l.sku, t.sku)::text, COALESCE(l.warehouse_uuid, t.to_warehouse),
           pg_catalog.format('incoming is %s, transfers in transit carry %s',
                             COALESCE(l.incoming, 0), COALESCE(t.total, 0))
      FROM (SELECT x.sku, x.warehouse_uuid, x.incoming FROM @extschema@.inventory_levels x
             WHERE x.incoming OPERATOR(pg_catalog.<>) 0) l
      FULL JOIN (SELECT x.sku, x.to_warehouse, pg_catalog.sum(x.remaining) AS total
                   FROM @extschema@.inventory_transfers x
                  WHERE x.state OPERATOR(pg_catalog.=) 'in_transit' GROUP BY 1, 2) t
        ON t.sku OPERATOR(pg_catalog.=) l.sku AND t.to_warehouse OPERATOR(pg_catalog.=) l.warehouse_uuid
     WHERE COALESCE(l.incoming, 0) OPERATOR(pg_catalog.<>) COALESCE(t.total, 0)
    UNION ALL
    -- replaying the ledger gives every level row: its last row's after
    -- values (its checkpoint's, when retention pruned every row of the key)
    SELECT 'ledger', COALESCE(l.sku, g.sku)::text, COALESCE(l.warehouse_uuid, g.warehouse_uuid),
           pg_catalog.format('level row has on_hand %s, reserved %s; the ledger ends at on_hand %s, reserved %s',
                             COALESCE(l.on_hand, 0), COALESCE(l.reserved, 0),
                             COALESCE(g.on_hand_after, 0), COALESCE(g.reserved_after, 0))
      FROM @extschema@.inventory_levels l
      FULL JOIN (SELECT DISTINCT ON (x.sku, x.warehouse_uuid) x.sku, x.warehouse_uuid,
                        x.on_hand_after, x.reserved_after
                   FROM (SELECT y.id, y.sku, y.warehouse_uuid, y.on_hand_after, y.reserved_after
                           FROM @extschema@.inventory_ledger y
                         UNION ALL
                         SELECT c.ledger_id, c.sku, c.warehouse_uuid, c.on_hand, c.reserved
                           FROM @extschema@.inventory_ledger_checkpoints c) x
                  ORDER BY x.sku, x.warehouse_uuid, x.id DESC) g
        ON g.sku OPERATOR(pg_catalog.=) l.sku AND g.warehouse_uuid OPERATOR(pg_catalog.=) l.warehouse_uuid
     WHERE COALESCE(l.on_hand, 0) OPERATOR(pg_catalog.<>) COALESCE(g.on_hand_after, 0)
        OR COALESCE(l.reserved, 0) OPERATOR(pg_catalog.<>) COALESCE(g.reserved_after, 0)
    UNION ALL
    -- ... and incoming: the key's last row that changed it (0 without one)
    SELECT 'ledger', COALESCE(l.sku, g.sku)::text, COALESCE(l.warehouse_uuid, g.warehouse_uuid),
           pg_catalog.format('level row has incoming %s; the ledger ends at incoming %s',
                             COALESCE(l.incoming, 0), COALESCE(g.incoming_after, 0))
      FROM (SELECT x.sku, x.warehouse_uuid, x.incoming FROM @extschema@.inventory_levels x
             WHERE x.incoming OPERATOR(pg_catalog.<>) 0) l
      FULL JOIN (SELECT DISTINCT ON (x.sku, x.warehouse_uuid) x.sku, x.warehouse_uuid, x.incoming_after
                   FROM (SELECT y.id, y.sku, y.warehouse_uuid, y.incoming_after
                           FROM @extschema@.inventory_ledger y
                          WHERE y.incoming_after IS NOT NULL
                         UNION ALL
                         SELECT c.ledger_id, c.sku, c.warehouse_uuid, c.incoming
                           FROM @extschema@.inventory_ledger_checkpoints c) x
                  ORDER BY x.sku, x.warehouse_uuid, x.id DESC) g
        ON g.sku OPERATOR(pg_catalog.=) l.sku AND g.warehouse_uuid OPERATOR(pg_catalog.=) l.warehouse_uuid
     WHERE COALESCE(l.incoming, 0) OPERATOR(pg_catalog.<>) COALESCE(g.incoming_after, 0)
    UNION ALL
    -- each ledger row starts where the key's previous one ended (the
    -- first kept one where its checkpoint ended)
    SELECT 'ledger chain', c.sku::text, c.warehouse_uuid,
           pg_catalog.format('ledger row %s starts at on_hand %s, reserved %s; the previous row ended at %s, %s',
                             c.id, c.on_hand_before, c.reserved_before, c.prev_on_hand, c.prev_reserved)
      FROM (SELECT x.*, pg_catalog.lag(x.on_hand_after, 1, COALESCE(p.on_hand, 0::bigint)) OVER w AS prev_on_hand,
                   pg_catalog.lag(x.reserved_after, 1, COALESCE(p.reserved, 0::bigint)) OVER w AS prev_reserved
              FROM @extschema@.inventory_ledger x
              LEFT JOIN @extschema@.inventory_ledger_checkpoints p
                ON p.sku OPERATOR(pg_catalog.=) x.sku AND p.warehouse_uuid OPERATOR(pg_catalog.=) x.warehouse_uuid
            WINDOW w AS (PARTITION BY x.sku, x.warehouse_uuid ORDER BY x.id)) c
     WHERE c.on_hand_before OPERATOR(pg_catalog.<>) c.prev_on_hand
        OR c.reserved_before OPERATOR(pg_catalog.<>) c.prev_reserved
    UNION ALL
    -- ... and, among the rows that changed incoming, incoming
    SELECT 'ledger chain', c.sku::text, c.warehouse_uuid,
           pg_catalog.format('ledger row %s starts at incoming %s; the previous row that changed it ended at %s',
                             c.id, c.incoming_before, c.prev_incoming)
      FROM (SELECT x.*, pg_catalog.lag(x.incoming_after, 1, COALESCE(p.incoming, 0::bigint)) OVER w AS prev_incoming
              FROM @extschema@.inventory_ledger x
              LEFT JOIN @extschema@.inventory_ledger_checkpoints p
                ON p.sku OPERATOR(pg_catalog.=) x.sku AND p.warehouse_uuid OPERATOR(pg_catalog.=) x.warehouse_uuid
             WHERE x.incoming_after IS NOT NULL
            WINDOW w AS (PARTITION BY x.sku, x.warehouse_uuid ORDER BY x.id)) c
     WHERE c.incoming_before OPERATOR(pg_catalog.<>) c.prev_incoming
$$;
COMMENT ON FUNCTION @extschema@.inventory_verify() IS
    'Rows that drift: available <> on_hand - reserved, reserved <> sum of reservations, incoming <> what transfers in transit carry, levels that the ledger (from each key''s retention checkpoint) does not replay to; no rows means consistent';
REVOKE ALL ON FUNCTION @extschema@.inventory_verify() FROM PUBLIC;

CREATE FUNCTION @extschema@.inventory_worker_status(
    all_databases boolean DEFAULT false,
    OUT database name, OUT state text, OUT waiting_for text, OUT pid integer,
    OUT enabled boolean, OUT extension_found boolean,
    OUT started_at timestamptz, OUT last_round_at timestamptz,
    OUT batches_applied bigint, OUT items_applied bigint, OUT batches_failed bigint,
    OUT waiting_for_pid integer)
    RETURNS SETOF record
    LANGUAGE c
    VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_worker_status';
COMMENT ON FUNCTION @extschema@.inventory_worker_status(boolean) IS
    'The worker of this database (or, with true, of every database with the extension): state (stopped, waiting, starting, applying, idle, paused), what it waits for, pid, counters since the server started';
REVOKE ALL ON FUNCTION @extschema@.inventory_worker_status(boolean) FROM PUBLIC;

/* ------------------------------------------------------------------------
 * 10. Reading stock: inventory_get, inventory_get_json
 * ------------------------------------------------------------------------
 */

/*
 * A row of inventory_get: the level row's columns, in its order, then the
 * row's cursor (its place in key order).  A composite type rather than
 * RETURNS TABLE, so that the function's arguments may carry the names of
 * the columns they filter (sku, warehouse_uuid), as Sellbrite's query
 * parameters do.  A column added to inventory_levels goes here too, after
 * updated_at and before cursor (and into inventory_get's select list and
 * inventory_get_json's object).
 */
CREATE TYPE @extschema@.inventory_stock AS (
    sku             text,
    warehouse_uuid  uuid,
    on_hand         bigint,
    reserved        bigint,
    available       bigint,
    bin_location    text,
    cost            numeric(10,2),
    created_at      timestamptz,
    updated_at      timestamptz,
    incoming        bigint,
    cursor          text
);
COMMENT ON TYPE @extschema@.inventory_stock IS
    'A row of inventory_get: a level row and its cursor';
REVOKE ALL ON TYPE @extschema@.inventory_stock FROM PUBLIC;

/*
 * GET /inventory.  Level rows in key order (sku bytewise, then
 * warehouse_uuid: the primary key's order), filtered by what is given (NULL
 * is "not given"), at most "limit" (1 to 100) a call.  Paging by cursor is
 * a keyset: the rows after the given row's key, so a row that exists
 * throughout a walk is returned exactly once however stock changes
 * meanwhile; paging by page is Sellbrite's OFFSET, which rows created or
 * deleted meanwhile shift.  The statement is built from fixed fragments
 * for the filters given, values passed as parameters, so that each call is
 * planned with only its own conditions: the primary key serves key order
 * and an sku, inventory_levels_warehouse_idx a warehouse.  SECURITY
 * INVOKER: the caller reads inventory_levels with its own SELECT privilege,
 * and row-level security an owner puts on the table applies.  With
 * inventory.merchant set (1.6), only that merchant's rows, read through
 * inventory_warehouses (which the caller must then be able to read too).
 */
CREATE FUNCTION @extschema@.inventory_get(
    sku text DEFAULT NULL,
    warehouse_uuid uuid DEFAULT NULL,
    created_at_min timestamptz DEFAULT NULL,
    created_at_max timestamptz DEFAULT NULL,
    updated_at_min timestamptz DEFAULT NULL,
    updated_at_max timestamptz DEFAULT NULL,
    "limit" integer DEFAULT 100,
    cursor text DEFAULT NULL,
    page integer DEFAULT NULL)
    RETURNS SETOF @extschema@.inventory_stock
    LANGUAGE plpgsql
    STABLE CALLED ON NULL INPUT
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    lim integer := COALESCE(inventory_get."limit", 100);
    after_sku text;
    after_warehouse uuid;
    decoded jsonb;
    q text;
    for_merchant text := NULLIF(pg_catalog.current_setting('inventory.merchant', true), '');
BEGIN
    IF lim OPERATOR(pg_catalog.<) 1 OR lim OPERATOR(pg_catalog.>) 100 THEN
        RAISE EXCEPTION 'limit must be between 1 and 100'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('The limit given was %s.', lim),
                  HINT = 'Ask for at most 100 rows a call and page through the rest with the cursor of the last row.';
    END IF;
    IF inventory_get.page OPERATOR(pg_catalog.<) 1 THEN
        RAISE EXCEPTION 'page must be at least 1'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('The page given was %s; pages are numbered from 1.', inventory_get.page);
    END IF;
    IF inventory_get.cursor IS NOT NULL AND inventory_get.page IS NOT NULL THEN
        RAISE EXCEPTION 'cursor and page cannot both be given'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A cursor names the row to continue after; a page counts rows from the start.',
                  HINT = 'Page with the cursor (it never skips or repeats a row while stock changes), or with page alone.';
    END IF;
    IF inventory_get.cursor IS NOT NULL THEN
        -- base64url (no padding) of the text of the jsonb [1, sku, warehouse_uuid]
        -- in the database's encoding; anything else is not a cursor of ours
        BEGIN
            decoded := pg_catalog.convert_from(
                pg_catalog.decode(
                    pg_catalog.translate(inventory_get.cursor, '-_', '+/')
                    OPERATOR(pg_catalog.||) pg_catalog.repeat('=',
                        (4 OPERATOR(pg_catalog.-) (pg_catalog.length(inventory_get.cursor) OPERATOR(pg_catalog.%) 4))
                        OPERATOR(pg_catalog.%) 4),
                    'base64'),
                pg_catalog.getdatabaseencoding())::jsonb;
            IF pg_catalog.jsonb_typeof(decoded) OPERATOR(pg_catalog.=) 'array'
               AND pg_catalog.jsonb_array_length(decoded) OPERATOR(pg_catalog.=) 3
               AND decoded OPERATOR(pg_catalog.->) 0 OPERATOR(pg_catalog.=) '1'::jsonb
               AND pg_catalog.jsonb_typeof(decoded OPERATOR(pg_catalog.->) 1) OPERATOR(pg_catalog.=) 'string'
               AND pg_catalog.jsonb_typeof(decoded OPERATOR(pg_catalog.->) 2) OPERATOR(pg_catalog.=) 'string' THEN
                after_sku := decoded OPERATOR(pg_catalog.->>) 1;
                after_warehouse := (decoded OPERATOR(pg_catalog.->>) 2)::uuid;
            END IF;
        EXCEPTION WHEN data_exception THEN
            after_sku := NULL;
        END;
        IF after_sku IS NULL THEN
            RAISE EXCEPTION 'invalid cursor'
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'A cursor is the "cursor" of a row that inventory_get returned, or the "next_cursor" of inventory_get_json, passed back unchanged.',
                      HINT = 'Start again without a cursor.';
        END IF;
    END IF;

    q := 'SELECT l.sku::text, l.warehouse_uuid, l.on_hand, l.reserved, l.available,'
         ' l.bin_location, l.cost, l.created_at, l.updated_at, l.incoming,'
         ' pg_catalog.translate(pg_catalog.rtrim(pg_catalog.replace(pg_catalog.encode('
         'pg_catalog.convert_to(pg_catalog.jsonb_build_array(1, l.sku, l.warehouse_uuid)::text,'
         ' pg_catalog.getdatabaseencoding()), ''base64''), E''\n'', ''''), ''=''), ''+/'', ''-_'')'
         ' FROM @extschema@.inventory_levels l WHERE true';
    IF inventory_get.sku IS NOT NULL THEN
        q := q OPERATOR(pg_catalog.||) ' AND l.sku OPERATOR(pg_catalog.=) $1';
    END IF;
    IF inventory_get.warehouse_uuid IS NOT NULL THEN
        q := q OPERATOR(pg_catalog.||) ' AND l.warehouse_uuid OPERATOR(pg_catalog.=) $2';
    END IF;
    IF inventory_get.created_at_min IS NOT NULL THEN
        q := q OPERATOR(pg_catalog.||) ' AND l.created_at OPERATOR(pg_catalog.>=) $3';
    END IF;
    IF inventory_get.created_at_max IS NOT NULL THEN
        q := q OPERATOR(pg_catalog.||) ' AND l.created_at OPERATOR(pg_catalog.<=) $4';
    END IF;
    IF inventory_get.updated_at_min IS NOT NULL THEN
        q := q OPERATOR(pg_catalog.||) ' AND l.updated_at OPERATOR(pg_catalog.>=) $5';
    END IF;
    IF inventory_get.updated_at_max IS NOT NULL THEN
        q := q OPERATOR(pg_catalog.||) ' AND l.updated_at OPERATOR(pg_catalog.<=) $6';
    END IF;
    IF for_merchant IS NOT NULL THEN
        q := q OPERATOR(pg_catalog.||) ' AND l.warehouse_uuid OPERATOR(pg_catalog.=) ANY (ARRAY('
             'SELECT w.uuid FROM @extschema@.inventory_warehouses w WHERE w.merchant OPERATOR(pg_catalog.=) $11))';
    END IF;
    IF after_sku IS NULL THEN
        NULL;
    ELSIF inventory_get.warehouse_uuid IS NOT NULL THEN
        -- (sku, w) > (after_sku, after_warehouse) for the one warehouse w:
        -- a range of inventory_levels_warehouse_idx (warehouse_uuid, sku)
        IF inventory_get.warehouse_uuid OPERATOR(pg_catalog.>) after_warehouse THEN
            q := q OPERATOR(pg_catalog.||) ' AND l.sku OPERATOR(pg_catalog.>=) ($7 COLLATE pg_catalog."C")';
        ELSE
            q := q OPERATOR(pg_catalog.||) ' AND l.sku OPERATOR(pg_catalog.>) ($7 COLLATE pg_catalog."C")';
        END IF;
    ELSE
        -- a range of the primary key (sku, warehouse_uuid)
        q := q OPERATOR(pg_catalog.||) ' AND (l.sku, l.warehouse_uuid) OPERATOR(pg_catalog.>) ($7 COLLATE pg_catalog."C", $8)';
    END IF;
    q := q OPERATOR(pg_catalog.||) ' ORDER BY l.sku, l.warehouse_uuid LIMIT $9';
    IF inventory_get.page IS NOT NULL THEN
        q := q OPERATOR(pg_catalog.||) ' OFFSET $10';
    END IF;
    RETURN QUERY EXECUTE q
        USING inventory_get.sku, inventory_get.warehouse_uuid,
              inventory_get.created_at_min, inventory_get.created_at_max,
              inventory_get.updated_at_min, inventory_get.updated_at_max,
              after_sku, after_warehouse, lim,
              (inventory_get.page OPERATOR(pg_catalog.-) 1)::bigint OPERATOR(pg_catalog.*) lim,
              for_merchant;
END
$$;
COMMENT ON FUNCTION @extschema@.inventory_get(text, uuid, timestamptz, timestamptz, timestamptz, timestamptz, integer, text, integer) IS
    'GET /inventory: level rows in (sku, warehouse_uuid) order, filtered by sku, warehouse and created/updated times (and inventory.merchant), at most 100 a call; page with the last row''s cursor (never skips or repeats a row) or by page';
REVOKE ALL ON FUNCTION @extschema@.inventory_get(text, uuid, timestamptz, timestamptz, timestamptz, timestamptz, integer, text, integer) FROM PUBLIC;

/*
 * GET /inventory as a jsonb body: {"inventory": [...], "next_cursor": ...}.
 * "inventory" holds the rows with Sellbrite's field names (quantities as
 * numbers, times in UTC as 2017-01-06T22:28:42.000000Z); next_cursor is the
 * last row's cursor when a row follows it, else null.  The same arguments
 * and checks as inventory_get, which it calls (so a caller needs EXECUTE
 * on both); page and probe read one snapshot.
 */
CREATE FUNCTION @extschema@.inventory_get_json(
    sku text DEFAULT NULL,
    warehouse_uuid uuid DEFAULT NULL,
    created_at_min timestamptz DEFAULT NULL,
    created_at_max timestamptz DEFAULT NULL,
    updated_at_min timestamptz DEFAULT NULL,
    updated_at_max timestamptz DEFAULT NULL,
    "limit" integer DEFAULT 100,
    cursor text DEFAULT NULL,
    page integer DEFAULT NULL)
    RETURNS jsonb
    LANGUAGE plpgsql
    STABLE CALLED ON NULL INPUT
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    rows_json jsonb;
    row_count bigint;
    last_cursor text;
BEGIN
    SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
               'sku', g.sku,
               'warehouse_uuid', g.warehouse_uuid,
               'on_hand', g.on_hand,
               'available', g.available,
               'reserved', g.reserved,
               'bin_location', g.bin_location,
               'cost', g.cost,
               'created_at', pg_catalog.to_char(pg_catalog.timezone('UTC', g.created_at),
                                                'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'updated_at', pg_catalog.to_char(pg_catalog.timezone('UTC', g.updated_at),
                                                'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'incoming', g.incoming)
             ORDER BY g.ordinality), '[]'::jsonb),
           pg_catalog.count(*),
           (pg_catalog.array_agg(g.cursor ORDER BY g.ordinality DESC))[1]
      INTO rows_json, row_count, last_cursor
      FROM @extschema@.inventory_get(inventory_get_json.sku, inventory_get_json.warehouse_uuid,
                                     inventory_get_json.created_at_min, inventory_get_json.created_at_max,
                                     inventory_get_json.updated_at_min, inventory_get_json.updated_at_max,
                                     inventory_get_json."limit", inventory_get_json.cursor,
                                     inventory_get_json.page) WITH ORDINALITY AS g;
    -- a full page: is there a row after it?
    IF row_count OPERATOR(pg_catalog.<) COALESCE(inventory_get_json."limit", 100)
       OR NOT EXISTS (SELECT FROM @extschema@.inventory_get(inventory_get_json.sku, inventory_get_json.warehouse_uuid,
                                                           inventory_get_json.created_at_min, inventory_get_json.created_at_max,
                                                           inventory_get_json.updated_at_min, inventory_get_json.updated_at_max,
                                                           1, last_cursor, NULL)) THEN
        last_cursor := NULL;
    END IF;
    RETURN pg_catalog.jsonb_build_object('inventory', rows_json, 'next_cursor', last_cursor);
END
$$;
COMMENT ON FUNCTION @extschema@.inventory_get_json(text, uuid, timestamptz, timestamptz, timestamptz, timestamptz, integer, text, integer) IS
    'GET /inventory as jsonb: {"inventory": [rows with Sellbrite''s field names], "next_cursor": the cursor to pass for the next page, null after the last}';
REVOKE ALL ON FUNCTION @extschema@.inventory_get_json(text, uuid, timestamptz, timestamptz, timestamptz, timestamptz, integer, text, integer) FROM PUBLIC;

/* ------------------------------------------------------------------------
 * 11. Channels and stock alerts (1.4)
 * ------------------------------------------------------------------------
 */

/*
 * How the feeds are kept.  The channel feed and the alert events are
 * derived from the ledger by one pass at a time (the worker runs it after
 * every round and every announcement of changes; see src/feeds.c): the
 * pass locks the single row of inventory_feed_state, takes the ledger rows
 * after its cursor up to the ledger's horizon (inventory_changes'
 * guarantee: no change can still appear below it), recomputes from the
 * level rows as they are now the listing quantity of every (channel, sku)
 * and the state of every alert those rows touched, writes a feed row or an
 * event where what was last said differs, moves the cursor, and commits.
 * Only a pass writes the feeds, and passes never overlap, so feed ids
 * commit in order: a reader reading past its cursor never skips one.  A
 * change made after the pass read the ledger but before it read the level
 * rows is seen early; when the cursor passes it, nothing has changed, and
 * nothing is said twice.  So each sku's last feed row is always the
 * quantity to list now, within a pass of the change.
 */

/*
 * Sales channels and their inventory rules (Sellbrite's, plus a buffer).
 */
CREATE TABLE @extschema@.inventory_channels (
    uuid        uuid        NOT NULL PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    name        text        NOT NULL,
    active      boolean     NOT NULL DEFAULT true,
    percent     integer     NOT NULL DEFAULT 100,
    max         bigint,
    min         bigint,
    buffer      bigint      NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT inventory_channels_percent_check
        CHECK (percent OPERATOR(pg_catalog.>=) 0 AND percent OPERATOR(pg_catalog.<=) 100),
    CONSTRAINT inventory_channels_max_check CHECK (max OPERATOR(pg_catalog.>=) 0),
    CONSTRAINT inventory_channels_min_check CHECK (min OPERATOR(pg_catalog.>=) 0),
    CONSTRAINT inventory_channels_buffer_check CHECK (buffer OPERATOR(pg_catalog.>=) 0),
    CONSTRAINT inventory_channels_min_max_check CHECK (min OPERATOR(pg_catalog.<=) max)
);
COMMENT ON TABLE @extschema@.inventory_channels IS
    'Sales channels and their inventory rule: list percent % (rounded down) of the summed available less buffer, at most max, at least min while that is positive';
COMMENT ON COLUMN @extschema@.inventory_channels.active IS
    'An inactive channel has no quantities and its feed stands still; made active again, its feed says every sku again';
COMMENT ON COLUMN @extschema@.inventory_channels.buffer IS
    'Units kept back from the channel (a safety stock against sync delays), taken off the summed available first';
REVOKE ALL ON TABLE @extschema@.inventory_channels FROM PUBLIC;

/*
 * The warehouses whose available feeds each channel (archived ones never do).
 */
CREATE TABLE @extschema@.inventory_channel_warehouses (
    channel_uuid    uuid NOT NULL
                    REFERENCES @extschema@.inventory_channels (uuid) ON DELETE CASCADE,
    warehouse_uuid  uuid NOT NULL
                    REFERENCES @extschema@.inventory_warehouses (uuid),
    PRIMARY KEY (channel_uuid, warehouse_uuid)
);
CREATE INDEX inventory_channel_warehouses_warehouse_idx
    ON @extschema@.inventory_channel_warehouses (warehouse_uuid, channel_uuid);
COMMENT ON TABLE @extschema@.inventory_channel_warehouses IS
    'The warehouses whose available is summed for a channel (an archived warehouse counts for none)';
REVOKE ALL ON TABLE @extschema@.inventory_channel_warehouses FROM PUBLIC;

/*
 * What the channel feed last said of each sku (written by the pass only).
 */
CREATE TABLE @extschema@.inventory_channel_listings (
    channel_uuid    uuid        NOT NULL
                    REFERENCES @extschema@.inventory_channels (uuid) ON DELETE CASCADE,
    sku             text        COLLATE "C" NOT NULL,
    quantity        bigint      NOT NULL,
    available       bigint      NOT NULL,
    change_id       bigint      NOT NULL,
    PRIMARY KEY (channel_uuid, sku)
);
COMMENT ON TABLE @extschema@.inventory_channel_listings IS
    'The quantity the channel feed last gave each sku, and the change that gave it (kept by the worker)';
REVOKE ALL ON TABLE @extschema@.inventory_channel_listings FROM PUBLIC;

/*
 * The channel feed: a row each time a sku's listing quantity changed, and
 * one for every sku of a channel whose rule or warehouses changed.
 */
CREATE SEQUENCE @extschema@.inventory_channel_feed_id_seq AS bigint;
REVOKE ALL ON SEQUENCE @extschema@.inventory_channel_feed_id_seq FROM PUBLIC;

CREATE TABLE @extschema@.inventory_channel_feed (
    id              bigint      NOT NULL PRIMARY KEY,
    at              timestamptz NOT NULL,
    channel_uuid    uuid        NOT NULL
                    REFERENCES @extschema@.inventory_channels (uuid) ON DELETE CASCADE,
    sku             text        COLLATE "C" NOT NULL,
    quantity        bigint      NOT NULL,
    quantity_before bigint,
    available       bigint      NOT NULL,
    reason          text        NOT NULL
);
CREATE INDEX inventory_channel_feed_channel_idx
    ON @extschema@.inventory_channel_feed (channel_uuid, id);
COMMENT ON TABLE @extschema@.inventory_channel_feed IS
    'Changes of each channel''s listing quantities, in order (read with inventory_channel_changes)';
COMMENT ON COLUMN @extschema@.inventory_channel_feed.reason IS
    'stock (available changed and so did the quantity) or rule (the channel''s rule, warehouses or activity changed: every sku is said again)';
REVOKE ALL ON TABLE @extschema@.inventory_channel_feed FROM PUBLIC;

/*
 * Channels whose every sku the next pass says again.
 */
CREATE TABLE @extschema@.inventory_channel_resyncs (
    channel_uuid    uuid        NOT NULL PRIMARY KEY,
    requested_at    timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.inventory_channel_resyncs IS
    'Channels whose rule, warehouses or activity changed, to be said again in full by the next pass (internal)';
REVOKE ALL ON TABLE @extschema@.inventory_channel_resyncs FROM PUBLIC;

/*
 * Warehouses archived or brought back: the next pass, which runs after
 * their commit, says the channels they feed again and reports the per-sku
 * alerts of their skus again (working that out in the trigger would miss
 * rows another transaction adds meanwhile).
 */
CREATE TABLE @extschema@.inventory_warehouse_resyncs (
    warehouse_uuid  uuid        NOT NULL PRIMARY KEY,
    requested_at    timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.inventory_warehouse_resyncs IS
    'Warehouses archived or brought back, whose channels and per-sku alerts the next pass redoes (internal)';
REVOKE ALL ON TABLE @extschema@.inventory_warehouse_resyncs FROM PUBLIC;

/*
 * Low-stock thresholds and the alert state each was last reported in.
 */
CREATE TABLE @extschema@.inventory_stock_alerts (
    sku             text        COLLATE "C" NOT NULL,
    warehouse_uuid  uuid        REFERENCES @extschema@.inventory_warehouses (uuid),
    threshold       bigint      NOT NULL,
    state           text,
    available       bigint,
    reported_at     timestamptz,
    pending         boolean     NOT NULL DEFAULT true,
    CONSTRAINT inventory_stock_alerts_key UNIQUE NULLS NOT DISTINCT (sku, warehouse_uuid),
    CONSTRAINT inventory_stock_alerts_threshold_check CHECK (threshold OPERATOR(pg_catalog.>=) 0),
    CONSTRAINT inventory_stock_alerts_state_check
        CHECK (state OPERATOR(pg_catalog.=) ANY (ARRAY['in_stock', 'low_stock', 'out_of_stock']))
);
CREATE INDEX inventory_stock_alerts_pending_idx
    ON @extschema@.inventory_stock_alerts (sku) WHERE pending;
COMMENT ON TABLE @extschema@.inventory_stock_alerts IS
    'Low-stock thresholds per (sku, warehouse), or per sku over every warehouse not archived (warehouse_uuid NULL); state, available and reported_at are kept by the worker';
COMMENT ON COLUMN @extschema@.inventory_stock_alerts.state IS
    'As last reported: out_of_stock (available <= 0), low_stock (available <= threshold), in_stock; NULL until the first report';
COMMENT ON COLUMN @extschema@.inventory_stock_alerts.pending IS
    'The threshold is new or changed: the next pass reports the state (internal)';
REVOKE ALL ON TABLE @extschema@.inventory_stock_alerts FROM PUBLIC;

/*
 * Alert events: a row each time an alert's state changed.
 */
CREATE SEQUENCE @extschema@.inventory_alert_events_id_seq AS bigint;
REVOKE ALL ON SEQUENCE @extschema@.inventory_alert_events_id_seq FROM PUBLIC;

CREATE TABLE @extschema@.inventory_alert_events (
    id              bigint      NOT NULL PRIMARY KEY,
    at              timestamptz NOT NULL,
    sku             text        COLLATE "C" NOT NULL,
    warehouse_uuid  uuid,
    state           text        NOT NULL,
    state_before    text,
    available       bigint      NOT NULL,
    threshold       bigint      NOT NULL
);
COMMENT ON TABLE @extschema@.inventory_alert_events IS
    'Changes of alert states, in order (read with inventory_alerts)';
REVOKE ALL ON TABLE @extschema@.inventory_alert_events FROM PUBLIC;

/*
 * The position of the feeds in the ledger: one row, made by the first pass.
 */
CREATE TABLE @extschema@.inventory_feed_state (
    ledger_cursor   bigint      NOT NULL,
    alert_rechecks  text[]      COLLATE "C" NOT NULL DEFAULT '{}',
    channel_rechecks uuid[]     NOT NULL DEFAULT '{}',
    updated_at      timestamptz NOT NULL,
    single          boolean     NOT NULL DEFAULT true PRIMARY KEY,
    CONSTRAINT inventory_feed_state_single_check CHECK (single)
);
COMMENT ON TABLE @extschema@.inventory_feed_state IS
    'Ledger id up to which the channel feed and the alert events are derived (internal; one row)';
COMMENT ON COLUMN @extschema@.inventory_feed_state.alert_rechecks IS
    'Skus whose alerts another transaction held locked at the last pass, for the next one';
COMMENT ON COLUMN @extschema@.inventory_feed_state.channel_rechecks IS
    'Channels another transaction held locked (deleting them) at the last pass, whose listings the next one brings up to date';
REVOKE ALL ON TABLE @extschema@.inventory_feed_state FROM PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_channels', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_channel_warehouses', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_channel_listings', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_channel_feed', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_channel_feed_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_channel_resyncs', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_warehouse_resyncs', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_stock_alerts', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_alert_events', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_alert_events_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_feed_state', '');

/*
 * A channel's rule (C): the quantity to list for a summed available.
 */
CREATE FUNCTION @extschema@.inventory_channel_quantity(
    available bigint, percent integer, max bigint, min bigint, buffer bigint)
    RETURNS bigint
    LANGUAGE c
    IMMUTABLE PARALLEL SAFE CALLED ON NULL INPUT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_channel_quantity';
COMMENT ON FUNCTION @extschema@.inventory_channel_quantity(bigint, integer, bigint, bigint, bigint) IS
    'A channel rule: q = available - buffer; 0 when q <= 0; else floor(q * percent / 100), then at most max, then at least min (NULL max or min: none)';
REVOKE ALL ON FUNCTION @extschema@.inventory_channel_quantity(bigint, integer, bigint, bigint, bigint) FROM PUBLIC;

/*
 * The quantity each active channel lists for each sku now, from the level
 * rows (a sku with no row in a warehouse of the channel lists 0).  Read
 * with the reader's rights, as inventory_get reads, so that row-level
 * security on the level rows applies.
 */
CREATE VIEW @extschema@.inventory_channel_quantities WITH (security_invoker = true) AS
    SELECT c.uuid AS channel_uuid, c.name AS channel_name, l.sku,
           pg_catalog.sum(l.available)::bigint AS available,
           @extschema@.inventory_channel_quantity(pg_catalog.sum(l.available)::bigint,
                                                  c.percent, c.max, c.min, c.buffer) AS quantity
      FROM @extschema@.inventory_channels c
      JOIN @extschema@.inventory_channel_warehouses cw
        ON cw.channel_uuid OPERATOR(pg_catalog.=) c.uuid
      JOIN @extschema@.inventory_warehouses w
        ON w.uuid OPERATOR(pg_catalog.=) cw.warehouse_uuid AND NOT w.archived
      JOIN @extschema@.inventory_levels l
        ON l.warehouse_uuid OPERATOR(pg_catalog.=) cw.warehouse_uuid
     WHERE c.active
     GROUP BY c.uuid, c.name, c.percent, c.max, c.min, c.buffer, l.sku;
COMMENT ON VIEW @extschema@.inventory_channel_quantities IS
    'Per active channel and sku: the available summed over the channel''s warehouses (not archived) and the quantity its rule lists now';
REVOKE ALL ON TABLE @extschema@.inventory_channel_quantities FROM PUBLIC;

/*
 * What is at or below its low-stock threshold now, from the level rows
 * (with the reader's rights too).
 */
CREATE VIEW @extschema@.inventory_low_stock WITH (security_invoker = true) AS
    SELECT a.sku::text AS sku, a.warehouse_uuid, a.threshold, s.available,
           CASE WHEN s.available OPERATOR(pg_catalog.<=) 0 THEN 'out_of_stock'
                ELSE 'low_stock' END AS state
      FROM @extschema@.inventory_stock_alerts a
     CROSS JOIN LATERAL (
            SELECT COALESCE(pg_catalog.sum(l.available), 0)::bigint AS available
              FROM @extschema@.inventory_levels l
              JOIN @extschema@.inventory_warehouses w
                ON w.uuid OPERATOR(pg_catalog.=) l.warehouse_uuid
             WHERE l.sku OPERATOR(pg_catalog.=) a.sku
               AND CASE WHEN a.warehouse_uuid IS NULL THEN NOT w.archived
                        ELSE l.warehouse_uuid OPERATOR(pg_catalog.=) a.warehouse_uuid END) s
     WHERE s.available OPERATOR(pg_catalog.<=) a.threshold;
COMMENT ON VIEW @extschema@.inventory_low_stock IS
    'Every alert whose available (of its warehouse, or summed over those not archived) is at or below its threshold now';
REVOKE ALL ON TABLE @extschema@.inventory_low_stock FROM PUBLIC;

/*
 * Whether rows are being restored (inventory.restoring; C, in the library,
 * so that calling it checks the setting): the triggers below stand aside.
 */
CREATE FUNCTION inventory_internal.inventory_restoring()
    RETURNS boolean
    LANGUAGE c
    VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_restoring';
COMMENT ON FUNCTION inventory_internal.inventory_restoring() IS
    'Whether inventory.restoring is on, read after the library has checked it (internal)';
REVOKE ALL ON FUNCTION inventory_internal.inventory_restoring() FROM PUBLIC;

/*
 * The worker hears at commit that a transaction changed what the feeds
 * derive from besides the ledger (a rule, a channel's warehouses, a
 * threshold), so that the next pass runs at once (C; see src/feeds.c).
 */
CREATE FUNCTION inventory_internal.inventory_note_feed_change()
    RETURNS void
    LANGUAGE c
    VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_note_feed_change';
COMMENT ON FUNCTION inventory_internal.inventory_note_feed_change() IS
    'Wakes the worker at commit to bring the channel feed and the alerts up to date (internal)';
REVOKE ALL ON FUNCTION inventory_internal.inventory_note_feed_change() FROM PUBLIC;

/*
 * A channel was made, or its rule or activity changed: say every sku again.
 */
CREATE FUNCTION inventory_internal.inventory_channels_changed()
    RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    -- rows being restored come with the feeds they made, which the dump
    -- holds already
    IF inventory_internal.inventory_restoring() THEN
        RETURN NULL;
    END IF;
    IF TG_OP OPERATOR(pg_catalog.=) 'INSERT'
       OR (NEW.uuid, NEW.active, NEW.percent, NEW.max, NEW.min, NEW.buffer)
          IS DISTINCT FROM (OLD.uuid, OLD.active, OLD.percent, OLD.max, OLD.min, OLD.buffer) THEN
        INSERT INTO @extschema@.inventory_channel_resyncs (channel_uuid) VALUES (NEW.uuid)
            ON CONFLICT (channel_uuid) DO UPDATE SET requested_at = pg_catalog.now();
        PERFORM inventory_internal.inventory_note_feed_change();
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION inventory_internal.inventory_channels_changed() IS
    'AFTER trigger on inventory_channels: a new channel, or a changed rule or activity, is said again in full';
REVOKE ALL ON FUNCTION inventory_internal.inventory_channels_changed() FROM PUBLIC;

CREATE TRIGGER inventory_channels_changed
    AFTER INSERT OR UPDATE ON @extschema@.inventory_channels
    FOR EACH ROW EXECUTE FUNCTION inventory_internal.inventory_channels_changed();
CREATE TRIGGER inventory_channels_touch
    BEFORE UPDATE ON @extschema@.inventory_channels
    FOR EACH ROW EXECUTE FUNCTION inventory_internal.inventory_touch_updated_at();

/*
 * A warehouse joined or left a channel: say the channel's every sku again.
 */
CREATE FUNCTION inventory_internal.inventory_channel_warehouses_changed()
    RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    channels uuid[];
BEGIN
    -- rows being restored come with the feeds they made, which the dump
    -- holds already
    IF inventory_internal.inventory_restoring() THEN
        RETURN NULL;
    END IF;
    -- a statement trigger sees only its own event's transition tables
    IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
        SELECT pg_catalog.array_agg(DISTINCT n.channel_uuid) INTO channels FROM new_rows n;
    ELSIF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
        SELECT pg_catalog.array_agg(DISTINCT o.channel_uuid) INTO channels FROM old_rows o;
    ELSE
        SELECT pg_catalog.array_agg(DISTINCT c.channel_uuid) INTO channels
          FROM (SELECT n.channel_uuid FROM new_rows n
                UNION ALL
                SELECT o.channel_uuid FROM old_rows o) c;
    END IF;
    IF channels IS NOT NULL THEN
        INSERT INTO @extschema@.inventory_channel_resyncs (channel_uuid)
            SELECT c FROM pg_catalog.unnest(channels) c ORDER BY c
            ON CONFLICT (channel_uuid) DO UPDATE SET requested_at = pg_catalog.now();
        PERFORM inventory_internal.inventory_note_feed_change();
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION inventory_internal.inventory_channel_warehouses_changed() IS
    'AFTER statement trigger on inventory_channel_warehouses: the channels whose warehouses changed are said again in full';
REVOKE ALL ON FUNCTION inventory_internal.inventory_channel_warehouses_changed() FROM PUBLIC;

CREATE TRIGGER inventory_channel_warehouses_insert
    AFTER INSERT ON @extschema@.inventory_channel_warehouses
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION inventory_internal.inventory_channel_warehouses_changed();
CREATE TRIGGER inventory_channel_warehouses_update
    AFTER UPDATE ON @extschema@.inventory_channel_warehouses
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION inventory_internal.inventory_channel_warehouses_changed();
CREATE TRIGGER inventory_channel_warehouses_delete
    AFTER DELETE ON @extschema@.inventory_channel_warehouses
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION inventory_internal.inventory_channel_warehouses_changed();

/*
 * A warehouse was archived or brought back: the next pass says the
 * channels it feeds again, and reports the per-sku alerts of its skus again.
 */
CREATE FUNCTION inventory_internal.inventory_warehouse_archived()
    RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    INSERT INTO @extschema@.inventory_warehouse_resyncs (warehouse_uuid) VALUES (NEW.uuid)
        ON CONFLICT (warehouse_uuid) DO UPDATE SET requested_at = pg_catalog.now();
    PERFORM inventory_internal.inventory_note_feed_change();
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION inventory_internal.inventory_warehouse_archived() IS
    'AFTER UPDATE OF archived trigger on inventory_warehouses: the next pass redoes the channels the warehouse feeds and its skus'' per-sku alerts';
REVOKE ALL ON FUNCTION inventory_internal.inventory_warehouse_archived() FROM PUBLIC;

CREATE TRIGGER inventory_warehouses_archived
    AFTER UPDATE OF archived ON @extschema@.inventory_warehouses
    FOR EACH ROW WHEN (OLD.archived IS DISTINCT FROM NEW.archived)
    EXECUTE FUNCTION inventory_internal.inventory_warehouse_archived();

/*
 * A threshold was set or changed: the next pass reports its state.
 */
CREATE FUNCTION inventory_internal.inventory_stock_alerts_changed()
    RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    -- rows being restored come with the feeds they made, which the dump
    -- holds already
    IF inventory_internal.inventory_restoring() THEN
        RETURN NEW;
    END IF;
    IF TG_OP OPERATOR(pg_catalog.=) 'INSERT'
       OR (NEW.sku, NEW.warehouse_uuid, NEW.threshold)
          IS DISTINCT FROM (OLD.sku, OLD.warehouse_uuid, OLD.threshold) THEN
        NEW.pending := true;
    END IF;
    IF NEW.pending THEN
        PERFORM inventory_internal.inventory_note_feed_change();
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION inventory_internal.inventory_stock_alerts_changed() IS
    'BEFORE trigger on inventory_stock_alerts: a new or changed threshold is reported by the next pass';
REVOKE ALL ON FUNCTION inventory_internal.inventory_stock_alerts_changed() FROM PUBLIC;

CREATE TRIGGER inventory_stock_alerts_changed
    BEFORE INSERT OR UPDATE ON @extschema@.inventory_stock_alerts
    FOR EACH ROW EXECUTE FUNCTION inventory_internal.inventory_stock_alerts_changed();

/*
 * Say every sku of the given channels again (those still active), in
 * channel and sku order: the quantity of every sku with a level row in a
 * warehouse of the channel, and 0 for a sku the feed listed that has none
 * now (reason 'rule').  With every_sku false, only the skus whose quantity
 * differs from what the feed last said (reason 'stock').  Returns the
 * channels it wrote feed rows for.  A whole channel is read at once: hash
 * joins are the plan for that.
 */
CREATE FUNCTION inventory_internal.inventory_channel_resync(channels uuid[], every_sku boolean)
    RETURNS uuid[]
    LANGUAGE plpgsql
    VOLATILE
    SET search_path = pg_catalog, pg_temp
    SET enable_hashjoin = on
    SET enable_mergejoin = on
    SET enable_seqscan = on
    AS $$
DECLARE
    said uuid[];
BEGIN
    WITH ch AS (
        SELECT c.uuid, c.percent, c.max, c.min, c.buffer
          FROM @extschema@.inventory_channels c
         WHERE c.uuid OPERATOR(pg_catalog.=) ANY (channels) AND c.active),
    sums AS (
        SELECT cw.channel_uuid, l.sku, pg_catalog.sum(l.available)::bigint AS available
          FROM ch
          JOIN @extschema@.inventory_channel_warehouses cw
            ON cw.channel_uuid OPERATOR(pg_catalog.=) ch.uuid
          JOIN @extschema@.inventory_warehouses w
            ON w.uuid OPERATOR(pg_catalog.=) cw.warehouse_uuid AND NOT w.archived
          JOIN @extschema@.inventory_levels l
            ON l.warehouse_uuid OPERATOR(pg_catalog.=) cw.warehouse_uuid
         GROUP BY cw.channel_uuid, l.sku),
    listed AS (
        SELECT li.channel_uuid, li.sku, li.quantity
          FROM @extschema@.inventory_channel_listings li
         WHERE li.channel_uuid IN (SELECT ch.uuid FROM ch)),
    said_rows AS (
        SELECT pg_catalog.nextval('@extschema@.inventory_channel_feed_id_seq'::pg_catalog.regclass) AS id,
               x.channel_uuid, x.sku, x.available, x.quantity, x.quantity_before
          FROM (SELECT k.channel_uuid, k.sku, k.available, k.quantity_before,
                       @extschema@.inventory_channel_quantity(k.available, ch.percent, ch.max,
                                                              ch.min, ch.buffer) AS quantity
                  FROM (SELECT COALESCE(s.channel_uuid, li.channel_uuid) AS channel_uuid,
                               COALESCE(s.sku, li.sku) AS sku,
                               COALESCE(s.available, 0) AS available,
                               li.quantity AS quantity_before
                          FROM sums s
                          FULL JOIN listed li
                            ON li.channel_uuid OPERATOR(pg_catalog.=) s.channel_uuid
                           AND li.sku OPERATOR(pg_catalog.=) s.sku) k
                  JOIN ch ON ch.uuid OPERATOR(pg_catalog.=) k.channel_uuid
                 ORDER BY k.channel_uuid, k.sku) x
         WHERE every_sku OR x.quantity IS DISTINCT FROM x.quantity_before),
    listings AS (
        INSERT INTO @extschema@.inventory_channel_listings AS li
               (channel_uuid, sku, quantity, available, change_id)
        SELECT r.channel_uuid, r.sku, r.quantity, r.available, r.id FROM said_rows r
        ON CONFLICT (channel_uuid, sku) DO UPDATE
           SET quantity = excluded.quantity, available = excluded.available,
               change_id = excluded.change_id),
    feed AS (
        INSERT INTO @extschema@.inventory_channel_feed
               (id, at, channel_uuid, sku, quantity, quantity_before, available, reason)
        SELECT r.id, pg_catalog.now(), r.channel_uuid, r.sku, r.quantity, r.quantity_before,
               r.available, CASE WHEN every_sku THEN 'rule' ELSE 'stock' END
          FROM said_rows r
        RETURNING channel_uuid)
    SELECT pg_catalog.array_agg(DISTINCT f.channel_uuid) INTO said FROM feed f;
    RETURN said;
END
$$;
COMMENT ON FUNCTION inventory_internal.inventory_channel_resync(uuid[], boolean) IS
    'Writes a feed row for every sku of the given active channels, or for those whose quantity differs from the feed''s (internal; run by inventory_feeds_catch_up)';
REVOKE ALL ON FUNCTION inventory_internal.inventory_channel_resync(uuid[], boolean) FROM PUBLIC;

/*
 * One pass over the ledger after the feeds' cursor (see the top of this
 * section), at most max_changes ledger rows: the warehouses and channels
 * to redo first, then the listing quantities and alert states the changes
 * touched.  Returns what the caller should do next: 'caught_up' (nothing
 * left), 'more' (ledger rows remain: run again at once), 'retry' (a
 * pass runs elsewhere, or alerts another transaction held locked were
 * left for later: run again shortly) or 'idle' (no active channel and no
 * alert: nothing derives from the ledger, which a pass every naptime
 * follows closely enough).  With nothing to do it takes no lock and
 * writes nothing, so the worker may ask every naptime.
 */
CREATE FUNCTION inventory_internal.inventory_feeds_catch_up(max_changes integer DEFAULT 10000)
    RETURNS text
    LANGUAGE plpgsql
    VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cursor_at bigint;
    rechecks text[] COLLATE "C";
    channel_rechecks uuid[];
    reconcile uuid[];
    live uuid[];
    held uuid[];
    horizon bigint;
    upto bigint;
    has_channels boolean;
    has_alerts boolean;
    warehouses uuid[];
    resync uuid[];
    said uuid[];
    alert_skus text[] COLLATE "C";
    due tid[];
    skipped text[] COLLATE "C";
    last_event bigint;
    ch uuid;
BEGIN
    IF max_changes IS NULL OR max_changes OPERATOR(pg_catalog.<) 1 THEN
        RAISE EXCEPTION 'max_changes must be at least 1'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- nothing to do: no lock, no write (nor the state's row, before any
    -- change)
    horizon := inventory_internal.inventory_ledger_horizon();
    SELECT s.ledger_cursor, s.alert_rechecks, s.channel_rechecks
      INTO cursor_at, rechecks, channel_rechecks
      FROM @extschema@.inventory_feed_state s;
    IF COALESCE(cursor_at, 0) OPERATOR(pg_catalog.>=) horizon
       AND COALESCE(pg_catalog.cardinality(rechecks), 0) OPERATOR(pg_catalog.=) 0
       AND COALESCE(pg_catalog.cardinality(channel_rechecks), 0) OPERATOR(pg_catalog.=) 0
       AND NOT EXISTS (SELECT FROM @extschema@.inventory_channel_resyncs)
       AND NOT EXISTS (SELECT FROM @extschema@.inventory_warehouse_resyncs)
       AND NOT EXISTS (SELECT FROM @extschema@.inventory_stock_alerts a WHERE a.pending) THEN
        IF EXISTS (SELECT FROM @extschema@.inventory_channels c WHERE c.active)
           OR EXISTS (SELECT FROM @extschema@.inventory_stock_alerts) THEN
            RETURN 'caught_up';
        END IF;
        RETURN 'idle';
    END IF;

    -- one pass at a time (the row is made by the first pass)
    SELECT s.ledger_cursor, s.alert_rechecks, s.channel_rechecks
      INTO cursor_at, rechecks, channel_rechecks
      FROM @extschema@.inventory_feed_state s FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        INSERT INTO @extschema@.inventory_feed_state (ledger_cursor, updated_at)
            VALUES (0, pg_catalog.now()) ON CONFLICT (single) DO NOTHING;
        SELECT s.ledger_cursor, s.alert_rechecks, s.channel_rechecks
          INTO cursor_at, rechecks, channel_rechecks
          FROM @extschema@.inventory_feed_state s FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            RETURN 'retry';
        END IF;
    END IF;

    -- The channels the pass may write for are locked before anything else
    -- (KEY SHARE, which a change of rule does not wait for): a transaction
    -- deleting one then waits for the pass, never the pass for it, whose
    -- cascade to the listings and the requests would otherwise meet the
    -- pass's own rows (a deadlock).  One another transaction holds (it
    -- deletes it, or locks it FOR UPDATE) is left: the pass after brings
    -- its listings up to date from the level rows.
    SELECT pg_catalog.array_agg(x.uuid) INTO live
      FROM (SELECT c.uuid FROM @extschema@.inventory_channels c
             WHERE c.active ORDER BY c.uuid FOR KEY SHARE OF c SKIP LOCKED) x;
    live := COALESCE(live, '{}');
    SELECT pg_catalog.array_agg(c.uuid ORDER BY c.uuid) INTO held
      FROM @extschema@.inventory_channels c
     WHERE c.active AND c.uuid OPERATOR(pg_catalog.<>) ALL (live);
    held := COALESCE(held, '{}');

    -- first the horizon, then (a new statement, a new snapshot) the rows
    horizon := inventory_internal.inventory_ledger_horizon();
    has_channels := pg_catalog.cardinality(live) OPERATOR(pg_catalog.>) 0
        OR pg_catalog.cardinality(held) OPERATOR(pg_catalog.>) 0;
    has_alerts := EXISTS (SELECT FROM @extschema@.inventory_stock_alerts);
    IF has_channels OR has_alerts THEN
        SELECT pg_catalog.max(f.id) INTO upto
          FROM (SELECT l.id FROM @extschema@.inventory_ledger l
                 WHERE l.id OPERATOR(pg_catalog.>) cursor_at
                   AND l.id OPERATOR(pg_catalog.<=) horizon
                 ORDER BY l.id LIMIT max_changes) f;
    END IF;
    -- (nothing derives from the ledger: straight to the horizon; a new
    -- channel or threshold starts from the level rows anyway)
    upto := COALESCE(upto, GREATEST(horizon, cursor_at));

    -- Warehouses archived or brought back, and channels whose rule,
    -- warehouses or activity changed: their channels said again in full,
    -- their skus' alerts reported again.  A request an open transaction
    -- holds (it asked again: its change is not visible yet) stays for the
    -- pass after its commit, as does one for a channel held locked (or
    -- feeding one).
    WITH w AS (DELETE FROM @extschema@.inventory_warehouse_resyncs d
                WHERE d.warehouse_uuid IN (SELECT x.warehouse_uuid
                                             FROM @extschema@.inventory_warehouse_resyncs x
                                              FOR UPDATE SKIP LOCKED)
                  AND NOT EXISTS (SELECT FROM @extschema@.inventory_channel_warehouses cw
                                   WHERE cw.warehouse_uuid OPERATOR(pg_catalog.=) d.warehouse_uuid
                                     AND cw.channel_uuid OPERATOR(pg_catalog.=) ANY (held))
               RETURNING d.warehouse_uuid)
    SELECT pg_catalog.array_agg(w.warehouse_uuid) INTO warehouses FROM w;
    IF warehouses IS NOT NULL THEN
        SELECT pg_catalog.array_agg(DISTINCT cw.channel_uuid) INTO resync
          FROM @extschema@.inventory_channel_warehouses cw
         WHERE cw.warehouse_uuid OPERATOR(pg_catalog.=) ANY (warehouses)
           AND cw.channel_uuid OPERATOR(pg_catalog.=) ANY (live);
        SELECT pg_catalog.array_agg(DISTINCT l.sku) INTO alert_skus
          FROM @extschema@.inventory_levels l
         WHERE l.warehouse_uuid OPERATOR(pg_catalog.=) ANY (warehouses);
    END IF;
    WITH r AS (DELETE FROM @extschema@.inventory_channel_resyncs d
                WHERE d.channel_uuid IN (SELECT x.channel_uuid
                                           FROM @extschema@.inventory_channel_resyncs x
                                          WHERE x.channel_uuid OPERATOR(pg_catalog.=) ANY (live)
                                             OR NOT EXISTS (SELECT FROM @extschema@.inventory_channels c
                                                             WHERE c.uuid OPERATOR(pg_catalog.=) x.channel_uuid
                                                               AND c.active)
                                            FOR UPDATE SKIP LOCKED)
               RETURNING d.channel_uuid)
    SELECT resync OPERATOR(pg_catalog.||) pg_catalog.array_agg(r.channel_uuid) INTO resync FROM r;
    IF resync IS NOT NULL THEN
        said := inventory_internal.inventory_channel_resync(resync, true);
    END IF;
    -- channels held at the last pass: what changed meanwhile (those said
    -- in full just now need nothing more)
    SELECT pg_catalog.array_agg(c) INTO reconcile
      FROM pg_catalog.unnest(channel_rechecks) c
     WHERE c OPERATOR(pg_catalog.=) ANY (live)
       AND c OPERATOR(pg_catalog.<>) ALL (COALESCE(resync, '{}'));
    IF reconcile IS NOT NULL THEN
        said := said OPERATOR(pg_catalog.||)
            inventory_internal.inventory_channel_resync(reconcile, false);
    END IF;

    IF upto OPERATOR(pg_catalog.>) cursor_at AND has_channels THEN
        -- listing quantities of the skus whose available changed
        WITH touched AS (
            SELECT DISTINCT l.sku, l.warehouse_uuid
              FROM @extschema@.inventory_ledger l
             WHERE l.id OPERATOR(pg_catalog.>) cursor_at AND l.id OPERATOR(pg_catalog.<=) upto
               AND l.available_before OPERATOR(pg_catalog.<>) l.available_after),
        keys AS (
            SELECT DISTINCT cw.channel_uuid, t.sku
              FROM touched t
              JOIN @extschema@.inventory_channel_warehouses cw
                ON cw.warehouse_uuid OPERATOR(pg_catalog.=) t.warehouse_uuid
              JOIN @extschema@.inventory_channels c
                ON c.uuid OPERATOR(pg_catalog.=) cw.channel_uuid AND c.active
             WHERE cw.channel_uuid OPERATOR(pg_catalog.=) ANY (live)),
        computed AS (
            SELECT k.channel_uuid, k.sku, s.available, li.quantity AS quantity_before,
                   @extschema@.inventory_channel_quantity(s.available, c.percent, c.max,
                                                          c.min, c.buffer) AS quantity
              FROM keys k
              JOIN @extschema@.inventory_channels c ON c.uuid OPERATOR(pg_catalog.=) k.channel_uuid
             CROSS JOIN LATERAL (
                    SELECT COALESCE(pg_catalog.sum(lv.available), 0)::bigint AS available
                      FROM @extschema@.inventory_channel_warehouses cw
                      JOIN @extschema@.inventory_warehouses w
                        ON w.uuid OPERATOR(pg_catalog.=) cw.warehouse_uuid AND NOT w.archived
                      JOIN @extschema@.inventory_levels lv
                        ON lv.sku OPERATOR(pg_catalog.=) k.sku
                       AND lv.warehouse_uuid OPERATOR(pg_catalog.=) cw.warehouse_uuid
                     WHERE cw.channel_uuid OPERATOR(pg_catalog.=) k.channel_uuid) s
              LEFT JOIN @extschema@.inventory_channel_listings li
                ON li.channel_uuid OPERATOR(pg_catalog.=) k.channel_uuid
               AND li.sku OPERATOR(pg_catalog.=) k.sku),
        changed AS (
            SELECT pg_catalog.nextval('@extschema@.inventory_channel_feed_id_seq'::pg_catalog.regclass) AS id,
                   x.channel_uuid, x.sku, x.available, x.quantity, x.quantity_before
              FROM (SELECT * FROM computed cm
                     WHERE cm.quantity IS DISTINCT FROM cm.quantity_before
                     ORDER BY cm.channel_uuid, cm.sku) x),
        listings AS (
            INSERT INTO @extschema@.inventory_channel_listings AS li
                   (channel_uuid, sku, quantity, available, change_id)
            SELECT r.channel_uuid, r.sku, r.quantity, r.available, r.id FROM changed r
            ON CONFLICT (channel_uuid, sku) DO UPDATE
               SET quantity = excluded.quantity, available = excluded.available,
                   change_id = excluded.change_id),
        feed AS (
            INSERT INTO @extschema@.inventory_channel_feed
                   (id, at, channel_uuid, sku, quantity, quantity_before, available, reason)
            SELECT r.id, pg_catalog.now(), r.channel_uuid, r.sku, r.quantity, r.quantity_before,
                   r.available, 'stock'
              FROM changed r
            RETURNING channel_uuid)
        SELECT said OPERATOR(pg_catalog.||) pg_catalog.array_agg(DISTINCT f.channel_uuid)
          INTO said FROM feed f;
    END IF;

    -- Alert states: the thresholds that are new or changed (pending), and
    -- those of the skus the changes touched, left by the last pass, or in
    -- a warehouse archived or brought back.  They are locked first, then
    -- read with the stock in a new snapshot; one another transaction holds
    -- (it changes a threshold, which marks it pending, or merely locks it)
    -- is left for a pass shortly after, never waited for.
    IF has_alerts THEN
        IF upto OPERATOR(pg_catalog.>) cursor_at THEN
            SELECT alert_skus OPERATOR(pg_catalog.||) pg_catalog.array_agg(DISTINCT l.sku)
              INTO alert_skus
              FROM @extschema@.inventory_ledger l
             WHERE l.id OPERATOR(pg_catalog.>) cursor_at AND l.id OPERATOR(pg_catalog.<=) upto
               AND l.available_before OPERATOR(pg_catalog.<>) l.available_after;
        END IF;
        alert_skus := alert_skus OPERATOR(pg_catalog.||) rechecks;
        SELECT pg_catalog.array_agg(x.ctid) INTO due
          FROM (SELECT a.ctid FROM @extschema@.inventory_stock_alerts a
                 WHERE a.pending OR a.sku OPERATOR(pg_catalog.=) ANY (alert_skus)
                 ORDER BY a.sku, a.warehouse_uuid
                   FOR NO KEY UPDATE OF a SKIP LOCKED) x;
        SELECT pg_catalog.array_agg(DISTINCT a.sku) INTO skipped
          FROM @extschema@.inventory_stock_alerts a
         WHERE (a.pending OR a.sku OPERATOR(pg_catalog.=) ANY (alert_skus))
           AND a.ctid OPERATOR(pg_catalog.<>) ALL (COALESCE(due, '{}'));
    END IF;
    IF due IS NOT NULL THEN
        WITH evaluated AS (
            SELECT a.ctid AS row_id, a.sku, a.warehouse_uuid, a.threshold, a.state AS state_before,
                   s.available,
                   CASE WHEN s.available OPERATOR(pg_catalog.<=) 0 THEN 'out_of_stock'
                        WHEN s.available OPERATOR(pg_catalog.<=) a.threshold THEN 'low_stock'
                        ELSE 'in_stock' END AS state
              FROM @extschema@.inventory_stock_alerts a
             CROSS JOIN LATERAL (
                    SELECT COALESCE(pg_catalog.sum(l.available), 0)::bigint AS available
                      FROM @extschema@.inventory_levels l
                      JOIN @extschema@.inventory_warehouses w
                        ON w.uuid OPERATOR(pg_catalog.=) l.warehouse_uuid
                     WHERE l.sku OPERATOR(pg_catalog.=) a.sku
                       AND CASE WHEN a.warehouse_uuid IS NULL THEN NOT w.archived
                                ELSE l.warehouse_uuid OPERATOR(pg_catalog.=) a.warehouse_uuid END) s
             WHERE a.ctid OPERATOR(pg_catalog.=) ANY (due)),
        reported AS (
            UPDATE @extschema@.inventory_stock_alerts a
               SET state = e.state, available = e.available, pending = false,
                   reported_at = CASE WHEN e.state IS DISTINCT FROM e.state_before
                                      THEN pg_catalog.now() ELSE a.reported_at END
              FROM evaluated e
             WHERE a.ctid OPERATOR(pg_catalog.=) e.row_id
               AND (a.pending OR a.state IS DISTINCT FROM e.state)
            RETURNING e.sku, e.warehouse_uuid, e.state, e.state_before, e.available, e.threshold),
        events AS (
            INSERT INTO @extschema@.inventory_alert_events
                   (id, at, sku, warehouse_uuid, state, state_before, available, threshold)
            SELECT pg_catalog.nextval('@extschema@.inventory_alert_events_id_seq'::pg_catalog.regclass),
                   pg_catalog.now(), x.sku, x.warehouse_uuid, x.state, x.state_before, x.available,
                   x.threshold
              FROM (SELECT * FROM reported r
                     WHERE r.state IS DISTINCT FROM r.state_before
                     ORDER BY r.sku, r.warehouse_uuid NULLS FIRST) x
            RETURNING id)
        SELECT pg_catalog.max(ev.id) INTO last_event FROM events ev;
    END IF;

    skipped := COALESCE(skipped, '{}');
    IF upto OPERATOR(pg_catalog.>) cursor_at OR skipped IS DISTINCT FROM rechecks
       OR held IS DISTINCT FROM COALESCE(channel_rechecks, '{}') THEN
        UPDATE @extschema@.inventory_feed_state
           SET ledger_cursor = upto, alert_rechecks = skipped, channel_rechecks = held,
               updated_at = pg_catalog.now();
    END IF;

    -- consumers hear of it at commit
    FOR ch IN SELECT DISTINCT c FROM pg_catalog.unnest(said) c ORDER BY 1 LOOP
        PERFORM pg_catalog.pg_notify('inventory_channel_changes', ch::text);
    END LOOP;
    IF last_event IS NOT NULL THEN
        PERFORM pg_catalog.pg_notify('inventory_alerts', last_event::text);
    END IF;
    RETURN CASE WHEN pg_catalog.cardinality(skipped) OPERATOR(pg_catalog.>) 0
                  OR pg_catalog.cardinality(held) OPERATOR(pg_catalog.>) 0 THEN 'retry'
                WHEN upto OPERATOR(pg_catalog.<) horizon THEN 'more'
                WHEN NOT has_channels AND NOT has_alerts THEN 'idle'
                ELSE 'caught_up' END;
END
$$;
COMMENT ON FUNCTION inventory_internal.inventory_feeds_catch_up(integer) IS
    'Brings the channel feed and the alert events up to the ledger''s horizon, at most max_changes ledger rows at a time; returns caught_up, more (run again at once), retry (run again shortly) or idle (nothing to feed) (internal; run by the worker)';
REVOKE ALL ON FUNCTION inventory_internal.inventory_feeds_catch_up(integer) FROM PUBLIC;

/*
 * How far the feeds are: for monitoring, and for whoever waits for a
 * change to reach them (tests, a consumer after its own adjustment).
 */
CREATE FUNCTION @extschema@.inventory_feeds_status()
    RETURNS TABLE (caught_up boolean, ledger_cursor bigint, ledger_horizon bigint,
                   channels_waiting bigint, warehouses_waiting bigint, alerts_waiting bigint,
                   updated_at timestamptz)
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    -- first the horizon, then (a new statement) where the feeds are
    ledger_horizon := inventory_internal.inventory_ledger_horizon();
    SELECT COALESCE(pg_catalog.max(s.ledger_cursor), 0), pg_catalog.max(s.updated_at),
           COALESCE(pg_catalog.max(pg_catalog.cardinality(s.alert_rechecks)), 0),
           COALESCE(pg_catalog.max(pg_catalog.cardinality(s.channel_rechecks)), 0)
      INTO ledger_cursor, updated_at, alerts_waiting, channels_waiting
      FROM @extschema@.inventory_feed_state s;
    channels_waiting := channels_waiting OPERATOR(pg_catalog.+)
        (SELECT pg_catalog.count(*) FROM @extschema@.inventory_channel_resyncs);
    warehouses_waiting := (SELECT pg_catalog.count(*) FROM @extschema@.inventory_warehouse_resyncs);
    alerts_waiting := alerts_waiting OPERATOR(pg_catalog.+)
        (SELECT pg_catalog.count(*) FROM @extschema@.inventory_stock_alerts a WHERE a.pending);
    -- with no active channel and no alert there is nothing to feed: the
    -- worker then moves the cursor only every naptime
    caught_up := (ledger_cursor OPERATOR(pg_catalog.>=) ledger_horizon
                  OR NOT (EXISTS (SELECT FROM @extschema@.inventory_channels c WHERE c.active)
                          OR EXISTS (SELECT FROM @extschema@.inventory_stock_alerts)))
        AND channels_waiting OPERATOR(pg_catalog.=) 0 AND warehouses_waiting OPERATOR(pg_catalog.=) 0
        AND alerts_waiting OPERATOR(pg_catalog.=) 0;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION @extschema@.inventory_feeds_status() IS
    'Whether the channel feed and the alert events reflect every committed change (caught_up), the ledger id they are at and the horizon, and the channels, warehouses and alerts waiting to be redone';
REVOKE ALL ON FUNCTION @extschema@.inventory_feeds_status() FROM PUBLIC;

/*
 * The channel feed after a cursor (the last change_id seen), in order.
 * Only the pass writes it, one pass at a time, so ids commit in order and
 * a read never skips one.
 */
CREATE FUNCTION @extschema@.inventory_channel_changes(
    channel uuid, after bigint DEFAULT 0, max_rows integer DEFAULT 1000)
    RETURNS TABLE (change_id bigint, at timestamptz, sku text, quantity bigint,
                   quantity_before bigint, available bigint, reason text)
    LANGUAGE plpgsql
    STABLE CALLED ON NULL INPUT
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    issued bigint;
BEGIN
    IF channel IS NULL OR after IS NULL OR max_rows IS NULL OR max_rows OPERATOR(pg_catalog.<) 1 THEN
        RAISE EXCEPTION 'channel and after must not be null and max_rows must be at least 1'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT FROM @extschema@.inventory_channels c
                    WHERE c.uuid OPERATOR(pg_catalog.=) channel) THEN
        RAISE EXCEPTION 'channel % does not exist', channel
            USING ERRCODE = 'undefined_object',
                  HINT = 'The table inventory_channels lists the channels; a channel that was deleted took its feed with it.';
    END IF;
    SELECT CASE WHEN s.is_called THEN s.last_value ELSE 0 END INTO issued
      FROM @extschema@.inventory_channel_feed_id_seq s;
    IF after OPERATOR(pg_catalog.>) issued THEN
        RAISE EXCEPTION 'channel change cursor % is beyond the last channel change of this database', after
            USING ERRCODE = 'IN003',
                  DETAIL = pg_catalog.format('The largest channel change id issued here is %s. The cursor was read from another database, or before the extension was dropped and created again, or from a primary whose last changes were lost in a failover.', issued),
                  HINT = 'Start the consumer again from cursor 0: the first rows of a channel give every sku''s quantity.';
    END IF;
    RETURN QUERY
        SELECT f.id, f.at, f.sku::text, f.quantity, f.quantity_before, f.available, f.reason
          FROM @extschema@.inventory_channel_feed f
         WHERE f.channel_uuid OPERATOR(pg_catalog.=) channel
           AND f.id OPERATOR(pg_catalog.>) after
         ORDER BY f.id
         LIMIT max_rows;
END
$$;
COMMENT ON FUNCTION @extschema@.inventory_channel_changes(uuid, bigint, integer) IS
    'Changes of a channel''s listing quantities after a cursor (the last change_id seen), in order, none ever skipped; LISTEN inventory_channel_changes (the payload is the channel) to be woken';
REVOKE ALL ON FUNCTION @extschema@.inventory_channel_changes(uuid, bigint, integer) FROM PUBLIC;

/*
 * Alert events after a cursor (the last alert_id seen), in order.
 */
CREATE FUNCTION @extschema@.inventory_alerts(after bigint DEFAULT 0, max_rows integer DEFAULT 1000)
    RETURNS TABLE (alert_id bigint, at timestamptz, sku text, warehouse_uuid uuid, state text,
                   state_before text, available bigint, threshold bigint)
    LANGUAGE plpgsql
    STABLE CALLED ON NULL INPUT
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    issued bigint;
BEGIN
    IF after IS NULL OR max_rows IS NULL OR max_rows OPERATOR(pg_catalog.<) 1 THEN
        RAISE EXCEPTION 'after must not be null and max_rows must be at least 1'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT CASE WHEN s.is_called THEN s.last_value ELSE 0 END INTO issued
      FROM @extschema@.inventory_alert_events_id_seq s;
    IF after OPERATOR(pg_catalog.>) issued THEN
        RAISE EXCEPTION 'alert cursor % is beyond the last alert of this database', after
            USING ERRCODE = 'IN003',
                  DETAIL = pg_catalog.format('The largest alert id issued here is %s. The cursor was read from another database, or before the extension was dropped and created again, or from a primary whose last changes were lost in a failover.', issued),
                  HINT = 'Start the consumer again from cursor 0, or read the view inventory_low_stock for what is low now.';
    END IF;
    RETURN QUERY
        SELECT e.id, e.at, e.sku::text, e.warehouse_uuid, e.state, e.state_before, e.available,
               e.threshold
          FROM @extschema@.inventory_alert_events e
         WHERE e.id OPERATOR(pg_catalog.>) after
         ORDER BY e.id
         LIMIT max_rows;
END
$$;
COMMENT ON FUNCTION @extschema@.inventory_alerts(bigint, integer) IS
    'Changes of low-stock alert states (in_stock, low_stock, out_of_stock) after a cursor (the last alert_id seen), in order, none ever skipped; LISTEN inventory_alerts to be woken';
REVOKE ALL ON FUNCTION @extschema@.inventory_alerts(bigint, integer) FROM PUBLIC;

/* ------------------------------------------------------------------------
 * 12. Retention (1.5): the ledger and the batch history older than a
 * horizon are pruned; what verification and the change feed need is kept
 * ------------------------------------------------------------------------
 */

/*
 * Prune the ledger and the applied batches older than older_than
 * (inventory.retention when NULL), at most max_rows batches and max_rows
 * ledger ids per call; the worker calls it when inventory.retention is
 * set.  Batches go first, in batch order, up to the first applied at or
 * after the cutoff; failed ones are kept (they carry their items, to be
 * queued again) and passed over.  The ledger goes by id prefix, so each
 * key keeps a suffix of its rows, which its checkpoint starts: never past
 * a row at or after the cutoff, a row of a batch whose history is kept, an
 * id that may still commit (the change feed's horizon), or what the
 * channel and alert feeds have derived.  One pass at a time: a call while
 * another runs prunes nothing.
 */
CREATE FUNCTION @extschema@.inventory_prune(older_than interval DEFAULT NULL, max_rows integer DEFAULT 100000)
    RETURNS TABLE (ledger_rows bigint, batches bigint, ledger_pruned_through bigint,
                   batches_pruned_through bigint, pruned_before timestamptz, more boolean)
    LANGUAGE plpgsql
    VOLATILE CALLED ON NULL INPUT
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    keep interval := older_than;
    cutoff timestamptz;
    st @extschema@.inventory_retention_state;
    horizon bigint;
    feeds_at bigint;
    lo bigint;
    hi bigint;
    first_kept bigint;
    batch_kept bigint;
    first_old boolean;
    changes_hi bigint;
    next_id bigint;
    base bigint;
    node integer := @extschema@.inventory_node_id();
    broken bigint;
    broken_example text;
    queued_min bigint;
    candidates bigint := 0;
    batches_hi bigint;
BEGIN
    IF keep IS NULL THEN
        keep := pg_catalog.current_setting('inventory.retention', true)::interval;
        IF keep IS NULL OR keep OPERATOR(pg_catalog.<=) '0'::interval THEN
            RAISE EXCEPTION 'no retention horizon is set'
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'inventory.retention is 0 (keep everything) and older_than was not given.',
                      HINT = 'Pass older_than, as in inventory_prune(''30 days''), or set inventory.retention in postgresql.conf; the worker then prunes by itself.';
        END IF;
    END IF;
    IF keep OPERATOR(pg_catalog.<=) '0'::interval OR max_rows IS NULL
       OR max_rows OPERATOR(pg_catalog.<) 1 THEN
        RAISE EXCEPTION 'older_than must be positive and max_rows at least 1'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    cutoff := pg_catalog.now() OPERATOR(pg_catalog.-) keep;
    ledger_rows := 0;
    batches := 0;

    -- one pass at a time (the row is made by the first pass); a call while
    -- another pass holds it does nothing, never waits
    INSERT INTO @extschema@.inventory_retention_state DEFAULT VALUES ON CONFLICT (single) DO NOTHING;
    SELECT s.* INTO st FROM @extschema@.inventory_retention_state s FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        SELECT s.ledger_pruned_through, s.batches_pruned_through, s.pruned_before
          INTO ledger_pruned_through, batches_pruned_through, pruned_before
          FROM @extschema@.inventory_retention_state s;
        more := false;
        RETURN NEXT;
        RETURN;
    END IF;

    -- applied batches older than the cutoff: the next max_rows batches in
    -- the history below every queued one, up to the first applied at or
    -- after the cutoff (first the first one alone: most passes stop there)
    SELECT pg_catalog.min(q.batch_id) INTO queued_min FROM @extschema@.inventory_queue q;
    SELECT h.batch_id, h.applied_at OPERATOR(pg_catalog.<) cutoff INTO batch_kept, first_old
      FROM @extschema@.inventory_batch_history h
     WHERE h.batch_id OPERATOR(pg_catalog.>) st.batches_pruned_through
       AND h.state OPERATOR(pg_catalog.=) 'applied'
     ORDER BY h.batch_id
     LIMIT 1;
    IF first_old THEN
        -- the candidates read once: the first applied at or after the
        -- cutoff among them, their number, and the last before it
        WITH c AS MATERIALIZED (
            SELECT h.batch_id, h.state, h.applied_at
              FROM @extschema@.inventory_batch_history h
             WHERE h.batch_id OPERATOR(pg_catalog.>) st.batches_pruned_through
               AND h.batch_id OPERATOR(pg_catalog.<) COALESCE(queued_min, 9223372036854775807)
             ORDER BY h.batch_id
             LIMIT max_rows),
        k AS (
            SELECT pg_catalog.min(c.batch_id) FILTER (WHERE c.state OPERATOR(pg_catalog.=) 'applied'
                                                      AND c.applied_at OPERATOR(pg_catalog.>=) cutoff) AS kept,
                   pg_catalog.count(*) AS n
              FROM c)
        SELECT k.kept, k.n,
               (SELECT pg_catalog.max(c.batch_id) FROM c
                 WHERE c.batch_id OPERATOR(pg_catalog.<) COALESCE(k.kept, 9223372036854775807))
          INTO batch_kept, candidates, batches_hi
          FROM k;
        DELETE FROM @extschema@.inventory_batch_history h
         WHERE h.batch_id OPERATOR(pg_catalog.>) st.batches_pruned_through
           AND h.batch_id OPERATOR(pg_catalog.<=) batches_hi
           AND h.state OPERATOR(pg_catalog.=) 'applied';
        GET DIAGNOSTICS batches = ROW_COUNT;
    END IF;
    batches_hi := GREATEST(st.batches_pruned_through, batches_hi);

    -- the ledger: ids in (lo, hi], all older than the cutoff, none of a
    -- batch whose history is kept
    horizon := inventory_internal.inventory_ledger_horizon();
    -- what the channel feed and the alerts still have to derive (with
    -- neither, nothing derives from the ledger: a new channel or threshold
    -- starts from the level rows)
    IF EXISTS (SELECT FROM @extschema@.inventory_channels c WHERE c.active)
       OR EXISTS (SELECT FROM @extschema@.inventory_stock_alerts) THEN
        SELECT COALESCE(pg_catalog.max(f.ledger_cursor), 0) INTO feeds_at
          FROM @extschema@.inventory_feed_state f;
    ELSE
        feeds_at := horizon;
    END IF;
    -- from the first row after where the last pass ended: ids need not be
    -- dense (a node's start at node_id * 2^48), but never past the horizon,
    -- below which no id can still appear
    SELECT pg_catalog.min(l.id) INTO next_id
      FROM @extschema@.inventory_ledger l WHERE l.id OPERATOR(pg_catalog.>) st.ledger_pruned_through;
    base := GREATEST(st.ledger_pruned_through,
                     LEAST(COALESCE(next_id OPERATOR(pg_catalog.-) 1, horizon), horizon, feeds_at));
    lo := base;
    hi := LEAST(horizon, feeds_at, lo OPERATOR(pg_catalog.+) max_rows);
    -- a batch id of another node (the row came with a moved merchant) has
    -- no history here to keep
    SELECT pg_catalog.min(l.id) INTO first_kept
      FROM @extschema@.inventory_ledger l
     WHERE l.id OPERATOR(pg_catalog.>) lo AND l.id OPERATOR(pg_catalog.<=) hi
       AND (l.at OPERATOR(pg_catalog.>=) cutoff
            OR (l.batch_id OPERATOR(pg_catalog.>) batches_hi
                AND (l.batch_id OPERATOR(pg_catalog.>>) 48) OPERATOR(pg_catalog.=) node));
    IF first_kept IS NOT NULL THEN
        hi := first_kept OPERATOR(pg_catalog.-) 1;
    END IF;
    IF hi OPERATOR(pg_catalog.>) lo THEN
        WITH gone AS (
            DELETE FROM @extschema@.inventory_ledger l
             WHERE l.id OPERATOR(pg_catalog.>) lo AND l.id OPERATOR(pg_catalog.<=) hi
            RETURNING l.id, l.at, l.sku, l.warehouse_uuid, l.on_hand_before, l.on_hand_after,
                      l.reserved_before, l.reserved_after, l.available_before, l.available_after,
                      l.incoming_before, l.incoming_after),
        -- each key's last row, and its last that changed incoming
        last AS (
            SELECT g.sku, g.warehouse_uuid, pg_catalog.max(g.id) AS id,
                   (pg_catalog.array_agg(g.at ORDER BY g.id DESC))[1] AS at,
                   (pg_catalog.array_agg(g.on_hand_after ORDER BY g.id DESC))[1] AS on_hand,
                   (pg_catalog.array_agg(g.reserved_after ORDER BY g.id DESC))[1] AS reserved,
                   (pg_catalog.array_agg(g.available_after ORDER BY g.id DESC))[1] AS available,
                   (pg_catalog.array_agg(g.incoming_after ORDER BY g.id DESC)
                        FILTER (WHERE g.incoming_after IS NOT NULL))[1] AS incoming
              FROM gone g
             GROUP BY g.sku, g.warehouse_uuid),
        -- the pruned rows chain from the key's old checkpoint (verified
        -- here, since their evidence goes with them)
        chain AS (
            SELECT g.id, g.sku, g.on_hand_before, g.reserved_before,
                   pg_catalog.lag(g.on_hand_after, 1, COALESCE(p.on_hand, 0::bigint))
                       OVER (PARTITION BY g.sku, g.warehouse_uuid ORDER BY g.id) AS prev_on_hand,
                   pg_catalog.lag(g.reserved_after, 1, COALESCE(p.reserved, 0::bigint))
                       OVER (PARTITION BY g.sku, g.warehouse_uuid ORDER BY g.id) AS prev_reserved
              FROM gone g
              LEFT JOIN @extschema@.inventory_ledger_checkpoints p
                ON p.sku OPERATOR(pg_catalog.=) g.sku AND p.warehouse_uuid OPERATOR(pg_catalog.=) g.warehouse_uuid),
        saved AS (
            INSERT INTO @extschema@.inventory_ledger_checkpoints AS c
                   (sku, warehouse_uuid, ledger_id, at, on_hand, reserved, available, incoming)
            SELECT t.sku, t.warehouse_uuid, t.id, t.at, t.on_hand, t.reserved, t.available,
                   COALESCE(t.incoming, p.incoming, 0)
              FROM last t
              LEFT JOIN @extschema@.inventory_ledger_checkpoints p
                ON p.sku OPERATOR(pg_catalog.=) t.sku AND p.warehouse_uuid OPERATOR(pg_catalog.=) t.warehouse_uuid
            ON CONFLICT (sku, warehouse_uuid) DO UPDATE
               SET ledger_id = excluded.ledger_id, at = excluded.at, on_hand = excluded.on_hand,
                   reserved = excluded.reserved, available = excluded.available,
                   incoming = excluded.incoming
            RETURNING 1)
        SELECT (SELECT pg_catalog.count(*) FROM gone),
               (SELECT pg_catalog.max(g.id) FROM gone g
                 WHERE g.available_before OPERATOR(pg_catalog.<>) g.available_after
                    OR g.incoming_before IS DISTINCT FROM g.incoming_after),
               (SELECT pg_catalog.count(*) FROM chain x
                 WHERE x.on_hand_before OPERATOR(pg_catalog.<>) x.prev_on_hand
                    OR x.reserved_before OPERATOR(pg_catalog.<>) x.prev_reserved),
               (SELECT pg_catalog.format('ledger row %s of sku %s starts at on_hand %s, reserved %s; the previous row ended at %s, %s',
                                         x.id, x.sku, x.on_hand_before, x.reserved_before, x.prev_on_hand, x.prev_reserved)
                  FROM chain x
                 WHERE x.on_hand_before OPERATOR(pg_catalog.<>) x.prev_on_hand
                    OR x.reserved_before OPERATOR(pg_catalog.<>) x.prev_reserved
                 ORDER BY x.id LIMIT 1)
          INTO ledger_rows, changes_hi, broken, broken_example;
        IF broken OPERATOR(pg_catalog.>) 0 THEN
            RAISE WARNING 'inventory retention pruned % ledger rows that do not chain', broken
                USING DETAIL = pg_catalog.format('The first: %s. The checkpoints start each key from its last pruned row, so inventory_verify() no longer reports these.', broken_example),
                      HINT = 'Run inventory_verify() before pruning to see drift while its evidence is kept.';
        END IF;
        lo := hi;
    END IF;

    UPDATE @extschema@.inventory_retention_state s
       SET ledger_pruned_through = lo,
           changes_pruned_through = GREATEST(s.changes_pruned_through, changes_hi),
           batches_pruned_through = batches_hi,
           pruned_before = GREATEST(s.pruned_before, cutoff),
           pruned_at = pg_catalog.now()
     RETURNING s.ledger_pruned_through, s.batches_pruned_through, s.pruned_before
          INTO ledger_pruned_through, batches_pruned_through, pruned_before;
    -- cut by max_rows, not by the cutoff: call again
    more := lo OPERATOR(pg_catalog.=) (base OPERATOR(pg_catalog.+) max_rows)
            OR (candidates OPERATOR(pg_catalog.=) max_rows AND batch_kept IS NULL);
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION @extschema@.inventory_prune(interval, integer) IS
    'Delete applied batches and ledger rows older than older_than (inventory.retention when NULL), at most max_rows of each, keeping per key where its ledger ended; more: call again';
REVOKE ALL ON FUNCTION @extschema@.inventory_prune(interval, integer) FROM PUBLIC;

/* ------------------------------------------------------------------------
 * 13. Scaling out (1.6): this node's id, a merchant's rows leaving one
 *     node for another
 * ------------------------------------------------------------------------
 */

/*
 * inventory_node_id: this node's id (0 until inventory_set_node_id).
 */
CREATE FUNCTION @extschema@.inventory_node_id()
    RETURNS integer
    LANGUAGE sql
    STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT COALESCE((SELECT n.node_id FROM @extschema@.inventory_node n), 0)
$$;
COMMENT ON FUNCTION @extschema@.inventory_node_id() IS
    'This node''s id: the top bits of its batch, ledger and change ids (id / 2^48)';
REVOKE ALL ON FUNCTION @extschema@.inventory_node_id() FROM PUBLIC;

/*
 * inventory_set_node_id: make this database node "node" of a cluster:
 * every id sequence of the extension moves to the range node * 2^48 + 1 ..
 * (node + 1) * 2^48 - 1.  Ids keep increasing on the node, so cursors,
 * horizons and retention work unchanged.  Refused once a sequence has
 * issued an id outside that range: those ids would collide with another
 * node's.  Calling it again with the same id (after restoring a dump,
 * which keeps the ids but not the sequences' bounds) sets the bounds again.
 */
CREATE FUNCTION @extschema@.inventory_set_node_id(node integer)
    RETURNS integer
    LANGUAGE plpgsql
    VOLATILE CALLED ON NULL INPUT
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    lo bigint;
    hi bigint;
    -- every id sequence of the extension
    seqs text[] := ARRAY['inventory_batch_id_seq', 'inventory_ledger_id_seq',
                         'inventory_reservations_id_seq', 'inventory_transfers_id_seq',
                         'inventory_channel_feed_id_seq', 'inventory_alert_events_id_seq'];
    seq text;
    last bigint;
    called boolean;
BEGIN
    IF node IS NULL OR node OPERATOR(pg_catalog.<) 0 OR node OPERATOR(pg_catalog.>) 32767 THEN
        RAISE EXCEPTION 'node id must be between 0 and 32767, not %', COALESCE(node::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    lo := node::bigint OPERATOR(pg_catalog.<<) 48;
    hi := lo OPERATOR(pg_catalog.+) ((1::bigint OPERATOR(pg_catalog.<<) 48) OPERATOR(pg_catalog.-) 1);
    LOCK TABLE @extschema@.inventory_node IN EXCLUSIVE MODE;
    FOREACH seq IN ARRAY seqs LOOP
        -- a no-op ALTER SEQUENCE locks it: no id is issued until commit
        EXECUTE pg_catalog.format('ALTER SEQUENCE @extschema@.%I NO CYCLE', seq);
        EXECUTE pg_catalog.format('SELECT last_value, is_called FROM @extschema@.%I', seq)
           INTO last, called;
        IF called AND (last OPERATOR(pg_catalog.<) lo OR last OPERATOR(pg_catalog.>) hi) THEN
            RAISE EXCEPTION 'cannot make this database node %: % has issued id %', node, seq, last
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = pg_catalog.format('Node %s''s ids are %s to %s; ids issued outside them could be another node''s.', node, lo, hi),
                      HINT = pg_catalog.format('Set the node id right after CREATE EXTENSION. A database that has issued ids keeps node id %s; give the new nodes other ids.',
                                               (last OPERATOR(pg_catalog.>>) 48));
        END IF;
    END LOOP;
    FOREACH seq IN ARRAY seqs LOOP
        EXECUTE pg_catalog.format('SELECT last_value, is_called FROM @extschema@.%I', seq)
           INTO last, called;
        IF called THEN
            EXECUTE pg_catalog.format('ALTER SEQUENCE @extschema@.%I MINVALUE %s MAXVALUE %s', seq, lo, hi);
        ELSE
            EXECUTE pg_catalog.format('ALTER SEQUENCE @extschema@.%I MINVALUE %s MAXVALUE %s START %s RESTART',
                                      seq, GREATEST(lo, 1), hi, GREATEST(lo, 1));
        END IF;
    END LOOP;
    INSERT INTO @extschema@.inventory_node AS n (node_id) VALUES (node)
    ON CONFLICT (single) DO UPDATE SET node_id = excluded.node_id, set_at = excluded.set_at;
    RETURN node;
END
$$;
COMMENT ON FUNCTION @extschema@.inventory_set_node_id(integer) IS
    'Make this database node N of a cluster: its ids become N * 2^48 + n (refused once ids outside that range were issued)';
REVOKE ALL ON FUNCTION @extschema@.inventory_set_node_id(integer) FROM PUBLIC;

/*
 * inventory_merchant_queued: how many queued batches name a warehouse of
 * the merchant (moving a merchant waits for none).
 */
CREATE FUNCTION @extschema@.inventory_merchant_queued(merchant text)
    RETURNS bigint
    LANGUAGE sql
    STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT pg_catalog.count(*)
      FROM @extschema@.inventory_queue q
     WHERE EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(q.items) i
                     JOIN @extschema@.inventory_warehouses w
                       ON w.uuid OPERATOR(pg_catalog.=) (i OPERATOR(pg_catalog.->>) 'warehouse_uuid')::uuid
                    WHERE w.merchant OPERATOR(pg_catalog.=) inventory_merchant_queued.merchant)
$$;
COMMENT ON FUNCTION @extschema@.inventory_merchant_queued(text) IS
    'Queued batches that name a warehouse of the merchant';
REVOKE ALL ON FUNCTION @extschema@.inventory_merchant_queued(text) FROM PUBLIC;

/*
 * inventory_export_merchant: every row of a merchant, as one jsonb document
 * for inventory_import_merchant on another node: its warehouses, level
 * rows, reservations, transfers, ledger (in id order), retention
 * checkpoints and idempotency keys.  Read in one snapshot, with the queue
 * locked against new batches; refused while batches naming its warehouses
 * are queued (they would be left behind), and while channels or stock
 * alerts name them (they stay on this node).
 * The batch history stays: a batch id names the node that applied it.
 */
CREATE FUNCTION @extschema@.inventory_export_merchant(merchant text)
    RETURNS jsonb
    LANGUAGE plpgsql
    VOLATILE CALLED ON NULL INPUT
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    m text := inventory_export_merchant.merchant;
    queued bigint;
    doc jsonb;
BEGIN
    IF m IS NULL THEN
        RAISE EXCEPTION 'merchant must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- every batch being queued has committed, and none can be queued while
    -- this reads (the lock is held only for this transaction)
    LOCK TABLE @extschema@.inventory_queue IN SHARE MODE;
    queued := @extschema@.inventory_merchant_queued(m);
    IF queued OPERATOR(pg_catalog.>) 0 THEN
        RAISE EXCEPTION 'merchant "%" has % queued batches', m, queued
            USING ERRCODE = 'object_in_use',
                  DETAIL = 'Its rows are exported only once the worker has applied every batch that names its warehouses.',
                  HINT = 'Stop its calls (pause it at the router), wait for its last batch, and export again.';
    END IF;
    IF EXISTS (SELECT FROM @extschema@.inventory_channel_warehouses c
                 JOIN @extschema@.inventory_warehouses w ON w.uuid OPERATOR(pg_catalog.=) c.warehouse_uuid
                WHERE w.merchant OPERATOR(pg_catalog.=) m)
       OR EXISTS (SELECT FROM @extschema@.inventory_stock_alerts a
                    JOIN @extschema@.inventory_warehouses w ON w.uuid OPERATOR(pg_catalog.=) a.warehouse_uuid
                   WHERE w.merchant OPERATOR(pg_catalog.=) m) THEN
        RAISE EXCEPTION 'channels or stock alerts name warehouses of merchant "%"', m
            USING ERRCODE = 'dependent_objects_still_exist',
                  DETAIL = 'Channels and stock alerts are this node''s and do not move with a merchant.',
                  HINT = 'Nothing was exported. Remove them here (and make them on the merchant''s new node) first.';
    END IF;
    WITH wh AS (SELECT w.* FROM @extschema@.inventory_warehouses w
                 WHERE w.merchant OPERATOR(pg_catalog.=) m)
    SELECT pg_catalog.jsonb_build_object(
        'merchant', m,
        'node_id', @extschema@.inventory_node_id(),
        'warehouses', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(w) ORDER BY w.uuid), '[]') FROM wh w),
        'levels', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(l) ORDER BY l.sku, l.warehouse_uuid), '[]')
                     FROM @extschema@.inventory_levels l
                    WHERE l.warehouse_uuid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT uuid FROM wh))),
        'reservations', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(r) ORDER BY r.id), '[]')
                           FROM @extschema@.inventory_reservations r
                          WHERE r.warehouse_uuid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT uuid FROM wh))),
        'transfers', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(t) ORDER BY t.id), '[]')
                        FROM @extschema@.inventory_transfers t
                       WHERE t.from_warehouse OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT uuid FROM wh))
                          OR t.to_warehouse OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT uuid FROM wh))),
        'ledger', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x) ORDER BY x.id), '[]')
                     FROM @extschema@.inventory_ledger x
                    WHERE x.warehouse_uuid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT uuid FROM wh))),
        'checkpoints', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(c) ORDER BY c.sku, c.warehouse_uuid), '[]')
                          FROM @extschema@.inventory_ledger_checkpoints c
                         WHERE c.warehouse_uuid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT uuid FROM wh))),
        'idempotency_keys', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(k) ORDER BY k.role, k.key), '[]')
                               FROM @extschema@.inventory_idempotency_keys k
                              WHERE k.merchant OPERATOR(pg_catalog.=) m))
      INTO doc;
    RETURN doc;
END
$$;
COMMENT ON FUNCTION @extschema@.inventory_export_merchant(text) IS
    'Every row of a merchant as one jsonb document, for inventory_import_merchant on another node (refused while its batches are queued)';
REVOKE ALL ON FUNCTION @extschema@.inventory_export_merchant(text) FROM PUBLIC;

/*
 * inventory_import_merchant: load what inventory_export_merchant returned
 * on another node, in one transaction, with inventory.restoring on (the
 * ledger and the reserved sums come with the rows; the triggers derive
 * nothing).  Level rows, reservations and transfers keep their values;
 * the ledger rows get new ids of this node in their order, and each key's
 * retention checkpoint is placed just before them.  Reservations and
 * transfers keep their ids (node ids keep them unique across nodes).
 * Holds are announced to the worker.  Refused when any of its warehouses
 * is here already.  Returns this node's last change id after
 * the import: changes after it are the merchant's new changes here.
 */
CREATE FUNCTION @extschema@.inventory_import_merchant(merchant text, data jsonb)
    RETURNS bigint
    LANGUAGE plpgsql
    VOLATILE CALLED ON NULL INPUT
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET inventory.restoring = on
    AS $$
DECLARE
    m text := inventory_import_merchant.merchant;
    first_id bigint;
    last_id bigint;
    taken uuid;
BEGIN
    IF m IS NULL OR data IS NULL THEN
        RAISE EXCEPTION 'merchant and data must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF data OPERATOR(pg_catalog.->>) 'merchant' IS DISTINCT FROM m THEN
        RAISE EXCEPTION 'the data is not merchant "%"''s', m
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('It was exported for merchant %s.',
                                             COALESCE(pg_catalog.quote_literal(data OPERATOR(pg_catalog.->>) 'merchant'), 'NULL'));
    END IF;
    SELECT w.uuid INTO taken
      FROM pg_catalog.jsonb_populate_recordset(NULL::@extschema@.inventory_warehouses, data OPERATOR(pg_catalog.->) 'warehouses') d
      JOIN @extschema@.inventory_warehouses w ON w.uuid OPERATOR(pg_catalog.=) d.uuid
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'warehouse "%" is registered on this node already', taken
            USING ERRCODE = 'unique_violation',
                  HINT = 'Nothing was imported. A merchant is imported once, into a node that does not hold it.';
    END IF;

    INSERT INTO @extschema@.inventory_warehouses
    SELECT * FROM pg_catalog.jsonb_populate_recordset(NULL::@extschema@.inventory_warehouses,
                                                      data OPERATOR(pg_catalog.->) 'warehouses');
    INSERT INTO @extschema@.inventory_levels
    SELECT * FROM pg_catalog.jsonb_populate_recordset(NULL::@extschema@.inventory_levels,
                                                      data OPERATOR(pg_catalog.->) 'levels');
    INSERT INTO @extschema@.inventory_transfers
           (id, sku, from_warehouse, to_warehouse, quantity, received, cancelled, state,
            reference, created_by, created_at, updated_at)
    SELECT t.id, t.sku, t.from_warehouse, t.to_warehouse, t.quantity, t.received, t.cancelled, t.state,
           t.reference, t.created_by, t.created_at, t.updated_at
      FROM pg_catalog.jsonb_populate_recordset(NULL::@extschema@.inventory_transfers,
                                               data OPERATOR(pg_catalog.->) 'transfers') t;
    INSERT INTO @extschema@.inventory_reservations
    SELECT * FROM pg_catalog.jsonb_populate_recordset(NULL::@extschema@.inventory_reservations,
                                                      data OPERATOR(pg_catalog.->) 'reservations');
    INSERT INTO @extschema@.inventory_idempotency_keys
    SELECT * FROM pg_catalog.jsonb_populate_recordset(NULL::@extschema@.inventory_idempotency_keys,
                                                      data OPERATOR(pg_catalog.->) 'idempotency_keys');

    -- the ledger, under new ids in its order (published first, as every
    -- writer does, so that no reader of the change feed passes them)
    PERFORM inventory_internal.inventory_ledger_reserve_ids();
    WITH ins AS (
        INSERT INTO @extschema@.inventory_ledger
        SELECT pg_catalog.nextval('@extschema@.inventory_ledger_id_seq'::pg_catalog.regclass),
               d.at, d.sku, d.warehouse_uuid, d.source, d.batch_id, d.item, d.order_ref,
               d.line_ref, d.description, d.role, d.xid, d.on_hand_before, d.on_hand_after,
               d.reserved_before, d.reserved_after, d.available_before, d.available_after,
               d.transfer_id, d.incoming_before, d.incoming_after
          FROM (SELECT x.* FROM pg_catalog.jsonb_populate_recordset(NULL::@extschema@.inventory_ledger,
                                                                   data OPERATOR(pg_catalog.->) 'ledger') x
                 ORDER BY x.id) d
        RETURNING id, batch_id),
    -- a merchant coming back brings its batches' ledger rows back
    back AS (
        DELETE FROM @extschema@.inventory_moved_batches b
         WHERE b.batch_id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT ins.batch_id FROM ins)))
    SELECT pg_catalog.min(ins.id), pg_catalog.max(ins.id) INTO first_id, last_id FROM ins;
    INSERT INTO @extschema@.inventory_ledger_checkpoints
    SELECT c.sku, c.warehouse_uuid,
           COALESCE(first_id, @extschema@.inventory_node_id()::bigint OPERATOR(pg_catalog.<<) 48 OPERATOR(pg_catalog.+) 1)
               OPERATOR(pg_catalog.-) 1,
           c.at, c.on_hand, c.reserved, c.available, c.incoming
      FROM pg_catalog.jsonb_populate_recordset(NULL::@extschema@.inventory_ledger_checkpoints,
                                               data OPERATOR(pg_catalog.->) 'checkpoints') c;
    PERFORM inventory_internal.inventory_note_expiry(pg_catalog.min(r.expires_at))
       FROM @extschema@.inventory_reservations r
      WHERE r.warehouse_uuid OPERATOR(pg_catalog.=) ANY (ARRAY(
                SELECT d.uuid FROM pg_catalog.jsonb_populate_recordset(NULL::@extschema@.inventory_warehouses,
                                                                       data OPERATOR(pg_catalog.->) 'warehouses') d))
     HAVING pg_catalog.min(r.expires_at) IS NOT NULL;
    IF last_id IS NULL THEN
        SELECT CASE WHEN s.is_called THEN s.last_value ELSE 0 END INTO last_id
          FROM @extschema@.inventory_ledger_id_seq s;
    END IF;
    RETURN last_id;
END
$$;
COMMENT ON FUNCTION @extschema@.inventory_import_merchant(text, jsonb) IS
    'Load a merchant''s rows exported from another node (inventory_export_merchant); returns the last change id of the import';
REVOKE ALL ON FUNCTION @extschema@.inventory_import_merchant(text, jsonb) FROM PUBLIC;

/*
 * inventory_forget_merchant: delete every row of a merchant that has moved
 * to another node, with inventory.restoring on (nothing is written to the
 * ledger: its history left with it; the batches whose ledger rows leave
 * are noted in inventory_moved_batches, for inventory_batch_status).  Refused while batches naming its
 * warehouses are queued, and while channels or stock alerts name them.
 * Returns the number of level rows deleted.
 */
CREATE FUNCTION @extschema@.inventory_forget_merchant(merchant text)
    RETURNS bigint
    LANGUAGE plpgsql
    VOLATILE CALLED ON NULL INPUT
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET inventory.restoring = on
    AS $$
DECLARE
    m text := inventory_forget_merchant.merchant;
    whs uuid[];
    queued bigint;
    n bigint;
BEGIN
    IF m IS NULL THEN
        RAISE EXCEPTION 'merchant must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT pg_catalog.array_agg(w.uuid) INTO whs FROM @extschema@.inventory_warehouses w
     WHERE w.merchant OPERATOR(pg_catalog.=) m;
    -- every batch being queued has committed, and none is queued until
    -- this transaction ends
    LOCK TABLE @extschema@.inventory_queue IN SHARE MODE;
    queued := @extschema@.inventory_merchant_queued(m);
    IF queued OPERATOR(pg_catalog.>) 0 THEN
        RAISE EXCEPTION 'merchant "%" has % queued batches', m, queued
            USING ERRCODE = 'object_in_use',
                  HINT = 'Nothing was deleted. Wait for its batches to be applied.';
    END IF;
    IF EXISTS (SELECT FROM @extschema@.inventory_channel_warehouses c
                WHERE c.warehouse_uuid OPERATOR(pg_catalog.=) ANY (whs))
       OR EXISTS (SELECT FROM @extschema@.inventory_stock_alerts a
                   WHERE a.warehouse_uuid OPERATOR(pg_catalog.=) ANY (whs)) THEN
        RAISE EXCEPTION 'channels or stock alerts name warehouses of merchant "%"', m
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = 'Nothing was deleted. Remove them here (and make them on the merchant''s new node) first.';
    END IF;
    DELETE FROM @extschema@.inventory_reservations r WHERE r.warehouse_uuid OPERATOR(pg_catalog.=) ANY (whs);
    DELETE FROM @extschema@.inventory_transfers t
     WHERE t.from_warehouse OPERATOR(pg_catalog.=) ANY (whs) OR t.to_warehouse OPERATOR(pg_catalog.=) ANY (whs);
    DELETE FROM @extschema@.inventory_levels l WHERE l.warehouse_uuid OPERATOR(pg_catalog.=) ANY (whs);
    GET DIAGNOSTICS n = ROW_COUNT;
    -- the batches whose ledger rows leave: their status says so here
    INSERT INTO @extschema@.inventory_moved_batches AS b (batch_id, merchant)
    SELECT DISTINCT x.batch_id, m FROM @extschema@.inventory_ledger x
     WHERE x.warehouse_uuid OPERATOR(pg_catalog.=) ANY (whs) AND x.batch_id IS NOT NULL
    ON CONFLICT (batch_id) DO UPDATE SET merchant = excluded.merchant, moved_at = excluded.moved_at;
    DELETE FROM @extschema@.inventory_ledger x WHERE x.warehouse_uuid OPERATOR(pg_catalog.=) ANY (whs);
    DELETE FROM @extschema@.inventory_ledger_checkpoints c WHERE c.warehouse_uuid OPERATOR(pg_catalog.=) ANY (whs);
    DELETE FROM @extschema@.inventory_idempotency_keys k WHERE k.merchant OPERATOR(pg_catalog.=) m;
    DELETE FROM @extschema@.inventory_warehouses w WHERE w.uuid OPERATOR(pg_catalog.=) ANY (whs);
    RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.inventory_forget_merchant(text) IS
    'Delete every row of a merchant that moved to another node (its ledger too; nothing is written to the ledger)';
REVOKE ALL ON FUNCTION @extschema@.inventory_forget_merchant(text) FROM PUBLIC;
