import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { completable } from '@modelcontextprotocol/sdk/server/completable.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';
import type { Decider } from '../mcp/decider.js';
import { createMcpGuard, guardLists, type GuardAuthInfo, type McpGuardOptions } from '../mcp/guard.js';
import { TOOLGATE_VERSION } from '../version.js';

/**
 * One handler invocation (the demo's stand-in for a real side effect): a
 * tool by name, or `resources/read`, `prompts/get`, `completion/complete`.
 */
export interface ToolInvocation {
  tool: string;
  args: Record<string, unknown>;
}

/** A running demo MCP server. */
export interface DemoMcpServer {
  url: string;
  invocations: ToolInvocation[];
  close(): Promise<void>;
}

function buildServer(invocations: ToolInvocation[], decider: Decider | undefined, serverId: string): McpServer {
  const server = new McpServer({ name: 'toolgate-demo', version: TOOLGATE_VERSION });
  // Before any registration: the guard wraps the list handlers as McpServer installs them.
  if (decider) guardLists(server, decider, serverId);
  const ran = (tool: string, args: Record<string, unknown>, text: string) => {
    invocations.push({ tool, args });
    return { content: [{ type: 'text' as const, text }] };
  };
  server.registerTool(
    'refunds.create',
    { description: 'Refund (part of) an order.', inputSchema: { order_id: z.string(), amount: z.number(), currency: z.string(), card_number: z.string().optional(), reason: z.string().optional() } },
    async (args) => ran('refunds.create', args, `refunded ${args.amount} ${args.currency} on ${args.order_id}`),
  );
  server.registerTool(
    'invoices.read',
    { description: 'Read one invoice.', inputSchema: { invoice_id: z.string() }, annotations: { readOnlyHint: true } },
    async (args) => ran('invoices.read', args, `invoice ${args.invoice_id}: 120.00 USD, paid`),
  );
  server.registerTool(
    'issues.create',
    { description: "Open an issue in one of the caller's projects.", inputSchema: { project: z.string(), title: z.string(), body: z.string().optional() } },
    async (args) => ran('issues.create', args, `opened an issue in ${args.project}: ${args.title}`),
  );
  server.registerTool(
    'deploy.trigger',
    { description: 'Deploy a service.', inputSchema: { service: z.string(), environment: z.enum(['staging', 'production']) } },
    async (args) => ran('deploy.trigger', args, `deploying ${args.service} to ${args.environment}`),
  );
  // Two resources: the handbook is in the reference catalog, the salaries are
  // not, so the guard must deny reading them and hide them from the list.
  for (const [name, uri, text] of [
    ['refund-handbook', 'docs://handbook/refunds', 'Refunds up to 100 USD need no approval.'],
    ['salaries', 'docs://internal/salaries', 'confidential'],
  ] as const) {
    server.registerResource(name, uri, { mimeType: 'text/plain' }, async (u) => {
      invocations.push({ tool: 'resources/read', args: { uri: u.href } });
      return { contents: [{ uri: u.href, text }] };
    });
  }
  server.registerPrompt(
    'refund_reply',
    {
      description: "Draft a reply to a customer's refund request.",
      argsSchema: {
        order_id: completable(z.string(), (value) => {
          invocations.push({ tool: 'completion/complete', args: { value } });
          return ['o-1', 'o-2', 'o-3'].filter((o) => o.startsWith(value));
        }),
      },
    },
    (args) => {
      invocations.push({ tool: 'prompts/get', args });
      return { messages: [{ role: 'user', content: { type: 'text', text: `Draft a friendly reply about the refund of order ${args.order_id}.` } }] };
    },
  );
  return server;
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > 1024 * 1024) throw new Error('body too large');
    chunks.push(c as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? (JSON.parse(text) as unknown) : undefined;
}

/** Answers one request the guard let through (or every request, unguarded). */
export type McpAnswer = (req: http.IncomingMessage & { auth?: GuardAuthInfo }, res: http.ServerResponse, body: unknown) => Promise<void>;

/**
 * The HTTP shell every demo MCP server shares, whatever its SDK: reads the
 * JSON body, runs the guard, 404s other paths, and hands the rest to
 * `answer`. `invocations` is filled by the server's handlers.
 */
export async function serveGuarded(opts: McpGuardOptions & { port?: number; unguarded?: boolean }, invocations: ToolInvocation[], answer: McpAnswer): Promise<DemoMcpServer> {
  const guard = createMcpGuard(opts);
  const mcpPath = new URL(opts.metadata.resource).pathname;
  const httpServer = http.createServer((req, res) => {
    void (async () => {
      try {
        const body = req.method === 'POST' ? await readJson(req) : undefined;
        // `unguarded` exists only to measure what the guard costs (src/bench/guard.ts).
        if (!opts.unguarded && (await guard.handle(req, res, body))) return;
        if (new URL(req.url ?? '/', 'http://x').pathname !== mcpPath) {
          res.writeHead(404).end();
          return;
        }
        await answer(req, res, body);
      } catch (e) {
        if (!res.headersSent) res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32700, message: (e as Error).message } }));
      }
    })();
  });
  await new Promise<void>((r) => httpServer.listen(opts.port ?? 0, '127.0.0.1', () => r()));
  const port = (httpServer.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}${mcpPath}`,
    invocations,
    close: () =>
      new Promise<void>((r) => {
        httpServer.closeAllConnections();
        httpServer.close(() => r());
      }),
  };
}

/**
 * The demo MCP server: four tools a real team would guard, two resources and
 * a prompt with argument completion, on Streamable HTTP (stateless) with
 * `@modelcontextprotocol/sdk` 1.x, protected by the toolgate guard.
 * `metadata.resource` must be this server's URL (e.g. http://127.0.0.1:3000/mcp).
 */
export async function startDemoMcpServer(opts: McpGuardOptions & { port?: number; unguarded?: boolean }): Promise<DemoMcpServer> {
  const invocations: ToolInvocation[] = [];
  return serveGuarded(opts, invocations, async (req, res, body) => {
    const server = buildServer(invocations, opts.unguarded ? undefined : opts.decider, opts.serverId);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  });
}
