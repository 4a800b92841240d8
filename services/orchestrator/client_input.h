/* client_input: what a run's caller (an AG-UI client, through ui-bridge)
 * sends besides its task: context entries, application state, and the
 * messages of its history that the thread's stored turns lack (run.start
 * `context`, `state`, `client_history`; proto/runs.def). None of it is
 * an instruction: the model is shown it in one user message before the
 * run's task, each part in a fenced data block (libcommon/fence.h) of
 * kind agui_context, agui_state or agui_history, a client `system`
 * message included.
 *
 * The input is checked once, at run.start, and kept with the run (its
 * JSON form): {context?: [{description, value}], state?: any, history?:
 * [{role, content}], matched, ignored, why?}. */
#ifndef CAISSON_CLIENT_INPUT_H
#define CAISSON_CLIENT_INPUT_H

#include <jansson.h>
#include <stddef.h>

#define CLIENT_INPUT_MAX_CONTEXT 32             /* entries */
#define CLIENT_INPUT_MAX_TEXT (32u << 10)       /* context text; state as compact JSON */
#define CLIENT_INPUT_MAX_DEPTH 16               /* state nesting */
#define CLIENT_INPUT_MAX_MESSAGES 64
#define CLIENT_INPUT_MAX_HISTORY (64u << 10)    /* history text */

/* The checked input (new) from run.start's decoded fields (borrowed, each
 * may be NULL); NULL with why filled when one is malformed or over its
 * limit; json_null () when there is nothing to show or record. */
json_t *client_input_check (const json_t *context, const json_t *state,
                            const json_t *history, char *why, size_t whylen);

/* The user message (new, {role: user, content}) that shows input to the
 * model, each part fenced with a fresh nonce; NULL when input holds
 * nothing to show, or no nonce could be made. */
json_t *client_input_message (const json_t *input);

/* The client_input event's payload for input (new, by EVK). */
json_t *client_input_event (const json_t *input);

#endif
