/* eval_run: see eval_run.h. The run is followed by polling run.get (every
 * POLL_MS once it has run a moment; a missed answer only delays the next
 * look, and nothing depends on catching a published event), and read back afterwards from its stored
 * events: the failed event's budget, the last tool result, the pull
 * request git.openPR opened. The patch is the work tree against a
 * snapshot the harness commits before the run into a git directory of its
 * own in the sandbox's /tmp, so it holds every change the agent made,
 * committed or not, and nothing the agent could rewrite by mistake. */
#include "eval_run.h"
#include "eval_bus.h"
#include "eval_repo.h"
#include "eval_score.h"

#include <czmq.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLL_MS 200
/* How long a cancelled run may take to end before it is left as it is. */
#define CANCEL_WAIT_MS 30000
/* How long an attempt waits for room under a per-user limit. */
#define LIMIT_WAIT_MS 600000

/* The harness's git reads none of the agent's configuration (HOME is the
 * workspace: a ~/.gitconfig there could name a filter, an fsmonitor or a
 * hook, commands run by the harness's `git add`). */
#define BASE "HOME=/nonexistent XDG_CONFIG_HOME=/nonexistent GIT_CONFIG_NOSYSTEM=1 git " \
             "-c core.fsmonitor=false -c core.hooksPath=/dev/null " \
             "--git-dir=/tmp/.caisson-eval.git --work-tree=. "
/* The snapshot's own configuration and attributes (in /tmp, where the
 * agent can write too) made again before the patch is taken: no filter,
 * textconv or eol conversion, whatever the work tree's .gitattributes say
 * ($GIT_DIR/info/attributes comes first). */
#define RESET "printf '[core]\\n\\trepositoryformatversion = 0\\n\\tbare = false\\n' " \
              "> /tmp/.caisson-eval.git/config && printf '* !filter !diff !text !eol !ident " \
              "!working-tree-encoding\\n' > /tmp/.caisson-eval.git/info/attributes && "
#define ID "-c user.name='Caisson eval' -c user.email=eval@caisson.invalid -c commit.gpgsign=false "
/* Caches and tool state a run leaves that are no part of its change. */
#define EXCLUDE ".git __pycache__/ '*.pyc' node_modules/ .pytest_cache/ .cache/ .npm/ .config/"

typedef struct {
    const eval_opts_t *o;
    const evaltask_t *t;
    bus_client_t *c;
    bool pr;                    /* success is a pull request */
    const char *dir;            /* the task's root, relative to the workspace */
    char sandbox[128], scorer[128];
    char repo[256], url[PATH_MAX];
    char run[128], thread[128];
    char why[1024];
    json_t *rec;                /* the attempt's record */
} attempt_t;

static bool
stopped (const attempt_t *a)
{
    return a->o->stop && atomic_load (a->o->stop);
}

/* runCommand that must exit 0: 0, or -1 with why. */
static int
command_ok (attempt_t *a, const char *sandbox, const char *command, const char *what)
{
    char cwd[300];
    snprintf (cwd, sizeof cwd, "/workspace%s%s", *a->dir ? "/" : "", a->dir);
    json_t *r = evalbus_command (a->c, sandbox, command, cwd, 120, a->why, sizeof a->why);
    json_t *code = json_object_get (r, "exitCode");
    int rc = json_is_integer (code) && json_integer_value (code) == 0 ? 0 : -1;
    if (r && rc)
        snprintf (a->why, sizeof a->why, "%s failed (exit %lld): %.600s", what,
                  (long long) json_integer_value (code),
                  json_string_value (json_object_get (r, "stderr")) ?: "");
    json_decref (r);
    return rc;
}

/* Waits a little before asking again for what a per-user limit refused
 * (the eval's own sandboxes and runs count against it): false when the
 * eval is stopping or LIMIT_WAIT_MS have passed since since. */
static bool
wait_for_room (const attempt_t *a, int64_t since)
{
    if (stopped (a) || zclock_mono () - since > LIMIT_WAIT_MS)
        return false;
    zclock_sleep (500 + (int) randof (500));
    return true;
}

