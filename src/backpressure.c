/*-------------------------------------------------------------------------
 *
 * backpressure.c
 *	  The cap on queued items (inventory.max_queued_items): inventory_adjust
 *	  refuses a batch that would take the queue beyond it, so that a client
 *	  queuing faster than the worker applies cannot fill the disk.
 *
 * The check runs on every call, so it reads a count kept in shared memory
 * rather than the queue: each transaction adds the items it queued and
 * subtracts the items it applied when it commits (a subtransaction's share
 * is dropped if it rolls back); a database's worker sets the count from
 * the table when it starts and every 30 s to correct any drift, and a
 * call that finds the count unknown counts the queue itself.  Each
 * database's count is in its entry (databases.h); without the preload
 * there is no count and no cap.  It is approximate by the batches
 * committing at the moment it is read or recounted (a commit becomes
 * visible a moment before it adds its items), which the cap tolerates.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/shmem.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include <limits.h>

#include "inventory.h"
#include "databases.h"

/* inventory.max_queued_items (0: no cap) */
static int	max_queued_items = 10000000;

/* Count the items of the queued batches */
static InventoryStatement count_queued = {
	.sql = "SELECT COALESCE(pg_catalog.sum(item_count), 0)::pg_catalog.int8 "
	"FROM @extschema@.inventory_queue",
	.nargs = 0
};

/*
 * Set the count of queued items of this database (known = false: the count
 * is unknown).  Transactions committing meanwhile may be counted twice or
 * not at all; the worker recounts now and then.
 */
static void
QueuedItemsSet(bool known, int64 items)
{
	InventoryDatabase *db = InventoryDatabaseLock(MyDatabaseId, true);

	if (db == NULL)
		return;
	db->queued_items_known = known;
	db->queued_items_counting = false;
	db->queued_items = items;
	InventoryDatabaseUnlock(db);
}

/*
 * Whether the caller should count this database's queue: the count is
 * unknown and no one else is counting it (concurrent calls after a restart
 * would otherwise each scan the queue).
 */
static bool
QueuedItemsClaimCount(void)
{
	InventoryDatabase *db = InventoryDatabaseLock(MyDatabaseId, true);
	bool		claimed;

	if (db == NULL)
		return false;
	claimed = !db->queued_items_known && !db->queued_items_counting;
	if (claimed)
		db->queued_items_counting = true;
	InventoryDatabaseUnlock(db);
	return claimed;
}

/*
 * Add delta (negative: items applied) to the count of this database's
 * queued items, if it is counted.  Cannot fail: called after commit.
 */
static void
QueuedItemsAdd(int64 delta)
{
	InventoryDatabase *db = InventoryDatabaseLock(MyDatabaseId, false);

	if (db == NULL)
		return;
	if (db->queued_items_known)
		db->queued_items += delta;
	InventoryDatabaseUnlock(db);
}

/*
 * The number of items queued in this database, if it is counted.
 */
static bool
QueuedItemsGet(int64 *items)
{
	InventoryDatabase *db = InventoryDatabaseLock(MyDatabaseId, false);
	bool		known;

	if (db == NULL)
		return false;
	known = db->queued_items_known;
	*items = db->queued_items;
	InventoryDatabaseUnlock(db);
	return known;
}

/*
 * Net change of the queue by this transaction, per subtransaction nesting
 * level (index 1 is the top level): items queued minus items applied.
 */
static int64 *level_delta = NULL;
static int	level_alloc = 0;
static bool delta_any = false;

/*
 * Add delta to the current (sub)transaction's share.
 */
static void
NoteDelta(int64 delta)
{
	int			level = GetCurrentTransactionNestLevel();

	if (!InventoryShmemAvailable())
		return;
	if (level >= level_alloc)
	{
		int			n = Max(8, level * 2);

		level_delta = level_delta
			? repalloc(level_delta, sizeof(int64) * n)
			: MemoryContextAlloc(TopMemoryContext, sizeof(int64) * n);
		memset(level_delta + level_alloc, 0, sizeof(int64) * (n - level_alloc));
		level_alloc = n;
	}
	level_delta[level] += delta;
	delta_any = true;
}

/*
 * Forget every share (the transaction ended).
 */
static void
ResetDeltas(void)
{
	if (delta_any)
		memset(level_delta, 0, sizeof(int64) * level_alloc);
	delta_any = false;
}

/*
 * At commit, add the transaction's net change to the shared count; at
 * abort, drop it.
 */
static void
BackpressureXactCallback(XactEvent event, void *arg pg_attribute_unused())
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
			if (delta_any && level_delta[1] != 0)
				QueuedItemsAdd(level_delta[1]);
			ResetDeltas();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			ResetDeltas();
			break;
		default:
			break;
	}
}

/*
 * A committed subtransaction's share goes to its parent; an aborted one's
 * is dropped.  The subtransaction is still the current one here.
 */
