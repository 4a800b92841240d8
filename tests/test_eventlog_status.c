/* test_eventlog_status: the run record tells the truth about a run, through
 * the real broker and event-log and the caisson CLI: a run waiting for a
 * human is `awaiting_approval` (and runs.list finds it so), every ending
 * the orchestrator names is kept as named (with the budget or check that
 * ended it), `steps` counts model turns and `toolCalls` tool calls, and
 * `stats` passes a run only when its checks passed, reporting a run that
 * completed with no checks configured apart. The `budget` and `check`
 * fields of `failed` are appended as JSON text: the orchestrator emits
 * them (issue 13) before proto/events.def names them. */
#include "eventlog_util.h"
#include "mpjson.h"

#include <stdio.h>
#include <string.h>

static const char *
status_of (bus_client_t *c, const char *run)
{
    static char status[64];
    json_t *rec = run_get (c, run);
    assert_non_null (rec);
    snprintf (status, sizeof status, "%s", json_string_value (json_object_get (rec, "status")));
    json_decref (rec);
    return status;
}

/* The ids of the runs runs.list gives for status. */
static json_t *
listed (bus_client_t *c, const char *status)
{
    proto_msg_t *req = proto_msg_new (PROTO_runs_list, NULL);
    proto_set_str (&req->body.runs_list.status, status);
    proto_msg_t *rep = request (c, req);
    assert_int_equal (rep->type, PROTO_runs_page);
    json_t *runs = any_json (&rep->body.runs_page.runs), *ids = json_array ();
    size_t i;
    json_t *r;
    json_array_foreach (runs, i, r)
        json_array_append (ids, json_object_get (r, "run"));
    json_decref (runs);
    proto_msg_destroy (&rep);
    return ids;
}

/* Whether runs.list for status gives run. */
static bool
is_listed (bus_client_t *c, const char *status, const char *run)
{
    json_t *ids = listed (c, status), *v;
    bool found = false;
    size_t i;
    json_array_foreach (ids, i, v)
        if (!strcmp (json_string_value (v), run))
            found = true;
    json_decref (ids);
    return found;
}

/* A run_started whose policy configures the verify checks in verify (a
 * JSON array text, or NULL for none). */
static void
start (bus_client_t *c, const char *run, const char *verify)
{
    json_t *budgets = json_pack ("{s:i}", "steps", 20);
    json_t *policy = verify ? json_pack ("{s:o}", "verify", json_loads (verify, 0, NULL))
                            : json_object ();
    APPEND (c, run, run_started, .task = "t", .threadId = "T", .model = "m",
            .orchestrator = "o1", .promptVersion = "v1", .budgets = budgets, .policy = policy);
    json_decref (budgets);
    json_decref (policy);
}

static void
step (bus_client_t *c, const char *run, uint64_t n, int calls)
{
    APPEND (c, run, step_started, .step = n, .overheadUs = 10);
    APPEND (c, run, step_finished, .step = n);
    for (int i = 0; i < calls; i++) {
        char id[32];
        snprintf (id, sizeof id, "c%llu-%d", (unsigned long long) n, i);
        json_t *args = json_object ();
        APPEND (c, run, tool_call, .toolCallId = id, .name = "runCommand", .args = args);
        json_decref (args);
    }
}

