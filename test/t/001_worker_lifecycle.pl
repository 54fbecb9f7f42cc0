
# Lifecycle of a database's worker: none stays before CREATE EXTENSION,
# applying without any manual call, restart after pg_terminate_backend,
# DROP/CREATE EXTENSION under load, and DROP DATABASE ... WITH (FORCE)
# under its feet.  The launcher's own cases are in 020_launcher.pl.

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

my $node = inventory_node('lifecycle', database => 'shop', create_database => 1, start => 0);

###########################################################################
# 1. The database exists but has no extension: the launcher's start-up
#    visit leaves it at once, quietly.
###########################################################################
my $off = -s $node->logfile;
$node->start;

ok(poll_until($node, 'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'inventory launcher'", '1', 30),
	'the launcher runs');
ok(wait_for_log_line($node, qr/inventory launcher started/, $off, 30), 'the launcher logged its start');
ok(poll_until($node, 'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'inventory worker'", '0', 30),
	'no worker stays in a database without the extension');
my @bad = grep { /(ERROR|FATAL|PANIC):/ } log_lines($node, $off);
is(scalar(@bad), 0, 'no ERROR/FATAL while there is nothing to serve') or diag(join("\n", @bad));

###########################################################################
# 2. CREATE EXTENSION: a committed batch is applied with no manual call.
###########################################################################
$node->safe_psql('shop', qq{
	CREATE EXTENSION inventory;
	INSERT INTO inventory_warehouses (uuid, name) VALUES ('$WH', 'Main');
});
is($node->safe_psql('shop', 'SELECT state || \' \' || extension_found FROM inventory_worker_status()'),
	'stopped true', 'right after CREATE EXTENSION the status says the extension is there');
my $b1 = $node->safe_psql('shop',
	qq{SELECT inventory_adjust('[{"sku": "LIFE-1", "warehouse_uuid": "$WH", "on_hand": 12}]')});
ok(poll_until($node, 'shop', "SELECT state FROM inventory_batches WHERE batch_id = $b1", 'applied', 30),
	"batch $b1 applied by the worker after CREATE EXTENSION");
is($node->safe_psql('shop', "SELECT on_hand FROM inventory_levels WHERE sku = 'LIFE-1'"),
	'12', 'its level row was written');
my $pid0 = worker_pid($node, 'shop');
isnt($pid0, '', 'a worker is connected to shop');
is($node->safe_psql('shop', 'SELECT pid FROM inventory_worker_status()'),
	$pid0, 'inventory_worker_status() shows the same worker pid as pg_stat_activity');

###########################################################################
# 3. pg_terminate_backend: the launcher starts a new worker.
###########################################################################
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid0)");
ok(poll_until($node, 'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'inventory worker' AND datname = 'shop' AND pid <> $pid0",
		'1', 30),
	'a new worker appears after pg_terminate_backend');
my $pid1 = worker_pid($node, 'shop');
isnt($pid1, $pid0, "new worker pid $pid1 differs from $pid0");
my $b2 = $node->safe_psql('shop',
	qq{SELECT inventory_adjust('[{"sku": "LIFE-1", "warehouse_uuid": "$WH", "on_hand": 13}]')});
ok(poll_until($node, 'shop', "SELECT state FROM inventory_batches WHERE batch_id = $b2", 'applied', 30),
	"batch $b2 applied by the new worker");
is($node->safe_psql('shop', "SELECT on_hand FROM inventory_levels WHERE sku = 'LIFE-1'"),
	'13', 'level row updated by the new worker');

###########################################################################
# 4. DROP EXTENSION ... CASCADE while batches are queued and applied, then
#    CREATE EXTENSION again.
###########################################################################
$off = -s $node->logfile;
my $bg = $node->background_psql('shop', on_error_stop => 1);
# Queue one batch per transaction, as fast as one session can.
$bg->query_until(qr/queuing/, qq{
\\echo queuing
DO \$\$
BEGIN
    FOR i IN 1..20000 LOOP
        PERFORM inventory_adjust(jsonb_build_array(jsonb_build_object(
            'sku', 'DROP-' || (i % 97), 'warehouse_uuid', '$WH', 'on_hand', i)));
        COMMIT;
    END LOOP;
END
\$\$;
});
ok(poll_until($node, 'shop',
		"SELECT count(*) >= 200 FROM inventory_batch_history WHERE batch_id > $b2", 't', 60),
	'worker is applying the batches being queued');
my $queued_before_drop = $node->safe_psql('shop', 'SELECT count(*) FROM inventory_queue');
note("batches still queued just before DROP EXTENSION: $queued_before_drop");
# a change feed consumer's cursor, read before the drop
my $old_cursor = $node->safe_psql('shop', 'SELECT max(change_id) FROM inventory_changes(0, 100000)');
cmp_ok($old_cursor, '>', 1, "a consumer's cursor before the drop ($old_cursor)");
my ($drop_rc, $drop_out, $drop_err) =
  $node->psql('shop', 'DROP EXTENSION inventory CASCADE', timeout => 60);
is($drop_rc, 0, 'DROP EXTENSION inventory CASCADE succeeds while batches are queued and applied')
  or diag($drop_err);
# Its loop ends with an error once the extension is gone, and psql exits
# (ON_ERROR_STOP); quit() then cannot write to it.
eval { $bg->quit; };

is($node->safe_psql('shop', "SELECT count(*) FROM pg_extension WHERE extname = 'inventory'"),
	'0', 'extension is gone');
ok(poll_until($node, 'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'inventory worker' AND datname = 'shop'",
		'0', 30),
	'the worker leaves shop after DROP EXTENSION');

$node->safe_psql('shop', qq{
	CREATE EXTENSION inventory;
	INSERT INTO inventory_warehouses (uuid, name) VALUES ('$WH', 'Main');
});
my $b3 = $node->safe_psql('shop',
	qq{SELECT inventory_adjust('[{"sku": "LIFE-2", "warehouse_uuid": "$WH", "on_hand": 7}]')});
ok(poll_until($node, 'shop', "SELECT state FROM inventory_batches WHERE batch_id = $b3", 'applied', 30),
	"after CREATE EXTENSION again, batch $b3 is applied by the worker");
is($node->safe_psql('shop', "SELECT on_hand FROM inventory_levels WHERE sku = 'LIFE-2'"),
	'7', 'its level row was written');
is($node->safe_psql('shop', 'SELECT count(*) FROM inventory_verify()'), '0', 'inventory_verify() is clean');

# Ids started again at 1: the old cursor is refused rather than answered
# with nothing until the new ids pass it.
my ($feed_rc, $feed_out, $feed_err) = $node->psql('shop', "SELECT * FROM inventory_changes($old_cursor)");
isnt($feed_rc, 0, 'inventory_changes() refuses the cursor read before the drop');
like($feed_err, qr/ERROR:  change cursor $old_cursor is beyond the last change of this database/,
	'its error names the cursor');
like($feed_err, qr/HINT:  Start the consumer again from cursor 0/, 'and says to start again from 0');

# DROP EXTENSION says how many queued batches and items it discards (the
# worker paused, so that they stay queued).
$node->safe_psql('postgres', 'ALTER SYSTEM SET inventory.enabled = off; SELECT pg_reload_conf()');
ok(poll_until($node, 'shop', 'SELECT enabled FROM inventory_worker_status()', 'f', 60), 'worker paused');
$node->safe_psql('shop', qq{
	SELECT inventory_adjust('[{"sku": "LIFE-3", "warehouse_uuid": "$WH", "on_hand": 1},
	                          {"sku": "LIFE-4", "warehouse_uuid": "$WH", "on_hand": 2}]');
	SELECT inventory_adjust('[{"sku": "LIFE-3", "warehouse_uuid": "$WH", "on_hand": 3}]');
});
my ($rc_drop2, $out_drop2, $err_drop2) = $node->psql('shop', 'DROP EXTENSION inventory');
is($rc_drop2, 0, 'DROP EXTENSION with batches queued succeeds');
like($err_drop2, qr/WARNING:  DROP EXTENSION inventory discards 2 queued inventory batches \(3 items\)/,
	'and warns of the 2 batches (3 items) it discards');
$node->safe_psql('shop', qq{
	CREATE EXTENSION inventory;
	INSERT INTO inventory_warehouses (uuid, name) VALUES ('$WH', 'Main');
});
$node->safe_psql('postgres', 'ALTER SYSTEM RESET inventory.enabled; SELECT pg_reload_conf()');
ok(poll_until($node, 'shop', 'SELECT enabled FROM inventory_worker_status()', 't', 60), 'worker resumed');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'server is fine');
my @crash = grep { /terminated by signal|terminating any other active server processes|server process .* was terminated/ }
  log_lines($node, $off);
