/* gw_body: see gw_body.h. */
#include "gw_body.h"
#include "jsoncap.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

const char *
gw_route_name (gw_route_t route)
{
    return route == GW_CHAT ? "chat" : route == GW_MESSAGES ? "messages" : "embeddings";
}

static int
fail (gw_fail_t *f, const char *code, const char *msg)
{
    f->status = 400;
    snprintf (f->code, sizeof f->code, "%s", code);
    snprintf (f->msg, sizeof f->msg, "%s", msg);
    return -1;
}

/* The alias's target for a bare name in list (`bare=provider/model`,
 * comma-separated) into out; false when it has none. */
static bool
alias_of (const char *list, const char *name, char *out, size_t n)
{
    size_t nl = strlen (name);
    for (const char *p = list; p && *p;) {
        const char *end = strchr (p, ','), *eq = strchr (p, '=');
        size_t len = end ? (size_t) (end - p) : strlen (p);
        while (len && *p == ' ') {
            p++;
            len--;
        }
        if (eq && eq < p + len && (size_t) (eq - p) == nl && !memcmp (p, name, nl)) {
            snprintf (out, n, "%.*s", (int) (len - nl - 1), eq + 1);
            return true;
        }
        p = end ? end + 1 : NULL;
    }
    return false;
}

/* Model names are letters, digits and `-._:/@+` (`accounts/x/models/y`,
 * `claude-x@20240620`): anything else is no model, and would go into logs,
 * headers and metrics. */
static bool
name_ok (const char *s)
{
    for (; *s; s++)
        if (!isalnum ((unsigned char) *s) && !strchr ("-._:/@+", *s))
            return false;
    return true;
}

static int
resolve (gw_req_t *r, const char *name, const gw_body_opts_t *o, gw_fail_t *f)
{
    if (!name_ok (name))
        return fail (f, "model_not_found", "a model name is letters, digits and -._:/@+");
    char m[256];
    if (!alias_of (o->aliases, name, m, sizeof m))
        snprintf (m, sizeof m, "%s", name);
    const char *model = NULL;
    const llm_provider_t *p = llm_provider_find (m, &model);
    if (!p) {
        const char *dp = r->route == GW_MESSAGES ? "anthropic" : o->default_provider;
        char full[256];
        if (snprintf (full, sizeof full, "%s/%s", dp, m) < (int) sizeof full) {
            memcpy (m, full, sizeof m);
            p = llm_provider_find (m, &model);
        }
    }
    if (!p || !model || !*model || strlen (m) >= sizeof r->model)
        return fail (f, "model_not_found", "unknown model: write provider/model");
    llm_proto_t want = r->route == GW_MESSAGES ? LLM_ANTHROPIC : LLM_OPENAI;
    if (p->proto != want) {
        snprintf (f->msg, sizeof f->msg, "%s speaks the %s protocol: POST %s", m,
                  p->proto == LLM_ANTHROPIC ? "Anthropic" : "OpenAI",
                  p->proto == LLM_ANTHROPIC ? "/v1/messages" : "/v1/chat/completions");
        f->status = 400;
        snprintf (f->code, sizeof f->code, "wrong_protocol");
        return -1;
    }
    snprintf (r->model, sizeof r->model, "%s", m);
    r->model_at = (size_t) (model - m);
    r->prov = p;
    return 0;
}

static bool
is_image (const json_t *v)
{
    const char *t = json_string_value (json_object_get (v, "type"));
    return t && (!strcmp (t, "image_url") || !strcmp (t, "image") || !strcmp (t, "input_image"));
}

/* A document or file (a PDF, whatever its source): billed by page, as
 * images and text, with no bound its bytes give. */
static bool
is_document (const json_t *v)
{
    const char *t = json_string_value (json_object_get (v, "type"));
    return t && (!strcmp (t, "document") || !strcmp (t, "file") || !strcmp (t, "input_file"));
}

/* Tokens an image of model is reserved: the figure of the first entry of
 * spec (`pattern=N;...`, a pattern `provider/model`, or ending in `*` for a
 * prefix, `*` alone for any) that matches. Models bill images so
 * differently (gpt-4o-mini 48169 tokens for what gpt-4o bills 1445) that
 * one figure would either overshoot budgets or refuse screenshots. */
uint64_t
gw_body_image_tokens (const char *spec, const char *model)
{
    const char *p = spec ? spec : "";
    while (*p) {
        const char *end = strchr (p, ';'), *eq = strchr (p, '=');
        if (!end)
            end = p + strlen (p);
        if (eq && eq < end) {
            size_t n = (size_t) (eq - p);
            bool prefix = n && p[n - 1] == '*';
            size_t cmp = prefix ? n - 1 : n;
            if (prefix ? !strncmp (model, p, cmp)
                       : strlen (model) == n && !strncmp (model, p, n))
                return strtoull (eq + 1, NULL, 10);
        }
        p = *end ? end + 1 : end;
    }
    return GW_IMAGE_TOKENS_UNLISTED;
}

