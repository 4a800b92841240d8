/* test_profiles_store: event-log's versioned profiles (proto/profiles.def)
 * through the real broker and event-log: versions created, listed, read
 * and diffed; activation, a canary share chosen by thread (within 5 points
 * of its percentage over 1000 threads, and the same thread always the
 * same version), rollback of a candidate and of an active version;
 * operators only for changes, anyone for reads; bodies refused naming
 * the key at fault; and a kill -9 of event-log keeping everything. */
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

static proto_msg_t *
create (const char *user, bool op, const char *name, const char *body, const char *note)
{
    proto_msg_t *m = proto_msg_new (PROTO_profile_create, NULL);
    proto_set_str (&m->body.profile_create.name, name);
    json_t *b = json_loads (body, 0, NULL);
    assert_non_null (b);
    assert_int_equal (mpjson_set (&m->body.profile_create.body, b, 32), 0);
    json_decref (b);
    proto_set_str (&m->body.profile_create.note, note);
    return as (user, op, m);
}

/* Creates a version as the operator; its number. */
static uint64_t
created (const char *name, const char *body)
{
    proto_msg_t *rep = create ("ops", true, name, body, "why");
    if (rep->type != PROTO_profile)
        fail_msg ("create: %s", rep->type == PROTO_error ? rep->body.error.message : "?");
    assert_string_equal (rep->body.profile.role, "inactive");
    assert_string_equal (rep->body.profile.by, "ops");
    uint64_t v = rep->body.profile.version;
    proto_msg_destroy (&rep);
    return v;
}

static proto_msg_t *
activate (const char *user, bool op, const char *name, uint64_t v, uint64_t pct)
{
    proto_msg_t *m = proto_msg_new (PROTO_profile_activate, NULL);
    proto_set_str (&m->body.profile_activate.name, name);
    m->body.profile_activate.version = v;
    m->body.profile_activate.canary_percent = pct;
    return as (user, op, m);
}

static proto_msg_t *
rollback (const char *user, bool op, const char *name)
{
    proto_msg_t *m = proto_msg_new (PROTO_profile_rollback, NULL);
    proto_set_str (&m->body.profile_rollback.name, name);
    return as (user, op, m);
}

/* The state of profile name from a profile.state reply (consumed). */
static json_t *
state_of (proto_msg_t *rep, const char *name)
{
    if (rep->type != PROTO_profile_state)
        fail_msg ("expected profile.state, got %s", rep->type == PROTO_error
                  ? rep->body.error.message : proto_type_name (rep->type));
    json_t *all = any_json (&rep->body.profile_state.profiles), *found = NULL, *p;
    proto_msg_destroy (&rep);
    size_t i;
    json_array_foreach (all, i, p)
        if (!strcmp (support_json_str (p, "name"), name))
            found = json_incref (p);
    json_decref (all);
    assert_non_null (found);
    return found;
}

static json_t *
list (const char *user, bool op, const char *name)
{
    proto_msg_t *m = proto_msg_new (PROTO_profile_list, NULL);
    return state_of (as (user, op, m), name);
}

static proto_msg_t *
resolve (const char *user, const char *name, uint64_t pinned, const char *thread)
{
    proto_msg_t *m = proto_msg_new (PROTO_profile_resolve, NULL);
    proto_set_str (&m->body.profile_resolve.name, name);
    m->body.profile_resolve.version = pinned;
    proto_set_str (&m->body.profile_resolve.thread_id, thread);
    return as (user, false, m);
}

/* profile.get of name's version v (0: the active one) as bob; the reply. */
static proto_msg_t *
get_as_bob (const char *name, uint64_t v)
{
    proto_msg_t *m = proto_msg_new (PROTO_profile_get, NULL);
    proto_set_str (&m->body.profile_get.name, name);
    m->body.profile_get.version = v;
    return as ("bob", false, m);
}

