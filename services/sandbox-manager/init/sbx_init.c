/* sbx_init: the poll loop of a sandbox's pid 1. It accepts the manager on
 * the listening socket (a new connection replaces the old one, so a
 * restarted manager takes over), reads requests, and dispatches them by
 * type (one row per request type) to sbx_proc, sbx_files and sbx_watch;
 * it reaps every orphan in the sandbox (SIGCHLD through a signalfd). It
 * keeps running while no manager is connected: background processes go
 * on. */
#define _GNU_SOURCE
#include "sbx_initd.h"
#include "sbx_net.h"
#include "egress_rule.h"
#include "mpjson.h"
#include "sbx_wire.h"
#include "xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_FDS (256 + 2 * SBX_NET_POLLFDS)

/* The loop's state: the connection and the modules it dispatches to. */
typedef struct {
    sbx_ictx_t *ctx;
    sbx_wire_t *wire;           /* the manager, or NULL while none is connected */
    int conn;                   /* its socket, or -1 */
    sbx_procs_t *procs;
    sbx_watch_t *watch;
    sbx_net_t *net;             /* the forwarder (network policy) */
    sbx_net_t *gw;              /* the model gateway's forwarder (a sandbox with a key) */
} loop_t;

/* The context's send (sbx_send_fn). */
static void
send_to_manager (void *arg, proto_msg_t *msg)
{
    loop_t *l = arg;
    if (msg && l->wire)
        sbx_wire_send (l->wire, msg);
    proto_msg_destroy (&msg);
}

/* Starts the forwarder when the sandbox's mode is policy (from its argv:
 * a policy sandbox is never a pooled one, its /run/caisson is made for
 * it), before anything of the sandbox's runs and could take the port. */
static void
net_start (loop_t *l)
{
    char why[256];
    if (!l->ctx->net_policy)
        return;
    /* One that cannot listen leaves the sandbox with no way out: closed. */
    sbx_net_start (l->net, l->ctx->net_port, why, sizeof why);
    if (l->ctx->net_lfd >= 0)
        sbx_net_listen_too (l->net, l->ctx->net_lfd);
}

/* sandbox.create from the manager: the sandbox's defaults for processes
 * (the manager puts the proxy variables of a policy sandbox among them). */
static proto_msg_t *
configure (sbx_ictx_t *ctx, const proto_msg_t *req)
{
    const proto_sandbox_create_t *c = &req->body.sandbox_create;
    char why[256];
    snprintf (ctx->language, sizeof ctx->language, "%s", c->language ? c->language : "");
    json_decref (ctx->env);
    ctx->env = c->env_vars.size
               ? mpjson_decode (c->env_vars.data, c->env_vars.size, 1, why, sizeof why)
                               : NULL;
    if (!json_is_object (ctx->env)) {
        json_decref (ctx->env);
        ctx->env = json_object ();
    }
    proto_msg_t *rep = proto_msg_new (PROTO_sandbox_ack, req);
    proto_set_str (&rep->body.sandbox_ack.sandbox_id, ctx->id);
    return rep;
}

/* The requests the init answers, one function per type. Each takes
 * ownership of req and returns its reply, or NULL when it is sent later. */
typedef proto_msg_t *(init_fn) (loop_t *l, proto_msg_t *req);

/* The process requests take req (exec and wait may answer later). */
#define ON_PROC(name, fn) \
    static proto_msg_t *on_##name (loop_t *l, proto_msg_t *req) \
    { \
        return fn (l->procs, req); \
    }
ON_PROC (exec, sbx_procs_exec)
ON_PROC (run_code, sbx_procs_run_code)
ON_PROC (exec_list, sbx_procs_list)
ON_PROC (exec_cancel, sbx_procs_cancel)
ON_PROC (exec_kill, sbx_procs_kill)
ON_PROC (exec_wait, sbx_procs_wait)
ON_PROC (exec_output, sbx_procs_output)
ON_PROC (exec_input, sbx_procs_input)

/* The others borrow req from state and answer at once. */
#define ON_NOW(name, fn, state) \
    static proto_msg_t *on_##name (loop_t *l, proto_msg_t *req) \
    { \
        proto_msg_t *rep = fn (l->state, req); \
        proto_msg_destroy (&req); \
        return rep; \
    }

/* sandbox.create: the defaults, and the model gateway's forwarder when
 * they name its port (CAISSON_GATEWAY_SANDBOX_PORT: the manager minted
 * the sandbox a virtual key). It starts before the create is answered,
 * so before anything of the sandbox's runs and could take the port. */
static proto_msg_t *
on_create (loop_t *l, proto_msg_t *req)
{
    proto_msg_t *rep = configure (l->ctx, req);
    proto_msg_destroy (&req);
    const char *port = json_string_value (json_object_get (l->ctx->env,
                                                           "CAISSON_GATEWAY_SANDBOX_PORT"));
    char why[256];
    if (port && atoi (port) > 0 && sbx_net_start (l->gw, (unsigned) atoi (port), why, sizeof why))
        fprintf (stderr, "caisson-sandbox-init: model gateway: %s\n", why);
    return rep;
}
ON_NOW (watch_start, sbx_watch_start, watch)
ON_NOW (watch_stop, sbx_watch_stop, watch)
ON_NOW (write_file, sbx_files_write, ctx)
ON_NOW (write_files, sbx_files_write_many, ctx)
ON_NOW (create_directory, sbx_files_mkdir, ctx)
ON_NOW (read_file, sbx_files_read, ctx)
ON_NOW (get_file_info, sbx_files_info, ctx)
ON_NOW (get_file_size, sbx_files_size, ctx)
ON_NOW (list_files, sbx_files_list, ctx)
ON_NOW (delete_file, sbx_files_delete, ctx)
ON_NOW (check_file_exists, sbx_files_exists, ctx)

