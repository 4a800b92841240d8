/* run_json: a run's JSON form (see run.h): what is saved at each
 * transition and read back after a restart. run_from_json checks every
 * field, since the text comes back from disk and may be anything. */
#include "run_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MESSAGES 65536      /* far above what 256 KiB of thread holds */

json_t *
run_to_json (const run_t *r)
{
    int64_t until = run_live (r) ? r->host->now_ms (r->arg) : r->ended_ms;
    int64_t seconds = until > r->started_ms ? (until - r->started_ms) / 1000 : 0;
    json_t *j = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:s, s:O, s:O?, s:O?, s:I, s:i,"
                           " s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I},"
                           " s:I}",
                           "id", r->id, "thread", r->thread, "model", r->model, "user", r->user,
                           "task", r->task, "status", proto_run_status_name (r->status),
                           "answer", r->answer, "reason",
                           r->reason, "messages", r->messages, "policy", r->policy, "calls",
                           r->calls, "next", (json_int_t) r->next, "verifyRounds",
                           r->verify_rounds, "max", "steps", (json_int_t) r->max.steps,
                           "toolCalls", (json_int_t) r->max.tool_calls, "seconds",
                           (json_int_t) r->max.seconds, "tokens", (json_int_t) r->max.tokens,
                           "used", "steps", (json_int_t) r->steps, "toolCalls",
                           (json_int_t) r->tool_calls, "seconds", (json_int_t) seconds,
                           "tokens", (json_int_t) (r->in_tokens + r->out_tokens),
                           "tokens", "input", (json_int_t) r->in_tokens, "output",
                           (json_int_t) r->out_tokens, "cached", (json_int_t) r->cached_tokens,
                           "startedWall", (json_int_t) r->started_ms);
    if (j) {
        json_object_set_new (j, "ownFrom", json_integer ((json_int_t) r->own_from));
        json_object_set_new (j, "continues", json_integer (r->continues));
        json_object_set (j, "sandboxes", r->sandboxes);
        if (r->condense)
            json_object_set (j, "condensed", r->condense);
    }
    if (j && r->checks)
        json_object_set (j, "checks", r->checks);
    if (j && r->client_tools)
        json_object_set (j, "clientTools", r->client_tools);
    if (j && r->client_input)
        json_object_set (j, "clientInput", r->client_input);
    if (j && r->op)
        json_object_set_new (j, "op", json_true ());
    if (j && r->tool_run)
        json_object_set_new (j, "toolRun", json_true ());
    if (j && r->recalled)
        json_object_set_new (j, "recalled", json_string (r->recalled));
    if (j && r->profile)
        json_object_set (j, "profile", r->profile);
    return j;
}

/* profile: what profilefetch_settings keeps, every text a string (the
 * model's request is built from them). Returns 0 or -1. */
static int
check_profile (const json_t *p)
{
    json_t *prompt = json_object_get (p, "systemPrompt");
    json_t *descs = json_object_get (p, "toolDescriptions");
    if (!json_is_object (p) || !json_is_string (json_object_get (p, "label"))
        || (prompt && !json_is_string (prompt)) || (descs && !json_is_object (descs)))
        return -1;
    const char *tool;
    json_t *text;
    json_object_foreach ((json_t *) descs, tool, text)
        if (!json_is_string (text))
            return -1;
    return 0;
}

/* condensed (condense.h): indexes inside the messages, a summary that
 * starts at an assistant message (so no tool result loses its call). */
static int
check_condensed (const json_t *c, const json_t *messages, char *why, size_t whylen)
{
    static const char *const keys[] = { "elideBefore", "summaryUpto", "summaryTurns",
                                        "summarised", "clip" };
    for (size_t i = 0; json_is_object (c) && i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = json_object_get (c, keys[i]);
        if (v && (!json_is_integer (v) || json_integer_value (v) < 0
                  || (i < 2 && (size_t) json_integer_value (v) > json_array_size (messages)))) {
            snprintf (why, whylen, "condensed.%s: out of range", keys[i]);
            return -1;
        }
    }
    json_t *upto = json_object_get (c, "summaryUpto"), *s = json_object_get (c, "summary");
    size_t at = (size_t) json_integer_value (upto);
    const char *role = json_string_value (json_object_get (json_array_get (messages, at),
                                                           "role"));
    if (!json_is_object (c) || (s && !json_is_string (s)) || (at && !s)
        || (at && strcmp (role ? role : "", "assistant"))) {
        snprintf (why, whylen, "condensed: expected {elideBefore, summaryUpto, summary...} "
                  "with the summary up to an assistant message");
        return -1;
    }
    return 0;
}

