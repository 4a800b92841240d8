/* proto: the bus message catalogue in C, and its one codec.
 *
 * proto/catalogue.def declares every message; this header expands it into
 * a body struct per type (proto_<name>_t), an enum (PROTO_<name>), and the
 * field tables proto.c walks. A message is a plain value: the envelope and
 * a union of bodies. Strings and byte fields it points to are owned by the
 * message and freed by proto_msg_destroy.
 *
 * Decoding trusts nothing: frame size, nesting depth, every count against
 * the bytes left (see mpr.h), every field's type and range, and reports the
 * first fault as a code and a message that names the field (or, for a
 * fault in the frame's structure, the byte offset where it lies). */
#ifndef CAISSON_PROTO_H
#define CAISSON_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cid.h"
#include "proto/catalogue.def"

#define PROTO_VERSION 1

/* Every sandbox's writable workspace, as its processes see it: the same
 * path in every sandbox, so callers need not ask for it. Relative paths in
 * sandbox.* requests, and a process's default cwd, are under it. */
#define PROTO_SANDBOX_WORKSPACE "/workspace"

typedef struct {
    uint8_t *data;
    size_t size;
} proto_bytes_t;

typedef enum {
    PROTO_T_STR, PROTO_T_BIN, PROTO_T_U64, PROTO_T_I64, PROTO_T_BOOL, PROTO_T_ANY
} proto_ftype_t;

#define PROTO_CTYPE_STR  char *
#define PROTO_CTYPE_BIN  proto_bytes_t
#define PROTO_CTYPE_U64  uint64_t
#define PROTO_CTYPE_I64  int64_t
#define PROTO_CTYPE_BOOL bool
#define PROTO_CTYPE_ANY  proto_bytes_t

#define PROTO_STRUCT_FIELD(S, ty, name, req, max, doc) PROTO_CTYPE_##ty name;
#define PROTO_BODY_STRUCT(name, wire, FIELDS, doc) \
    typedef struct { FIELDS (PROTO_STRUCT_FIELD, _) } proto_##name##_t;
PROTO_MESSAGES (PROTO_BODY_STRUCT)

typedef struct { PROTO_ENVELOPE (PROTO_STRUCT_FIELD, _) } proto_env_t;

#define PROTO_ENUM_ENTRY(name, wire, FIELDS, doc) PROTO_##name,
typedef enum { PROTO_MESSAGES (PROTO_ENUM_ENTRY) PROTO_TYPE_COUNT } proto_type_t;

#define PROTO_UNION_MEMBER(name, wire, FIELDS, doc) proto_##name##_t name;
typedef struct {
    proto_type_t type;
    proto_env_t env;
    union { PROTO_MESSAGES (PROTO_UNION_MEMBER) } body;
} proto_msg_t;

/* Field and message descriptions, for the codec and the docs. */
typedef struct {
    const char *name;
    proto_ftype_t type;
    bool required;
    uint64_t max;
    size_t offset;
    const char *doc;
} proto_field_t;

typedef struct {
    const char *wire;           /* e.g. "health.req" */
    const proto_field_t *fields;
    size_t nfields;
    const char *doc;
} proto_msgdef_t;

typedef enum {
    PROTO_E_TOO_BIG = 1, PROTO_E_TRUNCATED, PROTO_E_ALLOC_BOMB, PROTO_E_INVALID,
    PROTO_E_TOO_DEEP, PROTO_E_BAD_TYPE, PROTO_E_MISSING, PROTO_E_DUPLICATE,
    PROTO_E_TOO_LONG, PROTO_E_RANGE, PROTO_E_VERSION, PROTO_E_UNKNOWN_TYPE,
    PROTO_E_TRAILING, PROTO_E_NOMEM
} proto_errcode_t;

typedef struct {
    proto_errcode_t code;
    char text[256];             /* names the field or value at fault */
    char id[CID_SIZE];          /* the frame's message id, when it was read */
    char corr[CID_SIZE];        /* its correlation id, likewise */
} proto_err_t;

/* Limits applied by proto_decode. Defaults come from CAISSON_MAX_FRAME and
 * CAISSON_MAX_DEPTH when proto_limits_load is called, else 16 MiB and 32. */
void proto_limits_load (void);
size_t proto_max_frame (void);

