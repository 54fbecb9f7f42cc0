-- inventory_adjust validation: every rule, the DETAIL text, and that a
-- rejected call queues nothing.
\set VERBOSITY default
\set wh '"11111111-1111-4111-8111-111111111111"'

CREATE TEMP TABLE before AS
SELECT (SELECT count(*) FROM inventory_queue) AS queued,
       (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM inventory_batch_id_seq) AS last_id,
       (SELECT count(*) FROM inventory_levels) AS levels;

-- The body: an object with an "inventory" array, or an array.
SELECT inventory_adjust(NULL);
SELECT inventory_adjust('5');
SELECT inventory_adjust('"inventory"');
SELECT inventory_adjust('{}');
SELECT inventory_adjust('{"inventory": {}}');
SELECT inventory_adjust('{"inventory": "x"}');
SELECT inventory_adjust('{"inventory": [], "extra": 1}');
SELECT inventory_adjust('{"inventory": []}');
SELECT inventory_adjust('[]');

-- Item count: 1 .. inventory.max_batch_items (default 50, as Sellbrite).
SHOW inventory.max_batch_items;
SELECT inventory_adjust(jsonb_build_object('inventory',
    (SELECT jsonb_agg(jsonb_build_object('sku', 'S' || i,
            'warehouse_uuid', '11111111-1111-4111-8111-111111111111', 'on_hand', i))
       FROM generate_series(1, 51) i)));
SET inventory.max_batch_items = 2;
SELECT inventory_adjust(('[{"sku":"A","warehouse_uuid":' || :'wh' || ',"on_hand":1},'
                         '{"sku":"B","warehouse_uuid":' || :'wh' || ',"on_hand":1},'
                         '{"sku":"C","warehouse_uuid":' || :'wh' || ',"on_hand":1}]')::jsonb);
RESET inventory.max_batch_items;

-- Items must be objects.
SELECT inventory_adjust('[1, "x", null, true, [], {"sku": "A"}]');

-- Exactly one of on_hand / available: both or neither rejects the whole call.
SELECT inventory_adjust(('[{"sku":"OK-1","warehouse_uuid":' || :'wh' || ',"on_hand":1},'
                         '{"sku":"BOTH","warehouse_uuid":' || :'wh' || ',"on_hand":1,"available":1},'
                         '{"sku":"NEITHER","warehouse_uuid":' || :'wh' || '}]')::jsonb);

-- sku: required, a non-empty string of at most 255 characters, no control
-- characters, no surrounding spaces.
SELECT inventory_adjust(('[{"warehouse_uuid":' || :'wh' || ',"on_hand":1},'
                         '{"sku":"","warehouse_uuid":' || :'wh' || ',"on_hand":1},'
                         '{"sku":5,"warehouse_uuid":' || :'wh' || ',"on_hand":1},'
                         '{"sku":null,"warehouse_uuid":' || :'wh' || ',"on_hand":1},'
                         '{"sku":" A","warehouse_uuid":' || :'wh' || ',"on_hand":1},'
                         '{"sku":"A\tB","warehouse_uuid":' || :'wh' || ',"on_hand":1},'
                         '{"sku":"' || repeat('x', 256) || '","warehouse_uuid":' || :'wh' || ',"on_hand":1}]')::jsonb);
-- 255 characters, multibyte ones included, is fine (checked, then rolled back)
BEGIN;
SELECT inventory_adjust(('[{"sku":"' || repeat('é', 255) || '","warehouse_uuid":' || :'wh' || ',"on_hand":1}]')::jsonb) > 0 AS queued;
ROLLBACK;

-- warehouse_uuid: required, a UUID string of a registered, non-archived warehouse.
SELECT inventory_adjust('[{"sku":"A","on_hand":1},
                          {"sku":"A","warehouse_uuid":"nope","on_hand":1},
                          {"sku":"A","warehouse_uuid":"11111111111141118111111111111111","on_hand":1},
                          {"sku":"A","warehouse_uuid":"{11111111-1111-4111-8111-111111111111}","on_hand":1},
                          {"sku":"A","warehouse_uuid":42,"on_hand":1},
                          {"sku":"A","warehouse_uuid":"99999999-9999-4999-8999-999999999999","on_hand":1},
                          {"sku":"A","warehouse_uuid":"33333333-3333-4333-8333-333333333333","on_hand":1}]');
