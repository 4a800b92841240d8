// mcp_gate.mjs: the official MCP TypeScript SDK client (v2) calls a tool the
// deployment gates (git.openPR, the stand-in tool-runner's canned pull
// request) over /mcp, in both eras (2025: initialize + session, the
// elicitation/create request on the call's stream; 2026: stateless, the
// input_required round the SDK fulfils with the same handler):
// - a client that can be asked approves in its elicitation handler: the
//   call returns the tool's result (structuredContent, as a direct call);
// - one that declines with a reason: an error result naming who declined
//   and why;
// - one that cannot be asked waits, its progress naming the run and call;
//   alice approves over Caisson's HTTP API, and the result comes back;
// - cancelling the waiting call cancels the run.
// Usage: node ../mcp/mcp_gate.mjs BASE ALICE
const lib = new URL('../agui/node_modules/@modelcontextprotocol/client/dist/index.mjs',
                    import.meta.url);
const { Client, StreamableHTTPClientTransport } = await import(lib);

const [base, alice] = process.argv.slice(2);
const url = new URL(base + '/mcp');
const LONG = { timeout: 60_000, resetTimeoutOnProgress: true, maxTotalTimeout: 300_000 };
const ASK = /^awaiting approval: (\S+) \(approve in Caisson: caisson approve (\S+) (\S+)\)$/;

function fail (what) {
    console.error('FAIL: ' + what);
    process.exit(1);
}
function check (cond, what) {
    if (!cond)
        fail(what);
    console.log('ok: ' + what);
}
function text (r) {
    return (r.content || []).map(c => c.text || '').join('');
}

// A client of alice's; with onElicit, it declares the elicitation
// capability and answers elicitation/create with it.
async function connect (negotiation, onElicit) {
    const client = new Client({ name: 'caisson-gate-test', version: '1.0.0' },
                              { versionNegotiation: negotiation,
                                capabilities: onElicit ? { elicitation: { form: {} } } : {} });
    if (onElicit)
        client.setRequestHandler('elicitation/create', onElicit);
    await client.connect(new StreamableHTTPClientTransport(url, {
        requestInit: { headers: { Authorization: `Bearer ${alice}` } } }));
    return client;
}

async function api (method, path, body) {
    const r = await fetch(base + path, { method, body: body && JSON.stringify(body),
        headers: { Authorization: `Bearer ${alice}`, 'Content-Type': 'application/json' } });
    return { status: r.status, doc: await r.json().catch(() => null) };
}

async function runStatus (run, want) {
    for (let i = 0; i < 100; i++) {
        const { doc } = await api('GET', `/api/runs/${run}`);
        if (doc && doc.status === want)
            return want;
        await new Promise(r => setTimeout(r, 100));
    }
    return 'not ' + want;
}

const PR = { name: 'git.openPR', arguments: { title: 'gated over MCP' } };

async function era (label, negotiation) {
    let asked = null;
    const yes = await connect(negotiation, async req => {
        asked = req.params;
        return { action: 'accept', content: { decision: 'approve' } };
    });
    const ok = await yes.callTool(PR, LONG);
    check(asked && /git\.openPR/.test(asked.message) &&
          asked.requestedSchema.properties.decision.enum.includes('approve'),
          `${label}: the client was asked: ${asked && asked.message}`);
    check(!ok.isError && ok.structuredContent && ok.structuredContent.url === 'local:pr-1' &&
          JSON.parse(text(ok)).id === 'pr-1',
          `${label}: approved in the client, the tool's result came back: ${text(ok)}`);
    await yes.close();

    const no = await connect(negotiation, async () => (
        { action: 'accept', content: { decision: 'decline', reason: 'not on a Monday' } }));
    const declined = await no.callTool(PR, LONG);
    check(declined.isError === true && /declined by alice: not on a Monday/.test(text(declined)),
          `${label}: declined in the client, an error result says who and why: ` +
          text(declined));
    await no.close();

    const plain = await connect(negotiation, null);
    let decided = null;
    const waited = await plain.callTool(PR, { ...LONG, onprogress: p => {
        const m = ASK.exec(p.message || '');
        if (m && !decided)
            decided = api('POST', `/api/runs/${m[2]}/approve`, { toolCallId: m[3] });
    } });
    check(decided && (await decided).status === 200,
          `${label}: a client that cannot be asked waits; alice approved in Caisson`);
    check(!waited.isError && waited.structuredContent.id === 'pr-1',
          `${label}: ...and the result came back: ${text(waited)}`);

    const ctl = new AbortController();
    let run = null;
    const cut = await plain.callTool(PR, { ...LONG, signal: ctl.signal, onprogress: p => {
        const m = ASK.exec(p.message || '');
        if (m && !run) {
            run = m[2];
            ctl.abort('the test cancels');
        }
    } }).then(() => null, e => e);
    check(run && cut, `${label}: the client cancelled the waiting call`);
    check(await runStatus(run, 'cancelled') === 'cancelled',
          `${label}: cancelling the call cancelled run ${run}`);
    await plain.close();
}

await era('2025', { mode: 'legacy' });
await era('2026', { mode: { pin: '2026-07-28' } });
console.log('mcp_gate: all checks passed');
