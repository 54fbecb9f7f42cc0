# The launcher serves every database where the extension is installed,
# starting a database's worker when it has work and letting it leave when
# idle: databases created after the server started, three served at once
# with fewer worker slots than databases (each still served, in turn), a
# database dropped while idle and one dropped while its worker is
# connected, one copied as a template, an old inventory.database naming a
# database that does not exist (no crash loop), batches queued before a
# restart, and kills of the launcher and of a worker (nothing lost or
# applied twice).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use FindBin;
use lib "$FindBin::RealBin/../perl";
use InventoryTest;

my $WH = '5b1e7a9c-0d2f-4e6a-9b3c-1f2e3d4c5b6a';

my $node = inventory_node('launcher', start => 0, conf => qq{
inventory.idle_timeout = '2s'
inventory.max_workers = 2
inventory.database = 'nosuch'
});

# An old setting naming a database that does not exist: the server
# starts, the launcher says the setting is no longer used, and nothing
# crash-loops.
my $off = -s $node->logfile;
$node->start;
ok(poll_until($node, 'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'inventory launcher' AND datname IS NULL",
		'1', 30),
	'the launcher runs, connected to no database');
ok(wait_for_log_line($node, qr/WARNING:  inventory.database is no longer used/, $off, 30),
	'an old inventory.database is reported as no longer used');

sub worker_count
{
	my ($db) = @_;
	my $cond = defined $db ? " AND datname = '$db'" : '';
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'inventory worker'$cond");
}

# Databases created after the server started, each with the extension.
for my $db (qw(shop_a shop_b shop_c))
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, qq{
CREATE EXTENSION inventory;
INSERT INTO inventory_warehouses (uuid, name) VALUES ('$WH', 'Main');
});
}
ok(poll_until($node, 'postgres', "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'inventory worker'", '0', 30),
	'after the start-up visits, no worker stays where there is nothing to do');
unlike(slurp_file($node->logfile, $off), qr/FATAL/, 'no FATAL in the log (no crash loop)');

sub adjust
{
	my ($db, $sku, $qty) = @_;
	return $node->safe_psql($db,
		qq{SELECT inventory_adjust('[{"sku": "$sku", "warehouse_uuid": "$WH", "on_hand": $qty}]')});
}

sub on_hand
{
	my ($db, $sku) = @_;
	return $node->safe_psql($db, "SELECT on_hand FROM inventory_levels WHERE sku = '$sku'");
}

# One batch in each: each database gets a worker, which applies it.
for my $db (qw(shop_a shop_b shop_c))
{
	adjust($db, 'FIRST', 7);
}
for my $db (qw(shop_a shop_b shop_c))
{
	ok(poll_until($node, $db, "SELECT on_hand FROM inventory_levels WHERE sku = 'FIRST'", '7', 30),
		"$db: a worker started on demand applied the batch");
}
is($node->safe_psql('shop_a',
		"SELECT string_agg(database || ':' || (batches_applied >= 1)::text, ',' ORDER BY database) FROM inventory_worker_status(true) WHERE database LIKE 'shop%'"),
	'shop_a:true,shop_b:true,shop_c:true',
	'inventory_worker_status(true) shows every database served');
ok(poll_until($node, 'postgres', "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'inventory worker'", '0', 30),
	'idle workers leave after inventory.idle_timeout');
is($node->safe_psql('shop_a', 'SELECT state || coalesce(pid::text, \'-\') FROM inventory_worker_status()'),
	'stopped-', 'an idle database shows state stopped and no pid');

# More databases with work than inventory.max_workers (2): slow rounds
# (one batch each, held 100 ms before commit) queued while paused in
# shop_a and shop_b, then one batch in shop_c.  shop_c waits for a free
# worker and says so, then is served while the others still have work.
$node->safe_psql('postgres', q{
ALTER SYSTEM SET inventory.enabled = off;
ALTER SYSTEM SET inventory.max_round_items = 1;
ALTER SYSTEM SET inventory.debug_hold_before_commit = '100ms';
SELECT pg_reload_conf();
});
ok(poll_until($node, 'shop_a', 'SELECT enabled FROM inventory_worker_status()', 'f', 30), 'paused');
ok(wait_for_log_line($node, qr/LOG:  inventory workers paused \(inventory.enabled is off\)/, $off, 30),
	'the launcher logs the pause');
for my $db (qw(shop_a shop_b))
{
	$node->safe_psql($db, join('', map {
		qq{SELECT inventory_adjust('[{"sku": "SLOW", "warehouse_uuid": "$WH", "on_hand": $_}]');}
	} 1 .. 40));
}
my $c_batch = adjust('shop_c', 'FAIR', 3);
is($node->safe_psql('shop_c', 'SELECT state FROM inventory_worker_status()'), 'paused',
	'while paused, a database with a queued batch shows state paused');
