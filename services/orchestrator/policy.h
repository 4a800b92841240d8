/* policy: whether a tool call runs, waits for a human, or is refused.
 *
 * Tools that mutate beyond the sandbox (tools.list says `mutates`; also
 * repo.applyDiff unless it is a dry run) are gated. A run's policy (JSON,
 * see proto/runs.def) overrides the deployment's (CAISSON_APPROVAL,
 * CAISSON_AUTO_APPROVE): `approval` "ask" (default) holds gated calls for
 * approval, "auto" runs them, "never" refuses them; `autoApprove` lists
 * tool-name patterns (fnmatch) that run without asking; `deny` lists
 * patterns refused outright, gated or not. */
#ifndef CAISSON_POLICY_H
#define CAISSON_POLICY_H

#include <jansson.h>
#include <stdbool.h>

typedef enum { POLICY_RUN, POLICY_ASK, POLICY_DENY } policy_verdict_t;

/* The verdict for calling tool with args under policy (may be NULL),
 * given whether the catalogue says it mutates. */
policy_verdict_t policy_check (const json_t *policy, const char *tool, const json_t *args,
                               bool mutates);

/* The deployment's policy merged under a run's (a new object). */
json_t *policy_effective (const json_t *run_policy);

#endif