-- either case is accepted
SELECT inventory_adjust('[{"sku":"A","warehouse_uuid":"AAAAAAAA-0000-4000-8000-000000000000","on_hand":1}]');
BEGIN;
INSERT INTO inventory_warehouses (uuid, name) VALUES ('aaaaaaaa-0000-4000-8000-000000000000', 'Upper');
SELECT inventory_adjust('[{"sku":"A","warehouse_uuid":"AAAAAAAA-0000-4000-8000-000000000000","on_hand":1}]') > 0 AS queued;
ROLLBACK;

-- Quantities: whole JSON numbers from 0 to 2147483647; no strings, no
-- fractions, no negatives, no overflow.
SELECT inventory_adjust(('[{"sku":"Q1","warehouse_uuid":' || :'wh' || ',"on_hand":"5"},'
                         '{"sku":"Q2","warehouse_uuid":' || :'wh' || ',"on_hand":1.5},'
                         '{"sku":"Q3","warehouse_uuid":' || :'wh' || ',"on_hand":1.25},'
                         '{"sku":"Q4","warehouse_uuid":' || :'wh' || ',"on_hand":-1},'
                         '{"sku":"Q5","warehouse_uuid":' || :'wh' || ',"on_hand":2147483648},'
                         '{"sku":"Q6","warehouse_uuid":' || :'wh' || ',"available":-2147483649},'
                         '{"sku":"Q7","warehouse_uuid":' || :'wh' || ',"available":1e-3},'
                         '{"sku":"Q8","warehouse_uuid":' || :'wh' || ',"available":null},'
                         '{"sku":"Q9","warehouse_uuid":' || :'wh' || ',"available":true},'
                         '{"sku":"Q10","warehouse_uuid":' || :'wh' || ',"available":[1]},'
                         '{"sku":"Q11","warehouse_uuid":' || :'wh' || ',"on_hand":99999999999999999999999}]')::jsonb);
-- The bounds themselves are accepted.  A whole number may be written 7.0 or
-- 7e0 (jsonb turns 1e3 into 1000 before the function sees it, and keeps 7.0
-- as 7.0); it is applied as 7.  The same for on_hand_delta and expect_*
-- (B1..B5), and an expect goes with any operation.
BEGIN;
SELECT inventory_adjust(('[{"sku":"MIN","warehouse_uuid":' || :'wh' || ',"on_hand":0},'
                         '{"sku":"MAX","warehouse_uuid":' || :'wh' || ',"available":2147483647},'
                         '{"sku":"EXP","warehouse_uuid":' || :'wh' || ',"on_hand":1e3},'
                         '{"sku":"DOT","warehouse_uuid":' || :'wh' || ',"on_hand":7.0},'
                         '{"sku":"DOT","warehouse_uuid":' || :'wh' || ',"available":2147483647.000},'
                         '{"sku":"B1","warehouse_uuid":' || :'wh' || ',"on_hand_delta":-2147483647},'
                         '{"sku":"B2","warehouse_uuid":' || :'wh' || ',"on_hand_delta":2147483647,"expect_on_hand":0},'
                         '{"sku":"B3","warehouse_uuid":' || :'wh' || ',"on_hand_delta":-0,"expect_available":2147483647},'
                         '{"sku":"B4","warehouse_uuid":' || :'wh' || ',"on_hand":7,"expect_available":0.0},'
                         '{"sku":"B5","warehouse_uuid":' || :'wh' || ',"available":7e0,"expect_on_hand":0}]')::jsonb) > 0 AS queued;
SELECT items -> 2 -> 'on_hand' AS exp_value, items -> 3 -> 'on_hand' AS dot_value
  FROM inventory_queue ORDER BY batch_id DESC LIMIT 1;
SELECT inventory_process_queue();
SELECT sku, on_hand FROM inventory_levels WHERE sku IN ('MIN', 'MAX', 'EXP', 'DOT') ORDER BY sku;
-- B1 would take on_hand below 0, B3 expects another value: not applied
SELECT sku, on_hand FROM inventory_levels WHERE sku LIKE 'B_' ORDER BY sku;
ROLLBACK;

