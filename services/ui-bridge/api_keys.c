/* api_keys: the model gateway's virtual keys, budgets and spend over HTTP
 * (docs/gateway.md, docs/api.md): the `gkey` requests gateway-keys
 * answers and event-log's spend.read. Users see and change their own keys
 * (gateway-keys and event-log check the envelope's user, so this module
 * and the CLI cannot disagree); an operator names anyone with `?user=`.
 * A key's secret is in the answer to its POST only. */
#include "api.h"

#include <stdlib.h>
#include <string.h>

#define TIMEOUT_MS 5000

/* Copies the named query parameters into body: strings, or whole numbers
 * when numeric is set. NULL, or the 400 to answer. */
static http_res_t *
query_into (http_req_t *req, json_t *body, const char *const names[], bool numeric)
{
    for (size_t i = 0; names[i]; i++) {
        const char *v = http_query (req, names[i]);
        if (!v)
            continue;
        if (!numeric) {
            json_object_set_new (body, names[i], json_string (v));
            continue;
        }
        char *end;
        unsigned long long n = strtoull (v, &end, 10);
        if (*v < '0' || *v > '9' || *end)
            return http_res_error (400, "bad_value", "%s: expected a whole number", names[i]);
        json_object_set_new (body, names[i], json_integer ((json_int_t) n));
    }
    return NULL;
}

/* `budgetUsd` (dollars, a number) in obj becomes `budgetNusd`. NULL, or
 * the 400 to answer. */
static http_res_t *
usd_to_nusd (json_t *obj)
{
    json_t *usd = json_object_get (obj, "budgetUsd");
    if (!usd)
        return NULL;
    double v = json_number_value (usd);
    json_int_t nusd = (json_int_t) (v * 1e9 + 0.5);
    /* a positive amount rounding to 0 would be no budget at all (0: none) */
    if (!json_is_number (usd) || v < 0 || v > 1e9 || (v > 0 && !nusd))
        return http_res_error (400, "bad_value", "budgetUsd: expected dollars, 0 (none) or "
                               "at least 1e-9, to 1e9");
    json_object_set_new (obj, "budgetNusd", json_integer (nusd));
    json_object_del (obj, "budgetUsd");
    return NULL;
}

/* Asks service with body (taken) and answers status with its reply. */
static http_res_t *
ask (app_t *app, http_req_t *req, const char *service, proto_type_t type, json_t *body,
     int status)
{
    json_t *rep;
    http_res_t *err = app_call_json (app, req, service, type, body, TIMEOUT_MS, &rep);
    json_decref (body);
    return err ? err : http_res_json (status, rep);
}

http_res_t *
api_keys_list (app_t *app, http_req_t *req)
{
    json_t *body = json_object ();
    static const char *const names[] = { "user", "kind", NULL };
    query_into (req, body, names, false);
    const char *revoked = http_query (req, "revoked");
    if (revoked && (!strcmp (revoked, "1") || !strcmp (revoked, "true")))
        json_object_set_new (body, "revoked", json_true ());
    return ask (app, req, "gateway-keys", PROTO_gkey_list, body, 200);
}

http_res_t *
api_keys_create (app_t *app, http_req_t *req)
{
    json_t *in = NULL;
    http_res_t *err = app_body (req, &in);
    if (err || (err = usd_to_nusd (in))) {
        json_decref (in);
        return err;
    }
    return ask (app, req, "gateway-keys", PROTO_gkey_create, in, 201);
}

http_res_t *
api_keys_revoke (app_t *app, http_req_t *req)
{
    if (!app_valid_id (req->params[0], 16))
        return http_res_error (404, "not_found", "no such key");
    json_t *body = json_pack ("{s:s}", "keyId", req->params[0]);
    return ask (app, req, "gateway-keys", PROTO_gkey_revoke, body, 200);
}

http_res_t *
api_keys_usage (app_t *app, http_req_t *req)
{
    if (!app_valid_id (req->params[0], 16))
        return http_res_error (404, "not_found", "no such key");
    json_t *body = json_pack ("{s:s}", "keyId", req->params[0]);
    return ask (app, req, "gateway-keys", PROTO_gkey_usage_get, body, 200);
}

http_res_t *
api_usage (app_t *app, http_req_t *req)
{
    json_t *body = json_object ();
    static const char *const names[] = { "user", NULL };
    query_into (req, body, names, false);
    return ask (app, req, "gateway-keys", PROTO_gkey_usage_get, body, 200);
}

http_res_t *
api_user_budget (app_t *app, http_req_t *req)
{
    if (!req->operator_)
        return http_res_error (403, "forbidden", "only an operator sets a user's budget");
    json_t *in = NULL;
    http_res_t *err = app_body (req, &in);
    if (err || (err = usd_to_nusd (in))) {
        json_decref (in);
        return err;
    }
    json_object_set_new (in, "user", json_string (req->params[0]));
    return ask (app, req, "gateway-keys", PROTO_gkey_user_set, in, 200);
}

http_res_t *
api_spend (app_t *app, http_req_t *req)
{
    json_t *body = json_object ();
    static const char *const strs[] = { "user", "keyId", NULL };
    static const char *const nums[] = { "since", "until", "fromSeq", "limit", NULL };
    query_into (req, body, strs, false);
    http_res_t *err = query_into (req, body, nums, true);
    if (err) {
        json_decref (body);
        return err;
    }
    return ask (app, req, "event-log", PROTO_spend_read, body, 200);
}
