/*-------------------------------------------------------------------------
 *
 * ledger_append.c
 *	  Bulk appending of the apply's ledger rows, straight into the table.
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
 * own.  If the owner changes any of those, InventoryLedgerAppendBegin
 * returns NULL and the apply falls back to its INSERT statement, which
 * honours them.  Unique and exclusion constraints are checked here as for
 * any insert (ExecInsertIndexTuples).
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
};

#define LEDGER_NATTS lengthof(ledger_columns)

struct InventoryLedgerAppender
{
	Relation	rel;
	Oid			seqid;
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
 * Whether the ledger is exactly as the extension made it, so that appending
 * tuples directly does everything an INSERT would.
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
		desc->natts != (int) LEDGER_NATTS ||
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
 * Start appending ledger rows to the extension's ledger in schema nspid.
 * Returns NULL when the ledger has anything direct appending would skip;
 * the caller then writes its rows with an INSERT.
 */
InventoryLedgerAppender *
InventoryLedgerAppendBegin(Oid nspid)
{
	Oid			relid = InventoryRelid(nspid, "inventory_ledger");
	Oid			seqid = InventoryRelid(nspid, "inventory_ledger_id_seq");
	Relation	rel;
	InventoryLedgerAppender *a;

	if (!OidIsValid(relid) || !OidIsValid(seqid))
		return NULL;
	rel = table_open(relid, RowExclusiveLock);
	if (!LedgerIsPlain(rel))
	{
		table_close(rel, RowExclusiveLock);
		elog(DEBUG1, "inventory ledger is not as installed (triggers, rules, policies, constraints, defaults, partitioning or columns): using INSERT");
		return NULL;
	}

	a = palloc0(sizeof(InventoryLedgerAppender));
	a->rel = rel;
	a->seqid = seqid;
	a->estate = CreateExecutorState();
	a->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(a->rri, rel, 0, NULL, 0);
	ExecOpenIndices(a->rri, false);
	a->batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "inventory ledger append",
										 ALLOCSET_DEFAULT_SIZES);
	a->cid = GetCurrentCommandId(true);
	a->at = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	a->source = CStringGetTextDatum("adjust");
	a->xid = FullTransactionIdGetDatum(GetTopFullTransactionId());
	return a;
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
 * Append the ledger row of one applied item.
 */
void
InventoryLedgerAppendRow(InventoryLedgerAppender *a, const InventoryLedgerRow *row)
{
	TupleTableSlot *slot;
	Datum	   *v;
	bool	   *n;
	MemoryContext old;

	/* slots are made as needed: a small round needs few */
	if (a->nslots == a->maxslots)
		a->slots[a->maxslots++] = table_slot_create(a->rel, NULL);
	slot = a->slots[a->nslots];
	v = slot->tts_values;
	n = slot->tts_isnull;
	old = MemoryContextSwitchTo(a->batch_cxt);

	ExecClearTuple(slot);
	v[0] = Int64GetDatum(nextval_internal(a->seqid, false));
	v[1] = a->at;
	v[2] = PointerGetDatum(cstring_to_text_with_len(row->sku, row->skulen));
	v[3] = UUIDPGetDatum(row->wh);
	v[4] = a->source;
	v[5] = Int64GetDatum(row->batch_id);
	v[6] = Int32GetDatum(row->item);
	v[9] = PointerGetDatum(row->description);
	v[10] = NameGetDatum((Name) row->role);
	v[11] = a->xid;
	v[12] = Int64GetDatum(row->on_hand_before);
	v[13] = Int64GetDatum(row->on_hand_after);
	v[14] = Int64GetDatum(row->reserved_before);
	v[15] = Int64GetDatum(row->reserved_after);
	v[16] = Int64GetDatum(row->on_hand_before - row->reserved_before);
	v[17] = Int64GetDatum(row->on_hand_after - row->reserved_after);
	for (int i = 0; i < (int) LEDGER_NATTS; i++)
		n[i] = (i == 7 || i == 8 || (i == 9 && row->description == NULL));
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
 * Insert what is pending and release everything.
 */
void
InventoryLedgerAppendEnd(InventoryLedgerAppender *a)
{
	FlushRows(a);
	for (int i = 0; i < a->maxslots; i++)
		ExecDropSingleTupleTableSlot(a->slots[i]);
	ExecCloseIndices(a->rri);
	FreeExecutorState(a->estate);
	MemoryContextDelete(a->batch_cxt);
	table_close(a->rel, NoLock);
	pfree(a);
}
