/* test_replay_wire: what caisson-llm-replay sends on the wire, as the
 * providers do (docs/llm-replay.md), over real HTTP against the gateway
 * cassettes (tests/cassettes/gateway_*.json), the server wanting a key:
 * `stream: false` gets one JSON body (OpenAI's chat.completion, Anthropic's
 * message, each with usage), a stream carries OpenAI's usage chunk only when
 * stream_options.include_usage asks for it, GET /v1/models lists models in
 * either provider's shape, scripted 400 and 529 come in the provider's error
 * shape, embeddings come in base64 when asked (the official SDK's default),
 * and a request without the key is refused 401. The gateway tests
 * (test_gateway.c) build on all of these. */
#include "support.h"
#include "replay_http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KEY "sk-replay-wire-secret"
#define FIXED "gateway: answer with fifty tokens"

static pid_t s_replay = -1;

/* GET (post NULL) or POST path with the header hdr (may be NULL) and the
 * key as Bearer when key is not NULL. */
static rh_reply_t
http (const char *path, const char *post, const char *hdr, const char *key)
{
    char auth[128];
    const char *h[3] = { NULL };
    int n = 0;
    if (hdr)
        h[n++] = hdr;
    if (key) {
        snprintf (auth, sizeof auth, "Authorization: Bearer %s", key);
        h[n++] = auth;
    }
    return rh_request (path, post, h, 10000, NULL);
}

/* A one-message request body for task; stream and include_usage as given. */
static char *
request (const char *task, bool stream, bool include_usage)
{
    json_t *req = json_pack ("{s:s, s:[{s:s, s:s}], s:i, s:b}", "model", "t", "messages",
                             "role", "user", "content", task, "max_tokens", 100, "stream",
                             stream);
    if (include_usage)
        json_object_set_new (req, "stream_options", json_pack ("{s:b}", "include_usage", 1));
    char *out = json_dumps (req, JSON_COMPACT);
    json_decref (req);
    return out;
}

static json_t *
parse (const char *body)
{
    json_t *j = json_loads (body, 0, NULL);
    if (!j)
        fail_msg ("not JSON: %s", body);
    return j;
}

/* The cassette's text, as the test reads it from the file. */
static char *
fixed_text (void)
{
    char path[600];
    snprintf (path, sizeof path, "%s/tests/cassettes/gateway_fixed.json", CAISSON_SOURCE_DIR);
    json_t *c = json_load_file (path, 0, NULL);
    assert_non_null (c);
    char *t = strdup (json_string_value (json_object_get (json_array_get (
        json_object_get (c, "turns"), 0), "text")));
    json_decref (c);
    return t;
}

static void
test_openai_whole (void **state)
{
    (void) state;
    char *req = request (FIXED, false, false), *text = fixed_text ();
    rh_reply_t r = http ("/v1/chat/completions", req, NULL, KEY);
    assert_int_equal (r.status, 200);
    assert_string_equal (r.ctype, "application/json");
    json_t *j = parse (r.body);
    assert_string_equal (support_json_str (j, "object"), "chat.completion");
    json_t *choice = json_array_get (json_object_get (j, "choices"), 0);
    assert_string_equal (support_json_str (json_object_get (choice, "message"), "content"), text);
    assert_string_equal (support_json_str (choice, "finish_reason"), "stop");
    json_t *usage = json_object_get (j, "usage");
    assert_int_equal (json_integer_value (json_object_get (usage, "completion_tokens")), 50);
    assert_true (json_integer_value (json_object_get (usage, "prompt_tokens")) > 0);
    json_decref (j);
    free (r.body);
    free (req);
    free (text);
}

