/* eval_score: see eval_score.h. The test runner's counts come from
 * tool-runner's testlog (the same reading ci.runTests makes); a command
 * whose output no runner explains is judged by its exit code alone. */
#define _GNU_SOURCE /* asprintf */
#include "eval_score.h"
#include "eval_bus.h"
#include "testlog.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* writeFiles takes at most this many files a call. */
#define FILES_PER_CALL 200

/* t's tests with dir before each path (new). */
static json_t *
under (const json_t *files, const char *dir)
{
    json_t *out = json_array (), *f;
    size_t i;
    json_array_foreach (files, i, f) {
        const char *p = json_string_value (json_object_get (f, "path"));
        char *path = NULL;
        if (asprintf (&path, "%s%s%s", dir, *dir ? "/" : "", p ? p : "") < 0)
            abort ();
        json_array_append_new (out, json_pack ("{s:s, s:O}", "path", path, "data",
                                               json_object_get (f, "data")));
        free (path);
    }
    return out;
}

/* Writes files into sandbox, FILES_PER_CALL at a time: 0, or -1 with why. */
static int
write_all (bus_client_t *c, const char *sandbox, const json_t *files, char *why, size_t n)
{
    size_t total = json_array_size (files);
    for (size_t at = 0; at < total; at += FILES_PER_CALL) {
        json_t *part = json_array ();
        for (size_t i = at; i < total && i < at + FILES_PER_CALL; i++)
            json_array_append (part, json_array_get (files, i));
        json_t *args = json_pack ("{s:s, s:o}", "sandboxId", sandbox, "files", part);
        if (evalbus_tool_ok (c, "writeFiles", args, 60, NULL, why, n))
            return -1;
    }
    return 0;
}

/* The counts in log: the runner the command names, else any runner that
 * finds some test in it (a script's own "ok name" lines are no runner's
 * zero). True when one did. */
static bool
counts (const char *command, const char *log, testlog_counts_t *k)
{
    static const char *const runners[] = { "pytest", "unittest", "node", "go", "cargo", "ctest" };
    for (size_t i = 0; i < sizeof runners / sizeof *runners; i++)
        if (strstr (command, runners[i]) && testlog_parse (runners[i], log, k))
            return true;
    for (size_t i = 0; i < sizeof runners / sizeof *runners; i++)
        if (testlog_parse (runners[i], log, k) && k->passed + k->failed + k->skipped > 0)
            return true;
    *k = (testlog_counts_t) { 0 };
    return false;
}

/* Whether command invokes a test runner by name (as a word: `pytest`,
 * `unittest`, `node --test`, `go test`, `cargo test`, `ctest`), whose
 * summary the output must then hold. */
static bool
invokes_runner (const char *command)
{
    static const char *const calls[] = { "pytest", "unittest", "--test", "go test", "cargo test",
                                         "ctest" };
    for (size_t i = 0; i < sizeof calls / sizeof *calls; i++)
        for (const char *p = command; (p = strstr (p, calls[i])); p++) {
            size_t n = strlen (calls[i]);
            bool start = p == command || !(isalnum ((unsigned char) p[-1]) || p[-1] == '_'
                                           || (p[-1] == '-' && calls[i][0] != '-'));
            bool end = !(isalnum ((unsigned char) p[n]) || p[n] == '_' || p[n] == '-');
            if (start && end)
                return true;
        }
    return false;
}

/* Whether the output says no test ran: pytest's "no tests ran",
 * unittest's "Ran 0 tests", node --test's "# tests 0" / "ℹ tests 0". */
static bool
says_none (const char *log)
{
    return strstr (log, "no tests ran") || strstr (log, "Ran 0 tests")
        || strstr (log, "# tests 0\n") || strstr (log, "\xe2\x84\xb9 tests 0\n")
        || strstr (log, "NO TESTS RAN");
}

int
eval_score_write (bus_client_t *c, const char *sandbox, const char *dir, const json_t *files,
                  char *why, size_t n)
{
    json_t *all = under (files, dir);
    int rc = write_all (c, sandbox, all, why, n);
    json_decref (all);
    return rc;
}