static const struct {
    proto_type_t type;
    init_fn *fn;
} routes[] = {
    { PROTO_sandbox_create, on_create },
    { PROTO_sandbox_exec, on_exec },
    { PROTO_sandbox_run_code, on_run_code },
    { PROTO_sandbox_exec_list, on_exec_list },
    { PROTO_sandbox_exec_kill, on_exec_kill },
    { PROTO_sandbox_exec_cancel, on_exec_cancel },
    { PROTO_sandbox_exec_wait, on_exec_wait },
    { PROTO_sandbox_exec_output, on_exec_output },
    { PROTO_sandbox_exec_input, on_exec_input },
    { PROTO_sandbox_watch_start, on_watch_start },
    { PROTO_sandbox_watch_stop, on_watch_stop },
    { PROTO_sandbox_write_file, on_write_file },
    { PROTO_sandbox_write_files, on_write_files },
    { PROTO_sandbox_create_directory, on_create_directory },
    { PROTO_sandbox_read_file, on_read_file },
    { PROTO_sandbox_get_file_info, on_get_file_info },
    { PROTO_sandbox_get_file_size, on_get_file_size },
    { PROTO_sandbox_list_files, on_list_files },
    { PROTO_sandbox_delete_file, on_delete_file },
    { PROTO_sandbox_check_file_exists, on_check_file_exists },
};

static proto_msg_t *
dispatch (loop_t *l, proto_msg_t *req)
{
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (routes[i].type == req->type)
            return routes[i].fn (l, req);
    proto_msg_t *rep = proto_error_new (req, PROTO_ERR_unknown_type,
                                        "type: a sandbox's init does not serve '%s'",
                                        proto_type_name (req->type));
    proto_msg_destroy (&req);
    return rep;
}

int
sbx_init_run (sbx_ictx_t *ctx, int listen_fd)
{
    sigset_t set;
    sigemptyset (&set);
    sigaddset (&set, SIGCHLD);
    sigprocmask (SIG_BLOCK, &set, NULL);
    int sfd = signalfd (-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    /* The host's services run with umask 077; inside, files are the
     * sandbox's own (its workspace is 0700 on the host), so the usual 022. */
    umask (022);
    /* The loop never ends (pid 1 goes only with its sandbox), so its
     * state is never freed. */
    loop_t *l = xcalloc (1, sizeof *l);
    l->ctx = ctx;
    l->conn = -1;
    ctx->send = send_to_manager;
    ctx->send_arg = l;
    ctx->env = json_object ();
    l->procs = sbx_procs_new (ctx);
    l->watch = sbx_watch_new (ctx);
    char sock[64];
    snprintf (sock, sizeof sock, "/proc/self/fd/%d/%s", ctx->net_fd, EGRESS_SOCKET_NAME);
    l->net = sbx_net_new (sock, "egress proxy");
    snprintf (sock, sizeof sock, "/proc/self/fd/%d/gateway.sock", ctx->net_fd);
    l->gw = sbx_net_new (sock, "model gateway");
    if (!l->procs)
        return 1;
    net_start (l);
    struct pollfd fds[MAX_FDS];
    for (;;) {
        int timeout = -1, n = 0;
        fds[n++] = (struct pollfd) { .fd = listen_fd, .events = POLLIN };
        fds[n++] = (struct pollfd) { .fd = sfd, .events = POLLIN };
        fds[n++] = (struct pollfd) { .fd = l->conn, .events = POLLIN };
        fds[n++] = (struct pollfd) { .fd = sbx_watch_fd (l->watch), .events = POLLIN };
        int nbase = n;
        n += sbx_net_pollfds (l->net, fds + n, SBX_NET_POLLFDS);
        int gbase = n;
        n += sbx_net_pollfds (l->gw, fds + n, SBX_NET_POLLFDS);
        int base = n;
        n += sbx_procs_pollfds (l->procs, fds + n, MAX_FDS - n, &timeout);
        if (poll (fds, (nfds_t) n, timeout) < 0 && errno != EINTR)
            continue;
        if (fds[0].revents) {
            /* cppcheck-suppress nullPointer ; gnu.cfg wrongly wants accept4's address */
            int c = accept4 (listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (c >= 0) {
                if (l->conn >= 0)
                    close (l->conn);
                sbx_wire_destroy (&l->wire);
                l->conn = c;
                l->wire = sbx_wire_new (l->conn);
            }
            continue;
        }
        if (fds[1].revents) {
            struct signalfd_siginfo si;
            while (read (sfd, &si, sizeof si) > 0)
                ;
        }
        if (fds[3].revents)
            sbx_watch_service (l->watch);
        if (fds[2].revents && l->wire) {
            int gone = sbx_wire_fill (l->wire), bad;
            proto_msg_t *req;
            while ((req = sbx_wire_next (l->wire, &bad)))
                send_to_manager (l, dispatch (l, req));
            if (gone) {
                sbx_wire_destroy (&l->wire);
                close (l->conn);
                l->conn = -1;
            }
        }
        sbx_net_service (l->net, fds + nbase, gbase - nbase);
        sbx_net_service (l->gw, fds + gbase, base - gbase);
        sbx_procs_service (l->procs, fds + base, n - base);
    }
}
