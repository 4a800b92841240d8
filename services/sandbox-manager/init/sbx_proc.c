/* sbx_proc: processes run by a sandbox's init. Each runs in its own session
 * (setsid: a new process group, no controlling terminal), with pipes for
 * its three streams, a clean environment (sbx_cmd.h: PATH, HOME, LANG, the
 * sandbox's env_vars, the request's envs) and a deadline. Output is captured up to
 * the cap (then flagged truncated) and streamed to the manager as
 * `sandbox.output` chunks. A timeout or kill signals the session and its
 * process group, so the whole tree goes. Foreground replies go when the
 * process has exited and its pipes are drained; background processes stay
 * listed until the sandbox ends, for wait and output.
 *
 * An interactive process (background, for an MCP stdio server and the
 * like) keeps its stdin open for sandbox.exec.input (sbx_stdin.h: never
 * blocking). Its output is forwarded as it is read, one chunk per read,
 * past the cap (only what is kept for exec.output is capped), at most
 * STREAM_RATE bytes a second for the whole sandbox once a burst is spent
 * (the init then stops reading, so the process waits on its full pipe and
 * nothing is lost), and its exit is published as well. */
#define _GNU_SOURCE
#include "sbx_initd.h"
#include "sbx_cmd.h"
#include "sbx_stdin.h"
#include "mpjson.h"
#include "svc.h"

#include <czmq.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_PROCS 64
#define MAX_WAITERS 8
#define DRAIN_MS 200
#define TREE_MS 2000                /* a killed tree's answer waits for its reaping */
#define TREE_POLL_MS 5
#define STREAM_RATE (8 << 20)       /* interactive output, bytes a second per sandbox */

typedef struct { uint8_t *data; size_t len; } buf_t;

typedef struct {
    bool used, background, exited, timed_out, truncated, cancelled;
    bool interactive, exit_sent;
    pid_t pid;
    sbx_stdin_t in;             /* stdin (the pipe's write end) */
    int fd[3];                  /* [1] stdout, [2] stderr; -1 closed; [0] unused (-1) */
    buf_t out[2];
    int status;
    uint64_t start, end, deadline, drain_until;
    uint64_t tree_until;        /* killed: answer once its tree is reaped, or then */
    ino_t pipe_ino[2];          /* its stdout's and stderr's pipes */
    char *command;
    proto_msg_t *req;           /* foreground: the exec to answer */
    proto_msg_t *waiters[MAX_WAITERS];
    uint64_t wait_deadline[MAX_WAITERS];
} proc_t;

struct _sbx_procs_t {
    sbx_ictx_t *ctx;
    proc_t p[MAX_PROCS];
    /* interactive output's token bucket (bytes, up to STREAM_RATE): a
     * process that writes without end must not keep the manager and the
     * bus busy for ever, as a capped one cannot */
    int64_t tokens;
    uint64_t tokens_at;
};

sbx_procs_t *
sbx_procs_new (sbx_ictx_t *ctx)
{
    sbx_procs_t *self = calloc (1, sizeof *self);
    if (self) {
        self->ctx = ctx;
        self->tokens = STREAM_RATE;
    }
    return self;
}

static void
proc_free (proc_t *p)
{
    for (int i = 0; i < 3; i++)
        if (p->fd[i] >= 0)
            close (p->fd[i]);
    sbx_stdin_close (&p->in, false);
    free (p->out[0].data);
    free (p->out[1].data);
    free (p->command);
    proto_msg_destroy (&p->req);
    for (int i = 0; i < MAX_WAITERS; i++)
        proto_msg_destroy (&p->waiters[i]);
    memset (p, 0, sizeof *p);
}

static proto_msg_t *
result_new (sbx_procs_t *self, proc_t *p, const proto_msg_t *cause)
{
    proto_msg_t *rep = proto_msg_new (PROTO_sandbox_exec_result, cause);
    if (!rep)
        return NULL;
    proto_sandbox_exec_result_t *r = &rep->body.sandbox_exec_result;
    proto_set_str (&r->sandbox_id, self->ctx->id);
    r->pid = (uint64_t) p->pid;
    r->running = !p->exited;
    if (p->exited)
        r->exit_code = WIFEXITED (p->status) ? WEXITSTATUS (p->status) : 128 + WTERMSIG (p->status);
    r->stdout = strndup (p->out[0].data ? (char *) p->out[0].data : "", p->out[0].len);
    r->stderr = strndup (p->out[1].data ? (char *) p->out[1].data : "", p->out[1].len);
    r->execution_time = (p->exited ? p->end : (uint64_t) zclock_mono ()) - p->start;
    r->timed_out = p->timed_out;
    r->cancelled = p->cancelled;
    r->truncated = p->truncated;
    return rep;
}

