# A channel's consumer, killed mid-stream and restarted from its stored
# cursor, pushes every change of its channel exactly once, in order, and
# ends with each sku's quantity to list now.
#
# A channel (percent 50, max 40, buffer 2) over two warehouses, another
# channel over one of them beside it (its rows interleave with ours in
# the feed's ids), 50 skus.  pgbench clients queue about 200 batches that
# set on_hand or add on_hand_delta at random, and make reservations, while
# the worker applies them and derives the feeds (the clients run short
# passes of their own too).  The consumer is a loop
# here: it reads inventory_channel_changes(channel, cursor, 25) and, for
# each page, records the rows it "pushes" and its new cursor in ONE
# transaction (consumer_pushed, consumer_state).  Mid-stream the channel's
# rule changes once (every sku said again), and the consumer is killed
# twice in the middle of a page's transaction: its backend terminated by
# pg_terminate_backend, then its psql killed.  Each time the page's rows
# are lost with the cursor, and the consumer starts again from the cursor
# it committed.
#
# At the end, once the queue is applied and the feeds are caught up: the
# ids pushed, in push order, are exactly the channel's feed ids in
# increasing order (none missed, none twice), and for every sku the last
# quantity pushed is the one inventory_channel_quantities gives now (0 for
# a sku absent from it).  The kills really happened mid-stream: the
# consumer had pushed some rows but not all, and the feed grew after each.
#
# Last, a restart of the server with a reservation and a rule change
# committed but not fed yet: after it, the worker feeds them by itself, and
# the consumer, started again, ends with the quantities to list now.

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

my @WH = ('c0a51e01-7b2d-4c3e-9f40-5a6b7c8d9e01', 'c0a51e02-8c3e-4d4f-a051-6b7c8d9e0f12');
my $CH = 'c0a5c4a1-1d2e-4f30-8a41-b2c3d4e5f601';
my $OTHER = 'c0a5c4a2-2e3f-4a41-9b52-c3d4e5f60712';

my $node = inventory_node('channel_consumer');
install_extension($node, $WH[0]);

sub sql { return $node->safe_psql('postgres', $_[0]); }

# The channels are made once the worker runs (install_extension restarts
# the node; see the end).
sql(qq{
	INSERT INTO inventory_warehouses (uuid, name) VALUES ('$WH[1]', 'Second');
	INSERT INTO inventory_levels (sku, warehouse_uuid, on_hand)
	SELECT 'CC-' || lpad(i::text, 2, '0'), w, 30
	  FROM generate_series(1, 50) i, unnest(ARRAY['$WH[0]', '$WH[1]']::uuid[]) w;
	INSERT INTO inventory_channels (uuid, name, percent, max, buffer)
	    VALUES ('$CH', 'Shop', 50, 40, 2), ('$OTHER', 'Other', 100, NULL, 0);
	INSERT INTO inventory_channel_warehouses (channel_uuid, warehouse_uuid)
	    VALUES ('$CH', '$WH[0]'), ('$CH', '$WH[1]'), ('$OTHER', '$WH[1]');
	-- the consumer's own tables: its cursor, and what it pushed, in order
	CREATE TABLE consumer_state (channel_uuid uuid PRIMARY KEY, cursor bigint NOT NULL,
	                             pages integer NOT NULL DEFAULT 0);
	INSERT INTO consumer_state (channel_uuid, cursor) VALUES ('$CH', 0);
	CREATE TABLE consumer_pushed (seq bigserial PRIMARY KEY, change_id bigint NOT NULL,
	                              sku text NOT NULL, quantity bigint NOT NULL, reason text NOT NULL,
	                              run integer NOT NULL);
});
my $CAUGHT_UP = q{SELECT caught_up FROM inventory_feeds_status()};
ok(poll_until($node, 'postgres', $CAUGHT_UP, 't', 30), 'the worker feeds the new channels');
is(sql("SELECT count(*) FILTER (WHERE reason = 'rule') FROM inventory_channel_changes('$CH', 0, 1000)"),
	'50', 'the channel starts with every sku said once');

