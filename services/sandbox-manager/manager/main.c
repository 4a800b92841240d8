/* caisson-sandbox-manager: isolated Linux sandboxes on this host.
 *
 * setup opens the registry (LMDB) and takes back the sandboxes a previous
 * run left: it reconnects to each live init, and re-creates on the same
 * workspace those whose init is gone. Two timers run in the service's
 * loop: the TTL sweep, which destroys expired sandboxes (every process of
 * theirs gone within a second), and the warm pool's refill, one sandbox a
 * tick. The requests are in handler.c; sandboxes in sbx_host.c. */
#define _GNU_SOURCE
#include "sbx_mgr.h"
#include "sbx_adopt.h"
#include "sbx_cgroup.h"
#include "sbx_egress.h"
#include "sbx_gkey.h"
#include "cfg.h"
#include "sandbox_id.h"
#include "clog.h"

#include <ctype.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

static void
box_free (void **item)
{
    box_t *box = *item;
    json_decref (box->rec);
    free (box);
    *item = NULL;
}

/* An id names directories and cgroups: letters, digits and '-' only. */
static bool
safe_id (const char *id)
{
    size_t n = strlen (id);
    if (!n || n >= sizeof ((box_t *) 0)->id)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum ((unsigned char) id[i]) && id[i] != '-')
            return false;
    return true;
}

/* True when a policy record's rules still parse and stay within today's
 * ceiling (CAISSON_EGRESS_ALLOW_MAX), else false with why. */
static bool
policy_ok (json_t *rec, char *why, size_t len)
{
    json_t *allow = json_object_get (rec, "networkAllow");
    json_t *deny = json_object_get (rec, "networkDeny");
    json_t *empty = json_array (), *a = NULL, *d = NULL;
    bool ok = sbx_egress_rules (allow ? allow : empty, deny, &a, &d, why, len) == 0;
    json_decref (empty);
    json_decref (a);
    json_decref (d);
    return ok;
}

/* Why a sealed record of home cannot be restored under the current
 * settings, or NULL: its host uid outside the sandbox range or its
 * registry's part of it, a network mode no longer allowed, limits above
 * the maximums, no owner. */
static const char *
invalid (const sbx_home_t *home, json_t *rec, char *why, size_t len)
{
    uint64_t uid = (uint64_t) json_integer_value (json_object_get (rec, "uid"));
    uint64_t base = cfg_u64 ("CAISSON_SANDBOX_UID_BASE"), count = cfg_u64 ("CAISSON_SANDBOX_UID_COUNT");
    const char *net = json_string_value (json_object_get (rec, "network"));
    char rules[300];
    if (!json_is_integer (json_object_get (rec, "uid")) || uid < base || uid - base >= count
        || uid < home->uid_first || uid - home->uid_first >= home->uid_count)
        snprintf (why, len, "uid %llu is outside the sandbox range %llu+%llu "
                  "(CAISSON_SANDBOX_UID_BASE, CAISSON_SANDBOX_UID_COUNT) or its registry's "
                  "%llu+%llu", (unsigned long long) uid, (unsigned long long) base,
                  (unsigned long long) count, (unsigned long long) home->uid_first,
                  (unsigned long long) home->uid_count);
    else if (sbx_egress_mode_rank (net) < 0)
        snprintf (why, len, "network '%s' is not a network mode", net ? net : "");
    else if (sbx_egress_mode_rank (net)
             > sbx_egress_mode_rank (cfg_str ("CAISSON_SANDBOX_NETWORK_MAX")))
        snprintf (why, len, "network %s is above this deployment's ceiling "
                  "(CAISSON_SANDBOX_NETWORK_MAX=%s)", net, cfg_str ("CAISSON_SANDBOX_NETWORK_MAX"));
    else if (!strcmp (net, "policy") && !policy_ok (rec, rules, sizeof rules))
        snprintf (why, len, "its network rules are refused today: %s", rules);
    else if (!strcmp (net, "host") && !cfg_u64 ("CAISSON_SANDBOX_ALLOW_HOST_NET"))
        snprintf (why, len, "network host is not allowed (CAISSON_SANDBOX_ALLOW_HOST_NET=0)");
    else if ((uint64_t) json_integer_value (json_object_get (rec, "memoryMb")) > cfg_u64 ("CAISSON_SANDBOX_MEMORY_MAX_MB")
             || (uint64_t) json_integer_value (json_object_get (rec, "cpus")) > cfg_u64 ("CAISSON_SANDBOX_CPUS_MAX"))
        snprintf (why, len, "its limits are above the operator's maximums");
    else if (!json_is_string (json_object_get (rec, "status"))
             || (!json_is_true (json_object_get (rec, "pool"))
                 && !json_is_string (json_object_get (rec, "user"))))
        snprintf (why, len, "it has no status or no owner");
    else
        return NULL;
    return why;
}

