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
 * batch's data, its batches are retried in groups to find the ones at
 * fault, which are recorded as failed with their error.
 *
 * The items of a round are streamed: read a few batches at a time, sorted
 * by key in a tuplesort (which spills to disk), then applied in chunks,
 * each with a SELECT ... FOR NO KEY UPDATE that locks the existing rows in
 * key order and reads their values, one set-based UPDATE ... RETURNING of
 * the rows that change, one INSERT of missing rows, and the chunk's ledger
 * rows appended directly (ledger_append.c).  The apply's writes are
 * ordinary statements: whatever triggers, rules and constraints the owner
 * added act on them, and the ledger records the rows as RETURNING reports
 * them.  The worker's memory is bounded by the chunk and the sort, not by
 * the round or the backlog, and rounds can be large enough for the
 * coalescing to pay off when a backlog builds up.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/resowner.h"
#include "utils/tuplesort.h"
#include "utils/typcache.h"
#include "utils/uuid.h"

#include "inventory.h"

PG_FUNCTION_INFO_V1(inventory_process_queue);

/* Advisory lock field4 value that marks the applier lock */
#define APPLY_LOCK_FIELD4	0x494E

/* One queued item, and what applying it did */
typedef struct ApplyItem
{
	int64		batch_id;
	int32		pos;			/* 1-based position in its batch */
	bool		create_missing; /* its batch's mode */
	const char *queued_by;
	const char *sku;
	int			skulen;
	pg_uuid_t	wh;
	bool		is_available;	/* target is available, not on_hand */
	int32		value;
	text	   *bin_location;	/* NULL when not given */
	Numeric		cost;			/* NULL when not given */
	text	   *description;	/* NULL when not given */
	bool		skipped;		/* row missing and create_missing false */
	int64		on_hand_before;
	int64		on_hand_after;
	int64		reserved_before;	/* constant while the row is locked ... */
	int64		reserved_after; /* ... unless an owner's trigger changes it */
} ApplyItem;

/* One distinct (sku, warehouse) of a round */
typedef struct ApplyKey
{
	const char *sku;
	int			skulen;
	pg_uuid_t	wh;
	int			first;			/* its items: items[first .. last] */
	int			last;
	bool		found;			/* row exists and is locked by us */
	bool		settled;		/* written (or left alone): after values known */
	int64		on_hand;		/* values of the locked row */
	int64		reserved;
	text	   *row_bin;		/* its bin_location and cost, or NULL */
	Numeric		row_cost;
	bool		write;			/* the row must be written */
	int64		final_on_hand;
	text	   *bin_location;	/* last given, or NULL */
	Numeric		cost;			/* last given, or NULL */
	int64		after_on_hand;	/* the row as written (RETURNING) */
	int64		after_reserved;
} ApplyKey;

/*
 * A round streams its items: they are sorted by key (in at most
 * APPLY_SORT_MEM_KB of memory, then on disk) and applied in chunks of at
 * most APPLY_CHUNK items and about APPLY_CHUNK_BYTES of item data, so that
 * the worker's memory does not grow with the size of the round, of the
 * backlog or of one key's items: a key with more items than a chunk holds
 * is applied in pieces, each starting from the row the previous one wrote
 * (the row stays locked).  The arrays of one statement are built in
 * chunk_cxt and freed after it.  Batches are read from the queue
 * TAKE_FETCH at a time.
 */
#define APPLY_CHUNK 8192
#define APPLY_CHUNK_BYTES (2 * 1024 * 1024)
#define APPLY_SORT_MEM_KB 16384
#define TAKE_FETCH 16

/*
 * After a round failed because of a batch, its batches are tried in
 * growing groups (1, 2, 4, ... batches; a failing group is halved) to find
 * the failing ones, each group in a subtransaction.  At most
 * MAX_RETRY_ATTEMPTS such subtransactions run in one transaction (a
 * committed subtransaction keeps a little memory until the top-level
 * commit); the batches left over go to the next round.
 */
#define MAX_RETRY_ATTEMPTS 256

static MemoryContext chunk_cxt = NULL;

/* Columns of the round's item sort */
#define SORT_SKU		1
#define SORT_WH			2
#define SORT_SEQ		3
#define SORT_BATCH		4
#define SORT_POS		5
#define SORT_CREATE		6
#define SORT_AVAIL		7
#define SORT_VALUE		8
#define SORT_BIN		9
#define SORT_COST		10
#define SORT_DESC		11
#define SORT_ROLE		12
#define SORT_NATTS		12

/* How a round writes its ledger rows */
typedef struct RoundLedger
{
	bool		started;		/* ids reserved, writer chosen */
	InventoryLedgerAppender *appender;	/* or NULL: INSERT statements */
} RoundLedger;

/* Prepared statements, kept for the session */
typedef struct ApplyPlans
{
	Oid			nspid;
	char		queue_name[2 * NAMEDATALEN + 8];	/* detects schema renames */
	SPIPlanPtr	candidates;
	SPIPlanPtr	take;
	SPIPlanPtr	lock_rows;
	SPIPlanPtr	write_rows;
	SPIPlanPtr	insert_rows;
	SPIPlanPtr	ledger;
	SPIPlanPtr	skipped;
	SPIPlanPtr	sort_skipped;
	SPIPlanPtr	mark_failed;
} ApplyPlans;

static ApplyPlans plans = {InvalidOid};

/* "unnest($n)" for n in first .. first + count - 1, as one ROWS FROM list */
#define UNNEST2 "pg_catalog.unnest($1), pg_catalog.unnest($2)"
#define UNNEST5 UNNEST2 ", pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5)"
#define UNNEST10 UNNEST5 ", pg_catalog.unnest($6), pg_catalog.unnest($7), " \
	"pg_catalog.unnest($8), pg_catalog.unnest($9), pg_catalog.unnest($10)"

/*
 * Prepare the statements of a round for the extension's schema.
 */
