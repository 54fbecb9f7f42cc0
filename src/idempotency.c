/*-------------------------------------------------------------------------
 *
 * idempotency.c
 *	  Idempotency keys of inventory_adjust: a retried call with the same key
 *	  and the same request gets the first call's batch id and queues nothing.
 *
 * The key row is claimed with INSERT ... ON CONFLICT DO NOTHING before the
 * batch is queued, in the caller's transaction: a concurrent call with the
 * same key waits on the unique index until the first commits (then it finds
 * the key) or rolls back (then it claims it).
 *
 * Keys belong to the calling role (the outer role, not the owner of the
 * SECURITY DEFINER function): two roles may use the same key, each for its
 * own batch, and a conflict never names another role's batch.  A database
 * still at version 1.0 has no role column: there keys stay one namespace,
 * and a conflict's DETAIL names no batch.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "inventory.h"

/* Prepared statements, kept for the session */
static SPIPlanPtr claim_plan = NULL;
static SPIPlanPtr lookup_plan = NULL;
static SPIPlanPtr replace_plan = NULL;
static SPIPlanPtr record_plan = NULL;
static Oid	plans_nspid = InvalidOid;
static bool plans_by_role = false;	/* plans for the table with the role column */

/*
 * SHA-256 of the request: the mode byte, then the body's text.
 */
