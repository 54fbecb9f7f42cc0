/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  The launcher: one background worker, connected to no database, that
 *	  starts a database's worker when the database has something to do.
 *
 * A commit that queued a batch or changed stock records why in its
 * database's entry (wakeup.c) and, when no worker runs there, sets the
 * launcher's latch.  The launcher then starts a worker for each database
 * with a reason, oldest reason first, while fewer than
 * inventory.max_workers run; a worker leaves once idle for
 * inventory.idle_timeout, so that an idle database holds no connection
 * (it can be dropped or copied as a template).  At start, and whenever a
 * database found no free entry, the launcher visits every database that
 * accepts connections, since batches may be queued anywhere (a crash, a
 * restore); a database with the extension is also visited every
 * inventory.check_interval, a safety net.  A database whose worker left
 * while holds there wait to expire gets a worker when the next one is due
 * (expiry.c), or sooner when a commit makes an earlier one.
 *
 * A worker that fails is started again after INVENTORY_RESTART_DELAY_MS,
 * and only while its database has something to do, so nothing loops.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include <limits.h>

#include "inventory.h"
#include "databases.h"

/* Settings of the launcher */
static bool enabled = true;
static int	max_workers = 3;
static int	check_interval_s = 300;
static char *old_database = NULL;

/* Seconds the postmaster waits before restarting the launcher */
#define LAUNCHER_RESTART_SECONDS	5

/* Longest sleep of the launcher when nothing is due */
#define LAUNCHER_MAX_SLEEP_MS	60000

/* What this launcher started, by entry index */
typedef struct Started
{
	BackgroundWorkerHandle *handle; /* NULL: nothing started */
	Oid			dboid;
} Started;

static Started started[INVENTORY_MAX_DATABASES];

/* Databases to visit, from the last sweep, not yet given an entry */
static Oid *to_visit = NULL;
static int	nto_visit = 0;

/* When the launcher last said it could not start a worker */
static TimestampTz no_slot_logged_at = 0;

/*
 * Fill in a background worker of this library, started after recovery,
 * with a database connection (the launcher's to none).
 */
