/* test_evals_store: event-log's eval records (proto/evals.def) through the
 * real broker and event-log: stored whole and read back, listed newest
 * first without their tasks, each user's own (bob can neither read, list
 * nor overwrite alice's; an operator can), CAISSON_EVALS_MAX_PER_USER new
 * ones per user, records refused for their id, depth or indexed keys, a
 * 7 MiB record, a kill -9 of event-log keeping them, and a full store
 * answering store_full with what was stored before intact. */
#include "eventlog_util.h"
#include "mpjson.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static elstack_t s_st;

/* Sends m (consumed) to event-log as user, an operator when op; the reply. */
static proto_msg_t *
as (const char *user, bool op, proto_msg_t *m)
{
    return request_as (s_st.client, user, op, m);
}

/* A record as the harness stores it, with one task whose output is pad
 * (NULL: short). A new reference. */
static json_t *
record (const char *id, const char *set, const char *status, const char *pad)
{
    return json_pack ("{s:s, s:s, s:s, s:s, s:i, s:i, s:s, s:I, s:{s:i, s:i, s:i, s:f, s:{s:i}},"
                      " s:[{s:s, s:s, s:[], s:i, s:[{s:s, s:b, s:{s:i, s:s}}]}]}",
                      "id", id, "set", set, "model", "replay/oracle", "profile", "default@2",
                      "concurrency", 1, "repeat", 1, "status", status, "started",
                      (json_int_t) 1700000000000000, "summary", "tasks", 1, "attempts", 1,
                      "passed", 1, "passRate", 1.0, "causes", "tests_failed", 0,
                      "tasks", "id", "py-fizz", "language", "python", "tags", "passes", 1,
                      "attempts", "runId", "r1", "passed", 1, "tests", "exitCode", 0, "output",
                      pad ? pad : "ok");
}

/* eval.put of rec (consumed) as user; the reply. */
static proto_msg_t *
put (const char *user, bool op, const char *id, json_t *rec)
{
    proto_msg_t *m = proto_msg_new (PROTO_eval_put, NULL);
    proto_set_str (&m->body.eval_put.id, id);
    assert_int_equal (mpjson_set (&m->body.eval_put.record, rec, 32), 0);
    json_decref (rec);
    return as (user, op, m);
}

static void
put_ok (const char *user, const char *id, json_t *rec)
{
    proto_msg_t *rep = put (user, false, id, rec);
    if (rep->type != PROTO_eval_info)
        fail_msg ("eval.put %s: %s", id, rep->type == PROTO_error ? rep->body.error.message : "?");
    assert_string_equal (rep->body.eval_info.id, id);
    assert_string_equal (rep->body.eval_info.user, user);
    assert_true (rep->body.eval_info.updated > 0);
    proto_msg_destroy (&rep);
}

static proto_msg_t *
get (const char *user, bool op, const char *id)
{
    proto_msg_t *m = proto_msg_new (PROTO_eval_get, NULL);
    proto_set_str (&m->body.eval_get.id, id);
    return as (user, op, m);
}

/* The stored record of id as user sees it (asserted found). */
static json_t *
got (const char *user, bool op, const char *id)
{
    proto_msg_t *rep = get (user, op, id);
    if (rep->type != PROTO_eval_record)
        fail_msg ("eval.get %s: %s", id, rep->type == PROTO_error ? rep->body.error.message : "?");
    json_t *rec = any_json (&rep->body.eval_record.record);
    proto_msg_destroy (&rep);
    assert_non_null (rec);
    return rec;
}

static proto_msg_t *
del (const char *user, bool op, const char *id)
{
    proto_msg_t *m = proto_msg_new (PROTO_eval_delete, NULL);
    proto_set_str (&m->body.eval_delete.id, id);
    return as (user, op, m);
}

static json_t *
list (const char *user, bool op, const char *whose, uint64_t limit)
{
    proto_msg_t *m = proto_msg_new (PROTO_eval_list, NULL);
    proto_set_str (&m->body.eval_list.user, whose);
    m->body.eval_list.limit = limit;
    proto_msg_t *rep = as (user, op, m);
    if (rep->type != PROTO_eval_listing)
        fail_msg ("eval.list: %s", rep->type == PROTO_error ? rep->body.error.message : "?");
    json_t *evals = any_json (&rep->body.eval_listing.evals);
    proto_msg_destroy (&rep);
    assert_true (json_is_array (evals));
    return evals;
}

/* Asserts user's listing (of whose's; NULL: their own; limit 0: no limit)
 * holds n records. */
static void
expect_listed (const char *user, bool op, const char *whose, uint64_t limit, size_t n)
{
    json_t *l = list (user, op, whose, limit);
    assert_int_equal (json_array_size (l), n);
    json_decref (l);
}

static const char *
str_at (json_t *list, size_t i, const char *key)
{
    return support_json_str (json_array_get (list, i), key);
}

