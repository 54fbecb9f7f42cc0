/*-------------------------------------------------------------------------
 *
 * apply.c
 *	  Apply queued batches: the code shared by the background worker and
 *	  inventory_process_queue().
 *
 * One round takes the oldest applicable batches (up to inventory.batch_size
 * items), and in one subtransaction removes them from the queue, records
 * them as applied and sets the level rows, so that a crash leaves each batch
 * wholly applied or wholly queued.  Items are coalesced per (sku,
 * warehouse): both on_hand and available are absolute targets, so within a
 * round the last item for a key decides, while the key's row is locked and
 * its reserved value cannot change.  If the round fails because of a
 * batch's data, each batch is retried alone and the ones that still fail
 * are recorded as failed with their error.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/resowner.h"
#include "utils/uuid.h"

#include "inventory.h"

PG_FUNCTION_INFO_V1(inventory_process_queue);

/* Advisory lock field4 value that marks the applier lock */
#define APPLY_LOCK_FIELD4	0x494E

/* One queued item */
typedef struct ApplyItem
{
	const char *sku;
	int			skulen;
	pg_uuid_t	wh;
	bool		is_available;	/* target is available, not on_hand */
	int32		value;
	text	   *bin_location;	/* NULL when not given */
	Numeric		cost;			/* NULL when not given */
} ApplyItem;

/* One distinct (sku, warehouse) of a round, with what will be written */
typedef struct ApplyKey
{
	const char *sku;
	int			skulen;
	pg_uuid_t	wh;
	int			last;			/* index of the last item for this key */
	text	   *bin_location;	/* last given, or NULL */
	Numeric		cost;			/* last given, or NULL */
	bool		found;			/* row exists (locked) */
	int64		on_hand;		/* current values of the locked row */
	int64		reserved;
} ApplyKey;

/* Prepared statements, kept for the session */
typedef struct ApplyPlans
{
	Oid			nspid;
	SPIPlanPtr	last_value;
	SPIPlanPtr	candidates;
	SPIPlanPtr	take;
	SPIPlanPtr	lock_rows;
	SPIPlanPtr	insert_rows;
	SPIPlanPtr	update_rows;
	SPIPlanPtr	mark_failed;
} ApplyPlans;

static ApplyPlans plans = {InvalidOid};

/*
 * Prepare and keep one statement.
 */
static SPIPlanPtr
Prepare(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s",
			 sql, SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	return plan;
}

/*
 * Prepare the statements of a round for the extension's schema.
 */
