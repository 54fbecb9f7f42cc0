/*-------------------------------------------------------------------------
 *
 * adjust.c
 *	  inventory_adjust(jsonb): validate a whole batch of adjustments and
 *	  queue it in the caller's transaction.
 *
 * Every item is checked against the description of an item (item.c) and
 * every problem is collected (problems.c), so that one error names all of
 * them.  Nothing is queued unless the whole batch is valid.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/uuid.h"

#include "inventory.h"
#include "item.h"
#include "problems.h"

PG_FUNCTION_INFO_V1(inventory_adjust);

/* inventory.max_batch_items: most items one call accepts */
static int	inventory_max_batch_items = 50;

/* What the validator learned about one item */
typedef struct AdjustItem
{
	bool		valid;			/* no problem found so far */
	bool		has_uuid;		/* warehouse_uuid parsed */
	pg_uuid_t	uuid;
	int			since_13;		/* a field it has that needs version 1.3,
								 * or -1 */
} AdjustItem;

/* Queue the batch */
static InventoryStatement queue_insert = {
	.sql = "INSERT INTO @extschema@.inventory_queue "
	"(batch_id, items, item_count, queued_by, create_missing) VALUES ($1, $2, $3, $4, $5)",
	.nargs = 5,
	.argtypes = {INT8OID, JSONBOID, INT4OID, NAMEOID, BOOLOID}
};

/*
 * Define the settings of inventory_adjust; called from _PG_init.
 */
