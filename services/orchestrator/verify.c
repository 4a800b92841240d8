/* verify: a run's verify checks (see verify.h). */
#include "verify.h"
#include "proto.h"
#include "run_convo.h"

#include <stdio.h>
#include <string.h>

static const char *
str_of (const json_t *j, const char *key)
{
    return json_string_value (json_object_get (j, key));
}

bool
verify_known (const char *name)
{
    return name && strcmp (name, "tests_passed") == 0;
}

const char *
verify_names (void)
{
    return "tests_passed";
}

static const json_t *
tool_of (const json_t *catalogue, const char *name)
{
    size_t i;
    json_t *t;
    json_array_foreach (catalogue, i, t)
        if (strcmp (str_of (t, "name") ?: "", name) == 0)
            return t;
    return NULL;
}

/* What the run's own calls did: its last test run, and whether anything
 * changed at all, and after that test run. */
typedef struct {
    json_t *last_test;          /* its result (owned), or NULL */
    bool changed, changed_after;
} scan_t;

/* True when a runCommand's workingDirectory is the workspace or the
 * repository in it (the default, or where ci.runTests runs the command):
 * the test command run from a directory of the model's making (with its
 * own runtests.sh, Makefile) is not the deployment's. */
static bool
where_tests_run (const json_t *args)
{
    char wd[256];
    snprintf (wd, sizeof wd, "%s", str_of (args, "workingDirectory") ?: "");
    size_t n = strlen (wd);
    while (n > 1 && wd[n - 1] == '/')
        wd[--n] = '\0';
    static const char *const ok[] = { "", ".", PROTO_SANDBOX_WORKSPACE, "repo", "./repo",
                                      PROTO_SANDBOX_WORKSPACE "/repo" };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (!strcmp (wd, ok[i]))
            return true;
    return false;
}

static bool
is_test_run (const json_t *tool, const json_t *args, const char *test_command)
{
    if (!json_is_true (json_object_get (tool, "runsTests")))
        return false;
    /* started, not run: its answer is a process handle (it is a change) */
    if (json_is_true (json_object_get (args, "background")))
        return false;
    const char *cmd = str_of (args, "command");
    /* the whole suite: a target (one file, one module) can leave out the
     * tests that fail */
    if (!json_object_get (args, "command"))
        return !*(str_of (args, "target") ?: "");
    if (json_object_size (json_object_get (args, "envs")) > 0 || !where_tests_run (args))
        return false;
    return cmd && test_command && *test_command && strcmp (cmd, test_command) == 0;
}

static bool
is_change (const json_t *tool, const json_t *args, const json_t *result)
{
    const char *effect = str_of (tool, "effect") ?: "";
    return (strcmp (effect, "sandbox") == 0 || strcmp (effect, "repository") == 0)
        && json_is_string (json_object_get (args, "sandboxId"))
        && !json_is_true (json_object_get (args, "dryRun"))
        && !json_is_false (json_object_get (result, "success"));
}

static void
scan (const json_t *messages, size_t from, const json_t *catalogue, const char *test_command,
      scan_t *out)
{
    memset (out, 0, sizeof *out);
    for (size_t i = from; i < json_array_size (messages); i++) {
        json_t *m = json_array_get (messages, i);
        if (strcmp (str_of (m, "role") ?: "", "tool"))
            continue;
        const json_t *tool = tool_of (catalogue, str_of (m, "name") ?: "");
        const json_t *args = run_convo_args (messages, i);
        json_t *res = run_convo_result (m);
        if (is_test_run (tool, args, test_command)) {
            json_decref (out->last_test);
            out->last_test = res;
            out->changed_after = false;
            continue;
        }
        if (is_change (tool, args, res))
            out->changed = out->changed_after = true;
        json_decref (res);
    }
}

/* The tests_passed verdict on s, detail filled. */
static bool
tests_passed (const scan_t *s, char *detail, size_t len)
{
    const json_t *res = s->last_test;
    json_t *code = json_object_get (res, "exitCode");
    json_t *passed = json_object_get (res, "passed"), *failed = json_object_get (res, "failed");
    if (!res)
        snprintf (detail, len, "no tests were run in this run");
    else if (s->changed_after)
        snprintf (detail, len, "files changed after the last test run");
    else if (!json_is_integer (code))
        snprintf (detail, len, "the last test run did not finish");
    else if (json_integer_value (code) != 0 || json_is_false (json_object_get (res, "success"))
             || json_integer_value (failed) > 0)
        snprintf (detail, len, "the last test run failed");
    else if (passed && json_integer_value (passed) <= 0)
        snprintf (detail, len, "the test run found no tests");
    else {
        if (passed)
            snprintf (detail, len, "%lld tests passed", (long long) json_integer_value (passed));
        else
            snprintf (detail, len, "the test command passed");
        return true;
    }
    return false;
}

int
verify_checks (const json_t *policy, const json_t *messages, size_t from,
               const json_t *catalogue, json_t *results, char *failed, size_t failedlen,
               char *feedback, size_t len)
{
    scan_t s;
    scan (messages, from, catalogue, str_of (policy, "testCommand"), &s);
    const json_t *checks = json_object_get (policy, "verify");
    if (!json_array_size (checks))
        checks = s.changed ? json_object_get (policy, "verifyOnChange") : NULL;
    int rc = 0;
    size_t i;
    json_t *check;
    json_array_foreach (checks, i, check) {
        const char *name = json_string_value (check) ?: "";
        char detail[256] = "unknown check";    /* refused at run.start: never here */
        bool ok = strcmp (name, "tests_passed") == 0 && tests_passed (&s, detail, sizeof detail);
        json_array_append_new (results, json_pack ("{s:s, s:b, s:s}", "name", name, "ok", ok,
                                                   "detail", detail));
        if (!ok) {
            snprintf (failed, failedlen, "%s", name);
            snprintf (feedback, len, "Verification failed (%s): %s. Fix it and run the tests "
                      "again before answering.", name, detail);
            rc = -1;
            break;
        }
    }
    json_decref (s.last_test);
    return rc;
}
