/* llm_openai: the OpenAI Chat Completions wire protocol, streamed. The
 * same protocol serves OpenAI, Groq, Cerebras, Mistral, OpenRouter,
 * Ollama, vLLM and llama.cpp servers (see llm_provider.c).
 *
 * Stream: one JSON chunk per `data:` event, `[DONE]` last. A chunk's
 * choices[0].delta carries content and tool_calls fragments keyed by
 * index (id and name in the first fragment, arguments spread over many);
 * finish_reason closes the choice; usage arrives on a final chunk whose
 * choices may be empty. Any field may be present with null. */
#include "llm.h"
#include "proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t
count (const json_t *obj, const char *key)
{
    json_t *v = json_object_get (obj, key);
    return json_is_integer (v) && json_integer_value (v) > 0 ? (uint64_t) json_integer_value (v) : 0;
}

/* Servers that omit the index (some local ones) start a call with its id. */
static json_int_t
implied_index (const llm_turn_t *turn, const json_t *tc)
{
    const char *id = json_string_value (json_object_get (tc, "id"));
    if (turn->ncalls == 0)
        return 0;
    const char *last = turn->calls[turn->ncalls - 1].id;
    if (id && *id && (!last || strcmp (last, id) != 0))
        return (json_int_t) turn->ncalls;
    return (json_int_t) turn->ncalls - 1;
}

static int
tool_delta (llm_turn_t *turn, const json_t *tc)
{
    json_t *jidx = json_object_get (tc, "index");
    json_int_t idx = json_is_integer (jidx) ? json_integer_value (jidx) : implied_index (turn, tc);
    if (idx < 0) {
        llm_turn_fail (turn, "tool call index %lld is negative", (long long) idx);
        return -1;
    }
    llm_call_t *call = llm_turn_call (turn, (size_t) idx);
    if (!call)
        return -1;
    json_t *id = json_object_get (tc, "id");
    if (json_is_string (id) && json_string_length (id))
        proto_set_str (&call->id, json_string_value (id));
    json_t *fn = json_object_get (tc, "function");
    json_t *name = json_object_get (fn, "name");
    if (json_is_string (name) && json_string_length (name)) {
        char *decoded = llm_tool_name (json_string_value (name));
        if (!decoded)
            return -1;
        free (call->name);
        call->name = decoded;
    }
    json_t *args = json_object_get (fn, "arguments");
    if (json_is_string (args))
        return llm_call_args (turn, call, json_string_value (args), json_string_length (args));
    return 0;
}

static int
chunk (llm_turn_t *turn, const json_t *root, llm_delta_fn *fn, void *arg)
{
    json_t *err = json_object_get (root, "error");
    if (err && !json_is_null (err)) {
        json_t *msg = json_object_get (err, "message");
        const char *type = json_string_value (json_object_get (err, "type"));
        llm_turn_fail (turn, "provider error: %s%s%s", type ? type : "", type ? ": " : "",
                       json_is_string (msg) ? json_string_value (msg) : "(no message)");
        turn->retryable = llm_error_retryable (type);
        return -1;
    }
    json_t *usage = json_object_get (root, "usage");
    if (!json_is_object (usage))    /* Groq's older streams: x_groq.usage */
        usage = json_object_get (json_object_get (root, "x_groq"), "usage");
    if (json_is_object (usage)) {
        turn->usage = true;
        turn->input_tokens = count (usage, "prompt_tokens");
        turn->output_tokens = count (usage, "completion_tokens");
        turn->cached_tokens = count (json_object_get (usage, "prompt_tokens_details"),
                                     "cached_tokens");
    }
    json_t *choice = json_array_get (json_object_get (root, "choices"), 0);
    if (!json_is_object (choice))
        return 0;
    json_t *delta = json_object_get (choice, "delta");
    json_t *content = json_object_get (delta, "content");
    if (json_is_string (content) && json_string_length (content)) {
        if (llm_turn_text (turn, json_string_value (content), json_string_length (content)))
            return -1;
        if (fn)
            fn (json_string_value (content), json_string_length (content), arg);
    }
    json_t *tcs = json_object_get (delta, "tool_calls");
    size_t i;
    json_t *tc;
    json_array_foreach (tcs, i, tc) {
        if (json_is_object (tc) && tool_delta (turn, tc))
            return -1;
    }
    json_t *finish = json_object_get (choice, "finish_reason");
    if (json_is_string (finish))
        snprintf (turn->stop, sizeof turn->stop, "%s", json_string_value (finish));
    return 0;
}