void
InventoryAdjustInit(void)
{
	DefineCustomIntVariable("inventory.max_batch_items",
							"Largest number of items one inventory_adjust call accepts.",
							NULL,
							&inventory_max_batch_items,
							50, 1, 10000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
}

/*
 * Check a string field: its type here, then the rules every entry point
 * shares (validate.c): length in characters, no control characters, and
 * for the flags given not empty, no surrounding spaces.  Returns true when
 * it is acceptable.
 */
static bool
CheckString(InventoryProblems *problems, int pos, const char *field,
			JsonbValue *v, int maxlen, int flags)
{
	char	   *problem;

	if (v->type != jbvString)
	{
		InventoryAddProblem(problems, pos, "\"%s\" must be a string, not %s.",
				   field, InventoryJsonTypeName(v));
		return false;
	}
	problem = InventoryTextProblem(field, v->val.string.val, v->val.string.len,
								   maxlen, flags);
	if (problem != NULL)
	{
		InventoryAddProblem(problems, pos, "%s", problem);
		return false;
	}
	return true;
}

/*
 * Check a quantity: a JSON integer (no decimal point) from 0 to
 * INVENTORY_MAX_QUANTITY, or with signed from -INVENTORY_MAX_QUANTITY.
 */
static bool
CheckQuantity(InventoryProblems *problems, int pos, const char *field, JsonbValue *v,
			  bool is_signed)
{
	Numeric		n;
	bool		overflow = false;
	int32		value;

	if (v->type != jbvNumeric)
	{
		InventoryAddProblem(problems, pos, "\"%s\" must be a whole number, not %s.",
				   field, InventoryJsonTypeName(v));
		return false;
	}
	n = v->val.numeric;

	/* 3, 3.0 and 3e0 are the same whole number; 3.5 is not. */
	if (DatumGetInt32(DirectFunctionCall1(numeric_scale, NumericGetDatum(n))) > 0 &&
		!DatumGetBool(DirectFunctionCall2(numeric_eq, NumericGetDatum(n),
										  DirectFunctionCall2(numeric_trunc, NumericGetDatum(n),
															  Int32GetDatum(0)))))
	{
		InventoryAddProblem(problems, pos, "\"%s\" must be a whole number, not %s.",
				   field, InventoryNumberText(n));
		return false;
	}
	value = numeric_int4_opt_error(n, &overflow);
	if (overflow || (is_signed && value < -INVENTORY_MAX_QUANTITY))
	{
		char	   *text = InventoryNumberText(n);

		if (text[0] != '-')
			InventoryAddProblem(problems, pos, "\"%s\" must be at most %d, got %s.",
					   field, INVENTORY_MAX_QUANTITY, text);
		else if (is_signed)
			InventoryAddProblem(problems, pos, "\"%s\" must be at least -%d, got %s.",
					   field, INVENTORY_MAX_QUANTITY, text);
		else
			InventoryAddProblem(problems, pos, "\"%s\" must not be negative, got %s.", field, text);
		return false;
	}
	if (value < 0 && !is_signed)
	{
		InventoryAddProblem(problems, pos, "\"%s\" must not be negative, got %d.", field, value);
		return false;
	}
	return true;
}

/*
 * The bounds of an amount of money, 0 and 99999999.99 (numeric(10,2)),
 * made once.
 */
static void
MoneyBounds(Datum *zero, Datum *limit)
{
	static Datum cached_zero = (Datum) 0;
	static Datum cached_limit = (Datum) 0;

	if (cached_limit == (Datum) 0)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		cached_zero = NumericGetDatum(int64_to_numeric(0));
		cached_limit = DirectFunctionCall3(numeric_in, CStringGetDatum("99999999.99"),
										   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
		MemoryContextSwitchTo(old);
	}
	*zero = cached_zero;
	*limit = cached_limit;
}

/*
 * Check an amount of money: a JSON number from 0 to 99999999.99 with at most two
 * decimal places (numeric(10,2)).
 */
static bool
CheckMoney(InventoryProblems *problems, int pos, const char *field, JsonbValue *v)
{
	Datum		n;
	Datum		rounded;
	Datum		limit;
	Datum		zero;

	if (v->type != jbvNumeric)
	{
		InventoryAddProblem(problems, pos, "\"%s\" must be a number, not %s.", field,
							InventoryJsonTypeName(v));
		return false;
	}
	n = NumericGetDatum(v->val.numeric);
	MoneyBounds(&zero, &limit);
	if (DatumGetBool(DirectFunctionCall2(numeric_lt, n, zero)))
	{
		InventoryAddProblem(problems, pos, "\"%s\" must not be negative, got %s.", field,
				   InventoryNumberText(v->val.numeric));
		return false;
	}
	rounded = DirectFunctionCall2(numeric_round, n, Int32GetDatum(2));
	if (!DatumGetBool(DirectFunctionCall2(numeric_eq, n, rounded)))
	{
		InventoryAddProblem(problems, pos, "\"%s\" must have at most 2 decimal places, got %s.", field,
				   InventoryNumberText(v->val.numeric));
		return false;
	}
	if (DatumGetBool(DirectFunctionCall2(numeric_gt, n, limit)))
	{
		InventoryAddProblem(problems, pos, "\"%s\" must be at most 99999999.99, got %s.", field,
				   InventoryNumberText(v->val.numeric));
		return false;
	}
	return true;
}

/*
 * Report an unknown field of an item, suggesting the known one it
 * resembles (problems.c).
 */
static void
UnknownField(InventoryProblems *problems, int pos, JsonbValue *key)
{
	const char *known[INVENTORY_MAX_ITEM_FIELDS];
	const char *similar;

	for (int f = 0; f < inventory_num_item_fields; f++)
		known[f] = inventory_item_fields[f].name;
	similar = InventorySimilarName(key->val.string.val, key->val.string.len,
								   known, inventory_num_item_fields);
	if (similar != NULL)
		InventoryAddProblem(problems, pos, "unknown field %s (did you mean \"%s\"?).",
							InventoryQuoted(key->val.string.val, key->val.string.len),
							similar);
	else
		InventoryAddProblem(problems, pos, "unknown field %s.",
							InventoryQuoted(key->val.string.val, key->val.string.len));
}

/*
 * Check a field's value by its kind (item.h).  A warehouse_uuid that
 * parses is kept in *item for the registry check.
 */
static void
CheckField(InventoryProblems *problems, int pos, const InventoryItemField *field,
		   JsonbValue *v, AdjustItem *item)
{
	pg_uuid_t	uuid;

	switch (field->kind)
	{
		case INVENTORY_VALUE_TEXT:
			CheckString(problems, pos, field->name, v, field->maxchars, field->flags);
			break;
		case INVENTORY_VALUE_QUANTITY:
		case INVENTORY_VALUE_SIGNED:
			CheckQuantity(problems, pos, field->name, v,
						  field->kind == INVENTORY_VALUE_SIGNED);
			break;
		case INVENTORY_VALUE_MONEY:
			CheckMoney(problems, pos, field->name, v);
			break;
		case INVENTORY_VALUE_UUID:
			if (v->type != jbvString)
				InventoryAddProblem(problems, pos, "\"%s\" must be a string, not %s.",
									field->name, InventoryJsonTypeName(v));
			else if (!InventoryParseUuid(v->val.string.val, v->val.string.len, &uuid))
				InventoryAddProblem(problems, pos,
									"\"%s\" must be a UUID like \"5b1e7a9c-0d2f-4e6a-9b3c-1f2e3d4c5b6a\", got %s.",
									field->name,
									InventoryQuoted(v->val.string.val, v->val.string.len));
			else if (field == &inventory_item_fields[INVENTORY_FIELD_WAREHOUSE])
			{
				item->uuid = uuid;
				item->has_uuid = true;
			}
			break;
	}
}

/*
 * The names of the fields with a role, for a message: "a" or "b", or "a",
 * "b" or "c".
 */
static char *
RoleNames(InventoryFieldRole role)
{
	StringInfoData buf;
	int			n = 0;
	int			seen = 0;

	for (int f = 0; f < inventory_num_item_fields; f++)
		if (inventory_item_fields[f].role == role)
			n++;
	initStringInfo(&buf);
	for (int f = 0; f < inventory_num_item_fields; f++)
	{
		if (inventory_item_fields[f].role != role)
			continue;
		if (seen > 0)
			appendStringInfoString(&buf, seen == n - 1 ? " or " : ", ");
		appendStringInfo(&buf, "\"%s\"", inventory_item_fields[f].name);
		seen++;
	}
	return buf.data;
}

/*
 * The names of the fields present with a role, for a message: "both "a"
 * and "b"", or ""a", "b" and "c"".
 */
static char *
GivenNames(InventoryFieldRole role, const bool *present, int n)
{
	StringInfoData buf;
	int			seen = 0;

	initStringInfo(&buf);
	if (n == 2)
		appendStringInfoString(&buf, "both ");
	for (int f = 0; f < inventory_num_item_fields; f++)
	{
		if (inventory_item_fields[f].role != role || !present[f])
			continue;
		if (seen > 0)
			appendStringInfoString(&buf, seen == n - 1 ? " and " : ", ");
		appendStringInfo(&buf, "\"%s\"", inventory_item_fields[f].name);
		seen++;
	}
	return buf.data;
}

/*
 * Validate one item (1-based position pos).  Records problems and fills in
 * *item; the warehouse registry is checked later for the whole batch.
 * Problems are listed in the order of the item's keys in the body (as
 * jsonb keeps them: shorter keys first, then bytewise; jsonb does not keep
 * the order they were sent in), then missing keys, then the count of
 * operations, then the count of expect fields.
 */
static void
CheckItem(InventoryProblems *problems, int pos, JsonbValue *elem, AdjustItem *item)
{
	JsonbIterator *it;
	JsonbValue	key;
	JsonbValue	val;
	JsonbIteratorToken tok;
	bool		present[INVENTORY_MAX_ITEM_FIELDS] = {false};
	int			before = problems->total;
	int			nops = 0;
	int			nexpects = 0;

	memset(item, 0, sizeof(*item));
	item->since_13 = -1;

	if (elem->type != jbvBinary || !JsonContainerIsObject(elem->val.binary.data))
	{
		InventoryAddProblem(problems, pos, "must be a JSON object, not %s.",
							InventoryJsonTypeName(elem));
		return;
	}

	it = JsonbIteratorInit(elem->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &key, true)) != WJB_DONE)
	{
		int			f;

		if (tok != WJB_KEY)
			continue;
		tok = JsonbIteratorNext(&it, &val, true);
		Assert(tok == WJB_VALUE);
		f = InventoryItemFieldByName(key.val.string.val, key.val.string.len);
		if (f < 0)
		{
			UnknownField(problems, pos, &key);
			continue;
		}
		present[f] = true;
		CheckField(problems, pos, &inventory_item_fields[f], &val, item);
		if (inventory_item_fields[f].role == INVENTORY_FIELD_OPERATION)
			nops++;
		if (inventory_item_fields[f].role == INVENTORY_FIELD_EXPECT)
			nexpects++;
		if (inventory_item_fields[f].since_13 && item->since_13 < 0)
			item->since_13 = f;
	}

	for (int f = 0; f < inventory_num_item_fields; f++)
		if (inventory_item_fields[f].role == INVENTORY_FIELD_KEY && !present[f])
			InventoryAddProblem(problems, pos, "\"%s\" is required.",
								inventory_item_fields[f].name);
	if (nops > 1)
		InventoryAddProblem(problems, pos, "exactly one of %s is allowed, %s were given.",
							RoleNames(INVENTORY_FIELD_OPERATION),
							GivenNames(INVENTORY_FIELD_OPERATION, present, nops));
	else if (nops == 0)
		InventoryAddProblem(problems, pos, "exactly one of %s is required, none was given.",
							RoleNames(INVENTORY_FIELD_OPERATION));
	if (nexpects > 1)
		InventoryAddProblem(problems, pos, "at most one of %s is allowed, %s were given.",
							RoleNames(INVENTORY_FIELD_EXPECT),
							GivenNames(INVENTORY_FIELD_EXPECT, present, nexpects));

	item->valid = (problems->total == before);
}

