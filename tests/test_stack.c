/* test_stack: the whole stack through the `caisson` command, as a user
 * drives it: up --detach, status --json, a service killed with SIGKILL and
 * restarted by the supervisor, down, and nothing left running. Also every
 * binary's --help and --version. */
#define _GNU_SOURCE /* memmem */
#include "support.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *const binaries[] = {
    "caisson", "caisson-bus", "caisson-ui-bridge", "caisson-orchestrator",
    "caisson-tool-runner", "caisson-sandbox-manager", "caisson-event-log",
};

static void
test_help_and_version (void **state)
{
    (void) state;
    char out[8192];
    for (size_t i = 0; i < sizeof binaries / sizeof binaries[0]; i++) {
        const char *help[] = { binaries[i], "--help", NULL };
        assert_int_equal (support_run (help, out, sizeof out), 0);
        assert_non_null (strstr (out, "CAISSON_BUS"));
        const char *version[] = { binaries[i], "--version", NULL };
        assert_int_equal (support_run (version, out, sizeof out), 0);
        assert_non_null (strstr (out, CAISSON_VERSION_STRING));
        const char *bad[] = { binaries[i], "--no-such-flag", NULL };
        assert_int_equal (support_run (bad, NULL, 0), 2);
    }
}

/* Runs `caisson status --json` and returns the parsed document. */
static json_t *
status (const char *dir, int *rc)
{
    static char out[16384];
    const char *argv[] = { "caisson", "status", "--json", "--data", dir, NULL };
    *rc = support_run (argv, out, sizeof out);
    json_error_t err;
    json_t *doc = json_loads (out, 0, &err);
    if (!doc)
        fail_msg ("status --json printed no JSON: %s (%s)", err.text, out);
    return doc;
}

static json_t *
process (json_t *doc, const char *name)
{
    size_t i;
    json_t *p;
    json_array_foreach (json_object_get (doc, "processes"), i, p)
        if (!strcmp (json_string_value (json_object_get (p, "name")), name))
            return p;
    return NULL;
}

static char s_dirs[2][512];

/* Makes stack slot i a fresh data dir with its own endpoints. */
static const char *
new_stack_dir (int i, const char *name)
{
    const char *dir = support_sandbox_env (name);
    assert_non_null (dir);
    snprintf (s_dirs[i], sizeof s_dirs[i], "%s", dir);
    return s_dirs[i];
}

/* Whatever an assertion skipped, the stacks a test started go. */
static int
teardown (void **state)
{
    (void) state;
    for (int i = 0; i < 2; i++)
        if (s_dirs[i][0]) {
            const char *down[] = { "caisson", "down", "--data", s_dirs[i], NULL };
            support_run (down, NULL, 0);
            s_dirs[i][0] = '\0';
        }
    return 0;
}

static void
test_up_kill_restart_down (void **state)
{
    (void) state;
    const char *dir = new_stack_dir (0, "stack");
    setenv ("CAISSON_HEARTBEAT_MS", "200", 1);

    const char *up[] = { "caisson", "up", "--detach", "--data", dir, NULL };
    char out[4096];
    assert_int_equal (support_run (up, out, sizeof out), 0);
    assert_non_null (strstr (out, "9 processes healthy"));

    /* A second `up` for the same data dir refuses. */
    assert_int_equal (support_run (up, NULL, 0), 1);

    /* the model gateway and its key store answer health like the rest */
    for (int k = 0; k < 2; k++) {
        const char *health[] = { "caisson", "health", k ? "gateway-keys" : "gateway", "--data",
                                 dir, NULL };
        assert_int_equal (support_run (health, NULL, 0), 0);
    }

    int rc;
    json_t *doc = status (dir, &rc);
    assert_int_equal (rc, 0);
    assert_true (json_is_true (json_object_get (doc, "running")));
    json_t *procs = json_object_get (doc, "processes");
    /* bus, event-log, egress-proxy, gateway-keys, gateway, sandbox-manager,
     * tool-runner, orchestrator, ui-bridge; and the supervisor */
    assert_int_equal (json_array_size (procs), 9);
    pid_t pids[10];
    size_t i;
    json_t *p;
    json_array_foreach (procs, i, p) {
        assert_true (json_is_true (json_object_get (p, "healthy")));
        pids[i] = (pid_t) json_integer_value (json_object_get (p, "pid"));
        assert_true (support_alive (pids[i]));
    }
    pids[9] = (pid_t) json_integer_value (json_object_get (doc, "supervisor"));
    pid_t victim = (pid_t) json_integer_value (json_object_get (process (doc, "tool-runner"), "pid"));
    json_decref (doc);

    assert_int_equal (kill (victim, SIGKILL), 0);
    bool back = false;
    for (int tries = 0; tries < 100 && !back; tries++) {
        usleep (100000);
        doc = status (dir, &rc);
        json_t *tr = process (doc, "tool-runner");
        back = rc == 0 && json_is_true (json_object_get (tr, "healthy"))
            && json_integer_value (json_object_get (tr, "pid")) != victim
            && json_integer_value (json_object_get (tr, "restarts")) == 1;
        if (back) {
            for (int k = 0; k < 9; k++)
                if (pids[k] == victim)
                    pids[k] = (pid_t) json_integer_value (json_object_get (tr, "pid"));
            assert_int_equal (json_integer_value (json_object_get (
                                  process (doc, "event-log"), "restarts")), 0);
        }
        json_decref (doc);
    }
    assert_true (back);

    const char *down[] = { "caisson", "down", "--data", dir, NULL };
    assert_int_equal (support_run (down, NULL, 0), 0);
    for (int k = 0; k < 10; k++)
        assert_false (support_alive (pids[k]));
    doc = status (dir, &rc);
    assert_int_equal (rc, 3);
    assert_true (json_is_false (json_object_get (doc, "running")));
    json_decref (doc);
}

