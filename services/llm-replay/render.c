/* render: SSE and whole JSON bodies for both protocols (see render.h).
 * The body is built whole; the server decides how it reaches the wire
 * (pieces, latency, cuts). */
#include "render.h"
#include "llm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *buf;
    size_t len, cap;
    bool oom;
} out_t;

static void
put (out_t *o, const char *s, size_t n)
{
    if (o->oom)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 1024;
        while (cap < o->len + n + 1)
            cap *= 2;
        char *b = realloc (o->buf, cap);
        if (!b) {
            o->oom = true;
            return;
        }
        o->buf = b;
        o->cap = cap;
    }
    memcpy (o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

/* Writes one SSE event (name may be NULL) whose data is value; steals value. */
static void
event (out_t *o, const char *name, json_t *value)
{
    char *data = value ? json_dumps (value, JSON_COMPACT) : NULL;
    json_decref (value);
    if (!data) {
        o->oom = true;
        return;
    }
    if (name) {
        put (o, "event: ", 7);
        put (o, name, strlen (name));
        put (o, "\n", 1);
    }
    put (o, "data: ", 6);
    put (o, data, strlen (data));
    put (o, "\n\n", 2);
    free (data);
}

/* Length of the next piece of s (at most about chunk bytes), ending on a
 * UTF-8 character boundary. */
static size_t
piece (const char *s, size_t chunk)
{
    size_t n = strlen (s);
    if (!chunk || n <= chunk)
        return n;
    size_t k = chunk;
    while (k < n && ((unsigned char) s[k] & 0xC0) == 0x80)
        k++;
    return k;
}

static json_t *
strn (const char *s, size_t n)
{
    return json_stringn (s, n);
}

static uint64_t
out_tokens (const cassette_reply_t *r)
{
    return (r->text ? strlen (r->text) / 4 : 0) + json_array_size (r->tool_calls) * 20 + 1;
}

static json_t *
oai_chunk (const char *model, json_t *delta, json_t *finish)
{
    return json_pack ("{s:s, s:s, s:s, s:[{s:i, s:o, s:o}]}", "id", "chatcmpl-replay",
                      "object", "chat.completion.chunk", "model", model, "choices", "index", 0,
                      "delta", delta, "finish_reason", finish ? finish : json_null ());
}

/* The finish_reason OpenAI gives the reply. */
static const char *
openai_finish (const cassette_reply_t *r)
{
    return r->finish[0] ? r->finish : json_array_size (r->tool_calls) ? "tool_calls" : "stop";
}

char *
render_openai (const cassette_reply_t *r, const char *model, uint64_t input_tokens,
               bool include_usage)
{
    out_t o = { 0 };
    event (&o, NULL, oai_chunk (model, json_pack ("{s:s, s:n}", "role", "assistant", "content"),
                                NULL));
    for (const char *t = r->text; t && *t;) {
        size_t n = piece (t, r->chunk);
        event (&o, NULL, oai_chunk (model, json_pack ("{s:o}", "content", strn (t, n)), NULL));
        t += n;
    }
    size_t i;
    json_t *call;
    json_array_foreach (r->tool_calls, i, call) {
        char *wire = llm_wire_name (json_string_value (json_object_get (call, "name")) ?: "");
        char *args = json_dumps (json_object_get (call, "args"), JSON_COMPACT);
        event (&o, NULL, oai_chunk (model, json_pack ("{s:[{s:I, s:O, s:s, s:{s:s, s:s}}]}",
                                                      "tool_calls", "index", (json_int_t) i,
                                                      "id", json_object_get (call, "id"),
                                                      "type", "function", "function", "name",
                                                      wire ?: "", "arguments", ""), NULL));
        for (const char *a = args; a && *a;) {
            size_t n = piece (a, r->chunk);
            event (&o, NULL, oai_chunk (model, json_pack ("{s:[{s:I, s:{s:o}}]}", "tool_calls",
                                                          "index", (json_int_t) i, "function",
                                                          "arguments", strn (a, n)), NULL));
            a += n;
        }
        free (wire);
        free (args);
    }
    event (&o, NULL, oai_chunk (model, json_object (), json_string (openai_finish (r))));
    if (!r->no_usage && include_usage)
        event (&o, NULL, json_pack ("{s:s, s:s, s:[], s:{s:I, s:I, s:{s:i}}}", "id",
                                    "chatcmpl-replay", "object", "chat.completion.chunk",
                                    "choices", "usage", "prompt_tokens",
                                    (json_int_t) input_tokens, "completion_tokens",
                                    (json_int_t) out_tokens (r), "prompt_tokens_details",
                                    "cached_tokens", 0));
    put (&o, "data: [DONE]\n\n", 14);
    if (o.oom) {
        free (o.buf);
        return NULL;
    }
    return o.buf;
}

/* The turn's end in Anthropic's words. */
static const char *
anthropic_stop (const cassette_reply_t *r)
{
    if (strcmp (r->finish, "length") == 0)
        return "max_tokens";
    if (strcmp (r->finish, "content_filter") == 0)
        return "refusal";
    if (strcmp (r->finish, "stop") == 0)
        return "end_turn";
    return json_array_size (r->tool_calls) ? "tool_use" : "end_turn";
}

char *
render_anthropic (const cassette_reply_t *r, const char *model, uint64_t input_tokens)
{
    out_t o = { 0 };
    json_t *start = json_pack ("{s:s, s:{s:s, s:s, s:s, s:s, s:[]}}", "type", "message_start",
                               "message", "id", "msg_replay", "type", "message", "role",
                               "assistant", "model", model, "content");
    if (!r->no_usage)
        json_object_set_new (json_object_get (start, "message"), "usage",
                             json_pack ("{s:I, s:i, s:i, s:i}", "input_tokens",
                                        (json_int_t) input_tokens, "output_tokens", 1,
                                        "cache_read_input_tokens", 0,
                                        "cache_creation_input_tokens", 0));
    event (&o, "message_start", start);
    event (&o, "ping", json_pack ("{s:s}", "type", "ping"));
    int block = 0;
    if (r->text && *r->text) {
        event (&o, "content_block_start",
               json_pack ("{s:s, s:i, s:{s:s, s:s}}", "type", "content_block_start", "index",
                          block, "content_block", "type", "text", "text", ""));
        for (const char *t = r->text; *t;) {
            size_t n = piece (t, r->chunk);
            event (&o, "content_block_delta",
                   json_pack ("{s:s, s:i, s:{s:s, s:o}}", "type", "content_block_delta", "index",
                              block, "delta", "type", "text_delta", "text", strn (t, n)));
            t += n;
        }
        event (&o, "content_block_stop", json_pack ("{s:s, s:i}", "type", "content_block_stop",
                                                    "index", block));
        block++;
    }
    size_t i;
    json_t *call;
    json_array_foreach (r->tool_calls, i, call) {
        char *wire = llm_wire_name (json_string_value (json_object_get (call, "name")) ?: "");
        char *args = json_dumps (json_object_get (call, "args"), JSON_COMPACT);
        event (&o, "content_block_start",
               json_pack ("{s:s, s:i, s:{s:s, s:O, s:s, s:{}}}", "type", "content_block_start",
                          "index", block, "content_block", "type", "tool_use", "id",
                          json_object_get (call, "id"), "name", wire ?: "", "input"));
        for (const char *a = args; a && *a;) {
            size_t n = piece (a, r->chunk);
            event (&o, "content_block_delta",
                   json_pack ("{s:s, s:i, s:{s:s, s:o}}", "type", "content_block_delta", "index",
                              block, "delta", "type", "input_json_delta", "partial_json",
                              strn (a, n)));
            a += n;
        }
        event (&o, "content_block_stop", json_pack ("{s:s, s:i}", "type", "content_block_stop",
                                                    "index", block));
        block++;
        free (wire);
        free (args);
    }
    json_t *delta = json_pack ("{s:s, s:{s:s, s:n}}", "type", "message_delta", "delta",
                               "stop_reason", anthropic_stop (r), "stop_sequence");
    if (!r->no_usage)
        json_object_set_new (delta, "usage", json_pack ("{s:I}", "output_tokens",
                                                        (json_int_t) out_tokens (r)));
    event (&o, "message_delta", delta);
    event (&o, "message_stop", json_pack ("{s:s}", "type", "message_stop"));
    if (o.oom) {
        free (o.buf);
        return NULL;
    }
    return o.buf;
}

/* Steals doc; its compact text, or NULL. */
static char *
dump (json_t *doc)
{
    char *out = doc ? json_dumps (doc, JSON_COMPACT) : NULL;
    json_decref (doc);
    return out;
}

char *
render_openai_whole (const cassette_reply_t *r, const char *model, uint64_t input_tokens)
{
    json_t *msg = json_pack ("{s:s, s:s?, s:n}", "role", "assistant", "content", r->text,
                             "refusal");
    json_t *calls = json_array ();
    size_t i;
    json_t *call;
    json_array_foreach (r->tool_calls, i, call) {
        char *wire = llm_wire_name (json_string_value (json_object_get (call, "name")) ?: "");
        char *args = json_dumps (json_object_get (call, "args"), JSON_COMPACT);
        json_array_append_new (calls, json_pack ("{s:O, s:s, s:{s:s, s:s}}", "id",
                                                 json_object_get (call, "id"), "type",
                                                 "function", "function", "name", wire ?: "",
                                                 "arguments", args ?: "{}"));
        free (wire);
        free (args);
    }
    if (json_array_size (calls))
        json_object_set (msg, "tool_calls", calls);
    json_decref (calls);
    json_t *doc = json_pack ("{s:s, s:s, s:s, s:[{s:i, s:o, s:n, s:s}]}", "id",
                             "chatcmpl-replay", "object", "chat.completion", "model", model,
                             "choices", "index", 0, "message", msg, "logprobs", "finish_reason",
                             openai_finish (r));
    if (doc && !r->no_usage)
        json_object_set_new (doc, "usage",
                             json_pack ("{s:I, s:I, s:I, s:{s:i}}", "prompt_tokens",
                                        (json_int_t) input_tokens, "completion_tokens",
                                        (json_int_t) out_tokens (r), "total_tokens",
                                        (json_int_t) (input_tokens + out_tokens (r)),
                                        "prompt_tokens_details", "cached_tokens", 0));
    return dump (doc);
}

char *
render_anthropic_whole (const cassette_reply_t *r, const char *model, uint64_t input_tokens)
{
    json_t *content = json_array ();
    if (r->text && *r->text)
        json_array_append_new (content, json_pack ("{s:s, s:s}", "type", "text", "text",
                                                   r->text));
    size_t i;
    json_t *call;
    json_array_foreach (r->tool_calls, i, call) {
        char *wire = llm_wire_name (json_string_value (json_object_get (call, "name")) ?: "");
        json_t *args = json_object_get (call, "args");
        json_array_append_new (content, json_pack ("{s:s, s:O, s:s, s:o}", "type", "tool_use",
                                                   "id", json_object_get (call, "id"), "name",
                                                   wire ?: "", "input",
                                                   args ? json_incref (args) : json_object ()));
        free (wire);
    }
    json_t *doc = json_pack ("{s:s, s:s, s:s, s:s, s:o, s:s, s:n}", "id", "msg_replay", "type",
                             "message", "role", "assistant", "model", model, "content", content,
                             "stop_reason", anthropic_stop (r), "stop_sequence");
    if (doc && !r->no_usage)
        json_object_set_new (doc, "usage",
                             json_pack ("{s:I, s:I, s:i, s:i}", "input_tokens",
                                        (json_int_t) input_tokens, "output_tokens",
                                        (json_int_t) out_tokens (r), "cache_read_input_tokens",
                                        0, "cache_creation_input_tokens", 0));
    return dump (doc);
}

char *
render_models (bool anthropic)
{
    static const char *const ids[] = { "scripted", "scripted-anthropic" };
    json_t *data = json_array ();
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        json_array_append_new (data, anthropic
            ? json_pack ("{s:s, s:s, s:s, s:s}", "type", "model", "id", ids[i], "display_name",
                         ids[i], "created_at", "2026-01-01T00:00:00Z")
            : json_pack ("{s:s, s:s, s:i, s:s}", "id", ids[i], "object", "model", "created", 0,
                         "owned_by", "caisson-llm-replay"));
    size_t last = sizeof ids / sizeof ids[0] - 1;
    return dump (anthropic
        ? json_pack ("{s:o, s:b, s:s, s:s}", "data", data, "has_more", 0, "first_id", ids[0],
                     "last_id", ids[last])
        : json_pack ("{s:s, s:o}", "object", "list", "data", data));
}

char *
render_error (bool anthropic, int status, const char *message)
{
    const char *type = status == 429 ? "rate_limit_error"
                     : status == 529 ? "overloaded_error"
                     : status >= 500 ? "api_error" : "invalid_request_error";
    json_t *body = anthropic
        ? json_pack ("{s:s, s:{s:s, s:s}}", "type", "error", "error", "type", type, "message",
                     message)
        : json_pack ("{s:{s:s, s:s}}", "error", "message", message, "type", type);
    char *out = json_dumps (body, JSON_COMPACT);
    json_decref (body);
    return out;
}

char *
render_error_event (bool anthropic, const char *type, const char *message)
{
    out_t o = { 0 };
    if (anthropic)
        event (&o, "error", json_pack ("{s:s, s:{s:s, s:s}}", "type", "error", "error", "type",
                                       type, "message", message));
    else
        event (&o, NULL, json_pack ("{s:{s:s, s:s}}", "error", "message", message, "type",
                                    type));
    if (o.oom) {
        free (o.buf);
        return NULL;
    }
    return o.buf;
}

char *
render_error_midway (char *body, bool anthropic, const char *type, const char *message)
{
    char *end = strstr (body + strlen (body) / 2, "\n\n");
    size_t keep = end ? (size_t) (end - body) + 2 : strlen (body);
    char *ev = render_error_event (anthropic, type ? type : "overloaded_error",
                                   message ? message : "Overloaded");
    size_t n = ev ? strlen (ev) : 0;
    char *out = realloc (body, keep + n + 1);
    if (!out) {
        free (ev);
        return body;
    }
    memcpy (out + keep, ev ? ev : "", n);
    out[keep + n] = '\0';
    free (ev);
    return out;
}
