import { mkdir, mkdtemp, readFile, rm, rmdir, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../src/common/errors.js';
import { parseConfig } from '../src/config/load-config.js';
import { makeKey, TestIssuer } from './support/auth-server.js';
import { startApp, type RunningApp } from './support/app.js';
import { ROOT } from './support/policy-fixtures.js';
import { waitFor } from './support/wait.js';

const RESOURCE = 'http://127.0.0.1:3999/mcp';
const ADMIN_AUD = 'https://toolgate.admin';
const CALLER_AUD = 'https://toolgate.internal';

describe('one verify + revocation path for every token toolgate accepts', () => {
  let idp: TestIssuer;
  let dir: string;
  let app: RunningApp;
  let caller: string;

  beforeAll(async () => {
    idp = await TestIssuer.start([await makeKey('ES256', 'k')]);
    dir = await mkdtemp(path.join(os.tmpdir(), 'toolgate-accept-'));
    app = await startApp({
      policy: { source: { policies: path.join(ROOT, 'policies'), tests: path.join(ROOT, 'rego-tests'), out: path.join(dir, 'build'), test_gate: false, watch: false } },
      issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['ES256'] }],
      servers: [{ id: 'demo', resource: RESOURCE, issuers: [idp.issuer], scopes_supported: ['refunds:write'] }],
      revocation: { file: path.join(dir, 'revocations.json') },
      admin: { issuer: idp.issuer, audience: ADMIN_AUD, scope: 'toolgate:admin' },
      callers: { auth: 'jwt', issuer: idp.issuer, audience: CALLER_AUD, scope: 'toolgate:decide' },
    });
    caller = `Bearer ${await idp.sign({ sub: 'mcp-server', client_id: 'mcp-demo', aud: CALLER_AUD, scope: 'toolgate:decide', exp: Math.floor(Date.now() / 1000) + 600 })}`;
  });

  afterAll(async () => {
    await app?.close();
    await idp?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  // Every token below is signed with the trusted key for the right audience: only revocation can stop it.
  const adminToken = async (claims: Record<string, unknown>) =>
    `Bearer ${await idp.sign({ aud: ADMIN_AUD, scope: 'toolgate:admin', exp: Math.floor(Date.now() / 1000) + 600, ...claims })}`;
  const userToken = (claims: Record<string, unknown>) =>
    idp.sign({ aud: RESOURCE, roles: ['support_agent'], scope: 'refunds:write', exp: Math.floor(Date.now() / 1000) + 600, ...claims });
  const refund = (token: string) =>
    app.post('/v1/decisions', { token, server: 'demo', tool: { name: 'refunds.create', arguments: { order_id: 'o-1', amount: 5, currency: 'USD' } } }, { authorization: caller });
  const revoke = async (body: Record<string, unknown>) => {
    const res = await app.post('/v1/revocations', body, { authorization: await adminToken({ sub: 'ops-root' }) });
    expect(res.status).toBe(201);
    return String(res.body.id);
  };
  const del = (id: string, authorization: string) => fetch(`${app.url}/v1/revocations/${id}`, { method: 'DELETE', headers: { authorization } });
  const status = async () => ((await app.get('/v1/status', { authorization: caller })).body as { revocations: { count: number; state: string; last_error: string | null; last_loaded_at: string | null } }).revocations;

  it.each([
    ['jti', { sub: 'ops-jti', jti: 'admin-jti-1' }, 'admin-jti-1'],
    ['sub', { sub: 'ops-sub' }, 'ops-sub'],
  ])('a revoked admin token (by %s) can no longer list or delete revocations', async (kind, claims, value) => {
    const rogue = await adminToken(claims);
    expect((await app.get('/v1/revocations', { authorization: rogue })).status).toBe(200); // valid, cached
    const id = await revoke({ kind, value, reason: 'admin token leaked' });

    const listed = await app.get('/v1/revocations', { authorization: rogue });
    expect(listed.status).toBe(401);
    expect(listed.body).toMatchObject({ code: 'caller_unauthenticated', message: expect.stringContaining('token_revoked') });
    expect(listed.headers.get('www-authenticate')).toContain('error="invalid_token"');
    const deleted = await del(id, rogue);
    expect(deleted.status).toBe(401);
    expect(((await deleted.json()) as { code: string }).code).toBe('caller_unauthenticated');
    expect((await app.post('/v1/revocations', { kind: 'sub', value: 'someone' }, { authorization: rogue })).status).toBe(401);

    // The rule is still there; another admin may lift it.
    const other = await adminToken({ sub: 'ops-root' });
    const rules = (await app.get('/v1/revocations', { authorization: other })).body as { revocations: { id: string }[] };
    expect(rules.revocations.map((r) => r.id)).toContain(id);
    expect((await del(id, other)).status).toBe(204);
    expect((await app.get('/v1/revocations', { authorization: rogue })).status).toBe(200);
  });

  it('a revoked caller token can no longer ask for decisions, status or metrics', async () => {
    const revokedCaller = `Bearer ${await idp.sign({ sub: 'stolen-caller', client_id: 'mcp-old', aud: CALLER_AUD, scope: 'toolgate:decide' })}`;
    const user = await userToken({ sub: 'alice' });
    const decide = () =>
      app.post('/v1/decisions', { token: user, server: 'demo', tool: { name: 'refunds.create', arguments: { order_id: 'o-1', amount: 5, currency: 'USD' } } }, { authorization: revokedCaller });
    expect((await decide()).body.allow).toBe(true); // valid, cached
    const id = await revoke({ kind: 'client_id', value: 'mcp-old' });

    const res = await decide();
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ code: 'caller_unauthenticated', message: expect.stringContaining('token_revoked') });
    const tools = await app.post('/v1/decisions/tools', { token: user, server: 'demo', tools: [{ name: 'refunds.create' }] }, { authorization: revokedCaller });
    expect(tools.status).toBe(401);
    expect((await app.get('/v1/status', { authorization: revokedCaller })).status).toBe(401);
    expect((await app.get('/metrics', { authorization: revokedCaller })).status).toBe(401);
    // Other callers are unaffected.
    expect((await refund(user)).body.allow).toBe(true);
    expect((await del(id, await adminToken({ sub: 'ops-root' }))).status).toBe(204);
  });

  it('/metrics needs a caller token with callers.scope when callers.auth is jwt', async () => {
    const anonymous = await app.get('/metrics');
    expect(anonymous.status).toBe(401);
    expect(anonymous.text).not.toContain('toolgate_decisions_total');
    expect((await app.get('/metrics', { authorization: 'Bearer not.a.token' })).status).toBe(401);
    const wrongScope = await idp.sign({ sub: 'scraper', aud: CALLER_AUD, scope: 'other' });
    expect((await app.get('/metrics', { authorization: `Bearer ${wrongScope}` })).status).toBe(403);
    const ok = await app.get('/metrics', { authorization: caller });
    expect(ok.status).toBe(200);
    expect(ok.text).toMatch(/^toolgate_revocation_rules \d+$/m);
  });

  describe('a client_id rule matches every client claim', () => {
    it.each(['client_id', 'azp', 'cid', 'appid'])('%s', async (claim) => {
      const value = `rogue-client-${claim}`;
      const token = await userToken({ sub: `user-of-${claim}`, [claim]: value });
      expect((await refund(token)).body.allow).toBe(true);
      const id = await revoke({ kind: 'client_id', value });
      expect((await refund(token)).body).toMatchObject({ allow: false, code: 'token_revoked' });
      await del(id, await adminToken({ sub: 'ops-root' }));
    });

    it('even when another client claim names a different client', async () => {
      const token = await userToken({ sub: 'mixed', client_id: 'innocent-app', azp: 'rogue-azp' });
      const id = await revoke({ kind: 'client_id', value: 'rogue-azp' });
      expect((await refund(token)).body).toMatchObject({ allow: false, code: 'token_revoked' });
      await del(id, await adminToken({ sub: 'ops-root' }));
    });
  });

  it('a revocation file that vanishes or turns unreadable keeps the rules in force and says so', async () => {
    const file = path.join(dir, 'revocations.json');
    const victim = await userToken({ sub: 'vanish-user' });
    await revoke({ kind: 'sub', value: 'vanish-user' });
    expect((await refund(victim)).body.code).toBe('token_revoked');
    expect(JSON.parse(await readFile(file, 'utf8')).revocations.some((r: { value: string }) => r.value === 'vanish-user')).toBe(true);
    const before = await status();
    expect(before).toMatchObject({ state: 'ok', last_error: null, last_loaded_at: expect.any(String) });

    await unlink(file);
    const gone = await waitFor(async () => {
      const s = await status();
      return s.state === 'missing' && s;
    }, 10_000, 'missing file in status');
    expect(gone.count).toBe(before.count);
    expect(gone.last_error).toMatch(/disappeared/);
    expect((await refund(victim)).body.code).toBe('token_revoked');
    const metrics = (await app.get('/metrics', { authorization: caller })).text;
    expect(metrics).toMatch(/^toolgate_revocation_store_healthy 0$/m);
    expect(metrics).toMatch(/^toolgate_revocation_store_errors_total\{reason="missing"\} [1-9]/m);
    expect(metrics).toMatch(new RegExp(`^toolgate_revocation_rules ${before.count}$`, 'm'));

    // A directory where the file should be: unreadable.
    await mkdir(file);
    await waitFor(async () => (await status()).state === 'unreadable', 10_000, 'unreadable file in status');
    expect((await refund(victim)).body.code).toBe('token_revoked');
    await rmdir(file);

    // The next change through the API writes the rules in force back, and the store is healthy again.
    await revoke({ kind: 'jti', value: 'another-jti' });
    const healed = await waitFor(async () => {
      const s = await status();
      return s.state === 'ok' && s;
    }, 10_000, 'healthy store');
    expect(healed.count).toBe(before.count + 1);
    expect(JSON.parse(await readFile(file, 'utf8')).revocations.map((r: { value: string }) => r.value)).toEqual(expect.arrayContaining(['vanish-user', 'another-jti']));
  });
});

