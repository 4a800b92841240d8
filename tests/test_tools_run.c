/* test_tools_run: tool-runner working for a run (issue 13): what a run's
 * calls leave behind (diffs, test logs, pull requests kept as artifacts in
 * event-log), checks that mean something (no tests found is a failure; a
 * pull request carries only changes the run may make, and its dry run
 * shows the change) and the tools' shapes (directories' sizes, the
 * workspace's own info, defaults, fractional timeouts, background
 * processes).
 *
 * Built twice like test_tools: test_tools_run_sandbox against real
 * sandboxes, test_tools_run against fake_sandbox.c. Calls go as user
 * `alice` for a run whose record event-log keeps. */
#include "support.h"
#include "bus_client.h"
#include "mpjson.h"
#ifndef TOOLS_REAL_SANDBOX
#include "fake_sandbox.h"
#endif

#include <czmq.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *s_dir;
static char s_self[1024];
static pid_t s_bus, s_sbx, s_tools, s_elog;
static bus_client_t *s_client;
static char s_sandbox[96];
static char s_run[CID_SIZE];

static int
setup (void **state)
{
    (void) state;
    s_dir = support_sandbox_env ("toolsrun");
    support_tools_allow_repos_under (s_dir);
    s_bus = support_spawn ("caisson-bus", NULL);
#ifdef TOOLS_REAL_SANDBOX
    s_sbx = support_spawn ("caisson-sandbox-manager", NULL);
#else
    s_sbx = support_spawn_self ((const char *[]) { s_self, "fake-sandbox", NULL });
#endif
    s_tools = support_spawn ("caisson-tool-runner", NULL);
    s_elog = support_spawn ("caisson-event-log", NULL);
    s_client = bus_client_new (getenv ("CAISSON_BUS"));
    support_await_service (s_client, "tool-runner");
    support_await_service (s_client, "sandbox-manager");
    support_await_service (s_client, "event-log");
    cid_new (s_run);
    return s_client ? 0 : -1;
}

static int
teardown (void **state)
{
    (void) state;
    bus_client_destroy (&s_client);
    support_expect_clean_exit (s_tools);
    support_stop (s_elog, SIGTERM, 3000);
    support_stop (s_sbx, SIGTERM, 2000);
    support_stop (s_bus, SIGTERM, 2000);
    return 0;
}

/* Sends req as alice in the test's run to service; the reply. */
static proto_msg_t *
ask (const char *service, proto_msg_t *req)
{
    proto_set_str (&req->env.user, "alice");
    proto_set_str (&req->env.run, s_run);
    bus_client_set_timeout (s_client, 30000, 1);
    proto_msg_t *rep = bus_client_request (s_client, service, req);
    proto_msg_destroy (&req);
    assert_non_null (rep);
    return rep;
}

/* Calls tool name with args (JSON text) in the run; limits may be NULL. */
static json_t *
call_full (const char *name, const char *args, bool dry, const char *limits, bool *ok)
{
    char id[CID_SIZE], call_id[80];
    cid_new (id);
    snprintf (call_id, sizeof call_id, "%s/%s", s_run, id);
    proto_msg_t *req = support_tools_call_new (name, call_id, dry, args, limits);
    return support_tools_result (ask ("tool-runner", req), name, ok);
}

static json_t *
call (const char *name, const char *args, bool expect_ok)
{
    bool ok;
    json_t *r = call_full (name, args, false, NULL, &ok);
    return support_tools_expect (r, name, ok, expect_ok);
}

/* printf-style JSON args after the sandbox id. */
#define with_sbx(...) support_sbx_args (s_sandbox, __VA_ARGS__)

/* A sandbox for the run, with the repository at origin (made by script
 * in a fresh seed directory) cloned into it. */
static void
sandbox_with_repo (const char *origin, const char *script)
{
    json_t *r = call ("createSandbox", "{\"language\":\"python\"}", true);
    snprintf (s_sandbox, sizeof s_sandbox, "%s", support_json_str (r, "sandboxId"));
    json_decref (r);
    support_sh ("cd %s && git init -q --bare -b main %s.git && rm -rf seed-%s && "
                "git init -q -b main seed-%s && cd seed-%s && %s && git add -A && "
                "git -c user.name=t -c user.email=t@t commit -q -m init && "
                "git push -q ../%s.git main", s_dir, origin, origin, origin, origin, script,
                origin);
    r = call ("repo.clone", with_sbx ("\"url\":\"file://%s/%s.git\"", s_dir, origin), true);
    json_decref (r);
}

