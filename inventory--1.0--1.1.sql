/* inventory--1.0--1.1.sql: update the inventory extension from 1.0 to 1.1 */

\echo Use "ALTER EXTENSION inventory UPDATE TO '1.1'" to load this file. \quit


/*
 * trust-input: one validator for every entry point, short error DETAILs,
 * idempotency keys per role, reservations locking level rows in key order.
 */

-- Idempotency keys belong to the calling role.  Existing keys take the role
-- that queued their batch (inventory_queue or inventory_batch_history
-- queued_by); a key whose batch is in neither gets the empty name, which no
-- role can have: it matches nothing and expires with
-- inventory.idempotency_retention.
ALTER TABLE inventory.inventory_idempotency_keys ADD COLUMN role name;
UPDATE inventory.inventory_idempotency_keys k
   SET role = COALESCE((SELECT q.queued_by FROM inventory.inventory_queue q
                         WHERE q.batch_id OPERATOR(pg_catalog.=) k.batch_id),
                       (SELECT h.queued_by FROM inventory.inventory_batch_history h
                         WHERE h.batch_id OPERATOR(pg_catalog.=) k.batch_id),
                       ''::name);
ALTER TABLE inventory.inventory_idempotency_keys
    ALTER COLUMN role SET NOT NULL,
    DROP CONSTRAINT inventory_idempotency_keys_pkey,
    ADD CONSTRAINT inventory_idempotency_keys_pkey PRIMARY KEY (role, key);
COMMENT ON COLUMN inventory.inventory_idempotency_keys.role IS
    'The role that called inventory_adjust (the outer role, as inventory_outer_role() reports it); each role has its own keys';

-- A new sku of a level row obeys inventory_adjust's rules (the C trigger
-- checks it now).
COMMENT ON FUNCTION inventory.inventory_levels_maintain() IS
    'BEFORE INSERT OR UPDATE trigger: available = on_hand - reserved; writing available sets on_hand; a new sku must obey inventory_adjust''s rules';

-- Reservations: the level rows locked in key order, the level statements
-- written once.
CREATE OR REPLACE FUNCTION inventory.inventory_reservations_sync()
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
    PERFORM inventory.inventory_outer_role();
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
    INSERT INTO inventory.inventory_levels (sku, warehouse_uuid, on_hand)
    SELECT k.sku, k.wh, 0
      FROM ROWS FROM (pg_catalog.unnest(skus), pg_catalog.unnest(whs),
                      pg_catalog.unnest(deltas)) WITH ORDINALITY AS k(sku, wh, delta, ord)
     WHERE k.delta OPERATOR(pg_catalog.>) 0
     ORDER BY k.ord
    ON CONFLICT (sku, warehouse_uuid) DO NOTHING;
    -- Lock the level rows in key order: LockRows is the plan's top node,
    -- so rows are locked as they come out ordered by k.ord (sorted below
    -- it, or kept in the order of the arrays), whatever the join ...
    PERFORM FROM inventory.inventory_levels l
              JOIN ROWS FROM (pg_catalog.unnest(skus), pg_catalog.unnest(whs))
                   WITH ORDINALITY AS k(sku, wh, ord)
                ON l.sku OPERATOR(pg_catalog.=) k.sku
               AND l.warehouse_uuid OPERATOR(pg_catalog.=) k.wh
     ORDER BY k.ord
       FOR NO KEY UPDATE OF l;
    -- ... then change them; they are ours already, so this order is free.
    UPDATE inventory.inventory_levels AS l
       SET reserved = l.reserved OPERATOR(pg_catalog.+) k.delta,
           on_hand = CASE WHEN ship THEN l.on_hand OPERATOR(pg_catalog.+) k.delta ELSE l.on_hand END
      FROM ROWS FROM (pg_catalog.unnest(skus), pg_catalog.unnest(whs),
                      pg_catalog.unnest(deltas)) AS k(sku, wh, delta)
     WHERE l.sku OPERATOR(pg_catalog.=) k.sku
       AND l.warehouse_uuid OPERATOR(pg_catalog.=) k.wh;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION inventory.inventory_reservations_sync() IS
    'AFTER statement trigger: adds the change of reserved quantities, summed per key, to inventory_levels.reserved';

-- Direct writes of reservations obey the order functions' rules.
CREATE FUNCTION inventory.inventory_reservations_check()
    RETURNS trigger
    LANGUAGE c
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_reservations_check';
COMMENT ON FUNCTION inventory.inventory_reservations_check() IS
    'BEFORE INSERT OR UPDATE trigger: sku, order_ref and line_ref obey the rules of the order functions';

CREATE TRIGGER inventory_reservations_check
    BEFORE INSERT OR UPDATE OF order_ref, line_ref, sku ON inventory.inventory_reservations
    FOR EACH ROW EXECUTE FUNCTION inventory.inventory_reservations_check();

-- The order functions' text arguments: the rules of inventory_adjust (C).
CREATE FUNCTION inventory.inventory_check_order_refs(order_ref text, line_ref text, sku text)
    RETURNS void
    LANGUAGE c
    STABLE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_check_order_refs';
COMMENT ON FUNCTION inventory.inventory_check_order_refs(text, text, text) IS
    'Raises the error of an order function''s sku, order_ref or line_ref that inventory_adjust''s rules reject (internal)';

