/* eventlog_util: helpers of the event-log tests. See eventlog_util.h. */
#include "eventlog_util.h"
#include "mpjson.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *s_dir;

/* A run id for a short test name: a fresh cid per name and sandbox, made
 * 2 ms apart so runs made later sort later, as in a real stack. */
const char *
rid (const char *name)
{
    static char names[32][16], ids[32][CID_SIZE];
    static int n;
    for (int i = 0; i < n; i++)
        if (!strcmp (names[i], name))
            return ids[i];
    assert_true (n < 32);
    usleep (2000);
    snprintf (names[n], sizeof names[n], "%s", name);
    cid_new (ids[n]);
    return ids[n++];
}

bus_client_t *
client_new (int timeout_ms, int retries)
{
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    assert_non_null (c);
    bus_client_set_timeout (c, timeout_ms, retries);
    return c;
}

proto_msg_t *
request (bus_client_t *c, proto_msg_t *req)
{
    proto_msg_t *rep = bus_client_request (c, "event-log", req);
    proto_msg_destroy (&req);
    return rep;
}

pid_t
start_eventlog (const char *const env[])
{
    pid_t pid = support_spawn ("caisson-event-log", env);
    bus_client_t *c = client_new (200, 0);
    for (int i = 0; i < 100; i++) {
        proto_msg_t *rep = request (c, proto_msg_new (PROTO_health_req, NULL));
        bool up = rep && rep->type == PROTO_health_rep
                  && rep->body.health_rep.pid == (uint64_t) pid;
        proto_msg_destroy (&rep);
        if (up) {
            bus_client_destroy (&c);
            return pid;
        }
    }
    fail_msg ("event-log never answered");
    return -1;
}

pid_t
setup_stack (const char *name)
{
    assert_non_null (s_dir = support_sandbox_env (name));
    setenv ("CAISSON_HEARTBEAT_MS", "100", 1);
    return support_spawn ("caisson-bus", NULL);
}

void
elstack_up (elstack_t *s, const char *name, const char *const env[], int timeout_ms,
            int retries)
{
    s->bus = setup_stack (name);
    s->eventlog = start_eventlog (env);
    s->client = client_new (timeout_ms, retries);
}

void
elstack_down (elstack_t *s)
{
    bus_client_destroy (&s->client);
    support_expect_clean_exit (s->eventlog);
    support_stop (s->bus, SIGTERM, 5000);
}

proto_msg_t *
request_as (bus_client_t *c, const char *user, bool op, proto_msg_t *m)
{
    proto_set_str (&m->env.user, user);
    m->env.op = op;
    proto_msg_t *rep = request (c, m);
    assert_non_null (rep);
    return rep;
}

void
expect_error_reply (proto_msg_t *rep, const char *code, const char *text)
{
    if (rep->type != PROTO_error)
        fail_msg ("expected %s (%s), got %s", code, text, proto_type_name (rep->type));
    if (strcmp (rep->body.error.code, code) || !strstr (rep->body.error.message, text))
        fail_msg ("expected %s naming '%s', got %s: %s", code, text, rep->body.error.code,
                  rep->body.error.message);
    proto_msg_destroy (&rep);
}

/* A new event.append for run with data given as JSON text (NULL: none). */
proto_msg_t *
append_msg (const char *run, const char *kind, const char *json)
{
    proto_msg_t *m = proto_msg_new (PROTO_event_append, NULL);
    assert_non_null (m);
    proto_set_str (&m->env.run, run);
    proto_set_str (&m->body.event_append.kind, kind);
    if (json) {
        json_t *v = json_loads (json, JSON_DECODE_ANY, NULL);
        assert_non_null (v);
        uint8_t *data;
        size_t size;
        assert_int_equal (mpjson_encode (v, 32, &data, &size), 0);
        m->body.event_append.data.data = data;
        m->body.event_append.data.size = size;
        json_decref (v);
    }
    return m;
}

/* Appends and expects an ack; returns its global seq. */
uint64_t
append (bus_client_t *c, const char *run, const char *kind, const char *json)
{
    proto_msg_t *rep = request (c, append_msg (run, kind, json));
    assert_non_null (rep);
    if (rep->type != PROTO_event_ack)
        fail_msg ("append %s: %s", kind, rep->type == PROTO_error ? rep->body.error.message : "?");
    uint64_t seq = rep->body.event_ack.seq;
    proto_msg_destroy (&rep);
    return seq;
}

