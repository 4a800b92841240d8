/* test_tools: tool-runner through the bus, with the real broker and two
 * tool-runner instances, and the caisson CLI.
 *
 * Built twice. test_tools_sandbox (TOOLS_REAL_SANDBOX) runs every tool
 * against real sandboxes from caisson-sandbox-manager. test_tools serves
 * sandbox requests with fake_sandbox.c (this program run as `test_tools
 * fake-sandbox`), which keeps workspaces as host directories: it tests
 * tool-runner's side (arguments, guardrails, results, idempotency, the
 * local forge) wherever sandboxes cannot be made. */
#include "support.h"
#include "cfg.h"
#include "bus_client.h"
#include "bus_pub.h"
#include "mpjson.h"
#ifndef TOOLS_REAL_SANDBOX
#include "fake_sandbox.h"
#endif

#include <czmq.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *s_dir;
static char s_self[1024];
static pid_t s_bus, s_fake, s_ta, s_tb;
static bus_client_t *s_client;
static bus_pub_t *s_pub;
static char s_sandbox[96];

static pid_t
spawn_sandbox_manager (void)
{
#ifdef TOOLS_REAL_SANDBOX
    return support_spawn ("caisson-sandbox-manager", NULL);
#else
    return support_spawn_self ((const char *[]) { s_self, "fake-sandbox", NULL });
#endif
}

static int
setup (void **state)
{
    (void) state;
    s_dir = support_sandbox_env ("tools");
    /* the deployment names the repositories it allows: none by default */
    support_tools_allow_repos_under (s_dir);
    setenv ("CAISSON_TOOLS_LEASE_MS", "1500", 1);
    setenv ("CAISSON_TOOLS_SANDBOX_TRY_MS", "1000", 1);
    s_bus = support_spawn ("caisson-bus", NULL);
    s_fake = spawn_sandbox_manager ();
    static const char *const ta[] = { "CAISSON_INSTANCE=ta", NULL };
    static const char *const tb[] = { "CAISSON_INSTANCE=tb", NULL };
    s_ta = support_spawn ("caisson-tool-runner", ta);
    s_tb = support_spawn ("caisson-tool-runner", tb);
    s_client = bus_client_new (getenv ("CAISSON_BUS"));
    support_await_service (s_client, "tool-runner.ta");
    support_await_service (s_client, "tool-runner.tb");
    support_await_service (s_client, "sandbox-manager");
    return s_client ? 0 : -1;
}

static int
teardown (void **state)
{
    (void) state;
    bus_client_destroy (&s_client);
    bus_pub_destroy (&s_pub);
    if (s_ta > 0 && support_alive (s_ta))
        support_expect_clean_exit (s_ta);
    support_expect_clean_exit (s_tb);
    support_stop (s_fake, SIGTERM, 2000);
    support_stop (s_bus, SIGTERM, 2000);
    return 0;
}

/* Calls tool name with JSON args through service; returns the result and
 * sets *ok. limits may be NULL. */
static json_t *
call_at (const char *service, const char *name, const char *args, const char *call_id,
         bool dry, const char *limits, bool *ok)
{
    proto_msg_t *req = support_tools_call_new (name, call_id, dry, args, limits);
    bus_client_set_timeout (s_client, 4000, 10);
    proto_msg_t *rep = bus_client_request (s_client, service, req);
    proto_msg_destroy (&req);
    return support_tools_result (rep, name, ok);
}

static json_t *
call (const char *name, const char *args, bool expect_ok)
{
    bool ok;
    json_t *r = call_at ("tool-runner", name, args, NULL, false, NULL, &ok);
    return support_tools_expect (r, name, ok, expect_ok);
}

static void
ensure_sandbox (void)
{
    if (*s_sandbox)
        return;
    json_t *r = call ("createSandbox", "{\"name\":\"reverse_string_project\",\"language\":\"python\","
                      "\"labels\":null,\"envVars\":null}", true);
    snprintf (s_sandbox, sizeof s_sandbox, "%s", support_json_str (r, "sandboxId"));
    assert_true (strlen (s_sandbox) > 5);
    json_decref (r);
}

