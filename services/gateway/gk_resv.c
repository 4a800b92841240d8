/* gk_resv: reserve, the check-and-reserve of a call. See gk_resv.h. */
#include "gk_resv.h"
#include "cfg.h"
#include "clog.h"
#include "vkey.h"

#include <czmq.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define DEADLINE_SLACK_MS 60000

bool
gk_model_match (const char *pattern, const char *model)
{
    size_t n = strlen (pattern);
    if (!strcmp (pattern, "*") || !strcmp (pattern, model))
        return true;
    return n >= 2 && !strcmp (pattern + n - 2, "/*") && !strncmp (pattern, model, n - 1);
}

bool
gk_model_ceiling (const char *model)
{
    const char *s = cfg_str ("CAISSON_GATEWAY_MODELS");
    while (*s) {
        const char *comma = strchr (s, ',');
        size_t n = comma ? (size_t) (comma - s) : strlen (s);
        char pat[260];
        while (n && *s == ' ')
            s++, n--;
        while (n && s[n - 1] == ' ')
            n--;
        if (n && n < sizeof pat) {
            memcpy (pat, s, n);
            pat[n] = '\0';
            if (gk_model_match (pat, model))
                return true;
        }
        s = comma ? comma + 1 : s + strlen (s);
    }
    return false;
}

static bool
key_allows (const json_t *key, const char *model)
{
    const json_t *models = json_object_get (key, "models");
    if (!json_array_size (models))
        return true;
    size_t i;
    json_t *m;
    json_array_foreach (models, i, m)
        if (json_is_string (m) && gk_model_match (json_string_value (m), model))
            return true;
    return false;
}

static void
hex (const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf (out + 2 * i, 3, "%02x", b[i]);
}

/* Fills an ok grant from a stored reservation or charge (a repeat). */
static void
grant_from (proto_gkey_grant_t *g, const json_t *r)
{
    g->ok = true;
    g->output_max = gk_jnum (r, "out");
    proto_set_str (&g->key_id, gk_jstr (r, "keyId"));
    proto_set_str (&g->user, gk_jstr (r, "user"));
    proto_set_str (&g->kind, gk_jstr (r, "kind"));
    proto_set_str (&g->run, gk_jstr (r, "run"));
    proto_set_str (&g->sandbox_id, gk_jstr (r, "sandboxId"));
}