static int
new_sandbox (attempt_t *a, char *id)
{
    int64_t since = zclock_mono ();
    for (;;) {
        bool ok = false;
        json_t *r = evalbus_tool (a->c, "createSandbox",
                                  json_pack ("{s:s, s:{s:s}}", "network", "none", "labels",
                                             EVAL_SANDBOX_LABEL, a->o->eval_id),
                                  90, &ok, a->why, sizeof a->why);
        const char *code = json_string_value (
            json_object_get (json_object_get (r, "error"), "code"));
        if (r && !ok && code && !strcmp (code, "too_many_sandboxes") && wait_for_room (a, since)) {
            json_decref (r);
            continue;
        }
        if (r && !ok)
            snprintf (a->why, sizeof a->why, "createSandbox failed: %s: %s", code ? code : "?",
                      json_string_value (json_object_get (json_object_get (r, "error"),
                                                          "message")) ?: "");
        const char *made = ok ? json_string_value (json_object_get (r, "sandboxId")) : NULL;
        snprintf (id, 128, "%s", made ? made : "");
        json_decref (r);
        return *id ? 0 : -1;
    }
}

static int
clone_into (attempt_t *a, const char *sandbox, const char *branch)
{
    json_t *args = json_pack ("{s:s, s:s, s:s}", "sandboxId", sandbox, "url", a->url, "branch",
                              branch);
    return evalbus_tool_ok (a->c, "repo.clone", args, 150, NULL, a->why, sizeof a->why);
}

/* The sandbox with the task's starting point and the harness's snapshot. */
static int
prepare (attempt_t *a)
{
    if (new_sandbox (a, a->sandbox))
        return -1;
    if (a->pr) {
        snprintf (a->repo, sizeof a->repo, "%s/%s-%s-%s", a->o->user, a->o->eval_id, a->t->id,
                  a->sandbox);
        if (eval_repo_make (a->o->data, a->repo, a->t->files, a->url, sizeof a->url, a->why,
                            sizeof a->why)
            || clone_into (a, a->sandbox, "main"))
            return -1;
    }
    else if (eval_score_write (a->c, a->sandbox, "", a->t->files, a->why, sizeof a->why))
        return -1;
    if (a->t->repo && !a->pr
        && command_ok (a, a->sandbox, "git init -q && git add -A && git " ID
                       "commit -q --allow-empty -m start", "git init"))
        return -1;
    return command_ok (a, a->sandbox, "git --git-dir=/tmp/.caisson-eval.git init -q && printf "
                       "'%s\\n' " EXCLUDE " > /tmp/.caisson-eval.git/info/exclude && " BASE
                       "add -A && " BASE ID "commit -q --allow-empty -m start", "the snapshot");
}

/* Follows the run until it ends (or the deadline, or an interrupt);
 * returns its last run.get (new), NULL when interrupted. */
static json_t *
follow (attempt_t *a, unsigned limit_s, bool *timed_out)
{
    int64_t deadline = zclock_mono () + (int64_t) (limit_s + a->o->grace_s) * 1000;
    int64_t give_up = 0;
    char decided[128] = "";
    json_t *info = NULL;
    int pause = POLL_MS / 8;    /* a quick run is seen quickly; a long one every POLL_MS */
    for (;;) {
        if (stopped (a)) {
            evalbus_run_cancel (a->c, a->run);
            json_decref (info);
            return NULL;
        }
        json_t *now = evalbus_run_get (a->c, a->run);
        if (now) {
            json_decref (info);
            info = now;
        }
        const char *status = json_string_value (json_object_get (info, "status"));
        proto_run_status_t st = proto_run_status_lookup (status);
        if (status && (st == PROTO_RUN_STATUS_COUNT || !proto_run_status_live (st)))
            return info;
        const char *call = json_string_value (
            json_object_get (json_object_get (info, "pending"), "toolCallId"));
        if (st == PROTO_RUN_awaiting_approval && call && strcmp (call, decided)
            && evalbus_run_decide (a->c, a->run, call, !strcmp (a->t->approvals, "approve")) == 0)
            snprintf (decided, sizeof decided, "%s", call);
        int64_t t = zclock_mono ();
        if (!give_up && t >= deadline) {
            *timed_out = true;
            evalbus_run_cancel (a->c, a->run);
            give_up = t + CANCEL_WAIT_MS;
        }
        else if (give_up && t >= give_up)
            return info ? info : json_object ();
        zclock_sleep (pause);
        pause = pause * 2 < POLL_MS ? pause * 2 : POLL_MS;
    }
}

