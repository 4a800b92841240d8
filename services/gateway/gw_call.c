/* gw_call: see gw_call.h. Every callback of one call runs on its
 * connection's thread (MHD thread per connection), so a call needs no
 * lock; the call is the connection's until gw_call_end. */
#define _GNU_SOURCE /* POLLRDHUP */
#include "gw_call.h"
#include "gw_err.h"
#include "gw_hdr.h"
#include "gw_mask.h"
#include "gw_sse.h"
#include "gw_up.h"
#include "cid.h"
#include "clog.h"
#include "vkey.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ERRBODY_MAX ((size_t) 64 << 10)     /* a provider's error body we pass on */
#define KEEP_MAX ((size_t) 8 << 20)         /* a whole answer kept to read its usage */

struct _gw_call_t {
    const gw_ctx_t *ctx;
    struct MHD_Connection *con;
    gw_req_t req;
    char call[CID_SIZE];
    const char *secret;         /* the real key (environment, borrowed) */
    gw_up_t *up;
    gw_sse_t *sse;              /* a streamed answer's reader */
    gw_mask_t *mask;            /* the real key out of what the client gets */
    char *keep;                 /* a whole answer's bytes, for its usage */
    size_t keep_len, body_len;
    uint64_t forwarded, granted_max;
    int status;
    bool finished, up_failed, client_gone;
    bool masked_all;            /* the mask was told the answer ended */
    gw_usage_t usage;           /* of a provider's error body */
    int64_t arrived_us, forward_us, first_us;
};

int64_t
gw_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static llm_proto_t
proto_of (gw_route_t route)
{
    return route == GW_MESSAGES ? LLM_ANTHROPIC : LLM_OPENAI;
}

static enum MHD_Result
queue (struct MHD_Connection *con, int status, struct MHD_Response *rsp)
{
    if (!rsp)
        return MHD_NO;
    enum MHD_Result rc = MHD_queue_response (con, (unsigned) status, rsp);
    MHD_destroy_response (rsp);
    return rc;
}

static struct MHD_Response *
error_response (llm_proto_t proto, int status, const char *code, const char *message)
{
    char *body = gw_err_body (proto, status, code, message);
    if (!body)
        return NULL;
    struct MHD_Response *rsp = MHD_create_response_from_buffer (strlen (body), body,
                                                                MHD_RESPMEM_MUST_FREE);
    if (rsp)
        MHD_add_response_header (rsp, "Content-Type", "application/json");
    else
        free (body);
    return rsp;
}

enum MHD_Result
gw_call_refuse (struct MHD_Connection *con, llm_proto_t proto, int status, const char *code,
                const char *message)
{
    return queue (con, status, error_response (proto, status, code, message));
}

