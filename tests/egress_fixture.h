/* egress_fixture: what the egress tests share (issue 15). Origin servers
 * on 127.0.0.2 (a plain HTTP one serving a directory with a PEP 503
 * package index, and a TLS one whose certificate names tls.test only), the
 * hosts file the proxy resolves with (CAISSON_EGRESS_HOSTS), the settings
 * of a test deployment, and the real broker, egress-proxy and
 * sandbox-manager (sbx_client's stack plus the proxy). Everything listens
 * on 127.0.0.x; nothing is sent anywhere else. */
#ifndef CAISSON_TEST_EGRESS_FIXTURE_H
#define CAISSON_TEST_EGRESS_FIXTURE_H

#include "sbx_client.h"
#include "bus_tap.h"

/* The hosts file: pypi.test, tls.test, other.test and files.test are
 * 127.0.0.2; inward.test is 127.0.0.3 (which no test policy lists);
 * bus.test is 127.0.0.1 (where a TCP bus listens in the red-team test). */
#define EG_ORIGIN "127.0.0.2"
#define EG_INWARD "127.0.0.3"

typedef struct {
    char www[1024];   /* served by the plain origin: hello.txt, big.bin, simple/, packages/ */
    char ca[1024];    /* the TLS origin's self-signed certificate (CN and SAN tls.test) */
    int http_port;    /* the plain origin on EG_ORIGIN */
    int tls_port;     /* the TLS origin (`openssl s_server -www`) on EG_ORIGIN */
    pid_t http, tls, proxy;
} eg_fixture_t;

extern eg_fixture_t eg;

/* A cmocka group setup: skips unless root; a test directory
 * (support_sandbox_env), the test deployment's settings (policy allowed,
 * the ceiling `*,127.0.0.0/8:1-65535`, the hosts file), the index built by
 * tests/egress/mkindex.py, both origins, then the broker, egress-proxy and
 * sandbox-manager. eg_teardown stops them (each must exit cleanly). */
int eg_setup (void **state);
int eg_teardown (void **state);
/* The stack part of eg_setup alone: the broker, egress-proxy and
 * sandbox-manager on the bus the environment names. */
void eg_stack_up (void);

/* The same without the stack: directory, settings, index and origins
 * (bench/egress and the whole-stack tests start their own services).
 * http_port 0 picks a free port. */
void eg_fixture_up (const char *name, int http_port);
void eg_fixture_down (void);

/* Starts argv (a NULL-ended argv, argv[0] searched in PATH) with stdout
 * and stderr in <test dir>/<log>; it dies with the test process. */
pid_t eg_spawn (const char *log, const char *const argv[]);
/* Waits up to 10 s until addr:port accepts a TCP connection. */
void eg_await_tcp (const char *addr, int port);

/* (Re)starts caisson-egress-proxy and waits until it answers health. */
void eg_proxy_start (void);

/* A sandbox.create (not sent) as `tester` with network mode network and
 * the JSON array texts allow and deny (NULL: absent). */
proto_msg_t *eg_create_req (const char *network, const char *allow, const char *deny);
/* A ready `policy` sandbox with those lists (asserted); its id (the
 * caller's; destroy() frees it). */
char *eg_create (const char *allow, const char *deny);
/* sandbox.net.update as `tester` with JSON array texts (NULL: absent);
 * the reply. */
proto_msg_t *eg_net_update (const char *id, const char *allow_add, const char *deny_add,
                            const char *allow_remove);

/* Runs the shell command cmd in sandbox id for at most timeout seconds;
 * its exit code, stdout then stderr in out. */
int eg_run (const char *id, const char *cmd, int timeout, char *out, size_t outlen);

/* The output (stdout then stderr) and the command of the last eg_sh. */
extern char eg_out[1 << 16];
extern char eg_cmd[4096];
/* The printf-style shell command in sandbox id (at most 60 s) with its
 * output in eg_out; its exit code. */
int eg_sh (const char *id, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
/* Fails the test, showing the command and its output, unless eg_out holds
 * needle. */
#define EG_EXPECT(needle) do { \
        if (!strstr (eg_out, (needle))) \
            fail_msg ("`%s` did not say \"%s\":\n%s", eg_cmd, (needle), eg_out); \
    } while (0)
/* Writes text to path (relative to the workspace) in sandbox id. */
void eg_put (const char *id, const char *path, const char *text);
/* `["<name>:<port>", "127.0.0.2:<port>"]`: a name that resolves to the
 * origin needs its address listed too (static storage). */
const char *eg_allow_origin (const char *name, int port);

/* A tap on `sandbox.<id>.net` (subscribed, settled). */
bus_tap_t *eg_tap (const char *id);
/* The next sandbox.net_event on tap within timeout_ms whose verdict is
 * verdict and whose host is host (NULL: any); NULL when none came. */
proto_msg_t *eg_await_event (bus_tap_t *tap, const char *verdict, const char *host,
                             int timeout_ms);

/* The host uid sandbox id's processes run as (its init's). */
uid_t eg_sandbox_uid (const char *id);
/* Host path of sandbox id's egress socket. */
void eg_socket_path (const char *id, char *out, size_t n);

#endif
