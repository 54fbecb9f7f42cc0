# Random request bodies for inventory_adjust, generated and checked inside
# the server.
#
# Each case is a valid batch (1 to 50 items, each field in its valid forms:
# 7, 7.0, 7e0, multibyte and 255-character skus, either UUID case, an
# on_hand, available or on_hand_delta, an optional expect_on_hand or
# expect_available, optional description, bin_location and cost, wrapped
# or bare) or one mutated from a
# valid batch (keys dropped, duplicated, renamed or added; values swapped for
# other JSON types, boundary numbers, garbage strings or deep nesting; items
# replaced by non-objects; top-level shape broken; too many items; NULL or
# bad arguments).  An independent model of the README's rules (fz_expect)
# says whether each case must be accepted or rejected, with which SQLSTATE,
# and which items are bad; every call is compared with it:
#   - a rejection must be SQLSTATE 22023, 54000 or 22004 with a DETAIL, the
#     one the model expects; an item-level rejection names exactly the bad
#     items (unless the DETAIL is cut at 100 problems) and counts them;
#   - an accepted call returns a new batch id whose queue row holds exactly
#     the items sent; retries with the same idempotency key return it again.
# The worker is not preloaded, so the queue holds every accepted batch: the
# queue grows by exactly the number accepted.  At the end the queue is
# applied with inventory_process_queue(), and the levels must be what a
# replay of the accepted items gives (deltas added, expects compared, an
# item that does not apply recorded as conflict or out_of_range, exactly
# those); inventory_verify() must find nothing;
# and the server must not have crashed.
#
# INVENTORY_FUZZ_CASES (default 100000) sets the number of cases,
# INVENTORY_FUZZ_SEED (default 42) the random seed.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Basename qw(dirname);
use Time::HiRes qw(time);

# PostgreSQL::Test::Cluster->init runs $ENV{PG_REGRESS} --config-auth;
# test/run-tests does not set it: take the one of the installed PGXS.
$ENV{PG_REGRESS} //= dirname(dirname(`pg_config --pgxs`)) . '/test/regress/pg_regress';

my $cases = $ENV{INVENTORY_FUZZ_CASES} // 100000;
my $seed  = $ENV{INVENTORY_FUZZ_SEED}  // 42;
my $chunk = 2500;
die "INVENTORY_FUZZ_CASES must be a positive integer" unless $cases =~ /^\d+$/ && $cases > 0;
die "INVENTORY_FUZZ_SEED must be an integer" unless $seed =~ /^-?\d+$/;

my $node = PostgreSQL::Test::Cluster->new('fuzz');
$node->init(extra => ['--encoding=UTF8', '--locale=C']);
# No shared_preload_libraries: no worker, so the queue only grows.
$node->append_conf('postgresql.conf', qq{
log_statement = none
log_min_messages = warning
search_path = '"\$user", public, inventory'
});
$node->start;
my $start_time = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
my $pm_pid_file = PostgreSQL::Test::Utils::slurp_file($node->data_dir . '/postmaster.pid');
my ($pm_pid) = $pm_pid_file =~ /^(\d+)/;

$node->safe_psql('postgres', q{
CREATE EXTENSION inventory;
INSERT INTO inventory_warehouses (uuid, name, archived) VALUES
  ('11111111-1111-4111-8111-111111111111', 'Main', false),
  ('22222222-2222-4222-8222-222222222222', 'Second', false),
  ('33333333-3333-4333-8333-333333333333', 'Old', true),
  ('aaaaaaaa-0000-4000-8000-00000000000a', 'Upper', false);
});

# ---- the generator, the model and the runner
$node->safe_psql('postgres', <<'EOSQL');
CREATE SCHEMA fz;

CREATE TABLE fz.accepted (case_no int, batch_id bigint PRIMARY KEY, items jsonb, create_missing boolean);
CREATE TABLE fz.problems (case_no int, kind text, expected text, got text, message text,
                          detail text, body text, create_missing boolean, ikey text);
CREATE TABLE fz.counts (chunk int PRIMARY KEY, cases int, accepted int, rejected int, retries int,
                        by_state jsonb, by_mutation jsonb);

CREATE FUNCTION fz.r(n int) RETURNS int LANGUAGE sql AS
  $$ SELECT floor(random() * n)::int $$;                      -- 0 .. n-1
CREATE FUNCTION fz.pick(a jsonb) RETURNS jsonb LANGUAGE sql AS
  $$ SELECT a -> fz.r(jsonb_array_length(a)) $$;
CREATE FUNCTION fz.pickt(a text[]) RETURNS text LANGUAGE sql AS
  $$ SELECT a[1 + fz.r(array_length(a, 1))] $$;

-- A valid item.
CREATE FUNCTION fz.valid_item() RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    it jsonb;
    x  int := fz.r(100);
