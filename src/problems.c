/*-------------------------------------------------------------------------
 *
 * problems.c
 *	  The problems found in a rejected batch, listed in one DETAIL, and how
 *	  pieces of the caller's input are quoted back in them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
#include "utils/varlena.h"

#include "problems.h"

/* Problems beyond this many are counted but not listed */
#define MAX_LISTED_PROBLEMS 100

/*
 * Longest piece of a caller's input quoted back in a message, in
 * characters: a longer value is cut, and its length given instead, so that
 * a small request cannot make a huge error (every problem of every item is
 * listed, and the server log keeps each DETAIL).
 */
#define MAX_QUOTED_CHARS 40

/*
 * Start an empty list of problems.
 */
void
InventoryProblemsInit(InventoryProblems *problems)
{
	problems->list = NULL;
	problems->total = 0;
	problems->allocated = 0;
}

/*
 * Record one problem, a full sentence about item "pos" (1-based).
 */
void
InventoryAddProblem(InventoryProblems *problems, int pos, const char *fmt,...)
{
	va_list		args;
	StringInfoData buf;

	initStringInfo(&buf);
	for (;;)
	{
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}

	if (problems->total >= problems->allocated)
	{
		problems->allocated = Max(16, problems->allocated * 2);
		problems->list = problems->list
			? repalloc(problems->list, sizeof(InventoryProblem) * problems->allocated)
			: palloc(sizeof(InventoryProblem) * problems->allocated);
	}
	problems->list[problems->total].pos = pos;
	problems->list[problems->total].seq = problems->total;
	problems->list[problems->total].text = buf.data;
	problems->total++;
}

/*
 * qsort comparator: problems by item, then in the order they were found.
 */
static int
CompareProblems(const void *a, const void *b)
{
	const InventoryProblem *x = a;
	const InventoryProblem *y = b;

	if (x->pos != y->pos)
		return x->pos < y->pos ? -1 : 1;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

/*
 * The DETAIL of a rejection: one line a problem, in item order, the first
 * MAX_LISTED_PROBLEMS of them.
 */
char *
InventoryProblemsDetail(InventoryProblems *problems)
{
	StringInfoData detail;
	int			listed = Min(problems->total, MAX_LISTED_PROBLEMS);

	qsort(problems->list, problems->total, sizeof(InventoryProblem), CompareProblems);
	initStringInfo(&detail);
	for (int i = 0; i < listed; i++)
	{
		if (i > 0)
			appendStringInfoChar(&detail, '\n');
		appendStringInfo(&detail, "Item %d: ", problems->list[i].pos);
		appendStringInfoString(&detail, problems->list[i].text);
	}
	if (problems->total > listed)
		appendStringInfo(&detail, "\n%d more problems are not listed.",
						 problems->total - listed);
	return detail.data;
}

/*
 * A piece of the caller's input for a message, in double quotes: at most
 * MAX_QUOTED_CHARS characters, then "..." and the length of the whole when
 * cut.  C0 control characters and DEL show as '?', so that a quoted value
 * cannot start a new line of a DETAIL.
 */
char *
InventoryQuoted(const char *s, int len)
{
	int			cut = len;
	int			nchars = 0;
	StringInfoData buf;

	if (len > MAX_QUOTED_CHARS)
	{
		nchars = pg_mbstrlen_with_len(s, len);
		if (nchars > MAX_QUOTED_CHARS)
			cut = pg_mbcharcliplen(s, len, MAX_QUOTED_CHARS);
	}
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '"');
	for (int i = 0; i < cut; i++)
	{
		unsigned char c = (unsigned char) s[i];

		appendStringInfoChar(&buf, (c < 0x20 || c == 0x7f) ? '?' : (char) c);
	}
	if (cut < len)
		appendStringInfo(&buf, "...\" (%d characters)", nchars);
	else
		appendStringInfoChar(&buf, '"');
	return buf.data;
}

