/*-------------------------------------------------------------------------
 *
 * triggers.c
 *	  Row triggers: available = on_hand - reserved on inventory_levels, the
 *	  API's rules for the text columns of inventory_levels and
 *	  inventory_reservations (validate.c), and updated_at stamps.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "common/int.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "inventory.h"

PG_FUNCTION_INFO_V1(inventory_levels_maintain);
PG_FUNCTION_INFO_V1(inventory_restoring);
PG_FUNCTION_INFO_V1(inventory_touch_updated_at);
PG_FUNCTION_INFO_V1(inventory_reservations_check);

/* inventory.restoring: a dump is being restored */
static bool restoring = false;

/* Column numbers of inventory_levels, cached per trigger call site */
typedef struct LevelColumns
{
	Oid			relid;
	int			sku;
	int			on_hand;
	int			reserved;
	int			available;
	int			updated_at;
} LevelColumns;

/* Column numbers of inventory_reservations, cached per trigger call site */
typedef struct ReservationColumns
{
	Oid			relid;
	int			order_ref;
	int			line_ref;
	int			sku;
} ReservationColumns;

/*
 * Define inventory.restoring, which the ledger and reservation triggers
 * (SQL) read too; called from _PG_init.
 */
void
InventoryTriggersInit(void)
{
	DefineCustomBoolVariable("inventory.restoring",
							 "Whether data is being restored (pg_restore), so the ledger and reservation triggers stand aside.",
							 "Set it for the restoring session, e.g. PGOPTIONS='-c inventory.restoring=on' pg_restore ...: the dump already holds the ledger and the reserved sums.",
							 &restoring,
							 false,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
}

/*
 * Check that we are called as a BEFORE ROW trigger on INSERT or UPDATE.
 */
static TriggerData *
CheckTriggerCall(FunctionCallInfo fcinfo, const char *name)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!(TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) ||
		  TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s must be fired BEFORE INSERT OR UPDATE FOR EACH ROW", name)));
	return trigdata;
}

/*
 * Column number of a named column, or an error.
 */
static int
ColumnNumber(Relation rel, const char *name)
{
	int			attnum = SPI_fnumber(RelationGetDescr(rel), name);

	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("table \"%s\" has no column \"%s\"",
						RelationGetRelationName(rel), name)));
	return attnum;
}

/*
 * The cached column numbers for this trigger's table.
 */
static LevelColumns *
GetLevelColumns(FunctionCallInfo fcinfo, Relation rel)
{
	LevelColumns *cols = (LevelColumns *) fcinfo->flinfo->fn_extra;

	if (cols == NULL || cols->relid != RelationGetRelid(rel))
	{
		cols = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(LevelColumns));
		cols->relid = RelationGetRelid(rel);
		cols->sku = ColumnNumber(rel, "sku");
		cols->on_hand = ColumnNumber(rel, "on_hand");
		cols->reserved = ColumnNumber(rel, "reserved");
		cols->available = ColumnNumber(rel, "available");
		cols->updated_at = ColumnNumber(rel, "updated_at");
		fcinfo->flinfo->fn_extra = cols;
	}
	return cols;
}

/*
 * Whether a dump is being restored (inventory.restoring): rows come back
 * as they were, even ones older rules accepted.
 */
static bool
Restoring(void)
{
	return restoring;
}

/*
 * inventory_internal.inventory_restoring(): the same, for the triggers
 * written in SQL.  Calling it loads the library, which checks a value any
 * role may have set while inventory.restoring was a mere placeholder.
 */
Datum
inventory_restoring(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(Restoring());
}

/*
 * Check a text column of a new row version by the API's rules (validate.c);
 * with an old version, only when the value changed.  A NULL is left to the
 * NOT NULL constraints.
 */
static void
CheckRowText(Relation rel, HeapTuple oldtuple, HeapTuple newtuple, int attnum,
			 const char *field, int maxchars, int flags)
{
	TupleDesc	desc = RelationGetDescr(rel);
	bool		isnull;
	Datum		value = heap_getattr(newtuple, attnum, desc, &isnull);
	text	   *t;
	char	   *problem;

	if (isnull)
		return;
	if (oldtuple != NULL)
	{
		bool		oldnull;
		Datum		old = heap_getattr(oldtuple, attnum, desc, &oldnull);

		if (!oldnull && datum_image_eq(old, value, false, -1))
			return;
	}
	t = DatumGetTextPP(value);
	problem = InventoryTextProblem(field, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), maxchars, flags);
	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("new row for relation \"%s\" has an invalid %s",
						RelationGetRelationName(rel), field),
				 errdetail_internal("%s", problem),
				 errtable(rel)));
}

