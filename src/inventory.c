/*-------------------------------------------------------------------------
 *
 * inventory.c
 *	  Module entry point: configuration parameters, shared memory hooks,
 *	  the commit callback and the background worker registration.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include <limits.h>

#include "inventory.h"

PG_MODULE_MAGIC;

char	   *inventory_database = NULL;
int			inventory_naptime_ms = 1000;
bool		inventory_enabled = true;
int			inventory_batch_size = 200000;
int			inventory_max_batch_items = 50;
int			inventory_idempotency_retention_s = 86400;
int			inventory_debug_hold_ms = 0;
int			inventory_lock_timeout_ms = 5000;
int			inventory_max_queued_items = 10000000;
bool		inventory_restoring = false;
char	   *inventory_change_source = NULL;
static char *inventory_change_order = NULL;
static char *inventory_change_line = NULL;
static char *inventory_change_via = NULL;
static char *inventory_change_reason = NULL;

void		_PG_init(void);

/*
 * Define the configuration parameters.  The ones that only matter to the
 * background worker are defined only when the library is preloaded.
 */
static void
DefineParameters(void)
{
	DefineCustomIntVariable("inventory.max_batch_items",
							"Largest number of items one inventory_adjust call accepts.",
							NULL,
							&inventory_max_batch_items,
							50, 1, 10000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("inventory.batch_size",
							"Largest number of items applied in one transaction.",
							"Whole batches are applied together until this many items are taken; a single larger batch is applied alone. "
							"Larger rounds drain a backlog faster (items of one key are coalesced) but hold the level rows they change locked until they commit.",
							&inventory_batch_size,
							200000, 1, 1000000,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("inventory.idempotency_retention",
							"How long idempotency keys of inventory_adjust are kept.",
							"A key older than this may be used again for a new request.",
							&inventory_idempotency_retention_s,
							86400, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomStringVariable("inventory.change_reason",
							   "Description recorded in the ledger for direct changes of stock.",
							   "Set it (SET LOCAL) before changing inventory_levels or inventory_reservations by hand.",
							   &inventory_change_reason,
							   "",
							   PGC_USERSET, 0,
							   NULL, NULL, NULL);

	DefineCustomBoolVariable("inventory.restoring",
							 "Whether data is being restored (pg_restore), so the ledger and reservation triggers stand aside.",
							 "Set it for the restoring session, e.g. PGOPTIONS='-c inventory.restoring=on' pg_restore ...: the dump already holds the ledger and the reserved sums.",
							 &inventory_restoring,
							 false,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	/*
	 * Ledger context, set by the extension's own functions through their
	 * SET clauses and set_config(); not for users.
	 */
	DefineCustomStringVariable("inventory.change_source",
							   "Source recorded in the ledger (set by the extension's functions).",
							   NULL, &inventory_change_source, "",
							   PGC_SUSET, GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("inventory.change_order",
							   "Order reference recorded in the ledger (set by the extension's functions).",
							   NULL, &inventory_change_order, "",
							   PGC_SUSET, GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("inventory.change_line",
							   "Order line recorded in the ledger (set by the extension's functions).",
							   NULL, &inventory_change_line, "",
							   PGC_SUSET, GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("inventory.change_via",
							   "Path recorded in the ledger when no source is set (set by the extension's triggers).",
							   NULL, &inventory_change_via, "",
							   PGC_SUSET, GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);

	if (!process_shared_preload_libraries_in_progress)
		return;

	DefineCustomStringVariable("inventory.database",
							   "Database whose queue the inventory worker applies.",
							   NULL,
							   &inventory_database,
							   "postgres",
							   PGC_POSTMASTER, 0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("inventory.naptime",
							"Longest time the worker sleeps between checks of the queue.",
							"The worker is woken at the commit of every transaction that queued a batch; this poll is a safety net.",
							&inventory_naptime_ms,
							1000, 10, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("inventory.lock_timeout",
							"Longest time a round of the inventory worker waits for a lock.",
							"A round that waits longer is rolled back and retried at once, and the worker logs who holds the lock (at most every 10 s while it lasts). 0 waits without limit and reports nothing.",
							&inventory_lock_timeout_ms,
							5000, 0, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("inventory.max_queued_items",
							"Most items the queue of the worker's database may hold; inventory_adjust refuses batches beyond it.",
							"0 turns the limit off. Items of batches queued and not yet applied count, including those of the caller's own open transaction.",
							&inventory_max_queued_items,
							10000000, 0, INT_MAX,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("inventory.debug_hold_before_commit",
							"Test only: how long the worker waits between applying a round and committing it.",
							"Lets crash tests kill the worker while a round is applied but not committed; 0 (the default) in production.",
							&inventory_debug_hold_ms,
							0, 0, 600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS | GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("inventory.enabled",
							 "Whether the inventory worker applies queued batches.",
							 "Turn off and reload to pause the worker; batches stay queued.",
							 &inventory_enabled,
							 true,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);
}

/*
 * Module load callback.
 */
void
_PG_init(void)
{
	DefineParameters();
	MarkGUCPrefixReserved("inventory");

	/* Batches queued in a transaction are announced when it ends. */
	RegisterXactCallback(InventoryXactCallback, NULL);
	/* and their items counted (inventory.max_queued_items) */
	InventoryBackpressureInit();
	/* The ledger trigger tells the apply's own statements from others. */
	InventoryStatementOriginInit();

	if (!process_shared_preload_libraries_in_progress || IsBinaryUpgrade)
		return;

	InventoryShmemInit();
	InventoryRegisterWorker();
}