static proto_msg_t *
bad (const proto_msg_t *req, proto_ecode_t code, const char *text)
{
    return proto_error_new (req, code, "%s", text);
}

/* A free slot, or else the one of the background process that ended
 * longest ago (drained, its exit published, nobody waiting), freed: the
 * ended stay listed for wait and output only while there is room, so a
 * sandbox whose servers came and went still runs commands. (No descriptor
 * is closed here: a number freed while requests are handled could go to
 * the new process and get the old one's poll result.) NULL when all run. */
static proc_t *
slot (sbx_procs_t *self)
{
    proc_t *old = NULL;
    for (int i = 0; i < MAX_PROCS; i++) {
        proc_t *p = &self->p[i];
        if (!p->used)
            return p;
        bool gone = p->background && p->exited && p->fd[1] < 0 && p->fd[2] < 0
                    && p->in.fd < 0 && (!p->interactive || p->exit_sent);
        for (int w = 0; w < MAX_WAITERS; w++)
            gone = gone && !p->waiters[w];
        if (gone && (!old || p->end < old->end))
            old = p;
    }
    if (old)
        proc_free (old);
    return old;
}

/* Starts argv; returns the slot or NULL with why set. */
static proc_t *
spawn (sbx_procs_t *self, char **argv, const proto_bytes_t *envs, const char *cwd,
       uint64_t timeout_s, const proto_bytes_t *in, bool interactive, char *why, size_t whylen)
{
    proc_t *p = slot (self);
    if (!p) {
        snprintf (why, whylen, "too many processes in this sandbox (%d)", MAX_PROCS);
        return NULL;
    }
    char dir[4096];
    if (sbx_files_resolve (cwd && *cwd ? cwd : PROTO_SANDBOX_WORKSPACE, false, dir, sizeof dir,
                           why, whylen))
        return NULL;
    struct stat st;
    if (stat (dir, &st) || !S_ISDIR (st.st_mode)) {
        snprintf (why, whylen, "cwd: %.400s is not a directory", dir);
        return NULL;
    }
    char **env = sbx_cmd_env (self->ctx->env, envs, why, whylen);
    if (!env)
        return NULL;
    int pin[2], pout[2], perr[2];
    if (pipe2 (pin, O_CLOEXEC) || pipe2 (pout, O_CLOEXEC) || pipe2 (perr, O_CLOEXEC)) {
        snprintf (why, whylen, "pipe: %s", strerror (errno));
        sbx_cmd_free (env);
        return NULL;
    }
    pid_t pid = fork ();
    if (pid == 0) {
        sigset_t all;
        sigemptyset (&all);
        sigprocmask (SIG_SETMASK, &all, NULL);
        setsid ();
        dup2 (pin[0], 0);
        dup2 (pout[1], 1);
        dup2 (perr[1], 2);
        if (chdir (dir))
            _exit (126);
        svc_close_from (3);
        execvpe (argv[0], argv, env);
        dprintf (2, "%s: %s\n", argv[0], strerror (errno));
        _exit (errno == ENOENT ? 127 : 126);
    }
    sbx_cmd_free (env);
    close (pin[0]);
    close (pout[1]);
    close (perr[1]);
    if (pid < 0) {
        snprintf (why, whylen, "fork: %s", strerror (errno));
        close (pin[1]);
        close (pout[0]);
        close (perr[0]);
        return NULL;
    }
    memset (p, 0, sizeof *p);
    p->used = true;
    p->interactive = interactive;
    p->pid = pid;
    p->fd[0] = -1;
    p->fd[1] = pout[0];
    p->fd[2] = perr[0];
    for (int s = 0; s < 2; s++) {
        struct stat pst;
        p->pipe_ino[s] = fstat (s ? perr[0] : pout[0], &pst) ? 0 : pst.st_ino;
    }
    fcntl (pin[1], F_SETFL, O_NONBLOCK);
    fcntl (pout[0], F_SETFL, O_NONBLOCK);
    fcntl (perr[0], F_SETFL, O_NONBLOCK);
    sbx_stdin_open (&p->in, pin[1], in ? in->data : NULL, in ? in->size : 0, interactive);
    p->start = (uint64_t) zclock_mono ();
    p->deadline = timeout_s ? p->start + timeout_s * 1000 : UINT64_MAX;
    return p;
}

