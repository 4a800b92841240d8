/* cmd_sandbox: see cmd_sandbox.h. Requests for one sandbox go to
 * `sandbox-manager.<instance>`, the instance named by the sandboxId (the
 * part before its last '-'), so they reach the host that owns it. */
#define _GNU_SOURCE
#include "cmd_sandbox.h"
#include "cmd_sandbox_net.h"
#include "bus_client.h"
#include "cliask.h"
#include "cfg.h"
#include "mpjson.h"
#include "runroute.h"
#include "stack.h"

#include <ctype.h>
#include <czmq.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *usage =
    "caisson sandbox create [--name N] [--language L] [--ttl S] [--memory MB] [--cpus N]\n"
    "                       [--network none|policy|host] [--allow RULE]... [--deny RULE]...\n"
    "caisson sandbox ls | info ID | rm ID | pause ID | resume ID\n"
    "caisson sandbox exec ID [--timeout S] [--background] -- CMD ARGS...\n"
    "caisson sandbox ps ID | logs ID PID [-f] | wait ID PID [--timeout S] | kill ID PID [--signal N]\n"
    "caisson sandbox write ID PATH < data | read ID PATH > data\n"
    "caisson sandbox net ID [--allow RULE]... [--remove RULE]... [--deny RULE]... [--reason T]\n"
    "caisson sandbox net ID --stats | --watch\n"
    "  (each takes --data DIR; DIR defaults to $CAISSON_DATA, else ./var)";

/* Sends req (consumed); prints an error reply and returns NULL for it. */
static proto_msg_t *
ask (const char *service, proto_msg_t *req, int timeout_ms)
{
    bus_client_t *c = bus_client_new (cfg_str ("CAISSON_BUS"));
    proto_msg_t *rep = NULL;
    if (c) {
        bus_client_set_timeout (c, timeout_ms, 0);
        rep = bus_client_request (c, service, req);
    }
    bus_client_destroy (&c);
    proto_msg_destroy (&req);
    if (cliask_report (service, rep))
        proto_msg_destroy (&rep);
    return rep;
}

static void
print_info (const proto_sandbox_info_t *i)
{
    printf ("%s\t%s\t%s\t%s\texpires %llu\t%s\n", i->sandbox_id, i->status, i->name ? i->name : "",
            i->language ? i->language : "", (unsigned long long) i->expires_at,
            i->reason ? i->reason : "");
}

static int
create (int argc, char **argv)
{
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_create, NULL);
    proto_sandbox_create_t *c = &req->body.sandbox_create;
    json_t *allow = json_array (), *deny = json_array ();
    for (int i = 0; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf (stderr, "caisson: %s needs a value\n", argv[i]);
            proto_msg_destroy (&req);
            json_decref (allow);
            json_decref (deny);
            return 2;
        }
        if (!strcmp (argv[i], "--name"))
            proto_set_str (&c->name, v);
        else if (!strcmp (argv[i], "--language"))
            proto_set_str (&c->language, v);
        else if (!strcmp (argv[i], "--ttl"))
            c->ttl_seconds = strtoull (v, NULL, 10);
        else if (!strcmp (argv[i], "--memory"))
            c->memory_mb = strtoull (v, NULL, 10);
        else if (!strcmp (argv[i], "--cpus"))
            c->cpus = strtoull (v, NULL, 10);
        else if (!strcmp (argv[i], "--network"))
            proto_set_str (&c->network, v);
        else if (!strcmp (argv[i], "--allow") || !strcmp (argv[i], "--deny"))
            json_array_append_new (argv[i][2] == 'a' ? allow : deny, json_string (v));
        else {
            fprintf (stderr, "caisson: unexpected argument '%s'\nusage: %s\n", argv[i], usage);
            proto_msg_destroy (&req);
            json_decref (allow);
            json_decref (deny);
            return 2;
        }
        i++;
    }
    /* an empty --allow list is not sent: the deployment's CAISSON_EGRESS_ALLOW applies */
    if (json_array_size (allow))
        mpjson_set (&c->network_allow, allow, 2);
    if (json_array_size (deny))
        mpjson_set (&c->network_deny, deny, 2);
    json_decref (allow);
    json_decref (deny);
    proto_msg_t *rep = ask ("sandbox-manager", req, 30000);
    if (!rep)
        return 1;
    printf ("%s\n", rep->body.sandbox_info.sandbox_id);
    proto_msg_destroy (&rep);
    return 0;
}

