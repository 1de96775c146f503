import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client as ClientV2 } from '@modelcontextprotocol/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { InMemoryTransport as InMemoryTransportV2, McpServer as McpServerV2, Server as ServerV2 } from '@modelcontextprotocol/server';
import { HttpDecider } from '../src/mcp/decider.js';
import { guardLists } from '../src/mcp/guard.js';
import { bearerToken, protectedResourceMetadataPath, protectedResourceMetadataUrl } from '../src/mcp/http-auth.js';
import { assertSupportedSdk, inRange, installedVersion, UnsupportedSdkError } from '../src/mcp/sdk-support.js';
import { ROOT } from './support/policy-fixtures.js';

// A real decider that cannot reach toolgate (nothing listens on port 1): every answer is a deny.
const unreachable = () => new HttpDecider('http://127.0.0.1:1', { timeoutMs: 2000 });
const TOOL = { name: 'invoices.read', description: 'Read one invoice.', inputSchema: { type: 'object' as const, properties: {} } };

describe('MCP SDK support of the list guard', () => {
  it.each([
    ['1.32.2', true],
    ['1.40.0', true],
    ['1.32.1', false],
    ['2.0.0', false],
    ['1.33.0-beta.1', false],
    ['x', false],
  ])('@modelcontextprotocol/sdk %s in the tested range: %s', (v, ok) => {
    expect(inRange(v, '1.32.2', '2.0.0')).toBe(ok);
  });

  it('refuses SDK versions outside the tested ranges loudly, with a stable code', () => {
    for (const [line, v] of [[1, '2.0.0'], [1, '1.31.9'], [2, '2.5.0'], [2, '3.0.0'], [2, '2.4.0-rc.1']] as const) {
      expect(() => assertSupportedSdk(line, v)).toThrow(UnsupportedSdkError);
    }
    const thrown = (() => {
      try {
        assertSupportedSdk(2, '2.5.0');
      } catch (e) {
        return e as UnsupportedSdkError;
      }
      return undefined;
    })();
    expect(thrown?.code).toBe('unsupported_mcp_sdk');
    expect(thrown?.message).toContain('@modelcontextprotocol/server >=2.4.0 <2.5.0, found 2.5.0');
    // The installed ones are the tested ones.
    expect(() => assertSupportedSdk(1)).not.toThrow();
    expect(() => assertSupportedSdk(2)).not.toThrow();
  });

  it("reads the version Node would load, from the nearest node_modules (neither SDK exports its package.json)", async () => {
    expect(installedVersion('@modelcontextprotocol/server')).toBe(JSON.parse(await readFile(path.join(ROOT, 'node_modules/@modelcontextprotocol/server/package.json'), 'utf8')).version);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-sdk-'));
    try {
      await mkdir(path.join(dir, 'node_modules/@modelcontextprotocol/server'), { recursive: true });
      await writeFile(path.join(dir, 'node_modules/@modelcontextprotocol/server/package.json'), JSON.stringify({ name: '@modelcontextprotocol/server', version: '2.9.0' }));
      expect(installedVersion('@modelcontextprotocol/server', pathToFileURL(path.join(dir, 'app.js')).href)).toBe('2.9.0');
      expect(installedVersion('@modelcontextprotocol/not-installed', pathToFileURL(path.join(dir, 'app.js')).href)).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('guardLists refuses to run after a list handler is installed, and twice (both lines)', () => {
    const v1 = new McpServer({ name: 't', version: '0' });
    v1.registerTool('invoices.read', { description: 'x' }, async () => ({ content: [] }));
    expect(() => guardLists(v1, unreachable(), 'demo')).toThrow(/tools\/list handler is already installed; call guardLists before registering/);
    const v2 = new McpServerV2({ name: 't', version: '0' });
    v2.registerTool('invoices.read', { description: 'x' }, async () => ({ content: [] }));
    expect(() => guardLists(v2, unreachable(), 'demo')).toThrow(/tools\/list handler is already installed/);
    const fresh = new McpServer({ name: 't', version: '0' });
    guardLists(fresh, unreachable(), 'demo');
    expect(() => guardLists(fresh, unreachable(), 'demo')).toThrow(/already guarded/);
  });

  it('guards a low-level Server of 1.x: the list fails closed when toolgate is unreachable', async () => {
    const make = (guard: boolean) => {
      const server = new Server({ name: 't', version: '0' }, { capabilities: { tools: {} } });
      if (guard) guardLists(server, unreachable(), 'demo');
      server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: [TOOL] }));
      return server;
    };
    const list = async (server: Server) => {
      const [a, b] = InMemoryTransport.createLinkedPair();
      await server.connect(a);
      const client = new Client({ name: 'c', version: '0' });
      await client.connect(b);
      const tools = (await client.listTools()).tools.map((t) => t.name);
      await client.close();
      return tools;
    };
    expect(await list(make(false))).toEqual(['invoices.read']);
    expect(await list(make(true))).toEqual([]);
  });

  it('guards a low-level Server of 2.x: the list fails closed when toolgate is unreachable', async () => {
    const make = (guard: boolean) => {
      const server = new ServerV2({ name: 't', version: '0' }, { capabilities: { tools: {} } });
      if (guard) guardLists(server, unreachable(), 'demo');
      server.setRequestHandler('tools/list', () => ({ tools: [TOOL] }));
      return server;
    };
    const list = async (server: ServerV2) => {
      const [a, b] = InMemoryTransportV2.createLinkedPair();
      await server.connect(a);
      const client = new ClientV2({ name: 'c', version: '0' });
      await client.connect(b);
      const tools = (await client.listTools()).tools.map((t) => t.name);
      await client.close();
      return tools;
    };
    expect(await list(make(false))).toEqual(['invoices.read']);
    expect(await list(make(true))).toEqual([]);
  });

  it('one bearer and metadata helper for the guard', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('bearer   abc ')).toBe('abc');
    expect(bearerToken('Basic abc')).toBe('');
    expect(bearerToken(undefined)).toBe('');
    expect(protectedResourceMetadataPath('https://a.example/mcp/')).toBe('/.well-known/oauth-protected-resource/mcp');
    expect(protectedResourceMetadataPath('https://a.example/')).toBe('/.well-known/oauth-protected-resource');
    expect(protectedResourceMetadataUrl('https://a.example:8443/t/mcp')).toBe('https://a.example:8443/.well-known/oauth-protected-resource/t/mcp');
  });
});
