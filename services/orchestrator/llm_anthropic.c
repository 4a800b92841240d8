/* llm_anthropic: the Anthropic Messages wire protocol, streamed.
 *
 * Stream: message_start (input usage, cache read/creation tokens), then
 * per content block a content_block_start (text or tool_use with id and
 * name), deltas (text_delta, input_json_delta with partial_json), and
 * content_block_stop; message_delta carries stop_reason and output usage;
 * message_stop ends the turn; ping is a keep-alive; error carries a
 * provider fault. Tool-use blocks take call slots in order of appearance,
 * so text blocks leave no holes between tool calls. */
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

static void
usage (llm_turn_t *turn, const json_t *u)
{
    if (!json_is_object (u))
        return;
    turn->usage = true;
    if (json_is_integer (json_object_get (u, "input_tokens")))
        turn->input_tokens = count (u, "input_tokens");
    if (json_is_integer (json_object_get (u, "output_tokens")))
        turn->output_tokens = count (u, "output_tokens");
    if (json_is_integer (json_object_get (u, "cache_read_input_tokens")))
        turn->cached_tokens = count (u, "cache_read_input_tokens");
    if (json_is_integer (json_object_get (u, "cache_creation_input_tokens")))
        turn->cache_write_tokens = count (u, "cache_creation_input_tokens");
}

/* The call slot of the tool_use block at the event's index, or NULL. */
static llm_call_t *
block_call (llm_turn_t *turn, const json_t *root)
{
    long idx = (long) json_integer_value (json_object_get (root, "index"));
    for (size_t i = 0; i < turn->ncalls; i++)
        if (turn->calls[i].block == idx)
            return &turn->calls[i];
    return NULL;
}

static int
block_start (llm_turn_t *turn, const json_t *root)
{
    json_t *block = json_object_get (root, "content_block");
    const char *type = json_string_value (json_object_get (block, "type"));
    if (!type || strcmp (type, "tool_use") != 0)
        return 0;
    llm_call_t *call = llm_turn_call (turn, turn->ncalls);
    if (!call)
        return -1;
    call->block = (long) json_integer_value (json_object_get (root, "index"));
    const char *id = json_string_value (json_object_get (block, "id"));
    const char *name = json_string_value (json_object_get (block, "name"));
    if (id)
        proto_set_str (&call->id, id);
    if (name) {
        free (call->name);
        if (!(call->name = llm_tool_name (name)))
            return -1;
    }
    return 0;
}

static int
block_delta (llm_turn_t *turn, const json_t *root, llm_delta_fn *fn, void *arg)
{
    json_t *delta = json_object_get (root, "delta");
    const char *type = json_string_value (json_object_get (delta, "type")) ?: "";
    if (strcmp (type, "text_delta") == 0) {
        json_t *text = json_object_get (delta, "text");
        if (!json_is_string (text))
            return 0;
        if (llm_turn_text (turn, json_string_value (text), json_string_length (text)))
            return -1;
        if (fn && json_string_length (text))
            fn (json_string_value (text), json_string_length (text), arg);
    }
    else if (strcmp (type, "input_json_delta") == 0) {
        json_t *part = json_object_get (delta, "partial_json");
        llm_call_t *call = block_call (turn, root);
        if (!call) {
            llm_turn_fail (turn, "input_json_delta for a block that is not a tool_use");
            return -1;
        }
        if (json_is_string (part))
            return llm_call_args (turn, call, json_string_value (part), json_string_length (part));
    }
    return 0;
}

static int
event (llm_turn_t *turn, const json_t *root, llm_delta_fn *fn, void *arg)
{
    const char *type = json_string_value (json_object_get (root, "type")) ?: "";
    if (strcmp (type, "message_start") == 0)
        usage (turn, json_object_get (json_object_get (root, "message"), "usage"));
    else if (strcmp (type, "content_block_start") == 0)
        return block_start (turn, root);
    else if (strcmp (type, "content_block_delta") == 0)
        return block_delta (turn, root, fn, arg);
    else if (strcmp (type, "message_delta") == 0) {
        const char *stop = json_string_value (json_object_get (json_object_get (root, "delta"),
                                                               "stop_reason"));
        if (stop)
            snprintf (turn->stop, sizeof turn->stop, "%s", stop);
        usage (turn, json_object_get (root, "usage"));
    }
    else if (strcmp (type, "message_stop") == 0)
        turn->complete = true;
    else if (strcmp (type, "error") == 0) {
        json_t *err = json_object_get (root, "error");
        const char *etype = json_string_value (json_object_get (err, "type"));
        llm_turn_fail (turn, "provider error: %s: %s", etype ? etype : "error",
                       json_string_value (json_object_get (err, "message")) ?: "(no message)");
        turn->retryable = llm_error_retryable (etype);
        return -1;
    }
    return 0;                   /* ping, content_block_stop, and future event types */
}

