// mcp_e2e.mjs: an MCP client (the official TypeScript SDK, v2) configured
// with nothing but Caisson's URL and a token does real work through the
// whole stack (test_mcp_e2e starts it with `caisson up`): a sandbox created
// and a command run in it (structured results, checked by the SDK against
// the output schemas), the seed task delegated with caisson_run (progress,
// then the answer), and the pull-request task approved in Caisson while the
// call waits. bob reaches none of alice's sandboxes; no token, no session.
// Usage: node ../mcp/mcp_e2e.mjs BASE ALICE BOB SEED_TASK PR_TASK OUTFILE
// (OUTFILE gets the seed run's id, for the C side to read its transcript).
import { writeFileSync } from 'node:fs';
const lib = new URL('../agui/node_modules/@modelcontextprotocol/client/dist/index.mjs',
                    import.meta.url);
const { Client, StreamableHTTPClientTransport } = await import(lib);

const [base, alice, bob, seedTask, prTask, outFile] = process.argv.slice(2);
const url = new URL(base + '/mcp');
const LONG = { timeout: 120_000, resetTimeoutOnProgress: true, maxTotalTimeout: 600_000 };

function check (cond, what) {
    if (!cond) {
        console.error('FAIL: ' + what);
        process.exit(1);
    }
    console.log('ok: ' + what);
}

async function connect (token) {
    const client = new Client({ name: 'caisson-e2e', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(url, token ? {
        requestInit: { headers: { Authorization: `Bearer ${token}` } } } : undefined));
    return client;
}

const refused = await connect(null).then(() => 'connected', e => String(e));
check(/401|nauthori/.test(refused), `no token: refused (${refused.slice(0, 80)})`);

const a = await connect(alice);
const { tools } = await a.listTools();
for (const name of ['createSandbox', 'runCommand', 'caisson_run'])
    check(tools.some(t => t.name === name), `tools/list offers ${name}`);

// a sandbox and a command in it, as the MCP client's own tools
const made = await a.callTool({ name: 'createSandbox', arguments: { language: 'python' } });
const box = made.structuredContent && made.structuredContent.sandboxId;
check(!made.isError && box, `createSandbox made ${box}`);
const ran = await a.callTool({ name: 'runCommand',
                               arguments: { sandboxId: box, command: 'python3 -c "print(6*7)"' } });
check(!ran.isError && ran.structuredContent.exitCode === 0 &&
      ran.structuredContent.stdout.trim() === '42', `runCommand ran in the sandbox: ${ran.content[0].text.slice(0, 120)}`);
const b = await connect(bob);
const stolen = await b.callTool({ name: 'runCommand', arguments: { sandboxId: box, command: 'id' } });
check(stolen.isError, `bob cannot run a command in alice's sandbox: ${stolen.content[0].text.slice(0, 100)}`);

// the seed task, delegated whole
const seen = [];
const r = await a.callTool({ name: 'caisson_run', arguments: { task: seedTask } },
                           { ...LONG, onprogress: p => seen.push(p.message) });
const s = r.structuredContent;
check(!r.isError && s.status === 'completed', `the seed task completed: ${s.status} ${s.reason || ''}`);
check(seen.some(m => /runCommand/.test(m)), `progress named its tool calls: ${seen.join(' | ')}`);
writeFileSync(outFile, s.runId);

// the pull-request task: approved in Caisson (its HTTP API) while the call waits
let approved = null;
const pr = await a.callTool({ name: 'caisson_run', arguments: { task: prTask } }, {
    ...LONG, onprogress: p => {
        const m = /caisson approve (\S+) (\S+)\)$/.exec(p.message || '');
        if (m && !approved)
            approved = fetch(`${base}/api/runs/${m[1]}/approve`, { method: 'POST',
                headers: { Authorization: `Bearer ${alice}`, 'Content-Type': 'application/json' },
                body: JSON.stringify({ toolCallId: m[2] }) }).then(x => x.status);
    } });
check(approved && await approved === 200, 'the run asked for approval and alice gave it');
check(!pr.isError && pr.structuredContent.status === 'completed',
      `the pull-request task completed: ${pr.structuredContent.status} ${pr.structuredContent.reason || ''}`);
const diff = pr.structuredContent.artifacts.find(x => x.kind === 'diff');
check(diff && diff.url.startsWith(base + '/api/artifacts/'),
      `its artifacts are linked: ${JSON.stringify(pr.structuredContent.artifacts)}`);
const art = await fetch(diff.url, { headers: { Authorization: `Bearer ${alice}` } });
check(art.status === 200 && /CONTRIBUTING/.test(await art.text()),
      `the diff's link opens with alice's token (${art.status})`);
const other = await fetch(diff.url, { headers: { Authorization: `Bearer ${bob}` } });
check(other.status === 404 || other.status === 403, `and not with bob's (${other.status})`);
await a.close();
await b.close();
console.log('mcp_e2e: all checks passed');
