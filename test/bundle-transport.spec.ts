import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runOpa } from '../src/policy-compiler/opa-cli.js';
import { readBundleArchive } from '../src/policy-compiler/bundle-archive.js';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { startApp, type RunningApp } from './support/app.js';
import { policyWorkspace, type PolicyWorkspace } from './support/policy-fixtures.js';
import { writeTarGz } from './support/tar.js';
import { waitFor } from './support/wait.js';

const RESOURCE = 'http://127.0.0.1:3999/mcp';

interface Status {
  active: { revision: string; content_hash: string } | null;
  last_failure: { at: string; step: string; code: string; message: string } | null;
  last_poll?: { result: string; etag: string | null };
  history: { revision: string; content_hash: string }[];
  warnings: string[];
}

/** A bundle server on 127.0.0.1 whose answer a test swaps; counts requests. */
class BundleServer {
  current: { body: Buffer; etag: string } | undefined;
  /** When set, every request is answered with this redirect instead. */
  redirectTo?: string;
  requests = 0;
  private server = http.createServer((req, res) => {
    this.requests++;
    if (this.redirectTo) {
      res.writeHead(302, { location: this.redirectTo }).end();
      return;
    }
    const c = this.current;
    if (!c) {
      res.writeHead(404).end();
      return;
    }
    if (req.headers['if-none-match'] === c.etag) {
      res.writeHead(304).end();
      return;
    }
    res.writeHead(200, { etag: c.etag, 'content-type': 'application/gzip' }).end(c.body);
  });

