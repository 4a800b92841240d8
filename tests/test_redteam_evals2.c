/* test_redteam_evals2: red-team attacks on `caisson eval` (issue 18) through
 * the whole stack (`caisson up --detach`, real sandboxes), with the
 * scripted model's eval modes standing in for a hostile agent: a task set
 * the test writes, whose "reference solution" is the agent's hostile
 * output (the oracle lays it in through the normal tools), or a run that
 * hangs while the test does, in the eval's sandbox, what the agent could
 * do there with its own tools (`caisson sandbox exec` as the sandbox's
 * user: a process left running, a file outside the workspace). The hidden
 * tests must decide an attempt, not what the agent left behind. Also: the
 * test command runs only in the sandbox; another user's eval id and
 * repository; a harness killed mid-eval; profiles (run.start's specs,
 * budgets above the ceilings, canary shares, a 64 KiB prompt). Findings
 * not fixed are skipped with DEFECT (severity). Needs root (sandboxes);
 * skipped otherwise. */
#include "support.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char s_out[1 << 22];
static bool s_up;
static int s_replay_port;
static pid_t s_replay;
static char s_dir[600];

#define UNITTEST "python3 -m unittest discover -s . -p 'test_hidden_*.py'"
#define STUB "def is_leap(year):\n    return False\n"
#define HIDDEN "import unittest\nfrom leap import is_leap\n\n" \
               "class T(unittest.TestCase):\n" \
               "    def test_2000(self):\n        self.assertTrue(is_leap(2000))\n\n" \
               "    def test_1900(self):\n        self.assertFalse(is_leap(1900))\n"

static bool
port_open (int port)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    bool ok = fd >= 0 && connect (fd, (struct sockaddr *) &sa, sizeof sa) == 0;
    if (fd >= 0)
        close (fd);
    return ok;
}

static void
put (const char *path, const char *text)
{
    char dir[900];
    snprintf (dir, sizeof dir, "%s", path);
    for (char *p = dir + 1; (p = strchr (p, '/')); p++) {
        *p = '\0';
        mkdir (dir, 0755);
        *p = '/';
    }
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fputs (text, f);
    fclose (f);
}

/* A set <s_dir>/<name> of one python task `name` (the leap-year stub, the
 * hidden tests above): manifest extra keys (JSON members, may be ""), and
 * the solution's files as path, text pairs (NULL-ended). Returns the set's
 * directory (static). */
static const char *
make_set (const char *name, const char *command, const char *extra, ...)
{
    static char set[700];
    char path[900], text[2048];
    snprintf (set, sizeof set, "%s/%s", s_dir, name);
    snprintf (path, sizeof path, "%s/%s/manifest.json", set, name);
    json_t *cmd = json_string (command);
    char *quoted = json_dumps (cmd, JSON_ENCODE_ANY);
    snprintf (text, sizeof text, "{\"id\": \"%s\", \"language\": \"python\", \"timeLimitS\": 60, "
              "\"testCommand\": %s%s%s}", name, quoted, *extra ? ", " : "", extra);
    free (quoted);
    json_decref (cmd);
    put (path, text);
    snprintf (path, sizeof path, "%s/%s/task.md", set, name);
    put (path, "Make is_leap in leap.py say whether a year is a leap year.\n");
    snprintf (path, sizeof path, "%s/%s/files/leap.py", set, name);
    put (path, STUB);
    snprintf (path, sizeof path, "%s/%s/tests/test_hidden_leap.py", set, name);
    put (path, HIDDEN);
    va_list ap;
    va_start (ap, extra);
    const char *file;
    while ((file = va_arg (ap, const char *))) {
        const char *data = va_arg (ap, const char *);
        snprintf (path, sizeof path, "%s/%s/solution/%s", set, name, file);
        put (path, data);
    }
    va_end (ap);
    return set;
}

