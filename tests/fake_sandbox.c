/* fake_sandbox: the sandbox family served from host directories. See
 * fake_sandbox.h. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "fake_sandbox.h"
#include "bus_worker.h"
#include "mpjson.h"

#include <czmq.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    const char *dir;
    bus_worker_t *worker;
    zloop_t *loop;
    int next_id;
} fake_t;

typedef struct {
    fake_t *fake;
    bus_pending_t *pending;
    pid_t pid;
    char out[600], err[600];
    int64_t started, deadline;
    char sandbox[96];
} proc_t;

static void
workspace (fake_t *f, const char *id, char *out, size_t outlen)
{
    snprintf (out, outlen, "%s/sbx/%s", f->dir, id);
}

/* The host path for path as a sandbox sees it: relative paths and those
 * under PROTO_SANDBOX_WORKSPACE are in the sandbox's host directory. */
static void
resolve (fake_t *f, const char *id, const char *path, char *out, size_t outlen)
{
    char ws[512];
    workspace (f, id, ws, sizeof ws);
    size_t n = strlen (PROTO_SANDBOX_WORKSPACE);
    if (!strncmp (path, PROTO_SANDBOX_WORKSPACE, n) && (path[n] == '/' || path[n] == '\0'))
        snprintf (out, outlen, "%s%s", ws, path + n);
    else if (path[0] == '/')
        snprintf (out, outlen, "%s", path);
    else
        snprintf (out, outlen, "%s/%s", ws, path);
}

static void
mkdir_p (const char *path)
{
    char tmp[1024];
    snprintf (tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir (tmp, 0755);
            *p = '/';
        }
    mkdir (tmp, 0755);
}

static void
parent (const char *path)
{
    char tmp[1024];
    snprintf (tmp, sizeof tmp, "%s", path);
    char *slash = strrchr (tmp, '/');
    if (slash && slash != tmp) {
        *slash = '\0';
        mkdir_p (tmp);
    }
}

static char *
slurp (const char *path, size_t max, size_t *size, bool *cut)
{
    FILE *fp = fopen (path, "rb");
    if (!fp)
        return NULL;
    char *buf = malloc (max + 1);
    *size = fread (buf, 1, max + 1, fp);
    fclose (fp);
    *cut = *size > max;
    if (*cut)
        *size = max;
    buf[*size] = '\0';
    return buf;
}

static proto_msg_t *
info (fake_t *f, const proto_msg_t *req, const char *id)
{
    char ws[512];
    workspace (f, id, ws, sizeof ws);
    struct stat st;
    if (stat (ws, &st))
        return proto_error_new (req, PROTO_ERR_not_found, "no sandbox %s", id);
    proto_msg_t *rep = proto_msg_new (PROTO_sandbox_info, req);
    proto_sandbox_info_t *b = &rep->body.sandbox_info;
    proto_set_str (&b->sandbox_id, id);
    proto_set_str (&b->status, "ready");
    proto_set_str (&b->workspace, PROTO_SANDBOX_WORKSPACE);
    b->created_at = (uint64_t) time (NULL) * 1000;
    b->expires_at = b->created_at + 3600000;
    return rep;
}

static int
check_proc (zloop_t *loop, int timer_id, void *arg)
{
    proc_t *p = arg;
    int status;
    pid_t done = waitpid (p->pid, &status, WNOHANG);
    if (done == 0 && zclock_mono () > p->deadline) {
        kill (-p->pid, SIGKILL);
        return 0;
    }
    if (done == 0)
        return 0;
    zloop_timer_end (loop, timer_id);
    proto_msg_t *rep = proto_msg_new (PROTO_sandbox_exec_result, bus_pending_request (p->pending));
    proto_sandbox_exec_result_t *b = &rep->body.sandbox_exec_result;
    size_t size;
    bool cut1 = false, cut2 = false;
    char *o = slurp (p->out, 1 << 20, &size, &cut1), *e = slurp (p->err, 1 << 20, &size, &cut2);
    proto_set_str (&b->sandbox_id, p->sandbox);
    b->pid = (uint64_t) p->pid;
    b->exit_code = WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
    b->timed_out = WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL;
    b->execution_time = (uint64_t) (zclock_mono () - p->started);
    b->truncated = cut1 || cut2;
    proto_set_str (&b->stdout, o ? o : "");
    proto_set_str (&b->stderr, e ? e : "");
    free (o);
    free (e);
    unlink (p->out);
    unlink (p->err);
    bus_worker_answer (p->fake->worker, &p->pending, rep);
    free (p);
    return 0;
}

