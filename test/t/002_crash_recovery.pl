
# The core promise under crashes: every batch whose inventory_adjust
# committed is applied exactly once, none is lost, whatever happens to the
# worker (SIGKILL at any moment, including while it holds an applied but
# uncommitted round) or to the whole server (immediate shutdown).
#
# Load: forked clients run one call per psql process.
#   - ADJ clients queue inventory_adjust batches of on_hand items for keys
#     ADJ-1..ADJ-50 (two warehouses), each call with its own idempotency
#     key; a call whose connection died is retried with the same key until
#     it returns, so every call ends with exactly one known batch id.
#   - ORD clients each own some of the keys ORD-1..ORD-10 and run orders on
#     them: reserve, fulfill part, release the rest.  Each call commits a
#     marker row in its transaction, so whether a call whose connection died
#     committed is known; it is retried until it did.
# Model: the final on_hand of an ADJ key is the value of its last item by
# (batch id, position) among the committed batches; ORD keys follow the
# committed order calls.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use POSIX ();
use FindBin;
use lib "$FindBin::RealBin/../perl";
use InventoryTest;

my $N_SIGKILL   = 22;    # SIGKILLs of the worker at random moments
my $N_IMMEDIATE = 5;     # immediate shutdowns at random moments
my $N_ADJ_CLIENTS = 3;
my $N_ORD_CLIENTS = 2;
my $ORD_SEED = 1_000_000;

my @WH = ('11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222');
my $HOLD_QUERY = 'inventory worker: holding a round before commit';

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf(
	'postgresql.conf', qq{
log_line_prefix = '%m [%p] %b '
log_statement = none
restart_after_crash = on
shared_preload_libraries = 'inventory'
inventory.database = 'postgres'
inventory.naptime = '100ms'
max_connections = 40
} . $SEARCH_PATH_CONF);
my $log_start = -s $node->logfile // 0;    # the log may exist from an earlier run
$node->start;

$node->safe_psql('postgres', qq{
	CREATE EXTENSION inventory;
	INSERT INTO inventory_warehouses (uuid, name) VALUES ('$WH[0]', 'WH1'), ('$WH[1]', 'WH2');
	-- commit markers of the order calls (not part of the extension)
	CREATE TABLE test_ord_calls (call text PRIMARY KEY);
});

# Stock for the order keys, before any load: ORD-k lives in warehouse k % 2.
sub ord_wh { my ($k) = @_; return $WH[$k % 2]; }
my $seed_body = '[' . join(',',
	map { sprintf('{"sku": "ORD-%d", "warehouse_uuid": "%s", "on_hand": %d}', $_, ord_wh($_), $ORD_SEED) }
	  1 .. 10) . ']';
my $seed_batch = $node->safe_psql('postgres', "SELECT inventory_adjust('$seed_body')");
is($node->safe_psql('postgres', "SELECT inventory_wait($seed_batch, '60 s')"), 'applied',
	'seed batch for the order keys applied');

###########################################################################
# Clients
###########################################################################
my $workdir = PostgreSQL::Test::Utils::tempdir();
my $stopfile = "$workdir/stop";

# Whether a failed psql call failed because the server went away or is not
# accepting connections yet (then its outcome is unknown and it is retried).
sub connection_trouble
{
	my ($rc, $err, $timed_out) = @_;
	return 1 if $timed_out;
	return 1 if $rc == 2;    # psql: connection to the server was lost or refused
	my @patterns = (
		'server closed the connection', 'terminating connection',
		'connection to server', 'the database system is', 'Connection refused',
		'No such file or directory', 'could not connect', 'no connection to the server',
		'EOF detected', 'Broken pipe', 'psql failed');
	for my $p (@patterns)
	{
		return 1 if index($err, $p) >= 0;
	}
	return 0;
}

# Run $sql until it runs without connection trouble (at most 180 s);
# returns (rc, stdout, stderr, attempts).
sub run_retrying
{
	my ($sql) = @_;
	my $deadline = time + 180;
	my $attempts = 0;
	while (1)
	{
		my ($rc, $out, $err, $to) = try_psql($node, 'postgres', $sql);
		$attempts++;
		return ($rc, $out, $err, $attempts) unless connection_trouble($rc, $err, $to);
		return ($rc, $out, "gave up after 180 s of connection trouble: $err", $attempts)
		  if time > $deadline;
		usleep(50_000 + int(rand(100_000)));
	}
}

