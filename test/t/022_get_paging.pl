# Paging through stock with inventory_get's cursor while it changes.
#
# 3 000 level rows (1 000 skus in 3 warehouses, every other sku number
# left free).  While pgbench clients queue batches that set on_hand of
# existing rows and create rows at the free sku numbers (between existing
# keys, before and after the walk's position), and the worker applies them,
# the whole table is walked page by page, each page its own statement:
#   - with inventory_get, 7 rows a page, passing the last row's cursor;
#   - with inventory_get_json, one warehouse, 20 rows a page, passing
#     next_cursor until it is null.
# Every row that existed before the walk (nothing deletes rows, so all of
# them exist throughout) is returned exactly once, no row is returned twice,
# and rows come in strictly increasing key order.  Rows created during the
# walk may or may not be returned.  The test checks that the load really
# overlapped each walk: batches were applied, and rows that the walk had
# not reached yet and rows it had passed were changed, while it ran.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use InventoryTest;

my @WH = ('5b1e7a9c-0d2f-4e6a-9b3c-1f2e3d4c5b6a', '6c2f8bad-1e30-4f7b-8c4d-2a3f4e5d6c7b',
	'7d3a9cbe-2f41-4a8c-9d5e-3b4a5f6e7d8c');

my $node = inventory_node('get_paging');
install_extension($node, $WH[0], qq{
	INSERT INTO inventory_warehouses (uuid, name) VALUES ('$WH[1]', 'Second'), ('$WH[2]', 'Third');
	INSERT INTO inventory_levels (sku, warehouse_uuid, on_hand)
	SELECT 'P-' || lpad((2 * i)::text, 5, '0'), w, i
	  FROM generate_series(0, 999) i, unnest(ARRAY['$WH[0]', '$WH[1]', '$WH[2]']::uuid[]) w;
});

sub sql { return $node->safe_psql('postgres', $_[0]); }

is(sql('SELECT count(*) FROM inventory_levels'), '3000', '3000 level rows to walk');

# The load: 10-item batches over sku numbers 0..2999 in every warehouse;
# even numbers below 2000 exist (their on_hand is set), the others are
# created.
my $script = PostgreSQL::Test::Utils::tempdir() . '/get_load.sql';
open my $fh, '>', $script or die "$script: $!";
print $fh qq{SELECT inventory_adjust((SELECT jsonb_agg(jsonb_build_object(
           'sku', 'P-' || lpad((random() * 2999)::int::text, 5, '0'),
           'warehouse_uuid', (ARRAY['$WH[0]', '$WH[1]', '$WH[2]'])[1 + (random() * 2)::int],
           'on_hand', (random() * 1000)::int))
      FROM generate_series(1, 10)));
};
close $fh;

# Keys as "sku|warehouse", in key order (bytewise sku, then the uuid, whose
# order is that of its lower-case text).
sub keys_of { return [ split /\n/, $_[0] ]; }

