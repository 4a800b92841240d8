/* caisson-sandbox-init: makes one sandbox and becomes its pid 1.
 *
 * sandbox-manager starts this single-threaded helper (as root on the host,
 * with an empty environment) for each sandbox:
 *
 *   caisson-sandbox-init ID DIR UID NET TMP_MB NOFILE FSIZE_MB CAP READ_CAP CGROUPS ROOT
 *                        DISK_MB INODES DISK_BACKEND PORT
 *
 * NET is none, policy or host; in policy the init forwards 127.0.0.1:PORT
 * inside to egress-proxy (sbx_net).
 *
 * It joins the sandbox's cgroups (CGROUPS: ':'-separated cgroup.procs
 * files, or '-'), makes DIR/workspace a filesystem of its own with the disk
 * and inode limits (sbx_disk), listens on DIR/ctl.sock, forks the sandbox's init into
 * new namespaces (sbx_ns), writes its id maps, waits until the init has
 * built its filesystem and confined itself (sbx_seccomp), then writes the
 * init's host pid and the workspace's backend (`PID BACKEND [NOTE]`, or
 * `E <reason>`) on fd 3 and exits. The init serves the
 * manager on ctl.sock (sbx_init.c) until it is killed; when it dies, the
 * kernel kills everything else in the sandbox. */
#define _GNU_SOURCE
#include "sbx_disk.h"
#include "sbx_initd.h"
#include "sbx_ns.h"
#include "sbx_seccomp.h"
#include "svc.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static int
join_cgroups (char *list)
{
    if (!strcmp (list, "-"))
        return 0;
    for (char *save, *p = strtok_r (list, ":", &save); p; p = strtok_r (NULL, ":", &save)) {
        int fd = open (p, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            return -1;
        int rc = dprintf (fd, "%d\n", (int) getpid ()) > 0 ? 0 : -1;
        close (fd);
        if (rc)
            return -1;
    }
    return 0;
}

static int
listen_on (const char *dir)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    if (snprintf (a.sun_path, sizeof a.sun_path, "%s/ctl.sock", dir) >= (int) sizeof a.sun_path)
        return -1;
    unlink (a.sun_path);
    int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind (fd, (struct sockaddr *) &a, sizeof a) || chmod (a.sun_path, 0600)
        || listen (fd, 4))
        return -1;
    return fd;
}

static void
child (const sbx_ns_opts_t *o, const sbx_rlimits_t *lim, sbx_ictx_t *ctx, int go, int ready,
       int lfd)
{
    char why[512] = "", c;
    close (3);
    if (read (go, &c, 1) != 1)
        _exit (1);
    close (go);
    if (sbx_ns_setup (o, &ctx->net_fd, &ctx->net_lfd, why, sizeof why) == 0
        && sbx_confine (lim, why, sizeof why) == 0) {
        setsid ();
        if (write (ready, "OK", 2) != 2)
            _exit (1);
        close (ready);
        _exit (sbx_init_run (ctx, lfd));
    }
    dprintf (ready, "E %s", why);
    _exit (1);
}

