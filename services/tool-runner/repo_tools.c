/* repo_tools: repo.clone, repo.readFiles, repo.applyDiff, ci.runTests,
 * git.openPR. See repo_tools.h and forge.h. */
#include "repo_tools.h"
#include "artifacts.h"
#include "cfg.h"
#include "clog.h"
#include "forge.h"
#include "sandbox_tools.h"
#include "sandbox_call.h"
#include "testlog.h"

#include <ctype.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S(args, key) json_string_value (json_object_get (args, key))
#define GIT_ID "-c user.name='Caisson agent' -c user.email=agent@caisson.invalid"

/* Runs a shell command in the sandbox; on success *out holds its stdout
 * and the exit code is returned; -1 with *error when it could not run. */
static int
sh (tool_ctx_t *ctx, const char *sbx, const char *cwd, const json_t *envs, const char *cmd,
    char **out, char **err, json_t **error)
{
    proto_msg_t *rep = sandbox_tools_exec (ctx, sbx, cmd, cwd, envs, error);
    if (!rep)
        return -1;
    const proto_sandbox_exec_result_t *r = &rep->body.sandbox_exec_result;
    int code = r->timed_out ? 124 : (int) r->exit_code;
    if (out)
        *out = strdup (r->stdout ? r->stdout : "");
    if (err)
        *err = strdup (r->stderr ? r->stderr : "");
    proto_msg_destroy (&rep);
    return code;
}

int
repo_put_bytes (tool_ctx_t *ctx, const char *sbx, const char *path, const void *data, size_t size,
                json_t **error)
{
    proto_msg_t *req = sandbox_call_new (ctx, PROTO_sandbox_write_file);
    if (!req)
        return -1;
    proto_set_str (&req->body.sandbox_write_file.sandbox_id, sbx);
    proto_set_str (&req->body.sandbox_write_file.path, path);
    proto_set_bytes (&req->body.sandbox_write_file.content, size ? data : "", size);
    proto_msg_t *rep = sandbox_call (ctx, sbx, req, error);
    proto_msg_destroy (&rep);
    return *error ? -1 : 0;
}

static char *
slurp (const char *path, size_t max, size_t *size)
{
    FILE *f = fopen (path, "rbe");
    if (!f)
        return NULL;
    char *buf = malloc (max + 1);
    *size = buf ? fread (buf, 1, max + 1, f) : 0;
    fclose (f);
    if (buf && *size > max) {
        free (buf);
        return NULL;
    }
    return buf;
}

static const char *
local_path (const char *url)
{
    if (!strncmp (url, "file://", 7))
        return url + 7;
    return url[0] == '/' ? url : NULL;
}

void
repo_rm_tree (const char *dir)
{
    char cmd[600];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system (cmd) != 0)
        clog_warn (NULL, "could not remove %s", dir);
}

/* True when a remote url has a `.` or `..` segment, plain or
 * percent-encoded (`%2e`), before its query: git's HTTP client (and an
 * ssh server's shell) resolves them, so `https://host/allowed/../other`
 * matches a glob `https://host/allowed/` + star and fetches `other`. */
static bool
dot_segment (const char *url)
{
    size_t dots = 0, other = 0;
    for (const char *p = url;; p++) {
        if (!*p || *p == '/' || *p == '\\' || *p == ':' || *p == '?' || *p == '#') {
            if (dots && dots <= 2 && !other)
                return true;
            if (!*p || *p == '?' || *p == '#')
                return false;
            dots = other = 0;
        }
        else if (*p == '.')
            dots++;
        else if (p[0] == '%' && p[1] == '2' && (p[2] == 'e' || p[2] == 'E')) {
            dots++;
            p += 2;
        }
        else
            other++;
    }
}

bool
repo_allowed (const tool_ctx_t *ctx, const char *url, char *resolved, size_t len)
{
    const char *path = local_path (url);
    if (url[0] == '-' || strlen (url) >= len)
        return false;
    if (!path) {
        if (dot_segment (url))
            return false;
        snprintf (resolved, len, "%s", url);
        return guard_repo (ctx->guard, url, ctx->user);
    }
    /* a glob over a directory of repositories must not admit a path that
     * climbs out of it with `..`, nor a symlink in it that leads elsewhere */
    char real[PATH_MAX], as_url[PATH_MAX + 8];
    if (!realpath (path, real) || strlen (real) >= len)
        return false;
    snprintf (as_url, sizeof as_url, "file://%s", real);
    snprintf (resolved, len, "%s", real);
    return guard_repo (ctx->guard, real, ctx->user) || guard_repo (ctx->guard, as_url, ctx->user);
}

