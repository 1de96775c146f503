import type { IncomingMessage, ServerResponse } from 'node:http';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Decider } from './decider.js';

/** Options of the MCP guard for one protected MCP server. */
export interface McpGuardOptions {
  decider: Decider;
  /** The server id in toolgate's config. */
  serverId: string;
  /** RFC 9728 metadata this server publishes (toolgate serves the same document). */
  metadata: { resource: string; authorization_servers: string[]; scopes_supported?: string[]; [k: string]: unknown };
}

/** What the MCP SDK expects on `req.auth` (AuthInfo). */
interface AuthInfo {
  token: string;
  clientId: string;
  scopes: string[];
  extra?: Record<string, unknown>;
}

function bearer(req: IncomingMessage): string {
  const h = req.headers.authorization;
  return h && /^Bearer\s+/i.test(h) ? h.replace(/^Bearer\s+/i, '').trim() : '';
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

function metadataPath(resource: string): string {
  const p = new URL(resource).pathname.replace(/\/$/, '');
  return `/.well-known/oauth-protected-resource${p === '/' ? '' : p}`;
}

/**
 * HTTP-level guard for an MCP server on Streamable HTTP. Call `handle` before
 * the transport: it serves the RFC 9728 document, answers 401/403 with the
 * `WWW-Authenticate` toolgate chose, decides every `tools/call` before any
 * handler runs (a policy denial comes back as a tool error carrying the
 * reasons, so agents can explain and continue), and sets `req.auth` for the
 * SDK. Returns true when it has answered the request itself.
 */
export function createMcpGuard(opts: McpGuardOptions) {
  const wellKnown = metadataPath(opts.metadata.resource);
  return {
    async handle(req: IncomingMessage & { auth?: AuthInfo }, res: ServerResponse, body: unknown): Promise<boolean> {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (req.method === 'GET' && url.pathname === wellKnown) {
        json(res, 200, { bearer_methods_supported: ['header'], ...opts.metadata }, { 'cache-control': 'public, max-age=300' });
        return true;
      }
      const token = bearer(req);
      const messages = Array.isArray(body) ? body : [body];
      const calls = messages.filter((m): m is { id: unknown; method: string; params?: { name?: unknown; arguments?: unknown } } => !!m && typeof m === 'object' && (m as { method?: unknown }).method === 'tools/call');
      if (calls.length > 1 || (calls.length === 1 && Array.isArray(body))) {
        json(res, 400, { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'batched tools/call requests are not accepted' } });
        return true;
      }
      if (calls.length === 1) {
        const call = calls[0];
        const args = call.params?.arguments;
        const d = await opts.decider.decide({
          token,
          server: opts.serverId,
          action: 'call',
          tool: { name: String(call.params?.name ?? ''), arguments: args && typeof args === 'object' && !Array.isArray(args) ? (args as Record<string, unknown>) : {} },
        });
        if (d.allow) {
          req.auth = { token, clientId: '', scopes: [], extra: { decision_id: d.decision_id, revision: d.revision } };
          return false;
        }
        if (d.code === 'policy_denied' || d.code === 'policy_error') {
          // The handler never runs; the agent sees why and can continue.
          json(res, 200, {
            jsonrpc: '2.0',
            id: call.id,
            result: { content: [{ type: 'text', text: `Denied by policy (decision ${d.decision_id}): ${d.reasons.join('; ')}` }], isError: true },
          });
          return true;
        }
        json(res, d.http_status ?? 403, { jsonrpc: '2.0', id: call.id, error: { code: -32001, message: d.reasons.join('; ') || d.code } }, d.www_authenticate ? { 'www-authenticate': d.www_authenticate } : {});
        return true;
      }
      // Every other request is authenticated too: sessions are never authentication.
      const t = await opts.decider.filterTools({ token, server: opts.serverId, tools: [] });
      if (t.code) {
        json(res, t.http_status ?? 401, { jsonrpc: '2.0', id: null, error: { code: -32001, message: (t.reasons ?? []).join('; ') || t.code } }, t.www_authenticate ? { 'www-authenticate': t.www_authenticate } : {});
        return true;
      }
      req.auth = { token, clientId: '', scopes: [] };
      return false;
    },
  };
}

type Handler = (request: unknown, extra: { authInfo?: { token?: string } }) => Promise<{ tools: { name: string; annotations?: Record<string, unknown> }[] }>;

/**
 * Filters an McpServer's tools/list per caller through toolgate (action
 * "list"). Call after the tools are registered. The SDK keeps its handlers
 * in a private map; the guard wraps the one McpServer installed.
 */
export function guardToolList(server: McpServer, decider: Decider, serverId: string): void {
  const handlers = (server.server as unknown as { _requestHandlers: Map<string, Handler> })._requestHandlers;
  const original = handlers.get('tools/list');
  if (!original) throw new Error('register the tools before guarding tools/list');
  handlers.set('tools/list', async (request, extra) => {
    const all = await original(request, extra);
    const token = extra.authInfo?.token ?? '';
    const t = await decider.filterTools({ token, server: serverId, tools: all.tools.map((x) => ({ name: x.name, annotations: x.annotations })) });
    const allowed = new Set(t.allowed);
    // Per-caller lists must not be shared by caches (MCP 2026-07-28: cacheScope "private").
    return { ...all, tools: all.tools.filter((x) => allowed.has(x.name)), _meta: { cacheScope: 'private' } };
  });
}
