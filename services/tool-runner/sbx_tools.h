/* sbx_tools: the Mastra template's sandbox tools, carried out by
 * sandbox-manager. Argument names and result shapes are the template's;
 * paths that are written to pass the guard first. */
#ifndef TR_SBX_TOOLS_H
#define TR_SBX_TOOLS_H

#include "toolctx.h"

tool_fn sbx_create_sandbox, sbx_run_code, sbx_read_file, sbx_write_file, sbx_write_files,
    sbx_list_files, sbx_delete_file, sbx_create_directory, sbx_get_file_info,
    sbx_check_file_exists, sbx_get_file_size, sbx_watch_directory, sbx_run_command;

/* Runs command (a shell string) in the sandbox in cwd with extra envs
 * (NULL: none), within the call's limits, and returns the exec result, or
 * NULL with *error. For repo_tools. */
proto_msg_t *sbx_exec (tool_ctx_t *ctx, const char *sandbox_id, const char *command,
                       const char *cwd, const json_t *envs, json_t **error);

/* A runCommand-shaped result from an exec result, output cut to the cap. */
json_t *sbx_exec_json (tool_ctx_t *ctx, const proto_msg_t *rep, bool capture);

#endif
