/* run_recall: what the automatic recall found, in the run's requests
 * (part of the run module, see run_int.h). The search is the host's
 * (runhost, before the first step); the run keeps its data and shows it,
 * fenced as data with a nonce new in every request, as a user message
 * just before its task: after the thread's history (which it is not part
 * of, so a follow-up does not inherit it), before the run's own turns. */
#include "run_int.h"
#include "clog.h"
#include "fence.h"
#include "llm_provider.h"
#include "prompt.h"

#include <stdlib.h>
#include <string.h>

#define RECALLED_MAX 16384          /* bytes of recalled data shown, at most */

/* The bytes of recalled data shown: an eighth of the model's context
 * window at most (a token is about 4 bytes), so that recall never takes
 * the room a run needs, nor makes a small window's run fail. */
static size_t
recalled_max (const run_t *r)
{
    uint64_t cap = llm_provider_context (r->model) / 8 * 4;
    return cap && cap < RECALLED_MAX ? (size_t) cap : RECALLED_MAX;
}

void
run_set_recalled (run_t *r, const char *data)
{
    free (r->recalled);
    r->recalled = data && *data ? strdup (data) : NULL;
    r->host->save (r->arg);
}

uint64_t
run_recall_tokens (const run_t *r)
{
    return run_fenced_tokens (r->recalled ? strlen (r->recalled) : 0, recalled_max (r));
}

json_t *
run_recall_messages (run_t *r, json_t *messages)
{
    if (!r->recalled)
        return messages;
    fence_t *fence = fence_new ();
    char *fenced = fence ? fence_wrap (fence, "recalled", r->recalled, strlen (r->recalled),
                                       recalled_max (r)) : NULL;
    char *text = fenced ? prompt_recalled (fenced) : NULL;
    fence_destroy (&fence);
    free (fenced);
    if (!text) {
        clog_error (r->id, "recalled messages left out of the request: no random nonce");
        return messages;
    }
    json_t *m = json_pack ("{s:s, s:s}", "role", "user", "content", text);
    free (text);
    return run_before_task (r, messages, m);
}
