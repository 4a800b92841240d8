/* llm_stream: feeds SSE events to the protocol's handler and accumulates
 * the turn (see llm.h). */
#include "llm.h"
#include "sse.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _llm_stream_t {
    llm_proto_t proto;
    sse_t *sse;
    llm_turn_t turn;
    llm_delta_fn *fn;
    void *arg;
};

static int
on_event (const char *event, const char *data, size_t len, void *arg)
{
    llm_stream_t *self = arg;
    (void) event;               /* Anthropic repeats the name in the data's type */
    if (self->turn.error[0])
        return -1;
    if (self->proto == LLM_OPENAI)
        return llm_openai_event (&self->turn, data, len, self->fn, self->arg);
    return llm_anthropic_event (&self->turn, data, len, self->fn, self->arg);
}

llm_stream_t *
llm_stream_new (llm_proto_t proto, llm_delta_fn *fn, void *arg)
{
    llm_stream_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->proto = proto;
    self->fn = fn;
    self->arg = arg;
    self->sse = sse_new (LLM_MAX_TEXT, on_event, self);
    if (!self->sse)
        llm_stream_destroy (&self);
    return self;
}

void
llm_stream_destroy (llm_stream_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    llm_stream_t *self = *self_p;
    sse_destroy (&self->sse);
    free (self->turn.text);
    for (size_t i = 0; i < LLM_MAX_CALLS; i++) {
        free (self->turn.calls[i].id);
        free (self->turn.calls[i].name);
        free (self->turn.calls[i].args);
    }
    free (self);
    *self_p = NULL;
}

static int
sse_status (llm_stream_t *self, int rc)
{
    if (rc && !self->turn.error[0])
        llm_turn_fail (&self->turn, "bad event stream: %s", sse_error (self->sse));
    return rc;
}

int
llm_stream_feed (llm_stream_t *self, const char *data, size_t len)
{
    if (self->turn.error[0])
        return -1;
    return sse_status (self, sse_feed (self->sse, data, len));
}

int
llm_stream_finish (llm_stream_t *self)
{
    if (self->turn.error[0] || sse_status (self, sse_finish (self->sse)))
        return -1;
    if (!self->turn.complete) {
        llm_turn_fail (&self->turn, "stream cut: the response ended before the model finished");
        return -1;
    }
    for (size_t i = 0; i < self->turn.ncalls; i++) {
        llm_call_t *c = &self->turn.calls[i];
        if (!c->name || !c->name[0]) {
            llm_turn_fail (&self->turn, "tool call %zu has no name", i);
            return -1;
        }
    }
    self->turn.finish = llm_finish_of (self->proto, self->turn.stop, self->turn.ncalls);
    return 0;
}

const char *
llm_finish_name (llm_finish_t finish)
{
    static const char *const names[] = { "none", "stop", "tool_calls", "length",
                                         "content_filter", "error" };
    return (size_t) finish < sizeof names / sizeof names[0] ? names[finish] : "none";
}

llm_finish_t
llm_finish_of (llm_proto_t proto, const char *stop, size_t ncalls)
{
    static const struct { const char *stop; llm_finish_t finish; } map[] = {
        { "length", LLM_FINISH_LENGTH },        /* OpenAI and its kin */
        { "content_filter", LLM_FINISH_FILTER },
        { "tool_calls", LLM_FINISH_TOOL_CALLS },
        { "function_call", LLM_FINISH_TOOL_CALLS },
        { "stop", LLM_FINISH_STOP },
        { "max_tokens", LLM_FINISH_LENGTH },    /* Anthropic */
        { "model_context_window_exceeded", LLM_FINISH_LENGTH },
        { "refusal", LLM_FINISH_FILTER },
        { "tool_use", LLM_FINISH_TOOL_CALLS },
        { "end_turn", LLM_FINISH_STOP },
        { "stop_sequence", LLM_FINISH_STOP },
    };
    (void) proto;               /* the two vocabularies do not overlap */
    for (size_t i = 0; stop && i < sizeof map / sizeof map[0]; i++)
        if (strcmp (stop, map[i].stop) == 0)
            return map[i].finish;
    return ncalls ? LLM_FINISH_TOOL_CALLS : LLM_FINISH_STOP;
}

