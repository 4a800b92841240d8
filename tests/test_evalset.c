/* test_evalset: libcommon's evalset (golden task sets on disk). The
 * project's golden set and the imported example (public exercise layout
 * through caisson-set.json) load; prompts made for a task are matched back
 * with their sandbox and repository; and hostile folders built in a
 * temporary directory (a symlink to /etc/passwd, a FIFO, `..` in the
 * mapping, a 2 MiB file, bytes that are not UTF-8, missing manifest keys,
 * nesting past the cap) are each refused with a message naming what was
 * wrong, without hanging on the FIFO. */
#define _GNU_SOURCE
#include "support.h"
#include "evalset.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *s_dir;
static int s_case;

static void
put (const char *path, const char *text)
{
    support_sh ("mkdir -p \"$(dirname '%s')\"", path);
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fputs (text, f);
    fclose (f);
}

/* A new set directory holding one valid task, t1; its path (static). */
static const char *
fresh_set (void)
{
    static char set[600];
    char p[700];
    snprintf (set, sizeof set, "%s/set%d", s_dir, ++s_case);
    snprintf (p, sizeof p, "%s/t1/manifest.json", set);
    put (p, "{\"id\": \"t1\", \"language\": \"python\", \"timeLimitS\": 60, "
            "\"testCommand\": \"python3 -m unittest\"}");
    snprintf (p, sizeof p, "%s/t1/task.md", set);
    put (p, "Write add(a, b) in calc.py.\n");
    snprintf (p, sizeof p, "%s/t1/files/calc.py", set);
    put (p, "def add(a, b):\n    pass\n");
    snprintf (p, sizeof p, "%s/t1/tests/test_calc.py", set);
    put (p, "import calc\n");
    return set;
}

/* Loading set must fail with a message holding each of want (NULL-ended). */
static void
refused (const char *set, const char *const want[])
{
    char why[512] = "";
    evalset_t *s = evalset_load (set, why, sizeof why);
    if (s) {
        evalset_destroy (&s);
        fail_msg ("%s loaded; expected a refusal naming %s", set, want[0]);
    }
    for (int i = 0; want[i]; i++)
        if (!strstr (why, want[i]))
            fail_msg ("the refusal \"%s\" does not name \"%s\"", why, want[i]);
}

static const char *
data_at (const json_t *list, const char *path)
{
    size_t i;
    json_t *f;
    json_array_foreach (list, i, f)
        if (strcmp (support_json_str (f, "path"), path) == 0)
            return support_json_str (f, "data");
    return NULL;
}

static void
test_golden_loads (void **state)
{
    (void) state;
    char why[512];
    evalset_t *s = evalset_load (CAISSON_SOURCE_DIR "/evals/golden/", why, sizeof why);
    if (!s)
        fail_msg ("%s", why);
    assert_string_equal (evalset_name (s), "golden");
    assert_true (evalset_size (s) >= 22);
    for (size_t i = 1; i < evalset_size (s); i++)
        assert_true (strcmp (evalset_task (s, i - 1)->id, evalset_task (s, i)->id) < 0);
    assert_null (evalset_task (s, evalset_size (s)));
    const evaltask_t *t = evalset_find (s, "py-fix-inventory");
    assert_non_null (t);
    assert_string_equal (t->language, "python");
    assert_true (t->repo);
    assert_string_equal (t->success, "tests");
    assert_string_equal (t->approvals, "approve");
    assert_int_equal (t->time_limit_s, 600);
    assert_non_null (data_at (t->files, "inventory/store.py"));
    assert_non_null (data_at (t->tests, "test_hidden_inventory.py"));
    assert_non_null (data_at (t->solution, "inventory/report.py"));
    assert_non_null (strstr (t->task, "OutOfStock"));
    t = evalset_find (s, "js-pr-semver-compare");
    assert_non_null (t);
    assert_string_equal (t->success, "pr");
    assert_null (evalset_find (s, "no-such-task"));
    evalset_destroy (&s);
    assert_null (s);
}

