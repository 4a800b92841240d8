/* agui: the event translation. See agui.h. */
#include "agui.h"
#include "proto.h"
#include "evkind.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _agui_t {
    char thread_id[160];
    char run_id[160];
    char crun[160];
    char message_id[192];       /* the open text message, "" when none */
    uint64_t message_step;      /* the model turn it shows (0: not known) */
    unsigned messages;          /* text messages opened so far */
    char *streamed;             /* delta text sent since the last stored text, NULL: none */
    uint64_t streamed_step;     /* the turn streamed is of (0: not known) */
    /* the message a later turn's deltas closed before its stored text came */
    uint64_t closed_step;
    char *closed_streamed;
    uint64_t stored_step;       /* the step of the last stored step_started (0: none) */
    char step[64];              /* the open step's name, "" when none */
    unsigned steps;
    bool done;
};

agui_t *
agui_new (const char *thread_id, const char *run_id, const char *crun)
{
    agui_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    snprintf (self->thread_id, sizeof self->thread_id, "%s", thread_id);
    snprintf (self->run_id, sizeof self->run_id, "%s", run_id);
    snprintf (self->crun, sizeof self->crun, "%s", crun);
    return self;
}

void
agui_destroy (agui_t **self_p)
{
    if (self_p && *self_p) {
        free ((*self_p)->streamed);
        free ((*self_p)->closed_streamed);
        free (*self_p);
        *self_p = NULL;
    }
}

static void
emit (json_t *out, const char *type, json_t *fields)
{
    json_object_set_new (fields, "type", json_string (type));
    json_array_append_new (out, fields);
}

static void
state_delta (agui_t *self, json_t *out, const char *path, json_t *value)
{
    (void) self;
    if (!value)
        return;
    emit (out, "STATE_DELTA",
          json_pack ("{s:[{s:s,s:s,s:o}]}", "delta", "op", "add", "path", path, "value", value));
}

static void
close_message (agui_t *self, json_t *out)
{
    if (!*self->message_id)
        return;
    emit (out, "TEXT_MESSAGE_END", json_pack ("{s:s}", "messageId", self->message_id));
    self->message_id[0] = '\0';
    self->message_step = 0;
}

/* Closes the open message when it shows a turn before turn `before`
 * (0: not known, close it): a stored event ends only its own and earlier
 * turns' text, never a later turn's, whose deltas may come before it. */
static void
close_message_before (agui_t *self, json_t *out, uint64_t before)
{
    if (!before || !self->message_step || self->message_step < before)
        close_message (self, out);
}

static void
open_message (agui_t *self, json_t *out)
{
    if (*self->message_id)
        return;
    snprintf (self->message_id, sizeof self->message_id, "%s-m%u", self->run_id,
              ++self->messages);
    emit (out, "TEXT_MESSAGE_START",
          json_pack ("{s:s,s:s}", "messageId", self->message_id, "role", "assistant"));
}

/* text as a message of its own (a fresh id), beside any open one. */
static void
whole_message (agui_t *self, json_t *out, const char *text)
{
    if (!text || !*text)
        return;
    char id[192];
    snprintf (id, sizeof id, "%s-m%u", self->run_id, ++self->messages);
    emit (out, "TEXT_MESSAGE_START", json_pack ("{s:s,s:s}", "messageId", id, "role",
                                                "assistant"));
    emit (out, "TEXT_MESSAGE_CONTENT", json_pack ("{s:s,s:s}", "messageId", id, "delta", text));
    emit (out, "TEXT_MESSAGE_END", json_pack ("{s:s}", "messageId", id));
}

/* Ends the open step, and its text unless a later turn's (see
 * close_message_before). */
static void
close_step_before (agui_t *self, json_t *out, uint64_t before)
{
    close_message_before (self, out, before);
    if (!*self->step)
        return;
    emit (out, "STEP_FINISHED", json_pack ("{s:s}", "stepName", self->step));
    self->step[0] = '\0';
}