static void
test_status_and_counts (void **state)
{
    (void) state;
    pid_t bus = setup_stack ("elog-status");
    pid_t el = start_eventlog (NULL);
    bus_client_t *c = client_new (2000, 2);

    /* Waiting for a human, then running again, then completed. */
    const char *a = rid ("WAIT");
    start (c, a, NULL);
    step (c, a, 1, 2);
    step (c, a, 2, 1);
    json_t *args = json_object ();
    APPEND (c, a, ask_approval, .toolCallId = "c2-0", .name = "git.openPR", .args = args);
    json_decref (args);
    assert_string_equal (status_of (c, a), "awaiting_approval");
    assert_true (is_listed (c, "awaiting_approval", a));
    assert_false (is_listed (c, "running", a));
    APPEND (c, a, approval_decision, .toolCallId = "c2-0", .approved = true);
    assert_string_equal (status_of (c, a), "running");
    assert_false (is_listed (c, "awaiting_approval", a));
    APPEND (c, a, complete, .status = "completed", .answer = "done");
    json_t *rec = run_get (c, a);
    assert_string_equal (json_string_value (json_object_get (rec, "status")), "completed");
    assert_int_equal (int_at (rec, "steps"), 2);          /* model turns */
    assert_int_equal (int_at (rec, "toolCalls"), 3);
    json_decref (rec);

    /* Every ending is kept as the orchestrator names it. */
    static const char *const ends[][3] = {
        { "cancelled", "{\"status\":\"cancelled\",\"reason\":\"cancelled by ann\"}", NULL },
        { "budget_exhausted", "{\"status\":\"budget_exhausted\",\"reason\":\"token budget "
          "(1000) spent\",\"budget\":\"tokens\"}", "budget" },
        { "truncated", "{\"status\":\"truncated\",\"reason\":\"output limit\"}", NULL },
        { "refused", "{\"status\":\"refused\",\"reason\":\"content filter\"}", NULL },
        { "checks_failed", "{\"status\":\"checks_failed\",\"reason\":\"no test ran\","
          "\"check\":\"tests_passed\"}", "check" },
        { "failed", "{\"status\":\"failed\",\"reason\":\"401 invalid key\"}", NULL },
    };
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++) {
        char name[32];
        snprintf (name, sizeof name, "END%zu", i);
        const char *r = rid (name);
        start (c, r, NULL);
        step (c, r, 1, 1);
        append (c, r, "failed", ends[i][1]);
        rec = run_get (c, r);
        assert_string_equal (json_string_value (json_object_get (rec, "status")), ends[i][0]);
        if (ends[i][2]) {
            json_t *want = json_loads (ends[i][1], 0, NULL);
            assert_true (json_equal (json_object_get (rec, ends[i][2]),
                                     json_object_get (want, ends[i][2])));
            json_decref (want);
        }
        json_decref (rec);
        assert_true (is_listed (c, ends[i][0], r));
    }
    bus_client_destroy (&c);
    support_expect_clean_exit (el);
    support_expect_clean_exit (bus);
}

static void
test_stats_pass_needs_checks (void **state)
{
    (void) state;
    pid_t bus = setup_stack ("elog-stats");
    pid_t el = start_eventlog (NULL);
    bus_client_t *c = client_new (2000, 2);

    /* Checked and passed (after a first failed attempt). */
    const char *ok = rid ("OK");
    start (c, ok, "[\"tests_passed\"]");
    step (c, ok, 1, 1);
    APPEND (c, ok, check, .name = "tests_passed", .ok = false, .detail = "no test ran");
    step (c, ok, 2, 1);
    APPEND (c, ok, check, .name = "tests_passed", .ok = true, .detail = "ci.runTests passed");
    APPEND (c, ok, complete, .status = "completed", .answer = "done");
    /* Completed with no checks configured: the offline model's reply. */
    const char *unchecked = rid ("UNCHECKED");
    start (c, unchecked, NULL);
    step (c, unchecked, 1, 0);
    APPEND (c, unchecked, complete, .status = "completed", .answer = "I only know the demo tasks");
    /* Checks failed; cancelled. */
    const char *bad = rid ("BAD");
    start (c, bad, "[\"tests_passed\"]");
    step (c, bad, 1, 1);
    APPEND (c, bad, check, .name = "tests_passed", .ok = false, .detail = "no test ran");
    append (c, bad, "failed", "{\"status\":\"checks_failed\",\"reason\":\"tests_passed: no test "
            "ran\",\"check\":\"tests_passed\"}");
    const char *gone = rid ("GONE");
    start (c, gone, NULL);
    append (c, gone, "failed", "{\"status\":\"cancelled\",\"reason\":\"cancelled\"}");

    static char out[1 << 16];
    const char *stats[] = { "caisson", "stats", "--json", "--data", s_dir, NULL };
    assert_int_equal (support_run (stats, out, sizeof out), 0);
    json_t *s = json_loads (out, 0, NULL);
    assert_non_null (s);
    json_t *all = json_object_get (s, "all");
    assert_int_equal (int_at (all, "finished"), 4);
    assert_int_equal (int_at (all, "passed"), 1);
    assert_int_equal (int_at (all, "completedUnchecked"), 1);
    assert_true (json_real_value (json_object_get (all, "passRate")) == 0.25);
    json_t *by = json_object_get (all, "byStatus");
    assert_int_equal (int_at (by, "completed"), 2);
    assert_int_equal (int_at (by, "checks_failed"), 1);
    assert_int_equal (int_at (by, "cancelled"), 1);
    assert_true (json_real_value (json_object_get (all, "stepsMean")) == 1.0);
    json_decref (s);

    /* A user who is not an operator sees the figures of their own runs
     * only: none of these four (nor their failure reasons) are bob's. */
    proto_set_identity ("bob", false);
    proto_msg_t *req = proto_msg_new (PROTO_stats_get, NULL);
    proto_msg_t *rep = bus_client_request (c, "event-log", req);
    proto_set_identity (NULL, false);
    assert_non_null (rep);
    assert_int_equal (rep->type, PROTO_stats);
    char why[64];
    json_t *mine = mpjson_decode (rep->body.stats.stats.data, rep->body.stats.stats.size, 16,
                                  why, sizeof why);
    assert_int_equal (int_at (json_object_get (mine, "all"), "runs"), 0);
    assert_int_equal (json_array_size (json_object_get (json_object_get (mine, "all"),
                                                        "failureCauses")), 0);
    json_decref (mine);
    proto_msg_destroy (&req);
    proto_msg_destroy (&rep);

    /* The table says it too. */
    const char *table[] = { "caisson", "stats", "--data", s_dir, NULL };
    assert_int_equal (support_run (table, out, sizeof out), 0);
    assert_non_null (strstr (out, "UNCHECKED"));
    bus_client_destroy (&c);
    support_expect_clean_exit (el);
    support_expect_clean_exit (bus);
}