/* (Re)starts the test's caisson-llm-replay serving set with plan. */
static void
replay_with (const char *set, const char *plan)
{
    if (s_replay > 0)
        support_stop (s_replay, SIGTERM, 5000);
    char file[700], port[16], bin[1024], log[700];
    snprintf (file, sizeof file, "%s/plan.json", s_dir);
    put (file, plan);
    snprintf (port, sizeof port, "%d", s_replay_port);
    snprintf (bin, sizeof bin, "%s/caisson-llm-replay", CAISSON_BIN_DIR);
    snprintf (log, sizeof log, "%s/eval-replay.log", s_dir);
    s_replay = fork ();
    if (s_replay == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        FILE *err = freopen (log, "a", stderr);
        (void) err;
        execl (bin, bin, "--port", port, "--eval-set", set, "--eval-plan", file, (char *) NULL);
        _exit (127);
    }
    for (int i = 0; i < 100 && !port_open (s_replay_port); i++)
        usleep (50000);
    assert_true (port_open (s_replay_port));
}

static int
stack_up (void **state)
{
    (void) state;
    if (geteuid () != 0)
        return 0;
    const char *dir = support_sandbox_env ("rtev2");
    if (!dir)
        return -1;
    snprintf (s_dir, sizeof s_dir, "%s", dir);
    s_replay_port = support_free_port ();
    char port[16], url[64], http[64];
    snprintf (port, sizeof port, "%d", support_free_port ());
    snprintf (url, sizeof url, "http://127.0.0.1:%d/v1", s_replay_port);
    snprintf (http, sizeof http, "127.0.0.1:%d", support_free_port ());
    setenv ("CAISSON_LLM_REPLAY_PORT", port, 1);
    setenv ("CAISSON_LLM_REPLAY_URL", url, 1);
    setenv ("CAISSON_HTTP", http, 1);
    unsetenv ("MODEL");
    unsetenv ("OPENAI_API_KEY");
    unsetenv ("ANTHROPIC_API_KEY");
    const char *up[] = { "caisson", "up", "--detach", NULL };
    if (support_run (up, s_out, sizeof s_out) != 0)
        return -1;
    s_up = true;
    return 0;
}

static int
stack_down (void **state)
{
    (void) state;
    if (s_replay > 0)
        support_stop (s_replay, SIGTERM, 5000);
    if (s_up)
        support_stack_down ();
    return 0;
}

/* `caisson eval run SET --json --user U --id ID --model replay/oracle`:
 * the record (new). */
static json_t *
eval_run (const char *user, const char *set, const char *id)
{
    const char *argv[] = { "caisson", "eval", "run", set, "--json", "--user", user, "--id", id,
                           "--model", "replay/oracle", NULL };
    int rc = support_run (argv, s_out, sizeof s_out);
    if (rc != 0)
        fail_msg ("eval run %s exited %d: %.2000s", set, rc, s_out);
    json_t *r = json_loads (s_out, 0, NULL);
    if (!r)
        fail_msg ("eval run %s printed no JSON record: %.2000s", set, s_out);
    return r;
}

/* The only attempt of the only task of record r (borrowed). */
static json_t *
only_attempt (const json_t *r)
{
    json_t *t = json_array_get (json_object_get (r, "tasks"), 0);
    return json_array_get (json_object_get (t, "attempts"), 0);
}

/* The first sandbox `caisson sandbox ls` lists (every user's: the CLI is an
 * operator), into id (128 bytes); false when there is none. */
static bool
first_sandbox (char *id)
{
    const char *ls[] = { "caisson", "sandbox", "ls", NULL };
    if (support_run (ls, s_out, sizeof s_out) != 0)
        return false;
    size_t n = strcspn (s_out, "\t\n");
    if (!n || n >= 128)
        return false;
    memcpy (id, s_out, n);
    id[n] = '\0';
    return true;
}

static int
sandboxes (void)
{
    const char *ls[] = { "caisson", "sandbox", "ls", NULL };
    assert_int_equal (support_run (ls, s_out, sizeof s_out), 0);
    int n = 0;
    for (const char *p = s_out; (p = strchr (p, '\n')); p++)
        n++;
    return n;
}

/* Starts `caisson eval run SET --json ...` in the background (stdout to
 * file out); returns its pid. */
static pid_t
eval_in_background (const char *user, const char *set, const char *id, const char *out)
{
    pid_t pid = fork ();
    if (pid == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        if (!freopen (out, "w", stdout))
            _exit (127);
        char bin[1024];
        snprintf (bin, sizeof bin, "%s/caisson", CAISSON_BIN_DIR);
        execl (bin, bin, "eval", "run", set, "--json", "--model", "replay/oracle", "--id", id,
               "--user", user, (char *) NULL);
        _exit (127);
    }
    return pid;
}

