/* oracle: eval modes of the scripted model (see oracle.h). The oracle's
 * script for a task is a list of steps, one per turn: createSandbox when
 * the prompt names no sandbox, repo.clone when it names a repository,
 * writeFiles of the reference solution (at most 256 files a call, the
 * tool's limit), git.openPR for a pull-request task, then "Done.". */
#define _GNU_SOURCE
#include "oracle.h"
#include "evalset.h"
#include "sandbox_id.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SETS_MAX 32
#define PLAN_MAX (1u << 20)
#define WRITE_FILES_MAX 256     /* writeFiles' files: maxItems */
#define SUMMARY_MARK "<caisson-summary turns=\""

struct oracle_t {
    evalset_t *sets[SETS_MAX];
    size_t nsets;
    json_t *plan;               /* {id: "behaviour[:seconds]"} */
};

static const char *const names[] = { "oracle", "giveup", "wrong", "toolerror", "loop", "error",
                                     "refuse", "hang" };

oracle_t *
oracle_new (void)
{
    oracle_t *self = calloc (1, sizeof *self);
    if (self)
        self->plan = json_object ();
    return self;
}

void
oracle_destroy (oracle_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    oracle_t *self = *self_p;
    for (size_t i = 0; i < self->nsets; i++)
        evalset_destroy (&self->sets[i]);
    json_decref (self->plan);
    free (self);
    *self_p = NULL;
}

int
oracle_add_set (oracle_t *self, const char *dir, char *why, size_t n)
{
    if (self->nsets == SETS_MAX) {
        snprintf (why, n, "%s: more than %d eval sets", dir, SETS_MAX);
        return -1;
    }
    evalset_t *s = evalset_load (dir, why, n);
    if (!s)
        return -1;
    self->sets[self->nsets++] = s;
    return 0;
}

size_t
oracle_size (const oracle_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->nsets; i++)
        n += evalset_size (self->sets[i]);
    return n;
}

/* The behaviour text names (and its delay for hang), or -1. */
static int
parse_behaviour (const char *text, unsigned *hang_s)
{
    *hang_s = ORACLE_HANG_S;
    if (strncmp (text, "hang:", 5) == 0) {
        char *end;
        unsigned long s = strtoul (text + 5, &end, 10);
        if (end == text + 5 || *end || s > 86400)
            return -1;
        *hang_s = (unsigned) s;
        return ORACLE_HANG;
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp (text, names[i]) == 0)
            return (int) i;
    return -1;
}

static bool
known_task (const oracle_t *self, const char *id)
{
    for (size_t i = 0; i < self->nsets; i++)
        if (evalset_find (self->sets[i], id))
            return true;
    return false;
}

/* The plan in file, which must be a regular file of at most PLAN_MAX
 * bytes (a FIFO or a device given by mistake is refused, not waited on);
 * NULL with why. */
static json_t *
read_plan (const char *file, char *why, size_t n)
{
    int fd = open (file, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat (fd, &st) || !S_ISREG (st.st_mode) || st.st_size > PLAN_MAX) {
        snprintf (why, n, "%s: %s", file, fd < 0 ? strerror (errno)
                  : !S_ISREG (st.st_mode) ? "not a regular file" : "larger than 1 MiB");
        if (fd >= 0)
            close (fd);
        return NULL;
    }
    /* to the cap plus one, not to st_size: the file may grow meanwhile */
    char *text = malloc (PLAN_MAX + 1);
    size_t len = 0;
    ssize_t k = 0;
    while (text && len <= PLAN_MAX && (k = read (fd, text + len, PLAN_MAX + 1 - len)) > 0)
        len += (size_t) k;
    close (fd);
    json_error_t jerr;
    json_t *plan = text && k >= 0 && len <= PLAN_MAX
                 ? json_loadb (text, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!plan && (!text || k < 0 || len > PLAN_MAX))
        snprintf (jerr.text, sizeof jerr.text, "%s", !text ? "out of memory" : k < 0
                  ? strerror (errno) : "larger than 1 MiB");
    free (text);
    if (!json_is_object (plan)) {
        snprintf (why, n, "%s: not a JSON object {taskId: behaviour} (%s)", file, jerr.text);
        json_decref (plan);
        return NULL;
    }
    return plan;
}

