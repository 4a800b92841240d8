/* mpjson: converts between msgpack (the bus's ANY fields) and JSON values
 * (jansson), for the parts of Caisson that speak JSON to the outside: tool
 * arguments and results, model requests, the HTTP API.
 *
 * Decoding reads untrusted bytes with mpr, so it allocates only for items
 * that are really there, stops at a depth limit, and names what was wrong.
 * msgpack has no JSON counterpart for bin and ext: bin becomes a string
 * when it is valid UTF-8 and is refused otherwise; ext is refused. Map keys
 * must be strings. */
#ifndef CAISSON_MPJSON_H
#define CAISSON_MPJSON_H

#include "proto.h"
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Decodes exactly one msgpack item of size bytes into a new JSON value, or
 * returns NULL with a reason in why (at least 128 bytes). max_depth bounds
 * nesting (0: no containers). */
json_t *mpjson_decode (const uint8_t *data, size_t size, int max_depth, char *why,
                       size_t whylen);

/* Checks exactly one msgpack item by mpjson_decode's rules without building
 * it (what is allocated is one string at a time, whatever the item holds),
 * and, when max_items is not 0, that it holds at most max_items values in
 * all: 0 when mpjson_decode would take it, else -1 with the same reason in
 * why. For big documents of which only a part is read. */
int mpjson_check (const uint8_t *data, size_t size, int max_depth, size_t max_items,
                  char *why, size_t whylen);

/* Encodes value as one msgpack item into a new buffer the caller frees.
 * Integers stay integers; reals become doubles. Returns 0, or -1 when out
 * of memory or nesting passes max_depth. */
int mpjson_encode (const json_t *value, int max_depth, uint8_t **data, size_t *size);

/* Encodes value into a message's ANY field (replacing what it held).
 * Returns 0, or -1 when out of memory or nesting passes max_depth. */
int mpjson_set (proto_bytes_t *field, const json_t *value, int max_depth);

/* The JSON value a message's ANY field holds, or NULL when it is empty or
 * not decodable within max_depth (callers that must say why use
 * mpjson_decode). A new reference. */
json_t *mpjson_get (const proto_bytes_t *field, int max_depth);

#endif
