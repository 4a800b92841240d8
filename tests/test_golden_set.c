/* test_golden_set: every task of the project's golden set (evals/golden)
 * and of the imported example (evals/imported-example) is sound: its
 * reference solution laid over its starting files passes its hidden tests,
 * and the starting files alone fail them. Each task is written out as the
 * harness writes a sandbox's workspace (files, then solution, then tests,
 * from evalset's own reading) into a temporary directory and its
 * testCommand run there by sh with a sandbox's PATH. The set's shape is
 * checked too: at least 22 tasks, the four languages, every kind of task. */
#include "support.h"
#include "evalset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *s_dir;

static void
write_all (const char *root, const json_t *list)
{
    size_t i;
    json_t *f;
    json_array_foreach (list, i, f) {
        char path[2048];
        snprintf (path, sizeof path, "%s/%s", root, support_json_str (f, "path"));
        char *slash = strrchr (path, '/');
        *slash = '\0';
        support_sh ("mkdir -p '%s'", path);
        *slash = '/';
        FILE *out = fopen (path, "w");
        assert_non_null (out);
        fputs (support_json_str (f, "data"), out);
        fclose (out);
    }
}

/* Runs t's test command in a fresh workspace of its files (and solution
 * when solved) plus its tests; the exit status (124 on a timeout). */
static int
run_task (const char *set, const evaltask_t *t, bool solved)
{
    static int n;
    char ws[700], log[760];
    snprintf (ws, sizeof ws, "%s/%s-%s-%d", s_dir, set, t->id, ++n);
    snprintf (log, sizeof log, "%s.log", ws);
    assert_int_equal (mkdir (ws, 0700), 0);
    write_all (ws, t->files);
    if (solved)
        write_all (ws, t->solution);
    write_all (ws, t->tests);
    pid_t pid = fork ();
    if (pid == 0) {
        if (chdir (ws) || !freopen (log, "w", stdout) || dup2 (STDOUT_FILENO, STDERR_FILENO) < 0)
            _exit (126);
        /* what a sandbox's processes get (docs/sandbox.md) */
        setenv ("PATH", "/usr/local/bin:/usr/bin:/bin", 1);
        setenv ("HOME", ws, 1);
        setenv ("LANG", "C.UTF-8", 1);
        execl ("/usr/bin/timeout", "timeout", "120", "sh", "-c", t->test_command, (char *) NULL);
        _exit (127);
    }
    int status;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    int rc = WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
    if (solved && rc != 0) {
        char out[4096] = "";
        FILE *f = fopen (log, "r");
        size_t k = f ? fread (out, 1, sizeof out - 1, f) : 0;
        out[k] = '\0';
        if (f)
            fclose (f);
        print_error ("%s/%s with its solution: `%s` exited %d:\n%s\n", set, t->id,
                     t->test_command, rc, out);
    }
    return rc;
}

static void
check_set (const char *dir, size_t at_least)
{
    char why[512];
    evalset_t *s = evalset_load (dir, why, sizeof why);
    if (!s)
        fail_msg ("%s", why);
    assert_true (evalset_size (s) >= at_least);
    int bad = 0;
    for (size_t i = 0; i < evalset_size (s); i++) {
        const evaltask_t *t = evalset_task (s, i);
        if (!t->solution) {
            print_error ("%s: no reference solution\n", t->id);
            bad++;
            continue;
        }
        if (run_task (evalset_name (s), t, true) != 0)
            bad++;
        if (run_task (evalset_name (s), t, false) == 0) {
            print_error ("%s: its starting files pass the hidden tests\n", t->id);
            bad++;
        }
    }
    evalset_destroy (&s);
    assert_int_equal (bad, 0);
}

static bool
tagged (const evaltask_t *t, const char *tag)
{
    size_t i;
    json_t *v;
    json_array_foreach (t->tags, i, v)
        if (strcmp (json_string_value (v), tag) == 0)
            return true;
    return false;
}

static void
test_golden_shape (void **state)
{
    (void) state;
    char why[512];
    evalset_t *s = evalset_load (CAISSON_SOURCE_DIR "/evals/golden", why, sizeof why);
    if (!s)
        fail_msg ("%s", why);
    static const char *const langs[] = { "python", "javascript", "typescript", "shell" };
    static const char *const kinds[] = { "new-code", "bug-fix", "refactor", "pull-request" };
    int lang_n[4] = { 0 }, kind_n[4] = { 0 }, prs = 0;
    for (size_t i = 0; i < evalset_size (s); i++) {
        const evaltask_t *t = evalset_task (s, i);
        for (int k = 0; k < 4; k++) {
            lang_n[k] += strcmp (t->language, langs[k]) == 0;
            kind_n[k] += tagged (t, kinds[k]);
        }
        prs += strcmp (t->success, "pr") == 0;
        /* a repository's task is about its several files */
        if (t->repo)
            assert_true (json_array_size (t->files) >= 2);
    }
    for (int k = 0; k < 4; k++) {
        if (!lang_n[k] || !kind_n[k])
            fail_msg ("no %s task or no %s task", langs[k], kinds[k]);
    }
    assert_true (prs >= 1);
    assert_true (evalset_size (s) >= 22);
    evalset_destroy (&s);
}

static void
test_golden_solutions (void **state)
{
    (void) state;
    check_set (CAISSON_SOURCE_DIR "/evals/golden", 22);
}

static void
test_imported_solutions (void **state)
{
    (void) state;
    check_set (CAISSON_SOURCE_DIR "/evals/imported-example", 2);
}

int
main (void)
{
    s_dir = support_sandbox_env ("golden");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_golden_shape),
        cmocka_unit_test (test_golden_solutions),
        cmocka_unit_test (test_imported_solutions),
    };
    return support_run_group_tests (tests, NULL, NULL);
}