/* Starts a process for req. An interactive one has no deadline unless
 * given one: it lives as long as its sandbox, like the server it is. */
static proto_msg_t *
start (sbx_procs_t *self, proto_msg_t *req, char **argv, char *text, const proto_bytes_t *envs,
       const char *cwd, uint64_t timeout_s, const proto_bytes_t *in, bool background,
       bool interactive)
{
    char why[512];
    if (!timeout_s && !interactive)
        timeout_s = 60;
    proc_t *p = spawn (self, argv, envs, cwd, timeout_s, in, interactive, why, sizeof why);
    sbx_cmd_free (argv);
    if (!p) {
        free (text);
        proto_msg_t *rep = bad (req, PROTO_ERR_exec_failed, why);
        proto_msg_destroy (&req);
        return rep;
    }
    p->command = text;
    p->background = background;
    if (!background) {
        p->req = req;
        return NULL;
    }
    proto_msg_t *rep = result_new (self, p, req);
    proto_msg_destroy (&req);
    return rep;
}

proto_msg_t *
sbx_procs_exec (sbx_procs_t *self, proto_msg_t *req)
{
    proto_sandbox_exec_t *e = &req->body.sandbox_exec;
    char why[256], **argv, *text = NULL;
    if (e->interactive && !e->background) {
        proto_msg_t *rep = bad (req, PROTO_ERR_bad_value, "interactive: needs background: true "
                                "(a foreground exec's input is its stdin field)");
        proto_msg_destroy (&req);
        return rep;
    }
    if (sbx_cmd_parse (&e->command, &argv, &text, why, sizeof why)) {
        proto_msg_t *rep = bad (req, PROTO_ERR_bad_command, why);
        proto_msg_destroy (&req);
        return rep;
    }
    return start (self, req, argv, text, &e->envs, e->cwd, e->timeout_seconds, &e->stdin,
                  e->background, e->interactive);
}

proto_msg_t *
sbx_procs_run_code (sbx_procs_t *self, proto_msg_t *req)
{
    proto_sandbox_run_code_t *c = &req->body.sandbox_run_code;
    char **argv, *text = NULL;
    proto_msg_t *err = NULL;
    if (sbx_cmd_code (req, self->ctx->language, &argv, &text, &err)) {
        proto_msg_destroy (&req);
        return err;
    }
    return start (self, req, argv, text, &c->envs, NULL, c->timeout_seconds, NULL, false, false);
}

static proc_t *
find (sbx_procs_t *self, uint64_t pid)
{
    for (int i = 0; i < MAX_PROCS; i++)
        if (self->p[i].used && (uint64_t) self->p[i].pid == pid)
            return &self->p[i];
    return NULL;
}

proto_msg_t *
sbx_procs_list (sbx_procs_t *self, proto_msg_t *req)
{
    json_t *arr = json_array ();
    for (int i = 0; i < MAX_PROCS; i++) {
        proc_t *p = &self->p[i];
        if (!p->used || !p->background)
            continue;
        json_t *o = json_pack ("{s:I, s:s, s:b, s:I}", "pid", (json_int_t) p->pid, "command",
                               p->command ? p->command : "", "running", !p->exited,
                               "startedAt", (json_int_t) p->start);
        if (p->interactive)
            json_object_set_new (o, "interactive", json_true ());
        if (p->exited)
            json_object_set_new (o, "exitCode", json_integer (
                WIFEXITED (p->status) ? WEXITSTATUS (p->status) : 128 + WTERMSIG (p->status)));
        json_array_append_new (arr, o);
    }
    proto_msg_t *rep = proto_msg_new (PROTO_sandbox_exec_procs, req);
    proto_set_str (&rep->body.sandbox_exec_procs.sandbox_id, self->ctx->id);
    mpjson_set (&rep->body.sandbox_exec_procs.processes, arr, 4);
    json_decref (arr);
    proto_msg_destroy (&req);
    return rep;
}

