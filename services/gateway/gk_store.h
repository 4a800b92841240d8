/* gk_store: the LMDB of gateway-keys and what every part of it shares.
 *
 * Layout (docs/storage.md, "gateway-keys"): `keys` id -> key JSON,
 * `hashes` sha256 -> id, `by_user`/`by_sandbox`/`by_run` name NUL id -> "",
 * `users` name -> budget JSON, `usage` scope NUL be64 window start -> six
 * u64 counters, `resv` call -> reservation JSON, `resv_gw` instance NUL
 * call -> "", `done` call -> charge JSON, `outbox` be64 seq -> spend
 * record (msgpack). Every function taking a txn works inside the caller's
 * transaction; the service's loop thread alone writes. */
#ifndef GK_STORE_H
#define GK_STORE_H

#include "gk_rate.h"
#include "gk_win.h"
#include "mprice.h"
#include "store.h"

#include <jansson.h>
#include <stdbool.h>

enum {
    GK_DB_KEYS, GK_DB_HASHES, GK_DB_BY_USER, GK_DB_BY_SANDBOX, GK_DB_BY_RUN, GK_DB_USERS,
    GK_DB_USAGE, GK_DB_RESV, GK_DB_RESV_GW, GK_DB_DONE, GK_DB_OUTBOX, GK_DB_COUNT
};

/* A scope's counters in one window. */
typedef struct {
    uint64_t spent_tok, spent_nusd, resv_tok, resv_nusd, calls, refused;
} gk_usage_t;

#define GK_UKEY_MAX (1 + 128 + 1 + 8)
#define GK_SCOPES 3

/* One budget of a key's chain: the key's own, its sandbox's cap, its
 * owner's. A limit of 0 is no limit; the counters are kept regardless. */
typedef struct {
    char label[160];        /* `key.<id>`, `sandbox.<id>`, `user.<name>` */
    const char *what;       /* "key", "sandbox", "user" */
    gk_win_t win;
    uint64_t lim_tok, lim_nusd;
    uint64_t start, reset;  /* this window (ms); reset 0: never */
    uint8_t ukey[GK_UKEY_MAX];
    size_t ukn;
} gk_scope_t;

typedef struct {
    store_t *store;
    gk_rate_t *rate;
    mprices_t *prices;
    bool unpriced_free;
    uint64_t user_tok, user_nusd, sandbox_nusd;   /* deployment defaults */
    gk_win_t user_win;
} gk_t;

/* Opens the store in dir with the sync policy of CAISSON_GATEWAY_KEYS_SYNC
 * (env_flags) and reads the settings; NULL with why (n bytes) filled in. */
gk_t *gk_new (const char *dir, unsigned env_flags, char *why, size_t n);
void gk_destroy (gk_t **self_p);
MDB_dbi gk_dbi (const gk_t *self, int db);

/* Parses a decimal USD amount (settings, `12.50`) into nano-USD. */
bool gk_usd_parse (const char *s, uint64_t *nusd);
/* Writes nusd as dollars, `$4.98`, `$0.0005` (at least two decimals). */
void gk_usd_fmt (uint64_t nusd, char *out, size_t n);
/* Saturating addition, and subtraction that stops at 0. */
uint64_t gk_add (uint64_t a, uint64_t b);
uint64_t gk_sub0 (uint64_t a, uint64_t b);
/* Amounts kept in JSON stay below 2^63 (jansson's integers are signed). */
uint64_t gk_clamp63 (uint64_t v);
/* A JSON object's member as a positive integer (0 otherwise) or string
 * (NULL otherwise). */
uint64_t gk_jnum (const json_t *o, const char *name);
const char *gk_jstr (const json_t *o, const char *name);

/* JSON values of a database (NULL when absent), and writes of them. */
json_t *gk_json_get (MDB_txn *txn, const gk_t *self, int db, const void *k, size_t kn);
int gk_json_put (MDB_txn *txn, const gk_t *self, int db, const void *k, size_t kn,
                 const json_t *v);
/* An index row `name NUL id` of db (put or delete). */
int gk_index (MDB_txn *txn, const gk_t *self, int db, const char *name, const char *id,
              bool put);

/* A scope's counters (zero when absent) and their write. */
void gk_usage_get (MDB_txn *txn, const gk_t *self, const uint8_t *k, size_t kn,
                   gk_usage_t *u);
int gk_usage_put (MDB_txn *txn, const gk_t *self, const uint8_t *k, size_t kn,
                  const gk_usage_t *u);

/* Fills scopes (GK_SCOPES) with key's chain at now_ms; returns how many. */
int gk_chain (MDB_txn *txn, const gk_t *self, const json_t *key, uint64_t now_ms,
              gk_scope_t *scopes);

/* Appends a spend record to the outbox. */
int gk_outbox_add (MDB_txn *txn, const gk_t *self, const json_t *record);

/* Milliseconds since the epoch. */
uint64_t gk_now_ms (void);

#endif
