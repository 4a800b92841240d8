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
#include "guard.h"
#include "artifacts.h"
#include "calls.h"
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
#define PATCH_MARK "--caisson-patch--"
#define MAX_NAMED 20

/* Every path the pull request would change against the base: T for a
 * tracked path that differs in the working tree (committed or not), U for
 * an untracked one that no .gitignore ignores, H for one the branch's own
 * commits touch (in HEAD though deleted from the working tree, or only in
 * the history, merges' own changes included): the bundle carries those
 * too. Unusual names come out quoted. */
static const char *changes_script =
    "set -e\n"
    "git rev-parse -q --verify \"origin/$CAISSON_BASE\" >/dev/null || "
    "{ echo \"no base branch origin/$CAISSON_BASE\" >&2; exit 4; }\n"
    "ia=$(git rev-parse --git-path info/attributes)\n"
    "if [ -s \"$ia\" ]; then echo \"the repository has attributes outside its tree ($ia); "
    "they change how the change is shown: remove them, then try again\" >&2; exit 5; fi\n"
    "git -c core.quotePath=false diff --name-only --no-renames \"origin/$CAISSON_BASE\" "
    "| sed 's/^/T /'\n"
    "git -c core.quotePath=false ls-files --others --exclude-standard | sed 's/^/U /'\n"
    "git -c core.quotePath=false log -m --format= --name-only --no-renames "
    "\"origin/$CAISSON_BASE..HEAD\" | sed 's/^/H /'\n";

/* The options that make git diff show the change itself whatever the
 * repository's own settings say (a textconv driver, an external diff,
 * colours, other prefixes): what the approver reads is what the bytes
 * are. Attributes outside the tree (.git/info/attributes, which could
 * call a text file binary) are refused above; the tree's own are part of
 * the repository, or of the change shown. */
#define PLAIN_DIFF "git -c core.quotePath=false diff --no-ext-diff --no-textconv " \
    "--no-color --src-prefix=a/ --dst-prefix=b/ --no-relative --ignore-submodules=none " \
    "--no-renames"

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

/* The change the listed paths make against the base, as a tree made
 * through a scratch index (nothing is staged): a line "HEAD tree", the
 * tree's numstat lines, a marker line, the patch. The tree is what an
 * approval of this preview lets the real call commit (approved_script). */
