/* inventory--1.3--1.4.sql: update the inventory extension from 1.3 to 1.4 */

\echo Use "ALTER EXTENSION inventory UPDATE TO '1.4'" to load this file. \quit

/*
 * Version 1.4 adds channels with Sellbrite's inventory rules and stock
 * alerts, as feeds the worker derives from the ledger (issue 12).  It
 * adds objects and changes none: the tables, then the functions
 * (generated), then the views and triggers that use them.
 */

/*
 * 1. Trust, checked again before anything in the schemas is used (the
 * same check as inventory--1.2--1.3.sql's; see inventory--1.4.sql).
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
 * 2. Channels and stock alerts: the tables, as the install script's
 * section 11 has them
 * ------------------------------------------------------------------------
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


-- BEGIN generated by tools/update-functions
CREATE OR REPLACE FUNCTION inventory.inventory_channel_quantity(
    available bigint, percent integer, max bigint, min bigint, buffer bigint)
    RETURNS bigint
    LANGUAGE c
    IMMUTABLE PARALLEL SAFE CALLED ON NULL INPUT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_channel_quantity';

CREATE OR REPLACE FUNCTION inventory_internal.inventory_restoring()
    RETURNS boolean
    LANGUAGE c
    VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_restoring';

CREATE OR REPLACE FUNCTION inventory_internal.inventory_note_feed_change()
    RETURNS void
    LANGUAGE c
    VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_note_feed_change';

CREATE OR REPLACE FUNCTION inventory_internal.inventory_channels_changed()
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
        INSERT INTO inventory.inventory_channel_resyncs (channel_uuid) VALUES (NEW.uuid)
            ON CONFLICT (channel_uuid) DO UPDATE SET requested_at = pg_catalog.now();
        PERFORM inventory_internal.inventory_note_feed_change();
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION inventory_internal.inventory_channel_warehouses_changed()
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
        INSERT INTO inventory.inventory_channel_resyncs (channel_uuid)
            SELECT c FROM pg_catalog.unnest(channels) c ORDER BY c
            ON CONFLICT (channel_uuid) DO UPDATE SET requested_at = pg_catalog.now();
        PERFORM inventory_internal.inventory_note_feed_change();
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION inventory_internal.inventory_warehouse_archived()
    RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    INSERT INTO inventory.inventory_warehouse_resyncs (warehouse_uuid) VALUES (NEW.uuid)
        ON CONFLICT (warehouse_uuid) DO UPDATE SET requested_at = pg_catalog.now();
    PERFORM inventory_internal.inventory_note_feed_change();
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION inventory_internal.inventory_stock_alerts_changed()
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

CREATE OR REPLACE FUNCTION inventory_internal.inventory_channel_resync(channels uuid[], every_sku boolean)
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
          FROM inventory.inventory_channels c
         WHERE c.uuid OPERATOR(pg_catalog.=) ANY (channels) AND c.active),
    sums AS (
        SELECT cw.channel_uuid, l.sku, pg_catalog.sum(l.available)::bigint AS available
          FROM ch
          JOIN inventory.inventory_channel_warehouses cw
            ON cw.channel_uuid OPERATOR(pg_catalog.=) ch.uuid
          JOIN inventory.inventory_warehouses w
            ON w.uuid OPERATOR(pg_catalog.=) cw.warehouse_uuid AND NOT w.archived
          JOIN inventory.inventory_levels l
            ON l.warehouse_uuid OPERATOR(pg_catalog.=) cw.warehouse_uuid
         GROUP BY cw.channel_uuid, l.sku),
    listed AS (
        SELECT li.channel_uuid, li.sku, li.quantity
          FROM inventory.inventory_channel_listings li
         WHERE li.channel_uuid IN (SELECT ch.uuid FROM ch)),
    said_rows AS (
        SELECT pg_catalog.nextval('inventory.inventory_channel_feed_id_seq'::pg_catalog.regclass) AS id,
               x.channel_uuid, x.sku, x.available, x.quantity, x.quantity_before
          FROM (SELECT k.channel_uuid, k.sku, k.available, k.quantity_before,
                       inventory.inventory_channel_quantity(k.available, ch.percent, ch.max,
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
        INSERT INTO inventory.inventory_channel_listings AS li
               (channel_uuid, sku, quantity, available, change_id)
        SELECT r.channel_uuid, r.sku, r.quantity, r.available, r.id FROM said_rows r
        ON CONFLICT (channel_uuid, sku) DO UPDATE
           SET quantity = excluded.quantity, available = excluded.available,
               change_id = excluded.change_id),
    feed AS (
        INSERT INTO inventory.inventory_channel_feed
               (id, at, channel_uuid, sku, quantity, quantity_before, available, reason)
        SELECT r.id, pg_catalog.now(), r.channel_uuid, r.sku, r.quantity, r.quantity_before,
               r.available, CASE WHEN every_sku THEN 'rule' ELSE 'stock' END
          FROM said_rows r
        RETURNING channel_uuid)
    SELECT pg_catalog.array_agg(DISTINCT f.channel_uuid) INTO said FROM feed f;
    RETURN said;
END
$$;

CREATE OR REPLACE FUNCTION inventory_internal.inventory_feeds_catch_up(max_changes integer DEFAULT 10000)
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
      FROM inventory.inventory_feed_state s;
    IF COALESCE(cursor_at, 0) OPERATOR(pg_catalog.>=) horizon
       AND COALESCE(pg_catalog.cardinality(rechecks), 0) OPERATOR(pg_catalog.=) 0
       AND COALESCE(pg_catalog.cardinality(channel_rechecks), 0) OPERATOR(pg_catalog.=) 0
       AND NOT EXISTS (SELECT FROM inventory.inventory_channel_resyncs)
       AND NOT EXISTS (SELECT FROM inventory.inventory_warehouse_resyncs)
       AND NOT EXISTS (SELECT FROM inventory.inventory_stock_alerts a WHERE a.pending) THEN
        IF EXISTS (SELECT FROM inventory.inventory_channels c WHERE c.active)
           OR EXISTS (SELECT FROM inventory.inventory_stock_alerts) THEN
            RETURN 'caught_up';
        END IF;
        RETURN 'idle';
    END IF;

    -- one pass at a time (the row is made by the first pass)
    SELECT s.ledger_cursor, s.alert_rechecks, s.channel_rechecks
      INTO cursor_at, rechecks, channel_rechecks
      FROM inventory.inventory_feed_state s FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        INSERT INTO inventory.inventory_feed_state (ledger_cursor, updated_at)
            VALUES (0, pg_catalog.now()) ON CONFLICT (single) DO NOTHING;
        SELECT s.ledger_cursor, s.alert_rechecks, s.channel_rechecks
          INTO cursor_at, rechecks, channel_rechecks
          FROM inventory.inventory_feed_state s FOR UPDATE SKIP LOCKED;
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
      FROM (SELECT c.uuid FROM inventory.inventory_channels c
             WHERE c.active ORDER BY c.uuid FOR KEY SHARE OF c SKIP LOCKED) x;
    live := COALESCE(live, '{}');
    SELECT pg_catalog.array_agg(c.uuid ORDER BY c.uuid) INTO held
      FROM inventory.inventory_channels c
     WHERE c.active AND c.uuid OPERATOR(pg_catalog.<>) ALL (live);
    held := COALESCE(held, '{}');

    -- first the horizon, then (a new statement, a new snapshot) the rows
    horizon := inventory_internal.inventory_ledger_horizon();
    has_channels := pg_catalog.cardinality(live) OPERATOR(pg_catalog.>) 0
        OR pg_catalog.cardinality(held) OPERATOR(pg_catalog.>) 0;
    has_alerts := EXISTS (SELECT FROM inventory.inventory_stock_alerts);
    IF has_channels OR has_alerts THEN
        SELECT pg_catalog.max(f.id) INTO upto
          FROM (SELECT l.id FROM inventory.inventory_ledger l
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
    WITH w AS (DELETE FROM inventory.inventory_warehouse_resyncs d
                WHERE d.warehouse_uuid IN (SELECT x.warehouse_uuid
                                             FROM inventory.inventory_warehouse_resyncs x
                                              FOR UPDATE SKIP LOCKED)
                  AND NOT EXISTS (SELECT FROM inventory.inventory_channel_warehouses cw
                                   WHERE cw.warehouse_uuid OPERATOR(pg_catalog.=) d.warehouse_uuid
                                     AND cw.channel_uuid OPERATOR(pg_catalog.=) ANY (held))
               RETURNING d.warehouse_uuid)
    SELECT pg_catalog.array_agg(w.warehouse_uuid) INTO warehouses FROM w;
    IF warehouses IS NOT NULL THEN
        SELECT pg_catalog.array_agg(DISTINCT cw.channel_uuid) INTO resync
          FROM inventory.inventory_channel_warehouses cw
         WHERE cw.warehouse_uuid OPERATOR(pg_catalog.=) ANY (warehouses)
           AND cw.channel_uuid OPERATOR(pg_catalog.=) ANY (live);
        SELECT pg_catalog.array_agg(DISTINCT l.sku) INTO alert_skus
          FROM inventory.inventory_levels l
         WHERE l.warehouse_uuid OPERATOR(pg_catalog.=) ANY (warehouses);
    END IF;
    WITH r AS (DELETE FROM inventory.inventory_channel_resyncs d
                WHERE d.channel_uuid IN (SELECT x.channel_uuid
                                           FROM inventory.inventory_channel_resyncs x
                                          WHERE x.channel_uuid OPERATOR(pg_catalog.=) ANY (live)
                                             OR NOT EXISTS (SELECT FROM inventory.inventory_channels c
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
              FROM inventory.inventory_ledger l
             WHERE l.id OPERATOR(pg_catalog.>) cursor_at AND l.id OPERATOR(pg_catalog.<=) upto
               AND l.available_before OPERATOR(pg_catalog.<>) l.available_after),
        keys AS (
            SELECT DISTINCT cw.channel_uuid, t.sku
              FROM touched t
              JOIN inventory.inventory_channel_warehouses cw
                ON cw.warehouse_uuid OPERATOR(pg_catalog.=) t.warehouse_uuid
              JOIN inventory.inventory_channels c
                ON c.uuid OPERATOR(pg_catalog.=) cw.channel_uuid AND c.active
             WHERE cw.channel_uuid OPERATOR(pg_catalog.=) ANY (live)),
        computed AS (
            SELECT k.channel_uuid, k.sku, s.available, li.quantity AS quantity_before,
                   inventory.inventory_channel_quantity(s.available, c.percent, c.max,
                                                          c.min, c.buffer) AS quantity
              FROM keys k
              JOIN inventory.inventory_channels c ON c.uuid OPERATOR(pg_catalog.=) k.channel_uuid
             CROSS JOIN LATERAL (
                    SELECT COALESCE(pg_catalog.sum(lv.available), 0)::bigint AS available
                      FROM inventory.inventory_channel_warehouses cw
                      JOIN inventory.inventory_warehouses w
                        ON w.uuid OPERATOR(pg_catalog.=) cw.warehouse_uuid AND NOT w.archived
                      JOIN inventory.inventory_levels lv
                        ON lv.sku OPERATOR(pg_catalog.=) k.sku
                       AND lv.warehouse_uuid OPERATOR(pg_catalog.=) cw.warehouse_uuid
                     WHERE cw.channel_uuid OPERATOR(pg_catalog.=) k.channel_uuid) s
              LEFT JOIN inventory.inventory_channel_listings li
                ON li.channel_uuid OPERATOR(pg_catalog.=) k.channel_uuid
               AND li.sku OPERATOR(pg_catalog.=) k.sku),
        changed AS (
            SELECT pg_catalog.nextval('inventory.inventory_channel_feed_id_seq'::pg_catalog.regclass) AS id,
                   x.channel_uuid, x.sku, x.available, x.quantity, x.quantity_before
              FROM (SELECT * FROM computed cm
                     WHERE cm.quantity IS DISTINCT FROM cm.quantity_before
                     ORDER BY cm.channel_uuid, cm.sku) x),
        listings AS (
            INSERT INTO inventory.inventory_channel_listings AS li
                   (channel_uuid, sku, quantity, available, change_id)
            SELECT r.channel_uuid, r.sku, r.quantity, r.available, r.id FROM changed r
            ON CONFLICT (channel_uuid, sku) DO UPDATE
               SET quantity = excluded.quantity, available = excluded.available,
                   change_id = excluded.change_id),
        feed AS (
            INSERT INTO inventory.inventory_channel_feed
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
              FROM inventory.inventory_ledger l
             WHERE l.id OPERATOR(pg_catalog.>) cursor_at AND l.id OPERATOR(pg_catalog.<=) upto
               AND l.available_before OPERATOR(pg_catalog.<>) l.available_after;
        END IF;
        alert_skus := alert_skus OPERATOR(pg_catalog.||) rechecks;
        SELECT pg_catalog.array_agg(x.ctid) INTO due
          FROM (SELECT a.ctid FROM inventory.inventory_stock_alerts a
                 WHERE a.pending OR a.sku OPERATOR(pg_catalog.=) ANY (alert_skus)
                 ORDER BY a.sku, a.warehouse_uuid
                   FOR NO KEY UPDATE OF a SKIP LOCKED) x;
        SELECT pg_catalog.array_agg(DISTINCT a.sku) INTO skipped
          FROM inventory.inventory_stock_alerts a
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
              FROM inventory.inventory_stock_alerts a
             CROSS JOIN LATERAL (
                    SELECT COALESCE(pg_catalog.sum(l.available), 0)::bigint AS available
                      FROM inventory.inventory_levels l
                      JOIN inventory.inventory_warehouses w
                        ON w.uuid OPERATOR(pg_catalog.=) l.warehouse_uuid
                     WHERE l.sku OPERATOR(pg_catalog.=) a.sku
                       AND CASE WHEN a.warehouse_uuid IS NULL THEN NOT w.archived
                                ELSE l.warehouse_uuid OPERATOR(pg_catalog.=) a.warehouse_uuid END) s
             WHERE a.ctid OPERATOR(pg_catalog.=) ANY (due)),
        reported AS (
            UPDATE inventory.inventory_stock_alerts a
               SET state = e.state, available = e.available, pending = false,
                   reported_at = CASE WHEN e.state IS DISTINCT FROM e.state_before
                                      THEN pg_catalog.now() ELSE a.reported_at END
              FROM evaluated e
             WHERE a.ctid OPERATOR(pg_catalog.=) e.row_id
               AND (a.pending OR a.state IS DISTINCT FROM e.state)
            RETURNING e.sku, e.warehouse_uuid, e.state, e.state_before, e.available, e.threshold),
        events AS (
            INSERT INTO inventory.inventory_alert_events
                   (id, at, sku, warehouse_uuid, state, state_before, available, threshold)
            SELECT pg_catalog.nextval('inventory.inventory_alert_events_id_seq'::pg_catalog.regclass),
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
        UPDATE inventory.inventory_feed_state
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

CREATE OR REPLACE FUNCTION inventory.inventory_feeds_status()
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
      FROM inventory.inventory_feed_state s;
    channels_waiting := channels_waiting OPERATOR(pg_catalog.+)
        (SELECT pg_catalog.count(*) FROM inventory.inventory_channel_resyncs);
    warehouses_waiting := (SELECT pg_catalog.count(*) FROM inventory.inventory_warehouse_resyncs);
    alerts_waiting := alerts_waiting OPERATOR(pg_catalog.+)
        (SELECT pg_catalog.count(*) FROM inventory.inventory_stock_alerts a WHERE a.pending);
    -- with no active channel and no alert there is nothing to feed: the
    -- worker then moves the cursor only every naptime
    caught_up := (ledger_cursor OPERATOR(pg_catalog.>=) ledger_horizon
                  OR NOT (EXISTS (SELECT FROM inventory.inventory_channels c WHERE c.active)
                          OR EXISTS (SELECT FROM inventory.inventory_stock_alerts)))
        AND channels_waiting OPERATOR(pg_catalog.=) 0 AND warehouses_waiting OPERATOR(pg_catalog.=) 0
        AND alerts_waiting OPERATOR(pg_catalog.=) 0;
    RETURN NEXT;
END
$$;

CREATE OR REPLACE FUNCTION inventory.inventory_channel_changes(
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
    IF NOT EXISTS (SELECT FROM inventory.inventory_channels c
                    WHERE c.uuid OPERATOR(pg_catalog.=) channel) THEN
        RAISE EXCEPTION 'channel % does not exist', channel
            USING ERRCODE = 'undefined_object',
                  HINT = 'The table inventory_channels lists the channels; a channel that was deleted took its feed with it.';
    END IF;
    SELECT CASE WHEN s.is_called THEN s.last_value ELSE 0 END INTO issued
      FROM inventory.inventory_channel_feed_id_seq s;
    IF after OPERATOR(pg_catalog.>) issued THEN
        RAISE EXCEPTION 'channel change cursor % is beyond the last channel change of this database', after
            USING ERRCODE = 'IN003',
                  DETAIL = pg_catalog.format('The largest channel change id issued here is %s. The cursor was read from another database, or before the extension was dropped and created again, or from a primary whose last changes were lost in a failover.', issued),
                  HINT = 'Start the consumer again from cursor 0: the first rows of a channel give every sku''s quantity.';
    END IF;
    RETURN QUERY
        SELECT f.id, f.at, f.sku::text, f.quantity, f.quantity_before, f.available, f.reason
          FROM inventory.inventory_channel_feed f
         WHERE f.channel_uuid OPERATOR(pg_catalog.=) channel
           AND f.id OPERATOR(pg_catalog.>) after
         ORDER BY f.id
         LIMIT max_rows;
END
$$;

CREATE OR REPLACE FUNCTION inventory.inventory_alerts(after bigint DEFAULT 0, max_rows integer DEFAULT 1000)
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
      FROM inventory.inventory_alert_events_id_seq s;
    IF after OPERATOR(pg_catalog.>) issued THEN
        RAISE EXCEPTION 'alert cursor % is beyond the last alert of this database', after
            USING ERRCODE = 'IN003',
                  DETAIL = pg_catalog.format('The largest alert id issued here is %s. The cursor was read from another database, or before the extension was dropped and created again, or from a primary whose last changes were lost in a failover.', issued),
                  HINT = 'Start the consumer again from cursor 0, or read the view inventory_low_stock for what is low now.';
    END IF;
    RETURN QUERY
        SELECT e.id, e.at, e.sku::text, e.warehouse_uuid, e.state, e.state_before, e.available,
               e.threshold
          FROM inventory.inventory_alert_events e
         WHERE e.id OPERATOR(pg_catalog.>) after
         ORDER BY e.id
         LIMIT max_rows;
END
$$;

COMMENT ON FUNCTION inventory.inventory_channel_quantity(bigint, integer, bigint, bigint, bigint) IS
    'A channel rule: q = available - buffer; 0 when q <= 0; else floor(q * percent / 100), then at most max, then at least min (NULL max or min: none)';

COMMENT ON FUNCTION inventory_internal.inventory_restoring() IS
    'Whether inventory.restoring is on, read after the library has checked it (internal)';

COMMENT ON FUNCTION inventory_internal.inventory_note_feed_change() IS
    'Wakes the worker at commit to bring the channel feed and the alerts up to date (internal)';

COMMENT ON FUNCTION inventory_internal.inventory_channels_changed() IS
    'AFTER trigger on inventory_channels: a new channel, or a changed rule or activity, is said again in full';

COMMENT ON FUNCTION inventory_internal.inventory_channel_warehouses_changed() IS
    'AFTER statement trigger on inventory_channel_warehouses: the channels whose warehouses changed are said again in full';

COMMENT ON FUNCTION inventory_internal.inventory_warehouse_archived() IS
    'AFTER UPDATE OF archived trigger on inventory_warehouses: the next pass redoes the channels the warehouse feeds and its skus'' per-sku alerts';

COMMENT ON FUNCTION inventory_internal.inventory_stock_alerts_changed() IS
    'BEFORE trigger on inventory_stock_alerts: a new or changed threshold is reported by the next pass';

COMMENT ON FUNCTION inventory_internal.inventory_channel_resync(uuid[], boolean) IS
    'Writes a feed row for every sku of the given active channels, or for those whose quantity differs from the feed''s (internal; run by inventory_feeds_catch_up)';

COMMENT ON FUNCTION inventory_internal.inventory_feeds_catch_up(integer) IS
    'Brings the channel feed and the alert events up to the ledger''s horizon, at most max_changes ledger rows at a time; returns caught_up, more (run again at once), retry (run again shortly) or idle (nothing to feed) (internal; run by the worker)';

COMMENT ON FUNCTION inventory.inventory_feeds_status() IS
    'Whether the channel feed and the alert events reflect every committed change (caught_up), the ledger id they are at and the horizon, and the channels, warehouses and alerts waiting to be redone';

COMMENT ON FUNCTION inventory.inventory_channel_changes(uuid, bigint, integer) IS
    'Changes of a channel''s listing quantities after a cursor (the last change_id seen), in order, none ever skipped; LISTEN inventory_channel_changes (the payload is the channel) to be woken';

COMMENT ON FUNCTION inventory.inventory_alerts(bigint, integer) IS
    'Changes of low-stock alert states (in_stock, low_stock, out_of_stock) after a cursor (the last alert_id seen), in order, none ever skipped; LISTEN inventory_alerts to be woken';

REVOKE ALL ON FUNCTION inventory.inventory_channel_quantity(bigint, integer, bigint, bigint, bigint) FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory_internal.inventory_restoring() FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory_internal.inventory_note_feed_change() FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory_internal.inventory_channels_changed() FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory_internal.inventory_channel_warehouses_changed() FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory_internal.inventory_warehouse_archived() FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory_internal.inventory_stock_alerts_changed() FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory_internal.inventory_channel_resync(uuid[], boolean) FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory_internal.inventory_feeds_catch_up(integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory.inventory_feeds_status() FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory.inventory_channel_changes(uuid, bigint, integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory.inventory_alerts(bigint, integer) FROM PUBLIC;
-- END generated by tools/update-functions

/* ------------------------------------------------------------------------
 * 3. Channels and stock alerts: the views and triggers, which use the
 * functions above
 * ------------------------------------------------------------------------
 */

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
 * A channel was made, or its rule or activity changed: say every sku again.
 */
CREATE TRIGGER inventory_channels_changed
    AFTER INSERT OR UPDATE ON @extschema@.inventory_channels
    FOR EACH ROW EXECUTE FUNCTION inventory_internal.inventory_channels_changed();
CREATE TRIGGER inventory_channels_touch
    BEFORE UPDATE ON @extschema@.inventory_channels
    FOR EACH ROW EXECUTE FUNCTION inventory_internal.inventory_touch_updated_at();

/*
 * A warehouse joined or left a channel: say the channel's every sku again.
 */
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
CREATE TRIGGER inventory_warehouses_archived
    AFTER UPDATE OF archived ON @extschema@.inventory_warehouses
    FOR EACH ROW WHEN (OLD.archived IS DISTINCT FROM NEW.archived)
    EXECUTE FUNCTION inventory_internal.inventory_warehouse_archived();

/*
 * A threshold was set or changed: the next pass reports its state.
 */
CREATE TRIGGER inventory_stock_alerts_changed
    BEFORE INSERT OR UPDATE ON @extschema@.inventory_stock_alerts
    FOR EACH ROW EXECUTE FUNCTION inventory_internal.inventory_stock_alerts_changed();
