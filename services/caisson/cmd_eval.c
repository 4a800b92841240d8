/* cmd_eval: see cmd_eval.h. `eval run` keeps a queue of attempts (each
 * task times --repeat, task by task) served by --concurrency threads, each
 * with its own bus connection (eval_run.c). The record is stored whole
 * with eval.put when the eval starts, each time a task's attempts are all
 * in, and at its end. Every request is made as the CLI's user without the
 * operator flag: the sandboxes, runs and records are that user's, and
 * another user's evals are not theirs to read. SIGINT and SIGTERM are
 * taken by the main thread only (sigtimedwait), so the attempts' threads
 * can still cancel their runs and end their sandboxes after one. */
#include "cmd_eval.h"
#include "cmd_eval_read.h"
#include "cfg.h"
#include "cid.h"
#include "eval_bus.h"
#include "eval_report.h"
#include "eval_run.h"
#include "evalset.h"
#include "llm_provider.h"
#include "stack.h"

#include <czmq.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CONCURRENCY 64
#define MAX_REPEAT 100
/* How long past its time limit a run may go before the harness cancels it. */
#define GRACE_S 30
/* The most of a record (compact JSON) eval.put is sent; event-log takes 8
 * MiB of msgpack, which is no larger than the JSON. */
#define RECORD_MAX (7u << 20)

const char *const cmd_eval_usage =
    "caisson eval run SET [--model M] [--profile P@V] [--concurrency N] [--repeat K]\n"
    "                     [--time-limit S] [--id ID] [--json] [--data DIR]\n"
    "       caisson eval list [--json]\n"
    "       caisson eval show ID [--json]\n"
    "       caisson eval report A [B] [--json]\n"
    "       caisson eval export ID --swebench [-o FILE]\n"
    "       caisson eval rm ID [ID]";

typedef struct {
    const char *sub, *pos[2], *model, *profile, *id, *out, *data;
    unsigned concurrency, repeat, time_limit;
    int npos;
    bool json, swebench;
} opts_t;

bool
cmd_eval_is (const char *argv1)
{
    return !strcmp (argv1, "eval");
}

/* A whole number in [1, max] from s, or 0. */
static unsigned
count (const char *s, unsigned max)
{
    char *end;
    unsigned long v = strtoul (s, &end, 10);
    return *s && !*end && v >= 1 && v <= max ? (unsigned) v : 0;
}

static int
parse (int argc, char **argv, opts_t *o)
{
    o->sub = argc > 2 ? argv[2] : "";
    o->concurrency = o->repeat = 1;
    o->data = cfg_str ("CAISSON_DATA");
    for (int i = 3; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (!strcmp (a, "--model") && more)
            o->model = argv[++i];
        else if (!strcmp (a, "--profile") && more)
            o->profile = argv[++i];
        else if (!strcmp (a, "--id") && more)
            o->id = argv[++i];
        else if (!strcmp (a, "--data") && more)
            o->data = argv[++i];
        else if (!strcmp (a, "-o") && more)
            o->out = argv[++i];
        else if (!strcmp (a, "--concurrency") && more) {
            if (!(o->concurrency = count (argv[++i], MAX_CONCURRENCY)))
                return fprintf (stderr, "caisson: --concurrency is 1 to %d\n", MAX_CONCURRENCY), -1;
        }
        else if (!strcmp (a, "--repeat") && more) {
            if (!(o->repeat = count (argv[++i], MAX_REPEAT)))
                return fprintf (stderr, "caisson: --repeat is 1 to %d\n", MAX_REPEAT), -1;
        }
        else if (!strcmp (a, "--time-limit") && more) {
            if (!(o->time_limit = count (argv[++i], 86400)))
                return fprintf (stderr, "caisson: --time-limit is 1 to 86400 seconds\n"), -1;
        }
        else if (!strcmp (a, "--json"))
            o->json = true;
        else if (!strcmp (a, "--swebench"))
            o->swebench = true;
        else if (a[0] != '-' && o->npos < 2)
            o->pos[o->npos++] = a;
        else
            return fprintf (stderr, "caisson: unexpected argument '%s'\n", a), -1;
    }
    return 0;
}