static char *
str_field (const json_t *j, const char *key, bool empty_ok, char *why, size_t whylen)
{
    const char *s = json_string_value (json_object_get (j, key));
    if (!s || (!empty_ok && !*s)) {
        snprintf (why, whylen, "%s: expected a%s string", key, empty_ok ? "" : " non-empty");
        return NULL;
    }
    return strdup (s);
}

/* The non-negative integer at j.a (or j.a.b when b), or -1 with why. */
static int
u64_field (const json_t *j, const char *a, const char *b, uint64_t *out, char *why,
           size_t whylen)
{
    json_t *v = json_object_get (j, a);
    if (b)
        v = json_object_get (v, b);
    if (!json_is_integer (v) || json_integer_value (v) < 0) {
        snprintf (why, whylen, "%s%s%s: expected a non-negative integer", a, b ? "." : "",
                  b ? b : "");
        return -1;
    }
    *out = (uint64_t) json_integer_value (v);
    return 0;
}

static int
check_calls (const json_t *calls, char *why, size_t whylen)
{
    if (!json_is_array (calls) || json_array_size (calls) > LLM_MAX_CALLS) {
        snprintf (why, whylen, "calls: expected an array of at most %d calls", LLM_MAX_CALLS);
        return -1;
    }
    size_t i;
    json_t *c;
    json_array_foreach (calls, i, c)
        if (!json_is_string (json_object_get (c, "id"))
            || !json_is_string (json_object_get (c, "name"))
            || !json_is_object (json_object_get (c, "args"))
            || !json_is_string (json_object_get (c, "state"))) {
            snprintf (why, whylen, "calls[%zu]: expected {id, name, args, state}", i);
            return -1;
        }
    return 0;
}

static int
check_ids (const json_t *ids, char *why, size_t whylen)
{
    size_t i;
    json_t *id;
    if (!json_is_array (ids) || json_array_size (ids) > LLM_MAX_CALLS * 64) {
        snprintf (why, whylen, "sandboxes: expected an array of ids");
        return -1;
    }
    json_array_foreach (ids, i, id)
        if (!json_is_string (id) || json_string_length (id) > 128) {
            snprintf (why, whylen, "sandboxes[%zu]: expected an id", i);
            return -1;
        }
    return 0;
}

static int
check_messages (const json_t *messages, char *why, size_t whylen)
{
    if (!json_is_array (messages) || json_array_size (messages) > MAX_MESSAGES) {
        snprintf (why, whylen, "messages: expected an array of at most %d", MAX_MESSAGES);
        return -1;
    }
    size_t i;
    json_t *m;
    json_array_foreach (messages, i, m)
        if (!json_is_string (json_object_get (m, "role"))) {
            snprintf (why, whylen, "messages[%zu]: expected {role, ...}", i);
            return -1;
        }
    return 0;
}

