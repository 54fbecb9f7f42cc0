/*-------------------------------------------------------------------------
 *
 * round.c
 *	  One round of the apply: take the round's locks, pick the oldest
 *	  applicable batches (up to inventory.max_round_items items) and apply
 *	  them, finding the failing ones if they fail together; and
 *	  inventory_process_queue(), which runs rounds in the caller's session.
 *
 * The background worker and inventory_process_queue() share this code.
 * Appliers of one database run one at a time (the applier lock), so that
 * batches are applied in id order, and only batches below every id an
 * open transaction may still commit (id_horizon.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "apply.h"

PG_FUNCTION_INFO_V1(inventory_process_queue);

/* Advisory lock field4 value that marks the applier lock */
#define APPLY_LOCK_FIELD4	0x494E

/* inventory.max_round_items: most items applied in one transaction */
static int	max_round_items = 200000;

/* inventory.batch_size: its deprecated name (0: not set) */
static int	deprecated_batch_size = 0;

/*
 * The oldest queued batches above the low-water mark $3 and up to the
 * horizon $1, at most $2 of them
 */
static InventoryStatement candidates = {
	.sql = "SELECT batch_id, item_count FROM @extschema@.inventory_queue "
	"WHERE batch_id OPERATOR(pg_catalog.>) $3 AND batch_id OPERATOR(pg_catalog.<=) $1 "
	"ORDER BY batch_id LIMIT $2",
	.nargs = 3,
	.argtypes = {INT8OID, INT4OID, INT8OID}
};

/*
 * The low-water mark: no batch with this id or a smaller one is queued.
 * The queue's index keeps the entries of applied batches until the table
 * is vacuumed, and a scan from the start would walk them all, every
 * round: tens of thousands after a burst, a millisecond a round.  A round
 * that finds its first candidate at id f, or none up to the horizon h,
 * knows that no batch below f (or up to h) is queued, nor ever will be:
 * every id up to the horizon is committed or never will be.  Only a
 * batch put back into the queue by hand (a restore, say) can be missed,
 * so the mark is forgotten every LOW_WATER_RESET_S seconds.  It belongs
 * to one queue table.
 */
#define LOW_WATER_RESET_S 10

static Oid	low_water_queue = InvalidOid;
static int64 low_water = 0;
static TimestampTz low_water_since = 0;

/*
 * The low-water mark for the queue table queue_relid (0: none).
 */
static int64
LowWater(Oid queue_relid)
{
	TimestampTz now = GetCurrentTimestamp();

	if (queue_relid != low_water_queue ||
		TimestampDifferenceExceeds(low_water_since, now, LOW_WATER_RESET_S * 1000))
	{
		low_water_queue = queue_relid;
		low_water = 0;
		low_water_since = now;
	}
	return low_water;
}

/*
 * Define the settings of the apply; called from _PG_init.
 */
void
InventoryRoundInit(void)
{
	DefineCustomIntVariable("inventory.max_round_items",
							"Largest number of items applied in one transaction (one round).",
							"Whole batches are applied together until this many items are taken; a single larger batch is applied alone. "
							"Larger rounds drain a backlog faster (items of one key are coalesced) but hold the level rows they change locked until they commit.",
							&max_round_items,
							200000, 1, 1000000,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("inventory.batch_size",
							"Deprecated name of inventory.max_round_items; 0 means not set.",
							"When set above 0 it overrides inventory.max_round_items. It will be removed in a later release.",
							&deprecated_batch_size,
							0, 0, 1000000,
							PGC_SIGHUP, GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);
}

/*
 * Most items of one round: inventory.max_round_items, or its deprecated
 * name inventory.batch_size when that is set.
 */
int
InventoryRoundItems(void)
{
	return deprecated_batch_size > 0 ? deprecated_batch_size : max_round_items;
}

/*
 * Whether the deprecated inventory.batch_size is set (the worker says so
 * in its log).
 */
bool
InventoryRoundItemsDeprecated(void)
{
	return deprecated_batch_size > 0;
}

/*
 * Open a cursor over the candidates.  It is planned as an ordered scan of
 * the queue's key, never a bitmap scan: an index scan marks the entries of
 * applied (deleted) batches dead as it passes them, so the next round
 * skips them cheaply, whereas a bitmap scan visits every one of them in
 * the heap, every round, until the queue is vacuumed.
 */
static Portal
OpenCandidates(Oid nspid, Datum *args)
{
	int			save = NewGUCNestLevel();
	Portal		portal;

	(void) set_config_option("enable_bitmapscan", "off", PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	portal = SPI_cursor_open(NULL, InventoryStatementPlan(&candidates, nspid), args, NULL, false);
	AtEOXact_GUC(true, save);
	return portal;
}

/*
 * Take the applier lock, which makes appliers of one database run one at a
 * time (so batches are applied in order).  Transaction-scoped.  With wait =
 * false, returns false instead of waiting for another applier.
 */
static bool
TakeApplyLock(Oid queue_relid, bool wait)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) queue_relid, 0, APPLY_LOCK_FIELD4);
	return LockAcquire(&tag, ExclusiveLock, false, !wait) != LOCKACQUIRE_NOT_AVAIL;
}

/*
 * Lock every relation a round writes or checks, in one fixed order, before
 * touching any, so that the round never waits holding some of them (a
 * DROP EXTENSION taking its locks in its own order could otherwise
 * deadlock with it).  With wait = false, returns false as soon as one is
 * not available.
 */
