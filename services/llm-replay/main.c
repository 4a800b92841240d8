/* caisson-llm-replay: the scripted model. An HTTP server speaking OpenAI
 * Chat Completions (POST /v1/chat/completions) and Anthropic Messages
 * (POST /v1/messages), answering from cassettes (cassette.h,
 * docs/llm-replay.md), streamed or whole as the request asks, with their
 * latency, chunking and faults, deterministic embeddings (POST
 * /v1/embeddings, embed.h) and a model list (GET /v1/models). Tests and
 * the offline default (`caisson up` with no provider key) point the
 * orchestrator at it, so they exercise the production HTTP path.
 *
 * One thread per connection: a reply's latency or stall is a plain sleep
 * in that connection's thread and costs nothing to the others. It also
 * measures what a provider would see of its client (gaps.h): the time from
 * the end of each reply to the request that continues it, on GET /stats. */
#include "xalloc.h"
#include "cassette.h"
#include "embed.h"
#include "cfg.h"
#include "clog.h"
#include "gaps.h"
#include "llm.h"
#include "oracle.h"
#include "render.h"
#include "request.h"
#include "svc.h"
#include "window.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_BODY (16u << 20)
#define MAX_PENDING 65536       /* replies awaiting their next request */
#define MAX_GAPS (1u << 20)     /* gaps kept for GET /stats */

/* set by the signal handler, read by the connection threads napping in
 * a reply's latency: atomic, not only volatile (a lock-free atomic is
 * async-signal-safe) */
static atomic_int s_stop;
static cassette_set_t *s_set;
static oracle_t *s_oracle;         /* the eval modes (--eval-set): oracle.h */
static uint64_t s_extra_latency_ms;
static gaps_t *s_gaps;
static atomic_ulong s_requests;     /* model requests answered, for GET /stats */
static const char *s_key;           /* CAISSON_LLM_REPLAY_KEY: "" for none */
static uint64_t s_window;           /* CAISSON_LLM_REPLAY_CONTEXT: the declared window */
static atomic_ulong s_max_tokens;   /* the largest request's tokens, for GET /stats */
static atomic_ulong s_refused;      /* requests refused as larger than the window */

typedef struct {
    char *buf;
    size_t len;
    bool too_big;
    int64_t arrived_us;         /* when its headers were in */
} upload_t;

typedef struct {
    char *body;
    size_t len, cut_at, write;
    uint64_t latency_ms;
    bool stall, started, ended;
    uint64_t key;               /* gaps_reply_key of this reply */
} stream_t;

static int64_t
now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
nap_ms (uint64_t ms)
{
    while (ms && !atomic_load (&s_stop)) {
        uint64_t step = ms < 50 ? ms : 50;
        usleep ((useconds_t) step * 1000);
        ms -= step;
    }
}

