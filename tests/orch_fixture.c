/* orch_fixture: stand-ins for tool-runner and event-log in the
 * orchestrator's tests, until those services are merged. One process
 * serves both on the real bus:
 * - `tool-runner`: tools.list (git.openPR marked mutating) and tools.call
 *   with canned results shaped like the real tools' (runCommand "bigout
 *   N": N bytes of output ending "bigout-end"); each first call id
 *   is logged to $CAISSON_DATA/tools.log ("name call_id"), a repeated id
 *   gets the first answer again without being logged (idempotency);
 *   `runCommand` of "sleep ..." answers only after 30 s; a dry run
 *   (`dry_run`) is logged to previews.log ("name call_id user run") and
 *   answered with a preview {files, skipped, patch, branch, base}.
 * - `event-log`: acks event.append, logs "kind" lines per run to
 *   $CAISSON_DATA/events-<run>.log, and publishes the event on
 *   run.<run>.<kind> as the real one does; every event whole goes to
 *   events-<run>.jsonl ({kind, data} a line), the stored transcript. An event not shaped as
 *   proto/events.def declares its kind is logged, with why, to
 *   $CAISSON_DATA/drift.log. */
#include "orch_fixture.h"
#include "bus_pub.h"
#include "bus_worker.h"
#include "evkind.h"
#include "mpjson.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    zloop_t *loop;
    bus_worker_t *tools, *events, *sandboxes;
    zhashx_t *boxes;            /* sandbox id -> its user (strdup'd): the live ones */
    unsigned made;              /* sandboxes created so far: their ids' tokens */
    bus_pub_t *pub;
    zhashx_t *seen;             /* call ids already run */
    zlist_t *later;             /* deferred answers not yet sent */
    uint64_t seq;
} fixture_t;

static fixture_t s_fx;

static void
log_line (const char *file, const char *line)
{
    char path[1024];
    snprintf (path, sizeof path, "%s/%s", getenv ("CAISSON_DATA"), file);
    FILE *f = fopen (path, "a");
    if (f) {
        fprintf (f, "%s\n", line);
        fclose (f);
    }
}

static proto_msg_t *
catalogue (const proto_msg_t *req)
{
    /* runCommand runs tests (tool-runner's catalogue says `runsTests`) */
    json_t *tools = json_pack (
        "[{s:s, s:s, s:{s:s}, s:b}, {s:s, s:s, s:{s:s}, s:b}, {s:s, s:s, s:{s:s}, s:b, s:b},"
        " {s:s, s:s, s:{s:s}, s:b}, {s:s, s:s, s:{s:s}, s:b}]",
        "name", "createSandbox", "description", "Create a sandbox", "inputSchema", "type",
        "object", "mutates", 0, "name", "writeFiles", "description", "Write files",
        "inputSchema", "type", "object", "mutates", 0, "name", "runCommand", "description",
        "Run a command", "inputSchema", "type", "object", "mutates", 0, "runsTests", 1,
        "name", "repo.clone",
        "description", "Clone", "inputSchema", "type", "object", "mutates", 0, "name",
        "git.openPR", "description", "Open a pull request", "inputSchema", "type", "object",
        "mutates", 1);
    proto_msg_t *rep = proto_msg_new (PROTO_tools_catalogue, req);
    mpjson_set (&rep->body.tools_catalogue.tools, tools, 16);
    json_decref (tools);
    return rep;
}

/* How many live sandboxes user has. */
static size_t
boxes_of (const char *user)
{
    size_t n = 0;
    for (const char *u = zhashx_first (s_fx.boxes); u; u = zhashx_next (s_fx.boxes))
        n += strcmp (u, user) == 0;
    return n;
}

/* createSandbox as tool-runner answers it, with sandbox-manager's
 * per-user limit (CAISSON_SANDBOX_MAX_PER_USER, default 16): ids are
 * `fx-<n>`, so the orchestrator routes sandbox.destroy to this fixture's
 * sandbox-manager.fx. */