/* An item's warehouse as uuid_out prints it */
#define ITEM_UUID(item) \
	DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&(item)->uuid)))

/*
 * Check that every parsed warehouse_uuid names a registered, non-archived
 * warehouse, looking each distinct one up once (warehouses.c), and that
 * they all belong to one merchant: inventory.merchant's when it is set.
 * Returns that merchant (NULL before version 1.6, or when no item has a
 * usable warehouse).
 */
static char *
CheckWarehouses(Oid nspid, InventoryProblems *problems, AdjustItem *items, int nitems)
{
	pg_uuid_t  *uuids = palloc(sizeof(pg_uuid_t) * nitems);
	int		   *which = palloc(sizeof(int) * nitems);	/* item -> distinct uuid */
	bool	   *found = palloc(sizeof(bool) * nitems);
	bool	   *archived = palloc(sizeof(bool) * nitems);
	char	  **merchants = palloc(sizeof(char *) * nitems);
	const char *wanted = InventoryCurrentMerchant();
	char	   *merchant = NULL;
	int			merchant_item = 0;
	int			nuuids = 0;

	for (int i = 0; i < nitems; i++)
	{
		int			u;

		if (!items[i].has_uuid)
			continue;
		for (u = 0; u < nuuids; u++)
			if (memcmp(uuids[u].data, items[i].uuid.data, UUID_LEN) == 0)
				break;
		if (u == nuuids)
			uuids[nuuids++] = items[i].uuid;
		which[i] = u;
	}
	InventoryLookUpWarehouses(nspid, uuids, nuuids, found, archived, merchants);

	for (int i = 0; i < nitems; i++)
	{
		char	   *m;

		if (!items[i].has_uuid)
			continue;
		m = merchants[which[i]];
		if (!found[which[i]] || archived[which[i]])
			items[i].valid = false;
		if (!found[which[i]])
			InventoryAddProblem(problems, i + 1, "warehouse \"%s\" is not registered in inventory_warehouses.",
								ITEM_UUID(&items[i]));
		else if (archived[which[i]])
			InventoryAddProblem(problems, i + 1, "warehouse \"%s\" is archived.",
								ITEM_UUID(&items[i]));
		else if (m == NULL)
			continue;
		else if (wanted != NULL && strcmp(m, wanted) != 0)
		{
			items[i].valid = false;
			InventoryAddProblem(problems, i + 1,
								"warehouse \"%s\" belongs to merchant \"%s\", not to \"%s\" (inventory.merchant).",
								ITEM_UUID(&items[i]), InventoryPrintable(pstrdup(m)),
								InventoryPrintable(pstrdup(wanted)));
		}
		else if (merchant == NULL)
		{
			merchant = m;
			merchant_item = i + 1;
		}
		else if (strcmp(m, merchant) != 0)
		{
			items[i].valid = false;
			InventoryAddProblem(problems, i + 1,
								"warehouse \"%s\" belongs to merchant \"%s\", but item %d's to \"%s\": a batch names the warehouses of one merchant.",
								ITEM_UUID(&items[i]), InventoryPrintable(pstrdup(m)), merchant_item,
								InventoryPrintable(pstrdup(merchant)));
		}
	}
	return merchant;
}

