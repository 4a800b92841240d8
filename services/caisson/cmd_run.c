/* cmd_run: see cmd_run.h. `run` subscribes to `run.` before starting the
 * run (so no early event is missed), then shows the run as runview
 * renders it: its stored events in order, each once (model text as a
 * provisional tail on a terminal), a spinner while waiting. With --json
 * each event is a line as it arrives. A gated call is asked about on a
 * terminal, else the command says how to answer it. run.get is polled
 * once a second as well, so the command ends even when no event reaches
 * it. */
#include "cmd_run.h"
#include "bus_client.h"
#include "cliask.h"
#include "bus_pub.h"
#include "bus_tap.h"
#include "cfg.h"
#include "evkind.h"
#include "mpjson.h"
#include "runroute.h"
#include "runview.h"
#include "stack.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *command, *task, *model, *profile, *thread, *reason, *run, *call;
    const char *data;
    bool json;
} opts_t;

bool
cmd_run_handles (const char *command)
{
    return !strcmp (command, "run") || !strcmp (command, "approve") || !strcmp (command, "decline");
}

static int
parse (int argc, char **argv, opts_t *o)
{
    o->command = argv[1];
    o->data = cfg_str ("CAISSON_DATA");
    const char **positional[] = { NULL, NULL };
    if (!strcmp (o->command, "run"))
        positional[0] = &o->task;
    else {
        positional[0] = &o->run;
        positional[1] = &o->call;
    }
    size_t np = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (!strcmp (a, "--model") && more)
            o->model = argv[++i];
        else if (!strcmp (a, "--profile") && more)
            o->profile = argv[++i];
        else if (!strcmp (a, "--thread") && more)
            o->thread = argv[++i];
        else if (!strcmp (a, "--reason") && more)
            o->reason = argv[++i];
        else if (!strcmp (a, "--data") && more)
            o->data = argv[++i];
        else if (!strcmp (a, "--json"))
            o->json = true;
        else if (a[0] != '-' && np < 2 && positional[np])
            *positional[np++] = a;
        else {
            fprintf (stderr, "caisson: unexpected argument '%s'\n", a);
            return -1;
        }
    }
    if (!strcmp (o->command, "run") ? !o->task : !o->run || !o->call) {
        fprintf (stderr, "usage: caisson run [--model M] [--profile NAME[@V]] [--thread T] [--json] "
                         "\"task\"\n"
                         "       caisson approve|decline RUN CALL [--reason R]\n");
        return -1;
    }
    return 0;
}

/* The address of run's orchestrator. Once event-log names the owner it
 * cannot change, so it is asked for only until then, not at every poll. */
static const char *
owner_of (bus_client_t *c, const char *run)
{
    static char owner[96], of[128];
    static bool known;
    if (!known || strcmp (of, run)) {
        snprintf (of, sizeof of, "%s", run);
        known = runroute_service (c, run, owner, sizeof owner) == 0;
    }
    return owner;
}

static proto_msg_t *
decide (bus_client_t *c, const char *run, const char *call, bool approve, const char *reason)
{
    proto_msg_t *req = proto_msg_new (approve ? PROTO_run_approve : PROTO_run_decline, NULL);
    proto_set_str (&req->body.run_approve.run_id, run);
    proto_set_str (&req->body.run_approve.tool_call_id, call);
    proto_set_str (&req->body.run_approve.reason, reason);
    proto_msg_t *rep = bus_client_request (c, owner_of (c, run), req);
    proto_msg_destroy (&req);
    return rep;
}

static int
report_error (const proto_msg_t *rep)
{
    return cliask_report ("the orchestrator", rep);
}

/* Prints at most max bytes of a JSON value. */
static void
print_json (FILE *f, const json_t *v, size_t max)
{
    char *s = json_dumps (v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s && strlen (s) > max)
        fprintf (f, "%.*s...", (int) max, s);
    else
        fprintf (f, "%s", s ? s : "null");
    free (s);
}

/* The change an approval would make, when its event carries the dry
 * run's preview (git.openPR): files with counts, what was left out, the
 * patch, and whether the patch shown is only its first lines. */
