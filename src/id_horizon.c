/*-------------------------------------------------------------------------
 *
 * id_horizon.c
 *	  Which batch and ledger ids may be read: every open transaction
 *	  publishes the lowest id it may take, and readers stay below.
 *
 * Batch ids (and ledger ids) come from sequences before the writing
 * transaction commits, so a row with a smaller id may still be in flight
 * when a larger one is visible.  Before its first nextval, every
 * transaction therefore publishes in its slot a lower bound of the ids it
 * will take: the sequence's last value, read then, plus one.  A reader
 * reads the sequence's last value L, then the slots, then takes its
 * snapshot, and reads only ids up to L and below every published bound.
 * An id at or below L was taken before the reader read L, so after its
 * slot was published: the reader sees the bound in the slot or, if that
 * transaction has ended, the row in its snapshot.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/proc.h"
#include "storage/shmem.h"

#include "inventory.h"

#define SLOT_EMPTY		UINT64CONST(0)

/* One backend's published bounds */
typedef struct IdSlot
{
	pg_atomic_uint64 pending[INVENTORY_NUM_ID_KINDS];	/* lowest id the open
														 * transaction may take */
	Oid			dboid;			/* database of that transaction */
} IdSlot;

typedef struct IdHorizonShared
{
	int			nslots;
	IdSlot		slots[FLEXIBLE_ARRAY_MEMBER];
} IdHorizonShared;

static IdHorizonShared *shared = NULL;

/* Whether this transaction published a bound of each kind */
static bool published[INVENTORY_NUM_ID_KINDS];

/*
 * Shared memory needed: one slot per backend that can run queries.
 */
Size
InventoryIdHorizonShmemSize(void)
{
	return add_size(offsetof(IdHorizonShared, slots), mul_size(MaxBackends, sizeof(IdSlot)));
}

/*
 * Create or attach to the slots (under AddinShmemInitLock).
 */
void
InventoryIdHorizonShmemInit(void)
{
	bool		found;

	shared = ShmemInitStruct("inventory id horizon", InventoryIdHorizonShmemSize(), &found);
	if (found)
		return;
	shared->nslots = MaxBackends;
	for (int i = 0; i < MaxBackends; i++)
	{
		for (int k = 0; k < INVENTORY_NUM_ID_KINDS; k++)
			pg_atomic_init_u64(&shared->slots[i].pending[k], SLOT_EMPTY);
		shared->slots[i].dboid = InvalidOid;
	}
}

/*
 * This backend's slot, or NULL when there is none.
 */
static IdSlot *
MySlot(void)
{
	if (shared == NULL || MyProc == NULL ||
		MyProc->pgprocno < 0 || MyProc->pgprocno >= shared->nslots)
		return NULL;
	return &shared->slots[MyProc->pgprocno];
}

/*
 * Publish, before this transaction takes its first id of the given kind
 * from sequence seqid, a lower bound of the ids it will take (see the
 * header comment).  The worker is told when the transaction ends
 * (transaction_end.c).
 */
void
InventoryPublishIdBound(InventoryIdKind kind, Oid seqid)
{
	IdSlot	   *slot = MySlot();

	if (slot == NULL || published[kind])
		return;
	slot->dboid = MyDatabaseId;
	pg_write_barrier();			/* readers check dboid after seeing pending */
	pg_atomic_write_u64(&slot->pending[kind],
						(uint64) InventorySequenceLastValue(seqid) + 1);
	pg_memory_barrier();
	published[kind] = true;
}

/*
 * Whether this transaction published a bound of the given kind.
 */
bool
InventoryIdBoundPublished(InventoryIdKind kind)
{
	return published[kind];
}

/*
 * Clear this transaction's bounds: it ended.  Cannot fail.
 */
void
InventoryClearIdBounds(void)
{
	IdSlot	   *slot = MySlot();

	for (int k = 0; k < INVENTORY_NUM_ID_KINDS; k++)
	{
		if (published[k] && slot != NULL)
			pg_atomic_write_u64(&slot->pending[k], SLOT_EMPTY);
		published[k] = false;
	}
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
	if (shared == NULL)
		return last_assigned;

	pg_memory_barrier();
	for (int i = 0; i < shared->nslots; i++)
	{
		IdSlot	   *slot = &shared->slots[i];
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