static json_t *
create_sandbox (const char *user)
{
    const char *max_env = getenv ("CAISSON_SANDBOX_MAX_PER_USER");
    size_t max = max_env ? strtoul (max_env, NULL, 10) : 16, mine = boxes_of (user);
    if (mine >= max) {
        char line[256];
        snprintf (line, sizeof line, "too_many_sandboxes %s %zu", user, mine);
        log_line ("sandboxes.log", line);
        return json_pack ("{s:b, s:{s:s, s:s}}", "success", 0, "error", "code",
                          "too_many_sandboxes", "message", "user already has as many "
                          "sandboxes as allowed (CAISSON_SANDBOX_MAX_PER_USER)");
    }
    char id[32];
    snprintf (id, sizeof id, "fx-%u", ++s_fx.made);
    zhashx_insert (s_fx.boxes, id, strdup (user));
    return json_pack ("{s:s}", "sandboxId", id);
}

/* runCommand "bigout N": N bytes of numbered lines on stdout, the last
 * one "bigout-end" (at most 1 MiB). */
static json_t *
big_output (const char *cmd, size_t n)
{
    n = n > (1u << 20) ? 1u << 20 : n < 16 ? 16 : n;
    char *out = malloc (n + 1);
    size_t len = 0;
    for (unsigned line = 1; len + 11 < n; line++)
        len += (size_t) snprintf (out + len, n + 1 - len, "line %u of the big output\n", line);
    len = len + 11 > n ? n - 11 : len;
    snprintf (out + len, n + 1 - len, "bigout-end\n");
    json_t *r = json_pack ("{s:b, s:i, s:s, s:s, s:s, s:i}", "success", 1, "exitCode", 0,
                           "stdout", out, "stderr", "", "command", cmd, "executionTime", 1);
    free (out);
    return r;
}

static json_t *
result_of (const char *name, const json_t *args, const char *user)
{
    const char *cmd = json_string_value (json_object_get (args, "command")) ?: "";
    if (strcmp (name, "createSandbox") == 0)
        return create_sandbox (user);
    if (strcmp (name, "git.openPR") == 0)
        return json_pack ("{s:b, s:s, s:s}", "success", 1, "id", "pr-1", "url", "local:pr-1");
    if (strcmp (name, "runCommand") == 0 && strstr (cmd, "test_reverse_string"))
        return json_pack ("{s:b, s:i, s:s, s:s, s:s, s:i}", "success", 1, "exitCode", 0,
                          "stdout", "", "stderr", "....\n------------------------------------"
                          "----------------------------------\nRan 4 tests in 0.001s\n\nOK\n",
                          "command", cmd, "executionTime", 40);
    if (strcmp (name, "runCommand") == 0 && strncmp (cmd, "bigout ", 7) == 0)
        return big_output (cmd, strtoul (cmd + 7, NULL, 10));
    if (strcmp (name, "runCommand") == 0)
        return json_pack ("{s:b, s:i, s:s, s:s, s:s, s:i}", "success", 1, "exitCode", 0,
                          "stdout", "hi\n", "stderr", "", "command", cmd, "executionTime", 1);
    return json_pack ("{s:b}", "success", 1);
}

static proto_msg_t *
tool_reply (const proto_msg_t *cause, const char *name, const char *call_id, const json_t *args)
{
    json_t *result = result_of (name, args, cause->env.user ? cause->env.user : "");
    proto_msg_t *rep = proto_msg_new (PROTO_tools_result, cause);
    proto_set_str (&rep->body.tools_result.call_id, call_id);
    proto_set_str (&rep->body.tools_result.name, name);
    rep->body.tools_result.ok = !json_is_false (json_object_get (result, "success"));
    rep->body.tools_result.duration_us = 1000;
    mpjson_set (&rep->body.tools_result.result, result, 16);
    json_decref (result);
    return rep;
}

typedef struct {
    bus_pending_t *pending;
    char call_id[256];
} later_t;

