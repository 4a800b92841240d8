/* tenant_support: the stack and bus helpers the red-team tenant suites
 * share; see tenant_support.h. */
#include "tenant_support.h"
#include "ui_support.h"

#include "mpjson.h"

#include <czmq.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

pid_t ts_pids[TS_NPIDS];
const char *ts_dir;
const char *ts_alice, *ts_bob, *ts_root;
bus_client_t *ts_client;
int ts_http_port;
char ts_replay_dir[1200];
static char s_replay_url[128];

static void
start_httpd (void)
{
    ts_http_port = support_free_port ();
    ts_pids[TS_HTTPD] = fork ();
    assert_true (ts_pids[TS_HTTPD] >= 0);
    if (ts_pids[TS_HTTPD] == 0) {
        char port[16];
        snprintf (port, sizeof port, "%d", ts_http_port);
        int null = open ("/dev/null", O_WRONLY);
        dup2 (null, 1);
        dup2 (null, 2);
        execlp ("python3", "python3", "-m", "http.server", "--bind", "127.0.0.1",
                "--directory", ts_dir, port, (char *) NULL);
        _exit (127);
    }
    char cmd[256];
    snprintf (cmd, sizeof cmd, "for i in $(seq 100); do curl -sf -o /dev/null "
              "http://127.0.0.1:%d/ && exit 0; sleep 0.1; done; exit 1", ts_http_port);
    assert_int_equal (system (cmd), 0);
}

void
tenant_stack_begin (const char *name, bool httpd)
{
    ts_dir = support_sandbox_env (name);
    assert_non_null (ts_dir);
    ui_pick_port ();
    snprintf (ts_replay_dir, sizeof ts_replay_dir, "%s/cassettes", ts_dir);
    mkdir (ts_replay_dir, 0700);
    if (httpd)
        start_httpd ();
}

void
tenant_stack_services (const char *const tools_env[], const char *const default_env[],
                       const char *const tool_services[])
{
    ts_pids[TS_BUS] = support_spawn ("caisson-bus", NULL);
    ts_pids[TS_ELOG] = support_spawn ("caisson-event-log", NULL);
    ts_pids[TS_SBX] = support_spawn ("caisson-sandbox-manager", NULL);
    ts_pids[TS_TOOLS] = support_spawn ("caisson-tool-runner", tools_env);
    if (default_env)
        ts_pids[TS_TOOLS_DEFAULT] = support_spawn ("caisson-tool-runner", default_env);
    ts_pids[TS_BRIDGE] = support_spawn ("caisson-ui-bridge", NULL);
    ts_client = bus_client_new (getenv ("CAISSON_BUS"));
    assert_non_null (ts_client);
    assert_int_equal (ui_wait_ready (), 0);
    support_await_service (ts_client, "event-log");
    support_await_service (ts_client, "sandbox-manager");
    for (size_t i = 0; tool_services[i]; i++)
        support_await_service (ts_client, tool_services[i]);
    ts_alice = ui_token (0, "alice", 0);
    ts_bob = ui_token (1, "bob", 0);
    ts_root = ui_token (2, "root", 1);
}

static void
start_orchestrator (const char *const orch_extra[])
{
    const char *env[8] = { "MODEL=replay/demo", s_replay_url, "CAISSON_APPROVAL=ask" };
    size_t n = 3;
    for (size_t i = 0; orch_extra && orch_extra[i]; i++) {
        assert_true (n < 7);
        env[n++] = orch_extra[i];
    }
    env[n] = NULL;
    ts_pids[TS_ORCH] = support_spawn ("caisson-orchestrator", env);
    support_await_service (ts_client, "orchestrator");
}

void
tenant_stack_model (int port, const char *const orch_extra[])
{
    static char replay_port[64];
    snprintf (replay_port, sizeof replay_port, "CAISSON_LLM_REPLAY_PORT=%d", port);
    snprintf (s_replay_url, sizeof s_replay_url, "CAISSON_LLM_REPLAY_URL=http://127.0.0.1:%d/v1",
              port);
    char dir_env[1300];
    snprintf (dir_env, sizeof dir_env, "CAISSON_LLM_REPLAY_DIR=%s", ts_replay_dir);
    const char *replay_env[] = { replay_port, dir_env, NULL };
    ts_pids[TS_REPLAY] = support_spawn ("caisson-llm-replay", replay_env);
    start_orchestrator (orch_extra);
}

void
tenant_orchestrator_restart (const char *const orch_extra[])
{
    support_expect_clean_exit (ts_pids[TS_ORCH]);
    start_orchestrator (orch_extra);
}

int
tenant_stack_down (void **state)
{
    (void) state;
    bus_client_destroy (&ts_client);
    support_expect_clean_exit (ts_pids[TS_BRIDGE]);
    support_expect_clean_exit (ts_pids[TS_ORCH]);
    for (int i = TS_NPIDS - 1; i >= 0; i--)
        if (i != TS_BRIDGE && i != TS_ORCH && ts_pids[i] > 0)
            support_stop (ts_pids[i], SIGTERM, 5000);
    return 0;
}

proto_msg_t *
as (const char *user, bool op, proto_type_t type)
{
    proto_msg_t *m = proto_msg_new (type, NULL);
    assert_non_null (m);
    proto_set_str (&m->env.user, user);
    m->env.op = op;
    return m;
}

proto_msg_t *
ask (const char *service, proto_msg_t *req, int timeout_ms)
{
    bus_client_set_timeout (ts_client, timeout_ms, 2);
    proto_msg_t *rep = bus_client_request (ts_client, service, req);
    proto_msg_destroy (&req);
    if (!rep)
        fail_msg ("%s did not answer", service);
    return rep;
}

json_t *
tool (const char *service, const char *user, const char *name, const char *args, bool *ok)
{
    proto_msg_t *req = as (user, false, PROTO_tools_call);
    char id[CID_SIZE];
    cid_new (id);
    proto_set_str (&req->body.tools_call.name, name);
    proto_set_str (&req->body.tools_call.call_id, id);
    json_t *a = json_loads (args, 0, NULL);
    assert_non_null (a);
    assert_int_equal (mpjson_set (&req->body.tools_call.args, a, 32), 0);
    json_decref (a);
    return support_tools_result (ask (service, req, 60000), name, ok);
}

const char *
error_code (const json_t *result)
{
    return json_string_value (json_object_get (json_object_get (result, "error"), "code")) ?: "";
}

void
write_file (const char *path, const char *text)
{
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fputs (text, f);
    assert_int_equal (fclose (f), 0);
}

void
tenant_sandbox_new (const char *user, char *id, size_t len)
{
    bool ok;
    json_t *r = tool ("tool-runner", user, "createSandbox", "{}", &ok);
    assert_true (ok);
    snprintf (id, len, "%s", json_string_value (json_object_get (r, "sandboxId")));
    json_decref (r);
}
