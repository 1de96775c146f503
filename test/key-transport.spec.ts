import http from 'node:http';
import { jest } from '@jest/globals';
import type { AddressInfo } from 'node:net';
import { parseConfig } from '../src/config/load-config.js';
import { TokenVerifier } from '../src/token/token-verifier.js';
import { makeKey, TestIssuer } from './support/auth-server.js';

const RESOURCE = 'http://127.0.0.1:3999/mcp';
const claims = { sub: 'alice', aud: RESOURCE, scope: 'x' };
const SIGNING = { keys: [{ keyid: 'ci', algorithm: 'RS256', key: '-----BEGIN PUBLIC KEY-----' }] };

/** A JWKS / metadata server on 127.0.0.1 that a test can take down or make misbehave; counts every request per path. */
class KeyServer {
  down = false;
  hits = new Map<string, number>();
  closed = 0;
  routes = new Map<string, (req: http.IncomingMessage, res: http.ServerResponse) => void>();
  url = '';
  private server = http.createServer((req, res) => {
    this.hits.set(req.url!, (this.hits.get(req.url!) ?? 0) + 1);
    req.socket.on('close', () => this.closed++);
    if (this.down) {
      res.writeHead(503).end();
      return;
    }
    const route = this.routes.get(req.url!);
    if (route) route(req, res);
    else res.writeHead(404).end();
  });

  static async start(): Promise<KeyServer> {
    const s = new KeyServer();
    await new Promise<void>((r) => s.server.listen(0, '127.0.0.1', () => r()));
    s.url = `http://127.0.0.1:${(s.server.address() as AddressInfo).port}`;
    return s;
  }

