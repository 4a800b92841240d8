/* test_condense_run: a long run that outgrows its model's context window
 * and completes, through the public interface: the real broker,
 * orchestrator and scripted model (caisson-llm-replay over real HTTP,
 * both wire protocols), orch_fixture standing in for tool-runner and
 * event-log (its events-<run>.jsonl is the stored transcript). The
 * scripted model declares a window of 12000 tokens and refuses a larger
 * request as a provider does, so a run that sent its whole conversation
 * would fail at about its eighth step. Runs as `test_condense_run
 * fixture` too, which is the fixture process. */
#include "support.h"
#include "bus_client.h"
#include "bus_tap.h"
#include "http_body.h"
#include "mpjson.h"
#include "orch_fixture.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TASK "test: a long run with large tool outputs"
#define WINDOW 12000
#define STEPS 60
#define OUTPUT 6000             /* bytes of each runCommand's stdout */

static char s_self[1024];
static char s_url_env[128], s_port_env[64], s_dir_env[1200];
static const char *s_dir;
static int s_port;
static pid_t s_bus, s_fixture, s_replay, s_orch;
static bus_client_t *s_client;

/* The cassette: createSandbox, then runCommand "bigout" until step
 * STEPS answers; each turn checks the latest result came whole. */
static void
write_cassette (const char *dir)
{
    json_t *turns = json_array ();
    json_array_append_new (turns, json_pack ("{s:[{s:s, s:{}}]}", "toolCalls", "name",
                                             "createSandbox", "args"));
    for (int i = 2; i < STEPS; i++) {
        char cmd[32];
        snprintf (cmd, sizeof cmd, "bigout %d", OUTPUT);
        json_t *expect = i == 2 ? json_pack ("{s:s, s:b}", "tool", "createSandbox", "ok", 1)
                                : json_pack ("{s:s, s:s}", "tool", "runCommand", "contains",
                                             "bigout-end");
        json_array_append_new (turns, json_pack ("{s:o, s:[{s:s, s:{s:s, s:s}}]}", "expect",
                                                 expect, "toolCalls", "name", "runCommand",
                                                 "args", "sandboxId", "{{sandboxId}}",
                                                 "command", cmd));
    }
    json_array_append_new (turns, json_pack ("{s:{s:s, s:s}, s:s}", "expect", "tool",
                                             "runCommand", "contains", "bigout-end", "text",
                                             "done after sixty steps"));
    json_t *c = json_pack ("{s:s, s:o}", "task", TASK, "turns", turns);
    char path[1200];
    snprintf (path, sizeof path, "%s/long.json", dir);
    assert_int_equal (json_dump_file (c, path, JSON_INDENT (1)), 0);
    json_decref (c);
}

static void
stack_up (void)
{
    assert_non_null (s_dir = support_sandbox_env ("condense"));
    char cdir[1024];
    snprintf (cdir, sizeof cdir, "%s/cassettes", s_dir);
    support_sh ("mkdir -p '%s'", cdir);
    write_cassette (cdir);
    s_port = support_free_port ();
    snprintf (s_port_env, sizeof s_port_env, "CAISSON_LLM_REPLAY_PORT=%d", s_port);
    snprintf (s_url_env, sizeof s_url_env, "CAISSON_LLM_REPLAY_URL=http://127.0.0.1:%d/v1",
              s_port);
    snprintf (s_dir_env, sizeof s_dir_env, "CAISSON_LLM_REPLAY_DIR=%s", cdir);
    const char *window = "CAISSON_LLM_REPLAY_CONTEXT=12000";
    const char *renv[] = { s_port_env, s_dir_env, window, NULL };
    const char *oenv[] = { "CAISSON_LLM_TIMEOUT_MS=20000", "MODEL=replay/demo", window,
                           "CAISSON_RUN_MAX_STEPS=100", "CAISSON_RUN_MAX_TOOL_CALLS=100",
                           s_url_env, NULL };
    s_bus = support_spawn ("caisson-bus", NULL);
    s_replay = support_spawn ("caisson-llm-replay", renv);
    s_fixture = support_spawn_self ((const char *[]) { s_self, "fixture", NULL });
    s_orch = support_spawn ("caisson-orchestrator", oenv);
    s_client = bus_client_new (getenv ("CAISSON_BUS"));
    bus_client_set_timeout (s_client, 2000, 2);
    support_await_service (s_client, "tool-runner");
    support_await_service (s_client, "orchestrator");
}