json_t *
repo_clone (tool_ctx_t *ctx, json_t *args)
{
    const char *sbx = S (args, "sandboxId"), *given = S (args, "url"), *branch = S (args, "branch");
    json_t *error = NULL;
    char url[4096];
    if (!repo_allowed (ctx, given, url, sizeof url))
        return tool_error ("repo_not_allowed", "url", "%s is not a repository this deployment "
                           "allows (CAISSON_TOOLS_REPO_ALLOW)", given);
    const char *ws = PROTO_SANDBOX_WORKSPACE, *abs = PROTO_SANDBOX_WORKSPACE "/repo";
    if (ctx->dry_run && sandbox_call_check (ctx, sbx, &error))
        return error;
    if (ctx->dry_run)
        return json_pack ("{s:b, s:b, s:s, s:s, s:s*}", "success", 1, "dryRun", 1, "wouldDo",
                          "clone the repository", "path", abs, "branch", branch);
    char tmp[] = "/tmp/caisson-clone-XXXXXX", bare[64], bundle[64], out[4096];
    if (!mkdtemp (tmp))
        return tool_error ("internal", NULL, "cannot make a temporary directory");
    snprintf (bare, sizeof bare, "%s/src.git", tmp);
    snprintf (bundle, sizeof bundle, "%s/repo.bundle", tmp);
    const char *clone[] = { "git", "clone", "-q", "--bare", "--", url, bare, NULL };
    const char *head[] = { "git", "-C", bare, "symbolic-ref", "--short", "HEAD", NULL };
    const char *pack[] = { "git", "-C", bare, "bundle", "create", "-q", bundle, "--all", NULL };
    size_t size = 0;
    char *data = NULL, base[256];
    forge_env_t env;
    if (forge_git (clone, forge_auth_env (url, &env), out, sizeof out, ctx->timeout_s)) {
        error = tool_error ("clone_failed", "url", "git could not clone %s: %.300s", url, out);
        goto done;
    }
    if (branch)
        snprintf (base, sizeof base, "%s", branch);
    else if (forge_git (head, NULL, out, sizeof out, 30) == 0)
        snprintf (base, sizeof base, "%.*s", (int) strcspn (out, "\n"), out);
    else
        snprintf (base, sizeof base, "main");
    if (forge_git (pack, NULL, out, sizeof out, ctx->timeout_s)
        || !(data = slurp (bundle, BUNDLE_MAX, &size))) {
        error = tool_error ("repo_too_large", "url", "the repository could not be packed within "
                            "%u MiB: %.300s", BUNDLE_MAX >> 20, out);
        goto done;
    }
    char dest[4200];
    snprintf (dest, sizeof dest, "%s/.caisson/clone.bundle", ws);
    if (repo_put_bytes (ctx, sbx, dest, data, size, &error))
        goto done;
    json_t *envs = json_pack ("{s:s}", "CAISSON_BASE", base);
    char *stdout_ = NULL, *stderr_ = NULL;
    int code = sh (ctx, sbx, ws, envs,
                   "rm -rf repo.tmp && git clone -q -b \"$CAISSON_BASE\" .caisson/clone.bundle "
                   "repo.tmp && rm -rf repo && mv repo.tmp repo && git -C repo rev-parse HEAD",
                   &stdout_, &stderr_, &error);
    json_decref (envs);
    if (code > 0)
        error = tool_error ("clone_failed", "branch", "cloning into the sandbox failed: %.400s",
                            stderr_);
    else if (code == 0) {
        const char *origin = local_path (url) ? local_path (url) : url;
        forge_set_origin (ctx->forge, sbx, origin, base);
        stdout_[strcspn (stdout_, "\n")] = '\0';
        error = json_pack ("{s:b, s:s, s:s, s:s}", "success", 1, "path", abs, "branch", base,
                           "head", stdout_);
    }
    free (stdout_);
    free (stderr_);
done:
    free (data);
    repo_rm_tree (tmp);
    return error;
}

