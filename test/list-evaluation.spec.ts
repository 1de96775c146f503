import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { jest } from '@jest/globals';
import { resourceUriRefusal } from '../src/contract/resource-uri.js';
import { DECISION_ENTRYPOINT, LIST_ENTRYPOINT, LIST_WRAPPER_ENTRYPOINT } from '../src/contract/policy-contract.js';
import { WasmPolicy } from '../src/evaluator/wasm-policy.js';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { startApp, type RunningApp } from './support/app.js';
import { policyWorkspace, ROOT, type PolicyWorkspace } from './support/policy-fixtures.js';

const RESOURCE = 'http://127.0.0.1:3999/mcp';

const callers = {
  alice: { sub: 'alice', roles: ['support_agent'] },
  fred: { sub: 'fred', roles: ['finance'] },
  erin: { sub: 'erin', roles: ['engineer'] },
  nobody: { sub: 'nobody' },
};

const TOOLS = ['refunds.create', 'invoices.read', 'issues.create', 'deploy.trigger', 'not.catalogued'];
const RESOURCES = ['docs://handbook/refunds', 'invoices://inv-1', 'invoices://2026/inv-9', 'invoices://a/../b', 'invoices://a%2Fb', 'docs://internal/salaries', 'invoicesX://inv-1'];
const PROMPTS = ['refund_reply', 'jailbreak'];
// URIs an SDK would read as another resource never reach the policy (resource-uri.ts): hidden from a list, 400 alone.
const EVALUATED_RESOURCES = RESOURCES.filter((uri) => resourceUriRefusal(uri) === undefined);

type Kind = 'tool' | 'resource' | 'prompt';
const itemsOf = (kind: Kind): Record<string, unknown>[] =>
  kind === 'tool' ? TOOLS.map((name) => ({ name })) : kind === 'resource' ? RESOURCES.map((uri) => ({ uri })) : PROMPTS.map((name) => ({ name }));
const subjectOf = (kind: Kind, id: string) => (kind === 'tool' ? { tool: { name: id } } : kind === 'resource' ? { resource: { uri: id } } : { prompt: { name: id } });

/** Every entrypoint the running service evaluated since the spy was (re)set. */
function evaluatedEntrypoints(spy: ReturnType<typeof jest.spyOn>): string[] {
  return spy.mock.calls.map((c: unknown[]) => c[0] as string).filter((ep: string) => ep !== 'system/log/mask');
}

