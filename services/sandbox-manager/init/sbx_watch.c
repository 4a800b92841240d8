/* sbx_watch: watchDirectory inside a sandbox's init, with inotify. A watch
 * covers a directory (and, when recursive, the directories under it at the
 * start and those made later); each change becomes a `sandbox.fs_event`
 * that the manager publishes on `sandbox.<id>.watch.<watchId>`. */
#define _GNU_SOURCE
#include "sbx_initd.h"
#include "xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#define MAX_WD 1024
#define MASK (IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO \
              | IN_ATTRIB | IN_DELETE_SELF)

typedef struct { int wd; uint64_t watch; bool recursive; char *path; } wd_t;

struct _sbx_watch_t {
    sbx_ictx_t *ctx;
    int ifd;                    /* inotify, or -1 until the first start */
    uint64_t next_watch;
    wd_t wds[MAX_WD];
};

sbx_watch_t *
sbx_watch_new (sbx_ictx_t *ctx)
{
    sbx_watch_t *self = xcalloc (1, sizeof *self);
    self->ctx = ctx;
    self->ifd = -1;
    self->next_watch = 1;
    return self;
}

void
sbx_watch_destroy (sbx_watch_t **self_p)
{
    sbx_watch_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; i < MAX_WD; i++)
        free (self->wds[i].path);
    if (self->ifd >= 0)
        close (self->ifd);
    free (self);
    *self_p = NULL;
}

int
sbx_watch_fd (sbx_watch_t *self)
{
    return self->ifd;
}

static void
add (sbx_watch_t *self, const char *path, uint64_t watch, bool recursive)
{
    int wd = inotify_add_watch (self->ifd, path, MASK | IN_ONLYDIR);
    if (wd < 0)
        return;
    for (int i = 0; i < MAX_WD; i++)
        if (!self->wds[i].path) {
            self->wds[i] = (wd_t) { wd, watch, recursive, strdup (path) };
            break;
        }
    if (!recursive)
        return;
    DIR *d = opendir (path);
    struct dirent *e;
    while (d && (e = readdir (d)))
        if (e->d_type == DT_DIR && strcmp (e->d_name, ".") && strcmp (e->d_name, "..")) {
            char sub[PATH_MAX];
            if (snprintf (sub, sizeof sub, "%s/%s", path, e->d_name) < (int) sizeof sub)
                add (self, sub, watch, true);
        }
    if (d)
        closedir (d);
}

proto_msg_t *
sbx_watch_stop (sbx_watch_t *self, const proto_msg_t *req)
{
    uint64_t id = req->body.sandbox_watch_stop.watch_id;
    for (int i = 0; i < MAX_WD; i++)
        if (self->wds[i].path && self->wds[i].watch == id) {
            inotify_rm_watch (self->ifd, self->wds[i].wd);
            free (self->wds[i].path);
            self->wds[i].path = NULL;
        }
    proto_msg_t *rep = proto_msg_new (PROTO_sandbox_ack, req);
    proto_set_str (&rep->body.sandbox_ack.sandbox_id, self->ctx->id);
    return rep;
}

proto_msg_t *
sbx_watch_start (sbx_watch_t *self, const proto_msg_t *req)
{
    char path[PATH_MAX], why[512];
    const proto_sandbox_watch_start_t *r = &req->body.sandbox_watch_start;
    if (sbx_files_resolve (r->path, false, path, sizeof path, why, sizeof why))
        return proto_error_new (req, PROTO_ERR_bad_path, "%s", why);
    if (self->ifd < 0 && (self->ifd = inotify_init1 (IN_NONBLOCK | IN_CLOEXEC)) < 0)
        return proto_error_new (req, PROTO_ERR_watch_failed, "inotify: %s", strerror (errno));
    uint64_t id = self->next_watch++;
    add (self, path, id, r->recursive);
    proto_msg_t *rep = proto_msg_new (PROTO_sandbox_watch, req);
    proto_sandbox_watch_t *w = &rep->body.sandbox_watch;
    proto_set_str (&w->sandbox_id, self->ctx->id);
    w->watch_id = id;
    proto_set_str (&w->path, path);
    char topic[256];
    snprintf (topic, sizeof topic, "sandbox.%s.watch.%llu", self->ctx->id,
              (unsigned long long) id);
    proto_set_str (&w->topic, topic);
    return rep;
}

static const char *
event_name (uint32_t m)
{
    return m & (IN_CREATE) ? "create" : m & (IN_MODIFY | IN_CLOSE_WRITE) ? "write"
           : m & (IN_DELETE | IN_DELETE_SELF) ? "remove" : m & (IN_MOVED_FROM | IN_MOVED_TO)
           ? "rename" : "chmod";
}

void
sbx_watch_service (sbx_watch_t *self)
{
    sbx_ictx_t *ctx = self->ctx;
    char buf[16384] __attribute__ ((aligned (__alignof__ (struct inotify_event))));
    ssize_t n;
    while ((n = read (self->ifd, buf, sizeof buf)) > 0)
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *) p;
            p += sizeof *ev + ev->len;
            wd_t *w = NULL;
            for (int i = 0; i < MAX_WD && !w; i++)
                if (self->wds[i].path && self->wds[i].wd == ev->wd)
                    w = &self->wds[i];
            if (!w || (ev->mask & IN_IGNORED))
                continue;
            char path[PATH_MAX];
            snprintf (path, sizeof path, "%s%s%s", w->path, ev->len ? "/" : "", ev->len ? ev->name : "");
            if ((ev->mask & IN_CREATE) && (ev->mask & IN_ISDIR) && w->recursive)
                add (self, path, w->watch, true);
            proto_msg_t *m = proto_msg_new (PROTO_sandbox_fs_event, NULL);
            if (!m)
                continue;
            proto_sandbox_fs_event_t *f = &m->body.sandbox_fs_event;
            proto_set_str (&f->sandbox_id, ctx->id);
            f->watch_id = w->watch;
            proto_set_str (&f->event, event_name (ev->mask));
            proto_set_str (&f->path, path);
            proto_set_str (&f->type, ev->mask & IN_ISDIR ? "directory" : "file");
            ctx->send (ctx->send_arg, m);
        }
}