/* The version resolve gives (asserted to give one), its role in role. */
static uint64_t
resolved (const char *name, uint64_t pinned, const char *thread, const char **role)
{
    proto_msg_t *rep = resolve ("bob", name, pinned, thread);
    if (rep->type != PROTO_profile)
        fail_msg ("resolve: %s", rep->type == PROTO_error ? rep->body.error.message : "?");
    uint64_t v = rep->body.profile.version;
    static char last[16];
    snprintf (last, sizeof last, "%s", rep->body.profile.role);
    if (role)
        *role = last;
    proto_msg_destroy (&rep);
    return v;
}

static char *
diff (const char *name, uint64_t a, uint64_t b)
{
    proto_msg_t *m = proto_msg_new (PROTO_profile_diff, NULL);
    proto_set_str (&m->body.profile_diff.name, name);
    m->body.profile_diff.a = a;
    m->body.profile_diff.b = b;
    proto_msg_t *rep = as ("bob", false, m);
    if (rep->type != PROTO_profile_diff_result)
        fail_msg ("diff: %s", rep->type == PROTO_error ? rep->body.error.message : "?");
    char *text = strdup (rep->body.profile_diff_result.diff);
    proto_msg_destroy (&rep);
    return text;
}

/* Asserts that text is in the diff d, showing d when not. */
static void
expect_in (const char *d, const char *text)
{
    if (!strstr (d, text))
        fail_msg ("the diff lacks\n%s\nit is\n%s", text, d);
}

/* ---- versions, diff ----------------------------------------------------------- */

static void
test_create_list_get_diff (void **state)
{
    (void) state;
    elstack_up (&s_st, "prof-basic", NULL, 5000, 1);
    assert_int_equal (created ("default", "{\"systemPrompt\": \"one\\ntwo\\nthree\\nfour\\n\","
                               "\"budgets\": {\"steps\": 10}, \"toolDescriptions\": {\"shell\": "
                               "\"Runs a command\"}}"), 1);
    assert_int_equal (created ("default", "{\"systemPrompt\": \"one\\nTWO\\nthree\\nfour\\n\","
                               "\"budgets\": {\"steps\": 20}, \"toolDescriptions\": {\"shell\": "
                               "\"Runs a command\\nin the sandbox\"}, \"model\": \"openai/gpt-4o\","
                               "\"checks\": [\"tests_pass\"]}"), 2);
    json_t *st = list ("bob", false, "default");
    assert_int_equal (int_at (st, "active"), 0);
    assert_int_equal (json_array_size (json_object_get (st, "versions")), 2);
    assert_string_equal (support_json_str (json_array_get (json_object_get (st, "versions"), 1),
                                           "note"), "why");
    json_decref (st);
    /* any user reads a version, its body as stored */
    proto_msg_t *rep = get_as_bob ("default", 1);
    assert_int_equal (rep->type, PROTO_profile);
    assert_string_equal (rep->body.profile.role, "inactive");
    json_t *body = any_json (&rep->body.profile.body);
    assert_int_equal (int_at (json_object_get (body, "budgets"), "steps"), 10);
    json_decref (body);
    proto_msg_destroy (&rep);
    /* nothing active yet: version 0 is not found */
    expect_error_reply (get_as_bob ("default", 0), "not_found", "no active version");
    char *d = diff ("default", 1, 2);
    expect_in (d, "--- systemPrompt (version 1)\n+++ systemPrompt (version 2)\n"
                             "@@ -1,4 +1,4 @@\n one\n-two\n+TWO\n three\n four\n");
    expect_in (d, "--- toolDescriptions.shell (version 1)\n");
    expect_in (d, " Runs a command\n+in the sandbox\n");
    assert_non_null (strstr (d, "budgets\n- {\"steps\":10}\n+ {\"steps\":20}\n"));
    expect_in (d, "model\n- (absent)\n+ openai/gpt-4o\n");
    assert_non_null (strstr (d, "checks\n- (absent)\n+ [\"tests_pass\"]\n"));
    free (d);
    d = diff ("default", 2, 2);
    assert_string_equal (d, "");
    free (d);
    proto_msg_t *m = proto_msg_new (PROTO_profile_diff, NULL);
    proto_set_str (&m->body.profile_diff.name, "default");
    m->body.profile_diff.a = 1;
    m->body.profile_diff.b = 7;
    expect_error_reply (as ("bob", false, m), "not_found", "no version 7");
    elstack_down (&s_st);
}

