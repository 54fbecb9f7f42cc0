/*-------------------------------------------------------------------------
 *
 * worker_status.c
 *	  What the workers report about themselves, in their databases'
 *	  entries (databases.h), and inventory_worker_status(), which shows it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "commands/dbcommands.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "inventory.h"
#include "databases.h"

PG_FUNCTION_INFO_V1(inventory_worker_status);

#define STATUS_COLUMNS	12
#define STATUS_COLUMNS_1_1	9

/*
 * Record what the worker is doing now: state, and whether it found the
 * extension.
 */
void
InventoryReportState(InventoryWorkerState state, bool extension_found)
{
	InventoryDatabase *db = InventoryDatabaseLock(MyDatabaseId, false);

	if (db == NULL)
		return;
	if (db->worker_pid == MyProcPid)
	{
		db->state = state;
		db->visited = true;
		db->extension_found = extension_found;
		/* a round in progress or a pause: the last holder is stale */
		if (state == INVENTORY_WORKER_APPLYING || state == INVENTORY_WORKER_PAUSED)
			db->waiting_for_pid = 0;
	}
	InventoryDatabaseUnlock(db);
}

/*
 * Record what the worker did in its last round.
 */
void
InventoryReportRound(int blocking_pid, const InventoryApplyResult *result)
{
	InventoryDatabase *db = InventoryDatabaseLock(MyDatabaseId, false);

	if (db == NULL)
		return;
	db->waiting_for_pid = blocking_pid;
	db->last_round_at = GetCurrentTimestamp();
	db->batches_applied += result->batches_applied;
	db->batches_failed += result->batches_failed;
	db->items_applied += result->items_applied;
	InventoryDatabaseUnlock(db);
}

/*
 * The state shown for an entry (a copy, read under its mutex) and what it
 * waits for (NULL: nothing).
 */
static const char *
StateName(const InventoryDatabase *db, TimestampTz now, const char **waiting_for)
{
	*waiting_for = NULL;
	if (db->waiting_for_pid != 0)
		*waiting_for = psprintf("backend %d, whose open transaction queued an earlier batch",
								db->waiting_for_pid);
	switch (db->state)
	{
		case INVENTORY_WORKER_STARTING:
			return "starting";
		case INVENTORY_WORKER_APPLYING:
			return "applying";
		case INVENTORY_WORKER_IDLE:
			return "idle";
		case INVENTORY_WORKER_PAUSED:
			return "paused";
		case INVENTORY_WORKER_NONE:
			break;
	}
	if (db->changes_waiting || db->visit_waiting ||
		(db->batches_waiting && InventoryLauncherSeesEnabled()))
	{
		if (db->hold_off_until > now)
			*waiting_for = "a command on the whole database (DROP, RENAME, or CREATE DATABASE from it as a template)";
		else if (!db->exited_cleanly && db->exited_at != 0 &&
				 !TimestampDifferenceExceeds(db->exited_at, now, INVENTORY_RESTART_DELAY_MS))
			*waiting_for = "the restart delay after its last worker failed";
		else
			*waiting_for = "a free worker (inventory.max_workers)";
		return "waiting";
	}
	if (db->batches_waiting)
		return "paused";
	return "stopped";
}

/*
 * Add the row of one database (db: a copy of its entry, or NULL when it
 * has none).
 */
