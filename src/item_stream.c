/*-------------------------------------------------------------------------
 *
 * item_stream.c
 *	  Take a round's batches from the queue and stream their items, sorted
 *	  by key, in chunks.
 *
 * The batches move from the queue to the history in one statement, read
 * through a cursor a few at a time.  Their items are decoded by the
 * description of an item (item.c) into a tuplesort, by key then queue
 * order, in at most ITEM_SORT_MEM_KB of memory (then on disk), and read
 * back in chunks of at most CHUNK_ITEMS items and about CHUNK_BYTES of
 * item data.  So the worker's memory does not grow with the size of the
 * round, of the backlog or of one key's items: a key with more items than
 * a chunk holds goes on in the next chunk (its row stays locked).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/tuplesort.h"
#include "utils/typcache.h"

#include "apply.h"

/* Limits of a chunk, and of the sort's memory */
#define CHUNK_ITEMS 8192
#define CHUNK_BYTES (4 * 1024 * 1024)
#define ITEM_SORT_MEM_KB 16384

/* Batches read from the queue at a time */
#define TAKE_FETCH 16

/* Columns of the item sort; the fields' values follow, one column each */
#define S_SKU		1
#define S_WH		2
#define S_SEQ		3
#define S_BATCH		4
#define S_POS		5
#define S_CREATE	6
#define S_ROLE		7
#define S_OP		8
#define S_OPERAND	9
#define S_FIELD(f)	(10 + (f))
#define S_NATTS		S_FIELD(inventory_num_item_fields - 1)

/* Move batches from the queue to the history; their items, in id order */
static InventoryStatement take_batches = {
	.sql = "WITH taken AS (DELETE FROM @extschema@.inventory_queue q "
	"  WHERE q.batch_id OPERATOR(pg_catalog.=) ANY ($1) "
	"  RETURNING q.*, q.xmin AS queued_xid), "
	"done AS (INSERT INTO @extschema@.inventory_batch_history (batch_id, state, item_count, "
	"  create_missing, queued_at, queued_by, queued_xid, applied_at) "
	"  SELECT batch_id, 'applied', item_count, create_missing, "
	"         queued_at, queued_by, queued_xid, pg_catalog.clock_timestamp() FROM taken) "
	"SELECT batch_id, items, create_missing, queued_by FROM taken ORDER BY batch_id",
	.nargs = 1,
	.argtypes = {INT8ARRAYOID}
};

struct InventoryItemStream
{
	TupleDesc	desc;
	Tuplesortstate *sort;
	TupleTableSlot *slot;		/* the next sorted item, once read */
	bool		pending;		/* slot holds an item not yet returned */
	bool		done;
	MemoryContext items_cxt;	/* the current chunk */
	ApplyItem  *items;
	int			maxitems;
};

/*
 * The descriptor of the item sort.
 */
static TupleDesc
ItemSortDesc(void)
{
	TupleDesc	desc = CreateTemplateTupleDesc(S_NATTS);

	TupleDescInitEntry(desc, S_SKU, "sku", TEXTOID, -1, 0);
	TupleDescInitEntryCollation(desc, S_SKU, C_COLLATION_OID);
	TupleDescInitEntry(desc, S_WH, "warehouse_uuid", UUIDOID, -1, 0);
	TupleDescInitEntry(desc, S_SEQ, "seq", INT8OID, -1, 0);
	TupleDescInitEntry(desc, S_BATCH, "batch_id", INT8OID, -1, 0);
	TupleDescInitEntry(desc, S_POS, "item", INT4OID, -1, 0);
	TupleDescInitEntry(desc, S_CREATE, "create_missing", BOOLOID, -1, 0);
	TupleDescInitEntry(desc, S_ROLE, "queued_by", NAMEOID, -1, 0);
	TupleDescInitEntry(desc, S_OP, "operation", INT4OID, -1, 0);
	TupleDescInitEntry(desc, S_OPERAND, "operand", INT8OID, -1, 0);
	for (int f = 0; f < inventory_num_item_fields; f++)
		TupleDescInitEntry(desc, S_FIELD(f), inventory_item_fields[f].name,
						   InventoryValueType(inventory_item_fields[f].kind), -1, 0);
	return desc;
}

/*
 * Start the item sort: by sku (bytewise, as the table's collation "C"),
 * warehouse, then queue order.
 */
static Tuplesortstate *
BeginItemSort(TupleDesc desc)
{
	AttrNumber	attnums[3] = {S_SKU, S_WH, S_SEQ};
	Oid			types[3] = {TEXTOID, UUIDOID, INT8OID};
	Oid			colls[3] = {C_COLLATION_OID, InvalidOid, InvalidOid};
	bool		nullsfirst[3] = {false, false, false};
	Oid			ops[3];

	for (int i = 0; i < 3; i++)
		ops[i] = lookup_type_cache(types[i], TYPECACHE_LT_OPR)->lt_opr;
	return tuplesort_begin_heap(desc, 3, attnums, ops, colls, nullsfirst,
								ITEM_SORT_MEM_KB, NULL, TUPLESORT_NONE);
}

