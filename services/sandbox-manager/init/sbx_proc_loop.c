/* sbx_proc_loop: the poll loop's side of the init's process table (see
 * sbx_proc.c and sbx_initd.h): reads the processes' output, forwards it,
 * reaps them, enforces their deadlines, ends what a finished command left
 * behind and answers the requests and waiters once a process is done. */
#define _GNU_SOURCE
#include "sbx_proc_int.h"

#include <czmq.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static bool
stream_open (sbx_procs_t *self, uint64_t now)
{
    if (now > self->tokens_at) {
        int64_t add = (int64_t) (now - self->tokens_at) * (STREAM_RATE / 1000);
        self->tokens = self->tokens + add > STREAM_RATE ? STREAM_RATE : self->tokens + add;
        self->tokens_at = now;
    }
    return self->tokens > 0;
}

int
sbx_procs_pollfds (sbx_procs_t *self, struct pollfd *fds, int max, int *timeout_ms)
{
    int n = 0;
    uint64_t now = (uint64_t) zclock_mono ();
    bool open = stream_open (self, now);
    if (!open) {            /* wake when the bucket has tokens again */
        int t = (int) (-self->tokens / (STREAM_RATE / 1000)) + 1;
        if (*timeout_ms < 0 || t < *timeout_ms)
            *timeout_ms = t;
    }
    for (int i = 0; i < MAX_PROCS; i++) {
        proc_t *p = &self->p[i];
        if (!p->used)
            continue;
        if (p->in.fd >= 0 && n < max)
            fds[n++] = (struct pollfd) { .fd = p->in.fd, .events = sbx_stdin_events (&p->in) };
        /* a throttled process's output waits in its pipe (after its exit,
         * the drain takes what is left) */
        bool throttled = p->interactive && !p->exited && !open;
        for (int s = 1; s < 3 && n < max; s++)
            if (p->fd[s] >= 0)
                fds[n++] = (struct pollfd) { .fd = p->fd[s], .events = throttled ? 0 : POLLIN };
        uint64_t next = p->exited ? p->drain_until : p->deadline;
        if (p->tree_until && p->exited)
            next = now + TREE_POLL_MS;
        for (int w = 0; w < MAX_WAITERS; w++)
            if (p->waiters[w] && p->wait_deadline[w] < next)
                next = p->wait_deadline[w];
        if (p->exited && !p->drain_until && !p->req && !p->waiters[0])
            continue;
        if (next == UINT64_MAX)
            continue;           /* no deadline (an interactive process) */
        int t = next > now ? (int) (next - now > INT_MAX ? INT_MAX : next - now) : 0;
        if (*timeout_ms < 0 || t < *timeout_ms)
            *timeout_ms = t;
    }
    return n;
}

static void
chunk (sbx_procs_t *self, proc_t *p, int s, const uint8_t *data, size_t len)
{
    buf_t *b = &p->out[s - 1];
    size_t room = self->ctx->cap_bytes > b->len ? self->ctx->cap_bytes - b->len : 0;
    size_t keep = len;
    if (keep > room) {
        p->truncated = true;
        keep = room;
    }
    if (keep) {
        uint8_t *d = realloc (b->data, b->len + keep + 1);
        if (!d)
            return;
        memcpy (d + b->len, data, keep);
        b->data = d;
        b->len += keep;
    }
    /* An interactive process's stream is its protocol: never cut. */
    if (!p->interactive)
        len = keep;
    if (!len)
        return;
    proto_msg_t *ev = proto_msg_new (PROTO_sandbox_output, NULL);
    if (ev) {
        proto_set_str (&ev->body.sandbox_output.sandbox_id, self->ctx->id);
        ev->body.sandbox_output.pid = (uint64_t) p->pid;
        proto_set_str (&ev->body.sandbox_output.stream, s == 1 ? "stdout" : "stderr");
        proto_set_bytes (&ev->body.sandbox_output.data, data, len);
        self->ctx->send (self->ctx->send_arg, ev);
    }
}

static void
io (sbx_procs_t *self, proc_t *p, int fd, short revents)
{
    if (p->in.fd == fd) {
        sbx_stdin_service (&p->in, revents);
        return;
    }
    for (int s = 1; s < 3; s++) {
        if (p->fd[s] != fd)
            continue;
        uint8_t buf[65536];
        ssize_t r = read (fd, buf, sizeof buf);
        if (r > 0 && p->interactive)
            self->tokens -= r;
        if (r > 0)
            chunk (self, p, s, buf, (size_t) r);
        else if (r == 0 || errno != EAGAIN) {
            close (fd);
            p->fd[s] = -1;
        }
    }
}