static bool
LockRoundRelations(Oid nspid, bool wait)
{
	static const struct
	{
		const char *name;
		LOCKMODE	mode;
	}			rels[] = {
		{"inventory_warehouses", RowShareLock},
		{"inventory_levels", RowExclusiveLock},
		{"inventory_queue", RowExclusiveLock},
		{"inventory_batch_history", RowExclusiveLock},
		{"inventory_ledger", RowExclusiveLock},
		{"inventory_ledger_id_seq", RowExclusiveLock},
		{"inventory_batch_id_seq", AccessShareLock},
		{"inventory_idempotency_keys", RowExclusiveLock},
	};

	for (int i = 0; i < (int) lengthof(rels); i++)
	{
		Oid			relid = InventoryRelid(nspid, rels[i].name);

		if (!OidIsValid(relid))
			return false;
		if (wait)
			LockRelationOid(relid, rels[i].mode);
		else if (!ConditionalLockRelationOid(relid, rels[i].mode))
			return false;
	}
	return true;
}

/*
 * Apply one round: the oldest applicable batches, up to max_items items
 * and max_batches batches.  The caller has connected to SPI and runs in a
 * transaction.
 */
void
InventoryApplyRound(Oid nspid, int max_items, int max_batches, bool wait,
					InventoryApplyResult *result)
{
	Oid			queue_relid = InventoryRelid(nspid, "inventory_queue");
	Oid			seqid = InventoryRelid(nspid, "inventory_batch_id_seq");
	int64		last_assigned;
	int64		horizon;
	int			blocking_pid;
	int			maxids = 512;
	int64	   *ids = palloc(sizeof(int64) * maxids);
	int32	   *counts = palloc(sizeof(int32) * maxids);
	int			nids = 0;
	int64		items_taken = 0;
	bool		full = false;
	Portal		portal;
	int64		nitems;
	char	   *error = NULL;
	bool		isnull;
	Datum		args[3];

	memset(result, 0, sizeof(*result));
	if (!OidIsValid(queue_relid) || !OidIsValid(seqid))
		return;
	if (!LockRoundRelations(nspid, wait) || !TakeApplyLock(queue_relid, wait))
	{
		result->blocked = true;
		return;
	}

	/*
	 * Without shared memory there are no published bounds: wait instead for
	 * every transaction that may still queue a batch (they hold
	 * RowExclusiveLock on the queue), so none can commit below what we read.
	 */
	if (!InventoryShmemAvailable())
		LockRelationOid(queue_relid, ShareLock);

	/* The last batch id handed out, then who may still queue one below it. */
	last_assigned = InventorySequenceLastValue(seqid);
	horizon = InventoryIdHorizon(INVENTORY_ID_BATCH, last_assigned, &blocking_pid);
	result->blocked = (blocking_pid != 0);
	result->blocking_pid = blocking_pid;
	if (horizon <= 0)
		return;

	/*
	 * The oldest applicable batches, as many as fit in max_items, read a
	 * few at a time so that a long queue is not read for a small round.
	 * Not read-only: the cursor needs a snapshot taken after the horizon
	 * was computed, so that it sees every batch below the horizon.
	 */
	args[0] = Int64GetDatum(horizon);
	args[1] = Int32GetDatum(Min(max_batches, max_items));
	args[2] = Int64GetDatum(LowWater(queue_relid));
	portal = OpenCandidates(nspid, args);
	while (!full)
	{
		SPI_cursor_fetch(portal, true, 512);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed && !full; r++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];
			int64		id = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
			int32		count = DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));

			if (nids > 0 && items_taken + count > max_items)
			{
				full = true;
				break;
			}
			if (nids == maxids)
			{
				maxids *= 2;
				ids = repalloc(ids, sizeof(int64) * maxids);
				counts = repalloc(counts, sizeof(int32) * maxids);
			}
			counts[nids] = count;
			ids[nids++] = id;
			items_taken += count;
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	/* nothing is queued below the first candidate, nor up to the horizon */
	low_water = Max(low_water, nids > 0 ? ids[0] - 1 : horizon);
	/* more are eligible if we stopped early or took as many as allowed */
	result->more = full || nids == Min(max_batches, max_items);
	if (nids == 0)
		return;
	/* these items leave the queue if we commit (backpressure.c) */
	InventoryNoteDequeuedItems(items_taken);

	if (InventoryTryApply(nspid, ids, nids, &nitems, &error) == INVENTORY_TRY_APPLIED)
	{
		result->batches_applied = nids;
		result->items_applied = nitems;
		return;
	}

	/* Something in these batches failed (or they were too many at once). */
	InventoryFindFailingBatches(nspid, ids, counts, nids, result);
}

/*
 * inventory_process_queue(max_batches integer DEFAULT NULL) returns bigint
 *
 * Applies queued batches in this session, round after round, until the
 * queue holds no applicable batch or max_batches were taken.  Returns the
 * number of batches applied or failed.
 */
Datum
inventory_process_queue(PG_FUNCTION_ARGS)
{
	int64		limit = PG_ARGISNULL(0) ? PG_INT64_MAX : PG_GETARG_INT32(0);
	int64		done = 0;
	Oid			nspid = InventoryFunctionSchema(fcinfo);

	if (limit < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_batches must not be negative")));
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("inventory_process_queue requires the READ COMMITTED isolation level"),
				 errdetail("Batches are applied in order, which needs a new snapshot for each step."),
				 errhint("Call it outside an explicit transaction, or in a READ COMMITTED one.")));

	while (done < limit)
	{
		InventoryApplyResult result;
		int			max_batches = (int) Min(limit - done, PG_INT32_MAX);

		CHECK_FOR_INTERRUPTS();
		/* one SPI connection per round, so memory is freed as we go */
		SPI_connect();
		InventoryApplyRound(nspid, InventoryRoundItems(), max_batches, true, &result);
		SPI_finish();
		done += result.batches_applied + result.batches_failed;
		if (!result.more)
			break;
	}
	PG_RETURN_INT64(done);
}