/*
 * Refuse a batch with a field that needs version 1.3 (item.c) in a
 * database whose schema is older: its apply could not record the items
 * that do not apply.
 */
static void
RequireSchemaFor(Oid nspid, AdjustItem *items, int nitems)
{
	for (int i = 0; i < nitems; i++)
	{
		if (items[i].since_13 < 0)
			continue;
		if (InventorySchemaRecordsRejected(nspid))
			return;
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("\"%s\" needs version 1.3 of the inventory extension",
						inventory_item_fields[items[i].since_13].name),
				 errdetail("Item %d uses it; this database has an older version of the extension, whose batch history cannot record items that are not applied. Nothing was queued.",
						   i + 1),
				 errhint("Run ALTER EXTENSION inventory UPDATE in this database.")));
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
		const char *wrapper = "inventory";
		const char *similar;

		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok != WJB_KEY)
				continue;
			if (v.val.string.len == 9 && memcmp(v.val.string.val, "inventory", 9) == 0)
				continue;
			similar = InventorySimilarName(v.val.string.val, v.val.string.len, &wrapper, 1);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("inventory batch has an unknown field %s",
							InventoryQuoted(v.val.string.val, v.val.string.len)),
					 errdetail("The body object may only have the field \"inventory\"."),
					 similar != NULL
					 ? errhint("Did you mean \"%s\"? Send {\"inventory\": [ ... ]} or a bare array of items.",
							   similar)
					 : errhint("Send {\"inventory\": [ ... ]} or a bare array of items.")));
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
					 errmsg("\"inventory\" must be a JSON array, not %s", InventoryJsonTypeName(inv)),
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
	InventoryProblems problems;
	int			bad_items = 0;
	bool		create_missing = true;
	char	   *key = NULL;
	bytea	   *hash = NULL;
	Oid			nspid;
	Oid			seqid;
	int64		batch_id;
	int64		claimed;
	char	   *merchant;
	Datum		args[5];

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

	InventoryProblemsInit(&problems);
	checked = palloc(sizeof(AdjustItem) * nitems);
	for (int i = 0; i < nitems; i++)
	{
		JsonbValue *elem = getIthJsonbValueFromContainer(items, i);

		CheckItem(&problems, i + 1, elem, &checked[i]);
	}

	nspid = InventoryFunctionSchema(fcinfo);
	RequireSchemaFor(nspid, checked, nitems);
	seqid = InventoryRelid(nspid, "inventory_batch_id_seq");
	if (!OidIsValid(seqid))
		elog(ERROR, "inventory_batch_id_seq is missing from schema %s",
			 get_namespace_name(nspid));

	SPI_connect();
	merchant = CheckWarehouses(nspid, &problems, checked, nitems);

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
				 errdetail_internal("%s", InventoryProblemsDetail(&problems)),
				 errhint("Nothing was queued. Correct the listed items and send the whole batch again.")));
	}

	/* A retry of a request already queued gets its batch id; nothing else. */
	if (key != NULL)
	{
		hash = InventoryRequestHash(body, create_missing);
		claimed = InventoryClaimIdempotencyKey(nspid, key, merchant, hash);
		if (claimed != 0)
		{
			SPI_finish();
			PG_RETURN_INT64(claimed);
		}
	}

	/* Refuse if the queue is full (backpressure.c), before taking an id. */
	InventoryClaimQueueRoom(nspid, nitems);

	/* Take the batch id, announcing it to the applier first (id_horizon.c). */
	InventoryPublishIdBound(INVENTORY_ID_BATCH, seqid);
	batch_id = nextval_internal(seqid, false);
	if (key != NULL)
		InventoryRecordIdempotencyKey(nspid, key, merchant, batch_id);

	args[0] = Int64GetDatum(batch_id);
	args[1] = JsonbPGetDatum(items_jsonb);
	args[2] = Int32GetDatum(nitems);
	args[3] = InventoryOuterRoleName();
	args[4] = BoolGetDatum(create_missing);
	(void) InventoryStatementRun(&queue_insert, nspid, args, false, SPI_OK_INSERT);

	SPI_finish();
	PG_RETURN_INT64(batch_id);
}