/* printf-style JSON args after the sandbox id. */
#define with_sbx(...) support_sbx_args (s_sandbox, __VA_ARGS__)

static void
test_seed_example (void **state)
{
    (void) state;
    ensure_sandbox ();
    json_t *r = call ("writeFiles", with_sbx (
        "\"files\":[{\"path\":\"reverse_string.py\",\"data\":\"def reverse_string(s):\\n    return "
        "s[::-1]\\n\"},{\"path\":\"test_reverse_string.py\",\"data\":\"import unittest\\nfrom "
        "reverse_string import reverse_string\\n\\nclass T(unittest.TestCase):\\n    def test_a(self):"
        "\\n        self.assertEqual(reverse_string('hello'), 'olleh')\\n    def test_b(self):\\n"
        "        self.assertEqual(reverse_string(''), '')\\n    def test_c(self):\\n        "
        "self.assertEqual(reverse_string('a'), 'a')\\n    def test_d(self):\\n        "
        "self.assertEqual(reverse_string('12345'), '54321')\\n\\nif __name__ == '__main__':\\n    "
        "unittest.main()\\n\"}]"), true);
    json_t *written = json_object_get (r, "filesWritten");
    assert_int_equal (json_array_size (written), 2);
    assert_true (json_string_value (json_array_get (written, 0))[0] == '/');
    json_decref (r);
    r = call ("runCommand", with_sbx ("\"command\":\"python3 test_reverse_string.py\",\"envs\":null,"
                                      "\"workingDirectory\":null,\"timeoutSeconds\":20,"
                                      "\"captureOutput\":true"), true);
    assert_true (json_is_true (json_object_get (r, "success")));
    assert_int_equal (json_integer_value (json_object_get (r, "exitCode")), 0);
    assert_non_null (strstr (support_json_str (r, "stderr"), "Ran 4 tests"));
    assert_non_null (strstr (support_json_str (r, "stderr"), "OK"));
    assert_string_equal (support_json_str (r, "command"), "python3 test_reverse_string.py");
    assert_true (json_is_integer (json_object_get (r, "executionTime")));
    json_decref (r);
}

static void
test_file_tools (void **state)
{
    (void) state;
    ensure_sandbox ();
    json_t *r = call ("writeFile", with_sbx ("\"path\":\"src/hello.js\",\"content\":\"console.log"
                                             "('hi')\""), true);
    assert_true (json_is_true (json_object_get (r, "success")));
    assert_non_null (strstr (support_json_str (r, "path"), "/src/hello.js"));
    json_decref (r);
    r = call ("readFile", with_sbx ("\"path\":\"src/hello.js\""), true);
    assert_string_equal (support_json_str (r, "content"), "console.log('hi')");
    json_decref (r);
    r = call ("listFiles", with_sbx ("\"path\":\"src\""), true);
    json_t *f = json_array_get (json_object_get (r, "files"), 0);
    assert_string_equal (support_json_str (f, "name"), "hello.js");
    assert_true (json_is_false (json_object_get (f, "isDirectory")));
    json_decref (r);
    r = call ("getFileInfo", with_sbx ("\"path\":\"src/hello.js\""), true);
    assert_string_equal (support_json_str (r, "type"), "file");
    assert_int_equal (json_integer_value (json_object_get (r, "size")), 17);
    assert_non_null (strchr (support_json_str (r, "modifiedTime"), 'T'));
    json_decref (r);
    r = call ("checkFileExists", with_sbx ("\"path\":\"src\""), true);
    assert_true (json_is_true (json_object_get (r, "exists")));
    assert_true (json_is_true (json_object_get (r, "isDirectory")));
    json_decref (r);
    r = call ("getFileSize", with_sbx ("\"path\":\"src/hello.js\",\"humanReadable\":true"), true);
    assert_int_equal (json_integer_value (json_object_get (r, "size")), 17);
    assert_string_equal (support_json_str (r, "humanReadableSize"), "17 B");
    json_decref (r);
    r = call ("createDirectory", with_sbx ("\"path\":\"a/b/c\""), true);
    json_decref (r);
    r = call ("deleteFile", with_sbx ("\"path\":\"a\""), true);
    json_decref (r);
    r = call ("checkFileExists", with_sbx ("\"path\":\"a/b\""), true);
    assert_true (json_is_false (json_object_get (r, "exists")));
    json_decref (r);
    r = call ("runCode", with_sbx ("\"code\":\"print(6*7)\",\"language\":\"python\""), true);
    assert_string_equal (support_json_str (r, "stdout"), "42\n");
    json_decref (r);
    r = call ("watchDirectory", with_sbx ("\"path\":\".\",\"recursive\":false,\"watchDuration\":200"),
              true);
    assert_true (json_is_true (json_object_get (r, "watchStarted")));
    assert_true (json_is_array (json_object_get (r, "events")));
    json_decref (r);
}

