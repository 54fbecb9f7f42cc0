/*-------------------------------------------------------------------------
 *
 * adjust.c
 *	  inventory_adjust(jsonb): validate a whole batch of adjustments and
 *	  queue it in the caller's transaction.
 *
 * Every item is checked and every problem is collected, so that one error
 * names all of them.  Nothing is queued unless the whole batch is valid.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/uuid.h"

#include "inventory.h"

PG_FUNCTION_INFO_V1(inventory_adjust);

/* Problems beyond this many are counted but not listed */
#define MAX_LISTED_PROBLEMS 100

/* What the validator learned about one item */
typedef struct AdjustItem
{
	bool		valid;			/* no problem found so far */
	bool		has_uuid;		/* warehouse_uuid parsed */
	pg_uuid_t	uuid;
} AdjustItem;

/* One problem found: a sentence about item pos (1-based; 0: the batch) */
typedef struct AdjustProblem
{
	int			pos;
	int			seq;			/* order found, to keep a stable order */
	char	   *text;
} AdjustProblem;

/* Collected problems of a batch */
typedef struct AdjustProblems
{
	AdjustProblem *list;
	int			total;
	int			allocated;
} AdjustProblems;

/*
 * Longest piece of a caller's input quoted back in a message, in
 * characters: a longer value is cut, and its length given instead, so that
 * a small request cannot make a huge error (every problem of every item is
 * listed, and the server log keeps each DETAIL).
 */
#define MAX_QUOTED_CHARS 40

/* The fields an item may have, in the order problems are listed */
typedef enum ItemField
{
	F_SKU,
	F_WAREHOUSE,
	F_ON_HAND,
	F_AVAILABLE,
	F_DESCRIPTION,
	F_BIN,
	F_COST,
	NUM_FIELDS
} ItemField;

static const char *const item_fields[NUM_FIELDS] = {
	"sku", "warehouse_uuid", "on_hand", "available",
	"description", "bin_location", "cost"
};

static void AddProblem(AdjustProblems *problems, int pos, const char *fmt,...) pg_attribute_printf(3, 4);

/* Prepared statements, kept for the session */
static SPIPlanPtr warehouse_plan = NULL;
static SPIPlanPtr insert_plan = NULL;
static Oid	plans_nspid = InvalidOid;

/*
 * Record one problem, a full sentence about item "pos" (1-based; 0 for the
 * batch as a whole).
 */
static void
AddProblem(AdjustProblems *problems, int pos, const char *fmt,...)
{
	va_list		args;
	StringInfoData buf;

	initStringInfo(&buf);
	for (;;)
	{
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}

	if (problems->total >= problems->allocated)
	{
		problems->allocated = Max(16, problems->allocated * 2);
		problems->list = problems->list
			? repalloc(problems->list, sizeof(AdjustProblem) * problems->allocated)
			: palloc(sizeof(AdjustProblem) * problems->allocated);
	}
	problems->list[problems->total].pos = pos;
	problems->list[problems->total].seq = problems->total;
	problems->list[problems->total].text = buf.data;
	problems->total++;
}

/*
 * qsort comparator: problems by item, then in the order they were found.
 */
