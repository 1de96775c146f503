import http from 'node:http';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../src/config/load-config.js';
import type { DecisionResult, ToolsResult } from '../src/decision/decision.service.js';
import { HttpDecider, type Decider, type GuardDecisionRequest, type GuardListRequest } from '../src/mcp/decider.js';
import { createEmbeddedDecider } from '../src/mcp/embedded.js';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { startApp, type RunningApp } from './support/app.js';
import { ROOT } from './support/policy-fixtures.js';

const RESOURCE = 'http://127.0.0.1:3997/mcp';

/** What must agree between the two deciders: everything but the per-decision id. */
function comparable(r: DecisionResult | ToolsResult): Record<string, unknown> {
  const { decision_id: _id, ...rest } = r;
  return rest;
}

describe('HttpDecider and the embedded decider answer the same input with the same deny code, and never throw', () => {
  let idp: TestIssuer;
  let dir: string;
  let app: RunningApp;
  let viaHttp: Decider;
  let embedded: Decider;

  beforeAll(async () => {
    idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-deciders-'));
    const raw = {
      policy: { source: { policies: path.join(ROOT, 'policies'), tests: path.join(ROOT, 'rego-tests'), out: path.join(dir, 'build'), watch: false, test_gate: false } },
      issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
      servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer], scopes_supported: ['refunds:write'] }],
      revocation: { file: path.join(dir, 'revocations.json') },
    };
    app = await startApp(raw);
    viaHttp = new HttpDecider(app.url);
    embedded = await createEmbeddedDecider(parseConfig({ listen: { host: '127.0.0.1', port: 0 }, ...raw, policy: { source: { ...raw.policy.source, out: path.join(dir, 'build2') } } }));
  });

  afterAll(async () => {
    await app?.close();
    await embedded?.close?.();
    await idp?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('decisions, authentication and list filters', async () => {
    const alice = await idp.sign({ sub: 'alice', roles: ['support_agent'], scope: 'refunds:write', aud: RESOURCE });
    const fred = await idp.sign({ sub: 'fred', roles: ['finance'], aud: RESOURCE });
    const refund = (amount: unknown, extra: Record<string, unknown> = {}) => ({ name: 'refunds.create', arguments: { order_id: 'o-1', amount, currency: 'USD', ...extra } });
    const decisions: [string, GuardDecisionRequest, string | undefined][] = [
      ['allowed call', { token: alice, server: 'demo', action: 'call', tool: refund(10) }, undefined],
      ['policy deny', { token: alice, server: 'demo', action: 'call', tool: refund(5000) }, 'policy_denied'],
      ['step-up', { token: fred, server: 'demo', action: 'read_resource', resource: { uri: 'invoices://i-1' } }, 'insufficient_scope'],
      ['no token', { token: '', server: 'demo', tool: refund(10) }, 'token_missing'],
      ['malformed token', { token: 'x.y.z', server: 'demo', tool: refund(10) }, 'token_malformed'],
      ['arguments too deep', { token: alice, server: 'demo', tool: refund(JSON.parse('{"a":'.repeat(60) + '1' + '}'.repeat(60))) }, 'arguments_too_deep'],
      ['arguments too large', { token: alice, server: 'demo', tool: refund(Array.from({ length: 20_000 }, (_, i) => i)) }, 'arguments_too_large'],
      ['unknown server', { token: alice, server: 'nope', tool: refund(10) }, 'unknown_server'],
      ['tool name too long', { token: alice, server: 'demo', tool: { name: 'x'.repeat(300) } }, 'invalid_request'],
      ['tool name not a string', { token: alice, server: 'demo', tool: { name: 7 as unknown as string } }, 'invalid_request'],
      ['unknown completion ref', { token: alice, server: 'demo', action: 'complete', completion: { ref: { type: 'ref/tool', name: 'x' }, argument: { name: 'a', value: '' } } }, 'invalid_request'],
      ['read without a resource', { token: alice, server: 'demo', action: 'read_resource' }, 'invalid_request'],
      ['unlisted resource', { token: alice, server: 'demo', action: 'read_resource', resource: { uri: 'docs://internal/salaries' } }, 'policy_denied'],
      ['allowed completion', { token: alice, server: 'demo', action: 'complete', completion: { ref: { type: 'ref/prompt', name: 'refund_reply' }, argument: { name: 'order_id', value: 'o' } } }, undefined],
    ];
    for (const [label, req, code] of decisions) {
      const [h, e] = await Promise.all([viaHttp.decide(req), embedded.decide(req)]);
      expect({ label, code: h.code }).toEqual({ label, code });
      expect({ label, ...comparable(e) }).toEqual({ label, ...comparable(h) });
    }
    for (const [label, req, code] of [
      ['valid token', { token: alice, server: 'demo' }, undefined],
      ['no token', { token: '', server: 'demo' }, 'token_missing'],
      ['unknown server', { token: alice, server: 'nope' }, 'unknown_server'],
    ] as const) {
      const [h, e] = await Promise.all([viaHttp.authenticate(req), embedded.authenticate(req)]);
      expect({ label, code: h.code, allow: h.allow }).toEqual({ label, code, allow: code === undefined });
      expect({ label, ...comparable(e) }).toEqual({ label, ...comparable(h) });
    }
    const lists: [string, GuardListRequest, string | undefined][] = [
      ['tools', { token: alice, server: 'demo', kind: 'tool', items: [{ name: 'refunds.create' }, { name: 'deploy.trigger' }] }, undefined],
      ['resources', { token: alice, server: 'demo', kind: 'resource', items: [{ uri: 'docs://handbook/refunds' }, { uri: 'docs://internal/salaries' }] }, undefined],
      ['prompts, bad token', { token: 'x.y.z', server: 'demo', kind: 'prompt', items: [{ name: 'refund_reply' }] }, 'token_malformed'],
      ['unknown kind', { token: alice, server: 'demo', kind: 'sampling' as 'tool', items: [] }, 'invalid_request'],
      ['resource without uri', { token: alice, server: 'demo', kind: 'resource', items: [{ name: 'x' }] }, 'invalid_request'],
    ];
    for (const [label, req, code] of lists) {
      const [h, e] = await Promise.all([viaHttp.filterList(req), embedded.filterList(req)]);
      expect({ label, code: h.code }).toEqual({ label, code });
      expect({ label, ...comparable(e) }).toEqual({ label, ...comparable(h) });
    }
  });
});

