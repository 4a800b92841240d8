/* sbx_cgroup: a sandbox's resource limits and freezer, on cgroup v2 (a
 * unified hierarchy at /sys/fs/cgroup) or v1 (memory, pids, cpu and freezer
 * controllers mounted separately, as on this hybrid host). Each sandbox
 * gets caisson/<id> in each hierarchy. When the hierarchy cannot be
 * written (an unprivileged manager without delegation) the sandbox runs
 * without cgroup limits, and the reason is returned for the log and the
 * sandbox's `reason`. */
#ifndef CAISSON_SBX_CGROUP_H
#define CAISSON_SBX_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Makes the sandbox's cgroups with the limits and writes into procs the
 * ':'-separated cgroup.procs files the helper joins. Returns 0, or -1 with
 * why set and procs "-" (degraded: no limits). */
int sbx_cgroup_create (const char *id, uint64_t memory_mb, uint64_t cpus, uint64_t pids,
                       char *procs, size_t procslen, char *why, size_t whylen);

/* Freezes or thaws every process of the sandbox. Returns 0 or -1. */
int sbx_cgroup_freeze (const char *id, bool frozen);

/* Kills every process still in the sandbox's cgroups, waits (at most
 * about 1 s) for them to go, and removes the cgroups. */
void sbx_cgroup_destroy (const char *id);

/* Kills every process in the sandbox's cgroups without waiting. Returns
 * how many there were (0: the cgroups are empty, or absent). */
int sbx_cgroup_kill (const char *id);

#endif