int
llm_openai_event (llm_turn_t *turn, const char *data, size_t len, llm_delta_fn *fn, void *arg)
{
    if (len == 6 && memcmp (data, "[DONE]", 6) == 0) {
        turn->complete = true;
        return 0;
    }
    json_error_t jerr;
    json_t *root = json_loadb (data, len, 0, &jerr);
    if (!json_is_object (root)) {
        llm_turn_fail (turn, "chunk is not a JSON object: %s", jerr.text);
        json_decref (root);
        return -1;
    }
    int rc = chunk (turn, root, fn, arg);
    json_decref (root);
    return rc;
}

static json_t *
wire_tool_calls (const json_t *calls)
{
    json_t *out = json_array ();
    size_t i;
    json_t *c;
    json_array_foreach (calls, i, c) {
        char *wire = llm_wire_name (json_string_value (json_object_get (c, "name")) ?: "");
        char *args = json_dumps (json_object_get (c, "args") ?: json_object (), JSON_COMPACT);
        json_array_append_new (out, json_pack ("{s:O?, s:s, s:{s:s, s:s}}", "id",
                                               json_object_get (c, "id"), "type", "function",
                                               "function", "name", wire ?: "", "arguments",
                                               args ?: "{}"));
        free (wire);
        free (args);
    }
    return out;
}

char *
llm_openai_request (const char *model, const char *system, const json_t *messages,
                    const json_t *tools, uint64_t max_tokens)
{
    json_t *msgs = json_array ();
    if (system)
        json_array_append_new (msgs, json_pack ("{s:s, s:s}", "role", "system", "content", system));
    size_t i;
    json_t *m;
    json_array_foreach (messages, i, m) {
        const char *role = json_string_value (json_object_get (m, "role")) ?: "";
        json_t *content = json_object_get (m, "content");
        if (strcmp (role, "assistant") == 0) {
            json_t *am = json_pack ("{s:s, s:O}", "role", "assistant", "content",
                                    content ? content : json_null ());
            json_t *calls = json_object_get (m, "tool_calls");
            if (json_array_size (calls))
                json_object_set_new (am, "tool_calls", wire_tool_calls (calls));
            json_array_append_new (msgs, am);
        }
        else if (strcmp (role, "tool") == 0)
            json_array_append_new (msgs, json_pack ("{s:s, s:O?, s:O?}", "role", "tool",
                                                    "tool_call_id",
                                                    json_object_get (m, "tool_call_id"),
                                                    "content", content));
        else
            json_array_append_new (msgs, json_pack ("{s:s, s:O?}", "role", "user", "content",
                                                    content));
    }
    json_t *req = json_pack ("{s:s, s:o, s:b, s:{s:b}}", "model", model, "messages", msgs,
                             "stream", 1, "stream_options", "include_usage", 1);
    if (max_tokens)
        json_object_set_new (req, "max_tokens", json_integer ((json_int_t) max_tokens));
    if (json_array_size (tools)) {
        json_t *ts = json_array ();
        json_t *t;
        json_array_foreach (tools, i, t) {
            char *wire = llm_wire_name (json_string_value (json_object_get (t, "name")) ?: "");
            json_array_append_new (ts, json_pack ("{s:s, s:{s:s, s:O?, s:O?}}", "type", "function",
                                                  "function", "name", wire ?: "",
                                                  "description", json_object_get (t, "description"),
                                                  "parameters",
                                                  json_object_get (t, "inputSchema")));
            free (wire);
        }
        json_object_set_new (req, "tools", ts);
    }
    char *body = req ? json_dumps (req, JSON_COMPACT) : NULL;
    json_decref (req);
    return body;
}