/* Every host's sandboxes: each sandbox-manager instance is asked. */
static int
list (void)
{
    bus_client_t *c = bus_client_new (cfg_str ("CAISSON_BUS"));
    if (c)
        bus_client_set_timeout (c, 5000, 0);
    json_t *addrs = c ? runroute_instances (c, "sandbox-manager") : NULL, *addr;
    bus_client_destroy (&c);
    int answered = 0;
    size_t i;
    json_array_foreach (addrs, i, addr) {
        proto_msg_t *rep = ask (json_string_value (addr), proto_msg_new (PROTO_sandbox_list, NULL),
                                5000);
        if (!rep)
            continue;
        answered++;
        json_t *arr = mpjson_get (&rep->body.sandbox_listed.sandboxes, 8);
        size_t j;
        json_t *o;
        json_array_foreach (arr, j, o)
            printf ("%s\t%s\t%s\t%s\n", json_string_value (json_object_get (o, "sandbox_id")),
                    json_string_value (json_object_get (o, "status")),
                    json_string_value (json_object_get (o, "name")) ?: "",
                    json_string_value (json_object_get (o, "language")) ?: "");
        json_decref (arr);
        proto_msg_destroy (&rep);
    }
    json_decref (addrs);
    return answered ? 0 : 1;
}

static int
simple (proto_type_t type, const char *id)
{
    char svc[160];
    runroute_sandbox (id, svc, sizeof svc);
    proto_msg_t *req = proto_msg_new (type, NULL);
    proto_set_str (&req->body.sandbox_get.sandbox_id, id);
    proto_msg_t *rep = ask (svc, req, 10000);
    if (!rep)
        return 1;
    print_info (&rep->body.sandbox_info);
    proto_msg_destroy (&rep);
    return 0;
}

static int
exec_cmd (const char *id, int argc, char **argv)
{
    uint64_t timeout = 60;
    bool background = false;
    int i = 0;
    for (; i < argc && strcmp (argv[i], "--"); i++)
        if (!strcmp (argv[i], "--timeout") && i + 1 < argc)
            timeout = strtoull (argv[++i], NULL, 10);
        else if (!strcmp (argv[i], "--background"))
            background = true;
    if (i + 1 >= argc) {
        fprintf (stderr, "caisson: exec needs -- CMD ARGS...\nusage: %s\n", usage);
        return 2;
    }
    json_t *cmd = json_array ();
    for (int k = i + 1; k < argc; k++)
        json_array_append_new (cmd, json_string (argv[k]));
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_exec, NULL);
    proto_set_str (&req->body.sandbox_exec.sandbox_id, id);
    mpjson_set (&req->body.sandbox_exec.command, cmd, 2);
    json_decref (cmd);
    req->body.sandbox_exec.timeout_seconds = timeout;
    req->body.sandbox_exec.background = background;
    char svc[160];
    runroute_sandbox (id, svc, sizeof svc);
    proto_msg_t *rep = ask (svc, req, (int) (timeout + 10) * 1000);
    if (!rep)
        return 1;
    const proto_sandbox_exec_result_t *r = &rep->body.sandbox_exec_result;
    if (background) {
        printf ("%llu\n", (unsigned long long) r->pid);
        proto_msg_destroy (&rep);
        return 0;
    }
    fputs (r->stdout ? r->stdout : "", stdout);
    fputs (r->stderr ? r->stderr : "", stderr);
    if (r->timed_out)
        fprintf (stderr, "caisson: timed out after %llu s\n", (unsigned long long) timeout);
    int code = (int) r->exit_code;
    proto_msg_destroy (&rep);
    return code;
}

/* Prints a background process's output as it comes until it ends (the
 * sandbox keeps each stream's head, so what was printed is a prefix of
 * every later answer); exits with its status. */
