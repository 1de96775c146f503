import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { request, ToolgateProcess } from './support/cluster-process.js';
import { freePort } from './support/net.js';
import { policyWorkspace, type PolicyWorkspace } from './support/policy-fixtures.js';
import { waitFor } from './support/wait.js';

const RESOURCE = 'http://127.0.0.1:3999/mcp';
const ADMIN_AUD = 'https://toolgate.admin';

type Json = Record<string, any>;

/** `workers: 2`: each worker writes its own decision log; whichever worker answers the console sees them all. */
describe('console API with workers', () => {
  let idp: TestIssuer;
  let ws: PolicyWorkspace;
  let tg: ToolgateProcess;
  const ids: string[] = [];

  const read = async (p: string) => request(`${tg.url}${p}`, 'GET', undefined, { authorization: `Bearer ${await idp.sign({ sub: 'ops', aud: ADMIN_AUD, scope: 'toolgate:read' })}` });

  beforeAll(async () => {
    idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    ws = await policyWorkspace();
    const port = await freePort();
    const file = path.join(ws.dir, 'toolgate.json');
    await writeFile(
      file,
      JSON.stringify({
        listen: { host: '127.0.0.1', port },
        workers: 2,
        policy: { source: { policies: ws.policies, tests: ws.tests, out: ws.out, watch: false } },
        issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
        servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer], scopes_supported: ['refunds:write'] }],
        decision_logs: { file: { path: path.join(ws.dir, 'logs/decisions.jsonl') } },
        revocation: { file: path.join(ws.dir, 'revocations.json') },
        admin: { issuer: idp.issuer, audience: ADMIN_AUD },
      }),
    );
    tg = await ToolgateProcess.start(file, port);
    const token = await idp.sign({ sub: 'fred', roles: ['finance'], scope: 'refunds:write', aud: RESOURCE, exp: Math.floor(Date.now() / 1000) + 3600 });
    // A fresh connection per request: node:cluster hands them to the workers in turn.
    for (let i = 0; i < 8; i++) {
      const r = await request(`${tg.url}/v1/decisions`, 'POST', { token, server: 'demo', tool: { name: 'refunds.create', arguments: { order_id: `o-${i}`, amount: 50, currency: 'USD' } } });
      if ('status' in r) ids.push(String(r.body.decision_id));
    }
  }, 180_000);

  afterAll(async () => {
    await tg?.stop();
    await idp?.stop();
    await ws?.cleanup();
  });

  it("lists every worker's decisions from whichever worker answers, and keeps revision sources in the workers", async () => {
    expect(ids).toHaveLength(8);
    const logs = await waitFor(async () => {
      const names = (await readdir(path.join(ws.dir, 'logs')).catch(() => [] as string[])).filter((n) => /\.w\d+$/.test(n));
      return names.length >= 2 && names;
    }, 15_000, 'two worker log files').catch(async (e: Error) => {
      throw new Error(`${e.message}; logs: ${String(await readdir(path.join(ws.dir, 'logs')).catch(() => []))}; toolgate said: ${tg.log().slice(-3000)}`);
    });
    expect(logs.sort()).toEqual(['decisions.jsonl.w0', 'decisions.jsonl.w1']);
    // Ask several times (fresh connections reach both workers): every answer has all eight.
    for (let i = 0; i < 4; i++) {
      const page = await waitFor(async () => {
        const r = await read('/v1/admin/decisions?limit=200');
        const body = 'status' in r ? (r.body as Json) : undefined;
        return body && ids.every((id) => body.decisions?.some((d: Json) => d.decision_id === id)) && body;
      }, 15_000, 'all decisions').catch(async (e: Error) => {
        throw new Error(`${e.message}: ${JSON.stringify(await read('/v1/admin/decisions?limit=200')).slice(0, 2000)}`);
      });
      expect(page.source).toBe('file');
      const rates = await read('/v1/admin/overview');
      expect('status' in rates && (rates.body as Json).rates.buckets.reduce((n: number, b: Json) => n + b.allow, 0)).toBe(8);
    }
    const revisions = await read('/v1/admin/revisions');
    expect('status' in revisions && (revisions.body as Json).revisions[0]).toMatchObject({ has_sources: true });
  });
});
