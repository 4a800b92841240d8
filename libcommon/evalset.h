/* evalset: golden task sets on disk (evals/README.md § Task format), read by
 * the eval harness (`caisson eval`) and by llm-replay's oracle.
 *
 * A set is a directory of task folders, each with manifest.json, task.md,
 * files/ (starting files), tests/ (hidden tests, copied in only after the
 * agent finished) and optionally solution/ (a reference solution: files
 * laid over files/). A directory in the public exercise layout (one folder
 * per exercise with instructions, stub, tests and example solution) loads
 * through a mapping file at its root, so it needs no conversion. Everything
 * read is untrusted: sizes, counts and depths are capped, paths are checked
 * (no `..`, no absolute path), and only regular UTF-8 text files are taken
 * (a symlink, FIFO or device is refused by name). */
#ifndef CAISSON_EVALSET_H
#define CAISSON_EVALSET_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct evalset_t evalset_t;

/* One task, borrowed from its set. files, tests and solution are JSON
 * arrays of {path, data} (writeFiles' shape; paths relative to the
 * workspace); solution is NULL when the task has none. */
typedef struct {
    const char *id;           /* manifest id, `^[a-z0-9][a-z0-9._-]{0,63}$` */
    const char *language;     /* python, javascript, typescript, shell... */
    const json_t *tags;       /* array of strings */
    unsigned time_limit_s;    /* the agent's wall-clock budget */
    const char *success;      /* "tests" (hidden tests pass in the workspace) or "pr" */
    const char *approvals;    /* "approve" or "decline": how gated calls are answered */
    bool repo;                /* files/ is a repository: committed before the run */
    const char *task;         /* task.md */
    const char *test_command; /* run in the workspace after the hidden tests are copied in */
    const json_t *files;
    const json_t *tests;
    const json_t *solution;
} evaltask_t;

/* Loads the set in dir. NULL with why (n bytes) naming the task and what
 * was wrong when any task does not load: a set is all or nothing. */
evalset_t *evalset_load (const char *dir, char *why, size_t n);
void evalset_destroy (evalset_t **self_p);

/* The set's name: its directory's last component (borrowed). */
const char *evalset_name (const evalset_t *self);
size_t evalset_size (const evalset_t *self);
/* The i-th task (sorted by id), or NULL past the end. */
const evaltask_t *evalset_task (const evalset_t *self, size_t i);
/* The task with this id, or NULL. */
const evaltask_t *evalset_find (const evalset_t *self, const char *id);

/* The prompt the harness gives the agent for task t working in sandbox
 * sandbox_id (NULL for none) on the repository at repo_url (NULL for
 * none): task.md, then a paragraph saying where its files are: the
 * sandbox's workspace, or the repository, which the agent clones with
 * repo.clone (into /workspace/repo: then files' paths are relative to
 * the clone), and for a "pr" task that it ends with git.openPR. Caller
 * frees; NULL when sandbox_id or repo_url holds a backtick or a line
 * break (the paragraph quotes them between backticks). */
char *evalset_prompt (const evaltask_t *t, const char *sandbox_id, const char *repo_url);

/* Reads a prompt made by evalset_prompt: the task of self whose task.md it
 * holds, or NULL; sandbox_id (n bytes) gets the sandbox it names, or "". */
const evaltask_t *evalset_match (const evalset_t *self, const char *prompt, char *sandbox_id,
                                 size_t n);

/* The repository a prompt of task t (made by evalset_prompt) names, into
 * repo_url (n bytes); false (repo_url "") when it names none. */
bool evalset_match_repo (const evaltask_t *t, const char *prompt, char *repo_url, size_t n);

#endif
