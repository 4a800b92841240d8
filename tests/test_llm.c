/* test_llm: the SSE parser and both model stream parsers, fed real-looking
 * streams split at every byte position (inside UTF-8 characters, JSON
 * strings, `data:` prefixes and CRLF pairs), and the request builders. */
#include "support.h"
#include "llm.h"
#include "llm_provider.h"
#include "sse.h"

#include <stdlib.h>
#include <string.h>

static const char openai_stream[] =
    ": keep-alive\r\n\r\n"
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null},"
    "\"finish_reason\":null}],\"usage\":null}\r\n\r\n"
    "data: {\"choices\":[{\"delta\":{\"content\":\"Caf\xc3\xa9 \xe2\x9c\x93 \"}}]}\r\n\r\n"
    "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\","
    "\"function\":{\"name\":\"createSandbox\",\"arguments\":\"\"}}]}}]}\n\n"
    "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"na\"}}]}}]}\n\n"
    "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"me\\\":\\\"x\\\"}\"}}]}}]}\n\n"
    "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_b\","
    "\"function\":{\"name\":\"git__openPR\",\"arguments\":\"{}\"}}]}}]}\n\n"
    ":\n"
    "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n"
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":120,\"completion_tokens\":30,"
    "\"prompt_tokens_details\":{\"cached_tokens\":64}}}\n\n"
    "data: [DONE]\n\n";

static const char anthropic_stream[] =
    "event: message_start\r\n"
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"m1\",\"usage\":{\"input_tokens\":200,"
    "\"output_tokens\":1,\"cache_read_input_tokens\":150,\"cache_creation_input_tokens\":20}}}\r\n\r\n"
    "event: ping\r\ndata: {\"type\":\"ping\"}\r\n\r\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Plan: \xf0\x9f\x9a\x80\"}}\n\n"
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\","
    "\"id\":\"tu_1\",\"name\":\"writeFiles\",\"input\":{}}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"files\\\"\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\":[]}\"}}\n\n"
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},"
    "\"usage\":{\"output_tokens\":42}}\n\n"
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

typedef struct {
    char text[256];
    size_t len;
} deltas_t;

static void
on_delta (const char *text, size_t len, void *arg)
{
    deltas_t *d = arg;
    assert_true (d->len + len < sizeof d->text);
    memcpy (d->text + d->len, text, len);
    d->len += len;
    d->text[d->len] = '\0';
}

/* Feeds stream in pieces cut at a and b; returns the finish status. */
static int
feed3 (llm_stream_t *s, const char *stream, size_t len, size_t a, size_t b)
{
    if (llm_stream_feed (s, stream, a) || llm_stream_feed (s, stream + a, b - a)
        || llm_stream_feed (s, stream + b, len - b))
        return -1;
    return llm_stream_finish (s);
}

static void
check_openai (const llm_turn_t *t, const deltas_t *d)
{
    assert_string_equal (t->error, "");
    assert_string_equal (t->text, "Caf\xc3\xa9 \xe2\x9c\x93 ");
    assert_string_equal (d->text, t->text);
    assert_int_equal (t->ncalls, 2);
    assert_string_equal (t->calls[0].id, "call_a");
    assert_string_equal (t->calls[0].name, "createSandbox");
    assert_string_equal (t->calls[0].args, "{\"name\":\"x\"}");
    assert_string_equal (t->calls[1].name, "git.openPR");
    assert_string_equal (t->stop, "tool_calls");
    assert_int_equal (t->input_tokens, 120);
    assert_int_equal (t->output_tokens, 30);
    assert_int_equal (t->cached_tokens, 64);
}