static void
test_anthropic_whole (void **state)
{
    (void) state;
    char *req = request (FIXED, false, false), *text = fixed_text ();
    rh_reply_t r = http ("/v1/messages", req, NULL, KEY);
    assert_int_equal (r.status, 200);
    assert_string_equal (r.ctype, "application/json");
    json_t *j = parse (r.body);
    assert_string_equal (support_json_str (j, "type"), "message");
    assert_string_equal (support_json_str (j, "stop_reason"), "end_turn");
    json_t *part = json_array_get (json_object_get (j, "content"), 0);
    assert_string_equal (support_json_str (part, "type"), "text");
    assert_string_equal (support_json_str (part, "text"), text);
    json_t *usage = json_object_get (j, "usage");
    assert_int_equal (json_integer_value (json_object_get (usage, "output_tokens")), 50);
    json_decref (j);
    free (r.body);
    free (req);
    free (text);
}

/* The usage-only chunk of an OpenAI stream (choices empty), or NULL. */
static json_t *
usage_chunk (const char *body)
{
    for (const char *p = body; (p = strstr (p, "data: {")); p++) {
        const char *end = strstr (p, "\n\n");
        json_t *c = json_loadb (p + 6, end ? (size_t) (end - p - 6) : strlen (p + 6), 0, NULL);
        if (json_array_size (json_object_get (c, "choices")) == 0 && json_object_get (c, "usage"))
            return c;
        json_decref (c);
    }
    return NULL;
}

static void
test_stream_usage_on_request (void **state)
{
    (void) state;
    char *plain = request (FIXED, true, false), *asked = request (FIXED, true, true);
    rh_reply_t r = http ("/v1/chat/completions", plain, NULL, KEY);
    assert_int_equal (r.status, 200);
    assert_string_equal (r.ctype, "text/event-stream");
    assert_null (strstr (r.body, "\"usage\""));
    assert_non_null (strstr (r.body, "data: [DONE]\n\n"));
    free (r.body);
    r = http ("/v1/chat/completions", asked, NULL, KEY);
    json_t *u = usage_chunk (r.body);
    assert_non_null (u);
    assert_int_equal (json_integer_value (json_object_get (json_object_get (u, "usage"),
                                                           "completion_tokens")), 50);
    json_decref (u);
    free (r.body);
    /* Anthropic streams always carry usage: 50 in the last message_delta */
    r = http ("/v1/messages", plain, NULL, KEY);
    assert_int_equal (r.status, 200);
    assert_non_null (strstr (r.body, "\"usage\":{\"output_tokens\":50}"));
    free (r.body);
    free (plain);
    free (asked);
}

static void
test_models (void **state)
{
    (void) state;
    rh_reply_t r = http ("/v1/models", NULL, NULL, KEY);
    assert_int_equal (r.status, 200);
    json_t *j = parse (r.body);
    assert_string_equal (support_json_str (j, "object"), "list");
    json_t *m = json_array_get (json_object_get (j, "data"), 0);
    assert_string_equal (support_json_str (m, "object"), "model");
    assert_true (*support_json_str (m, "id"));
    json_decref (j);
    free (r.body);
    r = http ("/v1/models", NULL, "anthropic-version: 2023-06-01", KEY);
    assert_int_equal (r.status, 200);
    j = parse (r.body);
    assert_true (json_is_false (json_object_get (j, "has_more")));
    m = json_array_get (json_object_get (j, "data"), 0);
    assert_string_equal (support_json_str (m, "type"), "model");
    json_decref (j);
    free (r.body);
}

/* Embeddings as the official SDK asks for them by default (base64: the
 * floats' little-endian bytes) are the float answer's vectors. */