/* The eval's state while it runs, shared by its threads under lock. */
typedef struct {
    const opts_t *o;
    evalset_t *set;
    eval_opts_t run;
    json_t *record;
    json_t ***slots;            /* per task, its attempts by number */
    unsigned *left;             /* per task, attempts not in yet */
    size_t next, jobs, finished, passed;
    int errors;
    atomic_bool stop;
    pthread_mutex_t lock;
} eval_t;

static void
store (eval_t *e, bus_client_t *c)
{
    char why[512];
    json_t *fit = eval_report_fit (e->record, RECORD_MAX);
    int rc = evalbus_put (c, json_string_value (json_object_get (e->record, "id")), fit, why,
                          sizeof why);
    json_decref (fit);
    if (rc) {
        fprintf (stderr, "caisson: cannot store the eval: %s\n", why);
        e->errors++;
    }
}

/* Puts task i's attempts into the record (in order, those in so far). */
static void
gather (eval_t *e, size_t i)
{
    json_t *task = json_array_get (json_object_get (e->record, "tasks"), i);
    json_t *attempts = json_array ();
    for (unsigned k = 0; k < e->o->repeat; k++)
        if (e->slots[i][k])
            json_array_append (attempts, e->slots[i][k]);
    json_object_set_new (task, "attempts", attempts);
    eval_report_task (task, e->o->repeat);
}

static void
progress (eval_t *e, const evaltask_t *t, unsigned k, const json_t *a)
{
    if (e->o->json)
        return;
    const char *cause = json_string_value (json_object_get (a, "cause"));
    const char *err = json_string_value (json_object_get (a, "error"));
    fprintf (stderr, "[%zu/%zu] %s#%u %s%s%s (%.1f s, %lld steps) passed %zu\n", e->finished,
             e->jobs, t->id, k + 1, json_is_true (json_object_get (a, "passed")) ? "PASS" : "FAIL",
             cause || err ? " " : "", err ? err : cause ? cause : "",
             json_number_value (json_object_get (a, "wallSeconds")),
             (long long) json_integer_value (json_object_get (a, "steps")), e->passed);
}

static void *
worker (void *arg)
{
    eval_t *e = arg;
    bus_client_t *c = evalbus_client (3);
    for (;;) {
        pthread_mutex_lock (&e->lock);
        size_t job = e->next < e->jobs && !atomic_load (&e->stop) ? e->next++ : SIZE_MAX;
        pthread_mutex_unlock (&e->lock);
        if (job == SIZE_MAX)
            break;
        size_t i = job / e->o->repeat;
        unsigned k = (unsigned) (job % e->o->repeat);
        const evaltask_t *t = evalset_task (e->set, i);
        json_t *a = eval_run_attempt (&e->run, t, k);
        pthread_mutex_lock (&e->lock);
        if (a) {
            e->slots[i][k] = a;
            e->finished++;
            e->passed += json_is_true (json_object_get (a, "passed"));
            e->errors += json_object_get (a, "error") != NULL;
            progress (e, t, k, a);
            if (--e->left[i] == 0) {
                gather (e, i);
                json_object_set_new (e->record, "summary",
                                     eval_report_summary (json_object_get (e->record, "tasks"),
                                                          e->o->repeat));
                if (c)
                    store (e, c);
            }
        }
        pthread_mutex_unlock (&e->lock);
    }
    bus_client_destroy (&c);
    return NULL;
}

static int64_t
now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A new eval id: the set's name (what the id pattern allows of it), the
 * time and a few random characters. */
static void
new_id (const char *set, char *id, size_t n)
{
    char name[32], rnd[CID_SIZE], when[32];
    size_t j = 0;
    for (const char *p = set; *p && j < 24; p++)
        name[j++] = (strchr ("._-", *p) || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z')
                     || (*p >= 'A' && *p <= 'Z')) ? *p : '-';
    name[j] = '\0';
    time_t t = time (NULL);
    struct tm tm;
    strftime (when, sizeof when, "%Y%m%d-%H%M%S", gmtime_r (&t, &tm));
    cid_new (rnd);
    snprintf (id, n, "%s%s%s-%.6s", j && !strchr ("-._", name[0]) ? name : "eval", "-",
              when, rnd + CID_SIZE - 7);
}

