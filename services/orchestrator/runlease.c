/* runlease: the lease on this orchestrator's store, and adoption of the
 * stores of orchestrators gone for good (see runlease.h). */
#include "runlease.h"
#include "cfg.h"
#include "clog.h"
#include "svc_ident.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct _runlease_t {
    svc_t *svc;
    runstore_t *store;          /* this instance's, borrowed */
    runhost_t *host;
    int64_t lease_ms;
    int64_t scan_from;          /* no adoption before: see runlease_new */
    int timer;
    char dir[PATH_MAX];         /* this instance's store */
    char parent[PATH_MAX];      /* DATA/orchestrator: the siblings' stores */
};

/* Replaces dir/lease with doc (borrowed) by a rename, so a reader sees
 * the old lease or the new one. Returns 0 or -1. */
static int
lease_write (const char *dir, const json_t *doc)
{
    char path[PATH_MAX + 16], tmp[PATH_MAX + 16];
    int n = snprintf (path, sizeof path, "%s/lease", dir);
    int m = snprintf (tmp, sizeof tmp, "%s/lease.tmp", dir);
    if (n < 0 || (size_t) n >= sizeof path || m < 0 || (size_t) m >= sizeof tmp)
        return -1;              /* a store path too long to name its lease */
    if (json_dump_file (doc, tmp, JSON_COMPACT) || rename (tmp, path)) {
        unlink (tmp);
        return -1;
    }
    return 0;
}

/* True when dir's lease has run out and no one adopted the store since.
 * A store with no lease (kept before leases were) has run out. */
static bool
lease_over (const char *dir)
{
    char path[PATH_MAX + 16];
    snprintf (path, sizeof path, "%s/lease", dir);
    json_t *doc = json_load_file (path, 0, NULL);
    bool over = !json_object_get (doc, "adoptedBy")
             && json_integer_value (json_object_get (doc, "until")) < zclock_time ();
    json_decref (doc);
    return over;
}

static void
renew (runlease_t *self)
{
    json_t *doc = json_pack ("{s:s, s:I}", "owner", svc_instance (self->svc), "until",
                             (json_int_t) (zclock_time () + self->lease_ms));
    if (!doc || lease_write (self->dir, doc))
        clog_error (NULL, "cannot renew the lease on %s", self->dir);
    json_decref (doc);
}

/* Adopts the store in dir when its lease ran out and no process holds
 * it. Returns how many runs it took, 0 when none (or not adopted). */
static int
adopt_store (runlease_t *self, const char *dir, const char *name)
{
    char why[PATH_MAX + 64];
    if (!lease_over (dir))
        return 0;
    int fd = svc_ident_lock_dir (dir, why, sizeof why);
    if (fd < 0)
        return 0;               /* a live orchestrator (or another adopter) has it */
    int taken = 0;
    /* read again under the lock: another adopter may have been first */
    if (lease_over (dir)) {
        runstore_t *other = runstore_new (dir);
        const char *me = svc_instance (self->svc);
        taken = other ? runstore_take (self->store, other, me) : -1;
        runstore_destroy (&other);
        json_t *mark = json_pack ("{s:s, s:I}", "adoptedBy", me, "at",
                                  (json_int_t) zclock_time ());
        if (taken < 0)
            clog_error (NULL, "cannot adopt the runs of orchestrator %s", name);
        else if (!mark || lease_write (dir, mark))
            clog_error (NULL, "adopted orchestrator %s's store but cannot mark it", name);
        else
            clog_info (NULL, "orchestrator %s is gone (its lease ran out): adopted its store, "
                       "%d unfinished runs", name, taken);
        json_decref (mark);
    }
    close (fd);
    return taken > 0 ? taken : 0;
}

/* Looks at every sibling store; resumes what was adopted. */
static void
scan (runlease_t *self)
{
    DIR *d = opendir (self->parent);
    if (!d)
        return;
    int taken = 0;
    struct dirent *e;
    while ((e = readdir (d))) {
        char dir[PATH_MAX + 300], mdb[PATH_MAX + 320];
        struct stat st;
        if (e->d_name[0] == '.' || !strcmp (e->d_name, svc_instance (self->svc)))
            continue;
        snprintf (dir, sizeof dir, "%s/%s", self->parent, e->d_name);
        snprintf (mdb, sizeof mdb, "%s/data.mdb", dir);
        if (stat (dir, &st) || !S_ISDIR (st.st_mode) || access (mdb, F_OK))
            continue;           /* the `instance` slot files, or no store */
        taken += adopt_store (self, dir, e->d_name);
    }
    closedir (d);
    if (taken && runhost_resume (self->host))
        clog_error (NULL, "cannot resume the adopted runs");
}

static int
on_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop, (void) timer_id;
    runlease_t *self = arg;
    renew (self);
    if (zclock_time () >= self->scan_from)
        scan (self);
    return 0;
}

runlease_t *
runlease_new (svc_t *svc, runstore_t *store, runhost_t *host)
{
    runlease_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->svc = svc;
    self->store = store;
    self->host = host;
    uint64_t s = cfg_u64 ("CAISSON_RUN_LEASE_S");
    self->lease_ms = (int64_t) (s ? s : 1) * 1000;
    char *slash;
    if (svc_store_dir (svc, self->dir, sizeof self->dir)
        || !(slash = strrchr (self->dir, '/'))) {
        free (self);
        return NULL;
    }
    snprintf (self->parent, sizeof self->parent, "%.*s", (int) (slash - self->dir), self->dir);
    renew (self);
    /* replicas started together after a long stop (every lease run out)
     * take their own stores back first */
    self->scan_from = zclock_time () + self->lease_ms;
    self->timer = zloop_timer (svc_loop (svc), (size_t) self->lease_ms / 3, 0, on_tick, self);
    if (self->timer < 0) {
        free (self);
        return NULL;
    }
    return self;
}

void
runlease_destroy (runlease_t **self_p)
{
    runlease_t *self = *self_p;
    if (!self)
        return;
    zloop_timer_end (svc_loop (self->svc), self->timer);
    free (self);
    *self_p = NULL;
}
