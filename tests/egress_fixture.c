/* egress_fixture: origins on 127.0.0.2, the hosts file, the package index
 * and the stack with egress-proxy, for the egress tests (see the header). */
#define _GNU_SOURCE
#include "egress_fixture.h"
#include "mpjson.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

eg_fixture_t eg;
char eg_out[1 << 16];
char eg_cmd[4096];

pid_t
eg_spawn (const char *log, const char *const argv[])
{
    char path[1200];
    snprintf (path, sizeof path, "%s/%s", getenv ("CAISSON_DATA"), log);
    pid_t pid = fork ();
    if (pid != 0)
        return pid;
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    int fd = open (path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    int null = open ("/dev/null", O_RDONLY);
    if (fd >= 0 && null >= 0) {
        dup2 (null, STDIN_FILENO);
        dup2 (fd, STDOUT_FILENO);
        dup2 (fd, STDERR_FILENO);
    }
    execvp (argv[0], (char *const *) argv);
    _exit (127);
}

void
eg_await_tcp (const char *addr, int port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    inet_pton (AF_INET, addr, &sa.sin_addr);
    for (int i = 0; i < 200; i++) {
        int s = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int rc = connect (s, (struct sockaddr *) &sa, sizeof sa);
        close (s);
        if (rc == 0)
            return;
        usleep (50000);
    }
    fail_msg ("nothing listens on %s:%d", addr, port);
}

/* A free TCP port on EG_ORIGIN (the kernel's choice, released at once). */
static int
origin_port (void)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    inet_pton (AF_INET, EG_ORIGIN, &sa.sin_addr);
    socklen_t len = sizeof sa;
    int s = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal (bind (s, (struct sockaddr *) &sa, sizeof sa), 0);
    assert_int_equal (getsockname (s, (struct sockaddr *) &sa, &len), 0);
    close (s);
    return ntohs (sa.sin_port);
}

static void
write_text (const char *path, const char *text)
{
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fputs (text, f);
    assert_int_equal (fclose (f), 0);
}

void
eg_fixture_up (const char *name, int http_port)
{
    memset (&eg, 0, sizeof eg);
    const char *dir = support_sandbox_env (name);
    assert_non_null (dir);
    char path[1200];
    snprintf (path, sizeof path, "%s/hosts", dir);
    write_text (path, EG_ORIGIN " pypi.test tls.test other.test files.test\n"
                      EG_INWARD " inward.test\n127.0.0.1 bus.test\n");
    setenv ("CAISSON_EGRESS_HOSTS", path, 1);
    setenv ("CAISSON_SANDBOX_NETWORK_MAX", "policy", 1);
    setenv ("CAISSON_EGRESS_ALLOW_MAX", "*,127.0.0.0/8:1-65535", 1);
    unsetenv ("CAISSON_EGRESS_ALLOW");
    unsetenv ("CAISSON_EGRESS_DENY");
    /* The index and two files: hello.txt (small, known text) and big.bin
     * (made by whoever needs it). */
    snprintf (eg.www, sizeof eg.www, "%s/www", dir);
    support_sh ("python3 '%s/tests/egress/mkindex.py' '%s'", CAISSON_SOURCE_DIR, eg.www);
    snprintf (path, sizeof path, "%s/hello.txt", eg.www);
    write_text (path, "hello from the origin\n");
    eg.http_port = http_port ? http_port : origin_port ();
    char port[16];
    snprintf (port, sizeof port, "%d", eg.http_port);
    const char *http[] = { "python3", "-m", "http.server", "--bind", EG_ORIGIN, "--directory",
                           eg.www, port, NULL };
    eg.http = eg_spawn ("origin.log", http);
    /* The TLS origin: a certificate for tls.test only, its own CA. */
    char key[1200];
    snprintf (eg.ca, sizeof eg.ca, "%s/tls-cert.pem", dir);
    snprintf (key, sizeof key, "%s/tls-key.pem", dir);
    support_sh ("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=tls.test "
                "-addext subjectAltName=DNS:tls.test -keyout '%s' -out '%s' 2>/dev/null", key,
                eg.ca);
    chmod (eg.ca, 0644);
    eg.tls_port = origin_port ();
    char accept[64];
    snprintf (accept, sizeof accept, EG_ORIGIN ":%d", eg.tls_port);
    const char *tls[] = { "openssl", "s_server", "-quiet", "-www", "-accept", accept, "-cert",
                          eg.ca, "-key", key, NULL };
    eg.tls = eg_spawn ("tls-origin.log", tls);
    eg_await_tcp (EG_ORIGIN, eg.http_port);
    eg_await_tcp (EG_ORIGIN, eg.tls_port);
}

void
eg_fixture_down (void)
{
    if (eg.http > 0)
        support_stop (eg.http, SIGTERM, 2000);
    if (eg.tls > 0)
        support_stop (eg.tls, SIGTERM, 2000);
    eg.http = eg.tls = 0;
}

void
eg_proxy_start (void)
{
    eg.proxy = support_spawn ("caisson-egress-proxy", NULL);
    assert_true (eg.proxy > 0);
    support_await_service (s_c, "egress-proxy");
    bus_client_set_timeout (s_c, 30000, 0);
}

int
eg_setup (void **state)
{
    (void) state;
    if (geteuid () != 0)
        skip ();
    eg_fixture_up ("egress", 0);
    eg_stack_up ();
    return 0;
}

