/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  The extension's shared memory: asked for and set up when the library
 *	  is preloaded, one piece per module that keeps shared state.
 *
 *	  id_horizon.c      the lowest id each open transaction may take
 *	  wakeup.c          the worker's latch and why it was woken
 *	  worker_status.c   what the worker reports about itself
 *	  backpressure.c    the count of queued items
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "inventory.h"
#include "databases.h"

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* Whether this process has the shared state */
static bool attached = false;

/*
 * Ask for every module's shared memory (PostgreSQL 15 requires it in this
 * hook).
 */
static void
InventoryShmemRequest(void)
{
	Size		size = 0;

	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	size = add_size(size, InventoryIdHorizonShmemSize());
	size = add_size(size, InventoryDatabasesShmemSize());
	RequestAddinShmemSpace(size);
	InventoryDatabasesShmemRequest();
}

/*
 * Create or attach to every module's shared memory.
 */
static void
InventoryShmemStartup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	InventoryIdHorizonShmemInit();
	InventoryDatabasesShmemInit();
	LWLockRelease(AddinShmemInitLock);
	attached = true;
}

/*
 * Install the shared memory hooks; called from _PG_init when preloaded.
 */
void
InventoryShmemInit(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = InventoryShmemRequest;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = InventoryShmemStartup;
}

/*
 * Whether the shared state exists (the library was preloaded).
 */
bool
InventoryShmemAvailable(void)
{
	return attached;
}