static void
PreparePlans(Oid nspid)
{
	char	   *queue = InventoryQualify(nspid, "inventory_queue");
	char	   *history = InventoryQualify(nspid, "inventory_batch_history");
	char	   *levels = InventoryQualify(nspid, "inventory_levels");
	char	   *ledger = InventoryQualify(nspid, "inventory_ledger");
	char	   *ledger_seq = InventoryQualify(nspid, "inventory_ledger_id_seq");
	Oid			t_int8_int4[2] = {INT8OID, INT4OID};
	Oid			t_int8arr[1] = {INT8ARRAYOID};
	Oid			t_keys[2] = {TEXTARRAYOID, UUIDARRAYOID};
	Oid			t_rows[5] = {TEXTARRAYOID, UUIDARRAYOID, INT8ARRAYOID,
	TEXTARRAYOID, NUMERICARRAYOID};
	Oid			t_ledger[10] = {TEXTARRAYOID, UUIDARRAYOID, INT8ARRAYOID, INT4ARRAYOID,
		TEXTARRAYOID, NAMEARRAYOID, INT8ARRAYOID, INT8ARRAYOID,
	INT8ARRAYOID, INT8ARRAYOID};
	Oid			t_skipped[4] = {INT8ARRAYOID, INT4ARRAYOID, TEXTARRAYOID, UUIDARRAYOID};
	Oid			t_failed[2] = {INT8OID, TEXTOID};

	if (plans.nspid == nspid && strcmp(plans.queue_name, queue) == 0)
		return;
	if (OidIsValid(plans.nspid))
	{
		SPIPlanPtr *all[] = {&plans.candidates, &plans.take, &plans.lock_rows,
			&plans.write_rows, &plans.insert_rows, &plans.ledger,
		&plans.skipped, &plans.sort_skipped, &plans.mark_failed};

		for (int i = 0; i < (int) lengthof(all); i++)
		{
			SPI_freeplan(*all[i]);
			*all[i] = NULL;
		}
		plans.nspid = InvalidOid;
	}

	plans.candidates = InventoryPrepareKept(psprintf(
										"SELECT batch_id, item_count FROM %s "
										"WHERE batch_id OPERATOR(pg_catalog.<=) $1 "
										"ORDER BY batch_id LIMIT $2",
										queue), 2, t_int8_int4);
	plans.take = InventoryPrepareKept(psprintf(
								  "WITH taken AS (DELETE FROM %s q "
								  "  WHERE q.batch_id OPERATOR(pg_catalog.=) ANY ($1) "
								  "  RETURNING q.*, q.xmin AS queued_xid), "
								  "done AS (INSERT INTO %s (batch_id, state, item_count, create_missing, "
								  "  queued_at, queued_by, queued_xid, applied_at) "
								  "  SELECT batch_id, 'applied', item_count, create_missing, "
								  "         queued_at, queued_by, queued_xid, pg_catalog.clock_timestamp() FROM taken) "
								  "SELECT batch_id, items, create_missing, queued_by FROM taken ORDER BY batch_id",
								  queue, history), 1, t_int8arr);
	plans.lock_rows = InventoryPrepareKept(psprintf(
									   "SELECT l.sku, l.warehouse_uuid, l.on_hand, l.reserved, "
									   "  l.bin_location, l.cost "
									   "FROM ROWS FROM (" UNNEST2 ") AS k(sku, wh) "
									   "JOIN %s AS l ON l.sku OPERATOR(pg_catalog.=) k.sku "
									   "  AND l.warehouse_uuid OPERATOR(pg_catalog.=) k.wh "
									   "ORDER BY l.sku, l.warehouse_uuid "
									   "FOR NO KEY UPDATE OF l",
									   levels), 2, t_keys);
	plans.write_rows = InventoryPrepareKept(psprintf(
										"UPDATE %s AS l SET on_hand = k.on_hand, "
										"  bin_location = COALESCE(k.bin, l.bin_location), "
										"  cost = COALESCE(k.cost, l.cost) "
										"FROM ROWS FROM (" UNNEST5 ") AS k(sku, wh, on_hand, bin, cost) "
										"WHERE l.sku OPERATOR(pg_catalog.=) k.sku "
										"AND l.warehouse_uuid OPERATOR(pg_catalog.=) k.wh "
										"RETURNING l.sku, l.warehouse_uuid, l.on_hand, l.reserved",
										levels), 5, t_rows);
	plans.insert_rows = InventoryPrepareKept(psprintf(
										 "INSERT INTO %s AS l (sku, warehouse_uuid, on_hand, bin_location, cost) "
										 "SELECT k.sku, k.wh, k.on_hand, k.bin, k.cost "
										 "FROM ROWS FROM (" UNNEST5 ") AS k(sku, wh, on_hand, bin, cost) "
										 "ORDER BY k.sku, k.wh "
										 "ON CONFLICT (sku, warehouse_uuid) DO NOTHING "
										 "RETURNING l.sku, l.warehouse_uuid, l.on_hand, l.reserved",
										 levels), 5, t_rows);
	plans.ledger = InventoryPrepareKept(psprintf(
									"INSERT INTO %s (id, at, sku, warehouse_uuid, source, batch_id, item, "
									"  description, role, xid, on_hand_before, on_hand_after, "
									"  reserved_before, reserved_after, available_before, available_after) "
									"SELECT pg_catalog.nextval(%s::pg_catalog.regclass), pg_catalog.now(), "
									"  k.sku, k.wh, 'adjust', k.batch, k.item, k.descr, k.role, "
									"  pg_catalog.pg_current_xact_id(), k.ob, k.oa, k.rb, k.ra, "
									"  k.ob OPERATOR(pg_catalog.-) k.rb, k.oa OPERATOR(pg_catalog.-) k.ra "
									"FROM ROWS FROM (" UNNEST10 ") AS k(sku, wh, batch, item, descr, role, ob, oa, rb, ra)",
									ledger, quote_literal_cstr(ledger_seq)), 10, t_ledger);
	plans.skipped = InventoryPrepareKept(psprintf(
									 "UPDATE %s h SET skipped = COALESCE(h.skipped OPERATOR(pg_catalog.||) s.items, s.items) "
									 "FROM (SELECT k.b, pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
									 "  'item', k.i, 'sku', k.sku, 'warehouse_uuid', k.wh) ORDER BY k.i) AS items "
									 "  FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), "
									 "  pg_catalog.unnest($3), pg_catalog.unnest($4)) AS k(b, i, sku, wh) "
									 "  GROUP BY k.b) s "
									 "WHERE h.batch_id OPERATOR(pg_catalog.=) s.b",
									 history), 4, t_skipped);
	plans.sort_skipped = InventoryPrepareKept(psprintf(
										  "UPDATE %s h SET skipped = (SELECT pg_catalog.jsonb_agg(e.v "
										  "  ORDER BY (e.v OPERATOR(pg_catalog.->>) 'item')::pg_catalog.int4) "
										  "  FROM pg_catalog.jsonb_array_elements(h.skipped) AS e(v)) "
										  "WHERE h.batch_id OPERATOR(pg_catalog.=) ANY ($1) AND h.skipped IS NOT NULL",
										  history), 1, t_int8arr);
	plans.mark_failed = InventoryPrepareKept(psprintf(
										 "WITH taken AS (DELETE FROM %s q "
										 "  WHERE q.batch_id OPERATOR(pg_catalog.=) $1 "
										 "  RETURNING q.*, q.xmin AS queued_xid) "
										 "INSERT INTO %s (batch_id, state, item_count, create_missing, queued_at, "
										 "  queued_by, queued_xid, applied_at, error, items) "
										 "SELECT batch_id, 'failed', item_count, create_missing, queued_at, "
										 "       queued_by, queued_xid, pg_catalog.clock_timestamp(), $2, items FROM taken",
										 queue, history), 2, t_failed);
	plans.nspid = nspid;
	strlcpy(plans.queue_name, queue, sizeof(plans.queue_name));
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
 * Order of (sku, warehouse) keys: bytewise sku (collation "C", as the
 * table's), then uuid.
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

/*
 * Order of two items' keys.
 */
static int
CompareItemKeys(const ApplyItem *x, const ApplyItem *y)
{
	return CompareKey(x->sku, x->skulen, &x->wh, y->sku, y->skulen, &y->wh);
}

/*
 * Text of an optional string field of an item object, or NULL.
 */
static text *
ItemText(JsonbContainer *obj, const char *field)
{
	JsonbValue	buf;
	JsonbValue *v = getKeyJsonValueFromContainer(obj, field, strlen(field), &buf);

	if (v == NULL || v->type != jbvString)
		return NULL;
	return cstring_to_text_with_len(v->val.string.val, v->val.string.len);
}

/*
 * Put the items of one queued batch into the round's sort, numbered on
 * from *seq (queue order).  Allocates in the current memory context.
 */
static void
SortBatchItems(Tuplesortstate *sort, TupleTableSlot *slot, Jsonb *batch,
			   int64 batch_id, bool create_missing, Datum queued_by, int64 *seq)
{
	JsonbContainer *arr = &batch->root;
	int			n = JsonContainerSize(arr);
	ApplyItem	itembuf;

	for (int i = 0; i < n; i++)
	{
		JsonbValue *elem = getIthJsonbValueFromContainer(arr, i);
		JsonbContainer *obj;
		JsonbValue	buf;		/* lookups reuse it: strings point into batch */
		JsonbValue *v;
		ApplyItem  *item = &itembuf;
		bool		overflow = false;

		if (elem->type != jbvBinary || !JsonContainerIsObject(elem->val.binary.data))
			elog(ERROR, "queued item %d is not an object", i + 1);
		obj = elem->val.binary.data;
		pfree(elem);
		memset(item, 0, sizeof(*item));
		item->batch_id = batch_id;
		item->pos = i + 1;
		item->create_missing = create_missing;

		v = getKeyJsonValueFromContainer(obj, "sku", 3, &buf);
		if (v == NULL || v->type != jbvString)
			elog(ERROR, "queued item %d has no sku", i + 1);
		item->sku = v->val.string.val;
		item->skulen = v->val.string.len;

		v = getKeyJsonValueFromContainer(obj, "warehouse_uuid", 14, &buf);
		if (v == NULL || v->type != jbvString ||
			!InventoryParseUuid(v->val.string.val, v->val.string.len, &item->wh))
			elog(ERROR, "queued item %d has no valid warehouse_uuid", i + 1);

		v = getKeyJsonValueFromContainer(obj, "on_hand", 7, &buf);
		if (v == NULL)
		{
			v = getKeyJsonValueFromContainer(obj, "available", 9, &buf);
			item->is_available = true;
		}
		if (v == NULL || v->type != jbvNumeric)
			elog(ERROR, "queued item %d has no quantity", i + 1);
		item->value = numeric_int4_opt_error(v->val.numeric, &overflow);
		if (overflow)
			elog(ERROR, "queued item %d has an out-of-range quantity", i + 1);

		item->bin_location = ItemText(obj, "bin_location");
		item->description = ItemText(obj, "description");
		v = getKeyJsonValueFromContainer(obj, "cost", 4, &buf);
		if (v != NULL && v->type == jbvNumeric)
			item->cost = v->val.numeric;

		ExecClearTuple(slot);
		memset(slot->tts_isnull, false, sizeof(bool) * SORT_NATTS);
		slot->tts_values[SORT_SKU - 1] =
			PointerGetDatum(cstring_to_text_with_len(item->sku, item->skulen));
		slot->tts_values[SORT_WH - 1] = UUIDPGetDatum(&item->wh);
		slot->tts_values[SORT_SEQ - 1] = Int64GetDatum((*seq)++);
		slot->tts_values[SORT_BATCH - 1] = Int64GetDatum(batch_id);
		slot->tts_values[SORT_POS - 1] = Int32GetDatum(item->pos);
		slot->tts_values[SORT_CREATE - 1] = BoolGetDatum(create_missing);
		slot->tts_values[SORT_AVAIL - 1] = BoolGetDatum(item->is_available);
		slot->tts_values[SORT_VALUE - 1] = Int32GetDatum(item->value);
		slot->tts_values[SORT_BIN - 1] = PointerGetDatum(item->bin_location);
		slot->tts_isnull[SORT_BIN - 1] = (item->bin_location == NULL);
		slot->tts_values[SORT_COST - 1] = NumericGetDatum(item->cost);
		slot->tts_isnull[SORT_COST - 1] = (item->cost == NULL);
		slot->tts_values[SORT_DESC - 1] = PointerGetDatum(item->description);
		slot->tts_isnull[SORT_DESC - 1] = (item->description == NULL);
		slot->tts_values[SORT_ROLE - 1] = queued_by;
		ExecStoreVirtualTuple(slot);
		tuplesort_puttupleslot(sort, slot);
	}
}

/*
 * The descriptor of the round's item sort.
 */
static TupleDesc
ItemSortDesc(void)
{
	TupleDesc	desc = CreateTemplateTupleDesc(SORT_NATTS);

	TupleDescInitEntry(desc, SORT_SKU, "sku", TEXTOID, -1, 0);
	TupleDescInitEntryCollation(desc, SORT_SKU, C_COLLATION_OID);
	TupleDescInitEntry(desc, SORT_WH, "warehouse_uuid", UUIDOID, -1, 0);
	TupleDescInitEntry(desc, SORT_SEQ, "seq", INT8OID, -1, 0);
	TupleDescInitEntry(desc, SORT_BATCH, "batch_id", INT8OID, -1, 0);
	TupleDescInitEntry(desc, SORT_POS, "item", INT4OID, -1, 0);
	TupleDescInitEntry(desc, SORT_CREATE, "create_missing", BOOLOID, -1, 0);
	TupleDescInitEntry(desc, SORT_AVAIL, "is_available", BOOLOID, -1, 0);
	TupleDescInitEntry(desc, SORT_VALUE, "value", INT4OID, -1, 0);
	TupleDescInitEntry(desc, SORT_BIN, "bin_location", TEXTOID, -1, 0);
	TupleDescInitEntry(desc, SORT_COST, "cost", NUMERICOID, -1, 0);
	TupleDescInitEntry(desc, SORT_DESC, "description", TEXTOID, -1, 0);
	TupleDescInitEntry(desc, SORT_ROLE, "queued_by", NAMEOID, -1, 0);
	return desc;
}

/*
 * Start the round's item sort: by sku (bytewise), warehouse, then queue
 * order, in at most APPLY_SORT_MEM_KB of memory (then on disk).
 */
static Tuplesortstate *
BeginItemSort(TupleDesc desc)
{
	AttrNumber	attnums[3] = {SORT_SKU, SORT_WH, SORT_SEQ};
	Oid			ops[3];
	Oid			colls[3] = {C_COLLATION_OID, InvalidOid, InvalidOid};
	bool		nullsfirst[3] = {false, false, false};
	Oid			types[3] = {TEXTOID, UUIDOID, INT8OID};

	for (int i = 0; i < 3; i++)
		ops[i] = lookup_type_cache(types[i], TYPECACHE_LT_OPR)->lt_opr;
#if PG_VERSION_NUM >= 150000
	return tuplesort_begin_heap(desc, 3, attnums, ops, colls, nullsfirst,
								APPLY_SORT_MEM_KB, NULL, TUPLESORT_NONE);
#else
	return tuplesort_begin_heap(desc, 3, attnums, ops, colls, nullsfirst,
								APPLY_SORT_MEM_KB, NULL, false);
#endif
}

/*
 * Whether the sorted item in the slot has another key than *item.
 */
static bool
SlotKeyDiffers(TupleTableSlot *slot, const ApplyItem *item)
{
	text	   *sku;

	slot_getsomeattrs(slot, SORT_WH);
	sku = DatumGetTextPP(slot->tts_values[SORT_SKU - 1]);
	return CompareKey(VARDATA_ANY(sku), VARSIZE_ANY_EXHDR(sku),
					  DatumGetUUIDP(slot->tts_values[SORT_WH - 1]),
					  item->sku, item->skulen, &item->wh) != 0;
}

/*
 * Read a sorted item from the slot into *item, copying what it points to
 * into the current memory context.
 */
static void
DecodeItem(TupleTableSlot *slot, ApplyItem *item)
{
	Datum	   *v;
	bool	   *n;
	text	   *sku;

	slot_getallattrs(slot);
	v = slot->tts_values;
	n = slot->tts_isnull;
	memset(item, 0, sizeof(*item));
	sku = DatumGetTextPP(v[SORT_SKU - 1]);
	item->skulen = VARSIZE_ANY_EXHDR(sku);
	item->sku = pnstrdup(VARDATA_ANY(sku), item->skulen);
	memcpy(&item->wh, DatumGetUUIDP(v[SORT_WH - 1]), sizeof(pg_uuid_t));
	item->batch_id = DatumGetInt64(v[SORT_BATCH - 1]);
	item->pos = DatumGetInt32(v[SORT_POS - 1]);
	item->create_missing = DatumGetBool(v[SORT_CREATE - 1]);
	item->is_available = DatumGetBool(v[SORT_AVAIL - 1]);
	item->value = DatumGetInt32(v[SORT_VALUE - 1]);
	if (!n[SORT_BIN - 1])
		item->bin_location = DatumGetTextPCopy(v[SORT_BIN - 1]);
	if (!n[SORT_COST - 1])
		item->cost = DatumGetNumericCopy(v[SORT_COST - 1]);
	if (!n[SORT_DESC - 1])
		item->description = DatumGetTextPCopy(v[SORT_DESC - 1]);
	item->queued_by = palloc(NAMEDATALEN);
	memcpy((char *) item->queued_by, DatumGetName(v[SORT_ROLE - 1]), NAMEDATALEN);
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
 * The key of a result row whose first two columns are sku and warehouse.
 */
static ApplyKey *
RowKey(ApplyKey *keys, int nkeys, HeapTuple tup, TupleDesc desc)
{
	bool		isnull;
	text	   *sku = DatumGetTextPP(SPI_getbinval(tup, desc, 1, &isnull));
	pg_uuid_t  *wh = DatumGetUUIDP(SPI_getbinval(tup, desc, 2, &isnull));
	ApplyKey   *k = FindKey(keys, nkeys, VARDATA_ANY(sku), VARSIZE_ANY_EXHDR(sku), wh);

	/* a trigger the owner added changed the key of a row being written */
	if (k == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_TRIGGERED_DATA_CHANGE_VIOLATION),
				 errmsg("inventory level row (\"%s\", %s) was not one the batch writes",
						text_to_cstring(sku),
						DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(wh)))),
				 errdetail("A trigger on inventory_levels changed the key of a row the apply wrote.")));
	return k;
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
 * Run one of the apply's own writes of inventory_levels: the ledger
 * trigger skips it (the apply writes a ledger row per item itself), but
 * not the writes that triggers added by the owner make meanwhile
 * (statement_origin.c).
 */