static void
check_anthropic (const llm_turn_t *t, const deltas_t *d)
{
    assert_string_equal (t->error, "");
    assert_string_equal (t->text, "Plan: \xf0\x9f\x9a\x80");
    assert_string_equal (d->text, t->text);
    assert_int_equal (t->ncalls, 1);
    assert_string_equal (t->calls[0].id, "tu_1");
    assert_string_equal (t->calls[0].name, "writeFiles");
    assert_string_equal (t->calls[0].args, "{\"files\":[]}");
    assert_string_equal (t->stop, "tool_use");
    assert_int_equal (t->input_tokens, 200);
    assert_int_equal (t->output_tokens, 42);
    assert_int_equal (t->cached_tokens, 150);
    assert_int_equal (t->cache_write_tokens, 20);
}

static void
every_split (llm_proto_t proto, const char *stream,
             void (*check) (const llm_turn_t *, const deltas_t *))
{
    size_t len = strlen (stream);
    for (size_t a = 0; a <= len; a++) {
        /* two cuts: one everywhere, the second a few bytes on, so a cut
         * also lands in the middle of every short token */
        for (size_t b = a; b <= len && b <= a + 7; b += 3) {
            deltas_t d = { .len = 0 };
            llm_stream_t *s = llm_stream_new (proto, on_delta, &d);
            assert_non_null (s);
            assert_int_equal (feed3 (s, stream, len, a, b), 0);
            check (llm_stream_turn (s), &d);
            llm_stream_destroy (&s);
        }
    }
    deltas_t d = { .len = 0 };
    llm_stream_t *s = llm_stream_new (proto, on_delta, &d);
    for (size_t i = 0; i < len; i++)
        assert_int_equal (llm_stream_feed (s, stream + i, 1), 0);
    assert_int_equal (llm_stream_finish (s), 0);
    check (llm_stream_turn (s), &d);
    llm_stream_destroy (&s);
    llm_stream_destroy (&s);
}

static void
test_openai_splits (void **state)
{
    (void) state;
    every_split (LLM_OPENAI, openai_stream, check_openai);
}

static void
test_anthropic_splits (void **state)
{
    (void) state;
    every_split (LLM_ANTHROPIC, anthropic_stream, check_anthropic);
}

/* A stream cut anywhere before its end marker is an error, never a turn. */
static void
cut_everywhere (llm_proto_t proto, const char *stream, size_t end_marker)
{
    for (size_t cut = 0; cut < end_marker; cut++) {
        llm_stream_t *s = llm_stream_new (proto, NULL, NULL);
        llm_stream_feed (s, stream, cut);
        assert_int_equal (llm_stream_finish (s), -1);
        assert_true (llm_stream_turn (s)->error[0] != '\0');
        llm_stream_destroy (&s);
    }
}

static void
test_cut_streams (void **state)
{
    (void) state;
    cut_everywhere (LLM_OPENAI, openai_stream, strstr (openai_stream, "data: [DONE]") - openai_stream
                    + 12);
    cut_everywhere (LLM_ANTHROPIC, anthropic_stream,
                    strstr (anthropic_stream, "{\"type\":\"message_stop\"}") - anthropic_stream + 22);
    llm_stream_t *s = llm_stream_new (LLM_OPENAI, NULL, NULL);
    llm_stream_feed (s, "data: {\"choices\":[]}\n\n", 23);
    assert_int_equal (llm_stream_finish (s), -1);
    assert_non_null (strstr (llm_stream_turn (s)->error, "stream cut"));
    llm_stream_destroy (&s);
}