void
eg_stack_up (void)
{
    s_dir = getenv ("CAISSON_DATA");
    setenv ("CAISSON_SANDBOX_POOL", "1", 1);
    setenv ("CAISSON_SANDBOX_MAX_PER_USER", "8", 1);
    s_c = bus_client_new (getenv ("CAISSON_BUS"));
    bus_client_set_timeout (s_c, 30000, 0);
    s_bus = support_spawn ("caisson-bus", NULL);
    eg_proxy_start ();
    start_stack_manager ();
}

int
eg_teardown (void **state)
{
    support_expect_clean_exit (eg.proxy);
    eg_fixture_down ();
    return sbx_teardown (state);
}

proto_msg_t *
eg_create_req (const char *network, const char *allow, const char *deny)
{
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_create, NULL);
    proto_set_str (&req->body.sandbox_create.language, "python");
    proto_set_str (&req->env.user, "tester");
    req->body.sandbox_create.ttl_seconds = 900;
    if (network)
        proto_set_str (&req->body.sandbox_create.network, network);
    json_error_t err;
    if (allow)
        any_set (&req->body.sandbox_create.network_allow, json_loads (allow, 0, &err));
    if (deny)
        any_set (&req->body.sandbox_create.network_deny, json_loads (deny, 0, &err));
    return req;
}

char *
eg_create (const char *allow, const char *deny)
{
    proto_msg_t *rep = call (eg_create_req ("policy", allow, deny));
    if (rep->type == PROTO_error)
        fail_msg ("create policy %s: %s: %s", allow ? allow : "-", rep->body.error.code,
                  rep->body.error.message);
    assert_int_equal (rep->type, PROTO_sandbox_info);
    assert_string_equal (rep->body.sandbox_info.status, "ready");
    assert_string_equal (rep->body.sandbox_info.network, "policy");
    char *id = strdup (rep->body.sandbox_info.sandbox_id);
    proto_msg_destroy (&rep);
    return id;
}

proto_msg_t *
eg_net_update (const char *id, const char *allow_add, const char *deny_add,
               const char *allow_remove)
{
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_net_update, NULL);
    proto_set_str (&req->body.sandbox_net_update.sandbox_id, id);
    json_error_t err;
    if (allow_add)
        any_set (&req->body.sandbox_net_update.allow_add, json_loads (allow_add, 0, &err));
    if (deny_add)
        any_set (&req->body.sandbox_net_update.deny_add, json_loads (deny_add, 0, &err));
    if (allow_remove)
        any_set (&req->body.sandbox_net_update.allow_remove, json_loads (allow_remove, 0, &err));
    proto_set_str (&req->body.sandbox_net_update.reason, "test");
    return call (req);
}

int
eg_run (const char *id, const char *cmd, int timeout, char *out, size_t outlen)
{
    proto_msg_t *rep = sh (id, cmd, (uint64_t) timeout, NULL);
    if (rep->type == PROTO_error)
        fail_msg ("exec %s: %s", cmd, rep->body.error.message);
    assert_int_equal (rep->type, PROTO_sandbox_exec_result);
    int code = (int) rep->body.sandbox_exec_result.exit_code;
    if (out)
        snprintf (out, outlen, "%s%s", rep->body.sandbox_exec_result.stdout,
                  rep->body.sandbox_exec_result.stderr);
    proto_msg_destroy (&rep);
    return code;
}

int
eg_sh (const char *id, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (eg_cmd, sizeof eg_cmd, fmt, ap);
    va_end (ap);
    return eg_run (id, eg_cmd, 60, eg_out, sizeof eg_out);
}

void
eg_put (const char *id, const char *path, const char *text)
{
    proto_msg_t *rep = write_file (id, path, text);
    assert_int_equal (rep->type, PROTO_sandbox_path);
    proto_msg_destroy (&rep);
}

const char *
eg_allow_origin (const char *name, int port)
{
    static char list[256];
    snprintf (list, sizeof list, "[\"%s:%d\", \"" EG_ORIGIN ":%d\"]", name, port, port);
    return list;
}

bus_tap_t *
eg_tap (const char *id)
{
    char prefix[160];
    snprintf (prefix, sizeof prefix, "sandbox.%s.net", id);
    bus_tap_t *tap = bus_tap_new (getenv ("CAISSON_BUS_SUB"), prefix);
    assert_non_null (tap);
    usleep (200000);            /* the subscription reaches the broker's proxy */
    return tap;
}

proto_msg_t *
eg_await_event (bus_tap_t *tap, const char *verdict, const char *host, int timeout_ms)
{
    char topic[256];
    for (int waited = 0; waited < timeout_ms; waited += 250) {
        proto_msg_t *ev = bus_tap_recv (tap, topic, sizeof topic, 250, NULL);
        if (!ev)
            continue;
        if (ev->type == PROTO_sandbox_net_event
            && !strcmp (ev->body.sandbox_net_event.verdict, verdict)
            && (!host || !strcmp (ev->body.sandbox_net_event.host, host)))
            return ev;
        proto_msg_destroy (&ev);
    }
    return NULL;
}

uid_t
eg_sandbox_uid (const char *id)
{
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_get, NULL);
    proto_set_str (&req->body.sandbox_get.sandbox_id, id);
    proto_msg_t *rep = call (req);
    assert_int_equal (rep->type, PROTO_sandbox_info);
    char path[64];
    snprintf (path, sizeof path, "/proc/%llu",
              (unsigned long long) rep->body.sandbox_info.init_pid);
    proto_msg_destroy (&rep);
    struct stat st;
    assert_int_equal (stat (path, &st), 0);
    return st.st_uid;
}

void
eg_socket_path (const char *id, char *out, size_t n)
{
    snprintf (out, n, "%s/sandboxes/%s/net/egress.sock", getenv ("CAISSON_DATA"), id);
}