static void
ExecuteOwnWrite(SPIPlanPtr plan, Datum *args, int expected)
{
	int			save = InventoryApplyStatementsBegin();

	PG_TRY();
	{
		Execute(plan, args, expected);
	}
	PG_FINALLY();
	{
		InventoryApplyStatementsEnd(save);
	}
	PG_END_TRY();
}

/*
 * Whether two optional varlena values (text, numeric) are the same bytes.
 */
static bool
SameVarlena(void *a, void *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
		memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) == 0;
}

/*
 * Work out what the items of one key do, in order, starting from the row
 * as it is (k->found, and the values read under its lock): which are
 * skipped, each one's values before and after, and what must be written.
 * A row that would not change is not written.
 */
static void
EvaluateKey(ApplyKey *k, ApplyItem *items)
{
	bool		exists = k->found;
	int64		on_hand = k->found ? k->on_hand : 0;
	int64		reserved = k->found ? k->reserved : 0;
	bool		applied = false;

	k->bin_location = NULL;
	k->cost = NULL;
	for (int i = k->first; i <= k->last; i++)
	{
		ApplyItem  *it = &items[i];

		it->skipped = !exists && !it->create_missing;
		if (it->skipped)
			continue;
		exists = true;
		it->on_hand_before = on_hand;
		it->reserved_before = reserved;
		it->reserved_after = reserved;
		if (!it->is_available)
			on_hand = it->value;
		else if (pg_add_s64_overflow(it->value, reserved, &on_hand))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("on_hand would be out of range for sku \"%.*s\"",
							it->skulen, it->sku)));
		it->on_hand_after = on_hand;
		if (it->bin_location)
			k->bin_location = it->bin_location;
		if (it->cost)
			k->cost = it->cost;
		applied = true;
	}
	k->final_on_hand = on_hand;
	if (k->found)
		k->write = applied &&
			(on_hand != k->on_hand ||
			 (k->bin_location != NULL && !SameVarlena(k->bin_location, k->row_bin)) ||
			 (k->cost != NULL && !SameVarlena(k->cost, k->row_cost)));
	else
		k->write = applied;
}