static void
PreparePlans(Oid nspid)
{
	char	   *queue = InventoryQualify(nspid, "inventory_queue");
	char	   *history = InventoryQualify(nspid, "inventory_batch_history");
	char	   *levels = InventoryQualify(nspid, "inventory_levels");
	char	   *seq = InventoryQualify(nspid, "inventory_batch_id_seq");
	Oid			t_int8_int4[2] = {INT8OID, INT4OID};
	Oid			t_int8arr[1] = {INT8ARRAYOID};
	Oid			t_keys[2] = {TEXTARRAYOID, UUIDARRAYOID};
	Oid			t_rows[5] = {TEXTARRAYOID, UUIDARRAYOID, INT8ARRAYOID,
	TEXTARRAYOID, NUMERICARRAYOID};
	Oid			t_failed[2] = {INT8OID, TEXTOID};

	if (plans.nspid == nspid)
		return;
	if (OidIsValid(plans.nspid))
	{
		SPIPlanPtr *all[] = {&plans.last_value, &plans.candidates, &plans.take,
			&plans.lock_rows, &plans.insert_rows, &plans.update_rows,
		&plans.mark_failed};

		for (int i = 0; i < (int) lengthof(all); i++)
		{
			SPI_freeplan(*all[i]);
			*all[i] = NULL;
		}
		plans.nspid = InvalidOid;
	}

	plans.last_value = Prepare(psprintf(
										"SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM %s",
										seq), 0, NULL);
	plans.candidates = Prepare(psprintf(
										"SELECT batch_id, item_count FROM %s "
										"WHERE batch_id OPERATOR(pg_catalog.<=) $1 "
										"ORDER BY batch_id LIMIT $2",
										queue), 2, t_int8_int4);
	plans.take = Prepare(psprintf(
								  "WITH taken AS (DELETE FROM %s q "
								  "  WHERE q.batch_id OPERATOR(pg_catalog.=) ANY ($1) "
								  "  RETURNING q.*, q.xmin AS queued_xid), "
								  "done AS (INSERT INTO %s "
								  "  (batch_id, state, item_count, queued_at, queued_by, queued_xid, applied_at) "
								  "  SELECT batch_id, 'applied', item_count, queued_at, queued_by, queued_xid, "
								  "         pg_catalog.clock_timestamp() FROM taken) "
								  "SELECT batch_id, items FROM taken ORDER BY batch_id",
								  queue, history), 1, t_int8arr);
	plans.lock_rows = Prepare(psprintf(
									   "SELECT l.sku, l.warehouse_uuid, l.on_hand, l.reserved "
									   "FROM %s l, ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS k(sku, wh) "
									   "WHERE l.sku OPERATOR(pg_catalog.=) k.sku "
									   "AND l.warehouse_uuid OPERATOR(pg_catalog.=) k.wh "
									   "ORDER BY l.sku, l.warehouse_uuid FOR NO KEY UPDATE OF l",
									   levels), 2, t_keys);
	plans.insert_rows = Prepare(psprintf(
										 "INSERT INTO %s AS l (sku, warehouse_uuid, on_hand, bin_location, cost) "
										 "SELECT k.sku, k.wh, k.on_hand, k.bin, k.cost "
										 "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5)) AS k(sku, wh, on_hand, bin, cost) "
										 "ORDER BY k.sku, k.wh "
										 "ON CONFLICT (sku, warehouse_uuid) DO NOTHING "
										 "RETURNING l.sku, l.warehouse_uuid",
										 levels), 5, t_rows);
	plans.update_rows = Prepare(psprintf(
										 "UPDATE %s AS l SET on_hand = k.on_hand, "
										 "  bin_location = COALESCE(k.bin, l.bin_location), "
										 "  cost = COALESCE(k.cost, l.cost) "
										 "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5)) AS k(sku, wh, on_hand, bin, cost) "
										 "WHERE l.sku OPERATOR(pg_catalog.=) k.sku "
										 "AND l.warehouse_uuid OPERATOR(pg_catalog.=) k.wh",
										 levels), 5, t_rows);
	plans.mark_failed = Prepare(psprintf(
										 "WITH taken AS (DELETE FROM %s q "
										 "  WHERE q.batch_id OPERATOR(pg_catalog.=) $1 "
										 "  RETURNING q.*, q.xmin AS queued_xid) "
										 "INSERT INTO %s "
										 "  (batch_id, state, item_count, queued_at, queued_by, queued_xid, applied_at, error, items) "
										 "SELECT batch_id, 'failed', item_count, queued_at, queued_by, queued_xid, "
										 "       pg_catalog.clock_timestamp(), $2, items FROM taken",
										 queue, history), 2, t_failed);
	plans.nspid = nspid;
}

/*
 * Take the applier lock, which makes appliers of one database run one at a
 * time (so batches are applied in order).  Transaction-scoped.  With wait =
 * false, returns false instead of waiting when another applier holds it.
 */
static bool
TakeApplyLock(Oid queue_relid, bool wait)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) queue_relid, 0, APPLY_LOCK_FIELD4);
	return LockAcquire(&tag, ExclusiveLock, false, !wait) != LOCKACQUIRE_NOT_AVAIL;
}

/*
 * Order of (sku, warehouse) keys: bytewise sku (collation "C"), then uuid.
 */
static int
CompareKey(const char *sku1, int len1, const pg_uuid_t *wh1,
		   const char *sku2, int len2, const pg_uuid_t *wh2)
{
	int			c = memcmp(sku1, sku2, Min(len1, len2));

	if (c != 0)
		return c;
	if (len1 != len2)
		return len1 < len2 ? -1 : 1;
	return memcmp(wh1->data, wh2->data, UUID_LEN);
}

/* qsort context: the items being sorted */
static ApplyItem *sort_items;

/*
 * qsort comparator for item indexes: by key, then by queue order.
 */