static void
stack_down (void)
{
    bus_client_destroy (&s_client);
    support_expect_clean_exit (s_orch);
    support_stop (s_replay, SIGTERM, 5000);
    support_stop (s_fixture, SIGTERM, 5000);
    support_stop (s_bus, SIGTERM, 5000);
}

/* The scripted model's GET /stats. */
static json_t *
replay_stats (void)
{
    char url[128];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/stats", s_port);
    http_body_t b = { 0 };
    CURL *c = curl_easy_init ();
    curl_easy_setopt (c, CURLOPT_URL, url);
    curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, http_body_collect);
    curl_easy_setopt (c, CURLOPT_WRITEDATA, &b);
    assert_int_equal (curl_easy_perform (c), CURLE_OK);
    curl_easy_cleanup (c);
    char *body = http_body_take (&b);
    json_t *j = json_loads (body, 0, NULL);
    free (body);
    assert_non_null (j);
    return j;
}

static void
start_run (const char *model, char run_id[128])
{
    proto_msg_t *req = proto_msg_new (PROTO_run_start, NULL);
    proto_set_str (&req->body.run_start.task, TASK);
    proto_set_str (&req->body.run_start.model, model);
    json_t *b = json_pack ("{s:i, s:i}", "steps", STEPS, "toolCalls", STEPS);
    mpjson_set (&req->body.run_start.budgets, b, 8);
    json_decref (b);
    proto_msg_t *rep = bus_client_request (s_client, "orchestrator", req);
    proto_msg_destroy (&req);
    assert_non_null (rep);
    if (rep->type != PROTO_run_started)
        fail_msg ("run.start answered %s: %s", proto_type_name (rep->type),
                  rep->type == PROTO_error ? rep->body.error.message : "");
    snprintf (run_id, 128, "%s", rep->body.run_started.run_id);
    proto_msg_destroy (&rep);
}

/* Waits for the run to end; its status, reason and usage.steps. */
static void
await_end (const char *run_id, char status[32], char reason[512], uint64_t *steps)
{
    for (int i = 0; i < 2400; i++) {
        proto_msg_t *req = proto_msg_new (PROTO_run_get, NULL);
        proto_set_str (&req->body.run_get.run_id, run_id);
        proto_msg_t *rep = bus_client_request (s_client, "orchestrator", req);
        proto_msg_destroy (&req);
        if (rep && rep->type == PROTO_run_info) {
            snprintf (status, 32, "%s", rep->body.run_info.status);
            snprintf (reason, 512, "%s", rep->body.run_info.reason ? rep->body.run_info.reason
                                                                   : "");
            char why[64];
            json_t *u = mpjson_decode (rep->body.run_info.usage.data,
                                       rep->body.run_info.usage.size, 16, why, sizeof why);
            *steps = (uint64_t) json_integer_value (json_object_get (u, "steps"));
            json_decref (u);
        }
        proto_msg_destroy (&rep);
        if (strcmp (status, "running") && *status)
            return;
        usleep (50000);
    }
    fail_msg ("run %s did not end", run_id);
}

/* The stored events of run_id (the fixture's events-<run>.jsonl), once
 * its last one (kind last) is in. */
static json_t *
stored_events (const char *run_id, const char *last)
{
    char path[1200], line[1 << 16];
    snprintf (path, sizeof path, "%s/events-%s.jsonl", s_dir, run_id);
    for (int tries = 0; tries < 100; tries++) {
        json_t *all = json_array ();
        FILE *f = fopen (path, "r");
        bool done = false;
        while (f && fgets (line, sizeof line, f)) {
            json_t *e = json_loads (line, 0, NULL);
            if (!e)
                continue;      /* longer than line: tool_results checked by size below */
            done |= strcmp (json_string_value (json_object_get (e, "kind")), last) == 0;
            json_array_append_new (all, e);
        }
        if (f)
            fclose (f);
        if (done)
            return all;
        json_decref (all);
        usleep (50000);
    }
    fail_msg ("no %s event stored for %s", last, run_id);
    return NULL;
}

