
# pg_dump -Fc / pg_restore of a database using the extension: every table
# comes back identical (warehouses, levels, reservations, queue, history,
# ledger, idempotency keys, transfers, and from 1.4 the channels, their
# feed and listings, the stock alerts and their events, the feeds' cursor,
# and from 1.5 what retention pruned: the ledger's checkpoints and its state),
# the sequences carry over, and a worker serving the restored database
# applies its queue consistently, its feeds going on from the restored
# cursor without saying any channel again.  With
# inventory.restoring on, and without it: pg_restore and psql in one
# session just work; loaded out of order (as pg_restore -j may), the
# duplicate ledger id's HINT names the setting.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use FindBin;
use lib "$FindBin::RealBin/../perl";
use InventoryTest;

my @WH = ('44444444-4444-4444-8444-444444444444', '55555555-5555-4555-8555-555555555555');
my $GONE = '66666666-6666-4666-8666-666666666666';

my @TABLES = qw(inventory_warehouses inventory_levels inventory_reservations inventory_queue
  inventory_batch_history inventory_ledger inventory_idempotency_keys inventory_transfers
  inventory_channels inventory_channel_warehouses inventory_channel_listings inventory_channel_feed
  inventory_stock_alerts inventory_alert_events inventory_feed_state
  inventory_ledger_checkpoints inventory_retention_state);
my @SEQUENCES = qw(inventory_batch_id_seq inventory_ledger_id_seq inventory_reservations_id_seq
  inventory_transfers_id_seq inventory_channel_feed_id_seq inventory_alert_events_id_seq);
my $CHANNEL = '77777777-7777-4777-8777-777777777777';

# The feeds are derived from every change made so far (the worker's pass).
my $FEEDS_CAUGHT_UP = q{SELECT caught_up FROM inventory_feeds_status()};
# Each sku's last channel feed row is the quantity the channel lists now.
my $FEED_AGREES = qq{
	SELECT count(*) FILTER (WHERE f.quantity IS DISTINCT FROM COALESCE(q.quantity, 0)) || ' of ' || count(*)
	  FROM (SELECT DISTINCT ON (sku) sku, quantity FROM inventory_channel_feed
	         WHERE channel_uuid = '$CHANNEL' ORDER BY sku, id DESC) f
	  LEFT JOIN inventory_channel_quantities q ON q.channel_uuid = '$CHANNEL' AND q.sku = f.sku};

my $node = inventory_node('dump', database => 'shop', create_database => 1, naptime => '100ms');

sub adjust
{
	my ($body, @opts) = @_;
	my $extra = @opts ? ', ' . join(', ', @opts) : '';
	return $node->safe_psql('shop', "SELECT inventory_adjust('$body'$extra)");
}

sub item
{
	my ($sku, $w, $field, $v, $more) = @_;
	return sprintf('{"sku": "%s", "warehouse_uuid": "%s", "%s": %d%s}',
		$sku, $WH[$w], $field, $v, $more ? ", $more" : '');
}

$node->safe_psql('shop', qq{
	CREATE EXTENSION inventory;
	INSERT INTO inventory_warehouses (uuid, name) VALUES ('$WH[0]', 'East'), ('$WH[1]', 'West'),
	    ('$GONE', 'Closing');
	-- a channel and thresholds: their feeds are dumped and restored too
	INSERT INTO inventory_channels (uuid, name, percent, max, buffer) VALUES ('$CHANNEL', 'Shop', 80, 50, 1);
	INSERT INTO inventory_channel_warehouses VALUES ('$CHANNEL', '$WH[0]'), ('$CHANNEL', '$WH[1]');
	INSERT INTO inventory_stock_alerts (sku, warehouse_uuid, threshold) VALUES ('DR-1', NULL, 60), ('DR-3', '$WH[1]', 0);
});

###########################################################################
# Applied batches, reservations, a failed batch.
###########################################################################
my @applied;
push @applied, adjust('[' . join(', ',
		item('DR-1', 0, 'on_hand', 100, '"bin_location": "A-01", "cost": 12.50, "description": "initial count"'),
		item('DR-2', 0, 'on_hand', 40),
		item('DR-1', 1, 'on_hand', 7, '"bin_location": "W-9"'),
		item('DR-3', 1, 'available', 25)) . ']');