json_t *
eval_score_tests (bus_client_t *c, const char *sandbox, const char *dir, const evaltask_t *t,
                  char *why, size_t n)
{
    if (eval_score_write (c, sandbox, dir, t->tests, why, n))
        return NULL;
    char cwd[512];
    snprintf (cwd, sizeof cwd, "/workspace%s%s", *dir ? "/" : "", dir);
    json_t *r = evalbus_command (c, sandbox, t->test_command, cwd, 600, why, n);
    if (!r)
        return NULL;
    json_t *code = json_object_get (r, "exitCode");
    const char *out = json_string_value (json_object_get (r, "stdout")) ?: "";
    const char *err = json_string_value (json_object_get (r, "stderr")) ?: "";
    /* No exit code: the command never finished (the agent's code hung
     * past the tool's time) or never started. The attempt failed its
     * tests; the harness did its part. */
    const char *stop = NULL;
    if (!json_is_integer (code))
        stop = json_string_value (json_object_get (json_object_get (r, "error"), "message"))
             ?: "no exit code";
    char *log = NULL;
    if (asprintf (&log, "%s%s%s%s%s%s", out, *out && *err ? "\n" : "", err,
                  stop ? "\n[the test command did not finish: " : "", stop ? stop : "",
                  stop ? "]" : "") < 0)
        abort ();
    testlog_counts_t k = { 0 };
    bool known = counts (t->test_command, log, &k);
    long exit_code = json_is_integer (code) ? (long) json_integer_value (code) : -1;
    /* pytest's exit status 5 is "no tests collected"; another command's 5
     * may count failures */
    /* A runner the command invokes that exits 0 with no summary ran no
     * test the harness can see: the agent's code exiting 0 as the tests
     * import it is no pass. (A failing command keeps its cause.) */
    bool none = says_none (log) || (exit_code == 5 && strstr (t->test_command, "pytest"))
             || (known && k.passed + k.failed == 0)
             || (!known && exit_code == 0 && invokes_runner (t->test_command));
    size_t len = strlen (log);
    if (len > EVAL_TEST_OUTPUT_MAX) {
        /* the end holds the summary and the failures' tracebacks */
        size_t cut = len - EVAL_TEST_OUTPUT_MAX;
        while (cut < len && ((unsigned char) log[cut] & 0xC0) == 0x80)
            cut++;
        memmove (log, log + cut, len - cut + 1);
    }
    json_t *res = json_pack ("{s:I, s:s, s:b}", "exitCode", (json_int_t) exit_code, "output", log,
                             "ranNone", none);
    json_object_set_new (res, "passed", known ? json_integer (k.passed) : json_null ());
    json_object_set_new (res, "failed", known ? json_integer (k.failed) : json_null ());
    free (log);
    json_decref (r);
    return res;
}

const char *
eval_score_cause (const eval_outcome_t *o, const json_t *tests)
{
    const char *s = o->status ? o->status : "";
    if (o->timed_out || (o->budget && !strcmp (o->budget, "wallSeconds")))
        return "timeout";
    if (!strcmp (s, "budget_exhausted"))
        return "budget_exhausted";
    if (!strcmp (s, "refused"))
        return "refused";
    if (!strcmp (s, "failed"))
        return o->failed_on_tool ? "tool_error" : "model_error";
    if (!strcmp (s, "truncated") || !strcmp (s, "orchestrator_restarted")
        || !strcmp (s, "cancelled"))
        return "model_error";
    if (tests && json_is_true (json_object_get (tests, "ranNone")))
        return "no_tests_run";
    if (o->last_tool_failed)
        return "tool_error";
    return "tests_failed";
}

double
eval_pass_at_k (unsigned n, unsigned c, unsigned k)
{
    if (n == 0)
        return 0.0;
    if (k > n)
        k = n;
    if (n - c < k)
        return 1.0;
    /* C(n-c, k) / C(n, k) = prod_{i = n-c+1}^{n} (1 - k / i) */
    double fail = 1.0;
    for (unsigned i = n - c + 1; i <= n; i++)
        fail *= 1.0 - (double) k / (double) i;
    return 1.0 - fail;
}