const proto_msgdef_t *proto_def (proto_type_t type);
const proto_field_t *proto_envelope_fields (size_t *count);
/* The type whose wire name is name, or PROTO_TYPE_COUNT. */
proto_type_t proto_type_lookup (const char *name, size_t len);
const char *proto_type_name (proto_type_t type);
/* The reply declared for a request (R rows in proto/), or
 * PROTO_TYPE_COUNT when type is not a request. Any request may also be
 * answered with `error`. */
proto_type_t proto_reply_of (proto_type_t request);
/* True when type is declared publish-only (P rows): never sent as a
 * request nor as a reply. */
bool proto_published_only (proto_type_t type);
/* Stable snake_case name of an error code, e.g. "alloc_bomb". */
const char *proto_errcode_name (proto_errcode_t code);

/* A new message of the given type with a fresh id and timestamp. With a
 * cause, the correlation id, run and user are carried over from it and
 * cause is set to its id; without, the correlation id is the new id.
 * Never NULL (xalloc.h: running out of memory aborts). */
proto_msg_t *proto_msg_new (proto_type_t type, const proto_msg_t *cause);

/* Sets the user and operator flag that messages this process makes with
 * no cause carry from now on (user NULL: none). For a client that acts
 * for one person, such as the CLI; a service never calls it, since its
 * messages carry the identity of the request that caused them. Call it
 * before any thread makes messages. */
void proto_set_identity (const char *user, bool op);

/* Frees every owned field and the message; safe on NULL and twice. */
void proto_msg_destroy (proto_msg_t **self_p);

/* Sets a string field (envelope or body) to a copy of value (NULL clears). */
void proto_set_str (char **field, const char *value);
/* Sets a byte field to a copy of len bytes. */
void proto_set_bytes (proto_bytes_t *field, const void *data, size_t len);

/* Encodes into a new buffer the caller frees with free(). Returns 0, or -1
 * when out of memory or an ANY field does not hold exactly one item. */
int proto_encode (const proto_msg_t *msg, uint8_t **data, size_t *size);

/* Decodes and validates one frame. Returns a new message, or NULL with err
 * filled in. */
proto_msg_t *proto_decode (const uint8_t *data, size_t size, proto_err_t *err);

/* Run statuses, declared once in proto/runs.def (PROTO_RUN_STATUSES). */
#define PROTO_RUN_STATUS_ENUM(name, live, doc) PROTO_RUN_##name,
typedef enum { PROTO_RUN_STATUSES (PROTO_RUN_STATUS_ENUM) PROTO_RUN_STATUS_COUNT }
    proto_run_status_t;

/* The wire name of status, e.g. "awaiting_approval"; NULL out of range. */
const char *proto_run_status_name (proto_run_status_t status);
/* The meaning declared for status; NULL out of range. */
const char *proto_run_status_doc (proto_run_status_t status);
/* True when a run in status has not ended. */
bool proto_run_status_live (proto_run_status_t status);
/* The status named name, or PROTO_RUN_STATUS_COUNT when name is NULL or
 * not declared. */
proto_run_status_t proto_run_status_lookup (const char *name);

/* Error codes of `error` replies, declared once in proto/errors.def. */
#define PROTO_ERROR_ENUM(name, status, doc) PROTO_ERR_##name,
typedef enum { PROTO_ERRORS (PROTO_ERROR_ENUM) PROTO_ERR_COUNT } proto_ecode_t;

/* The wire name of code, e.g. "not_found"; NULL for a value out of range. */
const char *proto_error_name (proto_ecode_t code);
/* The HTTP status declared for code; 0 for a value out of range. */
int proto_error_status (proto_ecode_t code);
/* The meaning declared for code; NULL for a value out of range. */
const char *proto_error_doc (proto_ecode_t code);
/* The code whose wire name is name, or PROTO_ERR_COUNT when name is NULL
 * or not declared (as from an older or newer peer). */
proto_ecode_t proto_error_lookup (const char *name);

/* A new `error` reply to req (req may be NULL) with the given code and
 * message. Returns NULL only when code is out of range. */
proto_msg_t *proto_error_new (const proto_msg_t *req, proto_ecode_t code,
                              const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

/* A new `error` reply to a frame that did not decode: code and message
 * from err, and, when the frame's ids could be read, cause and
 * correlation id set from them so the sender can match the reply. */
proto_msg_t *proto_error_from (const proto_err_t *err);

#endif