int
oracle_load_plan (oracle_t *self, const char *file, char *why, size_t n)
{
    json_t *plan = read_plan (file, why, n);
    if (!plan)
        return -1;
    const char *id;
    json_t *v;
    unsigned hang_s;
    json_object_foreach (plan, id, v) {
        if (strcmp (id, "*") && !known_task (self, id)) {
            snprintf (why, n, "%s: \"%.64s\" is no task of the eval sets given before it",
                      file, id);
            json_decref (plan);
            return -1;
        }
        if (!json_is_string (v) || parse_behaviour (json_string_value (v), &hang_s) < 0) {
            snprintf (why, n, "%s: \"%.64s\": the behaviour must be one of oracle, giveup, "
                      "wrong, toolerror, loop, error, refuse, hang or hang:SECONDS", file, id);
            json_decref (plan);
            return -1;
        }
    }
    json_decref (self->plan);
    self->plan = plan;
    return 0;
}

/* Whether model (the wire's name, maybe `provider/name`) is name. */
static bool
model_is (const char *model, const char *name)
{
    const char *slash = strrchr (model, '/');
    return strcmp (slash ? slash + 1 : model, name) == 0;
}

static const char *
str (const json_t *m, const char *key)
{
    return json_string_value (json_object_get (m, key)) ?: "";
}

/* One tool call (args taken). */
static void
call (cassette_reply_t *r, size_t turn, const char *name, json_t *args)
{
    if (!r->tool_calls)
        r->tool_calls = json_array ();
    char id[64];
    snprintf (id, sizeof id, "call_%zu_%zu", turn + 1, json_array_size (r->tool_calls) + 1);
    json_array_append_new (r->tool_calls, json_pack ("{s:s, s:s, s:o}", "id", id, "name", name,
                                                     "args", args));
}

/* The sandbox the conversation's createSandbox made (after index from),
 * or "". */
static const char *
created_sandbox (const json_t *conv, size_t from, char *out, size_t n)
{
    out[0] = '\0';
    for (size_t i = from; i < json_array_size (conv); i++) {
        json_t *m = json_array_get (conv, i);
        if (strcmp (str (m, "role"), "tool") || strcmp (str (m, "name"), "createSandbox"))
            continue;
        json_t *res = json_loads (str (m, "content"), 0, NULL);
        const char *id = str (res, "sandboxId");
        if (!*id)
            id = str (json_object_get (res, "result"), "sandboxId");
        if (sandbox_id_valid (id))
            snprintf (out, n, "%s", id);
        json_decref (res);
    }
    return out;
}

/* The reference solution's steps for turn (see the top of this file);
 * given: the prompt named the sandbox (else the oracle made it). */
static void
solve (const evaltask_t *t, bool given, const char *sandbox, const char *repo, size_t turn,
       cassette_reply_t *r)
{
    if (!t->solution) {
        r->text = strdup ("This task has no reference solution, so the oracle cannot solve it.");
        return;
    }
    size_t step = 0;
    if (!given && turn == step++) {
        call (r, turn, "createSandbox", json_object ());
        return;
    }
    if (*repo && turn == step++) {
        call (r, turn, "repo.clone", json_pack ("{s:s, s:s}", "sandboxId", sandbox, "url", repo));
        return;
    }
    if (turn == step++) {
        json_t *files = json_array ();
        size_t i;
        json_t *f;
        json_array_foreach (t->solution, i, f) {
            char *path = NULL;
            /* repo.clone puts the repository in /workspace/repo */
            if (asprintf (&path, "%s%s", *repo ? "repo/" : "", str (f, "path")) < 0)
                path = NULL;
            json_array_append_new (files, json_pack ("{s:s?, s:O}", "path", path, "data",
                                                     json_object_get (f, "data")));
            free (path);
            if (json_array_size (files) == WRITE_FILES_MAX || i + 1 == json_array_size (t->solution)) {
                call (r, turn, "writeFiles", json_pack ("{s:s, s:o}", "sandboxId", sandbox,
                                                        "files", files));
                files = json_array ();
            }
        }
        json_decref (files);
        return;
    }
    if (strcmp (t->success, "pr") == 0 && turn == step) {
        char title[80], body[200];
        snprintf (title, sizeof title, "Solve %s", t->id);
        snprintf (body, sizeof body, "The reference solution of the eval task %s, written by "
                  "the scripted oracle.", t->id);
        call (r, turn, "git.openPR", json_pack ("{s:s, s:s, s:s}", "sandboxId", sandbox,
                                                "title", title, "body", body));
        return;
    }
    r->text = strdup ("Done.");
}

