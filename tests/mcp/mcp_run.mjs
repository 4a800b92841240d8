// mcp_run.mjs: the official MCP TypeScript SDK client (v2) calls Caisson's
// caisson_run over /mcp in both eras (2025: initialize + session; 2026:
// stateless, pinned), on the scripted model's tasks:
// - the seed task completes: progress notifications arrive ("step N..."),
//   the structured result (checked by the SDK against the outputSchema)
//   carries status, answer, runId, threadId and artifacts;
// - the pull-request task waits for approval: a progress message names
//   the run and the call, alice approves over Caisson's HTTP API while the
//   call waits (2025 era), and the result comes back completed;
// - the same task cancelled by the client (2025: notifications/cancelled;
//   2026: the stream closed) leaves the run cancelled;
// - bob cannot continue alice's thread: an error result, no run.
// Usage: node ../mcp/mcp_run.mjs BASE ALICE BOB SEED_TASK APPROVAL_TASK
const lib = new URL('../agui/node_modules/@modelcontextprotocol/client/dist/index.mjs',
                    import.meta.url);
const { Client, StreamableHTTPClientTransport } = await import(lib);

const [base, alice, bob, seedTask, approvalTask] = process.argv.slice(2);
const url = new URL(base + '/mcp');
const LONG = { timeout: 60_000, resetTimeoutOnProgress: true, maxTotalTimeout: 300_000 };

function fail (what) {
    console.error('FAIL: ' + what);
    process.exit(1);
}
function check (cond, what) {
    if (!cond)
        fail(what);
    console.log('ok: ' + what);
}

async function connect (token, negotiation) {
    const client = new Client({ name: 'caisson-run-test', version: '1.0.0' },
                              { versionNegotiation: negotiation });
    await client.connect(new StreamableHTTPClientTransport(url, {
        requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
    return client;
}

async function api (method, path, token, body) {
    const r = await fetch(base + path, { method, body: body && JSON.stringify(body),
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' } });
    return { status: r.status, doc: await r.json().catch(() => null) };
}

async function runStatus (run, want) {
    for (let i = 0; i < 100; i++) {
        const { doc } = await api('GET', `/api/runs/${run}`, alice);
        const status = doc && (doc.status || (doc.run && doc.run.status));
        if (status === want)
            return status;
        await new Promise(r => setTimeout(r, 100));
    }
    return 'not ' + want;
}

// Calls caisson_run; onAsk(run, call, client) runs once when a progress
// message says the run awaits approval.
async function call (client, args, onAsk, signal) {
    const seen = [];
    let asked = false;
    const r = client.callTool({ name: 'caisson_run', arguments: args }, {
        ...LONG, signal,
        onprogress: p => {
            seen.push(p);
            const m = /^awaiting approval: (\S+) \(approve in Caisson: caisson approve (\S+) (\S+)\)$/
                      .exec(p.message || '');
            if (m && onAsk && !asked) {
                asked = true;
                onAsk(m[2], m[3], m[1]);
            }
        } });
    return { r: await r.catch(e => ({ error: e })), seen };
}

async function era (label, negotiation, wantEra) {
    const a = await connect(alice, negotiation);
    check(a.getProtocolEra() === wantEra, `${label}: era ${a.getProtocolEra()}`);
    const { tools } = await a.listTools();
    const tool = tools.find(t => t.name === 'caisson_run');
    check(tool && tool.inputSchema.required.includes('task') && tool.outputSchema,
          `${label}: tools/list names caisson_run with its schemas`);
    check(tool.annotations.readOnlyHint === false && tool.annotations.openWorldHint === true,
          `${label}: caisson_run is not read-only and is open-world`);

    const { r, seen } = await call(a, { task: seedTask });
    check(!r.error && !r.isError, `${label}: the seed task's call succeeds (${r.error || ''})`);
    const s = r.structuredContent;
    check(s.status === 'completed' && s.answer.length > 0,
          `${label}: completed with an answer: ${s.answer.slice(0, 60)}`);
    check(/^[0-9A-Z]{26}$/.test(s.runId) && s.threadId.length > 0,
          `${label}: runId ${s.runId} and threadId ${s.threadId}`);
    check(Array.isArray(s.artifacts), `${label}: artifacts listed (${s.artifacts.length})`);
    check(seen.length >= 2 && seen.every((p, i) => i === 0 || p.progress > seen[i - 1].progress),
          `${label}: ${seen.length} progress notifications, increasing`);
    check(seen.some(p => /^step \d+: runCommand$/.test(p.message)),
          `${label}: a progress message names a tool call: ` +
          seen.map(p => p.message).join(' | '));
    check(r.content[0].text.includes(s.answer.slice(0, 20)), `${label}: the answer as text too`);

    // bob cannot follow or continue alice's thread
    const b = await connect(bob, negotiation);
    const refused = await b.callTool({ name: 'caisson_run',
                                       arguments: { task: 'go on', threadId: s.threadId } });
    check(refused.isError && /refused/.test(refused.content[0].text),
          `${label}: bob is refused alice's thread: ${refused.content[0].text}`);
    const bad = await a.callTool({ name: 'caisson_run', arguments: { task: 7 } });
    check(bad.isError, `${label}: a task that is not a string is an error result`);
    return a;
}

const legacy = await era('2025', { mode: 'legacy' }, 'legacy');
const modern = await era('2026', { mode: { pin: '2026-07-28' } }, 'modern');

// approval while the call waits (2025 era): approved over the HTTP API
{
    let decided = null;
    const { r, seen } = await call(legacy, { task: approvalTask }, (run, toolCall, name) => {
        decided = api('POST', `/api/runs/${run}/approve`, alice, { toolCallId: toolCall })
            .then(x => ({ ...x, name }));
    });
    check(decided, '2025: a progress message asks for approval, naming run and call: ' +
          seen.map(p => p.message).join(' | '));
    const d = await decided;
    check(d.status === 200, `2025: alice approved ${d.name} while the call waited`);
    check(!r.error && r.structuredContent.status === 'completed',
          `2025: the approved run completed (${r.error || r.structuredContent.status})`);
}

// cancellation by the client, in each era
for (const [label, client] of [['2025', legacy], ['2026', modern]]) {
    const ctl = new AbortController();
    let run = null;
    const { r } = await call(client, { task: approvalTask }, (id) => {
        run = id;
        ctl.abort('the test cancels');
    }, ctl.signal);
    check(run && r.error, `${label}: the client cancelled the waiting call`);
    check(await runStatus(run, 'cancelled') === 'cancelled',
          `${label}: cancelling the call cancelled run ${run}`);
}
await legacy.close();
await modern.close();
console.log('mcp_run: all checks passed');
