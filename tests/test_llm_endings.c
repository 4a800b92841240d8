/* test_llm_endings: how a model call ends, through the production model
 * client (llm_client.c: libcurl, the SSE parser, retries) against the
 * scripted model (caisson-llm-replay) over real HTTP, in both wire
 * protocols: a reply cut at the output limit (OpenAI finish_reason
 * "length", Anthropic stop_reason "max_tokens"), a content-filter refusal,
 * a provider error sent mid-stream (Anthropic overloaded_error), requests
 * the provider rejects (401, 400, 404, 422: one attempt, counted at the
 * server), a transient 500 (retried), a reply without usage (tokens
 * estimated), and the google provider (Gemini's OpenAI-compatible
 * endpoint) and a provider's request quirks. */
#include "support.h"
#include "llm_client.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char s_base[64];
static char s_cassettes[600];


/* What one call came to, copied out of the callback. */
typedef struct {
    bool done;
    llm_finish_t finish;
    char error[1024];
    char text[4096];
    char stop[32];
    int attempts;
    long status;
    bool retryable, estimated;
    uint64_t in, out;
} outcome_t;

static void
on_done (const llm_result_t *r, void *arg)
{
    outcome_t *o = arg;
    o->done = true;
    o->finish = r->finish;
    o->attempts = r->attempts;
    o->status = r->http_status;
    o->retryable = r->retryable;
    snprintf (o->error, sizeof o->error, "%s", r->error ? r->error : "");
    if (r->turn) {
        snprintf (o->text, sizeof o->text, "%s", r->turn->text ? r->turn->text : "");
        snprintf (o->stop, sizeof o->stop, "%s", r->turn->stop);
        o->estimated = r->turn->estimated;
        o->in = r->turn->input_tokens;
        o->out = r->turn->output_tokens;
    }
}

static int
on_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    return ((outcome_t *) arg)->done ? -1 : 0;
}

/* Asks model (provider/name) the task through the client, retries
 * allowed, and waits for the outcome. */
static void
call (const char *model, const char *task, int retries, outcome_t *o)
{
    memset (o, 0, sizeof *o);
    const char *name;
    const llm_provider_t *p = llm_provider_find (model, &name);
    assert_non_null (p);
    json_t *msgs = json_pack ("[{s:s, s:s}]", "role", "user", "content", task);
    char *body = p->proto == LLM_ANTHROPIC
        ? llm_anthropic_request (name, "system", msgs, NULL, 1024)
        : llm_openai_request (name, "system", msgs, NULL, 0);
    json_decref (msgs);
    zloop_t *loop = zloop_new ();
    llm_client_t *c = llm_client_new (loop);
    llm_client_set_limits (c, retries, 10000, 3000);
    llm_req_t *req = llm_client_post (c, p, body, 0, NULL, on_done, o);
    assert_non_null (req);
    free (body);
    zloop_timer (loop, 10, 0, on_tick, o);
    zloop_start (loop);
    assert_true (o->done);
    llm_client_destroy (&c);
    zloop_destroy (&loop);
}

static size_t
on_body (char *data, size_t size, size_t n, void *arg)
{
    strncat (arg, data, size * n < 4000 ? size * n : 4000);
    return size * n;
}