static int
CompareItemIndex(const void *a, const void *b)
{
	int			ia = *(const int *) a;
	int			ib = *(const int *) b;
	ApplyItem  *x = &sort_items[ia];
	ApplyItem  *y = &sort_items[ib];
	int			c = CompareKey(x->sku, x->skulen, &x->wh, y->sku, y->skulen, &y->wh);

	if (c != 0)
		return c;
	return (ia > ib) - (ia < ib);
}

/*
 * Read the items of one queued batch into items[*nitems...].
 */
static void
ReadBatchItems(Jsonb *batch, ApplyItem *items, int *nitems)
{
	JsonbContainer *arr = &batch->root;
	int			n = JsonContainerSize(arr);

	for (int i = 0; i < n; i++)
	{
		JsonbValue *elem = getIthJsonbValueFromContainer(arr, i);
		JsonbContainer *obj;
		JsonbValue *v;
		ApplyItem  *item = &items[(*nitems)++];
		bool		overflow = false;

		if (elem->type != jbvBinary || !JsonContainerIsObject(elem->val.binary.data))
			elog(ERROR, "queued item %d is not an object", i + 1);
		obj = elem->val.binary.data;
		memset(item, 0, sizeof(*item));

		v = getKeyJsonValueFromContainer(obj, "sku", 3, NULL);
		if (v == NULL || v->type != jbvString)
			elog(ERROR, "queued item %d has no sku", i + 1);
		item->sku = v->val.string.val;
		item->skulen = v->val.string.len;

		v = getKeyJsonValueFromContainer(obj, "warehouse_uuid", 14, NULL);
		if (v == NULL || v->type != jbvString ||
			!InventoryParseUuid(v->val.string.val, v->val.string.len, &item->wh))
			elog(ERROR, "queued item %d has no valid warehouse_uuid", i + 1);

		v = getKeyJsonValueFromContainer(obj, "on_hand", 7, NULL);
		if (v == NULL)
		{
			v = getKeyJsonValueFromContainer(obj, "available", 9, NULL);
			item->is_available = true;
		}
		if (v == NULL || v->type != jbvNumeric)
			elog(ERROR, "queued item %d has no quantity", i + 1);
		item->value = numeric_int4_opt_error(v->val.numeric, &overflow);
		if (overflow)
			elog(ERROR, "queued item %d has an out-of-range quantity", i + 1);

		v = getKeyJsonValueFromContainer(obj, "bin_location", 12, NULL);
		if (v != NULL && v->type == jbvString)
			item->bin_location = cstring_to_text_with_len(v->val.string.val,
														  v->val.string.len);
		v = getKeyJsonValueFromContainer(obj, "cost", 4, NULL);
		if (v != NULL && v->type == jbvNumeric)
			item->cost = v->val.numeric;
	}
}

/*
 * Find a key in the sorted keys array, or return NULL.
 */
static ApplyKey *
FindKey(ApplyKey *keys, int nkeys, const char *sku, int skulen, const pg_uuid_t *wh)
{
	int			lo = 0,
				hi = nkeys - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int			c = CompareKey(sku, skulen, wh, keys[mid].sku, keys[mid].skulen, &keys[mid].wh);

		if (c == 0)
			return &keys[mid];
		if (c < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return NULL;
}

/*
 * Build a one-dimensional array Datum with optional NULLs.
 */
static Datum
MakeArray(Datum *values, bool *nulls, int n, Oid elemtype)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			dims[1] = {n};
	int			lbs[1] = {1};

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs,
											  elemtype, typlen, typbyval, typalign));
}

/*
 * Run a kept plan, checking the result code.
 */
static void
Execute(SPIPlanPtr plan, Datum *args, int expected)
{
	int			ret = SPI_execute_plan(plan, args, NULL, false, 0);

	if (ret != expected)
		elog(ERROR, "inventory apply statement failed: %s", SPI_result_code_string(ret));
}

/*
 * Write rows for the keys whose found flag equals "existing" (update the
 * locked rows, or insert the missing ones): each gets its final on_hand.
 * Returns false when there was nothing to write and no statement ran.
 */