json_t *
repo_read_files (tool_ctx_t *ctx, json_t *args)
{
    const char *sbx = S (args, "sandboxId"), *glob = S (args, "glob");
    const char *repo = PROTO_SANDBOX_WORKSPACE "/repo";
    json_t *error = NULL;
    char *list = NULL;
    int code = sh (ctx, sbx, repo, NULL, "git ls-files -co --exclude-standard", &list, NULL,
                   &error);
    if (code != 0) {
        free (list);
        return error ? error : tool_error ("no_repository", "sandboxId", "no repository in this "
                                           "sandbox: clone one with repo.clone first");
    }
    json_t *files = json_array ();
    size_t max_files = cfg_u64 ("CAISSON_TOOLS_READ_MAX_FILES");
    size_t budget = guard_max_output (ctx->guard);
    char *save = NULL;
    for (char *p = strtok_r (list, "\n", &save); p && budget > 0;
         p = strtok_r (NULL, "\n", &save)) {
        if (fnmatch (glob, p, 0) != 0)
            continue;
        if (json_array_size (files) >= max_files)
            break;
        char abs[8400];
        snprintf (abs, sizeof abs, "%s/%s", repo, p);
        proto_msg_t *req = sandbox_call_new (ctx, PROTO_sandbox_read_file);
        if (!req)
            break;
        proto_set_str (&req->body.sandbox_read_file.sandbox_id, sbx);
        proto_set_str (&req->body.sandbox_read_file.path, abs);
        req->body.sandbox_read_file.max_bytes = budget;
        proto_msg_t *rep = sandbox_call (ctx, sbx, req, &error);
        if (!rep) {
            json_decref (error);
            error = NULL;
            continue;
        }
        const proto_sandbox_file_t *f = &rep->body.sandbox_file;
        json_t *content = json_stringn ((const char *) f->content.data, f->content.size);
        json_t *item = json_pack ("{s:s, s:o}", "path", p, "content",
                                  content ? content : json_null ());
        if (!content)
            json_object_set_new (item, "binary", json_true ());
        if (f->truncated)
            json_object_set_new (item, "truncated", json_true ());
        budget -= f->content.size < budget ? f->content.size : budget;
        json_array_append_new (files, item);
        proto_msg_destroy (&rep);
    }
    free (list);
    return files;
}

json_t *
repo_apply_diff (tool_ctx_t *ctx, json_t *args)
{
    const char *sbx = S (args, "sandboxId"), *patch = S (args, "patch");
    bool dry = ctx->dry_run || json_is_true (json_object_get (args, "dryRun"));
    const char *repo = PROTO_SANDBOX_WORKSPACE "/repo";
    char file[4200], id[CID_SIZE], key[200];
    json_t *error = NULL;
    snprintf (key, sizeof key, "patch/%s", ctx->call_id);
    sandbox_call_derive_id (key, id);
    snprintf (file, sizeof file, "%s/.caisson/%s.diff", PROTO_SANDBOX_WORKSPACE, id);
    if (repo_put_bytes (ctx, sbx, file, patch, strlen (patch), &error))
        return error;
    json_t *envs = json_pack ("{s:s}", "CAISSON_PATCH", file);
    char *touched = NULL, *why = NULL;
    int code = sh (ctx, sbx, repo, envs, "git apply --numstat \"$CAISSON_PATCH\"", &touched, &why,
                   &error);
    json_t *files = json_array (), *result = NULL;
    if (code != 0) {
        result = error ? error : tool_error ("bad_patch", "patch", "the patch cannot be read: "
                                             "%.400s", why);
        goto done;
    }
    /* --numstat lines: added<TAB>deleted<TAB>path; every path must be
     * allowed, or nothing is applied. */
    char *save = NULL;
    for (char *line = strtok_r (touched, "\n", &save); line; line = strtok_r (NULL, "\n", &save)) {
        char *path = strchr (line, '\t');
        path = path ? strchr (path + 1, '\t') : NULL;
        if (!path)
            continue;
        path++;
        char abs[8400];
        json_t *refused = NULL;
        snprintf (abs, sizeof abs, "%s/%s", repo, path);
        if (strstr (path, " => ") || guard_resolve (repo, path, true, abs, sizeof abs, &refused)
            || guard_write (ctx->guard, repo, abs, "patch", &refused)) {
            json_decref (refused);
            result = tool_error ("path_not_allowed", "patch", "the patch touches %s, outside the "
                                 "paths this run may change; nothing was applied", path);
            goto done;
        }
        json_array_append_new (files, json_string (path));
    }
    free (why);
    why = NULL;
    code = sh (ctx, sbx, repo, envs, "git apply --check \"$CAISSON_PATCH\"", NULL, &why, &error);
    if (code != 0 && !error) {
        /* Already applied (a retried call) when it applies in reverse. */
        int rev = sh (ctx, sbx, repo, envs, "git apply --check -R \"$CAISSON_PATCH\"", NULL, NULL,
                      &error);
        if (rev == 0 && !dry) {
            result = json_pack ("{s:b, s:b, s:b, s:O, s:s}", "success", 1, "applied", 1, "dryRun",
                                0, "files", files, "check", "already applied");
            goto done;
        }
        result = error ? error : tool_error ("patch_does_not_apply", "patch", "git apply --check "
                                             "failed: %.600s", why);
        goto done;
    }
    if (error) {
        result = error;
        goto done;
    }
    if (!dry) {
        free (why);
        why = NULL;
        code = sh (ctx, sbx, repo, envs, "git apply \"$CAISSON_PATCH\"", NULL, &why, &error);
        if (code != 0) {
            result = error ? error : tool_error ("patch_does_not_apply", "patch", "git apply "
                                                 "failed: %.600s", why);
            goto done;
        }
    }
    result = json_pack ("{s:b, s:b, s:b, s:O, s:s}", "success", 1, "applied", !dry, "dryRun", dry,
                        "files", files, "check", "ok");
    if (!dry)
        json_decref (artifacts_keep (ctx, "diff", "repo.applyDiff", patch, strlen (patch)));
done:
    json_decref (envs);
    json_decref (files);
    free (touched);
    free (why);
    return result;
}