/* Waits for the background eval pid; its record (new). */
static json_t *
eval_wait (pid_t pid, const char *out)
{
    int status;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    json_t *r = json_load_file (out, 0, NULL);
    if (!r || !WIFEXITED (status) || WEXITSTATUS (status))
        fail_msg ("the background eval ended with status %d, record %s", status,
                  r ? "present" : "absent");
    return r;
}

/* While the run hangs (the model answers late), does what the agent could
 * do in its sandbox with runCommand (background: the call returns, the
 * process lives on): script, by `sh -c` in /workspace, as user. */
static void
agent_leaves (const char *user, const char *script)
{
    char id[128] = "";
    for (int i = 0; i < 300 && !first_sandbox (id); i++)
        usleep (100000);
    assert_true (*id);
    const char *exec[] = { "caisson", "sandbox", "exec", id, "--background", "--user", user,
                           "--", "sh", "-c", script, NULL };
    /* the sandbox exists before its files and snapshot: try until it runs */
    int rc = 1;
    for (int i = 0; i < 50 && (rc = support_run (exec, s_out, sizeof s_out)) != 0; i++)
        usleep (100000);
    if (rc)
        fail_msg ("could not start the agent's leftover in %s: %.1000s", id, s_out);
}

/* A process the agent left running rewrites the hidden tests as soon as
 * they are written (before the test command reads them): the attempt must
 * not pass on the rewritten tests. */
static void
test_leftover_process (void **state)
{
    (void) state;
    if (!s_up)
        skip ();
    const char *set = make_set ("rt-leftover", UNITTEST, "", (const char *) NULL);
    replay_with (set, "{\"*\":\"hang:6\"}");
    char out[700];
    snprintf (out, sizeof out, "%s/leftover.json", s_dir);
    pid_t pid = eval_in_background ("alice", set, "rt-leftover", out);
    agent_leaves ("alice",
                  "cd /workspace; while :; do for f in test_hidden_*.py; do "
                  "[ -f \"$f\" ] || continue; grep -q FAKED \"$f\" && continue; "
                  "printf '# FAKED\\nimport unittest\\nclass T(unittest.TestCase):\\n"
                  "    def test_ok(self):\\n        pass\\n' > \"$f\"; done; sleep 0.002; "
                  "done");
    json_t *r = eval_wait (pid, out);
    json_t *a = only_attempt (r);
    if (json_is_true (json_object_get (a, "passed")))
        fail_msg ("a process the agent left rewrote the hidden tests and the attempt passed: "
                  "%.3000s", json_dumps (a, JSON_COMPACT));
    /* judged by the real tests, and the harness did its part */
    assert_null (json_object_get (a, "error"));
    assert_string_equal (support_json_str (a, "cause"), "tests_failed");
    json_decref (r);
}

/* The agent leaves git configuration in its home (HOME is the workspace)
 * that makes the harness's own `git add` (taking the patch) start a
 * process, after the leftovers were ended: it rewrites the hidden tests
 * as they land. */
static void
test_git_filter_respawn (void **state)
{
    (void) state;
    if (!s_up)
        skip ();
    const char *set = make_set (
        "rt-filter", UNITTEST, "", ".gitattributes", "*.py filter=evil\n", ".gitconfig",
        "[filter \"evil\"]\n\tclean = sh .evil.sh\n", ".evil.sh",
        "if [ ! -e /tmp/.evil-started ]; then\n  touch /tmp/.evil-started\n"
        "  sh -c 'cd /workspace; while :; do for f in test_hidden_*.py; do "
        "[ -f \"$f\" ] || continue; grep -q FAKED \"$f\" && continue; "
        "printf \"# FAKED\\nimport unittest\\nclass T(unittest.TestCase):\\n"
        "    def test_ok(self):\\n        pass\\n\" > \"$f\"; done; sleep 0.002; done' "
        ">/dev/null 2>&1 </dev/null &\nfi\ncat\n",
        (const char *) NULL);
    replay_with (set, "{}");
    json_t *r = eval_run ("alice", set, "rt-filter");
    json_t *a = only_attempt (r);
    if (json_is_true (json_object_get (a, "passed")))
        fail_msg ("a process the harness's git started for the agent rewrote the hidden tests "
                  "and the attempt passed: %.3000s", json_dumps (a, JSON_COMPACT));
    assert_null (json_object_get (a, "error"));
    json_decref (r);
}

