import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { connectionCaps, parseHostHeader, readNofileSoftLimit } from '../src/common/http-edge.js';
import { HttpConfig } from '../src/config/config.schema.js';
import { parseConfig } from '../src/config/load-config.js';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { startApp, type RunningApp } from './support/app.js';
import { ROOT } from './support/policy-fixtures.js';

// Issue #24 items 5 and 9: the HTTP edge, over real sockets on loopback. Raw sockets send the
// Host, Content-Type and trickled bodies a browser page or an attacker would, byte for byte.
const RESOURCE = 'http://127.0.0.1:3999/mcp';
const PUBLIC = 'https://mcp.example.com/public-mcp';
const ADMIN_AUD = 'https://toolgate.admin';
const CALLER_AUD = 'https://toolgate.internal';
const support = { sub: 'alice', roles: ['support_agent'], scope: 'refunds:write invoices:read', aud: RESOURCE };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface RawAnswer {
  status: number;
  head: string;
  body: string;
}

/** Sends `text` on a fresh connection and reads the answer until the server closes it (every request here says Connection: close). */
function raw(port: number, text: string | Buffer, timeoutMs = 5000): Promise<RawAnswer | 'no answer'> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      resolve('no answer');
    }, timeoutMs);
    s.on('data', (d) => chunks.push(d));
    s.on('error', reject);
    s.on('close', () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks).toString('utf8');
      const [head, body = ''] = all.split('\r\n\r\n', 2);
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0), head, body });
    });
    s.write(text);
  });
}

