/* evalset_int: what evalset.c shares with the public-layout importer
 * (evalset_exercism.c). Internal to libcommon. */
#ifndef CAISSON_EVALSET_INT_H
#define CAISSON_EVALSET_INT_H

#include "evalset.h"
#include "evalset_fs.h"

#define EVALSET_MAPPING "caisson-set.json"
#define EVALSET_TASKS_MAX 1000
#define EVALSET_BYTES_MAX (256u << 20)  /* a set's files, all tasks counted */

/* Whether id is a task id, `^[a-z0-9][a-z0-9._-]{0,63}$`. */
bool evalset_id_ok (const char *id);

/* The JSON object in the file rel under dir (new), or NULL with e's
 * error filled in. */
json_t *evalset_read_json (efs_t *e, int dir, const char *rel);

/* Checks the manifest keys of m (language, testCommand, timeLimitS, tags,
 * success, approvals, repo; any other key but id, description and
 * extra's (NULL-ended, may be NULL) refused) and copies them, defaults
 * filled in, into doc. 0, or -1 with e's error filled in. */
int evalset_settings (efs_t *e, const json_t *m, const char *const extra[], json_t *doc);

/* Appends the names of dir's subdirectories (not starting with `.`) to
 * names; a symlink is refused. 0, or -1 with e's error filled in. */
int evalset_subdirs (efs_t *e, int dir, json_t *names);

/* Adds a task's document (taken: {id, language, testCommand, timeLimitS,
 * tags, success, approvals, repo, task, files, tests, solution?}), read
 * with e (its bytes count against the set's cap), to self. 0, or -1
 * with e's error filled in. */
int evalset_add (evalset_t *self, json_t *doc, const efs_t *e);

/* Loads the exercises of the set at dir (borrowed) as its mapping map
 * says (evals/README.md § Bringing your own set). 0, or -1 with e's error
 * filled in. */
int evalset_exercism (evalset_t *self, efs_t *e, int dir, const json_t *map);

#endif
