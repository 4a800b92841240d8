/* sbx_adopt: uid ranges, leases and adoption of registries. See sbx_adopt.h. */
#define _GNU_SOURCE
#include "sbx_adopt.h"
#include "cfg.h"
#include "clog.h"
#include "svc_ident.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SLICES SVC_IDENT_SLOTS

static bool
per_instance (void)
{
    return cfg_u64 ("CAISSON_STORE_PER_INSTANCE") != 0;
}

/* DATA/sandbox-manager, the parent of every registry. */
static void
parent_dir (char *out, size_t len)
{
    snprintf (out, len, "%s/sandbox-manager", cfg_str ("CAISSON_DATA"));
}

static uint64_t
now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* Reads dir/uids ("<first> <count>"). Returns 0, or -1 when it has none. */
static int
uids_read (const char *dir, uint64_t *first, uint64_t *count)
{
    char path[PATH_MAX + 8];
    snprintf (path, sizeof path, "%s/uids", dir);
    FILE *f = fopen (path, "re");
    unsigned long long a = 0, n = 0;
    int ok = f && fscanf (f, "%llu %llu", &a, &n) == 2 && n > 0;
    if (f)
        fclose (f);
    if (!ok)
        return -1;
    *first = a;
    *count = n;
    return 0;
}

/* True when [first, first + count) overlaps a range another registry in
 * parent (not self) has claimed. */
static bool
range_taken (const char *parent, const char *self, uint64_t first, uint64_t count)
{
    DIR *d = opendir (parent);
    struct dirent *e;
    bool taken = false;
    while (d && !taken && (e = readdir (d))) {
        if (e->d_name[0] == '.' || !strcmp (e->d_name, self))
            continue;
        char dir[PATH_MAX];
        uint64_t a, n;
        snprintf (dir, sizeof dir, "%s/%.255s", parent, e->d_name);
        taken = uids_read (dir, &a, &n) == 0 && a < first + count && first < a + n;
    }
    if (d)
        closedir (d);
    return taken;
}

/* Claims home's uid range: the one its `uids` file names, else the first
 * 64th of the sandbox range no other registry holds (under a lock, so two
 * managers starting together take two). Returns 0 or -1 with err. */
