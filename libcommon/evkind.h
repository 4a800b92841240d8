/* evkind: run event kinds and their payloads in C, from proto/events.def.
 *
 * PROTO_EVENT_KINDS declares every `kind` an `event` may carry and the
 * fields of its `data`; this header expands it into an enum (EVK_<name>),
 * a struct per kind (evk_<name>_t) and the field tables evkind.c walks to
 * build a payload (evk_json) or to check one (evk_check). A producer
 * builds its payload with EVK, so the keys and JSON types it emits are the
 * declared ones:
 *
 *     json_t *data = EVK (plan, .text = text);
 *
 * Field C types: STR `const char *`, U64 `uint64_t`, BOOL `bool`, OBJ and
 * ANY `json_t *`. Every pointer field is borrowed: evk_json copies strings
 * and takes its own reference to a json_t (json_incref), so the caller
 * keeps, and releases, its own. An optional field is left out of the
 * payload when NULL, false or 0. */
#ifndef CAISSON_EVKIND_H
#define CAISSON_EVKIND_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/events.def"

typedef enum {
    EVK_T_STR, EVK_T_U64, EVK_T_BOOL, EVK_T_OBJ, EVK_T_ANY
} evk_ftype_t;

#define EVK_CTYPE_STR  const char *
#define EVK_CTYPE_U64  uint64_t
#define EVK_CTYPE_BOOL bool
#define EVK_CTYPE_OBJ  json_t *
#define EVK_CTYPE_ANY  json_t *

/* A kind with no fields still gets a (never read) member: C wants one. */
#define EVK_STRUCT_FIELD(S, ty, name, req, max, doc) EVK_CTYPE_##ty name;
#define EVK_STRUCT(name, how, by, doc, FIELDS) \
    typedef struct { FIELDS (EVK_STRUCT_FIELD, _) char evk_end_; } evk_##name##_t;
PROTO_EVENT_KINDS (EVK_STRUCT)

#define EVK_ENUM_ENTRY(name, how, by, doc, FIELDS) EVK_##name,
typedef enum { PROTO_EVENT_KINDS (EVK_ENUM_ENTRY) EVK_COUNT } evk_kind_t;

typedef struct {
    const char *name;           /* the JSON key */
    evk_ftype_t type;
    bool required;
    uint64_t max;               /* see proto/events.def; 0: no limit */
    size_t offset;
    const char *doc;
} evk_field_t;

typedef struct {
    const char *name;           /* e.g. "tool_call" */
    bool stored;                /* appended to event-log (APPEND), else only published */
    const char *by;             /* who produces it */
    const char *doc;
    const evk_field_t *fields;
    size_t nfields;
} evk_def_t;

/* The declaration of kind; NULL for a value out of range. */
const evk_def_t *evk_def (evk_kind_t kind);
/* The wire name of kind, e.g. "tool_call"; NULL for a value out of range. */
const char *evk_name (evk_kind_t kind);
/* The kind named name, or EVK_COUNT when name is NULL or not declared. */
evk_kind_t evk_lookup (const char *name);
/* The name of a field type as docs/events.md writes it, e.g. "str". */
const char *evk_ftype_name (evk_ftype_t type);

/* A new JSON map holding the fields of *fields (an evk_<kind>_t), keyed
 * and typed as declared. Returns NULL when a required STR, OBJ or ANY
 * field is NULL or kind is out of range, and, as json_pack did, when a
 * string is not valid UTF-8 (jansson cannot hold it). Memory follows
 * xalloc.h's policy (jansson aborts once xalloc_install ran). The JSON
 * type of an OBJ or ANY value is not checked here: evk_check does. */
json_t *evk_json (evk_kind_t kind, const void *fields);

/* evk_json from designated initializers of the kind's struct. */
#define EVK(kind, ...) evk_json (EVK_##kind, &(evk_##kind##_t) { __VA_ARGS__ })

/* Checks that data is a payload of kind as declared: kind is declared,
 * data is a map (or NULL for a kind with no required field), every
 * required field is there, no undeclared key, each value has its JSON
 * type and is within its max. Returns 0, or -1 with why (len bytes)
 * naming the kind and the field at fault. */
int evk_check (const char *kind, const json_t *data, char *why, size_t len);

#endif