push @applied, adjust('{"inventory": [' . join(', ', item('DR-2', 0, 'on_hand', 45), item('DR-4', 1, 'on_hand', 3)) . ']}',
	"idempotency_key => 'dr-key-1'");
for my $b (@applied)
{
	is($node->safe_psql('shop', "SELECT inventory_wait($b, '60 s')"), 'applied', "batch $b applied");
}
$node->safe_psql('shop', qq{
	SELECT 1 FROM inventory_reserve('ORDER-1', 'DR-1', '$WH[0]', 10, line_ref => 'l1');
	SELECT 1 FROM inventory_reserve('ORDER-1', 'DR-2', '$WH[0]', 5, line_ref => 'l2');
	SELECT 1 FROM inventory_reserve('ORDER-2', 'DR-1', '$WH[0]', 4);
	SELECT 1 FROM inventory_reserve('ORDER-3', 'DR-3', '$WH[1]', 30);   -- oversold
	SELECT 1 FROM inventory_fulfill('ORDER-1', 'DR-2', '$WH[0]', 2);
	SELECT 1 FROM inventory_release('ORDER-2', 'DR-1', '$WH[0]', 1);
	-- transfers: one done, one in transit and received in part (incoming)
	SELECT 1 FROM inventory_transfer('DR-2', '$WH[0]', '$WH[1]', 1, 'DR-T1');
	SELECT 1 FROM inventory_receive_transfer(
	    (SELECT id FROM inventory_transfer('DR-1', '$WH[0]', '$WH[1]', 3, in_transit => true)), 1);
});
# an available item after reservations: on_hand = available + reserved
push @applied, adjust('[' . item('DR-1', 0, 'available', 50) . ']', "idempotency_key => 'dr-key-2'");
is($node->safe_psql('shop', "SELECT inventory_wait($applied[-1], '60 s')"), 'applied',
	"batch $applied[-1] applied");
ok(poll_until($node, 'shop', $FEEDS_CAUGHT_UP, 't', 60), 'the channel feed and the alerts are derived');
cmp_ok($node->safe_psql('shop', "SELECT count(*) FROM inventory_channel_feed"), '>', 4, 'the channel feed has rows');
cmp_ok($node->safe_psql('shop', "SELECT count(*) FROM inventory_alert_events"), '>=', 2, 'alerts were reported');
# retention prunes the first ledger row and the first batch: a checkpoint
# and the state are dumped too
is($node->safe_psql('shop', q{SELECT ledger_rows || ' ' || batches FROM inventory_prune('1 microsecond', 1)}), '1 1',
	'retention pruned one ledger row and one batch');

###########################################################################
# Pause the worker and queue batches that stay queued.
###########################################################################
$node->safe_psql('shop', 'ALTER SYSTEM SET inventory.enabled = off; SELECT pg_reload_conf()');
ok(poll_until($node, 'shop', 'SELECT enabled FROM inventory_worker_status()', 'f', 60),
	'worker paused');

my @queued;
push @queued, adjust('[' . join(', ', item('DR-1', 0, 'on_hand', 200), item('DR-5', 0, 'on_hand', 9)) . ']',
	"idempotency_key => 'dr-key-3'");
# PATCH mode: DR-6 has no level row in West, so its item is skipped
my $patch = adjust('[' . item('DR-6', 1, 'on_hand', 6) . ']', 'create_missing => false');
push @queued, $patch;
push @queued, adjust('[' . item('DR-3', 1, 'available', 1, '"cost": 3.10') . ']');
# a batch that will fail: its warehouse is deleted after it was accepted
my $doomed = $node->safe_psql('shop',
	qq{SELECT inventory_adjust('[{"sku": "DR-X", "warehouse_uuid": "$GONE", "on_hand": 1}]')});
push @queued, $doomed;
$node->safe_psql('shop', "DELETE FROM inventory_warehouses WHERE uuid = '$GONE'");
push @queued, adjust('[' . item('DR-2', 0, 'on_hand', 60) . ']');
my $qlist = join(',', @queued);

is($node->safe_psql('shop', 'SELECT count(*) FROM inventory_queue'), scalar(@queued),
	'batches queued while the worker is paused');