static int
CompareProblems(const void *a, const void *b)
{
	const AdjustProblem *x = a;
	const AdjustProblem *y = b;

	if (x->pos != y->pos)
		return x->pos < y->pos ? -1 : 1;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

/*
 * The DETAIL of a rejection: one line a problem, in item order, the first
 * MAX_LISTED_PROBLEMS of them.
 */
static char *
ProblemsDetail(AdjustProblems *problems)
{
	StringInfoData detail;
	int			listed = Min(problems->total, MAX_LISTED_PROBLEMS);

	qsort(problems->list, problems->total, sizeof(AdjustProblem), CompareProblems);
	initStringInfo(&detail);
	for (int i = 0; i < listed; i++)
	{
		if (i > 0)
			appendStringInfoChar(&detail, '\n');
		if (problems->list[i].pos > 0)
			appendStringInfo(&detail, "Item %d: ", problems->list[i].pos);
		appendStringInfoString(&detail, problems->list[i].text);
	}
	if (problems->total > listed)
		appendStringInfo(&detail, "\n%d more problems are not listed.",
						 problems->total - listed);
	return detail.data;
}

/*
 * A piece of the caller's input for a message, in double quotes: at most
 * MAX_QUOTED_CHARS characters, then "..." and the length of the whole when
 * cut.  C0 control characters and DEL show as '?', so that a quoted value
 * cannot start a new line of a DETAIL.
 */
static char *
Quoted(const char *s, int len)
{
	int			cut = len;
	int			nchars = 0;
	StringInfoData buf;

	if (len > MAX_QUOTED_CHARS)
	{
		nchars = pg_mbstrlen_with_len(s, len);
		if (nchars > MAX_QUOTED_CHARS)
			cut = pg_mbcharcliplen(s, len, MAX_QUOTED_CHARS);
	}
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '"');
	for (int i = 0; i < cut; i++)
	{
		unsigned char c = (unsigned char) s[i];

		appendStringInfoChar(&buf, (c < 0x20 || c == 0x7f) ? '?' : (char) c);
	}
	if (cut < len)
		appendStringInfo(&buf, "...\" (%d characters)", nchars);
	else
		appendStringInfoChar(&buf, '"');
	return buf.data;
}

/*
 * A number of the caller's for a message: as written when it has at most
 * MAX_QUOTED_CHARS characters; else in scientific notation when that is
 * exact and short (1e100000 has 100001 digits); else cut like a string.
 */
static char *
NumberText(Numeric n)
{
	Datum		d = NumericGetDatum(n);
	Datum		bound = DirectFunctionCall3(numeric_in, CStringGetDatum("1e40"),
											ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	char	   *text;
	char	   *e;
	char	   *end;

	/* At most 40 digits on either side of the point: print it (cheap). */
	if (DatumGetInt32(DirectFunctionCall1(numeric_scale, d)) <= MAX_QUOTED_CHARS &&
		DatumGetBool(DirectFunctionCall2(numeric_lt,
										 DirectFunctionCall1(numeric_abs, d), bound)))
	{
		text = numeric_normalize(n);
		if (strlen(text) <= MAX_QUOTED_CHARS)
			return text;
	}

	/* 15 significant digits, trailing zeros of the mantissa dropped */
	text = numeric_out_sci(n, 14);
	e = strchr(text, 'e');
	if (e != NULL)
	{
		end = e;
		while (end > text && end[-1] == '0')
			end--;
		if (end > text && end[-1] == '.')
			end--;
		memmove(end, e, strlen(e) + 1);
		if (DatumGetBool(DirectFunctionCall2(numeric_eq, d,
											 DirectFunctionCall3(numeric_in, CStringGetDatum(text),
																 ObjectIdGetDatum(InvalidOid),
																 Int32GetDatum(-1)))))
			return text;
	}

	/* Inexact: the first characters of the whole, and its length. */
	text = numeric_normalize(n);
	e = Quoted(text, strlen(text));
	pfree(text);
	/* a number needs no quotes */
	memmove(e, e + 1, strlen(e));
	if ((end = strchr(e, '"')) != NULL)
		memmove(end, end + 1, strlen(end));
	return e;
}

/*
 * Short description of a JSON value's type, for messages.
 */
static const char *
JsonTypeName(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "a string";
		case jbvNumeric:
			return "a number";
		case jbvBool:
			return "a boolean";
		case jbvBinary:
			return JsonContainerIsObject(v->val.binary.data) ? "an object" : "an array";
		default:
			return "a JSON value";
	}
}

