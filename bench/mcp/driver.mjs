// bench/mcp/driver.mjs: the Node half of bench-mcp (bench/mcp.c runs it).
// Times one cheap tools/call (checkFileExists on a sandbox) with the
// official MCP TypeScript SDK client (v2) over Caisson's /mcp, in the 2025
// era (initialize + session) and the stateless 2026-07-28 era, and a
// trivial tool on the SDK's own server over InMemoryTransport's linked pair
// (2025 era only: the SDK's linked pair does not speak 2026-07-28), the
// floor any MCP call pays in the SDK itself. Prints one table row per path
// in bench-mcp's format, with its p50 against the bus path's.
// Usage: node driver.mjs BASE TOKEN SANDBOX CALLS SECONDS CLIENTS BUS_P50_US
const sdk = p => new URL(`../../tests/agui/node_modules/@modelcontextprotocol/${p}`,
                         import.meta.url);
const { Client, StreamableHTTPClientTransport, InMemoryTransport } =
    await import(sdk('client/dist/index.mjs'));
const { McpServer } = await import(sdk('server/dist/index.mjs'));
const z = await import(new URL('../../tests/agui/node_modules/zod/v4/index.js',
                               import.meta.url));

const [base, token, sandboxId, calls, seconds, clients, busP50] = process.argv.slice(2);
const N = Number(calls), SECS = Number(seconds), C = Number(clients);

// A connected client for a path; its call(): one tools/call, throwing on
// an error result so a broken path cannot pass for a fast one.
async function open (path) {
    if (path === 'memory') {
        const server = new McpServer({ name: 'bench', version: '1.0.0' });
        server.registerTool('checkFileExists', {
            description: 'a trivial tool', inputSchema: z.object({ path: z.string() }),
            outputSchema: z.object({ exists: z.boolean(), path: z.string() }),
            annotations: { readOnlyHint: true } },
        async ({ path: p }) => ({ content: [{ type: 'text', text: JSON.stringify({ exists: false,
                                                                                   path: p }) }],
                                  structuredContent: { exists: false, path: p } }));
        const [ct, st] = InMemoryTransport.createLinkedPair();
        await server.connect(st);
        const client = new Client({ name: 'bench-mcp', version: '1.0.0' });
        await client.connect(ct);
        return { client, args: { path: 'x' }, close: async () => { await client.close();
                                                                    await server.close(); } };
    }
    const negotiation = path === '2025' ? { mode: 'legacy' } : { mode: { pin: '2026-07-28' } };
    const client = new Client({ name: 'bench-mcp', version: '1.0.0' },
                              { versionNegotiation: negotiation });
    const headers = { Authorization: `Bearer ${token}` };
    await client.connect(new StreamableHTTPClientTransport(new URL(base + '/mcp'),
                                                           { requestInit: { headers } }));
    return { client, args: { sandboxId, path: 'x' }, close: () => client.close() };
}

async function call (c) {
    const r = await c.client.callTool({ name: 'checkFileExists', arguments: c.args });
    if (r.isError || r.structuredContent?.exists !== false)
        throw new Error('checkFileExists failed: ' + JSON.stringify(r).slice(0, 300));
}

// calls per second with n clients each keeping one call in flight
async function rate (path, n) {
    const cs = await Promise.all(Array.from({ length: n }, () => open(path)));
    let done = 0;
    const end = performance.now() + SECS * 1000;
    await Promise.all(cs.map(async c => {
        while (performance.now() < end) {
            await call(c);
            done++;
        }
    }));
    await Promise.all(cs.map(c => c.close()));
    return done / SECS;
}

async function measure (path, label) {
    const c = await open(path);
    for (let i = 0; i < 50; i++)
        await call(c);                  // warm up: JIT, connection, caches
    const t = new Float64Array(N);
    const t0 = performance.now();
    for (let i = 0; i < N; i++) {
        const s = performance.now();
        await call(c);
        t[i] = (performance.now() - s) * 1000;
    }
    const one = N / ((performance.now() - t0) / 1000);
    await c.close();
    t.sort();
    const many = await rate(path, C);
    const p50 = t[Math.floor(N / 2)], p99 = t[Math.floor(N * 99 / 100)];
    console.log(`  ${label.padEnd(28)} ${p50.toFixed(1).padStart(10)} ` +
                `${p99.toFixed(1).padStart(10)} ${one.toFixed(0).padStart(10)} ` +
                `${many.toFixed(0).padStart(10)} ` +
                `${(p50 / Number(busP50)).toFixed(2).padStart(8)} ` +
                `${(p50 - Number(busP50)).toFixed(0).padStart(9)}`);
}

await measure('2025', '/mcp, SDK 2025-11-25');
await measure('2026', '/mcp, SDK 2026-07-28');
await measure('memory', 'SDK in-memory (2025 era)');
