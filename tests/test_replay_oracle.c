/* test_replay_oracle: caisson-llm-replay's eval modes (docs/llm-replay.md
 * § Eval modes) over real HTTP. A real llm-replay is started with
 * --eval-set evals/golden --eval-set evals/imported-example --eval-plan;
 * the requests are built by the orchestrator's own request builders from
 * prompts made by evalset_prompt, the replies parsed by its stream parser,
 * on both protocols. Checked: the oracle's calls (writeFiles of the
 * reference solution; createSandbox, repo.clone and git.openPR where the
 * prompt asks for them; then "Done."), the model `giveup`, and each
 * planned behaviour (giveup, wrong, toolerror, loop, error, refuse, hang,
 * the last without holding other requests), the cassettes answering other
 * models and other prompts, and plans that must not start the server. */
#define _GNU_SOURCE
#include "support.h"
#include "evalset.h"
#include "llm.h"
#include "replay_http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GOLDEN CAISSON_SOURCE_DIR "/evals/golden"
#define IMPORTED CAISSON_SOURCE_DIR "/evals/imported-example"

static const char *s_dir;
static char s_plan[700];
static pid_t s_pid;
static evalset_t *s_golden, *s_imported;

/* Set to abandon the requests in flight (curl's progress callback). */
static atomic_int s_abort;

static int
on_progress (void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
             curl_off_t ulnow)
{
    (void) arg;
    (void) dltotal;
    (void) dlnow;
    (void) ultotal;
    (void) ulnow;
    return atomic_load (&s_abort);
}

/* POST body to path (GET when NULL); the reply's body (new), *status
 * (0 when none came); abandoned when s_abort is set. */
static char *
http (const char *path, const char *post, long *status)
{
    rh_reply_t r = rh_request (path, post, NULL, 60000L, on_progress);
    *status = r.status;
    return r.body;
}

/* What one model turn answered. */
typedef struct {
    long status;
    char *body;                 /* the raw reply */
    char *text;
    json_t *calls;              /* [{id, name, args (parsed)}] */
    llm_finish_t finish;
} turn_t;

static void
turn_clear (turn_t *t)
{
    free (t->body);
    free (t->text);
    json_decref (t->calls);
    memset (t, 0, sizeof *t);
}

/* One model call as the orchestrator makes it, for model, with messages
 * (the orchestrator's neutral form); its assistant message is appended
 * to messages when the call answered 200. */
static turn_t
model_turn (llm_proto_t proto, const char *model, json_t *messages)
{
    json_t *tools = json_pack ("[{s:s, s:s, s:{s:s}}, {s:s, s:s, s:{s:s}}]",
                               "name", "writeFiles", "description", "Write files",
                               "inputSchema", "type", "object",
                               "name", "git.openPR", "description", "Open a pull request",
                               "inputSchema", "type", "object");
    char *req = proto == LLM_OPENAI
        ? llm_openai_request (model, "You are a coding agent.", messages, tools, 0)
        : llm_anthropic_request (model, "You are a coding agent.", messages, tools, 1024);
    json_decref (tools);
    turn_t t = { 0 };
    t.body = http (proto == LLM_OPENAI ? "/v1/chat/completions" : "/v1/messages", req, &t.status);
    free (req);
    t.calls = json_array ();
    if (t.status != 200)
        return t;
    llm_stream_t *s = llm_stream_new (proto, NULL, NULL);
    llm_stream_feed (s, t.body, strlen (t.body));
    assert_int_equal (llm_stream_finish (s), 0);
    llm_turn_t *lt = llm_stream_turn (s);
    t.text = lt->text_len ? strndup (lt->text, lt->text_len) : NULL;
    t.finish = lt->finish;
    json_t *msg = json_pack ("{s:s, s:s?}", "role", "assistant", "content", t.text);
    json_t *calls = json_array ();
    for (size_t i = 0; i < lt->ncalls; i++) {
        json_t *args = json_loads (lt->calls[i].args ? lt->calls[i].args : "{}", 0, NULL);
        assert_non_null (args);
        json_array_append_new (t.calls, json_pack ("{s:s, s:s, s:o}", "id", lt->calls[i].id,
                                                   "name", lt->calls[i].name, "args", args));
        json_array_append_new (calls, json_pack ("{s:s, s:s, s:s}", "id", lt->calls[i].id,
                                                 "name", lt->calls[i].name, "args",
                                                 lt->calls[i].args ? lt->calls[i].args : "{}"));
    }
    if (lt->ncalls)
        json_object_set_new (msg, "tool_calls", json_incref (calls));
    json_decref (calls);
    json_array_append_new (messages, msg);
    llm_stream_destroy (&s);
    return t;
}