/* A refusal from gateway-keys, with the headers its status calls for. */
static enum MHD_Result
refuse_grant (struct MHD_Connection *con, llm_proto_t proto, const proto_gkey_grant_t *g)
{
    int status = g->status >= 400 && g->status < 600 ? (int) g->status : 403;
    struct MHD_Response *rsp = error_response (proto, status, g->code ? g->code : "refused",
                                               g->reason ? g->reason : "refused");
    if (!rsp)
        return MHD_NO;
    if (status == 402 && g->budget) {
        MHD_add_response_header (rsp, "x-caisson-budget", g->budget);
        char iso[32] = "";
        time_t t = (time_t) (g->reset_at / 1000);
        struct tm tm;
        if (g->reset_at && gmtime_r (&t, &tm))
            strftime (iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (*iso)
            MHD_add_response_header (rsp, "x-caisson-budget-reset", iso);
    }
    if (status == 429) {
        uint64_t s = g->retry_after_s ? g->retry_after_s : 1;
        gw_hdr_u64 (rsp, "Retry-After", s);
        gw_hdr_u64 (rsp, "retry-after-ms", s * 1000);
    }
    return queue (con, status, rsp);
}

static void
grant_headers (struct MHD_Response *rsp, const gw_call_t *c, const proto_gkey_grant_t *g)
{
    MHD_add_response_header (rsp, "x-caisson-call", c->call);
    if (g->rl_limit_req) {
        gw_hdr_u64 (rsp, "x-ratelimit-limit-requests", g->rl_limit_req);
        gw_hdr_u64 (rsp, "x-ratelimit-remaining-requests", g->rl_left_req);
    }
    if (g->rl_limit_tok) {
        gw_hdr_u64 (rsp, "x-ratelimit-limit-tokens", g->rl_limit_tok);
        gw_hdr_u64 (rsp, "x-ratelimit-remaining-tokens", g->rl_left_tok);
    }
    if (c->granted_max)
        gw_hdr_u64 (rsp, "x-caisson-max-tokens", c->granted_max);
}

/* True when the client hung up (checked while the provider is quiet). */
static bool
client_gone (struct MHD_Connection *con)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info (con, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return false;
    struct pollfd p = { .fd = ci->connect_fd, .events = POLLRDHUP };
    return poll (&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/* Moves what came from the provider into what is ready to forward. */
static void
take_upstream (gw_call_t *c)
{
    size_t n;
    const char *d = gw_up_data (c->up, &n);
    if (c->sse) {
        if (gw_sse_feed (c->sse, d, n))
            c->up_failed = true;
        gw_up_take (c->up, n);
    }
}

/* The next bytes from the provider (through gw_sse for a stream) into
 * the mask; false when none are there now. */
static bool
mask_more (gw_call_t *c)
{
    size_t n;
    const char *p = c->sse ? gw_sse_ready (c->sse, &n) : gw_up_data (c->up, &n);
    if (!n)
        return false;
    if (gw_mask_feed (c->mask, p, n))
        c->up_failed = true;
    if (c->sse)
        gw_sse_consume (c->sse, n);
    else {
        size_t k = c->keep_len + n <= KEEP_MAX ? n : 0;
        char *b = k ? realloc (c->keep, c->keep_len + k + 1) : NULL;
        if (b) {
            memcpy (b + c->keep_len, p, k);
            c->keep = b;
            c->keep_len += k;
        }
        gw_up_take (c->up, n);
    }
    return true;
}

static ssize_t
read_answer (void *cls, uint64_t pos, char *buf, size_t max)
{
    (void) pos;
    gw_call_t *c = cls;
    for (;;) {
        size_t n;
        const char *p = gw_mask_ready (c->mask, &n);
        if (n) {
            n = n < max ? n : max;
            memcpy (buf, p, n);
            gw_mask_consume (c->mask, n);
            if (!c->first_us)
                c->first_us = gw_now_us ();
            c->forwarded += n;
            return (ssize_t) n;
        }
        if (mask_more (c))
            continue;
        if (c->finished) {
            if (c->masked_all)
                return c->up_failed ? MHD_CONTENT_READER_END_WITH_ERROR
                                    : MHD_CONTENT_READER_END_OF_STREAM;
            gw_mask_finish (c->mask, !c->up_failed);
            c->masked_all = true;
            continue;
        }
        int r = gw_up_pull (c->up, 100);
        if (r == 1)
            take_upstream (c);
        else if (r == 2 && client_gone (c->con)) {
            c->client_gone = true;
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        else if (r <= 0) {
            c->up_failed = r < 0;
            c->finished = true;
            if (c->sse)
                gw_sse_finish (c->sse);
        }
    }
}

/* Reads a provider's error answer whole (to ERRBODY_MAX), masks the real
 * key in it (a body cut at the limit drops a tail that may begin the key),
 * and queues it with the provider's status. */
static enum MHD_Result
pass_error (gw_call_t *c, const proto_gkey_grant_t *g)
{
    size_t len = 0;
    int r;
    bool cut = false;
    while ((r = gw_up_pull (c->up, 1000)) > 0) {
        size_t n;
        const char *d = gw_up_data (c->up, &n);
        size_t k = len + n <= ERRBODY_MAX ? n : ERRBODY_MAX - len;
        cut |= k < n;
        if (gw_mask_feed (c->mask, d, k))
            break;
        len += k;
        gw_up_take (c->up, n);
    }
    c->finished = c->masked_all = true;
    gw_mask_finish (c->mask, !cut);
    const char *p = gw_mask_ready (c->mask, &len);
    char *body = malloc (len + 1);
    if (!body)
        return MHD_NO;
    memcpy (body, p, len);
    gw_usage_of_body (proto_of (c->req.route), body, len, &c->usage);
    c->forwarded = len;
    c->first_us = gw_now_us ();
    struct MHD_Response *rsp = MHD_create_response_from_buffer (len, body,
                                                                MHD_RESPMEM_MUST_FREE);
    if (!rsp) {
        free (body);
        return MHD_NO;
    }
    gw_hdr_pass (rsp, c->up);
    grant_headers (rsp, c, g);
    return queue (c->con, c->status, rsp);
}

static char *
upstream_url (const gw_req_t *r)
{
    const char *base = llm_provider_url (r->prov);
    const char *path = r->route == GW_MESSAGES ? "/messages"
                     : r->route == GW_CHAT ? "/chat/completions" : "/embeddings";
    size_t n = strlen (base) + strlen (path) + 1;
    char *url = malloc (n);
    if (url)
        snprintf (url, n, "%s%s", base, path);
    return url;
}

/* Forwards the granted call and queues the provider's answer. */
static enum MHD_Result
forward (gw_call_t *c, const proto_gkey_grant_t *g)
{
    llm_proto_t proto = proto_of (c->req.route);
    if (!c->req.client_max && c->req.route != GW_EMBEDDINGS)
        c->granted_max = g->output_max ? g->output_max : c->req.output_max;
    char *body = gw_body_upstream (&c->req, c->granted_max), *url = upstream_url (&c->req);
    if (!body || !url) {
        free (body);
        free (url);
        return MHD_NO;
    }
    c->forward_us = gw_now_us ();
    c->up = gw_up_new (url, gw_hdr_upstream (c->con, c->req.prov->proto == LLM_ANTHROPIC,
                                       c->secret), body,
                       c->ctx->timeout_s);
    free (url);
    if (!c->up)
        return MHD_NO;
    c->status = gw_up_head (c->up);
    if (!c->status) {
        bool timeout = gw_up_error (c->up) == GW_UP_TIMEOUT;
        c->status = timeout ? 504 : 502;
        c->up_failed = c->finished = true;
        struct MHD_Response *rsp = error_response (proto, c->status,
            timeout ? "upstream_timeout" : "upstream_unreachable",
            timeout ? "the provider did not answer in time" : "the provider could not be reached");
        if (rsp)
            MHD_add_response_header (rsp, "x-caisson-call", c->call);
        return queue (c->con, c->status, rsp);
    }
    if (c->status < 200 || c->status > 299)
        return pass_error (c, g);
    const char *ct = gw_up_header (c->up, "Content-Type");
    if (c->req.stream && ct && strstr (ct, "text/event-stream"))
        c->sse = gw_sse_new (proto, c->req.add_usage);
    struct MHD_Response *rsp = MHD_create_response_from_callback (MHD_SIZE_UNKNOWN, 16384,
                                                                  read_answer, c, NULL);
    if (!rsp)
        return MHD_NO;
    gw_hdr_pass (rsp, c->up);
    grant_headers (rsp, c, g);
    return queue (c->con, c->status, rsp);
}

static proto_msg_t *
reserve_msg (const gw_call_t *c, const char *secret_vk)
{
    proto_msg_t *m = proto_msg_new (PROTO_gkey_reserve, NULL);
    proto_gkey_reserve_t *b = &m->body.gkey_reserve;
    uint8_t hash[32];
    vkey_hash (secret_vk, hash);
    proto_set_str (&b->call, c->call);
    proto_set_bytes (&b->key_hash, hash, sizeof hash);
    proto_set_str (&b->model, c->req.model);
    proto_set_str (&b->route, gw_route_name (c->req.route));
    b->input_bound = c->req.input_bound;
    uint64_t out = c->req.output_max + c->req.extra_output;
    b->output_max = out < c->req.output_max ? UINT64_MAX : out;
    /* a grant cut below the ask would come back as the max to send; with
     * a prediction the ask is more than that max, so it is not capped */
    b->capped = !c->req.client_max && c->req.route != GW_EMBEDDINGS && c->ctx->cap
                && !c->req.extra_output;
    proto_set_str (&b->gateway, c->ctx->instance);
    return m;
}

enum MHD_Result
gw_call_serve (struct MHD_Connection *con, const gw_ctx_t *ctx, gw_route_t route,
               const char *body, size_t len, const char *secret, int64_t arrived_us,
               gw_call_t **call_p)
{
    *call_p = NULL;
    llm_proto_t proto = proto_of (route);
    gw_call_t *c = calloc (1, sizeof *c);
    if (!c)
        return MHD_NO;
    gw_fail_t f;
    /* a beta such as context-1m lets the model read past the table's
     * window, so the window bounds nothing then */
    gw_body_opts_t o = ctx->body;
    const char *beta = MHD_lookup_connection_value (con, MHD_HEADER_KIND, "anthropic-beta");
    o.window_unknown = route == GW_MESSAGES && beta && strstr (beta, "context-");
    if (gw_body_parse (&c->req, route, body, len, &o, &f)) {
        free (c);
        return gw_call_refuse (con, proto, f.status, f.code, f.msg);
    }
    c->ctx = ctx;
    c->con = con;
    c->body_len = len;
    c->arrived_us = arrived_us;
    c->secret = llm_provider_key (c->req.prov);
    if (!(c->mask = gw_mask_new (c->secret))) {
        gw_body_clear (&c->req);
        free (c);
        return MHD_NO;
    }
    cid_new (c->call);
    proto_msg_t *req = reserve_msg (c, secret);
    proto_msg_t *rep = gw_bus_request (ctx->bus, req);
    proto_msg_destroy (&req);
    enum MHD_Result rc;
    bool error = rep && rep->type == PROTO_error;
    if (error && !strcmp (rep->body.error.code ?: "", "store_full")) {
        /* the client can do nothing but wait: say what an operator must do */
        clog_error (c->call, "gkey.reserve: %s", rep->body.error.message ?: "store_full");
        rc = gw_call_refuse (con, proto, 503, "keys_store_full",
                             "the gateway's key store is full, so no call can be reserved "
                             "(an operator must raise CAISSON_GATEWAY_KEYS_MAP_MB); "
                             "the call was not forwarded");
    }
    else if (!rep || rep->type != PROTO_gkey_grant) {
        clog_warn (c->call, "gkey.reserve: %s", !rep ? "no answer from gateway-keys"
                   : error ? rep->body.error.message : "an answer of the wrong type");
        rc = gw_call_refuse (con, proto, 503, "keys_unavailable",
                             "the gateway cannot check keys now (gateway-keys did not answer)");
    }
    else if (!rep->body.gkey_grant.ok)
        rc = refuse_grant (con, proto, &rep->body.gkey_grant);
    else {
        rc = forward (c, &rep->body.gkey_grant);
        *call_p = c;
        c = NULL;
    }
    proto_msg_destroy (&rep);
    if (c) {
        gw_body_clear (&c->req);
        gw_mask_destroy (&c->mask);
        free (c);
    }
    return rc;
}

static const char *
outcome (const gw_call_t *c, const gw_usage_t *u)
{
    if (!c->status)
        return "upstream_failed";   /* it never got going */
    if (c->status < 200 || c->status > 299)
        return c->up_failed && !c->forwarded ? "upstream_failed" : "provider_error";
    if (c->up_failed)
        return "upstream_failed";
    if (c->client_gone)
        return "client_gone";
    return u->seen ? "ok" : "no_usage";
}

static void
settle (gw_call_t *c)
{
    gw_usage_t u = c->usage;
    if (c->sse)
        u = *gw_sse_usage (c->sse);
    else if (c->keep)
        gw_usage_of_body (proto_of (c->req.route), c->keep, c->keep_len, &u);
    bool ok2xx = c->status >= 200 && c->status <= 299;
    bool estimated = ok2xx && !u.seen;
    if (estimated) {
        uint64_t out_max = (c->granted_max ? c->granted_max : c->req.output_max)
                           + c->req.extra_output;
        /* A client that hung up chose when: the provider read (and bills)
         * the whole prompt, a token per byte at worst, so its bound. A
         * provider that reports nothing is charged the most the call can
         * have used (no_usage_bound: a token is at least a byte of what
         * was forwarded), unless the deployment chose bytes / 4, which
         * undercharges token-dense text (digits, CJK) up to 4 times. */
        bool bound = c->client_gone || c->ctx->no_usage_bound;
        u.in = bound || c->req.input_bound < c->body_len / 4 ? c->req.input_bound
                                                             : c->body_len / 4;
        uint64_t out = c->ctx->no_usage_bound && !c->client_gone ? c->forwarded
                                                                 : c->forwarded / 4;
        u.out = out < out_max ? out : out_max;
    }
    proto_msg_t *m = proto_msg_new (PROTO_gkey_settle, NULL);
    proto_gkey_settle_t *b = &m->body.gkey_settle;
    proto_set_str (&b->call, c->call);
    proto_set_str (&b->model, c->req.model);
    /* gateway-keys charges input + cache_write as input: u.in already
     * counts the tokens written to the cache, so they go in one place */
    b->input = u.in > u.cache_write ? u.in - u.cache_write : 0;
    b->output = u.out;
    b->cached = u.cached;
    b->cache_write = u.cache_write;
    b->status = (uint64_t) c->status;
    proto_set_str (&b->outcome, outcome (c, &u));
    b->estimated = estimated;
    int64_t now = gw_now_us ();
    b->ttfb_us = c->first_us ? (uint64_t) (c->first_us - c->arrived_us) : 0;
    b->total_us = (uint64_t) (now - c->arrived_us);
    b->overhead_us = c->forward_us ? (uint64_t) (c->forward_us - c->arrived_us) : 0;
    b->stream = c->req.stream;
    clog_info (c->call, "{\"model\":\"%s\",\"status\":%d,\"outcome\":\"%s\",\"in\":%llu,"
               "\"out\":%llu,\"ttfbUs\":%llu,\"totalUs\":%llu}", c->req.model, c->status,
               b->outcome, (unsigned long long) u.in, (unsigned long long) u.out,
               (unsigned long long) b->ttfb_us, (unsigned long long) b->total_us);
    gw_bus_post (c->ctx->bus, m);
}

void
gw_call_end (gw_call_t **call_p, bool ok)
{
    if (!call_p || !*call_p)
        return;
    gw_call_t *c = *call_p;
    if (!ok && !c->finished && !c->up_failed)
        c->client_gone = true;
    gw_up_destroy (&c->up);     /* cancels a call still running */
    settle (c);
    gw_sse_destroy (&c->sse);
    gw_mask_destroy (&c->mask);
    free (c->keep);
    gw_body_clear (&c->req);
    free (c);
    *call_p = NULL;
}