static int
follow (const char *svc, const char *id, uint64_t pid)
{
    size_t out = 0, err = 0;
    for (;;) {
        proto_msg_t *req = proto_msg_new (PROTO_sandbox_exec_output, NULL);
        proto_set_str (&req->body.sandbox_exec_output.sandbox_id, id);
        req->body.sandbox_exec_output.pid = pid;
        proto_msg_t *rep = ask (svc, req, 10000);
        if (!rep)
            return 1;
        const proto_sandbox_exec_result_t *r = &rep->body.sandbox_exec_result;
        size_t o = r->stdout ? strlen (r->stdout) : 0, e = r->stderr ? strlen (r->stderr) : 0;
        if (o > out)
            fwrite (r->stdout + out, 1, o - out, stdout);
        if (e > err)
            fwrite (r->stderr + err, 1, e - err, stderr);
        fflush (stdout);
        out = o > out ? o : out;
        err = e > err ? e : err;
        bool running = r->running;
        int code = (int) r->exit_code;
        if (!running && r->truncated)
            fprintf (stderr, "caisson: output cut at the sandbox's cap\n");
        proto_msg_destroy (&rep);
        if (!running)
            return code;
        zclock_sleep (250);
    }
}

/* ps, logs, wait, kill: a sandbox's background processes. wait exits
 * with the process's status, or 3 while it still runs; logs -f follows
 * the output until the process ends and exits with its status. */
static int
proc_cmd (const char *sub, const char *id, int argc, char **argv)
{
    char svc[160];
    runroute_sandbox (id, svc, sizeof svc);
    if (!strcmp (sub, "ps")) {
        proto_msg_t *req = proto_msg_new (PROTO_sandbox_exec_list, NULL);
        proto_set_str (&req->body.sandbox_exec_list.sandbox_id, id);
        proto_msg_t *rep = ask (svc, req, 10000);
        if (!rep)
            return 1;
        json_t *procs = mpjson_get (&rep->body.sandbox_exec_procs.processes, 8), *p;
        size_t i;
        json_array_foreach (procs, i, p) {
            char *cmd = json_dumps (json_object_get (p, "command"), JSON_ENCODE_ANY);
            json_t *code = json_object_get (p, "exitCode");
            printf ("%lld\t%s\t%s%lld\t%s\n",
                    (long long) json_integer_value (json_object_get (p, "pid")),
                    json_is_true (json_object_get (p, "running")) ? "running" : "exited",
                    code ? "" : "-", code ? (long long) json_integer_value (code) : 0LL,
                    cmd ? cmd : "");
            free (cmd);
        }
        json_decref (procs);
        proto_msg_destroy (&rep);
        return 0;
    }
    if (argc < 1) {
        fprintf (stderr, "caisson: sandbox %s needs a pid\nusage: %s\n", sub, usage);
        return 2;
    }
    char *end;
    errno = 0;
    unsigned long long pid = strtoull (argv[0], &end, 10);
    if (!isdigit ((unsigned char) argv[0][0]) || *end || errno || pid == 0) {
        fprintf (stderr, "caisson: '%s' is not a process id\n", argv[0]);
        return 2;
    }
    uint64_t timeout = 30, sig = 9;
    bool follow_it = false;
    for (int i = 1; i < argc; i++)
        if (!strcmp (argv[i], "--timeout") && i + 1 < argc)
            timeout = strtoull (argv[++i], NULL, 10);
        else if (!strcmp (argv[i], "--signal") && i + 1 < argc)
            sig = strtoull (argv[++i], NULL, 10);
        else if (!strcmp (argv[i], "-f") || !strcmp (argv[i], "--follow"))
            follow_it = true;
    if (follow_it && !strcmp (sub, "logs"))
        return follow (svc, id, pid);
    proto_type_t type = !strcmp (sub, "logs") ? PROTO_sandbox_exec_output
                        : !strcmp (sub, "wait") ? PROTO_sandbox_exec_wait : PROTO_sandbox_exec_kill;
    proto_msg_t *req = proto_msg_new (type, NULL);
    proto_sandbox_exec_kill_t *b = &req->body.sandbox_exec_kill;
    proto_set_str (&b->sandbox_id, id);
    b->pid = pid;
    b->timeout_seconds = type == PROTO_sandbox_exec_wait ? timeout : 0;
    b->signal = type == PROTO_sandbox_exec_kill ? sig : 0;
    proto_msg_t *rep = ask (svc, req, (int) (timeout + 10) * 1000);
    if (!rep)
        return 1;
    int code = 0;
    if (rep->type == PROTO_sandbox_exec_result) {
        const proto_sandbox_exec_result_t *r = &rep->body.sandbox_exec_result;
        fputs (r->stdout ? r->stdout : "", stdout);
        fputs (r->stderr ? r->stderr : "", stderr);
        if (type == PROTO_sandbox_exec_wait)
            code = r->running ? 3 : (int) r->exit_code;
    }
    proto_msg_destroy (&rep);
    return code;
}