/* A long prompt with two distant edits gives two hunks, each with its
 * line numbers. */
static void
test_diff_hunks (void **state)
{
    (void) state;
    elstack_up (&s_st, "prof-hunks", NULL, 5000, 1);
    char a[4096] = "", b[4096] = "";
    for (int i = 1; i <= 40; i++) {
        char line[32];
        snprintf (line, sizeof line, "line %d\\n", i);
        strcat (a, line);
        strcat (b, i == 5 ? "line five\\n" : i == 30 ? "" : line);
    }
    char body[8192];
    snprintf (body, sizeof body, "{\"systemPrompt\": \"%s\"}", a);
    created ("long", body);
    snprintf (body, sizeof body, "{\"systemPrompt\": \"%s\"}", b);
    created ("long", body);
    char *d = diff ("long", 1, 2);
    expect_in (d, "@@ -2,7 +2,7 @@\n line 2\n line 3\n line 4\n-line 5\n+line five\n"
                             " line 6\n line 7\n line 8\n");
    expect_in (d, "@@ -27,7 +27,6 @@\n line 27\n line 28\n line 29\n-line 30\n"
                             " line 31\n");
    free (d);
    elstack_down (&s_st);
}

/* Two long prompts with nothing in common: past the diff's table size it
 * says so and shows the whole text replaced, rather than allocating
 * without bound. */
static void
test_diff_capped (void **state)
{
    (void) state;
    elstack_up (&s_st, "prof-cap", NULL, 10000, 0);
    for (int v = 0; v < 2; v++) {
        json_t *body = json_object ();
        char *text = malloc (60000), *at = text;
        for (int i = 0; i < 3000; i++)
            at += sprintf (at, "%c%d\n", v ? 'b' : 'a', i);
        json_object_set_new (body, "systemPrompt", json_string (text));
        char *dump = json_dumps (body, 0);
        created ("cap", dump);
        free (dump);
        free (text);
        json_decref (body);
    }
    char *d = diff ("cap", 1, 2);
    expect_in (d, "(3000 and 3000 lines: too many to compare line by line; the whole text "
               "is shown as replaced)\n@@ -1,3000 +1,3000 @@\n-a0\n-a1\n");
    expect_in (d, "-a2999\n+b0\n");
    expect_in (d, "+b2999\n");
    free (d);
    elstack_down (&s_st);
}

/* ---- roll-out ----------------------------------------------------------------- */