BEGIN
    it := jsonb_build_object(
        'sku', CASE WHEN x < 3 THEN repeat('Z', 254) || fz.r(10)
                    WHEN x < 8 THEN chr(196) || '-' || chr(223) || '-' || chr(8364) || '-' || fz.r(10)
                    WHEN x < 10 THEN 'a b/c"d\e' || fz.r(5)
                    ELSE 'SKU-' || fz.r(60) END,
        'warehouse_uuid', CASE fz.r(5)
                    WHEN 0 THEN '22222222-2222-4222-8222-222222222222'
                    WHEN 1 THEN 'AAAAAAAA-0000-4000-8000-00000000000A'
                    ELSE '11111111-1111-4111-8111-111111111111' END);
    IF fz.r(10) < 3 THEN
        it := it || jsonb_build_object('on_hand_delta',
            fz.pick('[0, 1, 2, 5, -1, -2, -5, 7.0, -7e0, 1e3, -0, 24, -24, 2147483647, -2147483647, -2147483647.000]'));
    ELSE
        it := it || jsonb_build_object(CASE WHEN fz.r(2) = 0 THEN 'on_hand' ELSE 'available' END,
            fz.pick('[0, 1, 2, 3, 5, 7.0, 7e0, 1e3, 2147483647, 2147483647.000, 0.0, -0, 12, 99, 100, 250, 1000000]'));
    END IF;
    IF fz.r(5) = 0 THEN
        it := it || jsonb_build_object(CASE WHEN fz.r(2) = 0 THEN 'expect_on_hand' ELSE 'expect_available' END,
            fz.pick('[0, 0, 1, 2, 3, 5, 7, 7.0, 12, 1e3, 2147483647]'));
    END IF;
    IF fz.r(5) = 0 THEN
        it := it || jsonb_build_object('description',
            CASE fz.r(20) WHEN 0 THEN repeat('d', 1000) WHEN 1 THEN repeat(chr(233), 1000) WHEN 2 THEN ''
                          ELSE 'count ' || fz.r(1000) END);
    END IF;
    IF fz.r(5) = 0 THEN
        it := it || jsonb_build_object('bin_location',
            CASE fz.r(20) WHEN 0 THEN repeat('b', 255) WHEN 1 THEN '' WHEN 2 THEN ' padded ' ELSE 'B-' || fz.r(100) END);
    END IF;
    IF fz.r(5) = 0 THEN
        it := it || jsonb_build_object('cost',
            fz.pick('[0, 0.0, 1, 12.34, 99999999.99, 1.5, 1e2, 0.10, 5.00, 1.2e1]'));
    END IF;
    RETURN it;
END $$;

-- A value of another kind, for swapping into a field.
CREATE FUNCTION fz.garbage() RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    d int;
BEGIN
    CASE fz.r(24)
    WHEN 0 THEN RETURN 'null';
    WHEN 1 THEN RETURN 'true';
    WHEN 2 THEN RETURN 'false';
    WHEN 3 THEN RETURN '{}';
    WHEN 4 THEN RETURN '[]';
    WHEN 5 THEN RETURN '"5"';
    WHEN 6 THEN RETURN '""';
    WHEN 7 THEN RETURN '" "';
    WHEN 8 THEN RETURN to_jsonb(' lead'::text);
    WHEN 9 THEN RETURN to_jsonb('trail '::text);
    WHEN 10 THEN RETURN to_jsonb(E'tab\there'::text);
    WHEN 11 THEN RETURN to_jsonb(E'nl\n'::text);
    WHEN 12 THEN RETURN to_jsonb(E'esc\u001b[0m'::text);
    WHEN 13 THEN RETURN to_jsonb(repeat('x', 256));
    WHEN 14 THEN RETURN to_jsonb(repeat('y', 1001));
    WHEN 15 THEN RETURN to_jsonb(repeat(chr(8364), 256));
    WHEN 16 THEN
        d := 1 + fz.r(60);
        RETURN (repeat('[', d) || '1' || repeat(']', d))::jsonb;
    WHEN 17 THEN
        d := 1 + fz.r(60);
        RETURN (repeat('{"a": ', d) || '"x"' || repeat('}', d))::jsonb;
    WHEN 18 THEN RETURN '["11111111-1111-4111-8111-111111111111"]';
    WHEN 19 THEN RETURN to_jsonb(md5(random()::text));
    WHEN 20 THEN RETURN to_jsonb(chr(1 + fz.r(31)));
    WHEN 21 THEN RETURN '{"on_hand": 1}';
    ELSE RETURN fz.pick('[-1, 1.5, 1e-3, 2147483648, -2147483649, 1e400, -0.5, 0.001, 99999999.999, 100000000, 3, 0]');
    END CASE;
END $$;

-- A boundary number (valid or not) for a quantity or the cost.
CREATE FUNCTION fz.boundary() RETURNS jsonb LANGUAGE sql AS $$
    SELECT fz.pick('[-1, 0, -0, 0.0, 1, 2147483647, 2147483648, 2147483647.0, 2147483647.5, -2147483648, -2147483647,
                     1.5, 0.5, 1e-3, 1e3, 1e9, 1e10, 1e400, -1e400, 1e-400, 9223372036854775808,
                     99999999.99, 99999999.991, 100000000, 0.01, 0.001, -0.01, 12.345, 12.340, 7.000]')
$$;

