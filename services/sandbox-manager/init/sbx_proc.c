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
 * nothing is lost), and its exit is published as well.
 *
 * This half takes the requests; sbx_proc_loop.c is the poll loop's side. */
#define _GNU_SOURCE
#include "sbx_proc_int.h"
#include "sbx_cmd.h"
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

void
sbx_proc_free (proc_t *p)
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

proto_msg_t *
sbx_proc_result (sbx_procs_t *self, proc_t *p, const proto_msg_t *cause)
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
        sbx_proc_free (old);
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
    proto_msg_t *rep = sbx_proc_result (self, p, req);
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

proc_t *
sbx_proc_find (sbx_procs_t *self, uint64_t pid)
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
    proc_t *p = sbx_proc_find (self, pid);
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
        rep = sbx_proc_result (self, p, req);
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
    rep = sbx_proc_result (self, p, req);
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