/*
 * Check a string field: its type here, then the rules every entry point
 * shares (validate.c): length in characters, no control characters, and
 * for the flags given not empty, no surrounding spaces.  Returns true when
 * it is acceptable.
 */
static bool
CheckString(AdjustProblems *problems, int pos, const char *field,
			JsonbValue *v, int maxlen, int flags)
{
	char	   *problem;

	if (v->type != jbvString)
	{
		AddProblem(problems, pos, "\"%s\" must be a string, not %s.",
				   field, JsonTypeName(v));
		return false;
	}
	problem = InventoryTextProblem(field, v->val.string.val, v->val.string.len,
								   maxlen, flags);
	if (problem != NULL)
	{
		AddProblem(problems, pos, "%s", problem);
		return false;
	}
	return true;
}

/*
 * Check a quantity: a JSON integer (no decimal point) from 0 to
 * INVENTORY_MAX_QUANTITY.
 */
static bool
CheckQuantity(AdjustProblems *problems, int pos, const char *field, JsonbValue *v)
{
	Numeric		n;
	bool		overflow = false;
	int32		value;

	if (v->type != jbvNumeric)
	{
		AddProblem(problems, pos, "\"%s\" must be a whole number, not %s.",
				   field, JsonTypeName(v));
		return false;
	}
	n = v->val.numeric;

	/* 3, 3.0 and 3e0 are the same whole number; 3.5 is not. */
	if (DatumGetInt32(DirectFunctionCall1(numeric_scale, NumericGetDatum(n))) > 0 &&
		!DatumGetBool(DirectFunctionCall2(numeric_eq, NumericGetDatum(n),
										  DirectFunctionCall2(numeric_trunc, NumericGetDatum(n),
															  Int32GetDatum(0)))))
	{
		AddProblem(problems, pos, "\"%s\" must be a whole number, not %s.",
				   field, NumberText(n));
		return false;
	}
	value = numeric_int4_opt_error(n, &overflow);
	if (overflow || value > INVENTORY_MAX_QUANTITY)
	{
		char	   *text = NumberText(n);

		if (text[0] == '-')
			AddProblem(problems, pos, "\"%s\" must not be negative, got %s.", field, text);
		else
			AddProblem(problems, pos, "\"%s\" must be at most %d, got %s.",
					   field, INVENTORY_MAX_QUANTITY, text);
		return false;
	}
	if (value < 0)
	{
		AddProblem(problems, pos, "\"%s\" must not be negative, got %d.", field, value);
		return false;
	}
	return true;
}

/*
 * Check a cost: a JSON number from 0 to 99999999.99 with at most two
 * decimal places (numeric(10,2)).
 */
