/* test_replay: caisson-llm-replay's loop-gap figures (GET /stats, see
 * docs/llm-replay.md). A scripted two-step run is played over real HTTP
 * with the request bodies the orchestrator builds (llm_openai_request,
 * llm_anthropic_request) and the replies parsed by its stream parser; the
 * client waits a known time between the end of the first reply and the
 * second request, and the server must report that gap, and nothing for
 * a request that continues no reply it sent. The pairing itself (gaps.c:
 * identical conversations first in, first out; the oldest reply forgotten
 * when the table is full) is tested in process. */
#include "support.h"
#include "cassette.h"
#include "gaps.h"
#include "llm.h"
#include "replay_http.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TASK "test: two steps"
#define PAUSE_US 30000

static char s_cassettes[600];

/* GET (post NULL) or POST to path; returns the body (the caller's) and
 * sets *status. */
static char *
http (const char *path, const char *post, long *status)
{
    rh_reply_t r = rh_request (path, post, NULL, 10000, NULL);
    *status = r.status;
    return r.body;
}

static json_t *
stats (void)
{
    long status;
    char *body = http ("/stats", NULL, &status);
    assert_int_equal (status, 200);
    json_t *s = json_loads (body, 0, NULL);
    free (body);
    assert_true (json_is_object (s));
    return s;
}

static json_int_t
stat_of (json_t *s, const char *name)
{
    json_t *v = json_object_get (s, name);
    assert_true (json_is_integer (v));
    return json_integer_value (v);
}

/* One model call as the orchestrator makes it: the request built from
 * messages, the reply parsed into a turn whose assistant message (and a
 * tool result for each call) is appended to messages, as run.c does. */
static void
step (llm_proto_t proto, json_t *messages)
{
    json_t *tools = json_pack ("[{s:s, s:s, s:{s:s}}]", "name", "createSandbox", "description",
                               "Create a sandbox", "inputSchema", "type", "object");
    char *req = proto == LLM_OPENAI
        ? llm_openai_request ("replay/t", "system", messages, tools, 0)
        : llm_anthropic_request ("replay/t", "system", messages, tools, 1024);
    json_decref (tools);
    long status;
    char *body = http (proto == LLM_OPENAI ? "/v1/chat/completions" : "/v1/messages", req,
                       &status);
    free (req);
    assert_int_equal (status, 200);
    llm_stream_t *s = llm_stream_new (proto, NULL, NULL);
    llm_stream_feed (s, body, strlen (body));
    assert_int_equal (llm_stream_finish (s), 0);
    free (body);
    llm_turn_t *t = llm_stream_turn (s);
    json_t *msg = json_pack ("{s:s, s:s?}", "role", "assistant", "content", t->text);
    json_t *calls = json_array ();
    for (size_t i = 0; i < t->ncalls; i++)
        json_array_append_new (calls, json_pack ("{s:s, s:s, s:s}", "id", t->calls[i].id,
                                                 "name", t->calls[i].name, "args",
                                                 t->calls[i].args ? t->calls[i].args : "{}"));
    if (t->ncalls)
        json_object_set_new (msg, "tool_calls", json_incref (calls));
    json_array_append_new (messages, msg);
    for (size_t i = 0; i < t->ncalls; i++)
        json_array_append_new (messages, json_pack ("{s:s, s:s, s:s, s:s}", "role", "tool",
                                                    "tool_call_id", t->calls[i].id, "name",
                                                    t->calls[i].name, "content",
                                                    "{\"sandboxId\":\"sb-1\"}"));
    json_decref (calls);
    llm_stream_destroy (&s);
}

static void
two_step_run (llm_proto_t proto)
{
    json_t *before = stats ();
    json_t *messages = json_pack ("[{s:s, s:s}]", "role", "user", "content", TASK);
    int64_t t0 = zclock_usecs ();
    step (proto, messages);
    json_t *mid = stats ();
    assert_int_equal (stat_of (mid, "gaps"), stat_of (before, "gaps"));
    assert_int_equal (stat_of (mid, "pending"), stat_of (before, "pending") + 1);
    usleep (PAUSE_US);
    json_t *retry = json_deep_copy (messages);
    step (proto, messages);
    int64_t waited = zclock_usecs () - t0;
    json_t *after = stats ();
    assert_int_equal (stat_of (after, "gaps"), stat_of (before, "gaps") + 1);
    assert_int_equal (stat_of (after, "unmatched"), stat_of (before, "unmatched"));
    /* This gap spans the pause, and no more than both calls and the pause
     * together. */
    json_int_t gap = stat_of (after, "totalUs") - stat_of (before, "totalUs");
    assert_true (gap >= PAUSE_US);
    assert_true (gap <= waited);
    /* The same second request again (a retry) continues no reply left. */
    step (proto, retry);
    json_t *last = stats ();
    assert_int_equal (stat_of (last, "gaps"), stat_of (after, "gaps"));
    assert_int_equal (stat_of (last, "unmatched"), stat_of (after, "unmatched") + 1);
    json_decref (retry);
    json_decref (messages);
    json_decref (before);
    json_decref (mid);
    json_decref (after);
    json_decref (last);
}

