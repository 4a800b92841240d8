/* run: one run's state machine (see run.h): its making, what callers
 * read of it. Its I/O is its host's: the run's files
 * call nothing but the host's functions, client_tools, memtool, verify,
 * policy and jansson. run_model.c makes its model turns, run_calls.c
 * carries out the calls they ask for and advances the run (run_advance). */
#include "run_int.h"
#include "client_input.h"
#include "prompt.h"
#include "client_tools.h"
#include "clog.h"
#include "condense.h"
#include "jsoncap.h"
#include "memtool.h"
#include "policy.h"
#include "recalltool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

run_t *
run_alloc (const run_host_t *host, void *arg)
{
    run_t *r = calloc (1, sizeof *r);
    if (!r)
        return NULL;
    r->host = host;
    r->arg = arg;
    return r;
}

/* The call goes in as the model would have asked it: in the calls and in
 * an assistant message, so the thread's conversation stays whole. */
int
run_make_tool_run (run_t *r, const json_t *tc)
{
    json_t *args = json_object_get (tc, "args");
    r->tool_run = true;
    json_t *calls = json_pack ("[{s:s, s:O, s:o, s:s}]", "id", "call_tool", "name",
                               json_object_get (tc, "name"), "args",
                               args ? json_incref (args) : json_object (), "state", "pending");
    json_t *msg = json_pack ("{s:s, s:[{s:s, s:O, s:O}]}", "role", "assistant", "tool_calls",
                             "id", "call_tool", "name", json_object_get (tc, "name"), "args",
                             json_object_get (json_array_get (calls, 0), "args"));
    json_decref (r->calls);     /* none yet: a new run */
    r->calls = calls;
    return calls && msg && json_array_append_new (r->messages, msg) == 0 ? 0 : -1;
}

run_t *
run_new (const run_host_t *host, void *arg, const run_spec_t *spec)
{
    run_t *r = run_alloc (host, arg);
    if (!r)
        return NULL;
    r->id = strdup (spec->id);
    r->thread = strdup (spec->thread);
    r->model = strdup (spec->model);
    r->user = strdup (spec->user ? spec->user : "");
    r->task = strdup (spec->task);
    r->op = spec->op;
    r->status = PROTO_RUN_running;
    r->messages = json_is_array (spec->history) ? json_copy ((json_t *) spec->history)
                                                : json_array ();
    r->own_from = json_array_size (r->messages);
    r->sandboxes = json_array ();
    json_array_append_new (r->messages, json_pack ("{s:s, s:s}", "role", "user", "content",
                                                   spec->task));
    r->policy = json_incref ((json_t *) spec->policy);
    r->client_tools = json_incref ((json_t *) spec->client_tools);
    r->client_input = json_is_object (spec->client_input)
                    ? json_incref ((json_t *) spec->client_input) : NULL;
    r->max = spec->max;
    r->started_ms = spec->started_ms;
    if (!r->id || !r->thread || !r->model || !r->user || !r->task || !r->messages
        || !r->sandboxes)
        run_destroy (&r);
    return r;
}

void
run_destroy (run_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    run_t *r = *self_p;
    free (r->id);
    free (r->thread);
    free (r->model);
    free (r->user);
    free (r->task);
    free (r->answer);
    free (r->mem_text);
    free (r->recalled);
    json_decref (r->messages);
    json_decref (r->policy);
    json_decref (r->client_tools);
    json_decref (r->client_input);
    json_decref (r->profile);
    json_decref (r->calls);
    json_decref (r->sandboxes);
    json_decref (r->checks);
    json_decref (r->condense);
    free (r);
    *self_p = NULL;
}

const char *run_id (const run_t *self) { return self->id; }
const char *run_user (const run_t *self) { return self->user; }
const char *run_model (const run_t *self) { return self->model; }
uint64_t run_steps (const run_t *self) { return self->steps; }
const char *run_thread (const run_t *self) { return self->thread; }

const char *
run_profile (const run_t *self)
{
    return run_str_of (self->profile, "label") ?: "builtin";
}

void
run_set_profile (run_t *self, const json_t *profile)
{
    json_decref (self->profile);
    self->profile = json_is_object (profile) ? json_incref ((json_t *) profile) : NULL;
}

const char *
run_system_prompt (const run_t *self)
{
    return run_str_of (self->profile, "systemPrompt") ?: prompt_system ();
}
const char *run_task (const run_t *self) { return self->task; }
proto_run_status_t run_status_code (const run_t *self) { return self->status; }
const char *run_status (const run_t *self) { return proto_run_status_name (self->status); }
bool run_op (const run_t *self) { return self->op; }
const json_t *run_messages (const run_t *self) { return self->messages; }

int64_t
run_deadline (const run_t *self)
{
    return self->started_ms + (int64_t) self->max.seconds * 1000;
}

bool
run_live (const run_t *self)
{
    return proto_run_status_live (self->status);
}

json_t *
run_pending (const run_t *self)
{
    json_t *c = json_array_get (self->calls, self->next);
    bool client = self->status == PROTO_RUN_awaiting_tool_result;
    if ((!client && self->status != PROTO_RUN_awaiting_approval) || !c)
        return NULL;
    json_t *p = json_pack ("{s:O, s:O, s:O}", "toolCallId", json_object_get (c, "id"), "name",
                           json_object_get (c, "name"), "args", json_object_get (c, "args"));
    if (client)
        json_object_set_new (p, "client", json_true ());
    return p;
}

/* ---- shared by the run's files ---- */

const json_t *
run_catalogue (run_t *r, run_cat_need_t need)
{
    const json_t *cat = r->host->catalogue (r->arg, need);
    if (!cat)
        r->phase = PHASE_CATALOGUE;
    return cat;
}

void
run_handed_off (run_t *r)
{
    if (r->mark_us)
        r->overhead_us += (uint64_t) (r->host->clock_us (r->arg) - r->mark_us);
    r->mark_us = 0;
}
