import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { ListResourceTemplatesRequestSchema, SubscribeRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { parseConfig } from '../src/config/load-config.js';
import { serveGuarded, type DemoMcpServer, type ToolInvocation } from '../src/demo/mcp-server.js';
import type { Decider } from '../src/mcp/decider.js';
import { createEmbeddedDecider } from '../src/mcp/embedded.js';
import { guardLists } from '../src/mcp/guard.js';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { startDemoMcpServerV2 } from './support/mcp-server-v2.js';
import { freePort } from './support/net.js';
import { ROOT } from './support/policy-fixtures.js';

type Rpc = { status: number; json: { result?: Record<string, unknown>; error?: { code: number; message: string; data?: Record<string, unknown> } } };

async function rpc(url: string, token: string, body: unknown): Promise<Rpc> {
  const res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : {} };
}

/**
 * An MCP server (SDK 1.x) with what the demo server lacks: resource
 * templates and resources/subscribe. The handlers record every run.
 */
async function startSubscribingServer(decider: Decider, resource: string, issuer: string, port: number): Promise<DemoMcpServer> {
  const invocations: ToolInvocation[] = [];
  return serveGuarded({ decider, serverId: 'demo', metadata: { resource, authorization_servers: [issuer] }, port }, invocations, async (req, res, body) => {
    const server = new McpServer({ name: 'subscribing', version: '0.0.0' });
    guardLists(server, decider, 'demo');
    for (const [name, template] of [['invoices', 'invoices://{invoice_id}'], ['internal', 'docs://internal/{name}'], ['handbook', 'docs://handbook/refunds{?lang}']] as const) {
      server.registerResource(name, new ResourceTemplate(template, { list: undefined }), {}, async (u) => ({ contents: [{ uri: u.href, text: name }] }));
    }
    // After registration: a resources capability given to the constructor installs the list handlers before guardLists could wrap them.
    server.server.registerCapabilities({ resources: { subscribe: true } });
    server.server.setRequestHandler(SubscribeRequestSchema, async (r) => {
      invocations.push({ tool: 'resources/subscribe', args: { uri: r.params.uri } });
      return {};
    });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => void transport.close());
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  });
}

