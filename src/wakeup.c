/*-------------------------------------------------------------------------
 *
 * wakeup.c
 *	  Waking a database's worker: why it should run, and whose latch to
 *	  set, its own or, when it has none running, the launcher's.
 *
 * inventory_adjust() only marks its transaction; when the transaction ends
 * (transaction_end.c) the reason is recorded in the database's entry
 * (databases.h) and the worker's latch set, or the launcher's, which then
 * starts a worker.  Reasons are kept until the worker takes them, and a
 * worker leaves only under the entry's mutex with no reason recorded, so
 * no reason set while a worker is busy, starting or leaving is lost.
 *
 * The next expiry of a hold (expiry.c) is kept in the entry too: the
 * worker records the one it found, a commit that made an earlier one
 * records that and wakes the worker (or the launcher, which starts one
 * when it is due).  The worker takes it at every pass and, when it found
 * the next expiry again, records that unless a commit moved it meanwhile.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "utils/timestamp.h"

#include "inventory.h"
#include "databases.h"

/* This process's entry, when it is a database's worker */
static InventoryDatabase *my_entry = NULL;

/* Whether this worker is leaving on its own (idle, or yielding) */
static bool leaving_cleanly = false;

/*
 * Record why the worker of this database is woken: batches queued (or a
 * transaction that held an earlier batch back ended), changes committed.
 * A database without a worker gets one from the launcher.  With start
 * false (a transaction that rolled back), a database the launcher does
 * not know yet is left alone: it cannot have batches held back.  A reason
 * already recorded was recorded after the worker last took its reasons,
 * by a transaction that woke it then, so it is not woken again.  Cannot
 * fail (called after commit).  Changes that the feeds derive from besides
 * the ledger (feeds) are changes too.
 */
static void
WakeFor(bool batches, bool changes, bool feeds, bool start)
{
	InventoryDatabase *db;
	TimestampTz now = GetCurrentTimestamp();
	bool		new_reason = false;
	int			procno;
	bool		has_worker;

	db = InventoryDatabaseLock(MyDatabaseId, start);
	if (db == NULL)
	{
		/* every entry busy: the launcher visits every database */
		if (start && InventoryShmemAvailable())
			InventoryRequestSweep();
		return;
	}
	has_worker = db->state != INVENTORY_WORKER_NONE;
	if (!db->batches_waiting && !db->changes_waiting && !db->visit_waiting)
		db->waiting_since = now;
	if (batches && !db->batches_waiting)
		new_reason = db->batches_waiting = true;
	if ((changes || feeds) && !db->changes_waiting)
		new_reason = db->changes_waiting = true;
	if (feeds && !db->feeds_waiting)
		new_reason = db->feeds_waiting = true;
	procno = db->worker_procno;
	InventoryDatabaseUnlock(db);

	if (!new_reason)
		return;
	if (procno >= 0 && procno != MyProc->pgprocno)
		ProcSendSignal(procno);
	else if (!has_worker)
		InventoryWakeLauncher();
}

/*
 * Record that a committed transaction made or moved a hold that expires
 * at at: when it is earlier than the expiry recorded, record it and wake
 * the worker, or the launcher when the database has none.  Cannot fail
 * (called after commit).
 */
void
InventoryWakeForExpiry(TimestampTz at)
{
	InventoryDatabase *db = InventoryDatabaseLock(MyDatabaseId, true);
	bool		earlier;
	int			procno;
	bool		has_worker;

	if (db == NULL)
	{
		/* every entry busy: the launcher visits every database */
		if (InventoryShmemAvailable())
			InventoryRequestSweep();
		return;
	}
	earlier = db->expiry_at == 0 || at < db->expiry_at;
	if (earlier)
	{
		db->expiry_at = at;
		db->expiry_moved = true;
	}
	has_worker = db->state != INVENTORY_WORKER_NONE;
	procno = db->worker_procno;
	InventoryDatabaseUnlock(db);

	if (!earlier)
		return;
	if (procno >= 0 && procno != MyProc->pgprocno)
		ProcSendSignal(procno);
	else if (!has_worker)
		InventoryWakeLauncher();
}

/*
 * The worker takes the next expiry recorded (0: none), before it looks
 * for the next expiry itself.
 */
TimestampTz
InventoryTakeExpiry(void)
{
	TimestampTz at;

	if (my_entry == NULL)
		return 0;
	SpinLockAcquire(&my_entry->mutex);
	at = my_entry->expiry_at;
	my_entry->expiry_moved = false;
	SpinLockRelease(&my_entry->mutex);
	return at;
}

/*
 * The worker records the next expiry it found (0: none), read after it
 * last took the recorded one: an earlier one a commit recorded since then
 * is kept.
 */
void
InventorySetNextExpiry(TimestampTz at)
{
	if (my_entry == NULL)
		return;
	SpinLockAcquire(&my_entry->mutex);
	if (!my_entry->expiry_moved)
		my_entry->expiry_at = at;
	else if (at != 0 && at < my_entry->expiry_at)
		my_entry->expiry_at = at;
	SpinLockRelease(&my_entry->mutex);
}

/*
 * Wake the worker of this database for batches queued or released, or
 * for ledger rows committed (see WakeFor).
 */
void
InventoryWakeFor(bool batches, bool changes, bool start)
{
	WakeFor(batches, changes, false, start);
}

