/* sbx_registry: see sbx_registry.h. */
#include "sbx_registry.h"
#include "cfg.h"
#include "clog.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define KEY_LEN 32
#define SEAL_HEX 64

struct _sbx_registry_t {
    store_t *store;
    uint8_t key[KEY_LEN];
};

/* Reads the seal key, or makes one (first run). Returns 0 or -1. */
static int
load_key (const char *dir, uint8_t key[KEY_LEN])
{
    char path[4200];
    snprintf (path, sizeof path, "%s/seal.key", dir);
    int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0) {
        ssize_t n = read (fd, key, KEY_LEN);
        close (fd);
        if (n == KEY_LEN)
            return 0;
        clog_error (NULL, "%s: shorter than %d bytes; move it away to start afresh (every "
                    "sandbox record will be refused)", path, KEY_LEN);
        return -1;
    }
    if (errno != ENOENT || getrandom (key, KEY_LEN, 0) != KEY_LEN) {
        clog_error (NULL, "%s: %s", path, strerror (errno));
        return -1;
    }
    fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    bool ok = fd >= 0 && write (fd, key, KEY_LEN) == KEY_LEN && fsync (fd) == 0;
    if (fd >= 0)
        close (fd);
    if (!ok)
        clog_error (NULL, "%s: cannot write: %s", path, strerror (errno));
    return ok ? 0 : -1;
}

/* The seal of (id, json) as 64 hex digits and a NUL ("" on failure). */
static void
seal (const sbx_registry_t *self, const char *id, const char *json, size_t len,
      char out[SEAL_HEX + 1])
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    size_t idlen = strlen (id) + 1;
    uint8_t *buf = malloc (idlen + len);
    out[0] = 0;
    if (!buf)
        return;
    memcpy (buf, id, idlen);
    memcpy (buf + idlen, json, len);
    if (!HMAC (EVP_sha256 (), self->key, KEY_LEN, buf, idlen + len, md, &mdlen))
        mdlen = 0;
    free (buf);
    for (unsigned i = 0; i < mdlen && i < SEAL_HEX / 2; i++)
        snprintf (out + 2 * i, 3, "%02x", md[i]);
}

static const char *const dbnames[] = { "sandboxes" };

sbx_registry_t *
sbx_registry_new (const char *dir)
{
    sbx_registry_t *self = calloc (1, sizeof *self);
    /* No fsync per commit: the records serve a restarted manager, and a
     * commit is in the page cache (so survives the process) when it
     * returns; a host crash ends every sandbox anyway. */
    if (self)
        self->store = store_new (dir, dbnames, 1, 16ull << 20, 1024ull << 20, MDB_NOSYNC);
    if (self && self->store && load_key (dir, self->key))
        store_destroy (&self->store);
    if (self && !self->store)
        sbx_registry_destroy (&self);
    return self;
}

void
sbx_registry_destroy (sbx_registry_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    store_destroy (&(*self_p)->store);
    OPENSSL_cleanse ((*self_p)->key, KEY_LEN);
    free (*self_p);
    *self_p = NULL;
}

typedef struct {
    sbx_registry_t *self;
    const char *id;
    char *text;
    size_t len;
    void (*fn) (const char *id, json_t *rec, const char *forged, void *arg);
    void *arg;
} op_t;

static int
do_put (MDB_txn *txn, void *arg)
{
    op_t *op = arg;
    MDB_val k = { strlen (op->id), (void *) op->id }, v = { op->len, op->text };
    return mdb_put (txn, store_dbi (op->self->store, 0), &k, &v, 0);
}

static int
do_del (MDB_txn *txn, void *arg)
{
    op_t *op = arg;
    MDB_val k = { strlen (op->id), (void *) op->id };
    int rc = mdb_del (txn, store_dbi (op->self->store, 0), &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int
do_each (MDB_txn *txn, void *arg)
{
    op_t *op = arg;
    MDB_cursor *c;
    int rc = mdb_cursor_open (txn, store_dbi (op->self->store, 0), &c);
    if (rc)
        return rc;
    MDB_val k, v;
    for (rc = mdb_cursor_get (c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get (c, &k, &v, MDB_NEXT)) {
        char id[128];
        if (k.mv_size >= sizeof id)
            continue;
        memcpy (id, k.mv_data, k.mv_size);
        id[k.mv_size] = 0;
        const char *text = v.mv_data, *forged = NULL;
        char want[SEAL_HEX + 1];
        json_t *rec = NULL;
        if (v.mv_size < SEAL_HEX + 2 || text[SEAL_HEX] != ' ')
            forged = "the record carries no seal";
        else {
            rec = json_loadb (text + SEAL_HEX + 1, v.mv_size - SEAL_HEX - 1, 0, NULL);
            seal (op->self, id, text + SEAL_HEX + 1, v.mv_size - SEAL_HEX - 1, want);
            if (!*want || CRYPTO_memcmp (want, text, SEAL_HEX))
                forged = "the record does not match its seal";
            else if (!json_is_object (rec))
                forged = "the record is not a JSON object";
        }
        op->fn (id, rec, forged, op->arg);
        json_decref (rec);
    }
    mdb_cursor_close (c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int
sbx_registry_put (sbx_registry_t *self, const char *id, const json_t *rec)
{
    char *json = json_dumps (rec, JSON_COMPACT), mac[SEAL_HEX + 1] = "";
    size_t n = json ? strlen (json) : 0;
    op_t op = { self, id, json ? malloc (SEAL_HEX + 1 + n) : NULL, SEAL_HEX + 1 + n, NULL, NULL };
    if (op.text)
        seal (self, id, json, n, mac);
    int rc = -1;
    if (op.text && strlen (mac) == SEAL_HEX) {
        memcpy (op.text, mac, SEAL_HEX);
        op.text[SEAL_HEX] = ' ';
        memcpy (op.text + SEAL_HEX + 1, json, n);
        rc = store_write (self->store, do_put, &op);
    }
    free (op.text);
    free (json);
    return rc;
}

int
sbx_registry_del (sbx_registry_t *self, const char *id)
{
    op_t op = { self, id, NULL, 0, NULL, NULL };
    return store_write (self->store, do_del, &op);
}

int
sbx_registry_each (sbx_registry_t *self,
                   void (*fn) (const char *id, json_t *rec, const char *forged, void *arg),
                   void *arg)
{
    op_t op = { self, NULL, NULL, 0, fn, arg };
    return store_read (self->store, do_each, &op);
}
