/*-------------------------------------------------------------------------
 *
 * blockers.c
 *	  Tell the administrator who stalls the worker, with the session's
 *	  state (for example "idle in transaction" since when), at most once
 *	  every REPORT_INTERVAL_S while it lasts:
 *	  - when a round gave up waiting for a lock (inventory.lock_timeout),
 *	    the sessions that hold locks on inventory_levels and whose
 *	    transactions are older than that wait;
 *	  - when rounds have been held back for as long by a transaction that
 *	    queued a batch and has not committed (batches are applied in id
 *	    order), that transaction's session.
 *
 * A row lock is not in the lock table, but the transaction holding it also
 * holds a lock on the row's relation; any transaction the round waited for
 * began before the wait did, so it is among those listed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "inventory.h"

#if PG_VERSION_NUM >= 170000
#define pgstat_fetch_stat_local_beentry(i) pgstat_get_local_beentry_by_index(i)
#endif

/* Seconds at least between two reports */
#define REPORT_INTERVAL_S	10

/* Longest piece of a blocker's last statement quoted, in bytes */
#define MAX_QUOTED_QUERY	200

/* When the last report was made */
static TimestampTz last_report = 0;

/*
 * The state of a backend as pg_stat_activity names it.
 */
static const char *
StateName(BackendState state)
{
	switch (state)
	{
		case STATE_IDLE:
			return "idle";
		case STATE_RUNNING:
			return "active";
		case STATE_IDLEINTRANSACTION:
			return "idle in transaction";
		case STATE_FASTPATH:
			return "fastpath function call";
		case STATE_IDLEINTRANSACTION_ABORTED:
			return "idle in transaction (aborted)";
		case STATE_DISABLED:
			return "disabled";
		case STATE_UNDEFINED:
			break;
	}
	return "in an unknown state";
}

/*
 * The activity entry of the backend with this pid, or NULL.
 */
static PgBackendStatus *
FindBackend(int pid)
{
	int			n = pgstat_fetch_stat_numbackends();

	for (int i = 1; i <= n; i++)
	{
		LocalPgBackendStatus *local = pgstat_fetch_stat_local_beentry(i);

		if (local != NULL && local->backendStatus.st_procpid == pid)
			return &local->backendStatus;
	}
	return NULL;
}

/*
 * The last statement of a backend, shortened to be quoted in the log.
 */
static char *
LastStatement(PgBackendStatus *be)
{
	char	   *query = pgstat_clip_activity(be->st_activity_raw);

	if (strlen(query) > MAX_QUOTED_QUERY)
		query[pg_mbcliplen(query, strlen(query), MAX_QUOTED_QUERY)] = '\0';
	return InventoryPrintable(query);
}

/*
 * Whether a report is due at now (and if so, the next one is counted from
 * now).
 */
static bool
ReportDue(TimestampTz now)
{
	if (!TimestampDifferenceExceeds(last_report, now, REPORT_INTERVAL_S * 1000))
		return false;
	last_report = now;
	return true;
}

/*
 * Log one blocker: its pid, the lock it holds, its state and since when,
 * its transaction's start and its last statement.
 */
static void
ReportOne(int pid, LOCKMODE mode, PgBackendStatus *be, int waited_ms)
{
	char	   *query = LastStatement(be);

	ereport(LOG,
			(errmsg("inventory worker is blocked by process %d, which holds %s on inventory_levels and is %s since %s",
					pid, GetLockmodeName(DEFAULT_LOCKMETHOD, mode),
					StateName(be->st_state),
					timestamptz_to_str(be->st_state_start_timestamp)),
			 errdetail("A round waited %d ms for a lock, was rolled back and is retried; queued batches wait until that transaction ends. "
					   "Its transaction started at %s; its last statement: %s",
					   waited_ms, timestamptz_to_str(be->st_xact_start_timestamp), query),
			 errhint("End that transaction (COMMIT or ROLLBACK), or run SELECT pg_terminate_backend(%d); "
					 "idle_in_transaction_session_timeout ends such sessions automatically.", pid)));
}

/*
 * Report who holds locks on inventory_levels of the extension in schema
 * nspid, after a round gave up at gave_up_at having waited waited_ms: the
 * other sessions holding more than AccessShareLock on it whose
 * transactions began before the wait did.  Does nothing when the last
 * report is less than REPORT_INTERVAL_S old.  The caller is in a
 * transaction.
 */
void
InventoryReportLockHolders(Oid nspid, TimestampTz gave_up_at, int waited_ms)
{
	Oid			levels = InventoryRelid(nspid, "inventory_levels");
	TimestampTz wait_began = TimestampTzPlusMilliseconds(gave_up_at, -waited_ms);
	LockData   *locks;
	int			reported = 0;

	if (!ReportDue(gave_up_at) || !OidIsValid(levels))
		return;

	locks = GetLockStatusData();
	for (int i = 0; i < locks->nelements; i++)
	{
		LockInstanceData *l = &locks->locks[i];
		LOCKMODE	mode = NoLock;
		PgBackendStatus *be;

		if (l->locktag.locktag_type != LOCKTAG_RELATION ||
			l->locktag.locktag_field1 != MyDatabaseId ||
			l->locktag.locktag_field2 != levels ||
			l->pid == MyProcPid || l->pid == 0)
			continue;
		for (LOCKMODE m = AccessExclusiveLock; m > AccessShareLock; m--)
			if (l->holdMask & LOCKBIT_ON(m))
			{
				mode = m;
				break;
			}
		if (mode == NoLock)
			continue;
		be = FindBackend(l->pid);
		if (be == NULL || be->st_xact_start_timestamp == 0 ||
			be->st_xact_start_timestamp > wait_began)
			continue;
		ReportOne(l->pid, mode, be, waited_ms);
		reported++;
	}

	if (reported == 0)
		ereport(LOG,
				(errmsg("inventory worker waited %d ms for a lock and retries the round", waited_ms),
				 errdetail("No session holding a lock on inventory_levels since before the wait was found; it may have ended meanwhile.")));
}

/*
 * Report the session whose uncommitted batch has held the worker's rounds
 * back since held_since (the batches queued after it wait for it).  Does
 * nothing when the last report is less than REPORT_INTERVAL_S old, or the
 * session is gone, or its transaction began after held_since (then the
 * rounds were held back by a succession of short transactions of one
 * client, which is normal).  The caller is in a transaction.
 */
void
InventoryReportHeldBack(int pid, TimestampTz held_since)
{
	PgBackendStatus *be = FindBackend(pid);

	/* the same transaction all along, not a client's succession of them */
	if (be == NULL || be->st_xact_start_timestamp == 0 ||
		be->st_xact_start_timestamp > held_since ||
		!ReportDue(GetCurrentTimestamp()))
		return;
	ereport(LOG,
			(errmsg("inventory worker is held back by process %d, whose transaction queued a batch that is not committed and is %s since %s",
					pid, StateName(be->st_state),
					timestamptz_to_str(be->st_state_start_timestamp)),
			 errdetail("Batches are applied in id order: the batches queued after it have waited since %s for that transaction to commit or roll back. "
					   "Its transaction started at %s; its last statement: %s",
					   timestamptz_to_str(held_since),
					   timestamptz_to_str(be->st_xact_start_timestamp), LastStatement(be)),
			 errhint("End that transaction (COMMIT or ROLLBACK), or run SELECT pg_terminate_backend(%d); "
					 "idle_in_transaction_session_timeout ends such sessions automatically.", pid)));
}
