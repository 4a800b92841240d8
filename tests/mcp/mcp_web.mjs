// mcp_web: what the Streamable HTTP test servers written with the official
// SDK (v2) share (mcpc_http_server.mjs, mcpc_life_server.mjs): node's http
// request as a web Request, a web Response written back, and one stateful
// transport per session.
import { randomUUID } from 'node:crypto';

const sdk = p => new URL(`../agui/node_modules/@modelcontextprotocol/${p}`, import.meta.url);
const { WebStandardStreamableHTTPServerTransport } = await import(sdk('server/dist/index.mjs'));

// req (node's, its body read into body) as a web Request to
// 127.0.0.1:port; a body only on POST.
export function webRequest(req, body, port) {
    const url = new URL(req.url, `http://127.0.0.1:${port}`);
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers))
        headers.set(k, Array.isArray(v) ? v.join(', ') : v);
    return new Request(url, { method: req.method, headers,
                              body: req.method === 'POST' ? body : undefined });
}

// Writes response (a web Response) to res, its body streamed as it comes.
export async function writeResponse(res, response) {
    res.writeHead(response.status, Object.fromEntries(response.headers));
    if (response.body)
        for await (const chunk of response.body)
            res.write(chunk);
    res.end();
}

// request in the session its mcp-session-id names in sessions (a Map),
// a JSON-RPC 404 "Session not found" when it names none there; without
// one, a new session: server() connected to a transport answering
// application/json when json (SSE streams otherwise), put in sessions
// once initialized, with onInit() called then.
export async function serveSession(sessions, request, server, json, onInit) {
    const sid = request.headers.get('mcp-session-id');
    if (sid) {
        const transport = sessions.get(sid);
        if (!transport)
            return new Response(JSON.stringify({ jsonrpc: '2.0', id: null,
                error: { code: -32001, message: 'Session not found' } }),
                { status: 404, headers: { 'content-type': 'application/json' } });
        return transport.handleRequest(request);
    }
    const transport = new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        enableJsonResponse: json,
        onsessioninitialized: id => { sessions.set(id, transport); onInit(); },
    });
    await server().connect(transport);
    return transport.handleRequest(request);
}