proto_msg_t *
sbx_procs_cancel (sbx_procs_t *self, proto_msg_t *req)
{
    /* Matched by the request that started it: the caller (a tool call)
     * knows the ids it sent, not the pid it never got back. */
    const char *want = req->body.sandbox_exec_cancel.request;
    proc_t *p = NULL;
    for (int i = 0; i < MAX_PROCS && !p; i++)
        if (self->p[i].used && self->p[i].req && self->p[i].req->env.id
            && !strcmp (self->p[i].req->env.id, want))
            p = &self->p[i];
    bool killed = p && !p->exited;
    if (killed) {
        p->cancelled = true;
        sbx_kill_tree (p->pid, SIGKILL);
    }
    proto_msg_t *rep = proto_msg_new (PROTO_sandbox_ack, req);
    proto_set_str (&rep->body.sandbox_ack.sandbox_id, self->ctx->id);
    json_t *detail = json_pack ("{s:b}", "cancelled", killed);
    mpjson_set (&rep->body.sandbox_ack.detail, detail, 2);
    json_decref (detail);
    proto_msg_destroy (&req);
    return rep;
}

/* The process pid names, or NULL with *rep set to req's not_found (and req
 * destroyed). */
static proc_t *
find_or_refuse (sbx_procs_t *self, proto_msg_t **req, uint64_t pid, proto_msg_t **rep)
{
    proc_t *p = find (self, pid);
    if (!p) {
        *rep = proto_error_new (*req, PROTO_ERR_not_found, "pid: no process %llu in this sandbox",
                                (unsigned long long) pid);
        proto_msg_destroy (req);
    }
    return p;
}

proto_msg_t *
sbx_procs_kill (sbx_procs_t *self, proto_msg_t *req)
{
    const proto_sandbox_exec_kill_t *b = &req->body.sandbox_exec_kill;
    proto_msg_t *rep = NULL;
    proc_t *p = find_or_refuse (self, &req, b->pid, &rep);
    if (!p)
        return rep;
    if (!p->exited)
        sbx_kill_tree (p->pid, b->signal ? (int) b->signal : SIGKILL);
    rep = proto_msg_new (PROTO_sandbox_ack, req);
    proto_set_str (&rep->body.sandbox_ack.sandbox_id, self->ctx->id);
    proto_msg_destroy (&req);
    return rep;
}

proto_msg_t *
sbx_procs_wait (sbx_procs_t *self, proto_msg_t *req)
{
    const proto_sandbox_exec_wait_t *b = &req->body.sandbox_exec_wait;
    proto_msg_t *rep = NULL;
    proc_t *p = find_or_refuse (self, &req, b->pid, &rep);
    if (!p)
        return rep;
    if (!(p->exited && p->fd[1] < 0 && p->fd[2] < 0)) {
        uint64_t wait_ms = (b->timeout_seconds ? b->timeout_seconds : 3600) * 1000;
        for (int i = 0; i < MAX_WAITERS; i++)
            if (!p->waiters[i]) {
                p->waiters[i] = req;
                p->wait_deadline[i] = (uint64_t) zclock_mono () + wait_ms;
                return NULL;
            }
        rep = proto_error_new (req, PROTO_ERR_busy, "pid: too many waiters");
    }
    else
        rep = result_new (self, p, req);
    proto_msg_destroy (&req);
    return rep;
}

proto_msg_t *
sbx_procs_output (sbx_procs_t *self, proto_msg_t *req)
{
    proto_msg_t *rep = NULL;
    proc_t *p = find_or_refuse (self, &req, req->body.sandbox_exec_output.pid, &rep);
    if (!p)
        return rep;
    rep = result_new (self, p, req);
    proto_msg_destroy (&req);
    return rep;
}