static int
uids_claim (sbx_home_t *home, char *err, size_t errlen)
{
    if (uids_read (home->dir, &home->uid_first, &home->uid_count) == 0)
        return 0;
    char parent[1024], path[PATH_MAX + 16];
    parent_dir (parent, sizeof parent);
    snprintf (path, sizeof path, "%s/uids.lock", parent);
    int lock = open (path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (lock < 0 || flock (lock, LOCK_EX)) {
        snprintf (err, errlen, "cannot lock %s: %s", path, strerror (errno));
        if (lock >= 0)
            close (lock);
        return -1;
    }
    uint64_t base = cfg_u64 ("CAISSON_SANDBOX_UID_BASE");
    uint64_t size = cfg_u64 ("CAISSON_SANDBOX_UID_COUNT") / SLICES;
    int rc = -1;
    for (uint64_t i = 0; size && i < SLICES && rc; i++) {
        if (range_taken (parent, home->instance, base + i * size, size))
            continue;
        snprintf (path, sizeof path, "%s/uids", home->dir);
        FILE *f = fopen (path, "we");
        bool ok = f && fprintf (f, "%llu %llu\n", (unsigned long long) (base + i * size),
                                (unsigned long long) size) > 0;
        if (ok && fflush (f) == 0 && !fsync (fileno (f))) {
            home->uid_first = base + i * size;
            home->uid_count = size;
            rc = 0;
        }
        else
            snprintf (err, errlen, "cannot write %s: %s", path, strerror (errno));
        if (f)
            fclose (f);
        if (rc)
            break;
    }
    if (rc && !size)
        snprintf (err, errlen, "CAISSON_SANDBOX_UID_COUNT %llu is too small to give each of "
                  "%d registries its own range", (unsigned long long) cfg_u64 (
                      "CAISSON_SANDBOX_UID_COUNT"), SLICES);
    else if (rc && !*err)
        snprintf (err, errlen, "every uid range of the sandbox range is held by a registry in "
                  "%s: remove the registries of managers gone for good", parent);
    close (lock);
    return rc;
}

/* Writes home's lease: its own for CAISSON_SANDBOX_LEASE_S from now. */
static void
lease_renew (sbx_home_t *home)
{
    char path[PATH_MAX + 8], line[32];
    snprintf (path, sizeof path, "%s/lease", home->dir);
    int fd = open (path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    /* Fixed width, written at once: a reader never sees half a lease.
     * A lease of 0 never lapses: this registry is never adopted. */
    uint64_t lease = cfg_u64 ("CAISSON_SANDBOX_LEASE_S");
    int n = snprintf (line, sizeof line, "%020llu\n", (unsigned long long) (
        lease ? now_ms () + lease * 1000 : UINT64_MAX / 2));
    if (fd < 0 || pwrite (fd, line, (size_t) n, 0) != n)
        clog_warn (NULL, "%s: cannot renew the lease: %s", path, strerror (errno));
    if (fd >= 0)
        close (fd);
}

/* True when dir's lease has lapsed. A registry with no lease (made before
 * leases) holds one from its lock's last change, as long as ours. */
static bool
lease_lapsed (const char *dir)
{
    char path[PATH_MAX + 8], line[32] = "";
    snprintf (path, sizeof path, "%s/lease", dir);
    FILE *f = fopen (path, "re");
    unsigned long long until = 0;
    bool have = f && fgets (line, sizeof line, f) && sscanf (line, "%llu", &until) == 1;
    if (f)
        fclose (f);
    if (!have) {
        struct stat st;
        snprintf (path, sizeof path, "%s/lock", dir);
        if (stat (path, &st))
            return false;
        until = ((unsigned long long) st.st_mtime + cfg_u64 ("CAISSON_SANDBOX_LEASE_S")) * 1000;
    }
    return now_ms () > until;
}

static bool
held (sbx_mgr_t *m, const char *instance)
{
    if (!strcmp (m->own.instance, instance))
        return true;
    for (sbx_home_t *h = zlistx_first (m->adopted); h; h = zlistx_next (m->adopted))
        if (!strcmp (h->instance, instance))
            return true;
    return false;
}

/* Removes a lapsed registry that keeps no sandbox (its uid range frees). */
static void
reclaim (const char *dir)
{
    static const char *const files[] = { "data.mdb", "lock.mdb", "seal.key", "uids", "lease",
                                         "lock" };
    char path[PATH_MAX + 16];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf (path, sizeof path, "%s/%s", dir, files[i]);
        unlink (path);
    }
    rmdir (dir);
}

/* Lets go of an adopted registry. Its worker leaves the bus at once and is
 * destroyed with the manager (zloop may still call it in this pass). */
static void
home_free (sbx_mgr_t *m, sbx_home_t **home_p)
{
    sbx_home_t *h = *home_p;
    if (!h)
        return;
    if (h->worker) {
        bus_worker_stop (h->worker);
        zlistx_add_end (m->retired, h->worker);
    }
    sbx_registry_destroy (&h->reg);
    if (h->lock_fd >= 0)
        close (h->lock_fd);
    if (h->slot_fd >= 0)
        close (h->slot_fd);
    free (h);
    *home_p = NULL;
}

/* Adopts the registry of instance in parent when no process holds it and
 * its lease has lapsed. */
static void
try_adopt (sbx_mgr_t *m, const char *parent, const char *instance)
{
    sbx_home_t *h = calloc (1, sizeof *h);
    char why[PATH_MAX + 64], mdb[PATH_MAX + 16];
    snprintf (h->instance, sizeof h->instance, "%s", instance);
    snprintf (h->dir, sizeof h->dir, "%s/%s", parent, instance);
    snprintf (mdb, sizeof mdb, "%s/data.mdb", h->dir);
    h->slot_fd = -1;
    if (access (mdb, F_OK) || !lease_lapsed (h->dir)
        || (h->lock_fd = svc_ident_lock_dir (h->dir, why, sizeof why)) < 0) {
        free (h);
        return;
    }
    /* Its own process, starting again, takes its slot first: it wins. */
    h->slot_fd = svc_ident_hold (cfg_str ("CAISSON_DATA"), "sandbox-manager", instance);
    if (h->slot_fd == -1) {
        home_free (m, &h);
        return;
    }
    if (uids_read (h->dir, &h->uid_first, &h->uid_count)) {
        /* made before ranges: its sandboxes may hold any uid of the range */
        h->uid_first = cfg_u64 ("CAISSON_SANDBOX_UID_BASE");
        h->uid_count = cfg_u64 ("CAISSON_SANDBOX_UID_COUNT");
    }
    if (!(h->reg = sbx_registry_new (h->dir))) {
        home_free (m, &h);
        return;
    }
    size_t before = zhashx_size (m->boxes);
    sbx_mgr_load (m, h);
    /* An unclaimed pooled sandbox is no one's: not worth keeping. */
    zlistx_t *keys = zhashx_keys (m->boxes);
    for (const char *k = zlistx_first (keys); k; k = zlistx_next (keys)) {
        box_t *b = zhashx_lookup (m->boxes, k);
        if (b->home == h && json_is_true (json_object_get (b->rec, "pool")))
            sbx_host_destroy (b);
    }
    zlistx_destroy (&keys);
    size_t kept = zhashx_size (m->boxes) - before;
    if (!kept) {
        clog_info (NULL, "registry %s: its manager is gone and it keeps no sandbox; removed",
                   h->dir);
        sbx_registry_destroy (&h->reg);
        reclaim (h->dir);
        home_free (m, &h);
        return;
    }
    h->worker = bus_worker_new (cfg_str ("CAISSON_BUS"), "sandbox-manager", instance,
                                CAISSON_VERSION, NULL, m->svc);
    if (!h->worker || bus_worker_set_routes (h->worker, sbx_routes)
        || bus_worker_start (h->worker, svc_loop (m->svc)))
        clog_error (NULL, "registry %s: adopted, but sandbox-manager.%s cannot be served on "
                    "the bus", h->dir, instance);
    lease_renew (h);
    zlistx_add_end (m->adopted, h);
    clog_warn (NULL, "adopted the registry of sandbox-manager.%s (gone, lease lapsed): %zu "
               "sandboxes, served as sandbox-manager.%s", instance, kept, instance);
}

/* True when no sandbox of m is kept in home. */
static bool
empty (sbx_mgr_t *m, const sbx_home_t *home)
{
    for (box_t *b = zhashx_first (m->boxes); b; b = zhashx_next (m->boxes))
        if (b->home == home)
            return false;
    return true;
}

/* Renews the leases of every registry served, lets go of adopted ones
 * left with no sandbox (removed, their uid ranges free), and adopts
 * lapsed ones. */
static int
tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop, (void) timer_id;
    sbx_mgr_t *m = arg;
    lease_renew (&m->own);
    for (sbx_home_t *h = zlistx_first (m->adopted); h; h = zlistx_next (m->adopted)) {
        if (!empty (m, h) || sbx_host_awaits (m, h->worker)) {
            lease_renew (h);
            continue;
        }
        clog_info (NULL, "registry %s: its last adopted sandbox is gone; removed", h->dir);
        zlistx_detach_cur (m->adopted);
        sbx_registry_destroy (&h->reg);
        reclaim (h->dir);
        home_free (m, &h);
    }
    if (now_ms () < m->adopt_from)
        return 0;
    char parent[1024];
    parent_dir (parent, sizeof parent);
    DIR *d = opendir (parent);
    struct dirent *e;
    zlistx_t *names = zlistx_new ();
    zlistx_set_duplicator (names, (zlistx_duplicator_fn *) strdup);
    zlistx_set_destructor (names, (zlistx_destructor_fn *) zstr_free);
    while (d && (e = readdir (d))) {
        bool shaped = e->d_name[0] && strlen (e->d_name) < sizeof m->own.instance;
        for (const char *c = e->d_name; *c && shaped; c++)
            shaped = isalnum ((unsigned char) *c) || *c == '-' || *c == '_';
        if (shaped && !held (m, e->d_name))
            zlistx_add_end (names, e->d_name);
    }
    if (d)
        closedir (d);
    for (const char *n = zlistx_first (names); n; n = zlistx_next (names))
        try_adopt (m, parent, n);
    zlistx_destroy (&names);
    return 0;
}