/* Keeps uids of stored sandboxes from being handed out again. */
static void
note_uid (sbx_home_t *home, json_t *rec)
{
    uint64_t uid = (uint64_t) json_integer_value (json_object_get (rec, "uid"));
    if (uid >= home->uid_first && uid - home->uid_first + 1 > home->next_uid)
        home->next_uid = uid - home->uid_first + 1;
}

typedef struct {
    sbx_mgr_t *m;
    sbx_home_t *home;
} load_t;

/* Takes back one stored sandbox of home's instance; another instance's
 * record (its id names that instance, which alone answers for it) is
 * left as it is, though its uid stays taken. A record that is forged (its
 * seal does not hold) or no longer valid is not acted on: the sandbox is kept as
 * broken with no init pid (the one stored is not ours to signal), and
 * whatever runs in its cgroup is killed; it is never started from such a
 * record. A forged record keeps nothing else (no owner: operators alone
 * see it); a sealed one that today's settings refuse keeps its owner, who
 * sees why. */
static void
restore (const char *id, json_t *rec, const char *forged, void *arg)
{
    sbx_mgr_t *m = ((load_t *) arg)->m;
    sbx_home_t *home = ((load_t *) arg)->home;
    char why[400];
    if (sbx_gkey_restore (m->gkey, home->reg, id, rec, forged))
        return;                 /* a key revoke still to make, not a sandbox */
    if (!safe_id (id)) {
        clog_warn (NULL, "sandbox record with a malformed id (%zu bytes) ignored", strlen (id));
        return;
    }
    if (!sandbox_id_of (id, home->instance)) {
        if (!forged && rec)
            note_uid (home, rec);
        m->foreign++;
        return;
    }
    const char *bad = forged ? forged : invalid (home, rec, why, sizeof why);
    box_t *box = calloc (1, sizeof *box);
    snprintf (box->id, sizeof box->id, "%s", id);
    box->mgr = m;
    box->home = home;
    box->fd = -1;
    box->spawn_fd = -1;
    if (bad) {
        clog_warn (NULL, "sandbox %s: stored record refused: %s; marked broken, not restarted",
                   id, bad);
        char reason[500];
        snprintf (reason, sizeof reason, "record refused on restore: %s", bad);
        box->rec = forged || !rec ? json_pack ("{s:s, s:I}", "sandboxId", id, "createdAt",
                                               (json_int_t) zclock_time ())
                                  : json_deep_copy (rec);
        json_object_set_new (box->rec, "status", json_string ("broken"));
        json_object_set_new (box->rec, "reason", json_string (reason));
        json_object_set_new (box->rec, "expiresAt", json_integer (
            (json_int_t) (zclock_time () + (int64_t) cfg_u64 ("CAISSON_SANDBOX_TTL_MAX_S") * 1000)));
        json_object_del (box->rec, "initPid");
        json_object_del (box->rec, "pool");
        sbx_cgroup_kill (id);
        zhashx_insert (m->boxes, box->id, box);
        return;
    }
    box->rec = json_deep_copy (rec);
    note_uid (home, rec);
    zhashx_insert (m->boxes, box->id, box);
}

/* Reconnects home's sandboxes to their inits, or starts again those whose
 * init is gone. */
static void
reconnect_all (sbx_mgr_t *m, const sbx_home_t *home)
{
    zlistx_t *keys = zhashx_keys (m->boxes);
    for (const char *k = zlistx_first (keys); k; k = zlistx_next (keys)) {
        box_t *box = zhashx_lookup (m->boxes, k);
        const char *st = json_string_value (json_object_get (box->rec, "status"));
        if (box->home != home || !strcmp (st, "broken"))
            continue;
        if (sbx_host_connect (box) == 0) {
            clog_info (NULL, "sandbox %s: reconnected (%s)", k, st);
            continue;
        }
        if (json_is_true (json_object_get (box->rec, "pool"))) {
            sbx_host_destroy (box);
            continue;
        }
        clog_warn (NULL, "sandbox %s: init gone while sandbox-manager was down; re-creating", k);
        if (sbx_host_spawn (box) == 0) {
            json_object_set_new (box->rec, "status", json_string ("ready"));
            sbx_host_save (box);
        }
    }
    zlistx_destroy (&keys);
}

