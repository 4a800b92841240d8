/* sbx_initd: what the modules of a sandbox's pid 1 share. The init serves
 * the manager over one Unix socket connection at a time, all from one poll
 * loop (sbx_init.c): it answers file operations at once (sbx_files.c), runs
 * processes whose output and exit it reports as they happen (sbx_proc.c),
 * and reports changes under watched directories (sbx_watch.c). Those
 * modules reach the manager only through the context's send, so none of
 * them depends on the loop. The init runs inside the sandbox with the same
 * view, uid and filter as the sandbox's own processes, so nothing it does
 * for a request can reach further than the sandbox could by itself. */
#ifndef CAISSON_SBX_INITD_H
#define CAISSON_SBX_INITD_H

#include <jansson.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"
#include "sandbox_id.h"

typedef struct _sbx_ictx_t sbx_ictx_t;

/* Sends msg (an event, or a reply given later) to the manager and destroys
 * it; dropped when no manager is connected. */
typedef void (sbx_send_fn) (void *arg, proto_msg_t *msg);

struct _sbx_ictx_t {
    sbx_send_fn *send;      /* set by the poll loop, which owns the connection */
    void *send_arg;
    char id[SANDBOX_ID_SIZE];
    char language[32];
    json_t *env;            /* the sandbox's envVars (object) */
    uint64_t cap_bytes;     /* output cap per stream */
    uint64_t read_cap;      /* readFile cap */
    uint64_t disk_mb;       /* the workspace's disk limit (0: none) */
    uint64_t disk_inodes;   /* and its inode limit */
    bool net_policy;        /* network mode policy: forward 127.0.0.1:net_port (sbx_net.h) */
    unsigned net_port;
    int net_fd;             /* O_PATH of the host's DIR/net: the proxy's socket is there */
    int net_lfd;            /* policy: the listener of /run/caisson/egress.sock, else -1 */
};

/* The poll loop (sbx_init.c): serves the manager on listen_fd until the
 * init is killed; sets ctx's send. Returns only on a fatal error. */
int sbx_init_run (sbx_ictx_t *ctx, int listen_fd);

/* Processes (sbx_proc.c). exec and run_code take ownership of req and
 * return its reply, or NULL when the reply is sent later. The set lives as
 * long as the init (pid 1 ends only with the sandbox), so it has no destroy. */
typedef struct _sbx_procs_t sbx_procs_t;
sbx_procs_t *sbx_procs_new (sbx_ictx_t *ctx);
proto_msg_t *sbx_procs_exec (sbx_procs_t *self, proto_msg_t *req);
proto_msg_t *sbx_procs_run_code (sbx_procs_t *self, proto_msg_t *req);
/* sandbox.exec.list, .cancel, .kill, .wait and .output, one each: as exec
 * (wait answers later while the process runs). */
proto_msg_t *sbx_procs_list (sbx_procs_t *self, proto_msg_t *req);
proto_msg_t *sbx_procs_cancel (sbx_procs_t *self, proto_msg_t *req);
proto_msg_t *sbx_procs_kill (sbx_procs_t *self, proto_msg_t *req);
proto_msg_t *sbx_procs_wait (sbx_procs_t *self, proto_msg_t *req);
proto_msg_t *sbx_procs_output (sbx_procs_t *self, proto_msg_t *req);
/* sandbox.exec.input: bytes for an interactive process's stdin, written or
 * queued (never blocking), answered at once. */
proto_msg_t *sbx_procs_input (sbx_procs_t *self, proto_msg_t *req);
/* Adds the fds to poll (at most max) and returns how many; *timeout_ms is
 * lowered to the nearest deadline. */
int sbx_procs_pollfds (sbx_procs_t *self, struct pollfd *fds, int max, int *timeout_ms);
/* Handles what poll reported on fds, reaps children, enforces deadlines. */
void sbx_procs_service (sbx_procs_t *self, const struct pollfd *fds, int nfds);
void sbx_procs_reap (sbx_procs_t *self);

/* Signals root's whole tree: descendants by parent link (a child that
 * started its own session included), and what is left of its session and
 * group; SIGKILL rounds stop everything first and go on until nothing of
 * it lives, so a fork bomb cannot outrun it (sbx_tree.c). Returns how many
 * of its processes are left, unreaped zombies included. */
int sbx_kill_tree (pid_t root, int sig);
/* Kills those of root's tree that hold one of the pipes ino[0..nino) (a
 * command's leftovers still writing to its output) the same way; returns
 * how many of them are left, zombies included, and *found how many held a
 * pipe when it began (a busy machine may see them all gone by the end). */
int sbx_kill_holders (pid_t root, const ino_t *ino, int nino, int *found);

/* Files (sbx_files.c): each answers one file request, of its own type, at
 * once. They return the reply (an `error` naming the path on refusal). */
proto_msg_t *sbx_files_write (sbx_ictx_t *ctx, const proto_msg_t *req);      /* write_file */
proto_msg_t *sbx_files_write_many (sbx_ictx_t *ctx, const proto_msg_t *req); /* write_files */
proto_msg_t *sbx_files_mkdir (sbx_ictx_t *ctx, const proto_msg_t *req);      /* create_directory */
proto_msg_t *sbx_files_read (sbx_ictx_t *ctx, const proto_msg_t *req);       /* read_file */
proto_msg_t *sbx_files_info (sbx_ictx_t *ctx, const proto_msg_t *req);       /* get_file_info */
proto_msg_t *sbx_files_size (sbx_ictx_t *ctx, const proto_msg_t *req);       /* get_file_size */
proto_msg_t *sbx_files_list (sbx_ictx_t *ctx, const proto_msg_t *req);       /* list_files */
proto_msg_t *sbx_files_delete (sbx_ictx_t *ctx, const proto_msg_t *req);     /* delete_file */
proto_msg_t *sbx_files_exists (sbx_ictx_t *ctx, const proto_msg_t *req);     /* check_file_exists */
/* Resolves path (relative to /workspace) into out, refusing `..`, paths
 * outside /workspace and /tmp, and symlinks that lead out. want_parent
 * resolves all but the last component (for creating it). Returns 0 or -1
 * with why set. */
int sbx_files_resolve (const char *path, bool want_parent, char *out, size_t outlen,
                       char *why, size_t whylen);

/* Watches (sbx_watch.c): inotify, one instance made on the first start. */
typedef struct _sbx_watch_t sbx_watch_t;
sbx_watch_t *sbx_watch_new (sbx_ictx_t *ctx);     /* never NULL (xalloc) */
void sbx_watch_destroy (sbx_watch_t **self_p);
/* Answer sandbox.watch.start and sandbox.watch.stop. */
proto_msg_t *sbx_watch_start (sbx_watch_t *self, const proto_msg_t *req);
proto_msg_t *sbx_watch_stop (sbx_watch_t *self, const proto_msg_t *req);
/* The inotify descriptor to poll, or -1 before the first start. */
int sbx_watch_fd (sbx_watch_t *self);
/* Reads what inotify holds and sends a `sandbox.fs_event` per change. */
void sbx_watch_service (sbx_watch_t *self);

#endif
