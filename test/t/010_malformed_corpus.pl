# Every line of test/corpus/malformed.txt is a malformed inventory_adjust
# call.  Each must fail with an ERROR carrying the expected SQLSTATE and a
# DETAIL (naming the offending items for item-level problems) of at most
# 16 KB (values are quoted short, whatever their size), and after all of
# them every table and sequence of the extension is unchanged.
#
# The calls run in one plpgsql DO block, each in its own BEGIN ... EXCEPTION
# block (a subtransaction): an ERROR is caught with GET STACKED DIAGNOSTICS
# and recorded; a call that unexpectedly succeeds is recorded too, and its
# queued batch stays (the subtransaction is released), so the before/after
# comparison sees it.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use InventoryTest;
use JSON::PP;
use File::Basename qw(dirname);

# PostgreSQL::Test::Cluster->init runs $ENV{PG_REGRESS} --config-auth;
# test/run-tests does not set it: take the one of the installed PGXS.
$ENV{PG_REGRESS} //= dirname(dirname(`pg_config --pgxs`)) . '/test/regress/pg_regress';

my $corpus_file = 'test/corpus/malformed.txt';
my $W1 = '11111111-1111-4111-8111-111111111111';
my $W2 = '22222222-2222-4222-8222-222222222222';
my $WA = '33333333-3333-4333-8333-333333333333';

# ---- read the corpus
open(my $fh, '<', $corpus_file) or die "cannot open $corpus_file: $!";
my @cases;
my %labels;
while (my $line = <$fh>)
{
	chomp $line;
	next if $line =~ /^#/ || $line !~ /\S/;
	my ($label, $expect, $args, @rest) = split /\t/, $line, -1;
	die "$corpus_file:$.: expected 3 TAB-separated fields" if !defined $args || @rest;
	die "$corpus_file:$.: duplicate label $label" if $labels{$label}++;
	my ($state, $kind, $items) =
	  $expect =~ /^([0-9A-Z]{5}) (item|items|batch|jsonb)(?: (\*|\d+(?:,\d+)*))?$/
	  or die "$corpus_file:$.: bad EXPECT field \"$expect\"";
	die "$corpus_file:$.: \"$kind\" needs an item list" if $kind =~ /^item/ && !defined $items;
	push @cases, { lineno => $., label => $label, state => $state, kind => $kind,
		items => $items, args => $args };
}
close $fh;
cmp_ok(scalar(@cases), '>=', 150, "corpus has at least 150 cases (" . scalar(@cases) . ")");

# ---- node with the worker preloaded
my $node = inventory_node('malformed', utf8 => 1);

$node->safe_psql('postgres', qq{
CREATE EXTENSION inventory;
INSERT INTO inventory_warehouses (uuid, name, archived) VALUES
  ('$W1', 'Main', false), ('$W2', 'Second', false), ('$WA', 'Old', false);
});

# Existing levels, with reservations, bin locations and costs; a batch under
# an idempotency key; then the third warehouse is archived.
my $batches = $node->safe_psql('postgres', qq{
SELECT inventory_adjust('{"inventory": [
  {"sku": "OK-1", "warehouse_uuid": "$W1", "on_hand": 10, "bin_location": "A-1", "cost": 2.50},
  {"sku": "OK-1", "warehouse_uuid": "$W2", "available": 4, "description": "count"},
  {"sku": "BULK-1", "warehouse_uuid": "$W2", "on_hand": 7},
  {"sku": "OLD-1", "warehouse_uuid": "$WA", "on_hand": 3}]}');
SELECT inventory_adjust('[{"sku": "KEYED", "warehouse_uuid": "$W1", "on_hand": 1}]', true, 'corpus-used-key');
});
for my $b (split /\n/, $batches)
{
	is($node->safe_psql('postgres', "SELECT inventory_wait($b, '60 s')"), 'applied', "setup batch $b applied");
}
$node->safe_psql('postgres', qq{
SELECT inventory_reserve('ORDER-1', 'OK-1', '$W1', 3);
SELECT inventory_reserve('ORDER-2', 'OK-1', '$W2', 9, 'line-1');
UPDATE inventory_warehouses SET archived = true WHERE uuid = '$WA';
});