/*
 * Start building a statement's arguments in the chunk memory context,
 * which is reset after the statement (ChunkEnd).
 */
static MemoryContext
ChunkBegin(void)
{
	return MemoryContextSwitchTo(chunk_cxt);
}

/*
 * Free what a statement's arguments took.
 */
static void
ChunkEnd(MemoryContext old)
{
	MemoryContextSwitchTo(old);
	MemoryContextReset(chunk_cxt);
}

/*
 * Lock the existing rows of the keys that are neither found nor settled,
 * in key order, and read their values (under the lock, so that reserved
 * cannot change until we commit).  The keys whose row exists are marked
 * found.  Allocates the values read in keys_cxt.
 */
static void
LockKeyRows(ApplyKey *keys, int nkeys, MemoryContext keys_cxt)
{
	MemoryContext old = ChunkBegin();
	Datum	   *skus = palloc(sizeof(Datum) * nkeys);
	Datum	   *whs = palloc(sizeof(Datum) * nkeys);
	int			n = 0;
	Datum		args[2];

	for (int i = 0; i < nkeys; i++)
	{
		ApplyKey   *k = &keys[i];

		if (k->found || k->settled)
			continue;
		skus[n] = PointerGetDatum(cstring_to_text_with_len(k->sku, k->skulen));
		whs[n] = UUIDPGetDatum(&k->wh);
		n++;
	}
	if (n > 0)
	{
		args[0] = MakeArray(skus, NULL, n, TEXTOID);
		args[1] = MakeArray(whs, NULL, n, UUIDOID);
		Execute(plans.lock_rows, args, SPI_OK_SELECT);
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			ApplyKey   *k = RowKey(keys, nkeys, tup, desc);
			bool		isnull;
			Datum		d;

			k->found = true;
			k->on_hand = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
			k->reserved = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
			MemoryContextSwitchTo(keys_cxt);
			d = SPI_getbinval(tup, desc, 5, &isnull);
			k->row_bin = isnull ? NULL : DatumGetTextPCopy(d);
			d = SPI_getbinval(tup, desc, 6, &isnull);
			k->row_cost = isnull ? NULL : DatumGetNumericCopy(d);
			MemoryContextSwitchTo(chunk_cxt);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	ChunkEnd(old);
}

/*
 * Settle the keys whose rows a write returned: their after values are the
 * row as written, whatever triggers the owner added did to it.
 */
static void
SettleReturned(ApplyKey *keys, int nkeys)
{
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		ApplyKey   *k = RowKey(keys, nkeys, tup, desc);
		bool		isnull;

		k->found = true;
		k->settled = true;
		k->after_on_hand = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
		k->after_reserved = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);
}

