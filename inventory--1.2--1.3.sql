/* inventory--1.2--1.3.sql: update the inventory extension from 1.2 to 1.3 */

\echo Use "ALTER EXTENSION inventory UPDATE TO '1.3'" to load this file. \quit

/*
 * Version 1.3 adds operations beyond the absolute set (issue 11).
 */

/*
 * 1. Trust, checked again before anything in the schemas is used.  A 1.2
 * installation passed this check when it was made; since then a
 * superuser may have let other roles create objects in the schema
 * inventory or inventory_internal, or given them one of their objects, and
 * what they made there could be found by the statements below.  The same
 * check as the install script's (see inventory--1.3.sql), for both
 * schemas, with a HINT for an update.
 */
DO $$
DECLARE
    problems text;
    nsp oid;
BEGIN
  FOREACH nsp IN ARRAY ARRAY['@extschema@'::pg_catalog.regnamespace::oid,
                             'inventory_internal'::pg_catalog.regnamespace::oid] LOOP
    SELECT pg_catalog.string_agg(p.problem, ' ' ORDER BY p.ord) INTO problems
      FROM (SELECT 1 AS ord,
                   CASE WHEN r.rolname OPERATOR(pg_catalog.=) 'pg_database_owner'
                        THEN 'It is owned by pg_database_owner, that is by whoever owns the database.'
                        ELSE pg_catalog.format('It is owned by role %I, which is not a superuser.', r.rolname)
                   END AS problem
              FROM pg_catalog.pg_namespace n
              JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
             WHERE n.oid OPERATOR(pg_catalog.=) nsp
               AND NOT r.rolsuper
            UNION ALL
            SELECT 2, pg_catalog.format('Role %s may create objects in it.',
                                        COALESCE(pg_catalog.quote_ident(r.rolname), 'PUBLIC'))
              FROM pg_catalog.pg_namespace n
             CROSS JOIN LATERAL pg_catalog.aclexplode(n.nspacl) a
              LEFT JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) a.grantee
             WHERE n.oid OPERATOR(pg_catalog.=) nsp
               AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
               AND NOT COALESCE(r.rolsuper, false)
            UNION ALL
            -- what someone else made there (while they could) stays there
            SELECT 3, pg_catalog.format('%s %I in it is owned by role %I, which is not a superuser.',
                                        o.kind, o.name, r.rolname)
              FROM (SELECT 'Relation' AS kind, c.relname AS name, c.relowner AS owner
                      FROM pg_catalog.pg_class c WHERE c.relnamespace OPERATOR(pg_catalog.=) nsp
                    UNION ALL
                    SELECT 'Function', f.proname, f.proowner
                      FROM pg_catalog.pg_proc f WHERE f.pronamespace OPERATOR(pg_catalog.=) nsp
                    UNION ALL
                    SELECT 'Type', t.typname, t.typowner
                      FROM pg_catalog.pg_type t WHERE t.typnamespace OPERATOR(pg_catalog.=) nsp
                    UNION ALL
                    SELECT 'Operator', op.oprname, op.oprowner
                      FROM pg_catalog.pg_operator op WHERE op.oprnamespace OPERATOR(pg_catalog.=) nsp) o
              JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) o.owner
             WHERE NOT r.rolsuper) p;
    IF problems IS NOT NULL THEN
        RAISE EXCEPTION 'schema "%" cannot hold the inventory extension', nsp::pg_catalog.regnamespace
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = problems,
                  HINT = 'The extension runs as a superuser and names its objects by schema, so only superusers may own that schema or its objects or create objects in it. Give the schema or object back to a superuser, revoke CREATE on the schema, and drop what other roles made there, then run ALTER EXTENSION inventory UPDATE again.';
    END IF;
  END LOOP;
END
$$;

/* ------------------------------------------------------------------------
 * Hand-written changes, one numbered section per feature (2, 3, ...):
 * new columns, tables, indexes, and DROP FUNCTION for a function whose
 * signature or result type changed.
 * ------------------------------------------------------------------------
 */

/*
 * 2. Transfers and incoming stock: the level row's incoming, the table of
 * transfers, the ledger's transfer_id and incoming before/after (the last
 * columns, as the install script has them), and inventory_changes, whose
 * result gains the column incoming.
 */
ALTER TABLE @extschema@.inventory_levels
    ADD COLUMN incoming bigint NOT NULL DEFAULT 0,
    ADD CONSTRAINT inventory_levels_incoming_check CHECK (incoming OPERATOR(pg_catalog.>=) 0);
COMMENT ON COLUMN @extschema@.inventory_levels.incoming IS
    'Stock on its way to this row: what transfers in transit still carry here; not part of available';

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
SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_transfers', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_transfers_id_seq', '');

-- New columns are nullable without a default: adding them rewrites
-- nothing, and the apply's direct append (ledger_append.c) accepts the
-- ledger with or without them.
ALTER TABLE @extschema@.inventory_ledger
    ADD COLUMN transfer_id bigint,
    ADD COLUMN incoming_before bigint,
    ADD COLUMN incoming_after bigint;
