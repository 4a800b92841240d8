/* oracle: the scripted model's eval modes (docs/llm-replay.md § Eval
 * modes). Given golden task sets (libcommon/evalset.h) and a plan naming a
 * behaviour per task, a request for the model `oracle` whose conversation
 * holds an eval prompt (evalset_prompt) is answered as that behaviour
 * says: solving the task from its reference solution through the normal
 * tools (writeFiles, and repo.clone and git.openPR where the task needs
 * them), giving up, claiming success without doing anything, making a
 * call the tool refuses, looping on a read-only tool, failing with a
 * provider error, refusing, or hanging. The model `giveup` gives up on
 * every task. Like cassettes it keeps no state: the turn is the number of
 * assistant messages after the prompt. */
#ifndef CAISSON_REPLAY_ORACLE_H
#define CAISSON_REPLAY_ORACLE_H

#include "cassette.h"

#include <jansson.h>
#include <stdbool.h>

typedef struct oracle_t oracle_t;

/* The behaviours, as a plan names them. */
typedef enum {
    ORACLE_SOLVE, ORACLE_GIVEUP, ORACLE_WRONG, ORACLE_TOOLERROR, ORACLE_LOOP, ORACLE_ERROR,
    ORACLE_REFUSE, ORACLE_HANG
} oracle_behaviour_t;

/* How long `hang` waits before its first byte, unless the plan says
 * `hang:SECONDS`. */
#define ORACLE_HANG_S 600

oracle_t *oracle_new (void);
void oracle_destroy (oracle_t **self_p);

/* Adds the task set in dir. 0, or -1 with why (n bytes) naming what did
 * not load. */
int oracle_add_set (oracle_t *self, const char *dir, char *why, size_t n);

/* Reads the plan in file: a JSON object mapping task ids (of the sets
 * added so far) or `*` (every other task) to a behaviour: `oracle`,
 * `giveup`, `wrong`, `toolerror`, `loop`, `error`, `refuse`, `hang` or
 * `hang:SECONDS`. Without a plan every task gets `oracle`. 0, or -1 with
 * why naming the key or value that is wrong. */
int oracle_load_plan (oracle_t *self, const char *file, char *why, size_t n);

/* How many tasks the sets hold. */
size_t oracle_size (const oracle_t *self);

/* Answers a request for model (the wire's model name: `oracle`, or
 * anything ending in `/oracle`; the same for `giveup`) with conversation
 * conv (cassette.h's neutral form): fills r (release with
 * cassette_reply_clear) and returns true when conv holds an eval prompt
 * of a loaded task and the model is one of the two; false (r untouched)
 * otherwise, for the cassettes to answer. Thread-safe. */
bool oracle_play (const oracle_t *self, const char *model, const json_t *conv,
                  cassette_reply_t *r);

#endif
