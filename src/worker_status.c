/*-------------------------------------------------------------------------
 *
 * worker_status.c
 *	  What the worker reports about itself, in shared memory, and
 *	  inventory_worker_status(), which shows it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "inventory.h"

PG_FUNCTION_INFO_V1(inventory_worker_status);

/* What the worker reports about itself */
typedef struct WorkerStats
{
	int			pid;			/* 0 when no worker runs */
	bool		enabled;		/* inventory.enabled as the worker sees it */
	bool		extension_found;	/* extension installed in its database */
	TimestampTz started_at;
	TimestampTz last_round_at;
	int64		batches_applied;
	int64		items_applied;
	int64		batches_failed;
	int			waiting_for_pid;	/* holder of an uncommitted earlier batch */
} WorkerStats;

typedef struct WorkerStatusShared
{
	slock_t		mutex;
	WorkerStats stats;
} WorkerStatusShared;

static WorkerStatusShared *shared = NULL;

/*
 * Shared memory needed.
 */
Size
InventoryWorkerStatusShmemSize(void)
{
	return sizeof(WorkerStatusShared);
}

/*
 * Create or attach to the worker's status (under AddinShmemInitLock).
 */
void
InventoryWorkerStatusShmemInit(void)
{
	bool		found;

	shared = ShmemInitStruct("inventory worker status", sizeof(WorkerStatusShared), &found);
	if (found)
		return;
	SpinLockInit(&shared->mutex);
	memset(&shared->stats, 0, sizeof(WorkerStats));
}

/*
 * Mark the worker gone when it exits.
 */
static void
WorkerExit(int code pg_attribute_unused(), Datum arg pg_attribute_unused())
{
	SpinLockAcquire(&shared->mutex);
	shared->stats.pid = 0;
	SpinLockRelease(&shared->mutex);
}

/*
 * Start the calling process's status as the worker; its exit clears it.
 */
void
InventoryWorkerStatusStart(void)
{
	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	memset(&shared->stats, 0, sizeof(WorkerStats));
	shared->stats.pid = MyProcPid;
	shared->stats.started_at = GetCurrentTimestamp();
	SpinLockRelease(&shared->mutex);
	before_shmem_exit(WorkerExit, (Datum) 0);
}

/*
 * Record what the worker did in its last round.
 */
void
InventoryReportRound(bool enabled, bool extension_found, int blocking_pid,
					 const InventoryApplyResult *result)
{
	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	shared->stats.enabled = enabled;
	shared->stats.extension_found = extension_found;
	shared->stats.waiting_for_pid = blocking_pid;
	shared->stats.last_round_at = GetCurrentTimestamp();
	if (result != NULL)
	{
		shared->stats.batches_applied += result->batches_applied;
		shared->stats.batches_failed += result->batches_failed;
		shared->stats.items_applied += result->items_applied;
	}
	SpinLockRelease(&shared->mutex);
}

/*
 * inventory_worker_status(): one row describing the running worker, or no
 * row when there is none (the library is not preloaded, or the worker is
 * not running right now).
 */
Datum
inventory_worker_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	WorkerStats stats;
	Datum		values[9];
	bool		nulls[9] = {false};

	InitMaterializedSRF(fcinfo, 0);
	if (shared == NULL)
		return (Datum) 0;

	SpinLockAcquire(&shared->mutex);
	stats = shared->stats;
	SpinLockRelease(&shared->mutex);
	if (stats.pid == 0)
		return (Datum) 0;

	values[0] = Int32GetDatum(stats.pid);
	values[1] = BoolGetDatum(stats.enabled);
	values[2] = BoolGetDatum(stats.extension_found);
	values[3] = TimestampTzGetDatum(stats.started_at);
	values[4] = TimestampTzGetDatum(stats.last_round_at);
	nulls[4] = (stats.last_round_at == 0);
	values[5] = Int64GetDatum(stats.batches_applied);
	values[6] = Int64GetDatum(stats.items_applied);
	values[7] = Int64GetDatum(stats.batches_failed);
	values[8] = Int32GetDatum(stats.waiting_for_pid);
	nulls[8] = (stats.waiting_for_pid == 0);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}