/* Model requests the server has answered so far (GET /stats). */
static long
requests (void)
{
    char url[128], buf[8192] = "";
    snprintf (url, sizeof url, "%s/stats", s_base);
    CURL *e = curl_easy_init ();
    curl_easy_setopt (e, CURLOPT_URL, url);
    curl_easy_setopt (e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt (e, CURLOPT_WRITEDATA, buf);
    CURLcode rc = curl_easy_perform (e);
    curl_easy_cleanup (e);
    if (rc != CURLE_OK)
        return -1;
    json_t *s = json_loads (buf, 0, NULL);
    long n = (long) json_integer_value (json_object_get (s, "requests"));
    json_decref (s);
    return n;
}

static void
test_length (void **state)
{
    (void) state;
    outcome_t o;
    call ("replay/t", "t: length", 0, &o);
    assert_string_equal (o.error, "");
    assert_int_equal (o.finish, LLM_FINISH_LENGTH);
    assert_string_equal (o.stop, "length");
    assert_string_equal (o.text, "The answer begins and then");
    call ("replay-anthropic/t", "t: length", 0, &o);
    assert_int_equal (o.finish, LLM_FINISH_LENGTH);
    assert_string_equal (o.stop, "max_tokens");
    assert_string_equal (llm_finish_name (o.finish), "length");
    /* the ordinary ends stay what they were */
    call ("replay/t", "t: plain", 0, &o);
    assert_int_equal (o.finish, LLM_FINISH_STOP);
    call ("replay-anthropic/t", "t: plain", 0, &o);
    assert_int_equal (o.finish, LLM_FINISH_STOP);
    assert_false (o.estimated);
}

static void
test_refused (void **state)
{
    (void) state;
    outcome_t o;
    call ("replay/t", "t: filter", 0, &o);
    assert_int_equal (o.finish, LLM_FINISH_FILTER);
    call ("replay-anthropic/t", "t: filter", 0, &o);
    assert_int_equal (o.finish, LLM_FINISH_FILTER);
    assert_string_equal (o.stop, "refusal");
}

/* Anthropic's overloaded_error inside a 200 stream: the provider's words,
 * retried (it is transient); an invalid-request error is not. */
static void
test_midstream_error (void **state)
{
    (void) state;
    outcome_t o;
    long before = requests ();
    call ("replay-anthropic/t", "t: overloaded", 1, &o);
    assert_int_equal (o.finish, LLM_FINISH_ERROR);
    assert_non_null (strstr (o.error, "overloaded_error: Overloaded"));
    assert_null (strstr (o.error, "Failure writing"));
    assert_true (o.retryable);
    assert_int_equal (o.attempts, 2);
    assert_int_equal (requests () - before, 2);
    before = requests ();
    call ("replay/t", "t: stream refusal", 3, &o);
    assert_non_null (strstr (o.error, "invalid_request_error: context too long"));
    assert_false (o.retryable);
    assert_int_equal (o.attempts, 1);
    assert_int_equal (requests () - before, 1);
}

/* Statuses that can never succeed are tried once; the provider's message
 * is in the error. */
static void
test_final_statuses (void **state)
{
    (void) state;
    static const int statuses[] = { 401, 400, 403, 404, 422 };
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        char task[32];
        snprintf (task, sizeof task, "t: status %d", statuses[i]);
        for (int proto = 0; proto < 2; proto++) {
            outcome_t o;
            long before = requests ();
            call (proto ? "replay-anthropic/t" : "replay/t", task, 4, &o);
            assert_int_equal (o.finish, LLM_FINISH_ERROR);
            assert_int_equal (o.status, statuses[i]);
            assert_int_equal (o.attempts, 1);
            assert_int_equal (requests () - before, 1);
            assert_false (o.retryable);
            char want[96];
            snprintf (want, sizeof want, "model answered HTTP %d: invalid_request_error: "
                      "scripted refusal", statuses[i]);
            assert_string_equal (o.error, want);
        }
    }
    /* a server fault is still retried, and the retry succeeds */
    outcome_t o;
    call ("replay/t", "t: flaky", 2, &o);
    assert_int_equal (o.finish, LLM_FINISH_STOP);
    assert_int_equal (o.attempts, 2);
}

/* No usage from the provider: the tokens are estimated (bytes / 4) and
 * flagged, so a token budget still counts. */
static void
test_no_usage (void **state)
{
    (void) state;
    for (int proto = 0; proto < 2; proto++) {
        outcome_t o;
        call (proto ? "replay-anthropic/t" : "replay/t", "t: no usage", 0, &o);
        assert_string_equal (o.error, "");
        assert_true (o.estimated);
        assert_int_equal (o.out, 100);          /* 400 bytes of text */
        assert_true (o.in > 10);
    }
}