static bool
WriteKeys(SPIPlanPtr plan, ApplyKey *keys, int nkeys, ApplyItem *items,
		  bool existing, int expected)
{
	Datum	   *skus = palloc(sizeof(Datum) * nkeys);
	Datum	   *whs = palloc(sizeof(Datum) * nkeys);
	Datum	   *onhand = palloc(sizeof(Datum) * nkeys);
	Datum	   *bins = palloc(sizeof(Datum) * nkeys);
	Datum	   *costs = palloc(sizeof(Datum) * nkeys);
	bool	   *binnull = palloc(sizeof(bool) * nkeys);
	bool	   *costnull = palloc(sizeof(bool) * nkeys);
	int			n = 0;
	Datum		args[5];

	for (int i = 0; i < nkeys; i++)
	{
		ApplyKey   *k = &keys[i];
		ApplyItem  *last = &items[k->last];
		int64		target;

		if (k->found != existing)
			continue;
		if (!last->is_available)
			target = last->value;
		else if (pg_add_s64_overflow(last->value, existing ? k->reserved : 0, &target))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("on_hand would be out of range for sku \"%.*s\"",
							k->skulen, k->sku)));

		/* An existing row that would not change is left alone. */
		if (existing && target == k->on_hand &&
			k->bin_location == NULL && k->cost == NULL)
			continue;

		skus[n] = PointerGetDatum(cstring_to_text_with_len(k->sku, k->skulen));
		whs[n] = UUIDPGetDatum(&k->wh);
		onhand[n] = Int64GetDatum(target);
		bins[n] = PointerGetDatum(k->bin_location);
		binnull[n] = (k->bin_location == NULL);
		costs[n] = NumericGetDatum(k->cost);
		costnull[n] = (k->cost == NULL);
		n++;
	}
	if (n == 0)
		return false;

	args[0] = MakeArray(skus, NULL, n, TEXTOID);
	args[1] = MakeArray(whs, NULL, n, UUIDOID);
	args[2] = MakeArray(onhand, NULL, n, INT8OID);
	args[3] = MakeArray(bins, binnull, n, TEXTOID);
	args[4] = MakeArray(costs, costnull, n, NUMERICOID);
	Execute(plan, args, expected);
	return true;
}

/*
 * Lock the existing rows of the given keys in key order and note their
 * current values.  Keys already found are skipped.
 */
static void
LockExistingRows(ApplyKey *keys, int nkeys)
{
	Datum	   *skus = palloc(sizeof(Datum) * nkeys);
	Datum	   *whs = palloc(sizeof(Datum) * nkeys);
	int			n = 0;
	Datum		args[2];

	for (int i = 0; i < nkeys; i++)
	{
		if (keys[i].found)
			continue;
		skus[n] = PointerGetDatum(cstring_to_text_with_len(keys[i].sku, keys[i].skulen));
		whs[n] = UUIDPGetDatum(&keys[i].wh);
		n++;
	}
	if (n == 0)
		return;
	args[0] = MakeArray(skus, NULL, n, TEXTOID);
	args[1] = MakeArray(whs, NULL, n, UUIDOID);
	Execute(plans.lock_rows, args, SPI_OK_SELECT);

	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		text	   *sku = DatumGetTextPP(SPI_getbinval(tup, desc, 1, &isnull));
		pg_uuid_t  *wh = DatumGetUUIDP(SPI_getbinval(tup, desc, 2, &isnull));
		ApplyKey   *k = FindKey(keys, nkeys, VARDATA_ANY(sku), VARSIZE_ANY_EXHDR(sku), wh);

		if (k == NULL)
			elog(ERROR, "locked an unexpected inventory level row");
		k->found = true;
		k->on_hand = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
		k->reserved = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
	}
}

/*
 * Apply the given batches (ids in ascending order) in the current
 * (sub)transaction.  Returns the number of items applied.
 */