int
llm_anthropic_event (llm_turn_t *turn, const char *data, size_t len, llm_delta_fn *fn, void *arg)
{
    json_error_t jerr;
    json_t *root = json_loadb (data, len, 0, &jerr);
    if (!json_is_object (root)) {
        llm_turn_fail (turn, "event is not a JSON object: %s", jerr.text);
        json_decref (root);
        return -1;
    }
    int rc = event (turn, root, fn, arg);
    json_decref (root);
    return rc;
}

/* Content blocks of one assistant message: its text, then its tool uses. */
static json_t *
assistant_blocks (const json_t *m)
{
    json_t *blocks = json_array ();
    const char *text = json_string_value (json_object_get (m, "content"));
    if (text && *text)
        json_array_append_new (blocks, json_pack ("{s:s, s:s}", "type", "text", "text", text));
    size_t i;
    json_t *c;
    json_array_foreach (json_object_get (m, "tool_calls"), i, c) {
        char *wire = llm_wire_name (json_string_value (json_object_get (c, "name")) ?: "");
        json_t *args = json_object_get (c, "args");
        json_array_append_new (blocks, json_pack ("{s:s, s:O?, s:s, s:o}", "type", "tool_use",
                                                  "id", json_object_get (c, "id"),
                                                  "name", wire ?: "",
                                                  "input", json_is_object (args) ? json_incref (args)
                                                                                 : json_object ()));
        free (wire);
    }
    return blocks;
}

/* Consecutive tool results become one user message of tool_result blocks,
 * as the protocol requires. */
static json_t *
wire_messages (const json_t *messages)
{
    json_t *out = json_array ();
    json_t *results = NULL;
    size_t i;
    json_t *m;
    json_array_foreach (messages, i, m) {
        const char *role = json_string_value (json_object_get (m, "role")) ?: "";
        if (strcmp (role, "tool") == 0) {
            if (!results) {
                results = json_array ();
                json_array_append_new (out, json_pack ("{s:s, s:o}", "role", "user",
                                                       "content", results));
            }
            json_array_append_new (results, json_pack ("{s:s, s:O?, s:O?}", "type", "tool_result",
                                                       "tool_use_id",
                                                       json_object_get (m, "tool_call_id"),
                                                       "content", json_object_get (m, "content")));
            continue;
        }
        results = NULL;
        if (strcmp (role, "assistant") == 0)
            json_array_append_new (out, json_pack ("{s:s, s:o}", "role", "assistant",
                                                   "content", assistant_blocks (m)));
        else
            json_array_append_new (out, json_pack ("{s:s, s:O?}", "role", "user", "content",
                                                   json_object_get (m, "content")));
    }
    return out;
}

char *
llm_anthropic_request (const char *model, const char *system, const json_t *messages,
                       const json_t *tools, uint64_t max_tokens)
{
    json_t *req = json_pack ("{s:s, s:o, s:b, s:I}", "model", model, "messages",
                             wire_messages (messages), "stream", 1, "max_tokens",
                             (json_int_t) (max_tokens ? max_tokens : 4096));
    if (!req)
        return NULL;
    if (system)
        json_object_set_new (req, "system",
                             json_pack ("[{s:s, s:s, s:{s:s}}]", "type", "text", "text", system,
                                        "cache_control", "type", "ephemeral"));
    if (json_array_size (tools)) {
        json_t *ts = json_array ();
        size_t i;
        json_t *t;
        json_array_foreach (tools, i, t) {
            char *wire = llm_wire_name (json_string_value (json_object_get (t, "name")) ?: "");
            json_t *schema = json_object_get (t, "inputSchema");
            json_array_append_new (ts, json_pack ("{s:s, s:O?, s:o}", "name", wire ?: "",
                                                  "description", json_object_get (t, "description"),
                                                  "input_schema", schema ? json_incref (schema)
                                                  : json_pack ("{s:s}", "type", "object")));
            free (wire);
        }
        /* A breakpoint on the last tool caches the whole tool list. */
        json_object_set_new (json_array_get (ts, json_array_size (ts) - 1), "cache_control",
                             json_pack ("{s:s}", "type", "ephemeral"));
        json_object_set_new (req, "tools", ts);
    }
    char *body = json_dumps (req, JSON_COMPACT);
    json_decref (req);
    return body;
}
