/* sbx_disk: a workspace's own filesystem (loop-mounted ext4 image, tmpfs,
 * or none). See sbx_disk.h. */
#define _GNU_SOURCE
#include "sbx_disk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <linux/magic.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#define WS "workspace"
#define IMG "workspace.img"

#ifndef LOOP_CONFIGURE
#define LOOP_CONFIGURE 0x4C0A
struct loop_config {
    __u32 fd;
    __u32 block_size;
    struct loop_info64 info;
    __u64 __reserved[8];
};
#endif

/* Formats the image at path: the inode limit is fixed here (-N), the
 * reserve is 0 (all of it is the sandbox's), no journal (a scratch
 * workspace; its image is checked by nothing and a crash loses at most
 * recent writes), no blocks reserved for growing it (it never grows) and
 * no discard of a file that is all holes, lazy init (format in
 * milliseconds). */
static int
format (const sbx_disk_opts_t *o, const char *path, char *why, size_t whylen)
{
    static const char *const mkfs[] = { "/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4",
                                        "/usr/bin/mkfs.ext4" };
    const char *bin = NULL;
    for (size_t i = 0; i < sizeof mkfs / sizeof mkfs[0] && !bin; i++)
        if (access (mkfs[i], X_OK) == 0)
            bin = mkfs[i];
    if (!bin) {
        snprintf (why, whylen, "mkfs.ext4 not found (install e2fsprogs)");
        return -1;
    }
    char n[24], ext[128];
    snprintf (n, sizeof n, "%llu", (unsigned long long) o->inodes);
    snprintf (ext, sizeof ext, "lazy_itable_init=1,lazy_journal_init=1,nodiscard");
    char *argv[] = { (char *) bin, "-q", "-F", "-m", "0", "-N", n, "-O", "^has_journal,^resize_inode",
                     "-E", ext, (char *) path, NULL };
    char *envp[] = { NULL };
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init (&fa);
    posix_spawn_file_actions_addopen (&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen (&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen (&fa, 2, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addclosefrom_np (&fa, 3);
    pid_t pid;
    int rc = posix_spawn (&pid, bin, &fa, NULL, argv, envp), st = 0;
    posix_spawn_file_actions_destroy (&fa);
    if (rc) {
        snprintf (why, whylen, "%s: %s", bin, strerror (rc));
        return -1;
    }
    while (waitpid (pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED (st) || WEXITSTATUS (st)) {
        snprintf (why, whylen, "%s failed (status %d)", bin, st);
        return -1;
    }
    return 0;
}

/* Binds the image to a free loop device that frees itself with its last
 * user, and mounts it on the workspace. */
/* True while a loop device holds the file st. */
static bool
image_bound (const struct stat *st)
{
    DIR *d = opendir ("/sys/block");
    bool bound = false;
    for (struct dirent *e; d && !bound && (e = readdir (d));) {
        if (strncmp (e->d_name, "loop", 4))
            continue;
        char dev[300];
        snprintf (dev, sizeof dev, "/dev/%s", e->d_name);
        int fd = open (dev, O_RDONLY | O_CLOEXEC);
        struct loop_info64 li;
        if (fd >= 0 && ioctl (fd, LOOP_GET_STATUS64, &li) == 0)
            bound = li.lo_inode == st->st_ino && li.lo_device == st->st_dev;
        if (fd >= 0)
            close (fd);
    }
    if (d)
        closedir (d);
    return bound;
}

bool
sbx_disk_image_bound (const char *dir)
{
    char img[4200];
    struct stat st;
    snprintf (img, sizeof img, "%s/" IMG, dir);
    return stat (img, &st) == 0 && image_bound (&st);
}

static int
attach_mount (char *why, size_t whylen)
{
    struct stat st;
    int waited = 0;
    /* an earlier init's filesystem on this image still going: mounting
     * now would read it without what it has yet to write back */
    while (stat (IMG, &st) == 0 && image_bound (&st) && waited < 30000) {
        usleep (20000);
        waited += 20;
    }
    if (waited >= 30000) {
        snprintf (why, whylen, "%s: still held by an earlier sandbox's loop device after 30 s", IMG);
        return -1;
    }
    int img = open (IMG, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    int ctl = open ("/dev/loop-control", O_RDWR | O_CLOEXEC);
    int rc = -1, lfd = -1, err = 0;
    char dev[32] = "";
    if (img < 0 || ctl < 0) {
        snprintf (why, whylen, "%s: %s", img < 0 ? IMG : "/dev/loop-control", strerror (errno));
        goto done;
    }
    /* Another helper may take the device GET_FREE named before us (EBUSY). */
    for (int tries = 0; tries < 16 && lfd < 0; tries++) {
        int n = ioctl (ctl, LOOP_CTL_GET_FREE);
        if (n < 0) {
            snprintf (why, whylen, "LOOP_CTL_GET_FREE: %s", strerror (errno));
            goto done;
        }
        snprintf (dev, sizeof dev, "/dev/loop%d", n);
        if ((lfd = open (dev, O_RDWR | O_CLOEXEC)) < 0) {
            snprintf (why, whylen, "%s: %s", dev, strerror (errno));
            goto done;
        }
        struct loop_config lc = { .fd = (__u32) img };
        lc.info.lo_flags = LO_FLAGS_AUTOCLEAR;
        snprintf ((char *) lc.info.lo_file_name, sizeof lc.info.lo_file_name, "caisson-workspace");
        if (ioctl (lfd, LOOP_CONFIGURE, &lc) == 0)
            break;
        err = errno;
        if (err == EINVAL || err == ENOTTY) {
            /* Kernels before 5.8: the two-step form. */
            if (ioctl (lfd, LOOP_SET_FD, img) == 0) {
                if (ioctl (lfd, LOOP_SET_STATUS64, &lc.info) == 0)
                    break;
                err = errno;
                ioctl (lfd, LOOP_CLR_FD, 0);
            }
            else
                err = errno;
        }
        close (lfd);
        lfd = -1;
        if (err != EBUSY) {
            snprintf (why, whylen, "attaching %s to %s: %s", IMG, dev, strerror (err));
            goto done;
        }
    }
    if (lfd < 0) {
        snprintf (why, whylen, "no free loop device");
        goto done;
    }
    if (mount (dev, WS, "ext4", MS_NOSUID | MS_NODEV, "")) {
        snprintf (why, whylen, "mount %s: %s", dev, strerror (errno));
        goto done;
    }
    rc = 0;
done:
    /* With AUTOCLEAR, closing the device detaches it unless mounted. */
    if (lfd >= 0)
        close (lfd);
    if (ctl >= 0)
        close (ctl);
    if (img >= 0)
        close (img);
    return rc;
}

/* Makes an empty sparse file of o->mb MiB at path (mode 0600). */
static int
sparse_new (const sbx_disk_opts_t *o, const char *path, char *why, size_t whylen)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    int rc = fd < 0 ? -1 : ftruncate (fd, (off_t) (o->mb << 20));
    if (rc)
        snprintf (why, whylen, "%s: %s", path, strerror (errno));
    if (fd >= 0)
        close (fd);
    return rc;
}

/* The formatted image every workspace with these limits starts as, in the
 * directory above the sandbox's: formatting once and copying its few
 * hundred KiB of metadata costs a fraction of a mkfs per sandbox. Made
 * under a private name and renamed, so helpers running at once never see
 * half of one. Writes its path into path. */
static int
template_get (const sbx_disk_opts_t *o, char *path, size_t pathlen, char *why, size_t whylen)
{
    /* v1: the mkfs options above; a change of them needs a new name. */
    snprintf (path, pathlen, "../.workspace-v1-%llum-%llui.img", (unsigned long long) o->mb,
              (unsigned long long) o->inodes);
    if (access (path, R_OK) == 0)
        return 0;
    char tmp[240];
    snprintf (tmp, sizeof tmp, "%s.%d", path, (int) getpid ());
    if (sparse_new (o, tmp, why, whylen) || format (o, tmp, why, whylen) || rename (tmp, path)) {
        if (!*why)
            snprintf (why, whylen, "%s: %s", path, strerror (errno));
        unlink (tmp);
        return -1;
    }
    return 0;
}

/* Copies the template's data (not its holes) into a new IMG. */
static int
copy_template (const sbx_disk_opts_t *o, const char *tpl, char *why, size_t whylen)
{
    int in = open (tpl, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), out = -1, rc = -1;
    if (in < 0 || sparse_new (o, IMG, why, whylen)
        || (out = open (IMG, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
        goto done;
    off_t end = lseek (in, 0, SEEK_END), at = 0;
    while (at < end && (at = lseek (in, at, SEEK_DATA)) >= 0) {
        off_t hole = lseek (in, at, SEEK_HOLE), dst = at;
        while (at < hole)
            if (copy_file_range (in, &at, out, &dst, (size_t) (hole - at), 0) <= 0)
                goto done;
    }
    rc = at < 0 && errno != ENXIO ? -1 : 0;
done:
    if (rc && !*why)
        snprintf (why, whylen, "copying %s: %s", tpl, strerror (errno));
    if (in >= 0)
        close (in);
    if (out >= 0)
        close (out);
    return rc;
}

static int
loop_new (const sbx_disk_opts_t *o, char *why, size_t whylen)
{
    /* No loop devices (a container): say so before formatting for nothing. */
    if (access ("/dev/loop-control", R_OK | W_OK)) {
        snprintf (why, whylen, "/dev/loop-control: %s", strerror (errno));
        return -1;
    }
    char tpl[200];
    *why = 0;
    if (template_get (o, tpl, sizeof tpl, why, whylen) || copy_template (o, tpl, why, whylen)
        || attach_mount (why, whylen)) {
        unlink (IMG);
        return -1;
    }
    /* The root is the sandbox's; mkfs's lost+found would show in every
     * listing of the workspace. */
    rmdir (WS "/lost+found");
    if (chown (WS, o->uid, o->uid) || chmod (WS, 0700)) {
        snprintf (why, whylen, "chown workspace: %s", strerror (errno));
        umount2 (WS, MNT_DETACH);
        unlink (IMG);
        return -1;
    }
    return 0;
}

static int
tmpfs_new (const sbx_disk_opts_t *o, char *why, size_t whylen)
{
    char opts[160];
    snprintf (opts, sizeof opts, "size=%llum,nr_inodes=%llu,mode=0700,uid=%u,gid=%u",
              (unsigned long long) o->mb, (unsigned long long) o->inodes, (unsigned) o->uid,
              (unsigned) o->uid);
    if (mount ("caisson-workspace", WS, "tmpfs", MS_NOSUID | MS_NODEV, opts)) {
        snprintf (why, whylen, "tmpfs: %s", strerror (errno));
        return -1;
    }
    return 0;
}

static bool
empty_dir (const char *path)
{
    DIR *d = opendir (path);
    struct dirent *e;
    bool empty = true;
    while (d && empty && (e = readdir (d)))
        empty = !strcmp (e->d_name, ".") || !strcmp (e->d_name, "..");
    if (d)
        closedir (d);
    return empty;
}

int
sbx_disk_prepare (const sbx_disk_opts_t *o, char *backend, char *note, size_t notelen,
                  char *why, size_t whylen)
{
    struct stat ws, here;
    *note = 0;
    bool any = !strcmp (o->backend, "auto");
    if (!any && strcmp (o->backend, "loop") && strcmp (o->backend, "tmpfs")
        && strcmp (o->backend, "none")) {
        snprintf (why, whylen, "CAISSON_SANDBOX_DISK_BACKEND: expected auto, loop, tmpfs or none, "
                  "got '%s'", o->backend);
        return -1;
    }
    if (stat (WS, &ws) || stat (".", &here)) {
        snprintf (why, whylen, "workspace: %s", strerror (errno));
        return -1;
    }
    if (ws.st_dev != here.st_dev) {
        struct statfs fs;
        strcpy (backend, statfs (WS, &fs) == 0 && fs.f_type == TMPFS_MAGIC ? "tmpfs" : "loop");
        return 0;
    }
    if (access (IMG, F_OK) == 0) {
        strcpy (backend, "loop");
        return attach_mount (why, whylen);
    }
    /* 16 TiB and 2^32 inodes: what ext4 with 4 KiB blocks can hold */
    if (!o->mb || !o->inodes || o->mb > (1ull << 24) || o->inodes > UINT32_MAX) {
        snprintf (why, whylen, "disk limit %llu MiB, %llu inodes: expected 1..16777216 MiB and "
                  "1..4294967295 inodes", (unsigned long long) o->mb,
                  (unsigned long long) o->inodes);
        return -1;
    }
    char tried[512] = "";
    strcpy (backend, "none");
    if (!strcmp (o->backend, "none"))
        return 0;
    if (!empty_dir (WS)) {
        /* Files from before workspaces had limits: mounting would hide them. */
        snprintf (note, notelen, "workspace has no disk limit: it holds files from before limits");
        return 0;
    }
    if (any || !strcmp (o->backend, "loop")) {
        if (loop_new (o, why, whylen) == 0) {
            strcpy (backend, "loop");
            return 0;
        }
        if (!any)
            return -1;
        snprintf (tried, sizeof tried, "loop: %s", why);
    }
    if (any || !strcmp (o->backend, "tmpfs")) {
        if (tmpfs_new (o, why, whylen) == 0) {
            strcpy (backend, "tmpfs");
            if (*tried)
                snprintf (note, notelen, "workspace on tmpfs (limited, not persistent): %s", tried);
            return 0;
        }
        if (!any)
            return -1;
        size_t n = strlen (tried);
        snprintf (tried + n, sizeof tried - n, "; %s", why);
    }
    snprintf (note, notelen, "workspace has no disk limit: %s", tried);
    return 0;
}

void
sbx_disk_release (const char *dir)
{
    char ws[4200];
    snprintf (ws, sizeof ws, "%s/" WS, dir);
    /* Mounted twice only by accident; never loop for long. */
    for (int i = 0; i < 4 && umount2 (ws, MNT_DETACH | UMOUNT_NOFOLLOW) == 0; i++)
        ;
}

static void
size_text (uint64_t mb, char *out, size_t outlen)
{
    if (mb && mb % 1024 == 0)
        snprintf (out, outlen, "%llu GiB", (unsigned long long) (mb / 1024));
    else
        snprintf (out, outlen, "%llu MiB", (unsigned long long) mb);
}

bool
sbx_disk_full (const char *path, uint64_t mb, uint64_t inodes, bool enospc, char *out,
               size_t outlen)
{
    struct statvfs v;
    bool known = statvfs (path, &v) == 0 && v.f_blocks && v.f_files;
    bool no_inodes = known && v.f_favail <= v.f_files / 100;
    bool no_blocks = known && v.f_bavail <= v.f_blocks / 100;
    if (!enospc && !no_inodes && !no_blocks)
        return false;
    char size[32];
    size_text (mb, size, sizeof size);
    if (!mb)
        snprintf (out, outlen, "no space left on the host's disk (the workspace has no limit)");
    else if (no_inodes && !no_blocks)
        snprintf (out, outlen, "workspace full (limit %llu files and directories)",
                  (unsigned long long) inodes);
    else
        snprintf (out, outlen, "workspace full (limit %s)", size);
    return true;
}
