/*-------------------------------------------------------------------------
 *
 * databases.h
 *	  The databases the launcher serves, in shared memory (databases.c).
 *
 * One entry per database that has had something to do since the server
 * started: why its worker should run, whether one runs, and what it did.
 * Every field is read and written under the entry's mutex; entries are
 * found by database oid and reused, once idle, for another database.
 *
 *-------------------------------------------------------------------------
 */
#ifndef INVENTORY_DATABASES_H
#define INVENTORY_DATABASES_H

#include "datatype/timestamp.h"
#include "storage/spin.h"

/* Entries in the table; beyond it, idle entries are reused */
#define INVENTORY_MAX_DATABASES		256

/* Milliseconds before a failed worker's database gets another */
#define INVENTORY_RESTART_DELAY_MS	5000

/* What the worker of a database is doing, as inventory_worker_status() says */
typedef enum InventoryWorkerState
{
	INVENTORY_WORKER_NONE,		/* no worker: nothing to do */
	INVENTORY_WORKER_STARTING,	/* the launcher started one */
	INVENTORY_WORKER_APPLYING,	/* in a round */
	INVENTORY_WORKER_IDLE,		/* connected, nothing to do */
	INVENTORY_WORKER_PAUSED,	/* connected, inventory.enabled is off */
} InventoryWorkerState;

typedef struct InventoryDatabase
{
	slock_t		mutex;
	Oid			dboid;			/* InvalidOid: the entry is free */

	/* why the worker should run (wakeup.c) */
	bool		batches_waiting;	/* a batch was queued, or released */
	bool		changes_waiting;	/* ledger rows were committed */
	bool		feeds_waiting;	/* a channel, its rule or an alert changed */
	bool		visit_waiting;	/* look whether the extension is there */
	TimestampTz waiting_since;	/* when the oldest reason above was set */
	TimestampTz due_at;			/* start a worker then anyway (0: never) */
	TimestampTz hold_off_until; /* no worker before then (database_commands.c) */
	int			hold_offs;		/* commands holding the worker off */
	TimestampTz taken_at;		/* when the entry was given this database */

	/* the next expiry of a hold (expiry.c, wakeup.c) */
	TimestampTz expiry_at;		/* start a worker then (0: none known) */
	bool		expiry_moved;	/* a commit made it earlier since the worker took it */

	/* the worker (worker.c, launcher.c) */
	InventoryWorkerState state;
	int			worker_pid;		/* 0 when none has registered */
	int			worker_procno;	/* its latch, or -1 */
	bool		exited_cleanly; /* the last worker left when idle */
	TimestampTz exited_at;		/* when the last worker left */
	bool		leave;			/* asked to leave (DROP DATABASE, say) */

	/* what it found and did (worker_status.c) */
	bool		visited;		/* a worker has looked at the database */
	bool		extension_found;
	TimestampTz started_at;
	TimestampTz last_round_at;
	int64		batches_applied;
	int64		items_applied;
	int64		batches_failed;
	int			waiting_for_pid;	/* holder of an uncommitted earlier batch */

	/* items queued there, when counted (backpressure.c) */
	bool		queued_items_known;
	bool		queued_items_counting;	/* a backend counts them now */
	int64		queued_items;
} InventoryDatabase;

extern Size InventoryDatabasesShmemSize(void);
extern void InventoryDatabasesShmemRequest(void);
extern void InventoryDatabasesShmemInit(void);
extern InventoryDatabase *InventoryDatabaseLock(Oid dboid, bool create);
extern void InventoryDatabaseUnlock(InventoryDatabase *db);
extern InventoryDatabase *InventoryDatabaseAt(int index);

/* The launcher's latch, set when a database needs a worker */
extern void InventorySetLauncherLatch(int procno, bool enabled);
extern bool InventoryLauncherSeesEnabled(void);
extern void InventoryWakeLauncher(void);
extern void InventoryRequestSweep(void);
extern bool InventoryTakeSweepRequest(void);
extern void InventorySetDatabasesWaiting(int n);
extern bool InventoryClaimWaitingSlot(void);

/* What a worker reports (worker_status.c) */
extern void InventoryReportState(InventoryWorkerState state, bool extension_found);

/* Settings of the launcher (launcher.c) */
extern bool InventoryApplyEnabled(void);
extern int	InventoryCheckIntervalSeconds(void);

/* A database's worker in its entry (wakeup.c) */
extern bool InventoryWorkerArrive(void);
extern bool InventoryWorkerLeave(bool work_left, long due_ms);
extern bool InventoryWorkerAskedToLeave(void);
extern bool InventoryWakeReasonsPending(void);
extern TimestampTz InventoryTakeExpiry(void);
extern void InventorySetNextExpiry(TimestampTz at);

#endif							/* INVENTORY_DATABASES_H */