static void
long_run (const char *model)
{
    stack_up ();
    /* every run's live deltas: a summary's text must not be among them */
    bus_tap_t *tap = bus_tap_new (getenv ("CAISSON_BUS_SUB"), "run.");
    assert_non_null (tap);
    zclock_sleep (200);         /* the subscription reaches the broker */
    char id[128], status[32] = "", reason[512] = "";
    uint64_t steps = 0;
    start_run (model, id);
    await_end (id, status, reason, &steps);
    int deltas = 0;
    char topic[256];
    for (proto_msg_t *m; (m = bus_tap_recv (tap, topic, sizeof topic, 300, NULL));
         proto_msg_destroy (&m)) {
        if (!strstr (topic, ".text_delta"))
            continue;
        deltas++;
        char *d = strndup ((const char *) m->body.event.data.data, m->body.event.data.size);
        bool leaked = d && strstr (d, "Scripted summary");
        free (d);
        if (leaked)
            fail_msg ("a summary's text was streamed as the run's text_delta (%s)", topic);
    }
    bus_tap_destroy (&tap);
    assert_true (deltas > 0);
    if (strcmp (status, "completed"))
        fail_msg ("the long run ended %s: %s", status, reason);
    assert_int_equal (steps, STEPS);
    /* no request passed the declared window: none was refused */
    json_t *st = replay_stats ();
    json_int_t biggest = json_integer_value (json_object_get (st, "maxRequestTokens"));
    assert_int_equal (json_integer_value (json_object_get (st, "contextRefused")), 0);
    assert_true (biggest <= WINDOW && biggest > WINDOW / 2);
    json_decref (st);
    /* condensed events, each shrinking the request; both steps taken */
    json_t *ev = stored_events (id, "complete");
    int elide = 0, summary = 0, results = 0;
    size_t i;
    json_t *e;
    json_array_foreach (ev, i, e) {
        const char *kind = json_string_value (json_object_get (e, "kind"));
        json_t *d = json_object_get (e, "data");
        if (strcmp (kind, "condensed") == 0) {
            const char *step = json_string_value (json_object_get (d, "step"));
            assert_true (json_integer_value (json_object_get (d, "tokensAfter"))
                         < json_integer_value (json_object_get (d, "tokensBefore")));
            assert_int_equal (json_integer_value (json_object_get (d, "window")), WINDOW);
            elide += strcmp (step, "elide") == 0;
            summary += strcmp (step, "summary") == 0;
        }
        /* the stored transcript keeps every output whole, elided or not */
        const char *out = json_string_value (json_object_get (json_object_get (d, "result"),
                                                              "stdout"));
        if (strcmp (kind, "tool_result") == 0 && out) {
            assert_int_equal (strlen (out), OUTPUT);
            assert_non_null (strstr (out, "bigout-end"));
            results++;
        }
    }
    json_decref (ev);
    print_message ("%s: %d steps, largest request %lld tokens of %d, %d elisions, %d "
                   "summaries\n", model, STEPS, (long long) biggest, WINDOW, elide, summary);
    assert_int_equal (results, STEPS - 2);
    assert_true (elide >= 1);
    assert_true (summary >= 1);
    stack_down ();
}

static void
test_long_run_openai (void **state)
{
    (void) state;
    long_run ("replay/demo");
}

static void
test_long_run_anthropic (void **state)
{
    (void) state;
    long_run ("replay-anthropic/demo");
}

int
main (int argc, char **argv)
{
    if (argc == 2 && strcmp (argv[1], "fixture") == 0)
        return orch_fixture_main ();
    support_self_exe (s_self, sizeof s_self);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_long_run_openai),
        cmocka_unit_test (test_long_run_anthropic),
    };
    return support_run_group_tests (tests, NULL, NULL);
}