  async start(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/bundles/toolgate.tar.gz`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

describe('bundle identity and transport', () => {
  let ws: PolicyWorkspace;
  let idp: TestIssuer;
  let signing: Record<string, unknown>;
  let token: string;

  /** `opa build` exactly as CI would without --revision: the manifest revision is empty ("unversioned"). */
  const buildUnversioned = async (name: string): Promise<Buffer> => {
    const out = path.join(ws.dir, `${name}.tar.gz`);
    const claims = path.join(ws.dir, 'claims.json');
    await writeFile(claims, JSON.stringify({ keyid: 'ci', scope: 'toolgate' }));
    const run = await runOpa(['build', '-t', 'wasm', '-b', '.', '-o', out, '--signing-key', path.join(ws.dir, 'ci.pem'), '--claims-file', claims], { cwd: ws.policies });
    expect(run).toMatchObject({ code: 0 });
    const archive = await readFile(out);
    expect(JSON.parse(readBundleArchive(archive).get('/.manifest')!.toString()).revision).toBe('');
    return archive;
  };
  const setSupportLimit = async (limit: number) => {
    const file = path.join(ws.policies, 'catalog', 'data.json');
    const text = await readFile(file, 'utf8');
    await writeFile(file, text.replace(/"support_agent": \d+/, `"support_agent": ${limit}`));
  };
  const refund = (app: RunningApp, amount: number) =>
    app.post('/v1/decisions', { token, server: 'demo', tool: { name: 'refunds.create', arguments: { order_id: 'o', amount, currency: 'USD' } } });

  beforeAll(async () => {
    ws = await policyWorkspace();
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await ws.write('ci.pem', privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    await ws.write('ci.pub.pem', publicKey.export({ type: 'spki', format: 'pem' }) as string);
    signing = { keys: [{ keyid: 'ci', algorithm: 'RS256', key_file: path.join(ws.dir, 'ci.pub.pem') }], scope: 'toolgate' };
    idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    token = await idp.sign({ sub: 'alice', roles: ['support_agent'], scope: 'refunds:write', aud: RESOURCE, exp: Math.floor(Date.now() / 1000) + 3600 });
  });

  afterAll(async () => {
    await idp?.stop();
    await ws?.cleanup();
  });

  const startWith = (url: string, bundle: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) =>
    startApp({
      ...extra,
      policy: { mode: 'bundle', bundle: { url, poll_interval_s: 1, timeout_ms: 2000, signing, ...bundle } },
      issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
      servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer] }],
    });

  it('a new bundle with a repeated revision label ("unversioned") is activated; the same content again is a no-op', async () => {
    await setSupportLimit(100);
    const small = await buildUnversioned('small');
    await setSupportLimit(1000);
    const large = await buildUnversioned('large');
    const largeAgain = await buildUnversioned('large-again');
    const server = new BundleServer();
    const url = await server.start();
    server.current = { body: small, etag: '"small"' };
    const logFile = path.join(ws.dir, 'logs', 'identity.jsonl');
    const app = await startWith(url, {}, { decision_logs: { file: { path: logFile } } });
    const status = async () => (await app.get('/v1/status')).body as Status;
    const logged = (id: unknown) =>
      waitFor(async () => {
        const lines = (await readFile(logFile, 'utf8').catch(() => '')).split('\n').filter(Boolean);
        return lines.map((l) => JSON.parse(l) as { decision_id: string; bundles: { toolgate: { revision: string; content_hash: string } } }).find((e) => e.decision_id === id);
      }, 10_000, 'the decision log line');
    try {
      const first = await status();
      expect(first.active).toMatchObject({ revision: 'unversioned' });
      const denied = await refund(app, 500);
      expect(denied.body).toMatchObject({ allow: false, code: 'policy_denied', revision: 'unversioned' });

      // Same label, new content: decisions must come from the new bundle.
      server.current = { body: large, etag: '"large"' };
      const allowed = await waitFor(async () => {
        const r = await refund(app, 500);
        return r.body.allow === true && r;
      }, 10_000, 'a decision from the second unversioned bundle');
      expect(allowed.body).toMatchObject({ revision: 'unversioned' });
      const second = await status();
      expect(second.active!.revision).toBe('unversioned');
      expect(second.last_failure).toBeNull();
      expect(first.active!.content_hash).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(second.active!.content_hash).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(second.active!.content_hash).not.toBe(first.active!.content_hash);
      expect(second.history.map((h) => h.content_hash)).toEqual([second.active!.content_hash, first.active!.content_hash]);
      expect((await logged(denied.body.decision_id)).bundles.toolgate).toEqual({ revision: 'unversioned', content_hash: first.active!.content_hash });
      expect((await logged(allowed.body.decision_id)).bundles.toolgate).toEqual({ revision: 'unversioned', content_hash: second.active!.content_hash });

      // Rebuilt from the same sources: same files, so nothing is swapped.
      server.current = { body: largeAgain, etag: '"large-again"' };
      await waitFor(async () => (await status()).last_poll?.etag === '"large-again"', 10_000, 'the re-delivery to be seen');
      const third = await status();
      expect(third.active!.content_hash).toBe(second.active!.content_hash);
      expect(third.history).toHaveLength(2);
    } finally {
      await app.close();
      await server.stop();
    }
  });

  it('a tampered bundle under a repeated label is refused, stays in last_failure and is retried (the ETag does not advance)', async () => {
    await setSupportLimit(100);
    const good = await buildUnversioned('good');
    const files = readBundleArchive(good);
    files.set('/data.json', Buffer.from(files.get('/data.json')!.toString().replace('"support_agent":100', '"support_agent":100000')));
    const server = new BundleServer();
    const url = await server.start();
    server.current = { body: good, etag: '"good"' };
    const app = await startWith(url);
    const status = async () => (await app.get('/v1/status')).body as Status;
    try {
      const hash = (await status()).active!.content_hash;
      server.current = { body: writeTarGz(files), etag: '"evil"' };
      const f = await waitFor(async () => (await status()).last_failure, 10_000, 'the verification failure');
      expect(f).toMatchObject({ step: 'verify', code: 'bundle_signature_invalid' });
      const seen = server.requests;
      await waitFor(() => server.requests >= seen + 2, 10_000, 'two more polls');
      const s = await status();
      expect(s.last_failure).toMatchObject({ step: 'verify' });
      expect(s.last_poll?.etag).toBe('"good"');
      expect(s.active!.content_hash).toBe(hash);
      expect((await refund(app, 500)).body).toMatchObject({ allow: false, code: 'policy_denied' });

      // The server goes back to the active content: a verified no-op that ends the failure, with no new history entry.
      server.current = { body: good, etag: '"good-again"' };
      const back = await waitFor(async () => {
        const st = await status();
        return st.last_poll?.etag === '"good-again"' && st;
      }, 10_000, 'the good bundle again');
      expect(back.last_failure).toBeNull();
      expect(back.history.map((h) => h.content_hash)).toEqual([hash]);
    } finally {
      await app.close();
      await server.stop();
    }
  });

  it('a redirect from the bundle URL is refused, even to another loopback server', async () => {
    await setSupportLimit(100);
    const target = new BundleServer();
    target.current = { body: await buildUnversioned('target'), etag: '"t"' };
    const targetUrl = await target.start();
    const redirector = new BundleServer();
    redirector.redirectTo = targetUrl;
    const url = await redirector.start();
    const app = await startWith(url);
    try {
      const s = (await app.get('/v1/status')).body as Status;
      expect(s.active).toBeNull();
      expect(s.last_failure).toMatchObject({ step: 'fetch', code: 'bundle_fetch_redirect', message: expect.stringContaining(targetUrl) });
      expect(redirector.requests).toBeGreaterThanOrEqual(1);
      expect(target.requests).toBe(0);
      expect((await app.get('/readyz')).status).toBe(503);
    } finally {
      await app.close();
      await redirector.stop();
      await target.stop();
    }
  });

  it('allow_unsigned loads an unsigned URL bundle, and says so in /v1/status', async () => {
    await setSupportLimit(100);
    const signed = readBundleArchive(await buildUnversioned('plain'));
    signed.delete('/.signatures.json');
    const server = new BundleServer();
    const url = await server.start();
    server.current = { body: writeTarGz(signed), etag: '"p"' };
    const app = await startWith(url, { signing: undefined, allow_unsigned: true });
    try {
      const s = (await app.get('/v1/status')).body as Status;
      expect(s.active).toMatchObject({ revision: 'unversioned' });
      expect(s.warnings).toEqual([expect.stringMatching(/allow_unsigned.*WITHOUT a signature check/)]);
    } finally {
      await app.close();
      await server.stop();
    }
  });
});
