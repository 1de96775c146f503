import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { parseConfig } from '../src/config/load-config.js';
import { startDemoMcpServer, type DemoMcpServer } from '../src/demo/mcp-server.js';
import { HttpDecider, type Decider } from '../src/mcp/decider.js';
import { createEmbeddedDecider } from '../src/mcp/embedded.js';
import { createMcpGuard } from '../src/mcp/guard.js';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { freePort } from './support/net.js';
import { startApp, type RunningApp } from './support/app.js';
import { ROOT } from './support/policy-fixtures.js';

async function connect(url: string, token: string): Promise<Client> {
  const client = new Client({ name: 'toolgate-test', version: '0.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  return client;
}

const ACCEPT = 'application/json, text/event-stream';

/** One raw JSON-RPC POST, as a client or a gateway in front of the server would send it. */
async function rpc(url: string, token: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: { result?: Record<string, unknown>; error?: { code: number; message: string; data?: Record<string, unknown> } } }> {
  const res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: ACCEPT, ...headers }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : {} };
}

const refund = (id: number, name = 'refunds.create') => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: { order_id: `o-${id}`, amount: 10, currency: 'USD' } } });

describe.each(['http', 'embedded'] as const)('MCP guard with the official SDK client and server (%s mode)', (mode) => {
  let idp: TestIssuer;
  let dir: string;
  let app: RunningApp | undefined;
  let decider: Decider;
  let mcp: DemoMcpServer;
  let resource: string;

  beforeAll(async () => {
    idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    dir = await mkdtemp(path.join(os.tmpdir(), `toolgate-mcp-${mode}-`));
    const port = await freePort();
    resource = `http://127.0.0.1:${port}/mcp`;
    const raw = {
      policy: { source: { policies: path.join(ROOT, 'policies'), tests: path.join(ROOT, 'rego-tests'), out: path.join(dir, 'build'), watch: false, test_gate: false } },
      issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
      servers: [{ id: 'demo', resource, issuers: [idp.issuer], scopes_supported: ['refunds:write', 'invoices:read', 'deploy:write', 'deploy:production'] }],
      revocation: { file: path.join(dir, 'revocations.json') },
    };
    if (mode === 'http') {
      app = await startApp(raw);
      decider = new HttpDecider(app.url);
    } else {
      decider = await createEmbeddedDecider(parseConfig({ listen: { host: '127.0.0.1', port: 0 }, ...raw }));
    }
    mcp = await startDemoMcpServer({ decider, serverId: 'demo', metadata: { resource, authorization_servers: [idp.issuer], scopes_supported: ['refunds:write'] }, port });
  });

  afterAll(async () => {
    await mcp?.close();
    await app?.close();
    await decider?.close?.();
    await idp?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const token = (claims: Record<string, unknown>) => idp.sign({ aud: resource, ...claims });

  it('runs an allowed call, and a call beyond the role never reaches the handler', async () => {
    const client = await connect(mcp.url, await token({ sub: 'alice', roles: ['support_agent'], scope: 'refunds:write' }));
    try {
      const ok = await client.callTool({ name: 'refunds.create', arguments: { order_id: 'o-1', amount: 50, currency: 'USD' } });
      expect(ok.isError).toBeFalsy();
      expect(JSON.stringify(ok.content)).toContain('refunded 50 USD on o-1');
      const before = mcp.invocations.length;
      const denied = await client.callTool({ name: 'refunds.create', arguments: { order_id: 'o-2', amount: 5000, currency: 'USD' } });
      expect(denied.isError).toBe(true);
      expect(JSON.stringify(denied.content)).toContain('exceeds the caller');
      const deploy = await client.callTool({ name: 'deploy.trigger', arguments: { service: 'api', environment: 'production' } });
      expect(deploy.isError).toBe(true);
      expect(mcp.invocations.length).toBe(before);
    } finally {
      await client.close();
    }
  });

  it('filters tools/list per caller', async () => {
    const client = await connect(mcp.url, await token({ sub: 'erin', roles: ['engineer'], scope: 'deploy:write' }));
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual(['deploy.trigger', 'issues.create']);
    } finally {
      await client.close();
    }
  });

  it('insufficient scope is a 403 step-up challenge listing every scope the call needs', async () => {
    const t = await token({ sub: 'rita', roles: ['release_manager'], scope: 'deploy:write' });
    const res = await fetch(mcp.url, {
      method: 'POST',
      headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'deploy.trigger', arguments: { service: 'api', environment: 'production' } } }),
    });
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer error="insufficient_scope", scope="deploy:production deploy:write", resource_metadata="${resource.replace('/mcp', '/.well-known/oauth-protected-resource/mcp')}"`,
    );
    const client = await connect(mcp.url, t);
    // The SDK client surfaces the HTTP error; the handler never ran.
    await expect(client.callTool({ name: 'deploy.trigger', arguments: { service: 'api', environment: 'production' } })).rejects.toThrow(/needs the scopes/);
    expect(mcp.invocations.some((i) => i.tool === 'deploy.trigger')).toBe(false);
    await client.close();
  });

  it('rejects a missing token, and a token for another resource, with 401', async () => {
    const meta = await fetch(resource.replace('/mcp', '/.well-known/oauth-protected-resource/mcp'));
    expect(await meta.json()).toMatchObject({ resource, authorization_servers: [idp.issuer], bearer_methods_supported: ['header'] });
    const none = await fetch(mcp.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }) });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toContain('resource_metadata=');
    const other = await token({ sub: 'alice', roles: ['support_agent'], scope: 'refunds:write', aud: 'http://127.0.0.1:1/other' });
    await expect(connect(mcp.url, other)).rejects.toThrow();
  });
  it('a POST whose body the host did not parse is refused; the SDK never reads the stream and runs it undecided', async () => {
    // A host that hands the guard no body: the SDK transport would parse the raw stream itself.
    const ran: string[] = [];
    const guard = createMcpGuard({ decider, serverId: 'demo', metadata: { resource, authorization_servers: [idp.issuer] } });
    const host = http.createServer((req, res) => {
      void (async () => {
        if (await guard.handle(req, res, undefined)) return;
        const server = new McpServer({ name: 'unparsed-host', version: '0.0.0' });
        server.registerTool('deploy.trigger', { description: 'Deploy.' }, async () => {
          ran.push('deploy.trigger');
          return { content: [{ type: 'text' as const, text: 'deployed' }] };
        });
        const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
        await server.connect(transport);
        await transport.handleRequest(req, res);
      })();
    });
    await new Promise<void>((r) => host.listen(0, '127.0.0.1', () => r()));
    try {
      const url = `http://127.0.0.1:${(host.address() as AddressInfo).port}/mcp`;
      // alice may not deploy at all: only an undecided call could run.
      const t = await token({ sub: 'alice', roles: ['support_agent'], scope: 'refunds:write deploy:write deploy:production' });
      const r = await rpc(url, t, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'deploy.trigger', arguments: {} } });
      expect(r.status).toBe(400);
      expect(r.json.error?.code).toBe(-32700);
      expect(ran).toEqual([]);
    } finally {
      host.closeAllConnections();
      await new Promise<void>((r) => host.close(() => r()));
    }
  });

  it('Mcp-Method / Mcp-Name headers that disagree with the body are refused with 400 and -32020 (MCP 2026-07-28)', async () => {
    const t = await token({ sub: 'alice', roles: ['support_agent'], scope: 'refunds:write invoices:read' });
    const before = mcp.invocations.length;
    const cases: [string, unknown, Record<string, string>][] = [
      ['Mcp-Name names another tool', refund(1), { 'mcp-method': 'tools/call', 'mcp-name': 'invoices.read' }],
      ['Mcp-Method names another method', refund(2), { 'mcp-method': 'tools/list' }],
      ['base64 Mcp-Name that decodes to another tool', refund(3), { 'mcp-name': `=?base64?${Buffer.from('invoices.read').toString('base64')}?=` }],
      ['broken base64 Mcp-Name', refund(4), { 'mcp-name': '=?base64?***?=' }],
      ['Mcp-Name names another resource', { jsonrpc: '2.0', id: 5, method: 'resources/read', params: { uri: 'docs://internal/salaries' } }, { 'mcp-name': 'docs://handbook/refunds' }],
      ['Mcp-Name names another prompt', { jsonrpc: '2.0', id: 6, method: 'prompts/get', params: { name: 'other', arguments: {} } }, { 'mcp-name': 'refund_reply' }],
      ['Mcp-Name on a completion, which has no name', { jsonrpc: '2.0', id: 7, method: 'completion/complete', params: { ref: { type: 'ref/prompt', name: 'refund_reply' }, argument: { name: 'order_id', value: 'o' } } }, { 'mcp-name': 'refund_reply' }],
      ['2026-07-28 request without Mcp-Method / Mcp-Name', refund(8), { 'mcp-protocol-version': '2026-07-28' }],
      ['protocol version header disagrees with _meta', { ...refund(9), params: { ...refund(9).params, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } } }, { 'mcp-protocol-version': '2025-06-18' }],
    ];
    for (const [label, body, headers] of cases) {
      const r = await rpc(mcp.url, t, body, headers);
      expect({ label, status: r.status, code: r.json.error?.code }).toEqual({ label, status: 400, code: -32020 });
    }
    expect(mcp.invocations.length).toBe(before);
    // Agreeing headers, plain and base64-encoded, pass to the decision and the handler.
    const ok = await rpc(mcp.url, t, refund(10), { 'mcp-method': 'tools/call', 'mcp-name': 'refunds.create' });
    expect(ok.status).toBe(200);
    expect(ok.json.result?.isError).toBeFalsy();
    const ok64 = await rpc(mcp.url, t, refund(11), { 'mcp-name': `=?base64?${Buffer.from('refunds.create').toString('base64')}?=` });
    expect(ok64.json.result?.isError).toBeFalsy();
    expect(mcp.invocations.slice(before).map((i) => i.args.order_id)).toEqual(['o-10', 'o-11']);
  });

  it('decides resources/read, prompts/get and completion/complete before any handler; filters resources/list and prompts/list', async () => {
    const alice = await connect(mcp.url, await token({ sub: 'alice', roles: ['support_agent'], scope: 'refunds:write' }));
    const erin = await connect(mcp.url, await token({ sub: 'erin', roles: ['engineer'], scope: 'deploy:write' }));
    try {
      const before = mcp.invocations.length;
      await expect(alice.readResource({ uri: 'docs://internal/salaries' })).rejects.toThrow(/resource "docs:\/\/internal\/salaries" is not in the catalog/);
      await expect(erin.getPrompt({ name: 'refund_reply', arguments: { order_id: 'o-1' } })).rejects.toThrow(/prompt "refund_reply" requires one of the roles/);
      await expect(erin.complete({ ref: { type: 'ref/prompt', name: 'refund_reply' }, argument: { name: 'order_id', value: 'o-' } })).rejects.toThrow(/requires one of the roles/);
      expect(mcp.invocations.length).toBe(before);
      const doc = await alice.readResource({ uri: 'docs://handbook/refunds' });
      expect(JSON.stringify(doc.contents)).toContain('need no approval');
      const prompt = await alice.getPrompt({ name: 'refund_reply', arguments: { order_id: 'o-7' } });
      expect(JSON.stringify(prompt.messages)).toContain('o-7');
      const done = await alice.complete({ ref: { type: 'ref/prompt', name: 'refund_reply' }, argument: { name: 'order_id', value: 'o-' } });
      expect(done.completion.values).toEqual(['o-1', 'o-2', 'o-3']);
      expect((await alice.listResources()).resources.map((r) => r.uri)).toEqual(['docs://handbook/refunds']);
      expect((await alice.listPrompts()).prompts.map((p) => p.name)).toEqual(['refund_reply']);
      expect((await erin.listResources()).resources).toEqual([]);
      expect((await erin.listPrompts()).prompts).toEqual([]);
      const raw = await rpc(mcp.url, await token({ sub: 'alice', roles: ['support_agent'] }), { jsonrpc: '2.0', id: 3, method: 'resources/list' });
      expect(raw.json.result?.cacheScope).toBe('private');
    } finally {
      await alice.close();
      await erin.close();
    }
  });

  it('refuses a batch carrying a decided method, and a malformed decided request, before any handler', async () => {
    const t = await token({ sub: 'alice', roles: ['support_agent'], scope: 'refunds:write' });
    const before = mcp.invocations.length;
    const batch = await rpc(mcp.url, t, [{ jsonrpc: '2.0', id: 1, method: 'ping' }, { jsonrpc: '2.0', id: 2, method: 'resources/read', params: { uri: 'docs://internal/salaries' } }]);
    expect(batch.status).toBe(400);
    expect(batch.json).toMatchObject({ error: { code: -32600 } });
    const deep = JSON.parse('{"a":'.repeat(60) + '1' + '}'.repeat(60));
    const tooDeep = await rpc(mcp.url, t, { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'refunds.create', arguments: deep } });
    expect(tooDeep.status).toBe(400);
    expect(tooDeep.json.error).toMatchObject({ code: -32602, data: { code: 'arguments_too_deep' } });
    expect(mcp.invocations.length).toBe(before);
  });
});