#ifndef TOOLS_REAL_SANDBOX
/* Requests the fake sandbox-manager has served so far. */
static size_t
requests_served (void)
{
    char path[600], line[128];
    snprintf (path, sizeof path, "%s/requests", s_dir);
    FILE *fp = fopen (path, "r");
    size_t n = 0;
    while (fp && fgets (line, sizeof line, fp))
        n++;
    if (fp)
        fclose (fp);
    return n;
}

/* A file tool is one request to sandbox-manager: the workspace is the
 * same path in every sandbox, so nothing is asked before the operation. */
static void
test_file_tool_is_one_request (void **state)
{
    (void) state;
    ensure_sandbox ();
    size_t before = requests_served ();
    json_t *r = call ("writeFile", with_sbx ("\"path\":\"one.txt\",\"content\":\"1\""), true);
    json_decref (r);
    assert_int_equal (requests_served () - before, 1);
    before = requests_served ();
    r = call ("readFile", with_sbx ("\"path\":\"one.txt\""), true);
    assert_string_equal (support_json_str (r, "content"), "1");
    json_decref (r);
    assert_int_equal (requests_served () - before, 1);
    before = requests_served ();
    r = call ("writeFiles", with_sbx ("\"files\":[{\"path\":\"a.txt\",\"data\":\"a\"},"
                                      "{\"path\":\"b.txt\",\"data\":\"b\"}]"), true);
    json_decref (r);
    assert_int_equal (requests_served () - before, 1);
}
#endif