static int64
ApplyBatches(int64 *ids, int nids)
{
	Datum		idarr[1];
	Datum	   *iddatums = palloc(sizeof(Datum) * nids);
	ApplyItem  *items;
	int			nitems = 0;
	int			maxitems = 0;
	int		   *order;
	ApplyKey   *keys;
	int			nkeys = 0;
	uint64		ntaken;
	SPITupleTable *taken;

	for (int i = 0; i < nids; i++)
		iddatums[i] = Int64GetDatum(ids[i]);
	idarr[0] = MakeArray(iddatums, NULL, nids, INT8OID);

	/* Move the batches from the queue to the history. */
	Execute(plans.take, idarr, SPI_OK_SELECT);
	ntaken = SPI_processed;
	taken = SPI_tuptable;
	if (ntaken == 0)
		return 0;

	/* Read their items, in batch order then item order. */
	for (uint64 r = 0; r < ntaken; r++)
	{
		bool		isnull;
		Jsonb	   *batch = DatumGetJsonbP(SPI_getbinval(taken->vals[r], taken->tupdesc, 2, &isnull));

		maxitems += JsonContainerSize(&batch->root);
	}
	items = palloc(sizeof(ApplyItem) * Max(maxitems, 1));
	for (uint64 r = 0; r < ntaken; r++)
	{
		bool		isnull;
		Jsonb	   *batch = DatumGetJsonbP(SPI_getbinval(taken->vals[r], taken->tupdesc, 2, &isnull));

		ReadBatchItems(batch, items, &nitems);
	}
	if (nitems == 0)
		return 0;

	/* Coalesce per key: the last item decides; last given bin/cost kept. */
	order = palloc(sizeof(int) * nitems);
	for (int i = 0; i < nitems; i++)
		order[i] = i;
	sort_items = items;
	qsort(order, nitems, sizeof(int), CompareItemIndex);

	keys = palloc0(sizeof(ApplyKey) * nitems);
	for (int i = 0; i < nitems; i++)
	{
		ApplyItem  *it = &items[order[i]];
		ApplyKey   *k;

		if (nkeys == 0 ||
			CompareKey(it->sku, it->skulen, &it->wh,
					   keys[nkeys - 1].sku, keys[nkeys - 1].skulen, &keys[nkeys - 1].wh) != 0)
		{
			k = &keys[nkeys++];
			k->sku = it->sku;
			k->skulen = it->skulen;
			k->wh = it->wh;
		}
		k = &keys[nkeys - 1];
		k->last = order[i];
		if (it->bin_location)
			k->bin_location = it->bin_location;
		if (it->cost)
			k->cost = it->cost;
	}

	/* Lock the rows that exist; create the missing ones with final values. */
	LockExistingRows(keys, nkeys);
	if (WriteKeys(plans.insert_rows, keys, nkeys, items, false, SPI_OK_INSERT_RETURNING))
	{
		uint64		ncreated = SPI_processed;
		SPITupleTable *created = SPI_tuptable;
		bool		missing = false;

		for (uint64 r = 0; r < ncreated; r++)
		{
			bool		isnull;
			text	   *sku = DatumGetTextPP(SPI_getbinval(created->vals[r], created->tupdesc, 1, &isnull));
			pg_uuid_t  *wh = DatumGetUUIDP(SPI_getbinval(created->vals[r], created->tupdesc, 2, &isnull));
			ApplyKey   *k = FindKey(keys, nkeys, VARDATA_ANY(sku), VARSIZE_ANY_EXHDR(sku), wh);

			if (k == NULL)
				elog(ERROR, "created an unexpected inventory level row");
			/* created with its final values: nothing left to write */
			k->found = true;
			k->last = -1;
		}

		/* Keys that someone else created meanwhile are updated like the rest. */
		for (int i = 0; i < nkeys; i++)
			if (!keys[i].found)
				missing = true;
		if (missing)
		{
			LockExistingRows(keys, nkeys);
			for (int i = 0; i < nkeys; i++)
				if (!keys[i].found)
					ereport(ERROR,
							(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
							 errmsg("inventory level row for sku \"%.*s\" changed concurrently",
									keys[i].skulen, keys[i].sku),
							 errdetail("The round is retried.")));
		}
	}

	/* Update the existing rows (those just created are done). */
	{
		int			n = 0;

		for (int i = 0; i < nkeys; i++)
			if (keys[i].last >= 0)
				keys[n++] = keys[i];
		WriteKeys(plans.update_rows, keys, n, items, true, SPI_OK_UPDATE);
	}

	return nitems;
}

/*
 * Whether an error is the batch's fault (its data or the constraints and
 * triggers it ran into) rather than a passing condition such as a deadlock,
 * a cancel or a lack of resources, after which the round is simply retried.
 */
