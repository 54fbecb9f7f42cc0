/*-------------------------------------------------------------------------
 *
 * ledger_append.c
 *	  Appending the apply's ledger rows: straight into the table when it is
 *	  as the extension made it, else with an INSERT statement.
 *
 * A round writes one ledger row per applied item, often hundreds of
 * thousands.  Passing them to an INSERT as arrays costs more than the rows
 * themselves (every array is unnested into a tuplestore, then the executor
 * projects each row), so the apply appends them the way COPY does: tuples
 * built in C, inserted many at a time with table_multi_insert, and their
 * index entries made with ExecInsertIndexTuples (unique ids are checked as
 * for any insert).
 *
 * This skips only what the ledger as the extension creates it does not
 * have: triggers (foreign keys and deferrable constraints are triggers too),
 * rules, row-level security, CHECK and NOT NULL constraints other than the
 * install's, defaults, a partition constraint, and columns other than its
 * own.  If the owner changes any of those, the appender falls back to an
 * INSERT statement over arrays, which honours them.  Unique and exclusion
 * constraints are checked here as for any insert (ExecInsertIndexTuples).
 *
 * The ledger has two shapes, and the library serves databases of either
 * until they are updated: 18 columns from 1.0 to 1.2, and from 1.3 three
 * more at the end (transfer_id, incoming_before, incoming_after), which
 * the apply's rows leave NULL: an applied item belongs to no transfer and
 * never touches incoming, and NULL there means "left as it was".  Both
 * shapes are appended to directly.
 *
 * Ids are taken by the caller (InventoryLedgerTakeId) before the rows are
 * appended, so that their order is the order of the changes; the appender
 * publishes the lowest id it may take first (ledger_ids.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"
#include "utils/xid8.h"

#include "inventory.h"

/* Rows handed to table_multi_insert at a time, and most bytes they hold */
#define APPEND_BATCH 1000
#define APPEND_BATCH_BYTES (1024 * 1024)

/* Attribute numbers of inventory_ledger, as the install script makes it */
#define Anum_inventory_ledger_id				1
#define Anum_inventory_ledger_at				2
#define Anum_inventory_ledger_sku				3
#define Anum_inventory_ledger_warehouse_uuid	4
#define Anum_inventory_ledger_source			5
#define Anum_inventory_ledger_batch_id			6
#define Anum_inventory_ledger_item				7
#define Anum_inventory_ledger_order_ref			8
#define Anum_inventory_ledger_line_ref			9
#define Anum_inventory_ledger_description		10
#define Anum_inventory_ledger_role				11
#define Anum_inventory_ledger_xid				12
#define Anum_inventory_ledger_on_hand_before	13
#define Anum_inventory_ledger_on_hand_after		14
#define Anum_inventory_ledger_reserved_before	15
#define Anum_inventory_ledger_reserved_after	16
#define Anum_inventory_ledger_available_before	17
#define Anum_inventory_ledger_available_after	18
#define Natts_inventory_ledger_1_0				18	/* the ledger of 1.0 to 1.2 */
#define Anum_inventory_ledger_transfer_id		19
#define Anum_inventory_ledger_incoming_before	20
#define Anum_inventory_ledger_incoming_after	21
#define Natts_inventory_ledger					21	/* from 1.3 */

/* The ledger's columns, in table order, as the install script makes them */
static const struct
{
	const char *name;
	Oid			type;
	bool		notnull;
}			ledger_columns[] =
{
	{"id", INT8OID, true},
	{"at", TIMESTAMPTZOID, true},
	{"sku", TEXTOID, true},
	{"warehouse_uuid", UUIDOID, true},
	{"source", TEXTOID, true},
	{"batch_id", INT8OID, false},
	{"item", INT4OID, false},
	{"order_ref", TEXTOID, false},
	{"line_ref", TEXTOID, false},
	{"description", TEXTOID, false},
	{"role", NAMEOID, true},
	{"xid", XID8OID, true},
	{"on_hand_before", INT8OID, true},
	{"on_hand_after", INT8OID, true},
	{"reserved_before", INT8OID, true},
	{"reserved_after", INT8OID, true},
	{"available_before", INT8OID, true},
	{"available_after", INT8OID, true},
	/* 1.3 */
	{"transfer_id", INT8OID, false},
	{"incoming_before", INT8OID, false},
	{"incoming_after", INT8OID, false},
};

