/* inventory--1.0--1.1.sql: update the inventory extension from 1.0 to 1.1 */

\echo Use "ALTER EXTENSION inventory UPDATE TO '1.1'" to load this file. \quit

/*
 * Trust, part 3: the ledger trigger skips exactly the apply's own
 * statements (not every write while inventory.change_source = 'adjust'),
 * so that writes made by triggers the owner added during the apply get
 * their ledger rows.
 */
/*
 * Whether the statement firing the ledger trigger is the apply's own (C;
 * see statement_origin.c).
 */
CREATE FUNCTION inventory.inventory_apply_statement()
    RETURNS boolean
    LANGUAGE c
    VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_apply_statement';
COMMENT ON FUNCTION inventory.inventory_apply_statement() IS
    'True while a statement the apply runs itself fires its triggers (internal)';

/*
 * Ledger rows for writes to inventory_levels.  The worker and
 * inventory_process_queue write the rows of queued items themselves (one
 * per item), so their own statements are skipped here; a write that a
 * trigger added by the owner makes while they apply is recorded like any
 * direct write.  The source and order come from
 * inventory.change_source/_order/_line, set by the order functions;
 * inventory.change_reason is the description.
 */
CREATE OR REPLACE FUNCTION inventory.inventory_levels_ledger()
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
BEGIN
    -- Load the library first: until it is loaded, inventory.* settings are
    -- placeholders that any role could have set; loading it checks them.
    PERFORM inventory.inventory_outer_role();
    src := COALESCE(NULLIF(pg_catalog.current_setting('inventory.change_source', true), ''),
                    NULLIF(pg_catalog.current_setting('inventory.change_via', true), ''),
                    'direct');
    ord := NULLIF(pg_catalog.current_setting('inventory.change_order', true), '');
    line := NULLIF(pg_catalog.current_setting('inventory.change_line', true), '');
    reason := NULLIF(pg_catalog.current_setting('inventory.change_reason', true), '');
    -- the apply's own writes, and rows being restored, are already recorded
    IF inventory.inventory_apply_statement()
       OR pg_catalog.current_setting('inventory.restoring', true) OPERATOR(pg_catalog.=) 'on' THEN
        RETURN NULL;
    END IF;
    -- a write made while the apply runs (by a trigger the owner added) is
    -- recorded as if made outside it
    IF src OPERATOR(pg_catalog.=) 'adjust' THEN
        src := COALESCE(NULLIF(pg_catalog.current_setting('inventory.change_via', true), ''),
                        'direct');
    END IF;
    PERFORM inventory.inventory_ledger_reserve_ids();
    IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
        INSERT INTO inventory.inventory_ledger
        SELECT pg_catalog.nextval('inventory.inventory_ledger_id_seq'::pg_catalog.regclass),
               pg_catalog.now(), n.sku, n.warehouse_uuid, src, NULL, NULL, ord, line, reason,
               inventory.inventory_outer_role(), pg_catalog.pg_current_xact_id(),
               0, n.on_hand, 0, n.reserved, 0, n.available
          FROM new_rows n
         WHERE n.on_hand OPERATOR(pg_catalog.<>) 0 OR n.reserved OPERATOR(pg_catalog.<>) 0
         ORDER BY n.sku, n.warehouse_uuid;
    ELSIF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
        INSERT INTO inventory.inventory_ledger
        SELECT pg_catalog.nextval('inventory.inventory_ledger_id_seq'::pg_catalog.regclass),
               pg_catalog.now(), n.sku, n.warehouse_uuid, src, NULL, NULL, ord, line, reason,
               inventory.inventory_outer_role(), pg_catalog.pg_current_xact_id(),
               o.on_hand, n.on_hand, o.reserved, n.reserved, o.available, n.available
          FROM new_rows n
          JOIN old_rows o ON o.sku OPERATOR(pg_catalog.=) n.sku
                         AND o.warehouse_uuid OPERATOR(pg_catalog.=) n.warehouse_uuid
         WHERE o.on_hand OPERATOR(pg_catalog.<>) n.on_hand
            OR o.reserved OPERATOR(pg_catalog.<>) n.reserved
         ORDER BY n.sku, n.warehouse_uuid;
    ELSE
        INSERT INTO inventory.inventory_ledger
        SELECT pg_catalog.nextval('inventory.inventory_ledger_id_seq'::pg_catalog.regclass),
               pg_catalog.now(), o.sku, o.warehouse_uuid, src, NULL, NULL, ord, line, reason,
               inventory.inventory_outer_role(), pg_catalog.pg_current_xact_id(),
               o.on_hand, 0, o.reserved, 0, o.available, 0
          FROM old_rows o
         WHERE o.on_hand OPERATOR(pg_catalog.<>) 0 OR o.reserved OPERATOR(pg_catalog.<>) 0
         ORDER BY o.sku, o.warehouse_uuid;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION inventory.inventory_levels_ledger() IS
    'AFTER statement trigger: a ledger row for every level row whose on_hand or reserved changed';
REVOKE ALL ON FUNCTION inventory.inventory_apply_statement() FROM PUBLIC;