static void
test_guardrails (void **state)
{
    (void) state;
    ensure_sandbox ();
    json_t *r = call ("writeFile", with_sbx ("\"path\":\"../../etc/evil\",\"content\":\"x\""), false);
    assert_string_equal (support_json_error_code (r), "path_outside_workspace");
    assert_non_null (strstr (support_json_str (json_object_get (r, "error"), "message"),
                             "path must stay inside"));
    json_decref (r);
    r = call ("deleteFile", with_sbx ("\"path\":\".git\""), false);
    assert_string_equal (support_json_error_code (r), "path_not_allowed");
    json_decref (r);
    r = call ("readFile", with_sbx ("\"path\":\"x\",\"encoding\":\"utf8\""), false);
    assert_string_equal (support_json_error_code (r), "unknown_field");
    json_decref (r);
    bool ok;
    r = call_at ("tool-runner", "runCommand", with_sbx ("\"command\":\"curl http://x\""), NULL,
                 false, "{\"commandDeny\":[\"curl *\"]}", &ok);
    assert_false (ok);
    assert_string_equal (support_json_error_code (r), "command_denied");
    json_decref (r);
    r = call_at ("tool-runner", "writeFile", with_sbx ("\"path\":\"README.md\",\"content\":\"x\""),
                 NULL, false, "{\"writeGlobs\":[\"src/*\"]}", &ok);
    assert_false (ok);
    assert_string_equal (support_json_error_code (r), "path_not_allowed");
    json_decref (r);
    /* A dry run says what it would do and does nothing. */
    r = call_at ("tool-runner", "writeFile", with_sbx ("\"path\":\"dry.txt\",\"content\":\"x\""),
                 NULL, true, NULL, &ok);
    assert_true (ok);
    assert_true (json_is_true (json_object_get (r, "dryRun")));
    json_decref (r);
    r = call ("checkFileExists", with_sbx ("\"path\":\"dry.txt\""), true);
    assert_true (json_is_false (json_object_get (r, "exists")));
    json_decref (r);
    /* Output is capped with a flag. */
    r = call_at ("tool-runner", "runCommand", with_sbx ("\"command\":\"seq 1 1000\""), NULL, false,
                 "{\"maxOutputBytes\":100}", &ok);
    assert_true (ok);
    assert_true (json_is_true (json_object_get (r, "truncated")));
    assert_int_equal (strlen (support_json_str (r, "stdout")), 100);
    json_decref (r);
    /* A sandbox-manager instance the bus never saw: once past its start-up
     * grace (a heartbeat timeout, for workers registering again after a
     * broker restart), the broker answers not_found at once (issue 13),
     * which the tool reports as such. */
    for (int i = 0; i < 100; i++) {
        proto_msg_t *hreq = proto_msg_new (PROTO_health_req, NULL);
        proto_msg_t *hrep = bus_client_request (s_client, "bus", hreq);
        proto_msg_destroy (&hreq);
        uint64_t grace = cfg_u64 ("CAISSON_HEARTBEAT_MS") * cfg_u64 ("CAISSON_HEARTBEAT_LIVENESS");
        bool settled = hrep && hrep->type == PROTO_health_rep
                       && hrep->body.health_rep.uptime_ms > grace;
        proto_msg_destroy (&hrep);
        if (settled)
            break;
        zclock_sleep (100);
    }
    r = call_at ("tool-runner", "readFile", "{\"sandboxId\":\"gone-1\",\"path\":\"x\"}", NULL,
                 false, "{\"timeoutSeconds\":1}", &ok);
    assert_false (ok);
    assert_string_equal (support_json_error_code (r), "not_found");
    json_decref (r);
    r = call ("noSuchTool", "{}", false);
    assert_string_equal (support_json_error_code (r), "unknown_tool");
    json_decref (r);
}

