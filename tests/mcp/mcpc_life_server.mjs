// mcpc_life_server: a Streamable HTTP MCP server written with the official
// SDK (v2), for tests/test_mcp_client_life.c: the life of tool-runner's
// MCP servers after their start (a server that comes up late, a catalogue
// that changes, cancelled calls, names). `node mcpc_life_server.mjs <port>`
// serves 127.0.0.1:<port>, one stateful session per initialize:
//
//   POST /json/mcp   tools `echo` and `grow` (answers application/json)
//   POST /sse/mcp    the same answering as SSE streams: `grow` adds a tool
//                    `grown<N>` and sends notifications/tools/list_changed
//                    on the call's own stream before its result; `slow`
//                    answers only when cancelled (then too late: the
//                    client must have answered the call already)
//   POST /names/mcp  tools whose names the client must leave out (`_under`,
//                    a 60-byte one with dots, 66 on the model's wire, and
//                    Caisson's own `openPR` and `readFiles`) and `fine`
//   POST /forget     the server forgets every session (404 next: a new one)
//   GET  /stats      {initializes, lists, slow (calls of `slow` begun),
//                     cancelled: [{requestId, reason}]}
import http from 'node:http';
import { serveSession, webRequest, writeResponse } from './mcp_web.mjs';

const sdk = p => new URL(`../agui/node_modules/@modelcontextprotocol/${p}`, import.meta.url);
const { McpServer } = await import(sdk('server/dist/index.mjs'));
const z = await import(new URL('../agui/node_modules/zod/v4/index.js', import.meta.url));

const [port] = process.argv.slice(2);
const stats = { initializes: 0, lists: 0, slow: 0, cancelled: [] };
let grown = 0;
// `grow` changes the server's catalogue for every session (what
// list_changed usually means): each live server, and those made later.
const live = [];
const grownNames = [];

const text = t => ({ content: [{ type: 'text', text: t }] });
const readOnly = { readOnlyHint: true };

function newServer(mode) {
    const mcp = new McpServer({ name: 'mcpc-life-test', version: '1.0.0' },
                              { capabilities: { tools: { listChanged: true } } });
    if (mode === 'names') {
        for (const name of ['_under', 'fine', 'openPR', 'readFiles',
                            'd.o.t.s.' + 'x'.repeat(46)])
            mcp.registerTool(name, { description: `tool ${name}`, annotations: readOnly,
                                     inputSchema: z.object({}) }, async () => text(name));
    }
    else {
        mcp.registerTool('echo', { description: 'Echoes a word', annotations: readOnly,
                                   inputSchema: z.object({ word: z.string() }) },
            async ({ word }) => text(word));
        const addGrown = (server, name) =>
            server.registerTool(name, { description: 'A tool added later',
                                        annotations: readOnly, inputSchema: z.object({}) },
                async () => text(name));
        for (const name of grownNames)
            addGrown(mcp, name);
        live.push(mcp);
        mcp.registerTool('grow', { description: 'Adds a tool', annotations: readOnly,
                                   inputSchema: z.object({}) },
            async (_args, ctx) => {
                const name = `grown${++grown}`;
                grownNames.push(name);
                for (const server of live)
                    addGrown(server, name);
                await ctx.mcpReq.notify({ method: 'notifications/tools/list_changed' });
                return text(name);
            });
        mcp.registerTool('slow', { description: 'Answers when cancelled', annotations: readOnly,
                                   inputSchema: z.object({}) },
            async (_args, ctx) => {
                stats.slow++;
                await new Promise(resolve => ctx.mcpReq.signal.addEventListener('abort', resolve));
                return text('too late');
            });
    }
    mcp.server.setNotificationHandler('notifications/cancelled', n => {
        stats.cancelled.push({ requestId: n.params.requestId, reason: n.params.reason ?? null });
        // what the SDK's own handler does: abort the request's handler
        const controller = mcp.server._requestHandlerAbortControllers?.get(n.params.requestId);
        controller?.abort(n.params.reason);
    });
    const list = mcp.server._requestHandlers.get('tools/list');
    mcp.server.removeRequestHandler('tools/list');
    mcp.server.setRequestHandler('tools/list', async (req, ctx) => {
        stats.lists++;
        return list(req, ctx);
    });
    return mcp;
}

const sessions = new Map();

function serveMcp(mode, request) {
    return serveSession(sessions, request, () => newServer(mode), mode !== 'sse',
                        () => stats.initializes++);
}

async function route(req, body) {
    const request = webRequest(req, body, port);
    const url = new URL(request.url);
    const mode = url.pathname.match(/^\/(json|sse|names)\/mcp$/)?.[1];
    if (mode)
        return serveMcp(mode, request);
    if (url.pathname === '/forget') {
        sessions.clear();
        return new Response('{}');
    }
    if (url.pathname === '/stats')
        return new Response(JSON.stringify(stats));
    return new Response('not found', { status: 404 });
}

http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req)
        chunks.push(c);
    await writeResponse(res, await route(req, Buffer.concat(chunks)));
}).listen(Number(port), '127.0.0.1');
