/*-------------------------------------------------------------------------
 *
 * channel_rule.c
 *	  A channel's inventory rule: the quantity to list for a summed
 *	  available.
 *
 * Sellbrite's rules, with a buffer first:
 *
 *	 q = available - buffer
 *	 q <= 0: list 0 (nothing to sell: no minimum either)
 *	 otherwise floor(q * percent / 100), then at most max, then at least min
 *
 * So a minimum keeps a listing alive only while there is something to sell
 * after the buffer, and a listing quantity is never negative.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/int.h"
#include "fmgr.h"

PG_FUNCTION_INFO_V1(inventory_channel_quantity);

/*
 * Refuse a rule that inventory_channels' constraints would refuse.
 */
static void
CheckRulePart(const char *name, int64 value, int64 upper)
{
	if (value < 0 || value > upper)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between 0 and " INT64_FORMAT ", not " INT64_FORMAT,
						name, upper, value)));
}

/*
 * The quantity to list: see the top of the file.  q * percent / 100 is
 * computed as (q / 100) * percent + (q % 100) * percent / 100, which is
 * the same floor without overflowing.
 */
static int64
InventoryChannelQuantity(int64 available, int32 percent, bool has_max, int64 max,
						 bool has_min, int64 min, int64 buffer)
{
	int64		q;

	if (pg_sub_s64_overflow(available, buffer, &q) || q <= 0)
		return 0;
	q = (q / 100) * percent + (q % 100) * percent / 100;
	if (has_max && q > max)
		q = max;
	if (has_min && q < min)
		q = min;
	return q;
}

/*
 * inventory_channel_quantity(available, percent, max, min, buffer): the
 * rule as SQL.  NULL available counts as 0, NULL percent as 100, NULL
 * buffer as 0; NULL max or min is no bound.
 */
Datum
inventory_channel_quantity(PG_FUNCTION_ARGS)
{
	int64		available = PG_ARGISNULL(0) ? 0 : PG_GETARG_INT64(0);
	int32		percent = PG_ARGISNULL(1) ? 100 : PG_GETARG_INT32(1);
	bool		has_max = !PG_ARGISNULL(2);
	bool		has_min = !PG_ARGISNULL(3);
	int64		max = has_max ? PG_GETARG_INT64(2) : 0;
	int64		min = has_min ? PG_GETARG_INT64(3) : 0;
	int64		buffer = PG_ARGISNULL(4) ? 0 : PG_GETARG_INT64(4);

	CheckRulePart("percent", percent, 100);
	if (has_max)
		CheckRulePart("max", max, PG_INT64_MAX);
	if (has_min)
		CheckRulePart("min", min, has_max ? max : PG_INT64_MAX);
	CheckRulePart("buffer", buffer, PG_INT64_MAX);
	PG_RETURN_INT64(InventoryChannelQuantity(available, percent, has_max, max,
											 has_min, min, buffer));
}