describe('MCP guard, embedded mode: revocation takes effect on the next call', () => {
  it('a revoked token stops working', async () => {
    const idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-mcp-rev-'));
    const port = await freePort();
    const resource = `http://127.0.0.1:${port}/mcp`;
    const decider = await createEmbeddedDecider(
      parseConfig({
        policy: { source: { policies: path.join(ROOT, 'policies'), tests: path.join(ROOT, 'rego-tests'), out: path.join(dir, 'build'), watch: false, test_gate: false } },
        issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
        servers: [{ id: 'demo', resource, issuers: [idp.issuer] }],
        revocation: { file: path.join(dir, 'revocations.json') },
      }),
    );
    const mcp = await startDemoMcpServer({ decider, serverId: 'demo', metadata: { resource, authorization_servers: [idp.issuer] }, port });
    try {
      const t = await idp.sign({ sub: 'mallory', roles: ['finance'], scope: 'invoices:read', aud: resource, jti: 'stolen' });
      const client = await connect(mcp.url, t);
      expect((await client.callTool({ name: 'invoices.read', arguments: { invoice_id: 'i-1' } })).isError).toBeFalsy();
      await decider.revocations.add({ kind: 'jti', value: 'stolen', reason: 'leaked' });
      await expect(client.callTool({ name: 'invoices.read', arguments: { invoice_id: 'i-2' } })).rejects.toThrow(/revoked/);
      const raw = await fetch(mcp.url, {
        method: 'POST',
        headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'invoices.read', arguments: { invoice_id: 'i-3' } } }),
      });
      expect(raw.status).toBe(401);
      expect(raw.headers.get('www-authenticate')).toContain('error="invalid_token"');
      await client.close();
      expect(mcp.invocations.map((i) => i.args.invoice_id)).toEqual(['i-1']);
    } finally {
      await mcp.close();
      await decider.close?.();
      await idp.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
