/* evalset: golden task sets on disk (see evalset.h, evals/README.md § Task
 * format). A set is either a directory of task folders (manifest.json,
 * task.md, files/, tests/, solution/) or, with a mapping file
 * `caisson-set.json` at its root, a directory in the public exercise
 * layout (evalset_exercism.c). Each task is kept as one JSON object that
 * its evaltask_t borrows from, so a set is freed task by task. */
#include "evalset.h"
#include "evalset_fs.h"
#include "evalset_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct evalset_t {
    char *name;
    evaltask_t *tasks;
    json_t **docs;              /* what each task borrows from */
    size_t count;
    size_t bytes;               /* every task's files, against EVALSET_BYTES_MAX */
};

bool
evalset_id_ok (const char *id)
{
    size_t n = strlen (id);
    if (n < 1 || n > 64 || !((id[0] >= 'a' && id[0] <= 'z') || (id[0] >= '0' && id[0] <= '9')))
        return false;
    return strspn (id, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* A string member of obj of 1..max bytes, or NULL. */
static const char *
str_of (const json_t *obj, const char *key, size_t max)
{
    const char *s = json_string_value (json_object_get (obj, key));
    return s && *s && strlen (s) <= max ? s : NULL;
}

int
evalset_settings (efs_t *e, const json_t *m, const char *const extra[], json_t *doc)
{
    static const char *const known[] = { "id", "language", "timeLimitS", "tags", "success",
                                         "approvals", "repo", "testCommand", "description" };
    const char *key;
    json_t *v;
    json_object_foreach ((json_t *) m, key, v) {
        bool ok = false;
        for (size_t i = 0; !ok && i < sizeof known / sizeof known[0]; i++)
            ok = strcmp (key, known[i]) == 0;
        for (size_t i = 0; !ok && extra && extra[i]; i++)
            ok = strcmp (key, extra[i]) == 0;
        if (!ok)
            return efs_fail (e, "manifest: unknown key \"%.64s\"", key);
    }
    const char *lang = str_of (m, "language", 32), *cmd = str_of (m, "testCommand", 4096);
    json_t *limit = json_object_get (m, "timeLimitS"), *tags = json_object_get (m, "tags");
    const char *success = json_object_get (m, "success")
                        ? json_string_value (json_object_get (m, "success")) : "tests";
    const char *approvals = json_object_get (m, "approvals")
                          ? json_string_value (json_object_get (m, "approvals")) : "approve";
    json_t *repo = json_object_get (m, "repo");
    if (!lang || strspn (lang, "abcdefghijklmnopqrstuvwxyz0123456789+#-") != strlen (lang))
        return efs_fail (e, "manifest: \"language\" must be a lowercase name such as python");
    if (!cmd)
        return efs_fail (e, "manifest: \"testCommand\" must be a non-empty string (at most "
                         "4096 bytes)");
    if (!json_is_integer (limit) || json_integer_value (limit) < 1
        || json_integer_value (limit) > 86400)
        return efs_fail (e, "manifest: \"timeLimitS\" must be an integer of 1..86400 seconds");
    if (tags && (!json_is_array (tags) || json_array_size (tags) > 32))
        return efs_fail (e, "manifest: \"tags\" must be an array of at most 32 strings");
    size_t i;
    json_t *tag;
    json_array_foreach (tags, i, tag)
        if (!json_is_string (tag) || !json_string_length (tag) || json_string_length (tag) > 64)
            return efs_fail (e, "manifest: tags[%zu] must be a string of 1..64 bytes", i);
    if (!success || (strcmp (success, "tests") && strcmp (success, "pr")))
        return efs_fail (e, "manifest: \"success\" must be \"tests\" or \"pr\"");
    if (!approvals || (strcmp (approvals, "approve") && strcmp (approvals, "decline")))
        return efs_fail (e, "manifest: \"approvals\" must be \"approve\" or \"decline\"");
    if (repo && !json_is_boolean (repo))
        return efs_fail (e, "manifest: \"repo\" must be true or false");
    if (!strcmp (success, "pr") && !json_is_true (repo))
        return efs_fail (e, "manifest: \"success\": \"pr\" needs \"repo\": true (a pull "
                         "request is made on a repository)");
    json_object_set_new (doc, "language", json_string (lang));
    json_object_set_new (doc, "testCommand", json_string (cmd));
    json_object_set (doc, "timeLimitS", limit);
    json_object_set_new (doc, "tags", tags ? json_deep_copy (tags) : json_array ());
    json_object_set_new (doc, "success", json_string (success));
    json_object_set_new (doc, "approvals", json_string (approvals));
    json_object_set_new (doc, "repo", json_boolean (json_is_true (repo)));
    return 0;
}

json_t *
evalset_read_json (efs_t *e, int dir, const char *rel)
{
    size_t len;
    char *text = efs_read (e, dir, rel, rel, false, &len);
    if (!text)
        return NULL;
    json_error_t jerr;
    json_t *doc = json_loadb (text, len, JSON_REJECT_DUPLICATES, &jerr);
    free (text);
    if (!json_is_object (doc)) {
        json_decref (doc);
        efs_fail (e, "%s: not a JSON object (%s, line %d)", rel, jerr.text, jerr.line);
        return NULL;
    }
    return doc;
}

/* A native task folder (taken: closed here) as its document, or NULL. */
static json_t *
load_native (efs_t *e, int dir, const char *folder)
{
    json_t *m = evalset_read_json (e, dir, "manifest.json");
    json_t *doc = json_object ();
    const char *id = m ? json_string_value (json_object_get (m, "id")) : NULL;
    size_t len;
    char *task = NULL;
    int rc = !m ? -1
           : !id || !evalset_id_ok (id)
           ? efs_fail (e, "manifest: \"id\" must match ^[a-z0-9][a-z0-9._-]{0,63}$")
           : strcmp (id, folder)
           ? efs_fail (e, "manifest: \"id\" \"%s\" is not its folder's name", id)
           : evalset_settings (e, m, NULL, doc);
    if (rc == 0 && !(task = efs_read (e, dir, "task.md", "task.md", false, &len)))
        rc = -1;
    else if (rc == 0 && strspn (task, " \t\r\n") == len)
        rc = efs_fail (e, "task.md: empty");
    if (rc == 0) {
        json_object_set_new (doc, "id", json_string (id));
        json_object_set_new (doc, "task", json_string (task));
    }
    static const char *const parts[] = { "files", "tests", "solution" };
    for (size_t i = 0; rc == 0 && i < 3; i++) {
        json_t *list = json_array ();
        int sub = efs_open_dir (e, dir, parts[i], parts[i], i != 1);
        if (sub >= 0)
            rc = efs_walk (e, sub, parts[i], list);
        else if (e->why[0])
            rc = -1;
        if (rc == 0 && i == 1 && !json_array_size (list))
            rc = efs_fail (e, "tests/: holds no file (the hidden tests decide)");
        if (rc == 0 && (sub >= 0 || i < 2))
            json_object_set (doc, parts[i], list);
        json_decref (list);
    }
    free (task);
    json_decref (m);
    close (dir);
    if (rc) {
        json_decref (doc);
        return NULL;
    }
    return doc;
}

int
evalset_add (evalset_t *self, json_t *doc, const efs_t *e)
{
    const char *bad = self->count >= EVALSET_TASKS_MAX ? "more than 1000 tasks"
                    : (self->bytes += e->bytes) > EVALSET_BYTES_MAX
                    ? "the set's files pass its total cap (256 MiB)" : NULL;
    json_t **docs = bad ? NULL : realloc (self->docs, (self->count + 1) * sizeof *docs);
    if (!docs) {
        json_decref (doc);
        snprintf (e->why, e->n, "%s: %s", self->name, bad ? bad : "out of memory");
        return -1;
    }
    self->docs = docs;
    docs[self->count++] = doc;
    return 0;
}

int
evalset_subdirs (efs_t *e, int dir, json_t *names)
{
    int fd = dup (dir);
    DIR *d = fd >= 0 ? fdopendir (fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close (fd);
        return efs_fail (e, "cannot list: %s", strerror (errno));
    }
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir (d))) {
        struct stat st;
        if (de->d_name[0] == '.')
            continue;
        if (fstatat (dir, de->d_name, &st, AT_SYMLINK_NOFOLLOW))
            rc = efs_fail (e, "%s: %s", de->d_name, strerror (errno));
        else if (S_ISLNK (st.st_mode))
            rc = efs_fail (e, "%s: a symlink (a task folder must be a directory)", de->d_name);
        else if (!S_ISDIR (st.st_mode))
            continue;
        else if (!efs_path_ok (de->d_name))
            rc = efs_fail (e, "a folder whose name is not UTF-8 text");
        else if (json_array_size (names) >= EVALSET_TASKS_MAX)
            rc = efs_fail (e, "more than %d task folders", EVALSET_TASKS_MAX);
        else
            json_array_append_new (names, json_string (de->d_name));
    }
    closedir (d);
    return rc;
}

