/* sbx_client: what the sandbox tests share: the real broker and
 * sandbox-manager started under a test directory, and short calls for
 * create, destroy, exec and file requests over the bus. */
#define _GNU_SOURCE
#include "sbx_client.h"
#include "bus_client.h"
#include "mpjson.h"
#include "proto.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

const char *s_dir;
pid_t s_bus, s_mgr;
bus_client_t *s_c;

void
any_set (proto_bytes_t *b, json_t *j)
{
    assert_int_equal (mpjson_encode (j, 8, &b->data, &b->size), 0);
    json_decref (j);
}

proto_msg_t *
call (proto_msg_t *req)
{
    /* Requests act as the user create() names, unless a test says otherwise. */
    if (!req->env.user)
        proto_set_str (&req->env.user, "tester");
    proto_msg_t *rep = bus_client_request (s_c, "sandbox-manager", req);
    proto_msg_destroy (&req);
    assert_non_null (rep);
    return rep;
}

void
start_stack (void)
{
    s_bus = support_spawn ("caisson-bus", NULL);
    start_stack_manager ();
}

void
start_stack_manager (void)
{
    s_mgr = support_spawn ("caisson-sandbox-manager", NULL);
    for (int i = 0; i < 200; i++) {
        proto_msg_t *req = proto_msg_new (PROTO_health_req, NULL);
        proto_msg_t *rep = bus_client_request (s_c, "sandbox-manager", req);
        proto_msg_destroy (&req);
        bool ok = rep && rep->type == PROTO_health_rep;
        proto_msg_destroy (&rep);
        if (ok)
            return;
    }
    fail_msg ("sandbox-manager never answered");
}

char *
create (const char *language, uint64_t ttl)
{
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_create, NULL);
    proto_set_str (&req->body.sandbox_create.language, language);
    proto_set_str (&req->env.user, "tester");
    req->body.sandbox_create.ttl_seconds = ttl;
    proto_msg_t *rep = call (req);
    if (rep->type == PROTO_error)
        fail_msg ("create: %s", rep->body.error.message);
    assert_int_equal (rep->type, PROTO_sandbox_info);
    assert_string_equal (rep->body.sandbox_info.status, "ready");
    char *id = strdup (rep->body.sandbox_info.sandbox_id);
    proto_msg_destroy (&rep);
    return id;
}

void
destroy (char *id)
{
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_destroy, NULL);
    proto_set_str (&req->body.sandbox_destroy.sandbox_id, id);
    req->env.op = true;         /* clean-up, whoever owns it: an operator's */
    proto_msg_t *rep = call (req);
    assert_int_equal (rep->type, PROTO_sandbox_info);
    proto_msg_destroy (&rep);
    free (id);
}

/* Runs a shell command; returns the reply (exec.result or error). */
proto_msg_t *
sh (const char *id, const char *cmd, uint64_t timeout, const char *in)
{
    return sh_as (NULL, id, cmd, timeout, in);
}

proto_msg_t *
sh_as (const char *user, const char *id, const char *cmd, uint64_t timeout, const char *in)
{
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_exec, NULL);
    if (user)
        proto_set_str (&req->env.user, user);
    proto_set_str (&req->body.sandbox_exec.sandbox_id, id);
    any_set (&req->body.sandbox_exec.command, json_string (cmd));
    req->body.sandbox_exec.timeout_seconds = timeout;
    if (in)
        proto_set_bytes (&req->body.sandbox_exec.stdin, in, strlen (in));
    return call (req);
}

/* Runs cmd and returns its exit code; stdout copied into out. */
int
run (const char *id, const char *cmd, char *out, size_t outlen)
{
    return run_as (NULL, id, cmd, out, outlen);
}

int
run_as (const char *user, const char *id, const char *cmd, char *out, size_t outlen)
{
    proto_msg_t *rep = sh_as (user, id, cmd, 20, NULL);
    if (rep->type == PROTO_error)
        fail_msg ("exec %s: %s", cmd, rep->body.error.message);
    assert_int_equal (rep->type, PROTO_sandbox_exec_result);
    int code = (int) rep->body.sandbox_exec_result.exit_code;
    if (out)
        snprintf (out, outlen, "%s%s", rep->body.sandbox_exec_result.stdout,
                  rep->body.sandbox_exec_result.stderr);
    proto_msg_destroy (&rep);
    return code;
}

proto_msg_t *
file_req (proto_type_t t, const char *id, const char *path)
{
    proto_msg_t *req = proto_msg_new (t, NULL);
    proto_set_str (&req->body.sandbox_read_file.sandbox_id, id);
    proto_set_str (&req->body.sandbox_read_file.path, path);
    return req;
}

proto_msg_t *
write_file (const char *id, const char *path, const char *data)
{
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_write_file, NULL);
    proto_set_str (&req->body.sandbox_write_file.sandbox_id, id);
    proto_set_str (&req->body.sandbox_write_file.path, path);
    proto_set_bytes (&req->body.sandbox_write_file.content, data, strlen (data));
    return call (req);
}

int
sbx_setup (void **state)
{
    (void) state;
    if (geteuid () != 0)
        skip ();
    s_dir = support_sandbox_env ("sandbox");
    setenv ("CAISSON_SANDBOX_POOL", "1", 1);
    setenv ("CAISSON_SANDBOX_MAX_PER_USER", "3", 1);
    s_c = bus_client_new (getenv ("CAISSON_BUS"));
    bus_client_set_timeout (s_c, 30000, 0);
    start_stack ();
    return 0;
}

/* Sandboxes outlive their manager by design (a restart takes them back);
 * a test run ends them through their cgroups. */
static void
kill_sandboxes (void)
{
    char path[1024], line[64];
    snprintf (path, sizeof path, "ls %s/sandboxes 2>/dev/null", s_dir);
    FILE *ls = popen (path, "r");
    while (ls && fgets (line, sizeof line, ls)) {
        line[strcspn (line, "\n")] = 0;
        snprintf (path, sizeof path, "/sys/fs/cgroup/pids/caisson/%s/cgroup.procs", line);
        FILE *f = fopen (path, "r");
        int pid;
        while (f && fscanf (f, "%d", &pid) == 1)
            kill (pid, SIGKILL);
        if (f)
            fclose (f);
    }
    if (ls)
        pclose (ls);
}

int
sbx_teardown (void **state)
{
    (void) state;
    support_expect_clean_exit (s_mgr);
    kill_sandboxes ();
    support_expect_clean_exit (s_bus);
    bus_client_destroy (&s_c);
    return 0;
}

void
stop_manager_kill_init (pid_t init)
{
    support_expect_clean_exit (s_mgr);
    kill (init, SIGKILL);
    for (int i = 0; i < 100 && support_alive (init); i++)
        usleep (10000);
}
