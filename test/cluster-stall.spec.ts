import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { request, ToolgateProcess, type Outcome } from './support/cluster-process.js';
import { freePort } from './support/net.js';
import { policyWorkspace, ROOT, type PolicyWorkspace } from './support/policy-fixtures.js';
import { waitFor } from './support/wait.js';

const RESOURCE = 'http://127.0.0.1:3999/mcp';
const EVALUATION_MS = 300;
/** How long other callers keep deciding while one evaluation is stuck. */
const LOAD_MS = 1500;
/** A client that waits longer than this has been held: far above 50 ms, far below the 15 s clients give up at. */
const HELD_MS = 1000;

interface Timed {
  via: 'keep-alive' | 'new connection';
  ms: number;
  outcome: Outcome;
}

/**
 * Issue 24, item 3: with `workers: 2` and `limits.evaluation_ms: 300`, one stuck
 * evaluation must not hold anyone else: decisions over undici's keep-alive pool
 * (Node's global fetch) and over new connections keep being answered, and the stuck
 * request is refused (a deny, evaluation_timeout, http_status 503) soon after the limit, never left hanging.
 */
describe('workers: a stuck evaluation holds no other caller', () => {
  let idp: TestIssuer;
  let ws: PolicyWorkspace;
  let tg: ToolgateProcess;
  let token: string;
  const body = (extra: Record<string, unknown> = {}) => ({ token, server: 'demo', tool: { name: 'refunds.create', arguments: { order_id: 'o', amount: 50, currency: 'USD', ...extra } } });

  /** One decision over undici's default keep-alive pool (the global fetch); 5 s stands for "hung". */
  const viaFetch = async (): Promise<Outcome> => {
    try {
      const r = await fetch(`${tg.url}/v1/decisions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body()), signal: AbortSignal.timeout(5000) });
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    } catch (e) {
      return { error: `${(e as Error).message}: ${String((e as Error).cause)}` };
    }
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
        workers: 2,
        limits: { evaluation_ms: EVALUATION_MS },
        policy: { source: { policies: ws.policies, tests: ws.tests, out: ws.out, watch: false } },
        issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
        servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer], scopes_supported: ['refunds:write'] }],
        decision_logs: { file: { path: path.join(ws.dir, 'logs/decisions.jsonl') } },
        revocation: { file: path.join(ws.dir, 'revocations.json') },
      }),
    );
    tg = await ToolgateProcess.start(file, port);
    token = await idp.sign({ sub: 'fred', roles: ['finance'], scope: 'refunds:write', aud: RESOURCE, exp: Math.floor(Date.now() / 1000) + 3600 });
  }, 180_000);

  afterAll(async () => {
    if (process.env.TOOLGATE_TEST_LOG && tg) await writeFile(process.env.TOOLGATE_TEST_LOG, tg.log());
    await tg?.stop();
    await idp?.stop();
    await ws?.cleanup();
  });

  it('other callers, on keep-alive and new connections, are answered during the stall; the stuck request is refused (evaluation_timeout, 503) soon after the limit', async () => {
    // Both workers have verified and cached the token, and the pool holds open connections.
    for (let i = 0; i < 8; i++) {
      expect(await viaFetch()).toMatchObject({ status: 200, body: { allow: true } });
      expect(await request(`${tg.url}/v1/decisions`, 'POST', body())).toMatchObject({ status: 200, body: { allow: true } });
    }
    const timed: Timed[] = [];
    let running = true;
    const loop = async (via: Timed['via']) => {
      while (running) {
        const t = performance.now();
        const outcome = via === 'keep-alive' ? await viaFetch() : await request(`${tg.url}/v1/decisions`, 'POST', body());
        timed.push({ via, ms: performance.now() - t, outcome });
      }
    };
    const loops = [loop('keep-alive'), loop('keep-alive'), loop('keep-alive'), loop('new connection'), loop('new connection')];
    await new Promise((r) => setTimeout(r, 100));
    const t0 = performance.now();
    const stalled = request(`${tg.url}/v1/decisions`, 'POST', body({ stall: 200 })).then((outcome) => ({ outcome, ms: performance.now() - t0 }));
    await new Promise((r) => setTimeout(r, LOAD_MS));
    running = false;
    await Promise.all(loops);
    const stuck = await stalled;

    console.log(`stuck request: ${JSON.stringify(stuck.outcome).slice(0, 200)} after ${stuck.ms.toFixed(0)} ms`);
    // Every other caller was answered, correctly, and none was held.
    for (const via of ['keep-alive', 'new connection'] as const) {
      const mine = timed.filter((t) => t.via === via);
      expect(mine.length).toBeGreaterThan(5);
      const worst = Math.max(...mine.map((t) => t.ms));
      // Printed for the report (the box is shared); the bound asserted is the worst case.
      const failed = mine.filter((t) => !('status' in t.outcome) || t.outcome.status !== 200).length;
      console.log(`${via}: ${mine.length} decisions during the stall, ${failed} not answered 200, max ${worst.toFixed(1)} ms`);
      for (const t of mine) expect(t.outcome).toMatchObject({ status: 200, body: { allow: true } });
      expect(worst).toBeLessThan(HELD_MS);
    }
    // Refused, fail closed, with a code, soon after the limit: never an allow, never a hang.
    // The decision API answers 200 with the deny; http_status is what the MCP server answers its client.
    expect(stuck.outcome).toMatchObject({ status: 200, body: { allow: false, code: 'evaluation_timeout', http_status: 503 } });
    expect(stuck.ms).toBeLessThan(EVALUATION_MS + HELD_MS);
    // No process was lost: the evaluation thread was replaced, not the worker.
    expect(tg.log()).not.toMatch(/killing it/);
    expect(tg.log()).toMatch(/evaluation ran past limits\.evaluation_ms 300/);
    // The refusal is in the decision log, with the revision it was decided under.
    const logged = await waitFor(async () => {
      const files = await Promise.all([0, 1].map((s) => readFile(path.join(ws.dir, `logs/decisions.jsonl.w${s}`), 'utf8').catch(() => '')));
      const lines = files.join('\n').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { outcome?: { code?: string }; result?: { revision?: string } });
      return lines.find((l) => l.outcome?.code === 'evaluation_timeout');
    }, 15_000, 'the refused decision in the log');
    expect(logged).toBeTruthy();
    const m = await request(`${tg.url}/metrics`, 'GET');
    expect('status' in m && String(m.body.text)).toMatch(/toolgate_evaluation_timeouts_total 1/);
    // And the worker whose evaluation was stuck decides again.
    for (let i = 0; i < 4; i++) expect(await request(`${tg.url}/v1/decisions`, 'POST', body())).toMatchObject({ status: 200, body: { allow: true } });
  }, 120_000);
});
