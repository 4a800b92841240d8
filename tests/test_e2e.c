/* test_e2e: the whole stack as a user runs it, with nothing standing in
 * but the scripted model: `caisson up --detach` starts the broker, the
 * five real services and caisson-llm-replay; `caisson run` drives the
 * orchestrator, which calls the real tool-runner, which works in a real
 * sandbox from the real sandbox-manager; event-log keeps the record.
 * Every event those runs stored, and every live one `caisson run --json`
 * saw, must be shaped as proto/events.def declares its kind. */
#include "support.h"
#include "bus_client.h"
#include "evkind.h"
#include "mpjson.h"

#include <czmq.h>
#include <dirent.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEED "write a python reverse_string function with unit tests and run them"
#define PR_TASK "add a CONTRIBUTING.md to the demo repository and open a pull request"
#define SOAK_TASK "run the 30-second soak test in a fresh sandbox"

static char s_out[1 << 17];

static int
stack_up (void **state)
{
    (void) state;
    const char *dir = support_sandbox_env ("e2e");
    assert_non_null (dir);
    /* The scripted model and the HTTP API on ports of this test's own. */
    /* free ports, not ones derived from the pid: a suite running beside
     * this one may hold those (ui-bridge then never reported healthy) */
    int replay = support_free_port ();
    support_stack_up (replay, support_free_port ());
    return 0;
}

static int
stack_down (void **state)
{
    (void) state;
    support_stack_down ();
    /* Nothing is left running: the sandboxes' inits went with the stack.
     * ([c] keeps the pattern from matching the shell that runs pgrep.) */
    char cmd[1200];
    snprintf (cmd, sizeof cmd, "pgrep -f '[c]aisson-sandbox-init .* %s/sandboxes/' | wc -l",
              getenv ("CAISSON_DATA"));
    FILE *p = popen (cmd, "r");
    int left = -1;
    assert_non_null (p);
    assert_int_equal (fscanf (p, "%d", &left), 1);
    pclose (p);
    assert_int_equal (left, 0);
    return 0;
}

static void
test_seed_task_end_to_end (void **state)
{
    (void) state;
    const char *run[] = { "caisson", "run", SEED, NULL };
    int rc = support_run (run, s_out, sizeof s_out);
    if (rc != 0 || !strstr (s_out, "Ran 4 tests") || !strstr (s_out, "OK"))
        fail_msg ("caisson run exited %d:\n%s", rc, s_out);
    /* event-log has the completed run, with the task it was given. */
    const char *runs[] = { "caisson", "runs", "--json", NULL };
    assert_int_equal (support_run (runs, s_out, sizeof s_out), 0);
    assert_non_null (strstr (s_out, "completed"));
    assert_non_null (strstr (s_out, "reverse_string"));
    /* Each tool result names the tool-runner instance that ran it. */
    char id[32] = "";
    const char *at = strstr (s_out, "\"run\":\"");
    assert_non_null (at);
    sscanf (at + 7, "%26[0-9A-Z]", id);
    const char *show[] = { "caisson", "show", id, "--json", NULL };
    assert_int_equal (support_run (show, s_out, sizeof s_out), 0);
    int served = 0;
    for (const char *p = s_out; (p = strstr (p, "\"toolRunner\":\"")); p++)
        served++;
    assert_int_equal (served, 3);
    /* the CLI shows its budgets (used of limit) and checks */
    const char *shown[] = { "caisson", "show", id, NULL };
    assert_int_equal (support_run (shown, s_out, sizeof s_out), 0);
    assert_non_null (strstr (s_out, "## Budgets (used of limit)\n"));
    assert_non_null (strstr (s_out, "- steps: "));
    assert_non_null (strstr (s_out, "- toolCalls: 3 of "));
    assert_non_null (strstr (s_out, "## Checks\n"));
    assert_non_null (strstr (s_out, "- configured: none\n"));
    assert_non_null (strstr (s_out, "- latest: not run\n"));
}

/* How many branches the demo's origin repository has. */
static int
origin_branches (void)
{
    char cmd[1200];
    snprintf (cmd, sizeof cmd, "git --git-dir='%s/demo/repo.git' branch --list | wc -l",
              getenv ("CAISSON_DATA"));
    FILE *p = popen (cmd, "r");
    assert_non_null (p);
    int n = -1;
    assert_int_equal (fscanf (p, "%d", &n), 1);
    pclose (p);
    return n;
}