cmp_ok($node->safe_psql('shop', 'SELECT count(*) FROM inventory_ledger'), '>', 0, 'the ledger has rows');
is($node->safe_psql('shop', "SELECT count(*) FROM inventory_reservations"), '4', 'reservations exist');
is($node->safe_psql('shop', 'SELECT count(*) FROM inventory_verify()'), '0', 'source database is consistent');
ok(poll_until($node, 'shop', $FEEDS_CAUGHT_UP, 't', 60), 'the feeds are up to date before the dump');
my $dumped_alerts = $node->safe_psql('shop', 'SELECT max(id) FROM inventory_alert_events');

###########################################################################
# Dump and restore.
###########################################################################
my $dump = PostgreSQL::Test::Utils::tempdir() . '/shop.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', 'shop' ], 'pg_dump -Fc of shop');
$node->command_ok([ 'createdb', 'restored' ], 'createdb restored');
my ($stdout, $stderr) = ('', '');
my $restore_ok = IPC::Run::run(
	[ 'pg_restore', '-d', $node->connstr('restored') . " options='-c inventory.restoring=on'", $dump ],
	'>', \$stdout, '2>', \$stderr);
ok($restore_ok, 'pg_restore -d restored succeeds') or diag($stderr);
note("pg_restore said: $stderr") if $stderr ne '';

sub table_md5
{
	my ($db, $table) = @_;
	return $node->safe_psql($db,
		"SELECT count(*) || ' ' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '-') FROM $table t");
}
for my $t (@TABLES)
{
	my $src = table_md5('shop', $t);
	my $dst = table_md5('restored', $t);
	is($dst, $src, "$t is identical after restore ($src)");
	if ($dst ne $src)
	{
		# show what differs
		diag("$t in shop but not in restored:\n" . $node->safe_psql('shop', "SELECT t::text FROM $t t ORDER BY 1 LIMIT 5"));
		diag("$t in restored:\n" . $node->safe_psql('restored', "SELECT t::text FROM $t t ORDER BY 1 LIMIT 5"));
	}
}
for my $s (@SEQUENCES)
{
	my $src = $node->safe_psql('shop', "SELECT last_value || ' ' || is_called FROM $s");
	my $dst = $node->safe_psql('restored', "SELECT last_value || ' ' || is_called FROM $s");
	is($dst, $src, "sequence $s carried over ($src)");
}
is($node->safe_psql('restored', "SELECT count(*) FROM inventory_batches WHERE state = 'queued'"),
	scalar(@queued), 'the restored queue holds the queued batches');

###########################################################################
# Restores without inventory.restoring.
###########################################################################
# Every table and sequence of $db as in shop, and consistent.
sub same_as_source
{
	my ($db, $how) = @_;
	for my $t (@TABLES)
	{
		my $src = table_md5('shop', $t);
		is(table_md5($db, $t), $src, "$how: $t is identical ($src)");
	}
	for my $s (@SEQUENCES)
	{
		my $src = $node->safe_psql('shop', "SELECT last_value || ' ' || is_called FROM $s");
		is($node->safe_psql($db, "SELECT last_value || ' ' || is_called FROM $s"), $src,
			"$how: sequence $s carried over");
	}
	is($node->safe_psql($db, 'SELECT * FROM inventory_verify()'), '', "$how: inventory_verify() is empty");
}

# pg_restore in one session: the level rows and reservations are copied
# as dumped (the server log says so), nothing fails.
my $off_plain = -s $node->logfile;
$node->command_ok([ 'createdb', 'plain' ], 'createdb plain');
($stdout, $stderr) = ('', '');
my $plain_ok = IPC::Run::run([ 'pg_restore', '-d', $node->connstr('plain'), $dump ],
	'>', \$stdout, '2>', \$stderr);
ok($plain_ok, 'pg_restore -d plain succeeds without inventory.restoring') or diag($stderr);
unlike($stderr, qr/ERROR/, 'and reports no error') or diag($stderr);
same_as_source('plain', 'pg_restore without the setting');
my @as_dumped = grep { /COPY into inventory\.inventory_(levels|reservations) restores its rows as dumped/ }
  log_lines($node, $off_plain);