/* The agent's git configuration (a clean filter) shows the harness's
 * `git add` the starting file instead of the one it changed: the patch
 * recorded and exported must still be what was tested. */
static void
test_patch_hidden (void **state)
{
    (void) state;
    if (!s_up)
        skip ();
    const char *set = make_set (
        "rt-hide", UNITTEST, "", ".gitattributes", "leap.py filter=hide\n", ".gitconfig",
        "[filter \"hide\"]\n\tclean = cat .stub\n", ".stub", STUB, "leap.py",
        "def is_leap(y):\n    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)\n", (const char *) NULL);
    replay_with (set, "{}");
    json_t *r = eval_run ("alice", set, "rt-hide");
    json_t *a = only_attempt (r);
    assert_true (json_is_true (json_object_get (a, "passed")));
    if (!strstr (support_json_str (a, "patch"), "+++ b/leap.py"))
        fail_msg ("the attempt passed on a change its patch does not hold: %.3000s",
                  support_json_str (a, "patch"));
    json_decref (r);
}

/* The agent puts a directory where a hidden test goes, and a file where a
 * directory of them goes, so the tests cannot be written as they are: the
 * attempt fails its tests, and the harness is not blamed (exit 0, no
 * error). */
static void
test_blocked_tests_path (void **state)
{
    (void) state;
    if (!s_up)
        skip ();
    const char *set = make_set ("rt-block", UNITTEST, "", "test_hidden_leap.py/keep", "x\n",
                                (const char *) NULL);
    /* and a file where a directory of hidden tests goes */
    char path[900];
    snprintf (path, sizeof path, "%s/rt-block/tests/unit/test_hidden_more.py", set);
    put (path, HIDDEN);
    snprintf (path, sizeof path, "%s/rt-block/solution/unit", set);
    put (path, "not a directory\n");
    replay_with (set, "{}");
    const char *argv[] = { "caisson", "eval", "run", set, "--json", "--user", "alice", "--id",
                           "rt-block", "--model", "replay/oracle", NULL };
    int rc = support_run (argv, s_out, sizeof s_out);
    json_t *r = json_loads (s_out, 0, NULL);
    json_t *a = only_attempt (r);
    assert_non_null (a);
    assert_false (json_is_true (json_object_get (a, "passed")));
    if (rc != 0 || json_object_get (a, "error"))
        fail_msg ("what the agent left at the hidden tests' paths is the harness's failure: "
                  "exit %d, error '%.300s'", rc, support_json_str (a, "error"));
    assert_string_equal (support_json_str (a, "cause"), "tests_failed");
    json_decref (r);
}

/* A `python3` the agent put ahead of the real one on the sandbox's PATH
 * (/usr/local/bin) answers the test command with success. */
static void
test_path_shadow (void **state)
{
    (void) state;
    if (!s_up)
        skip ();
    const char *set = make_set ("rt-shadow", UNITTEST, "", (const char *) NULL);
    replay_with (set, "{\"*\":\"hang:6\"}");
    char out[700];
    snprintf (out, sizeof out, "%s/shadow.json", s_dir);
    pid_t pid = eval_in_background ("alice", set, "rt-shadow", out);
    agent_leaves ("alice",
                  "for d in /usr/local/bin /workspace/.local/bin; do mkdir -p $d 2>/dev/null; "
                  "printf '#!/bin/sh\\necho \"Ran 2 tests in 0.001s\" >&2; echo OK >&2; "
                  "exit 0\\n' > $d/python3 2>/dev/null && chmod +x $d/python3; done; true");
    /* whether the shadow is in place (the sandbox's root may be read-only) */
    char id[128] = "";
    assert_true (first_sandbox (id));
    const char *look[] = { "caisson", "sandbox", "exec", id, "--user", "alice", "--", "sh", "-c",
                           "test -x /usr/local/bin/python3 && echo shadowed || echo not shadowed",
                           NULL };
    support_run (look, s_out, sizeof s_out);
    print_message ("/usr/local/bin/python3: %.100s", s_out);
    json_t *r = eval_wait (pid, out);
    json_t *a = only_attempt (r);
    if (json_is_true (json_object_get (a, "passed")))
        fail_msg ("a python3 the agent left on PATH passed the hidden tests: %.3000s",
                  json_dumps (a, JSON_COMPACT));
    json_decref (r);
}

