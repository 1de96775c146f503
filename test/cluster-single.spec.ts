import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { request, ToolgateProcess } from './support/cluster-process.js';
import { freePort } from './support/net.js';
import { policyWorkspace, ROOT, type PolicyWorkspace } from './support/policy-fixtures.js';
import { waitFor } from './support/wait.js';

const RESOURCE = 'http://127.0.0.1:3999/mcp';

/** `workers: 1` with `limits.evaluation_ms`: one supervised worker (and its spare) behind a primary. */
describe('workers: 1 with a watchdog', () => {
  let idp: TestIssuer;
  let ws: PolicyWorkspace;
  let tg: ToolgateProcess;
  let token: string;

  const decide = (extra: Record<string, unknown> = {}) =>
    request(`${tg.url}/v1/decisions`, 'POST', { token, server: 'demo', tool: { name: 'refunds.create', arguments: { order_id: 'o', amount: 50, currency: 'USD', ...extra } } });
  const pid = async () => {
    const r = await request(`${tg.url}/v1/status`, 'GET');
    return 'status' in r && r.status === 200 ? (r.body.cluster as { pid: number }).pid : undefined;
  };

  beforeAll(async () => {
    idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    ws = await policyWorkspace();
    await ws.write('policies/mcp/authz/stall.rego', await readFile(path.join(ROOT, 'test/fixtures/cluster/stall.rego'), 'utf8'));
    const port = await freePort();
    const file = path.join(ws.dir, 'toolgate.json');
    await writeFile(
      file,
      JSON.stringify({
        listen: { host: '127.0.0.1', port },
        limits: { evaluation_ms: 500 },
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

  it('a stuck evaluation is refused (evaluation_timeout) without losing the worker; a stopped worker is killed and decisions resume in a new process', async () => {
    const before = await pid();
    expect(before).toEqual(expect.any(Number));
    expect(await decide()).toMatchObject({ status: 200, body: { allow: true } });
    // The evaluation runs on a thread of its own: it is stopped at the limit and the request refused, fail closed.
    expect(await decide({ stall: 200 })).toMatchObject({ status: 200, body: { allow: false, code: 'evaluation_timeout', http_status: 503 } });
    expect(await pid()).toBe(before);
    expect(await decide()).toMatchObject({ status: 200, body: { allow: true } });
    // A worker whose event loop stops (SIGSTOP here) is still killed by the primary's watchdog.
    process.kill(before!, 'SIGSTOP');
    const after = await waitFor(async () => {
      const p = await pid();
      return p !== undefined && p !== before && p;
    }, 60_000, 'a new worker');
    expect(after).not.toBe(before);
    const r = await waitFor(async () => {
      const d = await decide();
      if ('status' in d && d.status === 503) return false;
      return d;
    }, 60_000, 'decisions again');
    expect(r).toMatchObject({ status: 200, body: { allow: true } });
    expect(tg.log()).toMatch(/limits\.evaluation_ms 500\); killing it/);
  }, 120_000);
});
