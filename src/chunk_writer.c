/*-------------------------------------------------------------------------
 *
 * chunk_writer.c
 *	  Apply a chunk of sorted items to the level rows: read the rows, work
 *	  out what each item does, write the rows that change (each locked in
 *	  key order, and written only as it was read), and hand the items to the
 *	  ledger.
 *
 * A chunk holds the items of consecutive keys (a key's items may go on in
 * the next chunk).  Each existing row is locked in key order, in one
 * statement, and written from the values it held when locked.  Most often
 * one SELECT reads the rows without a lock (with the ctid and xmin of each
 * version read), and one set-based UPDATE ... RETURNING fetches each by its
 * ctid, in key order, and writes it only if its latest version is still
 * the one read (same xmin, checked again by EvalPlanQual if another
 * transaction wrote it meanwhile): each row is locked once, as it is
 * written.  A row that would not change is given its own values, and the
 * maintain trigger leaves it alone, locked (triggers.c).  When most rows
 * of a chunk do not change (as in the last chunk, or as the read shows),
 * one SELECT ... FOR NO KEY UPDATE locks them all first and only the rows
 * that change are written, by their ctid: rows that do not change cost
 * less that way.  One INSERT ... ON CONFLICT DO NOTHING ... RETURNING
 * creates the missing rows.  What is left (rows someone else wrote or
 * created meanwhile) is locked, worked out again and written; those rows
 * are locked after the others, as the rows that lost the race for their
 * insert always were: a transaction that took such a row's lock in the
 * moment after its writer committed, and then waits for a row the apply
 * wrote, deadlocks with the apply.  These are ordinary statements:
 * whatever triggers, rules and constraints the owner added act on them,
 * and the after values are the rows as RETURNING reports them.
 *
 * Ledger ids are taken for the chunk's items before its rows are written,
 * so that a write an owner's trigger makes while the apply's statement
 * runs (and the ledger trigger records) comes after the apply's rows in
 * every key's chain.
 *
 * The statements are built from the description of an item (item.c): a
 * row field is read, compared, applied (the last value given for a key
 * wins) and written here without code of its own.
 *
 * An item is not applied when its row is missing and its batch does not
 * create rows (skipped), when its expect field differs from the row at
 * its place in the key's order (conflict), or when its operation's result
 * does not fit (out of range); the key's later items see the row as the
 * earlier applied ones left it.  Such items get no ledger row; they are
 * recorded in their batch's history row (skipped, rejected).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/int.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "storage/itemptr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "apply.h"

/* One distinct (sku, warehouse) of a chunk */
typedef struct ApplyKey
{
	const char *sku;
	int			skulen;
	pg_uuid_t	wh;
	int			first;			/* its items: items[first .. last] */
	int			last;
	bool		found;			/* row exists (as read, or locked by us) */
	bool		settled;		/* written (or left alone): after values known */
	bool		tried;			/* written unlocked, if unchanged since read */
	ItemPointerData row_id;		/* the row version read */
	TransactionId row_xmin;		/* its xmin */
	TransactionId read_xmin;	/* the xmin of the version first read */
	int64		on_hand;		/* values of the row as read */
	int64		reserved;
	Datum		row_values[INVENTORY_MAX_ITEM_FIELDS];	/* its row fields */
	bool		row_null[INVENTORY_MAX_ITEM_FIELDS];
	bool		write;			/* the row must be written */
	int64		final_on_hand;
	Datum		values[INVENTORY_MAX_ITEM_FIELDS];	/* row fields: last given */
	bool		given[INVENTORY_MAX_ITEM_FIELDS];
	int64		after_on_hand;	/* the row as written (RETURNING) */
	int64		after_reserved;
} ApplyKey;

/* The row fields (item.c) and their number, found once */
static int	row_fields[INVENTORY_MAX_ITEM_FIELDS];
static int	nrow_fields = -1;

/*
 * Read the existing rows of the keys given ($1 sku, $2 warehouse): sku,
 * warehouse_uuid, on_hand, reserved, the row fields, then the version's
 * ctid and xmin.  lock_rows locks them too, in key order.
 */
static InventoryStatement read_rows;
static InventoryStatement lock_rows;

/*
 * Whether most rows of the last chunk read or locked did not change: the
 * next chunk then locks its rows before reading them (WriteKeys).
 */
static bool rows_mostly_unchanged = false;

/*
 * Write rows: $1 sku, $2 warehouse, $3 on_hand, then one array per row
 * field (NULL: keep the row's value); both return sku, warehouse_uuid,
 * on_hand and reserved as written.  update_rows takes the ctid and the
 * xmin of the version read last, and writes a row only if that version is
 * still its latest.
 */