static void
close_step (agui_t *self, json_t *out)
{
    close_message (self, out);
    if (!*self->step)
        return;
    emit (out, "STEP_FINISHED", json_pack ("{s:s}", "stepName", self->step));
    self->step[0] = '\0';
}

static void
content (agui_t *self, json_t *out, const char *text)
{
    if (!text || !*text)
        return;                 /* the schema wants a non-empty delta */
    open_message (self, out);
    emit (out, "TEXT_MESSAGE_CONTENT",
          json_pack ("{s:s,s:s}", "messageId", self->message_id, "delta", text));
}

/* A delta of model turn step (0: not known): sent at once, and
 * remembered until the stored text it is part of arrives. A later turn's
 * delta closes the earlier turn's message first: each turn is a message
 * of its own, whatever order the stored events come in. */
static void
delta (agui_t *self, json_t *out, const char *text, uint64_t step)
{
    if (!text || !*text)
        return;
    if (step && self->streamed && self->streamed_step && step > self->streamed_step) {
        /* an earlier turn's text, whose stored text is still to come */
        free (self->closed_streamed);
        self->closed_streamed = self->streamed;
        self->closed_step = self->streamed_step;
        self->streamed = NULL;
        self->streamed_step = 0;
        close_message_before (self, out, step);
    }
    size_t have = self->streamed ? strlen (self->streamed) : 0, add = strlen (text);
    char *grown = realloc (self->streamed, have + add + 1);
    if (!grown)
        return;
    memcpy (grown + have, text, add + 1);
    self->streamed = grown;
    content (self, out, text);
    self->message_step = self->streamed_step = step;
}

/* A stored turn text. Deltas come before their stored events (published
 * at once, not after a commit), so a stored event may close the message
 * they opened, and the next turn's deltas may come before this text:
 * the part already streamed is not sent again, only what is missing. */
static void
stored_text (agui_t *self, json_t *out, const char *text)
{
    size_t n = text ? strlen (text) : 0, s = self->streamed ? strlen (self->streamed) : 0;
    if (!s)
        content (self, out, text);                  /* replayed: the whole message */
    else if (n >= s && !strncmp (text, self->streamed, s))
        content (self, out, text + s);              /* the rest of it */
    if (s > n && !strncmp (self->streamed, text ? text : "", n)) {
        /* the next turn's deltas came first: keep them for its text */
        memmove (self->streamed, self->streamed + n, s - n + 1);
        return;
    }
    free (self->streamed);
    self->streamed = NULL;
    self->streamed_step = 0;
}

/* The stored text of step (0: not known), whose message a later turn's
 * deltas may have closed, or opened beside it: it goes where it belongs,
 * only what was not streamed is sent, and a later turn's message stays
 * open. */
static void
turn_text (agui_t *self, json_t *out, const char *text, uint64_t step)
{
    if (step && self->closed_step == step) {
        size_t s = self->closed_streamed ? strlen (self->closed_streamed) : 0;
        if (text && strlen (text) > s && !strncmp (text, self->closed_streamed, s))
            whole_message (self, out, text + s);
        free (self->closed_streamed);
        self->closed_streamed = NULL;
        self->closed_step = 0;
        return;
    }
    if (step && self->message_step > step) {
        whole_message (self, out, text);        /* never streamed: its own message */
        return;
    }
    stored_text (self, out, text);
    close_message (self, out);
}

void
agui_start (agui_t *self, json_t *out)
{
    emit (out, "RUN_STARTED", json_pack ("{s:s,s:s}", "threadId", self->thread_id, "runId",
                                         self->run_id));
    emit (out, "STATE_SNAPSHOT",
          json_pack ("{s:{s:s,s:s}}", "snapshot", "caissonRunId", self->crun, "status",
                     proto_run_status_name (PROTO_RUN_running)));
}

