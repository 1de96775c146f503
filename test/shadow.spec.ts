import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { DecisionEvent } from '../src/audit/decision-event.js';
import { AuditService } from '../src/audit/audit.service.js';
import { parseConfig } from '../src/config/load-config.js';
import { buildPolicyBundle } from '../src/policy-compiler/policy-builder.js';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { startApp, type RunningApp } from './support/app.js';
import { policyWorkspace, ROOT, type PolicyWorkspace } from './support/policy-fixtures.js';
import { writeCandidateChange } from './support/replay-fixture.js';

const RESOURCE = 'http://127.0.0.1:3997/mcp';

/**
 * policy.shadow: a real candidate bundle (the known change of the replay test,
 * with issue creation in project core frozen since the epoch) evaluated next to
 * the reference policy on live HTTP decisions.
 */
describe('shadow evaluation (policy.shadow)', () => {
  let dir: string;
  let ws: PolicyWorkspace;
  let idp: TestIssuer;
  let activeBundle: string;
  let candidateBundle: string;

  const config = (shadow: Record<string, unknown>, logName: string) => ({
    policy: { mode: 'bundle', bundle: { path: activeBundle }, shadow },
    issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
    servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer] }],
    decision_logs: { file: { path: path.join(dir, logName) } },
    revocation: { file: path.join(dir, 'revocations.json') },
  });
  const sign = (claims: Record<string, unknown>) => idp.sign({ aud: RESOURCE, exp: Math.floor(Date.now() / 1000) + 600, ...claims });
  const call = (app: RunningApp, token: string, name: string, args: Record<string, unknown>) =>
    app.post('/v1/decisions', { token, server: 'demo', tool: { name, arguments: args } });

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-shadow-'));
    ws = await policyWorkspace();
    idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    await writeCandidateChange(ws, 0);
    const [active, candidate] = await Promise.all([
      buildPolicyBundle({ policyDir: path.join(ROOT, 'policies'), testDir: path.join(ROOT, 'rego-tests'), outDir: path.join(dir, 'active'), revision: 'active-1' }),
      buildPolicyBundle({ policyDir: ws.policies, testDir: ws.tests, outDir: path.join(dir, 'candidate'), revision: 'candidate-1' }),
    ]);
    activeBundle = active.bundlePath;
    candidateBundle = candidate.bundlePath;
  }, 120_000);

  afterAll(async () => {
    await idp?.stop();
    await ws?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('shows divergence in the decision log, the metrics and /v1/status, and never changes an answer', async () => {
    const app = await startApp(config({ mode: 'bundle', bundle: { path: candidateBundle }, sample_rate: 1 }, 'all.jsonl'));
    try {
      const alice = await sign({ sub: 'alice', roles: ['support_agent'], scope: 'refunds:write' });
      const erin = await sign({ sub: 'erin', roles: ['engineer'], scope: 'issues:write', projects: ['core'] });
      const issue = await call(app, erin, 'issues.create', { project: 'core', title: 't' });
      const report = await call(app, alice, 'reports.export', {});
      const refund = await call(app, alice, 'refunds.create', { order_id: 'o-1', amount: 5, currency: 'USD' });
      const bad = await call(app, 'not.a.token', 'refunds.create', {});
      // The answers are the active policy's.
      expect(issue.body).toMatchObject({ allow: true, revision: 'active-1' });
      expect(report.body).toMatchObject({ allow: false, code: 'policy_denied', revision: 'active-1' });
      expect(refund.body).toMatchObject({ allow: true });
      expect(bad.body).toMatchObject({ allow: false, http_status: 401 });

      await app.app.get(AuditService).flush();
      const events = new Map(
        (await readFile(path.join(dir, 'all.jsonl'), 'utf8'))
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as DecisionEvent)
          .map((e) => [e.decision_id, e]),
      );
      const id = (r: { body: Record<string, unknown> }) => String(r.body.decision_id);
      expect(events.get(id(issue))?.shadow).toEqual({
        revision: 'candidate-1',
        content_hash: expect.stringMatching(/^sha256:/),
        allow: false,
        code: 'policy_denied',
        result: 'allow_to_deny',
      });
      expect(events.get(id(report))?.shadow).toMatchObject({ allow: true, result: 'deny_to_allow' });
      expect(events.get(id(report))?.shadow?.code).toBeUndefined();
      expect(events.get(id(refund))?.shadow).toMatchObject({ allow: true, result: 'same' });
      // No policy ran for a rejected token: nothing to shadow.
      expect(events.get(id(bad))?.shadow).toBeUndefined();

      const metrics = (await app.get('/metrics')).text;
      expect(metrics).toContain('toolgate_shadow_decisions_total{result="allow_to_deny"} 1');
      expect(metrics).toContain('toolgate_shadow_decisions_total{result="deny_to_allow"} 1');
      expect(metrics).toContain('toolgate_shadow_decisions_total{result="same"} 1');

      const status = (await app.get('/v1/status')).body as { shadow: Record<string, unknown>; active: { revision: string } };
      expect(status.active.revision).toBe('active-1');
      expect(status.shadow).toMatchObject({
        sample_rate: 1,
        candidate: { revision: 'candidate-1', source: { kind: 'bundle', location: candidateBundle } },
        last_failure: null,
        since: expect.any(String),
        counts: { same: 1, allow_to_deny: 1, deny_to_allow: 1, error: 0 },
      });
      expect(status.shadow.last_divergences).toEqual([
        expect.objectContaining({ decision_id: id(report), result: 'deny_to_allow', tool: 'reports.export', active: { allow: false, code: 'policy_denied' }, shadow: { allow: true } }),
        expect.objectContaining({ decision_id: id(issue), result: 'allow_to_deny', server: 'demo', tool: 'issues.create', active: { allow: true }, shadow: { allow: false, code: 'policy_denied' } }),
      ]);
    } finally {
      await app.close();
    }
  });

  it('sample_rate 0 evaluates nothing; a candidate that fails verification is reported and the active policy still answers', async () => {
    const app = await startApp(config({ mode: 'bundle', bundle: { path: candidateBundle }, sample_rate: 0 }, 'none.jsonl'));
    try {
      const erin = await sign({ sub: 'erin', roles: ['engineer'], scope: 'issues:write', projects: ['core'] });
      expect((await call(app, erin, 'issues.create', { project: 'core', title: 't' })).body).toMatchObject({ allow: true });
      await app.app.get(AuditService).flush();
      const event = JSON.parse((await readFile(path.join(dir, 'none.jsonl'), 'utf8')).trim()) as DecisionEvent;
      expect(event.shadow).toBeUndefined();
      expect((await app.get('/v1/status')).body).toMatchObject({ shadow: { counts: { same: 0, allow_to_deny: 0, deny_to_allow: 0, error: 0 } } });
    } finally {
      await app.close();
    }
    // The same verification as the active source: with signing keys configured, the unsigned candidate is refused.
    const pub = (await makeKey('ES256', 'x')).publicJwk;
    const { createPublicKey } = await import('node:crypto');
    const pem = createPublicKey({ key: pub as import('node:crypto').JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString();
    const signed = await startApp(
      config({ mode: 'bundle', bundle: { path: candidateBundle, signing: { keys: [{ keyid: 'x', algorithm: 'ES256', key: pem }] } }, sample_rate: 1 }, 'signed.jsonl'),
    );
    try {
      const erin = await sign({ sub: 'erin', roles: ['engineer'], scope: 'issues:write', projects: ['core'] });
      expect((await call(signed, erin, 'issues.create', { project: 'core', title: 't' })).body).toMatchObject({ allow: true });
      const status = (await signed.get('/v1/status')).body as { shadow: { candidate: unknown; last_failure: { step: string } } };
      expect(status.shadow.candidate).toBeNull();
      expect(status.shadow.last_failure.step).toBe('verify');
    } finally {
      await signed.close();
    }
  });

  it('validates policy.shadow like the active source', () => {
    const base = { servers: [{ id: 'demo', resource: RESOURCE, issuers: ['https://i.example'] }], issuers: [{ issuer: 'https://i.example', jwks_uri: 'https://i.example/jwks' }] };
    expect(() => parseConfig({ ...base, policy: { shadow: { mode: 'bundle', bundle: { url: 'https://b.example/b.tar.gz' } } } })).toThrow(/policy\.shadow\.bundle\.signing: required/);
    expect(() => parseConfig({ ...base, policy: { shadow: { mode: 'bundle', bundle: { url: 'http://b.example/b.tar.gz', allow_unsigned: true } } } })).toThrow(/policy\.shadow\.bundle\.url/);
    expect(() => parseConfig({ ...base, policy: { shadow: { mode: 'source' } } })).toThrow(/policy\.shadow\.source: required/);
    expect(() => parseConfig({ ...base, policy: { shadow: { mode: 'bundle', bundle: { path: 'x' }, sample_rate: 1.5 } } })).toThrow(/sample_rate/);
  });
});
