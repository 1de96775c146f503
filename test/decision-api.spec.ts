import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { exportSPKI, SignJWT } from 'jose';
import { makeKey, TestIssuer, type TestKey } from './support/auth-server.js';
import { startApp, type RunningApp } from './support/app.js';
import { ROOT } from './support/policy-fixtures.js';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { BadRequestError } from '../src/common/errors.js';
import { LimitsConfig } from '../src/config/config.schema.js';
import { parseDecisionRequest } from '../src/decision/decision-request.js';
import { DecisionRequestDto } from '../src/decision/decision.dto.js';

const RESOURCE = 'http://127.0.0.1:3999/mcp';
const OTHER_RESOURCE = 'http://127.0.0.1:3998/other-mcp';
const METADATA = 'http://127.0.0.1:3999/.well-known/oauth-protected-resource/mcp';

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

const refundCall = (token: string, amount = 50) => ({
  token,
  server: 'demo',
  tool: { name: 'refunds.create', arguments: { order_id: 'o-1', amount, currency: 'USD' } },
});

const support = { sub: 'alice', roles: ['support_agent'], scope: 'refunds:write invoices:read', aud: RESOURCE };

describe('decision API over real HTTP with real tokens from a loopback JWKS', () => {
  let idp: TestIssuer;
  let rogue: TestIssuer;
  let rs: TestKey;
  let es: TestKey;
  let ed: TestKey;
  let app: RunningApp;
  let out: string;

  beforeAll(async () => {
    rs = await makeKey('RS256', 'rs-1');
    es = await makeKey('ES256', 'es-1');
    ed = await makeKey('EdDSA', 'ed-1');
    idp = await TestIssuer.start([rs, es, ed]);
    rogue = await TestIssuer.start([await makeKey('RS256', 'rs-1')]);
    out = await mkdtemp(path.join(os.tmpdir(), 'toolgate-api-'));
    app = await startApp({
      policy: { source: { policies: path.join(ROOT, 'policies'), tests: path.join(ROOT, 'rego-tests'), out } },
      issuers: [
        { issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['RS256', 'ES256', 'EdDSA'], typ: 'at+jwt', jwks_cooldown_s: 30 },
        { issuer: rogue.issuer, jwks_uri: rogue.jwksUri, algorithms: ['RS256'] },
      ],
      servers: [
        { id: 'demo', resource: RESOURCE, issuers: [idp.issuer], scopes_supported: ['refunds:write', 'invoices:read'] },
        { id: 'other', resource: OTHER_RESOURCE, issuers: [idp.issuer, rogue.issuer], scopes_supported: [] },
      ],
    });
  });

  afterAll(async () => {
    await app?.close();
    await idp?.stop();
    await rogue?.stop();
    await rm(out, { recursive: true, force: true });
  });

  it.each([
    ['RS256', () => rs],
    ['ES256', () => es],
    ['EdDSA', () => ed],
  ])('allows a valid %s token within policy', async (_alg, key) => {
    const token = await idp.sign(support, { key: key() });
    const res = await app.post('/v1/decisions', refundCall(token));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ allow: true, reasons: [], revision: expect.stringMatching(/\S/) });
    expect(res.body.decision_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.body.code).toBeUndefined();
  });

  describe('attack matrix: every token is denied with the right code', () => {
    const cases: [string, string, () => Promise<string>][] = [
      ['alg none', 'token_algorithm_rejected', async () => `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64({ ...support, iss: idp.issuer, exp: 9999999999 })}.`],
      ['HS256 signed with the RSA public key', 'token_algorithm_rejected', async () => {
        const pem = await exportSPKI((await import('node:crypto')).createPublicKey({ key: rs.publicJwk as never, format: 'jwk' }) as never);
        return new SignJWT({ ...support, iss: idp.issuer }).setProtectedHeader({ alg: 'HS256', kid: 'rs-1', typ: 'at+jwt' }).setExpirationTime('5m').sign(new TextEncoder().encode(pem));
      }],
      ['ES384 algorithm not in the allowlist', 'token_algorithm_rejected', async () => {
        const k = await makeKey('ES256', 'es-1');
        const t = await idp.sign(support, { key: k });
        const [, p, s] = t.split('.');
        return `${b64({ alg: 'ES384', kid: 'es-1', typ: 'at+jwt' })}.${p}.${s}`;
      }],
      ['expired', 'token_expired', () => idp.sign({ ...support, exp: Math.floor(Date.now() / 1000) - 3600, iat: Math.floor(Date.now() / 1000) - 7200 })],
      ['nbf in the future', 'token_not_yet_valid', () => idp.sign({ ...support, nbf: Math.floor(Date.now() / 1000) + 3600 })],
      ['iat in the future', 'token_not_yet_valid', () => idp.sign({ ...support, iat: Math.floor(Date.now() / 1000) + 3600, exp: Math.floor(Date.now() / 1000) + 7200 })],
      ['wrong issuer signed with a trusted key', 'token_issuer_untrusted', () => idp.sign({ ...support, iss: 'https://evil.example' })],
      ['issuer with a trailing slash (no prefix or normalised matching)', 'token_issuer_untrusted', () => idp.sign({ ...support, iss: `${idp.issuer}/` })],
      ['issuer not trusted for this server, valid signature from its own keys', 'token_issuer_untrusted', () => rogue.sign(support)],
      ['no iss claim', 'token_issuer_untrusted', () => idp.sign({ ...support, iss: undefined })],
      ['audience of another server', 'token_audience_mismatch', () => idp.sign({ ...support, aud: OTHER_RESOURCE })],
      ['audience of an unrelated API', 'token_audience_mismatch', () => idp.sign({ ...support, aud: ['https://api.example.com', 'account'] })],
      ['no audience', 'token_audience_mismatch', () => idp.sign({ ...support, aud: undefined })],
      ['missing exp', 'token_malformed', () => idp.sign(support, { noExp: true })],
      ['exp as a string', 'token_malformed', () => idp.sign({ ...support, exp: 'tomorrow' as unknown as number })],
      ['unknown kid', 'token_invalid_signature', async () => idp.sign(support, { key: await makeKey('RS256', 'ghost') })],
      ['known kid, signed by another key', 'token_invalid_signature', async () => idp.sign(support, { key: { ...(await makeKey('RS256', 'x')), kid: 'rs-1' } })],
      // Key material in the header is refused outright. These tokens are signed with the
      // *trusted* key under its real kid, so only that refusal stops them.
      ['embedded jwk header, signed with the trusted key', 'token_invalid_signature', () => idp.sign(support, { key: rs, header: { jwk: rs.publicJwk } })],
      ['embedded jwk header of an attacker key, no kid', 'token_invalid_signature', async () => {
        const k = await makeKey('RS256', 'attacker');
        return idp.sign(support, { key: k, header: { jwk: k.publicJwk, kid: undefined } });
      }],
      ['jku header pointing at the issuer\'s own JWKS, signed with the trusted key', 'token_invalid_signature', () => idp.sign(support, { key: rs, header: { jku: idp.jwksUri } })],
      ['x5u header, signed with the trusted key', 'token_invalid_signature', () => idp.sign(support, { key: rs, header: { x5u: `${idp.issuer}/cert.pem` } })],
      ['x5c header, signed with the trusted key', 'token_invalid_signature', () => idp.sign(support, { key: rs, header: { x5c: ['MIIB'] } })],
      ['payload tampered under the original signature', 'token_invalid_signature', async () => {
        const [h, , s] = (await idp.sign(support)).split('.');
        return `${h}.${b64({ ...support, iss: idp.issuer, roles: ['finance'], exp: Math.floor(Date.now() / 1000) + 300 })}.${s}`;
      }],
      ['truncated signature', 'token_invalid_signature', async () => (await idp.sign(support)).slice(0, -10)],
      ['empty signature', 'token_invalid_signature', async () => (await idp.sign(support)).replace(/\.[^.]+$/, '.')],
      ['ECDSA all-zero signature', 'token_invalid_signature', async () => {
        const [h, p] = (await idp.sign(support, { key: es })).split('.');
        return `${h}.${p}.${Buffer.alloc(64).toString('base64url')}`;
      }],
      ['unknown crit header', 'token_malformed', () => idp.sign(support, { header: { crit: ['urn:example:ext'], 'urn:example:ext': true }, crit: { 'urn:example:ext': true } })],
      ['wrong typ when at+jwt is enforced', 'token_type_invalid', () => idp.sign(support, { header: { typ: 'JWT' } })],
      ['malformed base64 header', 'token_malformed', async () => `e!!.${(await idp.sign(support)).split('.').slice(1).join('.')}`],
      ['payload that is not JSON', 'token_malformed', async () => {
        const [h, , s] = (await idp.sign(support)).split('.');
        return `${h}.${Buffer.from('not json').toString('base64url')}.${s}`;
      }],
      ['JWE instead of JWS', 'token_malformed', async () => `${b64({ alg: 'RSA-OAEP', enc: 'A256GCM' })}.aaaa.bbbb.cccc.dddd`],
      ['four segments', 'token_malformed', async () => `${await idp.sign(support)}.extra`],
      ['oversized token', 'token_malformed', () => idp.sign({ ...support, padding: 'x'.repeat(20_000) })],
      ['random garbage', 'token_malformed', async () => 'garbage'],
      ['empty token', 'token_missing', async () => ''],
    ];

    it.each(cases)('%s → %s', async (_name, code, make) => {
      const token = await make();
      const res = await app.post('/v1/decisions', refundCall(token));
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ allow: false, code, http_status: 401 });
      const header = String(res.body.www_authenticate);
      expect(header).toContain(`resource_metadata="${METADATA}"`);
      if (code === 'token_missing') expect(header).not.toContain('error=');
      else expect(header).toContain('error="invalid_token"');
      // A token is never echoed back.
      if (token.length > 20) expect(JSON.stringify(res.body)).not.toContain(token);
    });

    it('answers token_missing when the token field is absent', async () => {
      const res = await app.post('/v1/decisions', { server: 'demo', tool: { name: 'refunds.create' } });
      expect(res.body).toMatchObject({ allow: false, code: 'token_missing', http_status: 401 });
    });
  });

  it('accepts the token with its Bearer prefix, as the MCP server received it', async () => {
    const token = await idp.sign(support);
    const res = await app.post('/v1/decisions', refundCall(`Bearer ${token}`));
    expect(res.body.allow).toBe(true);
  });

  it('the same token is valid for one server and rejected for another (no passthrough)', async () => {
    const token = await idp.sign(support);
    expect((await app.post('/v1/decisions', refundCall(token))).body.allow).toBe(true);
    const other = await app.post('/v1/decisions', { ...refundCall(token), server: 'other' });
    expect(other.body).toMatchObject({ allow: false, code: 'token_audience_mismatch' });
  });

  describe('policy answers in MCP terms', () => {
    it('argument limit → 403 policy_denied with the reason, no step-up', async () => {
      const res = await app.post('/v1/decisions', refundCall(await idp.sign(support), 5000));
      expect(res.body).toMatchObject({
        allow: false,
        code: 'policy_denied',
        http_status: 403,
        reasons: ['argument "amount" = 5000 exceeds the caller\'s limit of 100'],
      });
      expect(res.body.www_authenticate).toBeUndefined();
    });

    it('missing scope only → 403 insufficient_scope with every scope the call needs', async () => {
      const token = await idp.sign({ sub: 'rita', roles: ['release_manager'], scope: 'deploy:write', aud: RESOURCE });
      const res = await app.post('/v1/decisions', {
        token,
        server: 'demo',
        tool: { name: 'deploy.trigger', arguments: { service: 'api', environment: 'production' } },
      });
      expect(res.body).toMatchObject({ allow: false, code: 'insufficient_scope', http_status: 403 });
      expect(res.body.www_authenticate).toBe(
        `Bearer error="insufficient_scope", scope="deploy:production deploy:write", resource_metadata="${METADATA}"`,
      );
    });

    it('broad but unrelated scopes cannot run an unrelated tool', async () => {
      const token = await idp.sign({ sub: 'erin', roles: ['engineer'], scope: 'admin deploy:write deploy:production issues:write invoices:read', aud: RESOURCE });
      const res = await app.post('/v1/decisions', refundCall(token));
      expect(res.body).toMatchObject({ allow: false, code: 'policy_denied' });
      expect(res.body.reasons).toEqual(expect.arrayContaining([expect.stringContaining('requires one of the roles')]));
    });

    it('unknown tools are denied', async () => {
      const res = await app.post('/v1/decisions', { token: await idp.sign(support), server: 'demo', tool: { name: 'shell.exec', arguments: { cmd: 'id' } } });
      expect(res.body).toMatchObject({ allow: false, code: 'policy_denied' });
    });

    it('a denied call never reaches the downstream action', async () => {
      let refunded = 0;
      const mcpServerCallsTool = async (token: string, amount: number) => {
        const d = await app.post('/v1/decisions', refundCall(token, amount));
        if (d.body.allow === true) refunded += amount;
        return d.body;
      };
      const token = await idp.sign(support);
      await mcpServerCallsTool(token, 99);
      await mcpServerCallsTool(token, 5000);
      await mcpServerCallsTool(await idp.sign({ ...support, aud: OTHER_RESOURCE }), 10);
      expect(refunded).toBe(99);
    });

    it('filters tools/list per caller', async () => {
      const token = await idp.sign(support);
      const res = await app.post('/v1/decisions/tools', {
        token,
        server: 'demo',
        tools: [{ name: 'refunds.create' }, { name: 'deploy.trigger' }, { name: 'invoices.read', annotations: { readOnlyHint: true } }, { name: 'secret.tool' }],
      });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ allowed: ['refunds.create', 'invoices.read'], revision: expect.any(String) });
      const bad = await app.post('/v1/decisions/tools', { token: 'x.y.z', server: 'demo', tools: [{ name: 'refunds.create' }] });
      expect(bad.body).toMatchObject({ allowed: [], code: 'token_malformed', http_status: 401 });
    });
  });

  describe('resources, prompts and completions have actions of their own', () => {
    const finance = { sub: 'fred', roles: ['finance'], scope: 'invoices:read', aud: RESOURCE };

    it('read_resource, get_prompt and complete are decided by the catalog; unlisted is denied with a reason', async () => {
      const alice = await idp.sign(support);
      const fred = await idp.sign(finance);
      const decide = async (body: Record<string, unknown>) => (await app.post('/v1/decisions', { server: 'demo', ...body })).body;
      expect(await decide({ token: alice, action: 'read_resource', resource: { uri: 'docs://handbook/refunds' } })).toMatchObject({ allow: true });
      expect(await decide({ token: fred, action: 'read_resource', resource: { uri: 'invoices://inv-7' } })).toMatchObject({ allow: true });
      expect(await decide({ token: alice, action: 'read_resource', resource: { uri: 'docs://internal/salaries' } })).toMatchObject({
        allow: false,
        code: 'policy_denied',
        reasons: ['resource "docs://internal/salaries" is not in the catalog of server "demo"; unknown resources are denied'],
      });
      expect(await decide({ token: alice, action: 'read_resource', resource: { uri: 'invoices://inv-7' } })).toMatchObject({ allow: false, code: 'policy_denied' });
      const stepUp = await decide({ token: await idp.sign({ ...finance, scope: '' }), action: 'read_resource', resource: { uri: 'invoices://inv-7' } });
      expect(stepUp).toMatchObject({ allow: false, code: 'insufficient_scope', http_status: 403 });
      expect(stepUp.www_authenticate).toContain('scope="invoices:read"');
      expect(await decide({ token: alice, action: 'get_prompt', prompt: { name: 'refund_reply', arguments: { order_id: 'o-1' } } })).toMatchObject({ allow: true });
      expect(await decide({ token: alice, action: 'get_prompt', prompt: { name: 'jailbreak' } })).toMatchObject({ allow: false, code: 'policy_denied' });
      expect(await decide({ token: fred, action: 'complete', completion: { ref: { type: 'ref/resource', uri: 'invoices://{invoice_id}' }, argument: { name: 'invoice_id', value: 'inv-' } } })).toMatchObject({ allow: true });
      expect(await decide({ token: alice, action: 'complete', completion: { ref: { type: 'ref/resource', uri: 'invoices://{invoice_id}' }, argument: { name: 'invoice_id', value: 'inv-' } } })).toMatchObject({ allow: false, code: 'policy_denied' });
    });

    it('POST /v1/decisions/list filters resources and prompts per caller; authenticate checks only the token', async () => {
      const alice = await idp.sign(support);
      const resources = await app.post('/v1/decisions/list', {
        token: alice,
        server: 'demo',
        kind: 'resource',
        items: [{ uri: 'docs://handbook/refunds', name: 'handbook', mimeType: 'text/plain' }, { uri: 'docs://internal/salaries', name: 'salaries' }, { uri: 'invoices://inv-1' }],
      });
      expect(resources.status).toBe(200);
      expect(resources.body).toMatchObject({ allowed: ['docs://handbook/refunds'], revision: expect.any(String) });
      const prompts = await app.post('/v1/decisions/list', { token: alice, server: 'demo', kind: 'prompt', items: [{ name: 'refund_reply', arguments: [{ name: 'order_id' }] }, { name: 'other' }] });
      expect(prompts.body).toMatchObject({ allowed: ['refund_reply'] });
      const tools = await app.post('/v1/decisions/list', { token: alice, server: 'demo', kind: 'tool', items: [{ name: 'refunds.create' }, { name: 'deploy.trigger' }] });
      expect(tools.body).toMatchObject({ allowed: ['refunds.create'] });
      expect((await app.post('/v1/decisions/authenticate', { token: alice, server: 'demo' })).body).toMatchObject({ allow: true, reasons: [] });
      expect((await app.post('/v1/decisions/authenticate', { token: await idp.sign({ ...support, aud: OTHER_RESOURCE }), server: 'demo' })).body).toMatchObject({
        allow: false,
        code: 'token_audience_mismatch',
        http_status: 401,
      });
    });

    it.each([
      ['kind without list', '/v1/decisions', { server: 'demo', kind: 'tool', tool: { name: 'x' } }],
      ['resource with action call', '/v1/decisions', { server: 'demo', tool: { name: 'x' }, resource: { uri: 'u' } }],
      ['read_resource without resource', '/v1/decisions', { server: 'demo', action: 'read_resource' }],
      ['unknown list kind', '/v1/decisions', { server: 'demo', action: 'list', kind: 'sampling', tool: { name: 'x' } }],
      ['prompt with an unknown field', '/v1/decisions', { server: 'demo', action: 'get_prompt', prompt: { name: 'p', title: 't' } }],
      ['completion ref of an unknown type', '/v1/decisions', { server: 'demo', action: 'complete', completion: { ref: { type: 'ref/tool', name: 'x' }, argument: { name: 'a', value: 'b' } } }],
      ['completion without argument', '/v1/decisions', { server: 'demo', action: 'complete', completion: { ref: { type: 'ref/prompt', name: 'x' } } }],
      ['list without kind', '/v1/decisions/list', { server: 'demo', items: [] }],
      ['list resource without uri', '/v1/decisions/list', { server: 'demo', kind: 'resource', items: [{ name: 'x' }] }],
      ['authenticate with a tool', '/v1/decisions/authenticate', { server: 'demo', tool: { name: 'x' } }],
    ])('%s → 400 invalid_request', async (_name, route, body) => {
      const res = await app.post(route, body);
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ code: 'invalid_request', message: expect.any(String) });
    });
  });

  describe('bad input → 400 {code, message}, never 500', () => {
    it.each([
      ['not JSON', '{"token":', 'invalid_json'],
      ['an array', [], 'invalid_request'],
      ['null', 'null', 'invalid_request'],
      ['unknown field', { server: 'demo', tool: { name: 'x' }, admin: true }, 'invalid_request'],
      ['unknown tool field', { server: 'demo', tool: { name: 'x', sudo: true } }, 'invalid_request'],
      ['missing server', { tool: { name: 'x' } }, 'invalid_request'],
      ['missing tool', { server: 'demo' }, 'invalid_request'],
      ['missing tool name', { server: 'demo', tool: {} }, 'invalid_request'],
      ['server not a string', { server: 1, tool: { name: 'x' } }, 'invalid_request'],
      ['token not a string', { token: 12, server: 'demo', tool: { name: 'x' } }, 'invalid_request'],
      ['arguments not an object', { server: 'demo', tool: { name: 'x', arguments: 'a' } }, 'invalid_request'],
      ['bad action', { server: 'demo', action: 'delete', tool: { name: 'x' } }, 'invalid_request'],
      ['unknown server', { server: 'nope', tool: { name: 'x' } }, 'unknown_server'],
      ['deeply nested arguments', { server: 'demo', tool: { name: 'x', arguments: JSON.parse('{"a":'.repeat(60) + '1' + '}'.repeat(60)) } }, 'arguments_too_deep'],
      ['huge arguments', { server: 'demo', tool: { name: 'x', arguments: { list: Array.from({ length: 20_000 }, (_, i) => i) } } }, 'arguments_too_large'],
      ['prototype poisoning', '{"__proto__":{"allow":true},"server":"demo","tool":{"name":"x"}}', 'invalid_json'],
      ['tools not an array', { server: 'demo', tools: {} }, 'invalid_request'],
    ])('%s', async (_name, body, code) => {
      const path = _name === 'tools not an array' ? '/v1/decisions/tools' : '/v1/decisions';
      const res = await app.post(path, body);
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ code, message: expect.any(String) });
    });

    it('a body over the limit', async () => {
      const res = await app.post('/v1/decisions', { server: 'demo', tool: { name: 'x', arguments: { a: 'x'.repeat(1_100_000) } } });
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ code: 'body_too_large', message: expect.any(String) });
    });
  });

  describe('operations', () => {
    it('serves RFC 9728 metadata with only what toolgate validates', async () => {
      const res = await app.get('/.well-known/oauth-protected-resource/mcp');
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        resource: RESOURCE,
        authorization_servers: [idp.issuer],
        scopes_supported: ['refunds:write', 'invoices:read'],
        bearer_methods_supported: ['header'],
      });
      expect((await app.get('/.well-known/oauth-protected-resource/nothing-here')).status).toBe(404);
    });

    it('health, readiness, status, metrics and OpenAPI', async () => {
      expect((await app.get('/healthz')).body).toEqual({ status: 'ok' });
      const ready = await app.get('/readyz');
      expect(ready.status).toBe(200);
      const status = (await app.get('/v1/status')).body as { active: { revision: string; source: { kind: string } } };
      expect(status.active.source.kind).toBe('source');
      expect(ready.body).toMatchObject({ revision: status.active.revision });
      const token = await idp.sign(support);
      await app.post('/v1/decisions', refundCall(token));
      await app.post('/v1/decisions', refundCall(token));
      const metrics = (await app.get('/metrics')).text;
      expect(metrics).toMatch(/toolgate_decisions_total\{endpoint="decide",result="allow",code="allowed"\} \d+/);
      expect(metrics).toMatch(/toolgate_token_cache_total\{result="hit"\} [1-9]/);
      expect(metrics).toMatch(/toolgate_jwks_fetches_total\{issuer="[^"]+",result="ok"\} [1-9]/);
      expect(metrics).toContain(`toolgate_policy_revision_info{revision="${status.active.revision}"} 1`);
      expect(metrics).toContain('toolgate_decision_duration_seconds_bucket');
      const openapi = (await app.get('/openapi.json')).body as { paths: Record<string, unknown>; components: { schemas: Record<string, unknown> } };
      expect(Object.keys(openapi.paths)).toEqual(expect.arrayContaining(['/v1/decisions', '/v1/decisions/tools', '/v1/decisions/list', '/v1/decisions/authenticate']));
      expect(openapi.components.schemas).toHaveProperty('DecisionRequestDto');
    });
  });
});

