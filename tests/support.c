/* support: shared test helpers. See support.h. */
#define _GNU_SOURCE     /* nftw beside usleep */
#include "support.h"
#include "buskey.h"
#include "cid.h"
#include "mpjson.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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
#include <time.h>
#include <unistd.h>

static char s_dir[512];
static pid_t s_owner;
static char *s_made[32];        /* every directory made, for the sweep */
static size_t s_nmade;

static int
remove_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st, (void) flag, (void) ftw;
    remove (path);
    return 0;
}

/* At exit: sandboxes outlive their manager by design (so a restart keeps
 * them) but must not outlive the test, so `caisson down` ends those under
 * each directory the test made; then the directories go, unless
 * CAISSON_KEEP_TEST_DIRS is set (to look at a failure). */
static void
sweep (void)
{
    if (getpid () != s_owner)
        return;
    const char *keep = getenv ("CAISSON_KEEP_TEST_DIRS");
    for (size_t i = 0; i < s_nmade; i++) {
        const char *argv[] = { "caisson", "down", "--data", s_made[i], NULL };
        support_run (argv, NULL, 0);
        if (!keep || !*keep)
            nftw (s_made[i], remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        free (s_made[i]);
    }
    s_nmade = 0;
}

const char *
support_sandbox_env (const char *name)
{
    const char *tmp = getenv ("TMPDIR");
    snprintf (s_dir, sizeof s_dir, "%s/caisson-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
    if (!mkdtemp (s_dir))
        return NULL;
    char ep[600];
    snprintf (ep, sizeof ep, "ipc://%s/bus", s_dir);
    setenv ("CAISSON_BUS", ep, 1);
    snprintf (ep, sizeof ep, "ipc://%s/events-in", s_dir);
    setenv ("CAISSON_BUS_PUB", ep, 1);
    snprintf (ep, sizeof ep, "ipc://%s/events-out", s_dir);
    setenv ("CAISSON_BUS_SUB", ep, 1);
    setenv ("CAISSON_DATA", s_dir, 1);
    /* Every test's bus is CURVE, as a stack's is: the keys the services
     * and the test (as `client`) use, made once per directory. */
    unsetenv ("CAISSON_BUS_KEYS");
    char kdir[600], err[700];
    snprintf (kdir, sizeof kdir, "%s/keys", s_dir);
    if (buskey_create (kdir, err, sizeof err)) {
        fprintf (stderr, "support: %s\n", err);
        return NULL;
    }
    if (!s_owner)
        atexit (sweep);
    s_owner = getpid ();
    if (s_nmade < sizeof s_made / sizeof s_made[0])
        s_made[s_nmade++] = strdup (s_dir);
    /* Host uids of their own for this test's sandboxes: stacks side by side
     * never share one (RLIMIT_NPROC counts a uid's processes host-wide, so
     * one test's fork bomb starved another's sandbox of forks), and a test
     * lending a range to a made-up local user (/etc/subuid) stops only its
     * own managers. Above the default 1100000, clear of useradd's subuids. */
    char base[32];
    snprintf (base, sizeof base, "%llu", 1100000ull + 65536ull * (1 + (unsigned) getpid () % 128));
    setenv ("CAISSON_SANDBOX_UID_BASE", base, 1);
    /* Any free port: stacks side by side, and other tests, never collide. */
    setenv ("CAISSON_HTTP", "127.0.0.1:0", 1);
    setenv ("CAISSON_GATEWAY_HTTP", "127.0.0.1:0", 1);   /* `caisson up` picks one */
    return s_dir;
}

pid_t
support_spawn_args (const char *program, const char *const args[],
                    const char *const extra_env[])
{
    pid_t pid = fork ();
    if (pid != 0)
        return pid;
    prctl (PR_SET_PDEATHSIG, SIGKILL);     /* a failed test leaves no orphan */
    for (int i = 0; extra_env && extra_env[i]; i++)
        putenv ((char *) extra_env[i]);
    char path[1024], log[1024];
    snprintf (path, sizeof path, "%s/%s", CAISSON_BIN_DIR, program);
    snprintf (log, sizeof log, "%s/%s.log", s_dir[0] ? s_dir : "/tmp", program);
    int fd = open (log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
        dup2 (fd, STDERR_FILENO);
        close (fd);
    }
    char *argv[32] = { path };
    for (int i = 0; args && args[i]; i++) {
        if (i + 2 >= 32)
            _exit (126);
        argv[i + 1] = (char *) args[i];
    }
    execv (path, argv);
    _exit (127);
}

pid_t
support_spawn (const char *program, const char *const extra_env[])
{
    return support_spawn_args (program, NULL, extra_env);
}

pid_t
support_spawn_llm_replay (int port, const char *dir, const char *key)
{
    char port_env[64], dir_env[1100], key_env[600];
    snprintf (port_env, sizeof port_env, "CAISSON_LLM_REPLAY_PORT=%d", port);
    snprintf (dir_env, sizeof dir_env, "CAISSON_LLM_REPLAY_DIR=%s", dir);
    snprintf (key_env, sizeof key_env, "CAISSON_LLM_REPLAY_KEY=%s", key ? key : "");
    const char *env[] = { port_env, dir_env, key ? key_env : NULL, NULL };
    return support_spawn ("caisson-llm-replay", env);
}

pid_t
support_spawn_self (const char *const argv[])
{
    pid_t pid = fork ();
    if (pid == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        execv (argv[0], (char *const *) argv);
        _exit (127);
    }
    return pid;
}

int
support_stop (pid_t pid, int sig, int timeout_ms)
{
    int status = 0;
    kill (pid, sig);
    for (int waited = 0; waited < timeout_ms; waited += 10) {
        if (waitpid (pid, &status, WNOHANG) == pid)
            return status;
        usleep (10000);
    }
    kill (pid, SIGKILL);
    waitpid (pid, &status, 0);
    return status;
}

void
support_expect_clean_exit (pid_t pid)
{
    /* generous: a sanitized build on a loaded 2-core machine is slow to
     * wind down; a process that hangs still overruns it */
    int status = support_stop (pid, SIGTERM, 15000);
    if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
        fail_msg ("pid %d did not exit cleanly (wait status 0x%x)", (int) pid, status);
}

int
support_run (const char *const argv[], char *out, size_t outlen)
{
    int fds[2];
    if (pipe (fds))
        return -1;
    pid_t pid = fork ();
    if (pid == 0) {
        dup2 (fds[1], STDOUT_FILENO);
        close (fds[0]);
        close (fds[1]);
        char path[1024];
        snprintf (path, sizeof path, "%s/%s", CAISSON_BIN_DIR, argv[0]);
        execv (path, (char *const *) argv);
        _exit (127);
    }
    close (fds[1]);
    size_t used = 0;
    char buf[4096];
    ssize_t n;
    while ((n = read (fds[0], buf, sizeof buf)) > 0)
        if (out && used + 1 < outlen) {
            size_t take = (size_t) n < outlen - 1 - used ? (size_t) n : outlen - 1 - used;
            memcpy (out + used, buf, take);
            used += take;
        }
    if (out && outlen)
        out[used] = '\0';
    close (fds[0]);
    int status;
    waitpid (pid, &status, 0);
    return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

int
support_run_node (const char *const args[])
{
    pid_t pid = fork ();
    if (pid == 0) {
        if (chdir (CAISSON_SOURCE_DIR "/tests/agui"))
            _exit (126);
        execvp ("node", (char *const *) args);
        _exit (127);
    }
    int status;
    waitpid (pid, &status, 0);
    return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

bool
support_alive (pid_t pid)
{
    char path[64], state = 0;
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *f = fopen (path, "r");
    if (!f)
        return false;
    int rc = fscanf (f, "%*d %*s %c", &state);
    fclose (f);
    return rc == 1 && state != 'Z' && state != 'X';
}

static CMFixtureFunction s_teardown;
static bool s_teardown_ok;

/* A teardown that fails with fail_msg jumps out of here, never setting
 * s_teardown_ok. */
static int
checked_teardown (void **state)
{
    int rc = s_teardown (state);
    s_teardown_ok = rc == 0;
    return rc;
}

int
support_run_group (const char *name, const struct CMUnitTest *tests, size_t count,
                   CMFixtureFunction setup, CMFixtureFunction teardown)
{
    const char *only = getenv ("CAISSON_TEST_FILTER");
    if (only && *only)
        cmocka_set_test_filter (only);
    s_teardown = teardown;
    s_teardown_ok = !teardown;
    int failed = _cmocka_run_group_tests (name, tests, count, setup,
                                          teardown ? checked_teardown : NULL);
    if (!s_teardown_ok) {
        fprintf (stderr, "%s: the group teardown failed (see above)\n", name);
        return failed + 1;
    }
    return failed;
}

int
support_serve (const char *service, const char *instance, bus_handler_fn *handler, void *arg)
{
    zsys_init ();
    zsys_set_logstream (NULL);
    zloop_t *loop = zloop_new ();
    bus_worker_t *w = bus_worker_new (getenv ("CAISSON_BUS"), service, instance, "test",
                                      handler, arg);
    if (!w || bus_worker_start (w, loop))
        return 1;
    zloop_start (loop);
    bus_worker_destroy (&w);
    zloop_destroy (&loop);
    return 0;
}

void
support_sh (const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (cmd, sizeof cmd, fmt, ap);
    va_end (ap);
    if (system (cmd) != 0)
        fail_msg ("failed: %s", cmd);
}

void
support_await_service (bus_client_t *c, const char *service)
{
    proto_msg_t *req = proto_msg_new (PROTO_health_req, NULL);
    bus_client_set_timeout (c, 200, 0);
    for (int i = 0; i < 200; i++) {
        proto_msg_t *rep = bus_client_request (c, service, req);
        bool up = rep && rep->type == PROTO_health_rep;
        proto_msg_destroy (&rep);
        if (up) {
            proto_msg_destroy (&req);
            return;
        }
        usleep (50000);
    }
    proto_msg_destroy (&req);
    fail_msg ("%s never answered", service);
}

json_t *
support_tools_result (proto_msg_t *rep, const char *name, bool *ok)
{
    assert_non_null (rep);
    if (rep->type != PROTO_tools_result)
        fail_msg ("%s answered %s: %s", name, proto_type_name (rep->type),
                  rep->type == PROTO_error ? rep->body.error.message : "");
    char why[128];
    json_t *result = mpjson_decode (rep->body.tools_result.result.data,
                                    rep->body.tools_result.result.size, 32, why, sizeof why);
    *ok = rep->body.tools_result.ok;
    proto_msg_destroy (&rep);
    assert_non_null (result);
    return result;
}

json_t *
support_tools_expect (json_t *r, const char *name, bool ok, bool expect_ok)
{
    if (ok != expect_ok) {
        char *text = json_dumps (r, JSON_COMPACT);
        fail_msg ("%s %s: %s", name, expect_ok ? "failed" : "succeeded", text);
    }
    return r;
}

void
support_send (bus_client_t *c, const char *service, proto_msg_t *req)
{
    uint8_t *data;
    size_t size;
    assert_int_equal (proto_encode (req, &data, &size), 0);
    assert_int_equal (bus_client_send (c, service, data, size), 0);
    free (data);
    proto_msg_destroy (&req);
}

proto_msg_t *
support_tools_call_new (const char *name, const char *call_id, bool dry, const char *args,
                        const char *limits)
{
    proto_msg_t *req = proto_msg_new (PROTO_tools_call, NULL);
    proto_tools_call_t *c = &req->body.tools_call;
    char id[CID_SIZE];
    cid_new (id);
    proto_set_str (&c->name, name);
    proto_set_str (&c->call_id, call_id ? call_id : id);
    c->dry_run = dry;
    json_t *a = json_loads (args, 0, NULL);
    assert_non_null (a);
    assert_int_equal (mpjson_set (&c->args, a, 32), 0);
    json_decref (a);
    if (limits) {
        json_t *l = json_loads (limits, 0, NULL);
        assert_int_equal (mpjson_set (&c->limits, l, 8), 0);
        json_decref (l);
    }
    return req;
}

const char *
support_json_str (const json_t *v, const char *key)
{
    const char *s = json_string_value (json_object_get (v, key));
    return s ? s : "";
}

const char *
support_json_error_code (const json_t *v)
{
    return support_json_str (json_object_get (v, "error"), "code");
}

char *
support_sbx_args (const char *sandbox, const char *fmt, ...)
{
    static char buf[17000];
    char tmp[16384];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (tmp, sizeof tmp, fmt, ap);
    va_end (ap);
    snprintf (buf, sizeof buf, "{\"sandboxId\":\"%s\"%s%s}", sandbox, *tmp ? "," : "", tmp);
    return buf;
}

/* A port below the kernel's ephemeral range (32768 and up): a port the
 * kernel handed out would be handed out again, to any test's outgoing
 * connection, before the stack that was given it binds it (or binds it
 * again after `caisson down`/`up`). */
int
support_free_port (void)
{
    static unsigned seed;
    static int given[256];          /* never the same port twice per process */
    static size_t ngiven;
    if (!seed)
        seed = (unsigned) getpid () ^ (unsigned) time (NULL);
    for (int tries = 0; tries < 1000; tries++) {
        /* cppcheck-suppress rand_rCalled ; a test's own reentrant stream */
        int port = 10000 + (int) (rand_r (&seed) % 22000);
        bool seen = false;
        for (size_t i = 0; i < ngiven && !seen; i++)
            seen = given[i] == port;
        if (seen)
            continue;
        int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port),
                                  .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
        int ok = bind (fd, (struct sockaddr *) &sa, sizeof sa) == 0;
        close (fd);
        if (ok) {
            given[ngiven++ % (sizeof given / sizeof given[0])] = port;
            return port;
        }
    }
    fail_msg ("no free port below 32000");
    return -1;
}

void
support_self_exe (char *buf, size_t size)
{
    ssize_t n = readlink ("/proc/self/exe", buf, size - 1);
    buf[n > 0 ? n : 0] = '\0';
}

void
support_stack_up (int replay_port, int http_port)
{
    static char out[1 << 17];
    char port[16], url[64], http[64];
    snprintf (port, sizeof port, "%d", replay_port);
    snprintf (url, sizeof url, "http://127.0.0.1:%d/v1", replay_port);
    snprintf (http, sizeof http, "127.0.0.1:%d", http_port);
    setenv ("CAISSON_LLM_REPLAY_PORT", port, 1);
    setenv ("CAISSON_LLM_REPLAY_URL", url, 1);
    setenv ("CAISSON_HTTP", http, 1);
    unsetenv ("MODEL");
    unsetenv ("OPENAI_API_KEY");
    unsetenv ("ANTHROPIC_API_KEY");
    const char *up[] = { "caisson", "up", "--detach", NULL };
    assert_int_equal (support_run (up, out, sizeof out), 0);
}

void
support_stack_down (void)
{
    const char *down[] = { "caisson", "down", NULL };
    assert_int_equal (support_run (down, NULL, 0), 0);
}

pid_t
support_run_in_background (const char *task, const char *path)
{
    pid_t pid = fork ();
    if (pid == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || dup2 (fd, 1) < 0)
            _exit (127);
        char bin[1024];
        snprintf (bin, sizeof bin, "%s/caisson", CAISSON_BIN_DIR);
        execl (bin, bin, "run", "--json", task, (char *) NULL);
        _exit (127);
    }
    return pid;
}

json_t *
support_await_event (const char *path, const char *kind, const char *name)
{
    for (int i = 0; i < 600; i++) {
        FILE *f = fopen (path, "r");
        char line[1 << 16];
        while (f && fgets (line, sizeof line, f)) {
            json_t *ev = json_loads (line, 0, NULL);
            const char *k = json_string_value (json_object_get (ev, "kind"));
            const char *n = json_string_value (json_object_get (json_object_get (ev, "data"),
                                                                "name"));
            if (k && !strcmp (k, kind) && (!name || (n && !strcmp (n, name)))) {
                fclose (f);
                return ev;
            }
            json_decref (ev);
        }
        if (f)
            fclose (f);
        zclock_sleep (100);
    }
    fail_msg ("no %s event within 60 s", kind);
    return NULL;
}

void
support_await_approval (const char *path, char *run, char *call, size_t len)
{
    json_t *ev = support_await_event (path, "ask_approval", NULL);
    snprintf (run, len, "%s", json_string_value (json_object_get (ev, "run")));
    snprintf (call, len, "%s", json_string_value (
              json_object_get (json_object_get (ev, "data"), "toolCallId")));
    json_decref (ev);
}

void
support_tools_allow_repos_under (const char *dir)
{
    char real[4096], allow[4200];
    assert_non_null (realpath (dir, real));
    snprintf (allow, sizeof allow, "%s/*", real);
    setenv ("CAISSON_TOOLS_REPO_ALLOW", allow, 1);
}

static pid_t s_llm_replay;

bool
support_llm_replay_up (int port, const char *dir, bool (*ready) (void))
{
    s_llm_replay = support_spawn_llm_replay (port, dir, NULL);
    return support_poll (ready);
}

bool
support_poll (bool (*ready) (void))
{
    for (int i = 0; i < 100; i++) {
        if (ready ())
            return true;
        usleep (50000);
    }
    return false;
}

int
support_llm_replay_down (void **state)
{
    (void) state;
    support_expect_clean_exit (s_llm_replay);
    return 0;
}

void
support_record_event (json_t *events, evk_kind_t kind, json_t *data)
{
    char why[256];
    assert_non_null (data);
    if (evk_check (evk_name (kind), data, why, sizeof why))
        fail_msg ("%s", why);
    json_array_append_new (events, json_pack ("{s:s, s:o}", "kind", evk_name (kind), "data",
                                              data));
}

bus_client_t *
support_client_when_up (const char *const services[])
{
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    assert_non_null (c);
    for (size_t i = 0; services[i]; i++)
        support_await_service (c, services[i]);
    bus_client_set_timeout (c, 5000, 2);
    return c;
}

int
support_replay_env (char *dir, size_t dirlen)
{
    int port = support_free_port ();
    char url[96];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/v1", port);
    setenv ("CAISSON_LLM_REPLAY_URL", url, 1);
    snprintf (dir, dirlen, "%s/tests/cassettes", CAISSON_SOURCE_DIR);
    return port;
}
