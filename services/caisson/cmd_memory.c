/* cmd_memory: the working memory from the command line (see
 * cmd_memory.h).
 *
 *   caisson memory show [--thread T] [--json]   print it (Markdown)
 *   caisson memory set [--thread T] TEXT|-      make TEXT (or stdin) the document
 *   caisson memory edit [--thread T]            edit it in $EDITOR (else vi)
 *   caisson memory clear [--thread T]           empty it
 *
 * set and edit are checked against the version read first: a change made
 * meanwhile (by the agent, or in the web UI) is not overwritten; the
 * command says so and exits 1. */
#define _GNU_SOURCE /* asprintf, mkstemps */
#include "cmd_memory.h"
#include "bus_client.h"
#include "cfg.h"
#include "mpjson.h"
#include "stack.h"
#include "xalloc.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define USAGE "usage: caisson memory show|edit|set|clear [--thread T] [--json] " \
              "[--data DIR] [TEXT|-]"
#define MAX_READ (1u << 20)

typedef struct {
    const char *command, *thread, *text;
    bool json;
    char data[PATH_MAX];
    bus_client_t *client;
} opts_t;

static int
parse (int argc, char **argv, opts_t *o)
{
    const char *data = cfg_str ("CAISSON_DATA");
    o->command = argc > 2 ? argv[2] : "";
    for (int i = 3; i < argc; i++) {
        bool more = i + 1 < argc;
        if (!strcmp (argv[i], "--data") && more)
            data = argv[++i];
        else if (!strcmp (argv[i], "--thread") && more)
            o->thread = argv[++i];
        else if (!strcmp (argv[i], "--json"))
            o->json = true;
        else if (!o->text && strncmp (argv[i], "--", 2))     /* Markdown may start "- " */
            o->text = argv[i];
        else {
            fprintf (stderr, "caisson: unexpected argument '%s'\n%s\n", argv[i], USAGE);
            return -1;
        }
    }
    if (strcmp (o->command, "show") && strcmp (o->command, "edit") && strcmp (o->command, "set")
        && strcmp (o->command, "clear")) {
        fprintf (stderr, "%s\n", USAGE);
        return -1;
    }
    if (!strcmp (o->command, "set") != !!o->text) {
        fprintf (stderr, "caisson: `memory set` takes the text (or - for stdin); the others "
                 "take none\n%s\n", USAGE);
        return -1;
    }
    return stack_prepare (data, o->data, sizeof o->data);
}

/* event-log's answer to req (consumed): the `memory` reply, or NULL with
 * the reason on stderr. */
static proto_msg_t *
ask (opts_t *o, proto_msg_t *req)
{
    proto_msg_t *rep = bus_client_request (o->client, "event-log", req);
    proto_msg_destroy (&req);
    if (rep && rep->type == PROTO_memory)
        return rep;
    fprintf (stderr, "caisson: %s\n", !rep ? "event-log did not answer"
             : rep->type == PROTO_error ? rep->body.error.message : "unexpected answer");
    proto_msg_destroy (&rep);
    return NULL;
}

static proto_msg_t *
get (opts_t *o)
{
    proto_msg_t *req = proto_msg_new (PROTO_memory_get, NULL);
    proto_set_str (&req->body.memory_get.thread, o->thread);
    return ask (o, req);
}

/* Replaces the document with text, based on version. */
static proto_msg_t *
put (opts_t *o, const char *text, uint64_t version, bool any)
{
    proto_msg_t *req = proto_msg_new (PROTO_memory_put, NULL);
    proto_memory_put_t *b = &req->body.memory_put;
    proto_set_str (&b->thread, o->thread);
    proto_set_str (&b->content, text);
    proto_set_str (&b->by, "user");
    b->version = version;
    b->any_version = any;
    return ask (o, req);
}

