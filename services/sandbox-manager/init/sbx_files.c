/* sbx_files: file operations, answered by a sandbox's init
 * inside the sandbox's own mount namespace. Every path is resolved there:
 * relative paths start at /workspace, `..` is refused outright, and the
 * resolved path (symlinks followed, as the kernel would) must lie under
 * one of the writable roots, /workspace or /tmp. Since init has the
 * sandbox's uid, no capabilities and the sandbox's view, a race that
 * swaps a symlink after the check still reaches only what the sandbox's
 * own processes could. Writes are atomic: a temporary file beside the
 * target, then rename. */
#define _GNU_SOURCE
#include "sbx_disk.h"
#include "sbx_initd.h"
#include "mpjson.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LIST 10000

static bool
under_roots (const char *p)
{
    static const char *const roots[] = { PROTO_SANDBOX_WORKSPACE, "/tmp" };
    for (size_t i = 0; i < 2; i++) {
        size_t n = strlen (roots[i]);
        if (strncmp (p, roots[i], n) == 0 && (p[n] == 0 || p[n] == '/'))
            return true;
    }
    return false;
}

int
sbx_files_resolve (const char *path, bool want_parent, char *out, size_t outlen, char *why,
                   size_t whylen)
{
    char full[PATH_MAX], res[PATH_MAX];
    if (!path || !*path) {
        snprintf (why, whylen, "path: empty");
        return -1;
    }
    if (snprintf (full, sizeof full, "%s%s", path[0] == '/' ? "" : PROTO_SANDBOX_WORKSPACE "/",
                  path)
        >= (int) sizeof full) {
        snprintf (why, whylen, "path: too long");
        return -1;
    }
    for (char *s = full; (s = strstr (s, "..")); s += 2)
        if ((s == full || s[-1] == '/') && (s[2] == 0 || s[2] == '/')) {
            snprintf (why, whylen, "path: '%s' contains '..'", path);
            return -1;
        }
    size_t n = strlen (full);
    while (n > 1 && full[n - 1] == '/')
        full[--n] = 0;
    char base[NAME_MAX + 1] = "";
    if (want_parent) {
        char *slash = strrchr (full, '/');
        if (strlen (slash + 1) > NAME_MAX || !slash[1]) {
            snprintf (why, whylen, "path: '%s' names no file", path);
            return -1;
        }
        strcpy (base, slash + 1);
        if (slash == full)
            slash[1] = 0;
        else
            *slash = 0;
    }
    if (!realpath (full, res)) {
        snprintf (why, whylen, "path: '%s': %s", path, strerror (errno));
        return -1;
    }
    if (!under_roots (res)) {
        snprintf (why, whylen, "path: '%s' resolves to %s, outside the sandbox's writable "
                  "roots (/workspace, /tmp)", path, res);
        return -1;
    }
    if (snprintf (out, outlen, "%s%s%s", res, *base ? "/" : "", base) >= (int) outlen) {
        snprintf (why, whylen, "path: too long");
        return -1;
    }
    if (want_parent && (!strcmp (out, PROTO_SANDBOX_WORKSPACE) || !strcmp (out, "/tmp"))) {
        snprintf (why, whylen, "path: '%s' is a sandbox root", path);
        return -1;
    }
    return 0;
}

/* mkdir -p of the parents of path (or of path itself with self). */
static int
make_dirs (const char *path, bool self, char *why, size_t whylen)
{
    char full[PATH_MAX], probe[PATH_MAX];
    snprintf (full, sizeof full, "%s%s", path[0] == '/' ? "" : PROTO_SANDBOX_WORKSPACE "/",
              path);
    for (char *s = full + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        if (sbx_files_resolve (full, false, probe, sizeof probe, why, whylen) && errno != ENOENT)
            return -1;
        if (mkdir (full, 0755) && errno != EEXIST) {
            snprintf (why, whylen, "path: mkdir %.400s: %s", full, strerror (errno));
            return -1;
        }
        *s = '/';
    }
    if (self && mkdir (full, 0755) && errno != EEXIST) {
        snprintf (why, whylen, "path: mkdir %.400s: %s", full, strerror (errno));
        return -1;
    }
    return 0;
}