static void
test_repo_workflow (void **state)
{
    (void) state;
    ensure_sandbox ();
    /* An origin on the host: a bare repository with one commit on main. */
    support_sh ("cd %s && git init -q --bare -b main origin.git && git init -q -b main seed && "
        "cd seed && "
        "printf 'def add(a, b):\\n    return a + b\\n' > calc.py && printf 'import unittest\\n"
        "from calc import add\\nclass T(unittest.TestCase):\\n    def test_add(self):\\n"
        "        self.assertEqual(add(1, 2), 3)\\n' > test_calc.py && mkdir docs && echo doc > "
        "docs/a.md && git add -A && git -c user.name=t -c user.email=t@t commit -q -m init && "
        "git push -q ../origin.git main", s_dir);
    char args[8192];
    snprintf (args, sizeof args, "\"url\":\"file://%s/origin.git\"", s_dir);
    json_t *r = call ("repo.clone", with_sbx ("%s", args), true);
    assert_string_equal (support_json_str (r, "branch"), "main");
    assert_int_equal (strlen (support_json_str (r, "head")), 40);
    json_decref (r);
    r = call ("repo.clone", with_sbx ("\"url\":\"https://example.com/x.git\""), false);
    assert_string_equal (support_json_error_code (r), "repo_not_allowed");
    json_decref (r);

    r = call ("repo.readFiles", with_sbx ("\"glob\":\"*.py\""), true);
    assert_int_equal (json_array_size (r), 2);
    assert_string_equal (support_json_str (json_array_get (r, 0), "path"), "calc.py");
    assert_non_null (strstr (support_json_str (json_array_get (r, 0), "content"), "return a + b"));
    json_decref (r);

    const char *patch = "\"patch\":\"--- a/calc.py\\n+++ b/calc.py\\n@@ -1,2 +1,5 @@\\n def add(a, b):"
                        "\\n     return a + b\\n+\\n+def sub(a, b):\\n+    return a - b\\n\"";
    r = call ("repo.applyDiff", with_sbx ("%s,\"dryRun\":true", patch), true);
    assert_true (json_is_false (json_object_get (r, "applied")));
    assert_string_equal (json_string_value (json_array_get (json_object_get (r, "files"), 0)),
                         "calc.py");
    json_decref (r);
    r = call ("repo.readFiles", with_sbx ("\"glob\":\"calc.py\""), true);
    assert_null (strstr (support_json_str (json_array_get (r, 0), "content"), "def sub"));
    json_decref (r);
    bool ok;
    r = call_at ("tool-runner", "repo.applyDiff", with_sbx ("%s", patch), NULL, false,
                 "{\"writeGlobs\":[\"docs/*\"]}", &ok);
    assert_false (ok);
    assert_string_equal (support_json_error_code (r), "path_not_allowed");
    json_decref (r);
    r = call ("repo.applyDiff", with_sbx ("%s", patch), true);
    assert_true (json_is_true (json_object_get (r, "applied")));
    json_decref (r);
    r = call ("repo.readFiles", with_sbx ("\"glob\":\"calc.py\""), true);
    assert_non_null (strstr (support_json_str (json_array_get (r, 0), "content"), "def sub"));
    json_decref (r);

    r = call ("ci.runTests", with_sbx ("\"target\":null"), true);
    assert_string_equal (support_json_str (r, "runner"), "unittest");
    assert_int_equal (json_integer_value (json_object_get (r, "passed")), 1);
    assert_int_equal (json_integer_value (json_object_get (r, "failed")), 0);
    json_decref (r);

    /* The pull request, twice with one call id: one commit, one record. */
    const char *pr = "\"title\":\"Add sub to calc\",\"body\":\"Adds subtraction.\"";
    json_t *first = call_at ("tool-runner", "git.openPR", with_sbx ("%s", pr), "pr-call-1", false,
                             NULL, &ok);
    assert_true (ok);
    json_t *second = call_at ("tool-runner", "git.openPR", with_sbx ("%s", pr), "pr-call-1", false,
                              NULL, &ok);
    assert_true (ok);
    assert_true (json_equal (first, second));
    const char *branch = support_json_str (first, "branch");
    assert_int_equal (strncmp (branch, "caisson/add-sub-to-calc-", 24), 0);
    char out[65536];
    snprintf (args, sizeof args, "git -C %s/origin.git rev-list --count main..%s > %s/count",
              s_dir, branch, s_dir);
    support_sh ("%s", args);
    snprintf (args, sizeof args, "%s/count", s_dir);
    FILE *fc = fopen (args, "r");
    int commits = 0;
    assert_int_equal (fscanf (fc, "%d", &commits), 1);
    fclose (fc);
    assert_int_equal (commits, 1);
    const char *prs[] = { "caisson", "prs", NULL };
    assert_int_equal (support_run (prs, out, sizeof out), 0);
    assert_non_null (strstr (out, "Add sub to calc"));
    assert_non_null (strstr (out, branch));
    const char *one[] = { "caisson", "pr", support_json_str (first, "id"), "--json", NULL };
    assert_int_equal (support_run (one, out, sizeof out), 0);
    json_t *rec = json_loads (out, 0, NULL);
    assert_non_null (rec);
    assert_non_null (strstr (support_json_str (rec, "diff"), "+def sub(a, b):"));
    assert_string_equal (support_json_str (rec, "base"), "main");
    assert_string_equal (support_json_str (rec, "status"), "open");
    json_decref (rec);
    json_decref (first);
    json_decref (second);
    /* The same call id for another call is refused, not confused. */
    r = call_at ("tool-runner", "readFile", with_sbx ("\"path\":\"x\""), "pr-call-1", false, NULL,
                 &ok);
    assert_string_equal (support_json_error_code (r), "call_id_reused");
    json_decref (r);
}

static void
test_cli (void **state)
{
    (void) state;
    ensure_sandbox ();
    char out[65536];
    const char *list[] = { "caisson", "tool", "list", "--json", NULL };
    assert_int_equal (support_run (list, out, sizeof out), 0);
    json_t *tools = json_loads (out, 0, NULL);
    assert_int_equal (json_array_size (tools), 23);
    json_decref (tools);
    const char *good[] = { "caisson", "tool", "call", "runCommand", with_sbx ("\"command\":\"echo hi\""),
                           "--json", NULL };
    assert_int_equal (support_run (good, out, sizeof out), 0);
    assert_non_null (strstr (out, "\"stdout\":\"hi\\n\""));
    const char *bad[] = { "caisson", "tool", "call", "readFile", "{\"path\":\"x\"}", "--json", NULL };
    assert_int_equal (support_run (bad, out, sizeof out), 1);
    assert_non_null (strstr (out, "missing_field"));
}

