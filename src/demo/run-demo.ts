/**
 * `make demo`: a local OAuth 2.1 authorization server (oidc-provider) on
 * 127.0.0.1:9000, toolgate (config/demo.yaml plus that server as a trusted
 * issuer) on 127.0.0.1:8181, and the demo MCP server on 127.0.0.1:3000/mcp
 * guarded through toolgate's HTTP API. The console signs in against the
 * authorization server (client toolgate-console, accounts ops-reader and
 * ops-admin), so here the admin API trusts that server instead of the demo issuer.
 */
import 'reflect-metadata';
import { createApp } from '../bootstrap.js';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from '../config/load-config.js';
import { ADMIN_ACCOUNTS, CONSOLE_CLIENT_ID, DemoAuthorizationServer } from './authorization-server.js';
import { HttpDecider } from '../mcp/decider.js';
import { ensureDemoKeys } from './demo-issuer.js';
import { startDemoMcpServer } from './mcp-server.js';
import { protectedResourceMetadataUrl } from '../mcp/http-auth.js';

async function main(): Promise<void> {
  await ensureDemoKeys('.toolgate/demo');
  const raw = parseYaml(readFileSync('config/demo.yaml', 'utf8')) as {
    listen: { host: string; port: number };
    issuers: Record<string, unknown>[];
    servers: { issuers: string[] }[];
    admin: { issuer: string; audience: string };
    console: Record<string, unknown>;
  };
  const consoleBase = `http://${raw.listen.host}:${raw.listen.port}/console/`;
  const as = await DemoAuthorizationServer.start(String((raw.servers[0] as { scopes_supported?: string[] }).scopes_supported?.join(' ') ?? ''), 9000, {
    adminAudience: raw.admin.audience,
    redirectUris: [`${consoleBase}callback`],
  });
  raw.issuers.push({ issuer: as.issuer, discovery: true, algorithms: ['ES256'], typ: 'at+jwt' });
  raw.servers[0].issuers.push(as.issuer);
  // The console's tokens come from the authorization server, so the admin API trusts it here.
  raw.admin.issuer = as.issuer;
  raw.console = { ...raw.console, enabled: true, oauth: { issuer: as.issuer, client_id: CONSOLE_CLIENT_ID, scopes: ['openid', 'toolgate:read', 'toolgate:admin'] } };
  const config = parseConfig(raw);
  const app = await createApp(config, { logger: ['warn', 'error'] });
  await app.listen({ host: config.listen.host, port: config.listen.port });
  const server = config.servers[0];
  const toolgate = `http://${config.listen.host}:${config.listen.port}`;
  const mcp = await startDemoMcpServer({
    decider: new HttpDecider(toolgate),
    serverId: server.id,
    metadata: { resource: server.resource, authorization_servers: server.issuers, scopes_supported: server.scopes_supported, resource_name: server.resource_name },
    port: Number(new URL(server.resource).port),
  });
  console.log(`authorization server: ${as.issuer}  (discovery: ${as.issuer}/.well-known/openid-configuration; accounts alice, fred, erin, rita, and ops-reader / ops-admin for the console; any password)`);
  console.log(`toolgate:        ${toolgate}  (status: ${toolgate}/v1/status)`);
  const accounts = Object.entries(ADMIN_ACCOUNTS).map(([a, s]) => `${a}: ${s.join(' ')}`).join('; ');
  console.log(`console:         ${consoleBase}  (sign in as ${accounts}; any password)`);
  console.log(`demo MCP server: ${mcp.url}  (Streamable HTTP; metadata: ${protectedResourceMetadataUrl(server.resource)})`);
  console.log('');
  console.log('Get a token (dynamic client registration + authorization code with PKCE, for the MCP server as resource) and call a tool:');
  console.log(`  TOKEN=$(node dist/cli.js demo-login --account alice --scope "refunds:write" --aud ${server.resource})`);
  console.log(`  curl -s ${mcp.url} -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \\`);
  console.log(`    -H 'accept: application/json, text/event-stream' \\`);
  console.log(`    -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"refunds.create","arguments":{"order_id":"o-1","amount":50,"currency":"USD"}}}'`);
  console.log('Any MCP client that can send a bearer header can connect to the URL above.');
  console.log('');
  console.log('An admin token for the API (or to paste into the console), from the same authorization server:');
  console.log(`  ADMIN=$(node dist/cli.js demo-login --account ops-admin --scope "toolgate:read toolgate:admin" --aud ${config.admin!.audience})`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