static int
write_atomic (const char *path, const void *data, size_t len, unsigned mode, char *out,
              size_t outlen, char *why, size_t whylen)
{
    if (make_dirs (path, false, why, whylen)
        || sbx_files_resolve (path, true, out, outlen, why, whylen))
        return -1;
    char tmp[PATH_MAX + 32];
    static unsigned seq;
    snprintf (tmp, sizeof tmp, "%s.caisson-tmp-%u", out, ++seq);
    int fd = open (tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode ? mode : 0644);
    if (fd < 0) {
        int e = errno;
        snprintf (why, whylen, "path: %.400s: %s", out, strerror (e));
        errno = e;
        return -1;
    }
    const uint8_t *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write (fd, p, left);
        if (w <= 0) {
            int e = errno;
            snprintf (why, whylen, "path: writing %.400s: %s", out, strerror (e));
            close (fd);
            unlink (tmp);
            errno = e;
            return -1;
        }
        p += w;
        left -= (size_t) w;
    }
    close (fd);
    if (rename (tmp, out)) {
        int e = errno;
        snprintf (why, whylen, "path: %.400s: %s", out, strerror (e));
        unlink (tmp);
        errno = e;
        return -1;
    }
    return 0;
}

/* The error for a write of path that failed with why (errno still the
 * cause): `workspace_full`, saying which limit, when the filesystem ran
 * out of space or inodes; else `bad_path`. */
static proto_msg_t *
write_error (const sbx_ictx_t *ctx, const proto_msg_t *req, const char *path, const char *prefix,
             const char *why)
{
    if (errno != ENOSPC && errno != EDQUOT)
        return proto_error_new (req, PROTO_ERR_bad_path, "%s%s", prefix, why);
    char full[200];
    if (!strncmp (path, "/tmp", 4) && (path[4] == '/' || !path[4]))
        snprintf (full, sizeof full, "/tmp full");
    else
        sbx_disk_full (PROTO_SANDBOX_WORKSPACE, ctx->disk_mb, ctx->disk_inodes, true, full,
                       sizeof full);
    return proto_error_new (req, PROTO_ERR_workspace_full, "%s: %s%s", full, prefix, why);
}

static const char *
type_name (mode_t m)
{
    return S_ISREG (m) ? "file" : S_ISDIR (m) ? "directory" : S_ISLNK (m) ? "symlink" : "other";
}

static void
list_dir (const char *dir, unsigned depth, json_t *arr)
{
    DIR *d = opendir (dir);
    struct dirent *e;
    while (d && (e = readdir (d)) && json_array_size (arr) < MAX_LIST) {
        if (!strcmp (e->d_name, ".") || !strcmp (e->d_name, ".."))
            continue;
        char p[PATH_MAX];
        struct stat st;
        if (snprintf (p, sizeof p, "%s/%s", strcmp (dir, "/") ? dir : "", e->d_name) >= (int) sizeof p
            || fstatat (dirfd (d), e->d_name, &st, AT_SYMLINK_NOFOLLOW))
            continue;
        json_array_append_new (arr, json_pack ("{s:s, s:s, s:s, s:I, s:I}", "name", e->d_name,
                                               "path", p, "type", type_name (st.st_mode), "size",
                                               (json_int_t) st.st_size, "modifiedTime",
                                               (json_int_t) st.st_mtime * 1000));
        if (S_ISDIR (st.st_mode) && depth > 1)
            list_dir (p, depth - 1, arr);
    }
    if (d)
        closedir (d);
}

static int
rm_one (const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st, (void) ftw;
    return flag == FTW_DP ? rmdir (p) : unlink (p);
}

static void
perms (mode_t m, char out[10])
{
    const char *c = "rwxrwxrwx";
    for (int i = 0; i < 9; i++)
        out[i] = m & (1 << (8 - i)) ? c[i] : '-';
    out[9] = 0;
}

