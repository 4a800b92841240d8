/* eval_repo: see eval_repo.h. git runs on the host with its output
 * discarded and a fixed identity, never through a shell. */
#include "eval_repo.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Runs argv (NULL-terminated) quietly: 0 when it exits with status 0. */
static int
spawn (char *const argv[])
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init (&fa);
    posix_spawn_file_actions_addopen (&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen (&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen (&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawnp (&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy (&fa);
    if (rc)
        return -1;
    int status;
    while (waitpid (pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED (status) && WEXITSTATUS (status) == 0 ? 0 : -1;
}

/* Creates every directory above path (relative to root's end). */
static int
parents (char *path, size_t from)
{
    for (char *p = path + from; (p = strchr (p, '/')); p++) {
        *p = '\0';
        int rc = mkdir (path, 0700);
        *p = '/';
        if (rc && errno != EEXIST)
            return -1;
    }
    return 0;
}

/* Writes files under dir: 0, or -1 with why. Paths were checked when the
 * set loaded (relative, no `..`). */
static int
write_files (const char *dir, const json_t *files, char *why, size_t n)
{
    size_t i;
    json_t *f;
    json_array_foreach (files, i, f) {
        const char *rel = json_string_value (json_object_get (f, "path"));
        const char *data = json_string_value (json_object_get (f, "data"));
        char path[PATH_MAX];
        if (!rel || !data || strstr (rel, "..") || *rel == '/'
            || (size_t) snprintf (path, sizeof path, "%s/%s", dir, rel) >= sizeof path) {
            snprintf (why, n, "starting file %zu: a bad path", i);
            return -1;
        }
        FILE *out = parents (path, strlen (dir) + 1) ? NULL : fopen (path, "we");
        bool ok = out && fwrite (data, 1, strlen (data), out) == strlen (data);
        if ((out && fclose (out)) || !ok) {
            snprintf (why, n, "cannot write %s: %s", path, strerror (errno));
            return -1;
        }
    }
    return 0;
}

int
eval_repo_make (const char *data, const char *name, const json_t *files, char *url,
                size_t urllen, char *why, size_t n)
{
    char root[PATH_MAX], work[PATH_MAX + 80], bare[PATH_MAX + 80];
    snprintf (root, sizeof root, "%s/eval-repos", data);
    /* name is <user>/<repo>: the user's own directory, which tool-runner
     * lets only that user's calls reach (CAISSON_TOOLS_REPO_ALLOW's {user}) */
    const char *slash = strchr (name, '/');
    for (int level = 0; level < 2; level++) {
        if (level)
            snprintf (root, sizeof root, "%s/eval-repos/%.*s", data,
                      (int) (slash ? slash - name : 0), name);
        if (mkdir (root, 0700) && errno != EEXIST) {
            snprintf (why, n, "cannot make %s: %s", root, strerror (errno));
            return -1;
        }
    }
    snprintf (root, sizeof root, "%s/eval-repos", data);
    snprintf (work, sizeof work, "%s/%s.work", root, name);
    snprintf (bare, sizeof bare, "%s/%s.git", root, name);
    char *rm[] = { "rm", "-rf", work, bare, NULL };
    spawn (rm);
    if (mkdir (work, 0700) || write_files (work, files, why, n)) {
        if (!*why)
            snprintf (why, n, "cannot make %s: %s", work, strerror (errno));
        spawn (rm);
        return -1;
    }
    char *init[] = { "git", "init", "-q", "-b", "main", work, NULL };
    char *add[] = { "git", "-C", work, "add", "-A", NULL };
    char *commit[] = { "git", "-C", work, "-c", "user.name=Caisson eval", "-c",
                       "user.email=eval@caisson.invalid", "-c", "commit.gpgsign=false",
                       "commit", "-q", "--allow-empty", "-m", "start", NULL };
    char *clone[] = { "git", "clone", "-q", "--bare", work, bare, NULL };
    int rc = spawn (init) || spawn (add) || spawn (commit) || spawn (clone) ? -1 : 0;
    char *rmwork[] = { "rm", "-rf", work, NULL };
    spawn (rmwork);
    char real[PATH_MAX];
    if (rc || !realpath (bare, real)) {
        snprintf (why, n, "cannot make the task's repository %s (is git installed?)", bare);
        return -1;
    }
    snprintf (url, urllen, "%s", real);
    return 0;
}

void
eval_repo_remove (const char *data, const char *name)
{
    char bare[PATH_MAX + 80];
    snprintf (bare, sizeof bare, "%s/eval-repos/%s.git", data, name);
    char *rm[] = { "rm", "-rf", bare, NULL };
    spawn (rm);
}