static void
test_errors (void **state)
{
    (void) state;
    llm_stream_t *s = llm_stream_new (LLM_ANTHROPIC, NULL, NULL);
    const char *e = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
                    "\"message\":\"Overloaded\"}}\n\n";
    assert_int_equal (llm_stream_feed (s, e, strlen (e)), -1);
    assert_string_equal (llm_stream_turn (s)->error, "provider error: overloaded_error: Overloaded");
    llm_stream_destroy (&s);

    s = llm_stream_new (LLM_OPENAI, NULL, NULL);
    const char *bad = "data: {\"choices\":[{\"delta\":{\"content\":\"x\"\n\n";
    assert_int_equal (llm_stream_feed (s, bad, strlen (bad)), -1);
    assert_non_null (strstr (llm_stream_turn (s)->error, "not a JSON object"));
    llm_stream_destroy (&s);

    s = llm_stream_new (LLM_OPENAI, NULL, NULL);
    const char *many = "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":99}]}}]}\n\n";
    assert_int_equal (llm_stream_feed (s, many, strlen (many)), -1);
    assert_non_null (strstr (llm_stream_turn (s)->error, "more than"));
    llm_stream_destroy (&s);

    s = llm_stream_new (LLM_ANTHROPIC, NULL, NULL);
    const char *orphan = "data: {\"type\":\"content_block_delta\",\"index\":3,\"delta\":"
                         "{\"type\":\"input_json_delta\",\"partial_json\":\"{\"}}\n\n";
    assert_int_equal (llm_stream_feed (s, orphan, strlen (orphan)), -1);
    llm_stream_destroy (&s);
}

static int
count_events (const char *event, const char *data, size_t len, void *arg)
{
    (void) event;
    (void) data;
    (void) len;
    (*(int *) arg)++;
    return 0;
}

/* Every protocol's stop reason maps to one ending; provider error types
 * that can never succeed are not retried. */
static void
test_finish_and_retry (void **state)
{
    (void) state;
    assert_int_equal (llm_finish_of (LLM_OPENAI, "length", 0), LLM_FINISH_LENGTH);
    assert_int_equal (llm_finish_of (LLM_ANTHROPIC, "max_tokens", 1), LLM_FINISH_LENGTH);
    assert_int_equal (llm_finish_of (LLM_OPENAI, "content_filter", 0), LLM_FINISH_FILTER);
    assert_int_equal (llm_finish_of (LLM_ANTHROPIC, "refusal", 0), LLM_FINISH_FILTER);
    assert_int_equal (llm_finish_of (LLM_ANTHROPIC, "tool_use", 1), LLM_FINISH_TOOL_CALLS);
    assert_int_equal (llm_finish_of (LLM_OPENAI, "tool_calls", 1), LLM_FINISH_TOOL_CALLS);
    assert_int_equal (llm_finish_of (LLM_ANTHROPIC, "end_turn", 0), LLM_FINISH_STOP);
    assert_int_equal (llm_finish_of (LLM_OPENAI, "", 2), LLM_FINISH_TOOL_CALLS);
    assert_int_equal (llm_finish_of (LLM_OPENAI, NULL, 0), LLM_FINISH_STOP);
    assert_string_equal (llm_finish_name (LLM_FINISH_FILTER), "content_filter");
    assert_true (llm_error_retryable ("overloaded_error"));
    assert_true (llm_error_retryable ("api_error"));
    assert_true (llm_error_retryable (NULL));
    assert_false (llm_error_retryable ("invalid_request_error"));
    assert_false (llm_error_retryable ("authentication_error"));
}

static void
test_sse_limits (void **state)
{
    (void) state;
    int n = 0;
    sse_t *sse = sse_new (16, count_events, &n);
    assert_int_equal (sse_feed (sse, "data: 0123456789abcdefXYZ\n\n", 27), -1);
    assert_string_equal (sse_error (sse), "event larger than the limit");
    sse_destroy (&sse);
    sse = sse_new (64, count_events, &n);
    assert_int_equal (sse_feed (sse, "data: a\rdata: b\r\rid: 1\nretry: 5\n\n: c\n\nevent: x\n", 46), 0);
    assert_int_equal (sse_finish (sse), 0);
    assert_int_equal (n, 1);
    sse_destroy (&sse);
    sse_destroy (&sse);
}

