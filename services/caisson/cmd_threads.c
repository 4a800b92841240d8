/* cmd_threads: conversation threads from the command line. `threads`
 * lists the user's (--user) threads, latest activity first; `thread show`
 * prints one as a conversation (each run's task, turns, and how it
 * ended); `thread rename` titles it; `thread rm` deletes it with its
 * runs, after a y/N question unless --yes; `thread new` makes an empty
 * one to pass to `caisson run --thread`. All of it is event-log's
 * (`threads.list`, `thread.*`). */
#include "cmd_threads.h"
#include "bus_client.h"
#include "cliask.h"
#include "cfg.h"
#include "mpjson.h"
#include "stack.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DELETE_TIMEOUT_MS 30000

static const char *s_usage =
    "usage: caisson threads [--json] [--limit N] [--before NEXT]\n"
    "       caisson thread new [TITLE] [--json]\n"
    "       caisson thread show ID [--json]\n"
    "       caisson thread rename ID TITLE\n"
    "       caisson thread rm ID [--yes]\n";

typedef struct {
    const char *command, *sub;
    const char *args[2];
    int nargs;
    const char *before;
    uint64_t limit;
    bool json, yes;
    char data[PATH_MAX];
    bus_client_t *client;
} opts_t;

bool
cmd_threads_is (const char *command)
{
    return !strcmp (command, "threads") || !strcmp (command, "thread");
}

static int
parse (int argc, char **argv, opts_t *o)
{
    o->command = argv[1];
    const char *data = cfg_str ("CAISSON_DATA");
    int i = 2;
    if (!strcmp (o->command, "thread")) {
        if (argc < 3)
            return -1;
        o->sub = argv[i++];
    }
    for (; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (!strcmp (a, "--data") && more)
            data = argv[++i];
        else if (!strcmp (a, "--json"))
            o->json = true;
        else if (!strcmp (a, "--yes") || !strcmp (a, "-y"))
            o->yes = true;
        else if (!strcmp (a, "--before") && more)
            o->before = argv[++i];
        else if (!strcmp (a, "--limit") && more)
            o->limit = strtoull (argv[++i], NULL, 10);
        else if (a[0] != '-' && o->nargs < 2)
            o->args[o->nargs++] = a;
        else {
            fprintf (stderr, "caisson: unexpected argument '%s'\n", a);
            return -1;
        }
    }
    return stack_prepare (data, o->data, sizeof o->data);
}

/* Sends req (taken) to event-log; the declared reply, or NULL with the
 * error printed. */
static proto_msg_t *
ask (opts_t *o, proto_msg_t *req)
{
    return cliask (o->client, "event-log", req);
}

static void
print_json (const json_t *v)
{
    char *s = json_dumps (v, JSON_COMPACT | JSON_ENCODE_ANY);
    printf ("%s\n", s ? s : "null");
    free (s);
}

static const char *
str_of (const json_t *j, const char *key)
{
    return json_string_value (json_object_get (j, key));
}

/* A time in microseconds since the epoch as local `YYYY-MM-DD HH:MM`. */
static const char *
when (const json_t *us, char *out, size_t len)
{
    time_t t = (time_t) (json_integer_value (us) / 1000000);
    struct tm tm;
    if (!json_integer_value (us) || !localtime_r (&t, &tm)
        || !strftime (out, len, "%Y-%m-%d %H:%M", &tm))
        snprintf (out, len, "-");
    return out;
}

static int
cmd_list (opts_t *o)
{
    proto_msg_t *req = proto_msg_new (PROTO_threads_list, NULL);
    proto_set_str (&req->body.threads_list.before, o->before);
    req->body.threads_list.limit = o->limit;
    proto_msg_t *rep = ask (o, req);
    if (!rep)
        return 1;
    json_t *threads = mpjson_get (&rep->body.threads_page.threads, 16), *t;
    size_t i;
    if (o->json)
        print_json (threads);
    else {
        printf ("%-26s  %-16s  %4s  %-12s  %s\n", "THREAD", "LAST ACTIVITY", "RUNS", "LAST STATUS",
                "TITLE");
        char at[32];
        json_array_foreach (threads, i, t)
            printf ("%-26s  %-16s  %4lld  %-12s  %s\n", str_of (t, "thread"),
                    when (json_object_get (t, "lastActivity"), at, sizeof at),
                    (long long) json_integer_value (json_object_get (t, "runs")),
                    str_of (t, "lastStatus") ?: "-", str_of (t, "title") ?: "");
        if (rep->body.threads_page.next)
            printf ("more: caisson threads --before %s\n", rep->body.threads_page.next);
    }
    json_decref (threads);
    proto_msg_destroy (&rep);
    return 0;
}

