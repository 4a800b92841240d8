/* catalogue: the table of tools. See catalogue.h.
 *
 * Schemas are JSON text with ' for " so they read as JSON here; argument
 * names and result shapes follow the Mastra coding-agent template's tools
 * (createSandbox ... runCommand) and the repository workflow's tools
 * (repo.*, ci.runTests, git.openPR). */
#include "catalogue.h"
#include "net_tools.h"
#include "proc_tools.h"
#include "repo_tools.h"
#include "sandbox_tools.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SBX "'sandboxId':{'type':'string','minLength':1,'maxLength':96,"   \
            "'pattern':'^[A-Za-z0-9_.-]+$','description':'Id returned by createSandbox'}"
#define PATH(what) "'path':{'type':'string','minLength':1,'maxLength':4096,"  \
            "'description':'" what "'}"
#define ENVS(name) "'" name "':{'type':'object','maxProperties':256,"        \
            "'additionalProperties':{'type':'string','maxLength':32768}}"
#define OBJ(props, req) "{'type':'object','properties':{" props "},"         \
            "'required':[" req "],'additionalProperties':false}"
#define OUT(props) "{'type':'object','properties':{" props "}}"
#define ERR "'success':{'type':'boolean'},'error':{'type':'object'}"
#define TIMEOUT "'timeoutSeconds':{'type':'number','minimum':0,'maximum':3600,"     \
            "'description':'Seconds; fractions are rounded up; 0 means the default'}"
#define PID SBX ",'pid':{'type':'integer','minimum':1,'description':"                  \
            "'The pid runCommand with background: true returned'}"
#define PROC_OUT OUT ("'pid':{'type':'integer'},'running':{'type':'boolean'},"                \
            "'exitCode':{'type':['integer','null']},'stdout':{'type':'string'},"           \
            "'stderr':{'type':'string'},'truncated':{'type':'boolean'},"                   \
            "'offset':{'type':'integer'},'stderrOffset':{'type':'integer'}")
#define RULES(name) "'" name "':{'type':'array','maxItems':64,'items':{'type':'string',"    \
            "'minLength':1,'maxLength':255}}"
#define KiB * 1024
#define MiB * 1024 * 1024