static int
count (const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr (p, needle)); p++)
        n++;
    return n;
}

/* The Markdown transcript tells each model text once: the plan is not
 * repeated as the step's text, nor the last text as the answer (even
 * with the run's checks between them). */
static void
test_markdown_once (void **state)
{
    (void) state;
    pid_t bus = setup_stack ("elog-md");
    pid_t el = start_eventlog (NULL);
    bus_client_t *c = client_new (2000, 2);
    const char *r = rid ("MD");
    start (c, r, NULL);
    APPEND (c, r, step_started, .step = 1, .overheadUs = 10);
    APPEND (c, r, usage, .inputTokens = 10, .outputTokens = 5);
    APPEND (c, r, plan, .text = "Plan: list the files.\n");
    APPEND (c, r, text, .text = "Plan: list the files.\n");
    APPEND (c, r, step_finished, .step = 1);
    json_t *args = json_object ();
    APPEND (c, r, tool_call, .toolCallId = "c1", .name = "listFiles", .args = args);
    APPEND (c, r, tool_result, .toolCallId = "c1", .name = "listFiles", .ok = true,
            .result = args, .durationMs = 3);
    json_decref (args);
    APPEND (c, r, step_started, .step = 2, .overheadUs = 10);
    APPEND (c, r, text, .text = "There are no files.");
    APPEND (c, r, step_finished, .step = 2);
    APPEND (c, r, check, .name = "tests_passed", .ok = true, .detail = "ci.runTests passed");
    APPEND (c, r, complete, .status = "completed", .answer = "There are no files.");
    static char out[1 << 16];
    const char *show[] = { "caisson", "show", r, "--markdown", "--data", s_dir, NULL };
    assert_int_equal (support_run (show, out, sizeof out), 0);
    assert_int_equal (count (out, "Plan: list the files."), 1);
    assert_non_null (strstr (out, "## Plan\n\nPlan: list the files."));
    assert_int_equal (count (out, "There are no files."), 1);
    assert_non_null (strstr (out, "## Answer\n\nThere are no files."));
    assert_true (strstr (out, "## Plan") < strstr (out, "`listFiles`"));
    assert_non_null (strstr (out, "**Check** `tests_passed`: passed"));
    assert_true (strstr (out, "**Check**") < strstr (out, "## Answer"));
    bus_client_destroy (&c);
    support_expect_clean_exit (el);
    support_expect_clean_exit (bus);
}

int
main (void)
{
    proto_set_identity ("ops", true);      /* reads every run, as test_eventlog */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_status_and_counts),
        cmocka_unit_test (test_stats_pass_needs_checks),
        cmocka_unit_test (test_markdown_once),
    };
    return support_run_group_tests (tests, NULL, NULL);
}
