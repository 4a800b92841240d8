/* caisson: the one command a user touches. `up` starts and supervises a
 * stack, `down` stops it, `status` shows it, `tap`, `runs`, `show`,
 * `artifact` and `stats` read event-log (cmd_events.c).
 * Client commands find a running stack through its data directory (see
 * stack.h), so two stacks with different data dirs and endpoints run side
 * by side. */
#define _GNU_SOURCE /* pipe2 */
#include "xalloc.h"
#include "bus_client.h"
#include "cmd_sandbox.h"
#include "cfg.h"
#include "cmd_events.h"
#include "cmd_threads.h"
#include "cmd_memory.h"
#include "cmd_profile.h"
#include "clog.h"
#include "cmd_token.h"
#include "cmd_key.h"
#include "cmd_mcp.h"
#include "cmd_tool.h"
#include "cmd_run.h"
#include "cmd_eval.h"
#include "keys.h"
#include "llm_provider.h"
#include "probe.h"
#include "stack.h"
#include "supervisor.h"
#include "svc.h"
#include "tokens.h"

#include <czmq.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *usage =
    "caisson COMMAND [options]\n\n"
    "  up [--detach] [--data DIR]   start the stack and supervise it (Ctrl-C stops it)\n"
    "  down [--data DIR]            stop the stack started for DIR\n"
    "  status [--json] [--data DIR] each process: pid, health, uptime, restarts\n"
    "  tap [--run ID] [--topic PREFIX] [--from SEQ] [--count N] [--json] [--data DIR]\n"
    "                               print live events (stored history first with --from)\n"
    "  runs [--json]                list runs, newest first\n"
    "  show RUN [--json|--markdown] a run's transcript (JSON Lines or Markdown)\n"
    "  artifact HASH > FILE         download an artifact\n"
    "  threads [--json]             your conversation threads, latest activity first\n"
    "  thread new|show|rename|rm ...\n"
    "                               a thread: make one, read it, title it, delete it\n"
    "                               (with its runs; rm asks y/N unless --yes)\n"
    "  stats [--json]               pass rate, tokens, runtime, steps, failure causes\n"
    "  health TARGET [--data DIR]   ask `bus`, a service, or service.instance for\n"
    "                               its health; exit 0 when it answers\n"
    "  keys [--data DIR]            make the bus's missing CURVE keys (up does too)\n"
    "  token create --user NAME [--operator] [--expires 30d] [--data DIR]\n"
    "                               print a new API bearer token for NAME\n"
    "  token list [--json]          tokens: id, user, role, created, expires, last use\n"
    "  token revoke ID              remove a token; a running ui-bridge refuses it at once\n"
    "  key create|list|revoke|usage|budget  model gateway keys (vk_...), budgets and usage\n"
    "                               (`caisson key` alone for its options)\n"
    "  tool list|call ...           the agent's tools: list them, or call one\n"
    "  prs, pr ID                   the local forge's pull requests\n"
    "  mcp list [--json]            MCP servers whose tools the agent gets: state, tools\n"
    "  mcp set FILE|- | get | clear your own mcp.json (MCP servers for your runs)\n"
    "  run [--model M] [--profile NAME[@V]] [--thread T] [--json] \"TASK\"\n"
    "                               run an agent task, streaming it; exit 0 when completed\n"
    "  memory show|edit|set|clear [--thread T] [--json] [TEXT|-]\n"
    "                               the working memory: print, edit in $EDITOR, set, empty\n"
    "  profile list|show NAME[@V]|create NAME --file F [--note T]|diff NAME A B|\n"
    "          activate NAME V [--canary PCT]|rollback NAME  [--json]\n"
    "                               versioned profiles: prompt, tools, budgets, checks, model\n"
    "  approve|decline RUN CALL [--reason R]\n"
    "                               answer a run awaiting approval\n"
    "  eval run|list|show|report|export ...\n"
    "                               run a golden set through the stack and score it; read,\n"
    "                               compare and export the results (`caisson eval` for usage)\n"
    "  sandbox create|ls|info|exec|write|read|rm|pause|resume|net ...\n"
    "                               sandboxes (`caisson sandbox` for its usage)\n\n"
    "DIR defaults to $CAISSON_DATA, else ./var. Client commands act as an operator\n"
    "(whoever runs the CLI reaches the bus, which holds the stack's operator key) on\n"
    "behalf of --user NAME, default $USER, else `cli`: runs and sandboxes they make\n"
    "are NAME's.";