/** A request with these headers (host: null leaves Host out). */
function request(method: string, target: string, headers: Record<string, string | null>, body = '', version = '1.1'): string {
  const lines = [`${method} ${target} HTTP/${version}`];
  for (const [k, v] of Object.entries({ connection: 'close', ...headers })) if (v !== null) lines.push(`${k}: ${v}`);
  if (body) lines.push(`content-length: ${Buffer.byteLength(body)}`);
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

const code = (a: RawAnswer | 'no answer') => (a === 'no answer' ? a : (JSON.parse(a.body || '{}') as { code?: string }).code);

describe('HTTP edge: media type, Host and Origin (DNS rebinding)', () => {
  let idp: TestIssuer;
  let dir: string;
  let app: RunningApp;
  let port: number;
  let token: string;

  beforeAll(async () => {
    idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-edge-'));
    app = await startApp({
      policy: { source: { policies: path.join(ROOT, 'policies'), tests: path.join(ROOT, 'rego-tests'), out: path.join(dir, 'build'), test_gate: false, watch: false } },
      issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
      servers: [
        { id: 'demo', resource: RESOURCE, issuers: [idp.issuer], scopes_supported: ['refunds:write', 'invoices:read'] },
        { id: 'public', resource: PUBLIC, issuers: [idp.issuer] },
      ],
      revocation: { file: path.join(dir, 'revocations.json') },
      admin: { issuer: idp.issuer, audience: ADMIN_AUD },
      console: { enabled: true },
      http: { allowed_hosts: ['toolgate.internal:8443'], allowed_origins: ['https://ops.example'] },
    });
    port = Number(new URL(app.url).port);
    token = await idp.sign(support);
  });

  afterAll(async () => {
    await app?.close();
    await idp?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const authenticate = (contentType: string | null, body: string) =>
    raw(port, request('POST', '/v1/decisions/authenticate', { host: `127.0.0.1:${port}`, 'content-type': contentType }, body));

  it('decides only application/json bodies (parameters and case allowed); a form or text/plain body is 415 unsupported_media_type', async () => {
    const json = JSON.stringify({ token, server: 'demo' });
    for (const ct of ['application/json', 'application/json; charset=utf-8', 'Application/JSON ; charset="UTF-8"']) {
      const a = await authenticate(ct, json);
      expect([ct, a !== 'no answer' && a.status, a !== 'no answer' && JSON.parse(a.body).allow]).toEqual([ct, 200, true]);
    }
    // What a cross-site <form> can send: urlencoded, text/plain (with a JSON-looking body), multipart.
    const refused: Array<[string | null, string]> = [
      ['application/x-www-form-urlencoded', new URLSearchParams({ token, server: 'demo' }).toString()],
      ['text/plain', json],
      ['text/plain; charset=utf-8', json],
      ['multipart/form-data; boundary=x', `--x\r\ncontent-disposition: form-data; name="token"\r\n\r\n${token}\r\n--x--\r\n`],
      ['application/jsonp', json],
      ['application/json-seq', json],
      ['text/json', json],
      [null, json],
    ];
    for (const [ct, body] of refused) {
      const a = await authenticate(ct, body);
      expect([ct, a !== 'no answer' && a.status, code(a)]).toEqual([ct, 415, 'unsupported_media_type']);
    }
    // The admin API (Nest controllers) too.
    const admin = await raw(port, request('POST', '/v1/revocations', { host: `localhost:${port}`, 'content-type': 'application/x-www-form-urlencoded' }, 'kind=sub&value=x'));
    expect(admin !== 'no answer' && [admin.status, code(admin)]).toEqual([415, 'unsupported_media_type']);
  });

  const get = (target: string, headers: Record<string, string | null>, version?: string) => raw(port, request('GET', target, headers, '', version));

  it('answers every Host that names toolgate: loopback names at its port, in any case, with a trailing dot, IPv6 in any spelling, configured public names', async () => {
    const allowed = [
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      `LOCALHOST:${port}`,
      `localhost.:${port}`,
      `[::1]:${port}`,
      `[0:0:0:0:0:0:0:1]:${port}`,
      'mcp.example.com', // a server's public resource URL (default port)
      'mcp.example.com:443',
      'MCP.Example.COM.',
      '127.0.0.1:3999', // the demo server's resource URL
      'toolgate.internal:8443', // http.allowed_hosts
    ];
    for (const host of allowed) {
      const a = await get('/v1/status', { host });
      expect([host, a !== 'no answer' && a.status]).toEqual([host, 200]);
    }
  });

  it('refuses with 403 host_forbidden a Host that does not name toolgate, on every route, and never trusts X-Forwarded-Host', async () => {
    const forbidden = [
      `evil.example:${port}`,
      'evil.example',
      `localhost:${port + 1}`,
      'localhost', // port 80 is not toolgate's port
      `localhost:0${port}`,
      `localhost:${port}0`,
      'localhost:',
      `127.0.0.1.evil.example:${port}`,
      `localhost.evil.example:${port}`,
      `localhost..:${port}`,
      `user@localhost:${port}`,
      `localhost:${port}/x`,
      `[::2]:${port}`,
      `[::1:${port}`,
      'mcp.example.com:80', // the public URL is https: 443 or no port
      'toolgate.internal', // allowed only at 8443
      `LOCALHOST:${port} x`,
      '',
    ];
    for (const host of forbidden) {
      const a = await get('/v1/status', { host });
      expect([host, a !== 'no answer' && a.status, code(a)]).toEqual([host, 403, 'host_forbidden']);
    }
    const routes = ['/healthz', '/readyz', '/metrics', '/v1/status', '/openapi.json', '/console/', '/console/config.json', '/.well-known/oauth-protected-resource/mcp', '/v1/admin/whoami', '/no-such-route'];
    for (const r of routes) {
      const bad = await get(r, { host: `rebound.evil.example:${port}` });
      expect([r, bad !== 'no answer' && bad.status, code(bad)]).toEqual([r, 403, 'host_forbidden']);
      const ok = await get(r, { host: `localhost:${port}` });
      expect([r, ok !== 'no answer' && ok.status !== 403]).toEqual([r, true]);
    }
    const post = await raw(port, request('POST', '/v1/decisions', { host: `rebound.evil.example:${port}`, 'content-type': 'application/json' }, JSON.stringify({ token, server: 'demo', tool: { name: 'invoices.read', arguments: {} } })));
    expect(post !== 'no answer' && [post.status, code(post)]).toEqual([403, 'host_forbidden']);
    const xfh = await get('/v1/status', { host: `evil.example:${port}`, 'x-forwarded-host': `localhost:${port}` });
    expect(xfh !== 'no answer' && [xfh.status, code(xfh)]).toEqual([403, 'host_forbidden']);
    const xfhOk = await get('/v1/status', { host: `localhost:${port}`, 'x-forwarded-host': 'evil.example' });
    expect(xfhOk !== 'no answer' && xfhOk.status).toBe(200);
  });

  it('HTTP/1.1 without Host is 400 (node:http); HTTP/1.0 without Host, which no browser sends, is answered', async () => {
    const h11 = await get('/v1/status', { host: null });
    expect(h11 !== 'no answer' && h11.status).toBe(400);
    const h10 = await get('/v1/status', { host: null }, '1.0');
    expect(h10 !== 'no answer' && h10.status).toBe(200);
  });

  it("refuses with 403 origin_forbidden an Origin that is not toolgate's own or configured; the console's origin and loopback origins are allowed", async () => {
    const decision = (origin: string) =>
      raw(port, request('POST', '/v1/decisions', { host: `127.0.0.1:${port}`, origin, 'content-type': 'application/json' }, JSON.stringify({ token, server: 'demo', tool: { name: 'invoices.read', arguments: { invoice_id: 'i-1' } } })));
    for (const origin of [`http://127.0.0.1:${port}`, `http://localhost:${port}`, `http://[::1]:${port}`, 'https://ops.example', 'https://mcp.example.com']) {
      const a = await decision(origin);
      expect([origin, a !== 'no answer' && a.status]).toEqual([origin, 200]);
    }
    for (const origin of ['https://evil.example', 'null', `http://localhost:${port + 1}`, `http://localhost:${port}.evil.example`, `http://evil.example:${port}`, `file://localhost:${port}`, `http://127.0.0.1:${port}/console/`, 'https://ops.example.evil']) {
      const a = await decision(origin);
      expect([origin, a !== 'no answer' && a.status, code(a)]).toEqual([origin, 403, 'origin_forbidden']);
      const s = await get('/metrics', { host: `localhost:${port}`, origin });
      expect([origin, s !== 'no answer' && s.status, code(s)]).toEqual([origin, 403, 'origin_forbidden']);
    }
  });

  it('parses Host values strictly', () => {
    expect(parseHostHeader('LocalHost.:8181')).toEqual({ name: 'localhost', port: 8181 });
    expect(parseHostHeader('[0::1]')).toEqual({ name: '[::1]', port: undefined });
    expect(parseHostHeader('0x7f.1:80')).toEqual({ name: '127.0.0.1', port: 80 });
    for (const bad of ['a:65536', 'a:0', 'a b', 'a@b', 'a/b', '[::1', 'a:', ':80', '..', 'a..']) expect([bad, parseHostHeader(bad)]).toEqual([bad, undefined]);
  });

  it('refuses a configured allowed host or origin that is not one', () => {
    const base = { servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer] }], issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri }] };
    expect(() => parseConfig({ ...base, http: { allowed_hosts: ['evil.example/x'] } })).toThrow(/http\.allowed_hosts\[0\]/);
    expect(() => parseConfig({ ...base, http: { allowed_origins: ['https://ops.example/console'] } })).toThrow(/http\.allowed_origins\[0\]/);
  });
});

