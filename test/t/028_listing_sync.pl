# The listing-sync example (examples/listing-sync/): its consumer, killed
# mid-stream and restarted, hands the channel every change exactly once,
# in order, and the channel ends with every level row's available.
#
# The channel (channel.js) holds the cursor: a push is accepted only after
# the cursor it holds, and is logged with the cursor's move in one fsynced
# write.  The consumer (consumer.js, run as a role that may only execute
# inventory_changes) pages through inventory_changes() 20 rows at a time
# and pushes each page.  pgbench clients queue batches (on_hand, available
# and on_hand_delta items over 30 skus in two warehouses) and reserve,
# release and fulfil, while the worker applies them.  Meanwhile the
# consumer is SIGKILLed three times: once while it keeps up; once while a
# push is in flight (the channel logged it and holds its reply), in the
# middle of a backlog left by the first kill; once more while it keeps up;
# and its database connection is terminated once (it reconnects).
#
# At the end, once the queue is applied and the channel's cursor is the
# last change id: the change ids in the channel's log, in order, are
# exactly those of inventory_changes(0, ...) (none missed, none twice),
# each line is its change, and for every level row the last available
# pushed is its available now.  Then: a change reaches the channel by its
# NOTIFY (the safety-net timeout set to a minute), SIGTERM stops the
# consumer cleanly, a channel killed with a torn last line in its log
# starts at the last complete line, and start (the one command) with a
# channel whose cursor is beyond the last change exits with the
# consumer's status 3 (IN003).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use HTTP::Tiny;
use JSON::PP;
use Time::HiRes qw(usleep time);
use FindBin;
use lib "$FindBin::RealBin/../perl";
use InventoryTest;

my $EXAMPLES = "$FindBin::RealBin/../../examples";
my $SYNC = "$EXAMPLES/listing-sync";
die "node is not on PATH: install Node.js (test/run-tests does)\n"
  unless system('node --version >/dev/null 2>&1') == 0;
die "$EXAMPLES/node_modules/pg is missing: run (cd examples && npm ci) (test/run-tests does)\n"
  unless -d "$EXAMPLES/node_modules/pg";

my @WH = ('1b5c0e01-6a2d-4e3f-8a41-0c1d2e3f4a01', '1b5c0e02-7b3e-4f40-9b52-1d2e3f4a5b12');
my $node = inventory_node('listing_sync');
install_extension($node, $WH[0]);

sub sql { return $node->safe_psql('postgres', $_[0]); }

# A second warehouse, stock for half the keys written directly (the
# others are created by the batches), and the consumer's role: it may
# only call inventory_changes.
sql(qq{
	INSERT INTO inventory_warehouses (uuid, name) VALUES ('$WH[1]', 'Second');
	INSERT INTO inventory_levels (sku, warehouse_uuid, on_hand)
	SELECT 'LS-' || lpad(i::text, 2, '0'), '$WH[0]', 20 FROM generate_series(1, 30) i;
	CREATE ROLE listing_sync LOGIN;
	GRANT USAGE ON SCHEMA inventory TO listing_sync;
	GRANT EXECUTE ON FUNCTION inventory_changes(bigint, integer) TO listing_sync;
});

my $dir = PostgreSQL::Test::Utils::tempdir();
my $http = HTTP::Tiny->new(timeout => 10);

# Wait at most $timeout seconds until $cond->() is true; whether it was.
sub wait_for
{
	my ($cond, $timeout) = @_;
	my $deadline = time + $timeout;
	while (time < $deadline)
	{
		return 1 if $cond->();
		usleep(50_000);
	}
	return $cond->() ? 1 : 0;
}

sub slurp { my ($f) = @_; return -e $f ? slurp_file($f) : ''; }

