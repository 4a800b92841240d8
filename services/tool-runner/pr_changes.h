/* pr_changes: what git.openPR would propose, read in the sandbox (see
 * pr_changes.c): the paths the change carries, sorted; the refusal of
 * paths the run may not propose; the dry run's preview. */
#ifndef CAISSON_PR_CHANGES_H
#define CAISSON_PR_CHANGES_H

#include "toolctx.h"

/* The options that make git diff show the change itself whatever the
 * repository's own settings say (a textconv driver, an external diff,
 * colours, other prefixes): what the approver reads is what the bytes
 * are. Attributes outside the tree (.git/info/attributes, which could
 * call a text file binary) are refused above; the tree's own are part of
 * the repository, or of the change shown. */
#define PR_PLAIN_DIFF "git -c core.quotePath=false diff --no-ext-diff --no-textconv " \
    "--no-color --src-prefix=a/ --dst-prefix=b/ --no-relative --ignore-submodules=none " \
    "--no-renames"

/* The paths a pull request would carry, sorted out: to commit, skipped
 * (caches, untracked) and refused (outside the run's write globs, or
 * named so oddly git quotes them). */
typedef struct {
    json_t *commit, *skipped, *refused;
} pr_changes_t;

/* Runs script in the sandbox sbx at cwd with envs; *out (new) is its
 * stdout. NULL, or the tool error (new, *out untouched): exit 3
 * nothing_to_commit, exit 6 changed_since_approval, else commit_failed,
 * with its stderr. */
json_t *pr_changes_sh (tool_ctx_t *ctx, const char *sbx, const char *cwd, json_t *envs,
                       const char *script, char **out);
/* Sorts the paths the branch in repo would change against
 * $CAISSON_BASE (envs) into c (filled only on success; free with
 * pr_changes_free). NULL, or the tool error (new). */
json_t *pr_changes_read (tool_ctx_t *ctx, const char *sbx, const char *repo, json_t *envs,
                         pr_changes_t *c);
void pr_changes_free (pr_changes_t *c);
/* The error (new) for changes the run may not propose, naming them. */
json_t *pr_changes_refusal (const json_t *refused);
/* Writes paths into the sandbox, one a line, and names the file in envs
 * (CAISSON_PATHS). NULL, or the tool error (new). */
json_t *pr_changes_put_paths (tool_ctx_t *ctx, const char *sbx, const json_t *paths,
                              json_t *envs);
/* The dry run's answer (new): what would be committed of c on branch
 * against base, as files with counts and the patch, for the model and
 * for the person asked to approve; or the tool error (new). */
json_t *pr_changes_preview (tool_ctx_t *ctx, const char *sbx, const char *repo, json_t *envs,
                            const char *branch, const char *base, const pr_changes_t *c);

#endif
