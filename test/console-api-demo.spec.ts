import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { decodeJwt } from 'jose';
import { loadConfigFile } from '../src/config/load-config.js';
import { CONSOLE_CLIENT_ID, DemoAuthorizationServer } from '../src/demo/authorization-server.js';
import { DEMO_ISSUER, ensureDemoKeys, mintDemoToken } from '../src/demo/demo-issuer.js';
import { startApp, type RunningApp } from './support/app.js';
import { ROOT } from './support/policy-fixtures.js';

const ADMIN_AUD = 'https://toolgate.demo/admin';
const CONSOLE_ORIGIN = 'http://127.0.0.1:8181';
const REDIRECT = `${CONSOLE_ORIGIN}/console/callback`;
const MCP = 'http://127.0.0.1:3999/mcp';

describe("console sign-in against the demo authorization server (make demo)", () => {
  let as: DemoAuthorizationServer;
  let app: RunningApp;
  let dir: string;

  beforeAll(async () => {
    as = await DemoAuthorizationServer.start('refunds:write', 0, { adminAudience: ADMIN_AUD, redirectUris: [REDIRECT] });
    dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-console-demo-'));
    app = await startApp({
      policy: { source: { policies: path.join(ROOT, 'policies'), tests: path.join(ROOT, 'rego-tests'), out: path.join(dir, 'build'), watch: false, test_gate: false } },
      issuers: [{ issuer: as.issuer, discovery: true, algorithms: ['ES256'], typ: 'at+jwt' }],
      servers: [{ id: 'demo', resource: MCP, issuers: [as.issuer], scopes_supported: ['refunds:write'] }],
      revocation: { file: path.join(dir, 'revocations.json') },
      admin: { issuer: as.issuer, audience: ADMIN_AUD },
      console: { enabled: true, oauth: { issuer: as.issuer, client_id: CONSOLE_CLIENT_ID, scopes: ['openid', 'toolgate:read', 'toolgate:admin'] } },
    });
  });

  afterAll(async () => {
    await app?.close();
    await as?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const signIn = (account: string) =>
    as.token({ client_id: CONSOLE_CLIENT_ID, redirect_uri: REDIRECT, account, scope: 'openid toolgate:read toolgate:admin', resource: ADMIN_AUD });

  it('ops-reader gets a read-only admin token: it can read, and revoking answers 403', async () => {
    const token = await signIn('ops-reader');
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({ aud: ADMIN_AUD, sub: 'ops-reader', client_id: CONSOLE_CLIENT_ID, scope: 'toolgate:read' });
    const auth = { authorization: `Bearer ${token}` };
    expect((await app.get('/v1/admin/whoami', auth)).body).toMatchObject({ sub: 'ops-reader', scopes: ['toolgate:read'], can_admin: false });
    expect((await app.get('/v1/revocations', auth)).status).toBe(200);
    const r = await app.post('/v1/revocations', { kind: 'sub', value: 'alice' }, auth);
    expect(r.status).toBe(403);
    expect(r.body.code).toBe('caller_forbidden');
  });

  it('ops-admin gets both scopes and can revoke', async () => {
    const token = await signIn('ops-admin');
    expect(String(decodeJwt(token).scope).split(' ').sort()).toEqual(['toolgate:admin', 'toolgate:read']);
    const auth = { authorization: `Bearer ${token}` };
    expect((await app.get('/v1/admin/whoami', auth)).body).toMatchObject({ sub: 'ops-admin', can_admin: true });
    const r = await app.post('/v1/revocations', { kind: 'sub', value: 'nobody', reason: 'console test' }, auth);
    expect(r.status).toBe(201);
  });

  it('an account without admin rights gets no admin scope, so the admin API refuses it', async () => {
    const token = await signIn('alice');
    expect(String(decodeJwt(token).scope ?? '')).not.toMatch(/toolgate:/);
    const r = await app.get('/v1/admin/whoami', { authorization: `Bearer ${token}` });
    expect(r.status).toBe(403);
    expect((r.body as { code: string }).code).toBe('caller_forbidden');
  });

  it('refuses the console client without PKCE', async () => {
    await expect(as.token({ client_id: CONSOLE_CLIENT_ID, redirect_uri: REDIRECT, account: 'ops-admin', scope: 'openid toolgate:read', resource: ADMIN_AUD, pkce: false })).rejects.toThrow(/PKCE|code_challenge/i);
  });

  it('lets only the console origin call the token endpoint cross-origin; discovery is readable by it', async () => {
    const preflight = (origin: string) =>
      fetch(`${as.issuer}/token`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
    expect((await preflight(CONSOLE_ORIGIN)).headers.get('access-control-allow-origin')).toBe(CONSOLE_ORIGIN);
    const token = await fetch(`${as.issuer}/token`, {
      method: 'POST',
      headers: { origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: 'x', client_id: CONSOLE_CLIENT_ID, redirect_uri: REDIRECT, code_verifier: 'y'.repeat(43) }),
    });
    expect(token.headers.get('access-control-allow-origin')).not.toBe('https://evil.example');
    const disco = await fetch(`${as.issuer}/.well-known/openid-configuration`, { headers: { origin: CONSOLE_ORIGIN } });
    expect(disco.status).toBe(200);
    expect([CONSOLE_ORIGIN, '*']).toContain(disco.headers.get('access-control-allow-origin'));
    expect(((await disco.json()) as { code_challenge_methods_supported: string[] }).code_challenge_methods_supported).toContain('S256');
  });

  it('config.json names the demo issuer and the console client', async () => {
    const r = await app.get('/console/config.json');
    expect(r.body).toMatchObject({ oauth: { issuer: as.issuer, client_id: CONSOLE_CLIENT_ID, resource: ADMIN_AUD } });
  });

  it('make run: config/demo.yaml enables the console with pasted tokens, and demo-token mints read or admin tokens for it', async () => {
    const demo = loadConfigFile(path.join(ROOT, 'config/demo.yaml'));
    expect(demo.console).toMatchObject({ enabled: true, reports_dir: path.resolve('build/reports') });
    expect(demo.console.oauth).toBeUndefined();
    expect(demo.admin).toMatchObject({ issuer: DEMO_ISSUER, scope: 'toolgate:admin', read_scope: 'toolgate:read' });

    const keys = path.join(dir, 'demo-keys');
    const jwks = await ensureDemoKeys(keys);
    const run = await startApp({
      policy: { source: { policies: path.join(ROOT, 'policies'), tests: path.join(ROOT, 'rego-tests'), out: path.join(dir, 'build-run'), watch: false, test_gate: false } },
      issuers: [{ issuer: DEMO_ISSUER, jwks_file: jwks, algorithms: ['ES256'] }],
      servers: demo.servers.map((s) => ({ ...s, issuers: [DEMO_ISSUER] })),
      revocation: { file: path.join(dir, 'revocations-run.json') },
      admin: { issuer: DEMO_ISSUER, audience: demo.admin!.audience },
      console: { enabled: true },
    });
    try {
      expect((await run.get('/console/config.json')).body).toMatchObject({ admin_audience: demo.admin!.audience, oauth: null });
      const mint = (scope: string) => mintDemoToken(keys, { sub: 'ops', roles: [], projects: [], scope, aud: demo.admin!.audience, ttlSeconds: 300 });
      const reader = { authorization: `Bearer ${await mint('toolgate:read')}` };
      expect((await run.get('/v1/admin/whoami', reader)).body).toMatchObject({ sub: 'ops', can_admin: false });
      expect((await run.post('/v1/revocations', { kind: 'sub', value: 'alice' }, reader)).status).toBe(403);
      const admin = { authorization: `Bearer ${await mint('toolgate:admin')}` };
      expect((await run.post('/v1/revocations', { kind: 'sub', value: 'alice' }, admin)).status).toBe(201);
    } finally {
      await run.close();
    }
  });
});