static void
test_two_stacks_side_by_side (void **state)
{
    (void) state;
    const char *dirs[2] = { new_stack_dir (0, "stack-a"), new_stack_dir (1, "stack-b") };
    /* new_stack_dir left the environment on stack b's endpoints; stack a
     * needs its own. */
    char ep[600];
    for (int i = 0; i < 2; i++) {
        snprintf (ep, sizeof ep, "ipc://%s/bus", dirs[i]);
        setenv ("CAISSON_BUS", ep, 1);
        snprintf (ep, sizeof ep, "ipc://%s/events-in", dirs[i]);
        setenv ("CAISSON_BUS_PUB", ep, 1);
        snprintf (ep, sizeof ep, "ipc://%s/events-out", dirs[i]);
        setenv ("CAISSON_BUS_SUB", ep, 1);
        const char *up[] = { "caisson", "up", "--detach", "--data", dirs[i], NULL };
        assert_int_equal (support_run (up, NULL, 0), 0);
    }
    /* Client commands find each stack from its data dir alone, whatever
     * the environment says. */
    unsetenv ("CAISSON_BUS");
    int rc;
    pid_t sup[2];
    for (int i = 0; i < 2; i++) {
        json_t *doc = status (dirs[i], &rc);
        assert_int_equal (rc, 0);
        sup[i] = (pid_t) json_integer_value (json_object_get (doc, "supervisor"));
        json_decref (doc);
    }
    assert_int_not_equal (sup[0], sup[1]);

    const char *down[] = { "caisson", "down", "--data", dirs[0], NULL };
    assert_int_equal (support_run (down, NULL, 0), 0);
    assert_false (support_alive (sup[0]));
    json_t *doc = status (dirs[1], &rc);
    assert_int_equal (rc, 0);       /* the other stack is untouched */
    json_decref (doc);
}

/* A free loopback port (the kernel's choice, released at once). */
static int
free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    bind (fd, (struct sockaddr *) &a, sizeof a);
    getsockname (fd, (struct sockaddr *) &a, &len);
    close (fd);
    return ntohs (a.sin_port);
}

/* How many times what occurs in text. */
static int
count_in (const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; (p = strstr (p, what)); p += strlen (what))
        n++;
    return n;
}

/* With only GROQ_API_KEY, the default model is Groq's (it was replay/demo,
 * with the scripted model not started: every run failed with "Couldn't
 * connect to server"), `up` says so, and a run reaches Groq's URL (here a
 * scripted model standing in for Groq). MODEL=replay/... starts the
 * scripted model whatever keys are set; an unknown MODEL is refused. */
