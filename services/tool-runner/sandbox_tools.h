/* sandbox_tools: the Mastra template's sandbox tools, carried out by
 * sandbox-manager. Argument names and result shapes are the template's;
 * paths that are written to pass the guard first. */
#ifndef TR_SANDBOX_TOOLS_H
#define TR_SANDBOX_TOOLS_H

#include "toolctx.h"

tool_fn sandbox_tools_create_sandbox, sandbox_tools_run_code, sandbox_tools_read_file,
    sandbox_tools_write_file, sandbox_tools_write_files, sandbox_tools_list_files,
    sandbox_tools_delete_file, sandbox_tools_create_directory, sandbox_tools_get_file_info,
    sandbox_tools_check_file_exists, sandbox_tools_get_file_size, sandbox_tools_watch_directory,
    sandbox_tools_run_command;

/* Runs command (a shell string) in the sandbox in cwd with extra envs
 * (NULL: none), within the call's limits, and returns the exec result, or
 * NULL with *error. For repo_tools. */
proto_msg_t *sandbox_tools_exec (tool_ctx_t *ctx, const char *sandbox_id, const char *command,
                                 const char *cwd, const json_t *envs, json_t **error);

/* A runCommand-shaped result from an exec result, output cut to the cap. */
json_t *sandbox_tools_exec_json (tool_ctx_t *ctx, const proto_msg_t *rep, bool capture);

#endif