void
llm_turn_estimate (llm_turn_t *turn, size_t request_bytes)
{
    if (turn->usage)
        return;
    size_t out = turn->text_len;
    for (size_t i = 0; i < turn->ncalls; i++)
        out += (turn->calls[i].name ? strlen (turn->calls[i].name) : 0) + turn->calls[i].args_len;
    turn->input_tokens = request_bytes / 4 ? request_bytes / 4 : 1;
    turn->output_tokens = out / 4 ? out / 4 : 1;
    turn->estimated = true;
}

llm_turn_t *
llm_stream_turn (llm_stream_t *self)
{
    return &self->turn;
}

void
llm_turn_fail (llm_turn_t *turn, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (turn->error, sizeof turn->error, fmt, ap);
    va_end (ap);
}

static int
grow (char **buf, size_t *len, size_t *cap, const char *src, size_t n)
{
    if (*len + n > LLM_MAX_TEXT)
        return -1;
    if (*len + n + 1 > *cap) {
        size_t ncap = *cap ? *cap : 128;
        while (ncap < *len + n + 1)
            ncap *= 2;
        char *nb = realloc (*buf, ncap);
        if (!nb)
            return -1;
        *buf = nb;
        *cap = ncap;
    }
    memcpy (*buf + *len, src, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

int
llm_turn_text (llm_turn_t *turn, const char *text, size_t len)
{
    if (grow (&turn->text, &turn->text_len, &turn->text_cap, text, len)) {
        llm_turn_fail (turn, "model text larger than %u bytes", LLM_MAX_TEXT);
        return -1;
    }
    return 0;
}

llm_call_t *
llm_turn_call (llm_turn_t *turn, size_t index)
{
    if (index >= LLM_MAX_CALLS) {
        llm_turn_fail (turn, "more than %d tool calls in one turn", LLM_MAX_CALLS);
        return NULL;
    }
    if (index >= turn->ncalls)
        turn->ncalls = index + 1;
    return &turn->calls[index];
}

int
llm_call_args (llm_turn_t *turn, llm_call_t *call, const char *frag, size_t len)
{
    if (grow (&call->args, &call->args_len, &call->args_cap, frag, len)) {
        llm_turn_fail (turn, "tool call arguments larger than %u bytes", LLM_MAX_TEXT);
        return -1;
    }
    return 0;
}

char *
llm_wire_name (const char *name)
{
    size_t n = strlen (name);
    char *out = malloc (2 * n + 1), *p = out;
    if (!out)
        return NULL;
    for (const char *s = name; *s; s++) {
        if (*s == '.') {
            *p++ = '_';
            *p++ = '_';
        }
        else
            *p++ = *s;
    }
    *p = '\0';
    return out;
}

char *
llm_tool_name (const char *wire)
{
    char *out = malloc (strlen (wire) + 1), *p = out;
    if (!out)
        return NULL;
    for (const char *s = wire; *s; s++) {
        if (s[0] == '_' && s[1] == '_') {
            *p++ = '.';
            s++;
        }
        else
            *p++ = *s;
    }
    *p = '\0';
    return out;
}

bool
llm_wire_name_ok (const char *name)
{
    size_t n = 0;
    for (const char *s = name; *s; s++) {
        bool ok = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')
                  || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || *s == '.';
        if (!ok)
            return false;
        n += *s == '.' ? 2 : 1;
    }
    return n >= 1 && n <= 64;
}

bool
llm_error_retryable (const char *type)
{
    static const char *const final[] = {
        "invalid_request_error", "authentication_error", "permission_error",
        "not_found_error", "request_too_large", "invalid_api_key", "insufficient_quota",
    };
    for (size_t i = 0; type && i < sizeof final / sizeof final[0]; i++)
        if (strcmp (type, final[i]) == 0)
            return false;
    return true;
}
