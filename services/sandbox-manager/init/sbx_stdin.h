/* sbx_stdin: the standard input of a process the init runs: the bytes an
 * exec gives at start (then closed) or, for an interactive process, bytes
 * fed while it runs (sandbox.exec.input). Nothing here blocks the init's
 * loop: what the pipe cannot take is queued and written when poll finds
 * the pipe writable. The init is pid 1 of its pid namespace, which the
 * kernel spares SIGPIPE, so a reader gone shows as EPIPE. A value kept
 * inside the process's record (sbx_proc.c), not shared. */
#ifndef CAISSON_SBX_STDIN_H
#define CAISSON_SBX_STDIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes an interactive stdin may hold unwritten. */
#define SBX_STDIN_QUEUE_MAX 1048576

typedef struct {
    int fd;                 /* the pipe's write end, or -1 once closed */
    bool interactive;       /* stays open while its queue is empty */
    bool closing;           /* close once the queue is written */
    bool closed, broken;    /* closed on request; found closed by the process */
    uint8_t *q;             /* the queue: bytes off..len still to write */
    size_t len, off;
} sbx_stdin_t;

/* Sets self up over fd (non-blocking, taken) with data queued first; a
 * stdin that is not interactive closes once data is written (at once when
 * there is none). Returns 0, or -1 out of memory (then closed). */
int sbx_stdin_open (sbx_stdin_t *self, int fd, const uint8_t *data, size_t len,
                    bool interactive);

/* Bytes queued and not yet written. */
size_t sbx_stdin_queued (const sbx_stdin_t *self);

/* Writes len bytes after what is queued: straight into the pipe when
 * nothing waits, the rest queued (the caller checks the queue's limit);
 * close: close once all is written. *written is what went into the pipe
 * now. Returns 0; -1 when the reader is gone (broken set); -2 out of
 * memory. It never closes fd itself: the loop does (sbx_stdin_service),
 * since a number closed while handling requests could be reused by a
 * process started in the same round and get the old one's poll result. */
int sbx_stdin_put (sbx_stdin_t *self, const uint8_t *data, size_t len, bool close,
                   size_t *written);

/* The poll events to wait for on fd: POLLOUT while bytes are queued or a
 * close is due, else none (errors only: a writable pipe would wake the
 * loop for ever). */
short sbx_stdin_events (const sbx_stdin_t *self);

/* Handles what poll reported on fd: writes the queue, closes when done, when
 * a close is due, or when the reader is gone. */
void sbx_stdin_service (sbx_stdin_t *self, short revents);

/* Closes it and drops the queue; broken: the process closed its end. */
void sbx_stdin_close (sbx_stdin_t *self, bool broken);

#endif