static json_t *
new_record (const opts_t *o, const evalset_t *set, const char *id)
{
    json_t *tasks = json_array ();
    for (size_t i = 0; i < evalset_size (set); i++) {
        const evaltask_t *t = evalset_task (set, i);
        json_t *task = json_pack ("{s:s, s:s, s:O, s:i, s:[]}", "id", t->id, "language",
                                  t->language ? t->language : "", "tags", t->tags, "passes", 0,
                                  "attempts");
        eval_report_task (task, o->repeat);
        json_array_append_new (tasks, task);
    }
    json_t *r = json_pack ("{s:s, s:s, s:s, s:s*, s:i, s:i, s:s, s:I, s:o}", "id", id, "set",
                           evalset_name (set), "model",
                           o->model ? o->model : llm_provider_default_model (), "profile", o->profile,
                           "concurrency", (int) o->concurrency, "repeat", (int) o->repeat,
                           "status", "running", "started", (json_int_t) now_us (), "tasks", tasks);
    json_object_set_new (r, "summary", eval_report_summary (tasks, o->repeat));
    /* who runs it: a later list or show on this host can tell a harness
     * that died (kill -9) from one still at work (cmd_eval_read.c) */
    char host[256] = "";
    gethostname (host, sizeof host - 1);
    json_object_set_new (r, "harness", json_pack ("{s:s, s:I}", "host", host, "pid",
                                                  (json_int_t) getpid ()));
    return r;
}

/* Waits for the workers, turning the first SIGINT, SIGTERM or SIGHUP into
 * a stop. */
static bool
wait_all (eval_t *e, pthread_t *threads, unsigned n, const sigset_t *sigs)
{
    bool interrupted = false;
    while (!interrupted) {
        pthread_mutex_lock (&e->lock);
        bool done = e->finished >= e->jobs;
        pthread_mutex_unlock (&e->lock);
        if (done)
            break;
        struct timespec ts = { 0, 200 * 1000000 };
        if (sigtimedwait (sigs, NULL, &ts) > 0) {
            interrupted = true;
            atomic_store (&e->stop, true);
            if (!e->o->json)
                fprintf (stderr, "caisson: interrupted: cancelling the runs in flight\n");
        }
    }
    for (unsigned i = 0; i < n; i++)
        pthread_join (threads[i], NULL);
    return interrupted;
}