-- Optional fields: description (string, at most 1000 characters),
-- bin_location (string, at most 255), cost (number >= 0, 2 decimals, at
-- most 99999999.99).  Unknown fields are rejected, with a suggestion for
-- near misses.
SELECT inventory_adjust(('[{"sku":"O1","warehouse_uuid":' || :'wh' || ',"on_hand":1,"description":7},'
                         '{"sku":"O2","warehouse_uuid":' || :'wh' || ',"on_hand":1,"description":"' || repeat('d', 1001) || '"},'
                         '{"sku":"O3","warehouse_uuid":' || :'wh' || ',"on_hand":1,"bin_location":["A"]},'
                         '{"sku":"O4","warehouse_uuid":' || :'wh' || ',"on_hand":1,"cost":"1.00"},'
                         '{"sku":"O5","warehouse_uuid":' || :'wh' || ',"on_hand":1,"cost":-0.01},'
                         '{"sku":"O6","warehouse_uuid":' || :'wh' || ',"on_hand":1,"cost":1.005},'
                         '{"sku":"O7","warehouse_uuid":' || :'wh' || ',"on_hand":1,"cost":100000000},'
                         '{"sku":"O8","warehouse_uuid":' || :'wh' || ',"onhand":1},'
                         '{"sku":"O9","warehouse_uuid":' || :'wh' || ',"on_hand":1,"Warehouse-UUID":"x","color":"red"}]')::jsonb);
-- Near misses get a suggestion too: a typo of a field (a letter left out,
-- another word for the same thing), other case or separators; and the
-- wrapper's key in another case.
SELECT inventory_adjust(('[{"sku":"N1","warehouse_uuid":' || :'wh' || ',"on_hand":1,"descripton":"recount"},'
                         '{"sku":"N2","warehouse_id":' || :'wh' || ',"on_hand":1},'
                         '{"sku":"N3","warehouse_uuid":' || :'wh' || ',"On-Hand":1,"location":"A-1"}]')::jsonb);
SELECT inventory_adjust(('{"Inventory":[{"sku":"N4","warehouse_uuid":' || :'wh' || ',"on_hand":1}]}')::jsonb);
SELECT inventory_adjust('{"invent":[]}');
-- One item's problems come in the order of its keys in the body, as jsonb
-- keeps them (shorter keys first, then bytewise): sku, cost, colour,
-- on_hand, warehouse_uuid here, whatever order they were sent in.
SELECT inventory_adjust('[{"warehouse_uuid":"nope","on_hand":-1,"colour":1,"cost":"x","sku":5}]');
SELECT '{"warehouse_uuid":"nope","on_hand":-1,"colour":1,"cost":"x","sku":5}'::jsonb AS as_jsonb_keeps_it;
BEGIN;
SELECT inventory_adjust(('[{"sku":"O10","warehouse_uuid":' || :'wh' || ',"on_hand":1,"description":"",'
                         '"bin_location":"","cost":99999999.99},'
                         '{"sku":"O11","warehouse_uuid":' || :'wh' || ',"on_hand":1,"cost":0.50}]')::jsonb) > 0 AS queued;
ROLLBACK;

-- Many problems: every one is listed (up to 100), then counted.
SET inventory.max_batch_items = 200;
SELECT inventory_adjust((SELECT jsonb_agg('{"x":1}'::jsonb) FROM generate_series(1, 40)));
RESET inventory.max_batch_items;

-- A small request cannot make a huge error: a value is quoted at most 40
-- characters long (then "..." and its length), a number that long is shown
-- in scientific notation when that is exact.  This 5.6 KB request once
-- made a 5.8 MB DETAIL; every problem is still named by item and field.
DO $$
DECLARE
    body text := (SELECT '[' || string_agg(format(
        '{"sku": "BIG-%s", "warehouse_uuid": "11111111-1111-4111-8111-111111111111", "on_hand": 1e100000, "cost": 1e-16000}', i), ', ') || ']'
                    FROM generate_series(1, 50) i);
    msg text;
    det text;
BEGIN
    RAISE NOTICE 'request: % bytes', octet_length(body);
    PERFORM inventory_adjust(body::jsonb);
EXCEPTION WHEN invalid_parameter_value THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
    RAISE NOTICE '%', msg;
    RAISE NOTICE 'detail under 8 KB: %, lines: %', octet_length(det) < 8192,
        array_length(string_to_array(det, E'\n'), 1);
    RAISE NOTICE 'every item named for on_hand and cost: %',
        (SELECT count(*) = 100 FROM regexp_matches(det, '^Item (\d+): "(on_hand|cost)" ', 'gn'));
    RAISE NOTICE 'first lines: %', array_to_string((string_to_array(det, E'\n'))[1:2], ' | ');
