/* demo: the offline demos' local repository. See demo.h. */
#include "demo.h"
#include "clog.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Runs git with argv (NULL-terminated, argv[0] "git") with its output
 * discarded. Returns 0 when it exits with status 0. */
static int
git (char *const argv[])
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init (&fa);
    posix_spawn_file_actions_addopen (&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen (&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawnp (&pid, "git", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy (&fa);
    if (rc) {
        errno = rc;
        return -1;
    }
    int status;
    while (waitpid (pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED (status) && WEXITSTATUS (status) == 0 ? 0 : -1;
}

int
demo_repo_prepare (const char *data)
{
    char dir[PATH_MAX], bare[PATH_MAX + 16], work[PATH_MAX + 16], readme[PATH_MAX + 32];
    snprintf (dir, sizeof dir, "%s/demo", data);
    snprintf (bare, sizeof bare, "%s/repo.git", dir);
    /* The bare repository is the origin; the checkout it was made from is
     * kept beside it for people to look at. */
    snprintf (work, sizeof work, "%s/checkout", dir);
    struct stat st;
    if (stat (bare, &st) == 0)
        return 0;
    mkdir (dir, 0755);
    snprintf (readme, sizeof readme, "%s/README.md", work);
    char *init[] = { "git", "init", "-q", "-b", "main", work, NULL };
    char *add[] = { "git", "-C", work, "add", "README.md", NULL };
    char *commit[] = { "git", "-C", work, "-c", "user.name=Caisson", "-c",
                       "user.email=caisson@localhost", "commit", "-q", "-m",
                       "Demo repository for the offline pull-request demo", NULL };
    char *clone[] = { "git", "clone", "-q", "--bare", work, bare, NULL };
    FILE *f = NULL;
    int rc = git (init);
    if (rc == 0 && (f = fopen (readme, "we"))) {
        fputs ("# demo\n\nA small repository for Caisson's offline pull-request demo.\n", f);
        rc = fclose (f) ? -1 : 0;
    }
    else
        rc = -1;
    if (rc == 0)
        rc = git (add) || git (commit) || git (clone) ? -1 : 0;
    if (rc)
        clog_warn (NULL, "cannot make the demo repository %s (is git installed?)", bare);
    return rc;
}
