/* gk_keys_int: what the key requests of gateway-keys share (gk_keys.c
 * makes, revokes and changes keys; gk_view.c lists them and their usage). */
#ifndef GK_KEYS_INT_H
#define GK_KEYS_INT_H

#include "gk_keys.h"

/* One request's work inside a transaction (which may run again). */
typedef struct {
    gk_t *gk;
    const proto_msg_t *req;
    json_t *out;                /* what the transaction made or found */
    uint64_t count;
    proto_ecode_t code;         /* PROTO_ERR_COUNT: fine */
    char why[256];
    const void *extra;
} job_t;

/* The envelope's user ("" when none). */
const char *gk_who (const proto_msg_t *req);
/* True when req may see and change key: its owner's or an operator's. */
bool gk_mine (const proto_msg_t *req, const json_t *key);
/* True when key is neither revoked nor expired at now (ms). */
bool gk_live (const json_t *key, uint64_t now);
/* The error reply j->code and j->why describe. */
proto_msg_t *gk_fail (job_t *j);
/* Sets j's error; returns 0 (the transaction goes on, writing nothing). */
int gk_deny (job_t *j, proto_ecode_t code, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
/* Calls fn for each key indexed under name in db (every key when name is
 * NULL and db is GK_DB_KEYS); stops at fn's first non-zero return. */
int gk_each_key (MDB_txn *txn, gk_t *gk, int db, const char *name,
                 int (*fn) (MDB_txn *, job_t *, json_t *key), job_t *j);
/* The counters of scope s as gkey.usage reports them. */
json_t *gk_scope_json (MDB_txn *txn, gk_t *gk, const gk_scope_t *s);

#endif