/* google/...: Gemini's OpenAI-compatible endpoint, key from GEMINI_API_KEY
 * or GOOGLE_API_KEY; mistral's request drops stream_options. */
static void
test_providers (void **state)
{
    (void) state;
    const char *name;
    const llm_provider_t *g = llm_provider_find ("google/gemini-2.5-flash", &name);
    assert_non_null (g);
    assert_int_equal (g->proto, LLM_OPENAI);
    assert_string_equal (name, "gemini-2.5-flash");
    unsetenv ("GOOGLE_BASE_URL");
    assert_string_equal (llm_provider_url (g),
                         "https://generativelanguage.googleapis.com/v1beta/openai");
    unsetenv ("GEMINI_API_KEY");
    setenv ("GOOGLE_API_KEY", "g-key", 1);
    assert_string_equal (llm_provider_key (g), "g-key");
    setenv ("GEMINI_API_KEY", "gem-key", 1);
    assert_string_equal (llm_provider_key (g), "gem-key");
    /* over HTTP, to a server that wants the key as a Bearer token */
    char url[96];
    int port = support_free_port ();
    pid_t gemini = support_spawn_llm_replay (port, s_cassettes, "gem-key");
    snprintf (url, sizeof url, "http://127.0.0.1:%d/v1", port);
    setenv ("GOOGLE_BASE_URL", url, 1);
    outcome_t o;
    for (int i = 0; i < 100; i++) {
        call ("google/gemini-2.5-flash", "t: plain", 0, &o);
        if (!strstr (o.error, "connect"))
            break;
        usleep (50000);
    }
    assert_string_equal (o.error, "");
    assert_string_equal (o.text, "All done.");
    setenv ("GEMINI_API_KEY", "wrong", 1);
    call ("google/gemini-2.5-flash", "t: plain", 3, &o);
    assert_int_equal (o.status, 401);
    assert_int_equal (o.attempts, 1);
    assert_non_null (strstr (o.error, "invalid api key"));
    support_expect_clean_exit (gemini);
    unsetenv ("GOOGLE_BASE_URL");
    unsetenv ("GOOGLE_API_KEY");
    unsetenv ("GEMINI_API_KEY");

    json_t *msgs = json_pack ("[{s:s, s:s}]", "role", "user", "content", "hi");
    char *body = llm_openai_request ("m", NULL, msgs, NULL, 0);
    json_decref (msgs);
    assert_non_null (strstr (body, "stream_options"));
    char *mistral = llm_provider_adapt (llm_provider_find ("mistral/m", NULL), body);
    char *openai = llm_provider_adapt (llm_provider_find ("openai/m", NULL), body);
    assert_null (strstr (mistral, "stream_options"));
    assert_non_null (strstr (mistral, "\"stream\":true"));
    assert_string_equal (openai, body);
    free (body);
    free (mistral);
    free (openai);
}

/* The default model: the first provider with a key, in the documented
 * order; the scripted model with none; MODEL when set, refused when it
 * names no provider. */
static void
test_default_model (void **state)
{
    (void) state;
    static const char *const keys[] = { "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY",
                                        "GOOGLE_API_KEY", "GROQ_API_KEY", "MISTRAL_API_KEY",
                                        "CEREBRAS_API_KEY", "OPENROUTER_API_KEY",
                                        "VLLM_API_KEY", "MODEL" };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        unsetenv (keys[i]);
    char why[512];
    assert_string_equal (llm_provider_default_model (), "replay/demo");
    setenv ("GROQ_API_KEY", "k", 1);
    assert_string_equal (llm_provider_default_model (), "groq/llama-3.3-70b-versatile");
    char *keyed = llm_provider_keyed ();
    assert_string_equal (keyed, "groq");
    free (keyed);
    setenv ("GOOGLE_API_KEY", "k", 1);
    assert_string_equal (llm_provider_default_model (), "google/gemini-2.5-flash");
    setenv ("ANTHROPIC_API_KEY", "k", 1);
    assert_string_equal (llm_provider_default_model (), "anthropic/claude-sonnet-4-5");
    assert_int_equal (llm_provider_check_default (why, sizeof why), 0);
    setenv ("MODEL", "nosuch/model", 1);
    assert_int_equal (llm_provider_check_default (why, sizeof why), -1);
    assert_non_null (strstr (why, "nosuch/model"));
    setenv ("MODEL", "replay/demo", 1);
    assert_int_equal (llm_provider_check_default (why, sizeof why), 0);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        unsetenv (keys[i]);
}

