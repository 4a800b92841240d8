/* sbx_cgroup: see sbx_cgroup.h. */
#define _GNU_SOURCE
#include "sbx_cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ROOT "/sys/fs/cgroup"

static bool
is_v2 (void)
{
    return access (ROOT "/cgroup.controllers", F_OK) == 0;
}

static int
put (const char *dir, const char *file, const char *val)
{
    char p[512];
    if (snprintf (p, sizeof p, "%s/%s", dir, file) >= (int) sizeof p)
        return -1;
    int fd = open (p, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write (fd, val, strlen (val));
    close (fd);
    return n == (ssize_t) strlen (val) ? 0 : -1;
}

static int
make (const char *parent, const char *id, char *dir, size_t len)
{
    char p[512];
    /* dir is named first, so a failure at the parent still says where. */
    snprintf (dir, len, "%s/caisson/%s", parent, id);
    snprintf (p, sizeof p, "%s/caisson", parent);
    if (mkdir (p, 0755) && errno != EEXIST)
        return -1;
    return mkdir (dir, 0755) && errno != EEXIST ? -1 : 0;
}

int
sbx_cgroup_create (const char *id, uint64_t memory_mb, uint64_t cpus, uint64_t pids, char *procs,
                   size_t procslen, char *why, size_t whylen)
{
    char dir[512], v[64];
    snprintf (procs, procslen, "-");
    if (is_v2 ()) {
        put (ROOT, "cgroup.subtree_control", "+memory +pids +cpu");
        put (ROOT "/caisson", "cgroup.subtree_control", "+memory +pids +cpu");
        if (make (ROOT, id, dir, sizeof dir)) {
            snprintf (why, whylen, "cgroup v2: cannot create %s: %s", dir, strerror (errno));
            return -1;
        }
        snprintf (v, sizeof v, "%llu", (unsigned long long) memory_mb << 20);
        int rc = put (dir, "memory.max", v);
        put (dir, "memory.swap.max", "0");
        snprintf (v, sizeof v, "%llu", (unsigned long long) pids);
        rc |= put (dir, "pids.max", v);
        snprintf (v, sizeof v, "%llu 100000", (unsigned long long) cpus * 100000);
        rc |= put (dir, "cpu.max", v);
        if (rc) {
            snprintf (why, whylen, "cgroup v2: cannot set limits in %s: %s", dir, strerror (errno));
            return -1;
        }
        snprintf (procs, procslen, "%s/cgroup.procs", dir);
        return 0;
    }
    static const char *const ctl[] = { "memory", "pids", "cpu", "freezer" };
    size_t off = 0;
    for (size_t i = 0; i < 4; i++) {
        char parent[128];
        snprintf (parent, sizeof parent, ROOT "/%s", ctl[i]);
        if (make (parent, id, dir, sizeof dir)) {
            snprintf (why, whylen, "cgroup v1: cannot create %s: %s", dir, strerror (errno));
            snprintf (procs, procslen, "-");
            return -1;
        }
        int rc = 0;
        if (i == 0) {
            snprintf (v, sizeof v, "%llu", (unsigned long long) memory_mb << 20);
            rc = put (dir, "memory.limit_in_bytes", v);
            put (dir, "memory.memsw.limit_in_bytes", v);
        } else if (i == 1) {
            snprintf (v, sizeof v, "%llu", (unsigned long long) pids);
            rc = put (dir, "pids.max", v);
        } else if (i == 2) {
            snprintf (v, sizeof v, "%llu", (unsigned long long) cpus * 100000);
            rc = put (dir, "cpu.cfs_period_us", "100000") || put (dir, "cpu.cfs_quota_us", v);
        }
        if (rc) {
            snprintf (why, whylen, "cgroup v1: cannot set limits in %s: %s", dir, strerror (errno));
            snprintf (procs, procslen, "-");
            return -1;
        }
        off += (size_t) snprintf (procs + off, procslen - off, "%s%s/cgroup.procs", off ? ":" : "", dir);
    }
    return 0;
}

int
sbx_cgroup_freeze (const char *id, bool frozen)
{
    char dir[512];
    if (is_v2 ()) {
        snprintf (dir, sizeof dir, ROOT "/caisson/%s", id);
        return put (dir, "cgroup.freeze", frozen ? "1" : "0");
    }
    snprintf (dir, sizeof dir, ROOT "/freezer/caisson/%s", id);
    return put (dir, "freezer.state", frozen ? "FROZEN" : "THAWED");
}

/* Kills every pid listed in dir/cgroup.procs; returns how many were there. */
static int
kill_all (const char *dir)
{
    char p[600];
    snprintf (p, sizeof p, "%s/cgroup.procs", dir);
    FILE *f = fopen (p, "re");
    int n = 0, pid;
    while (f && fscanf (f, "%d", &pid) == 1) {
        kill (pid, SIGKILL);
        n++;
    }
    if (f)
        fclose (f);
    return n;
}

int
sbx_cgroup_kill (const char *id)
{
    char dir[512];
    if (is_v2 ())
        snprintf (dir, sizeof dir, ROOT "/caisson/%s", id);
    else
        snprintf (dir, sizeof dir, ROOT "/pids/caisson/%s", id);
    if (access (dir, F_OK))
        return 0;
    put (dir, "cgroup.kill", "1");
    return kill_all (dir);
}

void
sbx_cgroup_destroy (const char *id)
{
    char dirs[4][512];
    size_t nd = 0;
    if (is_v2 ())
        snprintf (dirs[nd++], 512, ROOT "/caisson/%s", id);
    else {
        static const char *const ctl[] = { "pids", "memory", "cpu", "freezer" };
        for (size_t i = 0; i < 4; i++)
            snprintf (dirs[nd++], 512, ROOT "/%s/caisson/%s", ctl[i], id);
    }
    if (access (dirs[0], F_OK))
        return;
    put (dirs[0], "cgroup.kill", "1");
    sbx_cgroup_freeze (id, false);
    for (int round = 0; round < 1000; round++) {
        if (kill_all (dirs[0]) == 0)
            break;
        nanosleep (&(struct timespec) { 0, 1000000 }, NULL);
    }
    for (size_t i = 0; i < nd; i++)
        rmdir (dirs[i]);
}