/*
 * Write the rows of the keys found and not settled: with their final
 * values when they change, else not at all.  Settles them.
 */
static void
WriteRows(ApplyKey *keys, int nkeys, bool insert)
{
	MemoryContext old = ChunkBegin();
	Oid			types[5] = {TEXTOID, UUIDOID, INT8OID, TEXTOID, NUMERICOID};
	Datum	   *v[5];
	bool	   *binnull = palloc(sizeof(bool) * nkeys);
	bool	   *costnull = palloc(sizeof(bool) * nkeys);
	Datum		args[5];
	int			n = 0;

	for (int c = 0; c < 5; c++)
		v[c] = palloc(sizeof(Datum) * nkeys);
	for (int i = 0; i < nkeys; i++)
	{
		ApplyKey   *k = &keys[i];

		if (k->settled || k->found == insert)
			continue;
		if (!k->write)
		{
			/* nothing to write (or every item skipped): the row stays */
			k->settled = true;
			k->after_on_hand = k->on_hand;
			k->after_reserved = k->reserved;
			continue;
		}
		v[0][n] = PointerGetDatum(cstring_to_text_with_len(k->sku, k->skulen));
		v[1][n] = UUIDPGetDatum(&k->wh);
		v[2][n] = Int64GetDatum(k->final_on_hand);
		v[3][n] = PointerGetDatum(k->bin_location);
		binnull[n] = (k->bin_location == NULL);
		v[4][n] = NumericGetDatum(k->cost);
		costnull[n] = (k->cost == NULL);
		n++;
	}
	if (n > 0)
	{
		for (int c = 0; c < 5; c++)
			args[c] = MakeArray(v[c], c == 3 ? binnull : (c == 4 ? costnull : NULL),
								n, types[c]);
		ExecuteOwnWrite(insert ? plans.insert_rows : plans.write_rows, args,
						insert ? SPI_OK_INSERT_RETURNING : SPI_OK_UPDATE_RETURNING);
		SettleReturned(keys, nkeys);
	}
	ChunkEnd(old);

	/*
	 * An existing row the UPDATE did not return was left alone by a BEFORE
	 * trigger the owner added (it returned NULL): it keeps its values.
	 */
	if (!insert)
		for (int i = 0; i < nkeys; i++)
		{
			ApplyKey   *k = &keys[i];

			if (k->found && !k->settled)
			{
				k->settled = true;
				k->after_on_hand = k->on_hand;
				k->after_reserved = k->reserved;
			}
		}
}

/*
 * Lock, evaluate and write the rows of a chunk's keys: existing rows
 * first, then the missing rows that items create.  A row someone else
 * created meanwhile is locked, evaluated again and updated; a row a BEFORE
 * INSERT trigger of the owner suppressed stays missing.
 */
