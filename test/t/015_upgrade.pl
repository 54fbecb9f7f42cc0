# Updating gives the same objects as a fresh install of the current
# version (1.6), whichever version it starts from (1.0 in public, 1.0 in
# the schema inventory, 1.1, 1.2, 1.3, 1.4, 1.5), keeps every row and every queued batch, and
# moves a 1.0 installation out of a schema the database owner controls
# (public) into the schema "inventory"; an "inventory" schema that someone
# else made, or where someone else made objects, is refused at install
# and at update; so is a schema "inventory_internal" (where 1.2 puts its
# trigger functions and helpers) that someone else made first.  Updating
# 1.0 to 1.1 still gives exactly a fresh 1.1, which the update from 1.1
# starts from.
#
# Version 1.0 was installed in public by default.  The control file now
# pins the schema, so a 1.0 installation in public is made as the old
# default would have: installed at 1.0, then moved to public with
# ALTER EXTENSION ... SET SCHEMA (allowed by flipping extrelocatable for
# the move).  Its function bodies still name the old schema; the update
# redefines every one of them, which is what makes the result equal.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use InventoryTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $W1 = '11111111-1111-4111-8111-111111111111';
my $W2 = '22222222-2222-4222-8222-222222222222';
my $node = inventory_node('upgrade', database => 'upd', create_database => 1);

$node->safe_psql('postgres', q{
CREATE ROLE mallory LOGIN;
CREATE DATABASE fresh;
CREATE DATABASE upd2;
CREATE DATABASE upd11;
CREATE DATABASE planted11;
CREATE DATABASE squat OWNER mallory;
CREATE DATABASE squat_upd OWNER mallory;
CREATE DATABASE squat_internal OWNER mallory;
CREATE DATABASE squat_internal11 OWNER mallory;
});

# The objects of the extension in a database, as text (see the script).
my $objects_sql = slurp_file("$FindBin::RealBin/../extension_objects.sql");
sub objects { return $node->safe_psql($_[0], $objects_sql); }

# Install 1.0 as the old default did: in public.
sub install_10_in_public
{
	my ($db, $data_sql) = @_;
	$node->safe_psql($db, qq{
		CREATE EXTENSION inventory VERSION '1.0';
		$data_sql
		UPDATE pg_extension SET extrelocatable = true WHERE extname = 'inventory';
		ALTER EXTENSION inventory SET SCHEMA public;
		UPDATE pg_extension SET extrelocatable = false WHERE extname = 'inventory';
		DROP SCHEMA inventory;
	});
}

# --- the reference: a fresh install of the current version
$node->safe_psql('fresh', 'CREATE EXTENSION inventory');
my $fresh = objects('fresh');
like($fresh, qr/^extension inventory 1\.6 schema=inventory relocatable=f$/m,
	'a fresh install is version 1.6 in the schema inventory');
unlike($fresh, qr/public\./, 'nothing of a fresh install names the schema public');
cmp_ok(scalar(split /\n/, $fresh), '>', 100, 'the object listing is substantial');

# --- 1.0 in public, with data and a queued batch, then updated
$node->safe_psql('postgres', "ALTER SYSTEM SET inventory.enabled = off; SELECT pg_reload_conf()");
poll_until($node, 'upd', "SELECT 1 WHERE current_setting('inventory.enabled') = 'off'", '1', 30);
install_10_in_public('upd', qq{
	INSERT INTO inventory.inventory_warehouses (uuid, name) VALUES ('$W1', 'Main');
	SELECT inventory.inventory_adjust('[{"sku": "A", "warehouse_uuid": "$W1", "on_hand": 10},
	                                   {"sku": "B", "warehouse_uuid": "$W1", "on_hand": 5}]');
	SELECT inventory.inventory_process_queue();
	SELECT inventory.inventory_reserve('order-1', 'A', '$W1', 3);
	SELECT inventory.inventory_adjust('[{"sku": "A", "warehouse_uuid": "$W1", "available": 20}]');
});
is($node->safe_psql('upd', "SELECT extnamespace::regnamespace FROM pg_extension WHERE extname = 'inventory'"),
	'public', '1.0 lives in public before the update');
my $before = $node->safe_psql('upd', q{
	SELECT (SELECT count(*) FROM public.inventory_levels) || ' levels, '
	    || (SELECT count(*) FROM public.inventory_ledger) || ' ledger rows, '
	    || (SELECT count(*) FROM public.inventory_reservations) || ' reservations, '
	    || (SELECT count(*) FROM public.inventory_queue) || ' queued'});