# Check a walk: every row of @$before exactly once, nothing twice, in order.
sub check_walk
{
	my ($name, $walk, $before) = @_;
	my %seen;
	$seen{$_}++ for @$walk;
	my @twice = grep { $seen{$_} > 1 } sort keys %seen;
	is(scalar(@twice), 0, "$name: no row returned twice") or diag('twice: ' . join(' ', @twice[0 .. ($#twice < 9 ? $#twice : 9)]));
	my @missed = grep { !$seen{$_} } @$before;
	is(scalar(@missed), 0, "$name: every row that existed throughout returned (" . scalar(@$before) . ')')
	  or diag('missed: ' . join(' ', @missed[0 .. ($#missed < 9 ? $#missed : 9)]));
	my $disorder = 0;
	for my $i (1 .. $#$walk)
	{
		my ($s0, $w0) = split /\|/, $walk->[ $i - 1 ];
		my ($s1, $w1) = split /\|/, $walk->[$i];
		$disorder++ unless $s0 lt $s1 || ($s0 eq $s1 && $w0 lt $w1);
	}
	is($disorder, 0, "$name: rows in strictly increasing key order");
	note("$name: " . scalar(@$walk) . ' rows returned, ' . (scalar(keys %seen) - scalar(@$before)) . ' of them created during the walk');
}

# Run a walk while pgbench loads; returns the walk's keys and what
# happened meanwhile.
sub walk_under_load
{
	my ($name, $where, $page) = @_;
	my $before = keys_of(sql(qq{
		SELECT sku || '|' || warehouse_uuid FROM inventory_levels $where ORDER BY sku COLLATE "C", warehouse_uuid}));
	my $batches0 = sql("SELECT count(*) FROM inventory_batches WHERE state = 'applied'");
	my $ledger0 = sql('SELECT COALESCE(max(id), 0) FROM inventory_ledger');

	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'pgbench', '-n', '-h', $node->host, '-p', $node->port, '-c', '2', '-R', '50', '-T', '600',
		  '-f', $script, 'postgres' ],
		'>', \$out, '2>', \$err);
	ok(poll_until($node, 'postgres',
			"SELECT count(*) >= 20 FROM inventory_batches WHERE state = 'applied' AND batch_id > $batches0", 't', 60),
		"$name: the load runs and the worker applies it");

	my ($walk, $passed) = $page->();
	my $ledger1 = sql('SELECT max(id) FROM inventory_ledger');
	$h->signal('INT');
	$h->finish;
	note("pgbench: $err") if $err =~ /abort/i;

	# the load overlapped the walk: rows were changed while it ran, both
	# ahead of it and behind it (as it was when the change was made is
	# not known; rows before and after the middle of the key space will do)
	my $during = sql(qq{
		SELECT count(*) FILTER (WHERE source = 'adjust'),
		       count(*) FILTER (WHERE sku < 'P-01000'), count(*) FILTER (WHERE sku >= 'P-01000')
		  FROM inventory_ledger WHERE id > $ledger0 AND id <= $ledger1 $passed});
	my ($changes, $low, $high) = split /\|/, $during;
	cmp_ok($changes, '>', 100, "$name: the worker applied changes during the walk ($changes)");
	ok($low > 0 && $high > 0, "$name: changes on both sides of the middle of the key space ($low, $high)");
	check_walk($name, $walk, $before);
}

# 1. inventory_get, the whole table, 7 rows a page, in one session: a DO
# block whose statements each take a new snapshot (READ COMMITTED), as
# separate calls would, pausing 5 ms between pages
walk_under_load('inventory_get', '', sub {
	my $out = sql(q{
		CREATE TEMP TABLE walk (n serial, key text);
		DO $$
		DECLARE
		    c text;
		    r inventory.inventory_stock;
		    got int;
		    pages int := 0;
		BEGIN
		    LOOP
		        got := 0;
		        FOR r IN SELECT * FROM inventory_get("limit" => 7, cursor => c) LOOP
		            INSERT INTO walk (key) VALUES (r.sku || '|' || r.warehouse_uuid);
		            c := r.cursor;
		            got := got + 1;
		        END LOOP;
		        pages := pages + 1;
		        EXIT WHEN got < 7;
		        IF pages > 5000 THEN RAISE EXCEPTION 'walk does not end'; END IF;
		        PERFORM pg_sleep(0.005);
		    END LOOP;
		    RAISE NOTICE 'pages %', pages;
		END
		$$;
		SELECT key FROM walk ORDER BY n});
	return (keys_of($out), '');
});

# 2. inventory_get_json, one warehouse, 20 rows a page, each page a call
# of its own
walk_under_load('inventory_get_json', "WHERE warehouse_uuid = '$WH[1]'", sub {
	my (@walk, $cursor);
	my $pages = 0;
	while (1)
	{
		my $arg = defined $cursor ? "'$cursor'" : 'NULL';
		my $out = sql(qq{
			WITH b AS (SELECT inventory_get_json(warehouse_uuid => '$WH[1]', "limit" => 20, cursor => $arg) AS body)
			SELECT COALESCE(b.body ->> 'next_cursor', '') FROM b
			UNION ALL
			SELECT e ->> 'sku' || '|' || (e ->> 'warehouse_uuid') FROM b, jsonb_array_elements(b.body -> 'inventory') e});
		$pages++;
		my ($next, @rows) = split /\n/, $out, -1;
		push @walk, grep { $_ ne '' } @rows;
		last if $next eq '';
		$cursor = $next;
		die "walk does not end" if $pages > 5000;
	}
	note("inventory_get_json: $pages pages");
	return (\@walk, "AND warehouse_uuid = '$WH[1]'");
});

is(sql('SELECT count(*) FROM inventory_verify()'), '0', 'inventory_verify() is clean after the load');

done_testing();