COMMENT ON TABLE @extschema@.inventory_ledger IS
    'Append-only history of every change of on_hand, reserved or incoming: who, when, why, before and after';
COMMENT ON COLUMN @extschema@.inventory_ledger.source IS
    'adjust (a queued item), reserve, release, fulfill (order functions), transfer, transfer_receive, transfer_cancel (transfer functions), reservations (a direct change of inventory_reservations), direct (any other write to inventory_levels)';
COMMENT ON COLUMN @extschema@.inventory_ledger.transfer_id IS
    'The transfer (inventory_transfers.id) whose shipping, receiving or cancelling made the change; NULL for other changes';
COMMENT ON COLUMN @extschema@.inventory_ledger.incoming_before IS
    'incoming before the change; NULL when the change left incoming as it was';
COMMENT ON COLUMN @extschema@.inventory_ledger.incoming_after IS
    'incoming after the change; NULL when the change left incoming as it was';

-- inventory_changes returns a new column: it is dropped and made again
-- (defined at the end of this script).  The privileges granted on it
-- (the README's role recipe grants EXECUTE to applications) are kept: a
-- placeholder with the new result takes them over, and CREATE OR REPLACE
-- below keeps them.
DO $$
DECLARE
    acl aclitem[];
    owner oid;
    g record;
BEGIN
    SELECT p.proacl, p.proowner INTO acl, owner FROM pg_catalog.pg_proc p
     WHERE p.oid OPERATOR(pg_catalog.=) '@extschema@.inventory_changes(bigint, integer)'::pg_catalog.regprocedure;
    DROP FUNCTION @extschema@.inventory_changes(bigint, integer);
    CREATE FUNCTION @extschema@.inventory_changes(after bigint DEFAULT 0, max_rows integer DEFAULT 1000)
        RETURNS TABLE (change_id bigint, at timestamptz, sku text, warehouse_uuid uuid,
                       available bigint, available_before bigint, on_hand bigint, reserved bigint,
                       source text, incoming bigint)
        LANGUAGE plpgsql
        SET search_path = pg_catalog, pg_temp
        AS 'BEGIN RETURN; END';
    REVOKE ALL ON FUNCTION @extschema@.inventory_changes(bigint, integer) FROM PUBLIC;
    FOR g IN SELECT a.grantee, a.is_grantable
               FROM pg_catalog.aclexplode(acl) a
              WHERE a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
                AND a.grantee OPERATOR(pg_catalog.<>) owner LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION @extschema@.inventory_changes(bigint, integer) TO %s%s',
                                  CASE WHEN g.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                                       ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(g.grantee)) END,
                                  CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
END
$$;

/*
 * 3. Item operations: on_hand_delta and expect_on_hand/expect_available
 * (compare-and-set).  An item that does not apply (conflict,
 * out_of_range) is recorded in the batch's history row, in a column added
 * last, as a fresh install has it; the view shows it and skipped, appended
 * by CREATE OR REPLACE VIEW so that the grants on it stay.
 */
ALTER TABLE @extschema@.inventory_batch_history ADD COLUMN rejected jsonb;
COMMENT ON COLUMN @extschema@.inventory_batch_history.rejected IS
    'Items not applied because their expect_on_hand or expect_available differed from the row (outcome conflict) or their on_hand would be out of range (outcome out_of_range): [{"item", "sku", "warehouse_uuid", "outcome", "field", "expected", "actual", "result"}], in item order';
CREATE OR REPLACE VIEW @extschema@.inventory_batches AS
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


/*
 * 4. Reading stock: the row type of inventory_get (the functions are in
 * the generated block below).
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
 * 5. Expiring holds: when the worker releases a reservation (NULL: never),
 * an index on the holds that expire, and inventory_reserve's new last
 * parameter expires_at.  A new signature: a placeholder of the new
 * function takes over the grants of the 1.2 one (an application's EXECUTE
 * survives the update), the 1.2 one is dropped, and the generated part
 * below gives the placeholder its body (CREATE OR REPLACE keeps grants).
 */
ALTER TABLE @extschema@.inventory_reservations ADD COLUMN expires_at timestamptz;
CREATE INDEX inventory_reservations_expires_idx
    ON @extschema@.inventory_reservations (expires_at)
    WHERE expires_at IS NOT NULL;
COMMENT ON COLUMN @extschema@.inventory_reservations.expires_at IS
    'When the worker releases this hold (ledger source expire); NULL: it holds until released or fulfilled';
COMMENT ON COLUMN @extschema@.inventory_ledger.source IS
    'adjust (a queued item), reserve, release, fulfill (order functions), transfer, transfer_receive, transfer_cancel (transfer functions), expire (a hold released by the worker at its expires_at), reservations (a direct change of inventory_reservations), direct (any other write to inventory_levels)';
