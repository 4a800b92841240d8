/* demo: what the offline demos need on this host. The scripted model's
 * pull-request demo clones a repository and opens a pull request against
 * it; with no real forge configured, that repository is a bare git
 * repository under the data dir, made here once. */
#ifndef CAISSON_DEMO_H
#define CAISSON_DEMO_H

/* Makes DATA/demo/repo.git (a bare repository with one commit on `main`)
 * unless it exists. Returns 0, or -1 when git is missing or fails (the
 * reason is logged; only the pull-request demo needs it). */
int demo_repo_prepare (const char *data);

#endif
