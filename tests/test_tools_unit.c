/* test_tools_unit: tool-runner's pieces that need no bus: the catalogue,
 * the schema validator (one test per kind of violation, each with its own
 * code, field and message), the guardrails (path escapes, globs, command
 * lists, narrowing that never widens), test-log counting, branch names. */
#include "support.h"
#include "calls.h"
#include "catalogue.h"
#include "guard.h"
#include "jsoncap.h"
#include "repo_tools.h"
#include "schema.h"
#include "testlog.h"

#include <stdlib.h>
#include <unistd.h>
#include <string.h>

static catalogue_t *s_cat;

static int
setup (void **state)
{
    (void) state;
    s_cat = catalogue_new ();
    return s_cat ? 0 : -1;
}

static int
teardown (void **state)
{
    (void) state;
    catalogue_destroy (&s_cat);
    catalogue_destroy (&s_cat);
    return 0;
}

/* Validates JSON text args against tool's input schema; returns the error
 * (or NULL when valid). */
static json_t *
validate (const char *tool, const char *text)
{
    size_t index;
    assert_non_null (catalogue_find (s_cat, tool, &index));
    json_t *args = json_loads (text, JSON_DECODE_ANY, NULL);
    json_t *error = NULL;
    int rc = schema_validate (catalogue_input (s_cat, index), args, &error);
    json_decref (args);
    assert_int_equal (rc, error ? -1 : 0);
    return error;
}

static void
expect (const char *tool, const char *text, const char *code, const char *field,
        const char *words)
{
    json_t *error = validate (tool, text);
    assert_non_null (error);
    assert_true (json_is_false (json_object_get (error, "success")));
    json_t *e = json_object_get (error, "error");
    assert_string_equal (json_string_value (json_object_get (e, "code")), code);
    if (field)
        assert_string_equal (json_string_value (json_object_get (e, "field")), field);
    const char *msg = json_string_value (json_object_get (e, "message"));
    assert_non_null (msg);
    if (!strstr (msg, words))
        fail_msg ("message '%s' lacks '%s'", msg, words);
    json_decref (error);
}

static void
test_catalogue (void **state)
{
    (void) state;
    const json_t *list = catalogue_json (s_cat);
    assert_int_equal (json_array_size (list), 23);
    static const char *const names[] = {
        "createSandbox", "runCode", "readFile", "writeFile", "writeFiles", "listFiles",
        "deleteFile", "createDirectory", "getFileInfo", "checkFileExists", "getFileSize",
        "watchDirectory", "runCommand", "getProcessOutput", "waitForProcess", "killProcess",
        "listProcesses", "repo.clone", "repo.readFiles", "repo.applyDiff",
        "ci.runTests", "git.openPR", "requestNetworkAccess" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        json_t *t = json_array_get (list, i);
        assert_string_equal (json_string_value (json_object_get (t, "name")), names[i]);
        assert_true (json_string_length (json_object_get (t, "description")) > 20);
        assert_true (json_is_object (json_object_get (t, "inputSchema")));
        assert_true (json_is_object (json_object_get (t, "outputSchema")));
        assert_true (json_integer_value (json_object_get (t, "timeoutSeconds")) > 0);
        assert_true (json_integer_value (json_object_get (t, "maxOutputBytes")) > 0);
        /* What approval gates key on: applying a diff to the repository
         * under review, opening a pull request, widening a sandbox's
         * network. */
        assert_int_equal (json_is_true (json_object_get (t, "mutates")),
                          !strcmp (names[i], "git.openPR") || !strcmp (names[i], "repo.applyDiff")
                          || !strcmp (names[i], "requestNetworkAccess"));
    }
    assert_null (catalogue_find (s_cat, "rm", NULL));
}

static void
test_valid_and_nulls (void **state)
{
    (void) state;
    /* The template's own call, with the nulls models send. */
    assert_null (validate ("createSandbox", "{\"name\":\"reverse_string_project\","
                           "\"language\":\"python\",\"labels\":null,\"envVars\":null}"));
    assert_null (validate ("runCommand", "{\"sandboxId\":\"abc-123\",\"command\":\"python3 t.py\","
                           "\"envs\":null,\"workingDirectory\":null,\"timeoutSeconds\":20,"
                           "\"captureOutput\":true}"));
    assert_null (validate ("writeFiles", "{\"sandboxId\":\"a-b\",\"files\":[{\"path\":\"x.py\","
                           "\"data\":\"print(1)\"}]}"));
    /* A null for a required field is still missing. */
    expect ("readFile", "{\"sandboxId\":\"a-b\",\"path\":null}", "wrong_type", "path",
            "path must be a string, not null");
}

