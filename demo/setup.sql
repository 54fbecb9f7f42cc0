-- run-demo: create the extension and register four warehouses.
-- The UUIDs are fixed so that the output is easy to read; the other demo
-- files look them up by name.
CREATE EXTENSION inventory;
-- Its objects live in the schema "inventory": this database's sessions find
-- them unqualified after public (see README, "Security").
SELECT format('ALTER DATABASE %I SET search_path = "$user", public, inventory',
              current_database()) \gexec
SET search_path = "$user", public, inventory;

INSERT INTO inventory_warehouses (uuid, name) VALUES
    ('a0000000-0000-4000-8000-000000000001', 'Austin'),
    ('b0000000-0000-4000-8000-000000000002', 'Berlin'),
    ('c0000000-0000-4000-8000-000000000003', 'Chennai'),
    ('d0000000-0000-4000-8000-000000000004', 'Denver');

-- A demo-only helper (not part of the extension): raise an error, which
-- stops psql (ON_ERROR_STOP) and so fails run-demo, when a check is false.
CREATE FUNCTION demo_check(ok boolean, what text) RETURNS text
    LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION 'demo check failed: %', what;
    END IF;
    RETURN 'ok: ' || what;
END
$$;

SELECT uuid, name FROM inventory_warehouses ORDER BY name;
