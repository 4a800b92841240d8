/* artifacts: what a call produced that the run must keep (a diff applied
 * or proposed, a test log, a pull request's link), stored with event-log.
 *
 * The bytes go to event-log as `artifact.put` (content-addressed: the same
 * bytes are stored once) on behalf of the call's user, then an `artifact`
 * event {hash, kind, name, size} is appended to the call's run, so the
 * run's record lists it. Both requests carry ids derived from the call id
 * and the artifact's name: a call taken over by another instance puts the
 * same bytes and appends the same event id, which event-log keeps once.
 * Keeping an artifact never fails the call: event-log not answering is
 * logged, and the tool's result stands. */
#ifndef TR_ARTIFACTS_H
#define TR_ARTIFACTS_H

#include <jansson.h>
#include <stddef.h>

#include "toolctx.h"

/* Stores size bytes of data as an artifact of kind (`diff`, `test_log`,
 * `pr_link`) named name for the call's run. Returns a new {hash, kind,
 * name, size} on success; NULL when the call has no run, is a dry run, or
 * event-log did not take it. */
json_t *artifacts_keep (tool_ctx_t *ctx, const char *kind, const char *name, const void *data,
                        size_t size);

#endif
