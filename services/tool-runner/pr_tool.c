/* pr_tool: git.openPR with the local forge. The sandbox commits its
 * changes on a branch named from the call id and hands the commits out as
 * a bundle; tool-runner fetches the bundle into the origin (a bare
 * repository on the host) and records the pull request (forge.h). Every
 * step is safe to repeat: the branch name, the sandbox requests' ids and
 * the record (one per head branch) all derive from the call id. What the
 * change would carry, and its dry run, are pr_changes.c's. */
#define _GNU_SOURCE /* mkostemp */
#include "cfg.h"
#include "clog.h"
#include "forge.h"
#include "guard.h"
#include "artifacts.h"
#include "calls.h"
#include "github.h"
#include "pr_changes.h"
#include "repo_tools.h"
#include "sandbox_tools.h"
#include "sandbox_call.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S(args, key) json_string_value (json_object_get (args, key))
#define DIFF_MAX (1u << 20)


#define AGENT "git -c user.name='Caisson agent' -c user.email=agent@caisson.invalid "
#define MESSAGE "printf '%s\\n\\n%s\\n' \"$CAISSON_TITLE\" \"$CAISSON_BODY\" | "

/* The branch's commits, checked and bundled. */
#define BUNDLE \
    "if [ \"$(git rev-list --count \"origin/$CAISSON_BASE..HEAD\")\" = 0 ]; then\n" \
    "  echo 'no changes to propose against the base branch' >&2; exit 3\n" \
    "fi\n" \
    "mkdir -p ../.caisson\n" \
    "git bundle create -q ../.caisson/pr.bundle \"origin/$CAISSON_BASE..$CAISSON_BRANCH\"\n" \
    "git rev-parse HEAD\n"

/* Stages exactly the paths listed in $CAISSON_PATHS, commits them on the
 * call's branch and bundles the branch. */
static const char *commit_script =
    "set -e\n"
    "git checkout -q -B \"$CAISSON_BRANCH\"\n"
    "git --literal-pathspecs add -A --pathspec-from-file=\"$CAISSON_PATHS\"\n"
    "if ! git diff --cached --quiet; then\n"
    "  " MESSAGE AGENT "commit --no-verify -q -F -\n"
    "fi\n"
    BUNDLE;

/* Commits the approved tree $CAISSON_TREE on $CAISSON_HEAD, the HEAD it
 * was previewed on, and bundles the branch; a HEAD moved since (but not
 * by an earlier attempt of this call) is refused (exit 6). */
static const char *approved_script =
    "set -e\n"
    "h=$(git rev-parse HEAD)\n"
    "if [ \"$h\" = \"$CAISSON_HEAD\" ]; then\n"
    "  git checkout -q -B \"$CAISSON_BRANCH\"\n"
    "  if [ \"$(git rev-parse 'HEAD^{tree}')\" != \"$CAISSON_TREE\" ]; then\n"
    "    c=$(" MESSAGE AGENT "commit-tree \"$CAISSON_TREE\" -p HEAD)\n"
    "    git reset -q \"$c\"\n"
    "  fi\n"
    "elif [ \"$(git rev-parse 'HEAD^{tree}')\" != \"$CAISSON_TREE\" ] "
    "|| [ \"$(git rev-parse -q --verify 'HEAD^' || :)\" != \"$CAISSON_HEAD\" ] "
    "|| [ \"$(git symbolic-ref -q HEAD || :)\" != \"refs/heads/$CAISSON_BRANCH\" ]; then\n"
    "  echo \"the repository changed after the change was approved (HEAD was $CAISSON_HEAD, "
    "now $h): nothing was committed; open the pull request again\" >&2; exit 6\n"
    "fi\n"
    BUNDLE;

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
    proto_msg_t *rep = sandbox_call (ctx, sbx, req, &error);
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

bool
repo_is_cache (const char *path)
{
    static const char *const dirs[] = { "__pycache__", ".pytest_cache", ".mypy_cache",
                                        ".ruff_cache", "node_modules", ".tox", ".caisson" };
    static const char *const suffixes[] = { ".pyc", ".pyo" };
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        size_t n = strlen (dirs[i]);
        for (const char *p = path; p; p = strchr (p, '/'), p = p ? p + 1 : NULL)
            if (!strncmp (p, dirs[i], n) && p[n] == '/')
                return true;
    }
    size_t len = strlen (path);
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        size_t n = strlen (suffixes[i]);
        if (len > n && !strcmp (path + len - n, suffixes[i]))
            return true;
    }
    return false;
}


/* The script that commits: when this call was previewed (its dry run's
 * result kept under "<call id>/preview", as the orchestrator asks for it
 * before an approval), the previewed HEAD and tree are laid into envs and
 * only that tree is committed, on that HEAD; a preview that showed no
 * such change (it was refused, cut whole, or made for another sandbox)
 * lets nothing be committed: NULL with *error set. Unpreviewed calls
 * commit what the check lists. */