static int
by_id (const void *a, const void *b)
{
    return strcmp (json_string_value (json_object_get (*(json_t *const *) a, "id")),
                   json_string_value (json_object_get (*(json_t *const *) b, "id")));
}

/* Every task folder of dir (borrowed): the subdirectories not starting
 * with `.`; other entries are the set's own (a README). */
static int
load_folders (evalset_t *self, int dir, char *why, size_t n)
{
    efs_t top = { self->name, 0, 0, why, n };
    json_t *names = json_array ();
    int sub = efs_open_dir (&top, dir, ".", self->name, false);
    int rc = sub < 0 ? -1 : evalset_subdirs (&top, sub, names);
    if (sub >= 0)
        close (sub);
    size_t i;
    json_t *name;
    json_array_foreach (names, i, name) {
        if (rc)
            break;
        char label[200];
        snprintf (label, sizeof label, "%s/%s", self->name, json_string_value (name));
        efs_t e = { label, 0, 0, why, n };
        int fd = efs_open_dir (&e, dir, json_string_value (name), json_string_value (name),
                               false);
        json_t *doc = fd < 0 ? NULL : load_native (&e, fd, json_string_value (name));
        rc = doc ? evalset_add (self, doc, &e) : -1;
    }
    json_decref (names);
    return rc;
}