int
main (int argc, char **argv)
{
    if (argc != 16) {
        fprintf (stderr, "usage: caisson-sandbox-init ID DIR UID NET TMP_MB NOFILE FSIZE_MB CAP "
                         "READ_CAP CGROUPS ROOT DISK_MB INODES DISK_BACKEND PORT (started by "
                         "sandbox-manager)\n");
        return 2;
    }
    /* Only the word pipe (3) is ours to hold: nothing else of the manager
     * may reach the sandbox, even one it forgot to mark close-on-exec. */
    svc_close_from (4);
    sbx_ns_opts_t o = { .id = argv[1], .dir = argv[2], .host_uid = (uid_t) atol (argv[3]),
                        .host_net = !strcmp (argv[4], "host"),
                        .policy = !strcmp (argv[4], "policy"), .tmp_mb = (unsigned) atoi (argv[5]),
                        .template_root = argv[11] };
    sbx_rlimits_t lim = { .nofile = strtoull (argv[6], NULL, 10),
                          .fsize_mb = strtoull (argv[7], NULL, 10) };
    sbx_ictx_t ctx = { .cap_bytes = strtoull (argv[8], NULL, 10),
                       .read_cap = strtoull (argv[9], NULL, 10),
                       .net_policy = !strcmp (argv[4], "policy"),
                       .net_port = (unsigned) atoi (argv[15]) };
    snprintf (ctx.id, sizeof ctx.id, "%s", argv[1]);
    if (join_cgroups (argv[10])) {
        dprintf (3, "E joining cgroup: %s\n", strerror (errno));
        return 1;
    }
    sbx_disk_opts_t disk = { .mb = strtoull (argv[12], NULL, 10),
                             .inodes = strtoull (argv[13], NULL, 10), .backend = argv[14],
                             .uid = o.host_uid };
    char backend[8], note[600], why[600];
    if (chdir (o.dir)) {
        dprintf (3, "E %s: %s\n", o.dir, strerror (errno));
        return 1;
    }
    if (sbx_disk_prepare (&disk, backend, note, sizeof note, why, sizeof why)) {
        dprintf (3, "E workspace: %s\n", why);
        return 1;
    }
    if (strcmp (backend, "none")) {
        ctx.disk_mb = disk.mb;
        ctx.disk_inodes = disk.inodes;
    }
    int lfd = listen_on (o.dir);
    int go[2], ready[2];
    if (lfd < 0 || pipe2 (go, O_CLOEXEC) || pipe2 (ready, O_CLOEXEC)) {
        dprintf (3, "E control socket: %s\n", strerror (errno));
        return 1;
    }
    /* The new user namespace's owner is the effective uid at the clone.
     * The kernel charges a namespace's per-user counts (inotify instances
     * and watches, among others) to its owner too: were it root, one
     * sandbox could take root's share, the host's and every other
     * sandbox's. Owned by the sandbox's own uid, it takes only its own.
     * Real and saved ids stay root's, so the helper takes root back. */
    if (setresgid ((gid_t) -1, (gid_t) o.host_uid, (gid_t) -1)
        || setresuid ((uid_t) -1, o.host_uid, (uid_t) -1)) {
        dprintf (3, "E owner of the namespaces: %s\n", strerror (errno));
        return 1;
    }
    pid_t pid = (pid_t) syscall (SYS_clone, sbx_ns_flags (&o) | SIGCHLD, NULL, NULL, NULL, 0);
    int clone_errno = errno;
    if (pid != 0 && (setresuid ((uid_t) -1, 0, (uid_t) -1) || setresgid ((gid_t) -1, 0, (gid_t) -1))) {
        dprintf (3, "E taking root back: %s\n", strerror (errno));
        if (pid > 0)
            kill (pid, SIGKILL);
        return 1;
    }
    errno = clone_errno;
    if (pid == 0) {
        close (go[1]);
        close (ready[0]);
        child (&o, &lim, &ctx, go[0], ready[1], lfd);
    }
    if (pid < 0) {
        dprintf (3, "E clone: %s\n", strerror (errno));
        return 1;
    }
    close (go[0]);
    close (ready[1]);
    close (lfd);
    if (sbx_ns_map_ids (pid, o.host_uid)) {
        dprintf (3, "E id maps: %s\n", strerror (errno));
        kill (pid, SIGKILL);
        return 1;
    }
    char buf[600];
    ssize_t n = write (go[1], "g", 1) == 1 ? read (ready[0], buf, sizeof buf - 1) : -1;
    if (n == 2 && !memcmp (buf, "OK", 2)) {
        dprintf (3, "%d %s%s%s\n", (int) pid, backend, *note ? " " : "", note);
        return 0;
    }
    buf[n > 0 ? n : 0] = 0;
    dprintf (3, "%s\n", n > 0 ? buf : "E init died during set-up");
    kill (pid, SIGKILL);
    waitpid (pid, NULL, 0);
    return 1;
}