describe('a list is decided in one policy evaluation, each item as decision decides it alone', () => {
  let idp: TestIssuer;
  let out: string;
  let spy: ReturnType<typeof jest.spyOn>;
  const apps: RunningApp[] = [];
  const workspaces: PolicyWorkspace[] = [];

  async function start(policies: string, tests: string): Promise<RunningApp> {
    const app = await startApp({
      policy: { source: { policies, tests, out: path.join(out, String(apps.length)) } },
      issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['RS256'] }],
      servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer] }],
    });
    apps.push(app);
    return app;
  }

  /** What POST /v1/decisions answers for each item alone (action "list"): the answers a list must reproduce. */
  async function oneByOne(app: RunningApp, token: string, kind: Kind): Promise<string[]> {
    const allowed: string[] = [];
    for (const item of itemsOf(kind)) {
      const id = String(item.name ?? item.uri);
      const res = await app.post('/v1/decisions', { token, server: 'demo', action: 'list', kind, ...subjectOf(kind, id) });
      if (kind === 'resource' && !EVALUATED_RESOURCES.includes(id)) {
        expect(res.status).toBe(400);
        expect(String(res.body.code)).toMatch(/^resource_uri_/);
        continue;
      }
      expect(res.status).toBe(200);
      if (res.body.allow === true) allowed.push(id);
    }
    return allowed;
  }

  beforeAll(async () => {
    idp = await TestIssuer.start([await makeKey('RS256', 'rs-1')]);
    out = await mkdtemp(path.join(os.tmpdir(), 'toolgate-list-'));
    spy = jest.spyOn(WasmPolicy.prototype, 'evaluate');
  });

  afterAll(async () => {
    spy.mockRestore();
    for (const app of apps) await app.close();
    for (const ws of workspaces) await ws.cleanup();
    await idp?.stop();
    await rm(out, { recursive: true, force: true });
  });

  it('the reference policy answers 1,000 tools in one evaluation of its own list rule', async () => {
    const app = await start(path.join(ROOT, 'policies'), path.join(ROOT, 'rego-tests'));
    const token = await idp.sign({ ...callers.alice, aud: RESOURCE });
    const tools = Array.from({ length: 1000 }, (_, i) => ({ name: TOOLS[i % TOOLS.length] }));
    spy.mockClear();
    const res = await app.post('/v1/decisions/tools', { token, server: 'demo', tools });
    expect(res.status).toBe(200);
    expect(evaluatedEntrypoints(spy)).toEqual([LIST_ENTRYPOINT]);
    // alice (support_agent) sees refunds.create, invoices.read and issues.create: 3 of every 5.
    expect(res.body.allowed).toEqual(tools.filter((t) => ['refunds.create', 'invoices.read', 'issues.create'].includes(t.name)).map((t) => t.name));
    for (const kind of ['resource', 'prompt'] as const) {
      spy.mockClear();
      expect((await app.post('/v1/decisions/list', { token, server: 'demo', kind, items: itemsOf(kind) })).status).toBe(200);
      expect(evaluatedEntrypoints(spy)).toEqual([LIST_ENTRYPOINT]);
    }
  });

  it.each(Object.keys(callers))('the reference policy lists for %s exactly what decision allows item by item', async (who) => {
    const app = apps[0];
    const token = await idp.sign({ ...callers[who as keyof typeof callers], aud: RESOURCE });
    for (const kind of ['tool', 'resource', 'prompt'] as const) {
      const listed = await app.post('/v1/decisions/list', { token, server: 'demo', kind, items: itemsOf(kind) });
      expect(listed.status).toBe(200);
      expect(listed.body.allowed).toEqual(await oneByOne(app, token, kind));
    }
  });

  it('a policy that defines only decision is filtered through the wrapper toolgate builds, in one evaluation, with the same answers', async () => {
    const ws = await policyWorkspace();
    workspaces.push(ws);
    await ws.remove('policies/mcp/authz/list.rego');
    await ws.remove('rego-tests/mcp/authz/list_test.rego');
    const app = await start(ws.policies, ws.tests);
    for (const who of Object.keys(callers)) {
      const token = await idp.sign({ ...callers[who as keyof typeof callers], aud: RESOURCE });
      for (const kind of ['tool', 'resource', 'prompt'] as const) {
        spy.mockClear();
        const listed = await app.post('/v1/decisions/list', { token, server: 'demo', kind, items: itemsOf(kind) });
        expect(listed.status).toBe(200);
        expect(evaluatedEntrypoints(spy)).toEqual([LIST_WRAPPER_ENTRYPOINT]);
        expect(listed.body.allowed).toEqual(await oneByOne(app, token, kind));
      }
    }
  });

  it('a list rule whose answer has the wrong length is not trusted: each item is decided alone, as before', async () => {
    const ws = await policyWorkspace();
    workspaces.push(ws);
    await ws.write('policies/mcp/authz/list.rego', 'package mcp.authz\n\n# METADATA\n# entrypoint: true\ndecisions := [{"allow": true}]\n');
    await ws.remove('rego-tests/mcp/authz/list_test.rego');
    const app = await start(ws.policies, ws.tests);
    const token = await idp.sign({ ...callers.fred, aud: RESOURCE });
    spy.mockClear();
    const listed = await app.post('/v1/decisions/list', { token, server: 'demo', kind: 'resource', items: itemsOf('resource') });
    expect(listed.status).toBe(200);
    expect(evaluatedEntrypoints(spy)).toEqual([LIST_ENTRYPOINT, ...EVALUATED_RESOURCES.map(() => DECISION_ENTRYPOINT)]);
    expect(listed.body.allowed).toEqual(['docs://handbook/refunds', 'invoices://inv-1', 'invoices://2026/inv-9']);
    expect(listed.body.allowed).toEqual(await oneByOne(app, token, 'resource'));
  });
});
