/* policy: whether a tool call runs, waits for a human, or is refused, and
 * the floor a run's own policy cannot go below.
 *
 * Tools that mutate beyond the sandbox (tools.list says `mutates`; also
 * repo.applyDiff unless it is a dry run) are gated. The deployment's
 * policy (CAISSON_APPROVAL, CAISSON_AUTO_APPROVE) is a ceiling a run's
 * policy (JSON, see proto/runs.def) may only tighten: `approval` "ask"
 * holds gated calls for approval, "auto" runs them, "never" refuses them
 * (never is stricter than ask, ask than auto); `autoApprove` lists
 * tool-name patterns (fnmatch) that run without asking; `deny` lists
 * patterns refused outright, gated or not (CAISSON_DENY's, and the
 * run's besides); `verify` names checks run
 * before a run may complete (an unknown one is refused). The effective
 * policy also carries the deployment's `verifyOnChange` (checks for runs
 * that change files, CAISSON_RUN_VERIFY_DEFAULT) and `testCommand`
 * (CAISSON_TOOLS_TEST_COMMAND), which verify reads. Loosening (a laxer `approval`, an
 * `autoApprove` pattern the deployment does not list) is an operator's
 * choice only, and only where CAISSON_RUN_ALLOW_AUTO is 1. */
#ifndef CAISSON_POLICY_H
#define CAISSON_POLICY_H

#include <jansson.h>
#include <stdbool.h>

typedef enum { POLICY_RUN, POLICY_ASK, POLICY_DENY } policy_verdict_t;

/* The verdict for calling tool with args under policy (may be NULL),
 * given whether the catalogue says it mutates. */
policy_verdict_t policy_check (const json_t *policy, const char *tool, const json_t *args,
                               bool mutates);

/* The deployment's policy with run_policy (may be NULL) laid over it: a
 * new object. NULL, with why naming the field (`policy.approval`...),
 * when run_policy is malformed or would loosen the deployment's and the
 * caller may not (op: the caller is an operator). */
json_t *policy_effective (const json_t *run_policy, bool op, char *why, size_t whylen);

/* As policy_effective, with checks (a profile's, may be NULL) as the
 * run's `verify` when run_policy names none. */
json_t *policy_effective_checks (const json_t *run_policy, const json_t *checks, bool op,
                                 char *why, size_t whylen);

#endif
