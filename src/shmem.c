/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  Shared state of the inventory extension: where the worker's latch is,
 *	  and which backends hold batches that are queued but not committed.
 *
 * Order guarantee.  Batch ids (and ledger ids) come from sequences before
 * the writing transaction commits, so a row with a smaller id may still be
 * in flight when a larger one is visible.  Before its first nextval, every
 * transaction therefore publishes in its slot a lower bound of the ids it
 * will take: the sequence's last value, read then, plus one.  A reader
 * reads the sequence's last value L, then the slots, then takes its
 * snapshot, and reads only ids up to L and below every published bound.
 * An id at or below L was taken before the reader read L, so after its
 * slot was published: the reader sees the bound in the slot or, if that
 * transaction has ended, the row in its snapshot.
 *
 * Wake-up.  inventory_adjust() only sets a backend-local flag; the
 * transaction callback sets the worker's latch after commit (and after
 * abort, when the slot it clears may have held the worker back).
 *
 * Queued items.  The number of items queued in the worker's database, for
 * inventory.max_queued_items: the worker sets it from the table, and
 * committing transactions that queue or apply batches add their net change
 * (backpressure.c).  Other databases have no count.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "inventory.h"

#define SLOT_EMPTY		UINT64CONST(0)

typedef struct InventorySlot
{
	pg_atomic_uint64 pending[INVENTORY_NUM_ID_KINDS];	/* lowest id the open
														 * transaction may take */
	Oid			dboid;			/* database of that transaction */
} InventorySlot;

typedef struct InventorySharedState
{
	slock_t		mutex;			/* protects the worker fields */
	int			worker_procno;	/* pgprocno of the worker, or -1 */
	InventoryWorkerStats stats; /* what the worker reports */
	pg_atomic_uint32 batches_waiting;	/* a batch was queued (or released) */
	pg_atomic_uint32 changes_waiting;	/* ledger rows were committed */
	pg_atomic_uint32 queued_dboid;	/* database of queued_items, or
									 * InvalidOid while unknown */
	pg_atomic_uint64 queued_items;	/* items queued there (as int64) */
	int			nslots;
	InventorySlot slots[FLEXIBLE_ARRAY_MEMBER];
} InventorySharedState;

static InventorySharedState *InventoryShared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* Backend-local state of the current transaction */
static bool slot_published[INVENTORY_NUM_ID_KINDS];

/*
 * Size of the shared state: one slot per backend that can run queries.
 */
static Size
InventoryShmemSize(void)
{
	return add_size(offsetof(InventorySharedState, slots),
					mul_size(MaxBackends, sizeof(InventorySlot)));
}

/*
 * Ask for the shared memory (PostgreSQL 15 requires it in this hook).
 */
static void
InventoryShmemRequest(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(InventoryShmemSize());
}

/*
 * Create or attach to the shared state.
 */