CREATE FUNCTION fz.typo(k text) RETURNS text LANGUAGE sql AS $$
    SELECT fz.pickt(ARRAY[upper(k), replace(k, '_', ''), replace(k, '_', '-'), k || ' ', ' ' || k,
                          initcap(k), 'x' || k, 'qty', 'quantity', 'reserved', 'warehouse', 'Sku', ''])
$$;

-- Mutate a random item of an items array.
CREATE FUNCTION fz.mutate_items(items jsonb, OUT items_out jsonb, OUT what text) LANGUAGE plpgsql AS $$
DECLARE
    n    int := jsonb_array_length(items);
    i    int := fz.r(n);
    it   jsonb := items -> i;
    keys text[];
    k    text;
    m    int := fz.r(13);
    d    int := 1 + fz.r(100);
BEGIN
    IF jsonb_typeof(it) <> 'object' THEN
        m := 9;
    END IF;
    IF m <> 9 THEN
        SELECT array_agg(x ORDER BY x) INTO keys FROM jsonb_object_keys(it) x;
        IF keys IS NULL THEN
            m := 8;             -- an empty object: add a field
        ELSE
            k := fz.pickt(keys);
        END IF;
    END IF;
    CASE m
    WHEN 0 THEN what := 'drop ' || k;            it := it - k;
    WHEN 1 THEN what := 'two operations';
        it := it || jsonb_build_object(coalesce(fz.pickt(ARRAY(SELECT o FROM unnest(ARRAY['on_hand', 'available', 'on_hand_delta']) o
                                                                 WHERE NOT it ? o)), 'on_hand'), fz.r(10));
    WHEN 2 THEN what := 'rename ' || k;           it := (it - k) || jsonb_build_object(fz.typo(k), it -> k);
    WHEN 3 THEN what := 'type of ' || k;          it := it || jsonb_build_object(k, fz.garbage());
    WHEN 4 THEN what := 'type of ' || k;          it := it || jsonb_build_object(k, fz.garbage());
    WHEN 5 THEN what := 'boundary number';
        k := fz.pickt(ARRAY['on_hand', 'available', 'on_hand_delta', 'cost', 'expect_on_hand', 'expect_available',
                            CASE WHEN it ? 'on_hand' THEN 'on_hand' WHEN it ? 'available' THEN 'available' ELSE 'on_hand_delta' END]);
        IF k IN ('on_hand', 'available', 'on_hand_delta') THEN
            it := (it - 'on_hand' - 'available' - 'on_hand_delta') || jsonb_build_object(k, fz.boundary());
        ELSIF k IN ('expect_on_hand', 'expect_available') THEN
            it := (it - 'expect_on_hand' - 'expect_available') || jsonb_build_object(k, fz.boundary());
        ELSE
            it := it || jsonb_build_object(k, fz.boundary());
        END IF;
    WHEN 6 THEN what := 'garbage string';
        k := fz.pickt(ARRAY['sku', 'warehouse_uuid', 'description', 'bin_location']);
        it := it || jsonb_build_object(k, CASE
            WHEN k = 'warehouse_uuid' THEN fz.pick('["33333333-3333-4333-8333-333333333333", "99999999-9999-4999-8999-999999999999",
                   "{11111111-1111-4111-8111-111111111111}", "11111111111141118111111111111111", "11111111-1111-4111-8111-11111111111",
                   "11111111-1111-4111-8111-1111111111111", "g1111111-1111-4111-8111-111111111111", "", "main",
                   "aaaaaaaa-0000-4000-8000-00000000000a", "22222222-2222-4222-8222-222222222222"]')
            ELSE fz.garbage() END);
    WHEN 7 THEN what := 'nesting';
        IF fz.r(2) = 0 THEN
            it := jsonb_build_array(it);
        ELSE
            it := it || jsonb_build_object(k, (repeat('[', d) || (it -> k)::text || repeat(']', d))::jsonb);
        END IF;
    WHEN 8 THEN what := 'extra field';
        it := it || jsonb_build_object(fz.pickt(ARRAY['extra', 'onhand', 'SKU', 'note', 'id', 'Cost', 'binLocation', 'reserved',
                                                      'delta', 'onHandDelta', 'expect', 'expected_on_hand', 'available_delta']),
                                       fz.garbage());
    WHEN 9 THEN what := 'non-object item';
        it := fz.pick('[1, "x", null, true, [], [{}], 0.5]');
    WHEN 10 THEN what := 'duplicate key';
        -- jsonb keeps the last of duplicate keys
        k := fz.pickt(ARRAY['sku', 'warehouse_uuid', 'on_hand', 'cost', 'on_hand_delta', 'expect_on_hand']);
        it := (left(it::text, -1) || CASE WHEN it = '{}' THEN '' ELSE ', ' END
               || to_jsonb(k)::text || ': ' || fz.garbage()::text || '}')::jsonb;
    WHEN 11 THEN what := 'both expects';
        it := it || jsonb_build_object('expect_on_hand', fz.r(3), 'expect_available', fz.r(3));
    ELSE what := 'duplicate item';
        items := items || jsonb_build_array(it);
    END CASE;
    items_out := jsonb_set(items, ARRAY[i::text], it);
END $$;