is(scalar(@as_dumped), 2, 'the server log names the two tables copied as dumped') or diag(join("\n", @as_dumped));

# Once restored, the triggers act again: a direct change and a COPY into
# the level rows get their ledger rows.
my $ledger_rows = $node->safe_psql('plain', 'SELECT count(*) FROM inventory_ledger');
$node->safe_psql('plain', qq{
UPDATE inventory_levels SET on_hand = on_hand + 1 WHERE sku = 'DR-4';
COPY inventory_levels (sku, warehouse_uuid, on_hand) FROM stdin;
DR-COPY	$WH[0]	5
\\.
});
is($node->safe_psql('plain', "SELECT string_agg(sku || ':' || source, ',' ORDER BY id) FROM inventory_ledger WHERE id > (SELECT max(id) - 2 FROM inventory_ledger)"),
	'DR-4:direct,DR-COPY:direct', 'after the restore, changes are recorded in the ledger again');
is($node->safe_psql('plain', 'SELECT count(*) FROM inventory_ledger'), $ledger_rows + 2, 'two new ledger rows');
is($node->safe_psql('plain', 'SELECT * FROM inventory_verify()'), '', 'inventory_verify() is still empty');

# A plain-format dump through psql, stopping at the first error.
my $sql_dump = PostgreSQL::Test::Utils::tempdir() . '/shop.sql';
$node->command_ok([ 'pg_dump', '-Fp', '-f', $sql_dump, '-d', 'shop' ], 'pg_dump -Fp of shop');
$node->command_ok([ 'createdb', 'plainsql' ], 'createdb plainsql');
($stdout, $stderr) = ('', '');
my $psql_ok = IPC::Run::run([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('plainsql'),
		'-f', $sql_dump ], '>', \$stdout, '2>', \$stderr);
ok($psql_ok, 'psql -f of a plain dump succeeds without inventory.restoring') or diag($stderr);
same_as_source('plainsql', 'psql without the setting');

# Out of order: the level rows and reservations before the ledger and the
# batches, as a parallel restore may load them.  The triggers cannot tell
# that apart from a new database's first import; the ledger then collides,
# and the error says how to restore.
my $list = PostgreSQL::Test::Utils::tempdir() . '/disorder.list';
my @toc = split /\n/, `pg_restore -l '$dump'`;
my @early = grep { /TABLE DATA inventory inventory_(warehouses|levels|reservations) / } @toc;
my @rest = grep { !/TABLE DATA inventory inventory_(warehouses|levels|reservations) / } @toc;
my ($first_data) = grep { $rest[$_] =~ /TABLE DATA/ } 0 .. $#rest;
splice(@rest, $first_data, 0, @early);
open(my $lf, '>', $list) or die "cannot write $list: $!";
print $lf join("\n", @rest), "\n";
close $lf;
$node->command_ok([ 'createdb', 'disorder' ], 'createdb disorder');
($stdout, $stderr) = ('', '');
my $disorder_ok = IPC::Run::run([ 'pg_restore', '-L', $list, '-d', $node->connstr('disorder'), $dump ],
	'>', \$stdout, '2>', \$stderr);
ok(!$disorder_ok, 'a restore that loads the level rows before the ledger fails');
like($stderr, qr/duplicate key value violates unique constraint "inventory_ledger_pkey"/,
	'on a duplicate ledger id');
like($stderr, qr/HINT:  A dump of a database with the inventory extension is restored with inventory\.restoring on/,
	'with a HINT naming inventory.restoring');

###########################################################################
# Serve the restored database: nothing applies its queue while the restore
# runs (its COPY wakes no worker); the launcher's visit at the next server
# start does, as would the first batch queued there.
###########################################################################
$node->safe_psql('postgres', 'ALTER SYSTEM RESET inventory.enabled');
my $off = -s $node->logfile;
$node->restart;
# Five databases here have the extension and three workers may run: each
# visited database's worker gives its slot to the next once idle, so the
# one of "restored" may have come and gone between two polls of
# pg_stat_activity.  What it did stays in its status.
ok(poll_until($node, 'restored',
		"SELECT batches_applied > 0 FROM inventory_worker_status()",
		't', 60),
	'a worker served the restored database');
ok(poll_until($node, 'restored', 'SELECT count(*) FROM inventory_queue', '0', 60),
	'the restored queue is drained');