describe("toolgate's own audiences are kept apart from the servers'", () => {
  const base = {
    issuers: [{ issuer: 'https://idp.example', jwks_uri: 'https://idp.example/jwks' }],
    servers: [{ id: 'demo', resource: RESOURCE, issuers: ['https://idp.example'] }],
  };
  it.each([
    ['a server id in the reserved __toolgate namespace', { ...base, servers: [{ ...base.servers[0], id: '__toolgate_x' }] }, 'servers[0].id'],
    ['a server id equal to the admin audience id', { ...base, servers: [{ ...base.servers[0], id: '__toolgate_admin' }] }, 'servers[0].id'],
    ['admin.audience equal to a server resource', { ...base, admin: { issuer: 'https://idp.example', audience: RESOURCE } }, 'admin.audience'],
    ['admin.audience equal to a server resource up to URL normalisation', { ...base, admin: { issuer: 'https://idp.example', audience: 'HTTP://127.0.0.1:3999/mcp' } }, 'admin.audience'],
    [
      'callers.audience equal to a server resource',
      { ...base, callers: { auth: 'jwt', issuer: 'https://idp.example', audience: RESOURCE, scope: 'toolgate:decide' } },
      'callers.audience',
    ],
  ])('refuses %s', (_name, raw, key) => {
    expect(() => parseConfig(raw)).toThrow(ConfigError);
    expect(() => parseConfig(raw)).toThrow(key);
  });

  it('accepts distinct audiences', () => {
    const c = parseConfig({
      ...base,
      admin: { issuer: 'https://idp.example', audience: ADMIN_AUD },
      callers: { auth: 'jwt', issuer: 'https://idp.example', audience: CALLER_AUD, scope: 'toolgate:decide' },
    });
    expect(c.admin?.audience).toBe(ADMIN_AUD);
  });
});
