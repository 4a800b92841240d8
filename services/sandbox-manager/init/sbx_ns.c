/* sbx_ns: namespaces, id maps and the sandbox's mount tree. See sbx_ns.h. */
#define _GNU_SOURCE
#include "sbx_ns.h"
#include "egress_rule.h"
#include "proto.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#define FAIL(...) do { snprintf (why, whylen, __VA_ARGS__); return -1; } while (0)

int
sbx_ns_flags (const sbx_ns_opts_t *o)
{
    int f = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC
            | CLONE_NEWCGROUP;
    if (!o->host_net)
        f |= CLONE_NEWNET;
    return f;
}

static int
write_file (const char *path, const char *text)
{
    int fd = open (path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write (fd, text, strlen (text));
    close (fd);
    return n == (ssize_t) strlen (text) ? 0 : -1;
}

int
sbx_ns_map_ids (pid_t child, uid_t host_uid)
{
    char path[64], map[64];
    snprintf (map, sizeof map, "0 %u 1\n", (unsigned) host_uid);
    snprintf (path, sizeof path, "/proc/%d/setgroups", (int) child);
    if (write_file (path, "deny"))
        return -1;
    snprintf (path, sizeof path, "/proc/%d/uid_map", (int) child);
    if (write_file (path, map))
        return -1;
    snprintf (path, sizeof path, "/proc/%d/gid_map", (int) child);
    return write_file (path, map);
}

/* Makes every mount at and under path read-only in one call. */
static int
make_readonly (const char *path)
{
    struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV };
    return (int) syscall (SYS_mount_setattr, AT_FDCWD, path, AT_RECURSIVE, &attr, sizeof attr);
}

/* /run/caisson: a read-only tmpfs of its own (so the sandbox's mounts
 * name nothing of the host), holding in policy mode the init's socket
 * egress.sock (0666), which the init relays to the proxy like its TCP
 * port; empty otherwise. *lfd receives the listener, or -1. */
static int
run_caisson (const char *root, bool policy, int *lfd)
{
    char path[4300];
    struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID
                                           | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC };
    snprintf (path, sizeof path, "%s/run", root);
    if (mkdir (path, 0755))
        return -1;
    snprintf (path, sizeof path, "%s%s", root, EGRESS_SANDBOX_DIR);
    if (mkdir (path, 0755) || mount ("tmpfs", path, "tmpfs", 0, "size=16k,mode=755"))
        return -1;
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    if (policy) {
        /* Bound relative to the sandbox's directory (the cwd), so the path fits. */
        if (snprintf (a.sun_path, sizeof a.sun_path, "%s%s/%s", root, EGRESS_SANDBOX_DIR,
                      EGRESS_SOCKET_NAME) >= (int) sizeof a.sun_path)
            return -1;
        *lfd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (*lfd < 0 || bind (*lfd, (struct sockaddr *) &a, sizeof a)
            || chmod (a.sun_path, 0666) || listen (*lfd, 64))
            return -1;
    }
    return (int) syscall (SYS_mount_setattr, AT_FDCWD, path, 0, &attr, sizeof attr);
}

/* Binds src at root/name read-only, or copies it as a symlink when it is one. */
static int
bind_ro (const char *src, const char *dst)
{
    struct stat st;
    if (lstat (src, &st))
        return errno == ENOENT ? 0 : -1;
    if (S_ISLNK (st.st_mode)) {
        char target[4096];
        ssize_t n = readlink (src, target, sizeof target - 1);
        if (n < 0)
            return -1;
        target[n] = 0;
        return symlink (target, dst);
    }
    if (mkdir (dst, 0755) && errno != EEXIST)
        return -1;
    if (mount (src, dst, NULL, MS_BIND | MS_REC, NULL))
        return -1;
    return make_readonly (dst);
}

static int
mount_dev (const char *root)
{
    char dev[4200], path[4300];
    snprintf (dev, sizeof dev, "%s/dev", root);
    if (mkdir (dev, 0755) || mount ("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=755"))
        return -1;
    static const char *const nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };
    for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
        char src[64];
        snprintf (src, sizeof src, "/dev/%s", nodes[i]);
        snprintf (path, sizeof path, "%s/%s", dev, nodes[i]);
        int fd = open (path, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
        if (fd < 0)
            return -1;
        close (fd);
        if (mount (src, path, NULL, MS_BIND, NULL) && nodes[i][1] != 't')
            return -1;
    }
    static const char *const links[][2] = { { "/proc/self/fd", "fd" }, { "/proc/self/fd/0", "stdin" },
                                            { "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" } };
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        snprintf (path, sizeof path, "%s/%s", dev, links[i][1]);
        if (symlink (links[i][0], path))
            return -1;
    }
    snprintf (path, sizeof path, "%s/shm", dev);
    return mkdir (path, 01777) || mount ("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV,
                                         "size=16m,mode=1777");
}