/* The run's record from event-log. */
static json_t *
record (void)
{
    proto_msg_t *req = proto_msg_new (PROTO_run_record_get, NULL);
    proto_set_str (&req->body.run_record_get.run, s_run);
    proto_msg_t *rep = ask ("event-log", req);
    assert_int_equal (rep->type, PROTO_run_record);
    char why[128];
    json_t *rec = mpjson_decode (rep->body.run_record.run.data, rep->body.run_record.run.size,
                                 32, why, sizeof why);
    proto_msg_destroy (&rep);
    assert_non_null (rec);
    return rec;
}

/* The bytes of artifact hash, as alice. */
static char *
artifact_text (const char *hash)
{
    proto_msg_t *req = proto_msg_new (PROTO_artifact_get, NULL);
    proto_set_str (&req->body.artifact_get.hash, hash);
    proto_msg_t *rep = ask ("event-log", req);
    if (rep->type != PROTO_artifact_data)
        fail_msg ("artifact.get %s: %s", hash, rep->type == PROTO_error
                                               ? rep->body.error.message : "?");
    char *text = strndup ((const char *) rep->body.artifact_data.data.data,
                          rep->body.artifact_data.data.size);
    proto_msg_destroy (&rep);
    return text;
}

static const char *CALC =
    "printf 'def add(a, b):\\n    return a + b\\n' > calc.py && printf 'import unittest\\n"
    "from calc import add\\nclass T(unittest.TestCase):\\n    def test_add(self):\\n"
    "        self.assertEqual(add(1, 2), 3)\\n' > test_calc.py";

static const char *PATCH =
    "\"patch\":\"--- a/calc.py\\n+++ b/calc.py\\n@@ -1,2 +1,5 @@\\n def add(a, b):"
    "\\n     return a + b\\n+\\n+def sub(a, b):\\n+    return a - b\\n\"";

/* A pull-request run ends with the diff applied, the test log and the
 * pull request (link and diff) in its record's artifacts, each readable. */
static void
test_pr_run_keeps_artifacts (void **state)
{
    (void) state;
    /* the run as the orchestrator starts it */
    proto_msg_t *start = proto_msg_new (PROTO_event_append, NULL);
    proto_set_str (&start->body.event_append.kind, "run_started");
    json_t *d = json_pack ("{s:s, s:s}", "task", "add sub", "user", "alice");
    mpjson_set (&start->body.event_append.data, d, 4);
    json_decref (d);
    proto_msg_t *ack = ask ("event-log", start);
    assert_int_equal (ack->type, PROTO_event_ack);
    proto_msg_destroy (&ack);

    sandbox_with_repo ("artifacts", CALC);
    json_t *r = call ("repo.applyDiff", with_sbx ("%s", PATCH), true);
    json_decref (r);
    r = call ("ci.runTests", with_sbx (""), true);
    json_decref (r);
    r = call ("git.openPR", with_sbx ("\"title\":\"Add sub\",\"body\":\"b\""), true);
    char url[512];
    snprintf (url, sizeof url, "%s", support_json_str (r, "url"));
    json_decref (r);

    json_t *rec = record ();
    json_t *arts = json_object_get (rec, "artifacts"), *a;
    size_t i;
    bool diff = false, log = false, link = false, pr_diff = false;
    json_array_foreach (arts, i, a) {
        char *text = artifact_text (support_json_str (a, "hash"));
        assert_int_equal (strlen (text), json_integer_value (json_object_get (a, "size")));
        if (!strcmp (support_json_str (a, "kind"), "diff")
            && !strcmp (support_json_str (a, "name"), "repo.applyDiff"))
            diff = strstr (text, "+def sub(a, b):") != NULL;
        else if (!strcmp (support_json_str (a, "kind"), "diff"))
            pr_diff = strstr (text, "+def sub(a, b):") != NULL;
        else if (!strcmp (support_json_str (a, "kind"), "test_log"))
            log = strstr (text, "Ran 1 test") != NULL;
        else if (!strcmp (support_json_str (a, "kind"), "pr_link"))
            link = strstr (text, url) != NULL;
        free (text);
    }
    if (!(diff && log && link && pr_diff)) {
        char *text = json_dumps (arts, JSON_COMPACT);
        fail_msg ("artifacts (diff %d, log %d, link %d, pr diff %d): %s", diff, log, link,
                  pr_diff, text);
    }
    /* the CLI lists them after the transcript and prints one */
    static char out[262144];
    const char *show[] = { "caisson", "show", s_run, NULL };
    assert_int_equal (support_run (show, out, sizeof out), 0);
    assert_non_null (strstr (out, "## Artifacts"));
    a = json_array_get (arts, json_array_size (arts) - 1);
    assert_non_null (strstr (out, support_json_str (a, "hash")));
    assert_non_null (strstr (out, "pr_link"));
    const char *one[] = { "caisson", "artifact", support_json_str (a, "hash"), NULL };
    assert_int_equal (support_run (one, out, sizeof out), 0);
    assert_non_null (strstr (out, url));
    json_decref (rec);
}