StaticAssertDecl(lengthof(ledger_columns) == Natts_inventory_ledger,
				 "ledger_columns must list every column of inventory_ledger");

/* The INSERT statement of the fallback */
static InventoryStatement insert_rows = {
	.sql = "INSERT INTO @extschema@.inventory_ledger (id, at, sku, warehouse_uuid, source, "
	"  batch_id, item, description, role, xid, on_hand_before, on_hand_after, "
	"  reserved_before, reserved_after, available_before, available_after) "
	"SELECT k.id, pg_catalog.now(), k.sku, k.wh, '" INVENTORY_SOURCE_ADJUST "', k.batch, k.item, "
	"  k.descr, k.role, pg_catalog.pg_current_xact_id(), k.ob, k.oa, k.rb, k.ra, "
	"  k.ob OPERATOR(pg_catalog.-) k.rb, k.oa OPERATOR(pg_catalog.-) k.ra "
	"FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), "
	"  pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6), "
	"  pg_catalog.unnest($7), pg_catalog.unnest($8), pg_catalog.unnest($9), "
	"  pg_catalog.unnest($10), pg_catalog.unnest($11)) "
	"  AS k(id, sku, wh, batch, item, descr, role, ob, oa, rb, ra)",
	.nargs = 11,
	.argtypes = {INT8ARRAYOID, TEXTARRAYOID, UUIDARRAYOID, INT8ARRAYOID, INT4ARRAYOID,
	TEXTARRAYOID, NAMEARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID}
};

/* Most rows the fallback passes to one INSERT */
#define INSERT_BATCH 8192

struct InventoryLedgerAppender
{
	MemoryContext cxt;			/* where it lives, till InventoryLedgerAppendEnd */
	Oid			nspid;
	Oid			seqid;
	bool		direct;			/* appending straight into the table */
	int			natts;			/* its columns: one of the two shapes */
	/* the fallback: rows collected for an INSERT, in their own memory */
	InventoryColumns insert;
	MemoryContext insert_cxt;
	/* appending directly */
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slots[APPEND_BATCH];
	int			nslots;			/* rows pending */
	int			maxslots;		/* slots made so far */
	Size		nbytes;			/* their descriptions' size */
	MemoryContext batch_cxt;	/* values of the pending rows */
	CommandId	cid;
	Datum		at;
	Datum		source;
	Datum		xid;
};

/*
 * Whether the ledger is exactly as the extension made it (in 1.0 to 1.2, or
 * from 1.3), so that appending tuples directly does everything an INSERT
 * would.
 */
static bool
LedgerIsPlain(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);

	if (rel->rd_rel->relkind != RELKIND_RELATION ||
		rel->rd_rel->relispartition ||
		rel->rd_rel->relhasrules ||
		rel->trigdesc != NULL ||
		rel->rd_rel->relrowsecurity ||
		(desc->natts != Natts_inventory_ledger_1_0 &&
		 desc->natts != Natts_inventory_ledger) ||
		(desc->constr != NULL && desc->constr->num_check > 0))
		return false;
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || att->attgenerated || att->atthasdef ||
			att->atttypid != ledger_columns[i].type ||
			att->attnotnull != ledger_columns[i].notnull ||
			strcmp(NameStr(att->attname), ledger_columns[i].name) != 0)
			return false;
	}
	return true;
}

/*
 * Start appending ledger rows to the extension's ledger in schema nspid:
 * directly when the ledger is plain, else with INSERT statements.
 * Publishes the lowest ledger id this transaction may take.
 */