/* Why p's stdin takes nothing more, or NULL when it does. */
static const char *
stdin_refusal (const proc_t *p, char *why, size_t whylen)
{
    unsigned long long pid = (unsigned long long) p->pid;
    if (!p->interactive)
        snprintf (why, whylen, "pid: process %llu is not interactive: its standard input is not "
                  "open (start it with background and interactive)", pid);
    else if (p->exited)
        snprintf (why, whylen, "pid: process %llu has exited (code %d)", pid,
                  WIFEXITED (p->status) ? WEXITSTATUS (p->status) : 128 + WTERMSIG (p->status));
    else if (p->in.broken)
        snprintf (why, whylen, "pid: process %llu closed its standard input", pid);
    else if (p->in.closed || p->in.closing)
        snprintf (why, whylen, "pid: the standard input of process %llu is closed", pid);
    else
        return NULL;
    return why;
}

proto_msg_t *
sbx_procs_input (sbx_procs_t *self, proto_msg_t *req)
{
    const proto_sandbox_exec_input_t *b = &req->body.sandbox_exec_input;
    proto_msg_t *rep = NULL;
    proc_t *p = find_or_refuse (self, &req, b->pid, &rep);
    if (!p)
        return rep;
    char why[256];
    size_t queued = sbx_stdin_queued (&p->in), written = 0;
    int rc;
    if (stdin_refusal (p, why, sizeof why))
        rep = bad (req, PROTO_ERR_bad_state, why);
    else if (queued && queued + b->data.size > SBX_STDIN_QUEUE_MAX)
        rep = proto_error_new (req, PROTO_ERR_busy, "pid: process %llu is not reading its input: "
                               "%zu bytes still queued (limit %d)", (unsigned long long) p->pid,
                               queued, SBX_STDIN_QUEUE_MAX);
    else if ((rc = sbx_stdin_put (&p->in, b->data.data, b->data.size, b->close, &written)))
        rep = rc == -1 ? bad (req, PROTO_ERR_bad_state, stdin_refusal (p, why, sizeof why))
                       : proto_error_new (req, PROTO_ERR_no_memory, "data: no memory to queue it");
    if (rep) {
        proto_msg_destroy (&req);
        return rep;
    }
    rep = proto_msg_new (PROTO_sandbox_ack, req);
    proto_set_str (&rep->body.sandbox_ack.sandbox_id, self->ctx->id);
    json_t *detail = json_pack ("{s:I, s:I, s:I, s:b}", "pid", (json_int_t) p->pid, "written",
                                (json_int_t) written, "queued",
                                (json_int_t) sbx_stdin_queued (&p->in), "closed",
                                p->in.fd < 0 || p->in.closing);
    mpjson_set (&rep->body.sandbox_ack.detail, detail, 2);
    json_decref (detail);
    proto_msg_destroy (&req);
    return rep;
}

/* Refills the interactive output's bucket; true when it holds tokens. */
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
 * how many of those are left, zombies included. */
static int
end_tree (proc_t *p)
{
    if (p->timed_out || WIFSIGNALED (p->status))
        return sbx_kill_tree (p->pid, SIGKILL);
    return sbx_kill_holders (p->pid, p->pipe_ino, 2);
}

/* Answers the foreground request and waiters once the process is done. */
static void
settle (sbx_procs_t *self, proc_t *p, uint64_t now)
{
    if (p->exited && (p->fd[1] >= 0 || p->fd[2] >= 0) && now >= p->drain_until) {
        /* the drain's grace is over and leftovers still hold the pipes (a
         * fork bomb's children would hold the pids limit for ever) */
        int ended = end_tree (p);
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
        if (now < p->tree_until && end_tree (p) > 0)
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
            self->ctx->send (self->ctx->send_arg, result_new (self, p, p->req));
            send_exit (self, p);
            proc_free (p);
            return;
        }
        if (p->interactive && !p->exit_sent)
            send_exit (self, p);
    }
    for (int w = 0; w < MAX_WAITERS; w++)
        if (p->waiters[w] && (done || now >= p->wait_deadline[w])) {
            self->ctx->send (self->ctx->send_arg, result_new (self, p, p->waiters[w]));
            proto_msg_destroy (&p->waiters[w]);
        }
}

void
sbx_procs_reap (sbx_procs_t *self)
{
    int status;
    pid_t pid;
    while ((pid = waitpid (-1, &status, WNOHANG)) > 0) {
        proc_t *p = find (self, (uint64_t) pid);
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