static void
test_gated_pull_request_after_approval (void **state)
{
    (void) state;
    char path[1024], run[128], call[128];
    snprintf (path, sizeof path, "%s/pr-run.jsonl", getenv ("CAISSON_DATA"));
    pid_t pid = support_run_in_background (PR_TASK, path);
    support_await_approval (path, run, call, sizeof run);

    /* Nothing reached the origin before the approval. */
    assert_int_equal (origin_branches (), 1);
    const char *prs[] = { "caisson", "prs", NULL };
    assert_int_equal (support_run (prs, s_out, sizeof s_out), 0);
    assert_null (strstr (s_out, "Add CONTRIBUTING.md"));

    const char *approve[] = { "caisson", "approve", run, call, NULL };
    assert_int_equal (support_run (approve, s_out, sizeof s_out), 0);
    int status;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    assert_true (WIFEXITED (status));
    assert_int_equal (WEXITSTATUS (status), 0);

    assert_int_equal (support_run (prs, s_out, sizeof s_out), 0);
    assert_non_null (strstr (s_out, "Add CONTRIBUTING.md"));
    assert_int_equal (origin_branches (), 2);   /* main and the PR's branch */
}

/* How many `sleep` processes descend from host pid root. */
static int
sleeps_under (pid_t root)
{
    enum { MAX = 8192 };
    static int pid[MAX], ppid[MAX];
    static bool sleep_[MAX];
    int n = 0;
    DIR *d = opendir ("/proc");
    struct dirent *e;
    while (d && (e = readdir (d)) && n < MAX) {
        char path[300], buf[512];
        snprintf (path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = atoi (e->d_name) > 0 ? fopen (path, "r") : NULL;
        if (!f)
            continue;
        size_t len = fread (buf, 1, sizeof buf - 1, f);
        fclose (f);
        buf[len] = 0;
        char *lp = strchr (buf, '('), *rp = strrchr (buf, ')');
        if (!lp || !rp || sscanf (rp + 2, "%*c %d", &ppid[n]) != 1)
            continue;
        pid[n] = atoi (buf);
        sleep_[n] = rp - lp - 1 == 5 && !strncmp (lp + 1, "sleep", 5);
        n++;
    }
    if (d)
        closedir (d);
    int count = 0;
    for (int a = 0; a < n; a++) {
        int at = a;
        for (int hops = 0; sleep_[a] && at >= 0 && hops < 64; hops++) {
            if (ppid[at] == root) {
                count++;
                break;
            }
            int up = -1;
            for (int b = 0; b < n && up < 0; b++)
                if (pid[b] == ppid[at])
                    up = b;
            at = up;
        }
    }
    return count;
}

/* A run cancelled while its runCommand runs `sleep 30` in a sandbox ends
 * at once, and the command is killed with it: nothing of it is left in
 * the sandbox, and the run's record says the call was cancelled. */
static void
test_cancel_stops_running_command (void **state)
{
    (void) state;
    char path[1024];
    snprintf (path, sizeof path, "%s/soak-run.jsonl", getenv ("CAISSON_DATA"));
    pid_t pid = support_run_in_background (SOAK_TASK, path);
    json_t *ev = support_await_event (path, "tool_call", "runCommand");
    char run[64], sandbox[128];
    snprintf (run, sizeof run, "%s", json_string_value (json_object_get (ev, "run")));
    snprintf (sandbox, sizeof sandbox, "%s", json_string_value (json_object_get (
              json_object_get (json_object_get (ev, "data"), "args"), "sandboxId")));
    json_decref (ev);

    bus_client_t *client = bus_client_new (getenv ("CAISSON_BUS"));
    assert_non_null (client);
    bus_client_set_timeout (client, 5000, 1);
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_get, NULL);
    proto_set_str (&req->body.sandbox_get.sandbox_id, sandbox);
    req->env.op = true;     /* an operator's look: the sandbox is the CLI user's */
    proto_msg_t *rep = bus_client_request (client, "sandbox-manager", req);
    proto_msg_destroy (&req);
    assert_non_null (rep);
    assert_int_equal (rep->type, PROTO_sandbox_info);
    pid_t init = (pid_t) rep->body.sandbox_info.init_pid;
    proto_msg_destroy (&rep);
    assert_true (init > 0);
    for (int i = 0; i < 200 && sleeps_under (init) == 0; i++)
        zclock_sleep (50);
    assert_int_equal (sleeps_under (init), 1);

    int64_t t0 = zclock_mono ();
    req = proto_msg_new (PROTO_run_cancel, NULL);
    proto_set_str (&req->body.run_cancel.run_id, run);
    req->env.op = true;     /* an operator's cancel: the run is the CLI user's */
    rep = bus_client_request (client, "orchestrator", req);
    proto_msg_destroy (&req);
    bus_client_destroy (&client);
    assert_non_null (rep);
    assert_int_equal (rep->type, PROTO_run_info);
    assert_string_equal (rep->body.run_info.status, "cancelled");
    proto_msg_destroy (&rep);

    /* caisson run sees the run end: within seconds, not the command's 30. */
    int status = 0;
    while (waitpid (pid, &status, WNOHANG) == 0 && zclock_mono () - t0 < 20000)
        zclock_sleep (50);
    int64_t ended = zclock_mono () - t0;
    if (ended > 5000)
        fail_msg ("the cancelled run took %lld ms to end", (long long) ended);
    int left = 1;
    while ((left = sleeps_under (init)) > 0 && zclock_mono () - t0 < 5000)
        zclock_sleep (50);
    if (left)
        fail_msg ("sleep 30 still runs in sandbox %s after the cancel", sandbox);

    ev = support_await_event (path, "tool_result", "runCommand");
    json_t *result = json_object_get (json_object_get (ev, "data"), "result");
    assert_string_equal (json_string_value (json_object_get (json_object_get (result, "error"),
                                                             "code")), "cancelled");
    json_decref (ev);
    ev = support_await_event (path, "failed", NULL);
    assert_string_equal (json_string_value (json_object_get (json_object_get (ev, "data"),
                                                             "status")), "cancelled");
    json_decref (ev);
}