# The last $n lines of a file, for a diagnostic.
sub tail_of
{
	my ($f, $n) = @_;
	my @l = split /\n/, slurp($f);
	return join("\n", @l[ ($#l >= $n ? $#l - $n + 1 : 0) .. $#l ]) . "\n";
}

# Every child started here (channels, consumers, pgbench), so that none
# outlives the test, however it ends.
my @children;
sub child_start
{
	my $h = IPC::Run::start(@_);
	push @children, $h;
	return $h;
}

# Reap a child that was told to stop; SIGKILL it if it has not within
# $timeout seconds.  Whether it had stopped by itself.
sub reap
{
	my ($h, $timeout) = @_;
	my $stopped = wait_for(sub { !$h->pumpable }, $timeout);
	$h->signal('KILL') unless $stopped;
	eval { $h->finish; };
	return $stopped;
}

END
{
	for my $h (@children)
	{
		next unless $h->pumpable;
		$h->signal('KILL');
		eval { $h->finish; };
	}
}

# --- the channel ---------------------------------------------------------

# Start a channel on a free port with log $log; its handle and URL.
my $channels = 0;
sub channel_start
{
	my ($log) = @_;
	my $out = "$dir/channel_" . ++$channels . '.out';
	my $h = child_start([ 'node', "$SYNC/channel.js", '--port', '0', '--log', $log ],
		'<', '/dev/null', '>', $out, '2>&1');
	my $url;
	wait_for(sub { ($url) = slurp($out) =~ m{listening on (http://\S+)}; defined $url }, 30)
	  or die "channel did not start: " . slurp($out);
	return ($h, $url, $out);
}

my $CHLOG = "$dir/channel.jsonl";
my ($channel, $URL, $channel_out) = channel_start($CHLOG);

# The channel's log: the changes it accepted, in order (complete lines).
sub channel_log
{
	my $text = slurp($CHLOG);
	$text =~ s/[^\n]*\z//;    # a line being written is not there yet
	return [ map { decode_json($_) } grep { $_ ne '' } split /\n/, $text ];
}
sub channel_lines { my $t = slurp($CHLOG); return ($t =~ tr/\n//); }

# The channel's cursor (GET /cursor).
sub channel_cursor
{
	my ($url) = @_;
	my $res = $http->get(($url // $URL) . '/cursor');
	die "GET /cursor: $res->{status} $res->{content}" unless $res->{success};
	return decode_json($res->{content})->{cursor};
}

sub max_change
{
	return sql('SELECT COALESCE(max(change_id), 0) FROM inventory_changes(0, 2147483647)');
}

# --- the consumer --------------------------------------------------------

my @runs;    # one per start: {h, out, err}

# Start the consumer (run N) against $url, with settings %env; or
# another command of the example with the consumer's environment.
sub consumer_start
{
	my ($url, %env) = @_;
	my $cmd = delete $env{cmd} // [ 'node', "$SYNC/consumer.js" ];
	my $n = @runs + 1;
	my %run = (out => "$dir/consumer_$n.out", err => "$dir/consumer_$n.err");
	local %ENV = (%ENV, PGHOST => $node->host, PGPORT => $node->port, PGDATABASE => 'postgres',
		PGUSER => 'listing_sync', CHANNEL_URL => $url // '', PAGE_SIZE => 20, IDLE_WAIT_MS => 1000, %env);
	delete $ENV{PGAPPNAME};
	$run{h} = child_start($cmd, '<', '/dev/null', '>', $run{out}, '2>', $run{err});
	push @runs, \%run;
	return \%run;
}

# SIGKILL a consumer run and reap it.
sub consumer_kill
{
	my ($run) = @_;
	$run->{h}->signal('KILL');
	reap($run->{h}, 10);
	return;
}

sub run_out { return slurp($_[0]{out}); }

# The exit status of a finished handle's process ('signal N' if killed).
sub exit_status
{
	my ($status) = $_[0]->full_results;
	return $status & 127 ? 'signal ' . ($status & 127) : $status >> 8;
}

# --- the load ------------------------------------------------------------

my $sku = q{'LS-' || lpad(:s::text, 2, '0')};
my $whs = "(ARRAY['$WH[0]', '$WH[1]']::uuid[])[:w]";
my %scripts = (
	# 5 items over 30 skus and both warehouses: on_hand 0-49, available
	# 0-49, or a delta of -8..12 (one below 0 is out_of_range, not applied)
	adjust => qq{SELECT inventory_adjust((SELECT jsonb_agg(jsonb_build_object(
           'sku', 'LS-' || lpad((1 + floor(random() * 30))::int::text, 2, '0'),
           'warehouse_uuid', (ARRAY['$WH[0]', '$WH[1]'])[1 + floor(random() * 2)::int],
           s.op, CASE s.op WHEN 'on_hand_delta' THEN floor(random() * 21)::int - 8
                           ELSE floor(random() * 50)::int END))
      FROM (SELECT (ARRAY['on_hand', 'available', 'on_hand_delta'])[1 + floor(random() * 3)::int] AS op
              FROM generate_series(1, 5)) s));
},
	reserve => qq{\\set s random(1, 30)
\\set w random(1, 2)
\\set q random(1, 4)
SELECT available FROM inventory_reserve('LS-ORDER-' || :client_id || '-' || txid_current(), $sku, $whs, :q);
},
	# a client releases or ships one of its own orders (never another
	# client's: two releasing one reservation would fail one of them)
	release => qq{SELECT available FROM (SELECT order_ref, sku, warehouse_uuid FROM inventory_reservations
	 WHERE order_ref LIKE 'LS-ORDER-' || :client_id || '-%' ORDER BY random() LIMIT 1) r,
	 inventory_release(r.order_ref, r.sku, r.warehouse_uuid);
},
	fulfill => qq{SELECT available FROM (SELECT order_ref, sku, warehouse_uuid FROM inventory_reservations
	 WHERE order_ref LIKE 'LS-ORDER-' || :client_id || '-%' ORDER BY random() LIMIT 1) r,
	 inventory_fulfill(r.order_ref, r.sku, r.warehouse_uuid);
},);
for my $name (keys %scripts)
{
	open my $fh, '>', "$dir/$name.sql" or die "$dir/$name.sql: $!";
	print $fh $scripts{$name};
	close $fh;
}

my $LOAD_TXNS = 2 * 250;
my $load = child_start(
	[ 'pgbench', '-n', '-h', $node->host, '-p', $node->port, '-c', '2', '-t', $LOAD_TXNS / 2, '-R', '22',
	  '-f', "$dir/adjust.sql\@6", '-f', "$dir/reserve.sql\@2", '-f', "$dir/release.sql\@1",
	  '-f', "$dir/fulfill.sql\@1", 'postgres' ],
	'<', '/dev/null', '>', "$dir/pgbench.out", '2>&1');
sub load_running { return $load->pumpable; }

# --- the stream, and the kills --------------------------------------------

my @kills;    # {how, pushed (log lines then), max (largest change id then), load}

# Record a kill that just happened.
sub kill_noted
{
	my ($how) = @_;
	push @kills, { how => $how, pushed => channel_lines(), max => max_change(), load => load_running() };
	note("kill $how: $kills[-1]{pushed} changes pushed, largest change id $kills[-1]{max}");
	return;
}

# 1. Killed while it keeps up, once it has pushed 200 changes.
my $run = consumer_start($URL);
ok(wait_for(sub { channel_lines() >= 200 }, 60), 'the consumer pushes changes as they come')
  or diag(tail_of($run->{out}, 20) . slurp($run->{err}));
consumer_kill($run);
kill_noted('while keeping up');

# 2. A backlog of at least 150 changes builds while it is down; the
# channel will hold its reply to the next push, which is the first page of
# that backlog; the consumer is killed while that push is in flight.
ok(wait_for(sub { max_change() - channel_cursor() >= 150 }, 60), 'a backlog builds while the consumer is down');
my $res = $http->post("$URL/hold", { content => '{"ms": 3000}', headers => { 'content-type' => 'application/json' } });
ok($res->{success}, 'the channel will hold its next reply');
$run = consumer_start($URL);
my ($held_after, $held_first, $held_last);
ok(wait_for(sub {
		($held_after, $held_first, $held_last) =
		  slurp($channel_out) =~ /holding the reply to the push after (\d+) \(ids (\d+)\.\.(\d+)/;
		defined $held_last }, 30),
	'a push is in flight (logged by the channel, its reply held)');
consumer_kill($run);
kill_noted('with a push in flight');
is(channel_cursor(), $held_last, "the push in flight was accepted: the channel's cursor is its last id ($held_last)");
unlike(run_out($run), qr/pushed \d+ changes \(ids \d+\.\.$held_last\)/, 'the consumer never saw it acknowledged');
cmp_ok($held_last, '<', $kills[-1]{max}, 'it was the middle of the backlog, not its end');

# 3. Started again: it goes on after the push it never saw acknowledged.
$run = consumer_start($URL);
ok(wait_for(sub { run_out($run) =~ /starting from the channel's cursor $held_last\b/ }, 30),
	"the next run starts from the channel's cursor $held_last");
my $mark = channel_lines();
ok(wait_for(sub { channel_lines() >= $mark + 60 }, 60), 'it pushes on');

# Its database connection is terminated: it reconnects, LISTENs again and
# pushes on.
is(sql(q{SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
          WHERE usename = 'listing_sync' AND application_name = 'listing-sync-consumer'}),
	'1', "the consumer's backend is terminated");
ok(wait_for(sub { my @c = run_out($run) =~ /connected, listening on inventory_changes/g; @c >= 2 }, 30),
	'the consumer reconnects and LISTENs again')
  or diag(tail_of($run->{out}, 20));
like(run_out($run), qr/database connection lost/, 'and said why');
$mark = channel_lines();
ok(wait_for(sub { channel_lines() >= $mark + 60 }, 60), 'it pushes on after reconnecting');
ok(wait_for(sub { channel_lines() >= $mark + 300 }, 60), 'and on');

# 4. Killed once more while it keeps up; the last run waits a minute
# between short pages unless notified, so from here on it moves only on
# NOTIFY inventory_changes.
consumer_kill($run);
kill_noted('while keeping up, again');
$run = consumer_start($URL, IDLE_WAIT_MS => 60000);

# --- the end state ---------------------------------------------------------

ok(reap($load, 120), 'the load finishes');
like(slurp("$dir/pgbench.out"), qr{processed: $LOAD_TXNS/$LOAD_TXNS}, "pgbench ran its $LOAD_TXNS transactions")
  or diag(slurp("$dir/pgbench.out"));
ok(poll_until($node, 'postgres', 'SELECT count(*) FROM inventory_queue', '0', 60), 'the worker applies every batch');
is(sql("SELECT count(*) FROM inventory_batches WHERE state <> 'applied'"), '0', 'no batch failed');
my $max = max_change();
ok(wait_for(sub { channel_cursor() == $max }, 60), "the consumer catches up: the channel's cursor is $max")
  or diag('channel cursor ' . channel_cursor() . "\n" . tail_of($run->{out}, 20) . slurp($run->{err}));

my $changes = sql(q{SELECT count(*) FROM inventory_changes(0, 2147483647)});
my $log = channel_log();
note("changes: $changes (largest id $max), pushed: " . scalar(@$log)
	  . ', batches: ' . sql('SELECT count(*) FROM inventory_batches')
	  . ', reservations made: ' . sql("SELECT count(*) FROM inventory_ledger WHERE source = 'reserve'")
	  . ', consumer runs: ' . scalar(@runs));
cmp_ok($changes, '>=', 500, 'hundreds of changes flowed');
cmp_ok(sql("SELECT count(*) FROM inventory_ledger WHERE source = 'reserve'"), '>', 0, 'orders reserved stock');

# The kills landed mid-stream: each after some pushes, before the last
# change, while the load ran.
is(scalar(@kills), 3, 'the consumer was SIGKILLed three times');
for my $k (@kills)
{
	ok($k->{pushed} > 0 && $k->{pushed} < $changes,
		"kill $k->{how}: mid-stream, $k->{pushed} of $changes changes pushed then");
	ok($k->{load} && $k->{max} < $max,
		"kill $k->{how}: the load was running and changes came after (largest id $k->{max} -> $max)");
}

# Exactly once, in order: the log's ids are the change ids.
my %count;
$count{ $_->{change_id} }++ for @$log;
my @ids = split /,/, sql(q{SELECT string_agg(change_id::text, ',' ORDER BY change_id) FROM inventory_changes(0, 2147483647)});
is(scalar(grep { !$count{$_} } @ids), 0, 'no change was missed');
is(scalar(grep { $count{$_} > 1 } keys %count), 0, 'no change was pushed twice');
is(join(',', map { $_->{change_id} } @$log), join(',', @ids),
	'the log holds exactly the change ids of inventory_changes, in increasing order');

# Each line is its change.
my %change = map { my ($id, @rest) = split /\|/; ($id => join('|', @rest)) }
  split /\n/, sql(q{SELECT change_id, sku, warehouse_uuid, available FROM inventory_changes(0, 2147483647)});
is(scalar(grep { ($change{ $_->{change_id} } // '') ne "$_->{sku}|$_->{warehouse_uuid}|$_->{available}" } @$log),
	0, "each pushed line carries its change's sku, warehouse and available");

# The last available pushed per key is the level row's available now (0
# for a key never pushed: every level row starts at 0).
my %last;
$last{"$_->{sku}|$_->{warehouse_uuid}"} = $_->{available} for @$log;
my %level = map { my ($k1, $k2, $a) = split /\|/; ("$k1|$k2" => $a) }
  split /\n/, sql('SELECT sku, warehouse_uuid, available FROM inventory_levels');
my @wrong = map { "$_: pushed " . ($last{$_} // 'nothing') . ', available ' . ($level{$_} // 'no row') }
  grep { ($last{$_} // 0) != ($level{$_} // 'NaN') } sort(keys %{ { %last, %level } });
is(join('; ', @wrong), '', "every key's last available pushed is its available now");
is(scalar(keys %level), 60, 'over 30 skus in 2 warehouses');
is(sql('SELECT count(*) FROM inventory_verify()'), '0', 'inventory_verify() is clean');

# --- after the stream ------------------------------------------------------

# A change reaches the channel by NOTIFY: the consumer waits a minute
# between short pages otherwise.
sql("SELECT available FROM inventory_reserve('LS-NOTIFY', 'LS-01', '$WH[0]', 1)");
$max = max_change();
ok(wait_for(sub { channel_cursor() == $max }, 10), 'a reservation reaches the channel within 10 s, woken by NOTIFY');

# SIGTERM stops it cleanly.
$run->{h}->signal('TERM');
ok(reap($run->{h}, 30), 'SIGTERM stops the consumer');
is(exit_status($run->{h}), 0, 'with exit status 0');
like(run_out($run), qr/stopped at cursor $max\b/, 'saying where it stopped');

# The channel, killed with a torn line at the end of its log, starts at
# the last complete line.
my $lines = channel_lines();
$channel->signal('KILL');
reap($channel, 10);
open my $fh, '>>', $CHLOG or die "$CHLOG: $!";
print $fh '{"change_id": ' . ($max + 5) . ', "sku": "LS-';
close $fh;
($channel, $URL, $channel_out) = channel_start($CHLOG);
is(channel_cursor(), $max, 'a channel restarted after a torn write keeps the cursor of its last complete line');
like(slurp($channel_out), qr/cutting a torn end off/, 'and says it cut the torn line');
is(channel_lines(), $lines, 'its log holds the same complete lines');
ok(slurp($CHLOG) =~ /\n\z/, 'and ends with a newline');
$channel->signal('TERM');
reap($channel, 10);

# The one command, start (the channel and the consumer), against a
# channel log whose cursor is beyond every change id (a log from another
# database): the consumer stops with status 3 and says what to do, the
# channel is stopped, and start exits with the consumer's status.
my $other_log = "$dir/other.jsonl";
open $fh, '>', $other_log or die "$other_log: $!";
print $fh encode_json({ change_id => $max + 1000, sku => 'X', warehouse_uuid => $WH[0], available => 1 }) . "\n";
close $fh;
$run = consumer_start(undef, cmd => [ "$SYNC/start", $other_log ],
	CHANNEL_PORT => PostgreSQL::Test::Cluster::get_free_port());
ok(reap($run->{h}, 30), 'start, with a channel ahead of the database, stops')
  or diag(run_out($run) . slurp($run->{err}));
is(exit_status($run->{h}), 3, "with the consumer's exit status 3");
like(slurp($run->{err}), qr/cursor \d+ is beyond the last change of this database.*new, empty log/s,
	'the consumer says the cursor is from elsewhere and how to start over');
like(run_out($run), qr/channel: SIGTERM, stopping at cursor @{[ $max + 1000 ]}/, 'and the channel was stopped');

$node->stop;
done_testing();
