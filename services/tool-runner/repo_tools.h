/* repo_tools: the repository workflow: clone into a sandbox, read files,
 * apply a diff within the allowed paths, run the tests, open a pull request.
 * The repository lives in the sandbox's workspace as `repo`; its origin is
 * known only to tool-runner (forge.h). Globs for diffs are relative to the
 * repository's root. */
#ifndef TR_REPO_TOOLS_H
#define TR_REPO_TOOLS_H

#include "toolctx.h"
#include <stdbool.h>

tool_fn repo_clone, repo_read_files, repo_apply_diff, ci_run_tests, git_open_pr;

/* The branch name a pull request for title opened by call_id gets:
 * `caisson/<slug>-<8 characters from call_id>`, so a retried call reuses
 * it. Returns 0, or -1 when title has nothing to make a slug of. */
int repo_branch_name (const char *title, const char *call_id, char *out, size_t outlen);

/* Removes a host-side scratch directory and all in it (warns on failure). */
void repo_rm_tree (const char *dir);

/* True when the deployment's allow-list (CAISSON_TOOLS_REPO_ALLOW, as the
 * run narrowed it) lets the tools fetch from and push to url. A local
 * path or file:// URL is resolved first (symlinks, `..`) and matched as a
 * path and as a file:// URL. resolved receives what to use: that path,
 * or url unchanged. */
bool repo_allowed (const tool_ctx_t *ctx, const char *url, char *resolved, size_t len);

/* True when path (relative to the repository) is a cache or build
 * dropping a pull request never carries, whatever .gitignore says:
 * __pycache__, *.pyc, .pytest_cache, node_modules and the like. */
bool repo_is_cache (const char *path);

/* Writes size bytes at path in sbx. 0, or -1 with *error set. */
int repo_put_bytes (tool_ctx_t *ctx, const char *sbx, const char *path, const void *data,
                    size_t size, json_t **error);

/* The largest repository bundle or change moved between sandbox and host. */
#define BUNDLE_MAX (8u << 20)

#endif
