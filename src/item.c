/*-------------------------------------------------------------------------
 *
 * item.c
 *	  The fields of an item of inventory_adjust and its operations (see
 *	  item.h), and how each kind of value is stored.
 *
 * To add a field stored on the level row: add its column to
 * inventory_levels (install and update scripts) and an entry with role
 * INVENTORY_FIELD_ROW here.  Validation checks it by its kind, and the
 * apply reads it from queued items, sorts it, locks and reads the row's
 * value, applies the last value given for a key and writes the column.
 * To add an operation: an entry with role INVENTORY_FIELD_OPERATION and a
 * function giving its effect.  An expect field (INVENTORY_FIELD_EXPECT)
 * names a value of the row that must equal its operand for the item to
 * apply (compare-and-set).
 *
 * An item that does not apply (its expect differs, or its operation's
 * result does not fit) is recorded in inventory_batch_history.rejected,
 * which databases before version 1.3 lack: a field marked since_13 is
 * refused by inventory_adjust there, and a queued item with one fails its
 * batch there rather than being applied without it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/int.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/numeric.h"
#include "utils/uuid.h"

#include "inventory.h"
#include "item.h"

/*
 * on_hand: the row's on_hand becomes the operand.
 */
static bool
SetOnHand(int64 operand, int64 on_hand pg_attribute_unused(),
		  int64 reserved pg_attribute_unused(), int64 *new_on_hand)
{
	*new_on_hand = operand;
	return true;
}

/*
 * available: on_hand becomes the operand plus what is reserved, so that
 * available is the operand (Sellbrite's "available" adjustment, which
 * avoids deducting open orders twice).
 */
static bool
SetAvailable(int64 operand, int64 on_hand pg_attribute_unused(), int64 reserved,
			 int64 *new_on_hand)
{
	return !pg_add_s64_overflow(operand, reserved, new_on_hand);
}

/*
 * on_hand_delta: the operand is added to on_hand.  A delta may not take
 * on_hand below 0 or above INVENTORY_MAX_QUANTITY; one that leaves on_hand
 * nearer that range than it found it (a receipt while on_hand is negative
 * after an oversold fulfilment) applies.
 */
static bool
AddOnHand(int64 operand, int64 on_hand, int64 reserved pg_attribute_unused(),
		  int64 *new_on_hand)
{
	if (pg_add_s64_overflow(on_hand, operand, new_on_hand))
		return false;
	if (operand < 0 && *new_on_hand < 0)
		return false;
	if (operand > 0 && *new_on_hand > INVENTORY_MAX_QUANTITY)
		return false;
	return true;
}

/*
 * expect_on_hand compares on_hand.  Expects take negative values too: an
 * oversold fulfillment leaves on_hand, or available, below zero, and those
 * rows are the ones a client most needs to correct safely.
 */
static int64
RowOnHand(int64 on_hand, int64 reserved pg_attribute_unused())
{
	return on_hand;
}

/*
 * expect_available compares available, on_hand - reserved.
 */
static int64
RowAvailable(int64 on_hand, int64 reserved)
{
	return on_hand - reserved;
}

/*
 * The fields.  The key fields come first (INVENTORY_FIELD_SKU,
 * INVENTORY_FIELD_WAREHOUSE); "did you mean" prefers the earlier of two
 * equally near names (a problem is listed in the order of the item's
 * keys, not of this table).
 */
const InventoryItemField inventory_item_fields[] = {
	{.name = "sku", .role = INVENTORY_FIELD_KEY, .kind = INVENTORY_VALUE_TEXT,
	.maxchars = INVENTORY_MAX_SKU_LEN, .flags = INVENTORY_TEXT_SKU},
	{.name = "warehouse_uuid", .role = INVENTORY_FIELD_KEY, .kind = INVENTORY_VALUE_UUID},
	{.name = "on_hand", .role = INVENTORY_FIELD_OPERATION, .kind = INVENTORY_VALUE_QUANTITY,
	.operation = SetOnHand},
	{.name = "available", .role = INVENTORY_FIELD_OPERATION, .kind = INVENTORY_VALUE_QUANTITY,
	.operation = SetAvailable},
	{.name = "on_hand_delta", .role = INVENTORY_FIELD_OPERATION, .kind = INVENTORY_VALUE_SIGNED,
	.operation = AddOnHand, .since_13 = true},
	{.name = "expect_on_hand", .role = INVENTORY_FIELD_EXPECT, .kind = INVENTORY_VALUE_SIGNED,
	.rowvalue = RowOnHand, .column = "on_hand", .since_13 = true},
	{.name = "expect_available", .role = INVENTORY_FIELD_EXPECT, .kind = INVENTORY_VALUE_SIGNED,
	.rowvalue = RowAvailable, .column = "available", .since_13 = true},
	{.name = "description", .role = INVENTORY_FIELD_NOTE, .kind = INVENTORY_VALUE_TEXT,
	.maxchars = INVENTORY_MAX_DESCRIPTION_LEN},
	{.name = "bin_location", .role = INVENTORY_FIELD_ROW, .kind = INVENTORY_VALUE_TEXT,
	.maxchars = INVENTORY_MAX_BIN_LEN},
	{.name = "cost", .role = INVENTORY_FIELD_ROW, .kind = INVENTORY_VALUE_MONEY},
};

const int	inventory_num_item_fields = lengthof(inventory_item_fields);