static ssize_t
read_stream (void *cls, uint64_t pos, char *buf, size_t max)
{
    stream_t *s = cls;
    if (!s->started) {
        s->started = true;
        nap_ms (s->latency_ms);
    }
    size_t end = s->cut_at ? s->cut_at : s->len;
    if (pos >= end) {
        if (s->cut_at) {
            if (s->stall)
                nap_ms (120000);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        /* Every byte is on the socket, only the chunked terminator is
         * left: the client cannot have acted on the reply yet. */
        if (!s->ended && s->key)
            gaps_reply_end (s_gaps, s->key, now_us ());
        s->ended = true;
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    size_t n = end - (size_t) pos;
    if (n > max)
        n = max;
    if (s->write && n > s->write)
        n = s->write;
    memcpy (buf, s->body + pos, n);
    return (ssize_t) n;
}

static void
free_stream (void *cls)
{
    stream_t *s = cls;
    free (s->body);
    free (s);
}

/* Answers status with body (a JSON text, taken). */
static enum MHD_Result
answer_body (struct MHD_Connection *con, int status, char *body)
{
    if (!body)
        return MHD_NO;
    struct MHD_Response *rsp = MHD_create_response_from_buffer (strlen (body), body,
                                                                MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header (rsp, "Content-Type", "application/json");
    enum MHD_Result rc = MHD_queue_response (con, (unsigned) status, rsp);
    MHD_destroy_response (rsp);
    return rc;
}

static enum MHD_Result
answer_error (struct MHD_Connection *con, bool anthropic, int status, const char *msg,
              uint64_t retry_after)
{
    char *body = render_error (anthropic, status, msg);
    struct MHD_Response *rsp = MHD_create_response_from_buffer (strlen (body), body,
                                                                MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header (rsp, "Content-Type", "application/json");
    if (retry_after) {
        char v[32];
        snprintf (v, sizeof v, "%llu", (unsigned long long) retry_after);
        MHD_add_response_header (rsp, "Retry-After", v);
    }
    enum MHD_Result rc = MHD_queue_response (con, (unsigned) status, rsp);
    MHD_destroy_response (rsp);
    return rc;
}

static enum MHD_Result
answer_stats (struct MHD_Connection *con)
{
    char *gaps = gaps_json (s_gaps);
    json_t *doc = gaps ? json_loads (gaps, 0, NULL) : NULL;
    free (gaps);
    if (!doc)
        return MHD_NO;
    json_object_set_new (doc, "requests", json_integer ((json_int_t) atomic_load (&s_requests)));
    json_object_set_new (doc, "window", json_integer ((json_int_t) s_window));
    json_object_set_new (doc, "maxRequestTokens",
                         json_integer ((json_int_t) atomic_load (&s_max_tokens)));
    json_object_set_new (doc, "contextRefused",
                         json_integer ((json_int_t) atomic_load (&s_refused)));
    char *body = json_dumps (doc, JSON_COMPACT);
    json_decref (doc);
    return answer_body (con, MHD_HTTP_OK, body);
}
static enum MHD_Result
play (struct MHD_Connection *con, const upload_t *up, bool anthropic)
{
    json_error_t jerr;
    atomic_fetch_add (&s_requests, 1);
    json_t *req = json_loadb (up->buf ? up->buf : "", up->len, 0, &jerr);
    if (!json_is_object (req)) {
        json_decref (req);
        char msg[256];
        snprintf (msg, sizeof msg, "request body is not a JSON object: %s", jerr.text);
        return answer_error (con, anthropic, 400, msg, 0);
    }
    const char *model = json_string_value (json_object_get (req, "model")) ?: "replay";
    /* as the providers: whole unless asked to stream; OpenAI's usage chunk only on request */
    bool streamed = json_is_true (json_object_get (req, "stream"));
    bool include_usage = json_is_true (json_object_get (json_object_get (req, "stream_options"),
                                                        "include_usage"));
    uint64_t tokens = window_tokens (up->len);
    for (unsigned long m = atomic_load (&s_max_tokens);
         tokens > m && !atomic_compare_exchange_weak (&s_max_tokens, &m, tokens);)
        ;
    if (tokens > s_window) {
        atomic_fetch_add (&s_refused, 1);
        json_decref (req);
        clog_warn (NULL, "refusing a request of %llu tokens: the window is %llu",
                   (unsigned long long) tokens, (unsigned long long) s_window);
        return answer_body (con, 400, window_refusal (anthropic, tokens, s_window));
    }
    char bad[160];
    if (!request_names_ok (req, bad, sizeof bad)) {
        json_decref (req);
        clog_warn (NULL, "refusing a request: %s", bad);
        return answer_error (con, anthropic, 400, bad, 0);
    }
    json_t *conv = request_conversation (req, anthropic);
    json_t *tools = request_offered (req);
    uint64_t key = 0;
    cassette_reply_t r;
    char *summary = NULL;
    /* a title or a summary is not a run's turn: no gap figures */
    if (request_title (req, conv, &r))
        key = 0;
    else if ((summary = window_summary (conv))) {
        memset (&r, 0, sizeof r);
        r.status = 200;
        r.text = summary;
    }
    else {
        if (gaps_request_key (conv, &key))
            gaps_request (s_gaps, key, up->arrived_us);
        if (!oracle_play (s_oracle, model, conv, &r))
            cassette_set_play (s_set, conv, tools, &r);
        key = gaps_reply_key (conv, r.text);
    }
    json_decref (conv);
    json_decref (tools);
    enum MHD_Result rc;
    if (r.status != 200 || r.fault == FAULT_429 || r.fault == FAULT_500
        || r.fault == FAULT_STATUS) {
        int status = r.status != 200 ? r.status : r.fault == FAULT_429 ? 429
                   : r.fault == FAULT_500 ? 500 : r.fault_status;
        const char *msg = r.error ? r.error : r.fault_message ? r.fault_message
                        : status == 429 ? "rate limited (scripted fault)"
                        : status >= 500 ? "server error (scripted fault)"
                                        : "request refused (scripted fault)";
        clog_warn (NULL, "answering %d: %s", status, msg);
        rc = answer_error (con, anthropic, status, msg, r.retry_after);
    }
    else if (!streamed && r.fault == FAULT_ERROR) {
        /* whole answers have no stream to fail inside: the error is the status */
        const char *type = r.fault_type ? r.fault_type : "overloaded_error";
        int status = strcmp (type, "overloaded_error") == 0 ? 529 : 500;
        rc = answer_error (con, anthropic, status, r.fault_message ?: "Overloaded", 0);
    }
    else {
        stream_t *s = calloc (1, sizeof *s);
        uint64_t in = up->len / 4;
        s->body = !streamed ? anthropic ? render_anthropic_whole (&r, model, in)
                                        : render_openai_whole (&r, model, in)
                : anthropic ? render_anthropic (&r, model, in)
                            : render_openai (&r, model, in, include_usage);
        s->len = s->body ? strlen (s->body) : 0;
        s->write = r.chunk;
        s->latency_ms = r.latency_ms + s_extra_latency_ms;
        s->key = key;
        if (r.fault == FAULT_ERROR && s->body) {
            s->body = render_error_midway (s->body, anthropic, r.fault_type, r.fault_message);
            s->len = strlen (s->body);
        }
        if (r.fault == FAULT_CUT || r.fault == FAULT_STALL) {
            s->cut_at = s->len / 2 ? s->len / 2 : 1;
            s->stall = r.fault == FAULT_STALL;
        }
        struct MHD_Response *rsp = MHD_create_response_from_callback (MHD_SIZE_UNKNOWN, 4096,
                                                                      read_stream, s,
                                                                      free_stream);
        MHD_add_response_header (rsp, "Content-Type",
                                 streamed ? "text/event-stream" : "application/json");
        if (streamed)
            MHD_add_response_header (rsp, "Cache-Control", "no-cache");
        rc = MHD_queue_response (con, MHD_HTTP_OK, rsp);
        MHD_destroy_response (rsp);
    }
    cassette_reply_clear (&r);
    json_decref (req);
    return rc;
}

/* POST /v1/embeddings: deterministic vectors (embed.h). */
static enum MHD_Result
answer_embeddings (struct MHD_Connection *con, const upload_t *up)
{
    atomic_fetch_add (&s_requests, 1);
    int status;
    char *body = embed_answer (up->buf, up->len, &status);
    return answer_body (con, status, body);
}

/* With CAISSON_LLM_REPLAY_KEY set, a request must carry that key the way
 * either protocol sends it. */
static bool
key_ok (struct MHD_Connection *con)
{
    const char *want = s_key;
    if (!*want)
        return true;
    const char *bearer = MHD_lookup_connection_value (con, MHD_HEADER_KIND, "Authorization");
    const char *xkey = MHD_lookup_connection_value (con, MHD_HEADER_KIND, "x-api-key");
    return (bearer && strncmp (bearer, "Bearer ", 7) == 0 && strcmp (bearer + 7, want) == 0)
        || (xkey && strcmp (xkey, want) == 0);
}

static enum MHD_Result
on_request (void *cls, struct MHD_Connection *con, const char *url, const char *method,
            const char *version, const char *data, size_t *size, void **con_cls)
{
    (void) cls;
    (void) version;
    upload_t *up = *con_cls;
    if (!up) {
        up = *con_cls = calloc (1, sizeof (upload_t));
        if (up)
            up->arrived_us = now_us ();
        return up ? MHD_YES : MHD_NO;
    }
    if (*size) {
        if (up->len + *size > MAX_BODY)
            up->too_big = true;
        else {
            char *b = realloc (up->buf, up->len + *size + 1);
            if (!b)
                return MHD_NO;
            memcpy (b + up->len, data, *size);
            up->buf = b;
            up->len += *size;
            up->buf[up->len] = '\0';
        }
        *size = 0;
        return MHD_YES;
    }
    bool anthropic = strcmp (url, "/v1/messages") == 0;
    if (strcmp (method, "GET") == 0 && strcmp (url, "/health") == 0) {
        static char ok[] = "{\"ok\":true}";
        struct MHD_Response *rsp = MHD_create_response_from_buffer (strlen (ok), ok,
                                                                    MHD_RESPMEM_PERSISTENT);
        enum MHD_Result rc = MHD_queue_response (con, MHD_HTTP_OK, rsp);
        MHD_destroy_response (rsp);
        return rc;
    }
    if (strcmp (method, "GET") == 0 && strcmp (url, "/stats") == 0)
        return answer_stats (con);
    if (strcmp (method, "GET") == 0 && strcmp (url, "/v1/models") == 0) {
        /* Anthropic's clients send anthropic-version: they get its shape */
        bool a = MHD_lookup_connection_value (con, MHD_HEADER_KIND, "anthropic-version") != NULL;
        if (!key_ok (con))
            return answer_error (con, a, 401, "invalid api key (scripted model)", 0);
        return answer_body (con, MHD_HTTP_OK, render_models (a));
    }
    bool embeddings = strcmp (url, "/v1/embeddings") == 0;
    if (strcmp (method, "POST") != 0
        || (!anthropic && !embeddings && strcmp (url, "/v1/chat/completions") != 0))
        return answer_error (con, anthropic, 404,
                             "unknown endpoint: use POST /v1/chat/completions, /v1/messages, "
                             "/v1/embeddings or GET /v1/models",
                             0);
    if (up->too_big)
        return answer_error (con, anthropic, 413, "request body larger than 16 MiB", 0);
    if (!key_ok (con)) {
        atomic_fetch_add (&s_requests, 1);
        return answer_error (con, anthropic, 401, "invalid api key (scripted model)", 0);
    }
    return embeddings ? answer_embeddings (con, up) : play (con, up, anthropic);
}

static void
on_done (void *cls, struct MHD_Connection *con, void **con_cls,
         enum MHD_RequestTerminationCode code)
{
    (void) cls;
    (void) con;
    (void) code;
    upload_t *up = *con_cls;
    if (up) {
        free (up->buf);
        free (up);
        *con_cls = NULL;
    }
}

/* The eval sets and the plan (oracle.h); -1 (logged) when one does not load. */
static int
load_evals (const char *const sets[], int nsets, const char *plan)
{
    char why[512];
    if (!(s_oracle = oracle_new ()))
        return -1;
    for (int i = 0; i < nsets; i++)
        if (oracle_add_set (s_oracle, sets[i], why, sizeof why)) {
            clog_error (NULL, "--eval-set: %s", why);
            oracle_destroy (&s_oracle);
            return -1;
        }
    if (plan && (!nsets || oracle_load_plan (s_oracle, plan, why, sizeof why))) {
        clog_error (NULL, "--eval-plan: %s", nsets ? why : "needs an --eval-set before it");
        oracle_destroy (&s_oracle);
        return -1;
    }
    if (nsets)
        clog_info (NULL, "eval modes: %zu tasks from %d sets, plan %s", oracle_size (s_oracle),
                   nsets, plan ? plan : "none (every task: oracle)");
    return 0;
}

static void
on_signal (int sig)
{
    (void) sig;
    atomic_store (&s_stop, 1);
}

int
main (int argc, char **argv)
{
    const char *usage = "[--port N] [--cassettes DIR] [--latency-ms N] [--eval-set DIR]... "
                        "[--eval-plan FILE]";
    const char *sets[32], *plan = NULL;
    int nsets = 0;
    xalloc_install ();
    const char *dir = cfg_str ("CAISSON_LLM_REPLAY_DIR");
    if (!*dir)
        dir = CAISSON_CASSETTE_DIR;
    uint64_t port = cfg_u64 ("CAISSON_LLM_REPLAY_PORT");
    s_extra_latency_ms = cfg_u64 ("CAISSON_LLM_REPLAY_LATENCY_MS");
    s_key = cfg_str ("CAISSON_LLM_REPLAY_KEY");
    s_window = cfg_u64 ("CAISSON_LLM_REPLAY_CONTEXT");
    if (!s_window)
        s_window = 131072;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0) {
            svc_usage ("caisson-llm-replay", "the scripted model: plays cassettes over the "
                       "OpenAI and Anthropic protocols, streamed or whole", usage);
            return 0;
        }
        if (i + 1 < argc && strcmp (argv[i], "--port") == 0)
            port = strtoull (argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp (argv[i], "--cassettes") == 0)
            dir = argv[++i];
        else if (i + 1 < argc && strcmp (argv[i], "--latency-ms") == 0)
            s_extra_latency_ms = strtoull (argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp (argv[i], "--eval-set") == 0 && nsets < 32)
            sets[nsets++] = argv[++i];
        else if (i + 1 < argc && strcmp (argv[i], "--eval-plan") == 0)
            plan = argv[++i];
        else {
            fprintf (stderr, "caisson-llm-replay: unknown argument '%s'\nusage: "
                     "caisson-llm-replay %s\n", argv[i], usage);
            return 2;
        }
    }
    clog_init ("llm-replay", NULL);
    if (port == 0 || port > 65535) {
        clog_error (NULL, "port must be 1..65535");
        return 2;
    }
    if (!(s_set = cassette_set_load (dir)))
        return 1;
    if (load_evals (sets, nsets, plan)) {
        cassette_set_destroy (&s_set);
        return 1;
    }
    if (!(s_gaps = gaps_new (MAX_PENDING, MAX_GAPS))) {
        cassette_set_destroy (&s_set);
        oracle_destroy (&s_oracle);
        return 1;
    }
    signal (SIGPIPE, SIG_IGN);
    signal (SIGTERM, on_signal);
    signal (SIGINT, on_signal);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    const char *host = cfg_str ("CAISSON_LLM_REPLAY_ADDR");
    if (inet_pton (AF_INET, host, &addr.sin_addr) != 1) {
        clog_error (NULL, "CAISSON_LLM_REPLAY_ADDR: '%s' is not an IPv4 address", host);
        cassette_set_destroy (&s_set);
        oracle_destroy (&s_oracle);
        gaps_destroy (&s_gaps);
        return 2;
    }
    struct MHD_Daemon *d = MHD_start_daemon (
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL,
        (uint16_t) port, NULL, NULL, on_request, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned) 4096,
        MHD_OPTION_THREAD_STACK_SIZE, (size_t) 256 * 1024,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned) 1,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr, MHD_OPTION_END);
    if (!d) {
        clog_error (NULL, "cannot listen on port %llu", (unsigned long long) port);
        cassette_set_destroy (&s_set);
        oracle_destroy (&s_oracle);
        gaps_destroy (&s_gaps);
        return 1;
    }
    clog_info (NULL, "scripted model on http://%s:%llu/v1 with %zu cassettes from %s", host,
               (unsigned long long) port, cassette_set_size (s_set), dir);
    while (!atomic_load (&s_stop))
        pause ();
    MHD_stop_daemon (d);
    cassette_set_destroy (&s_set);
    oracle_destroy (&s_oracle);
    gaps_destroy (&s_gaps);
    return 0;
}