static int
write_cmd (const char *id, const char *path)
{
    size_t len = 0, cap = 65536;
    uint8_t *buf = malloc (cap);
    size_t n;
    while (buf && (n = fread (buf + len, 1, cap - len, stdin)) > 0)
        if ((len += n) == cap && cap < (8u << 20)) {
            uint8_t *bigger = realloc (buf, cap *= 2);
            if (!bigger)
                free (buf);
            buf = bigger;
        }
    if (!buf) {
        fprintf (stderr, "caisson: out of memory reading the file from stdin\n");
        return 1;
    }
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_write_file, NULL);
    proto_set_str (&req->body.sandbox_write_file.sandbox_id, id);
    proto_set_str (&req->body.sandbox_write_file.path, path);
    req->body.sandbox_write_file.content.data = buf;
    req->body.sandbox_write_file.content.size = len;
    char svc[160];
    runroute_sandbox (id, svc, sizeof svc);
    proto_msg_t *rep = ask (svc, req, 30000);
    if (!rep)
        return 1;
    printf ("%s\n", rep->body.sandbox_path.path);
    proto_msg_destroy (&rep);
    return 0;
}

static int
read_cmd (const char *id, const char *path)
{
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_read_file, NULL);
    proto_set_str (&req->body.sandbox_read_file.sandbox_id, id);
    proto_set_str (&req->body.sandbox_read_file.path, path);
    char svc[160];
    runroute_sandbox (id, svc, sizeof svc);
    proto_msg_t *rep = ask (svc, req, 30000);
    if (!rep)
        return 1;
    fwrite (rep->body.sandbox_file.content.data, 1, rep->body.sandbox_file.content.size, stdout);
    int truncated = rep->body.sandbox_file.truncated;
    proto_msg_destroy (&rep);
    if (truncated)
        fprintf (stderr, "caisson: output cut at the read cap\n");
    return truncated ? 1 : 0;
}

int
cmd_sandbox (int argc, char **argv)
{
    const char *data = cfg_str ("CAISSON_DATA");
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp (argv[i], "--"))
            for (; i < argc; i++)
                argv[n++] = argv[i];
        else if (!strcmp (argv[i], "--data") && i + 1 < argc)
            data = argv[++i];
        else
            argv[n++] = argv[i];
        if (i >= argc)
            break;
    }
    argc = n;
    char dir[PATH_MAX];
    if (argc < 1 || stack_prepare (data, dir, sizeof dir)) {
        fprintf (stderr, "usage: %s\n", usage);
        return 2;
    }
    stack_load_endpoints (dir);
    const char *sub = argv[0];
    if (!strcmp (sub, "create"))
        return create (argc - 1, argv + 1);
    if (!strcmp (sub, "ls"))
        return list ();
    if (argc < 2) {
        fprintf (stderr, "caisson: sandbox %s needs a sandbox id\nusage: %s\n", sub, usage);
        return 2;
    }
    const char *id = argv[1];
    if (!strcmp (sub, "info"))
        return simple (PROTO_sandbox_get, id);
    if (!strcmp (sub, "rm"))
        return simple (PROTO_sandbox_destroy, id);
    if (!strcmp (sub, "pause"))
        return simple (PROTO_sandbox_pause, id);
    if (!strcmp (sub, "resume"))
        return simple (PROTO_sandbox_resume, id);
    if (!strcmp (sub, "exec"))
        return exec_cmd (id, argc - 2, argv + 2);
    if (!strcmp (sub, "ps") || !strcmp (sub, "logs") || !strcmp (sub, "wait")
        || !strcmp (sub, "kill"))
        return proc_cmd (sub, id, argc - 2, argv + 2);
    if (!strcmp (sub, "net")) {
        char svc[160];
        runroute_sandbox (id, svc, sizeof svc);
        return cmd_sandbox_net (svc, id, argc - 2, argv + 2);
    }
    if ((!strcmp (sub, "write") || !strcmp (sub, "read")) && argc == 3)
        return sub[0] == 'w' ? write_cmd (id, argv[2]) : read_cmd (id, argv[2]);
    fprintf (stderr, "caisson: unknown sandbox command '%s'\nusage: %s\n", sub, usage);
    return 2;
}