StaticAssertDecl(lengthof(inventory_item_fields) <= INVENTORY_MAX_ITEM_FIELDS,
				 "too many item fields for INVENTORY_MAX_ITEM_FIELDS");

/*
 * Number of the field with the given name, or -1.
 */
int
InventoryItemFieldByName(const char *name, int len)
{
	for (int f = 0; f < inventory_num_item_fields; f++)
		if (strncmp(inventory_item_fields[f].name, name, len) == 0 &&
			inventory_item_fields[f].name[len] == '\0')
			return f;
	return -1;
}

/*
 * Whether the batch history of the schema can record items that were not
 * applied (the column "rejected", version 1.3 on).
 */
bool
InventorySchemaRecordsRejected(Oid nspid)
{
	return InventoryRelHasColumn(nspid, "inventory_batch_history", "rejected");
}

/*
 * Number of the note field, recorded in the ledger's description column.
 */
int
InventoryItemNoteField(void)
{
	for (int f = 0; f < inventory_num_item_fields; f++)
		if (inventory_item_fields[f].role == INVENTORY_FIELD_NOTE)
			return f;
	elog(ERROR, "inventory items have no note field");
	return -1;					/* keep compiler quiet */
}

/*
 * SQL type a kind of value is stored as.
 */
Oid
InventoryValueType(InventoryValueKind kind)
{
	switch (kind)
	{
		case INVENTORY_VALUE_TEXT:
			return TEXTOID;
		case INVENTORY_VALUE_UUID:
			return UUIDOID;
		case INVENTORY_VALUE_QUANTITY:
		case INVENTORY_VALUE_SIGNED:
			return INT8OID;
		case INVENTORY_VALUE_MONEY:
			return NUMERICOID;
	}
	elog(ERROR, "unknown inventory value kind %d", (int) kind);
	return InvalidOid;			/* keep compiler quiet */
}

/*
 * A validated JSON value of a queued item as a Datum of its SQL type,
 * pointing into the JSON value where it can.
 */
Datum
InventoryValueDatum(InventoryValueKind kind, const char *field, const JsonbValue *v)
{
	bool		overflow = false;
	int32		n;
	pg_uuid_t  *uuid;

	switch (kind)
	{
		case INVENTORY_VALUE_TEXT:
			if (v->type == jbvString)
				return PointerGetDatum(cstring_to_text_with_len(v->val.string.val,
																v->val.string.len));
			break;
		case INVENTORY_VALUE_UUID:
			uuid = palloc(sizeof(pg_uuid_t));
			if (v->type == jbvString &&
				InventoryParseUuid(v->val.string.val, v->val.string.len, uuid))
				return UUIDPGetDatum(uuid);
			break;
		case INVENTORY_VALUE_QUANTITY:
		case INVENTORY_VALUE_SIGNED:
			if (v->type != jbvNumeric)
				break;
			n = numeric_int4_opt_error(v->val.numeric, &overflow);
			if (!overflow && n >= (kind == INVENTORY_VALUE_SIGNED ? -INVENTORY_MAX_QUANTITY : 0))
				return Int64GetDatum((int64) n);
			break;
		case INVENTORY_VALUE_MONEY:
			if (v->type == jbvNumeric)
				return NumericGetDatum(v->val.numeric);
			break;
	}
	elog(ERROR, "queued item has an invalid \"%s\"", field);
	return (Datum) 0;			/* keep compiler quiet */
}

/*
 * Whether a kind of value is passed by value, and its length.
 */
static void
ValueLayout(InventoryValueKind kind, bool *byval, int *typlen)
{
	*byval = false;
	*typlen = -1;
	switch (kind)
	{
		case INVENTORY_VALUE_QUANTITY:
		case INVENTORY_VALUE_SIGNED:
			*byval = true;
			*typlen = sizeof(int64);
			return;
		case INVENTORY_VALUE_UUID:
			*byval = false;
			*typlen = UUID_LEN;
			return;
		case INVENTORY_VALUE_TEXT:
		case INVENTORY_VALUE_MONEY:
			return;				/* varlena */
	}
}

/*
 * Bytes a value takes in memory.
 */
Size
InventoryValueSize(InventoryValueKind kind, Datum value)
{
	bool		byval;
	int			typlen;

	ValueLayout(kind, &byval, &typlen);
	return byval ? 0 : datumGetSize(value, byval, typlen);
}

/*
 * A copy of a value in the current memory context.
 */
Datum
InventoryValueCopy(InventoryValueKind kind, Datum value)
{
	bool		byval;
	int			typlen;

	ValueLayout(kind, &byval, &typlen);
	return datumCopy(value, byval, typlen);
}

/*
 * Whether two values are the same (bytewise, as stored).
 */
bool
InventoryValueEqual(InventoryValueKind kind, Datum a, Datum b)
{
	bool		byval;
	int			typlen;

	ValueLayout(kind, &byval, &typlen);
	return datum_image_eq(a, b, byval, typlen);
}

/*
 * Order of (sku, warehouse) keys: bytewise sku (collation "C", as the
 * table's), then uuid.  The apply locks rows in this order.
 */
int
InventoryCompareKeys(const char *sku1, int len1, const pg_uuid_t *wh1,
					 const char *sku2, int len2, const pg_uuid_t *wh2)
{
	int			c = memcmp(sku1, sku2, Min(len1, len2));

	if (c != 0)
		return c;
	if (len1 != len2)
		return len1 < len2 ? -1 : 1;
	return memcmp(wh1->data, wh2->data, UUID_LEN);
}
