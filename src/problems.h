/*-------------------------------------------------------------------------
 *
 * problems.h
 *	  The problems found in a rejected batch, and how its input is quoted
 *	  back in messages (problems.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef INVENTORY_PROBLEMS_H
#define INVENTORY_PROBLEMS_H

#include "postgres.h"

#include "utils/jsonb.h"
#include "utils/numeric.h"

/* One problem found: a sentence about item pos (1-based) */
typedef struct InventoryProblem
{
	int			pos;
	int			seq;			/* order found, to keep a stable order */
	char	   *text;
} InventoryProblem;

/* Collected problems of a batch */
typedef struct InventoryProblems
{
	InventoryProblem *list;
	int			total;
	int			allocated;
} InventoryProblems;

extern void InventoryProblemsInit(InventoryProblems *problems);
extern void InventoryAddProblem(InventoryProblems *problems, int pos, const char *fmt,...) pg_attribute_printf(3, 4);
extern char *InventoryProblemsDetail(InventoryProblems *problems);
extern char *InventoryQuoted(const char *s, int len);
extern char *InventoryNumberText(Numeric n);
extern const char *InventoryJsonTypeName(const JsonbValue *v);
extern const char *InventorySimilarName(const char *name, int len,
										const char *const *known, int nknown);

#endif							/* INVENTORY_PROBLEMS_H */