static void
BackpressureSubXactCallback(SubXactEvent event,
							SubTransactionId mySubid pg_attribute_unused(),
							SubTransactionId parentSubid pg_attribute_unused(),
							void *arg pg_attribute_unused())
{
	int			level = GetCurrentTransactionNestLevel();

	if (!delta_any || level < 2 || level >= level_alloc)
		return;
	if (event == SUBXACT_EVENT_COMMIT_SUB)
		level_delta[level - 1] += level_delta[level];
	if (event == SUBXACT_EVENT_COMMIT_SUB || event == SUBXACT_EVENT_ABORT_SUB)
		level_delta[level] = 0;
}

/*
 * Install the callbacks and define the setting; called from _PG_init.  The
 * count exists only when the library is preloaded; the setting is defined
 * anyway, so that no session warns about it.
 */
void
InventoryBackpressureInit(void)
{
	RegisterXactCallback(BackpressureXactCallback, NULL);
	RegisterSubXactCallback(BackpressureSubXactCallback, NULL);
	DefineCustomIntVariable("inventory.max_queued_items",
							"Most items the queue of a database may hold; inventory_adjust refuses batches beyond it.",
							"0 turns the limit off. Items of batches queued and not yet applied count, including those of the caller's own open transaction.",
							&max_queued_items,
							10000000, 0, INT_MAX,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
}

/*
 * Called by inventory_adjust (connected to SPI) before it queues a batch of
 * nitems items into the queue of schema nspid, counting the queue first if
 * no one has since the server started: refuse it (nothing queued, no batch id taken) when the queue would then
 * hold more than inventory.max_queued_items; otherwise count the items as
 * queued by this transaction.
 */
void
InventoryClaimQueueRoom(Oid nspid, int nitems)
{
	int64		queued;
	int64		mine = 0;
	bool		known = false;

	if (max_queued_items > 0 && InventoryShmemAvailable())
	{
		known = QueuedItemsGet(&queued);
		/*
		 * No worker has counted this queue since the server started: count
		 * it, unless another call is counting it (this one then goes
		 * unchecked).  Batches this transaction queued already are counted
		 * twice until the worker's next recount, erring on the safe side.
		 */
		if (!known && QueuedItemsClaimCount())
		{
			InventoryRecountQueuedItems(nspid);
			known = QueuedItemsGet(&queued);
		}
	}
	if (known)
	{
		/* and what this transaction queued so far, not committed yet */
		for (int i = 1; delta_any && i < level_alloc; i++)
			mine += level_delta[i];
		queued = Max(queued, 0) + Max(mine, 0);
		if (queued + nitems > max_queued_items)
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("inventory queue is full"),
					 errdetail("%lld items are queued; this batch of %d items would take the queue beyond inventory.max_queued_items (%d).",
							   (long long) queued, nitems, max_queued_items),
					 errhint("Nothing was queued. Send the batch again once the worker has applied the backlog; check that it runs and is enabled (inventory_worker_status()).")));
	}
	NoteDelta(nitems);
}

/*
 * Called by the apply for the items of the batches it takes out of the
 * queue (applied or failed), counted if its (sub)transaction commits.
 */
void
InventoryNoteDequeuedItems(int64 nitems)
{
	NoteDelta(-nitems);
}

/*
 * Set the shared count from the queue table of the extension in schema
 * nspid (InvalidOid: not installed, the count is unknown).  The caller is
 * the worker, in a transaction and connected to SPI.
 *
 * The count read at the snapshot the table is counted with is replaced by
 * the table's count, so that what committing transactions add while the
 * table is counted is kept.
 */
void
InventoryRecountQueuedItems(Oid nspid)
{
	Oid			queue = OidIsValid(nspid) ? InventoryRelid(nspid, "inventory_queue") : InvalidOid;
	bool		isnull;
	bool		known;
	int64		before = 0;
	int64		items;
	int			guc_level;

	if (!OidIsValid(queue))
	{
		QueuedItemsSet(false, 0);
		return;
	}
	/* never wait here (a TRUNCATE, say): the count is kept until next time */
	if (!ConditionalLockRelationOid(queue, AccessShareLock))
		return;

	/* a count of the whole table: a sequential scan, whatever the worker's planner settings */
	guc_level = NewGUCNestLevel();
	(void) set_config_option("enable_seqscan", "on", PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	PushActiveSnapshot(GetTransactionSnapshot());
	known = QueuedItemsGet(&before);
	if (InventoryStatementRun(&count_queued, nspid, NULL, true, SPI_OK_SELECT) != 1)
		elog(ERROR, "counting the queued items failed");
	items = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	PopActiveSnapshot();
	AtEOXact_GUC(true, guc_level);
	if (known)
		QueuedItemsAdd(items - before);
	else
		QueuedItemsSet(true, items);
}