is($before, '2 levels, 3 ledger rows, 1 reservations, 1 queued', 'data of the 1.0 installation');

# The new library refuses to work in a schema the database owner controls.
my $off = -s $node->logfile;
$node->safe_psql('postgres', "ALTER SYSTEM RESET inventory.enabled; SELECT pg_reload_conf()");
ok(wait_for_log_line($node, qr/inventory worker does not apply the queue of database "upd": the extension cannot be trusted/,
		$off, 30), 'the worker refuses a 1.0 installation in public, and says why');
ok(wait_for_log_line($node, qr/DETAIL:  Schema public is owned by pg_database_owner/, $off, 30),
	'its DETAIL names the owner of the schema');
my ($rc, $out, $err) = $node->psql('upd', qq{SELECT public.inventory_adjust('[{"sku": "C", "warehouse_uuid": "$W1", "on_hand": 1}]')});
like($err, qr/ERROR:  the inventory extension refuses to run in schema "public".*HINT:  .*ALTER EXTENSION inventory UPDATE/s,
	'inventory_adjust refuses too, with a HINT to update');
is($node->safe_psql('upd', 'SELECT count(*) FROM public.inventory_queue'), '1', 'the batch is still queued');

# The update and a look at the rows in one transaction: the worker, which
# may apply the queue as soon as it commits, cannot have run yet.
$off = -s $node->logfile;
($rc, $out, $err) = $node->psql('upd', q{
	BEGIN;
	ALTER EXTENSION inventory UPDATE;
	SELECT (SELECT count(*) FROM inventory.inventory_levels) || ' levels, '
	    || (SELECT count(*) FROM inventory.inventory_ledger) || ' ledger rows, '
	    || (SELECT count(*) FROM inventory.inventory_reservations) || ' reservations, '
	    || (SELECT count(*) FROM inventory.inventory_queue) || ' queued';
	COMMIT;});
is($rc, 0, 'ALTER EXTENSION inventory UPDATE succeeds');
is($node->safe_psql('upd', "SELECT extversion FROM pg_extension WHERE extname = 'inventory'"), '1.6',
	'it updates 1.0 to 1.6 (through 1.1, 1.2, 1.3, 1.4 and 1.5)');
is($out, $before, 'every row is kept, the queued batch too');
like($err, qr/WARNING:  the inventory extension moved from schema "public" to schema "inventory".*HINT:  .*search_path/s,
	'the update says that the objects moved and what sessions need');
is(objects('upd'), $fresh, 'updating 1.0 from public gives exactly the objects of a fresh install');
is($node->safe_psql('upd', "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace"),
	'0', 'nothing of the extension is left in public');
ok(poll_until($node, 'upd', "SELECT on_hand || '/' || reserved || '/' || available FROM inventory.inventory_levels WHERE sku = 'A'",
		'23/3/20', 30), 'the batch queued under 1.0 is applied by the worker after the update');
ok(wait_for_log_line($node, qr/inventory worker trusts the extension in database "upd" again/, $off, 30),
	'the worker says it applies the queue again');
is($node->safe_psql('upd', 'SELECT count(*) FROM inventory.inventory_verify()'), '0',
	'inventory_verify() finds nothing after the update');
is($node->safe_psql('upd', q{SELECT (inventory.inventory_reserve('order-2', 'B', '11111111-1111-4111-8111-111111111111', 2)).available}),
	'3', 'the order functions work after the update');

# --- 1.0 already in the schema inventory: updated in place
$node->safe_psql('upd2', "CREATE EXTENSION inventory VERSION '1.0'");
($rc, $out, $err) = $node->psql('upd2', 'ALTER EXTENSION inventory UPDATE');
is($rc, 0, 'updating 1.0 installed in the schema inventory succeeds');
unlike($err, qr/moved/, 'nothing moves then');
is(objects('upd2'), $fresh, 'and gives exactly the objects of a fresh install');

