import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../src/config/load-config.js';
import { ConsoleStatic } from '../src/console-api/console-static.js';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { startApp, type RunningApp } from './support/app.js';
import { policyWorkspace, type PolicyWorkspace } from './support/policy-fixtures.js';

const RESOURCE = 'http://127.0.0.1:3999/mcp';
const ADMIN_AUD = 'https://toolgate.admin';

type Json = Record<string, any>;

describe('console: static files, CSP, config.json, config rules', () => {
  let idp: TestIssuer;
  let ws: PolicyWorkspace;
  let dir: string;
  let app: RunningApp;

  const config = (over: Record<string, unknown> = {}) => ({
    policy: { source: { policies: ws.policies, tests: ws.tests, out: ws.out, watch: false } },
    issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
    servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer], scopes_supported: ['refunds:write', 'deploy:write'] }],
    decision_logs: { file: { path: path.join(dir, 'logs/decisions.jsonl') } },
    revocation: { file: path.join(dir, 'revocations.json') },
    admin: { issuer: idp.issuer, audience: ADMIN_AUD },
    console: { enabled: true, oauth: { issuer: idp.issuer, client_id: 'toolgate-console', scopes: ['openid', 'toolgate:read', 'toolgate:admin'] }, reports_dir: path.join(dir, 'reports') },
    ...over,
  });

  const adminToken = async (scope: string) => `Bearer ${await idp.sign({ sub: 'ops', aud: ADMIN_AUD, scope })}`;

  beforeAll(async () => {
    idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    ws = await policyWorkspace();
    dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-console-static-'));
    app = await startApp(config());
  });

  afterAll(async () => {
    await app?.close();
    await idp?.stop();
    await ws?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  describe('static console', () => {
    let spa: string;

    beforeAll(async () => {
      // The SPA directory sits inside `dir`, next to a file a traversal would reach.
      spa = path.join(dir, 'spa');
      await mkdir(spa, { recursive: true });
      await writeFile(path.join(spa, 'index.html'), '<!doctype html><title>console</title><script type="module" src="/console/app.js"></script>');
      await writeFile(path.join(spa, 'app.js'), 'console.log("console");');
      await writeFile(path.join(dir, 'outside.txt'), 'outside the root');
      app.app.get(ConsoleStatic).root = spa;
    });

    afterAll(() => rm(spa, { recursive: true, force: true }));

    it('serves index.html with a strict CSP and no inline script allowance', async () => {
      const r = await app.get('/console/');
      expect(r.status).toBe(200);
      expect(r.text).toContain('<title>console</title>');
      expect(r.headers.get('content-type')).toMatch(/^text\/html/);
      const csp = r.headers.get('content-security-policy')!;
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain(`connect-src 'self' ${idp.issuer}`);
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).not.toContain('unsafe-eval');
      expect(r.headers.get('x-content-type-options')).toBe('nosniff');
      expect(r.headers.get('referrer-policy')).toBe('no-referrer');
      expect(r.headers.get('cache-control')).toBe('no-store');
    });

    it('serves assets, falls back to index.html for client routes, 404s missing assets and traversal', async () => {
      const js = await app.get('/console/app.js');
      expect(js.status).toBe(200);
      expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
      expect(js.headers.get('content-security-policy')).toContain("default-src 'none'");
      const route = await app.get('/console/decisions/abc');
      expect(route.status).toBe(200);
      expect(route.text).toContain('<title>console</title>');
      const missing = await app.get('/console/missing.js');
      expect(missing.status).toBe(404);
      expect(missing.body).toMatchObject({ code: 'not_found' });
      expect(missing.headers.get('content-security-policy')).toContain("default-src 'none'");
      for (const p of ['/console/..%2foutside.txt', '/console/%2e%2e/outside.txt', '/console/%2e%2e%2foutside.txt', '/console/..%5coutside.txt', '/console/.%2e/outside.txt', '/console/x/..%2f..%2foutside.txt']) {
        const t = await app.get(p);
        expect(t.text).not.toContain('outside the root');
        expect(t.status).toBe(404);
      }
      const bare = await fetch(`${app.url}/console`, { redirect: 'manual' });
      expect(bare.status).toBe(302);
      expect(bare.headers.get('location')).toBe('/console/');
    });

    it('answers 503 console_not_built when the SPA is missing', async () => {
      const empty = await mkdtemp(path.join(os.tmpdir(), 'toolgate-spa-empty-'));
      const s = app.app.get(ConsoleStatic);
      s.root = empty;
      try {
        const r = await app.get('/console/');
        expect(r.status).toBe(503);
        expect(r.body).toMatchObject({ code: 'console_not_built' });
      } finally {
        s.root = spa;
        await rm(empty, { recursive: true, force: true });
      }
    });

    it('config.json tells the browser how to sign in, without authentication', async () => {
      const r = await app.get('/console/config.json');
      expect(r.status).toBe(200);
      expect(r.body).toEqual({
        admin_audience: ADMIN_AUD,
        api_base: '/v1/admin',
        read_scope: 'toolgate:read',
        admin_scope: 'toolgate:admin',
        oauth: { issuer: idp.issuer, client_id: 'toolgate-console', scopes: ['openid', 'toolgate:read', 'toolgate:admin'], resource: ADMIN_AUD },
      });
      expect(r.headers.get('cache-control')).toBe('no-store');
    });

    it('documents the admin read API in OpenAPI', async () => {
      const doc = (await app.get('/openapi.json')).body as Json;
      for (const p of ['/v1/admin/whoami', '/v1/admin/overview', '/v1/admin/decisions', '/v1/admin/decisions/{id}', '/v1/admin/revisions', '/v1/admin/revisions/diff', '/v1/admin/revisions/{content_hash}/sources', '/v1/admin/shadow', '/v1/admin/reports', '/v1/admin/reports/{name}', '/console/config.json']) {
        expect(doc.paths[p]?.get).toBeDefined();
      }
      expect(doc.paths['/v1/admin/decisions'].get.responses['200'].content['application/json'].schema.properties.decisions.items.properties.subject).toBeDefined();
      expect(doc.paths['/v1/admin/decisions'].get.parameters.map((x: Json) => x.name)).toEqual(expect.arrayContaining(['since', 'tool', 'subject', 'before']));
    });
  });

  describe('config', () => {
    const base = () => ({ ...config(), listen: { host: '127.0.0.1', port: 0 } });
    it('refuses console.enabled without admin, an oauth issuer other than admin.issuer, and read_scope equal to scope', () => {
      const { admin: _admin, ...noAdmin } = base();
      expect(() => parseConfig(noAdmin)).toThrow(/console\.enabled: requires an `admin` section/);
      expect(() => parseConfig({ ...base(), console: { enabled: true, oauth: { issuer: 'http://127.0.0.1:1', client_id: 'c', scopes: [] } } })).toThrow(/console\.oauth\.issuer: must be admin\.issuer/);
      expect(() => parseConfig({ ...base(), admin: { issuer: idp.issuer, audience: ADMIN_AUD, read_scope: 'toolgate:admin' } })).toThrow(/admin\.read_scope/);
      const defaults = parseConfig({ ...noAdmin, console: undefined });
      expect(defaults.console).toMatchObject({ enabled: false, reports_dir: path.resolve('build/reports') });
      expect(parseConfig(base()).admin).toMatchObject({ scope: 'toolgate:admin', read_scope: 'toolgate:read' });
    });
  });

  describe('console disabled', () => {
    it('answers 404 under /console and for config.json; the admin API still answers', async () => {
      const off = await startApp(config({ console: { enabled: false } }));
      try {
        off.app.get(ConsoleStatic).root = dir;
        expect((await off.get('/console/')).status).toBe(404);
        expect((await off.get('/console/anything')).status).toBe(404);
        expect((await off.get('/console/config.json')).status).toBe(404);
        expect((await fetch(`${off.url}/console`, { redirect: 'manual' })).status).toBe(404);
        expect((await off.get('/v1/admin/whoami', { authorization: await adminToken('toolgate:read') })).status).toBe(200);
      } finally {
        await off.close();
      }
    });
  });
});