/* The agent's code exits 0 as soon as the tests import it: no test ran,
 * the runner printed nothing, the command exited 0. */
static void
test_silent_exit (void **state)
{
    (void) state;
    if (!s_up)
        skip ();
    const char *set = make_set ("rt-exit", UNITTEST, "", "leap.py",
                                "import os\nos._exit(0)\n", (const char *) NULL);
    replay_with (set, "{}");
    json_t *r = eval_run ("alice", set, "rt-exit");
    json_t *a = only_attempt (r);
    if (json_is_true (json_object_get (a, "passed")))
        fail_msg ("code that exits 0 on import passed the hidden tests: %.3000s",
                  json_dumps (a, JSON_COMPACT));
    assert_string_equal (support_json_str (a, "cause"), "no_tests_run");
    json_decref (r);
}

/* The agent's code prints a runner's success and exits 0 on import (or
 * shadows the runner with a package of the same name in the workspace):
 * the hidden tests run in the same process as the code they judge, so its
 * output cannot be told from theirs. */
static void
test_forged_runner (void **state)
{
    (void) state;
    if (!s_up)
        skip ();
    const char *set = make_set ("rt-forge", UNITTEST, "", "unittest/__init__.py", "",
                                "unittest/__main__.py",
                                "import sys\nsys.stderr.write('..\\n------\\n"
                                "Ran 2 tests in 0.001s\\n\\nOK\\n')\n", (const char *) NULL);
    replay_with (set, "{}");
    json_t *r = eval_run ("alice", set, "rt-forge");
    json_t *a = only_attempt (r);
    bool passed = json_is_true (json_object_get (a, "passed"));
    json_decref (r);
    if (passed) {
        print_message ("DEFECT (medium): a `unittest` package the agent wrote in the workspace "
                       "shadows the runner (`python3 -m` puts the workspace first on sys.path) "
                       "and the attempt passes on a forged summary; more generally the hidden "
                       "tests run the agent's code in their own process, so it can print any "
                       "runner's success and exit 0\n");
        skip ();
    }
}

/* The task's test command is the set's (untrusted) shell text: it runs in
 * the sandbox, never on the host. */
static void
test_command_in_sandbox_only (void **state)
{
    (void) state;
    if (!s_up)
        skip ();
    char marker[700], command[1600];
    snprintf (marker, sizeof marker, "%s/host-marker", s_dir);
    unlink (marker);
    snprintf (command, sizeof command, "touch %s; echo $(hostname) > /workspace/where; "
              "test ! -e /etc/caisson-host-only && " UNITTEST, marker);
    const char *set = make_set ("rt-cmd", command, "", "leap.py",
                                "def is_leap(y):\n    return y % 4 == 0 and "
                                "(y % 100 != 0 or y % 400 == 0)\n", (const char *) NULL);
    replay_with (set, "{}");
    json_t *r = eval_run ("alice", set, "rt-cmd");
    assert_true (json_is_true (json_object_get (only_attempt (r), "passed")));
    json_decref (r);
    assert_int_equal (access (marker, F_OK), -1);
}

/* bob runs an eval with the id of alice's: alice's record stays hers. */
static void
test_id_collision (void **state)
{
    (void) state;
    if (!s_up)
        skip ();
    const char *set = make_set ("rt-id", UNITTEST, "", (const char *) NULL);
    replay_with (set, "{}");
    json_t *r = eval_run ("alice", set, "rt-shared-id");
    json_decref (r);
    const char *argv[] = { "caisson", "eval", "run", set, "--json", "--user", "bob", "--id",
                           "rt-shared-id", "--model", "replay/giveup", NULL };
    int rc = support_run (argv, s_out, sizeof s_out);
    const char *show[] = { "caisson", "eval", "show", "rt-shared-id", "--json", "--user",
                           "alice", NULL };
    assert_int_equal (support_run (show, s_out, sizeof s_out), 0);
    json_t *mine = json_loads (s_out, 0, NULL);
    assert_string_equal (support_json_str (mine, "model"), "replay/oracle");
    json_decref (mine);
    const char *bobs[] = { "caisson", "eval", "show", "rt-shared-id", "--json", "--user", "bob",
                           NULL };
    int shown = support_run (bobs, s_out, sizeof s_out);
    if (rc == 0)
        assert_null (strstr (s_out, "replay/oracle"));
    else
        assert_int_not_equal (shown, 0);
}