is($node->safe_psql('restored', qq{
	SELECT string_agg(batch_id || ':' || state, ',' ORDER BY batch_id) FROM inventory_batches
	 WHERE batch_id IN ($qlist)}),
	join(',', map { "$_:" . ($_ == $doomed ? 'failed' : 'applied') } @queued),
	'each restored batch applied (the one naming a deleted warehouse failed)');
is($node->safe_psql('restored', qq{
	SELECT count(*) FROM inventory_batch_history b
	 WHERE b.batch_id IN ($qlist) AND b.state = 'applied'
	   AND b.item_count - coalesce(jsonb_array_length(b.skipped), 0)
	       <> (SELECT count(*) FROM inventory_ledger l WHERE l.batch_id = b.batch_id)}),
	'0', 'one ledger row per applied item of each applied batch');
is($node->safe_psql('restored', "SELECT skipped->0->>'sku' FROM inventory_batch_history WHERE batch_id = $patch"),
	'DR-6', 'the PATCH batch skipped its item with no level row');
is($node->safe_psql('restored', qq{
	SELECT string_agg(sku || ':' || left(warehouse_uuid::text, 1) || '=' || on_hand || '/' || reserved || '/' || available,
	                  ',' ORDER BY sku, warehouse_uuid) FROM inventory_levels}),
	# DR-1 East: available 50 + reserved 13 = 63, then on_hand 200 from the
	# queue; DR-1 West: 7 + 1 received of a transfer; DR-2 West: 1
	# transferred; DR-3 West: available 1 + reserved 30
	'DR-1:4=200/13/187,DR-1:5=8/0/8,DR-2:4=60/3/57,DR-2:5=1/0/1,DR-3:5=31/30/1,DR-4:5=3/0/3,DR-5:4=9/0/9',
	'levels after the restored queue is applied');
is($node->safe_psql('restored', "SELECT bin_location || ' ' || cost FROM inventory_levels WHERE sku = 'DR-1' AND warehouse_uuid = '$WH[0]'"),
	'A-01 12.50', 'bin_location and cost survived the restore');
is($node->safe_psql('restored', 'SELECT * FROM inventory_verify()'), '', 'inventory_verify() is empty in restored');
# The feeds go on from the restored cursor: the restore said no channel
# again (its triggers stood aside), the queue applied afterwards is fed.
ok(poll_until($node, 'restored', $FEEDS_CAUGHT_UP, 't', 60), 'the restored feeds catch up with the applied queue');
is($node->safe_psql('restored', "SELECT count(*) FROM inventory_channel_feed WHERE reason = 'rule'"),
	$node->safe_psql('shop', "SELECT count(*) FROM inventory_channel_feed WHERE reason = 'rule'"),
	'the restore did not say the channel again');
is($node->safe_psql('restored', $FEED_AGREES), '0 of 5', 'each sku\'s last feed row is its quantity now');
# DR-1 over both warehouses 58 -> 195 (threshold 60), DR-3 West -5 -> 1
is($node->safe_psql('restored', qq{
	SELECT string_agg(sku || ' ' || state_before || ' -> ' || state, ', ' ORDER BY id) FROM inventory_alert_events
	 WHERE id > $dumped_alerts}),
	'DR-1 low_stock -> in_stock, DR-3 out_of_stock -> in_stock', 'the alerts report the applied queue, from their restored states');

# New ids do not collide with restored ones.
my $new = $node->safe_psql('restored',
	qq{SELECT inventory_adjust('[{"sku": "DR-NEW", "warehouse_uuid": "$WH[0]", "on_hand": 1}]', idempotency_key => 'dr-key-new')});
cmp_ok($new, '>', $queued[-1], "a new batch gets a fresh id ($new)");
is($node->safe_psql('restored', "SELECT inventory_wait($new, '60 s')"), 'applied', 'and is applied');
is($node->safe_psql('restored', 'SELECT count(*) FROM (SELECT id FROM inventory_ledger GROUP BY id HAVING count(*) > 1) d'),
	'0', 'ledger ids stay unique');
