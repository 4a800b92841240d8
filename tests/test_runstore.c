/* test_runstore: the orchestrator's store in-process over a temporary
 * LMDB: snapshots staged and flushed by id, the unfinished list, thread
 * ownership and conversations trimmed from the oldest exchange. */
#include "support.h"
#include "runstore.h"

#include <stdlib.h>
#include <string.h>

static char s_dir[] = "/tmp/test_runstore.XXXXXX";

static runstore_t *
open_store (void)
{
    runstore_t *s = runstore_new (s_dir);
    assert_non_null (s);
    return s;
}

static bool
listed (zlist_t *ids, const char *id)
{
    for (char *i = zlist_first (ids); i; i = zlist_next (ids))
        if (strcmp (i, id) == 0)
            return true;
    return false;
}

static void
test_snapshots (void **state)
{
    (void) state;
    runstore_t *s = open_store ();
    json_t *a = json_pack ("{s:s, s:s}", "id", "a", "status", "running");
    json_t *b = json_pack ("{s:s, s:s}", "id", "b", "status", "completed");
    assert_int_equal (runstore_put (s, "a", a, true), 0);
    assert_int_equal (runstore_put (s, "b", b, false), 0);
    json_t *got = runstore_load (s, "a");           /* staged, not yet written */
    assert_true (json_equal (got, a));
    json_decref (got);
    assert_int_equal (runstore_flush (s), 0);
    runstore_destroy (&s);
    s = open_store ();                              /* what a restart sees */
    got = runstore_load (s, "b");
    assert_true (json_equal (got, b));
    json_decref (got);
    assert_null (runstore_load (s, "nobody"));
    zlist_t *ids = runstore_live (s);
    assert_true (listed (ids, "a"));
    assert_false (listed (ids, "b"));
    zlist_destroy (&ids);
    /* a run that ends leaves the unfinished list */
    json_object_set_new (a, "status", json_string ("cancelled"));
    assert_int_equal (runstore_put (s, "a", a, false), 0);
    runstore_destroy (&s);                          /* flushes */
    s = open_store ();
    ids = runstore_live (s);
    assert_false (listed (ids, "a"));
    zlist_destroy (&ids);
    json_decref (a);
    json_decref (b);
    runstore_destroy (&s);
}

static void
test_threads (void **state)
{
    (void) state;
    runstore_t *s = open_store ();
    assert_int_equal (runstore_claim_thread (s, "t1", "alice", false), 0);
    assert_int_equal (runstore_claim_thread (s, "t1", "alice", false), 0);
    assert_int_equal (runstore_claim_thread (s, "t1", "bob", false), 1);
    assert_int_equal (runstore_claim_thread (s, "t1", "bob", true), 0);
    json_t *empty = runstore_thread (s, "t1");
    assert_int_equal (json_array_size (empty), 0);
    json_decref (empty);
    /* 40 exchanges of 10 KiB: only the newest fit 256 KiB, from a user turn */
    json_t *msgs = json_array ();
    char *big = malloc (10240);
    memset (big, 'x', 10239);
    big[10239] = '\0';
    for (int i = 0; i < 40; i++) {
        json_array_append_new (msgs, json_pack ("{s:s, s:i}", "role", "user", "n", i));
        json_array_append_new (msgs, json_pack ("{s:s, s:s}", "role", "assistant", "content", big));
    }
    free (big);
    assert_int_equal (runstore_save_thread (s, "t1", msgs), 0);
    json_t *kept = runstore_thread (s, "t1");
    assert_true (json_array_size (kept) < 60 && json_array_size (kept) > 2);
    json_t *first = json_array_get (kept, 0);
    assert_string_equal (json_string_value (json_object_get (first, "role")), "user");
    assert_int_equal (json_integer_value (json_object_get (json_array_get (kept,
                          json_array_size (kept) - 2), "n")), 39);
    json_decref (kept);
    json_decref (msgs);
    runstore_destroy (&s);
}

int
main (void)
{
    assert_non_null (mkdtemp (s_dir));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_snapshots),
        cmocka_unit_test (test_threads),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    support_sh ("rm -rf %s", s_dir);
    return rc;
}
