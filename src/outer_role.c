/*-------------------------------------------------------------------------
 *
 * outer_role.c
 *	  inventory_outer_role(): the role a change is recorded for.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/builtins.h"

#include "inventory.h"

PG_FUNCTION_INFO_V1(inventory_outer_role);

/*
 * The role in effect outside SECURITY DEFINER functions (the one SET ROLE
 * chose), as a name: who queued a batch, owns an idempotency key, made a
 * change recorded in the ledger.
 */
Datum
InventoryOuterRoleName(void)
{
	return DirectFunctionCall1(namein,
							   CStringGetDatum(GetUserNameFromId(GetOuterUserId(), false)));
}

/*
 * inventory_outer_role(): InventoryOuterRoleName, for the ledger trigger.
 */
Datum
inventory_outer_role(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(InventoryOuterRoleName());
}