-- One case: a body and the other arguments, and what was done to it.
CREATE FUNCTION fz.gen(OUT body jsonb, OUT create_missing boolean, OUT ikey text, OUT what text)
LANGUAGE plpgsql AS $$
DECLARE
    n     int;
    x     int := fz.r(100);
    items jsonb := '[]';
    muts  int;
    w     text;
BEGIN
    n := CASE WHEN x < 55 THEN 1 + fz.r(3) WHEN x < 85 THEN 4 + fz.r(12)
              WHEN x < 98 THEN 16 + fz.r(35) ELSE 48 + fz.r(10) END;
    FOR j IN 1 .. n LOOP
        items := items || jsonb_build_array(fz.valid_item());
    END LOOP;
    create_missing := fz.r(8) <> 0;
    ikey := CASE WHEN fz.r(20) = 0 THEN 'fz-key-' || md5(random()::text) END;
    what := CASE WHEN n > 50 THEN 'too many' ELSE 'valid' END;

    x := fz.r(100);
    IF x < 50 THEN
        muts := 1 + fz.r(3);
        what := NULL;
        FOR j IN 1 .. muts LOOP
            SELECT m.items_out, m.what INTO items, w FROM fz.mutate_items(items) m;
            what := concat_ws(', ', what, w);
        END LOOP;
    END IF;

    body := CASE WHEN fz.r(10) < 7 THEN jsonb_build_object('inventory', items) ELSE items END;

    IF x >= 50 AND x < 58 THEN
        CASE fz.r(12)
        WHEN 0 THEN what := 'top: extra key';     body := jsonb_build_object('inventory', items, fz.pickt(ARRAY['extra', 'Inventory', 'items', '']), 1);
        WHEN 1 THEN what := 'top: scalar';        body := fz.pick('[1, "inventory", true, null, 0]');
        WHEN 2 THEN what := 'top: empty array';   body := fz.pick('[[], {"inventory": []}]');
        WHEN 3 THEN what := 'top: not an array';  body := jsonb_build_object('inventory', coalesce(items -> 0, '{}'));
        WHEN 4 THEN what := 'top: no inventory';  body := jsonb_build_object('Inventory', items);
        WHEN 5 THEN what := 'top: nested';        body := jsonb_build_object('inventory', jsonb_build_object('inventory', items));
        WHEN 6 THEN what := 'top: array in array'; body := jsonb_build_array(items);
        WHEN 7 THEN what := 'too many';
            WHILE jsonb_array_length(items) <= 50 LOOP
                items := items || items;
            END LOOP;
            body := CASE WHEN fz.r(2) = 0 THEN items ELSE jsonb_build_object('inventory', items) END;
        WHEN 8 THEN what := 'null body';          body := NULL;
        WHEN 9 THEN what := 'null create_missing'; create_missing := NULL;
        WHEN 10 THEN what := 'bad key';           ikey := fz.pickt(ARRAY['', repeat('k', 256), repeat('k', 300), repeat(chr(233), 128)]);
        ELSE what := 'exactly 50';
            items := '[]';
            FOR j IN 1 .. 50 LOOP
                items := items || jsonb_build_array(fz.valid_item());
            END LOOP;
            body := items;
        END CASE;
    END IF;
END $$;