/*
 * Read a bigint column; returns false when it is NULL.
 */
static bool
GetInt64(HeapTuple tuple, TupleDesc desc, int attnum, int64 *value)
{
	bool		isnull;
	Datum		d = heap_getattr(tuple, attnum, desc, &isnull);

	if (!isnull)
		*value = DatumGetInt64(d);
	return !isnull;
}

/*
 * Whether an UPDATE's new row holds what the old one holds, but for the
 * column skip (updated_at, which every UPDATE stamps).
 */
static bool
SameRow(HeapTuple oldtuple, HeapTuple newtuple, TupleDesc desc, int skip)
{
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		bool		oldnull,
					newnull;
		Datum		oldval,
					newval;

		if (att->attisdropped || i + 1 == skip)
			continue;
		oldval = heap_getattr(oldtuple, i + 1, desc, &oldnull);
		newval = heap_getattr(newtuple, i + 1, desc, &newnull);
		if (oldnull != newnull ||
			(!oldnull && !datum_image_eq(oldval, newval, att->attbyval, att->attlen)))
			return false;
	}
	return true;
}

/*
 * inventory_levels_maintain(): BEFORE INSERT OR UPDATE FOR EACH ROW.
 *
 * Keeps available = on_hand - reserved.  Writing available (and not
 * on_hand) sets on_hand = available + reserved, as the API does; writing
 * both must agree.  On INSERT, a missing on_hand is derived from available,
 * or is 0.  On UPDATE, updated_at is stamped.  The apply's own UPDATE of
 * a row it leaves as it is writes nothing (the row stays locked, as a
 * BEFORE trigger's row is): the apply locks the rows that do not change
 * with those that do, in key order, in one statement (chunk_writer.c).
 */
Datum
inventory_levels_maintain(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = CheckTriggerCall(fcinfo, "inventory_levels_maintain");
	Relation	rel = trigdata->tg_relation;
	TupleDesc	desc = RelationGetDescr(rel);
	LevelColumns *cols = GetLevelColumns(fcinfo, rel);
	bool		is_update = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event);
	HeapTuple	newtuple = is_update ? trigdata->tg_newtuple : trigdata->tg_trigtuple;
	int64		on_hand = 0,
				reserved = 0,
				available = 0;
	bool		has_on_hand,
				has_reserved,
				has_available;
	bool		set_on_hand,
				set_available;
	int			colnums[3];
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	int			ncols = 0;

	if (is_update && InventoryApplyStatementRunning() &&
		SameRow(trigdata->tg_trigtuple, newtuple, desc, cols->updated_at))
		return PointerGetDatum(NULL);

	/* a level row the API could not address is refused */
	if (!Restoring())
		CheckRowText(rel, is_update ? trigdata->tg_trigtuple : NULL, newtuple, cols->sku,
					 "sku", INVENTORY_MAX_SKU_LEN, INVENTORY_TEXT_SKU);

	has_on_hand = GetInt64(newtuple, desc, cols->on_hand, &on_hand);
	has_reserved = GetInt64(newtuple, desc, cols->reserved, &reserved);
	has_available = GetInt64(newtuple, desc, cols->available, &available);

	if (is_update)
	{
		HeapTuple	oldtuple = trigdata->tg_trigtuple;
		int64		old_on_hand = 0,
					old_available = 0;
		bool		had_on_hand = GetInt64(oldtuple, desc, cols->on_hand, &old_on_hand);
		bool		had_available = GetInt64(oldtuple, desc, cols->available, &old_available);

		set_on_hand = has_on_hand && (!had_on_hand || on_hand != old_on_hand);
		set_available = has_available && (!had_available || available != old_available);

		colnums[ncols] = cols->updated_at;
		values[ncols++] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	}
	else
	{
		set_on_hand = has_on_hand;
		set_available = has_available;
		if (!has_on_hand && !has_available)
		{
			on_hand = 0;
			has_on_hand = set_on_hand = true;
		}
	}

	/* A NULL reserved or on_hand is left for the NOT NULL constraints. */
	if (has_reserved && (has_on_hand || set_available))
	{
		if (set_available && !set_on_hand)
		{
			if (pg_add_s64_overflow(available, reserved, &on_hand))
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("on_hand is out of range"),
						 errdetail("available %lld plus reserved %lld does not fit in bigint.",
								   (long long) available, (long long) reserved)));
			has_on_hand = true;
		}
		if (pg_sub_s64_overflow(on_hand, reserved, &available))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("available is out of range"),
					 errdetail("on_hand %lld minus reserved %lld does not fit in bigint.",
							   (long long) on_hand, (long long) reserved)));
		if (set_available && set_on_hand)
		{
			int64		given = 0;

			(void) GetInt64(newtuple, desc, cols->available, &given);
			if (given != available)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("on_hand and available disagree"),
						 errdetail("on_hand %lld minus reserved %lld is %lld, but available was set to %lld.",
								   (long long) on_hand, (long long) reserved,
								   (long long) available, (long long) given),
						 errhint("Set only one of them: available is always on_hand - reserved.")));
		}
		colnums[ncols] = cols->on_hand;
		values[ncols++] = Int64GetDatum(on_hand);
		colnums[ncols] = cols->available;
		values[ncols++] = Int64GetDatum(available);
	}

	if (ncols == 0)
		return PointerGetDatum(newtuple);
	return PointerGetDatum(heap_modify_tuple_by_cols(newtuple, desc, ncols,
													 colnums, values, nulls));
}