static proto_msg_t *
file_info (const proto_msg_t *req, const char *sid, const char *path, const struct stat *st)
{
    proto_msg_t *rep = proto_msg_new (PROTO_sandbox_file_info, req);
    proto_sandbox_file_info_t *r = &rep->body.sandbox_file_info;
    proto_set_str (&r->sandbox_id, sid);
    proto_set_str (&r->path, path);
    proto_set_str (&r->name, strrchr (path, '/') + 1);
    proto_set_str (&r->type, type_name (st->st_mode));
    r->size = (uint64_t) st->st_size;
    r->mode = st->st_mode;
    char pm[10], num[24];
    perms (st->st_mode, pm);
    proto_set_str (&r->permissions, pm);
    struct passwd *pw = getpwuid (st->st_uid);
    snprintf (num, sizeof num, "%u", (unsigned) st->st_uid);
    proto_set_str (&r->owner, pw ? pw->pw_name : num);
    struct group *gr = getgrgid (st->st_gid);
    snprintf (num, sizeof num, "%u", (unsigned) st->st_gid);
    proto_set_str (&r->group, gr ? gr->gr_name : num);
    r->modified_time = (uint64_t) st->st_mtim.tv_sec * 1000 + (uint64_t) st->st_mtim.tv_nsec / 1000000;
    if (S_ISLNK (st->st_mode)) {
        char t[PATH_MAX];
        ssize_t n = readlink (path, t, sizeof t - 1);
        if (n >= 0) {
            t[n] = 0;
            proto_set_str (&r->symlink_target, t);
        }
    }
    return rep;
}

static proto_msg_t *
path_reply (const proto_msg_t *req, const char *sid, const char *path)
{
    proto_msg_t *rep = proto_msg_new (PROTO_sandbox_path, req);
    proto_set_str (&rep->body.sandbox_path.sandbox_id, sid);
    proto_set_str (&rep->body.sandbox_path.path, path);
    return rep;
}

static proto_msg_t *
write_files (sbx_ictx_t *ctx, const proto_msg_t *req)
{
    char why[512], out[PATH_MAX];
    const proto_bytes_t *f = &req->body.sandbox_write_files.files;
    json_t *arr = mpjson_decode (f->data, f->size, 2, why, sizeof why);
    if (!arr || !json_is_array (arr) || !json_array_size (arr)) {
        json_decref (arr);
        return proto_error_new (req, PROTO_ERR_bad_files, "files: expected a non-empty array of {path, data}");
    }
    json_t *done = json_array ();
    size_t i;
    json_t *it;
    proto_msg_t *rep = NULL;
    json_array_foreach (arr, i, it) {
        json_t *p = json_object_get (it, "path"), *d = json_object_get (it, "data");
        if (!d)
            d = json_object_get (it, "content");
        if (!json_is_string (p) || !json_is_string (d)) {
            rep = proto_error_new (req, PROTO_ERR_bad_files, "files[%zu]: expected {path, data} strings", i);
            break;
        }
        if (write_atomic (json_string_value (p), json_string_value (d), json_string_length (d), 0,
                          out, sizeof out, why, sizeof why)) {
            char prefix[32];
            snprintf (prefix, sizeof prefix, "files[%zu].", i);
            rep = write_error (ctx, req, json_string_value (p), prefix, why);
            break;
        }
        json_array_append_new (done, json_string (out));
    }
    if (!rep) {
        rep = proto_msg_new (PROTO_sandbox_paths, req);
        proto_set_str (&rep->body.sandbox_paths.sandbox_id, ctx->id);
        mpjson_set (&rep->body.sandbox_paths.files_written, done, 2);
    }
    json_decref (done);
    json_decref (arr);
    return rep;
}

static const char *
kind (mode_t m)
{
    return S_ISDIR (m) ? "a directory" : S_ISFIFO (m) ? "a FIFO" : S_ISSOCK (m) ? "a socket"
           : S_ISCHR (m) || S_ISBLK (m) ? "a device" : S_ISLNK (m) ? "a symlink" : "special";
}

/* Reads a regular file only: a FIFO, socket or device could block the
 * init (single-threaded: every other request would wait) or answer
 * without end. The open never waits (O_NONBLOCK: a FIFO swapped in after
 * the lstat opens at once) and fstat decides. */