static InventoryStatement update_rows;
static InventoryStatement insert_rows;

/* Record skipped items in their batches' history rows */
static InventoryStatement record_skipped = {
	.sql = "UPDATE @extschema@.inventory_batch_history h "
	"SET skipped = COALESCE(h.skipped OPERATOR(pg_catalog.||) s.items, s.items) "
	"FROM (SELECT k.b, pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
	"  'item', k.i, 'sku', k.sku, 'warehouse_uuid', k.wh) ORDER BY k.i) AS items "
	"  FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), "
	"  pg_catalog.unnest($3), pg_catalog.unnest($4)) AS k(b, i, sku, wh) "
	"  GROUP BY k.b) s "
	"WHERE h.batch_id OPERATOR(pg_catalog.=) s.b",
	.nargs = 4,
	.argtypes = {INT8ARRAYOID, INT4ARRAYOID, TEXTARRAYOID, UUIDARRAYOID}
};

/* Record rejected items (conflict, out of range) in their batches' history rows */
static InventoryStatement record_rejected = {
	.sql = "UPDATE @extschema@.inventory_batch_history h "
	"SET rejected = COALESCE(h.rejected OPERATOR(pg_catalog.||) s.items, s.items) "
	"FROM (SELECT k.b, pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
	"  'item', k.i, 'sku', k.sku, 'warehouse_uuid', k.wh, 'outcome', k.o, "
	"  'field', k.f, 'expected', k.e, 'actual', k.a, 'result', k.r) ORDER BY k.i) AS items "
	"  FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), "
	"  pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5), "
	"  pg_catalog.unnest($6), pg_catalog.unnest($7), pg_catalog.unnest($8), "
	"  pg_catalog.unnest($9)) AS k(b, i, sku, wh, o, f, e, a, r) "
	"  GROUP BY k.b) s "
	"WHERE h.batch_id OPERATOR(pg_catalog.=) s.b",
	.nargs = 9,
	.argtypes = {INT8ARRAYOID, INT4ARRAYOID, TEXTARRAYOID, UUIDARRAYOID, TEXTARRAYOID,
	TEXTARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID}
};

/* Put each batch's rejected items in item order */
static InventoryStatement sort_rejected = {
	.sql = "UPDATE @extschema@.inventory_batch_history h "
	"SET rejected = (SELECT pg_catalog.jsonb_agg(e.v "
	"  ORDER BY (e.v OPERATOR(pg_catalog.->>) 'item')::pg_catalog.int4) "
	"  FROM pg_catalog.jsonb_array_elements(h.rejected) AS e(v)) "
	"WHERE h.batch_id OPERATOR(pg_catalog.=) ANY ($1) AND h.rejected IS NOT NULL",
	.nargs = 1,
	.argtypes = {INT8ARRAYOID}
};

/* Put each batch's skipped items in item order */
static InventoryStatement sort_skipped = {
	.sql = "UPDATE @extschema@.inventory_batch_history h "
	"SET skipped = (SELECT pg_catalog.jsonb_agg(e.v "
	"  ORDER BY (e.v OPERATOR(pg_catalog.->>) 'item')::pg_catalog.int4) "
	"  FROM pg_catalog.jsonb_array_elements(h.skipped) AS e(v)) "
	"WHERE h.batch_id OPERATOR(pg_catalog.=) ANY ($1) AND h.skipped IS NOT NULL",
	.nargs = 1,
	.argtypes = {INT8ARRAYOID}
};

/*
 * "unnest($first), ..., unnest($last)" into buf.
 */
static void
AppendUnnests(StringInfo buf, int first, int last)
{
	for (int i = first; i <= last; i++)
		appendStringInfo(buf, "%spg_catalog.unnest($%d)", i > first ? ", " : "", i);
}

/*
 * Build the statements that read and write the level rows from the row
 * fields of the item description, once.
 */
