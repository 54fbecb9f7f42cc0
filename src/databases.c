/*-------------------------------------------------------------------------
 *
 * databases.c
 *	  The table of databases in shared memory that the launcher serves:
 *	  finding a database's entry, and reusing idle entries.
 *
 * A backend finds its database's entry on every commit that queued a
 * batch, so it remembers where the entry was and only checks, under the
 * entry's mutex, that it still belongs to its database.  The table lock is
 * taken only to take or reuse an entry.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "inventory.h"
#include "databases.h"

typedef struct DatabasesShared
{
	LWLock	   *lock;			/* taking or reusing an entry */
	slock_t		mutex;			/* protects launcher_procno */
	int			launcher_procno;	/* the launcher's latch, or -1 */
	bool		launcher_enabled;	/* inventory.enabled, as the launcher sees it */
	bool		sweep_requested;	/* a database found no free entry */
	int			databases_waiting;	/* with work and no worker, for lack of a slot */
	InventoryDatabase entries[INVENTORY_MAX_DATABASES];
} DatabasesShared;

static DatabasesShared *shared = NULL;

/* An entry just taken is not reused for this long (its taker locks it next) */
#define ENTRY_MIN_AGE_MS	1000

/* Where this backend last found its database's entry, or -1 */
static int	my_index = -1;

/*
 * Shared memory needed.
 */
Size
InventoryDatabasesShmemSize(void)
{
	return sizeof(DatabasesShared);
}

/*
 * Ask for the table's lock; called from the shared memory request hook.
 */
void
InventoryDatabasesShmemRequest(void)
{
	RequestNamedLWLockTranche("inventory databases", 1);
}

/*
 * Create or attach to the table (under AddinShmemInitLock).
 */
void
InventoryDatabasesShmemInit(void)
{
	bool		found;

	shared = ShmemInitStruct("inventory databases", sizeof(DatabasesShared), &found);
	if (found)
		return;
	shared->lock = &(GetNamedLWLockTranche("inventory databases"))->lock;
	SpinLockInit(&shared->mutex);
	shared->launcher_procno = -1;
	shared->launcher_enabled = true;
	shared->sweep_requested = false;
	shared->databases_waiting = 0;
	for (int i = 0; i < INVENTORY_MAX_DATABASES; i++)
	{
		InventoryDatabase *db = &shared->entries[i];

		memset(db, 0, sizeof(InventoryDatabase));
		SpinLockInit(&db->mutex);
		db->dboid = InvalidOid;
		db->worker_procno = -1;
	}
}

/*
 * Whether an entry may be given to another database: nothing to do, no
 * worker, no command holding it off (one whose session died holds it off
 * only until the hold-off ends).  Under the entry's mutex.
 */
static bool
EntryReusable(InventoryDatabase *db, TimestampTz now)
{
	return db->state == INVENTORY_WORKER_NONE && db->worker_pid == 0 &&
		!db->batches_waiting && !db->changes_waiting && !db->visit_waiting &&
		db->hold_off_until <= now &&
		TimestampDifferenceExceeds(db->taken_at, now, ENTRY_MIN_AGE_MS);
}

/*
 * Give an entry to database dboid, every field but its mutex reset; under
 * the entry's mutex.
 */
static void
ResetEntry(InventoryDatabase *db, Oid dboid, TimestampTz now)
{
	memset((char *) db + offsetof(InventoryDatabase, dboid), 0,
		   sizeof(InventoryDatabase) - offsetof(InventoryDatabase, dboid));
	db->dboid = dboid;
	db->worker_procno = -1;
	db->taken_at = now;
}

/*
 * Take an entry for dboid, or find the one it has, under the table lock:
 * the index, or -1 when every entry is busy.  Entries of databases without
 * the extension are reused first, then the one idle the longest, those
 * with holds to expire last (they lose that reminder).
 */
static int
TakeEntry(Oid dboid)
{
	int			found = -1;
	int			best = -1;
	int			best_rank = 0;
	TimestampTz best_exit = 0;
	TimestampTz now = GetCurrentTimestamp();

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < INVENTORY_MAX_DATABASES && found < 0; i++)
	{
		InventoryDatabase *db = &shared->entries[i];
		int			rank;

		SpinLockAcquire(&db->mutex);
		if (db->dboid == dboid)
			found = i;
		else if (!OidIsValid(db->dboid) || EntryReusable(db, now))
		{
			/* free (4), no extension there (3), idle (2), holds to expire (1) */
			rank = !OidIsValid(db->dboid) ? 4 : !db->extension_found ? 3 :
				db->expiry_at == 0 ? 2 : 1;
			if (rank > best_rank || (rank == best_rank && db->exited_at < best_exit))
			{
				best = i;
				best_rank = rank;
				best_exit = db->exited_at;
			}
		}
		SpinLockRelease(&db->mutex);
	}
	if (found < 0 && best >= 0)
	{
		InventoryDatabase *db = &shared->entries[best];

		SpinLockAcquire(&db->mutex);
		if (!OidIsValid(db->dboid) || EntryReusable(db, now))
		{
			ResetEntry(db, dboid, now);
			found = best;
		}
		SpinLockRelease(&db->mutex);
	}
	LWLockRelease(shared->lock);
	return found;
}