static proto_msg_t *
run (fake_t *f, const proto_msg_t *req, const char *id, const char *cwd, json_t *argv,
     json_t *envs, uint64_t timeout_s)
{
    char dir[1024];
    resolve (f, id, cwd ? cwd : "", dir, sizeof dir);
    proc_t *p = calloc (1, sizeof *p);
    p->fake = f;
    snprintf (p->sandbox, sizeof p->sandbox, "%s", id);
    snprintf (p->out, sizeof p->out, "%s/out-%s", f->dir, req->env.id);
    snprintf (p->err, sizeof p->err, "%s/err-%s", f->dir, req->env.id);
    char log[600];
    snprintf (log, sizeof log, "%s/execs", f->dir);
    FILE *lf = fopen (log, "a");
    if (lf) {
        fprintf (lf, "%s\n", req->env.id);
        fclose (lf);
    }
    p->started = zclock_mono ();
    p->deadline = p->started + (int64_t) (timeout_s ? timeout_s : 60) * 1000;
    p->pid = fork ();
    if (p->pid == 0) {
        setpgid (0, 0);
        int o = open (p->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open (p->err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int n = open ("/dev/null", O_RDONLY);
        dup2 (n, 0);
        dup2 (o, 1);
        dup2 (e, 2);
        if (chdir (dir))
            _exit (126);
        const char *k;
        json_t *v;
        json_object_foreach (envs, k, v) {
            char host[1024];
            const char *s = json_string_value (v);
            if (s && s[0] == '/')
                resolve (f, id, s, host, sizeof host);
            setenv (k, s && s[0] == '/' ? host : s, 1);
        }
        char *args[64];
        size_t i, n_args = 0;
        json_t *a;
        json_array_foreach (argv, i, a)
            if (n_args < 63)
                args[n_args++] = (char *) json_string_value (a);
        args[n_args] = NULL;
        execvp (args[0], args);
        _exit (127);
    }
    p->pending = bus_worker_defer (f->worker);
    zloop_timer (f->loop, 20, 0, check_proc, p);
    return BUS_DEFERRED;
}

static json_t *
any (const proto_bytes_t *b)
{
    char why[128];
    return b->size ? mpjson_decode (b->data, b->size, 16, why, sizeof why) : NULL;
}

static proto_msg_t *
path_reply (const proto_msg_t *req, const char *id, const char *path)
{
    proto_msg_t *rep = proto_msg_new (PROTO_sandbox_path, req);
    proto_set_str (&rep->body.sandbox_path.sandbox_id, id);
    proto_set_str (&rep->body.sandbox_path.path, path);
    return rep;
}

/* A directory's size: its regular files' bytes (as sandbox-manager). */
static uint64_t s_bytes;

static int
add_size (const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) p, (void) ftw;
    if (flag == FTW_F && S_ISREG (st->st_mode))
        s_bytes += (uint64_t) st->st_size;
    return 0;
}

/* True for the request types that share PROTO_SANDBOX_PATH_REQ's layout,
 * which files_op reads through one member. */
static bool
is_path_request (proto_type_t type)
{
    return type == PROTO_sandbox_read_file || type == PROTO_sandbox_list_files
           || type == PROTO_sandbox_delete_file || type == PROTO_sandbox_create_directory
           || type == PROTO_sandbox_get_file_info || type == PROTO_sandbox_check_file_exists
           || type == PROTO_sandbox_get_file_size || type == PROTO_sandbox_watch_start;
}

static proto_msg_t *
files_op (fake_t *f, const proto_msg_t *req)
{
    /* What this stand-in does not serve (processes, ...) is answered as
     * the real manager answers a type it has no row for. */
    if (!is_path_request (req->type))
        return proto_error_new (req, PROTO_ERR_unknown_type, "the fake sandbox-manager does "
                                "not serve %s", proto_type_name (req->type));
    const proto_sandbox_read_file_t *b = &req->body.sandbox_read_file;
    char path[1024];
    resolve (f, b->sandbox_id, b->path, path, sizeof path);
    struct stat st;
    bool exists = lstat (path, &st) == 0;
    proto_msg_t *rep;
    switch (req->type) {
    case PROTO_sandbox_read_file: {
        size_t size;
        bool cut;
        char *data = slurp (path, b->max_bytes ? b->max_bytes : 1 << 20, &size, &cut);
        if (!data)
            return proto_error_new (req, PROTO_ERR_not_found, "no file %s", b->path);
        rep = proto_msg_new (PROTO_sandbox_file, req);
        proto_set_str (&rep->body.sandbox_file.sandbox_id, b->sandbox_id);
        proto_set_str (&rep->body.sandbox_file.path, path);
        proto_set_bytes (&rep->body.sandbox_file.content, data, size);
        rep->body.sandbox_file.size = (uint64_t) st.st_size;
        rep->body.sandbox_file.truncated = cut;
        free (data);
        return rep;
    }
    case PROTO_sandbox_delete_file: {
        char cmd[1100];
        snprintf (cmd, sizeof cmd, "rm -rf '%s'", path);
        if (!exists || system (cmd))
            return proto_error_new (req, PROTO_ERR_not_found, "no file %s", b->path);
        return path_reply (req, b->sandbox_id, path);
    }
    case PROTO_sandbox_create_directory:
        mkdir_p (path);
        return path_reply (req, b->sandbox_id, path);
    case PROTO_sandbox_check_file_exists:
        rep = proto_msg_new (PROTO_sandbox_file_exists, req);
        proto_set_str (&rep->body.sandbox_file_exists.sandbox_id, b->sandbox_id);
        proto_set_str (&rep->body.sandbox_file_exists.path, path);
        rep->body.sandbox_file_exists.exists = exists;
        return rep;
    case PROTO_sandbox_get_file_size:
    case PROTO_sandbox_get_file_info:
        if (!exists)
            return proto_error_new (req, PROTO_ERR_not_found, "no such file: %s", b->path);
        if (req->type == PROTO_sandbox_get_file_size) {
            rep = proto_msg_new (PROTO_sandbox_file_size, req);
            proto_set_str (&rep->body.sandbox_file_size.sandbox_id, b->sandbox_id);
            proto_set_str (&rep->body.sandbox_file_size.path, path);
            rep->body.sandbox_file_size.size = (uint64_t) st.st_size;
            if (S_ISDIR (st.st_mode) && b->recursive) {
                s_bytes = 0;
                nftw (path, add_size, 16, FTW_PHYS);
                rep->body.sandbox_file_size.size = s_bytes;
            }
            return rep;
        }
        rep = proto_msg_new (PROTO_sandbox_file_info, req);
        proto_sandbox_file_info_t *i = &rep->body.sandbox_file_info;
        proto_set_str (&i->sandbox_id, b->sandbox_id);
        proto_set_str (&i->path, path);
        proto_set_str (&i->name, strrchr (path, '/') + 1);
        proto_set_str (&i->type, S_ISDIR (st.st_mode) ? "directory" : "file");
        i->size = (uint64_t) st.st_size;
        i->mode = st.st_mode;
        proto_set_str (&i->permissions, "rw-r--r--");
        proto_set_str (&i->owner, "user");
        proto_set_str (&i->group, "user");
        i->modified_time = (uint64_t) st.st_mtime * 1000;
        return rep;
    case PROTO_sandbox_list_files: {
        DIR *d = opendir (path);
        if (!d)
            return proto_error_new (req, PROTO_ERR_not_found, "no directory %s", b->path);
        json_t *files = json_array ();
        struct dirent *e;
        while ((e = readdir (d)))
            if (strcmp (e->d_name, ".") && strcmp (e->d_name, ".."))
                json_array_append_new (files, json_pack ("{s:s, s:s++, s:s}", "name", e->d_name,
                                                         "path", path, "/", e->d_name, "type",
                                                         e->d_type == DT_DIR ? "directory"
                                                                             : "file"));
        closedir (d);
        rep = proto_msg_new (PROTO_sandbox_file_list, req);
        proto_set_str (&rep->body.sandbox_file_list.sandbox_id, b->sandbox_id);
        proto_set_str (&rep->body.sandbox_file_list.path, path);
        mpjson_set (&rep->body.sandbox_file_list.files, files, 8);
        json_decref (files);
        return rep;
    }
    case PROTO_sandbox_watch_start:
        rep = proto_msg_new (PROTO_sandbox_watch, req);
        proto_set_str (&rep->body.sandbox_watch.sandbox_id, b->sandbox_id);
        rep->body.sandbox_watch.watch_id = 1;
        return rep;
    default:
        return proto_error_new (req, PROTO_ERR_unknown_type, "the fake does not serve %s",
                                proto_type_name (req->type));
    }
}

/* Appends v (taken) as one line of JSON to <dir>/<name>. */
static void
net_log (fake_t *f, const char *name, json_t *v)
{
    char path[1024];
    snprintf (path, sizeof path, "%s/%s", f->dir, name);
    FILE *fp = fopen (path, "a");
    char *text = v ? json_dumps (v, JSON_COMPACT) : NULL;
    if (fp && text)
        fprintf (fp, "%s\n", text);
    if (fp)
        fclose (fp);
    free (text);
    json_decref (v);
}

/* sandbox.net.update: logged to <dir>/net_updates; answered with the
 * sandbox's info whose network_allow is the rules added. */
static proto_msg_t *
net_update (fake_t *f, const proto_msg_t *req)
{
    const proto_sandbox_net_update_t *b = &req->body.sandbox_net_update;
    json_t *add = any (&b->allow_add);
    net_log (f, "net_updates", json_pack ("{s:s, s:O?, s:s?, s:s?}", "sandbox_id", b->sandbox_id,
                                          "allow_add", add, "reason", b->reason, "tool_call_id",
                                          b->tool_call_id));
    proto_msg_t *rep = info (f, req, b->sandbox_id);
    if (rep->type == PROTO_sandbox_info) {
        proto_set_str (&rep->body.sandbox_info.network, "policy");
        if (add)
            mpjson_set (&rep->body.sandbox_info.network_allow, add, 4);
    }
    json_decref (add);
    return rep;
}

static proto_msg_t *
handler (const proto_msg_t *req, void *arg)
{
    fake_t *f = arg;
    char path[1024], id[96];
    snprintf (path, sizeof path, "%s/requests", f->dir);
    FILE *log = fopen (path, "a");
    if (log) {
        fprintf (log, "%s\n", proto_type_name (req->type));
        fclose (log);
    }
    switch (req->type) {
    case PROTO_sandbox_create: {
        snprintf (id, sizeof id, "fake-%d%d", (int) getpid (), ++f->next_id);
        workspace (f, id, path, sizeof path);
        mkdir_p (path);
        const proto_sandbox_create_t *c = &req->body.sandbox_create;
        json_t *net = json_pack ("{s:s, s:s?, s:o?, s:o?}", "sandbox_id", id, "network",
                                 c->network, "network_allow", any (&c->network_allow),
                                 "network_deny", any (&c->network_deny));
        net_log (f, "creates", net);
        return info (f, req, id);
    }
    case PROTO_sandbox_net_update:
        return net_update (f, req);
    case PROTO_sandbox_get:
        return info (f, req, req->body.sandbox_get.sandbox_id);
    case PROTO_sandbox_exec: {
        const proto_sandbox_exec_t *b = &req->body.sandbox_exec;
        json_t *cmd = any (&b->command), *envs = any (&b->envs);
        json_t *argv = json_is_string (cmd) ? json_pack ("[s, s, O]", "/bin/sh", "-c", cmd)
                                            : json_incref (cmd);
        proto_msg_t *rep = run (f, req, b->sandbox_id, b->cwd, argv, envs, b->timeout_seconds);
        json_decref (cmd);
        json_decref (envs);
        json_decref (argv);
        return rep;
    }
    case PROTO_sandbox_run_code: {
        const proto_sandbox_run_code_t *b = &req->body.sandbox_run_code;
        bool js = b->language && strcmp (b->language, "python");
        json_t *argv = json_pack ("[s, s, s]", js ? "node" : "python3", js ? "-e" : "-c", b->code);
        proto_msg_t *rep = run (f, req, b->sandbox_id, NULL, argv, NULL, b->timeout_seconds);
        json_decref (argv);
        return rep;
    }
    case PROTO_sandbox_write_file: {
        const proto_sandbox_write_file_t *b = &req->body.sandbox_write_file;
        resolve (f, b->sandbox_id, b->path, path, sizeof path);
        parent (path);
        FILE *fp = fopen (path, "wb");
        if (!fp)
            return proto_error_new (req, PROTO_ERR_io, "cannot write %s", b->path);
        fwrite (b->content.data, 1, b->content.size, fp);
        fclose (fp);
        return path_reply (req, b->sandbox_id, path);
    }
    case PROTO_sandbox_write_files: {
        const proto_sandbox_write_files_t *b = &req->body.sandbox_write_files;
        json_t *files = any (&b->files), *item, *written = json_array ();
        size_t i;
        json_array_foreach (files, i, item) {
            resolve (f, b->sandbox_id, json_string_value (json_object_get (item, "path")), path,
                     sizeof path);
            parent (path);
            FILE *fp = fopen (path, "wb");
            if (fp) {
                fputs (json_string_value (json_object_get (item, "data")), fp);
                fclose (fp);
            }
            json_array_append_new (written, json_string (path));
        }
        proto_msg_t *rep = proto_msg_new (PROTO_sandbox_paths, req);
        proto_set_str (&rep->body.sandbox_paths.sandbox_id, b->sandbox_id);
        mpjson_set (&rep->body.sandbox_paths.files_written, written, 4);
        json_decref (written);
        json_decref (files);
        return rep;
    }
    case PROTO_sandbox_watch_stop: {
        proto_msg_t *rep = proto_msg_new (PROTO_sandbox_ack, req);
        proto_set_str (&rep->body.sandbox_ack.sandbox_id, req->body.sandbox_watch_stop.sandbox_id);
        return rep;
    }
    default:
        return files_op (f, req);
    }
}

int
fake_sandbox_main (const char *dir)
{
    zsys_init ();
    zsys_set_logstream (NULL);
    fake_t f = { .dir = dir };
    f.loop = zloop_new ();
    f.worker = bus_worker_new (getenv ("CAISSON_BUS"), "sandbox-manager", "fake", "test",
                               handler, &f);
    if (!f.worker || bus_worker_start (f.worker, f.loop))
        return 1;
    zloop_start (f.loop);
    bus_worker_destroy (&f.worker);
    zloop_destroy (&f.loop);
    return 0;
}