/* An eval id that is a path: refused before anything is made on the host
 * (a pull-request task's bare repository is named after it). */
static void
test_id_path (void **state)
{
    (void) state;
    if (!s_up)
        skip ();
    const char *set = make_set ("rt-idpath", UNITTEST, "", (const char *) NULL);
    replay_with (set, "{}");
    const char *ids[] = { "../../escape", "a/b", ".hidden", "-rf", "x y" };
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        const char *argv[] = { "caisson", "eval", "run", set, "--json", "--user", "alice",
                               "--id", ids[i], "--model", "replay/oracle", NULL };
        int rc = support_run (argv, s_out, sizeof s_out);
        if (rc == 0)
            fail_msg ("eval id '%s' was taken: %.1000s", ids[i], s_out);
    }
    assert_int_equal (sandboxes (), 0);
}

/* Fixed (was DEFECT, low): the harness killed (SIGKILL: no clean-up)
 * while a run hangs left its record `running` for good, with nothing
 * telling it from a live eval, and its sandbox until the sandbox's TTL
 * (1 h). Now the record names its harness (host, pid): the next `caisson
 * eval show` (or list) on that host sees it gone, stores the eval
 * `interrupted` with the reason, and destroys the sandboxes labelled with
 * the eval. */
static void
test_harness_killed (void **state)
{
    (void) state;
    if (!s_up)
        skip ();
    const char *set = make_set ("rt-kill", UNITTEST, "", (const char *) NULL);
    replay_with (set, "{\"*\":\"hang:30\"}");
    char out[700], id[128] = "";
    snprintf (out, sizeof out, "%s/killed.json", s_dir);
    pid_t pid = eval_in_background ("carol", set, "rt-killed", out);
    for (int i = 0; i < 300 && !first_sandbox (id); i++)
        usleep (100000);
    assert_true (*id);
    sleep (2);
    kill (pid, SIGKILL);
    waitpid (pid, NULL, 0);
    const char *show[] = { "caisson", "eval", "show", "rt-killed", "--json", "--user", "carol",
                           NULL };
    assert_int_equal (support_run (show, s_out, sizeof s_out), 0);
    json_t *r = json_loads (s_out, 0, NULL);
    assert_string_equal (support_json_str (r, "status"), "interrupted");
    if (!strstr (support_json_str (r, "reason"), "ended without finishing"))
        fail_msg ("no reason: %.1000s", s_out);
    json_decref (r);
    assert_int_equal (sandboxes (), 0);
    /* stored so: a second look (and the web view) reads it as interrupted */
    assert_int_equal (support_run (show, s_out, sizeof s_out), 0);
    r = json_loads (s_out, 0, NULL);
    assert_string_equal (support_json_str (r, "status"), "interrupted");
    json_decref (r);
}

/* The bare repository of alice's pull-request attempt, while it runs
 * (<data>/eval-repos/<eval>-<task>-<sandbox>.git), into path; false when
 * there is none yet. */
static bool
alices_repo (char *path, size_t len)
{
    char dir[700];
    snprintf (dir, sizeof dir, "%s/eval-repos/alice", s_dir);
    DIR *d = opendir (dir);
    struct dirent *e;
    bool found = false;
    while (d && !found && (e = readdir (d)))
        if (strstr (e->d_name, ".git") && !strncmp (e->d_name, "rt-pr-", 6)) {
            snprintf (path, len, "%s/%s", dir, e->d_name);
            found = true;
        }
    if (d)
        closedir (d);
    return found;
}

/* `caisson tool call NAME ARGS --json --user bob`: the result (new). */
static json_t *
bob_calls (const char *name, const char *args)
{
    const char *argv[] = { "caisson", "tool", "call", name, args, "--json", "--user", "bob",
                           NULL };
    support_run (argv, s_out, sizeof s_out);
    return json_loads (s_out, 0, NULL);
}

/* Fixed (was DEFECT, low): every repository under <data>/eval-repos was
 * allowed to every user, so bob (or his agent) could clone the repository
 * of alice's pull-request task while her attempt ran, given its name, and
 * git.openPR with a chosen call id and title could force-push the branch
 * her PR pushed before it was scored. Now the repositories are under
 * <data>/eval-repos/<user>/ and the allow-list's `{user}` admits only the
 * calling user's: bob's repo.clone of hers is refused. */