# --- each version updated from the one before is exactly a fresh install
# of it, where the update to the next starts from: $from updated to $to
# (in database upd<from>to<to>) against a fresh $to (in fresh<to>), which
# differs from the current version (the comparison can tell)
sub updated_is_fresh
{
	my ($from, $to) = @_;
	my ($f, $t) = map { s/\.//r } $from, $to;
	$node->safe_psql('postgres', "CREATE DATABASE fresh$t; CREATE DATABASE upd${f}to$t");
	$node->safe_psql("fresh$t", "CREATE EXTENSION inventory VERSION '$to'");
	$node->safe_psql("upd${f}to$t", "CREATE EXTENSION inventory VERSION '$from'; ALTER EXTENSION inventory UPDATE TO '$to'");
	my $fresh_to = objects("fresh$t");
	like($fresh_to, qr/^extension inventory \Q$to\E schema=inventory relocatable=f$/m, "a fresh $to install");
	is(objects("upd${f}to$t"), $fresh_to, "updating $from to $to gives exactly the objects of a fresh $to install");
	isnt($fresh_to, $fresh, "$to and 1.6 differ (the comparison can tell)");
	return;
}
updated_is_fresh('1.0', '1.1');
updated_is_fresh('1.1', '1.2');
updated_is_fresh('1.2', '1.3');
updated_is_fresh('1.3', '1.4');
updated_is_fresh('1.4', '1.5');
$node->safe_psql('postgres', 'CREATE DATABASE upd12; CREATE DATABASE upd13; CREATE DATABASE upd14; CREATE DATABASE upd15');

# --- 1.1, with data and a queued batch, updated to 1.2 (the workers are
# paused: the batch stays queued until inventory_process_queue); the
# library of 1.2 still answers 1.1's inventory_worker_status()
$node->safe_psql('postgres', "ALTER SYSTEM SET inventory.enabled = off; SELECT pg_reload_conf()");
ok(poll_until($node, 'upd', 'SELECT enabled FROM inventory.inventory_worker_status()', 'f', 30), 'workers paused');
# Install $version in $db with two level rows, a reservation, the ledger
# rows of both and a batch left queued (the workers are paused), queued
# under the idempotency key $key when one is given.
sub install_with_rows
{
	my ($db, $version, $key) = @_;
	my $with_key = defined $key ? ", idempotency_key => '$key'" : '';
	$node->safe_psql($db, qq{
		CREATE EXTENSION inventory VERSION '$version';
		SET search_path = public, inventory;
		INSERT INTO inventory_warehouses (uuid, name) VALUES ('$W1', 'Main');
		SELECT inventory_adjust('[{"sku": "A", "warehouse_uuid": "$W1", "on_hand": 10},
		                          {"sku": "B", "warehouse_uuid": "$W1", "on_hand": 5}]');
		SELECT inventory_process_queue();
		SELECT inventory_reserve('order-1', 'A', '$W1', 3);
		SELECT inventory_adjust('[{"sku": "A", "warehouse_uuid": "$W1", "available": 20}]'$with_key);
	});
	return;
}
install_with_rows('upd11', '1.1');
my $counts_sql = q{
	SELECT (SELECT count(*) FROM inventory.inventory_levels) || ' levels, '
	    || (SELECT count(*) FROM inventory.inventory_ledger) || ' ledger rows, '
	    || (SELECT count(*) FROM inventory.inventory_reservations) || ' reservations, '
	    || (SELECT count(*) FROM inventory.inventory_queue) || ' queued'};

# Update database $db, made at $version with the data above and a queued
# batch (the workers paused): every row and the batch are kept, the
# objects are a fresh install's, and the batch applies after the update.
sub update_keeps_rows
{
	my ($db, $version) = @_;
	my $before = $node->safe_psql($db, $counts_sql);
	is($before, '2 levels, 3 ledger rows, 1 reservations, 1 queued', "data of the $version installation");
	my ($rc, $out, $err) = $node->psql($db, "ALTER EXTENSION inventory UPDATE; $counts_sql");
	is($rc, 0, "updating $version succeeds");
	is($out, $before, 'every row is kept, the queued batch too');
	unlike($err, qr/WARNING/, 'with no warning');
	is(objects($db), $fresh, "updating $version gives exactly the objects of a fresh install");
	is($node->safe_psql($db, q{
		SELECT inventory.inventory_process_queue();
		SELECT on_hand || '/' || reserved || '/' || available FROM inventory.inventory_levels WHERE sku = 'A'}),
		"1\n23/3/20", "the batch queued under $version is applied after the update");
	return;
}
is($node->safe_psql('upd11', 'SELECT count(*) <= 1 FROM inventory.inventory_worker_status()'), 't',
	"1.1's inventory_worker_status(), without argument, works with the new library");
update_keeps_rows('upd11', '1.1');
# The ledger trigger of 1.2 at work on the updated database: an order
# function (UPDATE), a direct INSERT and a DELETE.
my $last_id = $node->safe_psql('upd11', 'SELECT max(id) FROM inventory.inventory_ledger');
$node->safe_psql('upd11', qq{
	SELECT inventory.inventory_reserve('order-2', 'B', '$W1', 2);
	INSERT INTO inventory.inventory_levels (sku, warehouse_uuid, on_hand) VALUES ('C', '$W1', 4), ('D', '$W1', 0);
	DELETE FROM inventory.inventory_levels WHERE sku = 'C';
});
is($node->safe_psql('upd11', qq{
	SELECT string_agg(concat_ws(' ', source, sku, on_hand_before, on_hand_after, reserved_before, reserved_after,
	                            available_before, available_after), ', ' ORDER BY id)
	  FROM inventory.inventory_ledger WHERE id > $last_id}),
	'reserve B 5 5 0 2 5 3, direct C 0 4 0 0 0 4, direct C 4 0 0 0 4 0',
	'after the update the ledger records an order, an insert (not the empty row) and a delete');
is($node->safe_psql('upd11', 'SELECT count(*) FROM inventory.inventory_verify()'), '0',
	'inventory_verify() finds nothing after the update');

# --- the update from 1.1 checks the schema again: something another role
# made there while it could is refused, as CREATE EXTENSION refuses it
$node->safe_psql('planted11', qq{
	CREATE EXTENSION inventory VERSION '1.1';
	GRANT CREATE ON SCHEMA inventory TO mallory;
});
$node->safe_psql('planted11', 'CREATE FUNCTION inventory.inventory_outer_role(x int DEFAULT 0) RETURNS name LANGUAGE sql AS $$ SELECT current_user $$',
	extra_params => [ '-U', 'mallory' ]);
$node->safe_psql('planted11', 'REVOKE CREATE ON SCHEMA inventory FROM mallory');
($rc, $out, $err) = $node->psql('planted11', 'ALTER EXTENSION inventory UPDATE');
isnt($rc, 0, 'updating 1.1 with a function another role planted in the schema fails');
like($err, qr/ERROR:  schema "inventory" cannot hold the inventory extension\nDETAIL:  Function inventory_outer_role in it is owned by role mallory, which is not a superuser\.\nHINT:  .*ALTER EXTENSION inventory UPDATE again/,
	'with the reason and a HINT');
is($node->safe_psql('planted11', "SELECT extversion FROM pg_extension WHERE extname = 'inventory'"), '1.1',
	'the installation is left at 1.1');
$node->safe_psql('planted11', 'DROP FUNCTION inventory.inventory_outer_role(int); ALTER EXTENSION inventory UPDATE');
# (the schema's ACL, explicit since the GRANT, is all that may differ)
is(objects('planted11') =~ s/^schema .*\n//mr, $fresh =~ s/^schema .*\n//mr,
	'once the planted function is gone, the update gives a fresh install\'s objects');

# --- a schema "inventory" made by the database owner is refused
$node->safe_psql('squat', 'CREATE SCHEMA inventory', extra_params => [ '-U', 'mallory' ]);
($rc, $out, $err) = $node->psql('squat', 'CREATE EXTENSION inventory');
isnt($rc, 0, 'CREATE EXTENSION in a schema "inventory" owned by the database owner fails');
like($err, qr/ERROR:  schema "inventory" cannot hold the inventory extension\nDETAIL:  It is owned by role mallory, which is not a superuser\.\nHINT:  .*Drop or rename that schema/,
	'with the reason and a HINT');
is($node->safe_psql('squat', "SELECT count(*) FROM pg_extension WHERE extname = 'inventory'"), '0',
	'nothing was installed');
$node->safe_psql('squat', 'GRANT CREATE ON SCHEMA inventory TO PUBLIC', extra_params => [ '-U', 'mallory' ]);
$node->safe_psql('squat', 'ALTER SCHEMA inventory OWNER TO CURRENT_USER');
($rc, $out, $err) = $node->psql('squat', 'CREATE EXTENSION inventory');
like($err, qr/DETAIL:  Role PUBLIC may create objects in it\./,
	'a superuser-owned schema where others may create objects is refused too');
$node->safe_psql('squat', 'CREATE FUNCTION inventory.inventory_outer_role(x int DEFAULT 0) RETURNS name LANGUAGE sql AS $$ SELECT current_user $$',
	extra_params => [ '-U', 'mallory' ]);
$node->safe_psql('squat', 'REVOKE CREATE ON SCHEMA inventory FROM PUBLIC');
($rc, $out, $err) = $node->psql('squat', 'CREATE EXTENSION inventory');
like($err, qr/DETAIL:  Function inventory_outer_role in it is owned by role mallory, which is not a superuser\./,
	'so is one holding a function that someone else planted while they could');
$node->safe_psql('squat', 'DROP FUNCTION inventory.inventory_outer_role(int); CREATE EXTENSION inventory');
is(objects('squat') =~ s/^schema .*\n//mr, $fresh =~ s/^schema .*\n//mr,
	'once it is a superuser\'s alone, the extension installs there');

# --- and so is an update into it
install_10_in_public('squat_upd', '');
$node->safe_psql('squat_upd', 'CREATE SCHEMA inventory', extra_params => [ '-U', 'mallory' ]);
($rc, $out, $err) = $node->psql('squat_upd', 'ALTER EXTENSION inventory UPDATE');
isnt($rc, 0, 'updating into a schema "inventory" owned by the database owner fails');
like($err, qr/ERROR:  schema "inventory" cannot hold the inventory extension.*HINT:  .*ALTER EXTENSION inventory UPDATE again/s,
	'with the reason and a HINT');
is($node->safe_psql('squat_upd', "SELECT extversion || ' ' || extnamespace::regnamespace FROM pg_extension WHERE extname = 'inventory'"),
	'1.0 public', 'the installation is left as it was');

# --- a schema "inventory_internal" made first by the database owner, with
# a function the extension's code would call, is refused at install ...
$node->safe_psql('squat_internal', q{CREATE SCHEMA inventory_internal;
CREATE FUNCTION inventory_internal.inventory_outer_role() RETURNS name LANGUAGE sql AS $$ SELECT current_user $$;},
	extra_params => [ '-U', 'mallory' ]);
($rc, $out, $err) = $node->psql('squat_internal', 'CREATE EXTENSION inventory');
isnt($rc, 0, 'CREATE EXTENSION with a schema "inventory_internal" made by the database owner fails');
like($err, qr/ERROR:  schema "inventory_internal" already exists\nDETAIL:  .* owned by role mallory\.\nHINT:  Drop or rename that schema/,
	'with the reason and a HINT');
is($node->safe_psql('squat_internal', q{
	SELECT (SELECT count(*) FROM pg_extension WHERE extname = 'inventory') || ' '
	    || (SELECT count(*) FROM pg_namespace WHERE nspname = 'inventory')}),
	'0 0', 'nothing was installed, not even the schema inventory');
$node->safe_psql('squat_internal', 'DROP SCHEMA inventory_internal CASCADE; CREATE EXTENSION inventory');
is(objects('squat_internal'), $fresh, 'once that schema is gone, the extension installs');

# --- ... and at the update from 1.1
$node->safe_psql('squat_internal11', "CREATE EXTENSION inventory VERSION '1.1'");
$node->safe_psql('squat_internal11', 'CREATE SCHEMA inventory_internal', extra_params => [ '-U', 'mallory' ]);
($rc, $out, $err) = $node->psql('squat_internal11', 'ALTER EXTENSION inventory UPDATE');
isnt($rc, 0, 'updating 1.1 with a schema "inventory_internal" made by the database owner fails');
like($err, qr/ERROR:  schema "inventory_internal" already exists\nDETAIL:  .* owned by role mallory\.\nHINT:  .*ALTER EXTENSION inventory UPDATE again/,
	'with the reason and a HINT');
is($node->safe_psql('squat_internal11', "SELECT extversion FROM pg_extension WHERE extname = 'inventory'"), '1.1',
	'the installation is left at 1.1');
$node->safe_psql('squat_internal11', 'DROP SCHEMA inventory_internal; ALTER EXTENSION inventory UPDATE');
is(objects('squat_internal11'), $fresh, 'once that schema is gone, the update gives a fresh install\'s objects');

# --- 1.2, with data and a queued batch, updated to 1.3 (the workers are
# paused: the batch stays queued until inventory_process_queue)
$node->safe_psql('postgres', "ALTER SYSTEM SET inventory.enabled = off; SELECT pg_reload_conf()");
ok(poll_until($node, 'upd', 'SELECT bool_or(enabled) FROM inventory.inventory_worker_status(true)', 'f', 30),
	'workers paused for the 1.2 update');
install_with_rows('upd12', '1.2');
update_keeps_rows('upd12', '1.2');
is($node->safe_psql('upd12', 'SELECT count(*) FROM inventory.inventory_verify()'), '0',
	'inventory_verify() finds nothing after the update');
# Transfers on the updated database: the rows of before the update have
# incoming 0, the ledger trigger of 1.3 records transfer_id and incoming.
$node->safe_psql('upd12', qq{
	INSERT INTO inventory.inventory_warehouses (uuid, name) VALUES ('$W2', 'Overflow');
	SELECT inventory.inventory_transfer('B', '$W1', '$W2', 2, 'move');
	SELECT inventory.inventory_receive_transfer(
	    (SELECT id FROM inventory.inventory_transfer('A', '$W1', '$W2', 4, in_transit => true)), 1);});
is($node->safe_psql('upd12', qq{
	SELECT string_agg(concat_ws(' ', source, sku, left(warehouse_uuid::text, 1), on_hand_before, on_hand_after,
	                            incoming_before, incoming_after, transfer_id IS NOT NULL), ', ' ORDER BY id)
	  FROM inventory.inventory_ledger WHERE source LIKE 'transfer%'}),
	'transfer B 1 5 3 t, transfer B 2 0 2 t, transfer A 1 23 19 t, transfer A 2 0 0 0 4 t, transfer_receive A 2 0 1 4 3 t',
	'after the update transfers move stock and write their ledger rows');
is($node->safe_psql('upd12', qq{
	SELECT string_agg(concat_ws('/', sku, left(warehouse_uuid::text, 1), on_hand, reserved, available, incoming), ' ' ORDER BY sku, warehouse_uuid)
	  FROM inventory.inventory_levels}),
	'A/1/19/3/16/0 A/2/1/0/1/3 B/1/3/0/3/0 B/2/2/0/2/0', 'the level rows after the transfers');
is($node->safe_psql('upd12', 'SELECT count(*) FROM inventory.inventory_verify()'), '0',
	'inventory_verify() finds nothing after the transfers');

# --- 1.3, with data and a queued batch, updated to 1.6 (the workers are
# still paused); then channels and alerts work on the updated database:
# the first pass of the feeds reads the ledger written before the update.
install_with_rows('upd13', '1.3');
update_keeps_rows('upd13', '1.3');
is($node->safe_psql('upd13', 'SELECT count(*) FROM inventory.inventory_verify()'), '0',
	'inventory_verify() finds nothing after the update to 1.6');
$node->safe_psql('upd13', qq{
	INSERT INTO inventory.inventory_channels (uuid, name, percent, max) VALUES ('$W2', 'Shop', 50, 8);
	INSERT INTO inventory.inventory_channel_warehouses VALUES ('$W2', '$W1');
	INSERT INTO inventory.inventory_stock_alerts (sku, threshold) VALUES ('B', 5);});
ok(poll_until($node, 'upd13', qq{
	SELECT string_agg(sku || '=' || quantity || ':' || reason, ' ' ORDER BY change_id)
	  FROM inventory.inventory_channel_changes('$W2')}, 'A=8:rule B=2:rule', 30),
	'after the update a channel lists every sku (half of 20 capped at 8, half of 5)');
ok(poll_until($node, 'upd13', q{
	SELECT string_agg(sku || ' ' || state, ',') FROM inventory.inventory_alerts()}, 'B low_stock', 30),
	'and a threshold reports its state');

# --- 1.4, with data and a queued batch, updated to 1.6 (the workers are
# still paused); then retention prunes the ledger written before the
# update, and the kept rows still prove every level row.
install_with_rows('upd14', '1.4');
update_keeps_rows('upd14', '1.4');
is($node->safe_psql('upd14', q{
	SELECT ledger_rows || ' ledger rows, ' || batches || ' batches'
	  FROM inventory.inventory_prune('1 microsecond')}),
	'4 ledger rows, 2 batches', 'after the update to 1.6 inventory_prune() prunes what 1.4 wrote');
is($node->safe_psql('upd14', 'SELECT count(*) FROM inventory.inventory_verify()'), '0',
	'and inventory_verify() still finds nothing');

# --- 1.5, with data, a queued batch and an idempotency key, updated to
# 1.6 (the workers are still paused): every warehouse and key is the
# default merchant's, the key still returns its batch, and the node can
# export that merchant, forget it and import it again with nothing lost.
install_with_rows('upd15', '1.5', 'k15');
my $key_batch = $node->safe_psql('upd15', "SELECT batch_id FROM inventory.inventory_idempotency_keys WHERE key = 'k15'");
update_keeps_rows('upd15', '1.5');
is($node->safe_psql('upd15', q{
	SELECT string_agg(DISTINCT w.merchant, ',') || ' ' || string_agg(DISTINCT k.merchant, ',')
	  FROM inventory.inventory_warehouses w, inventory.inventory_idempotency_keys k}),
	'default default', 'after the update to 1.6 its warehouses and keys are the default merchant\'s');
is($node->safe_psql('upd15', qq{
	SELECT inventory.inventory_adjust('[{"sku": "A", "warehouse_uuid": "$W1", "available": 20}]', idempotency_key => 'k15')}),
	$key_batch, 'a key of 1.5 still returns its batch');
my $levels_sql = q{SELECT string_agg(concat_ws('/', sku, on_hand, reserved, available), ' ' ORDER BY sku)
	  FROM inventory.inventory_levels};
my $levels15 = $node->safe_psql('upd15', $levels_sql);
$node->safe_psql('upd15', q{
	CREATE TABLE moved AS SELECT inventory.inventory_export_merchant('default') AS data;
	SELECT inventory.inventory_forget_merchant('default');});
is($node->safe_psql('upd15', $levels_sql), '', 'the default merchant forgotten, no level row is left');
$node->safe_psql('upd15', q{SELECT inventory.inventory_import_merchant('default', data) FROM moved});
is($node->safe_psql('upd15', $levels_sql), $levels15, 'imported again, the level rows are back');
is($node->safe_psql('upd15', 'SELECT count(*) FROM inventory.inventory_verify()'), '0',
	'and inventory_verify() finds nothing');

# The apply appends its ledger rows directly (no "not as installed" DEBUG
# message) into the ledger of 1.2, with the new library, and into the one
# the update to 1.3 extends; a ledger the owner changed falls back to an
# INSERT, which the message shows (the check can tell).
$node->safe_psql('postgres', 'CREATE DATABASE fast12');
$node->safe_psql('fast12', qq{
	CREATE EXTENSION inventory VERSION '1.2';
	INSERT INTO inventory.inventory_warehouses (uuid, name) VALUES ('$W1', 'Main');
	CREATE ROLE feed_reader;
	GRANT EXECUTE ON FUNCTION inventory.inventory_changes(bigint, integer) TO feed_reader WITH GRANT OPTION;});
sub apply_debug
{
	my ($db, $on_hand) = @_;
	$node->safe_psql($db, qq{SELECT inventory.inventory_adjust('[{"sku": "F", "warehouse_uuid": "$W1", "on_hand": $on_hand}]')});
	my ($rc, $out, $err) = $node->psql($db, 'SET client_min_messages = debug1; SELECT inventory.inventory_process_queue()');
	is($rc, 0, "the apply works ($db, on_hand $on_hand)");
	return $err;
}
unlike(apply_debug('fast12', 1), qr/not as installed/, 'the apply appends to the ledger of 1.2 directly');
$node->safe_psql('fast12', 'ALTER EXTENSION inventory UPDATE');
unlike(apply_debug('fast12', 2), qr/not as installed/, 'and to the ledger of 1.3, as updated, directly');
# inventory_changes gained a column, so the update made it again: the
# privileges granted on it are kept
is($node->safe_psql('fast12', q{
	SELECT array_agg(a.privilege_type || ' ' || a.grantee::regrole || ' ' || a.is_grantable ORDER BY 1)
	  FROM pg_proc p, aclexplode(p.proacl) a
	 WHERE p.oid = 'inventory.inventory_changes(bigint, integer)'::regprocedure
	   AND a.grantee <> p.proowner}),
	'{"EXECUTE feed_reader true"}', 'the update keeps the grants on inventory_changes, and grants nothing more');
like($node->safe_psql('fast12', q{SELECT pg_get_function_result('inventory.inventory_changes(bigint, integer)'::regprocedure)}),
	qr/, source text, incoming bigint\)$/, 'and it returns incoming');