typedef struct {
    const char *command;
    char data[PATH_MAX];
    bool detach;
    bool json;
    const char *prefix;
} args_t;

static int
parse (int argc, char **argv, args_t *a)
{
    a->command = argc > 1 ? argv[1] : "";
    const char *data = cfg_str ("CAISSON_DATA");
    a->prefix = "";
    for (int i = 2; i < argc; i++) {
        if (!strcmp (argv[i], "--data") && i + 1 < argc)
            data = argv[++i];
        else if (!strcmp (argv[i], "--detach"))
            a->detach = true;
        else if (!strcmp (argv[i], "--json"))
            a->json = true;
        else if (!strcmp (a->command, "health") && argv[i][0] != '-')
            a->prefix = argv[i];
        else {
            fprintf (stderr, "caisson: unexpected argument '%s' (try --help)\n", argv[i]);
            return -1;
        }
    }
    return stack_prepare (data, a->data, sizeof a->data);
}

static void
bin_dir (char *out, size_t outlen)
{
    ssize_t n = readlink ("/proc/self/exe", out, outlen - 1);
    out[n > 0 ? n : 0] = '\0';
    char *slash = strrchr (out, '/');
    if (slash)
        *slash = '\0';
}

/* ---- up ----------------------------------------------------------------- */

/* The model set-up, for the person starting the stack: which providers
 * have keys (names only) and the default model. */
static void
models_note (char *out, size_t outlen)
{
    char *models = llm_provider_summary ();
    snprintf (out, outlen, "  models   %s\n", models ? models : "?");
    free (models);
}

/* Runs the supervisor in this process. ready, when not -1, is a pipe to
 * the `up --detach` parent, told one line once the stack is healthy or
 * has failed to become so. */
static int
run_stack (const args_t *a, int ready)
{
    char bindir[PATH_MAX], what[64], line[PATH_MAX + 256];
    bin_dir (bindir, sizeof bindir);
    setenv ("CAISSON_DATA", a->data, 1);   /* children see the absolute path */
    stack_write_pid (a->data, getpid ());
    stack_write_endpoints (a->data);
    stack_allow_eval_repos (a->data);   /* `caisson eval`'s pull-request tasks */
    supervisor_t *sup = supervisor_new (a->data, bindir);
    int64_t took = 0;
    int status = 1;
    if (!sup || supervisor_start (sup))
        snprintf (line, sizeof line, "fail cannot start processes\n");
    else if (supervisor_wait_healthy (sup, (int) cfg_u64 ("CAISSON_HEALTH_TIMEOUT_MS"), &took,
                                      what, sizeof what))
        snprintf (line, sizeof line, "fail %s did not report healthy; see %s/log/%s.log\n",
                  what, a->data, what);
    else {
        snprintf (line, sizeof line, "ok %lld\n", (long long) took);
        status = 0;
    }
    if (ready >= 0) {
        /* Detached: the terminal is gone, so the log keeps the outcome. */
        clog_info (NULL, "stack start: %.*s", (int) strcspn (line, "\n"), line);
        ssize_t w = write (ready, line, strlen (line));
        (void) w;
        close (ready);
    }
    else if (status == 0) {
        char note[512] = "", models[512];
        cmd_token_local (a->data, note, sizeof note);
        models_note (models, sizeof models);
        printf ("caisson: %d processes healthy in %lld ms\n%s%s"
                "  data     %s\n  logs     %s/log/*.log\n  bus      %s\n  events   %s"
                "  (watch: caisson tap --data %s)\n  stop     Ctrl-C, or caisson down --data %s\n",
                SUPERVISOR_PROCS, (long long) took, note, models, a->data, a->data,
                cfg_str ("CAISSON_BUS"), cfg_str ("CAISSON_BUS_SUB"), a->data, a->data);
    }
    if (ready < 0 && status == 0 && supervisor_offline_notice ())
        fprintf (stderr, "%s", supervisor_offline_notice ());
    else if (status != 0 && ready < 0)
        fprintf (stderr, "caisson: %s", line + 5);
    fflush (stdout);
    if (status == 0)
        supervisor_run (sup);
    if (sup)
        supervisor_stop_all (sup);
    supervisor_destroy (&sup);
    stack_clear (a->data);
    if (ready < 0 && status == 0)
        printf ("caisson: stopped\n");
    return status;
}

