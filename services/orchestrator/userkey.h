/* userkey: the virtual keys the orchestrator's calls for a user outside a
 * run's own turns go through the model gateway with
 * (CAISSON_GATEWAY_ORCHESTRATOR=1): the thread titler's completion and
 * recall's embeddings. Like a run's key, one is minted by gateway-keys for
 * the user (kind `run`, named `orchestrator`, no run), so the user's
 * budget covers these calls and they are in the user's spend. One key per
 * user is kept, expiring after USERKEY_TTL_MS and replaced a while before;
 * callers waiting for the same user's key share one mint. */
#ifndef CAISSON_USERKEY_H
#define CAISSON_USERKEY_H

#include "rpc.h"

#define USERKEY_TTL_MS (60 * 60 * 1000)

typedef struct _userkey_t userkey_t;

/* key (borrowed for the call) is user's virtual key, or NULL with error
 * when none could be made. */
typedef void (userkey_fn) (const char *key, const char *error, void *arg);

/* Keys minted through rpc (borrowed, outliving it). */
userkey_t *userkey_new (rpc_t *rpc);
/* Drops the keys held (they lapse at their expiry) and the waiting
 * callers (their callbacks never run). */
void userkey_destroy (userkey_t **self_p);

/* user's key. Returns 1 with *key set (borrowed until the next call) when
 * one is held; 0 when it is being minted: fn runs with it once
 * gateway-keys answers (never from inside this call); -1 when the mint
 * cannot be sent (fn never runs). */
int userkey_get (userkey_t *self, const char *user, const char **key, userkey_fn *fn,
                 void *arg);

/* Drops every waiting call of arg: its callback never runs. */
void userkey_forget (userkey_t *self, const void *arg);

#endif
