import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { startApp, type RunningApp } from './support/app.js';
import { ROOT } from './support/policy-fixtures.js';
import { waitFor } from './support/wait.js';

// Issue #18 item 2: a trusted gateway that verified the token sends its claims instead.
// Caller tokens are real JWTs from a real JWKS on loopback; the asserted claims are
// otherwise valid in every test, so only the check under test can refuse them.
const RESOURCE = 'http://127.0.0.1:3999/mcp';
const PARTNERS = 'https://partners.example/partners';
const CALLER_AUD = 'https://toolgate.internal';
const ADMIN_AUD = 'https://toolgate.admin';
const ARGS = { order_id: 'o-1', amount: 5, currency: 'USD' };

describe('decisions on claims asserted by a trusted gateway', () => {
  let idp: TestIssuer;
  let dir: string;
  let app: RunningApp;
  let gateway: string;
  let plainCaller: string;
  const now = () => Math.floor(Date.now() / 1000);

  const config = (callers: Record<string, unknown>, sub: string) => ({
    policy: { source: { policies: path.join(ROOT, 'policies'), tests: path.join(ROOT, 'rego-tests'), out: path.join(dir, `build-${sub}`), test_gate: false, watch: false } },
    issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
    servers: [
      { id: 'demo', resource: RESOURCE, issuers: [idp.issuer], scopes_supported: ['refunds:write'] },
      { id: 'partners', resource: PARTNERS, issuers: [idp.issuer], scopes_supported: ['catalog:read'] },
    ],
    revocation: { file: path.join(dir, `revocations-${sub}.json`) },
    decision_logs: { file: { path: path.join(dir, `decisions-${sub}.jsonl`) } },
    admin: { issuer: idp.issuer, audience: ADMIN_AUD, scope: 'toolgate:admin' },
    callers,
  });

  const callerToken = async (sub: string, scope: string) =>
    `Bearer ${await idp.sign({ sub, client_id: `${sub}-client`, aud: CALLER_AUD, scope, exp: now() + 600 })}`;

  /** Claims as the gateway verified them; `undefined` values are removed (a missing claim). */
  const claims = (extra: Record<string, unknown> = {}): Record<string, unknown> => {
    const c: Record<string, unknown> = {
      iss: idp.issuer, aud: RESOURCE, sub: 'alice', roles: ['support_agent'], scope: 'refunds:write',
      client_id: 'agent-7', jti: crypto.randomUUID(), iat: now(), exp: now() + 600, ...extra,
    };
    for (const k of Object.keys(c)) if (c[k] === undefined) delete c[k];
    return c;
  };
  const decide = (body: Record<string, unknown>, authorization = gateway, on = app) =>
    on.post('/v1/decisions', { server: 'demo', tool: { name: 'refunds.create', arguments: ARGS }, ...body }, { authorization });
  const logged = async (id: string, sub = 'jwt') =>
    waitFor(async () => {
      const lines = (await readFile(path.join(dir, `decisions-${sub}.jsonl`), 'utf8').catch(() => '')).split('\n').filter(Boolean);
      return lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((e) => e.decision_id === id);
    }, 10_000, `decision ${id} in the log`);

  beforeAll(async () => {
    idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-asserted-'));
    app = await startApp(config({ auth: 'jwt', issuer: idp.issuer, audience: CALLER_AUD, scope: 'toolgate:decide' }, 'jwt'));
    gateway = await callerToken('envoy', 'toolgate:decide toolgate:claims');
    plainCaller = await callerToken('mcp-server', 'toolgate:decide');
  });

  afterAll(async () => {
    await app?.close();
    await idp?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('decides on asserted claims from a caller holding toolgate:claims, on every decision endpoint', async () => {
    const res = await decide({ claims: claims() });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ allow: true, reasons: [] });
    // The policy still decides: the same claims with a too-large amount are denied.
    const denied = await decide({ claims: claims(), tool: { name: 'refunds.create', arguments: { ...ARGS, amount: 500 } } });
    expect(denied.body).toMatchObject({ allow: false, code: 'policy_denied' });

    const tools = await app.post('/v1/decisions/tools', { claims: claims(), server: 'demo', tools: [{ name: 'refunds.create' }, { name: 'deploy.trigger' }] }, { authorization: gateway });
    expect(tools.body).toMatchObject({ allowed: ['refunds.create'] });
    const list = await app.post('/v1/decisions/list', { claims: claims(), server: 'demo', kind: 'prompt', items: [{ name: 'refund_reply' }] }, { authorization: gateway });
    expect(list.body).toMatchObject({ allowed: ['refund_reply'] });
    const auth = await app.post('/v1/decisions/authenticate', { claims: claims(), server: 'demo' }, { authorization: gateway });
    expect(auth.body).toMatchObject({ allow: true });
  });

  it('logs who asserted the claims: requested_by is the gateway, token.asserted is true', async () => {
    const allowed = await decide({ claims: claims({ jti: 'logged-jti' }) });
    const event = await logged(String(allowed.body.decision_id));
    expect(event.requested_by).toBe('envoy (client envoy-client)');
    expect(event.token).toMatchObject({ asserted: true, issuer: idp.issuer, subject: 'alice', client_id: 'agent-7', jti: 'logged-jti' });
    // A refusal is logged as asserted too.
    const expired = await decide({ claims: claims({ exp: now() - 3600 }) });
    expect((await logged(String(expired.body.decision_id))).token).toMatchObject({ asserted: true });
    // A token decision by the same caller is not.
    const token = await idp.sign({ aud: RESOURCE, sub: 'alice', roles: ['support_agent'], scope: 'refunds:write' });
    const viaToken = await decide({ token });
    expect(viaToken.body).toMatchObject({ allow: true });
    expect((await logged(String(viaToken.body.decision_id))).token).not.toHaveProperty('asserted');
  });

  it('refuses claims from a caller whose token lacks toolgate:claims (403 caller_forbidden), on every endpoint', async () => {
    const bodies: [string, Record<string, unknown>][] = [
      ['/v1/decisions', { claims: claims(), server: 'demo', tool: { name: 'refunds.create', arguments: ARGS } }],
      ['/v1/decisions/tools', { claims: claims(), server: 'demo', tools: [{ name: 'refunds.create' }] }],
      ['/v1/decisions/list', { claims: claims(), server: 'demo', kind: 'tool', items: [{ name: 'refunds.create' }] }],
      ['/v1/decisions/authenticate', { claims: claims(), server: 'demo' }],
    ];
    for (const [route, body] of bodies) {
      const res = await app.post(route, body, { authorization: plainCaller });
      expect([route, res.status, res.body.code]).toEqual([route, 403, 'caller_forbidden']);
      expect(res.headers.get('www-authenticate')).toContain('scope="toolgate:claims"');
    }
    // The same caller may still send tokens.
    const token = await idp.sign({ aud: RESOURCE, sub: 'alice', roles: ['support_agent'], scope: 'refunds:write' });
    expect((await decide({ token }, plainCaller)).body).toMatchObject({ allow: true });
  });

  it('refuses claims from anonymous callers (callers.auth: none): 401 caller_unauthenticated', async () => {
    const open = await startApp(config({ auth: 'none' }, 'none'));
    try {
      const res = await decide({ claims: claims() }, '', open);
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('caller_unauthenticated');
      const tools = await open.post('/v1/decisions/tools', { claims: claims(), server: 'demo', tools: [{ name: 'refunds.create' }] });
      expect(tools.status).toBe(401);
      // Tokens still work there.
      const token = await idp.sign({ aud: RESOURCE, sub: 'alice', roles: ['support_agent'], scope: 'refunds:write' });
      expect((await decide({ token }, '', open)).body).toMatchObject({ allow: true });
    } finally {
      await open.close();
    }
  });

  it('refuses token and claims together, and claims that are not a bounded object (400 invalid_request)', async () => {
    const token = await idp.sign({ aud: RESOURCE, sub: 'alice', roles: ['support_agent'], scope: 'refunds:write' });
    for (const [route, extra] of [
      ['/v1/decisions', { tool: { name: 'refunds.create', arguments: ARGS } }],
      ['/v1/decisions/tools', { tools: [{ name: 'refunds.create' }] }],
      ['/v1/decisions/list', { kind: 'tool', items: [{ name: 'refunds.create' }] }],
      ['/v1/decisions/authenticate', {}],
    ] as const) {
      const res = await app.post(route, { token, claims: claims(), server: 'demo', ...extra }, { authorization: gateway });
      expect([route, res.status, res.body.code]).toEqual([route, 400, 'invalid_request']);
    }
    expect((await decide({ token: '', claims: claims() })).body.code).toBe('invalid_request');
    expect((await decide({ claims: [claims()] })).status).toBe(400);
    expect((await decide({ claims: 'eyJhbGciOi' })).status).toBe(400);
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 200; i++) deep = { d: deep };
    const tooDeep = await decide({ claims: claims({ nested: deep }) });
    expect([tooDeep.status, tooDeep.body.code]).toEqual([400, 'arguments_too_deep']);
  });

  it.each([
    ['iss untrusted', 'token_issuer_untrusted', { iss: 'https://rogue.example' }],
    ['iss missing', 'token_issuer_untrusted', { iss: undefined }],
    ['aud missing', 'token_audience_mismatch', { aud: undefined }],
    ['aud another server', 'token_audience_mismatch', { aud: PARTNERS }],
    ['aud a trailing-slash variant', 'token_audience_mismatch', { aud: `${RESOURCE}/` }],
    ['exp missing', 'token_malformed', { exp: undefined }],
    ['exp not a number', 'token_malformed', { exp: 'tomorrow' }],
    ['exp past', 'token_expired', { exp: 1_000_000 }],
    ['nbf in the future', 'token_not_yet_valid', { nbf: 9_999_999_999 }],
    ['iat in the future', 'token_not_yet_valid', { iat: 9_999_999_999 }],
  ])('refuses asserted claims with %s: %s', async (_what, code, extra) => {
    const res = await decide({ claims: claims(extra) });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ allow: false, code, http_status: 401 });
    expect(String(res.body.www_authenticate)).toContain('error="invalid_token"');
  });

  it('accepts an aud with upper-case scheme and host, within the clock tolerance', async () => {
    expect((await decide({ claims: claims({ aud: ['https://other.example', 'HTTP://127.0.0.1:3999/mcp'] }) })).body).toMatchObject({ allow: true });
    expect((await decide({ claims: claims({ nbf: now() + 10, exp: now() - 10 }) })).body).toMatchObject({ allow: true });
  });

  it.each([
    ['jti', { jti: 'stolen-jti' }, 'stolen-jti'],
    ['sub', { sub: 'mallory' }, 'mallory'],
    ['client_id', { client_id: 'leaky-agent' }, 'leaky-agent'],
  ])('applies revocation by %s to asserted claims', async (kind, extra, value) => {
    expect((await decide({ claims: claims(extra) })).body).toMatchObject({ allow: true });
    const admin = `Bearer ${await idp.sign({ sub: 'ops', aud: ADMIN_AUD, scope: 'toolgate:admin', exp: now() + 600 })}`;
    const rule = await app.post('/v1/revocations', { kind, value, reason: 'leaked' }, { authorization: admin });
    expect(rule.status).toBe(201);
    try {
      const res = await decide({ claims: claims(extra) });
      expect(res.body).toMatchObject({ allow: false, code: 'token_revoked', http_status: 401 });
      const event = await logged(String(res.body.decision_id));
      expect(event.token).toMatchObject({ asserted: true, subject: kind === 'sub' ? 'mallory' : 'alice' });
      // Other claims are unaffected.
      expect((await decide({ claims: claims() })).body).toMatchObject({ allow: true });
    } finally {
      await fetch(`${app.url}/v1/revocations/${String(rule.body.id)}`, { method: 'DELETE', headers: { authorization: admin } });
    }
  });
});