/** A socket from `localAddress` that sends a POST's headers and then one body byte every `everyMs`; records what happened to it. */
function trickle(port: number, localAddress: string, everyMs: number) {
  const s = net.connect({ port, host: '127.0.0.1', localAddress });
  const state = { opened: Date.now(), closedAt: 0, data: '' };
  let timer: NodeJS.Timeout | undefined;
  s.on('connect', () => {
    s.write(request('POST', '/v1/decisions', { host: `127.0.0.1:${port}`, 'content-type': 'application/json', 'content-length': '100000' }) + '{');
    timer = setInterval(() => s.write(' '), everyMs);
  });
  s.on('data', (d) => (state.data += d.toString('latin1')));
  s.on('error', () => {});
  s.on('close', () => {
    clearInterval(timer);
    state.closedAt = Date.now();
  });
  return { state, destroy: () => s.destroy() };
}

describe('HTTP edge: timeouts and connection caps under trickled bodies', () => {
  let idp: TestIssuer;
  let dir: string;
  let app: RunningApp;
  let port: number;
  let token: string;
  const HEADERS_MS = 500;
  const BODY_MS = 1500;

  beforeAll(async () => {
    idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-edge-caps-'));
    app = await startApp({
      policy: { source: { policies: path.join(ROOT, 'policies'), tests: path.join(ROOT, 'rego-tests'), out: path.join(dir, 'build'), test_gate: false, watch: false } },
      issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
      servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer], scopes_supported: ['refunds:write', 'invoices:read'] }],
      revocation: { file: path.join(dir, 'revocations.json') },
      http: { headers_timeout_ms: HEADERS_MS, body_timeout_ms: BODY_MS, idle_timeout_ms: 5000, max_connections: 100, max_connections_per_source: 20 },
    });
    port = Number(new URL(app.url).port);
    token = await idp.sign(support);
  });

  afterAll(async () => {
    await app?.close();
    await idp?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const decide = (agent?: http.Agent) =>
    new Promise<{ status: number; allow?: boolean }>((resolve, reject) => {
      const body = JSON.stringify({ token, server: 'demo', tool: { name: 'invoices.read', arguments: { invoice_id: 'i-1' } } });
      const req = http.request({ host: '127.0.0.1', port, path: '/v1/decisions', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, allow: (JSON.parse(text) as { allow?: boolean }).allow }));
      });
      req.setTimeout(5000, () => req.destroy(new Error('decision timed out')));
      req.on('error', reject);
      req.end(body);
    });

  it('200 connections trickling bodies from one address: 20 are held, the rest closed at once, a decision from another address is answered, and the held ones get 408 at the body deadline', async () => {
    const t = Array.from({ length: 200 }, () => trickle(port, '127.0.0.2', 200));
    try {
      await sleep(300);
      const refusedAtOnce = t.filter((x) => x.state.closedAt > 0 && x.state.data === '').length;
      expect(refusedAtOnce).toBeGreaterThanOrEqual(180);
      const held = t.filter((x) => x.state.closedAt === 0);
      expect(held.length).toBeGreaterThan(0);
      expect(held.length).toBeLessThanOrEqual(20);
      // A legitimate caller (127.0.0.1) is answered while the held ones still trickle.
      const d = await decide();
      expect(d).toEqual({ status: 200, allow: true });
      expect(t.filter((x) => x.state.closedAt === 0).length).toBe(held.length);
      // Headers time + body time from the first byte, plus node's sweep (≤ 1 s) and slack for a loaded machine.
      const deadline = Date.now() + HEADERS_MS + BODY_MS + 3000;
      while (Date.now() < deadline && t.some((x) => x.state.closedAt === 0)) await sleep(50);
      expect(t.filter((x) => x.state.closedAt === 0).length).toBe(0);
      for (const x of held) expect(x.state.data.slice(0, 12)).toBe('HTTP/1.1 408');
    } finally {
      for (const x of t) x.destroy();
    }
  });

  it('200 connections from ten addresses: at most max_connections are held, and a keep-alive caller connected before keeps being answered', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      expect(await decide(agent)).toEqual({ status: 200, allow: true });
      const t = Array.from({ length: 200 }, (_, i) => trickle(port, `127.0.0.${2 + (i % 10)}`, 200));
      try {
        await sleep(400);
        const held = t.filter((x) => x.state.closedAt === 0).length;
        expect(held).toBeGreaterThan(0);
        // 100 in total, one of them the keep-alive caller's.
        expect(held).toBeLessThanOrEqual(99);
        for (let i = 0; i < 3; i++) expect(await decide(agent)).toEqual({ status: 200, allow: true });
      } finally {
        for (const x of t) x.destroy();
      }
    } finally {
      agent.destroy();
    }
  });

  it('closes a connection whose headers never finish at headers_timeout_ms, with 408', async () => {
    const started = Date.now();
    const a = await raw(port, `POST /v1/decisions HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: appl`, HEADERS_MS + 3000);
    expect(a !== 'no answer' && a.status).toBe(408);
    expect(Date.now() - started).toBeGreaterThanOrEqual(HEADERS_MS - 50);
  });
});

