# Scaling out by merchant (1.6 and inventory_router): three nodes and a
# router, each a cluster of its own; the router reaches the nodes over
# loopback TCP through PL/Proxy.  Merchants acme and cora are on node 0,
# bolt on node 1; node 2 starts empty.  The test proves, with what the
# nodes hold:
#   0. The router's install refuses a schema inventory_router that another
#      role made or may create objects in (its SECURITY DEFINER routing
#      functions name the map by that schema).
#   1. Routing: each merchant's batches land on its node only; a batch
#      naming another merchant's warehouse, or two merchants', is refused
#      (22023, the node's per-item DETAIL behind "Remote detail:") with
#      nothing queued anywhere; an unknown merchant is refused; the reads
#      show the merchant's rows only; check_nodes() is all ok.
#   2. Ids carry their node (id >> 48) on every node, so they are unique
#      across nodes, and inventory_wait and inventory_batch_status by id
#      reach the node that queued the batch.
#   3. pgbench through the router for acme and bolt while node 0's worker
#      is SIGKILLed twice (each a crash restart of node 0, so calls in
#      flight there lose their connection): afterwards every queue drains,
#      inventory_verify() is clean everywhere, and every adjustment was
#      applied exactly once.
#   4. acme moved to node 2 (move_merchant) while pgbench keeps adjusting
#      acme and bolt: the map says node 2, node 0 keeps none of acme's rows
#      (and all of cora's), node 2 has them, and the accounting of 3 holds
#      over everything sent before, during and after the move (calls sent
#      during the move wait for it behind its lock on the merchant; a write
#      to a paused merchant is refused with 55006, checked on its own in 1).
#   5. A retry with the same idempotency key returns the same batch: after
#      a failure of the caller's transaction on the router (the node had
#      committed), and across the move (the key moved with acme; the batch
#      id still names node 0, where inventory_wait finds it applied).
#   7. A second move while one runs is refused; a pause whose backend died
#      holds no write back; inventory_prune empties the ledgers of nodes 1
#      and 2 (ids from n * 2^48, and on node 2 rows moved in with node 0's
#      batch ids), and verify stays clean from the checkpoints.
#   6. inventory_changes('acme', <cursor of node 0>) after the move fails
#      with IN006, its HINT naming the cursor on node 2 to continue from,
#      and reading from that cursor works.
#      inventory_batch_status of a batch applied on node 0 before the move
#      says applied, and that its items' ledger rows moved with acme.
#
# Load: each pgbench transaction is CALL test_adjust(...), a procedure on
# the router that records the call (its own idempotency key, merchant,
# SKU, warehouse and delta) in test_calls and commits, then calls
# inventory_router.inventory_adjust with one on_hand_delta item until it
# returns a batch id, committing between attempts (a call refused with
# 55006 while acme moves, or whose connection to node 0 died in a crash,
# is retried with the same key), and records the batch.
# Accounting, per merchant on its node: the idempotency keys there are
# exactly the calls' keys, each naming the batch its call returned; every
# batch is applied on the node its id names; the ledger has exactly one
# adjust row per item of every batch (with the item's delta) and none of
# any other batch; every level's on_hand is its seed plus the deltas sent;
# and no node has a batch that no call sent (a retry never queued twice).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep time);
use FindBin;
use lib "$FindBin::RealBin/../perl";
use InventoryTest;

my $t_start = time;
my $N_SKUS = 10;          # SKU-1 .. SKU-10 in each warehouse of acme and bolt
my $SEED = 1_000_000;     # on_hand of every key before the load
my %WH = (
	acme => [ 'acce0000-0000-4000-8000-000000000001', 'acce0000-0000-4000-8000-000000000002' ],
	bolt => [ 'b0170000-0000-4000-8000-000000000001', 'b0170000-0000-4000-8000-000000000002' ],
	cora => [ 'c0a00000-0000-4000-8000-000000000001' ],
);
my %home = (acme => 0, bolt => 1, cora => 0);    # where each merchant is now
my @MERCHANTS = sort keys %WH;

###########################################################################
# The nodes and the router
###########################################################################
my $node_conf = qq{
restart_after_crash = on
log_statement = none
shared_buffers = 16MB
max_connections = 40
listen_addresses = '127.0.0.1'
};
my @nodes = map { inventory_node("node$_", naptime => '100ms', conf => $node_conf) } 0 .. 2;

sub nsql { my ($n, $q) = @_; return $nodes[$n]->safe_psql('postgres', $q); }

for my $n (0 .. 2)
{
	my @rows;
	for my $m (grep { $home{$_} == $n } @MERCHANTS)
	{
		my $i = 0;
		push @rows, map { "('$_', '$m-" . ++$i . "', '$m')" } @{ $WH{$m} };
	}
	nsql($n, 'CREATE EXTENSION inventory; SELECT inventory_set_node_id(' . $n . ');'
		  . (@rows ? ' INSERT INTO inventory_warehouses (uuid, name, merchant) VALUES ' . join(', ', @rows) : ''));
	is(nsql($n, 'SELECT inventory_node_id()'), $n, "node $n has node id $n");
}
my $user = nsql(0, 'SELECT current_user');

my $router = PostgreSQL::Test::Cluster->new('router');
$router->init;
$router->append_conf('postgresql.conf', qq{
log_line_prefix = '%m [%p] %b '
log_statement = none
shared_buffers = 16MB
max_connections = 40
});
$router->start;
sub rsql { return $router->safe_psql('postgres', $_[0]); }