CREATE FUNCTION @extschema@.inventory_reserve(
    order_ref text, sku text, warehouse_uuid uuid, quantity bigint,
    line_ref text DEFAULT NULL, allow_oversell boolean DEFAULT true,
    expires_at timestamptz DEFAULT NULL)
    RETURNS @extschema@.inventory_levels
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
    AS 'SELECT NULL::@extschema@.inventory_levels';
REVOKE ALL ON FUNCTION @extschema@.inventory_reserve(text, text, uuid, bigint, text, boolean, timestamptz) FROM PUBLIC;
DO $$
DECLARE
    g record;
BEGIN
    FOR g IN SELECT a.grantee, a.is_grantable
               FROM pg_catalog.pg_proc p
              CROSS JOIN LATERAL pg_catalog.aclexplode(p.proacl) a
              WHERE p.oid OPERATOR(pg_catalog.=) '@extschema@.inventory_reserve(text, text, uuid, bigint, text, boolean)'::pg_catalog.regprocedure
                AND a.grantee OPERATOR(pg_catalog.<>) p.proowner
                AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION @extschema@.inventory_reserve(text, text, uuid, bigint, text, boolean, timestamptz) TO %s%s',
                                  CASE WHEN g.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                                       ELSE g.grantee::pg_catalog.regrole::pg_catalog.text END,
                                  CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
END
$$;
DROP FUNCTION @extschema@.inventory_reserve(text, text, uuid, bigint, text, boolean);

-- BEGIN generated by tools/update-functions
CREATE OR REPLACE FUNCTION inventory_internal.inventory_levels_ledger()
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
    rows_before inventory.inventory_levels[];
    rows_after inventory.inventory_levels[];
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
        SELECT pg_catalog.array_agg(n::inventory.inventory_levels) INTO rows_after
          FROM new_rows n;
    ELSIF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
        SELECT pg_catalog.array_agg(o::inventory.inventory_levels) INTO rows_before
          FROM old_rows o;
    ELSE
        SELECT pg_catalog.array_agg(o::inventory.inventory_levels),
               pg_catalog.array_agg(n::inventory.inventory_levels)
          INTO rows_before, rows_after
          FROM new_rows n
          JOIN old_rows o ON o.sku OPERATOR(pg_catalog.=) n.sku
                         AND o.warehouse_uuid OPERATOR(pg_catalog.=) n.warehouse_uuid;
    END IF;
    -- One ledger row for each pair whose on_hand, reserved or incoming
    -- differs, in key order.  The two unnest() run in lockstep, the shorter padded
    -- with NULLs: a row that is not there counts as zeros.
    INSERT INTO inventory.inventory_ledger
    SELECT pg_catalog.nextval('inventory.inventory_ledger_id_seq'::pg_catalog.regclass),
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

CREATE OR REPLACE FUNCTION inventory_internal.inventory_note_expiry(expires_at timestamptz)
    RETURNS void
    LANGUAGE c
    VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_note_expiry';

CREATE OR REPLACE FUNCTION inventory_internal.inventory_check_expires_at(expires_at timestamptz)
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

CREATE OR REPLACE FUNCTION inventory.inventory_reserve(
    order_ref text, sku text, warehouse_uuid uuid, quantity bigint,
    line_ref text DEFAULT NULL, allow_oversell boolean DEFAULT true,
    expires_at timestamptz DEFAULT NULL)
    RETURNS inventory.inventory_levels
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
    lvl inventory.inventory_levels;
    archived boolean;
BEGIN
    PERFORM inventory_internal.inventory_check_order_args(order_ref, sku, warehouse_uuid, quantity, true);
    PERFORM inventory_internal.inventory_check_order_refs(order_ref, line_ref, sku);
    IF allow_oversell IS NULL THEN
        RAISE EXCEPTION 'allow_oversell must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM inventory_internal.inventory_check_expires_at(expires_at);
    SELECT w.archived INTO archived FROM inventory.inventory_warehouses w
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
    INSERT INTO inventory.inventory_levels AS l (sku, warehouse_uuid, on_hand)
    VALUES (inventory_reserve.sku, inventory_reserve.warehouse_uuid, 0)
    ON CONFLICT ON CONSTRAINT inventory_levels_pkey DO NOTHING;
    SELECT * INTO lvl FROM inventory.inventory_levels l
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

    INSERT INTO inventory.inventory_reservations AS r
           (order_ref, line_ref, sku, warehouse_uuid, quantity, expires_at)
    VALUES (inventory_reserve.order_ref, inventory_reserve.line_ref, inventory_reserve.sku,
            inventory_reserve.warehouse_uuid, inventory_reserve.quantity, inventory_reserve.expires_at)
    ON CONFLICT ON CONSTRAINT inventory_reservations_order_line_key
    DO UPDATE SET quantity = r.quantity OPERATOR(pg_catalog.+) excluded.quantity,
                  expires_at = excluded.expires_at;
    IF expires_at IS NOT NULL THEN
        PERFORM inventory_internal.inventory_note_expiry(expires_at);
    END IF;

    SELECT * INTO lvl FROM inventory.inventory_levels l
     WHERE l.sku OPERATOR(pg_catalog.=) inventory_reserve.sku
       AND l.warehouse_uuid OPERATOR(pg_catalog.=) inventory_reserve.warehouse_uuid;
    RETURN lvl;