/* Most tokens v can be: its strings' and keys' bytes, 2 a number, an
 * image `image` tokens (its data not counted); *docs counts documents. */
static uint64_t
bound (const json_t *v, uint64_t image, size_t *docs)
{
    uint64_t n = 0;
    if (json_is_string (v))
        return json_string_length (v);
    if (json_is_number (v) || json_is_boolean (v))
        return 2;
    if (json_is_object (v)) {
        if (is_image (v))
            return image;
        if (is_document (v)) {
            (*docs)++;
            return 0;
        }
        const char *k;
        json_t *x;
        json_object_foreach ((json_t *) v, k, x)
            n += strlen (k) + bound (x, image, docs);
    }
    else if (json_is_array (v)) {
        size_t i;
        json_t *x;
        json_array_foreach (v, i, x)
            n += bound (x, image, docs);
    }
    return n;
}

/* The model's context window when the project knows it as a maximum
 * (CAISSON_MODEL_CONTEXT, or a model family's row of a hosted provider),
 * else 0: a provider's default or a local server's figure is a guess, and
 * a guess on the small side would let a call be billed past its bound. */
static uint64_t
window_of (const gw_req_t *r, const gw_body_opts_t *o)
{
    return r->prov->key_env && !o->window_unknown ? llm_provider_context_known (r->model) : 0;
}

/* Field k of req, a count, into *out (0 when absent or null); -1 when it
 * is there but no positive integer: a provider may read 1e5 or "4" as a
 * count the gateway would not have reserved for. */
static int
count_of (const json_t *req, const char *k, uint64_t *out)
{
    const json_t *v = json_object_get (req, k);
    *out = 0;
    if (!v || json_is_null (v))
        return 0;
    if (!json_is_integer (v) || json_integer_value (v) <= 0)
        return -1;
    *out = (uint64_t) json_integer_value (v);
    return 0;
}

/* What of req the provider would run and bill itself (its name), else
 * NULL: a server tool (web search, web fetch, code execution) costs per
 * use outside the token counts and adds its results as input no byte of
 * the request bounds, and MCP servers or web fetches reach any URL. Tools
 * are allowed by type: the ones the client runs (functions, custom tools,
 * Anthropic's schema-less client tools), so a new server tool is refused
 * until known. */
static const char *
server_tool (const json_t *req)
{
    static const char *const fields[] = { "mcp_servers", "web_search_options", "container",
                                          NULL };
    for (size_t i = 0; fields[i]; i++) {
        const json_t *v = json_object_get (req, fields[i]);
        if (v && !json_is_null (v))
            return fields[i];
    }
    static const char *const client[] = { "function", "custom", "bash_", "text_editor_",
                                          "computer_", "memory_", NULL };
    size_t i;
    const json_t *t;
    json_array_foreach (json_object_get (req, "tools"), i, t) {
        const json_t *tv = json_object_get (t, "type");
        if (!tv || json_is_null (tv))
            continue;
        const char *type = json_string_value (tv);
        bool ok = false;
        for (size_t j = 0; type && !ok && client[j]; j++) {
            size_t n = strlen (client[j]);
            ok = client[j][n - 1] == '_' ? !strncmp (type, client[j], n)
                                         : !strcmp (type, client[j]);
        }
        if (!ok)
            return type ? type : "tools";
    }
    return NULL;
}

