/* run_convo: reading a run's conversation (the `messages` a run keeps:
 * the thread's earlier exchanges, then its own) for what its tool calls
 * did: which call a tool message answers, with what arguments, and which
 * sandboxes a call created. verify and run use it; it changes nothing.
 *
 * Shapes: an assistant message holds `tool_calls: [{id, name, args}]`; a
 * tool message `{role: "tool", tool_call_id, name, content}`, content the
 * result as JSON text (cut for the model when long). */
#ifndef CAISSON_RUN_CONVO_H
#define CAISSON_RUN_CONVO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* The arguments (borrowed) of the call tool message `upto` of messages
 * answers, found in the assistant messages before it; NULL when none. */
const json_t *run_convo_args (const json_t *messages, size_t upto);
/* The result in tool message m (new; NULL when it is not JSON). */
json_t *run_convo_result (const json_t *m);
/* The sandbox a call created: its result names a `sandboxId` its
 * arguments did not (createSandbox). NULL, or borrowed from result. */
const char *run_convo_created (const json_t *args, const json_t *result);
/* True when a tool message among messages [from, to) reports creating
 * sandbox_id. */
bool run_convo_creates (const json_t *messages, size_t from, size_t to,
                        const char *sandbox_id);

#endif