# An ADJ client: queue random batches until the stop file appears.
# Writes "OK\tkey\tbatch\tattempts\titems" (items: sku/whidx/value;...) or
# "ERR\tkey\tmessage" per call.
sub adj_client
{
	my ($c, $out) = @_;
	for (my $i = 1; !-e $stopfile; $i++)
	{
		my $key = "adj-$c-$i";
		my $n = 1 + int(rand(5));
		my (@json, @items);
		for (1 .. $n)
		{
			my $sku = 'ADJ-' . (1 + int(rand(50)));
			my $w = int(rand(2));
			my $v = int(rand(100_000));
			push @json, sprintf('{"sku": "%s", "warehouse_uuid": "%s", "on_hand": %d}', $sku, $WH[$w], $v);
			push @items, "$sku/$w/$v";
		}
		my $body = '{"inventory": [' . join(', ', @json) . ']}';
		my ($rc, $stdout, $err, $attempts) =
		  run_retrying("SELECT inventory_adjust('$body', idempotency_key => '$key')");
		if ($rc == 0 && $stdout =~ /^\d+$/)
		{
			print $out join("\t", 'OK', $key, $stdout, $attempts, join(';', @items)), "\n";
		}
		else
		{
			$err =~ s/\s+/ /g;
			print $out join("\t", 'ERR', $key, "rc=$rc $err"), "\n";
		}
	}
}

# An ORD client: orders on its keys, one call at a time.  Writes
# "OK\tcall\tkey\top\torder\tqty" for every call that committed, or
# "ERR\tcall\tmessage".
sub ord_client
{
	my ($c, $keys, $out) = @_;
	my %open;    # key => [order, reserved quantity, fulfilled?]
	my $n = 0;
	while (!-e $stopfile)
	{
		for my $k (@$keys)
		{
			last if -e $stopfile;
			my $sku = "ORD-$k";
			my $wh = ord_wh($k);
			my ($op, $order, $qty, $call_sql);
			if (!$open{$k})
			{
				$order = "o-$c-" . ++$n;
				$qty = 1 + int(rand(50));
				$op = 'reserve';
				$call_sql = "SELECT 1 FROM inventory_reserve('$order', '$sku', '$wh', $qty, allow_oversell => false)";
			}
			elsif (!$open{$k}[2])
			{
				($order) = @{ $open{$k} };
				$qty = 1 + int(rand($open{$k}[1]));
				$op = 'fulfill';
				$call_sql = "SELECT 1 FROM inventory_fulfill('$order', '$sku', '$wh', $qty)";
			}
			else
			{
				($order, $qty) = @{ $open{$k} };
				$op = 'release';
				$call_sql = "SELECT 1 FROM inventory_release('$order', '$sku', '$wh')";
			}
			my $call = "$order-$op";
			my $committed = 0;
			my $err_text;
			for (my $try = 0; $try < 50; $try++)
			{
				my ($rc, $so, $err, $to) = try_psql($node, 'postgres',
					"BEGIN; $call_sql; INSERT INTO test_ord_calls VALUES ('$call'); COMMIT;");
				if ($rc == 0)
				{
					$committed = 1;
					last;
				}
				if (!connection_trouble($rc, $err, $to))
				{
					$err_text = $err;    # a real error: the transaction rolled back
					last;
				}
				# Unknown outcome: the marker row says whether it committed.
				my ($rc2, $cnt, $err2) =
				  run_retrying("SELECT count(*) FROM test_ord_calls WHERE call = '$call'");
				if ($rc2 != 0)
				{
					$err_text = $err2;
					last;
				}
				if ($cnt eq '1')
				{
					$committed = 1;
					last;
				}
				usleep(50_000);
			}
			if (!$committed)
			{
				$err_text //= 'not committed after 50 tries';
				$err_text =~ s/\s+/ /g;
				print $out join("\t", 'ERR', $call, $err_text), "\n";
				delete $open{$k};
				next;
			}
			print $out join("\t", 'OK', $call, $k, $op, $order, $qty), "\n";
			if ($op eq 'reserve')
			{
				$open{$k} = [ $order, $qty, 0 ];
			}
			elsif ($op eq 'fulfill')
			{
				my $left = $open{$k}[1] - $qty;
				if ($left > 0) { $open{$k} = [ $order, $left, 1 ]; }
				else { delete $open{$k}; }
			}
			else
			{
				delete $open{$k};
			}
		}
	}
}