$node->safe_psql('fast12', 'ALTER TABLE inventory.inventory_ledger ADD CONSTRAINT owner_check CHECK (on_hand_after >= 0)');
like(apply_debug('fast12', 3), qr/DEBUG:  inventory ledger is not as installed/, 'a changed ledger takes the INSERT, and says so');
is($node->safe_psql('fast12', q{
	SELECT string_agg(concat_ws(' ', on_hand_before, on_hand_after, transfer_id, incoming_before, incoming_after), ', ' ORDER BY id)
	  FROM inventory.inventory_ledger}),
	'0 1, 1 2, 2 3', 'both ways write the same rows, transfer_id and incoming NULL');

# --- one library serves 1.2 and 1.3: in a database still at 1.2, whose
# batch history cannot record items that do not apply, inventory_adjust
# refuses the fields of 1.3 (on_hand_delta, expect_*), and a queued item
# with one (put there by hand) fails its batch rather than being applied
# without it; the batches around it apply.  After the update both work.
$node->safe_psql('postgres', 'CREATE DATABASE ops12');
$node->safe_psql('ops12', qq{
	CREATE EXTENSION inventory VERSION '1.2';
	INSERT INTO inventory.inventory_warehouses (uuid, name) VALUES ('$W1', 'Main');
});
($rc, $out, $err) = $node->psql('ops12',
	qq{SELECT inventory.inventory_adjust('[{"sku": "D", "warehouse_uuid": "$W1", "on_hand_delta": 5}]')},
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
isnt($rc, 0, 'at 1.2, inventory_adjust refuses on_hand_delta');
like($err, qr/ERROR:  0A000: "on_hand_delta" needs version 1\.3 of the inventory extension\nDETAIL:  Item 1 uses it; .* Nothing was queued\.\nHINT:  Run ALTER EXTENSION inventory UPDATE/,
	'with SQLSTATE 0A000, a DETAIL and a HINT');
($rc, $out, $err) = $node->psql('ops12',
	qq{SELECT inventory.inventory_adjust('[{"sku": "D", "warehouse_uuid": "$W1", "on_hand": 1},
	                                       {"sku": "D", "warehouse_uuid": "$W1", "on_hand": 2, "expect_on_hand": 1}]')});
like($err, qr/ERROR:  "expect_on_hand" needs version 1\.3 .*\nDETAIL:  Item 2 uses it;/s, 'and expect_on_hand');
is($node->safe_psql('ops12', 'SELECT count(*) FROM inventory.inventory_queue'), '0', 'nothing was queued');
$node->safe_psql('ops12', qq{
	SELECT inventory.inventory_adjust('[{"sku": "D", "warehouse_uuid": "$W1", "on_hand": 1}]');
	INSERT INTO inventory.inventory_queue (batch_id, items, item_count, queued_by)
	SELECT pg_catalog.nextval('inventory.inventory_batch_id_seq'),
	       '[{"sku": "D", "warehouse_uuid": "$W1", "on_hand": 9, "expect_on_hand": 5}]', 1, current_user;
	SELECT inventory.inventory_adjust('[{"sku": "D", "warehouse_uuid": "$W1", "on_hand": 3}]');
});
($rc, $out, $err) = $node->psql('ops12', q{
	SELECT inventory.inventory_process_queue();
	SELECT state || ': ' || COALESCE(error, '') FROM inventory.inventory_batches ORDER BY batch_id;
	SELECT on_hand FROM inventory.inventory_levels WHERE sku = 'D'});
is($out, "3\napplied: \nfailed: item 1 of batch 2 uses \"expect_on_hand\", which needs version 1.3 of the inventory extension (SQLSTATE 0A000)\napplied: \n3",
	'a queued item with expect_on_hand fails its batch at 1.2; the others apply');
$node->safe_psql('ops12', 'ALTER EXTENSION inventory UPDATE');
is($node->safe_psql('ops12', qq{
	SELECT inventory.inventory_adjust('[{"sku": "D", "warehouse_uuid": "$W1", "on_hand_delta": 5, "expect_on_hand": 3},
	                                    {"sku": "D", "warehouse_uuid": "$W1", "on_hand_delta": 5, "expect_on_hand": 3}]') > 0;
	SELECT inventory.inventory_process_queue();
	SELECT on_hand FROM inventory.inventory_levels WHERE sku = 'D';
	SELECT outcome FROM inventory.inventory_batch_status((SELECT max(batch_id) FROM inventory.inventory_batches)) ORDER BY item}),
	"t\n1\n8\napplied\nconflict", 'after the update, deltas and expects are accepted and applied');
$node->safe_psql('postgres', "ALTER SYSTEM RESET inventory.enabled; SELECT pg_reload_conf()");

# --- the update from 1.2 checks inventory_internal too: CREATE granted
# there to a role that is not a superuser is refused
$node->safe_psql('postgres', 'CREATE DATABASE granted12');
$node->safe_psql('granted12', "CREATE EXTENSION inventory VERSION '1.2'; GRANT CREATE ON SCHEMA inventory_internal TO mallory");
($rc, $out, $err) = $node->psql('granted12', 'ALTER EXTENSION inventory UPDATE');
isnt($rc, 0, 'updating 1.2 when mallory may create objects in inventory_internal fails');
like($err, qr/ERROR:  schema "inventory_internal" cannot hold the inventory extension\nDETAIL:  Role mallory may create objects in it\.\nHINT:  .*ALTER EXTENSION inventory UPDATE again/,
	'with the reason and a HINT');
is($node->safe_psql('granted12', "SELECT extversion FROM pg_extension WHERE extname = 'inventory'"), '1.2',
	'the installation is left at 1.2');
$node->safe_psql('granted12', 'REVOKE CREATE ON SCHEMA inventory_internal FROM mallory; ALTER EXTENSION inventory UPDATE');
is(objects('granted12'), $fresh, 'once revoked, the update gives a fresh install\'s objects');

$node->stop;
done_testing();
