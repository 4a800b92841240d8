/* sbx_seccomp: capabilities, rlimits and the syscall filter. See
 * sbx_seccomp.h. The filter is a deny-list over the default-allow policy
 * bubblewrap and nsjail also use for general-purpose sandboxes: programs
 * (compilers, interpreters, test runners) need the ordinary calls. */
#define _GNU_SOURCE
#include "sbx_seccomp.h"

#include <errno.h>
#include <linux/capability.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

#define FAIL(...) do { snprintf (why, whylen, __VA_ARGS__); return -1; } while (0)

static int
drop_caps (void)
{
    for (int c = 0; c <= 63; c++)
        if (prctl (PR_CAPBSET_DROP, c, 0, 0, 0) && errno != EINVAL)
            return -1;
    prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
    struct __user_cap_data_struct d[2];
    memset (d, 0, sizeof d);
    return (int) syscall (SYS_capset, &h, d);
}

static const char *const denied[] = {
    "mount", "umount", "umount2", "pivot_root", "chroot", "ptrace", "process_vm_readv",
    "process_vm_writev", "kexec_load", "kexec_file_load", "bpf", "perf_event_open",
    "keyctl", "add_key", "request_key", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "setns", "open_by_handle_at", "name_to_handle_at", "init_module",
    "finit_module", "delete_module", "swapon", "swapoff", "reboot", "syslog", "acct",
    "quotactl", "userfaultfd", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount",
    "open_tree", "mount_setattr", "lookup_dcookie", "personality", "iopl", "ioperm",
    "uselib", "vhangup", "nfsservctl",
};

static int
install_filter (char *why, size_t whylen)
{
    scmp_filter_ctx ctx = seccomp_init (SCMP_ACT_ALLOW);
    if (!ctx)
        FAIL ("seccomp_init failed");
    int rc = 0;
    for (size_t i = 0; i < sizeof denied / sizeof denied[0] && !rc; i++) {
        int nr = seccomp_syscall_resolve_name (denied[i]);
        if (nr != __NR_SCMP_ERROR)
            rc = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (EPERM), nr, 0);
    }
    /* New user namespaces: unshare with the flag, and clone with it. clone3
     * passes flags in memory a filter cannot read, so it answers ENOSYS
     * and libc falls back to clone. */
    if (!rc)
        rc = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (EPERM), SCMP_SYS (unshare), 0);
    if (!rc)
        rc = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (EPERM), SCMP_SYS (clone), 1,
                               SCMP_A0 (SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER));
    if (!rc)
        rc = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (ENOSYS), SCMP_SYS (clone3), 0);
    if (!rc)
        rc = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (EAFNOSUPPORT), SCMP_SYS (socket), 1,
                               SCMP_A0 (SCMP_CMP_EQ, AF_VSOCK));
    if (!rc)
        rc = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (EPERM), SCMP_SYS (ioctl), 1,
                               SCMP_A1 (SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCSTI));
    if (!rc)
        rc = seccomp_load (ctx);
    seccomp_release (ctx);
    if (rc)
        FAIL ("seccomp: %s", strerror (-rc));
    return 0;
}

int
sbx_confine (const sbx_rlimits_t *lim, char *why, size_t whylen)
{
    struct rlimit r = { lim->nofile, lim->nofile };
    if (setrlimit (RLIMIT_NOFILE, &r))
        FAIL ("RLIMIT_NOFILE: %s", strerror (errno));
    r.rlim_cur = r.rlim_max = lim->fsize_mb << 20;
    if (setrlimit (RLIMIT_FSIZE, &r))
        FAIL ("RLIMIT_FSIZE: %s", strerror (errno));
    r.rlim_cur = r.rlim_max = 0;
    if (setrlimit (RLIMIT_CORE, &r))
        FAIL ("RLIMIT_CORE: %s", strerror (errno));
    if (drop_caps ())
        FAIL ("dropping capabilities: %s", strerror (errno));
    if (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
        FAIL ("PR_SET_NO_NEW_PRIVS: %s", strerror (errno));
    return install_filter (why, whylen);
}