static void
WriteKeys(ApplyKey *keys, int nkeys, ApplyItem *items, MemoryContext keys_cxt)
{
	LockKeyRows(keys, nkeys, keys_cxt);
	for (int i = 0; i < nkeys; i++)
		EvaluateKey(&keys[i], items);
	WriteRows(keys, nkeys, false);
	WriteRows(keys, nkeys, true);

	/* the keys still unsettled lost the race for their insert */
	LockKeyRows(keys, nkeys, keys_cxt);
	for (int i = 0; i < nkeys; i++)
	{
		ApplyKey   *k = &keys[i];

		if (k->settled)
			continue;
		if (k->found)
			EvaluateKey(k, items);
		else
		{
			/* the insert was suppressed: the row is still missing */
			k->settled = true;
			k->after_on_hand = 0;
			k->after_reserved = 0;
		}
	}
	WriteRows(keys, nkeys, false);
}

/*
 * Write the ledger rows of WriteLedger with an INSERT statement.
 */
static void
WriteLedgerByInsert(ApplyItem *items, int nitems)
{
	MemoryContext old = ChunkBegin();
	Oid			types[10] = {TEXTOID, UUIDOID, INT8OID, INT4OID, TEXTOID, NAMEOID,
	INT8OID, INT8OID, INT8OID, INT8OID};
	Datum	   *v[10];
	bool	   *descnull = palloc(sizeof(bool) * nitems);
	Datum		args[10];
	int			n = 0;

	for (int c = 0; c < 10; c++)
		v[c] = palloc(sizeof(Datum) * nitems);
	for (int i = 0; i < nitems; i++)
	{
		ApplyItem  *it = &items[i];

		if (it->skipped)
			continue;
		v[0][n] = PointerGetDatum(cstring_to_text_with_len(it->sku, it->skulen));
		v[1][n] = UUIDPGetDatum(&it->wh);
		v[2][n] = Int64GetDatum(it->batch_id);
		v[3][n] = Int32GetDatum(it->pos);
		v[4][n] = PointerGetDatum(it->description);
		descnull[n] = (it->description == NULL);
		v[5][n] = CStringGetDatum(it->queued_by);
		v[6][n] = Int64GetDatum(it->on_hand_before);
		v[7][n] = Int64GetDatum(it->on_hand_after);
		v[8][n] = Int64GetDatum(it->reserved_before);
		v[9][n] = Int64GetDatum(it->reserved_after);
		n++;
	}
	if (n > 0)
	{
		for (int c = 0; c < 10; c++)
			args[c] = MakeArray(v[c], c == 4 ? descnull : NULL, n, types[c]);
		Execute(plans.ledger, args, SPI_OK_INSERT);
	}
	ChunkEnd(old);
}

/*
 * Record a ledger row for every applied item, in key order then item
 * order, while the rows are locked: appended directly when the ledger is
 * as the extension made it (ledger_append.c), else with an INSERT.
 */
static void
WriteLedger(Oid nspid, RoundLedger *ledger, ApplyItem *items, int nitems)
{
	bool		any = false;

	for (int i = 0; i < nitems && !any; i++)
		any = !items[i].skipped;
	if (!any)
		return;
	if (!ledger->started)
	{
		InventoryLedgerReserveIds(nspid);
		ledger->appender = InventoryLedgerAppendBegin(nspid);
		ledger->started = true;
	}
	if (ledger->appender == NULL)
	{
		WriteLedgerByInsert(items, nitems);
		return;
	}
	for (int i = 0; i < nitems; i++)
	{
		ApplyItem  *it = &items[i];
		InventoryLedgerRow row;

		if (it->skipped)
			continue;
		row.sku = it->sku;
		row.skulen = it->skulen;
		row.wh = &it->wh;
		row.batch_id = it->batch_id;
		row.item = it->pos;
		row.description = it->description;
		row.role = it->queued_by;
		row.on_hand_before = it->on_hand_before;
		row.on_hand_after = it->on_hand_after;
		row.reserved_before = it->reserved_before;
		row.reserved_after = it->reserved_after;
		InventoryLedgerAppendRow(ledger->appender, &row);
	}
}

/*
 * Record the skipped items of each batch in its history row, appending in
 * item order (ApplyBatches sorts them at the end of the round).
 */
static void
WriteSkipped(ApplyItem *items, int nitems)
{
	MemoryContext old = ChunkBegin();
	Oid			types[4] = {INT8OID, INT4OID, TEXTOID, UUIDOID};
	Datum	   *v[4];
	Datum		args[4];
	int			n = 0;

	for (int c = 0; c < 4; c++)
		v[c] = palloc(sizeof(Datum) * nitems);
	for (int i = 0; i < nitems; i++)
	{
		ApplyItem  *it = &items[i];

		if (!it->skipped)
			continue;
		v[0][n] = Int64GetDatum(it->batch_id);
		v[1][n] = Int32GetDatum(it->pos);
		v[2][n] = PointerGetDatum(cstring_to_text_with_len(it->sku, it->skulen));
		v[3][n] = UUIDPGetDatum(&it->wh);
		n++;
	}
	if (n > 0)
	{
		for (int c = 0; c < 4; c++)
			args[c] = MakeArray(v[c], NULL, n, types[c]);
		Execute(plans.skipped, args, SPI_OK_UPDATE);
	}
	ChunkEnd(old);
}

/*
 * Apply a chunk of items, sorted by key then queue order (a key's items
 * may go on in the next chunk).  What it needs about the keys is
 * allocated in items_cxt, which holds the items and is reset after the
 * chunk.  Returns the number of items applied (not skipped).
 */
static int64
ApplyChunk(Oid nspid, RoundLedger *ledger, ApplyItem *items, int nitems, bool *skipped,
		   MemoryContext items_cxt)
{
	ApplyKey   *keys;
	int			nkeys = 0;
	int64		applied = 0;

	for (int i = 0; i < nitems; i++)
		if (i == 0 || CompareItemKeys(&items[i - 1], &items[i]) != 0)
			nkeys++;
	keys = MemoryContextAllocZero(items_cxt, sizeof(ApplyKey) * nkeys);
	nkeys = 0;
	for (int i = 0; i < nitems; i++)
	{
		ApplyItem  *it = &items[i];

		if (i == 0 || CompareItemKeys(&items[i - 1], it) != 0)
		{
			ApplyKey   *k = &keys[nkeys++];

			k->sku = it->sku;
			k->skulen = it->skulen;
			k->wh = it->wh;
			k->first = i;
		}
		keys[nkeys - 1].last = i;
	}

	WriteKeys(keys, nkeys, items, items_cxt);

	/*
	 * A key's items chain from the values read under the lock; its last
	 * applied item ends at the row as actually written, so that a trigger
	 * the owner added that changes the row is recorded as it acted.
	 */
	for (int i = 0; i < nkeys; i++)
	{
		ApplyKey   *k = &keys[i];

		for (int j = k->last; j >= k->first; j--)
		{
			if (items[j].skipped)
				continue;
			items[j].on_hand_after = k->after_on_hand;
			items[j].reserved_after = k->after_reserved;
			break;
		}
	}

	WriteLedger(nspid, ledger, items, nitems);
	WriteSkipped(items, nitems);

	for (int i = 0; i < nitems; i++)
	{
		if (items[i].skipped)
			*skipped = true;
		else
			applied++;
	}
	return applied;
}

