/* proc_tools: background processes in a sandbox. runCommand with
 * `background: true` starts one and returns its handle {pid, ...} at once;
 * getProcessOutput reads its output so far, waitForProcess waits for it
 * (up to timeoutSeconds), killProcess signals its whole tree and
 * listProcesses lists a sandbox's background processes. sandbox-manager
 * keeps the processes and their output (sandbox.exec.*); these tools are
 * one request each. */
#ifndef TR_PROC_TOOLS_H
#define TR_PROC_TOOLS_H

#include "toolctx.h"

tool_fn proc_tools_output, proc_tools_wait, proc_tools_kill, proc_tools_list;

/* Starts command in the background for runCommand (args: its arguments,
 * guard already checked). Returns {success, background, pid, running,
 * sandboxId, command}, or an error. */
json_t *proc_tools_start (tool_ctx_t *ctx, json_t *args);

#endif