static void
BuildRowStatements(void)
{
	MemoryContext old;
	StringInfoData cols;		/* , l.f1, l.f2 */
	StringInfoData names;		/* , f1, f2 */
	StringInfoData sets;		/* , f1 = COALESCE(k.f1, l.f1), ... */
	StringInfoData vals;		/* , k.f1, k.f2 */
	StringInfoData sql;
	StringInfoData rows;		/* the lateral probe of read_rows, lock_rows */
	InventoryStatement *reads[2] = {&read_rows, &lock_rows};
	InventoryStatement *writes[2] = {&update_rows, &insert_rows};
	int			nargs = 3;
	int			nfields = 0;	/* nrow_fields, set once all is built */

	if (nrow_fields >= 0)
		return;
	old = MemoryContextSwitchTo(TopMemoryContext);
	initStringInfo(&cols);
	initStringInfo(&names);
	initStringInfo(&sets);
	initStringInfo(&vals);
	for (int f = 0; f < inventory_num_item_fields; f++)
	{
		const char *col;

		if (inventory_item_fields[f].role != INVENTORY_FIELD_ROW)
			continue;
		row_fields[nfields++] = f;
		col = quote_identifier(inventory_item_fields[f].name);
		appendStringInfo(&cols, ", l.%s", col);
		appendStringInfo(&names, ", %s", col);
		appendStringInfo(&sets, ", %s = COALESCE(k.%s, l.%s)", col, col, col);
		appendStringInfo(&vals, ", k.%s", col);
	}
	if (3 + nfields + 2 > INVENTORY_MAX_ARGS)
		elog(ERROR, "too many row fields for an inventory statement");

	/*
	 * Every statement below finds a chunk's rows by probing an index once
	 * per key, whatever the table's statistics say: a plain join of
	 * the keys with inventory_levels, planned while the table looked
	 * empty (a new install, or after most rows were deleted), scans the
	 * whole table for every key, and the cached plan stays while the round
	 * fills it (a drain creating 20 000 rows took 16 s instead of 0.5 s).
	 * The probe is a lateral subquery the planner cannot flatten (OFFSET
	 * 0); the keys come sorted, so the rows are locked in key order.
	 */
	initStringInfo(&rows);
	appendStringInfo(&rows,
					 "SELECT l.* "
					 "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS k(sku, wh) "
					 "CROSS JOIN LATERAL (SELECT l.sku, l.warehouse_uuid, l.on_hand, l.reserved%s, "
					 "  l.ctid, l.xmin FROM @extschema@.inventory_levels AS l "
					 "  WHERE l.sku OPERATOR(pg_catalog.=) k.sku "
					 "    AND l.warehouse_uuid OPERATOR(pg_catalog.=) k.wh OFFSET 0) AS l",
					 cols.data);
	read_rows.sql = rows.data;
	initStringInfo(&sql);
	appendStringInfo(&sql, "%s ORDER BY l.sku, l.warehouse_uuid FOR NO KEY UPDATE OF l",
					 rows.data);
	lock_rows.sql = sql.data;

	for (int r = 0; r < 2; r++)
	{
		reads[r]->nargs = 2;
		reads[r]->argtypes[0] = TEXTARRAYOID;
		reads[r]->argtypes[1] = UUIDARRAYOID;
	}

	/*
	 * The version read is fetched by its ctid, in the keys' order (the
	 * apply plans with nested loops only: worker.c).  EvalPlanQual checks
	 * the row's latest version against the xmin read, so a row another
	 * transaction wrote since is left alone, whether that committed before
	 * the statement or while it waited for the row.  The key is compared
	 * as a filter (IS TRUE hides it from the index), never used to probe.
	 */
	initStringInfo(&sql);
	appendStringInfo(&sql, "UPDATE @extschema@.inventory_levels AS l SET on_hand = k.on_hand%s "
					 "FROM ROWS FROM (", sets.data);
	AppendUnnests(&sql, 1, nargs + nfields + 2);
	appendStringInfo(&sql, ") AS k(sku, wh, on_hand%s, row_id, row_xmin) "
					 "WHERE l.ctid OPERATOR(pg_catalog.=) k.row_id "
					 "  AND l.xmin OPERATOR(pg_catalog.=) k.row_xmin "
					 "  AND (l.sku OPERATOR(pg_catalog.=) k.sku "
					 "       AND l.warehouse_uuid OPERATOR(pg_catalog.=) k.wh) IS TRUE "
					 "RETURNING l.sku, l.warehouse_uuid, l.on_hand, l.reserved", names.data);
	update_rows.sql = sql.data;

	initStringInfo(&sql);
	appendStringInfo(&sql, "INSERT INTO @extschema@.inventory_levels AS l "
					 "(sku, warehouse_uuid, on_hand%s) SELECT k.sku, k.wh, k.on_hand%s "
					 "FROM ROWS FROM (", names.data, vals.data);
	AppendUnnests(&sql, 1, nargs + nfields);
	appendStringInfo(&sql, ") AS k(sku, wh, on_hand%s) ORDER BY k.sku, k.wh "
					 "ON CONFLICT (sku, warehouse_uuid) DO NOTHING "
					 "RETURNING l.sku, l.warehouse_uuid, l.on_hand, l.reserved", names.data);
	insert_rows.sql = sql.data;

	for (int w = 0; w < 2; w++)
	{
		writes[w]->nargs = nargs + nfields;
		writes[w]->argtypes[0] = TEXTARRAYOID;
		writes[w]->argtypes[1] = UUIDARRAYOID;
		writes[w]->argtypes[2] = INT8ARRAYOID;
		for (int i = 0; i < nfields; i++)
			writes[w]->argtypes[nargs + i] =
				get_array_type(InventoryValueType(inventory_item_fields[row_fields[i]].kind));
	}
	update_rows.nargs = nargs + nfields + 2;
	update_rows.argtypes[nargs + nfields] = TIDARRAYOID;
	update_rows.argtypes[nargs + nfields + 1] = XIDARRAYOID;
	MemoryContextSwitchTo(old);
	nrow_fields = nfields;
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
		int			c = InventoryCompareKeys(sku, skulen, wh,
											 keys[mid].sku, keys[mid].skulen, &keys[mid].wh);

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
 * Row r of the last result, whose columns start sku, warehouse_uuid,
 * on_hand, reserved: its key, and its on_hand and reserved.
 */
static ApplyKey *
ResultRow(ApplyKey *keys, int nkeys, uint64 r, int64 *on_hand, int64 *reserved)
{
	HeapTuple	tup = SPI_tuptable->vals[r];
	TupleDesc	desc = SPI_tuptable->tupdesc;
	ApplyKey   *k = RowKey(keys, nkeys, tup, desc);
	bool		isnull;

	*on_hand = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
	*reserved = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
	return k;
}

/*
 * Run one of the apply's own writes of inventory_levels: the ledger
 * trigger skips it (the apply writes a ledger row per item itself), but
 * not the writes that triggers added by the owner make meanwhile
 * (statement_origin.c).
 */
static void
RunOwnWrite(InventoryColumns *cols, Oid nspid, int expected)
{
	int			save = InventoryApplyStatementsBegin();

	PG_TRY();
	{
		(void) InventoryColumnsRun(cols, nspid, expected);
	}
	PG_FINALLY();
	{
		InventoryApplyStatementsEnd(save);
	}
	PG_END_TRY();
}

/*
 * Read the existing rows of the keys that are not settled: with lock, lock
 * them in key order and read them under the lock (so that reserved cannot
 * change until we commit).  The keys whose row exists are marked found.  Allocates the values read in keys_cxt;
 * the statement's arguments in the current memory context.
 */
static void
ReadKeyRows(Oid nspid, ApplyKey *keys, int nkeys, bool lock, MemoryContext keys_cxt)
{
	InventoryColumns cols;

	InventoryColumnsInit(&cols, lock ? &lock_rows : &read_rows, nkeys);
	for (int i = 0; i < nkeys; i++)
	{
		ApplyKey   *k = &keys[i];
		int			r;

		if (k->settled)
			continue;
		r = InventoryColumnsAddRow(&cols);
		cols.values[0][r] = PointerGetDatum(cstring_to_text_with_len(k->sku, k->skulen));
		cols.values[1][r] = UUIDPGetDatum(&k->wh);
	}
	if (!InventoryColumnsRun(&cols, nspid, SPI_OK_SELECT))
		return;
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		int64		on_hand,
					reserved;
		ApplyKey   *k = ResultRow(keys, nkeys, r, &on_hand, &reserved);
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		k->found = true;
		k->on_hand = on_hand;
		k->reserved = reserved;
		k->row_id = *(ItemPointer) DatumGetPointer(SPI_getbinval(tup, desc,
																 5 + nrow_fields, &isnull));
		k->row_xmin = DatumGetTransactionId(SPI_getbinval(tup, desc, 6 + nrow_fields,
														  &isnull));
		if (!lock)
			k->read_xmin = k->row_xmin;
		for (int i = 0; i < nrow_fields; i++)
		{
			int			f = row_fields[i];
			Datum		d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc,
											  5 + i, &k->row_null[f]);
			MemoryContext old = MemoryContextSwitchTo(keys_cxt);

			if (!k->row_null[f])
				k->row_values[f] = InventoryValueCopy(inventory_item_fields[f].kind, d);
			MemoryContextSwitchTo(old);
		}
	}
	SPI_freetuptable(SPI_tuptable);
}