describe('HTTP edge: idle keep-alive connections and callers authenticated before their body', () => {
  let idp: TestIssuer;
  let dir: string;
  let app: RunningApp;
  let port: number;

  beforeAll(async () => {
    idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-edge-auth-'));
    app = await startApp({
      policy: { source: { policies: path.join(ROOT, 'policies'), tests: path.join(ROOT, 'rego-tests'), out: path.join(dir, 'build'), test_gate: false, watch: false } },
      issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
      servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer], scopes_supported: ['refunds:write', 'invoices:read'] }],
      revocation: { file: path.join(dir, 'revocations.json') },
      callers: { auth: 'jwt', issuer: idp.issuer, audience: CALLER_AUD, scope: 'toolgate:decide' },
      http: { idle_timeout_ms: 500 },
    });
    port = Number(new URL(app.url).port);
  });

  afterAll(async () => {
    await app?.close();
    await idp?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const bigHeaders = (auth: string | null) =>
    request('POST', '/v1/decisions', { host: `127.0.0.1:${port}`, 'content-type': 'application/json', 'content-length': '1000000', authorization: auth });

  it('answers 401 to a caller without a valid token from its headers alone, without waiting for its 1 MB body, and closes the connection', async () => {
    for (const auth of [null, 'Bearer not-a-jwt', `Bearer ${await idp.sign({ sub: 'x', aud: 'https://elsewhere.example', scope: 'toolgate:decide' })}`]) {
      const a = await raw(port, bigHeaders(auth), 3000);
      expect([auth?.slice(0, 12), a !== 'no answer' && a.status, code(a)]).toEqual([auth?.slice(0, 12), 401, 'caller_unauthenticated']);
      expect(a !== 'no answer' && /connection: close/i.test(a.head)).toBe(true);
    }
  });

  it('reads the body of an authenticated caller and decides', async () => {
    const caller = `Bearer ${await idp.sign({ sub: 'mcp', aud: CALLER_AUD, scope: 'toolgate:decide' })}`;
    const body = JSON.stringify({ token: await idp.sign(support), server: 'demo', tool: { name: 'invoices.read', arguments: { invoice_id: 'i-1' } } });
    const a = await raw(port, request('POST', '/v1/decisions', { host: `127.0.0.1:${port}`, 'content-type': 'application/json', authorization: caller }, body));
    expect(a !== 'no answer' && [a.status, JSON.parse(a.body).allow]).toEqual([200, true]);
    // The same caller still waits for a body it announced: no answer before the body arrives.
    expect(await raw(port, bigHeaders(caller), 1000)).toBe('no answer');
  });

  it('closes a keep-alive connection idle for idle_timeout_ms', async () => {
    const s = net.connect({ port, host: '127.0.0.1' });
    const closed = new Promise<number>((r) => s.on('close', () => r(Date.now())));
    s.on('error', () => {});
    let answered = 0;
    s.on('data', () => (answered = answered || Date.now()));
    s.write(`GET /healthz HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n\r\n`);
    let giveUp: NodeJS.Timeout | undefined;
    const at = await Promise.race([closed, new Promise<number>((r) => (giveUp = setTimeout(() => r(0), 4000)))]);
    clearTimeout(giveUp);
    s.destroy();
    expect(answered).toBeGreaterThan(0);
    expect(at).toBeGreaterThan(0);
    expect(at - answered).toBeGreaterThanOrEqual(400);
  });
});