static void
print_change (const json_t *data)
{
    json_t *files = json_object_get (data, "files"), *f, *err;
    size_t i;
    if (json_array_size (files))
        printf ("\n  %zu file(s) changed:", json_array_size (files));
    json_array_foreach (files, i, f)
        printf ("\n    %s +%lld -%lld", json_string_value (json_object_get (f, "path")) ?: "",
                (long long) json_integer_value (json_object_get (f, "added")),
                (long long) json_integer_value (json_object_get (f, "removed")));
    json_array_foreach (json_object_get (data, "skipped"), i, f)
        printf ("%s%s", i ? ", " : "\n  left out: ", json_string_value (f) ?: "");
    if ((err = json_object_get (data, "previewError")))
        printf ("\n  no preview: %s", json_string_value (json_object_get (err, "message")) ?: "");
    const char *patch = json_string_value (json_object_get (data, "patch"));
    if (patch && *patch)
        printf ("\n%s%s", patch, patch[strlen (patch) - 1] == '\n' ? "" : "\n");
    if (json_is_true (json_object_get (data, "patchTruncated")))
        printf ("  [patch cut: the first %zu of %lld bytes shown]", patch ? strlen (patch) : 0,
                (long long) json_integer_value (json_object_get (data, "patchBytes")));
}

static void
ask_human (bus_client_t *c, const char *run, const json_t *data)
{
    const char *call = json_string_value (json_object_get (data, "toolCallId")) ?: "";
    printf ("\n? approval needed: %s ", json_string_value (json_object_get (data, "name")) ?: "");
    print_json (stdout, json_object_get (data, "args"), 2000);
    print_change (data);
    if (!isatty (STDIN_FILENO)) {
        printf ("\n  answer with: caisson approve %s %s\n"
                "           or: caisson decline %s %s --reason \"...\"\n", run, call, run, call);
        fflush (stdout);
        return;
    }
    printf ("\n  approve? [y/N] ");
    fflush (stdout);
    char line[512] = "", reason[512] = "";
    if (!fgets (line, sizeof line, stdin))
        line[0] = '\0';
    bool yes = line[0] == 'y' || line[0] == 'Y';
    if (!yes) {
        printf ("  reason (optional): ");
        fflush (stdout);
        if (fgets (reason, sizeof reason, stdin))
            reason[strcspn (reason, "\n")] = '\0';
    }
    proto_msg_t *rep = decide (c, run, call, yes, reason[0] ? reason : NULL);
    report_error (rep);
    proto_msg_destroy (&rep);
}

typedef struct {
    bus_client_t *c;
    const char *run;
} asker_t;

static void
ask_stored (void *arg, const json_t *data)
{
    asker_t *a = arg;
    ask_human (a->c, a->run, data);
}

/* Shows one event (--json: as a line, as it came; else through the
 * view); returns the exit status when the run ended, else -1. */
static int
show (const opts_t *o, runview_t *view, const char *run, const proto_event_t *e,
      const json_t *data)
{
    if (!o->json)
        return runview_event (view, e->kind, data, e->run_seq);
    json_t *line = json_pack ("{s:s, s:s, s:O?}", "run", run, "kind", e->kind, "data", data);
    print_json (stdout, line, 1u << 30);
    printf ("\n");
    fflush (stdout);
    json_decref (line);
    evk_kind_t k = evk_lookup (e->kind);
    return k == EVK_complete ? 0 : k == EVK_failed ? 1 : -1;
}

/* The run's status through run.get: the exit status once it ended, else
 * -1. An ended run's last stored events are read back and shown first. */
static int
poll_status (bus_client_t *c, const opts_t *o, runview_t *view, const char *run)
{
    proto_msg_t *req = proto_msg_new (PROTO_run_get, NULL);
    proto_set_str (&req->body.run_get.run_id, run);
    proto_msg_t *rep = bus_client_request (c, owner_of (c, run), req);
    proto_msg_destroy (&req);
    int rc = -1;
    if (rep && rep->type != PROTO_error) {
        const proto_run_info_t *b = &rep->body.run_info;
        proto_run_status_t st = proto_run_status_lookup (b->status);
        bool ended = st == PROTO_RUN_STATUS_COUNT || !proto_run_status_live (st);
        if (ended && !o->json && (rc = runview_catch_up (view)) >= 0)
            ;                   /* shown as stored */
        else if (st == PROTO_RUN_completed) {
            if (!o->json && b->answer)
                printf ("%s\n", b->answer);
            rc = 0;
        }
        else if (ended) {
            fprintf (stderr, "caisson: run %s %s: %s\n", run, b->status, b->reason ?: "");
            rc = 1;
        }
    }
    proto_msg_destroy (&rep);
    return rc;
}

/* Waits (at most 2 s) until the tap's subscription has reached the event
 * proxy, by publishing probes until one comes back: a subscription takes
 * a moment to propagate, and the run's first events must not be missed. */
