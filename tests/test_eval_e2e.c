/* test_eval_e2e: `caisson eval` end to end (issue 18) on the whole stack
 * (`caisson up --detach`: real services, real sandboxes) with the scripted
 * model's eval modes: caisson-llm-replay started by the test with
 * `--eval-set` and `--eval-plan` (the stack's orchestrator reaches it
 * through CAISSON_LLM_REPLAY_URL; the stack's own llm-replay listens on
 * another port, unused). The oracle passes every task of the golden set,
 * pull-request tasks scored on their branch; giving up passes none; a
 * mixed plan gives exactly the expected counts and causes; an imported
 * set; a report of two evals; list/show after event-log restarts; the
 * SWE-bench export read back by python3's json; one user's evals hidden
 * from another. Needs root (sandboxes); skipped otherwise. */
#include "support.h"
#include "eval_report.h"
#include "eval_score.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define GOLDEN CAISSON_SOURCE_DIR "/evals/golden"
#define IMPORTED CAISSON_SOURCE_DIR "/evals/imported-example"

static char s_out[1 << 23];
static bool s_up;
static int s_replay_port;
static pid_t s_replay;
static char s_dir[600];
/* The oracle's and giveup's evals of the golden set, for the later tests. */
static char s_oracle[80], s_giveup[80];

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

/* (Re)starts the test's caisson-llm-replay serving set with plan (JSON
 * text {taskId: behaviour}, "{}" for the oracle everywhere). */