static bool
ErrorIsBatchFault(ErrorData *edata)
{
	switch (ERRCODE_TO_CATEGORY(edata->sqlerrcode))
	{
		case ERRCODE_DATA_EXCEPTION:
		case ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION:
		case ERRCODE_TRIGGERED_DATA_CHANGE_VIOLATION:
		case ERRCODE_TRIGGERED_ACTION_EXCEPTION:
		case ERRCODE_WITH_CHECK_OPTION_VIOLATION:
		case ERRCODE_PLPGSQL_ERROR:
			return true;
		default:
			return false;
	}
}

/*
 * Run ApplyBatches in a subtransaction.  Returns true on success; on an
 * error that is the batches' fault returns false with *error set; any other
 * error is re-thrown.
 */
static bool
TryApply(int64 *ids, int nids, int64 *nitems, char **error)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile bool ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		*nitems = ApplyBatches(ids, nids);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		if (!ErrorIsBatchFault(edata))
			PG_RE_THROW();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;

		*error = edata->detail
			? psprintf("%s (SQLSTATE %s): %s", edata->message,
					   unpack_sql_state(edata->sqlerrcode), edata->detail)
			: psprintf("%s (SQLSTATE %s)", edata->message,
					   unpack_sql_state(edata->sqlerrcode));
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/*
 * Apply one round: the oldest applicable batches, up to max_items items
 * and max_batches batches.  The caller has connected to SPI and runs in a
 * transaction.
 */
void
InventoryApplyRound(Oid nspid, int max_items, int max_batches,
					InventoryApplyResult *result)
{
	Oid			queue_relid = InventoryRelid(nspid, "inventory_queue");
	int64		last_assigned;
	int64		horizon;
	int			blocking_pid;
	int64	   *ids;
	int			nids = 0;
	int64		items_taken = 0;
	int64		nitems;
	char	   *error = NULL;
	bool		isnull;
	Datum		args[2];

	memset(result, 0, sizeof(*result));
	if (!OidIsValid(queue_relid))
		return;
	PreparePlans(nspid);
	TakeApplyLock(queue_relid, true);

	/* The last batch id handed out, then who still holds one (shmem.c). */
	Execute(plans.last_value, NULL, SPI_OK_SELECT);
	last_assigned = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												SPI_tuptable->tupdesc, 1, &isnull));
	horizon = InventoryApplyHorizon(last_assigned, &blocking_pid);
	result->blocked = (blocking_pid != 0);
	result->blocking_pid = blocking_pid;
	if (horizon <= 0)
		return;

	/* The oldest applicable batches, as many as fit in max_items. */
	args[0] = Int64GetDatum(horizon);
	args[1] = Int32GetDatum(Min(max_batches, max_items));
	Execute(plans.candidates, args, SPI_OK_SELECT);
	ids = palloc(sizeof(int64) * Max(SPI_processed, 1));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		int64		id = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		int32		count = DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));

		if (nids > 0 && items_taken + count > max_items)
		{
			result->more = true;
			break;
		}
		ids[nids++] = id;
		items_taken += count;
	}
	if (SPI_processed == (uint64) Min(max_batches, max_items))
		result->more = true;
	if (nids == 0)
		return;

	if (TryApply(ids, nids, &nitems, &error))
	{
		result->batches_applied = nids;
		result->items_applied = nitems;
		return;
	}

	/* Something in these batches failed: apply them one by one. */
	for (int i = 0; i < nids; i++)
	{
		if (TryApply(&ids[i], 1, &nitems, &error))
		{
			result->batches_applied++;
			result->items_applied += nitems;
			continue;
		}
		args[0] = Int64GetDatum(ids[i]);
		args[1] = CStringGetTextDatum(error);
		Execute(plans.mark_failed, args, SPI_OK_INSERT);
		result->batches_failed++;
		ereport(WARNING,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("inventory batch %lld failed", (long long) ids[i]),
				 errdetail("%s", error),
				 errhint("The batch is recorded as failed in inventory_batches; later batches are applied.")));
	}
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
	Oid			nspid = get_func_namespace(fcinfo->flinfo->fn_oid);

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
		InventoryApplyRound(nspid, inventory_batch_size, max_batches, &result);
		SPI_finish();
		done += result.batches_applied + result.batches_failed;
		if (!result.more)
			break;
	}
	PG_RETURN_INT64(done);
}
