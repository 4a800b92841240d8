/* test_mcp_user_run: a run of alice's calls her own MCP server's tool (issue
 * 17: "within its limits, a user lists MCP servers"), on the whole stack
 * (`caisson up`, real sandboxes: root only, skipped otherwise) with the
 * scripted model (tests/cassettes/mcp_user/). alice stores an mcp.json
 * with `caisson mcp set` naming a small stdio server (the host's node
 * inside a sandbox of hers); once `caisson mcp list` shows it ready, her
 * run's model calls `mine.hello` and its result reaches the run's events
 * (the cassette checks the model's next turn sees it). The orchestrator
 * asks tool-runner for the run's user's catalogue: before, it asked for
 * the deployment's alone, and the call was of an unknown tool. */
#define _GNU_SOURCE /* asprintf */
#include "support.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define TASK "mcp: greet through my own server"

static char s_out[1 << 18];

#define STDIO_SERVER \
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

static int
stack_up (void **state)
{
    (void) state;
    if (geteuid () != 0)
        skip ();
    assert_non_null (support_sandbox_env ("mcp-user-run"));
    char cassettes[700];
    snprintf (cassettes, sizeof cassettes, "%s/tests/cassettes/mcp_user", CAISSON_SOURCE_DIR);
    setenv ("CAISSON_LLM_REPLAY_DIR", cassettes, 1);
    setenv ("CAISSON_SANDBOX_POOL", "0", 1);
    int base = 20000 + (int) (getpid () % 20000);
    support_stack_up (base, base + 1);
    return 0;
}

static int
stack_down (void **state)
{
    (void) state;
    support_stack_down ();
    return 0;
}

/* The state of alice's server name in `caisson mcp list --user alice`,
 * or "" when not listed. */
static const char *
state_of (const char *name)
{
    static char state[32];
    const char *argv[] = { "caisson", "mcp", "list", "--json", "--user", "alice", NULL };
    assert_int_equal (support_run (argv, s_out, sizeof s_out), 0);
    json_t *list = json_loads (s_out, 0, NULL);
    assert_non_null (list);
    state[0] = '\0';
    size_t i;
    json_t *s;
    json_array_foreach (list, i, s)
        if (!strcmp (support_json_str (s, "name"), name)
            && !strcmp (support_json_str (s, "scope"), "user"))
            snprintf (state, sizeof state, "%s", support_json_str (s, "state"));
    json_decref (list);
    return state;
}

static void
test_run_calls_own_server (void **state)
{
    (void) state;
    char path[1024];
    snprintf (path, sizeof path, "%s/alice-mcp.json", getenv ("CAISSON_DATA"));
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fprintf (f, "{\"mcpServers\": {\"mine\": {\"command\": \"node\", \"args\": [\"-e\", "
             "\"%s\"], \"timeoutMs\": 20000}}}", STDIO_SERVER);
    fclose (f);
    const char *set[] = { "caisson", "mcp", "set", path, "--user", "alice", NULL };
    assert_int_equal (support_run (set, s_out, sizeof s_out), 0);
    int i = 0;
    while (strcmp (state_of ("mine"), "ready") && i++ < 1200) {
        if (!strcmp (state_of ("mine"), "failed"))
            fail_msg ("alice's server failed: %s", s_out);
        usleep (100000);
    }
    assert_string_equal (state_of ("mine"), "ready");

    char out[1024];
    snprintf (out, sizeof out, "%s/alice-run.jsonl", getenv ("CAISSON_DATA"));
    pid_t pid = fork ();
    if (pid == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        int fd = open (out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || dup2 (fd, 1) < 0)
            _exit (127);
        char bin[1024];
        snprintf (bin, sizeof bin, "%s/caisson", CAISSON_BIN_DIR);
        execl (bin, bin, "run", "--json", "--user", "alice", TASK, (char *) NULL);
        _exit (127);
    }
    int status;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    json_t *ev = support_await_event (out, "tool_result", "mine.hello");
    json_t *data = json_object_get (ev, "data");
    print_message ("mine.hello in alice's run: %s\n",
                   support_json_str (json_object_get (data, "result"), "text"));
    assert_true (json_is_true (json_object_get (data, "ok")));
    assert_non_null (strstr (support_json_str (json_object_get (data, "result"), "text"),
                             "hello alice from sandbox"));
    json_decref (ev);
    if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
        fail_msg ("alice's run did not complete (status %d)", status);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_run_calls_own_server),
    };
    return cmocka_run_group_tests (tests, stack_up, stack_down);
}