static const char *preview_script =
    "set -e\n"
    "export GIT_INDEX_FILE=\"$PWD/../.caisson/preview.index\"\n"
    "rm -f \"$GIT_INDEX_FILE\"\n"
    "git read-tree HEAD\n"
    "git --literal-pathspecs add -A --pathspec-from-file=\"$CAISSON_PATHS\"\n"
    "t=$(git write-tree)\n"
    "rm -f \"$GIT_INDEX_FILE\"\n"
    "echo \"$(git rev-parse HEAD) $t\"\n"
    PLAIN_DIFF " --numstat \"origin/$CAISSON_BASE\" \"$t\"\n"
    "echo '" PATCH_MARK "'\n"
    PLAIN_DIFF " \"origin/$CAISSON_BASE\" \"$t\"\n";

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
        error = tool_error (r->exit_code == 3 ? "nothing_to_commit"
                            : r->exit_code == 6 ? "changed_since_approval" : "commit_failed", NULL,
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

/* The paths a pull request would carry, sorted out: to commit, skipped
 * (caches, untracked) and refused (outside the run's write globs, or
 * named so oddly git quotes them). */
typedef struct {
    json_t *commit, *skipped, *refused;
} changes_t;

static void
changes_free (changes_t *c)
{
    json_decref (c->commit);
    json_decref (c->skipped);
    json_decref (c->refused);
}

/* Appends name (taken) to list unless it holds it already. */
static void
append_once (json_t *list, json_t *name)
{
    size_t i;
    json_t *p;
    json_array_foreach (list, i, p)
        if (json_equal (p, name)) {
            json_decref (name);
            return;
        }
    json_array_append_new (list, name);
}

static json_t *
changes_read (tool_ctx_t *ctx, const char *sbx, const char *repo, json_t *envs, changes_t *c)
{
    char *out = NULL;
    json_t *error = run_sh (ctx, sbx, repo, envs, changes_script, &out);
    if (error)
        return error;
    *c = (changes_t) { json_array (), json_array (), json_array () };
    char *save = NULL;
    for (char *line = strtok_r (out, "\n", &save); line; line = strtok_r (NULL, "\n", &save)) {
        if (strlen (line) < 3 || line[1] != ' ')
            continue;
        const char *path = line + 2;
        char abs[8400];
        json_t *why = NULL, *name = sandbox_call_text (path, strlen (path));
        if (line[0] == 'U' && repo_is_cache (path))
            json_array_append_new (c->skipped, name);
        else if (path[0] == '"' || guard_resolve (repo, path, true, abs, sizeof abs, &why)
                 || guard_write (ctx->guard, repo, abs, "path", &why))
            append_once (c->refused, name);
        else if (line[0] != 'H')    /* in the branch's commits already */
            append_once (c->commit, name);
        else
            json_decref (name);
        json_decref (why);
    }
    free (out);
    return NULL;
}

/* The error for changes the run may not propose, naming them. */
static json_t *
refusal (const json_t *refused)
{
    char names[2048] = "";
    size_t i, n = 0;
    json_t *p;
    json_array_foreach (refused, i, p) {
        if (i == MAX_NAMED) {
            snprintf (names + n, sizeof names - n, " and %zu more", json_array_size (refused) - i);
            break;
        }
        n += (size_t) snprintf (names + n, sizeof names - n, "%s%.200s", i ? ", " : "",
                                json_string_value (p));
        if (n >= sizeof names)
            break;
    }
    json_t *e = tool_error ("changes_not_allowed", NULL, "the repository has changes this run "
                            "may not propose (outside CAISSON_TOOLS_WRITE_GLOBS or denied): %s; "
                            "revert or delete them, then open the pull request again; nothing "
                            "was committed", names);
    json_object_set (json_object_get (e, "error"), "paths", (json_t *) refused);
    return e;
}

/* Writes the paths to commit into the sandbox, one a line, and names the
 * file in envs (CAISSON_PATHS). */
static json_t *
put_paths (tool_ctx_t *ctx, const char *sbx, const json_t *paths, json_t *envs)
{
    char file[4200], id[CID_SIZE], key[200];
    snprintf (key, sizeof key, "paths/%s", ctx->call_id);
    sandbox_call_derive_id (key, id);
    snprintf (file, sizeof file, "%s/.caisson/pr-%s.paths", PROTO_SANDBOX_WORKSPACE, id);
    size_t i, n = 0;
    json_t *p, *error = NULL;
    json_array_foreach (paths, i, p)
        n += json_string_length (p) + 1;
    char *text = malloc (n + 1);
    if (!text)
        return tool_error ("internal", NULL, "out of memory");
    n = 0;
    json_array_foreach (paths, i, p)
        n += (size_t) sprintf (text + n, "%s\n", json_string_value (p));
    repo_put_bytes (ctx, sbx, file, text, n, &error);
    free (text);
    json_object_set_new (envs, "CAISSON_PATHS", json_string (file));
    return error;
}

/* A dry run's answer: what would be committed, as files with counts and
 * the patch, for the model and for the person asked to approve. */
static json_t *
preview (tool_ctx_t *ctx, const char *sbx, const char *repo, json_t *envs, const char *branch,
         const char *base, const changes_t *c)
{
    char *out = NULL;
    json_t *error = run_sh (ctx, sbx, repo, envs, preview_script, &out);
    if (error)
        return error;
    char *mark = strstr (out, PATCH_MARK "\n");
    const char *patch = mark ? mark + strlen (PATCH_MARK) + 1 : "";
    if (mark)
        *mark = '\0';
    char head[48] = "", tree[48] = "";
    if (sscanf (out, "%47s %47s", head, tree) != 2) {
        free (out);
        return tool_error ("commit_failed", NULL, "the change could not be previewed");
    }
    json_t *files = json_array ();
    char *save = NULL;
    for (char *line = strtok_r (out, "\n", &save); line; line = strtok_r (NULL, "\n", &save)) {
        char *t1 = strchr (line, '\t'), *t2 = t1 ? strchr (t1 + 1, '\t') : NULL;
        if (!t2)
            continue;
        *t1 = *t2 = '\0';
        json_t *f = json_pack ("{s:o}", "path", sandbox_call_text (t2 + 1, strlen (t2 + 1)));
        json_object_set_new (f, "added", *line == '-' ? json_null () : json_integer (atoll (line)));
        json_object_set_new (f, "removed", *line == '-' ? json_null ()
                                                        : json_integer (atoll (t1 + 1)));
        json_array_append_new (files, f);
    }
    /* the patch shown is cut at a line boundary, saying so: the person
     * asked to approve sees whole lines and knows the change is larger */
    size_t total = strlen (patch), shown = total;
    size_t cap = (size_t) cfg_u64 ("CAISSON_TOOLS_PREVIEW_PATCH_MAX");
    if (total > cap)
        for (shown = cap; shown > 0 && patch[shown - 1] != '\n'; shown--)
            ;
    json_t *r = json_pack ("{s:b, s:b, s:s, s:s, s:s, s:o, s:O, s:o}", "success", 1, "dryRun", 1,
                           "wouldDo", "commit these changes and open a pull request", "branch",
                           branch, "base", base, "files", files, "skipped", c->skipped, "patch",
                           sandbox_call_text (patch, shown));
    /* what the approval of this preview lets the real call commit */
    json_object_set_new (r, "approved", json_pack ("{s:s, s:s, s:s}", "sandboxId", sbx, "head",
                                                   head, "tree", tree));
    if (r && shown < total) {
        json_object_set_new (r, "patchTruncated", json_true ());
        json_object_set_new (r, "patchBytes", json_integer ((json_int_t) total));
    }
    free (out);
    return r;
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
    changes_t changes;
    if ((error = changes_read (ctx, sbx, repo, envs, &changes))) {
        json_decref (envs);
        return error;
    }
    if (json_array_size (changes.refused))
        error = refusal (changes.refused);
    else if (!json_array_size (changes.commit))
        error = tool_error ("nothing_to_commit", NULL, "no changes to propose against %s", base);
    else
        error = put_paths (ctx, sbx, changes.commit, envs);
    if (!error && ctx->dry_run)
        error = preview (ctx, sbx, repo, envs, branch, base, &changes);
    if (error || ctx->dry_run) {
        json_decref (envs);
        changes_free (&changes);
        return error;
    }
    const char *script = commit_for (ctx, sbx, envs, &error);
    if (script)
        error = run_sh (ctx, sbx, repo, envs, script, &out);
    char *patch = NULL;
    if (!error)
        error = run_sh (ctx, sbx, repo, envs, PLAIN_DIFF " \"origin/$CAISSON_BASE\" HEAD", &patch);
    json_decref (envs);
    if (error) {
        free (out);
        changes_free (&changes);
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
    changes_free (&changes);
    return r;
}
