# The Sellbrite-compatible HTTP server of examples/http/ against a real
# cluster, through real HTTP requests (HTTP::Tiny).
#
# The cluster asks for a password (scram-sha-256) on TCP from 127.0.0.1,
# which is how the server connects: the Basic credentials of a request are
# the PostgreSQL role and password.  A role "app" gets the README's
# application-role recipe; "nopriv" gets nothing.  Then:
#   - PUT creates records (200 with a batch id, the batch queued by "app"),
#     "available" sets on_hand = available + reserved;
#   - PATCH skips a missing record (outcome skipped_missing) and applies
#     to an existing one;
#   - bad bodies (both fields, neither, bad uuid, 51 items, not JSON, wrong
#     top-level shapes, empty) get 400 with one message per bad item and
#     queue nothing;
#   - no credentials, a wrong password, an unknown role: 401 with
#     WWW-Authenticate; nopriv: 403; neither queues anything;
#   - an Idempotency-Key retried gets the same batch id and queues once;
#     the key with another body or with PATCH is 422;
#   - GET: values, filters (sku, warehouse, created/updated times), paging
#     by page with Total-Pages and by cursor with Next-Cursor, each walk
#     compared with the table; bad parameters 400;
#   - a full queue (inventory.max_queued_items) is 503 with Retry-After;
#   - unknown route 404, wrong method 405;
#   - SIGTERM: the server exits 0 and closes its connections.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use InventoryTest;
use HTTP::Tiny;
use JSON::PP;
use MIME::Base64 qw(encode_base64);
use POSIX qw(ceil);
use Time::HiRes qw(usleep time);

my $WH = '5b1e7a9c-0d2f-4e6a-9b3c-1f2e3d4c5b6a';
my $WH2 = '6c2f8bad-1e30-4f7b-8c4d-2a3f4e5d6c7b';
my $root = "$FindBin::RealBin/../..";
my $server_js = "$root/examples/http/server.js";