/*
 * Reject an item whose operation's result does not fit: an outcome where
 * the schema records it (records_rejected), else an error that fails the
 * batch, as before version 1.3.  The result is recorded when it fits a
 * bigint (a delta beyond 0..INVENTORY_MAX_QUANTITY); "available" fails
 * only beyond bigint.
 */
static void
RejectOutOfRange(ApplyItem *it, int64 on_hand, bool records_rejected)
{
	const InventoryItemField *op = &inventory_item_fields[it->op];

	if (!records_rejected)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("on_hand would be out of range for sku \"%.*s\"",
						it->skulen, it->sku)));
	it->outcome = APPLY_OUT_OF_RANGE;
	it->actual = on_hand;
	it->has_result = op->kind == INVENTORY_VALUE_SIGNED &&
		!pg_add_s64_overflow(on_hand, it->operand, &it->result);
}

/*
 * Work out what the items of one key do, in order, starting from the row
 * as it is (k->found, and the values read under its lock): which are
 * skipped or rejected, each applied one's values before and after, and
 * what must be written.  A row that would not change is not written.
 */
static void
EvaluateKey(ApplyKey *k, ApplyItem *items, bool records_rejected)
{
	bool		exists = k->found;
	int64		on_hand = k->found ? k->on_hand : 0;
	int64		reserved = k->found ? k->reserved : 0;
	bool		applied = false;
	bool		changes;

	memset(k->given, 0, sizeof(k->given));
	for (int i = k->first; i <= k->last; i++)
	{
		ApplyItem  *it = &items[i];
		const InventoryItemField *op = &inventory_item_fields[it->op];
		int64		new_on_hand;

		it->outcome = APPLY_APPLIED;
		if (!exists && !it->create_missing)
		{
			it->outcome = APPLY_SKIPPED;
			continue;
		}

		/* compare-and-set: a row the item would create counts as 0 */
		if (it->expect >= 0)
		{
			int64		actual = inventory_item_fields[it->expect].rowvalue(on_hand, reserved);

			if (actual != it->expected)
			{
				it->outcome = APPLY_CONFLICT;
				it->actual = actual;
				continue;
			}
		}
		if (!op->operation(it->operand, on_hand, reserved, &new_on_hand))
		{
			RejectOutOfRange(it, on_hand, records_rejected);
			continue;
		}
		exists = true;
		it->on_hand_before = on_hand;
		it->reserved_before = reserved;
		it->reserved_after = reserved;
		on_hand = new_on_hand;
		it->on_hand_after = on_hand;
		/* the last value given for a key wins */
		for (int j = 0; j < nrow_fields; j++)
		{
			int			f = row_fields[j];

			if (it->given[f])
			{
				k->values[f] = it->values[f];
				k->given[f] = true;
			}
		}
		applied = true;
	}
	k->final_on_hand = on_hand;
	changes = !k->found || on_hand != k->on_hand;
	for (int j = 0; j < nrow_fields && !changes; j++)
	{
		int			f = row_fields[j];

		changes = k->given[f] &&
			(k->row_null[f] ||
			 !InventoryValueEqual(inventory_item_fields[f].kind, k->values[f], k->row_values[f]));
	}
	k->write = applied && changes;
}