int
sbx_adopt_setup (sbx_mgr_t *m, char *err, size_t errlen)
{
    *err = '\0';
    if (!per_instance ()) {
        /* one registry for the data dir: the whole range is its own */
        m->own.uid_first = cfg_u64 ("CAISSON_SANDBOX_UID_BASE");
        m->own.uid_count = cfg_u64 ("CAISSON_SANDBOX_UID_COUNT");
        return 0;
    }
    if (uids_claim (&m->own, err, errlen))
        return -1;
    clog_info (NULL, "host uids %llu..%llu for this registry's sandboxes",
               (unsigned long long) m->own.uid_first,
               (unsigned long long) (m->own.uid_first + m->own.uid_count - 1));
    uint64_t lease = cfg_u64 ("CAISSON_SANDBOX_LEASE_S");
    lease_renew (&m->own);
    m->adopt_from = now_ms () + lease * 1000;
    if (lease)
        zloop_timer (svc_loop (m->svc), lease * 1000 / 3 ?: 1, 0, tick, m);
    return 0;
}

void
sbx_adopt_teardown (sbx_mgr_t *m)
{
    sbx_home_t *h;
    while ((h = zlistx_detach (m->adopted, NULL)))
        home_free (m, &h);
    zlistx_destroy (&m->adopted);
    bus_worker_t *w;
    while ((w = zlistx_detach (m->retired, NULL)))
        bus_worker_destroy (&w);
    zlistx_destroy (&m->retired);
}

sbx_home_t *
sbx_adopt_current (sbx_mgr_t *m)
{
    for (sbx_home_t *h = zlistx_first (m->adopted); h; h = zlistx_next (m->adopted))
        if (bus_worker_dispatching (h->worker))
            return h;
    return &m->own;
}

bus_pending_t *
sbx_adopt_defer (sbx_mgr_t *m, bus_worker_t **worker)
{
    sbx_home_t *h = sbx_adopt_current (m);
    *worker = h->worker ? h->worker : svc_worker (m->svc);
    return bus_worker_defer (*worker);
}

bool
sbx_adopt_serves (sbx_mgr_t *m, const char *instance)
{
    return held (m, instance);
}