static void
print (opts_t *o, const proto_msg_t *rep)
{
    const proto_memory_t *m = &rep->body.memory;
    if (o->json) {
        json_t *j = json_pack ("{s:s, s:I, s:I, s:I, s:s, s:s?, s:I, s:s?}", "content",
                               m->content, "version", (json_int_t) m->version, "bytes",
                               (json_int_t) m->bytes, "max", (json_int_t) m->max, "scope",
                               m->scope, "thread", m->thread, "updated", (json_int_t) m->updated,
                               "by", m->by);
        char *s = json_dumps (j, JSON_COMPACT);
        printf ("%s\n", s);
        free (s);
        json_decref (j);
    }
    else if (!strcmp (o->command, "show"))
        fputs (m->content, stdout);
    else
        printf ("working memory: version %llu, %llu of %llu bytes\n",
                (unsigned long long) m->version, (unsigned long long) m->bytes,
                (unsigned long long) m->max);
}

/* The whole of f (at most MAX_READ bytes), new; NULL when longer. */
static char *
slurp (FILE *f)
{
    char *buf = xmalloc (MAX_READ + 1);
    size_t n = fread (buf, 1, MAX_READ + 1, f);
    if (n > MAX_READ) {
        free (buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* The document after the person edited content in $EDITOR, new, or NULL. */
static char *
edited (const char *content)
{
    char path[] = "/tmp/caisson-memory-XXXXXX.md";
    int fd = mkstemps (path, 3);
    FILE *f = fd >= 0 ? fdopen (fd, "w") : NULL;
    if (!f || fputs (content, f) < 0 || fclose (f)) {
        fprintf (stderr, "caisson: cannot write %s\n", path);
        return NULL;
    }
    const char *editor = getenv ("VISUAL") ?: getenv ("EDITOR") ?: "vi";
    char *cmd = NULL;
    char *text = NULL;
    /* the editor is the person's own choice, run as it would be by git */
    if (asprintf (&cmd, "%s '%s'", editor, path) >= 0 && system (cmd) == 0
        && (f = fopen (path, "r"))) {
        text = slurp (f);
        fclose (f);
        if (!text)
            fprintf (stderr, "caisson: the edited file is over %u bytes\n", MAX_READ);
    }
    else
        fprintf (stderr, "caisson: the editor (%s) failed; the document is unchanged\n", editor);
    free (cmd);
    unlink (path);
    return text;
}

static int
run (opts_t *o)
{
    proto_msg_t *cur = get (o), *rep = NULL;
    if (!cur)
        return 1;
    uint64_t version = cur->body.memory.version;
    if (!strcmp (o->command, "show")) {
        print (o, cur);
        proto_msg_destroy (&cur);
        return 0;
    }
    char *text = NULL;
    if (!strcmp (o->command, "clear"))
        text = xstrdup ("");
    else if (!strcmp (o->command, "edit"))
        text = edited (cur->body.memory.content);
    else if (strcmp (o->text, "-"))
        text = xstrdup (o->text);
    else if (!(text = slurp (stdin)))
        fprintf (stderr, "caisson: stdin is over %u bytes\n", MAX_READ);
    int status = 1;
    if (text && !strcmp (o->command, "edit") && !strcmp (text, cur->body.memory.content)) {
        printf ("working memory unchanged (version %llu)\n", (unsigned long long) version);
        status = 0;
    }
    else if (text && (rep = put (o, text, version, !strcmp (o->command, "clear")))) {
        print (o, rep);
        status = 0;
    }
    free (text);
    proto_msg_destroy (&cur);
    proto_msg_destroy (&rep);
    return status;
}

int
cmd_memory_main (int argc, char **argv)
{
    opts_t o = { 0 };
    if (parse (argc, argv, &o))
        return 2;
    stack_load_endpoints (o.data);
    o.client = bus_client_new (cfg_str ("CAISSON_BUS"));
    if (!o.client)
        return 1;
    int status = run (&o);
    bus_client_destroy (&o.client);
    return status;
}