static const char *
commit_for (tool_ctx_t *ctx, const char *sbx, json_t *envs, json_t **error)
{
    char id[400];
    bool ok = false;
    snprintf (id, sizeof id, "%s/preview", ctx->call_id);
    json_t *r = ctx->calls ? calls_result (ctx->calls, id, &ok) : NULL;
    if (!r)
        return commit_script;
    json_t *a = ok ? json_object_get (r, "approved") : NULL;
    const char *head = json_string_value (json_object_get (a, "head"));
    const char *tree = json_string_value (json_object_get (a, "tree"));
    /* a record made for another sandbox (so maybe another user) is
     * nothing this call was approved as */
    if (strcmp (json_string_value (json_object_get (a, "sandboxId")) ?: "", sbx))
        head = tree = NULL;
    if (head && tree) {
        json_object_set_new (envs, "CAISSON_HEAD", json_string (head));
        json_object_set_new (envs, "CAISSON_TREE", json_string (tree));
    }
    json_decref (r);
    if (head && tree)
        return approved_script;
    *error = tool_error ("changed_since_approval", NULL, "this call's preview showed no change "
                         "to commit (it was refused or cut), so nothing was approved to commit; "
                         "open the pull request again");
    return NULL;
}

/* The pull request's diff and link kept as the run's artifacts. */
static void
keep (tool_ctx_t *ctx, const json_t *pr, const char *title, const char *patch)
{
    char name[256];
    snprintf (name, sizeof name, "pull request %s",
              json_string_value (json_object_get (pr, "branch")));
    json_decref (artifacts_keep (ctx, "diff", name, patch, strlen (patch)));
    json_t *link = json_pack ("{s:O, s:O, s:s, s:O, s:O, s:O}", "id", json_object_get (pr, "id"),
                              "url", json_object_get (pr, "url"), "title", title, "branch",
                              json_object_get (pr, "branch"), "base", json_object_get (pr, "base"),
                              "commit", json_object_get (pr, "commit"));
    char *text = link ? json_dumps (link, JSON_COMPACT) : NULL;
    if (text)
        json_decref (artifacts_keep (ctx, "pr_link", name, text, strlen (text)));
    free (text);
    json_decref (link);
}

/* The local forge: the branch fetched into the origin, the record kept. */
static json_t *
open_locally (tool_ctx_t *ctx, const char *sbx, const char *ws, const char *origin,
              const char *branch, const char *base, const char *commit, json_t *args)
{
    const char *title = S (args, "title"), *body = S (args, "body");
    json_t *error;
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
    json_t *result = json_pack ("{s:b, s:O, s:O}", "success", 1, "id",
                                json_object_get (pr, "id"), "url", json_object_get (pr, "url"));
    clog_info (ctx->corr, "pull request %s opened: %s -> %s on %s",
               json_string_value (json_object_get (pr, "id")), branch, base, origin);
    json_decref (pr);
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
    /* the repository's own hooks (and fsmonitor command) never run: one
     * could stage what the check above never saw */
    json_t *envs = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "CAISSON_BRANCH",
                              branch, "CAISSON_BASE", base, "CAISSON_TITLE", title,
                              "CAISSON_BODY", body, "GIT_CONFIG_COUNT", "2", "GIT_CONFIG_KEY_0",
                              "core.hooksPath", "GIT_CONFIG_VALUE_0", "/dev/null",
                              "GIT_CONFIG_KEY_1", "core.fsmonitor", "GIT_CONFIG_VALUE_1", "false");
    char *out = NULL;
    pr_changes_t changes;
    if ((error = pr_changes_read (ctx, sbx, repo, envs, &changes))) {
        json_decref (envs);
        return error;
    }
    if (json_array_size (changes.refused))
        error = pr_changes_refusal (changes.refused);
    else if (!json_array_size (changes.commit))
        error = tool_error ("nothing_to_commit", NULL, "no changes to propose against %s", base);
    else
        error = pr_changes_put_paths (ctx, sbx, changes.commit, envs);
    if (!error && ctx->dry_run)
        error = pr_changes_preview (ctx, sbx, repo, envs, branch, base, &changes);
    if (error || ctx->dry_run) {
        json_decref (envs);
        pr_changes_free (&changes);
        return error;
    }
    const char *script = commit_for (ctx, sbx, envs, &error);
    if (script)
        error = pr_changes_sh (ctx, sbx, repo, envs, script, &out);
    char *patch = NULL;
    if (!error)
        error = pr_changes_sh (ctx, sbx, repo, envs, PR_PLAIN_DIFF " \"origin/$CAISSON_BASE\" HEAD",
                               &patch);
    json_decref (envs);
    if (error) {
        free (out);
        pr_changes_free (&changes);
        return error;
    }
    char commit[64];
    snprintf (commit, sizeof commit, "%.*s", (int) strcspn (out, "\n"), out);
    free (out);
    json_t *r = github ? open_on_github (ctx, sbx, ws, origin, slug, branch, base, args)
                       : open_locally (ctx, sbx, ws, origin, branch, base, commit, args);
    if (!tool_failed (r)) {
        json_object_set_new (r, "branch", json_string (branch));
        json_object_set_new (r, "base", json_string (base));
        json_object_set_new (r, "commit", json_string (commit));
        if (json_array_size (changes.skipped))
            json_object_set (r, "skipped", changes.skipped);
        keep (ctx, r, title, patch);
    }
    free (patch);
    pr_changes_free (&changes);
    return r;
}