static void
print_run (const json_t *run)
{
    char at[32];
    printf ("\n## %s  %s  %s\n", when (json_object_get (run, "started"), at, sizeof at),
            str_of (run, "run"), str_of (run, "status") ?: "");
    printf ("> %s\n", str_of (run, "task") ?: "");
    size_t i;
    json_t *turn;
    json_array_foreach (json_object_get (run, "turns"), i, turn) {
        const char *kind = str_of (turn, "kind") ?: "";
        if (!strcmp (kind, "text"))
            printf ("%s\n", str_of (turn, "text") ?: "");
        else if (!strcmp (kind, "tool_call"))
            printf ("-> %s\n", str_of (turn, "name") ?: "");
        else
            printf ("   %s %s\n", json_is_true (json_object_get (turn, "ok")) ? "ok" : "failed",
                    str_of (turn, "name") ?: "");
    }
    if (strcmp (str_of (run, "status") ?: "", "completed"))
        printf ("[%s%s%s]\n", str_of (run, "status") ?: "", str_of (run, "failure") ? ": " : "",
                str_of (run, "failure") ?: "");
}

static int
cmd_show (opts_t *o)
{
    proto_msg_t *req = proto_msg_new (PROTO_thread_get, NULL);
    proto_set_str (&req->body.thread_get.thread_id, o->args[0]);
    proto_msg_t *rep = ask (o, req);
    if (!rep)
        return 1;
    json_t *t = mpjson_get (&rep->body.thread_convo.thread, 8);
    json_t *runs = mpjson_get (&rep->body.thread_convo.runs, 16), *run;
    if (o->json) {
        json_t *all = json_pack ("{s:O, s:O, s:b}", "thread", t, "runs", runs, "truncated",
                                 rep->body.thread_convo.truncated);
        print_json (all);
        json_decref (all);
    }
    else {
        printf ("# %s (%s)\n", str_of (t, "title") ?: "", str_of (t, "thread"));
        size_t i;
        json_array_foreach (runs, i, run)
            print_run (run);
        if (rep->body.thread_convo.truncated)
            printf ("\n[some turns were left out: the thread is larger than one reply]\n");
    }
    json_decref (t);
    json_decref (runs);
    proto_msg_destroy (&rep);
    return 0;
}

static int
cmd_edit (opts_t *o, proto_type_t type)
{
    proto_msg_t *req = proto_msg_new (type, NULL);
    if (type == PROTO_thread_rename) {
        proto_set_str (&req->body.thread_rename.thread_id, o->args[0]);
        proto_set_str (&req->body.thread_rename.title, o->args[1]);
    }
    else
        proto_set_str (&req->body.thread_create.title, o->args[0]);
    proto_msg_t *rep = ask (o, req);
    if (!rep)
        return 1;
    json_t *t = mpjson_get (&rep->body.thread_info.thread, 8);
    if (o->json)
        print_json (t);
    else
        printf ("%s  %s\n", str_of (t, "thread"), str_of (t, "title") ?: "");
    json_decref (t);
    proto_msg_destroy (&rep);
    return 0;
}

static int
cmd_rm (opts_t *o)
{
    const char *id = o->args[0];
    if (!o->yes) {
        fprintf (stderr, "Delete thread %s with its runs, transcripts and artifacts? [y/N] ", id);
        char line[16] = "";
        if (!fgets (line, sizeof line, stdin) || (line[0] != 'y' && line[0] != 'Y')) {
            fprintf (stderr, "caisson: not deleted\n");
            return 1;
        }
    }
    proto_msg_t *req = proto_msg_new (PROTO_thread_delete, NULL);
    proto_set_str (&req->body.thread_delete.thread_id, id);
    bus_client_set_timeout (o->client, DELETE_TIMEOUT_MS, 1);
    proto_msg_t *rep = ask (o, req);
    if (!rep)
        return 1;
    printf ("deleted thread %s and %llu runs\n", id,
            (unsigned long long) rep->body.thread_deleted.runs);
    proto_msg_destroy (&rep);
    return 0;
}

int
cmd_threads_main (int argc, char **argv)
{
    opts_t o = { 0 };
    if (parse (argc, argv, &o)) {
        fputs (s_usage, stderr);
        return 2;
    }
    const char *sub = o.sub ? o.sub : "";
    int need = !o.sub ? 0 : !strcmp (sub, "new") ? 0 : !strcmp (sub, "rename") ? 2 : 1;
    bool known = !o.sub || !strcmp (sub, "new") || !strcmp (sub, "show")
              || !strcmp (sub, "rename") || !strcmp (sub, "rm");
    if (!known || o.nargs < need || (o.sub && strcmp (sub, "new") && o.nargs > need)) {
        fputs (s_usage, stderr);
        return 2;
    }
    stack_load_endpoints (o.data);
    o.client = bus_client_new (cfg_str ("CAISSON_BUS"));
    if (!o.client)
        return 1;
    int status = !o.sub ? cmd_list (&o)
               : !strcmp (sub, "show") ? cmd_show (&o)
               : !strcmp (sub, "rm") ? cmd_rm (&o)
               : cmd_edit (&o, !strcmp (sub, "new") ? PROTO_thread_create : PROTO_thread_rename);
    bus_client_destroy (&o.client);
    return status;
}