describe('deciders fail closed without throwing', () => {
  it('embedded with no loadable policy: policy_unavailable (503)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-nopolicy-'));
    await mkdir(path.join(dir, 'policies'));
    await writeFile(path.join(dir, 'policies', 'broken.rego'), 'package mcp.authz\n\ndecision := {\n');
    const idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    const d = await createEmbeddedDecider(
      parseConfig({
        policy: { source: { policies: path.join(dir, 'policies'), out: path.join(dir, 'build'), watch: false, test_gate: false } },
        issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
        servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer] }],
        revocation: { file: path.join(dir, 'revocations.json') },
      }),
    );
    try {
      const token = await idp.sign({ sub: 'alice', aud: RESOURCE });
      expect(await d.decide({ token, server: 'demo', tool: { name: 'x' } })).toMatchObject({ allow: false, code: 'policy_unavailable', http_status: 503 });
      expect(await d.authenticate({ token, server: 'demo' })).toMatchObject({ allow: false, code: 'policy_unavailable', http_status: 503 });
      expect(await d.filterList({ token, server: 'demo', kind: 'tool', items: [{ name: 'x' }] })).toMatchObject({ allowed: [], code: 'policy_unavailable', http_status: 503 });
    } finally {
      await d.close?.();
      await idp.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('HttpDecider: a 5xx, garbage or an unreachable toolgate is toolgate_unavailable (503); another 4xx keeps its code', async () => {
    let answer: { status: number; body: string } = { status: 200, body: 'hello' };
    const fake = http.createServer((_req, res) => res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body));
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', () => r()));
    const d = new HttpDecider(`http://127.0.0.1:${(fake.address() as AddressInfo).port}`);
    const req = { token: 't', server: 'demo', tool: { name: 'x' } };
    try {
      for (const [status, body, code, httpStatus] of [
        [200, 'hello', 'toolgate_unavailable', 503],
        [200, '{"allow":"yes"}', 'toolgate_unavailable', 503],
        [500, '{"code":"internal_error","message":"bug"}', 'toolgate_unavailable', 503],
        [502, '<html>bad gateway</html>', 'toolgate_unavailable', 503],
        [400, '{"code":"arguments_too_deep","message":"deep"}', 'arguments_too_deep', 400],
        [401, '{"code":"caller_unauthenticated","message":"who"}', 'caller_unauthenticated', 500],
        [503, '{"code":"policy_unavailable","message":"none"}', 'policy_unavailable', 503],
      ] as const) {
        answer = { status, body };
        expect({ status, body, ...(await d.decide(req)) }).toMatchObject({ status, body, allow: false, code, http_status: httpStatus });
        expect({ status, body, ...(await d.filterList({ token: 't', server: 'demo', kind: 'tool', items: [] })) }).toMatchObject({ status, body, allowed: [], code, http_status: httpStatus });
      }
    } finally {
      fake.closeAllConnections();
      await new Promise<void>((r) => fake.close(() => r()));
    }
    const gone = new HttpDecider('http://127.0.0.1:1');
    expect(await gone.authenticate({ token: 't', server: 'demo' })).toMatchObject({ allow: false, code: 'toolgate_unavailable', http_status: 503 });
  });
});