/*
 * Put the items of one queued batch into the sort, numbered on from *seq
 * (queue order).  Allocates in the current memory context.
 */
static void
SortBatchItems(Tuplesortstate *sort, TupleTableSlot *slot, Jsonb *batch,
			   int64 batch_id, bool create_missing, Datum queued_by,
			   bool records_rejected, int64 *seq)
{
	JsonbContainer *arr = &batch->root;
	int			n = JsonContainerSize(arr);

	for (int i = 0; i < n; i++)
	{
		JsonbValue *elem = getIthJsonbValueFromContainer(arr, i);
		JsonbContainer *obj;
		Datum	   *v = slot->tts_values;
		bool	   *isnull = slot->tts_isnull;
		bool		has_op = false;
		bool		has_expect = false;

		if (elem->type != jbvBinary || !JsonContainerIsObject(elem->val.binary.data))
			elog(ERROR, "queued item %d is not an object", i + 1);
		obj = elem->val.binary.data;

		ExecClearTuple(slot);
		memset(isnull, true, sizeof(bool) * S_NATTS);
		for (int f = 0; f < inventory_num_item_fields; f++)
		{
			const InventoryItemField *field = &inventory_item_fields[f];
			JsonbValue	buf;
			JsonbValue *jv = getKeyJsonValueFromContainer(obj, field->name,
														  strlen(field->name), &buf);
			Datum		d;

			if (jv == NULL)
			{
				if (field->role == INVENTORY_FIELD_KEY)
					elog(ERROR, "queued item %d has no \"%s\"", i + 1, field->name);
				continue;
			}

			/*
			 * Never apply an item without one of its fields: where the
			 * outcome of an item that does not apply cannot be recorded,
			 * the batch fails (and keeps its items) instead.
			 */
			if (field->since_13 && !records_rejected)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("item %d of batch " INT64_FORMAT " uses \"%s\", which needs version 1.3 of the inventory extension",
								i + 1, batch_id, field->name),
						 errhint("Run ALTER EXTENSION inventory UPDATE in this database, then queue the batch's items again.")));
			d = InventoryValueDatum(field->kind, field->name, jv);
			switch (field->role)
			{
				case INVENTORY_FIELD_KEY:
					v[f == INVENTORY_FIELD_SKU ? S_SKU - 1 : S_WH - 1] = d;
					isnull[f == INVENTORY_FIELD_SKU ? S_SKU - 1 : S_WH - 1] = false;
					break;
				case INVENTORY_FIELD_OPERATION:
					if (has_op)
						elog(ERROR, "queued item %d has more than one operation", i + 1);
					has_op = true;
					v[S_OP - 1] = Int32GetDatum(f);
					v[S_OPERAND - 1] = d;
					isnull[S_OP - 1] = isnull[S_OPERAND - 1] = false;
					break;
				case INVENTORY_FIELD_EXPECT:
					if (has_expect)
						elog(ERROR, "queued item %d has more than one expect field", i + 1);
					has_expect = true;
					/* FALLTHROUGH */
				case INVENTORY_FIELD_ROW:
				case INVENTORY_FIELD_NOTE:
					v[S_FIELD(f) - 1] = d;
					isnull[S_FIELD(f) - 1] = false;
					break;
			}
		}
		if (!has_op)
			elog(ERROR, "queued item %d has no operation", i + 1);
		v[S_SEQ - 1] = Int64GetDatum((*seq)++);
		v[S_BATCH - 1] = Int64GetDatum(batch_id);
		v[S_POS - 1] = Int32GetDatum(i + 1);
		v[S_CREATE - 1] = BoolGetDatum(create_missing);
		v[S_ROLE - 1] = queued_by;
		isnull[S_SEQ - 1] = isnull[S_BATCH - 1] = isnull[S_POS - 1] = false;
		isnull[S_CREATE - 1] = isnull[S_ROLE - 1] = false;
		ExecStoreVirtualTuple(slot);
		tuplesort_puttupleslot(sort, slot);
	}
}

/*
 * Move the given batches (an array of ids in ascending order) from the
 * queue to the history and put their items into the sort.
 */
static void
TakeBatches(Oid nspid, Datum idarr, Tuplesortstate *sort, TupleDesc desc,
			bool records_rejected)
{
	TupleTableSlot *slot = MakeSingleTupleTableSlot(desc, &TTSOpsVirtual);
	MemoryContext batch_cxt = AllocSetContextCreate(CurrentMemoryContext,
													"inventory apply batch",
													ALLOCSET_DEFAULT_SIZES);
	Portal		portal;
	int64		seq = 0;

	portal = SPI_cursor_open(NULL, InventoryStatementPlan(&take_batches, nspid),
							 &idarr, NULL, false);
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
						   SPI_getbinval(tup, tdesc, 4, &isnull), records_rejected, &seq);
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
 * Take the given batches from the queue (an int8[] of ids in ascending
 * order) and sort their items.  records_rejected says whether the schema
 * records items that do not apply (InventorySchemaRecordsRejected): if
 * not, an item with a field that needs it fails its batch.  Allocates in
 * the current memory context.
 */
