# Retention with a horizon of seconds.  With inventory.retention off
# nothing is pruned; set to 3 s, the worker prunes by itself, in passes of
# at most 20 000 ledger ids, a backlog of 25 000 ledger rows and then,
# while pgbench queues batches and reservations for 12 s, everything older
# than the horizon.  Meanwhile a consumer that keeps up reads every
# change in order without an error and ends with every key's available;
# one that fell behind the horizon is refused (IN005) and told the cursor
# to go on from.  At the end the ledger holds only the last seconds, a
# pruned batch says so, inventory_verify() finds nothing, and the worker
# logged no error.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use InventoryTest;

my $WH = 'c0de0000-0000-4000-8000-000000000029';
my $node = inventory_node('retention');
install_extension($node, $WH);

sub sql { return $node->safe_psql('postgres', $_[0]); }

# Every change id, recorded as the ledger row is written (a trigger of
# the test's own, as an owner may add), to check the consumer missed none.
sql(q{
	CREATE TABLE public.change_ids (id bigint PRIMARY KEY);
	CREATE FUNCTION public.note_change() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
	    INSERT INTO public.change_ids
	    SELECT n.id FROM new_rows n
	     WHERE n.available_before <> n.available_after OR n.incoming_before IS DISTINCT FROM n.incoming_after;
	    RETURN NULL;
	END $$;
	CREATE TRIGGER note_change AFTER INSERT ON inventory.inventory_ledger
	    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.note_change();});

# --- retention off: a backlog of 25 000 ledger rows, kept
my $early = sql(qq{SELECT inventory_adjust('[{"sku": "RT-EARLY", "warehouse_uuid": "$WH", "on_hand": 7}]')});
sql(qq{
	SELECT inventory_adjust((SELECT jsonb_agg(jsonb_build_object(
	           'sku', 'RT-' || ((b * 50 + i) % 100), 'warehouse_uuid', '$WH', 'on_hand', b + i))
	      FROM generate_series(1, 50) i))
	  FROM generate_series(1, 500) b});
ok(poll_until($node, 'postgres', 'SELECT count(*) FROM inventory_queue', '0', 120), 'the backlog is applied');
is(sql('SELECT count(*) FROM inventory_ledger'), '25001', 'its 25 001 ledger rows');
is(sql('SHOW inventory.retention'), '0', 'retention is off by default');
ok(poll_until($node, 'postgres', "SELECT now() - min(at) > '4 s' FROM inventory_ledger", 't', 30),
	'the ledger grows older than 4 s');
is(sql('SELECT count(*) FROM inventory_ledger'), '25001', 'with retention off, nothing was pruned');
is(sql("SELECT state FROM inventory_batch_status($early)"), 'applied', 'the first batch is still recorded');

# a consumer that read once, long ago
my $stale_cursor = sql('SELECT max(change_id) FROM inventory_changes(0, 10)');

# --- retention on: the worker prunes the backlog by itself
my $log_from = -s $node->logfile;
sql("ALTER SYSTEM SET inventory.retention = '3s'");
sql('SELECT pg_reload_conf()');
ok(poll_until($node, 'postgres', 'SELECT count(*) FROM inventory_ledger', '0', 60),
	'the worker prunes the whole backlog, more than one pass of 20 000 ids');
is(sql("SELECT state || ' ' || outcome FROM inventory_batch_status($early)"), 'pruned pruned',
	'a pruned batch says so');
is(sql("SELECT inventory_wait($early)"), 'pruned', 'and inventory_wait() returns');
is(sql('SELECT count(*) FROM inventory_verify()'), '0', 'inventory_verify() proves every level row from the checkpoints');

# --- under load: pgbench queues batches and reservations for 12 s
my $dir = PostgreSQL::Test::Utils::tempdir();
open my $fh, '>', "$dir/adjust.sql" or die "$dir/adjust.sql: $!";
print $fh qq{SELECT inventory_adjust((SELECT jsonb_agg(jsonb_build_object(
           'sku', 'RT-' || floor(random() * 30)::int, 'warehouse_uuid', '$WH',
           CASE WHEN s.set THEN 'on_hand' ELSE 'on_hand_delta' END,
           CASE WHEN s.set THEN 20 + floor(random() * 40)::int ELSE floor(random() * 9)::int - 4 END))
      FROM (SELECT random() < 0.5 AS set FROM generate_series(1, 10)) s));
};
close $fh;
open $fh, '>', "$dir/reserve.sql" or die "$dir/reserve.sql: $!";
print $fh qq{\\set s random(0, 29)
SELECT available FROM inventory_reserve('RT-ORDER-' || txid_current(), 'RT-' || :s, '$WH', 1);
};
close $fh;
my ($load_out, $load_err) = ('', '');
my $load = IPC::Run::start(
	[ 'pgbench', '-n', '-h', $node->host, '-p', $node->port, '-c', '2', '-T', '12', '-R', '60',
	  '-f', "$dir/adjust.sql\@4", '-f', "$dir/reserve.sql\@1", 'postgres' ],
	'>', \$load_out, '2>', \$load_err);