# Start a client in a child process.  The child never returns into the
# test (no TAP output, no END blocks: those would stop the node).
my @children;
sub spawn
{
	my ($name, $body) = @_;
	my $file = "$workdir/$name.out";
	my $pid = fork();
	die "fork failed: $!" unless defined $pid;
	if ($pid == 0)
	{
		srand($$ ^ int(time * 1000));
		my $status = 0;
		eval {
			open my $out, '>', $file or die "cannot write $file: $!";
			$out->autoflush(1);
			$body->($out);
			close $out;
			1;
		} or do {
			if (open my $e, '>>', $file) { my $m = $@ =~ s/\s+/ /gr; print $e "ERR\tchild\tdied: $m\n"; close $e; }
			$status = 1;
		};
		POSIX::_exit($status);
	}
	push @children, { pid => $pid, name => $name, file => $file };
	return;
}

for my $c (1 .. $N_ADJ_CLIENTS)
{
	spawn("adj$c", sub { adj_client($c, @_) });
}
for my $c (1 .. $N_ORD_CLIENTS)
{
	my @keys = grep { ($_ - 1) % $N_ORD_CLIENTS == $c - 1 } 1 .. 10;
	spawn("ord$c", sub { ord_client($c, \@keys, @_) });
}

###########################################################################
# Crashes
###########################################################################

