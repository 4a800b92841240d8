/* mcp_stack: see mcp_stack.h. */
#include "mcp_stack.h"

#include "support.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

void
mcp_stack_up (const char *cassettes)
{
    char dir[700];
    snprintf (dir, sizeof dir, "%s/tests/cassettes/%s", CAISSON_SOURCE_DIR, cassettes);
    setenv ("CAISSON_LLM_REPLAY_DIR", dir, 1);
    setenv ("CAISSON_SANDBOX_POOL", "0", 1);
    /* free ports, not ones derived from the pid: a suite running beside
     * this one may hold those (ui-bridge then never reported healthy) */
    int replay = support_free_port ();
    support_stack_up (replay, support_free_port ());
}

pid_t
mcp_stack_run (const char *task, const char *user, const char *model, const char *path)
{
    pid_t pid = fork ();
    if (pid == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || dup2 (fd, 1) < 0)
            _exit (127);
        char bin[1024];
        snprintf (bin, sizeof bin, "%s/caisson", CAISSON_BIN_DIR);
        const char *argv[10];
        int n = 0;
        argv[n++] = bin;
        argv[n++] = "run";
        argv[n++] = "--json";
        if (user) {
            argv[n++] = "--user";
            argv[n++] = user;
        }
        if (model) {
            argv[n++] = "--model";
            argv[n++] = model;
        }
        argv[n++] = task;
        argv[n] = NULL;
        execv (bin, (char *const *) argv);
        _exit (127);
    }
    return pid;
}

void
mcp_stack_expect_completed (pid_t pid, const char *path)
{
    int status;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    if (!WIFEXITED (status) || WEXITSTATUS (status) != 0) {
        char cmd[1200];
        snprintf (cmd, sizeof cmd, "tail -c 4000 '%s' >&2", path);
        if (system (cmd)) {}
        fail_msg ("caisson run did not complete (status %d)", status);
    }
}
