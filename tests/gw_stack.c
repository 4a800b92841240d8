/* gw_stack: a whole stack in front of the scripted model, for the
 * gateway's sandbox tests. See gw_stack.h. */
#define _GNU_SOURCE
#include "gw_stack.h"
#include "cid.h"
#include "mpjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char s_real[64];
static char s_dir[512];
static pid_t s_replay;
static bus_client_t *s_bus;

bool
gws_up (const char *name, const char *const env[])
{
    if (geteuid () != 0)
        return false;
    const char *dir = support_sandbox_env (name);
    assert_non_null (dir);
    snprintf (s_dir, sizeof s_dir, "%s", dir);
    char token[CID_SIZE], cassettes[512], url[96];
    cid_token (token, 24);
    snprintf (s_real, sizeof s_real, "sk-caisson-REAL-%s", token);
    int rport = support_replay_env (cassettes, sizeof cassettes);
    s_replay = support_spawn_llm_replay (rport, cassettes, s_real);
    snprintf (url, sizeof url, "http://127.0.0.1:%d/v1", rport);
    setenv ("OPENAI_API_KEY", s_real, 1);
    setenv ("OPENAI_BASE_URL", url, 1);
    setenv ("ANTHROPIC_API_KEY", s_real, 1);
    setenv ("ANTHROPIC_BASE_URL", url, 1);
    unsetenv ("MODEL");
    for (size_t i = 0; env && env[i]; i++)
        assert_int_equal (putenv ((char *) env[i]), 0);
    const char *up[] = { "caisson", "up", "--detach", "--data", s_dir, NULL };
    static char out[1 << 16];
    if (support_run (up, out, sizeof out) != 0)
        fail_msg ("caisson up failed: %s", out);
    s_bus = bus_client_new (getenv ("CAISSON_BUS"));
    assert_non_null (s_bus);
    bus_client_set_timeout (s_bus, 60000, 0);
    return true;
}

void
gws_down (void)
{
    if (!s_dir[0])
        return;
    bus_client_destroy (&s_bus);
    const char *down[] = { "caisson", "down", "--data", s_dir, NULL };
    support_run (down, NULL, 0);
    support_stop (s_replay, SIGTERM, 5000);
}

const char *
gws_dir (void)
{
    return s_dir;
}

const char *
gws_real_key (void)
{
    return s_real;
}

proto_msg_t *
gws_as (const char *user, proto_type_t type)
{
    proto_msg_t *m = proto_msg_new (type, NULL);
    assert_non_null (m);
    proto_set_str (&m->env.user, user);
    return m;
}

proto_msg_t *
gws_ask (proto_msg_t *req, const char *service)
{
    proto_msg_t *rep = bus_client_request (s_bus, service, req);
    proto_msg_destroy (&req);
    assert_non_null (rep);
    if (rep->type == PROTO_error)
        fail_msg ("%s: %s %s", service, rep->body.error.code, rep->body.error.message);
    return rep;
}

proto_msg_t *
gws_sandbox (const char *user, const char *net)
{
    proto_msg_t *req = gws_as (user, PROTO_sandbox_create);
    proto_set_str (&req->body.sandbox_create.network, net);
    req->body.sandbox_create.ttl_seconds = 600;
    return gws_ask (req, "sandbox-manager");
}

proto_msg_t *
gws_sh (const char *user, const char *id, const char *cmd)
{
    proto_msg_t *req = gws_as (user, PROTO_sandbox_exec);
    proto_sandbox_exec_t *e = &req->body.sandbox_exec;
    proto_set_str (&e->sandbox_id, id);
    json_t *argv = json_pack ("[s,s,s]", "/bin/sh", "-c", cmd);
    mpjson_set (&e->command, argv, 2);
    json_decref (argv);
    e->timeout_seconds = 240;
    return gws_ask (req, "sandbox-manager");
}

void
gws_destroy (const char *user, const char *id)
{
    proto_msg_t *req = gws_as (user, PROTO_sandbox_destroy);
    proto_set_str (&req->body.sandbox_destroy.sandbox_id, id);
    proto_msg_t *rep = gws_ask (req, "sandbox-manager");
    proto_msg_destroy (&rep);
}

pid_t
gws_pid_of (const char *name)
{
    static char out[16384];
    const char *argv[] = { "caisson", "status", "--json", "--data", s_dir, NULL };
    support_run (argv, out, sizeof out);
    json_t *doc = json_loads (out, 0, NULL), *p;
    size_t i;
    pid_t pid = 0;
    json_array_foreach (json_object_get (doc, "processes"), i, p)
        if (!strcmp (support_json_str (p, "name"), name))
            pid = (pid_t) json_integer_value (json_object_get (p, "pid"));
    json_decref (doc);
    assert_true (pid > 0);
    return pid;
}