static void
finish (agui_t *self, json_t *out, json_t *outcome, json_t *result)
{
    close_step (self, out);
    json_t *ev = json_pack ("{s:s,s:s}", "threadId", self->thread_id, "runId", self->run_id);
    if (outcome)
        json_object_set_new (ev, "outcome", outcome);
    if (result)
        json_object_set_new (ev, "result", result);
    emit (out, "RUN_FINISHED", ev);
    self->done = true;
}

void
agui_fail (agui_t *self, const char *code, const char *message, json_t *out)
{
    if (self->done)
        return;
    close_step (self, out);
    emit (out, "RUN_ERROR", json_pack ("{s:s,s:s}", "message", message, "code", code));
    self->done = true;
}

/* A string field of an event's data, NULL when absent. */
static const char *
str_of (json_t *data, const char *key)
{
    return json_string_value (json_object_get (data, key));
}

/* A tool call's TOOL_CALL_START/ARGS/END; a client tool's call also ends
 * the stream, since the run now waits for the client. Returns false when
 * the event is unusable. */
static bool
tool_call (agui_t *self, json_t *data, uint64_t run_seq, json_t *out)
{
    close_message_before (self, out, self->stored_step ? self->stored_step + 1 : 0);
    const char *id = str_of (data, "toolCallId");
    const char *name = str_of (data, "name");
    bool client = json_is_true (json_object_get (data, "client"));
    if (!id || !name)
        return false;
    char cid[512];
    if (client) {
        snprintf (cid, sizeof cid, "%s:%s:%llu", self->crun, id, (unsigned long long) run_seq);
        id = cid;
    }
    emit (out, "TOOL_CALL_START", json_pack ("{s:s,s:s}", "toolCallId", id, "toolCallName", name));
    json_t *args = json_object_get (data, "args");
    char *text = json_dumps (args ? args : json_object (), JSON_COMPACT | JSON_ENCODE_ANY);
    if (text && *text)
        emit (out, "TOOL_CALL_ARGS", json_pack ("{s:s,s:s}", "toolCallId", id, "delta", text));
    free (text);
    emit (out, "TOOL_CALL_END", json_pack ("{s:s}", "toolCallId", id));
    if (client) {
        close_step (self, out);
        state_delta (self, out, "/status", json_string ("awaiting_tool_result"));
        finish (self, out, NULL, NULL);
    }
    return true;
}