/*
 * Settle a key with the row as it is: nothing was written.
 */
static void
SettleUnwritten(ApplyKey *k)
{
	k->settled = true;
	k->after_on_hand = k->found ? k->on_hand : 0;
	k->after_reserved = k->found ? k->reserved : 0;
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
		int64		on_hand,
					reserved;
		ApplyKey   *k = ResultRow(keys, nkeys, r, &on_hand, &reserved);

		k->found = true;
		k->settled = true;
		k->after_on_hand = on_hand;
		k->after_reserved = reserved;
	}
	SPI_freetuptable(SPI_tuptable);
}

/*
 * Add key k's row to the arguments of a write: its final values, and for
 * update_rows the ctid and xmin of its version read last.
 */
static void
AddWriteRow(InventoryColumns *cols, ApplyKey *k)
{
	int			r = InventoryColumnsAddRow(cols);

	cols->values[0][r] = PointerGetDatum(cstring_to_text_with_len(k->sku, k->skulen));
	cols->values[1][r] = UUIDPGetDatum(&k->wh);
	cols->values[2][r] = Int64GetDatum(k->final_on_hand);
	for (int j = 0; j < nrow_fields; j++)
	{
		int			f = row_fields[j];

		cols->values[3 + j][r] = k->values[f];
		cols->nulls[3 + j][r] = !k->given[f];
	}
	if (cols->st == &update_rows)
	{
		cols->values[3 + nrow_fields][r] = PointerGetDatum(&k->row_id);
		cols->values[4 + nrow_fields][r] = TransactionIdGetDatum(k->row_xmin);
	}
}

/*
 * Write the rows of the keys found and locked (insert = false) or missing
 * (insert = true) and not settled: with their final values when they
 * change, else not at all.  Settles them.
 */