static void
replay_with (const char *set, const char *plan)
{
    if (s_replay > 0)
        support_stop (s_replay, SIGTERM, 5000);
    char file[700], port[16], bin[1024], log[700];
    snprintf (file, sizeof file, "%s/plan.json", s_dir);
    FILE *f = fopen (file, "w");
    assert_non_null (f);
    fputs (plan, f);
    fclose (f);
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
    const char *dir = support_sandbox_env ("eval");
    if (!dir)
        return -1;
    snprintf (s_dir, sizeof s_dir, "%s", dir);
    s_replay_port = support_free_port ();
    char port[16], url[64], http[64];
    /* the stack's own llm-replay on one port, ours (with the eval flags) on another */
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

/* Runs `caisson eval run SET --json` as user with the extra arguments
 * (NULL-ended); returns the record (new) and its id in id (80 bytes). */
static json_t *
eval_run (const char *user, const char *set, const char *id, const char *const extra[])
{
    const char *argv[32] = { "caisson", "eval", "run", set, "--json", "--user", user,
                             "--concurrency", "4", "--id", id };
    size_t n = 11;
    for (size_t i = 0; extra && extra[i] && n < 30; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    int rc = support_run (argv, s_out, sizeof s_out);
    if (rc != 0)
        fail_msg ("eval run %s exited %d: %.2000s", set, rc, s_out);
    json_error_t err;
    json_t *r = json_loads (s_out, 0, &err);
    if (!r)
        fail_msg ("eval run %s printed no JSON record (%s): %.2000s", set, err.text, s_out);
    assert_string_equal (support_json_str (r, "status"), "done");
    return r;
}

static json_int_t
summary_int (const json_t *r, const char *key)
{
    return json_integer_value (json_object_get (json_object_get (r, "summary"), key));
}

/* The first attempt of task id in record r. */
static json_t *
attempt_of (const json_t *r, const char *id)
{
    size_t i;
    json_t *t;
    json_array_foreach (json_object_get (r, "tasks"), i, t)
        if (!strcmp (support_json_str (t, "id"), id))
            return json_array_get (json_object_get (t, "attempts"), 0);
    fail_msg ("no task %s in the record", id);
    return NULL;
}

static void
test_oracle_golden (void **state)
{
    (void) state;
    if (!s_up)
        skip ();
    replay_with (GOLDEN, "{}");
    snprintf (s_oracle, sizeof s_oracle, "oracle-golden");
    const char *extra[] = { "--model", "replay/oracle", NULL };
    json_t *r = eval_run ("alice", GOLDEN, s_oracle, extra);
    json_int_t tasks = summary_int (r, "tasks");
    assert_true (tasks >= 20);
    size_t i;
    json_t *t;
    json_array_foreach (json_object_get (r, "tasks"), i, t) {
        json_t *a = json_array_get (json_object_get (t, "attempts"), 0);
        if (!json_is_true (json_object_get (a, "passed")))
            fail_msg ("the oracle failed %s: %s", support_json_str (t, "id"),
                      json_dumps (a, JSON_COMPACT));
        assert_int_equal (json_integer_value (json_object_get (t, "passes")), 1);
        assert_true (strlen (support_json_str (a, "patch")) > 0);
        assert_string_equal (support_json_str (a, "runStatus"), "completed");
    }
    assert_int_equal (summary_int (r, "passed"), tasks);
    /* the pull-request task was scored on the branch git.openPR pushed */
    json_t *pr = json_object_get (attempt_of (r, "py-pr-version-bump"), "pr");
    assert_true (strlen (support_json_str (pr, "branch")) > 0);
    assert_true (strncmp (support_json_str (pr, "branch"), "caisson/", 8) == 0);
    json_decref (r);
}

static void
test_giveup_golden (void **state)
{
    (void) state;
    if (!s_up)
        skip ();
    replay_with (GOLDEN, "{}");
    snprintf (s_giveup, sizeof s_giveup, "giveup-golden");
    const char *extra[] = { "--model", "replay/giveup", NULL };
    json_t *r = eval_run ("alice", GOLDEN, s_giveup, extra);
    json_int_t tasks = summary_int (r, "tasks");
    assert_int_equal (summary_int (r, "passed"), 0);
    json_t *causes = json_object_get (json_object_get (r, "summary"), "causes");
    assert_int_equal (json_integer_value (json_object_get (causes, "tests_failed")), tasks);
    assert_int_equal (json_object_size (causes), 1);
    /* no pull request to score */
    assert_null (json_object_get (attempt_of (r, "py-pr-version-bump"), "pr"));
    json_decref (r);
}

/* Each behaviour of the plan on one task, the rest the oracle's. */
static void
test_mixed_plan (void **state)
{
    (void) state;
    if (!s_up)
        skip ();
    replay_with (GOLDEN, "{\"py-leap-year\":\"giveup\",\"py-word-count\":\"wrong\","
                         "\"js-fizzbuzz\":\"toolerror\",\"py-run-length\":\"loop\","
                         "\"sh-count-lines\":\"error\",\"py-roman-numerals\":\"refuse\","
                         "\"js-deep-merge\":\"hang\"}");
    /* a short time limit, for the hanging task (the oracle needs far less) */
    const char *extra[] = { "--model", "replay/oracle", "--time-limit", "20", NULL };
    json_t *r = eval_run ("alice", GOLDEN, "mixed-golden", extra);
    static const char *const expect[][2] = {
        { "py-leap-year", "tests_failed" }, { "py-word-count", "tests_failed" },
        { "js-fizzbuzz", "tool_error" },    { "py-run-length", "budget_exhausted" },
        { "sh-count-lines", "model_error" }, { "py-roman-numerals", "refused" },
        { "js-deep-merge", "timeout" },
    };
    size_t n = sizeof expect / sizeof *expect;
    for (size_t i = 0; i < n; i++) {
        json_t *a = attempt_of (r, expect[i][0]);
        if (json_is_true (json_object_get (a, "passed"))
            || strcmp (support_json_str (a, "cause"), expect[i][1]))
            fail_msg ("%s: expected cause %s, got %s", expect[i][0], expect[i][1],
                      json_dumps (a, JSON_COMPACT));
    }
    assert_string_equal (support_json_str (attempt_of (r, "py-run-length"), "budget"), "steps");
    assert_int_equal (summary_int (r, "passed"), summary_int (r, "tasks") - (json_int_t) n);
    json_decref (r);
}

static void
test_imported_set (void **state)
{
    (void) state;
    if (!s_up)
        skip ();
    replay_with (IMPORTED, "{}");
    /* two attempts a task: pass@1 and pass@2 both 1 */
    const char *extra[] = { "--model", "replay/oracle", "--repeat", "2", NULL };
    json_t *r = eval_run ("alice", IMPORTED, "oracle-imported", extra);
    assert_true (summary_int (r, "tasks") >= 1);
    assert_int_equal (summary_int (r, "attempts"), 2 * summary_int (r, "tasks"));
    assert_int_equal (summary_int (r, "passed"), summary_int (r, "attempts"));
    json_t *at = json_object_get (json_object_get (r, "summary"), "passAtK");
    assert_true (json_number_value (json_object_get (at, "1")) > 0.999);
    assert_true (json_number_value (json_object_get (at, "2")) > 0.999);
    json_decref (r);
}

static void
test_report_two (void **state)
{
    (void) state;
    if (!s_up || !*s_oracle || !*s_giveup)
        skip ();
    const char *argv[] = { "caisson", "eval", "report", s_oracle, s_giveup, "--json",
                           "--user", "alice", NULL };
    assert_int_equal (support_run (argv, s_out, sizeof s_out), 0);
    json_t *rep = json_loads (s_out, 0, NULL);
    json_t *cmp = json_object_get (rep, "compare");
    assert_non_null (cmp);
    size_t tasks = json_array_size (json_object_get (cmp, "broken"));
    assert_true (tasks >= 20);
    assert_int_equal (json_array_size (json_object_get (cmp, "fixed")), 0);
    assert_true (json_number_value (json_object_get (json_object_get (cmp, "passRate"),
                                                     "change")) < -0.99);
    json_decref (rep);
    /* the other way round, every task is fixed; and the text form says so */
    const char *back[] = { "caisson", "eval", "report", s_giveup, s_oracle, "--user", "alice",
                           NULL };
    assert_int_equal (support_run (back, s_out, sizeof s_out), 0);
    char line[64];
    snprintf (line, sizeof line, "fixed      %zu", tasks);
    if (!strstr (s_out, line) || !strstr (s_out, "broken     0"))
        fail_msg ("the report lacks '%s': %.3000s", line, s_out);
}

/* The pid of the stack's event-log, from `caisson status --json`. */
static int
eventlog_pid (void)
{
    const char *argv[] = { "caisson", "status", "--json", NULL };
    support_run (argv, s_out, sizeof s_out);
    json_t *st = json_loads (s_out, 0, NULL), *p;
    size_t i;
    int pid = 0;
    json_array_foreach (json_object_get (st, "processes"), i, p)
        if (!strcmp (support_json_str (p, "name"), "event-log")
            && json_is_true (json_object_get (p, "healthy")))
            pid = (int) json_integer_value (json_object_get (p, "pid"));
    json_decref (st);
    return pid;
}

static void
test_list_show_after_restart (void **state)
{
    (void) state;
    if (!s_up || !*s_oracle)
        skip ();
    int pid = eventlog_pid ();
    assert_true (pid > 0);
    kill (pid, SIGTERM);
    int now = 0;
    for (int i = 0; i < 200 && ((now = eventlog_pid ()) == 0 || now == pid); i++)
        usleep (100000);
    assert_true (now > 0 && now != pid);
    const char *list[] = { "caisson", "eval", "list", "--json", "--user", "alice", NULL };
    int rc = 1;
    for (int i = 0; i < 50 && (rc = support_run (list, s_out, sizeof s_out)) != 0; i++)
        usleep (100000);
    assert_int_equal (rc, 0);
    if (!strstr (s_out, s_oracle) || !strstr (s_out, s_giveup))
        fail_msg ("eval list lacks %s or %s: %.2000s", s_oracle, s_giveup, s_out);
    const char *show[] = { "caisson", "eval", "show", s_oracle, "--user", "alice", NULL };
    assert_int_equal (support_run (show, s_out, sizeof s_out), 0);
    assert_non_null (strstr (s_out, "pass rate     100.0%"));
    assert_non_null (strstr (s_out, "py-pr-version-bump"));
}

static void
test_swebench_export (void **state)
{
    (void) state;
    if (!s_up || !*s_oracle)
        skip ();
    char file[700], cmd[1600];
    snprintf (file, sizeof file, "%s/preds.jsonl", s_dir);
    const char *argv[] = { "caisson", "eval", "export", s_oracle, "--swebench", "-o", file,
                           "--user", "alice", NULL };
    assert_int_equal (support_run (argv, s_out, sizeof s_out), 0);
    /* every line: exactly the three fields, strings, a non-empty patch */
    snprintf (cmd, sizeof cmd,
              "python3 -c 'import json,sys\n"
              "lines=open(sys.argv[1]).read().splitlines()\n"
              "assert len(lines)>=20, len(lines)\n"
              "for l in lines:\n"
              "    d=json.loads(l)\n"
              "    assert sorted(d)==[\"instance_id\",\"model_name_or_path\",\"model_patch\"], d\n"
              "    assert all(isinstance(v,str) for v in d.values()), d\n"
              "    assert d[\"model_patch\"].startswith(\"diff --git\"), d\n"
              "    assert d[\"model_name_or_path\"]==\"replay/oracle\", d\n' %s",
              file);
    support_sh ("%s", cmd);
}

static void
test_other_user (void **state)
{
    (void) state;
    if (!s_up || !*s_oracle)
        skip ();
    const char *list[] = { "caisson", "eval", "list", "--json", "--user", "bob", NULL };
    assert_int_equal (support_run (list, s_out, sizeof s_out), 0);
    assert_null (strstr (s_out, s_oracle));
    const char *show[] = { "caisson", "eval", "show", s_oracle, "--user", "bob", NULL };
    assert_int_equal (support_run (show, s_out, sizeof s_out), 1);
    const char *exp[] = { "caisson", "eval", "export", s_oracle, "--swebench", "--user", "bob",
                          NULL };
    assert_int_equal (support_run (exp, s_out, sizeof s_out), 1);
    assert_int_equal (strlen (s_out), 0);
    /* nor delete it: alice's is still there */
    const char *rm[] = { "caisson", "eval", "rm", s_oracle, "--user", "bob", NULL };
    assert_int_equal (support_run (rm, s_out, sizeof s_out), 1);
    const char *hers[] = { "caisson", "eval", "show", s_oracle, "--user", "alice", NULL };
    assert_int_equal (support_run (hers, s_out, sizeof s_out), 0);
}

/* How many sandboxes the stack holds (every user's: the CLI is an operator). */
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

/* Ctrl-C while runs hang: they are cancelled, the sandboxes ended, the
 * record stored as interrupted, exit 130. */
static void
test_interrupt (void **state)
{
    (void) state;
    if (!s_up)
        skip ();
    replay_with (IMPORTED, "{\"*\":\"hang\"}");
    assert_int_equal (sandboxes (), 0);
    pid_t pid = fork ();
    if (pid == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        if (!freopen ("/dev/null", "w", stdout))
            _exit (127);
        char bin[1024];
        snprintf (bin, sizeof bin, "%s/caisson", CAISSON_BIN_DIR);
        execl (bin, bin, "eval", "run", IMPORTED, "--model", "replay/oracle", "--concurrency",
               "2", "--id", "interrupted", "--user", "carol", (char *) NULL);
        _exit (127);
    }
    /* both attempts' runs are under way once both sandboxes exist and a
     * moment has passed */
    for (int i = 0; i < 300 && sandboxes () < 2; i++)
        usleep (100000);
    assert_int_equal (sandboxes (), 2);
    sleep (2);
    kill (pid, SIGINT);
    int status;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    assert_true (WIFEXITED (status));
    assert_int_equal (WEXITSTATUS (status), 130);
    assert_int_equal (sandboxes (), 0);
    const char *show[] = { "caisson", "eval", "show", "interrupted", "--json", "--user", "carol",
                           NULL };
    assert_int_equal (support_run (show, s_out, sizeof s_out), 0);
    json_t *r = json_loads (s_out, 0, NULL);
    assert_string_equal (support_json_str (r, "status"), "interrupted");
    json_decref (r);
    const char *runs[] = { "caisson", "runs", "--json", "--user", "carol", NULL };
    assert_int_equal (support_run (runs, s_out, sizeof s_out), 0);
    if (strstr (s_out, "\"running\"") || !strstr (s_out, "\"cancelled\""))
        fail_msg ("the interrupted eval's runs are not all cancelled: %.2000s", s_out);
    /* its owner deletes it: gone, and a second rm says so */
    const char *rm[] = { "caisson", "eval", "rm", "interrupted", "--user", "carol", NULL };
    assert_int_equal (support_run (rm, s_out, sizeof s_out), 0);
    assert_int_equal (support_run (show, s_out, sizeof s_out), 1);
    assert_int_equal (support_run (rm, s_out, sizeof s_out), 1);
}

/* The unbiased estimator against values worked by hand; runs without root. */
static void
test_pass_at_k (void **state)
{
    (void) state;
    assert_true (fabs (eval_pass_at_k (5, 2, 1) - 0.4) < 1e-9);
    assert_true (fabs (eval_pass_at_k (5, 2, 2) - 0.7) < 1e-9);   /* 1 - C(3,2)/C(5,2) */
    assert_true (fabs (eval_pass_at_k (10, 3, 5) - (1.0 - 21.0 / 252.0)) < 1e-9);
    assert_true (eval_pass_at_k (5, 0, 3) == 0.0);
    assert_true (eval_pass_at_k (5, 5, 1) == 1.0);
    assert_true (eval_pass_at_k (3, 1, 5) == 1.0);                 /* k capped at n */
    assert_true (eval_pass_at_k (0, 0, 1) == 0.0);
}

/* A record too big for eval.put keeps the patch the export takes of each
 * task (the first passing attempt's) and drops the others. */
static void
test_fit (void **state)
{
    (void) state;
    char *big = malloc (100001);
    memset (big, 'x', 100000);
    for (int i = 0; i < 100000; i += 100)
        big[i] = '\n';
    big[100000] = '\0';
    json_t *tasks = json_array ();
    for (int t = 0; t < 2; t++) {
        json_t *attempts = json_array ();
        for (int k = 0; k < 3; k++)
            json_array_append_new (attempts, json_pack ("{s:b, s:s, s:{s:s}}", "passed", k == 1,
                                                        "patch", big, "tests", "output", big));
        json_array_append_new (tasks, json_pack ("{s:s, s:o}", "id", t ? "b" : "a",
                                                 "attempts", attempts));
    }
    json_t *rec = json_pack ("{s:s, s:o}", "id", "e", "tasks", tasks);
    json_t *same = eval_report_fit (rec, 10u << 20);
    assert_ptr_equal (same, rec);
    json_decref (same);
    json_t *fit = eval_report_fit (rec, 300000);
    char *text = json_dumps (fit, JSON_COMPACT);
    assert_true (strlen (text) <= 300000);
    free (text);
    size_t i, j;
    json_t *t, *a;
    json_array_foreach (json_object_get (fit, "tasks"), i, t)
        json_array_foreach (json_object_get (t, "attempts"), j, a) {
            assert_int_equal (json_is_true (json_object_get (a, "patchDropped")), j != 1);
            assert_int_equal (json_object_get (a, "patch") != NULL, j == 1);
            assert_true (strlen (support_json_str (json_object_get (a, "tests"), "output"))
                         <= 512);
        }
    /* the record itself is untouched */
    assert_int_equal (strlen (support_json_str (json_array_get (json_object_get (
                          json_array_get (json_object_get (rec, "tasks"), 0), "attempts"), 0),
                          "patch")), 100000);
    json_decref (fit);
    json_decref (rec);
    free (big);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_pass_at_k),
        cmocka_unit_test (test_fit),
        cmocka_unit_test (test_oracle_golden),
        cmocka_unit_test (test_giveup_golden),
        cmocka_unit_test (test_mixed_plan),
        cmocka_unit_test (test_imported_set),
        cmocka_unit_test (test_report_two),
        cmocka_unit_test (test_list_show_after_restart),
        cmocka_unit_test (test_swebench_export),
        cmocka_unit_test (test_other_user),
        cmocka_unit_test (test_interrupt),
    };
    return support_run_group_tests (tests, stack_up, stack_down);
}