static int
cmd_up (const args_t *a)
{
    pid_t running = stack_supervisor (a->data);
    if (running) {
        fprintf (stderr, "caisson: a stack is already running for %s (pid %d)\n", a->data,
                 (int) running);
        return 1;
    }
    char why[512];
    if (llm_provider_check_default (why, sizeof why)) {
        fprintf (stderr, "caisson: %s\n", why);
        return 2;
    }
    if (stack_check_owner (a->data) || keys_prepare (a->data))
        return 1;
    stack_tighten (a->data);
    if (!a->detach)
        return run_stack (a, -1);

    int fds[2];
    /* Close-on-exec, so the services the supervisor starts (and their
     * sandboxes) never hold the write end. */
    if (pipe2 (fds, O_CLOEXEC))
        return 1;
    pid_t pid = fork ();
    if (pid == 0) {
        close (fds[0]);
        setsid ();
        char log[PATH_MAX + 32];
        snprintf (log, sizeof log, "%s/log/caisson.log", a->data);
        if (!freopen ("/dev/null", "r", stdin) || !freopen (log, "a", stdout)
            || !freopen (log, "a", stderr))
            _exit (1);
        _exit (run_stack (a, fds[1]));
    }
    close (fds[1]);
    char line[PATH_MAX + 256] = "";
    ssize_t n = read (fds[0], line, sizeof line - 1);
    close (fds[0]);
    line[n > 0 ? n : 0] = '\0';
    if (strncmp (line, "ok ", 3) != 0) {
        fprintf (stderr, "caisson: %s", n > 5 ? line + 5 : "the supervisor died; see log/caisson.log\n");
        waitpid (pid, NULL, 0);
        return 1;
    }
    char note[512] = "", models[512];
    cmd_token_local (a->data, note, sizeof note);
    models_note (models, sizeof models);
    printf ("caisson: %d processes healthy in %s ms (supervisor pid %d)\n%s%s"
            "  data %s, logs %s/log; stop with: caisson down --data %s\n",
            SUPERVISOR_PROCS, strtok (line + 3, "\n"), (int) pid, note, models, a->data, a->data,
            a->data);
    if (supervisor_offline_notice ())
        fprintf (stderr, "%s", supervisor_offline_notice ());
    return 0;
}

/* ---- down --------------------------------------------------------------- */

static int
cmd_down (const args_t *a)
{
    pid_t sup = stack_supervisor (a->data);
    stack_proc_t procs[STACK_MAX_PROCS];
    int n = stack_read_procs (a->data, procs, STACK_MAX_PROCS);
    if (!sup && n <= 0) {
        /* Sandboxes of a stack that crashed outright are still ours to end. */
        int boxes = stack_kill_sandboxes (a->data);
        if (boxes > 0)
            printf ("caisson: stopped %d sandbox(es) left behind in %s\n", boxes, a->data);
        else
            printf ("caisson: nothing running for %s\n", a->data);
        return 0;
    }
    if (sup) {
        kill (sup, SIGTERM);
        for (int waited = 0; stack_is_ours (sup) && waited < 15000; waited += 20)
            usleep (20000);
    }
    /* A supervisor that was killed outright leaves its children to their
     * death signal; make sure of them. */
    for (int i = 0; i < n; i++)
        if (stack_is_ours (procs[i].pid))
            kill (procs[i].pid, SIGKILL);
    if (sup && stack_is_ours (sup))
        kill (sup, SIGKILL);
    stack_kill_sandboxes (a->data);
    stack_clear (a->data);
    printf ("caisson: stopped the stack in %s\n", a->data);
    return 0;
}

