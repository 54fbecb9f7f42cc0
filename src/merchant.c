/*-------------------------------------------------------------------------
 *
 * merchant.c
 *	  The merchant a session acts for: the setting inventory.merchant
 *	  (version 1.6).
 *
 * Warehouses belong to merchants (inventory_warehouses.merchant).  A router
 * in front of several nodes sets inventory.merchant for each call it sends
 * (see inventory_router); when set, every function that names warehouses
 * accepts only that merchant's, and the reads show only that merchant's
 * rows.  It guards against routing mistakes, not against the caller: any
 * role may set it, and privileges stay what restricts a role.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "inventory.h"

/* inventory.merchant; "" when the session acts for any merchant */
static char *inventory_merchant = NULL;

/*
 * Accept a merchant name of at most 255 bytes without control characters
 * (the rule of inventory_warehouses.merchant).
 */
static bool
CheckMerchant(char **newval, void **extra, GucSource source)
{
	(void) extra;
	(void) source;
	if (strlen(*newval) > 255)
	{
		GUC_check_errdetail("A merchant name has at most 255 bytes.");
		return false;
	}
	for (const char *p = *newval; *p; p++)
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
		{
			GUC_check_errdetail("A merchant name has no control characters.");
			return false;
		}
	return true;
}

/*
 * Define inventory.merchant; called from _PG_init.
 */
void
InventoryMerchantInit(void)
{
	DefineCustomStringVariable("inventory.merchant",
							   "The merchant this session acts for; empty for any.",
							   "When set, the inventory functions accept only warehouses "
							   "of this merchant and show only its rows.",
							   &inventory_merchant,
							   "",
							   PGC_USERSET, 0,
							   CheckMerchant, NULL, NULL);
}

/*
 * The merchant the session acts for, or NULL when it acts for any.
 */
const char *
InventoryCurrentMerchant(void)
{
	if (inventory_merchant == NULL || inventory_merchant[0] == '\0')
		return NULL;
	return inventory_merchant;
}