static void
test_imported_example (void **state)
{
    (void) state;
    char why[512];
    evalset_t *s = evalset_load (CAISSON_SOURCE_DIR "/evals/imported-example", why, sizeof why);
    if (!s)
        fail_msg ("%s", why);
    assert_int_equal (evalset_size (s), 2);
    const evaltask_t *t = evalset_find (s, "ex-leap");
    assert_non_null (t);
    assert_string_equal (t->language, "python");
    assert_int_equal (t->time_limit_s, 300);
    assert_string_equal (json_string_value (json_array_get (t->tags, 1)), "imported");
    assert_non_null (strstr (t->task, "divisible by 4"));
    assert_non_null (strstr (t->task, "leap_year(year)"));     /* the .append */
    assert_non_null (strstr (t->task, "Write your solution in `leap.py`"));
    assert_int_equal (json_array_size (t->files), 1);
    assert_non_null (strstr (data_at (t->files, "leap.py"), "pass"));
    assert_non_null (data_at (t->tests, "leap_test.py"));
    assert_int_equal (json_array_size (t->solution), 1);
    assert_non_null (strstr (data_at (t->solution, "leap.py"), "% 400"));
    assert_non_null (evalset_find (s, "ex-reverse-string"));
    evalset_destroy (&s);
}

static void
test_prompt_and_match (void **state)
{
    (void) state;
    char why[512], sbx[80], url[300];
    evalset_t *s = evalset_load (CAISSON_SOURCE_DIR "/evals/golden", why, sizeof why);
    assert_non_null (s);
    const evaltask_t *t = evalset_find (s, "py-leap-year");
    char *p = evalset_prompt (t, "m1-abc123", NULL);
    assert_non_null (strstr (p, "sandbox `m1-abc123`"));
    assert_true (evalset_match (s, p, sbx, sizeof sbx) == t);
    assert_string_equal (sbx, "m1-abc123");
    assert_false (evalset_match_repo (t, p, url, sizeof url));
    /* the harness may wrap it: the task's text is found inside */
    char *wrapped = NULL;
    assert_true (asprintf (&wrapped, "Task: %s\n\n(more context)", p) > 0);
    assert_true (evalset_match (s, wrapped, sbx, sizeof sbx) == t);
    assert_string_equal (sbx, "m1-abc123");
    free (wrapped);
    free (p);
    const evaltask_t *pr = evalset_find (s, "py-pr-version-bump");
    p = evalset_prompt (pr, "m1-xyz", "file:///srv/repos/version.git");
    assert_non_null (strstr (p, "git.openPR"));
    assert_true (evalset_match (s, p, sbx, sizeof sbx) == pr);
    assert_string_equal (sbx, "m1-xyz");
    assert_true (evalset_match_repo (pr, p, url, sizeof url));
    assert_string_equal (url, "file:///srv/repos/version.git");
    free (p);
    /* no sandbox named: the task, and an empty id */
    p = evalset_prompt (t, NULL, NULL);
    assert_true (evalset_match (s, p, sbx, sizeof sbx) == t);
    assert_string_equal (sbx, "");
    free (p);
    assert_null (evalset_prompt (t, "a`b", NULL));
    assert_null (evalset_prompt (t, "ok", "x\ny"));
    assert_null (evalset_match (s, "write me a poem", sbx, sizeof sbx));
    evalset_destroy (&s);
}

static void
test_symlink_refused (void **state)
{
    (void) state;
    const char *set = fresh_set ();
    support_sh ("ln -s /etc/passwd '%s/t1/files/passwd'", set);
    refused (set, (const char *const[]) { "set", "t1", "files/passwd", "symlink", NULL });
}

static void
test_fifo_refused (void **state)
{
    (void) state;
    const char *set = fresh_set ();
    char p[700];
    snprintf (p, sizeof p, "%s/t1/files/pipe", set);
    assert_int_equal (mkfifo (p, 0600), 0);
    /* nobody writes it: a reader that opened it blocking would hang here */
    refused (set, (const char *const[]) { "t1", "files/pipe", "FIFO", NULL });
}

