/* sbx_watch: watchDirectory inside a sandbox's init, with inotify. A watch
 * covers a directory (and, when recursive, the directories under it at the
 * start and those made later); each change becomes a `sandbox.fs_event`
 * that the manager publishes on `sandbox.<id>.watch.<watchId>`. */
#define _GNU_SOURCE
#include "sbx_initd.h"

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

static int ifd = -1;
static wd_t wds[MAX_WD];
static uint64_t next_watch = 1;

int
sbx_watch_fd (void)
{
    return ifd;
}

static void
add (const char *path, uint64_t watch, bool recursive)
{
    int wd = inotify_add_watch (ifd, path, MASK | IN_ONLYDIR);
    if (wd < 0)
        return;
    for (int i = 0; i < MAX_WD; i++)
        if (!wds[i].path) {
            wds[i] = (wd_t) { wd, watch, recursive, strdup (path) };
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
                add (sub, watch, true);
        }
    if (d)
        closedir (d);
}

proto_msg_t *
sbx_watch_handle (sbx_ictx_t *ctx, const proto_msg_t *req)
{
    if (req->type == PROTO_sandbox_watch_stop) {
        uint64_t id = req->body.sandbox_watch_stop.watch_id;
        for (int i = 0; i < MAX_WD; i++)
            if (wds[i].path && wds[i].watch == id) {
                inotify_rm_watch (ifd, wds[i].wd);
                free (wds[i].path);
                wds[i].path = NULL;
            }
        proto_msg_t *rep = proto_msg_new (PROTO_sandbox_ack, req);
        proto_set_str (&rep->body.sandbox_ack.sandbox_id, ctx->id);
        return rep;
    }
    char path[PATH_MAX], why[512];
    const proto_sandbox_watch_start_t *r = &req->body.sandbox_watch_start;
    if (sbx_files_resolve (r->path, false, path, sizeof path, why, sizeof why))
        return proto_error_new (req, PROTO_ERR_bad_path, "%s", why);
    if (ifd < 0 && (ifd = inotify_init1 (IN_NONBLOCK | IN_CLOEXEC)) < 0)
        return proto_error_new (req, PROTO_ERR_watch_failed, "inotify: %s", strerror (errno));
    uint64_t id = next_watch++;
    add (path, id, r->recursive);
    proto_msg_t *rep = proto_msg_new (PROTO_sandbox_watch, req);
    proto_sandbox_watch_t *w = &rep->body.sandbox_watch;
    proto_set_str (&w->sandbox_id, ctx->id);
    w->watch_id = id;
    proto_set_str (&w->path, path);
    char topic[256];
    snprintf (topic, sizeof topic, "sandbox.%s.watch.%llu", ctx->id, (unsigned long long) id);
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
sbx_watch_service (sbx_ictx_t *ctx)
{
    char buf[16384] __attribute__ ((aligned (__alignof__ (struct inotify_event))));
    ssize_t n;
    while ((n = read (ifd, buf, sizeof buf)) > 0)
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *) p;
            p += sizeof *ev + ev->len;
            wd_t *w = NULL;
            for (int i = 0; i < MAX_WD && !w; i++)
                if (wds[i].path && wds[i].wd == ev->wd)
                    w = &wds[i];
            if (!w || (ev->mask & IN_IGNORED))
                continue;
            char path[PATH_MAX];
            snprintf (path, sizeof path, "%s%s%s", w->path, ev->len ? "/" : "", ev->len ? ev->name : "");
            if ((ev->mask & IN_CREATE) && (ev->mask & IN_ISDIR) && w->recursive)
                add (path, w->watch, true);
            proto_msg_t *m = proto_msg_new (PROTO_sandbox_fs_event, NULL);
            if (!m)
                continue;
            proto_sandbox_fs_event_t *f = &m->body.sandbox_fs_event;
            proto_set_str (&f->sandbox_id, ctx->id);
            f->watch_id = w->watch;
            proto_set_str (&f->event, event_name (ev->mask));
            proto_set_str (&f->path, path);
            proto_set_str (&f->type, ev->mask & IN_ISDIR ? "directory" : "file");
            sbx_init_send (ctx, m);
        }
}