/* Publishes p's exit on its topic, after its output. */
static void
send_exit (sbx_procs_t *self, proc_t *p)
{
    proto_msg_t *ev = proto_msg_new (PROTO_sandbox_output, NULL);
    if (ev) {
        proto_set_str (&ev->body.sandbox_output.sandbox_id, self->ctx->id);
        ev->body.sandbox_output.pid = (uint64_t) p->pid;
        proto_set_str (&ev->body.sandbox_output.stream, "exit");
        ev->body.sandbox_output.exit_code = WIFEXITED (p->status)
            ? WEXITSTATUS (p->status) : 128 + WTERMSIG (p->status);
        self->ctx->send (self->ctx->send_arg, ev);
    }
    p->exit_sent = true;
}

/* Ends what is left of an exited process: its whole tree when a timeout,
 * a kill or a signal ended it; else only the leftovers still holding its
 * output pipes (a command's output ends with it; what was started to
 * outlive it, `nohup cmd >log &` or background: true, lives on). Returns
 * how many of those are left, zombies included; *found (when not NULL)
 * how many there were. */
static int
end_tree (proc_t *p, int *found)
{
    int left = p->timed_out || WIFSIGNALED (p->status) ? sbx_kill_tree (p->pid, SIGKILL)
        : sbx_kill_holders (p->pid, p->pipe_ino, 2, found);
    if (found && (p->timed_out || WIFSIGNALED (p->status)))
        *found = left;
    return left;
}

/* Answers the foreground request and waiters once the process is done. */
static void
settle (sbx_procs_t *self, proc_t *p, uint64_t now)
{
    if (p->exited && (p->fd[1] >= 0 || p->fd[2] >= 0) && now >= p->drain_until) {
        /* the drain's grace is over and leftovers still hold the pipes (a
         * fork bomb's children would hold the pids limit for ever) */
        int ended = 0;
        end_tree (p, &ended);
        if (ended > 0) {
            p->tree_until = now + TREE_MS;
            /* said where a model reads it, with what to do instead */
            char note[256];
            int n = snprintf (note, sizeof note, "\ncaisson: %d process%s this command started "
                              "still held its output when it ended, and %s ended with it; start "
                              "a server or anything meant to outlive a command with background: "
                              "true\n", ended, ended == 1 ? "" : "es", ended == 1 ? "was" : "were");
            if (!p->timed_out && !WIFSIGNALED (p->status) && n > 0)
                chunk (self, p, 2, (const uint8_t *) note, (size_t) n);
        }
        for (int s = 1; s < 3; s++)
            if (p->fd[s] >= 0) {
                close (p->fd[s]);
                p->fd[s] = -1;
            }
    }
    bool done = p->exited && p->fd[1] < 0 && p->fd[2] < 0;
    /* A killed tree (a fork bomb's) holds the pids limit until the init has
     * reaped it: answering before that, the next command could not fork. */
    if (done && p->tree_until) {
        if (now < p->tree_until && end_tree (p, NULL) > 0)
            done = false;
        else
            p->tree_until = 0;
    }
    if (!p->exited && now >= p->deadline) {
        p->timed_out = true;
        sbx_kill_tree (p->pid, SIGKILL);
        p->deadline = UINT64_MAX;
    }
    if (done) {
        p->drain_until = 0;
        if (p->req) {
            self->ctx->send (self->ctx->send_arg, sbx_proc_result (self, p, p->req));
            send_exit (self, p);
            sbx_proc_free (p);
            return;
        }
        if (p->interactive && !p->exit_sent)
            send_exit (self, p);
    }
    for (int w = 0; w < MAX_WAITERS; w++)
        if (p->waiters[w] && (done || now >= p->wait_deadline[w])) {
            self->ctx->send (self->ctx->send_arg, sbx_proc_result (self, p, p->waiters[w]));
            proto_msg_destroy (&p->waiters[w]);
        }
}

void
sbx_procs_reap (sbx_procs_t *self)
{
    int status;
    pid_t pid;
    while ((pid = waitpid (-1, &status, WNOHANG)) > 0) {
        proc_t *p = sbx_proc_find (self, (uint64_t) pid);
        if (p && !p->exited) {
            p->exited = true;
            p->status = status;
            p->end = (uint64_t) zclock_mono ();
            p->drain_until = p->end + DRAIN_MS;
            if (p->interactive && p->in.fd >= 0)
                sbx_stdin_close (&p->in, false);    /* nothing will read it now */
            if (p->timed_out || WIFSIGNALED (status)) {
                sbx_kill_tree (pid, SIGKILL);
                p->tree_until = p->end + TREE_MS;
            }
        }
    }
}

void
sbx_procs_service (sbx_procs_t *self, const struct pollfd *fds, int nfds)
{
    for (int i = 0; i < nfds; i++)
        if (fds[i].revents)
            for (int k = 0; k < MAX_PROCS; k++)
                if (self->p[k].used)
                    io (self, &self->p[k], fds[i].fd, fds[i].revents);
    sbx_procs_reap (self);
    uint64_t now = (uint64_t) zclock_mono ();
    for (int k = 0; k < MAX_PROCS; k++)
        if (self->p[k].used)
            settle (self, &self->p[k], now);
}