describe('the hand-written validator agrees with the documented DTO for the new actions', () => {
  const limits = new LimitsConfig();
  const corpus: unknown[] = [
    { server: 'demo', action: 'read_resource', resource: { uri: 'docs://a' } },
    { server: 'demo', action: 'read_resource' },
    { server: 'demo', action: 'read_resource', resource: { uri: 1 } },
    { server: 'demo', action: 'read_resource', resource: { uri: 'u', name: 'n' } },
    { server: 'demo', action: 'read_resource', resource: { uri: 'u' }, tool: { name: 'x' } },
    { server: 'demo', action: 'get_prompt', prompt: { name: 'p', arguments: { a: 'b' } } },
    { server: 'demo', action: 'get_prompt', prompt: { name: 'p', arguments: 'a' } },
    { server: 'demo', action: 'get_prompt', prompt: { name: 'x'.repeat(300) } },
    { server: 'demo', action: 'complete', completion: { ref: { type: 'ref/prompt', name: 'p' }, argument: { name: 'a', value: 'b' } } },
    { server: 'demo', action: 'complete', completion: { ref: { type: 'ref/resource', uri: 'x://{y}' }, argument: { name: 'a', value: 'b' }, context: { arguments: { y: '1' } } } },
    { server: 'demo', action: 'complete', completion: { ref: { type: 'ref/prompt', uri: 'x' }, argument: { name: 'a', value: 'b' } } },
    { server: 'demo', action: 'complete', completion: { ref: { type: 'ref/resource', name: 'x' }, argument: { name: 'a', value: 'b' } } },
    { server: 'demo', action: 'complete', completion: { ref: { type: 'ref/tool', name: 'x' }, argument: { name: 'a', value: 'b' } } },
    { server: 'demo', action: 'complete', completion: { ref: { type: 'ref/prompt', name: 'p' }, argument: { name: 'a' } } },
    { server: 'demo', action: 'complete', completion: { ref: { type: 'ref/prompt', name: 'p' } } },
    { server: 'demo', action: 'list', kind: 'resource', resource: { uri: 'u' } },
    { server: 'demo', action: 'list', kind: 'prompt', prompt: { name: 'p' } },
    { server: 'demo', action: 'list', kind: 'prompt', tool: { name: 'p' } },
    { server: 'demo', action: 'list', kind: 'other', tool: { name: 'p' } },
    { server: 'demo', action: 'list', tool: { name: 'p' } },
    { server: 'demo', kind: 'tool', tool: { name: 'p' } },
    { server: 'demo', action: 'call', tool: { name: 'p' }, completion: { ref: { type: 'ref/prompt', name: 'p' }, argument: { name: 'a', value: 'b' } } },
    { server: 'demo', claims: { sub: 'a' }, tool: { name: 'p' } },
    { server: 'demo', token: 't', claims: { sub: 'a' }, tool: { name: 'p' } },
    { server: 'demo', claims: [{ sub: 'a' }], tool: { name: 'p' } },
    { server: 'demo', claims: null, tool: { name: 'p' } },
    { server: 'demo', claims: 'eyJ', tool: { name: 'p' } },
  ];

  it.each(corpus.map((c) => [JSON.stringify(c).slice(0, 100), c]))('%s', (_label, body) => {
    let fast = true;
    try {
      parseDecisionRequest(body, limits);
    } catch (e) {
      expect(e).toBeInstanceOf(BadRequestError);
      fast = false;
    }
    const slow = validateSync(plainToInstance(DecisionRequestDto, body) as object, { whitelist: true, forbidNonWhitelisted: true }).length === 0;
    expect(fast).toBe(slow);
  });
});
