/* profilefetch: the profile version a new run uses (proto/profiles.def),
 * asked of event-log at run.start without blocking the loop, and the
 * settings its body gives the run.
 *
 * A profile is kept by event-log for every orchestrator instance; the
 * orchestrator asks at each run.start (`profile.resolve`) so an
 * activation or a rollback takes effect for the next run, with no
 * restart. The body is untrusted here as anywhere: its keys are checked
 * again before the run uses them. */
#ifndef CAISSON_PROFILEFETCH_H
#define CAISSON_PROFILEFETCH_H

#include "rpc.h"
#include <jansson.h>
#include <stdint.h>

#define PROFILE_NAME_MAX 32

/* Told the answer once, from the loop: profile (new; {name, version,
 * body, role}) when event-log resolved one; else NULL with code
 * `not_found` (no such profile or version, or an event-log that serves no
 * profiles), event-log's other error code, or `unavailable` when it did
 * not answer, and why. */
typedef void (profilefetch_fn) (json_t *profile, const char *code, const char *why, void *arg);

/* Parses run.start's `profile`, `name` or `name@version` (version >= 1)
 * into name (PROFILE_NAME_MAX + 1 bytes) and version (0: unpinned).
 * spec NULL or empty: `default`, unpinned. Returns 0, or -1 with why. */
int profilefetch_parse (const char *spec, char *name, uint64_t *version, char *why,
                        size_t whylen);

/* Asks event-log for name's version (0: the active one, or the
 * candidate by thread's share) on behalf of cause (borrowed). Returns 0,
 * or -1 (fn not called). */
int profilefetch_start (rpc_t *rpc, const proto_msg_t *cause, const char *name,
                        uint64_t version, const char *thread, profilefetch_fn *fn, void *arg);

/* What a run keeps of a resolved profile (new): {label `name@version`,
 * systemPrompt?, toolDescriptions?}, with its body's budgets, checks and
 * model checked into budgets (new object or NULL), checks (new array or
 * NULL) and model (new string or NULL). NULL with why naming the key when
 * the body is not a profile's. */
json_t *profilefetch_settings (const json_t *profile, json_t **budgets, json_t **checks,
                               char **model, char *why, size_t whylen);

#endif