/* Fails, naming the event, unless (kind, data) is as declared; marks its
 * kind in seen. */
static void
expect_declared (const char *where, const char *kind, const json_t *data, bool *seen)
{
    char why[512];
    if (evk_check (kind, data, why, sizeof why)) {
        char *text = json_dumps (data, JSON_COMPACT | JSON_ENCODE_ANY);
        fail_msg ("%s: %s (data %.300s)", where, why, text ? text : "none");
    }
    seen[evk_lookup (kind)] = true;
}

/* Checks every line of a `caisson run --json` output (live events, deltas
 * among them) against its kind's declaration. */
static void
check_live (const char *name, bool *seen)
{
    char path[1024];
    snprintf (path, sizeof path, "%s/%s", getenv ("CAISSON_DATA"), name);
    FILE *f = fopen (path, "r");
    assert_non_null (f);
    static char line[1 << 20];
    int n = 0;
    while (fgets (line, sizeof line, f)) {
        json_t *ev = json_loads (line, 0, NULL);
        assert_non_null (ev);
        const char *kind = json_string_value (json_object_get (ev, "kind"));
        char where[1200];
        snprintf (where, sizeof where, "%s line %d", path, ++n);
        expect_declared (where, kind, json_object_get (ev, "data"), seen);
        json_decref (ev);
    }
    fclose (f);
    assert_true (n > 0);
}

/* The runs above, read back from event-log, and their live events: every
 * payload has its kind's declared fields and JSON types (evk_check), and
 * every kind those runs produce was seen, so the check cannot pass by
 * reading nothing. */
static void
test_events_match_their_declarations (void **state)
{
    (void) state;
    bool stored[EVK_COUNT + 1] = { false }, live[EVK_COUNT + 1] = { false };
    bus_client_t *client = bus_client_new (getenv ("CAISSON_BUS"));
    assert_non_null (client);
    bus_client_set_timeout (client, 5000, 1);
    uint64_t from = 1, head = 0;
    size_t count = 0;
    do {
        proto_msg_t *req = proto_msg_new (PROTO_events_read, NULL);
        req->env.op = true;     /* the global order, every user's runs */
        req->body.events_read.from_seq = from;
        proto_msg_t *rep = bus_client_request (client, "event-log", req);
        proto_msg_destroy (&req);
        assert_non_null (rep);
        assert_int_equal (rep->type, PROTO_events_page);
        char why[160];
        json_t *page = mpjson_decode (rep->body.events_page.events.data,
                                      rep->body.events_page.events.size, 64, why, sizeof why);
        assert_non_null (page);
        size_t i;
        json_t *ev;
        json_array_foreach (page, i, ev) {
            char where[128];
            snprintf (where, sizeof where, "stored event seq %lld",
                      (long long) json_integer_value (json_object_get (ev, "seq")));
            expect_declared (where, json_string_value (json_object_get (ev, "kind")),
                             json_object_get (ev, "data"), stored);
            count++;
        }
        json_decref (page);
        from = rep->body.events_page.next;
        head = rep->body.events_page.head;
        proto_msg_destroy (&rep);
    } while (from <= head);
    bus_client_destroy (&client);
    assert_true (count > 20);
    const evk_kind_t produced[] = {
        EVK_run_started, EVK_step_started, EVK_plan, EVK_text, EVK_usage, EVK_step_finished,
        EVK_tool_call, EVK_ask_approval, EVK_approval_decision, EVK_tool_result, EVK_complete,
        EVK_failed,
    };
    for (size_t k = 0; k < sizeof produced / sizeof produced[0]; k++)
        if (!stored[produced[k]])
            fail_msg ("no stored %s event to check", evk_name (produced[k]));
    check_live ("pr-run.jsonl", live);
    check_live ("soak-run.jsonl", live);
    assert_true (live[EVK_text_delta]);
    assert_true (live[EVK_ask_approval]);
}

int
main (void)
{
    zsys_init ();
    zsys_set_logstream (NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_seed_task_end_to_end),
        cmocka_unit_test (test_gated_pull_request_after_approval),
        cmocka_unit_test (test_cancel_stops_running_command),
        cmocka_unit_test (test_events_match_their_declarations),
    };
    return support_run_group_tests (tests, stack_up, stack_down);
}
