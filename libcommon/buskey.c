/* buskey: the bus's CURVE keys. See buskey.h. */
#include "buskey.h"
#include "cfg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Every role that gets a keypair. llm-replay is not here: it is off the
 * bus (the orchestrator reaches it over HTTP). */
static const char *const s_services[] = {
    "ui-bridge", "orchestrator", "tool-runner", "sandbox-manager", "event-log", "egress-proxy",
    "gateway", "gateway-keys",
};
#define SERVICES (sizeof s_services / sizeof s_services[0])

/* Set by a service or the broker; empty: CAISSON_BUS_ROLE. */
static char s_role[64];

bool
buskey_curve (void)
{
    return strcmp (cfg_str ("CAISSON_BUS_CURVE"), "0") != 0;
}

void
buskey_dir (char *out, size_t outlen)
{
    cfg_path ("CAISSON_BUS_KEYS", "keys", out, outlen);
}

bool
buskey_is_service (const char *name)
{
    for (size_t i = 0; i < SERVICES; i++)
        if (!strcmp (name, s_services[i]))
            return true;
    return false;
}

void
buskey_set_role (const char *role)
{
    snprintf (s_role, sizeof s_role, "%s", role);
}

/* The process's role, or NULL with the reason in err when
 * CAISSON_BUS_ROLE is not a role name: it names a file in the key
 * directory, so it must not reach outside it. */
static const char *
own_role (char *err, size_t errlen)
{
    if (*s_role)
        return s_role;
    const char *role = cfg_str ("CAISSON_BUS_ROLE");
    size_t len = strlen (role);
    bool valid = len > 0 && len < sizeof s_role && role[0] != '-';
    for (size_t i = 0; valid && i < len; i++)
        valid = (role[i] >= 'a' && role[i] <= 'z') || (role[i] >= '0' && role[i] <= '9')
                || role[i] == '-';
    if (!valid) {
        snprintf (err, errlen, "CAISSON_BUS_ROLE \"%.64s\" is not a role name (lower-case "
                  "letters, digits and '-', at most 63)", role);
        return NULL;
    }
    return role;
}

/* Writes role's keypair into dir unless its secret file is there. */
static int
create_one (const char *dir, const char *role, char *err, size_t errlen)
{
    char pub[PATH_MAX], sec[PATH_MAX + 8];
    snprintf (pub, sizeof pub, "%s/%s.key", dir, role);
    snprintf (sec, sizeof sec, "%s_secret", pub);
    struct stat st;
    if (lstat (sec, &st) == 0 && access (pub, F_OK) == 0) {
        /* A secret someone else made is a secret someone else knows. */
        if (!S_ISREG (st.st_mode) || st.st_uid != geteuid ()) {
            snprintf (err, errlen, "bus key %s is not a file of this user (uid %u): remove it "
                      "and its .key to make a new one", sec, (unsigned) geteuid ());
            return -1;
        }
        if ((st.st_mode & 077) && chmod (sec, 0600)) {
            snprintf (err, errlen, "cannot restrict the bus key %s: %s", sec, strerror (errno));
            return -1;
        }
        return 0;
    }
    zcert_t *cert = zcert_new ();
    if (!cert) {
        snprintf (err, errlen, "cannot make a CURVE keypair for %s", role);
        return -1;
    }
    zcert_set_meta (cert, "name", "%s", role);
    /* The directory is 0700, so the moment before chmod exposes nothing. */
    int rc = zcert_save (cert, pub);
    zcert_destroy (&cert);
    if (rc || chmod (sec, 0600)) {
        snprintf (err, errlen, "cannot write the bus key %s: %s", sec, strerror (errno));
        return -1;
    }
    return 0;
}

int
buskey_create (const char *dir, char *err, size_t errlen)
{
    if (mkdir (dir, 0700) && errno != EEXIST) {
        snprintf (err, errlen, "cannot make the bus key directory %s: %s", dir, strerror (errno));
        return -1;
    }
    struct stat st;
    if (stat (dir, &st) || !S_ISDIR (st.st_mode) || st.st_uid != geteuid ()) {
        snprintf (err, errlen, "the bus key directory %s is not a directory of this user "
                  "(uid %u): another user could know the keys in it", dir, (unsigned) geteuid ());
        return -1;
    }
    if (chmod (dir, 0700)) {
        snprintf (err, errlen, "cannot restrict the bus key directory %s: %s", dir,
                  strerror (errno));
        return -1;
    }
    if (create_one (dir, BUSKEY_BUS, err, errlen) || create_one (dir, BUSKEY_CLIENT, err, errlen))
        return -1;
    for (size_t i = 0; i < SERVICES; i++)
        if (create_one (dir, s_services[i], err, errlen))
            return -1;
    return 0;
}

/* Loads dir/name.key, with its secret when secret is true. */
static zcert_t *
load (const char *name, bool secret, char *err, size_t errlen)
{
    char dir[PATH_MAX], pub[PATH_MAX + 80], sec[PATH_MAX + 96];
    buskey_dir (dir, sizeof dir);
    snprintf (pub, sizeof pub, "%s/%s.key", dir, name);
    snprintf (sec, sizeof sec, "%s_secret", pub);
    const char *need = secret ? sec : pub;
    if (access (need, R_OK)) {
        snprintf (err, errlen, "no bus key at %s (%s): `caisson up` creates the keys; "
                  "CAISSON_BUS_CURVE=0 runs the bus without them", need, strerror (errno));
        return NULL;
    }
    zcert_t *cert = zcert_load (pub);
    if (!cert)
        snprintf (err, errlen, "bus key %s is not a CURVE key file", pub);
    return cert;
}

zcert_t *
buskey_load (const char *role, char *err, size_t errlen)
{
    return load (role, true, err, errlen);
}

int
buskey_apply (zsock_t *sock, bool bind, const char *role, char *err, size_t errlen)
{
    if (!buskey_curve ())
        return 0;
    if (!role && !(role = own_role (err, errlen)))
        return -1;
    zcert_t *own = load (role, true, err, errlen);
    if (!own)
        return -1;
    zcert_apply (own, sock);
    zcert_destroy (&own);
    if (bind) {
        zsock_set_zap_domain (sock, BUSKEY_ZAP_DOMAIN);
        zsock_set_curve_server (sock, 1);
        return 0;
    }
    zcert_t *server = load (BUSKEY_BUS, false, err, errlen);
    if (!server)
        return -1;
    zsock_set_curve_serverkey (sock, zcert_public_txt (server));
    zcert_destroy (&server);
    return 0;
}