/* ---- status ------------------------------------------------------------- */

static int
cmd_status (const args_t *a)
{
    pid_t sup = stack_supervisor (a->data);
    stack_proc_t procs[STACK_MAX_PROCS];
    int n = sup ? stack_read_procs (a->data, procs, STACK_MAX_PROCS) : -1;
    if (n < 0) {
        if (a->json)
            printf ("{\"data\":\"%s\",\"running\":false,\"processes\":[]}\n", a->data);
        else
            printf ("caisson: no stack running for %s\n", a->data);
        return 3;
    }
    stack_load_endpoints (a->data);
    bus_client_t *client = bus_client_new (cfg_str ("CAISSON_BUS"));
    int unhealthy = 0;
    if (a->json)
        printf ("{\"data\":\"%s\",\"running\":true,\"supervisor\":%d,\"processes\":[", a->data,
                (int) sup);
    else
        printf ("%-16s %8s  %-8s %-8s %10s %8s\n", "PROCESS", "PID", "INSTANCE", "HEALTH",
                "UPTIME", "RESTARTS");
    for (int i = 0; i < n; i++) {
        proto_msg_t *rep = client && procs[i].pid
                             ? probe_health (client, procs[i].name, procs[i].instance, 500)
                             : NULL;
        bool ok = rep && rep->body.health_rep.pid == (uint64_t) procs[i].pid;
        uint64_t up = ok ? rep->body.health_rep.uptime_ms : 0;
        unhealthy += !ok;
        if (a->json)
            printf ("%s{\"name\":\"%s\",\"pid\":%d,\"instance\":\"%s\",\"healthy\":%s,"
                    "\"uptime_ms\":%llu,\"restarts\":%u,\"version\":\"%s\"}",
                    i ? "," : "", procs[i].name, (int) procs[i].pid, procs[i].instance,
                    ok ? "true" : "false", (unsigned long long) up, procs[i].restarts,
                    ok ? rep->body.health_rep.version : "");
        else
            printf ("%-16s %8d  %-8s %-8s %9.1fs %8u\n", procs[i].name, (int) procs[i].pid,
                    procs[i].instance, ok ? "healthy" : "DOWN", (double) up / 1000.0,
                    procs[i].restarts);
        proto_msg_destroy (&rep);
    }
    if (a->json)
        printf ("]}\n");
    bus_client_destroy (&client);
    return unhealthy ? 1 : 0;
}

/* ---- health ------------------------------------------------------------- */

static int
cmd_health (const args_t *a)
{
    if (!*a->prefix) {
        fprintf (stderr, "caisson: health needs a target (bus, a service, or service.instance)\n");
        return 2;
    }
    stack_load_endpoints (a->data);
    bus_client_t *client = bus_client_new (cfg_str ("CAISSON_BUS"));
    proto_msg_t *req = proto_msg_new (PROTO_health_req, NULL);
    proto_msg_t *rep = NULL;
    if (client && req) {
        bus_client_set_timeout (client, 1000, 1);
        rep = bus_client_request (client, a->prefix, req);
    }
    int status = 1;
    if (rep && rep->type != PROTO_error) {
        const proto_health_rep_t *h = &rep->body.health_rep;
        printf ("{\"service\":\"%s\",\"instance\":\"%s\",\"version\":\"%s\","
                "\"pid\":%llu,\"uptime_ms\":%llu}\n", h->service, h->instance, h->version,
                (unsigned long long) h->pid, (unsigned long long) h->uptime_ms);
        status = 0;
    }
    else
        fprintf (stderr, "caisson: %s did not answer health at %s\n", a->prefix,
                 cfg_str ("CAISSON_BUS"));
    proto_msg_destroy (&rep);
    proto_msg_destroy (&req);
    bus_client_destroy (&client);
    return status;
}

/* Takes `--user NAME` out of argv (every command but `token`, whose
 * --user names the token's user) and makes it the identity of every
 * request: NAME (default $USER, else `cli`) as an operator, since the
 * CLI holds the stack's operator key. Returns 0, or -1 on a bad name. */
