/* mcpc_frame: JSON-RPC messages from and to an MCP server over stdio.
 *
 * stdio MCP is newline-delimited JSON: one message per line, no embedded
 * newlines. A server's stdout arrives in pieces of any size; the framer
 * keeps what it was fed and yields whole messages, each checked as
 * JSON-RPC 2.0 and sorted into request, notification or response, so the
 * client never acts on half a line or on something that only looks like
 * an answer. A hostile server cannot make it hold more than one line's
 * cap: a longer line is reported once as invalid and its rest discarded
 * up to the next newline. Blank lines and a trailing \r are tolerated. */
#ifndef TR_MCPC_FRAME_H
#define TR_MCPC_FRAME_H

#include <jansson.h>
#include <stddef.h>

/* The longest line a server may send, and the deepest JSON it may nest. */
#define MCPC_LINE_MAX ((size_t) 8 << 20)
#define MCPC_DEPTH_MAX 64

typedef enum {
    MCPC_MSG_INVALID = -1,  /* not a JSON-RPC 2.0 message (why says so) */
    MCPC_MSG_NONE = 0,      /* no whole line yet: feed more */
    MCPC_MSG_REQUEST,       /* method and id: the server asks (ping, ...) */
    MCPC_MSG_NOTIFICATION,  /* method, no id */
    MCPC_MSG_RESPONSE       /* id and exactly one of result or error */
} mcpc_msg_kind_t;

typedef struct _mcpc_frame_t mcpc_frame_t;

/* A framer accepting lines of up to line_max bytes (0: MCPC_LINE_MAX). */
mcpc_frame_t *mcpc_frame_new (size_t line_max);
void mcpc_frame_destroy (mcpc_frame_t **self_p);

/* Takes len more bytes of the server's output. */
void mcpc_frame_feed (mcpc_frame_t *self, const void *data, size_t len);

/* The next whole message: its kind with *msg a new reference; or
 * MCPC_MSG_NONE with *msg NULL; or MCPC_MSG_INVALID with *msg NULL and why
 * filled (the bad line is consumed, so the caller may go on or give the
 * server up). */
mcpc_msg_kind_t mcpc_frame_next (mcpc_frame_t *self, json_t **msg, char *why, size_t whylen);

/* Sorts an already parsed message; MCPC_MSG_INVALID with why filled when
 * it is not JSON-RPC 2.0 or nests deeper than MCPC_DEPTH_MAX (the tools of
 * a `result.tools` array not counted: they are checked one by one, see
 * mcpc_tools). The HTTP client uses this for its answers. */
mcpc_msg_kind_t mcpc_msg_classify (const json_t *msg, char *why, size_t whylen);

/* The params of Caisson's initialize (either transport): offering
 * 2025-11-25, no capabilities. A new reference. */
json_t *mcpc_initialize_params (void);

/* The revision an initialize result settles on: 2025-11-25 or 2025-06-18
 * (borrowed from result), or NULL with why when it is another or none. */
const char *mcpc_initialize_version (const json_t *result, char *why, size_t whylen);

/* One line to send: `{"jsonrpc":"2.0","id":id,"method":...,"params":...}`
 * and a newline (id < 0: a notification, no id; params NULL: none). The
 * caller frees it. */
char *mcpc_frame_request (long long id, const char *method, const json_t *params);

/* Caisson's answer to a request a server made (msg: its request): `{}`
 * to a ping, -32601 to anything else (Caisson offers no sampling,
 * elicitation or roots to servers), as compact JSON with no newline. The
 * caller frees it. */
char *mcpc_frame_answer (const json_t *msg);

#endif