static const tool_def_t s_tools[] = {
    { "createSandbox",
      "Create a new isolated Linux sandbox to run code and keep files in. Returns its "
      "sandboxId, which every other sandbox tool needs. Files live in its workspace "
      "directory, the default working directory. network 'none' (the default) has no "
      "network at all; 'policy' reaches only the hosts networkAllow names (e.g. 'pypi', "
      "'pypi.org', '*.example.org', '203.0.113.0/24:8443') through a proxy that pip, npm, "
      "git and curl use unchanged. A refused connection says 'blocked by policy: <host> is "
      "not in this sandbox's allow list' (an HTTP 403, a failed CONNECT, or SOCKS "
      "'connection not allowed by ruleset'); ask for such a host with requestNetworkAccess.",
      OBJ ("'name':{'type':'string','maxLength':128,'pattern':'^[A-Za-z0-9_.-]*$'},"
           "'language':{'type':'string','enum':['python','javascript','typescript']},"
           "'labels':{'type':'object','maxProperties':32,"
           "'additionalProperties':{'type':'string','maxLength':256}}," ENVS ("envVars") ","
           "'network':{'type':'string','enum':['none','policy']}," RULES ("networkAllow") ","
           RULES ("networkDeny"), ""),
      OUT ("'sandboxId':{'type':'string'}"), 60, 4 KiB, TOOL_SANDBOX,
      sandbox_tools_create_sandbox },
    { "runCode",
      "Run a piece of source code (python, javascript or typescript) in the sandbox and "
      "return its exit code, output and execution time in milliseconds.",
      OBJ (SBX ",'code':{'type':'string','minLength':1,'maxLength':1048576},"
           "'language':{'type':'string','enum':['python','javascript','typescript']},"
           "'argv':{'type':'array','maxItems':256,'items':{'type':'string','maxLength':4096}},"
           ENVS ("envs") "," TIMEOUT,
           "'sandboxId','code'"),
      OUT ("'exitCode':{'type':'integer'},'stdout':{'type':'string'},'stderr':{'type':'string'},"
           "'executionTime':{'type':'integer'},'truncated':{'type':'boolean'},"
           "'workspaceFull':{'type':'string'}"),
      300, 1 MiB, TOOL_SANDBOX, sandbox_tools_run_code },
    { "readFile",
      "Read a text file from the sandbox. Relative paths are inside the workspace.",
      OBJ (SBX "," PATH ("File to read"), "'sandboxId','path'"),
      OUT ("'content':{'type':'string'},'path':{'type':'string'},'truncated':{'type':'boolean'}"),
      30, 1 MiB, TOOL_READS, sandbox_tools_read_file },
    { "writeFile",
      "Write one file in the sandbox (parent directories are made). Relative paths are "
      "inside the workspace; the result gives the absolute path.",
      OBJ (SBX "," PATH ("File to write") ",'content':{'type':'string','maxLength':8388608}",
           "'sandboxId','path','content'"),
      OUT ("'success':{'type':'boolean'},'path':{'type':'string'}"), 30, 64 KiB, TOOL_SANDBOX,
      sandbox_tools_write_file },
    { "writeFiles",
      "Write several files in the sandbox at once, e.g. to set up a project. Each file is "
      "written whole or not at all.",
      OBJ (SBX ",'files':{'type':'array','minItems':1,'maxItems':256,'items':" OBJ (
               PATH ("File to write") ",'data':{'type':'string','maxLength':8388608}",
               "'path','data'") "}", "'sandboxId','files'"),
      OUT ("'success':{'type':'boolean'},'filesWritten':{'type':'array','items':{'type':'string'}}"),
      60, 256 KiB, TOOL_SANDBOX, sandbox_tools_write_files },
    { "listFiles",
      "List the entries of a directory in the sandbox.",
      OBJ (SBX "," PATH ("Directory to list; a dot, or no path, is the workspace"),
           "'sandboxId'"),
      OUT ("'files':{'type':'array','items':{'type':'object','properties':{'name':{'type':'string'},"
           "'path':{'type':'string'},'isDirectory':{'type':'boolean'}}}},'path':{'type':'string'}"),
      30, 1 MiB, TOOL_READS, sandbox_tools_list_files },
    { "deleteFile",
      "Delete a file or a directory (with its contents) in the sandbox.",
      OBJ (SBX "," PATH ("File or directory to delete"), "'sandboxId','path'"),
      OUT ("'success':{'type':'boolean'},'path':{'type':'string'}"), 30, 64 KiB, TOOL_SANDBOX,
      sandbox_tools_delete_file },
    { "createDirectory",
      "Create a directory (and its parents) in the sandbox.",
      OBJ (SBX "," PATH ("Directory to create"), "'sandboxId','path'"),
      OUT ("'success':{'type':'boolean'},'path':{'type':'string'}"), 30, 64 KiB, TOOL_SANDBOX,
      sandbox_tools_create_directory },
    { "getFileInfo",
      "Describe a file or directory in the sandbox: type, size, permissions, owner, "
      "modification time, and a symlink's target.",
      OBJ (SBX "," PATH ("Path to describe"), "'sandboxId','path'"),
      OUT ("'name':{'type':'string'},'type':{'type':'string'},'path':{'type':'string'},"
           "'size':{'type':'integer'},'mode':{'type':'integer'},'permissions':{'type':'string'},"
           "'owner':{'type':'string'},'group':{'type':'string'},'modifiedTime':{'type':'string'},"
           "'symlinkTarget':{'type':'string'}"),
      30, 64 KiB, TOOL_READS, sandbox_tools_get_file_info },
    { "checkFileExists",
      "Tell whether a path exists in the sandbox, and whether it is a directory.",
      OBJ (SBX "," PATH ("Path to check"), "'sandboxId','path'"),
      OUT ("'exists':{'type':'boolean'},'path':{'type':'string'},'isDirectory':{'type':'boolean'}"),
      30, 64 KiB, TOOL_READS, sandbox_tools_check_file_exists },
    { "getFileSize",
      "Give the size of a file (or of a directory's contents) in the sandbox, in bytes "
      "and optionally human readable.",
      OBJ (SBX "," PATH ("File or directory") ",'humanReadable':{'type':'boolean'}",
           "'sandboxId','path'"),
      OUT ("'size':{'type':'integer'},'humanReadableSize':{'type':'string'},"
           "'path':{'type':'string'},'isDirectory':{'type':'boolean'},"
           "'partial':{'type':'boolean'}"),
      30, 64 KiB, TOOL_READS, sandbox_tools_get_file_size },
    { "watchDirectory",
      "Watch a directory in the sandbox for watchDuration milliseconds and return the "
      "changes seen (create, write, remove, rename, chmod).",
      OBJ (SBX "," PATH ("Directory to watch") ",'recursive':{'type':'boolean'},"
           "'watchDuration':{'type':'integer','minimum':100,'maximum':60000}",
           "'sandboxId','path'"),
      OUT ("'watchStarted':{'type':'boolean'},'path':{'type':'string'},'events':{'type':'array',"
           "'items':{'type':'object','properties':{'type':{'type':'string'},'name':{'type':'string'},"
           "'timestamp':{'type':'string'}}}}"),
      75, 1 MiB, TOOL_READS, sandbox_tools_watch_directory },
    { "runCommand",
      "Run a shell command in the sandbox (build, test, install) and return its exit "
      "code, output and execution time in milliseconds.",
      OBJ (SBX ",'command':{'type':'string','minLength':1,'maxLength':65536}," ENVS ("envs") ","
           "'workingDirectory':{'type':'string','maxLength':4096},"
           TIMEOUT ",'captureOutput':{'type':'boolean'},"
           "'background':{'type':'boolean','description':'Start it and return its pid at once; "
           "follow it with getProcessOutput, waitForProcess, killProcess'}",
           "'sandboxId','command'"),
      OUT ("'success':{'type':'boolean'},'exitCode':{'type':'integer'},'stdout':{'type':'string'},"
           "'stderr':{'type':'string'},'command':{'type':'string'},'executionTime':{'type':'integer'},"
           "'truncated':{'type':'boolean'},'workspaceFull':{'type':'string'}"),
      300, 1 MiB, TOOL_SANDBOX, sandbox_tools_run_command },
    { "getProcessOutput",
      "Read the output of a background process started by runCommand, and whether it still "
      "runs (exitCode once it ended). To follow it, pass the offset and stderrOffset of the "
      "previous answer as since and stderrSince: only newer output comes back; waitSeconds "
      "waits (up to 25 s) until there is some or the process ends.",
      OBJ (PID ",'since':{'type':'integer','minimum':0,'description':'Byte offset in stdout "
           "to read from (offset of the last answer)'},'stderrSince':{'type':'integer',"
           "'minimum':0},'waitSeconds':{'type':'number','minimum':0,'maximum':25}",
           "'sandboxId','pid'"),
      PROC_OUT, 30, 1 MiB, TOOL_READS, proc_tools_output },
    { "waitForProcess",
      "Wait up to timeoutSeconds (default 30) for a background process to end; returns its "
      "output and exit code, or running: true when it still runs.",
      OBJ (PID "," TIMEOUT, "'sandboxId','pid'"), PROC_OUT, 600, 1 MiB, TOOL_READS,
      proc_tools_wait },
    { "killProcess",
      "Stop a background process and everything it started (default SIGKILL).",
      OBJ (PID ",'signal':{'type':'string','enum':['SIGTERM','SIGKILL','SIGINT','SIGHUP']}",
           "'sandboxId','pid'"),
      OUT ("'success':{'type':'boolean'},'pid':{'type':'integer'},'signal':{'type':'string'}"),
      30, 4 KiB, TOOL_SANDBOX, proc_tools_kill },
    { "listProcesses",
      "List a sandbox's background processes: pid, command, running, exitCode.",
      OBJ (SBX, "'sandboxId'"),
      OUT ("'success':{'type':'boolean'},'processes':{'type':'array'}"), 30, 1 MiB, TOOL_READS,
      proc_tools_list },
    { "repo.clone",
      "Clone an allowed repository into the sandbox workspace (directory 'repo'). Local "
      "paths and file:// URLs are allowed by default.",
      OBJ (SBX ",'url':{'type':'string','minLength':1,'maxLength':2048},"
           "'branch':{'type':'string','maxLength':200,'pattern':'^[A-Za-z0-9._/-]+$'}",
           "'sandboxId','url'"),
      OUT ("'success':{'type':'boolean'},'path':{'type':'string'},'branch':{'type':'string'},"
           "'head':{'type':'string'}"),
      120, 64 KiB, TOOL_SANDBOX, repo_clone },
    { "repo.readFiles",
      "Read the files of the cloned repository whose paths match a glob (e.g. 'src/*.py'), "
      "bounded in count and bytes.",
      OBJ (SBX ",'glob':{'type':'string','minLength':1,'maxLength':512}", "'sandboxId','glob'"),
      "{'type':'array','items':{'type':'object','properties':{'path':{'type':'string'},"
      "'content':{'type':['string','null']},'binary':{'type':'boolean'},"
      "'truncated':{'type':'boolean'}}}}",
      60, 4 MiB, TOOL_READS, repo_read_files },
    { "repo.applyDiff",
      "Apply a unified diff to the cloned repository. With dryRun true, only check that it "
      "applies and list the files it touches. Files outside the allowed paths are refused.",
      OBJ (SBX ",'patch':{'type':'string','minLength':1,'maxLength':4194304},"
           "'dryRun':{'type':'boolean'}", "'sandboxId','patch'"),
      OUT ("'success':{'type':'boolean'},'applied':{'type':'boolean'},'dryRun':{'type':'boolean'},"
           "'files':{'type':'array','items':{'type':'string'}},'check':{'type':'string'}"),
      60, 256 KiB, TOOL_REPOSITORY, repo_apply_diff },
    { "ci.runTests",
      "Run the repository's tests (the test command is detected, or configured) and return "
      "the exit code, the log, and passed/failed/skipped counts.",
      OBJ (SBX ",'target':{'type':'string','maxLength':1024,'pattern':'^[A-Za-z0-9_./:=-]*$'}",
           "'sandboxId'"),
      OUT ("'success':{'type':'boolean'},'exitCode':{'type':'integer'},'command':{'type':'string'},"
           "'runner':{'type':'string'},'passed':{'type':'integer'},'failed':{'type':'integer'},"
           "'skipped':{'type':'integer'},'log':{'type':'string'},'truncated':{'type':'boolean'}"),
      600, 1 MiB, TOOL_SANDBOX, ci_run_tests },
    { "git.openPR",
      "Commit the sandbox repository's changes on a new branch and open a pull request "
      "against base. Returns the pull request's id and URL.",
      OBJ ("" SBX ",'title':{'type':'string','minLength':3,'maxLength':72},"
           "'body':{'type':'string','maxLength':65536},"
           "'base':{'type':'string','maxLength':200,'pattern':'^[A-Za-z0-9._/-]+$'}",
           "'sandboxId','title','body'"),
      OUT ("'success':{'type':'boolean'},'id':{'type':'string'},'url':{'type':'string'},"
           "'branch':{'type':'string'},'base':{'type':'string'},'commit':{'type':'string'}"),
      /* room for the dry run's preview: a patch of up to
       * CAISSON_TOOLS_PREVIEW_PATCH_MAX, escaped, and its files */
      120, 256 KiB, TOOL_EXTERNAL, git_open_pr },
    { "requestNetworkAccess",
      "Ask for a host a sandbox in network mode 'policy' was refused ('blocked by policy: "
      "<host> ...'). host is one rule: a name ('files.example.org'), '*.example.org' "
      "(subdomains), an address or CIDR, each with optional ':ports' (default 80 and 443). "
      "Say in reason why the task needs it. A person approves or declines; approved, new "
      "connections to it work at once. A host outside what this deployment ever allows is "
      "refused (forbidden) without asking.",
      OBJ (SBX ",'host':{'type':'string','minLength':1,'maxLength':255,"
           "'pattern':'^[][A-Za-z0-9.*:,/-]+$'},"
           "'reason':{'type':'string','minLength':1,'maxLength':500}",
           "'sandboxId','host','reason'"),
      OUT ("'success':{'type':'boolean'},'allowed':{'type':'array','items':{'type':'string'}},"
           "'note':{'type':'string'}"),
      60, 64 KiB, TOOL_EXTERNAL, net_tools_request_access },
};

