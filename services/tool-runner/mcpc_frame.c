/* mcpc_frame: newline-delimited JSON-RPC, checked and sorted. */
#include "mcpc_frame.h"

#include "jsoncap.h"
#include "xalloc.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct _mcpc_frame_t {
    size_t line_max;
    char *buf;          /* bytes fed; those from off to len not yet taken */
    size_t off;
    size_t len;
    size_t size;
    bool discarding;    /* inside an over-long line: drop up to its newline */
    bool overlong;      /* one was dropped: next() reports it after the lines before */
};

mcpc_frame_t *
mcpc_frame_new (size_t line_max)
{
    mcpc_frame_t *self = xcalloc (1, sizeof *self);
    self->line_max = line_max ? line_max : MCPC_LINE_MAX;
    return self;
}

void
mcpc_frame_destroy (mcpc_frame_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->buf);
    free (*self_p);
    *self_p = NULL;
}

void
mcpc_frame_feed (mcpc_frame_t *self, const void *data, size_t len)
{
    const char *bytes = data;
    if (self->discarding) {
        const char *nl = memchr (bytes, '\n', len);
        if (!nl)
            return;
        self->discarding = false;
        len -= (size_t) (nl + 1 - bytes);
        bytes = nl + 1;
    }
    /* Taken lines leave only now, so next() never moves bytes per line. */
    if (self->off) {
        memmove (self->buf, self->buf + self->off, self->len - self->off);
        self->len -= self->off;
        self->off = 0;
    }
    if (!len)
        return;
    if (self->len + len > self->size) {
        self->size = (self->len + len) * 2;
        self->buf = xrealloc (self->buf, self->size);
    }
    memcpy (self->buf + self->len, bytes, len);
    self->len += len;
    /* A line still open past the cap is dropped now rather than held (its
     * rest too, as it comes); whole lines before it stay for next(). */
    size_t tail = self->len;
    while (tail && self->buf[tail - 1] != '\n')
        tail--;
    if (self->len - tail > self->line_max) {
        self->len = tail;
        self->discarding = true;
        self->overlong = true;
    }
}

/* Sets why; returns MCPC_MSG_INVALID. */
static mcpc_msg_kind_t
invalid (char *why, size_t whylen, const char *text)
{
    snprintf (why, whylen, "%s", text);
    return MCPC_MSG_INVALID;
}

/* Whether msg nests deeper than MCPC_DEPTH_MAX, the tools of a
 * `result.tools` array (a tools/list page) not counted: mcpc_tools checks
 * each tool's schemas (32 levels) and leaves out only the tool that fails,
 * where the message's cap would lose all of its server's tools. They stay
 * bounded by jansson's parser (2048 levels). */
static bool
too_deep (const json_t *msg)
{
    json_t *result = json_object_get (msg, "result");
    if (!json_is_array (json_object_get (result, "tools")))
        return jsoncap_depth (msg, MCPC_DEPTH_MAX) > MCPC_DEPTH_MAX;
    json_t *outer = json_copy ((json_t *) msg);     /* shallow: only the path is new */
    json_t *rest = json_copy (result);
    json_object_set_new (rest, "tools", json_array ());
    json_object_set_new (outer, "result", rest);
    bool deep = jsoncap_depth (outer, MCPC_DEPTH_MAX) > MCPC_DEPTH_MAX;
    json_decref (outer);
    return deep;
}

mcpc_msg_kind_t
mcpc_msg_classify (const json_t *msg, char *why, size_t whylen)
{
    if (!json_is_object (msg))
        return invalid (why, whylen, "a message must be a JSON object");
    if (too_deep (msg))
        return invalid (why, whylen, "the message nests deeper than 64 levels");
    const char *version = json_string_value (json_object_get (msg, "jsonrpc"));
    if (!version || strcmp (version, "2.0"))
        return invalid (why, whylen, "`jsonrpc` is not \"2.0\"");
    json_t *id = json_object_get (msg, "id");
    if (id && !json_is_string (id) && !json_is_integer (id))
        return invalid (why, whylen, "`id` must be a string or an integer");
    json_t *method = json_object_get (msg, "method");
    if (method) {
        if (!json_is_string (method) || !json_string_length (method))
            return invalid (why, whylen, "`method` must be a non-empty string");
        json_t *params = json_object_get (msg, "params");
        if (params && !json_is_object (params) && !json_is_array (params))
            return invalid (why, whylen, "`params` must be an object or an array");
        return id ? MCPC_MSG_REQUEST : MCPC_MSG_NOTIFICATION;
    }
    if (!id)
        return invalid (why, whylen, "neither `method` nor `id`");
    json_t *result = json_object_get (msg, "result");
    json_t *error = json_object_get (msg, "error");
    if (!result == !error)
        return invalid (why, whylen, "a response needs exactly one of `result` and `error`");
    if (error && (!json_is_integer (json_object_get (error, "code"))
                  || !json_is_string (json_object_get (error, "message"))))
        return invalid (why, whylen, "`error` needs an integer `code` and a string `message`");
    return MCPC_MSG_RESPONSE;
}

