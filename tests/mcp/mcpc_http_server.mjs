// mcpc_http_server: a small Streamable HTTP MCP server written with the
// official SDK (v2, WebStandardStreamableHTTPServerTransport), for
// tests/test_mcp_client_http.c: tool-runner as an MCP client of a remote
// server. `node mcpc_http_server.mjs <port> <token>` serves 127.0.0.1:<port>:
//
//   POST /json/mcp     the SDK's stateful server answering application/json;
//                      wants `Authorization: Bearer <token>` (else 401)
//   POST /sse/mcp      the same, answering every request as an SSE stream
//                      (a log notification before a tool's result), and
//                      speaking only revision 2025-06-18
//   POST /fail/mcp     500 to everything
//   POST /hang/mcp     never answers (the connection stays open)
//   POST /garbage/mcp  200 application/json that is not JSON
//   POST /redirect/mcp 307 to /json/mcp (a client must not follow it)
//   POST /forget       the servers forget every session (404 next: re-initialize)
//   GET  /stats        {initializes, pending, authFailures}
//   POST /release      answers every `wait` call held so far
//
// Tools (2 per page of tools/list, so a client must follow nextCursor):
// `add` (readOnlyHint, outputSchema + structuredContent), `fail` (an isError
// result), `wait` (held until /release: a call that hangs), `shout`
// (neither read-only nor structured: gated) and `huge` (a 9 MiB answer).
import http from 'node:http';
import { serveSession, webRequest, writeResponse } from './mcp_web.mjs';

const sdk = p => new URL(`../agui/node_modules/@modelcontextprotocol/${p}`, import.meta.url);
const { McpServer } = await import(sdk('server/dist/index.mjs'));
const z = await import(new URL('../agui/node_modules/zod/v4/index.js', import.meta.url));

const [port, token] = process.argv.slice(2);
const stats = { initializes: 0, pending: 0, authFailures: 0 };
let held = [];
const PAGE = 2;

function newServer(chatty) {
    // The SSE one speaks only 2025-06-18: it counter-offers that to a
    // client offering 2025-11-25, and refuses another MCP-Protocol-Version.
    const options = { capabilities: { logging: {} } };
    if (chatty)
        options.supportedProtocolVersions = ['2025-06-18'];
    const mcp = new McpServer({ name: 'mcpc-http-test', version: '1.0.0' }, options);
    const note = async ctx => {
        if (chatty)
            await ctx.mcpReq.notify({ method: 'notifications/message',
                                      params: { level: 'info', data: 'working on it' } });
    };
    mcp.registerTool('add', {
        description: 'Adds two numbers', annotations: { readOnlyHint: true },
        inputSchema: z.object({ a: z.number(), b: z.number() }),
        outputSchema: z.object({ sum: z.number() }) },
    async ({ a, b }, ctx) => {
        await note(ctx);
        return { content: [{ type: 'text', text: `${a + b}` }], structuredContent: { sum: a + b } };
    });
    mcp.registerTool('fail', { description: 'Always fails', inputSchema: z.object({}) },
        async () => ({ content: [{ type: 'text', text: 'the widget is broken' }], isError: true }));
    mcp.registerTool('wait', { description: 'Answers when released',
                               annotations: { readOnlyHint: true }, inputSchema: z.object({}) },
        async () => {
            stats.pending++;
            await new Promise(resolve => held.push(resolve));
            stats.pending--;
            return { content: [{ type: 'text', text: 'released' }] };
        });
    mcp.registerTool('shout', { description: 'Shouts a word',
                                inputSchema: z.object({ word: z.string() }) },
        async ({ word }) => ({ content: [{ type: 'text', text: word.toUpperCase() }] }));
    mcp.registerTool('huge', { description: 'A 9 MiB answer', annotations: { readOnlyHint: true },
                               inputSchema: z.object({}) },
        async () => ({ content: [{ type: 'text', text: 'x'.repeat(9 << 20) }] }));
    mcp.registerTool('pingback', { description: 'Pings the client, then answers',
                                   annotations: { readOnlyHint: true }, inputSchema: z.object({}) },
        async (_args, ctx) => {
            await ctx.mcpReq.send({ method: 'ping' }, { timeout: 10000 });
            return { content: [{ type: 'text', text: 'pong' }] };
        });
    // tools/list in pages of PAGE, the cursor being the next index.
    const all = mcp.server._requestHandlers.get('tools/list');
    mcp.server.removeRequestHandler('tools/list');
    mcp.server.setRequestHandler('tools/list', async (req, ctx) => {
        const { tools } = await all(req, ctx);
        const from = Number(req.params?.cursor ?? 0);
        const page = { tools: tools.slice(from, from + PAGE) };
        if (from + PAGE < tools.length)
            page.nextCursor = String(from + PAGE);
        return page;
    });
    return mcp;
}

// One stateful transport per session, per mode.
const sessions = { json: new Map(), sse: new Map() };

function serveMcp(mode, request) {
    return serveSession(sessions[mode], request, () => newServer(mode === 'sse'), mode === 'json',
                        () => stats.initializes++);
}

async function route(req, body) {
    const request = webRequest(req, body, port);
    const headers = request.headers;
    switch (new URL(request.url).pathname) {
    case '/json/mcp':
        if (headers.get('authorization') !== `Bearer ${token}`) {
            stats.authFailures++;
            return new Response('no such token', { status: 401 });
        }
        return serveMcp('json', request);
    case '/sse/mcp':
        return serveMcp('sse', request);
    case '/fail/mcp':
        return new Response('Internal Server Error', { status: 500 });
    case '/garbage/mcp':
        return new Response('{oops', { status: 200, headers: { 'content-type': 'application/json' } });
    case '/redirect/mcp':
        return new Response('', { status: 307, headers: { location: '/json/mcp' } });
    case '/forget':
        for (const map of Object.values(sessions))
            map.clear();
        return new Response('{}');
    case '/stats':
        return new Response(JSON.stringify(stats), { headers: { 'content-type': 'application/json' } });
    case '/release':
        held.splice(0).forEach(resolve => resolve());
        return new Response('{}');
    default:
        return new Response('not found', { status: 404 });
    }
}

http.createServer((req, res) => {
    const chunks = [];
    req.on('data', c => chunks.push(c));
    req.on('end', async () => {
        if (new URL(req.url, 'http://x').pathname === '/hang/mcp')
            return;             // never answered
        try {
            await writeResponse(res, await route(req, Buffer.concat(chunks)));
        } catch (e) {
            console.error(e);
            res.writeHead(599);
            res.end(String(e));
        }
    });
}).listen(Number(port), '127.0.0.1', () => console.log(`listening on ${port}`));
