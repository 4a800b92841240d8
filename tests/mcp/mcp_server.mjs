// mcp_server.mjs: the official MCP TypeScript SDK client (v2) against
// Caisson's /mcp, in both eras: the 2025 era (versionNegotiation legacy,
// initialize + session) and the stateless 2026-07-28 ({pin}). For each:
// tools are listed with schemas and annotations, alice creates a sandbox
// and runs a command (the SDK checks structuredContent against each
// tool's outputSchema), a gated tool waits for approval (repo.applyDiff
// approved in the client's elicitation handler applies its patch in the
// sandbox; git.openPR declined there is an error result naming who and
// why; a client that cannot be asked waits while alice approves in
// Caisson's HTTP API), bob cannot use alice's sandbox (nor can an
// operator: /mcp acts as a user, never as an operator), and a client
// without a token is refused.
// Usage: node ../mcp/mcp_server.mjs BASE ALICE_TOKEN BOB_TOKEN OPERATOR_TOKEN
// (run from tests/agui, where node_modules lives).
const lib = new URL('../agui/node_modules/@modelcontextprotocol/client/dist/index.mjs',
                    import.meta.url);
const { Client, StreamableHTTPClientTransport } = await import(lib);

const [base, alice, bob, root] = process.argv.slice(2);
const url = new URL(base + '/mcp');

function fail (what) {
    console.error('FAIL: ' + what);
    process.exit(1);
}
function check (cond, what) {
    if (!cond)
        fail(what);
    console.log('ok: ' + what);
}

// A client; with onElicit, it declares the elicitation capability and
// answers elicitation/create with it.
async function connect (token, negotiation, onElicit) {
    const client = new Client({ name: 'caisson-test', version: '1.0.0' },
                              { versionNegotiation: negotiation,
                                capabilities: onElicit ? { elicitation: { form: {} } } : {} });
    if (onElicit)
        client.setRequestHandler('elicitation/create', onElicit);
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers } }));
    return client;
}

function text (r) {
    return r.content.map(c => c.text || '').join('');
}