static void
test_groq_only (void **state)
{
    (void) state;
    const char *dir = new_stack_dir (0, "stack-groq");
    static const char *const keys[] = { "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY",
                                        "GOOGLE_API_KEY", "MISTRAL_API_KEY", "CEREBRAS_API_KEY",
                                        "OPENROUTER_API_KEY", "VLLM_API_KEY", "MODEL" };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        unsetenv (keys[i]);
    support_sh ("mkdir -p %s/groq && printf '%%s' '{\"task\": \"t: hello\", \"turns\": "
                "[{\"text\": \"Hello from groq.\"}]}' > %s/groq/hello.json", dir, dir);
    char port_env[64], dir_env[600], url[96], own[64];
    int port = free_port ();
    snprintf (port_env, sizeof port_env, "CAISSON_LLM_REPLAY_PORT=%d", port);
    snprintf (dir_env, sizeof dir_env, "CAISSON_LLM_REPLAY_DIR=%s/groq", dir);
    const char *env[] = { port_env, dir_env, NULL };
    pid_t groq = support_spawn ("caisson-llm-replay", env);
    snprintf (url, sizeof url, "http://127.0.0.1:%d/v1", port);
    setenv ("GROQ_BASE_URL", url, 1);
    setenv ("GROQ_API_KEY", "gsk-test", 1);
    /* the stack's own scripted model, should it start one, elsewhere */
    snprintf (own, sizeof own, "%d", free_port ());
    setenv ("CAISSON_LLM_REPLAY_PORT", own, 1);
    snprintf (url, sizeof url, "http://127.0.0.1:%s/v1", own);
    setenv ("CAISSON_LLM_REPLAY_URL", url, 1);

    const char *up[] = { "caisson", "up", "--detach", "--data", dir, NULL };
    static char out[16384];
    assert_int_equal (support_run (up, out, sizeof out), 0);
    if (!strstr (out, "  models   provider keys: groq; default model: "
                      "groq/llama-3.3-70b-versatile (groq's, the first provider with a key)\n"))
        fail_msg ("up did not say the model set-up:\n%s", out);
    assert_null (strstr (out, "NO MODEL PROVIDER KEY"));
    const char *run[] = { "caisson", "run", "t: hello", NULL };
    int rc = support_run (run, out, sizeof out);
    if (rc != 0 || !strstr (out, "Hello from groq."))
        fail_msg ("caisson run exited %d:\n%s", rc, out);
    char log[700];
    snprintf (log, sizeof log, "%s/log/orchestrator.log", dir);
    FILE *f = fopen (log, "r");
    assert_non_null (f);
    size_t n = fread (out, 1, sizeof out - 1, f);
    out[n] = '\0';
    fclose (f);
    assert_non_null (strstr (out, "models: provider keys: groq; default model: "
                                  "groq/llama-3.3-70b-versatile (groq's, the first provider "
                                  "with a key)\""));
    assert_null (strstr (out, "gsk-test"));                     /* names, never keys */
    assert_int_equal (count_in (out, "default model"), 1);     /* one line says it */
    const char *down[] = { "caisson", "down", "--data", dir, NULL };
    assert_int_equal (support_run (down, NULL, 0), 0);
    assert_int_equal (support_stop (groq, SIGTERM, 5000), 0);

    /* MODEL names the scripted model: it is started, keys or not */
    setenv ("MODEL", "replay/demo", 1);
    assert_int_equal (support_run (up, out, sizeof out), 0);
    assert_non_null (strstr (out, "provider keys: groq; default model: replay/demo (set by "
                                  "MODEL)\n"));
    run[2] = "hello";
    rc = support_run (run, out, sizeof out);
    if (rc != 0 || !strstr (out, "only knows its demo tasks"))
        fail_msg ("caisson run on the scripted model exited %d:\n%s", rc, out);
    assert_int_equal (support_run (down, NULL, 0), 0);
    /* the orchestrator said it once per start, truly: a key is set */
    f = fopen (log, "r");
    assert_non_null (f);
    n = fread (out, 1, sizeof out - 1, f);
    out[n] = '\0';
    fclose (f);
    assert_int_equal (count_in (out, "default model"), 2);
    assert_non_null (strstr (out, "default model: replay/demo (set by MODEL)\""));
    assert_null (strstr (out, "no provider key"));

    /* an unknown default is refused, naming it, by up and the orchestrator */
    static const char *const bad[] = { "nosuch/model", "openai", "groq/" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char said[700], quoted[64];
        snprintf (said, sizeof said, "%s/said", dir);
        setenv ("MODEL", bad[i], 1);
        support_sh ("%s/caisson up --detach --data %s 2> %s; test $? = 2", CAISSON_BIN_DIR, dir,
                    said);
        support_sh ("%s/caisson-orchestrator 2>> %s; test $? = 2", CAISSON_BIN_DIR, said);
        f = fopen (said, "r");
        assert_non_null (f);
        n = fread (out, 1, sizeof out - 1, f);
        out[n] = '\0';
        fclose (f);
        snprintf (quoted, sizeof quoted, "MODEL '%s' names no known provider", bad[i]);
        assert_int_equal (count_in (out, quoted), 2);
    }

    setenv ("MODEL", "nosuch/model", 1);
    assert_int_equal (support_run (up, out, sizeof out), 2);   /* refused, said on stderr */
    const char *orch[] = { "caisson-orchestrator", NULL };
    assert_int_equal (support_run (orch, NULL, 0), 2);         /* refused at its start too */
    json_t *doc = status (dir, &rc);
    assert_int_equal (rc, 3);                                   /* nothing started */
    json_decref (doc);
    unsetenv ("MODEL");
    unsetenv ("GROQ_API_KEY");
    unsetenv ("GROQ_BASE_URL");
}