static int
from_json (run_t *r, const json_t *j, char *why, size_t whylen)
{
    uint64_t next = 0, rounds = 0, started = 0;
    if (!json_is_object (j)) {
        snprintf (why, whylen, "expected a map");
        return -1;
    }
    if (!(r->id = str_field (j, "id", false, why, whylen))
        || !(r->thread = str_field (j, "thread", false, why, whylen))
        || !(r->model = str_field (j, "model", false, why, whylen))
        || !(r->user = str_field (j, "user", true, why, whylen))
        || !(r->task = str_field (j, "task", true, why, whylen)))
        return -1;
    const char *status = json_string_value (json_object_get (j, "status"));
    const char *reason = json_string_value (json_object_get (j, "reason"));
    json_t *answer = json_object_get (j, "answer");
    answer = json_is_null (answer) ? NULL : answer;
    json_t *policy = json_object_get (j, "policy");
    json_t *calls = json_object_get (j, "calls");
    json_t *client = json_object_get (j, "clientTools");
    proto_run_status_t st = proto_run_status_lookup (status);
    if (st == PROTO_RUN_STATUS_COUNT) {
        snprintf (why, whylen, "status: expected a run status");
        return -1;
    }
    if ((answer && !json_is_string (answer)) || (reason && strlen (reason) >= sizeof r->reason)
        || (policy && !json_is_object (policy) && !json_is_null (policy))) {
        snprintf (why, whylen, "answer, reason or policy: malformed");
        return -1;
    }
    if (check_messages (json_object_get (j, "messages"), why, whylen)
        || (calls && !json_is_null (calls) && check_calls (calls, why, whylen)))
        return -1;
    if (client && (!json_is_array (client) || json_array_size (client) > LLM_MAX_CALLS)) {
        snprintf (why, whylen, "clientTools: expected an array of at most %d", LLM_MAX_CALLS);
        return -1;
    }
    if (u64_field (j, "next", NULL, &next, why, whylen)
        || u64_field (j, "verifyRounds", NULL, &rounds, why, whylen)
        || u64_field (j, "startedWall", NULL, &started, why, whylen)
        || u64_field (j, "max", "steps", &r->max.steps, why, whylen)
        || u64_field (j, "max", "toolCalls", &r->max.tool_calls, why, whylen)
        || u64_field (j, "max", "seconds", &r->max.seconds, why, whylen)
        || u64_field (j, "max", "tokens", &r->max.tokens, why, whylen)
        || u64_field (j, "used", "steps", &r->steps, why, whylen)
        || u64_field (j, "used", "toolCalls", &r->tool_calls, why, whylen)
        || u64_field (j, "tokens", "input", &r->in_tokens, why, whylen)
        || u64_field (j, "tokens", "output", &r->out_tokens, why, whylen)
        || u64_field (j, "tokens", "cached", &r->cached_tokens, why, whylen))
        return -1;
    /* ownFrom and sandboxes came later: a snapshot without them is a
     * run's from before, all of whose messages count as its own */
    json_t *own = json_object_get (j, "ownFrom"), *sbx = json_object_get (j, "sandboxes");
    uint64_t own_from = 0;
    if ((own && u64_field (j, "ownFrom", NULL, &own_from, why, whylen))
        || (sbx && check_ids (sbx, why, whylen)))
        return -1;
    if (own_from > json_array_size (json_object_get (j, "messages"))) {
        snprintf (why, whylen, "ownFrom: past the messages");
        return -1;
    }
    uint64_t continues = 0;
    if (json_object_get (j, "continues")
        && (u64_field (j, "continues", NULL, &continues, why, whylen)
            || continues > MAX_CONTINUES)) {
        snprintf (why, whylen, "continues: expected 0 to %d", MAX_CONTINUES);
        return -1;
    }
    json_t *recalled = json_object_get (j, "recalled");
    if (recalled && !json_is_string (recalled)) {
        snprintf (why, whylen, "recalled: expected a string");
        return -1;
    }
    r->recalled = recalled ? strdup (json_string_value (recalled)) : NULL;
    json_t *checks = json_object_get (j, "checks");
    if (checks && (!json_is_array (checks) || json_array_size (checks) > 64)) {
        snprintf (why, whylen, "checks: expected an array of at most 64");
        return -1;
    }
    r->checks = checks ? json_incref (checks) : NULL;
    json_t *profile = json_object_get (j, "profile");
    if (profile && check_profile (profile)) {
        snprintf (why, whylen, "profile: expected {label, systemPrompt?, toolDescriptions?: "
                  "{tool: text}}");
        return -1;
    }
    r->profile = json_incref (profile);
    json_t *cond = json_object_get (j, "condensed");
    if (cond && check_condensed (cond, json_object_get (j, "messages"), why, whylen))
        return -1;
    r->condense = cond ? json_copy (cond) : NULL;
    r->continues = (int) continues;
    r->own_from = (size_t) own_from;
    r->sandboxes = sbx ? json_incref (sbx) : json_array ();
    if (next > json_array_size (calls) || rounds > MAX_VERIFY_ROUNDS + 1
        || started > (uint64_t) INT64_MAX / 2 || r->max.seconds > (uint64_t) INT64_MAX / 4000) {
        snprintf (why, whylen, "next, verifyRounds, startedWall or max.seconds: out of range");
        return -1;
    }
    r->status = st;
    snprintf (r->reason, sizeof r->reason, "%s", reason ? reason : "");
    r->answer = answer ? strdup (json_string_value (answer)) : NULL;
    r->messages = json_incref (json_object_get (j, "messages"));
    r->policy = json_is_object (policy) ? json_incref (policy) : NULL;
    r->calls = json_is_array (calls) ? json_incref (calls) : NULL;
    r->client_tools = client ? json_incref (client) : NULL;
    json_t *input = json_object_get (j, "clientInput");
    r->client_input = json_is_object (input) ? json_incref (input) : NULL;
    r->op = json_is_true (json_object_get (j, "op"));
    r->tool_run = json_is_true (json_object_get (j, "toolRun"));
    r->next = (size_t) next;
    r->verify_rounds = (int) rounds;
    r->started_ms = (int64_t) started;
    r->ended_ms = r->host->now_ms (r->arg);
    return 0;
}

run_t *
run_from_json (const run_host_t *host, void *arg, const json_t *json, char *why, size_t whylen)
{
    run_t *r = run_alloc (host, arg);
    if (r && from_json (r, json, why, whylen))
        run_destroy (&r);
    return r;
}