static void
test_openai_gap (void **state)
{
    (void) state;
    two_step_run (LLM_OPENAI);
}

static void
test_anthropic_gap (void **state)
{
    (void) state;
    two_step_run (LLM_ANTHROPIC);
}

static void
test_pairing (void **state)
{
    (void) state;
    gaps_t *g = gaps_new (2, 16);
    json_t *conv = json_pack ("[{s:s, s:s}]", "role", "user", "content", "task");
    uint64_t reply = gaps_reply_key (conv, "Step 1."), req;
    assert_false (gaps_request_key (conv, &req));
    json_array_append_new (conv, json_pack ("{s:s, s:s}", "role", "assistant", "content",
                                            "Step 1."));
    json_array_append_new (conv, json_pack ("{s:s, s:s, s:s}", "role", "tool", "content", "{}",
                                            "name", "createSandbox"));
    assert_true (gaps_request_key (conv, &req));
    assert_true (req == reply);
    /* Two identical runs: their next requests take the older reply first. */
    gaps_reply_end (g, reply, 1000);
    gaps_reply_end (g, reply, 1500);
    gaps_request (g, req, 2000);
    gaps_request (g, req, 2100);
    gaps_request (g, req, 2200);
    char *text = gaps_json (g);
    json_t *s = json_loads (text, 0, NULL);
    free (text);
    assert_int_equal (stat_of (s, "gaps"), 2);
    assert_int_equal (stat_of (s, "maxUs"), 1000);
    assert_int_equal (stat_of (s, "p50Us"), 600);
    assert_int_equal (stat_of (s, "unmatched"), 1);
    assert_int_equal (stat_of (s, "pending"), 0);
    json_decref (s);
    /* A full table forgets its oldest reply; the others still pair. */
    gaps_reply_end (g, 1, 10);
    gaps_reply_end (g, 2, 20);
    gaps_reply_end (g, 3, 30);
    gaps_request (g, 1, 100);
    gaps_request (g, 3, 100);
    gaps_request (g, 2, 100);
    text = gaps_json (g);
    s = json_loads (text, 0, NULL);
    free (text);
    assert_int_equal (stat_of (s, "forgotten"), 1);
    assert_int_equal (stat_of (s, "gaps"), 4);
    assert_int_equal (stat_of (s, "totalUs"), 1600 + 70 + 80);
    assert_int_equal (stat_of (s, "unmatched"), 2);
    json_decref (s);
    json_decref (conv);
    gaps_destroy (&g);
}

/* A follow-up in a thread after the script is played out (the person
 * wrote again) is answered as a task the offline model does not know,
 * with the demo tasks it knows; before, it was a 400 ("cassette has 2
 * turns; the conversation asks for turn 3") and the run failed. */
static void
test_follow_up_after_script (void **state)
{
    (void) state;
    cassette_set_t *set = cassette_set_load (s_cassettes);
    assert_non_null (set);
    json_t *conv = json_pack ("[{s:s,s:s}, {s:s,s:s}, {s:s,s:s,s:s}, {s:s,s:s}, {s:s,s:s}]",
                              "role", "user", "content", TASK, "role", "assistant", "content",
                              "", "role", "tool", "content", "{\"sandboxId\":\"s1\"}", "name",
                              "createSandbox", "role", "assistant", "content", "Done.",
                              "role", "user", "content", "and now the same in Rust?");
    cassette_reply_t r;
    cassette_set_play (set, conv, NULL, &r);
    assert_int_equal (r.status, 200);
    assert_non_null (r.text);
    assert_non_null (strstr (r.text, "only knows its demo tasks"));
    assert_non_null (strstr (r.text, TASK));
    cassette_reply_clear (&r);
    json_decref (conv);
    cassette_set_destroy (&set);
}

static int
setup (void **state)
{
    (void) state;
    const char *dir = support_sandbox_env ("replay");
    support_sh ("mkdir -p %s/cassettes && printf '%%s' '{\"task\": \"" TASK "\", \"turns\": "
                "[{\"toolCalls\": [{\"name\": \"createSandbox\", \"args\": {}}]}, "
                "{\"expect\": {\"tool\": \"createSandbox\"}, \"text\": \"Done.\"}]}' "
                "> %s/cassettes/two.json", dir, dir);
    int port = support_free_port ();
    rh_set_port (port);
    snprintf (s_cassettes, sizeof s_cassettes, "%s/cassettes", dir);
    return support_llm_replay_up (port, s_cassettes, rh_healthy) ? 0 : -1;
}

int
main (void)
{
    curl_global_init (CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_openai_gap),
        cmocka_unit_test (test_anthropic_gap),
        cmocka_unit_test (test_pairing),
        cmocka_unit_test (test_follow_up_after_script),
    };
    int rc = support_run_group ("replay", tests, sizeof tests / sizeof tests[0], setup,
                                support_llm_replay_down);
    curl_global_cleanup ();
    return rc;
}
