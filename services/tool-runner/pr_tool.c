/* pr_tool: git.openPR with the local forge. The sandbox commits its
 * changes on a branch named from the call id and hands the commits out as
 * a bundle; tool-runner fetches the bundle into the origin (a bare
 * repository on the host) and records the pull request (forge.h). Every
 * step is safe to repeat: the branch name, the sandbox requests' ids and
 * the record (one per head branch) all derive from the call id. */
#define _GNU_SOURCE /* mkostemp */
#include "cfg.h"
#include "clog.h"
#include "forge.h"
#include "github.h"
#include "repo_tools.h"
#include "sandbox_tools.h"
#include "sandbox_call.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S(args, key) json_string_value (json_object_get (args, key))
#define DIFF_MAX (1u << 20)

static const char *commit_script =
    "set -e\n"
    "git checkout -q -B \"$CAISSON_BRANCH\"\n"
    "git add -A\n"
    "if ! git diff --cached --quiet; then\n"
    "  printf '%s\\n\\n%s\\n' \"$CAISSON_TITLE\" \"$CAISSON_BODY\" | git -c user.name='Caisson "
    "agent' -c user.email=agent@caisson.invalid commit -q -F -\n"
    "fi\n"
    "if [ \"$(git rev-list --count \"origin/$CAISSON_BASE..HEAD\")\" = 0 ]; then\n"
    "  echo 'no changes to propose against the base branch' >&2; exit 3\n"
    "fi\n"
    "mkdir -p ../.caisson\n"
    "git bundle create -q ../.caisson/pr.bundle \"origin/$CAISSON_BASE..$CAISSON_BRANCH\"\n"
    "git rev-parse HEAD\n";

static json_t *
run_sh (tool_ctx_t *ctx, const char *sbx, const char *cwd, json_t *envs, const char *script,
        char **out)
{
    json_t *error = NULL;
    proto_msg_t *rep = sandbox_tools_exec (ctx, sbx, script, cwd, envs, &error);
    if (!rep)
        return error;
    const proto_sandbox_exec_result_t *r = &rep->body.sandbox_exec_result;
    if (r->exit_code != 0 || r->timed_out)
        error = tool_error (r->exit_code == 3 ? "nothing_to_commit" : "commit_failed", NULL,
                            "%.600s", r->stderr && *r->stderr ? r->stderr : "the command failed");
    else
        *out = strdup (r->stdout ? r->stdout : "");
    proto_msg_destroy (&rep);
    return error;
}

/* Reads the sandbox's pull-request bundle and fetches its branch into the
 * repository at into (the origin itself, or a staging copy of it). */
static json_t *
fetch_bundle (tool_ctx_t *ctx, const char *sbx, const char *ws, const char *into,
              const char *branch)
{
    json_t *error = NULL;
    char path[4200];
    snprintf (path, sizeof path, "%s/.caisson/pr.bundle", ws);
    proto_msg_t *req = sandbox_call_new (ctx, PROTO_sandbox_read_file);
    if (!req)
        return tool_error ("internal", NULL, "out of memory");
    proto_set_str (&req->body.sandbox_read_file.sandbox_id, sbx);
    proto_set_str (&req->body.sandbox_read_file.path, path);
    req->body.sandbox_read_file.max_bytes = BUNDLE_MAX;
    proto_msg_t *rep = sandbox_call (ctx, sbx, req, PROTO_sandbox_file, &error);
    if (!rep)
        return error;
    if (rep->body.sandbox_file.truncated) {
        proto_msg_destroy (&rep);
        return tool_error ("change_too_large", NULL, "the change is larger than %u MiB",
                           BUNDLE_MAX >> 20);
    }
    char tmp[] = "/tmp/caisson-pr-XXXXXX", out[2048], refspec[600];
    int fd = mkostemp (tmp, O_CLOEXEC);
    const proto_bytes_t *c = &rep->body.sandbox_file.content;
    bool ok = fd >= 0 && write (fd, c->data, c->size) == (ssize_t) c->size;
    if (fd >= 0)
        close (fd);
    proto_msg_destroy (&rep);
    snprintf (refspec, sizeof refspec, "+refs/heads/%s:refs/heads/%s", branch, branch);
    const char *fetch[] = { "git", "-C", into, "fetch", "-q", tmp, refspec, NULL };
    if (!ok || forge_git (fetch, NULL, out, sizeof out, ctx->timeout_s))
        error = tool_error ("push_failed", NULL, "could not push %s to the origin: %.400s", branch,
                            ok ? out : "temporary file");
    unlink (tmp);
    return error;
}

/* The branch goes to GitHub through a staging bare repository on the
 * host (the base fetched from GitHub, the bundle's commits on top), then
 * the pull request is opened through the REST API. */
static json_t *
open_on_github (tool_ctx_t *ctx, const char *sbx, const char *ws, const char *origin,
                const char *slug, const char *branch, const char *base, json_t *args)
{
    char stage[] = "/tmp/caisson-stage-XXXXXX", out[2048], ref[600], push[600];
    if (!mkdtemp (stage))
        return tool_error ("internal", NULL, "cannot make a temporary directory");
    forge_env_t env;
    const char *const *auth = forge_auth_env (origin, &env);
    snprintf (ref, sizeof ref, "+refs/heads/%s:refs/heads/%s", base, base);
    snprintf (push, sizeof push, "+refs/heads/%s:refs/heads/%s", branch, branch);
    const char *init[] = { "git", "init", "-q", "--bare", stage, NULL };
    const char *get[] = { "git", "-C", stage, "fetch", "-q", "--", origin, ref, NULL };
    const char *put[] = { "git", "-C", stage, "push", "-q", "--", origin, push, NULL };
    json_t *result = NULL;
    if (forge_git (init, NULL, out, sizeof out, 30)
        || forge_git (get, auth, out, sizeof out, ctx->timeout_s))
        result = tool_error ("push_failed", NULL, "could not fetch %s from %s: %.300s", base,
                             origin, out);
    else if (!(result = fetch_bundle (ctx, sbx, ws, stage, branch))
             && forge_git (put, auth, out, sizeof out, ctx->timeout_s))
        result = tool_error ("push_failed", NULL, "could not push %s to %s: %.300s", branch,
                             origin, out);
    if (!result)
        result = github_open_pr (cfg_str ("CAISSON_TOOLS_GITHUB_API"),
                                 cfg_str ("CAISSON_TOOLS_GITHUB_TOKEN"), slug, branch, base,
                                 S (args, "title"), S (args, "body"), ctx->timeout_s);
    repo_rm_tree (stage);
    return result;
}