static void
test_dotdot_in_mapping (void **state)
{
    (void) state;
    char set[600], p[700];
    snprintf (set, sizeof set, "%s/mapped", s_dir);
    snprintf (p, sizeof p, "%s/caisson-set.json", set);
    put (p, "{\"layout\": \"exercism\", \"exercises\": \"../outside\", \"language\": \"python\", "
            "\"testCommand\": \"true\", \"timeLimitS\": 60}");
    refused (set, (const char *const[]) { "mapped", "../outside", NULL });
    /* a `..` in an exercise's own config */
    put (p, "{\"layout\": \"exercism\", \"exercises\": \"ex\", \"language\": \"python\", "
            "\"testCommand\": \"true\", \"timeLimitS\": 60}");
    snprintf (p, sizeof p, "%s/ex/one/.meta/config.json", set);
    put (p, "{\"files\": {\"solution\": [\"one.py\"], \"test\": [\"../../../etc/passwd\"], "
            "\"example\": [\".meta/example.py\"]}}");
    snprintf (p, sizeof p, "%s/ex/one/.docs/instructions.md", set);
    put (p, "Do one thing.\n");
    snprintf (p, sizeof p, "%s/ex/one/one.py", set);
    put (p, "pass\n");
    snprintf (p, sizeof p, "%s/ex/one/.meta/example.py", set);
    put (p, "x = 1\n");
    refused (set, (const char *const[]) { "mapped/one", "../../../etc/passwd", NULL });
    /* an unknown layout */
    snprintf (p, sizeof p, "%s/caisson-set.json", set);
    put (p, "{\"layout\": \"other\", \"language\": \"python\", \"testCommand\": \"true\", "
            "\"timeLimitS\": 60}");
    refused (set, (const char *const[]) { "caisson-set.json", "layout", NULL });
}

static void
test_big_file_refused (void **state)
{
    (void) state;
    const char *set = fresh_set ();
    support_sh ("head -c 2097152 /dev/zero | tr '\\0' a > '%s/t1/files/big.txt'", set);
    refused (set, (const char *const[]) { "t1", "files/big.txt", "larger than", NULL });
}

static void
test_binary_refused (void **state)
{
    (void) state;
    const char *set = fresh_set ();
    support_sh ("printf 'ok\\377\\376' > '%s/t1/tests/data.bin'", set);
    refused (set, (const char *const[]) { "t1", "tests/data.bin", "UTF-8", NULL });
    set = fresh_set ();
    support_sh ("mkdir -p '%s/t1/solution' && printf 'a\\0b' > '%s/t1/solution/nul.txt'", set,
                set);
    refused (set, (const char *const[]) { "t1", "solution/nul.txt", NULL });
}

