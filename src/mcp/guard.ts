import type { IncomingMessage, ServerResponse } from 'node:http';
import { resourceUriRefusal } from '../contract/resource-uri.js';
import type { DecisionResult } from '../decision/decision-result.js';
import type { Decider, GuardDecisionRequest } from './decider.js';
import { bearerToken, protectedResourceMetadataPath } from './http-auth.js';
import { HEADER_MISMATCH, headerMismatch } from './request-headers.js';
import { assertSupportedSdk, UnsupportedSdkError, type SdkLine } from './sdk-support.js';

/** Options of the MCP guard for one protected MCP server. */
export interface McpGuardOptions {
  decider: Decider;
  /** The server id in toolgate's config. */
  serverId: string;
  /**
   * RFC 9728 metadata the guard serves at the resource's well-known path, as
   * given (plus `bearer_methods_supported: ["header"]` unless set). toolgate
   * serves its own document for the server from its config; nothing keeps the
   * two equal, so pass the same resource, issuers and scopes.
   */
  metadata: { resource: string; authorization_servers: string[]; scopes_supported?: string[]; [k: string]: unknown };
}

/**
 * What the guard sets on `req.auth`: the SDK's AuthInfo. The 1.x Node
 * transport reads it from there; with 2.x pass it as `authInfo` to
 * `handleRequest` or `createMcpHandler(...).fetch`.
 */
export interface GuardAuthInfo {
  token: string;
  clientId: string;
  scopes: string[];
  extra?: Record<string, unknown>;
}

type Message = { id?: unknown; method: string; params?: Record<string, unknown> };

/**
 * The MCP methods the guard decides before any handler runs. A
 * resources/subscribe is decided as a read of its URI: the updates it
 * subscribes to tell the caller what the resource holds.
 */
export const DECIDED_METHODS: readonly string[] = ['tools/call', 'resources/read', 'resources/subscribe', 'prompts/get', 'completion/complete'];

/** The first MCP revision whose results carry `resultType` (servers MUST send it). */
const RESULT_TYPE_FROM = '2026-07-28';

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

function rpcError(res: ServerResponse, status: number, id: unknown, code: number, message: string, data?: unknown, headers: Record<string, string> = {}): void {
  json(res, status, { jsonrpc: '2.0', id: id ?? null, error: data === undefined ? { code, message } : { code, message, data } }, headers);
}

/** The most resources one subscriptions/listen may name: each is one decision. */
const MAX_LISTENED = 64;

/**
 * The resources a subscriptions/listen (MCP 2026-07-28, which replaced
 * resources/subscribe with it) subscribes to, as the client sent them;
 * undefined when it names none (no `resourceSubscriptions`, or an empty list:
 * list-changed notifications only), so such a listen is authenticated like
 * any other request.
 */
function listened(m: Message): unknown[] | undefined {
  if (m.method !== 'subscriptions/listen') return undefined;
  const uris = objectOr(objectOr(m.params)?.notifications)?.resourceSubscriptions;
  if (uris === undefined) return undefined;
  const named = Array.isArray(uris) ? uris : [uris];
  return named.length > 0 ? named : undefined;
}

function isDecided(m: unknown): m is Message {
  if (!m || typeof m !== 'object') return false;
  return DECIDED_METHODS.includes((m as Message).method) || listened(m as Message) !== undefined;
}