static void
WriteRows(Oid nspid, ApplyKey *keys, int nkeys, bool insert)
{
	InventoryColumns cols;

	InventoryColumnsInit(&cols, insert ? &insert_rows : &update_rows, nkeys);
	for (int i = 0; i < nkeys; i++)
	{
		ApplyKey   *k = &keys[i];

		if (k->settled || k->found == insert)
			continue;
		if (!k->write)
		{
			/* nothing to write (or every item skipped): the row stays */
			SettleUnwritten(k);
			continue;
		}
		AddWriteRow(&cols, k);
	}
	if (cols.nrows > 0)
	{
		RunOwnWrite(&cols, nspid, insert ? SPI_OK_INSERT_RETURNING : SPI_OK_UPDATE_RETURNING);
		SettleReturned(keys, nkeys);
	}

	/*
	 * An existing row the UPDATE did not return was left alone by a BEFORE
	 * trigger the owner added (it returned NULL): it keeps its values.
	 */
	if (!insert)
		for (int i = 0; i < nkeys; i++)
			if (keys[i].found && !keys[i].settled)
				SettleUnwritten(&keys[i]);
}

/*
 * Take a ledger id for every applied item that has none, in key order
 * then item order (the order of each key's chain).
 */
static void
TakeLedgerIds(InventoryLedgerAppender *ledger, ApplyItem *items, int nitems)
{
	for (int i = 0; i < nitems; i++)
		if (items[i].outcome == APPLY_APPLIED && items[i].ledger_id == 0)
			items[i].ledger_id = InventoryLedgerTakeId(ledger);
}

/*
 * Give up the ledger ids of a key's items: they are taken again once its
 * row is locked, so that they follow the ledger row of whoever wrote the
 * row meanwhile.
 */
static void
DropLedgerIds(ApplyKey *k, ApplyItem *items)
{
	for (int j = k->first; j <= k->last; j++)
		items[j].ledger_id = 0;
}

/*
 * Write the rows read without a lock, each only if the version read is
 * still its latest; the UPDATE locks it as it writes it, so its items were
 * evaluated against the row as it is when written.  A row that would not
 * change is given its own values: the maintain trigger then writes
 * nothing, and the row stays locked (triggers.c).  Marks the keys tried,
 * and settles those the UPDATE returns.
 */
static void
WriteUnlocked(Oid nspid, ApplyKey *keys, int nkeys)
{
	InventoryColumns cols;

	InventoryColumnsInit(&cols, &update_rows, nkeys);
	for (int i = 0; i < nkeys; i++)
	{
		ApplyKey   *k = &keys[i];

		if (k->settled || !k->found)
			continue;
		k->tried = true;
		AddWriteRow(&cols, k);
	}
	if (cols.nrows > 0)
	{
		RunOwnWrite(&cols, nspid, SPI_OK_UPDATE_RETURNING);
		SettleReturned(keys, nkeys);
	}
}

/*
 * Whether most of the chunk's rows that exist change.
 */
static bool
MostRowsChange(ApplyKey *keys, int nkeys)
{
	int			found = 0;
	int			change = 0;

	for (int i = 0; i < nkeys; i++)
		if (keys[i].found)
		{
			found++;
			if (keys[i].write)
				change++;
		}
	return 2 * change >= found;
}

/*
 * Lock the rows of the keys not settled in key order, read them under the
 * lock and work out their items again; their ledger ids are given up, to
 * be taken again under the lock (after those of whoever wrote a row
 * meanwhile).  A row the unlocked UPDATE tried and did not return though
 * no one wrote it since it was read was left as it was by a trigger (the
 * maintain trigger, or a BEFORE trigger the owner added): it is settled,
 * unwritten, and keeps its ids.
 */
static void
LockAndEvaluate(Oid nspid, ApplyKey *keys, int nkeys, ApplyItem *items,
				bool records_rejected, MemoryContext keys_cxt)
{
	for (int i = 0; i < nkeys; i++)
		if (!keys[i].settled)
			keys[i].found = false;
	ReadKeyRows(nspid, keys, nkeys, true, keys_cxt);
	for (int i = 0; i < nkeys; i++)
	{
		ApplyKey   *k = &keys[i];

		if (k->settled)
			continue;
		if (k->tried && k->found && k->row_xmin == k->read_xmin)
		{
			SettleUnwritten(k);
			continue;
		}
		DropLedgerIds(k, items);
		EvaluateKey(k, items, records_rejected);
	}
}

/*
 * Write the rows of a chunk's keys.  Each existing row is locked in key
 * order, in one statement, and written only from the values it held when
 * locked.  Most often the rows are read first without a lock, and one
 * UPDATE writes each row that has not been written since it was read
 * (locking it as it writes it; the maintain trigger leaves alone, locked,
 * a row that would not change).  When most rows do not change (as in the
 * last chunk, or as the read shows), the rows are locked first instead,
 * and only those that change are written: rows that do not change cost
 * less that way.  Missing rows are then created.  What is left (rows
 * someone else wrote or created meanwhile) is locked, evaluated again and
 * written, as the rows that lost the race for their insert are.  A row a
 * BEFORE INSERT trigger suppressed stays missing.
 */