/* ---- owners ------------------------------------------------------------------- */

static void
test_users_keep_their_own (void **state)
{
    (void) state;
    elstack_up (&s_st, "evals-users", NULL, 5000, 1);
    put_ok ("alice", "e1", record ("e1", "golden", "running", NULL));
    put_ok ("alice", "e2", record ("e2", "golden", "done", NULL));
    put_ok ("alice", "e3", record ("e3", "other", "done", NULL));
    json_t *l = list ("alice", false, NULL, 0);
    assert_int_equal (json_array_size (l), 3);
    assert_string_equal (str_at (l, 0, "id"), "e3");           /* newest first */
    assert_string_equal (str_at (l, 2, "id"), "e1");
    assert_string_equal (str_at (l, 0, "set"), "other");
    assert_string_equal (str_at (l, 0, "model"), "replay/oracle");
    assert_string_equal (str_at (l, 0, "status"), "done");
    assert_string_equal (str_at (l, 0, "user"), "alice");
    assert_int_equal (int_at (json_object_get (json_array_get (l, 0), "summary"), "passed"), 1);
    assert_null (json_object_get (json_array_get (l, 0), "tasks"));
    json_decref (l);
    expect_listed ("alice", false, NULL, 2, 2);
    /* replaced whole, and it moves to the top */
    put_ok ("alice", "e1", record ("e1", "golden", "done", NULL));
    l = list ("alice", false, NULL, 0);
    assert_int_equal (json_array_size (l), 3);
    assert_string_equal (str_at (l, 0, "id"), "e1");
    assert_string_equal (str_at (l, 0, "status"), "done");
    json_decref (l);
    /* bob sees none of them, and cannot take e1 over */
    expect_error_reply (get ("bob", false, "e1"), "not_found", "e1");
    expect_listed ("bob", false, NULL, 0, 0);
    proto_msg_t *m = proto_msg_new (PROTO_eval_list, NULL);
    proto_set_str (&m->body.eval_list.user, "alice");
    expect_error_reply (as ("bob", false, m), "forbidden", "operators");
    expect_error_reply (put ("bob", false, "e1", record ("e1", "bobs", "done", NULL)), "forbidden",
                        "another user's");
    json_t *rec = got ("alice", false, "e1");
    assert_string_equal (support_json_str (rec, "set"), "golden");
    assert_string_equal (support_json_str (rec, "status"), "done");
    /* whole: the tasks are there */
    assert_string_equal (support_json_str (json_array_get (json_object_get (rec, "tasks"), 0),
                                           "id"), "py-fizz");
    json_decref (rec);
    /* an operator reads and lists hers */
    rec = got ("ops", true, "e2");
    assert_string_equal (support_json_str (rec, "id"), "e2");
    json_decref (rec);
    expect_listed ("ops", true, "alice", 0, 3);
    expect_error_reply (get ("alice", false, "nosuch"), "not_found", "nosuch");
    elstack_down (&s_st);
}

static void
test_limit_per_user (void **state)
{
    (void) state;
    static const char *const three[] = { "CAISSON_EVALS_MAX_PER_USER=3", NULL };
    elstack_up (&s_st, "evals-limit", three, 5000, 1);
    put_ok ("alice", "a1", record ("a1", "s", "done", NULL));
    put_ok ("alice", "a2", record ("a2", "s", "done", NULL));
    put_ok ("alice", "a3", record ("a3", "s", "done", NULL));
    expect_error_reply (put ("alice", false, "a4", record ("a4", "s", "done", NULL)), "limit",
                        "CAISSON_EVALS_MAX_PER_USER");
    put_ok ("alice", "a2", record ("a2", "s", "interrupted", NULL));    /* a replacement is */
    put_ok ("bob", "b1", record ("b1", "s", "done", NULL));            /* per user */
    expect_listed ("alice", false, NULL, 0, 3);
    expect_error_reply (get ("alice", false, "a4"), "not_found", "a4");
    /* deleting makes room; bob cannot delete hers, an operator can */
    expect_error_reply (del ("bob", false, "a1"), "not_found", "a1");
    proto_msg_t *rep = del ("alice", false, "a1");
    assert_int_equal (rep->type, PROTO_eval_info);
    assert_string_equal (rep->body.eval_info.user, "alice");
    assert_true (rep->body.eval_info.bytes > 0);
    proto_msg_destroy (&rep);
    expect_error_reply (get ("alice", false, "a1"), "not_found", "a1");
    expect_error_reply (del ("alice", false, "a1"), "not_found", "a1");
    put_ok ("alice", "a4", record ("a4", "s", "done", NULL));
    rep = del ("root", true, "a4");
    assert_int_equal (rep->type, PROTO_eval_info);
    proto_msg_destroy (&rep);
    expect_listed ("alice", false, NULL, 0, 2);
    elstack_down (&s_st);
}