/* git.openPR proposes only what the run may change: files written with
 * runCommand outside its write globs are refused by name and nothing is
 * committed; caches are left out; the dry run shows files and patch. */
static void
test_pr_strays (void **state)
{
    (void) state;
    sandbox_with_repo ("strays", CALC);
    const char *limits = "{\"writeGlobs\":[\"*.py\"]}";
    bool ok;
    json_t *r = call_full ("repo.applyDiff", with_sbx ("%s", PATCH), false, limits, &ok);
    assert_true (ok);
    json_decref (r);
    r = call ("runCommand", with_sbx ("\"command\":\"cd repo && mkdir -p .github/workflows "
                                      "__pycache__ && echo x > .github/workflows/ci.yml && "
                                      "echo b > __pycache__/calc.cpython-311.pyc\""), true);
    json_decref (r);
    const char *pr = "\"title\":\"Add sub\",\"body\":\"b\"";
    r = call_full ("git.openPR", with_sbx ("%s", pr), false, limits, &ok);
    assert_false (ok);
    assert_string_equal (support_json_error_code (r), "changes_not_allowed");
    assert_non_null (strstr (support_json_str (json_object_get (r, "error"), "message"),
                             ".github/workflows/ci.yml"));
    json_decref (r);
    support_sh ("git -C %s/strays.git branch --list 'caisson/*' > %s/branches", s_dir, s_dir);
    char path[600];
    snprintf (path, sizeof path, "%s/branches", s_dir);
    FILE *f = fopen (path, "r");
    assert_int_equal (fgetc (f), EOF);
    fclose (f);

    r = call ("runCommand", with_sbx ("\"command\":\"rm -r repo/.github\""), true);
    json_decref (r);
    r = call_full ("git.openPR", with_sbx ("%s", pr), true, limits, &ok);
    assert_true (ok);
    json_t *files = json_object_get (r, "files");
    assert_int_equal (json_array_size (files), 1);
    assert_string_equal (support_json_str (json_array_get (files, 0), "path"), "calc.py");
    assert_int_equal (json_integer_value (json_object_get (json_array_get (files, 0), "added")), 3);
    assert_non_null (strstr (support_json_str (r, "patch"), "+def sub(a, b):"));
    assert_string_equal (json_string_value (json_array_get (json_object_get (r, "skipped"), 0)),
                         "__pycache__/calc.cpython-311.pyc");
    json_decref (r);
    r = call_full ("git.openPR", with_sbx ("%s", pr), false, limits, &ok);
    assert_true (ok);
    support_sh ("git -C %s/strays.git ls-tree -r --name-only %s > %s/tree", s_dir,
                support_json_str (r, "branch"), s_dir);
    json_decref (r);
    char tree[4096] = "";
    snprintf (path, sizeof path, "%s/tree", s_dir);
    f = fopen (path, "r");
    size_t n = fread (tree, 1, sizeof tree - 1, f);
    tree[n] = '\0';
    fclose (f);
    assert_string_equal (tree, "calc.py\ntest_calc.py\n");
}

/* A huge change's dry run (the approval request's preview) shows the
 * patch's first lines only, cut at a line boundary, and says so with the
 * whole size; the files list stays whole and the result is not cut. */
