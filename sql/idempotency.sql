-- Idempotency keys belong to the calling role (the outer role, not the
-- owner of the SECURITY DEFINER inventory_adjust): two roles may use the
-- same key, each for its own batch, and a conflict never names another
-- role's batch.
\set VERBOSITY default
CREATE ROLE inventory_idem_a;
CREATE ROLE inventory_idem_b;
GRANT USAGE ON SCHEMA inventory TO inventory_idem_a, inventory_idem_b;
GRANT EXECUTE ON FUNCTION inventory_adjust(jsonb, boolean, text) TO inventory_idem_a, inventory_idem_b;

CREATE TEMP TABLE idem_result (what text, ok boolean);
GRANT ALL ON idem_result TO PUBLIC;
DO $$
DECLARE
    body_a jsonb := '[{"sku": "IDEM-ROLE", "warehouse_uuid": "11111111-1111-4111-8111-111111111111", "on_hand": 1}]';
    body_b jsonb := '[{"sku": "IDEM-ROLE", "warehouse_uuid": "11111111-1111-4111-8111-111111111111", "on_hand": 2}]';
    body_c jsonb := '[{"sku": "IDEM-ROLE", "warehouse_uuid": "11111111-1111-4111-8111-111111111111", "on_hand": 3}]';
    a bigint;
    b bigint;
    det text;
BEGIN
    SET ROLE inventory_idem_a;
    a := inventory_adjust(body_a, idempotency_key => 'idem-shared');
    -- another role, the same key, another request: its own batch, no error
    SET ROLE inventory_idem_b;
    b := inventory_adjust(body_b, idempotency_key => 'idem-shared');
    INSERT INTO idem_result VALUES ('each role got a batch of its own', a <> b);
    -- each role's retry returns its own batch
    INSERT INTO idem_result VALUES ('b''s retry gets b''s batch',
        inventory_adjust(body_b, idempotency_key => 'idem-shared') = b);
    SET ROLE inventory_idem_a;
    INSERT INTO idem_result VALUES ('a''s retry gets a''s batch',
        inventory_adjust(body_a, idempotency_key => 'idem-shared') = a);
    -- a conflict names the caller's own batch, never the other role's
    SET ROLE inventory_idem_b;
    BEGIN
        PERFORM inventory_adjust(body_c, idempotency_key => 'idem-shared');
        INSERT INTO idem_result VALUES ('b''s conflicting request was refused', false);
    EXCEPTION WHEN unique_violation THEN
        GET STACKED DIAGNOSTICS det = PG_EXCEPTION_DETAIL;
        INSERT INTO idem_result VALUES ('b''s conflicting request was refused', true);
        INSERT INTO idem_result VALUES ('its DETAIL names b''s batch', det LIKE '%batch ' || b || ' %');
        INSERT INTO idem_result VALUES ('its DETAIL does not name a''s batch', det NOT LIKE '%batch ' || a || ' %');
    END;
    RESET ROLE;
    INSERT INTO idem_result
    SELECT 'the keys table has one row per role, with its batch',
           array_agg(k.role::text || ':' || (k.batch_id = CASE k.role WHEN 'inventory_idem_a' THEN a ELSE b END)
                     ORDER BY k.role)
           = '{inventory_idem_a:true,inventory_idem_b:true}'
      FROM inventory_idempotency_keys k WHERE k.key = 'idem-shared';
END $$;
SELECT * FROM idem_result;

-- The key is the outer role's: inside SECURITY DEFINER inventory_adjust
-- the owner's name is not used.
SELECT count(*) AS keys_of_the_owner FROM inventory_idempotency_keys
 WHERE key = 'idem-shared' AND role = (SELECT r.rolname FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner
                                       WHERE p.oid = 'inventory_adjust(jsonb, boolean, text)'::regprocedure);

DROP OWNED BY inventory_idem_a, inventory_idem_b;
DROP ROLE inventory_idem_a;
DROP ROLE inventory_idem_b;
