/* test_store: libcommon's LMDB helpers: batched writes, a full map grown
 * and the batch retried whole, and a batch refused whole at the maximum
 * with nothing stored before it lost. */
#include "support.h"
#include "store.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    store_t *store;
    int first;
    int count;
    size_t size;
} batch_t;

static int
put_batch (MDB_txn *txn, void *arg)
{
    batch_t *b = arg;
    static char value[65536];
    memset (value, 'v', sizeof value);
    for (int i = b->first; i < b->first + b->count; i++) {
        char key[32];
        snprintf (key, sizeof key, "k%08d", i);
        MDB_val k = { strlen (key), key }, v = { b->size, value };
        int rc = mdb_put (txn, store_dbi (b->store, 1), &k, &v, 0);
        if (rc)
            return rc;
    }
    return 0;
}

typedef struct {
    store_t *store;
    size_t entries;
} stat_t;

static int
count (MDB_txn *txn, void *arg)
{
    stat_t *s = arg;
    MDB_stat st;
    int rc = mdb_stat (txn, store_dbi (s->store, 1), &st);
    s->entries = st.ms_entries;
    return rc;
}

static void
test_grow_and_refuse (void **state)
{
    (void) state;
    const char *dir = support_sandbox_env ("store");
    char path[1024];
    snprintf (path, sizeof path, "%s/db", dir);
    static const char *const names[] = { "meta", "data" };
    store_t *store = store_new (path, names, 2, 1 << 20, 8 << 20, MDB_NOMETASYNC);
    assert_non_null (store);

    /* 2 MiB in one batch does not fit a 1 MiB map: it grows, and the
     * whole batch lands. */
    batch_t b = { store, 0, 32, 65536 };
    assert_int_equal (store_write (store, put_batch, &b), 0);
    assert_true (store_map_size (store) > (1 << 20));
    stat_t s = { store, 0 };
    assert_int_equal (store_read (store, count, &s), 0);
    assert_int_equal (s.entries, 32);

    /* 16 MiB cannot fit under the 8 MiB maximum: refused whole, with
     * MDB_MAP_FULL, and the first batch is still there. */
    batch_t big = { store, 1000, 256, 65536 };
    assert_int_equal (store_write (store, put_batch, &big), -1);
    assert_int_equal (store_error (store), MDB_MAP_FULL);
    assert_int_equal (store_read (store, count, &s), 0);
    assert_int_equal (s.entries, 32);
    store_destroy (&store);
    store_destroy (&store);     /* safe twice */

    /* Reopened, the data is intact and the grown size is remembered. */
    store = store_new (path, names, 2, 1 << 20, 8 << 20, 0);
    assert_non_null (store);
    assert_true (store_map_size (store) > (1 << 20));
    s.store = store;
    assert_int_equal (store_read (store, count, &s), 0);
    assert_int_equal (s.entries, 32);
    store_destroy (&store);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_grow_and_refuse),
    };
    return support_run_group_tests (tests, NULL, NULL);
}