# ---- snapshot of every table and sequence of the extension
$node->safe_psql('postgres', q{
CREATE SCHEMA corpus_test;
CREATE FUNCTION corpus_test.snapshot() RETURNS TABLE (obj text, digest text)
LANGUAGE plpgsql AS $f$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT c.oid::regclass AS rel, c.relkind
               FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
              WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e'
                AND d.refclassid = 'pg_extension'::regclass
                AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'inventory')
                AND c.relkind IN ('r', 'S')
              ORDER BY 1::text
    LOOP
        obj := r.rel::text;
        IF r.relkind = 'S' THEN
            EXECUTE format('SELECT last_value || '' '' || is_called FROM %s', r.rel) INTO digest;
        ELSE
            EXECUTE format('SELECT count(*) || '' rows, md5 '' || coalesce(md5(string_agg(t::text, E''\n'' ORDER BY t::text)), ''-'') FROM %s t', r.rel)
               INTO digest;
        END IF;
        RETURN NEXT;
    END LOOP;
END
$f$;
CREATE TABLE corpus_test.snap_before AS SELECT * FROM corpus_test.snapshot();
CREATE TABLE corpus_test.cases (lineno int PRIMARY KEY, label text, args text);
CREATE TABLE corpus_test.results (lineno int PRIMARY KEY, outcome text, sqlstate text,
                                  message text, detail text, hint text);
});
my $tables = $node->safe_psql('postgres',
	"SELECT count(*) FILTER (WHERE digest LIKE '% rows, %') || ' tables, ' || count(*) FILTER (WHERE digest NOT LIKE '% rows, %') || ' sequences' FROM corpus_test.snap_before");
note("snapshot covers $tables");
like($tables, qr/^21 tables, 6 sequences$/, 'snapshot covers all 21 tables and 6 sequences of the extension');

# ---- load the cases and run them all
my $load = "BEGIN;\n";
for my $c (@cases)
{
	die "dollar-quote tag in $c->{label}" if $c->{args} =~ /\$corpus\$/;
	$load .= "INSERT INTO corpus_test.cases VALUES ($c->{lineno}, \$corpus\$$c->{label}\$corpus\$, \$corpus\$$c->{args}\$corpus\$);\n";
}
$load .= "COMMIT;\n";
$node->safe_psql('postgres', $load);

my $t0 = time;
# After each call the three sequences are read as well (a sequence read sees
# nextval calls of rolled back subtransactions), so that a call that uses up
# an id is named.
$node->safe_psql('postgres', q{
CREATE FUNCTION corpus_test.seqs() RETURNS text LANGUAGE sql AS $f$
    SELECT (SELECT last_value || '/' || is_called FROM inventory_batch_id_seq) || ' ' ||
           (SELECT last_value || '/' || is_called FROM inventory_ledger_id_seq) || ' ' ||
           (SELECT last_value || '/' || is_called FROM inventory_reservations_id_seq)
$f$;
ALTER TABLE corpus_test.results ADD COLUMN seqs_before text, ADD COLUMN seqs_after text;
DO $do$
DECLARE
    c   record;
    st  text;
    msg text;
    det text;
    hnt text;
    res text;
    s0  text;
BEGIN
    FOR c IN SELECT * FROM corpus_test.cases ORDER BY lineno LOOP
        s0 := corpus_test.seqs();
        BEGIN
            EXECUTE 'SELECT inventory_adjust(' || c.args || ')::text' INTO res;
            INSERT INTO corpus_test.results VALUES (c.lineno, 'accepted', NULL, NULL, NULL, res);
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                                    det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
            INSERT INTO corpus_test.results VALUES (c.lineno, 'error', st, msg, det, hnt);
        END;
        UPDATE corpus_test.results SET seqs_before = s0, seqs_after = corpus_test.seqs()
         WHERE lineno = c.lineno;
    END LOOP;
END
$do$;
}, timeout => 600);
note("ran " . scalar(@cases) . " calls in " . (time - $t0) . " s");

# ---- results: what DETAIL says, summarized in SQL
my $json = $node->safe_psql('postgres', q{
SELECT row_to_json(x) FROM (
  SELECT r.lineno, r.outcome, r.sqlstate,
         left(r.message, 300) AS message,
         r.detail IS NOT NULL AND r.detail <> '' AS has_detail,
         left(r.detail, 600) AS detail_head,
         left(r.hint, 200) AS hint, r.seqs_before, r.seqs_after,
         octet_length(coalesce(r.message, '') || coalesce(r.detail, '')) AS error_bytes,
         (SELECT coalesce(array_agg(DISTINCT m[1]::int ORDER BY m[1]::int), '{}')
            FROM regexp_matches(coalesce(r.detail, ''), '^Item (\d+): ', 'gn') m) AS items_named,
         (SELECT count(*) FROM regexp_split_to_table(coalesce(r.detail, ''), E'\n') l
           WHERE l !~ '^Item \d+: ') AS other_lines,
         (SELECT count(*) FROM regexp_split_to_table(coalesce(r.detail, ''), E'\n') l
           WHERE l ~ '^\d+ more problems are not listed\.$') AS more_lines
    FROM corpus_test.results r ORDER BY r.lineno) x;
});
my %result;
for my $row (split /\n/, $json)
{
	my $r = decode_json($row);
	$result{ $r->{lineno} } = $r;
}

