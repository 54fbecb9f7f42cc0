# Mixed concurrent load with pgbench (scripts in test/stress/mixed_*.sql):
# stock counts of a hot set of 20 keys (on_hand and available items) and
# of a cold set of 5000, reservations (strict and oversell-allowed),
# releases and fulfillments, with the worker applying batches meanwhile.
# Expected refusals (IN001 insufficient stock, IN002 nothing to release or
# fulfill) are caught and counted by small wrappers this test creates; any
# other error aborts a pgbench client and fails the test.
#
# Afterwards, once the queue has drained: inventory_verify() finds nothing;
# and, checked independently here: available = on_hand - reserved on every
# row, reserved = the sum of open reservations per key, the last ledger row
# of each key equals its level row, each ledger row starts where the key's
# previous one ended, every applied item has its ledger row, a strict
# reservation never took available below zero, and no batch failed.
#
# INVENTORY_STRESS_SECONDS (default 60) and INVENTORY_STRESS_CLIENTS
# (default 8) set the run.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use InventoryTest;
use File::Basename qw(dirname);
use IPC::Run;
use Time::HiRes qw(usleep time);

# PostgreSQL::Test::Cluster->init runs $ENV{PG_REGRESS} --config-auth;
# test/run-tests does not set it: take the one of the installed PGXS.
$ENV{PG_REGRESS} //= dirname(dirname(`pg_config --pgxs`)) . '/test/regress/pg_regress';

my $seconds = $ENV{INVENTORY_STRESS_SECONDS} // 60;
my $clients = $ENV{INVENTORY_STRESS_CLIENTS} // 8;
die "INVENTORY_STRESS_SECONDS must be a positive integer" unless $seconds =~ /^\d+$/ && $seconds > 0;
die "INVENTORY_STRESS_CLIENTS must be a positive integer" unless $clients =~ /^\d+$/ && $clients > 0;

my $W1 = '11111111-1111-4111-8111-111111111111';
my $W2 = '22222222-2222-4222-8222-222222222222';
my $stress_dir = 'test/stress';
my %weight = (mixed_adjust_hot => 25, mixed_adjust_cold => 10, mixed_reserve => 35,
	mixed_release => 12, mixed_fulfill => 18);
for my $s (sort keys %weight)
{
	ok(-f "$stress_dir/$s.sql", "$stress_dir/$s.sql exists");
}

my $node = inventory_node('stress', utf8 => 1, conf => qq{
max_connections = 40
log_statement = none
log_min_messages = warning
});

$node->safe_psql('postgres', qq{
CREATE EXTENSION inventory;
INSERT INTO inventory_warehouses (uuid, name) VALUES ('$W1', 'Main'), ('$W2', 'Second');
CREATE SCHEMA stress;
CREATE SEQUENCE stress.in001;       -- refusals counted without writing rows
CREATE SEQUENCE stress.in002;
CREATE SEQUENCE stress.done;
CREATE FUNCTION stress.reserve(o text, s text, w uuid, q bigint, line text, oversell boolean) RETURNS bigint
LANGUAGE plpgsql AS \$\$
BEGIN
    RETURN (inventory_reserve(o, s, w, q, line, oversell)).available;
EXCEPTION WHEN SQLSTATE 'IN001' THEN
    PERFORM nextval('stress.in001');
    RETURN NULL;
END \$\$;
CREATE FUNCTION stress.release(o text, s text, w uuid, q bigint) RETURNS bigint
LANGUAGE plpgsql AS \$\$
BEGIN
    RETURN (inventory_release(o, s, w, q)).available;
EXCEPTION WHEN SQLSTATE 'IN002' THEN
    PERFORM nextval('stress.in002');
    RETURN NULL;
END \$\$;
CREATE FUNCTION stress.fulfill(o text, s text, w uuid, q bigint) RETURNS bigint
LANGUAGE plpgsql AS \$\$
BEGIN
    RETURN (inventory_fulfill(o, s, w, q)).available;
EXCEPTION WHEN SQLSTATE 'IN002' THEN
    PERFORM nextval('stress.in002');
    RETURN NULL;
END \$\$;
});

