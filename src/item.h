/*-------------------------------------------------------------------------
 *
 * item.h
 *	  The description of an item of inventory_adjust: its fields, what each
 *	  is to the level row, and the operations an item can do.
 *
 * Validation (adjust.c), the apply (item_stream.c, chunk_writer.c) and the
 * statements that write inventory_levels all read this one table (item.c):
 * a field or an operation is added there.
 *
 *-------------------------------------------------------------------------
 */
#ifndef INVENTORY_ITEM_H
#define INVENTORY_ITEM_H

#include "postgres.h"

#include "utils/jsonb.h"
#include "utils/uuid.h"

/* What a field is to the level row */
typedef enum InventoryFieldRole
{
	INVENTORY_FIELD_KEY,		/* addresses the row: sku, warehouse_uuid */
	INVENTORY_FIELD_OPERATION,	/* names what the item does; its value is the
								 * operand; exactly one per item */
	INVENTORY_FIELD_EXPECT,		/* a condition: the item applies only when
								 * the row's value (the field's rowvalue)
								 * equals it; at most one per item */
	INVENTORY_FIELD_ROW,		/* a column of the row, set as given: the
								 * last value given for a key wins */
	INVENTORY_FIELD_NOTE		/* recorded in the item's ledger row only */
} InventoryFieldRole;

/* What values a field takes, and how it is checked and stored */
typedef enum InventoryValueKind
{
	INVENTORY_VALUE_TEXT,		/* a string (maxchars and flags, validate.c);
								 * SQL text */
	INVENTORY_VALUE_UUID,		/* a UUID in canonical form; SQL uuid */
	INVENTORY_VALUE_QUANTITY,	/* a whole number, 0 to INVENTORY_MAX_QUANTITY;
								 * SQL bigint */
	INVENTORY_VALUE_SIGNED,		/* a whole number, -INVENTORY_MAX_QUANTITY to
								 * INVENTORY_MAX_QUANTITY; SQL bigint */
	INVENTORY_VALUE_MONEY		/* a number, 0 to 99999999.99, 2 decimal
								 * places; SQL numeric(10,2) */
} InventoryValueKind;

/*
 * The effect of an operation: the row's new on_hand from the item's
 * operand and the row's on_hand and reserved as read under its lock.
 * Returns false when the result does not fit.
 */
typedef bool (*InventoryOperationFn) (int64 operand, int64 on_hand, int64 reserved,
									  int64 *new_on_hand);

/*
 * The value of the row an expect field compares with its operand, from the
 * row's on_hand and reserved (0 and 0 for a row the item would create).
 */
typedef int64 (*InventoryRowValueFn) (int64 on_hand, int64 reserved);

/* One field of an item */
typedef struct InventoryItemField
{
	const char *name;			/* JSON key; for a row field also its column */
	InventoryFieldRole role;
	InventoryValueKind kind;
	int			maxchars;		/* text: longest accepted, in characters */
	int			flags;			/* text: INVENTORY_TEXT_* rules */
	InventoryOperationFn operation; /* an operation's effect */
	InventoryRowValueFn rowvalue;	/* an expect field's value of the row */
	const char *column;			/* an expect field: the column it compares */
	bool		since_13;		/* needs version 1.3 of the schema, which
								 * records items that are not applied
								 * (inventory_batch_history.rejected) */
} InventoryItemField;

/* Most fields an item can have (the size of per-item arrays) */
#define INVENTORY_MAX_ITEM_FIELDS	16

/* The key fields come first, in this order */
#define INVENTORY_FIELD_SKU			0
#define INVENTORY_FIELD_WAREHOUSE	1

extern const InventoryItemField inventory_item_fields[];
extern const int inventory_num_item_fields;

extern int	InventoryItemFieldByName(const char *name, int len);
extern bool InventorySchemaRecordsRejected(Oid nspid);
extern int	InventoryItemNoteField(void);
extern Oid	InventoryValueType(InventoryValueKind kind);
extern Datum InventoryValueDatum(InventoryValueKind kind, const char *field,
								 const JsonbValue *v);
extern Size InventoryValueSize(InventoryValueKind kind, Datum value);
extern Datum InventoryValueCopy(InventoryValueKind kind, Datum value);
extern bool InventoryValueEqual(InventoryValueKind kind, Datum a, Datum b);
extern int	InventoryCompareKeys(const char *sku1, int len1, const pg_uuid_t *wh1,
								 const char *sku2, int len2, const pg_uuid_t *wh2);

#endif							/* INVENTORY_ITEM_H */