# Wait until the server accepts connections and a worker other than
# $old_pid runs; returns its pid or ''.
sub wait_for_new_worker
{
	my ($old_pid, $timeout) = @_;
	my $deadline = time + $timeout;
	while (time < $deadline)
	{
		my $pid = worker_pid($node);
		return $pid if $pid ne '' && $pid ne ($old_pid // '');
		usleep(100_000);
	}
	return '';
}

my ($kills, $immediates, $active_kills) = (0, 0, 0);
my @held;    # batch ids the worker held uncommitted when it was killed

# Kill the worker, or shut the server down immediately, while it holds an
# applied round before committing; record which batches it had taken.
sub hold_and_crash
{
	my ($how) = @_;
	$node->safe_psql('postgres',
		"ALTER SYSTEM SET inventory.debug_hold_before_commit = '5s'; SELECT pg_reload_conf();");
	my $deadline = time + 60;
	my ($pid, $taken, $queued) = ('', '', '');
	while (time < $deadline)
	{
		my ($rc, $out) = try_psql($node, 'postgres', qq{
			SELECT pid FROM pg_stat_activity
			 WHERE backend_type = 'inventory worker' AND state = 'active' AND query = '$HOLD_QUERY'});
		if ($rc == 0 && $out ne '')
		{
			$pid = $out;
			last;
		}
		usleep(50_000);
	}
	if (!ok($pid ne '', "worker seen holding a round before commit ($how)"))
	{
		$node->safe_psql('postgres',
			'ALTER SYSTEM RESET inventory.debug_hold_before_commit; SELECT pg_reload_conf();');
		return;
	}

	# The queue rows it took are locked by its uncommitted transaction:
	# the ones a SKIP LOCKED scan cannot lock.
	$taken = $node->safe_psql('postgres', q{
		SELECT string_agg(batch_id::text, ',' ORDER BY batch_id) FROM inventory_queue
		 WHERE batch_id NOT IN (SELECT batch_id FROM inventory_queue FOR KEY SHARE SKIP LOCKED)});
	my $still = $node->safe_psql('postgres', qq{
		SELECT count(*) FROM pg_stat_activity
		 WHERE pid = $pid AND state = 'active' AND query = '$HOLD_QUERY'});
	ok($taken ne '' && $still eq '1', "the held round took batches $taken, still uncommitted");
	$queued = $node->safe_psql('postgres',
		"SELECT count(*) FROM inventory_batches WHERE batch_id IN ($taken) AND state = 'queued'")
	  if $taken ne '';
	my @t = split /,/, $taken;
	is($queued, scalar(@t), 'the held batches are still queued for every other session');

	if ($how eq 'SIGKILL')
	{
		kill 'KILL', $pid;
		$kills++;
		$active_kills++;
	}
	else
	{
		$node->stop('immediate');
		$node->start;
		$immediates++;
	}
	push @held, split /,/, $taken;
	ok(wait_for_new_worker($pid, 60) ne '', "server and worker back after the $how");
	$node->safe_psql('postgres',
		'ALTER SYSTEM RESET inventory.debug_hold_before_commit; SELECT pg_reload_conf();');
	return;
}

my $t_load = time;
ok(wait_for_new_worker(undef, 30) ne '', 'worker running before the crashes');

# A shuffled schedule of SIGKILLs and immediate shutdowns, with held rounds
# (three killed, one shut down) spread over it.
my @plan = ((('kill') x $N_SIGKILL), (('immediate') x $N_IMMEDIATE));
for (my $i = $#plan; $i > 0; $i--)
{
	my $j = int(rand($i + 1));
	@plan[ $i, $j ] = @plan[ $j, $i ];
}
splice @plan, int(@plan / 5), 0, 'hold-kill';
splice @plan, int(2 * @plan / 5), 0, 'hold-immediate';
splice @plan, int(3 * @plan / 5), 0, 'hold-kill';
splice @plan, int(4 * @plan / 5), 0, 'hold-kill';

my $all_back = 1;
for my $step (@plan)
{
	my $pid = wait_for_new_worker(undef, 60);
	if ($pid eq '')
	{
		$all_back = 0;
		diag("no worker running before step $step");
		last;
	}
	# let the load run for a random while: kills land at varying moments
	usleep(200_000 + int(rand(1_300_000)));

	if ($step eq 'hold-kill')
	{
		hold_and_crash('SIGKILL');
		next;
	}
	if ($step eq 'hold-immediate')
	{
		hold_and_crash('immediate shutdown');
		next;
	}

	$pid = worker_pid($node);
	next if $pid eq '';
	if ($step eq 'kill')
	{
		my ($rc, $state) = try_psql($node, 'postgres', "SELECT state FROM pg_stat_activity WHERE pid = $pid");
		$active_kills++ if $rc == 0 && $state eq 'active';
		kill 'KILL', $pid;
		$kills++;
	}
	else
	{
		$node->stop('immediate');
		$node->start;
		$immediates++;
	}
	if (wait_for_new_worker($pid, 60) eq '')
	{
		$all_back = 0;
		diag("no new worker within 60 s after $step of $pid");
		last;
	}
}
ok($all_back, 'the server and the worker came back after every crash');
cmp_ok($kills, '>=', 20, "worker killed with SIGKILL $kills times");
cmp_ok($immediates, '>=', 5, "server stopped in immediate mode $immediates times");
note(sprintf('crash phase took %.0f s; %d kills hit the worker while active', time - $t_load, $active_kills));

# Let the load run a little after the last crash, then stop it.
usleep(1_000_000);
open my $sf, '>', $stopfile or die $!;
close $sf;
my $deadline = time + 180;
my %exit;
while (keys %exit < @children && time < $deadline)
{
	for my $ch (@children)
	{
		next if exists $exit{ $ch->{pid} };
		my $r = waitpid($ch->{pid}, POSIX::WNOHANG());
		$exit{ $ch->{pid} } = $? if $r == $ch->{pid};
	}
	usleep(100_000);
}
for my $ch (@children)
{
	next if exists $exit{ $ch->{pid} };
	kill 'KILL', $ch->{pid};
	waitpid($ch->{pid}, 0);
	$exit{ $ch->{pid} } = 'killed';
}
is(join(',', map { $exit{ $_->{pid} } } @children), join(',', (0) x @children),
	'all clients finished cleanly');

ok(wait_for_connections($node, 60), 'server accepts connections');
is($node->safe_psql('postgres', "SHOW inventory.debug_hold_before_commit"), '0',
	'debug hold is off again');
ok(poll_until($node, 'postgres', 'SELECT count(*) FROM inventory_queue', '0', 180),
	'queue drained');

###########################################################################
# Verification
###########################################################################
my (%adj_calls, @errors, %ord_ops, $retried);
$retried = 0;
for my $ch (@children)
{
	open my $in, '<', $ch->{file} or die "cannot read $ch->{file}: $!";
	while (my $line = <$in>)
	{
		chomp $line;
		my @f = split /\t/, $line;
		if ($f[0] eq 'ERR')
		{
			push @errors, "$ch->{name}: $line";
		}
		elsif ($ch->{name} =~ /^adj/)
		{
			my ($key, $batch, $attempts, $items) = @f[ 1 .. 4 ];
			$adj_calls{$key} = { batch => $batch, items => [ map { [ split m{/} ] } split /;/, $items ] };
			$retried++ if $attempts > 1;
		}
		else
		{
			my ($call, $k, $op, $order, $qty) = @f[ 1 .. 5 ];
			$ord_ops{$call} = { key => $k, op => $op, order => $order, qty => $qty };
		}
	}
	close $in;
}
is(scalar(@errors), 0, 'no client call failed other than by losing its connection')
  or diag(join("\n", @errors[ 0 .. ($#errors < 20 ? $#errors : 19) ]));
cmp_ok(scalar(keys %adj_calls), '>=', 200, scalar(keys %adj_calls) . ' inventory_adjust calls committed');
note("$retried inventory_adjust calls were retried after losing their connection");

# Idempotency keys: one per call, naming the batch the call returned.
my %db_keys = map { split /\|/ } split /\n/,
  $node->safe_psql('postgres', "SELECT key || '|' || batch_id FROM inventory_idempotency_keys");
my @key_mismatch = grep { !defined $db_keys{$_} || $db_keys{$_} ne $adj_calls{$_}{batch} } keys %adj_calls;
is(scalar(@key_mismatch), 0, 'every call\'s idempotency key names the batch the call returned')
  or diag(join("\n", map { "$_: call returned $adj_calls{$_}{batch}, key has " . ($db_keys{$_} // 'nothing') }
		  @key_mismatch[ 0 .. ($#key_mismatch < 10 ? $#key_mismatch : 9) ]));
my @extra_keys = grep { !exists $adj_calls{$_} } keys %db_keys;
is(scalar(@extra_keys), 0, 'no idempotency key from an unknown call');

my %batch_of;    # batch id => call key
for my $key (keys %adj_calls)
{
	my $b = $adj_calls{$key}{batch};
	diag("batch $b returned to two calls: $batch_of{$b} and $key") if exists $batch_of{$b};
	$batch_of{$b} = $key;
}
is(scalar(keys %batch_of), scalar(keys %adj_calls), 'each call has its own batch');

# Batches: every committed one applied; no batch from nowhere.
my %state;
for (split /\n/, $node->safe_psql('postgres',
		"SELECT batch_id || '|' || state || '|' || item_count FROM inventory_batches"))
{
	my ($b, $s, $n) = split /\|/;
	$state{$b} = [ $s, $n ];
}
my @lost = grep { !defined $state{$_} || $state{$_}[0] ne 'applied' } keys %batch_of;
is(scalar(@lost), 0, 'every committed batch is applied (lost = ' . scalar(@lost) . ')')
  or diag(join("\n", map { "batch $_: " . ($state{$_} ? $state{$_}[0] : 'missing') }
		  @lost[ 0 .. ($#lost < 10 ? $#lost : 9) ]));
my @unknown = grep { $_ != $seed_batch && !exists $batch_of{$_} } keys %state;
is(scalar(@unknown), 0, 'no batch other than the committed calls\' (a retry never queued twice)')
  or diag('unexpected batches: ' . join(',', sort { $a <=> $b } @unknown));
my @count_mismatch = grep { $state{$_} && $state{$_}[1] != scalar(@{ $adj_calls{ $batch_of{$_} }{items} }) }
  keys %batch_of;
is(scalar(@count_mismatch), 0, 'item_count of every batch is the number of items sent');

# Ledger: exactly one row per item of each applied batch, with the item's
# key and value.
my %ledger;    # "batch/item" => [rows, sku, whidx, on_hand_after]
my %wh_index = ($WH[0] => 0, $WH[1] => 1);
for (split /\n/, $node->safe_psql('postgres', q{
	SELECT batch_id || '|' || item || '|' || count(*) || '|' || min(sku) || '|' || min(warehouse_uuid::text)
	       || '|' || min(on_hand_after) || '|' || max(on_hand_after)
	  FROM inventory_ledger WHERE source = 'adjust' GROUP BY batch_id, item}))
{
	my ($b, $i, $n, $sku, $wh, $min, $max) = split /\|/;
	$ledger{"$b/$i"} = [ $n, $sku, $wh_index{$wh}, $min, $max ];
}
my ($duplicated, $missing_items, $wrong_items, $ledger_items) = (0, 0, 0, 0);
for my $b (keys %batch_of)
{
	my $items = $adj_calls{ $batch_of{$b} }{items};
	for my $pos (1 .. @$items)
	{
		my $l = $ledger{"$b/$pos"};
		if (!$l) { $missing_items++; next; }
		$ledger_items++;
		$duplicated += $l->[0] - 1;
		my ($sku, $w, $v) = @{ $items->[ $pos - 1 ] };
		$wrong_items++ unless $l->[1] eq $sku && $l->[2] == $w && $l->[3] == $v && $l->[4] == $v;
	}
}
my $seed_rows = $node->safe_psql('postgres',
	"SELECT count(*) FROM inventory_ledger WHERE source = 'adjust' AND batch_id = $seed_batch");
my $all_adjust_rows = $node->safe_psql('postgres',
	"SELECT count(DISTINCT (batch_id, item)) FROM inventory_ledger WHERE source = 'adjust'");
is($duplicated, 0, 'no ledger row of a batch item is duplicated (duplicated = ' . $duplicated . ')');
is($missing_items, 0, 'every item of every applied batch has its ledger row');
is($wrong_items, 0, 'every ledger row has its item\'s sku, warehouse and on_hand');
is($all_adjust_rows, $ledger_items + $seed_rows, 'no adjust ledger row from an unknown batch');

# The held rounds: applied exactly once after the crash.  (A batch can be
# held twice: the restarted worker may hold it again before the setting is
# reset.)
my %seen_held;
@held = sort { $a <=> $b } grep { !$seen_held{$_}++ } @held;
cmp_ok(scalar(@held), '>', 0, 'batches were taken by held rounds: ' . join(',', @held));
my @held_bad = grep {
	my $b = $_;
	!$state{$b} || $state{$b}[0] ne 'applied'
	  || grep { !$ledger{"$b/$_"} || $ledger{"$b/$_"}[0] != 1 } 1 .. $state{$b}[1]
} @held;
is(scalar(@held_bad), 0, 'the batches of the killed held rounds are applied exactly once')
  or diag('held batches not applied exactly once: ' . join(',', @held_bad));

# Levels of the ADJ keys: the last item by (batch id, position).
my %model;
for my $b (sort { $a <=> $b } keys %batch_of)
{
	for my $it (@{ $adj_calls{ $batch_of{$b} }{items} })
	{
		my ($sku, $w, $v) = @$it;
		$model{"$sku/$w"} = $v;
	}
}
my %levels;
for (split /\n/, $node->safe_psql('postgres', q{
	SELECT sku || '|' || warehouse_uuid || '|' || on_hand || '|' || reserved || '|' || available
	  FROM inventory_levels}))
{
	my ($sku, $wh, $oh, $r, $a) = split /\|/;
	$levels{"$sku/$wh_index{$wh}"} = [ $oh, $r, $a ];
}
my @adj_diff;
for my $k (sort(keys %model), grep { /^ADJ-/ && !exists $model{$_} } keys %levels)
{
	my $want = exists $model{$k} ? "$model{$k}/0/$model{$k}" : 'no row';
	my $got = $levels{$k} ? join('/', @{ $levels{$k} }) : 'no row';
	push @adj_diff, "$k: model $want, table $got" if $want ne $got;
}
is(scalar(@adj_diff), 0, 'every ADJ level equals the model (' . scalar(keys %model) . ' keys)')
  or diag(join("\n", @adj_diff[ 0 .. ($#adj_diff < 20 ? $#adj_diff : 19) ]));

# Order keys: on_hand = seed - fulfilled, reserved = what is still open.
my (%ord_on_hand, %ord_reserved, %order_left);
$ord_on_hand{$_} = $ORD_SEED, $ord_reserved{$_} = 0 for 1 .. 10;
my %by_order;
push @{ $by_order{ $ord_ops{$_}{order} } }, $ord_ops{$_} for keys %ord_ops;
my %rank = (reserve => 0, fulfill => 1, release => 2);
my %open_res;    # order => [key, quantity]
for my $order (keys %by_order)
{
	my $left = 0;
	my $k;
	for my $op (sort { $rank{ $a->{op} } <=> $rank{ $b->{op} } } @{ $by_order{$order} })
	{
		$k = $op->{key};
		if ($op->{op} eq 'reserve') { $left = $op->{qty}; $ord_reserved{$k} += $op->{qty}; }
		elsif ($op->{op} eq 'fulfill')
		{
			$left -= $op->{qty};
			$ord_reserved{$k} -= $op->{qty};
			$ord_on_hand{$k} -= $op->{qty};
		}
		else { $ord_reserved{$k} -= $left; $left = 0; }
	}
	$open_res{$order} = "$k/$left" if $left > 0;
}
my @ord_diff;
for my $k (1 .. 10)
{
	my $w = $k % 2;
	my $want = join('/', $ord_on_hand{$k}, $ord_reserved{$k}, $ord_on_hand{$k} - $ord_reserved{$k});
	my $got = $levels{"ORD-$k/$w"} ? join('/', @{ $levels{"ORD-$k/$w"} }) : 'no row';
	push @ord_diff, "ORD-$k: model $want, table $got" if $want ne $got;
}
is(scalar(@ord_diff), 0, 'every ORD level (on_hand/reserved/available) equals the model of the committed calls')
  or diag(join("\n", @ord_diff));
my %db_res = map { split /\|/ } split /\n/, $node->safe_psql('postgres', q{
	SELECT order_ref || '|' || substr(sku, 5) || '/' || sum(quantity)
	  FROM inventory_reservations GROUP BY order_ref, sku});
is_deeply(\%db_res, \%open_res, 'open reservations are exactly the orders the model leaves open');
is($node->safe_psql('postgres', 'SELECT count(*) FROM test_ord_calls'), scalar(keys %ord_ops),
	'every committed order call was recorded (markers = calls)');
cmp_ok(scalar(keys %ord_ops), '>=', 50, scalar(keys %ord_ops) . ' order calls committed');

my $verify = $node->safe_psql('postgres', 'SELECT * FROM inventory_verify()');
is($verify, '', 'inventory_verify() returns no rows');

# The crashes really happened: one crash restart per SIGKILL.
my @sig9 = grep { /background worker "inventory worker" \(PID \d+\) was terminated by signal 9/ }
  log_lines($node, $log_start);
is(scalar(@sig9), $kills, "the log shows the $kills SIGKILLs of the worker");
my @reinit = grep { /all server processes terminated; reinitializing/ } log_lines($node, $log_start);
is(scalar(@reinit), $kills, 'each SIGKILL was followed by a crash restart');

diag(sprintf('kills: %d (%d while the worker was active), immediate shutdowns: %d, '
	  . 'batches: %d (%d items), calls retried: %d, held batches: %d, order calls: %d, '
	  . 'lost: %d, duplicated: %d',
	$kills, $active_kills, $immediates, scalar(keys %batch_of), $ledger_items, $retried,
	scalar(@held), scalar(keys %ord_ops), scalar(@lost), $duplicated));

$node->stop;
done_testing();
