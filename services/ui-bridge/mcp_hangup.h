/* mcp_hangup: notices a client hanging up while its request is served.
 *
 * In MCP's 2026-07-28 revision a client cancels a request by closing its
 * stream, and the server must stop the work. A handler blocked on the bus
 * cannot see that, so a watcher thread polls the connection's socket for
 * the peer's shutdown (POLLRDHUP) and calls back once; stopping the
 * watcher wakes it at once (an eventfd), so a call that ends normally
 * pays a thread start and join, no timeout. */
#ifndef CAISSON_MCP_HANGUP_H
#define CAISSON_MCP_HANGUP_H

typedef struct _mcp_hangup_t mcp_hangup_t;
typedef void (mcp_hangup_fn) (void *arg);

/* Watches socket fd; fn(arg) runs on the watcher's thread when the peer
 * hangs up before mcp_hangup_stop. NULL when no watcher could be made
 * (the request then simply goes unwatched). */
mcp_hangup_t *mcp_hangup_start (int fd, mcp_hangup_fn *fn, void *arg);

/* Stops and joins the watcher (fn has run or never will). */
void mcp_hangup_stop (mcp_hangup_t **self_p);

#endif