my @connstr = map { "host=127.0.0.1 port=" . $_->port . " dbname=postgres user=$user" } @nodes;
rsql(qq{
	CREATE EXTENSION inventory_router CASCADE;
	CREATE SERVER inventory_nodes FOREIGN DATA WRAPPER plproxy
	    OPTIONS (p0 '$connstr[0]', p1 '$connstr[1]', p2 '$connstr[2]', p3 '$connstr[0]');
	CREATE USER MAPPING FOR PUBLIC SERVER inventory_nodes;
	INSERT INTO inventory_router.merchant_nodes (merchant, node)
	VALUES ('acme', 0), ('bolt', 1), ('cora', 0);
});

# The router's routing functions run as the superuser who installed it
# and name the map by its schema: a schema inventory_router that another
# role made, or may create objects in, is refused at CREATE EXTENSION.
$router->safe_psql('postgres', q{
	CREATE ROLE mallory LOGIN;
	CREATE DATABASE planted OWNER mallory;});
$router->safe_psql('planted', q{
	CREATE SCHEMA inventory_router;
	CREATE TABLE inventory_router.merchant_nodes (merchant text, node int, paused boolean);},
	extra_params => [ '-U', 'mallory' ]);
my ($prc, $pout, $perr) = $router->psql('planted', 'CREATE EXTENSION inventory_router CASCADE');
isnt($prc, 0, 'CREATE EXTENSION inventory_router refuses a schema inventory_router another role made');
like($perr, qr/schema "inventory_router" cannot hold the inventory_router extension.*It is owned by role mallory/s,
	'and says whose it is');
$router->safe_psql('planted', q{
	DROP TABLE inventory_router.merchant_nodes;
	ALTER SCHEMA inventory_router OWNER TO CURRENT_USER;
	GRANT CREATE ON SCHEMA inventory_router TO mallory;});
($prc, $pout, $perr) = $router->psql('planted', 'CREATE EXTENSION inventory_router CASCADE');
like($perr, qr/Role mallory may create objects in it/, 'or one where another role may create objects');
$router->safe_psql('planted', 'REVOKE CREATE ON SCHEMA inventory_router FROM mallory; CREATE EXTENSION inventory_router CASCADE');
is($router->safe_psql('planted', "SELECT extversion FROM pg_extension WHERE extname = 'inventory_router'"), '1.0',
	'once the schema is a superuser\'s alone, it installs');