InventoryLedgerAppender *
InventoryLedgerAppendBegin(Oid nspid)
{
	Oid			relid = InventoryRelid(nspid, "inventory_ledger");
	InventoryLedgerAppender *a = palloc0(sizeof(InventoryLedgerAppender));
	MemoryContext old;

	a->cxt = CurrentMemoryContext;
	a->nspid = nspid;
	a->seqid = InventoryLedgerSequence(nspid);
	if (!OidIsValid(relid))
		elog(ERROR, "inventory_ledger is missing");
	InventoryLedgerPublishIdBound(nspid);

	a->rel = table_open(relid, RowExclusiveLock);
	a->direct = LedgerIsPlain(a->rel);
	a->natts = RelationGetDescr(a->rel)->natts;
	if (!a->direct)
	{
		table_close(a->rel, RowExclusiveLock);
		a->rel = NULL;
		elog(DEBUG1, "inventory ledger is not as installed (triggers, rules, policies, constraints, defaults, partitioning or columns): using INSERT");
		a->insert_cxt = AllocSetContextCreate(CurrentMemoryContext, "inventory ledger insert",
											  ALLOCSET_DEFAULT_SIZES);
		old = MemoryContextSwitchTo(a->insert_cxt);
		InventoryColumnsInit(&a->insert, &insert_rows, INSERT_BATCH);
		MemoryContextSwitchTo(old);
		return a;
	}

	a->estate = CreateExecutorState();
	a->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(a->rri, a->rel, 0, NULL, 0);
	ExecOpenIndices(a->rri, false);
	a->batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "inventory ledger append",
										 ALLOCSET_DEFAULT_SIZES);
	a->cid = GetCurrentCommandId(true);
	a->at = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	a->source = CStringGetTextDatum(INVENTORY_SOURCE_ADJUST);
	a->xid = FullTransactionIdGetDatum(GetTopFullTransactionId());
	return a;
}

/*
 * The id of the next ledger row.
 */
int64
InventoryLedgerTakeId(InventoryLedgerAppender *a)
{
	return nextval_internal(a->seqid, false);
}

/*
 * Insert the pending rows and their index entries, and free what that
 * took.
 */
static void
FlushRows(InventoryLedgerAppender *a)
{
	MemoryContext old;

	if (a->nslots == 0)
		return;
	/* what the insert allocates (toasted copies of the rows) goes with them */
	old = MemoryContextSwitchTo(a->batch_cxt);
	table_multi_insert(a->rel, a->slots, a->nslots, a->cid, 0, NULL);
	MemoryContextSwitchTo(old);
	for (int i = 0; i < a->nslots; i++)
	{
		if (a->rri->ri_NumIndices > 0)
		{
#if PG_VERSION_NUM >= 160000
			(void) ExecInsertIndexTuples(a->rri, a->slots[i], a->estate,
										 false, false, false, NULL, NIL);
#else
			(void) ExecInsertIndexTuples(a->rri, a->slots[i], a->estate,
										 false, false, NULL, NIL);
#endif
		}
		ExecClearTuple(a->slots[i]);
		ResetPerTupleExprContext(a->estate);
	}
	a->nslots = 0;
	a->nbytes = 0;
	MemoryContextReset(a->batch_cxt);
}

/*
 * Run the fallback's INSERT with the rows collected, and free them.
 */
static void
InsertRows(InventoryLedgerAppender *a)
{
	if (InventoryColumnsRun(&a->insert, a->nspid, SPI_OK_INSERT))
	{
		MemoryContext old;

		MemoryContextReset(a->insert_cxt);
		old = MemoryContextSwitchTo(a->insert_cxt);
		InventoryColumnsInit(&a->insert, &insert_rows, INSERT_BATCH);
		MemoryContextSwitchTo(old);
	}
}

/*
 * Collect a row for the fallback's INSERT.
 */
static void
CollectRow(InventoryLedgerAppender *a, const InventoryLedgerRow *row)
{
	InventoryColumns *c = &a->insert;
	MemoryContext old = MemoryContextSwitchTo(a->insert_cxt);
	int			r = InventoryColumnsAddRow(c);

	c->values[0][r] = Int64GetDatum(row->id);
	c->values[1][r] = PointerGetDatum(cstring_to_text_with_len(row->sku, row->skulen));
	c->values[2][r] = UUIDPGetDatum(row->wh);
	c->values[3][r] = Int64GetDatum(row->batch_id);
	c->values[4][r] = Int32GetDatum(row->item);
	c->values[5][r] = row->description ? PointerGetDatum(DatumGetTextPCopy(PointerGetDatum(row->description))) : (Datum) 0;
	c->nulls[5][r] = (row->description == NULL);
	c->values[6][r] = NameGetDatum((Name) row->role);
	c->values[7][r] = Int64GetDatum(row->on_hand_before);
	c->values[8][r] = Int64GetDatum(row->on_hand_after);
	c->values[9][r] = Int64GetDatum(row->reserved_before);
	c->values[10][r] = Int64GetDatum(row->reserved_after);
	MemoryContextSwitchTo(old);
	if (c->nrows == INSERT_BATCH)
		InsertRows(a);
}

/*
 * Append the ledger row of one applied item, with the id taken for it.
 */