/* Whether events hold the run's end (`complete` or `failed`). */
static bool
ended (const json_t *events)
{
    size_t i;
    json_t *e;
    json_array_foreach (events, i, e) {
        const char *kind = json_string_value (json_object_get (e, "kind")) ?: "";
        if (!strcmp (kind, "complete") || !strcmp (kind, "failed"))
            return true;
    }
    return false;
}

/* What the run's stored events say: the budget that ran out, its last
 * tool result's fate, the pull request it opened. */
static void
evidence (attempt_t *a, eval_outcome_t *out, json_t **pr)
{
    json_t *events = NULL;
    /* an ended run's last event may still be on its way to the store */
    for (int i = 0; i < 25; i++) {
        json_decref (events);
        events = evalbus_events (a->c, a->run);
        if (ended (events))
            break;
        zclock_sleep (POLL_MS);
    }
    size_t i;
    json_t *e;
    bool step_after = false;
    json_array_foreach (events, i, e) {
        const char *kind = json_string_value (json_object_get (e, "kind")) ?: "";
        json_t *data = json_object_get (e, "data");
        json_t *ts = json_object_get (e, "ts");
        if (json_is_integer (ts) && !strcmp (kind, "run_started"))
            out->started_us = json_integer_value (ts);
        if (json_is_integer (ts) && (!strcmp (kind, "complete") || !strcmp (kind, "failed")))
            out->ended_us = json_integer_value (ts);
        if (!strcmp (kind, "tool_result")) {
            out->last_tool_failed = !json_is_true (json_object_get (data, "ok"));
            step_after = false;
            const char *name = json_string_value (json_object_get (data, "name")) ?: "";
            json_t *r = json_object_get (data, "result");
            if (!strcmp (name, "git.openPR") && !out->last_tool_failed
                && json_string_value (json_object_get (r, "branch"))) {
                json_decref (*pr);
                *pr = json_pack ("{s:O*, s:O*, s:O*, s:O*, s:O*}", "id",
                                 json_object_get (r, "id"), "url", json_object_get (r, "url"),
                                 "branch", json_object_get (r, "branch"), "base",
                                 json_object_get (r, "base"), "commit",
                                 json_object_get (r, "commit"));
            }
        }
        else if (!strcmp (kind, "step_started"))
            step_after = true;
        else if (!strcmp (kind, "failed")) {
            const char *b = json_string_value (json_object_get (data, "budget"));
            if (b)
                json_object_set_new (a->rec, "budget", json_string (b));
        }
    }
    out->failed_on_tool = out->last_tool_failed && !step_after;
    json_decref (events);
}

/* Ends every process the agent left running in its sandbox (a command
 * started in the background lives on after its call), so none of them
 * can rewrite the workspace once the patch is taken or the hidden tests
 * are in. kill(-1) spares only the sandbox's init and the shell sending
 * it; twice, for a child forked while the first went round. */
static void
end_leftovers (attempt_t *a)
{
    char why[512];
    json_decref (evalbus_command (a->c, a->sandbox, "kill -9 -1 2>/dev/null; "
                                  "kill -9 -1 2>/dev/null; true", "/tmp", 30, why, sizeof why));
}

/* Writes path to out single-quoted for sh (the set's paths hold no
 * control characters; a quote is closed, escaped and reopened). */
static void
quoted (FILE *out, const char *path, size_t len)
{
    fputc ('\'', out);
    for (size_t i = 0; i < len; i++)
        if (path[i] == '\'')
            fputs ("'\\''", out);
        else
            fputc (path[i], out);
    fputc ('\'', out);
}

/* Clears the hidden tests' paths in the run's sandbox: what the agent
 * left there (a directory at a test's path, a file where a directory of
 * tests goes) would make writing them fail, and that is the attempt's
 * failure, not the harness's. Best effort: writing the tests says the rest. */