-- The model: what inventory_adjust must do with these arguments, from the
-- README.  state is NULL (accept) or the SQLSTATE; bad lists the 1-based
-- positions of the invalid items.
CREATE FUNCTION fz.string_ok(v jsonb, maxlen int, identifier boolean) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_typeof(v) = 'string'
       AND length(v #>> '{}') <= maxlen
       AND (v #>> '{}') !~ '[\x01-\x1f\x7f]'
       AND (NOT identifier OR ((v #>> '{}') <> '' AND (v #>> '{}') !~ '^ ' AND (v #>> '{}') !~ ' $'))
$$;
CREATE FUNCTION fz.quantity_ok(v jsonb) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_typeof(v) = 'number'
       AND (v::text)::numeric = trunc((v::text)::numeric)
       AND (v::text)::numeric BETWEEN 0 AND 2147483647
$$;
CREATE FUNCTION fz.delta_ok(v jsonb) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_typeof(v) = 'number'
       AND (v::text)::numeric = trunc((v::text)::numeric)
       AND (v::text)::numeric BETWEEN -2147483647 AND 2147483647
$$;
CREATE FUNCTION fz.cost_ok(v jsonb) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_typeof(v) = 'number'
       AND (v::text)::numeric = round((v::text)::numeric, 2)
       AND (v::text)::numeric BETWEEN 0 AND 99999999.99
$$;
CREATE FUNCTION fz.item_ok(it jsonb) RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF jsonb_typeof(it) <> 'object' THEN
        RETURN false;
    END IF;
    IF EXISTS (SELECT FROM jsonb_object_keys(it) k
                WHERE k NOT IN ('sku', 'warehouse_uuid', 'on_hand', 'available', 'on_hand_delta',
                                'expect_on_hand', 'expect_available', 'description', 'bin_location', 'cost')) THEN
        RETURN false;
    END IF;
    IF NOT (it ? 'sku') OR NOT fz.string_ok(it -> 'sku', 255, true) THEN
        RETURN false;
    END IF;
    IF NOT (it ? 'warehouse_uuid') OR jsonb_typeof(it -> 'warehouse_uuid') <> 'string'
       OR (it ->> 'warehouse_uuid') !~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
       OR NOT EXISTS (SELECT FROM inventory.inventory_warehouses w
                       WHERE w.uuid = (it ->> 'warehouse_uuid')::uuid AND NOT w.archived) THEN
        RETURN false;
    END IF;
    -- exactly one operation, at most one expect
    IF (it ? 'on_hand')::int + (it ? 'available')::int + (it ? 'on_hand_delta')::int <> 1
       OR (it ? 'expect_on_hand' AND it ? 'expect_available') THEN
        RETURN false;
    END IF;
    IF (it ? 'on_hand' AND NOT fz.quantity_ok(it -> 'on_hand'))
       OR (it ? 'available' AND NOT fz.quantity_ok(it -> 'available'))
       OR (it ? 'on_hand_delta' AND NOT fz.delta_ok(it -> 'on_hand_delta'))
       OR (it ? 'expect_on_hand' AND NOT fz.delta_ok(it -> 'expect_on_hand'))
       OR (it ? 'expect_available' AND NOT fz.delta_ok(it -> 'expect_available')) THEN
        RETURN false;
    END IF;
    IF it ? 'description' AND NOT fz.string_ok(it -> 'description', 1000, false) THEN
        RETURN false;
    END IF;
    IF it ? 'bin_location' AND NOT fz.string_ok(it -> 'bin_location', 255, false) THEN
        RETURN false;
    END IF;
    IF it ? 'cost' AND NOT fz.cost_ok(it -> 'cost') THEN
        RETURN false;
    END IF;
    RETURN true;
END $$;
CREATE FUNCTION fz.expect(body jsonb, create_missing boolean, ikey text,
                          OUT state text, OUT bad int[], OUT n int) LANGUAGE plpgsql STABLE AS $$
DECLARE
    items jsonb;
BEGIN
    bad := '{}';
    IF body IS NULL OR create_missing IS NULL THEN
        state := '22004'; RETURN;
    END IF;
    IF ikey IS NOT NULL AND (ikey = '' OR octet_length(ikey) > 255) THEN
        state := '22023'; RETURN;
    END IF;
    IF jsonb_typeof(body) = 'object' THEN
        IF EXISTS (SELECT FROM jsonb_object_keys(body) k WHERE k <> 'inventory') OR NOT body ? 'inventory'
           OR jsonb_typeof(body -> 'inventory') <> 'array' THEN
            state := '22023'; RETURN;
        END IF;
        items := body -> 'inventory';
    ELSIF jsonb_typeof(body) = 'array' THEN
        items := body;
    ELSE
        state := '22023'; RETURN;
    END IF;
    n := jsonb_array_length(items);
    IF n = 0 THEN
        state := '22023'; RETURN;
    END IF;
    IF n > 50 THEN
        state := '54000'; RETURN;
    END IF;
    SELECT coalesce(array_agg(e.i::int ORDER BY e.i), '{}') INTO bad
      FROM jsonb_array_elements(items) WITH ORDINALITY e(v, i)
     WHERE NOT fz.item_ok(e.v);
    IF cardinality(bad) > 0 THEN
        state := '22023';
    END IF;
END $$;

-- Run cases first .. first + n - 1 (seeded by the chunk), recording
-- accepted batches, counts and every disagreement with the model.
CREATE FUNCTION fz.run(chunk int, first int, n int, seed double precision) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    g        record;
    e        record;
    st       text;
    msg      text;
    det      text;
    res      bigint;
    res2     bigint;
    named    int[];
    accepted int := 0;
    rejected int := 0;
    retries  int := 0;
    states   jsonb := '{}';
    muts     jsonb := '{}';
    mkind    text;
    q0       bigint;
BEGIN
    PERFORM setseed(seed);
    FOR c IN first .. first + n - 1 LOOP
        g := fz.gen();
        e := fz.expect(g.body, g.create_missing, g.ikey);
        mkind := split_part(split_part(g.what, ',', 1), ' of ', 1);
        mkind := regexp_replace(mkind, '^(drop|rename) .*', '\1');
        muts := jsonb_set(muts, ARRAY[mkind], to_jsonb(coalesce((muts ->> mkind)::int, 0) + 1));
        st := NULL; msg := NULL; det := NULL; res := NULL;
        BEGIN
            res := inventory_adjust(g.body, g.create_missing, g.ikey);
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
        END;
        states := jsonb_set(states, ARRAY[coalesce(st, 'accepted')],
                            to_jsonb(coalesce((states ->> coalesce(st, 'accepted'))::int, 0) + 1));
        IF st IS NULL THEN
            accepted := accepted + 1;
            IF e.state IS NOT NULL THEN
                INSERT INTO fz.problems VALUES (c, 'accepted, the model rejects it', e.state || ' items ' || e.bad::text,
                    'batch ' || res, NULL, NULL, left(g.body::text, 3000), g.create_missing, g.ikey);
            END IF;
            BEGIN
                INSERT INTO fz.accepted VALUES (c, res,
                    CASE WHEN jsonb_typeof(g.body) = 'object' THEN g.body -> 'inventory' ELSE g.body END,
                    g.create_missing);
            EXCEPTION WHEN unique_violation THEN
                INSERT INTO fz.problems VALUES (c, 'accepted call returned a batch id already returned', NULL,
                    'batch ' || res, NULL, NULL, left(g.body::text, 3000), g.create_missing, g.ikey);
            END;
            -- a retry under the same idempotency key returns the same batch
            IF g.ikey IS NOT NULL THEN
                retries := retries + 1;
                BEGIN
                    res2 := inventory_adjust(g.body, g.create_missing, g.ikey);
                    SELECT count(*) INTO q0 FROM inventory.inventory_queue q WHERE q.batch_id > res;
                    IF res2 IS DISTINCT FROM res OR q0 <> 0 THEN
                        INSERT INTO fz.problems VALUES (c, 'idempotent retry', 'batch ' || res || ', nothing queued',
                            'batch ' || res2 || ', ' || q0 || ' batches queued after it',
                            NULL, NULL, left(g.body::text, 3000), g.create_missing, g.ikey);
                    END IF;
                EXCEPTION WHEN OTHERS THEN
                    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
                    INSERT INTO fz.problems VALUES (c, 'idempotent retry failed', 'batch ' || res, st, msg, det,
                        left(g.body::text, 3000), g.create_missing, g.ikey);
                END;
            END IF;
        ELSE
            rejected := rejected + 1;
            IF st NOT IN ('22023', '54000', '22004') THEN
                INSERT INTO fz.problems VALUES (c, 'unexpected SQLSTATE', coalesce(e.state, 'accept'), st, msg, left(det, 2000),
                    left(g.body::text, 3000), g.create_missing, g.ikey);
            ELSIF e.state IS NULL THEN
                INSERT INTO fz.problems VALUES (c, 'rejected, the model accepts it', 'accept', st, msg, left(det, 2000),
                    left(g.body::text, 3000), g.create_missing, g.ikey);
            ELSIF e.state <> st THEN
                INSERT INTO fz.problems VALUES (c, 'SQLSTATE differs from the model', e.state, st, msg, left(det, 2000),
                    left(g.body::text, 3000), g.create_missing, g.ikey);
            END IF;
            IF det IS NULL OR det = '' THEN
                INSERT INTO fz.problems VALUES (c, 'no DETAIL', e.state, st, msg, det,
                    left(g.body::text, 3000), g.create_missing, g.ikey);
            END IF;
            IF st = '22023' AND e.state = '22023' AND cardinality(e.bad) > 0 THEN
                SELECT coalesce(array_agg(DISTINCT m[1]::int ORDER BY m[1]::int), '{}') INTO named
                  FROM regexp_matches(det, '^Item (\d+): ', 'gn') m;
                IF msg <> format('inventory batch rejected: %s of %s items are invalid', cardinality(e.bad), e.n)
                   OR (named <> e.bad AND det !~ 'more problems are not listed\.$') THEN
                    INSERT INTO fz.problems VALUES (c, 'rejection names other items than the model',
                        format('%s of %s items, items %s', cardinality(e.bad), e.n, e.bad), 'items ' || named::text,
                        msg, left(det, 2000), left(g.body::text, 3000), g.create_missing, g.ikey);
                END IF;
            END IF;
        END IF;
    END LOOP;
    INSERT INTO fz.counts VALUES (chunk, n, accepted, rejected, retries, states, muts);
    RETURN accepted || ' ' || rejected;
END $$;
EOSQL

# ---- run
my $queue0 = $node->safe_psql('postgres', 'SELECT count(*) FROM inventory_queue');
is($queue0, '0', 'queue starts empty');
my $t0 = time;
my ($done, $acc, $rej) = (0, 0, 0);
my $chunk_no = 0;
while ($done < $cases)
{
	my $n = $cases - $done < $chunk ? $cases - $done : $chunk;
	# a distinct, reproducible seed in [-1, 1] for each chunk
	my $s = sprintf('%.6f', (($seed * 7919 + $chunk_no * 104729) % 2000000) / 1000000 - 1);
	my $r = $node->safe_psql('postgres', "SELECT fz.run($chunk_no, $done + 1, $n, $s)", timeout => 600);
	my ($a, $j) = split / /, $r;
	$acc += $a;
	$rej += $j;
	$done += $n;
	$chunk_no++;
}
my $elapsed = time - $t0;
note(sprintf("%d cases in %.1f s (%.0f/s): %d accepted, %d rejected", $done, $elapsed, $done / $elapsed, $acc, $rej));
diag(sprintf("random bodies: cases %d, accepted %d, rejected %d (seed %s, %.1f s)", $done, $acc, $rej, $seed, $elapsed));
note('outcomes: ' . $node->safe_psql('postgres', q{
SELECT string_agg(k || ' ' || v, ', ' ORDER BY k) FROM (
  SELECT k, sum(v::int) AS v FROM fz.counts, jsonb_each_text(by_state) s(k, v) GROUP BY k) x}));
note('kinds of case: ' . $node->safe_psql('postgres', q{
SELECT string_agg(k || ' ' || v, ', ' ORDER BY v DESC) FROM (
  SELECT k, sum(v::int) AS v FROM fz.counts, jsonb_each_text(by_mutation) s(k, v) GROUP BY k) x}));

cmp_ok($acc, '>', $cases / 5, 'a good share of the cases is accepted');
cmp_ok($rej, '>', $cases / 5, 'a good share of the cases is rejected');

# every disagreement with the model, grouped, with a few examples each
my $problems = $node->safe_psql('postgres', q{
SELECT kind || ': ' || count(*) || ' cases' || E'\n' || string_agg(ex, E'\n')
  FROM (SELECT kind, format('  case %s: expected %s, got %s%s%s%s', case_no, expected, got,
                            coalesce(E'\n    message: ' || message, ''),
                            coalesce(E'\n    detail:  ' || replace(left(detail, 400), E'\n', E'\n             '), ''),
                            E'\n    args:    ' || coalesce(left(body, 400), 'NULL') || ', ' || coalesce(create_missing::text, 'NULL')
                            || ', ' || coalesce(quote_literal(left(ikey, 40)), 'NULL')) AS ex,
               row_number() OVER (PARTITION BY kind ORDER BY case_no) AS rn
          FROM fz.problems) p
 WHERE rn <= 5
 GROUP BY kind ORDER BY kind;
});
my $nproblems = $node->safe_psql('postgres', 'SELECT count(*) FROM fz.problems');
is($nproblems, '0', 'every call did what the model of the README says') or diag($problems);

# ---- the queue holds exactly the accepted batches, with their items
my $queued = $node->safe_psql('postgres', 'SELECT count(*) FROM inventory_queue');
is($queued, $acc, "queue grew by the number of accepted calls ($acc)");
is($node->safe_psql('postgres', q{
SELECT count(*) FROM fz.accepted a FULL JOIN inventory_queue q ON q.batch_id = a.batch_id
 WHERE q.batch_id IS NULL OR a.batch_id IS NULL OR q.items <> a.items
    OR q.item_count <> jsonb_array_length(a.items) OR q.create_missing <> a.create_missing}),
	'0', 'each queued batch holds exactly the items of its accepted call');

# ---- apply everything and compare with a replay of the accepted items
my $t1 = time;
my $applied = 0;
for my $round (1 .. 1000)
{
	my $n = $node->safe_psql('postgres', 'SELECT inventory_process_queue(5000)', timeout => 600);
	$applied += $n;
	last if $n == 0;
}
note(sprintf("applied %d batches in %.1f s", $applied, time - $t1));
is($applied, $acc, 'inventory_process_queue applied every accepted batch');
is($node->safe_psql('postgres', "SELECT count(*) FROM inventory_queue"), '0', 'queue is empty');
is($node->safe_psql('postgres',
	"SELECT count(*) || ' ' || count(*) FILTER (WHERE state = 'applied') FROM inventory_batch_history"),
	"$acc $acc", 'all batches applied, none failed')
  or diag($node->safe_psql('postgres',
	"SELECT string_agg(batch_id || ': ' || error, E'\n') FROM inventory_batch_history WHERE state = 'failed'"));

# The replay, item by item per key in queue order (reserved is 0 here, so
# available is on_hand): an item is skipped when its row is missing and its
# batch was queued without create_missing (PATCH); a conflict when its
# expect differs from on_hand (a missing row counts as 0); out_of_range
# when its delta would take on_hand below 0 or above 2147483647; else it
# sets on_hand (on_hand, available) or adds to it (on_hand_delta), and the
# last bin_location and cost given by an applied item are kept.
$node->safe_psql('postgres', q{
CREATE TABLE fz.model (sku text, wh uuid, on_hand numeric, bin text, cost numeric);
CREATE TABLE fz.model_rejected (batch_id bigint, item int, outcome text, expected numeric, actual numeric);
DO $$
DECLARE
    r      record;
    ksku   text;
    kwh    uuid;
    exists_ boolean;
    oh     numeric;
    bin    text;
    cost   numeric;
    nv     numeric;
    first  boolean := true;
BEGIN
    FOR r IN
        SELECT a.batch_id, e.i::int AS item, a.create_missing,
               e.v ->> 'sku' AS sku, (e.v ->> 'warehouse_uuid')::uuid AS wh,
               coalesce(e.v ->> 'on_hand', e.v ->> 'available')::numeric AS q,
               (e.v ->> 'on_hand_delta')::numeric AS d,
               coalesce(e.v ->> 'expect_on_hand', e.v ->> 'expect_available')::numeric AS x,
               e.v ->> 'bin_location' AS bin, (e.v ->> 'cost')::numeric AS cost
          FROM fz.accepted a, jsonb_array_elements(a.items) WITH ORDINALITY e(v, i)
         ORDER BY e.v ->> 'sku' COLLATE "C", (e.v ->> 'warehouse_uuid')::uuid, a.batch_id, e.i
    LOOP
        IF first OR r.sku <> ksku OR r.wh <> kwh THEN
            IF NOT first AND exists_ THEN
                INSERT INTO fz.model VALUES (ksku, kwh, oh, bin, cost);
            END IF;
            first := false;
            ksku := r.sku; kwh := r.wh; exists_ := false; oh := 0; bin := NULL; cost := NULL;
        END IF;
        IF NOT exists_ AND NOT r.create_missing THEN
            CONTINUE;
        END IF;
        IF r.x IS NOT NULL AND r.x <> oh THEN
            INSERT INTO fz.model_rejected VALUES (r.batch_id, r.item, 'conflict', r.x, oh);
            CONTINUE;
        END IF;
        nv := coalesce(r.q, oh + r.d);
        IF r.d IS NOT NULL AND ((r.d < 0 AND nv < 0) OR (r.d > 0 AND nv > 2147483647)) THEN
            INSERT INTO fz.model_rejected VALUES (r.batch_id, r.item, 'out_of_range', NULL, oh);
            CONTINUE;
        END IF;
        exists_ := true;
        oh := nv;
        bin := coalesce(r.bin, bin);
        cost := coalesce(r.cost, cost);
    END LOOP;
    IF NOT first AND exists_ THEN
        INSERT INTO fz.model VALUES (ksku, kwh, oh, bin, cost);
    END IF;
END $$;
});
note('rejected items: ' . $node->safe_psql('postgres',
	"SELECT coalesce(string_agg(outcome || ' ' || n, ', ' ORDER BY outcome), 'none') FROM (SELECT outcome, count(*) AS n FROM fz.model_rejected GROUP BY outcome) x"));
is($node->safe_psql('postgres', q{
SELECT format('batch %s item %s: model %s, history %s', coalesce(m.batch_id, h.batch_id), coalesce(m.item, h.item),
              coalesce(m.outcome || ' ' || m.expected || ' ' || m.actual, 'applied'),
              coalesce(h.outcome || ' ' || h.expected || ' ' || h.actual, 'applied'))
  FROM fz.model_rejected m
  FULL JOIN (SELECT b.batch_id, (r ->> 'item')::int AS item, r ->> 'outcome' AS outcome,
                    (r ->> 'expected')::numeric AS expected, (r ->> 'actual')::numeric AS actual
               FROM inventory_batch_history b, jsonb_array_elements(b.rejected) r) h
    ON h.batch_id = m.batch_id AND h.item = m.item
 WHERE m.batch_id IS NULL OR h.batch_id IS NULL OR m.outcome <> h.outcome
    OR m.expected IS DISTINCT FROM h.expected OR m.actual <> h.actual
 ORDER BY 1 LIMIT 20}), '', 'exactly the items the replay rejects are recorded as rejected, with the values');
is($node->safe_psql('postgres', q{
SELECT count(*) FROM inventory_ledger l JOIN fz.model_rejected m ON m.batch_id = l.batch_id AND m.item = l.item}),
	'0', 'rejected items have no ledger row');
my $model_diff = $node->safe_psql('postgres', q{
SELECT format('%s/%s: model %s, levels %s', coalesce(m.sku, l.sku), coalesce(m.wh, l.warehouse_uuid),
              CASE WHEN m.sku IS NULL THEN 'none' ELSE format('on_hand %s bin %s cost %s', m.on_hand, m.bin, m.cost) END,
              CASE WHEN l.sku IS NULL THEN 'none' ELSE format('on_hand %s bin %s cost %s', l.on_hand, l.bin_location, l.cost) END)
  FROM fz.model m FULL JOIN inventory_levels l ON l.sku = m.sku AND l.warehouse_uuid = m.wh
 WHERE m.sku IS NULL OR l.sku IS NULL OR m.on_hand <> l.on_hand OR m.bin IS DISTINCT FROM l.bin_location
    OR m.cost IS DISTINCT FROM l.cost OR l.reserved <> 0 OR l.available <> l.on_hand
 ORDER BY 1 LIMIT 20;
});
is($model_diff, '', 'levels equal a replay of the accepted items');
note('level rows: ' . $node->safe_psql('postgres', 'SELECT count(*) FROM inventory_levels'));
is($node->safe_psql('postgres', 'SELECT count(*) FROM inventory_verify()'), '0', 'inventory_verify() finds nothing');

# ---- the server never crashed
my ($pm_pid_now) = PostgreSQL::Test::Utils::slurp_file($node->data_dir . '/postmaster.pid') =~ /^(\d+)/;
is($pm_pid_now, $pm_pid, 'same postmaster');
ok(kill(0, $pm_pid), 'postmaster is alive');
is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'), $start_time,
	'postmaster was not restarted');
my $log = PostgreSQL::Test::Utils::slurp_file($node->logfile);
my @crash = grep { /terminated by signal|server process .* (?:was terminated|exited with exit code)|terminating any other active server processes|database system was interrupted/ }
  split /\n/, $log;
is(scalar(@crash), 0, 'no crash in the server log') or diag(join("\n", @crash[0 .. ($#crash < 9 ? $#crash : 9)]));

$node->stop;
done_testing();
