/* test_redteam_followup2_open: attacks of the second red-team pass that
 * still succeed and have no fix in the code (see the report). Not
 * registered in tests/sandbox.cmake: it fails on a host whose /proc is
 * mounted without hidepid. Build it beside test_redteam_followup2 to try.
 *
 * A second local uid reads every tenant's commands: a sandbox's processes
 * are host processes, and a procfs mounted without hidepid shows any
 * process's command line (`sh -c "<the command>"`, and every program it
 * runs) to every local user. */
#define _GNU_SOURCE
#include "sbx_client.h"

#include <dirent.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* True when uid 65534 finds marker in some process's command line. */
static bool
nobody_sees (const char *marker)
{
    pid_t pid = fork ();
    if (pid == 0) {
        if (setgroups (0, NULL) || setgid (65534) || setuid (65534))
            _exit (2);
        DIR *d = opendir ("/proc");
        struct dirent *e;
        while (d && (e = readdir (d))) {
            char path[300], buf[4096];
            snprintf (path, sizeof path, "/proc/%s/cmdline", e->d_name);
            FILE *f = fopen (path, "re");
            size_t n = f ? fread (buf, 1, sizeof buf - 1, f) : 0;
            if (f)
                fclose (f);
            for (size_t i = 0; i < n; i++)
                buf[i] = buf[i] ? buf[i] : ' ';
            buf[n] = 0;
            if (strstr (buf, marker))
                _exit (0);
        }
        _exit (1);
    }
    int st = 0;
    waitpid (pid, &st, 0);
    return WIFEXITED (st) && WEXITSTATUS (st) == 0;
}

static void
test_other_uid_reads_tenant_commands (void **state)
{
    (void) state;
    char *id = create ("python", 600);
    proto_msg_t *rep = sh (id, "nohup sleep 31.5 >/dev/null 2>&1 & echo started", 10, NULL);
    proto_msg_destroy (&rep);
    usleep (200 * 1000);
    bool seen = nobody_sees ("sleep 31.5");
    destroy (id);
    if (seen)
        fail_msg ("uid 65534 read a tenant's command line in /proc (mount /proc with "
                  "hidepid=invisible on a shared host)");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_other_uid_reads_tenant_commands),
    };
    return support_run_group_tests (tests, sbx_setup, sbx_teardown);
}