/* Appends the tool result text for each call of t, as run.c does. */
static void
results (json_t *messages, const turn_t *t, const char *content)
{
    size_t i;
    json_t *c;
    json_array_foreach (t->calls, i, c)
        json_array_append_new (messages, json_pack ("{s:s, s:O, s:O, s:s}", "role", "tool",
                                                    "tool_call_id", json_object_get (c, "id"),
                                                    "name", json_object_get (c, "name"),
                                                    "content", content));
}

/* The messages of a run of task id (of set) in sandbox (may be NULL) on
 * repo (may be NULL), as the harness starts it. */
static json_t *
start (const evalset_t *set, const char *id, const char *sandbox, const char *repo)
{
    const evaltask_t *t = evalset_find (set, id);
    assert_non_null (t);
    char *prompt = evalset_prompt (t, sandbox, repo);
    json_t *m = json_pack ("[{s:s, s:s}]", "role", "user", "content", prompt);
    free (prompt);
    return m;
}

static const json_t *
call_at (const turn_t *t, size_t i, const char *name)
{
    json_t *c = json_array_get (t->calls, i);
    if (!c || strcmp (support_json_str (c, "name"), name))
        fail_msg ("expected call %zu to be %s; the reply was: %.600s", i, name, t->body);
    return json_object_get (c, "args");
}

static void
expect_text (const turn_t *t, const char *contains)
{
    if (t->status != 200 || !t->text || !strstr (t->text, contains) || json_array_size (t->calls))
        fail_msg ("expected the text \"%s\" and no call; got %ld: %.600s", contains, t->status,
                  t->body);
}

/* model's first turn on task id of the golden set in sandbox answers
 * text holding contains, and no call. */
static void
first_turn_says (llm_proto_t proto, const char *model, const char *id, const char *sandbox,
                 const char *contains)
{
    json_t *m = start (s_golden, id, sandbox, NULL);
    turn_t t = model_turn (proto, model, m);
    expect_text (&t, contains);
    turn_clear (&t);
    json_decref (m);
}

static void
oracle_solves (llm_proto_t proto)
{
    json_t *m = start (s_golden, "py-leap-year", "m1-abc123", NULL);
    turn_t t = model_turn (proto, "oracle", m);
    const json_t *args = call_at (&t, 0, "writeFiles");
    assert_string_equal (support_json_str (args, "sandboxId"), "m1-abc123");
    const evaltask_t *task = evalset_find (s_golden, "py-leap-year");
    assert_true (json_equal (json_object_get (args, "files"), task->solution));
    assert_int_equal (json_array_size (t.calls), 1);
    assert_int_equal (t.finish, LLM_FINISH_TOOL_CALLS);
    results (m, &t, "{\"success\":true,\"filesWritten\":[\"/workspace/leap.py\"]}");
    turn_clear (&t);
    t = model_turn (proto, "oracle", m);
    expect_text (&t, "Done.");
    assert_int_equal (t.finish, LLM_FINISH_STOP);
    turn_clear (&t);
    json_decref (m);
}

static void
test_oracle_openai (void **state)
{
    (void) state;
    oracle_solves (LLM_OPENAI);
}

static void
test_oracle_anthropic (void **state)
{
    (void) state;
    oracle_solves (LLM_ANTHROPIC);
}

