import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../src/config/load-config.js';
import { startDemoMcpServer, type DemoMcpServer } from '../src/demo/mcp-server.js';
import { HttpDecider, type Decider } from '../src/mcp/decider.js';
import { createEmbeddedDecider } from '../src/mcp/embedded.js';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { freePort } from './support/net.js';
import { startApp, type RunningApp } from './support/app.js';

type Rpc = { status: number; json: { result?: Record<string, unknown>; error?: { code: number; message: string; data?: Record<string, unknown> } } };

async function rpc(url: string, token: string, body: unknown): Promise<Rpc> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : {} };
}

const refund = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'refunds.create', arguments: { order_id: 'o-1', amount: 10, currency: 'USD' } } };
const read = { jsonrpc: '2.0', id: 2, method: 'resources/read', params: { uri: 'docs://handbook/refunds' } };
const list = { jsonrpc: '2.0', id: 3, method: 'tools/list', params: {} };

/** Answers every evaluation with a non-boolean `allow`: the contract says that is policy_error. */
const MALFORMED = `package mcp.authz

# METADATA
# entrypoint: true
decision := {"allow": "yes", "reasons": [], "required_scopes": []}
`;

describe.each(['http', 'embedded'] as const)('MCP guard over a policy whose answer breaks the contract (%s mode)', (mode) => {
  let idp: TestIssuer;
  let dir: string;
  let app: RunningApp | undefined;
  let decider: Decider;
  let mcp: DemoMcpServer;
  let token: string;

  beforeAll(async () => {
    idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    dir = await mkdtemp(path.join(os.tmpdir(), `toolgate-mcp-closed-${mode}-`));
    await mkdir(path.join(dir, 'policies/mcp/authz'), { recursive: true });
    await writeFile(path.join(dir, 'policies/mcp/authz/decision.rego'), MALFORMED);
    await mkdir(path.join(dir, 'tests'));
    const port = await freePort();
    const resource = `http://127.0.0.1:${port}/mcp`;
    const raw = {
      policy: { source: { policies: path.join(dir, 'policies'), tests: path.join(dir, 'tests'), out: path.join(dir, 'build'), watch: false, test_gate: false } },
      issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
      servers: [{ id: 'demo', resource, issuers: [idp.issuer] }],
      revocation: { file: path.join(dir, 'revocations.json') },
    };
    if (mode === 'http') {
      app = await startApp(raw);
      decider = new HttpDecider(app.url);
    } else {
      decider = await createEmbeddedDecider(parseConfig({ listen: { host: '127.0.0.1', port: 0 }, ...raw }));
    }
    mcp = await startDemoMcpServer({ decider, serverId: 'demo', metadata: { resource, authorization_servers: [idp.issuer] }, port });
    token = await idp.sign({ sub: 'alice', roles: ['support_agent'], scope: 'refunds:write', aud: resource });
  });

  afterAll(async () => {
    await mcp?.close();
    await app?.close();
    await decider?.close?.();
    await idp?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('tools/call is refused as a tool error, resources/read as -32603, lists come back empty; no handler runs', async () => {
    const call = await rpc(mcp.url, token, refund);
    expect(call.status).toBe(200);
    expect(call.json.result).toMatchObject({ isError: true });
    const r = await rpc(mcp.url, token, read);
    expect(r.status).toBe(200);
    expect(r.json.error).toMatchObject({ code: -32603, data: { code: 'policy_error' } });
    const l = await rpc(mcp.url, token, list);
    expect(l.json.result).toMatchObject({ tools: [] });
    expect(mcp.invocations).toEqual([]);
  });
});

describe('MCP guard with toolgate unreachable', () => {
  it('refuses decided and undecided requests alike with 503 toolgate_unavailable; no handler runs', async () => {
    const idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    const port = await freePort();
    const resource = `http://127.0.0.1:${port}/mcp`;
    // A port with nothing listening: every decision request fails to connect.
    const decider = new HttpDecider(`http://127.0.0.1:${await freePort()}`);
    const mcp = await startDemoMcpServer({ decider, serverId: 'demo', metadata: { resource, authorization_servers: [idp.issuer] }, port });
    try {
      const token = await idp.sign({ sub: 'alice', roles: ['support_agent'], scope: 'refunds:write', aud: resource });
      for (const body of [refund, read, list, { jsonrpc: '2.0', id: 4, method: 'ping' }]) {
        const res = await rpc(mcp.url, token, body);
        expect({ method: body.method, status: res.status, code: res.json.error?.data?.code }).toEqual({ method: body.method, status: 503, code: 'toolgate_unavailable' });
      }
      expect(mcp.invocations).toEqual([]);
    } finally {
      await mcp.close();
      await idp.stop();
    }
  });
});
