/* titler: a thread's title, written by the model. After a thread's first
 * run completes, one small completion (no tools, at most 32 tokens) asks
 * the run's model for a short title of that exchange; the answer, cleaned
 * (one line, no quotes, at most 80 bytes), is appended to the run's
 * events as `thread_titled`, which event-log folds into the thread unless
 * a person renamed it. Best effort: a failed call leaves the title event-
 * log made from the first task. */
#ifndef CAISSON_TITLER_H
#define CAISSON_TITLER_H

#include "llm_client.h"
#include "rpc.h"
#include "userkey.h"

/* The system prompt's opening words: the scripted model (llm-replay)
 * recognises a title request by them. */
#define TITLER_PROMPT_START "Name this conversation"

typedef struct _titler_t titler_t;

/* A titler posting through llm and appending through rpc (both borrowed,
 * outliving it); through the model gateway with the users' keys from keys
 * (borrowed; NULL: straight to the provider), so the user's budget covers
 * the title. */
titler_t *titler_new (llm_client_t *llm, rpc_t *rpc, userkey_t *keys);
/* Cancels the requests in flight. */
void titler_destroy (titler_t **self_p);

/* Asks model (of provider p) for a title of thread from its first run's
 * task and answer; the event goes on run, as user. */
void titler_ask (titler_t *self, const llm_provider_t *p, const char *model, const char *run,
                 const char *user, const char *thread, const char *task, const char *answer);

#endif