static void
test_requests (void **state)
{
    (void) state;
    json_error_t jerr;
    json_t *msgs = json_loads ("[{\"role\":\"user\",\"content\":\"do it\"},"
                               "{\"role\":\"assistant\",\"content\":\"ok\",\"tool_calls\":["
                               "{\"id\":\"c1\",\"name\":\"git.openPR\",\"args\":{\"title\":\"t\"}},"
                               "{\"id\":\"c2\",\"name\":\"listFiles\",\"args\":{}}]},"
                               "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"name\":\"git.openPR\",\"content\":\"{}\"},"
                               "{\"role\":\"tool\",\"tool_call_id\":\"c2\",\"name\":\"listFiles\",\"content\":\"[]\"}]",
                               0, &jerr);
    json_t *tools = json_loads ("[{\"name\":\"git.openPR\",\"description\":\"d\",\"inputSchema\":"
                                "{\"type\":\"object\"}},{\"name\":\"listFiles\"}]", 0, &jerr);
    assert_non_null (msgs);
    char *o = llm_openai_request ("gpt-4o-mini", "sys", msgs, tools, 0);
    json_t *oj = json_loads (o, 0, &jerr);
    assert_non_null (oj);
    assert_true (json_is_true (json_object_get (json_object_get (oj, "stream_options"), "include_usage")));
    json_t *om = json_object_get (oj, "messages");
    assert_int_equal (json_array_size (om), 5);
    assert_string_equal (json_string_value (json_object_get (json_array_get (om, 0), "role")), "system");
    json_t *call0 = json_array_get (json_object_get (json_array_get (om, 2), "tool_calls"), 0);
    assert_string_equal (json_string_value (json_object_get (json_object_get (call0, "function"), "name")),
                         "git__openPR");
    assert_string_equal (json_string_value (json_object_get (json_object_get (call0, "function"),
                                                             "arguments")), "{\"title\":\"t\"}");
    json_decref (oj);
    free (o);

    char *a = llm_anthropic_request ("claude-sonnet-4-5", "sys", msgs, tools, 0);
    json_t *aj = json_loads (a, 0, &jerr);
    assert_non_null (aj);
    json_t *am = json_object_get (aj, "messages");
    assert_int_equal (json_array_size (am), 3);     /* both tool results in one user message */
    json_t *results = json_object_get (json_array_get (am, 2), "content");
    assert_int_equal (json_array_size (results), 2);
    assert_string_equal (json_string_value (json_object_get (json_array_get (results, 1), "tool_use_id")),
                         "c2");
    assert_non_null (json_object_get (json_array_get (json_object_get (aj, "system"), 0), "cache_control"));
    json_t *ts = json_object_get (aj, "tools");
    assert_non_null (json_object_get (json_array_get (ts, 1), "cache_control"));
    assert_null (json_object_get (json_array_get (ts, 0), "cache_control"));
    assert_string_equal (json_string_value (json_object_get (json_array_get (ts, 0), "name")),
                         "git__openPR");
    json_decref (aj);
    free (a);
    json_decref (msgs);
    json_decref (tools);
}

static void
test_providers (void **state)
{
    (void) state;
    const char *model;
    const llm_provider_t *p = llm_provider_find ("anthropic/claude-sonnet-4-5", &model);
    assert_non_null (p);
    assert_int_equal (p->proto, LLM_ANTHROPIC);
    assert_string_equal (model, "claude-sonnet-4-5");
    p = llm_provider_find ("groq/llama-3.3-70b-versatile", &model);
    assert_int_equal (p->proto, LLM_OPENAI);
    assert_string_equal (p->key_env, "GROQ_API_KEY");
    setenv ("OLLAMA_BASE_URL", "http://h:1/v1", 1);
    assert_string_equal (llm_provider_url (llm_provider_find ("ollama/x", NULL)), "http://h:1/v1");
    assert_null (llm_provider_find ("nobody/x", NULL));
    assert_null (llm_provider_find ("noslash", NULL));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_openai_splits),
        cmocka_unit_test (test_anthropic_splits),
        cmocka_unit_test (test_cut_streams),
        cmocka_unit_test (test_errors),
        cmocka_unit_test (test_finish_and_retry),
        cmocka_unit_test (test_sse_limits),
        cmocka_unit_test (test_requests),
        cmocka_unit_test (test_providers),
    };
    return support_run_group_tests (tests, NULL, NULL);
}
