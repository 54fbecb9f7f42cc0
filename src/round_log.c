/*-------------------------------------------------------------------------
 *
 * round_log.c
 *	  inventory.log_min_duration: log the worker's rounds and passes of the
 *	  feeds that took at least that long, phase by phase, with the time
 *	  the worker spent on a CPU.
 *
 * The delay from a commit to its batch applied is the rounds' time; a
 * slow round says where its time went: the apply, its commit, or neither
 * (on_cpu well below the wall time: the worker waited for a CPU, a disk
 * or a lock).  Like log_autovacuum_min_duration, -1 (the default) logs
 * nothing and 0 logs every round.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include "utils/guc.h"
#include "utils/timestamp.h"

#include "inventory.h"

/* inventory.log_min_duration, in milliseconds; -1: off */
static int	log_min_duration_ms = -1;

/*
 * Define inventory.log_min_duration; called from _PG_init.
 */
void
InventoryRoundLogInit(void)
{
	DefineCustomIntVariable("inventory.log_min_duration",
							"Logs each round of the worker, and each pass of the feeds, that takes at least this long.",
							"The line gives the time of each phase and the time spent on a CPU; -1 logs nothing, 0 every round.",
							&log_min_duration_ms,
							-1, -1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
}

/*
 * The CPU time of this process so far, in microseconds (0 where the
 * platform cannot tell).
 */
static int64
CpuMicroseconds(void)
{
#ifdef CLOCK_THREAD_CPUTIME_ID
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0)
		return (int64) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
#endif
	return 0;
}

/*
 * Start timing a round or a pass (the first phase begins now).
 */
void
InventoryClockStart(InventoryClock *clock)
{
	memset(clock, 0, sizeof(*clock));
	if (log_min_duration_ms < 0)
		return;
	clock->started = GetCurrentTimestamp();
	clock->last = clock->started;
	clock->cpu_started = CpuMicroseconds();
}

/*
 * End the current phase (0 or 1: see InventoryClock).
 */
void
InventoryClockMark(InventoryClock *clock, int phase)
{
	TimestampTz now;

	if (clock->started == 0)
		return;					/* not timed: the setting was off at the start */
	now = GetCurrentTimestamp();
	clock->phase_us[phase] += now - clock->last;
	clock->last = now;
}

/*
 * Log the round or pass when it took at least inventory.log_min_duration:
 * what (a sentence's subject, e.g. "a round of 3 batches (150 items)") and
 * the names of its two phases.
 */
void
InventoryClockLog(InventoryClock *clock, const char *what,
				  const char *phase0, const char *phase1)
{
	int64		wall;
	int64		cpu;

	if (clock->started == 0)
		return;
	wall = GetCurrentTimestamp() - clock->started;
	if (wall < (int64) log_min_duration_ms * 1000)
		return;
	cpu = CpuMicroseconds() - clock->cpu_started;
	ereport(LOG,
			(errmsg("inventory worker: %s took %.3f ms (%s %.3f ms, %s %.3f ms; on a CPU %.3f ms)",
					what, wall / 1000.0,
					phase0, clock->phase_us[0] / 1000.0,
					phase1, clock->phase_us[1] / 1000.0,
					cpu / 1000.0)));
}
