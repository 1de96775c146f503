import type http from 'node:http';
import { createMcpHandler, fromJsonSchema, McpServer } from '@modelcontextprotocol/server';
import { serveGuarded, type DemoMcpServer, type ToolInvocation } from '../../src/demo/mcp-server.js';
import type { Decider } from '../../src/mcp/decider.js';
import { guardLists, type McpGuardOptions } from '../../src/mcp/guard.js';

type Props = Record<string, { type: string; enum?: string[] }>;
const object = (properties: Props, required: string[]) => fromJsonSchema<Record<string, unknown>>({ type: 'object', properties, required });

/**
 * The demo MCP server's tools, resources and prompt on the 2.x server
 * package (`@modelcontextprotocol/server`), with JSON Schema inputs (2.x
 * takes Standard Schema; zod 4 is the SDK's own, not toolgate's).
 */
function buildServer(invocations: ToolInvocation[], decider: Decider, serverId: string): McpServer {
  const server = new McpServer({ name: 'toolgate-demo-v2', version: '0.0.0' });
  guardLists(server, decider, serverId);
  const ran = (tool: string, args: Record<string, unknown>, text: string) => {
    invocations.push({ tool, args });
    return { content: [{ type: 'text' as const, text }] };
  };
  server.registerTool(
    'refunds.create',
    { description: 'Refund (part of) an order.', inputSchema: object({ order_id: { type: 'string' }, amount: { type: 'number' }, currency: { type: 'string' } }, ['order_id', 'amount', 'currency']) },
    async (args) => ran('refunds.create', args, `refunded ${args.amount} ${args.currency} on ${args.order_id}`),
  );
  server.registerTool(
    'invoices.read',
    { description: 'Read one invoice.', inputSchema: object({ invoice_id: { type: 'string' } }, ['invoice_id']), annotations: { readOnlyHint: true } },
    async (args) => ran('invoices.read', args, `invoice ${args.invoice_id}: 120.00 USD, paid`),
  );
  server.registerTool(
    'issues.create',
    { description: "Open an issue in one of the caller's projects.", inputSchema: object({ project: { type: 'string' }, title: { type: 'string' } }, ['project', 'title']) },
    async (args) => ran('issues.create', args, `opened an issue in ${args.project}: ${args.title}`),
  );
  server.registerTool(
    'deploy.trigger',
    { description: 'Deploy a service.', inputSchema: object({ service: { type: 'string' }, environment: { type: 'string', enum: ['staging', 'production'] } }, ['service', 'environment']) },
    async (args) => ran('deploy.trigger', args, `deploying ${args.service} to ${args.environment}`),
  );
  for (const [name, uri, text] of [
    ['refund-handbook', 'docs://handbook/refunds', 'Refunds up to 100 USD need no approval.'],
    ['salaries', 'docs://internal/salaries', 'confidential'],
  ] as const) {
    server.registerResource(name, uri, { mimeType: 'text/plain' }, async (u) => {
      invocations.push({ tool: 'resources/read', args: { uri: u.href } });
      return { contents: [{ uri: u.href, text }] };
    });
  }
  server.registerPrompt('refund_reply', { description: "Draft a reply to a customer's refund request.", argsSchema: object({ order_id: { type: 'string' } }, ['order_id']) }, (args) => {
    invocations.push({ tool: 'prompts/get', args });
    return { messages: [{ role: 'user', content: { type: 'text', text: `Draft a friendly reply about the refund of order ${args.order_id}.` } }] };
  });
  return server;
}

/** The Node request as a Fetch API Request, the shape the 2.x server entry points take. */
function webRequest(req: http.IncomingMessage, body: unknown): Request {
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headersDistinct)) for (const x of v ?? []) headers.append(k, x);
  const url = new URL(req.url ?? '/', `http://${req.headers.host ?? '127.0.0.1'}`);
  return new Request(url, { method: req.method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

/**
 * The demo MCP server on `@modelcontextprotocol/server` 2.x: the same guard
 * in front, then `createMcpHandler` (both protocol eras, stateless), with
 * the guard's `req.auth` passed on as `authInfo`.
 */
export async function startDemoMcpServerV2(opts: McpGuardOptions & { port?: number }): Promise<DemoMcpServer> {
  const invocations: ToolInvocation[] = [];
  const handler = createMcpHandler(() => buildServer(invocations, opts.decider, opts.serverId));
  const served = await serveGuarded(opts, invocations, async (req, res, body) => {
    const response = await handler.fetch(webRequest(req, body), { authInfo: req.auth, parsedBody: body });
    res.writeHead(response.status, Object.fromEntries(response.headers));
    if (response.body) for await (const chunk of response.body) res.write(chunk);
    res.end();
  });
  return { ...served, close: async () => { await handler.close(); await served.close(); } };
}