static int
eval_run (const opts_t *o, const char *data, const char *user)
{
    if (o->npos < 1)
        return fprintf (stderr, "usage: %s\n", cmd_eval_usage), 2;
    if (!*user || *user == '.' || strchr (user, '/'))
        return fprintf (stderr, "caisson: user '%s' cannot name the directory of its eval "
                        "repositories\n", user), 1;
    char why[1024] = "", id[80];
    eval_t e = { .o = o };
    if (!(e.set = evalset_load (o->pos[0], why, sizeof why)))
        return fprintf (stderr, "caisson: %s\n", why), 1;
    if (o->id)
        snprintf (id, sizeof id, "%s", o->id);
    else
        new_id (evalset_name (e.set), id, sizeof id);
    mprices_t *prices = mprices_load (cfg_str ("CAISSON_GATEWAY_PRICES"), why, sizeof why);
    e.run = (eval_opts_t) { .eval_id = id, .model = o->model, .profile = o->profile,
                            .time_limit_s = o->time_limit, .grace_s = GRACE_S, .data = data, .user = user,
                            .prices = prices, .stop = &e.stop };
    size_t ntasks = evalset_size (e.set);
    e.jobs = ntasks * o->repeat;
    e.slots = calloc (ntasks + 1, sizeof *e.slots);
    e.left = calloc (ntasks + 1, sizeof *e.left);
    for (size_t i = 0; i < ntasks; i++) {
        e.slots[i] = calloc (o->repeat, sizeof **e.slots);
        e.left[i] = o->repeat;
    }
    e.record = new_record (o, e.set, id);
    pthread_mutex_init (&e.lock, NULL);
    bus_client_t *c = evalbus_client (3);
    int rc = 1;
    if (c && evalbus_put (c, id, e.record, why, sizeof why) == 0) {
        if (!o->json)
            fprintf (stderr, "caisson: eval %s: %zu task(s) of %s, %u attempt(s) each, %u at once\n",
                     id, ntasks, evalset_name (e.set), o->repeat, o->concurrency);
        sigset_t sigs;
        sigemptyset (&sigs);
        sigaddset (&sigs, SIGINT);
        sigaddset (&sigs, SIGTERM);
        sigaddset (&sigs, SIGHUP);          /* its terminal closed */
        pthread_sigmask (SIG_BLOCK, &sigs, NULL);
        unsigned n = o->concurrency < e.jobs ? o->concurrency : (unsigned) e.jobs;
        pthread_t threads[MAX_CONCURRENCY];
        unsigned started = 0;
        for (; started < n; started++)
            if (pthread_create (&threads[started], NULL, worker, &e))
                break;
        bool interrupted = wait_all (&e, threads, started, &sigs);
        for (size_t i = 0; i < ntasks; i++)
            gather (&e, i);
        json_object_set_new (e.record, "summary",
                             eval_report_summary (json_object_get (e.record, "tasks"), o->repeat));
        json_object_set_new (e.record, "status", json_string (interrupted ? "interrupted" : "done"));
        json_object_set_new (e.record, "ended", json_integer (now_us ()));
        store (&e, c);
        if (o->json) {
            char *text = json_dumps (e.record, JSON_COMPACT);
            printf ("%s\n", text ? text : "{}");
            free (text);
        }
        else
            eval_report_print (stdout, e.record, NULL);
        rc = interrupted ? 130 : e.errors ? 1 : 0;
    }
    else
        fprintf (stderr, "caisson: cannot store the eval: %s\n", c ? why : "no bus");
    bus_client_destroy (&c);
    for (size_t i = 0; i < ntasks; i++) {
        for (unsigned k = 0; k < o->repeat; k++)
            json_decref (e.slots[i][k]);
        free (e.slots[i]);
    }
    free (e.slots);
    free (e.left);
    json_decref (e.record);
    pthread_mutex_destroy (&e.lock);
    mprices_destroy (&prices);
    evalset_destroy (&e.set);
    return rc;
}

int
cmd_eval_main (int argc, char **argv)
{
    opts_t o = { 0 };
    if (parse (argc, argv, &o))
        return fprintf (stderr, "usage: %s\n", cmd_eval_usage), 2;
    char data[PATH_MAX];
    if (stack_prepare (o.data, data, sizeof data))
        return 1;
    stack_load_endpoints (data);
    /* As the user, not as an operator: what the eval makes and reads is theirs. */
    proto_msg_t *probe = proto_msg_new (PROTO_eval_list, NULL);
    char user[160];
    snprintf (user, sizeof user, "%s", probe->env.user ? probe->env.user : "cli");
    proto_msg_destroy (&probe);
    proto_set_identity (user, false);
    if (!strcmp (o.sub, "run"))
        return eval_run (&o, data, user);
    bus_client_t *c = evalbus_client (2);
    if (!c)
        return 1;
    int rc;
    if (!strcmp (o.sub, "list"))
        rc = cmd_eval_list (c, o.json);
    else if (!strcmp (o.sub, "show") || !strcmp (o.sub, "report"))
        rc = cmd_eval_read (c, o.sub, o.pos, o.npos, o.json);
    else if (!strcmp (o.sub, "rm"))
        rc = cmd_eval_rm (c, o.pos, o.npos);
    else if (!strcmp (o.sub, "export"))
        rc = cmd_eval_export (c, o.pos, o.npos, o.swebench, o.out);
    else {
        fprintf (stderr, "usage: %s\n", cmd_eval_usage);
        rc = 2;
    }
    bus_client_destroy (&c);
    return rc;
}