static void
test_other_users_repo (void **state)
{
    (void) state;
    if (!s_up)
        skip ();
    char set[700], path[900];
    snprintf (set, sizeof set, "%s/rt-prset", s_dir);
    snprintf (path, sizeof path, "%s/rt-pr/manifest.json", set);
    put (path, "{\"id\": \"rt-pr\", \"language\": \"python\", \"timeLimitS\": 60, "
               "\"success\": \"pr\", \"repo\": true, \"testCommand\": \"" UNITTEST "\"}");
    snprintf (path, sizeof path, "%s/rt-pr/task.md", set);
    put (path, "Make is_leap in leap.py right and open a pull request.\n");
    snprintf (path, sizeof path, "%s/rt-pr/files/leap.py", set);
    put (path, STUB);
    snprintf (path, sizeof path, "%s/rt-pr/tests/test_hidden_leap.py", set);
    put (path, HIDDEN);
    replay_with (set, "{\"*\":\"hang:8\"}");
    char out[700], repo[1000] = "";
    snprintf (out, sizeof out, "%s/pr.json", s_dir);
    pid_t pid = eval_in_background ("alice", set, "rt-pr", out);
    for (int i = 0; i < 300 && !alices_repo (repo, sizeof repo); i++)
        usleep (100000);
    assert_true (*repo);
    json_t *made = bob_calls ("createSandbox", "{}");
    const char *sbx = support_json_str (made, "sandboxId");
    if (!*sbx)
        sbx = support_json_str (json_object_get (made, "result"), "sandboxId");
    assert_true (*sbx);
    char args[1400];
    snprintf (args, sizeof args, "{\"sandboxId\": \"%s\", \"url\": \"%s\"}", sbx, repo);
    json_t *r = bob_calls ("repo.clone", args);
    bool cloned = json_is_true (json_object_get (r, "success"));
    json_decref (r);
    json_decref (eval_wait (pid, out));
    json_decref (made);
    if (cloned)
        fail_msg ("bob cloned alice's eval repository %s", repo);
}

/* `caisson profile create NAME --file` with body (JSON text): its exit. */
static int
profile_create (const char *name, const char *body)
{
    char file[700];
    snprintf (file, sizeof file, "%s/profile-%s.json", s_dir, name);
    put (file, body);
    const char *argv[] = { "caisson", "profile", "create", name, "--file", file, NULL };
    return support_run (argv, s_out, sizeof s_out);
}

/* `caisson run --json --profile spec hello` as bob: its exit; the reply in s_out. */
static int
run_with (const char *spec)
{
    const char *argv[] = { "caisson", "run", "--json", "--profile", spec, "--user", "bob",
                           "hello", NULL };
    return support_run (argv, s_out, sizeof s_out);
}

/* run.start's profile: odd specs are refused (never a label of their
 * own), a version with a leading zero is that version. */
static void
test_profile_specs (void **state)
{
    (void) state;
    if (!s_up)
        skip ();
    assert_int_equal (profile_create ("rtspec", "{\"systemPrompt\": \"Be brief.\"}"), 0);
    char long_spec[100];
    memset (long_spec, 'a', 70);
    snprintf (long_spec + 70, sizeof long_spec - 70, "@1");
    const char *bad[] = { "rtspec@", "@1", "rtspec@0", "rtspec@-1", "rtspec@+1", "rtspec@1x",
                          "rtspec@ 1", "rtspec@@1", "RtSpec@1", "rtspec@18446744073709551616",
                          "rtspec@18446744073709551615", "rtspec@2", "rt spec@1", long_spec };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (run_with (bad[i]) == 0)
            fail_msg ("run.start took profile '%s': %.1000s", bad[i], s_out);
    if (run_with ("rtspec@01") == 0 && !strstr (s_out, "\"profile\":\"rtspec@1\""))
        fail_msg ("rtspec@01 ran under another label: %.1000s", s_out);
}

/* A profile's budgets above the deployment's ceilings do not lift them:
 * a run on it is refused, or runs within the ceilings, never unbounded. */