/*
 * The entry of database dboid, with its mutex held, or NULL when it has
 * none (and create is false, or every entry is busy, or the library is not
 * preloaded).  The caller holds the mutex only for a few assignments and
 * releases it with InventoryDatabaseUnlock.  Allocates nothing and cannot
 * fail, so it is safe after commit.
 */
InventoryDatabase *
InventoryDatabaseLock(Oid dboid, bool create)
{
	int			index;

	if (shared == NULL || !OidIsValid(dboid))
		return NULL;
	index = (dboid == MyDatabaseId) ? my_index : -1;
	for (int tries = 0; tries < 2; tries++)
	{
		if (index >= 0)
		{
			InventoryDatabase *db = &shared->entries[index];

			SpinLockAcquire(&db->mutex);
			if (db->dboid == dboid)
			{
				if (dboid == MyDatabaseId)
					my_index = index;
				return db;
			}
			SpinLockRelease(&db->mutex);
		}
		if (create)
			index = TakeEntry(dboid);
		else
		{
			index = -1;
			LWLockAcquire(shared->lock, LW_SHARED);
			for (int i = 0; i < INVENTORY_MAX_DATABASES && index < 0; i++)
				if (shared->entries[i].dboid == dboid)
					index = i;
			LWLockRelease(shared->lock);
		}
		if (index < 0)
			return NULL;
	}
	return NULL;
}

/*
 * Release the mutex of an entry InventoryDatabaseLock returned.
 */
void
InventoryDatabaseUnlock(InventoryDatabase *db)
{
	SpinLockRelease(&db->mutex);
}

/*
 * The entry at index (0 .. INVENTORY_MAX_DATABASES - 1), for the launcher
 * and inventory_worker_status(), which lock it themselves.
 */
InventoryDatabase *
InventoryDatabaseAt(int index)
{
	if (shared == NULL || index < 0 || index >= INVENTORY_MAX_DATABASES)
		return NULL;
	return &shared->entries[index];
}

/*
 * Register the calling process as the launcher to wake (-1: none), and
 * whether it sees the workers enabled.
 */
void
InventorySetLauncherLatch(int procno, bool enabled)
{
	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	shared->launcher_procno = procno;
	shared->launcher_enabled = enabled;
	SpinLockRelease(&shared->mutex);
}

/*
 * Whether the launcher, if one runs, sees the workers enabled: false until
 * it has taken a reload that paused them.  Without a launcher, this
 * session's setting.
 */
bool
InventoryLauncherSeesEnabled(void)
{
	bool		enabled;
	bool		running;

	if (shared == NULL)
		return InventoryApplyEnabled();
	SpinLockAcquire(&shared->mutex);
	running = shared->launcher_procno >= 0;
	enabled = shared->launcher_enabled;
	SpinLockRelease(&shared->mutex);
	return running ? enabled : InventoryApplyEnabled();
}

/*
 * Set the launcher's latch.  Cannot fail.
 */
void
InventoryWakeLauncher(void)
{
	int			procno;

	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	procno = shared->launcher_procno;
	SpinLockRelease(&shared->mutex);
	if (procno >= 0 && procno != MyProc->pgprocno)
		ProcSendSignal(procno);
}

/*
 * Ask the launcher to look at every database: one found no free entry to
 * record its reason in.  Cannot fail.
 */
void
InventoryRequestSweep(void)
{
	SpinLockAcquire(&shared->mutex);
	shared->sweep_requested = true;
	SpinLockRelease(&shared->mutex);
	InventoryWakeLauncher();
}

/*
 * Whether a sweep was requested since the launcher last asked.
 */
bool
InventoryTakeSweepRequest(void)
{
	bool		requested;

	if (shared == NULL)
		return false;
	SpinLockAcquire(&shared->mutex);
	requested = shared->sweep_requested;
	shared->sweep_requested = false;
	SpinLockRelease(&shared->mutex);
	return requested;
}

/*
 * Publish how many databases have work and wait for a worker slot; a
 * worker with more to do leaves after its time slice while some do.
 */
void
InventorySetDatabasesWaiting(int n)
{
	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	shared->databases_waiting = n;
	SpinLockRelease(&shared->mutex);
}

/*
 * Whether a database waits for a worker slot, taking it for the caller (a
 * worker that then leaves), so that one waiting database makes one worker
 * leave, not all of them.
 */
bool
InventoryClaimWaitingSlot(void)
{
	bool		claimed = false;

	if (shared == NULL)
		return false;
	SpinLockAcquire(&shared->mutex);
	if (shared->databases_waiting > 0)
	{
		shared->databases_waiting--;
		claimed = true;
	}
	SpinLockRelease(&shared->mutex);
	return claimed;
}