static void
clear_test_paths (attempt_t *a)
{
    char *command = NULL, why[512];
    size_t size = 0;
    FILE *out = open_memstream (&command, &size);
    if (!out)
        return;
    size_t i;
    json_t *f;
    json_array_foreach (a->t->tests, i, f) {
        const char *path = json_string_value (json_object_get (f, "path")) ?: "";
        /* each directory above it must be one (or a link to one) */
        for (const char *slash = path; (slash = strchr (slash, '/')); slash++) {
            fputs ("{ [ -d ", out);
            quoted (out, path, (size_t) (slash - path));
            fputs (" ] || rm -f -- ", out);
            quoted (out, path, (size_t) (slash - path));
            fputs ("; }; ", out);
        }
        fputs ("rm -rf -- ", out);
        quoted (out, path, strlen (path));
        fputs ("; ", out);
    }
    fputs ("true", out);
    if (fclose (out) == 0)
        json_decref (evalbus_command (a->c, a->sandbox, command, "/workspace", 60, why,
                                      sizeof why));
    free (command);
}

/* The change the run made (cut to EVAL_PATCH_MAX at a line), or "". */
static json_t *
patch (attempt_t *a)
{
    char cwd[300], why[512];
    snprintf (cwd, sizeof cwd, "/workspace%s%s", *a->dir ? "/" : "", a->dir);
    json_t *r = evalbus_command (a->c, a->sandbox, RESET BASE "add -A && " BASE
                                 "diff --cached --no-color --no-ext-diff --no-textconv", cwd,
                                 120, why, sizeof why);
    const char *text = json_string_value (json_object_get (r, "stdout")) ?: "";
    size_t len = strlen (text);
    if (len > EVAL_PATCH_MAX) {
        len = EVAL_PATCH_MAX;
        while (len && text[len - 1] != '\n')
            len--;
    }
    json_t *p = json_stringn (text, len);
    json_decref (r);
    return p ? p : json_string ("");
}

/* The hidden tests: in the run's sandbox, or for a pull request in a
 * fresh one on its branch. NULL when they could not run (why set unless
 * there was simply no pull request to test). */
static json_t *
tests (attempt_t *a, const json_t *pr)
{
    if (!a->pr) {
        end_leftovers (a);      /* anything started since the patch was taken */
        clear_test_paths (a);
        return eval_score_tests (a->c, a->sandbox, "", a->t, a->why, sizeof a->why);
    }
    const char *branch = json_string_value (json_object_get (pr, "branch"));
    if (!branch)
        return NULL;
    if (new_sandbox (a, a->scorer) || clone_into (a, a->scorer, branch))
        return NULL;
    return eval_score_tests (a->c, a->scorer, "repo", a->t, a->why, sizeof a->why);
}

static void
set_u64 (json_t *rec, const char *key, const json_t *usage, const char *from)
{
    json_t *v = json_object_get (usage, from);
    json_object_set_new (rec, key, json_integer (json_is_integer (v) ? json_integer_value (v) : 0));
}

/* Usage, cost and the time the run took, from its last run.get. */
static void
usage (attempt_t *a, const json_t *info, const eval_outcome_t *o, int64_t run_ms)
{
    json_t *u = json_object_get (info, "usage");
    set_u64 (a->rec, "steps", u, "steps");
    set_u64 (a->rec, "toolCalls", u, "toolCalls");
    set_u64 (a->rec, "inputTokens", u, "inputTokens");
    set_u64 (a->rec, "outputTokens", u, "outputTokens");
    /* the stored events' times; run.get's usage counts whole seconds */
    double secs = o->ended_us > o->started_us && o->started_us
                ? (double) (o->ended_us - o->started_us) / 1e6 : (double) run_ms / 1000.0;
    json_object_set_new (a->rec, "seconds", json_real (secs));
    const char *model = json_string_value (json_object_get (info, "model"));
    const mprice_t *p = a->o->prices && model ? mprice_of (a->o->prices, model) : NULL;
    uint64_t nano = p ? mprice_cost (p, (uint64_t) json_integer_value (json_object_get (u, "inputTokens")),
                                     (uint64_t) json_integer_value (json_object_get (u, "cachedTokens")),
                                     (uint64_t) json_integer_value (json_object_get (u, "outputTokens")))
                      : 0;
    json_object_set_new (a->rec, "costUsd", json_real ((double) nano / 1e9));
}