static void
loopback_up (void)
{
    int s = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return;
    struct ifreq ifr;
    memset (&ifr, 0, sizeof ifr);
    strcpy (ifr.ifr_name, "lo");
    if (ioctl (s, SIOCGIFFLAGS, &ifr) == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        ioctl (s, SIOCSIFFLAGS, &ifr);
    }
    close (s);
}

int
sbx_ns_setup (const sbx_ns_opts_t *o, int *net_fd, int *net_lfd, char *why, size_t whylen)
{
    char root[4096], path[4300], src[4300];
    *net_lfd = -1;
    /* The egress socket's directory, held (not mounted: a bind of it would
     * name the host's data dir in the sandbox's mountinfo) for the init's
     * forwarder alone; the sandbox's processes cannot use another
     * process's descriptors (pid 1 is not dumpable): they reach the proxy
     * only through the init (127.0.0.1:PORT or /run/caisson/egress.sock). */
    *net_fd = open ("net", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (*net_fd < 0)
        FAIL ("net: %s", strerror (errno));
    if (setresgid (0, 0, 0) || setresuid (0, 0, 0))
        FAIL ("setresuid: %s", strerror (errno));
    if (mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
        FAIL ("make / private: %s", strerror (errno));
    /* Relative to the sandbox's directory (the helper's cwd), so no parent of
     * it need be searchable by the sandbox's uid. */
    snprintf (root, sizeof root, "root");
    if (mount ("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755"))
        FAIL ("tmpfs root: %s", strerror (errno));
    static const char *const tops[] = { "usr", "etc", "opt", "bin", "sbin", "lib", "lib32",
                                        "lib64", "libx32" };
    const char *tpl = strcmp (o->template_root, "/") ? o->template_root : "";
    for (size_t i = 0; i < sizeof tops / sizeof tops[0]; i++) {
        snprintf (src, sizeof src, "%s/%s", tpl, tops[i]);
        snprintf (path, sizeof path, "%s/%s", root, tops[i]);
        if (bind_ro (src, path))
            FAIL ("bind %s: %s", src, strerror (errno));
    }
    snprintf (path, sizeof path, "%s%s", root, PROTO_SANDBOX_WORKSPACE);
    snprintf (src, sizeof src, "workspace");
    if (mkdir (path, 0755) || mount (src, path, NULL, MS_BIND | MS_NOSUID | MS_NODEV, NULL))
        FAIL ("bind workspace: %s", strerror (errno));
    char opts[64];
    snprintf (opts, sizeof opts, "size=%um,mode=1777", o->tmp_mb);
    snprintf (path, sizeof path, "%s/tmp", root);
    if (mkdir (path, 01777) || mount ("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, opts))
        FAIL ("tmpfs /tmp: %s", strerror (errno));
    snprintf (path, sizeof path, "%s/proc", root);
    if (mkdir (path, 0555) || mount ("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL))
        FAIL ("mount /proc: %s", strerror (errno));
    if (mount_dev (root))
        FAIL ("minimal /dev: %s", strerror (errno));
    if (run_caisson (root, o->policy, net_lfd))
        FAIL ("%s: %s", EGRESS_SANDBOX_DIR, strerror (errno));
    if (chdir (root) || syscall (SYS_pivot_root, ".", ".") || umount2 (".", MNT_DETACH))
        FAIL ("pivot_root: %s", strerror (errno));
    if (mount (NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL))
        FAIL ("read-only root: %s", strerror (errno));
    if (chdir (PROTO_SANDBOX_WORKSPACE))
        FAIL ("chdir %s: %s", PROTO_SANDBOX_WORKSPACE, strerror (errno));
    if (sethostname ("sandbox", 7))
        FAIL ("sethostname: %s", strerror (errno));
    if (!o->host_net)
        loopback_up ();
    return 0;
}