static void
test_pr_preview_capped (void **state)
{
    (void) state;
    sandbox_with_repo ("huge", CALC);
    /* about 590 KB of patch: 60000 added lines */
    json_t *r = call ("runCommand", with_sbx ("\"command\":\"cd repo && seq -f 'x = %%.0f' "
                                              "1 60000 > big.py\""), true);
    json_decref (r);
    bool ok;
    r = call_full ("git.openPR", with_sbx ("\"title\":\"Huge\",\"body\":\"b\""), true, NULL,
                   &ok);
    assert_true (ok);
    assert_null (json_object_get (r, "truncated"));
    assert_true (json_is_true (json_object_get (r, "patchTruncated")));
    const char *patch = support_json_str (r, "patch");
    size_t shown = strlen (patch);
    assert_true (shown > 60000 && shown <= 65536);
    assert_int_equal (patch[shown - 1], '\n');
    assert_non_null (strstr (patch, "+x = 1\n"));
    assert_true (json_integer_value (json_object_get (r, "patchBytes")) > 500000);
    json_t *files = json_object_get (r, "files");
    assert_int_equal (json_array_size (files), 1);
    assert_int_equal (json_integer_value (json_object_get (json_array_get (files, 0), "added")),
                      60000);
    json_decref (r);
    /* a small change is shown whole, unmarked */
    r = call ("runCommand", with_sbx ("\"command\":\"cd repo && seq 1 3 > big.py\""), true);
    json_decref (r);
    r = call_full ("git.openPR", with_sbx ("\"title\":\"Small\",\"body\":\"b\""), true, NULL,
                   &ok);
    assert_true (ok);
    assert_null (json_object_get (r, "patchTruncated"));
    assert_null (json_object_get (r, "patchBytes"));
    assert_non_null (strstr (support_json_str (r, "patch"), "+3\n"));
    json_decref (r);
}

/* A test command that finds no tests is a failure named as such, even
 * when it exits 0: here the only test (a failing one) is in a file that
 * unittest's discovery does not pick up. */
static void
test_no_tests_found (void **state)
{
    (void) state;
    sandbox_with_repo ("notests", "printf 'import unittest\\nclass T(unittest.TestCase):\\n"
                       "    def test_x(self):\\n        self.fail(\\\"boom\\\")\\n' > "
                       "check_calc.py");
    bool ok;
    json_t *r = call_full ("ci.runTests", with_sbx (""), false, NULL, &ok);
    assert_false (ok);
    assert_true (json_is_false (json_object_get (r, "success")));
    assert_string_equal (support_json_error_code (r), "no_tests_found");
    json_decref (r);
}

/* The tools' shapes: the workspace itself has info; a directory's size
 * is its contents'; listFiles defaults to the workspace; timeoutSeconds
 * takes fractions and 0 (the default). */