/* The length of a task's text as evalset_match compares it. */
static size_t
text_len (const evaltask_t *t)
{
    size_t n = strlen (t->task);
    while (n && strchr (" \t\r\n", t->task[n - 1]))
        n--;
    return n;
}

/* The task conv's latest eval prompt names, *at its message's index. As
 * within a set, the longest text wins across sets: one set's task may be
 * a part of another set's. */
static const evaltask_t *
find_task (const oracle_t *self, const json_t *conv, size_t *at, char *sandbox, size_t n)
{
    for (size_t i = json_array_size (conv); i-- > 0;) {
        json_t *m = json_array_get (conv, i);
        if (strcmp (str (m, "role"), "user"))
            continue;
        const evaltask_t *best = NULL;
        for (size_t s = 0; s < self->nsets; s++) {
            char found[SANDBOX_ID_SIZE];
            const evaltask_t *t = evalset_match (self->sets[s], str (m, "content"), found,
                                                 sizeof found);
            if (t && (!best || text_len (t) > text_len (best))) {
                best = t;
                snprintf (sandbox, n, "%s", found);
            }
        }
        if (best) {
            *at = i;
            return best;
        }
    }
    return NULL;
}

bool
oracle_play (const oracle_t *self, const char *model, const json_t *conv, cassette_reply_t *r)
{
    bool giveup = model_is (model, "giveup");
    if (!self || !self->nsets || (!giveup && !model_is (model, "oracle")))
        return false;
    char sandbox[SANDBOX_ID_SIZE], repo[2100];
    size_t at = 0;
    const evaltask_t *t = find_task (self, conv, &at, sandbox, sizeof sandbox);
    if (!t)
        return false;
    const char *prompt = str (json_array_get (conv, at), "content");
    evalset_match_repo (t, prompt, repo, sizeof repo);
    size_t turn = 0;
    for (size_t i = at + 1; i < json_array_size (conv); i++) {
        json_t *m = json_array_get (conv, i);
        if (strcmp (str (m, "role"), "assistant") == 0)
            turn++;
        /* the orchestrator's summary stands for the turns it replaced */
        else if (strcmp (str (m, "role"), "user") == 0
                 && strncmp (str (m, "content"), SUMMARY_MARK, strlen (SUMMARY_MARK)) == 0)
            turn += strtoull (str (m, "content") + strlen (SUMMARY_MARK), NULL, 10);
    }
    const char *planned = json_string_value (json_object_get (self->plan, t->id))
                       ?: json_string_value (json_object_get (self->plan, "*")) ?: "oracle";
    unsigned hang_s = ORACLE_HANG_S;
    int b = giveup ? ORACLE_GIVEUP : parse_behaviour (planned, &hang_s);
    char made[SANDBOX_ID_SIZE];
    bool given = *sandbox;
    if (!given)
        snprintf (sandbox, sizeof sandbox, "%s", created_sandbox (conv, at + 1, made,
                                                                  sizeof made));
    memset (r, 0, sizeof *r);
    r->status = 200;
    switch (b) {
    case ORACLE_SOLVE:
        solve (t, given, sandbox, repo, turn, r);
        break;
    case ORACLE_GIVEUP:
        r->text = strdup ("I cannot do this task: I gave up without changing anything.");
        break;
    case ORACLE_WRONG:
        r->text = strdup ("Done: the task is complete.");
        break;
    case ORACLE_TOOLERROR:
        if (turn == 0)
            call (r, turn, "writeFiles", json_pack ("{s:s, s:[{s:s, s:s}]}", "sandboxId",
                                                    sandbox, "files", "path", "../../outside",
                                                    "data", "outside the workspace\n"));
        else
            r->text = strdup ("Done.");
        break;
    case ORACLE_LOOP:
        call (r, turn, "listFiles", json_pack ("{s:s}", "sandboxId", sandbox));
        break;
    case ORACLE_ERROR:
        r->status = 500;
        r->error = strdup ("The server had an error while processing your request "
                           "(scripted eval error).");
        break;
    case ORACLE_REFUSE:
        r->text = strdup ("I can't help with that.");
        snprintf (r->finish, sizeof r->finish, "content_filter");
        break;
    default:                    /* ORACLE_HANG: the answer, but late */
        r->latency_ms = (uint64_t) hang_s * 1000;
        r->text = strdup ("Done (late).");
        break;
    }
    return true;
}