# The load: 5-item batches over the 50 skus in both warehouses (an
# on_hand of 0-60 or a delta of -8..8; a delta below 0 is skipped), and
# reservations of 1-6 units; and passes of at most 20 ledger rows run by
# the clients, racing the worker's.
my $dir = PostgreSQL::Test::Utils::tempdir();
open my $fh, '>', "$dir/adjust.sql" or die "$dir/adjust.sql: $!";
print $fh qq{SELECT inventory_adjust((SELECT jsonb_agg(jsonb_build_object(
           'sku', 'CC-' || lpad((1 + floor(random() * 50))::int::text, 2, '0'),
           'warehouse_uuid', (ARRAY['$WH[0]', '$WH[1]'])[1 + floor(random() * 2)::int],
           CASE WHEN s.set THEN 'on_hand' ELSE 'on_hand_delta' END,
           CASE WHEN s.set THEN floor(random() * 61)::int ELSE floor(random() * 17)::int - 8 END))
      FROM (SELECT random() < 0.5 AS set FROM generate_series(1, 5)) s));
};
close $fh;
open $fh, '>', "$dir/reserve.sql" or die "$dir/reserve.sql: $!";
print $fh qq{\\set s random(1, 50)
\\set w random(1, 2)
\\set q random(1, 6)
SELECT available FROM inventory_reserve('CC-ORDER-' || :client_id || '-' || txid_current(),
       'CC-' || lpad(:s::text, 2, '0'), (ARRAY['$WH[0]', '$WH[1]']::uuid[])[:w], :q);
};
close $fh;
open $fh, '>', "$dir/feeds.sql" or die "$dir/feeds.sql: $!";
print $fh qq{SELECT inventory_internal.inventory_feeds_catch_up(20);
};
close $fh;

my $batches0 = sql('SELECT COALESCE(max(batch_id), 0) FROM inventory_batches');
my ($load_out, $load_err) = ('', '');
my $load = IPC::Run::start(
	[ 'pgbench', '-n', '-h', $node->host, '-p', $node->port, '-c', '2', '-t', '140', '-R', '35',
	  '-f', "$dir/adjust.sql\@5", '-f', "$dir/reserve.sql\@1", '-f', "$dir/feeds.sql\@1", 'postgres' ],
	'>', \$load_out, '2>', \$load_err);

sub load_running
{
	$load->pump_nb;
	return $load->pumpable;
}

# The consumer.
my ($consumer, $consumer_pid, $cursor);
my $run = 0;

sub consumer_start
{
	$run++;
	$consumer = $node->background_psql('postgres', on_error_stop => 1);
	$consumer_pid = $consumer->query_safe('SELECT pg_backend_pid()');
	$cursor = $consumer->query_safe("SELECT cursor FROM consumer_state WHERE channel_uuid = '$CH'");
}

# Read the page after the cursor; return its rows and the statements that
# push it and move the cursor (to run in one transaction).
sub consumer_read
{
	my $out = $consumer->query_safe(
		"SELECT change_id || ',' || sku || ',' || quantity || ',' || reason FROM inventory_channel_changes('$CH', $cursor, 25)");
	my @rows = map { [ split /,/ ] } grep { $_ ne '' } split /\n/, $out;
	return (\@rows, '') unless @rows;
	my $values = join ', ', map { "($_->[0], '$_->[1]', $_->[2], '$_->[3]', $run)" } @rows;
	return (\@rows, "INSERT INTO consumer_pushed (change_id, sku, quantity, reason, run) VALUES $values; "
		  . "UPDATE consumer_state SET cursor = $rows[-1][0], pages = pages + 1 WHERE channel_uuid = '$CH';");
}

# One page, committed with its cursor; how many rows it pushed.
sub consumer_page
{
	my ($rows, $push) = consumer_read();
	return 0 unless @$rows;
	$consumer->query_safe("BEGIN; $push COMMIT;");
	$cursor = $rows->[-1][0];
	return scalar @$rows;
}

sub pushed { return sql('SELECT count(*) FROM consumer_pushed'); }
sub channel_rows { return sql("SELECT count(*) FROM inventory_channel_feed WHERE channel_uuid = '$CH'"); }