CREATE OR REPLACE FUNCTION inventory.inventory_check_order_args(
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
END
$$;

CREATE OR REPLACE FUNCTION inventory.inventory_reserve(
    order_ref text, sku text, warehouse_uuid uuid, quantity bigint,
    line_ref text DEFAULT NULL, allow_oversell boolean DEFAULT true)
    RETURNS inventory.inventory_levels
    LANGUAGE plpgsql
    VOLATILE CALLED ON NULL INPUT
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET inventory.change_source = 'reserve'
    SET inventory.change_order = ''
    SET inventory.change_line = ''
    AS $$
DECLARE
    lvl inventory.inventory_levels;
    archived boolean;
BEGIN
    PERFORM inventory.inventory_check_order_args(order_ref, sku, warehouse_uuid, quantity, true);
    PERFORM inventory.inventory_check_order_refs(order_ref, line_ref, sku);
    IF allow_oversell IS NULL THEN
        RAISE EXCEPTION 'allow_oversell must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
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
           (order_ref, line_ref, sku, warehouse_uuid, quantity)
    VALUES (inventory_reserve.order_ref, inventory_reserve.line_ref, inventory_reserve.sku,
            inventory_reserve.warehouse_uuid, inventory_reserve.quantity)
    ON CONFLICT ON CONSTRAINT inventory_reservations_order_line_key
    DO UPDATE SET quantity = r.quantity OPERATOR(pg_catalog.+) excluded.quantity;

    SELECT * INTO lvl FROM inventory.inventory_levels l
     WHERE l.sku OPERATOR(pg_catalog.=) inventory_reserve.sku
       AND l.warehouse_uuid OPERATOR(pg_catalog.=) inventory_reserve.warehouse_uuid;
    RETURN lvl;
END
$$;
COMMENT ON FUNCTION inventory.inventory_reserve(text, text, uuid, bigint, text, boolean) IS
    'Reserve stock for an order line; with allow_oversell => false, fail (SQLSTATE IN001) rather than let available drop below zero';

CREATE OR REPLACE FUNCTION inventory.inventory_take_reservation(
    order_ref text, sku text, warehouse_uuid uuid, quantity bigint, line_ref text, verb text)
    RETURNS inventory.inventory_levels
    LANGUAGE plpgsql
    VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    lvl inventory.inventory_levels;
    ids bigint[];
    quantities bigint[];
    total bigint;
    left_to_take bigint;
BEGIN
    PERFORM inventory.inventory_check_order_args(order_ref, sku, warehouse_uuid, quantity, false);
    PERFORM inventory.inventory_check_order_refs(order_ref, line_ref, sku);
    PERFORM pg_catalog.set_config('inventory.change_order', order_ref, true);
    PERFORM pg_catalog.set_config('inventory.change_line', COALESCE(line_ref, ''), true);

    -- The level row first, then the reservations: the order every
    -- function here locks in, so two of them never deadlock.
    SELECT * INTO lvl FROM inventory.inventory_levels l
     WHERE l.sku OPERATOR(pg_catalog.=) inventory_take_reservation.sku
       AND l.warehouse_uuid OPERATOR(pg_catalog.=) inventory_take_reservation.warehouse_uuid
       FOR NO KEY UPDATE;
    -- The order's lines of this key (only line_ref's when given), locked,
    -- oldest first: the rows taken from below, and nothing else.
    SELECT pg_catalog.array_agg(r.id ORDER BY r.created_at, r.id),
           pg_catalog.array_agg(r.quantity ORDER BY r.created_at, r.id),
           pg_catalog.sum(r.quantity)
      INTO ids, quantities, total
      FROM (SELECT x.id, x.quantity, x.created_at FROM inventory.inventory_reservations x
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
        DELETE FROM inventory.inventory_reservations r
         WHERE r.id OPERATOR(pg_catalog.=) ANY (ids);
    ELSE
        left_to_take := quantity;
        FOR i IN 1 .. pg_catalog.array_length(ids, 1) LOOP
            EXIT WHEN left_to_take OPERATOR(pg_catalog.=) 0;
            IF quantities[i] OPERATOR(pg_catalog.<=) left_to_take THEN
                DELETE FROM inventory.inventory_reservations r
                 WHERE r.id OPERATOR(pg_catalog.=) ids[i];
                left_to_take := left_to_take OPERATOR(pg_catalog.-) quantities[i];
            ELSE
                UPDATE inventory.inventory_reservations r
                   SET quantity = r.quantity OPERATOR(pg_catalog.-) left_to_take
                 WHERE r.id OPERATOR(pg_catalog.=) ids[i];
                left_to_take := 0;
            END IF;
        END LOOP;
    END IF;

    SELECT * INTO lvl FROM inventory.inventory_levels l
     WHERE l.sku OPERATOR(pg_catalog.=) inventory_take_reservation.sku
       AND l.warehouse_uuid OPERATOR(pg_catalog.=) inventory_take_reservation.warehouse_uuid;
    RETURN lvl;
END
$$;
COMMENT ON FUNCTION inventory.inventory_take_reservation(text, text, uuid, bigint, text, text) IS
    'Shared body of inventory_release and inventory_fulfill (internal)';

REVOKE ALL ON FUNCTION inventory.inventory_reservations_check() FROM PUBLIC;
REVOKE ALL ON FUNCTION inventory.inventory_check_order_refs(text, text, text) FROM PUBLIC;