END
$$;

CREATE OR REPLACE FUNCTION inventory.inventory_extend_hold(
    order_ref text, sku text, warehouse_uuid uuid, expires_at timestamptz,
    line_ref text DEFAULT NULL)
    RETURNS SETOF inventory.inventory_reservations
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
    PERFORM FROM inventory.inventory_levels l
     WHERE l.sku OPERATOR(pg_catalog.=) inventory_extend_hold.sku
       AND l.warehouse_uuid OPERATOR(pg_catalog.=) inventory_extend_hold.warehouse_uuid
       FOR NO KEY UPDATE;
    RETURN QUERY
    WITH changed AS (
        UPDATE inventory.inventory_reservations r
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

CREATE OR REPLACE FUNCTION inventory_internal.inventory_expire_holds(max_holds integer DEFAULT 1000)
    RETURNS integer
    LANGUAGE c
    VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_expire_holds';

CREATE OR REPLACE FUNCTION inventory_internal.inventory_check_transfer_args(
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
        SELECT w.archived INTO archived FROM inventory.inventory_warehouses w
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
END
$$;

CREATE OR REPLACE FUNCTION inventory_internal.inventory_lock_transfer_rows(
    sku text, from_warehouse uuid, to_warehouse uuid)
    RETURNS inventory.inventory_levels[]
    LANGUAGE plpgsql
    VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    wh uuid;
    lvl inventory.inventory_levels;
    src inventory.inventory_levels;
    dst inventory.inventory_levels;
BEGIN
    FOR attempt IN 1..3 LOOP
        BEGIN
            FOREACH wh IN ARRAY CASE WHEN from_warehouse OPERATOR(pg_catalog.<) to_warehouse
                                     THEN ARRAY[from_warehouse, to_warehouse]
                                     ELSE ARRAY[to_warehouse, from_warehouse] END LOOP
                INSERT INTO inventory.inventory_levels AS l (sku, warehouse_uuid, on_hand)
                VALUES (inventory_lock_transfer_rows.sku, wh, 0)
                ON CONFLICT ON CONSTRAINT inventory_levels_pkey DO NOTHING;
                SELECT * INTO lvl FROM inventory.inventory_levels l
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

CREATE OR REPLACE FUNCTION inventory_internal.inventory_open_transfer(transfer_id bigint, verb text)
    RETURNS inventory.inventory_transfers
    LANGUAGE plpgsql
    VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    t inventory.inventory_transfers;
BEGIN
    IF transfer_id IS NULL THEN
        RAISE EXCEPTION 'transfer_id must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- its keys never change: read them unlocked, lock the level rows in
    -- key order, then the transfer row, and look at its state again
    SELECT * INTO t FROM inventory.inventory_transfers x
     WHERE x.id OPERATOR(pg_catalog.=) transfer_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'inventory transfer % does not exist', transfer_id
            USING ERRCODE = 'undefined_object',
                  DETAIL = pg_catalog.format('No transfer has this id. Nothing was %s.', verb);
    END IF;
    PERFORM inventory_internal.inventory_lock_transfer_rows(t.sku, t.from_warehouse, t.to_warehouse);
    SELECT * INTO t FROM inventory.inventory_transfers x
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

CREATE OR REPLACE FUNCTION inventory.inventory_transfer(
    sku text, from_warehouse uuid, to_warehouse uuid, quantity bigint,
    reference text DEFAULT NULL, in_transit boolean DEFAULT false,
    allow_oversell boolean DEFAULT false)
    RETURNS inventory.inventory_transfers
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
    rows inventory.inventory_levels[];
    src inventory.inventory_levels;
    t inventory.inventory_transfers;
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

    t.id := pg_catalog.nextval('inventory.inventory_transfers_id_seq'::pg_catalog.regclass);
    PERFORM pg_catalog.set_config('inventory.change_transfer', t.id::text, true);
    PERFORM pg_catalog.set_config('inventory.change_reason', COALESCE(reference, ''), true);
    -- one statement, so the ledger trigger writes both rows in key order
    UPDATE inventory.inventory_levels AS l
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

    INSERT INTO inventory.inventory_transfers AS x
           (id, sku, from_warehouse, to_warehouse, quantity, received, state, reference, created_by)
    VALUES (t.id, inventory_transfer.sku, from_warehouse, to_warehouse, quantity,
            CASE WHEN in_transit THEN 0 ELSE quantity END,
            CASE WHEN in_transit THEN 'in_transit' ELSE 'done' END,
            reference, inventory_internal.inventory_outer_role())
    RETURNING * INTO t;
    RETURN t;
END
$$;

CREATE OR REPLACE FUNCTION inventory.inventory_receive_transfer(transfer_id bigint, quantity bigint DEFAULT NULL)
    RETURNS inventory.inventory_transfers
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
    t inventory.inventory_transfers;
    dst inventory.inventory_levels;
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
    SELECT * INTO dst FROM inventory.inventory_levels l
     WHERE l.sku OPERATOR(pg_catalog.=) t.sku
       AND l.warehouse_uuid OPERATOR(pg_catalog.=) t.to_warehouse;
    IF dst.incoming OPERATOR(pg_catalog.<) q THEN
        RAISE EXCEPTION 'cannot receive % of inventory transfer %: the destination''s incoming is only %', q, t.id, dst.incoming
            USING ERRCODE = 'IN004',
                  DETAIL = 'The level row''s incoming was changed by other means than the transfer functions. Nothing was received.',
                  HINT = 'SELECT * FROM inventory_verify() lists the rows whose incoming differs from what their transfers carry.';
    END IF;
    UPDATE inventory.inventory_levels AS l
       SET on_hand = l.on_hand OPERATOR(pg_catalog.+) q,
           incoming = l.incoming OPERATOR(pg_catalog.-) q
     WHERE l.sku OPERATOR(pg_catalog.=) t.sku
       AND l.warehouse_uuid OPERATOR(pg_catalog.=) t.to_warehouse;
    UPDATE inventory.inventory_transfers AS x
       SET received = x.received OPERATOR(pg_catalog.+) q,
           state = CASE WHEN x.remaining OPERATOR(pg_catalog.=) q THEN 'received' ELSE 'in_transit' END,
           updated_at = pg_catalog.now()
     WHERE x.id OPERATOR(pg_catalog.=) t.id
    RETURNING * INTO t;
    RETURN t;
END
$$;

CREATE OR REPLACE FUNCTION inventory.inventory_cancel_transfer(transfer_id bigint)
    RETURNS inventory.inventory_transfers
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
    t inventory.inventory_transfers;
    dst inventory.inventory_levels;
BEGIN
    t := inventory_internal.inventory_open_transfer(transfer_id, 'cancelled');
    SELECT * INTO dst FROM inventory.inventory_levels l
     WHERE l.sku OPERATOR(pg_catalog.=) t.sku
       AND l.warehouse_uuid OPERATOR(pg_catalog.=) t.to_warehouse;
    IF dst.incoming OPERATOR(pg_catalog.<) t.remaining THEN
        RAISE EXCEPTION 'cannot cancel inventory transfer %: the destination''s incoming is only %', t.id, dst.incoming
            USING ERRCODE = 'IN004',
                  DETAIL = pg_catalog.format('%s is still in transit, but the level row''s incoming was changed by other means than the transfer functions. Nothing was cancelled.', t.remaining),
                  HINT = 'SELECT * FROM inventory_verify() lists the rows whose incoming differs from what their transfers carry.';
    END IF;
    UPDATE inventory.inventory_levels AS l
       SET on_hand = l.on_hand OPERATOR(pg_catalog.+)
                     CASE WHEN l.warehouse_uuid OPERATOR(pg_catalog.=) t.from_warehouse
                          THEN t.remaining ELSE 0 END,
           incoming = l.incoming OPERATOR(pg_catalog.-)
                      CASE WHEN l.warehouse_uuid OPERATOR(pg_catalog.=) t.to_warehouse
                           THEN t.remaining ELSE 0 END
     WHERE l.sku OPERATOR(pg_catalog.=) t.sku
       AND l.warehouse_uuid OPERATOR(pg_catalog.=) ANY (ARRAY[t.from_warehouse, t.to_warehouse]);
    UPDATE inventory.inventory_transfers AS x
       SET cancelled = x.cancelled OPERATOR(pg_catalog.+) x.remaining,
           state = 'cancelled',
           updated_at = pg_catalog.now()
     WHERE x.id OPERATOR(pg_catalog.=) t.id
    RETURNING * INTO t;
    RETURN t;
END
$$;

CREATE OR REPLACE FUNCTION inventory.inventory_changes(after bigint DEFAULT 0, max_rows integer DEFAULT 1000)
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
      FROM inventory.inventory_ledger_id_seq s;
    IF after OPERATOR(pg_catalog.>) issued THEN
        RAISE EXCEPTION 'change cursor % is beyond the last change of this database', after
            USING ERRCODE = 'IN003',
                  DETAIL = pg_catalog.format('The largest change id issued here is %s. The cursor was read from another database, or before the extension was dropped and created again (change ids then start again at 1), or from a primary whose last changes were lost in a failover.', issued),
                  HINT = 'Start the consumer again from cursor 0, sending every change it reads to the listings again; keep one cursor per database.';
    END IF;
    RETURN QUERY
        SELECT l.id, l.at, l.sku::text, l.warehouse_uuid, l.available_after, l.available_before,
               l.on_hand_after, l.reserved_after, l.source, l.incoming_after
          FROM inventory.inventory_ledger l
         WHERE l.id OPERATOR(pg_catalog.>) after
           AND l.id OPERATOR(pg_catalog.<=) horizon
           AND (l.available_before OPERATOR(pg_catalog.<>) l.available_after
                OR l.incoming_before IS DISTINCT FROM l.incoming_after)
         ORDER BY l.id
         LIMIT max_rows;
END
$$;

CREATE OR REPLACE FUNCTION inventory.inventory_batch_status(batch bigint)
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
    q inventory.inventory_queue;
    h inventory.inventory_batch_history;
BEGIN
    SELECT * INTO q FROM inventory.inventory_queue x WHERE x.batch_id OPERATOR(pg_catalog.=) batch;
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
    SELECT * INTO h FROM inventory.inventory_batch_history x WHERE x.batch_id OPERATOR(pg_catalog.=) batch;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'inventory batch % does not exist', batch
            USING ERRCODE = 'undefined_object',
                  DETAIL = 'No queued, applied or failed batch has this id.';
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
    RETURN QUERY
        WITH outcomes AS (
            SELECT l.item, l.sku::text AS sku, l.warehouse_uuid, 'applied'::text AS outcome, NULL::text AS reason,
                   l.on_hand_before, l.on_hand_after, l.reserved_before, l.reserved_after,
                   l.available_before, l.available_after
              FROM inventory.inventory_ledger l
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

CREATE OR REPLACE FUNCTION inventory.inventory_verify()
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
      FROM inventory.inventory_levels l
     WHERE l.available OPERATOR(pg_catalog.<>) (l.on_hand OPERATOR(pg_catalog.-) l.reserved)
    UNION ALL
    -- reserved = sum of open reservations
    SELECT 'reserved', COALESCE(l.sku, r.sku)::text, COALESCE(l.warehouse_uuid, r.warehouse_uuid),
           pg_catalog.format('reserved is %s, open reservations sum to %s',
                             COALESCE(l.reserved, 0), COALESCE(r.total, 0))
      FROM inventory.inventory_levels l
      FULL JOIN (SELECT x.sku, x.warehouse_uuid, pg_catalog.sum(x.quantity) AS total
                   FROM inventory.inventory_reservations x GROUP BY 1, 2) r
        ON r.sku OPERATOR(pg_catalog.=) l.sku AND r.warehouse_uuid OPERATOR(pg_catalog.=) l.warehouse_uuid
     WHERE COALESCE(l.reserved, 0) OPERATOR(pg_catalog.<>) COALESCE(r.total, 0)
    UNION ALL
    -- incoming = what the transfers in transit to the row still carry
    SELECT 'incoming', COALESCE(l.sku, t.sku)::text, COALESCE(l.warehouse_uuid, t.to_warehouse),
           pg_catalog.format('incoming is %s, transfers in transit carry %s',
                             COALESCE(l.incoming, 0), COALESCE(t.total, 0))
      FROM (SELECT x.sku, x.warehouse_uuid, x.incoming FROM inventory.inventory_levels x
             WHERE x.incoming OPERATOR(pg_catalog.<>) 0) l
      FULL JOIN (SELECT x.sku, x.to_warehouse, pg_catalog.sum(x.remaining) AS total
                   FROM inventory.inventory_transfers x
                  WHERE x.state OPERATOR(pg_catalog.=) 'in_transit' GROUP BY 1, 2) t
        ON t.sku OPERATOR(pg_catalog.=) l.sku AND t.to_warehouse OPERATOR(pg_catalog.=) l.warehouse_uuid
     WHERE COALESCE(l.incoming, 0) OPERATOR(pg_catalog.<>) COALESCE(t.total, 0)
    UNION ALL
    -- replaying the ledger gives every level row: its last row's after values
    SELECT 'ledger', COALESCE(l.sku, g.sku)::text, COALESCE(l.warehouse_uuid, g.warehouse_uuid),
           pg_catalog.format('level row has on_hand %s, reserved %s; the ledger ends at on_hand %s, reserved %s',
                             COALESCE(l.on_hand, 0), COALESCE(l.reserved, 0),
                             COALESCE(g.on_hand_after, 0), COALESCE(g.reserved_after, 0))
      FROM inventory.inventory_levels l
      FULL JOIN (SELECT DISTINCT ON (x.sku, x.warehouse_uuid) x.sku, x.warehouse_uuid,
                        x.on_hand_after, x.reserved_after
                   FROM inventory.inventory_ledger x
                  ORDER BY x.sku, x.warehouse_uuid, x.id DESC) g
        ON g.sku OPERATOR(pg_catalog.=) l.sku AND g.warehouse_uuid OPERATOR(pg_catalog.=) l.warehouse_uuid
     WHERE COALESCE(l.on_hand, 0) OPERATOR(pg_catalog.<>) COALESCE(g.on_hand_after, 0)
        OR COALESCE(l.reserved, 0) OPERATOR(pg_catalog.<>) COALESCE(g.reserved_after, 0)
    UNION ALL
    -- ... and incoming: the key's last row that changed it (0 without one)
    SELECT 'ledger', COALESCE(l.sku, g.sku)::text, COALESCE(l.warehouse_uuid, g.warehouse_uuid),
           pg_catalog.format('level row has incoming %s; the ledger ends at incoming %s',
                             COALESCE(l.incoming, 0), COALESCE(g.incoming_after, 0))
      FROM (SELECT x.sku, x.warehouse_uuid, x.incoming FROM inventory.inventory_levels x
             WHERE x.incoming OPERATOR(pg_catalog.<>) 0) l
      FULL JOIN (SELECT DISTINCT ON (x.sku, x.warehouse_uuid) x.sku, x.warehouse_uuid, x.incoming_after
                   FROM inventory.inventory_ledger x
                  WHERE x.incoming_after IS NOT NULL
                  ORDER BY x.sku, x.warehouse_uuid, x.id DESC) g
        ON g.sku OPERATOR(pg_catalog.=) l.sku AND g.warehouse_uuid OPERATOR(pg_catalog.=) l.warehouse_uuid
     WHERE COALESCE(l.incoming, 0) OPERATOR(pg_catalog.<>) COALESCE(g.incoming_after, 0)
    UNION ALL
    -- each ledger row starts where the key's previous one ended
    SELECT 'ledger chain', c.sku::text, c.warehouse_uuid,
           pg_catalog.format('ledger row %s starts at on_hand %s, reserved %s; the previous row ended at %s, %s',
                             c.id, c.on_hand_before, c.reserved_before, c.prev_on_hand, c.prev_reserved)
      FROM (SELECT x.*, pg_catalog.lag(x.on_hand_after, 1, 0::bigint) OVER w AS prev_on_hand,
                   pg_catalog.lag(x.reserved_after, 1, 0::bigint) OVER w AS prev_reserved
              FROM inventory.inventory_ledger x
            WINDOW w AS (PARTITION BY x.sku, x.warehouse_uuid ORDER BY x.id)) c
     WHERE c.on_hand_before OPERATOR(pg_catalog.<>) c.prev_on_hand
        OR c.reserved_before OPERATOR(pg_catalog.<>) c.prev_reserved
    UNION ALL
    -- ... and, among the rows that changed incoming, incoming
    SELECT 'ledger chain', c.sku::text, c.warehouse_uuid,
           pg_catalog.format('ledger row %s starts at incoming %s; the previous row that changed it ended at %s',
                             c.id, c.incoming_before, c.prev_incoming)
      FROM (SELECT x.*, pg_catalog.lag(x.incoming_after, 1, 0::bigint) OVER w AS prev_incoming
              FROM inventory.inventory_ledger x
             WHERE x.incoming_after IS NOT NULL
            WINDOW w AS (PARTITION BY x.sku, x.warehouse_uuid ORDER BY x.id)) c
     WHERE c.incoming_before OPERATOR(pg_catalog.<>) c.prev_incoming
$$;

CREATE OR REPLACE FUNCTION inventory.inventory_get(
    sku text DEFAULT NULL,
    warehouse_uuid uuid DEFAULT NULL,
    created_at_min timestamptz DEFAULT NULL,
    created_at_max timestamptz DEFAULT NULL,
    updated_at_min timestamptz DEFAULT NULL,
    updated_at_max timestamptz DEFAULT NULL,
    "limit" integer DEFAULT 100,
    cursor text DEFAULT NULL,
    page integer DEFAULT NULL)
    RETURNS SETOF inventory.inventory_stock
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
         ' FROM inventory.inventory_levels l WHERE true';
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
              (inventory_get.page OPERATOR(pg_catalog.-) 1)::bigint OPERATOR(pg_catalog.*) lim;
END
$$;

CREATE OR REPLACE FUNCTION inventory.inventory_get_json(
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
      FROM inventory.inventory_get(inventory_get_json.sku, inventory_get_json.warehouse_uuid,
                                     inventory_get_json.created_at_min, inventory_get_json.created_at_max,
                                     inventory_get_json.updated_at_min, inventory_get_json.updated_at_max,
                                     inventory_get_json."limit", inventory_get_json.cursor,
                                     inventory_get_json.page) WITH ORDINALITY AS g;
    -- a full page: is there a row after it?
    IF row_count OPERATOR(pg_catalog.<) COALESCE(inventory_get_json."limit", 100)
       OR NOT EXISTS (SELECT FROM inventory.inventory_get(inventory_get_json.sku, inventory_get_json.warehouse_uuid,
                                                           inventory_get_json.created_at_min, inventory_get_json.created_at_max,
                                                           inventory_get_json.updated_at_min, inventory_get_json.updated_at_max,
                                                           1, last_cursor, NULL)) THEN
        last_cursor := NULL;
    END IF;
    RETURN pg_catalog.jsonb_build_object('inventory', rows_json, 'next_cursor', last_cursor);
END
$$;

COMMENT ON FUNCTION inventory_internal.inventory_levels_ledger() IS
    'AFTER statement trigger: a ledger row for every level row whose on_hand, reserved or incoming changed';

COMMENT ON FUNCTION inventory_internal.inventory_note_expiry(timestamptz) IS
    'Tells the worker at commit that a hold expires at expires_at (internal)';

COMMENT ON FUNCTION inventory_internal.inventory_check_expires_at(timestamptz) IS
    'Raises the error of a hold''s expires_at that is not NULL, finite and after now() (internal)';

COMMENT ON FUNCTION inventory.inventory_reserve(text, text, uuid, bigint, text, boolean, timestamptz) IS
    'Reserve stock for an order line; with allow_oversell => false, fail (SQLSTATE IN001) rather than let available drop below zero; with expires_at, the worker releases the hold then';

COMMENT ON FUNCTION inventory.inventory_extend_hold(text, text, uuid, timestamptz, text) IS
    'Set when an order''s holds of one key (or one line) expire, NULL for never; returns the reservations changed';

COMMENT ON FUNCTION inventory_internal.inventory_expire_holds(integer) IS
    'Releases up to max_holds expired holds now, as the worker does; returns how many (internal)';

COMMENT ON FUNCTION inventory_internal.inventory_check_transfer_args(text, uuid, uuid, bigint, text, boolean, boolean) IS
    'Raises the error of inventory_transfer''s arguments that are null, out of bounds or name an unusable warehouse (internal)';

COMMENT ON FUNCTION inventory_internal.inventory_lock_transfer_rows(text, uuid, uuid) IS
    'Creates if missing and locks, in key order, the two level rows of a transfer; returns [source, destination] (internal)';

COMMENT ON FUNCTION inventory_internal.inventory_open_transfer(bigint, text) IS
    'Locks the level rows and the row of a transfer in transit, for inventory_receive_transfer and inventory_cancel_transfer (internal)';

COMMENT ON FUNCTION inventory.inventory_transfer(text, uuid, uuid, bigint, text, boolean, boolean) IS
    'Move stock between warehouses: at once, or in transit (on_hand leaves now, arrives as incoming); fails (SQLSTATE IN001) when the source has less available unless allow_oversell => true; returns the transfer';

COMMENT ON FUNCTION inventory.inventory_receive_transfer(bigint, bigint) IS
    'Receive quantity (NULL: all still in transit) of a transfer: the destination''s incoming turns into on_hand; returns the transfer';

COMMENT ON FUNCTION inventory.inventory_cancel_transfer(bigint) IS
    'Cancel what is still in transit of a transfer: it goes back to the source''s on_hand and off the destination''s incoming; returns the transfer';

COMMENT ON FUNCTION inventory.inventory_changes(bigint, integer) IS
    'Changes of available or incoming after a cursor (the last change_id seen), in order, none ever skipped (incoming is NULL when the change left it as it was); LISTEN inventory_changes to be woken';

COMMENT ON FUNCTION inventory.inventory_batch_status(bigint) IS
    'State, counts and times of a batch, and each item''s outcome (queued, applied, skipped_missing, conflict, out_of_range, failed) with before/after values of the applied ones';

COMMENT ON FUNCTION inventory.inventory_verify() IS
    'Rows that drift: available <> on_hand - reserved, reserved <> sum of reservations, incoming <> what transfers in transit carry, levels that the ledger does not replay to; no rows means consistent';

COMMENT ON FUNCTION inventory.inventory_get(text, uuid, timestamptz, timestamptz, timestamptz, timestamptz, integer, text, integer) IS
    'GET /inventory: level rows in (sku, warehouse_uuid) order, filtered by sku, warehouse and created/updated times, at most 100 a call; page with the last row''s cursor (never skips or repeats a row) or by page';

COMMENT ON FUNCTION inventory.inventory_get_json(text, uuid, timestamptz, timestamptz, timestamptz, timestamptz, integer, text, integer) IS
    'GET /inventory as jsonb: {"inventory": [rows with Sellbrite''s field names], "next_cursor": the cursor to pass for the next page, null after the last}';

REVOKE ALL ON FUNCTION inventory_internal.inventory_note_expiry(timestamptz) FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory_internal.inventory_check_expires_at(timestamptz) FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory.inventory_reserve(text, text, uuid, bigint, text, boolean, timestamptz) FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory.inventory_extend_hold(text, text, uuid, timestamptz, text) FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory_internal.inventory_expire_holds(integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory_internal.inventory_check_transfer_args(text, uuid, uuid, bigint, text, boolean, boolean) FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory_internal.inventory_lock_transfer_rows(text, uuid, uuid) FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory_internal.inventory_open_transfer(bigint, text) FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory.inventory_transfer(text, uuid, uuid, bigint, text, boolean, boolean) FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory.inventory_receive_transfer(bigint, bigint) FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory.inventory_cancel_transfer(bigint) FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory.inventory_get(text, uuid, timestamptz, timestamptz, timestamptz, timestamptz, integer, text, integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory.inventory_get_json(text, uuid, timestamptz, timestamptz, timestamptz, timestamptz, integer, text, integer) FROM PUBLIC;
-- END generated by tools/update-functions