json_t *
git_open_pr (tool_ctx_t *ctx, json_t *args)
{
    const char *sbx = S (args, "sandboxId"), *title = S (args, "title"), *body = S (args, "body");
    char origin[4096], base[256], branch[128];
    const char *ws = PROTO_SANDBOX_WORKSPACE, *repo = PROTO_SANDBOX_WORKSPACE "/repo";
    json_t *error = NULL;
    for (const char *p = title; *p; p++)
        if ((unsigned char) *p < 0x20)
            return tool_error ("bad_title", "title", "title must be one line without control "
                               "characters");
    if (repo_branch_name (title, ctx->call_id, branch, sizeof branch))
        return tool_error ("bad_title", "title", "title must contain letters or digits");
    const char *check[] = { "git", "check-ref-format", "--branch", branch, NULL };
    if (forge_git (check, NULL, NULL, 0, 10) != 0)
        return tool_error ("bad_branch", "title", "%s is not a valid branch name", branch);
    if (forge_get_origin (ctx->forge, sbx, origin, sizeof origin, base, sizeof base))
        return tool_error ("no_repository", "sandboxId", "no repository was cloned into this "
                           "sandbox: use repo.clone first");
    /* the allow-list may have narrowed since the clone, or the run narrows it */
    char allowed[4096];
    if (!repo_allowed (ctx, origin, allowed, sizeof allowed) || strcmp (allowed, origin))
        return tool_error ("repo_not_allowed", "sandboxId", "%s is not a repository this "
                           "deployment allows (CAISSON_TOOLS_REPO_ALLOW)", origin);
    if (S (args, "base"))
        snprintf (base, sizeof base, "%s", S (args, "base"));
    char slug[256];
    bool github = origin[0] != '/';
    if (github && (!*cfg_str ("CAISSON_TOOLS_GITHUB_TOKEN")
                   || github_slug (origin, slug, sizeof slug)))
        return tool_error ("forge_unavailable", NULL, "pull requests to %s need a GitHub "
                           "repository and token (CAISSON_TOOLS_GITHUB_TOKEN); the local forge "
                           "serves local repositories only", origin);
    json_t *envs = json_pack ("{s:s, s:s, s:s, s:s}", "CAISSON_BRANCH", branch, "CAISSON_BASE",
                              base, "CAISSON_TITLE", title, "CAISSON_BODY", body);
    char *out = NULL;
    if (ctx->dry_run) {
        error = run_sh (ctx, sbx, repo, envs, "git status --porcelain", &out);
        json_decref (envs);
        if (error)
            return error;
        json_t *r = json_pack ("{s:b, s:b, s:s, s:s, s:s, s:s}", "success", 1, "dryRun", 1,
                               "wouldDo", "commit these changes and open a pull request",
                               "branch", branch, "base", base, "changes", out);
        free (out);
        return r;
    }
    error = run_sh (ctx, sbx, repo, envs, commit_script, &out);
    json_decref (envs);
    if (error)
        return error;
    char commit[64];
    snprintf (commit, sizeof commit, "%.*s", (int) strcspn (out, "\n"), out);
    free (out);
    if (github) {
        json_t *r = open_on_github (ctx, sbx, ws, origin, slug, branch, base, args);
        if (!tool_failed (r)) {
            json_object_set_new (r, "branch", json_string (branch));
            json_object_set_new (r, "base", json_string (base));
            json_object_set_new (r, "commit", json_string (commit));
        }
        return r;
    }
    if ((error = fetch_bundle (ctx, sbx, ws, origin, branch)))
        return error;
    char range[600], *diff = malloc (DIFF_MAX);
    snprintf (range, sizeof range, "%s...%s", base, branch);
    const char *show[] = { "git", "-C", origin, "diff", range, "--", NULL };
    if (!diff || forge_git (show, NULL, diff, DIFF_MAX, 60) != 0) {
        free (diff);
        return tool_error ("push_failed", NULL, "the branch was pushed but its diff against %s "
                           "could not be made", base);
    }
    json_t *rec = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "title", title, "body",
                             body, "base", base, "head", branch, "commit", commit, "origin",
                             origin, "sandboxId", sbx, "callId", ctx->call_id);
    json_object_set_new (rec, "diff", sandbox_call_text (diff, strlen (diff)));
    free (diff);
    json_t *pr = forge_open (ctx->forge, rec);
    json_decref (rec);
    if (!pr)
        return tool_error ("store_failed", NULL, "the pull request could not be recorded");
    json_t *result = json_pack ("{s:b, s:O, s:O, s:s, s:s, s:s}", "success", 1, "id",
                                json_object_get (pr, "id"), "url", json_object_get (pr, "url"),
                                "branch", branch, "base", base, "commit", commit);
    clog_info (ctx->corr, "pull request %s opened: %s -> %s on %s",
               json_string_value (json_object_get (pr, "id")), branch, base, origin);
    json_decref (pr);
    return result;
}