/*
 * Wake the worker of this database for a change of a channel, its rule or
 * warehouses, or an alert: the feeds' next pass is due even while they
 * have nothing to feed (see WakeFor).
 */
void
InventoryWakeForFeeds(void)
{
	WakeFor(false, false, true, true);
}

/*
 * Why the worker was woken since it last asked, clearing what it takes.
 * With batches NULL (the worker is paused), the batches reason stays.
 */
void
InventoryTakeWakeReasons(bool *batches, bool *changes, bool *feeds)
{
	*changes = false;
	*feeds = false;
	if (batches != NULL)
		*batches = false;
	if (my_entry == NULL)
		return;
	SpinLockAcquire(&my_entry->mutex);
	if (batches != NULL)
	{
		*batches = my_entry->batches_waiting;
		my_entry->batches_waiting = false;
	}
	*changes = my_entry->changes_waiting;
	my_entry->changes_waiting = false;
	*feeds = my_entry->feeds_waiting;
	my_entry->feeds_waiting = false;
	my_entry->visit_waiting = false;
	SpinLockRelease(&my_entry->mutex);
}

/*
 * Whether a reason to run was recorded since the worker last took its
 * reasons (a wake-up its latch may have lost to a wait in a round).
 */
bool
InventoryWakeReasonsPending(void)
{
	bool		pending;

	if (my_entry == NULL)
		return false;
	SpinLockAcquire(&my_entry->mutex);
	pending = ((my_entry->batches_waiting || my_entry->expiry_moved) && InventoryApplyEnabled()) ||
		my_entry->changes_waiting || my_entry->visit_waiting;
	SpinLockRelease(&my_entry->mutex);
	return pending;
}

/*
 * Whether the worker was asked to leave its database (database_commands.c).
 */
bool
InventoryWorkerAskedToLeave(void)
{
	bool		leave;

	if (my_entry == NULL)
		return false;
	SpinLockAcquire(&my_entry->mutex);
	leave = my_entry->leave;
	SpinLockRelease(&my_entry->mutex);
	return leave;
}

/*
 * The worker leaves its entry: free for the next worker.  A worker that
 * did not leave on its own (an error, a kill) leaves the batches reason
 * behind, so that the launcher starts another, after a delay, to look at
 * the queue again.
 */
static void
WorkerExit(int code pg_attribute_unused(), Datum arg pg_attribute_unused())
{
	InventoryDatabase *db = my_entry;

	if (db == NULL)
		return;
	SpinLockAcquire(&db->mutex);
	if (db->worker_pid == MyProcPid)
	{
		db->worker_pid = 0;
		db->worker_procno = -1;
		db->state = INVENTORY_WORKER_NONE;
		db->exited_at = GetCurrentTimestamp();
		db->exited_cleanly = leaving_cleanly;
		db->leave = false;
		db->waiting_for_pid = 0;
		if (!leaving_cleanly && !db->batches_waiting)
		{
			db->batches_waiting = true;
			db->waiting_since = db->exited_at;
		}
	}
	SpinLockRelease(&db->mutex);
	my_entry = NULL;
	InventoryWakeLauncher();
}

/*
 * Make the calling process the worker of its database, reachable by its
 * latch; its exit undoes it.  Returns false when another worker already
 * serves the database (this one should exit).
 */
bool
InventoryWorkerArrive(void)
{
	TimestampTz now = GetCurrentTimestamp();
	InventoryDatabase *db = InventoryDatabaseLock(MyDatabaseId, true);
	bool		other;

	if (db == NULL)
		return false;
	other = db->worker_pid != 0 && db->worker_pid != MyProcPid;
	if (!other)
	{
		db->worker_pid = MyProcPid;
		db->worker_procno = MyProc->pgprocno;
		db->state = INVENTORY_WORKER_IDLE;
		db->started_at = now;
		db->due_at = 0;
		/* a command that needs the database alone began meanwhile */
		db->leave = db->hold_off_until > now;
	}
	InventoryDatabaseUnlock(db);
	if (other)
		return false;
	my_entry = db;
	before_shmem_exit(WorkerExit, (Datum) 0);
	return true;
}

/*
 * Leave the database if nothing waits for the worker (queued batches do
 * not while the workers are paused), or, with work_left,
 * leave anyway with the batches reason set (to let another database have
 * the slot): the launcher starts a worker again once at least due_ms have
 * passed (0: no such visit).  Returns whether the caller should exit now.
 */
bool
InventoryWorkerLeave(bool work_left, long due_ms)
{
	InventoryDatabase *db = my_entry;
	bool		leave;
	TimestampTz now = GetCurrentTimestamp();

	if (db == NULL)
		return true;
	SpinLockAcquire(&db->mutex);
	/* batches wait for no worker while paused */
	leave = work_left || db->leave ||
		!((db->batches_waiting && InventoryApplyEnabled()) ||
		  db->changes_waiting || db->visit_waiting);
	if (leave)
	{
		if (work_left)
		{
			db->batches_waiting = true;
			db->waiting_since = now;
		}
		db->due_at = due_ms > 0 ? TimestampTzPlusMilliseconds(now, due_ms) : 0;
		/* from here, a wake goes to the launcher */
		db->worker_procno = -1;
	}
	SpinLockRelease(&db->mutex);
	if (leave)
		leaving_cleanly = true;
	return leave;
}