static void
await_subscription (bus_tap_t *tap)
{
    bus_pub_t *pub = bus_pub_new (cfg_str ("CAISSON_BUS_PUB"));
    char topic[64], got[256];
    snprintf (topic, sizeof topic, "run.-probe-%d.probe", (int) getpid ());
    for (int i = 0; pub && i < 40; i++) {
        proto_msg_t *probe = proto_msg_new (PROTO_event, NULL);
        proto_set_str (&probe->body.event.kind, evk_name (EVK_probe));
        bus_pub_send (pub, topic, probe);
        proto_msg_destroy (&probe);
        proto_msg_t *m;
        bool seen = false;
        while (!seen && (m = bus_tap_recv (tap, got, sizeof got, 50, NULL))) {
            seen = strcmp (got, topic) == 0;
            proto_msg_destroy (&m);
        }
        if (seen)
            break;
    }
    bus_pub_destroy (&pub);
}

static int
run (bus_client_t *c, const opts_t *o)
{
    bus_tap_t *tap = bus_tap_new (cfg_str ("CAISSON_BUS_SUB"), "run.");
    if (tap)
        await_subscription (tap);
    proto_msg_t *req = proto_msg_new (PROTO_run_start, NULL);
    proto_set_str (&req->body.run_start.task, o->task);
    proto_set_str (&req->body.run_start.model, o->model);
    proto_set_str (&req->body.run_start.profile, o->profile);
    proto_set_str (&req->body.run_start.thread_id, o->thread);
    /* to the instance holding the thread's conversation, while it is up */
    char service[160];
    runroute_thread (c, NULL, o->thread, service, sizeof service);
    proto_msg_t *rep = bus_client_request (c, service, req);
    proto_msg_destroy (&req);
    if (!tap || report_error (rep)) {
        proto_msg_destroy (&rep);
        bus_tap_destroy (&tap);
        return 1;
    }
    char id[128], prefix[160];
    snprintf (id, sizeof id, "%s", rep->body.run_started.run_id);
    snprintf (prefix, sizeof prefix, "run.%s.", id);
    if (!o->json)
        fprintf (stderr, "caisson: run %s (model %s, profile %s, thread %s)\n", id,
                 rep->body.run_started.model, rep->body.run_started.profile
                 ? rep->body.run_started.profile : "builtin", rep->body.run_started.thread_id);
    proto_msg_destroy (&rep);
    int status = -1, spin = 0;
    int64_t next_poll = zclock_mono () + 1000;
    bool tty = isatty (STDERR_FILENO) && !o->json;
    asker_t asker = { c, id };
    runview_t *view = runview_new (c, id, tty, ask_stored, &asker);
    while (status < 0 && !zsys_interrupted) {
        char topic[256];
        proto_err_t err;
        proto_msg_t *ev = bus_tap_recv (tap, topic, sizeof topic, 200, &err);
        if (ev && ev->type == PROTO_event && !strncmp (topic, prefix, strlen (prefix))) {
            json_t *data = mpjson_get (&ev->body.event.data, 64);
            status = show (o, view, id, &ev->body.event, data);
            json_decref (data);
        }
        else if (!ev && tty)
            fprintf (stderr, "%c\b", "|/-\\"[spin++ % 4]);
        proto_msg_destroy (&ev);
        if (status < 0 && zclock_mono () >= next_poll) {
            status = poll_status (c, o, view, id);
            next_poll = zclock_mono () + 1000;
        }
    }
    runview_destroy (&view);
    bus_tap_destroy (&tap);
    return status < 0 ? 130 : status;
}

int
cmd_run_main (int argc, char **argv)
{
    opts_t o = { 0 };
    if (parse (argc, argv, &o))
        return 2;
    char data[4096];
    if (stack_prepare (o.data, data, sizeof data) == 0)
        stack_load_endpoints (data);
    bus_client_t *c = bus_client_new (cfg_str ("CAISSON_BUS"));
    if (!c)
        return 1;
    bus_client_set_timeout (c, 2000, 2);
    int rc;
    if (!strcmp (o.command, "run"))
        rc = run (c, &o);
    else {
        proto_msg_t *rep = decide (c, o.run, o.call, !strcmp (o.command, "approve"), o.reason);
        rc = report_error (rep);
        if (!rc)
            printf ("caisson: run %s is %s\n", o.run, rep->body.run_info.status);
        proto_msg_destroy (&rep);
    }
    bus_client_destroy (&c);
    return rc;
}