static void
WriteKeys(Oid nspid, InventoryLedgerAppender *ledger, ApplyKey *keys, int nkeys,
		  ApplyItem *items, int nitems, bool records_rejected, MemoryContext keys_cxt)
{
	bool		read_first = !rows_mostly_unchanged;

	if (read_first)
	{
		ReadKeyRows(nspid, keys, nkeys, false, keys_cxt);
		for (int i = 0; i < nkeys; i++)
			EvaluateKey(&keys[i], items, records_rejected);
		rows_mostly_unchanged = !MostRowsChange(keys, nkeys);
	}
	if (!rows_mostly_unchanged)
	{
		TakeLedgerIds(ledger, items, nitems);
		WriteUnlocked(nspid, keys, nkeys);
	}
	else
	{
		LockAndEvaluate(nspid, keys, nkeys, items, records_rejected, keys_cxt);
		if (!read_first)
			rows_mostly_unchanged = !MostRowsChange(keys, nkeys);
		TakeLedgerIds(ledger, items, nitems);
		WriteRows(nspid, keys, nkeys, false);
	}
	WriteRows(nspid, keys, nkeys, true);

	/* what is left, under the lock */
	LockAndEvaluate(nspid, keys, nkeys, items, records_rejected, keys_cxt);
	TakeLedgerIds(ledger, items, nitems);
	WriteRows(nspid, keys, nkeys, false);
	WriteRows(nspid, keys, nkeys, true);

	/*
	 * The keys still unsettled lost the race for their insert: another
	 * transaction created the row, with its ledger row, after we took our
	 * ids.  Our items take new ids once the row is locked.  A row still
	 * missing had its insert suppressed by a trigger: it stays missing.
	 */
	LockAndEvaluate(nspid, keys, nkeys, items, records_rejected, keys_cxt);
	for (int i = 0; i < nkeys; i++)
		if (!keys[i].settled && !keys[i].found)
			SettleUnwritten(&keys[i]);
	TakeLedgerIds(ledger, items, nitems);
	WriteRows(nspid, keys, nkeys, false);
}

/*
 * Append the ledger row of every applied item.
 */
static void
WriteLedger(InventoryLedgerAppender *ledger, ApplyItem *items, int nitems)
{
	int			note = InventoryItemNoteField();

	for (int i = 0; i < nitems; i++)
	{
		ApplyItem  *it = &items[i];
		InventoryLedgerRow row;

		if (it->outcome != APPLY_APPLIED)
			continue;
		row.id = it->ledger_id;
		row.sku = it->sku;
		row.skulen = it->skulen;
		row.wh = &it->wh;
		row.batch_id = it->batch_id;
		row.item = it->pos;
		row.description = it->given[note] ? DatumGetTextPP(it->values[note]) : NULL;
		row.role = it->queued_by;
		row.on_hand_before = it->on_hand_before;
		row.on_hand_after = it->on_hand_after;
		row.reserved_before = it->reserved_before;
		row.reserved_after = it->reserved_after;
		InventoryLedgerAppendRow(ledger, &row);
	}
	InventoryLedgerAppendFlush(ledger);
}

/*
 * The name of an outcome of an item not applied, as recorded.
 */
static const char *
OutcomeName(ApplyOutcome outcome)
{
	switch (outcome)
	{
		case APPLY_CONFLICT:
			return "conflict";
		case APPLY_OUT_OF_RANGE:
			return "out_of_range";
		case APPLY_APPLIED:
		case APPLY_SKIPPED:
			break;
	}
	elog(ERROR, "item outcome %d is not a rejection", (int) outcome);
	return NULL;				/* keep compiler quiet */
}

/*
 * Record the skipped and the rejected items of each batch in its history
 * row, appending in item order (InventorySortNotApplied sorts them at the
 * end).  Sets *not_applied when there were any.
 */