static void
test_violations (void **state)
{
    (void) state;
    expect ("readFile", "[1]", "invalid_arguments", NULL, "must be a JSON object");
    expect ("readFile", "{\"sandboxId\":\"a-b\"}", "missing_field", "path", "path is required");
    expect ("readFile", "{\"sandboxId\":\"a-b\",\"path\":7}", "wrong_type", "path",
            "path must be a string, not integer");
    expect ("readFile", "{\"sandboxId\":\"a-b\",\"path\":\"x\",\"mode\":1}", "unknown_field",
            "mode", "not an argument of this tool");
    expect ("runCode", "{\"sandboxId\":\"a-b\",\"code\":\"1\",\"language\":\"cobol\"}",
            "not_in_enum", "language", "must be one of [\"python\"");
    expect ("runCommand", "{\"sandboxId\":\"a-b\",\"command\":\"ls\",\"timeoutSeconds\":-1}",
            "below_minimum", "timeoutSeconds", "at least 0");
    expect ("runCommand", "{\"sandboxId\":\"a-b\",\"command\":\"ls\",\"timeoutSeconds\":99999}",
            "above_maximum", "timeoutSeconds", "at most 3600");
    /* fractions and 0 (the default) are seconds too, as in the template */
    assert_null (validate ("runCommand", "{\"sandboxId\":\"a-b\",\"command\":\"ls\","
                                         "\"timeoutSeconds\":1.5}"));
    assert_null (validate ("runCommand", "{\"sandboxId\":\"a-b\",\"command\":\"ls\","
                                         "\"timeoutSeconds\":0}"));
    expect ("runCommand", "{\"sandboxId\":\"a-b\",\"command\":\"ls\",\"timeoutSeconds\":\"5\"}",
            "wrong_type", "timeoutSeconds", "must be a number");
    expect ("readFile", "{\"sandboxId\":\"a-b\",\"path\":\"\"}", "too_short", "path",
            "at least 1 characters");
    expect ("git.openPR", "{\"sandboxId\":\"a-b\",\"body\":\"b\",\"title\":\""
            "This title goes on and on and on well past what a pull request title may hold\"}",
            "too_long", "title", "at most 72 characters");
    expect ("readFile", "{\"sandboxId\":\"a b\",\"path\":\"x\"}", "pattern_mismatch", "sandboxId",
            "must match the pattern");
    expect ("writeFiles", "{\"sandboxId\":\"a-b\",\"files\":[]}", "too_few_items", "files",
            "at least 1 items");
    expect ("writeFiles", "{\"sandboxId\":\"a-b\",\"files\":[{\"path\":\"x\"}]}", "missing_field",
            "files[0].data", "files[0].data is required");
    expect ("writeFiles", "{\"sandboxId\":\"a-b\",\"files\":[{\"path\":\"x\",\"data\":\"\"},"
            "{\"path\":3,\"data\":\"\"}]}", "wrong_type", "files[1].path", "must be a string");
    expect ("runCommand", "{\"sandboxId\":\"a-b\",\"command\":\"ls\",\"envs\":{\"A\":1}}",
            "wrong_type", "envs.A", "envs.A must be a string");
    /* Many items. */
    char big[40000] = "{\"sandboxId\":\"a-b\",\"files\":[";
    for (int i = 0; i < 257; i++)
        strcat (big, i ? ",{\"path\":\"f\",\"data\":\"\"}" : "{\"path\":\"f\",\"data\":\"\"}");
    strcat (big, "]}");
    expect ("writeFiles", big, "too_many_items", "files", "at most 256 items");
}

