/* mcpc_support: helpers of the suites of tool-runner's MCP client that
 * drive it through the CLI and a test MCP server written with the SDK
 * (tests/mcp/ *.mjs): start the server, ask its test paths, read `caisson
 * mcp list`, call tools, and reach a stdio server's sandbox as
 * tool-runner's service user `mcp`. */
#ifndef TESTS_MCPC_SUPPORT_H
#define TESTS_MCPC_SUPPORT_H

#include "bus_client.h"

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

/* A one-line stdio MCP server for `node -e` (JSON-escaped, to go inside an
 * mcp.json string): initialize, tools/list (`hello`, read-only) and
 * tools/call answering "hello <who> from <hostname>", so a call shows
 * which sandbox ran it. */
#define MCPC_SUPPORT_HELLO_SERVER \
    "const send=m=>process.stdout.write(JSON.stringify(m)+'\\\\n');" \
    "require('readline').createInterface({input:process.stdin}).on('line',l=>{" \
    "const m=JSON.parse(l);if(m.id===undefined)return;const r=x=>send({jsonrpc:'2.0',id:m.id," \
    "result:x});if(m.method==='initialize')r({protocolVersion:m.params.protocolVersion," \
    "capabilities:{tools:{}},serverInfo:{name:'mine',version:'1'}});" \
    "else if(m.method==='tools/list')r({tools:[{name:'hello',description:'Greets'," \
    "inputSchema:{type:'object',properties:{who:{type:'string'}}}," \
    "annotations:{readOnlyHint:true}}]});else if(m.method==='tools/call')" \
    "r({content:[{type:'text',text:'hello '+m.params.arguments.who+' from '+" \
    "require('os').hostname()}]});else send({jsonrpc:'2.0',id:m.id,error:{code:-32601," \
    "message:'no'}})})"

/* Starts `node tests/mcp/<script> <port> [arg]` and waits until its GET
 * /stats answers (fails the test when it does not within 10 s). */
pid_t mcpc_support_node_up (const char *script, int port, const char *arg);

/* The JSON body of GET (or POST {}) path on the server at port, or NULL. */
json_t *mcpc_support_ask (int port, const char *path, bool post);

/* The entry of entries (a JSON array: tools or servers) whose "name" is
 * name, borrowed, or NULL. */
json_t *mcpc_support_named (json_t *entries, const char *name);

/* `caisson mcp list --json`'s entry for name (a new reference; fails the
 * test when there is none). */
json_t *mcpc_support_listed (const char *name);

/* The entry of name once its state is neither starting nor configured
 * (waits up to 90 s: a stdio server's sandbox, then node, may take long
 * on a loaded machine; fails the test otherwise). */
json_t *mcpc_support_settled (const char *name);

/* The entry of name once its state is want (waits up to 60 s; fails the
 * test with the last state and reason otherwise). */
json_t *mcpc_support_await_state (const char *name, const char *want);

/* `caisson tool call name args --json`: its exit status, *result decoded
 * (fails the test when the output is not JSON). */
int mcpc_support_tool_call (const char *name, const char *args, json_t **result);

/* How many entries of `caisson tool list --json` are named name, or
 * (prefix) start with it. */
size_t mcpc_support_tools_named (const char *name, bool prefix);

/* The id of the one sandbox sandbox-manager lists for the stdio MCP server
 * name (its label mcp=name), asked as tool-runner's service user `mcp`;
 * the caller frees it (fails the test unless there is exactly one). */
char *mcpc_support_sandbox_of (const char *name);

/* Sends *req (destroyed, NULLed) to sandbox-manager as the service user
 * `mcp` and fails the test unless it answers, with no error. */
void mcpc_support_sandbox_ask (proto_msg_t **req);

#endif