static void
test_profile_budget_ceiling (void **state)
{
    (void) state;
    if (!s_up)
        skip ();
    assert_int_equal (profile_create ("rtbig", "{\"budgets\": {\"steps\": 1000000000, "
                                      "\"tokens\": 1000000000000, \"wallSeconds\": 100000000}}"),
                      0);
    if (run_with ("rtbig@1") == 0
        && (!strstr (s_out, "\"profile\":\"rtbig@1\"") || strstr (s_out, "1000000000")
            || strstr (s_out, "100000000,") || strstr (s_out, "100000000}")))
        fail_msg ("a run on a profile above the ceilings took its budgets: %.1000s", s_out);
}

/* A profile's system prompt at its 64 KiB limit: a run on it starts and
 * ends (the context budget holds it), and the orchestrator goes on. */
static void
test_profile_big_prompt (void **state)
{
    (void) state;
    if (!s_up)
        skip ();
    size_t n = 64u << 10;
    char *body = malloc (n + 64);
    assert_non_null (body);
    int at = snprintf (body, n + 64, "{\"systemPrompt\": \"");
    memset (body + at, 'w', n - 8);
    for (size_t i = 0; i < n - 8; i += 6)
        body[at + i] = ' ';
    snprintf (body + at + n - 8, 64, "\"}");
    int rc = profile_create ("rtbigp", body);
    free (body);
    assert_int_equal (rc, 0);
    rc = run_with ("rtbigp@1");
    print_message ("a run on a 64 KiB system prompt: exit %d, %.200s\n", rc,
                   strstr (s_out, "\"kind\":\"complete\"") ? "completed"
                   : strstr (s_out, "\"kind\":\"failed\"") ? strstr (s_out, "\"kind\":\"failed\"")
                   : s_out);
    assert_non_null (strstr (s_out, "\"profile\":\"rtbigp@1\""));
    /* the orchestrator still answers */
    assert_int_equal (run_with ("rtspec@1"), 0);
}

/* Canary shares outside 1..99 and versions that do not exist. */
static void
test_profile_canary (void **state)
{
    (void) state;
    if (!s_up)
        skip ();
    assert_int_equal (profile_create ("rtcan", "{\"systemPrompt\": \"One.\"}"), 0);
    assert_int_equal (profile_create ("rtcan", "{\"systemPrompt\": \"Two.\"}"), 0);
    const char *act[] = { "caisson", "profile", "activate", "rtcan", "1", NULL };
    assert_int_equal (support_run (act, s_out, sizeof s_out), 0);
    const char *pcts[] = { "0", "101", "-1", "1e2", "18446744073709551617" };
    for (size_t i = 0; i < sizeof pcts / sizeof *pcts; i++) {
        const char *argv[] = { "caisson", "profile", "activate", "rtcan", "2", "--canary",
                               pcts[i], NULL };
        if (support_run (argv, s_out, sizeof s_out) == 0)
            fail_msg ("--canary %s was taken: %.1000s", pcts[i], s_out);
    }
    const char *none[] = { "caisson", "profile", "activate", "rtcan", "3", NULL };
    assert_int_not_equal (support_run (none, s_out, sizeof s_out), 0);
    /* 100: every thread on the candidate, or refused; never a share above it */
    const char *all[] = { "caisson", "profile", "activate", "rtcan", "2", "--canary", "100",
                          NULL };
    if (support_run (all, s_out, sizeof s_out) == 0)
        assert_null (strstr (s_out, "10%"));
    const char *list[] = { "caisson", "profile", "list", "rtcan", NULL };
    assert_int_equal (support_run (list, s_out, sizeof s_out), 0);
    print_message ("after --canary 100: %.300s", s_out);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_command_in_sandbox_only),
        cmocka_unit_test (test_silent_exit),
        cmocka_unit_test (test_forged_runner),
        cmocka_unit_test (test_leftover_process),
        cmocka_unit_test (test_git_filter_respawn),
        cmocka_unit_test (test_patch_hidden),
        cmocka_unit_test (test_blocked_tests_path),
        cmocka_unit_test (test_path_shadow),
        cmocka_unit_test (test_id_collision),
        cmocka_unit_test (test_id_path),
        cmocka_unit_test (test_harness_killed),
        cmocka_unit_test (test_other_users_repo),
        cmocka_unit_test (test_profile_specs),
        cmocka_unit_test (test_profile_budget_ceiling),
        cmocka_unit_test (test_profile_canary),
        cmocka_unit_test (test_profile_big_prompt),
    };
    return support_run_group_tests (tests, stack_up, stack_down);
}