proto_msg_t *
append_msg_ev (const char *run, evk_kind_t kind, json_t *data)
{
    assert_non_null (data);
    char why[256];
    if (evk_check (evk_name (kind), data, why, sizeof why))
        fail_msg ("append_msg_ev: %s", why);
    proto_msg_t *m = proto_msg_new (PROTO_event_append, NULL);
    assert_non_null (m);
    proto_set_str (&m->env.run, run);
    proto_set_str (&m->body.event_append.kind, evk_name (kind));
    assert_int_equal (mpjson_set (&m->body.event_append.data, data, 32), 0);
    json_decref (data);
    return m;
}

/* Sends an append and expects an ack; returns its global seq. */
static uint64_t
acked (bus_client_t *c, proto_msg_t *m)
{
    proto_msg_t *rep = request (c, m);
    assert_non_null (rep);
    if (rep->type != PROTO_event_ack)
        fail_msg ("append: %s", rep->type == PROTO_error ? rep->body.error.message : "?");
    uint64_t seq = rep->body.event_ack.seq;
    proto_msg_destroy (&rep);
    return seq;
}

uint64_t
append_ev (bus_client_t *c, const char *run, evk_kind_t kind, json_t *data)
{
    return acked (c, append_msg_ev (run, kind, data));
}

proto_msg_t *
started_msg (const char *run, const char *task, const char *user)
{
    json_t *budgets = json_pack ("{s:i, s:i, s:i, s:i}", "steps", 20, "toolCalls", 50,
                                 "wallSeconds", 600, "tokens", 200000);
    json_t *policy = json_object ();
    proto_msg_t *m = APPEND_MSG (run, run_started, .task = task, .user = user, .threadId = run,
                                 .model = "replay/demo", .orchestrator = "o1",
                                 .promptVersion = "v1", .budgets = budgets, .policy = policy);
    json_decref (budgets);
    json_decref (policy);
    return m;
}

uint64_t
append_started (bus_client_t *c, const char *run, const char *task, const char *user,
                uint64_t ts)
{
    proto_msg_t *m = started_msg (run, task, user);
    if (ts)
        m->env.ts = ts;
    return acked (c, m);
}

json_t *
any_json (const proto_bytes_t *b)
{
    char why[160];
    json_t *v = mpjson_decode (b->data, b->size, 64, why, sizeof why);
    if (!v)
        fail_msg ("undecodable ANY: %s", why);
    return v;
}

/* Every stored event of run (NULL: the global order) from from_seq on. */
json_t *
read_all (bus_client_t *c, const char *run, uint64_t from)
{
    json_t *all = json_array ();
    for (;;) {
        proto_msg_t *req = proto_msg_new (PROTO_events_read, NULL);
        req->body.events_read.from_seq = from;
        if (run)
            proto_set_str (&req->body.events_read.run, run);
        proto_msg_t *rep = request (c, req);
        assert_non_null (rep);
        assert_int_equal (rep->type, PROTO_events_page);
        json_t *page = any_json (&rep->body.events_page.events);
        json_array_extend (all, page);
        bool done = !json_array_size (page);
        from = rep->body.events_page.next;
        json_decref (page);
        proto_msg_destroy (&rep);
        if (done)
            return all;
    }
}

json_t *
run_get (bus_client_t *c, const char *run)
{
    proto_msg_t *req = proto_msg_new (PROTO_run_record_get, NULL);
    proto_set_str (&req->body.run_record_get.run, run);
    proto_msg_t *rep = request (c, req);
    assert_non_null (rep);
    json_t *rec = rep->type == PROTO_run_record ? any_json (&rep->body.run_record.run) : NULL;
    proto_msg_destroy (&rep);
    return rec;
}

json_int_t
int_at (json_t *obj, const char *key)
{
    return json_integer_value (json_object_get (obj, key));
}

proto_msg_t *
put_artifact (bus_client_t *c, const void *data, size_t size, const char *kind)
{
    proto_msg_t *req = proto_msg_new (PROTO_artifact_put, NULL);
    proto_set_bytes (&req->body.artifact_put.data, data, size);
    proto_set_str (&req->body.artifact_put.kind, kind);
    proto_msg_t *rep = request (c, req);
    assert_non_null (rep);
    assert_int_equal (rep->type, PROTO_artifact_ref);
    return rep;
}