async function api (method, path, token, body) {
    const r = await fetch(base + path, { method, body: body && JSON.stringify(body),
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' } });
    return { status: r.status, doc: await r.json().catch(() => null) };
}

// A patch adding file with one line.
function patch (file) {
    return `diff --git a/${file} b/${file}\nnew file mode 100644\n--- /dev/null\n` +
           `+++ b/${file}\n@@ -0,0 +1 @@\n+approved over MCP\n`;
}

const LONG = { timeout: 120_000, resetTimeoutOnProgress: true };
const ASK = /^awaiting approval: (\S+) \(approve in Caisson: caisson approve (\S+) (\S+)\)$/;

// The gated calls: approved or declined in the client, approved in
// Caisson while a client that cannot be asked waits.
async function gated (label, a, negotiation, sandboxId) {
    const made = await a.callTool({ name: 'runCommand', arguments: { sandboxId, command:
        'mkdir -p /workspace/repo && cd /workspace/repo && git init -q && ' +
        'git -c user.email=t@t -c user.name=t commit -q --allow-empty -m start' } });
    check(!made.isError && made.structuredContent.exitCode === 0,
          `${label}: a repository in the sandbox (${text(made).slice(0, 200)})`);
    let asked = null;
    const yes = await connect(alice, negotiation, async req => {
        asked = req.params;
        return { action: 'accept', content: { decision: 'approve' } };
    });
    const applied = await yes.callTool({ name: 'repo.applyDiff', arguments: {
        sandboxId, patch: patch('approved.txt') } }, LONG);
    check(asked && /repo\.applyDiff/.test(asked.message),
          `${label}: the client was asked to approve: ${asked && asked.message.slice(0, 120)}`);
    check(!applied.isError && applied.structuredContent.applied === true,
          `${label}: approved in the client, the patch applied: ${text(applied).slice(0, 200)}`);
    const there = await a.callTool({ name: 'checkFileExists', arguments: {
        sandboxId, path: '/workspace/repo/approved.txt' } });
    check(there.structuredContent.exists === true, `${label}: the approved file is there`);
    await yes.close();

    const no = await connect(alice, negotiation, async () => (
        { action: 'accept', content: { decision: 'decline', reason: 'no pull requests today' } }));
    const declined = await no.callTool({ name: 'git.openPR', arguments: { title: 'x' } }, LONG);
    check(declined.isError === true &&
          /declined by alice: no pull requests today/.test(text(declined)),
          `${label}: declined in the client, an error result says who and why: ` +
          text(declined));
    await no.close();

    let decided = null;
    const waited = await a.callTool({ name: 'repo.applyDiff', arguments: {
        sandboxId, patch: patch('waited.txt') } }, { ...LONG, onprogress: p => {
        const m = ASK.exec(p.message || '');
        if (m && !decided)
            decided = api('POST', `/api/runs/${m[2]}/approve`, alice, { toolCallId: m[3] });
    } });
    check(decided && (await decided).status === 200,
          `${label}: a client that cannot be asked waits; alice approved in Caisson`);
    check(!waited.isError && waited.structuredContent.applied === true,
          `${label}: ...and the patch applied: ${text(waited).slice(0, 200)}`);
}

async function era (label, negotiation, wantEra) {
    const a = await connect(alice, negotiation);
    check(a.getProtocolEra() === wantEra, `${label}: era ${a.getProtocolEra()}`);
    const { tools } = await a.listTools();
    const byName = Object.fromEntries(tools.map(t => [t.name, t]));
    for (const name of ['createSandbox', 'runCommand', 'readFile', 'git.openPR'])
        check(byName[name], `${label}: tools/list names ${name}`);
    const run = byName.runCommand;
    check(run.inputSchema.type === 'object' && run.inputSchema.required.includes('command'),
          `${label}: runCommand has its input schema`);
    check(run.outputSchema && run.outputSchema.properties.exitCode,
          `${label}: runCommand has its output schema`);
    check(run.annotations.readOnlyHint === false && run.annotations.destructiveHint === false,
          `${label}: runCommand (sandbox effect) is neither read-only nor destructive`);
    check(byName.readFile.annotations.readOnlyHint === true,
          `${label}: readFile is read-only`);
    check(byName['git.openPR'].annotations.destructiveHint === true &&
          byName['git.openPR'].annotations.openWorldHint === true,
          `${label}: git.openPR is destructive and open-world`);

    const made = await a.callTool({ name: 'createSandbox', arguments: { language: 'python' } },
                                  { timeout: 90000 });
    check(!made.isError && /^[A-Za-z0-9_-]+$/.test(made.structuredContent.sandboxId || ''),
          `${label}: createSandbox gave ${made.structuredContent?.sandboxId} (${text(made)})`);
    const sandboxId = made.structuredContent.sandboxId;
    const ran = await a.callTool({ name: 'runCommand',
                                   arguments: { sandboxId, command: 'echo mcp-$((6*7))' } });
    check(!ran.isError && ran.structuredContent.exitCode === 0 &&
          ran.structuredContent.stdout.includes('mcp-42'),
          `${label}: runCommand ran in the sandbox (${text(ran).slice(0, 200)})`);
    check(JSON.parse(text(ran)).stdout === ran.structuredContent.stdout,
          `${label}: the text block carries the same JSON`);
    const failed = await a.callTool({ name: 'readFile',
                                      arguments: { sandboxId, path: 'no/such/file' } });
    check(failed.isError === true, `${label}: a failing tool is an error result: ${text(failed)}`);

    // informational: a cheap call's latency in this era (the 2026 era pays
    // the hang-up watcher's thread); bench/mcp measures properly
    const times = [];
    for (let i = 0; i < 100; i++) {
        const t0 = performance.now();
        await a.callTool({ name: 'checkFileExists', arguments: { sandboxId, path: 'x' } });
        times.push(performance.now() - t0);
    }
    times.sort((x, y) => x - y);
    console.log(`timing: ${label}: checkFileExists p50 ${times[50].toFixed(2)} ms, ` +
                `p99 ${times[98].toFixed(2)} ms over 100 calls`);

    {
        // cancelling stops the call in the sandbox (2025: the SDK posts
        // notifications/cancelled; 2026: it closes the request's stream): the
        // file the command would write after 4 s never appears
        const abort = new AbortController();
        const slow = a.callTool({ name: 'runCommand', arguments: {
            sandboxId, command: 'sleep 4; echo late > late.txt' } }, { signal: abort.signal });
        setTimeout(() => abort.abort('enough'), 1000);
        await slow.then(() => fail(`${label}: the aborted call resolved`), () => {});
        await new Promise(r => setTimeout(r, 5000));
        const late = await a.callTool({ name: 'checkFileExists',
                                        arguments: { sandboxId, path: 'late.txt' } });
        check(late.structuredContent.exists === false,
              `${label}: cancelling stopped the command`);
    }

    await gated(label, a, negotiation, sandboxId);

    let unknown = null;
    try {
        await a.callTool({ name: 'noSuchTool', arguments: {} });
    } catch (e) {
        unknown = e;
    }
    check(unknown && /noSuchTool/.test(String(unknown.message)),
          `${label}: an unknown tool is a protocol error`);

    const b = await connect(bob, negotiation);
    const theft = await b.callTool({ name: 'runCommand',
                                     arguments: { sandboxId, command: 'echo stolen' } });
    check(theft.isError === true && !text(theft).includes('stolen'),
          `${label}: bob cannot run in alice's sandbox: ${text(theft).slice(0, 200)}`);
    const gone = await b.callTool({ name: 'readFile',
                                    arguments: { sandboxId, path: '/etc/hostname' } });
    check(gone.isError === true, `${label}: bob cannot read alice's sandbox`);
    await b.close();
    const op = await connect(root, negotiation);
    const peek = await op.callTool({ name: 'runCommand',
                                     arguments: { sandboxId, command: 'echo peeked' } });
    check(peek.isError === true && !text(peek).includes('peeked'),
          `${label}: an operator's token acts as a user over MCP: ${text(peek).slice(0, 120)}`);
    await op.close();
    await a.close();
}

await era('2025', { mode: 'legacy' }, 'legacy');
await era('2026', { mode: { pin: '2026-07-28' } }, 'modern');

for (const negotiation of [{ mode: 'legacy' }, { mode: { pin: '2026-07-28' } }, { mode: 'auto' }]) {
    let refused = null;
    try {
        await connect(null, negotiation);
    } catch (e) {
        refused = e;
    }
    check(refused && /401|nauthori/i.test(String(refused.message) + String(refused.code)),
          `no token refused (${JSON.stringify(negotiation)}): ${refused?.message}`);
}
console.log('all ok');
