import { readFile } from 'node:fs/promises';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { parseConfig } from '../src/config/load-config.js';
import { serveGuarded, type DemoMcpServer, type ToolInvocation } from '../src/demo/mcp-server.js';
import { HttpDecider, type Decider } from '../src/mcp/decider.js';
import { createEmbeddedDecider } from '../src/mcp/embedded.js';
import { guardLists } from '../src/mcp/guard.js';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { freePort } from './support/net.js';
import { startApp, type RunningApp } from './support/app.js';
import { policyWorkspace, type PolicyWorkspace } from './support/policy-fixtures.js';

/**
 * Issue 24, item 1: a resource URI the MCP SDKs (new URL) read differently
 * from the policy (the raw string) is refused before any policy runs, in every
 * TypeScript entry point; a listed one is hidden. The catalog gains a prefix
 * `docs://kb/public/` the caller may read; `docs://kb/secret` is not listed.
 */
const ATTACKS: [string, string, string][] = [
  ['tab', 'docs://kb/public/.\t./secret', 'resource_uri_unsafe'],
  ['LF', 'docs://kb/public/.\n./secret', 'resource_uri_unsafe'],
  ['CR', 'docs://kb/public/.\r./secret', 'resource_uri_unsafe'],
  ['/..?', 'docs://kb/public/..?x', 'resource_uri_not_canonical'],
  ['/..#', 'docs://kb/public/..#x', 'resource_uri_not_canonical'],
  ['trailing space', 'docs://kb/public/.. ', 'resource_uri_unsafe'],
  ['%2e%2e', 'docs://kb/public/%2e%2e/secret', 'resource_uri_not_canonical'],
  ['backslash', 'docs://kb/public/..\\secret', 'resource_uri_unsafe'],
  ['backslash, special scheme', 'file:///kb/public/..\\secret', 'resource_uri_unsafe'],
  ['not absolute', 'kb/public/intro', 'resource_uri_not_canonical'],
];
const SECRET = 'TOP-SECRET salaries';