/* Picks the runner and command from the repository's top-level names. */
static void
detect (const char *names, const char *target, char *runner, char *cmd, size_t cmdlen)
{
    const char *t = target ? target : "";
    bool has_py = false;
    char copy[65536];
    snprintf (copy, sizeof copy, "%s", names);
    char *save = NULL;
    const char *found = NULL;
    static const char *const markers[] = { "package.json", "go.mod", "Cargo.toml",
                                           "CMakeLists.txt", NULL };
    for (char *n = strtok_r (copy, "\n", &save); n; n = strtok_r (NULL, "\n", &save)) {
        size_t l = strlen (n);
        has_py = has_py || (l > 3 && !strcmp (n + l - 3, ".py")) || !strcmp (n, "pyproject.toml")
                 || !strcmp (n, "pytest.ini") || !strcmp (n, "setup.cfg");
        for (int i = 0; markers[i]; i++)
            if (!strcmp (n, markers[i]) && !found)
                found = markers[i];
    }
    if (found && !strcmp (found, "package.json")) {
        strcpy (runner, "node");
        snprintf (cmd, cmdlen, "node --test %s", t);
    }
    else if (found && !strcmp (found, "go.mod")) {
        strcpy (runner, "go");
        snprintf (cmd, cmdlen, "go test -v %s", *t ? t : "./...");
    }
    else if (found && !strcmp (found, "Cargo.toml")) {
        strcpy (runner, "cargo");
        snprintf (cmd, cmdlen, "cargo test %s", t);
    }
    else if (found && !strcmp (found, "CMakeLists.txt")) {
        strcpy (runner, "ctest");
        snprintf (cmd, cmdlen, "cmake -S . -B build >/dev/null && cmake --build build -j2 "
                  ">/dev/null && ctest --test-dir build %s%s", *t ? "-R " : "", t);
    }
    else if (has_py) {
        strcpy (runner, "python");
        snprintf (cmd, cmdlen, "if python3 -c 'import pytest' 2>/dev/null; then python3 -m pytest "
                  "-q %s; else python3 -m unittest %s; fi", t, *t ? t : "discover -v");
    }
    else {
        strcpy (runner, "");
        cmd[0] = '\0';
    }
}