evalset_t *
evalset_load (const char *dir, char *why, size_t n)
{
    why[0] = '\0';
    int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        snprintf (why, n, "%s: cannot open the set: %s", dir, strerror (errno));
        return NULL;
    }
    evalset_t *self = calloc (1, sizeof *self);
    /* the directory's last component: "evals/golden/" names "golden" */
    char *copy = strdup (dir);
    size_t k = strlen (copy);
    while (k > 1 && copy[k - 1] == '/')
        copy[--k] = '\0';
    const char *slash = strrchr (copy, '/');
    self->name = strdup (slash && slash[1] ? slash + 1 : copy);
    free (copy);
    efs_t e = { self->name, 0, 0, why, n };
    json_t *map = NULL;
    size_t len;
    char *probe = efs_read (&e, fd, EVALSET_MAPPING, EVALSET_MAPPING, true, &len);
    int rc = 0;
    if (probe) {
        free (probe);
        e.files = e.bytes = 0;
        map = evalset_read_json (&e, fd, EVALSET_MAPPING);
        rc = map ? evalset_exercism (self, &e, fd, map) : -1;
    }
    else if (why[0])
        rc = -1;
    else
        rc = load_folders (self, fd, why, n);
    json_decref (map);
    close (fd);
    if (rc == 0 && self->count)
        qsort (self->docs, self->count, sizeof *self->docs, by_id);
    for (size_t i = 1; rc == 0 && i < self->count; i++)
        if (by_id (&self->docs[i - 1], &self->docs[i]) == 0) {
            snprintf (why, n, "%s: two tasks have the id %s", self->name,
                      json_string_value (json_object_get (self->docs[i], "id")));
            rc = -1;
        }
    if (rc == 0 && !self->count) {
        snprintf (why, n, "%s: holds no task", self->name);
        rc = -1;
    }
    if (rc == 0 && !(self->tasks = calloc (self->count, sizeof *self->tasks)))
        rc = -1;
    if (rc) {
        if (!why[0])
            snprintf (why, n, "%s: out of memory", self->name);
        evalset_destroy (&self);
        return NULL;
    }
    for (size_t i = 0; i < self->count; i++) {
        json_t *d = self->docs[i];
        json_t *sol = json_object_get (d, "solution");
        self->tasks[i] = (evaltask_t) {
            .id = json_string_value (json_object_get (d, "id")),
            .language = json_string_value (json_object_get (d, "language")),
            .tags = json_object_get (d, "tags"),
            .time_limit_s = (unsigned) json_integer_value (json_object_get (d, "timeLimitS")),
            .success = json_string_value (json_object_get (d, "success")),
            .approvals = json_string_value (json_object_get (d, "approvals")),
            .repo = json_is_true (json_object_get (d, "repo")),
            .task = json_string_value (json_object_get (d, "task")),
            .test_command = json_string_value (json_object_get (d, "testCommand")),
            .files = json_object_get (d, "files"),
            .tests = json_object_get (d, "tests"),
            .solution = json_array_size (sol) ? sol : NULL,
        };
    }
    return self;
}

void
evalset_destroy (evalset_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    evalset_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++)
        json_decref (self->docs[i]);
    free (self->docs);
    free (self->tasks);
    free (self->name);
    free (self);
    *self_p = NULL;
}

const char *
evalset_name (const evalset_t *self)
{
    return self->name;
}