function objectOr(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/**
 * The decision request for one decided message. Values are passed on as the
 * client sent them (not coerced): toolgate refuses a malformed one with a 400
 * code, so the guard never decides on something other than what would run.
 */
export function decisionRequestFor(m: Message, token: string, server: string): GuardDecisionRequest {
  const p = objectOr(m.params) ?? {};
  const base = { token, server };
  switch (m.method) {
    case 'tools/call':
      return { ...base, action: 'call', tool: { name: p.name as string, arguments: p.arguments as Record<string, unknown> } };
    case 'resources/read':
    case 'resources/subscribe':
      return { ...base, action: 'read_resource', resource: { uri: p.uri as string } };
    case 'prompts/get':
      return { ...base, action: 'get_prompt', prompt: { name: p.name as string, arguments: p.arguments as Record<string, unknown> } };
    default: {
      // completion/complete: only the fields the contract knows (PromptReference may carry a title).
      const ref = objectOr(p.ref) ?? {};
      const arg = objectOr(p.argument) ?? {};
      const context = objectOr(p.context);
      return {
        ...base,
        action: 'complete',
        completion: {
          ref: { type: ref.type as string, name: ref.name as string | undefined, uri: ref.uri as string | undefined },
          argument: { name: arg.name as string, value: arg.value as string },
          ...(context ? { context: { arguments: context.arguments as Record<string, unknown> } } : {}),
        },
      };
    }
  }
}

/** Every decision one decided message needs: one per resource of a subscriptions/listen, else one. */
function decisionRequestsFor(m: Message, token: string, server: string): GuardDecisionRequest[] {
  const uris = listened(m);
  if (!uris) return [decisionRequestFor(m, token, server)];
  return uris.map((uri) => ({ token, server, action: 'read_resource', resource: { uri: uri as string } }));
}

/**
 * Answers a deny for one decided message. A token problem or missing scope
 * goes out at the HTTP level with toolgate's status and WWW-Authenticate (so
 * clients re-authenticate or step up); a malformed request is a 400 with
 * Invalid params. A policy denial of a tool call is a tool result with
 * `isError` (agents can explain and continue); of a resource read, prompt
 * get or completion, a JSON-RPC Invalid params error (the code MCP uses for
 * an unknown prompt or argument) whose data carries toolgate's code, the
 * decision id and the reasons.
 */
function answerDeny(res: ServerResponse, m: Message, d: DecisionResult, modern: boolean): void {
  const why = `Denied by policy (decision ${d.decision_id}): ${d.reasons.join('; ')}`;
  if (d.code === 'policy_denied' || d.code === 'policy_error') {
    if (m.method === 'tools/call') {
      // Only to 2026-07-28+ clients, as the SDKs' own 2025-era codecs never stamp it.
      const result = { content: [{ type: 'text', text: why }], isError: true, ...(modern ? { resultType: 'complete' } : {}) };
      json(res, 200, { jsonrpc: '2.0', id: m.id, result });
    } else {
      const data = { code: d.code, decision_id: d.decision_id, reasons: d.reasons };
      rpcError(res, 200, m.id, d.code === 'policy_denied' ? -32602 : -32603, why, data);
    }
    return;
  }
  const status = d.http_status ?? 403;
  const headers: Record<string, string> = d.www_authenticate ? { 'www-authenticate': d.www_authenticate } : {};
  rpcError(res, status, m.id, status === 400 ? -32602 : -32001, d.reasons.join('; ') || d.code || 'denied', { code: d.code }, headers);
}

/**
 * Whether a message speaks MCP 2026-07-28 or later, whose results carry
 * `resultType`: the version in its `_meta`, else the MCP-Protocol-Version
 * header (headerMismatch has already refused the two disagreeing).
 */
function speaksModern(req: IncomingMessage, m: Message): boolean {
  const meta = objectOr(objectOr(m.params)?._meta);
  const fromBody = meta?.['io.modelcontextprotocol/protocolVersion'];
  const header = req.headers['mcp-protocol-version'];
  const version = typeof fromBody === 'string' ? fromBody : typeof header === 'string' ? header : '';
  return /^\d{4}-\d{2}-\d{2}$/.test(version) && version >= RESULT_TYPE_FROM;
}

/**
 * HTTP-level guard for an MCP server on Streamable HTTP. Call `handle` before
 * the transport with the parsed JSON body: it serves the RFC 9728 document,
 * refuses a POST without a parsed body (the SDK would read the raw stream and
 * run it undecided), refuses Mcp-Method/Mcp-Name headers that disagree with
 * the body (MCP 2026-07-28 HeaderMismatch), refuses batches carrying a
 * decided method, decides every tools/call, resources/read, resources/subscribe,
 * prompts/get and completion/complete, and each resource a subscriptions/listen
 * names, before any handler runs, authenticates everything else,
 * and sets `req.auth` for the SDK. Returns true when it has answered the
 * request itself.
 */
export function createMcpGuard(opts: McpGuardOptions) {
  const wellKnown = protectedResourceMetadataPath(opts.metadata.resource);
  return {
    async handle(req: IncomingMessage & { auth?: GuardAuthInfo }, res: ServerResponse, body: unknown): Promise<boolean> {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (req.method === 'GET' && url.pathname === wellKnown) {
        json(res, 200, { bearer_methods_supported: ['header'], ...opts.metadata }, { 'cache-control': 'public, max-age=300' });
        return true;
      }
      const token = bearerToken(req.headers.authorization);
      let decided: Message | undefined;
      if (req.method === 'POST') {
        // Fail closed: with no parsed body the SDK parses the stream itself, after the guard.
        if (body === undefined || body === null) {
          rpcError(res, 400, null, -32700, 'Parse error: the request has no JSON body');
          return true;
        }
        const messages: unknown[] = Array.isArray(body) ? body : [body];
        for (const m of messages) {
          const mismatch = headerMismatch(req, m);
          if (mismatch) {
            rpcError(res, 400, (m as { id?: unknown }).id, HEADER_MISMATCH, mismatch);
            return true;
          }
        }
        const calls = messages.filter(isDecided);
        if (calls.length > 0 && Array.isArray(body)) {
          rpcError(res, 400, null, -32600, `batches carrying ${DECIDED_METHODS.join(', ')} are not accepted`);
          return true;
        }
        decided = calls[0];
      }
      if (decided) {
        const requests = decisionRequestsFor(decided, token, opts.serverId);
        if (requests.length > MAX_LISTENED) {
          rpcError(res, 400, decided.id, -32602, `subscriptions/listen may name at most ${MAX_LISTENED} resources`);
          return true;
        }
        // Refused here as toolgate refuses it (the same check, contract/resource-uri.ts), so a
        // URI the SDK would read as another resource never reaches a decider or a handler.
        for (const request of requests) {
          const uri = request.resource?.uri;
          const refused = typeof uri === 'string' ? resourceUriRefusal(uri) : undefined;
          if (refused) {
            rpcError(res, 400, decided.id, -32602, refused.message, { code: refused.code });
            return true;
          }
        }
        const ids: string[] = [];
        let revision: string | null = null;
        for (const request of requests) {
          const d = await opts.decider.decide(request);
          if (!d.allow) {
            answerDeny(res, decided, d, speaksModern(req, decided));
            return true;
          }
          ids.push(d.decision_id);
          revision = d.revision;
        }
        // Fail closed: only allowing decisions vouch for the token. A message
        // that ended with none made (whatever its method) is authenticated below.
        if (ids.length > 0) {
          req.auth = { token, clientId: '', scopes: [], extra: { decision_id: ids.join(','), revision } };
          return false;
        }
      }
      // Every other request is authenticated too: sessions are never authentication.
      const a = await opts.decider.authenticate({ token, server: opts.serverId });
      if (!a.allow) {
        const status = a.http_status ?? 401;
        rpcError(res, status, null, status === 400 ? -32602 : -32001, a.reasons.join('; ') || a.code || 'denied', { code: a.code }, a.www_authenticate ? { 'www-authenticate': a.www_authenticate } : {});
        return true;
      }
      req.auth = { token, clientId: '', scopes: [] };
      return false;
    },
  };
}

/**
 * The list methods the guard filters, the result field holding the items,
 * the kind toolgate evaluates and the item's id field. A resource template
 * is decided as a resource whose URI is the template's literal part before
 * its first `{` (how the policy looks up a template's completions).
 */
const LISTS = [
  { method: 'tools/list', field: 'tools', kind: 'tool', id: 'name' },
  { method: 'resources/list', field: 'resources', kind: 'resource', id: 'uri' },
  { method: 'resources/templates/list', field: 'resourceTemplates', kind: 'resource', id: 'uriTemplate' },
  { method: 'prompts/list', field: 'prompts', kind: 'prompt', id: 'name' },
] as const;

/**
 * The id toolgate decides on for one list item: a template's literal part,
 * else the id as is. Undefined, so the item is never shown (fail closed), for
 * a malformed item (no string id), for a template whose literal part is
 * empty (`{scheme}://…`): that names no resource the policy could decide on,
 * and for a resource URI (or literal part) that resourceUriRefusal refuses.
 * Templates sharing a literal part (`users://{id}`, `users://{id}/secret`)
 * are decided as one; reads of their URIs are each decided on the full URI.
 */
function listedId(l: ListSpec, item: unknown): string | undefined {
  const id = objectOr(item)?.[l.id];
  if (typeof id !== 'string') return undefined;
  if (l.kind !== 'resource') return id;
  const uri = l.id === 'uriTemplate' ? id.split('{')[0] : id;
  // A URI the SDKs would read differently from the policy (toolgate hides it too) is never shown.
  return uri === '' || resourceUriRefusal(uri) !== undefined ? undefined : uri;
}

type ListSpec = (typeof LISTS)[number];
type Handler = (request: unknown, extra: unknown) => unknown;

/**
 * The public request-handler surface of an MCP SDK `Server`, the same in
 * `@modelcontextprotocol/sdk` 1.x and `@modelcontextprotocol/server` 2.x.
 */
export interface McpRequestHandlerHost {
  setRequestHandler(...args: never[]): unknown;
  assertCanSetRequestHandler(method: string): void;
}

/** An McpServer of either SDK line (its `server`), or a low-level `Server`. */
export type GuardableServer = { server: McpRequestHandlerHost } | McpRequestHandlerHost;

const guarded = new WeakSet<object>();

/** The caller's token as the SDK hands it to a handler: `extra.authInfo` (1.x) or `ctx.http.authInfo` (2.x). */
function tokenOf(extra: unknown): string {
  const e = objectOr(extra);
  const auth = objectOr(e?.authInfo) ?? objectOr(objectOr(e?.http)?.authInfo);
  return typeof auth?.token === 'string' ? auth.token : '';
}

/**
 * The method a `setRequestHandler` call is for, and the SDK line the call
 * shape belongs to: 2.x passes the method name, 1.x a zod request schema
 * whose `method` is a literal (zod 3 `.value`, zod 4 `_zod.def.values`).
 */
function methodOf(first: unknown): { method: string | undefined; line: SdkLine } {
  if (typeof first === 'string') return { method: first, line: 2 };
  const literal = objectOr(objectOr(objectOr(first)?.shape)?.method);
  const v = literal?.value ?? (objectOr(objectOr(literal?._zod)?.def)?.values as unknown[] | undefined)?.[0];
  return { method: typeof v === 'string' ? v : undefined, line: 1 };
}

function filtering(original: Handler, l: ListSpec, decider: Decider, serverId: string): Handler {
  return async (request, extra) => {
    const all = objectOr(await original(request, extra)) ?? {};
    // Items with no id to decide on are neither sent nor shown.
    const items = (Array.isArray(all[l.field]) ? (all[l.field] as unknown[]) : []).filter((x) => listedId(l, x) !== undefined) as Record<string, unknown>[];
    const idField = l.kind === 'resource' ? 'uri' : 'name';
    const t = await decider.filterList({
      token: tokenOf(extra),
      server: serverId,
      kind: l.kind,
      items: items.map((x) => ({ [idField]: listedId(l, x), ...(l.kind === 'prompt' ? {} : { annotations: x.annotations as Record<string, unknown> | undefined }) })),
    });
    const allowed = new Set(t.allowed);
    // Per-caller lists must not be shared by caches: MCP 2026-07-28's cacheScope
    // is a field of the result itself (CacheableResult), not of its _meta.
    return { ...all, [l.field]: items.filter((x) => allowed.has(listedId(l, x) as string)), cacheScope: 'private' };
  };
}

/**
 * Filters tools/list, resources/list, resources/templates/list and
 * prompts/list per caller through toolgate (action "list" with kind tool,
 * resource or prompt). Works with an
 * McpServer of `@modelcontextprotocol/sdk` 1.x or `@modelcontextprotocol/server`
 * 2.x, or with their low-level `Server`.
 *
 * Call it right after creating the server, BEFORE registering tools,
 * resources or prompts: neither SDK lets a list handler be read back
 * publicly, so the guard wraps each list handler as it is installed through
 * the public `setRequestHandler`. It throws when a list handler is already
 * installed, and (UnsupportedSdkError) when a list handler is installed by an
 * SDK outside the tested ranges (SUPPORTED_SDKS).
 */
export function guardLists(target: GuardableServer, decider: Decider, serverId: string): void {
  const server = 'server' in target ? target.server : target;
  if (guarded.has(server)) throw new Error('guardLists: this server is already guarded');
  for (const l of LISTS) {
    try {
      server.assertCanSetRequestHandler(l.method);
    } catch {
      throw new Error(`guardLists: a ${l.method} handler is already installed; call guardLists before registering tools, resources or prompts`);
    }
  }
  const install = server.setRequestHandler as (...args: unknown[]) => unknown;
  const wrapped = function (this: unknown, ...args: unknown[]): unknown {
    const { method, line } = methodOf(args[0]);
    if (method === undefined) {
      throw new UnsupportedSdkError('guardLists: cannot tell which method a request handler is for; this MCP SDK version is not supported');
    }
    const l = LISTS.find((x) => x.method === method);
    if (l) {
      assertSupportedSdk(line);
      const handler = args[args.length - 1];
      if (typeof handler !== 'function') throw new UnsupportedSdkError(`guardLists: the ${method} handler is not a function; this MCP SDK version is not supported`);
      args[args.length - 1] = filtering(handler as Handler, l, decider, serverId);
    }
    return install.apply(this, args);
  };
  (server as { setRequestHandler: unknown }).setRequestHandler = wrapped;
  guarded.add(server);
}