/*
 * Move the given batches (an array of ids in ascending order) from the
 * queue to the history and put their items into the sort.  The batches are
 * read through a cursor, a few at a time.
 */
static void
TakeBatches(Datum *idarr, Tuplesortstate *sort, TupleDesc desc)
{
	Portal		portal;
	TupleTableSlot *slot = MakeSingleTupleTableSlot(desc, &TTSOpsVirtual);
	MemoryContext batch_cxt = AllocSetContextCreate(CurrentMemoryContext,
													"inventory apply batch",
													ALLOCSET_DEFAULT_SIZES);
	int64		seq = 0;

	portal = SPI_cursor_open(NULL, plans.take, idarr, NULL, false);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, TAKE_FETCH);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];
			TupleDesc	tdesc = SPI_tuptable->tupdesc;
			bool		isnull;
			MemoryContext old = MemoryContextSwitchTo(batch_cxt);

			SortBatchItems(sort, slot,
						   DatumGetJsonbP(SPI_getbinval(tup, tdesc, 2, &isnull)),
						   DatumGetInt64(SPI_getbinval(tup, tdesc, 1, &isnull)),
						   DatumGetBool(SPI_getbinval(tup, tdesc, 3, &isnull)),
						   SPI_getbinval(tup, tdesc, 4, &isnull), &seq);
			MemoryContextSwitchTo(old);
			MemoryContextReset(batch_cxt);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	ExecDropSingleTupleTableSlot(slot);
	MemoryContextDelete(batch_cxt);
}

/*
 * Memory an item takes in a chunk, roughly.
 */
static Size
ItemBytes(const ApplyItem *it)
{
	return sizeof(ApplyItem) + it->skulen + NAMEDATALEN +
		(it->bin_location ? VARSIZE(it->bin_location) : 0) +
		(it->cost ? VARSIZE(it->cost) : 0) +
		(it->description ? VARSIZE(it->description) : 0);
}

/*
 * Apply the given batches (ids in ascending order) in the current
 * (sub)transaction.  Returns the number of items applied (not skipped).
 * Allocates in the current memory context, which the caller frees.
 */
static int64
ApplyBatches(Oid nspid, int64 *ids, int nids)
{
	TupleDesc	desc = ItemSortDesc();
	Tuplesortstate *sort = BeginItemSort(desc);
	TupleTableSlot *slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	MemoryContext items_cxt = AllocSetContextCreate(CurrentMemoryContext,
													"inventory apply items",
													ALLOCSET_DEFAULT_SIZES);
	RoundLedger ledger = {false, NULL};
	Datum	   *iddatums = palloc(sizeof(Datum) * nids);
	Datum		idarr[1];
	ApplyItem  *items = NULL;
	int			nitems = 0;
	int			maxitems = 0;
	Size		bytes = 0;
	bool		skipped = false;
	int64		applied = 0;

	chunk_cxt = AllocSetContextCreate(CurrentMemoryContext, "inventory apply chunk",
									  ALLOCSET_DEFAULT_SIZES);
	for (int i = 0; i < nids; i++)
		iddatums[i] = Int64GetDatum(ids[i]);
	idarr[0] = MakeArray(iddatums, NULL, nids, INT8OID);
	TakeBatches(idarr, sort, desc);
	tuplesort_performsort(sort);

	/* Apply the sorted items in chunks of whole keys. */
	for (;;)
	{
		bool		more = tuplesort_gettupleslot(sort, true, false, slot, NULL);
		MemoryContext old;

		/*
		 * A chunk ends at the end, or once full (in items or bytes), where
		 * the next key starts if that comes soon, else anywhere: a key's
		 * items then go on in the next chunk.
		 */
		if (nitems > 0 &&
			(!more ||
			 nitems >= 2 * APPLY_CHUNK || bytes >= 2 * APPLY_CHUNK_BYTES ||
			 ((nitems >= APPLY_CHUNK || bytes >= APPLY_CHUNK_BYTES) &&
			  SlotKeyDiffers(slot, &items[nitems - 1]))))
		{
			applied += ApplyChunk(nspid, &ledger, items, nitems, &skipped, items_cxt);
			MemoryContextReset(items_cxt);
			items = NULL;
			nitems = 0;
			maxitems = 0;
			bytes = 0;
		}
		if (!more)
			break;
		if (nitems == maxitems)
		{
			maxitems = Max(1024, maxitems * 2);
			items = items
				? repalloc(items, sizeof(ApplyItem) * maxitems)
				: MemoryContextAlloc(items_cxt, sizeof(ApplyItem) * maxitems);
		}
		old = MemoryContextSwitchTo(items_cxt);
		DecodeItem(slot, &items[nitems]);
		MemoryContextSwitchTo(old);
		bytes += ItemBytes(&items[nitems++]);
	}

	if (ledger.appender)
		InventoryLedgerAppendEnd(ledger.appender);
	/* chunks recorded skipped items in key order: put them in item order */
	if (skipped)
		Execute(plans.sort_skipped, idarr, SPI_OK_UPDATE);
	ExecDropSingleTupleTableSlot(slot);
	tuplesort_end(sort);
	MemoryContextDelete(items_cxt);
	MemoryContextDelete(chunk_cxt);
	chunk_cxt = NULL;
	return applied;
}

/*
 * Whether an error is the batch's fault rather than a passing condition,
 * after which the round is retried rather than its batches marked failed.
 *
 * Passing: a deadlock or serialization failure, a lock or statement
 * timeout, a cancel or shutdown, a lack of resources, an I/O or internal
 * error, and a fault of the extension's own bookkeeping (a ledger id taken
 * twice after a restore without inventory.restoring).  Everything else
 * (bad data, a constraint, a trigger or rule the owner added to any table
 * the apply writes, a table changed under it) is the batch's: retrying it
 * would only wedge the queue, so it is recorded as failed with its error
 * and later batches go on.
 */
