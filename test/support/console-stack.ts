import { execFile, execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { AddressInfo } from 'node:net';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../../src/bootstrap.js';
import { parseConfig } from '../../src/config/load-config.js';
import { CONSOLE_CLIENT_ID, DemoAuthorizationServer } from '../../src/demo/authorization-server.js';
import { startDemoMcpServer, type DemoMcpServer } from '../../src/demo/mcp-server.js';
import { HttpDecider } from '../../src/mcp/decider.js';
import { freePort } from './net.js';
import { policyWorkspace, ROOT, type PolicyWorkspace } from './policy-fixtures.js';

/** Toolgate's admin audience in the console tests. */
export const ADMIN_AUDIENCE = 'https://toolgate.test/admin';

/** The whole demo stack on loopback, with the console enabled and signing in through the authorization server. */
export interface ConsoleStack {
  as: DemoAuthorizationServer;
  app: NestFastifyApplication;
  /** toolgate's origin, e.g. http://127.0.0.1:41234 */
  url: string;
  mcp: DemoMcpServer;
  /** MCP server resource (audience of MCP tokens). */
  resource: string;
  /** The console's public client at the authorization server (redirect: `${url}/console/callback`). */
  consoleClient: { client_id: string; redirect_uri: string };
  /** A native client for the MCP tokens the tests mint outside the browser. */
  mcpClient: { client_id: string; redirect_uri: string };
  policies: PolicyWorkspace;
  /** The shadow candidate: the same policy with support agents' refund limit lowered to 30. */
  shadow: PolicyWorkspace;
  /** The decision-log file toolgate writes. */
  decisionLog: string;
  /** console.reports_dir: where the console lists replay and privileges reports. */
  reportsDir: string;
  close(): Promise<void>;
}

/**
 * Writes a real `toolgate replay` JSON report into the console's reports directory: the
 * stack's (edited) policy as candidate against the repository's policy, over the recorded log.
 */
export async function writeReplayReport(stack: ConsoleStack, name: string): Promise<string> {
  const out = path.join(stack.reportsDir, name);
  await mkdir(stack.reportsDir, { recursive: true });
  await promisify(execFile)(
    process.execPath,
    [
      path.join(ROOT, 'dist', 'cli.js'), 'replay', stack.policies.policies, '--tests', stack.policies.tests,
      '--baseline', path.join(ROOT, 'policies'), '--baseline-tests', path.join(ROOT, 'rego-tests'),
      '--logs', stack.decisionLog, '--format', 'json', '--output', out,
    ],
    { cwd: ROOT },
  );
  return out;
}

/** Bundles console/ into dist/console (the same step as `make build`; about a second). */
export function buildConsole(): void {
  execFileSync(process.execPath, [path.join(ROOT, 'console', 'build.mjs')], { stdio: 'inherit' });
}

/**
 * Starts the authorization server, toolgate (policies from a scratch copy,
 * watched so a test can activate a new revision, decisions to a file sink) and
 * the demo MCP server guarded by toolgate over HTTP.
 */
export async function startConsoleStack(): Promise<ConsoleStack> {
  const port = await freePort();
  const mcpPort = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const resource = `http://127.0.0.1:${mcpPort}/mcp`;
  const consoleClient = { client_id: CONSOLE_CLIENT_ID, redirect_uri: `${url}/console/callback` };
  // The demo's console client and admin accounts (ops-reader: toolgate:read; ops-admin: + toolgate:admin).
  const as = await DemoAuthorizationServer.start('refunds:write invoices:read issues:write deploy:write deploy:production', 0, {
    adminAudience: ADMIN_AUDIENCE,
    redirectUris: [consoleClient.redirect_uri],
  });
  const policies = await policyWorkspace();
  const shadow = await policyWorkspace();
  const catalogFile = path.join(shadow.policies, 'catalog', 'data.json');
  const catalog = JSON.parse(await readFile(catalogFile, 'utf8'));
  catalog.servers.demo.tools['refunds.create'].arguments.amount.max_by_role.support_agent = 30;
  await writeFile(catalogFile, JSON.stringify(catalog, null, 2));
  const decisionLog = path.join(policies.dir, 'decisions.jsonl');
  const reportsDir = path.join(policies.dir, 'reports');
  const mcpClient = await as.register();
  const config = parseConfig({
    listen: { host: '127.0.0.1', port },
    policy: {
      source: { policies: policies.policies, tests: policies.tests, out: policies.out, test_gate: false, debounce_ms: 50 },
      shadow: { mode: 'source', source: { policies: shadow.policies, tests: shadow.tests, out: shadow.out, test_gate: false, watch: false }, sample_rate: 1 },
    },
    issuers: [{ issuer: as.issuer, discovery: true, algorithms: ['ES256'], typ: 'at+jwt' }],
    servers: [{ id: 'demo', resource, issuers: [as.issuer], scopes_supported: ['refunds:write', 'invoices:read', 'deploy:write'] }],
    decision_logs: { file: { path: decisionLog } },
    revocation: { file: path.join(policies.dir, 'revocations.json') },
    admin: { issuer: as.issuer, audience: ADMIN_AUDIENCE, scope: 'toolgate:admin', read_scope: 'toolgate:read' },
    console: { enabled: true, oauth: { issuer: as.issuer, client_id: consoleClient.client_id, scopes: ['openid', 'toolgate:read', 'toolgate:admin'] }, reports_dir: reportsDir },
  });
  const app = await createApp(config, { logger: process.env.TOOLGATE_TEST_LOG ? ['log', 'warn', 'error'] : false });
  await app.listen({ host: '127.0.0.1', port });
  if ((app.getHttpServer().address() as AddressInfo).port !== port) throw new Error('toolgate did not get its port');
  const mcp = await startDemoMcpServer({
    decider: new HttpDecider(url),
    serverId: 'demo',
    metadata: { resource, authorization_servers: [as.issuer], scopes_supported: ['refunds:write', 'invoices:read', 'deploy:write'] },
    port: mcpPort,
  });
  return {
    as,
    app,
    url,
    mcp,
    resource,
    consoleClient,
    mcpClient,
    policies,
    shadow,
    decisionLog,
    reportsDir,
    async close() {
      await mcp.close();
      await app.close();
      await as.stop();
      await policies.cleanup();
      await shadow.cleanup();
    },
  };
}