InventoryItemStream *
InventoryItemStreamOpen(Oid nspid, Datum idarr, bool records_rejected)
{
	InventoryItemStream *s = palloc0(sizeof(InventoryItemStream));

	s->desc = ItemSortDesc();
	s->sort = BeginItemSort(s->desc);
	s->slot = MakeSingleTupleTableSlot(s->desc, &TTSOpsMinimalTuple);
	s->items_cxt = AllocSetContextCreate(CurrentMemoryContext, "inventory apply items",
										 ALLOCSET_DEFAULT_SIZES);
	TakeBatches(nspid, idarr, s->sort, s->desc, records_rejected);
	tuplesort_performsort(s->sort);
	return s;
}

/*
 * Whether the sorted item in the slot has another key than *item.
 */
static bool
SlotKeyDiffers(TupleTableSlot *slot, const ApplyItem *item)
{
	text	   *sku;

	slot_getsomeattrs(slot, S_WH);
	sku = DatumGetTextPP(slot->tts_values[S_SKU - 1]);
	return InventoryCompareKeys(VARDATA_ANY(sku), VARSIZE_ANY_EXHDR(sku),
								DatumGetUUIDP(slot->tts_values[S_WH - 1]),
								item->sku, item->skulen, &item->wh) != 0;
}

/*
 * Read the sorted item in the slot into *item, copying what it points to
 * into the current memory context.  Returns the bytes it takes.
 */
static Size
DecodeItem(TupleTableSlot *slot, ApplyItem *item)
{
	Datum	   *v;
	bool	   *n;
	text	   *sku;
	Size		bytes;

	slot_getallattrs(slot);
	v = slot->tts_values;
	n = slot->tts_isnull;
	memset(item, 0, sizeof(*item));
	sku = DatumGetTextPP(v[S_SKU - 1]);
	item->skulen = VARSIZE_ANY_EXHDR(sku);
	item->sku = pnstrdup(VARDATA_ANY(sku), item->skulen);
	memcpy(&item->wh, DatumGetUUIDP(v[S_WH - 1]), sizeof(pg_uuid_t));
	item->batch_id = DatumGetInt64(v[S_BATCH - 1]);
	item->pos = DatumGetInt32(v[S_POS - 1]);
	item->create_missing = DatumGetBool(v[S_CREATE - 1]);
	item->queued_by = palloc(NAMEDATALEN);
	memcpy((char *) item->queued_by, DatumGetName(v[S_ROLE - 1]), NAMEDATALEN);
	item->op = DatumGetInt32(v[S_OP - 1]);
	item->operand = DatumGetInt64(v[S_OPERAND - 1]);
	item->expect = -1;
	bytes = sizeof(ApplyItem) + item->skulen + NAMEDATALEN;
	for (int f = 0; f < inventory_num_item_fields; f++)
	{
		InventoryValueKind kind = inventory_item_fields[f].kind;

		if (n[S_FIELD(f) - 1])
			continue;
		item->values[f] = InventoryValueCopy(kind, v[S_FIELD(f) - 1]);
		item->given[f] = true;
		bytes += InventoryValueSize(kind, item->values[f]);
		if (inventory_item_fields[f].role == INVENTORY_FIELD_EXPECT)
		{
			item->expect = f;
			item->expected = DatumGetInt64(item->values[f]);
		}
	}
	return bytes;
}

/*
 * The next chunk of sorted items, or false at the end.  A chunk ends once
 * full (in items or bytes) where the next key starts, if that comes soon;
 * else anywhere, a key's items going on in the next chunk.  The items stay
 * valid until the next call.
 */
bool
InventoryItemStreamNext(InventoryItemStream *s, ApplyItem **items, int *nitems)
{
	int			n = 0;
	Size		bytes = 0;
	MemoryContext old;

	MemoryContextReset(s->items_cxt);
	s->items = NULL;
	s->maxitems = 0;
	old = MemoryContextSwitchTo(s->items_cxt);
	for (;;)
	{
		if (!s->pending && !s->done)
		{
			s->done = !tuplesort_gettupleslot(s->sort, true, false, s->slot, NULL);
			s->pending = !s->done;
		}
		if (s->done)
			break;
		if (n >= 2 * CHUNK_ITEMS || bytes >= 2 * CHUNK_BYTES ||
			((n >= CHUNK_ITEMS || bytes >= CHUNK_BYTES) &&
			 SlotKeyDiffers(s->slot, &s->items[n - 1])))
			break;
		if (n == s->maxitems)
		{
			s->maxitems = Max(1024, s->maxitems * 2);
			s->items = s->items
				? repalloc(s->items, sizeof(ApplyItem) * s->maxitems)
				: palloc(sizeof(ApplyItem) * s->maxitems);
		}
		bytes += DecodeItem(s->slot, &s->items[n++]);
		s->pending = false;
	}
	MemoryContextSwitchTo(old);
	*items = s->items;
	*nitems = n;
	return n > 0;
}

/*
 * Release the stream.
 */
void
InventoryItemStreamClose(InventoryItemStream *s)
{
	ExecDropSingleTupleTableSlot(s->slot);
	tuplesort_end(s->sort);
	MemoryContextDelete(s->items_cxt);
	pfree(s);
}