static void
test_bad_records (void **state)
{
    (void) state;
    elstack_up (&s_st, "evals-bad", NULL, 5000, 1);
    expect_error_reply (put ("alice", false, "../x", record ("x", "s", "done", NULL)), "bad_value",
                        "id");
    expect_error_reply (put ("alice", false, "-x", record ("x", "s", "done", NULL)), "bad_value",
                        "id");
    expect_error_reply (put ("alice", false, "x", json_pack ("[i]", 1)), "bad_value", "record");
    expect_error_reply (put ("alice", false, "x", json_pack ("{s:i}", "set", 3)), "bad_value",
                        "record.set");
    expect_error_reply (put ("alice", false, "x", json_pack ("{s:s}", "summary", "all good")),
                        "bad_value", "record.summary");
    /* 17 levels: one too many */
    json_t *deep = json_integer (1);
    for (int i = 0; i < 17; i++)
        deep = json_pack ("{s:o}", "a", deep);
    expect_error_reply (put ("alice", false, "x", deep), "bad_value", "record");
    deep = json_integer (1);
    for (int i = 0; i < 16; i++)
        deep = json_pack ("{s:o}", "a", deep);
    put_ok ("alice", "x", deep);
    elstack_down (&s_st);
}

/* ---- size, restart, a full store ---------------------------------------------- */

static void
test_big_record_and_kill9 (void **state)
{
    (void) state;
    elstack_up (&s_st, "evals-big", NULL, 20000, 0);
    size_t n = 7u << 20;
    char *pad = malloc (n + 1);
    for (size_t i = 0; i < n; i++)
        pad[i] = (char) ('a' + i % 26);
    pad[n] = '\0';
    put_ok ("alice", "big", record ("big", "golden", "done", pad));
    put_ok ("alice", "small", record ("small", "golden", "done", NULL));
    support_stop (s_st.eventlog, SIGKILL, 1000);
    s_st.eventlog = start_eventlog (NULL);
    json_t *rec = got ("alice", false, "big");
    json_t *task = json_array_get (json_object_get (rec, "tasks"), 0);
    json_t *att = json_array_get (json_object_get (task, "attempts"), 0);
    const char *out = support_json_str (json_object_get (att, "tests"), "output");
    assert_int_equal (strlen (out), n);
    assert_memory_equal (out, pad, n);
    json_decref (rec);
    json_t *l = list ("alice", false, NULL, 0);
    assert_int_equal (json_array_size (l), 2);
    assert_true (int_at (json_array_get (l, 1), "bytes") > (json_int_t) n);
    json_decref (l);
    free (pad);
    elstack_down (&s_st);
}

static void
test_store_full (void **state)
{
    (void) state;
    static const char *const small[] = { "CAISSON_LMDB_MAP_MB=1", "CAISSON_LMDB_MAX_MB=2", NULL };
    elstack_up (&s_st, "evals-full", small, 10000, 0);
    put_ok ("alice", "keep", record ("keep", "golden", "done", NULL));
    char *pad = malloc (400001);
    memset (pad, 'p', 400000);
    pad[400000] = '\0';
    int stored = 0;
    proto_msg_t *rep = NULL;
    for (; stored < 20; stored++) {
        char id[16];
        snprintf (id, sizeof id, "fill%d", stored);
        rep = put ("alice", false, id, record (id, "golden", "done", pad));
        if (rep->type != PROTO_eval_info)
            break;
        proto_msg_destroy (&rep);
    }
    assert_in_range (stored, 1, 6);
    expect_error_reply (rep, "store_full", "CAISSON_LMDB_MAX_MB");
    /* a replacement too big for the store leaves the stored one */
    expect_error_reply (put ("alice", false, "keep", record ("keep", "huge", "done", pad)),
                        "store_full", "CAISSON_LMDB_MAX_MB");
    json_t *rec = got ("alice", false, "keep");
    assert_string_equal (support_json_str (rec, "set"), "golden");
    json_decref (rec);
    support_expect_clean_exit (s_st.eventlog);
    s_st.eventlog = start_eventlog (small);
    expect_listed ("alice", false, NULL, 0, (size_t) stored + 1);
    rec = got ("alice", false, "fill0");
    assert_int_equal (strlen (support_json_str (json_array_get (json_object_get (
        json_array_get (json_object_get (rec, "tasks"), 0), "attempts"), 0), "runId")), 2);
    json_decref (rec);
    free (pad);
    elstack_down (&s_st);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_users_keep_their_own),
        cmocka_unit_test (test_limit_per_user),
        cmocka_unit_test (test_bad_records),
        cmocka_unit_test (test_big_record_and_kill9),
        cmocka_unit_test (test_store_full),
    };
    return support_run_group_tests (tests, NULL, NULL);
}