$off = -s $node->logfile;
$node->safe_psql('postgres', 'ALTER SYSTEM RESET inventory.enabled; SELECT pg_reload_conf()');
ok(wait_for_log_line($node, qr/LOG:  inventory workers resumed/, $off, 30), 'the launcher logs the resumption');
ok(poll_until($node, 'shop_c',
		"SELECT state || ': ' || waiting_for FROM inventory_worker_status()",
		'waiting: a free worker (inventory.max_workers)', 30),
	'shop_c waits for a free worker, and says so');
ok(poll_until($node, 'shop_c', "SELECT state FROM inventory_batches WHERE batch_id = $c_batch", 'applied', 30),
	'shop_c is served in turn');
my $queued_ab = $node->safe_psql('shop_a', 'SELECT count(*) FROM inventory_queue')
  + $node->safe_psql('shop_b', 'SELECT count(*) FROM inventory_queue');
cmp_ok($queued_ab, '>', 0, "... while shop_a and shop_b still had batches queued ($queued_ab)");
cmp_ok(worker_count(), '<=', 2, 'never more workers than inventory.max_workers');
for my $db (qw(shop_a shop_b))
{
	ok(poll_until($node, $db, "SELECT count(*) FROM inventory_queue", '0', 60), "$db: its backlog is applied");
	is(on_hand($db, 'SLOW'), '40', "$db: in order, the last batch last");
}

# Kill a worker in the middle of its backlog: the launcher starts another
# after the restart delay, and every batch is applied exactly once.
for my $db (qw(shop_a))
{
	$node->safe_psql($db, join('', map {
		qq{SELECT inventory_adjust('[{"sku": "KILL", "warehouse_uuid": "$WH", "on_hand": $_}]');}
	} 1 .. 30));
}
ok(poll_until($node, 'postgres', "SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'inventory worker' AND datname = 'shop_a'", 't', 30),
	'shop_a has a worker');
$node->safe_psql('postgres', "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'inventory worker' AND datname = 'shop_a'");
ok(poll_until($node, 'shop_a', 'SELECT count(*) FROM inventory_queue', '0', 60), 'after the kill, another worker applies the rest');
is($node->safe_psql('shop_a', q{SELECT on_hand || ' ' || (SELECT count(*) FROM inventory_ledger WHERE sku = 'KILL') FROM inventory_levels WHERE sku = 'KILL'}),
	'30 30', 'each batch applied once: 30 ledger rows, the last value');