static void
InventoryShmemStartup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	InventoryShared = ShmemInitStruct("inventory", InventoryShmemSize(), &found);
	if (!found)
	{
		SpinLockInit(&InventoryShared->mutex);
		InventoryShared->worker_procno = -1;
		pg_atomic_init_u32(&InventoryShared->batches_waiting, 0);
		pg_atomic_init_u32(&InventoryShared->changes_waiting, 0);
		pg_atomic_init_u32(&InventoryShared->queued_dboid, InvalidOid);
		pg_atomic_init_u64(&InventoryShared->queued_items, 0);
		InventoryShared->nslots = MaxBackends;
		for (int i = 0; i < MaxBackends; i++)
		{
			for (int k = 0; k < INVENTORY_NUM_ID_KINDS; k++)
				pg_atomic_init_u64(&InventoryShared->slots[i].pending[k], SLOT_EMPTY);
			InventoryShared->slots[i].dboid = InvalidOid;
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Install the shared memory hooks; called from _PG_init when preloaded.
 */
void
InventoryShmemInit(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = InventoryShmemRequest;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = InventoryShmemStartup;
}

/*
 * Whether the shared state exists (the library was preloaded).
 */
bool
InventoryShmemAvailable(void)
{
	return InventoryShared != NULL;
}

/*
 * This backend's slot, or NULL when there is none.
 */
static InventorySlot *
MySlot(void)
{
	if (InventoryShared == NULL || MyProc == NULL ||
		MyProc->pgprocno < 0 || MyProc->pgprocno >= InventoryShared->nslots)
		return NULL;
	return &InventoryShared->slots[MyProc->pgprocno];
}

/*
 * Publish, before this transaction takes its first id of the given kind
 * from sequence seqid, a lower bound of the ids it will take (see the
 * header comment).  The worker is told at commit.
 */
void
InventoryPublishIdBound(InventoryIdKind kind, Oid seqid)
{
	InventorySlot *slot = MySlot();

	if (slot == NULL || slot_published[kind])
		return;
	slot->dboid = MyDatabaseId;
	pg_write_barrier();			/* readers check dboid after seeing pending */
	pg_atomic_write_u64(&slot->pending[kind],
						(uint64) InventorySequenceLastValue(seqid) + 1);
	pg_memory_barrier();
	slot_published[kind] = true;
}

/*
 * Largest id of the given kind that may be read now: last_assigned (the
 * sequence's last value, read just before) or, when an open transaction of
 * this database published a lower bound, one less than the lowest bound.
 * *blocking_pid gets the pid of that transaction's backend, or 0.
 */
int64
InventoryIdHorizon(InventoryIdKind kind, int64 last_assigned, int *blocking_pid)
{
	int64		horizon = last_assigned;

	*blocking_pid = 0;
	if (InventoryShared == NULL)
		return last_assigned;

	pg_memory_barrier();
	for (int i = 0; i < InventoryShared->nslots; i++)
	{
		InventorySlot *slot = &InventoryShared->slots[i];
		uint64		pending;

		if (MyProc != NULL && i == MyProc->pgprocno)
			continue;
		pending = pg_atomic_read_u64(&slot->pending[kind]);
		if (pending == SLOT_EMPTY)
			continue;
		pg_read_barrier();
		if (slot->dboid != MyDatabaseId)
			continue;
		if ((int64) pending - 1 < horizon)
		{
			horizon = (int64) pending - 1;
			*blocking_pid = ProcGlobal->allProcs[i].pid;
		}
	}
	return horizon;
}

/*
 * Why the worker was woken since it last asked: batches queued (or an
 * earlier batch's transaction ended), changes committed.  Clears both.
 */
void
InventoryTakeWakeReasons(bool *batches, bool *changes)
{
	*batches = *changes = false;
	if (InventoryShared == NULL)
		return;
	*batches = pg_atomic_exchange_u32(&InventoryShared->batches_waiting, 0) != 0;
	*changes = pg_atomic_exchange_u32(&InventoryShared->changes_waiting, 0) != 0;
}

/*
 * Clear the worker's registration when it exits.
 */
static void
InventoryWorkerExit(int code pg_attribute_unused(), Datum arg pg_attribute_unused())
{
	SpinLockAcquire(&InventoryShared->mutex);
	InventoryShared->worker_procno = -1;
	InventoryShared->stats.pid = 0;
	SpinLockRelease(&InventoryShared->mutex);
}

/*
 * Register the calling process as the worker to wake; its exit clears it.
 */
void
InventoryRegisterWorkerProcess(void)
{
	if (InventoryShared == NULL)
		return;
	SpinLockAcquire(&InventoryShared->mutex);
	InventoryShared->worker_procno = MyProc->pgprocno;
	memset(&InventoryShared->stats, 0, sizeof(InventoryWorkerStats));
	InventoryShared->stats.pid = MyProcPid;
	InventoryShared->stats.started_at = GetCurrentTimestamp();
	SpinLockRelease(&InventoryShared->mutex);
	before_shmem_exit(InventoryWorkerExit, (Datum) 0);
}

/*
 * Set the worker's latch, if there is a worker.  Allocates nothing and
 * cannot fail, so it is safe after commit.
 */
void
InventoryWakeWorker(void)
{
	int			procno;

	if (InventoryShared == NULL)
		return;
	SpinLockAcquire(&InventoryShared->mutex);
	procno = InventoryShared->worker_procno;
	SpinLockRelease(&InventoryShared->mutex);
	if (procno >= 0 && procno != MyProc->pgprocno)
		ProcSendSignal(procno);
}

/*
 * Transaction callback: refuse PREPARE of a transaction that queued
 * batches, and at its end clear the slot and wake the worker.
 */
void
InventoryXactCallback(XactEvent event, void *arg pg_attribute_unused())
{
	InventorySlot *slot;

	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			if (slot_published[INVENTORY_ID_BATCH] || slot_published[INVENTORY_ID_LEDGER])
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that queued inventory batches or changed stock"),
						 errdetail("Batches and changes are read in order, which a prepared transaction could hold back indefinitely.")));
			break;

		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			slot = MySlot();
			if (slot == NULL)
				break;
			for (int k = 0; k < INVENTORY_NUM_ID_KINDS; k++)
				if (slot_published[k])
					pg_atomic_write_u64(&slot->pending[k], SLOT_EMPTY);

			/*
			 * Tell the worker what happened: a batch queued, or (even on
			 * abort) a bound it may have been waiting on gone; or changes
			 * to announce.
			 */
			if (slot_published[INVENTORY_ID_BATCH])
				pg_atomic_write_u32(&InventoryShared->batches_waiting, 1);
			if (slot_published[INVENTORY_ID_LEDGER] &&
				(event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT))
				pg_atomic_write_u32(&InventoryShared->changes_waiting, 1);
			if (slot_published[INVENTORY_ID_BATCH] || slot_published[INVENTORY_ID_LEDGER])
				InventoryWakeWorker();
			for (int k = 0; k < INVENTORY_NUM_ID_KINDS; k++)
				slot_published[k] = false;
			break;

		default:
			break;
	}
}