/* Whether process pid's environment holds needle. */
static bool
environ_has (pid_t pid, const char *needle)
{
    char path[64];
    snprintf (path, sizeof path, "/proc/%d/environ", (int) pid);
    FILE *f = fopen (path, "r");
    assert_non_null (f);
    static char buf[1 << 20];
    size_t n = fread (buf, 1, sizeof buf, f);
    fclose (f);
    return memmem (buf, n, needle, strlen (needle)) != NULL;
}

/* One `up` with provider keys set: which of the stack's processes hold
 * them (gateway is the one that must; orchestrator while via_gateway is
 * 0). */
static void
check_key_holders (int via_gateway)
{
    const char *dir = new_stack_dir (0, "keys");
    char key[64], orch[8];
    snprintf (key, sizeof key, "sk-caisson-stack-%d", (int) getpid ());
    snprintf (orch, sizeof orch, "%d", via_gateway);
    setenv ("OPENAI_API_KEY", key, 1);
    setenv ("GROQ_API_KEY", key, 1);
    setenv ("CAISSON_GATEWAY_ORCHESTRATOR", orch, 1);
    const char *up[] = { "caisson", "up", "--detach", "--data", dir, NULL };
    assert_int_equal (support_run (up, NULL, 0), 0);
    int rc;
    json_t *doc = status (dir, &rc);
    assert_int_equal (rc, 0);
    size_t i;
    json_t *p;
    json_array_foreach (json_object_get (doc, "processes"), i, p) {
        const char *name = json_string_value (json_object_get (p, "name"));
        pid_t pid = (pid_t) json_integer_value (json_object_get (p, "pid"));
        bool want = !strcmp (name, "gateway") || (!strcmp (name, "orchestrator") && !via_gateway);
        if (environ_has (pid, key) != want)
            fail_msg ("%s %s the provider key (CAISSON_GATEWAY_ORCHESTRATOR=%d)", name,
                      want ? "lacks" : "holds", via_gateway);
    }
    json_decref (doc);
    const char *down[] = { "caisson", "down", "--data", dir, NULL };
    assert_int_equal (support_run (down, NULL, 0), 0);
    s_dirs[0][0] = '\0';
    unsetenv ("OPENAI_API_KEY");
    unsetenv ("GROQ_API_KEY");
    unsetenv ("CAISSON_GATEWAY_ORCHESTRATOR");
}

/* `caisson up` hands the provider keys to the gateway (and to the
 * orchestrator while its calls go straight to providers), to no other
 * process: before issue 16 every child inherited them. */
static void
test_provider_keys_held_by_gateway (void **state)
{
    (void) state;
    check_key_holders (0);
    check_key_holders (1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_help_and_version),
        cmocka_unit_test_teardown (test_up_kill_restart_down, teardown),
        cmocka_unit_test_teardown (test_provider_keys_held_by_gateway, teardown),
        cmocka_unit_test_teardown (test_two_stacks_side_by_side, teardown),
        cmocka_unit_test_teardown (test_groq_only, teardown),
    };
    return support_run_group_tests (tests, NULL, NULL);
}