describe('MCP guard: subscriptions, resource templates, and MCP 2026-07-28 result fields', () => {
  let idp: TestIssuer;
  let dir: string;
  let decider: Decider;
  let resource: string;
  let mcp: DemoMcpServer;
  let v2: DemoMcpServer;

  beforeAll(async () => {
    idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-mcp-protocol-'));
    const port = await freePort();
    resource = `http://127.0.0.1:${port}/mcp`;
    decider = await createEmbeddedDecider(
      parseConfig({
        listen: { host: '127.0.0.1', port: 0 },
        policy: { source: { policies: path.join(ROOT, 'policies'), tests: path.join(ROOT, 'rego-tests'), out: path.join(dir, 'build'), watch: false, test_gate: false } },
        issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
        servers: [{ id: 'demo', resource, issuers: [idp.issuer] }],
        revocation: { file: path.join(dir, 'revocations.json') },
      }),
    );
    mcp = await startSubscribingServer(decider, resource, idp.issuer, port);
    // The same protected resource served by a 2.x server on another port: toolgate checks the audience, not the port.
    v2 = await startDemoMcpServerV2({ decider, serverId: 'demo', metadata: { resource, authorization_servers: [idp.issuer] } });
  });

  afterAll(async () => {
    await mcp?.close();
    await v2?.close();
    await decider?.close?.();
    await idp?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('resources/subscribe is decided like resources/read of its URI: a denied one never reaches the handler', async () => {
    const alice = await idp.sign({ aud: resource, sub: 'alice', roles: ['support_agent'] });
    const denied = await rpc(mcp.url, alice, { jsonrpc: '2.0', id: 1, method: 'resources/subscribe', params: { uri: 'docs://internal/salaries' } });
    expect(denied.json.error).toMatchObject({ code: -32602, data: { code: 'policy_denied' } });
    expect(denied.json.error?.message).toMatch(/not in the catalog/);
    expect(mcp.invocations).toEqual([]);
    const allowed = await rpc(mcp.url, alice, { jsonrpc: '2.0', id: 2, method: 'resources/subscribe', params: { uri: 'docs://handbook/refunds' } });
    expect(allowed.json.error).toBeUndefined();
    expect(mcp.invocations).toEqual([{ tool: 'resources/subscribe', args: { uri: 'docs://handbook/refunds' } }]);
  });

  it('subscriptions/listen (2026-07-28, which replaced resources/subscribe) is decided for each resource it names', async () => {
    const alice = await idp.sign({ aud: resource, sub: 'alice', roles: ['support_agent'] });
    const listen = (id: number, resourceSubscriptions: unknown) => ({ jsonrpc: '2.0', id, method: 'subscriptions/listen', params: { notifications: { resourcesListChanged: true, resourceSubscriptions } } });
    const denied = await rpc(mcp.url, alice, listen(10, ['docs://handbook/refunds', 'docs://internal/salaries']));
    expect(denied.json.error).toMatchObject({ code: -32602, data: { code: 'policy_denied' } });
    expect(denied.json.error?.message).toMatch(/docs:\/\/internal\/salaries" is not in the catalog/);
    const tooMany = await rpc(mcp.url, alice, listen(11, Array.from({ length: 65 }, () => 'docs://handbook/refunds')));
    expect({ status: tooMany.status, code: tooMany.json.error?.code }).toEqual({ status: 400, code: -32602 });
    // Allowed, it reaches the server (a 1.x SDK, which does not know the method).
    const allowed = await rpc(mcp.url, alice, listen(12, ['docs://handbook/refunds']));
    expect(allowed.json.error?.code).toBe(-32601);
  });

  it('a subscriptions/listen naming no resource ([]) and an empty batch make no decision, so they are authenticated', async () => {
    const listen = (id: number, resourceSubscriptions: unknown) => ({ jsonrpc: '2.0', id, method: 'subscriptions/listen', params: { notifications: { resourcesListChanged: true, resourceSubscriptions } } });
    // A token toolgate must refuse (another audience), signed with the trusted key: only authentication stops it.
    const wrongAudience = await idp.sign({ aud: 'https://elsewhere.example/mcp', sub: 'alice', roles: ['support_agent'] });
    const ran = mcp.invocations.length;
    for (const [token, body] of [['', listen(13, [])], [wrongAudience, listen(14, [])], ['', []], [wrongAudience, []]] as const) {
      const refused = await rpc(mcp.url, token, body);
      expect({ status: refused.status, code: refused.json.error?.code }).toEqual({ status: 401, code: -32001 });
    }
    expect(mcp.invocations.length).toBe(ran);
    // With a good token the empty listen is authenticated and reaches the server (a 1.x SDK: unknown method).
    const alice = await idp.sign({ aud: resource, sub: 'alice', roles: ['support_agent'] });
    const passed = await rpc(mcp.url, alice, listen(15, []));
    expect(passed.json.error?.code).toBe(-32601);
  });

  it('resources/templates/list is filtered per caller, each template decided by its literal part', async () => {
    const templates = async (claims: Record<string, unknown>) => {
      const r = await rpc(mcp.url, await idp.sign({ aud: resource, ...claims }), { jsonrpc: '2.0', id: 3, method: 'resources/templates/list' });
      expect(r.json.result?.cacheScope).toBe('private');
      return (r.json.result?.resourceTemplates as { uriTemplate: string }[]).map((t) => t.uriTemplate).sort();
    };
    expect(await templates({ sub: 'mallory', roles: ['finance'], scope: 'invoices:read' })).toEqual(['docs://handbook/refunds{?lang}', 'invoices://{invoice_id}']);
    expect(await templates({ sub: 'alice', roles: ['support_agent'] })).toEqual(['docs://handbook/refunds{?lang}']);
    expect(await templates({ sub: 'erin', roles: ['engineer'] })).toEqual([]);
  });

  it('a template with no literal part ({scheme}://…) and malformed list items are neither sent to toolgate nor shown', async () => {
    // The real embedded decider, recording the items it is asked about.
    const sent: unknown[] = [];
    const recording: Decider = {
      decide: (r) => decider.decide(r),
      authenticate: (r) => decider.authenticate(r),
      filterList: async (r) => {
        sent.push(...r.items);
        return decider.filterList(r);
      },
    };
    const listed = [{ uriTemplate: '{scheme}://anything', name: 'any' }, { name: 'no template' }, null, 42, { uriTemplate: 7, name: 'number' }, { uriTemplate: 'docs://handbook/refunds{?lang}', name: 'handbook' }];
    const odd = await serveGuarded({ decider: recording, serverId: 'demo', metadata: { resource, authorization_servers: [idp.issuer] }, port: await freePort() }, [], async (req, res, body) => {
      const server = new McpServer({ name: 'odd-templates', version: '0.0.0' });
      guardLists(server, recording, 'demo');
      server.server.registerCapabilities({ resources: {} });
      // A handler answering what no SDK-built list would, as a buggy or hostile server could.
      server.server.setRequestHandler(ListResourceTemplatesRequestSchema, async () => ({ resourceTemplates: listed }) as never);
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      res.on('close', () => void transport.close());
      await server.connect(transport);
      await transport.handleRequest(req, res, body);
    });
    try {
      const alice = await idp.sign({ aud: resource, sub: 'alice', roles: ['support_agent'] });
      const r = await rpc(odd.url, alice, { jsonrpc: '2.0', id: 5, method: 'resources/templates/list' });
      expect(r.json.error).toBeUndefined();
      expect(r.json.result?.resourceTemplates).toEqual([{ uriTemplate: 'docs://handbook/refunds{?lang}', name: 'handbook' }]);
      expect(sent).toEqual([{ uri: 'docs://handbook/refunds' }]);
    } finally {
      await odd.close();
    }
  });

  it('a filtered list carries cacheScope "private" at the top level of its result, where MCP 2026-07-28 defines it', async () => {
    const alice = await idp.sign({ aud: resource, sub: 'alice', roles: ['support_agent'] });
    const listed = await rpc(mcp.url, alice, { jsonrpc: '2.0', id: 4, method: 'resources/templates/list' });
    expect(listed.json.result).toMatchObject({ cacheScope: 'private' });
    expect((listed.json.result?._meta as Record<string, unknown> | undefined)?.cacheScope).toBeUndefined();
  });

  it('a 2026-07-28 client (official 2.x client, pinned) gets a denied tool call as a complete result, and private lists', async () => {
    const token = await idp.sign({ aud: resource, sub: 'alice', roles: ['support_agent'], scope: 'refunds:write' });
    const client = new ClientV2({ name: 'modern', version: '0.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    await client.connect(new TransportV2(new URL(v2.url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    try {
      expect(client.getNegotiatedProtocolVersion()).toBe('2026-07-28');
      const before = v2.invocations.length;
      const denied = await client.callTool({ name: 'deploy.trigger', arguments: { service: 'api', environment: 'staging' } });
      expect(denied.isError).toBe(true);
      expect(JSON.stringify(denied.content)).toContain('requires one of the roles');
      expect(v2.invocations.length).toBe(before);
      expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(['invoices.read', 'issues.create', 'refunds.create']);
    } finally {
      await client.close();
    }
  });
});