static proto_msg_t *
read_file (sbx_ictx_t *ctx, const proto_msg_t *req, const char *path, const struct stat *lst)
{
    uint64_t cap = req->body.sandbox_read_file.max_bytes;
    if (!cap || cap > ctx->read_cap)
        cap = ctx->read_cap;
    if (!S_ISREG (lst->st_mode))
        return proto_error_new (req, PROTO_ERR_bad_path, "path: %s is %s, not a regular file", path,
                                kind (lst->st_mode));
    int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    struct stat st;
    int e = fd < 0 ? errno : fstat (fd, &st) ? errno : 0;
    if (fd >= 0 && (e || !S_ISREG (st.st_mode)))
        close (fd);
    if (e)
        return proto_error_new (req, PROTO_ERR_bad_path, "path: %s: %s", path, strerror (e));
    if (!S_ISREG (st.st_mode))
        return proto_error_new (req, PROTO_ERR_bad_path, "path: %s is %s, not a regular file", path,
                                kind (st.st_mode));
    size_t want = (uint64_t) st.st_size < cap ? (size_t) st.st_size : (size_t) cap, got = 0;
    uint8_t *buf = malloc (want + 1);
    ssize_t r;
    while (buf && got < want && (r = read (fd, buf + got, want - got)) > 0)
        got += (size_t) r;
    close (fd);
    proto_msg_t *rep = proto_msg_new (PROTO_sandbox_file, req);
    proto_sandbox_file_t *b = &rep->body.sandbox_file;
    proto_set_str (&b->sandbox_id, ctx->id);
    proto_set_str (&b->path, path);
    b->content.data = buf;
    b->content.size = got;
    b->size = (uint64_t) st.st_size;
    b->truncated = got < (size_t) st.st_size;
    return rep;
}

proto_msg_t *
sbx_files_write (sbx_ictx_t *ctx, const proto_msg_t *req)
{
    char why[512], path[PATH_MAX];
    const proto_sandbox_write_file_t *w = &req->body.sandbox_write_file;
    if (write_atomic (w->path, w->content.data, w->content.size, (unsigned) w->mode, path,
                      sizeof path, why, sizeof why))
        return write_error (ctx, req, w->path, "", why);
    return path_reply (req, ctx->id, path);
}

proto_msg_t *
sbx_files_write_many (sbx_ictx_t *ctx, const proto_msg_t *req)
{
    return write_files (ctx, req);
}

proto_msg_t *
sbx_files_mkdir (sbx_ictx_t *ctx, const proto_msg_t *req)
{
    char why[512], path[PATH_MAX];
    const char *given = req->body.sandbox_create_directory.path;
    if (make_dirs (given, true, why, sizeof why)
        || sbx_files_resolve (given, false, path, sizeof path, why, sizeof why))
        return write_error (ctx, req, given, "", why);
    return path_reply (req, ctx->id, path);
}

/* Resolves given (nofollow: its last component itself, not where a
 * symlink leads) into path and lstats it into st. Returns NULL, or the
 * error reply to req. */
static proto_msg_t *
locate (const proto_msg_t *req, const char *given, bool nofollow, char path[PATH_MAX],
        struct stat *st)
{
    char why[512], again[64];
    /* a root (/workspace, /tmp) has no parent inside the sandbox to resolve
     * from; it is a real directory, so following it is the same */
    if (sbx_files_resolve (given, nofollow, path, PATH_MAX, why, sizeof why)
        && !(nofollow && !sbx_files_resolve (given, false, path, PATH_MAX, again, sizeof again)
             && (!strcmp (path, PROTO_SANDBOX_WORKSPACE) || !strcmp (path, "/tmp"))))
        return proto_error_new (req, PROTO_ERR_bad_path, "%s", why);
    if (lstat (path, st))
        return proto_error_new (req, PROTO_ERR_bad_path, "path: %s: %s", path, strerror (errno));
    return NULL;
}

proto_msg_t *
sbx_files_read (sbx_ictx_t *ctx, const proto_msg_t *req)
{
    char path[PATH_MAX];
    struct stat st;
    proto_msg_t *err = locate (req, req->body.sandbox_read_file.path, false, path, &st);
    return err ? err : read_file (ctx, req, path, &st);
}

proto_msg_t *
sbx_files_info (sbx_ictx_t *ctx, const proto_msg_t *req)
{
    char path[PATH_MAX];
    struct stat st;
    proto_msg_t *err = locate (req, req->body.sandbox_get_file_info.path, true, path, &st);
    return err ? err : file_info (req, ctx->id, path, &st);
}

/* A directory's size is its contents': the regular files' bytes under
 * it, symlinks not followed, other file systems not entered, at most
 * WALK_ENTRIES entries and WALK_DEPTH levels (beyond: partial). */
#define WALK_ENTRIES 200000
#define WALK_DEPTH 64
typedef struct {
    uint64_t bytes;
    uint64_t entries;
    bool partial;
} walk_t;
static walk_t s_walk;           /* init answers one request at a time */

