/* tokens: hashed bearer tokens in a shared file. See tokens.h. */
#include "tokens.h"
#include "cfg.h"
#include "cid.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TOKEN_RANDOM 40         /* characters of 5 bits each */
#define HASH_HEX 64

typedef struct {
    char hash[HASH_HEX + 1];
    char user[TOKENS_USER_MAX + 1];
    bool operator_;
    uint64_t created, expires;  /* ms since the epoch; expires 0: never */
    uint64_t used, written;     /* last use, and the last use last written */
} entry_t;

#define USE_WRITE_MS 60000      /* a token's last use is written at most this often */

struct _tokens_t {
    char path[1024];
    pthread_mutex_t lock;
    entry_t *entries;
    size_t count;
    struct timespec mtime;      /* of the file last loaded */
    off_t size;
    ino_t ino;
};

void
tokens_path (char *out, size_t outlen)
{
    cfg_path ("CAISSON_TOKENS_FILE", "ui-bridge/tokens", out, outlen);
}

bool
tokens_valid_user (const char *name)
{
    size_t n = name ? strlen (name) : 0;
    if (n == 0 || n > TOKENS_USER_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '.' || c == '_' || c == '@' || c == '-'))
            return false;
    }
    return true;
}

static int
hash_hex (const char *token, char out[HASH_HEX + 1])
{
    unsigned char digest[32];
    if (gnutls_hash_fast (GNUTLS_DIG_SHA256, token, strlen (token), digest) < 0)
        return -1;
    for (int i = 0; i < 32; i++)
        snprintf (out + 2 * i, 3, "%02x", digest[i]);
    return 0;
}