static bool
tool_result (agui_t *self, json_t *data, json_t *out)
{
    (void) self;
    const char *id = str_of (data, "toolCallId");
    /* a client tool's result is the client's own tool message */
    if (!id || json_is_true (json_object_get (data, "client")))
        return false;
    json_t *result = json_object_get (data, "result");
    char *text = result ? json_dumps (result, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    char mid[192];
    snprintf (mid, sizeof mid, "%s-result", id);
    emit (out, "TOOL_CALL_RESULT", json_pack ("{s:s,s:s,s:s,s:s}", "messageId", mid,
                                              "toolCallId", id, "content", text ? text : "null",
                                              "role", "tool"));
    free (text);
    return true;
}

/* The approval interrupt: a RUN_FINISHED whose outcome names the call. */
static bool
ask_approval (agui_t *self, json_t *data, uint64_t run_seq, json_t *out)
{
    const char *call = str_of (data, "toolCallId");
    const char *name = str_of (data, "name");
    if (!call)
        return false;
    state_delta (self, out, "/status", json_string ("awaiting_approval"));
    char id[512], message[512];
    snprintf (id, sizeof id, "%s:%s:%llu", self->crun, call, (unsigned long long) run_seq);
    snprintf (message, sizeof message, "Allow the agent to run %s?", name ? name : "this tool");
    json_t *interrupt = json_pack ("{s:s,s:s,s:s,s:s}", "id", id, "reason", "confirmation",
                                   "toolCallId", call, "message", message);
    json_t *args = json_object_get (data, "args");
    if (args)
        json_object_set_new (interrupt, "metadata",
                             json_pack ("{s:s,s:O}", "tool", name ? name : "", "args", args));
    finish (self, out, json_pack ("{s:s,s:[o]}", "type", "interrupt", "interrupts", interrupt),
            NULL);
    return true;
}

bool
agui_feed (agui_t *self, const char *kind, json_t *data, uint64_t run_seq, json_t *out)
{
    if (self->done)
        return true;
    /* the payloads are as proto/events.def declares them */
    switch (evk_lookup (kind)) {
        case EVK_text_delta:
            delta (self, out, str_of (data, "text"),
                   (uint64_t) json_integer_value (json_object_get (data, "step")));
            break;
        case EVK_text:
            /* The whole text of a step's message: after its deltas it only
             * closes the message (with any part they missed); replayed
             * from history it is the message. */
            turn_text (self, out, str_of (data, "text"), self->stored_step);
            break;
        case EVK_step_started: {
            uint64_t step = (uint64_t) json_integer_value (json_object_get (data, "step"));
            close_step_before (self, out, step);
            self->stored_step = step;
            snprintf (self->step, sizeof self->step, "step %u", ++self->steps);
            emit (out, "STEP_STARTED", json_pack ("{s:s}", "stepName", self->step));
            break;
        }
        case EVK_step_finished:
            close_step_before (self, out, self->stored_step ? self->stored_step + 1 : 0);
            break;
        case EVK_tool_call:
            if (!tool_call (self, data, run_seq, out))
                return false;
            break;
        case EVK_tool_result:
            if (!tool_result (self, data, out))
                return false;
            break;
        case EVK_plan:
            state_delta (self, out, "/plan", json_incref (data));
            break;
        case EVK_ask_approval:
            if (!ask_approval (self, data, run_seq, out))
                return false;
            break;
        case EVK_complete: {
            close_step (self, out);
            state_delta (self, out, "/status", json_string ("completed"));
            json_t *answer = json_object_get (data, "answer");
            finish (self, out, NULL, answer ? json_incref (answer) : NULL);
            break;
        }
        case EVK_failed: {
            /* Every ending keeps its name: a cancelled run finishes with
             * AG-UI 1.0's `cancelled` outcome (it did not fail); any other
             * is a RUN_ERROR whose code is the run's status. */
            close_step (self, out);
            const char *status = str_of (data, "status");
            const char *why = str_of (data, "reason");
            status = status && *status ? status : "failed";
            state_delta (self, out, "/status", json_string (status));
            if (!strcmp (status, "cancelled"))
                finish (self, out, json_pack ("{s:s}", "type", "cancelled"), NULL);
            else {
                emit (out, "RUN_ERROR", json_pack ("{s:s,s:s}", "message",
                                                   why && *why ? why : "the run failed",
                                                   "code", status));
                self->done = true;
            }
            break;
        }
        default:
            break;
    }
    return self->done;
}

int
agui_interrupt_parse (const char *id, char *crun, char *call, uint64_t *run_seq)
{
    const char *a = strchr (id, ':');
    const char *b = a ? strrchr (a + 1, ':') : NULL;
    if (!a || !b || a == id || b == a + 1 || (size_t) (a - id) > 128
        || (size_t) (b - a - 1) > 128)
        return -1;
    char *end;
    unsigned long long seq = strtoull (b + 1, &end, 10);
    if (*end || end == b + 1)
        return -1;
    snprintf (crun, 129, "%.*s", (int) (a - id), id);
    snprintf (call, 129, "%.*s", (int) (b - a - 1), a + 1);
    *run_seq = seq;
    return 0;
}

char *
agui_frame (const json_t *event)
{
    char *text = json_dumps (event, JSON_COMPACT);
    if (!text)
        return NULL;
    size_t n = strlen (text);
    char *frame = malloc (n + 9);
    if (frame)
        snprintf (frame, n + 9, "data: %s\n\n", text);
    free (text);
    return frame;
}
