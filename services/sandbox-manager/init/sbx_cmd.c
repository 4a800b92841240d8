/* sbx_cmd: what a process of a sandbox is given to run: its argv (from an
 * exec's command, or run_code's code written to a fresh file under /tmp)
 * and its environment (PATH, HOME at the workspace, LANG, the sandbox's
 * env_vars, then the request's envs). See sbx_cmd.h. */
#define _GNU_SOURCE
#include "sbx_cmd.h"
#include "mpjson.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Builds "KEY=VALUE" strings from a JSON object into env; returns the count. */
static int
env_add (char **env, int n, int max, const json_t *obj)
{
    const char *k;
    json_t *v;
    json_object_foreach ((json_t *) obj, k, v) {
        if (n >= max || !json_is_string (v) || !*k || strchr (k, '='))
            continue;
        if (asprintf (&env[n], "%s=%s", k, json_string_value (v)) > 0)
            n++;
    }
    return n;
}

char **
sbx_cmd_env (const json_t *sandbox_env, const proto_bytes_t *envs, char *why, size_t whylen)
{
    char **env = calloc (256, sizeof *env);
    if (!env) {
        snprintf (why, whylen, "out of memory");
        return NULL;
    }
    const char *base[] = { "PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" PROTO_SANDBOX_WORKSPACE,
                           "LANG=C.UTF-8" };
    int n = 0;
    for (; n < 3; n++)
        env[n] = strdup (base[n]);
    n = env_add (env, n, 255, sandbox_env);
    if (envs && envs->size) {
        json_t *j = mpjson_decode (envs->data, envs->size, 1, why, whylen);
        if (!j || !json_is_object (j)) {
            json_decref (j);
            snprintf (why, whylen, "envs: expected a map of strings");
            sbx_cmd_free (env);
            return NULL;
        }
        n = env_add (env, n, 255, j);
        json_decref (j);
    }
    env[n] = NULL;
    return env;
}

int
sbx_cmd_parse (const proto_bytes_t *cmd, char ***argv_p, char **text_p, char *why, size_t whylen)
{
    json_t *j = mpjson_decode (cmd->data, cmd->size, 2, why, whylen);
    if (!j)
        return -1;
    char **argv = NULL;
    size_t n = json_is_array (j) ? json_array_size (j) : 0;
    if (json_is_string (j) && json_string_length (j)) {
        argv = calloc (4, sizeof *argv);
        argv[0] = strdup ("/bin/sh");
        argv[1] = strdup ("-c");
        argv[2] = strdup (json_string_value (j));
        *text_p = strdup (json_string_value (j));
    } else if (n > 0 && n < 4096) {
        argv = calloc (n + 1, sizeof *argv);
        size_t tl = 0;
        for (size_t i = 0; i < n; i++) {
            json_t *a = json_array_get (j, i);
            if (!json_is_string (a)) {
                snprintf (why, whylen, "command[%zu]: expected a string", i);
                for (size_t k = 0; k < i; k++)
                    free (argv[k]);
                free (argv);
                json_decref (j);
                return -1;
            }
            argv[i] = strdup (json_string_value (a));
            tl += strlen (argv[i]) + 1;
        }
        *text_p = calloc (1, tl + 1);
        for (size_t i = 0; i < n; i++)
            strcat (strcat (*text_p, i ? " " : ""), argv[i]);
    } else {
        snprintf (why, whylen, "command: expected a non-empty string or array of strings");
        json_decref (j);
        return -1;
    }
    json_decref (j);
    *argv_p = argv;
    return 0;
}

void
sbx_cmd_free (char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free (v[i]);
    free (v);
}

int
sbx_cmd_code (const proto_msg_t *req, const char *default_language, char ***argv_p,
              char **text_p, proto_msg_t **err)
{
    const proto_sandbox_run_code_t *c = &req->body.sandbox_run_code;
    const char *lang = c->language && *c->language ? c->language : default_language;
    static const char *const langs[][3] = { { "python", "py", "/usr/bin/python3" },
                                            { "javascript", "js", "/usr/bin/node" },
                                            { "typescript", "ts", "/usr/bin/node" } };
    int li = -1;
    for (int i = 0; i < 3; i++)
        if (lang && strcmp (lang, langs[i][0]) == 0)
            li = i;
    proto_msg_t *rep = NULL;
    char path[128], why[256];
    static unsigned seq;
    snprintf (path, sizeof path, "/tmp/.caisson-code-%u.%s", ++seq, li >= 0 ? langs[li][1] : "");
    json_t *extra = NULL;
    if (li < 0)
        rep = proto_error_new (req, PROTO_ERR_bad_language, "language: expected python, "
                               "javascript or typescript, got '%s'", lang ? lang : "");
    else if (c->argv.size
             && !(extra = mpjson_decode (c->argv.data, c->argv.size, 1, why, sizeof why)))
        rep = proto_error_new (req, PROTO_ERR_bad_argv, "%s", why);
    else if (extra && !json_is_array (extra))
        rep = proto_error_new (req, PROTO_ERR_bad_argv, "argv: expected an array of strings");
    if (!rep) {
        /* A fresh file: whatever the sandbox left at this name (a FIFO
         * would block the init's open) goes first. */
        unlink (path);
        int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
        size_t len = strlen (c->code);
        if (fd < 0 || write (fd, c->code, len) != (ssize_t) len)
            rep = proto_error_new (req, PROTO_ERR_exec_failed, "writing %s: %s", path,
                                   strerror (errno));
        if (fd >= 0)
            close (fd);
    }
    if (rep) {
        json_decref (extra);
        *err = rep;
        return -1;
    }
    size_t n = extra ? json_array_size (extra) : 0;
    char **argv = calloc (n + 8, sizeof *argv);
    int a = 0;
    if (li == 2) {
        /* TypeScript: Debian's tsc compiles to /tmp, then node runs the
         * output (docs/sandbox.md); extra arguments follow as "$@". */
        char script[512];
        snprintf (script, sizeof script, "tsc --outDir %s.out --module commonjs --target es2020 "
                  "--skipLibCheck %s && exec node %s.out/.caisson-code-%u.js \"$@\"", path, path,
                  path, seq);
        argv[a++] = strdup ("/bin/sh");
        argv[a++] = strdup ("-c");
        argv[a++] = strdup (script);
        argv[a++] = strdup ("runCode");
    } else {
        argv[a++] = strdup (langs[li][2]);
        argv[a++] = strdup (path);
    }
    for (size_t i = 0; i < n; i++)
        if (json_is_string (json_array_get (extra, i)))
            argv[a++] = strdup (json_string_value (json_array_get (extra, i)));
    json_decref (extra);
    if (asprintf (text_p, "%s %s", langs[li][2], path) < 0)
        *text_p = NULL;
    *argv_p = argv;
    return 0;
}

