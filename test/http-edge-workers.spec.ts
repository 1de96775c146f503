import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { request, ToolgateProcess } from './support/cluster-process.js';
import { freePort } from './support/net.js';
import { policyWorkspace, type PolicyWorkspace } from './support/policy-fixtures.js';

// Issue #24 items 5 and 9 with `workers: 2`: every worker runs the HTTP edge; the connection caps are per process.
const RESOURCE = 'http://127.0.0.1:3999/mcp';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('HTTP edge with workers: 2', () => {
  let idp: TestIssuer;
  let ws: PolicyWorkspace;
  let tg: ToolgateProcess;
  let port: number;
  let token: string;

  beforeAll(async () => {
    idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    ws = await policyWorkspace();
    port = await freePort();
    const file = path.join(ws.dir, 'toolgate.json');
    await writeFile(
      file,
      JSON.stringify({
        listen: { host: '127.0.0.1', port },
        workers: 2,
        http: { headers_timeout_ms: 500, body_timeout_ms: 1000, max_connections_per_source: 5 },
        policy: { source: { policies: ws.policies, tests: ws.tests, out: ws.out, watch: false } },
        issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
        servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer], scopes_supported: ['refunds:write'] }],
        revocation: { file: path.join(ws.dir, 'revocations.json') },
      }),
    );
    tg = await ToolgateProcess.start(file, port);
    token = await idp.sign({ sub: 'fred', roles: ['finance'], scope: 'refunds:write', aud: RESOURCE, exp: Math.floor(Date.now() / 1000) + 3600 });
  }, 180_000);

  afterAll(async () => {
    await tg?.stop();
    await idp?.stop();
    await ws?.cleanup();
  });

  it('refuses a foreign Host and a non-JSON body in the workers; caps trickling connections per worker and closes them at the body deadline', async () => {
    const body = JSON.stringify({ token, server: 'demo', tool: { name: 'refunds.create', arguments: { order_id: 'o', amount: 50, currency: 'USD' } } });
    expect(await request(`${tg.url}/v1/decisions`, 'POST', JSON.parse(body))).toMatchObject({ status: 200, body: { allow: true } });
    expect(await request(`${tg.url}/v1/status`, 'GET', undefined, { host: `rebound.evil.example:${port}` })).toMatchObject({ status: 403, body: { code: 'host_forbidden' } });

    const form = await new Promise<number>((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1' });
      let text = '';
      s.on('data', (d) => (text += d.toString('latin1')));
      s.on('close', () => resolve(Number(text.slice(9, 12))));
      s.end(`POST /v1/decisions/authenticate HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nconnection: close\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 11\r\n\r\nserver=demo`);
    });
    expect(form).toBe(415);

    const sockets = Array.from({ length: 40 }, () => {
      const s = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' });
      const st = { closed: false, data: '' };
      s.on('connect', () => s.write(`POST /v1/decisions HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\ncontent-length: 10000\r\n\r\n{`));
      s.on('data', (d) => (st.data += d.toString('latin1')));
      s.on('error', () => {});
      s.on('close', () => (st.closed = true));
      return { s, st };
    });
    try {
      await sleep(400);
      const held = sockets.filter((x) => !x.st.closed);
      // Five per source in each of the two listening workers.
      expect(held.length).toBeGreaterThan(0);
      expect(held.length).toBeLessThanOrEqual(10);
      expect(await request(`${tg.url}/v1/decisions`, 'POST', JSON.parse(body))).toMatchObject({ status: 200, body: { allow: true } });
      const deadline = Date.now() + 500 + 1000 + 3000;
      while (Date.now() < deadline && sockets.some((x) => !x.st.closed)) await sleep(50);
      expect(sockets.filter((x) => !x.st.closed).length).toBe(0);
      for (const x of held) expect(x.st.data.slice(0, 12)).toBe('HTTP/1.1 408');
    } finally {
      for (const x of sockets) x.s.destroy();
    }
  }, 60_000);
});