/*
 * inventory_touch_updated_at(): BEFORE UPDATE FOR EACH ROW, sets
 * updated_at to the transaction's start time.
 */
Datum
inventory_touch_updated_at(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = CheckTriggerCall(fcinfo, "inventory_touch_updated_at");
	Relation	rel = trigdata->tg_relation;
	int			colnums[1];
	Datum		values[1];
	bool		nulls[1] = {false};

	if (!TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		return PointerGetDatum(trigdata->tg_trigtuple);
	colnums[0] = ColumnNumber(rel, "updated_at");
	values[0] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	return PointerGetDatum(heap_modify_tuple_by_cols(trigdata->tg_newtuple,
													 RelationGetDescr(rel), 1,
													 colnums, values, nulls));
}

/*
 * inventory_reservations_check(): BEFORE INSERT OR UPDATE FOR EACH ROW on
 * inventory_reservations.  A row written directly (a bulk import, a repair)
 * obeys the rules the order functions apply to their arguments: sku as in
 * inventory_adjust, order_ref and line_ref 1 to 255 characters without
 * control characters.  Only values that change are checked.
 */
Datum
inventory_reservations_check(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = CheckTriggerCall(fcinfo, "inventory_reservations_check");
	Relation	rel = trigdata->tg_relation;
	bool		is_update = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event);
	HeapTuple	oldtuple = is_update ? trigdata->tg_trigtuple : NULL;
	HeapTuple	newtuple = is_update ? trigdata->tg_newtuple : trigdata->tg_trigtuple;
	ReservationColumns *cols = (ReservationColumns *) fcinfo->flinfo->fn_extra;

	if (cols == NULL || cols->relid != RelationGetRelid(rel))
	{
		cols = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(ReservationColumns));
		cols->relid = RelationGetRelid(rel);
		cols->order_ref = ColumnNumber(rel, "order_ref");
		cols->line_ref = ColumnNumber(rel, "line_ref");
		cols->sku = ColumnNumber(rel, "sku");
		fcinfo->flinfo->fn_extra = cols;
	}
	if (!Restoring())
	{
		CheckRowText(rel, oldtuple, newtuple, cols->order_ref, "order_ref",
					 INVENTORY_MAX_REF_LEN, INVENTORY_TEXT_NONEMPTY);
		CheckRowText(rel, oldtuple, newtuple, cols->line_ref, "line_ref",
					 INVENTORY_MAX_REF_LEN, INVENTORY_TEXT_NONEMPTY);
		CheckRowText(rel, oldtuple, newtuple, cols->sku, "sku",
					 INVENTORY_MAX_SKU_LEN, INVENTORY_TEXT_SKU);
	}
	return PointerGetDatum(newtuple);
}