static void
test_activate_canary_rollback (void **state)
{
    (void) state;
    elstack_up (&s_st, "prof-canary", NULL, 5000, 1);
    created ("default", "{\"systemPrompt\": \"v1\"}");
    created ("default", "{\"systemPrompt\": \"v2\"}");
    created ("fresh", "{}");
    /* never activated: resolve finds nothing, unless pinned */
    expect_error_reply (resolve ("bob", "fresh", 0, "t1"), "not_found", "fresh");
    assert_int_equal (resolved ("fresh", 1, "t1", NULL), 1);
    expect_error_reply (resolve ("bob", "nosuch", 0, NULL), "not_found", "nosuch");
    expect_error_reply (activate ("ops", true, "default", 9, 0), "not_found", "no version 9");
    json_t *st = state_of (activate ("ops", true, "default", 1, 0), "default");
    assert_int_equal (int_at (st, "active"), 1);
    json_decref (st);
    /* a canary needs an active version to share with */
    expect_error_reply (activate ("ops", true, "default", 1, 30), "bad_state", "canary");
    const char *role;
    assert_int_equal (resolved (NULL, 0, NULL, &role), 1);     /* the name defaults */
    assert_string_equal (role, "active");
    st = state_of (activate ("ops", true, "default", 2, 30), "default");
    assert_int_equal (int_at (st, "active"), 1);
    assert_int_equal (int_at (st, "candidate"), 2);
    assert_int_equal (int_at (st, "canaryPercent"), 30);
    json_decref (st);
    int to_candidate = 0;
    for (int i = 0; i < 1000; i++) {
        char thread[32];
        snprintf (thread, sizeof thread, "thread-%d", i);
        uint64_t v = resolved ("default", 0, thread, &role);
        assert_string_equal (role, v == 2 ? "candidate" : "active");
        to_candidate += v == 2;
        if (i % 100 == 0)           /* a thread keeps its version */
            for (int k = 0; k < 3; k++)
                assert_int_equal (resolved ("default", 0, thread, NULL), v);
    }
    assert_in_range (to_candidate, 250, 350);
    /* no thread: the active version; pinned: that one, with its role */
    assert_int_equal (resolved ("default", 0, NULL, NULL), 1);
    assert_int_equal (resolved ("default", 2, "x", &role), 2);
    assert_string_equal (role, "candidate");
    /* roll back the candidate: every thread gets the active one again */
    st = state_of (rollback ("ops", true, "default"), "default");
    assert_null (json_object_get (st, "candidate"));
    assert_int_equal (int_at (st, "active"), 1);
    json_decref (st);
    for (int i = 0; i < 200; i++) {
        char thread[32];
        snprintf (thread, sizeof thread, "thread-%d", i);
        assert_int_equal (resolved ("default", 0, thread, NULL), 1);
    }
    /* a full roll-out remembers the version it replaces */
    st = state_of (activate ("ops", true, "default", 2, 100), "default");
    assert_int_equal (int_at (st, "active"), 2);
    assert_int_equal (json_integer_value (json_array_get (json_object_get (st, "previous"), 0)),
                      1);
    json_decref (st);
    assert_int_equal (resolved ("default", 0, "thread-1", NULL), 2);
    assert_int_equal (resolved ("default", 1, NULL, &role), 1);
    assert_string_equal (role, "previous");
    st = state_of (rollback ("ops", true, "default"), "default");
    assert_int_equal (int_at (st, "active"), 1);
    assert_int_equal (json_array_size (json_object_get (st, "previous")), 0);
    json_decref (st);
    assert_int_equal (resolved ("default", 0, "thread-1", NULL), 1);
    expect_error_reply (rollback ("ops", true, "default"), "bad_state", "nothing");
    expect_error_reply (rollback ("ops", true, "nosuch"), "not_found", "nosuch");
    elstack_down (&s_st);
}

/* ---- who may do what ---------------------------------------------------------- */

static void
test_operators_only (void **state)
{
    (void) state;
    elstack_up (&s_st, "prof-ops", NULL, 5000, 1);
    created ("default", "{\"systemPrompt\": \"p\"}");
    expect_error_reply (create ("bob", false, "default", "{}", NULL), "forbidden",
                        "operators only");
    expect_error_reply (activate ("bob", false, "default", 1, 0), "forbidden", "operators only");
    json_t *st = state_of (activate ("ops", true, "default", 1, 0), "default");
    json_decref (st);
    expect_error_reply (rollback ("bob", false, "default"), "forbidden", "operators only");
    /* nothing bob asked changed anything; he may read */
    st = list ("bob", false, "default");
    assert_int_equal (json_array_size (json_object_get (st, "versions")), 1);
    assert_int_equal (int_at (st, "active"), 1);
    json_decref (st);
    assert_int_equal (resolved ("default", 0, "t", NULL), 1);
    proto_msg_t *rep = get_as_bob ("default", 0);
    assert_int_equal (rep->type, PROTO_profile);
    assert_string_equal (rep->body.profile.role, "active");
    proto_msg_destroy (&rep);
    elstack_down (&s_st);
}

