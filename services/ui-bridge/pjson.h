/* pjson: bus message bodies to and from JSON objects, by the catalogue's
 * field tables, so the HTTP API speaks the protocol's own field names
 * without a hand-written mapping per message.
 *
 * STR and BIN fields are JSON strings (BIN that is not UTF-8 comes out as
 * `<name>Base64`), U64/I64 integers, BOOL booleans, ANY any JSON value. */
#ifndef CAISSON_PJSON_H
#define CAISSON_PJSON_H

#include <jansson.h>
#include "proto.h"

/* Fills msg's body (of msg->type) from the object obj. Every key must be
 * a field of the type, of the right JSON type and within its limit; every
 * required field not named in skip (a NULL-terminated list of fields the
 * caller sets itself) must be present. Returns 0, or -1 with a message
 * naming the field in why. */
int pjson_to_body (proto_msg_t *msg, const json_t *obj, const char *const skip[], char *why,
                   size_t whylen);

/* A new JSON object holding msg's body. Optional unsigned numbers equal
 * to zero and optional false booleans are left out (the codec has no
 * presence bit for them); signed numbers (exit codes) always appear. NULL when out of memory or when an
 * ANY field does not decode. */
json_t *pjson_from_body (const proto_msg_t *msg);

#endif
