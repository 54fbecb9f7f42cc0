/*-------------------------------------------------------------------------
 *
 * wakeup.c
 *	  Waking the worker: where its latch is, and why it was woken.
 *
 * inventory_adjust() only marks its transaction; when the transaction ends
 * (transaction_end.c) the reason is recorded here and the worker's latch
 * set, so the worker applies a batch as soon as it is committed, and
 * never misses a reason set while it was busy.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"

#include "inventory.h"

typedef struct WakeupShared
{
	slock_t		mutex;			/* protects worker_procno */
	int			worker_procno;	/* pgprocno of the worker, or -1 */
	pg_atomic_uint32 batches_waiting;	/* a batch was queued (or released) */
	pg_atomic_uint32 changes_waiting;	/* ledger rows were committed */
} WakeupShared;

static WakeupShared *shared = NULL;

static void WakeWorker(void);

/*
 * Shared memory needed.
 */
Size
InventoryWakeupShmemSize(void)
{
	return sizeof(WakeupShared);
}

/*
 * Create or attach to the wake-up state (under AddinShmemInitLock).
 */
void
InventoryWakeupShmemInit(void)
{
	bool		found;

	shared = ShmemInitStruct("inventory wakeup", sizeof(WakeupShared), &found);
	if (found)
		return;
	SpinLockInit(&shared->mutex);
	shared->worker_procno = -1;
	pg_atomic_init_u32(&shared->batches_waiting, 0);
	pg_atomic_init_u32(&shared->changes_waiting, 0);
}

/*
 * Forget the worker's latch when it exits.
 */
static void
WorkerExit(int code pg_attribute_unused(), Datum arg pg_attribute_unused())
{
	SpinLockAcquire(&shared->mutex);
	shared->worker_procno = -1;
	SpinLockRelease(&shared->mutex);
}

/*
 * Register the calling process as the worker to wake; its exit clears it.
 */
void
InventoryRegisterWorkerLatch(void)
{
	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	shared->worker_procno = MyProc->pgprocno;
	SpinLockRelease(&shared->mutex);
	before_shmem_exit(WorkerExit, (Datum) 0);
}

/*
 * Record why the worker is woken: batches queued (or a transaction that
 * held an earlier batch back ended), changes committed; and wake it when a
 * reason is new.  A reason already recorded was recorded after the worker
 * last took its reasons, by a transaction that woke it then: the worker
 * will see it, so it is not woken again.  A paused worker leaves the
 * batches reason recorded, so queuing into a paused worker's database
 * does not wake it at all.  Cannot fail (called after commit).
 */
void
InventoryWakeFor(bool batches, bool changes)
{
	bool		wake = false;

	if (shared == NULL)
		return;
	/* an exchange, a full barrier: it sees the worker's last taking */
	if (batches)
		wake |= pg_atomic_exchange_u32(&shared->batches_waiting, 1) == 0;
	if (changes)
		wake |= pg_atomic_exchange_u32(&shared->changes_waiting, 1) == 0;
	if (wake)
		WakeWorker();
}

/*
 * Why the worker was woken since it last asked, clearing what it takes.
 * With batches NULL (the worker is paused), the batches reason stays.
 */
void
InventoryTakeWakeReasons(bool *batches, bool *changes)
{
	*changes = false;
	if (batches != NULL)
		*batches = false;
	if (shared == NULL)
		return;
	if (batches != NULL)
		*batches = pg_atomic_exchange_u32(&shared->batches_waiting, 0) != 0;
	*changes = pg_atomic_exchange_u32(&shared->changes_waiting, 0) != 0;
}

/*
 * Set the worker's latch, if there is a worker.  Allocates nothing and
 * cannot fail, so it is safe after commit.
 */
static void
WakeWorker(void)
{
	int			procno;

	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	procno = shared->worker_procno;
	SpinLockRelease(&shared->mutex);
	if (procno >= 0 && procno != MyProc->pgprocno)
		ProcSendSignal(procno);
}