# Initial stock of the hot keys.
my $seed = $node->safe_psql('postgres', qq{
SELECT inventory_adjust((SELECT jsonb_agg(jsonb_build_object('sku', 'HOT-' || lpad(k::text, 2, '0'),
                                          'warehouse_uuid', '$W1', 'on_hand', 300))
                           FROM generate_series(1, 20) k))});
is($node->safe_psql('postgres', "SELECT inventory_wait($seed, '60 s')"), 'applied', 'hot keys stocked');

# ---- the load
my @cmd = ('pgbench', '-n', '-h', $node->host, '-p', $node->port,
	'-c', $clients, '-j', ($clients < 2 ? 1 : 2), '-T', $seconds, '-P', ($seconds >= 20 ? 10 : 5),
	(map { ('-f', "$stress_dir/$_.sql\@$weight{$_}") } sort keys %weight), 'postgres');
note("running: @cmd");
my ($stdout, $stderr) = ('', '');
my $t0 = time;
my $ok = IPC::Run::run(\@cmd, '>', \$stdout, '2>', \$stderr,
	IPC::Run::timeout($seconds + 300));
my $took = time - $t0;
note("pgbench output:\n$stdout");
ok($ok, "pgbench exited 0 after " . sprintf('%.0f', $took) . ' s') or diag("pgbench stderr:\n$stderr");
my @aborted = grep { /aborted|ERROR/ } split /\n/, $stderr;
is(scalar(@aborted), 0, 'no pgbench client aborted (no unexpected error)')
  or diag(join("\n", @aborted[0 .. ($#aborted < 19 ? $#aborted : 19)]));
my ($tps) = $stdout =~ /tps = ([\d.]+) \(without initial connection time\)/;
my ($txns) = $stdout =~ /number of transactions actually processed: (\d+)/;
ok(defined $tps && $txns > 0, 'pgbench processed transactions');
$tps //= '?';
$txns //= 0;

# ---- drain: the worker applies what is queued (bounded)
my $deadline = time + 300;
my $queued;
while (1)
{
	$queued = $node->safe_psql('postgres', 'SELECT count(*) FROM inventory_queue');
	last if $queued eq '0' || time > $deadline;
	usleep(100_000);
}
is($queued, '0', 'the queue drained');

# ---- consistency
my $verify = $node->safe_psql('postgres',
	q{SELECT string_agg(format('%s %s %s: %s', check_name, sku, warehouse_uuid, detail), E'\n') FROM (SELECT * FROM inventory_verify() LIMIT 20) v});
is($verify, '', 'inventory_verify() returns no rows');

is($node->safe_psql('postgres', q{
SELECT string_agg(format('%s %s: on_hand %s reserved %s available %s', sku, warehouse_uuid, on_hand, reserved, available), E'\n')
  FROM (SELECT * FROM inventory_levels WHERE available <> on_hand - reserved OR reserved < 0 LIMIT 20) l}),
	'', 'available = on_hand - reserved on every row');

is($node->safe_psql('postgres', q{
SELECT string_agg(format('%s %s: reserved %s, reservations %s', k.sku, k.wh, k.reserved, k.total), E'\n')
  FROM (SELECT coalesce(l.sku, r.sku) AS sku, coalesce(l.warehouse_uuid, r.warehouse_uuid) AS wh,
               coalesce(l.reserved, 0) AS reserved, coalesce(r.total, 0) AS total
          FROM inventory_levels l
          FULL JOIN (SELECT sku, warehouse_uuid, sum(quantity) AS total FROM inventory_reservations GROUP BY 1, 2) r
            ON r.sku = l.sku AND r.warehouse_uuid = l.warehouse_uuid) k
 WHERE k.reserved <> k.total}),
	'', 'reserved = sum of open reservations on every key');

is($node->safe_psql('postgres', q{
SELECT string_agg(format('%s %s: level %s/%s/%s, last ledger row %s/%s/%s', l.sku, l.warehouse_uuid,
                         l.on_hand, l.reserved, l.available, g.on_hand_after, g.reserved_after, g.available_after), E'\n')
  FROM inventory_levels l
  FULL JOIN (SELECT DISTINCT ON (sku, warehouse_uuid) * FROM inventory_ledger ORDER BY sku, warehouse_uuid, id DESC) g
    ON g.sku = l.sku AND g.warehouse_uuid = l.warehouse_uuid
 WHERE (l.on_hand, l.reserved, l.available) IS DISTINCT FROM (g.on_hand_after, g.reserved_after, g.available_after)
   AND NOT (g.sku IS NULL AND l.on_hand = 0 AND l.reserved = 0)}),
	'', 'ledger replay: the last ledger row of each key is its level row');

is($node->safe_psql('postgres', q{
SELECT string_agg(format('%s %s row %s: starts %s/%s, previous ended %s/%s', sku, warehouse_uuid, id,
                         on_hand_before, reserved_before, p_on, p_res), E'\n')
  FROM (SELECT *, lag(on_hand_after, 1, 0::bigint) OVER w AS p_on, lag(reserved_after, 1, 0::bigint) OVER w AS p_res
          FROM inventory_ledger WINDOW w AS (PARTITION BY sku, warehouse_uuid ORDER BY id)) c
 WHERE (on_hand_before, reserved_before) <> (p_on, p_res)
    OR available_before <> on_hand_before - reserved_before OR available_after <> on_hand_after - reserved_after}),
	'', 'ledger chain: each row starts where the previous one of its key ended');

is($node->safe_psql('postgres', q{
SELECT (SELECT coalesce(sum(item_count), 0) FROM inventory_batch_history WHERE state = 'applied')
     - (SELECT count(*) FROM inventory_ledger WHERE source = 'adjust')}),
	'0', 'every applied item has its ledger row');

is($node->safe_psql('postgres', q{
SELECT string_agg(format('ledger %s: %s %s reserved %s -> %s, available %s -> %s', id, order_ref, sku,
                         reserved_before, reserved_after, available_before, available_after), E'\n')
  FROM inventory_ledger WHERE source = 'reserve' AND line_ref = 'strict' AND available_after < 0}),
	'', 'strict reservations (allow_oversell => false) never took available below zero');

my $failed = $node->safe_psql('postgres',
	"SELECT string_agg(batch_id || ': ' || error, E'\\n') FROM inventory_batch_history WHERE state = 'failed'");
is($failed, '', 'no batch failed');

# the server is fine
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'inventory worker'"),
	'1', 'the worker is running');
my @crash = grep { /terminated by signal|server process .* was terminated|was terminated by|PANIC/ }
  split /\n/, slurp_file($node->logfile);
is(scalar(@crash), 0, 'no crash in the server log') or diag(join("\n", @crash));

# ---- the counts
my $counts = $node->safe_psql('postgres', q{
SELECT format('batches applied %s (items %s), failed %s; reserve %s, release %s, fulfill %s ledger rows; '
              'refused: IN001 %s, IN002 %s; level rows %s (hot %s), open reservations %s, oversold keys %s',
  (SELECT count(*) FROM inventory_batch_history WHERE state = 'applied'),
  (SELECT coalesce(sum(item_count), 0) FROM inventory_batch_history WHERE state = 'applied'),
  (SELECT count(*) FROM inventory_batch_history WHERE state = 'failed'),
  (SELECT count(*) FROM inventory_ledger WHERE source = 'reserve'),
  (SELECT count(*) FROM inventory_ledger WHERE source = 'release'),
  (SELECT count(*) FROM inventory_ledger WHERE source = 'fulfill'),
  (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM stress.in001),
  (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM stress.in002),
  (SELECT count(*) FROM inventory_levels),
  (SELECT count(*) FROM inventory_levels WHERE sku LIKE 'HOT-%'),
  (SELECT count(*) FROM inventory_reservations),
  (SELECT count(*) FROM inventory_levels WHERE available < 0))});
diag("stress: $clients clients, ${seconds} s: tps $tps, $txns transactions; $counts");

$node->stop;
done_testing();
