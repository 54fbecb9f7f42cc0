/*-------------------------------------------------------------------------
 *
 * validate.c
 *	  The rules for the values of the API: text (sku, order_ref, line_ref,
 *	  description, bin_location) and UUIDs, in one place: inventory_adjust, the order
 *	  functions and the row triggers on inventory_levels and
 *	  inventory_reservations all ask here, so a row one of them accepts can
 *	  be addressed by the others.
 *
 * Control characters are C0 (U+0000..U+001F), DEL (U+007F) and C1
 * (U+0080..U+009F), whatever the database encoding: a value is decoded to
 * code points (through UTF-8) before C1 is looked for.  In LATIN1, for
 * example, the bytes 0x80..0x9F are the C1 controls; in WIN1252 they are
 * printable characters such as the euro sign.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "inventory.h"

PG_FUNCTION_INFO_V1(inventory_check_order_refs);

/*
 * Whether s (len bytes, in the database encoding) holds a control
 * character.
 */
static bool
HasControlCharacter(const char *s, int len)
{
	int			encoding = GetDatabaseEncoding();
	const unsigned char *u;
	int			ulen;

	/* C0 and DEL: every server encoding is ASCII below 0x80 */
	for (int i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c < 0x20 || c == 0x7f)
			return true;
	}

	/*
	 * C1: look at the UTF-8 form, where U+0080..U+009F are exactly the
	 * pairs 0xC2 0x80..0x9F (0xC2 is always a lead byte).  SQL_ASCII gives
	 * bytes above 0x7F no meaning, so there is nothing to decode.
	 */
	if (encoding == PG_SQL_ASCII)
		return false;
	if (encoding == PG_UTF8)
	{
		u = (const unsigned char *) s;
		ulen = len;
	}
	else
	{
		/* the input itself comes back when nothing needed converting */
		u = (const unsigned char *) pg_server_to_any(s, len, PG_UTF8);
		ulen = (u == (const unsigned char *) s) ? len : (int) strlen((const char *) u);
	}
	for (int i = 0; i + 1 < ulen; i++)
		if (u[i] == 0xc2 && u[i + 1] >= 0x80 && u[i + 1] <= 0x9f)
			return true;
	return false;
}

/*
 * Check the text value of field (s, len bytes in the database encoding)
 * against the rules: at most maxchars characters, no control characters,
 * and with INVENTORY_TEXT_NONEMPTY not empty, with INVENTORY_TEXT_TRIMMED
 * no leading or trailing space.  Returns NULL when the value is
 * acceptable, otherwise the problem as a full sentence naming the field
 * (the value itself is never quoted: it may be long or unprintable).
 */
char *
InventoryTextProblem(const char *field, const char *s, int len, int maxchars, int flags)
{
	if ((flags & INVENTORY_TEXT_NONEMPTY) && len == 0)
		return psprintf("\"%s\" must not be empty.", field);
	/* a cheap bound first: a character has at least one byte */
	if (len > maxchars && pg_mbstrlen_with_len(s, len) > maxchars)
		return psprintf("\"%s\" must be at most %d characters long.", field, maxchars);
	if (HasControlCharacter(s, len))
		return psprintf("\"%s\" must not contain control characters.", field);
	if ((flags & INVENTORY_TEXT_TRIMMED) && len > 0 && (s[0] == ' ' || s[len - 1] == ' '))
		return psprintf("\"%s\" must not begin or end with a space.", field);
	return NULL;
}

/*
 * Raise the error of an order function's argument that breaks the rules.
 */
static void
CheckOrderArgument(const char *field, text *value, int maxchars, int flags)
{
	char	   *problem;

	if (value == NULL)
		return;
	problem = InventoryTextProblem(field, VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value),
								   maxchars, flags);
	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid %s", field),
				 errdetail_internal("%s", problem),
				 errhint("Nothing was changed.")));
}

/*
 * inventory_check_order_refs(order_ref text, line_ref text, sku text)
 * returns void
 *
 * The text arguments of the order functions, checked by the rules of
 * inventory_adjust: sku as there (1 to 255 characters, no control
 * characters, no leading or trailing space); order_ref and line_ref 1 to
 * 255 characters without control characters.  NULLs are the caller's to
 * reject (line_ref may be NULL).
 */
Datum
inventory_check_order_refs(PG_FUNCTION_ARGS)
{
	CheckOrderArgument("order_ref", PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0),
					   INVENTORY_MAX_REF_LEN, INVENTORY_TEXT_NONEMPTY);
	CheckOrderArgument("line_ref", PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1),
					   INVENTORY_MAX_REF_LEN, INVENTORY_TEXT_NONEMPTY);
	CheckOrderArgument("sku", PG_ARGISNULL(2) ? NULL : PG_GETARG_TEXT_PP(2),
					   INVENTORY_MAX_SKU_LEN, INVENTORY_TEXT_SKU);
	PG_RETURN_VOID();
}

/*
 * Make a string safe to quote in a message, in place: control characters
 * (C0 and DEL, which could start a new line of the log) become '?'.
 * Returns s.
 */
char *
InventoryPrintable(char *s)
{
	for (char *p = s; *p; p++)
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			*p = '?';
	return s;
}

/*
 * Value of a hexadecimal digit, or -1.
 */
static int
HexDigitValue(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Parse a UUID in its canonical form (8-4-4-4-12 hexadecimal digits, either
 * case).  Returns false for anything else.
 */
bool
InventoryParseUuid(const char *s, int len, pg_uuid_t *uuid)
{
	int			byte = 0;

	if (len != 36)
		return false;
	for (int i = 0; i < 36;)
	{
		int			hi,
					lo;

		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (s[i] != '-')
				return false;
			i++;
			continue;
		}
		hi = HexDigitValue(s[i]);
		lo = HexDigitValue(s[i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		uuid->data[byte++] = (unsigned char) ((hi << 4) | lo);
		i += 2;
	}
	return byte == UUID_LEN;
}
