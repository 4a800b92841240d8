/* sbx_seccomp: the last step of a sandbox's set-up, run by its init once
 * the mounts are done, so that init and every process it starts share it:
 * every capability dropped (bounding, ambient, effective, permitted,
 * inheritable), PR_SET_NO_NEW_PRIVS, resource limits, and a seccomp filter
 * that answers EPERM to the calls a sandbox never needs (mount, ptrace,
 * process_vm_*, kexec, bpf, perf_event_open, keyrings, io_uring, new user
 * namespaces, AF_VSOCK sockets, TIOCSTI...). */
#ifndef CAISSON_SBX_SECCOMP_H
#define CAISSON_SBX_SECCOMP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t nofile;        /* RLIMIT_NOFILE */
    uint64_t fsize_mb;      /* RLIMIT_FSIZE in MiB */
} sbx_rlimits_t;

/* Applies all of the above to the calling process. Returns 0, or -1 with
 * why set. */
int sbx_confine (const sbx_rlimits_t *lim, char *why, size_t whylen);

#endif