static bool
CheckCost(AdjustProblems *problems, int pos, JsonbValue *v)
{
	Datum		n;
	Datum		rounded;
	Datum		limit;
	Datum		zero;

	if (v->type != jbvNumeric)
	{
		AddProblem(problems, pos, "\"cost\" must be a number, not %s.", JsonTypeName(v));
		return false;
	}
	n = NumericGetDatum(v->val.numeric);
	zero = NumericGetDatum(int64_to_numeric(0));
	if (DatumGetBool(DirectFunctionCall2(numeric_lt, n, zero)))
	{
		AddProblem(problems, pos, "\"cost\" must not be negative, got %s.",
				   NumberText(v->val.numeric));
		return false;
	}
	rounded = DirectFunctionCall2(numeric_round, n, Int32GetDatum(2));
	if (!DatumGetBool(DirectFunctionCall2(numeric_eq, n, rounded)))
	{
		AddProblem(problems, pos, "\"cost\" must have at most 2 decimal places, got %s.",
				   NumberText(v->val.numeric));
		return false;
	}
	limit = DirectFunctionCall3(numeric_in, CStringGetDatum("99999999.99"),
								ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	if (DatumGetBool(DirectFunctionCall2(numeric_gt, n, limit)))
	{
		AddProblem(problems, pos, "\"cost\" must be at most 99999999.99, got %s.",
				   NumberText(v->val.numeric));
		return false;
	}
	return true;
}

/*
 * A field name folded for "did you mean" matching: lower case, without
 * '_', '-' and spaces.
 */
static char *
FoldFieldName(const char *s, int len)
{
	char	   *out = palloc(len + 1);
	int			j = 0;

	for (int i = 0; i < len; i++)
	{
		char		c = s[i];

		if (c == '_' || c == '-' || c == ' ')
			continue;
		out[j++] = (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
	}
	out[j] = '\0';
	return out;
}

/*
 * Report an unknown field, suggesting the known one it resembles.
 */
static void
UnknownField(AdjustProblems *problems, int pos, JsonbValue *key)
{
	const char *name = key->val.string.val;
	int			len = key->val.string.len;
	char	   *folded = FoldFieldName(name, Min(len, 64));

	for (int i = 0; i < (int) lengthof(item_fields); i++)
	{
		if (len <= 64 &&
			strcmp(folded, FoldFieldName(item_fields[i], strlen(item_fields[i]))) == 0)
		{
			AddProblem(problems, pos, "unknown field %s (did you mean \"%s\"?).",
					   Quoted(name, len), item_fields[i]);
			return;
		}
	}
	AddProblem(problems, pos, "unknown field %s.", Quoted(name, len));
}

/*
 * Validate one item (1-based position pos).  Records problems and fills in
 * *item; the warehouse registry is checked later for the whole batch.
 */
static void
CheckItem(AdjustProblems *problems, int pos, JsonbValue *elem, AdjustItem *item)
{
	JsonbIterator *it;
	JsonbValue	key;
	JsonbValue	val;
	JsonbIteratorToken tok;
	JsonbValue	fields[NUM_FIELDS];
	bool		present[NUM_FIELDS] = {false};
	List	   *unknown = NIL;	/* of JsonbValue * (the keys) */
	ListCell   *lc;
	int			before = problems->total;
	bool		has_sku = false;
	bool		has_wh = false;
	bool		has_on_hand = false;
	bool		has_available = false;

	memset(item, 0, sizeof(*item));

	if (elem->type != jbvBinary || !JsonContainerIsObject(elem->val.binary.data))
	{
		AddProblem(problems, pos, "must be a JSON object, not %s.", JsonTypeName(elem));
		return;
	}

	/* Collect the fields first, so that problems are listed in a fixed order. */
	it = JsonbIteratorInit(elem->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &key, true)) != WJB_DONE)
	{
		int			f;

		if (tok != WJB_KEY)
			continue;
		tok = JsonbIteratorNext(&it, &val, true);
		Assert(tok == WJB_VALUE);
		for (f = 0; f < NUM_FIELDS; f++)
			if (key.val.string.len == (int) strlen(item_fields[f]) &&
				memcmp(key.val.string.val, item_fields[f], key.val.string.len) == 0)
				break;
		if (f < NUM_FIELDS)
		{
			fields[f] = val;
			present[f] = true;
		}
		else
		{
			JsonbValue *name = palloc(sizeof(JsonbValue));

			*name = key;
			unknown = lappend(unknown, name);
		}
	}

	has_sku = present[F_SKU];
	has_wh = present[F_WAREHOUSE];
	has_on_hand = present[F_ON_HAND];
	has_available = present[F_AVAILABLE];
	if (has_sku)
		CheckString(problems, pos, "sku", &fields[F_SKU], INVENTORY_MAX_SKU_LEN,
					INVENTORY_TEXT_SKU);
	if (has_wh)
	{
		JsonbValue *v = &fields[F_WAREHOUSE];

		if (v->type != jbvString)
			AddProblem(problems, pos, "\"warehouse_uuid\" must be a string, not %s.",
					   JsonTypeName(v));
		else if (!InventoryParseUuid(v->val.string.val, v->val.string.len, &item->uuid))
			AddProblem(problems, pos,
					   "\"warehouse_uuid\" must be a UUID like \"5b1e7a9c-0d2f-4e6a-9b3c-1f2e3d4c5b6a\", got %s.",
					   Quoted(v->val.string.val, v->val.string.len));
		else
			item->has_uuid = true;
	}
	if (has_on_hand)
		CheckQuantity(problems, pos, "on_hand", &fields[F_ON_HAND]);
	if (has_available)
		CheckQuantity(problems, pos, "available", &fields[F_AVAILABLE]);
	if (present[F_DESCRIPTION])
		CheckString(problems, pos, "description", &fields[F_DESCRIPTION],
					INVENTORY_MAX_DESCRIPTION_LEN, 0);
	if (present[F_BIN])
		CheckString(problems, pos, "bin_location", &fields[F_BIN],
					INVENTORY_MAX_BIN_LEN, 0);
	if (present[F_COST])
		CheckCost(problems, pos, &fields[F_COST]);

	if (!has_sku)
		AddProblem(problems, pos, "\"sku\" is required.");
	if (!has_wh)
		AddProblem(problems, pos, "\"warehouse_uuid\" is required.");
	foreach(lc, unknown)
		UnknownField(problems, pos, (JsonbValue *) lfirst(lc));
	if (has_on_hand && has_available)
		AddProblem(problems, pos,
				   "exactly one of \"on_hand\" or \"available\" is allowed, both were given.");
	else if (!has_on_hand && !has_available)
		AddProblem(problems, pos,
				   "exactly one of \"on_hand\" or \"available\" is required, neither was given.");

	item->valid = (problems->total == before);
}