static void
test_manifest_keys (void **state)
{
    (void) state;
    static const struct { const char *manifest, *names; } cases[] = {
        { "{\"id\": \"t1\", \"language\": \"python\", \"timeLimitS\": 60}", "testCommand" },
        { "{\"id\": \"t1\", \"timeLimitS\": 60, \"testCommand\": \"x\"}", "language" },
        { "{\"id\": \"t1\", \"language\": \"python\", \"testCommand\": \"x\"}", "timeLimitS" },
        { "{\"language\": \"python\", \"timeLimitS\": 60, \"testCommand\": \"x\"}", "\"id\"" },
        { "{\"id\": \"other\", \"language\": \"python\", \"timeLimitS\": 60, "
          "\"testCommand\": \"x\"}", "folder" },
        { "{\"id\": \"t1\", \"language\": \"python\", \"timeLimitS\": 60, "
          "\"testCommand\": \"x\", \"sucess\": \"pr\"}", "sucess" },
        { "{\"id\": \"t1\", \"language\": \"python\", \"timeLimitS\": 60, "
          "\"testCommand\": \"x\", \"success\": \"pr\"}", "repo" },
        { "{\"id\": \"t1\", \"language\": \"python\", \"timeLimitS\": 60, "
          "\"testCommand\": \"x\", \"approvals\": \"maybe\"}", "approvals" },
        { "[1, 2]", "manifest.json" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *set = fresh_set ();
        char p[700];
        snprintf (p, sizeof p, "%s/t1/manifest.json", set);
        put (p, cases[i].manifest);
        refused (set, (const char *const[]) { "t1", cases[i].names, NULL });
    }
    /* no hidden tests, no task text */
    const char *set = fresh_set ();
    support_sh ("rm -r '%s/t1/tests'", set);
    refused (set, (const char *const[]) { "t1", "tests", NULL });
    set = fresh_set ();
    support_sh ("rm '%s/t1/task.md'", set);
    refused (set, (const char *const[]) { "t1", "task.md", NULL });
}

static void
test_deep_nesting_refused (void **state)
{
    (void) state;
    const char *set = fresh_set ();
    support_sh ("cd '%s/t1/files' && mkdir -p a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r && "
                "echo x > a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/deep.txt", set);
    refused (set, (const char *const[]) { "t1", "files/a/b/c/d", "deeper", NULL });
}

static void
test_symlinked_task_folder (void **state)
{
    (void) state;
    const char *set = fresh_set ();
    support_sh ("ln -s /etc '%s/t2'", set);
    refused (set, (const char *const[]) { "t2", "symlink", NULL });
    set = fresh_set ();
    support_sh ("rm -r '%s/t1/files' && ln -s /etc '%s/t1/files'", set, set);
    refused (set, (const char *const[]) { "t1", "files", "symlink", NULL });
}

static void
test_counts_capped (void **state)
{
    (void) state;
    const char *set = fresh_set ();
    support_sh ("cd '%s/t1/files' && for i in $(seq 1 501); do echo $i > f$i.txt; done", set);
    refused (set, (const char *const[]) { "t1", "more than 500 files", NULL });
    set = fresh_set ();
    support_sh ("cd '%s' && for i in $(seq 1 1001); do mkdir t1x$i; done", set);
    refused (set, (const char *const[]) { "more than 1000 task folders", NULL });
}

/* include picks exercises by name; what it leaves out is not read */
static void
test_mapping_include (void **state)
{
    (void) state;
    char set[600], p[700];
    snprintf (set, sizeof set, "%s/picked", s_dir);
    support_sh ("cp -r '%s' '%s'", CAISSON_SOURCE_DIR "/evals/imported-example", set);
    snprintf (p, sizeof p, "%s/caisson-set.json", set);
    put (p, "{\"layout\": \"exercism\", \"exercises\": \"exercises\", \"include\": [\"rev*\"], "
            "\"language\": \"python\", \"testCommand\": \"true\", \"timeLimitS\": 60}");
    support_sh ("ln -s /etc/passwd '%s/exercises/leap/leap_test.py.link'", set);
    char why[512];
    evalset_t *s = evalset_load (set, why, sizeof why);
    if (!s)
        fail_msg ("%s", why);
    assert_int_equal (evalset_size (s), 1);
    assert_non_null (evalset_find (s, "reverse-string"));
    evalset_destroy (&s);
    /* examples and stubs must pair up */
    snprintf (p, sizeof p, "%s/exercises/reverse-string/.meta/config.json", set);
    put (p, "{\"files\": {\"solution\": [\"reverse_string.py\"], \"test\": "
            "[\"reverse_string_test.py\"], \"example\": []}}");
    refused (set, (const char *const[]) { "picked/reverse-string", "files.example", NULL });
}

int
main (void)
{
    s_dir = support_sandbox_env ("evalset");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_golden_loads),
        cmocka_unit_test (test_imported_example),
        cmocka_unit_test (test_prompt_and_match),
        cmocka_unit_test (test_symlink_refused),
        cmocka_unit_test (test_fifo_refused),
        cmocka_unit_test (test_dotdot_in_mapping),
        cmocka_unit_test (test_big_file_refused),
        cmocka_unit_test (test_binary_refused),
        cmocka_unit_test (test_manifest_keys),
        cmocka_unit_test (test_deep_nesting_refused),
        cmocka_unit_test (test_symlinked_task_folder),
        cmocka_unit_test (test_counts_capped),
        cmocka_unit_test (test_mapping_include),
    };
    return support_run_group_tests (tests, NULL, NULL);
}
