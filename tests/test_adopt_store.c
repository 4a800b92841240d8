/* test_adopt_store: runstore_take, the store side of adopting a gone
 * orchestrator's runs, in-process over two temporary LMDB stores: the
 * unfinished runs move with their new owner, threads, thread owners and
 * kept sandboxes the adopter lacks come along, the old store lets go; and
 * taking again after a crash between the two writes only lets go (a copy
 * the adopter already holds, maybe newer, is not overwritten). */
#include "support.h"
#include "runstore.h"

#include <stdlib.h>
#include <string.h>

static char s_mine[] = "/tmp/test_adopt_store.XXXXXX";
static char s_gone[] = "/tmp/test_adopt_store.XXXXXX";

static int
count (runstore_t *s)
{
    zlist_t *ids = runstore_live (s);
    assert_non_null (ids);
    int n = (int) zlist_size (ids);
    zlist_destroy (&ids);
    return n;
}

static const char *
owner_of (runstore_t *s, const char *id, char *buf, size_t len)
{
    json_t *snap = runstore_load (s, id);
    snprintf (buf, len, "%s", json_string_value (json_object_get (snap, "owner")) ?: "");
    json_decref (snap);
    return buf;
}

static void
test_take (void **state)
{
    (void) state;
    runstore_t *gone = runstore_new (s_gone), *mine = runstore_new (s_mine);
    assert_non_null (gone);
    assert_non_null (mine);
    json_t *r1 = json_pack ("{s:s, s:s, s:s}", "id", "r1", "owner", "b", "status", "running");
    json_t *r2 = json_pack ("{s:s, s:s, s:s}", "id", "r2", "owner", "b", "status", "completed");
    assert_int_equal (runstore_put (gone, "r1", r1, true), 0);
    assert_int_equal (runstore_put (gone, "r2", r2, false), 0);
    assert_int_equal (runstore_flush (gone), 0);
    assert_int_equal (runstore_claim_thread (gone, "t-b", "bob", false), 0);
    assert_int_equal (runstore_claim_thread (gone, "t-both", "bob", false), 0);
    assert_int_equal (runstore_claim_thread (mine, "t-both", "amy", false), 0);
    json_t *msgs = json_pack ("[{s:s, s:s}]", "role", "user", "content", "hi");
    assert_int_equal (runstore_save_thread (gone, "t-b", msgs), 0);
    json_t *kept = json_pack ("{s:s, s:b, s:s, s:I}", "user", "bob", "op", 0, "thread", "t-b",
                              "idleUntil", (json_int_t) 1);
    assert_int_equal (runstore_keep_sandbox (gone, "sbx-1", kept), 0);

    assert_int_equal (runstore_take (mine, gone, "a"), 1);
    char buf[64];
    assert_int_equal (count (mine), 1);
    assert_string_equal (owner_of (mine, "r1", buf, sizeof buf), "a");
    assert_int_equal (count (gone), 0);
    /* threads come along; one the adopter has keeps its owner */
    assert_int_equal (runstore_claim_thread (mine, "t-b", "bob", false), 0);
    assert_int_equal (runstore_claim_thread (mine, "t-b", "eve", false), 1);
    assert_int_equal (runstore_claim_thread (mine, "t-both", "bob", false), 1);
    json_t *t = runstore_thread (mine, "t-b");
    assert_true (json_equal (t, msgs));
    json_decref (t);
    json_t *ks = runstore_kept_sandboxes (mine);
    assert_true (json_equal (json_object_get (ks, "sbx-1"), kept));
    json_decref (ks);
    ks = runstore_kept_sandboxes (gone);
    assert_int_equal (json_object_size (ks), 0);
    json_decref (ks);
    /* nothing left: a second adopter takes nothing */
    assert_int_equal (runstore_take (mine, gone, "c"), 0);
    assert_string_equal (owner_of (mine, "r1", buf, sizeof buf), "a");

    /* an adopter that crashed after writing its own store: both hold r3,
     * the adopter's copy moved on; taking again only lets go */
    json_t *r3 = json_pack ("{s:s, s:s, s:s}", "id", "r3", "owner", "b", "status", "running");
    assert_int_equal (runstore_put (gone, "r3", r3, true), 0);
    assert_int_equal (runstore_flush (gone), 0);
    json_object_set_new (r3, "owner", json_string ("a"));
    json_object_set_new (r3, "status", json_string ("awaiting_approval"));
    assert_int_equal (runstore_put (mine, "r3", r3, true), 0);
    assert_int_equal (runstore_flush (mine), 0);
    assert_int_equal (runstore_take (mine, gone, "a"), 1);
    json_t *got = runstore_load (mine, "r3");
    assert_true (json_equal (got, r3));
    json_decref (got);
    assert_int_equal (count (gone), 0);
    assert_int_equal (count (mine), 2);

    json_decref (r1);
    json_decref (r2);
    json_decref (r3);
    json_decref (msgs);
    json_decref (kept);
    runstore_destroy (&gone);
    runstore_destroy (&mine);
}

/* A kept sandbox is written at once, and forgotten. */
static void
test_kept_sandboxes (void **state)
{
    (void) state;
    runstore_t *s = runstore_new (s_mine);
    json_t *info = json_pack ("{s:s, s:s}", "user", "amy", "thread", "t");
    assert_int_equal (runstore_keep_sandbox (s, "sbx-9", info), 0);
    runstore_destroy (&s);
    s = runstore_new (s_mine);
    json_t *ks = runstore_kept_sandboxes (s);
    assert_true (json_equal (json_object_get (ks, "sbx-9"), info));
    json_decref (ks);
    assert_int_equal (runstore_keep_sandbox (s, "sbx-9", NULL), 0);
    assert_int_equal (runstore_keep_sandbox (s, "never-kept", NULL), 0);
    ks = runstore_kept_sandboxes (s);
    assert_null (json_object_get (ks, "sbx-9"));
    json_decref (ks);
    json_decref (info);
    runstore_destroy (&s);
}

int
main (void)
{
    assert_non_null (mkdtemp (s_mine));
    assert_non_null (mkdtemp (s_gone));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_take),
        cmocka_unit_test (test_kept_sandboxes),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    support_sh ("rm -rf %s %s", s_mine, s_gone);
    return rc;
}