/*
 * Prepare the statements used here, for the schema the extension is in.
 */
static void
PreparePlans(Oid nspid)
{
	char	   *sql;
	Oid			wh_types[1] = {UUIDARRAYOID};
	Oid			ins_types[5] = {INT8OID, JSONBOID, INT4OID, NAMEOID, BOOLOID};

	if (plans_nspid == nspid && warehouse_plan != NULL && insert_plan != NULL)
		return;
	if (warehouse_plan)
		SPI_freeplan(warehouse_plan);
	if (insert_plan)
		SPI_freeplan(insert_plan);
	warehouse_plan = insert_plan = NULL;

	sql = psprintf("SELECT w.uuid, w.archived FROM %s w "
				   "WHERE w.uuid OPERATOR(pg_catalog.=) ANY ($1)",
				   InventoryQualify(nspid, "inventory_warehouses"));
	warehouse_plan = InventoryPrepareKept(sql, 1, wh_types);

	sql = psprintf("INSERT INTO %s (batch_id, items, item_count, queued_by, create_missing) "
				   "VALUES ($1, $2, $3, $4, $5)",
				   InventoryQualify(nspid, "inventory_queue"));
	insert_plan = InventoryPrepareKept(sql, 5, ins_types);

	plans_nspid = nspid;
}

/*
 * Check that every parsed warehouse_uuid names a registered, non-archived
 * warehouse, with one query for the whole batch.
 */