static void
test_tool_shapes (void **state)
{
    (void) state;
    json_t *r = call ("createSandbox", "{}", true);
    snprintf (s_sandbox, sizeof s_sandbox, "%s", support_json_str (r, "sandboxId"));
    json_decref (r);
    const char *roots[] = { ".", "/workspace", "/workspace/" };
    for (size_t i = 0; i < 3; i++) {
        r = call ("getFileInfo", with_sbx ("\"path\":\"%s\"", roots[i]), true);
        assert_string_equal (support_json_str (r, "type"), "directory");
#ifdef TOOLS_REAL_SANDBOX
        assert_string_equal (support_json_str (r, "path"), "/workspace");
#endif
        json_decref (r);
    }
    r = call ("writeFiles", with_sbx ("\"files\":[{\"path\":\"d/a.txt\",\"data\":\"0123456789\"},"
                                      "{\"path\":\"d/e/b.txt\",\"data\":"
                                      "\"01234567890123456789\"}]"), true);
    json_decref (r);
    /* symlinks are not followed: loops (to itself, to a parent, to each
     * other) and ways out of the workspace (absolute, relative) add
     * nothing, and a path through one that leaves the workspace is refused */
    r = call ("runCommand", with_sbx ("\"command\":\"ln -s /etc d/etc && ln -s . d/loop && "
                                      "ln -s .. d/e/parent && ln -s ../../.. d/up && "
                                      "ln -s d/e/b.txt d/x1 && ln -s d/x1 d/x2 && "
                                      "ln -s x4 d/x3 && ln -s x3 d/x4\""), true);
    json_decref (r);
    r = call ("getFileSize", with_sbx ("\"path\":\"d\""), true);
    assert_true (json_is_true (json_object_get (r, "isDirectory")));
    assert_int_equal (json_integer_value (json_object_get (r, "size")), 30);
    json_decref (r);
    r = call ("getFileSize", with_sbx ("\"path\":\"d/e\""), true);
    assert_int_equal (json_integer_value (json_object_get (r, "size")), 20);
    json_decref (r);
    int64_t t_loop = zclock_mono ();
    r = call ("getFileSize", with_sbx ("\"path\":\".\""), true);
    assert_int_equal (json_integer_value (json_object_get (r, "size")), 30);
    assert_true (zclock_mono () - t_loop < 5000);
    json_decref (r);
    /* a link itself (to outside, or in a loop of links) is measured as a
     * link: its own length, nothing it points at */
    r = call ("getFileSize", with_sbx ("\"path\":\"d/up\""), true);
    assert_false (json_is_true (json_object_get (r, "isDirectory")));
    assert_int_equal (json_integer_value (json_object_get (r, "size")), strlen ("../../.."));
    json_decref (r);
    r = call ("getFileSize", with_sbx ("\"path\":\"d/x3\""), true);
    assert_int_equal (json_integer_value (json_object_get (r, "size")), strlen ("x4"));
    json_decref (r);
    r = call ("listFiles", with_sbx (""), true);
#ifdef TOOLS_REAL_SANDBOX
    assert_string_equal (support_json_str (r, "path"), "/workspace");
#endif
    json_t *first = json_array_get (json_object_get (r, "files"), 0);
    assert_string_equal (support_json_str (first, "name"), "d");
    json_decref (r);
    r = call ("runCommand", with_sbx ("\"command\":\"echo zero\",\"timeoutSeconds\":0"), true);
    assert_string_equal (support_json_str (r, "stdout"), "zero\n");
    json_decref (r);
    int64_t t0 = zclock_mono ();
    r = call ("runCommand", with_sbx ("\"command\":\"sleep 5\",\"timeoutSeconds\":0.5"), true);
    assert_true (json_is_true (json_object_get (r, "timedOut")));
    assert_true (zclock_mono () - t0 < 4000);
    json_decref (r);
}

#ifdef TOOLS_REAL_SANDBOX
/* runCommand with background: true returns a handle; the process can be
 * read, waited for, listed and killed. */
static void
test_background_process (void **state)
{
    (void) state;
    json_t *r = call ("runCommand", with_sbx ("\"command\":\"for i in 1 2 3; do echo tick $i; "
                                              "sleep 0.2; done; exit 3\",\"background\":true"),
                      true);
    json_int_t pid = json_integer_value (json_object_get (r, "pid"));
    assert_true (pid > 0);
    assert_true (json_is_true (json_object_get (r, "background")));
    json_decref (r);
    r = call ("waitForProcess", with_sbx ("\"pid\":%lld,\"timeoutSeconds\":10", (long long) pid),
              true);
    assert_true (json_is_false (json_object_get (r, "running")));
    assert_int_equal (json_integer_value (json_object_get (r, "exitCode")), 3);
    assert_non_null (strstr (support_json_str (r, "stdout"), "tick 3"));
    json_decref (r);

    r = call ("runCommand", with_sbx ("\"command\":\"echo started; sleep 60\",\"background\":true"),
              true);
    pid = json_integer_value (json_object_get (r, "pid"));
    json_decref (r);
    r = call ("listProcesses", with_sbx (""), true);
    json_t *p;
    size_t i;
    bool listed = false;
    json_array_foreach (json_object_get (r, "processes"), i, p)
        listed = listed || json_integer_value (json_object_get (p, "pid")) == pid;
    assert_true (listed);
    json_decref (r);
    r = call ("waitForProcess", with_sbx ("\"pid\":%lld,\"timeoutSeconds\":0.5", (long long) pid),
              true);
    assert_true (json_is_true (json_object_get (r, "running")));
    json_decref (r);
    r = call ("getProcessOutput", with_sbx ("\"pid\":%lld", (long long) pid), true);
    assert_true (json_is_true (json_object_get (r, "running")));
    assert_string_equal (support_json_str (r, "stdout"), "started\n");
    json_decref (r);
    /* the CLI follows it too */
    char out[4096], pidtext[32];
    snprintf (pidtext, sizeof pidtext, "%lld", (long long) pid);
    const char *ps[] = { "caisson", "sandbox", "ps", s_sandbox, NULL };
    assert_int_equal (support_run (ps, out, sizeof out), 0);
    assert_non_null (strstr (out, pidtext));
    const char *logs[] = { "caisson", "sandbox", "logs", s_sandbox, pidtext, NULL };
    assert_int_equal (support_run (logs, out, sizeof out), 0);
    assert_non_null (strstr (out, "started"));
    const char *wait[] = { "caisson", "sandbox", "wait", s_sandbox, pidtext, "--timeout", "1",
                           NULL };
    assert_int_equal (support_run (wait, out, sizeof out), 3);
    r = call ("killProcess", with_sbx ("\"pid\":%lld", (long long) pid), true);
    json_decref (r);
    int64_t t0 = zclock_mono ();
    r = call ("waitForProcess", with_sbx ("\"pid\":%lld,\"timeoutSeconds\":5", (long long) pid),
              true);
    assert_true (json_is_false (json_object_get (r, "running")));
    assert_true (zclock_mono () - t0 < 4000);
    json_decref (r);
}