  json(path: string, body: () => unknown): void {
    this.routes.set(path, (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body())));
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

function configWith(issuer: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return parseConfig({ issuers: [{ algorithms: ['ES256'], ...issuer }], servers: [{ id: 'demo', resource: RESOURCE, issuers: [issuer.issuer] }], ...extra });
}

describe('policy and keys travel over https only (config validation)', () => {
  const iss = 'https://auth.example';
  it.each([
    ['a remote http bundle URL', { jwks_uri: `${iss}/jwks` }, { policy: { mode: 'bundle', bundle: { url: 'http://bundles.example/b.tar.gz', signing: SIGNING } } }, /policy\.bundle\.url: http:\/\/bundles\.example\/b\.tar\.gz uses plain http to a remote host/],
    ['a remote http jwks_uri', { jwks_uri: 'http://auth.example/jwks' }, {}, /issuers\[0\]\.jwks_uri: .*plain http to a remote host/],
    ['discovery from a remote http issuer', { issuer: 'http://auth.example', discovery: true }, {}, /issuers\[0\]\.issuer: discovery fetches from the issuer URL, and .*plain http/],
    ['a host that only starts like localhost', { jwks_uri: 'http://localhost.evil.example/jwks' }, {}, /issuers\[0\]\.jwks_uri: .*plain http/],
    ['a host that only starts like 127.0.0.1', { jwks_uri: 'http://127.0.0.1.nip.io/jwks' }, {}, /issuers\[0\]\.jwks_uri: .*plain http/],
    ['an unsigned bundle URL', { jwks_uri: `${iss}/jwks` }, { policy: { mode: 'bundle', bundle: { url: 'https://bundles.example/b.tar.gz' } } }, /policy\.bundle\.signing: required for policy\.bundle\.url/],
  ])('refuses %s at boot, naming the key', (_name, issuer, extra, message) => {
    expect(() => configWith({ issuer: iss, ...issuer }, extra)).toThrow(message);
  });

  it.each([
    ['http://127.0.0.1:8080/jwks'],
    ['http://127.3.2.1/jwks'],
    ['http://localhost:9000/jwks'],
    ['http://[::1]:9000/jwks'],
    ['https://auth.example/jwks'],
  ])('accepts %s', (jwks) => {
    expect(configWith({ issuer: iss, jwks_uri: jwks }).issuers[0].jwks_uri).toBe(jwks);
  });

  it('accepts an unsigned bundle URL only with the explicit opt-out', () => {
    const c = configWith({ issuer: iss, jwks_uri: `${iss}/jwks` }, { policy: { mode: 'bundle', bundle: { url: 'https://bundles.example/b.tar.gz', allow_unsigned: true } } });
    expect(c.policy.bundle!.allow_unsigned).toBe(true);
  });
});

describe('JWKS fetching against a loopback server', () => {
  let idp: TestIssuer;
  let keys: KeyServer;

  beforeEach(async () => {
    idp = await TestIssuer.start([await makeKey('ES256', 'a')]);
    keys = await KeyServer.start();
    keys.json('/jwks', () => ({ keys: idp.keys.map((k) => k.publicJwk) }));
  });

  afterEach(async () => {
    await keys.stop();
    await idp.stop();
  });

  const verifierFor = (issuer: Record<string, unknown>, clock?: () => number) => {
    const config = configWith({ issuer: idp.issuer, jwks_uri: `${keys.url}/jwks`, ...issuer });
    return { verifier: new TokenVerifier(config.issuers, { maxTokenBytes: 16384, cacheEntries: 1000, clock }), server: config.servers[0] };
  };
  const fresh = (i: number) => idp.sign({ ...claims, jti: `t-${i}` });

  it('without keys, an outage costs one fetch per backoff step, not one per token', async () => {
    let now = Date.now();
    const { verifier, server } = verifierFor({ jwks_cooldown_s: 5 }, () => now);
    keys.down = true;
    for (let i = 0; i < 20; i++) {
      await expect(verifier.verify(await fresh(i), server)).rejects.toMatchObject({ code: 'issuer_unavailable' });
    }
    expect(keys.hits.get('/jwks')).toBe(1);
    now += 5_000; // first backoff (5 s) over: one more try, which fails and doubles it
    await expect(verifier.verify(await fresh(100), server)).rejects.toMatchObject({ code: 'issuer_unavailable' });
    now += 5_000;
    await expect(verifier.verify(await fresh(101), server)).rejects.toMatchObject({ code: 'issuer_unavailable', message: expect.stringMatching(/next attempt in 5 s/) });
    expect(keys.hits.get('/jwks')).toBe(2);
    now += 5_000;
    await expect(verifier.verify(await fresh(102), server)).rejects.toMatchObject({ code: 'issuer_unavailable' });
    expect(keys.hits.get('/jwks')).toBe(3);
    // Doubled again (20 s); a success ends the backoff.
    keys.down = false;
    now += 20_000;
    expect((await verifier.verify(await fresh(103), server)).claims.sub).toBe('alice');
    expect(keys.hits.get('/jwks')).toBe(4);
    for (let i = 200; i < 210; i++) await verifier.verify(await fresh(i), server);
    expect(keys.hits.get('/jwks')).toBe(4);
  });

  it('the backoff is capped at jwks_backoff_max_s', async () => {
    let now = Date.now();
    const { verifier, server } = verifierFor({ jwks_cooldown_s: 5, jwks_backoff_max_s: 8 }, () => now);
    keys.down = true;
    await expect(verifier.verify(await fresh(0), server)).rejects.toMatchObject({ code: 'issuer_unavailable' });
    now += 5_000;
    await expect(verifier.verify(await fresh(1), server)).rejects.toMatchObject({ code: 'issuer_unavailable' });
    expect(keys.hits.get('/jwks')).toBe(2);
    now += 8_000; // 10 s uncapped; capped at 8 s
    await expect(verifier.verify(await fresh(2), server)).rejects.toMatchObject({ code: 'issuer_unavailable' });
    expect(keys.hits.get('/jwks')).toBe(3);
  });

  describe('with the system clock moved (Date only; servers and sockets keep real timers)', () => {
    beforeEach(() => {
      jest.useFakeTimers({
        doNotFake: ['nextTick', 'setImmediate', 'clearImmediate', 'setInterval', 'clearInterval', 'setTimeout', 'clearTimeout', 'queueMicrotask', 'hrtime', 'performance'],
        now: Date.now(),
      });
    });
    afterEach(() => jest.useRealTimers());

    it('with cached keys, stale keys keep verifying during an outage and refetches back off', async () => {
      const { verifier, server } = verifierFor({ jwks_cooldown_s: 5, jwks_max_age_s: 60 });
      const move = (ms: number) => jest.setSystemTime(Date.now() + ms);
      await verifier.verify(await fresh(0), server);
      expect(keys.hits.get('/jwks')).toBe(1);
      keys.down = true;
      move(61_000);
      for (let i = 1; i <= 20; i++) {
        const v = await verifier.verify(await fresh(i), server);
        expect(v).toMatchObject({ cached: false, claims: { sub: 'alice' } });
      }
      expect(keys.hits.get('/jwks')).toBe(2);
      move(5_000);
      await verifier.verify(await fresh(21), server);
      expect(keys.hits.get('/jwks')).toBe(3);
      keys.down = false;
      move(10_000);
      await verifier.verify(await fresh(22), server);
      await verifier.verify(await fresh(23), server);
      expect(keys.hits.get('/jwks')).toBe(4);
    });
  });

  it('cuts off a JWKS body larger than jwks_max_bytes while it streams', async () => {
    keys.routes.set('/jwks', (_req, res) => {
      // No Content-Length, more than 1 MiB, and the body never ends: only a streaming cap stops this.
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(`{"keys":[],"pad":"${'x'.repeat(1536 * 1024)}`);
    });
    const { verifier, server } = verifierFor({ jwks_timeout_ms: 30_000 });
    await expect(verifier.verify(await fresh(0), server)).rejects.toMatchObject({
      code: 'issuer_unavailable',
      message: expect.stringMatching(/more than the limit of 1048576 bytes/),
    });
  });

  it('refuses a JWKS redirect, even to another loopback URL', async () => {
    keys.routes.set('/moved', (_req, res) => res.writeHead(302, { location: `${keys.url}/jwks` }).end());
    const { verifier, server } = verifierFor({ jwks_uri: `${keys.url}/moved` });
    await expect(verifier.verify(await fresh(0), server)).rejects.toMatchObject({ code: 'issuer_unavailable', message: expect.stringMatching(/redirect/) });
    expect(keys.hits.get('/jwks')).toBeUndefined();
  });

  it('refuses a discovered jwks_uri over plain http to a remote host', async () => {
    const issuer = keys.url;
    const meta = () => ({ issuer, jwks_uri: 'http://192.0.2.1/jwks' });
    keys.json('/.well-known/oauth-authorization-server', meta);
    keys.json('/.well-known/openid-configuration', meta);
    const config = configWith({ issuer, discovery: true, jwks_timeout_ms: 500 });
    const verifier = new TokenVerifier(config.issuers, { maxTokenBytes: 16384, cacheEntries: 10 });
    const token = await idp.sign({ ...claims, iss: issuer });
    await expect(verifier.verify(token, config.servers[0])).rejects.toMatchObject({
      code: 'issuer_unavailable',
      message: expect.stringMatching(/jwks_uri that is refused: .*plain http to a remote host/),
    });
  });

  it('refuses a redirected discovery document', async () => {
    const issuer = keys.url;
    keys.json('/real-metadata', () => ({ issuer, jwks_uri: `${keys.url}/jwks` }));
    const moved = (_req: http.IncomingMessage, res: http.ServerResponse) => res.writeHead(301, { location: `${keys.url}/real-metadata` }).end();
    keys.routes.set('/.well-known/oauth-authorization-server', moved);
    keys.routes.set('/.well-known/openid-configuration', moved);
    const config = configWith({ issuer, discovery: true });
    const verifier = new TokenVerifier(config.issuers, { maxTokenBytes: 16384, cacheEntries: 10 });
    await expect(verifier.verify(await idp.sign({ ...claims, iss: issuer }), config.servers[0])).rejects.toMatchObject({ code: 'issuer_unavailable' });
    expect(keys.hits.get('/real-metadata')).toBeUndefined();
    expect(keys.hits.get('/jwks')).toBeUndefined();
  });
});