my %tally;
for my $c (@cases)
{
	my $r = $result{ $c->{lineno} };
	my $name = "line $c->{lineno} $c->{label}: $c->{state} $c->{kind}" . (defined $c->{items} ? " $c->{items}" : '');
	my @why;
	if (!$r)
	{
		push @why, 'no result recorded';
	}
	elsif ($r->{outcome} ne 'error')
	{
		push @why, "accepted (returned batch $r->{hint}) instead of an ERROR";
	}
	else
	{
		push @why, "a sequence moved (batch, ledger, reservation ids: $r->{seqs_before} before, $r->{seqs_after} after): a rejected call used up an id"
		  if $r->{seqs_before} ne $r->{seqs_after};
		push @why, "SQLSTATE $r->{sqlstate}, expected $c->{state}" if $r->{sqlstate} ne $c->{state};
		if ($c->{kind} ne 'jsonb')
		{
			push @why, 'no DETAIL' unless $r->{has_detail};
			push @why, "message and DETAIL have $r->{error_bytes} bytes, more than 16 KB"
			  if $r->{error_bytes} > 16384;
		}
		if ($c->{kind} eq 'item' || $c->{kind} eq 'items')
		{
			my @named = @{ $r->{items_named} };
			if ($c->{items} eq '*')
			{
				push @why, 'DETAIL names no item' unless @named;
				push @why, "DETAIL has $r->{other_lines} lines not of the form \"Item N: ...\""
				  if $r->{other_lines} != $r->{more_lines};
			}
			else
			{
				my %want = map { $_ => 1 } split /,/, $c->{items};
				my @missing = grep { my $w = $_; !grep { $_ == $w } @named } sort { $a <=> $b } keys %want;
				my @extra = grep { !$want{$_} } @named;
				push @why, "DETAIL does not name item(s) @missing" if @missing;
				push @why, "DETAIL names other item(s) @extra" if @extra;
				push @why, "DETAIL has $r->{other_lines} lines not of the form \"Item N: ...\""
				  if $r->{other_lines} > 0;
			}
		}
	}
	note("$c->{label}: " . ($r->{outcome} eq 'error' ? "$r->{sqlstate} $r->{message} | " . substr($r->{detail_head} // '', 0, 200) =~ s/\n/ | /gr : 'accepted'))
	  if $ENV{INVENTORY_CORPUS_VERBOSE} && $r;
	$tally{ $r ? ($r->{outcome} eq 'error' ? "error $r->{sqlstate}" : 'accepted') : 'missing' }++;
	ok(!@why, $name) or diag(join("\n",
		"  why:     " . join('; ', @why),
		"  call:    SELECT inventory_adjust(" . (length($c->{args}) > 300 ? substr($c->{args}, 0, 300) . '...' : $c->{args}) . ")",
		$r && $r->{outcome} eq 'error'
		? ("  got:     ERROR $r->{sqlstate}: $r->{message}",
		   "  DETAIL:  " . ($r->{detail_head} // '(none)'),
		   "  HINT:    " . ($r->{hint} // '(none)'))
		: ()));
}
note("outcomes: " . join(', ', map { "$_: $tally{$_}" } sort keys %tally));

# ---- nothing changed
my $diff = $node->safe_psql('postgres', q{
SELECT coalesce(b.obj, a.obj) || ': before ' || coalesce(b.digest, '-') || ', after ' || coalesce(a.digest, '-')
  FROM corpus_test.snap_before b FULL JOIN corpus_test.snapshot() a ON a.obj = b.obj
 WHERE a.digest IS DISTINCT FROM b.digest
 ORDER BY 1;
});
is($diff, '', 'every table and sequence of the extension is unchanged after the corpus')
  or diag("changed:\n$diff\n" . $node->safe_psql('postgres',
	"SELECT 'queued: ' || string_agg(batch_id || ' ' || left(items::text, 120), E'\\n') FROM inventory_queue"));

# the worker had nothing to do and the server is fine
is($node->safe_psql('postgres', 'SELECT count(*) FROM inventory_verify()'), '0', 'inventory_verify() finds nothing');
unlike(PostgreSQL::Test::Utils::slurp_file($node->logfile),
	qr/terminated by signal|server process .* was terminated/, 'no backend crashed');

$node->stop;
done_testing();
