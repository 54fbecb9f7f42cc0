/*-------------------------------------------------------------------------
 *
 * inventory.c
 *	  Module entry point: each module defines its own settings and hooks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/guc.h"

#include "inventory.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/*
 * Module load callback.  The worker, its settings and the shared memory
 * exist only when the library is preloaded (and the worker and shared
 * memory not during pg_upgrade).
 */
void
_PG_init(void)
{
	InventoryAdjustInit();
	InventoryRoundInit();
	InventoryIdempotencyInit();
	InventoryMerchantInit();
	InventoryRetentionInit();
	InventoryLedgerContextInit();
	InventoryTriggersInit();
	InventoryTransactionEndInit();
	InventoryExpiryInit();
	InventoryFeedsInit();
	InventoryRoundLogInit();
	InventoryBackpressureInit();
	InventoryStatementOriginInit();
	InventoryUtilityHookInit();

	InventoryLauncherInit();
	InventoryWorkerInit();
	if (process_shared_preload_libraries_in_progress && !IsBinaryUpgrade)
		InventoryShmemInit();
	MarkGUCPrefixReserved("inventory");
}
