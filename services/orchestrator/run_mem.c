/* run_mem: the run's working memory (part of the run module, see
 * run_int.h): the read for each model turn (made while the previous turn's
 * tool calls run, and again when over MEM_FRESH_US old), the memory shown
 * to the model fenced as data (libcommon/fence.h), and the event of an
 * agent's change. */
#include "run_int.h"
#include "clog.h"
#include "fence.h"
#include "memtool.h"
#include "prompt.h"

#include <stdlib.h>
#include <string.h>

uint64_t
run_fenced_tokens (size_t len, size_t max)
{
    /* the fence and its escapes grow the text a little; bytes / 4 as condense.c */
    return len ? ((len < max ? len : max) * 5 / 4 + 512) / 4 : 0;
}

uint64_t
run_mem_tokens (run_t *r, const char *memory)
{
    return run_fenced_tokens (strlen (memory), r->mem_max ? r->mem_max : 8192);
}

json_t *
run_mem_messages (run_t *r, const json_t *view, const char *memory)
{
    if (!memory || !*memory)
        return json_incref ((json_t *) view);
    fence_t *fence = fence_new ();
    size_t max = r->mem_max ? r->mem_max : 8192;
    char *fenced = fence ? fence_wrap (fence, "working_memory", memory, strlen (memory), max)
                         : NULL;
    char *text = fenced ? prompt_memory (fenced, (unsigned long long) r->mem_version,
                                         strlen (memory), max) : NULL;
    fence_destroy (&fence);
    free (fenced);
    if (!text) {
        clog_error (r->id, "working memory left out of the request: no random nonce");
        return json_incref ((json_t *) view);
    }
    json_t *messages = json_pack ("[{s:s, s:s}]", "role", "user", "content", text);
    free (text);
    json_array_extend (messages, (json_t *) view);
    return messages;
}

bool
run_mem_ask (run_t *r)
{
    if (r->mem != MEM_NONE)
        return true;
    if (!r->host->memory || r->host->memory (r->arg))
        return false;
    r->mem = MEM_ASKED;
    return true;
}

/* The next model turn, showing the memory read for it. */
static void
memory_turn (run_t *r, const json_t *cat)
{
    r->mem_on = r->mem_ok;
    r->mem_version = r->mem_read_version;
    r->mem_max = r->mem_read_max;
    char *text = r->mem_text;
    r->mem_text = NULL;
    r->mem = MEM_NONE;
    run_model_turn (r, cat, r->mem_on ? text : NULL);
    free (text);
}

void
run_mem_next_turn (run_t *r, const json_t *cat)
{
    /* the working memory is read for every turn (a person may have
     * edited it since the last), and a read older than MEM_FRESH_US again */
    if (r->mem == MEM_READY && r->host->clock_us (r->arg) - r->mem_read_us > MEM_FRESH_US) {
        free (r->mem_text);
        r->mem_text = NULL;
        r->mem = MEM_NONE;
    }
    if (r->mem == MEM_READY) {
        memory_turn (r, cat);
        return;
    }
    if (run_mem_ask (r)) {
        r->phase = PHASE_MEMORY;
        return;
    }
    r->mem_on = false;
    run_model_turn (r, cat, NULL);
}

void
run_memory_done (run_t *r, bool ok, const char *content, uint64_t version, uint64_t max)
{
    if (r->mem != MEM_ASKED)
        return;
    r->mem = MEM_READY;
    r->mem_ok = ok;
    free (r->mem_text);
    r->mem_text = ok ? strdup (content ? content : "") : NULL;
    r->mem_read_version = ok ? version : 0;
    r->mem_read_max = max;
    r->mem_read_us = r->host->clock_us (r->arg);
    if (r->phase != PHASE_MEMORY || r->status != PROTO_RUN_running)
        return;             /* read ahead, while the turn's tool calls run */
    r->phase = PHASE_IDLE;
    const json_t *cat = run_catalogue (r, RUN_CAT_ANY);    /* the turn's, fetched for it */
    if (cat)
        memory_turn (r, cat);
}

void
run_mem_ahead (run_t *r, const json_t *calls)
{
    size_t i;
    json_t *c;
    json_array_foreach (calls, i, c)
        if (memtool_is (run_str_of (c, "name")))
            return;
    run_mem_ask (r);
}

void
run_mem_changed (run_t *r, const json_t *result)
{
    r->mem_version = (uint64_t) json_integer_value (json_object_get (result, "version"));
    run_emit (r, EVK_working_memory_updated,
              EVK (working_memory_updated, .scope = run_str_of (result, "scope") ?: "user",
                   .thread = run_str_of (result, "thread"), .version = r->mem_version,
                   .bytes = (uint64_t) json_integer_value (json_object_get (result, "bytes")),
                   .by = "agent"));
}