#define NTOOLS (sizeof s_tools / sizeof s_tools[0])

struct _catalogue_t {
    json_t *input[NTOOLS];
    json_t *list;
};

static json_t *
parse_quoted (const char *text, const char *tool)
{
    char *copy = strdup (text);
    if (!copy)
        return NULL;
    for (char *p = copy; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_error_t err;
    json_t *v = json_loads (copy, 0, &err);
    if (!v)
        fprintf (stderr, "catalogue: %s schema: %s at %d\n", tool, err.text, err.position);
    free (copy);
    return v;
}

static void
add_error_shape (json_t *out)
{
    json_t *props = json_object_get (out, "properties");
    if (!props)
        return;
    json_t *err = parse_quoted ("{" ERR "}", "error");
    json_object_update_missing (props, err);
    json_decref (err);
}

catalogue_t *
catalogue_new (void)
{
    catalogue_t *self = calloc (1, sizeof *self);
    if (!self || !(self->list = json_array ())) {
        free (self);
        return NULL;
    }
    static const char *const effects[] = { "none", "sandbox", "repository", "external" };
    /* the tools whose results say whether tests passed (policy.verify's
     * tests_passed reads them): runsTests in the catalogue */
    static const char *const tests[] = { "runCommand", "ci.runTests" };
    for (size_t i = 0; i < NTOOLS; i++) {
        const tool_def_t *t = &s_tools[i];
        json_t *in = parse_quoted (t->input, t->name);
        json_t *out = parse_quoted (t->output, t->name);
        if (!in || !out) {
            json_decref (in);
            json_decref (out);
            catalogue_destroy (&self);
            return NULL;
        }
        add_error_shape (out);
        self->input[i] = json_incref (in);
        json_array_append_new (self->list, json_pack (
            "{s:s, s:s, s:o, s:o, s:b, s:s, s:b, s:i, s:I}", "name", t->name,
            "description", t->description, "inputSchema", in, "outputSchema", out,
            "mutates", t->effect >= TOOL_REPOSITORY, "effect", effects[t->effect],
            "dryRun", t->effect != TOOL_READS, "timeoutSeconds", (int) t->timeout_s,
            "maxOutputBytes", (json_int_t) t->max_output));
        for (size_t k = 0; k < sizeof tests / sizeof tests[0]; k++)
            if (!strcmp (t->name, tests[k]))
                json_object_set_new (json_array_get (self->list, i), "runsTests", json_true ());
    }
    return self;
}

void
catalogue_destroy (catalogue_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    for (size_t i = 0; i < NTOOLS; i++)
        json_decref ((*self_p)->input[i]);
    json_decref ((*self_p)->list);
    free (*self_p);
    *self_p = NULL;
}

const tool_def_t *
catalogue_find (catalogue_t *self, const char *name, size_t *index)
{
    (void) self;
    for (size_t i = 0; i < NTOOLS; i++)
        if (!strcmp (s_tools[i].name, name)) {
            if (index)
                *index = i;
            return &s_tools[i];
        }
    return NULL;
}

const json_t *catalogue_input (catalogue_t *self, size_t index) { return self->input[index]; }
const json_t *catalogue_json (catalogue_t *self) { return self->list; }
size_t catalogue_count (catalogue_t *self) { (void) self; return NTOOLS; }