void
InventoryLedgerAppendRow(InventoryLedgerAppender *a, const InventoryLedgerRow *row)
{
	TupleTableSlot *slot;
	Datum	   *v;
	bool	   *n;
	MemoryContext old;

	if (!a->direct)
	{
		CollectRow(a, row);
		return;
	}

	/* slots are made as needed (a small round needs few), to last till the end */
	if (a->nslots == a->maxslots)
	{
		old = MemoryContextSwitchTo(a->cxt);
		a->slots[a->maxslots++] = table_slot_create(a->rel, NULL);
		MemoryContextSwitchTo(old);
	}
	slot = a->slots[a->nslots];
	v = slot->tts_values;
	n = slot->tts_isnull;
	old = MemoryContextSwitchTo(a->batch_cxt);

	ExecClearTuple(slot);
	memset(n, false, sizeof(bool) * a->natts);
	v[Anum_inventory_ledger_id - 1] = Int64GetDatum(row->id);
	v[Anum_inventory_ledger_at - 1] = a->at;
	v[Anum_inventory_ledger_sku - 1] =
		PointerGetDatum(cstring_to_text_with_len(row->sku, row->skulen));
	v[Anum_inventory_ledger_warehouse_uuid - 1] = UUIDPGetDatum(row->wh);
	v[Anum_inventory_ledger_source - 1] = a->source;
	v[Anum_inventory_ledger_batch_id - 1] = Int64GetDatum(row->batch_id);
	v[Anum_inventory_ledger_item - 1] = Int32GetDatum(row->item);
	n[Anum_inventory_ledger_order_ref - 1] = true;
	n[Anum_inventory_ledger_line_ref - 1] = true;
	v[Anum_inventory_ledger_description - 1] = PointerGetDatum(row->description);
	n[Anum_inventory_ledger_description - 1] = (row->description == NULL);
	v[Anum_inventory_ledger_role - 1] = NameGetDatum((Name) row->role);
	v[Anum_inventory_ledger_xid - 1] = a->xid;
	v[Anum_inventory_ledger_on_hand_before - 1] = Int64GetDatum(row->on_hand_before);
	v[Anum_inventory_ledger_on_hand_after - 1] = Int64GetDatum(row->on_hand_after);
	v[Anum_inventory_ledger_reserved_before - 1] = Int64GetDatum(row->reserved_before);
	v[Anum_inventory_ledger_reserved_after - 1] = Int64GetDatum(row->reserved_after);
	v[Anum_inventory_ledger_available_before - 1] =
		Int64GetDatum(row->on_hand_before - row->reserved_before);
	v[Anum_inventory_ledger_available_after - 1] =
		Int64GetDatum(row->on_hand_after - row->reserved_after);
	if (a->natts == Natts_inventory_ledger)
	{
		/* no transfer, and incoming left as it was */
		n[Anum_inventory_ledger_transfer_id - 1] = true;
		n[Anum_inventory_ledger_incoming_before - 1] = true;
		n[Anum_inventory_ledger_incoming_after - 1] = true;
	}
	ExecStoreVirtualTuple(slot);
	/* the row outlives what it points to: copy it into the slot */
	ExecMaterializeSlot(slot);
	MemoryContextSwitchTo(old);

	if (row->description != NULL)
		a->nbytes += VARSIZE_ANY(row->description);
	if (++a->nslots == APPEND_BATCH || a->nbytes >= APPEND_BATCH_BYTES)
		FlushRows(a);
}

/*
 * Write the rows appended so far: their data may be freed after this.
 */
void
InventoryLedgerAppendFlush(InventoryLedgerAppender *a)
{
	if (a->direct)
		FlushRows(a);
	else
		InsertRows(a);
}

/*
 * Write what is pending and release everything.
 */
void
InventoryLedgerAppendEnd(InventoryLedgerAppender *a)
{
	InventoryLedgerAppendFlush(a);
	if (!a->direct)
	{
		MemoryContextDelete(a->insert_cxt);
		pfree(a);
		return;
	}
	for (int i = 0; i < a->maxslots; i++)
		ExecDropSingleTupleTableSlot(a->slots[i]);
	ExecCloseIndices(a->rri);
	FreeExecutorState(a->estate);
	MemoryContextDelete(a->batch_cxt);
	table_close(a->rel, NoLock);
	pfree(a);
}