describe('HTTP edge: connection caps below the descriptor limit', () => {
  it('reads the soft RLIMIT_NOFILE as the shell reports it', () => {
    // Node raises its soft limit to the hard one when it starts.
    const shell = Number(execFileSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim());
    expect(readNofileSoftLimit()).toBe(shell);
    expect(readNofileSoftLimit('Limit  Soft Limit  Hard Limit  Units\nMax open files            1024                 524288               files\n')).toBe(1024);
    expect(readNofileSoftLimit('Max open files            unlimited            unlimited            files\n')).toBeUndefined();
  });

  it('keeps the total cap below the limit with headroom, whatever max_connections says', () => {
    const http = (o: Partial<HttpConfig>) => Object.assign(new HttpConfig(), o);
    expect(connectionCaps(http({}), 1024)).toEqual({ total: 921, perSource: 256 });
    expect(connectionCaps(http({ max_connections: 5000 }), 1024).total).toBe(921);
    expect(connectionCaps(http({ max_connections: 100, max_connections_per_source: 500 }), 1024)).toEqual({ total: 100, perSource: 100 });
    expect(connectionCaps(http({}), 100).total).toBe(36);
    // Unreadable (not Linux): the common default of 1024 is assumed.
    expect(connectionCaps(http({}), undefined).total).toBe(921);
  });

  it('a process started with a lower descriptor limit caps its connections below it', () => {
    const script = `const {connectionCaps,readNofileSoftLimit}=require(${JSON.stringify(path.join(ROOT, 'dist/common/http-edge.js'))});const {HttpConfig}=require(${JSON.stringify(path.join(ROOT, 'dist/config/config.schema.js'))});console.log(JSON.stringify(connectionCaps(new HttpConfig(), readNofileSoftLimit())))`;
    const out = execFileSync('sh', ['-c', `ulimit -n 300 && exec "${process.execPath}" -e '${script}'`], { encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ total: 236, perSource: 236 });
  });
});