static bool
ErrorIsBatchFault(ErrorData *edata)
{
	if (edata->sqlerrcode == ERRCODE_UNIQUE_VIOLATION &&
		edata->constraint_name != NULL &&
		strcmp(edata->constraint_name, "inventory_ledger_pkey") == 0)
		return false;
	if (edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE ||
		edata->sqlerrcode == ERRCODE_OBJECT_IN_USE)
		return false;
	switch (ERRCODE_TO_CATEGORY(edata->sqlerrcode))
	{
		case ERRCODE_CONNECTION_EXCEPTION:
		case ERRCODE_INVALID_TRANSACTION_STATE:
		case ERRCODE_SAVEPOINT_EXCEPTION:
		case ERRCODE_TRANSACTION_ROLLBACK:
		case ERRCODE_INSUFFICIENT_RESOURCES:
		case ERRCODE_OPERATOR_INTERVENTION:
		case ERRCODE_SYSTEM_ERROR:
		case ERRCODE_SNAPSHOT_TOO_OLD:
		case ERRCODE_CONFIG_FILE_ERROR:
		case ERRCODE_INTERNAL_ERROR:
			return false;
		default:
			return true;
	}
}

/* Outcome of TryApply */
typedef enum TryResult
{
	TRY_APPLIED,
	TRY_FAILED,					/* a batch's fault: *error says what */
	TRY_TOO_BIG					/* out of memory: try fewer batches */
} TryResult;

/*
 * Run ApplyBatches in a subtransaction and a memory context of its own,
 * both gone when it returns (a committed subtransaction keeps only what
 * the transaction needs).  On an error that is the batches' fault returns
 * TRY_FAILED with *error set (allocated in the caller's context); on
 * running out of memory with several batches, TRY_TOO_BIG; any other error
 * is re-thrown.
 */
static TryResult
TryApply(Oid nspid, int64 *ids, int nids, int64 *nitems, char **error)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	MemoryContext attempt_cxt = AllocSetContextCreate(oldcontext, "inventory apply attempt",
													  ALLOCSET_DEFAULT_SIZES);
	volatile TryResult result = TRY_APPLIED;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(attempt_cxt);
	PG_TRY();
	{
		*nitems = ApplyBatches(nspid, ids, nids);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		MemoryContextDelete(attempt_cxt);
		chunk_cxt = NULL;

		if (edata->sqlerrcode == ERRCODE_OUT_OF_MEMORY && nids > 1)
			return TRY_TOO_BIG;
		/* Not the batches' fault: end this round, the caller retries. */
		if (!ErrorIsBatchFault(edata))
			ReThrowError(edata);

		*error = edata->detail
			? psprintf("%s (SQLSTATE %s): %s", edata->message,
					   unpack_sql_state(edata->sqlerrcode), edata->detail)
			: psprintf("%s (SQLSTATE %s)", edata->message,
					   unpack_sql_state(edata->sqlerrcode));
		FreeErrorData(edata);
		result = TRY_FAILED;
	}
	PG_END_TRY();
	if (result == TRY_APPLIED)
		MemoryContextDelete(attempt_cxt);
	return result;
}

/*
 * After the round's batches failed together, find the ones at fault:
 * try them in groups of 1, 2, 4, ... while they apply; a group that fails
 * is halved until the failing batch is alone, which is recorded as failed
 * with its error.  Stops after MAX_RETRY_ATTEMPTS subtransactions, leaving
 * the rest for the next round.
 */
static void
FindFailingBatches(Oid nspid, int64 *ids, int32 *counts, int nids,
				   InventoryApplyResult *result)
{
	int			pos = 0;
	int			step = 1;
	int			attempts = 0;

	while (pos < nids)
	{
		int			n = Min(step, nids - pos);
		int64		nitems;
		char	   *error = NULL;
		Datum		args[2];

		if (attempts++ >= MAX_RETRY_ATTEMPTS)
		{
			/* the batches left stay queued: count their items back in */
			int64		left = 0;

			for (int i = pos; i < nids; i++)
				left += counts[i];
			InventoryNoteDequeuedItems(-left);
			result->more = true;
			break;
		}
		CHECK_FOR_INTERRUPTS();
		switch (TryApply(nspid, &ids[pos], n, &nitems, &error))
		{
			case TRY_APPLIED:
				result->batches_applied += n;
				result->items_applied += nitems;
				pos += n;
				step = Min(step * 2, 1 << 20);
				continue;
			case TRY_TOO_BIG:
				step = Max(n / 2, 1);
				continue;
			case TRY_FAILED:
				if (n > 1)
				{
					step = n / 2;
					continue;
				}
				break;
		}
		args[0] = Int64GetDatum(ids[pos]);
		args[1] = CStringGetTextDatum(error);
		Execute(plans.mark_failed, args, SPI_OK_INSERT);
		result->batches_failed++;
		ereport(WARNING,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("inventory batch %lld failed", (long long) ids[pos]),
				 errdetail("%s", error),
				 errhint("The batch is recorded as failed in inventory_batches; later batches are applied.")));
		pos++;
		step = 1;
	}
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
	Datum		args[2];

	memset(result, 0, sizeof(*result));
	if (!OidIsValid(queue_relid) || !OidIsValid(seqid))
		return;
	if (!LockRoundRelations(nspid, wait) || !TakeApplyLock(queue_relid, wait))
	{
		result->blocked = true;
		return;
	}
	PreparePlans(nspid);

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
	portal = SPI_cursor_open(NULL, plans.candidates, args, NULL, false);
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
	/* more are eligible if we stopped early or took as many as allowed */
	result->more = full || nids == Min(max_batches, max_items);
	if (nids == 0)
		return;
	/* these items leave the queue if we commit (backpressure.c) */
	InventoryNoteDequeuedItems(items_taken);

	if (TryApply(nspid, ids, nids, &nitems, &error) == TRY_APPLIED)
	{
		result->batches_applied = nids;
		result->items_applied = nitems;
		return;
	}

	/* Something in these batches failed (or they were too many at once). */
	FindFailingBatches(nspid, ids, counts, nids, result);
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
		InventoryApplyRound(nspid, inventory_batch_size, max_batches, true, &result);
		SPI_finish();
		done += result.batches_applied + result.batches_failed;
		if (!result.more)
			break;
	}
	PG_RETURN_INT64(done);
}
