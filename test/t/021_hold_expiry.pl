# Expiring holds released by the worker, promptly, even when the database's
# worker has left because it was idle: the worker records the next expiry
# when it leaves and the launcher starts one when it is due; a commit that
# makes an earlier expiry (inventory_extend_hold, which writes no ledger
# row and so wakes nothing else) tells the launcher.  A database at 1.2,
# whose reservations have no expires_at, is left alone (no error in the
# log) until it is updated, after which its holds expire too.

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

# How late a release may land after its expires_at, in seconds: "about a
# second", with room for a busy machine.
my $PROMPT_S = 2;

# Workers leave after a second idle; the safety-net visit is an hour away,
# so only the expiry can bring a worker back in time.
my $node = inventory_node('expiry', conf => qq{
inventory.idle_timeout = '1s'
inventory.check_interval = '1h'
});
my $off = -s $node->logfile;

for my $db (qw(shop old12))
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
}
$node->safe_psql('shop', qq{
CREATE EXTENSION inventory;
INSERT INTO inventory_warehouses (uuid, name) VALUES ('$WH', 'Main');
});
$node->safe_psql('old12', qq{
CREATE EXTENSION inventory VERSION '1.2';
INSERT INTO inventory_warehouses (uuid, name) VALUES ('$WH', 'Main');
SELECT inventory_reserve('OLD-1', 'OLD-SKU', '$WH', 2);
CREATE ROLE "app user";
GRANT USAGE ON SCHEMA inventory TO "app user";
GRANT EXECUTE ON FUNCTION inventory_reserve(text, text, uuid, bigint, text, boolean) TO "app user";
});

sub workers
{
	my ($db) = @_;
	return "(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'inventory worker' AND datname = '$db')";
}

sub held
{
	my ($db, $order) = @_;
	return $node->safe_psql($db, "SELECT count(*) FROM inventory_reservations WHERE order_ref = '$order'");
}

# Seconds between a hold's expires_at and its release in the ledger
# (source expire), or '' when it has not been released that way.
sub release_delay
{
	my ($db, $order, $expires_at) = @_;
	return $node->safe_psql($db, qq{
SELECT round(extract(epoch FROM at - '$expires_at'::timestamptz)::numeric, 3)
  FROM inventory_ledger WHERE order_ref = '$order' AND source = 'expire'});
}

# --- 1. The worker leaves idle while a hold waits to expire; the launcher
# starts one when it is due.
my $expires_b = $node->safe_psql('shop', qq{
SELECT inventory_reserve('B', 'SKU-B', '$WH', 3, expires_at => clock_timestamp() + interval '6 s');
SELECT expires_at FROM inventory_reservations WHERE order_ref = 'B'});
$expires_b = (split /\n/, $expires_b)[-1];
ok(poll_until($node, 'shop',
		"SELECT " . workers('shop') . " = 0 AND EXISTS (SELECT FROM inventory_reservations WHERE order_ref = 'B')",
		't', 30),
	'the worker the reservation woke leaves idle before the hold expires');
ok(poll_until($node, 'shop', "SELECT count(*) FROM inventory_reservations WHERE order_ref = 'B'", '0', 30),
	'the hold is released after the worker left');
my $delay = release_delay('shop', 'B', $expires_b);
note("released ${delay}s after expires_at");
ok($delay ne '' && $delay >= 0 && $delay < $PROMPT_S,
	"released by the worker (ledger source expire) within ${PROMPT_S}s of expires_at, not before (${delay}s)");
is($node->safe_psql('shop', "SELECT reserved FROM inventory_levels WHERE sku = 'SKU-B'"), '0',
	'reserved is back to 0');

# --- 2. An earlier expiry made by a commit that writes no ledger row
# (inventory_extend_hold) while no worker runs: the launcher hears of it.
$node->safe_psql('shop', qq{
SELECT inventory_reserve('C', 'SKU-C', '$WH', 1, expires_at => clock_timestamp() + interval '1 hour')});
ok(poll_until($node, 'shop', "SELECT " . workers('shop'), '0', 30),
	'the worker leaves idle with the hold an hour away');
my $expires_c = $node->safe_psql('shop', qq{
SELECT expires_at FROM inventory_extend_hold('C', 'SKU-C', '$WH', clock_timestamp() + interval '2 s')});
is(held('shop', 'C'), '1', 'the hold is there right after it was moved earlier');
ok(poll_until($node, 'shop', "SELECT count(*) FROM inventory_reservations WHERE order_ref = 'C'", '0', 30),
	'the moved hold is released');
$delay = release_delay('shop', 'C', $expires_c);
note("released ${delay}s after expires_at");
ok($delay ne '' && $delay >= 0 && $delay < $PROMPT_S,
	"the moved hold is released within ${PROMPT_S}s of its new expires_at (${delay}s)");

# --- 3. A hold without expires_at stays.
$node->safe_psql('shop', "SELECT inventory_reserve('D', 'SKU-D', '$WH', 1)");

# --- 4. The 1.2 database: its worker runs (the reservation woke it) and
# leaves, with nothing expired and nothing in the log.
ok(poll_until($node, 'old12', "SELECT " . workers('old12'), '0', 30), 'the 1.2 database\'s worker left');
is(held('old12', 'OLD-1'), '1', 'the 1.2 reservation is still there');
is($node->safe_psql('old12', "SELECT extversion FROM pg_extension WHERE extname = 'inventory'"), '1.2',
	'that database is at 1.2');

# ... and once updated, its holds expire too.
$node->safe_psql('old12', 'ALTER EXTENSION inventory UPDATE');
is($node->safe_psql('old12', qq{
SELECT pg_get_function_identity_arguments(p.oid), a.privilege_type
  FROM pg_proc p CROSS JOIN LATERAL aclexplode(p.proacl) a
 WHERE p.proname = 'inventory_reserve' AND a.grantee = '"app user"'::regrole}),
	'order_ref text, sku text, warehouse_uuid uuid, quantity bigint, line_ref text, allow_oversell boolean, expires_at timestamp with time zone|EXECUTE',
	'the update gives the new inventory_reserve the grants of the old one');
my $expires_e = $node->safe_psql('old12', qq{
SET ROLE "app user";
SELECT inventory_reserve('E', 'SKU-E', '$WH', 1, expires_at => clock_timestamp() + interval '1 s');
RESET ROLE;
SELECT expires_at FROM inventory_reservations WHERE order_ref = 'E'});
$expires_e = (split /\n/, $expires_e)[-1];
ok(poll_until($node, 'old12', "SELECT count(*) FROM inventory_reservations WHERE order_ref = 'E'", '0', 30),
	'after ALTER EXTENSION UPDATE, a hold expires there');
$delay = release_delay('old12', 'E', $expires_e);
ok($delay ne '' && $delay >= 0 && $delay < $PROMPT_S, "promptly (${delay}s)");
is(held('old12', 'OLD-1'), '1', 'the old reservation, which has no expiry, stays');

is(held('shop', 'D'), '1', 'the hold without expires_at stays');
is($node->safe_psql('shop', 'SELECT count(*) FROM inventory_verify()'), '0', 'shop is consistent');
is($node->safe_psql('old12', 'SELECT count(*) FROM inventory_verify()'), '0', 'old12 is consistent');

my @bad = grep { /ERROR|WARNING|FATAL|PANIC/ } log_lines($node, $off);
is(scalar(@bad), 0, 'no error or warning in the log') or diag(join("\n", @bad));

$node->stop;
done_testing();
