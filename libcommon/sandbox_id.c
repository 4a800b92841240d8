/* sandbox_id: making and reading `<instance>-<token>`. See sandbox_id.h. */
#include "sandbox_id.h"
#include "cid.h"

#include <stdio.h>
#include <string.h>

static bool
instance_valid (const char *s, size_t n)
{
    if (n == 0 || n > SANDBOX_ID_INSTANCE_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '-' || c == '_'))
            return false;
    }
    return true;
}

/* The length of id's instance part, or 0 when id is not a sandbox id. */
static size_t
split (const char *id)
{
    if (!id)
        return 0;
    size_t n = strnlen (id, SANDBOX_ID_SIZE);
    if (n == SANDBOX_ID_SIZE)
        return 0;
    const char *dash = strrchr (id, '-');
    if (!dash)
        return 0;
    size_t inst = (size_t) (dash - id), tok = n - inst - 1;
    if (tok == 0 || tok > SANDBOX_ID_TOKEN_MAX || !instance_valid (id, inst))
        return 0;
    for (const char *c = dash + 1; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9')))
            return 0;
    return inst;
}

int
sandbox_id_new (const char *instance, char out[SANDBOX_ID_SIZE])
{
    out[0] = 0;
    if (!instance || !instance_valid (instance, strnlen (instance, SANDBOX_ID_SIZE)))
        return -1;
    char token[SANDBOX_ID_TOKEN_LEN + 1];
    cid_token (token, SANDBOX_ID_TOKEN_LEN);   /* lower case */
    snprintf (out, SANDBOX_ID_SIZE, "%s-%s", instance, token);
    return 0;
}

bool
sandbox_id_valid (const char *id)
{
    return split (id) > 0;
}

int
sandbox_id_instance (const char *id, char *out, size_t len)
{
    size_t n = split (id);
    if (n == 0 || n >= len) {
        if (len)
            out[0] = 0;
        return -1;
    }
    memcpy (out, id, n);
    out[n] = 0;
    return 0;
}

bool
sandbox_id_of (const char *id, const char *instance)
{
    size_t n = split (id);
    return n && instance && strlen (instance) == n && !strncmp (id, instance, n);
}
