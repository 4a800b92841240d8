/* sbx_disk: each sandbox's workspace is a filesystem of its own, so its
 * size and its number of files are limits the kernel enforces: a full
 * workspace answers ENOSPC to that sandbox alone, and the host's data dir
 * (the services' LMDB stores, logs, tokens) keeps its space and inodes.
 *
 * The backends, in the order `auto` tries them:
 *   loop   an ext4 image (DIR/workspace.img, sparse, 0600): a copy of a
 *          template formatted once per pair of limits (beside the sandboxes'
 *          directories), attached to a loop device with
 *          LO_FLAGS_AUTOCLEAR and mounted nosuid,nodev on DIR/workspace in
 *          the host's mount namespace. The image keeps the files: a restart
 *          of the manager finds the mount in place, a reboot or `caisson
 *          down` re-attaches the image.
 *   tmpfs  a tmpfs with size= and nr_inodes= on DIR/workspace, where loop
 *          devices are not available (containers): still enforced by the
 *          kernel, but memory-backed and lost with its mount.
 *   none   a plain directory: no limit (logged, and in the sandbox's reason).
 * Because the workspace is the root of its own filesystem, the sandbox's
 * mountinfo shows its root as "/" and no host path. */
#ifndef CAISSON_SBX_DISK_H
#define CAISSON_SBX_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct {
    uint64_t mb;            /* disk limit in MiB */
    uint64_t inodes;        /* files and directories */
    const char *backend;    /* "auto", "loop", "tmpfs" or "none" */
    uid_t uid;              /* owner of the workspace's root (the sandbox's root) */
} sbx_disk_opts_t;

/* In the helper (single-threaded, host root, host mount namespace, cwd the
 * sandbox's directory): makes DIR/workspace the sandbox's own filesystem
 * unless it already is (a heal, a restarted manager). An existing image is
 * re-attached, never replaced. Writes the backend used into backend (at
 * least 8 bytes) and, after a fallback, why into note. Returns 0, or -1
 * with why set (the sandbox must not start: its files would be hidden). */
int sbx_disk_prepare (const sbx_disk_opts_t *o, char *backend, char *note, size_t notelen,
                      char *why, size_t whylen);

/* In the manager: detaches the workspace mount of sandbox directory dir
 * (lazily: a dying sandbox's mount namespace may hold it a moment longer;
 * its loop device goes with its last user). */
void sbx_disk_release (const char *dir);

/* True while a loop device holds the workspace image of sandbox directory
 * dir: an init that died (killed by `caisson down`, or crashed) leaves its
 * filesystem alive a while longer (seconds under load), and it writes its
 * last data back only as it goes. Whoever mounts the image again first
 * waits for this to be false, or reads it without that data. */
bool sbx_disk_image_bound (const char *dir);

/* Whether the filesystem at path is at its disk or inode limit (less than
 * 1% left), or enospc (the caller saw ENOSPC or EDQUOT there); then out
 * says so for a person, e.g. "workspace full (limit 1 GiB)". mb and inodes
 * are the limits (0: none set). */
bool sbx_disk_full (const char *path, uint64_t mb, uint64_t inodes, bool enospc, char *out,
                    size_t outlen);

#endif