#ifdef TOOLS_REAL_SANDBOX
/* watchDirectory really watches: a file written while it runs is seen. */
static void
test_watch_events (void **state)
{
    (void) state;
    ensure_sandbox ();
    bus_client_t *other = bus_client_new (getenv ("CAISSON_BUS"));
    proto_msg_t *req = proto_msg_new (PROTO_tools_call, NULL);
    char id[CID_SIZE];
    cid_new (id);
    proto_set_str (&req->body.tools_call.name, "watchDirectory");
    proto_set_str (&req->body.tools_call.call_id, id);
    json_t *a = json_loads (with_sbx ("\"path\":\".\",\"recursive\":true,\"watchDuration\":2000"),
                            0, NULL);
    mpjson_set (&req->body.tools_call.args, a, 8);
    json_decref (a);
    support_send (other, "tool-runner", req);
    usleep (700000);
    json_t *r = call ("writeFile", with_sbx ("\"path\":\"watched.txt\",\"content\":\"x\""), true);
    json_decref (r);
    proto_msg_t *rep = bus_client_recv (other, 15000, NULL);
    assert_non_null (rep);
    assert_int_equal (rep->type, PROTO_tools_result);
    char why[128];
    r = mpjson_decode (rep->body.tools_result.result.data, rep->body.tools_result.result.size, 16,
                       why, sizeof why);
    proto_msg_destroy (&rep);
    bus_client_destroy (&other);
    assert_true (json_is_true (json_object_get (r, "watchStarted")));
    size_t i;
    json_t *ev;
    bool seen = false;
    json_array_foreach (json_object_get (r, "events"), i, ev)
        seen = seen || strstr (support_json_str (ev, "name"), "watched.txt");
    if (!seen) {
        char *text = json_dumps (r, JSON_COMPACT);
        fail_msg ("no event for watched.txt: %s", text);
    }
    json_decref (r);
}
#endif

/* Sends a runCommand call for command with call_id to service through
 * client, without waiting for its answer. */
static void
send_run_command (bus_client_t *client, const char *service, const char *call_id,
                  const char *command)
{
    proto_msg_t *req = proto_msg_new (PROTO_tools_call, NULL);
    proto_set_str (&req->body.tools_call.name, "runCommand");
    proto_set_str (&req->body.tools_call.call_id, call_id);
    json_t *a = json_pack ("{s:s, s:s}", "sandboxId", s_sandbox, "command", command);
    assert_int_equal (mpjson_set (&req->body.tools_call.args, a, 8), 0);
    json_decref (a);
    support_send (client, service, req);
}

/* Waits (at most 5 s) until path exists in the test's sandbox: a command
 * sent without waiting has started. */
static void
await_file (const char *path)
{
    bool started = false;
    for (int i = 0; i < 100 && !started; i++) {
        json_t *r = call ("checkFileExists", with_sbx ("\"path\":\"%s\"", path), true);
        started = json_is_true (json_object_get (r, "exists"));
        json_decref (r);
        if (!started)
            usleep (50000);
    }
    assert_true (started);
}

/* A call whose tool-runner dies mid-way is retried on the other instance
 * and runs once: the command's side effect happens once. */
static void
test_killed_mid_call (void **state)
{
    (void) state;
    ensure_sandbox ();
    send_run_command (s_client, "tool-runner.ta", "killed-call-1",
                      "echo run >> runs.txt; sleep 5; echo done");
    /* Wait until the command runs, then kill ta outright. */
    await_file ("runs.txt");
    support_stop (s_ta, SIGKILL, 100);
    s_ta = -1;
    /* The orchestrator's retry reaches the surviving instance. */
    bool ok;
    json_t *r = call_at ("tool-runner", "runCommand",
                         with_sbx ("\"command\":\"echo run >> runs.txt; sleep 5; echo done\""),
                         "killed-call-1", false, NULL, &ok);
    assert_true (ok);
    assert_string_equal (support_json_str (r, "stdout"), "done\n");
    json_decref (r);
    r = call ("readFile", with_sbx ("\"path\":\"runs.txt\""), true);
    assert_string_equal (support_json_str (r, "content"), "run\n");
    json_decref (r);
}