/* A pull-request task on a repository: clone, write into the clone, open
 * the PR, done; the gateway's `provider/oracle` name works too. */
static void
oracle_pr (llm_proto_t proto)
{
    json_t *m = start (s_golden, "py-pr-version-bump", "m1-pr1", "file:///srv/repos/v.git");
    turn_t t = model_turn (proto, "replay/oracle", m);
    const json_t *a = call_at (&t, 0, "repo.clone");
    assert_string_equal (support_json_str (a, "sandboxId"), "m1-pr1");
    assert_string_equal (support_json_str (a, "url"), "file:///srv/repos/v.git");
    results (m, &t, "{\"success\":true,\"path\":\"/workspace/repo\"}");
    turn_clear (&t);
    t = model_turn (proto, "replay/oracle", m);
    a = call_at (&t, 0, "writeFiles");
    assert_string_equal (support_json_str (json_array_get (json_object_get (a, "files"), 0),
                                           "path"), "repo/version.py");
    results (m, &t, "{\"success\":true}");
    turn_clear (&t);
    t = model_turn (proto, "replay/oracle", m);
    a = call_at (&t, 0, "git.openPR");
    assert_string_equal (support_json_str (a, "sandboxId"), "m1-pr1");
    size_t title = strlen (support_json_str (a, "title"));
    assert_true (title >= 3 && title <= 72);
    assert_true (*support_json_str (a, "body"));
    results (m, &t, "{\"success\":true,\"id\":\"pr-1\"}");
    turn_clear (&t);
    t = model_turn (proto, "replay/oracle", m);
    expect_text (&t, "Done.");
    turn_clear (&t);
    json_decref (m);
}

static void
test_oracle_pr (void **state)
{
    (void) state;
    oracle_pr (LLM_OPENAI);
    oracle_pr (LLM_ANTHROPIC);
}

/* No sandbox in the prompt: the oracle makes one and writes there. */
static void
test_oracle_creates_sandbox (void **state)
{
    (void) state;
    for (int p = 0; p < 2; p++) {
        json_t *m = start (s_imported, "ex-leap", NULL, NULL);
        turn_t t = model_turn (p ? LLM_ANTHROPIC : LLM_OPENAI, "oracle", m);
        call_at (&t, 0, "createSandbox");
        results (m, &t, "{\"sandboxId\":\"m1-made9\"}");
        turn_clear (&t);
        t = model_turn (p ? LLM_ANTHROPIC : LLM_OPENAI, "oracle", m);
        const json_t *a = call_at (&t, 0, "writeFiles");
        assert_string_equal (support_json_str (a, "sandboxId"), "m1-made9");
        assert_string_equal (support_json_str (json_array_get (json_object_get (a, "files"), 0),
                                               "path"), "leap.py");
        turn_clear (&t);
        json_decref (m);
    }
}

static void
test_giveup (void **state)
{
    (void) state;
    for (int p = 0; p < 2; p++) {
        llm_proto_t proto = p ? LLM_ANTHROPIC : LLM_OPENAI;
        /* planned */
        first_turn_says (proto, "oracle", "py-word-count", "m1-g", "cannot");
        /* the model giveup, whatever the plan says */
        first_turn_says (proto, "giveup", "py-leap-year", "m1-g", "cannot");
    }
}

static void
test_wrong_and_toolerror (void **state)
{
    (void) state;
    for (int p = 0; p < 2; p++) {
        llm_proto_t proto = p ? LLM_ANTHROPIC : LLM_OPENAI;
        first_turn_says (proto, "oracle", "py-roman-numerals", "m1-w", "Done");
        json_t *m = start (s_golden, "py-run-length", "m1-e", NULL);
        turn_t t = model_turn (proto, "oracle", m);
        const json_t *a = call_at (&t, 0, "writeFiles");
        assert_string_equal (support_json_str (json_array_get (json_object_get (a, "files"), 0),
                                               "path"), "../../outside");
        results (m, &t, "{\"success\":false,\"error\":{\"code\":\"path_outside_workspace\","
                        "\"message\":\"path must stay inside /workspace\"}}");
        turn_clear (&t);
        t = model_turn (proto, "oracle", m);
        expect_text (&t, "Done.");
        turn_clear (&t);
        json_decref (m);
    }
}