static void
PutRow(ReturnSetInfo *rsinfo, Oid dboid, const InventoryDatabase *db, TimestampTz now)
{
	Datum		values[STATUS_COLUMNS];
	bool		nulls[STATUS_COLUMNS] = {false};
	const char *waiting_for = NULL;
	char	   *name = get_database_name(dboid);
	InventoryDatabase none;

	if (name == NULL)
		return;					/* dropped meanwhile */
	if (db == NULL)
	{
		memset(&none, 0, sizeof(none));
		db = &none;
	}
	values[1] = CStringGetTextDatum(StateName(db, now, &waiting_for));
	values[2] = waiting_for ? CStringGetTextDatum(waiting_for) : (Datum) 0;
	nulls[2] = waiting_for == NULL;
	values[3] = Int32GetDatum(db->worker_pid);
	nulls[3] = db->worker_pid == 0;
	/* enabled once the launcher and the worker (if any) took the setting */
	values[4] = BoolGetDatum(InventoryLauncherSeesEnabled() &&
							 !(db->worker_pid != 0 && db->state == INVENTORY_WORKER_PAUSED));
	/* here the extension is there: it is running this function */
	values[5] = BoolGetDatum(dboid == MyDatabaseId || db->extension_found);
	nulls[5] = dboid != MyDatabaseId && !db->visited;
	values[6] = TimestampTzGetDatum(db->started_at);
	nulls[6] = db->started_at == 0;
	values[7] = TimestampTzGetDatum(db->last_round_at);
	nulls[7] = db->last_round_at == 0;
	values[8] = Int64GetDatum(db->batches_applied);
	values[9] = Int64GetDatum(db->items_applied);
	values[10] = Int64GetDatum(db->batches_failed);
	values[11] = Int32GetDatum(db->waiting_for_pid);
	nulls[11] = db->waiting_for_pid == 0;
	/* the name column is of type name */
	values[0] = DirectFunctionCall1(namein, CStringGetDatum(name));
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * The row of versions 1.0 and 1.1, which took no argument: this database's
 * worker, when one runs.
 */
static void
PutRow11(ReturnSetInfo *rsinfo)
{
	InventoryDatabase *entry = InventoryDatabaseLock(MyDatabaseId, false);
	InventoryDatabase db;
	Datum		values[STATUS_COLUMNS_1_1];
	bool		nulls[STATUS_COLUMNS_1_1] = {false};

	if (entry == NULL)
		return;
	db = *entry;
	InventoryDatabaseUnlock(entry);
	if (db.worker_pid == 0)
		return;
	values[0] = Int32GetDatum(db.worker_pid);
	values[1] = BoolGetDatum(InventoryLauncherSeesEnabled() &&
							 db.state != INVENTORY_WORKER_PAUSED);
	values[2] = BoolGetDatum(true);
	values[3] = TimestampTzGetDatum(db.started_at);
	values[4] = TimestampTzGetDatum(db.last_round_at);
	nulls[4] = db.last_round_at == 0;
	values[5] = Int64GetDatum(db.batches_applied);
	values[6] = Int64GetDatum(db.items_applied);
	values[7] = Int64GetDatum(db.batches_failed);
	values[8] = Int32GetDatum(db.waiting_for_pid);
	nulls[8] = db.waiting_for_pid == 0;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * inventory_worker_status(all_databases): the worker of this database, or
 * of every database with the extension that the launcher knows, one row
 * each: its state, what it waits for, and its counters since the server
 * started.  No row when the library is not preloaded, and on a standby,
 * where nothing is applied.
 */
Datum
inventory_worker_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		all = PG_NARGS() > 0 && !PG_ARGISNULL(0) && PG_GETARG_BOOL(0);
	TimestampTz now = GetCurrentTimestamp();
	bool		mine_shown = false;

	InitMaterializedSRF(fcinfo, 0);
	if (!InventoryShmemAvailable() || RecoveryInProgress())
		return (Datum) 0;
	if (PG_NARGS() == 0)
	{
		/* a database still at version 1.0 or 1.1 */
		PutRow11(rsinfo);
		return (Datum) 0;
	}

	for (int i = 0; i < INVENTORY_MAX_DATABASES; i++)
	{
		InventoryDatabase *entry = InventoryDatabaseAt(i);
		InventoryDatabase copy;

		SpinLockAcquire(&entry->mutex);
		copy = *entry;
		SpinLockRelease(&entry->mutex);
		if (!OidIsValid(copy.dboid) || (!all && copy.dboid != MyDatabaseId))
			continue;
		/* databases without the extension and without a worker are noise */
		if (copy.dboid != MyDatabaseId && copy.visited && !copy.extension_found &&
			copy.state == INVENTORY_WORKER_NONE)
			continue;
		PutRow(rsinfo, copy.dboid, &copy, now);
		mine_shown |= copy.dboid == MyDatabaseId;
	}
	if (!mine_shown)
		PutRow(rsinfo, MyDatabaseId, NULL, now);
	return (Datum) 0;
}