static void
refuse (proto_gkey_grant_t *g, uint64_t status, const char *code, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static void
refuse (proto_gkey_grant_t *g, uint64_t status, const char *code, const char *fmt, ...)
{
    char reason[1024];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (reason, sizeof reason, fmt, ap);
    va_end (ap);
    g->ok = false;
    g->status = status;
    proto_set_str (&g->code, code);
    proto_set_str (&g->reason, reason);
}

/* Counts one refusal in every scope of the chain. */
static int
count_refused (MDB_txn *txn, gk_t *gk, const gk_scope_t *sc, int n)
{
    for (int i = 0; i < n; i++) {
        gk_usage_t u;
        gk_usage_get (txn, gk, sc[i].ukey, sc[i].ukn, &u);
        u.refused = gk_add (u.refused, 1);
        int rc = gk_usage_put (txn, gk, sc[i].ukey, sc[i].ukn, &u);
        if (rc)
            return rc;
    }
    return 0;
}

/* The most output tokens (≤ max) whose cost with `in` input fits in room
 * nano-USD at price p. */
static uint64_t
afford_out (const mprice_t *p, uint64_t in, uint64_t room, uint64_t max)
{
    if (mprice_cost (p, in, 0, 0) > room)
        return 0;
    uint64_t lo = 0, hi = max;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo + 1) / 2;
        if (mprice_cost (p, in, 0, mid) <= room)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* Writes the 402 of scope s refusing a call of tok tokens and cost nusd. */
static void
refuse_budget (proto_gkey_grant_t *g, const gk_scope_t *s, const gk_usage_t *u, bool by_cost,
               uint64_t tok, uint64_t nusd)
{
    char budget[64], reset[32] = "never", name[160];
    snprintf (budget, sizeof budget, "%s.%s.%s", s->what, by_cost ? "cost" : "tokens",
              gk_win_name (s->win));
    if (s->reset)
        gk_win_iso (s->reset, reset, sizeof reset);
    snprintf (name, sizeof name, "%s %s", s->what, strchr (s->label, '.') + 1);
    const char *per = s->win == GK_WIN_TOTAL ? "in total" : s->win == GK_WIN_DAY ? "per day"
                    : s->win == GK_WIN_WEEK ? "per week" : "per month";
    if (by_cost) {
        char spent[32], lim[32], resv[32], cost[32];
        gk_usd_fmt (u->spent_nusd, spent, sizeof spent);
        gk_usd_fmt (s->lim_nusd, lim, sizeof lim);
        gk_usd_fmt (u->resv_nusd, resv, sizeof resv);
        gk_usd_fmt (nusd, cost, sizeof cost);
        refuse (g, 402, "budget_exceeded", "budget of %s exhausted: %s of %s %s spent, %s reserved "
                "by calls in flight, this call may cost up to %s; %s%s", name, spent, lim, per,
                resv, nusd == UINT64_MAX ? "more than any budget" : cost,
                s->reset ? "resets " : "", s->reset ? reset : "never resets");
    }
    else
        refuse (g, 402, "budget_exceeded", "token budget of %s exhausted: %llu of %llu tokens %s "
                "spent, %llu reserved by calls in flight, this call may use up to %llu; %s%s",
                name, (unsigned long long) u->spent_tok, (unsigned long long) s->lim_tok, per,
                (unsigned long long) u->resv_tok, (unsigned long long) tok,
                s->reset ? "resets " : "", s->reset ? reset : "never resets");
    proto_set_str (&g->budget, budget);
    g->reset_at = s->reset;
}

/* Checks the chain for a call of in input and up to *out output tokens;
 * with capped, lowers *out to what every budget affords (at least
 * min_out). Returns the index of the refusing scope, or -1. */
static int
check_budgets (const gk_scope_t *sc, const gk_usage_t *u, int n, const mprice_t *p,
               uint64_t in, uint64_t *out, bool capped, bool *by_cost)
{
    uint64_t want = *out, min_out = cfg_u64 ("CAISSON_GATEWAY_MIN_OUTPUT");
    if (min_out > want)
        min_out = want;
    for (int i = 0; i < n; i++) {
        uint64_t used_t = gk_add (u[i].spent_tok, u[i].resv_tok);
        uint64_t used_c = gk_add (u[i].spent_nusd, u[i].resv_nusd);
        if (sc[i].lim_tok && gk_add (used_t, gk_add (in, *out)) > sc[i].lim_tok) {
            uint64_t room = gk_sub0 (gk_sub0 (sc[i].lim_tok, used_t), in);
            if (!capped || room < min_out || gk_add (used_t, in) > sc[i].lim_tok) {
                *by_cost = false;
                return i;
            }
            *out = room;
        }
        if (sc[i].lim_nusd && gk_add (used_c, mprice_cost (p, in, 0, *out)) > sc[i].lim_nusd) {
            uint64_t room = afford_out (p, in, gk_sub0 (sc[i].lim_nusd, used_c), *out);
            if (!capped || room < min_out || gk_add (used_c, mprice_cost (p, in, 0, room))
                                             > sc[i].lim_nusd) {
                *by_cost = true;
                return i;
            }
            *out = room;
        }
    }
    return -1;
}

int
gk_reserve (MDB_txn *txn, gk_t *gk, const proto_gkey_reserve_t *req, uint64_t now_ms,
            proto_gkey_grant_t *g, char *why, size_t n)
{
    if (req->key_hash.size != 32) {
        snprintf (why, n, "key_hash: expected 32 bytes (sha256), got %zu", req->key_hash.size);
        return -1;
    }
    char id[VKEY_ID_SIZE];
    vkey_id (req->key_hash.data, id);
    const char *call = req->call;
    json_t *prior = gk_json_get (txn, gk, GK_DB_RESV, call, strlen (call));
    if (!prior)
        prior = gk_json_get (txn, gk, GK_DB_DONE, call, strlen (call));
    if (prior) {
        /* A repeat of a call already granted: answered as the first was. */
        bool same = !strcmp (gk_jstr (prior, "keyId") ?: "", id);
        if (same)
            grant_from (g, prior);
        json_decref (prior);
        if (same)
            return 0;
        snprintf (why, n, "call %s was reserved with another key", call);
        return -1;
    }
    MDB_val hk = { 32, req->key_hash.data }, hv;
    json_t *key = NULL;
    if (!mdb_get (txn, gk_dbi (gk, GK_DB_HASHES), &hk, &hv) && hv.mv_size < VKEY_ID_SIZE)
        key = gk_json_get (txn, gk, GK_DB_KEYS, hv.mv_data, hv.mv_size);
    if (!key) {
        refuse (g, 401, "invalid_api_key", "invalid API key: no such virtual key");
        return 0;
    }
    proto_set_str (&g->key_id, id);
    proto_set_str (&g->user, gk_jstr (key, "user"));
    proto_set_str (&g->kind, gk_jstr (key, "kind"));
    proto_set_str (&g->run, gk_jstr (key, "run"));
    proto_set_str (&g->sandbox_id, gk_jstr (key, "sandboxId"));
    uint64_t exp = gk_jnum (key, "expiresAt");
    gk_scope_t sc[GK_SCOPES];
    gk_usage_t u[GK_SCOPES];
    int ns = gk_chain (txn, gk, key, now_ms, sc);
    for (int i = 0; i < ns; i++)
        gk_usage_get (txn, gk, sc[i].ukey, sc[i].ukn, &u[i]);
    const mprice_t *p = mprice_of (gk->prices, req->model);
    bool costed = false;
    for (int i = 0; i < ns; i++)
        costed |= sc[i].lim_nusd != 0;
    uint64_t out = req->output_max, in = req->input_bound;
    int rc = 0, bad;
    bool by_cost = false;
    if (exp && now_ms >= exp)
        refuse (g, 401, "key_expired", "virtual key %s expired", id);
    else if (json_is_true (json_object_get (key, "revoked")))
        refuse (g, 401, "key_revoked", "virtual key %s was revoked", id);
    else if (!key_allows (key, req->model) || !gk_model_ceiling (req->model))
        refuse (g, 403, "model_not_allowed", "model %s is not allowed for key %s", req->model, id);
    else if (!p && costed && !gk->unpriced_free)
        refuse (g, 403, "model_not_allowed", "model %s has no price (CAISSON_GATEWAY_PRICES) and "
                "key %s has a cost budget", req->model, id);
    else if ((bad = check_budgets (sc, u, ns, p, in, &out, req->capped, &by_cost)) >= 0)
        refuse_budget (g, &sc[bad], &u[bad], by_cost, gk_add (in, out),
                       mprice_cost (p, in, 0, out));
    else {
        gk_rate_verdict_t v = gk_rate_take (gk->rate, id, gk_jnum (key, "rpm"),
                                            gk_jnum (key, "tpm"), gk_add (in, out), now_ms);
        g->rl_limit_req = gk_jnum (key, "rpm");
        g->rl_limit_tok = gk_jnum (key, "tpm");
        g->rl_left_req = v.left_req;
        g->rl_left_tok = v.left_tok;
        if (!v.ok) {
            refuse (g, 429, v.by_tokens ? "rate_limit_tokens" : "rate_limit_requests",
                    "rate limit of key %s: %llu %s per minute; retry in %llu s", id,
                    (unsigned long long) gk_jnum (key, v.by_tokens ? "tpm" : "rpm"),
                    v.by_tokens ? "tokens" : "requests", (unsigned long long) v.retry_after_s);
            g->retry_after_s = v.retry_after_s;
        }
    }
    if (!g->ok && g->status) {
        rc = count_refused (txn, gk, sc, ns);
        json_decref (key);
        return rc;
    }
    /* Granted: reserve in every scope and remember the call. */
    uint64_t tok = gk_clamp63 (gk_add (in, out)), nusd = gk_clamp63 (mprice_cost (p, in, 0, out));
    json_t *scopes = json_array ();
    for (int i = 0; i < ns && !rc; i++) {
        char h[2 * GK_UKEY_MAX + 1];
        hex (sc[i].ukey, sc[i].ukn, h);
        json_array_append_new (scopes, json_string (h));
        u[i].resv_tok = gk_add (u[i].resv_tok, tok);
        u[i].resv_nusd = gk_add (u[i].resv_nusd, nusd);
        u[i].calls = gk_add (u[i].calls, 1);
        rc = gk_usage_put (txn, gk, sc[i].ukey, sc[i].ukn, &u[i]);
    }
    g->ok = true;
    g->output_max = out;
    uint64_t deadline = now_ms + cfg_u64 ("CAISSON_GATEWAY_UPSTREAM_TIMEOUT_S") * 1000
                        + DEADLINE_SLACK_MS;
    json_t *r = json_pack ("{s:o, s:I, s:I, s:s, s:I, s:I, s:s, s:s, s:s, s:I, s:s?, s:s?, s:s?, "
                           "s:s?}", "scopes", scopes, "tok", (json_int_t) tok, "nusd",
                           (json_int_t) nusd, "gateway", req->gateway, "deadline",
                           (json_int_t) deadline, "at", (json_int_t) now_ms, "keyId", id,
                           "model", req->model, "route", req->route, "out",
                           (json_int_t) gk_clamp63 (out),
                           "user", gk_jstr (key, "user"), "kind", gk_jstr (key, "kind"), "run",
                           gk_jstr (key, "run"), "sandboxId", gk_jstr (key, "sandboxId"));
    json_decref (key);
    if (!r)
        return rc ? rc : ENOMEM;
    if (!rc)
        rc = gk_json_put (txn, gk, GK_DB_RESV, call, strlen (call), r);
    if (!rc)
        rc = gk_index (txn, gk, GK_DB_RESV_GW, req->gateway, call, true);
    json_decref (r);
    return rc;
}
