import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { parseConfig } from '../src/config/load-config.js';
import { startDemoMcpServer, type DemoMcpServer } from '../src/demo/mcp-server.js';
import { HttpDecider, type Decider } from '../src/mcp/decider.js';
import { createEmbeddedDecider } from '../src/mcp/embedded.js';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { freePort } from './support/net.js';
import { startApp, type RunningApp } from './support/app.js';
import { ROOT } from './support/policy-fixtures.js';

async function connect(url: string, token: string): Promise<Client> {
  const client = new Client({ name: 'toolgate-test', version: '0.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  return client;
}

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