static void
CheckWarehouses(AdjustProblems *problems, AdjustItem *items, int nitems)
{
	Datum	   *uuids = palloc(sizeof(Datum) * nitems);
	int			nuuids = 0;
	ArrayType  *arr;
	Datum		args[1];
	int			ret;

	for (int i = 0; i < nitems; i++)
		if (items[i].has_uuid)
			uuids[nuuids++] = UUIDPGetDatum(&items[i].uuid);
	if (nuuids == 0)
		return;

	arr = construct_array(uuids, nuuids, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR);
	args[0] = PointerGetDatum(arr);
	ret = SPI_execute_plan(warehouse_plan, args, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "warehouse lookup failed: %s", SPI_result_code_string(ret));

	for (int i = 0; i < nitems; i++)
	{
		bool		found = false;
		bool		archived = false;

		if (!items[i].has_uuid)
			continue;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			pg_uuid_t  *u = DatumGetUUIDP(SPI_getbinval(tup, desc, 1, &isnull));

			if (memcmp(u->data, items[i].uuid.data, UUID_LEN) == 0)
			{
				found = true;
				archived = DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull));
				break;
			}
		}
		if (!found || archived)
			items[i].valid = false;
		if (!found)
			AddProblem(problems, i + 1, "warehouse \"%s\" is not registered in inventory_warehouses.",
					   DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&items[i].uuid))));
		else if (archived)
			AddProblem(problems, i + 1, "warehouse \"%s\" is archived.",
					   DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&items[i].uuid))));
	}
}

/*
 * Find the items array of a request body: the value of "inventory" in an
 * object that has no other key, or the body itself when it is an array.
 * Raises an error for any other shape.
 */
static JsonbContainer *
FindItems(Jsonb *body, Jsonb **items_jsonb)
{
	if (JB_ROOT_IS_SCALAR(body))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("inventory batch must be a JSON object or array"),
				 errdetail("The body is a JSON scalar."),
				 errhint("Send {\"inventory\": [ ... ]} or a bare array of items.")));

	if (JB_ROOT_IS_OBJECT(body))
	{
		JsonbIterator *it = JsonbIteratorInit(&body->root);
		JsonbValue	v;
		JsonbValue *inv = NULL;
		JsonbIteratorToken tok;

		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok != WJB_KEY)
				continue;
			if (v.val.string.len == 9 && memcmp(v.val.string.val, "inventory", 9) == 0)
				continue;
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("inventory batch has an unknown field %s",
							Quoted(v.val.string.val, v.val.string.len)),
					 errdetail("The body object may only have the field \"inventory\"."),
					 errhint("Send {\"inventory\": [ ... ]} or a bare array of items.")));
		}

		inv = getKeyJsonValueFromContainer(&body->root, "inventory", 9, NULL);
		if (inv == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("inventory batch has no \"inventory\" field"),
					 errdetail("The body is an object without the field \"inventory\"."),
					 errhint("Send {\"inventory\": [ ... ]} or a bare array of items.")));
		if (inv->type != jbvBinary || JsonContainerIsObject(inv->val.binary.data) ||
			JsonContainerIsScalar(inv->val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"inventory\" must be a JSON array, not %s", JsonTypeName(inv)),
					 errdetail("The items of a batch are the elements of the array \"inventory\"."),
					 errhint("Send {\"inventory\": [ ... ]} or a bare array of items.")));
		*items_jsonb = JsonbValueToJsonb(inv);
		return &(*items_jsonb)->root;
	}

	*items_jsonb = body;
	return &body->root;
}

/*
 * inventory_adjust(body jsonb, create_missing boolean DEFAULT true,
 *					idempotency_key text DEFAULT NULL) returns bigint
 *
 * Validates the batch and queues it; returns the batch id.  The batch is
 * applied after the calling transaction commits.  With create_missing =
 * false (Sellbrite's PATCH) items whose level row does not exist are
 * skipped when applied.  A retried call with the same idempotency key and
 * request returns the first call's batch id and queues nothing.
 */
