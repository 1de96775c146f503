import http from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';
import { createMcpGuard, guardLists, HttpDecider } from 'toolgate/mcp';

// This server's URL is its OAuth resource identifier; toolgate's config has
// the same server id and resource.
const resource = process.env.MCP_RESOURCE ?? 'http://127.0.0.1:3000/mcp';
const decider = new HttpDecider(process.env.TOOLGATE_URL ?? 'http://127.0.0.1:8181');
const guard = createMcpGuard({
  decider,
  serverId: 'demo',
  metadata: { resource, authorization_servers: [process.env.AUTHORIZATION_SERVER ?? 'https://auth.example.com'] },
});

function buildServer(): McpServer {
  const server = new McpServer({ name: 'invoices', version: '1.0.0' });
  // Before registering anything: the guard filters each list as it is installed.
  guardLists(server, decider, 'demo');
  server.registerTool(
    'invoices.read',
    { description: 'Read one invoice.', inputSchema: { invoice_id: z.string() }, annotations: { readOnlyHint: true } },
    async ({ invoice_id }) => ({ content: [{ type: 'text', text: `invoice ${invoice_id}: 120.00 USD, paid` }] }),
  );
  return server;
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  let text = '';
  for await (const chunk of req) {
    text += chunk;
    if (text.length > 1_000_000) throw new Error('body too large');
  }
  return text ? JSON.parse(text) : undefined;
}

http
  .createServer(async (req, res) => {
    try {
      const body = req.method === 'POST' ? await readJson(req) : undefined;
      // The guard answers metadata requests, denies and malformed requests itself.
      if (await guard.handle(req, res, body)) return;
      const server = buildServer();
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      res.on('close', () => {
        void transport.close();
        void server.close();
      });
      await server.connect(transport);
      await transport.handleRequest(req, res, body);
    } catch {
      if (!res.headersSent) res.writeHead(400, { 'content-type': 'application/json' }).end('{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}');
    }
  })
  .listen(Number(new URL(resource).port || 80), '127.0.0.1', () => console.log(`MCP server listening on ${resource}`));