static void
WriteNotApplied(Oid nspid, ApplyItem *items, int nitems, bool *not_applied)
{
	InventoryColumns skipped;
	InventoryColumns rejected;
	int			nskipped = 0;
	int			nrejected = 0;

	for (int i = 0; i < nitems; i++)
	{
		if (items[i].outcome == APPLY_SKIPPED)
			nskipped++;
		else if (items[i].outcome != APPLY_APPLIED)
			nrejected++;
	}
	if (nskipped + nrejected == 0)
		return;
	*not_applied = true;
	InventoryColumnsInit(&skipped, &record_skipped, nskipped);
	InventoryColumnsInit(&rejected, &record_rejected, nrejected);
	for (int i = 0; i < nitems; i++)
	{
		ApplyItem  *it = &items[i];
		InventoryColumns *cols;
		int			r;

		if (it->outcome == APPLY_APPLIED)
			continue;
		cols = it->outcome == APPLY_SKIPPED ? &skipped : &rejected;
		r = InventoryColumnsAddRow(cols);
		cols->values[0][r] = Int64GetDatum(it->batch_id);
		cols->values[1][r] = Int32GetDatum(it->pos);
		cols->values[2][r] = PointerGetDatum(cstring_to_text_with_len(it->sku, it->skulen));
		cols->values[3][r] = UUIDPGetDatum(&it->wh);
		if (it->outcome == APPLY_SKIPPED)
			continue;
		cols->values[4][r] = CStringGetTextDatum(OutcomeName(it->outcome));
		cols->values[5][r] = CStringGetTextDatum(it->outcome == APPLY_CONFLICT
												 ? inventory_item_fields[it->expect].column
												 : "on_hand");
		cols->values[6][r] = Int64GetDatum(it->expected);
		cols->nulls[6][r] = it->outcome != APPLY_CONFLICT;
		cols->values[7][r] = Int64GetDatum(it->actual);
		cols->values[8][r] = Int64GetDatum(it->result);
		cols->nulls[8][r] = it->outcome != APPLY_OUT_OF_RANGE || !it->has_result;
	}
	(void) InventoryColumnsRun(&skipped, nspid, SPI_OK_UPDATE);
	(void) InventoryColumnsRun(&rejected, nspid, SPI_OK_UPDATE);
}

/*
 * Put the skipped and rejected items recorded in the given batches'
 * history rows (an int8[] of ids) in item order; records_rejected: the
 * schema has the column rejected.
 */
void
InventorySortNotApplied(Oid nspid, Datum idarr, bool records_rejected)
{
	(void) InventoryStatementRun(&sort_skipped, nspid, &idarr, false, SPI_OK_UPDATE);
	if (records_rejected)
		(void) InventoryStatementRun(&sort_rejected, nspid, &idarr, false, SPI_OK_UPDATE);
}

/*
 * Whether two items have the same key.
 */
static bool
SameKey(const ApplyItem *x, const ApplyItem *y)
{
	return InventoryCompareKeys(x->sku, x->skulen, &x->wh, y->sku, y->skulen, &y->wh) == 0;
}

/*
 * Apply a chunk of items, sorted by key then queue order.  records_rejected
 * says whether the schema records rejected items (else an out-of-range
 * result fails the batch).  Allocates in a memory context of its own,
 * freed before returning.  Sets *not_applied when an item was skipped or
 * rejected; returns the number of items applied.
 */
int64
InventoryWriteChunk(Oid nspid, InventoryLedgerAppender *ledger, ApplyItem *items,
					int nitems, bool records_rejected, bool *not_applied)
{
	MemoryContext chunk_cxt = AllocSetContextCreate(CurrentMemoryContext,
													"inventory apply chunk",
													ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(chunk_cxt);
	ApplyKey   *keys;
	int			nkeys = 0;
	int64		applied = 0;

	BuildRowStatements();
	for (int i = 0; i < nitems; i++)
		if (i == 0 || !SameKey(&items[i - 1], &items[i]))
			nkeys++;
	keys = palloc0(sizeof(ApplyKey) * nkeys);
	nkeys = 0;
	for (int i = 0; i < nitems; i++)
	{
		ApplyItem  *it = &items[i];

		if (i == 0 || !SameKey(&items[i - 1], it))
		{
			ApplyKey   *k = &keys[nkeys++];

			k->sku = it->sku;
			k->skulen = it->skulen;
			k->wh = it->wh;
			k->first = i;
		}
		keys[nkeys - 1].last = i;
	}

	WriteKeys(nspid, ledger, keys, nkeys, items, nitems, records_rejected, chunk_cxt);

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
			if (items[j].outcome != APPLY_APPLIED)
				continue;
			items[j].on_hand_after = k->after_on_hand;
			items[j].reserved_after = k->after_reserved;
			break;
		}
	}

	WriteLedger(ledger, items, nitems);
	WriteNotApplied(nspid, items, nitems, not_applied);
	for (int i = 0; i < nitems; i++)
		if (items[i].outcome == APPLY_APPLIED)
			applied++;
	MemoryContextSwitchTo(old);
	MemoryContextDelete(chunk_cxt);
	return applied;
}
