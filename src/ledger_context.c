/*-------------------------------------------------------------------------
 *
 * ledger_context.c
 *	  The settings the ledger trigger reads to record why and by what a
 *	  change of stock was made.
 *
 * inventory.change_reason is the user's: set it (SET LOCAL) before
 * changing stock by hand, and the ledger records it.  The others are the
 * extension's own, set by its functions' SET clauses and by the worker,
 * and hidden from SHOW ALL.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "inventory.h"

static char *change_reason = NULL;
static char *change_source = NULL;
static char *change_order = NULL;
static char *change_line = NULL;
static char *change_via = NULL;
static char *change_transfer = NULL;

/*
 * Define the settings; called from _PG_init.
 */
void
InventoryLedgerContextInit(void)
{
	DefineCustomStringVariable("inventory.change_reason",
							   "Description recorded in the ledger for direct changes of stock.",
							   "Set it (SET LOCAL) before changing inventory_levels or inventory_reservations by hand.",
							   &change_reason,
							   "",
							   PGC_USERSET, 0,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("inventory.change_source",
							   "Source recorded in the ledger (set by the extension's functions).",
							   NULL, &change_source, "",
							   PGC_SUSET, GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("inventory.change_order",
							   "Order reference recorded in the ledger (set by the extension's functions).",
							   NULL, &change_order, "",
							   PGC_SUSET, GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("inventory.change_line",
							   "Order line recorded in the ledger (set by the extension's functions).",
							   NULL, &change_line, "",
							   PGC_SUSET, GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("inventory.change_via",
							   "Path recorded in the ledger when no source is set (set by the extension's triggers).",
							   NULL, &change_via, "",
							   PGC_SUSET, GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("inventory.change_transfer",
							   "Transfer recorded in the ledger (set by the extension's transfer functions).",
							   NULL, &change_transfer, "",
							   PGC_SUSET, GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
}
