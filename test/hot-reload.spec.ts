import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { startApp, type RunningApp } from './support/app.js';
import { policyWorkspace, type PolicyWorkspace } from './support/policy-fixtures.js';
import { waitFor } from './support/wait.js';

const RESOURCE = 'http://127.0.0.1:3999/mcp';

interface Status {
  active: { revision: string } | null;
  last_failure: { at: string; step: string; code: string; message: string; problems: { file?: string; line?: number }[] } | null;
  history: { revision: string }[];
}

describe('source mode: hot reload gated by the Rego tests, last-known-good on failure', () => {
  let idp: TestIssuer;
  let ws: PolicyWorkspace;
  let app: RunningApp;
  let token: string;
  let catalog: string;

  const status = async () => (await app.get('/v1/status')).body as Status;
  const decide = async (amount: number) =>
    (await app.post('/v1/decisions', { token, server: 'demo', tool: { name: 'refunds.create', arguments: { order_id: 'o', amount, currency: 'USD' } } })).body;
  // The finance refund limit can move between 4000 and 5000 without breaking the Rego tests
  // (they refund 4000 as finance); 4500 is allowed under one and denied under the other.
  const setFinanceLimit = async (limit: number, supportLimit = 100) => {
    const data = JSON.parse(catalog);
    data.servers.demo.tools['refunds.create'].arguments.amount.max_by_role.finance = limit;
    data.servers.demo.tools['refunds.create'].arguments.amount.max_by_role.support_agent = supportLimit;
    await ws.write('policies/catalog/data.json', JSON.stringify(data, null, 2));
  };
  const activeRevision = async () => (await status()).active?.revision;

  beforeAll(async () => {
    idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    ws = await policyWorkspace();
    catalog = await readFile(path.join(ws.policies, 'catalog/data.json'), 'utf8');
    app = await startApp({
      policy: { source: { policies: ws.policies, tests: ws.tests, out: ws.out, debounce_ms: 50 } },
      issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
      servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer] }],
    });
    token = await idp.sign({ sub: 'fred', roles: ['finance'], scope: 'refunds:write', aud: RESOURCE, exp: Math.floor(Date.now() / 1000) + 3600 });
  });

  afterAll(async () => {
    await app?.close();
    await idp?.stop();
    await ws?.cleanup();
  });

  it('an edited rule goes live and the next decision changes', async () => {
    const r0 = await activeRevision();
    expect(await decide(4500)).toMatchObject({ allow: true, revision: r0 });
    await setFinanceLimit(4000);
    const r1 = await waitFor(async () => {
      const r = await activeRevision();
      return r !== r0 && r;
    });
    expect(await decide(4500)).toMatchObject({ allow: false, revision: r1, reasons: ['argument "amount" = 4500 exceeds the caller\'s limit of 4000'] });
    expect((await status()).history.map((h) => h.revision).slice(0, 2)).toEqual([r1, r0]);
  });

  const breakages: [string, () => Promise<void>, () => Promise<void>, (f: NonNullable<Status['last_failure']>) => void][] = [
    [
      'a syntax error',
      () => ws.write('policies/mcp/authz/broken.rego', 'package mcp.authz\n\n_x := {\n'),
      () => ws.remove('policies/mcp/authz/broken.rego'),
      (f) => {
        expect(f.step).toBe('check');
        expect(f.problems[0]).toMatchObject({ file: 'mcp/authz/broken.rego', line: expect.any(Number) });
      },
    ],
    [
      'a failing Rego test',
      () => ws.write('rego-tests/mcp/authz/extra_test.rego', 'package mcp.authz_test\n\nimport data.mcp.authz\n\ntest_breaks if {\n\tauthz.decision.allow with input as {}\n}\n'),
      () => ws.remove('rego-tests/mcp/authz/extra_test.rego'),
      (f) => {
        expect(f.step).toBe('test');
        expect(f.message).toContain('test_breaks');
      },
    ],
    [
      'a rule change its own Rego tests reject (the gate)',
      () => setFinanceLimit(4000, 10),
      () => setFinanceLimit(4000),
      (f) => {
        expect(f.step).toBe('test');
        expect(f.code).toBe('policy_tests_failed');
      },
    ],
    [
      'an unsupported builtin',
      () => ws.write('policies/mcp/authz/net.rego', 'package mcp.authz\n\n_r := http.send({"method": "GET", "url": "http://127.0.0.1:1"})\n'),
      () => ws.remove('policies/mcp/authz/net.rego'),
      (f) => {
        expect(f.message).toContain('http.send');
        expect(f.problems).toEqual(expect.arrayContaining([expect.objectContaining({ file: 'mcp/authz/net.rego', line: 3 })]));
      },
    ],
    [
      'a missing entrypoint',
      async () => {
        const src = await readFile(path.join(ws.policies, 'mcp/authz/decision.rego'), 'utf8');
        await ws.write('policies/mcp/authz/decision.rego', src.replace('# entrypoint: true\n', ''));
      },
      async () => {
        const src = await readFile(path.join(ws.policies, 'mcp/authz/decision.rego'), 'utf8');
        await ws.write('policies/mcp/authz/decision.rego', src.replace('# description: The contract toolgate evaluates. See README, "Policy contract".\n', '# description: The contract toolgate evaluates. See README, "Policy contract".\n# entrypoint: true\n'));
      },
      (f) => expect(f.code).toBe('entrypoint_missing'),
    ],
    [
      'invalid data',
      () => ws.write('policies/catalog/data.json', '{"servers": '),
      () => setFinanceLimit(4000),
      (f) => expect(f.message).toMatch(/data\.json/),
    ],
  ];

  it.each(breakages)('%s: decisions continue on the old revision and status says why', async (_name, breakIt, restore, inspect) => {
    const before = await status();
    const rev = before.active!.revision;
    await breakIt();
    const failure = await waitFor(async () => {
      const f = (await status()).last_failure;
      return f && f.at !== before.last_failure?.at && f;
    });
    inspect(failure);
    expect((await status()).active!.revision).toBe(rev);
    expect(await decide(5)).toMatchObject({ allow: true, revision: rev });
    expect((await app.get('/readyz')).status).toBe(200);
    await restore();
    await waitFor(async () => (await status()).last_failure === null, 15_000, 'recovery');
    expect((await status()).active!.revision).toBe(rev);
  });

  const activations = async (result: 'success' | 'failure') => {
    const m = new RegExp(`toolgate_policy_activations_total\\{result="${result}"\\} (\\d+)`).exec((await app.get('/metrics')).text);
    return m ? Number(m[1]) : 0;
  };

  it('counts each reload success and failure in metrics', async () => {
    const before = { success: await activations('success'), failure: await activations('failure') };
    const rev = await activeRevision();
    await ws.write('policies/mcp/authz/broken.rego', 'package mcp.authz\n\n_x := {\n');
    await waitFor(async () => (await activations('failure')) === before.failure + 1, 15_000, 'one more failure');
    await ws.remove('policies/mcp/authz/broken.rego');
    await waitFor(async () => (await status()).last_failure === null, 15_000, 'recovery');
    // Back to the same content: the revision stays, nothing new is activated.
    expect(await activeRevision()).toBe(rev);
    await setFinanceLimit(4100);
    await waitFor(async () => (await activeRevision()) !== rev, 15_000, 'new revision');
    expect(await activations('success')).toBe(before.success + 1);
    expect(await activations('failure')).toBe(before.failure + 1);
  });

  it('under concurrent load while reloading 20+ times: no failed request, no mixed or unknown revision', async () => {
    // Two contents alternate: limit 5000 (allows 4500) and limit 4000 (denies 4500).
    await setFinanceLimit(5000);
    const allowRev = await waitFor(async () => {
      const s = await status();
      return s.last_failure === null && (await decide(4500)).allow === true && s.active!.revision;
    }, 60_000, 'the 5000 limit to go live');
    await setFinanceLimit(4000);
    const denyRev = await waitFor(async () => {
      const r = await activeRevision();
      return r !== allowRev && r;
    }, 60_000, 'the 4000 limit to go live');
    const expected = new Map<string, boolean>([
      [allowRev, true],
      [denyRev, false],
    ]);
    let stop = false;
    const seen = { requests: 0, failed: 0, unknown: 0, mismatched: 0 };
    const revisionsSeen = new Set<string>();
    const worker = async () => {
      while (!stop) {
        try {
          const res = await app.post('/v1/decisions', { token, server: 'demo', tool: { name: 'refunds.create', arguments: { order_id: 'o', amount: 4500, currency: 'USD' } } });
          seen.requests++;
          if (res.status !== 200) {
            seen.failed++;
            continue;
          }
          const rev = String(res.body.revision);
          revisionsSeen.add(rev);
          if (!expected.has(rev)) seen.unknown++;
          else if (expected.get(rev) !== res.body.allow) seen.mismatched++;
        } catch {
          seen.failed++;
        }
      }
    };
    const workers = Array.from({ length: 4 }, worker);
    const successesBefore = await activations('success');
    for (let i = 0; i < 22; i++) {
      const limit = i % 2 === 0 ? 5000 : 4000;
      const want = limit === 5000 ? allowRev : denyRev;
      await setFinanceLimit(limit);
      await waitFor(async () => (await activeRevision()) === want, 60_000, `revision ${want}`);
    }
    stop = true;
    await Promise.all(workers);
    // Every edit was a real activation (none coalesced away), seen by the server.
    expect((await activations('success')) - successesBefore).toBeGreaterThanOrEqual(22);
    expect(seen.requests).toBeGreaterThan(100);
    expect(seen).toMatchObject({ failed: 0, unknown: 0, mismatched: 0 });
    expect([...revisionsSeen].sort()).toEqual([allowRev, denyRev].sort());
  }, 600_000);
});