# Kill the launcher: the postmaster starts it again; it finds the worker
# that may still run and starts no second one; work is still served.
my $launcher = $node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'inventory launcher'");
$node->safe_psql('postgres', "SELECT pg_terminate_backend($launcher)");
ok(poll_until($node, 'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'inventory launcher' AND pid <> $launcher", '1', 30),
	'a new launcher runs after the old one was killed');
my $b2 = adjust('shop_b', 'AFTER-LAUNCHER', 5);
ok(poll_until($node, 'shop_b', "SELECT state FROM inventory_batches WHERE batch_id = $b2", 'applied', 30),
	'and serves the next batch');
$node->safe_psql('postgres', q{
ALTER SYSTEM RESET inventory.max_round_items;
ALTER SYSTEM RESET inventory.debug_hold_before_commit;
SELECT pg_reload_conf();
});

# A database dropped while idle: no connection of ours is in the way.
ok(poll_until($node, 'postgres', "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'inventory worker' AND datname = 'shop_b'", '0', 30),
	'shop_b is idle, without a worker');
my ($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE shop_b');
is($rc, 0, 'DROP DATABASE of an idle database works') or diag($err);

# With workers that stay (a long idle timeout), commands that need a
# database to themselves make its worker leave: CREATE DATABASE ...
# TEMPLATE, and DROP DATABASE.
$node->safe_psql('postgres', q{ALTER SYSTEM SET inventory.idle_timeout = '1h'; SELECT pg_reload_conf()});
my $b3 = adjust('shop_c', 'TEMPLATE-ME', 9);
ok(poll_until($node, 'shop_c', "SELECT state FROM inventory_batches WHERE batch_id = $b3", 'applied', 30), 'shop_c applied a batch');
is(worker_count('shop_c'), '1', 'shop_c keeps its worker');
# a role that may not drop it cannot make its worker leave either
my $pid_c = $node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'inventory worker' AND datname = 'shop_c'");
$node->safe_psql('postgres', 'CREATE ROLE nobody LOGIN');
($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE shop_c', extra_params => [ '-U', 'nobody' ]);
like($err, qr/must be owner of database shop_c/, 'a role that does not own shop_c cannot drop it');
is($node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'inventory worker' AND datname = 'shop_c'"),
	$pid_c, '... nor make its worker leave');
($rc, $out, $err) = $node->psql('postgres', 'CREATE DATABASE shop_copy TEMPLATE shop_c');
is($rc, 0, 'CREATE DATABASE ... TEMPLATE a database whose worker is connected works') or diag($err);
my $b4 = adjust('shop_copy', 'IN-COPY', 4);
ok(poll_until($node, 'shop_copy', "SELECT state FROM inventory_batches WHERE batch_id = $b4", 'applied', 30),
	'the copy is served');
is(on_hand('shop_copy', 'TEMPLATE-ME'), '9', 'the copy has what the template had');
my $b5 = adjust('shop_c', 'AGAIN', 2);
ok(poll_until($node, 'shop_c', "SELECT state FROM inventory_batches WHERE batch_id = $b5", 'applied', 30),
	'the template database is served again afterwards');
is(worker_count('shop_copy'), '1', 'shop_copy has its worker');
($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE shop_copy');
is($rc, 0, 'DROP DATABASE of a database whose worker is connected works') or diag($err);

# With one worker slot, an idle worker (staying an hour) gives its slot
# at once to a database with work.
$node->safe_psql('postgres', q{ALTER SYSTEM SET inventory.max_workers = 1; SELECT pg_reload_conf()});
ok(poll_until($node, 'postgres', "SELECT setting FROM pg_settings WHERE name = 'inventory.max_workers'", '1', 30), 'one worker slot');
my $b7 = adjust('shop_c', 'SLOT', 1);
ok(poll_until($node, 'shop_c', "SELECT state FROM inventory_batches WHERE batch_id = $b7", 'applied', 30), 'shop_c has the slot');
is(worker_count('shop_c'), '1', "shop_c's worker, idle, stays");
my $b8 = adjust('shop_a', 'SLOT', 2);
ok(poll_until($node, 'shop_a', "SELECT state FROM inventory_batches WHERE batch_id = $b8", 'applied', 30),
	'a batch in another database is applied: the idle worker gave up its slot');
$node->safe_psql('postgres', q{ALTER SYSTEM RESET inventory.max_workers; ALTER SYSTEM RESET inventory.idle_timeout; SELECT pg_reload_conf()});

# A batch held back by an open transaction that then rolls back: the
# worker, held back, does not count as idle and says for whom it waits;
# the rollback wakes it, and the later batch is applied.
$node->safe_psql('postgres', q{ALTER SYSTEM SET inventory.idle_timeout = '1s'; SELECT pg_reload_conf()});
my $holder = $node->background_psql('shop_c', on_error_stop => 1);
$holder->query_safe(qq{BEGIN; SELECT inventory_adjust('[{"sku": "HELD", "warehouse_uuid": "$WH", "on_hand": 1}]');});
my $holder_pid = $holder->query_safe('SELECT pg_backend_pid();');
$holder_pid =~ s/\s+//g;
my $b9 = adjust('shop_c', 'AFTER-HELD', 2);
ok(poll_until($node, 'shop_c', 'SELECT waiting_for_pid FROM inventory_worker_status()', $holder_pid, 30),
	'inventory_worker_status() names the backend holding the batch back');
$holder->query_safe('ROLLBACK;');
$holder->quit;
ok(poll_until($node, 'shop_c', "SELECT state FROM inventory_batches WHERE batch_id = $b9", 'applied', 30),
	'once that transaction rolls back, the later batch is applied');

# CREATE DATABASE without TEMPLATE copies template1: its worker (the
# extension installed there) leaves too.
$node->safe_psql('postgres', q{ALTER SYSTEM SET inventory.idle_timeout = '1h'; SELECT pg_reload_conf()});
$node->safe_psql('template1', qq{
CREATE EXTENSION inventory;
INSERT INTO inventory_warehouses (uuid, name) VALUES ('$WH', 'Main');
});
my $b10 = adjust('template1', 'IN-TEMPLATE1', 1);
ok(poll_until($node, 'template1', "SELECT state FROM inventory_batches WHERE batch_id = $b10", 'applied', 30),
	'template1 is served');
is(worker_count('template1'), '1', 'and keeps its worker');
($rc, $out, $err) = $node->psql('postgres', 'CREATE DATABASE plain_copy');
is($rc, 0, 'CREATE DATABASE with no TEMPLATE works while template1 has a worker') or diag($err);
$node->safe_psql('postgres', q{ALTER SYSTEM RESET inventory.idle_timeout; SELECT pg_reload_conf()});

# Batches queued while paused, then a restart: the launcher's start-up
# visit applies them, without any new commit to wake it.
$node->safe_psql('postgres', 'ALTER SYSTEM SET inventory.enabled = off; SELECT pg_reload_conf()');
ok(poll_until($node, 'shop_a', 'SELECT enabled FROM inventory_worker_status()', 'f', 30), 'paused again');
my $b6 = adjust('shop_a', 'BEFORE-RESTART', 6);
$node->stop('immediate');
# the later line of postgresql.auto.conf wins: the server starts enabled
$node->append_conf('postgresql.auto.conf', "inventory.enabled = on\n");
$node->start;
ok(poll_until($node, 'shop_a', "SELECT state FROM inventory_batches WHERE batch_id = $b6", 'applied', 30),
	'a batch queued before a crash is applied after the restart, with no new commit');

done_testing();
