/* store: LMDB environment, named databases and batched writes. See
 * store.h. */
#include "store.h"
#include "clog.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct _store_t {
    MDB_env *env;
    MDB_dbi dbi[STORE_MAX_DBS];
    size_t count;
    uint64_t map_bytes;
    uint64_t max_bytes;
    pthread_rwlock_t resize;    /* transactions hold it shared; a resize, alone */
};

/* Per thread, so a thread reads its own failure even when another thread
 * uses the same store meanwhile. */
static _Thread_local int s_error;

/* mkdir -p: a store may sit below directories not made yet
 * (DATA/<service>/<instance>). */
static int
make_dirs (const char *dir)
{
    char path[4096];
    if (snprintf (path, sizeof path, "%s", dir) >= (int) sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir (path, 0700) && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir (path, 0700) && errno != EEXIST ? -1 : 0;
}

/* LMDB opens its data and lock files without close-on-exec, and only the
 * data file's descriptor is reachable (mdb_env_get_fd), so every
 * descriptor of this process naming a file in dir gets FD_CLOEXEC: a
 * child that execs (a sandbox's init above all) must never hold the
 * store. The files are also made 0600, whatever an older version left. */
static void
guard_files (const char *dir)
{
    char real[PATH_MAX], link[64], target[PATH_MAX];
    if (!realpath (dir, real))
        return;
    size_t n = strlen (real);
    DIR *d = opendir ("/proc/self/fd");
    struct dirent *e;
    while (d && (e = readdir (d))) {
        int fd = atoi (e->d_name);
        if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd == dirfd (d))
            continue;
        snprintf (link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t len = readlink (link, target, sizeof target - 1);
        if (len <= (ssize_t) n)
            continue;
        target[len] = 0;
        if (strncmp (target, real, n) || target[n] != '/')
            continue;
        int flags = fcntl (fd, F_GETFD);
        if (flags >= 0)
            fcntl (fd, F_SETFD, flags | FD_CLOEXEC);
        fchmod (fd, 0600);
    }
    if (d)
        closedir (d);
}

store_t *
store_new (const char *dir, const char *const names[], size_t count,
           uint64_t map_bytes, uint64_t max_bytes, unsigned env_flags)
{
    if (count > STORE_MAX_DBS)
        return NULL;
    if (make_dirs (dir)) {
        clog_error (NULL, "store: cannot create %s: %s", dir, strerror (errno));
        return NULL;
    }
    store_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->count = count;
    pthread_rwlock_init (&self->resize, NULL);
    self->map_bytes = map_bytes;
    self->max_bytes = max_bytes > map_bytes ? max_bytes : map_bytes;
    int rc = mdb_env_create (&self->env);
    if (!rc)
        rc = mdb_env_set_maxdbs (self->env, (MDB_dbi) count);
    if (!rc)
        rc = mdb_env_set_mapsize (self->env, (size_t) map_bytes);
    if (!rc)
        rc = mdb_env_open (self->env, dir, env_flags, 0600);
    if (!rc) {
        chmod (dir, 0700);
        guard_files (dir);
    }
    MDB_txn *txn = NULL;
    if (!rc)
        rc = mdb_txn_begin (self->env, NULL, 0, &txn);
    for (size_t i = 0; !rc && i < count; i++)
        rc = mdb_dbi_open (txn, names[i], MDB_CREATE, &self->dbi[i]);
    if (txn)
        rc = rc ? (mdb_txn_abort (txn), rc) : mdb_txn_commit (txn);
    MDB_envinfo info;
    if (!rc && !mdb_env_info (self->env, &info) && info.me_mapsize > self->map_bytes)
        self->map_bytes = info.me_mapsize;     /* an earlier run grew it */
    if (rc) {
        clog_error (NULL, "store: cannot open %s: %s", dir, mdb_strerror (rc));
        store_destroy (&self);
    }
    return self;
}

void
store_destroy (store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    if ((*self_p)->env)
        mdb_env_close ((*self_p)->env);
    pthread_rwlock_destroy (&(*self_p)->resize);
    free (*self_p);
    *self_p = NULL;
}

MDB_dbi
store_dbi (store_t *self, size_t index)
{
    return index < self->count ? self->dbi[index] : 0;
}

static int
grow (store_t *self)
{
    if (self->map_bytes >= self->max_bytes)
        return MDB_MAP_FULL;
    uint64_t next = self->map_bytes * 2;
    if (next > self->max_bytes)
        next = self->max_bytes;
    int rc = mdb_env_set_mapsize (self->env, (size_t) next);
    if (rc)
        return rc;
    clog_info (NULL, "store: map grown from %llu to %llu bytes",
               (unsigned long long) self->map_bytes, (unsigned long long) next);
    self->map_bytes = next;
    return 0;
}

static int
run (store_t *self, store_fn *fn, void *arg, unsigned flags)
{
    for (;;) {
        MDB_txn *txn;
        pthread_rwlock_rdlock (&self->resize);
        int rc = mdb_txn_begin (self->env, NULL, flags, &txn);
        if (!rc) {
            rc = fn (txn, arg);
            if (rc || (flags & MDB_RDONLY))
                mdb_txn_abort (txn);
            else
                rc = mdb_txn_commit (txn);
        }
        pthread_rwlock_unlock (&self->resize);
        if (rc == MDB_MAP_RESIZED) {     /* another process grew it */
            pthread_rwlock_wrlock (&self->resize);
            rc = mdb_env_set_mapsize (self->env, 0);
            pthread_rwlock_unlock (&self->resize);
            if (!rc)
                continue;
        }
        if (rc == MDB_MAP_FULL && !(flags & MDB_RDONLY)) {
            pthread_rwlock_wrlock (&self->resize);
            rc = grow (self);
            pthread_rwlock_unlock (&self->resize);
            if (!rc)
                continue;
        }
        s_error = rc;
        return rc ? -1 : 0;
    }
}

int
store_write (store_t *self, store_fn *fn, void *arg)
{
    return run (self, fn, arg, 0);
}

int
store_read (store_t *self, store_fn *fn, void *arg)
{
    return run (self, fn, arg, MDB_RDONLY);
}

int
store_sync (store_t *self)
{
    s_error = mdb_env_sync (self->env, 1);
    return s_error ? -1 : 0;
}

int
store_error (store_t *self)
{
    (void) self;
    return s_error;
}

uint64_t
store_map_size (store_t *self)
{
    return self->map_bytes;
}