json_t *
ci_run_tests (tool_ctx_t *ctx, json_t *args)
{
    const char *sbx = S (args, "sandboxId"), *target = S (args, "target");
    const char *repo = PROTO_SANDBOX_WORKSPACE "/repo";
    char runner[16] = "custom", cmd[2048];
    json_t *error = NULL;
    if (target && target[0] == '-')
        return tool_error ("pattern_mismatch", "target", "target must not start with '-'");
    if (ctx->dry_run && sandbox_call_check (ctx, sbx, &error))
        return error;
    const char *configured = cfg_str ("CAISSON_TOOLS_TEST_COMMAND");
    if (*configured)
        snprintf (cmd, sizeof cmd, "%s %s", configured, target ? target : "");
    else {
        char *names = NULL;
        if (sh (ctx, sbx, repo, NULL, "ls -A", &names, NULL, &error) != 0) {
            free (names);
            return error ? error : tool_error ("no_repository", "sandboxId", "no repository in "
                                               "this sandbox: clone one with repo.clone first");
        }
        detect (names, target, runner, cmd, sizeof cmd);
        free (names);
        if (!*cmd)
            return tool_error ("no_test_command", NULL, "could not tell how this repository is "
                               "tested; run its tests with runCommand");
    }
    if (ctx->dry_run)
        return json_pack ("{s:b, s:b, s:s, s:s}", "success", 1, "dryRun", 1, "command", cmd,
                          "runner", runner);
    char full[2200];
    snprintf (full, sizeof full, "(%s) 2>&1", cmd);
    proto_msg_t *rep = sandbox_tools_exec (ctx, sbx, full, repo, NULL, &error);
    if (!rep)
        return error;
    json_t *run = sandbox_tools_exec_json (ctx, rep, true);
    const char *log = rep->body.sandbox_exec_result.stdout ? rep->body.sandbox_exec_result.stdout
                                                           : "";
    testlog_counts_t c;
    bool counted = false;
    if (!strcmp (runner, "python") || !strcmp (runner, "custom")) {
        static const char *const order[] = { "unittest", "pytest", "node", "go", "cargo", "ctest" };
        for (size_t i = 0; i < 6 && !counted; i++)
            if ((counted = testlog_parse (order[i], log, &c)) && strcmp (runner, "custom"))
                snprintf (runner, sizeof runner, "%s", order[i]);
    }
    else
        counted = testlog_parse (runner, log, &c);
    json_t *out = json_pack ("{s:O, s:O, s:s, s:s, s:O, s:O}", "success",
                             json_object_get (run, "success"), "exitCode",
                             json_object_get (run, "exitCode"), "command", cmd, "runner", runner,
                             "log", json_object_get (run, "stdout"), "truncated",
                             json_object_get (run, "truncated"));
    json_object_set_new (out, "passed", counted ? json_integer (c.passed) : json_null ());
    json_object_set_new (out, "failed", counted ? json_integer (c.failed) : json_null ());
    json_object_set_new (out, "skipped", counted ? json_integer (c.skipped) : json_null ());
    /* A command that found nothing to run proves nothing: pytest's exit 5,
     * or a summary that counts no test at all. */
    int exit_code = (int) rep->body.sandbox_exec_result.exit_code;
    if ((counted && c.passed + c.failed + c.skipped == 0)
        || (exit_code == 5 && strstr (log, "no tests ran"))) {
        json_t *e = tool_error ("no_tests_found", NULL, "`%s` found no tests to run; a suite "
                                "that runs nothing is not a pass (name a target, or check "
                                "how this repository's tests are found)", cmd);
        json_object_set (out, "error", json_object_get (e, "error"));
        json_object_set_new (out, "success", json_false ());
        json_decref (e);
    }
    char name[64];
    snprintf (name, sizeof name, "ci.runTests %s log", *runner ? runner : "custom");
    json_decref (artifacts_keep (ctx, "test_log", name, log, strlen (log)));
    json_decref (run);
    proto_msg_destroy (&rep);
    return out;
}

int
repo_branch_name (const char *title, const char *call_id, char *out, size_t outlen)
{
    char slug[41], id[CID_SIZE], key[200];
    size_t n = 0;
    bool dash = false;
    for (const char *p = title; *p && n < 40; p++) {
        if (isalnum ((unsigned char) *p) && !((unsigned char) *p & 0x80)) {
            if (dash && n)
                slug[n++] = '-';
            if (n < 40)
                slug[n++] = (char) tolower ((unsigned char) *p);
            dash = false;
        }
        else
            dash = true;
    }
    slug[n] = '\0';
    if (!n)
        return -1;
    snprintf (key, sizeof key, "branch/%s", call_id);
    sandbox_call_derive_id (key, id);
    for (int i = 0; i < 8; i++)
        id[i] = (char) tolower ((unsigned char) id[CID_LEN - 8 + i]);
    snprintf (out, outlen, "caisson/%s-%.8s", slug, id);
    return 0;
}