# node from PATH, and the examples' packages (test/run-tests runs npm ci)
my ($node_bin) = grep { -x $_ } map { "$_/node" } split /:/, ($ENV{PATH} // '');
BAIL_OUT('node is not in PATH (test/run-tests installs nodejs)') unless $node_bin;
BAIL_OUT("$root/examples/node_modules/pg is missing: run (cd examples && npm ci)")
  unless -d "$root/examples/node_modules/pg";

# The cluster: passwords on TCP, the test's own socket access as before.
my $node = inventory_node('http_server', start => 0,
	conf => "listen_addresses = '127.0.0.1'\npassword_encryption = 'scram-sha-256'\n");
open my $hba, '>', $node->data_dir . '/pg_hba.conf' or die "pg_hba.conf: $!";
print $hba "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n";
close $hba;
$node->start;
install_extension($node, $WH, qq{
	INSERT INTO inventory_warehouses (uuid, name) VALUES ('$WH2', 'Second');
	CREATE ROLE app LOGIN PASSWORD 'app-secret';
	CREATE ROLE nopriv LOGIN PASSWORD 'nopriv-secret';
});

sub sql { return $node->safe_psql('postgres', $_[0]); }

# The README's application-role recipe, as written (012 checks what it grants).
my ($recipe) = slurp_file("$root/README.md") =~ /An application role:\s*```sql\n(.*?)```/s;
ok(defined $recipe, 'README.md has the application-role recipe');
sql($recipe // '');
is(sql(q{SELECT has_function_privilege('app', 'inventory.inventory_adjust(jsonb, boolean, text)', 'EXECUTE')
           AND has_table_privilege('app', 'inventory.inventory_levels', 'SELECT')
           AND NOT has_schema_privilege('nopriv', 'inventory', 'USAGE')}),
	't', 'app has the recipe\'s grants, nopriv none');

# The server, on a free port, reaching the cluster over TCP.
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $server_log = "$PostgreSQL::Test::Utils::log_path/027_http_server_node.log";
my $timer = IPC::Run::timeout(900);
my $server;
{
	local $ENV{PGHOST} = '127.0.0.1';
	local $ENV{PGPORT} = $node->port;
	local $ENV{PGDATABASE} = 'postgres';
	$server = IPC::Run::start([ $node_bin, $server_js, '--port', $port ],
		'<', \undef, '>', $server_log, '2>&1', $timer);
}
my $server_pid = $server->{KIDS}[0]{PID};
END { kill 'KILL', $server_pid if $server_pid && kill 0, $server_pid; }

my $base = "http://127.0.0.1:$port";
my $ua = HTTP::Tiny->new(timeout => 30, keep_alive => 0);
my $json = JSON::PP->new->canonical;

# Wait (at most 30 s) until the server answers at all.
my $up = 0;
for (my $deadline = time + 30; time < $deadline; usleep(100_000))
{
	my $r = $ua->get("$base/inventory");
	if ($r->{status} != 599) { $up = 1; last; }
	last unless kill 0, $server_pid;
}
ok($up, "the server listens on port $port")
  or BAIL_OUT('server did not start: ' . slurp_file($server_log));

# One request: $auth is [role, password], 'none', or undef for app.
# Returns the response with ->{json} (the body decoded, when JSON).
sub req
{
	my ($method, $path, %o) = @_;
	my %h;
	my $auth = exists $o{auth} ? $o{auth} : [ 'app', 'app-secret' ];
	$h{Authorization} = 'Basic ' . encode_base64("$auth->[0]:$auth->[1]", '') if ref $auth;
	$h{'Content-Type'} = 'application/json' if defined $o{body};
	$h{'Idempotency-Key'} = $o{key} if defined $o{key};
	my $body = ref $o{body} ? $json->encode($o{body}) : $o{body};
	my $r = $ua->request($method, "$base$path", { headers => \%h, defined $body ? (content => $body) : () });
	$r->{json} = eval { decode_json($r->{content}) } if ($r->{headers}{'content-type'} // '') =~ /json/;
	return $r;
}

# Item helpers.
sub item { my ($sku, $wh, %f) = @_; return { sku => $sku, warehouse_uuid => $wh, %f }; }
sub batches { return sql('SELECT count(*) || \'/\' || COALESCE(max(batch_id), 0) FROM inventory_batches'); }
sub wait_batch { return sql("SELECT inventory_wait($_[0], '60 s')"); }
sub level { return sql("SELECT on_hand || ' ' || reserved || ' ' || available FROM inventory_levels WHERE sku = '$_[0]' AND warehouse_uuid = '" . ($_[1] // $WH) . "'"); }

###########################################################################
# Authentication and privileges
###########################################################################
my $before = batches();
my $put1 = { inventory => [ item('SKU-A1', $WH, on_hand => 10) ] };
for my $case ([ 'none', 'no credentials' ], [ [ 'app', 'wrong' ], 'a wrong password' ],
	[ [ 'ghost', 'x' ], 'an unknown role' ])
{
	my $r = req('PUT', '/inventory', auth => $case->[0], body => $put1);
	is($r->{status}, 401, "PUT with $case->[1]: 401");
	like($r->{headers}{'www-authenticate'} // '', qr/^Basic /, "PUT with $case->[1]: WWW-Authenticate: Basic");
}
is(req('GET', '/inventory', auth => 'none')->{status}, 401, 'GET without credentials: 401');
my $r = req('PUT', '/inventory', auth => [ 'nopriv', 'nopriv-secret' ], body => $put1);
is($r->{status}, 403, 'PUT as a role without privileges: 403');
like($r->{json}{error} // '', qr/permission denied/, '403 says permission denied');
is(req('GET', '/inventory', auth => [ 'nopriv', 'nopriv-secret' ])->{status}, 403, 'GET as a role without privileges: 403');
is(batches(), $before, 'nothing queued by the refused requests');

###########################################################################
# PUT creates records; available = on_hand - reserved
###########################################################################
$r = req('PUT', '/inventory', body => { inventory => [
	item('SKU-A1', $WH, on_hand => 10),
	item('SKU-A2', $WH, available => 5, description => 'cycle count'),
	item('SKU-A1', $WH2, on_hand => 7, bin_location => 'B-2') ] });
is($r->{status}, 200, 'PUT creating three records: 200');
my $b1 = $r->{json}{batch_id} // '';
like($b1, qr/^\d+$/, "PUT returns a batch id ($b1)");
ok(defined $r->{json}{message}, 'PUT returns a message');
is(wait_batch($b1), 'applied', 'the batch is applied');
is(sql("SELECT queued_by || ' ' || create_missing || ' ' || item_count FROM inventory_batches WHERE batch_id = $b1"),
	'app true 3', 'queued by app, create_missing (PUT), 3 items');
is(level('SKU-A1') . ' | ' . level('SKU-A2') . ' | ' . level('SKU-A1', $WH2), '10 0 10 | 5 0 5 | 7 0 7',
	'the records exist with the values sent');
is(sql("SELECT description FROM inventory_ledger WHERE batch_id = $b1 AND sku = 'SKU-A2'"), 'cycle count',
	'the description is the ledger row\'s');
is(sql("SELECT bin_location FROM inventory_levels WHERE sku = 'SKU-A1' AND warehouse_uuid = '$WH2'"), 'B-2',
	'bin_location is stored');

# Sellbrite's double deduction: 3 reserved, the client sends available 4
sql("SELECT inventory_reserve('order-1', 'SKU-A1', '$WH', 3)");
$r = req('PUT', '/v1/inventory', body => { inventory => [ item('SKU-A1', $WH, available => 4) ] });
is($r->{status}, 200, 'PUT with available (under /v1): 200');
is(wait_batch($r->{json}{batch_id} // 0), 'applied', 'applied');
is(level('SKU-A1'), '7 3 4', 'available 4 with 3 reserved: on_hand 7');

$r = req('GET', '/inventory?sku=SKU-A1&warehouse_uuid=' . $WH);
is($r->{status}, 200, 'GET one record: 200');
is(ref $r->{json}, 'ARRAY', 'GET returns a bare array');
is(join(' ', map { "$_->{sku} $_->{warehouse_uuid} $_->{on_hand} $_->{reserved} $_->{available}" } @{ $r->{json} // [] }),
	"SKU-A1 $WH 7 3 4", 'GET gives on_hand, reserved, available of the row');
like($r->{content}, qr/"on_hand": ?7\b/, 'quantities are JSON numbers');

# app's connections are open now: a wrong password must not ride on them
$before = batches();
is(req('GET', '/inventory', auth => [ 'app', 'wrong' ])->{status}, 401, 'GET with a wrong password while app\'s pool is open: 401');
is(req('PUT', '/inventory', auth => [ 'app', 'app-secret2' ], body => $put1)->{status}, 401,
	'PUT with a wrong password while app\'s pool is open: 401');
is(batches(), $before, 'nothing queued');

###########################################################################
# PATCH skips missing records
###########################################################################
$r = req('PATCH', '/inventory', body => { inventory => [
	item('SKU-A2', $WH, on_hand => 9), item('SKU-MISSING', $WH, on_hand => 4) ] });
is($r->{status}, 200, 'PATCH: 200');
my $bp = $r->{json}{batch_id} // 0;
is(wait_batch($bp), 'applied', 'the PATCH batch is applied');
is(sql("SELECT string_agg(item || ':' || outcome, ' ' ORDER BY item) FROM inventory_batch_status($bp)"),
	'1:applied 2:skipped_missing', 'PATCH: the existing record applied, the missing one skipped_missing');
is(sql("SELECT create_missing FROM inventory_batches WHERE batch_id = $bp"), 'f', 'PATCH queues with create_missing false');
is(level('SKU-A2'), '9 0 9', 'PATCH changed the existing record');
is(sql("SELECT count(*) FROM inventory_levels WHERE sku = 'SKU-MISSING'"), '0', 'PATCH created no record');

###########################################################################
# Bad bodies: 400, a message per bad item, nothing queued
###########################################################################
$before = batches();
$r = req('PUT', '/inventory', body => { inventory => [
	item('OK-1', $WH, on_hand => 1),
	item('BAD-BOTH', $WH, on_hand => 1, available => 2),
	item('BAD-NONE', $WH),
	item('BAD-UUID', 'not-a-uuid', on_hand => 1),
	item('OK-2', $WH, on_hand => 2) ] });
is($r->{status}, 400, 'three bad items of five: 400');
my @errs = @{ $r->{json}{errors} // [] };
is(join(',', map { $_->{item} // '?' } @errs), '2,3,4', 'one message per bad item, by position');
like($errs[0]{message} // '', qr/both "on_hand" and "available"/, 'item 2: both fields');
like($errs[1]{message} // '', qr/none was given/, 'item 3: neither field');
like($errs[2]{message} // '', qr/"warehouse_uuid" must be a UUID/, 'item 4: bad uuid');
like($r->{json}{error} // '', qr/3 of 5 items are invalid/, 'the summary counts them');

$r = req('PATCH', '/inventory', body => { inventory => [ map { item("MANY-$_", $WH, on_hand => 1) } 1 .. 51 ] });
is($r->{status}, 400, '51 items: 400');
like($r->{json}{error} // '', qr/too many items/, '51 items: too many items');
like($r->{json}{errors}[0]{message} // '', qr/51 items; at most 50/, '51 items: says the limit');

for my $case ([ '{"inventory": [', qr/not valid JSON/, 'not JSON' ],
	[ 'inventory=1', qr/not valid JSON/, 'a form body' ],
	[ '{"inventory": 5}', qr/"inventory" must be a JSON array/, '"inventory" a number' ],
	[ '{"items": []}', qr/unknown field "items"/, 'another top-level field' ],
	[ '"SKU-A1"', qr/must be a JSON object or array/, 'a JSON string' ],
	[ '{"inventory": []}', qr/at least 1 item/, 'no items' ],
	[ '[1, {"sku": "X"}]', qr/2 of 2 items are invalid/, 'items that are not objects' ],
	[ '', qr/body is empty/, 'an empty body' ])
{
	my ($body, $re, $name) = @$case;
	$r = req('PUT', '/inventory', body => $body);
	is($r->{status}, 400, "$name: 400");
	like($r->{json}{error} // '', $re, "$name: says why");
	ok(@{ $r->{json}{errors} // [] } >= 1, "$name: errors listed");
}
is(batches(), $before, 'nothing queued by the bad bodies');
is(sql("SELECT count(*) FROM inventory_levels WHERE sku IN ('OK-1', 'OK-2') OR sku LIKE 'MANY-%'"), '0',
	'no record of a rejected batch exists');

###########################################################################
# Idempotency-Key
###########################################################################
$before = sql('SELECT count(*) FROM inventory_batches');
my $kbody = { inventory => [ item('SKU-K', $WH, on_hand => 3) ] };
my $r1 = req('PUT', '/inventory', body => $kbody, key => 'retry-1');
my $r2 = req('PUT', '/inventory', body => $kbody, key => 'retry-1');
is($r1->{status} . ' ' . $r2->{status}, '200 200', 'a request and its retry: 200, 200');
ok(defined $r1->{json}{batch_id} && ($r1->{json}{batch_id} // '') eq ($r2->{json}{batch_id} // 'x'),
	'the retry gets the same batch id (' . ($r1->{json}{batch_id} // '') . ')');
is(sql('SELECT count(*) FROM inventory_batches') - $before, 1, 'one batch queued for both');
$r = req('PUT', '/inventory', body => { inventory => [ item('SKU-K', $WH, on_hand => 4) ] }, key => 'retry-1');
is($r->{status}, 422, 'the key with another body: 422');
like($r->{json}{error} // '', qr/idempotency key "retry-1" was already used/, '422 says the key was used');
is(req('PATCH', '/inventory', body => $kbody, key => 'retry-1')->{status}, 422, 'the key with PATCH (create_missing false): 422');
is(sql('SELECT count(*) FROM inventory_batches') - $before, 1, 'still one batch');
is(wait_batch($r1->{json}{batch_id} // 0), 'applied', 'it is applied');
is(level('SKU-K'), '3 0 3', 'with the first body\'s values');

###########################################################################
# GET: filters and paging, against the table
###########################################################################
$r = req('PUT', '/inventory', body => { inventory => [
	(map { item(sprintf('P-%02d', $_), $WH, on_hand => $_) } 1 .. 20),
	(map { item(sprintf('P-%02d', $_), $WH2, on_hand => 100 + $_) } 1 .. 10) ] });
is($r->{status}, 200, 'PUT of 30 records for paging: 200');
is(wait_batch($r->{json}{batch_id} // 0), 'applied', 'applied');

my $key_order = 'ORDER BY sku COLLATE "C", warehouse_uuid';
sub keys_of { return join(' ', map { "$_->{sku}|$_->{warehouse_uuid}|$_->{on_hand}" } @{ $_[0] }); }
sub db_keys { return join(' ', split /\n/, sql("SELECT sku || '|' || warehouse_uuid || '|' || on_hand FROM inventory_levels $_[0] $key_order")); }

# by page, one warehouse, 4 a page
my $n2 = sql("SELECT count(*) FROM inventory_levels WHERE warehouse_uuid = '$WH2'");
cmp_ok($n2, '>', 8, "warehouse 2 has more than two pages of 4 ($n2 rows)");
$r = req('GET', "/inventory?warehouse_uuid=$WH2&limit=4");
is($r->{headers}{'total-pages'}, ceil($n2 / 4), 'Total-Pages is the count of pages of 4');
is(scalar(@{ $r->{json} // [] }), 4, 'a first page of 4');
my $pages = $r->{headers}{'total-pages'} // 0;
my @walk;
for my $p (1 .. $pages)
{
	my $pr = req('GET', "/inventory?warehouse_uuid=$WH2&limit=4&page=$p");
	push @walk, @{ $pr->{json} // [] };
}
is(keys_of(\@walk), db_keys("WHERE warehouse_uuid = '$WH2'"), 'pages 1 to Total-Pages give the warehouse\'s rows in key order');
is(scalar(grep { $_->{warehouse_uuid} ne $WH2 } @walk), 0, 'only that warehouse');
is(req('GET', "/inventory?warehouse_uuid=$WH2&limit=4&page=" . ($pages + 1))->{content}, '[]', 'the page after the last is empty');

# by cursor, everything, 7 a page
my $n = sql('SELECT count(*) FROM inventory_levels');
@walk = ();
my ($cursor, $calls, $total_pages_seen) = (undef, 0, 0);
while (1)
{
	my $pr = req('GET', '/inventory?limit=7' . (defined $cursor ? "&cursor=$cursor" : ''));
	last if $pr->{status} != 200 || ++$calls > 100;
	$total_pages_seen++ if defined $cursor && defined $pr->{headers}{'total-pages'};
	push @walk, @{ $pr->{json} // [] };
	$cursor = $pr->{headers}{'next-cursor'};
	last unless defined $cursor;
}
is($calls, ceil($n / 7), "a cursor walk takes ceil($n / 7) calls, the last without Next-Cursor");
is(keys_of(\@walk), db_keys(''), 'the cursor walk gives every row once, in key order');
is($total_pages_seen, 0, 'no Total-Pages (no count) when paging by cursor');

# filters
$r = req('GET', '/inventory?sku=P-05');
is(keys_of($r->{json} // []), db_keys("WHERE sku = 'P-05'"), 'sku: that sku in both warehouses');
is(scalar(@{ $r->{json} // [] }), 2, 'sku: two rows');
my $t = sql(q{SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')});
$r = req('PUT', '/inventory', body => { inventory => [ item('P-03', $WH, on_hand => 99), item('P-07', $WH2, available => 5) ] });
is(wait_batch($r->{json}{batch_id} // 0), 'applied', 'two records changed after a time');
$r = req('GET', "/inventory?updated_at_min=$t");
is(keys_of($r->{json} // []), "P-03|$WH|99 P-07|$WH2|5", 'updated_at_min: the two records changed since');
is($r->{headers}{'total-pages'}, 1, 'updated_at_min: Total-Pages 1');
$r = req('GET', "/inventory?created_at_max=$t&warehouse_uuid=$WH&limit=100");
is(keys_of($r->{json} // []), db_keys("WHERE created_at <= '$t' AND warehouse_uuid = '$WH'"),
	'created_at_max with a warehouse: the rows the table has');
$r = req('GET', "/inventory?created_at_min=$t");
is($r->{content} . ' ' . ($r->{headers}{'total-pages'} // ''), '[] 0', 'created_at_min after every creation: [] and 0 pages');

# bad parameters
for my $case ([ 'limit=101', qr/limit must be between 1 and 100/ ], [ 'limit=abc', qr/"limit" must be a whole number/ ],
	[ 'page=0', qr/page must be at least 1/ ], [ 'warehouse_uuid=nope', qr/"warehouse_uuid" must be a UUID/ ],
	[ 'updated_at_min=yesterday', qr/"updated_at_min" must be an ISO 8601 time/ ],
	[ 'updated_at_max=2026-13-01T00:00:00Z', qr/out of range/ ], [ 'cursor=zzz', qr/invalid cursor/ ],
	[ 'page=2&cursor=abc', qr/cursor and page cannot both be given/ ], [ 'colour=red', qr/unknown parameter "colour"/ ],
	[ 'sku=a&sku=b', qr/given 2 times/ ])
{
	$r = req('GET', "/inventory?$case->[0]");
	is($r->{status}, 400, "GET ?$case->[0]: 400");
	like($r->{json}{error} // '', $case->[1], "GET ?$case->[0]: says why");
}

###########################################################################
# A full queue: 503 with Retry-After
###########################################################################
sql("ALTER SYSTEM SET inventory.max_queued_items = 1; SELECT pg_reload_conf();");
ok(poll_until($node, 'postgres', 'SHOW inventory.max_queued_items', '1', 30), 'queue cap set to 1 item');
$before = batches();
$r = req('PUT', '/inventory', body => { inventory => [ item('Q-1', $WH, on_hand => 1), item('Q-2', $WH, on_hand => 1) ] });
is($r->{status}, 503, 'a batch beyond inventory.max_queued_items: 503');
like($r->{headers}{'retry-after'} // '', qr/^\d+$/, '503 has Retry-After');
like($r->{json}{error} // '', qr/queue is full/, '503 says the queue is full');
is(batches(), $before, 'nothing queued');
sql("ALTER SYSTEM RESET inventory.max_queued_items; SELECT pg_reload_conf();");
ok(poll_until($node, 'postgres', 'SHOW inventory.max_queued_items', '10000000', 30), 'queue cap back');

###########################################################################
# Routes and methods
###########################################################################
$r = req('GET', '/inventories');
is($r->{status}, 404, 'unknown route: 404');
ok(defined $r->{json}{error}, '404 has a JSON error');
for my $m ('DELETE', 'POST')
{
	$r = req($m, '/inventory', body => $put1);
	is($r->{status}, 405, "$m /inventory: 405");
	like($r->{headers}{allow} // '', qr/\bPUT\b.*\bPATCH\b/, "$m: Allow lists the methods");
}
unlike(slurp_file($server_log), qr/^\s+at /m, 'no stack trace in the server log (no unexpected error)');

###########################################################################
# Shutdown
###########################################################################
cmp_ok(sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'inventory-http'"), '>', 0,
	'the server holds connections');
$server->signal('TERM');
$timer->start(30);
my $finished = eval { $server->finish; 1 };
ok($finished, 'the server exits after SIGTERM') or diag($@);
is($server->result(0), 0, 'with status 0');
like(slurp_file($server_log), qr/inventory http: shut down/, 'it says it shut down');
ok(poll_until($node, 'postgres', "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'inventory-http'", '0', 30),
	'its connections are closed');
$server_pid = undef;

is(sql('SELECT count(*) FROM inventory_verify()'), '0', 'inventory_verify() is clean');
note("server log:\n" . slurp_file($server_log));

done_testing();