static void
test_loop (void **state)
{
    (void) state;
    for (int p = 0; p < 2; p++) {
        json_t *m = start (s_golden, "py-csv-totals", "m1-l", NULL);
        for (int i = 0; i < 8; i++) {
            turn_t t = model_turn (p ? LLM_ANTHROPIC : LLM_OPENAI, "oracle", m);
            const json_t *a = call_at (&t, 0, "listFiles");
            assert_string_equal (support_json_str (a, "sandboxId"), "m1-l");
            results (m, &t, "{\"files\":[],\"path\":\"/workspace\"}");
            turn_clear (&t);
        }
        json_decref (m);
    }
}

static void
test_error (void **state)
{
    (void) state;
    for (int p = 0; p < 2; p++) {
        json_t *m = start (s_golden, "js-fizzbuzz", "m1-x", NULL);
        turn_t t = model_turn (p ? LLM_ANTHROPIC : LLM_OPENAI, "oracle", m);
        assert_int_equal (t.status, 500);
        json_t *body = json_loads (t.body, 0, NULL);
        json_t *err = json_object_get (body, "error");
        assert_string_equal (support_json_str (err, "type"), "api_error");
        assert_non_null (strstr (support_json_str (err, "message"), "error"));
        if (p)
            assert_string_equal (support_json_str (body, "type"), "error");
        json_decref (body);
        turn_clear (&t);
        json_decref (m);
    }
}

static void
test_refuse (void **state)
{
    (void) state;
    for (int p = 0; p < 2; p++) {
        json_t *m = start (s_golden, "js-deep-merge", "m1-r", NULL);
        turn_t t = model_turn (p ? LLM_ANTHROPIC : LLM_OPENAI, "oracle", m);
        assert_int_equal (t.status, 200);
        /* what run_model maps to the run status `refused` */
        assert_int_equal (t.finish, LLM_FINISH_FILTER);
        assert_non_null (strstr (t.body, p ? "\"refusal\"" : "\"content_filter\""));
        turn_clear (&t);
        json_decref (m);
    }
}

static atomic_int s_hang_done;

static void *
hang_request (void *arg)
{
    turn_t *t = arg;
    json_t *m = start (s_golden, "js-parse-query", "m1-h", NULL);
    *t = model_turn (LLM_ANTHROPIC, "oracle", m);
    json_decref (m);
    atomic_store (&s_hang_done, 1);
    return NULL;
}

/* hang holds its own answer back and no other: while js-parse-query's
 * (hang:600) waits, another request is answered; py-fix-slugify's
 * (hang:1) comes, late. */
static void
test_hang (void **state)
{
    (void) state;
    turn_t held = { 0 };
    pthread_t th;
    assert_int_equal (pthread_create (&th, NULL, hang_request, &held), 0);
    usleep (200000);
    json_t *m = start (s_golden, "py-leap-year", "m1-q", NULL);
    turn_t t = model_turn (LLM_OPENAI, "oracle", m);
    call_at (&t, 0, "writeFiles");
    assert_int_equal (atomic_load (&s_hang_done), 0);
    turn_clear (&t);
    json_decref (m);
    atomic_store (&s_abort, 1);
    pthread_join (th, NULL);
    atomic_store (&s_abort, 0);
    assert_int_equal (held.status, 0);      /* nothing came before we gave up */
    turn_clear (&held);
    for (int p = 0; p < 2; p++)
        first_turn_says (p ? LLM_ANTHROPIC : LLM_OPENAI, "oracle", "py-fix-slugify", "m1-h",
                         "Done (late)");
}