int
gw_body_parse (gw_req_t *r, gw_route_t route, const char *body, size_t len,
               const gw_body_opts_t *o, gw_fail_t *f)
{
    memset (r, 0, sizeof *r);
    r->route = route;
    json_error_t jerr;
    r->req = json_loadb (body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object (r->req)) {
        char msg[400];
        snprintf (msg, sizeof msg, "the body is not a JSON object: %s", jerr.text);
        gw_body_clear (r);
        return fail (f, "invalid_json", msg);
    }
    if (jsoncap_depth (r->req, GW_MAX_DEPTH) > GW_MAX_DEPTH) {
        gw_body_clear (r);
        return fail (f, "too_deep", "the body nests deeper than 64 levels");
    }
    const char *model = json_string_value (json_object_get (r->req, "model"));
    if (!model || !*model) {
        gw_body_clear (r);
        return fail (f, "missing_model", "the body names no model");
    }
    if (resolve (r, model, o, f)) {
        gw_body_clear (r);
        return -1;
    }
    const json_t *st = json_object_get (r->req, "stream");
    if (st && !json_is_null (st) && !json_is_boolean (st)) {
        /* a provider may read "true" as a stream the gateway would not */
        gw_body_clear (r);
        return fail (f, "invalid_request", "stream must be true or false");
    }
    r->stream = route != GW_EMBEDDINGS && json_is_true (st);
    /* a priority tier is billed above the prices budgets are counted in */
    const json_t *tier = json_object_get (r->req, "service_tier");
    const char *tn = json_string_value (tier);
    if (tier && !json_is_null (tier)
        && (!tn || (strcmp (tn, "auto") && strcmp (tn, "default") && strcmp (tn, "flex")
                    && strcmp (tn, "standard_only")))) {
        gw_body_clear (r);
        return fail (f, "tier_not_allowed", "service_tier may be auto, default, flex or "
                     "standard_only: other tiers are billed above the gateway's prices");
    }
    const char *tool = server_tool (r->req);
    if (tool) {
        char msg[300];
        snprintf (msg, sizeof msg, "%.64s is run and billed by the provider outside the "
                  "gateway's budgets: only tools the client runs (functions) are allowed", tool);
        gw_body_clear (r);
        return fail (f, "tool_not_allowed", msg);
    }
    const char *skip[] = { "model", "stream", "stream_options", "max_tokens",
                           "max_completion_tokens", "temperature", "top_p", "n", "user",
                           "metadata", NULL };
    const char *k;
    json_t *x, *msgs = json_object_get (r->req, route == GW_EMBEDDINGS ? "input" : "messages");
    size_t docs = 0;
    uint64_t image = gw_body_image_tokens (o->image_tokens, r->model);
    json_object_foreach (r->req, k, x) {
        bool params = false;
        for (size_t i = 0; skip[i]; i++)
            params |= !strcmp (k, skip[i]);
        if (!params)
            r->input_bound += bound (x, image, &docs);
    }
    r->input_bound += GW_MESSAGE_TOKENS * (json_is_array (msgs) ? json_array_size (msgs) : 1);
    /* input never exceeds the window (the provider refuses more), so it is
     * a true bound, and the one a document has */
    uint64_t window = window_of (r, o);
    if (window && (docs || r->input_bound > window))
        r->input_bound = window;
    else if (docs && r->input_bound < o->document_tokens)
        r->input_bound = o->document_tokens;
    if (route == GW_EMBEDDINGS)
        return 0;
    uint64_t mct, mt, n = 0;
    if (count_of (r->req, "max_completion_tokens", &mct) || count_of (r->req, "max_tokens", &mt)
        || (route == GW_CHAT && count_of (r->req, "n", &n))) {
        gw_body_clear (r);
        return fail (f, "invalid_request",
                     "max_tokens, max_completion_tokens and n must be positive integers");
    }
    /* both named: the provider may read either, so the larger is reserved */
    uint64_t max = mct > mt ? mct : mt;
    r->client_max = max > 0;
    if (!max) {
        const mprice_t *p = o->prices ? mprice_of (o->prices, r->model) : NULL;
        max = p && p->max_out ? p->max_out : o->max_output;
    }
    /* n choices: each may use the whole max */
    r->choices = n > 1 ? n : 1;
    r->output_max = max > UINT64_MAX / r->choices ? UINT64_MAX : max * r->choices;
    /* OpenAI bills a `prediction`'s rejected tokens as output, past the
     * max: at most a token a byte of it */
    const json_t *pred = json_object_get (r->req, "prediction");
    if (pred) {
        size_t ignored = 0;
        r->extra_output = bound (pred, image, &ignored);
    }
    if (r->stream && route == GW_CHAT && !(r->prov->quirks & LLM_QUIRK_NO_STREAM_OPTIONS))
        r->add_usage = !json_is_true (json_object_get (json_object_get (r->req, "stream_options"),
                                                       "include_usage"));
    return 0;
}

void
gw_body_clear (gw_req_t *r)
{
    json_decref (r->req);
    r->req = NULL;
}

char *
gw_body_upstream (const gw_req_t *r, uint64_t granted_max)
{
    json_t *up = json_deep_copy (r->req);
    if (!up)
        return NULL;
    json_object_set_new (up, "model", json_string (r->model + r->model_at));
    if (r->add_usage) {
        json_t *so = json_object_get (up, "stream_options");
        if (!json_is_object (so))
            json_object_set_new (up, "stream_options", so = json_object ());
        json_object_set_new (so, "include_usage", json_true ());
    }
    if (r->prov->quirks & LLM_QUIRK_NO_STREAM_OPTIONS)
        json_object_del (up, "stream_options");
    if (!r->client_max && granted_max && r->route != GW_EMBEDDINGS) {
        bool openai = !strcmp (r->prov->name, "openai");
        uint64_t each = granted_max / (r->choices ? r->choices : 1);
        json_object_set_new (up, openai ? "max_completion_tokens" : "max_tokens",
                             json_integer ((json_int_t) (each ? each : 1)));
    }
    char *out = json_dumps (up, JSON_COMPACT);
    json_decref (up);
    return out;
}
