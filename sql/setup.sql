-- Install the extension and the helpers the other tests use.
CREATE EXTENSION inventory;

SELECT extname, extversion, extrelocatable FROM pg_extension WHERE extname = 'inventory';

-- Objects live in the schema "inventory", made by CREATE EXTENSION, and
-- are reachable through the database's search_path (test/search_path.sql).
SELECT c.relname, c.relkind
  FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'inventory')
   AND d.classid = 'pg_class'::regclass AND d.deptype = 'e'
 ORDER BY 1;
SELECT p.oid::regprocedure AS function
  FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'inventory')
   AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
 ORDER BY 1::text;

-- The schema "inventory" holds only the API (what \df inventory.* lists);
-- trigger functions and internal helpers are in "inventory_internal",
-- which the extension made: a member of it, owned by the superuser who
-- installed it, and no privilege on it for anyone else.
SELECT p.proname FROM pg_proc p
 WHERE p.pronamespace = 'inventory'::regnamespace ORDER BY 1;
SELECT n.nspname, r.rolname = current_user AS owned_by_installer, r.rolsuper,
       array_length(n.nspacl, 1) AS acl_entries,
       EXISTS (SELECT FROM pg_depend d
                WHERE d.classid = 'pg_namespace'::regclass AND d.objid = n.oid
                  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'inventory')
                  AND d.deptype = 'e') AS member
  FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner
 WHERE n.nspname = 'inventory_internal';

-- Warehouses used by the tests
INSERT INTO inventory_warehouses (uuid, name) VALUES
    ('11111111-1111-4111-8111-111111111111', 'Main'),
    ('22222222-2222-4222-8222-222222222222', 'Overflow'),
    ('33333333-3333-4333-8333-333333333333', 'Closed');
UPDATE inventory_warehouses SET archived = true
 WHERE uuid = '33333333-3333-4333-8333-333333333333';

-- Poll a condition until it holds or the timeout passes (no fixed sleeps).
CREATE FUNCTION test_poll(cond text, timeout interval DEFAULT '60 s')
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    deadline timestamptz := clock_timestamp() + timeout;
    ok boolean;
BEGIN
    LOOP
        EXECUTE 'SELECT (' || cond || ')' INTO ok;
        IF ok THEN
            RETURN true;
        END IF;
        IF clock_timestamp() > deadline THEN
            RAISE EXCEPTION 'condition did not hold within %: %', timeout, cond;
        END IF;
        PERFORM pg_sleep(0.01);
        PERFORM pg_stat_clear_snapshot();
    END LOOP;
END $$;

-- The launcher runs, connected to no database; it starts this database's
-- worker when a batch is queued here.
SELECT backend_type, datname IS NULL AS no_database
  FROM pg_stat_activity WHERE backend_type = 'inventory launcher';
SELECT database = current_database() AS this_database, extension_found
  FROM inventory_worker_status();
