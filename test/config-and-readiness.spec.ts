import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { ConfigError } from '../src/common/errors.js';
import { BadRequestError } from '../src/common/errors.js';
import { loadConfigFile, parseConfig } from '../src/config/load-config.js';
import { LimitsConfig } from '../src/config/config.schema.js';
import { parseDecisionRequest } from '../src/decision/decision-request.js';
import { DecisionRequestDto } from '../src/decision/decision.dto.js';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { startApp } from './support/app.js';
import { policyWorkspace, ROOT } from './support/policy-fixtures.js';

const RESOURCE = 'http://127.0.0.1:3999/mcp';
const base = {
  issuers: [{ issuer: 'https://idp.example', jwks_uri: 'https://idp.example/jwks' }],
  servers: [{ id: 'demo', resource: RESOURCE, issuers: ['https://idp.example'] }],
};

describe('configuration is validated at boot and errors name the key', () => {
  it.each([
    ['unknown top-level key', { ...base, lisen: {} }, 'lisen: unknown key'],
    ['port out of range', { ...base, listen: { port: 70000 } }, 'listen.port'],
    ['server resource not a URL', { ...base, servers: [{ ...base.servers[0], resource: 'not a url' }] }, 'servers[0].resource'],
    ['server trusts an unconfigured issuer', { ...base, servers: [{ ...base.servers[0], issuers: ['https://other'] }] }, 'servers[0].issuers[0]'],
    ['issuer without keys', { ...base, issuers: [{ issuer: 'https://idp.example' }] }, 'issuers[0].jwks_uri'],
    ['algorithm none', { ...base, issuers: [{ ...base.issuers[0], algorithms: ['none'] }] }, 'issuers[0].algorithms'],
    ['no servers', { issuers: base.issuers, servers: [] }, 'servers'],
    ['duplicate server ids', { ...base, servers: [base.servers[0], { ...base.servers[0], resource: 'http://x/y' }] }, 'servers[1].id'],
    ['exposed without caller auth', { ...base, listen: { host: '0.0.0.0' } }, 'callers.auth'],
    ['bundle mode without a bundle', { ...base, policy: { mode: 'bundle' } }, 'policy.bundle'],
  ])('%s', (_name, raw, key) => {
    expect(() => parseConfig(raw)).toThrow(ConfigError);
    expect(() => parseConfig(raw)).toThrow(key);
  });

  it('reads YAML and JSON files and applies defaults', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-cfg-'));
    try {
      await writeFile(path.join(dir, 'c.yaml'), `servers:\n  - id: demo\n    resource: ${RESOURCE}\n    issuers: [https://idp.example]\nissuers:\n  - issuer: https://idp.example\n    jwks_uri: https://idp.example/jwks\n`);
      const c = loadConfigFile(path.join(dir, 'c.yaml'));
      expect(c.listen).toEqual({ host: '127.0.0.1', port: 8181 });
      expect(c.issuers[0].algorithms).not.toContain('HS256');
      expect(c.limits.body_bytes).toBe(1024 * 1024);
      await writeFile(path.join(dir, 'c.json'), '{"servers": [}');
      expect(() => loadConfigFile(path.join(dir, 'c.json'))).toThrow(/not valid JSON/);
      expect(() => loadConfigFile(path.join(dir, 'missing.yaml'))).toThrow(/cannot read config file/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('no good policy at startup: not ready, never allow', () => {
  it('answers 503 on readiness and decisions, and status explains the failure', async () => {
    const ws = await policyWorkspace();
    const idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    await ws.write('policies/mcp/authz/broken.rego', 'package mcp.authz\n\n_x := {\n');
    const app = await startApp({
      policy: { source: { policies: ws.policies, tests: ws.tests, out: ws.out } },
      issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
      servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer] }],
    });
    try {
      expect((await app.get('/healthz')).status).toBe(200);
      expect((await app.get('/readyz')).status).toBe(503);
      const token = await idp.sign({ sub: 'a', roles: ['support_agent'], scope: 'refunds:write', aud: RESOURCE });
      const res = await app.post('/v1/decisions', { token, server: 'demo', tool: { name: 'refunds.create' } });
      expect(res.status).toBe(503);
      expect(res.body).toEqual({ code: 'policy_unavailable', message: expect.any(String) });
      const status = (await app.get('/v1/status')).body as { active: unknown; last_failure: { step: string; problems: { file: string; line: number }[] } };
      expect(status.active).toBeNull();
      expect(status.last_failure.step).toBe('check');
      expect(status.last_failure.problems[0]).toMatchObject({ file: 'mcp/authz/broken.rego', line: expect.any(Number) });
      expect((await app.get('/metrics')).text).toMatch(/toolgate_policy_activations_total\{result="failure"\} 1/);
    } finally {
      await app.close();
      await idp.stop();
      await ws.cleanup();
    }
  });
});

describe('callers of toolgate authenticate when configured', () => {
  it('rejects callers without a token or without the scope, accepts the right one', async () => {
    const idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    const out = await mkdtemp(path.join(os.tmpdir(), 'toolgate-callers-'));
    const app = await startApp({
      policy: { source: { policies: path.join(ROOT, 'policies'), tests: path.join(ROOT, 'rego-tests'), out, test_gate: false } },
      issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
      servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer] }],
      callers: { auth: 'jwt', issuer: idp.issuer, audience: 'https://toolgate.internal', scope: 'toolgate:decide' },
    });
    try {
      const body = { token: await idp.sign({ sub: 'a', roles: ['finance'], scope: 'invoices:read', aud: RESOURCE }), server: 'demo', tool: { name: 'invoices.read', arguments: { invoice_id: 'i' } } };
      const none = await app.post('/v1/decisions', body);
      expect(none.status).toBe(401);
      expect(none.body.code).toBe('caller_unauthenticated');
      expect(none.headers.get('www-authenticate')).toContain('Bearer');
      // The end user's token is for the MCP server, not for toolgate: refused as a caller token.
      const passthrough = await app.post('/v1/decisions', body, { authorization: `Bearer ${body.token}` });
      expect(passthrough.status).toBe(401);
      const noScope = await idp.sign({ sub: 'mcp-server', aud: 'https://toolgate.internal', scope: 'other' });
      expect((await app.post('/v1/decisions', body, { authorization: `Bearer ${noScope}` })).status).toBe(403);
      const good = await idp.sign({ sub: 'mcp-server', client_id: 'mcp-demo', aud: 'https://toolgate.internal', scope: 'toolgate:decide' });
      const ok = await app.post('/v1/decisions', body, { authorization: `Bearer ${good}` });
      expect(ok.status).toBe(200);
      expect(ok.body.allow).toBe(true);
      expect((await app.get('/v1/status')).status).toBe(401);
      expect((await app.get('/healthz')).status).toBe(200);
    } finally {
      await app.close();
      await idp.stop();
      await rm(out, { recursive: true, force: true });
    }
  });
});