# The test's objects on the router (not part of the extension).
my $wh_rows = join(', ', map { my $m = $_; map { "('$m', $_, '$WH{$m}[$_]')" } 0 .. $#{ $WH{$m} } } @MERCHANTS);
rsql(qq{
	CREATE TABLE test_wh (merchant text, idx int, uuid uuid, PRIMARY KEY (merchant, idx));
	INSERT INTO test_wh VALUES $wh_rows;
	CREATE SEQUENCE test_key_seq;
	CREATE TABLE test_calls (
	    key      text PRIMARY KEY,
	    merchant text NOT NULL,
	    phase    int NOT NULL,
	    sku      text NOT NULL,
	    wh       int NOT NULL,
	    delta    int NOT NULL,
	    batch    bigint,
	    attempts int,
	    errors   text[],
	    first_error text,
	    started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	    done_at  timestamptz);

	-- One adjustment through the router, retried with its key until it
	-- returns a batch (at most 60 s); committing between attempts releases
	-- the router's lock on the merchant, which move_merchant waits for.
	CREATE PROCEDURE test_adjust(mi int, s int, w int, delta int, phase int)
	LANGUAGE plpgsql AS \$\$
	DECLARE
	    m text := (ARRAY['acme', 'bolt'])[mi + 1];
	    k text := m || '-' || nextval('test_key_seq');
	    body jsonb;
	    b bigint;
	    n int := 0;
	    errs text[] := '{}';
	    deadline timestamptz := clock_timestamp() + interval '60 s';
	BEGIN
	    body := jsonb_build_array(jsonb_build_object(
	        'sku', 'SKU-' || s, 'on_hand_delta', delta,
	        'warehouse_uuid', (SELECT uuid FROM test_wh t WHERE t.merchant = m AND t.idx = w)));
	    INSERT INTO test_calls (key, merchant, phase, sku, wh, delta)
	    VALUES (k, m, phase, 'SKU-' || s, w, delta);
	    COMMIT;
	    LOOP
	        n := n + 1;
	        BEGIN
	            b := inventory_router.inventory_adjust(m, body, idempotency_key => k);
	        EXCEPTION WHEN OTHERS THEN
	            errs := errs || SQLSTATE::text;
	            IF n = 1 THEN
	                UPDATE test_calls SET first_error = SQLSTATE || ' ' || SQLERRM WHERE key = k;
	            END IF;
	        END;
	        EXIT WHEN b IS NOT NULL OR clock_timestamp() > deadline;
	        COMMIT;
	        PERFORM pg_sleep(0.02 + random() * 0.05);
	    END LOOP;
	    UPDATE test_calls SET batch = b, attempts = n, errors = errs, done_at = clock_timestamp() WHERE key = k;
	END
	\$\$;

	-- Run a query; its SQLSTATE, message, detail, hint and result.
	CREATE FUNCTION test_try(q text) RETURNS text LANGUAGE plpgsql AS \$\$
	DECLARE
	    st text := '00000'; msg text; det text; hnt text; res text;
	BEGIN
	    BEGIN
	        EXECUTE q INTO res;
	    EXCEPTION WHEN OTHERS THEN
	        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
	                                det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
	    END;
	    RETURN concat_ws(chr(31), st, coalesce(msg, ''), coalesce(det, ''), coalesce(hnt, ''), coalesce(res, ''));
	END
	\$\$;
});

# (sqlstate, message, detail, hint, result) of a query run on the router
sub rtry
{
	my ($q) = @_;
	return split /\x1f/, rsql("SELECT test_try(\$q\$$q\$q\$)"), -1;
}

# A body of on_hand_delta (or, with "set", on_hand) items: [merchant, sku, wh index, value]
sub body
{
	my ($kind, @items) = @_;
	my $field = $kind eq 'set' ? 'on_hand' : 'on_hand_delta';
	return '[' . join(', ', map {
		sprintf('{"sku": "%s", "warehouse_uuid": "%s", "%s": %d}', $_->[1], $WH{ $_->[0] }[ $_->[2] ], $field, $_->[3])
	} @items) . ']';
}

# Batches sent outside the load, per merchant: batch => [[kind, sku, wh, value], ...]
my %extra;

sub batch_counts
{
	return join(',', map { nsql($_, 'SELECT count(*) FROM inventory_batches') } 0 .. 2);
}

###########################################################################
# 1. Routing
###########################################################################
my %seed_batch;
for my $m (@MERCHANTS)
{
	my $n_skus = $m eq 'cora' ? 3 : $N_SKUS;
	my @items;
	for my $w (0 .. $#{ $WH{$m} })
	{
		push @items, [ $m, "SKU-$_", $w, $SEED ] for 1 .. $n_skus;
	}
	my ($state, $msg, $det, $hint, $b) = rtry("SELECT inventory_router.inventory_adjust('$m', '" . body('set', @items) . "')");
	is($state, '00000', "$m: its seed batch is accepted through the router") or diag("$msg $det");
	$seed_batch{$m} = $b;
	$extra{$m}{$b} = [ map { [ 'set', $_->[1], $_->[2], $_->[3] ] } @items ];
	my @w = rtry("SELECT inventory_router.inventory_wait($b)");
	is("$w[0] $w[4]", '00000 applied', "$m: seed batch $b applied (inventory_wait through the router)") or diag($w[1]);
}
for my $m (@MERCHANTS)
{
	my $b = $seed_batch{$m};
	is(join(',', map { nsql($_, "SELECT count(*) FROM inventory_batches WHERE batch_id = $b") } 0 .. 2),
		join(',', map { $_ == $home{$m} ? 1 : 0 } 0 .. 2),
		"$m: its seed batch is on node $home{$m} only");
}
my $whs_of = sub { my ($m) = @_; return join(', ', map { "'$_'" } @{ $WH{$m} }); };
is(join(' ', map {
	my $n = $_;
	join(',', map { nsql($n, "SELECT count(*) FROM inventory_levels WHERE warehouse_uuid IN (" . $whs_of->($_) . ")") } @MERCHANTS)
} 0 .. 2),
	'20,0,3 0,20,0 0,0,0',
	'levels (acme,bolt,cora per node): acme and cora on node 0, bolt on node 1, none on node 2');

my $before = batch_counts();
my @st = rtry("SELECT inventory_router.inventory_adjust('acme', '"
	  . body('delta', [ 'acme', 'SKU-1', 0, 5 ], [ 'cora', 'SKU-1', 0, 5 ]) . "')");
is($st[0], '22023', 'a batch for acme naming a warehouse of cora (on the same node) is refused with 22023');
like($st[2], qr/^Remote detail: .*Item 2: warehouse "$WH{cora}[0]" belongs to merchant "cora", not to "acme"/s,
	'its DETAIL is the node\'s per-item one, behind "Remote detail:"') or diag($st[2]);

@st = rtry("SELECT inventory_router.inventory_adjust('acme', '" . body('delta', [ 'cora', 'SKU-1', 0, 5 ]) . "')");
is($st[0], '22023', 'a batch for acme naming only a warehouse of cora (on the same node) is refused with 22023');
like($st[2], qr/Item 1: warehouse "$WH{cora}[0]" belongs to merchant "cora", not to "acme"/, 'by the node\'s merchant check')
  or diag($st[2]);

@st = rtry("SELECT inventory_router.inventory_adjust('acme', '"
	  . body('delta', [ 'acme', 'SKU-1', 0, 5 ], [ 'bolt', 'SKU-1', 0, 5 ]) . "')");
is($st[0], '22023', 'a batch for acme naming warehouses of acme and bolt is refused with 22023');
like($st[2], qr/Item 2: warehouse "$WH{bolt}[0]" is not registered/, 'bolt\'s warehouse is not on acme\'s node')
  or diag($st[2]);

@st = rtry("SELECT inventory_router.inventory_adjust('acme', '" . body('delta', [ 'bolt', 'SKU-1', 1, 5 ]) . "')");
is($st[0], '22023', 'a batch for acme naming only bolt\'s warehouse is refused with 22023');

@st = rtry("SELECT inventory_router.inventory_adjust('bolt', '"
	  . body('delta', [ 'acme', 'SKU-1', 0, 5 ], [ 'bolt', 'SKU-1', 0, 5 ]) . "')");
is($st[0], '22023', 'the same two-merchant batch for bolt is refused with 22023');

my ($rc, $out, $err) = $nodes[0]->psql('postgres',
	"SELECT inventory_adjust('" . body('delta', [ 'acme', 'SKU-1', 0, 5 ], [ 'cora', 'SKU-1', 0, 5 ]) . "')");
like($err, qr/Item 2: warehouse "$WH{cora}[0]" belongs to merchant "cora", but item 1's to "acme"/,
	'on the node itself, without inventory.merchant, a batch naming two merchants\' warehouses is refused too');

@st = rtry("SELECT inventory_router.inventory_adjust('nobody', '" . body('delta', [ 'acme', 'SKU-1', 0, 5 ]) . "')");
is("$st[0] $st[1]", '42704 merchant "nobody" has no node', 'an unknown merchant is refused (42704)');
is(batch_counts(), $before, 'none of the refused batches was queued on any node');

is(rsql("SELECT count(*) || ' rows, ' || count(*) FILTER (WHERE warehouse_uuid IN (" . $whs_of->('acme') . ")) || ' of acme'"
	  . " FROM inventory_router.inventory_get('acme')"),
	'20 rows, 20 of acme', 'inventory_get(acme) reads acme\'s rows only (not cora\'s, on the same node)');
is(rsql("SELECT count(*) FROM inventory_router.inventory_changes('cora', 0, 1000)"), '3',
	'inventory_changes(cora) reads cora\'s changes only');
is(rsql(q{SELECT string_agg(concat_ws(':', node, node_id, merchants, ok), ',' ORDER BY node) FROM inventory_router.check_nodes()}),
	'0:0:2:t,1:1:1:t', 'check_nodes(): nodes 0 (acme, cora) and 1 (bolt) have their ids');

# A paused merchant (as move_merchant leaves it while it copies, its
# backend alive): its writes are refused at the router with 55006 before
# anything is sent; its reads go on.
my $pauser = $router->background_psql('postgres');
my $pauser_pid = $pauser->query_safe('SELECT pg_backend_pid()');
rsql(qq{UPDATE inventory_router.merchant_nodes SET paused = true, moving_pid = $pauser_pid WHERE merchant = 'bolt'});
$before = batch_counts();
@st = rtry("SELECT inventory_router.inventory_adjust('bolt', '" . body('delta', [ 'bolt', 'SKU-1', 0, 5 ]) . "')");
is("$st[0] $st[1]", '55006 merchant "bolt" is being moved to another node', 'a write for a paused merchant is refused with 55006');
like($st[3], qr/Nothing was sent\. Retry/, 'its HINT says to retry');
is(batch_counts(), $before, 'and nothing was queued');
is(rsql(q{SELECT count(*) FROM inventory_router.inventory_get('bolt')}), '20', 'its reads go on while it is paused');
rsql(q{UPDATE inventory_router.merchant_nodes SET paused = false, moving_pid = NULL WHERE merchant = 'bolt'});
$pauser->quit;

###########################################################################
# 2. Ids carry their node, and the router routes by id
###########################################################################
is(join(',', map { rsql("SELECT $seed_batch{$_} >> 48") } qw(acme bolt)), '0,1',
	'the seed batch ids of acme and bolt say nodes 0 and 1 (id >> 48)');
for my $m (qw(acme bolt))
{
	my $b = $seed_batch{$m};
	my @bs = rtry("SELECT count(*) || ' items ' || min(state) || ' ' || bool_and(batch_id = $b)"
		  . " || ' ' || bool_and(warehouse_uuid IN (" . $whs_of->($m) . '))'
		  . " FROM inventory_router.inventory_batch_status($b)");
	is("$bs[0] $bs[4]", "00000 20 items applied true true", "inventory_batch_status($b) reads $m\'s batch on node $home{$m}")
	  or diag($bs[1]);
}

###########################################################################
# The load
###########################################################################
my $workdir = PostgreSQL::Test::Utils::tempdir();
open my $fh, '>', "$workdir/adjust.sql" or die "$workdir/adjust.sql: $!";
print $fh qq{\\set m random(0, 1)
\\set s random(1, $N_SKUS)
\\set w random(0, 1)
\\set d random(1, 50)
\\set neg random(0, 1)
\\set delta :d - 2 * :d * :neg
CALL test_adjust(:m, :s, :w, :delta, :phase);
};
close $fh;

sub start_load
{
	my ($phase, $seconds) = @_;
	my %l = (out => '', err => '', phase => $phase);
	$l{h} = IPC::Run::start(
		[ 'pgbench', '-n', '-h', $router->host, '-p', $router->port, '-c', '4', '-j', '2',
		  '-T', $seconds, '-R', '400', '-D', "phase=$phase", '-f', "$workdir/adjust.sql", 'postgres' ],
		'>', \$l{out}, '2>', \$l{err});
	return \%l;
}

sub finish_load
{
	my ($l) = @_;
	$l->{h}->finish;
	my ($processed) = $l->{out} =~ m{processed: (\d+)};
	is($? >> 8, 0, "phase $l->{phase}: pgbench exited cleanly") or diag("$l->{out}\n$l->{err}");
	like($l->{out}, qr/number of failed transactions: 0 /, "phase $l->{phase}: no call failed")
	  or diag($l->{out});
	return $processed // 0;
}

sub calls_done
{
	my ($phase, $m, $extra_cond) = @_;
	return "SELECT (SELECT count(*) FROM test_calls WHERE phase = $phase AND merchant = '$m' AND batch IS NOT NULL"
	  . ($extra_cond // '') . ')';
}

###########################################################################
# Accounting: every adjustment sent so far applied exactly once
###########################################################################
sub check_accounts
{
	my ($label) = @_;
	for my $n (0 .. 2)
	{
		ok(poll_until($nodes[$n], 'postgres', 'SELECT count(*) FROM inventory_queue', '0', 60),
			"$label: node ${n}'s queue drained");
		is(nsql($n, 'SELECT count(*) FROM inventory_verify()'), '0', "$label: inventory_verify() on node $n returns no rows");
	}

	# calls per merchant: key => [batch, sku, wh, delta]
	my %calls;
	my $gave_up = 0;
	for (split /\n/, rsql(q{SELECT concat_ws('|', merchant, key, coalesce(batch::text, ''), sku, wh, delta) FROM test_calls}))
	{
		my ($m, $k, $b, $sku, $w, $d) = split /\|/;
		$calls{$m}{$k} = [ $b, $sku, $w, $d ];
		$gave_up++ if $b eq '';
	}
	is($gave_up, 0, "$label: every call of the load got its batch id");

	# every batch each node has: batch => state/item_count
	my %history;
	for my $n (0 .. 2)
	{
		for (split /\n/, nsql($n, q{SELECT batch_id || '|' || state || '|' || item_count FROM inventory_batches}))
		{
			my ($b, $s, $c) = split /\|/;
			$history{$n}{$b} = "$s/$c";
		}
	}

	my %known;    # every batch sent: batch => node that queued it
	for my $m (@MERCHANTS)
	{
		my $n = $home{$m};
		my $mc = $calls{$m} // {};
		# batches expected of m: batch => [[kind, sku, wh, value], ...]
		my %batches = %{ $extra{$m} // {} };
		for my $k (keys %$mc)
		{
			my ($b, $sku, $w, $d) = @{ $mc->{$k} };
			next if $b eq '';
			diag("$label: batch $b returned to two calls") if exists $batches{$b};
			$batches{$b} = [ [ 'delta', $sku, $w, $d ] ];
		}
		$known{$_} = $_ >> 48 for keys %batches;

		# idempotency keys on its node: exactly the load's keys, each naming
		# its call's batch (the other keys are those of section 5)
		my %keys = map { split /\|/ } split /\n/,
		  nsql($n, "SELECT key || '|' || batch_id FROM inventory_idempotency_keys WHERE merchant = '$m'");
		my @wrong = grep { !defined $keys{$_} || $keys{$_} ne $mc->{$_}[0] } keys %$mc;
		my @stray = grep { /^$m-\d+$/ && !exists $mc->{$_} } keys %keys;
		is(scalar(@wrong) . '/' . scalar(@stray), '0/0',
			"$label: $m: node $n has each call's key naming the batch the call returned, and no other load key ("
			  . scalar(keys %$mc) . ' calls)')
		  or diag('wrong: ' . join(' ', map { "$_=" . ($keys{$_} // 'none') . "/$mc->{$_}[0]" } @wrong[ 0 .. ($#wrong < 9 ? $#wrong : 9) ])
			  . ' stray: ' . join(' ', @stray[ 0 .. ($#stray < 9 ? $#stray : 9) ]));

		# every batch applied, on the node its id names
		my @not_applied = grep {
			my $h = $history{ $_ >> 48 }{$_} // 'missing';
			$h ne 'applied/' . scalar(@{ $batches{$_} });
		} keys %batches;
		is(scalar(@not_applied), 0, "$label: $m: every batch (" . scalar(keys %batches) . ') is applied on the node its id names')
		  or diag(join(' ', map { "$_:" . ($history{ $_ >> 48 }{$_} // 'missing') } @not_applied[ 0 .. ($#not_applied < 9 ? $#not_applied : 9) ]));

		# the ledger on its node: one adjust row per item, with its value
		my %ledger;
		for (split /\n/, nsql($n, qq{
			SELECT l.batch_id || '|' || l.item || '|' || count(*) || '|' || min(l.sku) || '|' || min(l.warehouse_uuid::text)
			       || '|' || min(l.on_hand_after - l.on_hand_before) || '|' || min(l.on_hand_after)
			  FROM inventory_ledger l JOIN inventory_warehouses w ON w.uuid = l.warehouse_uuid
			 WHERE w.merchant = '$m' AND l.source = 'adjust'
			 GROUP BY l.batch_id, l.item}))
		{
			my ($b, $i, $c, $sku, $wh, $d, $after) = split /\|/;
			$ledger{"$b/$i"} = [ $c, $sku, $wh, $d, $after ];
		}
		my ($dup, $missing, $wrongrow, $items) = (0, 0, 0, 0);
		my %model;
		for my $b (sort { $a <=> $b } keys %batches)
		{
			my $i = 0;
			for my $it (@{ $batches{$b} })
			{
				$i++;
				$items++;
				my ($kind, $sku, $w, $v) = @$it;
				my $key = "$sku/$w";
				$model{$key} = $kind eq 'set' ? $v : ($model{$key} // 0) + $v;
				my $l = delete $ledger{"$b/$i"};
				if (!$l) { $missing++; next; }
				$dup += $l->[0] - 1;
				$wrongrow++ unless $l->[1] eq $sku && $l->[2] eq $WH{$m}[$w]
				  && ($kind eq 'set' ? $l->[4] == $v : $l->[3] == $v);
			}
		}
		is("$dup/$missing/$wrongrow/" . scalar(keys %ledger), '0/0/0/0',
			"$label: $m: node ${n}'s ledger has exactly one adjust row per item sent ($items), with its value, and no other "
			  . '(duplicated/missing/wrong/unknown)')
		  or diag('unknown ledger rows: ' . join(' ', (sort keys %ledger)[ 0 .. 9 ]));

		my %levels;
		my %wh_idx = map { $WH{$m}[$_] => $_ } 0 .. $#{ $WH{$m} };
		for (split /\n/, nsql($n, qq{
			SELECT sku || '|' || warehouse_uuid || '|' || on_hand FROM inventory_levels
			 WHERE warehouse_uuid IN (} . $whs_of->($m) . ')'))
		{
			my ($sku, $wh, $oh) = split /\|/;
			$levels{"$sku/$wh_idx{$wh}"} = $oh;
		}
		is_deeply(\%levels, \%model, "$label: $m: every level's on_hand on node $n is its seed plus the deltas sent ("
			  . scalar(keys %model) . ' keys)');
	}

	# no batch on any node that no call or setup step sent (a retry never queued twice)
	my @unknown;
	for my $n (0 .. 2)
	{
		push @unknown, map { "$n:$_" } grep { !exists $known{$_} } keys %{ $history{$n} };
	}
	is(scalar(@unknown), 0, "$label: no node has a batch that was not sent (a retry never queued one twice)")
	  or diag(join(' ', @unknown[ 0 .. ($#unknown < 9 ? $#unknown : 9) ]));
	return;
}

###########################################################################
# 3. Load through the router while node 0's worker is SIGKILLed twice
###########################################################################
my $log0 = -s $nodes[0]->logfile;
my $load = start_load(3, 12);
ok(poll_until($router, 'postgres', calls_done(3, 'acme') . ' >= 30', 't', 30), 'phase 3: acme\'s calls flow');
my $kills = 0;
for my $k (1 .. 2)
{
	my $pid = '';
	my $deadline = time + 30;
	while ($pid eq '' && time < $deadline)
	{
		$pid = worker_pid($nodes[0]);
		usleep(50_000) if $pid eq '';
	}
	if (!ok($pid ne '', "phase 3: node 0's worker is running before kill $k"))
	{
		last;
	}
	my $done = rsql(calls_done(3, 'acme'));
	kill 'KILL', $pid;
	$kills++;
	my $new = '';
	$deadline = time + 60;
	while (time < $deadline)
	{
		$new = worker_pid($nodes[0]);
		last if $new ne '' && $new ne $pid;
		usleep(100_000);
	}
	ok($new ne '' && $new ne $pid, "phase 3: node 0 restarted after kill $k, with a new worker");
	ok(poll_until($router, 'postgres', calls_done(3, 'acme') . " >= $done + 20", 't', 30),
		"phase 3: acme's calls flow again after kill $k");
}
my $processed3 = finish_load($load);
my @sig9 = grep { /background worker "inventory worker" \(PID \d+\) was terminated by signal 9/ }
  log_lines($nodes[0], $log0);
is(scalar(@sig9), 2, 'node 0\'s log shows both SIGKILLs of its worker');
my $errs3 = rsql(q{SELECT coalesce(string_agg(e || ' x' || c, ', '), 'none') FROM
	(SELECT e, count(*) c FROM test_calls, unnest(errors) e WHERE phase = 3 GROUP BY e ORDER BY e) x});
note("phase 3: $processed3 calls; failed attempts retried, by SQLSTATE: $errs3; e.g. "
	  . rsql(q{SELECT first_error FROM test_calls WHERE phase = 3 AND first_error IS NOT NULL ORDER BY key LIMIT 3}));
cmp_ok(rsql('SELECT count(*) FROM test_calls WHERE phase = 3 AND attempts > 1'), '>', 0,
	'phase 3: some calls lost their connection to node 0 and were retried with their key');
cmp_ok(rsql(calls_done(3, 'bolt')), '>=', 50, 'phase 3: bolt\'s calls went on');
check_accounts('after the kills');

###########################################################################
# 5a, 6a: before the move, a key used on node 0, and a change cursor of node 0
###########################################################################
my $retry_body = body('delta', [ 'acme', 'SKU-3', 1, 7 ]);
my $b_pre = rsql("SELECT inventory_router.inventory_adjust('acme', '$retry_body', idempotency_key => 'acme-retry-across-move')");
$extra{acme}{$b_pre} = [ [ 'delta', 'SKU-3', 1, 7 ] ];
is(rsql("SELECT $b_pre >> 48"), '0', "a batch of acme queued before the move ($b_pre) names node 0");
is(rsql("SELECT inventory_router.inventory_adjust('acme', '$retry_body', idempotency_key => 'acme-retry-across-move')"),
	$b_pre, 'its retry with the same key, still on node 0, returns it');
my $cursor0 = rsql("SELECT max(change_id) FROM inventory_router.inventory_changes('acme', 0, 10)");
ok($cursor0 > 0 && ($cursor0 >> 48) == 0, "a change cursor of acme on node 0: $cursor0");

###########################################################################
# 4. acme moved to node 2 under load
###########################################################################
$load = start_load(4, 8);
ok(poll_until($router, 'postgres', calls_done(4, 'acme') . ' >= 30', 't', 30), 'phase 4: acme\'s calls flow');
my $t_move = time;
my $move_from = rsql('SELECT clock_timestamp()');
($rc, $out, $err) = $router->psql('postgres', "CALL inventory_router.move_merchant('acme', 2)", timeout => 60);
my $move_to = rsql('SELECT clock_timestamp()');
my $move_s = time - $t_move;
is($rc, 0, sprintf('move_merchant(acme, 2) succeeded under load (%.1f s)', $move_s)) or diag($err);
like($err, qr/merchant "acme" moved from node 0 to node 2/, 'it says so');
ok(poll_until($router, 'postgres', calls_done(4, 'acme', ' AND batch >> 48 = 2') . ' >= 30', 't', 30),
	'phase 4: acme\'s calls flow on node 2 after the move');
my $processed4 = finish_load($load);
my $during = rsql(qq{SELECT count(*) FROM test_calls WHERE phase = 4 AND merchant = 'acme'
	AND started_at < '$move_to' AND done_at > '$move_from'});
cmp_ok($during, '>', 0, "phase 4: $during calls of acme were under way while it moved, and got their batch");
$home{acme} = 2;
my $errs4 = rsql(q{SELECT coalesce(string_agg(e || ' x' || c, ', '), 'none') FROM
	(SELECT e, count(*) c FROM test_calls, unnest(errors) e WHERE phase = 4 GROUP BY e ORDER BY e) x});
note("phase 4: $processed4 calls; failed attempts retried, by SQLSTATE: $errs4");
is(rsql(q{SELECT count(*) FILTER (WHERE batch >> 48 = 0) > 0 AND count(*) FILTER (WHERE batch >> 48 = 2) > 0
	FROM test_calls WHERE phase = 4 AND merchant = 'acme'}), 't',
	'phase 4: acme\'s calls were applied on node 0 before the move and on node 2 after it');
is(rsql(q{SELECT concat_ws(' ', node, paused, resume_cursor >> 48) FROM inventory_router.merchant_nodes WHERE merchant = 'acme'}),
	'2 f 2', 'the map says node 2, not paused, with a resume cursor of node 2');
is(nsql(0, 'SELECT ' . join(' || \' \' || ', map { "(SELECT count(*) FROM $_->[0] WHERE $_->[1] IN (" . $whs_of->('acme') . '))' }
	[ 'inventory_warehouses', 'uuid' ], [ 'inventory_levels', 'warehouse_uuid' ], [ 'inventory_ledger', 'warehouse_uuid' ])
	  . q{ || ' ' || (SELECT count(*) FROM inventory_idempotency_keys WHERE merchant = 'acme')}),
	'0 0 0 0', 'node 0 keeps none of acme\'s warehouses, levels, ledger rows or keys');
is(nsql(0, q{SELECT count(*) FROM inventory_levels l JOIN inventory_warehouses w ON w.uuid = l.warehouse_uuid WHERE w.merchant = 'cora'}),
	'3', 'and keeps cora\'s levels');
is(nsql(2, "SELECT count(*) FROM inventory_warehouses WHERE merchant = 'acme'") . ' '
	  . nsql(2, 'SELECT count(*) FROM inventory_levels WHERE warehouse_uuid IN (' . $whs_of->('acme') . ')'),
	'2 20', 'node 2 has acme\'s warehouses and levels');
is(rsql(q{SELECT string_agg(concat_ws(':', node, node_id, merchants, ok), ',' ORDER BY node) FROM inventory_router.check_nodes()}),
	'0:0:1:t,1:1:1:t,2:2:1:t', 'check_nodes(): cora on 0, bolt on 1, acme on 2');

###########################################################################
# 5. Retries return the same batch
###########################################################################
is(rsql("SELECT inventory_router.inventory_adjust('acme', '$retry_body', idempotency_key => 'acme-retry-across-move')"),
	$b_pre, 'after the move, the retry of the call made on node 0 returns its batch (the key moved with acme)');
is(rsql("SELECT inventory_router.inventory_wait($b_pre)"), 'applied',
	'inventory_wait of that batch goes to node 0, which applied it');
is(rsql("SELECT concat_ws(' ', state, outcome, item_count IS NOT NULL, reason LIKE '%merchant \"acme\" moved to another node%') FROM inventory_router.inventory_batch_status($b_pre)"),
	'applied moved t t',
	'and inventory_batch_status there says it was applied and that its items\' ledger rows moved with acme');

my $new_body = body('delta', [ 'acme', 'SKU-4', 0, 11 ]);
my $b_new = rsql("SELECT inventory_router.inventory_adjust('acme', '$new_body', idempotency_key => 'acme-after-move')");
$extra{acme}{$b_new} = [ [ 'delta', 'SKU-4', 0, 11 ] ];
is(rsql("SELECT $b_new >> 48"), '2', "a new batch of acme ($b_new) names node 2");
is(rsql("SELECT inventory_router.inventory_adjust('acme', '$new_body', idempotency_key => 'acme-after-move')"),
	$b_new, 'its retry returns it');
is(rsql("SELECT inventory_router.inventory_wait($b_new)"), 'applied', 'inventory_wait of it goes to node 2');
is(rsql("SELECT concat_ws(' ', min(state), min(sku), min(warehouse_uuid::text)) FROM inventory_router.inventory_batch_status($b_new)"),
	"applied SKU-4 $WH{acme}[0]", 'and inventory_batch_status reads it there');

# The caller's transaction on the router fails after the node committed
# the batch: the retry with the key returns that batch.
my $fail_body = body('delta', [ 'bolt', 'SKU-2', 0, 13 ]);
($rc, $out, $err) = $router->psql('postgres', "BEGIN; SELECT inventory_router.inventory_adjust('bolt', '$fail_body', "
	  . "idempotency_key => 'bolt-retry-after-failure'); SELECT 1 / 0; COMMIT;");
ok($rc != 0 && $err =~ /division by zero/ && $out =~ /^\d+$/, "the caller's transaction failed after the call returned batch $out");
my $b_fail = $out;
is(rsql("SELECT inventory_router.inventory_adjust('bolt', '$fail_body', idempotency_key => 'bolt-retry-after-failure')"),
	$b_fail, 'the retry with the same key returns that batch');
$extra{bolt}{$b_fail} = [ [ 'delta', 'SKU-2', 0, 13 ] ];
is(rsql("SELECT $b_fail >> 48 || ' ' || inventory_router.inventory_wait($b_fail)"), '1 applied', 'which node 1 applied');

###########################################################################
# 6. A change cursor of node 0 after the move
###########################################################################
@st = rtry("SELECT count(*) FROM inventory_router.inventory_changes('acme', $cursor0, 1000)");
is($st[0], 'IN006', "inventory_changes(acme, $cursor0) after the move fails with IN006");
my $resume = rsql(q{SELECT resume_cursor FROM inventory_router.merchant_nodes WHERE merchant = 'acme'});
like($st[3], qr/continue from cursor $resume: every change after it is new on node 2/,
	"its HINT names the cursor to continue from ($resume, node 2's)") or diag($st[3]);
my ($hint_cursor) = $st[3] =~ /continue from cursor (\d+)/;
is(rsql(qq{SELECT count(*) > 0 AND bool_and(change_id > $resume AND change_id >> 48 = 2)
	               AND bool_and(warehouse_uuid IN (} . $whs_of->('acme') . qq{))
	  FROM inventory_router.inventory_changes('acme', $hint_cursor, 1000)}), 't',
	'reading from that cursor returns acme\'s changes on node 2 since the move');

###########################################################################
# Everything sent, before, during and after the move
###########################################################################
check_accounts('after the move');
for my $n (0 .. 2)
{
	is(nsql($n, "SELECT count(*) FROM inventory_batch_history WHERE batch_id >> 48 <> $n")
		  . ' ' . nsql($n, "SELECT count(*) FROM inventory_ledger WHERE id >> 48 <> $n"),
		'0 0', "node $n: every batch and ledger id it issued has its node id in the top bits");
}
is(rsql(q{SELECT count(*) FROM inventory_router.inventory_get('acme')}), '20',
	'inventory_get(acme) reads its 20 rows on node 2');

###########################################################################
# 7. One move at a time; a pause left by a move that died holds nothing
#    back; retention prunes a node's ledger, imported rows included
###########################################################################
my $holder = $router->background_psql('postgres');
my $holder_pid = $holder->query_safe('SELECT pg_backend_pid()');
rsql("UPDATE inventory_router.merchant_nodes SET paused = true, moving_pid = $holder_pid WHERE merchant = 'bolt'");
@st = rtry("CALL inventory_router.move_merchant('bolt', 2)");
is($st[0], '55006', 'a second move of a merchant while another backend moves it is refused');
@st = rtry(qq{SELECT inventory_router.inventory_adjust('bolt', '} . body('delta', [ 'bolt', 'SKU-1', 0, 1 ]) . q{')});
is($st[0], '55006', 'and its writes are refused meanwhile');
$holder->quit;
ok(poll_until($router, 'postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $holder_pid", '0', 30),
	'the backend that paused it is gone');
my $b_stale = rsql(qq{SELECT inventory_router.inventory_adjust('bolt', '} . body('delta', [ 'bolt', 'SKU-1', 0, 1 ]) . q{')});
$extra{bolt}{$b_stale} = [ [ 'delta', 'SKU-1', 0, 1 ] ];
like($b_stale, qr/^\d+$/, 'a pause whose backend is gone holds no write back (the map still names node 1)');
is(rsql("SELECT inventory_router.inventory_wait($b_stale)"), 'applied', 'which node 1 applies');

for my $n (1, 2)
{
	my $rows = nsql($n, 'SELECT count(*) FROM inventory_ledger');
	cmp_ok($rows, '>', 0, "node $n has ledger rows ($rows)");
	nsql($n, q{SELECT count(*) FROM inventory_prune('1 microsecond', 1000000)});
	is(nsql($n, 'SELECT count(*) FROM inventory_ledger'), '0',
		"retention prunes node ${n}'s ledger, whose ids start at $n * 2^48"
		  . ($n == 2 ? ', rows moved in with batch ids of node 0 included' : ''));
	is(nsql($n, 'SELECT count(*) FROM inventory_verify()'), '0', "and inventory_verify() on node $n is clean from the checkpoints");
}

diag(sprintf('calls: %d during the kills, %d during the move (move took %.1f s); retried attempts: %s / %s; total %.0f s',
	$processed3, $processed4, $move_s, $errs3, $errs4, time - $t_start));

$router->stop;
$_->stop for @nodes;
done_testing();