/*
 * A number of the caller's for a message: as written when it has at most
 * MAX_QUOTED_CHARS characters; else in scientific notation when that is
 * exact and short (1e100000 has 100001 digits); else cut like a string.
 */
char *
InventoryNumberText(Numeric n)
{
	Datum		d = NumericGetDatum(n);
	Datum		bound = DirectFunctionCall3(numeric_in, CStringGetDatum("1e40"),
											ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	char	   *text;
	char	   *e;
	char	   *end;

	/* At most 40 digits on either side of the point: print it (cheap). */
	if (DatumGetInt32(DirectFunctionCall1(numeric_scale, d)) <= MAX_QUOTED_CHARS &&
		DatumGetBool(DirectFunctionCall2(numeric_lt,
										 DirectFunctionCall1(numeric_abs, d), bound)))
	{
		text = numeric_normalize(n);
		if (strlen(text) <= MAX_QUOTED_CHARS)
			return text;
	}

	/* 15 significant digits, trailing zeros of the mantissa dropped */
	text = numeric_out_sci(n, 14);
	e = strchr(text, 'e');
	if (e != NULL)
	{
		end = e;
		while (end > text && end[-1] == '0')
			end--;
		if (end > text && end[-1] == '.')
			end--;
		memmove(end, e, strlen(e) + 1);
		if (DatumGetBool(DirectFunctionCall2(numeric_eq, d,
											 DirectFunctionCall3(numeric_in, CStringGetDatum(text),
																 ObjectIdGetDatum(InvalidOid),
																 Int32GetDatum(-1)))))
			return text;
	}

	/* Inexact: the first characters of the whole, and its length. */
	text = numeric_normalize(n);
	e = InventoryQuoted(text, strlen(text));
	pfree(text);
	/* a number needs no quotes */
	memmove(e, e + 1, strlen(e));
	if ((end = strchr(e, '"')) != NULL)
		memmove(end, end + 1, strlen(end));
	return e;
}

/*
 * A name folded for "did you mean" matching: at most MAX_SIMILAR_CHARS
 * characters, lower case, without '_', '-' and spaces.
 */
#define MAX_SIMILAR_CHARS 64

static char *
FoldName(const char *s, int len)
{
	char	   *out = palloc(len + 1);
	int			j = 0;

	for (int i = 0; i < len; i++)
	{
		char		c = s[i];

		if (c == '_' || c == '-' || c == ' ')
			continue;
		out[j++] = (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
	}
	out[j] = '\0';
	return out;
}

/*
 * The known name that a caller's unknown one most resembles, or NULL.
 * Both are folded (case, '_', '-' and spaces do not count: "onhand",
 * "Inventory"); then the nearest known name by edit distance wins if it
 * is at most 3 edits away and fewer than half its letters differ (a typo
 * such as "descripton"), as PostgreSQL's "Perhaps you meant" does for
 * column names.  On a tie the first of the known names wins.
 */
const char *
InventorySimilarName(const char *name, int len, const char *const *known, int nknown)
{
	char	   *folded;
	int			flen;
	const char *best = NULL;
	int			best_distance = 4;

	if (len > MAX_SIMILAR_CHARS)
		return NULL;
	folded = FoldName(name, len);
	flen = strlen(folded);
	for (int k = 0; k < nknown; k++)
	{
		char	   *target = FoldName(known[k], strlen(known[k]));
		int			tlen = strlen(target);
		int			d = varstr_levenshtein_less_equal(folded, flen, target, tlen,
													  1, 1, 1, best_distance, true);

		if (d < best_distance && d <= tlen / 2)
		{
			best = known[k];
			best_distance = d;
		}
		pfree(target);
	}
	pfree(folded);
	return best;
}

/*
 * Short description of a JSON value's type, for messages.
 */
const char *
InventoryJsonTypeName(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "a string";
		case jbvNumeric:
			return "a number";
		case jbvBool:
			return "a boolean";
		case jbvBinary:
			return JsonContainerIsObject(v->val.binary.data) ? "an object" : "an array";
		default:
			return "a JSON value";
	}
}