/* Publishes tools.cancel for call_id, as the orchestrator does, and
 * leaves the subscribers a moment to get it. */
static void
publish_cancel (const char *call_id)
{
    if (!s_pub)
        s_pub = bus_pub_new (getenv ("CAISSON_BUS_PUB"));
    assert_non_null (s_pub);
    proto_msg_t *m = proto_msg_new (PROTO_tools_cancel, NULL);
    proto_set_str (&m->body.tools_cancel.call_id, call_id);
    char topic[256];
    snprintf (topic, sizeof topic, "tools.cancel.%s", call_id);
    assert_int_equal (bus_pub_send (s_pub, topic, m), 0);
    proto_msg_destroy (&m);
    usleep (300000);
}

/* A cancel for a call no instance knows changes nothing; a call whose
 * cancel came before it is answered cancelled, on every instance, and
 * never runs. */
static void
test_cancel_unknown_and_early (void **state)
{
    (void) state;
    ensure_sandbox ();
    publish_cancel ("no-such-call");
    json_t *r = call ("runCommand", with_sbx ("\"command\":\"echo still-serving\""), true);
    assert_string_equal (support_json_str (r, "stdout"), "still-serving\n");
    json_decref (r);

    publish_cancel ("early-call-1");
    const char *targets[] = { "tool-runner.ta", "tool-runner.tb" };
    for (int i = 0; i < 2; i++) {
        bool ok = true;
        r = call_at (targets[i], "runCommand", with_sbx ("\"command\":\"echo ran > early.txt\""),
                     "early-call-1", false, NULL, &ok);
        assert_false (ok);
        assert_string_equal (support_json_error_code (r), "cancelled");
        json_decref (r);
    }
    r = call ("checkFileExists", with_sbx ("\"path\":\"early.txt\""), true);
    assert_false (json_is_true (json_object_get (r, "exists")));
    json_decref (r);
}

#ifdef TOOLS_REAL_SANDBOX
/* sandbox.exec.cancel naming a request sandbox-manager has not seen: a
 * no-op answer, and that request is refused when it comes. */
static void
test_exec_cancel_unknown (void **state)
{
    (void) state;
    ensure_sandbox ();
    char id[CID_SIZE];
    cid_new (id);
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_exec_cancel, NULL);
    proto_set_str (&req->body.sandbox_exec_cancel.sandbox_id, s_sandbox);
    proto_set_str (&req->body.sandbox_exec_cancel.request, id);
    bus_client_set_timeout (s_client, 4000, 2);
    proto_msg_t *rep = bus_client_request (s_client, "sandbox-manager", req);
    proto_msg_destroy (&req);
    assert_non_null (rep);
    assert_int_equal (rep->type, PROTO_sandbox_ack);
    char why[64];
    json_t *d = mpjson_decode (rep->body.sandbox_ack.detail.data,
                               rep->body.sandbox_ack.detail.size, 4, why, sizeof why);
    assert_true (json_is_false (json_object_get (d, "cancelled")));
    json_decref (d);
    proto_msg_destroy (&rep);

    req = proto_msg_new (PROTO_sandbox_exec, NULL);
    proto_set_str (&req->env.id, id);
    proto_set_str (&req->body.sandbox_exec.sandbox_id, s_sandbox);
    json_t *cmd = json_string ("echo ran > late.txt");
    mpjson_set (&req->body.sandbox_exec.command, cmd, 2);
    json_decref (cmd);
    rep = bus_client_request (s_client, "sandbox-manager", req);
    proto_msg_destroy (&req);
    assert_non_null (rep);
    assert_int_equal (rep->type, PROTO_error);
    assert_string_equal (rep->body.error.code, "cancelled");
    proto_msg_destroy (&rep);
}