size_t
evalset_size (const evalset_t *self)
{
    return self->count;
}

const evaltask_t *
evalset_task (const evalset_t *self, size_t i)
{
    return i < self->count ? &self->tasks[i] : NULL;
}

const evaltask_t *
evalset_find (const evalset_t *self, const char *id)
{
    for (size_t i = 0; id && i < self->count; i++)
        if (strcmp (self->tasks[i].id, id) == 0)
            return &self->tasks[i];
    return NULL;
}

#define SANDBOX_MARK "sandbox `"
#define REPO_MARK "The repository to work on is `"

/* Whether s can sit between backticks on one line. */
static bool
quotable (const char *s)
{
    return s && *s && strlen (s) <= 2048 && !strpbrk (s, "`\r\n");
}

char *
evalset_prompt (const evaltask_t *t, const char *sandbox_id, const char *repo_url)
{
    if ((sandbox_id && !quotable (sandbox_id)) || (repo_url && !quotable (repo_url)))
        return NULL;
    char where[3000];
    bool pr = strcmp (t->success, "pr") == 0;
    const char *finish = pr ? " When you are done, open a pull request with git.openPR; the "
                              "hidden tests run on its branch."
                            : " Run the tests yourself if you like; hidden tests decide.";
    if (repo_url && sandbox_id)
        snprintf (where, sizeof where, REPO_MARK "%s`: clone it into " SANDBOX_MARK "%s` with "
                  "repo.clone (it lands in /workspace/repo) and work there with the tools.%s",
                  repo_url, sandbox_id, finish);
    else if (repo_url)
        snprintf (where, sizeof where, REPO_MARK "%s`: create a sandbox, clone it there with "
                  "repo.clone (it lands in /workspace/repo) and work there with the tools.%s",
                  repo_url, finish);
    else if (sandbox_id)
        snprintf (where, sizeof where, "Your files are in " SANDBOX_MARK "%s`, in its workspace "
                  "(/workspace); work there with the tools.%s", sandbox_id, finish);
    else
        snprintf (where, sizeof where, "Create a sandbox and work there with the tools.%s",
                  finish);
    size_t n = strlen (t->task);
    while (n && strchr (" \t\r\n", t->task[n - 1]))
        n--;
    size_t cap = n + strlen (where) + 4;
    char *out = malloc (cap);
    if (out)
        snprintf (out, cap, "%.*s\n\n%s", (int) n, t->task, where);
    return out;
}

/* The text between mark and the next backtick in s, into out (n bytes),
 * when it is there, fits and every byte is in allowed (NULL: any). */
static bool
quoted (const char *s, const char *mark, const char *allowed, char *out, size_t n)
{
    const char *at = s ? strstr (s, mark) : NULL;
    if (!at)
        return false;
    at += strlen (mark);
    size_t len = strcspn (at, "`\r\n");
    if (at[len] != '`' || !len || len >= n
        || (allowed && strspn (at, allowed) < len))
        return false;
    memcpy (out, at, len);
    out[len] = '\0';
    return true;
}

/* Where task's text (without its trailing blanks, as evalset_prompt puts
 * it) ends in prompt, or NULL; *len gets that text's length. */
static const char *
task_end (const char *prompt, const char *task, size_t *len)
{
    size_t n = strlen (task);
    while (n && strchr (" \t\r\n", task[n - 1]))
        n--;
    *len = n;
    char *needle = strndup (task, n);
    const char *at = needle && n ? strstr (prompt, needle) : NULL;
    free (needle);
    return at ? at + n : NULL;
}

const evaltask_t *
evalset_match (const evalset_t *self, const char *prompt, char *sandbox_id, size_t n)
{
    if (n)
        sandbox_id[0] = '\0';
    const evaltask_t *best = NULL;
    const char *after = NULL;
    size_t best_len = 0;
    for (size_t i = 0; prompt && i < self->count; i++) {
        size_t len;
        const char *end = task_end (prompt, self->tasks[i].task, &len);
        /* the longest wins: one task's text may be a part of another's */
        if (end && len > best_len) {
            best = &self->tasks[i];
            best_len = len;
            after = end;
        }
    }
    if (best && n)
        quoted (after, SANDBOX_MARK, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                "0123456789_.-", sandbox_id, n);
    return best;
}

bool
evalset_match_repo (const evaltask_t *t, const char *prompt, char *repo_url, size_t n)
{
    size_t len;
    const char *at = prompt && t ? task_end (prompt, t->task, &len) : NULL;
    if (n)
        repo_url[0] = '\0';
    return at && quoted (at, REPO_MARK, NULL, repo_url, n);
}