static int
answer_later (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    later_t *l = arg;
    proto_msg_t *rep = tool_reply (bus_pending_request (l->pending), "runCommand", l->call_id,
                                   NULL);
    bus_worker_answer (s_fx.tools, &l->pending, rep);
    zlist_remove (s_fx.later, l);
    free (l);
    return 0;
}

static proto_msg_t *
tools_handler (const proto_msg_t *req, void *arg)
{
    (void) arg;
    if (req->type == PROTO_tools_list)
        return catalogue (req);
    if (req->type != PROTO_tools_call)
        return proto_error_new (req, PROTO_ERR_unknown_type, "fixture tool-runner");
    const proto_tools_call_t *b = &req->body.tools_call;
    char why[64];
    json_t *args = b->args.size ? mpjson_decode (b->args.data, b->args.size, 32, why, sizeof why)
                                : json_object ();
    if (b->dry_run) {
        /* a dry run (git.openPR's preview for its approver): logged apart,
         * as "name call_id user run", answered as tool-runner's */
        char line[768];
        snprintf (line, sizeof line, "%s %s %s %s", b->name, b->call_id,
                  req->env.user ? req->env.user : "-", req->env.run ? req->env.run : "-");
        log_line ("previews.log", line);
        json_decref (args);
        /* shaped as a capped preview: the patch's first lines only */
        json_t *preview = json_pack ("{s:b, s:[{s:s, s:i, s:i}], s:[], s:s, s:s, s:s, s:b, s:i}",
                                     "success", 1, "files", "path", "app.py", "added", 1,
                                     "removed", 0, "skipped", "patch",
                                     "--- a/app.py\n+++ b/app.py\n@@ -0,0 +1 @@\n+x\n",
                                     "branch", "caisson/fx", "base", "main", "patchTruncated", 1,
                                     "patchBytes", 700000);
        proto_msg_t *rep = proto_msg_new (PROTO_tools_result, req);
        proto_set_str (&rep->body.tools_result.call_id, b->call_id);
        proto_set_str (&rep->body.tools_result.name, b->name);
        rep->body.tools_result.ok = true;
        mpjson_set (&rep->body.tools_result.result, preview, 16);
        json_decref (preview);
        return rep;
    }
    if (!zhashx_lookup (s_fx.seen, b->call_id)) {
        zhashx_insert (s_fx.seen, b->call_id, (void *) 1);
        char line[512];
        snprintf (line, sizeof line, "%s %s", b->name, b->call_id);
        log_line ("tools.log", line);
    }
    const char *cmd = json_string_value (json_object_get (args, "command")) ?: "";
    if (strncmp (cmd, "sleep", 5) == 0) {
        later_t *l = calloc (1, sizeof *l);
        l->pending = bus_worker_defer (s_fx.tools);
        snprintf (l->call_id, sizeof l->call_id, "%s", b->call_id);
        zloop_timer (s_fx.loop, 30000, 1, answer_later, l);
        zlist_append (s_fx.later, l);
        json_decref (args);
        return BUS_DEFERRED;
    }
    proto_msg_t *rep = tool_reply (req, b->name, b->call_id, args);
    json_decref (args);
    return rep;
}

/* sandbox-manager's sandbox.destroy: the owner's (or an operator's) only;
 * another's or a gone sandbox is not_found. */
static proto_msg_t *
sandboxes_handler (const proto_msg_t *req, void *arg)
{
    (void) arg;
    if (req->type != PROTO_sandbox_destroy)
        return proto_error_new (req, PROTO_ERR_unknown_type, "fixture sandbox-manager");
    const char *id = req->body.sandbox_destroy.sandbox_id;
    const char *owner = zhashx_lookup (s_fx.boxes, id);
    if (!owner || (!req->env.op && strcmp (owner, req->env.user ? req->env.user : "")))
        return proto_error_new (req, PROTO_ERR_not_found, "sandboxId: no sandbox %s", id);
    char line[256];
    snprintf (line, sizeof line, "destroyed %s", id);
    log_line ("sandboxes.log", line);
    zhashx_delete (s_fx.boxes, id);
    proto_msg_t *rep = proto_msg_new (PROTO_sandbox_info, req);
    proto_set_str (&rep->body.sandbox_info.sandbox_id, id);
    proto_set_str (&rep->body.sandbox_info.status, "destroyed");
    proto_set_str (&rep->body.sandbox_info.workspace, "/workspace");
    return rep;
}