/* A cancel published while the call's command runs kills the command's
 * whole tree in the sandbox, and the call ends at once, cancelled. */
static void
test_cancel_running_call (void **state)
{
    (void) state;
    ensure_sandbox ();
    bus_client_t *side = bus_client_new (getenv ("CAISSON_BUS"));
    send_run_command (side, "tool-runner.tb", "cancel-call-1",
                      "echo x > cancel.txt; sleep 30; echo done");
    await_file ("cancel.txt");
    int64_t t0 = zclock_mono ();
    publish_cancel ("cancel-call-1");
    proto_msg_t *rep = bus_client_recv (side, 10000, NULL);
    int64_t took = zclock_mono () - t0;
    bus_client_destroy (&side);
    assert_non_null (rep);
    assert_int_equal (rep->type, PROTO_tools_result);
    assert_false (rep->body.tools_result.ok);
    char why[64];
    json_t *r = mpjson_decode (rep->body.tools_result.result.data,
                               rep->body.tools_result.result.size, 8, why, sizeof why);
    proto_msg_destroy (&rep);
    assert_string_equal (support_json_error_code (r), "cancelled");
    json_decref (r);
    if (took > 5000)
        fail_msg ("the cancelled call took %lld ms to end", (long long) took);
    /* Nothing of it is left: no sleep among the sandbox's processes. */
    r = call ("runCommand", with_sbx ("\"command\":\"cat /proc/[0-9]*/comm 2>/dev/null | "
                                      "grep -c '^sleep$' || true\""), true);
    assert_string_equal (support_json_str (r, "stdout"), "0\n");
    json_decref (r);
    /* A retry of the call gets the cancelled result, and does not run it again. */
    bool ok = true;
    r = call_at ("tool-runner", "runCommand",
                 with_sbx ("\"command\":\"echo x > cancel.txt; sleep 30; echo done\""),
                 "cancel-call-1", false, NULL, &ok);
    assert_false (ok);
    assert_string_equal (support_json_error_code (r), "cancelled");
    json_decref (r);
}
#endif

/* With CAISSON_STORE_PER_INSTANCE=1 (instances in separate containers), an
 * instance keeps its calls in a store of its own and still serves calls. */
static void
test_store_per_instance (void **state)
{
    (void) state;
    static const char *const tc[] = { "CAISSON_INSTANCE=tc", "CAISSON_STORE_PER_INSTANCE=1",
                                      NULL };
    pid_t tcpid = support_spawn ("caisson-tool-runner", tc);
    support_await_service (s_client, "tool-runner.tc");
    bool ok;
    json_t *r = call_at ("tool-runner.tc", "createSandbox", "{\"name\":\"own-store\"}", NULL,
                         false, NULL, &ok);
    assert_true (ok);
    json_decref (r);
    char path[1024];
    struct stat st;
    snprintf (path, sizeof path, "%s/tool-runner/tc/data.mdb", s_dir);
    assert_int_equal (stat (path, &st), 0);
    snprintf (path, sizeof path, "%s/tool-runner/data.mdb", s_dir);
    assert_int_equal (stat (path, &st), 0);
    support_expect_clean_exit (tcpid);
}

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
        cmocka_unit_test (test_seed_example),
        cmocka_unit_test (test_file_tools),
#ifndef TOOLS_REAL_SANDBOX
        cmocka_unit_test (test_file_tool_is_one_request),
#endif
        cmocka_unit_test (test_guardrails),
        cmocka_unit_test (test_repo_workflow),
        cmocka_unit_test (test_cli),
#ifdef TOOLS_REAL_SANDBOX
        cmocka_unit_test (test_watch_events),
#endif
        cmocka_unit_test (test_cancel_unknown_and_early),
#ifdef TOOLS_REAL_SANDBOX
        cmocka_unit_test (test_exec_cancel_unknown),
        cmocka_unit_test (test_cancel_running_call),
#endif
        cmocka_unit_test (test_killed_mid_call),
        cmocka_unit_test (test_store_per_instance),
    };
    return support_run_group_tests (tests, setup, teardown);
}