static void
test_bad_bodies (void **state)
{
    (void) state;
    elstack_up (&s_st, "prof-bad", NULL, 5000, 1);
    expect_error_reply (create ("ops", true, "default", "{\"prompt\": \"x\"}", NULL), "bad_value",
                        "body.prompt: unknown key");
    expect_error_reply (create ("ops", true, "default", "{\"budgets\": {\"steps\": 0}}", NULL),
                        "bad_value", "body.budgets.steps");
    expect_error_reply (create ("ops", true, "default", "{\"budgets\": {\"steps\": \"x\"}}", NULL),
                        "bad_value", "body.budgets.steps");
    expect_error_reply (create ("ops", true, "default", "{\"budgets\": {\"minutes\": 3}}", NULL),
                        "bad_value", "body.budgets.minutes");
    expect_error_reply (create ("ops", true, "a..b", "{}", NULL), "bad_value", "name");
    expect_error_reply (create ("ops", true, "../etc", "{}", NULL), "bad_value", "name");
    expect_error_reply (create ("ops", true, "default", "{\"checks\": [\"Tests-Pass\"]}", NULL),
                        "bad_value", "body.checks[0]");
    expect_error_reply (create ("ops", true, "default", "{\"model\": \"no model\"}", NULL),
                        "bad_value", "body.model");
    expect_error_reply (create ("ops", true, "default", "[1]", NULL), "bad_value", "body");
    /* nested deep under a budget: named by the key that should hold a number */
    char deep[1024] = "{\"budgets\": {\"steps\": ";
    for (int i = 0; i < 20; i++)
        strcat (deep, "{\"a\": ");
    strcat (deep, "1");
    for (int i = 0; i < 20; i++)
        strcat (deep, "}");
    strcat (deep, "}}");
    expect_error_reply (create ("ops", true, "default", deep, NULL), "bad_value",
                        "body.budgets.steps");
    /* 65 tool descriptions; 64 are taken */
    char tools[4096] = "{\"toolDescriptions\": {";
    for (int i = 0; i < 65; i++) {
        char one[32];
        snprintf (one, sizeof one, "%s\"t%d\": \"d\"", i ? "," : "", i);
        strcat (tools, one);
    }
    strcat (tools, "}}");
    expect_error_reply (create ("ops", true, "default", tools, NULL), "bad_value",
                        "body.toolDescriptions");
    char *cut = strstr (tools, ",\"t64\"");
    strcpy (cut, "}}");
    assert_int_equal (created ("default", tools), 1);     /* no refused body took a number */
    elstack_down (&s_st);
}

/* ---- restart ------------------------------------------------------------------ */

static void
test_kill9_keeps_profiles (void **state)
{
    (void) state;
    elstack_up (&s_st, "prof-kill", NULL, 5000, 1);
    created ("default", "{\"systemPrompt\": \"one\"}");
    created ("default", "{\"systemPrompt\": \"two\"}");
    json_decref (state_of (activate ("ops", true, "default", 1, 0), "default"));
    json_decref (state_of (activate ("ops", true, "default", 2, 50), "default"));
    support_stop (s_st.eventlog, SIGKILL, 1000);
    s_st.eventlog = start_eventlog (NULL);
    json_t *st = list ("bob", false, "default");
    assert_int_equal (int_at (st, "active"), 1);
    assert_int_equal (int_at (st, "candidate"), 2);
    assert_int_equal (int_at (st, "canaryPercent"), 50);
    assert_int_equal (json_array_size (json_object_get (st, "versions")), 2);
    json_decref (st);
    proto_msg_t *rep = get_as_bob ("default", 2);
    assert_int_equal (rep->type, PROTO_profile);
    json_t *body = any_json (&rep->body.profile.body);
    assert_string_equal (support_json_str (body, "systemPrompt"), "two");
    json_decref (body);
    proto_msg_destroy (&rep);
    assert_int_equal (created ("default", "{}"), 3);
    elstack_down (&s_st);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_create_list_get_diff),
        cmocka_unit_test (test_diff_hunks),
        cmocka_unit_test (test_diff_capped),
        cmocka_unit_test (test_activate_canary_rollback),
        cmocka_unit_test (test_operators_only),
        cmocka_unit_test (test_bad_bodies),
        cmocka_unit_test (test_kill9_keeps_profiles),
    };
    return support_run_group_tests (tests, NULL, NULL);
}