bytea *
InventoryRequestHash(Jsonb *body, bool create_missing)
{
	char	   *text = JsonbToCString(NULL, &body->root, VARSIZE(body));
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	bytea	   *result = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	uint8		mode = create_missing ? 1 : 0;

	if (ctx == NULL ||
		pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, &mode, 1) < 0 ||
		pg_cryptohash_update(ctx, (uint8 *) text, strlen(text)) < 0 ||
		pg_cryptohash_final(ctx, (uint8 *) VARDATA(result), PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "could not compute the request hash: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
	SET_VARSIZE(result, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	return result;
}

/*
 * Prepare the statements for the extension's schema: $1 is the role, $2
 * the key.  Returns whether keys are per role (the table has the role
 * column, version 1.1); without it the role argument is ignored.
 */
static bool
PreparePlans(Oid nspid)
{
	char	   *keys = InventoryQualify(nspid, "inventory_idempotency_keys");
	Oid			relid = InventoryRelid(nspid, "inventory_idempotency_keys");
	bool		by_role = OidIsValid(relid) && get_attnum(relid, "role") != InvalidAttrNumber;
	Oid			t_claim[3] = {NAMEOID, TEXTOID, BYTEAOID};
	Oid			t_lookup[3] = {NAMEOID, TEXTOID, INT4OID};
	Oid			t_record[3] = {NAMEOID, TEXTOID, INT8OID};
	const char *match;

	if (plans_nspid == nspid && plans_by_role == by_role)
		return by_role;
	if (claim_plan)
	{
		SPI_freeplan(claim_plan);
		SPI_freeplan(lookup_plan);
		SPI_freeplan(replace_plan);
		SPI_freeplan(record_plan);
		claim_plan = lookup_plan = replace_plan = record_plan = NULL;
	}
	plans_nspid = InvalidOid;
	match = by_role
		? "role OPERATOR(pg_catalog.=) $1 AND key OPERATOR(pg_catalog.=) $2"
		: "$1 IS NOT NULL AND key OPERATOR(pg_catalog.=) $2";
	claim_plan = InventoryPrepareKept(by_role
									  ? psprintf("INSERT INTO %s (role, key, request_hash, batch_id) "
												 "VALUES ($1, $2, $3, 0) ON CONFLICT (role, key) DO NOTHING",
												 keys)
									  : psprintf("INSERT INTO %s (key, request_hash, batch_id) "
												 "SELECT $2, $3, 0 WHERE $1 IS NOT NULL "
												 "ON CONFLICT (key) DO NOTHING",
												 keys), 3, t_claim);
	lookup_plan = InventoryPrepareKept(psprintf("SELECT request_hash, batch_id, "
												"created_at OPERATOR(pg_catalog.<) (pg_catalog.now() "
												"OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $3)) "
												"FROM %s WHERE %s FOR UPDATE",
												keys, match), 3, t_lookup);
	replace_plan = InventoryPrepareKept(psprintf("UPDATE %s SET request_hash = $3, batch_id = 0, "
												 "created_at = pg_catalog.now() WHERE %s",
												 keys, match), 3, t_claim);
	record_plan = InventoryPrepareKept(psprintf("UPDATE %s SET batch_id = $3 WHERE %s",
												keys, match), 3, t_record);
	plans_nspid = nspid;
	plans_by_role = by_role;
	return by_role;
}

/*
 * The calling role's name, the owner of its keys: the outer role, as
 * inventory_outer_role() reports it, not the SECURITY DEFINER owner.
 */
static Datum
KeyRole(void)
{
	return DirectFunctionCall1(namein,
							   CStringGetDatum(GetUserNameFromId(GetOuterUserId(), false)));
}

/*
 * Claim the calling role's key for a new batch.  Returns 0 when the key is new (or its
 * previous use has expired): the caller queues the batch and records its
 * id with InventoryRecordIdempotencyKey.  Returns the batch id of an
 * earlier identical request; raises an error, having used no batch id,
 * when the key was used for another request.  The caller is connected to
 * SPI.
 */
int64
InventoryClaimIdempotencyKey(Oid nspid, const char *key, bytea *hash)
{
	Datum		args[3];
	bool		isnull;
	bytea	   *old_hash;
	int64		old_batch;
	bool		expired;
	bool		by_role = PreparePlans(nspid);

	args[0] = KeyRole();
	args[1] = CStringGetTextDatum(key);
	args[2] = PointerGetDatum(hash);
	if (SPI_execute_plan(claim_plan, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "claiming the idempotency key failed");
	if (SPI_processed == 1)
		return 0;

	/* The key is taken: by the same request, another, or an expired one. */
	args[2] = Int32GetDatum(inventory_idempotency_retention_s);
	if (SPI_execute_plan(lookup_plan, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "looking up the idempotency key failed");
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("idempotency key \"%s\" changed concurrently",
						InventoryPrintable(pstrdup(key))),
				 errhint("Retry the call.")));
	old_hash = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	old_batch = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	expired = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));

	if (expired)
	{
		args[2] = PointerGetDatum(hash);
		if (SPI_execute_plan(replace_plan, args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "renewing the idempotency key failed");
		return 0;
	}
	if (VARSIZE_ANY_EXHDR(old_hash) != VARSIZE_ANY_EXHDR(hash) ||
		memcmp(VARDATA_ANY(old_hash), VARDATA_ANY(hash), VARSIZE_ANY_EXHDR(hash)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("idempotency key \"%s\" was already used for a different request",
						InventoryPrintable(pstrdup(key))),
		/* a 1.0 table has no role: the batch may be another role's */
				 by_role
				 ? errdetail("The key queued batch %lld with another body or create_missing value.",
							 (long long) old_batch)
				 : errdetail("The key queued a batch with another body or create_missing value."),
				 errhint("Use a new key for a new request; reuse a key only to retry the same request.")));
	return old_batch;
}

/*
 * Record the batch queued under a key just claimed.
 */
void
InventoryRecordIdempotencyKey(Oid nspid, const char *key, int64 batch_id)
{
	Datum		args[3];

	(void) PreparePlans(nspid);
	args[0] = KeyRole();
	args[1] = CStringGetTextDatum(key);
	args[2] = Int64GetDatum(batch_id);
	if (SPI_execute_plan(record_plan, args, NULL, false, 0) != SPI_OK_UPDATE || SPI_processed != 1)
		elog(ERROR, "recording the idempotency key's batch failed");
}