static proto_msg_t *
events_handler (const proto_msg_t *req, void *arg)
{
    (void) arg;
    if (req->type != PROTO_event_append)
        return proto_error_new (req, PROTO_ERR_unknown_type, "fixture event-log");
    const char *run = req->env.run ? req->env.run : "none";
    char file[256];
    snprintf (file, sizeof file, "events-%s.log", run);
    log_line (file, req->body.event_append.kind);
    json_t *data = mpjson_get (&req->body.event_append.data, 64);
    /* the stored transcript: every event whole, one JSON line each */
    json_t *line = json_pack ("{s:s, s:O?}", "kind", req->body.event_append.kind, "data", data);
    char *text = line ? json_dumps (line, JSON_COMPACT) : NULL;
    snprintf (file, sizeof file, "events-%s.jsonl", run);
    if (text)
        log_line (file, text);
    free (text);
    json_decref (line);
    char why[512];
    if (evk_check (req->body.event_append.kind, data, why, sizeof why))
        log_line ("drift.log", why);
    json_decref (data);
    proto_msg_t *ev = proto_msg_new (PROTO_event, req);
    proto_set_str (&ev->body.event.kind, req->body.event_append.kind);
    proto_set_bytes (&ev->body.event.data, req->body.event_append.data.data,
                     req->body.event_append.data.size);
    ev->body.event.seq = ++s_fx.seq;
    char topic[256];
    snprintf (topic, sizeof topic, "run.%s.%s", run, req->body.event_append.kind);
    bus_pub_send (s_fx.pub, topic, ev);
    proto_msg_destroy (&ev);
    proto_msg_t *rep = proto_msg_new (PROTO_event_ack, req);
    rep->body.event_ack.seq = s_fx.seq;
    rep->body.event_ack.run_seq = s_fx.seq;
    return rep;
}

int
orch_fixture_main (void)
{
    zsys_init ();
    zsys_set_logstream (NULL);
    s_fx.loop = zloop_new ();
    s_fx.seen = zhashx_new ();
    s_fx.boxes = zhashx_new ();
    zhashx_set_destructor (s_fx.boxes, (zhashx_destructor_fn *) zstr_free);
    s_fx.later = zlist_new ();
    s_fx.pub = bus_pub_new (getenv ("CAISSON_BUS_PUB"));
    s_fx.tools = bus_worker_new (getenv ("CAISSON_BUS"), "tool-runner", "fixture", "test",
                                 tools_handler, NULL);
    s_fx.events = bus_worker_new (getenv ("CAISSON_BUS"), "event-log", "fixture", "test",
                                  events_handler, NULL);
    s_fx.sandboxes = bus_worker_new (getenv ("CAISSON_BUS"), "sandbox-manager", "fx", "test",
                                     sandboxes_handler, NULL);
    if (!s_fx.tools || !s_fx.events || !s_fx.sandboxes
        || bus_worker_start (s_fx.tools, s_fx.loop) || bus_worker_start (s_fx.events, s_fx.loop)
        || bus_worker_start (s_fx.sandboxes, s_fx.loop))
        return 1;
    zloop_start (s_fx.loop);
    bus_worker_destroy (&s_fx.tools);
    bus_worker_destroy (&s_fx.events);
    bus_worker_destroy (&s_fx.sandboxes);
    zhashx_destroy (&s_fx.boxes);
    bus_pub_destroy (&s_fx.pub);
    zhashx_destroy (&s_fx.seen);
    for (later_t *l = zlist_first (s_fx.later); l; l = zlist_next (s_fx.later))
        free (l);
    zlist_destroy (&s_fx.later);
    zloop_destroy (&s_fx.loop);
    return 0;
}