static int
make_parents (const char *path)
{
    char dir[1024];
    snprintf (dir, sizeof dir, "%s", path);
    for (char *p = dir + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir (dir, 0700) && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return 0;
}

uint64_t
tokens_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

int
tokens_parse_duration (const char *text, uint64_t *ms)
{
    if (!text || !*text)
        return -1;
    if (!strcmp (text, "never") || !strcmp (text, "0")) {
        *ms = 0;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long long n = strtoull (text, &end, 10);
    uint64_t unit = !strcmp (end, "s") ? 1000 : !strcmp (end, "m") ? 60000
                  : !strcmp (end, "h") ? 3600000 : !strcmp (end, "d") ? 86400000 : 0;
    if (errno || end == text || text[0] == '-' || !unit || n == 0 || n > 36500ull * 86400)
        return -1;
    *ms = n * unit;
    return 0;
}

/* Opens the token file for an exclusive change (created 0600, parents
 * made) and locks it. A revoke replaces the file by rename, so the lock
 * holds only while the descriptor still names the file at path. */
static int
lock_file (const char *path)
{
    if (make_parents (path))
        return -1;
    for (int tries = 0; tries < 100; tries++) {
        int fd = open (path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0)
            return -1;
        struct stat a, b;
        if (flock (fd, LOCK_EX) == 0 && fstat (fd, &a) == 0 && stat (path, &b) == 0
            && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
            return fd;
        close (fd);
    }
    errno = EAGAIN;
    return -1;
}

int
tokens_create (const char *path, const char *user, bool operator_, uint64_t expires_in_ms,
               char *out, size_t outlen)
{
    if (!tokens_valid_user (user) || outlen < 64) {
        errno = EINVAL;
        return -1;
    }
    char random[TOKEN_RANDOM + 1], hash[HASH_HEX + 1];
    cid_token (random, 20);
    cid_token (random + 20, 20);
    random[TOKEN_RANDOM] = '\0';
    snprintf (out, outlen, "cst_%s", random);
    if (hash_hex (out, hash))
        return -1;
    /* Several CLIs may append at once; one write per line under a lock. */
    int fd = lock_file (path);
    if (fd < 0)
        return -1;
    uint64_t now = tokens_now_ms ();
    char line[256];
    int n = snprintf (line, sizeof line, "%s %s %s %" PRIu64 " %" PRIu64 "\n", hash, user,
                      operator_ ? "operator" : "user", now,
                      expires_in_ms ? now + expires_in_ms : 0);
    ssize_t w = write (fd, line, (size_t) n);
    int rc = w == n && fsync (fd) == 0 ? 0 : -1;
    close (fd);
    return rc;
}

/* Parses one line of the token file into e. Returns 0, or -1 when it is
 * not a token line. */
static int
parse_line (const char *line, entry_t *e)
{
    char role[16];
    unsigned long long created = 0, expires = 0;
    memset (e, 0, sizeof *e);
    if (sscanf (line, "%64s %64s %15s %llu %llu", e->hash, e->user, role, &created,
                &expires) < 3 || strlen (e->hash) != HASH_HEX)
        return -1;
    e->operator_ = strcmp (role, "operator") == 0;
    e->created = created;
    e->expires = expires;
    return 0;
}

/* The used file beside the token file: `<hash> <last use ms>` lines,
 * written by ui-bridge (the token file itself is only the CLI's). */
static void
used_path (const char *path, char *out, size_t outlen)
{
    snprintf (out, outlen, "%s.used", path);
}

static void
s_free_use (void **item)
{
    free (*item);
    *item = NULL;
}

/* The used file at upath as hash -> last use (uint64_t ms); empty when
 * there is none; NULL when out of memory. */
static zhashx_t *
load_uses (const char *upath)
{
    zhashx_t *uses = zhashx_new ();
    if (!uses)
        return NULL;
    zhashx_set_destructor (uses, s_free_use);
    FILE *f = fopen (upath, "re");
    char line[160], h[HASH_HEX + 1];
    unsigned long long ms;
    while (f && fgets (line, sizeof line, f)) {
        if (sscanf (line, "%64s %llu", h, &ms) != 2 || strlen (h) != HASH_HEX)
            continue;
        uint64_t *v = zhashx_lookup (uses, h);
        if (!v && (v = calloc (1, sizeof *v)))
            zhashx_insert (uses, h, v);
        if (v && ms > *v)
            *v = ms;
    }
    if (f)
        fclose (f);
    return uses;
}

/* The last use of hash in uses (from load_uses), or 0. */
static uint64_t
used_of (zhashx_t *uses, const char *hash)
{
    uint64_t *v = uses ? zhashx_lookup (uses, hash) : NULL;
    return v ? *v : 0;
}

int
tokens_list (const char *path, tokens_list_fn *fn, void *arg)
{
    FILE *f = fopen (path, "re");
    if (!f)
        return errno == ENOENT ? 0 : -1;
    char upath[1100];
    used_path (path, upath, sizeof upath);
    zhashx_t *uses = load_uses (upath);
    char line[512];
    while (fgets (line, sizeof line, f)) {
        entry_t e;
        if (parse_line (line, &e))
            continue;
        char id[TOKENS_ID_LEN + 1];
        memcpy (id, e.hash, TOKENS_ID_LEN);
        id[TOKENS_ID_LEN] = '\0';
        fn (id, e.user, e.operator_, e.created, e.expires, used_of (uses, e.hash), arg);
    }
    zhashx_destroy (&uses);
    fclose (f);
    return 0;
}

int
tokens_revoke (const char *path, const char *id)
{
    size_t idlen = id ? strlen (id) : 0;
    if (idlen < 8 || idlen > HASH_HEX || strspn (id, "0123456789abcdef") != idlen) {
        errno = EINVAL;
        return -1;
    }
    int fd = lock_file (path);
    if (fd < 0)
        return -1;
    int copy = fcntl (fd, F_DUPFD_CLOEXEC, 0);
    FILE *in = copy >= 0 ? fdopen (copy, "r") : NULL;
    if (!in && copy >= 0)
        close (copy);
    char tmp[1100];
    snprintf (tmp, sizeof tmp, "%s.new", path);
    int out = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int matched = 0, rc = -1;
    if (in && out >= 0) {
        rewind (in);
        char line[512];
        bool failed = false;
        while (fgets (line, sizeof line, in)) {
            entry_t e;
            if (parse_line (line, &e) == 0 && !strncmp (e.hash, id, idlen)) {
                matched++;
                continue;
            }
            size_t n = strlen (line);
            failed |= write (out, line, n) != (ssize_t) n;
        }
        if (matched != 1)
            errno = matched ? EEXIST : ENOENT;
        else if (!failed && fsync (out) == 0 && rename (tmp, path) == 0)
            rc = 0;
    }
    if (in)
        fclose (in);
    if (out >= 0)
        close (out);
    if (rc)
        unlink (tmp);
    close (fd);
    return rc;
}

tokens_t *
tokens_new (const char *path)
{
    tokens_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    snprintf (self->path, sizeof self->path, "%s", path);
    pthread_mutex_init (&self->lock, NULL);
    return self;
}

void
tokens_destroy (tokens_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tokens_t *self = *self_p;
    pthread_mutex_destroy (&self->lock);
    free (self->entries);
    free (self);
    *self_p = NULL;
}

/* Rereads the file when its identity, size or mtime changed. A missing
 * file means no tokens. Called with the lock held. */
static void
s_reload (tokens_t *self)
{
    struct stat st;
    if (stat (self->path, &st)) {
        free (self->entries);
        self->entries = NULL;
        self->count = 0;
        self->size = -1;
        return;
    }
    if (st.st_ino == self->ino && st.st_size == self->size
        && st.st_mtim.tv_sec == self->mtime.tv_sec && st.st_mtim.tv_nsec == self->mtime.tv_nsec)
        return;
    FILE *f = fopen (self->path, "re");
    if (!f)
        return;
    entry_t *list = NULL;
    size_t count = 0, cap = 0;
    char line[512];
    while (fgets (line, sizeof line, f)) {
        entry_t e;
        if (parse_line (line, &e))
            continue;
        /* a token's use so far outlives the reload */
        for (size_t i = 0; i < self->count; i++)
            if (!strcmp (self->entries[i].hash, e.hash)) {
                e.used = self->entries[i].used;
                e.written = self->entries[i].written;
                break;
            }
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            entry_t *grown = realloc (list, ncap * sizeof *list);
            if (!grown)
                break;
            list = grown;
            cap = ncap;
        }
        list[count++] = e;
    }
    fclose (f);
    free (self->entries);
    self->entries = list;
    self->count = count;
    self->ino = st.st_ino;
    self->size = st.st_size;
    self->mtime = st.st_mtim;
}

/* Writes the used file: the last use of every token known here, merged
 * with what the file holds (other ui-bridge instances write it too),
 * through a renamed temporary file. Called with the lock held, when a
 * token's last write is a minute old. */
static void
write_uses (tokens_t *self)
{
    char upath[1100], tmp[1200];
    /* marked written first: a file that cannot be written (a read-only
     * mount) is tried again a minute later, not at every request */
    for (size_t i = 0; i < self->count; i++)
        self->entries[i].written = self->entries[i].used;
    used_path (self->path, upath, sizeof upath);
    snprintf (tmp, sizeof tmp, "%s.%d", upath, (int) getpid ());
    zhashx_t *old = load_uses (upath);
    FILE *out = fopen (tmp, "we");
    if (!out) {
        zhashx_destroy (&old);
        return;
    }
    fchmod (fileno (out), 0600);
    for (size_t i = 0; i < self->count; i++) {
        entry_t *e = &self->entries[i];
        uint64_t theirs = used_of (old, e->hash), ms = e->used > theirs ? e->used : theirs;
        if (ms)
            fprintf (out, "%s %" PRIu64 "\n", e->hash, ms);
    }
    zhashx_destroy (&old);
    bool ok = fflush (out) == 0 && fsync (fileno (out)) == 0;
    if (fclose (out) || !ok || rename (tmp, upath))
        unlink (tmp);
}

int
tokens_lookup (tokens_t *self, const char *token, char *user, bool *operator_)
{
    char hash[HASH_HEX + 1];
    if (!token || strlen (token) > 128 || hash_hex (token, hash))
        return TOKENS_UNKNOWN;
    int rc = TOKENS_UNKNOWN;
    uint64_t now = tokens_now_ms ();
    pthread_mutex_lock (&self->lock);
    s_reload (self);
    for (size_t i = 0; i < self->count; i++) {
        /* Compare every byte: the time taken says nothing about the hash. */
        unsigned diff = 0;
        entry_t *e = &self->entries[i];
        for (int j = 0; j < HASH_HEX; j++)
            diff |= (unsigned) (e->hash[j] ^ hash[j]);
        if (diff)
            continue;
        if (e->expires && e->expires <= now) {
            rc = TOKENS_EXPIRED;
            break;
        }
        snprintf (user, TOKENS_USER_MAX + 1, "%s", e->user);
        *operator_ = e->operator_;
        e->used = now;
        if (now - e->written >= USE_WRITE_MS)
            write_uses (self);
        rc = 0;
        break;
    }
    pthread_mutex_unlock (&self->lock);
    return rc;
}