/* One line's message, or MCPC_MSG_INVALID with why. */
static mcpc_msg_kind_t
parse_line (mcpc_frame_t *self, const char *text, size_t len, json_t **msg, char *why,
            size_t whylen)
{
    if (len > self->line_max) {
        snprintf (why, whylen, "a line is longer than %zu bytes", self->line_max);
        return MCPC_MSG_INVALID;
    }
    json_error_t jerr;
    json_t *value = json_loadb (text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!value) {
        snprintf (why, whylen, "not JSON: %s", jerr.text);
        return MCPC_MSG_INVALID;
    }
    mcpc_msg_kind_t kind = mcpc_msg_classify (value, why, whylen);
    if (kind == MCPC_MSG_INVALID)
        json_decref (value);
    else
        *msg = value;
    return kind;
}

mcpc_msg_kind_t
mcpc_frame_next (mcpc_frame_t *self, json_t **msg, char *why, size_t whylen)
{
    *msg = NULL;
    for (;;) {
        char *start = self->buf + self->off;
        char *nl = self->len > self->off ? memchr (start, '\n', self->len - self->off) : NULL;
        if (!nl) {
            if (!self->overlong)
                return MCPC_MSG_NONE;
            self->overlong = false;
            snprintf (why, whylen, "a line is longer than %zu bytes", self->line_max);
            return MCPC_MSG_INVALID;
        }
        size_t line = (size_t) (nl - start);
        self->off += line + 1;
        if (line && start[line - 1] == '\r')
            line--;
        bool blank = true;
        for (size_t i = 0; i < line && blank; i++)
            blank = start[i] == ' ' || start[i] == '\t';
        mcpc_msg_kind_t kind = blank ? MCPC_MSG_NONE
                               : parse_line (self, start, line, msg, why, whylen);
        if (kind != MCPC_MSG_NONE)
            return kind;
    }
}

json_t *
mcpc_initialize_params (void)
{
    return json_pack ("{s:s, s:{}, s:{s:s, s:s}}", "protocolVersion", "2025-11-25",
                      "capabilities", "clientInfo", "name", "caisson", "version", "1");
}

const char *
mcpc_initialize_version (const json_t *result, char *why, size_t whylen)
{
    const char *version = json_string_value (json_object_get (result, "protocolVersion"));
    if (version && (!strcmp (version, "2025-11-25") || !strcmp (version, "2025-06-18")))
        return version;
    snprintf (why, whylen, "it answered protocol version %.32s, which Caisson does not speak "
              "(2025-11-25, 2025-06-18)", version ? version : "(none)");
    return NULL;
}

char *
mcpc_frame_request (long long id, const char *method, const json_t *params)
{
    json_t *msg = json_pack ("{s:s, s:s}", "jsonrpc", "2.0", "method", method);
    if (id >= 0)
        json_object_set_new (msg, "id", json_integer (id));
    if (params)
        json_object_set (msg, "params", (json_t *) params);
    char *text = json_dumps (msg, JSON_COMPACT);
    json_decref (msg);
    size_t n = strlen (text);
    char *line = xmalloc (n + 2);
    memcpy (line, text, n);
    line[n] = '\n';
    line[n + 1] = '\0';
    free (text);
    return line;
}

char *
mcpc_frame_answer (const json_t *msg)
{
    const char *method = json_string_value (json_object_get (msg, "method"));
    json_t *rep = json_pack ("{s:s, s:O}", "jsonrpc", "2.0", "id", json_object_get (msg, "id"));
    if (method && !strcmp (method, "ping"))
        json_object_set_new (rep, "result", json_object ());
    else
        json_object_set_new (rep, "error", json_pack ("{s:i, s:s}", "code", -32601, "message",
                                                      "Caisson's client does not offer this"));
    char *text = json_dumps (rep, JSON_COMPACT);
    json_decref (rep);
    return text;
}
