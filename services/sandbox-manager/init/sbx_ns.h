/* sbx_ns: builds a sandbox's namespaces and filesystem. Runs in the
 * single-threaded helper binary caisson-sandbox-init (never in the
 * multi-threaded manager), which forks the sandbox's pid 1 into new user,
 * pid, mount, uts, ipc, cgroup (and unless asked otherwise, net)
 * namespaces, maps its root to one unprivileged host uid, and gives it a
 * new root: a read-only tmpfs holding read-only binds of the host's /usr,
 * /etc and /opt (or of a template root), the workspace at /workspace, a
 * size-limited /tmp, a private /proc, a minimal /dev and a read-only
 * /run/caisson (network mode policy: the init's egress socket). Nothing
 * else of the host (the data dir, other workspaces, /work, /root) is
 * reachable. */
#ifndef CAISSON_SBX_NS_H
#define CAISSON_SBX_NS_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct {
    const char *id;          /* sandbox id (hostname) */
    const char *dir;         /* $CAISSON_DATA/sandboxes/<id>: root/, workspace/, ctl.sock */
    const char *template_root; /* directory the ro root comes from; "/" for the host */
    uid_t host_uid;          /* the host id the sandbox's root maps to */
    bool host_net;           /* share the host's network namespace */
    bool policy;             /* network mode policy: /run/caisson/egress.sock */
    unsigned tmp_mb;         /* size of /tmp */
} sbx_ns_opts_t;

/* In the child only: finishes the filesystem after the uid map is written
 * (mounts, pivot_root, hostname, lo up). *net_fd receives an O_PATH
 * descriptor (close-on-exec) of DIR/net, where egress-proxy puts the
 * sandbox's socket: reached from inside only through it. /run/caisson is
 * a read-only tmpfs; in policy mode it holds egress.sock, whose listener
 * *net_lfd receives (else -1). Returns 0, or -1 with why set. */
int sbx_ns_setup (const sbx_ns_opts_t *o, int *net_fd, int *net_lfd, char *why, size_t whylen);

/* In the parent: writes the child's uid and gid maps. Returns 0 or -1. */
int sbx_ns_map_ids (pid_t child, uid_t host_uid);

/* Clone flags for o. */
int sbx_ns_flags (const sbx_ns_opts_t *o);

#endif