static void
test_embeddings_base64 (void **state)
{
    (void) state;
    const char *floats = "{\"model\":\"t\",\"input\":\"a parser crash\",\"dimensions\":8}";
    const char *b64 = "{\"model\":\"t\",\"input\":\"a parser crash\",\"dimensions\":8,"
                      "\"encoding_format\":\"base64\"}";
    rh_reply_t f = http ("/v1/embeddings", floats, NULL, KEY), b = http ("/v1/embeddings", b64,
                                                                        NULL, KEY);
    assert_int_equal (f.status, 200);
    assert_int_equal (b.status, 200);
    json_t *fj = parse (f.body), *bj = parse (b.body);
    json_t *vec = json_object_get (json_array_get (json_object_get (fj, "data"), 0), "embedding");
    const char *text = json_string_value (json_object_get (json_array_get (
        json_object_get (bj, "data"), 0), "embedding"));
    assert_non_null (text);
    assert_int_equal (strlen (text), 44);          /* 32 bytes in base64 */
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char raw[33] = { 0 };
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (const char *p = text; *p && *p != '='; p++) {
        acc = acc << 6 | (uint32_t) (strchr (abc, *p) - abc);
        if ((bits += 6) >= 8) {
            bits -= 8;
            raw[n++] = (unsigned char) (acc >> bits);
        }
    }
    assert_int_equal (n, 32);
    for (size_t d = 0; d < 8; d++) {
        uint32_t u = (uint32_t) raw[d * 4] | (uint32_t) raw[d * 4 + 1] << 8
                   | (uint32_t) raw[d * 4 + 2] << 16 | (uint32_t) raw[d * 4 + 3] << 24;
        float x;
        memcpy (&x, &u, 4);
        double want = json_real_value (json_array_get (vec, d));
        assert_true (x - want < 1e-6 && want - x < 1e-6);
    }
    json_decref (fj);
    json_decref (bj);
    free (f.body);
    free (b.body);
}

/* Without the key, or with another, a provider says 401 in its shape. */
static void
test_key (void **state)
{
    (void) state;
    char *req = request (FIXED, false, false);
    rh_reply_t r = http ("/v1/chat/completions", req, NULL, "sk-other");
    assert_int_equal (r.status, 401);
    json_t *j = parse (r.body);
    assert_string_equal (support_json_str (json_object_get (j, "error"), "message"),
                         "invalid api key (scripted model)");
    json_decref (j);
    free (r.body);
    r = http ("/v1/messages", req, NULL, NULL);
    assert_int_equal (r.status, 401);
    j = parse (r.body);
    assert_string_equal (support_json_str (j, "type"), "error");
    json_decref (j);
    free (r.body);
    r = http ("/v1/models", NULL, NULL, NULL);
    assert_int_equal (r.status, 401);
    free (r.body);
    free (req);
}

/* The scripted provider errors, every time, streamed or not. */
static void
test_faults (void **state)
{
    (void) state;
    for (int i = 0; i < 4; i++) {
        char *req = request ("gateway: fail with 400", i & 1, false);
        rh_reply_t r = http (i & 2 ? "/v1/messages" : "/v1/chat/completions", req, NULL, KEY);
        assert_int_equal (r.status, 400);
        json_t *j = parse (r.body);
        assert_string_equal (support_json_str (json_object_get (j, "error"), "message"),
                             "scripted: context too long");
        json_decref (j);
        free (r.body);
        free (req);
        req = request ("gateway: fail with 529", i & 1, false);
        r = http (i & 2 ? "/v1/messages" : "/v1/chat/completions", req, NULL, KEY);
        assert_int_equal (r.status, 529);
        j = parse (r.body);
        assert_string_equal (support_json_str (json_object_get (j, "error"), "type"),
                             "overloaded_error");
        assert_string_equal (support_json_str (json_object_get (j, "error"), "message"),
                             "Overloaded");
        json_decref (j);
        free (r.body);
        free (req);
    }
}

static int
setup (void **state)
{
    (void) state;
    support_sandbox_env ("replay_wire");
    char dir[600];
    int port = support_replay_env (dir, sizeof dir);
    rh_set_port (port);
    s_replay = support_spawn_llm_replay (port, dir, KEY);
    return support_poll (rh_healthy) ? 0 : -1;
}

static int
teardown (void **state)
{
    (void) state;
    if (s_replay > 0)
        support_expect_clean_exit (s_replay);
    return 0;
}

int
main (void)
{
    curl_global_init (CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_openai_whole),
        cmocka_unit_test (test_anthropic_whole),
        cmocka_unit_test (test_stream_usage_on_request),
        cmocka_unit_test (test_models),
        cmocka_unit_test (test_embeddings_base64),
        cmocka_unit_test (test_key),
        cmocka_unit_test (test_faults),
    };
    int rc = support_run_group_tests (tests, setup, teardown);
    curl_global_cleanup ();
    return rc;
}