static int
add_size (const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) p;
    if (++s_walk.entries > WALK_ENTRIES) {
        s_walk.partial = true;
        return FTW_STOP;
    }
    if (flag == FTW_F && S_ISREG (st->st_mode))
        s_walk.bytes += (uint64_t) st->st_size;
    if (flag == FTW_D && ftw->level >= WALK_DEPTH) {
        s_walk.partial = true;
        return FTW_SKIP_SUBTREE;
    }
    return FTW_CONTINUE;
}

proto_msg_t *
sbx_files_size (sbx_ictx_t *ctx, const proto_msg_t *req)
{
    char path[PATH_MAX];
    struct stat st;
    proto_msg_t *err = locate (req, req->body.sandbox_get_file_size.path, false, path, &st);
    if (err)
        return err;
    proto_msg_t *rep = proto_msg_new (PROTO_sandbox_file_size, req);
    proto_set_str (&rep->body.sandbox_file_size.sandbox_id, ctx->id);
    proto_set_str (&rep->body.sandbox_file_size.path, path);
    rep->body.sandbox_file_size.size = (uint64_t) st.st_size;
    if (S_ISDIR (st.st_mode) && req->body.sandbox_get_file_size.recursive) {
        s_walk = (walk_t) { 0, 0, false };
        nftw (path, add_size, 32, FTW_PHYS | FTW_MOUNT | FTW_ACTIONRETVAL);
        rep->body.sandbox_file_size.size = s_walk.bytes;
        rep->body.sandbox_file_size.partial = s_walk.partial;
    }
    return rep;
}

proto_msg_t *
sbx_files_list (sbx_ictx_t *ctx, const proto_msg_t *req)
{
    char path[PATH_MAX];
    struct stat st;
    const proto_sandbox_list_files_t *b = &req->body.sandbox_list_files;
    proto_msg_t *err = locate (req, b->path, false, path, &st);
    if (err)
        return err;
    if (!S_ISDIR (st.st_mode))
        return proto_error_new (req, PROTO_ERR_bad_path, "path: %s is not a directory", path);
    json_t *arr = json_array ();
    list_dir (path, b->depth ? (unsigned) b->depth : 1, arr);
    proto_msg_t *rep = proto_msg_new (PROTO_sandbox_file_list, req);
    proto_set_str (&rep->body.sandbox_file_list.sandbox_id, ctx->id);
    proto_set_str (&rep->body.sandbox_file_list.path, path);
    mpjson_set (&rep->body.sandbox_file_list.files, arr, 3);
    json_decref (arr);
    return rep;
}

proto_msg_t *
sbx_files_delete (sbx_ictx_t *ctx, const proto_msg_t *req)
{
    char path[PATH_MAX];
    struct stat st;
    const proto_sandbox_delete_file_t *b = &req->body.sandbox_delete_file;
    proto_msg_t *err = locate (req, b->path, true, path, &st);
    if (err)
        return err;
    int rc = !S_ISDIR (st.st_mode) ? unlink (path)
             : b->recursive ? nftw (path, rm_one, 32, FTW_DEPTH | FTW_PHYS) : rmdir (path);
    if (rc)
        return proto_error_new (req, PROTO_ERR_bad_path, "path: deleting %s: %s%s", path,
                                strerror (errno), errno == ENOTEMPTY ? " (use recursive)" : "");
    return path_reply (req, ctx->id, path);
}

/* A path that does not exist is an answer here (exists false), unless it
 * lies outside the roots. */
proto_msg_t *
sbx_files_exists (sbx_ictx_t *ctx, const proto_msg_t *req)
{
    char why[512], path[PATH_MAX];
    const char *given = req->body.sandbox_check_file_exists.path;
    struct stat st;
    proto_msg_t *rep;
    if (sbx_files_resolve (given, true, path, sizeof path, why, sizeof why)) {
        if (errno != ENOENT || strstr (why, "outside"))
            return proto_error_new (req, PROTO_ERR_bad_path, "%s", why);
        rep = proto_msg_new (PROTO_sandbox_file_exists, req);
        proto_set_str (&rep->body.sandbox_file_exists.sandbox_id, ctx->id);
        proto_set_str (&rep->body.sandbox_file_exists.path, given);
        return rep;
    }
    rep = proto_msg_new (PROTO_sandbox_file_exists, req);
    proto_set_str (&rep->body.sandbox_file_exists.sandbox_id, ctx->id);
    proto_set_str (&rep->body.sandbox_file_exists.path, path);
    rep->body.sandbox_file_exists.exists = lstat (path, &st) == 0;
    return rep;
}
