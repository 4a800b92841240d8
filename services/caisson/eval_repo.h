/* eval_repo: the host repositories of `pr` tasks. A task whose success is
 * a pull request starts from a repository tool-runner clones into the
 * sandbox and git.openPR pushes to: a bare repository per attempt under
 * <data>/eval-repos (which `caisson up` adds to CAISSON_TOOLS_REPO_ALLOW),
 * holding the task's starting files as one commit on `main`. */
#ifndef CAISSON_EVAL_REPO_H
#define CAISSON_EVAL_REPO_H

#include <jansson.h>
#include <stddef.h>

/* Makes <data>/eval-repos/<name>.git from files ([{path, data}]);
 * its path (resolved) goes to url (n bytes). 0, or -1 with why. */
int eval_repo_make (const char *data, const char *name, const json_t *files, char *url,
                    size_t urllen, char *why, size_t n);

/* Removes <data>/eval-repos/<name>.git. */
void eval_repo_remove (const char *data, const char *name);

#endif
