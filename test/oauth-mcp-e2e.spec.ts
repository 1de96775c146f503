import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startDemoMcpServer, type DemoMcpServer } from '../src/demo/mcp-server.js';
import { HttpDecider } from '../src/mcp/decider.js';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { freePort } from './support/net.js';
import { startApp, type RunningApp } from './support/app.js';
import { DemoAuthorizationServer } from '../src/demo/authorization-server.js';
import { ROOT } from './support/policy-fixtures.js';
import { startDemoMcpServerV2 } from './support/mcp-server-v2.js';

/** What the tests use of the official client; the same calls on both SDK lines. */
interface McpClient {
  callTool(p: { name: string; arguments: Record<string, unknown> }): Promise<{ isError?: boolean; content?: unknown }>;
  listTools(): Promise<{ tools: { name: string }[] }>;
  listResources(): Promise<{ resources: { uri: string }[] }>;
  readResource(p: { uri: string }): Promise<{ contents: unknown }>;
  listPrompts(): Promise<{ prompts: { name: string }[] }>;
  getPrompt(p: { name: string; arguments: Record<string, string> }): Promise<unknown>;
  close(): Promise<void>;
}

/** The official client of each SDK line, against a guarded server built on the same line. */
const LINES = [
  {
    line: '@modelcontextprotocol/sdk 1.x',
    start: startDemoMcpServer,
    async connect(url: string, token: string): Promise<McpClient> {
      const c = new Client({ name: 'e2e', version: '0.0.0' });
      await c.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
      return c as unknown as McpClient;
    },
  },
  {
    line: '@modelcontextprotocol/server 2.x',
    start: startDemoMcpServerV2,
    async connect(url: string, token: string): Promise<McpClient> {
      const c = new ClientV2({ name: 'e2e', version: '0.0.0' });
      await c.connect(new TransportV2(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
      return c as unknown as McpClient;
    },
  },
];

/**
 * All real, all on loopback: oidc-provider (DCR, authorization code + PKCE S256,
 * resource indicators, JWT access tokens), toolgate over HTTP, the demo MCP
 * server with the guard, and the official MCP SDK client.
 */
describe.each(LINES)('end to end: OAuth 2.1 authorization server → MCP client → guarded MCP server ($line) → toolgate', ({ start, connect: connectTo }) => {
  let as: DemoAuthorizationServer;
  let ops: TestIssuer;
  let app: RunningApp;
  let mcp: DemoMcpServer;
  let dir: string;
  let resource: string;
  let client: { client_id: string; redirect_uri: string };

  beforeAll(async () => {
    const port = await freePort();
    resource = `http://127.0.0.1:${port}/mcp`;
    as = await DemoAuthorizationServer.start('refunds:write invoices:read issues:write deploy:write deploy:production');
    ops = await TestIssuer.start([await makeKey('ES256', 'ops')]);
    dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-e2e-'));
    app = await startApp({
      policy: { source: { policies: path.join(ROOT, 'policies'), tests: path.join(ROOT, 'rego-tests'), out: path.join(dir, 'build'), watch: false, test_gate: false } },
      issuers: [
        { issuer: as.issuer, discovery: true, algorithms: ['ES256'], typ: 'at+jwt' },
        { issuer: ops.issuer, jwks_uri: ops.jwksUri, algorithms: ['ES256'] },
      ],
      servers: [{ id: 'demo', resource, issuers: [as.issuer], scopes_supported: ['refunds:write', 'invoices:read'] }],
      revocation: { file: path.join(dir, 'revocations.json') },
      admin: { issuer: ops.issuer, audience: 'https://toolgate.test/admin', scope: 'toolgate:admin' },
    });
    mcp = await start({ decider: new HttpDecider(app.url), serverId: 'demo', metadata: { resource, authorization_servers: [as.issuer], scopes_supported: ['refunds:write', 'invoices:read'] }, port });
    client = await as.register();
  });

  afterAll(async () => {
    await mcp?.close();
    await app?.close();
    await as?.stop();
    await ops?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const tokenFor = (account: string, scope: string, forResource = resource) => as.token({ ...client, account, scope, resource: forResource });
  const connect = (token: string) => connectTo(mcp.url, token);

  it('issues a JWT access token for the MCP server as resource, through DCR and PKCE', async () => {
    const token = await tokenFor('alice', 'openid refunds:write');
    const [h, p] = token.split('.').slice(0, 2).map((x) => JSON.parse(Buffer.from(x, 'base64url').toString()));
    expect(h).toMatchObject({ typ: 'at+jwt', alg: 'ES256' });
    expect(p).toMatchObject({ iss: as.issuer, aud: resource, sub: 'alice', client_id: client.client_id, roles: ['support_agent'] });
    expect(p.scope).toContain('refunds:write');
  });

  it('a token cannot be obtained without PKCE', async () => {
    await expect(as.token({ ...client, account: 'alice', scope: 'openid refunds:write', resource, pkce: false })).rejects.toThrow(/code_challenge|PKCE/i);
  });

  it('allowed calls run; a call beyond the role is denied with reasons and the handler never runs; the list is filtered', async () => {
    const c = await connect(await tokenFor('alice', 'openid refunds:write invoices:read'));
    try {
      const ok = await c.callTool({ name: 'refunds.create', arguments: { order_id: 'o-1', amount: 40, currency: 'EUR' } });
      expect(ok.isError).toBeFalsy();
      const before = mcp.invocations.length;
      const denied = await c.callTool({ name: 'deploy.trigger', arguments: { service: 'api', environment: 'staging' } });
      expect(denied.isError).toBe(true);
      expect(JSON.stringify(denied.content)).toContain('requires one of the roles');
      expect(mcp.invocations.length).toBe(before);
      expect((await c.listTools()).tools.map((t) => t.name).sort()).toEqual(['invoices.read', 'issues.create', 'refunds.create']);
    } finally {
      await c.close();
    }
  });

  it('resources: an unlisted resource is denied with the reasons and never read; resources/list and prompts/list are filtered', async () => {
    const c = await connect(await tokenFor('alice', 'openid refunds:write'));
    try {
      const before = mcp.invocations.length;
      await expect(c.readResource({ uri: 'docs://internal/salaries' })).rejects.toThrow(/not in the catalog of server "demo"; unknown resources are denied/);
      expect(mcp.invocations.length).toBe(before);
      expect((await c.listResources()).resources.map((r) => r.uri)).toEqual(['docs://handbook/refunds']);
      expect(JSON.stringify((await c.readResource({ uri: 'docs://handbook/refunds' })).contents)).toContain('need no approval');
      expect((await c.listPrompts()).prompts.map((p) => p.name)).toEqual(['refund_reply']);
    } finally {
      await c.close();
    }
    const erin = await connect(await tokenFor('erin', 'openid deploy:write'));
    try {
      expect((await erin.listResources()).resources).toEqual([]);
      await expect(erin.getPrompt({ name: 'refund_reply', arguments: { order_id: 'o-1' } })).rejects.toThrow(/requires one of the roles/);
    } finally {
      await erin.close();
    }
  });

  it('insufficient scope yields 403 with a step-up challenge listing the scopes', async () => {
    const token = await tokenFor('rita', 'openid deploy:write');
    const res = await fetch(mcp.url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'deploy.trigger', arguments: { service: 'api', environment: 'production' } } }),
    });
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toContain('error="insufficient_scope", scope="deploy:production deploy:write"');
    // Step up: a new token with every scope the challenge named now works.
    const c = await connect(await tokenFor('rita', 'openid deploy:write deploy:production'));
    const ok = await c.callTool({ name: 'deploy.trigger', arguments: { service: 'api', environment: 'production' } });
    expect(ok.isError).toBeFalsy();
    await c.close();
  });

  it('a token issued for another resource is rejected', async () => {
    const other = await tokenFor('alice', 'openid refunds:write', 'http://127.0.0.1:1/another-mcp');
    const res = await fetch(mcp.url, {
      method: 'POST',
      headers: { authorization: `Bearer ${other}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });

  it('a revoked token stops working on the next call', async () => {
    const token = await tokenFor('alice', 'openid invoices:read');
    const c = await connect(token);
    expect((await c.callTool({ name: 'invoices.read', arguments: { invoice_id: 'i-1' } })).isError).toBeFalsy();
    const jti = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).jti as string;
    const adminToken = await ops.sign({ sub: 'ops', aud: 'https://toolgate.test/admin', scope: 'toolgate:admin' });
    const revoked = await app.post('/v1/revocations', { kind: 'jti', value: jti }, { authorization: `Bearer ${adminToken}` });
    expect(revoked.status).toBe(201);
    await expect(c.callTool({ name: 'invoices.read', arguments: { invoice_id: 'i-2' } })).rejects.toThrow(/revoked/);
    await c.close();
    expect(mcp.invocations.filter((i) => i.tool === 'invoices.read').map((i) => i.args.invoice_id)).toEqual(['i-1']);
  });
});