static void
test_resolve (void **state)
{
    (void) state;
    char abs[512];
    json_t *error = NULL;
    assert_int_equal (guard_resolve ("/workspace", "a/./b/../c.py", true, abs, sizeof abs, &error), 0);
    assert_string_equal (abs, "/workspace/a/c.py");
    assert_int_equal (guard_resolve ("/workspace", "/workspace//x", true, abs, sizeof abs, &error), 0);
    assert_string_equal (abs, "/workspace/x");
    assert_int_equal (guard_resolve ("/workspace", "../etc/passwd", true, abs, sizeof abs, &error), -1);
    json_t *e = json_object_get (error, "error");
    assert_string_equal (json_string_value (json_object_get (e, "code")), "path_outside_workspace");
    assert_non_null (strstr (json_string_value (json_object_get (e, "message")),
                             "path must stay inside /workspace"));
    json_decref (error);
    assert_int_equal (guard_resolve ("/workspace", "/workspace2/x", true, abs, sizeof abs, &error), -1);
    json_decref (error);
    /* Reads may look elsewhere in the sandbox. */
    assert_int_equal (guard_resolve ("/workspace", "../../etc/os-release", false, abs, sizeof abs,
                                     &error), 0);
    assert_string_equal (abs, "/etc/os-release");
}

static void
test_guard_narrowing (void **state)
{
    (void) state;
    setenv ("CAISSON_TOOLS_WRITE_GLOBS", "src/*,tests/*", 1);
    setenv ("CAISSON_TOOLS_COMMAND_DENY", "*sudo *,rm -rf /*", 1);
    setenv ("CAISSON_TOOLS_MAX_OUTPUT", "1000", 1);
    guard_t *g = guard_new ();
    json_t *error = NULL;
    assert_int_equal (guard_write (g, "/w", "/w/src/a.py", "path", &error), 0);
    assert_int_equal (guard_write (g, "/w", "/w/README.md", "path", &error), -1);
    assert_string_equal (json_string_value (json_object_get (json_object_get (error, "error"),
                                                             "code")), "path_not_allowed");
    json_decref (error);
    assert_int_equal (guard_write (g, "/w", "/w/.git/config", "path", &error), -1);
    json_decref (error);
    assert_int_equal (guard_command (g, "python3 t.py", &error), 0);
    assert_int_equal (guard_command (g, "  sudo rm x", &error), -1);
    json_decref (error);

    /* A run narrows: only tests/ and no curl; it cannot add README.md or
     * raise the output cap. */
    json_t *limits = json_loads ("{\"writeGlobs\":[\"tests/*\",\"README.md\"],"
                                 "\"commandDeny\":[\"curl *\"],\"maxOutputBytes\":50000,"
                                 "\"timeoutSeconds\":5}", 0, NULL);
    guard_t *run = guard_narrow (g, limits, &error);
    assert_non_null (run);
    assert_int_equal (guard_write (run, "/w", "/w/tests/t.py", "path", &error), 0);
    assert_int_equal (guard_write (run, "/w", "/w/src/a.py", "path", &error), -1);
    json_decref (error);
    assert_int_equal (guard_write (run, "/w", "/w/README.md", "path", &error), -1);
    json_decref (error);
    assert_int_equal (guard_command (run, "curl http://x", &error), -1);
    json_decref (error);
    assert_int_equal (guard_command (run, "sudo ls", &error), -1);
    json_decref (error);
    assert_int_equal (guard_max_output (run), 1000);
    assert_int_equal (guard_timeout (run), 5);
    json_decref (limits);
    guard_destroy (&run);

    limits = json_loads ("{\"allowEverything\":true}", 0, NULL);
    assert_null (guard_narrow (g, limits, &error));
    assert_string_equal (json_string_value (json_object_get (json_object_get (error, "error"),
                                                             "code")), "bad_limits");
    json_decref (error);
    json_decref (limits);
    guard_destroy (&g);
    guard_destroy (&g);
    unsetenv ("CAISSON_TOOLS_WRITE_GLOBS");
    unsetenv ("CAISSON_TOOLS_COMMAND_DENY");
    unsetenv ("CAISSON_TOOLS_MAX_OUTPUT");

    const char *s = "h\xc3\xa9llo";
    assert_int_equal (guard_cut (s, 6, 2), 1);      /* not inside the two-byte e-acute */
    assert_int_equal (guard_cut (s, 6, 3), 3);
    assert_int_equal (guard_cut (s, 6, 100), 6);
}

static void
counts (const char *runner, const char *log, long p, long f, long s)
{
    testlog_counts_t c;
    assert_true (testlog_parse (runner, log, &c));
    assert_int_equal (c.passed, p);
    assert_int_equal (c.failed, f);
    assert_int_equal (c.skipped, s);
}