# Kill the consumer in the middle of a page's transaction ($how: terminate
# its backend, or kill its psql); what it had pushed and the feed then.
my @kills;

sub consumer_kill
{
	my ($how) = @_;
	my ($rows, $push) = consumer_read();
	return 0 unless @$rows;
	my $before = pushed();
	$consumer->query_safe("BEGIN; $push");
	is(sql("SELECT count(*) FROM pg_stat_activity WHERE pid = $consumer_pid AND state = 'idle in transaction'"),
		'1', "kill $how: the consumer is in the middle of a page of " . scalar(@$rows) . ' rows');
	if ($how eq 'terminate')
	{
		is(sql("SELECT pg_terminate_backend($consumer_pid, 10000)"), 't', 'kill terminate: backend terminated');
		eval { $consumer->quit; };
	}
	else
	{
		$consumer->{run}->kill_kill;
		ok(poll_until($node, 'postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $consumer_pid", '0', 30),
			'kill psql: its backend ends');
	}
	my $after = pushed();
	is($after, $before, "kill $how: the page's rows are lost with the transaction ($after pushed)");
	is(sql("SELECT cursor FROM consumer_state WHERE channel_uuid = '$CH'"), $cursor,
		"kill $how: the stored cursor is the last committed one");
	push @kills, { how => $how, pushed => $after, feed => channel_rows(), load => load_running() };
	consumer_start();
	return 1;
}

consumer_start();
my $deadline = time + 120;
my ($rule_changed, $load_done) = (0, 0);
while (1)
{
	die 'the consumer did not finish within 120 s' if time > $deadline;
	my $pushed = pushed();
	if (!$rule_changed && $pushed >= 150)
	{
		sql("UPDATE inventory_channels SET percent = 60 WHERE uuid = '$CH'");
		$rule_changed = 1;
	}
	if ((@kills == 0 && $pushed >= 80) || (@kills == 1 && $pushed >= 300))
	{
		next if consumer_kill(@kills == 0 ? 'terminate' : 'psql');
	}
	my $n = consumer_page();
	next if $n == 25;
	if (!$load_done && !load_running())
	{
		ok($load->finish && $load_out =~ m{processed: 280/280}, 'pgbench ran its 280 transactions')
		  or diag("pgbench: $load_out $load_err");
		$load_done = 1;
		ok(poll_until($node, 'postgres', 'SELECT count(*) FROM inventory_queue', '0', 60),
			'the worker applies every batch');
		ok(poll_until($node, 'postgres', $CAUGHT_UP, 't', 60), 'the feeds catch up');
		next;    # read what remains
	}
	last if $load_done && $n == 0;
	usleep(20_000);
}
$consumer->quit;

# The load and the consumer really ran as planned.
my ($applied, $items) = split /\|/, sql(qq{
	SELECT count(*), sum(item_count) FROM inventory_batches WHERE state = 'applied' AND batch_id > $batches0});
cmp_ok($applied, '>=', 150, "the worker applied the load's batches ($applied, $items items)");
is(sql("SELECT count(*) FROM inventory_batches WHERE state <> 'applied' AND batch_id > $batches0"), '0',
	'no batch failed');
cmp_ok(sql("SELECT count(*) FROM inventory_reservations WHERE order_ref LIKE 'CC-ORDER-%'"), '>', 0,
	'reservations were made');
ok($rule_changed, 'the rule changed mid-stream');
my $total = channel_rows();
note("feed rows of the channel: $total; consumer runs: $run; pages: "
	  . sql("SELECT pages FROM consumer_state WHERE channel_uuid = '$CH'"));
is(scalar(@kills), 2, 'the consumer was killed twice');
for my $k (@kills)
{
	ok($k->{pushed} > 0 && $k->{pushed} < $total,
		"kill $k->{how}: mid-stream, $k->{pushed} of $total rows pushed then");
	ok($k->{load} && $k->{feed} < $total,
		"kill $k->{how}: the load was running and the feed grew after ($k->{feed} -> $total)");
}
cmp_ok(sql("SELECT count(*) FROM consumer_pushed WHERE reason = 'rule' AND seq > 50"), '>=', 50,
	'the rule change said every sku again, and the consumer pushed it');

# What the consumer pushed against the feed and the view: every feed id of
# the channel exactly once, in increasing order, each sku's last push its
# quantity to list now.
sub check_pushed
{
	my ($when) = @_;
	my $total = channel_rows();
	my ($missed, $twice) = split /\|/, sql(qq{
		SELECT (SELECT count(*) FROM inventory_channel_feed f WHERE f.channel_uuid = '$CH'
		           AND NOT EXISTS (SELECT FROM consumer_pushed p WHERE p.change_id = f.id)),
		       (SELECT count(*) FROM (SELECT change_id FROM consumer_pushed GROUP BY 1 HAVING count(*) > 1) d)});
	is($missed, '0', "$when: no feed row of the channel was missed");
	is($twice, '0', "$when: no feed row was pushed twice");
	is(sql('SELECT string_agg(change_id::text, \',\' ORDER BY seq) FROM consumer_pushed'),
		sql("SELECT string_agg(id::text, ',' ORDER BY id) FROM inventory_channel_feed WHERE channel_uuid = '$CH'"),
		"$when: the pushes are the channel's feed ids, in increasing order ($total)");
	is(sql("SELECT count(*) FROM consumer_pushed p JOIN inventory_channel_feed f ON f.id = p.change_id
		     WHERE (f.channel_uuid, f.sku, f.quantity) IS DISTINCT FROM ('$CH', p.sku, p.quantity)"),
		'0', "$when: each push is the row of the feed it names");
	is(sql("SELECT cursor = (SELECT max(id) FROM inventory_channel_feed WHERE channel_uuid = '$CH')
		      FROM consumer_state WHERE channel_uuid = '$CH'"), 't', "$when: the stored cursor is the last row");

	my $wrong = sql(qq{
		WITH last AS (
		    SELECT DISTINCT ON (sku) sku, quantity FROM consumer_pushed ORDER BY sku, seq DESC),
		now AS (
		    SELECT sku, quantity FROM inventory_channel_quantities WHERE channel_uuid = '$CH')
		SELECT string_agg(COALESCE(l.sku, n.sku) || ': pushed ' || COALESCE(l.quantity::text, 'nothing')
		                  || ', to list ' || COALESCE(n.quantity, 0), '; ' ORDER BY COALESCE(l.sku, n.sku))
		  FROM last l FULL JOIN now n ON n.sku = l.sku
		 WHERE COALESCE(l.quantity, -1) <> COALESCE(n.quantity, 0)});
	is($wrong, '', "$when: every sku's last push is its quantity to list now");
}

check_pushed('after the stream');
is(sql("SELECT count(DISTINCT sku) FROM consumer_pushed"), '50', 'all 50 skus were pushed');
cmp_ok(sql("SELECT count(*) FROM inventory_channel_quantities WHERE channel_uuid = '$CH' AND quantity > 0"),
	'>', 0, 'some skus are listed with a positive quantity');
is(sql('SELECT count(*) FROM inventory_verify()'), '0', 'inventory_verify() is clean after the load');

# A restart with changes committed that no pass has fed yet (a session
# holds the feeds' row, as a pass running then would): a reservation and a
# change of the rule.  Once the server is back, the worker must feed them
# without waiting for another change, and the consumer, started again from
# its cursor, ends with the quantities to list now.
my $holder = $node->background_psql('postgres', on_error_stop => 1);
$holder->query_safe('BEGIN; SELECT ledger_cursor FROM inventory_feed_state FOR UPDATE');
sql("SELECT available FROM inventory_reserve('CC-RESTART', 'CC-01', '$WH[0]', 5)");
sql("UPDATE inventory_channels SET buffer = 4 WHERE uuid = '$CH'");
is(sql($CAUGHT_UP), 'f', 'before the restart: the reservation and the rule change are not fed yet');
$node->restart;
eval { $holder->quit; };
ok(poll_until($node, 'postgres', $CAUGHT_UP, 't', 15),
	'after the restart: the worker feeds the changes committed before it (within 15 s)');
consumer_start();
1 while consumer_page() > 0;
$consumer->quit;
check_pushed('after the restart');

$node->stop;
done_testing();