is($node->safe_psql('restored', "SELECT inventory_adjust('[" . item('DR-1', 0, 'on_hand', 200) . ", " . item('DR-5', 0, 'on_hand', 9) . "]', idempotency_key => 'dr-key-3')"),
	$queued[0], 'a restored idempotency key still returns its batch');
is($node->safe_psql('restored', 'SELECT * FROM inventory_verify()'), '', 'inventory_verify() still empty');
# The transfer in transit goes on after the restore: the rest arrives, and
# a new transfer gets a fresh id.
is($node->safe_psql('restored', q{
	SELECT incoming || ' ' || (SELECT string_agg(state, ',' ORDER BY id) FROM inventory_transfers)
	  FROM inventory_levels WHERE sku = 'DR-1' AND warehouse_uuid = '55555555-5555-4555-8555-555555555555'}),
	'2 done,in_transit', 'the restored transfers and incoming');
is($node->safe_psql('restored', qq{
	SELECT received || ' ' || state FROM inventory_receive_transfer((SELECT id FROM inventory_transfers WHERE state = 'in_transit'));
	SELECT id > 2 FROM inventory_transfer('DR-1', '$WH[1]', '$WH[0]', 1);
	SELECT incoming || '/' || on_hand FROM inventory_levels WHERE sku = 'DR-1' AND warehouse_uuid = '$WH[1]';}),
	"3 received\nt\n0/9", 'it is received in full after the restore; a new transfer gets a fresh id');
is($node->safe_psql('restored', 'SELECT * FROM inventory_verify()'), '', 'inventory_verify() empty after the transfers');

# A database whose ledger and batch history retention pruned empty
# restores in one session too: the checkpoints' ledger ids tell the COPY
# of the level rows and reservations that a restore is under way, so
# reserved is not counted twice and no ledger row is written.
$node->safe_psql('postgres', 'CREATE DATABASE pruned; CREATE DATABASE pruned_copy');
$node->safe_psql('pruned', qq{
	CREATE EXTENSION inventory;
	INSERT INTO inventory_warehouses (uuid, name) VALUES ('$WH[0]', 'East');});
my $pruned_batch = $node->safe_psql('pruned', "SELECT inventory_adjust('[" . item('PR-1', 0, 'on_hand', 9) . "]')");
is($node->safe_psql('pruned', "SELECT inventory_wait($pruned_batch, '60 s')"), 'applied', 'a batch applied in pruned');
$node->safe_psql('pruned', qq{SELECT 1 FROM inventory_reserve('PR-ORDER', 'PR-1', '$WH[0]', 4)});
is($node->safe_psql('pruned', q{
	SELECT ledger_rows || ' ' || batches FROM inventory_prune('1 microsecond');
	SELECT (SELECT count(*) FROM inventory_ledger) || ' ' || (SELECT count(*) FROM inventory_batch_history)}),
	"2 1
0 0", 'retention pruned its whole ledger and history');
my $pruned_dump = PostgreSQL::Test::Utils::tempdir() . "/pruned.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $pruned_dump, '-d', 'pruned' ], 'pg_dump -Fc of pruned');
my $pruned_ok = IPC::Run::run([ 'pg_restore', '-d', $node->connstr('pruned_copy'), $pruned_dump ],
	'>', \my $pruned_out, '2>', \my $pruned_err);
ok($pruned_ok, 'pg_restore of the pruned database succeeds without inventory.restoring') or diag($pruned_err);
is($node->safe_psql('pruned_copy', q{
	SELECT on_hand || '/' || reserved || '/' || available || ' '
	    || (SELECT count(*) FROM inventory_ledger) || ' '
	    || (SELECT string_agg(sku || ':' || on_hand || '/' || reserved, ',') FROM inventory_ledger_checkpoints)
	  FROM inventory_levels WHERE sku = 'PR-1'}),
	'9/4/5 0 PR-1:9/4', 'the level row as dumped (reserved counted once), no ledger row written, the checkpoint kept');
is($node->safe_psql('pruned_copy', 'SELECT count(*) FROM inventory_verify()'), '0', 'inventory_verify() is clean there');

my @errs = worker_lines($node, $off, qr/^(ERROR|FATAL|PANIC)$/, qr/./);
note('worker errors while serving restored (the failed batch may log one): ' . scalar(@errs));
note($_) for @errs;

$node->stop;
done_testing();
