/* pr_changes: what git.openPR would propose, read in the sandbox: every
 * path the branch would change against the base, sorted into what to
 * commit, what to skip and what the run may not propose; the paths file
 * the commit scripts stage from; and the dry run's preview (files,
 * counts, the patch, the tree an approval lets the real call commit).
 * pr_tool.c commits, bundles and opens the pull request. */
#include "pr_changes.h"
#include "cfg.h"
#include "guard.h"
#include "repo_tools.h"
#include "sandbox_call.h"
#include "sandbox_tools.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    PR_PLAIN_DIFF " --numstat \"origin/$CAISSON_BASE\" \"$t\"\n"
    "echo '" PATCH_MARK "'\n"
    PR_PLAIN_DIFF " \"origin/$CAISSON_BASE\" \"$t\"\n";

json_t *
pr_changes_sh (tool_ctx_t *ctx, const char *sbx, const char *cwd, json_t *envs,
               const char *script, char **out)
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

void
pr_changes_free (pr_changes_t *c)
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

json_t *
pr_changes_read (tool_ctx_t *ctx, const char *sbx, const char *repo, json_t *envs,
                 pr_changes_t *c)
{
    char *out = NULL;
    json_t *error = pr_changes_sh (ctx, sbx, repo, envs, changes_script, &out);
    if (error)
        return error;
    *c = (pr_changes_t) { json_array (), json_array (), json_array () };
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

json_t *
pr_changes_refusal (const json_t *refused)
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

json_t *
pr_changes_put_paths (tool_ctx_t *ctx, const char *sbx, const json_t *paths, json_t *envs)
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

json_t *
pr_changes_preview (tool_ctx_t *ctx, const char *sbx, const char *repo, json_t *envs,
                    const char *branch, const char *base, const pr_changes_t *c)
{
    char *out = NULL;
    json_t *error = pr_changes_sh (ctx, sbx, repo, envs, preview_script, &out);
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
