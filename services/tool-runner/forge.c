/* forge: host git, origins and the local forge's records. See forge.h. */
#define _GNU_SOURCE
#include "forge.h"
#include "github.h"
#include "cfg.h"
#include "clog.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct _forge_t {
    store_t *store;
};

forge_t *
forge_new (calls_t *calls)
{
    forge_t *self = calloc (1, sizeof *self);
    if (self)
        self->store = calls_store (calls);
    return self;
}

void
forge_destroy (forge_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free (*self_p);
    *self_p = NULL;
}

const char *const *
forge_auth_env (const char *url, forge_env_t *env)
{
    const char *token = cfg_str ("CAISSON_TOOLS_GITHUB_TOKEN");
    char slug[256], cred[400], b64[600];
    if (!*token || github_slug (url, slug, sizeof slug))
        return NULL;
    snprintf (cred, sizeof cred, "x-access-token:%s", token);
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen (cred), o = 0;
    for (size_t i = 0; i < n && o + 5 < sizeof b64; i += 3) {
        uint32_t v = (uint32_t) (unsigned char) cred[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t) (unsigned char) cred[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char) cred[i + 2];
        b64[o++] = tbl[(v >> 18) & 63];
        b64[o++] = tbl[(v >> 12) & 63];
        b64[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        b64[o++] = i + 2 < n ? tbl[v & 63] : '=';
    }
    b64[o] = '\0';
    snprintf (env->entries[0], sizeof env->entries[0], "GIT_CONFIG_COUNT=1");
    snprintf (env->entries[1], sizeof env->entries[1], "GIT_CONFIG_KEY_0=http.extraHeader");
    snprintf (env->entries[2], sizeof env->entries[2],
              "GIT_CONFIG_VALUE_0=Authorization: Basic %s", b64);
    for (int i = 0; i < 3; i++)
        env->list[i] = env->entries[i];
    env->list[3] = NULL;
    return env->list;
}

static char s_git[4096];

static void
find_git (void)
{
    const char *path = getenv ("PATH");
    char copy[8192], *save = NULL;
    snprintf (copy, sizeof copy, "%s", path && *path ? path : "/usr/bin:/bin");
    for (char *dir = strtok_r (copy, ":", &save); dir; dir = strtok_r (NULL, ":", &save)) {
        snprintf (s_git, sizeof s_git, "%s/git", dir);
        if (access (s_git, X_OK) == 0)
            return;
    }
    s_git[0] = '\0';
}

/* The child of a process with threads may only exec after fork, so the
 * program's path and its environment are made here, in the parent. */
static char **
child_env (const char *const extra[])
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once (&once, find_git);
    size_t n = 0, m = 0;
    while (environ[n])
        n++;
    while (extra && extra[m])
        m++;
    char **envp = calloc (n + m + 2, sizeof *envp);
    if (!envp)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp (environ[i], "GIT_", 4))
            envp[k++] = environ[i];
    envp[k++] = "GIT_TERMINAL_PROMPT=0";      /* never prompt: fail instead */
    for (size_t i = 0; i < m; i++)
        envp[k++] = (char *) extra[i];
    return envp;
}