static void
test_testlog (void **state)
{
    (void) state;
    counts ("pytest", "..F.s\n=== FAILURES ===\n...\n=== 3 passed, 1 failed, 1 skipped in 0.12s ===\n",
            3, 1, 1);
    counts ("pytest", "....\n4 passed in 0.01s\n", 4, 0, 0);
    counts ("pytest", "E\n1 passed, 2 errors in 0.3s\n", 1, 2, 0);
    counts ("unittest", "....\n----------------------------------------------------------------------\n"
            "Ran 4 tests in 0.000s\n\nOK\n", 4, 0, 0);
    counts ("unittest", "..Fs\n---\nRan 5 tests in 0.001s\n\nFAILED (failures=1, errors=1, skipped=1)\n",
            2, 2, 1);
    counts ("unittest", "Ran 3 tests in 0.001s\n\nOK (skipped=2)\n", 1, 0, 2);
    counts ("node", "TAP version 13\nok 1 - a\nnot ok 2 - b\n1..2\n# tests 3\n# suites 0\n# pass 1\n"
            "# fail 1\n# cancelled 0\n# skipped 1\n# todo 0\n# duration_ms 40\n", 1, 1, 1);
    counts ("node", "\xe2\x9c\x94 a (1ms)\n\xe2\x84\xb9 tests 2\n\xe2\x84\xb9 pass 2\n"
            "\xe2\x84\xb9 fail 0\n\xe2\x84\xb9 skipped 0\n", 2, 0, 0);
    counts ("go", "=== RUN   TestA\n--- PASS: TestA (0.00s)\n=== RUN   TestB\n--- FAIL: TestB (0.00s)\n"
            "--- SKIP: TestC (0.00s)\nFAIL\n", 1, 1, 1);
    counts ("cargo", "running 3 tests\ntest result: ok. 3 passed; 0 failed; 1 ignored; 0 measured\n"
            "test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured\n", 4, 2, 1);
    counts ("ctest", "1/3 Test #1: a ....   Passed\n\n67% tests passed, 1 tests failed out of 3\n", 2, 1, 0);
    testlog_counts_t c;
    assert_false (testlog_parse ("pytest", "nothing here\n", &c));
    assert_false (testlog_parse ("unittest", "", &c));
}

static void
test_branch_names (void **state)
{
    (void) state;
    char a[128], b[128], c[128];
    assert_int_equal (repo_branch_name ("Fix: reverse_string handles ÜTF-8!", "call-1", a, sizeof a), 0);
    assert_int_equal (repo_branch_name ("Fix: reverse_string handles ÜTF-8!", "call-1", b, sizeof b), 0);
    assert_int_equal (repo_branch_name ("Fix: reverse_string handles ÜTF-8!", "call-2", c, sizeof c), 0);
    assert_string_equal (a, b);
    assert_string_not_equal (a, c);
    assert_int_equal (strncmp (a, "caisson/fix-reverse-string-handles-tf-8-", 40), 0);
    assert_int_equal (repo_branch_name ("!!!", "x", a, sizeof a), -1);
}

/* Two instances sharing one store: claim, busy, done, conflict, takeover
 * after a lapsed lease, and expiry. */
static void
test_calls (void **state)
{
    (void) state;
    const char *dir = support_sandbox_env ("calls");
    assert_non_null (dir);
    calls_t *a = calls_new (dir, "a", 60000), *b = calls_new (dir, "b", 60000);
    assert_non_null (a);
    assert_non_null (b);
    json_t *r = NULL;
    bool ok = false;
    assert_int_equal (calls_claim (a, "c1", "fp1", &r, &ok), CALLS_MINE);
    assert_int_equal (calls_claim (b, "c1", "fp1", &r, &ok), CALLS_BUSY);
    assert_int_equal (calls_claim (b, "c1", "fp2", &r, &ok), CALLS_CONFLICT);
    json_t *result = json_pack ("{s:b, s:s}", "success", 1, "path", "/workspace/x");
    json_t *kept;
    bool kept_ok;
    assert_int_equal (calls_finish (a, "c1", result, true, &kept, &kept_ok), 0);
    assert_true (json_equal (kept, result) && kept_ok);
    json_decref (kept);
    assert_int_equal (calls_claim (b, "c1", "fp1", &r, &ok), CALLS_DONE);
    assert_true (json_equal (r, result) && ok);
    json_decref (r);
    /* A second finish (a taken-over run) keeps the first result. */
    json_t *other = json_pack ("{s:b}", "success", 0);
    assert_int_equal (calls_finish (b, "c1", other, false, &kept, &kept_ok), 0);
    assert_true (json_equal (kept, result) && kept_ok);
    json_decref (kept);
    json_decref (other);
    json_decref (result);

    /* An owner whose lease lapses loses the call to the next claimant. */
    calls_t *quick = calls_new (dir, "q", 1);
    assert_int_equal (calls_claim (quick, "c2", "fp", &r, &ok), CALLS_MINE);
    usleep (5000);
    assert_int_equal (calls_claim (b, "c2", "fp", &r, &ok), CALLS_MINE);
    assert_int_equal (calls_claim (a, "c2", "fp", &r, &ok), CALLS_BUSY);
    const char *ids[] = { "c2" };
    assert_int_equal (calls_renew (b, ids, 1), 0);

    assert_int_equal (calls_expire (a, calls_now_ms () + 1000, 100), 1);
    assert_int_equal (calls_claim (a, "c1", "fp-new", &r, &ok), CALLS_MINE);
    calls_destroy (&quick);
    calls_destroy (&a);
    calls_destroy (&b);
    calls_destroy (&b);
}