/*
 * Set the count of queued items of database dboid (InvalidOid: the count
 * is unknown).  Transactions committing meanwhile may be counted twice or
 * not at all; the worker recounts now and then.
 */
void
InventoryQueuedItemsSet(Oid dboid, int64 items)
{
	if (InventoryShared == NULL)
		return;
	pg_atomic_write_u32(&InventoryShared->queued_dboid, InvalidOid);
	pg_memory_barrier();
	pg_atomic_write_u64(&InventoryShared->queued_items, (uint64) items);
	pg_memory_barrier();
	pg_atomic_write_u32(&InventoryShared->queued_dboid, dboid);
}

/*
 * Add delta (negative: items applied) to the count of this database's
 * queued items, if it is the one counted.  Cannot fail: called after
 * commit.
 */
void
InventoryQueuedItemsAdd(int64 delta)
{
	if (InventoryShared == NULL ||
		pg_atomic_read_u32(&InventoryShared->queued_dboid) != MyDatabaseId)
		return;
	pg_atomic_fetch_add_u64(&InventoryShared->queued_items, delta);
}

/*
 * The number of items queued in this database, if it is counted.
 */
bool
InventoryQueuedItemsGet(int64 *items)
{
	if (InventoryShared == NULL ||
		pg_atomic_read_u32(&InventoryShared->queued_dboid) != MyDatabaseId)
		return false;
	pg_read_barrier();
	*items = (int64) pg_atomic_read_u64(&InventoryShared->queued_items);
	return true;
}

/*
 * Record what the worker did in its last round.
 */
void
InventoryReportRound(bool enabled, bool extension_found, int blocking_pid,
					 const InventoryApplyResult *result)
{
	if (InventoryShared == NULL)
		return;
	SpinLockAcquire(&InventoryShared->mutex);
	InventoryShared->stats.enabled = enabled;
	InventoryShared->stats.extension_found = extension_found;
	InventoryShared->stats.waiting_for_pid = blocking_pid;
	InventoryShared->stats.last_round_at = GetCurrentTimestamp();
	if (result != NULL)
	{
		InventoryShared->stats.batches_applied += result->batches_applied;
		InventoryShared->stats.batches_failed += result->batches_failed;
		InventoryShared->stats.items_applied += result->items_applied;
	}
	SpinLockRelease(&InventoryShared->mutex);
}

PG_FUNCTION_INFO_V1(inventory_worker_status);

/*
 * inventory_worker_status(): one row describing the running worker, or no
 * row when there is none (the library is not preloaded, or the worker is
 * not running right now).
 */
Datum
inventory_worker_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	InventoryWorkerStats stats;
	Datum		values[9];
	bool		nulls[9] = {false};

	InitMaterializedSRF(fcinfo, 0);
	if (InventoryShared == NULL)
		return (Datum) 0;

	SpinLockAcquire(&InventoryShared->mutex);
	stats = InventoryShared->stats;
	SpinLockRelease(&InventoryShared->mutex);
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
