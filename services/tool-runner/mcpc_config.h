/* mcpc_config: the MCP servers a deployment gives the agent, read from an
 * mcp.json (CAISSON_MCP_SERVERS; docs/mcp.md § Caisson as a client).
 *
 * The file has the shape the ecosystem uses: `mcpServers` maps a server's
 * name to `{command, args, env}` (stdio, run in a sandbox of its own) or
 * `{type: "http", url, headers}` (Streamable HTTP, reached by tool-runner).
 * Caisson's own keys: `trusted`, `timeoutMs`, `outputCapBytes`, `network`
 * (none | policy), `allow` (egress rules), `files` (a .tgz unpacked into a
 * stdio server's sandbox before it starts). Unknown keys are ignored, as
 * other clients do. `${NAME}` and `${NAME:-default}` in `url`, `headers`
 * and `env` values are expanded from tool-runner's environment (Claude
 * Code's convention: secrets stay out of the file); an unset variable
 * without a default makes the entry wrong, naming it. The file is parsed
 * under size and depth limits; an entry that is wrong is skipped and
 * reported by name with the reason, so one bad server never keeps the
 * others (or tool-runner) from starting. */
#ifndef TR_MCPC_CONFIG_H
#define TR_MCPC_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Largest mcp.json read, deepest nesting, most servers kept. */
#define MCPC_CONFIG_BYTES_MAX ((size_t) 1 << 20)
#define MCPC_CONFIG_DEPTH_MAX 16
#define MCPC_SERVERS_MAX 64
/* Longest server name: with `.` and a tool name it must fit in 128. */
#define MCPC_NAME_MAX 48

typedef enum { MCPC_STDIO, MCPC_HTTP } mcpc_kind_t;

/* One server as configured. A read-only view owned by its mcpc_config_t. */
typedef struct {
    const char *name;       /* [A-Za-z0-9_-], 1..MCPC_NAME_MAX */
    mcpc_kind_t kind;
    const char *command;    /* stdio: the program, run in the sandbox */
    const json_t *args;     /* stdio: array of strings (maybe empty) */
    const json_t *env;      /* stdio: object of strings (maybe empty) */
    const char *files;      /* stdio: host path of a .tgz, or NULL */
    const char *url;        /* http: http:// or https:// endpoint */
    const json_t *headers;  /* http: object of strings (maybe empty) */
    bool trusted;           /* its tools are not gated for approval */
    unsigned timeout_ms;    /* per request; default 60000 */
    size_t output_cap;      /* bytes of one tool result; default 65536 */
    bool network_policy;    /* false: no network (`none`), true: `policy` */
    const json_t *allow;    /* egress rules for `policy` (array), or NULL */
} mcpc_server_t;

typedef struct _mcpc_config_t mcpc_config_t;

/* Parses mcp.json text. Returns NULL with err filled when the text as a
 * whole is unusable (too large, not JSON, too deep, no `mcpServers`
 * object); otherwise a config whose bad entries are in skipped. */
mcpc_config_t *mcpc_config_parse (const char *text, size_t len, char *err, size_t errlen);

/* Parses a user's own mcp.json: as mcpc_config_parse, but `${...}` is
 * left as written (a user's file must not read tool-runner's environment;
 * mcpc_limits refuses it). */
mcpc_config_t *mcpc_config_parse_user (const char *text, size_t len, char *err, size_t errlen);

/* Reads and parses the file at path; NULL with err as for parse, or when
 * it cannot be read. */
mcpc_config_t *mcpc_config_load (const char *path, char *err, size_t errlen);

void mcpc_config_destroy (mcpc_config_t **self_p);

/* Servers kept, in the file's order. */
size_t mcpc_config_size (const mcpc_config_t *self);
const mcpc_server_t *mcpc_config_at (const mcpc_config_t *self, size_t index);
/* The server called name, or NULL. */
const mcpc_server_t *mcpc_config_find (const mcpc_config_t *self, const char *name);

/* Entries skipped: a borrowed array of {name, reason}. */
const json_t *mcpc_config_skipped (const mcpc_config_t *self);

#endif