describe('resource URIs read differently by the SDK than by the policy are refused in every entry point', () => {
  let idp: TestIssuer;
  let ws: PolicyWorkspace;
  let app: RunningApp;
  let embedded: Decider;
  let resource: string;
  let mcp: DemoMcpServer;
  const invocations: ToolInvocation[] = [];

  beforeAll(async () => {
    idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    ws = await policyWorkspace();
    const data = JSON.parse(await readFile(`${ws.policies}/catalog/data.json`, 'utf8'));
    data.servers.demo.resource_prefixes['docs://kb/public/'] = { description: 'public KB', roles: ['support_agent'] };
    await ws.write('policies/catalog/data.json', JSON.stringify(data));
    const port = await freePort();
    resource = `http://127.0.0.1:${port}/mcp`;
    const raw = {
      policy: { source: { policies: ws.policies, tests: ws.tests, out: ws.out, watch: false, test_gate: false } },
      issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
      servers: [{ id: 'demo', resource, issuers: [idp.issuer] }],
      revocation: { file: `${ws.dir}/revocations.json` },
      limits: { arguments_keys: 50, tools_per_list: 20, uri_length: 100 },
    };
    app = await startApp(raw);
    embedded = await createEmbeddedDecider(parseConfig({ listen: { host: '127.0.0.1', port: 0 }, ...raw, policy: { source: { ...raw.policy.source, out: `${ws.dir}/build2` } } }));
    const decider = new HttpDecider(app.url);
    // A real SDK 1.x McpServer behind the guard: its resources/read looks the URI up through new URL().
    mcp = await serveGuarded({ decider, serverId: 'demo', metadata: { resource, authorization_servers: [idp.issuer] }, port }, invocations, async (req, res, body) => {
      const server = new McpServer({ name: 'kb', version: '0.0.0' });
      guardLists(server, decider, 'demo');
      for (const [name, uri, text] of [['intro', 'docs://kb/public/intro', 'welcome'], ['secret', 'docs://kb/secret', SECRET]] as const) {
        server.registerResource(name, uri, { mimeType: 'text/plain' }, async (u) => {
          invocations.push({ tool: 'resources/read', args: { uri: u.href } });
          return { contents: [{ uri: u.href, text }] };
        });
      }
      server.registerResource('odd', 'docs://kb/public/%2e%2e/secret', { mimeType: 'text/plain' }, async (u) => ({ contents: [{ uri: u.href, text: SECRET }] }));
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      res.on('close', () => void transport.close());
      await server.connect(transport);
      await transport.handleRequest(req, res, body);
    });
  });

  afterAll(async () => {
    await mcp?.close();
    await app?.close();
    await embedded?.close?.();
    await idp?.stop();
    await ws?.cleanup();
  });

  const alice = () => idp.sign({ sub: 'alice', roles: ['support_agent'], aud: resource });

  it('the decision API allows the public prefix, denies the secret asked directly, and refuses every rewritten spelling with 400 and its code', async () => {
    const token = await alice();
    const read = (uri: string) => app.post('/v1/decisions', { token, server: 'demo', action: 'read_resource', resource: { uri } });
    expect((await read('docs://kb/public/intro')).body).toMatchObject({ allow: true });
    expect((await read('docs://kb/secret')).body).toMatchObject({ allow: false, code: 'policy_denied' });
    for (const [label, uri, code] of ATTACKS) {
      const r = await read(uri);
      expect([label, r.status, r.body.code]).toEqual([label, 400, code]);
      expect(String(r.body.message)).toMatch(/resource\.uri: /);
    }
    const long = await read(`docs://kb/public/${'a'.repeat(100)}`);
    expect([long.status, long.body.code]).toEqual([400, 'uri_too_long']);
  });

  it('a list filter hides each refused URI and still answers the rest (API and embedded)', async () => {
    const token = await alice();
    const items = [{ uri: 'docs://kb/public/intro' }, ...ATTACKS.map(([, uri]) => ({ uri })), { uri: `docs://kb/public/${'a'.repeat(100)}` }];
    const viaApi = await app.post('/v1/decisions/list', { token, server: 'demo', kind: 'resource', items });
    expect(viaApi.status).toBe(200);
    expect(viaApi.body.allowed).toEqual(['docs://kb/public/intro']);
    const viaEmbedded = await embedded.filterList({ token, server: 'demo', kind: 'resource', items });
    expect(viaEmbedded.allowed).toEqual(['docs://kb/public/intro']);
  });

  it('the embedded decider refuses every rewritten spelling with the same code', async () => {
    const token = await alice();
    for (const [label, uri, code] of ATTACKS) {
      const d = await embedded.decide({ token, server: 'demo', action: 'read_resource', resource: { uri } });
      expect([label, d.allow, d.code, d.http_status]).toEqual([label, false, code, 400]);
    }
  });

  it('the TypeScript guard in front of a real SDK server: the handler never runs and the secret is never served', async () => {
    const token = await alice();
    const rpc = async (body: unknown) => {
      const res = await fetch(mcp.url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify(body) });
      return { status: res.status, text: await res.text() };
    };
    const ok = await rpc({ jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri: 'docs://kb/public/intro' } });
    expect(ok.text).toContain('welcome');
    const before = invocations.length;
    for (const [label, uri, code] of ATTACKS) {
      for (const method of ['resources/read', 'resources/subscribe']) {
        const r = await rpc({ jsonrpc: '2.0', id: 2, method, params: { uri } });
        expect([label, method, r.status]).toEqual([label, method, 400]);
        expect(r.text).not.toContain(SECRET);
        expect(JSON.parse(r.text).error).toMatchObject({ code: -32602, data: { code } });
      }
    }
    expect(invocations.length).toBe(before);
    const listed = await rpc({ jsonrpc: '2.0', id: 3, method: 'resources/list' });
    const uris = (JSON.parse(listed.text).result.resources as { uri: string }[]).map((r) => r.uri);
    expect(uris).toEqual(['docs://kb/public/intro']);
  });

  it('argument keys, list items and URI length each have their own limit and 400 code, refused before any policy runs', async () => {
    const token = await alice();
    const args = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, i]));
    const keys = await app.post('/v1/decisions', { token, server: 'demo', tool: { name: 'refunds.create', arguments: { nested: args } } });
    expect([keys.status, keys.body.code]).toEqual([400, 'arguments_too_many_keys']);
    const fifty = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, i]));
    expect((await app.post('/v1/decisions', { token, server: 'demo', tool: { name: 'refunds.create', arguments: fifty } })).status).toBe(200);
    const list = await app.post('/v1/decisions/list', { token, server: 'demo', kind: 'tool', items: Array.from({ length: 21 }, (_, i) => ({ name: `t${i}` })) });
    expect([list.status, list.body.code]).toEqual([400, 'list_too_long']);
    const d = await embedded.decide({ token, server: 'demo', tool: { name: 'refunds.create', arguments: args } });
    expect([d.code, d.http_status]).toEqual(['arguments_too_many_keys', 400]);
  });
});