is(scalar(@crash), 0, 'no backend crashed around DROP/CREATE EXTENSION') or diag(join("\n", @crash));
my @errs = worker_lines($node, $off, qr/^(ERROR|FATAL|PANIC)$/, qr/./);
note("worker errors logged around DROP/CREATE EXTENSION (retried): " . scalar(@errs));
note($_) for @errs;

###########################################################################
# 5. DROP DATABASE ... WITH (FORCE) while the worker is connected: no
#    FATAL loop afterwards.
###########################################################################
$node->safe_psql('postgres', q{ALTER SYSTEM SET inventory.idle_timeout = '1h'; SELECT pg_reload_conf()});
my $b4 = $node->safe_psql('shop',
	qq{SELECT inventory_adjust('[{"sku": "LIFE-3", "warehouse_uuid": "$WH", "on_hand": 1}]')});
ok(poll_until($node, 'shop', "SELECT state FROM inventory_batches WHERE batch_id = $b4", 'applied', 30),
	'batch applied');
ok(poll_until($node, 'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'inventory worker' AND datname = 'shop'",
		'1', 30),
	'worker connected to shop');
$off = -s $node->logfile;
my ($dd_rc, $dd_out, $dd_err) = $node->psql('postgres', 'DROP DATABASE shop WITH (FORCE)', timeout => 60);
is($dd_rc, 0, 'DROP DATABASE shop WITH (FORCE) succeeds while the worker is connected')
  or diag($dd_err);
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'server is up after the drop');
# give the launcher the restart delay and more to make any mistake
usleep(7_000_000);
my @fatal = grep { /FATAL:  database .* does not exist/ } log_lines($node, $off);
cmp_ok(scalar(@fatal), '<=', 1, 'no worker keeps trying the dropped database') or diag(join("\n", @fatal));
@crash = grep { /terminated by signal|terminating any other active server processes/ } log_lines($node, $off);
is(scalar(@crash), 0, 'no crash restart after DROP DATABASE') or diag(join("\n", @crash));

$node->stop;
done_testing();