END $$;
-- Numbers that are long but not exact in scientific notation, and strings,
-- are cut; control characters in a quoted name show as '?'.
SELECT inventory_adjust(('[{"sku":"L1","warehouse_uuid":' || :'wh' || ',"on_hand":1.' || repeat('0', 60) || '1},'
                         '{"sku":"L2","warehouse_uuid":' || :'wh' || ',"available":' || repeat('9', 50) || '},'
                         '{"sku":"L3","warehouse_uuid":"' || repeat('u', 5000) || '","on_hand":1},'
                         '{"sku":"L4","warehouse_uuid":' || :'wh' || ',"on_hand":1,"' || repeat('f', 5000) || '":1},'
                         '{"sku":"L5","warehouse_uuid":' || :'wh' || ',"on_hand":1,"bad\nname":1}]')::jsonb);
SELECT inventory_adjust(('{"inventory":[],"' || repeat('x', 300) || '":1}')::jsonb);

-- on_hand_delta: a whole number from -2147483647 to 2147483647, instead of
-- on_hand or available (exactly one of the three).  expect_on_hand /
-- expect_available: a whole number in the same range (on_hand and
-- available can be negative), at most one per item, allowed with any
-- operation, a delta too.
SELECT inventory_adjust(('[{"sku":"D1","warehouse_uuid":' || :'wh' || ',"on_hand_delta":1,"on_hand":1},'
                         '{"sku":"D2","warehouse_uuid":' || :'wh' || ',"on_hand_delta":-1,"available":1},'
                         '{"sku":"D3","warehouse_uuid":' || :'wh' || ',"on_hand_delta":1,"on_hand":1,"available":1},'
                         '{"sku":"D4","warehouse_uuid":' || :'wh' || ',"on_hand_delta":-2147483648},'
                         '{"sku":"D5","warehouse_uuid":' || :'wh' || ',"on_hand_delta":2147483648},'
                         '{"sku":"D6","warehouse_uuid":' || :'wh' || ',"on_hand_delta":-1e20},'
                         '{"sku":"D7","warehouse_uuid":' || :'wh' || ',"on_hand_delta":1.5},'
                         '{"sku":"D8","warehouse_uuid":' || :'wh' || ',"on_hand_delta":"5"},'
                         '{"sku":"D9","warehouse_uuid":' || :'wh' || ',"on_hand_delta":null},'
                         '{"sku":"E1","warehouse_uuid":' || :'wh' || ',"on_hand":1,"expect_on_hand":1,"expect_available":1},'
                         '{"sku":"E2","warehouse_uuid":' || :'wh' || ',"on_hand":1,"expect_on_hand":-2147483648},'
                         '{"sku":"E3","warehouse_uuid":' || :'wh' || ',"on_hand":1,"expect_available":2147483648},'
                         '{"sku":"E4","warehouse_uuid":' || :'wh' || ',"on_hand":1,"expect_available":"3"},'
                         '{"sku":"E5","warehouse_uuid":' || :'wh' || ',"on_hand":1,"expect_on_hand":0.5},'
                         '{"sku":"E6","warehouse_uuid":' || :'wh' || ',"expect_on_hand":1},'
                         '{"sku":"E7","warehouse_uuid":' || :'wh' || ',"on_hand":1,"expect_on_hand":null}]')::jsonb);
-- near misses of the new fields get a suggestion
SELECT inventory_adjust(('[{"sku":"N1","warehouse_uuid":' || :'wh' || ',"onHandDelta":1},'
                         '{"sku":"N2","warehouse_uuid":' || :'wh' || ',"on_hand_detla":1},'
                         '{"sku":"N3","warehouse_uuid":' || :'wh' || ',"on_hand":1,"expected_on_hand":1},'
                         '{"sku":"N4","warehouse_uuid":' || :'wh' || ',"on_hand":1,"Expect-Available":1},'
                         '{"sku":"N5","warehouse_uuid":' || :'wh' || ',"on_hand":1,"expect_availble":1},'
                         '{"sku":"N6","warehouse_uuid":' || :'wh' || ',"available_delta":1}]')::jsonb);

-- The error carries SQLSTATE 22023 (invalid_parameter_value).
DO $$
BEGIN
    PERFORM inventory_adjust('[{"sku":"A"}]');
EXCEPTION WHEN invalid_parameter_value THEN
    RAISE NOTICE 'caught invalid_parameter_value';
END $$;

-- Nothing was queued, no level row was created, and no batch id was used
-- by a rejected call (the 4 accepted calls above took one each and rolled
-- back).
SELECT (SELECT count(*) FROM inventory_queue) = queued AS queue_unchanged,
       (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM inventory_batch_id_seq) = last_id + 4 AS ids_used_only_by_accepted_calls,
       (SELECT count(*) FROM inventory_levels) = levels AS levels_unchanged
  FROM before;