Datum
inventory_adjust(PG_FUNCTION_ARGS)
{
	Jsonb	   *body;
	Jsonb	   *items_jsonb;
	JsonbContainer *items;
	int			nitems;
	AdjustItem *checked;
	AdjustProblems problems;
	int			bad_items = 0;
	bool		create_missing = true;
	char	   *key = NULL;
	bytea	   *hash = NULL;
	Oid			nspid;
	Oid			seqid;
	int64		batch_id;
	int64		claimed;
	Datum		args[5];
	int			ret;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("inventory batch must not be null"),
				 errdetail("The body argument is NULL."),
				 errhint("Send {\"inventory\": [ ... ]} or a bare array of items.")));
	body = PG_GETARG_JSONB_P(0);
	if (PG_NARGS() > 1)
	{
		if (PG_ARGISNULL(1))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("create_missing must not be null"),
					 errdetail("The create_missing argument is NULL."),
					 errhint("Pass true to create missing level rows (PUT) or false to skip their items (PATCH).")));
		create_missing = PG_GETARG_BOOL(1);
	}
	if (PG_NARGS() > 2 && !PG_ARGISNULL(2))
	{
		key = text_to_cstring(PG_GETARG_TEXT_PP(2));
		if (key[0] == '\0' || strlen(key) > 255)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("idempotency key must have 1 to 255 bytes"),
					 errdetail("The key has %zu bytes.", strlen(key))));
	}

	items = FindItems(body, &items_jsonb);
	nitems = JsonContainerSize(items);
	if (nitems == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("inventory batch must have at least 1 item"),
				 errdetail("The items array is empty.")));
	if (nitems > inventory_max_batch_items)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("inventory batch has too many items"),
				 errdetail("The batch has %d items; at most %d are allowed.",
						   nitems, inventory_max_batch_items),
				 errhint("Split the adjustments into batches of at most %d items (inventory.max_batch_items).",
						 inventory_max_batch_items)));

	problems.list = NULL;
	problems.total = 0;
	problems.allocated = 0;
	checked = palloc(sizeof(AdjustItem) * nitems);
	for (int i = 0; i < nitems; i++)
	{
		JsonbValue *elem = getIthJsonbValueFromContainer(items, i);

		CheckItem(&problems, i + 1, elem, &checked[i]);
	}

	nspid = InventoryFunctionSchema(fcinfo);
	seqid = InventoryRelid(nspid, "inventory_batch_id_seq");
	if (!OidIsValid(seqid))
		elog(ERROR, "inventory_batch_id_seq is missing from schema %s",
			 get_namespace_name(nspid));

	SPI_connect();
	PreparePlans(nspid);
	CheckWarehouses(&problems, checked, nitems);

	if (problems.total > 0)
	{
		/* count items with at least one problem */
		for (int i = 0; i < nitems; i++)
			if (!checked[i].valid)
				bad_items++;
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("inventory batch rejected: %d of %d items are invalid",
						Max(bad_items, 1), nitems),
				 errdetail_internal("%s", ProblemsDetail(&problems)),
				 errhint("Nothing was queued. Correct the listed items and send the whole batch again.")));
	}

	/* A retry of a request already queued gets its batch id; nothing else. */
	if (key != NULL)
	{
		hash = InventoryRequestHash(body, create_missing);
		claimed = InventoryClaimIdempotencyKey(nspid, key, hash);
		if (claimed != 0)
		{
			SPI_finish();
			PG_RETURN_INT64(claimed);
		}
	}

	/* Refuse if the queue is full (backpressure.c), before taking an id. */
	InventoryClaimQueueRoom(nitems);

	/* Take the batch id, announcing it to the applier first (shmem.c). */
	InventoryPublishIdBound(INVENTORY_ID_BATCH, seqid);
	batch_id = nextval_internal(seqid, false);
	if (key != NULL)
		InventoryRecordIdempotencyKey(nspid, key, batch_id);

	args[0] = Int64GetDatum(batch_id);
	args[1] = JsonbPGetDatum(items_jsonb);
	args[2] = Int32GetDatum(nitems);
	args[3] = DirectFunctionCall1(namein,
								  CStringGetDatum(GetUserNameFromId(GetOuterUserId(), false)));
	args[4] = BoolGetDatum(create_missing);
	ret = SPI_execute_plan(insert_plan, args, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "queuing the batch failed: %s", SPI_result_code_string(ret));

	SPI_finish();
	PG_RETURN_INT64(batch_id);
}