void
sbx_mgr_load (sbx_mgr_t *m, sbx_home_t *home)
{
    load_t load = { m, home };
    sbx_registry_each (home->reg, restore, &load);
    /* Refused records are stored again as what they now are (broken),
     * once the registry is no longer being read. */
    for (box_t *b = zhashx_first (m->boxes); b; b = zhashx_next (m->boxes))
        if (b->home == home
            && !strcmp (json_string_value (json_object_get (b->rec, "status")) ?: "", "broken"))
            sbx_registry_put (home->reg, b->id, b->rec);
    reconnect_all (m, home);
    /* The proxy keeps policies across its restarts, but what it holds may
     * be older than the records (a set it missed): the records win. A
     * refused record's sandbox is forgotten there (a forged one has no
     * network field to go by). */
    for (box_t *b = zhashx_first (m->boxes); b; b = zhashx_next (m->boxes)) {
        const char *net = json_string_value (json_object_get (b->rec, "network"));
        if (b->home == home && (!net || !strcmp (net, "policy"))
            && !strcmp (json_string_value (json_object_get (b->rec, "status")) ?: "", "broken"))
            sbx_egress_drop (m->egress, b->id);
    }
    sbx_egress_resync (m->egress, m, home);
}

static int
sweep (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop, (void) timer_id;
    sbx_mgr_t *m = arg;
    uint64_t now = (uint64_t) zclock_time ();
    zlistx_t *keys = zhashx_keys (m->boxes);
    for (const char *k = zlistx_first (keys); k; k = zlistx_next (keys)) {
        box_t *box = zhashx_lookup (m->boxes, k);
        if ((uint64_t) json_integer_value (json_object_get (box->rec, "expiresAt")) <= now) {
            clog_info (NULL, "sandbox %s: TTL expired; destroying", k);
            sbx_host_destroy (box);
        }
    }
    zlistx_destroy (&keys);
    return 0;
}

static int
refill (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop, (void) timer_id;
    sbx_host_bury (arg);
    sbx_pool_fill (arg);
    return 0;
}

/* Whether a local user may hold a host uid in [base, base + count): its
 * own (passwd) or one /etc/subuid or /etc/subgid lends it to map in its
 * user namespaces (rootless containers, unshare). Such a user could be a
 * sandbox's uid on the host: signal and ptrace its processes, read their
 * environment. Writes the first overlap into why. */
static bool
uids_held (uint64_t base, uint64_t count, char *why, size_t whylen)
{
    static const char *const files[] = { "/etc/subuid", "/etc/subgid" };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        FILE *f = fopen (files[i], "re");
        char line[512], name[256];
        unsigned long long start, n;
        while (f && fgets (line, sizeof line, f))
            if (sscanf (line, "%255[^:]:%llu:%llu", name, &start, &n) == 3 && start < base + count
                && base < start + n) {
                snprintf (why, whylen, "%s lends %s uids %llu..%llu", files[i], name, start,
                          start + n - 1);
                fclose (f);
                return true;
            }
        if (f)
            fclose (f);
    }
    struct passwd *pw;
    bool held = false;
    setpwent ();
    while (!held && (pw = getpwent ()))
        if ((held = (pw->pw_uid >= base && pw->pw_uid < base + count)))
            snprintf (why, whylen, "user %s has uid %u", pw->pw_name, (unsigned) pw->pw_uid);
    endpwent ();
    return held;
}