/* A result over the cap comes back as valid JSON of the same shape that
 * says it was cut, not as text cut in the middle. */
static void
test_jsoncap (void **state)
{
    (void) state;
    char *big = malloc (40001);
    memset (big, 'x', 40000);
    big[40000] = '\0';
    memcpy (big, "start\u00e9\"", 8);     /* a quote to escape, a 2-byte character */
    json_t *files = json_array ();
    for (int i = 0; i < 3; i++)
        json_array_append_new (files, json_pack ("{s:s, s:s}", "path", "a.py", "content", big));
    json_t *fit = jsoncap_fit (files, 65536);
    char *text = json_dumps (fit, JSON_COMPACT);
    assert_true (strlen (text) <= 65536);
    json_t *back = json_loads (text, 0, NULL);
    assert_non_null (back);
    assert_true (json_is_true (json_object_get (back, "truncated")));
    assert_true (json_integer_value (json_object_get (back, "originalBytes")) > 120000);
    json_t *first = json_array_get (json_object_get (back, "result"), 0);
    const char *content = json_string_value (json_object_get (first, "content"));
    assert_int_equal (strncmp (content, "start\u00e9\"", 8), 0);
    assert_non_null (strstr (content, "bytes cut]"));
    free (text);
    json_decref (back);
    json_decref (fit);
    /* an object keeps its keys and gains the flag; a small value is itself */
    json_t *obj = json_pack ("{s:b, s:s, s:I}", "success", 1, "stdout", big, "exitCode", 0);
    fit = jsoncap_fit (obj, 1000);
    assert_true (json_dumpb (fit, NULL, 0, JSON_COMPACT) <= 1000);
    assert_true (json_is_true (json_object_get (fit, "truncated")));
    assert_int_equal (json_integer_value (json_object_get (fit, "exitCode")), 0);
    json_decref (fit);
    fit = jsoncap_fit (obj, 100000);
    assert_ptr_equal (fit, obj);
    json_decref (fit);
    json_decref (obj);
    json_decref (files);
    free (big);
}

/* What a pull request leaves out whatever .gitignore says. */
static void
test_caches (void **state)
{
    (void) state;
    assert_true (repo_is_cache ("__pycache__/calc.cpython-311.pyc"));
    assert_true (repo_is_cache ("src/__pycache__/x"));
    assert_true (repo_is_cache ("a/b.pyc"));
    assert_true (repo_is_cache ("web/node_modules/left-pad/index.js"));
    assert_true (repo_is_cache (".pytest_cache/v/cache/nodeids"));
    assert_false (repo_is_cache ("calc.py"));
    assert_false (repo_is_cache ("my__pycache__/x.py"));
    assert_false (repo_is_cache (".github/workflows/ci.yml"));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_catalogue),
        cmocka_unit_test (test_valid_and_nulls),
        cmocka_unit_test (test_violations),
        cmocka_unit_test (test_resolve),
        cmocka_unit_test (test_guard_narrowing),
        cmocka_unit_test (test_testlog),
        cmocka_unit_test (test_branch_names),
        cmocka_unit_test (test_calls),
        cmocka_unit_test (test_jsoncap),
        cmocka_unit_test (test_caches),
    };
    return support_run_group_tests (tests, setup, teardown);
}