/* One cassette file: a task answered by one turn. */
static void
cassette (const char *dir, const char *file, const char *task, const char *turn)
{
    support_sh ("printf '%%s' '{\"task\": \"%s\", \"turns\": [%s]}' > %s/cassettes/%s.json",
                task, turn, dir, file);
}

/* True once the scripted model answers its /stats. */
static bool
replay_answers (void)
{
    return requests () >= 0;
}

static int
setup (void **state)
{
    (void) state;
    const char *dir = support_sandbox_env ("llm_endings");
    support_sh ("mkdir -p %s/cassettes", dir);
    snprintf (s_cassettes, sizeof s_cassettes, "%s/cassettes", dir);
    cassette (dir, "plain", "t: plain", "{\"text\": \"All done.\"}");
    cassette (dir, "length", "t: length",
              "{\"text\": \"The answer begins and then\", \"finish\": \"length\"}");
    cassette (dir, "filter", "t: filter", "{\"text\": \"\", \"finish\": \"content_filter\"}");
    cassette (dir, "overloaded", "t: overloaded",
              "{\"text\": \"A long answer that the provider will not finish sending.\", "
              "\"chunk\": 6, \"fault\": {\"kind\": \"error\", \"times\": 99}}");
    cassette (dir, "refusal", "t: stream refusal",
              "{\"text\": \"A long answer that the provider will not finish sending.\", "
              "\"chunk\": 6, \"fault\": {\"kind\": \"error\", \"times\": 99, \"type\": "
              "\"invalid_request_error\", \"message\": \"context too long\"}}");
    static const int statuses[] = { 401, 400, 403, 404, 422 };
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        char file[32], task[32], turn[160];
        snprintf (file, sizeof file, "s%d", statuses[i]);
        snprintf (task, sizeof task, "t: status %d", statuses[i]);
        snprintf (turn, sizeof turn, "{\"text\": \"ok\", \"fault\": {\"kind\": \"%d\", "
                  "\"times\": 99, \"message\": \"scripted refusal\"}}", statuses[i]);
        cassette (dir, file, task, turn);
    }
    cassette (dir, "flaky", "t: flaky",
              "{\"text\": \"ok\", \"fault\": {\"kind\": \"500\", \"times\": 1}}");
    char text[401];
    memset (text, 'x', 400);
    text[400] = '\0';
    char turn[600];
    snprintf (turn, sizeof turn, "{\"text\": \"%s\", \"usage\": false}", text);
    cassette (dir, "nousage", "t: no usage", turn);

    int port = support_free_port ();
    snprintf (s_base, sizeof s_base, "http://127.0.0.1:%d", port);
    char url[96];
    snprintf (url, sizeof url, "%s/v1", s_base);
    setenv ("CAISSON_LLM_REPLAY_URL", url, 1);
    return support_llm_replay_up (port, s_cassettes, replay_answers) ? 0 : -1;
}

int
main (void)
{
    curl_global_init (CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_length),
        cmocka_unit_test (test_refused),
        cmocka_unit_test (test_midstream_error),
        cmocka_unit_test (test_final_statuses),
        cmocka_unit_test (test_no_usage),
        cmocka_unit_test (test_providers),
        cmocka_unit_test (test_default_model),
    };
    int rc = support_run_group ("llm_endings", tests, sizeof tests / sizeof tests[0], setup,
                                support_llm_replay_down);
    curl_global_cleanup ();
    return rc;
}