/* Other models and other prompts are the cassettes'. */
static void
test_cassettes_still_answer (void **state)
{
    (void) state;
    first_turn_says (LLM_OPENAI, "demo", "py-leap-year", "m1-c", "offline model");
    json_t *m = json_pack ("[{s:s, s:s}]", "role", "user", "content", "write me a poem");
    turn_t t = model_turn (LLM_ANTHROPIC, "oracle", m);
    expect_text (&t, "offline model");
    turn_clear (&t);
    json_decref (m);
}

/* A plan naming no task of the sets, or no behaviour, stops the start. */
static void
test_bad_plans (void **state)
{
    (void) state;
    static const char *const plans[] = { "{\"no-such-task\": \"oracle\"}",
                                         "{\"py-leap-year\": \"dance\"}",
                                         "{\"py-leap-year\": \"hang:soon\"}", "[1]" };
    for (size_t i = 0; i < sizeof plans / sizeof plans[0]; i++) {
        char path[700];
        snprintf (path, sizeof path, "%s/bad%zu.json", s_dir, i);
        FILE *f = fopen (path, "w");
        assert_non_null (f);
        fputs (plans[i], f);
        fclose (f);
        const char *argv[] = { "caisson-llm-replay", "--port", "1", "--eval-set", GOLDEN,
                               "--eval-plan", path, NULL };
        assert_int_equal (support_run (argv, NULL, 0), 1);
    }
    const char *argv[] = { "caisson-llm-replay", "--port", "1", "--eval-set", "/nonexistent",
                           NULL };
    assert_int_equal (support_run (argv, NULL, 0), 1);
}

static int
setup (void **state)
{
    (void) state;
    s_dir = support_sandbox_env ("oracle");
    char why[512];
    s_golden = evalset_load (GOLDEN, why, sizeof why);
    s_imported = evalset_load (IMPORTED, why, sizeof why);
    if (!s_golden || !s_imported)
        return -1;
    snprintf (s_plan, sizeof s_plan, "%s/plan.json", s_dir);
    FILE *f = fopen (s_plan, "w");
    fputs ("{\"py-leap-year\": \"oracle\", \"py-word-count\": \"giveup\", "
           "\"py-roman-numerals\": \"wrong\", \"py-run-length\": \"toolerror\", "
           "\"py-csv-totals\": \"loop\", \"js-fizzbuzz\": \"error\", "
           "\"js-deep-merge\": \"refuse\", \"js-parse-query\": \"hang:600\", "
           "\"py-fix-slugify\": \"hang:1\"}", f);
    fclose (f);
    int port = support_free_port ();
    rh_set_port (port);
    char port_s[16];
    snprintf (port_s, sizeof port_s, "%d", port);
    s_pid = support_spawn_args ("caisson-llm-replay", (const char *const[]) {
        "--port", port_s, "--eval-set", GOLDEN, "--eval-set", IMPORTED, "--eval-plan", s_plan,
        NULL }, NULL);
    return support_poll (rh_healthy) ? 0 : -1;
}

static int
teardown (void **state)
{
    (void) state;
    support_expect_clean_exit (s_pid);
    evalset_destroy (&s_golden);
    evalset_destroy (&s_imported);
    return 0;
}

int
main (void)
{
    curl_global_init (CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_oracle_openai),
        cmocka_unit_test (test_oracle_anthropic),
        cmocka_unit_test (test_oracle_pr),
        cmocka_unit_test (test_oracle_creates_sandbox),
        cmocka_unit_test (test_giveup),
        cmocka_unit_test (test_wrong_and_toolerror),
        cmocka_unit_test (test_loop),
        cmocka_unit_test (test_error),
        cmocka_unit_test (test_refuse),
        cmocka_unit_test (test_hang),
        cmocka_unit_test (test_cassettes_still_answer),
        cmocka_unit_test (test_bad_plans),
    };
    int rc = support_run_group_tests (tests, setup, teardown);
    curl_global_cleanup ();
    return rc;
}
