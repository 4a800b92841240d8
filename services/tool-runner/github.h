/* github: opening a pull request through GitHub's REST API with libcurl.
 *
 * Used by git.openPR when the origin is a GitHub repository and a token is
 * configured (CAISSON_TOOLS_GITHUB_TOKEN); the token stays in tool-runner:
 * it authenticates the host-side push (through git's environment, never
 * its command line) and these requests, and never reaches a sandbox. */
#ifndef TR_GITHUB_H
#define TR_GITHUB_H

#include <jansson.h>
#include <stddef.h>

/* Writes `owner/repo` of a GitHub URL (https://github.com/owner/repo, with
 * or without .git) into slug. Returns 0, or -1 when url is not one. */
int github_slug (const char *url, char *slug, size_t len);

/* Opens a pull request head -> base in repository slug at api (e.g.
 * https://api.github.com). When GitHub says one already exists for head,
 * that one is looked up and returned, so a retried call opens one.
 * Returns a new {success, id, number, url} or a tool error naming what
 * GitHub answered. */
json_t *github_open_pr (const char *api, const char *token, const char *slug, const char *head,
                        const char *base, const char *title, const char *body,
                        unsigned timeout_s);

#endif