static int
cli_identity (int *argc, char **argv)
{
    const char *env = getenv ("USER");
    const char *user = env && tokens_valid_user (env) ? env : "cli";
    for (int i = 2; i < *argc; i++) {
        if (strcmp (argv[i], "--user"))
            continue;
        if (i + 1 >= *argc || !tokens_valid_user (argv[i + 1])) {
            fprintf (stderr, "caisson: --user needs 1 to %d of [A-Za-z0-9._@-]\n",
                     TOKENS_USER_MAX);
            return -1;
        }
        user = argv[i + 1];
        memmove (&argv[i], &argv[i + 2], (size_t) (*argc - i - 1) * sizeof *argv);
        *argc -= 2;
        break;
    }
    proto_set_identity (user, true);
    return 0;
}

/* What a client command needs before it talks to the bus: the message
 * limits, czmq without its own log lines, and our log named `caisson`. */
static void
cli_init (void)
{
    proto_limits_load ();
    zsys_init ();
    zsys_set_logstream (NULL);
    clog_init ("caisson", "");
}

int
main (int argc, char **argv)
{
    /* Whatever the stack writes (data, logs, stores, tokens) is the
     * service user's alone. */
    umask (077);
    xalloc_install ();
    if (argc > 1 && (!strcmp (argv[1], "--help") || !strcmp (argv[1], "-h"))) {
        svc_usage ("caisson", "start, stop and watch a Caisson stack", usage);
        return 0;
    }
    if (argc > 1 && !strcmp (argv[1], "--version")) {
        printf ("caisson %s\n", CAISSON_VERSION);
        return 0;
    }
    char err[256];
    if (cfg_check (err, sizeof err)) {
        fprintf (stderr, "caisson: %s\n", err);
        return 2;
    }
    if (argc > 1 && !strcmp (argv[1], "token"))
        return cmd_token (argc, argv);
    if (argc > 1 && !strcmp (argv[1], "key"))   /* its --user names whose key */
        return cmd_key (argc, argv);
    if (cli_identity (&argc, argv))
        return 2;
    if (argc > 1 && cmd_events_is (argv[1])) {
        cli_init ();
        return cmd_events_main (argc, argv);
    }
    if (argc > 1 && cmd_threads_is (argv[1])) {
        cli_init ();
        return cmd_threads_main (argc, argv);
    }
    if (argc > 1 && cmd_mcp_is (argv[1])) {
        cli_init ();
        return cmd_mcp_main (argc, argv);
    }
    if (argc > 1 && cmd_profile_is (argv[1])) {
        cli_init ();
        return cmd_profile_main (argc, argv);
    }
    if (argc > 1 && cmd_eval_is (argv[1])) {
        cli_init ();
        return cmd_eval_main (argc, argv);
    }
    if (argc > 1 && !strcmp (argv[1], "memory")) {
        cli_init ();
        return cmd_memory_main (argc, argv);
    }
    bool tool = argc > 1 && (!strcmp (argv[1], "tool") || !strcmp (argv[1], "prs")
                             || !strcmp (argv[1], "pr"));
    if (tool || (argc > 1 && cmd_run_handles (argv[1]))) {
        cli_init ();
        return tool ? cmd_tool_main (argc, argv) : cmd_run_main (argc, argv);
    }
    if (argc > 1 && !strcmp (argv[1], "sandbox")) {
        proto_limits_load ();
        return cmd_sandbox (argc - 2, argv + 2);
    }
    args_t a = { 0 };
    if (argc < 2 || parse (argc, argv, &a)) {
        fprintf (stderr, "usage: %s\n", usage);
        return 2;
    }
    cli_init ();
    if (!strcmp (a.command, "up"))
        return cmd_up (&a);
    if (!strcmp (a.command, "down"))
        return cmd_down (&a);
    if (!strcmp (a.command, "status"))
        return cmd_status (&a);
    if (!strcmp (a.command, "health"))
        return cmd_health (&a);
    if (!strcmp (a.command, "keys"))
        return cmd_keys (a.data);
    fprintf (stderr, "caisson: unknown command '%s'\nusage: %s\n", a.command, usage);
    return 2;
}
