/* sbx_init: the poll loop of a sandbox's pid 1. It accepts the manager on
 * the listening socket (a new connection replaces the old one, so a
 * restarted manager takes over), reads requests, and dispatches them to
 * sbx_proc, sbx_files and sbx_watch; it reaps every orphan in the sandbox
 * (SIGCHLD through a signalfd). It keeps running while no manager is
 * connected: background processes go on. */
#define _GNU_SOURCE
#include "sbx_initd.h"
#include "mpjson.h"
#include "sbx_wire.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_FDS 256

/* The loop's state: the connection and the modules it dispatches to. */
typedef struct {
    sbx_ictx_t *ctx;
    sbx_wire_t *wire;           /* the manager, or NULL while none is connected */
    int conn;                   /* its socket, or -1 */
    sbx_procs_t *procs;
    sbx_watch_t *watch;
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

/* sandbox.create from the manager: the sandbox's defaults for processes. */
static proto_msg_t *
configure (sbx_ictx_t *ctx, const proto_msg_t *req)
{
    const proto_sandbox_create_t *c = &req->body.sandbox_create;
    char why[256];
    snprintf (ctx->language, sizeof ctx->language, "%s", c->language ? c->language : "");
    json_decref (ctx->env);
    ctx->env = c->env_vars.size ? mpjson_decode (c->env_vars.data, c->env_vars.size, 1, why, sizeof why)
                               : NULL;
    if (!json_is_object (ctx->env)) {
        json_decref (ctx->env);
        ctx->env = json_object ();
    }
    proto_msg_t *rep = proto_msg_new (PROTO_sandbox_ack, req);
    proto_set_str (&rep->body.sandbox_ack.sandbox_id, ctx->id);
    return rep;
}

static proto_msg_t *
dispatch (loop_t *l, proto_msg_t *req)
{
    sbx_ictx_t *ctx = l->ctx;
    sbx_procs_t *procs = l->procs;
    proto_msg_t *rep;
    switch (req->type) {
    case PROTO_sandbox_create:
        rep = configure (ctx, req);
        break;
    case PROTO_sandbox_exec:
        return sbx_procs_exec (procs, req);
    case PROTO_sandbox_run_code:
        return sbx_procs_run_code (procs, req);
    case PROTO_sandbox_exec_list:
    case PROTO_sandbox_exec_kill:
    case PROTO_sandbox_exec_cancel:
    case PROTO_sandbox_exec_wait:
    case PROTO_sandbox_exec_output:
        return sbx_procs_control (procs, req);
    case PROTO_sandbox_watch_start:
        rep = sbx_watch_start (l->watch, req);
        break;
    case PROTO_sandbox_watch_stop:
        rep = sbx_watch_stop (l->watch, req);
        break;
    default:
        rep = sbx_files_handle (ctx, req);
        break;
    }
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
    loop_t l = { .ctx = ctx, .conn = -1 };
    ctx->send = send_to_manager;
    ctx->send_arg = &l;
    ctx->env = json_object ();
    l.procs = sbx_procs_new (ctx);
    l.watch = sbx_watch_new (ctx);
    if (!l.procs || !l.watch)
        return 1;
    struct pollfd fds[MAX_FDS];
    for (;;) {
        int timeout = -1, n = 0;
        fds[n++] = (struct pollfd) { .fd = listen_fd, .events = POLLIN };
        fds[n++] = (struct pollfd) { .fd = sfd, .events = POLLIN };
        fds[n++] = (struct pollfd) { .fd = l.conn, .events = POLLIN };
        fds[n++] = (struct pollfd) { .fd = sbx_watch_fd (l.watch), .events = POLLIN };
        int base = n;
        n += sbx_procs_pollfds (l.procs, fds + n, MAX_FDS - n, &timeout);
        if (poll (fds, (nfds_t) n, timeout) < 0 && errno != EINTR)
            continue;
        if (fds[0].revents) {
            int c = accept4 (listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (c >= 0) {
                if (l.conn >= 0)
                    close (l.conn);
                sbx_wire_destroy (&l.wire);
                l.conn = c;
                l.wire = sbx_wire_new (l.conn);
            }
            continue;
        }
        if (fds[1].revents) {
            struct signalfd_siginfo si;
            while (read (sfd, &si, sizeof si) > 0)
                ;
        }
        if (fds[3].revents)
            sbx_watch_service (l.watch);
        if (fds[2].revents && l.wire) {
            int gone = sbx_wire_fill (l.wire), bad;
            proto_msg_t *req;
            while ((req = sbx_wire_next (l.wire, &bad)))
                send_to_manager (&l, dispatch (&l, req));
            if (gone) {
                sbx_wire_destroy (&l.wire);
                close (l.conn);
                l.conn = -1;
            }
        }
        sbx_procs_service (l.procs, fds + base, n - base);
    }
}