# The live consumer: reads from its cursor, paced by a short pause between
# calls, and keeps the last available of every key it was told.
my $consumer = $node->background_psql('postgres', on_error_stop => 0);
my $cursor = sql('SELECT COALESCE(max(ledger_pruned_through), 0) FROM inventory_retention_state');
my $first_cursor = $cursor;
my (%available, @ids, $errors, $max_ledger_rows);
$errors = '';
$max_ledger_rows = 0;
my $steps = 0;
sub consume
{
	my $out = $consumer->query(qq{
		SELECT change_id || ' ' || sku || ' ' || available FROM inventory_changes($cursor, 1000)});
	$errors .= $consumer->{stderr} if $consumer->{stderr};
	$consumer->{stderr} = '';
	my $rows = 0;
	foreach my $line (split /\n/, $out)
	{
		my ($id, $sku, $avail) = split / /, $line;
		push @ids, $id;
		$available{$sku} = $avail;
		$cursor = $id;
		$rows++;
	}
	return $rows;
}
while (1)
{
	$load->pump_nb;
	last unless $load->pumpable;
	consume();
	my $n = sql('SELECT count(*) FROM inventory_ledger');
	$max_ledger_rows = $n if $n > $max_ledger_rows;
	$consumer->query('SELECT pg_sleep(0.2)');
	$steps++;
}
ok($load->finish && $load_out =~ m{number of failed transactions: 0}, 'pgbench ran without a failed transaction')
  or diag("pgbench: $load_out $load_err");
my ($processed) = $load_out =~ m{processed: (\d+)};
cmp_ok($processed, '>', 300, "pgbench queued batches and reservations ($processed)");
ok(poll_until($node, 'postgres', 'SELECT count(*) FROM inventory_queue', '0', 60), 'the queue is applied');
my $written = sql('SELECT last_value FROM inventory_ledger_id_seq') - 25001;
cmp_ok($written, '>', 1500, "the load wrote ledger rows ($written)");
cmp_ok($max_ledger_rows, '<', $written, "the ledger never held them all (at most $max_ledger_rows)");
# the consumer catches up with what is left
ok(poll_until($node, 'postgres', 'SELECT caught_up FROM inventory_feeds_status()', 't', 30), 'the feeds are caught up');
1 while consume() > 0;
is($errors, '', "the live consumer was never refused ($steps reads)");
is(join(',', @ids), join(',', sort { $a <=> $b } @ids), 'it read every change in increasing order');
is(join(',', @ids), sql("SELECT string_agg(id::text, ',' ORDER BY id) FROM public.change_ids WHERE id > $first_cursor"),
	'every change written after its start, none missed (' . scalar(@ids) . ')');
my %dup;
is(scalar(grep { $dup{$_}++ } @ids), 0, 'none twice');
my @told = sort keys %available;
cmp_ok(scalar(@told), '>=', 20, 'it was told about the keys the load changed (' . scalar(@told) . ')');
is(join(' ', map { "$_=$available{$_}" } @told),
	sql("SELECT string_agg(sku || '=' || available, ' ' ORDER BY sku COLLATE \"C\") FROM inventory_levels
	      WHERE sku IN ('" . join("', '", @told) . "')"),
	'and ends with the available of every key it was told about');

# --- the ledger keeps only the last seconds; everything still proven
ok(poll_until($node, 'postgres', "SELECT count(*) = 0 OR now() - min(at) < '6 s' FROM inventory_ledger", 't', 30),
	'the oldest ledger row left is younger than the horizon and a pass');
ok(poll_until($node, 'postgres', 'SELECT count(*) FROM inventory_ledger', '0', 30),
	'once idle, the ledger is pruned empty');
is(sql('SELECT count(*) FROM inventory_verify()'), '0', 'inventory_verify() finds nothing after the load');
is(sql(q{SELECT count(*) FROM inventory_batch_history WHERE state = 'applied'}), '0',
	'the history of applied batches is pruned too');

# --- the consumer that fell behind: refused, told where to go on
my ($rc, $out, $err) = $node->psql('postgres', "SELECT * FROM inventory_changes($stale_cursor)");
like($err, qr/ERROR:  change cursor $stale_cursor is older than the retention horizon/, 'a cursor behind the horizon is refused');
my ($go_on) = $err =~ /then continue from cursor (\d+)/;
ok(defined $go_on, 'the hint gives the cursor to go on from');
is($node->psql('postgres', "SELECT count(*) FROM inventory_changes($go_on)"), 0, 'which is accepted');

# --- a pass another session holds (a DBA's prune in an open transaction)
# stalls neither the worker's apply nor its own passes; a prune called
# meanwhile prunes nothing and says so, rather than waiting
my $holder = $node->background_psql('postgres', on_error_stop => 1);
$holder->query_safe('BEGIN; SELECT 1 FROM inventory_retention_state FOR UPDATE');
my $held = sql(qq{SELECT inventory_adjust('[{"sku": "RT-HELD", "warehouse_uuid": "$WH", "on_hand": 4}]')});
is(sql("SELECT inventory_wait($held, '20 s')"), 'applied', 'the worker applies while a pass is held');
is(sql(q{SELECT ledger_rows || ' ' || batches || ' ' || more FROM inventory_prune('1 microsecond')}), '0 0 false',
	'a prune while another holds the pass prunes nothing and does not wait');
$holder->query_safe('COMMIT');
$holder->quit;

# --- a new batch: recorded until it is older than the horizon
my $late = sql(qq{SELECT inventory_adjust('[{"sku": "RT-LATE", "warehouse_uuid": "$WH", "on_hand": 3}]')});
is(sql("SELECT inventory_wait($late)"), 'applied', 'a new batch is applied');
is(sql("SELECT state || ' ' || outcome || ' ' || on_hand_after FROM inventory_batch_status($late)"), 'applied applied 3',
	'and recorded with its items');
ok(poll_until($node, 'postgres', "SELECT state FROM inventory_batch_status($late)", 'pruned', 30),
	'until the horizon passes it');

my @errors = grep { /ERROR|FATAL|PANIC/ } log_lines($node, $log_from);
is(join('', grep { !/older than the retention horizon/ } @errors), '', 'the worker logged no error');

$node->stop;
done_testing();