/* Runs the agent and judges it; false when interrupted. */
static bool
attempt (attempt_t *a)
{
    unsigned limit = a->o->time_limit_s ? a->o->time_limit_s : a->t->time_limit_s;
    char *prompt = evalset_prompt (a->t, a->sandbox, a->pr ? a->url : NULL);
    if (!prompt) {
        snprintf (a->why, sizeof a->why, "no prompt for sandbox %s and repository %.512s", a->sandbox,
                  a->url);
        return true;
    }
    int rc;
    int64_t since = zclock_mono ();
    while ((rc = evalbus_run_start (a->c, prompt, a->o->model, a->o->profile, limit, a->run,
                                    a->thread, a->why, sizeof a->why)) == 1
           && wait_for_room (a, since))
        ;
    free (prompt);
    if (rc)
        return !stopped (a);
    json_object_set_new (a->rec, "runId", json_string (a->run));
    json_object_set_new (a->rec, "threadId", json_string (a->thread));
    int64_t t0 = zclock_mono ();
    eval_outcome_t out = { 0 };
    json_t *info = follow (a, limit, &out.timed_out);
    if (!info)
        return false;
    int64_t run_ms = zclock_mono () - t0;
    out.status = json_string_value (json_object_get (info, "status"));
    json_object_set_new (a->rec, "runStatus", json_string (out.status ? out.status : "unknown"));
    const char *profile = json_string_value (json_object_get (info, "profile"));
    if (profile)
        json_object_set_new (a->rec, "profile", json_string (profile));
    const char *reason = json_string_value (json_object_get (info, "reason"));
    if (reason)
        json_object_set_new (a->rec, "reason", json_string (reason));
    json_t *pr = NULL;
    evidence (a, &out, &pr);
    usage (a, info, &out, run_ms);
    out.budget = json_string_value (json_object_get (a->rec, "budget"));
    end_leftovers (a);
    json_object_set_new (a->rec, "patch", patch (a));
    int64_t t1 = zclock_mono ();
    json_t *t = tests (a, pr);
    json_object_set_new (a->rec, "testsSeconds", json_real ((double) (zclock_mono () - t1) / 1000.0));
    bool passed = t && json_integer_value (json_object_get (t, "exitCode")) == 0
               && !json_is_true (json_object_get (t, "ranNone"));
    json_object_set_new (a->rec, "passed", json_boolean (passed));
    if (!passed)
        json_object_set_new (a->rec, "cause", json_string (eval_score_cause (&out, t)));
    if (t) {
        json_object_del (t, "ranNone");
        json_object_set_new (a->rec, "tests", t);
    }
    if (pr)
        json_object_set_new (a->rec, "pr", pr);
    json_decref (info);
    return true;
}

json_t *
eval_run_attempt (const eval_opts_t *o, const evaltask_t *t, unsigned number)
{
    attempt_t a = { .o = o, .t = t, .pr = !strcmp (t->success, "pr") };
    a.dir = a.pr ? "repo" : "";
    a.rec = json_pack ("{s:s, s:i, s:b}", "task", t->id, "attempt", (int) number, "passed", 0);
    int64_t t0 = zclock_mono ();
    a.c = evalbus_client (3);
    bool done = true;
    if (!a.c)
        snprintf (a.why, sizeof a.why, "cannot reach the bus");
    else if (prepare (&a) == 0)
        done = attempt (&a);
    if (*a.why && done)
        json_object_set_new (a.rec, "error", json_string (a.why));
    if (a.c && *a.sandbox)
        evalbus_destroy_sandbox (a.c, a.sandbox);
    if (a.c && *a.scorer)
        evalbus_destroy_sandbox (a.c, a.scorer);
    if (*a.repo)
        eval_repo_remove (o->data, a.repo);
    bus_client_destroy (&a.c);
    double wall = (double) (zclock_mono () - t0) / 1000.0;
    json_object_set_new (a.rec, "wallSeconds", json_real (wall));
    if (!done)
        json_decref (a.rec);
    return done ? a.rec : NULL;
}
