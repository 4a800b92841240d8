/* sbx_proc_int: what the two halves of the init's process table share:
 * the requests (sbx_proc.c) and the poll loop's side, output, exits and
 * deadlines (sbx_proc_loop.c). Private to them. */
#ifndef SBX_PROC_INT_H
#define SBX_PROC_INT_H

#include "sbx_initd.h"
#include "sbx_stdin.h"

#include <sys/types.h>

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

/* Frees what p holds (its pipes, buffers, requests) and marks it unused. */
void sbx_proc_free (proc_t *p);

/* A new sandbox.exec.result for p, answering cause. */
proto_msg_t *sbx_proc_result (sbx_procs_t *self, proc_t *p, const proto_msg_t *cause);

/* The listed process with that pid, or NULL. */
proc_t *sbx_proc_find (sbx_procs_t *self, uint64_t pid);

#endif
