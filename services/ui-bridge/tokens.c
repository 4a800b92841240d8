/* tokens: hashed bearer tokens in a shared file. See tokens.h. */
#include "tokens.h"
#include "cfg.h"
#include "cid.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
} entry_t;

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
    const char *p = cfg_str ("CAISSON_TOKENS_FILE");
    if (*p)
        snprintf (out, outlen, "%s", p);
    else
        snprintf (out, outlen, "%s/ui-bridge/tokens", cfg_str ("CAISSON_DATA"));
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

int
tokens_create (const char *path, const char *user, bool operator_, char *out, size_t outlen)
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
    if (hash_hex (out, hash) || make_parents (path))
        return -1;
    int fd = open (path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    /* Several CLIs may append at once; one write per line under a lock. */
    flock (fd, LOCK_EX);
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    char line[256];
    int n = snprintf (line, sizeof line, "%s %s %s %lld\n", hash, user,
                      operator_ ? "operator" : "user",
                      (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    ssize_t w = write (fd, line, (size_t) n);
    int rc = w == n && fsync (fd) == 0 ? 0 : -1;
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
        entry_t e = { 0 };
        char role[16];
        if (sscanf (line, "%64s %64s %15s", e.hash, e.user, role) != 3
            || strlen (e.hash) != HASH_HEX)
            continue;
        e.operator_ = strcmp (role, "operator") == 0;
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

int
tokens_lookup (tokens_t *self, const char *token, char *user, bool *operator_)
{
    char hash[HASH_HEX + 1];
    if (!token || strlen (token) > 128 || hash_hex (token, hash))
        return -1;
    int rc = -1;
    pthread_mutex_lock (&self->lock);
    s_reload (self);
    for (size_t i = 0; i < self->count; i++) {
        /* Compare every byte: the time taken says nothing about the hash. */
        unsigned diff = 0;
        for (int j = 0; j < HASH_HEX; j++)
            diff |= (unsigned) (self->entries[i].hash[j] ^ hash[j]);
        if (diff == 0) {
            snprintf (user, TOKENS_USER_MAX + 1, "%s", self->entries[i].user);
            *operator_ = self->entries[i].operator_;
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock (&self->lock);
    return rc;
}