/* Calls tool name with args as user (another tenant), outside the run. */
static json_t *
call_as (const char *user, const char *name, const char *args, bool *ok)
{
    char id[CID_SIZE];
    cid_new (id);
    proto_msg_t *req = support_tools_call_new (name, id, false, args, NULL);
    proto_set_str (&req->env.user, user);
    bus_client_set_timeout (s_client, 30000, 1);
    proto_msg_t *rep = bus_client_request (s_client, "tool-runner", req);
    proto_msg_destroy (&req);
    assert_non_null (rep);
    return support_tools_result (rep, name, ok);
}

/* getProcessOutput follows a process: since/stderrSince give only newer
 * output, waitSeconds waits for some, the last answer has the exit code;
 * `caisson sandbox logs -f` streams it to the end. Hostile handles
 * (another user's, huge, negative, long exited) are answered at once. */
static void
test_follow_process (void **state)
{
    (void) state;
    json_t *r = call ("createSandbox", "{}", true);
    snprintf (s_sandbox, sizeof s_sandbox, "%s", support_json_str (r, "sandboxId"));
    json_decref (r);
    r = call ("runCommand", with_sbx ("\"command\":\"for i in 1 2 3 4; do echo tick $i; "
                                      "echo warn $i >&2; sleep 0.4; done; exit 5\","
                                      "\"background\":true"), true);
    json_int_t pid = json_integer_value (json_object_get (r, "pid"));
    json_decref (r);
    char all[512] = "", errs[512] = "";
    json_int_t since = 0, esince = 0;
    int answers = 0;
    bool running = true;
    while (running && answers++ < 40) {
        r = call ("getProcessOutput", with_sbx ("\"pid\":%lld,\"since\":%lld,\"stderrSince\":"
                                                "%lld,\"waitSeconds\":5", (long long) pid,
                                                (long long) since, (long long) esince), true);
        const char *out = support_json_str (r, "stdout");
        running = json_is_true (json_object_get (r, "running"));
        /* never the same output twice, never nothing while it runs */
        assert_true (!running || *out || *support_json_str (r, "stderr"));
        strncat (all, out, sizeof all - strlen (all) - 1);
        strncat (errs, support_json_str (r, "stderr"), sizeof errs - strlen (errs) - 1);
        assert_true (json_integer_value (json_object_get (r, "offset")) >= since);
        since = json_integer_value (json_object_get (r, "offset"));
        esince = json_integer_value (json_object_get (r, "stderrOffset"));
        if (!running)
            assert_int_equal (json_integer_value (json_object_get (r, "exitCode")), 5);
        json_decref (r);
    }
    assert_false (running);
    assert_true (answers >= 2);
    assert_string_equal (all, "tick 1\ntick 2\ntick 3\ntick 4\n");
    assert_string_equal (errs, "warn 1\nwarn 2\nwarn 3\nwarn 4\n");
    assert_int_equal (since, (json_int_t) strlen (all));

    /* long exited: answered at once, with its code and nothing new */
    int64_t t0 = zclock_mono ();
    r = call ("getProcessOutput", with_sbx ("\"pid\":%lld,\"since\":%lld,\"waitSeconds\":10",
                                            (long long) pid, (long long) since), true);
    assert_true (zclock_mono () - t0 < 3000);
    assert_string_equal (support_json_str (r, "stdout"), "");
    assert_int_equal (json_integer_value (json_object_get (r, "exitCode")), 5);
    json_decref (r);
    /* an offset past the end is read as the end */
    r = call ("getProcessOutput", with_sbx ("\"pid\":%lld,\"since\":99999", (long long) pid),
              true);
    assert_string_equal (support_json_str (r, "stdout"), "");
    json_decref (r);

    /* another user's sandbox and pid: not found, as if neither existed */
    bool ok;
    r = call_as ("mallory", "getProcessOutput", with_sbx ("\"pid\":%lld", (long long) pid), &ok);
    assert_false (ok);
    assert_string_equal (support_json_error_code (r), "not_found");
    json_decref (r);
    r = call_as ("mallory", "killProcess", with_sbx ("\"pid\":%lld", (long long) pid), &ok);
    assert_false (ok);
    json_decref (r);
    /* a huge pid names no process; a negative or zero one is refused */
    t0 = zclock_mono ();
    r = call_full ("getProcessOutput", with_sbx ("\"pid\":9223372036854775807,"
                                                 "\"waitSeconds\":10"), false, NULL, &ok);
    assert_false (ok);
    assert_true (zclock_mono () - t0 < 3000);
    json_decref (r);
    const char *bad[] = { "-1", "0", "1.5", "\"7\"" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = call_full ("getProcessOutput", with_sbx ("\"pid\":%s", bad[i]), false, NULL, &ok);
        assert_false (ok);                  /* refused by the schema */
        assert_non_null (support_json_error_code (r));
        assert_string_not_equal (support_json_error_code (r), "not_found");
        json_decref (r);
    }
    r = call_full ("getProcessOutput", with_sbx ("\"pid\":%lld,\"since\":-3", (long long) pid),
                   false, NULL, &ok);
    assert_false (ok);
    json_decref (r);

    /* the CLI follows a process to its end and exits with its status */
    r = call ("runCommand", with_sbx ("\"command\":\"for i in 1 2 3; do echo line $i; "
                                      "sleep 0.3; done; exit 4\",\"background\":true"), true);
    char pidtext[32], out[4096];
    snprintf (pidtext, sizeof pidtext, "%lld",
              (long long) json_integer_value (json_object_get (r, "pid")));
    json_decref (r);
    const char *logs[] = { "caisson", "sandbox", "logs", s_sandbox, pidtext, "-f", NULL };
    assert_int_equal (support_run (logs, out, sizeof out), 4);
    assert_string_equal (out, "line 1\nline 2\nline 3\n");
    const char *negative[] = { "caisson", "sandbox", "logs", s_sandbox, "-5", "-f", NULL };
    assert_int_equal (support_run (negative, out, sizeof out), 2);
    const char *huge[] = { "caisson", "sandbox", "logs", s_sandbox, "99999999999999999999", NULL };
    assert_int_equal (support_run (huge, out, sizeof out), 2);
    const char *none[] = { "caisson", "sandbox", "logs", s_sandbox, "4000000000", "-f", NULL };
    t0 = zclock_mono ();
    assert_int_equal (support_run (none, out, sizeof out), 1);
    assert_true (zclock_mono () - t0 < 5000);
}
#endif

int
main (int argc, char **argv)
{
#ifndef TOOLS_REAL_SANDBOX
    if (argc > 1 && !strcmp (argv[1], "fake-sandbox"))
        return fake_sandbox_main (getenv ("CAISSON_DATA"));
#endif
    (void) argc, (void) argv;
    support_self_exe (s_self, sizeof s_self);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_pr_run_keeps_artifacts),
        cmocka_unit_test (test_pr_strays),
        cmocka_unit_test (test_pr_preview_capped),
        cmocka_unit_test (test_no_tests_found),
        cmocka_unit_test (test_tool_shapes),
#ifdef TOOLS_REAL_SANDBOX
        cmocka_unit_test (test_background_process),
        cmocka_unit_test (test_follow_process),
#endif
    };
    return support_run_group_tests (tests, setup, teardown);
}