describe('the hand-written decision validator agrees with the documented DTO', () => {
  const limits = new LimitsConfig();
  const corpus: unknown[] = [
    { server: 'demo', tool: { name: 'x' } },
    { token: 't', server: 'demo', action: 'list', tool: { name: 'x', arguments: { a: 1 }, annotations: { readOnlyHint: true } } },
    { server: 'demo', action: 'call', tool: { name: 'x', arguments: {} } },
    { server: 'demo' },
    { tool: { name: 'x' } },
    { server: 1, tool: { name: 'x' } },
    { server: 'demo', tool: { name: 2 } },
    { server: 'demo', tool: {} },
    { server: 'demo', tool: 'x' },
    { server: 'demo', action: 'delete', tool: { name: 'x' } },
    { server: 'demo', tool: { name: 'x', arguments: 'a' } },
    { server: 'demo', tool: { name: 'x', arguments: [1] } },
    { server: 'demo', tool: { name: 'x' }, extra: 1 },
    { server: 'demo', tool: { name: 'x', extra: 1 } },
    { token: 5, server: 'demo', tool: { name: 'x' } },
    { server: 'd'.repeat(300), tool: { name: 'x' } },
  ];

  it.each(corpus.map((c) => [JSON.stringify(c).slice(0, 80), c]))('%s', (_label, body) => {
    let fast = true;
    try {
      parseDecisionRequest(body, limits);
    } catch (e) {
      expect(e).toBeInstanceOf(BadRequestError);
      fast = false;
    }
    const dto = plainToInstance(DecisionRequestDto, body);
    const slow = validateSync(dto as object, { whitelist: true, forbidNonWhitelisted: true }).length === 0;
    expect(fast).toBe(slow);
  });
});