static int
setup (svc_t *svc)
{
    sbx_mgr_t *m = calloc (1, sizeof *m);
    m->svc = svc;
    if (strlen (cfg_str ("CAISSON_DATA")) > 300) {
        clog_error (NULL, "CAISSON_DATA: longer than 300 bytes, too long for sandbox sockets");
        free (m);
        return -1;
    }
    snprintf (m->data, sizeof m->data, "%s", cfg_str ("CAISSON_DATA"));
    char probe[SANDBOX_ID_SIZE];
    if (sandbox_id_new (svc_instance (svc), probe)) {
        clog_error (NULL, "CAISSON_INSTANCE '%s' cannot name sandboxes: use 1 to %d letters, "
                    "digits, '-' or '_'", svc_instance (svc), SANDBOX_ID_INSTANCE_MAX);
        free (m);
        return -1;
    }
    char why[600];
    if (uids_held (cfg_u64 ("CAISSON_SANDBOX_UID_BASE"), cfg_u64 ("CAISSON_SANDBOX_UID_COUNT"), why,
                   sizeof why)) {
        clog_error (NULL, "CAISSON_SANDBOX_UID_BASE %llu and CAISSON_SANDBOX_UID_COUNT %llu: %s, "
                    "so that user could act as a sandbox; choose a range no local user holds",
                    (unsigned long long) cfg_u64 ("CAISSON_SANDBOX_UID_BASE"),
                    (unsigned long long) cfg_u64 ("CAISSON_SANDBOX_UID_COUNT"), why);
        free (m);
        return -1;
    }
    char self[4096];
    ssize_t n = readlink ("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = 0;
    snprintf (m->initbin, sizeof m->initbin, "%s/caisson-sandbox-init", dirname (self));
    if (access (m->initbin, X_OK)) {
        clog_error (NULL, "cannot run %s", m->initbin);
        free (m);
        return -1;
    }
    m->own.lock_fd = m->own.slot_fd = -1;
    snprintf (m->own.instance, sizeof m->own.instance, "%s", svc_instance (svc));
    if (svc_store_dir (svc, m->own.dir, sizeof m->own.dir)
        || !(m->own.reg = sbx_registry_new (m->own.dir))) {
        free (m);
        return -1;
    }
    m->adopted = zlistx_new ();
    m->retired = zlistx_new ();
    if (sbx_adopt_setup (m, why, sizeof why)) {
        clog_error (NULL, "%s", why);
        sbx_registry_destroy (&m->own.reg);
        zlistx_destroy (&m->adopted);
        zlistx_destroy (&m->retired);
        free (m);
        return -1;
    }
    m->boxes = zhashx_new ();
    zhashx_set_destructor (m->boxes, box_free);
    m->graves = zlistx_new ();
    zlistx_set_duplicator (m->graves, (zlistx_duplicator_fn *) strdup);
    zlistx_set_destructor (m->graves, (zlistx_destructor_fn *) zstr_free);
    m->pending = zhashx_new ();
    zhashx_set_destructor (m->pending, (zhashx_destructor_fn *) zstr_free);
    m->egress = sbx_egress_new (svc_loop (svc), cfg_str ("CAISSON_BUS"), m->boxes);
    if (!m->egress) {
        clog_error (NULL, "cannot reach the bus for egress-proxy (CAISSON_BUS)");
        return -1;
    }
    /* No gateway-keys client: sandboxes are made without model keys. */
    m->gkey = sbx_gkey_new (svc_loop (svc), cfg_str ("CAISSON_BUS"), m->boxes, m->own.reg);
    svc_set_state (svc, m);
    sbx_mgr_load (m, &m->own);
    zloop_timer (svc_loop (svc), 200, 0, sweep, m);
    zloop_timer (svc_loop (svc), 10, 0, refill, m);
    clog_info (NULL, "%zu sandboxes restored; sandboxes under %s/sandboxes",
               zhashx_size (m->boxes), m->data);
    if (m->foreign)
        clog_warn (NULL, "%zu sandbox records of other instances left alone (not this "
                   "instance's, %s, to restore)", m->foreign, svc_instance (svc));
    return 0;
}

static void
teardown (svc_t *svc)
{
    sbx_mgr_t *m = svc_state (svc);
    if (!m)
        return;
    sbx_egress_destroy (&m->egress);
    sbx_gkey_destroy (&m->gkey);
    for (box_t *b = zhashx_first (m->boxes); b; b = zhashx_next (m->boxes))
        sbx_host_release (b);
    zhashx_destroy (&m->boxes);
    sbx_host_bury (m);
    zlistx_destroy (&m->graves);
    zhashx_destroy (&m->pending);
    sbx_adopt_teardown (m);
    sbx_registry_destroy (&m->own.reg);
    free (m);
}

int
main (int argc, char **argv)
{
    static const svc_def_t def = {
        .name = "sandbox-manager",
        .summary = "isolated Linux sandboxes on this host",
        .routes = sbx_routes,
        .setup = setup,
        .teardown = teardown,
        /* One manager per registry: two would each take the other's
         * sandboxes for dead and heal them into broken. */
        .exclusive_store = true,
    };
    return svc_main (argc, argv, &def);
}
