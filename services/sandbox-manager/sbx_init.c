/* sbx_init: the poll loop of a sandbox's pid 1. It accepts the manager on
 * the listening socket (a new connection replaces the old one, so a
 * restarted manager takes over), reads requests, and dispatches them to
 * sbx_proc, sbx_files and sbx_watch; it reaps every orphan in the sandbox
 * (SIGCHLD through a signalfd). It keeps running while no manager is
 * connected: background processes go on. */
#define _GNU_SOURCE
#include "sbx_initd.h"
#include "mpjson.h"

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

int sbx_init_run (sbx_ictx_t *ctx, int listen_fd);

void
sbx_init_send (sbx_ictx_t *ctx, proto_msg_t *msg)
{
    if (msg && ctx->wire)
        sbx_wire_send (ctx->wire, msg);
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
dispatch (sbx_ictx_t *ctx, sbx_procs_t *procs, proto_msg_t *req)
{
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
    case PROTO_sandbox_watch_stop:
        rep = sbx_watch_handle (ctx, req);
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
    int conn = -1;
    /* The host's services run with umask 077; inside, files are the
     * sandbox's own (its workspace is 0700 on the host), so the usual 022. */
    umask (022);
    ctx->env = json_object ();
    sbx_procs_t *procs = sbx_procs_new (ctx);
    struct pollfd fds[MAX_FDS];
    for (;;) {
        int timeout = -1, n = 0;
        fds[n++] = (struct pollfd) { .fd = listen_fd, .events = POLLIN };
        fds[n++] = (struct pollfd) { .fd = sfd, .events = POLLIN };
        fds[n++] = (struct pollfd) { .fd = conn, .events = POLLIN };
        fds[n++] = (struct pollfd) { .fd = sbx_watch_fd (), .events = POLLIN };
        int base = n;
        n += sbx_procs_pollfds (procs, fds + n, MAX_FDS - n, &timeout);
        if (poll (fds, (nfds_t) n, timeout) < 0 && errno != EINTR)
            continue;
        if (fds[0].revents) {
            /* cppcheck-suppress nullPointer ; gnu.cfg wrongly wants accept4's address */
            int c = accept4 (listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (c >= 0) {
                if (conn >= 0)
                    close (conn);
                sbx_wire_destroy (&ctx->wire);
                conn = c;
                ctx->wire = sbx_wire_new (conn);
            }
            continue;
        }
        if (fds[1].revents) {
            struct signalfd_siginfo si;
            while (read (sfd, &si, sizeof si) > 0)
                ;
        }
        if (fds[3].revents)
            sbx_watch_service (ctx);
        if (fds[2].revents && ctx->wire) {
            int gone = sbx_wire_fill (ctx->wire), bad;
            proto_msg_t *req;
            while ((req = sbx_wire_next (ctx->wire, &bad)))
                sbx_init_send (ctx, dispatch (ctx, procs, req));
            if (gone) {
                sbx_wire_destroy (&ctx->wire);
                close (conn);
                conn = -1;
            }
        }
        sbx_procs_service (procs, fds + base, n - base);
    }
}