int
forge_git (const char *const argv[], const char *const env[], char *out, size_t outlen,
           unsigned timeout_s)
{
    char **envp = child_env (env);
    int fds[2];
    if (!envp || !s_git[0] || pipe2 (fds, O_CLOEXEC)) {
        free (envp);
        return -1;
    }
    pid_t pid = fork ();
    if (pid < 0) {
        close (fds[0]);
        close (fds[1]);
        free (envp);
        return -1;
    }
    if (pid == 0) {
        dup2 (fds[1], STDOUT_FILENO);
        dup2 (fds[1], STDERR_FILENO);
        int null = open ("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null >= 0)
            dup2 (null, STDIN_FILENO);
        execve (s_git, (char *const *) argv, envp);
        _exit (127);
    }
    free (envp);
    close (fds[1]);
    size_t used = 0;
    int64_t deadline = (int64_t) time (NULL) + timeout_s;
    bool late = false;
    for (;;) {
        struct pollfd p = { fds[0], POLLIN, 0 };
        int left = (int) (deadline - (int64_t) time (NULL));
        if (left <= 0) {
            late = true;
            break;
        }
        if (poll (&p, 1, left * 1000) <= 0) {
            if (errno == EINTR)
                continue;
            late = true;
            break;
        }
        char buf[4096];
        ssize_t n = read (fds[0], buf, sizeof buf);
        if (n <= 0)
            break;
        if (out && used + 1 < outlen) {
            size_t take = (size_t) n < outlen - 1 - used ? (size_t) n : outlen - 1 - used;
            memcpy (out + used, buf, take);
            used += take;
        }
    }
    if (out && outlen)
        out[used] = '\0';
    close (fds[0]);
    if (late)
        kill (pid, SIGKILL);
    int status;
    waitpid (pid, &status, 0);
    return late ? -1 : WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static int
put (MDB_txn *txn, MDB_dbi dbi, const char *k, const char *v)
{
    MDB_val key = { strlen (k), (void *) k }, val = { strlen (v), (void *) v };
    return mdb_put (txn, dbi, &key, &val, 0);
}

static char *
get (MDB_txn *txn, MDB_dbi dbi, const char *k)
{
    MDB_val key = { strlen (k), (void *) k }, val;
    if (mdb_get (txn, dbi, &key, &val))
        return NULL;
    return strndup (val.mv_data, val.mv_size);
}

typedef struct {
    forge_t *self;
    const char *sandbox_id;
    char *value;
    const char *set;
} origin_t;

static int
origin_txn (MDB_txn *txn, void *arg)
{
    origin_t *o = arg;
    char key[160];
    snprintf (key, sizeof key, "origin/%s", o->sandbox_id);
    MDB_dbi meta = store_dbi (o->self->store, CALLS_DB_META);
    if (o->set)
        return put (txn, meta, key, o->set);
    o->value = get (txn, meta, key);
    return 0;
}

int
forge_set_origin (forge_t *self, const char *sandbox_id, const char *origin, const char *base)
{
    json_t *v = json_pack ("{s:s, s:s}", "origin", origin, "base", base);
    char *text = v ? json_dumps (v, JSON_COMPACT) : NULL;
    json_decref (v);
    origin_t o = { self, sandbox_id, NULL, text };
    int rc = text ? store_write (self->store, origin_txn, &o) : -1;
    free (text);
    return rc;
}

int
forge_get_origin (forge_t *self, const char *sandbox_id, char *origin, size_t olen, char *base,
                  size_t blen)
{
    origin_t o = { self, sandbox_id, NULL, NULL };
    if (store_read (self->store, origin_txn, &o) || !o.value)
        return -1;
    json_t *v = json_loads (o.value, 0, NULL);
    free (o.value);
    const char *og = json_string_value (json_object_get (v, "origin"));
    const char *bs = json_string_value (json_object_get (v, "base"));
    if (!og || !bs) {
        json_decref (v);
        return -1;
    }
    snprintf (origin, olen, "%s", og);
    snprintf (base, blen, "%s", bs);
    json_decref (v);
    return 0;
}

typedef struct {
    forge_t *self;
    json_t *rec;
    json_t *stored;
} open_t;

static int
open_txn (MDB_txn *txn, void *arg)
{
    open_t *o = arg;
    MDB_dbi prs = store_dbi (o->self->store, CALLS_DB_PRS);
    MDB_dbi meta = store_dbi (o->self->store, CALLS_DB_META);
    char key[400];
    json_decref (o->stored);
    o->stored = NULL;
    snprintf (key, sizeof key, "head/%s", json_string_value (json_object_get (o->rec, "head")));
    char *existing = get (txn, meta, key);
    if (existing) {
        char *text = get (txn, prs, existing);
        free (existing);
        o->stored = text ? json_loads (text, 0, NULL) : NULL;
        free (text);
        return o->stored ? 0 : MDB_NOTFOUND;
    }
    char *last = get (txn, meta, "pr_seq");
    unsigned long seq = (last ? strtoul (last, NULL, 10) : 0) + 1;
    free (last);
    char id[32], url[512];
    snprintf (id, sizeof id, "%lu", seq);
    const char *base_url = cfg_str ("CAISSON_TOOLS_FORGE_URL");
    if (*base_url)
        snprintf (url, sizeof url, "%s%s", base_url, id);
    else
        snprintf (url, sizeof url, "caisson pr %s", id);
    json_t *rec = json_deep_copy (o->rec);
    json_object_set_new (rec, "id", json_string (id));
    json_object_set_new (rec, "url", json_string (url));
    json_object_set_new (rec, "status", json_string ("open"));
    json_object_set_new (rec, "createdAt", json_integer ((json_int_t) calls_now_ms ()));
    char *text = json_dumps (rec, JSON_COMPACT);
    int rc = text ? put (txn, prs, id, text) : MDB_PANIC;
    free (text);
    if (!rc)
        rc = put (txn, meta, key, id);
    if (!rc)
        rc = put (txn, meta, "pr_seq", id);
    if (rc) {
        json_decref (rec);
        return rc;
    }
    o->stored = rec;
    return 0;
}

json_t *
forge_open (forge_t *self, json_t *rec)
{
    open_t o = { self, rec, NULL };
    if (store_write (self->store, open_txn, &o)) {
        json_decref (o.stored);
        return NULL;
    }
    return o.stored;
}

typedef struct {
    forge_t *self;
    const char *id;
    json_t *out;
} read_t;

static int
list_txn (MDB_txn *txn, void *arg)
{
    read_t *r = arg;
    MDB_cursor *cur;
    int rc = mdb_cursor_open (txn, store_dbi (r->self->store, CALLS_DB_PRS), &cur);
    if (rc)
        return rc;
    MDB_val key, val;
    for (rc = mdb_cursor_get (cur, &key, &val, MDB_FIRST); !rc;
         rc = mdb_cursor_get (cur, &key, &val, MDB_NEXT)) {
        json_t *rec = json_loadb (val.mv_data, val.mv_size, 0, NULL);
        if (!rec)
            continue;
        json_object_del (rec, "diff");
        json_array_append_new (r->out, rec);
    }
    mdb_cursor_close (cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int
by_seq (const void *a, const void *b)
{
    const json_t *x = *(json_t *const *) a, *y = *(json_t *const *) b;
    long i = strtol (json_string_value (json_object_get (x, "id")), NULL, 10);
    long j = strtol (json_string_value (json_object_get (y, "id")), NULL, 10);
    return (i > j) - (i < j);
}

json_t *
forge_list (forge_t *self)
{
    read_t r = { self, NULL, json_array () };
    if (!r.out || store_read (self->store, list_txn, &r)) {
        json_decref (r.out);
        return NULL;
    }
    /* Keys sort as text ("10" before "2"); show them by number. */
    size_t n = json_array_size (r.out);
    json_t **items = calloc (n ? n : 1, sizeof *items);
    json_t *sorted = json_array ();
    for (size_t i = 0; items && i < n; i++)
        items[i] = json_array_get (r.out, i);
    if (items)
        qsort (items, n, sizeof *items, by_seq);
    for (size_t i = 0; items && i < n; i++)
        json_array_append (sorted, items[i]);
    free (items);
    json_decref (r.out);
    return sorted;
}

static int
get_txn (MDB_txn *txn, void *arg)
{
    read_t *r = arg;
    char *text = get (txn, store_dbi (r->self->store, CALLS_DB_PRS), r->id);
    r->out = text ? json_loads (text, 0, NULL) : NULL;
    free (text);
    return 0;
}

json_t *
forge_get (forge_t *self, const char *id)
{
    read_t r = { self, id, NULL };
    if (store_read (self->store, get_txn, &r))
        return NULL;
    return r.out;
}
