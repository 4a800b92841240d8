/* pjson: bus message bodies to and from JSON objects, by the catalogue's
 * field tables, so the HTTP API speaks the protocol's own fields without a
 * hand-written mapping per message. This is the one place field names
 * change case: the bus spells them snake_case (`sandbox_id`), HTTP
 * camelCase (`sandboxId`), as the JavaScript clients it serves expect.
 * Only declared field names convert; an ANY field's content (labels,
 * environment maps, documents) passes through as it is.
 *
 * STR and BIN fields are JSON strings (BIN that is not UTF-8 comes out as
 * `<name>Base64`), U64/I64 integers, BOOL booleans, ANY any JSON value. */
#ifndef CAISSON_PJSON_H
#define CAISSON_PJSON_H

#include <jansson.h>
#include "proto.h"

/* Writes the HTTP spelling of the wire field name into out: `run_seq`
 * becomes `runSeq`. Returns out (cut to len). */
const char *pjson_http_name (const char *wire, char *out, size_t len);

/* Fills msg's body (of msg->type) from the object obj. Every key must be
 * the HTTP name of a field of the type, of the right JSON type and within its limit; every
 * required field not named in skip (a NULL-terminated list of HTTP names
 * of fields the caller sets itself) must be present. Returns 0, or -1 with a message
 * naming the field in why. */
int pjson_to_body (proto_msg_t *msg, const json_t *obj, const char *const skip[], char *why,
                   size_t whylen);

/* A new JSON object holding msg's body, keyed by HTTP names. Optional unsigned numbers equal
 * to zero and optional false booleans are left out (the codec has no
 * presence bit for them); signed numbers (exit codes) always appear. NULL when out of memory or when an
 * ANY field does not decode. */
json_t *pjson_from_body (const proto_msg_t *msg);

#endif