static void
DescribeWorker(BackgroundWorker *worker, const char *function, const char *type,
			   const char *name)
{
	memset(worker, 0, sizeof(BackgroundWorker));
	worker->bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker->bgw_start_time = BgWorkerStart_RecoveryFinished;
	snprintf(worker->bgw_library_name, BGW_MAXLEN, "inventory");
	snprintf(worker->bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(worker->bgw_type, BGW_MAXLEN, "%s", type);
	snprintf(worker->bgw_name, BGW_MAXLEN, "%s", name);
}

/*
 * Define the settings that apply to every database's worker, whether the
 * library is preloaded or not (so that no session warns about them), and
 * register the launcher when it is (not during pg_upgrade).
 */
void
InventoryLauncherInit(void)
{
	BackgroundWorker worker;

	DefineCustomBoolVariable("inventory.enabled",
							 "Whether the inventory workers apply queued batches.",
							 "Turn off and reload to pause every database's worker; batches stay queued.",
							 &enabled,
							 true,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("inventory.max_workers",
							"Most inventory workers running at once, one per database.",
							"Each takes a background worker slot (max_worker_processes, with the launcher's). Databases with work beyond it wait their turn: a worker with more to do leaves after a time slice while others wait.",
							&max_workers,
							3, 1, 1000,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("inventory.check_interval",
							"Longest time a database with the extension goes without a worker looking at its queue.",
							"A safety net: committed batches start a worker at once. 0 turns it off.",
							&check_interval_s,
							300, 0, 7 * 24 * 3600,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomStringVariable("inventory.database",
							   "No longer used: every database where the extension is installed is served.",
							   NULL,
							   &old_database,
							   "",
							   PGC_SIGHUP, GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
	if (!process_shared_preload_libraries_in_progress || IsBinaryUpgrade)
		return;

	DescribeWorker(&worker, "inventory_launcher_main", "inventory launcher", "inventory launcher");
	worker.bgw_restart_time = LAUNCHER_RESTART_SECONDS;
	RegisterBackgroundWorker(&worker);
}

/*
 * Whether the workers apply queued batches (inventory.enabled).
 */
bool
InventoryApplyEnabled(void)
{
	return enabled;
}

/*
 * Seconds between visits of a database with the extension and no worker
 * (inventory.check_interval; 0: none).
 */
int
InventoryCheckIntervalSeconds(void)
{
	return check_interval_s;
}

/*
 * Whether a database is left invalid by an interrupted DROP DATABASE: no
 * one can connect to it (PostgreSQL 15.4 and later mark it so).
 */
static bool
DatabaseInvalid(Form_pg_database form)
{
#if PG_VERSION_NUM >= 150004
	return database_is_invalid_form(form);
#else
	return form->datconnlimit == -2;
#endif
}

/*
 * Forget the launcher's latch when it exits.
 */
static void
LauncherExit(int code pg_attribute_unused(), Datum arg pg_attribute_unused())
{
	InventorySetLauncherLatch(-1, enabled);
}

/*
 * Plan a visit of every database that accepts connections.
 */
static void
SweepDatabases(void)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	int			alloc = 64;
	MemoryContext oldcxt;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	if (to_visit != NULL)
		pfree(to_visit);
	to_visit = palloc(sizeof(Oid) * alloc);
	nto_visit = 0;
	MemoryContextSwitchTo(oldcxt);

	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
	{
		Form_pg_database form = (Form_pg_database) GETSTRUCT(tup);

		if (!form->datallowconn || DatabaseInvalid(form))
			continue;
		if (nto_visit == alloc)
		{
			alloc *= 2;
			to_visit = repalloc(to_visit, sizeof(Oid) * alloc);
		}
		to_visit[nto_visit++] = form->oid;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/*
 * Give the databases to visit an entry with the visit reason, as far as
 * entries are free.
 */
static void
PlanVisits(TimestampTz now)
{
	int			done = 0;

	while (done < nto_visit)
	{
		InventoryDatabase *db = InventoryDatabaseLock(to_visit[done], true);

		if (db == NULL)
			break;				/* every entry busy: later */
		if (db->state == INVENTORY_WORKER_NONE && !db->visit_waiting)
		{
			if (!db->batches_waiting && !db->changes_waiting)
				db->waiting_since = now;
			db->visit_waiting = true;
		}
		InventoryDatabaseUnlock(db);
		done++;
	}
	if (done > 0)
	{
		memmove(to_visit, to_visit + done, sizeof(Oid) * (nto_visit - done));
		nto_visit -= done;
	}
}

/*
 * Note the workers this launcher started that have stopped.  One that
 * stopped before it took its entry (it could not connect, say) counts as
 * failed.
 */
static void
ReapWorkers(TimestampTz now)
{
	for (int i = 0; i < INVENTORY_MAX_DATABASES; i++)
	{
		pid_t		pid;
		InventoryDatabase *db;

		if (started[i].handle == NULL ||
			GetBackgroundWorkerPid(started[i].handle, &pid) != BGWH_STOPPED)
			continue;
		pfree(started[i].handle);
		started[i].handle = NULL;
		db = InventoryDatabaseAt(i);
		SpinLockAcquire(&db->mutex);
		if (db->dboid == started[i].dboid && db->state == INVENTORY_WORKER_STARTING &&
			db->worker_pid == 0)
		{
			/* a visit that cannot connect is not tried again; work is, later */
			db->state = INVENTORY_WORKER_NONE;
			db->exited_cleanly = false;
			db->exited_at = now;
			db->visit_waiting = false;
			db->due_at = 0;
		}
		SpinLockRelease(&db->mutex);
	}
}

/* A database that wants a worker, and since when */
typedef struct Candidate
{
	int			index;
	Oid			dboid;
	TimestampTz since;
} Candidate;

/*
 * Order candidates by how long they have waited.
 */
static int
CandidateCmp(const void *a, const void *b)
{
	TimestampTz x = ((const Candidate *) a)->since;
	TimestampTz y = ((const Candidate *) b)->since;

	return (x > y) - (x < y);
}

/*
 * Whether the database can take a worker now: it exists and accepts
 * connections (its name is then set).  A database that cannot loses its
 * entry's reasons.  In a transaction.
 */
static bool
DatabaseConnectable(int index, Oid dboid, NameData *name)
{
	HeapTuple	tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(dboid));
	bool		ok = false;
	InventoryDatabase *db = InventoryDatabaseAt(index);

	if (HeapTupleIsValid(tup))
	{
		ok = ((Form_pg_database) GETSTRUCT(tup))->datallowconn &&
			!DatabaseInvalid((Form_pg_database) GETSTRUCT(tup));
		*name = ((Form_pg_database) GETSTRUCT(tup))->datname;
		ReleaseSysCache(tup);
	}
	if (!ok)
	{
		SpinLockAcquire(&db->mutex);
		if (db->dboid == dboid && db->state == INVENTORY_WORKER_NONE)
		{
			db->batches_waiting = db->changes_waiting = db->visit_waiting = false;
			db->feeds_waiting = false;
			db->due_at = 0;
			db->expiry_at = 0;
			db->visited = true;
			db->extension_found = false;
		}
		SpinLockRelease(&db->mutex);
	}
	return ok;
}

/*
 * Start the worker of database dboid (entry index), named name.  Returns false when
 * no background worker slot is free.
 */
static bool
StartWorker(int index, Oid dboid, const char *name)
{
	BackgroundWorker worker;
	InventoryDatabase *db = InventoryDatabaseAt(index);
	bool		ok;
	MemoryContext oldcxt;

	SpinLockAcquire(&db->mutex);
	ok = db->dboid == dboid && db->state == INVENTORY_WORKER_NONE && db->worker_pid == 0 &&
		db->hold_offs == 0;
	if (ok)
		db->state = INVENTORY_WORKER_STARTING;
	SpinLockRelease(&db->mutex);
	if (!ok)
		return true;

	DescribeWorker(&worker, "inventory_worker_main", "inventory worker", "inventory worker for database ");
	strlcat(worker.bgw_name, name, BGW_MAXLEN);
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	worker.bgw_main_arg = ObjectIdGetDatum(dboid);
	worker.bgw_notify_pid = MyProcPid;
	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	ok = RegisterDynamicBackgroundWorker(&worker, &started[index].handle);
	MemoryContextSwitchTo(oldcxt);
	if (ok)
	{
		started[index].dboid = dboid;
		return true;
	}
	started[index].handle = NULL;
	SpinLockAcquire(&db->mutex);
	if (db->state == INVENTORY_WORKER_STARTING && db->worker_pid == 0)
		db->state = INVENTORY_WORKER_NONE;
	SpinLockRelease(&db->mutex);
	if (TimestampDifferenceExceeds(no_slot_logged_at, GetCurrentTimestamp(), 60 * 1000))
	{
		no_slot_logged_at = GetCurrentTimestamp();
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("inventory launcher could not start a worker: no background worker slot is free"),
				 errdetail("Databases with queued batches wait until a slot is free."),
				 errhint("Raise max_worker_processes (it counts the launcher, inventory.max_workers workers and parallel query workers) and restart the server.")));
	}
	return false;
}

/*
 * Earlier of a and b, where 0 means never.
 */
static TimestampTz
Earlier(TimestampTz a, TimestampTz b)
{
	if (a == 0)
		return b;
	if (b == 0)
		return a;
	return Min(a, b);
}

/*
 * One pass: start workers for the databases that want one, oldest reason
 * first, while slots are free.  Returns how long to sleep at most.
 */
static long
ServeDatabases(void)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz next = 0;
	Candidate  *candidates = palloc(sizeof(Candidate) * INVENTORY_MAX_DATABASES);
	int			ncandidates = 0;
	int			running = 0;
	int			nstarted = 0;
	bool		no_slot = false;

	ReapWorkers(now);
	if (InventoryTakeSweepRequest())
		SweepDatabases();
	if (nto_visit > 0)
		PlanVisits(now);

	for (int i = 0; i < INVENTORY_MAX_DATABASES; i++)
	{
		InventoryDatabase *db = InventoryDatabaseAt(i);
		InventoryDatabase e;
		bool		wants;
		TimestampTz ready;
		TimestampTz expiry_at;
		TimestampTz due;

		SpinLockAcquire(&db->mutex);
		e = *db;
		SpinLockRelease(&db->mutex);
		if (started[i].handle != NULL || e.state != INVENTORY_WORKER_NONE || e.worker_pid != 0)
		{
			running++;
			continue;
		}
		if (!OidIsValid(e.dboid))
			continue;
		/* holds expire only while the workers are enabled */
		expiry_at = enabled ? e.expiry_at : 0;
		due = Earlier(e.due_at, expiry_at);
		wants = (e.batches_waiting && enabled) || e.changes_waiting || e.visit_waiting ||
			(due != 0 && due <= now);
		if (!wants)
		{
			next = Earlier(next, due);
			continue;
		}
		/* not before a whole-database command ends, nor right after a failure */
		ready = e.hold_off_until;
		if (!e.exited_cleanly && e.exited_at != 0)
			ready = Max(ready, TimestampTzPlusMilliseconds(e.exited_at, INVENTORY_RESTART_DELAY_MS));
		if (ready > now)
		{
			next = Earlier(next, ready);
			continue;
		}
		candidates[ncandidates].index = i;
		candidates[ncandidates].dboid = e.dboid;
		candidates[ncandidates].since = due != 0 && !(e.batches_waiting || e.changes_waiting || e.visit_waiting)
			? due : e.waiting_since;
		ncandidates++;
	}

	if (ncandidates > 0 && running < max_workers)
	{
		qsort(candidates, ncandidates, sizeof(Candidate), CandidateCmp);
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		for (int c = 0; c < ncandidates && running < max_workers && !no_slot; c++)
		{
			NameData	name;

			if (!DatabaseConnectable(candidates[c].index, candidates[c].dboid, &name))
			{
				nstarted++;		/* nothing to wait for */
				continue;
			}
			if (StartWorker(candidates[c].index, candidates[c].dboid, NameStr(name)))
			{
				running++;
				nstarted++;
			}
			else
				no_slot = true;
		}
		CommitTransactionCommand();
	}
	InventorySetDatabasesWaiting(ncandidates - nstarted);
	pfree(candidates);

	/* a worker's exit sets our latch; without a slot, try again soon */
	if (no_slot)
		return 1000;
	if (next == 0)
		return LAUNCHER_MAX_SLEEP_MS;
	return Min(LAUNCHER_MAX_SLEEP_MS, Max(1, TimestampDifferenceMilliseconds(now, next)));
}

/*
 * Say in the log what the settings mean, at start and after each reload:
 * a pause or a resumption, and an old setting that is no longer used.
 */
static void
ReportSettings(bool starting)
{
	static bool was_enabled = true;

	if (enabled != was_enabled || (starting && !enabled))
		ereport(LOG,
				(errmsg(enabled ? "inventory workers resumed: queued batches are applied again"
						: "inventory workers paused (inventory.enabled is off): batches stay queued")));
	was_enabled = enabled;
	if (InventoryRoundItemsDeprecated())
		ereport(WARNING,
				(errcode(ERRCODE_WARNING_DEPRECATED_FEATURE),
				 errmsg("inventory.batch_size is deprecated and will be removed in a later release"),
				 errdetail("It is the old name of inventory.max_round_items, and overrides it while set."),
				 errhint("Set inventory.max_round_items instead, and reset inventory.batch_size.")));
	if (starting && old_database != NULL && old_database[0] != '\0')
		ereport(WARNING,
				(errcode(ERRCODE_WARNING_DEPRECATED_FEATURE),
				 errmsg("inventory.database is no longer used"),
				 errdetail("The launcher serves every database where the extension is installed, \"%s\" among them if it exists.",
						   old_database),
				 errhint("Remove inventory.database from the server's configuration.")));
}

/*
 * Entry point of the launcher.
 */
void
inventory_launcher_main(Datum main_arg pg_attribute_unused())
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/* no database: pg_database, a shared catalog, is all it reads */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("inventory launcher");
	InventorySetLauncherLatch(MyProc->pgprocno, enabled);
	before_shmem_exit(LauncherExit, (Datum) 0);
	ReportSettings(true);

	/* workers a previous launcher started but that never arrived are gone */
	for (int i = 0; i < INVENTORY_MAX_DATABASES; i++)
	{
		InventoryDatabase *db = InventoryDatabaseAt(i);

		SpinLockAcquire(&db->mutex);
		if (db->state == INVENTORY_WORKER_STARTING && db->worker_pid == 0)
			db->state = INVENTORY_WORKER_NONE;
		SpinLockRelease(&db->mutex);
	}
	ereport(LOG,
			(errmsg("inventory launcher started: it serves every database where the extension is installed")));
	InventoryRequestSweep();

	for (;;)
	{
		long		timeout;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			InventorySetLauncherLatch(MyProc->pgprocno, enabled);
			ReportSettings(false);
		}
		timeout = ServeDatabases();
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
